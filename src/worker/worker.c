/* worker: the parent's event loop, slots and message lifecycle.
 *
 * A message's path, every step one atomic Redis script (docs/DESIGN.md):
 *   queue list --FETCH--> our in-flight list --RECORD--> unacked (+ our held set)
 *   --FINISH--> result stored + acked | requeued | dead-lettered
 * The parent parses only the envelope; arguments are decoded in the child. */
#include "worker/worker.h"
#include "lib/clock.h"

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

#include <bearssl.h>

#include "tryon/cachekey.h"
#include "celery/exitclass.h"
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

/* -- messages ---------------------------------------------------------- */

void worker_msg_free(struct msg *m)
{
	if (!m)
		return;
	free(m->raw);
	celery_envelope_free(&m->env);
	free(m->queue);
	free(m);
}

/* Remember the last thing that went wrong, for GET /health. */
static void note_error(struct worker *w, const char *what, const char *why)
{
	char ts[ISOTIME_BUFSZ];
	isotime_format_utc(clock_wall(), ts, sizeof ts);
	snprintf(w->last_error, sizeof w->last_error, "%s %s: %.200s", ts, what, why ? why : "");
}

static void finish_reset(struct finish *f)
{
	buf_free(&f->meta);
	buf_free(&f->push);
	buf_free(&f->target);
	f->msg = NULL;
	f->action = "ack";
	f->result_stored = f->in_flight = f->drop_inflight = 0;
}

struct finish *worker_finish_new(void)
{
	struct finish *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	buf_init(&f->meta);
	buf_init(&f->push);
	buf_init(&f->target);
	f->slot = -1;
	f->action = "ack";
	return f;
}

/* -- result metas ------------------------------------------------------ */

static int meta_exception(struct buf *out, const char *status, const char *task_id,
			  const char *exc_type, const char *exc_module, const char *msg_array_json,
			  const char *traceback, int date_done, const struct celery_envelope *env)
{
	struct buf exc;
	char err[200];
	int rc;

	buf_init(&exc);
	if (celery_exc_build_raw(&exc, exc_type, exc_module, msg_array_json, err, sizeof err) < 0) {
		buf_free(&exc);
		return -1;
	}
	struct celery_meta m = {
		.status = status, .result_json = exc.data, .traceback = traceback,
		.has_date_done = date_done, .date_done = clock_wall(), .task_id = task_id,
		.parent_id = env ? env->parent_id : NULL, .group_id = env ? env->group : NULL,
	};
	rc = celery_meta_build(out, &m, err, sizeof err);
	buf_free(&exc);
	return rc;
}

int worker_meta_exception_str(struct buf *out, const char *status, const char *task_id,
			      const char *exc_type, const char *exc_module, const char *message,
			      const struct celery_envelope *env)
{
	struct buf arr;
	buf_init(&arr);
	buf_append_char(&arr, '[');
	if (message)
		json_write_str(&arr, message, strlen(message), JSON_W_ASCII);
	buf_append_char(&arr, ']');
	int rc = meta_exception(out, status, task_id, exc_type, exc_module, arr.data, NULL, 1, env);
	buf_free(&arr);
	return rc;
}

/* -- finishing: store result, then ack / requeue / dead-letter ---------- */


static void on_finish_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct finish *f = arg;
	f->in_flight = 0;
	if (!r || r->type == RESP_ERROR) {
		/* Retried from the loop once the connection is back. */
		if (r && scripts_is_noscript(r))
			scripts_load(c);
		log_warn("finish.retry", "id=%s reason=\"%s\"",
			 f->msg && f->msg->env.task_id ? f->msg->env.task_id : "-",
			 r ? r->str : (err ? err : "connection lost"));
		return;
	}
	f->result_stored = 2;   /* fully done; the loop reaps it */
}

static void on_store_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct finish *f = arg;
	f->in_flight = 0;
	if (!r || r->type == RESP_ERROR) {
		if (r && scripts_is_noscript(r))
			scripts_load(c);
		log_warn("result.retry", "id=%s reason=\"%s\"",
			 f->msg && f->msg->env.task_id ? f->msg->env.task_id : "-",
			 r ? r->str : (err ? err : "connection lost"));
		return;
	}
	f->result_stored = 1;
}

static void on_drop_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct finish *f = arg;
	(void)c;
	(void)err;
	f->in_flight = 0;
	if (r && r->type != RESP_ERROR)
		f->result_stored = 2;
}

/* Issue the next Redis step of f if its connection is ready. */
static void finish_step(struct worker *w, struct finish *f)
{
	const struct msg *m = f->msg;
	const char *task_id = m && m->env.task_id ? m->env.task_id : "";
	char meta_key[300], expires[32], rdb[16], bdb[16];

	if (f->in_flight || f->result_stored == 2)
		return;
	if (f->drop_inflight) {
		/* A message that was never recorded: in-flight list -> target. */
		if (!redis_conn_is_ready(w->cmd))
			return;
		if (f->meta.len && !f->result_stored) {
			struct redis_conn *rc = w->same_server ? w->cmd : w->results;
			if (!redis_conn_is_ready(rc))
				return;
			snprintf(meta_key, sizeof meta_key, "celery-task-meta-%s", task_id);
			snprintf(expires, sizeof expires, "%d", w->cfg->result_expires);
			if (w->same_server && w->result_url.db != w->broker_url.db) {
				/* FINISH with action none stores across DBs. */
				snprintf(rdb, sizeof rdb, "%d", w->result_url.db);
				snprintf(bdb, sizeof bdb, "%d", w->broker_url.db);
				const char *keys[] = { KOMBU_UNACKED, KOMBU_UNACKED_INDEX, w->held_key.data, meta_key, "" };
				const char *args[] = { "", f->meta.data, expires, rdb, bdb, "none", "" };
				if (scripts_call(w->cmd, SCRIPT_FINISH, 5, keys, NULL, 7, args, NULL, on_store_reply, f) == 0)
					f->in_flight = 1;
			} else {
				const char *keys[] = { meta_key };
				const char *args[] = { f->meta.data, expires };
				if (scripts_call(rc, SCRIPT_STORE_RESULT, 1, keys, NULL, 2, args, NULL, on_store_reply, f) == 0)
					f->in_flight = 1;
			}
			return;
		}
		const char *keys[] = { w->inflight_key.data, f->target.data };
		size_t klens[] = { w->inflight_key.len, f->target.len };
		const char *args[] = { m->raw, f->push.data, f->action };
		size_t alens[] = { m->raw_len, f->push.len, strlen(f->action) };
		if (scripts_call(w->cmd, SCRIPT_DROP_INFLIGHT, 2, keys, klens, 3, args, alens, on_drop_reply, f) == 0)
			f->in_flight = 1;
		return;
	}

	snprintf(meta_key, sizeof meta_key, "celery-task-meta-%s", task_id);
	snprintf(expires, sizeof expires, "%d", w->cfg->result_expires);
	int store_here = f->meta.len && !f->result_stored && w->same_server;
	if (f->meta.len && !f->result_stored && !w->same_server) {
		/* Result backend on another server: store first, ack after. */
		if (!redis_conn_is_ready(w->results))
			return;
		const char *keys[] = { meta_key };
		const char *args[] = { f->meta.data, expires };
		if (scripts_call(w->results, SCRIPT_STORE_RESULT, 1, keys, NULL, 2, args, NULL, on_store_reply, f) == 0)
			f->in_flight = 1;
		return;
	}
	if (!redis_conn_is_ready(w->cmd))
		return;
	if (w->same_server && w->result_url.db != w->broker_url.db) {
		snprintf(rdb, sizeof rdb, "%d", w->result_url.db);
		snprintf(bdb, sizeof bdb, "%d", w->broker_url.db);
	} else {
		snprintf(rdb, sizeof rdb, "-1");
		snprintf(bdb, sizeof bdb, "%d", w->broker_url.db);
	}
	const char *tag = m->env.delivery_tag ? m->env.delivery_tag : "";
	const char *keys[] = { KOMBU_UNACKED, KOMBU_UNACKED_INDEX, w->held_key.data,
			       meta_key, f->target.len ? f->target.data : "" };
	size_t klens[] = { strlen(KOMBU_UNACKED), strlen(KOMBU_UNACKED_INDEX), w->held_key.len,
			   strlen(meta_key), f->target.len };
	const char *args[] = { tag, store_here ? f->meta.data : "", expires, rdb, bdb, f->action,
			       f->push.len ? f->push.data : "" };
	size_t alens[] = { strlen(tag), store_here ? f->meta.len : 0, strlen(expires), strlen(rdb),
			   strlen(bdb), strlen(f->action), f->push.len };
	if (scripts_call(w->cmd, SCRIPT_FINISH, 5, keys, klens, 7, args, alens, on_finish_reply, f) == 0)
		f->in_flight = 1;
}

