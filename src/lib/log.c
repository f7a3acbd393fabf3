/* log: formats and writes event lines. Its two static settings are written
 * by log_init at start-up, before any other thread or child exists. */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
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

const char *log_quote(char *dst, unsigned dstlen, const char *s)
{
	unsigned j = 0;

	if (dstlen < 3) {
		if (dstlen)
			dst[0] = '\0';
		return dst;
	}
	dst[j++] = '"';
	for (; *s && j + 3 < dstlen; s++) {
		if (*s == '"' || *s == '\\')
			dst[j++] = '\\';
		dst[j++] = *s;
	}
	dst[j++] = '"';
	dst[j] = '\0';
	return dst;
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
	vsnprintf(body, sizeof body, fields, ap);
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
