/* test_pyrepr: every expected text below is what /usr/bin/python3 (3.11,
 * Debian's python3-celery 5.2.6) printed for the same value: repr(),
 * saferepr(), repr(Exception(...)), round(), fnmatch.fnmatch(),
 * signals.signum(), bool() and type() of json.loads(). */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lib/json.h"
#include "lib/pyrepr.h"

static int buf_is(const struct buf *b, const char *want)
{
	size_t n = strlen(want);
	int ok = !b->failed && b->len == n && (n == 0 || memcmp(b->data, want, n) == 0);

	if (!ok)
		fprintf(stderr, "  got:  %.*s\n  want: %s\n", (int)b->len,
			b->data ? b->data : "", want);
	return ok;
}

static size_t u8_count(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

/* ---- repr(str) ------------------------------------------------------------ */

static void test_str(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "abc", "'abc'" },
		{ "", "''" },
		/* the quote: ' unless the text has ' and no " */
		{ "it's", "\"it's\"" },
		{ "a'b\"c", "'a\\'b\"c'" },
		{ "say \"hi\"", "'say \"hi\"'" },
		/* 'x\ny\x01é\xa0' */
		{ "x\ny\x01\xc3\xa9\xc2\xa0", "'x\\ny\\x01\xc3\xa9\\xa0'" },
		/* '\t\r\\\x7f\u200b\U000e0001😀\xad\x85é' */
		{ "\t\r\\\x7f\xe2\x80\x8b\xf3\xa0\x80\x81\xf0\x9f\x98\x80\xc2\xad"
		  "\xc2\x85\xc3\xa9",
		  "'\\t\\r\\\\\\x7f\\u200b\\U000e0001\xf0\x9f\x98\x80\\xad\\x85"
		  "\xc3\xa9'" },
		/* not UTF-8: os.fsdecode(b'a\xff\xc3') is 'a\udcff\udcc3' */
		{ "a\xff\xc3", "'a\\udcff\\udcc3'" },
		/* overlong and surrogate encodings are not UTF-8 either */
		{ "\xc0\xaf\xed\xa0\x80", "'\\udcc0\\udcaf\\udced\\udca0\\udc80'" },
	};
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&b);
		CHECK(pyrepr_str(&b, cases[i].in, strlen(cases[i].in)) == 0);
		CHECK(buf_is(&b, cases[i].want));
	}
	/* an embedded NUL is a character like any other */
	buf_reset(&b);
	CHECK(pyrepr_str(&b, "a\0b", 3) == 0 && buf_is(&b, "'a\\x00b'"));
	buf_free(&b);
}

/* ---- saferepr ------------------------------------------------------------- */

static int saferepr_is(const char *js, int tuple, const char *want)
{
	struct json_doc d;
	struct buf b;
	int ok;

	buf_init(&b);
	if (json_parse(&d, js, strlen(js), 0, NULL, 0) < 0)
		return 0;
	ok = pyrepr_saferepr(&b, &d, 0, tuple, 1024) == 0 && buf_is(&b, want);
	json_doc_free(&d);
	buf_free(&b);
	return ok;
}