void worker_pending_add(struct worker *w, struct finish *f)
{
	f->next = w->pending;
	w->pending = f;
	w->n_pending++;
	finish_step(w, f);
}

/* -- dead letters and bad messages ------------------------------------- */

/* A message we cannot run: store FAILURE if its id is known, and move the
 * raw message to tryon-worker.dead with the reason. recorded: the message is
 * in unacked (else still in our in-flight list). */
static void dead_letter(struct worker *w, struct msg *m, const char *reason,
			const char *exc_type, const char *exc_module, int recorded)
{
	struct finish *f = worker_finish_new();
	if (!f) {
		worker_msg_free(m);   /* stays in Redis; recovered at restart */
		return;
	}
	f->msg = m;
	if (m->env.task_id && exc_type)
		worker_meta_exception_str(&f->meta, "FAILURE", m->env.task_id, exc_type, exc_module, reason, &m->env);
	celery_deadletter_build(&f->push, reason, m->queue ? m->queue : "", m->received_at, m->raw, m->raw_len);
	buf_append_str(&f->target, TRYON_DEAD_LIST);
	f->action = "lpush";
	f->drop_inflight = !recorded;
	metrics_inc(&w->metrics, METRIC_TASKS_REJECTED, m->env.task ? m->env.task : "unknown", NULL, 1);
	note_error(w, "dead letter", reason);
	log_warn("message.dead_lettered", "queue=%s id=%s reason=\"%s\"", m->queue ? m->queue : "-",
		 m->env.task_id ? m->env.task_id : "-", reason);
	worker_pending_add(w, f);
}

/* -- slots and jobs ---------------------------------------------------- */

static int free_slot(struct worker *w)
{
	for (int i = 0; i < w->n_slots; i++)
		if (w->slots[i].state == SLOT_FREE)
			return i;
	return -1;
}

static int job_main(void *arg, int record_fd)
{
	struct worker *w = arg;
	struct slot *s = w->child_slot;
	struct buf out;
	struct task_ctx ctx = {
		.cfg = w->cfg, .trust = w->ts, .env = &s->msg->env, .started_at = w->started_wall,
		.slots_busy = w->busy, .slots_total = w->n_slots,
		.backup_latency = s->hints.backup_latency, .hints = s->hints,
	};

	buf_init(&out);
	tasks_run(&ctx, &out);
	if (out.failed || out.len == 0) {
		static const char oom[] = "{\"status\": \"FAILURE\", \"exc_type\": \"MemoryError\", "
			"\"exc_module\": \"builtins\", \"exc_message\": [], \"traceback\": null, \"retry\": false}";
		proc_write_all(record_fd, oom, sizeof oom - 1);
	} else {
		proc_write_all(record_fd, out.data, out.len);
	}
	return 0;
}

static void start_job(struct worker *w, int i, struct msg *m)
{
	struct slot *s = &w->slots[i];
	const struct config *cfg = w->cfg;
	char err[256];
	double now = clock_mono();

	memset(s, 0, sizeof *s);
	s->state = SLOT_RUNNING;
	s->msg = m;
	s->fd = -1;
	buf_init(&s->record);
	buf_init(&s->fin.meta);
	buf_init(&s->fin.push);
	buf_init(&s->fin.target);
	s->fin.slot = i;
	s->hard = m->env.has_time_limit_hard ? m->env.time_limit_hard : cfg->time_limit;
	s->soft = m->env.has_time_limit_soft ? m->env.time_limit_soft : cfg->soft_time_limit;
	if (s->soft >= s->hard)
		s->soft = 0;   /* as in billiard: a soft limit past the hard one never fires */
	s->started = now;
	s->hard_deadline = now + s->hard;
	w->busy++;

	s->is_tryon = !strcmp(m->env.task, TASK_VIRTUAL_TRYON);
	if (s->is_tryon)
		tryon_state_hints(&w->tryon, now, &s->hints);
	struct proc_limits lim = { cfg->memory_limit_mb, s->soft, 256 };
	w->child_slot = s;
	s->pid = proc_spawn(&lim, job_main, w, &s->fd, err, sizeof err);
	w->child_slot = NULL;
	if (s->pid < 0) {
		/* Could not fork: treat like a lost worker (requeued, counted). */
		log_error("job.spawn_failed", "id=%s reason=\"%s\"", m->env.task_id, err);
		note_error(w, "fork", err);
		s->exited = 1;
		s->record_eof = 1;
		s->status = 0x7f00; /* exit 127 */
		return;
	}
	metrics_inc(&w->metrics, METRIC_TASKS_STARTED, m->env.task, NULL, 1);
	w->started_count++;
	{
		const char *const *names = tasks_registered(cfg);
		for (int k = 0; w->task_totals && names[k]; k++)
			if (!strcmp(names[k], m->env.task))
				w->task_totals[k]++;
	}
	worker_task_event_simple(w, CELERY_CTL_EV_STARTED, m);
	log_info("task.started", "task=%s id=%s pid=%d slot=%d", m->env.task, m->env.task_id, (int)s->pid, i);
}

/* The exception message Celery's billiard writes for a lost worker. */
static void worker_lost_message(char *out, size_t n, int status, long job)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		const char *name = sig == SIGKILL ? "SIGKILL" : sig == SIGSEGV ? "SIGSEGV" :
				   sig == SIGABRT ? "SIGABRT" : sig == SIGTERM ? "SIGTERM" :
				   sig == SIGBUS ? "SIGBUS" : "signal";
		snprintf(out, n, "Worker exited prematurely: signal %d (%s) Job: %ld.", sig, name, job);
	} else {
		snprintf(out, n, "Worker exited prematurely: exitcode %d Job: %ld.",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1, job);
	}
}

/* Prepare f to requeue m to its queue: back (lpush, like kombu's reject)
 * or front (rpush, like restore). deliveries < 0 keeps the count. */
static int requeue_prepare(struct finish *f, const struct msg *m, int64_t deliveries, const char *action)
{
	char err[200];
	buf_reset(&f->push);
	buf_reset(&f->target);
	if (celery_requeue_rewrite(m->raw, m->raw_len, deliveries, &f->push, err, sizeof err) < 0)
		return -1;
	kombu_priority_list(&f->target, m->queue, m->env.priority);
	f->action = action;
	return f->push.failed || f->target.failed ? -1 : 0;
}

