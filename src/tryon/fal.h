/* fal: a client for fal.ai's queue API (submit, status, result, cancel) over
 * http.c, one request at a time, never blocking longer than the timeout the
 * caller passes. One fal_call is one model request; the caller (tryon.c)
 * drives several at once by polling each in turn. Owns the Authorization
 * header (wiped on free); no error text or log line it makes ever holds the
 * key. No clock: callers pass now (CLOCK_MONOTONIC seconds). */
#ifndef TRYON_FAL_H
#define TRYON_FAL_H
#include <stddef.h>

#include "lib/http.h"
#include "lib/trust.h"

enum fal_class {
	FAL_OK = 0,
	FAL_TRANSIENT,    /* 408, 429, 5xx, transport, timeout, bad answer */
	FAL_PERMANENT,    /* 422 and other 4xx: the model refuses this input */
	FAL_AUTH,         /* 401, 403: the key or account (every model) */
	FAL_CANCELLED     /* the request was cancelled (499) */
};

enum fal_phase {
	FAL_NEW = 0,      /* not submitted */
	FAL_IN_QUEUE,     /* accepted, not started */
	FAL_IN_PROGRESS,
	FAL_SUCCEEDED,    /* result_url set */
	FAL_FAILED        /* cls and err set */
};

struct fal_client {
	struct http_client http;
	char *base;           /* owned copy of FAL_QUEUE_URL, no trailing '/' */
	size_t origin_len;    /* length of "scheme://authority" within base */
	char *auth;           /* owned "Authorization: Key ..."; wiped on free */
	const char *key;      /* borrowed (for scrubbing error texts) */
	double poll_max;      /* longest gap between status polls, s */
};

struct fal_call {
	const char *endpoint;     /* borrowed endpoint id, e.g. fal-ai/fashn/tryon/v1.6 */
	enum fal_phase phase;
	enum fal_class cls;       /* FAL_FAILED: why */
	long http_status;         /* last HTTP status seen (0: none) */
	char err[240];            /* FAL_FAILED: one line, never the key */
	char *request_id;         /* owned, from the submit answer */
	char *status_url;         /* owned; as returned (see fal_submit) */
	char *response_url;
	char *cancel_url;
	char *result_url;         /* owned; FAL_SUCCEEDED: images[0].url */
	double submitted_at;      /* when the submit was sent */
	double accepted_at;       /* when its answer came (0: never accepted) */
	double started_at;        /* first seen IN_PROGRESS (0: not yet) */
	double finished_at;
	double poll_gap;          /* current gap between polls */
	double next_poll;         /* when to poll next */
	int poll_errors;          /* consecutive failed polls */
	int queue_position;       /* last reported, -1 unknown */
	int cancel_sent;          /* PUT cancel_url was attempted */
	int resumed;              /* taken over from a recorded request (fal_resume) */
	double retry_after;       /* submit answered 429: seconds to wait (Retry-After), else 0 */
	long cancel_status;       /* its HTTP status (202, 400, 404; 0 none) */
};

/* Set up the client. base and key are copied/borrowed as noted in the
 * struct; key must be non-NULL and outlive the client. 0 or -1 with err. */
int fal_client_init(struct fal_client *fc, const struct trust_store *trust, const char *base,
		    const char *key, double poll_max, char *err, size_t errlen);
/* Release it (wipes the header). Accepts a zeroed client. */
void fal_client_free(struct fal_client *fc);

/* A call in phase NEW for endpoint (borrowed). */
void fal_call_init(struct fal_call *call, const char *endpoint);
void fal_call_free(struct fal_call *call);

/* POST {base}/{endpoint} with body[0..len) (a JSON object).
 * start_timeout > 0 sends X-Fal-Request-Timeout (seconds, at least 1) so
 * that a request not started by then expires in fal's queue. timeout_ms
 * bounds the HTTP request. The status/response/cancel URLs of the answer
 * are used exactly as given when they are on the queue host; a URL on any
 * other host is never sent the key: it is replaced by the documented
 * {base}/{owner}/{alias}/requests/{id}[/status|/cancel] form. Afterwards the
 * phase is IN_QUEUE (accepted) or FAILED. */
enum fal_phase fal_submit(struct fal_client *fc, struct fal_call *call, const char *body,
			  size_t len, double start_timeout, long timeout_ms, double now);

/* Take over a request submitted earlier (by a job that died or timed out):
 * phase IN_QUEUE until the first poll, polled at once. The URLs are used as
 * given only when on the queue host, else rebuilt from the request id.
 * accepted_at is when it was accepted, on this process's monotonic clock
 * (may be negative). 0, or -1 (bad request id, out of memory). */
int fal_resume(struct fal_client *fc, struct fal_call *call, const char *request_id, const char *status_url,
	       const char *response_url, const char *cancel_url, double accepted_at, double now);

/* One status GET; when it says COMPLETED, the result GET, which decides:
 * SUCCEEDED with result_url (images[0].url, a valid URL), or FAILED with
 * the class of its HTTP status. Three failed polls in a row fail the call as
 * TRANSIENT. Sets next_poll (the gap starts at 50 ms and doubles up to
 * poll_max). Only for IN_QUEUE / IN_PROGRESS calls. */
enum fal_phase fal_poll(struct fal_client *fc, struct fal_call *call, long timeout_ms, double now);

/* PUT cancel_url, best effort, once per call; does not change the phase.
 * Returns the HTTP status, or 0 if it could not be sent. */
long fal_cancel(struct fal_client *fc, struct fal_call *call, long timeout_ms);

/* Pure helpers. */
enum fal_class fal_classify_http(long status);
const char *fal_class_name(enum fal_class c);
const char *fal_phase_name(enum fal_phase p);
#endif
