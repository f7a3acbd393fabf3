/* dispatch: early ends, ETA (held, or parked in Redis past the cap), the
 * parent's cache-hit path, ready list. */
#include "worker/dispatch.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_events.h"
#include "celery/kombu.h"
#include "lib/clock.h"
#include "lib/json.h"
#include "lib/log.h"
#include "redis/scripts.h"
#include "tryon/cachekey.h"
#include "tryon/ledger.h"
#include "tryon/tryon_args.h"
#include "tryon/tryon_keys.h"
#include "worker/events.h"
#include "worker/finish.h"
#include "worker/jobs.h"
#include "worker/tasks.h"

void dispatch_end_early(struct worker *w, struct msg *m, enum outcome_cause cause, const char *reason)
{
	struct outcome_facts facts = { .cause = cause };
	struct outcome o;
	struct finish_detail d = { .reason = reason, .runtime = -1 };

	outcome_decide(&facts, &o);
	finish_end(w, m, -1, &o, &d);
}

/* The parent answers a try-on itself (cache hit, refused arguments): the
 * task starts and ends here, counted like one a child ran. */
static void count_parent_start(struct worker *w, struct msg *m)
{
	metrics_inc(w->metrics, METRIC_TASKS_STARTED, m->env.task, NULL, 1);
	w->started_count++;
	events_task_simple(w, CELERY_EVENTS_TASK_STARTED, m);
}

/* -- the cache-hit fast path -------------------------------------------- */

/* A try-on whose result is cached needs no model call, so it needs no child
 * either: the parent looks the pair up on its own cache connection and, on a
 * hit, stores the result and acks at once. A fork and a fresh Redis
 * connection per cache hit cost more than the hit itself (docs/BENCHMARKS.md).
 * A miss, a cache error or garbage takes the ordinary path through a child,
 * which looks again and reports cache errors. The GET goes out when the
 * message is parsed, beside its RECORD (dispatch_prelookup): its round trip
 * overlaps RECORD's instead of following it, and its answer is used only
 * once the message is recorded (struct lookup, worker/state.h). */

/* The single-flight lock and wake keys of a try-on that will run in a
 * child (the job and jobs_release_lock use them): set only once it is
 * known not to be a cache hit, which never needs them. */
static void note_run_keys(struct msg *m, const struct tryon_args *args)
{
	char key[CACHEKEY_KEY_SIZE], lock[CACHEKEY_LOCK_SIZE];

	tryon_keys_compute(args, key, lock);
	snprintf(m->lock_key, sizeof m->lock_key, "%s", lock);
	ledger_key(m->wake_key, LEDGER_WAKE_PREFIX, key);
}

/* A recorded, admitted message's lookup is answered: url is a validated
 * cached result (a hit: ended here) or NULL (it waits for a slot). Takes m
 * and frees l. */
static void lookup_conclude(struct worker *w, struct msg *m, struct lookup *l, const char *url, size_t url_len)
{
	double runtime = clock_mono() - l->started;

	if (w->draining || !url) {
		note_run_keys(m, &l->args);
		lookup_free(l);
		if (w->draining)
			dispatch_end_early(w, m, OUTCOME_CAUSE_NOT_STARTED, NULL);
		else
			msgs_ready_push(w, m);
		return;
	}
	struct buf value, repr;
	buf_init(&value);
	buf_init(&repr);
	json_write_str(&value, url, url_len, JSON_W_ASCII);
	/* Python's repr of the URL: validated URLs hold no quote or backslash. */
	buf_append_char(&repr, '\'');
	buf_append(&repr, url, url_len);
	buf_append_char(&repr, '\'');
	count_parent_start(w, m);
	tryon_state_parent_answer(&w->tryon, TRYON_PARENT_CACHE_HIT);
	struct outcome_facts facts = { .cause = OUTCOME_CAUSE_CACHE_HIT };
	struct outcome o;
	struct finish_detail d = { .result_json = value.data, .result_len = value.len,
				   .result_repr = repr.data, .runtime = runtime, .path = "cache" };
	outcome_decide(&facts, &o);
	recent_note(&w->recent, &(struct recent_end){ .env = &m->env, .args = &l->args, .at = clock_wall(),
		    .outcome = o.name, .path = "cache", .runtime = runtime, .result_url = url,
		    .result_url_len = url_len });
	finish_end(w, m, -1, &o, &d);
	buf_free(&value);
	buf_free(&repr);
	lookup_free(l);
}

