/* latency: decayed weighted quantiles over a ring. Pure. */
#include "tryon/latency.h"

#include <math.h>
#include <stdlib.h>

void latency_add(struct latency_record *r, double value, double now)
{
	if (!(value > 0))
		return;
	r->value[r->next] = value;
	r->at[r->next] = now;
	r->next = (r->next + 1) % LATENCY_RING;
	if (r->count < LATENCY_RING)
		r->count++;
}

struct obs {
	double v, w;
};

static int by_value(const void *a, const void *b)
{
	double x = ((const struct obs *)a)->v, y = ((const struct obs *)b)->v;
	return x < y ? -1 : x > y;
}

double latency_quantile(const struct latency_record *r, double q, double now, double *weight)
{
	struct obs o[LATENCY_RING];
	double total = 0;

	for (int i = 0; i < r->count; i++) {
		double age = now - r->at[i];
		o[i].v = r->value[i];
		o[i].w = pow(0.5, (age > 0 ? age : 0) / LATENCY_HALF_LIFE);
		total += o[i].w;
	}
	*weight = total;
	if (r->count == 0 || total <= 0)
		return 0;
	qsort(o, (size_t)r->count, sizeof o[0], by_value);
	double want = q * total, acc = 0;
	for (int i = 0; i < r->count; i++) {
		acc += o[i].w;
		if (acc >= want)
			return o[i].v;
	}
	return o[r->count - 1].v;
}
