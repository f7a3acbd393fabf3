/* redis_failover: sentinel status and +switch-master, on redis_conn's
 * public API and the pure readers in sentinel.c. */
#include "redis/redis_failover.h"

#include <stdio.h>
#include <string.h>

#include "redis/redis_url.h"
#include "redis/sentinel.h"

static void host_port(char *out, size_t n, const char *host, int port)
{
	snprintf(out, n, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

size_t redis_failover_json(const struct redis_conn *c, char *out, size_t outlen)
{
	const char *list[REDIS_URL_MAX_SENTINELS];
	char names[REDIS_URL_MAX_SENTINELS][SENTINEL_HOST_MAX + 8];
	const struct redis_url *u = c ? redis_conn_parsed_url(c) : NULL;

	if (!u || u->n_sentinels <= 0)
		return (size_t)snprintf(out, outlen, "null");
	for (int i = 0; i < u->n_sentinels && i < REDIS_URL_MAX_SENTINELS; i++) {
		host_port(names[i], sizeof names[i], u->sentinels[i].host, u->sentinels[i].port);
		list[i] = names[i];
	}
	struct sentinel_status st = {
		.master_name = u->master_name, .sentinels = list, .n_sentinels = u->n_sentinels,
		.master = redis_conn_track(c)->master, .state = redis_conn_state_name(c),
		.master_changes = redis_conn_track(c)->changes, .last_switch = redis_conn_track(c)->last_switch,
	};
	return sentinel_status_json(&st, out, outlen);
}

void redis_failover_rediscover(struct redis_conn *c, double now, const char *why)
{
	const struct redis_url *u = c ? redis_conn_parsed_url(c) : NULL;

	if (!u || u->n_sentinels <= 0)
		return;
	/* A failure (pending callbacks get why), then no backoff: start
	 * connects from BACKOFF at once, and every connect asks the
	 * sentinels first. */
	redis_conn_abort(c, now, why);
	redis_conn_start(c, now);
}

int redis_failover_switch(struct redis_conn *c, const struct resp_value *msg, double now)
{
	char host[SENTINEL_HOST_MAX], addr[SENTINEL_HOST_MAX + 8];
	const struct redis_url *u = c ? redis_conn_parsed_url(c) : NULL;
	const struct resp_value *data;
	int port;

	if (!u || u->n_sentinels <= 0 || !msg || msg->type != RESP_ARRAY || msg->n_elems < 3)
		return 0;
	data = msg->elems[msg->n_elems - 1];
	if (data->type != RESP_BULK ||
	    sentinel_parse_switch(data->str, data->len, u->master_name, host, &port) != 1)
		return 0;
	host_port(addr, sizeof addr, host, port);
	if (redis_conn_is_ready(c) && !strcmp(addr, redis_conn_track(c)->master))
		return 0;
	redis_failover_rediscover(c, now, "+switch-master from a sentinel");
	return 1;
}
