/* resp: RESP2 reader and writer. The reader works in two passes over the
 * buffered bytes: a resumable scanner validates one whole reply (remembering
 * where it stopped, so input trickling in is scanned once), then a builder
 * turns the validated bytes into values. Values are only allocated for
 * complete replies, and errors depend only on bytes, never on how they were
 * split. An oversized top-level bulk (skip_oversized) leaves the scanner for
 * a third path: its bytes are dropped, from the buffer and then straight in
 * feed, and only its size comes out. */
#include "redis/resp.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest idle input buffer a reader keeps between replies. */
#define RESP_KEEP_BUFFER ((size_t)64 << 10)

static void reader_clear_scan(struct resp_reader *r)
{
	r->scan_off = 0;
	r->line_seen = 0;
	r->item_need = 0;
	r->reply_elems = 0;
	r->depth = 0;
}

static void reader_clear_skip(struct resp_reader *r)
{
	r->skipping = 0;
	r->skip_bad = 0;
	r->skip_len = 0;
	r->skip_left = 0;
}

/* Drop up to n bytes of an oversized bulk being skipped; the last two of
 * its bytes must be its CRLF. Returns how many were dropped. */
static size_t skip_discard(struct resp_reader *r, const char *p, size_t n)
{
	size_t k = r->skip_left < n ? (size_t)r->skip_left : n;

	if (r->skip_left - k < 2) {
		/* p[i] is followed by skip_left - i - 1 bytes of the skip. */
		for (size_t i = r->skip_left > 2 ? (size_t)(r->skip_left - 2) : 0; i < k; i++)
			if (p[i] != (r->skip_left - i == 2 ? '\r' : '\n'))
				r->skip_bad = 1;
	}
	r->skip_left -= k;
	return k;
}

void resp_reader_init(struct resp_reader *r, const struct resp_limits *limits)
{
	memset(r, 0, sizeof *r);
	r->limits = limits ? *limits : RESP_DEFAULT_LIMITS;
	if (r->limits.max_depth < 0)
		r->limits.max_depth = 0;
	if (r->limits.max_depth > RESP_MAX_DEPTH)
		r->limits.max_depth = RESP_MAX_DEPTH;
	buf_init(&r->in);
}

void resp_reader_free(struct resp_reader *r)
{
	if (!r)
		return;
	buf_free(&r->in);
	r->pos = 0;
	reader_clear_scan(r);
	reader_clear_skip(r);
	r->failed = 0;
	r->err[0] = '\0';
}

void resp_reader_reset(struct resp_reader *r)
{
	buf_reset(&r->in);
	r->pos = 0;
	reader_clear_scan(r);
	reader_clear_skip(r);
	r->failed = 0;
	r->err[0] = '\0';
}

static int reader_fail(struct resp_reader *r, const char *msg)
{
	r->failed = 1;
	snprintf(r->err, sizeof r->err, "%s", msg);
	return -1;
}

const char *resp_reader_error(const struct resp_reader *r)
{
	return r->failed ? r->err : "";
}

int resp_reader_feed(struct resp_reader *r, const void *p, size_t n)
{
	if (r->failed)
		return -1;
	if (n == 0)
		return 0;
	if (r->skip_left) {
		size_t k = skip_discard(r, p, n);
		p = (const char *)p + k;
		n -= k;
		if (n == 0)
			return 0;
	}
	size_t buffered = r->in.len - r->pos;
	if (n > r->limits.max_buffered ||
	    buffered > r->limits.max_buffered - n)
		return reader_fail(r, "buffered input exceeds max_buffered");
	/* Compact only when the consumed prefix is at least as large as what
	 * must move, or to avoid growing: each byte is moved O(1) times on
	 * average, however many small replies are pipelined. */
	if (r->pos > 0 && (r->pos >= buffered || r->in.len + n >= r->in.cap)) {
		buf_consume(&r->in, r->pos);
		r->pos = 0;
	}
	if (buf_append(&r->in, p, n) < 0) {
		r->in.failed = 0;
		return reader_fail(r, "out of memory");
	}
	return 0;
}

