/* ledger_record: a paid model request as the ledger records it in the
 * cache Redis, and its JSON form. Pure: no I/O, no allocation kept; the
 * parser treats its input as untrusted (it comes back from Redis). */
#ifndef TRYON_LEDGER_RECORD_H
#define TRYON_LEDGER_RECORD_H
#include <stddef.h>

/* A paid request, as recorded. Strings owned by the caller's buffers. */
struct ledger_request {
	char model[16];            /* "primary" / "backup" */
	char endpoint[256];
	char request_id[128];
	char status_url[1024], response_url[1024], cancel_url[1024];
	double submitted;          /* wall clock, s */
	int hedge;
	char task_id[64];
};
/* The record as one JSON object into out[0..n): 0, or -1 if it does not fit. */
int ledger_request_format(const struct ledger_request *r, char *out, size_t n);
/* Parse s[0..len): 0, or -1 with err (not an object, a field missing, too
 * long or of the wrong type, an unknown model, a non-finite time). */
int ledger_request_parse(const char *s, size_t len, struct ledger_request *r, char *err, size_t errlen);
#endif
