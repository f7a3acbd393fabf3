/* Unit tests of cachekey: key formatting from a digest (the vectors are
 * Python's hashlib.sha256 of the joined pair) and the argument/result URL
 * checks, table-driven. */
#include <string.h>

#include "tryon/cachekey.h"
#include "harness.h"

/* sha256("https://example.com/person.png|https://example.com/garment.png") */
static const unsigned char digest_pair[32] = {
	0x0f, 0x92, 0x94, 0x2a, 0x60, 0x73, 0xb1, 0x66, 0xd2, 0xb9, 0xac, 0x4c, 0x36, 0x9f, 0xcf, 0x50,
	0xb8, 0x6a, 0x72, 0x64, 0x67, 0xac, 0xc5, 0xa5, 0xf2, 0xa8, 0xd4, 0xf4, 0x57, 0x9b, 0xb1, 0x04,
};

static void test_key_format(void)
{
	char key[CACHEKEY_KEY_SIZE], lock[CACHEKEY_LOCK_SIZE], small[8];

	CHECK(!strcmp(cachekey_format(digest_pair, key, sizeof key), "tryon:0f92942a6073b166"));
	CHECK(strlen(key) == sizeof key - 1);
	CHECK(!strcmp(cachekey_lock_format(digest_pair, lock, sizeof lock), "tryon:lock:0f92942a6073b166"));
	CHECK(strlen(lock) == sizeof lock - 1);
	/* Too small a buffer: empty string, no overflow. */
	CHECK(!strcmp(cachekey_format(digest_pair, small, sizeof small), ""));
}

struct row {
	const char *in;
	int want;               /* kind, or -1 */
	const char *why;        /* substring of the reason, for -1 */
};

static const struct row rows[] = {
	{ "https://example.com/a.png", CACHEKEY_INPUT_URL, NULL },
	{ "http://example.com", CACHEKEY_INPUT_URL, NULL },
	{ "HTTPS://Example.COM:8443/x?y=1&z=%20#f", CACHEKEY_INPUT_URL, NULL },
	{ "https://[::1]:443/p", CACHEKEY_INPUT_URL, NULL },
	{ "https://storage.googleapis.com/falserverless/x.jpg?X-Goog-Signature=ab%2Fcd", CACHEKEY_INPUT_URL, NULL },
	{ "", -1, "empty" },
	{ "ftp://example.com/a", -1, "https://" },
	{ "example.com/a.png", -1, "https://" },
	{ "//example.com/a.png", -1, "https://" },
	{ "file:///etc/passwd", -1, "https://" },
	{ "https://", -1, "no host" },
	{ "https:///path", -1, "no host" },
	{ "https://:80/", -1, "no host" },
	{ "https://exa mple.com/", -1, "whitespace" },
	{ "https://example.com/a b", -1, "whitespace" },
	{ "https://example.com/\t", -1, "whitespace" },
	{ "https://example.com/a\nb", -1, "whitespace" },
	{ "https://example.com/\x01", -1, "control" },
	{ "https://example.com/\x7f", -1, "control" },
	{ "https://example.com/caf\xc3\xa9", -1, "non-ASCII" },
	{ "https://example.com/a|b", -1, "percent-encoded" },
	{ "https://example.com/a\\b", -1, "percent-encoded" },
	{ "https://example.com/<x>", -1, "percent-encoded" },
	{ "https://user:pw@example.com/", -1, "credentials" },
	{ "https://example.com:0/", -1, "port" },
	{ "https://example.com:65536/", -1, "port" },
	{ "https://example.com:80a/", -1, "port" },
	{ "https://example.com:/", -1, "port" },
	{ "https://[::1/", -1, "IPv6" },
	{ "https://ex!ample.com/", -1, "host" },
	{ "data:image/png;base64,iVBORw0KGgo=", CACHEKEY_INPUT_DATA_URI, NULL },
	{ "DATA:IMAGE/JPEG;BASE64,/9j/4AAQ", CACHEKEY_INPUT_DATA_URI, NULL },
	{ "data:image/svg+xml;base64,PHN2Zz4=", CACHEKEY_INPUT_DATA_URI, NULL },
	{ "data:image/png;base64,", -1, "no data" },
	{ "data:image/png;base64,abc", -1, "multiple of 4" },
	{ "data:image/png;base64,ab=c", -1, "outside base64" },
	{ "data:image/png;base64,a===", -1, "outside base64" },
	{ "data:image/png;base64,ab c", -1, "outside base64" },
	{ "data:text/plain;base64,aGk=", -1, "data:image" },
	{ "data:image/;base64,aGk=", -1, "image type" },
	{ "data:image/png,aGk=", -1, "data:image" },
	{ "data:image/png;charset=x;base64,aGk=", -1, "data:image" },
	{ "data:", -1, "data:image" },
};

