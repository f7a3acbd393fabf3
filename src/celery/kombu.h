/* kombu: the names and byte layouts of kombu 5.2.4's Redis transport that
 * the worker and the client share: priority sub-lists and their consume
 * order, binding members, the `unacked` value, our own per-node keys. Pure
 * string building, no I/O. */
#ifndef TRYON_KOMBU_H
#define TRYON_KOMBU_H
#include <stddef.h>

#include "lib/buf.h"

#define KOMBU_SEP "\x06\x16"
#define KOMBU_UNACKED "unacked"
#define KOMBU_UNACKED_INDEX "unacked_index"
#define KOMBU_UNACKED_MUTEX "unacked_mutex"
#define TRYON_DEAD_LIST "tryon-worker.dead"
#define TRYON_NODES_SET "tryon-worker.nodes"

/* The list a message of this priority goes to: "<q>" for 0-2,
 * "<q>\x06\x163" for 3-5, "\x06\x166" for 6-8, "\x06\x169" for 9 (priority
 * clamped to 0..9 first). Appends to out; 0 or -1. */
int kombu_priority_list(struct buf *out, const char *queue, int priority);
/* Write into out (NUL-separated, n entries) the lists to consume from in
 * kombu's order: priority step first, then the queues starting at index
 * first (round-robin rotation). Returns the number of lists (4 * nq). */
int kombu_consume_order(struct buf *out, const char *const *queues, int nq, int first);
/* The queue name behind a list key: everything before the last separator,
 * as kombu's rsplit(sep, 1)[0]. Writes a NUL-terminated copy into out. */
void kombu_queue_of_list(const char *list, size_t len, char *out, size_t outlen);
/* Binding set key and member for a queue declared the way Celery does for
 * Queue(name): "_kombu.binding.<q>" / "<q>\x06\x16\x06\x16<q>". */
int kombu_binding(struct buf *key, struct buf *member, const char *queue);
/* kombu's unacked hash value: [<envelope>, "<exchange>", "<routing_key>"]
 * with Python json.dumps separators; the envelope is inserted verbatim (it
 * was written by json.dumps too, so the bytes match kombu's re-encoding). */
int kombu_unacked_value(struct buf *out, const char *envelope, size_t len,
			const char *exchange, const char *routing_key);
/* Our per-node keys: "tryon-worker.inflight.<node>", "tryon-worker.held.<node>",
 * "tryon-worker.alive.<node>". */
int kombu_node_key(struct buf *out, const char *kind, const char *node);
#endif
