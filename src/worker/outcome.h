/* outcome: how a message ends, decided in one pure function with a table
 * test (tests/unit/test_outcome.c). Every end of every message goes through
 * outcome_decide: the early ends the parent decides before any child (bad
 * message, unknown task, expired, revoked, cache hit, invalid arguments, not
 * started at shutdown, found in our in-flight list) and the ends after a
 * child (exitclass's verdict, the record's retry wish, retry and delivery
 * counts). The outcome says which Celery state and exception to store, what
 * happens to the message in Redis, and which event, metric and log line
 * report it; worker/finish.c carries it out. No I/O, no allocation. */
#ifndef TRYON_OUTCOME_H
#define TRYON_OUTCOME_H
#include <stdint.h>

#include "celery/exitclass.h"
#include "lib/log.h"
#include "ops/metrics.h"

enum outcome_cause {
	OUTCOME_CAUSE_BAD_MESSAGE,    /* undecodable or incomplete envelope */
	OUTCOME_CAUSE_UNKNOWN_TASK,   /* task name not registered */
	OUTCOME_CAUSE_EXPIRED,        /* its expires is past */
	OUTCOME_CAUSE_REVOKED,        /* revoked before it started */
	OUTCOME_CAUSE_CACHE_HIT,      /* try-on answered from the cache by the parent */
	OUTCOME_CAUSE_INVALID_ARGS,   /* try-on arguments refused by the parent */
	OUTCOME_CAUSE_NOT_STARTED,    /* held but not started when we stop */
	OUTCOME_CAUSE_INFLIGHT_FOUND, /* in our in-flight list at start: never recorded, never ran */
	OUTCOME_CAUSE_CHILD,          /* a job child ran: see the verdict */
	OUTCOME_N_CAUSES
};

/* What happens to the message in the broker. */
enum outcome_move {
	OUTCOME_ACK,            /* done: removed from unacked */
	OUTCOME_REQUEUE_BACK,   /* back to its queue behind the others (kombu's reject(requeue=True)) */
	OUTCOME_REQUEUE_FRONT,  /* back to the front, to be taken next (kombu's restore) */
	OUTCOME_RETRY,          /* acked; a new message (same id, retries + 1, eta) is queued */
	OUTCOME_DEAD_LETTER     /* acked; a record with the message goes to the dead-letter list */
};

/* What the result backend gets. */
enum outcome_store {
	OUTCOME_STORE_NOTHING,
	OUTCOME_STORE_RESULT,          /* SUCCESS with the child's or the cache's value */
	OUTCOME_STORE_TASK_EXCEPTION,  /* the child's own exception (type, module, args, traceback) */
	OUTCOME_STORE_OWN_EXCEPTION    /* an exception the parent makes: exc_type, exc_module */
};

struct outcome_facts {
	enum outcome_cause cause;
	/* OUTCOME_CAUSE_BAD_MESSAGE */
	int id_known;                  /* the task id could be read: store FAILURE for it */
	int content_refused;           /* content type is not application/json */
	/* OUTCOME_CAUSE_INVALID_ARGS */
	int type_error;                /* TypeError (a bad call), else ValueError (a bad value) */
	/* OUTCOME_CAUSE_CHILD */
	const struct exit_verdict *verdict;
	int killed_for_shutdown;       /* we SIGKILLed it at the end of the shutdown grace */
	int has_record;                /* it wrote its record */
	int retry_wanted;              /* the record asks for a retry */
	int64_t retries;               /* the message's retries so far */
	int max_retries;
	int64_t deliveries;            /* times it was delivered and lost before this one */
	int max_redeliveries;
};

struct outcome {
	const char *name;              /* row name: "success", "retry", "lost_requeued", ... */
	const char *state;             /* SUCCESS FAILURE REVOKED RETRY, or NULL (stored nothing) */
	enum outcome_store store;
	const char *exc_type;          /* OUTCOME_STORE_OWN_EXCEPTION: the exception made */
	const char *exc_module;
	enum outcome_move move;
	int count_delivery;            /* requeue with the delivery count + 1 */
	int event;                     /* CELERY_EVENTS_TASK_* task event, or -1 for none */
	enum metric_id metric;         /* METRIC_TASKS_*, or METRIC_COUNT for none */
	const char *metric_exc;        /* tasks_failed's exception label; NULL = the record's type */
	enum log_level level;
	const char *log_event;         /* "task.succeeded", "message.dead_lettered", ... */
	int finished;                  /* counts as a task this worker ran to its end (stats total) */
};

/* Decide the end of a message from facts. Total: every combination gives
 * a defined outcome (a CHILD cause without a verdict is treated as a lost
 * worker). */
void outcome_decide(const struct outcome_facts *f, struct outcome *o);

/* "ack", "lpush" or "rpush": the FINISH script's action for a move. */
const char *outcome_move_action(enum outcome_move m);
#endif
