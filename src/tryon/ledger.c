/* ledger: shared try-on state in the cache Redis. */
#include "tryon/ledger.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/clock.h"
#include "redis/redis_sync.h"
#include "redis/resp.h"

#define RETRY_CAP 0.25   /* longest single wait hint, s: waiters look again this often */

void ledger_owner(char *out, size_t n, const char *task_id, const char *node)
{
	snprintf(out, n, "%s %s", task_id ? task_id : "-", node ? node : "-");
}

void ledger_key(char out[LEDGER_KEY_SIZE], const char *prefix, const char *cache_key)
{
	const char *hex = cache_key + (strncmp(cache_key, CACHEKEY_PREFIX, strlen(CACHEKEY_PREFIX)) ? 0
										     : strlen(CACHEKEY_PREFIX));
	snprintf(out, LEDGER_KEY_SIZE, "%s%s", prefix, hex);
}

static struct resp_value *call(struct ledger *l, const char *what, const char **argv, int argc)
{
	char err[200];
	struct resp_value *r = NULL;
	switch (argc) {
	case 2: r = redis_sync_callv(l->c, l->timeout, err, sizeof err, argv[0], argv[1], NULL); break;
	case 3: r = redis_sync_callv(l->c, l->timeout, err, sizeof err, argv[0], argv[1], argv[2], NULL); break;
	case 4: r = redis_sync_callv(l->c, l->timeout, err, sizeof err, argv[0], argv[1], argv[2], argv[3], NULL); break;
	case 5: r = redis_sync_callv(l->c, l->timeout, err, sizeof err, argv[0], argv[1], argv[2], argv[3],
				     argv[4], NULL); break;
	case 6: r = redis_sync_callv(l->c, l->timeout, err, sizeof err, argv[0], argv[1], argv[2], argv[3],
				     argv[4], argv[5], NULL); break;
	case 7: r = redis_sync_callv(l->c, l->timeout, err, sizeof err, argv[0], argv[1], argv[2], argv[3],
				     argv[4], argv[5], argv[6], NULL); break;
	case 8: r = redis_sync_callv(l->c, l->timeout, err, sizeof err, argv[0], argv[1], argv[2], argv[3],
				     argv[4], argv[5], argv[6], argv[7], NULL); break;
	default: snprintf(err, sizeof err, "too many arguments"); break;
	}
	if (!r) {
		snprintf(l->err, sizeof l->err, "%s: %.150s", what, err);
	} else if (r->type == RESP_ERROR) {
		snprintf(l->err, sizeof l->err, "%s: %.150s", what, r->str ? r->str : "error");
		resp_value_free(r);
		r = NULL;
	}
	return r;
}

#define CALL(l, what, ...) call((l), (what), (const char *[]){ __VA_ARGS__ }, \
				(int)(sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *)))

/* -- the lock ------------------------------------------------------------ */

/* KEYS[1] lock; ARGV owner, ttl ms, task prefix "<task_id> ". */
static const char take_lua[] =
	"if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end\n"
	"local cur = redis.call('GET', KEYS[1])\n"
	"if cur and string.sub(cur, 1, #ARGV[3]) == ARGV[3] then\n"
	"  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end\n"
	"return 0\n";

int ledger_lock_take(struct ledger *l, const char *lock_key, const char *owner, const char *task_id,
		     double ttl)
{
	char px[32], prefix[80];
	long long ms = (long long)(ttl * 1000);
	snprintf(px, sizeof px, "%lld", ms > 0 ? ms : 1);
	snprintf(prefix, sizeof prefix, "%s ", task_id ? task_id : "-");
	struct resp_value *r = CALL(l, "lock", "EVAL", take_lua, "1", lock_key, owner, px, prefix);
	if (!r)
		return -1;
	int rc = r->type == RESP_INTEGER ? (r->integer > 0 ? 1 : 0) : -1;
	resp_value_free(r);
	return rc;
}

int ledger_lock_release(struct ledger *l, const char *lock_key, const char *wake, const char *owner)
{
	struct resp_value *r = CALL(l, "unlock", "EVAL", LEDGER_UNLOCK_LUA, "2", lock_key, wake, owner);
	resp_value_free(r);
	return r ? 0 : -1;
}

