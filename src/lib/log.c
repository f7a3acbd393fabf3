/* log: formats and writes event lines. Its two static settings are written
 * by log_init at start-up, before any other thread or child exists. Values
 * are escaped here, not by callers: every %s of a fields format is treated
 * as untrusted text (see log_vformat), so no task id or remote error can
 * add a field or a line. */
#include "lib/log.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_threshold = LOG_LEVEL_INFO;
static int log_journal;

static const char *const level_names[] = { "error", "warn", "info", "debug" };
/* syslog priorities: err, warning, info, debug */
static const int level_prio[] = { 3, 4, 6, 7 };

int log_level_parse(const char *s, enum log_level *out)
{
	if (!strcasecmp(s, "error")) *out = LOG_LEVEL_ERROR;
	else if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning")) *out = LOG_LEVEL_WARN;
	else if (!strcasecmp(s, "info")) *out = LOG_LEVEL_INFO;
	else if (!strcasecmp(s, "debug")) *out = LOG_LEVEL_DEBUG;
	else return -1;
	return 0;
}

void log_init(enum log_level level, int journal)
{
	log_threshold = level;
	log_journal = journal;
}

int log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

/* A byte that may stand in a bare logfmt value. Anything else (space,
 * quote, '=', backslash, control or non-ASCII bytes) makes the value quoted,
 * so that no value can look like another key=value pair. */
static int bare_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '=' && c != '\\';
}

/* Append the escaped form of byte c (inside quotes) to dst[*j..], if it
 * fits with room for the closing quote and NUL. */
static int put_escaped(char *dst, size_t dstlen, size_t *j, unsigned char c)
{
	char tmp[5];
	size_t k = 0;

	if (c == '"' || c == '\\') {
		tmp[k++] = '\\';
		tmp[k++] = (char)c;
	} else if (c == '\n') {
		tmp[k++] = '\\';
		tmp[k++] = 'n';
	} else if (c == '\t') {
		tmp[k++] = '\\';
		tmp[k++] = 't';
	} else if (c == '\r') {
		tmp[k++] = '\\';
		tmp[k++] = 'r';
	} else if (c < 0x20 || c >= 0x7f) {
		static const char hex[] = "0123456789abcdef";
		tmp[k++] = '\\';
		tmp[k++] = 'x';
		tmp[k++] = hex[c >> 4];
		tmp[k++] = hex[c & 15];
	} else {
		tmp[k++] = (char)c;
	}
	if (*j + k + 2 > dstlen)
		return -1;
	memcpy(dst + *j, tmp, k);
	*j += k;
	return 0;
}

size_t log_value_n(char *dst, size_t dstlen, const char *s, size_t n, int always_quote)
{
	size_t i, j = 0;
	int bare = !always_quote && n > 0;

	if (!dstlen)
		return 0;
	for (i = 0; bare && i < n; i++)
		bare = bare_ok((unsigned char)s[i]);
	if (bare) {
		j = n < dstlen - 1 ? n : dstlen - 1;
		memcpy(dst, s, j);
		dst[j] = '\0';
		return j;
	}
	if (dstlen < 3) {
		dst[0] = '\0';
		return 0;
	}
	dst[j++] = '"';
	for (i = 0; i < n; i++)
		if (put_escaped(dst, dstlen, &j, (unsigned char)s[i]) < 0)
			break;
	dst[j++] = '"';
	dst[j] = '\0';
	return j;
}

const char *log_value(char *dst, size_t dstlen, const char *s)
{
	log_value_n(dst, dstlen, s ? s : "", s ? strlen(s) : 0, 0);
	return dst;
}

const char *log_quote(char *dst, unsigned dstlen, const char *s)
{
	log_value_n(dst, dstlen, s ? s : "", s ? strlen(s) : 0, 1);
	return dst;
}

/* 1 if s[0..n) is one complete quoted value as log_value_n writes it: it
 * then goes into a line unchanged (callers that used log_quote). */
