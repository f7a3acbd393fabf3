/* outcome: the table of message ends. Pure. */
#include "worker/outcome.h"

#include <stddef.h>

#include "celery/celery_events.h"

#define NO_EVENT (-1)
#define NO_METRIC METRIC_COUNT

static const struct outcome rows[] = {
	/* early ends, decided by the parent */
	[OUTCOME_CAUSE_BAD_MESSAGE] = { "dead_letter", NULL, OUTCOME_STORE_NOTHING, NULL, NULL,
		OUTCOME_DEAD_LETTER, 0, NO_EVENT, METRIC_TASKS_REJECTED, NULL,
		LOG_LEVEL_WARN, "message.dead_lettered", 0 },
	[OUTCOME_CAUSE_UNKNOWN_TASK] = { "not_registered", "FAILURE", OUTCOME_STORE_OWN_EXCEPTION,
		"NotRegistered", "celery.exceptions", OUTCOME_ACK, 0, CELERY_EVENTS_TASK_FAILED,
		METRIC_TASKS_FAILED, "NotRegistered", LOG_LEVEL_ERROR, "task.unknown", 0 },
	[OUTCOME_CAUSE_EXPIRED] = { "expired", "REVOKED", OUTCOME_STORE_OWN_EXCEPTION,
		"TaskRevokedError", "celery.exceptions", OUTCOME_ACK, 0, CELERY_EVENTS_TASK_REVOKED,
		METRIC_TASKS_REVOKED, NULL, LOG_LEVEL_INFO, "task.revoked", 0 },
	[OUTCOME_CAUSE_REVOKED] = { "revoked", "REVOKED", OUTCOME_STORE_OWN_EXCEPTION,
		"TaskRevokedError", "celery.exceptions", OUTCOME_ACK, 0, CELERY_EVENTS_TASK_REVOKED,
		METRIC_TASKS_REVOKED, NULL, LOG_LEVEL_INFO, "task.revoked", 0 },
	[OUTCOME_CAUSE_CACHE_HIT] = { "cache_hit", "SUCCESS", OUTCOME_STORE_RESULT, NULL, NULL,
		OUTCOME_ACK, 0, CELERY_EVENTS_TASK_SUCCEEDED, METRIC_TASKS_SUCCEEDED, NULL,
		LOG_LEVEL_INFO, "task.succeeded", 1 },
	[OUTCOME_CAUSE_INVALID_ARGS] = { "invalid_args", "FAILURE", OUTCOME_STORE_OWN_EXCEPTION,
		"ValueError", "builtins", OUTCOME_ACK, 0, CELERY_EVENTS_TASK_FAILED, METRIC_TASKS_FAILED,
		"ValueError", LOG_LEVEL_WARN, "task.failed", 1 },
	[OUTCOME_CAUSE_NOT_STARTED] = { "requeued", NULL, OUTCOME_STORE_NOTHING, NULL, NULL,
		OUTCOME_REQUEUE_FRONT, 0, NO_EVENT, NO_METRIC, NULL,
		LOG_LEVEL_INFO, "task.requeued", 0 },
	[OUTCOME_CAUSE_INFLIGHT_FOUND] = { "recovered", NULL, OUTCOME_STORE_NOTHING, NULL, NULL,
		OUTCOME_REQUEUE_FRONT, 0, NO_EVENT, NO_METRIC, NULL,
		LOG_LEVEL_INFO, "broker.recovered", 0 },
};

/* Ends after a child, by what happened to it. */
static const struct outcome child_success = { "success", "SUCCESS", OUTCOME_STORE_RESULT, NULL, NULL,
	OUTCOME_ACK, 0, CELERY_EVENTS_TASK_SUCCEEDED, METRIC_TASKS_SUCCEEDED, NULL,
	LOG_LEVEL_INFO, "task.succeeded", 1 };
static const struct outcome child_failure = { "failure", "FAILURE", OUTCOME_STORE_TASK_EXCEPTION, NULL, NULL,
	OUTCOME_ACK, 0, CELERY_EVENTS_TASK_FAILED, METRIC_TASKS_FAILED, NULL,
	LOG_LEVEL_WARN, "task.failed", 1 };
static const struct outcome child_retry = { "retry", "RETRY", OUTCOME_STORE_TASK_EXCEPTION, NULL, NULL,
	OUTCOME_RETRY, 0, CELERY_EVENTS_TASK_RETRIED, METRIC_TASKS_RETRIED, NULL,
	LOG_LEVEL_WARN, "task.retried", 1 };
