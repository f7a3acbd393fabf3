/* json: strict JSON reading (jsmn tokens + our own grammar check) and writing.
 * Owns the token array of a parsed document, never the text: a json_doc
 * borrows the caller's bytes, which must outlive it. Parsing accepts exactly
 * what Python's json.loads accepts (incl. NaN/Infinity/-Infinity, which the
 * number getters report separately so callers can refuse them). No I/O, no
 * globals; jsmn is compiled only in json.c and never seen through this header. */
#ifndef TRYON_JSON_H
#define TRYON_JSON_H
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Token types; the values equal jsmn's. */
enum json_type {
	JSON_UNDEFINED = 0,
	JSON_OBJECT = 1,
	JSON_ARRAY = 2,
	JSON_STRING = 3,
	JSON_PRIMITIVE = 4
};

/* Finer classification of a token (json_kind). */
enum json_kind {
	JSON_K_INVALID = 0,
	JSON_K_OBJECT,
	JSON_K_ARRAY,
	JSON_K_STRING,
	JSON_K_NUMBER,
	JSON_K_NONFINITE, /* NaN, Infinity, -Infinity */
	JSON_K_TRUE,
	JSON_K_FALSE,
	JSON_K_NULL
};

/* Return codes of the value getters (0 = ok). */
#define JSON_ERR (-1)       /* malformed / wrong type / allocation */
#define JSON_ENONFINITE (-2) /* NaN, Infinity or -Infinity */
#define JSON_ERANGE (-3)    /* does not fit the requested C type */
#define JSON_EFRAC (-4)     /* fraction or exponent where an integer is needed */

/* Nesting depth limit of the grammar check (arrays + objects). */
#define JSON_MAX_DEPTH 256
/* Token limit used when json_parse is given max_tokens <= 0. */
#define JSON_DEFAULT_MAX_TOKENS (1 << 20)

/* Mirrors jsmntok_t. start/end are byte offsets into the text; for a string
 * they exclude the quotes, for everything else end is one past the last byte.
 * size: number of members (object: keys; key string: 1; array: elements).
 * next: index of the first token after this token's subtree (for a key, its
 * value), so skipping a value is O(1). */
struct json_tok {
	short type;
	short plain;   /* a string with no escape: its text is js[start, end) as is */
	int start;
	int end;
	int size;
	int next;
};   /* 20 bytes: a larger token array put a message's over a malloc size
      * class that musl maps and unmaps per allocation (issue 15) */

/* A parsed document. Token 0 is the root value. */
struct json_doc {
	const char *js;        /* borrowed, not NUL-terminated necessarily */
	size_t len;
	struct json_tok *toks; /* owned; freed by json_doc_free */
	int ntoks;
};

/* Check that js[0..len) is exactly one JSON value (Python json.loads
 * grammar, valid UTF-8 in strings, depth <= JSON_MAX_DEPTH). On success
 * returns the number of tokens json_parse would produce (>= 1); on error -1
 * with a reason in err. */
int json_validate(const char *js, size_t len, char *err, size_t errlen);

/* Validate and tokenize js[0..len). len must be < INT_MAX. max_tokens <= 0
 * means JSON_DEFAULT_MAX_TOKENS. Returns 0 and fills doc (doc->toks owned by
 * doc, doc->js borrows js), or -1 with doc zeroed and err set. */
int json_parse(struct json_doc *doc, const char *js, size_t len, int max_tokens,
	       char *err, size_t errlen);
/* Free the tokens; accepts a zeroed or already freed doc. */
void json_doc_free(struct json_doc *doc);

/* Index of the token after token i's subtree (may equal doc->ntoks). */
int json_skip(const struct json_doc *doc, int i);
/* Classify token i; JSON_K_INVALID if i is out of range. */
int json_kind(const struct json_doc *doc, int i);
/* Value token of the LAST member named key in object token obj (Python keeps
 * the last duplicate), comparing unescaped key text; -1 if absent or obj is
 * not an object. */
