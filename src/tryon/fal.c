/* fal: the queue API client (see fal.h). Every HTTP request is bounded by
 * the caller's timeout (a status stream by its idle limit and the call's
 * life); answers are parsed by fal_parse.c and never trusted beyond what is
 * checked: URLs must stay on the queue host before the key goes to them,
 * and a result URL must pass cachekey_validate_result. A stream event and
 * a polled status go through the same apply_status. */
#include "tryon/fal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <time.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "tryon/cachekey.h"
#include "tryon/fal_parse.h"
#include "version.h"

#define FAL_POLL_FIRST 0.05        /* first gap between status polls, s */
#define FAL_POLL_ERRORS_MAX 3      /* failed polls in a row that fail the call */
#define FAL_SMALL_RESPONSE (64u << 10)
#define FAL_RESULT_RESPONSE (2u << 20)
#define FAL_CONNECT_MS 3000L
#define FAL_STREAM_IDLE_S 40L      /* silence that breaks a stream (fal: a comment every 15 s) */
#define FAL_STREAM_PENDING (64u << 10)
#define FAL_STREAM_FIRST_MS 1000L  /* longest wait for a new stream's first event */

const char *fal_class_name(enum fal_class c)
{
	switch (c) {
	case FAL_OK: return "ok";
	case FAL_TRANSIENT: return "transient";
	case FAL_PERMANENT: return "permanent";
	case FAL_AUTH: return "auth";
	case FAL_CANCELLED: return "cancelled";
	}
	return "unknown";
}

const char *fal_phase_name(enum fal_phase p)
{
	switch (p) {
	case FAL_NEW: return "new";
	case FAL_IN_QUEUE: return "in_queue";
	case FAL_IN_PROGRESS: return "in_progress";
	case FAL_SUCCEEDED: return "succeeded";
	case FAL_FAILED: return "failed";
	}
	return "unknown";
}

enum fal_class fal_classify_http(long status)
{
	if (status >= 200 && status < 300)
		return FAL_OK;
	if (status == 401 || status == 403)
		return FAL_AUTH;
	if (status == 499)
		return FAL_CANCELLED;
	/* 409 is a conflict fal's own clients retry. */
	if (status == 408 || status == 409 || status == 429 || status >= 500 || status < 100)
		return FAL_TRANSIENT;
	return FAL_PERMANENT;
}

/* Close the call's stream, if any, and take it off its client's watch list. */
static void stream_stop(struct fal_call *call)
{
	if (call->stream) {
		http_stream_close(call->stream);
		free(call->stream);
		call->stream = NULL;
	}
	if (call->watcher)
		for (int i = 0; i < FAL_WATCH_MAX; i++)
			if (call->watcher->watch[i] == call)
				call->watcher->watch[i] = NULL;
	call->watcher = NULL;
}

int fal_client_init(struct fal_client *fc, const struct trust_store *trust, const char *base,
		    const char *key, double poll_max, char *err, size_t errlen)
{
	char ua[64];

	memset(fc, 0, sizeof *fc);
	if (!key || !*key) {
		snprintf(err, errlen, "FAL_KEY is not set");
		return -1;
	}
	fc->key = key;
	fc->stream = 1;
	fc->poll_max = poll_max > FAL_POLL_FIRST ? poll_max : FAL_POLL_FIRST;
	fc->base = strdup(base);
	size_t klen = strlen(key);
	fc->auth = malloc(klen + 32);
	if (!fc->base || !fc->auth) {
		snprintf(err, errlen, "out of memory");
		fal_client_free(fc);
		return -1;
	}
	snprintf(fc->auth, klen + 32, "Authorization: Key %s", key);
	size_t n = strlen(fc->base);
	while (n && fc->base[n - 1] == '/')
		fc->base[--n] = '\0';
	const char *sep = strstr(fc->base, "://");
	const char *a = sep ? sep + 3 : fc->base;
	fc->origin_len = (size_t)(a - fc->base) + strcspn(a, "/?#");
	snprintf(ua, sizeof ua, "tryon-worker/%s", version_string);
	if (http_client_init(&fc->http, trust, ua, err, errlen) < 0) {
		fal_client_free(fc);
		return -1;
	}
	return 0;
}

