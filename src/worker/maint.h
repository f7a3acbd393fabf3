/* maint: keeping delivery honest over time. Requeues what this node held
 * when it last died (at start), keeps our liveness key and unacked scores
 * fresh, samples queue lengths, and forks a short-lived maintenance child
 * for the multi-step Redis work (dead nodes, reconciling our held set,
 * kombu's visibility restore) so the loop never blocks. Calls worker/proc
 * and worker/recovery only. */
#ifndef TRYON_WORKER_MAINT_H
#define TRYON_WORKER_MAINT_H
#include "worker/state.h"

/* At start, before the loop (blocking, bounded by 5 s timeouts). */
int maint_recover_own(struct worker *w);
/* Liveness, score renewal, lengths and the maintenance child, on timers. */
void maint_tick(struct worker *w, double now);
/* When maint_tick next has something to do (clock_mono), for the poll
 * timeout: HUGE_VAL while the broker link is down (the tick does nothing
 * then, and the link's own deadline wakes the loop). */
double maint_next_deadline(const struct worker *w, double now);
/* The maintenance child (w->maint_pid) was reaped with status. */
void maint_exited(struct worker *w, int status, double now);
#endif
