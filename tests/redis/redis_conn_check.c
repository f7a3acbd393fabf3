/* redis_conn_check: a scripted check of redis_conn, redis_sync (and
 * redis_url) against a real Redis server, plus in-process fake servers on
 * 127.0.0.1 for the failure paths (refused, silent, garbage, closing, hung).
 * Prints one line per check and closes with "N passed, N failed". Built by
 * make ($(BUILD)/redis_conn_check), run by
 * tests/integration/test_b0_redis_conn.py.
 *
 *   redis_conn_check [--ca FILE] [--no-fakes] [--restart SECONDS] URL
 *       full run; --no-fakes leaves out the fake servers (they do not
 *       depend on URL: one run with them is enough); with --restart, prints
 *       "ready-for-restart" on stdout after the main checks and expects the
 *       server to go away and come back within SECONDS (the calling script
 *       restarts it)
 *   redis_conn_check [--ca FILE] --expect-fail TEXT URL
 *       connecting must fail with a message containing TEXT and not the
 *       password (wrong host name, wrong CA, wrong password, ...)
 *
 * REDIS_CHECK_DEBUG=1 turns on debug logging. Loopback servers only. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/trust.h"
#include "redis/redis_conn.h"
#include "redis/redis_sync.h"
#include "redis/redis_url.h"
#include "redis/resp.h"

static int n_passed, n_failed;
static const struct trust_store *g_trust;

static void check(int ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void check(int ok, const char *name, const char *fmt, ...)
{
	char detail[600] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof detail, fmt, ap);
		va_end(ap);
	}
	if (ok) {
		n_passed++;
		printf("ok   %s%s%s\n", name, detail[0] ? ": " : "", detail);
	} else {
		n_failed++;
		printf("FAIL %s%s%s\n", name, detail[0] ? ": " : "", detail);
	}
	fflush(stdout);
}

static int is_bulk(const struct resp_value *v, const void *p, size_t n)
{
	return v && v->type == RESP_BULK && v->len == n && memcmp(v->str, p, n) == 0;
}

static const char *vdesc(const struct resp_value *v, char *buf, size_t n)
{
	if (!v)
		snprintf(buf, n, "(null)");
	else if (v->type == RESP_INTEGER)
		snprintf(buf, n, "integer %lld", v->integer);
	else if (v->str)
		snprintf(buf, n, "%s \"%.80s\"", resp_type_name(v->type), v->str);
	else
		snprintf(buf, n, "%s n=%zu", resp_type_name(v->type), v->n_elems);
	return buf;
}

/* ---- fake servers on 127.0.0.1 -------------------------------------- */

/* SILENT: accepts, never answers. CLOSE: closes at once. GARBAGE: sends
 * HTTP. PONG_ONCE: answers the first command with +PONG, then goes quiet
 * (a hung server, as the health check must notice). */
enum fake_mode { FAKE_SILENT, FAKE_CLOSE, FAKE_GARBAGE, FAKE_PONG_ONCE };

struct fake {
	int lfd;
	int port;
	enum fake_mode mode;
	int fds[64];
	int answered[64];
	int nfds;
	int accepts;
	double accept_times[64];
};