int ledger_lock_exists(struct ledger *l, const char *lock_key)
{
	struct resp_value *r = CALL(l, "lock exists", "EXISTS", lock_key);
	if (!r)
		return -1;
	int rc = r->type == RESP_INTEGER ? r->integer > 0 : -1;
	resp_value_free(r);
	return rc;
}

void ledger_wake(struct ledger *l, const char *wake)
{
	resp_value_free(CALL(l, "wake", "PUBLISH", wake, "result"));
}

/* -- paid requests ------------------------------------------------------- */

int ledger_request_put(struct ledger *l, const char *req_key, const struct ledger_request *r, int ttl)
{
	char rec[4096], ex[32];
	if (ledger_request_format(r, rec, sizeof rec) < 0) {
		snprintf(l->err, sizeof l->err, "request record too large");
		return -1;
	}
	snprintf(ex, sizeof ex, "%d", ttl);
	struct resp_value *a = CALL(l, "record request", "HSET", req_key, r->model, rec);
	resp_value_free(a);
	if (!a)
		return -1;
	resp_value_free(CALL(l, "record request", "EXPIRE", req_key, ex));
	return 0;
}

int ledger_request_list(struct ledger *l, const char *req_key, struct ledger_request *out, int n)
{
	struct resp_value *r = CALL(l, "requests", "HGETALL", req_key);
	int k = 0;
	char err[160];
	if (!r)
		return -1;
	if (r->type != RESP_ARRAY) {
		resp_value_free(r);
		snprintf(l->err, sizeof l->err, "requests: unexpected reply");
		return -1;
	}
	for (size_t i = 0; i + 1 < r->n_elems && k < n; i += 2) {
		struct resp_value *f = r->elems[i], *v = r->elems[i + 1];
		if (v->type == RESP_BULK && ledger_request_parse(v->str, v->len, &out[k], err, sizeof err) == 0 &&
		    f->type == RESP_BULK && f->len == strlen(out[k].model) && !memcmp(f->str, out[k].model, f->len)) {
			k++;
		} else if (f->type == RESP_BULK) {
			/* Garbage: drop it so it cannot stop the next job. */
			char field[32];
			size_t fl = f->len < sizeof field - 1 ? f->len : sizeof field - 1;
			memcpy(field, f->str, fl);
			field[fl] = '\0';
			ledger_request_drop(l, req_key, field);
		}
	}
	resp_value_free(r);
	return k;
}

void ledger_request_drop(struct ledger *l, const char *req_key, const char *model)
{
	resp_value_free(CALL(l, "drop request", "HDEL", req_key, model));
}

/* -- limits -------------------------------------------------------------- */

static double wall_ms(void)
{
	return floor(clock_wall() * 1000);
}

/* KEYS[1] leases; ARGV now ms, expiry ms, limit, id. Returns 1 got, or
 * -(ms until the earliest lease expires). */
static const char lease_lua[] =
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
	"if redis.call('ZSCORE', KEYS[1], ARGV[4]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then\n"
	"  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])\n"
	"  redis.call('PEXPIRE', KEYS[1], 86400000)\n"
	"  return 1 end\n"
	"local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
	"return -(tonumber(first[2]) - tonumber(ARGV[1]))\n";

int ledger_lease_acquire(struct ledger *l, const char *id, int limit, double lease, double *retry_in)
{
	char now[32], until[32], lim[16];
	double t = wall_ms();
	snprintf(now, sizeof now, "%.0f", t);
	snprintf(until, sizeof until, "%.0f", t + lease * 1000);
	snprintf(lim, sizeof lim, "%d", limit);
	*retry_in = RETRY_CAP;
	struct resp_value *r = CALL(l, "lease", "EVAL", lease_lua, "1", LEDGER_LEASES_KEY, now, until, lim, id);
	if (!r)
		return -1;
	int rc = -1;
	if (r->type == RESP_INTEGER) {
		rc = r->integer == 1;
		if (!rc) {
			double ms = (double)-r->integer;
			*retry_in = ms / 1000 < RETRY_CAP ? (ms > 10 ? ms / 1000 : 0.01) : RETRY_CAP;
		}
	}
	resp_value_free(r);
	return rc;
}

void ledger_lease_renew(struct ledger *l, const char *id, double lease)
{
	char until[32];
	snprintf(until, sizeof until, "%.0f", wall_ms() + lease * 1000);
	resp_value_free(CALL(l, "lease renew", "ZADD", LEDGER_LEASES_KEY, "XX", until, id));
}

