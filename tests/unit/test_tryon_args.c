/* Unit tests of tryon_args: a table of task bodies (protocol 2 and 1) ->
 * status and exact message. The TypeError messages and their precedence are
 * CPython 3.11's: every row was checked by running the same call against
 * `def virtual_tryon(person_url, garment_url)` in /usr/bin/python3 (rows with
 * a message of ours: the URL checks, and NUL / lone surrogates in a keyword
 * name, which the C message writes as \x00 / \udXXX text). */
#include <stdlib.h>
#include <string.h>

#include "celery/celery_msg.h"
#include "tryon/tryon_args.h"
#include "harness.h"

#define P "https://a.example/p.png"
#define G "https://a.example/g.png"
#define MAX_DATA 4096

struct row {
	int protocol;
	const char *body;
	enum tryon_args_status want;
	const char *msg;        /* NULL for OK */
};

static const struct row rows[] = {
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {}, {}]",
	  TRYON_ARGS_OK, NULL },
	{ 2, "[[], {\"person_url\": \"https://a.example/p.png\", \"garment_url\": \"https://a.example/g.png\"}, null]",
	  TRYON_ARGS_OK, NULL },
	{ 2, "[[], {\"garment_url\": \"https://a.example/g.png\", \"person_url\": \"https://a.example/p.png\"}, {}]",
	  TRYON_ARGS_OK, NULL },
	{ 2, "[[\"https://a.example/p.png\"], {\"garment_url\": \"https://a.example/g.png\"}, {}]",
	  TRYON_ARGS_OK, NULL },
	{ 2, "[[], {\"person\\u005furl\": \"https://a.example/p.png\", \"garment_url\": \"https://a.example/g.png\"}, {}]",
	  TRYON_ARGS_OK, NULL },
	{ 2, "[[], {\"person_url\": 5, \"person_url\": \"https://a.example/p.png\", \"garment_url\": \"https://a.example/g.png\"}, {}]",
	  TRYON_ARGS_OK, NULL },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"extra\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'extra'" },
	{ 2, "[[\"https://a.example/p.png\"], {\"person_url\": \"https://a.example/p.png\", \"garment_url\": \"https://a.example/g.png\"}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got multiple values for argument 'person_url'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\", \"x\"], {}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() takes 2 positional arguments but 3 were given" },
	{ 2, "[[\"https://a.example/p.png\"], {}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() missing 1 required positional argument: 'garment_url'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\", 1, 2], {}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() takes 2 positional arguments but 4 were given" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], {}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() takes 2 positional arguments but 12 were given" },
	{ 2, "[[\"https://a.example/p.png\"], {\"garment_url\": \"https://a.example/g.png\", \"person_url\": \"https://a.example/p.png\"}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got multiple values for argument 'person_url'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"garment_url\": \"https://a.example/g.png\"}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got multiple values for argument 'garment_url'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"person_url\": \"https://a.example/p.png\"}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got multiple values for argument 'person_url'" },
	{ 2, "[[], {\"garment_url\": \"https://a.example/g.png\"}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() missing 1 required positional argument: 'person_url'" },
	{ 2, "[[], {\"person_url\": \"https://a.example/p.png\"}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() missing 1 required positional argument: 'garment_url'" },
	{ 2, "[[], {}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() missing 2 required positional arguments: 'person_url' and 'garment_url'" },
	{ 2, "[[], {\"extra\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'extra'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\", 3], {\"extra\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'extra'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\", 3], {\"person_url\": \"https://a.example/p.png\"}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got multiple values for argument 'person_url'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\", 3], {\"garment_url\": \"https://a.example/g.png\"}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got multiple values for argument 'garment_url'" },
	{ 2, "[[\"https://a.example/p.png\"], {\"extra\": 1, \"person_url\": \"https://a.example/p.png\"}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'extra'" },
	{ 2, "[[\"https://a.example/p.png\"], {\"person_url\": \"https://a.example/p.png\", \"extra\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got multiple values for argument 'person_url'" },
	{ 2, "[[], {\"person_url\": \"https://a.example/p.png\", \"zz\": 1, \"aa\": 2}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'zz'" },
	{ 2, "[[5, 6, 7], {}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() takes 2 positional arguments but 3 were given" },
	{ 2, "[[5], {\"garment_url\": null, \"other\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'other'" },
	{ 2, "[[], {\"person_url\": \"https://a.example/p.png\", \"extra\": 1, \"person_url\": \"https://a.example/p.png\"}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'extra'" },
	{ 2, "[[\"https://a.example/p.png\"], {\"extra\": 1, \"garment_url\": \"https://a.example/g.png\", \"extra\": 2}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'extra'" },
	{ 2, "[[\"https://a.example/p.png\"], {\"garment_url\": \"https://a.example/g.png\", \"person_url\": 1, \"garment_url\": 2}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got multiple values for argument 'person_url'" },
	{ 2, "[[], {\"person_url\": \"https://a.example/p.png\", \"garment_url\": \"https://a.example/g.png\", \"person_url\": 5}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "person_url: must be a string" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"\\u00e9\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument '\303\251'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"\303\251t\303\251\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument '\303\251t\303\251'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"\\ud83d\\ude00\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument '\360\237\230\200'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"a'b\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'a'b'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"a\\\"b\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'a\"b'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"a\\nb\\\\c\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'a\012b\\c'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument ''" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"Person_url\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'Person_url'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"person_url \": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'person_url '" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"a\\u0000b\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'a\\x00b'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"\\ud800x\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument '\\ud800x'" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/g.png\"], {\"\\udc80\\ud83d\": 1}, {}]",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument '\\udc80\\ud83d'" },
	{ 2, "[[1, \"https://a.example/g.png\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "person_url: must be a string" },
	{ 2, "[[\"https://a.example/p.png\", null], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "garment_url: must be a string" },
	{ 2, "[[\"https://a.example/p.png\", [\"https://a.example/g.png\"]], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "garment_url: must be a string" },
	{ 2, "[[{\"a\": 1}, 2], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "person_url: must be a string" },
	{ 2, "[[], {\"person_url\": \"https://a.example/p.png\", \"garment_url\": true}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "garment_url: must be a string" },
	{ 2, "[[\"ftp://x/p.png\", 5], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "garment_url: must be a string" },
	{ 2, "[[\"https://a.example/p.png\", NaN], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "garment_url: must be a string" },
	{ 2, "[[\"ftp://a.example/p.png\", \"https://a.example/g.png\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "person_url must be an absolute https:// or http:// URL (or a data:image/...;base64, URI)" },
	{ 2, "[[\"https://a.example/p.png\", \"https://exa mple.com/g.png\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "garment_url contains whitespace" },
	{ 2, "[[\"\", \"https://a.example/g.png\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "person_url is empty" },
	{ 2, "[[\"https://a.example/\\ud800.png\", \"https://a.example/g.png\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "person_url contains non-ASCII bytes (percent-encode them)" },
	{ 2, "[[\"https://a.example/\\u00e9.png\", \"https://a.example/g.png\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "person_url contains non-ASCII bytes (percent-encode them)" },
	{ 2, "[[\"https://a.example/\\u0000.png\", \"https://a.example/g.png\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "person_url contains control characters" },
	{ 2, "[[\"https://a.example/a|b\", \"https://a.example/g.png\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "person_url contains a character that must be percent-encoded in a URL" },
	{ 2, "[[\"https://u:p@a.example/p.png\", \"https://a.example/g.png\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "person_url must not contain credentials (user:password@)" },
	{ 2, "[[\"https://a.example/p.png\", \"https://a.example/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "garment_url is longer than 2048 bytes" },
	{ 2, "[[\"https://a.example/p.png\", \"data:image/png;base64,abc\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "garment_url is a data: URI whose base64 length is not a multiple of 4" },
	{ 2, "[[\"ftp://a\", \"ftp://b\"], {}, {}]",
	  TRYON_ARGS_VALUE_ERROR, "person_url must be an absolute https:// or http:// URL (or a data:image/...;base64, URI)" },
	{ 1, "{\"args\": [\"https://a.example/p.png\", \"https://a.example/g.png\"], \"kwargs\": {}}",
	  TRYON_ARGS_OK, NULL },
	{ 1, "{\"kwargs\": {\"person_url\": \"https://a.example/p.png\", \"garment_url\": \"https://a.example/g.png\"}}",
	  TRYON_ARGS_OK, NULL },
	{ 1, "{\"args\": [\"https://a.example/p.png\"]}",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() missing 1 required positional argument: 'garment_url'" },
	{ 1, "{}",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() missing 2 required positional arguments: 'person_url' and 'garment_url'" },
	{ 1, "{\"args\": [\"https://a.example/p.png\", \"https://a.example/g.png\"], \"kwargs\": {\"extra\": 1}}",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() got an unexpected keyword argument 'extra'" },
	{ 1, "{\"args\": [\"https://a.example/p.png\", \"https://a.example/g.png\", 1]}",
	  TRYON_ARGS_TYPE_ERROR, "virtual_tryon() takes 2 positional arguments but 3 were given" },
	{ 1, "{\"args\": [\"https://a.example/p.png\", 7]}",
	  TRYON_ARGS_VALUE_ERROR, "garment_url: must be a string" },
};

/* 1 if s[0..n) is well-formed UTF-8. */
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

static int zeroed(const struct tryon_args *a)
{
	return !a->person && !a->garment && !a->person_len && !a->garment_len;
}

/* Decode body with protocol; the body must parse. */
static enum tryon_args_status decode(int protocol, const char *body, size_t len, size_t max,
				     struct tryon_args *a, char *msg, size_t msglen)
{
	struct celery_body b;
	char err[160];

	if (celery_body_parse(&b, body, len, protocol, err, sizeof err) < 0) {
		fprintf(stderr, "body does not parse (%s): %.200s\n", err, body);
		celery_body_free(&b);
		return (enum tryon_args_status)-1;
	}
	enum tryon_args_status st = tryon_args_decode(&b, max, a, msg, msglen);
	celery_body_free(&b);
	return st;
}

static void test_table(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		struct tryon_args a;
		char msg[TRYON_ARGS_MSG_SIZE];

		memset(msg, 'x', sizeof msg);
		enum tryon_args_status st = decode(r->protocol, r->body, strlen(r->body), MAX_DATA, &a, msg, sizeof msg);
		int ok = st == r->want;
		if (r->want == TRYON_ARGS_OK) {
			ok = ok && !msg[0] && a.person && a.garment && !strcmp(a.person, P) && !strcmp(a.garment, G) &&
			     a.person_len == strlen(P) && a.garment_len == strlen(G);
		} else {
			ok = ok && !strcmp(msg, r->msg) && zeroed(&a);
		}
		if (!ok)
			fprintf(stderr, "row %zu: %.120s\n  want %d '%s'\n  got  %d '%s'\n", i, r->body, r->want,
				r->msg ? r->msg : "", st, st == TRYON_ARGS_OK ? "" : msg);
		CHECK(ok);
		tryon_args_free(&a);
		CHECK(zeroed(&a));
	}
}

/* Values are read as json.loads reads them: escapes undone. */
static void test_escaped_values(void)
{
	static const char body[] = "[[\"https:\\/\\/a.example\\/p.png\", \"\\u0068ttps://a.example/g.png\"], {}, {}]";
	struct tryon_args a;
	char msg[64];

	CHECK(decode(2, body, strlen(body), MAX_DATA, &a, msg, sizeof msg) == TRYON_ARGS_OK);
	CHECK(a.person && !strcmp(a.person, P) && a.person_len == strlen(P));
	CHECK(a.garment && !strcmp(a.garment, G) && a.garment_len == strlen(G));
	tryon_args_free(&a);
}

/* A body whose person_url is "data:image/png;base64," + n 'A's. */
static char *data_body(size_t n, int as_kwarg)
{
	static const char pre[] = "data:image/png;base64,";
	size_t cap = n + 256;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	size_t k = (size_t)snprintf(s, cap, as_kwarg ? "[[], {\"person_url\": \"%s" : "[[\"%s", pre);
	memset(s + k, 'A', n);
	snprintf(s + k + n, cap - k - n, as_kwarg ? "\", \"garment_url\": \"%s\"}, {}]" : "\", \"%s\"], {}, {}]", G);
	return s;
}

static void test_data_uris(void)
{
	struct tryon_args a;
	char msg[TRYON_ARGS_MSG_SIZE];
	const size_t pre = strlen("data:image/png;base64,"), lim = pre + 4072;

	/* Exactly at the limit: accepted; one quad more: refused. */
	char *s = data_body(4072, 0);
	CHECK(s && decode(2, s, strlen(s), lim, &a, msg, sizeof msg) == TRYON_ARGS_OK);
	CHECK(a.person_len == lim && a.person && strlen(a.person) == lim);
	tryon_args_free(&a);
	free(s);
	s = data_body(4076, 1);
	CHECK(s && decode(2, s, strlen(s), lim, &a, msg, sizeof msg) == TRYON_ARGS_VALUE_ERROR);
	CHECK(!strcmp(msg, "person_url is a data: URI larger than 4094 bytes (TRYON_MAX_DATA_URI_BYTES)"));
	CHECK(zeroed(&a));
	/* Data URIs off. */
	CHECK(s && decode(2, s, strlen(s), 0, &a, msg, sizeof msg) == TRYON_ARGS_VALUE_ERROR);
	CHECK(!strcmp(msg, "person_url is a data: URI, and data URIs are disabled (TRYON_MAX_DATA_URI_BYTES=0)"));
	free(s);
	/* 8 MiB of payload: accepted and copied whole, or refused one byte
	 * under its size. */
	size_t big = (size_t)8 << 20;
	s = data_body(big, 1);
	CHECK(s && decode(2, s, strlen(s), pre + big, &a, msg, sizeof msg) == TRYON_ARGS_OK);
	CHECK(a.person_len == pre + big && a.person && a.person[pre + big - 1] == 'A' && a.person[pre + big] == '\0');
	CHECK(a.garment && !strcmp(a.garment, G));
	tryon_args_free(&a);
	CHECK(s && decode(2, s, strlen(s), pre + big - 1, &a, msg, sizeof msg) == TRYON_ARGS_VALUE_ERROR);
	CHECK(!strcmp(msg, "person_url is a data: URI larger than 8388629 bytes (TRYON_MAX_DATA_URI_BYTES)"));
	free(s);
}

/* An unexpected name longer than the message buffer is cut at a UTF-8
 * boundary; a shorter one is whole. */
static void test_long_names(void)
{
	static const char pre[] = "virtual_tryon() got an unexpected keyword argument '";
	struct tryon_args a;
	char msg[TRYON_ARGS_MSG_SIZE], small[60];
	char body[8192];

	for (int shift = 0; shift < 3; shift++) {
		/* "x" * shift, then 1500 two-byte characters. */
		size_t k = (size_t)snprintf(body, sizeof body, "[[\"%s\", \"%s\"], {\"", P, G);
		for (int i = 0; i < shift; i++)
			body[k++] = 'x';
		for (int i = 0; i < 1500; i++) {
			body[k++] = (char)0xc3;
			body[k++] = (char)0xa9;
		}
		snprintf(body + k, sizeof body - k, "\": 1}, {}]");
		CHECK(decode(2, body, strlen(body), MAX_DATA, &a, msg, sizeof msg) == TRYON_ARGS_TYPE_ERROR);
		size_t n = strlen(msg);
		CHECK(n >= sizeof msg - 4 && n < sizeof msg);
		CHECK(!strncmp(msg, pre, strlen(pre)) && utf8_ok(msg, n));
		CHECK(decode(2, body, strlen(body), MAX_DATA, &a, small, sizeof small) == TRYON_ARGS_TYPE_ERROR);
		CHECK(strlen(small) >= sizeof small - 4 && utf8_ok(small, strlen(small)));
	}
	/* 400 ASCII characters: whole, closing quote included. */
	size_t k = (size_t)snprintf(body, sizeof body, "[[], {\"");
	memset(body + k, 'k', 400);
	snprintf(body + k + 400, sizeof body - k - 400, "\": 1}, {}]");
	CHECK(decode(2, body, strlen(body), MAX_DATA, &a, msg, sizeof msg) == TRYON_ARGS_TYPE_ERROR);
	CHECK(strlen(msg) == strlen(pre) + 400 + 1 && msg[strlen(msg) - 1] == '\'');
	/* Tiny buffers: NUL-terminated, never overrun. */
	char one[1] = { 'z' }, three[3];
	CHECK(decode(2, body, strlen(body), MAX_DATA, &a, one, sizeof one) == TRYON_ARGS_TYPE_ERROR);
	CHECK(one[0] == '\0');
	CHECK(decode(2, "[[], {}, {}]", 12, MAX_DATA, &a, three, sizeof three) == TRYON_ARGS_TYPE_ERROR);
	CHECK(!strcmp(three, "vi"));
	CHECK(decode(2, "[[1, 2], {}, {}]", 16, MAX_DATA, &a, NULL, 0) == TRYON_ARGS_VALUE_ERROR);
}

/* Many keywords and arguments: linear, and the first error wins. */
static void test_many(void)
{
	size_t cap = 4 << 20;
	char *s = malloc(cap), msg[TRYON_ARGS_MSG_SIZE];
	struct tryon_args a;

	CHECK(s != NULL);
	if (!s)
		return;
	/* 20000 duplicates of person_url, then garment_url: binds (json_parse
	 * itself is quadratic in the members of one object, so not more). */
	size_t k = (size_t)snprintf(s, cap, "[[], {");
	for (int i = 0; i < 20000; i++)
		k += (size_t)snprintf(s + k, cap - k, "\"person_url\": \"%s\", ", P);
	k += (size_t)snprintf(s + k, cap - k, "\"garment_url\": \"%s\"}, {}]", G);
	CHECK(decode(2, s, k, MAX_DATA, &a, msg, sizeof msg) == TRYON_ARGS_OK);
	tryon_args_free(&a);
	/* 200000 positional arguments. */
	k = (size_t)snprintf(s, cap, "[[");
	for (int i = 0; i < 200000; i++)
		k += (size_t)snprintf(s + k, cap - k, i ? ", %d" : "%d", i);
	k += (size_t)snprintf(s + k, cap - k, "], {}, {}]");
	CHECK(decode(2, s, k, MAX_DATA, &a, msg, sizeof msg) == TRYON_ARGS_TYPE_ERROR);
	CHECK(!strcmp(msg, "virtual_tryon() takes 2 positional arguments but 200000 were given"));
	free(s);
}

static void test_free_and_names(void)
{
	struct tryon_args a;

	memset(&a, 0, sizeof a);
	tryon_args_free(&a);
	tryon_args_free(&a);
	tryon_args_free(NULL);
	a.person = strdup(P);           /* half-built */
	tryon_args_free(&a);
	CHECK(zeroed(&a));
	CHECK(tryon_args_exc_type(TRYON_ARGS_OK) == NULL);
	CHECK(!strcmp(tryon_args_exc_type(TRYON_ARGS_TYPE_ERROR), "TypeError"));
	CHECK(!strcmp(tryon_args_exc_type(TRYON_ARGS_VALUE_ERROR), "ValueError"));
	CHECK(!strcmp(tryon_args_exc_type(TRYON_ARGS_NO_MEMORY), "MemoryError"));
}

int main(void)
{
	RUN(test_table);
	RUN(test_escaped_values);
	RUN(test_data_uris);
	RUN(test_long_names);
	RUN(test_many);
	RUN(test_free_and_names);
	return harness_report();
}