static void complete_job(struct worker *w, int i)
{
	struct slot *s = &w->slots[i];
	struct msg *m = s->msg;
	struct record rec;
	struct exit_facts facts = { s->status, s->killed_hard, s->killed_revoke, EXIT_RECORD_NONE, NULL };
	struct exit_verdict v;
	char err[256] = "";
	int have_record = 0;
	double runtime = clock_mono() - s->started;

	memset(&rec, 0, sizeof rec);
	if (s->record.len && s->record.len <= MAX_RECORD_BYTES &&
	    record_parse(&rec, s->record.data, s->record.len, err, sizeof err) == 0) {
		have_record = 1;
		facts.record = rec.ok ? EXIT_RECORD_SUCCESS : EXIT_RECORD_FAILURE;
		facts.exc_type = rec.exc_type;
	} else if (s->record.len) {
		log_warn("job.bad_record", "id=%s reason=\"%s\"", m->env.task_id, err);
	}
	if (s->is_tryon) {
		const char *x = NULL;
		size_t xn = 0;
		if (have_record && rec.extra_tok >= 0)
			record_raw(&rec, rec.extra_tok, &x, &xn);
		tryon_state_absorb(&w->tryon, &s->hints, x, xn, clock_mono());
	}
	exit_classify(&facts, &v);
	metrics_inc(&w->metrics, METRIC_JOB_EXITS, v.label, NULL, 1);
	if (s->ru.ru_maxrss > 0)
		metrics_observe(&w->metrics, METRIC_JOB_PEAK_MEMORY, NULL, NULL, (double)s->ru.ru_maxrss * 1024.0);
	if (s->killed_shutdown && !have_record)
		v.requeue = 1;

	struct finish *f = &s->fin;
	f->msg = m;
	f->slot = i;
	f->action = "ack";
	s->state = SLOT_FINISHING;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;

	if (s->killed_shutdown && !have_record) {
		/* Shutdown: back to the front of its queue, not counted as a loss. */
		requeue_prepare(f, m, -1, "rpush");
		log_info("task.requeued", "task=%s id=%s reason=shutdown", m->env.task, m->env.task_id);
	} else if (v.requeue) {
		char lost[160];
		int64_t n = m->env.deliveries + 1;
		worker_lost_message(lost, sizeof lost, s->status, w->processed + 1);
		if (n >= w->cfg->max_redeliveries) {
			char reason[300];
			snprintf(reason, sizeof reason, "%s Lost %lld times (TRYON_MAX_REDELIVERIES=%d): not requeued.",
				 lost, (long long)n, w->cfg->max_redeliveries);
			worker_meta_exception_str(&f->meta, "FAILURE", m->env.task_id, "WorkerLostError",
					   "billiard.exceptions", reason, &m->env);
			celery_deadletter_build(&f->push, reason, m->queue, m->received_at, m->raw, m->raw_len);
			buf_append_str(&f->target, TRYON_DEAD_LIST);
			f->action = "lpush";
			metrics_inc(&w->metrics, METRIC_TASKS_FAILED, m->env.task, "WorkerLostError", 1);
			worker_task_event_exc(w, CELERY_CTL_EV_FAILED, m, "WorkerLostError", NULL, NULL);
			log_error("task.failed", "task=%s id=%s exit=%s deliveries=%lld reason=\"%s\"",
				  m->env.task, m->env.task_id, v.label, (long long)n, reason);
		} else {
			requeue_prepare(f, m, n, "lpush");
			metrics_inc(&w->metrics, METRIC_TASKS_REJECTED, m->env.task, NULL, 1);
			{
				struct celery_ctl_task_ev ev = { .type = CELERY_CTL_EV_REJECTED, .uuid = m->env.task_id,
								 .requeue = 1 };
				worker_send_task_event(w, &ev);
			}
			log_warn("task.requeued", "task=%s id=%s exit=%s deliveries=%lld reason=\"%s\"",
				 m->env.task, m->env.task_id, v.label, (long long)n, lost);
		}
	} else if (v.cls == EXIT_CLASS_SUCCESS) {
		const char *p;
		size_t n;
		record_raw(&rec, rec.result_tok, &p, &n);
		if (!m->env.ignore_result) {
			struct buf result;
			buf_init(&result);
			buf_append(&result, p, n);
			struct celery_meta meta = {
				.status = "SUCCESS", .result_json = result.data, .has_date_done = 1,
				.date_done = clock_wall(), .task_id = m->env.task_id,
				.parent_id = m->env.parent_id, .group_id = m->env.group,
			};
			if (celery_meta_build(&f->meta, &meta, err, sizeof err) < 0)
				worker_meta_exception_str(&f->meta, "FAILURE", m->env.task_id, "ValueError", "builtins",
						   "task result is not valid JSON", &m->env);
			buf_free(&result);
		}
		metrics_inc(&w->metrics, METRIC_TASKS_SUCCEEDED, m->env.task, NULL, 1);
		if (w->task_events) {
			struct buf repr;
			buf_init(&repr);
			celery_repr(&repr, &rec.doc, rec.result_tok, 0, CELERY_REPR_MAXSIZE);
			struct celery_ctl_task_ev ev = { .type = CELERY_CTL_EV_SUCCEEDED, .uuid = m->env.task_id,
							 .result_repr = repr.data ? repr.data : "None", .runtime = runtime };
			worker_send_task_event(w, &ev);
			buf_free(&repr);
		}
		metrics_observe(&w->metrics, METRIC_TASK_RUNTIME, m->env.task, NULL, runtime);
		log_info("task.succeeded", "task=%s id=%s runtime=%.3f", m->env.task, m->env.task_id, runtime);
	} else if (v.cls == EXIT_CLASS_HARD_LIMIT) {
		char arr[64];
		snprintf(arr, sizeof arr, "[%g]", s->hard);
		meta_exception(&f->meta, "FAILURE", m->env.task_id, "TimeLimitExceeded", "billiard.exceptions",
			       arr, NULL, 1, &m->env);
		metrics_inc(&w->metrics, METRIC_TASKS_FAILED, m->env.task, "TimeLimitExceeded", 1);
		worker_task_event_exc(w, CELERY_CTL_EV_FAILED, m, "TimeLimitExceeded", arr, NULL);
		log_error("task.failed", "task=%s id=%s exit=hard_limit limit=%g runtime=%.3f",
			  m->env.task, m->env.task_id, s->hard, runtime);
	} else if (v.cls == EXIT_CLASS_REVOKED) {
		worker_meta_exception_str(&f->meta, "REVOKED", m->env.task_id, "TaskRevokedError",
				   "celery.exceptions", "terminated", &m->env);
		metrics_inc(&w->metrics, METRIC_TASKS_REVOKED, m->env.task, NULL, 1);
		{
			struct celery_ctl_task_ev ev = { .type = CELERY_CTL_EV_REVOKED, .uuid = m->env.task_id,
							 .terminated = 1,
							 .signum = WIFSIGNALED(s->status) ? WTERMSIG(s->status) : 0 };
			worker_send_task_event(w, &ev);
		}
		log_info("task.revoked", "task=%s id=%s terminated=1", m->env.task, m->env.task_id);
	} else {
		/* The task's own exception: retry Celery's way, or fail. */
		const char *arr;
		size_t n;
		struct buf msgs;
		buf_init(&msgs);
		record_raw(&rec, rec.exc_message_tok, &arr, &n);
		buf_append(&msgs, arr, n);
		if (rec.retryable && m->env.retries < w->cfg->max_retries) {
			char eta[ISOTIME_BUFSZ], tag[37];
			struct celery_body body;
			isotime_format_utc(clock_wall() + w->cfg->retry_countdown, eta, sizeof eta);
			ids_uuid4(tag);
			if (celery_body_parse(&body, m->env.body, m->env.body_len, m->env.protocol, err, sizeof err) == 0 &&
			    celery_retry_build(&f->push, &m->env, &body, eta, tag, w->hostname_origin, err, sizeof err) == 0) {
				struct buf tb;
				buf_init(&tb);
				buf_printf(&tb, "%sRetry in %gs: %s(%s)\n", rec.traceback ? rec.traceback : "",
					   w->cfg->retry_countdown, rec.exc_type, msgs.data);
				meta_exception(&f->meta, "RETRY", m->env.task_id, rec.exc_type, rec.exc_module,
					       msgs.data, tb.data, 0, &m->env);
				buf_free(&tb);
				kombu_priority_list(&f->target, m->queue, m->env.priority);
				f->action = "lpush";
				metrics_inc(&w->metrics, METRIC_TASKS_RETRIED, m->env.task, NULL, 1);
				worker_task_event_exc(w, CELERY_CTL_EV_RETRIED, m, rec.exc_type, msgs.data, rec.traceback);
				log_warn("task.retried", "task=%s id=%s retries=%lld exc=%s eta=%s",
					 m->env.task, m->env.task_id, (long long)m->env.retries + 1, rec.exc_type, eta);
			} else {
				log_error("task.retry_failed", "id=%s reason=\"%s\"", m->env.task_id, err);
				meta_exception(&f->meta, "FAILURE", m->env.task_id, rec.exc_type, rec.exc_module,
					       msgs.data, rec.traceback, 1, &m->env);
			}
			celery_body_free(&body);
		} else {
			meta_exception(&f->meta, "FAILURE", m->env.task_id, rec.exc_type, rec.exc_module,
				       msgs.data, rec.traceback, 1, &m->env);
			metrics_inc(&w->metrics, METRIC_TASKS_FAILED, m->env.task, rec.exc_type, 1);
			worker_task_event_exc(w, CELERY_CTL_EV_FAILED, m, rec.exc_type, msgs.data, rec.traceback);
			log_warn("task.failed", "task=%s id=%s exit=%s exc=%s.%s runtime=%.3f", m->env.task,
				 m->env.task_id, v.label, rec.exc_module, rec.exc_type, runtime);
		}
		buf_free(&msgs);
	}
	record_free(&rec);
	buf_free(&s->record);
	w->processed++;
	finish_step(w, f);
}

