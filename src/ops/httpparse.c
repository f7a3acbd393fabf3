/* httpparse: a single forward scan over the head. It never looks at a byte
 * before it has decided on all earlier ones, which is what makes the answer
 * for a prefix either AGAIN or the final answer (tests/fuzz checks it). */
#include "ops/httpparse.h"

#include <string.h>
#include <strings.h>

/* tchar of RFC 9110 5.6.2. */
static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

struct scan {
	const unsigned char *p;
	size_t len, pos, end;   /* end = min(len, max_head) */
	struct httpparse_request *req;
};

static int fail(struct scan *s, int status, const char *reason)
{
	s->req->status = status;
	s->req->reason = reason;
	return HTTPPARSE_ERROR;
}

/* Evaluates to the byte at the cursor or returns from the parser: AGAIN
 * while more bytes may come, 431 once max_head bytes did not hold the head. */
#define PEEK(s, c)                                                              \
	do {                                                                    \
		if ((s)->pos >= (s)->end)                                       \
			return (s)->len >= max_head ?                           \
			       fail((s), 431, "request head too large") :      \
			       HTTPPARSE_AGAIN;                                 \
		(c) = (s)->p[(s)->pos];                                         \
	} while (0)

/* Header names the parser acts on. */
enum field { F_OTHER, F_HOST, F_CONTENT_LENGTH, F_TRANSFER_ENCODING };

static enum field field_of(const unsigned char *name, size_t n)
{
	if (n == 4 && !strncasecmp((const char *)name, "host", 4))
		return F_HOST;
	if (n == 14 && !strncasecmp((const char *)name, "content-length", 14))
		return F_CONTENT_LENGTH;
	if (n == 17 && !strncasecmp((const char *)name, "transfer-encoding", 17))
		return F_TRANSFER_ENCODING;
	return F_OTHER;
}

/* The path of a request-target: origin-form "/p?q" or absolute-form
 * "http://host/p?q" (which servers must accept). 0 or -1. */
static int target_path(const unsigned char *t, size_t n, size_t *off, size_t *len)
{
	size_t i = 0;

	if (n >= 7 && !strncasecmp((const char *)t, "http://", 7))
		i = 7;
	else if (n >= 8 && !strncasecmp((const char *)t, "https://", 8))
		i = 8;
	if (i) {
		while (i < n && t[i] != '/' && t[i] != '?')
			i++;
		if (i < n && t[i] == '?')
			return -1;   /* authority then query: no path at all */
		if (i == n) {
			*off = n;    /* "http://host": the path is "/" */
			*len = 0;
			return 0;
		}
	} else if (n == 0 || t[0] != '/') {
		return -1;   /* asterisk-form and authority-form are not for GET */
	}
	size_t start = i;
	while (i < n && t[i] != '?')
		i++;
	*off = start;
	*len = i - start;
	return 0;
}

int httpparse_request(const char *buf, size_t len, const struct httpparse_limits *lim,
		      struct httpparse_request *req)
{
	static const struct httpparse_limits defaults = HTTPPARSE_DEFAULT_LIMITS;
	struct scan sc, *s = &sc;
	unsigned char c;
	int hosts = 0;

	if (!lim)
		lim = &defaults;
	const size_t max_head = lim->max_head;
	memset(req, 0, sizeof *req);
	req->method = HTTPPARSE_OTHER;
	sc.p = (const unsigned char *)buf;
	sc.len = len;
	sc.pos = 0;
	sc.end = len < max_head ? len : max_head;
	sc.req = req;

	/* RFC 9112 2.2: ignore empty lines before the request line. */
	for (;;) {
		PEEK(s, c);
		if (c == '\n') {
			s->pos++;
		} else if (c == '\r') {
			s->pos++;
			PEEK(s, c);
			if (c != '\n')
				return fail(s, 400, "bare CR");
			s->pos++;
		} else {
			break;
		}
	}

	/* method SP */
	req->method_off = s->pos;
	for (;;) {
		PEEK(s, c);
		if (c == ' ')
			break;
		if (!is_tchar(c))
			return fail(s, 400, "invalid method");
		if (s->pos - req->method_off >= 32)
			return fail(s, 501, "method too long");
		s->pos++;
	}
	req->method_len = s->pos - req->method_off;
	if (req->method_len == 0)
		return fail(s, 400, "empty method");
	const char *m = buf + req->method_off;
	if (req->method_len == 3 && !memcmp(m, "GET", 3))
		req->method = HTTPPARSE_GET;
	else if (req->method_len == 4 && !memcmp(m, "HEAD", 4))
		req->method = HTTPPARSE_HEAD;
	s->pos++;