void ledger_lease_release(struct ledger *l, const char *id)
{
	resp_value_free(CALL(l, "lease release", "ZREM", LEDGER_LEASES_KEY, id));
}

/* KEYS[1] the second's counter; ARGV limit. 1 taken, 0 full. */
static const char rate_lua[] =
	"local n = redis.call('INCR', KEYS[1])\n"
	"if n == 1 then redis.call('PEXPIRE', KEYS[1], 2000) end\n"
	"if n > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) return 0 end\n"
	"return 1\n";

int ledger_rate_take(struct ledger *l, double rate, double *retry_in)
{
	char key[LEDGER_KEY_SIZE], lim[32];
	double now = clock_wall(), sec = floor(now);
	/* Fractional rates: a window of 1/rate seconds per submit. */
	double window = rate >= 1 ? 1.0 : 1.0 / rate;
	double slot = floor(now / window);
	long allowed = rate >= 1 ? (long)floor(rate) : 1;
	snprintf(key, sizeof key, "%s%.0f", LEDGER_RATE_PREFIX, rate >= 1 ? sec : slot);
	snprintf(lim, sizeof lim, "%ld", allowed);
	struct resp_value *r = CALL(l, "rate", "EVAL", rate_lua, "1", key, lim);
	if (!r)
		return -1;
	int rc = r->type == RESP_INTEGER ? (int)r->integer : -1;
	resp_value_free(r);
	*retry_in = (slot + 1) * window - now;
	if (*retry_in < 0.001)
		*retry_in = 0.001;
	return rc;
}

void ledger_spend_key(char out[LEDGER_KEY_SIZE], double t)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, LEDGER_KEY_SIZE, "%s%04d-%02d-%02d", LEDGER_SPEND_PREFIX, tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday);
}

/* KEYS[1] today's spend; ARGV price, budget. Returns {1|0, spend}. Amounts
 * are kept in micro-dollars (integers) so no float drift accumulates. */
static const char budget_lua[] =
	"local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
	"local price = tonumber(ARGV[1])\n"
	"if cur + price > tonumber(ARGV[2]) then return {0, cur} end\n"
	"local n = redis.call('INCRBY', KEYS[1], price)\n"
	"redis.call('EXPIRE', KEYS[1], 172800)\n"
	"return {1, n}\n";

int ledger_budget_charge(struct ledger *l, double price, double budget, double *spent)
{
	char key[LEDGER_KEY_SIZE], p[32], b[32];
	ledger_spend_key(key, clock_wall());
	snprintf(p, sizeof p, "%.0f", price * 1e6);
	snprintf(b, sizeof b, "%.0f", budget * 1e6);
	struct resp_value *r = CALL(l, "budget", "EVAL", budget_lua, "1", key, p, b);
	if (!r)
		return -1;
	int rc = -1;
	if (r->type == RESP_ARRAY && r->n_elems == 2 && r->elems[0]->type == RESP_INTEGER &&
	    r->elems[1]->type == RESP_INTEGER) {
		rc = (int)r->elems[0]->integer;
		*spent = (double)r->elems[1]->integer / 1e6;
	}
	resp_value_free(r);
	return rc;
}

void ledger_budget_refund(struct ledger *l, double price)
{
	char key[LEDGER_KEY_SIZE], p[32];
	ledger_spend_key(key, clock_wall());
	snprintf(p, sizeof p, "%.0f", -price * 1e6);
	resp_value_free(CALL(l, "budget refund", "INCRBY", key, p));
}

/* KEYS[1] pause; ARGV ms. Keeps the longer of the two pauses. */
static const char pause_lua[] =
	"local left = redis.call('PTTL', KEYS[1])\n"
	"if left < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end\n"
	"return 1\n";

void ledger_pause_set(struct ledger *l, double seconds)
{
	char ms[32];
	snprintf(ms, sizeof ms, "%.0f", seconds * 1000 > 1 ? seconds * 1000 : 1);
	resp_value_free(CALL(l, "pause", "EVAL", pause_lua, "1", LEDGER_PAUSE_KEY, ms));
}

double ledger_pause_left(struct ledger *l)
{
	struct resp_value *r = CALL(l, "pause", "PTTL", LEDGER_PAUSE_KEY);
	if (!r)
		return -1;
	double left = r->type == RESP_INTEGER && r->integer > 0 ? (double)r->integer / 1000 : 0;
	resp_value_free(r);
	return left;
}