/* Find "\r\n" in [s, end). Returns the '\r' or NULL; on NULL, *resume is where
 * a later search must start (a trailing '\r' may yet get its '\n'). */
static const char *find_crlf(const char *s, const char *end,
			     const char **resume)
{
	while (s < end) {
		const char *q = memchr(s, '\r', (size_t)(end - s));
		if (!q)
			break;
		if (q + 1 == end) {
			*resume = q;
			return NULL;
		}
		if (q[1] == '\n')
			return q;
		s = q + 1;
	}
	*resume = end;
	return NULL;
}

/* Strict like hiredis: "0" or an optional '-' and no leading zeros, so a
 * number has at most 20 digits. Returns 0, -1 malformed, -2 out of range. */
static int parse_ll(const char *p, size_t n, long long *out)
{
	int neg = 0;
	unsigned long long v = 0;
	unsigned long long lim = (unsigned long long)LLONG_MAX;

	if (n == 1 && p[0] == '0') {
		*out = 0;
		return 0;
	}
	if (n > 0 && p[0] == '-') {
		neg = 1;
		p++;
		n--;
		lim += 1;
	}
	if (n == 0 || p[0] < '1' || p[0] > '9')
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (lim - d) / 10)
			return -2;
		v = v * 10 + d;
	}
	if (neg)
		*out = v == lim ? LLONG_MIN : -(long long)v;
	else
		*out = (long long)v;
	return 0;
}

/* 1 unless s is [-+]digits[.digits][e[-+]digits] with at least one digit
 * before the exponent (what Redis writes for a score), for resp_double. */
static int n_is_bad_number(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (!digits)
		return 1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, e++;
		if (!e)
			return 1;
	}
	return i != n;
}

/* Parse a '$' or '*' length: -1 stays -1, other negatives are errors. */
static int parse_len(const char *p, size_t n, long long *out)
{
	if (parse_ll(p, n, out) < 0 || *out < -1)
		return -1;
	return 0;
}

/* Record that one item finished at the current nesting level. Returns 1 when
 * this completes the top-level reply. */
static int scan_item_done(struct resp_reader *r)
{
	while (r->depth > 0) {
		if (--r->pending[r->depth - 1] > 0)
			return 0;
		r->depth--;
	}
	return 1;
}

/* A top-level bulk header too big to take, hdr bytes at pos: consume it and
 * start skipping its body, dropping what is buffered already. */
static void skip_start(struct resp_reader *r, size_t hdr, long long len)
{
	r->pos += hdr;
	reader_clear_scan(r);
	r->skipping = 1;
	r->skip_bad = 0;
	r->skip_len = (unsigned long long)len;
	r->skip_left = (unsigned long long)len + 2;
	r->pos += skip_discard(r, r->in.data + r->pos, r->in.len - r->pos);
}

/* Validate bytes from pos onward until one whole reply is known to be there.
 * Returns 1 (it spans [pos, pos + scan_off)), 2 an oversized bulk is being
 * skipped (skip_start), 0 need more, -1 error. */
