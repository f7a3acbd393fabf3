/* scripts: Lua texts and EVALSHA plumbing. */
#include "redis/scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "redis/redis_sync.h"
#include "redis/resp.h"

/* KEYS: the queue lists in kombu order..., in-flight list (last).
 * ARGV[1]: how many messages at most. Returns {list, msg, list, msg, ...}.
 * RPOPLPUSH (not LMOVE) keeps Redis 5 and 6.0 brokers working. */
static const char fetch_lua[] =
	"local inflight = KEYS[#KEYS]\n"
	"local n = tonumber(ARGV[1])\n"
	"local out = {}\n"
	"for i = 1, #KEYS - 1 do\n"
	"  while n > 0 do\n"
	"    local m = redis.call('RPOPLPUSH', KEYS[i], inflight)\n"
	"    if not m then break end\n"
	"    out[#out + 1] = KEYS[i]\n"
	"    out[#out + 1] = m\n"
	"    n = n - 1\n"
	"  end\n"
	"  if n == 0 then break end\n"
	"end\n"
	"return out\n";

/* KEYS: in-flight list, unacked, unacked_index, held set.
 * ARGV[1]: delivery time; then triples (message, delivery_tag, unacked value).
 * A message no longer in our in-flight list was recovered by another node:
 * it is not recorded (0) and must not run here. */
static const char record_lua[] =
	"local res = {}\n"
	"for i = 2, #ARGV, 3 do\n"
	"  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then\n"
	"    redis.call('ZADD', KEYS[3], ARGV[1], ARGV[i + 1])\n"
	"    redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])\n"
	"    redis.call('SADD', KEYS[4], ARGV[i + 1])\n"
	"    res[#res + 1] = 1\n"
	"  else\n"
	"    res[#res + 1] = 0\n"
	"  end\n"
	"end\n"
	"return res\n";

/* KEYS: in-flight list, target list. ARGV: message as in the in-flight list,
 * what to push (a dead-letter record, or the message), 'lpush'|'rpush'. */
static const char drop_inflight_lua[] =
	"if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then\n"
	"  redis.call(ARGV[3] == 'rpush' and 'RPUSH' or 'LPUSH', KEYS[2], ARGV[2])\n"
	"  return 1\n"
	"end\n"
	"return 0\n";

/* KEYS: unacked, unacked_index, held set, result key ('' if none), target list ('' if none).
 * ARGV: delivery_tag, meta JSON ('' = store nothing), result expiry (s),
 *       result db (-1 = same db), broker db, action, message to push.
 * action: 'ack' | 'lpush' | 'rpush' | 'none'. The result is written first
 * and never over a stored SUCCESS (as Celery 5.2.6); then, only if we still
 * hold the message (HDEL == 1), the ack and the push happen. Returns
 * {stored, held}. The script selects the broker DB back itself, so it does
 * not matter whether the server keeps a script's SELECT local to it. */
static const char finish_lua[] =
	"local stored = 0\n"
	"if ARGV[2] ~= '' then\n"
	"  if ARGV[4] ~= '-1' then redis.call('SELECT', ARGV[4]) end\n"
	"  local cur = redis.call('GET', KEYS[4])\n"
	"  if not (cur and string.find(cur, '\"status\": \"SUCCESS\"', 1, true)) then\n"
	"    if tonumber(ARGV[3]) > 0 then redis.call('SETEX', KEYS[4], ARGV[3], ARGV[2])\n"
	"    else redis.call('SET', KEYS[4], ARGV[2]) end\n"
	"    redis.call('PUBLISH', KEYS[4], ARGV[2])\n"
	"    stored = 1\n"
	"  end\n"
	"  if ARGV[4] ~= '-1' then redis.call('SELECT', ARGV[5]) end\n"
	"end\n"
	"local held = 0\n"
	"if ARGV[6] ~= 'none' then\n"
	"  held = redis.call('HDEL', KEYS[1], ARGV[1])\n"
	"  redis.call('ZREM', KEYS[2], ARGV[1])\n"
	"  redis.call('SREM', KEYS[3], ARGV[1])\n"
	"  if held == 1 and ARGV[6] == 'lpush' then redis.call('LPUSH', KEYS[5], ARGV[7])\n"
	"  elseif held == 1 and ARGV[6] == 'rpush' then redis.call('RPUSH', KEYS[5], ARGV[7]) end\n"
	"end\n"
	"return {stored, held}\n";

