/* celery_ctl: Celery remote control (pidbox) and events as they cross Redis
 * (Celery 5.2.6 / kombu 5.2.4): parse a control request and decide whether it
 * addresses this node, answer it (reply bodies and the reply envelope), and
 * build worker and task event envelopes with their pub/sub channel names.
 * Pure: no I/O, no clock, no randomness, no globals; callers pass times,
 * Lamport clock values, pids and delivery tags. */
#ifndef TRYON_CELERY_CTL_H
#define TRYON_CELERY_CTL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include "lib/buf.h"
#include "lib/json.h"

#define CELERY_CTL_EXCHANGE "celery.pidbox"
#define CELERY_CTL_REPLY_EXCHANGE "reply.celery.pidbox"
#define CELERY_CTL_EVENT_EXCHANGE "celeryev"
/* Token limit for control envelopes and bodies (they are small). */
#define CELERY_CTL_MAX_TOKENS 65536
/* Longest glob pattern we evaluate (bytes); longer ones do not match. */
#define CELERY_CTL_MAX_PATTERN 1024
/* worker.heartbeat cadence of Celery's Heart (seconds), sent as "freq". */
#define CELERY_CTL_HEARTBEAT_FREQ 2.0
/* Celery's timer priority for ETA requests, reported by `scheduled`. */
#define CELERY_CTL_ETA_PRIORITY 6

/* ---- names ------------------------------------------------------------ */

/* Append the channel the worker PSUBSCRIBEs for control requests:
 * "/<db>.celery.pidbox" (kombu's fanout prefix "/{db}."). 0 or -1. */
int celery_ctl_channel(struct buf *out, int db);
/* Append the channel an event of type `type` ("worker-heartbeat") goes to:
 * "/<db>.celeryev/<routing key>", routing key = type with '-' -> '.'
 * ("worker.heartbeat"). 0 or -1. */
int celery_ctl_event_channel(struct buf *out, int db, const char *type);
/* The member the worker adds (SADD) to "_kombu.binding.celery.pidbox" for
 * bookkeeping, as Celery does: "\x06\x16\x06\x16<hostname>.celery.pidbox".
 * Appends the key to key and the member to member. 0 or -1. */
int celery_ctl_node_binding(struct buf *key, struct buf *member,
			    const char *hostname);

/* ---- requests --------------------------------------------------------- */

/* A parsed control request. Every char * is a malloc'd NUL-terminated copy
 * owned by the struct (NULL when absent or JSON null); body is the decoded
 * body text (owned) and doc tokenizes it (owned, borrows body). Release with
 * celery_ctl_request_free. */
struct celery_ctl_request {
	char *method;
	char *ticket;            /* NULL for casts and ticketless calls */
	int has_reply;           /* reply_to present: a call, send a reply */
	char *reply_exchange;    /* reply_to.exchange ("reply.celery.pidbox") */
	char *reply_routing_key; /* reply_to.routing_key (the client's oid) */
	char *pattern;           /* NULL when absent/null (else a string) */
	char *matcher;
	int64_t clock;           /* headers.clock, 0 when absent/not an int */
	int has_expires;         /* headers.expires was a positive number */
	double expires;          /* unix seconds */
	char *body;
	size_t body_len;
	struct json_doc doc;
	int args_tok;            /* "arguments" when an object, else -1 */
	int args_bad;            /* "arguments" present but not an object/null */
	int dest_tok;            /* "destination" token, -1 when absent/null */
};

/* Parse a pidbox envelope json[0..len) as published on the control channel
 * (kombu JSON envelope, content-type application/json, body base64 or
 * plain). Returns 0, or -1 with err (len > max_len, malformed JSON, another
 * content type, bad base64, body not an object, method missing or not a
 * string, reply_to malformed, strings with NUL). *req is zeroed first and
 * always left freeable; the caller owns it in both cases. */
int celery_ctl_parse(const char *json, size_t len, size_t max_len,
		     struct celery_ctl_request *req, char *err, size_t errlen);
