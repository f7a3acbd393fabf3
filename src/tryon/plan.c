/* plan: the fallback rules. Pure. */
#include "tryon/plan.h"

#include <string.h>

#define NEVER 1e18

static double min2(double a, double b)
{
	return a < b ? a : b;
}

static double scale(const struct plan_params *p)
{
	double s = p->deadline / PLAN_SEED_SOFT_LIMIT;
	return s < 1 ? (s > 0 ? s : 0) : 1;
}

double plan_expected(const struct plan_params *p, int backup)
{
	const struct plan_latency *o = backup ? &p->backup : &p->primary;
	double prior = (backup ? p->backup_prior : p->primary_prior) * scale(p);

	if (o->q > 0 && o->n >= PLAN_MIN_OBS)
		return o->q;
	return o->q > prior ? o->q : prior;
}

double plan_margin(const struct plan_params *p)
{
	/* One submit and one result GET, plus a poll gap: 4 % of the soft
	 * limit, between 0.2 s and 1 s (1 s at the seed's 25 s). */
	double m = p->deadline * 0.04;
	return m < 0.2 ? 0.2 : m > 1.0 ? 1.0 : m;
}

double plan_give_up_at(const struct plan_params *p)
{
	return p->deadline - (plan_expected(p, 1) + plan_margin(p));
}

enum plan_step plan_next(const struct plan_params *p, const struct plan_view *v, double *wake)
{
	double give_up = plan_give_up_at(p);
	double margin = plan_margin(p);
	double backup_done = v->now + plan_expected(p, 1) + margin;

	*wake = NEVER;
	if (!v->backup_allowed || v->backup != PLAN_REQ_NONE)
		return PLAN_WAIT;
	switch (v->primary) {
	case PLAN_REQ_DONE:
		return PLAN_WAIT;
	case PLAN_REQ_NONE:
	case PLAN_REQ_FAILED:
		/* Even when it cannot finish before this job's deadline: a
		 * recorded request survives the job, and the retry resumes it. */
		return PLAN_SUBMIT_BACKUP;
	case PLAN_REQ_QUEUED: {
		/* A queued primary costs nothing to cancel. Hedging it is free
		 * too as long as the job cancels whichever of the two is still
		 * queued once the other runs (cost mode does). */
		double hedge = p->hedge_after > 0 ? v->primary_submitted + p->hedge_after : NEVER;
		if (v->now >= give_up)
			return PLAN_SWITCH;
		if (v->now >= hedge)
			return PLAN_HEDGE;
		*wake = min2(give_up, hedge);
		return PLAN_WAIT;
	}
	case PLAN_REQ_RUNNING: {
		/* A computing primary is paid for. In cost mode it is given up
		 * only when the backup can still beat it: it is hung (running
		 * well past its expected latency), or it cannot finish before
		 * the deadline while the backup can. */
		double expected = plan_expected(p, 0);
		double primary_done = v->primary_submitted + expected + margin;
		double hung_at = v->primary_submitted + expected * PLAN_HUNG_FACTOR;
		if (p->mode == PLAN_LATENCY) {
			if (v->now >= give_up || v->now >= hung_at)
				return PLAN_HEDGE;
			*wake = min2(give_up, hung_at);
			return PLAN_WAIT;
		}
		int backup_fits = backup_done <= p->deadline;
		if (backup_fits && v->now >= hung_at)
			return PLAN_SWITCH;
		if (backup_fits && v->now >= give_up && primary_done > p->deadline && backup_done < primary_done)
			return PLAN_SWITCH;
		/* Wake when either rule may start to hold, while the backup
		 * still fits; after that only the primary's own end matters. */
		double last = p->deadline - plan_expected(p, 1) - margin;
		if (hung_at <= last)
			*wake = hung_at;
		if (give_up > v->now && give_up <= last && give_up < *wake)
			*wake = give_up;
		return PLAN_WAIT;
	}
	}
	return PLAN_WAIT;
}

const char *plan_step_name(enum plan_step s)
{
	switch (s) {
	case PLAN_SUBMIT_BACKUP: return "submit_backup";
	case PLAN_HEDGE: return "hedge";
	case PLAN_SWITCH: return "switch";
	default: return "wait";
	}
}

int plan_mode_parse(const char *s)
{
	if (!strcmp(s, "cost"))
		return PLAN_COST;
	if (!strcmp(s, "latency"))
		return PLAN_LATENCY;
	return -1;
}

const char *plan_mode_name(enum plan_mode m)
{
	return m == PLAN_LATENCY ? "latency" : "cost";
}