/* The cached value, if it is a usable result URL. */
static int reply_is_hit(const struct resp_value *r)
{
	char why[160];

	return r && r->type == RESP_BULK && cachekey_validate_result(r->str, r->len, why, sizeof why) == 0;
}

static void on_lookup_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct lookup *l = arg;
	struct worker *w = l->w;
	struct msg *m = l->m;
	int hit = reply_is_hit(r);
	(void)c, (void)err;

	if (!m) {                 /* the message went before the reply */
		lookup_free(l);
		return;
	}
	if (l->waiting) {         /* admitted and waiting for this */
		w->n_lookups--;
		lookup_conclude(w, m, l, hit ? r->str : NULL, hit ? r->len : 0);
		return;
	}
	/* Not recorded yet: kept for admission. */
	l->done = 1;
	if (hit && (l->hit = malloc(r->len + 1))) {
		memcpy(l->hit, r->str, r->len);
		l->hit[r->len] = '\0';
		l->hit_len = r->len;
	}
}

/* Send the cache GET of a try-on whose arguments are decoded: 1 when sent
 * (args are the lookup's now; it is m's until admission, or owns m if
 * admitted), 0 when not (no cache connection: args stay the caller's). */
static int lookup_send(struct worker *w, struct msg *m, struct tryon_args *args, int admitted)
{
	char key[CACHEKEY_KEY_SIZE];
	/* With the cache on the broker's server, the GET rides on the consume
	 * conn (unless a BRPOPLPUSH blocks it): beside RECORD it is one write
	 * and one wake-up on each side instead of two. */
	int on_consume = w->cache_on_broker && worker_consume_free(w);
	struct redis_conn *c = on_consume ? w->consume : w->cache;
	struct lookup *l = c && redis_conn_is_ready(c) ? calloc(1, sizeof *l) : NULL;

	if (!l)
		return 0;
	tryon_keys_compute(args, key, NULL);
	*l = (struct lookup){ .w = w, .m = m, .started = clock_mono(), .args = *args, .waiting = admitted };
	const char *argv[] = { "GET", key };
	int rc = on_consume ? redis_conn_command_in_db(c, on_lookup_reply, l, w->cache_url.db, w->broker_url.db,
						       2, argv, NULL)
			    : redis_conn_command(c, on_lookup_reply, l, 0, 2, argv, NULL);
	if (rc < 0) {
		free(l);
		return 0;
	}
	memset(args, 0, sizeof *args);   /* the lookup owns them now */
	if (admitted)
		w->n_lookups++;
	else
		m->lookup = l;
	return 1;
}

/* The body's try-on arguments, decoded by the one decoder (the job uses the
 * same). */
static enum tryon_args_status decode_args(struct worker *w, const struct msg *m, struct tryon_args *args,
					  char *msg, size_t msglen)
{
	struct celery_body body;
	char err[256];

	memset(args, 0, sizeof *args);
	if (celery_body_parse(&body, m->env.body, m->env.body_len, m->env.protocol, err, sizeof err) < 0) {
		celery_body_free(&body);
		return TRYON_ARGS_NO_MEMORY;   /* not decided here: the child reports an undecodable body */
	}
	enum tryon_args_status st = tryon_args_decode(&body, (size_t)w->cfg->max_data_uri_bytes, args, msg, msglen);
	celery_body_free(&body);
	return st;
}

void dispatch_prelookup(struct worker *w, struct msg *m)
{
	struct tryon_args args;
	char msg[TRYON_ARGS_MSG_SIZE];

	if (!w->cache || !redis_conn_is_ready(w->cache) || strcmp(m->env.task, TASK_VIRTUAL_TRYON) ||
	    (m->env.has_eta && m->env.eta > clock_wall()))
		return;   /* not a try-on due now: no lookup before it is recorded */
	if (decode_args(w, m, &args, msg, sizeof msg) == TRYON_ARGS_OK && lookup_send(w, m, &args, 0))
		m->cache_checked = 1;
	tryon_args_free(&args);
}

