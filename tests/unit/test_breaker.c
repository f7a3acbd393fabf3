/* Unit tests of the circuit breaker (pure, times passed in) and of the
 * parent's tryon_state, fed with the "extra" objects children write. */
#include <string.h>

#include "breaker.h"
#include "config.h"
#include "harness.h"
#include "tryon_state.h"

static void test_opens_after_threshold(void)
{
	struct breaker b;

	breaker_init(&b, 3, 10, 60);
	CHECK(breaker_decide(&b, 0) == BREAKER_ALLOW);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 1) == 0);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 2) == 0);
	/* A success in between resets the count. */
	CHECK(breaker_record(&b, BREAKER_SUCCESS, 0, 3) == 0);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 4) == 0);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 5) == 0);
	/* Neutral results neither count nor reset. */
	CHECK(breaker_record(&b, BREAKER_NEUTRAL, 0, 5.5) == 0);
	CHECK(b.state == BREAKER_CLOSED);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 6) == 1);
	CHECK(b.state == BREAKER_OPEN);
	CHECK(b.opens == 1);
	CHECK(breaker_decide(&b, 7) == BREAKER_SKIP);
	CHECK(breaker_decide(&b, 15.9) == BREAKER_SKIP);
}

static void test_probe_success_closes(void)
{
	struct breaker b;

	breaker_init(&b, 1, 10, 60);
	breaker_record(&b, BREAKER_FAILURE, 0, 0);
	CHECK(b.state == BREAKER_OPEN);
	CHECK(breaker_decide(&b, 10) == BREAKER_PROBE);
	CHECK(b.state == BREAKER_HALF_OPEN);
	/* Only one probe at a time. */
	CHECK(breaker_decide(&b, 10.1) == BREAKER_SKIP);
	CHECK(breaker_decide(&b, 11) == BREAKER_SKIP);
	CHECK(breaker_record(&b, BREAKER_SUCCESS, 1, 12) == 1);
	CHECK(b.state == BREAKER_CLOSED);
	CHECK(breaker_decide(&b, 12) == BREAKER_ALLOW);
}

static void test_probe_failure_reopens(void)
{
	struct breaker b;

	breaker_init(&b, 2, 5, 60);
	breaker_record(&b, BREAKER_FAILURE, 0, 0);
	breaker_record(&b, BREAKER_FAILURE, 0, 1);
	CHECK(b.state == BREAKER_OPEN);
	CHECK(breaker_decide(&b, 6) == BREAKER_PROBE);
	CHECK(breaker_record(&b, BREAKER_FAILURE, 1, 7) == 1);
	CHECK(b.state == BREAKER_OPEN);
	CHECK(b.opens == 2);
	/* A fresh cool-down from the probe's failure. */
	CHECK(breaker_decide(&b, 11.9) == BREAKER_SKIP);
	CHECK(breaker_decide(&b, 12) == BREAKER_PROBE);
}

static void test_probe_release_and_timeout(void)
{
	struct breaker b;

	breaker_init(&b, 1, 5, 30);
	breaker_record(&b, BREAKER_FAILURE, 0, 0);
	CHECK(breaker_decide(&b, 5) == BREAKER_PROBE);
	/* The probing job never called (cache hit): the next one probes. */
	breaker_release_probe(&b);
	CHECK(breaker_decide(&b, 6) == BREAKER_PROBE);
	/* Its job died without reporting: after probe_timeout another goes. */
	CHECK(breaker_decide(&b, 20) == BREAKER_SKIP);
	CHECK(breaker_decide(&b, 36.1) == BREAKER_PROBE);
	/* A neutral probe result frees the slot without deciding. */
	CHECK(breaker_record(&b, BREAKER_NEUTRAL, 1, 37) == 0);
	CHECK(b.state == BREAKER_HALF_OPEN);
	CHECK(breaker_decide(&b, 37) == BREAKER_PROBE);
}

static void test_late_results(void)
{
	struct breaker b;

	breaker_init(&b, 1, 100, 300);
	breaker_record(&b, BREAKER_FAILURE, 0, 0);
	/* A job allowed before it opened fails too: nothing changes. */
	CHECK(breaker_record(&b, BREAKER_FAILURE, 0, 1) == 0);
	CHECK(b.opened_at == 0);
	/* ... or succeeds: the endpoint works, close it. */
	CHECK(breaker_record(&b, BREAKER_SUCCESS, 0, 2) == 1);
	CHECK(b.state == BREAKER_CLOSED);
}

