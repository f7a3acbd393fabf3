/* celery_control_cmds: the Celery 5.2.6 Panel commands that take arguments
 * (revoke, terminate, hello, query_task, pool_grow/shrink/restart,
 * autoscale, add/cancel_consumer, rate_limit, time_limit): bind them as
 * Python does, decide against the worker's state, write the reply value and
 * say what the worker must do. Pure; it never parses an envelope, addresses
 * or routes a reply (celery_ctl), nor carries out an action (the worker). */
#ifndef TRYON_CELERY_CONTROL_CMDS_H
#define TRYON_CELERY_CONTROL_CMDS_H
#include <stddef.h>
#include <stdint.h>

#include "celery/celery_inspect.h"
#include "lib/buf.h"
#include "lib/json.h"

/* ---- what the worker knows, what it must do ---------------------------- */

/* What the worker knows when a request arrives: celery_ctl_handle's input,
 * read whole by the commands here, in parts by celery_inspect. All
 * borrowed. */
struct celery_ctl_state {
	const char *hostname;                /* required */
	const char *const *task_names;       /* registered */
	size_t n_task_names;
	const struct celery_ctl_task *active;    /* running */
	size_t n_active;
	const struct celery_ctl_task *reserved;  /* prefetched, not started */
	size_t n_reserved;
	const struct celery_ctl_task *scheduled; /* held for their ETA */
	size_t n_scheduled;
	const char *const *revoked;          /* ids flagged revoked */
	const double *revoked_ts;            /* when (monotonic); NULL: now */
	size_t n_revoked;
	double now;                          /* CLOCK_MONOTONIC seconds */
	const struct celery_ctl_stats *stats; /* NULL -> stats is an error */
	int64_t clock;                       /* the app's Lamport clock now */
	int task_events;                     /* task events on */
	/* the pool: jobs that may run at once, its ceiling, autoscale's min */
	int concurrency;
	int max_concurrency;                 /* pool_grow/autoscale refuse beyond */
	int autoscale_min;
	/* the queues consumed now (active_queues, add/cancel_consumer) */
	const char *const *queues;
	size_t n_queues;
	size_t max_queues;                   /* add_consumer refuses beyond */
	const struct celery_ctl_setting *settings; /* conf, report */
	size_t n_settings;
	const struct celery_ctl_report *report; /* NULL -> report is an error */
};

/* What the worker must do after celery_ctl_handle. */
enum celery_ctl_act {
	CELERY_CTL_ACT_NONE = 0,
	CELERY_CTL_ACT_REVOKE,     /* flag ids revoked (queued/held ones are
				    * not run: store REVOKED "revoked"); with
				    * terminate, kill running ones with
				    * signum and store REVOKED "terminated" */
	CELERY_CTL_ACT_SYNC,       /* hello: merge ids (revoked at ts[i]) into
				    * the revoked set */
	CELERY_CTL_ACT_SHUTDOWN,   /* warm shutdown; Celery sends no reply */
	CELERY_CTL_ACT_EVENTS_ON,  /* start sending task events */
	CELERY_CTL_ACT_EVENTS_OFF,
	CELERY_CTL_ACT_HEARTBEAT,  /* send a worker-heartbeat now */
	CELERY_CTL_ACT_CONCURRENCY, /* pool_grow/shrink, autoscale: let
				    * `concurrency` jobs run at once (running
				    * ones beyond it finish first); autoscale
				    * also sets autoscale_min */
	CELERY_CTL_ACT_ADD_QUEUE,  /* start consuming queue `name` (not yet
				    * consumed, room for it checked) */
	CELERY_CTL_ACT_CANCEL_QUEUE, /* stop consuming `name` (consumed now);
				    * messages taken from it finish */
	CELERY_CTL_ACT_RATE_LIMIT, /* task `name` starts at most `rate` times a
				    * second (0: no limit) */
	CELERY_CTL_ACT_TIME_LIMIT  /* task `name`'s next jobs: soft and hard
				    * limits in seconds (0: none set) */
};
struct celery_ctl_action {
	int act;
	char **ids;       /* owned: celery_ctl_action_free */
	size_t n_ids;
	double *ts;       /* SYNC: the peer's revoke time of each id (owned) */
	int terminate;
	int signum;
	int clock_used;   /* the body carries clock_value (hello): the
			   * caller's clock must be at least that now */
	int64_t clock_value;
	int reply;        /* 1: send body as the reply (only for calls) */
	int concurrency;  /* CONCURRENCY */
	int autoscale_min; /* CONCURRENCY: -1 unchanged */
	char *name;       /* queue or task name (owned) */
	double rate;      /* RATE_LIMIT: starts per second, finite, >= 0 */
	double soft, hard; /* TIME_LIMIT: seconds, >= 0 (0: none) */
};
/* Free what act owns and zero it; accepts a zeroed or half-filled one. */
void celery_ctl_action_free(struct celery_ctl_action *act);

/* ---- reply values ------------------------------------------------------ */

/* Celery's ok(text) and nok(text): {"ok": text}, {"error": text}. */
void celery_control_ok(struct buf *out, const char *text);
void celery_control_nok(struct buf *out, const char *text);
/* {"error": "<type>('<msg>')"}: a handler's exception as Node.dispatch
 * replies it ({'error': repr(exc)}), the repr in Python's quoting. */
