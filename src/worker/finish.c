/* finish: from an outcome to Redis. */
#include "worker/finish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_msg.h"
#include "celery/kombu.h"
#include "lib/clock.h"
#include "lib/json.h"
#include "lib/log.h"
#include "redis/scripts.h"
#include "worker/events.h"
#include "worker/tasks.h"

/* -- building -------------------------------------------------------------- */

static void finish_init(struct finish *f, int slot)
{
	memset(f, 0, sizeof *f);
	buf_init(&f->meta);
	buf_init(&f->push);
	buf_init(&f->target);
	f->slot = slot;
	backoff_init(&f->retry, 0.1, 10);
}

static void finish_clear(struct finish *f)
{
	buf_free(&f->meta);
	buf_free(&f->push);
	buf_free(&f->target);
	f->msg = NULL;
	f->phase = FINISH_DONE;
	f->busy = 0;
}

/* A Celery exception meta: {"exc_type", "exc_message": args, "exc_module"}. */
static int meta_exception(struct buf *out, const char *state, const struct msg *m, const char *exc_type,
			  const char *exc_module, const char *args_json, const char *traceback, int date_done)
{
	struct buf exc;
	char err[200];
	int rc = -1;

	buf_init(&exc);
	if (celery_exc_build_raw(&exc, exc_type, exc_module, args_json, err, sizeof err) == 0) {
		struct celery_meta meta = {
			.status = state, .result_json = exc.data, .traceback = traceback,
			.has_date_done = date_done, .date_done = clock_wall(), .task_id = m->env.task_id,
			.parent_id = m->env.parent_id, .group_id = m->env.group,
		};
		rc = celery_meta_build(out, &meta, err, sizeof err);
	}
	buf_free(&exc);
	return rc;
}

/* The exception's args as a JSON array: given, or [reason]. */
static void exc_args(struct buf *out, const struct finish_detail *d)
{
	if (d->exc_args_json) {
		buf_append_str(out, d->exc_args_json);
		return;
	}
	buf_append_char(out, '[');
	if (d->reason)
		json_write_str(out, d->reason, strlen(d->reason), JSON_W_ASCII);
	buf_append_char(out, ']');
}

static int build_meta(struct finish *f, const struct msg *m, const struct outcome *o,
		      const struct finish_detail *d, const char *args, const struct config *cfg)
{
	char err[200];

	switch (o->store) {
	case OUTCOME_STORE_NOTHING:
		return 0;
	case OUTCOME_STORE_RESULT: {
		if (m->env.ignore_result)
			return 0;
		struct buf value;
		buf_init(&value);
		buf_append(&value, d->result_json ? d->result_json : "null",
			   d->result_json ? d->result_len : 4);
		struct celery_meta meta = {
			.status = o->state, .result_json = value.data, .has_date_done = 1,
			.date_done = clock_wall(), .task_id = m->env.task_id,
			.parent_id = m->env.parent_id, .group_id = m->env.group,
		};
		int rc = value.failed ? -1 : celery_meta_build(&f->meta, &meta, err, sizeof err);
		buf_free(&value);
		if (rc < 0 && !f->meta.failed) {
			/* The value is not JSON: the caller's answer is broken. */
			buf_reset(&f->meta);
			rc = meta_exception(&f->meta, "FAILURE", m, "ValueError", "builtins",
					    "[\"task result is not valid JSON\"]", NULL, 1);
		}
		return rc;
	}
	case OUTCOME_STORE_TASK_EXCEPTION:
		if (o->move == OUTCOME_RETRY) {
			/* Celery's RETRY meta: no date_done, the traceback plus a
			 * line naming the countdown. */
			struct buf tb;
			buf_init(&tb);
			buf_printf(&tb, "%sRetry in %gs: %s(%s)\n", d->traceback ? d->traceback : "",
				   cfg->retry_countdown, d->exc_type, args);
			int rc = tb.failed ? -1 : meta_exception(&f->meta, o->state, m, d->exc_type,
								 d->exc_module, args, tb.data, 0);
			buf_free(&tb);
			return rc;
		}
		return meta_exception(&f->meta, o->state, m, d->exc_type, d->exc_module, args, d->traceback, 1);
	case OUTCOME_STORE_OWN_EXCEPTION:
		return meta_exception(&f->meta, o->state, m, o->exc_type, o->exc_module, args, NULL, 1);
	}
	return 0;
}

