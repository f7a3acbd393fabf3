/* celery_msg: the Celery task message and result formats (Celery 5.2.6 /
 * kombu 5.2.4 Redis transport, JSON serializer, protocol v1 and v2).
 * Owns decoding of an envelope into struct celery_envelope, reading task
 * arguments out of a decoded body, and building every JSON text the worker
 * writes (result meta, exception dict, task/retry message, requeue copy,
 * dead-letter record). Pure functions over buffers: no I/O, no clock (callers
 * pass times), no randomness (callers pass ids and tags), no globals. */
#ifndef TRYON_CELERY_MSG_H
#define TRYON_CELERY_MSG_H
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/json.h"

/* Our redelivery counter header (added by celery_requeue_rewrite). */
#define CELERY_DELIVERIES_HEADER "x-tryon-deliveries"
/* Celery's argsrepr_maxsize / kwargsrepr_maxsize and the saferepr limit of
 * a task-succeeded result: the maxlen given to pyrepr_saferepr. */
#define CELERY_REPR_MAXSIZE 1024
/* Token limit for envelopes and bodies (about 20 bytes of memory each). */
#define CELERY_MAX_TOKENS (1 << 20)

/* A decoded envelope. Every char * is a malloc'd NUL-terminated copy owned
 * by the struct (NULL when the field is absent or JSON null) and released by
 * celery_envelope_free. Strings that are ids or names never contain NUL. */
struct celery_envelope {
	/* envelope / properties */
	char *content_type;
	char *content_encoding;
	char *body_encoding;
	char *delivery_tag;
	char *exchange;    /* properties.delivery_info.exchange */
	char *routing_key; /* properties.delivery_info.routing_key */
	char *reply_to;
	char *correlation_id;
	int priority; /* kombu's reading: int(), clamped to 0..9, else 0 */
	int redelivered; /* headers or delivery_info has "redelivered": true */
	int64_t deliveries; /* headers["x-tryon-deliveries"], default 0 */

	/* decoded body bytes (base64 undone), NUL-terminated past body_len */
	char *body;
	size_t body_len;

	/* task request; v2 from headers, v1 from the body object */
	int protocol; /* 1 or 2; 0 until known */
	char *task;
	char *task_id;
	char *shadow;
	char *root_id;
	char *parent_id;
	char *group;       /* v1: "taskset" wins over "group", as Celery does */
	int64_t group_index;
	int has_group_index;
	char *eta_str;     /* as sent; NULL (and has_eta 0) for null or "" */
	double eta;        /* unix seconds */
	int has_eta;
	char *expires_str;
	double expires;
	int has_expires;
	int64_t retries;
	/* timelimit [hard, soft]; a null or 0 entry means "not set" (Celery
	 * reads them with `or`, so 0 falls back to the task default). */
	double time_limit_hard;
	double time_limit_soft;
	int has_time_limit_hard;
	int has_time_limit_soft;
	int ignore_result;
	int utc;          /* v1 "utc" (default 1); always 1 for v2. When 0,
			   * naive eta/expires were local time in Python;
			   * eta/expires here still read them as UTC. */
	int eta_naive;    /* eta had no zone suffix */
	char *origin;
	char *argsrepr;   /* v2 headers only */
	char *kwargsrepr;
};

/* Decode the envelope json[0..len).
 * Returns 0 when the message is a well-formed JSON task message; -1 with a
 * reason in err otherwise (len > max_len, malformed JSON, content type other
 * than application/json, unknown body_encoding, bad base64, missing task
 * name/id, wrong field types, unparseable eta/expires, ...).
 * Partial fill: *env is zeroed first and fields are read in this order, so
 * on error everything read before the failing step stays set:
 *   1. size check, JSON parse (nothing filled on failure);
 *   2. v2: headers task, id (-> env->task_id as early as possible);
 *   3. properties (tag, delivery_info, priority, reply_to, correlation_id),
 *      content-type/-encoding, body_encoding, redelivered, deliveries;
 *   4. content-type check, body decode; v1: body parse, then task, id;
 *   5. remaining request fields (eta, expires, retries, timelimit, ...).
 * Hence task_id is set whenever the id itself was readable, even for a v2
 * message with a refused content type. A v2 body is decoded (base64) but
 * not parsed here; celery_body_parse does that (in the child). The caller owns *env afterwards in
 * both cases and must call celery_envelope_free. */
