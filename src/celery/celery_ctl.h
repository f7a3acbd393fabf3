/* celery_ctl: Celery remote control (pidbox) as it crosses Redis (Celery
 * 5.2.6 / kombu 5.2.4): parse a control request, decide whether it addresses
 * this node, run it against the state the worker describes (the reply value
 * and what the worker must do), and build the reply envelope and where it
 * goes. Pure: no I/O, no clock, no randomness, no globals; callers pass
 * times, Lamport clock values, pids and delivery tags. Events are
 * celery_events; kombu's envelope and pidbox rules are celery/kombu;
 * Python's reprs and fnmatch are lib/pyrepr. */
#ifndef TRYON_CELERY_CTL_H
#define TRYON_CELERY_CTL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include "celery/kombu.h"
#include "lib/buf.h"
#include "lib/json.h"

#define CELERY_CTL_EXCHANGE "celery.pidbox"

/* ---- names ------------------------------------------------------------ */

/* Append the channel the worker PSUBSCRIBEs for control requests:
 * "/<db>.celery.pidbox" (kombu's fanout prefix "/{db}."). 0 or -1. */
int celery_ctl_channel(struct buf *out, int db);

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
/* Free everything and zero *req; accepts a zeroed or half-filled struct. */
void celery_ctl_request_free(struct celery_ctl_request *req);

/* Whether this node must run the request: kombu_pidbox_addressed over its
 * destination, pattern and matcher (CELERY_CTL_ADDR_* are KOMBU_ADDR_*). */
#define CELERY_CTL_ADDR_NO KOMBU_ADDR_NO
#define CELERY_CTL_ADDR_YES KOMBU_ADDR_YES
#define CELERY_CTL_ADDR_UNSUPPORTED KOMBU_ADDR_UNSUPPORTED
int celery_ctl_addressed(const struct celery_ctl_request *req,
			 const char *hostname);

/* Lamport clock step on receipt (kombu LamportClock.adjust):
 * max(local, remote) + 1. */
int64_t celery_ctl_clock_adjust(int64_t local, int64_t remote);

/* ---- what the worker knows ------------------------------------------- */

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

/* stats: a faithful subset of WorkController.stats(), in Celery's key
 * order: total, pid, clock (a string, as str(app.clock)), uptime (int),
 * pool, broker, prefetch_count, rusage. Pointers borrowed. */
struct celery_ctl_stats {
	const char *const *total_names; /* tasks run, per name; names with
					 * a count of 0 are left out (Celery
					 * lists only tasks that ran) */
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

/* ---- settings (conf, report) ------------------------------------------ */

/* A server URL as the worker parsed it. It never holds the password: only
 * whether there is one, which is all the masked forms show. Borrowed. */
struct celery_ctl_url {
	const char *scheme;  /* "redis", "rediss", "unix" */
	const char *host;    /* NULL for unix */
	int port;            /* 0: none */
	const char *path;    /* unix: the socket path, else NULL */
	const char *user;    /* NULL: none */
	int has_password;
	int db;
};

/* One setting under Celery's name (app.conf.table()). What `conf` and
 * `report` show of it is decided by celery_ctl the way Celery's
 * filter_hidden_settings decides: a key matching API|TOKEN|KEY|SECRET|PASS|
 * PROFANITIES_LIST|SIGNATURE|DATABASE shows "********" whatever its value; a
 * URL shows kombu's masked form (Connection.as_uri for a key holding
 * "broker_url", maybe_sanitize_url for the rest). All borrowed. */
enum celery_ctl_kind {
	CELERY_CTL_V_NULL = 0,
	CELERY_CTL_V_BOOL,   /* i: 0 or 1 */
	CELERY_CTL_V_INT,    /* i */
	CELERY_CTL_V_NUM,    /* num; integral values written as ints */
	CELERY_CTL_V_STR,    /* str (NULL -> null) */
	CELERY_CTL_V_STRS,   /* strs[0..n): a list of str */
	CELERY_CTL_V_URL,    /* url (NULL -> null) */
	CELERY_CTL_V_MAP     /* map[0..n): a dict of settings */
};
struct celery_ctl_setting {
	const char *key;
	enum celery_ctl_kind kind;
	int64_t i;
	double num;
	const char *str;
	const char *const *strs;
	size_t n;
	const struct celery_ctl_url *url;
	const struct celery_ctl_setting *map;
};

/* What `report` (Celery's bugreport()) says besides the settings: each a
 * line's text, borrowed; NULL -> "". */
struct celery_ctl_report {
	const char *software;  /* "tryon-worker:0.1.0 (abc123) ..." */
	const char *libraries; /* second software line */
	const char *system;    /* "Linux" (uname sysname) */
	const char *arch;      /* "64bit, ELF" */
	const char *kernel;    /* uname release */
	const char *imp;       /* what runs it ("C, static musl") */
	const char *loader;    /* where the tasks come from */
	const char *transport; /* "redis", "rediss", "unix" */
	const struct celery_ctl_url *results; /* NULL -> "disabled" */
};

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
/* Run request req (already found addressed) against st the way Celery's
 * Panel does, appending the reply value to body and filling *act. Replies
 * follow Celery 5.2.6 exactly where it defines them (ping, active, reserved,
 * scheduled, registered, revoked, clock, hello, query_task, revoke,
 * terminate, enable/disable_events, heartbeat -> null, active_queues, conf,
 * report, pool_grow, pool_shrink, autoscale, add/cancel_consumer,
 * rate_limit, time_limit; unknown -> KeyError, missing arguments ->
 * TypeError); stats is our subset; what this worker cannot do (pool_restart,
 * a limit past max_concurrency or max_queues, a negative rate) gets Celery's
 * {"error": "<Exc>('<why>')"} shape with the reason; the debugging commands
 * (objgraph, memsample, memdump, election) get {"error": "... not supported
 * by tryon-worker"}. act->reply is 0 for casts (no reply_to) and for
 * shutdown. Returns 0, or -1 (out of memory, invalid task JSON in st; body
 * and act left empty). */
int celery_ctl_handle(const struct celery_ctl_request *req,
		      const struct celery_ctl_state *st, struct buf *body,
		      struct celery_ctl_action *act, char *err, size_t errlen);
void celery_ctl_action_free(struct celery_ctl_action *act);

/* Celery's rate() (celery/utils/time.py) of a rate-limit string, in starts
 * per second: "10/s", "100/m", "1000/h", "5" (per second), "0" or "" (no
 * limit: 0). The number is read as Python's float() reads it. Returns 0
 * with *per_sec, or -1 with what the rate_limit handler replies appended to
 * why: {"error": ...}'s text, "Invalid rate limit string: ValueError(...)"
 * or "KeyError('x')" for an unknown unit (Celery lets that one escape), or
 * our refusal of a negative or NaN rate, which Celery would take and then
 * never start the task. text must be NUL-terminated. */
int celery_ctl_rate(const char *text, double *per_sec, struct buf *why);

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
/* Append the reply envelope (kombu_pidbox_reply, bytes as captured) with
 * req's ticket, delivery_info {exchange, routing_key} from reply_to.
 * reply[0..reply_len) is a JSON value (validated). Returns 0 or -1 with err
 * (no reply_to, invalid reply JSON); out left as it was on error. */
int celery_ctl_reply_build(struct buf *out, const struct celery_ctl_request *req,
			   const char *hostname, const char *reply,
			   size_t reply_len, int64_t clock,
			   const char *delivery_tag, char *err, size_t errlen);
#endif