static void test_names(void)
{
	CHECK(!strcmp(breaker_state_name(BREAKER_HALF_OPEN), "half_open"));
	CHECK(!strcmp(breaker_decision_name(BREAKER_PROBE), "probe"));
	CHECK(BREAKER_ALLOW == 0);
}

/* -- tryon_state -------------------------------------------------------- */

static void state_init(struct tryon_state *st, struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->primary_endpoint = "fal-ai/flux-2-lora-gallery/virtual-tryon";
	cfg->backup_endpoint = "fal-ai/fashn/tryon/v1.6";
	cfg->cache_url = "redis://127.0.0.1:6379/0";
	cfg->fal_key = "x";
	cfg->price_primary = 0.05;
	cfg->price_backup = 0.075;
	cfg->breaker_threshold = 2;
	cfg->breaker_cooldown = 30;
	cfg->time_limit = 30;
	tryon_state_init(st, cfg);
}

static void absorb(struct tryon_state *st, const struct tryon_hints *h, const char *s, double now)
{
	tryon_state_absorb(st, h, s, s ? strlen(s) : 0, now);
}

#define CALL(model, outcome, lat, cost) \
	"{\"model\": \"" model "\", \"endpoint\": \"e\", \"outcome\": \"" outcome "\", " \
	"\"latency\": " #lat ", \"cost\": " #cost ", \"status\": 200, \"probe\": false, \"cancelled\": false}"

static void test_state_spend_and_latency(void)
{
	struct config cfg;
	struct tryon_state st;
	struct tryon_hints h;

	state_init(&st, &cfg);
	tryon_state_hints(&st, 0, &h);
	CHECK(h.gate[TRYON_PRIMARY] == BREAKER_ALLOW && h.gate[TRYON_BACKUP] == BREAKER_ALLOW);
	CHECK(h.backup_latency == 0);
	absorb(&st, &h, "{\"path\": \"backup\", \"cache\": \"miss\", \"singleflight\": \"holder\", \"calls\": ["
	       CALL("primary", "transient", 0.2, 0.05) ", " CALL("backup", "ok", 10, 0.075) "]}", 1);
	CHECK(st.paths_backup == 1);
	CHECK(st.cache[TRYON_CACHE_MISS] == 1);
	CHECK(st.singleflight_locks == 1);
	CHECK(tryon_state_outcomes(&st, TRYON_PRIMARY, TRYON_OUT_TRANSIENT) == 1);
	CHECK(tryon_state_outcomes(&st, TRYON_BACKUP, TRYON_OUT_OK) == 1);
	CHECK(st.model[TRYON_PRIMARY].paid_calls == 1);
	absorb(&st, &h, "{\"path\": \"backup\", \"cache\": \"miss\", \"calls\": [" CALL("backup", "ok", 20, 0.075) "]}", 2);
	double spend = tryon_state_spend(&st, TRYON_BACKUP);
	CHECK(spend > 0.1499 && spend < 0.1501);
	tryon_state_hints(&st, 3, &h);
	/* EWMA: 10 then 0.3 * 20 + 0.7 * 10 = 13. */
	CHECK(h.backup_latency > 12.99 && h.backup_latency < 13.01);
	/* The primary failed once (threshold 2): still closed. */
	CHECK(tryon_state_breaker(&st, TRYON_PRIMARY) == BREAKER_CLOSED);
}