static int scan_reply(struct resp_reader *r)
{
	for (;;) {
		size_t avail = r->in.len - r->pos;

		if (r->scan_off >= avail)
			return 0;
		const char *b = r->in.data + r->pos;
		const char *item = b + r->scan_off;
		const char *end = b + avail;
		char t = item[0];

		if (r->item_need) {
			if ((size_t)(end - item) < r->item_need)
				return 0;
			const char *tail = item + r->item_need - 2;
			if (tail[0] != '\r' || tail[1] != '\n')
				return reader_fail(r, "protocol error: missing CRLF after bulk");
			r->scan_off += r->item_need;
			r->item_need = 0;
			if (scan_item_done(r))
				return 1;
			continue;
		}
		if (t != '+' && t != '-' && t != ':' && t != '$' && t != '*') {
			char msg[64];
			snprintf(msg, sizeof msg,
				 "protocol error: unknown type byte 0x%02x",
				 (unsigned)(unsigned char)t);
			return reader_fail(r, msg);
		}

		const char *from = item + 1;
		if (r->line_seen > r->scan_off + 1)
			from = b + r->line_seen;
		const char *resume;
		const char *cr = find_crlf(from, end, &resume);
		if (!cr) {
			/* The CR can be no earlier than resume, so fail as soon
			 * as that alone makes the line too long: the verdict is
			 * then the one the whole line would get. */
			if ((size_t)(resume - item) > (size_t)RESP_MAX_LINE + 1)
				return reader_fail(r, "protocol error: line too long");
			r->line_seen = (size_t)(resume - b);
			return 0;
		}
		r->line_seen = 0;
		const char *line = item + 1;
		size_t line_len = (size_t)(cr - line);
		if (line_len > RESP_MAX_LINE)
			return reader_fail(r, "protocol error: line too long");
		size_t hdr = (size_t)(cr + 2 - item);
		long long v;

		switch (t) {
		case ':': {
			int rc = parse_ll(line, line_len, &v);
			if (rc == -2)
				return reader_fail(r, "protocol error: integer out of range");
			if (rc < 0)
				return reader_fail(r, "protocol error: bad integer");
			break;
		}
		case '$':
			if (parse_len(line, line_len, &v) < 0)
				return reader_fail(r, "protocol error: bad bulk length");
			if (v >= 0) {
				if ((unsigned long long)v > r->limits.max_bulk &&
				    r->limits.skip_oversized && r->depth == 0) {
					/* Top level, so the item starts at pos. */
					skip_start(r, hdr, v);
					return 2;
				}
				if ((unsigned long long)v > r->limits.max_bulk ||
				    (unsigned long long)v > SIZE_MAX - hdr - 2)
					return reader_fail(r, "protocol error: bulk length exceeds max_bulk");
				/* Wait for the body without rescanning the header. */
				r->item_need = hdr + (size_t)v + 2;
				continue;
			}
			break;
		case '*':
			if (parse_len(line, line_len, &v) < 0)
				return reader_fail(r, "protocol error: bad array length");
			if (v < 0)
				break;
			if ((unsigned long long)v > r->limits.max_elems ||
			    (size_t)v > r->limits.max_elems - r->reply_elems)
				return reader_fail(r, "protocol error: array length exceeds max_elems");
			if (r->depth >= r->limits.max_depth)
				return reader_fail(r, "protocol error: nesting exceeds max_depth");
			r->reply_elems += (size_t)v;
			if (v > 0) {
				r->pending[r->depth++] = (size_t)v;
				r->scan_off += hdr;
				continue;
			}
			break;
		default:
			break;
		}
		r->scan_off += hdr;
		if (scan_item_done(r))
			return 1;
	}
}

static struct resp_value *value_new(enum resp_type type)
{
	struct resp_value *v = calloc(1, sizeof *v);
	if (v)
		v->type = type;
	return v;
}

static struct resp_value *value_new_str(enum resp_type type, const char *p,
					size_t n)
{
	struct resp_value *v = value_new(type);
	if (!v)
		return NULL;
	v->str = malloc(n + 1);
	if (!v->str) {
		free(v);
		return NULL;
	}
	if (n)
		memcpy(v->str, p, n);
	v->str[n] = '\0';
	v->len = n;
	return v;
}

/* Build the value starting at *p from bytes scan_reply already validated, so
 * the only failure left is out of memory (NULL). Advances *p past it.
 * Recursion is bounded by max_depth. */
static struct resp_value *build_value(const char **p, const char *end)
{
	const char *item = *p;
	const char *resume;
	const char *cr = find_crlf(item + 1, end, &resume);
	const char *line = item + 1;
	size_t line_len = (size_t)(cr - line);
	struct resp_value *v = NULL;
	long long n = 0;

