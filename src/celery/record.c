/* record: building and parsing the child's result record. */
#include "celery/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int record_success(struct buf *out, const char *result_json, size_t len)
{
	buf_append_str(out, "{\"status\": \"SUCCESS\", \"result\": ");
	buf_append(out, result_json, len);
	return buf_append_str(out, "}");
}

/* Python's last traceback line: "module.Type: message", builtins bare. */
static void final_line(struct buf *tb, const char *exc_type, const char *exc_module, const char *message)
{
	if (exc_module && *exc_module && strcmp(exc_module, "builtins"))
		buf_printf(tb, "%s.", exc_module);
	buf_printf(tb, "%s%s%s\n", exc_type, message ? ": " : "", message ? message : "");
}

int record_failure_tb(struct buf *out, const char *exc_type, const char *exc_module,
		      const char *message, int retryable, const char *frames)
{
	struct buf tb;

	buf_init(&tb);
	buf_append_str(out, "{\"status\": \"FAILURE\", \"exc_type\": ");
	json_write_cstr(out, exc_type);
	buf_append_str(out, ", \"exc_module\": ");
	json_write_cstr(out, exc_module);
	buf_append_str(out, ", \"exc_message\": [");
	if (message)
		json_write_cstr(out, message);
	buf_append_str(out, "], \"traceback\": ");
	/* The shape Python's traceback printers and Celery monitors expect:
	 * the frames are the steps of this worker that led to the error. */
	buf_append_str(&tb, "Traceback (most recent call last):\n");
	buf_append_str(&tb, frames && *frames ? frames : "  File \"tryon-worker\", line 1, in job\n");
	final_line(&tb, exc_type, exc_module, message);
	json_write_str(out, tb.data ? tb.data : "", tb.len, JSON_W_ASCII);
	buf_free(&tb);
	buf_append_str(out, retryable ? ", \"retry\": true}" : ", \"retry\": false}");
	return out->failed ? -1 : 0;
}

int record_failure(struct buf *out, const char *exc_type, const char *exc_module,
		   const char *message, int retryable)
{
	return record_failure_tb(out, exc_type, exc_module, message, retryable, NULL);
}

int record_parse(struct record *r, const char *text, size_t len, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	r->result_tok = r->exc_message_tok = r->extra_tok = -1;
	r->text = text;
	if (json_parse(&r->doc, text, len, 1 << 16, err, errlen) < 0)
		return -1;
	if (json_kind(&r->doc, 0) != JSON_K_OBJECT) {
		snprintf(err, errlen, "record is not an object");
		return -1;
	}
	int st = json_obj_get(&r->doc, 0, "status");
	r->extra_tok = json_obj_get(&r->doc, 0, "extra");
	if (st >= 0 && json_tok_streq(&r->doc, st, "SUCCESS")) {
		r->ok = 1;
		r->result_tok = json_obj_get(&r->doc, 0, "result");
		if (r->result_tok < 0) {
			snprintf(err, errlen, "record without result");
			return -1;
		}
		return 0;
	}
	if (st < 0 || !json_tok_streq(&r->doc, st, "FAILURE")) {
		snprintf(err, errlen, "record with unknown status");
		return -1;
	}
	int t = json_obj_get(&r->doc, 0, "exc_type");
	int m = json_obj_get(&r->doc, 0, "exc_module");
	r->exc_message_tok = json_obj_get(&r->doc, 0, "exc_message");
	if (t < 0 || m < 0 || r->exc_message_tok < 0 ||
	    json_kind(&r->doc, r->exc_message_tok) != JSON_K_ARRAY ||
	    json_tok_strdup(&r->doc, t, &r->exc_type, NULL, err, errlen) < 0 ||
	    json_tok_strdup(&r->doc, m, &r->exc_module, NULL, err, errlen) < 0) {
		if (!err[0])
			snprintf(err, errlen, "failure record incomplete");
		return -1;
	}
	int tb = json_obj_get(&r->doc, 0, "traceback");
	if (tb >= 0 && json_kind(&r->doc, tb) == JSON_K_STRING)
		json_tok_strdup(&r->doc, tb, &r->traceback, NULL, err, errlen);
	int rt = json_obj_get(&r->doc, 0, "retry");
	if (rt >= 0)
		json_tok_bool(&r->doc, rt, &r->retryable);
	return 0;
}

void record_free(struct record *r)
{
	if (!r)
		return;
	json_doc_free(&r->doc);
	free(r->exc_type);
	free(r->exc_module);
	free(r->traceback);
	memset(r, 0, sizeof *r);
	r->result_tok = r->exc_message_tok = r->extra_tok = -1;
}

void record_raw(const struct record *r, int tok, const char **p, size_t *n)
{
	size_t s, e;
	json_tok_span(&r->doc, tok, &s, &e);
	*p = r->text + s;
	*n = e - s;
}
