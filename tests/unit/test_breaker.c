/* Unit tests of the circuit breaker: a pure state machine, so every
 * transition is driven with explicit times. */
#include <string.h>

#include "tryon/breaker.h"
#include "harness.h"

static void test_opens_after_threshold(void)
{
	struct breaker b;

	breaker_init(&b, 3, 10, 60);
	CHECK(breaker_decide(&b, 0) == BREAKER_ALLOW);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 1) == 0);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 2) == 0);
	/* A success in between resets the count. */
	CHECK(breaker_record(&b, BREAKER_SUCCESS, 0, 3) == 0);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 4) == 0);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 5) == 0);
	/* Neutral results neither count nor reset. */
	CHECK(breaker_record(&b, BREAKER_NEUTRAL, 0, 5.5) == 0);
	CHECK(b.state == BREAKER_CLOSED);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 6) == 1);
	CHECK(b.state == BREAKER_OPEN);
	CHECK(b.opens == 1);
	CHECK(breaker_decide(&b, 7) == BREAKER_SKIP);
	CHECK(breaker_decide(&b, 15.9) == BREAKER_SKIP);
}

static void test_probe_success_closes(void)
{
	struct breaker b;

	breaker_init(&b, 1, 10, 60);
	breaker_record(&b, BREAKER_FAILURE, 0, 0);
	CHECK(b.state == BREAKER_OPEN);
	CHECK(breaker_decide(&b, 10) == BREAKER_PROBE);
	CHECK(b.state == BREAKER_HALF_OPEN);
	/* Only one probe at a time. */
	CHECK(breaker_decide(&b, 10.1) == BREAKER_SKIP);
	CHECK(breaker_decide(&b, 11) == BREAKER_SKIP);
	CHECK(breaker_record(&b, BREAKER_SUCCESS, 1, 12) == 1);
	CHECK(b.state == BREAKER_CLOSED);
	CHECK(breaker_decide(&b, 12) == BREAKER_ALLOW);
}

static void test_probe_failure_reopens(void)
{
	struct breaker b;

	breaker_init(&b, 2, 5, 60);
	breaker_record(&b, BREAKER_FAILURE, 0, 0);
	breaker_record(&b, BREAKER_FAILURE, 0, 1);
	CHECK(b.state == BREAKER_OPEN);
	CHECK(breaker_decide(&b, 6) == BREAKER_PROBE);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 1, 7) == 1);
	CHECK(b.state == BREAKER_OPEN);
	CHECK(b.opens == 2);
	/* A fresh cool-down from the probe's failure. */
	CHECK(breaker_decide(&b, 11.9) == BREAKER_SKIP);
	CHECK(breaker_decide(&b, 12) == BREAKER_PROBE);
}

static void test_probe_release_and_timeout(void)
{
	struct breaker b;

	breaker_init(&b, 1, 5, 30);
	breaker_record(&b, BREAKER_FAILURE, 0, 0);
	CHECK(breaker_decide(&b, 5) == BREAKER_PROBE);
	/* The probing job never called (cache hit): the next one probes. */
	breaker_release_probe(&b);
	CHECK(breaker_decide(&b, 6) == BREAKER_PROBE);
	/* Its job died without reporting: after probe_timeout another goes. */
	CHECK(breaker_decide(&b, 20) == BREAKER_SKIP);
	CHECK(breaker_decide(&b, 36.1) == BREAKER_PROBE);
	/* A neutral probe result frees the slot without deciding. */
	CHECK(breaker_record(&b, BREAKER_NEUTRAL, 1, 37) == 0);
	CHECK(b.state == BREAKER_HALF_OPEN);
	CHECK(breaker_decide(&b, 37) == BREAKER_PROBE);
}

static void test_late_results(void)
{
	struct breaker b;

	breaker_init(&b, 1, 100, 300);
	breaker_record(&b, BREAKER_FAILURE, 0, 0);
	/* A job allowed before it opened fails too: nothing changes. */
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 1) == 0);
	CHECK(b.opened_at == 0);
	/* ... or succeeds: the endpoint works, close it. */
	CHECK(breaker_record(&b, BREAKER_SUCCESS, 0, 2) == 1);
	CHECK(b.state == BREAKER_CLOSED);
}

static void test_names(void)
{
	CHECK(!strcmp(breaker_state_name(BREAKER_HALF_OPEN), "half_open"));
	CHECK(!strcmp(breaker_decision_name(BREAKER_PROBE), "probe"));
	CHECK(BREAKER_ALLOW == 0);
}

int main(void)
{
	RUN(test_opens_after_threshold);
	RUN(test_probe_success_closes);
	RUN(test_probe_failure_reopens);
	RUN(test_probe_release_and_timeout);
	RUN(test_late_results);
	RUN(test_names);
	return harness_report();
}
