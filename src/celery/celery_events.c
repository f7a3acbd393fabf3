/* celery_events: event bodies and envelopes. Layouts are the ones captured
 * in shared/reference/celery-captures (monitor2/7/8/18/19 celeryev
 * PUBLISHes); JSON is written as Python's json.dumps: ", " / ": ", ASCII
 * only. */
#include "celery/celery_events.h"

#include <string.h>

#include "celery/kombu.h"
#include "lib/errmsg.h"
#include "lib/json.h"
#include "lib/pyrepr.h"

static const char *const task_event_names[] = {
	"task-received", "task-started", "task-succeeded", "task-failed",
	"task-retried",	 "task-rejected", "task-revoked",
};

static const char *task_event_name(int type)
{
	if (type < 0 ||
	    (size_t)type >= sizeof task_event_names / sizeof task_event_names[0])
		return NULL;
	return task_event_names[type];
}

static void w_double(struct buf *out, double v)
{
	if (json_write_double(out, v) < 0)
		buf_append_str(out, "null");
}

/* ", \"key\": <string or null>" */
static void w_field(struct buf *out, const char *key, const char *v)
{
	buf_append_str(out, ", ");
	json_write_key(out, key);
	json_write_cstr(out, v);
}

static void w_flag(struct buf *out, const char *key, int v)
{
	buf_append_str(out, ", ");
	json_write_key(out, key);
	buf_append_str(out, v ? "true" : "false");
}

/* The routing key of an event type: '-' -> '.' (Event.routing_key). */
static void routing_key_of(struct buf *out, const char *type)
{
	for (; *type; type++)
		buf_append_char(out, *type == '-' ? '.' : *type);
}

/* Event(type, hostname=, utcoffset=, pid=, clock=, **fields): the common
 * head of the body; the caller appends its fields, then event_tail. */
static void event_head(struct buf *out, const struct celery_events_base *b)
{
	buf_append_str(out, "{\"hostname\": ");
	json_write_cstr(out, b->hostname);
	buf_printf(out, ", \"utcoffset\": %d, \"pid\": %lld, \"clock\": %lld",
		   b->utcoffset, (long long)b->pid, (long long)b->clock);
}

static void event_tail(struct buf *out, const struct celery_events_base *b,
		       const char *type)
{
	buf_append_str(out, ", \"timestamp\": ");
	w_double(out, b->timestamp);
	w_field(out, "type", type);
	buf_append_char(out, '}');
}

/* Channel + envelope of a finished body under routing key rk; appends to
 * both or to neither. */
static int event_publish(struct buf *channel, struct buf *out, int db,
			 const struct buf *rk, const struct buf *body,
			 const struct celery_events_base *b, char *err,
			 size_t errlen)
{
	struct buf hdr, env, ch;
	size_t ch_base = channel ? channel->len : 0;
	int rc = -1;

	buf_init(&hdr);
	buf_init(&env);
	buf_init(&ch);
	buf_append_str(&hdr, "{\"hostname\": ");
	json_write_cstr(&hdr, b->hostname);
	buf_append_char(&hdr, '}');
	if (db < 0)
		buf_printf(&ch, "/{db}.%s/", CELERY_EVENTS_EXCHANGE);
	else
		buf_printf(&ch, "/%d.%s/", db, CELERY_EVENTS_EXCHANGE);
	buf_append(&ch, rk->data ? rk->data : "", rk->len);
	if (!body->failed && !rk->failed && !hdr.failed && !ch.failed &&
	    kombu_envelope(&env, body->data, body->len, hdr.data, hdr.len,
			   CELERY_EVENTS_EXCHANGE,
			   rk->data ? rk->data : "", b->delivery_tag) == 0 &&
	    (!channel || buf_append(channel, ch.data, ch.len) == 0)) {
		if (buf_append(out, env.data, env.len) == 0)
			rc = 0;
		else if (channel && channel->data) {
			channel->len = ch_base; /* neither, as promised */
			channel->data[ch_base] = '\0';
		}
	}
	if (rc < 0)
		errmsg_set(err, errlen, "out of memory");
	buf_free(&hdr);
	buf_free(&env);
	buf_free(&ch);
	return rc;
}

