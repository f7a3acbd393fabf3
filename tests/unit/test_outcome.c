/* test_outcome: every way a message can end, as one table through
 * outcome_decide (with exit_classify making the child verdicts). */
#include <signal.h>
#include <string.h>

#include "celery/celery_events.h"
#include "celery/exitclass.h"
#include "harness.h"
#include "worker/outcome.h"

#define W_EXIT(code) ((code) << 8)
#define W_SIG(sig) (sig)

enum { NONE = -1 };

struct row {
	const char *what;
	/* facts */
	enum outcome_cause cause;
	int id_known, content_refused, type_error;
	/* child facts: wait status, our kills, record, exception, retry wish */
	int status, hard, revoke, shutdown;
	enum exit_record record;
	const char *rec_exc;
	int retry_wanted;
	int64_t retries, deliveries;
	/* expected */
	const char *name, *state;
	enum outcome_store store;
	const char *exc_type, *exc_module;
	enum outcome_move move;
	int count_delivery, event;
	enum metric_id metric;
	const char *metric_exc;
	enum log_level level;
	const char *log_event;
	int finished;
};

#define EARLY(c) .cause = (c)
#define CHILD .cause = OUTCOME_CAUSE_CHILD

static const struct row rows[] = {
	/* early ends */
	{ "bad message, id unknown", EARLY(OUTCOME_CAUSE_BAD_MESSAGE),
	  .name = "dead_letter", .state = NULL, .store = OUTCOME_STORE_NOTHING, .move = OUTCOME_DEAD_LETTER,
	  .event = NONE, .metric = METRIC_TASKS_REJECTED, .level = LOG_LEVEL_WARN,
	  .log_event = "message.dead_lettered" },
	{ "bad message, id known", EARLY(OUTCOME_CAUSE_BAD_MESSAGE), .id_known = 1,
	  .name = "dead_letter", .state = "FAILURE", .store = OUTCOME_STORE_OWN_EXCEPTION,
	  .exc_type = "DecodeError", .exc_module = "kombu.exceptions", .move = OUTCOME_DEAD_LETTER,
	  .event = NONE, .metric = METRIC_TASKS_REJECTED, .level = LOG_LEVEL_WARN,
	  .log_event = "message.dead_lettered" },
	{ "refused content type", EARLY(OUTCOME_CAUSE_BAD_MESSAGE), .id_known = 1, .content_refused = 1,
	  .name = "dead_letter", .state = "FAILURE", .store = OUTCOME_STORE_OWN_EXCEPTION,
	  .exc_type = "ContentDisallowed", .exc_module = "kombu.exceptions", .move = OUTCOME_DEAD_LETTER,
	  .event = NONE, .metric = METRIC_TASKS_REJECTED, .level = LOG_LEVEL_WARN,
	  .log_event = "message.dead_lettered" },
	{ "unknown task", EARLY(OUTCOME_CAUSE_UNKNOWN_TASK),
	  .name = "not_registered", .state = "FAILURE", .store = OUTCOME_STORE_OWN_EXCEPTION,
	  .exc_type = "NotRegistered", .exc_module = "celery.exceptions", .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_FAILED, .metric = METRIC_TASKS_FAILED, .metric_exc = "NotRegistered",
	  .level = LOG_LEVEL_ERROR, .log_event = "task.unknown" },
	{ "expired", EARLY(OUTCOME_CAUSE_EXPIRED),
	  .name = "expired", .state = "REVOKED", .store = OUTCOME_STORE_OWN_EXCEPTION,
	  .exc_type = "TaskRevokedError", .exc_module = "celery.exceptions", .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_REVOKED, .metric = METRIC_TASKS_REVOKED, .level = LOG_LEVEL_INFO,
	  .log_event = "task.revoked" },
	{ "revoked before start", EARLY(OUTCOME_CAUSE_REVOKED),
	  .name = "revoked", .state = "REVOKED", .store = OUTCOME_STORE_OWN_EXCEPTION,
	  .exc_type = "TaskRevokedError", .exc_module = "celery.exceptions", .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_REVOKED, .metric = METRIC_TASKS_REVOKED, .level = LOG_LEVEL_INFO,
	  .log_event = "task.revoked" },
	{ "cache hit", EARLY(OUTCOME_CAUSE_CACHE_HIT),
	  .name = "cache_hit", .state = "SUCCESS", .store = OUTCOME_STORE_RESULT, .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_SUCCEEDED, .metric = METRIC_TASKS_SUCCEEDED, .level = LOG_LEVEL_INFO,
	  .log_event = "task.succeeded", .finished = 1 },
	{ "invalid arguments: a bad call", EARLY(OUTCOME_CAUSE_INVALID_ARGS), .type_error = 1,
	  .name = "invalid_args", .state = "FAILURE", .store = OUTCOME_STORE_OWN_EXCEPTION,
	  .exc_type = "TypeError", .exc_module = "builtins", .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_FAILED, .metric = METRIC_TASKS_FAILED, .metric_exc = "TypeError",
	  .level = LOG_LEVEL_WARN, .log_event = "task.failed", .finished = 1 },
	{ "invalid arguments: a bad value", EARLY(OUTCOME_CAUSE_INVALID_ARGS),
	  .name = "invalid_args", .state = "FAILURE", .store = OUTCOME_STORE_OWN_EXCEPTION,
	  .exc_type = "ValueError", .exc_module = "builtins", .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_FAILED, .metric = METRIC_TASKS_FAILED, .metric_exc = "ValueError",
	  .level = LOG_LEVEL_WARN, .log_event = "task.failed", .finished = 1 },
	{ "not started at shutdown", EARLY(OUTCOME_CAUSE_NOT_STARTED),
	  .name = "requeued", .store = OUTCOME_STORE_NOTHING, .move = OUTCOME_REQUEUE_FRONT,
	  .event = NONE, .metric = METRIC_COUNT, .level = LOG_LEVEL_INFO, .log_event = "task.requeued" },
	{ "found in our in-flight list", EARLY(OUTCOME_CAUSE_INFLIGHT_FOUND),
	  .name = "recovered", .store = OUTCOME_STORE_NOTHING, .move = OUTCOME_REQUEUE_FRONT,
	  .event = NONE, .metric = METRIC_COUNT, .level = LOG_LEVEL_INFO, .log_event = "broker.recovered" },
	/* after a child */
	{ "success", CHILD, .status = W_EXIT(0), .record = EXIT_RECORD_SUCCESS,
	  .name = "success", .state = "SUCCESS", .store = OUTCOME_STORE_RESULT, .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_SUCCEEDED, .metric = METRIC_TASKS_SUCCEEDED, .level = LOG_LEVEL_INFO,
	  .log_event = "task.succeeded", .finished = 1 },
	{ "task exception, not retryable", CHILD, .status = W_EXIT(0), .record = EXIT_RECORD_FAILURE,
	  .rec_exc = "ValueError",
	  .name = "task_exception", .state = "FAILURE", .store = OUTCOME_STORE_TASK_EXCEPTION, .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_FAILED, .metric = METRIC_TASKS_FAILED, .level = LOG_LEVEL_WARN,
	  .log_event = "task.failed", .finished = 1 },
	{ "task exception, retry", CHILD, .status = W_EXIT(0), .record = EXIT_RECORD_FAILURE,
	  .rec_exc = "RuntimeError", .retry_wanted = 1, .retries = 0,
	  .name = "retry", .state = "RETRY", .store = OUTCOME_STORE_TASK_EXCEPTION, .move = OUTCOME_RETRY,
	  .event = CELERY_EVENTS_TASK_RETRIED, .metric = METRIC_TASKS_RETRIED, .level = LOG_LEVEL_WARN,
	  .log_event = "task.retried", .finished = 1 },
	{ "task exception, retries used up", CHILD, .status = W_EXIT(0), .record = EXIT_RECORD_FAILURE,
	  .rec_exc = "RuntimeError", .retry_wanted = 1, .retries = 1,
	  .name = "task_exception", .state = "FAILURE", .store = OUTCOME_STORE_TASK_EXCEPTION, .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_FAILED, .metric = METRIC_TASKS_FAILED, .level = LOG_LEVEL_WARN,
	  .log_event = "task.failed", .finished = 1 },
	{ "soft limit", CHILD, .status = W_EXIT(0), .record = EXIT_RECORD_FAILURE,
	  .rec_exc = "SoftTimeLimitExceeded",
	  .name = "soft_limit", .state = "FAILURE", .store = OUTCOME_STORE_TASK_EXCEPTION, .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_FAILED, .metric = METRIC_TASKS_FAILED, .level = LOG_LEVEL_WARN,
	  .log_event = "task.failed", .finished = 1 },
	{ "soft limit, retry", CHILD, .status = W_EXIT(0), .record = EXIT_RECORD_FAILURE,
	  .rec_exc = "SoftTimeLimitExceeded", .retry_wanted = 1,
	  .name = "retry", .state = "RETRY", .store = OUTCOME_STORE_TASK_EXCEPTION, .move = OUTCOME_RETRY,
	  .event = CELERY_EVENTS_TASK_RETRIED, .metric = METRIC_TASKS_RETRIED, .level = LOG_LEVEL_WARN,
	  .log_event = "task.retried", .finished = 1 },
	{ "memory cap", CHILD, .status = W_EXIT(0), .record = EXIT_RECORD_FAILURE, .rec_exc = "MemoryError",
	  .name = "memory_cap", .state = "FAILURE", .store = OUTCOME_STORE_TASK_EXCEPTION, .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_FAILED, .metric = METRIC_TASKS_FAILED, .level = LOG_LEVEL_WARN,
	  .log_event = "task.failed", .finished = 1 },
	{ "hard limit", CHILD, .status = W_SIG(SIGKILL), .hard = 1,
	  .name = "hard_limit", .state = "FAILURE", .store = OUTCOME_STORE_OWN_EXCEPTION,
	  .exc_type = "TimeLimitExceeded", .exc_module = "billiard.exceptions", .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_FAILED, .metric = METRIC_TASKS_FAILED, .metric_exc = "TimeLimitExceeded",
	  .level = LOG_LEVEL_ERROR, .log_event = "task.failed", .finished = 1 },
	{ "terminated by revoke", CHILD, .status = W_SIG(SIGTERM), .revoke = 1,
	  .name = "terminated", .state = "REVOKED", .store = OUTCOME_STORE_OWN_EXCEPTION,
	  .exc_type = "TaskRevokedError", .exc_module = "celery.exceptions", .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_REVOKED, .metric = METRIC_TASKS_REVOKED, .metric_exc = "TaskRevokedError",
	  .level = LOG_LEVEL_INFO, .log_event = "task.revoked", .finished = 1 },
	{ "lost (killed by someone else), requeued", CHILD, .status = W_SIG(SIGKILL), .deliveries = 0,
	  .name = "lost_requeued", .store = OUTCOME_STORE_NOTHING, .move = OUTCOME_REQUEUE_BACK,
	  .count_delivery = 1, .event = CELERY_EVENTS_TASK_REJECTED, .metric = METRIC_TASKS_REJECTED,
	  .level = LOG_LEVEL_WARN, .log_event = "task.requeued", .finished = 1 },
	{ "lost (crashed), requeued", CHILD, .status = W_SIG(SIGSEGV), .deliveries = 1,
	  .name = "lost_requeued", .store = OUTCOME_STORE_NOTHING, .move = OUTCOME_REQUEUE_BACK,
	  .count_delivery = 1, .event = CELERY_EVENTS_TASK_REJECTED, .metric = METRIC_TASKS_REJECTED,
	  .level = LOG_LEVEL_WARN, .log_event = "task.requeued", .finished = 1 },
	{ "lost too often: dead-lettered", CHILD, .status = W_EXIT(3), .deliveries = 2,
	  .name = "lost_dead_lettered", .state = "FAILURE", .store = OUTCOME_STORE_OWN_EXCEPTION,
	  .exc_type = "WorkerLostError", .exc_module = "billiard.exceptions", .move = OUTCOME_DEAD_LETTER,
	  .count_delivery = 1, .event = CELERY_EVENTS_TASK_FAILED, .metric = METRIC_TASKS_FAILED,
	  .metric_exc = "WorkerLostError", .level = LOG_LEVEL_ERROR, .log_event = "task.failed", .finished = 1 },
	{ "killed at the end of the shutdown grace", CHILD, .status = W_SIG(SIGKILL), .shutdown = 1,
	  .name = "requeued_shutdown", .store = OUTCOME_STORE_NOTHING, .move = OUTCOME_REQUEUE_FRONT,
	  .event = NONE, .metric = METRIC_COUNT, .level = LOG_LEVEL_INFO, .log_event = "task.requeued",
	  .finished = 1 },
	{ "shutdown kill after its record: the record counts", CHILD, .status = W_SIG(SIGKILL), .shutdown = 1,
	  .record = EXIT_RECORD_SUCCESS,
	  .name = "success", .state = "SUCCESS", .store = OUTCOME_STORE_RESULT, .move = OUTCOME_ACK,
	  .event = CELERY_EVENTS_TASK_SUCCEEDED, .metric = METRIC_TASKS_SUCCEEDED, .level = LOG_LEVEL_INFO,
	  .log_event = "task.succeeded", .finished = 1 },
};

