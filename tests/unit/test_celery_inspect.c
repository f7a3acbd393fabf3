/* test_celery_inspect: the inspect replies built straight from what the
 * worker describes, no request involved. The texts are a Celery 5.2.6
 * worker's replies to the same commands (captured with the same stack;
 * tests/integration/test_d2_control_tools.py compares them live). How a
 * request reaches them is test_celery_ctl's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_inspect.h"
#include "harness.h"
#include "lib/json.h"

static int buf_is(const struct buf *b, const char *s)
{
	size_t n = strlen(s);
	int ok = !b->failed && b->len == n && memcmp(b->data, s, n) == 0;

	if (!ok)
		fprintf(stderr, "  got:  %.*s\n  want: %s\n", (int)b->len,
			b->data ? b->data : "", s);
	return ok;
}

/* ---- tasks ------------------------------------------------------------ */

/* A 5.2.6 worker's replies for held tasks (inspect reserved / scheduled /
 * query_task while 2 of 3 sleepers ran and one add() waited for its
 * countdown). */
static void test_tasks(void)
{
	struct celery_ctl_task rsv, sch, run, two[2];
	struct buf b;

	memset(&rsv, 0, sizeof rsv);
	rsv.id = "2f4c0c2e-1cb9-49d2-b932-e3f0113eacff";
	rsv.name = "tasks.sleeper";
	rsv.args_json = "[6]";
	rsv.routing_key = "celery";
	sch = rsv;
	sch.id = "23c9da25-aa82-4d7b-8a64-fa4a2fe9c5c3";
	sch.name = "tasks.add";
	sch.args_json = "[1, 2]";
	sch.eta = "2026-11-26T08:16:10.417374+00:00";
	run = rsv;
	run.id = "9a4cce90-56bd-48b9-b066-64afdc47c247";
	run.time_start = 1795680910.4200752;
	run.acknowledged = 1;
	run.pid = 14623;
	buf_init(&b);
	CHECK(celery_inspect_tasks(&b, "w1@vm", &rsv, 1, 0) == 0);
	CHECK(buf_is(&b,
		"[{\"id\": \"2f4c0c2e-1cb9-49d2-b932-e3f0113eacff\", \"name\": \"tasks.sleeper\", "
		"\"args\": [6], \"kwargs\": {}, \"type\": \"tasks.sleeper\", \"hostname\": \"w1@vm\", "
		"\"time_start\": null, \"acknowledged\": false, \"delivery_info\": {\"exchange\": \"\", "
		"\"routing_key\": \"celery\", \"priority\": 0, \"redelivered\": null}, "
		"\"worker_pid\": null}]"));
	buf_reset(&b);
	CHECK(celery_inspect_tasks(&b, "w1@vm", &sch, 1, 1) == 0);
	CHECK(buf_is(&b,
		"[{\"eta\": \"2026-11-26T08:16:10.417374+00:00\", \"priority\": 6, \"request\": "
		"{\"id\": \"23c9da25-aa82-4d7b-8a64-fa4a2fe9c5c3\", \"name\": \"tasks.add\", "
		"\"args\": [1, 2], \"kwargs\": {}, \"type\": \"tasks.add\", \"hostname\": \"w1@vm\", "
		"\"time_start\": null, \"acknowledged\": false, \"delivery_info\": {\"exchange\": \"\", "
		"\"routing_key\": \"celery\", \"priority\": 0, \"redelivered\": null}, "
		"\"worker_pid\": null}}]"));
	buf_reset(&b);
	CHECK(celery_inspect_task_info(&b, "w1@vm", &run) == 0);
	CHECK(buf_is(&b,
		"{\"id\": \"9a4cce90-56bd-48b9-b066-64afdc47c247\", \"name\": \"tasks.sleeper\", "
		"\"args\": [6], \"kwargs\": {}, \"type\": \"tasks.sleeper\", \"hostname\": \"w1@vm\", "
		"\"time_start\": 1795680910.4200752, \"acknowledged\": true, \"delivery_info\": "
		"{\"exchange\": \"\", \"routing_key\": \"celery\", \"priority\": 0, "
		"\"redelivered\": null}, \"worker_pid\": 14623}"));
	buf_reset(&b);
	CHECK(celery_inspect_tasks(&b, "w1@vm", NULL, 0, 0) == 0 && buf_is(&b, "[]"));
	buf_reset(&b);
	CHECK(celery_inspect_tasks(&b, "w1@vm", NULL, 0, 1) == 0 && buf_is(&b, "[]"));
	buf_reset(&b);
	/* two: comma-separated; redelivered true, type != name (shadow),
	 * kwargs given, args_len honoured */
	two[0] = rsv;
	two[1] = rsv;
	two[1].id = "b";
	two[1].redelivered = 1;
	two[1].type = "other.name";
	two[1].kwargs_json = "{\"a\": 1}";
	two[1].args_json = "[7]garbage";
	two[1].args_len = 3;
	two[1].priority = 9;
	CHECK(celery_inspect_tasks(&b, "w1@vm", two, 2, 0) == 0);
	CHECK(strstr(b.data, "\"worker_pid\": null}, {\"id\": \"b\"") != NULL);
	CHECK(strstr(b.data, "\"args\": [7], \"kwargs\": {\"a\": 1}, \"type\": \"other.name\"") != NULL);
	CHECK(strstr(b.data, "\"priority\": 9, \"redelivered\": true}") != NULL);
	CHECK(json_validate(b.data, b.len, NULL, 0) > 0);
	/* invalid raw JSON, no id, no name: refused */
	two[1].args_json = "[1,";
	two[1].args_len = 0;
	CHECK(celery_inspect_tasks(&b, "w1@vm", two, 2, 0) == -1);
	two[1].args_json = NULL;
	two[1].kwargs_json = "{";
	CHECK(celery_inspect_task_info(&b, "w1@vm", &two[1]) == -1);
	two[1].kwargs_json = NULL;
	two[1].id = NULL;
	CHECK(celery_inspect_task_info(&b, "w1@vm", &two[1]) == -1);
	two[1].id = "b";
	two[1].name = NULL;
	CHECK(celery_inspect_task_info(&b, "w1@vm", &two[1]) == -1);
	buf_free(&b);
	/* find by id; tasks without one are passed over */
	two[1].name = "x";
	two[0].id = NULL;
	CHECK(celery_inspect_find(two, 2, "b") == &two[1]);
	CHECK(celery_inspect_find(two, 2, "nope") == NULL);
	CHECK(celery_inspect_find(NULL, 0, "b") == NULL);
}

