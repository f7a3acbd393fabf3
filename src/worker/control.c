/* control: pidbox commands and their replies. */
#include "worker/control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "celery/celery_ctl.h"
#include "lib/clock.h"
#include "lib/ids.h"
#include "lib/log.h"
#include "worker/dispatch.h"
#include "worker/events.h"
#include "worker/jobs.h"
#include "worker/state.h"
#include "worker/tasks.h"

/* inspect shows arguments: decode the body for it. This is the one place
 * the parent reads arguments, and only on an operator's request. */
static void fill_ctl_task(struct celery_ctl_task *t, struct celery_body *b, const struct msg *m,
			  double started, pid_t pid)
{
	char err[128];
	memset(t, 0, sizeof *t);
	t->id = m->env.task_id;
	t->name = m->env.task;
	t->time_start = started;
	t->exchange = m->env.exchange;
	t->routing_key = m->env.routing_key;
	t->priority = m->env.priority;
	t->redelivered = m->env.redelivered;
	t->pid = pid;
	t->eta = m->env.eta_str;
	if (celery_body_parse(b, m->env.body, m->env.body_len, m->env.protocol, err, sizeof err) == 0) {
		t->args_json = b->args_json;
		t->args_len = b->args_len;
		t->kwargs_json = b->kwargs_json;
		t->kwargs_len = b->kwargs_len;
	}
}

static void on_reply_pushed(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	(void)c, (void)r, (void)err, (void)arg;
}

/* Revoke held messages (ETA or waiting for a slot): REVOKED, acked. */
static void revoke_held(struct worker *w, const char *id)
{
	struct msg *m;
	while ((m = msgs_take_held(w, id)))
		dispatch_end_early(w, m, OUTCOME_CAUSE_REVOKED, "revoked");
}

