/* recovery: synchronous requeue of messages left by dead holders. Every
 * reply is looked at through resp_elem/resp_cstr/resp_int/resp_double, so
 * a broker (or something posing as one) that answers with the wrong shape
 * costs a skipped step and a count in st->bad, never a crash. */
#include "worker/recovery.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/clock.h"
#include "celery/celery_msg.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "celery/kombu.h"
#include "lib/log.h"
#include "redis/redis_sync.h"
#include "redis/resp.h"
#include "redis/scripts.h"

#define T 5.0   /* seconds per Redis call */
/* kombu's wrapping of an envelope in unacked: [envelope, exchange, routing_key]. */
#define UNACKED_MARGIN (64 << 10)

void recovery_limits(const struct config *cfg, struct resp_limits *out)
{
	*out = RESP_DEFAULT_LIMITS;
	out->max_bulk = (size_t)cfg->max_message_bytes + UNACKED_MARGIN;
}

/* A reply of the wrong shape: counted, logged (at warn only when the
 * caller asked: the maintenance child runs every few seconds), skipped. */
static void bad_reply(struct recovery_stats *st, const char *step, const struct resp_value *r, const char *err)
{
	char q[300];

	st->bad++;
	log_event(st->verbose ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, "recovery.bad_reply", "step=%s reply=%s reason=%s",
		  step, r ? resp_type_name(r->type) : "none",
		  log_quote(q, sizeof q, r && r->type == RESP_ERROR ? r->str : (r ? "unexpected shape" : err)));
}

/* What INFLIGHT_NEXT or UNACKED_GET answered: 1 for {1, value}, 0 for
 * {0, size, queue, sha1} (dead-lettered), -2 for {} (nothing), -1 for
 * anything else. */
static int pair_kind(const struct resp_value *r)
{
	long long k, size;

	if (r && r->type == RESP_ARRAY && r->n_elems == 0)
		return -2;
	if (!r || r->type != RESP_ARRAY || resp_int(resp_elem(r, 0), &k) < 0)
		return -1;
	if (k == 1 && r->n_elems == 2 && resp_str(r->elems[1], NULL))
		return 1;
	if (k == 0 && r->n_elems == 4 && resp_int(r->elems[1], &size) == 0 && resp_cstr(r->elems[2]) &&
	    resp_cstr(r->elems[3]))
		return 0;
	return -1;
}

/* A message UNACKED_GET or INFLIGHT_NEXT dead-lettered ({0, size, queue,
 * sha1}, checked by pair_kind). */
static void log_too_big(const struct config *cfg, const struct resp_value *r, const char *node, const char *from,
			struct recovery_stats *st)
{
	char q[300];
	long long size = 0;

	resp_int(r->elems[1], &size);
	log_warn("broker.message_too_big", "queue=%s size=%lld max=%d sha1=%s from=%s node=%s action=dead_letter",
		 log_quote(q, sizeof q, resp_cstr(r->elems[2])), size, cfg->max_message_bytes,
		 resp_cstr(r->elems[3]), from, node);
	st->dead++;
}

/* The queue a recorded message goes back to: exchange "" routes by its
 * routing key; any other exchange through kombu's binding table. */
static int target_queue(struct redis_conn *c, const char *exchange, const char *rk, struct buf *queue)
{
	char err[256];

	if (!exchange || !*exchange) {
		buf_append_str(queue, rk ? rk : "");
		return rk && *rk ? 0 : -1;
	}
	struct buf key;
	buf_init(&key);
	buf_printf(&key, "_kombu.binding.%s", exchange);
	struct resp_value *r = key.data ? redis_sync_callv(c, T, err, sizeof err, "SMEMBERS", key.data, NULL) : NULL;
	buf_free(&key);
	int found = -1;
	const struct resp_value *e;
	for (size_t i = 0; found < 0 && (e = resp_elem(r, i)); i++) {
		/* member: routing_key \x06\x16 pattern \x06\x16 queue */
		size_t n;
		const char *m = resp_str(e, &n);
		const char *s1 = m ? memmem(m, n, KOMBU_SEP, 2) : NULL;
		const char *s2 = s1 ? memmem(s1 + 2, n - (size_t)(s1 + 2 - m), KOMBU_SEP, 2) : NULL;
		if (s1 && s2 && (size_t)(s1 - m) == strlen(rk ? rk : "") && !memcmp(m, rk ? rk : "", (size_t)(s1 - m))) {
			buf_append(queue, s2 + 2, n - (size_t)(s2 + 2 - m));
			found = 0;
		}
	}
	resp_value_free(r);
	return found;
}

