/* test_json: grammar, tokens, getters, unescape, writer and splice of
 * src/lib/json.c. Needs only json.c and buf.c. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lib/json.h"

static int parses(const char *s, size_t n)
{
	char err[128];

	return json_validate(s, n, err, sizeof err) >= 0;
}

#define OK(s) CHECK(parses(s, sizeof(s) - 1))
#define BAD(s) CHECK(!parses(s, sizeof(s) - 1))

static void test_grammar_accepts(void)
{
	OK("{}");
	OK("[]");
	OK(" {\"a\" : [1, -0, 0.5e-3, 1E+2, true, false, null]}\r\n");
	OK("\"top\"");
	OK("42");
	OK("NaN");
	OK("[NaN, Infinity, -Infinity]");
	OK("1e400");
	OK("123456789012345678901234567890");
	OK("{\"a\": {\"b\": {\"c\": []}}}");
	OK("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"");
	OK("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
	/* Python's json.loads accepts a lone surrogate escape; only unescape
	 * refuses it. */
	OK("\"\\ud800\"");
}

static void test_grammar_rejects(void)
{
	BAD("");
	BAD("   ");
	BAD("[1 2]");
	BAD("{\"a\", \"b\"}");
	BAD("{\"a\" 1}");
	BAD("{\"a\": 1 \"b\": 2}");
	BAD("{\"a\": 1,}");
	BAD("[1,]");
	BAD("[,1]");
	BAD("{1: 2}");
	BAD("{'a': 1}");
	BAD("01");
	BAD("1.");
	BAD(".5");
	BAD("+1");
	BAD("1e");
	BAD("-");
	BAD("tru");
	BAD("truex");
	BAD("nan");
	BAD("infinity");
	BAD("1 2");
	BAD("{} x");
	BAD("[");
	BAD("]");
	BAD("[}");
	BAD("{\"a\": 1]");
	BAD("\"abc");
	BAD("\"a\\x\"");
	BAD("\"\\u12G4\"");
	BAD("\"\\u12\"");
	BAD("\"a\x01b\"");
	BAD("\"tab\there\"");
	BAD("\"\xff\"");
	BAD("\"\xc0\xaf\"");         /* overlong */
	BAD("\"\xed\xa0\x80\"");     /* UTF-8-encoded surrogate */
	BAD("\"\xf4\x90\x80\x80\""); /* > U+10FFFF */
	BAD("\"\xe2\x82\"");         /* truncated */
	CHECK(!parses("[1,\0 2]", 7));
	CHECK(!parses("\"a\0b\"", 5));
}

static void test_depth_limit(void)
{
	char s[2 * (JSON_MAX_DEPTH + 1) + 1];
	int k;

	for (k = 0; k < JSON_MAX_DEPTH; k++) {
		s[k] = '[';
		s[JSON_MAX_DEPTH + k] = ']';
	}
	CHECK(parses(s, 2 * JSON_MAX_DEPTH));
	{
		struct json_doc d;

		CHECK(json_parse(&d, s, 2 * JSON_MAX_DEPTH, 0, NULL, 0) == 0);
		CHECK(d.ntoks == JSON_MAX_DEPTH);
		CHECK(json_skip(&d, 0) == JSON_MAX_DEPTH);
		CHECK(json_skip(&d, JSON_MAX_DEPTH - 1) == JSON_MAX_DEPTH);
		json_doc_free(&d);
	}
	{
		/* objects: each level adds a key token to walk past */
		struct buf o;
		struct json_doc d;

		buf_init(&o);
		for (k = 0; k < JSON_MAX_DEPTH; k++)
			buf_append_str(&o, k ? "\"a\": {" : "{");
		for (k = 0; k < JSON_MAX_DEPTH; k++)
			buf_append_char(&o, '}');
		CHECK(json_parse(&d, o.data, o.len, 0, NULL, 0) == 0);
		CHECK(d.ntoks == 2 * JSON_MAX_DEPTH - 1);
		CHECK(json_skip(&d, 1) == 2);
		CHECK(json_skip(&d, 2) == d.ntoks);
		json_doc_free(&d);
		buf_free(&o);
	}
	for (k = 0; k <= JSON_MAX_DEPTH; k++) {
		s[k] = '[';
		s[JSON_MAX_DEPTH + 1 + k] = ']';
	}
	CHECK(!parses(s, 2 * (JSON_MAX_DEPTH + 1)));
}

