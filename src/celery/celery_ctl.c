/* celery_ctl: remote control on the wire. Semantics follow Celery 5.2.6
 * (worker/control.py Panel, worker/pidbox.py) and kombu 5.2.4 (pidbox.py
 * Node/Mailbox, matcher.py, the Redis transport's fanout); the byte layouts
 * are the ones captured in shared/reference/celery-captures (monitor7/12/15/
 * 19 pidbox). JSON is written as Python's json.dumps: ", " / ": ", ASCII
 * only. */
#include "celery/celery_ctl.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/kombu.h"
#include "lib/errmsg.h"
#include "lib/pyrepr.h"

/* Token limit for control envelopes and bodies (they are small). */
#define MAX_TOKENS 65536
/* Celery's timer priority for ETA requests, reported by `scheduled`. */
#define ETA_PRIORITY 6

/* "<Type>(<repr(text)>)": how repr() shows an exception with one string
 * argument, the text of Celery's {"error": ...} replies. */
static void py_exc_cstr(struct buf *out, const char *type, const char *text)
{
	pyrepr_exception_str(out, type, text, strlen(text));
}

/* ---- small JSON helpers ------------------------------------------------ */

/* ", \"key\": " */
static void w_key(struct buf *out, const char *key)
{
	buf_append_str(out, ", ");
	json_write_key(out, key);
}

/* Python writes an int-valued float config value (25.0) the way it was
 * given; ours are doubles, so integral values are written as ints. */
static void w_num(struct buf *out, double v)
{
	if (v > -9e15 && v < 9e15 && v == (double)(int64_t)v)
		json_write_int(out, (int64_t)v);
	else if (json_write_double(out, v) < 0)
		buf_append_str(out, "null");
}

static void w_double(struct buf *out, double v)
{
	if (json_write_double(out, v) < 0)
		buf_append_str(out, "null");
}

/* ---- names ------------------------------------------------------------ */

int celery_ctl_channel(struct buf *out, int db)
{
	return buf_printf(out, "/%d.%s", db, CELERY_CTL_EXCHANGE) < 0 ? -1 : 0;
}

/* ---- requests --------------------------------------------------------- */

/* Copy string token t into *out (malloc'd); ids and names become Redis
 * keys and C strings, so an embedded NUL is refused. */
