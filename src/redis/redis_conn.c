/* redis_conn: the connection state machine. Every state change goes through
 * conn_set_state and every failure through conn_fail (close, schedule the
 * backoff, then fail pending callbacks), so a debug log shows where a
 * connection is stuck. Callbacks run only from process, tick, free and
 * abort; each of those, and a blocking caller's sync_begin/_end, brackets
 * its work with conn_enter/conn_leave so that a callback may free the conn
 * (it is then destroyed by the outermost conn_leave). The blocking calls
 * themselves live in redis_sync.c, on top of the public API. */
#include "redis/redis_conn.h"
#include "lib/clock.h"
#include "lib/errmsg.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "redis/redis_cmd.h"
#include "redis/redis_sock.h"
#include "redis/resp_fifo.h"
#include "redis/redis_tls.h"
#include "redis/sentinel.h"

#define DEFAULT_TIMEOUT 5.0
#define DEFAULT_HEALTH 30.0
/* Per process call, so one busy connection cannot starve the loop. */
#define RX_BUDGET ((size_t)1 << 20)
/* An output buffer bigger than this is released once drained. */
#define OUT_KEEP ((size_t)1 << 20)
/* A reply's deadline grows by one second per this many bytes received
 * while it is due: a big reply on a slow link completes, one dripped byte
 * by byte does not (issue 14). */
#define RX_ALLOWANCE_RATE ((double)(1 << 20))
/* A master that refused writes is back once replies come for this long
 * without a refusal (longer than REDIS_BACKOFF_MAX_SENTINEL plus jitter). */
#define REFUSAL_QUIET 2.5

#include "redis/redis_conn_impl.h"

static const char *const state_names[] = {
	"down", "connecting", "tls_handshake", "authenticating", "ready", "backoff", "closed"
};


/* xorshift64*: jitter only, so quality hardly matters; state per conn. */
static double rng_unit(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* Where this attempt goes: the sentinel being asked, the master it
 * named, or the URL's own server. */
static const char *target_host(const struct redis_conn *c)
{
	return c->phase == PH_SENTINEL ? c->url.sentinels[c->s_idx].host :
	       c->phase == PH_MASTER ? c->master_host : c->url.host;
}

static int target_port(const struct redis_conn *c)
{
	return c->phase == PH_SENTINEL ? c->url.sentinels[c->s_idx].port :
	       c->phase == PH_MASTER ? c->master_port : c->url.port;
}

/* ---- pending queue --------------------------------------------------- */

static int q_reserve(struct redis_conn *c)
{
	if (c->q_len < c->q_cap)
		return 0;
	size_t ncap = c->q_cap ? c->q_cap * 2 : 16;
	struct pending *nq = malloc(ncap * sizeof *nq);
	if (!nq)
		return -1;
	for (size_t i = 0; i < c->q_len; i++)
		nq[i] = c->q[(c->q_head + i) % c->q_cap];
	free(c->q);
	c->q = nq;
	c->q_head = 0;
	c->q_cap = ncap;
	return 0;
}

static struct pending *q_front(struct redis_conn *c)
{
	return &c->q[c->q_head];
}

static struct pending q_pop(struct redis_conn *c)
{
	struct pending p = c->q[c->q_head];

	c->q_head = (c->q_head + 1) % c->q_cap;
	c->q_len--;
	return p;
}

/* ---- logging and state ----------------------------------------------- */

static void conn_set_state(struct redis_conn *c, enum redis_conn_state st)
{
	if (c->state == st)
		return;
	log_debug("redis.state", "conn=%s url=%s from=%s to=%s", c->name, c->redacted,
		  state_names[c->state], state_names[st]);
	c->state = st;
}

static void conn_enter(struct redis_conn *c)
{
	c->depth++;
}

static void conn_destroy(struct redis_conn *c)
{
	redis_url_free(&c->url);
	redis_tls_free(c->tls);
	resp_reader_free(&c->reader);
	buf_free(&c->out);
	free(c->q);
	free(c);
}

/* After this returns c may be gone: callers return right after it. */
static void conn_leave(struct redis_conn *c)
{
	if (--c->depth == 0 && c->state == REDIS_CLOSED)
		conn_destroy(c);
}

static void deliver(struct redis_conn *c, redis_reply_fn cb, void *arg,
		    struct resp_value *v, const char *err)
{
	struct resp_value *saved = c->cur;

	c->cur = v;
	if (cb)
		cb(c, v, err, arg);
	resp_value_free(c->cur);   /* NULL when taken */
	c->cur = saved;
}

static void close_socket(struct redis_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->ai)
		freeaddrinfo(c->ai);
	c->ai = c->ai_next = NULL;
	resp_reader_reset(&c->reader);
	buf_free(&c->out);
	buf_init(&c->out);
	c->out_off = 0;
	c->in_pubsub = 0;
	resp_value_free(c->held);
	c->held = NULL;
	c->gen++;
}

/* Pop and fail every pending command. A callback may free the conn, which
 * drains the same queue with "closed"; popping before each call keeps both
 * loops correct. */
