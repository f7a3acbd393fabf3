/* state: the worker parent's data, shared by the files of src/worker/ and
 * by nobody else (worker.h is the public contract). Types, plus the few
 * leaf helpers that only touch this data (message lists, the revoked ring,
 * the last error); nothing here calls another worker file. Everything runs
 * in the parent's one poll loop; nothing blocks. */
#ifndef TRYON_WORKER_STATE_H
#define TRYON_WORKER_STATE_H
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "celery/celery_msg.h"
#include "config.h"
#include "lib/buf.h"
#include "lib/http.h"
#include "lib/ratelimit.h"
#include "lib/tokenbucket.h"
#include "lib/trust.h"
#include "ops/httpd.h"
#include "ops/metrics.h"
#include "ops/sdnotify.h"
#include "redis/redis_conn.h"
#include "redis/redis_url.h"
#include "tryon/tryon_args.h"
#include "tryon/tryon_state.h"
#include "worker/outcome.h"
#include "worker/recent.h"

#define MAX_HELD_ETA 1000          /* ETA messages held beyond the slots */
#define MAX_RECORD_BYTES (1 << 20) /* a child's record larger than this is garbage */
#define IDLE_BLOCK_SECONDS "0.25"  /* BRPOPLPUSH timeout on the head list */
#define MAX_REVOKED 10000          /* revoked ids remembered (Celery keeps 50,000 for 3 h) */
#define MAX_SLOTS 1024             /* pool_grow's ceiling (TRYON_CONCURRENCY's too) */
#define LENS_DEAD (CONFIG_MAX_QUEUES * 4) /* lens[] index of the dead-letter list */
#define PARKED_VIEW_MAX 100        /* parked messages `inspect scheduled` shows */

/* A try-on's cache lookup in the parent (the cache-hit fast path,
 * worker/dispatch.c). Sent as soon as the message is parsed, beside its
 * RECORD, so the GET's round trip overlaps RECORD's; the answer is used
 * only once RECORD is in. Until the message is admitted, the message owns
 * it (msg->lookup) and a reply that comes first is kept (done); a message
 * freed before the reply leaves it to the reply (msg NULL), which frees
 * it. Once admitted, the lookup owns the message until it concludes. */
struct lookup {
	struct worker *w;
	struct msg *m;             /* NULL: the message was freed before the reply */
	double started;            /* monotonic */
	struct tryon_args args;    /* decoded once, owned (the operator page's row) */
	int done;                  /* the reply is in */
	int waiting;               /* admitted: the reply concludes the message */
	char *hit;                 /* done: the cached result URL (validated), NULL: no hit */
	size_t hit_len;
};

/* A message we hold. Owned by exactly one place at a time: a fetch batch,
 * the ready or ETA list, a slot, or a finish. */
struct msg {
	struct msg *next;          /* in the ready or ETA list */
	char *raw;                 /* envelope as delivered (owned) */
	size_t raw_len;
	struct celery_envelope env;
	char *queue;               /* queue name (owned) */
	double received_at;        /* wall clock */
	int recorded;              /* in unacked and our held set (else only in our in-flight list) */
	int cache_checked;         /* the parent decoded its try-on arguments */
	char lock_key[48];         /* try-on: its single-flight lock ("" if unknown) */
	char wake_key[64];         /* try-on: the lock's wake channel */
	struct lookup *lookup;     /* its cache lookup, sent before RECORD's reply (or NULL) */
};

/* The Redis steps of ending a message (worker/finish.c). */
enum finish_phase {
	FINISH_STORE,              /* store the result on its own first (other server, or not recorded) */
	FINISH_SETTLE,             /* one script: (result +) ack / push / drop from the in-flight list */
	FINISH_DONE                /* nothing left in Redis; the loop frees it */
};