static int tok_cstr(const struct json_doc *d, int t, char **out)
{
	size_t n;

	*out = NULL;
	if (json_tok_strdup(d, t, out, &n, NULL, 0) < 0)
		return -1;
	if (strlen(*out) != n) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Optional string member: absent or null leaves *out NULL. */
static int opt_str(const struct json_doc *d, int obj, const char *key,
		   char **out, char *err, size_t errlen)
{
	int t = json_obj_get(d, obj, key);

	if (t < 0 || json_kind(d, t) == JSON_K_NULL)
		return 0;
	if (json_kind(d, t) != JSON_K_STRING || tok_cstr(d, t, out) < 0) {
		errmsg_set(err, errlen, "'%s' must be a string without NUL", key);
		return -1;
	}
	return 0;
}

/* Parse the decoded body body[0..len) (the JSON object with method,
 * arguments, destination, ...; malloc'd, NUL-terminated, now owned by
 * *req) into *req. Same contract as celery_ctl_parse. */
static int parse_body(char *body, size_t len, struct celery_ctl_request *req,
		      char *err, size_t errlen)
{
	struct json_doc *d = &req->doc;
	char why[160];
	int t, rt;

	req->body = body;
	req->body_len = len;
	if (json_parse(d, req->body, len, MAX_TOKENS, why,
		       sizeof why) < 0) {
		errmsg_set(err, errlen, "body: %s", why);
		return -1;
	}
	if (json_kind(d, 0) != JSON_K_OBJECT) {
		errmsg_set(err, errlen, "body is not an object");
		return -1;
	}
	t = json_obj_get(d, 0, "method");
	if (t < 0 || json_kind(d, t) != JSON_K_STRING ||
	    tok_cstr(d, t, &req->method) < 0) {
		errmsg_set(err, errlen, "'method' missing or not a string");
		return -1;
	}
	if (opt_str(d, 0, "ticket", &req->ticket, err, errlen) < 0 ||
	    opt_str(d, 0, "pattern", &req->pattern, err, errlen) < 0 ||
	    opt_str(d, 0, "matcher", &req->matcher, err, errlen) < 0)
		return -1;

	/* kombu Node.handle: "arguments = {} if not arguments else ..." */
	t = json_obj_get(d, 0, "arguments");
	if (t >= 0 && json_kind(d, t) == JSON_K_OBJECT)
		req->args_tok = t;
	else if (t >= 0 && pyrepr_truthy(d, t))
		req->args_bad = 1;
	t = json_obj_get(d, 0, "destination");
	if (t >= 0 && json_kind(d, t) != JSON_K_NULL)
		req->dest_tok = t;

	/* Node.dispatch replies when reply_to is truthy. A truthy reply_to
	 * without both names makes Python run the command and fail at the
	 * reply; we refuse the request instead of running it silently. */
	rt = json_obj_get(d, 0, "reply_to");
	if (rt >= 0 && pyrepr_truthy(d, rt)) {
		if (json_kind(d, rt) != JSON_K_OBJECT ||
		    opt_str(d, rt, "exchange", &req->reply_exchange, err,
			    errlen) < 0 ||
		    opt_str(d, rt, "routing_key", &req->reply_routing_key, err,
			    errlen) < 0 ||
		    !req->reply_exchange || !req->reply_routing_key) {
			errmsg_set(err, errlen,
			       "'reply_to' needs string exchange and routing_key");
			return -1;
		}
		req->has_reply = 1;
	}
	return 0;
}

int celery_ctl_parse(const char *json, size_t len, size_t max_len,
		     struct celery_ctl_request *req, char *err, size_t errlen)
{
	struct json_doc d;
	char *raw = NULL;
	size_t rawlen = 0;
	char why[160];
	int t, hdr, rc = -1;
	int64_t clock;
	double expires;

	memset(req, 0, sizeof *req);
	req->args_tok = req->dest_tok = -1;
	memset(&d, 0, sizeof d);
	if (len > max_len) {
		errmsg_set(err, errlen, "envelope of %zu bytes exceeds %zu", len,
		       max_len);
		return -1;
	}
	if (json_parse(&d, json, len, MAX_TOKENS, why,
		       sizeof why) < 0) {
		errmsg_set(err, errlen, "envelope: %s", why);
		return -1;
	}
	if (json_kind(&d, 0) != JSON_K_OBJECT) {
		errmsg_set(err, errlen, "envelope is not an object");
		goto out;
	}
	/* The mailbox accepts json only (Mailbox.accept); anything else is
	 * ContentDisallowed in Python: logged, never run, never answered. */
	t = json_obj_get(&d, 0, "content-type");
	if (t < 0 || !json_tok_streq(&d, t, "application/json")) {
		errmsg_set(err, errlen, "content-type is not application/json");
		goto out;
	}
	hdr = json_obj_get(&d, 0, "headers");
	if (hdr >= 0 && json_kind(&d, hdr) == JSON_K_OBJECT) {
		t = json_obj_get(&d, hdr, "clock");
		if (t >= 0 && json_tok_int64(&d, t, &clock, NULL, 0) == 0)
			req->clock = clock;
		t = json_obj_get(&d, hdr, "expires");
		if (t >= 0 && json_tok_double(&d, t, &expires, NULL, 0) == 0 &&
		    expires > 0) {
			req->has_expires = 1;
			req->expires = expires;
		}
	}
	if (kombu_body_decode(&d, 0, &raw, &rawlen, err, errlen) < 0)
		goto out;
	rc = parse_body(raw, rawlen, req, err, errlen);
	raw = NULL;
out:
	free(raw);
	json_doc_free(&d);
	return rc;
}

void celery_ctl_request_free(struct celery_ctl_request *req)
{
	if (!req)
		return;
	free(req->method);
	free(req->ticket);
	free(req->reply_exchange);
	free(req->reply_routing_key);
	free(req->pattern);
	free(req->matcher);
	json_doc_free(&req->doc);
	free(req->body);
	memset(req, 0, sizeof *req);
	req->args_tok = req->dest_tok = -1;
}

/* ---- addressing -------------------------------------------------------- */

int celery_ctl_addressed(const struct celery_ctl_request *req,
			 const char *hostname)
{
	return kombu_pidbox_addressed(&req->doc, req->dest_tok, req->pattern,
				      req->matcher, hostname);
}

/* ---- arguments -------------------------------------------------------- */

/* Token of argument name, or -1 when absent (null included: callers that
 * must tell null apart use arg_tok_any). */
static int arg_tok_any(const struct celery_ctl_request *req, const char *name)
{
	if (req->args_tok < 0 || !name)
		return -1;
	return json_obj_get(&req->doc, req->args_tok, name);
}

static int arg_tok(const struct celery_ctl_request *req, const char *name)
{
	int t = arg_tok_any(req, name);

	if (t >= 0 && json_kind(&req->doc, t) == JSON_K_NULL)
		return -1;
	return t;
}

/* A string argument: 0 with *out malloc'd (the caller's), -2 when absent
 * or null, -1 on another type or a NUL inside. */
static int arg_str(const struct celery_ctl_request *req, const char *name,
		   char **out)
{
	int t = arg_tok(req, name);

	*out = NULL;
	if (t < 0)
		return -2;
	if (json_kind(&req->doc, t) != JSON_K_STRING)
		return -1;
	return tok_cstr(&req->doc, t, out);
}

/* Python truthiness of an argument: 0, or -2 when absent or null. */
static int arg_bool(const struct celery_ctl_request *req, const char *name,
		    int *out)
{
	int t = arg_tok(req, name);

	*out = 0;
	if (t < 0)
		return -2;
	*out = pyrepr_truthy(&req->doc, t);
	return 0;
}

static void ids_free(char **ids, size_t n)
{
	size_t i;

	if (!ids)
		return;
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

static int ids_push(char ***ids, size_t *n, size_t *cap, char *s)
{
	size_t i;
	char **v;

	for (i = 0; i < *n; i++)
		if (!strcmp((*ids)[i], s)) {
			free(s); /* set(): duplicates collapse */
			return 0;
		}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		v = realloc(*ids, *cap * sizeof *v);
		if (!v) {
			free(s);
			return -1;
		}
		*ids = v;
	}
	(*ids)[(*n)++] = s;
	return 0;
}

/* Celery's maybe_list for id arguments (revoke's task_id, query_task's
 * ids): a string gives one id, a list of strings gives them in order with
 * duplicates dropped (set()); null gives none. *ids is a malloc'd array of
 * malloc'd strings (ids_free), *n its length. Returns 0, -2 when absent
 * (not null), -1 on a wrong type or a list item that is not a string, with
 * Python's error repr appended to why. */
static int arg_ids(const struct celery_ctl_request *req, const char *name,
		   char ***ids, size_t *n, struct buf *why)
{
	const struct json_doc *d = &req->doc;
	int t = arg_tok_any(req, name), e, i, k;
	size_t cap = 0;
	char *s, msg[96];

	*ids = NULL;
	*n = 0;
	if (t < 0)
		return -2;
	k = json_kind(d, t);
	if (k == JSON_K_NULL)
		return 0;
	if (k == JSON_K_STRING) {
		if (tok_cstr(d, t, &s) < 0)
			goto bad_str;
		return ids_push(ids, n, &cap, s);
	}
	if (k == JSON_K_OBJECT) {
		/* maybe_list(dict) -> [dict]; set([dict]) raises */
		snprintf(msg, sizeof msg, "unhashable type: 'dict'");
		goto bad;
	}
	if (k != JSON_K_ARRAY) {
		snprintf(msg, sizeof msg,
			 "sequence item 0: expected str instance, %s found",
			 pyrepr_type_name(d, t));
		goto bad;
	}
	for (i = 0; i < d->toks[t].size; i++) {
		e = json_arr_get(d, t, i);
		k = json_kind(d, e);
		if (k == JSON_K_ARRAY || k == JSON_K_OBJECT) {
			snprintf(msg, sizeof msg, "unhashable type: '%s'",
				 k == JSON_K_ARRAY ? "list" : "dict");
			goto bad;
		}
		if (k != JSON_K_STRING) {
			snprintf(msg, sizeof msg,
				 "sequence item %zu: expected str instance, %s found",
				 *n, pyrepr_type_name(d, e));
			goto bad;
		}
		if (tok_cstr(d, e, &s) < 0)
			goto bad_str;
		if (ids_push(ids, n, &cap, s) < 0)
			goto oom;
	}
	return 0;
bad_str:
	snprintf(msg, sizeof msg, "task id contains a NUL character");
	goto bad;
oom:
	snprintf(msg, sizeof msg, "out of memory");
bad:
	py_exc_cstr(why, "TypeError", msg);
	ids_free(*ids, *n);
	*ids = NULL;
	*n = 0;
	return -1;
}

/* Celery's revoke reads its `signal` argument as signals.signum(signal or
 * "SIGTERM"): absent/null/false/0/"" -> SIGTERM; true is 1 (a bool is an
 * Integral); an int 1..64 as is (else the ValueError('signal number out of
 * range') os.kill would raise); a str by name (pyrepr_signum). Returns 0
 * with *signum, or -1 with Python's error repr appended to why. */
static int arg_signum(const struct celery_ctl_request *req, const char *name,
		      int *signum, struct buf *why)
{
	const struct json_doc *d = &req->doc;
	int t = arg_tok(req, name), k;
	int64_t v;
	char *s = NULL;

	*signum = SIGTERM;
	if (t < 0 || !pyrepr_truthy(d, t))
		return 0;
	k = json_kind(d, t);
	if (k == JSON_K_TRUE) {
		*signum = 1;
		return 0;
	}
	if (k == JSON_K_NUMBER && json_tok_int64(d, t, &v, NULL, 0) == 0) {
		if (v < 1 || v > 64) {
			py_exc_cstr(why, "ValueError", "signal number out of range");
			return -1;
		}
		*signum = (int)v;
		return 0;
	}
	if (k == JSON_K_STRING)
		tok_cstr(d, t, &s); /* a NUL inside: not a name (NULL) */
	k = pyrepr_signum(s, why);
	free(s);
	if (k < 0)
		return -1;
	*signum = k;
	return 0;
}

int64_t celery_ctl_clock_adjust(int64_t local, int64_t remote)
{
	int64_t m = local > remote ? local : remote;

	return m == INT64_MAX ? m : m + 1;
}

/* ---- methods ---------------------------------------------------------- */

enum method {
	M_UNKNOWN = 0,  /* no such Celery command: KeyError reply */
	M_UNSUPPORTED,  /* a Celery command we do not implement */
	M_PING, M_ACTIVE, M_RESERVED, M_SCHEDULED, M_REGISTERED, M_STATS,
	M_REVOKED, M_CLOCK, M_HELLO, M_QUERY_TASK, M_REVOKE, M_TERMINATE,
	M_SHUTDOWN, M_ENABLE_EVENTS, M_DISABLE_EVENTS, M_HEARTBEAT,
	M_ACTIVE_QUEUES, M_CONF, M_REPORT, M_POOL_GROW, M_POOL_SHRINK,
	M_POOL_RESTART, M_AUTOSCALE, M_ADD_CONSUMER, M_CANCEL_CONSUMER,
	M_RATE_LIMIT, M_TIME_LIMIT
};

static const struct {
	const char *name;
	int m;
} methods[] = {
	{ "ping", M_PING },		{ "active", M_ACTIVE },
	{ "dump_active", M_ACTIVE },	{ "reserved", M_RESERVED },
	{ "dump_reserved", M_RESERVED }, { "scheduled", M_SCHEDULED },
	{ "dump_schedule", M_SCHEDULED }, { "registered", M_REGISTERED },
	{ "dump_tasks", M_REGISTERED },	{ "stats", M_STATS },
	{ "revoked", M_REVOKED },	{ "dump_revoked", M_REVOKED },
	{ "clock", M_CLOCK },		{ "hello", M_HELLO },
	{ "query_task", M_QUERY_TASK },	{ "revoke", M_REVOKE },
	{ "terminate", M_TERMINATE },	{ "shutdown", M_SHUTDOWN },
	{ "enable_events", M_ENABLE_EVENTS },
	{ "disable_events", M_DISABLE_EVENTS },
	{ "heartbeat", M_HEARTBEAT },
	{ "active_queues", M_ACTIVE_QUEUES }, { "conf", M_CONF },
	{ "dump_conf", M_CONF },	{ "report", M_REPORT },
	{ "pool_grow", M_POOL_GROW },	{ "pool_shrink", M_POOL_SHRINK },
	{ "pool_restart", M_POOL_RESTART }, { "autoscale", M_AUTOSCALE },
	{ "add_consumer", M_ADD_CONSUMER },
	{ "cancel_consumer", M_CANCEL_CONSUMER },
	{ "rate_limit", M_RATE_LIMIT },	{ "time_limit", M_TIME_LIMIT },
	/* The rest of Celery 5.2.6's Panel, debugging aids for a Python
	 * process: known, not implemented. */
	{ "election", M_UNSUPPORTED },	{ "objgraph", M_UNSUPPORTED },
	{ "memsample", M_UNSUPPORTED },	{ "memdump", M_UNSUPPORTED },
};

/* Classify a method name (aliases included); NULL gives M_UNKNOWN. */
static int method_of(const char *name)
{
	size_t i;

	if (!name)
		return M_UNKNOWN;
	for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (!strcmp(name, methods[i].name))
			return methods[i].m;
	return M_UNKNOWN;
}

/* ---- reply bodies ------------------------------------------------------
 * They write into celery_ctl_handle's scratch buffer, which is committed
 * whole or dropped, so none of them needs its own. */

static void body_kv(struct buf *out, const char *key, const char *text)
{
	buf_append_char(out, '{');
	json_write_key(out, key);
	json_write_str(out, text, strlen(text), JSON_W_ASCII);
	buf_append_char(out, '}');
}

/* {"error": "<Type>('<msg>')"}: a Python exception as Node.dispatch
 * reports it (reply = {'error': repr(exc)}). */
static void body_exc(struct buf *out, const char *type, const char *msg)
{
	struct buf e;

	buf_init(&e);
	py_exc_cstr(&e, type, msg);
	if (e.failed)
		out->failed = 1;
	else
		body_kv(out, "error", e.data);
	buf_free(&e);
}

/* {"error": why}: why holds the repr of the exception Celery would raise. */
static void body_why(struct buf *out, struct buf *why)
{
	if (why->failed)
		out->failed = 1;
	else
		body_kv(out, "error", why->data ? why->data : "");
	buf_free(why);
}

/* Python's TypeError for missing positional arguments:
 * {"error": "TypeError(\"revoke() missing 1 required positional argument:
 * 'task_id'\")"}. */
static void body_missing(struct buf *out, const char *func,
			 const char *const *names, size_t n)
{
	struct buf m;

	buf_init(&m);
	if (pyrepr_missing_args(&m, func, names, n) < 0)
		out->failed = 1;
	else
		body_exc(out, "TypeError", m.data);
	buf_free(&m);
}

static const struct celery_ctl_task *
find_task(const struct celery_ctl_task *v, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].id && !strcmp(v[i].id, id))
			return &v[i];
	return NULL;
}

