/* exitclass: how a job child ended, decided in one pure function with a
 * table test. Inputs are facts the parent observed (wait status, whether it
 * killed the child itself, the child's one result record); the verdict says
 * which Celery state and exception to store, whether the message is requeued
 * as "worker lost", and the label used in logs and metrics. */
#ifndef TRYON_EXITCLASS_H
#define TRYON_EXITCLASS_H

enum exit_class {
	EXIT_CLASS_SUCCESS,
	EXIT_CLASS_TASK_EXCEPTION,
	EXIT_CLASS_SOFT_LIMIT,
	EXIT_CLASS_HARD_LIMIT,     /* we SIGKILLed it at the hard limit */
	EXIT_CLASS_MEMORY_CAP,     /* an allocation failed under RLIMIT_AS */
	EXIT_CLASS_KILLED,         /* a signal from someone else (OOM killer, operator) */
	EXIT_CLASS_CRASHED,        /* SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE */
	EXIT_CLASS_NO_RECORD,      /* exited without writing its record */
	EXIT_CLASS_REVOKED,        /* we terminated it for a revoke */
	EXIT_CLASS_COUNT
};

enum exit_record { EXIT_RECORD_NONE, EXIT_RECORD_SUCCESS, EXIT_RECORD_FAILURE };

struct exit_facts {
	int wait_status;          /* from waitpid */
	int killed_for_hard_limit;
	int killed_for_revoke;
	enum exit_record record;
	const char *exc_type;     /* from a failure record, else NULL */
};

struct exit_verdict {
	enum exit_class cls;
	const char *label;        /* "success", "task_exception", ... */
	const char *state;        /* "SUCCESS", "FAILURE", "REVOKED", or NULL when requeued */
	const char *exc_type;     /* for FAILURE/REVOKED when the parent makes the exception */
	const char *exc_module;
	int requeue;              /* worker lost: requeue (bounded by max redeliveries) */
	int use_record;           /* store the child's own result/exception */
};

void exit_classify(const struct exit_facts *f, struct exit_verdict *v);
const char *exit_class_label(enum exit_class c);
#endif