struct finish {
	struct finish *next;       /* in the pending list (finishes without a slot) */
	struct msg *msg;           /* owned */
	struct buf meta;           /* result meta JSON; empty = store nothing */
	struct buf push;           /* what to push: the message, a retry or a dead-letter record */
	struct buf target;         /* list to push to; empty with OUTCOME_ACK */
	enum outcome_move move;
	enum finish_phase phase;
	int busy;                  /* one of its commands is outstanding */
	int ordered;               /* ...and it is the settle step, on the consume conn */
	int slot;                  /* slot freed when done, -1 if none */
	struct backoff retry;      /* a step Redis refused is tried again after this */
	struct worker *owner;      /* for its log limiter */
};

enum slot_state { SLOT_FREE, SLOT_RUNNING, SLOT_FINISHING };

struct slot {
	enum slot_state state;
	struct msg *msg;           /* owned while RUNNING; handed to fin when FINISHING */
	pid_t pid;
	int fd;                    /* the child's record pipe */
	struct buf record;
	int record_eof, exited, status;
	struct rusage ru;
	double started, hard_deadline, soft, hard;
	int killed_hard, killed_revoke, killed_shutdown;
	int revoke_signal;         /* the signal a revoke with terminate sent */
	struct finish fin;
	int is_tryon;
	struct tryon_hints hints;  /* what the parent told this try-on job */
};

/* Per task name, set by remote control (rate_limit, time_limit). */
struct task_limit {
	char *name;                /* owned */
	int has_rate;              /* starts wait for a token of bucket */
	struct tokenbucket bucket;
	double soft, hard;         /* > 0: this task's limits when its message sets none */
};

/* The limits set for task name, or NULL. */
static inline struct task_limit *task_limit_find(const struct task_limit *v, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return (struct task_limit *)&v[i];
	return NULL;
}