void celery_control_exception(struct buf *out, const char *type,
			      const char *msg);

/* ---- the commands -----------------------------------------------------
 * Each runs one command the way Celery's Panel handler does (texts as a
 * 5.2.6 worker replies; missing arguments -> Python's TypeError; what this
 * worker refuses -> {"error": "ValueError('<why>')"}), appending the reply
 * value to out and filling *act, which the caller zeroed. out is the
 * caller's scratch buffer: running out of memory sets out->failed and the
 * caller drops out whole. What act holds then is still act's to free
 * (celery_ctl_action_free). act->reply is the caller's to set. */

/* A request's keyword arguments: the "arguments" object at token tok of
 * doc, -1 when none were given (every argument absent). Borrowed. */
struct celery_control_args {
	const struct json_doc *doc;
	int tok;
};

/* revoke(task_id, terminate=False, signal=None); terminate(signal,
 * task_id): the ids (a str or a list, duplicates dropped) go to act->ids,
 * revoked even when the signal is bad. */
void celery_control_revoke(struct buf *out, const struct celery_control_args *a,
			   const struct celery_ctl_state *st,
			   struct celery_ctl_action *act);
void celery_control_terminate(struct buf *out,
			      const struct celery_control_args *a,
			      const struct celery_ctl_state *st,
			      struct celery_ctl_action *act);
/* hello(from_node, revoked=None): a peer's mingle. Our own hello replies
 * null; another's revoked ids go to act (SYNC) and the reply is our
 * revoked set with theirs and the clock forwarded (act->clock_used). */
void celery_control_hello(struct buf *out, const struct celery_control_args *a,
			  const struct celery_ctl_state *st,
			  struct celery_ctl_action *act);
/* query_task(ids): {id: [state, Request.info()]} of the ids active or
 * reserved. Acts on nothing. Returns 0, or -1 when st holds a task
 * celery_inspect_task_info refuses. */
int celery_control_query_task(struct buf *out,
			      const struct celery_control_args *a,
			      const struct celery_ctl_state *st);
/* pool_grow(n=1), pool_shrink(n=1): concurrency +- n, within 1 and
 * st->max_concurrency. Our jobs fork their own children, so there are no
 * idle processes to add or stop: shrinking kills nothing. */
void celery_control_pool_grow(struct buf *out,
			      const struct celery_control_args *a,
			      const struct celery_ctl_state *st,
			      struct celery_ctl_action *act);
void celery_control_pool_shrink(struct buf *out,
				const struct celery_control_args *a,
				const struct celery_ctl_state *st,
				struct celery_ctl_action *act);
/* pool_restart(modules=None, reload=False, reloader=None): refused with
 * Celery's text for worker_pool_restarts off, which it always is here (a
 * job forks a fresh child: there is no pool to restart). Acts on nothing. */
void celery_control_pool_restart(struct buf *out,
				 const struct celery_control_args *a,
				 const struct celery_ctl_state *st,
				 struct celery_ctl_action *act);
/* autoscale(max=None, min=None): concurrency = max (1..max_concurrency),
 * min kept for the reply; a None bound stays as it is. */
void celery_control_autoscale(struct buf *out,
			      const struct celery_control_args *a,
			      const struct celery_ctl_state *st,
			      struct celery_ctl_action *act);
/* add_consumer(queue, exchange=None, exchange_type=None, routing_key=None)
 * and cancel_consumer(queue): a queue is a name of 1 to 200 bytes consumed
 * through the direct exchange and routing key of that name; at most
 * st->max_queues. Consumed already / not consumed: Celery's reply, no act. */
void celery_control_add_consumer(struct buf *out,
				 const struct celery_control_args *a,
				 const struct celery_ctl_state *st,
				 struct celery_ctl_action *act);
void celery_control_cancel_consumer(struct buf *out,
				    const struct celery_control_args *a,
				    const struct celery_ctl_state *st,
				    struct celery_ctl_action *act);
/* rate_limit(task_name, rate_limit): the rate (celery_control_rate, or a
 * number per second) is checked before the task, which must be one of
 * st->task_names. */
void celery_control_rate_limit(struct buf *out,
			       const struct celery_control_args *a,
			       const struct celery_ctl_state *st,
			       struct celery_ctl_action *act);
/* time_limit(task_name=None, hard=None, soft=None): both limits set from
 * what was given (None: 0, none), seconds >= 0, for a task of
 * st->task_names. */
void celery_control_time_limit(struct buf *out,
			       const struct celery_control_args *a,
			       const struct celery_ctl_state *st,
			       struct celery_ctl_action *act);

/* Celery's rate() (celery/utils/time.py) of a rate-limit string, in starts
 * per second: "10/s", "100/m", "1000/h", "5" (per second), "0" or "" (no
 * limit: 0). The number is read as Python's float() reads it. Returns 0
 * with *per_sec, or -1 with what the rate_limit handler replies appended to
 * why: {"error": ...}'s text, "Invalid rate limit string: ValueError(...)"
 * or "KeyError('x')" for an unknown unit (Celery lets that one escape), or
 * our refusal of a negative or NaN rate, which Celery would take and then
 * never start the task. text must be NUL-terminated. */
int celery_control_rate(const char *text, double *per_sec, struct buf *why);
#endif