/* -- dispatch ---------------------------------------------------------- */

static void ready_push(struct worker *w, struct msg *m)
{
	m->next = NULL;
	if (w->ready_tail)
		w->ready_tail->next = m;
	else
		w->ready = m;
	w->ready_tail = m;
	w->n_ready++;
}

static void eta_insert(struct worker *w, struct msg *m)
{
	struct msg **p = &w->eta;
	while (*p && (*p)->env.eta <= m->env.eta)
		p = &(*p)->next;
	m->next = *p;
	*p = m;
	w->n_eta++;
}

/* -- the cache-hit fast path -------------------------------------------- */

/* A try-on whose result is cached needs no model call, so it needs no child
 * either: the parent looks the pair up on its own cache connection and, on a
 * hit, stores the result and acks at once. A fork and a fresh Redis
 * connection per cache hit cost more than the hit itself (docs/BENCHMARKS.md).
 * This is the one place the parent decodes task arguments; anything unusual
 * (invalid arguments, a cache error, a miss) takes the ordinary path through
 * a child, which decides and reports. */
struct lookup {
	struct worker *w;
	struct msg *m;
	double started;
};

static int tryon_cache_key(const struct msg *m, const struct config *cfg, char *key, size_t keylen)
{
	struct celery_body b;
	char err[160], why[160];
	char *s[2] = { NULL, NULL };
	size_t n[2] = { 0, 0 };
	static const char *const names[2] = { "person_url", "garment_url" };
	int rc = -1;

	if (celery_body_parse(&b, m->env.body, m->env.body_len, m->env.protocol, err, sizeof err) < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		int tok = celery_body_arg(&b, i);
		if (tok < 0)
			tok = celery_body_kwarg(&b, names[i]);
		if (celery_body_str(&b, tok, &s[i], &n[i], err, sizeof err) != 0 ||
		    cachekey_validate_input(s[i], n[i], (size_t)cfg->max_data_uri_bytes, why, sizeof why) < 0)
			goto out;
	}
	if (celery_body_nargs(&b) > 2)
		goto out;
	br_sha256_context h;
	unsigned char digest[br_sha256_SIZE];
	br_sha256_init(&h);
	br_sha256_update(&h, s[0], n[0]);
	br_sha256_update(&h, CACHEKEY_SEPARATOR, 1);
	br_sha256_update(&h, s[1], n[1]);
	br_sha256_out(&h, digest);
	cachekey_format(digest, key, keylen);
	rc = 0;
out:
	free(s[0]);
	free(s[1]);
	celery_body_free(&b);
	return rc;
}

static void on_lookup_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct lookup *l = arg;
	struct worker *w = l->w;
	struct msg *m = l->m;
	char why[160];
	(void)c, (void)err;

	w->n_lookups--;
	if (!r || r->type != RESP_BULK || cachekey_validate_result(r->str, r->len, why, sizeof why) < 0 ||
	    w->draining) {
		/* A miss, an error or garbage: the child handles it (and reports
		 * cache errors); while draining, the drain requeues it. */
		free(l);
		if (w->draining) {
			struct finish *f = worker_finish_new();
			if (!f) {
				worker_msg_free(m);
				return;
			}
			f->msg = m;
			requeue_prepare(f, m, -1, "rpush");
			worker_pending_add(w, f);
		} else {
			ready_push(w, m);
		}
		return;
	}
	struct finish *f = worker_finish_new();
	if (!f) {
		free(l);
		ready_push(w, m);
		return;
	}
	f->msg = m;
	double runtime = clock_mono() - l->started;
	if (!m->env.ignore_result) {
		struct buf result;
		char e2[160];
		buf_init(&result);
		json_write_str(&result, r->str, r->len, JSON_W_ASCII);
		struct celery_meta meta = {
			.status = "SUCCESS", .result_json = result.data, .has_date_done = 1,
			.date_done = clock_wall(), .task_id = m->env.task_id,
			.parent_id = m->env.parent_id, .group_id = m->env.group,
		};
		celery_meta_build(&f->meta, &meta, e2, sizeof e2);
		buf_free(&result);
	}
	/* Count it where the child's hits are counted. */
	static const char extra[] = "{\"path\": \"cache\", \"cache\": \"hit\", \"calls\": []}";
	struct tryon_hints none = { 0 };
	tryon_state_absorb(&w->tryon, &none, extra, sizeof extra - 1, clock_mono());
	w->started_count++;
	w->processed++;
	metrics_inc(&w->metrics, METRIC_TASKS_STARTED, m->env.task, NULL, 1);
	metrics_inc(&w->metrics, METRIC_TASKS_SUCCEEDED, m->env.task, NULL, 1);
	metrics_observe(&w->metrics, METRIC_TASK_RUNTIME, m->env.task, NULL, runtime);
	worker_task_event_simple(w, CELERY_CTL_EV_STARTED, m);
	if (w->task_events) {
		struct buf repr;
		buf_init(&repr);
		buf_append_char(&repr, '\'');
		buf_append(&repr, r->str, r->len);
		buf_append_char(&repr, '\'');
		struct celery_ctl_task_ev ev = { .type = CELERY_CTL_EV_SUCCEEDED, .uuid = m->env.task_id,
						 .result_repr = repr.data, .runtime = runtime };
		worker_send_task_event(w, &ev);
		buf_free(&repr);
	}
	log_info("task.succeeded", "task=%s id=%s runtime=%.3f path=cache", m->env.task, m->env.task_id, runtime);
	free(l);
	worker_pending_add(w, f);
}

/* 1 if m went to the cache (its reply decides), 0 to run it normally. */
static int cache_lookup(struct worker *w, struct msg *m)
{
	char key[CACHEKEY_KEY_SIZE];

	if (!w->cache || m->cache_checked || strcmp(m->env.task, TASK_VIRTUAL_TRYON) ||
	    !redis_conn_is_ready(w->cache) || tryon_cache_key(m, w->cfg, key, sizeof key) < 0)
		return 0;
	struct lookup *l = malloc(sizeof *l);
	if (!l)
		return 0;
	*l = (struct lookup){ w, m, clock_mono() };
	m->cache_checked = 1;
	const char *argv[] = { "GET", key };
	if (redis_conn_command(w->cache, on_lookup_reply, l, 0, 2, argv, NULL) < 0) {
		free(l);
		return 0;
	}
	w->n_lookups++;
	return 1;
}

