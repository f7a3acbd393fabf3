/* Unit tests for resp: every stream is checked whole, split in two at every
 * offset and fed byte by byte, and must give the same transcript each time. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "redis/resp.h"

/* Render a reply as text, escaping bytes that are not printable. */
static void dump_bytes(struct buf *o, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c >= 0x7f || c == '\\')
			buf_printf(o, "\\x%02x", c);
		else
			buf_append_char(o, (char)c);
	}
}

static void dump_value(struct buf *o, const struct resp_value *v)
{
	switch (v->type) {
	case RESP_SIMPLE:
		buf_append_char(o, '+');
		dump_bytes(o, v->str, v->len);
		break;
	case RESP_ERROR:
		buf_append_char(o, '-');
		dump_bytes(o, v->str, v->len);
		break;
	case RESP_INTEGER:
		buf_printf(o, ":%lld", v->integer);
		break;
	case RESP_BULK:
		buf_printf(o, "$%zu:", v->len);
		dump_bytes(o, v->str, v->len);
		break;
	case RESP_NIL:
		buf_append_str(o, "nil");
		break;
	case RESP_NIL_ARRAY:
		buf_append_str(o, "nilarr");
		break;
	case RESP_OVERSIZED:
		buf_printf(o, "skipped%zu", v->len);
		CHECK(v->str == NULL);
		break;
	case RESP_ARRAY:
		buf_append_char(o, '[');
		for (size_t i = 0; i < v->n_elems; i++) {
			if (i)
				buf_append_char(o, ',');
			dump_value(o, v->elems[i]);
		}
		buf_append_char(o, ']');
		break;
	}
}

/* Drain every available reply into the transcript. Returns the last get
 * result (0 or -1). Also checks the string invariants on the way. */
static int drain(struct resp_reader *r, struct buf *o)
{
	for (;;) {
		struct resp_value *v = (struct resp_value *)1;
		int rc = resp_reader_get(r, &v);
		if (rc != 1) {
			CHECK(v == NULL);
			if (rc < 0) {
				buf_append_str(o, "!ERR ");
				buf_append_str(o, resp_reader_error(r));
			}
			return rc;
		}
		if (v->type == RESP_SIMPLE || v->type == RESP_ERROR ||
		    v->type == RESP_BULK)
			CHECK(v->str && v->str[v->len] == '\0');
		dump_value(o, v);
		buf_append_char(o, ' ');
		resp_value_free(v);
	}
}

/* Feed data in the pieces ending at cuts[0..ncuts) and then len; the
 * transcript goes into o. */
static void run_cuts(const struct resp_limits *lim, const char *data,
		     size_t len, const size_t *cuts, size_t ncuts,
		     struct buf *o)
{
	struct resp_reader r;
	size_t at = 0;

	resp_reader_init(&r, lim);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		if (resp_reader_feed(&r, data + at, to - at) < 0) {
			buf_append_str(o, "!FEED ");
			buf_append_str(o, resp_reader_error(&r));
			break;
		}
		at = to;
		if (drain(&r, o) < 0)
			break;
	}
	resp_reader_free(&r);
}

