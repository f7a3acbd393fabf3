/* worker_int: the parent's state, shared by the four files of the worker
 * (worker.c, worker_control.c, worker_maint.c, worker_ops.c) and by nobody
 * else: worker.h is the public contract. All of it runs in the parent's one
 * loop; nothing here blocks except where a comment says it runs in a child. */
#ifndef TRYON_WORKER_INT_H
#define TRYON_WORKER_INT_H
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "celery/celery_ctl.h"
#include "celery/celery_msg.h"
#include "config.h"
#include "ops/httpd.h"
#include "ops/metrics.h"
#include "redis/redis_conn.h"
#include "redis/redis_url.h"
#include "redis/resp.h"
#include "ops/sdnotify.h"
#include "lib/trust.h"
#include "tryon/tryon_state.h"

#define MAX_HELD_ETA 1000          /* ETA messages held beyond the slots */
#define MAX_RECORD_BYTES (1 << 20) /* a child's record larger than this is garbage */
#define IDLE_BLOCK_SECONDS "0.25"  /* BRPOPLPUSH timeout on the head list */

/* A message we hold: recorded in unacked and in our held set. */
struct msg {
	struct msg *next;          /* in the ready or ETA list */
	char *raw;                 /* envelope as delivered (owned) */
	size_t raw_len;
	struct celery_envelope env;
	char *queue;               /* queue name (owned) */
	double received_at;        /* wall clock */
	int cache_checked;         /* the parent's cache lookup was done (a miss) */
};

enum slot_state { SLOT_FREE, SLOT_RUNNING, SLOT_FINISHING };

/* A finishing operation: result (maybe) + ack/requeue/dead-letter. */
struct finish {
	struct finish *next;       /* in the pending list */
	struct msg *msg;           /* owned */
	struct buf meta;           /* result JSON, empty = store nothing */
	const char *action;        /* "ack", "lpush", "rpush", "none" */
	struct buf push;           /* message or record to push */
	struct buf target;         /* list to push to */
	int slot;                  /* slot to free when done, -1 if none */
	int result_stored;         /* split mode: phase 1 done */
	int in_flight;             /* a command is outstanding */
	int drop_inflight;         /* message never recorded: take it from the in-flight list */
};

struct slot {
	enum slot_state state;
	struct msg *msg;
	pid_t pid;
	int fd;
	struct buf record;
	int record_eof, exited, status;
	struct rusage ru;
	double started, hard_deadline, soft, hard;
	int killed_hard, killed_revoke, killed_shutdown;
	struct finish fin;
	int is_tryon;
	struct tryon_hints hints;  /* what the parent told this try-on job */
};

struct worker {
	const struct config *cfg;
	const struct trust_store *ts;
	struct redis_url broker_url, result_url;
	int same_server;           /* results live on the broker's server */
	struct redis_conn *consume, *cmd, *results;
	struct slot *slots;
	int n_slots, busy;
	struct msg *ready, *ready_tail;
	int n_ready;
	struct msg *eta;           /* sorted by eta */
	int n_eta;
	struct finish *pending;    /* completions without a slot */
	int n_pending;
	int fetching, recovering, recovered_once, n_unrecorded;
	int queue_first;           /* round-robin rotation */
	struct buf inflight_key, held_key;
	int draining, n_term;
	double drain_deadline;
	double started_wall;
	long processed;
	char hostname_origin[300];
	int sig_fd;
	struct slot *child_slot;   /* set in the child only: the job to run */
	struct buf alive_key;
	double next_heartbeat, next_maintenance, next_restore, next_renew;
	pid_t maint_pid;
	int maint_restore;         /* this maintenance run also does restore_visible */
	int maint_reconcile;       /* ... and reconciles our held set */
	double maint_forked_at;    /* wall clock at fork */
	const char **keep;         /* tags we hold, snapshot for the maintenance child */
	int n_keep;
	struct metrics metrics;    /* rendered at GET /metrics */
	struct httpd *httpd;       /* NULL when TRYON_HTTP_ADDR is empty */
	struct sdnotify sd;        /* no-op outside systemd */
	int consuming;             /* announced ready: READY=1 sent, /readyz may pass */
	/* Sampled for /metrics and /health: lengths of each queue's four
	 * priority lists (index 4 * q + step) and of the dead-letter list. */
	struct len_ref { struct worker *w; int idx; } len_refs[CONFIG_MAX_QUEUES * 4 + 1];
	long lens[CONFIG_MAX_QUEUES * 4 + 1];
	char last_error[300];
	/* Remote control and events (Celery's pidbox and celeryev). */
	struct redis_conn *pubsub;
	struct redis_conn *cache;  /* REDIS_CACHE_URL: the cache-hit fast path */
	struct redis_url cache_url;
	int n_lookups;             /* cache lookups in flight (messages in hand) */
	struct tryon_state tryon;  /* breakers, backup latency, spend */
	int64_t clock;             /* Lamport clock shared with Celery peers */
	int task_events;
	double next_event_heartbeat;
	long started_count;        /* tasks started since start ("processed") */
	long *task_totals;         /* per registered task name, for stats */
	char **revoked;            /* ring of revoked ids */
	double *revoked_at;
	int n_revoked, revoked_next;
};

#define MAX_REVOKED 10000

/* worker.c: the loop, slots, dispatch, fetching and finishing. */
void worker_msg_free(struct msg *m);
/* A finish with no slot (NotRegistered, expired, revoked, requeue). */
struct finish *worker_finish_new(void);
/* Queue f (owned by the worker from now on) and start its Redis step. */
void worker_pending_add(struct worker *w, struct finish *f);
int worker_meta_exception_str(struct buf *out, const char *status, const char *task_id,
			      const char *exc_type, const char *exc_module, const char *message,
			      const struct celery_envelope *env);
/* Stop taking work; held messages go back to the front of their queues. */
void worker_start_drain(struct worker *w, double now);

/* worker_control.c: Celery remote control (pidbox) and events. */
void worker_on_pubsub_ready(struct redis_conn *c, void *arg);
void worker_control_message(struct redis_conn *c, struct resp_value *msg, void *arg);
int worker_revoked_index(const struct worker *w, const char *id);
void worker_send_worker_event(struct worker *w, const char *type);
void worker_send_task_event(struct worker *w, struct celery_ctl_task_ev *ev);
void worker_task_event_simple(struct worker *w, int type, const struct msg *m);
void worker_task_event_exc(struct worker *w, int type, const struct msg *m, const char *exc_type,
			   const char *args_json, const char *traceback);

/* worker_maint.c: start-up recovery, liveness, score renewal, dead nodes,
 * visibility restore, queue-length sampling. */
int worker_recover_own(struct worker *w);
void worker_maintenance_tick(struct worker *w, double now);

/* worker_ops.c: the HTTP routes (/metrics, /healthz, /readyz, /health) and
 * try-on metrics. */
void worker_http_handler(void *arg, const char *path, struct httpd_response *r);
void worker_on_model_call(void *arg, enum tryon_model mdl, enum tryon_outcome o, double latency, double cost);

#endif