int celery_events_worker_build(struct buf *channel, struct buf *out, int db,
			       const char *type,
			       const struct celery_events_base *b,
			       const struct celery_events_worker *w, char *err,
			       size_t errlen)
{
	struct buf body, rk;
	int i, rc;

	if (!type || !b || !w || !b->hostname || !b->delivery_tag) {
		errmsg_set(err, errlen, "missing type, hostname or delivery tag");
		return -1;
	}
	buf_init(&body);
	buf_init(&rk);
	event_head(&body, b);
	buf_append_str(&body, ", \"freq\": ");
	w_double(&body, w->freq > 0 ? w->freq : CELERY_EVENTS_HEARTBEAT_FREQ);
	buf_printf(&body, ", \"active\": %lld, \"processed\": %lld, "
			  "\"loadavg\": [",
		   (long long)w->active, (long long)w->processed);
	for (i = 0; i < 3; i++) {
		if (i)
			buf_append_str(&body, ", ");
		w_double(&body, pyrepr_round2(w->loadavg[i]));
	}
	buf_append_char(&body, ']');
	w_field(&body, "sw_ident", w->sw_ident ? w->sw_ident : "tryon-worker");
	w_field(&body, "sw_ver", w->sw_ver ? w->sw_ver : "0");
	w_field(&body, "sw_sys", w->sw_sys ? w->sw_sys : "Linux");
	event_tail(&body, b, type);
	routing_key_of(&rk, type);
	rc = event_publish(channel, out, db, &rk, &body, b, err, errlen);
	buf_free(&body);
	buf_free(&rk);
	return rc;
}

int celery_events_task_build(struct buf *channel, struct buf *out, int db,
			     const struct celery_events_base *b,
			     const struct celery_events_task *t, char *err,
			     size_t errlen)
{
	const char *type;
	struct buf body, rk;
	int rc;

	type = t ? task_event_name(t->type) : NULL;
	if (!type || !b || !b->hostname || !b->delivery_tag || !t->uuid) {
		errmsg_set(err, errlen,
			   "missing event type, uuid, hostname or delivery tag");
		return -1;
	}
	buf_init(&body);
	buf_init(&rk);
	if (t->multi)
		buf_append_char(&body, '[');
	event_head(&body, b);
	w_field(&body, "uuid", t->uuid);
	switch (t->type) {
	case CELERY_EVENTS_TASK_RECEIVED:
		w_field(&body, "name", t->name);
		w_field(&body, "args", t->args_repr);
		w_field(&body, "kwargs", t->kwargs_repr);
		w_field(&body, "root_id", t->root_id);
		w_field(&body, "parent_id", t->parent_id);
		buf_printf(&body, ", \"retries\": %lld", (long long)t->retries);
		w_field(&body, "eta", t->eta);
		w_field(&body, "expires", t->expires);
		break;
	case CELERY_EVENTS_TASK_SUCCEEDED:
		w_field(&body, "result", t->result_repr);
		buf_append_str(&body, ", \"runtime\": ");
		w_double(&body, t->runtime);
		break;
	case CELERY_EVENTS_TASK_FAILED:
	case CELERY_EVENTS_TASK_RETRIED:
		w_field(&body, "exception", t->exception_repr);
		w_field(&body, "traceback", t->traceback);
		break;
	case CELERY_EVENTS_TASK_REJECTED:
		w_flag(&body, "requeue", t->requeue);
		break;
	case CELERY_EVENTS_TASK_REVOKED:
		w_flag(&body, "terminated", t->terminated);
		buf_append_str(&body, ", \"signum\": ");
		if (t->signum > 0)
			json_write_int(&body, t->signum);
		else
			buf_append_str(&body, "null");
		w_flag(&body, "expired", t->expired);
		break;
	default: /* started: uuid only */
		break;
	}
	event_tail(&body, b, type);
	if (t->multi) {
		buf_append_char(&body, ']');
		buf_append_str(&rk, "task.multi");
	} else {
		routing_key_of(&rk, type);
	}
	rc = event_publish(channel, out, db, &rk, &body, b, err, errlen);
	buf_free(&body);
	buf_free(&rk);
	return rc;
}
