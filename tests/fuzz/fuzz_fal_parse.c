/* libFuzzer target for fal_parse. Input: one byte choosing the answer kind
 * (submit, status, result, error body; with bit 2 set, a status stream cut
 * at the offset the next byte names), then the body. Checks:
 *  - submit: on 0 request_id is non-empty, URLs are NULL or non-empty, the
 *    queue position is -1 or in 0..999999999; on -1 everything is zeroed;
 *  - status: the kind is one of the four; the position changes only to a
 *    valid value and only for IN_QUEUE;
 *  - result: on 0 a non-empty NUL-terminated string of length ulen or
 *    more (an embedded NUL cuts strlen), else NULL;
 *  - error body: NUL-terminated within the buffer, and a smaller buffer
 *    gives a prefix of it;
 *  - stream: every event's data is NUL-terminated at outn < outlen, used
 *    is within the input and moves forward, and the events (or the point
 *    where one is too big) are the same read whole or in two pieces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tryon/fal_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read every event of p[0..len), as a stream arriving in two pieces split
 * at cut; a running hash of the events (data and count) and how it ended. */
static uint64_t sse_run(const char *p, size_t len, size_t cut, int *end)
{
	static char out[64];
	uint64_t h = 1469598103934665603ull;
	size_t start = 0;

	for (int pass = 0; pass < 2; pass++) {
		size_t have = pass ? len : cut;
		for (;;) {
			size_t used = 7, n = 7;
			int r = fal_sse_next(p + start, have - start, &used, out, sizeof out, &n);
			if (r == -1) {
				*end = -1;
				return h;
			}
			if (r == 0) {
				if (used || n)
					abort();
				break;
			}
			if (r != 1 || used == 0 || used > have - start || n >= sizeof out || out[n] != '\0')
				abort();
			for (size_t i = 0; i < n; i++)
				h = (h ^ (unsigned char)out[i]) * 1099511628211ull;
			h = (h ^ 0x100u ^ n) * 1099511628211ull;
			start += used;
		}
	}
	*end = start == len ? 1 : 0;
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned kind = data[0] & 3u;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;

	if ((data[0] & 4u) && len >= 1) {
		size_t cut = (unsigned char)body[0] % len;
		int e1, e2;
		body++;
		len--;
		if (cut > len)
			cut = len;
		uint64_t whole = sse_run(body, len, len, &e1);
		uint64_t split = sse_run(body, len, cut, &e2);
		if (whole != split || e1 != e2)
			abort();
		return 0;
	}

	if (kind == 0) {
		struct fal_submit_answer a;
		int r = fal_parse_submit(body, len, &a);
		if (r == 0) {
			if (!a.request_id || !*a.request_id)
				abort();
			if ((a.status_url && !*a.status_url) || (a.response_url && !*a.response_url) ||
			    (a.cancel_url && !*a.cancel_url))
				abort();
			if (a.queue_position < -1 || a.queue_position > 999999999)
				abort();
		} else if (r != -1 || a.request_id || a.status_url || a.response_url || a.cancel_url ||
			   a.queue_position != -1) {
			abort();
		}
		fal_submit_answer_free(&a);
	} else if (kind == 1) {
		enum fal_status_kind k;
		int qp = -7;
		int r = fal_parse_status(body, len, &k, &qp);
		if (r != 0 && r != -1)
			abort();
		if (k != FAL_STATUS_UNKNOWN && k != FAL_STATUS_IN_QUEUE && k != FAL_STATUS_IN_PROGRESS &&
		    k != FAL_STATUS_COMPLETED)
			abort();
		if (r < 0 && k != FAL_STATUS_UNKNOWN)
			abort();
		if (qp != -7 && (k != FAL_STATUS_IN_QUEUE || qp < 0 || qp > 999999999))
			abort();
	} else if (kind == 2) {
		char *u = (char *)1;
		size_t n = 99;
		int r = fal_parse_result(body, len, &u, &n);
		if (r == 0) {
			if (!u || !*u || strlen(u) > n || u[n] != '\0')
				abort();
		} else if ((r != -1 && r != -2) || u) {
			abort();
		}
		free(u);
	} else {
		char big[200], small[17];
		fal_parse_error_detail(body, len, big, sizeof big);
		if (!memchr(big, '\0', sizeof big))
			abort();
		fal_parse_error_detail(body, len, small, sizeof small);
		if (!memchr(small, '\0', sizeof small) || strncmp(big, small, strlen(small)))
			abort();
	}
	return 0;
}
