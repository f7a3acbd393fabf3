/* fuzz_celery_ctl: libFuzzer target over the pidbox parser and all that
 * follows it (addressing and glob, celery_ctl_handle with the request's
 * arguments read by every method that takes some and by the inspect
 * replies over a full state, the reply envelope); every value and
 * envelope built must be valid JSON and every action within what the state
 * allows. The raw input is also taken as a decoded body (sent plain in an
 * envelope), since base64 rarely survives mutation. Seed the corpus with
 * the captures' pidbox PUBLISH payloads and their decoded bodies.
 * Celery's rate() and the glob matcher (fuzz_celery_rate) and the event
 * builders (fuzz_celery_events) have targets of their own: on every input
 * here, with their coverage features added to this target's, they kept it
 * short of 10^7 runs in `make fuzz` (2,100 runs/s; 12,500 without). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_ctl.h"
#include "lib/json.h"
#include "ctl_text.h"

#define REQUIRE(c)                                                           \
	do {                                                                 \
		if (!(c))                                                    \
			__builtin_trap();                                    \
	} while (0)

static const char *const names[] = { "app.tasks.virtual_tryon",
				     "app.tasks.health_check",
				     "celery.backend_cleanup" };
static const char *const revoked[] = { "r1", "r2" };
static const double revoked_ts[] = { 100.5, 7200.25 };
static const char *const queues[] = { "tryon_queue", "extra_q" };
static const int64_t totals[] = { 3, 0, 1 };
static const int64_t pids[] = { 42 };
static const char *const accept[] = { "json", "pickle" };
static const struct celery_ctl_url broker = {
	"redis", "127.0.0.1", 6379, NULL, "user", 1, 0 };
static const struct celery_ctl_url sock = {
	"unix", NULL, 0, "/run/redis.sock", NULL, 0, 3 };
static const struct celery_ctl_setting opts[] = {
	{ .key = "visibility_timeout", .kind = CELERY_CTL_V_INT, .i = 3600 },
	{ .key = "password", .kind = CELERY_CTL_V_STR, .str = "s3cret" },
	{ .key = "nested", .kind = CELERY_CTL_V_MAP, .map = opts, .n = 1 },
};
static const struct celery_ctl_setting settings[] = {
	{ .key = "broker_url", .kind = CELERY_CTL_V_URL, .url = &broker },
	{ .key = "result_backend", .kind = CELERY_CTL_V_URL, .url = &sock },
	{ .key = "accept_content", .kind = CELERY_CTL_V_STRS, .strs = accept, .n = 2 },
	{ .key = "task_acks_late", .kind = CELERY_CTL_V_BOOL, .i = 1 },
	{ .key = "worker_concurrency", .kind = CELERY_CTL_V_INT, .i = 4 },
	{ .key = "tryon_hedge_after", .kind = CELERY_CTL_V_NUM, .num = 2.5 },
	{ .key = "task_default_queue", .kind = CELERY_CTL_V_STR, .str = "it's \"q\"" },
	{ .key = "fal_key", .kind = CELERY_CTL_V_STR, .str = "s3cret" },
	{ .key = "tryon_cache_url", .kind = CELERY_CTL_V_URL },
	{ .key = "broker_transport_options", .kind = CELERY_CTL_V_MAP, .map = opts, .n = 3 },
	{ .key = "tryon_none", .kind = CELERY_CTL_V_NULL },
};
static const struct celery_ctl_report report = {
	"tryon-worker:0.1.0 (fuzz)", "libcurl", "Linux", "64bit, ELF", "6.1.0",
	"C, static musl", "tryon-worker", "redis", &broker,
};

static int in_list(const char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; s && i < n; i++)
		if (!strcmp(v[i], s))
			return 1;
	return 0;
}

/* What the state allows each action to ask of the worker. */
static void check_action(const struct celery_ctl_action *act,
			 const struct celery_ctl_state *st,
			 const struct celery_ctl_request *r)
{
	size_t k;

	switch (act->act) {
	case CELERY_CTL_ACT_NONE:
		REQUIRE(!act->name && !act->n_ids);
		break;
	case CELERY_CTL_ACT_REVOKE:
		if (act->terminate)
			REQUIRE(act->signum >= 1 && act->signum <= 64);
		break;
	case CELERY_CTL_ACT_SYNC:
		REQUIRE(act->clock_used && act->clock_value == st->clock + 1);
		break;
	case CELERY_CTL_ACT_CONCURRENCY:
		REQUIRE(act->concurrency >= 1 &&
			act->concurrency <= st->max_concurrency);
		REQUIRE(act->autoscale_min >= -1);
		break;
	case CELERY_CTL_ACT_ADD_QUEUE:
		REQUIRE(act->name && *act->name && strlen(act->name) <= 200);
		REQUIRE(!in_list(st->queues, st->n_queues, act->name));
		REQUIRE(st->n_queues < st->max_queues);
		break;
	case CELERY_CTL_ACT_CANCEL_QUEUE:
		REQUIRE(in_list(st->queues, st->n_queues, act->name));
		break;
	case CELERY_CTL_ACT_RATE_LIMIT:
		REQUIRE(in_list(st->task_names, st->n_task_names, act->name));
		REQUIRE(isfinite(act->rate) && act->rate >= 0);
		break;
	case CELERY_CTL_ACT_TIME_LIMIT:
		REQUIRE(in_list(st->task_names, st->n_task_names, act->name));
		REQUIRE(isfinite(act->soft) && act->soft >= 0);
		REQUIRE(isfinite(act->hard) && act->hard >= 0);
		break;
	default:
		break;
	}
	for (k = 0; k < act->n_ids; k++)
		REQUIRE(act->ids[k] && strlen(act->ids[k]) <= r->body_len);
}

