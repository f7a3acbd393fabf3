/* celery_events: Celery's events (celeryev) as they cross Redis (Celery
 * 5.2.6 events/dispatcher.py, worker/heartbeat.py, worker/request.py; kombu
 * 5.2.4 fanout): the worker-online/-heartbeat/-offline and task-* event
 * bodies, their kombu envelopes and the pub/sub channel each is published
 * on. Pure: no I/O, no clock, no randomness; callers pass times, Lamport
 * clock values, pids and delivery tags. Deciding when to send is not here. */
#ifndef TRYON_CELERY_EVENTS_H
#define TRYON_CELERY_EVENTS_H
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define CELERY_EVENTS_EXCHANGE "celeryev"
/* worker.heartbeat cadence of Celery's Heart (seconds), sent as "freq". */
#define CELERY_EVENTS_HEARTBEAT_FREQ 2.0

/* Fields every event carries (EventDispatcher.publish). Borrowed. */
struct celery_events_base {
	const char *hostname;      /* required; also the "hostname" header */
	int utcoffset;             /* hours WEST of UTC, celery's utcoffset() */
	int64_t pid;               /* the worker's main pid */
	int64_t clock;             /* forwarded Lamport clock */
	double timestamp;          /* unix seconds */
	const char *delivery_tag;  /* required: a fresh uuid */
};

/* worker-online / worker-heartbeat / worker-offline body fields (Heart).
 * Strings borrowed. */
struct celery_events_worker {
	double freq;               /* <= 0 -> CELERY_EVENTS_HEARTBEAT_FREQ */
	int64_t active;            /* tasks running now */
	int64_t processed;         /* tasks started since start */
	double loadavg[3];         /* written as Python's round(x, 2) */
	const char *sw_ident;      /* NULL -> "tryon-worker" */
	const char *sw_ver;        /* NULL -> "0" */
	const char *sw_sys;        /* NULL -> "Linux" */
};
/* Append to channel (when not NULL) the PUBLISH channel
 * "/<db>.celeryev/<routing key>" ("/{db}.celeryev/..." for db < 0, as
 * kombu's Sentinel channel names it), the routing key being type with '-' ->
 * '.' ("worker.heartbeat"), and to out the envelope of worker event `type`
 * ("worker-online", "worker-heartbeat", "worker-offline"), byte for byte
 * as Celery's. Returns 0, or -1 with err (no type, hostname or delivery
 * tag; out of memory); both bufs are left as they were on error. */
int celery_events_worker_build(struct buf *channel, struct buf *out, int db,
			       const char *type,
			       const struct celery_events_base *b,
			       const struct celery_events_worker *w, char *err,
			       size_t errlen);

enum celery_events_task_type {
	CELERY_EVENTS_TASK_RECEIVED = 0,  /* "task-received" */
	CELERY_EVENTS_TASK_STARTED,
	CELERY_EVENTS_TASK_SUCCEEDED,
	CELERY_EVENTS_TASK_FAILED,
	CELERY_EVENTS_TASK_RETRIED,
	CELERY_EVENTS_TASK_REJECTED,
	CELERY_EVENTS_TASK_REVOKED        /* "task-revoked" */
};
/* Task event fields; only those of the event's type are written, in
 * Celery's order. Strings are text (JSON-escaped here), borrowed; NULL ->
 * null. The reprs are Python's: pyrepr_saferepr(..., 1024) for "result"
 * (Celery sends saferepr(retval, 1024)), pyrepr_exception for "exception". */
struct celery_events_task {
	int type;                  /* enum celery_events_task_type */
	const char *uuid;          /* required */
	/* received */
	const char *name;
	const char *args_repr;     /* the argsrepr header, e.g. "(3,)" */
	const char *kwargs_repr;   /* e.g. "{}" */
	const char *root_id;
	const char *parent_id;
	int64_t retries;
	const char *eta;           /* ISO as sent */
	const char *expires;
	/* succeeded */
	const char *result_repr;   /* repr of the return value, e.g. "3" */
	double runtime;            /* seconds */
	/* failed, retried */
	const char *exception_repr; /* "ValueError('boom')" */
	const char *traceback;
	/* rejected */
	int requeue;
	/* revoked */
	int terminated;
	int signum;                /* 0 -> null */
	int expired;
	/* 1: as Celery's prefork worker: routing key "task.multi", body a
	 * one-element list. 0: one object on "task.<kind>". Receivers accept
	 * both. */
	int multi;
};
/* Append channel (when not NULL) and envelope of task event t (see
 * celery_events_worker_build). Returns 0, or -1 with err (type out of
 * range, no uuid, hostname or delivery tag; out of memory); bufs left as
 * they were on error. */
int celery_events_task_build(struct buf *channel, struct buf *out, int db,
			     const struct celery_events_base *b,
			     const struct celery_events_task *t, char *err,
			     size_t errlen);
#endif