static int held(const struct celery_ctl_state *st, const char *id)
{
	return find_task(st->active, st->n_active, id) ||
	       find_task(st->reserved, st->n_reserved, id) ||
	       find_task(st->scheduled, st->n_scheduled, id);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* registered: names sorted as Python's sorted() (byte order of UTF-8 ==
 * code point order), names starting with "celery." left out, as Celery
 * does without builtins=True. */
static void body_registered(struct buf *out, const char *const *names,
			    size_t n)
{
	const char **v = malloc((n ? n : 1) * sizeof *v);
	size_t i, k = 0;

	if (!v) {
		out->failed = 1;
		return;
	}
	for (i = 0; i < n; i++)
		if (names[i] && strncmp(names[i], "celery.", 7) != 0)
			v[k++] = names[i];
	qsort(v, k, sizeof *v, cmp_names);
	buf_append_char(out, '[');
	for (i = 0; i < k; i++) {
		if (i)
			buf_append_str(out, ", ");
		json_write_cstr(out, v[i]);
	}
	buf_append_char(out, ']');
	free(v);
}

/* Raw JSON text, validated (NULL -> dflt). */
static int w_raw_json(struct buf *out, const char *js, size_t n,
		      const char *dflt)
{
	if (!js)
		return json_write_raw(out, dflt, strlen(dflt));
	if (n == 0)
		n = strlen(js);
	if (json_validate(js, n, NULL, 0) < 0)
		return -1;
	return json_write_raw(out, js, n);
}

/* Request.info(). -1 on a missing id or name or invalid args/kwargs. */
static int w_task_info(struct buf *out, const char *hostname,
		       const struct celery_ctl_task *t)
{
	if (!t->id || !t->name)
		return -1;
	buf_append_str(out, "{\"id\": ");
	json_write_cstr(out, t->id);
	w_key(out, "name");
	json_write_cstr(out, t->name);
	w_key(out, "args");
	if (w_raw_json(out, t->args_json, t->args_len, "[]") < 0)
		return -1;
	w_key(out, "kwargs");
	if (w_raw_json(out, t->kwargs_json, t->kwargs_len, "{}") < 0)
		return -1;
	w_key(out, "type");
	json_write_cstr(out, t->type ? t->type : t->name);
	w_key(out, "hostname");
	json_write_cstr(out, hostname);
	w_key(out, "time_start");
	if (t->time_start > 0)
		w_double(out, t->time_start);
	else
		buf_append_str(out, "null");
	/* Request.acknowledged: False until acknowledge() ran, which for an
	 * acks_late task (ours all are) is after it finished, so every task
	 * held or running shows False (celery/worker/request.py). */
	buf_printf(out, ", \"acknowledged\": %s, \"delivery_info\": "
			"{\"exchange\": ", t->acknowledged ? "true" : "false");
	json_write_cstr(out, t->exchange ? t->exchange : "");
	w_key(out, "routing_key");
	json_write_cstr(out, t->routing_key);
	buf_printf(out, ", \"priority\": %d, \"redelivered\": %s}, "
			"\"worker_pid\": ", t->priority,
		   t->redelivered ? "true" : "null");
	if (t->pid > 0)
		json_write_int(out, t->pid);
	else
		buf_append_str(out, "null");
	buf_append_char(out, '}');
	return 0;
}

/* active / reserved: a list of Request.info() dicts; scheduled wraps each
 * as {"eta": .., "priority": 6, "request": info}. */
static int body_tasks(struct buf *out, const char *hostname,
		      const struct celery_ctl_task *t, size_t n, int scheduled)
{
	size_t i;

	buf_append_char(out, '[');
	for (i = 0; i < n; i++) {
		if (i)
			buf_append_str(out, ", ");
		if (scheduled) {
			buf_append_str(out, "{\"eta\": ");
			json_write_cstr(out, t[i].eta);
			buf_printf(out, ", \"priority\": %d, \"request\": ",
				   ETA_PRIORITY);
		}
		if (w_task_info(out, hostname, &t[i]) < 0)
			return -1;
		if (scheduled)
			buf_append_char(out, '}');
	}
	buf_append_char(out, ']');
	return 0;
}

/* hello (mingle): {"revoked": {"<id>": [<ts>, "<id>"], ...}, "clock": N}
 * (LimitedSet._data entries). ts: when each id was revoked, in
 * CLOCK_MONOTONIC seconds as Celery stamps them (time.monotonic()); a peer
 * purges entries older than 3 hours by that clock, and it needs floats. */
static void body_hello(struct buf *out, const char *const *revoked,
		       const double *ts, size_t n, int64_t clock)
{
	size_t i;

	buf_append_str(out, "{\"revoked\": {");
	for (i = 0; i < n; i++) {
		if (i)
			buf_append_str(out, ", ");
		json_write_key(out, revoked[i]);
		buf_append_char(out, '[');
		w_double(out, ts[i]);
		buf_append_str(out, ", ");
		json_write_cstr(out, revoked[i]);
		buf_append_char(out, ']');
	}
	buf_printf(out, "}, \"clock\": %lld}", (long long)clock);
}

/* revoke / terminate replies, Celery's exact texts:
 * !terminate: {"ok": "tasks <id>, <id> flagged as revoked"} (all ids);
 * terminate: {"ok": "terminate: <id>, <id>"} over the ids st holds, or
 * {"ok": "terminate: tasks unknown"} when it holds none. */
static void body_revoke(struct buf *out, const struct celery_ctl_state *st,
			char *const *ids, size_t n, int terminate)
{
	struct buf m;
	size_t i, k = 0;

	buf_init(&m);
	if (!terminate) {
		buf_append_str(&m, "tasks ");
		for (i = 0; i < n; i++)
			buf_printf(&m, "%s%s", i ? ", " : "", ids[i]);
		buf_append_str(&m, " flagged as revoked");
	} else {
		buf_append_str(&m, "terminate: ");
		for (i = 0; i < n; i++)
			if (held(st, ids[i]))
				buf_printf(&m, "%s%s", k++ ? ", " : "", ids[i]);
		if (!k)
			buf_append_str(&m, "tasks unknown");
	}
	if (m.failed)
		out->failed = 1;
	else
		body_kv(out, "ok", m.data);
	buf_free(&m);
}

