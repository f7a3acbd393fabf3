/* dispatch: what happens to a recorded message before it runs. Early ends
 * go through the outcome table (revoked, unknown task, expired, invalid
 * try-on arguments, not started while draining); ETA messages wait in the
 * ETA list; a try-on is looked up in the cache by the parent and a hit is
 * answered without a child; everything else waits in the ready list and
 * starts when a slot is free. Calls worker/jobs, worker/finish and
 * worker/events. */
#ifndef TRYON_WORKER_DISPATCH_H
#define TRYON_WORKER_DISPATCH_H
#include "worker/state.h"

/* m was just recorded (ownership passes here). */
void dispatch_message(struct worker *w, struct msg *m);
/* A parsed message not yet recorded: a try-on due now gets its cache GET
 * sent at once (its answer waits for admission; worker/state.h, struct
 * lookup). Anything else is left as it is. */
void dispatch_prelookup(struct worker *w, struct msg *m);
/* Move due ETA messages on, start ready ones in free slots. */
void dispatch_run_ready(struct worker *w);
/* End m early with cause (NOT_STARTED, REVOKED, ...); reason is the
 * exception's text or the log's. Ownership passes. */
void dispatch_end_early(struct worker *w, struct msg *m, enum outcome_cause cause, const char *reason);
/* Draining: every held message not started goes back to the front. */
void dispatch_requeue_held(struct worker *w);
#endif
