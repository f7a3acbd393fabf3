/* tryon_keys: the key hash (see tryon_keys.h). */
#include "tryon/tryon_keys.h"

#include <bearssl.h>

_Static_assert(br_sha256_SIZE == CACHEKEY_DIGEST_LEN, "cachekey formats a SHA-256 digest");

void tryon_keys_compute(const struct tryon_args *a, char key[CACHEKEY_KEY_SIZE],
			char lock_key[CACHEKEY_LOCK_SIZE])
{
	br_sha256_context h;
	unsigned char digest[br_sha256_SIZE];

	br_sha256_init(&h);
	br_sha256_update(&h, a->person, a->person_len);
	br_sha256_update(&h, CACHEKEY_SEPARATOR, 1);
	br_sha256_update(&h, a->garment, a->garment_len);
	br_sha256_out(&h, digest);
	cachekey_format(digest, key, CACHEKEY_KEY_SIZE);
	if (lock_key)
		cachekey_lock_format(digest, lock_key, CACHEKEY_LOCK_SIZE);
}
