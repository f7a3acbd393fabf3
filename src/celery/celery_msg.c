/* celery_msg: Celery message decoding and the JSON texts the worker writes.
 * Field semantics follow Celery 5.2.6 (worker/request.py, worker/strategy.py,
 * app/amqp.py as_task_v2, backends/base.py) and kombu 5.2.4's Redis
 * transport; see shared/reference/celery-wire.md for the captures. */
#include "celery/celery_msg.h"
#include "lib/errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celery/kombu.h"
#include "lib/base64.h"
#include "lib/isotime.h"
#include "lib/pyrepr.h"


static const char default_embed[] =
	"{\"callbacks\": null, \"errbacks\": null, \"chain\": null, "
	"\"chord\": null}";

/* ---- envelope ---------------------------------------------------------- */

/* Optional string member: absent or null leaves *out NULL. Ids and names
 * end up in C strings and Redis keys, so an embedded NUL is refused. */
static int opt_str(const struct json_doc *d, int obj, const char *key,
		   char **out, char *err, size_t errlen)
{
	int t = json_obj_get(d, obj, key);
	size_t n;
	char why[96];

	if (t < 0 || json_kind(d, t) == JSON_K_NULL)
		return 0;
	if (json_kind(d, t) != JSON_K_STRING) {
		errmsg_set(err, errlen, "'%s' must be a string", key);
		return -1;
	}
	free(*out);
	*out = NULL;
	if (json_tok_strdup(d, t, out, &n, why, sizeof why) < 0) {
		errmsg_set(err, errlen, "'%s': %s", key, why);
		return -1;
	}
	if (strlen(*out) != n) {
		free(*out);
		*out = NULL;
		errmsg_set(err, errlen, "'%s' contains a NUL character", key);
		return -1;
	}
	return 0;
}

static int req_str(const struct json_doc *d, int obj, const char *key,
		   char **out, char *err, size_t errlen)
{
	if (opt_str(d, obj, key, out, err, errlen) < 0)
		return -1;
	if (!*out) {
		errmsg_set(err, errlen, "missing '%s'", key);
		return -1;
	}
	return 0;
}

/* Optional member that must be an object; -1 (absent/null) or its token. */
static int opt_obj(const struct json_doc *d, int obj, const char *key,
		   int *tok, char *err, size_t errlen)
{
	int t = json_obj_get(d, obj, key), k = json_kind(d, t);

	*tok = -1;
	if (t < 0 || k == JSON_K_NULL)
		return 0;
	if (k != JSON_K_OBJECT) {
		errmsg_set(err, errlen, "'%s' must be an object", key);
		return -1;
	}
	*tok = t;
	return 0;
}

static int opt_bool(const struct json_doc *d, int obj, const char *key,
		    int *out, char *err, size_t errlen)
{
	int t = json_obj_get(d, obj, key);

	if (t < 0 || json_kind(d, t) == JSON_K_NULL)
		return 0;
	if (json_tok_bool(d, t, out) < 0) {
		errmsg_set(err, errlen, "'%s' must be a boolean", key);
		return -1;
	}
	return 0;
}

/* Non-negative integer member; absent or null leaves *out as it is. */
static int opt_count(const struct json_doc *d, int obj, const char *key,
		     int64_t *out, char *err, size_t errlen)
{
	int t = json_obj_get(d, obj, key);
	int64_t v;
	char why[64];

	if (t < 0 || json_kind(d, t) == JSON_K_NULL)
		return 0;
	if (json_tok_int64(d, t, &v, why, sizeof why) < 0 || v < 0) {
		errmsg_set(err, errlen, "'%s' must be a non-negative integer", key);
		return -1;
	}
	*out = v;
	return 0;
}

static int opt_time(const struct json_doc *d, int obj, const char *key,
		    char **str, double *val, int *has, int *naive, char *err,
		    size_t errlen)
{
	int zone = 0;

	if (opt_str(d, obj, key, str, err, errlen) < 0)
		return -1;
	/* maybe_iso8601('') is None in Celery: an empty string is no time. */
	if (!*str || !**str) {
		free(*str);
		*str = NULL;
		return 0;
	}
	if (isotime_parse(*str, strlen(*str), val, &zone) < 0) {
		errmsg_set(err, errlen, "invalid %s value '%.64s'", key, *str);
		return -1;
	}
	*has = 1;
	if (naive)
		*naive = !zone;
	return 0;
}

