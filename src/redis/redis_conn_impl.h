/* redis_conn_impl: the connection's private state, shared by redis_conn.c
 * only (kept apart so that file stays within the size rule). Not an API:
 * everything outside src/redis/redis_conn.c uses redis_conn.h, which
 * redis_conn.c includes first (its types are used here). */
#ifndef TRYON_REDIS_CONN_IMPL_H
#define TRYON_REDIS_CONN_IMPL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/buf.h"
#include "redis/redis_cmd.h"
#include "redis/redis_tls.h"
#include "redis/resp.h"
#include "redis/sentinel.h"

enum pending_kind {
	PK_USER,
	PK_AUTH,     /* connect sequence: AUTH, SELECT, or PING when neither */
	PK_SELECT,
	PK_HELLO,
	PK_HEALTH,   /* idle PING; any reply proves the link alive */
	PK_DISCOVER, /* SENTINEL get-master-addr-by-name */
	PK_ROLE,     /* ROLE on the master a sentinel named */
	PK_HELD,     /* redis_conn_command_wait's command: reply kept ... */
	PK_WAIT      /* ... until its WAIT answers, then both go to cb */
};

struct pending {
	redis_reply_fn cb;
	void *arg;
	double queued_at;
	double block;
	enum pending_kind kind;
	enum redis_cmd_sub sub;
	long remaining;          /* (un)subscribe confirmations still due */
	int want;                /* PK_WAIT: replicas asked for */
};

struct redis_conn {
	struct redis_url url;              /* owned copy */
	const struct trust_store *trust;   /* borrowed */
	char name[48];
	char redacted[400];
	double connect_timeout, io_timeout, health_interval;
	int send_per_reply;
	redis_ready_fn on_ready;
	redis_push_fn on_push;
	void *arg;
	uint64_t rng;

	enum redis_conn_state state;
	int fd;
	struct addrinfo *ai;               /* current attempt's addresses */
	struct addrinfo *ai_next;          /* next one to try */
	/* sentinel:// (url.n_sentinels > 0): every connect asks a sentinel
	 * for the master (PH_SENTINEL), then connects to it and checks ROLE
	 * (PH_MASTER); any failure starts over at the sentinels. */
	enum { PH_DIRECT, PH_SENTINEL, PH_MASTER } phase;
	int watch;                         /* opts.sentinel_watch */
	int s_idx;                         /* sentinel asked now */
	int s_good;                        /* the one that answered last: asked first */
	int s_asked;                       /* sentinels tried this round */
	char master_host[SENTINEL_HOST_MAX];
	int master_port;
	struct sentinel_track track;       /* the master last READY on */
	double refused_at;                 /* last refused write; 0 = none lately */
	struct resp_value *held;           /* PK_HELD's reply, until its WAIT's */
	unsigned long wait_short;          /* WAITs that reached fewer replicas */
	int wait_degraded;                 /* the last WAIT was short */
	struct redis_tls *tls;             /* rediss:// only; owned */
	struct resp_reader reader;
	struct buf out;                    /* encoded commands; sent up to out_off */
	size_t out_off;

	struct pending *q;                 /* ring of replies awaited */
	size_t q_head, q_len, q_cap;
	struct resp_fifo push;              /* messages for redis_conn_push_take */

	double deadline;                   /* connect timeout or backoff end */
	double last_rx, last_tx;
	double head_since;                 /* when the oldest pending reply became due */
	size_t rx_since_head;              /* bytes received since then */
	double backoff;                    /* next delay before jitter */
	double down_since;
	int in_pubsub;                     /* server is in subscribed mode */
	int down_logged;                   /* 0, or the outage was logged: 1 at
					      debug (sync use), 2 at warn */
	int depth;                         /* calls into the conn in progress */
	int sync;                          /* 1 inside redis_conn_sync_begin/_end:
					      log quietly, allow process/tick */
	unsigned long gen;                 /* bumped whenever the socket closes */
	struct resp_value *cur;            /* reply being delivered, untaken */
	char last_error[256];
};
#endif