static void test_validate_table(void)
{
	char why[200];

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		why[0] = '\0';
		int got = cachekey_validate_input(r->in, strlen(r->in), 1 << 20, why, sizeof why);
		if (got != r->want || (r->why && !strstr(why, r->why))) {
			fprintf(stderr, "row %zu (%s): got %d \"%s\"\n", i, r->in, got, why);
			CHECK(0);
		}
		/* Reasons never quote the value. */
		if (got < 0 && strlen(r->in) > 12)
			CHECK(!strstr(why, r->in));
	}
}

static void test_embedded_nul(void)
{
	static const char s[] = "https://example.com/a\0b";
	char why[128];

	CHECK(cachekey_validate_input(s, sizeof s - 1, 0, why, sizeof why) == -1);
	CHECK(strstr(why, "control") != NULL);
}

static void test_lengths(void)
{
	static char url[CACHEKEY_URL_MAX + 2];
	char why[128];
	size_t p = strlen("https://example.com/");

	memcpy(url, "https://example.com/", p);
	memset(url + p, 'a', sizeof url - p);
	CHECK(cachekey_validate_input(url, CACHEKEY_URL_MAX, 0, why, sizeof why) == CACHEKEY_INPUT_URL);
	CHECK(cachekey_validate_input(url, CACHEKEY_URL_MAX + 1, 0, why, sizeof why) == -1);
	CHECK(strstr(why, "longer than 2048") != NULL);
	/* Results may be longer than arguments. */
	CHECK(cachekey_validate_result(url, CACHEKEY_URL_MAX + 1, why, sizeof why) == 0);

	static const char d[] = "data:image/png;base64,AAAAAAAA";
	CHECK(cachekey_validate_input(d, sizeof d - 1, sizeof d - 1, why, sizeof why) == CACHEKEY_INPUT_DATA_URI);
	CHECK(cachekey_validate_input(d, sizeof d - 1, sizeof d - 2, why, sizeof why) == -1);
	CHECK(strstr(why, "TRYON_MAX_DATA_URI_BYTES") != NULL);
	CHECK(cachekey_validate_input(d, sizeof d - 1, 0, why, sizeof why) == -1);
	CHECK(strstr(why, "disabled") != NULL);
}

static void test_result(void)
{
	char why[128];
	static const char ok[] = "https://v3b.fal.media/files/b/zebra/x.png";
	static const char data[] = "data:image/png;base64,AAAA";
	static const char junk[] = "not a url";

	CHECK(cachekey_validate_result(ok, sizeof ok - 1, why, sizeof why) == 0);
	CHECK(cachekey_validate_result(data, sizeof data - 1, why, sizeof why) == -1);
	CHECK(cachekey_validate_result(junk, sizeof junk - 1, why, sizeof why) == -1);
	CHECK(cachekey_validate_result(NULL, 0, why, sizeof why) == -1);
}

int main(void)
{
	RUN(test_key_format);
	RUN(test_validate_table);
	RUN(test_embedded_nul);
	RUN(test_lengths);
	RUN(test_result);
	return harness_report();
}