void fal_client_free(struct fal_client *fc)
{
	if (!fc)
		return;
	for (int i = 0; i < FAL_WATCH_MAX; i++)
		if (fc->watch[i])
			stream_stop(fc->watch[i]);
	if (fc->n.submits + fc->n.polls + fc->n.streams + fc->n.results + fc->n.cancels)
		log_info("fal.requests", "submits=%u polls=%u streams=%u stream_events=%u stream_fallbacks=%u "
			 "results=%u cancels=%u connects=%u tls_offered=%u tls_resumed=%u tcp_ms=%.3f tls_ms=%.3f",
			 fc->n.submits, fc->n.polls, fc->n.streams, fc->n.stream_events, fc->n.stream_fallbacks,
			 fc->n.results, fc->n.cancels, fc->http.stats.connects, fc->http.stats.offered, fc->http.stats.resumed,
			 fc->http.stats.connect_seconds * 1000, fc->http.stats.tls_seconds * 1000);
	http_client_free(&fc->http);
	if (fc->auth) {
		/* The header holds the key: do not leave it in freed memory. */
		volatile char *p = fc->auth;
		while (*p)
			*p++ = '\0';
		free(fc->auth);
	}
	free(fc->base);
	memset(fc, 0, sizeof *fc);
}

void fal_call_init(struct fal_call *call, const char *endpoint)
{
	memset(call, 0, sizeof *call);
	call->endpoint = endpoint;
	call->queue_position = -1;
}

void fal_call_free(struct fal_call *call)
{
	if (!call)
		return;
	stream_stop(call);
	free(call->request_id);
	free(call->status_url);
	free(call->response_url);
	free(call->cancel_url);
	free(call->result_url);
	call->request_id = call->status_url = call->response_url = call->cancel_url = NULL;
	call->result_url = NULL;
}

/* Replace every occurrence of the key in s by "***" (defence in depth: a
 * server echoing the header must not make us print it). */
static void scrub(const struct fal_client *fc, char *s)
{
	size_t kl = fc->key ? strlen(fc->key) : 0;
	char *p;

	if (kl < 4)
		return;
	while ((p = strstr(s, fc->key))) {
		memcpy(p, "***", 3);
		memmove(p + 3, p + kl, strlen(p + kl) + 1);
	}
	/* Half a key_id:secret pair is still a secret. */
	const char *colon = strchr(fc->key, ':');
	if (colon && strlen(colon + 1) >= 8)
		while ((p = strstr(s, colon + 1))) {
			size_t sl = strlen(colon + 1);
			memcpy(p, "***", 3);
			memmove(p + 3, p + sl, strlen(p + sl) + 1);
		}
}

