/* recovery: putting back messages whose holder is gone. Synchronous (it
 * uses redis_conn's blocking calls), so it runs either in the parent before
 * the loop starts or in a short-lived maintenance child, never in the loop.
 * Every requeue goes through the FINISH script, whose HDEL check makes two
 * recoverers (two live nodes, or a node and a Python worker) push a message
 * at most once. Replies are read through resp's checked accessors (a reply
 * of the wrong shape is skipped and counted, never dereferenced), and
 * messages one at a time, each within the size limit: one too big is
 * dead-lettered inside Redis, unread. */
#ifndef TRYON_RECOVERY_H
#define TRYON_RECOVERY_H
#include "config.h"
#include "redis/redis_conn.h"

struct recovery_stats {
	int held;       /* recorded messages requeued */
	int inflight;   /* unrecorded messages returned to their queue */
	int parked;     /* parked ETA messages requeued */
	int dead;       /* messages dead-lettered (undecodable, or too big) */
	int restored;   /* kombu-style visibility-timeout restores */
	int nodes;      /* dead nodes recovered */
	int bad;        /* replies of the wrong shape, skipped */
	int verbose;    /* in: log skipped replies at warn (else debug) */
};

/* Requeue, to the front of their queues, what node holds: every tag of its
 * held set whose unacked_index score is older than older_than (use INFINITY
 * for all) and which is not in keep[0..n_keep), counted as a delivery when
 * count_delivery; and (if with_inflight: the node itself is gone or
 * restarting) its in-flight list, unchanged, and its parked ETA messages,
 * uncounted (they never ran). c must be a connected broker connection (its
 * DB). Returns 0, or -1 when a step failed or a reply had the wrong shape
 * (the rest is still done). st may not be NULL. */
int recovery_node(struct redis_conn *c, const struct config *cfg, int broker_db, const char *node,
		  int count_delivery, int with_inflight, double older_than,
		  const char *const *keep, int n_keep, struct recovery_stats *st);

/* Find nodes in tryon-worker.nodes whose alive key has expired and recover
 * them (one recoverer per dead node, by a lock with a TTL). 0 or -1 as
 * recovery_node. */
int recovery_dead_nodes(struct redis_conn *c, const struct config *cfg, int broker_db,
			const char *self, struct recovery_stats *st);

/* kombu's restore_visible: under unacked_mutex, requeue (front, marked
 * redelivered) every unacked entry older than the visibility timeout. Our
 * own held messages never get that old: the worker renews their scores.
 * 0 or -1 as recovery_node. */
int recovery_restore_visible(struct redis_conn *c, const struct config *cfg, int broker_db,
			     double now_wall, struct recovery_stats *st);

/* Reply limits for a connection that recovery reads from: values up to the
 * largest message (plus kombu's wrapping) and no more. */
void recovery_limits(const struct config *cfg, struct resp_limits *out);
#endif