/* Requeue one recorded message (tag, its unacked value) to the front of its
 * queue, removing it from unacked/unacked_index/held atomically. in_held:
 * the tag was found in held_key, and is requeued only if it is still there
 * (not finished or requeued meanwhile by its holder or another node); 0 for
 * tags in no held set (parked, or the holder unknown). */
static int requeue_tag(struct redis_conn *c, int broker_db, const char *held_key, int in_held, const char *tag,
		       const char *value, size_t vlen, int count_delivery, int *counter)
{
	struct celery_envelope env;
	char err[256];
	int rc = -1;
	size_t off = 0, len = 0;
	char *ex = NULL, *rk = NULL;
	struct buf msg, queue, target;

	memset(&env, 0, sizeof env);
	buf_init(&msg), buf_init(&queue), buf_init(&target);
	if (kombu_unacked_parse(value, vlen, &off, &len, &ex, &rk, err, sizeof err) < 0)
		goto out;
	/* Routing as kombu does it; the envelope supplies the priority. */
	celery_envelope_parse(value + off, len, 64u << 20, &env, err, sizeof err);
	if (target_queue(c, ex, rk, &queue) < 0 && target_queue(c, NULL, env.routing_key, &queue) < 0)
		goto out;
	kombu_priority_list(&target, queue.data, env.priority);
	if (celery_requeue_rewrite(value + off, len, count_delivery ? env.deliveries + 1 : -1, &msg,
				   err, sizeof err) < 0)
		goto out;
	char bdb[16];
	snprintf(bdb, sizeof bdb, "%d", broker_db);
	const char *keys[] = { KOMBU_UNACKED, KOMBU_UNACKED_INDEX, held_key, "", target.data };
	size_t klens[] = { strlen(KOMBU_UNACKED), strlen(KOMBU_UNACKED_INDEX), strlen(held_key), 0, target.len };
	const char *args[] = { tag, "", "0", "-1", bdb, "rpush", msg.data, in_held ? "held" : "any" };
	size_t alens[] = { strlen(tag), 0, 1, 2, strlen(bdb), 5, msg.len, in_held ? 4 : 3 };
	struct resp_value *r = scripts_call_sync(c, SCRIPT_FINISH, T, 5, keys, klens, 8, args, alens, err, sizeof err);
	long long held = 0;
	if (resp_int(resp_elem(r, 1), &held) == 0 && held == 1) {
		log_info("broker.recovered", "id=%s queue=%s from=unacked deliveries=%lld",
			 env.task_id ? env.task_id : "-", queue.data,
			 (long long)(count_delivery ? env.deliveries + 1 : env.deliveries));
		if (counter)
			(*counter)++;
	}
	rc = r && r->type == RESP_ARRAY ? 0 : -1;
	resp_value_free(r);
out:
	free(ex);
	free(rk);
	celery_envelope_free(&env);
	buf_free(&msg), buf_free(&queue), buf_free(&target);
	return rc;
}

/* A recorded tag's unacked value, read only if it is within the limit
 * (UNACKED_GET dead-letters a bigger one inside Redis). Returns the reply
 * ({1, value}, {0, size} or {}) or NULL after counting a bad one. */
static struct resp_value *unacked_get(struct redis_conn *c, const struct config *cfg, const char *held_key,
				      const char *tag, struct recovery_stats *st)
{
	char err[256], max[24], now[32];
	const char *keys[] = { KOMBU_UNACKED, KOMBU_UNACKED_INDEX, held_key, TRYON_DEAD_LIST };
	snprintf(max, sizeof max, "%d", cfg->max_message_bytes + UNACKED_MARGIN);
	snprintf(now, sizeof now, "%.6f", clock_wall());
	const char *args[] = { tag, max, now };
	struct resp_value *r = scripts_call_sync(c, SCRIPT_UNACKED_GET, T, 4, keys, NULL, 3, args, NULL,
						 err, sizeof err);
	int k = pair_kind(r);
	if (k == -1) {
		bad_reply(st, "unacked_get", r, err);
		resp_value_free(r);
		return NULL;
	}
	if (k == 0)
		log_too_big(cfg, r, "-", "unacked", st);
	return r;
}

