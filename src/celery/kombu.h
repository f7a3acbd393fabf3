/* kombu: kombu 5.2.4 below Celery, as the worker and the client meet it:
 * the Redis transport's names and layouts (priority sub-lists and their
 * consume order, bindings, the `unacked` value, our per-node keys), the
 * message envelope and its body's decoding, the pidbox's rules (whom a
 * request addresses, the reply it gets). Pure, no I/O; knows kombu's
 * messages, not what Celery puts in them. */
#ifndef TRYON_KOMBU_H
#define TRYON_KOMBU_H
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/json.h"

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
/* What follows the envelope in that value: , "<exchange>", "<routing_key>"]
 * (the RECORD script joins "[" .. envelope .. tail in Redis, so the
 * message crosses the wire once). */
int kombu_unacked_tail(struct buf *out, const char *exchange, const char *routing_key);
/* The parts of a kombu unacked value [envelope, exchange, routing_key]:
 * the envelope's byte span in value (verbatim, as RECORD wrote it) and
 * malloc'd NUL-terminated copies of exchange and routing key (NULL when
 * absent, not a string, or holding a NUL; the caller frees them). Returns
 * 0, or -1 with err when value is not such an array (outputs NULL/0). */
int kombu_unacked_parse(const char *value, size_t len, size_t *env_off, size_t *env_len,
			char **exchange, char **routing_key, char *err, size_t errlen);
/* Our per-node keys: "tryon-worker.inflight.<node>" (list, taken not yet
 * recorded), "tryon-worker.held.<node>" (set of tags recorded by us),
 * "tryon-worker.parked.<node>" (sorted set of recorded ETA tags beyond the
 * in-memory cap, scored by ETA), "tryon-worker.alive.<node>". */
int kombu_node_key(struct buf *out, const char *kind, const char *node);

/* kombu's JSON envelope of a transient publish (pidbox replies, events),
 * bytes and key order as kombu 5.2.4 writes them: {"body": "<base64 of
 * body[0..body_len)>", "content-encoding": "utf-8", "content-type":
 * "application/json", "headers": <headers>, "properties": {"delivery_mode":
 * 1, "delivery_info": {"exchange": .., "routing_key": ..}, "priority": 0,
 * "body_encoding": "base64", "delivery_tag": ..}}. headers[0..headers_len)
 * is raw JSON, not validated (NULL: {}); strings are JSON-escaped (NULL:
 * null). Appends; 0 or -1 (out->failed). */
int kombu_envelope(struct buf *out, const char *body, size_t body_len,
		   const char *headers, size_t headers_len,
		   const char *exchange, const char *routing_key,
		   const char *delivery_tag);
/* The body of the kombu message whose envelope is object token env of d:
 * its "body" string, unescaped, then base64-decoded when
 * properties.body_encoding is "base64", or taken as it is when that is
 * absent or null (kombu's plain text); any other encoding is refused, as
 * kombu refuses it. On success *body is a malloc'd copy, NUL after its
 * *body_len bytes, that the caller frees. Returns 0, or -1 with err
 * ("missing 'body'", "'body' must be a string", a bad escape, "unsupported
 * body_encoding ...", bad base64, out of memory) and *body NULL. */
int kombu_body_decode(const struct json_doc *d, int env, char **body, size_t *body_len,
		      char *err, size_t errlen);

/* Whom a pidbox request addresses, as kombu's Node.handle_message decides
 * (pidbox.py, matcher.py): a truthy destination (token dest of d, -1 when
 * absent) wins: a list addresses the hostnames it holds, a string those it
 * contains (Python's `in`: a substring test), an object its keys; else
 * pattern and matcher, both non-empty, decide: matcher "glob" is
 * pyrepr_fnmatch; else everyone is addressed. */
#define KOMBU_ADDR_NO 0
#define KOMBU_ADDR_YES 1
/* Another matcher ("pcre": Python would run it; we refuse rather than guess
 * at re syntax), a glob Python would raise on or one longer than
 * PYREPR_MAX_PATTERN, another destination type, a string destination with a
 * NUL: not run. */
#define KOMBU_ADDR_UNSUPPORTED (-1)
int kombu_pidbox_addressed(const struct json_doc *d, int dest, const char *pattern,
			   const char *matcher, const char *hostname);
/* The reply a pidbox Node publishes (Node.reply, Mailbox._publish_reply),
 * as kombu_envelope: body {"<hostname>": <reply>}, headers {"ticket":
 * <ticket, NULL: null>, "clock": clock}. reply[0..reply_len) is a JSON
 * value, not validated. Appends; 0 or -1 (out->failed). */
int kombu_pidbox_reply(struct buf *out, const char *hostname, const char *reply,
		       size_t reply_len, const char *ticket, int64_t clock,
		       const char *exchange, const char *routing_key,
		       const char *delivery_tag);
#endif
