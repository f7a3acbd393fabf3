/* test_latency: the decaying quantile behind the fallback plan. */
#include "harness.h"
#include "tryon/latency.h"

static void test_empty(void)
{
	struct latency_record r = { 0 };
	double w = -1;
	CHECK(latency_quantile(&r, 0.9, 0, &w) == 0 && w == 0);
	latency_add(&r, 0, 0);          /* not an observation */
	latency_add(&r, -1, 0);
	CHECK(r.count == 0);
}

static void test_p90_and_ring(void)
{
	struct latency_record r = { 0 };
	double w;
	for (int i = 1; i <= 10; i++)
		latency_add(&r, i, 0);
	CHECK(latency_quantile(&r, 0.9, 0, &w) == 9 && w == 10);
	CHECK(latency_quantile(&r, 0.5, 0, &w) == 5);
	/* The ring keeps the last LATENCY_RING. */
	for (int i = 0; i < LATENCY_RING; i++)
		latency_add(&r, 100, 1);
	CHECK(r.count == LATENCY_RING && latency_quantile(&r, 0.1, 1, &w) == 100);
}

/* An old burst of fast answers weighs little against recent slow ones. */
static void test_decay(void)
{
	struct latency_record r = { 0 };
	double w;
	for (int i = 0; i < 30; i++)
		latency_add(&r, 0.2, 0);
	for (int i = 0; i < 5; i++)
		latency_add(&r, 12, 3600);
	double q = latency_quantile(&r, 0.9, 3600, &w);
	CHECK(q == 12);
	/* 30 * 2^-6 + 5 */
	CHECK(w > 5.46 && w < 5.48);
	/* Just after the burst, the burst decides. */
	CHECK(latency_quantile(&r, 0.5, 0, &w) == 0.2);
}

int main(void)
{
	RUN(test_empty);
	RUN(test_p90_and_ring);
	RUN(test_decay);
	return harness_report();
}