/* KEYS: result key. ARGV: meta JSON, expiry. Returns 1 stored, 0 kept SUCCESS. */
static const char store_result_lua[] =
	"local cur = redis.call('GET', KEYS[1])\n"
	"if cur and string.find(cur, '\"status\": \"SUCCESS\"', 1, true) then return 0 end\n"
	"if tonumber(ARGV[2]) > 0 then redis.call('SETEX', KEYS[1], ARGV[2], ARGV[1])\n"
	"else redis.call('SET', KEYS[1], ARGV[1]) end\n"
	"redis.call('PUBLISH', KEYS[1], ARGV[1])\n"
	"return 1\n";

/* KEYS: unacked_index, unacked. ARGV[1]: now; ARGV[2..]: tags we hold.
 * Gives a fresh score to each tag still recorded, so kombu's
 * restore_visible never redelivers a message we are still holding. */
static const char renew_lua[] =
	"local n = 0\n"
	"for i = 2, #ARGV do\n"
	"  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then\n"
	"    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])\n"
	"    n = n + 1\n"
	"  end\n"
	"end\n"
	"return n\n";

static const char *const texts[SCRIPT_COUNT] = {
	fetch_lua, record_lua, drop_inflight_lua, finish_lua, store_result_lua, renew_lua,
};

static void sha1_hex(const char *s, char out[41])
{
	br_sha1_context c;
	unsigned char d[20];

	br_sha1_init(&c);
	br_sha1_update(&c, s, strlen(s));
	br_sha1_out(&c, d);
	for (int i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void scripts_load(struct redis_conn *c)
{
	for (int i = 0; i < SCRIPT_COUNT; i++) {
		const char *argv[3] = { "SCRIPT", "LOAD", texts[i] };
		redis_conn_command(c, NULL, NULL, 0, 3, argv, NULL);
	}
}

static int build_argv(const char **argv, size_t *lens, const char *cmd, const char *script,
		      int nkeys, const char *const *keys, const size_t *keylens,
		      int nargs, const char *const *args, const size_t *arglens, char *nk)
{
	int n = 0;
	argv[n] = cmd, lens[n++] = strlen(cmd);
	argv[n] = script, lens[n++] = strlen(script);
	snprintf(nk, 16, "%d", nkeys);
	argv[n] = nk, lens[n++] = strlen(nk);
	for (int i = 0; i < nkeys; i++)
		argv[n] = keys[i], lens[n++] = keylens ? keylens[i] : strlen(keys[i]);
	for (int i = 0; i < nargs; i++)
		argv[n] = args[i], lens[n++] = arglens ? arglens[i] : strlen(args[i]);
	return n;
}

int scripts_call(struct redis_conn *c, enum script_id id,
		 int nkeys, const char *const *keys, const size_t *keylens,
		 int nargs, const char *const *args, const size_t *arglens,
		 redis_reply_fn cb, void *arg)
{
	char sha[41], nk[16];
	int total = 3 + nkeys + nargs;
	const char **argv = malloc((size_t)total * sizeof *argv);
	size_t *lens = malloc((size_t)total * sizeof *lens);
	int rc = -1;

	if (argv && lens) {
		sha1_hex(texts[id], sha);
		int n = build_argv(argv, lens, "EVALSHA", sha, nkeys, keys, keylens, nargs, args, arglens, nk);
		rc = redis_conn_command(c, cb, arg, 0, n, argv, lens);
	}
	free(argv);
	free(lens);
	return rc;
}

struct resp_value *scripts_call_sync(struct redis_conn *c, enum script_id id, double timeout,
				     int nkeys, const char *const *keys, const size_t *keylens,
				     int nargs, const char *const *args, const size_t *arglens,
				     char *err, size_t errlen)
{
	char nk[16];
	int total = 3 + nkeys + nargs;
	const char **argv = malloc((size_t)total * sizeof *argv);
	size_t *lens = malloc((size_t)total * sizeof *lens);
	struct resp_value *r = NULL;

	if (argv && lens) {
		int n = build_argv(argv, lens, "EVAL", texts[id], nkeys, keys, keylens, nargs, args, arglens, nk);
		r = redis_sync_call(c, timeout, err, errlen, n, argv, lens);
	} else {
		snprintf(err, errlen, "out of memory");
	}
	free(argv);
	free(lens);
	return r;
}

int scripts_is_noscript(const struct resp_value *r)
{
	return r && r->type == RESP_ERROR && r->len >= 8 && !strncmp(r->str, "NOSCRIPT", 8);
}