static int build_push(struct finish *f, const struct msg *m, const struct outcome *o,
		      const struct finish_detail *d)
{
	char err[200];

	switch (o->move) {
	case OUTCOME_ACK:
		return 0;
	case OUTCOME_REQUEUE_BACK:
	case OUTCOME_REQUEUE_FRONT:
		/* A recorded message goes back marked redelivered, as kombu's
		 * restore does; one that never left our in-flight list goes
		 * back byte for byte. */
		if (m->recorded) {
			int64_t n = o->count_delivery ? m->env.deliveries + 1 : -1;
			if (celery_requeue_rewrite(m->raw, m->raw_len, n, &f->push, err, sizeof err) < 0)
				return -1;
		} else {
			buf_append(&f->push, m->raw, m->raw_len);
		}
		kombu_priority_list(&f->target, m->queue ? m->queue : "", m->env.priority);
		break;
	case OUTCOME_RETRY:
		if (!d->retry_message)
			return -1;
		buf_append(&f->push, d->retry_message->data, d->retry_message->len);
		kombu_priority_list(&f->target, m->queue ? m->queue : "", m->env.priority);
		break;
	case OUTCOME_DEAD_LETTER:
		if (celery_deadletter_build(&f->push, d->reason ? d->reason : "", m->queue ? m->queue : "",
					    m->received_at, m->raw, m->raw_len) < 0)
			return -1;
		buf_append_str(&f->target, TRYON_DEAD_LIST);
		break;
	}
	return f->push.failed || f->target.failed ? -1 : 0;
}

/* -- reporting ------------------------------------------------------------- */

static void report(struct worker *w, const struct msg *m, const struct outcome *o,
		   const struct finish_detail *d, const char *args)
{
	const char *task = m->env.task ? m->env.task : "unknown";
	const char *id = m->env.task_id ? m->env.task_id : "-";
	const char *exc = o->store == OUTCOME_STORE_TASK_EXCEPTION ? d->exc_type : o->exc_type;

	if (o->metric != METRIC_COUNT)
		metrics_inc(w->metrics, o->metric, task,
			    o->metric == METRIC_TASKS_FAILED ? (o->metric_exc ? o->metric_exc : exc) : NULL, 1);
	if (o->metric == METRIC_TASKS_SUCCEEDED && d->runtime >= 0)
		metrics_observe(w->metrics, METRIC_TASK_RUNTIME, task, NULL, d->runtime);

	if (m->env.task_id) {
		struct celery_events_task ev = { .type = o->event, .uuid = m->env.task_id };
		switch (o->event) {
		case CELERY_EVENTS_TASK_SUCCEEDED:
			ev.result_repr = d->result_repr ? d->result_repr : "None";
			ev.runtime = d->runtime > 0 ? d->runtime : 0;
			events_task(w, &ev);
			break;
		case CELERY_EVENTS_TASK_FAILED:
		case CELERY_EVENTS_TASK_RETRIED:
			events_task_exc(w, o->event, m, exc, args, d->traceback);
			break;
		case CELERY_EVENTS_TASK_REVOKED:
			ev.expired = !strcmp(o->name, "expired");
			ev.terminated = !strcmp(o->name, "terminated");
			ev.signum = d->signum;
			events_task(w, &ev);
			break;
		case CELERY_EVENTS_TASK_REJECTED:
			ev.requeue = 1;
			events_task(w, &ev);
			break;
		default:
			break;
		}
	}

	if (o->finished) {
		w->processed++;
		const char *const *names = tasks_registered(w->cfg);
		for (int k = 0; w->task_totals && names[k]; k++)
			if (m->env.task && !strcmp(names[k], m->env.task))
				w->task_totals[k]++;
	}
	if (o->move == OUTCOME_DEAD_LETTER)
		worker_note_error(w, "dead letter", d->reason);

	if (!log_enabled(o->level))
		return;
	char extra[600];
	int n = 0;
	extra[0] = 0;
	if (d->exit_label)
		n += snprintf(extra + n, sizeof extra - (size_t)n, " exit=%s", d->exit_label);
	if (o->count_delivery)
		n += snprintf(extra + n, sizeof extra - (size_t)n, " deliveries=%lld",
			      (long long)m->env.deliveries + 1);
	if (o->move == OUTCOME_RETRY)
		n += snprintf(extra + n, sizeof extra - (size_t)n, " retries=%lld eta=%s",
			      (long long)m->env.retries + 1, d->retry_eta ? d->retry_eta : "-");
	if (exc && n < (int)sizeof extra)
		n += (int)log_format(extra + n, sizeof extra - (size_t)n, " exc=%s", exc);
	if (d->runtime >= 0 && n < (int)sizeof extra)
		n += snprintf(extra + n, sizeof extra - (size_t)n, " runtime=%.3f", d->runtime);
	if (d->path && n < (int)sizeof extra)
		n += (int)log_format(extra + n, sizeof extra - (size_t)n, " path=%s", d->path);
	if (d->reason && n < (int)sizeof extra) {
		char q[300];
		snprintf(extra + n, sizeof extra - (size_t)n, " reason=%s", log_quote(q, sizeof q, d->reason));
	}
	log_event(o->level, o->log_event, "task=%s id=%s%s outcome=%s queue=%s", task, id, extra, o->name,
		  m->queue ? m->queue : "-");
}

