/* json: grammar check + jsmn tokenizer + value getters + writer + splice.
 * jsmn is lax in non-strict mode (it accepts "[1 2]", "{"a", "b"}"), and its
 * strict mode refuses NaN/Infinity, so every text is first checked against
 * Python's json grammar here and only then handed to jsmn for tokens. This is
 * the one translation unit that compiles jsmn. */
#include "lib/json.h"
#include "lib/errmsg.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
/* Parent links make jsmn find the enclosing container in O(1) after each
 * member; without them it scans back over every earlier token, which is
 * quadratic in the members of one object (100k members took seconds). */
#define JSMN_PARENT_LINKS
#include <jsmn.h>

_Static_assert((int)JSMN_OBJECT == (int)JSON_OBJECT &&
		       (int)JSMN_ARRAY == (int)JSON_ARRAY &&
		       (int)JSMN_STRING == (int)JSON_STRING &&
		       (int)JSMN_PRIMITIVE == (int)JSON_PRIMITIVE,
	       "json_type must mirror jsmntype_t");


/* Length (1..4) of the well-formed UTF-8 sequence at s[0..n), or 0. Rejects
 * overlongs, UTF-16 surrogates and values above U+10FFFF, as Python's strict
 * utf-8 codec does. */
static int utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	uint32_t v;
	int len, k;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		v = c & 0x07;
	} else {
		return 0;
	}
	if (n < (size_t)len)
		return 0;
	for (k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[k] & 0x3f);
	}
	if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
	    v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static unsigned hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned)(c - 'a' + 10);
	return (unsigned)(c - 'A' + 10);
}

static size_t skip_ws(const char *js, size_t len, size_t i)
{
	while (i < len && (js[i] == ' ' || js[i] == '\t' || js[i] == '\n' ||
			   js[i] == '\r'))
		i++;
	return i;
}

/* *i at the opening quote; leaves *i past the closing quote. */
static int scan_string(const char *js, size_t len, size_t *i, char *err,
		       size_t errlen)
{
	size_t p = *i + 1;

	while (p < len) {
		unsigned char c = (unsigned char)js[p];
		uint32_t cp;
		int n;

		/* Printable ASCII first: most of a message (its base64 body) */
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			p++;
			continue;
		}
		if (c == '"') {
			*i = p + 1;
			return 0;
		}
		if (c == '\\') {
			if (p + 1 >= len)
				break;
			switch (js[p + 1]) {
			case '"': case '\\': case '/': case 'b':
			case 'f': case 'n': case 'r': case 't':
				p += 2;
				continue;
			case 'u':
				if (p + 6 > len || !is_hex(js[p + 2]) ||
				    !is_hex(js[p + 3]) || !is_hex(js[p + 4]) ||
				    !is_hex(js[p + 5])) {
					errmsg_set(err, errlen,
					       "bad \\u escape at offset %zu", p);
					return -1;
				}
				p += 6;
				continue;
			default:
				errmsg_set(err, errlen, "bad escape at offset %zu", p);
				return -1;
			}
		}
		if (c < 0x20) {
			errmsg_set(err, errlen,
			       "raw control character in string at offset %zu",
			       p);
			return -1;
		}
		n = utf8_len((const unsigned char *)js + p, len - p, &cp);
		if (!n) {
			errmsg_set(err, errlen, "invalid UTF-8 at offset %zu", p);
			return -1;
		}
		p += (size_t)n;
	}
	errmsg_set(err, errlen, "unterminated string at offset %zu", *i);
	return -1;
}

static int match_lit(const char *js, size_t len, size_t i, const char *lit)
{
	size_t n = strlen(lit);

	return len - i >= n && memcmp(js + i, lit, n) == 0;
}

/* Number or literal at *i; leaves *i just past it. The caller's state
 * machine rejects whatever follows if it is not a delimiter. */
