/* exitclass: the exit classification table. Pure. */
#include "celery/exitclass.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

static const char *const labels[EXIT_CLASS_COUNT] = {
	"success", "task_exception", "soft_limit", "hard_limit", "memory_cap",
	"killed", "crashed", "no_record", "revoked",
};

const char *exit_class_label(enum exit_class c)
{
	return c >= 0 && c < EXIT_CLASS_COUNT ? labels[c] : "unknown";
}

static void set(struct exit_verdict *v, enum exit_class c, const char *state,
		const char *exc_type, const char *exc_module, int requeue, int use_record)
{
	v->cls = c;
	v->label = labels[c];
	v->state = state;
	v->exc_type = exc_type;
	v->exc_module = exc_module;
	v->requeue = requeue;
	v->use_record = use_record;
}

void exit_classify(const struct exit_facts *f, struct exit_verdict *v)
{
	int st = f->wait_status;

	/* What we did ourselves decides first: a record written just before
	 * our SIGKILL does not make a hard-limit kill a success. */
	if (f->killed_for_revoke) {
		set(v, EXIT_CLASS_REVOKED, "REVOKED", "TaskRevokedError", "celery.exceptions", 0, 0);
		return;
	}
	if (f->killed_for_hard_limit && !(f->record != EXIT_RECORD_NONE && WIFEXITED(st))) {
		set(v, EXIT_CLASS_HARD_LIMIT, "FAILURE", "TimeLimitExceeded", "billiard.exceptions", 0, 0);
		return;
	}
	if (f->record == EXIT_RECORD_SUCCESS) {
		set(v, EXIT_CLASS_SUCCESS, "SUCCESS", NULL, NULL, 0, 1);
		return;
	}
	if (f->record == EXIT_RECORD_FAILURE) {
		const char *t = f->exc_type ? f->exc_type : "";
		if (!strcmp(t, "SoftTimeLimitExceeded"))
			set(v, EXIT_CLASS_SOFT_LIMIT, "FAILURE", NULL, NULL, 0, 1);
		else if (!strcmp(t, "MemoryError"))
			set(v, EXIT_CLASS_MEMORY_CAP, "FAILURE", NULL, NULL, 0, 1);
		else
			set(v, EXIT_CLASS_TASK_EXCEPTION, "FAILURE", NULL, NULL, 0, 1);
		return;
	}
	/* No record: the worker was lost; requeue like reject_on_worker_lost. */
	if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		if (sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS || sig == SIGILL ||
		    sig == SIGFPE || sig == SIGSYS || sig == SIGTRAP)
			set(v, EXIT_CLASS_CRASHED, NULL, "WorkerLostError", "billiard.exceptions", 1, 0);
		else
			set(v, EXIT_CLASS_KILLED, NULL, "WorkerLostError", "billiard.exceptions", 1, 0);
		return;
	}
	set(v, EXIT_CLASS_NO_RECORD, NULL, "WorkerLostError", "billiard.exceptions", 1, 0);
}