/* -- letting go ------------------------------------------------------------ */

static void slot_free(struct worker *w, int i)
{
	struct slot *s = &w->slots[i];
	s->msg = NULL;
	s->state = SLOT_FREE;
	w->busy--;
}

/* Out of memory (or an impossible move): keep nothing in memory; Redis
 * still has the message and gives it back. */
static void let_go(struct worker *w, struct msg *m, int slot, const char *why)
{
	log_error("message.let_go", "id=%s recorded=%d reason=\"%s\" note=\"it stays in Redis and is recovered\"",
		  m->env.task_id ? m->env.task_id : "-", m->recorded, why);
	worker_note_error(w, "let go", why);
	if (m->recorded)
		w->reconcile_wanted = 1;
	else
		w->recovered_once = 0;   /* in-flight recovery runs again */
	msg_free(m);
	if (slot >= 0) {
		finish_clear(&w->slots[slot].fin);
		slot_free(w, slot);
	}
}

static void finish_step(struct worker *w, struct finish *f);

void finish_end(struct worker *w, struct msg *m, int slot, const struct outcome *o,
		const struct finish_detail *d)
{
	struct finish *f = slot >= 0 ? &w->slots[slot].fin : malloc(sizeof *f);
	struct buf args;

	if (!f) {
		let_go(w, m, slot, "out of memory");
		return;
	}
	finish_init(f, slot);
	buf_init(&args);
	exc_args(&args, d);
	if (args.failed || build_meta(f, m, o, d, args.data, w->cfg) < 0 || f->meta.failed ||
	    build_push(f, m, o, d) < 0 || (!m->recorded && o->move == OUTCOME_ACK)) {
		const char *why = !m->recorded && o->move == OUTCOME_ACK ? "an unrecorded message cannot be acked"
									  : "out of memory";
		buf_free(&args);
		finish_clear(f);
		if (slot < 0)
			free(f);
		let_go(w, m, slot, why);
		return;
	}
	report(w, m, o, d, args.data);
	buf_free(&args);

	f->msg = m;
	f->owner = w;
	f->move = o->move;
	/* The result goes first on its own when it cannot ride in the settle
	 * script: results on another server, or a message we never recorded
	 * (the in-flight drop script does not store). */
	f->phase = f->meta.len && (!w->same_server || !m->recorded) ? FINISH_STORE : FINISH_SETTLE;
	if (slot >= 0) {
		w->slots[slot].state = SLOT_FINISHING;
	} else {
		f->next = w->pending;
		w->pending = f;
		w->n_pending++;
	}
	finish_step(w, f);
}

/* -- the Redis steps ------------------------------------------------------- */

static void step_failed(struct redis_conn *c, struct finish *f, const char *what,
			struct resp_value *r, const char *err)
{
	struct worker *w = f->owner;
	long suppressed = 0;
	double now = clock_mono();