static int streq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static void test_table(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		struct exit_facts ef = { r->status, r->hard, r->revoke, r->record, r->rec_exc };
		struct exit_verdict v;
		exit_classify(&ef, &v);
		struct outcome_facts f = {
			.cause = r->cause, .id_known = r->id_known, .content_refused = r->content_refused,
			.type_error = r->type_error, .verdict = &v, .killed_for_shutdown = r->shutdown,
			.has_record = r->record != EXIT_RECORD_NONE, .retry_wanted = r->retry_wanted,
			.retries = r->retries, .max_retries = 1, .deliveries = r->deliveries, .max_redeliveries = 3,
		};
		struct outcome o;
		outcome_decide(&f, &o);
		int ok = streq(o.name, r->name) && streq(o.state, r->state) && o.store == r->store &&
			 streq(o.exc_type, r->exc_type) && streq(o.exc_module, r->exc_module) &&
			 o.move == r->move && o.count_delivery == r->count_delivery && o.event == r->event &&
			 o.metric == r->metric && streq(o.metric_exc, r->metric_exc) && o.level == r->level &&
			 streq(o.log_event, r->log_event) && o.finished == r->finished;
		if (!ok)
			fprintf(stderr, "row %zu (%s): got name=%s state=%s store=%d exc=%s/%s move=%d count=%d "
				"event=%d metric=%d metric_exc=%s level=%d log=%s finished=%d\n", i, r->what, o.name,
				o.state ? o.state : "-", o.store, o.exc_type ? o.exc_type : "-",
				o.exc_module ? o.exc_module : "-", o.move, o.count_delivery, o.event, o.metric,
				o.metric_exc ? o.metric_exc : "-", o.level, o.log_event, o.finished);
		CHECK(ok);
	}
}