/* celery.utils.saferepr.saferepr(value, 1024): argsrepr / kwargsrepr. */
static void test_saferepr(void)
{
	struct json_doc d;
	struct buf js, out;
	size_t k;

	CHECK(saferepr_is("[2, 3]", 1, "(2, 3)"));
	CHECK(saferepr_is("[1]", 1, "(1,)"));
	CHECK(saferepr_is("[]", 1, "()"));
	CHECK(saferepr_is("[1]", 0, "[1]"));
	CHECK(saferepr_is("{}", 0, "{}"));
	CHECK(saferepr_is("[\"a\", \"b\"]", 1, "('a', 'b')"));
	CHECK(saferepr_is("{\"y\": 7}", 0, "{'y': 7}"));
	CHECK(saferepr_is("{\"k\": \"v\", \"n\": {\"m\": [1, 2]}}", 0,
			  "{'k': 'v', 'n': {'m': [1, 2]}}"));
	CHECK(saferepr_is("[null, true, false, 1.5, -2, NaN, Infinity, -Infinity]",
			  1, "(None, True, False, 1.5, -2, nan, inf, -inf)"));
	CHECK(saferepr_is("[1e16, 1.0, 1e-5, -0.0, -0, 1E2, 1e400, 1e-400]", 1,
			  "(1e+16, 1.0, 1e-05, -0.0, 0, 100.0, inf, 0.0)"));
	CHECK(saferepr_is("[123456789012345678901234567890]", 1,
			  "(123456789012345678901234567890,)"));
	/* saferepr escapes only the single quote */
	CHECK(saferepr_is("[\"it's\"]", 1, "('it\\'s',)"));
	CHECK(saferepr_is("[\"a'b\\\"c\"]", 1, "('a\\'b\"c',)"));
	CHECK(saferepr_is("[\"x\\ny\\u0001\\\\\"]", 1, "('x\ny\x01\\',)"));
	CHECK(saferepr_is("[\"\\u00e9\\u0085\"]", 1, "('\xc3\xa9\xc2\x85',)"));
	/* a lone surrogate has no UTF-8: shown as '?' */
	CHECK(saferepr_is("[\"\\ud800\"]", 1, "('?',)"));
	/* maxlevels=3 */
	CHECK(saferepr_is("[[[[1]]]]", 1, "([[[...]]],)"));
	CHECK(saferepr_is("[{\"a\": {\"b\": {\"c\": 1}}}]", 1,
			  "({'a': {'b': {...}}},)"));
	/* truncation: budget spent -> ", ..." plus the open closers; a long
	 * string is cut at a space with "..." */
	buf_init(&js);
	buf_append_char(&js, '[');
	for (k = 0; k < 600; k++)
		buf_append_str(&js, k ? ", \"\\u00e9b\"" : "\"\\u00e9b\"");
	buf_append_char(&js, ']');
	CHECK(json_parse(&d, js.data, js.len, 0, NULL, 0) == 0);
	buf_init(&out);
	CHECK(pyrepr_saferepr(&out, &d, 0, 1, 1024) == 0);
	CHECK(out.len > 30 && u8_count(out.data, out.len) == 1031);
	CHECK(strcmp(out.data + out.len - 11, "'\xc3\xa9" "b', ...)") == 0);
	buf_free(&out);
	json_doc_free(&d);
	buf_reset(&js);
	buf_append_str(&js, "[\"");
	for (k = 0; k < 200; k++)
		buf_append_str(&js, "a b c d ");
	buf_append_str(&js, "\"]");
	CHECK(json_parse(&d, js.data, js.len, 0, NULL, 0) == 0);
	buf_init(&out);
	CHECK(pyrepr_saferepr(&out, &d, 0, 1, 1024) == 0);
	CHECK(out.len == 1032);
	/* the closer that trips the budget is the token dropped */
	CHECK(strcmp(out.data + out.len - 14, "a b c...', ...") == 0);
	/* a bad token is refused */
	buf_reset(&out);
	CHECK(pyrepr_saferepr(&out, &d, d.ntoks, 1, 1024) == -1);
	CHECK(pyrepr_saferepr(&out, &d, -1, 1, 1024) == -1 && out.len == 0);
	buf_free(&out);
	json_doc_free(&d);
	buf_free(&js);
}

/* ---- exceptions ------------------------------------------------------------ */

