/* fetch: FETCH / BRPOPLPUSH, RECORD, in-flight recovery. */
#include "worker/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/kombu.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "redis/scripts.h"
#include "worker/dispatch.h"
#include "worker/finish.h"

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

	w->n_unrecorded -= b->n;
	if (!r || r->type != RESP_ARRAY || (int)r->n_elems != b->n) {
		/* They stay in our in-flight list (or, if RECORD ran and only its
		 * reply was lost, in unacked: the maintenance reconcile returns
		 * them); recovery puts them back once the connection is back. */
		log_warn("broker.record_failed", "messages=%d reason=\"%s\"", b->n,
			 r && r->type == RESP_ERROR ? r->str : (err ? err : "unexpected reply"));
		if (r && scripts_is_noscript(r))
			scripts_load(c);
		batch_free(b);
		w->recovered_once = 0;
		w->reconcile_wanted = 1;
		return;
	}
	for (int i = 0; i < b->n; i++) {
		struct msg *m = b->msgs[i];
		b->msgs[i] = NULL;
		if (r->elems[i]->type == RESP_INTEGER && r->elems[i]->integer == 1) {
			m->recorded = 1;
			dispatch_message(w, m);
		} else {
			log_warn("broker.message_taken", "id=%s reason=\"recovered by another node\"", m->env.task_id);
			msg_free(m);
		}
	}
	batch_free(b);
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
		kombu_unacked_value(&vals[b->n], m->raw, m->raw_len, m->env.exchange, m->env.routing_key);
		b->msgs[b->n++] = m;
		/* Fairness: the queue that delivered goes to the end of the cycle. */
		for (int q = 0; q < w->cfg->n_queues; q++)
			if (!strcmp(w->cfg->queues[q], qname))
				w->queue_first = (q + 1) % w->cfg->n_queues;
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
	(void)c;
	(void)err;
	w->fetching = 0;
	if (r && r->type == RESP_BULK) {
		/* BRPOPLPUSH popped from the head list. */
		struct buf head;
		buf_init(&head);
		kombu_consume_order(&head, (const char *const *)w->cfg->queues, w->cfg->n_queues, w->queue_first);
		struct resp_value list = { .type = RESP_BULK, .str = head.data, .len = head.data ? strlen(head.data) : 0 };
		struct resp_value *pair[2] = { &list, r };
		take_messages(w, pair, 1);
		buf_free(&head);
	}
}

int fetch_capacity(const struct worker *w)
{
	return w->n_slots - w->busy - w->n_ready - w->n_pending - w->n_unrecorded - w->n_lookups;
}

static void on_fetch_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct worker *w = arg;
	(void)err;
	w->fetching = 0;
	if (!r || r->type != RESP_ARRAY) {
		if (r && scripts_is_noscript(r))
			scripts_load(c);
		if (r) {
			log_warn("broker.fetch_failed", "reason=\"%s\"", r->type == RESP_ERROR ? r->str : "bad reply");
			worker_note_error(w, "fetch", r->type == RESP_ERROR ? r->str : "bad reply");
		}
		return;
	}
	if (r->n_elems >= 2) {
		take_messages(w, r->elems, (int)(r->n_elems / 2));
		return;
	}
	/* Nothing waiting: block briefly on the first list, moving atomically
	 * into our in-flight list, so an idle worker reacts at once. */
	if (fetch_capacity(w) <= 0 || w->draining)
		return;
	struct buf order;
	buf_init(&order);
	kombu_consume_order(&order, (const char *const *)w->cfg->queues, w->cfg->n_queues, w->queue_first);
	const char *argv[] = { "BRPOPLPUSH", order.data, w->inflight_key.data, IDLE_BLOCK_SECONDS };
	if (order.data && redis_conn_command(c, on_block_reply, w, 1.0, 4, argv, NULL) == 0)
		w->fetching = 1;
	buf_free(&order);
}

void fetch_messages(struct worker *w)
{
	int cap = fetch_capacity(w);
	if (w->fetching || w->draining || w->recovering || !w->recovered_once || cap <= 0 ||
	    w->n_eta >= MAX_HELD_ETA || !redis_conn_is_ready(w->consume))
		return;
	struct buf order;
	buf_init(&order);
	int n = kombu_consume_order(&order, (const char *const *)w->cfg->queues, w->cfg->n_queues, w->queue_first);
	const char **keys = calloc((size_t)n + 1, sizeof *keys);
	char count[16];
	if (keys && n > 0 && order.data) {
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

/* Messages left in our in-flight list (taken from a queue, never recorded:
 * a crash or a dropped connection in between) go back to the front of their
 * queue, unchanged: they never ran. */
static void on_inflight_list(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct worker *w = arg;
	(void)c;
	(void)err;
	w->recovering = 0;
	if (!r || r->type != RESP_ARRAY)
		return;
	for (size_t i = 0; i < r->n_elems; i++) {
		struct resp_value *v = r->elems[i];
		struct msg *m = v->type == RESP_BULK ? calloc(1, sizeof *m) : NULL;
		char e[256];
		if (!m)
			continue;
		m->raw = v->str;
		m->raw_len = v->len;
		v->str = NULL;
		m->received_at = clock_wall();
		if (celery_envelope_parse(m->raw, m->raw_len, (size_t)w->cfg->max_message_bytes, &m->env, e, sizeof e) < 0 ||
		    !m->env.routing_key) {
			m->queue = strdup(m->env.routing_key ? m->env.routing_key : "");
			bad_message(w, m, m->env.routing_key ? e : "message has no routing key");
			continue;
		}
		m->queue = strdup(m->env.routing_key);
		struct outcome_facts facts = { .cause = OUTCOME_CAUSE_INFLIGHT_FOUND };
		struct outcome o;
		struct finish_detail d = { .runtime = -1 };
		outcome_decide(&facts, &o);
		finish_end(w, m, -1, &o, &d);
	}
	w->recovered_once = 1;
}

void fetch_recover_inflight(struct worker *w)
{
	if (w->recovering || w->fetching || w->n_unrecorded || !redis_conn_is_ready(w->consume))
		return;
	const char *argv[] = { "LRANGE", w->inflight_key.data, "0", "-1" };
	if (redis_conn_command(w->consume, on_inflight_list, w, 0, 4, argv, NULL) == 0)
		w->recovering = 1;
}

void fetch_on_consume_ready(struct redis_conn *c, void *arg)
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