/* Parse an already decoded body body[0..len) (the JSON object with method,
 * arguments, destination, ...) into *req, which must be zeroed or freed;
 * headers stay unset. Copies body. Same contract as celery_ctl_parse. */
int celery_ctl_parse_body(const char *body, size_t len,
			  struct celery_ctl_request *req, char *err,
			  size_t errlen);
/* Free everything and zero *req; accepts a zeroed or half-filled struct. */
void celery_ctl_request_free(struct celery_ctl_request *req);

/* Whether this node must run the request, as kombu's Node.handle_message:
 * a truthy destination wins (list: an element equals hostname; string:
 * hostname is a substring, Python's `in`; object: a key equals it); else
 * pattern + matcher both set: matcher "glob" is fnmatch (full match,
 * case-sensitive, *, ?, [seq], [!seq]); else everyone is addressed. */
#define CELERY_CTL_ADDR_NO 0
#define CELERY_CTL_ADDR_YES 1
/* matcher "pcre" (or another) or an odd destination type: not run. Python
 * would run a "pcre" match; we refuse rather than guess at re syntax. */
#define CELERY_CTL_ADDR_UNSUPPORTED (-1)
int celery_ctl_addressed(const struct celery_ctl_request *req,
			 const char *hostname);

/* Argument getters over req->arguments. Each returns 0, -2 when the name is
 * absent or null, -1 on a wrong type.
 * _str: a string; *out malloc'd, NUL-terminated, owned by the caller.
 * _bool: Python truthiness of any value (false, 0, "", [], {} are 0).
 * _double: a finite number. _int: an integer in int64 range.
 * _raw: the raw JSON text of the value (borrowed from req->body). */
int celery_ctl_arg_str(const struct celery_ctl_request *req, const char *name,
		       char **out);
int celery_ctl_arg_bool(const struct celery_ctl_request *req, const char *name,
			int *out);
int celery_ctl_arg_double(const struct celery_ctl_request *req,
			  const char *name, double *out);
int celery_ctl_arg_int(const struct celery_ctl_request *req, const char *name,
		       int64_t *out);
int celery_ctl_arg_raw(const struct celery_ctl_request *req, const char *name,
		       const char **p, size_t *n);
/* Celery's maybe_list for id arguments (revoke's task_id, query_task's
 * ids): a string gives one id, a list of strings gives them in order with
 * duplicates dropped; null gives none. *ids is a malloc'd array of malloc'd
 * strings owned by the caller (celery_ctl_ids_free), *n its length.
 * Returns 0, -2 when absent (not null), -1 on a wrong type or a list item
 * that is not a string (then why, when not NULL, gets Python's error repr
 * text, e.g. "TypeError('sequence item 0: expected str instance, int
 * found')"). */
int celery_ctl_arg_ids(const struct celery_ctl_request *req, const char *name,
		       char ***ids, size_t *n, struct buf *why);
void celery_ctl_ids_free(char **ids, size_t n);
/* Celery's signals.signum(signal or "SIGTERM") for the `signal` argument:
 * absent/null/false/0/"" -> SIGTERM; an int 1..64 as is; an uppercase
 * Linux signal name with or without "SIG". Returns 0 with *signum, or -1
 * with Python's error repr appended to why (when not NULL):
 * TypeError('signal name must be uppercase string.'),
 * AttributeError("module 'signal' has no attribute 'SIGFOO'"), or for an
 * int out of range ValueError('signal number out of range'). */
int celery_ctl_signum(const struct celery_ctl_request *req, const char *name,
		      int *signum, struct buf *why);

/* Lamport clock step on receipt (kombu LamportClock.adjust):
 * max(local, remote) + 1. */
int64_t celery_ctl_clock_adjust(int64_t local, int64_t remote);

/* ---- methods ---------------------------------------------------------- */