static const struct outcome child_limit = { "hard_limit", "FAILURE", OUTCOME_STORE_OWN_EXCEPTION, NULL, NULL,
	OUTCOME_ACK, 0, CELERY_EVENTS_TASK_FAILED, METRIC_TASKS_FAILED, NULL,
	LOG_LEVEL_ERROR, "task.failed", 1 };
static const struct outcome child_terminated = { "terminated", "REVOKED", OUTCOME_STORE_OWN_EXCEPTION, NULL, NULL,
	OUTCOME_ACK, 0, CELERY_EVENTS_TASK_REVOKED, METRIC_TASKS_REVOKED, NULL,
	LOG_LEVEL_INFO, "task.revoked", 1 };
static const struct outcome child_lost = { "lost_requeued", NULL, OUTCOME_STORE_NOTHING, NULL, NULL,
	OUTCOME_REQUEUE_BACK, 1, CELERY_EVENTS_TASK_REJECTED, METRIC_TASKS_REJECTED, NULL,
	LOG_LEVEL_WARN, "task.requeued", 1 };
static const struct outcome child_lost_dead = { "lost_dead_lettered", "FAILURE", OUTCOME_STORE_OWN_EXCEPTION, NULL, NULL,
	OUTCOME_DEAD_LETTER, 1, CELERY_EVENTS_TASK_FAILED, METRIC_TASKS_FAILED, NULL,
	LOG_LEVEL_ERROR, "task.failed", 1 };
static const struct outcome child_shutdown = { "requeued_shutdown", NULL, OUTCOME_STORE_NOTHING, NULL, NULL,
	OUTCOME_REQUEUE_FRONT, 0, NO_EVENT, NO_METRIC, NULL,
	LOG_LEVEL_INFO, "task.requeued", 1 };

static void decide_child(const struct outcome_facts *f, struct outcome *o)
{
	static const struct exit_verdict lost = {
		EXIT_CLASS_NO_RECORD, "no_record", NULL, "WorkerLostError", "billiard.exceptions", 1, 0,
	};
	const struct exit_verdict *v = f->verdict ? f->verdict : &lost;

	/* Shutdown: a job we killed at the end of the grace never finished;
	 * it goes back untouched and is not counted as a loss. */
	if (f->killed_for_shutdown && !f->has_record) {
		*o = child_shutdown;
		return;
	}
	if (v->requeue) {
		/* reject_on_worker_lost, bounded so a poison message cannot
		 * kill workers forever. */
		*o = f->deliveries + 1 >= f->max_redeliveries ? child_lost_dead : child_lost;
		if (o->state) {
			o->exc_type = o->metric_exc = v->exc_type;
			o->exc_module = v->exc_module;
		}
		return;
	}
	switch (v->cls) {
	case EXIT_CLASS_SUCCESS:
		*o = child_success;
		return;
	case EXIT_CLASS_HARD_LIMIT:
		*o = child_limit;
		break;
	case EXIT_CLASS_REVOKED:
		*o = child_terminated;
		break;
	default:
		/* The task's own exception (soft limit and memory cap included):
		 * retried Celery's way while it asks for it and may. */
		*o = f->retry_wanted && f->retries < f->max_retries ? child_retry : child_failure;
		if (o->move != OUTCOME_RETRY)
			o->name = v->label;
		return;
	}
	o->exc_type = o->metric_exc = v->exc_type;
	o->exc_module = v->exc_module;
}

void outcome_decide(const struct outcome_facts *f, struct outcome *o)
{
	if (f->cause == OUTCOME_CAUSE_CHILD || (unsigned)f->cause >= OUTCOME_N_CAUSES) {
		decide_child(f, o);
		return;
	}
	*o = rows[f->cause];
	switch (f->cause) {
	case OUTCOME_CAUSE_BAD_MESSAGE:
		if (f->id_known) {
			o->state = "FAILURE";
			o->store = OUTCOME_STORE_OWN_EXCEPTION;
			o->exc_type = f->content_refused ? "ContentDisallowed" : "DecodeError";
			o->exc_module = "kombu.exceptions";
		}
		break;
	case OUTCOME_CAUSE_INVALID_ARGS:
		if (f->type_error)
			o->exc_type = o->metric_exc = "TypeError";
		break;
	default:
		break;
	}
}

const char *outcome_move_action(enum outcome_move m)
{
	switch (m) {
	case OUTCOME_REQUEUE_FRONT:
		return "rpush";
	case OUTCOME_REQUEUE_BACK:
	case OUTCOME_RETRY:
	case OUTCOME_DEAD_LETTER:
		return "lpush";
	case OUTCOME_ACK:
	default:
		return "ack";
	}
}
