/* tokenbucket: how often something may start, as a token bucket (kombu's
 * TokenBucket, which Celery's rate limits use: rate tokens a second, at most
 * capacity held, full at first). Pure: the caller passes the time (any
 * monotonic clock, seconds) and owns the struct; no allocation, no clock, no
 * I/O. It must not queue anything: who waits, and in what order, is the
 * caller's business. */
#ifndef TRYON_TOKENBUCKET_H
#define TRYON_TOKENBUCKET_H

struct tokenbucket {
	double rate;      /* tokens added per second, > 0 */
	double capacity;  /* most tokens held, >= 1 */
	double tokens;    /* held at `stamp` */
	double stamp;     /* when tokens was last brought up to date */
};

/* A full bucket at time now. rate must be > 0 and finite, capacity >= 1:
 * returns 0, or -1 (b untouched) for anything else. */
int tokenbucket_init(struct tokenbucket *b, double rate, double capacity,
		     double now);
/* Take one token at time now if one is there: 1 taken, 0 not (nothing
 * changes but the refill). A clock that goes back refills nothing. */
int tokenbucket_take(struct tokenbucket *b, double now);
/* Seconds from now until tokenbucket_take would succeed: 0 when it would
 * now. Refills like take; takes nothing. */
double tokenbucket_wait(struct tokenbucket *b, double now);
#endif
