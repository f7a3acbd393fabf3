/* tryon: placeholder until the try-on job lands (issue 5): a clear,
 * permanent failure, never a fake result. */
#include "tryon.h"

#include "record.h"

void tryon_run(const struct task_ctx *ctx, const struct celery_body *body, struct buf *out)
{
	(void)ctx;
	(void)body;
	record_failure(out, "NotImplementedError", "builtins",
		       "app.tasks.virtual_tryon is not implemented in this build yet", 0);
}