static void test_tokens_and_navigation(void)
{
	static const char js[] =
		"{\"a\": [1, {\"x\": 2}, \"s\"], \"b\": {}, \"a\": 7, "
		"\"t\\u0061sk\": null}";
	struct json_doc d;
	char err[128];
	int a, b, t, k;
	int64_t v;

	CHECK(json_parse(&d, js, sizeof js - 1, 0, err, sizeof err) == 0);
	CHECK(d.ntoks == 14);
	CHECK(json_kind(&d, 0) == JSON_K_OBJECT);
	CHECK(d.toks[0].size == 4);
	CHECK(json_skip(&d, 0) == d.ntoks);
	/* duplicate key: the last one wins, as in Python */
	a = json_obj_get(&d, 0, "a");
	CHECK(json_kind(&d, a) == JSON_K_NUMBER);
	CHECK(json_tok_int64(&d, a, &v, err, sizeof err) == 0 && v == 7);
	b = json_obj_get(&d, 0, "b");
	CHECK(json_kind(&d, b) == JSON_K_OBJECT && d.toks[b].size == 0);
	/* key with an escape matches its unescaped text */
	t = json_obj_get(&d, 0, "task");
	CHECK(json_kind(&d, t) == JSON_K_NULL);
	CHECK(json_obj_get(&d, 0, "missing") == -1);
	CHECK(json_obj_get(&d, 0, "") == -1);
	CHECK(json_obj_get(&d, a, "a") == -1);
	/* first "a": the array */
	a = 2;
	CHECK(json_kind(&d, a) == JSON_K_ARRAY && d.toks[a].size == 3);
	k = json_arr_get(&d, a, 1);
	CHECK(json_kind(&d, k) == JSON_K_OBJECT);
	CHECK(json_tok_streq(&d, json_arr_get(&d, a, 2), "s"));
	CHECK(json_arr_get(&d, a, 3) == -1);
	CHECK(json_arr_get(&d, a, -1) == -1);
	CHECK(json_skip(&d, a) == json_obj_get(&d, 0, "b") - 1);
	CHECK(json_kind(&d, -1) == JSON_K_INVALID);
	CHECK(json_kind(&d, d.ntoks) == JSON_K_INVALID);
	json_doc_free(&d);
	json_doc_free(&d); /* idempotent */
}

static void test_token_limit(void)
{
	struct json_doc d;
	char err[128];

	CHECK(json_parse(&d, "[1, 2, 3]", 9, 3, err, sizeof err) < 0);
	CHECK(strstr(err, "limit") != NULL);
	CHECK(d.toks == NULL);
	CHECK(json_parse(&d, "[1, 2, 3]", 9, 4, err, sizeof err) == 0);
	json_doc_free(&d);
}

static char *unesc(const char *js, int *rc, size_t *len)
{
	struct json_doc d;
	char err[128], *out = NULL;

	*rc = json_parse(&d, js, strlen(js), 0, err, sizeof err);
	if (*rc == 0)
		*rc = json_tok_strdup(&d, 0, &out, len, err, sizeof err);
	json_doc_free(&d);
	return out;
}

