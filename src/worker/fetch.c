/* fetch: FETCH / BRPOPLPUSH, RECORD, in-flight recovery. Messages over
 * TRYON_MAX_MESSAGE_BYTES are dead-lettered inside Redis (FETCH,
 * INFLIGHT_NEXT) and never read here; the consume connection skips an
 * oversized BRPOPLPUSH reply unread. A broker failure on this path backs
 * off (w->fetch_backoff) and puts back whatever it may have stranded in
 * the in-flight list; its log lines are rate-limited. */
#include "worker/fetch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/kombu.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "redis/scripts.h"
#include "worker/dispatch.h"
#include "worker/finish.h"

/* Broker failures: the first retry after 0.1 s, doubling to 10 s. */
#define FETCH_BACKOFF_MIN 0.1
#define FETCH_BACKOFF_MAX 10.0
/* At most this many warnings per window; the next says how many were not written. */
#define LOG_WINDOW 10.0
#define LOG_BURST 3
/* Bytes one FETCH may return, in units of the largest message (at least
 * one message always comes). */
#define FETCH_BUDGET_MESSAGES 2
/* FETCHes outstanding at once: a second goes out behind the finishes
 * queued while the first is out (their capacity is free for it), so a
 * freed slot need not wait for the first FETCH's round trip; more would
 * split the batches a busy worker takes in one script. */
#define FETCH_MAX_OUTSTANDING 2

/* One FETCH outstanding: what it asked for is in hand until it answers. */
struct fetch_call {
	struct worker *w;
	int asked;
};

/* A warning through a rate limit; fields as for log_event. */
static void limited_warn(struct ratelimit *rl, const char *event, const char *fields, ...)
	__attribute__((format(printf, 3, 4)));

static void limited_warn(struct ratelimit *rl, const char *event, const char *fields, ...)
{
	char text[700];
	long suppressed = 0;
	va_list ap;

	if (!ratelimit_allow(rl, clock_mono(), &suppressed))
		return;
	va_start(ap, fields);
	vsnprintf(text, sizeof text, fields, ap);
	va_end(ap);
	if (suppressed)
		log_warn(event, "%s suppressed=%ld", text, suppressed);
	else
		log_warn(event, "%s", text);
}

/* The consume path failed in a way that may have left messages in our
 * in-flight list (a wrong reply, an error): wait, then put them back
 * before taking anything new. */
static void consume_failed(struct worker *w, const char *what, const char *why)
{
	char q[300], event[64];
	double wait = backoff_fail(&w->fetch_backoff, clock_mono());

	w->recovered_once = 0;
	w->recover_left = 0;
	snprintf(event, sizeof event, "broker.%s_failed", what);
	limited_warn(&w->fetch_log, event, "reason=%s failures=%d retry_in=%.1f",
		     log_quote(q, sizeof q, why), w->fetch_backoff.failures, wait);
	worker_note_error(w, what, why);
}

/* Why reply r is not what step wanted, for consume_failed. */
static const char *reply_why(const struct resp_value *r, char *buf, size_t n)
{
	if (r && r->type == RESP_ERROR)
		snprintf(buf, n, "%.200s", r->str);
	else
		snprintf(buf, n, "unexpected %s reply", r ? resp_type_name(r->type) : "missing");
	return buf;
}

static void log_too_big(struct worker *w, const char *queue, long long size, const char *sha1, const char *from)
{
	char q[300], why[160];

	limited_warn(&w->dead_log, "broker.message_too_big", "queue=%s size=%lld max=%d sha1=%s from=%s action=dead_letter",
		     log_quote(q, sizeof q, queue ? queue : ""), size, w->cfg->max_message_bytes,
		     sha1 ? sha1 : "-", from);
	snprintf(why, sizeof why, "message of %lld bytes over TRYON_MAX_MESSAGE_BYTES (%d)", size,
		 w->cfg->max_message_bytes);
	worker_note_error(w, "dead letter", why);
}

/* A message we cannot run: dead-lettered with the reason (FAILURE stored
 * when its id is readable). Ownership passes. */
static void bad_message(struct worker *w, struct msg *m, const char *reason)
{
	struct outcome_facts facts = {
		.cause = OUTCOME_CAUSE_BAD_MESSAGE, .id_known = m->env.task_id != NULL,
		.content_refused = m->env.content_type && strcmp(m->env.content_type, "application/json"),
	};
	struct outcome o;
	struct finish_detail d = { .reason = reason, .runtime = -1 };

	outcome_decide(&facts, &o);
	finish_end(w, m, -1, &o, &d);
}

