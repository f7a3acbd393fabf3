/* control: pidbox commands and their replies. celery_ctl decides what a
 * command means and answers; this file tells it what the worker knows
 * (tasks held, stats, settings, the pool and the queues) and carries out
 * what it decided on the worker's state. */
#include "worker/control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <curl/curl.h>

#include "celery/celery_ctl.h"
#include "celery/kombu.h"
#include "lib/clock.h"
#include "lib/ids.h"
#include "lib/log.h"
#include "vendor_versions.h"
#include "version.h"
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

/* -- what conf and report show --------------------------------------------- */

static void url_view(struct celery_ctl_url *v, const struct redis_url *u)
{
	memset(v, 0, sizeof *v);
	/* A sentinel list shows as its first sentinel, as Celery's
	 * sanitized URL does; the master is found through them. */
	v->scheme = u->n_sentinels > 0 ? "sentinel" : u->transport == REDIS_TRANSPORT_TLS ? "rediss"
		  : u->transport == REDIS_TRANSPORT_UNIX ? "unix" : "redis";
	v->host = u->host;
	v->port = u->port;
	v->path = u->path;
	v->user = u->user;
	v->has_password = u->password != NULL;   /* the password itself never leaves here */
	v->db = u->db;
}

#define MAX_SETTINGS 40

/* The worker's effective settings under Celery's names (those a Python
 * worker of the seed deployment shows first, in its order), then ours as
 * tryon_*, like a Python app's own settings. Borrowed from w and itself. */
struct conf_view {
	struct celery_ctl_url broker, backend, cache;
	struct celery_ctl_setting opts[1], set[MAX_SETTINGS];
	size_t n;
	const char *accept[1];
	struct utsname un;
	char software[160], libraries[200];
	struct celery_ctl_report report;
};

static void set_add(struct conf_view *v, const char *key, enum celery_ctl_kind kind, int64_t i, double num,
		    const char *str)
{
	if (v->n < MAX_SETTINGS)
		v->set[v->n++] = (struct celery_ctl_setting){ .key = key, .kind = kind, .i = i, .num = num, .str = str };
}

