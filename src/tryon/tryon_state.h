/* tryon_state: what the worker's parent knows about the try-on job across
 * all slots: one circuit breaker per model endpoint, the backup's observed
 * latency, spend and outcome counters, and the cache outage flag. The parent
 * hands each try-on child hints (struct tryon_hints) before fork and absorbs
 * the child's record "extra" after it. No I/O besides log lines on state
 * changes; no clock (callers pass now, CLOCK_MONOTONIC seconds). */
#ifndef TRYON_TRYON_STATE_H
#define TRYON_TRYON_STATE_H
#include <stddef.h>

#include "tryon/breaker.h"
#include "config.h"
#include "tryon/latency.h"
#include "tryon/plan.h"

enum tryon_model { TRYON_PRIMARY = 0, TRYON_BACKUP = 1, TRYON_N_MODELS = 2 };

/* Outcome of one model call, as the child reports it ("calls" in extra). */
enum tryon_outcome {
	TRYON_OUT_OK = 0,      /* result URL obtained */
	TRYON_OUT_TRANSIENT,   /* 408/429/5xx, transport error, bad answer */
	TRYON_OUT_PERMANENT,   /* 422 and other 4xx: this model refuses the input */
	TRYON_OUT_AUTH,        /* 401/403: the account (both models) */
	TRYON_OUT_CANCELLED,   /* lost the race to the other model; cancelled */
	TRYON_OUT_TIMEOUT,     /* did not finish within the job's plan; cancelled */
	TRYON_OUT_SKIPPED,     /* not called: breaker open */
	TRYON_N_OUTCOMES
};

/* What the parent tells one try-on child, computed by tryon_state_hints just
 * before fork and copied into the child with struct task_ctx. All-zero
 * hints are valid: both models allowed, backup latency unknown. */
struct tryon_hints {
	enum breaker_decision gate[TRYON_N_MODELS]; /* allow / skip / probe */
	struct plan_latency latency[TRYON_N_MODELS]; /* observed p90 and its weight */
};

struct tryon_model_state {
	const char *endpoint;        /* borrowed from the config */
	double price;                /* USD per accepted submit */
	struct breaker breaker;
	unsigned long outcomes[TRYON_N_OUTCOMES];
	unsigned long paid_calls;    /* accepted submits */
	double spend;                /* sum of their estimated cost, USD */
	struct latency_record latency; /* successful calls, submit to result */
};

/* Cluster-wide limits a job can meet ("limit" in extra). */
enum tryon_limit { TRYON_LIMIT_PAUSE, TRYON_LIMIT_RATE, TRYON_LIMIT_CONCURRENCY, TRYON_LIMIT_BUDGET,
		   TRYON_N_LIMITS };
const char *tryon_limit_name(enum tryon_limit l);   /* "pause", "rate", "concurrency", "budget" */

/* Cache results as the child reports them ("cache" in extra). */
enum tryon_cache_result {
	TRYON_CACHE_OFF = 0,   /* no REDIS_CACHE_URL */
	TRYON_CACHE_HIT,
	TRYON_CACHE_MISS,
	TRYON_CACHE_ERROR,     /* down, slow, refused: the job went on without it */
	TRYON_CACHE_GARBAGE,   /* a value that is not a result URL (treated as a miss) */
	TRYON_N_CACHE
};

/* Read-only for everyone but tryon_state.c (metrics read the counters). */
struct tryon_state {
	const struct config *cfg;    /* borrowed; outlives the state */
	struct tryon_model_state model[TRYON_N_MODELS];
	unsigned long cache[TRYON_N_CACHE];
	unsigned long singleflight_waits;  /* jobs that waited for an identical one */
	unsigned long singleflight_locks;  /* jobs that held the lock */
	unsigned long jobs;                /* try-on jobs absorbed */
	unsigned long jobs_no_extra;       /* ... of which without a usable extra */
	unsigned long paths_cache, paths_primary, paths_backup, paths_hedge;
	unsigned long paths_failed;        /* no result (model errors, soft limit) */
	unsigned long paths_invalid;       /* refused arguments (no call made) */
	unsigned long resumed;             /* recorded paid requests taken over */
	unsigned long limit_waits[TRYON_N_LIMITS];    /* jobs a cluster-wide limit made wait */
	unsigned long limit_refusals[TRYON_N_LIMITS]; /* jobs it failed */
	int cache_outage;                  /* last report was an error; logged once */
	/* Optional observer, set by the parent after init (e.g. metrics):
	 * called once per reported model call, latency in seconds (0 when not
	 * submitted), cost in USD (0 unless the submit was accepted). */
	void (*on_call)(void *arg, enum tryon_model m, enum tryon_outcome o, double latency,
			double cost);
	void *on_call_arg;
};

/* Set up breakers from cfg (threshold, cool-down; a lost probe is forgotten
 * after the hard time limit) and log once if REDIS_CACHE_URL or FAL_KEY is
 * unset. cfg must outlive st. */
void tryon_state_init(struct tryon_state *st, const struct config *cfg);

/* Fill *h for one virtual_tryon job about to be forked (call it for that
 * task only: a PROBE decision must come back through tryon_state_absorb).
 * Logs breaker state changes (open -> half_open). */
void tryon_state_hints(struct tryon_state *st, double now, struct tryon_hints *h);

/* After the job: given = the hints it was forked with; extra_json[0..len)
 * = the record's "extra" object, or NULL/0 when the job left no record or
 * no extra (it died, was killed, or failed before the model phase). Feeds
 * the breakers (logging changes), the latency EWMAs, spend and counters, and
 * the cache outage flag (one warning when an outage starts, one info line
 * when it ends). Probes handed out but not used are released. Malformed
 * extra is counted and otherwise ignored. */
void tryon_state_absorb(struct tryon_state *st, const struct tryon_hints *given,
			const char *extra_json, size_t len, double now);

/* A try-on the parent answered without a child: from the cache, or refused
 * for its arguments. Counted like a job's report of the same path. */
enum tryon_parent_answer { TRYON_PARENT_CACHE_HIT, TRYON_PARENT_INVALID_ARGS };
void tryon_state_parent_answer(struct tryon_state *st, enum tryon_parent_answer a);

/* Metrics accessors. */
enum breaker_state tryon_state_breaker(const struct tryon_state *st, enum tryon_model m);
double tryon_state_spend(const struct tryon_state *st, enum tryon_model m);
unsigned long tryon_state_outcomes(const struct tryon_state *st, enum tryon_model m,
				   enum tryon_outcome o);
unsigned long tryon_state_cache(const struct tryon_state *st, enum tryon_cache_result c);

/* Names used in the extra JSON and in metrics labels. */
const char *tryon_model_name(enum tryon_model m);       /* "primary", "backup" */
const char *tryon_outcome_name(enum tryon_outcome o);   /* "ok", "transient", ... */
const char *tryon_cache_name(enum tryon_cache_result c); /* "off", "hit", ... */
/* Reverse lookups; -1 if unknown. */
int tryon_outcome_parse(const char *s, size_t n);
int tryon_cache_parse(const char *s, size_t n);
#endif
