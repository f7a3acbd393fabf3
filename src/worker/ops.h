/* ops: what operators read over HTTP: /metrics (Prometheus text), /healthz,
 * /readyz and the /health detail, plus the try-on metrics fed from
 * tryon_state. Runs on the loop: no blocking calls; reads the worker's
 * state and changes nothing but the metrics registry. */
#ifndef TRYON_WORKER_OPS_H
#define TRYON_WORKER_OPS_H
#include "ops/httpd.h"
#include "tryon/tryon_state.h"
#include "worker/state.h"

/* httpd handler (arg: the worker). */
void ops_http_handler(void *arg, const char *path, struct httpd_response *r);
/* tryon_state's observer of model calls (arg: the worker). */
void ops_on_model_call(void *arg, enum tryon_model mdl, enum tryon_outcome o, double latency, double cost);
#endif