static double tv_secs(struct timeval tv)
{
	/* Python's resource module: tv_sec + tv_usec * 1e-6, hence
	 * 0.09713899999999999 in the capture. */
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static void body_stats(struct buf *out, const struct celery_ctl_stats *s)
{
	const struct rusage *r = s->rusage;
	size_t i, k = 0;

	buf_append_str(out, "{\"total\": {");
	for (i = 0; i < s->n_total; i++) {
		/* state.total_count is a Counter of tasks that ran */
		if (s->total_counts[i] <= 0)
			continue;
		if (k++)
			buf_append_str(out, ", ");
		json_write_key(out, s->total_names[i]);
		json_write_int(out, s->total_counts[i]);
	}
	/* str(app.clock): Celery sends the clock as a string here */
	buf_printf(out, "}, \"pid\": %lld, \"clock\": \"%lld\", \"uptime\": ",
		   (long long)s->pid, (long long)s->clock);
	json_write_int(out, pyrepr_round(s->uptime));

	buf_printf(out, ", \"pool\": {\"max-concurrency\": %d, \"processes\": [",
		   s->max_concurrency);
	for (i = 0; i < s->n_processes; i++) {
		if (i)
			buf_append_str(out, ", ");
		json_write_int(out, s->processes[i]);
	}
	buf_append_str(out, "], \"max-tasks-per-child\": ");
	if (s->max_tasks_per_child > 0)
		json_write_int(out, s->max_tasks_per_child);
	else
		buf_append_str(out, "\"N/A\"");
	buf_append_str(out, ", \"put-guarded-by-semaphore\": false, "
			    "\"timeouts\": [");
	w_num(out, s->soft_time_limit > 0 ? s->soft_time_limit : 0);
	buf_append_str(out, ", ");
	w_num(out, s->time_limit > 0 ? s->time_limit : 0);
	buf_append_str(out, "], \"implementation\": ");
	json_write_cstr(out, s->implementation ? s->implementation
					       : "tryon-worker:prefork");

	buf_append_str(out, "}, \"broker\": {\"hostname\": ");
	json_write_cstr(out, s->broker_host);
	w_key(out, "userid");
	json_write_cstr(out, s->broker_user);
	buf_printf(out, ", \"virtual_host\": \"%d\", \"port\": %d, "
			"\"insist\": false, \"ssl\": %s, "
			"\"transport\": \"redis\", \"transport_options\": {",
		   s->broker_db, s->broker_port,
		   s->broker_ssl ? "true" : "false");
	if (s->visibility_timeout > 0)
		buf_printf(out, "\"visibility_timeout\": %lld",
			   (long long)s->visibility_timeout);
	buf_printf(out, "}, \"login_method\": null, \"uri_prefix\": null}, "
			"\"prefetch_count\": %lld, \"rusage\": ",
		   (long long)s->prefetch_count);
	if (!r) {
		buf_append_str(out, "\"N/A\"}");
		return;
	}
	buf_append_str(out, "{\"utime\": ");
	w_double(out, tv_secs(r->ru_utime));
	buf_append_str(out, ", \"stime\": ");
	w_double(out, tv_secs(r->ru_stime));
	buf_printf(out,
		   ", \"maxrss\": %ld, \"ixrss\": %ld, \"idrss\": %ld, "
		   "\"isrss\": %ld, \"minflt\": %ld, \"majflt\": %ld, "
		   "\"nswap\": %ld, \"inblock\": %ld, \"oublock\": %ld, "
		   "\"msgsnd\": %ld, \"msgrcv\": %ld, \"nsignals\": %ld, "
		   "\"nvcsw\": %ld, \"nivcsw\": %ld}}",
		   (long)r->ru_maxrss, (long)r->ru_ixrss, (long)r->ru_idrss,
		   (long)r->ru_isrss, (long)r->ru_minflt, (long)r->ru_majflt,
		   (long)r->ru_nswap, (long)r->ru_inblock, (long)r->ru_oublock,
		   (long)r->ru_msgsnd, (long)r->ru_msgrcv,
		   (long)r->ru_nsignals, (long)r->ru_nvcsw,
		   (long)r->ru_nivcsw);
}

/* ---- queues, settings, report -------------------------------------------- */

/* kombu's Queue.as_dict(recurse=True) for a queue declared the way Celery
 * declares one by name (task_create_missing_queues): a direct exchange and a
 * routing key of the queue's own name, everything else default. Keys and
 * values as a 5.2.6 worker sends them for tryon_queue. */
static void w_queue_dict(struct buf *out, const char *name)
{
	buf_append_str(out, "{\"name\": ");
	json_write_cstr(out, name);
	buf_append_str(out, ", \"exchange\": {\"name\": ");
	json_write_cstr(out, name);
	buf_append_str(out, ", \"type\": \"direct\", \"arguments\": null, "
			    "\"durable\": true, \"passive\": false, "
			    "\"auto_delete\": false, \"delivery_mode\": null, "
			    "\"no_declare\": false}, \"routing_key\": ");
	json_write_cstr(out, name);
	buf_append_str(out, ", \"queue_arguments\": null, "
			    "\"binding_arguments\": null, "
			    "\"consumer_arguments\": null, \"durable\": true, "
			    "\"exclusive\": false, \"auto_delete\": false, "
			    "\"no_ack\": false, \"alias\": null, \"bindings\": [], "
			    "\"no_declare\": null, \"expires\": null, "
			    "\"message_ttl\": null, \"max_length\": null, "
			    "\"max_length_bytes\": null, \"max_priority\": null}");
}

static void body_active_queues(struct buf *out,
			       const struct celery_ctl_state *st)
{
	size_t i;

	buf_append_char(out, '[');
	for (i = 0; i < st->n_queues; i++) {
		if (i)
			buf_append_str(out, ", ");
		w_queue_dict(out, st->queues[i]);
	}
	buf_append_char(out, ']');
}

#define MASK "********"   /* filter_hidden_settings' mask */
#define MASK_REPORT "**"  /* maybe_sanitize_url's default, in bugreport() */

/* kombu's safequote: urllib.parse.quote(s, safe=''). */
static void w_quote(struct buf *out, const char *s, int lower)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (lower && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		    c == '-' || c == '~')
			buf_append_char(out, (char)c);
		else
			buf_printf(out, "%%%02X", c);
	}
}

/* A URL with the password replaced by mask. broker_form: kombu's
 * Connection.as_uri(mask=...), which Celery uses for broker_url (the port
 * always shown); else maybe_sanitize_url, which Celery uses for the result
 * backend. Both drop the query; urlparse lowercases scheme and host. We
 * always know the port, so the sanitized form shows it even where the
 * configured URL left it out. A unix socket URL takes the sanitized form
 * (kombu has no unix transport to render it). */
static void w_url_text(struct buf *out, const struct celery_ctl_url *u,
		       const char *mask, int broker_form)
{
	w_quote(out, u->scheme ? u->scheme : "redis", 1);
	buf_append_str(out, "://");
	if ((u->user && *u->user) || u->has_password) {
		if (u->user)
			w_quote(out, u->user, 0);
		if (u->has_password) {
			buf_append_char(out, ':');
			buf_append_str(out, mask);
		}
		buf_append_char(out, '@');
	}
	if (u->path) {
		buf_append_str(out, u->path[0] == '/' ? "" : "/");
		buf_append_str(out, u->path);
		return;
	}
	w_quote(out, u->host && *u->host ? u->host : "localhost", 1);
	if (u->port > 0 || broker_form)
		buf_printf(out, ":%d", u->port > 0 ? u->port : 6379);
	buf_printf(out, "/%d", u->db);
}

/* 1 when s contains needle, ASCII case-insensitively. */
static int has_ci(const char *s, const char *needle)
{
	size_t n = strlen(needle), i;

	for (; *s; s++) {
		for (i = 0; i < n && s[i]; i++) {
			char a = s[i], b = needle[i];

			if (a >= 'A' && a <= 'Z')
				a = (char)(a - 'A' + 'a');
			if (b >= 'A' && b <= 'Z')
				b = (char)(b - 'A' + 'a');
			if (a != b)
				break;
		}
		if (i == n)
			return 1;
	}
	return 0;
}

/* celery.app.utils.HIDDEN_SETTINGS */
static int hidden_key(const char *key)
{
	static const char *const words[] = {
		"API", "TOKEN", "KEY", "SECRET", "PASS", "PROFANITIES_LIST",
		"SIGNATURE", "DATABASE",
	};
	size_t i;

	for (i = 0; i < sizeof words / sizeof words[0]; i++)
		if (has_ci(key, words[i]))
			return 1;
	return 0;
}

/* What filter_hidden_settings makes of a setting: ours by kind. */
enum shown { SHOWN_MASK, SHOWN_MAP, SHOWN_URL, SHOWN_VALUE };

static int shown_as(const struct celery_ctl_setting *s, int *broker_form)
{
	*broker_form = 0;
	if (s->kind == CELERY_CTL_V_MAP)
		return SHOWN_MAP; /* a Mapping is filtered first, by its keys */
	if (hidden_key(s->key ? s->key : ""))
		return SHOWN_MASK;
	if (s->kind == CELERY_CTL_V_URL && s->url) {
		*broker_form = has_ci(s->key ? s->key : "", "broker_url");
		return SHOWN_URL;
	}
	return SHOWN_VALUE;
}

#define MAX_SETTING_DEPTH 4

/* One value as jsonify() writes it. */
static void w_setting_json(struct buf *out, const struct celery_ctl_setting *s,
			   int depth)
{
	struct buf t;
	size_t i;
	int broker_form;

	switch (shown_as(s, &broker_form)) {
	case SHOWN_MASK:
		json_write_cstr(out, MASK);
		return;
	case SHOWN_URL:
		buf_init(&t);
		w_url_text(&t, s->url, MASK, broker_form);
		if (t.failed)
			out->failed = 1;
		else
			json_write_cstr(out, t.data);
		buf_free(&t);
		return;
	case SHOWN_MAP:
		buf_append_char(out, '{');
		for (i = 0; depth < MAX_SETTING_DEPTH && i < s->n; i++) {
			if (i)
				buf_append_str(out, ", ");
			json_write_key(out, s->map[i].key ? s->map[i].key : "");
			w_setting_json(out, &s->map[i], depth + 1);
		}
		buf_append_char(out, '}');
		return;
	default:
		break;
	}
	switch (s->kind) {
	case CELERY_CTL_V_BOOL:
		buf_append_str(out, s->i ? "true" : "false");
		break;
	case CELERY_CTL_V_INT:
		json_write_int(out, s->i);
		break;
	case CELERY_CTL_V_NUM:
		w_num(out, s->num);
		break;
	case CELERY_CTL_V_STR:
		json_write_cstr(out, s->str); /* NULL -> null */
		break;
	case CELERY_CTL_V_STRS:
		buf_append_char(out, '[');
		for (i = 0; i < s->n; i++) {
			if (i)
				buf_append_str(out, ", ");
			json_write_cstr(out, s->strs[i]);
		}
		buf_append_char(out, ']');
		break;
	default:
		buf_append_str(out, "null");
		break;
	}
}

