/* ctl_text.h: shared by the pidbox fuzz targets (fuzz_celery_ctl,
 * fuzz_celery_rate). */
#ifndef FUZZ_CTL_TEXT_H
#define FUZZ_CTL_TEXT_H

#include "celery/celery_ctl.h"
#include "lib/json.h"

/* A request from a decoded body, as kombu sends it without a body
 * encoding. */
static inline int parse_text(const char *body, size_t n, struct celery_ctl_request *r)
{
	struct buf env;
	char err[200];
	int rc;

	buf_init(&env);
	buf_append_str(&env, "{\"body\": ");
	json_write_str(&env, body, n, 0);
	buf_append_str(&env, ", \"content-type\": \"application/json\"}");
	rc = celery_ctl_parse(env.data, env.len, env.len, r, err, sizeof err);
	buf_free(&env);
	return rc;
}

#endif
