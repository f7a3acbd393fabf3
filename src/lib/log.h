/* log: one line per event on stderr, shape
 *   level=info event=worker.ready key=value ...
 * with a time stamp first unless journald adds its own (JOURNAL_STREAM set,
 * then a syslog <N> priority prefix instead). The level and mode are set at
 * start-up by main (log_init); they are this module's only state. Callers
 * never pass secrets: URLs go through redis_url_redact first. */
#ifndef TRYON_LOG_H
#define TRYON_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Parse "error|warn|warning|info|debug" (case-insensitive). 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);
/* journal: nonzero to write syslog priority prefixes and no time stamp.
 * main calls it first with the default level, so that errors found while
 * loading the configuration already carry their priority, and again once
 * TRYON_LOG_LEVEL is known. */
void log_init(enum log_level level, int journal);
int log_enabled(enum log_level level);
/* fields: printf format producing "key=value key2=value2"; values containing
 * spaces must be quoted by the caller (use log_quote). Control characters
 * are escaped so one event is always one line. */
void log_event(enum log_level level, const char *event, const char *fields, ...)
	__attribute__((format(printf, 3, 4)));
/* A line that is not an event (an invalid configuration at start-up),
 * written whatever the threshold: "text" on stderr, prefixed "<N>" in
 * journal mode so journald files it at the level's priority (err for
 * LOG_LEVEL_ERROR) instead of info. No trailing newline in fmt; control
 * characters are escaped so it stays one line. */
void log_plain(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Quote s for a log value into dst: "..." with \" and \\ escaped, cut to fit. */
const char *log_quote(char *dst, unsigned dstlen, const char *s);

#define log_error(...) log_event(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_event(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_event(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_event(LOG_LEVEL_DEBUG, __VA_ARGS__)
#endif
