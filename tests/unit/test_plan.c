/* test_plan: the fallback rules at the seed's numbers and time-scaled. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "tryon/plan.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static struct plan_params seed(enum plan_mode mode)
{
	struct plan_params p = { mode, 25.0, 20.0, 12.0, 0, { 0, 0 }, { 0, 0 } };
	return p;
}

static void test_priors_scale_and_hold_until_enough_observations(void)
{
	struct plan_params p = seed(PLAN_COST);
	CHECK(NEAR(plan_expected(&p, 1), 12.0));
	CHECK(NEAR(plan_margin(&p), 1.0));
	CHECK(NEAR(plan_give_up_at(&p), 12.0));        /* 25 - (12 + 1) */
	p.deadline = 2.5;                               /* time-scaled 1/10 */
	CHECK(NEAR(plan_expected(&p, 1), 1.2));
	CHECK(NEAR(plan_expected(&p, 0), 2.0));
	CHECK(NEAR(plan_margin(&p), 0.2));
	/* A few fast backups cannot pull the plan below the prior ... */
	p.deadline = 8;
	p.backup = (struct plan_latency){ 0.2, 5 };
	CHECK(NEAR(plan_expected(&p, 1), 12.0 * 8 / 25));
	/* ... a slow one raises it at once ... */
	p.backup = (struct plan_latency){ 5.0, 1 };
	CHECK(NEAR(plan_expected(&p, 1), 5.0));
	/* ... and enough observations replace it. */
	p.backup = (struct plan_latency){ 0.5, PLAN_MIN_OBS };
	CHECK(NEAR(plan_expected(&p, 1), 0.5));
}

/* With no faults the primary is never paid for twice: a running primary at
 * the seed's numbers is kept past the give-up point. */
static void test_healthy_primary_is_kept(void)
{
	struct plan_params p = seed(PLAN_COST);
	double wake;
	for (double t = 0; t < 25; t += 0.5) {
		struct plan_view v = { t, PLAN_REQ_RUNNING, PLAN_REQ_NONE, 0, 1 };
		CHECK(plan_next(&p, &v, &wake) == PLAN_WAIT);
	}
	/* Time-scaled (primary 1-2 s, soft limit 2.5 s): the same. */
	p.deadline = 2.5;
	for (double t = 0; t < 2.5; t += 0.05) {
		struct plan_view v = { t, PLAN_REQ_RUNNING, PLAN_REQ_NONE, 0, 1 };
		CHECK(plan_next(&p, &v, &wake) == PLAN_WAIT);
	}
}

static void test_failed_primary_goes_to_backup_at_once(void)
{
	struct plan_params p = seed(PLAN_COST);
	double wake;
	struct plan_view v = { 18.0, PLAN_REQ_FAILED, PLAN_REQ_NONE, 0, 1 };
	CHECK(plan_next(&p, &v, &wake) == PLAN_SUBMIT_BACKUP);
	v.backup_allowed = 0;
	CHECK(plan_next(&p, &v, &wake) == PLAN_WAIT);
	v.backup_allowed = 1;
	v.primary = PLAN_REQ_NONE;      /* breaker skipped the primary */
	CHECK(plan_next(&p, &v, &wake) == PLAN_SUBMIT_BACKUP);
}

static void test_queued_primary_switches_free(void)
{
	struct plan_params p = seed(PLAN_COST);
	double wake;
	struct plan_view v = { 1.0, PLAN_REQ_QUEUED, PLAN_REQ_NONE, 0, 1 };
	CHECK(plan_next(&p, &v, &wake) == PLAN_WAIT && NEAR(wake, 12.0));
	v.now = 12.0;
	CHECK(plan_next(&p, &v, &wake) == PLAN_SWITCH);
	p.hedge_after = 3;
	v.now = 1.0;
	CHECK(plan_next(&p, &v, &wake) == PLAN_WAIT && NEAR(wake, 3.0));
	v.now = 3.0;
	CHECK(plan_next(&p, &v, &wake) == PLAN_HEDGE);    /* both queued: free until one runs */
	p.mode = PLAN_LATENCY;
	CHECK(plan_next(&p, &v, &wake) == PLAN_HEDGE);
	v.now = 12.0;                                     /* still queued at the give-up point */
	CHECK(plan_next(&p, &v, &wake) == PLAN_SWITCH);
}

/* A hung primary is switched while the backup still fits. */
static void test_hung_primary(void)
{
	struct plan_params p = seed(PLAN_COST);
	p.deadline = 8;
	p.primary_prior = 4;    /* normal primary ~1.3 s at this scale */
	double wake, e = plan_expected(&p, 0);
	struct plan_view v = { 0.5, PLAN_REQ_RUNNING, PLAN_REQ_NONE, 0, 1 };
	CHECK(plan_next(&p, &v, &wake) == PLAN_WAIT && NEAR(wake, e * PLAN_HUNG_FACTOR));
	v.now = wake;
	CHECK(plan_next(&p, &v, &wake) == PLAN_SWITCH);
	/* After a few fast backups the switch still leaves the prior's time. */
	p.backup = (struct plan_latency){ 0.2, 4 };
	CHECK(v.now + plan_expected(&p, 1) + plan_margin(&p) <= p.deadline);
	/* At the seed's numbers a hung primary cannot be rescued in this job:
	 * keep it (the retry resumes it and switches then). */
	p = seed(PLAN_COST);
	v = (struct plan_view){ 24.0, PLAN_REQ_RUNNING, PLAN_REQ_NONE, 0, 1 };
	CHECK(plan_next(&p, &v, &wake) == PLAN_WAIT);
	/* Resumed in the retry: submitted 26 s before its start. */
	v = (struct plan_view){ 0.1, PLAN_REQ_RUNNING, PLAN_REQ_NONE, -26.0, 1 };
	CHECK(plan_next(&p, &v, &wake) == PLAN_SWITCH);
}

/* A running primary that cannot make the deadline is given up at the
 * give-up point when the backup can. */
static void test_late_primary_switched_when_backup_beats_it(void)
{
	struct plan_params p = seed(PLAN_COST);
	p.primary = (struct plan_latency){ 30.0, 20 };   /* observed: slow */
	double wake;
	struct plan_view v = { 5.0, PLAN_REQ_RUNNING, PLAN_REQ_NONE, 0, 1 };
	CHECK(plan_next(&p, &v, &wake) == PLAN_WAIT && NEAR(wake, 12.0));
	v.now = 12.0;
	CHECK(plan_next(&p, &v, &wake) == PLAN_SWITCH);
	p.mode = PLAN_LATENCY;
	CHECK(plan_next(&p, &v, &wake) == PLAN_HEDGE);
}

static void test_names(void)
{
	CHECK(plan_mode_parse("cost") == PLAN_COST && plan_mode_parse("latency") == PLAN_LATENCY);
	CHECK(plan_mode_parse("cheap") == -1);
	CHECK(!strcmp(plan_step_name(PLAN_SWITCH), "switch") && !strcmp(plan_mode_name(PLAN_LATENCY), "latency"));
}

int main(void)
{
	RUN(test_priors_scale_and_hold_until_enough_observations);
	RUN(test_healthy_primary_is_kept);
	RUN(test_failed_primary_goes_to_backup_at_once);
	RUN(test_queued_primary_switches_free);
	RUN(test_hung_primary);
	RUN(test_late_primary_switched_when_backup_beats_it);
	RUN(test_names);
	return harness_report();
}
