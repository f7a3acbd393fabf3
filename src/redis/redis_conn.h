/* redis_conn: owns the socket of one connection to one Redis server (TCP,
 * TLS through redis_tls, unix), or to the master a list of sentinels names:
 * connect (discovery and ROLE check included), AUTH/SELECT, pipelined
 * commands matched to callbacks, WAIT after a command, pub/sub delivery,
 * idle health PINGs, reconnect with backoff. Socket calls are redis_sock's,
 * command and reply classes redis_cmd's, sentinel replies sentinel's.
 * Driven from the owner's poll() loop; it never blocks but for getaddrinfo
 * of a host name (blocking calls are redis_sync's, built on this API). It
 * must not print, exit, keep global state, or log anything but the redacted
 * URL. One thread, one process. */
#ifndef TRYON_REDIS_CONN_H
#define TRYON_REDIS_CONN_H
#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "redis/redis_url.h"
#include "lib/clock.h"
#include "redis/resp.h"
#include "redis/sentinel.h"
#include "lib/trust.h"

struct redis_conn;   /* opaque */

/* Callback rules. Callbacks run only inside redis_conn_process, _tick, _free
 * and _abort (so also inside redis_sync's calls, which drive process and
 * tick), never inside redis_conn_command or _start. Inside one, the conn's
 * own callbacks may: queue commands (redis_conn_command), take the reply,
 * read state, and free the conn (the memory goes when the outermost call
 * returns; pending callbacks are called first with "closed"; the owner must
 * then drop its pointer). They must not make blocking calls on that conn
 * (redis_conn_sync_begin refuses them with an error), and calls to its
 * redis_conn_process, _tick and _abort are ignored. After fork() a child
 * must not touch the parent's conns at all, not even to free them (that
 * would run the parent's callbacks in the child): it makes its own. */

enum redis_conn_state {
	REDIS_DOWN,            /* created, not started */
	REDIS_CONNECTING,      /* TCP/unix connect in progress */
	REDIS_TLS_HANDSHAKE,
	REDIS_AUTHENTICATING,  /* AUTH / SELECT sent, replies awaited */
	REDIS_READY,           /* commands accepted */
	REDIS_BACKOFF,         /* failed; reconnects when the backoff expires */
	REDIS_CLOSED           /* being freed; terminal */
};

/* Called once per command: with the reply (err NULL), or with reply NULL and
 * err a message when the connection failed or was freed before the reply
 * came. reply (a RESP error reply is a reply, not err) belongs to the conn
 * and is freed when the callback returns, unless the callback takes it with
 * redis_reply_take. err is valid only during the call. */
typedef void (*redis_reply_fn)(struct redis_conn *c, struct resp_value *reply,
			       const char *err, void *arg);
/* A pub/sub message: ["message", channel, data] or ["pmessage", pattern,
 * channel, data] (arrays of bulks). Owned as for redis_reply_fn. */
typedef void (*redis_push_fn)(struct redis_conn *c, struct resp_value *msg, void *arg);
/* The connection became READY (first time and after every reconnect): the
 * place to re-issue SUBSCRIBEs and other per-connection setup. */
typedef void (*redis_ready_fn)(struct redis_conn *c, void *arg);

struct redis_conn_opts {
	const struct redis_url *url;       /* copied */
	const struct trust_store *trust;   /* borrowed, must outlive the conn;
					      required for rediss:// */
	const char *name;                  /* for logs, e.g. "broker"; copied */
	double connect_timeout;            /* TCP + TLS + AUTH/SELECT; 0 = 5 s */
	double io_timeout;                 /* longest a reply may take, from when it
					      is due (sent, and the replies before
					      it complete) to its last byte, plus
					      1 s per MiB received meanwhile and
					      the command's block_seconds; 0 = 5 s */
	double health_interval;            /* PING after this long idle; 0 = 30 s,
					      < 0 = never */
	redis_ready_fn on_ready;           /* may be NULL */
	redis_push_fn on_push;             /* NULL: messages queue up for
					      redis_conn_push_take */
	void *arg;                         /* given to on_ready and on_push */
	uint64_t seed;                     /* backoff jitter; 0 = pid and time */
	const struct resp_limits *limits;  /* NULL = RESP_DEFAULT_LIMITS; copied */
	int sentinel_watch;                /* sentinel:// only: connect to a
					      sentinel itself (AUTH with its
					      password) and stay there, to
					      SUBSCRIBE +switch-master */
	int send_per_reply;                /* plain sockets: what a reply's
					      callback queues is sent before the
					      next reply is handled (not once
					      for all the replies of a read):
					      work pipelined in two groups then
					      overlaps with the server's */
};

