/* redis_cmd: what a command and a reply mean for matching replies to
 * commands in order on one connection: which commands are (un)subscribes
 * and how many confirmations they get, which ones break the matching and
 * are refused, which replies are pub/sub messages rather than replies,
 * which confirm a pending (un)subscribe, and whether a WAIT fell short.
 * Pure: no I/O, no allocation. */
#ifndef TRYON_REDIS_CMD_H
#define TRYON_REDIS_CMD_H
#include <stddef.h>

#include "redis/resp.h"

enum redis_cmd_sub {
	REDIS_CMD_PLAIN, REDIS_CMD_SUBSCRIBE, REDIS_CMD_PSUBSCRIBE, REDIS_CMD_UNSUBSCRIBE,
	REDIS_CMD_PUNSUBSCRIBE
};

/* Classify argv (lens NULL: C strings). 0 with *sub and *confirmations (1
 * for a plain command, one per named channel for an (un)subscribe) set, or
 * -1 for a command a FIFO-matched connection must refuse: argc < 1,
 * (P)UNSUBSCRIBE without channels, MONITOR, HELLO, RESET, QUIT,
 * SSUBSCRIBE, SUNSUBSCRIBE, CLIENT REPLY. */
int redis_cmd_classify(int argc, const char *const *argv, const size_t *lens,
		       enum redis_cmd_sub *sub, long *confirmations);

/* 1 when v is a pub/sub message: ["message", ch, data] or ["pmessage",
 * pattern, ch, data]. Only meaningful while the server is subscribed. */
int redis_cmd_is_message(const struct resp_value *v);

/* Does v confirm a pending command of kind sub? 0 no; 1 yes, and the
 * server is (still) subscribed; 2 yes, and it has left subscribed mode
 * (an unsubscribe confirmation with count 0). */
int redis_cmd_confirms(enum redis_cmd_sub sub, const struct resp_value *v);

/* A WAIT reply v for want replicas: 1 when short (fewer, an error reply,
 * anything but an integer), else 0; text gets "N replicas" or the error
 * (cut to 200 bytes), always NUL-terminated. */
int redis_cmd_wait_short(const struct resp_value *v, int want, char *text, size_t n);
#endif