static void call_fail(const struct fal_client *fc, struct fal_call *call, enum fal_class cls,
		      double now, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void call_fail(const struct fal_client *fc, struct fal_call *call, enum fal_class cls,
		      double now, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(call->err, sizeof call->err, fmt, ap);
	va_end(ap);
	/* One printable ASCII line. */
	for (char *p = call->err; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	scrub(fc, call->err);
	stream_stop(call);
	call->phase = FAL_FAILED;
	call->cls = cls;
	call->finished_at = now;
}

/* A short reason from an error body (see fal_parse_error_detail). */
static void error_detail(const struct buf *body, char *out, size_t outlen)
{
	fal_parse_error_detail(body->data, body->len, out, outlen);
}

/* 1 if url is on the queue host (same scheme and authority as the base). */
static int same_origin(const struct fal_client *fc, const char *url)
{
	return !strncasecmp(url, fc->base, fc->origin_len) && url[fc->origin_len] == '/' &&
	       !strchr(url, ' ');
}

/* {base}/{owner}/{alias}/requests/{id}{suffix}: the documented form, used
 * when the server gave no usable URL. The status/result/cancel paths drop
 * the endpoint's sub-path; workflows/ and comfy/ ids have one more part. */
static char *build_url(const struct fal_client *fc, const struct fal_call *call, const char *suffix)
{
	const char *e = call->endpoint;
	int parts = (!strncmp(e, "workflows/", 10) || !strncmp(e, "comfy/", 6)) ? 3 : 2;
	size_t n = 0;
	for (int seen = 0; e[n]; n++)
		if (e[n] == '/' && ++seen == parts)
			break;
	struct buf b;
	buf_init(&b);
	buf_printf(&b, "%s/%.*s/requests/%s%s", fc->base, (int)n, e, call->request_id, suffix);
	if (b.failed) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

/* The URL the server gave (taken over: *given becomes NULL) when it is on
 * the queue host, else the documented form. */
static char *pick_url(const struct fal_client *fc, const struct fal_call *call, char **given,
		      const char *suffix)
{
	char *u = *given;
	*given = NULL;
	if (u && same_origin(fc, u))
		return u;
	free(u);
	return build_url(fc, call, suffix);
}

static long clamp_ms(long ms)
{
	return ms < 50 ? 50 : ms;
}

/* Every fal request: bounded by the caller's time left, connect included. */
static struct http_request fal_request(const char *method, const char *url, const char *const *hdrs,
				       long timeout_ms, size_t max_response)
{
	struct http_request rq = {
		.method = method, .url = url, .headers = hdrs,
		.timeout_ms = clamp_ms(timeout_ms),
		.connect_timeout_ms = clamp_ms(timeout_ms < FAL_CONNECT_MS ? timeout_ms : FAL_CONNECT_MS),
		.max_response = max_response,
	};
	return rq;
}

int fal_resume(struct fal_client *fc, struct fal_call *call, const char *request_id, const char *status_url,
	       const char *response_url, const char *cancel_url, double accepted_at, double now)
{
	const char *const urls[3] = { status_url, response_url, cancel_url };
	const char *const suffix[3] = { "/status", "", "/cancel" };
	char **slot[3] = { &call->status_url, &call->response_url, &call->cancel_url };

	if (!request_id || !*request_id || strlen(request_id) > 100 || strpbrk(request_id, "/?#% \t\r\n"))
		return -1;
	call->request_id = strdup(request_id);
	if (!call->request_id)
		return -1;
	/* Recorded URLs get the same rule as fresh ones: on the queue host as
	 * given, else the documented form (the key goes nowhere else). */
	for (int i = 0; i < 3; i++) {
		*slot[i] = urls[i] && *urls[i] && same_origin(fc, urls[i]) ? strdup(urls[i])
									 : build_url(fc, call, suffix[i]);
		if (!*slot[i])
			return -1;
	}
	call->phase = FAL_IN_QUEUE;   /* the first poll tells */
	call->submitted_at = call->accepted_at = accepted_at;
	call->poll_gap = FAL_POLL_FIRST;
	call->next_poll = now;
	call->resumed = 1;
	return 0;
}

enum fal_phase fal_submit(struct fal_client *fc, struct fal_call *call, const char *body,
			  size_t len, double start_timeout, long timeout_ms, double now)
{
	char url_err[256], to_hdr[64], detail[200];
	const char *hdrs[6];
	int nh = 0;
	struct http_response rs;
	struct buf url;

	buf_init(&url);
	buf_printf(&url, "%s/%s", fc->base, call->endpoint);
	hdrs[nh++] = fc->auth;
	hdrs[nh++] = "Content-Type: application/json";
	hdrs[nh++] = "Accept: application/json";
	if (start_timeout > 0) {
		/* fal's clients refuse values <= 1 s. */
		snprintf(to_hdr, sizeof to_hdr, "X-Fal-Request-Timeout: %.1f",
			 start_timeout < 1.1 ? 1.1 : start_timeout);
		hdrs[nh++] = to_hdr;
	}
	hdrs[nh] = NULL;
	struct http_request rq = fal_request("POST", url.data, hdrs, timeout_ms, FAL_SMALL_RESPONSE);
	rq.body = body;
	rq.body_len = len;
	buf_init(&rs.body);
	call->submitted_at = now;
	if (url.failed) {
		call_fail(fc, call, FAL_TRANSIENT, now, "out of memory");
		goto out;
	}
	fc->n.submits++;
	enum http_outcome o = http_perform(&fc->http, &rq, &rs, url_err, sizeof url_err);
	double after = now + rs.seconds;
	if (o != HTTP_OK) {
		call_fail(fc, call, FAL_TRANSIENT, after, "submit to %s: %s (%s)", call->endpoint, url_err,
			  http_outcome_name(o));
		goto out;
	}
	call->http_status = rs.status;
	enum fal_class cls = fal_classify_http(rs.status);
	if (cls != FAL_OK) {
		error_detail(&rs.body, detail, sizeof detail);
		if (rs.status == 429)
			call->retry_after = rs.retry_after >= 0 ? rs.retry_after : 1.0;
		call_fail(fc, call, cls == FAL_CANCELLED ? FAL_TRANSIENT : cls, after,
			  "submit to %s: HTTP %ld%s", call->endpoint, rs.status, detail);
		goto out;
	}
	struct fal_submit_answer ans;
	if (fal_parse_submit(rs.body.data, rs.body.len, &ans) < 0) {
		call_fail(fc, call, FAL_TRANSIENT, after, "submit to %s: HTTP %ld without a request_id",
			  call->endpoint, rs.status);
		goto out;
	}
	call->request_id = ans.request_id;
	ans.request_id = NULL;
	call->status_url = pick_url(fc, call, &ans.status_url, "/status");
	call->response_url = pick_url(fc, call, &ans.response_url, "");
	call->cancel_url = pick_url(fc, call, &ans.cancel_url, "/cancel");
	if (ans.queue_position >= 0)
		call->queue_position = ans.queue_position;
	fal_submit_answer_free(&ans);
	call->accepted_at = after;
	if (!call->status_url || !call->response_url || !call->cancel_url) {
		call_fail(fc, call, FAL_TRANSIENT, after, "out of memory");
		goto out;
	}
	call->phase = FAL_IN_QUEUE;
	call->poll_gap = FAL_POLL_FIRST;
	/* A stream is opened at once: it reports every change as it happens. */
	call->next_poll = fc->stream && !fc->stream_refused ? after : after + call->poll_gap;
out:
	buf_free(&rs.body);
	buf_free(&url);
	return call->phase;
}

/* A failed poll: tolerated a few times in a row (one slow or dropped
 * response says little), then the call is given up as transient. */
static void poll_error(struct fal_client *fc, struct fal_call *call, double now, const char *what)
{
	if (++call->poll_errors >= FAL_POLL_ERRORS_MAX)
		call_fail(fc, call, FAL_TRANSIENT, now, "%s %s: %s (%d times in a row)",
			  call->endpoint, call->phase == FAL_IN_PROGRESS ? "running" : "queued", what,
			  call->poll_errors);
}

static void fetch_result(struct fal_client *fc, struct fal_call *call, long timeout_ms, double now)
{
	char err[256], detail[200], why[128];
	const char *hdrs[] = { fc->auth, "Accept: application/json", NULL };
	struct http_response rs;
	struct http_request rq = fal_request("GET", call->response_url, hdrs, timeout_ms, FAL_RESULT_RESPONSE);

	buf_init(&rs.body);
	fc->n.results++;
	enum http_outcome o = http_perform(&fc->http, &rq, &rs, err, sizeof err);
	double after = now + rs.seconds;
	if (o == HTTP_ERR_TOO_BIG) {
		call_fail(fc, call, FAL_TRANSIENT, after, "%s: result larger than %u bytes",
			  call->endpoint, FAL_RESULT_RESPONSE);
		goto out;
	}
	if (o != HTTP_OK) {
		char what[300];
		snprintf(what, sizeof what, "result: %s (%s)", err, http_outcome_name(o));
		poll_error(fc, call, after, what);
		goto out;
	}
	call->http_status = rs.status;
	enum fal_class cls = fal_classify_http(rs.status);
	if (cls != FAL_OK) {
		error_detail(&rs.body, detail, sizeof detail);
		if (rs.status == 400 && strstr(detail, "in progress")) {
			poll_error(fc, call, after, "result not ready after COMPLETED");
			goto out;
		}
		call_fail(fc, call, cls, after, "%s: result HTTP %ld%s", call->endpoint, rs.status, detail);
		goto out;
	}
	char *url = NULL;
	size_t ulen = 0;
	int pr = fal_parse_result(rs.body.data, rs.body.len, &url, &ulen);
	if (pr == -1) {
		call_fail(fc, call, FAL_TRANSIENT, after, "%s: result is not JSON", call->endpoint);
	} else if (pr < 0) {
		call_fail(fc, call, FAL_TRANSIENT, after, "%s: result without images[0].url", call->endpoint);
	} else if (cachekey_validate_result(url, ulen, why, sizeof why) < 0) {
		call_fail(fc, call, FAL_TRANSIENT, after, "%s: result images[0].url %s", call->endpoint, why);
	} else {
		call->result_url = url;
		url = NULL;
		stream_stop(call);
		call->phase = FAL_SUCCEEDED;
		call->finished_at = after;
	}
	free(url);
out:
	buf_free(&rs.body);
}

/* What a status says, applied: the same for a polled answer and a stream
 * event. COMPLETED leads to the result GET. */
static void apply_status(struct fal_client *fc, struct fal_call *call, enum fal_status_kind st,
			 long timeout_ms, double now)
{
	if (st == FAL_STATUS_IN_QUEUE) {
		call->phase = FAL_IN_QUEUE;
		call->poll_errors = 0;
	} else if (st == FAL_STATUS_IN_PROGRESS) {
		if (!call->started_at)
			call->started_at = now;
		call->phase = FAL_IN_PROGRESS;
		call->poll_errors = 0;
	} else if (st == FAL_STATUS_COMPLETED) {
		if (!call->started_at)
			call->started_at = now;
		call->poll_errors = 0;
		/* Success or failure is decided by the result GET's status
		 * (a failed request still reads COMPLETED, with "error"). */
		fetch_result(fc, call, timeout_ms, now);
	} else {
		poll_error(fc, call, now, "unknown status");
	}
}

/* {status_url}/stream?logs=0 (a query in status_url stays after the path). */
static int stream_url(const struct fal_call *call, struct buf *url)
{
	const char *q = strchr(call->status_url, '?');
	size_t path = q ? (size_t)(q - call->status_url) : strlen(call->status_url);
	buf_printf(url, "%.*s/stream?%s%slogs=0", (int)path, call->status_url, q ? q + 1 : "", q ? "&" : "");
	return url->failed ? -1 : 0;
}

/* Is a complete event with data waiting, or is the answer no stream? */
static int stream_ready(const struct http_stream *s, void *arg)
{
	char ev[256];
	size_t off = 0, used, n;
	const char *ctype;
	(void)arg;
	long st = http_stream_status(s, &ctype);
	if (st && (st != 200 || !ctype || strncasecmp(ctype, "text/event-stream", 17)))
		return 1;   /* refused: stream_read falls back at once */
	while (off < s->data.len) {
		int k = fal_sse_next(s->data.data + off, s->data.len - off, &used, ev, sizeof ev, &n);
		if (k < 0)
			return 1;   /* larger than ev: certainly data */
		if (k == 0)
			return 0;
		if (n)
			return 1;
		off += used;
	}
	return 0;
}

/* Open the call's status stream and wait up to timeout_ms (at most
 * FAL_STREAM_FIRST_MS) for its first event. 0 open (its answer is in, or
 * it ended), -1 not possible or silent (the call polls). */
static int stream_start(struct fal_client *fc, struct fal_call *call, long timeout_ms)
{
	char err[200];
	const char *hdrs[] = { fc->auth, "Accept: text/event-stream", NULL };
	struct buf url;
	int slot = -1;

	for (int i = 0; i < FAL_WATCH_MAX && slot < 0; i++)
		if (!fc->watch[i])
			slot = i;
	buf_init(&url);
	call->stream = slot >= 0 && stream_url(call, &url) == 0 ? calloc(1, sizeof *call->stream) : NULL;
	if (!call->stream) {
		buf_free(&url);
		return -1;
	}
	struct http_request rq = fal_request("GET", url.data, hdrs, timeout_ms, FAL_STREAM_PENDING);
	rq.timeout_ms = -1;   /* it lives as long as the call; idle limit below */
	int rc = http_stream_open(&fc->http, call->stream, &rq, FAL_STREAM_IDLE_S, err, sizeof err);
	buf_free(&url);
	if (rc < 0) {
		free(call->stream);
		call->stream = NULL;
		return -1;
	}
	fc->n.streams++;
	fc->watch[slot] = call;
	call->watcher = fc;
	/* fal sends the current status at once; a stream that says nothing
	 * for a second is of no use (and must not hold up the job's timers). */
	if (!http_stream_wait(call->stream, timeout_ms < FAL_STREAM_FIRST_MS ? timeout_ms : FAL_STREAM_FIRST_MS,
			      stream_ready, NULL) && !call->stream->done) {
		log_info("fal.stream_broken", "endpoint=%s why=\"no first event\"", call->endpoint);
		call->stream_broken = 1;
		fc->n.stream_fallbacks++;
		stream_stop(call);
		return -1;
	}
	return 0;
}

/* The next status event of the stream, consumed from its data (events
 * that are not a status are skipped). 1 one in *kind, 0 none complete yet,
 * -1 an event larger than FAL_SSE_DATA_MAX. noinline: the event's copy is
 * on this frame's stack, gone before the caller runs the result GET deep
 * in curl and BearSSL below it (in static storage it was a page of its own
 * in every job child for the whole model time). */
static __attribute__((noinline)) int stream_next_status(struct http_stream *s, enum fal_status_kind *kind,
							  int *queue_position)
{
	char ev[FAL_SSE_DATA_MAX];
	size_t used, n;
	int k;

	while ((k = fal_sse_next(s->data.data, s->data.len, &used, ev, sizeof ev, &n)) == 1) {
		buf_consume(&s->data, used);
		if (n && fal_parse_status(ev, n, kind, queue_position) == 0 && *kind != FAL_STATUS_UNKNOWN)
			return 1;
		/* not a status: nothing fal documents */
	}
	return k;
}

enum stream_read { STREAM_GO_ON, STREAM_DONE, STREAM_FALL_BACK };

/* Apply what the stream brought. STREAM_GO_ON: still watching; DONE: the
 * call finished (or failed); FALL_BACK: refused or broken, poll now. */
static enum stream_read stream_read(struct fal_client *fc, struct fal_call *call, long timeout_ms, double now)
{
	struct http_stream *s = call->stream;
	const char *ctype;
	enum fal_status_kind kind;
	int k;

	http_client_run(&fc->http, 0);
	s->fresh = 0;
	long st = http_stream_status(s, &ctype);
	if (st == 0 && !s->done)
		return STREAM_GO_ON;
	if (st != 200 || !ctype || strncasecmp(ctype, "text/event-stream", 17)) {
		/* Not offered (or not this way): polling tells the rest,
		 * including what a 401 or 404 means for the call. */
		if (st >= 400 && st < 500 && st != 408 && st != 429)
			fc->stream_refused = 1;
		char ct[48];
		snprintf(ct, sizeof ct, "%s", ctype ? ctype : "-");
		for (char *c = ct; *c; c++)
			if (*c <= ' ' || *c > '~' || *c == '"' || *c == '\\')
				*c = '?';
		log_info("fal.stream_refused", "endpoint=%s status=%ld content_type=%s%s%s", call->endpoint, st, ct,
			 s->done && s->outcome != HTTP_OK ? " error=" : "",
			 s->done && s->outcome != HTTP_OK ? http_outcome_name(s->outcome) : "");
		goto fall_back;
	}
	while ((k = stream_next_status(s, &kind, &call->queue_position)) == 1) {
		fc->n.stream_events++;
		if (kind == FAL_STATUS_COMPLETED) {
			/* fal ends the body after COMPLETED: when its end is in,
			 * the connection goes back to the pool for the result. */
			if (!s->done)
				http_client_run(&fc->http, 0);
			stream_stop(call);
			apply_status(fc, call, kind, timeout_ms, now);
			return STREAM_DONE;
		}
		apply_status(fc, call, kind, timeout_ms, now);
	}
	if (k < 0) {
		log_info("fal.stream_broken", "endpoint=%s why=\"event larger than %u bytes\"", call->endpoint,
			 FAL_SSE_DATA_MAX);
		goto fall_back;
	}
	if (s->done) {
		log_info("fal.stream_broken", "endpoint=%s why=\"%s\"", call->endpoint,
			 s->outcome == HTTP_OK ? "ended before COMPLETED" : http_outcome_name(s->outcome));
		goto fall_back;
	}
	return STREAM_GO_ON;
fall_back:
	call->stream_broken = 1;
	fc->n.stream_fallbacks++;
	stream_stop(call);
	return STREAM_FALL_BACK;
}

enum fal_phase fal_poll(struct fal_client *fc, struct fal_call *call, long timeout_ms, double now)
{
	char err[256];
	const char *hdrs[] = { fc->auth, "Accept: application/json", NULL };
	struct http_response rs;
	struct buf url;

	if (call->phase != FAL_IN_QUEUE && call->phase != FAL_IN_PROGRESS)
		return call->phase;
	if (!call->stream && fc->stream && !fc->stream_refused && !call->stream_broken)
		stream_start(fc, call, timeout_ms);
	if (call->stream) {
		enum stream_read r = stream_read(fc, call, timeout_ms, now);
		if (r != STREAM_FALL_BACK) {
			double beat = fc->poll_max > FAL_STREAM_HEARTBEAT ? fc->poll_max : FAL_STREAM_HEARTBEAT;
			if (call->phase == FAL_IN_QUEUE || call->phase == FAL_IN_PROGRESS)
				call->next_poll = now + beat;
			return call->phase;
		}
		/* Polling takes over at once, from the first gap. */
		call->poll_gap = FAL_POLL_FIRST;
	}
	fc->n.polls++;
	buf_init(&url);
	buf_init(&rs.body);
	buf_printf(&url, "%s%slogs=0", call->status_url, strchr(call->status_url, '?') ? "&" : "?");
	struct http_request rq = fal_request("GET", url.data, hdrs, timeout_ms, FAL_SMALL_RESPONSE);
	if (url.failed) {
		poll_error(fc, call, now, "out of memory");
		goto out;
	}
	enum http_outcome o = http_perform(&fc->http, &rq, &rs, err, sizeof err);
	double after = now + rs.seconds;
	if (o != HTTP_OK) {
		char what[300];
		snprintf(what, sizeof what, "status: %s (%s)", err, http_outcome_name(o));
		poll_error(fc, call, after, what);
		goto next;
	}
	call->http_status = rs.status;
	enum fal_class cls = fal_classify_http(rs.status);
	if (cls == FAL_AUTH || rs.status == 404 || rs.status == 405 || rs.status == 410) {
		char detail[200];
		error_detail(&rs.body, detail, sizeof detail);
		call_fail(fc, call, cls == FAL_AUTH ? FAL_AUTH : FAL_TRANSIENT, after,
			  "%s: status HTTP %ld%s", call->endpoint, rs.status, detail);
		goto out;
	}
	if (cls != FAL_OK) {
		char what[64];
		snprintf(what, sizeof what, "status HTTP %ld", rs.status);
		poll_error(fc, call, after, what);
		goto next;
	}
	enum fal_status_kind st;
	if (fal_parse_status(rs.body.data, rs.body.len, &st, &call->queue_position) < 0) {
		poll_error(fc, call, after, "status is not JSON");
		goto next;
	}
	apply_status(fc, call, st, timeout_ms - (long)(rs.seconds * 1000), after);
next:
	if (call->phase == FAL_IN_QUEUE || call->phase == FAL_IN_PROGRESS) {
		call->next_poll = after + call->poll_gap;
		call->poll_gap *= 2;
		if (call->poll_gap > fc->poll_max)
			call->poll_gap = fc->poll_max;
	}
out:
	buf_free(&rs.body);
	buf_free(&url);
	return call->phase;
}

void fal_wait(struct fal_client *fc, double now, double until)
{
	double d = until - now;

	if (d <= 0)
		return;
	if (!http_client_streaming(&fc->http)) {
		struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
		nanosleep(&ts, NULL);   /* a signal (the soft-limit alarm) ends it */
		return;
	}
	if (http_client_run(&fc->http, (long)(d * 1000) + 1) <= 0)
		return;
	for (int i = 0; i < FAL_WATCH_MAX; i++) {
		struct fal_call *c = fc->watch[i];
		if (c && c->stream && c->stream->fresh && c->next_poll > now)
			c->next_poll = now;
	}
}

long fal_cancel(struct fal_client *fc, struct fal_call *call, long timeout_ms)
{
	char err[256];
	const char *hdrs[] = { fc->auth, "Accept: application/json", NULL };
	struct http_response rs;

	stream_stop(call);
	if (call->cancel_sent || !call->cancel_url)
		return call->cancel_status;
	call->cancel_sent = 1;
	fc->n.cancels++;
	struct http_request rq = fal_request("PUT", call->cancel_url, hdrs, timeout_ms, FAL_SMALL_RESPONSE);
	buf_init(&rs.body);
	if (http_perform(&fc->http, &rq, &rs, err, sizeof err) == HTTP_OK)
		call->cancel_status = rs.status;
	buf_free(&rs.body);
	return call->cancel_status;
}