/* Backoff: 100 ms doubling to 10 s (1 s for a sentinel:// URL), each
 * delay jittered by +-20 %. */
#define REDIS_BACKOFF_MIN 0.1
#define REDIS_BACKOFF_MAX 10.0
#define REDIS_BACKOFF_MAX_SENTINEL 1.0
/* WAIT timeout (ms) while replicas are missing (redis_conn_command_wait). */
#define REDIS_WAIT_DEGRADED_MS 5
/* Most pub/sub messages held for redis_conn_push_take; more are dropped. */
#define REDIS_PUSH_QUEUE_MAX 4096

/* Create a conn in state DOWN (no I/O yet). Copies what it needs from o.
 * Returns NULL with err set on a bad option (rediss:// without a trust
 * store, or with an IP address as host: BearSSL cannot verify a certificate
 * for an IP address, so the URL must name the host the certificate names)
 * or out of memory. Free with redis_conn_free. */
struct redis_conn *redis_conn_new(const struct redis_conn_opts *o, char *err, size_t errlen);

/* Close the socket, call every pending callback with reply NULL and err
 * "closed", and release everything. NULL is fine. Safe from inside any of the
 * conn's callbacks: the memory is then released when the outermost call into
 * the conn (process, tick, or redis_conn_sync_end) returns, and the conn
 * must not be used again by the caller. */
void redis_conn_free(struct redis_conn *c);

/* Begin connecting (async): from DOWN or BACKOFF; no-op when already
 * connecting or READY. The host is resolved with AI_NUMERICHOST first; a host
 * name falls back to a blocking getaddrinfo, here and on every reconnect
 * (from redis_conn_tick), so the parent should use IP addresses or
 * /etc/hosts names, which resolve without network I/O. All addresses are
 * tried in order. Calls no callback. Connect failures are not reported
 * here: the conn goes to BACKOFF and retries by itself. */
void redis_conn_start(struct redis_conn *c, double now);

/* 1 in READY (commands accepted), else 0. */
int redis_conn_is_ready(const struct redis_conn *c);

/* Queue a command (pipelined; sent by the next redis_conn_process). argv[i]
 * holds lens[i] bytes (lens NULL: C strings); both are copied. cb may be
 * NULL (reply dropped); otherwise it is called exactly once, later, never
 * from inside this function. block_seconds extends the read deadline for a
 * blocking command (BLMOVE ... 1 -> 1). SUBSCRIBE/PSUBSCRIBE/UNSUBSCRIBE/
 * PUNSUBSCRIBE are matched to the confirmation of their last channel, so cb
 * runs once; they must name their channels. Returns 0; -1 when not READY
 * (nothing queued, cb not called; retry after on_ready); -2 on a command
 * this conn refuses (argc < 1, (P)UNSUBSCRIBE without channels, commands
 * that break reply matching: CLIENT REPLY, MONITOR, HELLO, RESET, QUIT) or
 * out of memory. */
int redis_conn_command(struct redis_conn *c, redis_reply_fn cb, void *arg, double block_seconds,
		       int argc, const char *const *argv, const size_t *lens);

/* The same, followed by WAIT replicas timeout_ms on this conn (pipelined,
 * both or neither queued): cb runs once WAIT has answered, with the
 * command's own reply (or err as for redis_conn_command: the link failed
 * before both replies came). A WAIT that reached fewer than replicas (or
 * failed) is counted, not passed on; the first of a run is logged at warn
 * (event=redis.wait_short, event=redis.wait_ok when replicas answer
 * again), and until then this conn's WAITs use REDIS_WAIT_DEGRADED_MS, so
 * a missing replica costs the timeout once, not on every step. For the steps whose loss a master crash must not cause
 * (scripts.c: RECORD and FINISH with a URL's wait_replicas). Returns as
 * redis_conn_command. */
int redis_conn_command_wait(struct redis_conn *c, redis_reply_fn cb, void *arg, int replicas,
			    int timeout_ms, int argc, const char *const *argv, const size_t *lens);
/* cmd run in database db of c's server: SELECT db, cmd, SELECT back_db,
 * queued together or not at all (cb gets cmd's reply; the SELECTs' replies
 * are dropped). For a lookup in another database of the same server on a
 * connection whose own commands use back_db. db == back_db: cmd alone.
 * Returns as redis_conn_command. */
int redis_conn_command_in_db(struct redis_conn *c, redis_reply_fn cb, void *arg, int db, int back_db,
			     int argc, const char *const *argv, const size_t *lens);
/* How many of c's WAITs reached fewer replicas than asked (or failed). */
unsigned long redis_conn_wait_short(const struct redis_conn *c);

/* Inside a redis_reply_fn or redis_push_fn: take ownership of the reply
 * being delivered (free it with resp_value_free). NULL elsewhere. */
