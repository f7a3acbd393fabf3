/* recovery: synchronous requeue of messages left by dead holders. */
#include "worker/recovery.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "celery/celery_msg.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "celery/kombu.h"
#include "lib/log.h"
#include "redis/redis_sync.h"
#include "redis/resp.h"
#include "redis/scripts.h"

#define T 5.0   /* seconds per Redis call */

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
	struct resp_value *r = redis_sync_callv(c, T, err, sizeof err, "SMEMBERS", key.data, NULL);
	buf_free(&key);
	int found = -1;
	for (size_t i = 0; r && r->type == RESP_ARRAY && i < r->n_elems && found < 0; i++) {
		/* member: routing_key \x06\x16 pattern \x06\x16 queue */
		const char *m = r->elems[i]->str;
		size_t n = r->elems[i]->len;
		const char *s1 = memmem(m, n, KOMBU_SEP, 2);
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
 * queue, removing it from unacked/unacked_index/held atomically. */
static int requeue_recorded(struct redis_conn *c, int broker_db, const char *held_key, const char *tag,
			    const char *value, size_t vlen, int count_delivery, struct recovery_stats *st)
{
	struct json_doc d;
	struct celery_envelope env;
	char err[256];
	int rc = -1;

	memset(&env, 0, sizeof env);
	if (json_parse(&d, value, vlen, 1 << 20, err, sizeof err) < 0)
		return -1;
	int envtok = json_arr_get(&d, 0, 0), extok = json_arr_get(&d, 0, 1), rktok = json_arr_get(&d, 0, 2);
	size_t s = 0, e = 0;
	char *ex = NULL, *rk = NULL;
	struct buf msg, queue, target;
	buf_init(&msg), buf_init(&queue), buf_init(&target);
	if (envtok < 0)
		goto out;
	json_tok_span(&d, envtok, &s, &e);
	json_tok_strdup(&d, extok, &ex, NULL, err, sizeof err);
	json_tok_strdup(&d, rktok, &rk, NULL, err, sizeof err);
	/* Routing as kombu does it; the envelope supplies the priority. */
	celery_envelope_parse(value + s, e - s, 64u << 20, &env, err, sizeof err);
	if (target_queue(c, ex, rk, &queue) < 0 && target_queue(c, NULL, env.routing_key, &queue) < 0)
		goto out;
	kombu_priority_list(&target, queue.data, env.priority);
	if (celery_requeue_rewrite(value + s, e - s, count_delivery ? env.deliveries + 1 : -1, &msg,
				   err, sizeof err) < 0)
		goto out;
	char bdb[16];
	snprintf(bdb, sizeof bdb, "%d", broker_db);
	const char *keys[] = { KOMBU_UNACKED, KOMBU_UNACKED_INDEX, held_key, "", target.data };
	size_t klens[] = { strlen(KOMBU_UNACKED), strlen(KOMBU_UNACKED_INDEX), strlen(held_key), 0, target.len };
	const char *args[] = { tag, "", "0", "-1", bdb, "rpush", msg.data };
	size_t alens[] = { strlen(tag), 0, 1, 2, strlen(bdb), 5, msg.len };
	struct resp_value *r = scripts_call_sync(c, SCRIPT_FINISH, T, 5, keys, klens, 7, args, alens, err, sizeof err);
	if (r && r->type == RESP_ARRAY && r->n_elems == 2 && r->elems[1]->integer == 1) {
		log_info("broker.recovered", "id=%s queue=%s from=unacked deliveries=%lld",
			 env.task_id ? env.task_id : "-", queue.data,
			 (long long)(count_delivery ? env.deliveries + 1 : env.deliveries));
		if (st)
			st->held++;
	}
	rc = r && r->type != RESP_ERROR ? 0 : -1;
	resp_value_free(r);
out:
	free(ex);
	free(rk);
	celery_envelope_free(&env);
	buf_free(&msg), buf_free(&queue), buf_free(&target);
	json_doc_free(&d);
	return rc;
}

int recovery_node(struct redis_conn *c, const struct config *cfg, int broker_db, const char *node,
		  int count_delivery, int with_inflight, double older_than,
		  const char *const *keep, int n_keep, struct recovery_stats *st)
{
	char err[256];
	struct buf held, inflight;
	int rc = 0;

	buf_init(&held), buf_init(&inflight);
	kombu_node_key(&held, "held", node);
	kombu_node_key(&inflight, "inflight", node);

	struct resp_value *tags = redis_sync_callv(c, T, err, sizeof err, "SMEMBERS", held.data, NULL);
	if (!tags || tags->type != RESP_ARRAY)
		rc = -1;
	for (size_t i = 0; tags && tags->type == RESP_ARRAY && i < tags->n_elems; i++) {
		const char *tag = tags->elems[i]->str;
		int kept = 0;
		for (int k = 0; k < n_keep && !kept; k++)
			kept = !strcmp(keep[k], tag);
		if (kept)
			continue;
		if (isfinite(older_than)) {
			struct resp_value *sc = redis_sync_callv(c, T, err, sizeof err, "ZSCORE", KOMBU_UNACKED_INDEX, tag, NULL);
			double score = sc && sc->type == RESP_BULK ? strtod(sc->str, NULL) : 0;
			resp_value_free(sc);
			if (score >= older_than)
				continue;
		}
		struct resp_value *val = redis_sync_callv(c, T, err, sizeof err, "HGET", KOMBU_UNACKED, tag, NULL);
		if (val && val->type == RESP_BULK)
			requeue_recorded(c, broker_db, held.data, tag, val->str, val->len, count_delivery, st);
		else
			resp_value_free(redis_sync_callv(c, T, err, sizeof err, "SREM", held.data, tag, NULL));
		resp_value_free(val);
	}
	resp_value_free(tags);

	if (with_inflight) {
		struct resp_value *msgs = redis_sync_callv(c, T, err, sizeof err, "LRANGE", inflight.data, "0", "-1", NULL);
		for (size_t i = 0; msgs && msgs->type == RESP_ARRAY && i < msgs->n_elems; i++) {
			struct resp_value *m = msgs->elems[i];
			struct celery_envelope env;
			struct buf target, push;
			buf_init(&target), buf_init(&push);
			const char *action = "rpush";
			if (celery_envelope_parse(m->str, m->len, (size_t)cfg->max_message_bytes, &env, err, sizeof err) == 0 &&
			    env.routing_key) {
				kombu_priority_list(&target, env.routing_key, env.priority);
				buf_append(&push, m->str, m->len);
				if (st)
					st->inflight++;
			} else {
				/* Undecodable: never runnable, keep it for a person. */
				buf_append_str(&target, TRYON_DEAD_LIST);
				celery_deadletter_build(&push, err, env.routing_key ? env.routing_key : "", 0, m->str, m->len);
				action = "lpush";
				if (st)
					st->dead++;
			}
			const char *keys[] = { inflight.data, target.data };
			size_t klens[] = { inflight.len, target.len };
			const char *args[] = { m->str, push.data, action };
			size_t alens[] = { m->len, push.len, strlen(action) };
			resp_value_free(scripts_call_sync(c, SCRIPT_DROP_INFLIGHT, T, 2, keys, klens, 3, args, alens,
							  err, sizeof err));
			log_info("broker.recovered", "id=%s queue=%s from=inflight node=%s",
				 env.task_id ? env.task_id : "-", env.routing_key ? env.routing_key : "-", node);
			celery_envelope_free(&env);
			buf_free(&target), buf_free(&push);
		}
		resp_value_free(msgs);
	}
	buf_free(&held), buf_free(&inflight);
	return rc;
}

int recovery_dead_nodes(struct redis_conn *c, const struct config *cfg, int broker_db,
			const char *self, struct recovery_stats *st)
{
	char err[256], token[37];
	struct resp_value *nodes = redis_sync_callv(c, T, err, sizeof err, "SMEMBERS", TRYON_NODES_SET, NULL);

	if (!nodes || nodes->type != RESP_ARRAY) {
		resp_value_free(nodes);
		return -1;
	}
	ids_uuid4(token);
	for (size_t i = 0; i < nodes->n_elems; i++) {
		const char *node = nodes->elems[i]->str;
		struct buf alive, lock;
		if (!strcmp(node, self))
			continue;
		buf_init(&alive), buf_init(&lock);
		kombu_node_key(&alive, "alive", node);
		kombu_node_key(&lock, "recovering", node);
		struct resp_value *ex = redis_sync_callv(c, T, err, sizeof err, "EXISTS", alive.data, NULL);
		if (ex && ex->type == RESP_INTEGER && ex->integer == 0) {
			struct resp_value *got = redis_sync_callv(c, T, err, sizeof err, "SET", lock.data, token,
								  "NX", "PX", "30000", NULL);
			if (got && resp_is_ok(got)) {
				log_warn("node.dead", "node=%s reason=\"its alive key expired; requeueing what it held\"", node);
				recovery_node(c, cfg, broker_db, node, 1, 1, INFINITY, NULL, 0, st);
				if (st)
					st->nodes++;
				/* Forget the node once nothing of it is left. */
				struct buf held, inflight;
				buf_init(&held), buf_init(&inflight);
				kombu_node_key(&held, "held", node);
				kombu_node_key(&inflight, "inflight", node);
				struct resp_value *a = redis_sync_callv(c, T, err, sizeof err, "SCARD", held.data, NULL);
				struct resp_value *b = redis_sync_callv(c, T, err, sizeof err, "LLEN", inflight.data, NULL);
				if (a && b && a->type == RESP_INTEGER && b->type == RESP_INTEGER && !a->integer && !b->integer)
					resp_value_free(redis_sync_callv(c, T, err, sizeof err, "SREM", TRYON_NODES_SET, node, NULL));
				resp_value_free(a), resp_value_free(b);
				buf_free(&held), buf_free(&inflight);
			}
			resp_value_free(got);
		}
		resp_value_free(ex);
		buf_free(&alive), buf_free(&lock);
	}
	resp_value_free(nodes);
	return 0;
}

int recovery_restore_visible(struct redis_conn *c, const struct config *cfg, int broker_db,
			     double now_wall, struct recovery_stats *st)
{
	char err[256], token[37], ceiling[64];
	ids_uuid4(token);
	struct resp_value *got = redis_sync_callv(c, T, err, sizeof err, "SET", KOMBU_UNACKED_MUTEX, token,
						  "PX", "300000", "NX", NULL);
	int have = got && resp_is_ok(got);
	resp_value_free(got);
	if (!have)
		return 0;   /* someone else is restoring, as in kombu */
	snprintf(ceiling, sizeof ceiling, "%.6f", now_wall - cfg->visibility_timeout);
	struct resp_value *old = redis_sync_callv(c, T, err, sizeof err, "ZREVRANGEBYSCORE", KOMBU_UNACKED_INDEX,
						  ceiling, "0", NULL);
	for (size_t i = 0; old && old->type == RESP_ARRAY && i < old->n_elems; i++) {
		const char *tag = old->elems[i]->str;
		struct resp_value *val = redis_sync_callv(c, T, err, sizeof err, "HGET", KOMBU_UNACKED, tag, NULL);
		if (val && val->type == RESP_BULK) {
			/* The held key is a name nobody uses: the holder is unknown. */
			if (requeue_recorded(c, broker_db, "tryon-worker.held.-", tag, val->str, val->len, 0, NULL) == 0 && st)
				st->restored++;
		} else {
			resp_value_free(redis_sync_callv(c, T, err, sizeof err, "ZREM", KOMBU_UNACKED_INDEX, tag, NULL));
		}
		resp_value_free(val);
	}
	resp_value_free(old);
	/* Release the mutex only if it is still ours (redis-py's Lock does the same). */
	const char *rel = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
	resp_value_free(redis_sync_callv(c, T, err, sizeof err, "EVAL", rel, "1", KOMBU_UNACKED_MUTEX, token, NULL));
	return 0;
}