enum celery_ctl_method {
	CELERY_CTL_M_UNKNOWN = 0,  /* no such Celery command: KeyError reply */
	CELERY_CTL_M_UNSUPPORTED,  /* a Celery command we do not implement */
	CELERY_CTL_M_PING,
	CELERY_CTL_M_ACTIVE,       /* alias dump_active */
	CELERY_CTL_M_RESERVED,     /* alias dump_reserved */
	CELERY_CTL_M_SCHEDULED,    /* alias dump_schedule */
	CELERY_CTL_M_REGISTERED,   /* alias dump_tasks */
	CELERY_CTL_M_STATS,
	CELERY_CTL_M_REVOKED,      /* alias dump_revoked */
	CELERY_CTL_M_CLOCK,
	CELERY_CTL_M_HELLO,
	CELERY_CTL_M_QUERY_TASK,
	CELERY_CTL_M_REVOKE,
	CELERY_CTL_M_TERMINATE,
	CELERY_CTL_M_SHUTDOWN,
	CELERY_CTL_M_ENABLE_EVENTS,
	CELERY_CTL_M_DISABLE_EVENTS,
	CELERY_CTL_M_HEARTBEAT
};
/* Classify a method name (aliases included); NULL gives UNKNOWN. */
int celery_ctl_method_of(const char *name);

/* ---- reply bodies (the value under "<hostname>") ----------------------- */

/* A task the worker holds, for active / reserved / scheduled / query_task.
 * All pointers borrowed. Shape of Celery's Request.info(). */
struct celery_ctl_task {
	const char *id;            /* required */
	const char *name;          /* required */
	const char *type;          /* NULL -> name */
	const char *args_json;     /* raw JSON (validated); NULL -> [] */
	size_t args_len;           /* 0 -> strlen */
	const char *kwargs_json;   /* raw JSON (validated); NULL -> {} */
	size_t kwargs_len;
	double time_start;         /* unix seconds it started; <= 0 -> null */
	int acknowledged;          /* acks_late: 0 until the task finished */
	const char *exchange;      /* delivery_info; NULL -> "" */
	const char *routing_key;   /* NULL -> null */
	int priority;
	int redelivered;           /* 0 -> null, as kombu leaves it */
	int64_t pid;               /* the child running it; 0 -> null */
	const char *eta;           /* scheduled: ISO eta as sent; NULL -> null */
};

/* {"ok": text} / {"error": text}. */
int celery_ctl_body_ok(struct buf *out, const char *text);
int celery_ctl_body_error(struct buf *out, const char *text);
/* Celery's reply to a method no handler has: {"error": "KeyError('m')"}
 * (Python repr of the name). */
int celery_ctl_body_unknown(struct buf *out, const char *method);
/* Python's TypeError for missing positional arguments, as an error reply:
 * {"error": "TypeError(\"revoke() missing 1 required positional argument:
 * 'task_id'\")"}. names[0..n), n >= 1. */
int celery_ctl_body_missing(struct buf *out, const char *func,
			    const char *const *names, size_t n);
/* registered: names sorted as Python's sorted() (byte order of UTF-8 ==
 * code point order), names starting with "celery." left out, as Celery
 * does without builtins=True. */
int celery_ctl_body_registered(struct buf *out, const char *const *names,
			       size_t n);
/* active / reserved: a list of Request.info() dicts. -1 on a missing id or
 * name or invalid args/kwargs JSON (out left as it was). */
int celery_ctl_body_tasks(struct buf *out, const char *hostname,
			  const struct celery_ctl_task *t, size_t n);
/* scheduled: [{"eta": .., "priority": 6, "request": info}, ...]. */
int celery_ctl_body_scheduled(struct buf *out, const char *hostname,
			      const struct celery_ctl_task *t, size_t n);
/* hello (mingle): {"revoked": {"<id>": [<ts>, "<id>"], ...}, "clock": N}
 * (LimitedSet._data entries). ts: when each id was revoked, in
 * CLOCK_MONOTONIC seconds as Celery stamps them (time.monotonic()); a peer
 * purges entries older than 3 hours by that clock, and it needs floats,
 * which is what is written. NULL ts: 0.0 each. */