static int is_quoted_value(const char *s, size_t n)
{
	size_t i;

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return 0;
	for (i = 1; i < n - 1; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	}
	return i == n - 1;
}

/* out[*j..) += s[0..n) as the format context asks (see log_format). */
static void put_string(char *out, size_t outlen, size_t *j, const char *s, size_t n, int in_quotes,
		       int after_eq)
{
	if (*j + 1 >= outlen)
		return;
	if (in_quotes) {
		for (size_t i = 0; i < n; i++)
			if (put_escaped(out, outlen - 1, j, (unsigned char)s[i]) < 0)
				break;
	} else if (after_eq && is_quoted_value(s, n)) {
		size_t k = n < outlen - 1 - *j ? n : outlen - 1 - *j;
		memcpy(out + *j, s, k);
		*j += k;
	} else if (after_eq) {
		*j += log_value_n(out + *j, outlen - *j, s, n, 0);
	} else {
		/* Not a value of its own: fields the caller assembled itself
		 * (" eta=1"), whose values went through log_value. */
		size_t k = n < outlen - 1 - *j ? n : outlen - 1 - *j;
		memcpy(out + *j, s, k);
		*j += k;
	}
	out[*j] = '\0';
}

size_t log_vformat(char *out, size_t outlen, const char *fmt, va_list ap)
{
	size_t j = 0;
	int in_quotes = 0;
	const char *p = fmt;

	if (!outlen)
		return 0;
	out[0] = '\0';
	while (*p && j + 1 < outlen) {
		if (*p != '%') {
			if (*p == '"' && (p == fmt || p[-1] != '\\'))
				in_quotes = !in_quotes;
			out[j++] = *p++;
			out[j] = '\0';
			continue;
		}
		/* One conversion: %[flags][width][.prec][length]conv. */
		const char *start = p++;
		int after_eq = start > fmt && start[-1] == '=';
		int width = 0, prec = -1, has_w = 0, has_p = 0, numw = 0, left = 0;
		char spec[32], tmp[512];
		while (*p && strchr("-+ #0", *p))
			left |= *p++ == '-';
		if (*p == '*') {
			width = va_arg(ap, int);
			has_w = 1;
			p++;
		} else {
			while (*p >= '0' && *p <= '9' && numw < 10000)
				numw = numw * 10 + (*p++ - '0');
		}
		if (*p == '.') {
			p++;
			if (*p == '*') {
				prec = va_arg(ap, int);
				has_p = 1;
				p++;
			} else {
				prec = 0;
				while (*p >= '0' && *p <= '9')
					prec = prec * 10 + (*p++ - '0');
			}
		}
		int lng = 0; /* 1 l, 2 ll, 3 z, 4 j, 5 t, 6 L, -1 h, -2 hh */
		if (*p == 'h') {
			lng = -1;
			if (*++p == 'h') {
				lng = -2;
				p++;
			}
		} else if (*p == 'l') {
			lng = 1;
			if (*++p == 'l') {
				lng = 2;
				p++;
			}
		} else if (*p == 'z' || *p == 'j' || *p == 't' || *p == 'L') {
			lng = *p == 'z' ? 3 : *p == 'j' ? 4 : *p == 't' ? 5 : 6;
			p++;
		}
		char conv = *p ? *p++ : '\0';
		size_t sl = (size_t)(p - start);
		if (!conv || sl >= sizeof spec)
			break;
		memcpy(spec, start, sl);
		spec[sl] = '\0';
		int w = -1;
#define FMT_ARG(T) (has_w && has_p ? (w = snprintf(tmp, sizeof tmp, spec, width, prec, va_arg(ap, T))) \
		     : has_w ? (w = snprintf(tmp, sizeof tmp, spec, width, va_arg(ap, T)))            \
		     : has_p ? (w = snprintf(tmp, sizeof tmp, spec, prec, va_arg(ap, T)))             \
			     : (w = snprintf(tmp, sizeof tmp, spec, va_arg(ap, T))))
		switch (conv) {
		case '%':
			tmp[0] = '%';
			w = 1;
			break;
		case 'd': case 'i':
			if (lng == 1) FMT_ARG(long);
			else if (lng == 2) FMT_ARG(long long);
			else if (lng == 3) FMT_ARG(ssize_t);
			else if (lng == 4) FMT_ARG(intmax_t);
			else if (lng == 5) FMT_ARG(ptrdiff_t);
			else FMT_ARG(int);
			break;
		case 'u': case 'x': case 'X': case 'o':
			if (lng == 1) FMT_ARG(unsigned long);
			else if (lng == 2) FMT_ARG(unsigned long long);
			else if (lng == 3) FMT_ARG(size_t);
			else if (lng == 4) FMT_ARG(uintmax_t);
			else if (lng == 5) FMT_ARG(ptrdiff_t);
			else FMT_ARG(unsigned);
			break;
		case 'c':
			FMT_ARG(int);
			break;
		case 'p':
			FMT_ARG(void *);
			break;
		case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'a': case 'A':
			if (lng == 6) FMT_ARG(long double);
			else FMT_ARG(double);
			break;
		case 's': {
			const char *sv = va_arg(ap, const char *);
			if (!sv)
				sv = "(null)";
			size_t n = prec >= 0 ? strnlen(sv, (size_t)prec) : strlen(sv);
			if (width || numw) {
				/* Padding (%-12s): laid out first, escaped as one. */
				int pad = has_w ? width : numw;
				int k = snprintf(tmp, sizeof tmp, "%*.*s", left && pad > 0 ? -pad : pad, (int)n, sv);
				put_string(out, outlen, &j, tmp, k < 0 ? 0 : strnlen(tmp, sizeof tmp), in_quotes,
					   after_eq);
			} else {
				put_string(out, outlen, &j, sv, n, in_quotes, after_eq);
			}
			continue;
		}
		default:
			/* %n and unknown conversions: nothing (and no argument
			 * can be taken safely after them). */
			out[j] = '\0';
			return j;
		}
#undef FMT_ARG
		if (w > 0) {
			if (conv == 'c')
				put_string(out, outlen, &j, tmp, (size_t)w < sizeof tmp ? (size_t)w : sizeof tmp - 1,
					   in_quotes, after_eq);
			else
				for (int k = 0; k < w && k < (int)sizeof tmp - 1 && j + 1 < outlen; k++)
					out[j++] = tmp[k];
			out[j] = '\0';
		}
	}
	return j;
}

