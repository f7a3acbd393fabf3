/* page: the operator page (GET /) and its try-on rows as JSON (GET
 * /tryons.json), rendered from a snapshot the caller fills. Pure: struct in,
 * text out; no I/O, no clock, no worker state, nothing fetched by the page
 * but the thumbnails (PAGE_CSP). Every value that came from outside (node,
 * queue and endpoint names, URLs, errors) is escaped on the way out; the
 * page must never carry a secret, so the snapshot has no field for one. */
#ifndef TRYON_PAGE_H
#define TRYON_PAGE_H
#include <stddef.h>

#include "lib/buf.h"

/* Inline styles, thumbnails from http(s) only: no script can run even if an
 * escape were missed. */
#define PAGE_CSP "default-src 'none'; img-src https: http:; style-src 'unsafe-inline'; " \
		 "base-uri 'none'; form-action 'none'"
#define PAGE_CONTENT_TYPE "text/html; charset=utf-8"
#define PAGE_ROWS 50          /* try-ons a page shows (the ring's size) */
#define PAGE_URL_MAX 2048     /* bytes of a URL kept; longer ones are cut */

/* One URL as kept for the page: never a data: URI's payload. */
struct page_url {
	char text[PAGE_URL_MAX + 1]; /* NUL-terminated; "" for a data: URI or none */
	size_t len;                  /* the URL's full length in bytes */
	int data_uri;                /* a data: URI of len bytes */
	int cut;                     /* longer than PAGE_URL_MAX: text is its head */
};

struct page_call {
	char model[12];              /* "primary", "backup" */
	char outcome[16];            /* "ok", "transient", ... */
	double latency, cost;        /* s, USD */
	long status;                 /* HTTP status, 0 none */
};

/* One ended try-on. Strings are NUL-terminated, "" when unknown. */
struct page_tryon {
	double at;                   /* wall clock when it ended */
	char id[64];                 /* task id */
	struct page_url person, garment, result;
	char path[16];               /* cache, primary, backup, hedge, none, invalid */
	char outcome[24];            /* the worker's outcome row name: success, failure, ... */
	char detail[240];            /* why it failed ("" on success) */
	double latency;              /* s from start to end; < 0 unknown */
	double cost;                 /* USD of accepted model calls */
	int n_calls;
	struct page_call calls[2];
};

struct page_queue {
	const char *name;
	long depth;                  /* messages waiting at the last sample; < 0 unknown */
};

struct page_endpoint {
	const char *role;            /* "primary", "backup" */
	const char *endpoint;
	const char *breaker;         /* "closed", "open", "half_open" */
	double spend;                /* USD this worker spent on it */
	unsigned long paid_calls;
};

/* Everything the page shows, borrowed for the duration of a render. rows
 * is newest first. */
struct page_view {
	const char *node, *version, *readiness;
	double now;                  /* wall clock, for row times */
	double uptime;               /* s */
	int busy, slots;
	const struct page_queue *queues;
	int n_queues;
	const struct page_endpoint *endpoints;
	int n_endpoints;
	int cluster_sampled;         /* spend_today is known */
	double spend_today;          /* USD, all workers, today */
	unsigned long cache_hits, cache_lookups;
	int refresh;                 /* s between reloads; 0: no auto-refresh */
	const struct page_tryon *const *rows;
	int n_rows;
};

/* Append s[0..n) to out with & < > " ' as entities and control bytes as
 * U+FFFD, so it is safe in text and in a double-quoted attribute. */
void page_escape(struct buf *out, const char *s, size_t n);

/* Keep URL s[0..n) in u: a data: URI keeps only its size, a URL longer
 * than PAGE_URL_MAX its head (marked cut). s may be NULL (no URL). */
void page_url_set(struct page_url *u, const char *s, size_t n);

/* The whole page, a complete HTML document (UTF-8), appended to out. */
void page_render_html(const struct page_view *v, struct buf *out);

/* *rows[0..n) as {"tryons": [...]}, appended to out. */
void page_render_json(const struct page_tryon *const *rows, int n, struct buf *out);
#endif
