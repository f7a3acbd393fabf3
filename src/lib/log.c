/* log: formats and writes event lines. Its two static settings are written
 * by log_init at start-up, before any other thread or child exists. Values
 * are escaped here, not by callers: every %s of a fields format is treated
 * as untrusted text (see log_vformat), so no task id or remote error can
 * add a field or a line. */
#include "lib/log.h"

#include <limits.h>
#include <pthread.h>
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
		if (sl <= 4 && (conv == 'd' || conv == 'i' || conv == 'u') && lng >= 0 && lng <= 3) {
			/* Plain %d %ld %lld %zu ... (no flags, width or precision:
			 * then sl is 2 + the length letters): digits by hand, as
			 * printf would write them, without printf's cost. */
			size_t want = 2 + (size_t)(lng == 2 ? 2 : lng ? 1 : 0);
			if (sl == want) {
				unsigned long long u;
				int neg = 0;
				if (conv == 'u')
					u = lng == 2 ? va_arg(ap, unsigned long long)
					    : lng == 1 ? va_arg(ap, unsigned long)
					    : lng == 3 ? va_arg(ap, size_t) : va_arg(ap, unsigned);
				else {
					long long v = lng == 2 ? va_arg(ap, long long)
						      : lng == 1 ? va_arg(ap, long)
						      : lng == 3 ? (long long)va_arg(ap, ssize_t) : va_arg(ap, int);
					neg = v < 0;
					u = neg ? 0ULL - (unsigned long long)v : (unsigned long long)v;
				}
				char dig[24];
				int k = 0;
				do
					dig[k++] = (char)('0' + u % 10);
				while ((u /= 10) && k < (int)sizeof dig);
				if (neg && j + 1 < outlen)
					out[j++] = '-';
				while (k > 0 && j + 1 < outlen)
					out[j++] = dig[--k];
				out[j] = '\0';
				continue;
			}
		}
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

static void emit(enum log_level level, const char *line, size_t n);

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
	emit(LOG_LEVEL_ERROR, line, n);   /* never held: start-up errors */
}

/* -- output: one write per line, or per loop round while held ------------- */

/* At most PIPE_BUF bytes: a write of that size to a pipe is atomic, so a
 * child's line never lands inside a batch of the parent's (stderr is often a
 * pipe to journald or a container runtime). */
static char held_buf[PIPE_BUF];
/* The small state written after start-up, in one 64-byte block: a forked
 * child that writes it (at_fork_child, the time stamp) copies one page, not
 * several. */
static struct {
	size_t held_len;          /* bytes in held_buf */
	int held;                 /* log_hold(1) in this process */
	time_t last_sec;          /* the second time_text was formatted for */
	size_t time_len;
	char time_text[32];       /* "time=YYYY-MM-DDTHH:MM:SS" */
} st __attribute__((aligned(64))) = { .last_sec = (time_t)-1 };

void log_flush(void)
{
	size_t off = 0;

	while (off < st.held_len) {
		ssize_t w = write(STDERR_FILENO, held_buf + off, st.held_len - off);
		if (w <= 0)
			break;   /* stderr gone: nothing better to do with the lines */
		off += (size_t)w;
	}
	st.held_len = 0;
}

/* fork: the parent's held lines go out first (in order, once), and the
 * child starts with none held: it writes its own lines at once. */
static void at_fork_child(void)
{
	st.held_len = 0;
	st.held = 0;
}

void log_hold(int on)
{
	static int registered;

	if (on && !registered)
		registered = pthread_atfork(log_flush, NULL, at_fork_child) == 0;
	if (!on || !registered)
		log_flush();
	st.held = on && registered;
}

/* One whole line out: at once, or appended to the held lines (whole lines
 * only, so the write that flushes them never splits one). Warnings and
 * errors are not held: they go out at once, after what was held before
 * them, so a crash right after one still leaves it in the log. */
static void emit(enum log_level level, const char *line, size_t n)
{
	if (st.held && level > LOG_LEVEL_WARN) {
		if (st.held_len + n > sizeof held_buf)
			log_flush();
		if (n <= sizeof held_buf) {
			memcpy(held_buf + st.held_len, line, n);
			st.held_len += n;
			return;
		}
	}
	if (st.held_len)
		log_flush();
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

/* "time=YYYY-MM-DDTHH:MM:SS" of the current second, formatted once per
 * second (strftime and gmtime_r cost more than the rest of a line). */
static size_t time_prefix(char *out, size_t size)
{
	struct timeval tv;
	size_t len;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != st.last_sec) {
		struct tm tm;
		gmtime_r(&tv.tv_sec, &tm);
		st.time_len = strftime(st.time_text, sizeof st.time_text, "time=%Y-%m-%dT%H:%M:%S", &tm);
		st.last_sec = tv.tv_sec;
	}
	len = st.time_len;
	if (len + 7 > size)
		return 0;
	memcpy(out, st.time_text, len);
	int ms = (int)(tv.tv_usec / 1000);
	out[len] = '.';
	out[len + 1] = (char)('0' + ms / 100);
	out[len + 2] = (char)('0' + ms / 10 % 10);
	out[len + 3] = (char)('0' + ms % 10);
	out[len + 4] = 'Z';
	out[len + 5] = ' ';
	return len + 6;
}

static size_t put_cstr(char *line, size_t size, size_t n, const char *s)
{
	size_t k = strlen(s);
	if (k > size - n - 1)
		k = size - n - 1;
	memcpy(line + n, s, k);
	return n + k;
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

	if (log_journal)
		n = (size_t)snprintf(line, sizeof line, "<%d>", level_prio[level]);
	else
		n = time_prefix(line, sizeof line);
	n = put_cstr(line, sizeof line, n, "level=");
	n = put_cstr(line, sizeof line, n, level_names[level]);
	n = put_cstr(line, sizeof line, n, " event=");
	n = put_cstr(line, sizeof line, n, event);
	if (body[0])
		n = put_cstr(line, sizeof line, n, " ");
	/* Escape control characters so that one event stays one line. */
	n = append_escaped(line, sizeof line, n, body);
	line[n++] = '\n';
	emit(level, line, n);
}
