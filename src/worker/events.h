/* events: the worker's Celery events (celeryev): worker-online, heartbeat
 * and offline, and task events while they are enabled. Fire and forget on
 * the command connection, as in Celery: nothing waits for them and a
 * connection that is down drops them. Calls nothing else in src/worker/. */
#ifndef TRYON_WORKER_EVENTS_H
#define TRYON_WORKER_EVENTS_H
#include "celery/celery_events.h"
#include "worker/state.h"

/* type: "worker-online", "worker-heartbeat", "worker-offline". */
void events_worker(struct worker *w, const char *type);
/* Any task event (sent only while task events are enabled). */
void events_task(struct worker *w, struct celery_events_task *ev);
/* task-received (with the message's details) or task-started. */
void events_task_simple(struct worker *w, int type, const struct msg *m);
/* task-failed / task-retried: exception repr from exc_type and its args
 * (a JSON array; NULL = []), with the traceback text. */
void events_task_exc(struct worker *w, int type, const struct msg *m, const char *exc_type,
		     const char *args_json, const char *traceback);
#endif
