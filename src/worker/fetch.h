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

/* Messages the worker may still ask for (prefetch = free slots, less what
 * the FETCHes outstanding may bring). */
int fetch_capacity(const struct worker *w);
/* Slots free of messages in hand (outstanding FETCHes not counted): what
 * readiness's stall check asks about. */
int fetch_free_slots(const struct worker *w);
/* Issue a FETCH for the free capacity (at most half the slots when
 * worker_fetch_halves: two groups whose round trips overlap), if there is
 * some, no BRPOPLPUSH blocks and fewer than two FETCHes are outstanding. A
 * finish whose settle step is queued on the consume conn (worker/finish)
 * frees its capacity for the FETCHes queued after it: Redis runs them in
 * that order, so the node never holds more than its slots. */
void fetch_messages(struct worker *w);
/* Requeue what is left in our in-flight list (once per connection). */
void fetch_recover_inflight(struct worker *w);
/* redis_conn on_ready of the consume connection. */
void fetch_on_consume_ready(struct redis_conn *c, void *arg);
#endif