	/* Tried again once the connection is back, or after a growing wait
	 * when Redis refused it (a wrong-typed list must not spin). */
	if (r && scripts_is_noscript(r))
		scripts_load(c);
	else if (r && r->type == RESP_ERROR)
		backoff_fail(&f->retry, now);
	if (!w || ratelimit_allow(&w->finish_log, now, &suppressed))
		log_warn(what, "id=%s reason=\"%s\" suppressed=%ld",
			 f->msg && f->msg->env.task_id ? f->msg->env.task_id : "-",
			 r && r->type == RESP_ERROR ? r->str : (err ? err : "connection lost"), suppressed);
}

static void on_store_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct finish *f = arg;
	f->busy = 0;
	if (!r || r->type == RESP_ERROR) {
		step_failed(c, f, "result.retry", r, err);
		return;
	}
	f->phase = FINISH_SETTLE;
}

static void on_settle_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct finish *f = arg;
	f->busy = 0;
	if (f->ordered) {
		f->ordered = 0;
		f->owner->n_ordered--;
	}
	if (!r || r->type == RESP_ERROR) {
		step_failed(c, f, "finish.retry", r, err);
		return;
	}
	/* FINISH answers {stored, held}: held 0 means the message was no
	 * longer ours (another node recovered it while we were cut off, or
	 * the reconcile requeued it), so nothing was acked or pushed; worth a
	 * line, since the task may now be running elsewhere. */
	long long held = 1, stored = 0;
	if (f->msg->recorded && r->type == RESP_ARRAY &&
	    resp_int(resp_elem(r, 1), &held) == 0 && held == 0) {
		resp_int(resp_elem(r, 0), &stored);
		log_info("finish.not_held", "id=%s stored=%lld note=\"no longer ours: nothing acked or pushed\"",
			 f->msg->env.task_id ? f->msg->env.task_id : "-", stored);
	}
	f->phase = FINISH_DONE;
	backoff_reset(&f->retry);
}

/* v in decimal into out (at least 16 bytes): the steps run per message,
 * and snprintf costs more than the rest of building their arguments. */
static void int_text(char *out, long v)
{
	char d[24];
	int k = 0;
	unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;

	do
		d[k++] = (char)('0' + u % 10);
	while ((u /= 10) && k < 20);
	if (v < 0)
		*out++ = '-';
	while (k > 0)
		*out++ = d[--k];
	*out = 0;
}

static void db_args(const struct worker *w, char rdb[16], char bdb[16])
{
	int_text(rdb, w->same_server && w->result_url.db != w->broker_url.db ? w->result_url.db : -1);
	int_text(bdb, w->broker_url.db);
}

static void step_store(struct worker *w, struct finish *f, const char *meta_key, const char *expires)
{
	struct redis_conn *rc = w->same_server ? w->cmd : w->results;
	char rdb[16], bdb[16];

	if (!redis_conn_is_ready(rc))
		return;
	db_args(w, rdb, bdb);
	if (w->same_server && strcmp(rdb, "-1")) {
		/* Same server, other DB: FINISH with action none stores across DBs. */
		const char *keys[] = { KOMBU_UNACKED, KOMBU_UNACKED_INDEX, w->held_key.data, meta_key, "" };
		const char *args[] = { "", f->meta.data, expires, rdb, bdb, "none", "" };
		if (scripts_call(rc, SCRIPT_FINISH, 5, keys, NULL, 7, args, NULL, on_store_reply, f) == 0)
			f->busy = 1;
		return;
	}
	const char *keys[] = { meta_key };
	const char *args[] = { f->meta.data, expires };
	if (scripts_call(rc, SCRIPT_STORE_RESULT, 1, keys, NULL, 2, args, NULL, on_store_reply, f) == 0)
		f->busy = 1;
}

/* The connection a settle step goes on: the consume conn when it can take
 * it at once (no BRPOPLPUSH blocking there, no WAIT after each step), so
 * that the next FETCH can follow it without waiting for its reply
 * (f->ordered, fetch.h); else the command conn. */
static struct redis_conn *settle_conn(const struct worker *w)
{
	const struct redis_url *u = redis_conn_parsed_url(w->consume);
	if (worker_settle_ahead(w) && worker_consume_free(w) && u && u->wait_replicas == 0)
		return w->consume;
	return redis_conn_is_ready(w->cmd) ? w->cmd : NULL;
}

