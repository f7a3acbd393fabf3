/* libFuzzer target for fal_parse. Input: one byte choosing the answer kind
 * (submit, status, result, error body), then the body. Checks:
 *  - submit: on 0 request_id is non-empty, URLs are NULL or non-empty, the
 *    queue position is -1 or in 0..999999999; on -1 everything is zeroed;
 *  - status: the kind is one of the four; the position changes only to a
 *    valid value and only for IN_QUEUE;
 *  - result: on 0 a non-empty NUL-terminated string of length ulen or
 *    more (an embedded NUL cuts strlen), else NULL;
 *  - error body: NUL-terminated within the buffer, and a smaller buffer
 *    gives a prefix of it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tryon/fal_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned kind = data[0] & 3u;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;

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
