/* libFuzzer target for sentinel.c and redis_cmd.c: the input is read as a
 * RESP stream, and every reply goes through every reader (they must be
 * total); the raw input is also a +switch-master message body. A parsed
 * master address must be a valid host and port. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_cmd.h"
#include "redis/resp.h"
#include "redis/sentinel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct resp_limits lim = RESP_DEFAULT_LIMITS;
	struct resp_reader r;
	struct resp_value *v;
	char host[SENTINEL_HOST_MAX], why[128];
	int port = 0;

	lim.max_buffered = 1 << 16;
	resp_reader_init(&r, &lim);
	if (resp_reader_feed(&r, data, size) == 0) {
		while (resp_reader_get(&r, &v) == 1) {
			if (sentinel_parse_master_addr(v, host, &port, why, sizeof why) == 0 &&
			    (port < 1 || port > 65535 || !host[0] || strlen(host) >= SENTINEL_HOST_MAX))
				abort();
			(void)sentinel_parse_role(v);
			(void)sentinel_reply_means_failover(v);
			(void)redis_cmd_is_message(v);
			(void)redis_cmd_wait_short(v, 1, why, sizeof why);
			for (int s = REDIS_CMD_PLAIN; s <= REDIS_CMD_PUNSUBSCRIBE; s++)
				(void)redis_cmd_confirms((enum redis_cmd_sub)s, v);
			resp_value_free(v);
		}
	}
	resp_reader_free(&r);
	if (sentinel_parse_switch((const char *)data, size, "mymaster", host, &port) == 1 &&
	    (port < 1 || port > 65535 || !host[0]))
		abort();
	return 0;
}
