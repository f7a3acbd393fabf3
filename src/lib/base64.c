/* base64: strict decoder and padded encoder, standard alphabet. */
#include "lib/base64.h"
#include "lib/errmsg.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

static const char enc_tab[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


static int dec_char(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t base64_decoded_max(size_t len)
{
	return len / 4 * 3 + 3;
}

int base64_decode(const char *in, size_t len, unsigned char *out,
		  size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t i, o = 0;

	if (len % 4) {
		errmsg_set(err, errlen, "base64 length %zu is not a multiple of 4",
		       len);
		return -1;
	}
	if (outcap < len / 4 * 3) {
		errmsg_set(err, errlen, "base64 output buffer too small");
		return -1;
	}
	for (i = 0; i < len; i += 4) {
		int v[4], k, pad = 0;
		uint32_t w;

		for (k = 0; k < 4; k++) {
			if (u[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			v[k] = pad ? -1 : dec_char(u[i + k]);
			if (v[k] < 0) {
				errmsg_set(err, errlen,
				       "invalid base64 character at offset %zu",
				       i + (size_t)k);
				return -1;
			}
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
	}
	*outlen = o;
	return 0;
}

int base64_encode(struct buf *out, const void *in, size_t n)
{
	const unsigned char *u = in;
	size_t i;
	char q[4];

	if (buf_reserve(out, (n + 2) / 3 * 4) < 0)
		return -1;
	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t w = (uint32_t)u[i] << 16 | (uint32_t)u[i + 1] << 8 |
			     u[i + 2];

		q[0] = enc_tab[w >> 18];
		q[1] = enc_tab[(w >> 12) & 63];
		q[2] = enc_tab[(w >> 6) & 63];
		q[3] = enc_tab[w & 63];
		buf_append(out, q, 4);
	}
	if (i < n) {
		uint32_t w = (uint32_t)u[i] << 16;

		if (i + 1 < n)
			w |= (uint32_t)u[i + 1] << 8;
		q[0] = enc_tab[w >> 18];
		q[1] = enc_tab[(w >> 12) & 63];
		q[2] = i + 1 < n ? enc_tab[(w >> 6) & 63] : '=';
		q[3] = '=';
		buf_append(out, q, 4);
	}
	return out->failed ? -1 : 0;
}