static void conf_view_fill(struct conf_view *v, const struct worker *w)
{
	const struct config *cfg = w->cfg;
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

	memset(v, 0, sizeof *v);
	url_view(&v->broker, &w->broker_url);
	url_view(&v->backend, &w->result_url);
	url_view(&v->cache, &w->cache_url);
	v->accept[0] = "json";
	v->set[v->n++] = (struct celery_ctl_setting){ .key = "broker_url", .kind = CELERY_CTL_V_URL, .url = &v->broker };
	v->set[v->n++] = (struct celery_ctl_setting){ .key = "result_backend", .kind = CELERY_CTL_V_URL, .url = &v->backend };
	set_add(v, "task_serializer", CELERY_CTL_V_STR, 0, 0, "json");
	set_add(v, "result_serializer", CELERY_CTL_V_STR, 0, 0, "json");
	v->set[v->n++] = (struct celery_ctl_setting){ .key = "accept_content", .kind = CELERY_CTL_V_STRS,
						      .strs = v->accept, .n = 1 };
	set_add(v, "task_acks_late", CELERY_CTL_V_BOOL, 1, 0, NULL);              /* acked after the result is stored */
	set_add(v, "task_reject_on_worker_lost", CELERY_CTL_V_BOOL, 1, 0, NULL);  /* a lost job is requeued */
	set_add(v, "worker_prefetch_multiplier", CELERY_CTL_V_INT, 1, 0, NULL);   /* fetches what its slots can start */
	set_add(v, "task_default_queue", CELERY_CTL_V_STR, 0, 0, cfg->queues[0]);
	set_add(v, "result_expires", CELERY_CTL_V_INT, cfg->result_expires, 0, NULL);
	set_add(v, "broker_connection_retry_on_startup", CELERY_CTL_V_BOOL, 1, 0, NULL);
	set_add(v, "worker_concurrency", CELERY_CTL_V_INT, w->concurrency, 0, NULL);
	set_add(v, "task_time_limit", cfg->time_limit > 0 ? CELERY_CTL_V_NUM : CELERY_CTL_V_NULL, 0, cfg->time_limit, NULL);
	set_add(v, "task_soft_time_limit", cfg->soft_time_limit > 0 ? CELERY_CTL_V_NUM : CELERY_CTL_V_NULL, 0,
		cfg->soft_time_limit, NULL);
	v->opts[0] = (struct celery_ctl_setting){ .key = "visibility_timeout", .kind = CELERY_CTL_V_INT,
						  .i = cfg->visibility_timeout };
	v->set[v->n++] = (struct celery_ctl_setting){ .key = "broker_transport_options", .kind = CELERY_CTL_V_MAP,
						      .map = v->opts, .n = 1 };
	set_add(v, "worker_send_task_events", CELERY_CTL_V_BOOL, w->task_events, 0, NULL);
	if (cfg->cache_url)
		v->set[v->n++] = (struct celery_ctl_setting){ .key = "tryon_cache_url", .kind = CELERY_CTL_V_URL,
							      .url = &v->cache };
	else
		set_add(v, "tryon_cache_url", CELERY_CTL_V_NULL, 0, 0, NULL);
	set_add(v, "tryon_cache_ttl", CELERY_CTL_V_INT, cfg->cache_ttl, 0, NULL);
	set_add(v, "tryon_primary_endpoint", CELERY_CTL_V_STR, 0, 0, cfg->primary_endpoint);
	set_add(v, "tryon_backup_endpoint", CELERY_CTL_V_STR, 0, 0, cfg->backup_endpoint);
	set_add(v, "tryon_fallback_mode", CELERY_CTL_V_STR, 0, 0, cfg->fallback_latency ? "latency" : "cost");
	set_add(v, "tryon_hedge_after", CELERY_CTL_V_NUM, 0, cfg->hedge_after, NULL);
	set_add(v, "tryon_max_retries", CELERY_CTL_V_INT, cfg->max_retries, 0, NULL);
	set_add(v, "tryon_retry_countdown", CELERY_CTL_V_NUM, 0, cfg->retry_countdown, NULL);
	set_add(v, "tryon_max_redeliveries", CELERY_CTL_V_INT, cfg->max_redeliveries, 0, NULL);
	set_add(v, "tryon_memory_limit_mb", CELERY_CTL_V_INT, cfg->memory_limit_mb, 0, NULL);
	set_add(v, "tryon_shutdown_grace", CELERY_CTL_V_NUM, 0, cfg->shutdown_grace, NULL);
	set_add(v, "tryon_model_concurrency", CELERY_CTL_V_INT, cfg->model_concurrency, 0, NULL);
	set_add(v, "tryon_model_rate", CELERY_CTL_V_NUM, 0, cfg->model_rate, NULL);
	set_add(v, "tryon_daily_budget", CELERY_CTL_V_NUM, 0, cfg->daily_budget, NULL);

	if (uname(&v->un) < 0)
		memset(&v->un, 0, sizeof v->un);
	snprintf(v->software, sizeof v->software, "tryon-worker:%s (%s) protocol:celery-5.2.6/kombu-5.2.4",
		 version_string, version_commit);
	snprintf(v->libraries, sizeof v->libraries, "libcurl:%s bearssl:%s jsmn:%s musl:%s", cv->version,
		 VENDOR_BEARSSL_DEB, VENDOR_JSMN_DEB, VENDOR_MUSL_DEB);
	v->report = (struct celery_ctl_report){
		.software = v->software, .libraries = v->libraries, .system = v->un.sysname,
		.arch = sizeof(void *) == 8 ? "64bit, ELF" : "32bit, ELF", .kernel = v->un.release,
		.imp = "C (static, musl)", .loader = "tryon-worker (tasks compiled in)",
		.transport = v->broker.scheme, .results = &v->backend,
	};
}

/* -- carrying out what celery_ctl decided ------------------------------------ */

static void set_concurrency(struct worker *w, int n, int autoscale_min)
{
	log_info("control.pool_resized", "slots=%d was=%d running=%d%s", n, w->concurrency, w->busy,
		 n < w->busy ? " note=\"jobs above the new number finish first\"" : "");
	w->concurrency = n;
	if (autoscale_min >= 0)
		w->autoscale_min = autoscale_min;
	metrics_set(w->metrics, METRIC_WORKER_SLOTS, NULL, NULL, n);
}