static void test_exception(void)
{
	static const struct {
		const char *type, *args, *want;
	} cases[] = {
		{ "ValueError", "[\"boom value\"]", "ValueError('boom value')" },
		{ "KeyError", "[\"k0\"]", "KeyError('k0')" },
		{ "tasks.MyError", "[\"custom\", 42]", "tasks.MyError('custom', 42)" },
		{ "X", "[]", "X()" },
		{ "X", NULL, "X()" },
		{ "X", "[\"it's\"]", "X(\"it's\")" },
		{ "X", "[\"it's \\\"q\\\"\"]", "X('it\\'s \"q\"')" },
		{ "X", "[1.0, null, true, false, {\"a\": [1]}]",
		  "X(1.0, None, True, False, {'a': [1]})" },
		{ "X", "[[1.0, null, true, {\"a\": [1]}]]",
		  "X([1.0, None, True, {'a': [1]}])" },
		{ "X", "[1e400, -1e400, 1e5, -0, 12345678901234567890123]",
		  "X(inf, -inf, 100000.0, 0, 12345678901234567890123)" },
		{ "X", "[1e16, 1e-5, -0.0]", "X(1e+16, 1e-05, -0.0)" },
		{ "X", "[NaN, -Infinity]", "X(nan, -inf)" },
		{ "TimeLimitExceeded", "[5.0]", "TimeLimitExceeded(5.0)" },
		/* repr(), unlike saferepr, escapes and has no depth limit */
		{ "X", "[\"a\\nb\\\\\", [[[[1]]]]]", "X('a\\nb\\\\', [[[[1]]]])" },
		/* a lone surrogate has no UTF-8: shown as '?' */
		{ "X", "[\"\\udc80\"]", "X('?')" },
	};
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&b);
		CHECK(pyrepr_exception(&b, cases[i].type, cases[i].args, 0) == 0);
		CHECK(buf_is(&b, cases[i].want));
	}
	/* an explicit length: only the first 5 bytes count */
	buf_reset(&b);
	CHECK(pyrepr_exception(&b, "E", "[1,2]trailing", 5) == 0 &&
	      buf_is(&b, "E(1, 2)"));
	/* refused, nothing appended */
	buf_reset(&b);
	CHECK(pyrepr_exception(&b, "X", "{}", 0) == -1 && b.len == 0);
	CHECK(pyrepr_exception(&b, "X", "[", 0) == -1 && b.len == 0);
	CHECK(pyrepr_exception(&b, NULL, "[]", 0) == -1 && b.len == 0);

	/* one str argument */
	CHECK(pyrepr_exception_str(&b, "KeyError", "a\"b'c", 5) == 0);
	CHECK(buf_is(&b, "KeyError('a\"b\\'c')"));
	buf_reset(&b);
	CHECK(pyrepr_exception_str(&b, "KeyError", "it's", 4) == 0);
	CHECK(buf_is(&b, "KeyError(\"it's\")"));
	buf_free(&b);
}

static void test_missing_args(void)
{
	static const char *const names[] = { "a", "b", "c" };
	struct buf b;

	buf_init(&b);
	CHECK(pyrepr_missing_args(&b, "revoke", names, 1) == 0);
	CHECK(buf_is(&b, "revoke() missing 1 required positional argument: 'a'"));
	buf_reset(&b);
	CHECK(pyrepr_missing_args(&b, "terminate", names, 2) == 0);
	CHECK(buf_is(&b, "terminate() missing 2 required positional arguments: "
			 "'a' and 'b'"));
	buf_reset(&b);
	CHECK(pyrepr_missing_args(&b, "f", names, 3) == 0);
	CHECK(buf_is(&b, "f() missing 3 required positional arguments: "
			 "'a', 'b', and 'c'"));
	buf_reset(&b);
	CHECK(pyrepr_missing_args(&b, "f", names, 0) == -1 && b.len == 0);
	buf_free(&b);
}

/* ---- values -------------------------------------------------------------- */

static void test_values(void)
{
	static const struct {
		const char *js;
		int truthy;
		const char *type;
	} cases[] = {
		{ "0", 0, "int" },	    { "-0", 0, "int" },
		{ "7", 1, "int" },	    { "99999999999999999999", 1, "int" },
		{ "0.0", 0, "float" },	    { "-0.0", 0, "float" },
		{ "1e-400", 0, "float" },   { "1e400", 1, "float" },
		{ "1e5", 1, "float" },	    { "NaN", 1, "float" },
		{ "-Infinity", 1, "float" }, { "true", 1, "bool" },
		{ "false", 0, "bool" },	    { "null", 0, "NoneType" },
		{ "\"\"", 0, "str" },	    { "\"0\"", 1, "str" },
		{ "[]", 0, "list" },	    { "[0]", 1, "list" },
		{ "{}", 0, "dict" },	    { "{\"a\": 0}", 1, "dict" },
	};
	struct json_doc d;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK(json_parse(&d, cases[i].js, strlen(cases[i].js), 0, NULL,
				 0) == 0);
		if (pyrepr_truthy(&d, 0) != cases[i].truthy ||
		    strcmp(pyrepr_type_name(&d, 0), cases[i].type) != 0) {
			fprintf(stderr, "  case %s\n", cases[i].js);
			CHECK(0);
		}
		CHECK(pyrepr_truthy(&d, d.ntoks) == 0);
		json_doc_free(&d);
	}
}