int json_obj_get(const struct json_doc *doc, int obj, const char *key);
/* Element idx of array token arr, or -1. */
int json_arr_get(const struct json_doc *doc, int arr, int idx);
/* 1 if token i is a string whose unescaped text equals s (NUL-terminated),
 * else 0. No allocation. */
int json_tok_streq(const struct json_doc *doc, int i, const char *s);
/* Raw byte span of token i in doc->js, quotes included for strings. */
void json_tok_span(const struct json_doc *doc, int i, size_t *start, size_t *end);

/* Unescape string token i, appending UTF-8 to out (no NUL counted in len,
 * \u0000 yields a NUL byte). Errors: not a string, bad escape, lone
 * surrogate, raw control char, invalid UTF-8. Returns 0 or JSON_ERR. */
int json_tok_unescape(const struct json_doc *doc, int i, struct buf *out,
		      char *err, size_t errlen);
/* Same, into a fresh malloc'd NUL-terminated string owned by the caller
 * (*out; NULL on error). *outlen (may be NULL) gets the length. */
int json_tok_strdup(const struct json_doc *doc, int i, char **out,
		    size_t *outlen, char *err, size_t errlen);
/* The same for text that becomes a C string (ids, names, Redis keys): an
 * embedded NUL is refused. 0, or -1 with *out NULL. */
int json_tok_cstrdup(const struct json_doc *doc, int i, char **out);
/* Integer token -> int64. Returns 0, JSON_ERR (not a number),
 * JSON_ENONFINITE, JSON_EFRAC (has '.', 'e' or 'E'), JSON_ERANGE. */
int json_tok_int64(const struct json_doc *doc, int i, int64_t *out,
		   char *err, size_t errlen);
/* Number token -> double. Returns 0, JSON_ERR (not a number),
 * JSON_ENONFINITE (NaN/Infinity literal), JSON_ERANGE (overflows to inf,
 * e.g. 1e400 which Python would read as inf). Assumes the C numeric locale. */
int json_tok_double(const struct json_doc *doc, int i, double *out,
		    char *err, size_t errlen);
/* Boolean token -> 0/1 in *out; JSON_ERR if not true/false. */
int json_tok_bool(const struct json_doc *doc, int i, int *out);

/* Writer flags. */
#define JSON_W_ASCII 1          /* escape all non-ASCII as \uXXXX (Python's
				 * ensure_ascii) */
#define JSON_W_SURROGATEESCAPE 2 /* invalid UTF-8 byte b -> \udcXX (Python's
				 * surrogateescape, lossless); default is
				 * U+FFFD */

/* Append s[0..n) as a quoted JSON string. Control chars become \uXXXX
 * (or \n, \t, ...), valid UTF-8 passes through unless JSON_W_ASCII.
 * Returns 0 or -1 (allocation; out->failed is set). */
int json_write_str(struct buf *out, const char *s, size_t n, int flags);
/* NUL-terminated s, or null when s is NULL; ASCII-only output. */
int json_write_cstr(struct buf *out, const char *s);
/* Append "key": (with Python's ": " separator). ASCII-only. */
int json_write_key(struct buf *out, const char *key);
int json_write_int(struct buf *out, int64_t v);
/* v exactly as Python's repr(float) / json.dumps writes it (shortest
 * round-trip digits: "3.0", "0.1", "1e+16", "1e-05"). Returns -1 without
 * writing for NaN/inf. Assumes the C numeric locale. */
int json_write_double(struct buf *out, double v);
/* Append raw, already-valid JSON text. */
int json_write_raw(struct buf *out, const char *s, size_t n);

/* Copy js[0..len) into out (appended) with the member at path[0..npath)
 * set to the raw JSON value[0..vlen): an existing member (the last
 * duplicate) has its value replaced in place; a missing one is appended at
 * the end of its object as ", \"key\": value"; missing intermediate objects
 * are created. Every other byte is preserved. The root and every existing
 * intermediate must be objects. value is validated. Returns 0 or -1. */
int json_object_set(const char *js, size_t len, const char *const *path,
		    size_t npath, const char *value, size_t vlen,
		    struct buf *out, char *err, size_t errlen);
#endif
