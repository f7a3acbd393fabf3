/* http: HTTPS requests through libcurl built on BearSSL. One http_client
 * owns one curl multi handle, whose connection pool every request and
 * stream of the client shares, one share handle for TLS sessions (a second
 * connection to a host resumes the first one's session), and one easy
 * handle for blocking requests. Certificates and host names are always
 * verified against the trust store, never optional. Single-threaded;
 * meant for children and CLI commands, never the worker's main loop. */
#ifndef TRYON_HTTP_H
#define TRYON_HTTP_H
#include <stddef.h>

#include <bearssl.h>

#include "lib/buf.h"
#include "lib/trust.h"

/* What a client's connections cost: handshakes are counted per new
 * connection (CURLINFO_NUM_CONNECTS), their time from curl's timings. */
struct http_stats {
	unsigned requests;        /* blocking requests and streams started */
	unsigned connects;        /* new connections (each one TLS handshake) */
	double connect_seconds;   /* TCP connect time of those */
	double tls_seconds;       /* TLS handshake time of those */
	unsigned offered;         /* handshakes that offered a saved session */
	unsigned resumed;         /* ... and the server took it (abbreviated handshake) */
};

/* One easy handle and the X.509 engine of its handshakes: two handshakes
 * may be under way at once (a stream's and a blocking request's), so
 * each handle has its own. A client keeps a few, made when first needed
 * (a job that watches one stream and then fetches its result uses one). */
struct http_handle {
	void *easy;                      /* CURL *, owned */
	int busy;                        /* a request or a stream has it */
	const struct trust_store *trust; /* borrowed */
	struct http_stats *stats;        /* borrowed: the client's */
	struct http_tls_cache *const *sessions;  /* the client's sessions pointer */
	br_x509_minimal_context x509;
	char errbuf[256];
	int handshook;                   /* a handshake began in this transfer */
	unsigned char offered[32];       /* the session id it offered (len 0: none) */
	size_t offered_len;
	char origin[128];                /* scheme://authority of that connection */
};

#define HTTP_STREAMS_MAX 8
#define HTTP_HANDLES_MAX (HTTP_STREAMS_MAX + 1)

struct http_stream;

struct http_client {
	struct http_handle *handles[HTTP_HANDLES_MAX];  /* owned; the first made at init */
	void *multi;                     /* CURLM *, owned: runs everything */
	void *share;                     /* CURLSH *, owned: TLS sessions, DNS */
	const struct trust_store *trust; /* borrowed; outlives the client */
	char user_agent[96];             /* copied; "": curl's none */
	struct http_stream *streams[HTTP_STREAMS_MAX];   /* open ones, borrowed */
	struct http_stats stats;
	struct http_tls_cache *sessions; /* borrowed, NULL: no sharing (http_client_share_sessions) */
};

enum http_outcome {
	HTTP_OK = 0,          /* a response arrived (any status) */
	HTTP_ERR_CONNECT,     /* DNS, refused, unreachable */
	HTTP_ERR_TLS,         /* handshake or verification failed */
	HTTP_ERR_TIMEOUT,
	HTTP_ERR_TOO_BIG,     /* response larger than max_response */
	HTTP_ERR_OTHER,
};

struct http_request {
	const char *method;            /* "GET", "POST", "PUT" */
	const char *url;
	const char *const *headers;    /* NULL-terminated "Name: value" list, or NULL */
	const char *body;              /* may be NULL */
	size_t body_len;
	long timeout_ms;               /* whole request; 0 = 30 s; a stream: -1 = none */
	long connect_timeout_ms;       /* 0 = 5 s */
	size_t max_response;           /* 0 = 4 MiB; a stream: bytes not yet consumed */
};

struct http_response {
	long status;
	struct buf body;               /* owned by the caller: buf_free it */
	double seconds;                /* total time */
	double connect_seconds;        /* TCP + TLS handshake, 0 if reused */
	double retry_after;            /* Retry-After in seconds (capped at 1 h), -1 if none */
};