static int scan_primitive(const char *js, size_t len, size_t *i)
{
	static const char *const lits[] = { "true", "false", "null", "NaN",
					    "Infinity", "-Infinity" };
	size_t p = *i, k;

	for (k = 0; k < sizeof lits / sizeof lits[0]; k++) {
		if (match_lit(js, len, p, lits[k])) {
			*i = p + strlen(lits[k]);
			return 0;
		}
	}
	if (p < len && js[p] == '-')
		p++;
	if (p >= len)
		return -1;
	if (js[p] == '0') {
		p++;
	} else if (js[p] >= '1' && js[p] <= '9') {
		while (p < len && js[p] >= '0' && js[p] <= '9')
			p++;
	} else {
		return -1;
	}
	if (p < len && js[p] == '.') {
		p++;
		if (p >= len || js[p] < '0' || js[p] > '9')
			return -1;
		while (p < len && js[p] >= '0' && js[p] <= '9')
			p++;
	}
	if (p < len && (js[p] == 'e' || js[p] == 'E')) {
		p++;
		if (p < len && (js[p] == '+' || js[p] == '-'))
			p++;
		if (p >= len || js[p] < '0' || js[p] > '9')
			return -1;
		while (p < len && js[p] >= '0' && js[p] <= '9')
			p++;
	}
	*i = p;
	return 0;
}

int json_validate(const char *js, size_t len, char *err, size_t errlen)
{
	enum { S_VALUE, S_VALUE_OR_CLOSE, S_KEY, S_KEY_OR_CLOSE, S_AFTER };
	char stack[JSON_MAX_DEPTH];
	int depth = 0, st = S_VALUE;
	size_t i = 0;
	long count = 0;

	if (len >= (size_t)INT_MAX) {
		errmsg_set(err, errlen, "JSON text too large");
		return -1;
	}
	for (;;) {
		char c;

		i = skip_ws(js, len, i);
		if (st == S_AFTER && depth == 0) {
			if (i != len) {
				errmsg_set(err, errlen,
				       "trailing data at offset %zu", i);
				return -1;
			}
			return (int)count;
		}
		if (i >= len) {
			errmsg_set(err, errlen, "unexpected end of JSON");
			return -1;
		}
		c = js[i];
		switch (st) {
		case S_VALUE_OR_CLOSE:
			if (c == ']') {
				depth--;
				i++;
				st = S_AFTER;
				break;
			}
			/* fall through */
		case S_VALUE:
			count++;
			if (c == '{' || c == '[') {
				if (depth == JSON_MAX_DEPTH) {
					errmsg_set(err, errlen,
					       "JSON nested deeper than %d",
					       JSON_MAX_DEPTH);
					return -1;
				}
				stack[depth++] = c;
				i++;
				st = c == '{' ? S_KEY_OR_CLOSE : S_VALUE_OR_CLOSE;
			} else if (c == '"') {
				if (scan_string(js, len, &i, err, errlen) < 0)
					return -1;
				st = S_AFTER;
			} else {
				if (scan_primitive(js, len, &i) < 0) {
					errmsg_set(err, errlen,
					       "invalid value at offset %zu", i);
					return -1;
				}
				st = S_AFTER;
			}
			break;
		case S_KEY_OR_CLOSE:
			if (c == '}') {
				depth--;
				i++;
				st = S_AFTER;
				break;
			}
			/* fall through */
		case S_KEY:
			if (c != '"') {
				errmsg_set(err, errlen,
				       "expected object key at offset %zu", i);
				return -1;
			}
			count++;
			if (scan_string(js, len, &i, err, errlen) < 0)
				return -1;
			i = skip_ws(js, len, i);
			if (i >= len || js[i] != ':') {
				errmsg_set(err, errlen, "expected ':' at offset %zu",
				       i);
				return -1;
			}
			i++;
			st = S_VALUE;
			break;
		default: /* S_AFTER inside a container */
			if (c == ',') {
				i++;
				st = stack[depth - 1] == '{' ? S_KEY : S_VALUE;
			} else if (c == (stack[depth - 1] == '{' ? '}' : ']')) {
				depth--;
				i++;
			} else {
				errmsg_set(err, errlen,
				       "expected ',' or closing bracket at offset %zu",
				       i);
				return -1;
			}
			break;
		}
	}
}