static void test_round(void)
{
	/* round(): ties to even */
	CHECK(pyrepr_round(2.5) == 2 && pyrepr_round(3.5) == 4);
	CHECK(pyrepr_round(0.5) == 0 && pyrepr_round(1.5) == 2);
	CHECK(pyrepr_round(8.4) == 8 && pyrepr_round(8.6) == 9);
	CHECK(pyrepr_round(-3.0) == 0 && pyrepr_round(NAN) == 0);
	CHECK(pyrepr_round(1e300) == INT64_MAX);
	/* round(x, 2): the binary value decides; exact ties to even */
	CHECK(pyrepr_round2(2.675) == 2.67 && pyrepr_round2(-2.675) == -2.67);
	CHECK(pyrepr_round2(0.125) == 0.12 && pyrepr_round2(0.135) == 0.14);
	CHECK(pyrepr_round2(1.005) == 1.0 && pyrepr_round2(0.0012) == 0.0);
	CHECK(pyrepr_round2(1e16) == 1e16);
}

/* ---- fnmatch ---------------------------------------------------------------- */

static void test_fnmatch(void)
{
	static const struct {
		const char *pattern, *name;
		int want;
	} cases[] = {
		{ "w1@*", "w1@vm", 1 },
		{ "x*", "w1@vm", 0 },
		{ "*", "", 1 },
		{ "w?@v[a-m]", "w1@vm", 1 },
		{ "w[!1]@vm", "w1@vm", 0 },
		{ "W1@VM", "w1@vm", 0 },         /* case-sensitive on POSIX */
		{ "*.example.com", "x.example.com", 1 },
		{ "*a*b*c", "xxaxxbxxc", 1 },
		{ "\xc3\xa9?", "\xc3\xa9x", 1 }, /* code points, not bytes */
		{ "\xc2\xad", "\xad", 0 },      /* a stray byte is no U+00AD */
		{ "?", "\xff", 1 },
		{ "[]]", "]", 1 },
		{ "[]]", "x", 0 },
		{ "[!]]", "x", 1 },
		{ "a[", "a[", 1 },               /* unterminated: literal */
		{ "[a-]", "-", 1 },
		/* translate() drops the reversed range b-a with its ends:
		 * [\-c] */
		{ "[b-a-c]", "b", 0 },
		{ "[b-a-c]", "-", 1 },
		{ "[b-a-a-c]", "b", 1 },
		{ "[z-a]", "x", 0 },             /* an empty class */
		{ "[z-a]*", "w1@vm", 0 },
		{ "[a-b-c-d]", "x", 0 },
	};
	char *big;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = pyrepr_fnmatch(cases[i].name, cases[i].pattern);

		if (got != cases[i].want)
			fprintf(stderr, "  case %zu (%s): got %d\n", i,
				cases[i].pattern, got);
		CHECK(got == cases[i].want);
	}
	/* longer than the limit: not evaluated */
	big = malloc(PYREPR_MAX_PATTERN + 2);
	memset(big, '*', PYREPR_MAX_PATTERN + 1);
	big[PYREPR_MAX_PATTERN + 1] = '\0';
	CHECK(pyrepr_fnmatch("x", big) == -1);
	big[PYREPR_MAX_PATTERN] = '\0';
	CHECK(pyrepr_fnmatch("x", big) == 1);
	free(big);
}

/* ---- signals.signum ----------------------------------------------------------- */

static void test_signum(void)
{
	static const struct {
		const char *name;
		int want;
		const char *why;
	} cases[] = {
		{ "KILL", SIGKILL, "" },
		{ "SIGUSR1", SIGUSR1, "" },
		{ "CLD", SIGCHLD, "" },
		{ "POLL", SIGPOLL, "" },
		{ "TERM", SIGTERM, "" },
		{ "kill", -1, "TypeError('signal name must be uppercase string.')" },
		{ "Sigkill", -1, "TypeError('signal name must be uppercase string.')" },
		{ "123", -1, "TypeError('signal name must be uppercase string.')" },
		{ NULL, -1, "TypeError('signal name must be uppercase string.')" },
		{ "FOO", -1, "AttributeError(\"module 'signal' has no attribute 'SIGFOO'\")" },
	};
	struct buf why;
	size_t i;

	buf_init(&why);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&why);
		CHECK(pyrepr_signum(cases[i].name, &why) == cases[i].want);
		CHECK(buf_is(&why, cases[i].why));
	}
	CHECK(pyrepr_signum("FOO", NULL) == -1);
	buf_free(&why);
}

int main(void)
{
	RUN(test_str);
	RUN(test_saferepr);
	RUN(test_exception);
	RUN(test_missing_args);
	RUN(test_values);
	RUN(test_round);
	RUN(test_fnmatch);
	RUN(test_signum);
	return harness_report();
}
