/* tasks: registry, argument decoding and the task bodies (child side). */
#include "worker/tasks.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lib/json.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "celery/record.h"
#include "redis/redis_conn.h"
#include "redis/redis_sync.h"
#include "redis/redis_url.h"
#include "tryon/tryon.h"
#include "version.h"

static const char *const production_tasks[] = {
	TASK_VIRTUAL_TRYON, TASK_HEALTH_CHECK, NULL,
};
static const char *const all_tasks[] = {
	TASK_VIRTUAL_TRYON, TASK_HEALTH_CHECK,
	"tryon.test.sleep", "tryon.test.allocate", "tryon.test.crash",
	"tryon.test.fail", "tryon.test.exit", "tryon.test.echo", "tryon.test.flaky", NULL,
};

const char *const *tasks_registered(const struct config *cfg)
{
	return cfg->enable_test_tasks ? all_tasks : production_tasks;
}

int tasks_is_registered(const struct config *cfg, const char *name)
{
	for (const char *const *t = tasks_registered(cfg); *t; t++)
		if (!strcmp(*t, name))
			return 1;
	return 0;
}

/* -- health_check ------------------------------------------------------ */

/* PING one Redis URL with a short timeout; writes "true"/"false" and notes
 * a reason. */
static int redis_reachable(const char *url_str, const struct trust_store *ts, char *why, size_t whylen)
{
	struct redis_url url;
	char err[256];
	int ok = 0;

	if (redis_url_parse(url_str, &url, err, sizeof err) < 0) {
		snprintf(why, whylen, "%s", err);
		return 0;
	}
	struct redis_conn_opts o = { .url = &url, .trust = ts, .name = "health",
				     .connect_timeout = 2, .io_timeout = 2 };
	struct redis_conn *c = redis_conn_new(&o, err, sizeof err);
	if (c && redis_sync_connect(c, 2, err, sizeof err) == 0) {
		struct resp_value *r = redis_sync_callv(c, 2, err, sizeof err, "PING", NULL);
		ok = r && r->type == RESP_SIMPLE;
		resp_value_free(r);
	}
	if (!ok)
		snprintf(why, whylen, "%s", err);
	redis_conn_free(c);
	redis_url_free(&url);
	return ok;
}

static void run_health_check(const struct task_ctx *ctx, struct buf *out)
{
	const struct config *cfg = ctx->cfg;
	char why_b[256] = "", why_r[256] = "", why_c[256] = "";
	int broker = redis_reachable(cfg->broker_url, ctx->trust, why_b, sizeof why_b);
	int results = redis_reachable(cfg->result_url, ctx->trust, why_r, sizeof why_r);
	int cache = cfg->cache_url ? redis_reachable(cfg->cache_url, ctx->trust, why_c, sizeof why_c) : -1;
	struct buf res, reasons;
	struct timeval tv;
	int n_reasons = 0;

	buf_init(&res);
	buf_init(&reasons);
	gettimeofday(&tv, NULL);
	double now = (double)tv.tv_sec + tv.tv_usec / 1e6;
#define REASON(...) do { buf_append_str(&reasons, n_reasons++ ? ", " : ""); \
		struct buf r_; buf_init(&r_); buf_printf(&r_, __VA_ARGS__); \
		json_write_cstr(&reasons, r_.data ? r_.data : ""); buf_free(&r_); } while (0)
	if (!broker)
		REASON("broker unreachable: %s", why_b);
	if (!results)
		REASON("result backend unreachable: %s", why_r);
	if (cache == 0)
		REASON("cache unreachable: %s", why_c);
	if (!cfg->fal_key)
		REASON("FAL_KEY is not set");
#undef REASON
	buf_append_str(&res, "{\"status\": ");
	json_write_cstr(&res, n_reasons ? "degraded" : "ok");
	buf_append_str(&res, ", \"reasons\": [");
	if (reasons.len)
		buf_append(&res, reasons.data, reasons.len);
	buf_append_str(&res, "], \"hostname\": ");
	json_write_cstr(&res, cfg->hostname);
	buf_append_str(&res, ", \"version\": ");
	json_write_cstr(&res, version_string);
	buf_printf(&res, ", \"uptime\": %.3f, \"slots_busy\": %d, \"slots_total\": %d",
		   now - ctx->started_at, ctx->slots_busy, ctx->slots_total);
	buf_printf(&res, ", \"broker_reachable\": %s, \"result_backend_reachable\": %s, \"cache_reachable\": %s, \"fal_key_set\": %s}",
		   broker ? "true" : "false", results ? "true" : "false",
		   cache < 0 ? "null" : cache ? "true" : "false", cfg->fal_key ? "true" : "false");
	if (res.failed)
		record_failure(out, "MemoryError", "builtins", NULL, 0);
	else
		record_success(out, res.data, res.len);
	buf_free(&res);
	buf_free(&reasons);
}

