/* recent: the last PAGE_ROWS try-ons this worker ended, for the operator
 * page (GET /, GET /tryons.json). A fixed ring allocated once: memory never
 * grows with traffic. A row is built when a try-on ends, from its message
 * (arguments decoded by tryon_args, the one decoder) and the child's record
 * "extra"; it keeps no data: URI payload, no URL past PAGE_URL_MAX and no
 * secret. Owns only the ring; reads nothing of the worker. */
#ifndef TRYON_WORKER_RECENT_H
#define TRYON_WORKER_RECENT_H
#include <stddef.h>

#include "celery/celery_msg.h"
#include "tryon/tryon_args.h"
#include "ops/page.h"

struct recent {
	struct page_tryon *rows;   /* PAGE_ROWS entries, owned; NULL: the page shows none */
	int next, n;
};

/* How one try-on ended. Every pointer is borrowed and may be NULL. */
struct recent_end {
	const struct celery_envelope *env;
	const struct tryon_args *args; /* already decoded (the cache-hit path), or NULL: decode env's body */
	size_t max_data_uri_bytes;     /* TRYON_MAX_DATA_URI_BYTES, as the job decodes */
	double at;                     /* wall clock */
	const char *outcome;           /* the outcome row's name ("success", ...) */
	const char *path;              /* when no extra says it ("cache", "invalid") */
	double runtime;                /* s; < 0 unknown */
	const char *result_json;       /* the stored result, JSON (a URL string on success) */
	size_t result_len;
	const char *result_url;        /* or the URL itself, not JSON (the cache-hit path: no re-parse) */
	size_t result_url_len;
	const char *extra_json;        /* the child's record "extra" */
	size_t extra_len;
	const char *exc_type;          /* failure: the exception type ... */
	const char *exc_args_json;     /* ... and its args, a JSON array */
	size_t exc_args_len;
	const char *reason;            /* or a plain reason */
};

/* Allocate the ring. -1 when out of memory (the worker goes on; the page
 * shows no rows). */
int recent_init(struct recent *r);
/* Free the ring; accepts a zeroed or freed struct. */
void recent_free(struct recent *r);

/* Add a row for e, overwriting the oldest when full. Never fails: what
 * cannot be decoded is left empty. */
void recent_note(struct recent *r, const struct recent_end *e);

/* Row i (0 = newest) or NULL; valid until the next recent_note. */
const struct page_tryon *recent_row(const struct recent *r, int i);
#endif