static int read_limit(const struct json_doc *d, int t, double *v, int *has,
		      char *err, size_t errlen)
{
	char why[64];
	int k = json_kind(d, t);

	if (k == JSON_K_NULL)
		return 0;
	if (json_tok_double(d, t, v, why, sizeof why) < 0 || *v < 0) {
		errmsg_set(err, errlen, "bad timelimit entry: %s",
		       k == JSON_K_NUMBER ? "negative or out of range" : why);
		return -1;
	}
	*has = *v > 0;
	return 0;
}

static int read_timelimit(const struct json_doc *d, int obj,
			  struct celery_envelope *env, char *err, size_t errlen)
{
	int t = json_obj_get(d, obj, "timelimit"), k = json_kind(d, t);

	if (t < 0 || k == JSON_K_NULL)
		return 0;
	if (k != JSON_K_ARRAY ||
	    (d->toks[t].size != 0 && d->toks[t].size != 2)) {
		errmsg_set(err, errlen, "'timelimit' must be [hard, soft]");
		return -1;
	}
	if (d->toks[t].size == 0)
		return 0;
	if (read_limit(d, json_arr_get(d, t, 0), &env->time_limit_hard,
		       &env->has_time_limit_hard, err, errlen) < 0 ||
	    read_limit(d, json_arr_get(d, t, 1), &env->time_limit_soft,
		       &env->has_time_limit_soft, err, errlen) < 0)
		return -1;
	if (!env->has_time_limit_hard)
		env->time_limit_hard = 0;
	if (!env->has_time_limit_soft)
		env->time_limit_soft = 0;
	return 0;
}

/* Request fields shared by v2 headers and the v1 body object. */
static int read_request(const struct json_doc *d, int obj,
			struct celery_envelope *env, char *err, size_t errlen)
{
	int t;
	char why[64];

	if (opt_str(d, obj, "shadow", &env->shadow, err, errlen) < 0 ||
	    opt_str(d, obj, "root_id", &env->root_id, err, errlen) < 0 ||
	    opt_str(d, obj, "parent_id", &env->parent_id, err, errlen) < 0 ||
	    opt_str(d, obj, "group", &env->group, err, errlen) < 0 ||
	    opt_str(d, obj, "origin", &env->origin, err, errlen) < 0)
		return -1;
	if (env->protocol == 1 && json_obj_get(d, obj, "taskset") >= 0) {
		free(env->group);
		env->group = NULL;
		if (opt_str(d, obj, "taskset", &env->group, err, errlen) < 0)
			return -1;
	}
	t = json_obj_get(d, obj, "group_index");
	if (t >= 0 && json_kind(d, t) != JSON_K_NULL) {
		if (json_tok_int64(d, t, &env->group_index, why, sizeof why)) {
			errmsg_set(err, errlen, "'group_index': %s", why);
			return -1;
		}
		env->has_group_index = 1;
	}
	if (opt_time(d, obj, "eta", &env->eta_str, &env->eta, &env->has_eta,
		     &env->eta_naive, err, errlen) < 0 ||
	    opt_time(d, obj, "expires", &env->expires_str, &env->expires,
		     &env->has_expires, NULL, err, errlen) < 0 ||
	    opt_count(d, obj, "retries", &env->retries, err, errlen) < 0 ||
	    read_timelimit(d, obj, env, err, errlen) < 0 ||
	    opt_bool(d, obj, "ignore_result", &env->ignore_result, err,
		     errlen) < 0)
		return -1;
	if (env->protocol == 1)
		return opt_bool(d, obj, "utc", &env->utc, err, errlen);
	if (opt_str(d, obj, "argsrepr", &env->argsrepr, err, errlen) < 0 ||
	    opt_str(d, obj, "kwargsrepr", &env->kwargsrepr, err, errlen) < 0)
		return -1;
	return 0;
}

static int is_true(const struct json_doc *d, int obj, const char *key)
{
	return json_kind(d, json_obj_get(d, obj, key)) == JSON_K_TRUE;
}

static int read_priority(const struct json_doc *d, int props)
{
	int t = json_obj_get(d, props, "priority");
	int64_t v;
	double f;

	/* kombu: max(min(int(priority), 9), 0), default 0 on any error. */
	if (json_tok_int64(d, t, &v, NULL, 0) == 0)
		return v < 0 ? 0 : v > 9 ? 9 : (int)v;
	if (json_tok_double(d, t, &f, NULL, 0) == 0)
		return f < 0 ? 0 : f >= 9 ? 9 : (int)f;
	return 0;
}

