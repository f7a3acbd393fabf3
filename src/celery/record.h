/* record: the one result record a job child writes to the parent over its
 * pipe, and the parent's decoding of it. A record is one JSON object:
 *   {"status": "SUCCESS", "result": <json>}
 *   {"status": "FAILURE", "exc_type": t, "exc_module": m,
 *    "exc_message": [...], "traceback": s, "retry": true|false}
 * plus optional "extra" (an object the job adds for the parent, e.g. model
 * outcomes). Pure: building and parsing over buffers. */
#ifndef TRYON_RECORD_H
#define TRYON_RECORD_H
#include <stddef.h>

#include "lib/buf.h"
#include "lib/json.h"

/* Builders append to out; 0 or -1. result_json must be valid JSON. */
int record_success(struct buf *out, const char *result_json, size_t len);
/* message is one string argument of the exception (may be NULL: no args). */
int record_failure(struct buf *out, const char *exc_type, const char *exc_module,
		   const char *message, int retryable);
/* The same with a traceback whose frames (already formatted, each
 * '  File "...", line N, in name\n    text\n') say what happened; NULL or
 * "" for one generic frame. The last line is Python's "Type: message". */
int record_failure_tb(struct buf *out, const char *exc_type, const char *exc_module,
		      const char *message, int retryable, const char *frames);

struct record {
	struct json_doc doc;      /* owned tokens over the parent's buffer */
	int ok;                   /* 1 SUCCESS, 0 FAILURE */
	const char *text;         /* borrowed record text */
	int result_tok;           /* SUCCESS: token of result */
	char *exc_type;           /* FAILURE: owned */
	char *exc_module;
	int exc_message_tok;      /* raw array token */
	char *traceback;          /* owned, may be NULL */
	int retryable;
	int extra_tok;            /* -1 if absent */
};

/* Parse text[0..len) (which must outlive r). 0 or -1 with err. */
int record_parse(struct record *r, const char *text, size_t len, char *err, size_t errlen);
void record_free(struct record *r);
/* Raw JSON of token tok inside the record text. */
void record_raw(const struct record *r, int tok, const char **p, size_t *n);
#endif
