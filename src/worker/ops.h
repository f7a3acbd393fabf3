/* ops: what operators read over HTTP: /metrics (Prometheus text), /healthz,
 * /readyz and the /health detail, plus the try-on metrics fed from
 * tryon_state, and the readiness verdict (the one place that decides it).
 * Runs on the loop: no blocking calls; reads the worker's state and changes
 * nothing but the metrics registry and w->readiness. */
#ifndef TRYON_WORKER_OPS_H
#define TRYON_WORKER_OPS_H
#include <stddef.h>

#include "ops/httpd.h"
#include "tryon/tryon_state.h"
#include "worker/state.h"

#define READY_STALL_SECONDS 10.0   /* waiting messages, a free slot, nothing taken: stalled */
#define READY_SETTLE_MIN 1.0       /* not ready this long after the broker is back... */
#define READY_SETTLE_MAX 30.0      /* ...doubling with each drop in a row, up to this */
#define READY_LOSS_WINDOW 60.0     /* drops closer than this are one backoff loop */

/* Why the worker cannot consume, in the order they are checked. */
enum ops_readiness {
	OPS_READY,
	OPS_STARTING,              /* not yet announced (recovery, first connect) */
	OPS_DRAINING,              /* stopping */
	OPS_BROKER_DISCONNECTED,   /* the consume or command connection is not READY */
	OPS_BROKER_UNSTABLE,       /* back, but dropped recently: settling (a backoff loop) */
	OPS_CONSUME_BACKOFF,       /* fetches fail in a row; the consume path waits */
	OPS_STALLED                /* messages waiting, a free slot, none taken for a while */
};

/* httpd handler (arg: the worker). */
void ops_http_handler(void *arg, const char *path, struct httpd_response *r);
/* tryon_state's observer of model calls (arg: the worker). */
void ops_on_model_call(void *arg, enum tryon_model mdl, enum tryon_outcome o, double latency, double cost);

/* Once per loop round, after the I/O (now: clock_mono): note broker drops
 * and whether messages are being taken; log when readiness changes. */
void ops_readiness_tick(struct worker *w, double now);
/* The verdict at now, from w and w->readiness. detail (may be NULL) gets
 * one line for people ("stalled: 12 messages waiting, ..."). */
enum ops_readiness ops_readiness(const struct worker *w, double now, char *detail, size_t len);
/* "ready", "starting", "draining", "broker_disconnected", ... (static). */
const char *ops_readiness_name(enum ops_readiness r);
#endif