/* A recorded message: decide what happens to it. */
static void dispatch(struct worker *w, struct msg *m)
{
	double now = clock_wall();

	metrics_inc(&w->metrics, METRIC_TASKS_RECEIVED, m->env.task, NULL, 1);
	worker_task_event_simple(w, CELERY_CTL_EV_RECEIVED, m);
	log_info("task.received", "task=%s id=%s queue=%s retries=%lld%s", m->env.task, m->env.task_id,
		 m->queue, (long long)m->env.retries, m->env.has_eta ? " eta=1" : "");
	if (w->draining) {
		/* Arrived while we stop taking work: back to the front, untouched. */
		struct finish *f = worker_finish_new();
		if (!f)
			return;
		f->msg = m;
		requeue_prepare(f, m, -1, "rpush");
		log_info("task.requeued", "task=%s id=%s reason=shutdown", m->env.task, m->env.task_id);
		worker_pending_add(w, f);
		return;
	}
	if (worker_revoked_index(w, m->env.task_id) >= 0) {
		struct finish *f = worker_finish_new();
		if (!f)
			return;
		f->msg = m;
		worker_meta_exception_str(&f->meta, "REVOKED", m->env.task_id, "TaskRevokedError",
				   "celery.exceptions", "revoked", &m->env);
		metrics_inc(&w->metrics, METRIC_TASKS_REVOKED, m->env.task, NULL, 1);
		struct celery_ctl_task_ev ev = { .type = CELERY_CTL_EV_REVOKED, .uuid = m->env.task_id };
		worker_send_task_event(w, &ev);
		log_info("task.revoked", "task=%s id=%s revoked=1", m->env.task, m->env.task_id);
		worker_pending_add(w, f);
		return;
	}
	if (!tasks_is_registered(w->cfg, m->env.task)) {
		struct finish *f = worker_finish_new();
		if (!f)
			return;
		f->msg = m;
		worker_meta_exception_str(&f->meta, "FAILURE", m->env.task_id, "NotRegistered",
				   "celery.exceptions", m->env.task, &m->env);
		metrics_inc(&w->metrics, METRIC_TASKS_FAILED, m->env.task, "NotRegistered", 1);
		{
			struct buf a;
			buf_init(&a);
			buf_append_char(&a, '[');
			json_write_cstr(&a, m->env.task);
			buf_append_char(&a, ']');
			worker_task_event_exc(w, CELERY_CTL_EV_FAILED, m, "NotRegistered", a.data, NULL);
			buf_free(&a);
		}
		log_error("task.unknown", "task=%s id=%s reason=\"not registered; FAILURE NotRegistered stored\"",
			  m->env.task, m->env.task_id);
		worker_pending_add(w, f);
		return;
	}
	if (m->env.has_expires && m->env.expires < now) {
		struct finish *f = worker_finish_new();
		if (!f)
			return;
		f->msg = m;
		worker_meta_exception_str(&f->meta, "REVOKED", m->env.task_id, "TaskRevokedError",
				   "celery.exceptions", "expired", &m->env);
		metrics_inc(&w->metrics, METRIC_TASKS_REVOKED, m->env.task, NULL, 1);
		{
			struct celery_ctl_task_ev ev = { .type = CELERY_CTL_EV_REVOKED, .uuid = m->env.task_id, .expired = 1 };
			worker_send_task_event(w, &ev);
		}
		log_info("task.revoked", "task=%s id=%s expired=1", m->env.task, m->env.task_id);
		worker_pending_add(w, f);
		return;
	}
	if (m->env.has_eta && m->env.eta > now) {
		eta_insert(w, m);
		return;
	}
	if (cache_lookup(w, m))
		return;
	ready_push(w, m);
}

static void run_ready(struct worker *w)
{
	double now = clock_wall();

	while (w->eta && w->eta->env.eta <= now) {
		struct msg *m = w->eta;
		w->eta = m->next;
		w->n_eta--;
		if (m->env.has_expires && m->env.expires < now) {
			dispatch(w, m);   /* stores REVOKED expired */
			continue;
		}
		if (!cache_lookup(w, m))
			ready_push(w, m);
	}
	while (w->ready && !w->draining) {
		int i = free_slot(w);
		if (i < 0)
			break;
		struct msg *m = w->ready;
		w->ready = m->next;
		if (!w->ready)
			w->ready_tail = NULL;
		w->n_ready--;
		m->next = NULL;
		start_job(w, i, m);
	}
}

/* -- fetching ---------------------------------------------------------- */

struct fetch_batch {
	struct worker *w;
	int n;
	struct msg **msgs;
};

static void on_record_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct fetch_batch *b = arg;
	struct worker *w = b->w;
	(void)c;
	w->n_unrecorded -= b->n;
	if (!r || r->type != RESP_ARRAY || (int)r->n_elems != b->n) {
		/* They stay in our in-flight list; recover_inflight returns them
		 * to their queues when the connection is back. */
		log_warn("broker.record_failed", "messages=%d reason=\"%s\"", b->n,
			 r && r->type == RESP_ERROR ? r->str : (err ? err : "unexpected reply"));
		if (r && scripts_is_noscript(r))
			scripts_load(c);
		for (int i = 0; i < b->n; i++)
			worker_msg_free(b->msgs[i]);
		w->recovered_once = 0;   /* recover in-flight on the next chance */
	} else {
		for (int i = 0; i < b->n; i++) {
			if (r->elems[i]->type == RESP_INTEGER && r->elems[i]->integer == 1) {
				dispatch(w, b->msgs[i]);
			} else {
				log_warn("broker.message_taken", "id=%s reason=\"recovered by another node\"",
					 b->msgs[i]->env.task_id);
				worker_msg_free(b->msgs[i]);
			}
		}
	}
	free(b->msgs);
	free(b);
}

/* Parse fetched messages; record the good ones, dead-letter the rest. */
static void take_messages(struct worker *w, struct resp_value **pairs, int npairs)
{
	struct fetch_batch *b = calloc(1, sizeof *b);
	struct buf *vals = calloc((size_t)npairs, sizeof *vals);
	if (!b || !vals || !(b->msgs = calloc((size_t)npairs, sizeof *b->msgs))) {
		free(b ? b->msgs : NULL);
		free(b);
		free(vals);
		return;   /* still in the in-flight list */
	}
	b->w = w;
	double now = clock_wall();
	for (int i = 0; i < npairs; i++) {
		struct resp_value *list = pairs[2 * i], *msgv = pairs[2 * i + 1];
		struct msg *m = calloc(1, sizeof *m);
		char qname[256], err[256] = "";
		if (!m)
			continue;
		kombu_queue_of_list(list->str, list->len, qname, sizeof qname);
		m->queue = strdup(qname);
		m->raw = msgv->str;
		m->raw_len = msgv->len;
		msgv->str = NULL;   /* taken */
		m->received_at = now;
		if (celery_envelope_parse(m->raw, m->raw_len, (size_t)w->cfg->max_message_bytes, &m->env,
					  err, sizeof err) < 0) {
			const int refused = m->env.content_type && strcmp(m->env.content_type, "application/json");
			dead_letter(w, m, err, refused ? "ContentDisallowed" : "DecodeError",
				    "kombu.exceptions", 0);
			continue;
		}
		if (!m->env.delivery_tag || !m->env.task || !m->env.task_id) {
			dead_letter(w, m, "message has no delivery_tag, task name or task id",
				    "DecodeError", "kombu.exceptions", 0);
			continue;
		}
		buf_init(&vals[b->n]);
		kombu_unacked_value(&vals[b->n], m->raw, m->raw_len, m->env.exchange, m->env.routing_key);
		b->msgs[b->n++] = m;
		/* Fairness: the queue that delivered goes to the end of the cycle. */
		for (int q = 0; q < w->cfg->n_queues; q++)
			if (!strcmp(w->cfg->queues[q], qname))
				w->queue_first = (q + 1) % w->cfg->n_queues;
	}
	if (b->n == 0) {
		free(b->msgs);
		free(b);
		free(vals);
		return;
	}
	int nargs = 1 + 3 * b->n;
	const char **args = calloc((size_t)nargs, sizeof *args);
	size_t *lens = calloc((size_t)nargs, sizeof *lens);
	char now_s[32];
	snprintf(now_s, sizeof now_s, "%.6f", now);
	if (args && lens) {
		args[0] = now_s, lens[0] = strlen(now_s);
		for (int i = 0; i < b->n; i++) {
			args[1 + 3 * i] = b->msgs[i]->raw, lens[1 + 3 * i] = b->msgs[i]->raw_len;
			args[2 + 3 * i] = b->msgs[i]->env.delivery_tag, lens[2 + 3 * i] = strlen(b->msgs[i]->env.delivery_tag);
			args[3 + 3 * i] = vals[i].data, lens[3 + 3 * i] = vals[i].len;
		}
		const char *keys[] = { w->inflight_key.data, KOMBU_UNACKED, KOMBU_UNACKED_INDEX, w->held_key.data };
		w->n_unrecorded += b->n;
		if (scripts_call(w->consume, SCRIPT_RECORD, 4, keys, NULL, nargs, args, lens, on_record_reply, b) < 0) {
			w->n_unrecorded -= b->n;
			for (int i = 0; i < b->n; i++)
				worker_msg_free(b->msgs[i]);
			free(b->msgs);
			free(b);
			w->recovered_once = 0;
		}
	}
	for (int i = 0; i < npairs; i++)
		buf_free(&vals[i]);
	free(vals);
	free(args);
	free(lens);
}

