/* worker_control: Celery remote control and events for the worker. Answers
 * pidbox commands (ping, inspect, revoke/terminate, shutdown, events on/off)
 * received on a dedicated pub/sub connection, and publishes worker and task
 * events. Replies go out at once on the command connection, never queued
 * behind tasks, so `celery inspect ping` answers under full load. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "celery/exitclass.h"
#include "lib/clock.h"
#include "lib/ids.h"
#include "lib/isotime.h"
#include "lib/json.h"
#include "celery/kombu.h"
#include "lib/log.h"
#include "worker/proc.h"
#include "ops/promtext.h"
#include "celery/record.h"
#include "worker/recovery.h"
#include "redis/scripts.h"
#include "worker/tasks.h"
#include "version.h"
#include "worker/worker_int.h"

/* -- remote control and events ----------------------------------------- */

int worker_revoked_index(const struct worker *w, const char *id)
{
	for (int i = 0; i < w->n_revoked; i++)
		if (w->revoked[i] && !strcmp(w->revoked[i], id))
			return i;
	return -1;
}

static void revoked_add(struct worker *w, const char *id, double at)
{
	if (!w->revoked || worker_revoked_index(w, id) >= 0)
		return;
	int i = w->revoked_next;
	free(w->revoked[i]);
	w->revoked[i] = strdup(id);
	w->revoked_at[i] = at;
	w->revoked_next = (i + 1) % MAX_REVOKED;
	if (w->n_revoked < MAX_REVOKED)
		w->n_revoked++;
}

static void event_base(struct worker *w, struct celery_ctl_event_base *b, char tag[37])
{
	ids_uuid4(tag);
	memset(b, 0, sizeof *b);
	b->hostname = w->cfg->hostname;
	b->pid = getpid();
	b->clock = ++w->clock;
	b->timestamp = clock_wall();
	b->delivery_tag = tag;
}

static void publish(struct worker *w, const struct buf *channel, const struct buf *env)
{
	if (!redis_conn_is_ready(w->cmd))
		return;   /* events are fire-and-forget, as in Celery */
	const char *argv[] = { "PUBLISH", channel->data, env->data };
	size_t lens[] = { 7, channel->len, env->len };
	redis_conn_command(w->cmd, NULL, NULL, 0, 3, argv, lens);
}

void worker_send_worker_event(struct worker *w, const char *type)
{
	struct celery_ctl_event_base b;
	struct celery_ctl_worker_event we = { 0 };
	struct buf ch, env;
	char tag[37], err[200];
	double load[3] = { 0, 0, 0 };

	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = load[1] = load[2] = 0;
		fclose(f);
	}
	event_base(w, &b, tag);
	we.freq = CELERY_CTL_HEARTBEAT_FREQ;
	we.active = w->busy;
	we.processed = w->started_count;
	memcpy(we.loadavg, load, sizeof load);
	we.sw_ver = version_string;
	buf_init(&ch), buf_init(&env);
	if (celery_ctl_event_worker(&ch, &env, w->broker_url.db, type, &b, &we, err, sizeof err) == 0)
		publish(w, &ch, &env);
	buf_free(&ch), buf_free(&env);
}

void worker_send_task_event(struct worker *w, struct celery_ctl_task_ev *ev)
{
	struct celery_ctl_event_base b;
	struct buf ch, env;
	char tag[37], err[200];

	if (!w->task_events)
		return;
	event_base(w, &b, tag);
	buf_init(&ch), buf_init(&env);
	if (celery_ctl_event_task(&ch, &env, w->broker_url.db, &b, ev, err, sizeof err) == 0)
		publish(w, &ch, &env);
	buf_free(&ch), buf_free(&env);
}

void worker_task_event_simple(struct worker *w, int type, const struct msg *m)
{
	struct celery_ctl_task_ev ev = { .type = type, .uuid = m->env.task_id };
	if (type == CELERY_CTL_EV_RECEIVED) {
		ev.name = m->env.task;
		ev.args_repr = m->env.argsrepr;
		ev.kwargs_repr = m->env.kwargsrepr;
		ev.root_id = m->env.root_id;
		ev.parent_id = m->env.parent_id;
		ev.retries = m->env.retries;
		ev.eta = m->env.eta_str;
		ev.expires = m->env.expires_str;
	}
	worker_send_task_event(w, &ev);
}