static void test_registered_and_revoked(void)
{
	/* byte order is code point order: "Z" < "a" < "é" */
	static const char *const names[] = {
		"tasks.b", "celery.chord_unlock", NULL, "tasks.\xc3\xa9", "tasks.a",
		"tasks.Z", "celery.", "celeryx.t",
	};
	static const char *const ids[] = { "r2", "r1" };
	struct buf b;

	buf_init(&b);
	celery_inspect_registered(&b, names, sizeof names / sizeof names[0]);
	CHECK(buf_is(&b, "[\"celeryx.t\", \"tasks.Z\", \"tasks.a\", \"tasks.b\", "
			 "\"tasks.\\u00e9\"]"));
	buf_reset(&b);
	celery_inspect_registered(&b, NULL, 0);
	CHECK(buf_is(&b, "[]"));
	buf_reset(&b);
	/* revoked: in the order the worker keeps them */
	celery_inspect_revoked(&b, ids, 2);
	CHECK(buf_is(&b, "[\"r2\", \"r1\"]"));
	buf_reset(&b);
	celery_inspect_revoked(&b, NULL, 0);
	CHECK(buf_is(&b, "[]"));
	buf_free(&b);
}

/* ---- stats -------------------------------------------------------------- */

static void test_stats(void)
{
	static const char *const tn[] = { "a", "b", "c" };
	static const int64_t tc[] = { 0, 2, 0 };
	static const int64_t procs[] = { 30128, 30129 };
	struct celery_ctl_stats s;
	struct rusage ru;
	struct buf b;

	memset(&s, 0, sizeof s);
	s.total_names = tn;
	s.total_counts = tc;
	s.n_total = 3;
	buf_init(&b);
	/* Celery's Counter lists only tasks that ran */
	celery_inspect_stats(&b, &s);
	CHECK(!strncmp(b.data, "{\"total\": {\"b\": 2}, \"pid\"", 25));
	CHECK(json_validate(b.data, b.len, NULL, 0) > 0);
	buf_reset(&b);
	s.n_total = 1;
	celery_inspect_stats(&b, &s);
	CHECK(!strncmp(b.data, "{\"total\": {}, \"pid\"", 19));
	buf_reset(&b);
	/* no rusage; uptime rounded half to even, like Python's round();
	 * limits of 0 written as 0; the password never shows */
	s.pid = 7;
	s.clock = 12;
	s.uptime = 2.5;
	s.max_concurrency = 2;
	s.processes = procs;
	s.n_processes = 2;
	s.max_tasks_per_child = 100;
	s.time_limit = 30.5;
	s.implementation = "impl";
	s.broker_host = "10.0.0.1";
	s.broker_port = 6380;
	s.broker_db = 3;
	s.broker_user = "u";
	s.broker_ssl = 1;
	s.prefetch_count = 2;
	celery_inspect_stats(&b, &s);
	CHECK(buf_is(&b,
		"{\"total\": {}, \"pid\": 7, \"clock\": \"12\", \"uptime\": 2, \"pool\": "
		"{\"max-concurrency\": 2, \"processes\": [30128, 30129], "
		"\"max-tasks-per-child\": 100, \"put-guarded-by-semaphore\": false, "
		"\"timeouts\": [0, 30.5], \"implementation\": \"impl\"}, \"broker\": "
		"{\"hostname\": \"10.0.0.1\", \"userid\": \"u\", \"virtual_host\": \"3\", "
		"\"port\": 6380, \"insist\": false, \"ssl\": true, \"transport\": \"redis\", "
		"\"transport_options\": {}, \"login_method\": null, \"uri_prefix\": null}, "
		"\"prefetch_count\": 2, \"rusage\": \"N/A\"}"));
	buf_reset(&b);
	/* rusage seconds as Python's resource module adds them up */
	memset(&ru, 0, sizeof ru);
	ru.ru_utime.tv_usec = 223221;
	ru.ru_stime.tv_usec = 97139;
	ru.ru_maxrss = 45112;
	ru.ru_nivcsw = 3;
	s.rusage = &ru;
	s.uptime = 3.5;
	celery_inspect_stats(&b, &s);
	CHECK(strstr(b.data, "\"uptime\": 4, ") != NULL);
	CHECK(strstr(b.data, "\"rusage\": {\"utime\": 0.223221, \"stime\": "
			     "0.09713899999999999, \"maxrss\": 45112, ") != NULL);
	CHECK(b.len > 13 && !strcmp(b.data + b.len - 13, "\"nivcsw\": 3}}"));
	CHECK(json_validate(b.data, b.len, NULL, 0) > 0);
	buf_free(&b);
}

