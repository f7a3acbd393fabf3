/* ledger: what try-on jobs share through the cache Redis, across every node
 * that uses it: the single-flight lock of a key (owned by a task, so a
 * redelivery or retry of the same task takes it over), the paid model
 * requests of a key (so a job that replaces a dead or timed-out one resumes
 * them instead of paying again), and the cluster-wide model limits:
 * concurrency leases, a submit rate, a daily budget and a pause after HTTP
 * 429. Each change is one command or one Lua script, and every key has a
 * TTL, so a node that dies mid-way leaves nothing stuck for long. Blocking
 * calls (redis_sync) for job children only; the parent uses the Lua texts
 * below through its own connection. Never logs a key's URL arguments. */
#ifndef TRYON_LEDGER_H
#define TRYON_LEDGER_H
#include <stddef.h>

#include "redis/redis_conn.h"
#include "tryon/cachekey.h"
#include "tryon/ledger_record.h"

/* Keys, from the 16 hex chars of a try-on's cache key. */
#define LEDGER_REQUESTS_PREFIX "tryon:req:"     /* hash: model name -> request record */
#define LEDGER_WAKE_PREFIX "tryon:wake:"        /* pub/sub: the result or the lock changed */
#define LEDGER_LEASES_KEY "tryon:model:leases"  /* zset: lease id -> expiry (ms since epoch) */
#define LEDGER_RATE_PREFIX "tryon:model:rate:"  /* + unix second: submits in that second */
#define LEDGER_SPEND_PREFIX "tryon:spend:"      /* + YYYY-MM-DD (UTC): USD charged */
#define LEDGER_PAUSE_KEY "tryon:model:pause"    /* set with PX after a 429 Retry-After */
#define LEDGER_KEY_SIZE 64

/* KEYS[1] lock, KEYS[2] wake channel; ARGV[1] owner. Deletes the lock only
 * if it still names owner, then wakes the waiters. Returns 1 or 0. */
#define LEDGER_UNLOCK_LUA \
	"if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) " \
	"redis.call('PUBLISH', KEYS[2], 'unlocked') return 1 end return 0"

struct ledger {
	struct redis_conn *c;      /* borrowed, connected */
	double timeout;            /* per command, s */
	char err[200];             /* the last failure */
};

/* The lock owner value for a task on a node: "<task_id> <node>". */
void ledger_owner(char *out, size_t n, const char *task_id, const char *node);
/* The key derived from a cache key ("tryon:" + hex) with prefix. */
void ledger_key(char out[LEDGER_KEY_SIZE], const char *prefix, const char *cache_key);

/* SET lock NX PX ttl; when someone holds it, take it over if the holder is
 * the same task (the value starts with "<task_id> "). 1 ours, 0 another
 * task holds it, -1 error (l->err). */
int ledger_lock_take(struct ledger *l, const char *lock_key, const char *owner, const char *task_id,
		     double ttl);
/* Compare-and-delete, then wake the waiters. 0 or -1. */
int ledger_lock_release(struct ledger *l, const char *lock_key, const char *wake, const char *owner);
/* 1 if the lock key exists, 0 if not, -1 error. */
int ledger_lock_exists(struct ledger *l, const char *lock_key);
/* PUBLISH on the wake channel (after storing a result). */
void ledger_wake(struct ledger *l, const char *wake);

/* HSET requests model record, EXPIRE ttl. 0 or -1. */
int ledger_request_put(struct ledger *l, const char *req_key, const struct ledger_request *r, int ttl);
/* HGETALL: up to n records into out (bad ones are skipped and deleted).
 * Returns how many, or -1. */
int ledger_request_list(struct ledger *l, const char *req_key, struct ledger_request *out, int n);
/* HDEL one model's record. */
void ledger_request_drop(struct ledger *l, const char *req_key, const char *model);

/* Concurrency leases (a semaphore of at most limit, expiring leases).
 * acquire: 1 got it, 0 full (*retry_in: s until the earliest lease
 * expires, capped), -1 error. renew/release: best effort. */
int ledger_lease_acquire(struct ledger *l, const char *id, int limit, double lease, double *retry_in);
void ledger_lease_renew(struct ledger *l, const char *id, double lease);
void ledger_lease_release(struct ledger *l, const char *id);
/* Submits per second across the cluster: 1 may submit now, 0 wait
 * *retry_in, -1 error. */
int ledger_rate_take(struct ledger *l, double rate, double *retry_in);
/* Charge price to today's (UTC) spend if it stays within budget: 1 charged,
 * 0 refused (*spent = today's spend), -1 error. */
int ledger_budget_charge(struct ledger *l, double price, double budget, double *spent);
/* Give back a charge whose submit was not accepted. */
void ledger_budget_refund(struct ledger *l, double price);
/* After a 429: nobody submits for seconds (keeps the longest). */
void ledger_pause_set(struct ledger *l, double seconds);
/* Seconds of pause left (0 none), -1 error. */
double ledger_pause_left(struct ledger *l);
/* The spend key of the UTC day of wall time t. */
void ledger_spend_key(char out[LEDGER_KEY_SIZE], double t);
#endif
