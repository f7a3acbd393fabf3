/* finish: carrying out how a message ends. finish_end takes a message and
 * its outcome (worker/outcome.h, the one place that decides), builds what
 * Redis must get (result meta; ack, requeue, retry or dead-letter push),
 * reports it (event, metric, log line) and starts the Redis steps, which
 * then advance through enum finish_phase from the loop (finish_advance).
 * Every step is one atomic script (redis/scripts.h). Out of memory is
 * handled one way: the message is let go from memory with an error line
 * and stays in Redis, where reconciliation (recorded) or in-flight recovery
 * (not recorded) puts it back. Calls worker/events only. */
#ifndef TRYON_WORKER_FINISH_H
#define TRYON_WORKER_FINISH_H
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "worker/outcome.h"
#include "worker/state.h"

/* What the outcome's texts need; fields unused by an outcome may be left
 * zero. Borrowed for the duration of the call. */
struct finish_detail {
	const char *result_json;       /* STORE_RESULT: the value, as JSON */
	size_t result_len;
	const char *result_repr;       /* task-succeeded's repr of the value; NULL = None */
	const char *exc_type;          /* STORE_TASK_EXCEPTION: the record's exception */
	const char *exc_module;
	const char *exc_args_json;     /* the exception's args as a JSON array; NULL = [reason] */
	const char *traceback;
	const char *reason;            /* own exception's message, dead-letter reason */
	const struct buf *retry_message; /* OUTCOME_RETRY: the new message (retries + 1, eta) */
	const char *retry_eta;
	double retry_countdown;
	const char *exit_label;        /* after a child: exitclass's label (log "exit=") */
	int signum;                    /* terminated by this signal */
	double runtime;                /* seconds; < 0 when not measured */
	const char *path;              /* how it was answered, e.g. "cache" (log "path=") */
};

/* End m (ownership passes to the finish) with outcome o. slot >= 0: m ran
 * in that slot, which is freed once Redis has everything; -1: no slot. */
void finish_end(struct worker *w, struct msg *m, int slot, const struct outcome *o,
		const struct finish_detail *d);

/* From the loop: issue the next step of every finish whose connection is
 * ready; free finished ones (and their slots). */
void finish_advance(struct worker *w);

/* At exit: free every finish and its message; Redis keeps them (recorded
 * or in-flight) for recovery at the next start. */
void finish_release_all(struct worker *w);
#endif