static int fake_open(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;

	memset(f, 0, sizeof *f);
	f->mode = mode;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(f->lfd, 16) < 0 || getsockname(f->lfd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	f->port = ntohs(sa.sin_port);
	return 0;
}

static void fake_close(struct fake *f)
{
	for (int i = 0; i < f->nfds; i++)
		close(f->fds[i]);
	if (f->lfd >= 0)
		close(f->lfd);
	f->lfd = -1;
	f->nfds = 0;
}

static void fake_accept(struct fake *f)
{
	int fd;

	while ((fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (f->accepts < 64)
			f->accept_times[f->accepts] = clock_mono();
		f->accepts++;
		if (f->mode == FAKE_CLOSE) {
			close(fd);
			continue;
		}
		if (f->mode == FAKE_GARBAGE) {
			static const char junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
			ssize_t w = write(fd, junk, sizeof junk - 1);
			(void)w;
		}
		if (f->nfds < 64) {
			f->answered[f->nfds] = 0;
			f->fds[f->nfds++] = fd;
		} else {
			close(fd);
		}
	}
}

static void fake_read(struct fake *f, int i)
{
	char tmp[4096];
	ssize_t n = read(f->fds[i], tmp, sizeof tmp);

	if (n > 0 && !f->answered[i]) {
		f->answered[i] = 1;
		ssize_t w = write(f->fds[i], "+PONG\r\n", 7);
		(void)w;
	}
}

/* A free loopback port nobody listens on. */
static int closed_port(void)
{
	struct fake f;
	int port;

	if (fake_open(&f, FAKE_CLOSE) < 0)
		return 1;
	port = f.port;
	fake_close(&f);
	return port;
}

/* ---- the owner's poll() loop, as the worker runs it ------------------ */

typedef int (*done_fn)(void *arg);

/* Runs until done(arg) or seconds pass. conns[i] may be set to NULL by a
 * callback that freed it. Returns 1 if done. */
static int loop_until(struct redis_conn **conns, int n, struct fake *f, double seconds,
		      done_fn done, void *arg)
{
	double end = clock_mono() + seconds;

	for (;;) {
		struct pollfd pfds[16];
		int owner[16], np = 0;
		double now = clock_mono(), until = end;

		if (done && done(arg))
			return 1;
		if (now >= end)
			return 0;
		for (int i = 0; i < n; i++) {
			if (!conns[i])
				continue;
			if (redis_conn_pollfd(conns[i], &pfds[np]))
				owner[np++] = i;
			until = fmin(until, redis_conn_next_deadline(conns[i]));
		}
		if (f && f->lfd >= 0) {
			pfds[np].fd = f->lfd;
			pfds[np].events = POLLIN;
			owner[np++] = -1;
			for (int i = 0; f->mode == FAKE_PONG_ONCE && i < f->nfds && np < 16; i++) {
				pfds[np].fd = f->fds[i];
				pfds[np].events = POLLIN;
				owner[np++] = -2 - i;
			}
		}
		double ms = ceil((until - now) * 1000);
		int r = poll(pfds, (nfds_t)np, ms < 0 ? 0 : ms > 1000 ? 1000 : (int)ms);
		now = clock_mono();
		for (int k = 0; r > 0 && k < np; k++) {
			if (!pfds[k].revents)
				continue;
			if (owner[k] == -1)
				fake_accept(f);
			else if (owner[k] < -1)
				fake_read(f, -2 - owner[k]);
			else if (conns[owner[k]])
				redis_conn_process(conns[owner[k]], pfds[k].revents, now);
		}
		for (int i = 0; i < n; i++)
			if (conns[i])
				redis_conn_tick(conns[i], now);
	}
}

static int conn_ready(void *arg)
{
	return redis_conn_is_ready(*(struct redis_conn **)arg);
}

static struct redis_conn *conn_new(const struct redis_url *u, const char *name, double io_timeout,
				   double health, redis_ready_fn on_ready, redis_push_fn on_push,
				   void *arg)
{
	struct redis_conn_opts o = {
		.url = u, .trust = g_trust, .name = name, .connect_timeout = 3,
		.io_timeout = io_timeout, .health_interval = health,
		.on_ready = on_ready, .on_push = on_push, .arg = arg,
	};
	char err[256];
	struct redis_conn *c = redis_conn_new(&o, err, sizeof err);

	if (!c)
		check(0, "redis_conn_new", "%s", err);
	return c;
}

/* ---- stderr capture, to check what gets logged ---------------------- */

struct capture {
	int saved, fd;
};

static void capture_begin(struct capture *cap)
{
	char path[] = "/tmp/redis_conn_check.XXXXXX";

	fflush(stderr);
	cap->fd = mkstemp(path);
	unlink(path);
	cap->saved = dup(2);
	dup2(cap->fd, 2);
}

/* Returns what was logged (caller frees) and echoes it to the real stderr. */
static char *capture_end(struct capture *cap)
{
	off_t n;
	char *s;

	fflush(stderr);
	dup2(cap->saved, 2);
	close(cap->saved);
	n = lseek(cap->fd, 0, SEEK_END);
	s = calloc(1, (size_t)n + 1);
	if (pread(cap->fd, s, (size_t)n, 0) != n)
		s[0] = '\0';
	close(cap->fd);
	fputs(s, stderr);
	return s;
}

static int count_str(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* ---- checks against the real server ---------------------------------- */

static void check_basic(struct redis_conn *c)
{
	char err[256], d[128];
	struct resp_value *v;

	v = redis_sync_callv(c, 5, err, sizeof err, "SET", "rcc:k", "hello", NULL);
	check(resp_is_ok(v), "sync SET", "%s", v ? "" : err);
	resp_value_free(v);
	v = redis_sync_callv(c, 5, err, sizeof err, "GET", "rcc:k", NULL);
	check(is_bulk(v, "hello", 5), "sync GET", "%s", v ? vdesc(v, d, sizeof d) : err);
	resp_value_free(v);

	static const char bin[] = "a\0b\x06\x16\xff\r\n$3\r\n*-1\r\nz";
	const char *argv[3] = { "SET", "rcc:bin", bin };
	size_t lens[3] = { 3, 7, sizeof bin - 1 };
	v = redis_sync_call(c, 5, err, sizeof err, 3, argv, lens);
	check(resp_is_ok(v), "binary SET (NUL, \\x06, \\x16, CRLF)", "%s", v ? "" : err);
	resp_value_free(v);
	v = redis_sync_callv(c, 5, err, sizeof err, "GET", "rcc:bin", NULL);
	check(is_bulk(v, bin, sizeof bin - 1), "binary GET round trip", "%s", v ? vdesc(v, d, sizeof d) : err);
	resp_value_free(v);

	/* Big enough for many partial writes, reads and TLS records. */
	size_t big_n = (size_t)3 << 20;
	char *big = malloc(big_n);
	for (size_t i = 0; i < big_n; i++)
		big[i] = (char)(i * 2654435761u >> 13);
	const char *bargv[3] = { "SET", "rcc:big", big };
	size_t blens[3] = { 3, 7, big_n };
	v = redis_sync_call(c, 10, err, sizeof err, 3, bargv, blens);
	check(resp_is_ok(v), "3 MiB SET", "%s", v ? "" : err);
	resp_value_free(v);
	v = redis_sync_callv(c, 10, err, sizeof err, "GET", "rcc:big", NULL);
	check(is_bulk(v, big, big_n), "3 MiB GET round trip", "%s", v ? "" : err);
	resp_value_free(v);
	free(big);

	v = redis_sync_callv(c, 5, err, sizeof err, "INCR", "rcc:k", NULL);
	check(v && v->type == RESP_ERROR && redis_conn_is_ready(c), "error reply is a reply, conn stays up",
	      "%s", v ? vdesc(v, d, sizeof d) : err);
	resp_value_free(v);

	v = redis_sync_call(c, 5, err, sizeof err, 0, NULL, NULL);
	check(!v, "empty command refused", "%s", err);

	char red[512];
	snprintf(red, sizeof red, "%s", redis_conn_url(c));
	check(!strstr(red, "p+w/d=") && !strstr(red, "%2B"), "redis_conn_url is redacted", "%s", red);
}

struct pipe_state {
	int done, bad;
	long long last;
	int chained;
	struct resp_value *kept;
};

static void on_incr(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct pipe_state *st = arg;

	(void)c;
	if (!r || r->type != RESP_INTEGER || r->integer != st->last + 1) {
		if (st->bad++ < 3)
			fprintf(stderr, "on_incr: %s\n", err ? err : "bad reply");
	} else {
		st->last = r->integer;
	}
	st->done++;
}

static void on_chained(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct pipe_state *st = arg;

	(void)c;
	(void)err;
	if (r && r->type == RESP_BULK)
		st->kept = redis_reply_take(c);
	st->chained++;
}

static void on_first(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	const char *argv[2] = { "GET", "rcc:k" };

	(void)r;
	(void)err;
	/* Queue from inside a callback. */
	if (redis_conn_command(c, on_chained, arg, 0, 2, argv, NULL) != 0)
		((struct pipe_state *)arg)->bad++;
}

static int pipe_done(void *arg)
{
	struct pipe_state *st = arg;
	return st->done == 2000 && st->chained == 1;
}

static void check_pipeline(const struct redis_url *u)
{
	struct redis_conn *a = conn_new(u, "pipeline", 5, 30, NULL, NULL, NULL);
	struct pipe_state st = { 0 };
	char err[256];

	if (!a)
		return;
	const char *del[2] = { "DEL", "rcc:ctr" };
	check(redis_conn_command(a, NULL, NULL, 0, 2, del, NULL) == -1, "command before READY is -1", NULL);
	redis_conn_start(a, clock_mono());
	int up = loop_until(&a, 1, NULL, 5, conn_ready, &a);
	check(up, "async connect via poll loop", "state=%s %s", redis_conn_state_name(a),
	      redis_conn_last_error(a));
	redis_conn_command(a, NULL, NULL, 0, 2, del, NULL);
	const char *incr[2] = { "INCR", "rcc:ctr" };
	int rc = 0;
	for (int i = 0; i < 2000; i++)
		rc |= redis_conn_command(a, on_incr, &st, 0, 2, incr, NULL);
	const char *ping[1] = { "PING" };
	rc |= redis_conn_command(a, on_first, &st, 0, 1, ping, NULL);
	double t0 = clock_mono();
	int ok = loop_until(&a, 1, NULL, 10, pipe_done, &st);
	check(rc == 0 && ok && st.bad == 0 && st.last == 2000, "2000 pipelined INCR in order",
	      "done=%d bad=%d last=%lld in %.3fs", st.done, st.bad, st.last, clock_mono() - t0);
	check(st.chained == 1 && is_bulk(st.kept, "hello", 5), "command queued from a callback; reply taken", NULL);
	resp_value_free(st.kept);

	const char *mon[1] = { "MONITOR" };
	const char *unsub[1] = { "UNSUBSCRIBE" };
	const char *crep[3] = { "client", "REPLY", "OFF" };
	check(redis_conn_command(a, NULL, NULL, 0, 1, mon, NULL) == -2 &&
	      redis_conn_command(a, NULL, NULL, 0, 1, unsub, NULL) == -2 &&
	      redis_conn_command(a, NULL, NULL, 0, 3, crep, NULL) == -2 &&
	      redis_conn_command(a, NULL, NULL, 0, 0, NULL, NULL) == -2,
	      "framing-breaking commands refused (-2)", NULL);
	/* Sync use of a conn that was driven async. */
	struct resp_value *v = redis_sync_callv(a, 5, err, sizeof err, "GET", "rcc:ctr", NULL);
	check(is_bulk(v, "2000", 4), "sync call on an async conn", "%s", v ? "" : err);
	resp_value_free(v);
	redis_conn_free(a);
}

struct block_state {
	int done;
	struct resp_value *r;
	char err[256];
	double t;
};

static void on_block(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct block_state *b = arg;

	b->done = 1;
	b->t = clock_mono();
	if (r)
		b->r = redis_reply_take(c);
	else
		snprintf(b->err, sizeof b->err, "%s", err);
}

static int block_done(void *arg)
{
	return ((struct block_state *)arg)->done;
}

static void check_blocking(const struct redis_url *u, struct redis_conn *c)
{
	struct redis_conn *a = conn_new(u, "blocking", 0.5, 30, NULL, NULL, NULL);
	struct block_state b = { 0 };
	char err[256], d[128];

	if (!a)
		return;
	redis_conn_start(a, clock_mono());
	loop_until(&a, 1, NULL, 5, conn_ready, &a);
	const char *bl1[3] = { "BLPOP", "rcc:empty", "1" };
	double t0 = clock_mono();
	redis_conn_command(a, on_block, &b, 1.0, 3, bl1, NULL);
	loop_until(&a, 1, NULL, 5, block_done, &b);
	check(b.r && b.r->type == RESP_NIL_ARRAY && b.t - t0 > 0.9 && redis_conn_is_ready(a),
	      "BLPOP 1 with block_seconds 1 outlives io_timeout 0.5",
	      "%s after %.2fs", b.r ? vdesc(b.r, d, sizeof d) : b.err, b.t - t0);
	resp_value_free(b.r);

	/* Without block_seconds the same wait is a read timeout. */
	memset(&b, 0, sizeof b);
	const char *bl2[3] = { "BLPOP", "rcc:empty", "2" };
	t0 = clock_mono();
	redis_conn_command(a, on_block, &b, 0, 3, bl2, NULL);
	loop_until(&a, 1, NULL, 5, block_done, &b);
	check(!b.r && strstr(b.err, "timeout") && b.t - t0 < 1.0, "read timeout fails the command",
	      "\"%s\" after %.2fs", b.err, b.t - t0);
	int back = loop_until(&a, 1, NULL, 3, conn_ready, &a);
	check(back, "reconnects by itself after the timeout", "state=%s", redis_conn_state_name(a));

	/* A pushed value wakes the blocked client. */
	memset(&b, 0, sizeof b);
	const char *bl3[3] = { "BLPOP", "rcc:list", "5" };
	redis_conn_command(a, on_block, &b, 5, 3, bl3, NULL);
	loop_until(&a, 1, NULL, 0.2, NULL, NULL);
	struct resp_value *v = redis_sync_callv(c, 5, err, sizeof err, "RPUSH", "rcc:list", "x\0y", NULL);
	resp_value_free(v);
	loop_until(&a, 1, NULL, 5, block_done, &b);
	check(b.r && b.r->type == RESP_ARRAY && b.r->n_elems == 2 && is_bulk(b.r->elems[1], "x", 1),
	      "BLPOP woken by RPUSH", "%s", b.r ? vdesc(b.r, d, sizeof d) : b.err);
	resp_value_free(b.r);
	redis_conn_free(a);

	/* Sync blocking call: its timeout covers the block time. */
	t0 = clock_mono();
	v = redis_sync_callv(c, 3, err, sizeof err, "BLPOP", "rcc:empty", "1", NULL);
	check(v && v->type == RESP_NIL_ARRAY && clock_mono() - t0 > 0.9, "sync BLPOP 1 (timeout 3)",
	      "%s", v ? vdesc(v, d, sizeof d) : err);
	resp_value_free(v);
}

struct sub_state {
	int ready_calls;
	int sub_done, psub_done, unsub_done;
	int n_msg, n_pmsg;
	int bad;
	struct resp_value *last_sub_reply;
	int subscribe;       /* on_ready re-subscribes */
};

static void on_sub(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct sub_state *s = arg;

	(void)c;
	if (!r) {
		fprintf(stderr, "subscribe failed: %s\n", err);
		return;
	}
	if (r->type == RESP_ARRAY && r->n_elems == 3 && is_bulk(r->elems[0], "subscribe", 9))
		s->sub_done++;
	else if (r->type == RESP_ARRAY && r->n_elems == 3 && is_bulk(r->elems[0], "psubscribe", 10))
		s->psub_done++;
	else if (r->type == RESP_ARRAY && r->n_elems == 3 && is_bulk(r->elems[0], "unsubscribe", 11))
		s->unsub_done++;
	else
		s->bad++;
	resp_value_free(s->last_sub_reply);
	s->last_sub_reply = redis_reply_take(c);
}

static void sub_ready(struct redis_conn *c, void *arg)
{
	struct sub_state *s = arg;
	const char *sub[3] = { "SUBSCRIBE", "rcc:ch1", "rcc:ch2" };
	const char *psub[2] = { "PSUBSCRIBE", "rcc:pat.*" };

	s->ready_calls++;
	if (!s->subscribe)
		return;
	if (redis_conn_command(c, on_sub, s, 0, 3, sub, NULL) != 0 ||
	    redis_conn_command(c, on_sub, s, 0, 2, psub, NULL) != 0)
		s->bad++;
}

static void on_push(struct redis_conn *c, struct resp_value *m, void *arg)
{
	struct sub_state *s = arg;
	static const char data[] = "hel\0lo\x06\x16";

	(void)c;
	if (m->n_elems == 3 && is_bulk(m->elems[0], "message", 7) && is_bulk(m->elems[1], "rcc:ch1", 7) &&
	    is_bulk(m->elems[2], data, sizeof data - 1))
		s->n_msg++;
	else if (m->n_elems == 4 && is_bulk(m->elems[0], "pmessage", 8) &&
		 is_bulk(m->elems[1], "rcc:pat.*", 9) && is_bulk(m->elems[2], "rcc:pat.x", 9))
		s->n_pmsg++;
	else
		s->bad++;
}

static int subs_done(void *arg)
{
	struct sub_state *s = arg;
	return s->sub_done >= 1 && s->psub_done >= 1;
}

static int msgs_done(void *arg)
{
	struct sub_state *s = arg;
	return s->n_msg >= 1 && s->n_pmsg >= 1;
}

static int unsub_done(void *arg)
{
	return ((struct sub_state *)arg)->unsub_done >= 1;
}

static void check_pubsub(const struct redis_url *u, struct redis_conn *c)
{
	struct sub_state s = { .subscribe = 1 };
	struct redis_conn *sc = conn_new(u, "subscriber", 2, 0.3, sub_ready, on_push, &s);
	char err[256], d[128];
	static const char data[] = "hel\0lo\x06\x16";

	if (!sc)
		return;
	redis_conn_start(sc, clock_mono());
	int ok = loop_until(&sc, 1, NULL, 5, subs_done, &s);
	check(ok && s.sub_done == 1 && s.psub_done == 1 && s.bad == 0,
	      "SUBSCRIBE 2 channels + PSUBSCRIBE from on_ready: one callback each",
	      "sub=%d psub=%d bad=%d", s.sub_done, s.psub_done, s.bad);
	check(s.last_sub_reply && s.last_sub_reply->n_elems == 3 &&
	      s.last_sub_reply->elems[2]->type == RESP_INTEGER && s.last_sub_reply->elems[2]->integer == 3,
	      "PSUBSCRIBE confirmation counts 3 subscriptions", NULL);

	const char *pub[3] = { "PUBLISH", "rcc:ch1", data };
	size_t pub_lens[3] = { 7, 7, sizeof data - 1 };
	struct resp_value *v = redis_sync_call(c, 5, err, sizeof err, 3, pub, pub_lens);
	check(v && v->type == RESP_INTEGER && v->integer == 1, "PUBLISH reaches one subscriber",
	      "%s", v ? vdesc(v, d, sizeof d) : err);
	resp_value_free(v);
	v = redis_sync_callv(c, 5, err, sizeof err, "PUBLISH", "rcc:pat.x", "p", NULL);
	resp_value_free(v);
	ok = loop_until(&sc, 1, NULL, 5, msgs_done, &s);
	check(ok && s.bad == 0, "message and pmessage delivered to on_push (binary data intact)",
	      "msg=%d pmsg=%d bad=%d", s.n_msg, s.n_pmsg, s.bad);

	/* Health PINGs every 0.3 s while subscribed must not disturb anything. */
	loop_until(&sc, 1, NULL, 1.2, NULL, NULL);
	check(redis_conn_is_ready(sc) && !redis_conn_last_error(sc)[0] && s.bad == 0,
	      "idle health PINGs in subscribed mode", "state=%s err=%s", redis_conn_state_name(sc),
	      redis_conn_last_error(sc));

	const char *unsub[3] = { "UNSUBSCRIBE", "rcc:ch1", "rcc:ch2" };
	redis_conn_command(sc, on_sub, &s, 0, 3, unsub, NULL);
	ok = loop_until(&sc, 1, NULL, 5, unsub_done, &s);
	check(ok && s.unsub_done == 1 && s.last_sub_reply->elems[2]->integer == 1,
	      "UNSUBSCRIBE 2 channels: one callback, pattern remains", NULL);
	resp_value_free(s.last_sub_reply);
	s.last_sub_reply = NULL;
	redis_conn_free(sc);

	/* Sync pub/sub: no on_push, messages wait for redis_sync_wait_push. */
	struct redis_conn *w = conn_new(u, "sync-sub", 2, 30, NULL, NULL, NULL);
	if (!w)
		return;
	v = redis_sync_callv(w, 5, err, sizeof err, "SUBSCRIBE", "rcc:sync", NULL);
	check(v && v->type == RESP_ARRAY && v->n_elems == 3, "sync SUBSCRIBE", "%s", v ? "" : err);
	resp_value_free(v);
	v = redis_sync_callv(c, 5, err, sizeof err, "PUBLISH", "rcc:sync", "one", NULL);
	resp_value_free(v);
	v = redis_sync_callv(c, 5, err, sizeof err, "PUBLISH", "rcc:sync", "two", NULL);
	resp_value_free(v);
	struct resp_value *m1 = redis_sync_wait_push(w, 2, err, sizeof err);
	struct resp_value *m2 = redis_sync_wait_push(w, 2, err, sizeof err);
	check(m1 && m2 && is_bulk(m1->elems[2], "one", 3) && is_bulk(m2->elems[2], "two", 3),
	      "redis_sync_wait_push returns messages in order", "%s", m2 ? "" : err);
	resp_value_free(m1);
	resp_value_free(m2);
	double t0 = clock_mono();
	v = redis_sync_wait_push(w, 0.3, err, sizeof err);
	check(!v && !strcmp(err, "timeout") && redis_conn_is_ready(w) && clock_mono() - t0 > 0.25,
	      "wait_push times out cleanly", "%s", err);
	redis_conn_free(w);
}

struct free_state {
	struct redis_conn **slot;
	int first, others, closed_errs;
};

static void on_free_me(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct free_state *f = arg;

	(void)r;
	(void)err;
	f->first++;
	redis_conn_free(c);
	redis_conn_free(c);   /* twice inside a callback is harmless */
	*f->slot = NULL;
}

static void on_after_free(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct free_state *f = arg;
	const char *ping[1] = { "PING" };

	f->others++;
	if (!r && err && !strcmp(err, "closed") && redis_conn_command(c, NULL, NULL, 0, 1, ping, NULL) == -1)
		f->closed_errs++;
}

static int free_done(void *arg)
{
	struct free_state *f = arg;
	return f->first && f->others == 2;
}

static void check_free_in_callback(const struct redis_url *u)
{
	struct redis_conn *a = conn_new(u, "freer", 5, 30, NULL, NULL, NULL);
	struct free_state f = { &a, 0, 0, 0 };
	const char *ping[1] = { "PING" };

	if (!a)
		return;
	redis_conn_start(a, clock_mono());
	loop_until(&a, 1, NULL, 5, conn_ready, &a);
	redis_conn_command(a, on_free_me, &f, 0, 1, ping, NULL);
	redis_conn_command(a, on_after_free, &f, 0, 1, ping, NULL);
	redis_conn_command(a, on_after_free, &f, 0, 1, ping, NULL);
	int ok = loop_until(&a, 1, NULL, 5, free_done, &f);
	check(ok && !a && f.closed_errs == 2, "free from inside a reply callback; the rest get \"closed\"",
	      "first=%d others=%d closed=%d", f.first, f.others, f.closed_errs);
}

struct try_sync_state {
	int done, refused;
	char err[256];
};

static void on_try_sync(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct try_sync_state *t = arg;
	struct resp_value *v = redis_sync_callv(c, 1, t->err, sizeof t->err, "PING", NULL);

	(void)r;
	(void)err;
	t->refused = !v && strstr(t->err, "inside a callback") != NULL;
	resp_value_free(v);
	t->done = 1;
}

static int try_sync_done(void *arg)
{
	return ((struct try_sync_state *)arg)->done;
}

/* redis_sync's rules on an async conn: refused from the conn's own
 * callback; redis_conn_abort takes a READY link down as a failure, and the
 * next sync call reconnects it. */
static void check_sync_rules(const struct redis_url *u)
{
	struct redis_conn *a = conn_new(u, "sync-rules", 2, 30, NULL, NULL, NULL);
	struct try_sync_state t = { 0 };
	const char *ping[1] = { "PING" };
	char err[256];

	if (!a)
		return;
	redis_conn_start(a, clock_mono());
	loop_until(&a, 1, NULL, 5, conn_ready, &a);
	redis_conn_command(a, on_try_sync, &t, 0, 1, ping, NULL);
	loop_until(&a, 1, NULL, 5, try_sync_done, &t);
	check(t.done && t.refused && redis_conn_is_ready(a), "sync call from the conn's own callback refused",
	      "\"%s\"", t.err);

	struct block_state b = { 0 };
	redis_conn_command(a, on_block, &b, 0, 1, ping, NULL);
	redis_conn_abort(a, clock_mono(), "given up");
	check(redis_conn_state(a) == REDIS_BACKOFF && !strcmp(redis_conn_last_error(a), "given up") &&
	      b.done && !strcmp(b.err, "given up"), "redis_conn_abort fails the link and its pending command",
	      "state=%s err=%s", redis_conn_state_name(a), b.err);
	struct resp_value *v = redis_sync_callv(a, 5, err, sizeof err, "PING", NULL);
	check(v && v->type == RESP_SIMPLE, "next sync call reconnects at once", "%s", v ? "" : err);
	resp_value_free(v);
	redis_conn_free(a);
}

/* AUTH with a wrong password, and no AUTH, against a server that wants one. */
static void check_auth_failures(const struct redis_url *u)
{
	struct redis_url bad;
	char err[256];

	if (!u->password)
		return;
	redis_url_copy(&bad, u);
	free(bad.password);
	bad.password = strdup("not-the-password");
	struct redis_conn *c = conn_new(&bad, "wrongpw", 2, 30, NULL, NULL, NULL);
	int rc = redis_sync_connect(c, 5, err, sizeof err);
	check(rc < 0 && strstr(err, "AUTH failed") && !strstr(err, "not-the-password") &&
	      !strstr(err, u->password), "wrong password: AUTH failed, no password in the message",
	      "%s", err);
	check(!strstr(redis_conn_url(c), "not-the-password"), "redacted URL hides the password", "%s",
	      redis_conn_url(c));
	redis_conn_free(c);

	free(bad.password);
	bad.password = NULL;
	free(bad.user);
	bad.user = NULL;
	c = conn_new(&bad, "nopw", 2, 30, NULL, NULL, NULL);
	rc = redis_sync_connect(c, 5, err, sizeof err);
	check(rc < 0 && strstr(err, "NOAUTH"), "no password: NOAUTH before READY", "%s", err);
	redis_conn_free(c);
	redis_url_free(&bad);
}

/* An ACL user whose password needs %-encoding, through a parsed URL. */
static void check_acl_user(const struct redis_url *u, struct redis_conn *admin)
{
	char err[256], url[600], red[512];
	struct resp_value *v;

	v = redis_sync_callv(admin, 5, err, sizeof err, "ACL", "SETUSER", "rcc-user", "reset", "on",
			     ">u+s/e=r:@x", "~*", "&*", "+@all", NULL);
	if (!resp_is_ok(v)) {
		check(1, "ACL user (skipped: server has no ACL)", NULL);
		resp_value_free(v);
		return;
	}
	resp_value_free(v);
	redis_url_redact(u, red, sizeof red);
	const char *rest = strstr(red, "@");
	rest = rest ? rest + 1 : strstr(red, "://") + 3;
	snprintf(url, sizeof url, "%s://rcc-user:u%%2Bs%%2Fe%%3Dr%%3A%%40x@%s",
		 u->transport == REDIS_TRANSPORT_TLS ? "rediss" : u->transport == REDIS_TRANSPORT_UNIX ? "unix" : "redis",
		 u->transport == REDIS_TRANSPORT_UNIX ? u->path : rest);
	if (u->transport == REDIS_TRANSPORT_UNIX)
		snprintf(url + strlen(url), sizeof url - strlen(url), "?db=%d", u->db);
	struct redis_url au;
	if (redis_url_parse(url, &au, err, sizeof err) < 0) {
		check(0, "ACL user URL parses", "%s", err);
		return;
	}
	struct redis_conn *c = conn_new(&au, "acl", 2, 30, NULL, NULL, NULL);
	v = c ? redis_sync_callv(c, 5, err, sizeof err, "ACL", "WHOAMI", NULL) : NULL;
	check(is_bulk(v, "rcc-user", 8), "AUTH user password (password \"u+s/e=r:@x\" from %-encoding)",
	      "%s", v ? "" : err);
	resp_value_free(v);
	redis_conn_free(c);
	redis_url_free(&au);
	v = redis_sync_callv(admin, 5, err, sizeof err, "ACL", "DELUSER", "rcc-user", NULL);
	resp_value_free(v);
}

/* ---- in-process fake servers: the failure paths ------------------------ */

static int has_error(void *arg)
{
	return redis_conn_last_error(*(struct redis_conn **)arg)[0] != '\0';
}

static void check_fakes(void)
{
	struct redis_url u;
	char url[128], err[256];
	struct redis_conn *c;
	struct fake f;

	snprintf(url, sizeof url, "redis://:sekrit-pass@127.0.0.1:%d/0", closed_port());
	redis_url_parse(url, &u, err, sizeof err);
	c = conn_new(&u, "refused", 1, 30, NULL, NULL, NULL);
	int rc = redis_sync_connect(c, 2, err, sizeof err);
	check(rc < 0 && strstr(err, "Connection refused") && !strstr(err, "sekrit"), "connection refused",
	      "%s", err);
	/* The next sync call reconnects at once, whatever the backoff. */
	double t0 = clock_mono();
	rc = redis_sync_connect(c, 2, err, sizeof err);
	check(rc < 0 && clock_mono() - t0 < 0.05, "sync connect skips the backoff", "%s", err);
	redis_conn_free(c);
	redis_url_free(&u);

	/* Accepts but never answers: the connect timeout covers AUTH. */
	fake_open(&f, FAKE_SILENT);
	snprintf(url, sizeof url, "redis://:sekrit-pass@127.0.0.1:%d/0", f.port);
	redis_url_parse(url, &u, err, sizeof err);
	struct redis_conn_opts o = { .url = &u, .name = "silent", .connect_timeout = 0.5 };
	c = redis_conn_new(&o, err, sizeof err);
	t0 = clock_mono();
	rc = redis_sync_connect(c, 5, err, sizeof err);
	double took = clock_mono() - t0;
	check(rc < 0 && strstr(err, "timeout") && strstr(err, "authenticating") && took > 0.45 && took < 1.5,
	      "silent server: connect timeout while authenticating", "%s after %.2fs", err, took);
	/* A sync call's own timeout, shorter than the conn's. */
	o.connect_timeout = 5;
	redis_conn_free(c);
	c = redis_conn_new(&o, err, sizeof err);
	t0 = clock_mono();
	rc = redis_sync_connect(c, 0.3, err, sizeof err);
	took = clock_mono() - t0;
	check(rc < 0 && strstr(err, "timeout") && took < 0.6, "sync timeout shorter than connect_timeout",
	      "%s after %.2fs", err, took);
	redis_conn_free(c);
	redis_url_free(&u);

	if (g_trust) {
		snprintf(url, sizeof url, "rediss://localhost:%d/0", f.port);
		redis_url_parse(url, &u, err, sizeof err);
		o.url = &u;
		o.trust = g_trust;
		o.connect_timeout = 0.5;
		c = redis_conn_new(&o, err, sizeof err);
		rc = c ? redis_sync_connect(c, 5, err, sizeof err) : -1;
		check(rc < 0 && strstr(err, "TLS handshake"), "silent TLS server: handshake timeout", "%s", err);
		redis_conn_free(c);
		redis_url_free(&u);
		o.trust = NULL;
	}
	fake_close(&f);

	/* Not Redis at all. */
	fake_open(&f, FAKE_GARBAGE);
	snprintf(url, sizeof url, "redis://127.0.0.1:%d", f.port);
	redis_url_parse(url, &u, err, sizeof err);
	o.url = &u;
	o.connect_timeout = 2;
	o.name = "garbage";
	c = redis_conn_new(&o, err, sizeof err);
	redis_conn_start(c, clock_mono());
	loop_until(&c, 1, &f, 3, has_error, &c);
	check(strstr(redis_conn_last_error(c), "protocol error") != NULL, "garbage from the server: protocol error",
	      "%s", redis_conn_last_error(c));
	redis_conn_free(c);
	redis_url_free(&u);
	fake_close(&f);

	/* Closes every connection: async backoff, one redis.down per outage. */
	fake_open(&f, FAKE_CLOSE);
	snprintf(url, sizeof url, "redis://:sekrit-pass@127.0.0.1:%d/3", f.port);
	redis_url_parse(url, &u, err, sizeof err);
	struct redis_conn_opts o2 = { .url = &u, .name = "flappy", .seed = 42 };
	c = redis_conn_new(&o2, err, sizeof err);
	struct capture cap;
	capture_begin(&cap);
	redis_conn_start(c, clock_mono());
	loop_until(&c, 1, &f, 1.65, NULL, NULL);
	char *logged = capture_end(&cap);
	/* Nominal attempt times 0, 0.1, 0.3, 0.7, 1.5 s (+-20 % each delay). */
	int gaps_ok = f.accepts >= 4;
	for (int i = 1; i < f.accepts && i < 5; i++) {
		double gap = f.accept_times[i] - f.accept_times[i - 1];
		double nominal = 0.1 * (1 << (i - 1));
		if (gap < nominal * 0.75 || gap > nominal * 1.3 + 0.05)
			gaps_ok = 0;
	}
	check(gaps_ok && f.accepts <= 6, "backoff 100 ms doubling with jitter", "%d attempts, gaps %.3f %.3f %.3f",
	      f.accepts, f.accepts > 1 ? f.accept_times[1] - f.accept_times[0] : 0,
	      f.accepts > 2 ? f.accept_times[2] - f.accept_times[1] : 0,
	      f.accepts > 3 ? f.accept_times[3] - f.accept_times[2] : 0);
	check(count_str(logged, "event=redis.down") == 1 && strstr(logged, "conn=flappy") &&
	      strstr(logged, "url=redis://:***@127.0.0.1:") && !strstr(logged, "sekrit"),
	      "one redis.down per outage, redacted URL, no password", NULL);
	check(redis_conn_state(c) == REDIS_BACKOFF || redis_conn_state(c) == REDIS_CONNECTING ||
	      redis_conn_state(c) == REDIS_AUTHENTICATING, "state is backoff/connecting during an outage",
	      "%s", redis_conn_state_name(c));
	free(logged);
	redis_conn_free(c);
	redis_url_free(&u);
	fake_close(&f);

	/* Answers the connect PING, then hangs: the idle health PING must
	 * time out and take the connection down. */
	fake_open(&f, FAKE_PONG_ONCE);
	snprintf(url, sizeof url, "redis://127.0.0.1:%d", f.port);
	redis_url_parse(url, &u, err, sizeof err);
	struct redis_conn_opts o3 = { .url = &u, .name = "hung", .io_timeout = 0.3, .health_interval = 0.3 };
	c = redis_conn_new(&o3, err, sizeof err);
	redis_conn_start(c, clock_mono());
	int up = loop_until(&c, 1, &f, 2, conn_ready, &c);
	t0 = clock_mono();
	int down = up && loop_until(&c, 1, &f, 3, has_error, &c);
	took = clock_mono() - t0;
	check(up && down && strstr(redis_conn_last_error(c), "timeout") && took > 0.5 && took < 1.0,
	      "health PING after 0.3 s idle detects a hung server", "\"%s\" after %.2fs",
	      redis_conn_last_error(c), took);
	/* A sync call that gets no reply gives up at its own timeout and takes
	 * the link down (a late reply could not be matched any more). */
	loop_until(&c, 1, &f, 2, conn_ready, &c);
	t0 = clock_mono();
	struct resp_value *v = redis_sync_callv(c, 0.3, err, sizeof err, "GET", "rcc:k", NULL);
	took = clock_mono() - t0;
	check(!v && strstr(err, "timeout: no reply within 0.3s") && redis_conn_state(c) == REDIS_BACKOFF &&
	      took < 0.6, "sync call timeout aborts the link", "\"%s\" after %.2fs, state=%s", err, took,
	      redis_conn_state_name(c));
	resp_value_free(v);
	/* Freeing with a command pending calls it back with "closed". */
	struct block_state b = { 0 };
	loop_until(&c, 1, &f, 2, conn_ready, &c);
	const char *ping[1] = { "PING" };
	rc = redis_conn_command(c, on_block, &b, 0, 1, ping, NULL);
	redis_conn_free(c);
	check(rc == 0 && b.done && !b.r && !strcmp(b.err, "closed"), "free calls pending callbacks with \"closed\"",
	      "rc=%d err=%s", rc, b.err);
	redis_url_free(&u);
	fake_close(&f);

	/* rediss:// with an IP literal cannot be verified by BearSSL. */
	if (g_trust) {
		redis_url_parse("rediss://127.0.0.1:6380", &u, err, sizeof err);
		o.url = &u;
		o.trust = g_trust;
		c = redis_conn_new(&o, err, sizeof err);
		check(!c && strstr(err, "IP address"), "rediss:// to an IP address refused up front", "%s", err);
		redis_conn_free(c);
		redis_url_free(&u);
	}
}

/* ---- restart ------------------------------------------------------------ */

struct restart_state {
	struct redis_conn *conns[2];
	struct sub_state s;
	struct block_state b;
	int phase;
};

static int went_down(void *arg)
{
	struct restart_state *r = arg;
	return !redis_conn_is_ready(r->conns[0]) && r->b.done;
}

static int first_up(void *arg)
{
	struct restart_state *r = arg;
	return redis_conn_is_ready(r->conns[0]) && redis_conn_is_ready(r->conns[1]) &&
	       r->s.sub_done >= 1 && r->s.psub_done >= 1;
}

static int came_back(void *arg)
{
	struct restart_state *r = arg;
	return redis_conn_is_ready(r->conns[0]) && redis_conn_is_ready(r->conns[1]) &&
	       r->s.ready_calls >= 2 && r->s.sub_done >= 2 && r->s.psub_done >= 2;
}

static int got_msg(void *arg)
{
	struct restart_state *r = arg;
	return r->s.n_msg >= 1;
}

static void check_restart(const struct redis_url *u, struct redis_conn *sync_conn, double seconds)
{
	struct restart_state r;
	char err[256];
	struct capture cap;

	memset(&r, 0, sizeof r);
	r.s.subscribe = 1;
	r.conns[0] = conn_new(u, "restart-a", 2, 30, NULL, NULL, NULL);
	r.conns[1] = conn_new(u, "restart-sub", 2, 30, sub_ready, on_push, &r.s);
	redis_conn_start(r.conns[0], clock_mono());
	redis_conn_start(r.conns[1], clock_mono());
	loop_until(r.conns, 2, NULL, 5, first_up, &r);
	int ok = redis_conn_is_ready(r.conns[0]) && r.s.sub_done == 1;
	check(ok, "restart: both conns up before the restart", NULL);

	/* Something pending when the server goes away must get an error. */
	const char *bl[3] = { "BLPOP", "rcc:never", "0" };
	redis_conn_command(r.conns[0], on_block, &r.b, 3600, 3, bl, NULL);
	capture_begin(&cap);
	printf("ready-for-restart\n");
	fflush(stdout);
	double t0 = clock_mono();
	int down = loop_until(r.conns, 2, NULL, seconds, went_down, &r);
	int back = down && loop_until(r.conns, 2, NULL, seconds, came_back, &r);
	char *logged = capture_end(&cap);
	check(down && !r.b.r && r.b.err[0], "restart: pending BLPOP fails when the server goes",
	      "err=\"%s\"", r.b.err);
	check(back, "restart: reconnected and re-subscribed from on_ready", "after %.2fs, ready_calls=%d sub=%d",
	      clock_mono() - t0, r.s.ready_calls, r.s.sub_done);
	check(count_str(logged, "event=redis.down") == 2 && count_str(logged, "event=redis.up") == 2 &&
	      (!u->password || !strstr(logged, u->password)),
	      "restart: one redis.down and one redis.up per conn", NULL);
	free(logged);

	const char *pub[3] = { "PUBLISH", "rcc:ch1", "hel\0lo\x06\x16" };
	size_t lens[3] = { 7, 7, 8 };
	redis_conn_command(r.conns[0], NULL, NULL, 0, 3, pub, lens);
	check(loop_until(r.conns, 2, NULL, 5, got_msg, &r), "restart: pub/sub works after reconnect", NULL);

	/* The sync conn's link died too; the next call notices and reconnects. */
	struct resp_value *v = redis_sync_callv(sync_conn, 5, err, sizeof err, "PING", NULL);
	check(v && v->type == RESP_SIMPLE, "restart: sync call reconnects a dead idle link", "%s", v ? "" : err);
	resp_value_free(v);
	resp_value_free(r.s.last_sub_reply);
	redis_conn_free(r.conns[0]);
	redis_conn_free(r.conns[1]);
}

/* ---- main --------------------------------------------------------------- */

static int usage(void)
{
	fprintf(stderr, "usage: redis_conn_check [--ca FILE] [--no-fakes] [--restart SECONDS | --expect-fail TEXT] URL\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *ca = NULL, *expect = NULL, *url = NULL;
	double restart = 0;
	int fakes = 1;
	struct trust_store ts;
	struct redis_url u;
	char err[512];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ca") && i + 1 < argc)
			ca = argv[++i];
		else if (!strcmp(argv[i], "--no-fakes"))
			fakes = 0;
		else if (!strcmp(argv[i], "--restart") && i + 1 < argc)
			restart = atof(argv[++i]);
		else if (!strcmp(argv[i], "--expect-fail") && i + 1 < argc)
			expect = argv[++i];
		else if (argv[i][0] != '-' && !url)
			url = argv[i];
		else
			return usage();
	}
	if (!url)
		return usage();
	log_init(getenv("REDIS_CHECK_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, 0);
	if (trust_store_init(&ts, ca, err, sizeof err) < 0) {
		fprintf(stderr, "trust: %s\n", err);
		return 2;
	}
	g_trust = &ts;
	if (redis_url_parse(url, &u, err, sizeof err) < 0) {
		fprintf(stderr, "url: %s\n", err);
		return 2;
	}
	redis_url_redact(&u, err, sizeof err);
	printf("# %s (%s)\n", err, redis_transport_name(u.transport));

	if (expect) {
		struct redis_conn_opts o = { .url = &u, .trust = &ts, .name = "expect-fail" };
		struct redis_conn *c = redis_conn_new(&o, err, sizeof err);
		int rc = c ? redis_sync_connect(c, 5, err, sizeof err) : -1;
		check(rc < 0 && strstr(err, expect) && (!u.password || !strstr(err, u.password)),
		      "connect fails as expected", "\"%s\"", err);
		redis_conn_free(c);
	} else {
		struct redis_conn *c = conn_new(&u, "main", 5, 30, NULL, NULL, NULL);
		if (c) {
			double t0 = clock_mono();
			int rc = redis_sync_connect(c, 5, err, sizeof err);
			check(rc == 0, "redis_sync_connect", "%s (%.1f ms)", rc ? err : "ready",
			      (clock_mono() - t0) * 1000);
			if (rc == 0) {
				check_basic(c);
				check_pipeline(&u);
				check_blocking(&u, c);
				check_pubsub(&u, c);
				check_free_in_callback(&u);
				check_sync_rules(&u);
				check_auth_failures(&u);
				check_acl_user(&u, c);
				if (fakes)
					check_fakes();
				if (restart > 0)
					check_restart(&u, c, restart);
			}
			redis_conn_free(c);
		}
	}
	redis_url_free(&u);
	trust_store_free(&ts);
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
