/* jobs: the job children. Starts a message in a free slot (a fork through
 * worker/proc with the child prologue), reads the child's one record,
 * enforces the hard limit, and once the child has exited and its pipe is
 * drained, classifies the exit (exitclass), decides the end (outcome) and
 * hands it to worker/finish. Calls worker/finish and worker/events only. */
#ifndef TRYON_WORKER_JOBS_H
#define TRYON_WORKER_JOBS_H
#include <poll.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "worker/state.h"

/* A free slot's index, or -1. */
int jobs_free_slot(const struct worker *w);
/* Run m (owned from now on) in free slot i. A failed fork ends it as a lost
 * worker (requeued and counted). */
void jobs_start(struct worker *w, int i, struct msg *m);
/* A reaped child: 1 if it was one of our jobs (its slot notes the exit). */
int jobs_exited(struct worker *w, pid_t pid, int status, const struct rusage *ru);
/* Poll set: one entry per slot (fd -1 when nothing to read). */
void jobs_pollfds(const struct worker *w, struct pollfd *pfds);
/* After poll: read records, enforce hard limits, end exited jobs. */
void jobs_process(struct worker *w, const struct pollfd *pfds, double now);
/* The earliest hard-limit deadline of a running job (CLOCK_MONOTONIC). */
double jobs_next_deadline(const struct worker *w, double until);
/* SIGKILL every running job (the shutdown grace ran out): their messages go
 * back to the front of their queues, not counted as losses. */
void jobs_kill_all(struct worker *w, const char *why);
/* Signal the running job of task_id for a revoke with terminate. */
void jobs_terminate(struct worker *w, const char *task_id, int signum);
/* Running (or finishing) slots. */
int jobs_running(const struct worker *w);
#endif
