/* clock: the program's two clocks. clock_mono is for deadlines, timeouts and
 * durations (CLOCK_MONOTONIC: never jumps); clock_wall is for what Celery and
 * people read (ETAs, expiry, date_done, log time stamps). Both in seconds as
 * a double. No state. */
#ifndef TRYON_CLOCK_H
#define TRYON_CLOCK_H

/* Seconds on CLOCK_MONOTONIC. */
double clock_mono(void);
/* Seconds since the Unix epoch (CLOCK_REALTIME), microsecond resolution. */
double clock_wall(void);
#endif