/* A child cause without a verdict is a lost worker, not a crash here. */
static void test_child_without_verdict(void)
{
	struct outcome_facts f = { .cause = OUTCOME_CAUSE_CHILD, .max_redeliveries = 3 };
	struct outcome o;
	outcome_decide(&f, &o);
	CHECK(!strcmp(o.name, "lost_requeued") && o.move == OUTCOME_REQUEUE_BACK && o.count_delivery);
	f.cause = (enum outcome_cause)1000;   /* out of range: treated the same way */
	outcome_decide(&f, &o);
	CHECK(!strcmp(o.name, "lost_requeued"));
}

static void test_move_actions(void)
{
	CHECK(!strcmp(outcome_move_action(OUTCOME_ACK), "ack"));
	CHECK(!strcmp(outcome_move_action(OUTCOME_REQUEUE_BACK), "lpush"));
	CHECK(!strcmp(outcome_move_action(OUTCOME_REQUEUE_FRONT), "rpush"));
	CHECK(!strcmp(outcome_move_action(OUTCOME_RETRY), "lpush"));
	CHECK(!strcmp(outcome_move_action(OUTCOME_DEAD_LETTER), "lpush"));
}

int main(void)
{
	RUN(test_table);
	RUN(test_child_without_verdict);
	RUN(test_move_actions);
	return harness_report();
}
