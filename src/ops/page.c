/* page: the operator page and /tryons.json, from a snapshot (page.h). */
#include "ops/page.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/isotime.h"
#include "lib/json.h"

void page_escape(struct buf *out, const char *s, size_t n)
{
	size_t run = 0;   /* bytes since the last one that needed an entity */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *ent = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" :
				  c == '"' ? "&quot;" : c == '\'' ? "&#39;" :
				  (c < 0x20 || c == 0x7f) ? "&#xFFFD;" : NULL;
		if (!ent)
			continue;
		buf_append(out, s + run, i - run);
		buf_append_str(out, ent);
		run = i + 1;
	}
	buf_append(out, s + run, n - run);
}

static void esc(struct buf *out, const char *s)
{
	if (s)
		page_escape(out, s, strlen(s));
}

void page_url_set(struct page_url *u, const char *s, size_t n)
{
	/* Fields one by one, not a memset: the row is rewritten on every
	 * try-on (every cache hit), and text is 2 KB of which one NUL counts. */
	u->text[0] = 0;
	u->len = 0;
	u->data_uri = 0;
	u->cut = 0;
	if (!s)
		return;
	u->len = n;
	if (n >= 5 && !strncasecmp(s, "data:", 5)) {
		u->data_uri = 1;   /* its payload may be megabytes of someone's photo */
		return;
	}
	if (n > PAGE_URL_MAX) {
		n = PAGE_URL_MAX;
		u->cut = 1;
	}
	memcpy(u->text, s, n);
	u->text[n] = 0;
}

/* Only a whole http(s) URL becomes an <img>: a cut one points elsewhere. */
static int loadable(const struct page_url *u)
{
	return !u->data_uri && !u->cut &&
	       (!strncasecmp(u->text, "https://", 8) || !strncasecmp(u->text, "http://", 7));
}

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1em;color:#222;background:#fafafa}"
	"h1{font-size:1.3em;margin:0 0 .5em}h2{font-size:1.1em;margin:1.2em 0 .4em}"
	"table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ccc;padding:4px 6px;"
	"vertical-align:top;text-align:left}th{background:#eee}"
	".num{text-align:right;font-variant-numeric:tabular-nums}"
	".top{display:flex;flex-wrap:wrap;gap:0 2.5em;align-items:flex-start}"
	"td.thumbs{white-space:nowrap}.when{white-space:nowrap}"
	".thumb{display:inline-block;width:130px;margin-right:6px;white-space:normal;vertical-align:top}"
	".thumb img{width:120px;height:120px;object-fit:cover;background:#ddd;display:block}"
	".url{font:11px monospace;word-break:break-all;max-height:4.5em;overflow:hidden}"
	".ok{color:#070}.bad{color:#b00}.open{color:#b00;font-weight:bold}.half_open{color:#a60}"
	".kv td:first-child{font-weight:bold}";

static void kv(struct buf *out, const char *k, const char *v)
{
	buf_printf(out, "<tr><td>%s</td><td>", k);
	esc(out, v);
	buf_append_str(out, "</td></tr>\n");
}

static void thumb(struct buf *out, const char *label, const struct page_url *u)
{
	buf_printf(out, "<div class=\"thumb\"><div>%s</div>", label);
	if (loadable(u)) {
		buf_append_str(out, "<a href=\"");
		esc(out, u->text);
		buf_append_str(out, "\"><img loading=\"lazy\" referrerpolicy=\"no-referrer\" alt=\"");
		buf_append_str(out, label);
		buf_append_str(out, "\" src=\"");
		esc(out, u->text);
		buf_append_str(out, "\"></a>");
	}
	buf_append_str(out, "<div class=\"url\">");
	if (u->data_uri)
		buf_printf(out, "data URI, %zu bytes", u->len);
	else if (!u->len)
		buf_append_str(out, "&mdash;");
	else
		esc(out, u->text);
	if (u->cut)
		buf_printf(out, "&hellip; (%zu bytes)", u->len);
	buf_append_str(out, "</div></div>");
}