int celery_envelope_parse(const char *json, size_t len, size_t max_len,
			  struct celery_envelope *env, char *err,
			  size_t errlen);
/* Free all fields and zero *env; accepts a zeroed or half-filled struct. */
void celery_envelope_free(struct celery_envelope *env);

/* Task arguments of a decoded body. doc tokens are owned; the text is
 * borrowed from the body passed to celery_body_parse, which must outlive this
 * struct. args_json/kwargs_json/embed_json point at raw JSON text (inside the
 * body, at static "[]"/"{}", or at the owned embed_v1), suitable for
 * re-publishing. */
struct celery_body {
	struct json_doc doc;
	int args_tok;   /* array token, -1 when absent (v1) */
	int kwargs_tok; /* object token, -1 when absent (v1) */
	const char *args_json;
	size_t args_len;
	const char *kwargs_json;
	size_t kwargs_len;
	const char *embed_json;
	size_t embed_len;
	char *embed_v1; /* owned: embed synthesized from a v1 body */
};

/* Parse body[0..len) for protocol 2 (`[args, kwargs, embed]`, exactly three
 * elements, args an array, kwargs an object, embed an object or null) or
 * protocol 1 (an object; "args" default [], "kwargs" default {}; embed built
 * as {"callbacks", "errbacks", "chain": null, "chord"} like
 * proto1_to_proto2). Returns 0, or -1 with err set; *b is always left
 * freeable with celery_body_free. */
int celery_body_parse(struct celery_body *b, const char *body, size_t len,
		      int protocol, char *err, size_t errlen);
void celery_body_free(struct celery_body *b);

/* Number of positional arguments. */
int celery_body_nargs(const struct celery_body *b);
/* Token of positional argument idx / keyword argument name in b->doc, or -1
 * when absent. Use json_kind(&b->doc, tok) for its type. */
int celery_body_arg(const struct celery_body *b, int idx);
int celery_body_kwarg(const struct celery_body *b, const char *name);
/* Value of token tok (from the two functions above). tok < 0 gives -2
 * ("absent"), so calls can be chained: celery_body_str(b,
 * celery_body_kwarg(b, "url"), ...).
 * _str: a string, unescaped; *out is malloc'd, NUL-terminated, owned by the
 *   caller (NULL on error); *outlen may be NULL. Embedded NULs are kept.
 * _double: a finite number (NaN/Infinity and overflow refused).
 * _int: an integer in int64 range (fractions refused).
 * All return 0, -2 when absent, or -1 (wrong type / out of range) with err. */
int celery_body_str(const struct celery_body *b, int tok, char **out,
		    size_t *outlen, char *err, size_t errlen);
int celery_body_double(const struct celery_body *b, int tok, double *out,
		       char *err, size_t errlen);
int celery_body_int(const struct celery_body *b, int tok, int64_t *out,
		    char *err, size_t errlen);
/* Raw JSON text of token tok (borrowed from the body). -2 when tok < 0. */
int celery_body_raw(const struct celery_body *b, int tok, const char **p,
		    size_t *n);

/* Result meta as Celery 5.2.6 writes it (backends/base.py _get_result_meta +
 * json.dumps): keys status, result, traceback, children, date_done,
 * [group_id], [parent_id], [name, args, kwargs, worker, retries, queue],
 * task_id; separators ", " and ": "; ASCII only. */
struct celery_meta {
	const char *status;        /* required: SUCCESS, FAILURE, RETRY, ... */
	const char *result_json;   /* raw JSON value; NULL -> null */
	const char *traceback;     /* text; NULL -> null */
	const char *children_json; /* raw JSON array; NULL -> [] */
	int has_date_done;         /* 0 -> null (STARTED/RETRY) */
	double date_done;          /* unix seconds, written naive UTC */
	const char *group_id;      /* NULL or "" -> key left out */
	const char *parent_id;     /* NULL or "" -> key left out */
	int extended;              /* result_extended fields */
	const char *name;          /* NULL -> null, likewise below */
	const char *args_json;
	const char *kwargs_json;
	const char *worker;
	int64_t retries;
	const char *queue;
	const char *task_id;       /* required */
};
/* Append the meta JSON to out. result/children/args/kwargs raw texts are
 * validated. Returns 0 or -1 with err (out is then left as it was). */