/* ---- queues, settings, report ------------------------------------------ */

static void test_active_queues(void)
{
	static const char *const qs[] = { "tryon_queue", "q\"2" };
	struct buf b;

	buf_init(&b);
	celery_inspect_active_queues(&b, NULL, 0);
	CHECK(buf_is(&b, "[]"));
	buf_reset(&b);
	/* json.dumps([dict(Queue('tryon_queue', Exchange('tryon_queue',
	 * 'direct'), routing_key='tryon_queue').as_dict(recurse=True))]) */
	celery_inspect_active_queues(&b, qs, 1);
	CHECK(buf_is(&b,
		"[{\"name\": \"tryon_queue\", \"exchange\": {\"name\": \"tryon_queue\", "
		"\"type\": \"direct\", \"arguments\": null, \"durable\": true, \"passive\": "
		"false, \"auto_delete\": false, \"delivery_mode\": null, \"no_declare\": "
		"false}, \"routing_key\": \"tryon_queue\", \"queue_arguments\": null, "
		"\"binding_arguments\": null, \"consumer_arguments\": null, \"durable\": "
		"true, \"exclusive\": false, \"auto_delete\": false, \"no_ack\": false, "
		"\"alias\": null, \"bindings\": [], \"no_declare\": null, \"expires\": "
		"null, \"message_ttl\": null, \"max_length\": null, \"max_length_bytes\": "
		"null, \"max_priority\": null}]"));
	buf_reset(&b);
	celery_inspect_active_queues(&b, qs, 2);
	CHECK(strstr(b.data, "\"max_priority\": null}, {\"name\": \"q\\\"2\"") != NULL);
	CHECK(json_validate(b.data, b.len, NULL, 0) > 0);
	buf_free(&b);
}

