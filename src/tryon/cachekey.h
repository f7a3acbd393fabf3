/* cachekey: the try-on cache and lock key names, and the validation of the
 * task's URL arguments and of result URLs (from the model or the cache).
 * Pure: no hashing (the caller passes the SHA-256 digest, so this compiles
 * without BearSSL), no I/O, no allocation. Messages never quote the value
 * checked: it may be an 8 MiB data URI or carry a presigned token. */
#ifndef TRYON_CACHEKEY_H
#define TRYON_CACHEKEY_H
#include <stddef.h>

#define CACHEKEY_DIGEST_LEN 32             /* SHA-256 */
#define CACHEKEY_HEX_CHARS 16              /* first 16 hex chars of it */
#define CACHEKEY_PREFIX "tryon:"
#define CACHEKEY_LOCK_PREFIX "tryon:lock:"
/* Buffer sizes including the NUL. */
#define CACHEKEY_KEY_SIZE (sizeof CACHEKEY_PREFIX + CACHEKEY_HEX_CHARS)
#define CACHEKEY_LOCK_SIZE (sizeof CACHEKEY_LOCK_PREFIX + CACHEKEY_HEX_CHARS)

#define CACHEKEY_URL_MAX 2048              /* task argument URLs */
#define CACHEKEY_RESULT_MAX 4096           /* result URLs we return and cache */

/* The hashed text is person + "|" + garment: the separator. Valid inputs
 * never contain '|' (URLs must percent-encode it, base64 has none), so the
 * pair -> text mapping cannot collide. */
#define CACHEKEY_SEPARATOR "|"

/* "tryon:" + the first 16 lowercase hex chars of digest. out must hold
 * CACHEKEY_KEY_SIZE bytes; returns out. */
char *cachekey_format(const unsigned char digest[CACHEKEY_DIGEST_LEN], char *out, size_t outlen);
/* "tryon:lock:" + the same 16 hex chars (CACHEKEY_LOCK_SIZE bytes). */
char *cachekey_lock_format(const unsigned char digest[CACHEKEY_DIGEST_LEN], char *out, size_t outlen);

enum cachekey_input {
	CACHEKEY_INPUT_URL = 1,      /* http:// or https:// */
	CACHEKEY_INPUT_DATA_URI      /* data:image/<type>;base64,<payload> */
};

/* Check one task argument s[0..len) (may contain NULs; they are refused).
 * Accepted: an absolute http(s) URL of at most CACHEKEY_URL_MAX bytes with a
 * host, no userinfo, only printable ASCII that may appear in a URI (no
 * whitespace, control or non-ASCII bytes, none of " < > \ ^ ` { | }); or a
 * data:image/<type>;base64,<payload> URI of at most max_data_uri bytes
 * (0 refuses data URIs) with a well-formed base64 payload. Returns the
 * kind (> 0), or -1 with a reason (lower case, no value quoted) in why. */
int cachekey_validate_input(const char *s, size_t len, size_t max_data_uri, char *why, size_t whylen);

/* Check a result URL (from the model's answer or read from the cache):
 * an http(s) URL as above, at most CACHEKEY_RESULT_MAX bytes. 0 or -1 with
 * why. */
int cachekey_validate_result(const char *s, size_t len, char *why, size_t whylen);
#endif
