/* breaker: the transition function of the circuit breaker (see breaker.h). */
#include "tryon/breaker.h"

void breaker_init(struct breaker *b, int threshold, double cooldown, double probe_timeout)
{
	b->state = BREAKER_CLOSED;
	b->failures = 0;
	b->threshold = threshold < 1 ? 1 : threshold;
	b->cooldown = cooldown < 0 ? 0 : cooldown;
	b->probe_timeout = probe_timeout < 0 ? 0 : probe_timeout;
	b->opened_at = 0;
	b->probing = 0;
	b->probe_started = 0;
	b->opens = 0;
}

static void breaker_open(struct breaker *b, double now)
{
	b->state = BREAKER_OPEN;
	b->opened_at = now;
	b->probing = 0;
	b->failures = 0;
	b->opens++;
}

enum breaker_decision breaker_decide(struct breaker *b, double now)
{
	if (b->state == BREAKER_CLOSED)
		return BREAKER_ALLOW;
	if (b->state == BREAKER_OPEN) {
		if (now < b->opened_at + b->cooldown)
			return BREAKER_SKIP;
		/* Cool-down over: the first job from now on probes. */
		b->state = BREAKER_HALF_OPEN;
		b->probing = 0;
	}
	/* HALF_OPEN. A probe whose job died without a report must not keep
	 * the endpoint shut forever. */
	if (b->probing && now < b->probe_started + b->probe_timeout)
		return BREAKER_SKIP;
	b->probing = 1;
	b->probe_started = now;
	return BREAKER_PROBE;
}

int breaker_record(struct breaker *b, enum breaker_result r, int was_probe, double now)
{
	enum breaker_state before = b->state;

	switch (b->state) {
	case BREAKER_CLOSED:
		if (r == BREAKER_SUCCESS) {
			b->failures = 0;
		} else if (r == BREAKER_FAILURE && ++b->failures >= b->threshold) {
			breaker_open(b, now);
		}
		break;
	case BREAKER_OPEN:
		/* Only calls allowed before it opened report here. */
		if (r == BREAKER_SUCCESS) {
			b->state = BREAKER_CLOSED;
			b->failures = 0;
		}
		break;
	case BREAKER_HALF_OPEN:
		if (r == BREAKER_SUCCESS) {
			b->state = BREAKER_CLOSED;
			b->failures = 0;
			b->probing = 0;
		} else if (was_probe && r == BREAKER_FAILURE) {
			breaker_open(b, now);
		} else if (was_probe) {
			b->probing = 0;
		}
		break;
	}
	return b->state != before;
}

void breaker_release_probe(struct breaker *b)
{
	if (b->state == BREAKER_HALF_OPEN)
		b->probing = 0;
}

const char *breaker_state_name(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED: return "closed";
	case BREAKER_OPEN: return "open";
	case BREAKER_HALF_OPEN: return "half_open";
	}
	return "unknown";
}

const char *breaker_decision_name(enum breaker_decision d)
{
	switch (d) {
	case BREAKER_ALLOW: return "allow";
	case BREAKER_SKIP: return "skip";
	case BREAKER_PROBE: return "probe";
	}
	return "unknown";
}