size_t log_format(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = log_vformat(out, outlen, fmt, ap);
	va_end(ap);
	return n;
}

/* Append text to line[n..] with control characters escaped; returns the
 * new length, leaving room for the newline. */
static size_t append_escaped(char *line, size_t size, size_t n, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p && n + 5 < size; p++) {
		if (*p < 0x20 || *p == 0x7f)
			n += (size_t)snprintf(line + n, size - n, "\\x%02x", *p);
		else
			line[n++] = (char)*p;
	}
	return n;
}

void log_plain(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	char body[1800];
	size_t n = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	if (log_journal)
		n = (size_t)snprintf(line, sizeof line, "<%d>", level_prio[level]);
	n = append_escaped(line, sizeof line, n, body);
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

void log_event(enum log_level level, const char *event, const char *fields, ...)
{
	char line[2048];
	char body[1800];
	size_t n = 0;
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fields);
	log_vformat(body, sizeof body, fields, ap);
	va_end(ap);

	if (log_journal) {
		n = (size_t)snprintf(line, sizeof line, "<%d>", level_prio[level]);
	} else {
		struct timeval tv;
		struct tm tm;
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n = strftime(line, sizeof line, "time=%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ ",
				      (long)(tv.tv_usec / 1000));
	}
	n += (size_t)snprintf(line + n, sizeof line - n, "level=%s event=%s%s",
			      level_names[level], event, body[0] ? " " : "");
	/* Escape control characters so that one event stays one line. */
	n = append_escaped(line, sizeof line, n, body);
	line[n++] = '\n';
	/* One write per line keeps lines whole when children log too. */
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