static void on_block_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct worker *w = arg;
	(void)c;
	(void)err;
	w->fetching = 0;
	if (r && r->type == RESP_BULK) {
		/* BRPOPLPUSH popped from the head list. */
		struct buf head;
		buf_init(&head);
		kombu_consume_order(&head, (const char *const *)w->cfg->queues, w->cfg->n_queues, w->queue_first);
		struct resp_value list = { .type = RESP_BULK, .str = head.data, .len = strlen(head.data) };
		struct resp_value *pair[2] = { &list, r };
		take_messages(w, pair, 1);
		buf_free(&head);
	}
}

static int capacity(const struct worker *w)
{
	return w->n_slots - w->busy - w->n_ready - w->n_pending - w->n_unrecorded - w->n_lookups;
}

static void fetch(struct worker *w);

static void on_fetch_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct worker *w = arg;
	w->fetching = 0;
	if (!r || r->type != RESP_ARRAY) {
		if (r && scripts_is_noscript(r))
			scripts_load(c);
		if (r) {
			log_warn("broker.fetch_failed", "reason=\"%s\"", r->type == RESP_ERROR ? r->str : "bad reply");
			note_error(w, "fetch", r->type == RESP_ERROR ? r->str : "bad reply");
		}
		(void)err;
		return;
	}
	if (r->n_elems >= 2) {
		take_messages(w, r->elems, (int)(r->n_elems / 2));
		return;
	}
	/* Nothing waiting: block briefly on the first list, moving atomically
	 * into our in-flight list, so an idle worker reacts at once. */
	if (capacity(w) <= 0 || w->draining)
		return;
	struct buf order;
	buf_init(&order);
	kombu_consume_order(&order, (const char *const *)w->cfg->queues, w->cfg->n_queues, w->queue_first);
	const char *argv[] = { "BRPOPLPUSH", order.data, w->inflight_key.data, IDLE_BLOCK_SECONDS };
	if (redis_conn_command(c, on_block_reply, w, 1.0, 4, argv, NULL) == 0)
		w->fetching = 1;
	buf_free(&order);
}

static void fetch(struct worker *w)
{
	int cap = capacity(w);
	if (w->fetching || w->draining || w->recovering || !w->recovered_once || cap <= 0 ||
	    w->n_eta >= MAX_HELD_ETA || !redis_conn_is_ready(w->consume))
		return;
	struct buf order;
	buf_init(&order);
	int n = kombu_consume_order(&order, (const char *const *)w->cfg->queues, w->cfg->n_queues, w->queue_first);
	const char **keys = calloc((size_t)n + 1, sizeof *keys);
	char count[16];
	if (keys && n > 0) {
		const char *p = order.data;
		for (int i = 0; i < n; i++) {
			keys[i] = p;
			p += strlen(p) + 1;
		}
		keys[n] = w->inflight_key.data;
		snprintf(count, sizeof count, "%d", cap);
		const char *args[] = { count };
		if (scripts_call(w->consume, SCRIPT_FETCH, n + 1, keys, NULL, 1, args, NULL, on_fetch_reply, w) == 0)
			w->fetching = 1;
	}
	free(keys);
	buf_free(&order);
}

/* -- start-up recovery -------------------------------------------------- */

/* Messages left in our in-flight list (taken from a queue, never recorded:
 * a crash or a dropped connection in between) go back to the front of their
 * queue, unchanged: they never ran. */
static void on_inflight_list(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct worker *w = arg;
	(void)c;
	(void)err;
	if (!r || r->type != RESP_ARRAY) {
		w->recovering = 0;
		return;
	}
	for (size_t i = 0; i < r->n_elems; i++) {
		struct resp_value *v = r->elems[i];
		struct msg *m = calloc(1, sizeof *m);
		char e[256];
		if (!m || v->type != RESP_BULK) {
			free(m);
			continue;
		}
		m->raw = v->str;
		m->raw_len = v->len;
		v->str = NULL;
		m->received_at = clock_wall();
		if (celery_envelope_parse(m->raw, m->raw_len, (size_t)w->cfg->max_message_bytes, &m->env, e, sizeof e) < 0 ||
		    !m->env.routing_key) {
			m->queue = strdup(m->env.routing_key ? m->env.routing_key : "");
			dead_letter(w, m, e, m->env.task_id ? "DecodeError" : NULL, "kombu.exceptions", 0);
			continue;
		}
		m->queue = strdup(m->env.routing_key);
		struct finish *f = worker_finish_new();
		if (!f) {
			worker_msg_free(m);
			continue;
		}
		f->msg = m;
		f->drop_inflight = 1;
		buf_append(&f->push, m->raw, m->raw_len);
		kombu_priority_list(&f->target, m->queue, m->env.priority);
		f->action = "rpush";
		log_info("broker.recovered", "id=%s queue=%s from=inflight", m->env.task_id, m->queue);
		worker_pending_add(w, f);
	}
	w->recovering = 0;
	w->recovered_once = 1;
}

static void recover_inflight(struct worker *w)
{
	if (w->recovering || w->fetching || w->n_unrecorded || !redis_conn_is_ready(w->consume))
		return;
	const char *argv[] = { "LRANGE", w->inflight_key.data, "0", "-1" };
	if (redis_conn_command(w->consume, on_inflight_list, w, 0, 4, argv, NULL) == 0)
		w->recovering = 1;
}

/* -- connections -------------------------------------------------------- */

static void on_consume_ready(struct redis_conn *c, void *arg)
{
	struct worker *w = arg;
	scripts_load(c);
	/* Declare our queues the way kombu does. */
	for (int i = 0; i < w->cfg->n_queues; i++) {
		struct buf k, m;
		buf_init(&k), buf_init(&m);
		kombu_binding(&k, &m, w->cfg->queues[i]);
		const char *argv[] = { "SADD", k.data, m.data };
		size_t lens[] = { 4, k.len, m.len };
		redis_conn_command(c, NULL, NULL, 0, 3, argv, lens);
		buf_free(&k), buf_free(&m);
	}
	const char *argv[] = { "SADD", TRYON_NODES_SET, w->cfg->hostname };
	redis_conn_command(c, NULL, NULL, 0, 3, argv, NULL);
	w->fetching = 0;
	w->recovered_once = 0;
}

static void on_cmd_ready(struct redis_conn *c, void *arg)
{
	(void)arg;
	scripts_load(c);
}

/* -- the loop ------------------------------------------------------------ */

static void reap_children(struct worker *w)
{
	int status;
	struct rusage ru;
	pid_t pid;

	while ((pid = proc_reap_one(&status, &ru)) > 0) {
		if (pid == w->maint_pid) {
			w->maint_pid = 0;
			continue;
		}
		for (int i = 0; i < w->n_slots; i++) {
			struct slot *s = &w->slots[i];
			if (s->state == SLOT_RUNNING && s->pid == pid) {
				s->exited = 1;
				s->status = status;
				s->ru = ru;
			}
		}
	}
}

static void read_record(struct slot *s)
{
	char buf[8192];
	for (;;) {
		ssize_t n = read(s->fd, buf, sizeof buf);
		if (n > 0) {
			if (s->record.len + (size_t)n <= MAX_RECORD_BYTES + 1)
				buf_append(&s->record, buf, (size_t)n);
			continue;
		}
		if (n == 0)
			s->record_eof = 1;
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN)
			s->record_eof = 1;
		return;
	}
}

static void finish_reap(struct worker *w)
{
	for (int i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (s->state == SLOT_FINISHING && s->fin.result_stored == 2) {
			worker_msg_free(s->msg);
			finish_reset(&s->fin);
			s->msg = NULL;
			s->state = SLOT_FREE;
			w->busy--;
		} else if (s->state == SLOT_FINISHING) {
			finish_step(w, &s->fin);
		}
	}
	for (struct finish **p = &w->pending; *p;) {
		struct finish *f = *p;
		if (f->result_stored == 2) {
			*p = f->next;
			worker_msg_free(f->msg);
			finish_reset(f);
			free(f);
			w->n_pending--;
		} else {
			finish_step(w, f);
			p = &f->next;
		}
	}
}