struct fetch_batch {
	struct worker *w;
	int n;
	struct msg **msgs;
};

static void batch_free(struct fetch_batch *b)
{
	for (int i = 0; i < b->n; i++)
		msg_free(b->msgs[i]);
	free(b->msgs);
	free(b);
}

static void on_record_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct fetch_batch *b = arg;
	struct worker *w = b->w;
	char why[240];

	w->n_unrecorded -= b->n;
	w->refill_after_record = 0;
	int ok = r && r->type == RESP_ARRAY && (int)r->n_elems == b->n;
	for (int i = 0; ok && i < b->n; i++)
		ok = r->elems[i]->type == RESP_INTEGER;
	if (!ok) {
		/* They stay in our in-flight list (RECORD checks types before
		 * it moves anything), or, if RECORD ran and only its reply was
		 * lost, in unacked and our held set: in-flight recovery and the
		 * maintenance reconcile give them back either way. */
		if (r && scripts_is_noscript(r))
			scripts_load(c);
		consume_failed(w, "record", r ? reply_why(r, why, sizeof why) : (err ? err : "connection lost"));
		batch_free(b);
		w->reconcile_wanted = 1;
		return;
	}
	for (int i = 0; i < b->n; i++) {
		struct msg *m = b->msgs[i];
		b->msgs[i] = NULL;
		if (r->elems[i]->integer == 1) {
			m->recorded = 1;
			dispatch_message(w, m);
		} else {
			log_warn("broker.message_taken", "id=%s reason=\"recovered by another node\"", m->env.task_id);
			msg_free(m);
		}
	}
	batch_free(b);
	/* Hits answered just now queued their settle steps on this conn: the
	 * FETCH for their capacity goes in the same write. */
	fetch_messages(w);
}

/* Parse fetched messages (pairs of list and message, bulks: the caller
 * checked); record the good ones, dead-letter the rest. */
