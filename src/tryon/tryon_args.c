/* tryon_args: binding and checking virtual_tryon's arguments (see
 * tryon_args.h). The binding follows CPython 3.11's initialize_locals for a
 * function without defaults, *args or **kwargs: keywords first (in dict
 * order), then the positional count, then what is missing. The messages were
 * checked against /usr/bin/python3 (tests/unit/test_tryon_args.c). */
#include "tryon/tryon_args.h"
#include "lib/hex.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/errmsg.h"
#include "lib/json.h"
#include "tryon/cachekey.h"

#define FUNC "virtual_tryon()"

static const char *const names[2] = { "person_url", "garment_url" };

/* The value of 4 hex digits at s[0..4), or -1. */
static long hex4(const char *s)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hex_digit(s[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* Append code point cp as UTF-8, surrogates in their 3-byte form (Python's
 * surrogatepass). as_name: NUL and surrogates, which the C string of a
 * message cannot carry as Python has them, become the text \x00 / \udXXX. */
static void put_cp(struct buf *out, uint32_t cp, int as_name)
{
	char u[4];

	if (as_name && cp == 0) {
		buf_append_str(out, "\\x00");
		return;
	}
	if (as_name && cp >= 0xd800 && cp <= 0xdfff) {
		buf_printf(out, "\\u%04x", (unsigned)cp);
		return;
	}
	if (cp < 0x80) {
		buf_append_char(out, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		buf_append(out, u, 4);
	}
}

/* Append the text of string token t as json.loads reads it. Unlike
 * json_tok_unescape this keeps lone surrogates (json.loads does, and a
 * keyword name or a value may hold one), so the only failure is allocation.
 * json_parse validated the token; a malformed escape is copied as it is. */
static int str_text(const struct json_doc *d, int t, int as_name, struct buf *out)
{
	const struct json_tok *k = &d->toks[t];
	const char *s = d->js;
	int p = k->start, run = p;

	/* Escapes only shrink the text: one reservation for all of it. */
	if (buf_reserve(out, (size_t)(k->end - k->start)) < 0)
		return -1;
	while (p < k->end) {
		if (s[p] != '\\' || p + 1 >= k->end) {
			p++;
			continue;
		}
		buf_append(out, s + run, (size_t)(p - run));
		char c = s[p + 1];
		long cp = (unsigned char)c;
		p += 2;
		switch (c) {
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			cp = k->end - p >= 4 ? hex4(s + p) : -1;
			if (cp < 0) {
				run = p - 2;
				continue;
			}
			p += 4;
			/* A high surrogate pairs with an immediately following
			 * \u low surrogate; otherwise it stays alone. */
			if (cp >= 0xd800 && cp <= 0xdbff && k->end - p >= 6 && s[p] == '\\' && s[p + 1] == 'u') {
				long lo = hex4(s + p + 2);
				if (lo >= 0xdc00 && lo <= 0xdfff) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			break;
		default:
			break;
		}
		put_cp(out, (uint32_t)cp, as_name);
		run = p;
	}
	buf_append(out, s + run, (size_t)(p - run));
	return out->failed ? -1 : 0;
}

/* Copy s[0..n) into msg, cut at a UTF-8 boundary if it does not fit. */
static void msg_put(char *msg, size_t msglen, const char *s, size_t n)
{
	if (!msg || !msglen)
		return;
	if (n >= msglen) {
		n = msglen - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(msg, s, n);
	msg[n] = '\0';
}

static enum tryon_args_status unexpected_keyword(const struct json_doc *d, int key, char *msg, size_t msglen)
{
	struct buf m;
	enum tryon_args_status st = TRYON_ARGS_TYPE_ERROR;

	buf_init(&m);
	buf_append_str(&m, FUNC " got an unexpected keyword argument '");
	str_text(d, key, 1, &m);
	buf_append_char(&m, '\'');
	if (m.failed)
		st = TRYON_ARGS_NO_MEMORY;
	else
		msg_put(msg, msglen, m.data, m.len);
	buf_free(&m);
	return st;
}

/* CPython's binding checks; TRYON_ARGS_OK when the call binds. */
static enum tryon_args_status bind(const struct celery_body *b, int nargs, char *msg, size_t msglen)
{
	const struct json_doc *d = &b->doc;
	int obj = b->kwargs_tok, given[2] = { nargs >= 1, nargs >= 2 };

	/* The kwargs dict holds each name once, at its first occurrence in the
	 * text, so walking the keys in text order meets the same first error
	 * as CPython walking the dict: a later duplicate can only repeat a
	 * check its first occurrence already passed. */
	if (obj >= 0 && json_kind(d, obj) == JSON_K_OBJECT) {
		for (int i = 0, k = obj + 1; i < d->toks[obj].size && k < d->ntoks; i++) {
			int which = json_tok_streq(d, k, names[0]) ? 0 : json_tok_streq(d, k, names[1]) ? 1 : -1;
			if (which < 0)
				return unexpected_keyword(d, k, msg, msglen);
			if (given[which]) {
				errmsg_set(msg, msglen, FUNC " got multiple values for argument '%s'", names[which]);
				return TRYON_ARGS_TYPE_ERROR;
			}
			k = json_skip(d, k + 1);
		}
	}
	if (nargs > 2) {
		errmsg_set(msg, msglen, FUNC " takes 2 positional arguments but %d were given", nargs);
		return TRYON_ARGS_TYPE_ERROR;
	}
	int has[2];
	for (int i = 0; i < 2; i++)
		has[i] = given[i] || celery_body_kwarg(b, names[i]) >= 0;
	if (!has[0] && !has[1]) {
		errmsg_set(msg, msglen, FUNC " missing 2 required positional arguments: '%s' and '%s'",
			 names[0], names[1]);
		return TRYON_ARGS_TYPE_ERROR;
	}
	for (int i = 0; i < 2; i++) {
		if (!has[i]) {
			errmsg_set(msg, msglen, FUNC " missing 1 required positional argument: '%s'", names[i]);
			return TRYON_ARGS_TYPE_ERROR;
		}
	}
	return TRYON_ARGS_OK;
}

/* Copy string token t into a fresh NUL-terminated string. 0 or -1 (memory). */
static int str_copy(const struct json_doc *d, int t, char **s, size_t *len)
{
	struct buf v;

	buf_init(&v);
	if (str_text(d, t, 0, &v) < 0 || buf_reserve(&v, 0) < 0) {
		buf_free(&v);
		return -1;
	}
	v.data[v.len] = '\0';
	*s = v.data;
	*len = v.len;
	return 0;
}

enum tryon_args_status tryon_args_decode(const struct celery_body *b, size_t max_data_uri_bytes,
					 struct tryon_args *out, char *msg, size_t msglen)
{
	const struct json_doc *d = &b->doc;
	int nargs = celery_body_nargs(b), tok[2];
	char **s[2] = { &out->person, &out->garment };
	size_t *n[2] = { &out->person_len, &out->garment_len };
	char why[160];

	memset(out, 0, sizeof *out);
	if (msg && msglen)
		msg[0] = '\0';
	enum tryon_args_status st = bind(b, nargs, msg, msglen);
	if (st != TRYON_ARGS_OK)
		return st;
	/* The body's own checks, in the order the job has always made them. */
	for (int i = 0; i < 2; i++) {
		tok[i] = nargs > i ? celery_body_arg(b, i) : celery_body_kwarg(b, names[i]);
		if (json_kind(d, tok[i]) != JSON_K_STRING) {
			errmsg_set(msg, msglen, "%s: must be a string", names[i]);
			return TRYON_ARGS_VALUE_ERROR;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (str_copy(d, tok[i], s[i], n[i]) < 0) {
			tryon_args_free(out);
			return TRYON_ARGS_NO_MEMORY;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (cachekey_validate_input(*s[i], *n[i], max_data_uri_bytes, why, sizeof why) < 0) {
			errmsg_set(msg, msglen, "%s %s", names[i], why);
			tryon_args_free(out);
			return TRYON_ARGS_VALUE_ERROR;
		}
	}
	return TRYON_ARGS_OK;
}

void tryon_args_free(struct tryon_args *a)
{
	if (!a)
		return;
	free(a->person);
	free(a->garment);
	memset(a, 0, sizeof *a);
}

const char *tryon_args_exc_type(enum tryon_args_status s)
{
	switch (s) {
	case TRYON_ARGS_TYPE_ERROR: return "TypeError";
	case TRYON_ARGS_VALUE_ERROR: return "ValueError";
	case TRYON_ARGS_NO_MEMORY: return "MemoryError";
	default: return NULL;
	}
}
