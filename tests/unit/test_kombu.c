/* kombu naming, layouts, envelopes and pidbox rules, checked against
 * kombu 5.2.4 captures. */
#include <stdlib.h>
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
	/* RECORD joins "[" .. message .. tail in Redis: the same bytes */
	buf_reset(&m);
	CHECK(kombu_unacked_tail(&m, "", "tryon_queue") == 0);
	CHECK(!strcmp(m.data, ", \"\", \"tryon_queue\"]"));
	CHECK(v.len == 1 + strlen(env) + m.len && !memcmp(v.data + 1 + strlen(env), m.data, m.len));
	buf_reset(&k);
	kombu_node_key(&k, "inflight", "celery@h");
	CHECK(!strcmp(k.data, "tryon-worker.inflight.celery@h"));
	buf_free(&k), buf_free(&m), buf_free(&v);
}

/* A celeryev heartbeat's envelope as kombu 5.2.4 wrote it (bytes and key
 * order), then the NULL defaults. */
static void test_envelope(void)
{
	static const char want[] =
		"{\"body\": \"eyJ0eXBlIjogIngifQ==\", \"content-encoding\": \"utf-8\", "
		"\"content-type\": \"application/json\", \"headers\": {\"hostname\": "
		"\"w1@vm\"}, \"properties\": {\"delivery_mode\": 1, \"delivery_info\": "
		"{\"exchange\": \"celeryev\", \"routing_key\": \"worker.heartbeat\"}, "
		"\"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": "
		"\"d\\u00e9\"}}";
	static const char hdr[] = "{\"hostname\": \"w1@vm\"}";
	static const char want_null[] =
		"{\"body\": \"\", \"content-encoding\": \"utf-8\", \"content-type\": "
		"\"application/json\", \"headers\": {}, \"properties\": "
		"{\"delivery_mode\": 1, \"delivery_info\": {\"exchange\": \"\", "
		"\"routing_key\": null}, \"priority\": 0, \"body_encoding\": "
		"\"base64\", \"delivery_tag\": null}}";
	struct buf b;

	buf_init(&b);
	buf_append_str(&b, "x");   /* appends, keeps what was there */
	CHECK(kombu_envelope(&b, "{\"type\": \"x\"}", 13, hdr, strlen(hdr), "celeryev",
			     "worker.heartbeat", "d\xc3\xa9") == 0);
	CHECK(b.len == 1 + strlen(want) && b.data[0] == 'x' && !strcmp(b.data + 1, want));
	buf_reset(&b);
	CHECK(kombu_envelope(&b, NULL, 0, NULL, 0, "", NULL, NULL) == 0);
	CHECK(!strcmp(b.data, want_null));
	buf_free(&b);
}

static int decode(const char *js, char **body, size_t *len, char *err, size_t errlen)
{
	struct json_doc d;
	int rc;

	if (json_parse(&d, js, strlen(js), 0, err, errlen) < 0)
		return -2;
	rc = kombu_body_decode(&d, 0, body, len, err, errlen);
	json_doc_free(&d);
	return rc;
}

static void test_body_decode(void)
{
	static const struct {
		const char *js;
		const char *want;    /* NULL: refused, err contains why */
		size_t len;
		const char *why;
	} rows[] = {
		{ "{\"body\": \"e30=\", \"properties\": {\"body_encoding\": \"base64\"}}", "{}", 2, NULL },
		{ "{\"body\": \"\", \"properties\": {\"body_encoding\": \"base64\"}}", "", 0, NULL },
		/* plain: no properties, no or null body_encoding, odd properties */
		{ "{\"body\": \"{\\\"a\\\": \\\"\\u00e9\\\"}\"}", "{\"a\": \"\xc3\xa9\"}", 11, NULL },
		{ "{\"body\": \"x\", \"properties\": {\"body_encoding\": null}}", "x", 1, NULL },
		{ "{\"body\": \"x\", \"properties\": 5}", "x", 1, NULL },
		{ "{\"body\": \"\"}", "", 0, NULL },
		{ "{\"body\": \"a\\u0000b\"}", "a\0b", 3, NULL },
		/* the last duplicate wins, as in Python */
		{ "{\"body\": \"x\", \"body\": \"eA==\", \"properties\": {\"body_encoding\": "
		  "\"base64\"}}", "x", 1, NULL },
		{ "{\"properties\": {\"body_encoding\": \"base64\"}}", NULL, 0, "missing 'body'" },
		{ "{\"body\": 5}", NULL, 0, "'body' must be a string" },
		{ "{\"body\": null}", NULL, 0, "'body' must be a string" },
		{ "{\"body\": \"\\ud800\"}", NULL, 0, "'body': " },
		{ "{\"body\": \"e30\", \"properties\": {\"body_encoding\": \"base64\"}}", NULL, 0, "body: " },
		{ "{\"body\": \"e30=\", \"properties\": {\"body_encoding\": \"gzip\"}}", NULL, 0,
		  "unsupported body_encoding \"gzip\"" },
		{ "{\"body\": \"e30=\", \"properties\": {\"body_encoding\": 5}}", NULL, 0,
		  "unsupported body_encoding 5" },
		{ "{\"body\": \"e30=\", \"properties\": {\"body_encoding\": \"BASE64\"}}", NULL, 0,
		  "unsupported" },
	};
	char err[160], *body;
	size_t len;

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int rc;

		err[0] = '\0';
		body = (char *)"untouched";
		len = 99;
		rc = decode(rows[i].js, &body, &len, err, sizeof err);
		if (rows[i].want) {
			CHECK(rc == 0 && len == rows[i].len && !memcmp(body, rows[i].want, len) &&
			      body[len] == '\0');
			free(body);
		} else {
			CHECK(rc == -1 && body == NULL && len == 0 && strstr(err, rows[i].why));
		}
		if (rc == -2 || (rows[i].want ? rc != 0 : rc != -1))
			fprintf(stderr, "  row %zu: rc %d err %s\n", i, rc, err);
	}
}

