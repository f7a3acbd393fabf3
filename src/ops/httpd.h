/* httpd: a small nonblocking HTTP/1.1 server for the metrics and health
 * endpoints, driven by the caller's poll() loop: it never blocks and never
 * sleeps. It owns its listening socket and client sockets; the request head
 * is parsed by httpparse; the answer comes from the caller's handler. It
 * bounds request size, time per connection and number of clients, answers
 * GET and HEAD only, and closes every connection after its one response.
 * Idle clients must never lock a health probe out: a request head has
 * HTTPD_HEADER_TIMEOUT to arrive, and a new client always gets a slot (the
 * oldest idle one is evicted when the table is full). */
#ifndef TRYON_HTTPD_H
#define TRYON_HTTPD_H
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/buf.h"

#define HTTPD_MAX_CLIENTS 32                /* when full, a new one evicts the oldest idle one */
#define HTTPD_MAX_POLLFDS (1 + HTTPD_MAX_CLIENTS)
#define HTTPD_MAX_REQUEST 8192              /* bytes of a request head */
#define HTTPD_HEADER_TIMEOUT 1.0            /* s from accept to a complete request head */
#define HTTPD_REQUEST_TIMEOUT 5.0           /* s from accept to the last byte sent */
#define HTTPD_DEFAULT_CONTENT_TYPE "text/plain; charset=utf-8"

struct httpd;

/* What the handler fills in. status 0 (left untouched) means 404. */
struct httpd_response {
	int status;
	const char *content_type;   /* static string; NULL: text/plain */
	const char *csp;            /* static Content-Security-Policy, or NULL for none */
	struct buf body;            /* owned by httpd, empty when the handler runs */
};

/* Called for each GET or HEAD request with its path ("/metrics": no query,
 * not decoded). It runs inside httpd_process, on the caller's loop, so it
 * must be quick and must not block. For HEAD httpd drops the body. */
typedef void (*httpd_handler_fn)(void *arg, const char *path, struct httpd_response *resp);

/* Counters for the detailed health page. */
struct httpd_stats {
	uint64_t requests;          /* heads parsed and answered */
	uint64_t bad_requests;      /* answered 4xx/5xx by the parser's verdict */
	uint64_t evicted;           /* connections closed to make room for a new one */
	uint64_t timeouts;          /* connections dropped at a time limit */
};

/* Parse "IPV4:PORT", "[IPV6]:PORT" or "localhost:PORT" (numeric only: no
 * DNS in the loop) into ss/len. 0, or -1 with err. For validating
 * TRYON_HTTP_ADDR at start-up (an error there is a configuration error). */
int httpd_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len,
		     char *err, size_t errlen);

/* Listen on addr. Returns the server (free with httpd_close) or NULL with
 * err (bad address, address in use, ...). */
struct httpd *httpd_open(const char *addr, char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
int httpd_port(const struct httpd *h);

/* 1 if h listens on loopback only (127.0.0.0/8, ::1, or ::ffff:127.x), 0
 * if other hosts may reach it (0.0.0.0, [::], any other address): the
 * endpoint has no authentication, so the caller warns about the latter. */
int httpd_is_loopback(const struct httpd *h);

/* Write the descriptors to poll into out[0..max) and return how many.
 * HTTPD_MAX_POLLFDS is always enough. Call right before poll(). */
int httpd_pollfds(struct httpd *h, struct pollfd *out, int max);

/* After poll(): handle the events of the entries httpd_pollfds wrote (pfds
 * may be the caller's whole array: entries whose fd is not ours are
 * skipped), accept, read, answer, write, and drop connections past their
 * deadline. now: a monotonic clock in seconds, the same as for deadlines.
 * Calling it with n == 0 only enforces deadlines. */
void httpd_process(struct httpd *h, const struct pollfd *pfds, int n, double now,
		   httpd_handler_fn handler, void *arg);

/* The earliest time httpd_process must run even without events (a client's
 * deadline); HUGE_VAL when there is none. */
double httpd_next_deadline(const struct httpd *h);

const struct httpd_stats *httpd_stats(const struct httpd *h);

/* Close every socket and free h. Accepts NULL. */
void httpd_close(struct httpd *h);
#endif