static void body_conf(struct buf *out, const struct celery_ctl_state *st)
{
	size_t i;

	buf_append_char(out, '{');
	for (i = 0; i < st->n_settings; i++) {
		if (i)
			buf_append_str(out, ", ");
		json_write_key(out, st->settings[i].key ? st->settings[i].key : "");
		w_setting_json(out, &st->settings[i], 0);
	}
	buf_append_char(out, '}');
}

static void w_pystr(struct buf *out, const char *s)
{
	if (pyrepr_str(out, s, strlen(s)) < 0)
		out->failed = 1;
}

static int cmp_settings(const void *a, const void *b)
{
	const struct celery_ctl_setting *x = *(const struct celery_ctl_setting *const *)a;
	const struct celery_ctl_setting *y = *(const struct celery_ctl_setting *const *)b;

	return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

/* repr() of a value as pprint.pformat prints it (dicts with sorted keys,
 * on one line: ours are short). */
static void w_setting_repr(struct buf *out, const struct celery_ctl_setting *s,
			   int depth)
{
	const struct celery_ctl_setting **v;
	struct buf t;
	size_t i;
	int broker_form;

	switch (shown_as(s, &broker_form)) {
	case SHOWN_MASK:
		w_pystr(out, MASK);
		return;
	case SHOWN_URL:
		buf_init(&t);
		w_url_text(&t, s->url, MASK, broker_form);
		if (t.failed)
			out->failed = 1;
		else
			w_pystr(out, t.data);
		buf_free(&t);
		return;
	case SHOWN_MAP:
		v = malloc((s->n ? s->n : 1) * sizeof *v);
		if (!v) {
			out->failed = 1;
			return;
		}
		for (i = 0; i < s->n; i++)
			v[i] = &s->map[i];
		qsort(v, s->n, sizeof *v, cmp_settings);
		buf_append_char(out, '{');
		for (i = 0; depth < MAX_SETTING_DEPTH && i < s->n; i++) {
			if (i)
				buf_append_str(out, ", ");
			w_pystr(out, v[i]->key ? v[i]->key : "");
			buf_append_str(out, ": ");
			w_setting_repr(out, v[i], depth + 1);
		}
		buf_append_char(out, '}');
		free(v);
		return;
	default:
		break;
	}
	switch (s->kind) {
	case CELERY_CTL_V_BOOL:
		buf_append_str(out, s->i ? "True" : "False");
		break;
	case CELERY_CTL_V_INT:
		json_write_int(out, s->i);
		break;
	case CELERY_CTL_V_NUM:
		w_num(out, s->num);
		break;
	case CELERY_CTL_V_STR:
		if (s->str)
			w_pystr(out, s->str);
		else
			buf_append_str(out, "None");
		break;
	case CELERY_CTL_V_STRS:
		buf_append_char(out, '[');
		for (i = 0; i < s->n; i++) {
			if (i)
				buf_append_str(out, ", ");
			w_pystr(out, s->strs[i] ? s->strs[i] : "");
		}
		buf_append_char(out, ']');
		break;
	default:
		buf_append_str(out, "None");
		break;
	}
}

/* Celery's bugreport(): BUGREPORT_INFO filled in, the settings as
 * app.conf.humanize() writes them ("key: pretty(value, width=50)"; a dict
 * as "{\n " + its pformat without the brace). */
static void body_report(struct buf *out, const struct celery_ctl_state *st)
{
	const struct celery_ctl_report *r = st->report;
	struct buf t, v;
	size_t i;

#define S(x) ((x) ? (x) : "")
	buf_init(&t);
	buf_printf(&t, "\nsoftware -> %s\n            %s\n"
		       "platform -> system:%s arch:%s\n"
		       "            kernel version:%s imp:%s\n"
		       "loader   -> %s\n"
		       "settings -> transport:%s results:",
		   S(r->software), S(r->libraries), S(r->system), S(r->arch),
		   S(r->kernel), S(r->imp), S(r->loader), S(r->transport));
#undef S
	if (r->results)
		w_url_text(&t, r->results, MASK_REPORT, 0);
	else
		buf_append_str(&t, "disabled");
	buf_append_str(&t, "\n\n");
	for (i = 0; i < st->n_settings; i++) {
		const struct celery_ctl_setting *s = &st->settings[i];

		if (i)
			buf_append_char(&t, '\n');
		buf_printf(&t, "%s: ", s->key ? s->key : "");
		if (s->kind != CELERY_CTL_V_MAP) {
			w_setting_repr(&t, s, 0);
			continue;
		}
		/* pretty(): "{\n " + pformat(value)[1:] */
		buf_init(&v);
		w_setting_repr(&v, s, 0);
		if (v.failed || v.len < 1)
			t.failed = 1;
		else
			buf_printf(&t, "{\n %s", v.data + 1);
		buf_free(&v);
	}
	buf_append_char(&t, '\n');
	if (t.failed)
		out->failed = 1;
	else
		body_kv(out, "ok", t.data);
	buf_free(&t);
}

/* ---- pool, queues and limits ---------------------------------------------- */

/* {"error": "ValueError('<why>')"}: what this worker refuses to do, in the
 * shape Celery gives a command that raised. */
static void body_refuse(struct buf *out, const char *why)
{
	body_exc(out, "ValueError", why);
}

/* An int argument as operator.index() takes it (range(n), comparisons with
 * processes): a JSON integer or a bool. 0 with *v, -2 when absent, -1 with
 * Python's TypeError repr appended to why otherwise (null included). */
static int arg_index(const struct celery_ctl_request *req, const char *name,
		     int64_t *v, struct buf *why)
{
	const struct json_doc *d = &req->doc;
	int t = arg_tok_any(req, name), k;
	char msg[96];

	if (t < 0)
		return -2;
	k = json_kind(d, t);
	if (k == JSON_K_TRUE || k == JSON_K_FALSE) {
		*v = k == JSON_K_TRUE;
		return 0;
	}
	if (!strcmp(pyrepr_type_name(d, t), "int")) {
		if (json_tok_int64(d, t, v, NULL, 0) == 0)
			return 0;
		py_exc_cstr(why, "OverflowError",
			    "Python int too large to convert to C ssize_t");
		return -1;
	}
	snprintf(msg, sizeof msg, "'%s' object cannot be interpreted as an integer",
		 pyrepr_type_name(d, t));
	py_exc_cstr(why, "TypeError", msg);
	return -1;
}

/* pool_grow(n=1) / pool_shrink(n=1). Celery grows or shrinks its pool of
 * processes; ours has no idle processes (a job forks its own child), so the
 * number is how many jobs may run at once. Shrinking kills nothing: jobs
 * running beyond the new number finish first. */
static void do_pool_resize(const struct celery_ctl_request *req,
			   const struct celery_ctl_state *st, struct buf *body,
			   struct celery_ctl_action *act, int grow)
{
	struct buf why;
	int64_t n = 1, want;
	char msg[160];

	buf_init(&why);
	if (arg_index(req, "n", &n, &why) == -1) {
		body_why(body, &why);
		return;
	}
	buf_free(&why);
	if (n > 0) {
		want = grow ? (int64_t)st->concurrency + n
			    : (int64_t)st->concurrency - n;
		if (grow && want > st->max_concurrency) {
			snprintf(msg, sizeof msg, "Can't grow pool past %d "
				 "slots (tryon-worker's ceiling)",
				 st->max_concurrency);
			body_refuse(body, msg);
			return;
		}
		if (!grow && want < 1) {
			snprintf(msg, sizeof msg, "Can't shrink pool below 1 slot "
				 "(cancel_consumer stops consuming instead)");
			body_refuse(body, msg);
			return;
		}
		act->act = CELERY_CTL_ACT_CONCURRENCY;
		act->concurrency = (int)want;
		act->autoscale_min = -1;
	}
	/* Celery's replies say what will happen, not what did */
	body_kv(body, "ok", grow ? "pool will grow" : "pool will shrink");
}

/* autoscale(max=None, min=None): Celery's Autoscaler.update, as if the
 * worker ran with --autoscale: max is how many jobs may run at once (idle
 * slots cost nothing here, so there is nothing to scale between min and
 * max); min is kept for the reply. */
static void do_autoscale(const struct celery_ctl_request *req,
			 const struct celery_ctl_state *st, struct buf *body,
			 struct celery_ctl_action *act)
{
	struct buf why, m;
	int64_t mx = st->concurrency, mn = st->autoscale_min;
	int tmax = arg_tok(req, "max"), tmin = arg_tok(req, "min");
	char msg[160];

	buf_init(&why);
	if ((tmax >= 0 && arg_index(req, "max", &mx, &why) < 0) ||
	    (tmin >= 0 && arg_index(req, "min", &mn, &why) < 0)) {
		body_why(body, &why);
		return;
	}
	buf_free(&why);
	if (mx < 1 || mx > st->max_concurrency || mn < 0) {
		snprintf(msg, sizeof msg, "autoscale takes 1 <= max <= %d and "
			 "min >= 0", st->max_concurrency);
		body_refuse(body, msg);
		return;
	}
	act->act = CELERY_CTL_ACT_CONCURRENCY;
	act->concurrency = (int)mx;
	act->autoscale_min = (int)mn;
	buf_init(&m);
	buf_printf(&m, "autoscale now max=%lld min=%lld", (long long)mx,
		   (long long)mn);
	if (m.failed)
		body->failed = 1;
	else
		body_kv(body, "ok", m.data);
	buf_free(&m);
}

#define MAX_QUEUE_NAME 200 /* a Redis list name; kombu's priority lists add 3 */

static int queue_index(const struct celery_ctl_state *st, const char *name)
{
	size_t i;

	for (i = 0; i < st->n_queues; i++)
		if (st->queues[i] && !strcmp(st->queues[i], name))
			return (int)i;
	return -1;
}

/* The queue argument of add/cancel_consumer: 0 with *name (malloc'd), or
 * -1 with the reply written. */
static int queue_arg(const struct celery_ctl_request *req, const char *method,
		     struct buf *body, char **name)
{
	static const char *const args[] = { "queue" };
	char msg[160];
	int rc;

	*name = NULL;
	if (arg_tok_any(req, "queue") < 0) {
		body_missing(body, method, args, 1);
		return -1;
	}
	rc = arg_str(req, "queue", name);
	if (rc < 0 || !*name || !**name || strlen(*name) > MAX_QUEUE_NAME) {
		snprintf(msg, sizeof msg, "queue must be a name of 1 to %d "
			 "bytes", MAX_QUEUE_NAME);
		body_refuse(body, msg);
		free(*name);
		*name = NULL;
		return -1;
	}
	return 0;
}

/* Whether optional string argument key is absent, null or equal to want. */
static int arg_absent_or(const struct celery_ctl_request *req,
			 const char *key, const char *want)
{
	char *v = NULL;
	int rc = arg_str(req, key, &v), ok;

	if (rc == -2)
		return 1;
	ok = rc == 0 && !strcmp(v, want);
	free(v);
	return ok;
}

/* add_consumer(queue, exchange=None, exchange_type=None, routing_key=None):
 * Celery replies at once and starts consuming soon after (call_soon). */
static void do_add_consumer(const struct celery_ctl_request *req,
			    const struct celery_ctl_state *st, struct buf *body,
			    struct celery_ctl_action *act)
{
	struct buf m;
	char *name, msg[200];

	if (queue_arg(req, "add_consumer", body, &name) < 0)
		return;
	/* A queue is consumed through the direct exchange and routing key
	 * of its own name (what Celery creates for a name it does not know);
	 * other bindings would need kombu's exchange table, which we lack. */
	if (!arg_absent_or(req, "exchange", name) ||
	    !arg_absent_or(req, "exchange_type", "direct") ||
	    !arg_absent_or(req, "routing_key", name)) {
		body_refuse(body, "tryon-worker consumes a queue through the "
			    "direct exchange and routing key of its name");
		free(name);
		return;
	}
	if (queue_index(st, name) < 0) {
		if (st->n_queues >= st->max_queues) {
			snprintf(msg, sizeof msg, "already consuming from %zu "
				 "queues, the most tryon-worker takes",
				 st->n_queues);
			body_refuse(body, msg);
			free(name);
			return;
		}
		act->act = CELERY_CTL_ACT_ADD_QUEUE;
		act->name = name;
	}
	buf_init(&m);
	buf_printf(&m, "add consumer %s", name);
	if (m.failed)
		body->failed = 1;
	else
		body_kv(body, "ok", m.data);
	buf_free(&m);
	if (!act->name)
		free(name);
}

/* cancel_consumer(queue): Celery's reply does not depend on whether the
 * queue was consumed. */
static void do_cancel_consumer(const struct celery_ctl_request *req,
			       const struct celery_ctl_state *st,
			       struct buf *body, struct celery_ctl_action *act)
{
	struct buf m;
	char *name;

	if (queue_arg(req, "cancel_consumer", body, &name) < 0)
		return;
	if (queue_index(st, name) >= 0) {
		act->act = CELERY_CTL_ACT_CANCEL_QUEUE;
		act->name = name;
	}
	buf_init(&m);
	buf_printf(&m, "no longer consuming from %s", name);
	if (m.failed)
		body->failed = 1;
	else
		body_kv(body, "ok", m.data);
	buf_free(&m);
	if (!act->name)
		free(name);
}

/* Python's float() of a str: surrounding whitespace, a sign, digits with
 * single underscores between them, a point, an exponent; inf, infinity,
 * nan in any case. Hex and the rest are refused. 0 with *v, or -1. */
static int py_float(const char *s, size_t n, double *v)
{
	char tmp[128], *end;
	size_t a = 0, b = n, i, k = 0;
	int digits = 0, prev_digit = 0;

#define SPACE(c) ((c) == ' ' || ((c) >= '\t' && (c) <= '\r') || \
		  ((c) >= 0x1c && (c) <= 0x1f))
	while (a < b && SPACE((unsigned char)s[a]))
		a++;
	while (b > a && SPACE((unsigned char)s[b - 1]))
		b--;
#undef SPACE
	if (b - a >= sizeof tmp)
		return -1;
	i = a;
	if (i < b && (s[i] == '+' || s[i] == '-'))
		tmp[k++] = s[i++];
	{
		static const char *const words[] = { "infinity", "inf", "nan" };
		size_t w, j, len;

		for (w = 0; w < 3; w++) {
			len = strlen(words[w]);
			if (b - i != len)
				continue;
			for (j = 0; j < len; j++)
				if ((s[i + j] | 0x20) != words[w][j])
					break;
			if (j == len) {
				*v = w == 2 ? NAN : INFINITY;
				if (k && tmp[0] == '-')
					*v = -*v;
				return 0;
			}
		}
	}
	for (; i < b; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9') {
			digits++;
			prev_digit = 1;
			tmp[k++] = c;
		} else if (c == '_') {
			/* only between two digits */
			if (!prev_digit || i + 1 >= b || s[i + 1] < '0' ||
			    s[i + 1] > '9')
				return -1;
			prev_digit = 0;
		} else if (c == '.' || c == 'e' || c == 'E' || c == '+' ||
			   c == '-') {
			prev_digit = 0;
			tmp[k++] = c;
		} else {
			return -1;
		}
	}
	tmp[k] = '\0';
	if (!digits)
		return -1;
	/* strtod accepts what Python does from here on, and a little more
	 * (hex, inf): neither can remain after the checks above */
	*v = strtod(tmp, &end);
	return *end == '\0' && end != tmp ? 0 : -1;
}

