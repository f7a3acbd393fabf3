/* test_log: the escaping of log values (src/lib/log.c log_value_n,
 * log_quote, log_format): no value can add a field or a line, trusted
 * layout (numbers, caller quotes, appended fields) is kept; held lines
 * (log_hold) come out whole and in order. Needs lib/log
 * (UNIT_MODS_test_log). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <fcntl.h>
#include <unistd.h>

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

/* The integer conversions log_vformat writes by hand (plain %d %i %u
 * %ld %lld %lu %llu %zu %zd) give what snprintf gives, extremes included;
 * with flags or a width they still go through snprintf. */
static void test_integers(void)
{
	char b[256], want[256];

	log_format(b, sizeof b, "a=%d b=%d c=%i d=%u e=%ld f=%lld g=%llu h=%zu i=%zd j=%lu", INT_MIN, INT_MAX, 0,
		   UINT_MAX, LONG_MIN, LLONG_MIN, ULLONG_MAX, SIZE_MAX, (ssize_t)-1, 0UL);
	snprintf(want, sizeof want, "a=%d b=%d c=%i d=%u e=%ld f=%lld g=%llu h=%zu i=%zd j=%lu", INT_MIN, INT_MAX, 0,
		 UINT_MAX, LONG_MIN, LLONG_MIN, ULLONG_MAX, SIZE_MAX, (ssize_t)-1, 0UL);
	CHECK(eq(b, want));
	log_format(b, sizeof b, "a=%05d b=%-3d| c=%+d d=%hd", 42, 7, 3, (short)-2);
	CHECK(eq(b, "a=00042 b=7  | c=+3 d=-2"));
	/* Cut inside a number: still NUL-terminated, no byte past the end. */
	char small[8];
	memset(small, 'x', sizeof small);
	CHECK(log_format(small, sizeof small, "n=%lld", 123456789012LL) == 7);
	CHECK(eq(small, "n=12345"));
}

/* Held mode: info lines wait for log_flush, in order and whole; a warning
 * goes out at once, after the lines held before it; log_hold(0) flushes. */
static void test_hold(void)
{
	int fds[2], saved = dup(STDERR_FILENO);
	char got[4096];
	ssize_t n;

	CHECK(pipe(fds) == 0);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	dup2(fds[1], STDERR_FILENO);
	log_init(LOG_LEVEL_INFO, 1);     /* journal mode: no time stamp to compare */
	log_hold(1);
	log_info("t.one", "n=%d", 1);
	log_info("t.two", "n=%d", 2);
	CHECK(read(fds[0], got, sizeof got) < 0);       /* nothing written yet */
	log_flush();
	n = read(fds[0], got, sizeof got - 1);
	got[n > 0 ? n : 0] = 0;
	CHECK(eq(got, "<6>level=info event=t.one n=1\n<6>level=info event=t.two n=2\n"));
	log_info("t.three", "n=%d", 3);
	log_warn("t.four", "n=%d", 4);
	n = read(fds[0], got, sizeof got - 1);
	got[n > 0 ? n : 0] = 0;
	CHECK(eq(got, "<6>level=info event=t.three n=3\n<4>level=warn event=t.four n=4\n"));
	log_info("t.five", "n=%d", 5);
	log_hold(0);
	log_info("t.six", "n=%d", 6);
	n = read(fds[0], got, sizeof got - 1);
	got[n > 0 ? n : 0] = 0;
	CHECK(eq(got, "<6>level=info event=t.five n=5\n<6>level=info event=t.six n=6\n"));
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	RUN(test_value);
	RUN(test_format);
	RUN(test_integers);
	RUN(test_hold);
	return harness_report();
}
