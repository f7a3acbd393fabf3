/* log: one line per event on stderr, shape
 *   level=info event=worker.ready key=value ...
 * with a time stamp first unless journald adds its own (JOURNAL_STREAM set,
 * then a syslog <N> priority prefix instead). The level and mode are set at
 * start-up by main (log_init); besides them this module keeps only the
 * lines held for one loop round (log_hold). Callers
 * never pass secrets: URLs go through redis_url_redact first. */
#ifndef TRYON_LOG_H
#define TRYON_LOG_H
#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Parse "error|warn|warning|info|debug" (case-insensitive). 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);
/* journal: nonzero to write syslog priority prefixes and no time stamp.
 * main calls it first with the default level, so that errors found while
 * loading the configuration already carry their priority, and again once
 * TRYON_LOG_LEVEL is known. */
void log_init(enum log_level level, int journal);
int log_enabled(enum log_level level);
/* fields: printf format producing "key=value key2=value2". Every %s
 * argument is escaped by the formatter (log_vformat), so callers pass
 * untrusted text as is: after "key=" it becomes a logfmt value, quoted when
 * it holds a space, quote, '=', backslash, control or non-ASCII byte;
 * inside quotes of the format (reason="...: %s") quotes and backslashes are
 * escaped; elsewhere (appended " k=v" fields) it is copied, so such field
 * strings must be built with log_value. Control characters are escaped, so
 * one event is always one line. */
void log_event(enum log_level level, const char *event, const char *fields, ...)
	__attribute__((format(printf, 3, 4)));
/* Held mode (the worker loop, for the span of one round between polls):
 * info and debug lines collect in a PIPE_BUF (4 KiB) buffer and go out in
 * one write, atomic on a pipe so no child's line lands inside it, at
 * log_flush, log_hold(0), a warning or error (written at once, after them)
 * or when the buffer is full. Lines stay whole and in order.
 * fork flushes them first (pthread_atfork) and the child holds none. */
void log_hold(int on);
void log_flush(void);
/* A line that is not an event (an invalid configuration at start-up),
 * written whatever the threshold: "text" on stderr, prefixed "<N>" in
 * journal mode so journald files it at the level's priority (err for
 * LOG_LEVEL_ERROR) instead of info. No trailing newline in fmt; control
 * characters are escaped so it stays one line. */
void log_plain(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Quote s for a log value into dst: "..." with \" and \\ escaped, control
 * and non-ASCII bytes as \n, \t, \r or \xNN, cut to fit (still closed).
 * Such a value passes through the formatter unchanged. */
const char *log_quote(char *dst, unsigned dstlen, const char *s);
/* s as one logfmt value into dst: bare when every byte is printable ASCII
 * other than space, '"', '=' and '\\' (and s is not empty), else quoted as
 * log_quote does. Returns dst. */
const char *log_value(char *dst, size_t dstlen, const char *s);
/* The same for s[0..n) (may hold NULs); always_quote forces quotes.
 * Returns the length written (dst is NUL-terminated; dstlen 0: nothing). */
size_t log_value_n(char *dst, size_t dstlen, const char *s, size_t n, int always_quote);
/* fmt with its arguments into out as log_event formats fields (pure: no
 * time, no output). Returns the length; out is always NUL-terminated. */
size_t log_vformat(char *out, size_t outlen, const char *fmt, va_list ap);
size_t log_format(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_error(...) log_event(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_event(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_event(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_event(LOG_LEVEL_DEBUG, __VA_ARGS__)
#endif
