/* test_page: the operator page's escaping, CSP, URL keeping and rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lib/json.h"
#include "ops/page.h"

static char *escaped(const char *s)
{
	static char out[512];
	struct buf b;
	buf_init(&b);
	page_escape(&b, s, strlen(s));
	snprintf(out, sizeof out, "%.*s", (int)b.len, b.data ? b.data : "");
	buf_free(&b);
	return out;
}

static void test_escape(void)
{
	CHECK(!strcmp(escaped("\"><script>alert(1)</script>"),
		      "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
	CHECK(!strcmp(escaped("a'b&c"), "a&#39;b&amp;c"));
	CHECK(!strcmp(escaped("plain https://x.test/a.png"), "plain https://x.test/a.png"));
	CHECK(!strcmp(escaped("a\nb\x01"), "a&#xFFFD;b&#xFFFD;"));
	CHECK(!strcmp(escaped(""), ""));
}

static void test_url_set(void)
{
	struct page_url u;
	page_url_set(&u, "https://a.test/p.png", 20);
	CHECK(!strcmp(u.text, "https://a.test/p.png") && u.len == 20 && !u.cut && !u.data_uri);

	const char *d = "data:image/png;base64,iVBORw0KGgo=";
	page_url_set(&u, d, strlen(d));
	CHECK(u.data_uri && u.text[0] == 0 && u.len == strlen(d));

	size_t n = PAGE_URL_MAX + 100;
	char *big = malloc(n + 1);
	memset(big, 'a', n);
	memcpy(big, "https://", 8);
	big[n] = 0;
	page_url_set(&u, big, n);
	CHECK(u.cut && strlen(u.text) == PAGE_URL_MAX && u.len == n);
	free(big);

	page_url_set(&u, NULL, 0);
	CHECK(u.len == 0 && u.text[0] == 0);
}

static void fill(struct page_tryon *t, const char *person)
{
	memset(t, 0, sizeof *t);
	t->at = 1796000000.5;
	snprintf(t->id, sizeof t->id, "id-1");
	page_url_set(&t->person, person, strlen(person));
	page_url_set(&t->garment, "http://127.0.0.1:8/g.png?a=1&b='2'", 34);
	page_url_set(&t->result, "data:image/png;base64,AAAA", 26);
	snprintf(t->path, sizeof t->path, "backup");
	snprintf(t->outcome, sizeof t->outcome, "success");
	t->latency = 1.25;
	t->cost = 0.08;
	t->n_calls = 2;
	snprintf(t->calls[0].model, sizeof t->calls[0].model, "primary");
	snprintf(t->calls[0].outcome, sizeof t->calls[0].outcome, "transient");
	t->calls[0].cost = 0.05;
	t->calls[0].status = 500;
	snprintf(t->calls[1].model, sizeof t->calls[1].model, "backup");
	snprintf(t->calls[1].outcome, sizeof t->calls[1].outcome, "ok");
	t->calls[1].cost = 0.03;
}

static void test_html(void)
{
	struct page_tryon t;
	const struct page_tryon *rows[1] = { &t };
	struct page_queue q[2] = { { "tryon_queue", 3 }, { "<q>", -1 } };
	struct page_endpoint ep[1] = { { "primary", "fal-ai/x", "open", 1.5, 30 } };
	fill(&t, "https://img.test/p.png?x=\"><script>alert(1)</script>");
	struct page_view v = { .node = "celery@h<1>", .version = "1.2", .readiness = "ready", .now = 1796000100,
			       .uptime = 42, .busy = 1, .slots = 4, .queues = q, .n_queues = 2,
			       .endpoints = ep, .n_endpoints = 1, .cache_hits = 1, .cache_lookups = 4,
			       .refresh = 10, .rows = rows, .n_rows = 1 };
	struct buf b;
	buf_init(&b);
	page_render_html(&v, &b);
	buf_append_char(&b, 0);
	const char *h = b.data;
	CHECK(!b.failed);
	CHECK(!strncmp(h, "<!DOCTYPE html>", 15));
	CHECK(strstr(h, "content=\"" PAGE_CSP "\"") != NULL);
	CHECK(strstr(PAGE_CSP, "default-src 'none'") && !strstr(PAGE_CSP, "script-src"));
	CHECK(strstr(h, "<meta http-equiv=\"refresh\" content=\"10\">") != NULL);
	CHECK(!strstr(h, "<script"));                  /* the hostile URL stays text */
	CHECK(strstr(h, "&quot;&gt;&lt;script&gt;") != NULL);
	CHECK(strstr(h, "celery@h&lt;1&gt;") != NULL);
	CHECK(strstr(h, "&lt;q&gt;") != NULL);
	CHECK(strstr(h, "g.png?a=1&amp;b=&#39;2&#39;") != NULL);
	CHECK(strstr(h, "<img loading=\"lazy\"") != NULL);
	CHECK(strstr(h, "src=\"http://127.0.0.1:8/g.png?a=1&amp;b=&#39;2&#39;\"") != NULL);
	CHECK(strstr(h, "data URI, 26 bytes") != NULL);
	CHECK(!strstr(h, "AAAA"));                     /* never the payload */
	CHECK(strstr(h, "25.0% (1 of 4)") != NULL);
	CHECK(strstr(h, "1 / 4") != NULL);
	CHECK(strstr(h, ">backup<") != NULL);
	CHECK(strstr(h, "1.250 s") != NULL);
	CHECK(strstr(h, "$0.0800") != NULL);
	CHECK(strstr(h, "primary: transient") != NULL && strstr(h, "HTTP 500") != NULL);
	CHECK(strstr(h, "class=\"open\"") != NULL);
	CHECK(strstr(h, "2026-") != NULL);
	CHECK(!strstr(h, "http-equiv=\"refresh\" content=\"0"));
	/* Two <img> per row (person, garment): the data URI gets none. */
	int imgs = 0;
	for (const char *p = h; (p = strstr(p, "<img ")); p++)
		imgs++;
	CHECK(imgs == 2);
	buf_free(&b);

	/* No rows, no refresh, no cache lookups. */
	v.n_rows = 0;
	v.refresh = 0;
	v.cache_lookups = 0;
	buf_init(&b);
	page_render_html(&v, &b);
	buf_append_char(&b, 0);
	CHECK(strstr(b.data, "None yet.") && !strstr(b.data, "refresh") && strstr(b.data, "no lookups yet"));
	buf_free(&b);
}