static int same_transcript(const struct buf *a, const struct buf *b)
{
	return a->len == b->len &&
	       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Check a stream against the expected transcript whole, at every two-piece
 * split (unless that would be too slow for its size) and byte by byte. */
static void check_stream_lim(const struct resp_limits *lim, const char *data,
			     size_t len, const char *want)
{
	struct buf exp, got;
	buf_init(&exp);
	buf_init(&got);
	buf_append_str(&exp, want);

	run_cuts(lim, data, len, NULL, 0, &got);
	CHECK(same_transcript(&exp, &got));
	if (!same_transcript(&exp, &got))
		fprintf(stderr, "  want: %s\n  got:  %s\n", want,
			got.data ? got.data : "");

	if (len <= 4096) {
		for (size_t cut = 0; cut <= len; cut++) {
			buf_reset(&got);
			run_cuts(lim, data, len, &cut, 1, &got);
			CHECK(same_transcript(&exp, &got));
			if (!same_transcript(&exp, &got)) {
				fprintf(stderr, "  split at %zu\n  want: %s\n  got:  %s\n",
					cut, want, got.data ? got.data : "");
				break;
			}
		}
	}

	size_t *cuts = malloc((len ? len : 1) * sizeof *cuts);
	CHECK(cuts != NULL);
	for (size_t i = 0; cuts && i < len; i++)
		cuts[i] = i;
	buf_reset(&got);
	if (cuts)
		run_cuts(lim, data, len, cuts, len, &got);
	CHECK(same_transcript(&exp, &got));
	if (!same_transcript(&exp, &got))
		fprintf(stderr, "  bytewise\n  want: %s\n  got:  %s\n", want,
			got.data ? got.data : "");
	free(cuts);
	buf_free(&exp);
	buf_free(&got);
}

#define CHECK_STREAM(lit, want) \
	check_stream_lim(NULL, lit, sizeof(lit) - 1, want)
#define CHECK_STREAM_LIM(lim, lit, want) \
	check_stream_lim(lim, lit, sizeof(lit) - 1, want)

static void test_scalars(void)
{
	CHECK_STREAM("+OK\r\n", "+OK ");
	CHECK_STREAM("+\r\n", "+ ");
	CHECK_STREAM("-ERR wrong type\r\n", "-ERR wrong type ");
	CHECK_STREAM(":0\r\n", ":0 ");
	CHECK_STREAM(":-42\r\n", ":-42 ");
	CHECK_STREAM(":1000\r\n", ":1000 ");
	CHECK_STREAM(":9223372036854775807\r\n", ":9223372036854775807 ");
	CHECK_STREAM(":-9223372036854775808\r\n", ":-9223372036854775808 ");
	CHECK_STREAM("$3\r\nfoo\r\n", "$3:foo ");
	CHECK_STREAM("$0\r\n\r\n", "$0: ");
	/* Payload bytes are opaque, CRLF and NUL included. */
	CHECK_STREAM("$6\r\na\0b\r\nc\r\n", "$6:a\\x00b\\x0d\\x0ac ");
	CHECK_STREAM("$2\r\n\x06\x16\r\n", "$2:\\x06\\x16 ");
	/* A lone CR or LF inside a line is data, as in hiredis. */
	CHECK_STREAM("+a\rb\r\n", "+a\\x0db ");
	CHECK_STREAM("+a\nb\r\n", "+a\\x0ab ");
	CHECK_STREAM("+a\0b\r\n", "+a\\x00b ");
}

static void test_nil(void)
{
	CHECK_STREAM("$-1\r\n", "nil ");
	CHECK_STREAM("*-1\r\n", "nilarr ");
	CHECK_STREAM("*2\r\n$-1\r\n*-1\r\n", "[nil,nilarr] ");
}

static void test_arrays(void)
{
	CHECK_STREAM("*0\r\n", "[] ");
	CHECK_STREAM("*2\r\n$3\r\nfoo\r\n:1\r\n", "[$3:foo,:1] ");
	CHECK_STREAM("*2\r\n*1\r\n+a\r\n*0\r\n", "[[+a],[]] ");
	CHECK_STREAM("*3\r\n*2\r\n:1\r\n*1\r\n-E\r\n$1\r\nx\r\n:2\r\n",
		     "[[:1,[-E]],$1:x,:2] ");
	/* BRPOP-style reply with a kombu-like key. */
	CHECK_STREAM("*2\r\n$8\r\ncelery\x06\x16\r\n$2\r\n{}\r\n",
		     "[$8:celery\\x06\\x16,$2:{}] ");
}

static void test_pipelined(void)
{
	CHECK_STREAM("+OK\r\n:1\r\n$-1\r\n*1\r\n+x\r\n$1\r\ny\r\n-NO\r\n",
		     "+OK :1 nil [+x] $1:y -NO ");
	CHECK_STREAM("*1\r\n:1\r\n*1\r\n:2\r\n", "[:1] [:2] ");
}

static void test_incomplete(void)
{
	/* A partial reply yields nothing and no error. */
	CHECK_STREAM("", "");
	CHECK_STREAM("+OK", "");
	CHECK_STREAM("+OK\r", "");
	CHECK_STREAM("$5\r\nab", "");
	CHECK_STREAM("$5\r\nabcde\r", "");
	CHECK_STREAM("*3\r\n:1\r\n:2\r\n", "");
	CHECK_STREAM("+OK\r\n*2\r\n:1\r\n", "+OK ");
}

static void test_protocol_errors(void)
{
	CHECK_STREAM("?x\r\n", "!ERR protocol error: unknown type byte 0x3f");
	CHECK_STREAM("\r\n", "!ERR protocol error: unknown type byte 0x0d");
	CHECK_STREAM("_\r\n", "!ERR protocol error: unknown type byte 0x5f");
	CHECK_STREAM(":9223372036854775808\r\n",
		     "!ERR protocol error: integer out of range");
	CHECK_STREAM(":-9223372036854775809\r\n",
		     "!ERR protocol error: integer out of range");
	CHECK_STREAM(":99999999999999999999999\r\n",
		     "!ERR protocol error: integer out of range");
	CHECK_STREAM(":\r\n", "!ERR protocol error: bad integer");
	CHECK_STREAM(":-\r\n", "!ERR protocol error: bad integer");
	CHECK_STREAM(":01\r\n", "!ERR protocol error: bad integer");
	CHECK_STREAM(":-0\r\n", "!ERR protocol error: bad integer");
	CHECK_STREAM(":+1\r\n", "!ERR protocol error: bad integer");
	CHECK_STREAM(":1a\r\n", "!ERR protocol error: bad integer");
	CHECK_STREAM(": 1\r\n", "!ERR protocol error: bad integer");
	CHECK_STREAM("$-2\r\n", "!ERR protocol error: bad bulk length");
	CHECK_STREAM("$x\r\n", "!ERR protocol error: bad bulk length");
	CHECK_STREAM("$\r\n", "!ERR protocol error: bad bulk length");
	CHECK_STREAM("$99999999999999999999\r\n",
		     "!ERR protocol error: bad bulk length");
	CHECK_STREAM("*-2\r\n", "!ERR protocol error: bad array length");
	CHECK_STREAM("*1x\r\n", "!ERR protocol error: bad array length");
	CHECK_STREAM("$3\r\nfooX\r\n",
		     "!ERR protocol error: missing CRLF after bulk");
	CHECK_STREAM("$3\r\nfoo\n\r",
		     "!ERR protocol error: missing CRLF after bulk");
	CHECK_STREAM("$0\r\nab",
		     "!ERR protocol error: missing CRLF after bulk");
	/* Replies before the bad one still come out first. */
	CHECK_STREAM("+OK\r\n:2\r\n!garbage",
		     "+OK :2 !ERR protocol error: unknown type byte 0x21");
	/* An error inside an array fails the whole reply. */
	CHECK_STREAM("*2\r\n:1\r\n%x\r\n",
		     "!ERR protocol error: unknown type byte 0x25");
}

static void test_long_lines(void)
{
	size_t n = RESP_MAX_LINE + 8;
	char *s = malloc(n + 4);
	CHECK(s != NULL);
	if (!s)
		return;

	/* Exactly RESP_MAX_LINE bytes is fine; one more is not, whether or not
	 * the CRLF has arrived yet. */
	s[0] = '+';
	memset(s + 1, 'a', RESP_MAX_LINE);
	memcpy(s + 1 + RESP_MAX_LINE, "\r\n", 2);
	struct buf want;
	buf_init(&want);
	buf_append_char(&want, '+');
	buf_append(&want, s + 1, RESP_MAX_LINE);
	buf_append_char(&want, ' ');
	check_stream_lim(NULL, s, RESP_MAX_LINE + 3, want.data);
	buf_free(&want);

	memset(s + 1, 'a', RESP_MAX_LINE + 1);
	memcpy(s + 2 + RESP_MAX_LINE, "\r\n", 2);
	check_stream_lim(NULL, s, RESP_MAX_LINE + 4,
			 "!ERR protocol error: line too long");
	check_stream_lim(NULL, s, RESP_MAX_LINE + 3,
			 "!ERR protocol error: line too long");
	check_stream_lim(NULL, s, RESP_MAX_LINE + 2,
			 "!ERR protocol error: line too long");
	/* Not yet provably too long: CRLF could still follow. */
	check_stream_lim(NULL, s, RESP_MAX_LINE + 1, "");
	s[RESP_MAX_LINE + 1] = '\r';
	check_stream_lim(NULL, s, RESP_MAX_LINE + 2, "");

	/* A header line of leading zeros is caught by length, not parsed. */
	s[0] = ':';
	memset(s + 1, '0', n - 1);
	check_stream_lim(NULL, s, n, "!ERR protocol error: line too long");
	free(s);
}

static void test_limit_depth(void)
{
	struct resp_limits lim = RESP_DEFAULT_LIMITS;
	lim.max_depth = 2;
	check_stream_lim(&lim, "*1\r\n*1\r\n:1\r\n", 12, "[[:1]] ");
	check_stream_lim(&lim, "*1\r\n*1\r\n*1\r\n:1\r\n", 16,
			 "!ERR protocol error: nesting exceeds max_depth");
	/* An empty array still nests; a nil array does not. */
	check_stream_lim(&lim, "*1\r\n*1\r\n*0\r\n", 12,
			 "!ERR protocol error: nesting exceeds max_depth");
	check_stream_lim(&lim, "*1\r\n*1\r\n*-1\r\n", 13, "[[nilarr]] ");
	/* Depth resets between replies. */
	check_stream_lim(&lim, "*1\r\n*1\r\n:1\r\n*1\r\n*1\r\n:2\r\n", 24,
			 "[[:1]] [[:2]] ");

	lim.max_depth = 0;
	check_stream_lim(&lim, "+a\r\n*0\r\n", 8,
			 "+a !ERR protocol error: nesting exceeds max_depth");

	/* Defaults: 8 levels fine, 9 not. */
	struct buf s;
	buf_init(&s);
	for (int i = 0; i < 8; i++)
		buf_append_str(&s, "*1\r\n");
	buf_append_str(&s, ":7\r\n");
	check_stream_lim(NULL, s.data, s.len, "[[[[[[[[:7]]]]]]]] ");
	buf_reset(&s);
	for (int i = 0; i < 9; i++)
		buf_append_str(&s, "*1\r\n");
	buf_append_str(&s, ":7\r\n");
	check_stream_lim(NULL, s.data, s.len,
			 "!ERR protocol error: nesting exceeds max_depth");
	buf_free(&s);

	/* Oversized depths are clamped rather than overrunning the stack. */
	lim.max_depth = 1000;
	struct resp_reader r;
	resp_reader_init(&r, &lim);
	CHECK(r.limits.max_depth == RESP_MAX_DEPTH);
	resp_reader_free(&r);
}

static void test_limit_bulk(void)
{
	struct resp_limits lim = RESP_DEFAULT_LIMITS;
	lim.max_bulk = 4;
	check_stream_lim(&lim, "$4\r\nabcd\r\n", 10, "$4:abcd ");
	check_stream_lim(&lim, "$5\r\nabcde\r\n", 11,
			 "!ERR protocol error: bulk length exceeds max_bulk");

	/* The header alone is enough to refuse, before any body arrives. */
	struct resp_reader r;
	struct resp_value *v;
	resp_reader_init(&r, &lim);
	CHECK(resp_reader_feed(&r, "$1000000\r\n", 10) == 0);
	CHECK(resp_reader_get(&r, &v) == -1);
	CHECK(v == NULL);
	resp_reader_free(&r);
}

static void test_limit_elems(void)
{
	struct resp_limits lim = RESP_DEFAULT_LIMITS;
	lim.max_elems = 2;
	check_stream_lim(&lim, "*2\r\n:1\r\n:2\r\n", 12, "[:1,:2] ");
	check_stream_lim(&lim, "*3\r\n", 4,
			 "!ERR protocol error: array length exceeds max_elems");
	/* The count is per reply across nested arrays... */
	check_stream_lim(&lim, "*2\r\n*1\r\n:1\r\n:2\r\n", 16,
			 "!ERR protocol error: array length exceeds max_elems");
	/* ...and starts again for the next reply. */
	check_stream_lim(&lim, "*2\r\n:1\r\n:2\r\n*1\r\n*1\r\n:3\r\n", 24,
			 "[:1,:2] [[:3]] ");

	/* A huge declared count is refused before anything is allocated. */
	check_stream_lim(NULL, "*9223372036854775807\r\n", 22,
			 "!ERR protocol error: array length exceeds max_elems");
}

static void test_limit_buffered(void)
{
	struct resp_limits lim = RESP_DEFAULT_LIMITS;
	struct resp_reader r;
	struct resp_value *v;

	lim.max_buffered = 10;
	resp_reader_init(&r, &lim);
	CHECK(resp_reader_feed(&r, "+OK\r\n", 5) == 0);
	CHECK(resp_reader_feed(&r, "+OK\r\n", 5) == 0);
	CHECK(strcmp(resp_reader_error(&r), "") == 0);
	/* Consuming a reply frees room. */
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(resp_is_ok(v));
	resp_value_free(v);
	CHECK(resp_reader_feed(&r, ":1\r\n", 4) == 0);
	CHECK(resp_reader_feed(&r, ":2\r\n", 4) == -1);
	CHECK(strcmp(resp_reader_error(&r),
		     "buffered input exceeds max_buffered") == 0);
	/* Sticky: even replies already buffered are not handed out. */
	CHECK(resp_reader_get(&r, &v) == -1);
	CHECK(v == NULL);
	CHECK(resp_reader_feed(&r, "", 0) == -1);
	resp_reader_free(&r);

	/* One feed larger than the limit fails without appending. */
	resp_reader_init(&r, &lim);
	CHECK(resp_reader_feed(&r, "$20\r\n01234567890123456789\r\n", 27) == -1);
	CHECK(r.in.len == 0);
	resp_reader_free(&r);
}

static void test_sticky_and_reset(void)
{
	struct resp_reader r;
	struct resp_value *v;
	char msg[128];

	resp_reader_init(&r, NULL);
	CHECK(strcmp(resp_reader_error(&r), "") == 0);
	CHECK(resp_reader_feed(&r, "+OK\r\n@\r\n+OK\r\n", 13) == 0);
	CHECK(resp_reader_get(&r, &v) == 1);
	resp_value_free(v);
	CHECK(resp_reader_get(&r, &v) == -1);
	snprintf(msg, sizeof msg, "%s", resp_reader_error(&r));
	CHECK(strcmp(msg, "protocol error: unknown type byte 0x40") == 0);
	CHECK(resp_reader_get(&r, &v) == -1);
	CHECK(v == NULL);
	CHECK(resp_reader_feed(&r, "+OK\r\n", 5) == -1);
	CHECK(resp_reader_get(&r, &v) == -1);
	CHECK(strcmp(resp_reader_error(&r), msg) == 0);

	resp_reader_reset(&r);
	CHECK(strcmp(resp_reader_error(&r), "") == 0);
	CHECK(resp_reader_get(&r, &v) == 0);
	CHECK(resp_reader_feed(&r, "+OK\r\n", 5) == 0);
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(resp_is_ok(v));
	resp_value_free(v);

	/* Reset also drops a half-read reply, mid-array and mid-bulk. */
	CHECK(resp_reader_feed(&r, "*2\r\n$5\r\nab", 10) == 0);
	CHECK(resp_reader_get(&r, &v) == 0);
	resp_reader_reset(&r);
	CHECK(resp_reader_feed(&r, ":5\r\n", 4) == 0);
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(v && v->type == RESP_INTEGER && v->integer == 5);
	resp_value_free(v);
	CHECK(resp_reader_get(&r, &v) == 0);
	resp_reader_free(&r);
	resp_reader_free(&r);

	/* free accepts a zeroed reader. */
	struct resp_reader z;
	memset(&z, 0, sizeof z);
	resp_reader_free(&z);
	resp_reader_free(NULL);
	resp_value_free(NULL);
}

static void test_value_fields(void)
{
	struct resp_reader r;
	struct resp_value *v;
	resp_reader_init(&r, NULL);
	CHECK(resp_reader_feed(&r, "*4\r\n+OK\r\n:-7\r\n$-1\r\n*0\r\n", 23) == 0);
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(v->type == RESP_ARRAY && v->n_elems == 4 && v->str == NULL);
	CHECK(resp_is_ok(v->elems[0]));
	CHECK(!resp_is_ok(v));
	CHECK(v->elems[1]->type == RESP_INTEGER && v->elems[1]->integer == -7);
	CHECK(v->elems[1]->str == NULL);
	CHECK(v->elems[2]->type == RESP_NIL && v->elems[2]->str == NULL);
	CHECK(v->elems[3]->type == RESP_ARRAY && v->elems[3]->n_elems == 0 &&
	      v->elems[3]->elems == NULL);
	resp_value_free(v);

	/* A caller may take a bulk's str. */
	CHECK(resp_reader_feed(&r, "$3\r\nabc\r\n", 9) == 0);
	CHECK(resp_reader_get(&r, &v) == 1);
	char *s = v->str;
	v->str = NULL;
	resp_value_free(v);
	CHECK(strcmp(s, "abc") == 0);
	free(s);

	CHECK(resp_reader_feed(&r, "+OKAY\r\n-OK\r\n", 12) == 0);
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(!resp_is_ok(v));
	resp_value_free(v);
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(!resp_is_ok(v));
	resp_value_free(v);
	CHECK(!resp_is_ok(NULL));
	resp_reader_free(&r);

	CHECK(strcmp(resp_type_name(RESP_SIMPLE), "simple") == 0);
	CHECK(strcmp(resp_type_name(RESP_ERROR), "error") == 0);
	CHECK(strcmp(resp_type_name(RESP_INTEGER), "integer") == 0);
	CHECK(strcmp(resp_type_name(RESP_BULK), "bulk") == 0);
	CHECK(strcmp(resp_type_name(RESP_NIL), "nil") == 0);
	CHECK(strcmp(resp_type_name(RESP_ARRAY), "array") == 0);
	CHECK(strcmp(resp_type_name(RESP_NIL_ARRAY), "nil-array") == 0);
	CHECK(strcmp(resp_type_name((enum resp_type)99), "unknown") == 0);
}

static int buf_equals(const struct buf *b, const char *p, size_t n)
{
	return b->len == n && (n == 0 || memcmp(b->data, p, n) == 0);
}

static void test_writer(void)
{
	struct buf out;
	buf_init(&out);

	const char *argv[] = { "SET", "k", "a\0b" };
	const size_t lens[] = { 3, 1, 3 };
	CHECK(resp_write_command(&out, 3, argv, lens) == 0);
	static const char want1[] =
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\0b\r\n";
	CHECK(buf_equals(&out, want1, sizeof want1 - 1));

	buf_reset(&out);
	const char *argv2[] = { "LPUSH", ("celery\x06\x16" "1"), "" };
	CHECK(resp_write_command(&out, 3, argv2, NULL) == 0);
	static const char want2[] =
		"*3\r\n$5\r\nLPUSH\r\n$9\r\ncelery\x06\x16" "1\r\n$0\r\n\r\n";
	CHECK(buf_equals(&out, want2, sizeof want2 - 1));

	/* Appends after what is already there (pipelining). */
	CHECK(resp_write_commandl(&out, "PING", (char *)NULL) == 0);
	static const char want3[] =
		"*3\r\n$5\r\nLPUSH\r\n$9\r\ncelery\x06\x16" "1\r\n$0\r\n\r\n"
		"*1\r\n$4\r\nPING\r\n";
	CHECK(buf_equals(&out, want3, sizeof want3 - 1));

	buf_reset(&out);
	CHECK(resp_write_commandl(&out, "BRPOP", "q1", "q\x06\x16" "2", "1",
				  (char *)NULL) == 0);
	static const char want4[] = "*4\r\n$5\r\nBRPOP\r\n$2\r\nq1\r\n"
				    "$4\r\nq\x06\x16" "2\r\n$1\r\n1\r\n";
	CHECK(buf_equals(&out, want4, sizeof want4 - 1));

	/* Twelve-byte argument: multi-digit lengths. */
	buf_reset(&out);
	const char *argv5[] = { "0123456789ab" };
	CHECK(resp_write_command(&out, 1, argv5, NULL) == 0);
	CHECK(buf_equals(&out, "*1\r\n$12\r\n0123456789ab\r\n", 23));

	buf_reset(&out);
	CHECK(resp_write_command(&out, 0, NULL, NULL) == 0);
	CHECK(buf_equals(&out, "*0\r\n", 4));

	/* NULL with length 0 is an empty argument. */
	buf_reset(&out);
	const char *argv6[] = { NULL };
	const size_t lens6[] = { 0 };
	CHECK(resp_write_command(&out, 1, argv6, lens6) == 0);
	CHECK(buf_equals(&out, "*1\r\n$0\r\n\r\n", 10));

	/* Bad arguments fail and leave out untouched but failed. */
	buf_reset(&out);
	CHECK(resp_write_command(&out, -1, argv, lens) == -1);
	CHECK(out.failed && out.len == 0);
	buf_reset(&out);
	CHECK(resp_write_command(&out, 1, argv6, NULL) == -1);
	CHECK(out.failed && out.len == 0);
	/* Already failed stays failed. */
	CHECK(resp_write_command(&out, 3, argv, lens) == -1);
	CHECK(resp_write_commandl(&out, "PING", (char *)NULL) == -1);
	CHECK(out.len == 0);
	buf_free(&out);
}

static void test_round_trip(void)
{
	struct buf out;
	struct resp_reader r;
	struct resp_value *v;
	char bin[256];

	for (int i = 0; i < 256; i++)
		bin[i] = (char)i;
	const char *argv[] = { "SET", "k\r\nx", bin, "", "\x06\x16" };
	const size_t lens[] = { 3, 4, 256, 0, 2 };

	buf_init(&out);
	CHECK(resp_write_command(&out, 5, argv, lens) == 0);
	CHECK(resp_write_commandl(&out, "GET", "k", (char *)NULL) == 0);

	/* Fed byte by byte to exercise every resume point. */
	resp_reader_init(&r, NULL);
	int got = 0;
	for (size_t i = 0; i < out.len; i++) {
		CHECK(resp_reader_feed(&r, out.data + i, 1) == 0);
		int rc;
		while ((rc = resp_reader_get(&r, &v)) == 1) {
			CHECK(v->type == RESP_ARRAY);
			if (got == 0) {
				CHECK(v->n_elems == 5);
				for (size_t k = 0; k < 5 && k < v->n_elems; k++) {
					CHECK(v->elems[k]->type == RESP_BULK);
					CHECK(v->elems[k]->len == lens[k]);
					CHECK(memcmp(v->elems[k]->str, argv[k],
						     lens[k]) == 0);
				}
			} else {
				CHECK(v->n_elems == 2);
				CHECK(v->n_elems == 2 &&
				      strcmp(v->elems[1]->str, "k") == 0);
			}
			got++;
			resp_value_free(v);
		}
		CHECK(rc == 0);
	}
	CHECK(got == 2);
	resp_reader_free(&r);
	buf_free(&out);
}

/* A big bulk trickling in must not be rescanned per piece, and many small
 * pipelined replies must not each memmove the buffer: both finish quickly. */
static void test_large_and_many(void)
{
	struct resp_reader r;
	struct resp_value *v;
	size_t big = (size_t)8 << 20;
	char *body = malloc(big);
	CHECK(body != NULL);
	if (!body)
		return;
	for (size_t i = 0; i < big; i++)
		body[i] = (char)(i * 7 + (i >> 9));

	resp_reader_init(&r, NULL);
	char hdr[32];
	int hn = snprintf(hdr, sizeof hdr, "$%zu\r\n", big);
	CHECK(resp_reader_feed(&r, hdr, (size_t)hn) == 0);
	CHECK(resp_reader_get(&r, &v) == 0);
	for (size_t at = 0; at < big; at += 3) {
		size_t n = big - at < 3 ? big - at : 3;
		CHECK(resp_reader_feed(&r, body + at, n) == 0);
		CHECK(resp_reader_get(&r, &v) == 0);
	}
	CHECK(resp_reader_feed(&r, "\r\n", 2) == 0);
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(v && v->type == RESP_BULK && v->len == big &&
	      memcmp(v->str, body, big) == 0);
	resp_value_free(v);
	CHECK(r.in.data == NULL && r.in.cap == 0);
	free(body);

	/* 200k integers in 4 KiB chunks, drained after each chunk. */
	struct buf s;
	buf_init(&s);
	for (int i = 0; i < 200000; i++)
		buf_printf(&s, ":%d\r\n", i);
	long long next = 0;
	int bad = 0;
	for (size_t at = 0; at < s.len; at += 4096) {
		size_t n = s.len - at < 4096 ? s.len - at : 4096;
		CHECK(resp_reader_feed(&r, s.data + at, n) == 0);
		while (resp_reader_get(&r, &v) == 1) {
			if (v->type != RESP_INTEGER || v->integer != next)
				bad = 1;
			next++;
			resp_value_free(v);
		}
	}
	CHECK(!bad);
	CHECK(next == 200000);
	/* The buffer stayed small: consumed bytes were reclaimed, and the big
	 * bulk's storage was given back once it was consumed. */
	CHECK(r.in.cap <= 16384);

	/* All at once, too. */
	next = 0;
	CHECK(resp_reader_feed(&r, s.data, s.len) == 0);
	while (resp_reader_get(&r, &v) == 1) {
		if (v->type != RESP_INTEGER || v->integer != next)
			bad = 1;
		next++;
		resp_value_free(v);
	}
	CHECK(!bad && next == 200000);
	CHECK(r.in.len == 0 && r.pos == 0);
	buf_free(&s);
	resp_reader_free(&r);
}

/* A long simple string arriving byte by byte: the CRLF search resumes. */
static void test_long_line_trickle(void)
{
	struct resp_reader r;
	struct resp_value *v;
	resp_reader_init(&r, NULL);
	CHECK(resp_reader_feed(&r, "-", 1) == 0);
	for (int i = 0; i < RESP_MAX_LINE; i++) {
		CHECK(resp_reader_feed(&r, i % 100 == 0 ? "\r" : "e", 1) == 0);
		CHECK(resp_reader_get(&r, &v) == 0);
	}
	CHECK(resp_reader_feed(&r, "\r", 1) == 0);
	CHECK(resp_reader_get(&r, &v) == 0);
	CHECK(resp_reader_feed(&r, "\n", 1) == 0);
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(v && v->type == RESP_ERROR && v->len == RESP_MAX_LINE);
	CHECK(v && v->str[0] == '\r' && v->str[1] == 'e');
	resp_value_free(v);
	resp_reader_free(&r);
}

/* skip_oversized: a top-level bulk over max_bulk comes out as its size,
 * with the same transcript at every split; inside an array it still fails. */
static void test_skip_oversized(void)
{
	struct resp_limits lim = RESP_DEFAULT_LIMITS;
	lim.max_bulk = 4;
	lim.skip_oversized = 1;
	CHECK_STREAM_LIM(&lim, "$4\r\nabcd\r\n", "$4:abcd ");
	CHECK_STREAM_LIM(&lim, "$5\r\nabcde\r\n", "skipped5 ");
	CHECK_STREAM_LIM(&lim, "$5\r\nabcde\r\n+OK\r\n$10\r\n0123456789\r\n:7\r\n",
			 "skipped5 +OK skipped10 :7 ");
	/* A body may hold CRLFs of its own: only its length counts. */
	CHECK_STREAM_LIM(&lim, "$7\r\n:1\r\n$\r\n\r\n+OK\r\n", "skipped7 +OK ");
	/* Its CRLF is checked as it passes by. */
	CHECK_STREAM_LIM(&lim, "$5\r\nabcdef\r\n",
			 "!ERR protocol error: missing CRLF after bulk");
	CHECK_STREAM_LIM(&lim, "$5\r\nabcde\r+OK\r\n",
			 "!ERR protocol error: missing CRLF after bulk");
	CHECK_STREAM_LIM(&lim, "$5\r\nabcdeX\n",
			 "!ERR protocol error: missing CRLF after bulk");
	/* Replies before a bad skip still come out first. */
	CHECK_STREAM_LIM(&lim, ":1\r\n$6\r\nabcdefXY",
			 ":1 !ERR protocol error: missing CRLF after bulk");
	/* Incomplete: nothing yet, no error. */
	CHECK_STREAM_LIM(&lim, "$9\r\nabc", "");
	/* Nested: still a protocol error (only a whole reply can be skipped). */
	CHECK_STREAM_LIM(&lim, "*1\r\n$5\r\nabcde\r\n",
			 "!ERR protocol error: bulk length exceeds max_bulk");
	CHECK_STREAM_LIM(&lim, "*2\r\n$2\r\nab\r\n$5\r\nabcde\r\n",
			 "!ERR protocol error: bulk length exceeds max_bulk");
	/* Nil and empty are not oversized. */
	CHECK_STREAM_LIM(&lim, "$-1\r\n$0\r\n\r\n", "nil $0: ");
	/* A length no memory could hold is still only a size. */
	CHECK_STREAM_LIM(&lim, "$9223372036854775807\r\nab", "");
}

/* A big skipped bulk fed in pieces is never buffered: the reader's buffer
 * stays at one piece, even below max_buffered, and later replies work. */
static void test_skip_not_buffered(void)
{
	struct resp_limits lim = RESP_DEFAULT_LIMITS;
	struct resp_reader r;
	struct resp_value *v;
	enum { BODY = 3 << 20, PIECE = 16384 };
	char piece[PIECE];
	char hdr[32];

	lim.max_bulk = 1 << 20;
	lim.max_buffered = 64 << 10;
	lim.skip_oversized = 1;
	resp_reader_init(&r, &lim);
	memset(piece, 'x', sizeof piece);
	int n = snprintf(hdr, sizeof hdr, "$%d\r\n", (int)BODY);
	CHECK(resp_reader_feed(&r, hdr, (size_t)n) == 0);
	size_t most = 0;
	for (size_t sent = 0; sent < BODY; sent += PIECE) {
		size_t k = BODY - sent < PIECE ? BODY - sent : PIECE;
		CHECK(resp_reader_feed(&r, piece, k) == 0);
		CHECK(resp_reader_get(&r, &v) == 0);
		if (r.in.len - r.pos > most)
			most = r.in.len - r.pos;
	}
	CHECK(most == 0);
	CHECK(resp_reader_feed(&r, "\r\n+OK\r\n", 7) == 0);
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(v && v->type == RESP_OVERSIZED && v->len == BODY && v->str == NULL);
	resp_value_free(v);
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(resp_is_ok(v));
	resp_value_free(v);
	CHECK(resp_reader_get(&r, &v) == 0);
	/* The header and the start of the body in one piece: what is buffered
	 * is dropped at once. */
	n = snprintf(hdr, sizeof hdr, "$%d\r\n", (int)BODY);
	memcpy(piece, hdr, (size_t)n);
	CHECK(resp_reader_feed(&r, piece, sizeof piece) == 0);
	CHECK(resp_reader_get(&r, &v) == 0);
	CHECK(r.in.len == r.pos);
	CHECK(r.skip_left == (unsigned long long)BODY + 2 - (sizeof piece - (size_t)n));
	/* Reset forgets the skip. */
	resp_reader_reset(&r);
	CHECK(r.skip_left == 0 && !r.skipping);
	CHECK(resp_reader_feed(&r, ":5\r\n", 4) == 0);
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(v && v->type == RESP_INTEGER && v->integer == 5);
	resp_value_free(v);
	resp_reader_free(&r);
}

/* Checked access: anything a hostile server sends gives NULL or -1, never
 * a NULL string to strcmp (issue 14: "*2 :5 *0" for SMEMBERS). */
static void test_accessors(void)
{
	struct resp_reader r;
	struct resp_value *v;
	long long ll;
	double d;
	static const char stream[] =
		"*7\r\n:5\r\n*0\r\n$3\r\nabc\r\n$3\r\na\0c\r\n+simple\r\n$-1\r\n$4\r\n1.5x\r\n";

	CHECK(resp_elem(NULL, 0) == NULL);
	CHECK(resp_str(NULL, NULL) == NULL);
	CHECK(resp_cstr(NULL) == NULL);
	CHECK(resp_int(NULL, &ll) == -1);
	CHECK(resp_double(NULL, &d) == -1);
	resp_reader_init(&r, NULL);
	CHECK(resp_reader_feed(&r, stream, sizeof stream - 1) == 0);
	CHECK(resp_reader_get(&r, &v) == 1);
	CHECK(resp_elem(v, 7) == NULL);
	CHECK(resp_cstr(resp_elem(v, 0)) == NULL);
	CHECK(resp_int(resp_elem(v, 0), &ll) == 0 && ll == 5);
	CHECK(resp_double(resp_elem(v, 0), &d) == 0 && d == 5.0);
	CHECK(resp_cstr(resp_elem(v, 1)) == NULL);
	CHECK(resp_elem(resp_elem(v, 1), 0) == NULL);
	CHECK(resp_cstr(resp_elem(v, 2)) && !strcmp(resp_cstr(resp_elem(v, 2)), "abc"));
	size_t n = 0;
	CHECK(resp_str(resp_elem(v, 3), &n) != NULL && n == 3);
	CHECK(resp_cstr(resp_elem(v, 3)) == NULL);   /* NUL inside */
	CHECK(resp_cstr(resp_elem(v, 4)) && !strcmp(resp_cstr(resp_elem(v, 4)), "simple"));
	CHECK(resp_str(resp_elem(v, 5), NULL) == NULL);
	CHECK(resp_double(resp_elem(v, 6), &d) == -1);
	CHECK(resp_int(resp_elem(v, 2), &ll) == -1);
	CHECK(resp_elem(resp_elem(v, 2), 0) == NULL);
	resp_value_free(v);
	resp_reader_free(&r);

	/* Numbers as Redis writes them, and what strtod alone would take. */
	static const struct { const char *s; int ok; double want; } nums[] = {
		{ "1.5", 1, 1.5 }, { "-3", 1, -3 }, { "1e+20", 1, 1e20 }, { "0", 1, 0 },
		{ "1712345678.123456", 1, 1712345678.123456 }, { "+2", 1, 2 }, { ".5", 1, 0.5 },
		{ "", 0, 0 }, { " 1", 0, 0 }, { "1 ", 0, 0 }, { "inf", 0, 0 }, { "nan", 0, 0 },
		{ "0x10", 0, 0 }, { "1e", 0, 0 }, { "e5", 0, 0 }, { "-", 0, 0 }, { "1e999", 0, 0 },
	};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		struct resp_value b = { .type = RESP_BULK, .str = (char *)nums[i].s, .len = strlen(nums[i].s) };
		int rc = resp_double(&b, &d);
		CHECK(rc == (nums[i].ok ? 0 : -1));
		if (nums[i].ok)
			CHECK(d == nums[i].want);
	}
	static const struct { const char *s; int ok; long long want; } ints[] = {
		{ "12", 1, 12 }, { "-7", 1, -7 }, { "0", 1, 0 }, { "007", 0, 0 }, { "1.0", 0, 0 },
		{ "", 0, 0 }, { "99999999999999999999", 0, 0 },
	};
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		struct resp_value b = { .type = RESP_BULK, .str = (char *)ints[i].s, .len = strlen(ints[i].s) };
		int rc = resp_int(&b, &ll);
		CHECK(rc == (ints[i].ok ? 0 : -1));
		if (ints[i].ok)
			CHECK(ll == ints[i].want);
	}
	struct resp_value e = { .type = RESP_ERROR, .str = (char *)"ERR x", .len = 5 };
	CHECK(resp_str(&e, NULL) == NULL);
	CHECK(!strcmp(resp_type_name(RESP_OVERSIZED), "oversized"));
}

int main(void)
{
	RUN(test_scalars);
	RUN(test_nil);
	RUN(test_arrays);
	RUN(test_pipelined);
	RUN(test_incomplete);
	RUN(test_protocol_errors);
	RUN(test_long_lines);
	RUN(test_limit_depth);
	RUN(test_limit_bulk);
	RUN(test_limit_elems);
	RUN(test_limit_buffered);
	RUN(test_sticky_and_reset);
	RUN(test_value_fields);
	RUN(test_writer);
	RUN(test_round_trip);
	RUN(test_large_and_many);
	RUN(test_long_line_trickle);
	RUN(test_skip_oversized);
	RUN(test_skip_not_buffered);
	RUN(test_accessors);
	return harness_report();
}
