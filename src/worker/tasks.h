/* tasks: the task registry and the code that runs inside a job child. The
 * parent asks only whether a name is registered; everything else here runs
 * after fork, decodes the arguments (never the parent), does the work and
 * fills the one result record. Test-only diagnostic tasks exist only when
 * TRYON_ENABLE_TEST_TASKS=1. */
#ifndef TRYON_TASKS_H
#define TRYON_TASKS_H
#include "lib/buf.h"
#include "lib/http.h"
#include "celery/celery_msg.h"
#include "config.h"
#include "lib/trust.h"
#include "tryon/tryon_state.h"

#define TASK_VIRTUAL_TRYON "app.tasks.virtual_tryon"
#define TASK_HEALTH_CHECK  "app.tasks.health_check"

/* What the parent hands a child besides the message (copied by fork). */
struct task_ctx {
	const struct config *cfg;
	const struct trust_store *trust;
	struct http_tls_cache *tls_sessions; /* TLS sessions the jobs share, or NULL */
	const struct celery_envelope *env;
	double started_at;          /* wall clock of the worker's start */
	int slots_busy, slots_total;
	const char *breaker_state;  /* JSON object from the parent, or NULL */
	struct tryon_hints hints;   /* virtual_tryon: breaker gates and latencies from
				       tryon_state_hints (all zero: allow both, unknown) */
};

/* 1 if name is a task this worker runs (test tasks only when enabled). */
int tasks_is_registered(const struct config *cfg, const char *name);
/* NULL-terminated list of registered names (for `inspect registered`). */
const char *const *tasks_registered(const struct config *cfg);
/* Run the task named by ctx->env in this (child) process and append its
 * record (see record.h) to out. Never returns early without a record unless
 * the process dies. */
void tasks_run(const struct task_ctx *ctx, struct buf *out);
#endif
