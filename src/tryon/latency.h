/* latency: a small decaying record of one model's observed latencies and
 * its high quantile, for the fallback plan (tryon/plan.h). The last
 * LATENCY_RING observations are kept with their times; each weighs
 * 0.5^(age / half-life), so a burst of fast answers an hour ago counts for
 * little and the quantile follows what the model does now. Pure: callers
 * pass now; no allocation. */
#ifndef TRYON_LATENCY_H
#define TRYON_LATENCY_H

#define LATENCY_RING 64
#define LATENCY_HALF_LIFE 600.0   /* seconds */

struct latency_record {
	double value[LATENCY_RING];
	double at[LATENCY_RING];
	int next, count;
};

/* Record one observation (seconds, > 0) made at time now. */
void latency_add(struct latency_record *r, double value, double now);
/* The weighted q-quantile (0 < q < 1) at time now, and in *weight the
 * decayed number of observations behind it. 0 (and weight 0) when empty. */
double latency_quantile(const struct latency_record *r, double q, double now, double *weight);
#endif