int celery_envelope_parse(const char *json, size_t len, size_t max_len,
			  struct celery_envelope *env, char *err, size_t errlen)
{
	struct json_doc d, bd;
	int headers = -1, props = -1, dinfo = -1, rc = -1;

	memset(env, 0, sizeof *env);
	memset(&bd, 0, sizeof bd);
	env->utc = 1;
	if (len > max_len) {
		errmsg_set(err, errlen, "message of %zu bytes exceeds the %zu limit",
		       len, max_len);
		return -1;
	}
	if (json_parse(&d, json, len, CELERY_MAX_TOKENS, err, errlen) < 0)
		return -1;
	if (json_kind(&d, 0) != JSON_K_OBJECT) {
		errmsg_set(err, errlen, "envelope is not a JSON object");
		goto out;
	}
	if (opt_obj(&d, 0, "headers", &headers, err, errlen) < 0)
		goto out;
	/* Celery: message.headers['task'] present -> protocol 2. */
	if (headers >= 0 && json_obj_get(&d, headers, "task") >= 0) {
		env->protocol = 2;
		if (req_str(&d, headers, "id", &env->task_id, err, errlen) < 0 ||
		    req_str(&d, headers, "task", &env->task, err, errlen) < 0)
			goto out;
	}
	if (opt_obj(&d, 0, "properties", &props, err, errlen) < 0 ||
	    opt_obj(&d, props, "delivery_info", &dinfo, err, errlen) < 0 ||
	    opt_str(&d, props, "delivery_tag", &env->delivery_tag, err,
		    errlen) < 0 ||
	    opt_str(&d, dinfo, "exchange", &env->exchange, err, errlen) < 0 ||
	    opt_str(&d, dinfo, "routing_key", &env->routing_key, err,
		    errlen) < 0 ||
	    opt_str(&d, props, "reply_to", &env->reply_to, err, errlen) < 0 ||
	    opt_str(&d, props, "correlation_id", &env->correlation_id, err,
		    errlen) < 0 ||
	    opt_str(&d, props, "body_encoding", &env->body_encoding, err,
		    errlen) < 0 ||
	    opt_str(&d, 0, "content-type", &env->content_type, err,
		    errlen) < 0 ||
	    opt_str(&d, 0, "content-encoding", &env->content_encoding, err,
		    errlen) < 0)
		goto out;
	env->priority = read_priority(&d, props);
	env->redelivered = is_true(&d, headers, "redelivered") ||
			   is_true(&d, dinfo, "redelivered");
	if (opt_count(&d, headers, CELERY_DELIVERIES_HEADER, &env->deliveries,
		      err, errlen) < 0)
		goto out;
	if (!env->content_type ||
	    strcmp(env->content_type, "application/json") != 0) {
		errmsg_set(err, errlen,
		       "unsupported content type '%.64s' (only application/json)",
		       env->content_type ? env->content_type : "(none)");
		goto out;
	}
	if (kombu_body_decode(&d, 0, &env->body, &env->body_len, err, errlen) < 0)
		goto out;
	if (env->protocol == 2) {
		if (read_request(&d, headers, env, err, errlen) < 0)
			goto out;
		rc = 0;
		goto out;
	}
	env->protocol = 1;
	if (json_parse(&bd, env->body, env->body_len, CELERY_MAX_TOKENS, err,
		       errlen) < 0)
		goto out;
	if (json_kind(&bd, 0) != JSON_K_OBJECT) {
		errmsg_set(err, errlen,
		       "protocol 1 body is not an object (no 'task' header)");
		goto out;
	}
	if (req_str(&bd, 0, "id", &env->task_id, err, errlen) < 0 ||
	    req_str(&bd, 0, "task", &env->task, err, errlen) < 0 ||
	    read_request(&bd, 0, env, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	json_doc_free(&bd);
	json_doc_free(&d);
	return rc;
}

void celery_envelope_free(struct celery_envelope *env)
{
	if (!env)
		return;
	char **strs[] = {
		&env->content_type, &env->content_encoding, &env->body_encoding,
		&env->delivery_tag, &env->exchange, &env->routing_key,
		&env->reply_to, &env->correlation_id, &env->body, &env->task,
		&env->task_id, &env->shadow, &env->root_id, &env->parent_id,
		&env->group, &env->eta_str, &env->expires_str, &env->origin,
		&env->argsrepr, &env->kwargsrepr,
	};

	for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
		free(*strs[k]);
	memset(env, 0, sizeof *env);
}

/* ---- body -------------------------------------------------------------- */

static void span_of(const struct json_doc *d, int t, const char **p,
		    size_t *n)
{
	size_t s, e;

	json_tok_span(d, t, &s, &e);
	*p = d->js + s;
	*n = e - s;
}

static int v1_embed(struct celery_body *b, char *err, size_t errlen)
{
	static const char *const keys[] = { "callbacks", "errbacks", "chain",
					    "chord" };
	struct buf e;
	size_t k;

	buf_init(&e);
	buf_append_char(&e, '{');
	for (k = 0; k < 4; k++) {
		/* proto1_to_proto2 always sets chain to None. */
		int t = k == 2 ? -1 : json_obj_get(&b->doc, 0, keys[k]);
		const char *p = "null";
		size_t n = 4;

		if (t >= 0)
			span_of(&b->doc, t, &p, &n);
		if (k)
			buf_append_str(&e, ", ");
		json_write_key(&e, keys[k]);
		buf_append(&e, p, n);
	}
	buf_append_char(&e, '}');
	if (e.failed) {
		buf_free(&e);
		errmsg_set(err, errlen, "out of memory");
		return -1;
	}
	b->embed_v1 = e.data;
	b->embed_json = e.data;
	b->embed_len = e.len;
	return 0;
}

int celery_body_parse(struct celery_body *b, const char *body, size_t len,
		      int protocol, char *err, size_t errlen)
{
	struct json_doc *d = &b->doc;
	int e;

	memset(b, 0, sizeof *b);
	b->args_tok = b->kwargs_tok = -1;
	b->args_json = "[]";
	b->args_len = 2;
	b->kwargs_json = "{}";
	b->kwargs_len = 2;
	b->embed_json = default_embed;
	b->embed_len = sizeof default_embed - 1;
	if (json_parse(d, body, len, CELERY_MAX_TOKENS, err, errlen) < 0)
		return -1;
	if (protocol == 2) {
		if (json_kind(d, 0) != JSON_K_ARRAY || d->toks[0].size != 3) {
			errmsg_set(err, errlen,
			       "body must be [args, kwargs, embed]");
			return -1;
		}
		b->args_tok = json_arr_get(d, 0, 0);
		b->kwargs_tok = json_arr_get(d, 0, 1);
		e = json_arr_get(d, 0, 2);
		if (json_kind(d, e) == JSON_K_OBJECT) {
			span_of(d, e, &b->embed_json, &b->embed_len);
		} else if (json_kind(d, e) != JSON_K_NULL) {
			errmsg_set(err, errlen, "embed must be an object");
			return -1;
		}
	} else if (protocol == 1) {
		if (json_kind(d, 0) != JSON_K_OBJECT) {
			errmsg_set(err, errlen, "protocol 1 body is not an object");
			return -1;
		}
		b->args_tok = json_obj_get(d, 0, "args");
		b->kwargs_tok = json_obj_get(d, 0, "kwargs");
		if (v1_embed(b, err, errlen) < 0)
			return -1;
	} else {
		errmsg_set(err, errlen, "unknown protocol %d", protocol);
		return -1;
	}
	if (b->args_tok >= 0) {
		if (json_kind(d, b->args_tok) != JSON_K_ARRAY) {
			errmsg_set(err, errlen, "task args must be a list");
			return -1;
		}
		span_of(d, b->args_tok, &b->args_json, &b->args_len);
	}
	if (b->kwargs_tok >= 0) {
		if (json_kind(d, b->kwargs_tok) != JSON_K_OBJECT) {
			errmsg_set(err, errlen,
			       "task keyword arguments must be a mapping");
			return -1;
		}
		span_of(d, b->kwargs_tok, &b->kwargs_json, &b->kwargs_len);
	}
	return 0;
}

void celery_body_free(struct celery_body *b)
{
	if (!b)
		return;
	json_doc_free(&b->doc);
	free(b->embed_v1);
	memset(b, 0, sizeof *b);
	b->args_tok = b->kwargs_tok = -1;
}

int celery_body_nargs(const struct celery_body *b)
{
	return b->args_tok >= 0 ? b->doc.toks[b->args_tok].size : 0;
}

int celery_body_arg(const struct celery_body *b, int idx)
{
	if (b->args_tok < 0)
		return -1;
	return json_arr_get(&b->doc, b->args_tok, idx);
}

int celery_body_kwarg(const struct celery_body *b, const char *name)
{
	if (b->kwargs_tok < 0)
		return -1;
	return json_obj_get(&b->doc, b->kwargs_tok, name);
}

int celery_body_str(const struct celery_body *b, int tok, char **out,
		    size_t *outlen, char *err, size_t errlen)
{
	*out = NULL;
	if (tok < 0) {
		errmsg_set(err, errlen, "argument absent");
		return -2;
	}
	if (json_kind(&b->doc, tok) != JSON_K_STRING) {
		errmsg_set(err, errlen, "argument is not a string");
		return -1;
	}
	return json_tok_strdup(&b->doc, tok, out, outlen, err, errlen) < 0 ?
		       -1 : 0;
}

int celery_body_double(const struct celery_body *b, int tok, double *out,
		       char *err, size_t errlen)
{
	if (tok < 0) {
		errmsg_set(err, errlen, "argument absent");
		return -2;
	}
	return json_tok_double(&b->doc, tok, out, err, errlen) < 0 ? -1 : 0;
}

int celery_body_int(const struct celery_body *b, int tok, int64_t *out,
		    char *err, size_t errlen)
{
	if (tok < 0) {
		errmsg_set(err, errlen, "argument absent");
		return -2;
	}
	return json_tok_int64(&b->doc, tok, out, err, errlen) < 0 ? -1 : 0;
}

int celery_body_raw(const struct celery_body *b, int tok, const char **p,
		    size_t *n)
{
	if (tok < 0 || tok >= b->doc.ntoks)
		return -2;
	span_of(&b->doc, tok, p, n);
	return 0;
}

/* ---- builders ---------------------------------------------------------- */

static int finish(struct buf *out, size_t base, char *err, size_t errlen)
{
	if (!out->failed)
		return 0;
	errmsg_set(err, errlen, "out of memory");
	out->len = base;
	if (out->data)
		out->data[base] = '\0';
	return -1;
}

static int check_raw(const char *what, const char *s, size_t n, int want,
		     char *err, size_t errlen)
{
	struct json_doc d;
	char why[128];
	int k;

	if (json_parse(&d, s, n, CELERY_MAX_TOKENS, why, sizeof why) < 0) {
		errmsg_set(err, errlen, "%s: %s", what, why);
		return -1;
	}
	k = json_kind(&d, 0);
	json_doc_free(&d);
	if (want && k != want) {
		errmsg_set(err, errlen, "%s has the wrong JSON type", what);
		return -1;
	}
	return 0;
}

/* Integral values as ints (what a Python client sends for time_limit=3),
 * others as floats. */
static void write_num(struct buf *out, double v)
{
	if (v > -9007199254740992.0 && v < 9007199254740992.0 &&
	    v == (double)(int64_t)v)
		json_write_int(out, (int64_t)v);
	else
		json_write_double(out, v);
}

int celery_meta_build(struct buf *out, const struct celery_meta *m, char *err,
		      size_t errlen)
{
	size_t base = out->len;
	char date[ISOTIME_BUFSZ];

	if (!m->status || !m->task_id) {
		errmsg_set(err, errlen, "meta needs status and task_id");
		return -1;
	}
	if ((m->result_json && check_raw("result", m->result_json,
					 strlen(m->result_json), 0, err,
					 errlen) < 0) ||
	    (m->children_json &&
	     check_raw("children", m->children_json, strlen(m->children_json),
		       JSON_K_ARRAY, err, errlen) < 0))
		return -1;
	if (m->extended &&
	    ((m->args_json && check_raw("args", m->args_json,
					strlen(m->args_json), 0, err,
					errlen) < 0) ||
	     (m->kwargs_json && check_raw("kwargs", m->kwargs_json,
					  strlen(m->kwargs_json), 0, err,
					  errlen) < 0)))
		return -1;
	if (m->has_date_done &&
	    isotime_format_naive(m->date_done, date, sizeof date) < 0) {
		errmsg_set(err, errlen, "date_done out of range");
		return -1;
	}
	buf_append_char(out, '{');
	json_write_key(out, "status");
	json_write_cstr(out, m->status);
	buf_append_str(out, ", ");
	json_write_key(out, "result");
	buf_append_str(out, m->result_json ? m->result_json : "null");
	buf_append_str(out, ", ");
	json_write_key(out, "traceback");
	if (m->traceback)
		json_write_str(out, m->traceback, strlen(m->traceback),
			       JSON_W_ASCII);
	else
		buf_append_str(out, "null");
	buf_append_str(out, ", ");
	json_write_key(out, "children");
	buf_append_str(out, m->children_json ? m->children_json : "[]");
	buf_append_str(out, ", ");
	json_write_key(out, "date_done");
	json_write_cstr(out, m->has_date_done ? date : NULL);
	if (m->group_id && *m->group_id) {
		buf_append_str(out, ", ");
		json_write_key(out, "group_id");
		json_write_cstr(out, m->group_id);
	}
	if (m->parent_id && *m->parent_id) {
		buf_append_str(out, ", ");
		json_write_key(out, "parent_id");
		json_write_cstr(out, m->parent_id);
	}
	if (m->extended) {
		buf_append_str(out, ", ");
		json_write_key(out, "name");
		json_write_cstr(out, m->name);
		buf_append_str(out, ", ");
		json_write_key(out, "args");
		buf_append_str(out, m->args_json ? m->args_json : "null");
		buf_append_str(out, ", ");
		json_write_key(out, "kwargs");
		buf_append_str(out, m->kwargs_json ? m->kwargs_json : "null");
		buf_append_str(out, ", ");
		json_write_key(out, "worker");
		json_write_cstr(out, m->worker);
		buf_append_str(out, ", ");
		json_write_key(out, "retries");
		json_write_int(out, m->retries);
		buf_append_str(out, ", ");
		json_write_key(out, "queue");
		json_write_cstr(out, m->queue);
	}
	buf_append_str(out, ", ");
	json_write_key(out, "task_id");
	json_write_cstr(out, m->task_id);
	buf_append_char(out, '}');
	return finish(out, base, err, errlen);
}

static int exc_build(struct buf *out, const char *exc_type,
		     const char *exc_module, const char *const *msgs,
		     size_t nmsg, const char *raw)
{
	size_t base = out->len, k;

	buf_append_char(out, '{');
	json_write_key(out, "exc_type");
	json_write_cstr(out, exc_type);
	buf_append_str(out, ", ");
	json_write_key(out, "exc_message");
	if (raw) {
		buf_append_str(out, raw);
	} else {
		buf_append_char(out, '[');
		for (k = 0; k < nmsg; k++) {
			if (k)
				buf_append_str(out, ", ");
			json_write_cstr(out, msgs[k]);
		}
		buf_append_char(out, ']');
	}
	buf_append_str(out, ", ");
	json_write_key(out, "exc_module");
	json_write_cstr(out, exc_module);
	buf_append_char(out, '}');
	return finish(out, base, NULL, 0);
}

int celery_exc_build(struct buf *out, const char *exc_type,
		     const char *exc_module, const char *const *msgs,
		     size_t nmsg)
{
	if (!exc_type)
		return -1;
	return exc_build(out, exc_type, exc_module, msgs, nmsg, NULL);
}

int celery_exc_build_raw(struct buf *out, const char *exc_type,
			 const char *exc_module, const char *msg_array_json,
			 char *err, size_t errlen)
{
	if (!exc_type) {
		errmsg_set(err, errlen, "exc_type required");
		return -1;
	}
	if (!msg_array_json)
		msg_array_json = "[]";
	if (check_raw("exc_message", msg_array_json, strlen(msg_array_json),
		      JSON_K_ARRAY, err, errlen) < 0)
		return -1;
	return exc_build(out, exc_type, exc_module, NULL, 0, msg_array_json);
}

static void key_cstr(struct buf *out, const char *key, const char *v)
{
	buf_append_str(out, ", ");
	json_write_key(out, key);
	json_write_cstr(out, v);
}

/* repr of a raw JSON value, or the caller's text when given. */
static int make_repr(struct buf *out, const char *given, const char *raw,
		     size_t n, int as_tuple, char *err, size_t errlen)
{
	struct json_doc d;
	int r;

	if (given)
		return buf_append_str(out, given);
	if (json_parse(&d, raw, n, CELERY_MAX_TOKENS, err, errlen) < 0)
		return -1;
	r = pyrepr_saferepr(out, &d, 0, as_tuple, CELERY_REPR_MAXSIZE);
	json_doc_free(&d);
	return r;
}

int celery_task_build(struct buf *out, const struct celery_task_spec *s,
		      char *err, size_t errlen)
{
	const char *args = s->args_json ? s->args_json : "[]";
	const char *kwargs = s->kwargs_json ? s->kwargs_json : "{}";
	const char *embed = s->embed_json ? s->embed_json : default_embed;
	size_t alen = s->args_json ? (s->args_len ? s->args_len : strlen(args)) : 2;
	size_t klen = s->kwargs_json ?
			      (s->kwargs_len ? s->kwargs_len : strlen(kwargs)) :
			      2;
	size_t elen = s->embed_json ?
			      (s->embed_len ? s->embed_len : strlen(embed)) :
			      sizeof default_embed - 1;
	struct buf body, ar, kr;
	size_t base = out->len;
	int rc = -1;

	if (!s->task || !s->id || !s->routing_key || !s->delivery_tag) {
		errmsg_set(err, errlen,
		       "task, id, routing_key and delivery_tag are required");
		return -1;
	}
	buf_init(&body);
	buf_init(&ar);
	buf_init(&kr);
	if (check_raw("args", args, alen, JSON_K_ARRAY, err, errlen) < 0 ||
	    check_raw("kwargs", kwargs, klen, JSON_K_OBJECT, err, errlen) < 0 ||
	    check_raw("embed", embed, elen, 0, err, errlen) < 0 ||
	    make_repr(&ar, s->argsrepr, args, alen, 1, err, errlen) < 0 ||
	    make_repr(&kr, s->kwargsrepr, kwargs, klen, 0, err, errlen) < 0)
		goto done;
	buf_append_char(&body, '[');
	buf_append(&body, args, alen);
	buf_append_str(&body, ", ");
	buf_append(&body, kwargs, klen);
	buf_append_str(&body, ", ");
	buf_append(&body, embed, elen);
	buf_append_char(&body, ']');
	if (body.failed || ar.failed || kr.failed) {
		errmsg_set(err, errlen, "out of memory");
		goto done;
	}

	buf_append_char(out, '{');
	json_write_key(out, "body");
	buf_append_char(out, '"');
	base64_encode(out, body.data, body.len);
	buf_append_char(out, '"');
	key_cstr(out, "content-encoding", "utf-8");
	key_cstr(out, "content-type", "application/json");
	buf_append_str(out, ", ");
	json_write_key(out, "headers");
	buf_append_char(out, '{');
	json_write_key(out, "lang");
	json_write_cstr(out, "py");
	key_cstr(out, "task", s->task);
	key_cstr(out, "id", s->id);
	key_cstr(out, "shadow", s->shadow);
	key_cstr(out, "eta", s->eta);
	key_cstr(out, "expires", s->expires);
	key_cstr(out, "group", s->group);
	buf_append_str(out, ", ");
	json_write_key(out, "group_index");
	if (s->has_group_index)
		json_write_int(out, s->group_index);
	else
		buf_append_str(out, "null");
	buf_append_str(out, ", ");
	json_write_key(out, "retries");
	json_write_int(out, s->retries);
	buf_append_str(out, ", ");
	json_write_key(out, "timelimit");
	buf_append_char(out, '[');
	if (s->has_time_limit_hard)
		write_num(out, s->time_limit_hard);
	else
		buf_append_str(out, "null");
	buf_append_str(out, ", ");
	if (s->has_time_limit_soft)
		write_num(out, s->time_limit_soft);
	else
		buf_append_str(out, "null");
	buf_append_char(out, ']');
	key_cstr(out, "root_id",
		 s->root_id && *s->root_id ? s->root_id : s->id);
	key_cstr(out, "parent_id", s->parent_id);
	buf_append_str(out, ", ");
	json_write_key(out, "argsrepr");
	json_write_str(out, ar.data ? ar.data : "", ar.len, JSON_W_ASCII);
	buf_append_str(out, ", ");
	json_write_key(out, "kwargsrepr");
	json_write_str(out, kr.data ? kr.data : "", kr.len, JSON_W_ASCII);
	key_cstr(out, "origin", s->origin);
	buf_append_str(out, ", ");
	json_write_key(out, "ignore_result");
	buf_append_str(out, s->ignore_result ? "true" : "false");
	if (s->deliveries) {
		buf_append_str(out, ", ");
		json_write_key(out, CELERY_DELIVERIES_HEADER);
		json_write_int(out, s->deliveries);
	}
	buf_append_str(out, "}, ");
	json_write_key(out, "properties");
	buf_append_char(out, '{');
	json_write_key(out, "correlation_id");
	json_write_cstr(out, s->correlation_id ? s->correlation_id : s->id);
	key_cstr(out, "reply_to", s->reply_to ? s->reply_to : "");
	buf_append_str(out, ", ");
	json_write_key(out, "delivery_mode");
	buf_append_str(out, "2, ");
	json_write_key(out, "delivery_info");
	buf_append_char(out, '{');
	json_write_key(out, "exchange");
	json_write_cstr(out, s->exchange ? s->exchange : "");
	key_cstr(out, "routing_key", s->routing_key);
	buf_append_str(out, "}, ");
	json_write_key(out, "priority");
	json_write_int(out, s->priority);
	key_cstr(out, "body_encoding", "base64");
	key_cstr(out, "delivery_tag", s->delivery_tag);
	buf_append_str(out, "}}");
	rc = finish(out, base, err, errlen);
done:
	buf_free(&body);
	buf_free(&ar);
	buf_free(&kr);
	return rc;
}

int celery_requeue_rewrite(const char *json, size_t len, int64_t deliveries,
			   struct buf *out, char *err, size_t errlen)
{
	static const char *const p_hdr[] = { "headers", "redelivered" };
	static const char *const p_di[] = { "properties", "delivery_info",
					    "redelivered" };
	static const char *const p_cnt[] = { "headers",
					     CELERY_DELIVERIES_HEADER };
	struct buf a, b;
	char num[24];
	int rc = -1;

	buf_init(&a);
	buf_init(&b);
	/* Same order as kombu (headers, then delivery_info), ours last. */
	if (json_object_set(json, len, p_hdr, 2, "true", 4, &a, err,
			    errlen) < 0 ||
	    json_object_set(a.data, a.len, p_di, 3, "true", 4, &b, err,
			    errlen) < 0)
		goto done;
	if (deliveries < 0) {
		rc = buf_append(out, b.data, b.len);
	} else {
		snprintf(num, sizeof num, "%lld", (long long)deliveries);
		rc = json_object_set(b.data, b.len, p_cnt, 2, num, strlen(num),
				     out, err, errlen);
	}
	if (rc < 0 && out->failed)
		errmsg_set(err, errlen, "out of memory");
done:
	buf_free(&a);
	buf_free(&b);
	return rc;
}

int celery_retry_build(struct buf *out, const struct celery_envelope *env,
		       const struct celery_body *body, const char *eta_iso,
		       const char *delivery_tag, const char *origin, char *err,
		       size_t errlen)
{
	struct celery_task_spec s;

	if (!env->task || !env->task_id) {
		errmsg_set(err, errlen, "envelope has no task name or id");
		return -1;
	}
	if (!env->routing_key) {
		errmsg_set(err, errlen, "envelope has no routing_key");
		return -1;
	}
	if (env->retries == INT64_MAX) {
		errmsg_set(err, errlen, "retries counter overflow");
		return -1;
	}
	memset(&s, 0, sizeof s);
	s.task = env->task;
	s.id = env->task_id;
	s.root_id = env->root_id;
	s.parent_id = env->task_id; /* Celery's quirk: the task itself */
	s.shadow = env->shadow;
	s.group = env->group;
	s.has_group_index = env->has_group_index;
	s.group_index = env->group_index;
	s.eta = eta_iso;
	s.expires = env->expires_str;
	s.retries = env->retries + 1;
	s.has_time_limit_hard = env->has_time_limit_hard;
	s.time_limit_hard = env->time_limit_hard;
	s.has_time_limit_soft = env->has_time_limit_soft;
	s.time_limit_soft = env->time_limit_soft;
	s.args_json = body->args_json;
	s.args_len = body->args_len;
	s.kwargs_json = body->kwargs_json;
	s.kwargs_len = body->kwargs_len;
	s.embed_json = body->embed_json;
	s.embed_len = body->embed_len;
	s.argsrepr = env->argsrepr;
	s.kwargsrepr = env->kwargsrepr;
	s.origin = origin;
	s.ignore_result = env->ignore_result;
	s.correlation_id = env->task_id;
	s.reply_to = env->reply_to;
	s.exchange = env->exchange;
	s.routing_key = env->routing_key;
	s.priority = env->priority;
	s.delivery_tag = delivery_tag;
	return celery_task_build(out, &s, err, errlen);
}

int celery_deadletter_build(struct buf *out, const char *reason,
			    const char *queue, double received_at,
			    const char *msg, size_t msg_len)
{
	size_t base = out->len;

	buf_append_char(out, '{');
	json_write_key(out, "reason");
	json_write_cstr(out, reason);
	key_cstr(out, "queue", queue);
	buf_append_str(out, ", ");
	json_write_key(out, "received_at");
	if (json_write_double(out, received_at) < 0)
		buf_append_str(out, "null");
	buf_append_str(out, ", ");
	json_write_key(out, "message");
	json_write_str(out, msg ? msg : "", msg ? msg_len : 0,
		       JSON_W_ASCII | JSON_W_SURROGATEESCAPE);
	buf_append_char(out, '}');
	return finish(out, base, NULL, 0);
}