static void fail_pending(struct redis_conn *c, const char *why)
{
	char msg[256];

	snprintf(msg, sizeof msg, "%s", why);
	while (c->q_len) {
		struct pending p = q_pop(c);
		deliver(c, p.cb, p.arg, NULL, msg);
	}
}

static void conn_fail(struct redis_conn *c, double now, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void start_connect(struct redis_conn *c, double now);

static void conn_fail(struct redis_conn *c, double now, const char *fmt, ...)
{
	va_list ap;
	char q[300];

	if (c->state == REDIS_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
	va_end(ap);
	redis_url_scrub(&c->url, c->last_error);
	enum redis_conn_state was = c->state;
	close_socket(c);
	if (c->phase == PH_SENTINEL && c->s_asked + 1 < c->url.n_sentinels) {
		/* Not an outage yet: the next sentinel may answer. */
		fail_pending(c, c->last_error);
		if (c->state == REDIS_CLOSED)
			return;
		c->s_asked++;
		c->s_idx = (c->s_idx + 1) % c->url.n_sentinels;
		start_connect(c, now);
		return;
	}
	if (c->url.n_sentinels > 0) {
		/* Every reconnect asks again, starting with the sentinel that
		 * answered last (as redis-py moves it to the front). */
		c->phase = PH_SENTINEL;
		c->s_idx = c->s_good;
		c->s_asked = 0;
	}

	double delay = c->backoff * (0.8 + 0.4 * rng_unit(&c->rng));
	c->deadline = now + delay;
	/* Sentinel-managed: a failover takes seconds, and asking sentinels is
	 * cheap, so retry at least every REDIS_BACKOFF_MAX_SENTINEL. */
	c->backoff = fmin(c->backoff * 2, c->url.n_sentinels ? REDIS_BACKOFF_MAX_SENTINEL
							     : REDIS_BACKOFF_MAX);
	log_quote(q, sizeof q, c->last_error);
	if (c->down_logged < (c->sync ? 1 : 2)) {
		/* Once per outage; sync callers get the message in err instead. */
		log_event(c->sync ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, "redis.down",
			  "conn=%s url=%s state=%s error=%s", c->name, c->redacted,
			  state_names[was], q);
		c->down_logged = c->sync ? 1 : 2;
		c->down_since = now;
	} else {
		log_debug("redis.retry_failed", "conn=%s url=%s state=%s error=%s retry_in=%.2fs",
			  c->name, c->redacted, state_names[was], q, delay);
	}
	conn_set_state(c, REDIS_BACKOFF);
	fail_pending(c, c->last_error);
}

/* READY on a master a sentinel named: note a change of address. */
static void note_master(struct redis_conn *c)
{
	struct sentinel_track *t = &c->track;
	int r = sentinel_track_note(t, c->master_host, c->master_port, clock_wall());

	if (r == 2)
		log_info("redis.master_changed", "conn=%s master_name=%s from=%s to=%s", c->name,
			 c->url.master_name, t->previous, t->master);
	else if (r == 1)
		log_debug("redis.master", "conn=%s master_name=%s master=%s", c->name,
			  c->url.master_name, t->master);
}

static void log_up(struct redis_conn *c, double now)
{
	if (c->down_logged) {
		log_event(c->down_logged == 2 ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG, "redis.up",
			  "conn=%s url=%s down_for=%.1fs", c->name, c->redacted, now - c->down_since);
		c->down_logged = 0;
	}
}

static void become_ready(struct redis_conn *c, double now)
{
	if (c->phase == PH_MASTER)
		note_master(c);
	conn_set_state(c, REDIS_READY);
	c->last_tx = now;
	c->last_error[0] = '\0';
	/* A master refusing writes is not back yet: keep backing off, quietly. */
	if (c->refused_at == 0) {
		c->backoff = REDIS_BACKOFF_MIN;
		log_up(c, now);
	}
	if (c->on_ready)
		c->on_ready(c, c->arg);
}

/* ---- commands -------------------------------------------------------- */

static int queue_command(struct redis_conn *c, enum pending_kind kind, redis_reply_fn cb,
			 void *arg, double block, int argc, const char *const *argv,
			 const size_t *lens)
{
	struct pending p = { cb, arg, clock_mono(), block > 0 ? block : 0, kind, REDIS_CMD_PLAIN, 1, 0 };

	if (redis_cmd_classify(argc, argv, lens, &p.sub, &p.remaining) < 0)
		return -2;
	if (q_reserve(c) < 0)
		return -2;
	if (resp_write_command(&c->out, argc, argv, lens) < 0) {
		c->out.failed = 0;   /* nothing was appended; keep the queue usable */
		return -2;
	}
	if (!c->q_len) {
		c->head_since = p.queued_at;
		c->rx_since_head = 0;
	}
	c->q[(c->q_head + c->q_len) % c->q_cap] = p;
	c->q_len++;
	return 0;
}

int redis_conn_command(struct redis_conn *c, redis_reply_fn cb, void *arg, double block_seconds,
		       int argc, const char *const *argv, const size_t *lens)
{
	if (!c || c->state != REDIS_READY)
		return -1;
	return queue_command(c, PK_USER, cb, arg, block_seconds, argc, argv, lens);
}

int redis_conn_command_wait(struct redis_conn *c, redis_reply_fn cb, void *arg, int replicas,
			    int timeout_ms, int argc, const char *const *argv, const size_t *lens)
{
	char n[16], t[16];
	const char *w[3] = { "WAIT", n, t };

	if (!c || c->state != REDIS_READY)
		return -1;
	snprintf(n, sizeof n, "%d", replicas);
	/* Replicas missing at the last WAIT: wait briefly, or every step on
	 * this conn would take the whole timeout until they are back. */
	timeout_ms = c->wait_degraded && timeout_ms > REDIS_WAIT_DEGRADED_MS ? REDIS_WAIT_DEGRADED_MS
									     : timeout_ms;
	snprintf(t, sizeof t, "%d", timeout_ms);
	size_t mark = c->out.len;
	if (queue_command(c, PK_HELD, NULL, NULL, 0, argc, argv, lens) < 0)
		return -2;
	/* WAIT blocks up to its timeout: that is its block time. */
	if (queue_command(c, PK_WAIT, cb, arg, timeout_ms / 1000.0, 3, w, NULL) < 0) {
		c->out.len = mark;   /* both or neither: take the command back */
		c->q_len--;
		return -2;
	}
	c->q[(c->q_head + c->q_len - 1) % c->q_cap].want = replicas;
	return 0;
}

int redis_conn_command_in_db(struct redis_conn *c, redis_reply_fn cb, void *arg, int db, int back_db,
			     int argc, const char *const *argv, const size_t *lens)
{
	char to[16], back[16];
	const char *sel[2] = { "SELECT", to }, *ret[2] = { "SELECT", back };

	if (!c || c->state != REDIS_READY)
		return -1;
	if (db == back_db)
		return queue_command(c, PK_USER, cb, arg, 0, argc, argv, lens);
	snprintf(to, sizeof to, "%d", db);
	snprintf(back, sizeof back, "%d", back_db);
	size_t mark = c->out.len;
	int queued = 0;
	if (queue_command(c, PK_USER, NULL, NULL, 0, 2, sel, NULL) == 0 && ++queued &&
	    queue_command(c, PK_USER, cb, arg, 0, argc, argv, lens) == 0 && ++queued &&
	    queue_command(c, PK_USER, NULL, NULL, 0, 2, ret, NULL) == 0)
		return 0;
	/* All or none: left in the other database, this conn's own commands
	 * would run there. */
	c->out.len = mark;
	c->q_len -= queued;
	return -2;
}

struct resp_value *redis_reply_take(struct redis_conn *c)
{
	struct resp_value *v = c->cur;

	c->cur = NULL;
	return v;
}

/* ---- replies ---------------------------------------------------------- */

/* Is v the confirmation a pending (un)subscribe waits for? Tracks whether
 * the server is in subscribed mode, which is what tells messages apart
 * from replies that merely look like them. */
static int sub_confirms(struct redis_conn *c, const struct pending *p, const struct resp_value *v)
{
	int r = redis_cmd_confirms(p->sub, v);

	if (r)
		c->in_pubsub = r == 1;
	return r != 0;
}

static void error_text(const struct redis_conn *c, const struct resp_value *v, char *out, size_t n)
{
	if (v->type == RESP_ERROR || v->type == RESP_SIMPLE || v->type == RESP_BULK)
		snprintf(out, n, "%.*s", (int)(v->len > 200 ? 200 : v->len), v->str);
	else
		snprintf(out, n, "unexpected %s reply", resp_type_name(v->type));
	redis_url_scrub(&c->url, out);
}

/* A sentinel named the master: leave the sentinel, connect to it. */
static void on_discover_reply(struct redis_conn *c, struct resp_value *v, double now)
{
	char why[220];
	int port = 0;
	int rc = sentinel_parse_master_addr(v, c->master_host, &port, why, sizeof why);

	resp_value_free(v);
	if (rc < 0) {
		conn_fail(c, now, "sentinel %s:%d: %s: %s", target_host(c), target_port(c),
			  c->url.master_name, why);
		return;
	}
	log_debug("redis.discovered", "conn=%s sentinel=%s:%d master_name=%s master=%s:%d", c->name,
		  target_host(c), target_port(c), c->url.master_name, c->master_host, port);
	c->master_port = port;
	c->s_good = c->s_idx;
	close_socket(c);
	c->phase = PH_MASTER;
	start_connect(c, now);
}

/* Takes v. */
static void handle_reply(struct redis_conn *c, struct resp_value *v, double now)
{
	char text[240];

	if (c->in_pubsub && redis_cmd_is_message(v)) {
		if (c->on_push) {
			struct resp_value *saved = c->cur;
			c->cur = v;
			c->on_push(c, v, c->arg);
			resp_value_free(c->cur);
			c->cur = saved;
		} else {
			size_t n = c->push.n;
			if (resp_fifo_push(&c->push, v, REDIS_PUSH_QUEUE_MAX) < 0)
				log_warn("redis.push_dropped", "conn=%s url=%s queued=%zu", c->name,
					 c->redacted, n);
		}
		return;
	}
	if (!c->q_len) {
		error_text(c, v, text, sizeof text);
		resp_value_free(v);
		conn_fail(c, now, "unexpected reply from server: %s", text);
		return;
	}
	struct pending *head = q_front(c);
	if (c->url.n_sentinels && !c->watch && (head->kind == PK_USER || head->kind == PK_HELD) &&
	    sentinel_reply_means_failover(v)) {
		/* Demoted or loading: the command's caller sees a connection
		 * failure (as for a drop), and the sentinels are asked again. */
		error_text(c, v, text, sizeof text);
		resp_value_free(v);
		c->refused_at = now;
		conn_fail(c, now, "master %s cannot take writes now: %s", c->track.master, text);
		return;
	}
	if (c->refused_at > 0 && now - c->refused_at > REFUSAL_QUIET && head->kind == PK_USER &&
	    v->type != RESP_ERROR) {
		/* No refusal for longer than the longest backoff: writes pass. */
		c->refused_at = 0;
		c->backoff = REDIS_BACKOFF_MIN;
		log_up(c, now);
	}
	/* A reply is complete: the next one's deadline starts now. */
	c->head_since = now;
	c->rx_since_head = 0;
	if (sub_confirms(c, head, v) && head->remaining > 1) {
		head->remaining--;
		resp_value_free(v);
		return;
	}
	struct pending p = q_pop(c);
	switch (p.kind) {
	case PK_AUTH:
	case PK_SELECT:
	case PK_HELLO:
		if (v->type == RESP_ERROR) {
			error_text(c, v, text, sizeof text);
			resp_value_free(v);
			if (p.kind == PK_AUTH && c->phase == PH_SENTINEL)
				conn_fail(c, now, "sentinel %s:%d: AUTH failed: %s", target_host(c),
					  target_port(c), text);
			else if (p.kind == PK_AUTH)
				conn_fail(c, now, "AUTH failed: %s", text);
			else if (p.kind == PK_SELECT)
				conn_fail(c, now, "SELECT %d failed: %s", c->url.db, text);
			else
				conn_fail(c, now, "PING failed: %s", text);
			return;
		}
		resp_value_free(v);
		if (c->q_len == 0 && c->state == REDIS_AUTHENTICATING)
			become_ready(c, now);
		return;
	case PK_HEALTH:
		resp_value_free(v);
		return;
	case PK_DISCOVER:
		on_discover_reply(c, v, now);
		return;
	case PK_HELD:
		resp_value_free(c->held);
		c->held = v;
		return;
	case PK_WAIT: {
		struct resp_value *held = c->held;
		int shortfall = redis_cmd_wait_short(v, p.want, text, sizeof text);
		c->held = NULL;
		resp_value_free(v);
		c->wait_short += (unsigned long)shortfall;
		if (shortfall != c->wait_degraded) {
			/* Not fatal: the command ran, it may just not survive a crash.
			 * Logged per change: while short, WAITs are brief anyway. */
			char q[300];
			c->wait_degraded = shortfall;
			log_quote(q, sizeof q, text);
			log_event(shortfall ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, shortfall ? "redis.wait_short" :
				  "redis.wait_ok", "conn=%s url=%s wanted=%d got=%s", c->name, c->redacted, p.want, q);
		}
		deliver(c, p.cb, p.arg, held, held ? NULL : "no reply before WAIT");
		return;
	}
	case PK_ROLE: {
		int role = sentinel_parse_role(v);
		resp_value_free(v);
		if (role != 1) {
			conn_fail(c, now, "%s:%d (named by a sentinel for %s) is not a master%s",
				  c->master_host, c->master_port, c->url.master_name,
				  role == 0 ? " (ROLE: replica)" : " (no usable ROLE reply)");
			return;
		}
		if (c->q_len == 0 && c->state == REDIS_AUTHENTICATING)
			become_ready(c, now);
		return;
	}
	case PK_USER:
		deliver(c, p.cb, p.arg, v, NULL);
		return;
	}
}

static int send_plain(struct redis_conn *c, double now, char *why, size_t whylen);

static void dispatch(struct redis_conn *c, double now)
{
	unsigned long gen = c->gen;
	struct resp_value *v;

	while (c->state != REDIS_CLOSED && c->gen == gen) {
		int r = resp_reader_get(&c->reader, &v);
		if (r == 0)
			break;
		if (r < 0) {
			const char *e = resp_reader_error(&c->reader);
			conn_fail(c, now, "%s%s", strncmp(e, "protocol error", 14) ? "protocol error: " : "", e);
			break;
		}
		handle_reply(c, v, now);
		if (c->send_per_reply && !c->tls && c->state == REDIS_READY && c->gen == gen) {
			/* An error is left for io_plain's next send to report. */
			char why[128];
			send_plain(c, now, why, sizeof why);
		}
	}
}

/* ---- connecting ------------------------------------------------------- */

/* On a sentinel: AUTH with the sentinel password, then the question (a
 * watch conn only proves the sentinel answers). */
static int begin_sentinel(struct redis_conn *c)
{
	int rc = 0;

	if (c->url.sentinel_password) {
		const char *a[2] = { "AUTH", c->url.sentinel_password };
		rc |= queue_command(c, PK_AUTH, NULL, NULL, 0, 2, a, NULL);
	}
	if (c->watch) {
		const char *a[1] = { "PING" };
		rc |= queue_command(c, PK_HELLO, NULL, NULL, 0, 1, a, NULL);
	} else {
		const char *a[3] = { "SENTINEL", "get-master-addr-by-name", c->url.master_name };
		rc |= queue_command(c, PK_DISCOVER, NULL, NULL, 0, 3, a, NULL);
	}
	return rc;
}

static void begin_auth(struct redis_conn *c, double now)
{
	char dbs[16];
	int rc = 0;

	if (c->phase == PH_SENTINEL) {
		if (begin_sentinel(c)) {
			conn_fail(c, now, "out of memory");
			return;
		}
		conn_set_state(c, REDIS_AUTHENTICATING);
		return;
	}
	if (c->url.password) {
		const char *a[3] = { "AUTH", c->url.user ? c->url.user : c->url.password,
				     c->url.password };
		rc |= queue_command(c, PK_AUTH, NULL, NULL, 0, c->url.user ? 3 : 2, a, NULL);
	}
	if (c->url.db) {
		snprintf(dbs, sizeof dbs, "%d", c->url.db);
		const char *a[2] = { "SELECT", dbs };
		rc |= queue_command(c, PK_SELECT, NULL, NULL, 0, 2, a, NULL);
	}
	/* Without AUTH or SELECT a PING proves the server answers (and does
	 * not demand a password) before READY is reported. */
	if (c->phase == PH_MASTER) {
		/* The sentinel's answer may be stale (a failover under way):
		 * only a server that says it is the master will do. */
		const char *a[1] = { "ROLE" };
		rc |= queue_command(c, PK_ROLE, NULL, NULL, 0, 1, a, NULL);
	} else if (!c->url.password && !c->url.db) {
		const char *a[1] = { "PING" };
		rc |= queue_command(c, PK_HELLO, NULL, NULL, 0, 1, a, NULL);
	}
	if (rc) {
		conn_fail(c, now, "out of memory");
		return;
	}
	conn_set_state(c, REDIS_AUTHENTICATING);
}

static void on_connected(struct redis_conn *c, double now)
{
	char why[160];

	if (c->ai)
		freeaddrinfo(c->ai);
	c->ai = c->ai_next = NULL;
	c->last_rx = c->last_tx = now;
	if (c->tls) {
		if (redis_tls_begin(c->tls, c->trust, target_host(c), why, sizeof why) < 0) {
			conn_fail(c, now, "%s", why);
			return;
		}
		conn_set_state(c, REDIS_TLS_HANDSHAKE);
		return;
	}
	begin_auth(c, now);
}

static void start_connect(struct redis_conn *c, double now)
{
	char why[400] = "";
	int rc;

	close_socket(c);
	c->deadline = now + c->connect_timeout;
	conn_set_state(c, REDIS_CONNECTING);
	if (c->url.transport == REDIS_TRANSPORT_UNIX) {
		rc = redis_sock_connect_unix(c->url.path, &c->fd, why, sizeof why);
	} else {
		if (redis_sock_resolve(target_host(c), target_port(c), &c->ai, why, sizeof why) < 0) {
			conn_fail(c, now, "%s", why);
			return;
		}
		c->ai_next = c->ai;
		rc = redis_sock_connect_next(&c->ai_next, &c->fd, why, sizeof why);
	}
	if (rc < 0)
		conn_fail(c, now, "%s", why);
	else if (rc > 0)
		on_connected(c, now);
}

static void connect_finish(struct redis_conn *c, double now)
{
	char why[400];
	int soerr = redis_sock_finish(c->fd);

	if (soerr == 0) {
		on_connected(c, now);
		return;
	}
	if (c->url.transport == REDIS_TRANSPORT_UNIX) {
		conn_fail(c, now, "connect to %s: %s", c->url.path, strerror(soerr));
		return;
	}
	snprintf(why, sizeof why, "connect to %s:%d: %s", target_host(c), target_port(c),
		 strerror(soerr));
	close(c->fd);
	c->fd = -1;
	/* The next address of the same host, if any. */
	int rc = redis_sock_connect_next(&c->ai_next, &c->fd, why, sizeof why);
	if (rc < 0)
		conn_fail(c, now, "%s", why);
	else if (rc > 0)
		on_connected(c, now);
}

void redis_conn_start(struct redis_conn *c, double now)
{
	if (!c || (c->state != REDIS_DOWN && c->state != REDIS_BACKOFF))
		return;
	conn_enter(c);
	start_connect(c, now);
	conn_leave(c);
}

/* ---- I/O --------------------------------------------------------------- */

static size_t out_pending(const struct redis_conn *c)
{
	return c->out.len - c->out_off;
}

/* Sending from an offset and compacting rarely keeps a big pipeline or a
 * large value from being memmoved once per partial send. */
static void out_sent(struct redis_conn *c, size_t n)
{
	c->out_off += n;
	if (c->out_off == c->out.len) {
		if (c->out.cap > OUT_KEEP) {
			buf_free(&c->out);
			buf_init(&c->out);
		} else {
			buf_reset(&c->out);
		}
		c->out_off = 0;
	} else if (c->out_off >= 65536 && c->out_off * 2 >= c->out.len) {
		buf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
}

static int feed(struct redis_conn *c, const void *p, size_t n, char *why, size_t whylen)
{
	c->rx_since_head += n;
	if (resp_reader_feed(&c->reader, p, n) < 0) {
		snprintf(why, whylen, "reply rejected: %s", resp_reader_error(&c->reader)[0]
			 ? resp_reader_error(&c->reader) : "too large or out of memory");
		return -1;
	}
	return 0;
}

/* Plain socket: write what is queued, as far as the socket takes it. -1
 * with why set on error. */
static int send_plain(struct redis_conn *c, double now, char *why, size_t whylen)
{
	ssize_t n;

	while (out_pending(c)) {
		if ((n = redis_sock_send(c->fd, c->out.data + c->out_off, out_pending(c), why, whylen)) <= 0)
			return n < 0 ? -1 : 0;
		out_sent(c, (size_t)n);
		c->last_tx = now;
	}
	return 0;
}

/* Plain socket: write what is queued, read what is there. -1 with why set
 * on error or EOF (bytes read before it are already fed). */
static int io_plain(struct redis_conn *c, int can_read, double now, char *why, size_t whylen)
{
	size_t budget = RX_BUDGET;
	ssize_t n;

	if (send_plain(c, now, why, whylen) < 0)
		return -1;
	if (out_pending(c))
		return 0;   /* the socket is full: poll says when it drains */
	while (can_read && budget) {
		char tmp[16384];
		if ((n = redis_sock_recv(c->fd, tmp, sizeof tmp, 0, why, whylen)) <= 0)
			return n < 0 ? -1 : 0;
		if (feed(c, tmp, (size_t)n, why, whylen) < 0)
			return -1;
		c->last_rx = now;
		budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
		/* A short read emptied the socket: asking again would only get
		 * EAGAIN (a system call per wake-up); poll says when more comes. */
		if ((size_t)n < sizeof tmp)
			break;
	}
	return 0;
}

/* rediss://: the same through the TLS engine (redis_tls.h), until nothing
 * moves: application bytes from it to the reader and from the queue to it,
 * record bytes between it and the socket. */
static int io_tls(struct redis_conn *c, int can_read, double now, char *why, size_t whylen)
{
	size_t budget = RX_BUDGET;

	for (;;) {
		int progress = 0;
		unsigned char *b;
		size_t len;
		ssize_t n;

		if (redis_tls_closed(c->tls, c->state == REDIS_TLS_HANDSHAKE, why, whylen))
			return -1;
		if ((b = redis_tls_recvapp_buf(c->tls, &len))) {
			if (feed(c, b, len, why, whylen) < 0)
				return -1;
			redis_tls_recvapp_ack(c->tls, len);
			c->last_rx = now;
			progress = 1;
		}
		if (out_pending(c) && (b = redis_tls_sendapp_buf(c->tls, &len))) {
			if (len > out_pending(c))
				len = out_pending(c);
			memcpy(b, c->out.data + c->out_off, len);
			out_sent(c, len);
			redis_tls_sendapp_ack(c->tls, len);
			progress = 1;
		}
		if ((b = redis_tls_sendrec_buf(c->tls, &len))) {
			if ((n = redis_sock_send(c->fd, b, len, why, whylen)) < 0)
				return -1;
			if (n > 0) {
				redis_tls_sendrec_ack(c->tls, (size_t)n);
				c->last_tx = now;
				progress = 1;
			}
		}
		if (can_read && budget && (b = redis_tls_recvrec_buf(c->tls, &len))) {
			if ((n = redis_sock_recv(c->fd, b, len, c->state == REDIS_TLS_HANDSHAKE, why, whylen)) < 0)
				return -1;
			if (n > 0) {
				redis_tls_recvrec_ack(c->tls, (size_t)n);
				budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
				progress = 1;
			} else {
				can_read = 0;
			}
		}
		if (!progress)
			return 0;
	}
}

static void do_io(struct redis_conn *c, short revents, double now)
{
	char why[256] = "";
	unsigned long gen = c->gen;
	int can_read = (revents & (POLLIN | POLLHUP | POLLERR)) != 0;
	int rc;

	for (int pass = 0; pass < 2; pass++) {
		rc = c->tls ? io_tls(c, can_read, now, why, sizeof why)
			    : io_plain(c, can_read, now, why, sizeof why);
		if (rc == 0 && c->tls && c->state == REDIS_TLS_HANDSHAKE && redis_tls_handshake_done(c->tls)) {
			log_debug("redis.tls", "conn=%s url=%s handshake=done", c->name, c->redacted);
			begin_auth(c, now);
			if (c->gen != gen || c->state == REDIS_CLOSED)
				return;
			rc = io_tls(c, 0, now, why, sizeof why);
		}
		/* Replies read before an error or EOF still reach their callers
		 * (the server's last words are often the useful message). */
		dispatch(c, now);
		if (c->gen != gen || c->state == REDIS_CLOSED)
			return;
		if (rc < 0) {
			conn_fail(c, now, "%s", why);
			return;
		}
		/* Callbacks may have queued more: send it now, not a loop later. */
		if (!out_pending(c))
			return;
		can_read = 0;
	}
}

static void process_inner(struct redis_conn *c, short revents, double now)
{
	if (revents & POLLNVAL) {
		conn_fail(c, now, "socket is not open (POLLNVAL)");
		return;
	}
	if (c->state == REDIS_CONNECTING) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		connect_finish(c, now);
		if (c->state == REDIS_CONNECTING || c->state == REDIS_BACKOFF ||
		    c->state == REDIS_CLOSED)
			return;
		revents = 0;
	}
	if (c->state == REDIS_TLS_HANDSHAKE || c->state == REDIS_AUTHENTICATING ||
	    c->state == REDIS_READY)
		do_io(c, revents, now);
}

void redis_conn_process(struct redis_conn *c, short revents, double now)
{
	/* From inside one of its own callbacks: ignored (see the header). A
	 * blocking caller's bracket (redis_conn_sync_begin) is one level of
	 * depth that is not a callback. */
	if (!c || c->state == REDIS_CLOSED || c->depth > c->sync)
		return;
	conn_enter(c);
	process_inner(c, revents, now);
	conn_leave(c);
}

int redis_conn_pollfd(const struct redis_conn *c, struct pollfd *pfd)
{
	short ev = 0;

	if (!c || c->fd < 0)
		return 0;
	switch (c->state) {
	case REDIS_CONNECTING:
		ev = POLLOUT;
		break;
	case REDIS_TLS_HANDSHAKE:
	case REDIS_AUTHENTICATING:
	case REDIS_READY:
		ev = c->tls ? redis_tls_events(c->tls, out_pending(c) != 0)
			    : POLLIN | (out_pending(c) ? POLLOUT : 0);
		break;
	default:
		return 0;
	}
	pfd->fd = c->fd;
	pfd->events = ev;
	pfd->revents = 0;
	return 1;
}

/* ---- timers ------------------------------------------------------------ */

/* A total deadline for the oldest pending reply, from when it became due
 * (queued, or the reply before it completed): bytes trickling in do not
 * restart it, they only buy time in proportion to their number. */
static double read_deadline(const struct redis_conn *c)
{
	const struct pending *h = &c->q[c->q_head];

	return fmax(c->head_since, h->queued_at) + c->io_timeout + h->block +
	       (double)c->rx_since_head / RX_ALLOWANCE_RATE;
}

double redis_conn_next_deadline(const struct redis_conn *c)
{
	if (!c)
		return INFINITY;
	switch (c->state) {
	case REDIS_CONNECTING:
	case REDIS_TLS_HANDSHAKE:
	case REDIS_AUTHENTICATING:
	case REDIS_BACKOFF:
		return c->deadline;
	case REDIS_READY:
		if (c->q_len)
			return read_deadline(c);
		return c->health_interval > 0 ? c->last_tx + c->health_interval : INFINITY;
	default:
		return INFINITY;
	}
}

static void tick_inner(struct redis_conn *c, double now)
{
	switch (c->state) {
	case REDIS_CONNECTING:
	case REDIS_TLS_HANDSHAKE:
	case REDIS_AUTHENTICATING:
		if (now >= c->deadline)
			conn_fail(c, now, "timeout after %.3gs while %s", c->connect_timeout,
				  c->state == REDIS_CONNECTING ? "connecting" :
				  c->state == REDIS_TLS_HANDSHAKE ? "in the TLS handshake" :
				  "authenticating");
		break;
	case REDIS_READY:
		if (c->q_len) {
			if (now >= read_deadline(c))
				conn_fail(c, now, "timeout: reply not complete within %.3gs",
					  read_deadline(c) - fmax(c->head_since, q_front(c)->queued_at));
		} else if (c->health_interval > 0 && now >= c->last_tx + c->health_interval) {
			const char *a[1] = { "PING" };
			if (queue_command(c, PK_HEALTH, NULL, NULL, 0, 1, a, NULL) == 0)
				c->last_tx = now;
		}
		break;
	case REDIS_BACKOFF:
		if (now >= c->deadline)
			start_connect(c, now);
		break;
	default:
		break;
	}
}

void redis_conn_tick(struct redis_conn *c, double now)
{
	if (!c || c->state == REDIS_CLOSED || c->depth > c->sync)
		return;
	conn_enter(c);
	tick_inner(c, now);
	conn_leave(c);
}

/* ---- life cycle --------------------------------------------------------- */

struct redis_conn *redis_conn_new(const struct redis_conn_opts *o, char *err, size_t errlen)
{
	struct redis_conn *c;
	const struct redis_url *u = o->url;

	if (!u) {
		errmsg_set(err, errlen, "no Redis URL");
		return NULL;
	}
	if (redis_url_check(u, o->trust != NULL, err, errlen) < 0)
		return NULL;
	c = calloc(1, sizeof *c);
	if (!c || redis_url_copy(&c->url, u) < 0 ||
	    (u->transport == REDIS_TRANSPORT_TLS && !(c->tls = redis_tls_new()))) {
		if (c) {
			redis_url_free(&c->url);
			free(c);
		}
		errmsg_set(err, errlen, "out of memory");
		return NULL;
	}
	c->fd = -1;
	c->trust = o->trust;
	snprintf(c->name, sizeof c->name, "%s", o->name && *o->name ? o->name : "redis");
	redis_url_redact(u, c->redacted, sizeof c->redacted);
	c->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : DEFAULT_TIMEOUT;
	c->io_timeout = o->io_timeout > 0 ? o->io_timeout : DEFAULT_TIMEOUT;
	c->health_interval = o->health_interval == 0 ? DEFAULT_HEALTH : o->health_interval;
	c->send_per_reply = o->send_per_reply;
	c->on_ready = o->on_ready;
	c->on_push = o->on_push;
	c->arg = o->arg;
	c->rng = o->seed;
	if (!c->rng) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		c->rng = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^
			 ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)c;
	}
	if (!c->rng)
		c->rng = 0x9E3779B97F4A7C15ULL;
	c->backoff = REDIS_BACKOFF_MIN;
	c->state = REDIS_DOWN;
	c->phase = u->n_sentinels > 0 ? PH_SENTINEL : PH_DIRECT;
	c->watch = u->n_sentinels > 0 && o->sentinel_watch;
	resp_reader_init(&c->reader, o->limits);
	buf_init(&c->out);
	return c;
}