struct resp_value *redis_reply_take(struct redis_conn *c);

/* 1 if c has a socket to poll (fills pfd->fd and pfd->events, clears
 * revents), else 0 (DOWN, BACKOFF, CLOSED). Call it again before every
 * poll(): the wanted events change with every call into the conn. */
int redis_conn_pollfd(const struct redis_conn *c, struct pollfd *pfd);

/* Do the I/O revents allows (revents 0 is fine: it just tries), then
 * dispatch replies and messages to their callbacks. Errors close the socket,
 * fail pending callbacks and start the backoff. now: clock_mono(). */
void redis_conn_process(struct redis_conn *c, short revents, double now);

/* Absolute time (clock_mono) of the conn's next timer (connect or read
 * timeout, end of backoff, health PING), or INFINITY. */
double redis_conn_next_deadline(const struct redis_conn *c);

/* Fire due timers: time out a connect or a reply, reconnect after backoff,
 * send the health PING. Calls callbacks like redis_conn_process. */
void redis_conn_tick(struct redis_conn *c, double now);

/* Change the reply limits (copied): between replies only, e.g. from
 * on_ready, so no reply is read under two sets of limits. They stay for
 * later connections. Returns 0, or -1 (nothing changed) while a reply is
 * partly read. */
int redis_conn_set_limits(struct redis_conn *c, const struct resp_limits *limits);

/* The current state. */
enum redis_conn_state redis_conn_state(const struct redis_conn *c);
/* Static lower-case name of the current state ("ready", "backoff", ...). */
const char *redis_conn_state_name(const struct redis_conn *c);
/* The last connection error, "" once READY again; valid until the next
 * call into c. Never holds the password. */
const char *redis_conn_last_error(const struct redis_conn *c);
/* The redacted URL the conn logs with. Valid for the conn's lifetime. */
const char *redis_conn_url(const struct redis_conn *c);

/* For blocking callers (redis_sync.h): the few hooks a synchronous wait
 * needs beyond the calls above. The parent's loop has no use for them. */

/* Bracket one blocking wait on c. begin returns -1 with err set, and takes
 * nothing, when c is NULL or CLOSED or when called from inside one of c's
 * callbacks (c is mid-dispatch there; a nested wait would re-enter it).
 * Between a successful begin and its end: redis_conn_process and _tick work
 * as from the owner's loop (normally they are ignored while a call into c
 * is in progress); connection failures log at debug only, as the caller
 * reports them; and c stays allocated even if a callback frees it. Its
 * state is then CLOSED and end releases the memory: a caller that saw
 * CLOSED must not touch c after end. */
int redis_conn_sync_begin(struct redis_conn *c, char *err, size_t errlen);
void redis_conn_sync_end(struct redis_conn *c);

/* Give up on the current connection attempt or link: close it as a failure
 * with the message why (becomes last_error; pending callbacks get it as err;
 * the backoff starts). For a waiter whose deadline passed: a reply coming
 * later could no longer be matched to its command. No-op in DOWN, BACKOFF
 * and CLOSED, and from inside c's own callbacks. */
void redis_conn_abort(struct redis_conn *c, double now, const char *why);

/* Sentinel-managed connections (a sentinel:// URL, redis_url.h). Each
 * connect (the first and every reconnect) asks the sentinels in turn,
 * starting with the one that answered last, for SENTINEL
 * get-master-addr-by-name, connects to that address, and becomes READY
 * only once ROLE there says master (AUTH/SELECT with the URL's password
 * and db first). A failed sentinel means the next one at once; all failing
 * means backoff. A -READONLY, -LOADING, -MASTERDOWN or -NOREPLICAS reply
 * to a command
 * fails the connection like a drop (its callback and every pending one get
 * err), so the caller's reconnect path runs, against the new master. */

/* The URL c connects by (n_sentinels > 0 for a sentinel:// one); valid
 * for c's lifetime. The password is in it: never print it. */
const struct redis_url *redis_conn_parsed_url(const struct redis_conn *c);
/* The master c was last READY on, how often it changed and when
 * (sentinel.h); the owner reads it (redis_failover.h renders it). Valid for
 * c's lifetime; all zero for other URLs. */
const struct sentinel_track *redis_conn_track(const struct redis_conn *c);
/* 1 once per master change (then 0 until the next): the owner's cue to
 * re-run what it does after a failover (recovery). */
int redis_conn_take_master_change(struct redis_conn *c);
/* The oldest queued pub/sub message (only queued when opts.on_push is
 * NULL); the caller owns it (resp_value_free). NULL when none is queued. */
struct resp_value *redis_conn_push_take(struct redis_conn *c);

#endif