/* Count a settle step queued on conn c (scripts_call returned rc). */
static void settle_sent(struct worker *w, struct finish *f, struct redis_conn *c, int rc)
{
	if (rc != 0)
		return;
	f->busy = 1;
	if (c == w->consume) {
		f->ordered = 1;
		w->n_ordered++;
	}
}

static void step_settle(struct worker *w, struct finish *f, const char *meta_key, const char *expires)
{
	const struct msg *m = f->msg;
	const char *action = outcome_move_action(f->move);
	struct redis_conn *c = settle_conn(w);

	if (!c)
		return;
	if (!m->recorded) {
		/* Never recorded: from our in-flight list to the target. */
		const char *keys[] = { w->inflight_key.data, f->target.data };
		size_t klens[] = { w->inflight_key.len, f->target.len };
		const char *args[] = { m->raw, f->push.data, action };
		size_t alens[] = { m->raw_len, f->push.len, strlen(action) };
		settle_sent(w, f, c, scripts_call(c, SCRIPT_DROP_INFLIGHT, 2, keys, klens, 3, args, alens,
						  on_settle_reply, f));
		return;
	}
	char rdb[16], bdb[16];
	int store_here = f->meta.len && w->same_server;
	const char *tag = m->env.delivery_tag ? m->env.delivery_tag : "";
	db_args(w, rdb, bdb);
	const char *keys[] = { KOMBU_UNACKED, KOMBU_UNACKED_INDEX, w->held_key.data, meta_key,
			       f->target.len ? f->target.data : "" };
	size_t klens[] = { strlen(KOMBU_UNACKED), strlen(KOMBU_UNACKED_INDEX), w->held_key.len,
			   strlen(meta_key), f->target.len };
	const char *args[] = { tag, store_here ? f->meta.data : "", expires, rdb, bdb, action,
			       f->push.len ? f->push.data : "" };
	size_t alens[] = { strlen(tag), store_here ? f->meta.len : 0, strlen(expires), strlen(rdb),
			   strlen(bdb), strlen(action), f->push.len };
	settle_sent(w, f, c, scripts_call(c, SCRIPT_FINISH, 5, keys, klens, 7, args, alens, on_settle_reply, f));
}

static void finish_step(struct worker *w, struct finish *f)
{
	char meta_key[300], expires[32];

	if (f->busy || f->phase == FINISH_DONE || !backoff_ready(&f->retry, clock_mono()))
		return;
	static const char prefix[] = "celery-task-meta-";
	const char *id = f->msg->env.task_id ? f->msg->env.task_id : "";
	size_t n = strlen(id);
	if (n > sizeof meta_key - sizeof prefix)
		n = sizeof meta_key - sizeof prefix;   /* as snprintf cut it */
	memcpy(meta_key, prefix, sizeof prefix - 1);
	memcpy(meta_key + sizeof prefix - 1, id, n);
	meta_key[sizeof prefix - 1 + n] = 0;
	int_text(expires, w->cfg->result_expires);
	if (f->phase == FINISH_STORE)
		step_store(w, f, meta_key, expires);
	else
		step_settle(w, f, meta_key, expires);
}

void finish_advance(struct worker *w)
{
	for (int i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (s->state != SLOT_FINISHING)
			continue;
		if (s->fin.phase == FINISH_DONE) {
			msg_free(s->fin.msg);
			finish_clear(&s->fin);
			slot_free(w, i);
		} else {
			finish_step(w, &s->fin);
		}
	}
	for (struct finish **p = &w->pending; *p;) {
		struct finish *f = *p;
		if (f->phase == FINISH_DONE) {
			*p = f->next;
			msg_free(f->msg);
			finish_clear(f);
			free(f);
			w->n_pending--;
		} else {
			finish_step(w, f);
			p = &f->next;
		}
	}
}

void finish_release_all(struct worker *w)
{
	for (int i = 0; w->slots && i < w->n_slots; i++) {
		if (w->slots[i].state == SLOT_FINISHING) {
			msg_free(w->slots[i].fin.msg);
			finish_clear(&w->slots[i].fin);
		}
	}
	while (w->pending) {
		struct finish *f = w->pending;
		w->pending = f->next;
		msg_free(f->msg);
		finish_clear(f);
		free(f);
	}
	w->n_pending = 0;
}
