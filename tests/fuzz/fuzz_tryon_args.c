/* libFuzzer target for tryon_args. Input: one byte choosing the protocol
 * (bit 0: 1 or 2) and the data URI limit (the other bits), then a task body.
 * Bodies that parse go through tryon_args_decode. Checks:
 *  - the status is one of the four; MemoryError is not expected here;
 *  - OK: both strings present, NUL-free, len == strlen, accepted again by
 *    cachekey_validate_input, and equal to what the strict json_tok_strdup
 *    reads for the same token; msg is "";
 *  - otherwise *out is zeroed; msg is valid UTF-8, starts as its kind says,
 *    and decoding with a smaller buffer gives a prefix of it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_msg.h"
#include "tryon/cachekey.h"
#include "tryon/tryon_args.h"

static int utf8_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		if (!len || i + len > n)
			return 0;
		for (size_t k = 1; k < len; k++)
			if (((unsigned char)s[i + k] & 0xc0) != 0x80)
				return 0;
		i += len;
	}
	return 1;
}

static void check_value(const struct celery_body *b, const char *name, int idx, const char *s, size_t n,
			size_t max)
{
	char why[160], *strict = NULL;
	size_t sn = 0;

	if (!s || strlen(s) != n || cachekey_validate_input(s, n, max, why, sizeof why) < 0)
		abort();
	int tok = celery_body_nargs(b) > idx ? celery_body_arg(b, idx) : celery_body_kwarg(b, name);
	if (celery_body_str(b, tok, &strict, &sn, why, sizeof why) == 0 && (sn != n || memcmp(strict, s, n)))
		abort();
	free(strict);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct celery_body b;
	struct tryon_args a;
	char err[160], msg[TRYON_ARGS_MSG_SIZE], small[48];

	if (size < 1)
		return 0;
	int protocol = (data[0] & 1) + 1;
	size_t max = (size_t)(data[0] >> 1) * 8;
	if (celery_body_parse(&b, (const char *)data + 1, size - 1, protocol, err, sizeof err) < 0) {
		celery_body_free(&b);
		return 0;
	}
	enum tryon_args_status st = tryon_args_decode(&b, max, &a, msg, sizeof msg);
	switch (st) {
	case TRYON_ARGS_OK:
		if (msg[0])
			abort();
		check_value(&b, "person_url", 0, a.person, a.person_len, max);
		check_value(&b, "garment_url", 1, a.garment, a.garment_len, max);
		break;
	case TRYON_ARGS_TYPE_ERROR:
	case TRYON_ARGS_VALUE_ERROR: {
		size_t n = strlen(msg);
		if (a.person || a.garment || a.person_len || a.garment_len || !n || !utf8_ok(msg, n))
			abort();
		if (st == TRYON_ARGS_TYPE_ERROR ? strncmp(msg, "virtual_tryon() ", 16)
		    : strncmp(msg, "person_url", 10) && strncmp(msg, "garment_url", 11))
			abort();
		struct tryon_args a2;
		if (tryon_args_decode(&b, max, &a2, small, sizeof small) != st || strncmp(msg, small, strlen(small)) ||
		    strlen(small) + 4 < (n < sizeof small - 1 ? n : sizeof small - 1))
			abort();
		break;
	}
	default:
		abort();
	}
	tryon_args_free(&a);
	celery_body_free(&b);
	return 0;
}
