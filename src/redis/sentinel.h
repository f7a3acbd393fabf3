/* sentinel: the pure half of Redis Sentinel support: reading the replies
 * and messages discovery and failover depend on (get-master-addr-by-name,
 * ROLE, +switch-master, -READONLY/-LOADING) and rendering the status JSON
 * that doctor and /health show. No I/O, no clock, no allocation, no logs:
 * redis_conn owns the sockets and feeds replies here. Every function is
 * total over any input (fuzzed through tests/unit/test_sentinel.c). */
#ifndef TRYON_REDIS_SENTINEL_H
#define TRYON_REDIS_SENTINEL_H
#include <stddef.h>

#include "redis/resp.h"

/* Longest host a sentinel may report (DNS name or address). */
#define SENTINEL_HOST_MAX 256

/* SENTINEL get-master-addr-by-name reply: [host, port] as bulks. Returns 0
 * with host (NUL-terminated) and *port (1..65535) filled; -1 with why set:
 * nil (the sentinel does not know the master), an error reply (its text,
 * cut to fit), or any other shape. host must hold SENTINEL_HOST_MAX bytes. */
int sentinel_parse_master_addr(const struct resp_value *v, char *host, int *port,
			       char *why, size_t whylen);

/* ROLE reply: 1 when the first element says "master", 0 for "slave" /
 * "replica" / "sentinel", -1 for an error reply or another shape. */
int sentinel_parse_role(const struct resp_value *v);

/* The data of a +switch-master message, "<name> <old-ip> <old-port>
 * <new-ip> <new-port>" (n bytes, not NUL-terminated). 1 when it names
 * master (host and *port get the new address), 0 when it names another
 * master, -1 when malformed. host holds SENTINEL_HOST_MAX bytes. */
int sentinel_parse_switch(const char *data, size_t n, const char *master, char *host, int *port);

/* 1 when v is an error reply saying this server cannot take writes now
 * (READONLY: it was demoted; LOADING: it is loading its data set;
 * MASTERDOWN: a replica cut off from its master; NOREPLICAS: fewer
 * replicas than min-replicas-to-write, which is what a master sees the
 * moment its only replica is promoted): the sign to ask the sentinels
 * again. Else 0. */
int sentinel_reply_means_failover(const struct resp_value *v);

/* Which master a connection is on and how often that changed. Zeroed =
 * no master yet. */
struct sentinel_track {
	char master[SENTINEL_HOST_MAX + 8];    /* "host:port" ("[v6]:port") or "" */
	char previous[SENTINEL_HOST_MAX + 8];  /* the one before the last change */
	unsigned long changes;
	int untaken;                           /* a change not yet taken */
	double last_switch;                    /* `now` of the last change, 0 = none */
};

/* The connection is READY on host:port at (wall clock) now. Returns 0 when
 * that is the master already noted, 1 for the first one, 2 for a change
 * (t->previous then names the old one). */
int sentinel_track_note(struct sentinel_track *t, const char *host, int port, double now);
/* 1 once per change noted (then 0 until the next), else 0. */
int sentinel_track_take(struct sentinel_track *t);

/* What doctor and /health show about one sentinel-managed connection. */
struct sentinel_status {
	const char *master_name;
	const char *const *sentinels;   /* "host:port" each */
	int n_sentinels;
	const char *master;             /* "host:port" in use, "" when none yet */
	const char *state;              /* the connection's state name */
	unsigned long master_changes;   /* master address changes seen */
	double last_switch;             /* wall clock of the last change, 0 = never */
};

/* Render st as one JSON object: {"master_name":...,"sentinels":[...],
 * "master":...,"state":...,"master_changes":N,"last_switch":T|null}.
 * Returns the length it needs (as snprintf); out is always NUL-terminated
 * when outlen > 0, and holds the whole object only when the return value
 * is below outlen. */
size_t sentinel_status_json(const struct sentinel_status *st, char *out, size_t outlen);

#endif
