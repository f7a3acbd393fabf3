/* dispatch: early ends, ETA, the parent's cache-hit path, ready list. */
#include "worker/dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_events.h"
#include "lib/clock.h"
#include "lib/json.h"
#include "lib/log.h"
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
	metrics_inc(&w->metrics, METRIC_TASKS_STARTED, m->env.task, NULL, 1);
	w->started_count++;
	events_task_simple(w, CELERY_EVENTS_TASK_STARTED, m);
}

/* -- the cache-hit fast path -------------------------------------------- */

/* A try-on whose result is cached needs no model call, so it needs no child
 * either: the parent looks the pair up on its own cache connection and, on a
 * hit, stores the result and acks at once. A fork and a fresh Redis
 * connection per cache hit cost more than the hit itself (docs/BENCHMARKS.md).
 * A miss, a cache error or garbage takes the ordinary path through a child,
 * which looks again and reports cache errors. */
struct lookup {
	struct worker *w;
	struct msg *m;
	double started;
};

static void on_lookup_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct lookup *l = arg;
	struct worker *w = l->w;
	struct msg *m = l->m;
	double runtime = clock_mono() - l->started;
	char why[160];
	(void)c, (void)err;

	free(l);
	w->n_lookups--;
	if (w->draining) {
		dispatch_end_early(w, m, OUTCOME_CAUSE_NOT_STARTED, NULL);
		return;
	}
	if (!r || r->type != RESP_BULK || cachekey_validate_result(r->str, r->len, why, sizeof why) < 0) {
		msgs_ready_push(w, m);
		return;
	}
	struct buf value, repr;
	buf_init(&value);
	buf_init(&repr);
	json_write_str(&value, r->str, r->len, JSON_W_ASCII);
	/* Python's repr of the URL: validated URLs hold no quote or backslash. */
	buf_append_char(&repr, '\'');
	buf_append(&repr, r->str, r->len);
	buf_append_char(&repr, '\'');
	count_parent_start(w, m);
	tryon_state_parent_answer(&w->tryon, TRYON_PARENT_CACHE_HIT);
	struct outcome_facts facts = { .cause = OUTCOME_CAUSE_CACHE_HIT };
	struct outcome o;
	struct finish_detail d = { .result_json = value.data, .result_len = value.len,
				   .result_repr = repr.data, .runtime = runtime, .path = "cache" };
	outcome_decide(&facts, &o);
	finish_end(w, m, -1, &o, &d);
	buf_free(&value);
	buf_free(&repr);
}

/* A try-on's arguments, decided once by the one decoder (the job uses the
 * same): a bad call or a bad value ends it here; a valid one is looked up
 * in the cache. 1 if m was taken (ended or looked up), 0 to run it. */
static int tryon_admit(struct worker *w, struct msg *m)
{
	struct celery_body body;
	struct tryon_args args;
	char err[256], msg[TRYON_ARGS_MSG_SIZE];
	int taken = 0;

	if (m->cache_checked || strcmp(m->env.task, TASK_VIRTUAL_TRYON))
		return 0;
	m->cache_checked = 1;
	memset(&args, 0, sizeof args);
	if (celery_body_parse(&body, m->env.body, m->env.body_len, m->env.protocol, err, sizeof err) < 0) {
		celery_body_free(&body);
		return 0;   /* the child reports an undecodable body */
	}
	enum tryon_args_status st = tryon_args_decode(&body, (size_t)w->cfg->max_data_uri_bytes, &args,
						      msg, sizeof msg);
	celery_body_free(&body);
	if (st == TRYON_ARGS_TYPE_ERROR || st == TRYON_ARGS_VALUE_ERROR) {
		struct outcome_facts facts = { .cause = OUTCOME_CAUSE_INVALID_ARGS,
					       .type_error = st == TRYON_ARGS_TYPE_ERROR };
		struct outcome o;
		struct finish_detail d = { .reason = msg, .runtime = 0 };
		count_parent_start(w, m);
		tryon_state_parent_answer(&w->tryon, TRYON_PARENT_INVALID_ARGS);
		outcome_decide(&facts, &o);
		finish_end(w, m, -1, &o, &d);
		tryon_args_free(&args);
		return 1;
	}
	if (st == TRYON_ARGS_OK) {
		/* Kept so the lock can be released if the job dies. */
		char key[CACHEKEY_KEY_SIZE], lock[CACHEKEY_LOCK_SIZE];
		tryon_keys_compute(&args, key, lock);
		snprintf(m->lock_key, sizeof m->lock_key, "%s", lock);
		ledger_key(m->wake_key, LEDGER_WAKE_PREFIX, key);
		struct lookup *l = w->cache && redis_conn_is_ready(w->cache) ? malloc(sizeof *l) : NULL;
		if (l) {
			*l = (struct lookup){ w, m, clock_mono() };
			const char *argv[] = { "GET", key };
			if (redis_conn_command(w->cache, on_lookup_reply, l, 0, 2, argv, NULL) == 0) {
				w->n_lookups++;
				taken = 1;
			} else {
				free(l);
			}
		}
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

void dispatch_message(struct worker *w, struct msg *m)
{
	double now = clock_wall();

	metrics_inc(&w->metrics, METRIC_TASKS_RECEIVED, m->env.task, NULL, 1);
	events_task_simple(w, CELERY_EVENTS_TASK_RECEIVED, m);
	log_info("task.received", "task=%s id=%s queue=%s retries=%lld%s", m->env.task, m->env.task_id,
		 m->queue, (long long)m->env.retries, m->env.has_eta ? " eta=1" : "");
	if (w->draining)
		dispatch_end_early(w, m, OUTCOME_CAUSE_NOT_STARTED, NULL);
	else if (revoked_has(w, m->env.task_id))
		dispatch_end_early(w, m, OUTCOME_CAUSE_REVOKED, "revoked");
	else if (!tasks_is_registered(w->cfg, m->env.task))
		dispatch_end_early(w, m, OUTCOME_CAUSE_UNKNOWN_TASK, m->env.task);
	else if (m->env.has_expires && m->env.expires < now)
		dispatch_end_early(w, m, OUTCOME_CAUSE_EXPIRED, "expired");
	else if (m->env.has_eta && m->env.eta > now)
		msgs_eta_insert(w, m);
	else
		admit(w, m);
}

void dispatch_run_ready(struct worker *w)
{
	double now = clock_wall();
	struct msg *m;

	while ((m = msgs_eta_pop_due(w, now))) {
		if (m->env.has_expires && m->env.expires < now)
			dispatch_end_early(w, m, OUTCOME_CAUSE_EXPIRED, "expired");
		else
			admit(w, m);
	}
	while (w->ready && !w->draining) {
		int i = jobs_free_slot(w);
		if (i < 0)
			break;
		jobs_start(w, i, msgs_ready_pop(w));
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
