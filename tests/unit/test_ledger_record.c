/* test_ledger_record: the recorded paid request, round trip and refusals. */
#include <string.h>

#include "harness.h"
#include "tryon/ledger_record.h"

static struct ledger_request sample(void)
{
	struct ledger_request r;
	memset(&r, 0, sizeof r);
	strcpy(r.model, "primary");
	strcpy(r.endpoint, "fal-ai/flux-2-lora-gallery/virtual-tryon");
	strcpy(r.request_id, "764cabcf-b745-4b3e-ae38-1200304cf45b");
	strcpy(r.status_url, "https://queue.fal.run/fal-ai/flux-2-lora-gallery/requests/764c/status");
	strcpy(r.response_url, "https://queue.fal.run/fal-ai/flux-2-lora-gallery/requests/764c");
	strcpy(r.cancel_url, "https://queue.fal.run/fal-ai/flux-2-lora-gallery/requests/764c/cancel");
	r.submitted = 1796817600.123456;
	r.hedge = 1;
	strcpy(r.task_id, "d9f3c1e2-0000-4000-8000-000000000001");
	return r;
}

static void test_round_trip(void)
{
	struct ledger_request a = sample(), b;
	char buf[4096], err[128];
	CHECK(ledger_request_format(&a, buf, sizeof buf) == 0);
	CHECK(ledger_request_parse(buf, strlen(buf), &b, err, sizeof err) == 0);
	CHECK(!strcmp(a.model, b.model) && !strcmp(a.endpoint, b.endpoint) &&
	      !strcmp(a.request_id, b.request_id) && !strcmp(a.status_url, b.status_url) &&
	      !strcmp(a.response_url, b.response_url) && !strcmp(a.cancel_url, b.cancel_url) &&
	      !strcmp(a.task_id, b.task_id) && a.hedge == b.hedge);
	CHECK(b.submitted > a.submitted - 1e-5 && b.submitted < a.submitted + 1e-5);
	/* Too small a buffer is refused, not cut. */
	CHECK(ledger_request_format(&a, buf, 64) == -1);
}

static void test_refusals(void)
{
	static const char *const bad[] = {
		"", "[]", "{}", "null", "{\"model\": \"primary\"}",
		"{\"model\": \"tertiary\", \"endpoint\": \"e\", \"request_id\": \"r\", \"submitted\": 1}",
		"{\"model\": \"primary\", \"endpoint\": \"e\", \"request_id\": \"r\"}",
		"{\"model\": \"primary\", \"endpoint\": \"e\", \"request_id\": \"r\", \"submitted\": \"x\"}",
		"{\"model\": \"primary\", \"endpoint\": 7, \"request_id\": \"r\", \"submitted\": 1}",
		"{\"model\": \"primary\", \"endpoint\": \"e\", \"request_id\": \"r\\u0000x\", \"submitted\": 1}",
		"{\"model\": \"primary\", \"endpoint\": \"e\", \"request_id\": \"r\", \"submitted\": 1e400}",
	};
	struct ledger_request r;
	char err[128];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = ledger_request_parse(bad[i], strlen(bad[i]), &r, err, sizeof err);
		if (rc != -1)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(rc == -1);
	}
	/* Optional fields may be missing; a model name too long is refused. */
	const char *ok = "{\"model\": \"backup\", \"endpoint\": \"e\", \"request_id\": \"r\", \"submitted\": 2}";
	CHECK(ledger_request_parse(ok, strlen(ok), &r, err, sizeof err) == 0 && r.hedge == 0 && !r.status_url[0]);
	char big[2000];
	snprintf(big, sizeof big, "{\"model\": \"backup\", \"endpoint\": \"e\", \"request_id\": \"%0200d\", \"submitted\": 2}", 1);
	CHECK(ledger_request_parse(big, strlen(big), &r, err, sizeof err) == -1);
}

int main(void)
{
	RUN(test_round_trip);
	RUN(test_refusals);
	return harness_report();
}