int json_parse(struct json_doc *doc, const char *js, size_t len, int max_tokens,
	       char *err, size_t errlen)
{
	jsmn_parser p;
	/* jsmn's tokens only live through this call: a small document's go
	 * on the stack (a malloc and free per message made musl map and
	 * unmap a page about once a message in the parent, issue 15). */
	jsmntok_t small[128], *jt;
	int count, r, k, sp = 0;
	int stack[JSON_MAX_DEPTH + 2];

	memset(doc, 0, sizeof *doc);
	if (max_tokens <= 0)
		max_tokens = JSON_DEFAULT_MAX_TOKENS;
	count = json_validate(js, len, err, errlen);
	if (count < 0)
		return -1;
	if (count > max_tokens) {
		errmsg_set(err, errlen, "JSON has %d tokens, limit %d", count,
		       max_tokens);
		return -1;
	}
	jt = count <= (int)(sizeof small / sizeof small[0]) ? small : malloc((size_t)count * sizeof *jt);
	doc->toks = malloc((size_t)count * sizeof *doc->toks);
	if (!jt || !doc->toks) {
		if (jt != small)
			free(jt);
		json_doc_free(doc);
		errmsg_set(err, errlen, "out of memory");
		return -1;
	}
	jsmn_init(&p);
	r = jsmn_parse(&p, js, len, jt, (unsigned)count);
	if (r != count) {
		if (jt != small)
			free(jt);
		json_doc_free(doc);
		errmsg_set(err, errlen, "tokenizer disagrees with grammar (%d)", r);
		return -1;
	}
	/* Pre-order walk: a token's subtree ends at the first later token that
	 * starts at or after its end. Leaves pop at once, so the stack only
	 * ever holds open containers plus one leaf. */
	for (k = 0; k < count; k++) {
		struct json_tok *t = &doc->toks[k];

		t->type = (short)jt[k].type;
		t->start = jt[k].start;
		t->end = jt[k].end;
		t->size = jt[k].size;
		t->next = count;
		/* Decided once here, not on every key comparison (issue 15:
		 * json_obj_get was a quarter of the parent's instructions per
		 * cache hit, most of it looking for backslashes in keys). */
		t->plain = (short)(t->type == JSON_STRING &&
			   !memchr(js + t->start, '\\', (size_t)(t->end - t->start)));
		while (sp > 0 && t->start >= doc->toks[stack[sp - 1]].end)
			doc->toks[stack[--sp]].next = k;
		if (sp == (int)(sizeof stack / sizeof stack[0])) {
			if (jt != small)
				free(jt);
			json_doc_free(doc);
			errmsg_set(err, errlen, "JSON nesting overflow");
			return -1;
		}
		stack[sp++] = k;
	}
	if (jt != small)
		free(jt);
	doc->js = js;
	doc->len = len;
	doc->ntoks = count;
	return 0;
}

void json_doc_free(struct json_doc *doc)
{
	if (!doc)
		return;
	free(doc->toks);
	memset(doc, 0, sizeof *doc);
}

int json_skip(const struct json_doc *doc, int i)
{
	if (i < 0 || i >= doc->ntoks)
		return doc->ntoks;
	return doc->toks[i].next;
}

int json_kind(const struct json_doc *doc, int i)
{
	const struct json_tok *t;
	char c;

	if (!doc || i < 0 || i >= doc->ntoks)
		return JSON_K_INVALID;
	t = &doc->toks[i];
	switch (t->type) {
	case JSON_OBJECT:
		return JSON_K_OBJECT;
	case JSON_ARRAY:
		return JSON_K_ARRAY;
	case JSON_STRING:
		return JSON_K_STRING;
	case JSON_PRIMITIVE:
		break;
	default:
		return JSON_K_INVALID;
	}
	c = doc->js[t->start];
	if (c == 't')
		return JSON_K_TRUE;
	if (c == 'f')
		return JSON_K_FALSE;
	if (c == 'n')
		return JSON_K_NULL;
	if (c == 'N' || c == 'I' ||
	    (c == '-' && t->end - t->start > 1 && doc->js[t->start + 1] == 'I'))
		return JSON_K_NONFINITE;
	return JSON_K_NUMBER;
}

int json_obj_get(const struct json_doc *doc, int obj, const char *key)
{
	int i, k, found = -1;
	size_t klen;

	if (json_kind(doc, obj) != JSON_K_OBJECT)
		return -1;
	klen = strlen(key);
	i = obj + 1;
	for (k = 0; k < doc->toks[obj].size && i < doc->ntoks; k++) {
		const struct json_tok *t = &doc->toks[i];
		int v = json_skip(doc, i);

		/* A key without escapes equals key only byte for byte. */
		if (t->plain ? (size_t)(t->end - t->start) == klen &&
				       !memcmp(doc->js + t->start, key, klen)
			     : json_tok_streq(doc, i, key))
			found = v;
		i = json_skip(doc, v);
	}
	return found;
}