static const char *const accept[] = { "json" };
static const struct celery_ctl_url broker = {
	"redis", "127.0.0.1", 38617, NULL, NULL, 1, 4 };
static const struct celery_ctl_url backend = {
	"redis", "127.0.0.1", 38617, NULL, NULL, 1, 5 };
static const struct celery_ctl_url other = {
	"rediss", "Cache.Example", 6380, NULL, "us@er", 1, 2 };
static const struct celery_ctl_url sock = {
	"unix", NULL, 0, "/run/redis.sock", NULL, 0, 3 };
static const struct celery_ctl_setting opts[] = {
	{ .key = "visibility_timeout", .kind = CELERY_CTL_V_INT, .i = 3600 },
};
static const struct celery_ctl_setting set[] = {
	{ .key = "broker_url", .kind = CELERY_CTL_V_URL, .url = &broker },
	{ .key = "result_backend", .kind = CELERY_CTL_V_URL, .url = &backend },
	{ .key = "accept_content", .kind = CELERY_CTL_V_STRS, .strs = accept, .n = 1 },
	{ .key = "task_acks_late", .kind = CELERY_CTL_V_BOOL, .i = 1 },
	{ .key = "worker_prefetch_multiplier", .kind = CELERY_CTL_V_INT, .i = 1 },
	{ .key = "task_default_queue", .kind = CELERY_CTL_V_STR, .str = "tryon_queue" },
	{ .key = "task_soft_time_limit", .kind = CELERY_CTL_V_NUM, .num = 25 },
	{ .key = "task_time_limit", .kind = CELERY_CTL_V_NUM, .num = 30.5 },
	{ .key = "broker_transport_options", .kind = CELERY_CTL_V_MAP, .map = opts, .n = 1 },
	{ .key = "task_default_routing_key", .kind = CELERY_CTL_V_STR, .str = "tryon" },
	{ .key = "tryon_cache_url", .kind = CELERY_CTL_V_URL, .url = &other },
	{ .key = "tryon_socket", .kind = CELERY_CTL_V_URL, .url = &sock },
	{ .key = "tryon_none", .kind = CELERY_CTL_V_NULL },
};

static void test_conf(void)
{
	static const struct celery_ctl_setting secret[] = {
		{ .key = "fal_api_token", .kind = CELERY_CTL_V_STR, .str = "s3cret" },
		{ .key = "Database_opts", .kind = CELERY_CTL_V_MAP, .map = set, .n = 2 },
		{ .key = "tryon_null_str", .kind = CELERY_CTL_V_STR },
		{ .key = "tryon_null_url", .kind = CELERY_CTL_V_URL },
		{ .key = "tryon_off", .kind = CELERY_CTL_V_BOOL },
		{ .key = "tryon_ratio", .kind = CELERY_CTL_V_NUM, .num = 1e16 },
	};
	struct buf b;

	buf_init(&b);
	/* masked as a 5.2.6 worker masks them (broker_url by
	 * Connection.as_uri, the others by maybe_sanitize_url; any key with
	 * KEY, PASS, ... in it hidden whatever its value) */
	celery_inspect_conf(&b, set, sizeof set / sizeof set[0]);
	CHECK(buf_is(&b,
		"{\"broker_url\": \"redis://:********@127.0.0.1:38617/4\", "
		"\"result_backend\": \"redis://:********@127.0.0.1:38617/5\", "
		"\"accept_content\": [\"json\"], \"task_acks_late\": true, "
		"\"worker_prefetch_multiplier\": 1, \"task_default_queue\": \"tryon_queue\", "
		"\"task_soft_time_limit\": 25, \"task_time_limit\": 30.5, "
		"\"broker_transport_options\": {\"visibility_timeout\": 3600}, "
		"\"task_default_routing_key\": \"********\", "
		"\"tryon_cache_url\": \"rediss://us%40er:********@cache.example:6380/2\", "
		"\"tryon_socket\": \"unix:///run/redis.sock\", \"tryon_none\": null}"));
	buf_reset(&b);
	/* a hidden key masks a str; a Mapping is filtered by its own keys
	 * whatever its name; nulls; a big float as Python writes it */
	celery_inspect_conf(&b, secret, sizeof secret / sizeof secret[0]);
	CHECK(buf_is(&b,
		"{\"fal_api_token\": \"********\", \"Database_opts\": {\"broker_url\": "
		"\"redis://:********@127.0.0.1:38617/4\", \"result_backend\": "
		"\"redis://:********@127.0.0.1:38617/5\"}, \"tryon_null_str\": null, "
		"\"tryon_null_url\": null, \"tryon_off\": false, \"tryon_ratio\": 1e+16}"));
	buf_reset(&b);
	celery_inspect_conf(&b, NULL, 0);
	CHECK(buf_is(&b, "{}"));
	buf_free(&b);
}

