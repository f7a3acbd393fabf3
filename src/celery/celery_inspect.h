/* celery_inspect: what a Celery 5.2.6 worker says about itself (the task
 * lists, registered, revoked, stats, active_queues, conf, report's text),
 * built from what our worker describes, settings masked as Celery masks
 * them. Pure; it reads no request and decides nothing for the worker to do
 * (celery_control_cmds). The types keep their celery_ctl_ names: the worker
 * (src/worker/control.c) fills them in as remote control's vocabulary. */
#ifndef TRYON_CELERY_INSPECT_H
#define TRYON_CELERY_INSPECT_H
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include "lib/buf.h"

/* ---- what the worker describes ---------------------------------------- */

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
	const char *broker_transport;   /* kombu's transport name; NULL: "redis" */
	int64_t visibility_timeout;     /* > 0: transport_options entry */
	int64_t prefetch_count;
	const struct rusage *rusage;    /* NULL -> "N/A" */
};

/* A server URL as the worker parsed it. It never holds the password: only
 * whether there is one, which is all the masked forms show. Borrowed. */
struct celery_ctl_url {
	const char *scheme;  /* "redis", "rediss", "unix", "sentinel" */
	const char *host;    /* NULL for unix */
	int port;            /* 0: none */
	const char *path;    /* unix: the socket path, else NULL */
	const char *user;    /* NULL: none */
	int has_password;
	int db;
};

/* One setting under Celery's name (app.conf.table()). What `conf` and
 * `report` show of it is decided here the way Celery's
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
	CELERY_CTL_V_MAP     /* map[0..n): a dict of settings (4 levels
			      * deep at most; deeper ones show empty) */
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

/* ---- the replies -------------------------------------------------------
 * Each appends to out and reports running out of memory the way buf does
 * (out->failed, sticky): give them a scratch buffer and drop it whole when
 * it failed, since a failed reply may be cut anywhere. */

/* active / reserved: a list of Request.info() dicts of t[0..n), as held by
 * hostname; scheduled (nonzero): each wrapped as {"eta": t.eta, "priority":
 * 6, "request": info}. Returns 0, or -1 when a task has no id or name or
 * holds invalid args/kwargs JSON (out then holds a partial list). */
int celery_inspect_tasks(struct buf *out, const char *hostname,
			 const struct celery_ctl_task *t, size_t n,
			 int scheduled);
/* One Request.info() dict (query_task's entries). Same -1 as above. */
int celery_inspect_task_info(struct buf *out, const char *hostname,
			     const struct celery_ctl_task *t);
/* The task of v[0..n) with this id, or NULL. Borrowed from v. */
const struct celery_ctl_task *
celery_inspect_find(const struct celery_ctl_task *v, size_t n, const char *id);

/* registered: names[0..n) sorted as Python's sorted() sorts str, those
 * starting with "celery." left out (Celery's builtins=False); NULL
 * entries are skipped. */
void celery_inspect_registered(struct buf *out, const char *const *names,
			       size_t n);
/* revoked: ids[0..n) as a JSON list, in the order given. */
void celery_inspect_revoked(struct buf *out, const char *const *ids, size_t n);
/* stats: the dict described at struct celery_ctl_stats; s is required. */
void celery_inspect_stats(struct buf *out, const struct celery_ctl_stats *s);
/* active_queues: Queue.as_dict(recurse=True) of each of queues[0..n), as
 * Celery declares a queue it knows only by name (direct exchange and
 * routing key of that name). */
void celery_inspect_active_queues(struct buf *out, const char *const *queues,
				  size_t n);
/* conf: {key: value} of set[0..n) in the order given, masked. */
void celery_inspect_conf(struct buf *out, const struct celery_ctl_setting *set,
			 size_t n);
/* report: append bugreport()'s text (plain text, not JSON: the command's
 * reply is Celery's ok() of it) for r (required) and set[0..n). */
void celery_inspect_report(struct buf *text, const struct celery_ctl_report *r,
			   const struct celery_ctl_setting *set, size_t n);
#endif