void redis_conn_free(struct redis_conn *c)
{
	if (!c || c->state == REDIS_CLOSED)
		return;
	conn_enter(c);
	log_debug("redis.close", "conn=%s url=%s", c->name, c->redacted);
	conn_set_state(c, REDIS_CLOSED);
	close_socket(c);
	fail_pending(c, "closed");
	resp_fifo_clear(&c->push);
	conn_leave(c);
}

int redis_conn_set_limits(struct redis_conn *c, const struct resp_limits *limits)
{
	struct resp_reader *r = &c->reader;

	if (r->in.len > r->pos || r->skipping)
		return -1;
	/* The reader is empty: init only copies and clamps the limits. */
	resp_reader_free(r);
	resp_reader_init(r, limits);
	return 0;
}

int redis_conn_is_ready(const struct redis_conn *c)
{
	return c && c->state == REDIS_READY;
}

enum redis_conn_state redis_conn_state(const struct redis_conn *c)
{
	return c->state;
}

const char *redis_conn_state_name(const struct redis_conn *c)
{
	return state_names[c->state];
}

const char *redis_conn_last_error(const struct redis_conn *c)
{
	return c->last_error;
}

const char *redis_conn_url(const struct redis_conn *c)
{
	return c->redacted;
}

/* ---- for blocking callers (redis_sync) --------------------------------- */

