/* httpparse: the request head of HTTP/1.x (request line and header fields,
 * RFC 9112), parsed from the caller's buffer without allocating; results are
 * offsets into that buffer, as in jsmn. It does no I/O: httpd feeds it what
 * it has read so far and asks again when more arrives. Limits are explicit
 * and every malformed head maps to the status code the server should send.
 * Only what a metrics and health server needs is extracted. */
#ifndef TRYON_HTTPPARSE_H
#define TRYON_HTTPPARSE_H
#include <stddef.h>

/* Return values of httpparse_request. */
#define HTTPPARSE_ERROR (-1)  /* req->status and req->reason say why */
#define HTTPPARSE_AGAIN 0     /* the head is incomplete: call again with more bytes */
#define HTTPPARSE_DONE 1      /* the head is complete and valid */

enum httpparse_method { HTTPPARSE_GET, HTTPPARSE_HEAD, HTTPPARSE_OTHER };

struct httpparse_limits {
	size_t max_head;      /* bytes of request line + headers + blank line */
	size_t max_target;    /* bytes of the request-target */
	int max_headers;      /* header fields */
};

#define HTTPPARSE_DEFAULT_LIMITS { 8192, 2048, 64 }

struct httpparse_request {
	enum httpparse_method method;
	size_t method_off, method_len;  /* the method token as sent */
	size_t path_off, path_len;      /* path of the target, no query, not decoded;
					 * length 0 ("http://host") means "/" */
	int minor_version;              /* x of HTTP/1.x */
	int n_headers;
	size_t head_len;                /* bytes of the whole head, once DONE */
	int status;                     /* on ERROR: 400, 413, 414, 431, 501 or 505 */
	const char *reason;             /* on ERROR: static text for a log line */
};

/* Parse the head at the start of buf[0..len). lim NULL means the defaults.
 * The result depends only on the bytes given: for every prefix of an input
 * the answer is AGAIN or the same answer as for the whole input, so the
 * caller may call it after every read. Once len >= lim->max_head an
 * incomplete head is an error (431), never AGAIN. Bytes after the head
 * (a body, a pipelined request) are not looked at. */
int httpparse_request(const char *buf, size_t len, const struct httpparse_limits *lim,
		      struct httpparse_request *req);

/* The reason phrase of a status code we send ("Not Found"), "" if unknown. */
const char *httpparse_status_text(int status);
#endif
