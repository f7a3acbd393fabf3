/* celery_ctl: remote control on the wire. Semantics follow Celery 5.2.6
 * (worker/control.py Panel, worker/pidbox.py) and kombu 5.2.4 (pidbox.py
 * Node/Mailbox, matcher.py, the Redis transport's fanout); the byte layouts
 * are the ones captured in shared/reference/celery-captures (monitor7/12/15/
 * 19 pidbox). JSON is written as Python's json.dumps: ", " / ": ", ASCII
 * only. */
#include "celery/celery_ctl.h"

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

/* Append tmp to out and free tmp; -1 (out untouched) if building tmp or
 * the append failed. Every public builder works in a scratch buffer and
 * commits once, so a caller's buffer is never left half-written. */
static int commit(struct buf *out, struct buf *tmp)
{
	int rc = -1;

	if (!tmp->failed && buf_append(out, tmp->data ? tmp->data : "",
				       tmp->len) == 0)
		rc = 0;
	buf_free(tmp);
	return rc;
}

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
	M_SHUTDOWN, M_ENABLE_EVENTS, M_DISABLE_EVENTS, M_HEARTBEAT
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
	/* The rest of Celery 5.2.6's Panel: known, not implemented. */
	{ "report", M_UNSUPPORTED },	{ "conf", M_UNSUPPORTED },
	{ "dump_conf", M_UNSUPPORTED },	{ "rate_limit", M_UNSUPPORTED },
	{ "time_limit", M_UNSUPPORTED }, { "election", M_UNSUPPORTED },
	{ "objgraph", M_UNSUPPORTED },	{ "memsample", M_UNSUPPORTED },
	{ "memdump", M_UNSUPPORTED },	{ "pool_grow", M_UNSUPPORTED },
	{ "pool_shrink", M_UNSUPPORTED }, { "pool_restart", M_UNSUPPORTED },
	{ "autoscale", M_UNSUPPORTED },	{ "add_consumer", M_UNSUPPORTED },
	{ "cancel_consumer", M_UNSUPPORTED },
	{ "active_queues", M_UNSUPPORTED },
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
	size_t i;

	buf_append_str(out, "{\"total\": {");
	for (i = 0; i < s->n_total; i++) {
		if (i)
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

/* ---- celery_ctl_handle ------------------------------------------------ */

void celery_ctl_action_free(struct celery_ctl_action *act)
{
	if (!act)
		return;
	ids_free(act->ids, act->n_ids);
	free(act->ts);
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
	if (commit(body, &b) < 0) {
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
	return commit(out, &tmp);
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
	if (commit(key, &k) < 0) {
		buf_free(&m);
		return -1;
	}
	return commit(member, &m);
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
	if (commit(out, &tmp) < 0) {
		errmsg_set(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}
