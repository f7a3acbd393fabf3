/* fal_parse: the model API's JSON answers (see fal_parse.h). Everything the
 * queue server says is parsed here and only here, so one fuzzer covers it;
 * the checks on what the values may be used for stay with the callers. */
#include "tryon/fal_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"

/* The string member key of object token obj as a fresh non-empty string,
 * or NULL. */
static char *member_str(const struct json_doc *d, int obj, const char *key)
{
	char *s = NULL;
	int t = json_obj_get(d, obj, key);
	if (json_kind(d, t) != JSON_K_STRING || json_tok_strdup(d, t, &s, NULL, NULL, 0) < 0)
		return NULL;
	if (!s || !*s) {
		free(s);
		return NULL;
	}
	return s;
}

/* queue_position of object 0 when it is an integer in 0..999999999, else -1. */
static int queue_position(const struct json_doc *d)
{
	int64_t qp;
	int qt = json_obj_get(d, 0, "queue_position");
	if (qt >= 0 && json_tok_int64(d, qt, &qp, NULL, 0) == 0 && qp >= 0 && qp < 1000000000)
		return (int)qp;
	return -1;
}

void fal_submit_answer_free(struct fal_submit_answer *a)
{
	if (!a)
		return;
	free(a->request_id);
	free(a->status_url);
	free(a->response_url);
	free(a->cancel_url);
	memset(a, 0, sizeof *a);
	a->queue_position = -1;
}

int fal_parse_submit(const char *body, size_t len, struct fal_submit_answer *out)
{
	struct json_doc d;

	memset(out, 0, sizeof *out);
	out->queue_position = -1;
	if (json_parse(&d, body ? body : "", body ? len : 0, FAL_PARSE_SMALL_TOKENS, NULL, 0) < 0)
		return -1;
	if (json_kind(&d, 0) != JSON_K_OBJECT || !(out->request_id = member_str(&d, 0, "request_id"))) {
		json_doc_free(&d);
		return -1;
	}
	out->status_url = member_str(&d, 0, "status_url");
	out->response_url = member_str(&d, 0, "response_url");
	out->cancel_url = member_str(&d, 0, "cancel_url");
	out->queue_position = queue_position(&d);
	json_doc_free(&d);
	return 0;
}

int fal_parse_status(const char *body, size_t len, enum fal_status_kind *kind, int *qpos)
{
	struct json_doc d;

	*kind = FAL_STATUS_UNKNOWN;
	if (json_parse(&d, body ? body : "", body ? len : 0, FAL_PARSE_SMALL_TOKENS, NULL, 0) < 0)
		return -1;
	if (json_kind(&d, 0) == JSON_K_OBJECT) {
		int st = json_obj_get(&d, 0, "status");
		if (json_tok_streq(&d, st, "IN_QUEUE")) {
			int qp = queue_position(&d);
			*kind = FAL_STATUS_IN_QUEUE;
			if (qp >= 0)
				*qpos = qp;
		} else if (json_tok_streq(&d, st, "IN_PROGRESS")) {
			*kind = FAL_STATUS_IN_PROGRESS;
		} else if (json_tok_streq(&d, st, "COMPLETED")) {
			*kind = FAL_STATUS_COMPLETED;
		}
	}
	json_doc_free(&d);
	return 0;
}

int fal_parse_result(const char *body, size_t len, char **url, size_t *ulen)
{
	struct json_doc d;
	int images, first, u, rc = -2;

	*url = NULL;
	*ulen = 0;
	if (json_parse(&d, body ? body : "", body ? len : 0, FAL_PARSE_RESULT_TOKENS, NULL, 0) < 0)
		return -1;
	images = json_kind(&d, 0) == JSON_K_OBJECT ? json_obj_get(&d, 0, "images") : -1;
	first = json_kind(&d, images) == JSON_K_ARRAY ? json_arr_get(&d, images, 0) : -1;
	u = json_kind(&d, first) == JSON_K_OBJECT ? json_obj_get(&d, first, "url") : -1;
	if (json_kind(&d, u) == JSON_K_STRING && json_tok_strdup(&d, u, url, ulen, NULL, 0) == 0) {
		if (*url && **url) {
			rc = 0;
		} else {
			free(*url);
			*url = NULL;
			*ulen = 0;
		}
	}
	json_doc_free(&d);
	return rc;
}