int json_arr_get(const struct json_doc *doc, int arr, int idx)
{
	int i, k;

	if (json_kind(doc, arr) != JSON_K_ARRAY || idx < 0 ||
	    idx >= doc->toks[arr].size)
		return -1;
	i = arr + 1;
	for (k = 0; k < idx; k++)
		i = json_skip(doc, i);
	return i < doc->ntoks ? i : -1;
}

void json_tok_span(const struct json_doc *doc, int i, size_t *start,
		   size_t *end)
{
	const struct json_tok *t = &doc->toks[i];
	int q = t->type == JSON_STRING;

	*start = (size_t)(t->start - q);
	*end = (size_t)(t->end + q);
}

static int read_hex4(const char *s)
{
	return (int)(hex_val(s[0]) << 12 | hex_val(s[1]) << 8 |
		     hex_val(s[2]) << 4 | hex_val(s[3]));
}

static int utf8_put(uint32_t cp, char u8[4])
{
	if (cp < 0x80) {
		u8[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u8[0] = (char)(0xc0 | cp >> 6);
		u8[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u8[0] = (char)(0xe0 | cp >> 12);
		u8[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u8[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	u8[0] = (char)(0xf0 | cp >> 18);
	u8[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	u8[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	u8[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode one unit of string content js[*p..end) into u8; returns its byte
 * length or -1 with *why set. Shared by unescape and streq so both agree on
 * what a string means. */
static int str_unit(const char *js, int *p, int end, char u8[4],
		    const char **why)
{
	unsigned char c = (unsigned char)js[*p];
	uint32_t cp;
	int n;

	if (c == '\\') {
		if (*p + 1 >= end)
			goto bad_escape;
		switch (js[*p + 1]) {
		case '"': u8[0] = '"'; break;
		case '\\': u8[0] = '\\'; break;
		case '/': u8[0] = '/'; break;
		case 'b': u8[0] = '\b'; break;
		case 'f': u8[0] = '\f'; break;
		case 'n': u8[0] = '\n'; break;
		case 'r': u8[0] = '\r'; break;
		case 't': u8[0] = '\t'; break;
		case 'u':
			if (*p + 6 > end)
				goto bad_escape;
			cp = (uint32_t)read_hex4(js + *p + 2);
			*p += 6;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				*why = "lone low surrogate";
				return -1;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				uint32_t lo;

				if (*p + 6 > end || js[*p] != '\\' ||
				    js[*p + 1] != 'u') {
					*why = "lone high surrogate";
					return -1;
				}
				lo = (uint32_t)read_hex4(js + *p + 2);
				if (lo < 0xdc00 || lo > 0xdfff) {
					*why = "lone high surrogate";
					return -1;
				}
				*p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
			}
			return utf8_put(cp, u8);
		default:
			goto bad_escape;
		}
		*p += 2;
		return 1;
	}
	if (c < 0x20) {
		*why = "raw control character in string";
		return -1;
	}
	n = utf8_len((const unsigned char *)js + *p, (size_t)(end - *p), &cp);
	if (!n) {
		*why = "invalid UTF-8 in string";
		return -1;
	}
	memcpy(u8, js + *p, (size_t)n);
	*p += n;
	return n;
bad_escape:
	*why = "bad escape in string";
	return -1;
}

int json_tok_streq(const struct json_doc *doc, int i, const char *s)
{
	const struct json_tok *t;
	size_t slen = strlen(s), off = 0;
	int p;

	if (json_kind(doc, i) != JSON_K_STRING)
		return 0;
	t = &doc->toks[i];
	if (t->plain)
		return (size_t)(t->end - t->start) == slen &&
		       !memcmp(doc->js + t->start, s, slen);
	/* An escape is longer than what it stands for, so the decoded text
	 * is never longer than the raw one: most keys are told apart by
	 * length alone, and a raw text of s's length matches only byte for
	 * byte (for ASCII s without a backslash; otherwise the loop below
	 * decodes). */
	{
		const char *raw = doc->js + t->start;
		size_t rawlen = (size_t)(t->end - t->start), k;

		if (rawlen < slen)
			return 0;
		if (rawlen == slen) {
			if (memcmp(raw, s, slen) != 0)
				return 0;
			for (k = 0; k < slen && (unsigned char)s[k] < 0x80 && s[k] != '\\'; k++)
				;
			if (k == slen)
				return 1;
		} else if (!memchr(raw, '\\', rawlen)) {
			return 0;
		}
	}
	p = t->start;
	while (p < t->end) {
		char u8[4];
		const char *why = "bad string";
		int n = str_unit(doc->js, &p, t->end, u8, &why);

		if (n < 0 || slen - off < (size_t)n ||
		    memcmp(s + off, u8, (size_t)n) != 0)
			return 0;
		off += (size_t)n;
	}
	return off == slen;
}

int json_tok_unescape(const struct json_doc *doc, int i, struct buf *out,
		      char *err, size_t errlen)
{
	const struct json_tok *t;
	int p, run;

	if (json_kind(doc, i) != JSON_K_STRING) {
		errmsg_set(err, errlen, "not a string");
		return JSON_ERR;
	}
	t = &doc->toks[i];
	if (t->plain) {
		if (buf_append(out, doc->js + t->start, (size_t)(t->end - t->start)) < 0)
			goto oom;
		return 0;
	}
	p = t->start;
	run = p;
	while (p < t->end) {
		unsigned char c = (unsigned char)doc->js[p];
		char u8[4];
		const char *why = "bad string";
		int n;

		/* Plain ASCII is copied in runs; only escapes and multibyte
		 * sequences go through the decoder. */
		if (c >= 0x20 && c < 0x80 && c != '\\') {
			p++;
			continue;
		}
		if (buf_append(out, doc->js + run, (size_t)(p - run)) < 0)
			goto oom;
		n = str_unit(doc->js, &p, t->end, u8, &why);
		if (n < 0) {
			errmsg_set(err, errlen, "%s", why);
			return JSON_ERR;
		}
		if (buf_append(out, u8, (size_t)n) < 0)
			goto oom;
		run = p;
	}
	if (buf_append(out, doc->js + run, (size_t)(p - run)) < 0)
		goto oom;
	return 0;
oom:
	errmsg_set(err, errlen, "out of memory");
	return JSON_ERR;
}

int json_tok_strdup(const struct json_doc *doc, int i, char **out,
		    size_t *outlen, char *err, size_t errlen)
{
	struct buf b;

	*out = NULL;
	if (json_kind(doc, i) == JSON_K_STRING && doc->toks[i].plain) {
		/* the text as is, in one allocation of its size */
		const struct json_tok *t = &doc->toks[i];
		size_t n = (size_t)(t->end - t->start);

		*out = malloc(n + 1);
		if (!*out) {
			errmsg_set(err, errlen, "out of memory");
			return JSON_ERR;
		}
		memcpy(*out, doc->js + t->start, n);
		(*out)[n] = '\0';
		if (outlen)
			*outlen = n;
		return 0;
	}
	buf_init(&b);
	if (json_tok_unescape(doc, i, &b, err, errlen) < 0 ||
	    buf_reserve(&b, 0) < 0) {
		if (b.failed)
			errmsg_set(err, errlen, "out of memory");
		buf_free(&b);
		return JSON_ERR;
	}
	b.data[b.len] = '\0';
	*out = b.data;
	if (outlen)
		*outlen = b.len;
	return 0;
}

static int number_check(const struct json_doc *doc, int i, char *err,
			size_t errlen)
{
	int k = json_kind(doc, i);

	if (k == JSON_K_NONFINITE) {
		errmsg_set(err, errlen, "NaN/Infinity not allowed");
		return JSON_ENONFINITE;
	}
	if (k != JSON_K_NUMBER) {
		errmsg_set(err, errlen, "not a number");
		return JSON_ERR;
	}
	return 0;
}

int json_tok_int64(const struct json_doc *doc, int i, int64_t *out,
		   char *err, size_t errlen)
{
	const struct json_tok *t;
	uint64_t v = 0, lim;
	int p, neg = 0, r = number_check(doc, i, err, errlen);

	if (r)
		return r;
	t = &doc->toks[i];
	p = t->start;
	if (doc->js[p] == '-') {
		neg = 1;
		p++;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; p < t->end; p++) {
		char c = doc->js[p];

		if (c == '.' || c == 'e' || c == 'E') {
			errmsg_set(err, errlen, "not an integer");
			return JSON_EFRAC;
		}
		if (v > (lim - (uint64_t)(c - '0')) / 10) {
			/* Still report a fraction as such ("1e999" is not an
			 * int overflow but a float). */
			for (; p < t->end; p++) {
				c = doc->js[p];
				if (c == '.' || c == 'e' || c == 'E') {
					errmsg_set(err, errlen, "not an integer");
					return JSON_EFRAC;
				}
			}
			errmsg_set(err, errlen, "integer out of range");
			return JSON_ERANGE;
		}
		v = v * 10 + (uint64_t)(c - '0');
	}
	if (neg)
		*out = v ? (int64_t)(-(v - 1)) - 1 : 0;
	else
		*out = (int64_t)v;
	return 0;
}

int json_tok_double(const struct json_doc *doc, int i, double *out,
		    char *err, size_t errlen)
{
	const struct json_tok *t;
	char small[64], *s = small, *endp;
	size_t n;
	double v;
	int r = number_check(doc, i, err, errlen);

	if (r)
		return r;
	t = &doc->toks[i];
	n = (size_t)(t->end - t->start);
	if (n >= sizeof small) {
		s = malloc(n + 1);
		if (!s) {
			errmsg_set(err, errlen, "out of memory");
			return JSON_ERR;
		}
	}
	memcpy(s, doc->js + t->start, n);
	s[n] = '\0';
	errno = 0;
	v = strtod(s, &endp);
	r = (size_t)(endp - s) != n ? JSON_ERR : 0;
	if (s != small)
		free(s);
	if (r) {
		errmsg_set(err, errlen, "bad number");
		return r;
	}
	if (isinf(v)) {
		errmsg_set(err, errlen, "number out of range");
		return JSON_ERANGE;
	}
	*out = v;
	return 0;
}

int json_tok_bool(const struct json_doc *doc, int i, int *out)
{
	int k = json_kind(doc, i);

	if (k == JSON_K_TRUE || k == JSON_K_FALSE) {
		*out = k == JSON_K_TRUE;
		return 0;
	}
	return JSON_ERR;
}

static int write_u16(struct buf *out, unsigned v)
{
	return buf_printf(out, "\\u%04x", v);
}

int json_write_str(struct buf *out, const char *s, size_t n, int flags)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	buf_append_char(out, '"');
	while (i < n) {
		unsigned char c = u[i];
		uint32_t cp;
		int len;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			continue;
		}
		buf_append(out, s + run, i - run);
		switch (c) {
		case '"': buf_append_str(out, "\\\""); i++; break;
		case '\\': buf_append_str(out, "\\\\"); i++; break;
		case '\n': buf_append_str(out, "\\n"); i++; break;
		case '\r': buf_append_str(out, "\\r"); i++; break;
		case '\t': buf_append_str(out, "\\t"); i++; break;
		case '\b': buf_append_str(out, "\\b"); i++; break;
		case '\f': buf_append_str(out, "\\f"); i++; break;
		default:
			if (c < 0x80) {
				write_u16(out, c);
				i++;
				break;
			}
			len = utf8_len(u + i, n - i, &cp);
			if (!len) {
				if (flags & JSON_W_SURROGATEESCAPE)
					write_u16(out, 0xdc00u | c);
				else if (flags & JSON_W_ASCII)
					buf_append_str(out, "\\ufffd");
				else
					buf_append_str(out, "\xef\xbf\xbd");
				i++;
				break;
			}
			if (!(flags & JSON_W_ASCII)) {
				buf_append(out, s + i, (size_t)len);
			} else if (cp >= 0x10000) {
				cp -= 0x10000;
				write_u16(out, 0xd800u | (cp >> 10));
				write_u16(out, 0xdc00u | (cp & 0x3ff));
			} else {
				write_u16(out, cp);
			}
			i += (size_t)len;
			break;
		}
		run = i;
	}
	buf_append(out, s + run, i - run);
	return buf_append_char(out, '"');
}

int json_write_cstr(struct buf *out, const char *s)
{
	if (!s)
		return buf_append_str(out, "null");
	return json_write_str(out, s, strlen(s), JSON_W_ASCII);
}

int json_write_key(struct buf *out, const char *key)
{
	json_write_str(out, key, strlen(key), JSON_W_ASCII);
	return buf_append_str(out, ": ");
}

int json_write_int(struct buf *out, int64_t v)
{
	return buf_printf(out, "%" PRId64, v);
}

int json_write_double(struct buf *out, double v)
{
	char e[40], digits[20], txt[64];
	int prec, exp10, nd = 0, k, pos = 0;
	const char *p;

	if (!isfinite(v))
		return -1;
	/* Shortest %e that round-trips gives repr()'s digits; then Python's
	 * float_repr_style rule: fixed notation for 1e-4 <= |v| < 1e16 (with
	 * at least one fractional digit), else d.ddde+XX. */
	for (prec = 0; prec < 17; prec++) {
		snprintf(e, sizeof e, "%.*e", prec, v);
		if (strtod(e, NULL) == v)
			break;
	}
	p = e;
	if (*p == '-') {
		txt[pos++] = '-';
		p++;
	}
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	exp10 = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (exp10 < -4 || exp10 >= 16) {
		txt[pos++] = digits[0];
		if (nd > 1) {
			txt[pos++] = '.';
			for (k = 1; k < nd; k++)
				txt[pos++] = digits[k];
		}
		pos += snprintf(txt + pos, sizeof txt - (size_t)pos, "e%c%02d",
				exp10 < 0 ? '-' : '+',
				exp10 < 0 ? -exp10 : exp10);
	} else if (exp10 < 0) {
		txt[pos++] = '0';
		txt[pos++] = '.';
		for (k = exp10 + 1; k < 0; k++)
			txt[pos++] = '0';
		for (k = 0; k < nd; k++)
			txt[pos++] = digits[k];
	} else {
		for (k = 0; k <= exp10; k++)
			txt[pos++] = k < nd ? digits[k] : '0';
		txt[pos++] = '.';
		if (nd > exp10 + 1)
			for (k = exp10 + 1; k < nd; k++)
				txt[pos++] = digits[k];
		else
			txt[pos++] = '0';
	}
	return buf_append(out, txt, (size_t)pos);
}

int json_write_raw(struct buf *out, const char *s, size_t n)
{
	return buf_append(out, s, n);
}

/* Where a new member goes in object token obj, and whether it needs ", ". */
static size_t insert_pos(const struct json_doc *doc, int obj, int *comma)
{
	int i = obj + 1, last = -1, k;
	size_t s, e;

	for (k = 0; k < doc->toks[obj].size; k++) {
		last = json_skip(doc, i);
		i = json_skip(doc, last);
	}
	if (last < 0) {
		*comma = 0;
		return (size_t)doc->toks[obj].start + 1;
	}
	*comma = 1;
	json_tok_span(doc, last, &s, &e);
	return e;
}

int json_object_set(const char *js, size_t len, const char *const *path,
		    size_t npath, const char *value, size_t vlen,
		    struct buf *out, char *err, size_t errlen)
{
	struct json_doc doc;
	size_t k, cut_s = 0, cut_e = 0, depth_open = 0, base = out->len;
	int cur = 0, comma = 0, insert = 0;

	if (npath == 0) {
		errmsg_set(err, errlen, "empty path");
		return -1;
	}
	if (json_validate(value, vlen, err, errlen) < 0)
		return -1;
	if (json_parse(&doc, js, len, 0, err, errlen) < 0)
		return -1;
	if (json_kind(&doc, 0) != JSON_K_OBJECT) {
		errmsg_set(err, errlen, "root is not an object");
		goto fail;
	}
	for (k = 0; k < npath; k++) {
		int v = json_obj_get(&doc, cur, path[k]);

		if (v < 0) {
			cut_s = cut_e = insert_pos(&doc, cur, &comma);
			insert = 1;
			break;
		}
		if (k + 1 == npath) {
			json_tok_span(&doc, v, &cut_s, &cut_e);
			break;
		}
		if (json_kind(&doc, v) != JSON_K_OBJECT) {
			errmsg_set(err, errlen, "'%s' is not an object", path[k]);
			goto fail;
		}
		cur = v;
	}
	buf_append(out, js, cut_s);
	if (insert) {
		/* Members path[k..] are missing: build the chain of objects
		 * that leads to the value. */
		if (comma)
			buf_append_str(out, ", ");
		for (; k + 1 < npath; k++, depth_open++) {
			json_write_key(out, path[k]);
			buf_append_char(out, '{');
		}
		json_write_key(out, path[k]);
	}
	buf_append(out, value, vlen);
	for (; depth_open; depth_open--)
		buf_append_char(out, '}');
	buf_append(out, js + cut_e, len - cut_e);
	json_doc_free(&doc);
	if (out->failed) {
		errmsg_set(err, errlen, "out of memory");
		out->len = base;
		return -1;
	}
	return 0;
fail:
	json_doc_free(&doc);
	return -1;
}

int json_tok_cstrdup(const struct json_doc *doc, int i, char **out)
{
	size_t n;

	*out = NULL;
	if (json_tok_strdup(doc, i, out, &n, NULL, 0) < 0)
		return -1;
	if (strlen(*out) != n) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}