static void row_html(struct buf *out, const struct page_tryon *t)
{
	char when[ISOTIME_BUFSZ];
	if (isotime_format_naive(t->at, when, sizeof when) < 19) {
		snprintf(when, sizeof when, "?");
	} else {
		when[10] = ' ';
		when[19] = 0;   /* to the second */
	}
	int good = !strcmp(t->outcome, "success") || !strcmp(t->outcome, "cache_hit");
	buf_append_str(out, "<tr><td class=\"thumbs\">");
	thumb(out, "person", &t->person);
	thumb(out, "garment", &t->garment);
	thumb(out, "result", &t->result);
	buf_append_str(out, "</td><td><span class=\"when\">");
	esc(out, when);
	buf_append_str(out, "</span><br><span class=\"url\">");
	esc(out, t->id);
	buf_append_str(out, "</span></td><td>");
	esc(out, t->path[0] ? t->path : "?");
	buf_printf(out, "</td><td class=\"num\">");
	if (t->latency >= 0)
		buf_printf(out, "%.3f s", t->latency);
	buf_printf(out, "</td><td class=\"num\">$%.4f</td><td><span class=\"%s\">", t->cost, good ? "ok" : "bad");
	esc(out, t->outcome);
	buf_append_str(out, "</span>");
	if (t->detail[0]) {
		buf_append_str(out, "<br>");
		esc(out, t->detail);
	}
	for (int i = 0; i < t->n_calls && i < 2; i++) {
		const struct page_call *c = &t->calls[i];
		buf_append_str(out, "<br><small>");
		esc(out, c->model);
		buf_append_str(out, ": ");
		esc(out, c->outcome);
		buf_printf(out, ", %.3f s, $%.4f", c->latency, c->cost);
		if (c->status)
			buf_printf(out, ", HTTP %ld", c->status);
		buf_append_str(out, "</small>");
	}
	buf_append_str(out, "</td></tr>\n");
}

void page_render_html(const struct page_view *v, struct buf *out)
{
	char s[64];

	buf_append_str(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		       "<meta http-equiv=\"Content-Security-Policy\" content=\"" PAGE_CSP "\">\n"
		       "<meta name=\"referrer\" content=\"no-referrer\">\n");
	if (v->refresh > 0)
		buf_printf(out, "<meta http-equiv=\"refresh\" content=\"%d\">\n", v->refresh);
	buf_append_str(out, "<title>tryon-worker ");
	esc(out, v->node);
	buf_printf(out, "</title>\n<style>%s</style></head><body>\n<h1>tryon-worker ", style);
	esc(out, v->node);
	buf_append_str(out, "</h1>\n<div class=\"top\"><div><h2>Worker</h2>\n<table class=\"kv\">\n");
	kv(out, "node", v->node);
	kv(out, "version", v->version);
	kv(out, "state", v->readiness);
	snprintf(s, sizeof s, "%.0f s", v->uptime);
	kv(out, "uptime", s);
	snprintf(s, sizeof s, "%d / %d", v->busy, v->slots);
	kv(out, "slots busy / total", s);
	if (v->cache_lookups)
		snprintf(s, sizeof s, "%.1f%% (%lu of %lu)", 100.0 * (double)v->cache_hits / (double)v->cache_lookups,
			 v->cache_hits, v->cache_lookups);
	else
		snprintf(s, sizeof s, "no lookups yet");
	kv(out, "cache hit ratio", s);
	if (v->cluster_sampled) {
		snprintf(s, sizeof s, "$%.4f", v->spend_today);
		kv(out, "spend today (all workers)", s);
	}
	buf_append_str(out, "</table></div>\n<div><h2>Queues</h2>\n<table><tr><th>queue</th><th>waiting</th></tr>\n");
	for (int q = 0; q < v->n_queues; q++) {
		buf_append_str(out, "<tr><td>");
		esc(out, v->queues[q].name);
		if (v->queues[q].depth >= 0)
			buf_printf(out, "</td><td class=\"num\">%ld</td></tr>\n", v->queues[q].depth);
		else
			buf_append_str(out, "</td><td class=\"num\">?</td></tr>\n");
	}
	buf_append_str(out, "</table></div>\n<div><h2>Model endpoints</h2>\n<table><tr><th>role</th><th>endpoint</th>"
		       "<th>breaker</th><th>paid calls</th><th>spend by this worker</th></tr>\n");
	for (int e = 0; e < v->n_endpoints; e++) {
		const struct page_endpoint *ep = &v->endpoints[e];
		buf_append_str(out, "<tr><td>");
		esc(out, ep->role);
		buf_append_str(out, "</td><td>");
		esc(out, ep->endpoint);
		buf_append_str(out, "</td><td><span class=\"");
		esc(out, ep->breaker);
		buf_append_str(out, "\">");
		esc(out, ep->breaker);
		buf_printf(out, "</span></td><td class=\"num\">%lu</td><td class=\"num\">$%.4f</td></tr>\n",
			   ep->paid_calls, ep->spend);
	}
	buf_printf(out, "</table></div></div>\n<h2>Last %d try-ons</h2>\n", v->n_rows);
	if (!v->n_rows) {
		buf_append_str(out, "<p>None yet.</p>\n");
	} else {
		buf_append_str(out, "<table><tr><th>person, garment, result</th><th>ended (UTC), task id</th>"
			       "<th>path</th><th>latency</th><th>cost</th><th>outcome</th></tr>\n");
		for (int i = 0; i < v->n_rows; i++)
			row_html(out, v->rows[i]);
		buf_append_str(out, "</table>\n");
	}
	buf_append_str(out, "<p><small>Also: <a href=\"/tryons.json\">/tryons.json</a>, "
		       "<a href=\"/health\">/health</a>, <a href=\"/metrics\">/metrics</a></small></p>\n"
		       "</body></html>\n");
}

