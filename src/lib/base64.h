/* base64: RFC 4648 standard alphabet, as Python's base64.b64encode writes it
 * (kombu's body_encoding "base64"). Owns nothing: decode writes into caller
 * memory, encode appends to a caller's buf. Decoding is strict: padding is
 * required, no whitespace, no URL-safe alphabet. No I/O, no globals. */
#ifndef TRYON_BASE64_H
#define TRYON_BASE64_H
#include <stddef.h>

#include "lib/buf.h"

/* Upper bound of decoded bytes for len input characters. */
size_t base64_decoded_max(size_t len);
/* Decode in[0..len) into out (capacity outcap >= base64_decoded_max(len)).
 * Returns 0 and sets *outlen, or -1 with a reason in err (bad length, bad
 * character, misplaced padding). */
int base64_decode(const char *in, size_t len, unsigned char *out,
		  size_t outcap, size_t *outlen, char *err, size_t errlen);
/* Append the padded encoding of in[0..n) to out. Returns 0 or -1 (out of
 * memory; out->failed set). */
int base64_encode(struct buf *out, const void *in, size_t n);
#endif
