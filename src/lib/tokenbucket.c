/* tokenbucket: see tokenbucket.h. Unlike kombu's TokenBucket, the time
 * stamp moves on every refill, including while the bucket is full: kombu's
 * stays where it was while full, so the first token taken after a quiet spell
 * is refilled at once from the idle time and two starts pass back to back. */
#include "lib/tokenbucket.h"

#include <math.h>

/* A token short by less than this counts as whole: the wait tokenbucket_wait
 * gives must be enough when waited, whatever the rounding of rate * wait. */
#define SLACK 1e-9

int tokenbucket_init(struct tokenbucket *b, double rate, double capacity,
		     double now)
{
	if (!(rate > 0) || !isfinite(rate) || !(capacity >= 1) ||
	    !isfinite(capacity) || !isfinite(now))
		return -1;
	b->rate = rate;
	b->capacity = capacity;
	b->tokens = capacity;
	b->stamp = now;
	return 0;
}

static void refill(struct tokenbucket *b, double now)
{
	if (now > b->stamp) {
		b->tokens += (now - b->stamp) * b->rate;
		if (b->tokens > b->capacity)
			b->tokens = b->capacity;
		b->stamp = now;
	}
}

int tokenbucket_take(struct tokenbucket *b, double now)
{
	refill(b, now);
	if (b->tokens < 1 - SLACK)
		return 0;
	b->tokens -= 1;
	return 1;
}

double tokenbucket_wait(struct tokenbucket *b, double now)
{
	refill(b, now);
	if (b->tokens >= 1 - SLACK)
		return 0;
	return (1 - b->tokens) / b->rate;
}
