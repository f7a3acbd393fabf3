/* fuzz_envelope: libFuzzer target over celery_envelope_parse,
 * celery_body_parse (+ every argument getter and repr), the requeue rewrite
 * and the retry and dead-letter builders. Besides memory safety it checks:
 *   - a rewritten envelope parses again, keeps the task id, and carries the
 *     redelivered flag and our delivery count;
 *   - a retry message built from an accepted message parses back as v2 with
 *     the same id and args and retries + 1;
 *   - a dead-letter record is valid JSON.
 * Seeds: envelopes from shared/reference/celery-captures (LPUSH/RPUSH/
 * PUBLISH payloads, MONITOR escaping undone). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_msg.h"
#include "lib/json.h"
#include "lib/pyrepr.h"

#define REQUIRE(c)                                                           \
	do {                                                                 \
		if (!(c))                                                    \
			__builtin_trap();                                    \
	} while (0)

static int same(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static void exercise_body(const struct celery_body *b)
{
	char err[128], *s;
	double f;
	int64_t v;
	const char *p;
	size_t n;
	struct buf r;
	int i, k, t;

	for (i = 0; i < celery_body_nargs(b) && i < 64; i++) {
		t = celery_body_arg(b, i);
		REQUIRE(t >= 0);
		if (celery_body_str(b, t, &s, &n, err, sizeof err) == 0) {
			REQUIRE(s && s[n] == '\0');
			free(s);
		}
		celery_body_double(b, t, &f, err, sizeof err);
		celery_body_int(b, t, &v, err, sizeof err);
		REQUIRE(celery_body_raw(b, t, &p, &n) == 0 && n > 0);
	}
	REQUIRE(celery_body_arg(b, celery_body_nargs(b)) < 0);
	if (b->kwargs_tok >= 0) {
		/* every key found by name resolves to a value token */
		for (k = 0, t = b->kwargs_tok + 1;
		     k < b->doc.toks[b->kwargs_tok].size && k < 64; k++) {
			if (json_tok_strdup(&b->doc, t, &s, &n, err,
					    sizeof err) == 0) {
				if (strlen(s) == n)
					REQUIRE(celery_body_kwarg(b, s) >= 0);
				free(s);
			}
			t = json_skip(&b->doc, json_skip(&b->doc, t));
		}
	}
	buf_init(&r);
	if (b->args_tok >= 0)
		REQUIRE(pyrepr_saferepr(&r, &b->doc, b->args_tok, 1,
					CELERY_REPR_MAXSIZE) == 0);
	if (b->kwargs_tok >= 0)
		REQUIRE(pyrepr_saferepr(&r, &b->doc, b->kwargs_tok, 0,
					CELERY_REPR_MAXSIZE) == 0);
	buf_free(&r);
}

static void check_retry(const struct celery_envelope *env,
			const struct celery_body *b)
{
	struct celery_envelope out;
	struct celery_body ob;
	struct buf m;
	char err[256];

	if (!env->routing_key || env->retries == INT64_MAX)
		return;
	buf_init(&m);
	REQUIRE(celery_retry_build(&m, env, b, "2030-01-01T00:00:00+00:00",
				   "fuzz-tag", "fuzz@host", err,
				   sizeof err) == 0);
	REQUIRE(celery_envelope_parse(m.data, m.len, m.len, &out, err,
				      sizeof err) == 0);
	REQUIRE(out.protocol == 2 && same(out.task_id, env->task_id) &&
		same(out.task, env->task) &&
		out.retries == env->retries + 1 &&
		same(out.parent_id, env->task_id) &&
		out.priority == env->priority);
	REQUIRE(celery_body_parse(&ob, out.body, out.body_len, 2, err,
				  sizeof err) == 0);
	REQUIRE(ob.args_len == b->args_len &&
		memcmp(ob.args_json, b->args_json, b->args_len) == 0);
	REQUIRE(ob.kwargs_len == b->kwargs_len &&
		memcmp(ob.kwargs_json, b->kwargs_json, b->kwargs_len) == 0);
	celery_body_free(&ob);
	celery_envelope_free(&out);
	buf_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *js = (const char *)data;
	struct celery_envelope env, env2;
	struct celery_body body;
	struct buf out;
	char err[256];
	int64_t n = (int64_t)(size % 5) - 1;
	int rc, rc2;

	rc = celery_envelope_parse(js, size, 1 << 20, &env, err, sizeof err);
	if (rc == 0) {
		REQUIRE(env.task && env.task_id);
		REQUIRE(env.protocol == 1 || env.protocol == 2);
		REQUIRE(env.body && env.body[env.body_len] == '\0');
		REQUIRE(env.priority >= 0 && env.priority <= 9);
		if (celery_body_parse(&body, env.body, env.body_len,
				      env.protocol, err, sizeof err) == 0) {
			exercise_body(&body);
			check_retry(&env, &body);
		}
		celery_body_free(&body);
	}

	/* The body inside an envelope is base64, which mutations rarely keep
	 * valid, so the raw input is also fed to the body parser. */
	for (rc2 = 1; rc2 <= 2; rc2++) {
		if (celery_body_parse(&body, js, size, rc2, err,
				      sizeof err) == 0)
			exercise_body(&body);
		celery_body_free(&body);
	}

	buf_init(&out);
	if (celery_requeue_rewrite(js, size, n, &out, err, sizeof err) == 0) {
		rc2 = celery_envelope_parse(out.data, out.len, out.len, &env2,
					    err, sizeof err);
		if (rc == 0)
			REQUIRE(rc2 == 0);
		if (env.task_id)
			REQUIRE(same(env.task_id, env2.task_id));
		if (rc2 == 0) {
			REQUIRE(env2.redelivered);
			REQUIRE(n < 0 || env2.deliveries == n);
			REQUIRE(n >= 0 || rc != 0 ||
				env2.deliveries == env.deliveries);
		}
		celery_envelope_free(&env2);
	} else {
		REQUIRE(out.len == 0);
	}
	celery_envelope_free(&env);

	buf_reset(&out);
	REQUIRE(celery_deadletter_build(&out, "fuzz", "q", 1.5, js, size) == 0);
	REQUIRE(json_validate(out.data, out.len, err, sizeof err) > 0);
	buf_free(&out);
	return 0;
}
