/* tryon_args: the one decoder of app.tasks.virtual_tryon(person_url,
 * garment_url)'s arguments, used by the job child and by the parent's
 * cache-hit path so both decide a call the same way. It binds args/kwargs as
 * CPython 3.11 binds f(*args, **kwargs) for `def virtual_tryon(person_url,
 * garment_url)` (same checks, order and messages), then checks the values as
 * the task body does. Pure: no hashing (tryon_keys does that), no I/O. */
#ifndef TRYON_TRYON_ARGS_H
#define TRYON_TRYON_ARGS_H
#include <stddef.h>

#include "celery/celery_msg.h"

/* A message buffer of this size holds every message except an unexpected
 * keyword argument name longer than about 900 bytes (cut, see below). */
#define TRYON_ARGS_MSG_SIZE 1024

enum tryon_args_status {
	TRYON_ARGS_OK,
	TRYON_ARGS_TYPE_ERROR,   /* Python raises TypeError binding the call */
	TRYON_ARGS_VALUE_ERROR,  /* the task body refuses a value (ValueError) */
	TRYON_ARGS_NO_MEMORY     /* MemoryError; msg is "" */
};

/* The two URL arguments, each a malloc'd NUL-terminated copy owned by the
 * struct. After TRYON_ARGS_OK both passed cachekey_validate_input, so they
 * are printable ASCII with no NUL (len == strlen). */
struct tryon_args {
	char *person;
	size_t person_len;
	char *garment;
	size_t garment_len;
};

/* Decode the arguments of body b (protocol 1 or 2, as celery_body_parse left
 * it). max_data_uri_bytes is TRYON_MAX_DATA_URI_BYTES (0 refuses data URIs).
 * *out is zeroed first and filled only on TRYON_ARGS_OK; otherwise it is left
 * zeroed. msg gets the exception's one argument, NUL-terminated (msg NULL or
 * msglen 0: none):
 *   TYPE_ERROR, first failing check wins, in CPython's order:
 *     1. each keyword in dict order (first occurrence; the value is the last
 *        duplicate, as json.loads keeps):
 *        "virtual_tryon() got an unexpected keyword argument 'K'" or
 *        "virtual_tryon() got multiple values for argument 'person_url'";
 *     2. "virtual_tryon() takes 2 positional arguments but N were given";
 *     3. "virtual_tryon() missing 1 required positional argument: 'X'" /
 *        "virtual_tryon() missing 2 required positional arguments:
 *        'person_url' and 'garment_url'".
 *     K is the name as str() shows it (not repr), except that a NUL or a lone
 *     surrogate in it, which a C string cannot carry, is written as the text
 *     \x00 / \udXXX, and a name that does not fit msg is cut at a UTF-8
 *     boundary. Python puts the whole name in its message.
 *   VALUE_ERROR, person_url before garment_url, types before URLs:
 *     "person_url: must be a string", then "person_url <why>" with why from
 *     cachekey_validate_input (never quoting the value).
 * Lone surrogates in a value are kept as their 3-byte (WTF-8) form, which the
 * URL check refuses like any non-ASCII character. */
enum tryon_args_status tryon_args_decode(const struct celery_body *b, size_t max_data_uri_bytes,
					 struct tryon_args *out, char *msg, size_t msglen);

/* Free both strings and zero *a; accepts a zeroed or half-built struct. */
void tryon_args_free(struct tryon_args *a);

/* The Python exception type for a status ("TypeError", "ValueError",
 * "MemoryError"; module "builtins"), NULL for TRYON_ARGS_OK. */
const char *tryon_args_exc_type(enum tryon_args_status s);
#endif