int celery_ctl_rate(const char *text, double *per_sec, struct buf *why)
{
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	const char *unit = slash ? slash + 1 : "";
	struct buf m;
	double v;
	int rc = -1;

	*per_sec = 0;
	if (!*text)
		return 0; /* rate('') is 0: no limit */
	buf_init(&m);
	/* RATE_MODIFIER_MAP[modifier or 's'] is looked up before float()
	 * runs, and its KeyError is not the ValueError the handler catches */
	if (*unit && strcmp(unit, "s") && strcmp(unit, "m") && strcmp(unit, "h")) {
		pyrepr_exception_str(why, "KeyError", unit, strlen(unit));
		goto out;
	}
	if (py_float(text, n, &v) < 0) {
		buf_append_str(&m, "could not convert string to float: ");
		pyrepr_str(&m, text, n);
		buf_append_str(why, "Invalid rate limit string: ");
		if (!m.failed)
			pyrepr_exception_str(why, "ValueError", m.data, m.len);
		goto out;
	}
	if (!strcmp(unit, "m"))
		v = v / 60.0;
	else if (!strcmp(unit, "h"))
		v = v / 60.0 / 60.0;
	if (isnan(v) || v < 0) {
		buf_append_str(why, "Invalid rate limit string: ");
		py_exc_cstr(why, "ValueError", "a rate limit is a number >= 0 "
			    "of starts per s, m or h");
		goto out;
	}
	*per_sec = isinf(v) ? 0 : v;
	rc = 0;
out:
	buf_free(&m);
	return rc;
}

static int task_known(const struct celery_ctl_state *st, const char *name)
{
	size_t i;

	for (i = 0; name && i < st->n_task_names; i++)
		if (st->task_names[i] && !strcmp(st->task_names[i], name))
			return 1;
	return 0;
}

