/* fal: a client for fal.ai's queue API (submit, status, result, cancel) over
 * http.c, never blocking longer than the timeout the caller passes. One
 * fal_call is one model request; the caller (tryon.c) drives several at
 * once by polling each in turn and waiting in fal_wait. A call watches its
 * status on fal's status stream (server-sent events) while the server
 * offers it, and falls back to polling when the stream is refused or
 * breaks. Owns the Authorization header (wiped on free); no error text or
 * log line it makes ever holds the key. No clock: callers pass now
 * (CLOCK_MONOTONIC seconds). */
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

#define FAL_STREAM_HEARTBEAT 1.0   /* s: longest gap between visits of a streamed call */
#define FAL_WATCH_MAX 4    /* calls of one client with a stream open at once */

struct fal_call;

/* Requests sent to fal by one client (a job), for the one log line at
 * fal_client_free and the tests. */
struct fal_counts {
	unsigned submits, polls, streams, results, cancels;
	unsigned stream_events;      /* status events read from streams */
	unsigned stream_fallbacks;   /* streams refused or broken: polling took over */
};

struct fal_client {
	struct http_client http;
	int stream;           /* watch calls on the status stream (default 1; 0: poll) */
	int stream_refused;   /* the server refused it: this client polls */
	struct fal_call *watch[FAL_WATCH_MAX];  /* calls with a stream open */
	struct fal_counts n;
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
	struct http_stream *stream;   /* owned; the open status stream, or NULL */
	struct fal_client *watcher;   /* borrowed; the client whose watch list has it */
	int stream_broken;        /* its stream failed once: this call polls */
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

/* Learn the call's status: from its status stream (GET {status_url}/stream;
 * the first call opens it and waits up to timeout_ms, at most 1 s, for its
 * first event, so that the phase is the server's afterwards), or by one
 * status GET when the stream was refused, silent or broke (the call then
 * polls to its end; a refusal makes every call of this client poll). When it says COMPLETED, the result GET decides:
 * SUCCEEDED with result_url (images[0].url, a valid URL), or FAILED with
 * the class of its HTTP status. Three failed polls in a row fail the call as
 * TRANSIENT. Sets next_poll: polled, the gap starts at 50 ms and doubles up
 * to poll_max; streamed, FAL_STREAM_HEARTBEAT later (or poll_max if
 * longer), or at once when fal_wait sees news, so that a caller renewing a
 * lease at each poll still does so at least that often. Only for
 * IN_QUEUE / IN_PROGRESS calls. */
enum fal_phase fal_poll(struct fal_client *fc, struct fal_call *call, long timeout_ms, double now);

/* Wait until `until` (monotonic seconds; now is the time of the call) or
 * until a watched call's stream has news (its next_poll becomes now), or a
 * signal. Without open streams, a plain sleep. */
void fal_wait(struct fal_client *fc, double now, double until);

/* PUT cancel_url, best effort, once per call; closes its stream; does not
 * change the phase.
 * Returns the HTTP status, or 0 if it could not be sent. */
long fal_cancel(struct fal_client *fc, struct fal_call *call, long timeout_ms);

/* Pure helpers. */
enum fal_class fal_classify_http(long status);
const char *fal_class_name(enum fal_class c);
const char *fal_phase_name(enum fal_phase p);
#endif