static void test_json(void)
{
	struct page_tryon t[2];
	const struct page_tryon *rows[2] = { &t[0], &t[1] };
	fill(&t[0], "https://img.test/p.png?x=\"><script>");
	fill(&t[1], "https://img.test/q.png");
	t[1].latency = -1;
	t[1].n_calls = 0;
	struct buf b;
	buf_init(&b);
	page_render_json(rows, 2, &b);
	struct json_doc d;
	CHECK(json_parse(&d, b.data, b.len, 0, NULL, 0) == 0);
	int arr = json_obj_get(&d, 0, "tryons");
	CHECK(json_kind(&d, arr) == JSON_K_ARRAY && d.toks[arr].size == 2);
	int r0 = json_arr_get(&d, arr, 0);
	CHECK(json_tok_streq(&d, json_obj_get(&d, r0, "person"), "https://img.test/p.png?x=\"><script>"));
	CHECK(json_tok_streq(&d, json_obj_get(&d, r0, "path"), "backup"));
	CHECK(json_kind(&d, json_obj_get(&d, r0, "result")) == JSON_K_STRING);
	CHECK(json_tok_streq(&d, json_obj_get(&d, r0, "result"), ""));
	CHECK(json_kind(&d, json_obj_get(&d, r0, "result_data_uri")) == JSON_K_TRUE);
	int calls = json_obj_get(&d, r0, "calls");
	CHECK(json_kind(&d, calls) == JSON_K_ARRAY && d.toks[calls].size == 2);
	int r1 = json_arr_get(&d, arr, 1);
	CHECK(json_kind(&d, json_obj_get(&d, r1, "latency")) == JSON_K_NULL);
	json_doc_free(&d);
	buf_free(&b);

	buf_init(&b);
	page_render_json(rows, 0, &b);
	buf_append_char(&b, 0);
	CHECK(!strcmp(b.data, "{\"tryons\": []}\n"));
	buf_free(&b);
}

int main(void)
{
	RUN(test_escape);
	RUN(test_url_set);
	RUN(test_html);
	RUN(test_json);
	return harness_report();
}