/* Takes name. */
static void queue_add(struct worker *w, char *name)
{
	if (w->n_queues >= CONFIG_MAX_QUEUES) {   /* celery_ctl refused it already */
		free(name);
		return;
	}
	w->queues[w->n_queues++] = name;
	w->queues_gen++;
	w->queue_first = 0;
	log_info("control.consuming", "queue=%s queues=%d", name, w->n_queues);
	/* Declared as kombu declares a queue (fetch.c does it for all at
	 * every connect). */
	struct buf k, m;
	buf_init(&k), buf_init(&m);
	kombu_binding(&k, &m, name);
	const char *argv[] = { "SADD", k.data, m.data };
	size_t lens[] = { 4, k.len, m.len };
	if (!k.failed && !m.failed && redis_conn_is_ready(w->cmd))
		redis_conn_command(w->cmd, NULL, NULL, 0, 3, argv, lens);
	buf_free(&k), buf_free(&m);
}

static void queue_cancel(struct worker *w, const char *name)
{
	for (int q = 0; q < w->n_queues; q++) {
		if (strcmp(w->queues[q], name))
			continue;
		free(w->queues[q]);
		memmove(&w->queues[q], &w->queues[q + 1], (size_t)(w->n_queues - q - 1) * sizeof w->queues[0]);
		w->n_queues--;
		w->queues_gen++;
		w->queue_first = 0;
		log_info("control.consuming_stopped", "queue=%s queues=%d note=\"messages taken from it finish\"",
			 name, w->n_queues);
		return;
	}
}

/* The limits entry of task name, made if need be; NULL when out of memory. */
static struct task_limit *limit_for(struct worker *w, const char *name)
{
	struct task_limit *tl = task_limit_find(w->limits, w->n_limits, name), *v;
	if (tl)
		return tl;
	v = realloc(w->limits, (size_t)(w->n_limits + 1) * sizeof *v);
	if (!v)
		return NULL;
	w->limits = v;
	tl = &v[w->n_limits];
	memset(tl, 0, sizeof *tl);
	if (!(tl->name = strdup(name)))
		return NULL;
	w->n_limits++;
	return tl;
}

static void set_rate_limit(struct worker *w, const char *task, double rate, double now)
{
	struct task_limit *tl = limit_for(w, task);
	if (!tl) {
		log_error("control.failed", "method=rate_limit reason=\"out of memory\"");
		return;
	}
	/* A new full bucket, as Celery's reset_rate_limits makes */
	tl->has_rate = rate > 0 && tokenbucket_init(&tl->bucket, rate, 1, now) == 0;
	log_info("control.rate_limit", "task=%s per_second=%g", task, tl->has_rate ? rate : 0);
}

