/* libFuzzer target for cachekey. Input: one byte choosing the data URI limit,
 * then the candidate argument. Checks:
 *  - accepted URLs are http(s), at most 2048 bytes of printable ASCII with
 *    no '|' (so person "|" garment cannot collide), accepted data URIs fit
 *    the limit and hold no '|';
 *  - argument and result checks agree on every http(s) URL up to 2048 bytes;
 *  - a refusal has a one-line reason that never quotes the input;
 *  - key formatting gives the prefix plus 16 lowercase hex chars. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tryon/cachekey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256], why2[256], key[CACHEKEY_KEY_SIZE];
	unsigned char digest[CACHEKEY_DIGEST_LEN] = { 0 };

	if (size < 1)
		return 0;
	size_t max = (size_t)data[0] * 16;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;

	why[0] = '\0';
	int kind = cachekey_validate_input(s, n, max, why, sizeof why);
	if (kind < 0) {
		if (kind != -1 || !why[0] || strchr(why, '\n'))
			abort();
		if (n >= 16 && memmem(why, strlen(why), s, n))
			abort();
	} else if (kind == CACHEKEY_INPUT_URL) {
		if (n > CACHEKEY_URL_MAX || (strncasecmp(s, "http://", 7) && strncasecmp(s, "https://", 8)))
			abort();
		for (size_t i = 0; i < n; i++)
			if (data[1 + i] < 0x21 || data[1 + i] > 0x7e || data[1 + i] == '|')
				abort();
		if (cachekey_validate_result(s, n, why2, sizeof why2) != 0)
			abort();
	} else if (kind == CACHEKEY_INPUT_DATA_URI) {
		if (n > max || memchr(s, '|', n) || strncasecmp(s, "data:image/", 11))
			abort();
	} else {
		abort();
	}
	int res = cachekey_validate_result(s, n, why2, sizeof why2);
	if (res == 0 && n <= CACHEKEY_URL_MAX && kind != CACHEKEY_INPUT_URL)
		abort();

	memcpy(digest, data, size < sizeof digest ? size : sizeof digest);
	cachekey_format(digest, key, sizeof key);
	if (strlen(key) != sizeof key - 1 || strncmp(key, CACHEKEY_PREFIX, strlen(CACHEKEY_PREFIX)))
		abort();
	for (const char *p = key + strlen(CACHEKEY_PREFIX); *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			abort();
	return 0;
}
