/* isotime: ISO-8601 <-> unix time (double seconds), for Celery's eta,
 * expires and date_done fields. Pure: no clock, no time zone database, no
 * locale; a naive timestamp is taken as UTC (callers handling a protocol v1
 * message with utc=false must decide themselves). Owns nothing. */
#ifndef TRYON_ISOTIME_H
#define TRYON_ISOTIME_H
#include <stddef.h>

/* Room for any string the formatters write, NUL included. */
#define ISOTIME_BUFSZ 40

/* Parse YYYY-MM-DD[<sep>HH:MM[:SS[.fraction]]][Z|±HH:MM|±HHMM|±HH] where
 * <sep> is 'T', 't' or ' ', the whole of s[0..len) (no trailing bytes).
 * Years 1..9999, calendar-checked. Returns 0 and *out (unix seconds), and
 * *has_offset (may be NULL) = 1 when a zone was given; -1 if malformed. */
int isotime_parse(const char *s, size_t len, double *out, int *has_offset);
/* Write t as Python's datetime.utcnow().isoformat(): naive UTC,
 * "2026-11-26T07:17:15.684415", ".ffffff" left out when the microseconds
 * round to 0. Returns the length, or -1 if t is not finite / outside years
 * 1..9999 or outlen < ISOTIME_BUFSZ. */
int isotime_format_naive(double t, char *out, size_t outlen);
/* Same with "+00:00" appended (aware UTC, as Celery writes eta/expires). */
int isotime_format_utc(double t, char *out, size_t outlen);
#endif
