/* ratelimit: log-line windows and exponential backoff, as plain arithmetic
 * over the times the caller passes in. */
#include "lib/ratelimit.h"

void ratelimit_init(struct ratelimit *rl, double interval, int burst)
{
	rl->interval = interval;
	rl->burst = burst;
	rl->window_start = 0;
	rl->used = 0;
	rl->suppressed = 0;
}

int ratelimit_allow(struct ratelimit *rl, double now, long *suppressed)
{
	if (rl->interval > 0 && rl->burst >= 1) {
		if (rl->used == 0 || now - rl->window_start >= rl->interval || now < rl->window_start) {
			rl->window_start = now;
			rl->used = 0;
		}
		if (rl->used >= rl->burst) {
			rl->suppressed++;
			return 0;
		}
		rl->used++;
	}
	if (suppressed)
		*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return 1;
}

void backoff_init(struct backoff *b, double min, double max)
{
	b->min = min > 0 ? min : 0.001;
	b->max = max >= b->min ? max : b->min;
	b->delay = b->min;
	b->failures = 0;
	b->until = 0;
}

double backoff_fail(struct backoff *b, double now)
{
	double wait = b->delay;

	b->failures++;
	b->until = now + wait;
	b->delay = wait * 2 < b->max ? wait * 2 : b->max;
	return wait;
}

void backoff_reset(struct backoff *b)
{
	b->delay = b->min;
	b->failures = 0;
	b->until = 0;
}

void backoff_hold(struct backoff *b, double until)
{
	if (until > b->until)
		b->until = until;
}

int backoff_ready(const struct backoff *b, double now)
{
	return now >= b->until;
}