static void exercise_request(const struct celery_ctl_request *r, unsigned pick)
{
	static const char *const takers[] = {
		"revoke", "terminate", "hello", "query_task", "stats", "nope",
		"active_queues", "conf", "report", "pool_grow", "pool_shrink",
		"autoscale", "add_consumer", "cancel_consumer", "rate_limit",
		"time_limit", "pool_restart", "registered", "revoked",
		"scheduled", "clock", "enable_events", "disable_events",
	};
	struct celery_ctl_task held[2];
	struct celery_ctl_stats stats;
	struct rusage ru;
	struct celery_ctl_state st;
	struct celery_ctl_action act;
	struct celery_ctl_request back;
	struct buf body, env, list, key, member;
	char err[200];
	size_t i;
	int a;

	REQUIRE(r->method != NULL);
	a = celery_ctl_addressed(r, "w1@vm");
	REQUIRE(a == CELERY_CTL_ADDR_YES || a == CELERY_CTL_ADDR_NO ||
		a == CELERY_CTL_ADDR_UNSUPPORTED);
	celery_ctl_addressed(r, "");

	memset(held, 0, sizeof held);
	held[0].id = "r1";
	held[0].name = "tryon.test.sleep";
	held[0].args_json = "[5]";
	held[0].time_start = 1.5;
	held[0].pid = 42;
	held[1].id = "q1";
	held[1].name = "app.tasks.virtual_tryon";
	held[1].eta = "2030-01-01T00:00:00+00:00";
	memset(&st, 0, sizeof st);
	st.hostname = "w1@vm";
	st.task_names = names;
	st.n_task_names = 3;
	st.active = &held[0];
	st.n_active = 1;
	st.reserved = &held[1];
	st.n_reserved = 1;
	st.scheduled = &held[1];
	st.n_scheduled = 1;
	st.revoked = revoked;
	st.revoked_ts = revoked_ts;
	st.n_revoked = 2;
	st.now = 9000.125;
	st.clock = 7;
	st.task_events = (int)(r->body_len & 1);
	st.concurrency = 4;
	st.max_concurrency = 16;
	st.autoscale_min = 1;
	st.queues = queues;
	st.n_queues = 1 + (r->body_len & 1);
	st.max_queues = 2;
	st.settings = settings;
	st.n_settings = sizeof settings / sizeof settings[0];
	st.report = &report;
	memset(&ru, 0, sizeof ru);
	ru.ru_utime.tv_usec = 223221;
	ru.ru_maxrss = 45112;
	memset(&stats, 0, sizeof stats);
	stats.total_names = names;
	stats.total_counts = totals;
	stats.n_total = 3;
	stats.pid = 1;
	stats.clock = 7;
	stats.uptime = 8.5;
	stats.max_concurrency = 4;
	stats.processes = pids;
	stats.n_processes = 1;
	stats.soft_time_limit = 25;
	stats.time_limit = 30.5;
	stats.broker_host = "127.0.0.1";
	stats.broker_port = 6379;
	stats.broker_user = "user";
	stats.visibility_timeout = 3600;
	stats.prefetch_count = 4;
	stats.rusage = &ru;
	st.stats = &stats;

	buf_init(&body);
	buf_init(&env);
	buf_init(&list);
	buf_init(&key);
	buf_init(&member);
	REQUIRE(celery_ctl_handle(r, &st, &body, &act, err, sizeof err) == 0);
	if (act.act == CELERY_CTL_ACT_SHUTDOWN)
		REQUIRE(!act.reply && body.len == 0);
	else
		REQUIRE(json_validate(body.data, body.len, NULL, 0) > 0);
	REQUIRE(act.reply == 0 || r->has_reply);
	check_action(&act, &st, r);
	if (r->has_reply && body.len) {
		REQUIRE(celery_ctl_reply_build(&env, r, "w1@vm", body.data,
					       body.len, 3, "tag", err,
					       sizeof err) == 0);
		REQUIRE(json_validate(env.data, env.len, NULL, 0) > 0);
		/* a reply envelope is itself a well-formed kombu message;
		 * its body {"w1@vm": ...} has no method, so it is refused
		 * for that reason only */
		if (celery_ctl_parse(env.data, env.len, env.len, &back, err,
				     sizeof err) < 0)
			REQUIRE(strstr(err, "method") != NULL);
		celery_ctl_request_free(&back);
		REQUIRE(celery_ctl_reply_list(&list, r) == 0);
		REQUIRE(celery_ctl_reply_binding(&key, &member, r) == 0);
	} else if (!r->has_reply) {
		REQUIRE(celery_ctl_reply_list(&list, r) == -1 && list.len == 0);
	}
	celery_ctl_action_free(&act);
	/* the same arguments read by one method that takes some, picked by
	 * the input's last byte (all 23 per input made this target 20 times
	 * slower than the others, short of 10^7 runs in `make fuzz`) */
	i = pick % (sizeof takers / sizeof takers[0]);
	{
		struct celery_ctl_request alias = *r;

		alias.method = (char *)takers[i];
		buf_reset(&body);
		REQUIRE(celery_ctl_handle(&alias, &st, &body, &act, err,
					  sizeof err) == 0);
		REQUIRE(json_validate(body.data, body.len, NULL, 0) > 0);
		REQUIRE(act.act != CELERY_CTL_ACT_SHUTDOWN &&
			act.act != CELERY_CTL_ACT_HEARTBEAT);
		check_action(&act, &st, r);
		celery_ctl_action_free(&act);
	}
	buf_free(&body);
	buf_free(&env);
	buf_free(&list);
	buf_free(&key);
	buf_free(&member);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *js = (const char *)data;
	struct celery_ctl_request r;
	char err[256];

	unsigned pick = size ? data[size - 1] : 0;

	if (celery_ctl_parse(js, size, 1 << 20, &r, err, sizeof err) == 0)
		exercise_request(&r, pick);
	celery_ctl_request_free(&r);

	if (parse_text(js, size, &r) == 0)
		exercise_request(&r, pick);
	celery_ctl_request_free(&r);
	return 0;
}