void worker_start_drain(struct worker *w, double now)
{
	w->draining = 1;
	w->drain_deadline = now + w->cfg->shutdown_grace;
	log_info("worker.draining", "running=%d grace=%g", w->busy, w->cfg->shutdown_grace);
	sdnotify_stopping(&w->sd);
	sdnotify_status(&w->sd, "draining: %d running, %g s grace", w->busy, w->cfg->shutdown_grace);
	/* Held ETA messages and not yet started ones go back to the front. */
	struct msg *lists[2] = { w->eta, w->ready };
	w->eta = w->ready = w->ready_tail = NULL;
	w->n_eta = w->n_ready = 0;
	for (int l = 0; l < 2; l++) {
		for (struct msg *m = lists[l], *next; m; m = next) {
			next = m->next;
			struct finish *f = worker_finish_new();
			if (!f) {
				worker_msg_free(m);
				continue;
			}
			f->msg = m;
			requeue_prepare(f, m, -1, "rpush");
			log_info("task.requeued", "task=%s id=%s reason=shutdown", m->env.task, m->env.task_id);
			worker_pending_add(w, f);
		}
	}
}

static void kill_running(struct worker *w, const char *why)
{
	for (int i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (s->state == SLOT_RUNNING && !s->exited && !s->killed_shutdown) {
			s->killed_shutdown = 1;
			proc_kill(s->pid, SIGKILL);
			log_warn("task.killed", "id=%s reason=%s", s->msg->env.task_id, why);
		}
	}
}

static double min_d(double a, double b)
{
	return a < b ? a : b;
}