int celery_meta_build(struct buf *out, const struct celery_meta *m, char *err,
		      size_t errlen);

/* Append {"exc_type": t, "exc_message": [...], "exc_module": m}.
 * _build: exc_message from nmsg C strings (msgs may be NULL when nmsg 0).
 * _build_raw: exc_message is the raw JSON array msg_array_json (validated;
 *   NULL -> []).
 * Returns 0 or -1 (out left as it was). */
int celery_exc_build(struct buf *out, const char *exc_type,
		     const char *exc_module, const char *const *msgs,
		     size_t nmsg);
int celery_exc_build_raw(struct buf *out, const char *exc_type,
			 const char *exc_module, const char *msg_array_json,
			 char *err, size_t errlen);

/* A protocol v2 task message as a Celery 5.2.6 client publishes it (header
 * order of as_task_v2, kombu's properties). All pointers are borrowed. */
struct celery_task_spec {
	const char *task;         /* required */
	const char *id;           /* required */
	const char *root_id;      /* NULL or "" -> id */
	const char *parent_id;    /* NULL -> null */
	const char *shadow;       /* NULL -> null */
	const char *group;        /* NULL -> null */
	int has_group_index;
	int64_t group_index;
	const char *eta;          /* ISO string or NULL */
	const char *expires;      /* ISO string or NULL */
	int64_t retries;
	int has_time_limit_hard;
	double time_limit_hard;
	int has_time_limit_soft;
	double time_limit_soft;
	const char *args_json;    /* raw JSON array, NULL -> [] */
	size_t args_len;          /* 0 -> strlen */
	const char *kwargs_json;  /* raw JSON object, NULL -> {} */
	size_t kwargs_len;
	const char *embed_json;   /* raw JSON object, NULL -> all-null embed */
	size_t embed_len;
	const char *argsrepr;     /* NULL -> pyrepr_saferepr of args */
	const char *kwargsrepr;   /* NULL -> pyrepr_saferepr of kwargs */
	const char *origin;       /* NULL -> null */
	int ignore_result;
	int64_t deliveries;       /* x-tryon-deliveries header when nonzero */
	const char *correlation_id; /* NULL -> id */
	const char *reply_to;     /* NULL -> "" */
	const char *exchange;     /* NULL -> "" */
	const char *routing_key;  /* required */
	int priority;
	const char *delivery_tag; /* required */
};
/* Append the envelope JSON (body base64 of `[args, kwargs, embed]`).
 * Returns 0 or -1 with err (missing required field, invalid raw JSON); out
 * is left as it was on error. */
int celery_task_build(struct buf *out, const struct celery_task_spec *s,
		      char *err, size_t errlen);

/* Append a copy of envelope json[0..len) with headers.redelivered = true,
 * properties.delivery_info.redelivered = true and (when deliveries >= 0)
 * headers["x-tryon-deliveries"] = deliveries, replacing existing members in
 * place and appending missing ones at the end of their object (so kombu's
 * requeue bytes are reproduced exactly when deliveries < 0). Every other
 * byte is preserved. Returns 0 or -1 with err (out left as it was). */
int celery_requeue_rewrite(const char *json, size_t len, int64_t deliveries,
			   struct buf *out, char *err, size_t errlen);

/* Append the v2 message that retries env/body (Python's Task.retry): same
 * id, task, shadow, root_id, correlation_id, reply_to, group, args, kwargs,
 * embed, timelimit, expires, ignore_result, priority, exchange and
 * routing_key; retries + 1; eta = eta_iso (NULL -> null); parent_id = the
 * task's own id; deliveries reset to 0; new delivery_tag and origin from the
 * caller. Works for v1 input (output is v2). Returns 0 or -1 with err. */
int celery_retry_build(struct buf *out, const struct celery_envelope *env,
		       const struct celery_body *body, const char *eta_iso,
		       const char *delivery_tag, const char *origin, char *err,
		       size_t errlen);

/* Append {"reason": .., "queue": .., "received_at": <float>, "message":
 * "<msg as a JSON string>"}. The message is escaped ASCII-only with
 * surrogateescape, so any bytes (even invalid UTF-8) can be recovered in
 * Python with s.encode('utf-8', 'surrogateescape'). Returns 0 or -1. */
int celery_deadletter_build(struct buf *out, const char *reason,
			    const char *queue, double received_at,
			    const char *msg, size_t msg_len);
#endif
