/* sdnotify: sd_notify(3) without libsystemd: one datagram socket, one
 * sendto per message. The protocol is stable and documented in
 * sd_notify(3) and systemd.service(5) (Type=notify, WatchdogSec=). */
#include "ops/sdnotify.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void disable(struct sdnotify *sd)
{
	sd->fd = -1;
	sd->addr_len = 0;
	sd->watchdog_interval = 0;
	sd->next_watchdog = HUGE_VAL;
}

/* Digits only, no sign, no overflow. 0 or -1. */
static int parse_ulong(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (~0ULL - 9) / 10)
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*out = v;
	return 0;
}

int sdnotify_init(struct sdnotify *sd, double now, char *err, size_t errlen)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	size_t n;

	memset(sd, 0, sizeof *sd);
	disable(sd);
	if (!path || !*path)
		return 0;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof sd->addr.sun_path) {
		/* vsock: addresses (VMs) are not for a worker on a host. */
		snprintf(err, errlen, "NOTIFY_SOCKET: not an absolute path or @abstract name");
		return -1;
	}
	sd->addr.sun_family = AF_UNIX;
	memcpy(sd->addr.sun_path, path, n);
	if (path[0] == '@')
		sd->addr.sun_path[0] = '\0';   /* abstract: no terminating NUL counts */
	sd->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
	sd->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sd->fd < 0) {
		snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s", strerror(errno));
		disable(sd);
		return -1;
	}

	if (!usec || !*usec)
		return 0;
	unsigned long long us, p;
	if (parse_ulong(usec, &us) < 0 || us == 0) {
		snprintf(err, errlen, "WATCHDOG_USEC: not a positive number of microseconds");
		return -1;   /* notifications still work; only the watchdog is off */
	}
	/* WATCHDOG_PID names the process that must ping; a child that
	 * inherited the variables must not. */
	if (pid && *pid && (parse_ulong(pid, &p) < 0 || p != (unsigned long long)getpid()))
		return 0;
	/* Half the interval, as sd_watchdog_enabled(3) recommends. */
	sd->watchdog_interval = (double)us / 2e6;
	sd->next_watchdog = now;
	return 0;
}

int sdnotify_enabled(const struct sdnotify *sd)
{
	return sd->fd >= 0;
}

int sdnotify_send(struct sdnotify *sd, const char *msg)
{
	if (sd->fd < 0)
		return 0;
	for (;;) {
		ssize_t n = sendto(sd->fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sd->addr,
				   sd->addr_len);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

int sdnotify_ready(struct sdnotify *sd)
{
	return sdnotify_send(sd, "READY=1");
}

int sdnotify_stopping(struct sdnotify *sd)
{
	return sdnotify_send(sd, "STOPPING=1");
}

int sdnotify_status(struct sdnotify *sd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (sd->fd < 0)
		return 0;
	memcpy(msg, "STATUS=", 7);
	va_start(ap, fmt);
	vsnprintf(msg + 7, sizeof msg - 7, fmt, ap);
	va_end(ap);
	/* One message may carry several assignments, one per line: a
	 * newline in the text would start a new (bogus) one. */
	for (char *p = msg + 7; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return sdnotify_send(sd, msg);
}

int sdnotify_watchdog(struct sdnotify *sd, double now)
{
	if (sd->watchdog_interval > 0)
		sd->next_watchdog = now + sd->watchdog_interval;
	return sdnotify_send(sd, "WATCHDOG=1");
}

double sdnotify_next_deadline(const struct sdnotify *sd)
{
	return sd->fd >= 0 && sd->watchdog_interval > 0 ? sd->next_watchdog : HUGE_VAL;
}

void sdnotify_tick(struct sdnotify *sd, double now)
{
	if (sd->fd >= 0 && sd->watchdog_interval > 0 && now >= sd->next_watchdog)
		sdnotify_watchdog(sd, now);
}

void sdnotify_close(struct sdnotify *sd)
{
	if (sd->fd >= 0)
		close(sd->fd);
	disable(sd);
}
