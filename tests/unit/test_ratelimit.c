/* Unit tests for ratelimit: log windows with a suppressed count, and the
 * exponential backoff, as tables of (time, expected) steps. */
#include "harness.h"
#include "lib/ratelimit.h"

static void test_window_and_suppressed_count(void)
{
	struct ratelimit rl;
	long sup = -1;
	static const struct { double t; int allow; long sup; } steps[] = {
		{ 0.0, 1, 0 }, { 0.1, 1, 0 }, { 0.2, 1, 0 },   /* burst of 3 */
		{ 0.3, 0, -1 }, { 5.0, 0, -1 }, { 9.99, 0, -1 }, /* 3 refused */
		{ 10.0, 1, 3 },                                   /* new window says so */
		{ 10.1, 1, 0 }, { 10.2, 1, 0 }, { 10.3, 0, -1 },
		{ 100.0, 1, 1 },                                  /* long quiet: fresh window */
	};

	ratelimit_init(&rl, 10, 3);
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		sup = -1;
		int a = ratelimit_allow(&rl, steps[i].t, &sup);
		CHECK(a == steps[i].allow);
		if (a)
			CHECK(sup == steps[i].sup);
		else
			CHECK(sup == -1);   /* untouched when refused */
		if (a != steps[i].allow)
			fprintf(stderr, "  step %zu at %g\n", i, steps[i].t);
	}
	/* NULL for the count is fine. */
	CHECK(ratelimit_allow(&rl, 100.1, NULL) == 1);
}

static void test_thousands_per_second_become_a_few_lines(void)
{
	struct ratelimit rl;
	long written = 0, reported = 0, sup;

	ratelimit_init(&rl, 10, 5);
	/* 10 s at 10,000 attempts a second (the spin of issue 14). */
	for (int i = 0; i < 100000; i++) {
		if (ratelimit_allow(&rl, i * 0.0001, &sup)) {
			written++;
			reported += sup;
		}
	}
	CHECK(written == 5);
	CHECK(ratelimit_allow(&rl, 10.0, &sup) == 1);
	reported += sup;
	CHECK(reported == 100000 - 5);   /* every refused line accounted for */
}

static void test_unlimited_and_clock_going_back(void)
{
	struct ratelimit rl;
	long sup;

	ratelimit_init(&rl, 0, 1);
	for (int i = 0; i < 100; i++)
		CHECK(ratelimit_allow(&rl, 1.0, &sup) == 1 && sup == 0);
	ratelimit_init(&rl, 10, 1);
	CHECK(ratelimit_allow(&rl, 50, &sup) == 1);
	CHECK(ratelimit_allow(&rl, 51, &sup) == 0);
	/* A caller's clock that went back starts a window rather than
	 * silencing the log until it catches up. */
	CHECK(ratelimit_allow(&rl, 20, &sup) == 1 && sup == 1);
}

static void test_backoff_doubles_to_cap_and_resets(void)
{
	struct backoff b;
	static const double waits[] = { 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10, 10 };

	backoff_init(&b, 0.1, 10);
	CHECK(backoff_ready(&b, 0));
	double now = 100;
	for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
		double w = backoff_fail(&b, now);
		CHECK(w > waits[i] - 1e-9 && w < waits[i] + 1e-9);
		CHECK(b.failures == (int)i + 1);
		CHECK(!backoff_ready(&b, now + w - 0.001));
		CHECK(backoff_ready(&b, now + w));
		now += w;
	}
	backoff_reset(&b);
	CHECK(backoff_ready(&b, 0) && b.failures == 0);
	CHECK(backoff_fail(&b, now) == 0.1);
	/* A hold pauses without counting a failure, and never shortens. */
	backoff_reset(&b);
	backoff_hold(&b, 50);
	CHECK(!backoff_ready(&b, 49.9) && backoff_ready(&b, 50) && b.failures == 0);
	backoff_hold(&b, 40);
	CHECK(!backoff_ready(&b, 49.9));
	CHECK(backoff_fail(&b, 60) == 0.1 && b.failures == 1);
	/* Bad bounds are clamped, never zero or negative. */
	backoff_init(&b, -1, -5);
	CHECK(b.min > 0 && b.max >= b.min);
	CHECK(backoff_fail(&b, 0) > 0);
}

int main(void)
{
	RUN(test_window_and_suppressed_count);
	RUN(test_thousands_per_second_become_a_few_lines);
	RUN(test_unlimited_and_clock_going_back);
	RUN(test_backoff_doubles_to_cap_and_resets);
	return harness_report();
}
