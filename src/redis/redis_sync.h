/* redis_sync: blocking calls on a redis_conn, for children, CLI commands and
 * start-up, never the worker loop: each one waits in its own poll() for up
 * to its timeout. Built only on redis_conn's public API; it owns no state of
 * its own between calls and must not print or exit. Failures are logged at
 * debug only; the message is in err for the caller, password never in it. */
#ifndef TRYON_REDIS_SYNC_H
#define TRYON_REDIS_SYNC_H
#include <stddef.h>

#include "redis/redis_conn.h"
#include "redis/resp.h"

/* Common rules: from a callback of the same conn every call is refused with
 * an error. A conn that is not READY is connected first, skipping any
 * backoff (the caller decided to wait). Replies to the conn's async commands
 * and pub/sub messages that arrive meanwhile go to their callbacks. Errors
 * do not reconnect by themselves: the next call does. */

/* Connect and wait until READY. 0, or -1 with err set. */
int redis_sync_connect(struct redis_conn *c, double timeout, char *err, size_t errlen);

/* Send one command and wait for its reply, which the caller then owns (free
 * with resp_value_free; a RESP error reply is returned as a reply). NULL
 * with err set on connection failure, a refused command (see
 * redis_conn_command) or timeout; a timeout closes the connection, since a
 * late reply could not be matched any more. The command's read deadline is
 * extended to timeout, so blocking commands just need a timeout above their
 * block time. argv/lens as for redis_conn_command. */
struct resp_value *redis_sync_call(struct redis_conn *c, double timeout, char *err, size_t errlen,
				   int argc, const char *const *argv, const size_t *lens);
/* The same with NULL-terminated C-string arguments. */
struct resp_value *redis_sync_callv(struct redis_conn *c, double timeout, char *err, size_t errlen,
				    const char *arg0, ...) __attribute__((sentinel));

/* Wait up to timeout for one pub/sub message (only when opts.on_push is
 * NULL; messages queue until taken). Returns the message (caller owns it),
 * or NULL with err set: "timeout" when nothing came and the connection is
 * still READY, otherwise the connection error. Does not connect: SUBSCRIBE
 * with redis_sync_call first. */
struct resp_value *redis_sync_wait_push(struct redis_conn *c, double timeout, char *err, size_t errlen);

#endif