int redis_conn_sync_begin(struct redis_conn *c, char *err, size_t errlen)
{
	if (!c) {
		errmsg_set(err, errlen, "no connection");
		return -1;
	}
	if (c->depth > 0) {
		errmsg_set(err, errlen, "sync Redis call from inside a callback of the same connection");
		return -1;
	}
	if (c->state == REDIS_CLOSED) {
		errmsg_set(err, errlen, "closed");
		return -1;
	}
	conn_enter(c);
	c->sync++;
	return 0;
}

void redis_conn_sync_end(struct redis_conn *c)
{
	c->sync--;
	conn_leave(c);
}

void redis_conn_abort(struct redis_conn *c, double now, const char *why)
{
	if (!c || c->depth > c->sync || c->state == REDIS_DOWN || c->state == REDIS_BACKOFF ||
	    c->state == REDIS_CLOSED)
		return;
	conn_enter(c);
	conn_fail(c, now, "%s", why);
	conn_leave(c);
}

struct resp_value *redis_conn_push_take(struct redis_conn *c)
{
	return c ? resp_fifo_pop(&c->push) : NULL;
}

/* ---- sentinel-managed connections ---------------------------------------- */

const struct redis_url *redis_conn_parsed_url(const struct redis_conn *c)
{
	return &c->url;
}

const struct sentinel_track *redis_conn_track(const struct redis_conn *c)
{
	return &c->track;
}

int redis_conn_take_master_change(struct redis_conn *c)
{
	return c ? sentinel_track_take(&c->track) : 0;
}

unsigned long redis_conn_wait_short(const struct redis_conn *c)
{
	return c ? c->wait_short : 0;
}
