/* celery_control_cmds: the Panel commands with arguments. Semantics follow
 * Celery 5.2.6 (worker/control.py Panel, worker/state.py, app/control.py's
 * argument lists, utils/time.py rate) and kombu 5.2.4 (pidbox Node.dispatch,
 * which binds **arguments); the texts are a 5.2.6 worker's replies.
 * JSON is written as Python's json.dumps: ", " / ": ", ASCII only. */
#include "celery/celery_control_cmds.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pyrepr.h"

/* "<Type>(<repr(text)>)": how repr() shows an exception with one string
 * argument, the text of Celery's {"error": ...} replies. */
static void py_exc_cstr(struct buf *out, const char *type, const char *text)
{
	pyrepr_exception_str(out, type, text, strlen(text));
}

static void w_double(struct buf *out, double v)
{
	if (json_write_double(out, v) < 0)
		buf_append_str(out, "null");
}

/* ---- reply values -----------------------------------------------------
 * They write into the caller's scratch buffer, which is committed whole or
 * dropped, so none of them needs its own. */

static void body_kv(struct buf *out, const char *key, const char *text)
{
	buf_append_char(out, '{');
	json_write_key(out, key);
	json_write_str(out, text, strlen(text), JSON_W_ASCII);
	buf_append_char(out, '}');
}

void celery_control_ok(struct buf *out, const char *text)
{
	body_kv(out, "ok", text);
}

void celery_control_nok(struct buf *out, const char *text)
{
	body_kv(out, "error", text);
}

void celery_control_exception(struct buf *out, const char *type,
			      const char *msg)
{
	struct buf e;

	buf_init(&e);
	py_exc_cstr(&e, type, msg);
	if (e.failed)
		out->failed = 1;
	else
		celery_control_nok(out, e.data);
	buf_free(&e);
}

/* {"error": why}: why holds the repr of the exception Celery would raise. */
static void body_why(struct buf *out, struct buf *why)
{
	if (why->failed)
		out->failed = 1;
	else
		celery_control_nok(out, why->data ? why->data : "");
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
		celery_control_exception(out, "TypeError", m.data);
	buf_free(&m);
}

/* {"error": "ValueError('<why>')"}: what this worker refuses to do, in the
 * shape Celery gives a command that raised. */
static void body_refuse(struct buf *out, const char *why)
{
	celery_control_exception(out, "ValueError", why);
}

/* ---- arguments -------------------------------------------------------- */

/* Token of argument name, or -1 when absent (null included: callers that
 * must tell null apart use arg_tok_any). */
static int arg_tok_any(const struct celery_control_args *a, const char *name)
{
	if (a->tok < 0 || !name)
		return -1;
	return json_obj_get(a->doc, a->tok, name);
}

static int arg_tok(const struct celery_control_args *a, const char *name)
{
	int t = arg_tok_any(a, name);

	if (t >= 0 && json_kind(a->doc, t) == JSON_K_NULL)
		return -1;
	return t;
}

/* A string argument: 0 with *out malloc'd (the caller's), -2 when absent
 * or null, -1 on another type or a NUL inside. */
static int arg_str(const struct celery_control_args *a, const char *name,
		   char **out)
{
	int t = arg_tok(a, name);

	*out = NULL;
	if (t < 0)
		return -2;
	if (json_kind(a->doc, t) != JSON_K_STRING)
		return -1;
	return json_tok_cstrdup(a->doc, t, out);
}

