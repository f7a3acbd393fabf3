/* Unit tests for kombu_unacked_parse: what kombu_unacked_value writes comes
 * back apart, byte for byte, and anything else is refused cleanly. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "celery/kombu.h"

static void test_round_trip(void)
{
	static const char env[] = "{\"body\": \"e30=\", \"headers\": {\"id\": \"x\"}, \"properties\": {}}";
	struct buf v;
	size_t off, n;
	char *ex, *rk, err[128];

	buf_init(&v);
	CHECK(kombu_unacked_value(&v, env, strlen(env), "", "tryon_queue") == 0);
	CHECK(kombu_unacked_parse(v.data, v.len, &off, &n, &ex, &rk, err, sizeof err) == 0);
	CHECK(n == strlen(env) && !memcmp(v.data + off, env, n));
	CHECK(ex && !strcmp(ex, ""));
	CHECK(rk && !strcmp(rk, "tryon_queue"));
	free(ex);
	free(rk);
	buf_reset(&v);
	/* Escaped names come back unescaped. */
	CHECK(kombu_unacked_value(&v, env, strlen(env), "ex\"\xc3\xa9", "q\\1") == 0);
	CHECK(kombu_unacked_parse(v.data, v.len, &off, &n, &ex, &rk, err, sizeof err) == 0);
	CHECK(ex && !strcmp(ex, "ex\"\xc3\xa9"));
	CHECK(rk && !strcmp(rk, "q\\1"));
	free(ex);
	free(rk);
	buf_free(&v);
}

static void test_hostile_values(void)
{
	static const struct { const char *v; int ok; int ex; int rk; } cases[] = {
		{ "[{}, \"\", \"q\"]", 1, 1, 1 },
		{ "[{}]", 1, 0, 0 },                    /* names missing: NULL */
		{ "[{}, 5, null]", 1, 0, 0 },           /* not strings: NULL */
		{ "[{}, \"a\\u0000b\", \"q\"]", 1, 0, 1 }, /* a NUL: not a C string */
		{ "[]", 0, 0, 0 },
		{ "[\"s\", \"\", \"q\"]", 0, 0, 0 },     /* envelope not an object */
		{ "{}", 0, 0, 0 },
		{ "", 0, 0, 0 },
		{ "[{}, \"\", \"q\"", 0, 0, 0 },
		{ "junk", 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t off = 99, n = 99;
		char *ex = (char *)1, *rk = (char *)1, err[128] = "";
		int rc = kombu_unacked_parse(cases[i].v, strlen(cases[i].v), &off, &n, &ex, &rk, err, sizeof err);
		CHECK(rc == (cases[i].ok ? 0 : -1));
		CHECK((ex != NULL) == cases[i].ex);
		CHECK((rk != NULL) == cases[i].rk);
		if (rc < 0)
			CHECK(err[0] && off == 0 && n == 0);
		else
			CHECK(n > 0 && cases[i].v[off] == '{');
		free(ex);
		free(rk);
	}
}

int main(void)
{
	RUN(test_round_trip);
	RUN(test_hostile_values);
	return harness_report();
}