/* A try-on's arguments, decided once: a bad call or a bad value ends it
 * here; a valid one is looked up in the cache (or was, beside its RECORD).
 * 1 if m was taken (ended or looked up), 0 to run it. */
static int tryon_admit(struct worker *w, struct msg *m)
{
	struct tryon_args args;
	char msg[TRYON_ARGS_MSG_SIZE];
	int taken = 0;

	if (m->lookup) {
		struct lookup *l = m->lookup;
		m->lookup = NULL;   /* the lookup owns m from here */
		if (l->done) {
			lookup_conclude(w, m, l, l->hit, l->hit_len);
		} else {
			l->waiting = 1;
			w->n_lookups++;
		}
		return 1;
	}
	if (m->cache_checked || strcmp(m->env.task, TASK_VIRTUAL_TRYON))
		return 0;
	m->cache_checked = 1;
	enum tryon_args_status st = decode_args(w, m, &args, msg, sizeof msg);
	if (st == TRYON_ARGS_TYPE_ERROR || st == TRYON_ARGS_VALUE_ERROR) {
		struct outcome_facts facts = { .cause = OUTCOME_CAUSE_INVALID_ARGS,
					       .type_error = st == TRYON_ARGS_TYPE_ERROR };
		struct outcome o;
		struct finish_detail d = { .reason = msg, .runtime = 0 };
		count_parent_start(w, m);
		tryon_state_parent_answer(&w->tryon, TRYON_PARENT_INVALID_ARGS);
		outcome_decide(&facts, &o);
		recent_note(&w->recent, &(struct recent_end){ .env = &m->env, .at = clock_wall(),
			    .outcome = o.name, .path = "invalid", .runtime = 0, .exc_type = o.exc_type,
			    .reason = msg });
		finish_end(w, m, -1, &o, &d);
		tryon_args_free(&args);
		return 1;
	}
	if (st == TRYON_ARGS_OK) {
		taken = lookup_send(w, m, &args, 1);
		if (!taken)   /* it runs in a child: kept so the lock can be released if the job dies */
			note_run_keys(m, &args);
	}
	tryon_args_free(&args);
	return taken;
}

/* -- admission ------------------------------------------------------------- */

/* Due now: answered by the parent, or waits for a slot. */
static void admit(struct worker *w, struct msg *m)
{
	if (!tryon_admit(w, m))
		msgs_ready_push(w, m);
}

/* -- ETA messages beyond what memory holds ---------------------------------
 * Memory holds the MAX_HELD_ETA earliest ETA messages. A later one is
 * parked in Redis: PARK moves its tag from our held set to our parked set
 * (scored by its ETA); it stays recorded in unacked, and maint's renewal
 * keeps its unacked_index score fresh. Once fewer than UNPARK_BELOW are in
 * memory, UNPARK brings the earliest back. What is parked when this node
 * dies is requeued like what it held: by its next start (recovery_node)
 * or by another node's dead-node recovery. So a flood of far-future ETAs
 * never stops consumption (issue 14) and memory stays bounded. */
#define UNPARK_BELOW (MAX_HELD_ETA / 2)
#define UNPARK_BYTES (16 << 20)

static void parked_key(const struct worker *w, struct buf *k)
{
	buf_init(k);
	kombu_node_key(k, "parked", w->cfg->hostname);
}

static void on_park_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct worker *w = arg;
	(void)c;

	w->parking--;
	if (r && r->type == RESP_INTEGER) {
		if (r->integer == 1 && w->n_parked >= 0)
			w->n_parked++;
		return;
	}
	/* Not parked: the tag is still in our held set but no longer in
	 * memory; the reconcile gives the message back to its queue. */
	w->reconcile_wanted = 1;
	if (ratelimit_allow(&w->fetch_log, clock_mono(), NULL)) {
		char q[300];
		log_warn("eta.park_failed", "reason=%s note=\"requeued by the reconcile\"",
			 log_quote(q, sizeof q, r && r->type == RESP_ERROR ? r->str : (err ? err : "unexpected reply")));
	}
}