static void test_state_breaker_cycle(void)
{
	struct config cfg;
	struct tryon_state st;
	struct tryon_hints h;
	const char *fail = "{\"path\": \"backup\", \"cache\": \"miss\", \"calls\": ["
			   CALL("primary", "transient", 0.1, 0) ", " CALL("backup", "ok", 1, 0.075) "]}";

	state_init(&st, &cfg);
	tryon_state_hints(&st, 0, &h);
	absorb(&st, &h, fail, 1);
	absorb(&st, &h, fail, 2);
	CHECK(tryon_state_breaker(&st, TRYON_PRIMARY) == BREAKER_OPEN);
	tryon_state_hints(&st, 3, &h);
	CHECK(h.gate[TRYON_PRIMARY] == BREAKER_SKIP && h.gate[TRYON_BACKUP] == BREAKER_ALLOW);
	absorb(&st, &h, "{\"path\": \"backup\", \"cache\": \"miss\", \"calls\": ["
	       "{\"model\": \"primary\", \"outcome\": \"skipped\"}, " CALL("backup", "ok", 1, 0.075) "]}", 4);
	CHECK(tryon_state_outcomes(&st, TRYON_PRIMARY, TRYON_OUT_SKIPPED) == 1);

	/* After the cool-down one job probes; a cache hit releases it. */
	tryon_state_hints(&st, 40, &h);
	CHECK(h.gate[TRYON_PRIMARY] == BREAKER_PROBE);
	struct tryon_hints h2;
	tryon_state_hints(&st, 40, &h2);
	CHECK(h2.gate[TRYON_PRIMARY] == BREAKER_SKIP);
	absorb(&st, &h, "{\"path\": \"cache\", \"cache\": \"hit\", \"calls\": []}", 41);
	tryon_state_hints(&st, 42, &h);
	CHECK(h.gate[TRYON_PRIMARY] == BREAKER_PROBE);
	absorb(&st, &h2, "{\"path\": \"backup\", \"cache\": \"miss\", \"calls\": [" CALL("backup", "ok", 1, 0.075) "]}", 42);
	/* The probe succeeds: closed again. */
	absorb(&st, &h, "{\"path\": \"primary\", \"cache\": \"miss\", \"calls\": [" CALL("primary", "ok", 1, 0.05) "]}", 43);
	CHECK(tryon_state_breaker(&st, TRYON_PRIMARY) == BREAKER_CLOSED);
	CHECK(st.model[TRYON_PRIMARY].breaker.opens == 1);

	/* A probe whose job died (no extra) is released too. */
	absorb(&st, &h, fail, 50);
	absorb(&st, &h, fail, 51);
	tryon_state_hints(&st, 90, &h);
	CHECK(h.gate[TRYON_PRIMARY] == BREAKER_PROBE);
	absorb(&st, &h, NULL, 91);
	CHECK(st.jobs_no_extra == 1);
	tryon_state_hints(&st, 92, &h);
	CHECK(h.gate[TRYON_PRIMARY] == BREAKER_PROBE);
}

static void test_state_cache_outage(void)
{
	struct config cfg;
	struct tryon_state st;
	struct tryon_hints h;

	state_init(&st, &cfg);
	memset(&h, 0, sizeof h);
	absorb(&st, &h, "{\"path\": \"primary\", \"cache\": \"error\", \"cache_error\": \"connect: refused\", \"calls\": []}", 1);
	CHECK(st.cache_outage == 1);
	absorb(&st, &h, "{\"path\": \"primary\", \"cache\": \"error\", \"calls\": []}", 2);
	CHECK(st.cache[TRYON_CACHE_ERROR] == 2);
	absorb(&st, &h, "{\"path\": \"cache\", \"cache\": \"hit\", \"singleflight\": \"waited\"}", 3);
	CHECK(st.cache_outage == 0);
	CHECK(st.singleflight_waits == 1);
	CHECK(tryon_state_cache(&st, TRYON_CACHE_HIT) == 1);
}

static void test_state_garbage(void)
{
	static const char *const bad[] = {
		"", "[]", "{", "null", "{\"calls\": 5}", "{\"calls\": [1, \"x\", {\"model\": 3}]}",
		"{\"calls\": [{\"model\": \"primary\", \"outcome\": \"nope\"}]}",
		"{\"calls\": [{\"model\": \"primary\", \"outcome\": \"ok\", \"cost\": -1, \"latency\": 1e300}]}",
		"{\"path\": 1, \"cache\": \"hot\", \"singleflight\": null}",
	};
	struct config cfg;
	struct tryon_state st;

	state_init(&st, &cfg);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		absorb(&st, NULL, bad[i], (double)i);
	CHECK(st.jobs == sizeof bad / sizeof bad[0]);
	CHECK(st.model[TRYON_PRIMARY].spend == 0);
	CHECK(st.model[TRYON_PRIMARY].latency_n == 0);
	CHECK(tryon_outcome_parse("timeout", 7) == TRYON_OUT_TIMEOUT);
	CHECK(tryon_cache_parse("garbage", 7) == TRYON_CACHE_GARBAGE);
	CHECK(tryon_outcome_parse("ok!", 3) == -1);
}

int main(void)
{
	RUN(test_opens_after_threshold);
	RUN(test_probe_success_closes);
	RUN(test_probe_failure_reopens);
	RUN(test_probe_release_and_timeout);
	RUN(test_late_results);
	RUN(test_names);
	RUN(test_state_spend_and_latency);
	RUN(test_state_breaker_cycle);
	RUN(test_state_cache_outage);
	RUN(test_state_garbage);
	return harness_report();
}
