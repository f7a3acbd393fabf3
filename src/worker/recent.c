/* recent: the ring of the last try-ons for the operator page (recent.h). */
#include "worker/recent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/json.h"
#include "tryon/tryon_args.h"

int recent_init(struct recent *r)
{
	memset(r, 0, sizeof *r);
	r->rows = calloc(PAGE_ROWS, sizeof *r->rows);
	return r->rows ? 0 : -1;
}

void recent_free(struct recent *r)
{
	free(r->rows);
	memset(r, 0, sizeof *r);
}

const struct page_tryon *recent_row(const struct recent *r, int i)
{
	if (!r->rows || i < 0 || i >= r->n)
		return NULL;
	return &r->rows[(r->next - 1 - i + 2 * PAGE_ROWS) % PAGE_ROWS];
}

/* Copy s[0..n) into dst as printable ASCII (anything else becomes '?'):
 * the page and the JSON then need no UTF-8 checks. */
static void copy_text(char *dst, size_t size, const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; s && i < n && k + 1 < size; i++)
		dst[k++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	dst[k] = 0;
}

static void take_args(struct page_tryon *t, const struct recent_end *e)
{
	struct celery_body body;
	struct tryon_args args;
	char err[128], msg[TRYON_ARGS_MSG_SIZE];

	if (e->args) {
		page_url_set(&t->person, e->args->person, e->args->person_len);
		page_url_set(&t->garment, e->args->garment, e->args->garment_len);
		return;
	}
	if (!e->env || !e->env->body)
		return;
	memset(&body, 0, sizeof body);
	if (celery_body_parse(&body, e->env->body, e->env->body_len, e->env->protocol, err, sizeof err) == 0 &&
	    tryon_args_decode(&body, e->max_data_uri_bytes, &args, msg, sizeof msg) == TRYON_ARGS_OK) {
		page_url_set(&t->person, args.person, args.person_len);
		page_url_set(&t->garment, args.garment, args.garment_len);
		tryon_args_free(&args);
	}
	celery_body_free(&body);
}

/* Unescaped string token tok of d into dst (printable ASCII), "" if none. */
static void tok_text(const struct json_doc *d, int tok, char *dst, size_t size)
{
	struct buf b;
	buf_init(&b);
	dst[0] = 0;
	if (tok >= 0 && json_kind(d, tok) == JSON_K_STRING && json_tok_unescape(d, tok, &b, NULL, 0) == 0)
		copy_text(dst, size, b.data, b.len);
	buf_free(&b);
}

static double tok_num(const struct json_doc *d, int tok)
{
	double v = 0;
	if (tok < 0 || json_tok_double(d, tok, &v, NULL, 0) != 0 || v < 0 || v > 1e9)
		return 0;
	return v;
}

static void take_extra(struct page_tryon *t, const char *x, size_t n)
{
	struct json_doc d;
	if (!x || !n || json_parse(&d, x, n, 4096, NULL, 0) < 0)
		return;
	if (json_kind(&d, 0) == JSON_K_OBJECT) {
		tok_text(&d, json_obj_get(&d, 0, "path"), t->path, sizeof t->path);
		int calls = json_obj_get(&d, 0, "calls");
		for (int i = 0, c; t->n_calls < 2 && calls >= 0 && (c = json_arr_get(&d, calls, i)) >= 0; i++) {
			if (json_kind(&d, c) != JSON_K_OBJECT)
				continue;
			struct page_call *pc = &t->calls[t->n_calls++];
			tok_text(&d, json_obj_get(&d, c, "model"), pc->model, sizeof pc->model);
			tok_text(&d, json_obj_get(&d, c, "outcome"), pc->outcome, sizeof pc->outcome);
			pc->latency = tok_num(&d, json_obj_get(&d, c, "latency"));
			pc->cost = tok_num(&d, json_obj_get(&d, c, "cost"));
			pc->status = (long)tok_num(&d, json_obj_get(&d, c, "status"));
			t->cost += pc->cost;
		}
	}
	json_doc_free(&d);
}

/* The result URL, when the stored result is a string. */
static void take_result(struct page_tryon *t, const char *js, size_t n)
{
	struct json_doc d;
	struct buf b;
	if (!js || !n || json_parse(&d, js, n, 4, NULL, 0) < 0)
		return;
	buf_init(&b);
	if (json_kind(&d, 0) == JSON_K_STRING && json_tok_unescape(&d, 0, &b, NULL, 0) == 0 && !b.failed)
		page_url_set(&t->result, b.data, b.len);
	buf_free(&b);
	json_doc_free(&d);
}

/* "Type: first argument" of a failure, or the plain reason. */
static void take_detail(struct page_tryon *t, const struct recent_end *e)
{
	char arg[sizeof t->detail] = "";
	struct json_doc d;

	if (e->exc_args_json && e->exc_args_len &&
	    json_parse(&d, e->exc_args_json, e->exc_args_len, 64, NULL, 0) == 0) {
		if (json_kind(&d, 0) == JSON_K_ARRAY)
			tok_text(&d, json_arr_get(&d, 0, 0), arg, sizeof arg);
		json_doc_free(&d);
	}
	if (!arg[0] && e->reason)
		copy_text(arg, sizeof arg, e->reason, strlen(e->reason));
	if (e->exc_type)
		snprintf(t->detail, sizeof t->detail, "%s%s%s", e->exc_type, arg[0] ? ": " : "", arg);
	else
		snprintf(t->detail, sizeof t->detail, "%s", arg);
	copy_text(t->detail, sizeof t->detail, t->detail, strlen(t->detail));
}

void recent_note(struct recent *r, const struct recent_end *e)
{
	if (!r->rows)
		return;
	struct page_tryon *t = &r->rows[r->next];
	/* Field by field: a memset would clear ~6 KB of URL buffers on every
	 * try-on, of which only the first byte of each is read. */
	t->id[0] = t->path[0] = t->outcome[0] = t->detail[0] = 0;
	t->cost = 0;
	t->n_calls = 0;
	page_url_set(&t->person, NULL, 0);
	page_url_set(&t->garment, NULL, 0);
	page_url_set(&t->result, NULL, 0);
	r->next = (r->next + 1) % PAGE_ROWS;
	if (r->n < PAGE_ROWS)
		r->n++;

	t->at = e->at;
	t->latency = e->runtime;
	if (e->env && e->env->task_id)
		copy_text(t->id, sizeof t->id, e->env->task_id, strlen(e->env->task_id));
	if (e->outcome)
		copy_text(t->outcome, sizeof t->outcome, e->outcome, strlen(e->outcome));
	take_args(t, e);
	take_extra(t, e->extra_json, e->extra_len);
	if (!t->path[0] && e->path)
		copy_text(t->path, sizeof t->path, e->path, strlen(e->path));
	if (e->result_url)
		page_url_set(&t->result, e->result_url, e->result_url_len);
	else
		take_result(t, e->result_json, e->result_len);
	take_detail(t, e);
}
