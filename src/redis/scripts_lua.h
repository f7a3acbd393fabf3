/* scripts_lua: the texts of the broker's Lua scripts and their SHA-1s.
 * Pure data, no I/O: scripts.c sends them; what each script does to a
 * message is said at its text. */
#ifndef TRYON_SCRIPTS_LUA_H
#define TRYON_SCRIPTS_LUA_H

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

/* The script's Lua text, or NULL for an id out of range. */
const char *scripts_text(enum script_id id);
/* Its SHA-1 as 40 lower-case hex digits (the EVALSHA name), or NULL. */
const char *scripts_sha(enum script_id id);
#endif