void fal_parse_error_detail(const char *body, size_t len, char *out, size_t outlen)
{
	struct json_doc d;
	char *msg = NULL, *type = NULL;

	if (!outlen)
		return;
	out[0] = '\0';
	if (!body || !len || json_parse(&d, body, len, FAL_PARSE_SMALL_TOKENS, NULL, 0) < 0)
		return;
	if (json_kind(&d, 0) == JSON_K_OBJECT) {
		int det = json_obj_get(&d, 0, "detail");
		if (json_kind(&d, det) == JSON_K_STRING) {
			json_tok_strdup(&d, det, &msg, NULL, NULL, 0);
		} else if (json_kind(&d, det) == JSON_K_ARRAY) {
			int first = json_arr_get(&d, det, 0);
			if (json_kind(&d, first) == JSON_K_OBJECT) {
				int m = json_obj_get(&d, first, "msg");
				if (json_kind(&d, m) == JSON_K_STRING)
					json_tok_strdup(&d, m, &msg, NULL, NULL, 0);
				int t = json_obj_get(&d, first, "type");
				if (json_kind(&d, t) == JSON_K_STRING)
					json_tok_strdup(&d, t, &type, NULL, NULL, 0);
			}
		} else {
			int st = json_obj_get(&d, 0, "status");
			if (json_kind(&d, st) == JSON_K_STRING)
				json_tok_strdup(&d, st, &msg, NULL, NULL, 0);
		}
		int et = json_obj_get(&d, 0, "error_type");
		if (!type && json_kind(&d, et) == JSON_K_STRING)
			json_tok_strdup(&d, et, &type, NULL, NULL, 0);
	}
	if (msg && type)
		snprintf(out, outlen, ": %.150s [%.40s]", msg, type);
	else if (msg)
		snprintf(out, outlen, ": %.150s", msg);
	else if (type)
		snprintf(out, outlen, " [%.40s]", type);
	free(msg);
	free(type);
	json_doc_free(&d);
}

/* The end of the line starting at p[i]: *eol is where it ends, *next where
 * the next one starts; 0 when its end is not in the buffer yet (a CR at
 * the very end may still be followed by its LF). */
static int sse_line(const char *p, size_t len, size_t i, size_t *eol, size_t *next)
{
	for (size_t k = i; k < len; k++) {
		if (p[k] == '\n') {
			*eol = k;
			*next = k + 1;
			return 1;
		}
		if (p[k] == '\r') {
			if (k + 1 == len)
				return 0;
			*eol = k;
			*next = k + 1 + (p[k + 1] == '\n');
			return 1;
		}
	}
	return 0;
}

int fal_sse_next(const char *p, size_t len, size_t *used, char *out, size_t outlen, size_t *outn)
{
	size_t i = 0, n = 0, eol, next;
	int lines = 0;

	*used = 0;
	*outn = 0;
	out[0] = '\0';
	if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
		i = 3;
	while (sse_line(p, len, i, &eol, &next)) {
		if (eol == i) {              /* blank line: the event is complete */
			*used = next;
			*outn = n;
			out[n] = '\0';
			return 1;
		}
		size_t flen = eol - i;
		if (flen >= 4 && !memcmp(p + i, "data", 4) && (flen == 4 || p[i + 4] == ':')) {
			size_t v = i + 4 + (flen > 4);
			if (v < eol && p[v] == ' ')
				v++;
			size_t add = (eol - v) + (lines > 0);
			if (n + add + 1 > outlen)
				return -1;
			if (lines > 0)
				out[n++] = '\n';
			memcpy(out + n, p + v, eol - v);
			n += eol - v;
			lines++;
		}
		i = next;
	}
	return 0;
}
