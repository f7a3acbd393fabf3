/* worker: the Celery-compatible worker's parent process. One poll() loop
 * owns the broker and result-backend connections, the job slots and the
 * timers; it never blocks on a child or a slow connection. Messages move
 * through Redis only by atomic scripts (scripts.h); each job runs in a forked
 * child (proc.h) that reports one record; the parent classifies the exit
 * (exitclass.h), stores the result and then acks. */
#ifndef TRYON_WORKER_H
#define TRYON_WORKER_H
#include "config.h"
#include "lib/trust.h"

/* Run until SIGTERM/SIGINT has drained the worker. Returns the process exit
 * code: 0 after a clean drain, 1 on a fatal start-up error (logged). */
int worker_run(const struct config *cfg, const struct trust_store *ts);
#endif
