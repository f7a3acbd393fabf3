/* kombu naming and layouts, checked against kombu 5.2.4 captures. */
#include <string.h>

#include "harness.h"
#include "celery/kombu.h"

static int eq(const struct buf *b, const char *s, size_t n)
{
	return b->len == n && !memcmp(b->data, s, n);
}

static void test_priority_lists(void)
{
	struct buf b;
	const struct { int pri; const char *want; size_t n; } rows[] = {
		{ 0, "celery", 6 }, { 2, "celery", 6 }, { 3, "celery\x06\x16" "3", 9 },
		{ 5, "celery\x06\x16" "3", 9 }, { 6, "celery\x06\x16" "6", 9 },
		{ 9, "celery\x06\x16" "9", 9 }, { 12, "celery\x06\x16" "9", 9 }, { -4, "celery", 6 },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		buf_init(&b);
		CHECK(kombu_priority_list(&b, "celery", rows[i].pri) == 0);
		CHECK(eq(&b, rows[i].want, rows[i].n));
		buf_free(&b);
	}
}

static void test_consume_order(void)
{
	/* Captured: BRPOP "other" "celery" "other\x06\x163" "celery\x06\x163" ... */
	const char *qs[] = { "celery", "other" };
	struct buf b;
	buf_init(&b);
	int n = kombu_consume_order(&b, qs, 2, 1);
	CHECK(n == 8);
	const char want[] = "other\0celery\0other\x06\x16" "3\0celery\x06\x16" "3\0"
			    "other\x06\x16" "6\0celery\x06\x16" "6\0other\x06\x16" "9\0celery\x06\x16" "9";
	CHECK(eq(&b, want, sizeof want));
	buf_free(&b);
}

static void test_queue_of_list(void)
{
	char q[64];
	kombu_queue_of_list("tryon_queue\x06\x16" "9", 14, q, sizeof q);
	CHECK(!strcmp(q, "tryon_queue"));
	kombu_queue_of_list("tryon_queue", 11, q, sizeof q);
	CHECK(!strcmp(q, "tryon_queue"));
}

static void test_binding_and_unacked(void)
{
	struct buf k, m, v;
	buf_init(&k), buf_init(&m), buf_init(&v);
	CHECK(kombu_binding(&k, &m, "tryon_queue") == 0);
	CHECK(!strcmp(k.data, "_kombu.binding.tryon_queue"));
	CHECK(eq(&m, "tryon_queue\x06\x16\x06\x16tryon_queue", 26));
	const char env[] = "{\"body\": \"W10=\", \"properties\": {\"delivery_tag\": \"t\"}}";
	CHECK(kombu_unacked_value(&v, env, strlen(env), "", "tryon_queue") == 0);
	CHECK(!strcmp(v.data, "[{\"body\": \"W10=\", \"properties\": {\"delivery_tag\": \"t\"}}, \"\", \"tryon_queue\"]"));
	buf_reset(&k);
	kombu_node_key(&k, "inflight", "celery@h");
	CHECK(!strcmp(k.data, "tryon-worker.inflight.celery@h"));
	buf_free(&k), buf_free(&m), buf_free(&v);
}

int main(void)
{
	RUN(test_priority_lists);
	RUN(test_consume_order);
	RUN(test_queue_of_list);
	RUN(test_binding_and_unacked);
	return harness_report();
}
