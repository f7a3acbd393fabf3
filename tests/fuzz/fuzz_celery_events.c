/* fuzz_celery_events: libFuzzer target over what turns text from the
 * wire into worker output without a pidbox request around it: Celery's
 * rate() of the raw text (rate_limit's argument), the glob matcher with
 * the first half as the pattern and the rest as the host name, and the
 * worker and task event builders with the text in a string field the
 * input picks (task ids, names, reprs and tracebacks reach them from
 * messages). Every
 * event built must be valid JSON; a rate is finite and not negative, or
 * refused with a reason. Split from fuzz_celery_ctl so that each reaches
 * 10^7 runs in `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_events.h"
#include "lib/json.h"

#define REQUIRE(c)                                                           \
	do {                                                                 \
		if (!(c))                                                    \
			__builtin_trap();                                    \
	} while (0)

/* The input as text in one string field of a worker event (first byte
 * 0xf8 and above) or of the task event the first byte picks; the second
 * byte picks the field, the others hold a short fixed text. Every field
 * goes through the same escaping, so the text in all of them at once,
 * in both builders, only multiplied the cost of a run (1,600 runs/s,
 * short of 10^7 in `make fuzz`). */
static void exercise_events(const char *s, const uint8_t *data, size_t size)
{
	struct celery_events_base b;
	struct celery_events_worker w;
	struct celery_events_task t;
	struct buf ch, out;
	const char **wslot[4], **tslot[10];
	const char *wtype = "worker-heartbeat";
	char err[200];
	int pick = size ? data[0] : 0, field = size > 1 ? data[1] : 0;
	int type;

	memset(&b, 0, sizeof b);
	memset(&w, 0, sizeof w);
	b.hostname = "w1@vm";
	b.delivery_tag = "tag";
	b.timestamp = 1795677514.1566782;
	w.sw_ver = "5.2.6";
	w.loadavg[0] = (double)strlen(s) / 7.0;
	wslot[0] = &b.hostname;
	wslot[1] = &b.delivery_tag;
	wslot[2] = &w.sw_ver;
	wslot[3] = &wtype;
	buf_init(&ch);
	buf_init(&out);
	if (pick >= 0xf8) {
		*wslot[field % 4] = s;
		REQUIRE(celery_events_worker_build(&ch, &out, 0, wtype, &b, &w,
						err, sizeof err) == 0);
		REQUIRE(json_validate(out.data, out.len, NULL, 0) > 0);
		buf_free(&ch);
		buf_free(&out);
		return;
	}
	type = pick % 8; /* 7 is out of range and must be refused */
	memset(&t, 0, sizeof t);
	t.type = type;
	t.uuid = "d2b8c1a4-0b7e-4c3e-9d0a-3f1e2a4b5c6d";
	t.name = "app.tasks.virtual_tryon";
	t.args_repr = "('a', 'b')";
	t.kwargs_repr = "{}";
	t.eta = "2030-01-01T00:00:00+00:00";
	t.result_repr = "'https://x/y.png'";
	t.exception_repr = "ValueError('no')";
	t.traceback = "Traceback (most recent call last):";
	t.multi = pick & 8;
	tslot[0] = &t.uuid;
	tslot[1] = &t.name;
	tslot[2] = &t.args_repr;
	tslot[3] = &t.kwargs_repr;
	tslot[4] = &t.eta;
	tslot[5] = &t.result_repr;
	tslot[6] = &t.exception_repr;
	tslot[7] = &t.traceback;
	tslot[8] = &b.hostname;
	tslot[9] = &b.delivery_tag;
	*tslot[field % 10] = s;
	buf_reset(&ch);
	buf_reset(&out);
	if (type > CELERY_EVENTS_TASK_REVOKED) {
		REQUIRE(celery_events_task_build(&ch, &out, 3, &b, &t, err,
					      sizeof err) == -1);
		REQUIRE(ch.len == 0 && out.len == 0);
	} else {
		REQUIRE(celery_events_task_build(&ch, &out, 3, &b, &t, err,
					      sizeof err) == 0);
		REQUIRE(json_validate(out.data, out.len, NULL, 0) > 0);
	}
	buf_free(&ch);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	memcpy(text, data, size);
	text[size] = '\0';
	exercise_events(text, data, size);
	free(text);
	return 0;
}
