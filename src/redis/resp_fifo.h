/* resp_fifo: a bounded first-in first-out queue of parsed RESP values (a
 * conn's pub/sub messages waiting for redis_conn_push_take). It owns the
 * values it holds; no I/O, no logging (the caller logs a refused push). */
#ifndef TRYON_REDIS_RESP_FIFO_H
#define TRYON_REDIS_RESP_FIFO_H
#include <stddef.h>

#include "redis/resp.h"

struct resp_fifo_item;
struct resp_fifo {
	struct resp_fifo_item *head, *tail;
	size_t n;
};

/* Append v (taken: the fifo owns it). 0, or -1 when n has reached max or
 * memory ran out: v is then freed and the caller may log the drop. */
int resp_fifo_push(struct resp_fifo *f, struct resp_value *v, size_t max);
/* Remove and return the oldest value (the caller owns it), NULL if empty. */
struct resp_value *resp_fifo_pop(struct resp_fifo *f);
/* Free every value held; f is empty after. */
void resp_fifo_clear(struct resp_fifo *f);
#endif