/* Return node's in-flight list to the queues, one element at a time. */
static int recover_inflight(struct redis_conn *c, const struct config *cfg, const char *node,
			    const struct buf *inflight, struct recovery_stats *st)
{
	char err[256], max[24], now[32];
	long long n = 0;
	int rc = 0;
	struct resp_value *len = redis_sync_callv(c, T, err, sizeof err, "LLEN", inflight->data, NULL);

	if (resp_int(len, &n) < 0 || len->type != RESP_INTEGER) {
		bad_reply(st, "inflight_len", len, err);
		resp_value_free(len);
		return -1;
	}
	resp_value_free(len);
	snprintf(max, sizeof max, "%d", cfg->max_message_bytes);
	/* Each step rotates the list by one (see scripts.c), so LLEN steps
	 * visit every element once, however many are removed meanwhile. */
	for (long long i = 0; i < n; i++) {
		snprintf(now, sizeof now, "%.6f", clock_wall());
		const char *keys[] = { inflight->data, TRYON_DEAD_LIST };
		const char *args[] = { max, now };
		struct resp_value *r = scripts_call_sync(c, SCRIPT_INFLIGHT_NEXT, T, 2, keys, NULL, 2, args, NULL,
							 err, sizeof err);
		int k = pair_kind(r);
		if (k == -2) {
			resp_value_free(r);
			break;
		}
		if (k == -1) {
			bad_reply(st, "inflight_next", r, err);
			resp_value_free(r);
			rc = -1;
			break;
		}
		if (k == 0) {
			log_too_big(cfg, r, node, "inflight", st);
			resp_value_free(r);
			continue;
		}
		size_t mlen;
		const char *m = resp_str(r->elems[1], &mlen);
		struct celery_envelope env;
		struct buf target, push;
		buf_init(&target), buf_init(&push);
		const char *action = "rpush";
		if (celery_envelope_parse(m, mlen, (size_t)cfg->max_message_bytes, &env, err, sizeof err) == 0 &&
		    env.routing_key) {
			kombu_priority_list(&target, env.routing_key, env.priority);
			buf_append(&push, m, mlen);
			st->inflight++;
		} else {
			/* Undecodable: never runnable, keep it for a person. */
			buf_append_str(&target, TRYON_DEAD_LIST);
			celery_deadletter_build(&push, err, env.routing_key ? env.routing_key : "", 0, m, mlen);
			action = "lpush";
			st->dead++;
		}
		const char *dkeys[] = { inflight->data, target.data };
		size_t klens[] = { inflight->len, target.len };
		const char *dargs[] = { m, push.data, action };
		size_t alens[] = { mlen, push.len, strlen(action) };
		struct resp_value *d = scripts_call_sync(c, SCRIPT_DROP_INFLIGHT, T, 2, dkeys, klens, 3, dargs, alens,
							 err, sizeof err);
		if (!d || d->type != RESP_INTEGER) {
			bad_reply(st, "drop_inflight", d, err);
			rc = -1;
		} else {
			log_info("broker.recovered", "id=%s queue=%s from=inflight node=%s",
				 env.task_id ? env.task_id : "-", env.routing_key ? env.routing_key : "-", node);
		}
		resp_value_free(d);
		celery_envelope_free(&env);
		buf_free(&target), buf_free(&push);
		resp_value_free(r);
	}
	return rc;
}

/* Requeue node's parked ETA messages (recorded, never ran: uncounted). */
static int recover_parked(struct redis_conn *c, const struct config *cfg, int broker_db, const struct buf *held,
			  const struct buf *parked, struct recovery_stats *st)
{
	char err[256];
	int rc = 0;
	struct resp_value *tags = redis_sync_callv(c, T, err, sizeof err, "ZRANGE", parked->data, "0", "-1", NULL);

	if (!tags || tags->type != RESP_ARRAY) {
		bad_reply(st, "parked", tags, err);
		resp_value_free(tags);
		return -1;
	}
	for (size_t i = 0; i < tags->n_elems; i++) {
		const char *tag = resp_cstr(tags->elems[i]);
		if (!tag) {
			bad_reply(st, "parked_member", tags->elems[i], err);
			rc = -1;
			continue;
		}
		struct resp_value *r = unacked_get(c, cfg, held->data, tag, st);
		if (!r) {
			rc = -1;
			continue;
		}
		if (pair_kind(r) == 1 && requeue_tag(c, broker_db, held->data, 0, tag, r->elems[1]->str,
						     r->elems[1]->len, 0, &st->parked) < 0)
			rc = -1;
		resp_value_free(r);
		/* Requeued, dead-lettered or gone: it is parked no more. */
		resp_value_free(redis_sync_callv(c, T, err, sizeof err, "ZREM", parked->data, tag, NULL));
	}
	resp_value_free(tags);
	return rc;
}

