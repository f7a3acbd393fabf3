/* scripts: the Lua scripts that make each broker step atomic, and how they
 * are called. Every state change of a message (queue -> our in-flight list
 * -> kombu's unacked record -> result + ack, requeue or dead letter) is one
 * script, so no crash or dropped connection can leave it half done; see
 * docs/DESIGN.md for the argument. Scripts are loaded with SCRIPT LOAD when a
 * connection becomes ready and called with EVALSHA. */
#ifndef TRYON_SCRIPTS_H
#define TRYON_SCRIPTS_H
#include <stddef.h>

#include "redis/redis_conn.h"

enum script_id {
	SCRIPT_FETCH,             /* move up to N messages from the queue lists to our in-flight list;
				     dead-letter those over the size limit without returning them */
	SCRIPT_RECORD,            /* in-flight list -> unacked + unacked_index + our held set */
	SCRIPT_DROP_INFLIGHT,     /* in-flight list -> a list (dead letters, or back to a queue) */
	SCRIPT_FINISH,            /* [store result] + ack/requeue/dead-letter a held message */
	SCRIPT_STORE_RESULT,      /* result backend on another server: GET-check, SETEX, PUBLISH */
	SCRIPT_RENEW,             /* refresh unacked_index scores of messages we hold (and park) */
	SCRIPT_INFLIGHT_NEXT,     /* one element of an in-flight list, by rotation, size-checked */
	SCRIPT_UNACKED_GET,       /* HGET unacked, dead-lettering a value over the size limit */
	SCRIPT_PARK,              /* an ETA message: our held set -> our parked set (by ETA) */
	SCRIPT_UNPARK,            /* the earliest parked: parked set -> held set, with their values */
	SCRIPT_COUNT
};
/* Every script checks the types of the keys it writes before it writes
 * any: a wrong-typed key gives an error reply starting "WRONGTYPE" and
 * nothing moved (FETCH instead skips a wrong-typed queue list and names it
 * in its reply). Messages over the size limit are dead-lettered inside
 * Redis as {"reason", "queue", "received_at", "size", "head" (first KiB),
 * "sha1"}: the worker never reads them. */

/* Load all scripts on c (pipelined SCRIPT LOAD; replies ignored). */
void scripts_load(struct redis_conn *c);
/* Queue an EVALSHA of script id. keys/args with explicit lengths. Returns
 * what redis_conn_command returns. */
int scripts_call(struct redis_conn *c, enum script_id id,
		 int nkeys, const char *const *keys, const size_t *keylens,
		 int nargs, const char *const *args, const size_t *arglens,
		 redis_reply_fn cb, void *arg);
/* Synchronous EVAL (full text; for CLI commands and children). Caller owns
 * the reply; NULL with err on failure. */
struct resp_value *scripts_call_sync(struct redis_conn *c, enum script_id id, double timeout,
				     int nkeys, const char *const *keys, const size_t *keylens,
				     int nargs, const char *const *args, const size_t *arglens,
				     char *err, size_t errlen);
/* 1 if reply is a NOSCRIPT error (the server lost our scripts). */
int scripts_is_noscript(const struct resp_value *reply);
#endif