struct worker {
	const struct config *cfg;
	const struct trust_store *ts;
	struct http_tls_cache *tls_sessions;  /* owned: made before the first job forks */
	struct redis_url broker_url, result_url, cache_url;
	int same_server;           /* results live on the broker's server */
	/* The cache lives on the broker's server (another DB): lookups may go
	 * on the consume conn beside RECORD, one write and one wake-up for
	 * both (dispatch.c). Not through sentinels (the master may move). */
	int cache_on_broker;
	struct redis_conn *consume, *cmd, *results, *pubsub, *cache;
	struct redis_conn *watch;   /* sentinel:// broker: +switch-master, or NULL */
	/* slots has slots_cap entries and never moves (finishes point into
	 * it). Jobs may run in the first `concurrency` (TRYON_CONCURRENCY,
	 * then pool_grow/pool_shrink/autoscale); n_slots >= concurrency bounds
	 * every slot in use: after a shrink it comes down as jobs above the new
	 * number finish (dispatch_run_ready moves it, between polls). */
	struct slot *slots;
	int n_slots, busy, slots_cap, concurrency, autoscale_min;
	/* The queues consumed now (add/cancel_consumer; TRYON_QUEUES at first),
	 * owned. queues_gen counts changes: a blocking pop issued before one
	 * gives its message back (fetch.c). */
	char *queues[CONFIG_MAX_QUEUES];
	int n_queues;
	unsigned queues_gen, block_gen;
	struct task_limit *limits; /* rate and time limits by task name (control.c) */
	int n_limits;
	double rate_wake;          /* monotonic: a held message gets its token; 0 none */
	struct msg *ready, *ready_tail;
	int n_ready;
	struct msg *eta;           /* sorted by eta */
	int n_eta;
	struct finish *pending;    /* finishes without a slot */
	int n_pending;
	/* The consume conn: FETCHes (or the one BRPOPLPUSH, blocking) outstanding,
	 * and the messages they may bring, counted in hand from the moment
	 * they are asked for. n_ordered: finishes whose settle step is queued
	 * on that conn; a FETCH queued after one runs after it in Redis, so
	 * its message no longer counts against what that FETCH may take. */
	int fetching, blocking, n_asked, n_ordered;
	/* A blocking pop brought a message whose RECORD is out: the next FETCH
	 * waits for its reply, and goes out behind the message's settle step
	 * (issue 15: sent at once, two FETCHes on an empty queue went ahead of
	 * the hit's own steps, on both sides of the wire). */
	int refill_after_record;
	int recovering, recovered_once, n_unrecorded;
	int n_lookups;             /* cache lookups in flight (messages in hand) */
	int queue_first;           /* round-robin rotation */
	struct buf inflight_key, held_key, alive_key;
	/* Stopping: control and signals ask by setting drain_requested; only
	 * the loop starts the drain. */
	int drain_requested, draining, n_term;
	double drain_deadline;
	struct ratelimit finish_log; /* "finish.retry" lines: a refused step must not spin the log */
	int reconcile_wanted;      /* a recorded message was let go (out of memory): reconcile soon */
	/* Broker failures on the consume path (fetch.c): FETCH and in-flight
	 * recovery wait out fetch_backoff; warnings go through fetch_log,
	 * oversized-message lines through dead_log (issue 14). */
	struct backoff fetch_backoff;
	struct ratelimit fetch_log, dead_log;
	int recover_left;          /* in-flight recovery: INFLIGHT_NEXT steps still to take */
	/* ETA messages beyond MAX_HELD_ETA wait in our parked set in Redis
	 * (dispatch.c). n_parked: as far as we know, -1 unknown. */
	int n_parked, parking, unparking;
	/* The earliest parked messages (at most PARKED_VIEW_MAX), read back by
	 * maint.c every 5 s while any are parked, so that `inspect scheduled`
	 * lists them after the ones in memory. Owned; NULL when none. */
	struct msg *parked_view;
	double started_wall;
	long processed;            /* messages ended after a child or a parent answer */
	long started_count;        /* tasks started ("processed" in Celery's heartbeat) */
	long *task_totals;         /* per registered task name, for stats */
	char hostname_origin[300];
	int sig_fd;
	struct slot *child_slot;   /* set in the child only: the job to run */
	double next_heartbeat, next_maintenance, next_restore, next_renew;
	pid_t maint_pid;
	int maint_failures;         /* failed maintenance runs in a row (backoff) */
	int maint_restore;         /* this maintenance run also does restore_visible */
	int maint_reconcile;       /* ... and reconciles our held set */
	int maint_killed;          /* we SIGKILLed it: it ran past its limit */
	int maint_verbose;         /* this run logs odd replies at warn */
	double maint_quiet_until;  /* after a logged partial run: debug until then */
	double maint_forked_at;    /* wall clock at fork */
	const char **keep;         /* tags we hold, snapshot for the maintenance child */
	int n_keep;
	struct metrics *metrics;   /* rendered at GET /metrics; owned (calloc, metrics_free) */
	struct httpd *httpd;       /* NULL when TRYON_HTTP_ADDR is empty */
	struct sdnotify sd;        /* no-op outside systemd */
	int consuming;             /* announced ready: READY=1 sent, /readyz may pass */
	/* What /readyz decides from beyond the above (worker/ops.c owns it,
	 * ops_readiness_tick updates it once per loop round): broker drops
	 * (a backoff loop keeps it not ready longer) and the last progress
	 * of consumption (a stall is "messages waiting, a free slot, and
	 * nothing taken since progress_at"). */
	struct readiness {
		int was_up;            /* consume and cmd both READY last round */
		double down_at;        /* clock_mono: last seen not both READY */
		double lost_at;        /* last drop out of READY */
		int losses;            /* drops in a row, each within a minute of the last */
		double progress_at;    /* last message taken, or last moment with nothing to take */
		long in_hand, started, processed;   /* last round's counts, to see a take */
		int logged;            /* verdict last logged (enum ops_readiness) */
	} readiness;
	/* Sampled for /metrics and /health: lengths of the four priority
	 * lists of each queue consumed now (queues[k], index 4 * k + step;
	 * add_consumer's queues too) and of the dead-letter list (LENS_DEAD).
	 * The queue part describes queues[] only while lens_gen == queues_gen:
	 * read it through worker_queue_depth. */
	struct len_ref { struct worker *w; int idx; unsigned gen; } len_refs[CONFIG_MAX_QUEUES * 4 + 1];
	long lens[CONFIG_MAX_QUEUES * 4 + 1];
	unsigned lens_gen;
	char last_error[300];
	struct tryon_state tryon;  /* breakers, backup latency, spend */
	struct recent recent;      /* the last try-ons, for the operator page */
	/* Sampled from the cache Redis for /health and /metrics. */
	int cluster_sampled;
	double cluster_in_progress, cluster_spend_today;
	int64_t clock;             /* Lamport clock shared with Celery peers */
	int task_events;
	double next_event_heartbeat;
	char **revoked;            /* ring of revoked ids */
	double *revoked_at;
	int n_revoked, revoked_next;
};