/* rate_limit(task_name, rate_limit): the rate is checked first, then the
 * task; the reply's wording follows the argument's truthiness ("0" is a
 * non-empty str: "new rate limit set", though it sets none). */
static void do_rate_limit(const struct celery_ctl_request *req,
			  const struct celery_ctl_state *st, struct buf *body,
			  struct celery_ctl_action *act)
{
	const char *missing[2];
	const struct json_doc *d = &req->doc;
	size_t nmissing = 0;
	struct buf why;
	char *text = NULL, *task = NULL, msg[128];
	double v = 0;
	int t, k;

	if (arg_tok_any(req, "task_name") < 0)
		missing[nmissing++] = "task_name";
	if (arg_tok_any(req, "rate_limit") < 0)
		missing[nmissing++] = "rate_limit";
	if (nmissing) {
		body_missing(body, "rate_limit", missing, nmissing);
		return;
	}
	buf_init(&why);
	t = arg_tok(req, "rate_limit");
	k = t >= 0 ? json_kind(d, t) : JSON_K_NULL;
	if (k == JSON_K_STRING) {
		if (tok_cstr(d, t, &text) < 0 ||
		    celery_ctl_rate(text, &v, &why) < 0) {
			free(text);
			body_why(body, &why);
			return;
		}
		free(text);
	} else if (k == JSON_K_NUMBER || k == JSON_K_TRUE) {
		/* rate(5) is 5: a number is per second */
		if (k == JSON_K_TRUE)
			v = 1;
		else if (json_tok_double(d, t, &v, NULL, 0) < 0)
			v = INFINITY;
		if (isnan(v) || v < 0) {
			buf_append_str(&why, "Invalid rate limit string: ");
			py_exc_cstr(&why, "ValueError", "a rate limit is a number "
				    ">= 0 of starts per s, m or h");
			body_why(body, &why);
			return;
		}
		if (isinf(v))
			v = 0;
	} else if (k == JSON_K_ARRAY || k == JSON_K_OBJECT) {
		snprintf(msg, sizeof msg, "float() argument must be a string or "
			 "a real number, not '%s'", pyrepr_type_name(d, t));
		buf_append_str(&why, "Invalid rate limit string: ");
		py_exc_cstr(&why, "TypeError", msg);
		body_why(body, &why);
		return;
	}
	buf_free(&why);
	if (arg_str(req, "task_name", &task) < 0 || !task_known(st, task)) {
		free(task);
		body_kv(body, "error", "unknown task");
		return;
	}
	act->act = CELERY_CTL_ACT_RATE_LIMIT;
	act->name = task;
	act->rate = v;
	body_kv(body, "ok", t >= 0 && pyrepr_truthy(d, t)
				    ? "new rate limit set successfully"
				    : "rate limit disabled successfully");
}

/* A time limit argument: absent or null is 0 (none), else seconds >= 0. */
static int arg_seconds(const struct celery_ctl_request *req, const char *name,
		       double *v)
{
	const struct json_doc *d = &req->doc;
	int t = arg_tok(req, name);

	*v = 0;
	if (t < 0)
		return 0;
	if (json_kind(d, t) != JSON_K_NUMBER ||
	    json_tok_double(d, t, v, NULL, 0) < 0 || !(*v >= 0))
		return -1;
	return 0;
}

/* time_limit(task_name=None, hard=None, soft=None): Celery sets the task's
 * soft_time_limit and time_limit, both, from what was given. */
static void do_time_limit(const struct celery_ctl_request *req,
			  const struct celery_ctl_state *st, struct buf *body,
			  struct celery_ctl_action *act)
{
	char *task = NULL;
	double soft, hard;

	if (arg_str(req, "task_name", &task) < 0 || !task_known(st, task)) {
		free(task);
		body_kv(body, "error", "unknown task");
		return;
	}
	if (arg_seconds(req, "soft", &soft) < 0 ||
	    arg_seconds(req, "hard", &hard) < 0) {
		free(task);
		body_refuse(body, "soft and hard are seconds >= 0 (or null)");
		return;
	}
	act->act = CELERY_CTL_ACT_TIME_LIMIT;
	act->name = task;
	act->soft = soft;
	act->hard = hard;
	body_kv(body, "ok", "time limits set successfully");
}

/* ---- celery_ctl_handle ------------------------------------------------ */

void celery_ctl_action_free(struct celery_ctl_action *act)
{
	if (!act)
		return;
	ids_free(act->ids, act->n_ids);
	free(act->ts);
	free(act->name);
	memset(act, 0, sizeof *act);
}

/* revoke(state, task_id, terminate=False, signal=None) and
 * terminate(state, signal, task_id). */
static void do_revoke(const struct celery_ctl_request *req,
		      const struct celery_ctl_state *st, struct buf *body,
		      struct celery_ctl_action *act, int terminate_method)
{
	const char *missing[2];
	size_t nmissing = 0;
	struct buf why;
	int terminate = terminate_method;

	if (terminate_method && arg_tok_any(req, "signal") < 0)
		missing[nmissing++] = "signal";
	if (arg_tok_any(req, "task_id") < 0)
		missing[nmissing++] = "task_id";
	if (nmissing) {
		body_missing(body, terminate_method ? "terminate" : "revoke",
			     missing, nmissing);
		return;
	}
	buf_init(&why);
	if (arg_ids(req, "task_id", &act->ids, &act->n_ids, &why) < 0) {
		body_why(body, &why);
		return;
	}
	act->act = CELERY_CTL_ACT_REVOKE;
	if (!terminate_method)
		arg_bool(req, "terminate", &terminate);
	/* Celery flags the ids revoked before it looks at the signal, so a
	 * bad signal still revokes them, without terminating anything. */
	if (terminate && arg_signum(req, "signal", &act->signum, &why) < 0) {
		body_why(body, &why);
		return;
	}
	buf_free(&why);
	act->terminate = terminate;
	body_revoke(body, st, act->ids, act->n_ids, terminate);
}

/* The time of a LimitedSet._data entry: [ts, id] (or a bare ts), as
 * LimitedSet.update reads it; *when is left alone otherwise. */
static void entry_time(const struct json_doc *d, int v, double *when)
{
	int k = json_kind(d, v);

	if (k == JSON_K_ARRAY && d->toks[v].size > 0)
		v = json_arr_get(d, v, 0);
	if (json_kind(d, v) == JSON_K_NUMBER)
		json_tok_double(d, v, when, NULL, 0);
}

/* hello(state, from_node, revoked=None): a peer's mingle at its start. */
static void do_hello(const struct celery_ctl_request *req,
		     const struct celery_ctl_state *st, struct buf *body,
		     struct celery_ctl_action *act)
{
	static const char *const args[] = { "from_node" };
	const struct json_doc *d = &req->doc;
	const char **ids = NULL;
	double *ts = NULL;
	size_t n = 0, i, j, cap, cap2 = 0;
	int t, k, e;
	char *from = NULL, *s;

	if (arg_tok_any(req, "from_node") < 0) {
		body_missing(body, "hello", args, 1);
		return;
	}
	arg_str(req, "from_node", &from);
	if (from && !strcmp(from, st->hostname)) {
		/* our own hello: Celery's handler returns None */
		free(from);
		buf_append_str(body, "null");
		return;
	}
	free(from);
	/* revoked.update(theirs): a dict (LimitedSet._data) or a list */
	t = arg_tok(req, "revoked");
	k = t >= 0 ? json_kind(d, t) : JSON_K_INVALID;
	cap = st->n_revoked + (t >= 0 ? (size_t)d->toks[t].size : 0) + 1;
	ids = calloc(cap, sizeof *ids);
	ts = calloc(cap, sizeof *ts);
	act->ts = calloc(cap, sizeof *act->ts);
	if (!ids || !ts || !act->ts)
		goto fail;
	for (i = 0; i < st->n_revoked; i++) {
		ids[n] = st->revoked[i];
		ts[n++] = st->revoked_ts ? st->revoked_ts[i] : st->now;
	}
	if (k == JSON_K_OBJECT || k == JSON_K_ARRAY) {
		act->act = CELERY_CTL_ACT_SYNC;
		for (i = 0, e = t + 1; i < (size_t)d->toks[t].size;
		     i++, e = json_skip(d, k == JSON_K_OBJECT ? json_skip(d, e) : e)) {
			double when = st->now;

			if (json_kind(d, e) != JSON_K_STRING ||
			    tok_cstr(d, e, &s) < 0)
				continue;
			if (k == JSON_K_OBJECT)
				entry_time(d, json_skip(d, e), &when);
			act->ts[act->n_ids] = when;
			if (ids_push(&act->ids, &act->n_ids, &cap2, s) < 0)
				goto fail;
		}
	}
	/* Their ids join ours in the reply, as after revoked.update(). */
	for (i = 0; i < act->n_ids; i++) {
		for (j = 0; j < n && strcmp(ids[j], act->ids[i]); j++)
			;
		if (j == n && n < cap) {
			ids[n] = act->ids[i];
			ts[n++] = act->ts[i];
		}
	}
	act->clock_used = 1;
	act->clock_value = st->clock + 1; /* app.clock.forward() */
	body_hello(body, ids, ts, n, act->clock_value);
	free(ids);
	free(ts);
	return;
fail:
	body->failed = 1;
	free(ids);
	free(ts);
}