static void take_messages(struct worker *w, struct resp_value **pairs, int npairs)
{
	struct fetch_batch *b = calloc(1, sizeof *b);
	struct buf *vals = calloc((size_t)npairs, sizeof *vals);
	if (!b || !vals || !(b->msgs = calloc((size_t)npairs, sizeof *b->msgs))) {
		free(b ? b->msgs : NULL);
		free(b);
		free(vals);
		w->recovered_once = 0;   /* still in the in-flight list: recovered */
		return;
	}
	b->w = w;
	double now = clock_wall();
	for (int i = 0; i < npairs; i++) {
		struct resp_value *list = pairs[2 * i], *msgv = pairs[2 * i + 1];
		struct msg *m = calloc(1, sizeof *m);
		char qname[256], err[256] = "";
		if (!m) {
			w->recovered_once = 0;
			continue;
		}
		kombu_queue_of_list(list->str, list->len, qname, sizeof qname);
		m->queue = strdup(qname);
		m->raw = msgv->str;
		m->raw_len = msgv->len;
		msgv->str = NULL;   /* taken */
		m->received_at = now;
		if (celery_envelope_parse(m->raw, m->raw_len, (size_t)w->cfg->max_message_bytes, &m->env,
					  err, sizeof err) < 0) {
			bad_message(w, m, err);
			continue;
		}
		if (!m->env.delivery_tag || !m->env.task || !m->env.task_id) {
			bad_message(w, m, "message has no delivery_tag, task name or task id");
			continue;
		}
		buf_init(&vals[b->n]);
		kombu_unacked_tail(&vals[b->n], m->env.exchange, m->env.routing_key);
		b->msgs[b->n++] = m;
		dispatch_prelookup(w, m);
		/* Fairness: the queue that delivered goes to the end of the cycle. */
		for (int q = 0; q < w->n_queues; q++)
			if (!strcmp(w->queues[q], qname))
				w->queue_first = (q + 1) % w->n_queues;
	}
	int nargs = 1 + 3 * b->n;
	const char **args = b->n ? calloc((size_t)nargs, sizeof *args) : NULL;
	size_t *lens = b->n ? calloc((size_t)nargs, sizeof *lens) : NULL;
	if (!args || !lens) {
		if (b->n)
			w->recovered_once = 0;
		batch_free(b);
	} else {
		char now_s[32];
		snprintf(now_s, sizeof now_s, "%.6f", now);
		args[0] = now_s, lens[0] = strlen(now_s);
		for (int i = 0; i < b->n; i++) {
			args[1 + 3 * i] = b->msgs[i]->raw, lens[1 + 3 * i] = b->msgs[i]->raw_len;
			args[2 + 3 * i] = b->msgs[i]->env.delivery_tag, lens[2 + 3 * i] = strlen(b->msgs[i]->env.delivery_tag);
			args[3 + 3 * i] = vals[i].data, lens[3 + 3 * i] = vals[i].len;
		}
		const char *keys[] = { w->inflight_key.data, KOMBU_UNACKED, KOMBU_UNACKED_INDEX, w->held_key.data };
		int n = b->n;
		w->n_unrecorded += n;
		if (scripts_call(w->consume, SCRIPT_RECORD, 4, keys, NULL, nargs, args, lens, on_record_reply, b) < 0) {
			w->n_unrecorded -= n;
			batch_free(b);
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
	char why[240];
	(void)c;
	(void)err;
	w->fetching--;
	w->blocking = 0;
	if (!r)
		return;   /* the connection failed: its reconnect runs recovery */
	if (r->type == RESP_NIL || r->type == RESP_NIL_ARRAY) {
		backoff_reset(&w->fetch_backoff);
		return;   /* nothing came within the block time */
	}
	if (r->type == RESP_OVERSIZED) {
		/* Moved into our in-flight list but too big to take: the reader
		 * skipped it unread; recovery dead-letters it inside Redis. */
		w->recovered_once = 0;
		return;
	}
	if (r->type != RESP_BULK) {
		/* An error or another type: BRPOPLPUSH may still have moved a
		 * message into our in-flight list; recovery puts it back. */
		consume_failed(w, "brpoplpush", reply_why(r, why, sizeof why));
		return;
	}
	backoff_reset(&w->fetch_backoff);
	if (w->block_gen != w->queues_gen) {
		/* The queues changed while it blocked (cancel_consumer must not
		 * take a message sent after its reply): it goes back to the
		 * front of its queue, unrun, through in-flight recovery. */
		w->recovered_once = 0;
		return;
	}
	/* BRPOPLPUSH popped from the head list. */
	struct buf head;
	buf_init(&head);
	kombu_consume_order(&head, (const char *const *)w->queues, w->n_queues, w->queue_first);
	struct resp_value list = { .type = RESP_BULK, .str = head.data, .len = head.data ? strlen(head.data) : 0 };
	struct resp_value *pair[2] = { &list, r };
	int unrecorded = w->n_unrecorded;
	take_messages(w, pair, 1);
	/* The queue was empty a moment ago: a FETCH now would most likely
	 * come back empty, and would go ahead of this message's RECORD reply
	 * and settle step; it goes once on_record_reply has run. */
	w->refill_after_record = w->n_unrecorded > unrecorded;
	buf_free(&head);
}

int fetch_free_slots(const struct worker *w)
{
	return fetch_capacity(w) + w->n_asked;
}

int fetch_capacity(const struct worker *w)
{
	return w->concurrency - w->busy - w->n_ready - w->n_pending - w->n_unrecorded - w->n_lookups -
	       w->n_asked + w->n_ordered;
}

/* 1 if every element of array v is a bulk string. */
static int all_bulk(const struct resp_value *v)
{
	for (size_t i = 0; i < v->n_elems; i++)
		if (v->elems[i]->type != RESP_BULK)
			return 0;
	return 1;
}

/* FETCH's reply: {taken {list, msg, ...}, refused {key, type, ...}, dead
 * {queue, size, sha1, ...}}. Anything else is a failure. */
static int fetch_reply_ok(const struct resp_value *r)
{
	const struct resp_value *taken = resp_elem(r, 0), *refused = resp_elem(r, 1), *dead = resp_elem(r, 2);

	if (r->n_elems != 3 || !taken || taken->type != RESP_ARRAY || taken->n_elems % 2 ||
	    !all_bulk(taken) || !refused || refused->type != RESP_ARRAY || refused->n_elems % 2 ||
	    !all_bulk(refused) || !dead || dead->type != RESP_ARRAY || dead->n_elems % 3)
		return 0;
	for (size_t i = 0; i < dead->n_elems; i += 3) {
		long long size;
		if (!resp_str(dead->elems[i], NULL) || resp_int(dead->elems[i + 1], &size) < 0 ||
		    !resp_cstr(dead->elems[i + 2]))
			return 0;
	}
	return 1;
}

static void on_fetch_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct fetch_call *call = arg;
	struct worker *w = call->w;
	char why[240];
	(void)err;
	w->fetching--;
	w->n_asked -= call->asked;
	free(call);
	if (!r)
		return;   /* the connection failed: its reconnect runs recovery */
	if (r->type != RESP_ARRAY || !fetch_reply_ok(r)) {
		if (scripts_is_noscript(r))
			scripts_load(c);
		consume_failed(w, "fetch", reply_why(r, why, sizeof why));
		return;
	}
	backoff_reset(&w->fetch_backoff);
	struct resp_value *taken = r->elems[0], *refused = r->elems[1], *dead = r->elems[2];
	struct buf order;
	buf_init(&order);
	kombu_consume_order(&order, (const char *const *)w->queues, w->n_queues, w->queue_first);
	int head_refused = 0;
	for (size_t i = 0; i < refused->n_elems; i += 2) {
		if (order.data && refused->elems[i]->len == strlen(order.data) &&
		    !memcmp(refused->elems[i]->str, order.data, refused->elems[i]->len))
			head_refused = 1;
		char k[300], t[64], q[300];
		snprintf(k, sizeof k, "%.*s", (int)(refused->elems[i]->len > 200 ? 200 : refused->elems[i]->len),
			 refused->elems[i]->str);
		snprintf(t, sizeof t, "%.*s", (int)(refused->elems[i + 1]->len > 32 ? 32 : refused->elems[i + 1]->len),
			 refused->elems[i + 1]->str);
		limited_warn(&w->fetch_log, "broker.wrong_type", "key=%s type=%s action=skipped",
			     log_quote(q, sizeof q, k), t);
		worker_note_error(w, "fetch", "a queue or dead-letter key holds another type than a list");
	}
	for (size_t i = 0; i < dead->n_elems; i += 3) {
		char qn[256];
		long long size = 0;
		resp_int(dead->elems[i + 1], &size);
		snprintf(qn, sizeof qn, "%.*s", (int)(dead->elems[i]->len > 200 ? 200 : dead->elems[i]->len),
			 dead->elems[i]->str);
		log_too_big(w, qn, size, resp_cstr(dead->elems[i + 2]), "queue");
	}
	if (taken->n_elems >= 2) {
		take_messages(w, taken->elems, (int)(taken->n_elems / 2));
	} else if (fetch_capacity(w) <= 0 || w->draining || w->fetching) {
		/* Nothing to wait for, or the other FETCH's reply decides. */
	} else if (head_refused) {
		/* The list BRPOPLPUSH would block on is not a list: wait as
		 * long without it (the others are still served each round). */
		backoff_hold(&w->fetch_backoff, clock_mono() + atof(IDLE_BLOCK_SECONDS));
	} else {
		/* Nothing waiting: block briefly on the first list, moving
		 * atomically into our in-flight list, so an idle worker reacts
		 * at once. */
		const char *argv[] = { "BRPOPLPUSH", order.data, w->inflight_key.data, IDLE_BLOCK_SECONDS };
		if (order.data && redis_conn_command(c, on_block_reply, w, 1.0, 4, argv, NULL) == 0) {
			w->fetching++;
			w->blocking = 1;
			w->block_gen = w->queues_gen;
		}
	}
	buf_free(&order);
}

void fetch_messages(struct worker *w)
{
	int cap = fetch_capacity(w);
	/* Half the slots at most per FETCH: the pool runs as two groups, and
	 * the worker handles one group's replies while Redis runs the other's
	 * commands (the consume conn sends per reply, loop.c); one FETCH for
	 * all the slots kept both sides waiting on each other in turn. */
	if (worker_fetch_halves(w) && cap > (w->concurrency + 1) / 2)
		cap = (w->concurrency + 1) / 2;
	if (w->blocking || w->refill_after_record ||
	    w->fetching >= (worker_settle_ahead(w) ? FETCH_MAX_OUTSTANDING : 1) ||
	    w->draining || w->recovering ||
	    !w->recovered_once || cap <= 0 ||
	    !redis_conn_is_ready(w->consume) || !backoff_ready(&w->fetch_backoff, clock_mono()))
		return;
	struct buf order;
	buf_init(&order);
	int n = kombu_consume_order(&order, (const char *const *)w->queues, w->n_queues, w->queue_first);
	int nkeys = n + 2, nargs = 4 + n;
	const char **keys = calloc((size_t)nkeys, sizeof *keys);
	const char **args = calloc((size_t)nargs, sizeof *args);
	char (*qnames)[256] = n > 0 ? calloc((size_t)n, sizeof *qnames) : NULL;
	char count[16], max[24], budget[32], now[32];
	struct fetch_call *call = malloc(sizeof *call);
	if (call && keys && args && qnames && order.data) {
		const char *p = order.data;
		for (int i = 0; i < n; i++) {
			keys[i] = p;
			kombu_queue_of_list(p, strlen(p), qnames[i], sizeof qnames[i]);
			args[4 + i] = qnames[i];
			p += strlen(p) + 1;
		}
		keys[n] = w->inflight_key.data;
		keys[n + 1] = TRYON_DEAD_LIST;
		snprintf(count, sizeof count, "%d", cap);
		snprintf(max, sizeof max, "%d", w->cfg->max_message_bytes);
		snprintf(budget, sizeof budget, "%lld", (long long)w->cfg->max_message_bytes * FETCH_BUDGET_MESSAGES);
		snprintf(now, sizeof now, "%.6f", clock_wall());
		args[0] = count, args[1] = max, args[2] = budget, args[3] = now;
		*call = (struct fetch_call){ .w = w, .asked = cap };
		if (scripts_call(w->consume, SCRIPT_FETCH, nkeys, keys, NULL, nargs, args, NULL, on_fetch_reply,
				 call) == 0) {
			w->fetching++;
			w->n_asked += cap;
			call = NULL;   /* the reply's */
		}
	}
	free(call);
	free(keys);
	free(args);
	free(qnames);
	buf_free(&order);
}

/* -- in-flight recovery ----------------------------------------------------
 * Messages left in our in-flight list (taken from a queue, never recorded:
 * a crash, a dropped connection or a failed RECORD in between) go back to
 * the front of their queue, unchanged: they never ran. The list is walked
 * one element per INFLIGHT_NEXT, LLEN times, so no reply holds more than
 * one message, and one too big is dead-lettered inside Redis. */

static void recover_step(struct worker *w);

static void recover_done(struct worker *w)
{
	w->recovering = 0;
	w->recover_left = 0;
	w->recovered_once = 1;
}

/* One in-flight message in hand (ownership of raw passes). */
static void recover_message(struct worker *w, char *raw, size_t len)
{
	struct msg *m = calloc(1, sizeof *m);
	char e[256];

	if (!m) {
		free(raw);
		return;   /* still in the in-flight list: the next recovery */
	}
	m->raw = raw;
	m->raw_len = len;
	m->received_at = clock_wall();
	if (celery_envelope_parse(m->raw, m->raw_len, (size_t)w->cfg->max_message_bytes, &m->env, e, sizeof e) < 0 ||
	    !m->env.routing_key) {
		m->queue = strdup(m->env.routing_key ? m->env.routing_key : "");
		bad_message(w, m, m->env.routing_key ? e : "message has no routing key");
		return;
	}
	m->queue = strdup(m->env.routing_key);
	struct outcome_facts facts = { .cause = OUTCOME_CAUSE_INFLIGHT_FOUND };
	struct outcome o;
	struct finish_detail d = { .runtime = -1 };
	outcome_decide(&facts, &o);
	finish_end(w, m, -1, &o, &d);
}

static void on_inflight_next(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct worker *w = arg;
	long long kind = -1, size = 0;
	char why[240], queue[256];
	(void)err;

	if (!r) {
		w->recovering = 0;   /* the reconnect starts it again */
		return;
	}
	if (r->type == RESP_ARRAY && r->n_elems == 0) {
		recover_done(w);   /* the list is empty */
		return;
	}
	/* {1, msg}, or {0, size, queue, sha1} for one dead-lettered. */
	if (r->type != RESP_ARRAY || resp_int(resp_elem(r, 0), &kind) < 0 ||
	    (kind == 1 && (r->n_elems != 2 || r->elems[1]->type != RESP_BULK)) ||
	    (kind == 0 && (r->n_elems != 4 || resp_int(r->elems[1], &size) < 0 || !resp_str(r->elems[2], NULL) ||
			   !resp_cstr(r->elems[3]))) ||
	    (kind != 0 && kind != 1)) {
		if (scripts_is_noscript(r))
			scripts_load(c);
		w->recovering = 0;
		consume_failed(w, "inflight_recovery", reply_why(r, why, sizeof why));
		return;
	}
	if (kind == 1) {
		struct resp_value *v = r->elems[1];
		char *raw = v->str;
		v->str = NULL;   /* taken */
		recover_message(w, raw, v->len);
	} else {
		snprintf(queue, sizeof queue, "%.*s", (int)(r->elems[2]->len > 200 ? 200 : r->elems[2]->len),
			 r->elems[2]->str);
		log_too_big(w, queue, size, r->elems[3]->str, "inflight");
	}
	if (--w->recover_left > 0 && redis_conn_is_ready(w->consume))
		recover_step(w);
	else if (w->recover_left <= 0)
		recover_done(w);
	else
		w->recovering = 0;
}

static void recover_step(struct worker *w)
{
	char max[24], now[32];
	const char *keys[] = { w->inflight_key.data, TRYON_DEAD_LIST };
	snprintf(max, sizeof max, "%d", w->cfg->max_message_bytes);
	snprintf(now, sizeof now, "%.6f", clock_wall());
	const char *args[] = { max, now };
	if (scripts_call(w->consume, SCRIPT_INFLIGHT_NEXT, 2, keys, NULL, 2, args, NULL, on_inflight_next, w) < 0)
		w->recovering = 0;
}

static void on_inflight_len(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct worker *w = arg;
	long long n = -1;
	char why[240];
	(void)c;
	(void)err;

	if (!r) {
		w->recovering = 0;
		return;
	}
	if (resp_int(r, &n) < 0 || n < 0 || r->type != RESP_INTEGER) {
		w->recovering = 0;
		consume_failed(w, "inflight_recovery", reply_why(r, why, sizeof why));
		return;
	}
	if (n == 0) {
		recover_done(w);
		return;
	}
	w->recover_left = n > 1000000 ? 1000000 : (int)n;
	recover_step(w);
}

void fetch_recover_inflight(struct worker *w)
{
	if (w->recovering || w->fetching || w->n_unrecorded || !redis_conn_is_ready(w->consume) ||
	    !backoff_ready(&w->fetch_backoff, clock_mono()))
		return;
	const char *argv[] = { "LLEN", w->inflight_key.data };
	if (redis_conn_command(w->consume, on_inflight_len, w, 0, 2, argv, NULL) == 0)
		w->recovering = 1;
}

void fetch_on_consume_ready(struct redis_conn *c, void *arg)
{
	struct worker *w = arg;
	if (w->fetch_backoff.min <= 0) {
		backoff_init(&w->fetch_backoff, FETCH_BACKOFF_MIN, FETCH_BACKOFF_MAX);
		ratelimit_init(&w->fetch_log, LOG_WINDOW, LOG_BURST);
		ratelimit_init(&w->dead_log, LOG_WINDOW, LOG_BURST);
	}
	/* A reply too big for a message (BRPOPLPUSH of one over the limit)
	 * is skipped unread instead of breaking the connection. */
	struct resp_limits lim = RESP_DEFAULT_LIMITS;
	lim.max_bulk = (size_t)w->cfg->max_message_bytes;
	lim.skip_oversized = 1;
	if (redis_conn_set_limits(c, &lim) < 0)
		log_warn("broker.limits_not_set", "reason=\"a reply was partly read\"");
	scripts_load(c);
	/* Declare our queues the way kombu does. */
	for (int i = 0; i < w->n_queues; i++) {
		struct buf k, m;
		buf_init(&k), buf_init(&m);
		kombu_binding(&k, &m, w->queues[i]);
		const char *argv[] = { "SADD", k.data, m.data };
		size_t lens[] = { 4, k.len, m.len };
		redis_conn_command(c, NULL, NULL, 0, 3, argv, lens);
		buf_free(&k), buf_free(&m);
	}
	const char *argv[] = { "SADD", TRYON_NODES_SET, w->cfg->hostname };
	redis_conn_command(c, NULL, NULL, 0, 3, argv, NULL);
	/* fetching, blocking, n_asked and n_ordered came back to 0 when the
	 * old connection failed its pending commands. */
	w->recovering = 0;
	w->recover_left = 0;
	w->recovered_once = 0;
	w->n_parked = -1;   /* parked before this connection: look again */
}
