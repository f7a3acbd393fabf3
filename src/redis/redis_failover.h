/* redis_failover: what the owners of sentinel-managed redis_conns use on
 * top of redis_conn's public API: the status JSON doctor and /health show,
 * and following a sentinel's +switch-master message (from a watch conn,
 * redis_conn_opts.sentinel_watch) before the old master's links drop. It
 * keeps no state of its own and must not block or print. */
#ifndef TRYON_REDIS_FAILOVER_H
#define TRYON_REDIS_FAILOVER_H
#include <stddef.h>

#include "redis/redis_conn.h"
#include "redis/resp.h"

/* The channel a watch conn SUBSCRIBEs to. */
#define REDIS_FAILOVER_CHANNEL "+switch-master"

/* c's sentinel status as one JSON object (sentinel.h's
 * sentinel_status_json: master_name, sentinels, master, state,
 * master_changes, last_switch), or "null" when c is NULL or not
 * sentinel-managed. Returns the length needed, as snprintf. */
size_t redis_failover_json(const struct redis_conn *c, char *out, size_t outlen);

/* Drop c's link (as a failure with why: pending callbacks get it) and
 * ask the sentinels again at once. No-op for other URLs. Not from inside
 * c's own callbacks (redis_conn_abort ignores those). */
void redis_failover_rediscover(struct redis_conn *c, double now, const char *why);

/* A pub/sub message from a watch conn: when it is a +switch-master naming
 * c's master and an address other than the one c is READY on, c drops its
 * link and asks the sentinels again at once (redis_failover_rediscover) and 1
 * is returned; else 0. Call it for each conn on the same URL. Not from
 * inside c's own callbacks (the watch conn's are fine). */
int redis_failover_switch(struct redis_conn *c, const struct resp_value *msg, double now);

#endif