/* What kombu_envelope writes, kombu_body_decode reads back: both sides of
 * a pidbox reply. */
static void test_pidbox_reply(void)
{
	static const char hdr[] = "\"headers\": {\"ticket\": \"tk\", \"clock\": 7}";
	static const char route[] = "\"delivery_info\": {\"exchange\": \"reply.celery.pidbox\", "
				    "\"routing_key\": \"oid\"}";
	struct json_doc d;
	struct buf b;
	char err[160], *body = NULL;
	size_t len = 0;

	buf_init(&b);
	CHECK(kombu_pidbox_reply(&b, "w1@vm", "{\"ok\": \"pong\"}", 14, "tk", 7,
				 "reply.celery.pidbox", "oid", "dt") == 0);
	CHECK(b.data && strstr(b.data, hdr) && strstr(b.data, route));
	CHECK(json_parse(&d, b.data, b.len, 0, err, sizeof err) == 0);
	CHECK(kombu_body_decode(&d, 0, &body, &len, err, sizeof err) == 0);
	CHECK(body && !strcmp(body, "{\"w1@vm\": {\"ok\": \"pong\"}}") && len == 25);
	free(body);
	json_doc_free(&d);
	buf_reset(&b);
	CHECK(kombu_pidbox_reply(&b, "w1@vm", "null", 4, NULL, 0, "x", "y", "dt") == 0);
	CHECK(strstr(b.data, "\"headers\": {\"ticket\": null, \"clock\": 0}"));
	buf_free(&b);
}

static void test_pidbox_addressed(void)
{
	static const struct {
		const char *dest;     /* destination JSON, NULL: absent */
		const char *pattern, *matcher, *host;
		int want;
	} rows[] = {
		{ NULL, NULL, NULL, "w1@vm", KOMBU_ADDR_YES },
		{ "null", NULL, NULL, "w1@vm", KOMBU_ADDR_YES },
		{ "[\"w2@vm\", \"w1@vm\"]", NULL, NULL, "w1@vm", KOMBU_ADDR_YES },
		{ "[\"w2@vm\"]", NULL, NULL, "w1@vm", KOMBU_ADDR_NO },
		{ "[\"w1@vm2\"]", NULL, NULL, "w1@vm", KOMBU_ADDR_NO },
		{ "\"w1@vm2\"", NULL, NULL, "w1@vm", KOMBU_ADDR_YES },   /* `in`: substring */
		{ "\"w1\\u0000@vm\"", NULL, NULL, "w1", KOMBU_ADDR_UNSUPPORTED },
		{ "{\"w1@vm\": 0}", NULL, NULL, "w1@vm", KOMBU_ADDR_YES },
		{ "{\"w2@vm\": 0}", NULL, NULL, "w1@vm", KOMBU_ADDR_NO },
		{ "7", NULL, NULL, "w1@vm", KOMBU_ADDR_UNSUPPORTED },
		/* a falsy destination leaves it to the pattern */
		{ "[]", "w2*", "glob", "w1@vm", KOMBU_ADDR_NO },
		{ "\"\"", "w1*", "glob", "w1@vm", KOMBU_ADDR_YES },
		{ "[\"x\"]", "*", "glob", "w1@vm", KOMBU_ADDR_NO },
		{ NULL, "w.*", "pcre", "w1@vm", KOMBU_ADDR_UNSUPPORTED },
		{ NULL, "x*", NULL, "w1@vm", KOMBU_ADDR_YES },
		{ NULL, "x*", "", "w1@vm", KOMBU_ADDR_YES },
		{ NULL, NULL, NULL, NULL, KOMBU_ADDR_NO },
	};
	struct json_doc d;
	char err[160];

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const char *js = rows[i].dest ? rows[i].dest : "0";
		int got;

		CHECK(json_parse(&d, js, strlen(js), 0, err, sizeof err) == 0);
		got = kombu_pidbox_addressed(&d, rows[i].dest ? 0 : -1, rows[i].pattern,
					     rows[i].matcher, rows[i].host);
		if (got != rows[i].want)
			fprintf(stderr, "  row %zu: got %d\n", i, got);
		CHECK(got == rows[i].want);
		json_doc_free(&d);
	}
}

int main(void)
{
	RUN(test_priority_lists);
	RUN(test_consume_order);
	RUN(test_queue_of_list);
	RUN(test_binding_and_unacked);
	RUN(test_envelope);
	RUN(test_body_decode);
	RUN(test_pidbox_reply);
	RUN(test_pidbox_addressed);
	return harness_report();
}