/* query_task(state, ids): the requests held, as [state, info] by id. */
static int do_query_task(const struct celery_ctl_request *req,
			 const struct celery_ctl_state *st, struct buf *body)
{
	static const char *const args[] = { "ids" };
	const struct celery_ctl_task *t;
	struct buf why;
	char **ids;
	size_t n, i, k = 0;
	int rc = 0;

	if (arg_tok_any(req, "ids") < 0) {
		body_missing(body, "query_task", args, 1);
		return 0;
	}
	buf_init(&why);
	if (arg_ids(req, "ids", &ids, &n, &why) < 0) {
		body_why(body, &why);
		return 0;
	}
	buf_free(&why);
	buf_append_char(body, '{');
	for (i = 0; i < n && rc == 0; i++) {
		const char *state = "active";

		t = find_task(st->active, st->n_active, ids[i]);
		if (!t) {
			t = find_task(st->reserved, st->n_reserved, ids[i]);
			state = "reserved";
		}
		if (!t)
			continue; /* Celery lists only requests it holds */
		if (k++)
			buf_append_str(body, ", ");
		json_write_key(body, ids[i]);
		buf_printf(body, "[\"%s\", ", state);
		rc = w_task_info(body, st->hostname, t);
		buf_append_char(body, ']');
	}
	buf_append_char(body, '}');
	ids_free(ids, n);
	return rc;
}

int celery_ctl_handle(const struct celery_ctl_request *req,
		      const struct celery_ctl_state *st, struct buf *body,
		      struct celery_ctl_action *act, char *err, size_t errlen)
{
	struct buf b, m;
	size_t i;
	int rc = 0, method;

	memset(act, 0, sizeof *act);
	if (!req->method || !st || !st->hostname) {
		errmsg_set(err, errlen, "no method or no hostname");
		return -1;
	}
	method = method_of(req->method);
	act->reply = req->has_reply;
	buf_init(&b);
	buf_init(&m);
	if (method == M_UNKNOWN) {
		/* self.handlers[method] comes before the arguments */
		body_exc(&b, "KeyError", req->method);
		goto done;
	}
	if (req->args_bad) {
		/* handler(state, **arguments) with a non-mapping */
		buf_printf(&m, "%s() argument after ** must be a mapping, not %s",
			   req->method,
			   pyrepr_type_name(&req->doc,
					    json_obj_get(&req->doc, 0, "arguments")));
		if (m.failed)
			b.failed = 1;
		else
			body_exc(&b, "TypeError", m.data);
		goto done;
	}
	switch (method) {
	case M_PING:
		body_kv(&b, "ok", "pong");
		break;
	case M_ACTIVE:
		rc = body_tasks(&b, st->hostname, st->active, st->n_active, 0);
		break;
	case M_RESERVED:
		rc = body_tasks(&b, st->hostname, st->reserved, st->n_reserved,
				0);
		break;
	case M_SCHEDULED:
		rc = body_tasks(&b, st->hostname, st->scheduled,
				st->n_scheduled, 1);
		break;
	case M_REGISTERED:
		body_registered(&b, st->task_names, st->n_task_names);
		break;
	case M_STATS:
		if (st->stats)
			body_stats(&b, st->stats);
		else
			body_kv(&b, "error", "stats unavailable");
		break;
	case M_REVOKED:
		buf_append_char(&b, '[');
		for (i = 0; i < st->n_revoked; i++) {
			if (i)
				buf_append_str(&b, ", ");
			json_write_cstr(&b, st->revoked[i]);
		}
		buf_append_char(&b, ']');
		break;
	case M_CLOCK:
		buf_printf(&b, "{\"clock\": %lld}", (long long)st->clock);
		break;
	case M_HELLO:
		do_hello(req, st, &b, act);
		break;
	case M_QUERY_TASK:
		rc = do_query_task(req, st, &b);
		break;
	case M_REVOKE:
	case M_TERMINATE:
		do_revoke(req, st, &b, act, method == M_TERMINATE);
		break;
	case M_SHUTDOWN:
		/* WorkerShutdown is a SystemExit: Node.dispatch re-raises it
		 * before replying, so `celery control shutdown` hears
		 * nothing (and exits 69), as with a Python worker. */
		act->act = CELERY_CTL_ACT_SHUTDOWN;
		act->reply = 0;
		break;
	case M_ENABLE_EVENTS:
		body_kv(&b, "ok", st->task_events ? "task events already enabled"
						  : "task events enabled");
		if (!st->task_events)
			act->act = CELERY_CTL_ACT_EVENTS_ON;
		break;
	case M_DISABLE_EVENTS:
		body_kv(&b, "ok", st->task_events ? "task events disabled"
						  : "task events already disabled");
		if (st->task_events)
			act->act = CELERY_CTL_ACT_EVENTS_OFF;
		break;
	case M_HEARTBEAT:
		act->act = CELERY_CTL_ACT_HEARTBEAT;
		buf_append_str(&b, "null"); /* the handler returns None */
		break;
	case M_ACTIVE_QUEUES:
		body_active_queues(&b, st);
		break;
	case M_CONF:
		body_conf(&b, st);
		break;
	case M_REPORT:
		if (st->report)
			body_report(&b, st);
		else
			body_kv(&b, "error", "report unavailable");
		break;
	case M_POOL_GROW:
	case M_POOL_SHRINK:
		do_pool_resize(req, st, &b, act, method == M_POOL_GROW);
		break;
	case M_POOL_RESTART:
		/* Celery's text when worker_pool_restarts is off, and why
		 * it is always off here */
		body_refuse(&b, "Pool restarts not enabled: tryon-worker "
			    "forks a fresh child for every job, there is no "
			    "pool to restart");
		break;
	case M_AUTOSCALE:
		do_autoscale(req, st, &b, act);
		break;
	case M_ADD_CONSUMER:
		do_add_consumer(req, st, &b, act);
		break;
	case M_CANCEL_CONSUMER:
		do_cancel_consumer(req, st, &b, act);
		break;
	case M_RATE_LIMIT:
		do_rate_limit(req, st, &b, act);
		break;
	case M_TIME_LIMIT:
		do_time_limit(req, st, &b, act);
		break;
	default: /* M_UNSUPPORTED */
		buf_printf(&m, "%s is not supported by tryon-worker",
			   req->method);
		if (m.failed)
			b.failed = 1;
		else
			body_kv(&b, "error", m.data);
		break;
	}
done:
	buf_free(&m);
	if (rc < 0 || b.failed) {
		buf_free(&b);
		celery_ctl_action_free(act);
		errmsg_set(err, errlen, "cannot build the reply to %s", req->method);
		return -1;
	}
	if (buf_commit(body, &b) < 0) {
		celery_ctl_action_free(act);
		errmsg_set(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- reply envelope --------------------------------------------------- */

int celery_ctl_reply_list(struct buf *out, const struct celery_ctl_request *req)
{
	struct buf tmp;

	if (!req->has_reply)
		return -1;
	buf_init(&tmp);
	buf_printf(&tmp, "%s.%s", req->reply_routing_key, req->reply_exchange);
	return buf_commit(out, &tmp);
}

int celery_ctl_reply_binding(struct buf *key, struct buf *member,
			     const struct celery_ctl_request *req)
{
	struct buf k, m;

	if (!req->has_reply)
		return -1;
	buf_init(&k);
	buf_init(&m);
	buf_printf(&k, "_kombu.binding.%s", req->reply_exchange);
	buf_printf(&m, "%s" KOMBU_SEP KOMBU_SEP "%s.%s", req->reply_routing_key,
		   req->reply_routing_key, req->reply_exchange);
	if (k.failed || m.failed) {
		buf_free(&k);
		buf_free(&m);
		return -1;
	}
	if (buf_commit(key, &k) < 0) {
		buf_free(&m);
		return -1;
	}
	return buf_commit(member, &m);
}

int celery_ctl_reply_build(struct buf *out, const struct celery_ctl_request *req,
			   const char *hostname, const char *reply,
			   size_t reply_len, int64_t clock,
			   const char *delivery_tag, char *err, size_t errlen)
{
	struct buf tmp;

	if (!req->has_reply || !hostname || !delivery_tag) {
		errmsg_set(err, errlen, "no reply_to, hostname or delivery tag");
		return -1;
	}
	if (!reply || json_validate(reply, reply_len, NULL, 0) < 0) {
		errmsg_set(err, errlen, "reply is not valid JSON");
		return -1;
	}
	buf_init(&tmp);
	kombu_pidbox_reply(&tmp, hostname, reply, reply_len, req->ticket, clock,
			   req->reply_exchange, req->reply_routing_key, delivery_tag);
	if (buf_commit(out, &tmp) < 0) {
		errmsg_set(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}