void control_on_message(struct redis_conn *c, struct resp_value *msg, void *arg)
{
	struct worker *w = arg;
	struct celery_ctl_request req;
	struct celery_ctl_action act;
	struct buf body;
	char err[256];
	(void)c;

	if (msg->type != RESP_ARRAY || msg->n_elems != 4 || msg->elems[3]->type != RESP_BULK)
		return;
	memset(&act, 0, sizeof act);
	if (celery_ctl_parse(msg->elems[3]->str, msg->elems[3]->len, (size_t)w->cfg->max_message_bytes,
			     &req, err, sizeof err) < 0) {
		log_debug("control.bad_message", "reason=\"%s\"", err);
		celery_ctl_request_free(&req);
		return;
	}
	w->clock = celery_ctl_clock_adjust(w->clock, req.clock);
	if (celery_ctl_addressed(&req, w->cfg->hostname) != CELERY_CTL_ADDR_YES) {
		celery_ctl_request_free(&req);
		return;
	}
	double now = clock_mono(), wall = clock_wall();
	int ns = w->n_slots, n_active = 0, n_ready = 0, n_eta = 0;
	struct celery_ctl_task *active = calloc((size_t)ns + 1, sizeof *active);
	struct celery_ctl_task *reserved = calloc((size_t)w->n_ready + 1, sizeof *reserved);
	struct celery_ctl_task *scheduled = calloc((size_t)w->n_eta + 1, sizeof *scheduled);
	int64_t *pids = calloc((size_t)ns + 1, sizeof *pids);
	size_t n_bodies = (size_t)ns + (size_t)w->n_ready + (size_t)w->n_eta + 1, nb = 0;
	struct celery_body *bodies = calloc(n_bodies, sizeof *bodies);
	const char *const *names = tasks_registered(w->cfg);
	size_t n_names = 0;
	while (names[n_names])
		n_names++;
	for (int i = 0; active && pids && bodies && i < ns; i++) {
		struct slot *sl = &w->slots[i];
		if (sl->state == SLOT_RUNNING && sl->msg) {
			fill_ctl_task(&active[n_active], &bodies[nb++], sl->msg, wall - (now - sl->started), sl->pid);
			pids[n_active++] = sl->pid;
		}
	}
	for (struct msg *m = w->ready; reserved && bodies && m; m = m->next)
		fill_ctl_task(&reserved[n_ready++], &bodies[nb++], m, 0, 0);
	for (struct msg *m = w->eta; scheduled && bodies && m; m = m->next)
		fill_ctl_task(&scheduled[n_eta++], &bodies[nb++], m, 0, 0);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	struct celery_ctl_stats stats = {
		.total_names = names, .total_counts = (const int64_t *)w->task_totals, .n_total = n_names,
		.pid = getpid(), .clock = w->clock, .uptime = wall - w->started_wall,
		.max_concurrency = w->n_slots, .processes = pids, .n_processes = (size_t)n_active,
		.soft_time_limit = w->cfg->soft_time_limit, .time_limit = w->cfg->time_limit,
		.broker_host = w->broker_url.host ? w->broker_url.host : w->broker_url.path,
		.broker_port = w->broker_url.port, .broker_db = w->broker_url.db,
		.broker_user = w->broker_url.user, .broker_ssl = w->broker_url.transport == REDIS_TRANSPORT_TLS,
		.visibility_timeout = w->cfg->visibility_timeout, .prefetch_count = w->n_slots, .rusage = &ru,
	};
	struct celery_ctl_state st = {
		.hostname = w->cfg->hostname, .task_names = names, .n_task_names = n_names,
		.active = active, .n_active = (size_t)n_active, .reserved = reserved, .n_reserved = (size_t)n_ready,
		.scheduled = scheduled, .n_scheduled = (size_t)n_eta,
		.revoked = (const char *const *)w->revoked, .revoked_ts = w->revoked_at, .n_revoked = (size_t)w->n_revoked,
		.now = now, .stats = &stats, .clock = w->clock, .task_events = w->task_events,
	};
	buf_init(&body);
	if (celery_ctl_handle(&req, &st, &body, &act, err, sizeof err) < 0) {
		log_warn("control.failed", "method=%s reason=\"%s\"", req.method ? req.method : "-", err);
	} else {
		if (act.clock_used && act.clock_value > w->clock)
			w->clock = act.clock_value;
		/* Monitors poll (inspect every few seconds, enable_events every
		 * 5 s): only a command that changes state is worth an info line. */
		int changes = act.act == CELERY_CTL_ACT_REVOKE || act.act == CELERY_CTL_ACT_SHUTDOWN ||
			      (act.act == CELERY_CTL_ACT_EVENTS_ON && !w->task_events) ||
			      (act.act == CELERY_CTL_ACT_EVENTS_OFF && w->task_events);
		log_event(changes ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG, "control.command", "method=%s",
			  req.method ? req.method : "-");
		switch (act.act) {
		case CELERY_CTL_ACT_REVOKE:
			for (size_t i = 0; i < act.n_ids; i++) {
				revoked_add(w, act.ids[i], now);
				revoke_held(w, act.ids[i]);
				if (act.terminate)
					jobs_terminate(w, act.ids[i], act.signum);
			}
			break;
		case CELERY_CTL_ACT_SYNC:
			for (size_t i = 0; i < act.n_ids; i++)
				revoked_add(w, act.ids[i], now);
			break;
		case CELERY_CTL_ACT_SHUTDOWN:
			w->drain_requested = 1;
			break;
		case CELERY_CTL_ACT_EVENTS_ON:
			w->task_events = 1;
			break;
		case CELERY_CTL_ACT_EVENTS_OFF:
			w->task_events = 0;
			break;
		case CELERY_CTL_ACT_HEARTBEAT:
			events_worker(w, "worker-heartbeat");
			break;
		default:
			break;
		}
		if (act.reply && redis_conn_is_ready(w->cmd)) {
			struct buf env, list, key, member;
			char tag[37];
			buf_init(&env), buf_init(&list), buf_init(&key), buf_init(&member);
			ids_uuid4(tag);
			w->clock++;
			if (celery_ctl_reply_build(&env, &req, w->cfg->hostname, body.data, body.len, w->clock, tag,
						   err, sizeof err) == 0 &&
			    celery_ctl_reply_list(&list, &req) == 0 && celery_ctl_reply_binding(&key, &member, &req) == 0) {
				/* Only while the client still listens (its binding
				 * exists), or the reply list would live forever. */
				const char *lua = "if redis.call('SISMEMBER',KEYS[1],ARGV[1])==1 then "
						  "return redis.call('LPUSH',KEYS[2],ARGV[2]) end return 0";
				const char *argv[] = { "EVAL", lua, "2", key.data, list.data, member.data, env.data };
				size_t lens[] = { 4, strlen(lua), 1, key.len, list.len, member.len, env.len };
				redis_conn_command(w->cmd, on_reply_pushed, NULL, 0, 7, argv, lens);
			}
			buf_free(&env), buf_free(&list), buf_free(&key), buf_free(&member);
		}
	}
	celery_ctl_action_free(&act);
	buf_free(&body);
	for (size_t i = 0; i < nb; i++)
		celery_body_free(&bodies[i]);
	free(bodies);
	free(active), free(reserved), free(scheduled), free(pids);
	celery_ctl_request_free(&req);
}

void control_on_pubsub_ready(struct redis_conn *c, void *arg)
{
	struct worker *w = arg;
	struct buf ch;
	buf_init(&ch);
	celery_ctl_channel(&ch, w->broker_url.db);
	const char *argv[] = { "PSUBSCRIBE", ch.data };
	redis_conn_command(c, NULL, NULL, 0, 2, argv, NULL);
	buf_free(&ch);
}