	*p = cr + 2;
	switch (item[0]) {
	case '+':
		return value_new_str(RESP_SIMPLE, line, line_len);
	case '-':
		return value_new_str(RESP_ERROR, line, line_len);
	case ':':
		parse_ll(line, line_len, &n);
		v = value_new(RESP_INTEGER);
		if (v)
			v->integer = n;
		return v;
	case '$':
		parse_len(line, line_len, &n);
		if (n < 0)
			return value_new(RESP_NIL);
		v = value_new_str(RESP_BULK, *p, (size_t)n);
		*p += (size_t)n + 2;
		return v;
	default: /* '*' */
		parse_len(line, line_len, &n);
		if (n < 0)
			return value_new(RESP_NIL_ARRAY);
		v = value_new(RESP_ARRAY);
		if (!v || n == 0)
			return v;
		v->elems = calloc((size_t)n, sizeof *v->elems);
		if (!v->elems) {
			free(v);
			return NULL;
		}
		for (; v->n_elems < (size_t)n; v->n_elems++) {
			struct resp_value *e = build_value(p, end);
			if (!e) {
				resp_value_free(v);
				return NULL;
			}
			v->elems[v->n_elems] = e;
		}
		return v;
	}
}

/* The skipped bulk's value, once all its bytes are gone. 1, 0 or -1. */
static int skip_finish(struct resp_reader *r, struct resp_value **v)
{
	if (r->skip_left)
		return 0;
	if (r->skip_bad)
		return reader_fail(r, "protocol error: missing CRLF after bulk");
	if (!(*v = value_new(RESP_OVERSIZED)))
		return reader_fail(r, "out of memory");
	(*v)->len = r->skip_len > SIZE_MAX ? SIZE_MAX : (size_t)r->skip_len;
	reader_clear_skip(r);
	return 1;
}

int resp_reader_get(struct resp_reader *r, struct resp_value **out)
{
	struct resp_value *v = NULL;

	*out = NULL;
	if (r->failed)
		return -1;
	int rc = r->skipping ? 2 : scan_reply(r);
	if (rc <= 0)
		return rc;
	if (rc == 2) {
		if ((rc = skip_finish(r, &v)) <= 0)
			return rc;
	} else {
		const char *p = r->in.data + r->pos;
		v = build_value(&p, p + r->scan_off);
		if (!v)
			return reader_fail(r, "out of memory");
		r->pos += r->scan_off;
		reader_clear_scan(r);
	}
	if (r->pos == r->in.len) {
		/* Nothing left: rewind for free instead of memmoving later,
		 * and give back storage a big reply left behind, as hiredis
		 * does, so an idle reader stays small. */
		r->pos = 0;
		if (r->in.cap > RESP_KEEP_BUFFER) {
			buf_free(&r->in);
		} else if (r->in.data) {   /* NULL when a skip had nothing buffered */
			r->in.len = 0;
			r->in.data[0] = '\0';
		}
	}
	*out = v;
	return 1;
}

void resp_value_free(struct resp_value *v)
{
	if (!v)
		return;
	if (v->elems) {
		for (size_t i = 0; i < v->n_elems; i++)
			resp_value_free(v->elems[i]);
		free(v->elems);
	}
	free(v->str);
	free(v);
}

/* Bytes needed to write a decimal size_t with a one-byte prefix and CRLF. */
static size_t header_size(size_t n)
{
	size_t digits = 1;
	while (n >= 10) {
		n /= 10;
		digits++;
	}
	return 1 + digits + 2;
}

static int size_add(size_t *total, size_t n)
{
	if (n > SIZE_MAX - *total)
		return -1;
	*total += n;
	return 0;
}

/* "$<n>\r\n": digits by hand, as snprintf("%c%zu\r\n") writes them (it
 * cost ~9 % of the parent's instructions per cache hit). */
static void write_header(struct buf *out, char prefix, size_t n)
{
	char tmp[32];
	int k = (int)sizeof tmp;

	tmp[--k] = '\n';
	tmp[--k] = '\r';
	do
		tmp[--k] = (char)('0' + n % 10);
	while ((n /= 10) && k > 1);
	tmp[--k] = prefix;
	buf_append(out, tmp + k, sizeof tmp - (size_t)k);
}

static void write_arg(struct buf *out, const char *p, size_t n)
{
	write_header(out, '$', n);
	buf_append(out, p, n);
	buf_append(out, "\r\n", 2);
}

static int write_fail(struct buf *out)
{
	out->failed = 1;
	return -1;
}

