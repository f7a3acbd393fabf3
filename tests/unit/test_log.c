/* test_log: the escaping of log values (src/lib/log.c log_value_n,
 * log_quote, log_format): no value can add a field or a line, trusted
 * layout (numbers, caller quotes, appended fields) is kept. Needs lib/log
 * (UNIT_MODS_test_log). */
#include <string.h>

#include "harness.h"
#include "lib/log.h"

static int eq(const char *got, const char *want)
{
	if (strcmp(got, want)) {
		fprintf(stderr, "  got  %s\n  want %s\n", got, want);
		return 0;
	}
	return 1;
}

static void test_value(void)
{
	char b[64];

	CHECK(eq(log_value(b, sizeof b, "abc-123_x.y:z/1"), "abc-123_x.y:z/1"));
	CHECK(eq(log_value(b, sizeof b, ""), "\"\""));
	CHECK(eq(log_value(b, sizeof b, "abc level=error"), "\"abc level=error\""));
	CHECK(eq(log_value(b, sizeof b, "a=b"), "\"a=b\""));
	CHECK(eq(log_value(b, sizeof b, "say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\""));
	CHECK(eq(log_value(b, sizeof b, "l1\nl2\tx\r\x01\x7f"), "\"l1\\nl2\\tx\\r\\x01\\x7f\""));
	CHECK(eq(log_value(b, sizeof b, "caf\xc3\xa9"), "\"caf\\xc3\\xa9\""));
	CHECK(log_value_n(b, sizeof b, "a\0b", 3, 0) == 8 && !memcmp(b, "\"a\\x00b\"", 9));
	CHECK(eq(log_quote(b, sizeof b, "plain"), "\"plain\""));
	/* Cut to fit, still closed, never half an escape. */
	CHECK(eq(log_value(b, 8, "a b c d e f"), "\"a b c\""));
	CHECK(eq(log_value(b, 6, "\"\"\"\""), "\"\\\"\""));
	CHECK(eq(log_value(b, 4, "abcdef"), "abc"));
	CHECK(eq(log_value(b, 2, "a b"), ""));
}

static void test_format(void)
{
	char b[256];

	log_format(b, sizeof b, "task=%s id=%s n=%d", "tryon.run", "abc level=error event=worker.forged", 3);
	CHECK(eq(b, "task=tryon.run id=\"abc level=error event=worker.forged\" n=3"));
	log_format(b, sizeof b, "reason=\"%s\" x=%s", "he said \"stop\" k=v", "ok");
	CHECK(eq(b, "reason=\"he said \\\"stop\\\" k=v\" x=ok"));
	log_format(b, sizeof b, "reason=\"signals: %s\"", "a\nb");
	CHECK(eq(b, "reason=\"signals: a\\nb\""));
	/* Appended fields (built with log_value) and literal notes are kept. */
	log_format(b, sizeof b, "id=%s%s outcome=%s", "i1", " eta=1 reason=\"x y\"", "ok");
	CHECK(eq(b, "id=i1 eta=1 reason=\"x y\" outcome=ok"));
	/* A value already quoted by log_quote passes unchanged; a forged one
	 * that only looks quoted does not. */
	char q[64];
	log_format(b, sizeof b, "detail=%s", log_quote(q, sizeof q, "a \"b\""));
	CHECK(eq(b, "detail=\"a \\\"b\\\"\""));
	log_format(b, sizeof b, "detail=%s", "\"x\" level=error \"y\"");
	CHECK(eq(b, "detail=\"\\\"x\\\" level=error \\\"y\\\"\""));
	/* Numbers and the other conversions. */
	log_format(b, sizeof b, "a=%ld b=%lld c=%zu d=%.3f e=%u f=%x g=%c h=%5d%% i=%.*s j=%-4s|", -5L, 123456789012LL,
		   (size_t)7, 1.5, 4u, 255u, 'Z', 42, 3, "abcdef", "ab");
	CHECK(eq(b, "a=-5 b=123456789012 c=7 d=1.500 e=4 f=ff g=Z h=   42% i=abc j=\"ab  \"|"));
	const char *volatile none = NULL;
	log_format(b, sizeof b, "k=%s", none);
	CHECK(eq(b, "k=(null)"));
	/* Output is cut, always NUL-terminated. */
	char small[10];
	CHECK(log_format(small, sizeof small, "key=%s", "a b c d e f g") <= sizeof small - 1);
	CHECK(strlen(small) < sizeof small);
}

int main(void)
{
	RUN(test_value);
	RUN(test_format);
	return harness_report();
}
