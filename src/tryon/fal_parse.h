/* fal_parse: the model API's JSON answers (submit, status, result and error
 * bodies) and its status stream's server-sent events turned into plain
 * values. Pure: no I/O, no clock, no logging; it
 * does not decide which URLs may receive the key (fal.c does) nor whether a
 * result URL is acceptable (cachekey_validate_result does). Every result is
 * a fresh copy; nothing points into the body, which may be any bytes. */
#ifndef TRYON_FAL_PARSE_H
#define TRYON_FAL_PARSE_H
#include <stddef.h>

/* Token limits: a submit/status answer is a handful of members; a result
 * may carry more (timings, seeds, several images). */
#define FAL_PARSE_SMALL_TOKENS 4096
#define FAL_PARSE_RESULT_TOKENS (1 << 16)

struct fal_submit_answer {
	char *request_id;     /* non-empty */
	char *status_url;     /* NULL when absent, empty or not a string */
	char *response_url;
	char *cancel_url;
	int queue_position;   /* 0..999999999, or -1 when absent or invalid */
};

/* A submit answer: a JSON object with a non-empty string request_id.
 * 0 and out filled (free with fal_submit_answer_free), or -1 and out
 * zeroed (not JSON, not an object, no request_id, out of memory). */
int fal_parse_submit(const char *body, size_t len, struct fal_submit_answer *out);
/* Accepts a zeroed answer. */
void fal_submit_answer_free(struct fal_submit_answer *a);

enum fal_status_kind {
	FAL_STATUS_UNKNOWN = 0,   /* JSON, but no status fal documents */
	FAL_STATUS_IN_QUEUE,
	FAL_STATUS_IN_PROGRESS,
	FAL_STATUS_COMPLETED
};

/* A status answer {"status": "...", "queue_position": n}. *queue_position
 * is set only for IN_QUEUE with a valid position (else left as is).
 * 0, or -1 when body is not JSON (*kind then UNKNOWN). */
int fal_parse_status(const char *body, size_t len, enum fal_status_kind *kind, int *queue_position);

/* A result answer's images[0].url as a fresh NUL-terminated string (*url,
 * length *ulen; it may hold a NUL before ulen: the caller validates).
 * 0; -1 not JSON; -2 no string images[0].url (or out of memory). */
int fal_parse_result(const char *body, size_t len, char **url, size_t *ulen);

/* A short reason from an error body: fal's {"detail": "..."} or
 * {"detail": [{"msg": ..., "type": ...}]} or {"status": ...}, plus
 * error_type, as ": msg [type]"; else "" (never raw HTML). out is always
 * NUL-terminated when outlen > 0. */
void fal_parse_error_detail(const char *body, size_t len, char *out, size_t outlen);

/* Server-sent events (the status stream, GET {status_url}/stream): the
 * longest data an event may carry (a status without logs is ~300 bytes). */
#define FAL_SSE_DATA_MAX (4u << 10)

/* The first complete event in p[0..len): an event ends at a blank line;
 * lines end with CRLF, LF or CR. Its data lines ("data:" with one optional
 * space after the colon) are joined with '\n' into out[0..*outn),
 * NUL-terminated; comments (":..."), other fields and a leading byte order
 * mark are skipped. Returns 1 with *used (bytes through the blank line) and
 * *outn (0 for an event without data: skip it), 0 when no event is complete
 * yet (nothing used), -1 when its data does not fit outlen - 1 (the stream
 * is unusable). outlen must be at least 1. */
int fal_sse_next(const char *p, size_t len, size_t *used, char *out, size_t outlen, size_t *outn);
#endif
