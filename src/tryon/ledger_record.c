/* ledger_record: a paid model request as the ledger keeps it in the cache
 * Redis (tryon:req:<hex>), as JSON and back. Pure: no I/O; the parser takes
 * bytes from Redis as untrusted input (fuzzed). */
#include "tryon/ledger_record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/json.h"

int ledger_request_format(const struct ledger_request *r, char *out, size_t n)
{
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "{\"model\": ");
	json_write_cstr(&b, r->model);
	buf_append_str(&b, ", \"endpoint\": ");
	json_write_cstr(&b, r->endpoint);
	buf_append_str(&b, ", \"request_id\": ");
	json_write_cstr(&b, r->request_id);
	buf_append_str(&b, ", \"status_url\": ");
	json_write_cstr(&b, r->status_url);
	buf_append_str(&b, ", \"response_url\": ");
	json_write_cstr(&b, r->response_url);
	buf_append_str(&b, ", \"cancel_url\": ");
	json_write_cstr(&b, r->cancel_url);
	buf_printf(&b, ", \"submitted\": %.6f, \"hedge\": %s, \"task_id\": ", r->submitted,
		   r->hedge ? "true" : "false");
	json_write_cstr(&b, r->task_id);
	buf_append_char(&b, '}');
	int rc = -1;
	if (!b.failed && b.len < n) {
		memcpy(out, b.data, b.len + 1);
		rc = 0;
	}
	buf_free(&b);
	return rc;
}

static int copy_str(const struct json_doc *d, int obj, const char *key, char *out, size_t n, int required)
{
	int t = json_obj_get(d, obj, key);
	char *s = NULL;
	size_t len = 0;
	if (t < 0 || json_kind(d, t) != JSON_K_STRING) {
		out[0] = '\0';
		return required ? -1 : 0;
	}
	if (json_tok_strdup(d, t, &s, &len, NULL, 0) != 0 || len >= n || memchr(s, '\0', len)) {
		free(s);
		return -1;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	free(s);
	return 0;
}

int ledger_request_parse(const char *s, size_t len, struct ledger_request *r, char *err, size_t errlen)
{
	struct json_doc d;
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (json_parse(&d, s, len, 256, err, errlen) < 0)
		return -1;
	if (json_kind(&d, 0) != JSON_K_OBJECT ||
	    copy_str(&d, 0, "model", r->model, sizeof r->model, 1) < 0 ||
	    copy_str(&d, 0, "endpoint", r->endpoint, sizeof r->endpoint, 1) < 0 ||
	    copy_str(&d, 0, "request_id", r->request_id, sizeof r->request_id, 1) < 0 ||
	    copy_str(&d, 0, "status_url", r->status_url, sizeof r->status_url, 0) < 0 ||
	    copy_str(&d, 0, "response_url", r->response_url, sizeof r->response_url, 0) < 0 ||
	    copy_str(&d, 0, "cancel_url", r->cancel_url, sizeof r->cancel_url, 0) < 0 ||
	    copy_str(&d, 0, "task_id", r->task_id, sizeof r->task_id, 0) < 0) {
		snprintf(err, errlen, "request record: missing or bad field");
		goto out;
	}
	if (strcmp(r->model, "primary") && strcmp(r->model, "backup")) {
		snprintf(err, errlen, "request record: unknown model");
		goto out;
	}
	int t = json_obj_get(&d, 0, "submitted");
	if (t < 0 || json_tok_double(&d, t, &r->submitted, NULL, 0) != 0 || !isfinite(r->submitted)) {
		snprintf(err, errlen, "request record: bad submitted time");
		goto out;
	}
	t = json_obj_get(&d, 0, "hedge");
	if (t < 0 || json_tok_bool(&d, t, &r->hedge) != 0)
		r->hedge = 0;
	rc = 0;
out:
	json_doc_free(&d);
	return rc;
}

