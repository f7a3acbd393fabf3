/* breaker: a circuit breaker for one model endpoint, as a pure state machine
 * over caller-supplied times. It owns nothing but its struct: no clock, no
 * I/O, no logging, no allocation. The parent keeps one per endpoint
 * (tryon_state.c); it asks for a decision before each job and feeds back the
 * outcome of each call, and logs the state changes this module reports. */
#ifndef TRYON_BREAKER_H
#define TRYON_BREAKER_H

/* Ordered by badness (the metrics gauge uses the values as they are). */
enum breaker_state {
	BREAKER_CLOSED = 0,   /* calls allowed; counting consecutive failures */
	BREAKER_HALF_OPEN = 1,/* cool-down over: one probe call decides */
	BREAKER_OPEN = 2      /* calls skipped until the cool-down ends */
};

/* What one job may do with the endpoint. ALLOW is 0 so that zeroed hints
 * (a parent that gives none) mean "call it". */
enum breaker_decision {
	BREAKER_ALLOW = 0,
	BREAKER_SKIP,
	BREAKER_PROBE         /* allowed, and this job's call is the probe */
};

/* How a finished call counts. */
enum breaker_result {
	BREAKER_SUCCESS,      /* the endpoint answered coherently (incl. 4xx) */
	BREAKER_FAILURE,      /* transient: 5xx, 408/429, transport, timeout */
	BREAKER_NEUTRAL       /* says nothing about the endpoint (cancelled,
				 bad credentials, not called) */
};

struct breaker {
	enum breaker_state state;
	int failures;         /* consecutive failures while CLOSED */
	int threshold;        /* failures that open it (>= 1) */
	double cooldown;      /* seconds OPEN before a probe is allowed */
	double probe_timeout; /* a probe not reported by then is presumed lost */
	double opened_at;
	int probing;          /* a probe decision is outstanding */
	double probe_started;
	unsigned long opens;  /* times it went CLOSED/HALF_OPEN -> OPEN */
};

/* Start CLOSED. threshold < 1 is taken as 1; cooldown and probe_timeout
 * below 0 as 0. */
void breaker_init(struct breaker *b, int threshold, double cooldown, double probe_timeout);

/* Decide for one job at time now. May move OPEN -> HALF_OPEN (cool-down
 * over); compare b->state before and after to log it. In HALF_OPEN exactly
 * one caller gets PROBE until that probe is reported, released, or older
 * than probe_timeout; the others get SKIP. */
enum breaker_decision breaker_decide(struct breaker *b, double now);

/* Report one call's result. was_probe: the call was made under a PROBE
 * decision. Returns 1 if the state changed, else 0. A probe's success
 * closes the breaker, its failure re-opens it for another cool-down, a
 * neutral result just frees the probe slot. Late results of calls allowed
 * before the breaker opened: a success closes it (the endpoint works), a
 * failure changes nothing. */
int breaker_record(struct breaker *b, enum breaker_result r, int was_probe, double now);

/* A PROBE decision was handed out but no call was made (cache hit, the
 * other model answered, the job died): let the next job probe. */
void breaker_release_probe(struct breaker *b);

/* "closed", "open", "half_open". */
const char *breaker_state_name(enum breaker_state s);
/* "allow", "skip", "probe". */
const char *breaker_decision_name(enum breaker_decision d);
#endif
