/* Unit tests for tokenbucket: Celery's rate limits as (time, take?) tables,
 * the wait it promises always being enough, and refused parameters. */
#include <math.h>

#include "harness.h"
#include "lib/tokenbucket.h"

static void test_ten_per_second(void)
{
	struct tokenbucket b;
	static const struct { double t; int take; } steps[] = {
		{ 100.00, 1 },                 /* full at first: one at once */
		{ 100.00, 0 }, { 100.05, 0 },  /* then one per 0.1 s */
		{ 100.10, 1 }, { 100.15, 0 },
		{ 100.20, 1 }, { 100.30, 1 },
		{ 105.00, 1 },                 /* a quiet spell refills one token only */
		{ 105.00, 0 }, { 105.09, 0 }, { 105.10, 1 },
		{ 104.00, 0 },                 /* the clock going back adds nothing */
	};

	CHECK(tokenbucket_init(&b, 10, 1, 100) == 0);
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		int got = tokenbucket_take(&b, steps[i].t);
		CHECK(got == steps[i].take);
		if (got != steps[i].take)
			fprintf(stderr, "  step %zu at %g\n", i, steps[i].t);
	}
}

static void test_wait_is_enough(void)
{
	struct tokenbucket b;
	double now = 1000;
	int taken = 0;

	/* 100/m: waiting what wait() says always gives a token; 50 starts take
	 * 49 intervals of 0.6 s. */
	CHECK(tokenbucket_init(&b, 100.0 / 60.0, 1, now) == 0);
	for (int i = 0; i < 1000 && taken < 50; i++) {
		double w = tokenbucket_wait(&b, now);
		CHECK(w >= 0);
		if (w == 0) {
			CHECK(tokenbucket_take(&b, now) == 1);
			taken++;
		} else {
			CHECK(tokenbucket_take(&b, now) == 0);
			now += w;
		}
	}
	CHECK(taken == 50);
	CHECK(fabs((now - 1000) - 49 * 0.6) < 1e-6);
	/* wait() takes nothing */
	CHECK(tokenbucket_init(&b, 2, 1, 0) == 0);
	CHECK(tokenbucket_wait(&b, 0) == 0 && tokenbucket_wait(&b, 0) == 0);
	CHECK(tokenbucket_take(&b, 0) == 1);
	CHECK(fabs(tokenbucket_wait(&b, 0.1) - 0.4) < 1e-12);
}

static void test_capacity_allows_bursts(void)
{
	struct tokenbucket b;

	CHECK(tokenbucket_init(&b, 1, 3, 0) == 0);
	CHECK(tokenbucket_take(&b, 0) == 1 && tokenbucket_take(&b, 0) == 1 &&
	      tokenbucket_take(&b, 0) == 1 && tokenbucket_take(&b, 0) == 0);
	CHECK(tokenbucket_take(&b, 10) == 1 && tokenbucket_take(&b, 10) == 1 &&
	      tokenbucket_take(&b, 10) == 1 && tokenbucket_take(&b, 10) == 0);
	/* 1/h: an hour between starts */
	CHECK(tokenbucket_init(&b, 1.0 / 3600, 1, 0) == 0);
	CHECK(tokenbucket_take(&b, 0) == 1 && tokenbucket_take(&b, 3599) == 0);
	CHECK(tokenbucket_take(&b, 3600) == 1);
}

static void test_refused_parameters(void)
{
	struct tokenbucket b = { 7, 7, 7, 7 };

	CHECK(tokenbucket_init(&b, 0, 1, 0) == -1);
	CHECK(tokenbucket_init(&b, -1, 1, 0) == -1);
	CHECK(tokenbucket_init(&b, INFINITY, 1, 0) == -1);
	CHECK(tokenbucket_init(&b, NAN, 1, 0) == -1);
	CHECK(tokenbucket_init(&b, 1, 0.5, 0) == -1);
	CHECK(tokenbucket_init(&b, 1, NAN, 0) == -1);
	CHECK(tokenbucket_init(&b, 1, 1, NAN) == -1);
	CHECK(b.rate == 7 && b.tokens == 7);   /* untouched */
}

int main(void)
{
	RUN(test_ten_per_second);
	RUN(test_wait_is_enough);
	RUN(test_capacity_allows_bursts);
	RUN(test_refused_parameters);
	return harness_report();
}