int celery_ctl_body_hello(struct buf *out, const char *const *revoked,
			  const double *ts, size_t n, int64_t clock);
/* revoke / terminate replies, Celery's exact texts:
 * !terminate: {"ok": "tasks <id>, <id> flagged as revoked"} (all ids);
 * terminate: {"ok": "terminate: <id>, <id>"} over ids whose known[i] is
 * set, or {"ok": "terminate: tasks unknown"} when none is. */
int celery_ctl_body_revoke(struct buf *out, const char *const *ids,
			   const int *known, size_t n, int terminate);
/* enable_events / disable_events: "task events enabled" / "task events
 * already enabled" / "task events disabled" / "task events already
 * disabled", from the state before the command. */
int celery_ctl_body_events(struct buf *out, int enable, int was_enabled);

/* stats: a faithful subset of WorkController.stats(), in Celery's key
 * order: total, pid, clock (a string, as str(app.clock)), uptime (int),
 * pool, broker, prefetch_count, rusage. Pointers borrowed. */
struct celery_ctl_stats {
	const char *const *total_names; /* tasks run, per name */
	const int64_t *total_counts;
	size_t n_total;
	int64_t pid;
	int64_t clock;
	double uptime;                  /* seconds; Python round() to int */
	int max_concurrency;
	const int64_t *processes;       /* pids of running children */
	size_t n_processes;
	int64_t max_tasks_per_child;    /* <= 0 -> "N/A" */
	double soft_time_limit;         /* pool "timeouts" [soft, hard] */
	double time_limit;
	const char *implementation;     /* NULL -> "tryon-worker:prefork" */
	const char *broker_host;        /* never the password */
	int broker_port;
	int broker_db;                  /* virtual_host, as a string */
	const char *broker_user;        /* NULL -> null */
	int broker_ssl;
	int64_t visibility_timeout;     /* > 0: transport_options entry */
	int64_t prefetch_count;
	const struct rusage *rusage;    /* NULL -> "N/A" */
};
int celery_ctl_body_stats(struct buf *out, const struct celery_ctl_stats *s);

/* ---- one call: what the worker does with a request -------------------- */

/* What the worker knows when a request arrives. All borrowed. */
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
	CELERY_CTL_ACT_HEARTBEAT   /* send a worker-heartbeat now */
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
};
/* Run request req (already found addressed) against st the way Celery's
 * Panel does, appending the reply value to body and filling *act. Replies
 * follow Celery 5.2.6 exactly where it defines them (ping, active, reserved,
 * scheduled, registered, revoked, clock, hello, query_task, revoke,
 * terminate, enable/disable_events, heartbeat -> null, unknown ->
 * KeyError, missing arguments -> TypeError); stats is our subset; other
 * Celery commands get {"error": "... not supported by tryon-worker"}.
 * act->reply is 0 for casts (no reply_to) and for shutdown. Returns 0, or -1
 * (out of memory, invalid task JSON in st; body and act left empty). */
int celery_ctl_handle(const struct celery_ctl_request *req,
		      const struct celery_ctl_state *st, struct buf *body,
		      struct celery_ctl_action *act, char *err, size_t errlen);
void celery_ctl_action_free(struct celery_ctl_action *act);

/* ---- reply envelope --------------------------------------------------- */

/* The list the reply goes to, as a Celery client declares it:
 * "<reply_to.routing_key>.<reply_to.exchange>" (for Celery always
 * "<oid>.reply.celery.pidbox"). -1 when req has no reply_to. */
int celery_ctl_reply_list(struct buf *out, const struct celery_ctl_request *req);
/* The binding kombu resolves the reply through: key
 * "_kombu.binding.<exchange>", member "<rk>\x06\x16\x06\x16<list>". A
 * client that gave up has removed it: LPUSH only while it is a member
 * (e.g. one EVAL of SISMEMBER + LPUSH), or the list is left behind with no
 * TTL. -1 when req has no reply_to. */
int celery_ctl_reply_binding(struct buf *key, struct buf *member,
			     const struct celery_ctl_request *req);
