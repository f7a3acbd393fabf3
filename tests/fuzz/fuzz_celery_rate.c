/* fuzz_celery_rate: libFuzzer target over the two pidbox helpers that
 * take free text from a request: Celery's rate() (rate_limit's argument,
 * "10/m" and the like), which must give a finite rate that is not
 * negative or refuse with a reason, and the glob destination matcher,
 * which must be total, with the input's first half as the pattern and
 * the rest as the worker's host name. Split from fuzz_celery_ctl so that
 * each reaches 10^7 runs in `make fuzz`. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_ctl.h"
#include "lib/json.h"
#include "ctl_text.h"

#define REQUIRE(c)                                                           \
	do {                                                                 \
		if (!(c))                                                    \
			__builtin_trap();                                    \
	} while (0)

/* Celery's rate() of the text (up to its first NUL): a rate we can keep,
 * or the reason in the reply's words. */
static void exercise_rate(const char *text)
{
	struct buf why;
	double v = -1;

	buf_init(&why);
	if (celery_control_rate(text, &v, &why) == 0)
		REQUIRE(isfinite(v) && v >= 0 && why.len == 0);
	else
		REQUIRE(why.len > 0 || why.failed);
	buf_free(&why);
}

/* Glob patterns from raw bytes: the matcher must be total. */
static void exercise_glob(const char *s, size_t n)
{
	struct celery_ctl_request r;
	struct buf b;
	size_t cut = n / 2;
	char *host = malloc(n - cut + 1);

	memcpy(host, s + cut, n - cut);
	host[n - cut] = '\0';
	buf_init(&b);
	buf_append_str(&b, "{\"method\": \"ping\", \"matcher\": \"glob\", "
			   "\"pattern\": ");
	json_write_str(&b, s, strnlen(s, cut), 0);
	buf_append_char(&b, '}');
	if (parse_text(b.data, b.len, &r) == 0)
		celery_ctl_addressed(&r, host);
	celery_ctl_request_free(&r);
	buf_free(&b);
	free(host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	memcpy(text, data, size);
	text[size] = '\0';
	exercise_rate(text);
	exercise_glob(text, size);
	free(text);
	return 0;
}