	/* request-target SP: visible ASCII only */
	size_t target_off = s->pos;
	for (;;) {
		PEEK(s, c);
		if (c == ' ')
			break;
		if (c < 0x21 || c > 0x7e)
			return fail(s, 400, "invalid request target");
		if (s->pos - target_off >= lim->max_target)
			return fail(s, 414, "request target too long");
		s->pos++;
	}
	size_t target_len = s->pos - target_off;
	if (target_len == 0)
		return fail(s, 400, "empty request target");
	if (target_path(s->p + target_off, target_len, &req->path_off, &req->path_len) < 0)
		return fail(s, 400, "request target is not a path");
	req->path_off += target_off;
	s->pos++;

	/* HTTP-version CRLF */
	for (const char *v = "HTTP/"; *v; v++) {
		PEEK(s, c);
		if (c != (unsigned char)*v)
			return fail(s, 400, "invalid HTTP version");
		s->pos++;
	}
	PEEK(s, c);
	if (c < '0' || c > '9')
		return fail(s, 400, "invalid HTTP version");
	int major = c - '0';
	s->pos++;
	PEEK(s, c);
	if (c != '.')
		return fail(s, 400, "invalid HTTP version");
	s->pos++;
	PEEK(s, c);
	if (c < '0' || c > '9')
		return fail(s, 400, "invalid HTTP version");
	req->minor_version = c - '0';
	s->pos++;
	if (major != 1)
		return fail(s, 505, "HTTP version not supported");
	PEEK(s, c);
	if (c == '\r') {
		s->pos++;
		PEEK(s, c);
	}
	if (c != '\n')
		return fail(s, 400, "invalid request line");
	s->pos++;

	/* field-line CRLF ... CRLF */
	for (;;) {
		PEEK(s, c);
		if (c == '\r') {
			s->pos++;
			PEEK(s, c);
			if (c != '\n')
				return fail(s, 400, "bare CR");
		}
		if (c == '\n') {
			s->pos++;
			break;
		}
		if (c == ' ' || c == '\t')
			return fail(s, 400, "obsolete line folding");
		if (req->n_headers >= lim->max_headers)
			return fail(s, 431, "too many header fields");
		size_t name_off = s->pos;
		for (;;) {
			PEEK(s, c);
			if (c == ':')
				break;
			if (!is_tchar(c))
				return fail(s, 400, "invalid header field name");
			s->pos++;
		}
		if (s->pos == name_off)
			return fail(s, 400, "empty header field name");
		enum field f = field_of(s->p + name_off, s->pos - name_off);
		s->pos++;
		size_t value_off = s->pos, value_end = s->pos;
		int leading = 1;
		for (;;) {
			PEEK(s, c);
			if (c == '\r' || c == '\n')
				break;
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return fail(s, 400, "invalid header field value");
			s->pos++;
			if (c == ' ' || c == '\t') {
				if (leading)
					value_off = s->pos;
			} else {
				leading = 0;
				value_end = s->pos;
			}
		}
		if (value_end < value_off)
			value_end = value_off;
		if (c == '\r') {
			s->pos++;
			PEEK(s, c);
			if (c != '\n')
				return fail(s, 400, "bare CR");
		}
		s->pos++;
		req->n_headers++;

		const unsigned char *v = s->p + value_off;
		size_t vn = value_end - value_off;
		if (f == F_HOST) {
			hosts++;
		} else if (f == F_CONTENT_LENGTH) {
			/* We never read a body; one we were sent would be taken
			 * for the next request by nobody, but refuse it clearly. */
			size_t i = 0;
			while (i < vn && v[i] == '0')
				i++;
			for (size_t k = i; k < vn; k++)
				if (v[k] < '0' || v[k] > '9')
					return fail(s, 400, "invalid Content-Length");
			if (vn == 0)
				return fail(s, 400, "invalid Content-Length");
			if (i < vn)
				return fail(s, 413, "request body not accepted");
		} else if (f == F_TRANSFER_ENCODING) {
			return fail(s, 501, "Transfer-Encoding not supported");
		}
	}
	/* RFC 9112 3.2: an HTTP/1.1 request has exactly one Host. */
	if (hosts > 1 || (hosts == 0 && req->minor_version >= 1))
		return fail(s, 400, hosts ? "more than one Host" : "no Host header field");
	req->head_len = s->pos;
	return HTTPPARSE_DONE;
}

const char *httpparse_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}
