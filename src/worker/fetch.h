/* fetch: taking messages from the broker. FETCH moves up to the free
 * capacity from the queues (kombu's priority order, round-robin across
 * queues) into our in-flight list; RECORD moves them into kombu's unacked
 * and our held set; recorded messages go to worker/dispatch, undecodable
 * ones to the dead-letter list. An idle worker blocks briefly on the head
 * list instead. Messages left in the in-flight list (never recorded) go
 * back to their queues when the consume connection is (re)established.
 * Calls worker/dispatch and worker/finish. */
#ifndef TRYON_WORKER_FETCH_H
#define TRYON_WORKER_FETCH_H
#include "worker/state.h"

/* Messages the worker may still take (prefetch = free slots). */
int fetch_capacity(const struct worker *w);
/* Issue a FETCH if there is capacity and nothing outstanding. */
void fetch_messages(struct worker *w);
/* Requeue what is left in our in-flight list (once per connection). */
void fetch_recover_inflight(struct worker *w);
/* redis_conn on_ready of the consume connection. */
void fetch_on_consume_ready(struct redis_conn *c, void *arg);
#endif
