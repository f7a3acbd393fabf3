/* http: HTTPS requests through libcurl built on BearSSL. One http_client
 * owns one curl easy handle (connections are reused between its requests)
 * and the X.509 engine its handshakes use: certificates and host names are
 * always verified against the trust store, never optional. Blocking; meant
 * for children and CLI commands, never the worker's main loop. */
#ifndef TRYON_HTTP_H
#define TRYON_HTTP_H
#include <stddef.h>

#include <bearssl.h>

#include "lib/buf.h"
#include "lib/trust.h"

struct http_client {
	void *easy;                      /* CURL *, owned */
	const struct trust_store *trust; /* borrowed; outlives the client */
	br_x509_minimal_context x509;    /* used during each handshake */
	char errbuf[256];
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
	long timeout_ms;               /* whole request; 0 = 30 s */
	long connect_timeout_ms;       /* 0 = 5 s */
	size_t max_response;           /* 0 = 4 MiB */
};

struct http_response {
	long status;
	struct buf body;               /* owned by the caller: buf_free it */
	double seconds;                /* total time */
	double connect_seconds;        /* TCP + TLS handshake, 0 if reused */
	double retry_after;            /* Retry-After in seconds (capped at 1 h), -1 if none */
};

/* 0 or -1 (err set). */
int http_client_init(struct http_client *c, const struct trust_store *trust,
		     const char *user_agent, char *err, size_t errlen);
void http_client_free(struct http_client *c);
/* Perform one request. rs->body is reset first. Returns the outcome; on
 * anything but HTTP_OK, err holds a one-line reason (never a header value). */
enum http_outcome http_perform(struct http_client *c, const struct http_request *rq,
			       struct http_response *rs, char *err, size_t errlen);
const char *http_outcome_name(enum http_outcome o);
#endif
