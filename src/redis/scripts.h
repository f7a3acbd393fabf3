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

#include "redis/scripts_lua.h"


/* Load all scripts on c (pipelined SCRIPT LOAD; replies ignored). */
void scripts_load(struct redis_conn *c);
/* Queue an EVALSHA of script id. keys/args with explicit lengths. For
 * SCRIPT_RECORD and SCRIPT_FINISH on a conn whose URL has wait_replicas > 0
 * (TRYON_BROKER_WAIT_REPLICAS), a WAIT follows and cb runs once it answered
 * (redis_conn_command_wait). Returns what redis_conn_command returns. */
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
