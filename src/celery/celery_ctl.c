/* celery_ctl: remote control on the wire. Semantics follow Celery 5.2.6
 * (worker/pidbox.py, worker/control.py Panel) and kombu 5.2.4 (pidbox.py
 * Node/Mailbox, matcher.py, the Redis transport's fanout); the byte layouts
 * are the ones captured in shared/reference/celery-captures (monitor7/12/15/
 * 19 pidbox). The replies' values come from celery_inspect and
 * celery_control_cmds; JSON is written as Python's json.dumps. */
#include "celery/celery_ctl.h"

#include <stdlib.h>
#include <string.h>

#include "celery/celery_control_cmds.h"
#include "celery/celery_inspect.h"
#include "celery/kombu.h"
#include "lib/errmsg.h"
#include "lib/pyrepr.h"

/* Token limit for control envelopes and bodies (they are small). */
#define MAX_TOKENS 65536

/* ---- names ------------------------------------------------------------ */

int celery_ctl_channel(struct buf *out, int db)
{
	if (db < 0)
		return buf_printf(out, "/{db}.%s", CELERY_CTL_EXCHANGE) < 0 ? -1 : 0;
	return buf_printf(out, "/%d.%s", db, CELERY_CTL_EXCHANGE) < 0 ? -1 : 0;
}

/* ---- requests --------------------------------------------------------- */

/* Optional string member: absent or null leaves *out NULL. */
static int opt_str(const struct json_doc *d, int obj, const char *key,
		   char **out, char *err, size_t errlen)
{
	int t = json_obj_get(d, obj, key);

	if (t < 0 || json_kind(d, t) == JSON_K_NULL)
		return 0;
	if (json_kind(d, t) != JSON_K_STRING || json_tok_cstrdup(d, t, out) < 0) {
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
	    json_tok_cstrdup(d, t, &req->method) < 0) {
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

int celery_ctl_handle(const struct celery_ctl_request *req,
		      const struct celery_ctl_state *st, struct buf *body,
		      struct celery_ctl_action *act, char *err, size_t errlen)
{
	const struct celery_control_args args = { &req->doc, req->args_tok };
	const struct celery_control_args *a = &args;
	struct buf b, m;
	int rc = 0, method;

	memset(act, 0, sizeof *act);
	if (!req->method || !st || !st->hostname) {
		errmsg_set(err, errlen, "no method or no hostname");
		return -1;
	}
	method = method_of(req->method);
	act->reply = req->has_reply;
	/* Every reply is built in b and committed whole, so the commands
	 * need no scratch of their own; m holds texts that go into it. */
	buf_init(&b);
	buf_init(&m);
	if (method == M_UNKNOWN) {
		/* self.handlers[method] comes before the arguments */
		celery_control_exception(&b, "KeyError", req->method);
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
			celery_control_exception(&b, "TypeError", m.data);
		goto done;
	}
	switch (method) {
	case M_PING:
		celery_control_ok(&b, "pong");
		break;
	case M_ACTIVE:
		rc = celery_inspect_tasks(&b, st->hostname, st->active,
					  st->n_active, 0);
		break;
	case M_RESERVED:
		rc = celery_inspect_tasks(&b, st->hostname, st->reserved,
					  st->n_reserved, 0);
		break;
	case M_SCHEDULED:
		rc = celery_inspect_tasks(&b, st->hostname, st->scheduled,
					  st->n_scheduled, 1);
		break;
	case M_REGISTERED:
		celery_inspect_registered(&b, st->task_names, st->n_task_names);
		break;
	case M_STATS:
		if (st->stats)
			celery_inspect_stats(&b, st->stats);
		else
			celery_control_nok(&b, "stats unavailable");
		break;
	case M_REVOKED:
		celery_inspect_revoked(&b, st->revoked, st->n_revoked);
		break;
	case M_CLOCK:
		buf_printf(&b, "{\"clock\": %lld}", (long long)st->clock);
		break;
	case M_ACTIVE_QUEUES:
		celery_inspect_active_queues(&b, st->queues, st->n_queues);
		break;
	case M_CONF:
		celery_inspect_conf(&b, st->settings, st->n_settings);
		break;
	case M_REPORT:
		if (!st->report) {
			celery_control_nok(&b, "report unavailable");
			break;
		}
		celery_inspect_report(&m, st->report, st->settings,
				      st->n_settings);
		if (m.failed || !m.data)
			b.failed = 1;
		else
			celery_control_ok(&b, m.data);
		break;
	case M_SHUTDOWN:
		/* WorkerShutdown is a SystemExit: Node.dispatch re-raises it
		 * before replying, so `celery control shutdown` hears
		 * nothing (and exits 69), as with a Python worker. */
		act->act = CELERY_CTL_ACT_SHUTDOWN;
		act->reply = 0;
		break;
	case M_ENABLE_EVENTS:
		celery_control_ok(&b, st->task_events ? "task events already enabled"
						      : "task events enabled");
		if (!st->task_events)
			act->act = CELERY_CTL_ACT_EVENTS_ON;
		break;
	case M_DISABLE_EVENTS:
		celery_control_ok(&b, st->task_events ? "task events disabled"
						      : "task events already disabled");
		if (st->task_events)
			act->act = CELERY_CTL_ACT_EVENTS_OFF;
		break;
	case M_HEARTBEAT:
		act->act = CELERY_CTL_ACT_HEARTBEAT;
		buf_append_str(&b, "null"); /* the handler returns None */
		break;
	case M_HELLO:
		celery_control_hello(&b, a, st, act);
		break;
	case M_QUERY_TASK:
		rc = celery_control_query_task(&b, a, st);
		break;
	case M_REVOKE:
		celery_control_revoke(&b, a, st, act);
		break;
	case M_TERMINATE:
		celery_control_terminate(&b, a, st, act);
		break;
	case M_POOL_GROW:
		celery_control_pool_grow(&b, a, st, act);
		break;
	case M_POOL_SHRINK:
		celery_control_pool_shrink(&b, a, st, act);
		break;
	case M_POOL_RESTART:
		celery_control_pool_restart(&b, a, st, act);
		break;
	case M_AUTOSCALE:
		celery_control_autoscale(&b, a, st, act);
		break;
	case M_ADD_CONSUMER:
		celery_control_add_consumer(&b, a, st, act);
		break;
	case M_CANCEL_CONSUMER:
		celery_control_cancel_consumer(&b, a, st, act);
		break;
	case M_RATE_LIMIT:
		celery_control_rate_limit(&b, a, st, act);
		break;
	case M_TIME_LIMIT:
		celery_control_time_limit(&b, a, st, act);
		break;
	default: /* M_UNSUPPORTED */
		buf_printf(&m, "%s is not supported by tryon-worker",
			   req->method);
		if (m.failed)
			b.failed = 1;
		else
			celery_control_nok(&b, m.data);
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
