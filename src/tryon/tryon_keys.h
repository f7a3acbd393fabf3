/* tryon_keys: the cache and single-flight lock keys of a try-on, computed in
 * one place so the parent's cache-hit path and the job child name the same
 * entry: SHA-256 over person + "|" + garment, formatted by cachekey. Not pure
 * (BearSSL's br_sha256), hence apart from tryon_args; no I/O, no allocation. */
#ifndef TRYON_TRYON_KEYS_H
#define TRYON_TRYON_KEYS_H
#include "tryon/cachekey.h"
#include "tryon/tryon_args.h"

/* Write the cache key ("tryon:" + 16 hex) into key and, when lock_key is not
 * NULL, the lock key ("tryon:lock:" + the same 16 hex) into lock_key. a must
 * be decoded (tryon_args_decode returned TRYON_ARGS_OK). */
void tryon_keys_compute(const struct tryon_args *a, char key[CACHEKEY_KEY_SIZE],
			char lock_key[CACHEKEY_LOCK_SIZE]);
#endif