int resp_write_command(struct buf *out, int argc, const char *const *argv,
		       const size_t *argvlen)
{
	if (out->failed || argc < 0 || (argc > 0 && !argv))
		return write_fail(out);
	/* Size everything first so the command goes in whole or not at all. */
	size_t total = header_size((size_t)argc);
	for (int i = 0; i < argc; i++) {
		size_t n;
		if (argvlen) {
			n = argvlen[i];
			if (!argv[i] && n > 0)
				return write_fail(out);
		} else {
			if (!argv[i])
				return write_fail(out);
			n = strlen(argv[i]);
		}
		if (size_add(&total, header_size(n)) < 0 ||
		    size_add(&total, n) < 0 || size_add(&total, 2) < 0)
			return write_fail(out);
	}
	if (buf_reserve(out, total) < 0)
		return -1;
	write_header(out, '*', (size_t)argc);
	for (int i = 0; i < argc; i++) {
		size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
		write_arg(out, argv[i], n);
	}
	return out->failed ? -1 : 0;
}

int resp_write_commandl(struct buf *out, const char *arg0, ...)
{
	va_list ap;
	size_t argc = 0;
	size_t total = 0;

	if (out->failed)
		return -1;
	va_start(ap, arg0);
	for (const char *s = arg0; s; s = va_arg(ap, const char *)) {
		size_t n = strlen(s);
		argc++;
		if (size_add(&total, header_size(n)) < 0 ||
		    size_add(&total, n) < 0 || size_add(&total, 2) < 0) {
			va_end(ap);
			return write_fail(out);
		}
	}
	va_end(ap);
	if (argc > INT_MAX || size_add(&total, header_size(argc)) < 0)
		return write_fail(out);
	if (buf_reserve(out, total) < 0)
		return -1;
	write_header(out, '*', argc);
	va_start(ap, arg0);
	for (const char *s = arg0; s; s = va_arg(ap, const char *))
		write_arg(out, s, strlen(s));
	va_end(ap);
	return out->failed ? -1 : 0;
}

int resp_is_ok(const struct resp_value *v)
{
	return v && v->type == RESP_SIMPLE && v->len == 2 &&
	       memcmp(v->str, "OK", 2) == 0;
}

const char *resp_type_name(enum resp_type t)
{
	switch (t) {
	case RESP_SIMPLE:
		return "simple";
	case RESP_ERROR:
		return "error";
	case RESP_INTEGER:
		return "integer";
	case RESP_BULK:
		return "bulk";
	case RESP_NIL:
		return "nil";
	case RESP_ARRAY:
		return "array";
	case RESP_NIL_ARRAY:
		return "nil-array";
	case RESP_OVERSIZED:
		return "oversized";
	}
	return "unknown";
}

const struct resp_value *resp_elem(const struct resp_value *v, size_t i)
{
	if (!v || v->type != RESP_ARRAY || i >= v->n_elems || !v->elems)
		return NULL;
	return v->elems[i];
}

const char *resp_str(const struct resp_value *v, size_t *len)
{
	if (!v || (v->type != RESP_BULK && v->type != RESP_SIMPLE) || !v->str)
		return NULL;
	if (len)
		*len = v->len;
	return v->str;
}

const char *resp_cstr(const struct resp_value *v)
{
	size_t n;
	const char *s = resp_str(v, &n);

	return s && !memchr(s, '\0', n) ? s : NULL;
}

int resp_int(const struct resp_value *v, long long *out)
{
	size_t n;
	const char *s;

	if (v && v->type == RESP_INTEGER) {
		*out = v->integer;
		return 0;
	}
	if (!(s = resp_str(v, &n)) || parse_ll(s, n, out) < 0)
		return -1;
	return 0;
}

int resp_double(const struct resp_value *v, double *out)
{
	size_t n;
	const char *s;
	char *end;

	if (v && v->type == RESP_INTEGER) {
		*out = (double)v->integer;
		return 0;
	}
	/* strtod alone would take leading spaces, hex, "inf" and "nan". */
	if (!(s = resp_cstr(v)) || n_is_bad_number(s, n = strlen(s)))
		return -1;
	double d = strtod(s, &end);
	if (end != s + n || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}
