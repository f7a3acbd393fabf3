/* tryon: the try-on job, app.tasks.virtual_tryon(person_url, garment_url),
 * run inside a job child. */
#ifndef TRYON_TRYON_H
#define TRYON_TRYON_H
#include "lib/buf.h"
#include "celery/celery_msg.h"
#include "worker/tasks.h"

/* Validate the arguments, then cache, model API, fallback; append the one
 * result record to out. */
void tryon_run(const struct task_ctx *ctx, const struct celery_body *body, struct buf *out);
#endif
