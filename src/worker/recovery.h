/* recovery: putting back messages whose holder is gone. Synchronous (it
 * uses redis_conn's blocking calls), so it runs either in the parent before
 * the loop starts or in a short-lived maintenance child, never in the loop.
 * Every requeue goes through the FINISH script, whose HDEL check makes two
 * recoverers (two live nodes, or a node and a Python worker) push a message
 * at most once. */
#ifndef TRYON_RECOVERY_H
#define TRYON_RECOVERY_H
#include "config.h"
#include "redis/redis_conn.h"

struct recovery_stats {
	int held;       /* recorded messages requeued */
	int inflight;   /* unrecorded messages returned to their queue */
	int dead;       /* messages dead-lettered (undecodable) */
	int restored;   /* kombu-style visibility-timeout restores */
	int nodes;      /* dead nodes recovered */
};

/* Requeue, to the front of their queues, what node holds: every tag of its
 * held set whose unacked_index score is older than older_than (use INFINITY
 * for all) and which is not in keep[0..n_keep), counted as a delivery when
 * count_delivery; and (if with_inflight) its in-flight list, unchanged.
 * c must be a connected broker connection (its DB). Returns 0 or -1. */
int recovery_node(struct redis_conn *c, const struct config *cfg, int broker_db, const char *node,
		  int count_delivery, int with_inflight, double older_than,
		  const char *const *keep, int n_keep, struct recovery_stats *st);

/* Find nodes in tryon-worker.nodes whose alive key has expired and recover
 * them (one recoverer per dead node, by a lock with a TTL). */
int recovery_dead_nodes(struct redis_conn *c, const struct config *cfg, int broker_db,
			const char *self, struct recovery_stats *st);

/* kombu's restore_visible: under unacked_mutex, requeue (front, marked
 * redelivered) every unacked entry older than the visibility timeout. Our
 * own held messages never get that old: the worker renews their scores. */
int recovery_restore_visible(struct redis_conn *c, const struct config *cfg, int broker_db,
			     double now_wall, struct recovery_stats *st);
#endif