static void test_unescape(void)
{
	size_t n;
	int rc;
	char *s;

	s = unesc("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"", &rc, &n);
	CHECK(rc == 0 && s && strcmp(s, "a\"b\\c/d\be\ff\ng\rh\ti") == 0);
	free(s);
	s = unesc("\"caf\\u00e9 \\ud83d\\ude00 \\u20AC\"", &rc, &n);
	CHECK(rc == 0 && s &&
	      strcmp(s, "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac") == 0);
	free(s);
	s = unesc("\"raw \xc3\xa9\xf0\x9f\x98\x80\"", &rc, &n);
	CHECK(rc == 0 && s && strcmp(s, "raw \xc3\xa9\xf0\x9f\x98\x80") == 0);
	free(s);
	s = unesc("\"a\\u0000b\"", &rc, &n);
	CHECK(rc == 0 && s && n == 3 && memcmp(s, "a\0b", 3) == 0);
	free(s);
	s = unesc("\"\"", &rc, &n);
	CHECK(rc == 0 && s && n == 0 && s[0] == '\0');
	free(s);
	s = unesc("\"\\ud83d\"", &rc, &n);
	CHECK(rc < 0 && !s);
	s = unesc("\"\\ude00\"", &rc, &n);
	CHECK(rc < 0 && !s);
	s = unesc("\"\\ud83d\\u0041\"", &rc, &n);
	CHECK(rc < 0 && !s);
	s = unesc("\"\\ud83dx\"", &rc, &n);
	CHECK(rc < 0 && !s);
	s = unesc("42", &rc, &n);
	CHECK(rc < 0 && !s);
}

static void test_streq(void)
{
	struct json_doc d;
	static const char js[] = "[\"abc\", \"a\\u0062c\", \"\", \"ab\", 1]";

	CHECK(json_parse(&d, js, sizeof js - 1, 0, NULL, 0) == 0);
	CHECK(json_tok_streq(&d, 1, "abc"));
	CHECK(json_tok_streq(&d, 2, "abc"));
	CHECK(!json_tok_streq(&d, 2, "abcd"));
	CHECK(!json_tok_streq(&d, 2, "ab"));
	CHECK(json_tok_streq(&d, 3, ""));
	CHECK(!json_tok_streq(&d, 4, "abc"));
	CHECK(!json_tok_streq(&d, 5, "1"));
	json_doc_free(&d);
}

static void test_numbers(void)
{
	static const char js[] =
		"[0, -0, 9223372036854775807, -9223372036854775808, "
		"9223372036854775808, -9223372036854775809, 1.0, 1e5, NaN, "
		"Infinity, -Infinity, \"7\", 1180591620717411303424, 1e400, "
		"-2.5e-3, 1e-400, true, "
		"1.0000000000000000000000000000000000000000000000000000000000000000000001]";
	struct json_doc d;
	char err[128];
	int64_t v;
	double f;
	int b;

	CHECK(json_parse(&d, js, sizeof js - 1, 0, err, sizeof err) == 0);
#define EL(i) json_arr_get(&d, 0, i)
	CHECK(json_tok_int64(&d, EL(0), &v, err, sizeof err) == 0 && v == 0);
	CHECK(json_tok_int64(&d, EL(1), &v, err, sizeof err) == 0 && v == 0);
	CHECK(json_tok_int64(&d, EL(2), &v, err, sizeof err) == 0 &&
	      v == INT64_MAX);
	CHECK(json_tok_int64(&d, EL(3), &v, err, sizeof err) == 0 &&
	      v == INT64_MIN);
	CHECK(json_tok_int64(&d, EL(4), &v, err, sizeof err) == JSON_ERANGE);
	CHECK(json_tok_int64(&d, EL(5), &v, err, sizeof err) == JSON_ERANGE);
	CHECK(json_tok_int64(&d, EL(6), &v, err, sizeof err) == JSON_EFRAC);
	CHECK(json_tok_int64(&d, EL(7), &v, err, sizeof err) == JSON_EFRAC);
	CHECK(json_tok_int64(&d, EL(8), &v, err, sizeof err) ==
	      JSON_ENONFINITE);
	CHECK(json_tok_int64(&d, EL(11), &v, err, sizeof err) == JSON_ERR);
	CHECK(json_tok_int64(&d, EL(12), &v, err, sizeof err) == JSON_ERANGE);
	CHECK(json_tok_int64(&d, EL(13), &v, err, sizeof err) == JSON_EFRAC);
	CHECK(json_kind(&d, EL(8)) == JSON_K_NONFINITE);
	CHECK(json_kind(&d, EL(9)) == JSON_K_NONFINITE);
	CHECK(json_kind(&d, EL(10)) == JSON_K_NONFINITE);
	CHECK(json_kind(&d, EL(14)) == JSON_K_NUMBER);
	CHECK(json_tok_double(&d, EL(6), &f, err, sizeof err) == 0 && f == 1.0);
	CHECK(json_tok_double(&d, EL(7), &f, err, sizeof err) == 0 &&
	      f == 1e5);
	CHECK(json_tok_double(&d, EL(8), &f, err, sizeof err) ==
	      JSON_ENONFINITE);
	CHECK(json_tok_double(&d, EL(9), &f, err, sizeof err) ==
	      JSON_ENONFINITE);
	CHECK(json_tok_double(&d, EL(10), &f, err, sizeof err) ==
	      JSON_ENONFINITE);
	CHECK(json_tok_double(&d, EL(11), &f, err, sizeof err) == JSON_ERR);
	CHECK(json_tok_double(&d, EL(12), &f, err, sizeof err) == 0 &&
	      f == 1180591620717411303424.0);
	CHECK(json_tok_double(&d, EL(13), &f, err, sizeof err) == JSON_ERANGE);
	CHECK(json_tok_double(&d, EL(14), &f, err, sizeof err) == 0 &&
	      f == -2.5e-3);
	CHECK(json_tok_double(&d, EL(15), &f, err, sizeof err) == 0 && f == 0);
	CHECK(json_tok_double(&d, EL(17), &f, err, sizeof err) == 0 &&
	      f == 1.0);
	CHECK(json_tok_bool(&d, EL(16), &b) == 0 && b == 1);
	CHECK(json_tok_bool(&d, EL(0), &b) == JSON_ERR);
#undef EL
	json_doc_free(&d);
}

static int wr_is(const char *s, size_t n, int flags, const char *want)
{
	struct buf b;
	int ok;

	buf_init(&b);
	json_write_str(&b, s, n, flags);
	ok = !b.failed && b.len == strlen(want) &&
	     memcmp(b.data, want, b.len) == 0;
	if (!ok)
		fprintf(stderr, "got [%.*s] want [%s]\n", (int)b.len,
			b.data ? b.data : "", want);
	buf_free(&b);
	return ok;
}

static void test_write_str(void)
{
	CHECK(wr_is("plain", 5, 0, "\"plain\""));
	CHECK(wr_is("", 0, 0, "\"\""));
	CHECK(wr_is("q\"b\\n\nr\rt\tb\bf\f", 14, 0,
		    "\"q\\\"b\\\\n\\nr\\rt\\tb\\bf\\f\""));
	CHECK(wr_is("\x01\x1f\x7f", 3, 0, "\"\\u0001\\u001f\\u007f\""));
	CHECK(wr_is("a\0b", 3, 0, "\"a\\u0000b\""));
	CHECK(wr_is("caf\xc3\xa9\xf0\x9f\x98\x80", 9, 0,
		    "\"caf\xc3\xa9\xf0\x9f\x98\x80\""));
	CHECK(wr_is("caf\xc3\xa9\xf0\x9f\x98\x80", 9, JSON_W_ASCII,
		    "\"caf\\u00e9\\ud83d\\ude00\""));
	CHECK(wr_is("\xe2\x82\xac", 3, JSON_W_ASCII, "\"\\u20ac\""));
	CHECK(wr_is("x\xffy", 3, 0, "\"x\xef\xbf\xbdy\""));
	CHECK(wr_is("x\xffy", 3, JSON_W_ASCII, "\"x\\ufffdy\""));
	CHECK(wr_is("x\xff\xc3y", 4, JSON_W_ASCII | JSON_W_SURROGATEESCAPE,
		    "\"x\\udcff\\udcc3y\""));
	CHECK(wr_is("\xed\xa0\x80", 3, JSON_W_ASCII | JSON_W_SURROGATEESCAPE,
		    "\"\\udced\\udca0\\udc80\""));
}

static void test_write_roundtrip(void)
{
	static const char src[] = "k\"\\/\x01\x7f caf\xc3\xa9 \xf0\x9f\x98\x80\n";
	int flags[] = { 0, JSON_W_ASCII };
	size_t k;

	for (k = 0; k < 2; k++) {
		struct buf b;
		struct json_doc d;
		char *s = NULL;
		size_t n = 0;

		buf_init(&b);
		json_write_str(&b, src, sizeof src - 1, flags[k]);
		CHECK(json_parse(&d, b.data, b.len, 0, NULL, 0) == 0);
		CHECK(json_tok_strdup(&d, 0, &s, &n, NULL, 0) == 0);
		CHECK(s && n == sizeof src - 1 && memcmp(s, src, n) == 0);
		free(s);
		json_doc_free(&d);
		buf_free(&b);
	}
}

static int dbl_is(double v, const char *want)
{
	struct buf b;
	int ok;

	buf_init(&b);
	ok = json_write_double(&b, v) == 0 && b.data &&
	     strcmp(b.data, want) == 0;
	if (!ok)
		fprintf(stderr, "double got [%s] want [%s]\n",
			b.data ? b.data : "", want);
	buf_free(&b);
	return ok;
}

static void test_write_numbers(void)
{
	struct buf b;

	CHECK(dbl_is(0.5, "0.5"));
	CHECK(dbl_is(3, "3.0"));
	CHECK(dbl_is(-0.0, "-0.0"));
	CHECK(dbl_is(0.1, "0.1"));
	CHECK(dbl_is(1795677427.024088, "1795677427.024088"));
	CHECK(dbl_is(1e16, "1e+16"));
	CHECK(dbl_is(1e-7, "1e-07"));
	CHECK(dbl_is(2.5e-3, "0.0025"));
	CHECK(dbl_is(1.7976931348623157e308, "1.7976931348623157e+308"));
	/* Python's repr switches notation at 1e16 and 1e-4 */
	CHECK(dbl_is(1e15, "1000000000000000.0"));
	CHECK(dbl_is(9999999999999998.0, "9999999999999998.0"));
	CHECK(dbl_is(1e-4, "0.0001"));
	CHECK(dbl_is(1.5e-5, "1.5e-05"));
	CHECK(dbl_is(123456789.125, "123456789.125"));
	CHECK(dbl_is(5e-324, "5e-324"));
	CHECK(dbl_is(1e22, "1e+22"));
	buf_init(&b);
	CHECK(json_write_double(&b, NAN) < 0);
	CHECK(json_write_double(&b, INFINITY) < 0);
	CHECK(json_write_double(&b, -INFINITY) < 0);
	CHECK(b.len == 0);
	json_write_int(&b, INT64_MIN);
	buf_append_char(&b, ' ');
	json_write_key(&b, "k\xc3\xa9");
	json_write_cstr(&b, NULL);
	buf_append_char(&b, ' ');
	json_write_cstr(&b, "v");
	buf_append_char(&b, ' ');
	json_write_raw(&b, "[1]", 3);
	CHECK(strcmp(b.data,
		     "-9223372036854775808 \"k\\u00e9\": null \"v\" [1]") == 0);
	buf_free(&b);
}

static int set_is(const char *js, const char *const *path, size_t np,
		  const char *val, const char *want)
{
	struct buf b;
	char err[128] = "";
	int rc, ok;

	buf_init(&b);
	buf_append_str(&b, "PRE:");
	rc = json_object_set(js, strlen(js), path, np, val, strlen(val), &b,
			     err, sizeof err);
	if (!want) {
		ok = rc < 0 && b.len == 4 && err[0];
	} else {
		ok = rc == 0 && strncmp(b.data, "PRE:", 4) == 0 &&
		     strcmp(b.data + 4, want) == 0;
		if (!ok)
			fprintf(stderr, "set got [%s] (%s) want [%s]\n",
				b.data ? b.data : "", err, want);
	}
	buf_free(&b);
	return ok;
}

static void test_object_set(void)
{
	static const char *const a[] = { "a" };
	static const char *const ab[] = { "a", "b" };
	static const char *const abc[] = { "a", "b", "c" };

	/* replace in place, keeping odd spacing */
	CHECK(set_is("{ \"a\" :  1 ,\"z\":2 }", a, 1, "true",
		     "{ \"a\" :  true ,\"z\":2 }"));
	CHECK(set_is("{\"a\": \"str\"}", a, 1, "[1]", "{\"a\": [1]}"));
	CHECK(set_is("{\"a\": {\"q\": [1, {}]}}", a, 1, "0", "{\"a\": 0}"));
	/* duplicate: the last (the one Python sees) is replaced */
	CHECK(set_is("{\"a\": 1, \"a\": 2}", a, 1, "3",
		     "{\"a\": 1, \"a\": 3}"));
	/* insert at the end of an object */
	CHECK(set_is("{\"x\": \"y\" }", a, 1, "1",
		     "{\"x\": \"y\", \"a\": 1 }"));
	CHECK(set_is("{\"x\": {\"k\": []}}", a, 1, "1",
		     "{\"x\": {\"k\": []}, \"a\": 1}"));
	CHECK(set_is("{}", a, 1, "null", "{\"a\": null}"));
	CHECK(set_is("{ }", a, 1, "null", "{\"a\": null }"));
	/* nested: existing, partly missing, fully missing */
	CHECK(set_is("{\"a\": {\"b\": 1}}", ab, 2, "2", "{\"a\": {\"b\": 2}}"));
	CHECK(set_is("{\"a\": {}}", ab, 2, "2", "{\"a\": {\"b\": 2}}"));
	CHECK(set_is("{\"z\": 0}", abc, 3, "2",
		     "{\"z\": 0, \"a\": {\"b\": {\"c\": 2}}}"));
	/* escaped key matches */
	CHECK(set_is("{\"\\u0061\": 1}", a, 1, "5", "{\"\\u0061\": 5}"));
	/* errors leave out untouched */
	CHECK(set_is("{\"a\": 1}", ab, 2, "2", NULL));
	CHECK(set_is("{\"a\": null}", ab, 2, "2", NULL));
	CHECK(set_is("[1]", a, 1, "2", NULL));
	CHECK(set_is("{\"a\": 1", a, 1, "2", NULL));
	CHECK(set_is("{\"a\": 1}", a, 1, "nope", NULL));
	CHECK(set_is("{\"a\": 1}", a, 0, "1", NULL));
}

/* json_tok_streq's fast paths (length, then bytes) agree with decoding:
 * escapes, a key that is the raw text of an escape, non-ASCII. */
static void test_streq_fast(void)
{
	struct json_doc d;
	const char *js = "[\"task\", \"ta\\u0073k\", \"a\\\\n\", \"a\\n\", \"caf\xc3\xa9\", \"tas\"]";

	CHECK(json_parse(&d, js, strlen(js), 0, NULL, 0) == 0);
	CHECK(json_tok_streq(&d, 1, "task"));
	CHECK(!json_tok_streq(&d, 1, "tas"));
	CHECK(!json_tok_streq(&d, 1, "tasks"));
	CHECK(json_tok_streq(&d, 2, "task"));          /* escaped, longer raw */
	CHECK(json_tok_streq(&d, 3, "a\\n"));          /* raw a\\n is a, backslash, n */
	CHECK(!json_tok_streq(&d, 4, "a\\n"));         /* raw a\n is a, newline: same length as s */
	CHECK(json_tok_streq(&d, 4, "a\n"));
	CHECK(json_tok_streq(&d, 5, "caf\xc3\xa9"));
	CHECK(!json_tok_streq(&d, 6, "task"));
	json_doc_free(&d);
}

int main(void)
{
	RUN(test_streq_fast);
	RUN(test_grammar_accepts);
	RUN(test_grammar_rejects);
	RUN(test_depth_limit);
	RUN(test_tokens_and_navigation);
	RUN(test_token_limit);
	RUN(test_unescape);
	RUN(test_streq);
	RUN(test_numbers);
	RUN(test_write_str);
	RUN(test_write_roundtrip);
	RUN(test_write_numbers);
	RUN(test_object_set);
	return harness_report();
}