/* Python truthiness of an argument: 0, or -2 when absent or null. */
static int arg_bool(const struct celery_control_args *a, const char *name,
		    int *out)
{
	int t = arg_tok(a, name);

	*out = 0;
	if (t < 0)
		return -2;
	*out = pyrepr_truthy(a->doc, t);
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
static int arg_ids(const struct celery_control_args *a, const char *name,
		   char ***ids, size_t *n, struct buf *why)
{
	const struct json_doc *d = a->doc;
	int t = arg_tok_any(a, name), e, i, k;
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
		if (json_tok_cstrdup(d, t, &s) < 0)
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
		if (json_tok_cstrdup(d, e, &s) < 0)
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
static int arg_signum(const struct celery_control_args *a, const char *name,
		      int *signum, struct buf *why)
{
	const struct json_doc *d = a->doc;
	int t = arg_tok(a, name), k;
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
		json_tok_cstrdup(d, t, &s); /* a NUL inside: not a name (NULL) */
	k = pyrepr_signum(s, why);
	free(s);
	if (k < 0)
		return -1;
	*signum = k;
	return 0;
}

/* ---- the action -------------------------------------------------------- */

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

/* ---- revoke, terminate, hello, query_task ------------------------------ */

static int held(const struct celery_ctl_state *st, const char *id)
{
	return celery_inspect_find(st->active, st->n_active, id) ||
	       celery_inspect_find(st->reserved, st->n_reserved, id) ||
	       celery_inspect_find(st->scheduled, st->n_scheduled, id);
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
		celery_control_ok(out, m.data);
	buf_free(&m);
}

static void revoke_ids(struct buf *body, const struct celery_control_args *a,
		       const struct celery_ctl_state *st,
		       struct celery_ctl_action *act, int terminate_method)
{
	const char *missing[2];
	size_t nmissing = 0;
	struct buf why;
	int terminate = terminate_method;

	if (terminate_method && arg_tok_any(a, "signal") < 0)
		missing[nmissing++] = "signal";
	if (arg_tok_any(a, "task_id") < 0)
		missing[nmissing++] = "task_id";
	if (nmissing) {
		body_missing(body, terminate_method ? "terminate" : "revoke",
			     missing, nmissing);
		return;
	}
	buf_init(&why);
	if (arg_ids(a, "task_id", &act->ids, &act->n_ids, &why) < 0) {
		body_why(body, &why);
		return;
	}
	act->act = CELERY_CTL_ACT_REVOKE;
	if (!terminate_method)
		arg_bool(a, "terminate", &terminate);
	/* Celery flags the ids revoked before it looks at the signal, so a
	 * bad signal still revokes them, without terminating anything. */
	if (terminate && arg_signum(a, "signal", &act->signum, &why) < 0) {
		body_why(body, &why);
		return;
	}
	buf_free(&why);
	act->terminate = terminate;
	body_revoke(body, st, act->ids, act->n_ids, terminate);
}

void celery_control_revoke(struct buf *out, const struct celery_control_args *a,
			   const struct celery_ctl_state *st,
			   struct celery_ctl_action *act)
{
	revoke_ids(out, a, st, act, 0);
}

void celery_control_terminate(struct buf *out,
			      const struct celery_control_args *a,
			      const struct celery_ctl_state *st,
			      struct celery_ctl_action *act)
{
	revoke_ids(out, a, st, act, 1);
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
void celery_control_hello(struct buf *body,
			  const struct celery_control_args *a,
			  const struct celery_ctl_state *st,
			  struct celery_ctl_action *act)
{
	static const char *const args[] = { "from_node" };
	const struct json_doc *d = a->doc;
	const char **ids = NULL;
	double *ts = NULL;
	size_t n = 0, i, j, cap, cap2 = 0;
	int t, k, e;
	char *from = NULL, *s;

	if (arg_tok_any(a, "from_node") < 0) {
		body_missing(body, "hello", args, 1);
		return;
	}
	arg_str(a, "from_node", &from);
	if (from && !strcmp(from, st->hostname)) {
		/* our own hello: Celery's handler returns None */
		free(from);
		buf_append_str(body, "null");
		return;
	}
	free(from);
	/* revoked.update(theirs): a dict (LimitedSet._data) or a list */
	t = arg_tok(a, "revoked");
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
			    json_tok_cstrdup(d, e, &s) < 0)
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
int celery_control_query_task(struct buf *body,
			      const struct celery_control_args *a,
			      const struct celery_ctl_state *st)
{
	static const char *const args[] = { "ids" };
	const struct celery_ctl_task *t;
	struct buf why;
	char **ids;
	size_t n, i, k = 0;
	int rc = 0;

	if (arg_tok_any(a, "ids") < 0) {
		body_missing(body, "query_task", args, 1);
		return 0;
	}
	buf_init(&why);
	if (arg_ids(a, "ids", &ids, &n, &why) < 0) {
		body_why(body, &why);
		return 0;
	}
	buf_free(&why);
	buf_append_char(body, '{');
	for (i = 0; i < n && rc == 0; i++) {
		const char *state = "active";

		t = celery_inspect_find(st->active, st->n_active, ids[i]);
		if (!t) {
			t = celery_inspect_find(st->reserved, st->n_reserved, ids[i]);
			state = "reserved";
		}
		if (!t)
			continue; /* Celery lists only requests it holds */
		if (k++)
			buf_append_str(body, ", ");
		json_write_key(body, ids[i]);
		buf_printf(body, "[\"%s\", ", state);
		rc = celery_inspect_task_info(body, st->hostname, t);
		buf_append_char(body, ']');
	}
	buf_append_char(body, '}');
	ids_free(ids, n);
	return rc;
}

/* ---- pool, queues and limits ------------------------------------------ */

/* An int argument as operator.index() takes it (range(n), comparisons with
 * processes): a JSON integer or a bool. 0 with *v, -2 when absent, -1 with
 * Python's TypeError repr appended to why otherwise (null included). */
static int arg_index(const struct celery_control_args *a, const char *name,
		     int64_t *v, struct buf *why)
{
	const struct json_doc *d = a->doc;
	int t = arg_tok_any(a, name), k;
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
static void pool_resize(struct buf *body, const struct celery_control_args *a,
			const struct celery_ctl_state *st,
			struct celery_ctl_action *act, int grow)
{
	struct buf why;
	int64_t n = 1, want;
	char msg[160];

	buf_init(&why);
	if (arg_index(a, "n", &n, &why) == -1) {
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
	celery_control_ok(body, grow ? "pool will grow" : "pool will shrink");
}

void celery_control_pool_grow(struct buf *out,
			      const struct celery_control_args *a,
			      const struct celery_ctl_state *st,
			      struct celery_ctl_action *act)
{
	pool_resize(out, a, st, act, 1);
}

void celery_control_pool_shrink(struct buf *out,
				const struct celery_control_args *a,
				const struct celery_ctl_state *st,
				struct celery_ctl_action *act)
{
	pool_resize(out, a, st, act, 0);
}

void celery_control_pool_restart(struct buf *out,
				 const struct celery_control_args *a,
				 const struct celery_ctl_state *st,
				 struct celery_ctl_action *act)
{
	(void)a;
	(void)st;
	(void)act;
	/* Celery's text when worker_pool_restarts is off, and why it is
	 * always off here */
	body_refuse(out, "Pool restarts not enabled: tryon-worker forks a "
		    "fresh child for every job, there is no pool to restart");
}

/* autoscale(max=None, min=None): Celery's Autoscaler.update, as if the
 * worker ran with --autoscale: max is how many jobs may run at once (idle
 * slots cost nothing here, so there is nothing to scale between min and
 * max); min is kept for the reply. */
void celery_control_autoscale(struct buf *body,
			      const struct celery_control_args *a,
			      const struct celery_ctl_state *st,
			      struct celery_ctl_action *act)
{
	struct buf why, m;
	int64_t mx = st->concurrency, mn = st->autoscale_min;
	int tmax = arg_tok(a, "max"), tmin = arg_tok(a, "min");
	char msg[160];

	buf_init(&why);
	if ((tmax >= 0 && arg_index(a, "max", &mx, &why) < 0) ||
	    (tmin >= 0 && arg_index(a, "min", &mn, &why) < 0)) {
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
		celery_control_ok(body, m.data);
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
static int queue_arg(const struct celery_control_args *a, const char *method,
		     struct buf *body, char **name)
{
	static const char *const args[] = { "queue" };
	char msg[160];
	int rc;

	*name = NULL;
	if (arg_tok_any(a, "queue") < 0) {
		body_missing(body, method, args, 1);
		return -1;
	}
	rc = arg_str(a, "queue", name);
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
static int arg_absent_or(const struct celery_control_args *a,
			 const char *key, const char *want)
{
	char *v = NULL;
	int rc = arg_str(a, key, &v), ok;

	if (rc == -2)
		return 1;
	ok = rc == 0 && !strcmp(v, want);
	free(v);
	return ok;
}

/* add_consumer(queue, exchange=None, exchange_type=None, routing_key=None):
 * Celery replies at once and starts consuming soon after (call_soon). */
void celery_control_add_consumer(struct buf *body,
				 const struct celery_control_args *a,
				 const struct celery_ctl_state *st,
				 struct celery_ctl_action *act)
{
	struct buf m;
	char *name, msg[200];

	if (queue_arg(a, "add_consumer", body, &name) < 0)
		return;
	/* A queue is consumed through the direct exchange and routing key
	 * of its own name (what Celery creates for a name it does not know);
	 * other bindings would need kombu's exchange table, which we lack. */
	if (!arg_absent_or(a, "exchange", name) ||
	    !arg_absent_or(a, "exchange_type", "direct") ||
	    !arg_absent_or(a, "routing_key", name)) {
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
		celery_control_ok(body, m.data);
	buf_free(&m);
	if (!act->name)
		free(name);
}

/* cancel_consumer(queue): Celery's reply does not depend on whether the
 * queue was consumed. */
void celery_control_cancel_consumer(struct buf *body,
				    const struct celery_control_args *a,
				    const struct celery_ctl_state *st,
				    struct celery_ctl_action *act)
{
	struct buf m;
	char *name;

	if (queue_arg(a, "cancel_consumer", body, &name) < 0)
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
		celery_control_ok(body, m.data);
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

int celery_control_rate(const char *text, double *per_sec, struct buf *why)
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
void celery_control_rate_limit(struct buf *body,
			       const struct celery_control_args *a,
			       const struct celery_ctl_state *st,
			       struct celery_ctl_action *act)
{
	const char *missing[2];
	const struct json_doc *d = a->doc;
	size_t nmissing = 0;
	struct buf why;
	char *text = NULL, *task = NULL, msg[128];
	double v = 0;
	int t, k;

	if (arg_tok_any(a, "task_name") < 0)
		missing[nmissing++] = "task_name";
	if (arg_tok_any(a, "rate_limit") < 0)
		missing[nmissing++] = "rate_limit";
	if (nmissing) {
		body_missing(body, "rate_limit", missing, nmissing);
		return;
	}
	buf_init(&why);
	t = arg_tok(a, "rate_limit");
	k = t >= 0 ? json_kind(d, t) : JSON_K_NULL;
	if (k == JSON_K_STRING) {
		if (json_tok_cstrdup(d, t, &text) < 0 ||
		    celery_control_rate(text, &v, &why) < 0) {
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
	if (arg_str(a, "task_name", &task) < 0 || !task_known(st, task)) {
		free(task);
		celery_control_nok(body, "unknown task");
		return;
	}
	act->act = CELERY_CTL_ACT_RATE_LIMIT;
	act->name = task;
	act->rate = v;
	celery_control_ok(body, t >= 0 && pyrepr_truthy(d, t)
				    ? "new rate limit set successfully"
				    : "rate limit disabled successfully");
}

/* A time limit argument: absent or null is 0 (none), else seconds >= 0. */
static int arg_seconds(const struct celery_control_args *a, const char *name,
		       double *v)
{
	const struct json_doc *d = a->doc;
	int t = arg_tok(a, name);

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
void celery_control_time_limit(struct buf *body,
			       const struct celery_control_args *a,
			       const struct celery_ctl_state *st,
			       struct celery_ctl_action *act)
{
	char *task = NULL;
	double soft, hard;

	if (arg_str(a, "task_name", &task) < 0 || !task_known(st, task)) {
		free(task);
		celery_control_nok(body, "unknown task");
		return;
	}
	if (arg_seconds(a, "soft", &soft) < 0 ||
	    arg_seconds(a, "hard", &hard) < 0) {
		free(task);
		body_refuse(body, "soft and hard are seconds >= 0 (or null)");
		return;
	}
	act->act = CELERY_CTL_ACT_TIME_LIMIT;
	act->name = task;
	act->soft = soft;
	act->hard = hard;
	celery_control_ok(body, "time limits set successfully");
}