/* -- test tasks (TRYON_ENABLE_TEST_TASKS=1 only) ------------------------ */

static int arg_double(const struct celery_body *b, int idx, const char *name, double *out,
		      struct buf *rec)
{
	char err[200] = "";
	int tok = celery_body_arg(b, idx);
	if (tok < 0)
		tok = celery_body_kwarg(b, name);
	if (celery_body_double(b, tok, out, err, sizeof err) != 0) {
		char msg[300];
		snprintf(msg, sizeof msg, "argument %s: %s", name, err[0] ? err : "missing");
		record_failure(rec, "ValueError", "builtins", msg, 0);
		return -1;
	}
	return 0;
}

static void run_sleep(const struct celery_body *b, struct buf *rec)
{
	double secs;
	if (arg_double(b, 0, "seconds", &secs, rec) < 0)
		return;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	double end = (double)until.tv_sec + until.tv_nsec / 1e9 + secs;
	for (;;) {
		if (proc_soft_limit_expired()) {
			record_failure(rec, "SoftTimeLimitExceeded", "billiard.exceptions", NULL, 1);
			return;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double left = end - ((double)now.tv_sec + now.tv_nsec / 1e9);
		if (left <= 0)
			break;
		struct timespec d = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
		nanosleep(&d, NULL);   /* EINTR from the soft-limit alarm is fine */
	}
	char res[64];
	snprintf(res, sizeof res, "%g", secs);
	record_success(rec, res, strlen(res));
}

static void run_allocate(const struct celery_body *b, struct buf *rec)
{
	double mb;
	if (arg_double(b, 0, "megabytes", &mb, rec) < 0)
		return;
	size_t n = (size_t)(mb * 1048576.0);
	char *p = malloc(n);
	if (!p) {
		char msg[128];
		snprintf(msg, sizeof msg, "could not allocate %g MB (memory limit)", mb);
		record_failure(rec, "MemoryError", "builtins", msg, 0);
		return;
	}
	/* Touch every page so the memory is really used. */
	for (size_t i = 0; i < n; i += 4096)
		p[i] = (char)i;
	free(p);
	char res[64];
	snprintf(res, sizeof res, "%g", mb);
	record_success(rec, res, strlen(res));
}

void tasks_run(const struct task_ctx *ctx, struct buf *out)
{
	const struct celery_envelope *env = ctx->env;
	struct celery_body body;
	char err[256] = "";

	if (celery_body_parse(&body, env->body, env->body_len, env->protocol, err, sizeof err) < 0) {
		char msg[320];
		snprintf(msg, sizeof msg, "cannot decode task arguments: %s", err);
		record_failure(out, "ValueError", "builtins", msg, 0);
		celery_body_free(&body);
		return;
	}
	const char *t = env->task;
	if (!strcmp(t, TASK_HEALTH_CHECK)) {
		run_health_check(ctx, out);
	} else if (!strcmp(t, TASK_VIRTUAL_TRYON)) {
		struct tryon_ctx tc = { .cfg = ctx->cfg, .trust = ctx->trust, .tls_sessions = ctx->tls_sessions,
					.env = ctx->env, .hints = ctx->hints };
		tryon_run(&tc, &body, out);
	} else if (!ctx->cfg->enable_test_tasks) {
		record_failure(out, "NotRegistered", "celery.exceptions", t, 0);
	} else if (!strcmp(t, "tryon.test.sleep")) {
		run_sleep(&body, out);
	} else if (!strcmp(t, "tryon.test.allocate")) {
		run_allocate(&body, out);
	} else if (!strcmp(t, "tryon.test.crash")) {
		abort();
	} else if (!strcmp(t, "tryon.test.exit")) {
		_exit(1);
	} else if (!strcmp(t, "tryon.test.fail")) {
		char *msg = NULL;
		celery_body_str(&body, celery_body_arg(&body, 0), &msg, NULL, err, sizeof err);
		record_failure(out, "RuntimeError", "builtins", msg ? msg : "test failure", 1);
		free(msg);
	} else if (!strcmp(t, "tryon.test.flaky")) {
		/* Fails (retryably) until the message has been retried n times. */
		double n;
		if (arg_double(&body, 0, "failures", &n, out) == 0) {
			if ((double)env->retries < n)
				record_failure(out, "RuntimeError", "builtins", "flaky: failing this time", 1);
			else
				record_success(out, "\"ok\"", 4);
		}
	} else if (!strcmp(t, "tryon.test.echo")) {
		record_success(out, body.args_json, body.args_len);
	} else {
		record_failure(out, "NotRegistered", "celery.exceptions", t, 0);
	}
	celery_body_free(&body);
}
