/* sdnotify: the systemd service notification protocol, by hand: datagrams
 * such as "READY=1" sent to the unix socket named by $NOTIFY_SOCKET (a path,
 * or an abstract name written with a leading '@'). It also paces the
 * watchdog: WATCHDOG=1 every half of $WATCHDOG_USEC, when $WATCHDOG_PID is
 * unset or ours. Everything is a no-op when NOTIFY_SOCKET is unset. The
 * caller owns the struct; sends never block (a full socket drops a message). */
#ifndef TRYON_SDNOTIFY_H
#define TRYON_SDNOTIFY_H
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

struct sdnotify {
	int fd;                      /* -1: disabled */
	struct sockaddr_un addr;
	socklen_t addr_len;
	double watchdog_interval;    /* s between pings; 0: no watchdog */
	double next_watchdog;        /* caller's monotonic clock */
};

/* Read the environment and open the socket. now: the monotonic clock the
 * caller will pass to sdnotify_tick; the first ping is due at once.
 * Returns 0 (enabled, or disabled because NOTIFY_SOCKET is unset), or -1
 * with err, to be logged as a warning: NOTIFY_SOCKET unusable (sd is then
 * disabled) or WATCHDOG_USEC invalid (notifications work, no watchdog).
 * Either way sd is safe to use with every function below. */
int sdnotify_init(struct sdnotify *sd, double now, char *err, size_t errlen);

/* Nonzero when notifications go somewhere. */
int sdnotify_enabled(const struct sdnotify *sd);

/* Send one message (lines "KEY=VALUE" separated by '\n'). 0, or -1 with
 * errno (0 when disabled: nothing to do is success). */
int sdnotify_send(struct sdnotify *sd, const char *msg);

/* READY=1: start-up is complete (for the worker: consuming). */
int sdnotify_ready(struct sdnotify *sd);
/* STATUS=...: one line for `systemctl status`; newlines become spaces. */
int sdnotify_status(struct sdnotify *sd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* STOPPING=1: shutdown has begun (first SIGTERM). */
int sdnotify_stopping(struct sdnotify *sd);
/* WATCHDOG=1 now, and the next one an interval from now. */
int sdnotify_watchdog(struct sdnotify *sd, double now);

/* When the next watchdog ping is due (HUGE_VAL without a watchdog): a
 * deadline for the caller's poll timeout. */
double sdnotify_next_deadline(const struct sdnotify *sd);
/* Send the watchdog ping if it is due. Call once per loop turn: a loop that
 * stops turning stops the pings, and systemd restarts the service. */
void sdnotify_tick(struct sdnotify *sd, double now);

/* Close the socket; sd is disabled afterwards. Accepts a disabled sd. */
void sdnotify_close(struct sdnotify *sd);
#endif