void worker_task_event_exc(struct worker *w, int type, const struct msg *m, const char *exc_type,
			   const char *args_json, const char *traceback)
{
	struct buf repr;
	buf_init(&repr);
	celery_ctl_exc_repr(&repr, exc_type, args_json ? args_json : "[]", strlen(args_json ? args_json : "[]"));
	struct celery_ctl_task_ev ev = { .type = type, .uuid = m->env.task_id,
					 .exception_repr = repr.data, .traceback = traceback };
	worker_send_task_event(w, &ev);
	buf_free(&repr);
}

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
	struct msg **lists[2] = { &w->eta, &w->ready };
	int *counts[2] = { &w->n_eta, &w->n_ready };
	for (int l = 0; l < 2; l++) {
		for (struct msg **p = lists[l]; *p;) {
			struct msg *m = *p;
			if (strcmp(m->env.task_id, id)) {
				p = &m->next;
				continue;
			}
			*p = m->next;
			(*counts[l])--;
			if (l == 1) {
				w->ready_tail = NULL;
				for (struct msg *t = w->ready; t; t = t->next)
					w->ready_tail = t;
			}
			struct finish *f = worker_finish_new();
			if (!f) {
				worker_msg_free(m);
				continue;
			}
			f->msg = m;
			worker_meta_exception_str(&f->meta, "REVOKED", m->env.task_id, "TaskRevokedError",
					   "celery.exceptions", "revoked", &m->env);
			metrics_inc(&w->metrics, METRIC_TASKS_REVOKED, m->env.task, NULL, 1);
			struct celery_ctl_task_ev ev = { .type = CELERY_CTL_EV_REVOKED, .uuid = id };
			worker_send_task_event(w, &ev);
			log_info("task.revoked", "task=%s id=%s held=1", m->env.task, id);
			worker_pending_add(w, f);
		}
	}
}

void worker_control_message(struct redis_conn *c, struct resp_value *msg, void *arg)
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
		log_info("control.command", "method=%s", req.method ? req.method : "-");
		switch (act.act) {
		case CELERY_CTL_ACT_REVOKE:
			for (size_t i = 0; i < act.n_ids; i++) {
				revoked_add(w, act.ids[i], now);
				revoke_held(w, act.ids[i]);
				for (int k = 0; act.terminate && k < ns; k++) {
					struct slot *sl = &w->slots[k];
					if (sl->state == SLOT_RUNNING && sl->msg && !sl->exited &&
					    !strcmp(sl->msg->env.task_id, act.ids[i])) {
						sl->killed_revoke = 1;
						proc_kill(sl->pid, act.signum ? act.signum : SIGTERM);
						log_info("task.terminating", "id=%s signal=%d", act.ids[i], act.signum);
					}
				}
			}
			break;
		case CELERY_CTL_ACT_SYNC:
			for (size_t i = 0; i < act.n_ids; i++)
				revoked_add(w, act.ids[i], now);
			break;
		case CELERY_CTL_ACT_SHUTDOWN:
			if (!w->draining)
				worker_start_drain(w, now);
			break;
		case CELERY_CTL_ACT_EVENTS_ON:
			w->task_events = 1;
			break;
		case CELERY_CTL_ACT_EVENTS_OFF:
			w->task_events = 0;
			break;
		case CELERY_CTL_ACT_HEARTBEAT:
			worker_send_worker_event(w, "worker-heartbeat");
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

void worker_on_pubsub_ready(struct redis_conn *c, void *arg)
{
	struct worker *w = arg;
	struct buf ch;
	buf_init(&ch);
	celery_ctl_channel(&ch, w->broker_url.db);
	const char *argv[] = { "PSUBSCRIBE", ch.data };
	redis_conn_command(c, NULL, NULL, 0, 2, argv, NULL);
	buf_free(&ch);
}