/* A GET whose body keeps coming (server-sent events): it runs inside the
 * client's multi handle while the caller does other things, and its bytes
 * pile up in data until the caller consumes them. Once its body has ended,
 * its connection and handle serve the next request. */
struct http_stream {
	struct http_client *c;         /* borrowed; the client outlives the stream */
	struct http_handle *h;         /* the client's, lent while open */
	void *hdrs;                    /* struct curl_slist *, owned */
	struct buf data;               /* received, not yet consumed */
	size_t max_pending;
	int open;                      /* added to the multi handle */
	int headers_done;              /* the response's headers are all in */
	int fresh;                     /* bytes arrived or it ended since the caller last looked */
	int done;                      /* the transfer ended: outcome says how */
	int trimmed;                   /* answered: curl's upload buffer freed */
	enum http_outcome outcome;     /* when done (HTTP_OK: the server ended the body) */
	char err[200];                 /* when done with an error */
};

/* TLS sessions across processes: a small table in one shared anonymous
 * mapping, made by the worker before it forks its job children and handed
 * to each job's client, so that one job's handshake with the queue host
 * lets the next job resume the session (an abbreviated handshake: no key
 * exchange, no certificate chain). It holds session master secrets: never
 * on disk (no file behind it, excluded from core dumps), entries dropped
 * after HTTP_TLS_CACHE_TTL; a session only resumes with a server that
 * knows the same secret, and is offered only to the origin that made it.
 * Entries are read without a lock; one process writes at a time. */
#define HTTP_TLS_CACHE_TTL 3600.0
struct http_tls_cache;
/* A new, empty table (owned by the caller; shared with the children it
 * forks afterwards), or NULL (no mapping: every handshake is a full one). */
struct http_tls_cache *http_tls_cache_new(void);
/* Unmap it (in the process that made it, once no child uses it). NULL ok. */
void http_tls_cache_free(struct http_tls_cache *cache);
/* Offer sessions from cache and keep new ones there (NULL: this client's
 * own sessions only). cache must outlive the client. */
void http_client_share_sessions(struct http_client *c, struct http_tls_cache *cache);

/* 0 or -1 (err set). trust must outlive the client; user_agent (or NULL)
 * is copied. */
int http_client_init(struct http_client *c, const struct trust_store *trust,
		     const char *user_agent, char *err, size_t errlen);
/* Accepts a zeroed client. Every stream must be closed first. */
void http_client_free(struct http_client *c);
/* Perform one request (open streams go on meanwhile). rs->body is reset
 * first. Returns the outcome; on anything but HTTP_OK, err holds a
 * one-line reason (never a header value). */
enum http_outcome http_perform(struct http_client *c, const struct http_request *rq,
			       struct http_response *rs, char *err, size_t errlen);
const char *http_outcome_name(enum http_outcome o);

/* Start a streamed GET (rq->method is ignored; timeout_ms -1: no overall
 * limit, only connect_timeout_ms and idle_s, the longest silence before
 * the stream counts as broken). It does not wait for anything.
 * 0, or -1 with err (nothing to close then). */
int http_stream_open(struct http_client *c, struct http_stream *s, const struct http_request *rq,
		     long idle_s, char *err, size_t errlen);
/* The response status (0 until all its headers are in); *content_type, when
 * not NULL, is set to curl's copy (valid until the stream changes) or NULL. */
long http_stream_status(const struct http_stream *s, const char **content_type);
/* Stop it (the connection goes unless the body had ended). Accepts a
 * zeroed or closed stream. */
void http_stream_close(struct http_stream *s);
/* Run the client's streams: wait up to wait_ms (0: only what is ready)
 * for network activity, or a signal, then move what arrived into the
 * streams. 1 if some stream is fresh, 0 if none, -1 curl failed. */
int http_client_run(struct http_client *c, long wait_ms);
/* Run until ready(s, arg) says 1, the stream is done, or timeout_ms
 * passed. 1 ready, 0 not (done or timed out). */
int http_stream_wait(struct http_stream *s, long timeout_ms,
		     int (*ready)(const struct http_stream *s, void *arg), void *arg);
/* 1 while some stream of the client is open. */
int http_client_streaming(const struct http_client *c);
#endif
