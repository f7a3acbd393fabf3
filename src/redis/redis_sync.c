/* redis_sync: each call brackets its wait with redis_conn_sync_begin/_end
 * and drives the conn with one poll() per round (poll_once), exactly as the
 * owner's loop would. A waiter that gives up calls redis_conn_abort, which
 * fails the command it waited for, so no callback is left pointing at a
 * stack frame that is gone. */
#include "redis/redis_sync.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/errmsg.h"

/* One poll() round bounded by deadline and the conn's own next timer, then
 * I/O and timers. */
static void poll_once(struct redis_conn *c, double deadline)
{
	struct pollfd pfd;
	double now = clock_mono();
	double ms = ceil((fmin(deadline, redis_conn_next_deadline(c)) - now) * 1000);
	int has = redis_conn_pollfd(c, &pfd);
	int n;

	if (ms < 0)
		ms = 0;
	if (ms > INT_MAX)
		ms = INT_MAX;
	n = poll(has ? &pfd : NULL, has ? 1 : 0, (int)ms);
	now = clock_mono();
	if (n < 0 && errno != EINTR) {
		char why[160];
		snprintf(why, sizeof why, "poll: %s", strerror(errno));
		redis_conn_abort(c, now, why);
		return;
	}
	if (has && n > 0)
		redis_conn_process(c, pfd.revents, now);
	redis_conn_tick(c, now);
}

/* Inside a bracket: connect if needed and wait for READY. A failure always
 * leaves the conn in BACKOFF, and a round never leaves BACKOFF in the same
 * instant it entered it, so BACKOFF seen here means this attempt failed. */
static int wait_ready(struct redis_conn *c, double deadline, char *err, size_t errlen)
{
	enum redis_conn_state st = redis_conn_state(c);

	if (st == REDIS_DOWN || st == REDIS_BACKOFF)
		redis_conn_start(c, clock_mono());
	for (;;) {
		st = redis_conn_state(c);
		if (st == REDIS_READY)
			return 0;
		if (st == REDIS_CLOSED) {
			errmsg_set(err, errlen, "closed");
			return -1;
		}
		if (st == REDIS_BACKOFF) {
			errmsg_set(err, errlen, "%s", redis_conn_last_error(c));
			return -1;
		}
		double now = clock_mono();
		if (now >= deadline) {
			char why[80];
			snprintf(why, sizeof why, "timeout while %s", redis_conn_state_name(c));
			redis_conn_abort(c, now, why);
			errmsg_set(err, errlen, "%s", redis_conn_last_error(c));
			return -1;
		}
		poll_once(c, deadline);
	}
}

int redis_sync_connect(struct redis_conn *c, double timeout, char *err, size_t errlen)
{
	int rc;

	if (redis_conn_sync_begin(c, err, errlen) < 0)
		return -1;
	rc = wait_ready(c, clock_mono() + timeout, err, errlen);
	redis_conn_sync_end(c);
	return rc;
}

struct slot {
	int done;
	struct resp_value *reply;
	char err[256];
};

static void on_reply(struct redis_conn *c, struct resp_value *reply, const char *err, void *arg)
{
	struct slot *s = arg;

	s->done = 1;
	if (reply)
		s->reply = redis_reply_take(c);
	else
		snprintf(s->err, sizeof s->err, "%s", err ? err : "failed");
}

struct resp_value *redis_sync_call(struct redis_conn *c, double timeout, char *err, size_t errlen,
				   int argc, const char *const *argv, const size_t *lens)
{
	struct slot slot = { 0, NULL, "" };
	double deadline = clock_mono() + timeout;
	struct pollfd pfd;

	if (redis_conn_sync_begin(c, err, errlen) < 0)
		return NULL;
	/* A link idle for a while may have been closed by the server; notice
	 * that now (cheaply) and reconnect, rather than fail the command. */
	if (redis_conn_is_ready(c) && redis_conn_pollfd(c, &pfd) && poll(&pfd, 1, 0) > 0)
		redis_conn_process(c, pfd.revents, clock_mono());
	if (wait_ready(c, deadline, err, errlen) < 0)
		goto out;
	if (redis_conn_command(c, on_reply, &slot, timeout, argc, argv, lens) < 0) {
		errmsg_set(err, errlen, "command refused (empty, changes reply framing, or out of memory)");
		goto out;
	}
	/* The command is pending, so the conn is READY until it is answered
	 * or failed; abort then fails it: slot is done when this loop ends. */
	while (!slot.done) {
		double now = clock_mono();
		if (now >= deadline) {
			char why[80];
			snprintf(why, sizeof why, "timeout: no reply within %.3gs", timeout);
			redis_conn_abort(c, now, why);
			break;
		}
		poll_once(c, deadline);
	}
	if (!slot.reply)
		errmsg_set(err, errlen, "%s", slot.err[0] ? slot.err : "failed");
out:
	redis_conn_sync_end(c);
	return slot.reply;
}

struct resp_value *redis_sync_callv(struct redis_conn *c, double timeout, char *err, size_t errlen,
				    const char *arg0, ...)
{
	va_list ap;
	int argc = 0;
	const char **argv;
	struct resp_value *res;

	va_start(ap, arg0);
	for (const char *a = arg0; a; a = va_arg(ap, const char *))
		argc++;
	va_end(ap);
	argv = malloc((size_t)(argc ? argc : 1) * sizeof *argv);
	if (!argv) {
		errmsg_set(err, errlen, "out of memory");
		return NULL;
	}
	va_start(ap, arg0);
	argc = 0;
	for (const char *a = arg0; a; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	res = redis_sync_call(c, timeout, err, errlen, argc, argv, NULL);
	free(argv);
	return res;
}

struct resp_value *redis_sync_wait_push(struct redis_conn *c, double timeout, char *err, size_t errlen)
{
	double deadline = clock_mono() + timeout;
	struct resp_value *res = NULL;

	if (redis_conn_sync_begin(c, err, errlen) < 0)
		return NULL;
	for (;;) {
		if ((res = redis_conn_push_take(c)) != NULL)
			break;
		enum redis_conn_state st = redis_conn_state(c);
		if (st == REDIS_CLOSED) {
			errmsg_set(err, errlen, "closed");
			break;
		}
		/* Any failure leaves READY (see wait_ready). */
		if (st != REDIS_READY) {
			const char *e = redis_conn_last_error(c);
			errmsg_set(err, errlen, "%s", e[0] ? e : "not connected");
			break;
		}
		if (clock_mono() >= deadline) {
			errmsg_set(err, errlen, "timeout");
			break;
		}
		poll_once(c, deadline);
	}
	redis_conn_sync_end(c);
	return res;
}