int recovery_node(struct redis_conn *c, const struct config *cfg, int broker_db, const char *node,
		  int count_delivery, int with_inflight, double older_than,
		  const char *const *keep, int n_keep, struct recovery_stats *st)
{
	char err[256];
	struct buf held, inflight, parked;
	int rc = 0;

	buf_init(&held), buf_init(&inflight), buf_init(&parked);
	kombu_node_key(&held, "held", node);
	kombu_node_key(&inflight, "inflight", node);
	kombu_node_key(&parked, "parked", node);
	if (!held.data || !inflight.data || !parked.data) {
		buf_free(&held), buf_free(&inflight), buf_free(&parked);
		return -1;
	}

	struct resp_value *tags = redis_sync_callv(c, T, err, sizeof err, "SMEMBERS", held.data, NULL);
	if (!tags || tags->type != RESP_ARRAY) {
		bad_reply(st, "held", tags, err);
		rc = -1;
	}
	const struct resp_value *e;
	for (size_t i = 0; (e = resp_elem(tags, i)); i++) {
		const char *tag = resp_cstr(e);
		int kept = 0;
		if (!tag) {
			bad_reply(st, "held_member", e, err);
			rc = -1;
			continue;
		}
		for (int k = 0; k < n_keep && !kept; k++)
			kept = !strcmp(keep[k], tag);
		if (kept)
			continue;
		if (isfinite(older_than)) {
			struct resp_value *sc = redis_sync_callv(c, T, err, sizeof err, "ZSCORE", KOMBU_UNACKED_INDEX, tag, NULL);
			double score = 0;
			int ok = sc && (sc->type == RESP_NIL || resp_double(sc, &score) == 0);
			if (!ok)
				bad_reply(st, "held_score", sc, err);
			resp_value_free(sc);
			if (!ok) {
				rc = -1;
				continue;
			}
			if (score >= older_than)
				continue;
		}
		struct resp_value *r = unacked_get(c, cfg, held.data, tag, st);
		int k = pair_kind(r);
		if (k == 1) {
			if (requeue_tag(c, broker_db, held.data, 1, tag, r->elems[1]->str, r->elems[1]->len,
					count_delivery, &st->held) < 0)
				rc = -1;
		} else if (k == -2) {
			/* In the held set but not recorded: a leftover. */
			resp_value_free(redis_sync_callv(c, T, err, sizeof err, "SREM", held.data, tag, NULL));
		} else if (!r) {
			rc = -1;
		}
		resp_value_free(r);
	}
	resp_value_free(tags);

	if (with_inflight) {
		rc |= recover_inflight(c, cfg, node, &inflight, st);
		rc |= recover_parked(c, cfg, broker_db, &held, &parked, st);
	}
	buf_free(&held), buf_free(&inflight), buf_free(&parked);
	return rc ? -1 : 0;
}

/* 1 if nothing of node is left in Redis (held, in-flight, parked). */
static int node_empty(struct redis_conn *c, const char *node)
{
	const char *kinds[] = { "held", "inflight", "parked" };
	const char *cmds[] = { "SCARD", "LLEN", "ZCARD" };
	char err[256];
	int empty = 1;

	for (int i = 0; i < 3 && empty; i++) {
		struct buf k;
		long long n = -1;
		buf_init(&k);
		kombu_node_key(&k, kinds[i], node);
		struct resp_value *r = k.data ? redis_sync_callv(c, T, err, sizeof err, cmds[i], k.data, NULL) : NULL;
		empty = r && r->type == RESP_INTEGER && resp_int(r, &n) == 0 && n == 0;
		resp_value_free(r);
		buf_free(&k);
	}
	return empty;
}