/* Append the reply envelope (kombu's bytes, as captured): body base64 of
 * {"<hostname>": <reply>}, headers {"ticket": <ticket or null>, "clock":
 * clock}, properties delivery_mode 1, delivery_info {exchange, routing_key}
 * from reply_to, priority 0, body_encoding base64, delivery_tag.
 * reply[0..reply_len) is a JSON value (validated). Returns 0 or -1 with err
 * (no reply_to, invalid reply JSON); out left as it was on error. */
int celery_ctl_reply_build(struct buf *out, const struct celery_ctl_request *req,
			   const char *hostname, const char *reply,
			   size_t reply_len, int64_t clock,
			   const char *delivery_tag, char *err, size_t errlen);

/* ---- events ----------------------------------------------------------- */

/* Fields every event carries (EventDispatcher.publish). */
struct celery_ctl_event_base {
	const char *hostname;      /* required; also the "hostname" header */
	int utcoffset;             /* hours WEST of UTC, celery's utcoffset() */
	int64_t pid;               /* the worker's main pid */
	int64_t clock;             /* forwarded Lamport clock */
	double timestamp;          /* unix seconds */
	const char *delivery_tag;  /* required: a fresh uuid */
};

/* worker-online / worker-heartbeat / worker-offline body fields (Heart). */
struct celery_ctl_worker_event {
	double freq;               /* <= 0 -> 2.0 */
	int64_t active;            /* tasks running now */
	int64_t processed;         /* tasks started since start */
	double loadavg[3];         /* rounded to 2 places, as Celery does */
	const char *sw_ident;      /* NULL -> "tryon-worker" */
	const char *sw_ver;        /* NULL -> "0" */
	const char *sw_sys;        /* NULL -> "Linux" */
};
/* Append to channel (when not NULL) the PUBLISH channel and to out the
 * envelope of worker event `type` ("worker-online", "worker-heartbeat",
 * "worker-offline"). Returns 0 or -1 with err; bufs left as they were on
 * error. */
int celery_ctl_event_worker(struct buf *channel, struct buf *out, int db,
			    const char *type,
			    const struct celery_ctl_event_base *b,
			    const struct celery_ctl_worker_event *w, char *err,
			    size_t errlen);

enum celery_ctl_task_event {
	CELERY_CTL_EV_RECEIVED = 0,
	CELERY_CTL_EV_STARTED,
	CELERY_CTL_EV_SUCCEEDED,
	CELERY_CTL_EV_FAILED,
	CELERY_CTL_EV_RETRIED,
	CELERY_CTL_EV_REJECTED,
	CELERY_CTL_EV_REVOKED
};
/* Task event fields; only those of the event's type are written, in
 * Celery's order. Strings are text (JSON-escaped here); NULL -> null. */
struct celery_ctl_task_ev {
	int type;                  /* enum celery_ctl_task_event */
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
/* repr(exc) of an exception of class type built with the exc_message
 * array args_json[0..len) (len 0: strlen; NULL: no arguments), the text
 * Celery sends as task-failed/-retried "exception": "ValueError('boom')",
 * "MyError('custom', 42)", "TimeLimitExceeded(5.0)". Python repr rules
 * for the values (quotes, True/None, shortest floats). 0 or -1 (not a JSON
 * array; out left as it was). For "result", use celery_repr (celery_msg.h)
 * with CELERY_REPR_MAXSIZE: Celery sends saferepr(retval, 1024). */
int celery_ctl_exc_repr(struct buf *out, const char *type,
			const char *args_json, size_t len);
/* Append channel and envelope of a task event (see celery_ctl_event_worker).
 * Returns 0 or -1 with err. */
int celery_ctl_event_task(struct buf *channel, struct buf *out, int db,
			  const struct celery_ctl_event_base *b,
			  const struct celery_ctl_task_ev *t, char *err,
			  size_t errlen);
/* "task-received", ... for an enum value; NULL when out of range. */
const char *celery_ctl_task_event_name(int type);
#endif
