/* Table test of the exit classification. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "celery/exitclass.h"
#include "harness.h"

/* Build wait statuses the way the kernel reports them. */
#define EXITED(code) (((code) & 0xff) << 8)
#define SIGNALED(sig) ((sig) & 0x7f)

struct row {
	int status, hard, revoke;
	enum exit_record rec;
	const char *exc;
	enum exit_class want;
	const char *state;
	int requeue;
};

static const struct row rows[] = {
	{ EXITED(0), 0, 0, EXIT_RECORD_SUCCESS, NULL, EXIT_CLASS_SUCCESS, "SUCCESS", 0 },
	{ EXITED(0), 0, 0, EXIT_RECORD_FAILURE, "ValueError", EXIT_CLASS_TASK_EXCEPTION, "FAILURE", 0 },
	{ EXITED(0), 0, 0, EXIT_RECORD_FAILURE, "SoftTimeLimitExceeded", EXIT_CLASS_SOFT_LIMIT, "FAILURE", 0 },
	{ EXITED(0), 0, 0, EXIT_RECORD_FAILURE, "MemoryError", EXIT_CLASS_MEMORY_CAP, "FAILURE", 0 },
	{ SIGNALED(SIGKILL), 1, 0, EXIT_RECORD_NONE, NULL, EXIT_CLASS_HARD_LIMIT, "FAILURE", 0 },
	{ SIGNALED(SIGKILL), 1, 0, EXIT_RECORD_SUCCESS, NULL, EXIT_CLASS_HARD_LIMIT, "FAILURE", 0 },
	{ EXITED(0), 1, 0, EXIT_RECORD_SUCCESS, NULL, EXIT_CLASS_SUCCESS, "SUCCESS", 0 },
	{ SIGNALED(SIGKILL), 0, 0, EXIT_RECORD_NONE, NULL, EXIT_CLASS_KILLED, NULL, 1 },
	{ SIGNALED(SIGTERM), 0, 0, EXIT_RECORD_NONE, NULL, EXIT_CLASS_KILLED, NULL, 1 },
	{ SIGNALED(SIGSEGV), 0, 0, EXIT_RECORD_NONE, NULL, EXIT_CLASS_CRASHED, NULL, 1 },
	{ SIGNALED(SIGABRT), 0, 0, EXIT_RECORD_NONE, NULL, EXIT_CLASS_CRASHED, NULL, 1 },
	{ SIGNALED(SIGBUS), 0, 0, EXIT_RECORD_NONE, NULL, EXIT_CLASS_CRASHED, NULL, 1 },
	{ EXITED(1), 0, 0, EXIT_RECORD_NONE, NULL, EXIT_CLASS_NO_RECORD, NULL, 1 },
	{ EXITED(0), 0, 0, EXIT_RECORD_NONE, NULL, EXIT_CLASS_NO_RECORD, NULL, 1 },
	{ SIGNALED(SIGKILL), 0, 1, EXIT_RECORD_NONE, NULL, EXIT_CLASS_REVOKED, "REVOKED", 0 },
	{ SIGNALED(SIGKILL), 1, 1, EXIT_RECORD_SUCCESS, NULL, EXIT_CLASS_REVOKED, "REVOKED", 0 },
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		struct exit_facts f = { r->status, r->hard, r->revoke, r->rec, r->exc };
		struct exit_verdict v;
		exit_classify(&f, &v);
		if (v.cls != r->want || v.requeue != r->requeue ||
		    (r->state ? !v.state || strcmp(v.state, r->state) : v.state != NULL)) {
			fprintf(stderr, "row %zu: got class %s state %s requeue %d\n", i, v.label,
				v.state ? v.state : "(null)", v.requeue);
			CHECK(0);
		}
		CHECK(!strcmp(v.label, exit_class_label(v.cls)));
	}
}

static void test_exception_classes(void)
{
	struct exit_facts f = { SIGNALED(SIGKILL), 1, 0, EXIT_RECORD_NONE, NULL };
	struct exit_verdict v;
	exit_classify(&f, &v);
	CHECK(!strcmp(v.exc_type, "TimeLimitExceeded") && !strcmp(v.exc_module, "billiard.exceptions"));
	f.killed_for_hard_limit = 0;
	exit_classify(&f, &v);
	CHECK(!strcmp(v.exc_type, "WorkerLostError") && !strcmp(v.exc_module, "billiard.exceptions"));
	f.killed_for_revoke = 1;
	exit_classify(&f, &v);
	CHECK(!strcmp(v.exc_type, "TaskRevokedError") && !strcmp(v.exc_module, "celery.exceptions"));
	CHECK(!strcmp(exit_class_label(EXIT_CLASS_COUNT), "unknown"));
}

int main(void)
{
	RUN(test_table);
	RUN(test_exception_classes);
	return harness_report();
}