int recovery_dead_nodes(struct redis_conn *c, const struct config *cfg, int broker_db,
			const char *self, struct recovery_stats *st)
{
	char err[256], token[37];
	int rc = 0;
	struct resp_value *nodes = redis_sync_callv(c, T, err, sizeof err, "SMEMBERS", TRYON_NODES_SET, NULL);

	if (!nodes || nodes->type != RESP_ARRAY) {
		bad_reply(st, "nodes", nodes, err);
		resp_value_free(nodes);
		return -1;
	}
	ids_uuid4(token);
	for (size_t i = 0; i < nodes->n_elems; i++) {
		/* A member that is not a plain string (issue 14: "*2 :5 *0")
		 * names no node: skipped, counted, never passed to strcmp. */
		const char *node = resp_cstr(nodes->elems[i]);
		struct buf alive, lock;
		long long exists = -1;
		if (!node) {
			bad_reply(st, "nodes_member", nodes->elems[i], err);
			rc = -1;
			continue;
		}
		if (!strcmp(node, self))
			continue;
		buf_init(&alive), buf_init(&lock);
		kombu_node_key(&alive, "alive", node);
		kombu_node_key(&lock, "recovering", node);
		struct resp_value *ex = alive.data ? redis_sync_callv(c, T, err, sizeof err, "EXISTS", alive.data, NULL)
						   : NULL;
		if (ex && ex->type == RESP_INTEGER && resp_int(ex, &exists) == 0 && exists == 0 && lock.data) {
			struct resp_value *got = redis_sync_callv(c, T, err, sizeof err, "SET", lock.data, token,
								  "NX", "PX", "30000", NULL);
			if (resp_is_ok(got)) {
				log_warn("node.dead", "node=%s reason=\"its alive key expired; requeueing what it held\"", node);
				rc |= recovery_node(c, cfg, broker_db, node, 1, 1, INFINITY, NULL, 0, st);
				st->nodes++;
				/* Forget the node once nothing of it is left. */
				if (node_empty(c, node))
					resp_value_free(redis_sync_callv(c, T, err, sizeof err, "SREM", TRYON_NODES_SET, node, NULL));
			}
			resp_value_free(got);
		} else if (!ex || ex->type != RESP_INTEGER) {
			bad_reply(st, "alive", ex, err);
			rc = -1;
		}
		resp_value_free(ex);
		buf_free(&alive), buf_free(&lock);
	}
	resp_value_free(nodes);
	return rc ? -1 : 0;
}

int recovery_restore_visible(struct redis_conn *c, const struct config *cfg, int broker_db,
			     double now_wall, struct recovery_stats *st)
{
	char err[256], token[37], ceiling[64];
	int rc = 0;
	ids_uuid4(token);
	struct resp_value *got = redis_sync_callv(c, T, err, sizeof err, "SET", KOMBU_UNACKED_MUTEX, token,
						  "PX", "300000", "NX", NULL);
	int have = resp_is_ok(got);
	resp_value_free(got);
	if (!have)
		return 0;   /* someone else is restoring, as in kombu */
	snprintf(ceiling, sizeof ceiling, "%.6f", now_wall - cfg->visibility_timeout);
	struct resp_value *old = redis_sync_callv(c, T, err, sizeof err, "ZREVRANGEBYSCORE", KOMBU_UNACKED_INDEX,
						  ceiling, "0", NULL);
	if (!old || old->type != RESP_ARRAY) {
		bad_reply(st, "restore", old, err);
		rc = -1;
	}
	/* The held key is a name nobody uses: the holder is unknown. */
	static const char nobody[] = "tryon-worker.held.-";
	const struct resp_value *e;
	for (size_t i = 0; (e = resp_elem(old, i)); i++) {
		const char *tag = resp_cstr(e);
		if (!tag) {
			bad_reply(st, "restore_member", e, err);
			rc = -1;
			continue;
		}
		struct resp_value *r = unacked_get(c, cfg, nobody, tag, st);
		int k = pair_kind(r);
		if (k == 1) {
			if (requeue_tag(c, broker_db, nobody, 0, tag, r->elems[1]->str, r->elems[1]->len, 0,
					&st->restored) < 0)
				rc = -1;
		} else if (k == -2) {
			resp_value_free(redis_sync_callv(c, T, err, sizeof err, "ZREM", KOMBU_UNACKED_INDEX, tag, NULL));
		} else if (!r) {
			rc = -1;
		}
		resp_value_free(r);
	}
	resp_value_free(old);
	/* Release the mutex only if it is still ours (redis-py's Lock does the same). */
	const char *rel = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
	resp_value_free(redis_sync_callv(c, T, err, sizeof err, "EVAL", rel, "1", KOMBU_UNACKED_MUTEX, token, NULL));
	return rc ? -1 : 0;
}