static void test_report(void)
{
	static const struct celery_ctl_report rep = {
		"tryon-worker:0.1.0 (abc123)", "libcurl:8.0", "Linux", "64bit, ELF",
		"6.1.0", "C", "tryon-worker", "redis", &backend,
	};
	static const struct celery_ctl_setting more[] = {
		{ .key = "tryon_cache_url", .kind = CELERY_CTL_V_URL, .url = &other },
		{ .key = "tryon_none", .kind = CELERY_CTL_V_NULL },
		{ .key = "tryon_str_none", .kind = CELERY_CTL_V_STR },
		{ .key = "tryon_q", .kind = CELERY_CTL_V_STR, .str = "it's" },
		{ .key = "tryon_off", .kind = CELERY_CTL_V_BOOL },
	};
	struct celery_ctl_report none = rep;
	struct buf b;

	buf_init(&b);
	celery_inspect_report(&b, &rep, set, 9);
	CHECK(buf_is(&b,
		"\nsoftware -> tryon-worker:0.1.0 (abc123)\n            libcurl:8.0\n"
		"platform -> system:Linux arch:64bit, ELF\n"
		"            kernel version:6.1.0 imp:C\n"
		"loader   -> tryon-worker\n"
		"settings -> transport:redis results:redis://:**@127.0.0.1:38617/5\n\n"
		"broker_url: 'redis://:********@127.0.0.1:38617/4'\n"
		"result_backend: 'redis://:********@127.0.0.1:38617/5'\n"
		"accept_content: ['json']\n"
		"task_acks_late: True\n"
		"worker_prefetch_multiplier: 1\n"
		"task_default_queue: 'tryon_queue'\n"
		"task_soft_time_limit: 25\n"
		"task_time_limit: 30.5\n"
		"broker_transport_options: {\n 'visibility_timeout': 3600}\n"));
	buf_reset(&b);
	/* no result backend; Python's reprs of None, False, quotes */
	none.results = NULL;
	none.libraries = NULL;
	celery_inspect_report(&b, &none, more, sizeof more / sizeof more[0]);
	CHECK(buf_is(&b,
		"\nsoftware -> tryon-worker:0.1.0 (abc123)\n            \n"
		"platform -> system:Linux arch:64bit, ELF\n"
		"            kernel version:6.1.0 imp:C\n"
		"loader   -> tryon-worker\n"
		"settings -> transport:redis results:disabled\n\n"
		"tryon_cache_url: 'rediss://us%40er:********@cache.example:6380/2'\n"
		"tryon_none: None\n"
		"tryon_str_none: None\n"
		"tryon_q: \"it's\"\n"
		"tryon_off: False\n"));
	buf_free(&b);
}

int main(void)
{
	RUN(test_tasks);
	RUN(test_registered_and_revoked);
	RUN(test_stats);
	RUN(test_active_queues);
	RUN(test_conf);
	RUN(test_report);
	return harness_report();
}
