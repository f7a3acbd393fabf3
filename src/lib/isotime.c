/* isotime: civil-calendar arithmetic by hand (Howard Hinnant's
 * days_from_civil) so nothing depends on TZ, timegm or the C library. */
#include "lib/isotime.h"

#include <math.h> /* isfinite is a macro, no libm needed */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 ? 28 + leap : dm[m - 1];
}

/* Exactly n digits at s[*i]. */
static int digits(const char *s, size_t len, size_t *i, int n, int *out)
{
	int v = 0, k;

	if (len - *i < (size_t)n)
		return -1;
	for (k = 0; k < n; k++) {
		char c = s[*i + (size_t)k];

		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*i += (size_t)n;
	*out = v;
	return 0;
}

static int expect(const char *s, size_t len, size_t *i, char c)
{
	if (*i >= len || s[*i] != c)
		return -1;
	(*i)++;
	return 0;
}

int isotime_parse(const char *s, size_t len, double *out, int *has_offset)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0, zone = 0;
	double frac = 0;
	size_t i = 0;

	if (digits(s, len, &i, 4, &y) || expect(s, len, &i, '-') ||
	    digits(s, len, &i, 2, &mo) || expect(s, len, &i, '-') ||
	    digits(s, len, &i, 2, &d))
		return -1;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if (i < len) {
		if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
			return -1;
		i++;
		if (digits(s, len, &i, 2, &h) || expect(s, len, &i, ':') ||
		    digits(s, len, &i, 2, &mi))
			return -1;
		if (i < len && s[i] == ':') {
			i++;
			if (digits(s, len, &i, 2, &sec))
				return -1;
			if (i < len && s[i] == '.') {
				double scale = 0.1;
				size_t start = ++i;

				while (i < len && s[i] >= '0' && s[i] <= '9') {
					frac += (s[i] - '0') * scale;
					scale /= 10;
					i++;
				}
				if (i == start)
					return -1;
			}
		}
		if (h > 23 || mi > 59 || sec > 59)
			return -1;
		if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
			i++;
			zone = 1;
		} else if (i < len && (s[i] == '+' || s[i] == '-')) {
			int sign = s[i] == '-' ? -1 : 1, oh, om = 0;

			i++;
			if (digits(s, len, &i, 2, &oh))
				return -1;
			if (i < len && s[i] == ':') {
				i++;
				if (digits(s, len, &i, 2, &om))
					return -1;
			} else if (i < len && digits(s, len, &i, 2, &om)) {
				return -1;
			}
			if (oh > 23 || om > 59)
				return -1;
			off = sign * (oh * 3600 + om * 60);
			zone = 1;
		}
	}
	if (i != len)
		return -1;
	*out = (double)(days_from_civil(y, mo, d) * 86400 + h * 3600 +
			mi * 60 + sec - off) + frac;
	if (has_offset)
		*has_offset = zone;
	return 0;
}

static int format(double t, char *out, size_t outlen, const char *suffix)
{
	double fl;
	int64_t secs, days, rem, us;
	int y, m, d, n;

	if (!isfinite(t) || outlen < ISOTIME_BUFSZ)
		return -1;
	/* 253402300800 = 10000-01-01; -62135596800 = 0001-01-01. */
	if (t < -62135596800.0 || t >= 253402300800.0)
		return -1;
	/* By hand rather than floor/llround: no libm in the link. */
	secs = (int64_t)t;
	if ((double)secs > t)
		secs--;
	fl = (double)secs;
	us = (int64_t)((t - fl) * 1e6 + 0.5);
	if (us >= 1000000) {
		secs++;
		us -= 1000000;
	}
	days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	rem = secs - days * 86400;
	civil_from_days(days, &y, &m, &d);
	if (y > 9999)
		return -1;
	n = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d,
		     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	if (us)
		n += snprintf(out + n, outlen - (size_t)n, ".%06d", (int)us);
	n += snprintf(out + n, outlen - (size_t)n, "%s", suffix);
	return n;
}

int isotime_format_naive(double t, char *out, size_t outlen)
{
	return format(t, out, outlen, "");
}

int isotime_format_utc(double t, char *out, size_t outlen)
{
	return format(t, out, outlen, "+00:00");
}
