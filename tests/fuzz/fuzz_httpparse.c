/* libFuzzer target for httpparse. Input: one config byte (limits), then the
 * bytes a client sent. Checks: the answer is one of the three; a DONE head
 * lies inside the input and the limits, its path inside the head; an ERROR
 * carries a status we send and a reason; the answer for every prefix (all
 * of them for short inputs, a seeded sample for long ones) is AGAIN or the
 * same answer; bytes after a complete head change nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/httpparse.h"

static int same(const struct httpparse_request *a, const struct httpparse_request *b)
{
	return a->status == b->status && a->method == b->method && a->path_off == b->path_off &&
	       a->path_len == b->path_len && a->head_len == b->head_len &&
	       a->minor_version == b->minor_version && a->n_headers == b->n_headers;
}

static void check_one(const char *p, size_t n, const struct httpparse_limits *lim,
		      const struct httpparse_request *whole, int whole_rc, size_t k)
{
	struct httpparse_request r;
	int rc = httpparse_request(p, k, lim, &r);
	if (rc == HTTPPARSE_AGAIN)
		return;
	if (rc != whole_rc || !same(&r, whole))
		abort();
	(void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct httpparse_limits lim = HTTPPARSE_DEFAULT_LIMITS;
	uint8_t cfg = data[0];
	if (cfg & 1) {
		lim.max_head = 1 + (cfg >> 1);
		lim.max_target = 1 + ((cfg >> 3) & 15);
		lim.max_headers = (cfg >> 5) & 7;
	}
	/* A copy without slack, so reading past the end is caught. */
	size_t n = size - 1;
	char *p = malloc(n ? n : 1);
	if (!p)
		return 0;
	memcpy(p, data + 1, n);

	struct httpparse_request whole;
	int rc = httpparse_request(p, n, &lim, &whole);
	if (rc == HTTPPARSE_DONE) {
		if (whole.head_len == 0 || whole.head_len > n || whole.head_len > lim.max_head ||
		    p[whole.head_len - 1] != '\n')
			abort();
		if (whole.path_off + whole.path_len > whole.head_len ||
		    whole.method_off + whole.method_len > whole.head_len || whole.method_len == 0)
			abort();
		for (size_t i = 0; i < whole.path_len; i++) {
			unsigned char c = (unsigned char)p[whole.path_off + i];
			if (c < 0x21 || c > 0x7e || c == '?')
				abort();
		}
		if (whole.path_len && p[whole.path_off] != '/')
			abort();
		/* Nothing after the head matters. */
		struct httpparse_request cut;
		if (httpparse_request(p, whole.head_len, &lim, &cut) != HTTPPARSE_DONE || !same(&cut, &whole))
			abort();
	} else if (rc == HTTPPARSE_ERROR) {
		if (!whole.reason || !*whole.reason || !*httpparse_status_text(whole.status) ||
		    whole.status < 400 || whole.status > 505)
			abort();
	} else if (rc != HTTPPARSE_AGAIN) {
		abort();
	} else if (n >= lim.max_head) {
		abort();   /* a full buffer must get an answer */
	}

	if (rc != HTTPPARSE_AGAIN) {
		if (n <= 512) {
			for (size_t k = 0; k < n; k++)
				check_one(p, n, &lim, &whole, rc, k);
		} else {
			uint32_t x = 0x9e3779b9u ^ (uint32_t)n;
			for (int i = 0; i < 256; i++) {
				x ^= x << 13, x ^= x >> 17, x ^= x << 5;
				check_one(p, n, &lim, &whole, rc, x % n);
			}
		}
	}
	free(p);
	return 0;
}
