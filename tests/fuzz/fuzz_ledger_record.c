/* fuzz_ledger_record: the recorded-request parser takes bytes from Redis. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tryon/ledger_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ledger_request r;
	char err[128], out[4096];
	if (ledger_request_parse((const char *)data, size, &r, err, sizeof err) == 0) {
		/* What parses formats and parses back to the same record. */
		struct ledger_request again;
		if (ledger_request_format(&r, out, sizeof out) == 0 &&
		    (ledger_request_parse(out, strlen(out), &again, err, sizeof err) != 0 ||
		     strcmp(again.request_id, r.request_id) || strcmp(again.model, r.model)))
			__builtin_trap();
	}
	return 0;
}