/* The ETA list is over its cap: its latest message goes to Redis. */
static void park_latest(struct worker *w)
{
	struct msg **p = &w->eta;
	while ((*p)->next)
		p = &(*p)->next;
	struct msg *m = *p;
	*p = NULL;
	w->n_eta--;

	struct buf key;
	char eta[32];
	parked_key(w, &key);
	snprintf(eta, sizeof eta, "%.6f", m->env.eta);
	const char *keys[] = { w->held_key.data, key.data };
	const char *args[] = { m->env.delivery_tag, eta };
	if (key.data && scripts_call(w->cmd, SCRIPT_PARK, 2, keys, NULL, 2, args, NULL, on_park_reply, w) == 0)
		w->parking++;
	else
		w->reconcile_wanted = 1;   /* still in our held set: requeued */
	log_debug("eta.parked", "id=%s eta=%s held=%d", m->env.task_id, eta, w->n_eta);
	buf_free(&key);
	msg_free(m);
}

static void hold_eta(struct worker *w, struct msg *m)
{
	msgs_eta_insert(w, m);
	if (w->n_eta > MAX_HELD_ETA)
		park_latest(w);
}

/* Before a recorded message may wait or run (first delivery or back from
 * the parked set). */
static void decide(struct worker *w, struct msg *m)
{
	double now = clock_wall();

	if (w->draining)
		dispatch_end_early(w, m, OUTCOME_CAUSE_NOT_STARTED, NULL);
	else if (revoked_has(w, m->env.task_id))
		dispatch_end_early(w, m, OUTCOME_CAUSE_REVOKED, "revoked");
	else if (!tasks_is_registered(w->cfg, m->env.task))
		dispatch_end_early(w, m, OUTCOME_CAUSE_UNKNOWN_TASK, m->env.task);
	else if (m->env.has_expires && m->env.expires < now)
		dispatch_end_early(w, m, OUTCOME_CAUSE_EXPIRED, "expired");
	else if (m->env.has_eta && m->env.eta > now)
		hold_eta(w, m);
	else
		admit(w, m);
}

/* One unparked message: tag and its unacked value. 0, or -1 when it cannot
 * be held (it is in our held set again: the reconcile requeues it). */
static int unparked(struct worker *w, const struct resp_value *tag, const struct resp_value *value)
{
	struct msg *m = msg_from_unacked(tag, value, (size_t)w->cfg->max_message_bytes);
	if (!m)
		return -1;
	log_debug("eta.unparked", "id=%s", m->env.task_id);
	decide(w, m);
	return 0;
}

static void on_unpark_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct worker *w = arg;
	long long left = -1;
	int lost = 0;
	(void)c;

	w->unparking = 0;
	if (!r || r->type != RESP_ARRAY || r->n_elems < 1 || r->n_elems % 2 != 1 ||
	    resp_int(r->elems[0], &left) < 0 || left < 0) {
		/* Some may be back in our held set without us knowing: the
		 * reconcile requeues them. Not tried again before the consume
		 * connection is re-established. */
		w->n_parked = 0;
		w->reconcile_wanted = 1;
		if (ratelimit_allow(&w->fetch_log, clock_mono(), NULL)) {
			char q[300];
			log_warn("eta.unpark_failed", "reason=%s",
				 log_quote(q, sizeof q, r && r->type == RESP_ERROR ? r->str : (err ? err : "unexpected reply")));
		}
		return;
	}
	w->n_parked = left > INT_MAX ? INT_MAX : (int)left;
	for (size_t i = 1; i + 1 < r->n_elems; i += 2)
		if (unparked(w, r->elems[i], r->elems[i + 1]) < 0)
			lost++;
	if (lost) {
		w->reconcile_wanted = 1;
		log_warn("eta.unpark_lost", "messages=%d note=\"requeued by the reconcile\"", lost);
	}
}

