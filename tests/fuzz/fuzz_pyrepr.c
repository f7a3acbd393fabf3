/* fuzz_pyrepr: libFuzzer target over every pyrepr function; all must be
 * total. Input: one config byte (saferepr's maxlen, the fnmatch split),
 * then the text, taken as a str, as JSON (saferepr, exception repr, the
 * truthiness and type of every token), as a glob pattern and name, and as
 * a signal name. Every repr must be valid UTF-8 (it ends up in JSON) and
 * end as its kind does; a refused exception repr appends nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "lib/pyrepr.h"

#define REQUIRE(c)                                                           \
	do {                                                                 \
		if (!(c))                                                    \
			__builtin_trap();                                    \
	} while (0)

/* Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
static int utf8_ok(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, len, k;
	uint32_t v;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			len = 2, v = s[i] & 0x1f;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			len = 3, v = s[i] & 0x0f;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			len = 4, v = s[i] & 0x07;
		else
			return 0;
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			v = (v << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
		    (len == 4 && (v < 0x10000 || v > 0x10ffff)))
			return 0;
		i += len;
	}
	return 1;
}

static void exercise_json(const char *js, size_t n, size_t maxlen)
{
	struct json_doc d;
	struct buf out;
	int t;

	if (json_parse(&d, js, n, 4096, NULL, 0) < 0)
		return;
	buf_init(&out);
	for (t = 0; t < d.ntoks; t++) {
		const char *ty = pyrepr_type_name(&d, t);
		int tr = pyrepr_truthy(&d, t);

		REQUIRE(ty && *ty && (tr == 0 || tr == 1));
	}
	REQUIRE(pyrepr_saferepr(&out, &d, 0, 1, maxlen) == 0);
	REQUIRE(out.len > 0 && utf8_ok(out.data, out.len));
	buf_reset(&out);
	REQUIRE(pyrepr_saferepr(&out, &d, 0, 0, (size_t)-1) == 0);
	REQUIRE(out.len > 0 && utf8_ok(out.data, out.len));
	buf_reset(&out);
	if (pyrepr_exception(&out, "E", js, n) == 0)
		REQUIRE(out.len >= 3 && !memcmp(out.data, "E(", 2) &&
			out.data[out.len - 1] == ')' &&
			utf8_ok(out.data, out.len));
	else
		REQUIRE(out.len == 0 && json_kind(&d, 0) != JSON_K_ARRAY);
	buf_free(&out);
	json_doc_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 1;
	size_t n = size ? size - 1 : 0, cut;
	struct buf out;
	char *text, *pat;
	double x;
	int r;

	if (size == 0 || size > 8192)
		return 0;
	buf_init(&out);
	REQUIRE(pyrepr_str(&out, s, n) == 0);
	REQUIRE(out.len >= 2 && utf8_ok(out.data, out.len));
	REQUIRE(out.data[0] == out.data[out.len - 1]);
	buf_reset(&out);
	REQUIRE(pyrepr_exception_str(&out, "KeyError", s, n) == 0);
	buf_free(&out);

	exercise_json(s, n, data[0] * 8u);

	/* glob: the pattern before the cut, the name after */
	text = malloc(n + 1);
	memcpy(text, s, n);
	text[n] = '\0';
	cut = n ? data[0] % (n + 1) : 0;
	pat = malloc(cut + 1);
	memcpy(pat, s, cut);
	pat[cut] = '\0';
	r = pyrepr_fnmatch(text + cut, pat);
	REQUIRE(r == 0 || r == 1 || r == -1);
	if (!strchr(pat, '[') && !strchr(pat, '?') && !strchr(pat, '*') &&
	    strlen(pat) <= PYREPR_MAX_PATTERN)
		REQUIRE(r == !strcmp(pat, text + cut)); /* a literal pattern */
	buf_init(&out);
	r = pyrepr_signum(text, &out);
	REQUIRE(r > 0 ? out.len == 0 : r == -1 && out.len > 0);
	buf_free(&out);
	free(pat);
	free(text);

	if (n >= sizeof x) {
		memcpy(&x, s, sizeof x);
		REQUIRE(pyrepr_round(x) >= 0);
		x = pyrepr_round2(x);
		(void)x;
	}
	return 0;
}
