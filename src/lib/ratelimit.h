/* ratelimit: how often a recurring failure may be logged, and how long to
 * wait before trying again after it. Pure: the caller passes the time (any
 * clock that does not go back) and owns the state; nothing here logs,
 * sleeps or reads a clock. A refused log line is counted, so the next line
 * written can say how many were suppressed. */
#ifndef TRYON_RATELIMIT_H
#define TRYON_RATELIMIT_H

/* At most burst lines per interval seconds (a fixed window that starts at
 * the first line after the previous window ended). */
struct ratelimit {
	double interval;
	int burst;
	double window_start;
	int used;               /* lines allowed in this window */
	long suppressed;        /* refused since the last allowed line */
};

/* interval <= 0 or burst < 1 allow every line. */
void ratelimit_init(struct ratelimit *rl, double interval, int burst);
/* 1 if a line may be written at now: *suppressed (may be NULL) then gets
 * how many were refused since the last line written, and that count
 * restarts. 0 if not: the line is counted as suppressed. */
int ratelimit_allow(struct ratelimit *rl, double now, long *suppressed);

/* Exponential backoff: after each failure in a row the wait doubles, from
 * min to at most max; a success starts over. */
struct backoff {
	double min, max;
	double delay;           /* the wait after the next failure */
	int failures;           /* in a row */
	double until;           /* no attempt before this time */
};

/* min > 0 and max >= min are expected; others are clamped so. */
void backoff_init(struct backoff *b, double min, double max);
/* A failure at now: returns the wait chosen (until = now + wait). */
double backoff_fail(struct backoff *b, double now);
/* A success: no wait, and the next failure waits min again. */
void backoff_reset(struct backoff *b);
/* No attempt before until (if that is later than already set), without
 * counting a failure: a pause, such as an idle wait. */
void backoff_hold(struct backoff *b, double until);
/* 1 if an attempt may be made at now. */
int backoff_ready(const struct backoff *b, double now);
#endif