static void set_time_limit(struct worker *w, const char *task, double soft, double hard)
{
	struct task_limit *tl = limit_for(w, task);
	if (!tl) {
		log_error("control.failed", "method=time_limit reason=\"out of memory\"");
		return;
	}
	tl->soft = soft;
	tl->hard = hard;
	log_info("control.time_limit", "task=%s soft=%g hard=%g note=\"0: the message's, else TRYON_*TIME_LIMIT\"",
		 task, soft, hard);
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
	int n_view = 0;
	for (struct msg *m = w->parked_view; m; m = m->next)
		n_view++;
	struct celery_ctl_task *scheduled = calloc((size_t)w->n_eta + (size_t)n_view + 1, sizeof *scheduled);
	int64_t *pids = calloc((size_t)ns + 1, sizeof *pids);
	size_t n_bodies = (size_t)ns + (size_t)w->n_ready + (size_t)w->n_eta + (size_t)n_view + 1, nb = 0;
	struct celery_body *bodies = calloc(n_bodies, sizeof *bodies);
	const char *const *names = tasks_registered(w->cfg);
	size_t n_names = 0;
	while (names[n_names])
		n_names++;
	int n_pids = 0;
	for (int i = 0; active && pids && bodies && i < ns; i++) {
		struct slot *sl = &w->slots[i];
		if (sl->state == SLOT_RUNNING && sl->msg) {
			fill_ctl_task(&active[n_active++], &bodies[nb++], sl->msg, wall - (now - sl->started), sl->pid);
			if (sl->pid > 0 && !sl->exited)
				pids[n_pids++] = sl->pid;   /* pool.processes: the live job children */
		}
	}
	for (struct msg *m = w->ready; reserved && bodies && m; m = m->next)
		fill_ctl_task(&reserved[n_ready++], &bodies[nb++], m, 0, 0);
	for (struct msg *m = w->eta; scheduled && bodies && m; m = m->next)
		fill_ctl_task(&scheduled[n_eta++], &bodies[nb++], m, 0, 0);
	/* Then the earliest parked ones (in Redis past MAX_HELD_ETA), as last
	 * read back: still ours, due later than those in memory. */
	for (struct msg *m = w->parked_view; scheduled && bodies && m; m = m->next)
		fill_ctl_task(&scheduled[n_eta++], &bodies[nb++], m, 0, 0);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	struct celery_ctl_stats stats = {
		.total_names = names, .total_counts = (const int64_t *)w->task_totals, .n_total = n_names,
		.pid = getpid(), .clock = w->clock, .uptime = wall - w->started_wall,
		.max_concurrency = w->concurrency, .processes = pids, .n_processes = (size_t)n_pids,
		.soft_time_limit = w->cfg->soft_time_limit, .time_limit = w->cfg->time_limit,
		.broker_host = w->broker_url.host ? w->broker_url.host : w->broker_url.path,
		.broker_port = w->broker_url.port, .broker_db = w->broker_url.db,
		.broker_user = w->broker_url.user, .broker_ssl = w->broker_url.transport == REDIS_TRANSPORT_TLS,
		.broker_transport = w->broker_url.n_sentinels > 0 ? "sentinel" : "redis",
		.visibility_timeout = w->cfg->visibility_timeout, .prefetch_count = w->concurrency, .rusage = &ru,
	};
	struct celery_ctl_state st = {
		.hostname = w->cfg->hostname, .task_names = names, .n_task_names = n_names,
		.active = active, .n_active = (size_t)n_active, .reserved = reserved, .n_reserved = (size_t)n_ready,
		.scheduled = scheduled, .n_scheduled = (size_t)n_eta,
		.revoked = (const char *const *)w->revoked, .revoked_ts = w->revoked_at, .n_revoked = (size_t)w->n_revoked,
		.now = now, .stats = &stats, .clock = w->clock, .task_events = w->task_events,
		.concurrency = w->concurrency, .max_concurrency = w->slots_cap, .autoscale_min = w->autoscale_min,
		.queues = (const char *const *)w->queues, .n_queues = (size_t)w->n_queues,
		.max_queues = CONFIG_MAX_QUEUES,
	};
	struct conf_view *cv = malloc(sizeof *cv);
	if (cv) {
		conf_view_fill(cv, w);
		st.settings = cv->set;
		st.n_settings = cv->n;
		st.report = &cv->report;
	}
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
		/* (pool, queue and limit changes log their own info line) */
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
		case CELERY_CTL_ACT_CONCURRENCY:
			set_concurrency(w, act.concurrency, act.autoscale_min);
			break;
		case CELERY_CTL_ACT_ADD_QUEUE:
			queue_add(w, act.name);
			act.name = NULL;   /* taken */
			break;
		case CELERY_CTL_ACT_CANCEL_QUEUE:
			queue_cancel(w, act.name);
			break;
		case CELERY_CTL_ACT_RATE_LIMIT:
			set_rate_limit(w, act.name, act.rate, now);
			break;
		case CELERY_CTL_ACT_TIME_LIMIT:
			set_time_limit(w, act.name, act.soft, act.hard);
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
	free(active), free(reserved), free(scheduled), free(pids), free(cv);
	celery_ctl_request_free(&req);
}

void control_on_pubsub_ready(struct redis_conn *c, void *arg)
{
	struct worker *w = arg;
	struct buf ch;
	buf_init(&ch);
	celery_ctl_channel(&ch, worker_fanout_db(w));
	const char *argv[] = { "PSUBSCRIBE", ch.data };
	redis_conn_command(c, NULL, NULL, 0, 2, argv, NULL);
	buf_free(&ch);
}