int worker_run(const struct config *cfg, const struct trust_store *ts)
{
	struct worker w;
	char err[512], red[512];
	int rc = 1;

	memset(&w, 0, sizeof w);
	w.cfg = cfg;
	w.ts = ts;
	w.started_wall = clock_wall();
	tryon_state_init(&w.tryon, cfg);
	w.tryon.on_call = worker_on_model_call;
	w.tryon.on_call_arg = &w;
	buf_init(&w.inflight_key);
	buf_init(&w.held_key);
	buf_init(&w.alive_key);
	kombu_node_key(&w.alive_key, "alive", cfg->hostname);
	kombu_node_key(&w.inflight_key, "inflight", cfg->hostname);
	kombu_node_key(&w.held_key, "held", cfg->hostname);
	{
		char host[256] = "localhost";
		gethostname(host, sizeof host - 1);
		snprintf(w.hostname_origin, sizeof w.hostname_origin, "gen%d@%s", (int)getpid(), host);
	}
	if (redis_url_parse(cfg->broker_url, &w.broker_url, err, sizeof err) < 0) {
		fprintf(stderr, "tryon-worker: invalid configuration: CELERY_BROKER_URL: %s\n", err);
		return 100;
	}
	if (redis_url_parse(cfg->result_url, &w.result_url, err, sizeof err) < 0) {
		fprintf(stderr, "tryon-worker: invalid configuration: CELERY_RESULT_BACKEND: %s\n", err);
		redis_url_free(&w.broker_url);
		return 100;
	}
	if (cfg->http_addr[0]) {
		struct sockaddr_storage ss;
		socklen_t sslen;
		if (httpd_parse_addr(cfg->http_addr, &ss, &sslen, err, sizeof err) < 0) {
			fprintf(stderr, "tryon-worker: invalid configuration: TRYON_HTTP_ADDR: %s\n", err);
			redis_url_free(&w.broker_url);
			redis_url_free(&w.result_url);
			return 100;
		}
	}
	const struct redis_url *a = &w.broker_url, *b = &w.result_url;
	w.same_server = a->transport == b->transport && a->port == b->port &&
			!strcmp(a->host ? a->host : "", b->host ? b->host : "") &&
			!strcmp(a->path ? a->path : "", b->path ? b->path : "") &&
			!strcmp(a->user ? a->user : "", b->user ? b->user : "") &&
			!strcmp(a->password ? a->password : "", b->password ? b->password : "");

	w.sig_fd = proc_signals_init();
	if (w.sig_fd < 0) {
		log_error("worker.start_failed", "reason=\"signals: %s\"", strerror(errno));
		goto out;
	}
	w.n_slots = cfg->concurrency;
	w.slots = calloc((size_t)w.n_slots, sizeof *w.slots);
	if (!w.slots)
		goto out;
	for (int i = 0; i < w.n_slots; i++)
		w.slots[i].fd = -1;

	struct redis_conn_opts co = { .url = &w.broker_url, .trust = ts, .name = "broker-consume",
				      .connect_timeout = 5, .io_timeout = 5, .health_interval = 30,
				      .on_ready = on_consume_ready, .arg = &w };
	w.consume = redis_conn_new(&co, err, sizeof err);
	co.name = "broker";
	co.on_ready = on_cmd_ready;
	w.cmd = w.consume ? redis_conn_new(&co, err, sizeof err) : NULL;
	if (!w.same_server && w.cmd) {
		co.url = &w.result_url;
		co.name = "results";
		w.results = redis_conn_new(&co, err, sizeof err);
	}
	co.url = &w.broker_url;
	co.name = "broker-pubsub";
	co.on_ready = worker_on_pubsub_ready;
	co.on_push = worker_control_message;
	w.pubsub = w.cmd ? redis_conn_new(&co, err, sizeof err) : NULL;
	if (cfg->cache_url && redis_url_parse(cfg->cache_url, &w.cache_url, err, sizeof err) == 0) {
		struct redis_conn_opts cc = { .url = &w.cache_url, .trust = ts, .name = "cache",
					      .connect_timeout = cfg->cache_timeout, .io_timeout = cfg->cache_timeout,
					      .health_interval = 30 };
		w.cache = redis_conn_new(&cc, err, sizeof err);
	}
	w.task_events = cfg->task_events;
	w.revoked = calloc(MAX_REVOKED, sizeof *w.revoked);
	w.revoked_at = calloc(MAX_REVOKED, sizeof *w.revoked_at);
	{
		size_t n = 0;
		for (const char *const *t = tasks_registered(cfg); *t; t++)
			n++;
		w.task_totals = calloc(n + 1, sizeof *w.task_totals);
	}
	if (!w.consume || !w.cmd || !w.pubsub || (!w.same_server && !w.results)) {
		log_error("worker.start_failed", "reason=\"%s\"", err);
		goto out;
	}

	metrics_init(&w.metrics);
	metrics_set(&w.metrics, METRIC_PROCESS_START_TIME, NULL, NULL, w.started_wall);
	metrics_set(&w.metrics, METRIC_WORKER_SLOTS, NULL, NULL, w.n_slots);
	metrics_set(&w.metrics, METRIC_BUILD_INFO, version_string, version_commit, 1);
	if (cfg->http_addr[0]) {
		w.httpd = httpd_open(cfg->http_addr, err, sizeof err);
		if (!w.httpd) {
			log_error("worker.start_failed", "reason=\"TRYON_HTTP_ADDR: %s\"", err);
			goto out;
		}
	}
	if (sdnotify_init(&w.sd, clock_mono(), err, sizeof err) < 0)
		log_warn("systemd.notify_disabled", "reason=\"%s\"", err);

	redis_url_redact(&w.broker_url, red, sizeof red);
	log_info("worker.starting", "node=%s version=%s broker=%s concurrency=%d queues=%d pid=%d",
		 cfg->hostname, version_string, red, cfg->concurrency, cfg->n_queues, (int)getpid());
	if (!cfg->cache_url)
		log_warn("cache.disabled", "reason=\"REDIS_CACHE_URL is not set: every try-on calls the model API\"");
	worker_recover_own(&w);

	double now = clock_mono();
	redis_conn_start(w.consume, now);
	redis_conn_start(w.cmd, now);
	if (w.results)
		redis_conn_start(w.results, now);
	redis_conn_start(w.pubsub, now);
	if (w.cache)
		redis_conn_start(w.cache, now);

	int announced = 0;
	struct pollfd *pfds = calloc((size_t)(6 + w.n_slots + HTTPD_MAX_POLLFDS), sizeof *pfds);
	if (!pfds)
		goto out;
	for (;;) {
		now = clock_mono();
		/* Work that needs no I/O first. */
		if (redis_conn_is_ready(w.consume) && !w.recovered_once)
			recover_inflight(&w);
		if (!announced && w.recovered_once && redis_conn_is_ready(w.cmd)) {
			announced = 1;
			log_info("worker.ready", "node=%s queues=%s slots=%d", cfg->hostname, cfg->queues[0], w.n_slots);
			w.consuming = 1;
			sdnotify_ready(&w.sd);
			sdnotify_status(&w.sd, "consuming %s with %d slots", cfg->queues[0], w.n_slots);
			worker_send_worker_event(&w, "worker-online");
			w.next_event_heartbeat = now + CELERY_CTL_HEARTBEAT_FREQ;
		}
		if (w.consuming && now >= w.next_event_heartbeat) {
			worker_send_worker_event(&w, "worker-heartbeat");
			w.next_event_heartbeat = now + CELERY_CTL_HEARTBEAT_FREQ;
		}
		/* Reap finished work first: the capacity it frees is what the
		 * fetch below may use, or the loop would sleep until a timer. */
		finish_reap(&w);
		run_ready(&w);
		fetch(&w);
		worker_maintenance_tick(&w, now);

		if (w.draining) {
			int running = 0;
			for (int i = 0; i < w.n_slots; i++)
				running += w.slots[i].state != SLOT_FREE;
			if (!running && !w.n_pending && !w.fetching && !w.n_unrecorded && !w.n_lookups)
				break;
			if (now > w.drain_deadline)
				kill_running(&w, "shutdown_grace");
			if (now > w.drain_deadline + 10) {
				log_error("worker.drain_timeout", "held=%d reason=\"Redis unreachable; messages stay recorded and are recovered at the next start\"",
					  running + w.n_pending);
				break;
			}
		}

		/* Poll. */
		int n = 0;
		pfds[n++] = (struct pollfd){ .fd = w.sig_fd, .events = POLLIN };
		struct redis_conn *conns[5] = { w.consume, w.cmd, w.results, w.pubsub, w.cache };
		int conn_idx[5] = { -1, -1, -1, -1, -1 };
		for (int i = 0; i < 5; i++)
			if (conns[i] && redis_conn_pollfd(conns[i], &pfds[n]))
				conn_idx[i] = n++;
		int slot_idx0 = n;
		for (int i = 0; i < w.n_slots; i++) {
			struct slot *s = &w.slots[i];
			pfds[n] = (struct pollfd){ .fd = -1 };
			if (s->state == SLOT_RUNNING && s->fd >= 0 && !s->record_eof)
				pfds[n].fd = s->fd, pfds[n].events = POLLIN;
			n++;
		}
		int http_idx0 = n, n_http = w.httpd ? httpd_pollfds(w.httpd, &pfds[n], HTTPD_MAX_POLLFDS) : 0;
		n += n_http;
		double deadline = now + 1.0;
		if (w.httpd)
			deadline = min_d(deadline, httpd_next_deadline(w.httpd));
		deadline = min_d(deadline, sdnotify_next_deadline(&w.sd));
		for (int i = 0; i < 5; i++)
			if (conns[i])
				deadline = min_d(deadline, redis_conn_next_deadline(conns[i]));
		for (int i = 0; i < w.n_slots; i++)
			if (w.slots[i].state == SLOT_RUNNING && !w.slots[i].exited)
				deadline = min_d(deadline, w.slots[i].hard_deadline);
		if (w.eta) {
			double until = w.eta->env.eta - clock_wall();
			deadline = min_d(deadline, now + (until > 0 ? until : 0));
		}
		if (w.draining)
			deadline = min_d(deadline, w.drain_deadline);
		deadline = min_d(deadline, min_d(w.next_heartbeat, min_d(w.next_renew, w.next_maintenance)));
		if (w.consuming)
			deadline = min_d(deadline, w.next_event_heartbeat);
		int timeout = deadline <= now ? 0 : (int)ceil((deadline - now) * 1000);
		if (poll(pfds, (nfds_t)n, timeout) < 0 && errno != EINTR) {
			log_error("worker.poll_failed", "reason=\"%s\"", strerror(errno));
			break;
		}
		now = clock_mono();

		if (pfds[0].revents) {
			int n_term = 0;
			unsigned bits = proc_signals_drain(&n_term);
			if (bits & PROC_SIG_CHLD)
				reap_children(&w);
			if (n_term > w.n_term) {
				w.n_term = n_term;
				if (!w.draining) {
					worker_start_drain(&w, now);
				} else {
					log_warn("worker.fast_shutdown", "reason=\"second signal\"");
					w.drain_deadline = now;
					kill_running(&w, "second_signal");
				}
			}
		}
		for (int i = 0; i < 5; i++)
			if (conns[i])
				redis_conn_process(conns[i], conn_idx[i] >= 0 ? pfds[conn_idx[i]].revents : 0, now);
		for (int i = 0; i < w.n_slots; i++) {
			struct slot *s = &w.slots[i];
			if (pfds[slot_idx0 + i].fd >= 0 && pfds[slot_idx0 + i].revents)
				read_record(s);
		}
		for (int i = 0; i < 5; i++)
			if (conns[i])
				redis_conn_tick(conns[i], now);
		if (w.httpd)
			httpd_process(w.httpd, &pfds[http_idx0], n_http, now, worker_http_handler, &w);
		sdnotify_tick(&w.sd, now);
		/* Hard limits. */
		for (int i = 0; i < w.n_slots; i++) {
			struct slot *s = &w.slots[i];
			if (s->state == SLOT_RUNNING && !s->exited && !s->killed_hard && now >= s->hard_deadline) {
				s->killed_hard = 1;
				proc_kill(s->pid, SIGKILL);
				log_warn("task.hard_limit", "id=%s limit=%g", s->msg->env.task_id, s->hard);
			}
		}
		/* A child whose pipe closed but whose SIGCHLD we have not seen
		 * yet is reaped on the next signal; one that exited is done once
		 * its pipe is drained. */
		for (int i = 0; i < w.n_slots; i++) {
			struct slot *s = &w.slots[i];
			if (s->state == SLOT_RUNNING && s->exited && !s->record_eof && s->fd >= 0)
				read_record(s);
			if (s->state == SLOT_RUNNING && s->exited && (s->record_eof || s->fd < 0))
				complete_job(&w, i);
		}
	}
	free(pfds);
	/* worker-offline always: monitors then drop us at once. */
	worker_send_worker_event(&w, "worker-offline");
	for (double until = clock_mono() + 1.0; redis_conn_is_ready(w.cmd) && clock_mono() < until;) {
		struct pollfd p;
		if (!redis_conn_pollfd(w.cmd, &p) || !(p.events & POLLOUT))
			break;   /* nothing left to write */
		poll(&p, 1, 100);
		redis_conn_process(w.cmd, p.revents, clock_mono());
	}
	log_info("worker.stopped", "node=%s processed=%ld", cfg->hostname, w.processed);
	rc = 0;
out:
	httpd_close(w.httpd);
	sdnotify_close(&w.sd);
	redis_conn_free(w.consume);
	redis_conn_free(w.cmd);
	redis_conn_free(w.results);
	redis_conn_free(w.pubsub);
	redis_conn_free(w.cache);
	redis_url_free(&w.cache_url);
	for (int i = 0; w.revoked && i < MAX_REVOKED; i++)
		free(w.revoked[i]);
	free(w.revoked);
	free(w.revoked_at);
	free(w.task_totals);
	for (int i = 0; w.slots && i < w.n_slots; i++) {
		if (w.slots[i].state != SLOT_FREE) {
			worker_msg_free(w.slots[i].msg);
			finish_reset(&w.slots[i].fin);
			buf_free(&w.slots[i].record);
		}
	}
	free(w.slots);
	while (w.pending) {
		struct finish *f = w.pending;
		w.pending = f->next;
		worker_msg_free(f->msg);
		finish_reset(f);
		free(f);
	}
	for (struct msg *m = w.ready, *nx; m; m = nx)
		nx = m->next, worker_msg_free(m);
	for (struct msg *m = w.eta, *nx; m; m = nx)
		nx = m->next, worker_msg_free(m);
	buf_free(&w.inflight_key);
	buf_free(&w.held_key);
	buf_free(&w.alive_key);
	free(w.keep);
	redis_url_free(&w.broker_url);
	redis_url_free(&w.result_url);
	return rc;
}