static void url_json(struct buf *out, const char *key, const struct page_url *u)
{
	json_write_key(out, key);
	if (!u->len && !u->data_uri)
		buf_append_str(out, "null");
	else
		json_write_cstr(out, u->text);
	buf_printf(out, ", \"%s_bytes\": %zu, \"%s_data_uri\": %s, \"%s_cut\": %s", key, u->len, key,
		   u->data_uri ? "true" : "false", key, u->cut ? "true" : "false");
}

void page_render_json(const struct page_tryon *const *rows, int n, struct buf *out)
{
	buf_append_str(out, "{\"tryons\": [");
	for (int i = 0; i < n; i++) {
		const struct page_tryon *t = rows[i];
		buf_append_str(out, i ? ", {" : "{");
		json_write_key(out, "ended_at");
		json_write_double(out, t->at);
		buf_append_str(out, ", ");
		json_write_key(out, "id");
		json_write_cstr(out, t->id);
		buf_append_str(out, ", ");
		url_json(out, "person", &t->person);
		buf_append_str(out, ", ");
		url_json(out, "garment", &t->garment);
		buf_append_str(out, ", ");
		url_json(out, "result", &t->result);
		buf_append_str(out, ", ");
		json_write_key(out, "path");
		json_write_cstr(out, t->path);
		buf_append_str(out, ", ");
		json_write_key(out, "outcome");
		json_write_cstr(out, t->outcome);
		buf_append_str(out, ", ");
		json_write_key(out, "detail");
		json_write_cstr(out, t->detail);
		buf_append_str(out, ", ");
		json_write_key(out, "latency");
		if (t->latency >= 0)
			buf_printf(out, "%.3f", t->latency);
		else
			buf_append_str(out, "null");
		buf_printf(out, ", \"cost\": %.4f, \"calls\": [", t->cost);
		for (int c = 0; c < t->n_calls && c < 2; c++) {
			const struct page_call *pc = &t->calls[c];
			buf_append_str(out, c ? ", {" : "{");
			json_write_key(out, "model");
			json_write_cstr(out, pc->model);
			buf_append_str(out, ", ");
			json_write_key(out, "outcome");
			json_write_cstr(out, pc->outcome);
			buf_printf(out, ", \"latency\": %.3f, \"cost\": %.4f, \"status\": %ld}", pc->latency,
				   pc->cost, pc->status);
		}
		buf_append_str(out, "]}");
	}
	buf_append_str(out, "]}\n");
}
