/* libFuzzer target for kombu_unacked_parse, which reads unacked values
 * back from Redis (parked ETA messages, recovery). Any input: it returns 0
 * or -1, never reads outside the value, and on 0 the envelope span lies
 * inside the value and starts with '{'; names have no NUL inside. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "celery/kombu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off, len;
	char *ex, *rk, err[128];
	/* A copy without a terminator, so reading past size is caught. */
	char *v = malloc(size ? size : 1);

	if (!v)
		return 0;
	memcpy(v, data, size);
	int rc = kombu_unacked_parse(v, size, &off, &len, &ex, &rk, err, sizeof err);
	if (rc == 0) {
		if (off > size || len > size - off || len == 0 || v[off] != '{')
			abort();
	} else if (rc != -1 || ex || rk || off || len || !err[0]) {
		abort();
	}
	free(ex);
	free(rk);
	free(v);
	return 0;
}
