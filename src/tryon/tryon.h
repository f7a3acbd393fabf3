/* tryon: the try-on job, app.tasks.virtual_tryon(person_url, garment_url),
 * run inside a job child. */
#ifndef TRYON_TRYON_H
#define TRYON_TRYON_H
#include "celery/celery_msg.h"
#include "config.h"
#include "lib/buf.h"
#include "lib/http.h"
#include "lib/trust.h"
#include "tryon/tryon_state.h"

/* What the job needs from the worker (copied into the child by fork). */
struct tryon_ctx {
	const struct config *cfg;
	const struct trust_store *trust;
	struct http_tls_cache *tls_sessions; /* shared with the other jobs, or NULL */
	const struct celery_envelope *env;   /* task id, retries, time limits */
	struct tryon_hints hints;            /* breaker gates, observed latencies */
};

/* Validate the arguments, then cache, single-flight, model API with the
 * fallback plan; append the one result record to out. */
void tryon_run(const struct tryon_ctx *ctx, const struct celery_body *body, struct buf *out);
#endif