/* Room in memory and something parked: bring the earliest back. */
static void unpark(struct worker *w)
{
	if (w->n_parked == 0 || w->unparking || w->parking || w->draining || w->n_eta >= UNPARK_BELOW ||
	    !redis_conn_is_ready(w->cmd))
		return;
	struct buf key;
	char count[16], bytes[24], now[32];
	parked_key(w, &key);
	snprintf(count, sizeof count, "%d", MAX_HELD_ETA - w->n_eta);
	snprintf(bytes, sizeof bytes, "%d", UNPARK_BYTES);
	snprintf(now, sizeof now, "%.6f", clock_wall());
	const char *keys[] = { key.data, w->held_key.data, KOMBU_UNACKED, KOMBU_UNACKED_INDEX };
	const char *args[] = { count, bytes, now };
	if (key.data && scripts_call(w->cmd, SCRIPT_UNPARK, 4, keys, NULL, 3, args, NULL, on_unpark_reply, w) == 0)
		w->unparking = 1;
	buf_free(&key);
}

void dispatch_message(struct worker *w, struct msg *m)
{
	metrics_inc(w->metrics, METRIC_TASKS_RECEIVED, m->env.task, NULL, 1);
	events_task_simple(w, CELERY_EVENTS_TASK_RECEIVED, m);
	log_info("task.received", "task=%s id=%s queue=%s retries=%lld%s", m->env.task, m->env.task_id,
		 m->queue, (long long)m->env.retries, m->env.has_eta ? " eta=1" : "");
	decide(w, m);
}

/* -- the pool and rate limits (set by remote control) ---------------------- */

/* n_slots follows the concurrency: up at once, down as the slots above it
 * empty. Only here, before the loop polls the job pipes, so the poll set
 * and the slots agree. */
static void slots_settle(struct worker *w)
{
	while (w->n_slots < w->concurrency && w->n_slots < w->slots_cap)
		w->slots[w->n_slots++].fd = -1;   /* all free above n_slots */
	while (w->n_slots > w->concurrency && w->slots[w->n_slots - 1].state == SLOT_FREE)
		w->n_slots--;
}

/* Whether m may start now under its task's rate limit (the token is
 * taken); if not, *wake becomes the earliest time one may (monotonic). */
static int rate_allows(struct worker *w, const struct msg *m, double now, double *wake)
{
	struct task_limit *tl = task_limit_find(w->limits, w->n_limits, m->env.task);
	if (!tl || !tl->has_rate || tokenbucket_take(&tl->bucket, now))
		return 1;
	double at = now + tokenbucket_wait(&tl->bucket, now);
	if (*wake == 0 || at < *wake)
		*wake = at;
	return 0;
}

/* Take m, which follows prev (NULL: m is the head), out of the ready list.
 * (msgs_ready_pop takes only the head; a rate limit can hold the head.) */
static void ready_unlink(struct worker *w, struct msg *prev, struct msg *m)
{
	if (prev)
		prev->next = m->next;
	else
		w->ready = m->next;
	if (w->ready_tail == m)
		w->ready_tail = prev;
	w->n_ready--;
	m->next = NULL;
}

void dispatch_run_ready(struct worker *w)
{
	double now = clock_wall(), mono = clock_mono();
	struct msg *m;

	slots_settle(w);
	unpark(w);
	while ((m = msgs_eta_pop_due(w, now))) {
		if (m->env.has_expires && m->env.expires < now)
			dispatch_end_early(w, m, OUTCOME_CAUSE_EXPIRED, "expired");
		else
			admit(w, m);
	}
	/* A message waiting for its task's token stays where it is (held, in
	 * order, as Celery holds it in the bucket); those behind it may go. */
	w->rate_wake = 0;
	struct msg *prev = NULL;
	while ((m = prev ? prev->next : w->ready) && !w->draining) {
		int i = jobs_free_slot(w);
		if (i < 0)
			break;
		if (!rate_allows(w, m, mono, &w->rate_wake)) {
			prev = m;
			continue;
		}
		ready_unlink(w, prev, m);
		jobs_start(w, i, m);
	}
}

void dispatch_requeue_held(struct worker *w)
{
	struct msg *lists[2] = { w->eta, w->ready };
	w->eta = w->ready = w->ready_tail = NULL;
	w->n_eta = w->n_ready = 0;
	for (int l = 0; l < 2; l++) {
		for (struct msg *m = lists[l], *next; m; m = next) {
			next = m->next;
			m->next = NULL;
			dispatch_end_early(w, m, OUTCOME_CAUSE_NOT_STARTED, NULL);
		}
	}
}