/* Free m and everything it owns; accepts NULL. A lookup whose reply is
 * still to come is left to that reply (its m becomes NULL). */
void msg_free(struct msg *m);
/* Free a lookup and what it owns (not its message); accepts NULL. */
void lookup_free(struct lookup *l);
/* A held message rebuilt from its delivery tag and kombu's unacked value
 * (an unparked or parked message): envelope parsed within max_bytes, the
 * tag must match. NULL when it cannot be (garbled, too big, no memory). */
struct msg *msg_from_unacked(const struct resp_value *tag, const struct resp_value *value, size_t max_bytes);
/* Free a list of messages linked by next. */
void msgs_free(struct msg *m);

/* The ready list (FIFO) and the ETA list (sorted by eta). Take ownership. */
void msgs_ready_push(struct worker *w, struct msg *m);
struct msg *msgs_ready_pop(struct worker *w);
void msgs_eta_insert(struct worker *w, struct msg *m);
/* The first ETA message due at wall time now, removed; NULL if none. */
struct msg *msgs_eta_pop_due(struct worker *w, double now);
/* Remove and return the held (ready or ETA) message with this task id. */
struct msg *msgs_take_held(struct worker *w, const char *task_id);

/* Revoked ids (a ring of MAX_REVOKED). */
int revoked_has(const struct worker *w, const char *id);
void revoked_add(struct worker *w, const char *id, double at);

/* Remember the last thing that went wrong, for GET /health. */
void worker_note_error(struct worker *w, const char *what, const char *why);
/* The db in kombu's fanout channel names (pidbox, events): -1 for a
 * sentinel:// broker, whose kombu channel never formats "/{db}.". */
/* 1 when settle steps go ahead of the next FETCH on the consume conn (and a
 * second FETCH may be outstanding, fetch.h): pools of up to 32 slots, which
 * are bound by round trips. Larger pools are bound by Redis, and took 15-20 %
 * less at 64 slots with every step on one connection. */
static inline int worker_settle_ahead(const struct worker *w)
{
	return w->concurrency <= 32;
}

/* 1 when the pool runs as two groups (fetch.h): each FETCH asks for at
 * most half the slots and the consume conn sends per reply. Not over TLS,
 * whose engine sends once per read anyway: there the halves would only go
 * out together (split FETCHes alone measured 14 % less at 4 slots). */
static inline int worker_fetch_halves(const struct worker *w)
{
	return worker_settle_ahead(w) && w->broker_url.transport != REDIS_TRANSPORT_TLS;
}

/* 1 when a command may be queued on the consume conn now: connected, and
 * no BRPOPLPUSH blocking it (what is queued behind one waits for a message
 * to arrive). Settle steps and cache GETs that ride there ask this. */
static inline int worker_consume_free(const struct worker *w)
{
	return redis_conn_is_ready(w->consume) && !w->blocking;
}

static inline int worker_fanout_db(const struct worker *w)
{
	return w->broker_url.n_sentinels > 0 ? -1 : w->broker_url.db;
}
/* Messages waiting in queues[k] (all four priority lists) at the last
 * sample; 0 until the queues consumed now have been sampled. */
long worker_queue_depth(const struct worker *w, int k);
#endif
