/* resp: a pure RESP2 (Redis protocol) reader and command writer.
 * It owns the reader's input buffer and every reply it hands out until the
 * caller takes it; each reply is then the caller's to free with resp_value_free.
 * It must not do I/O, read the clock, print, or keep global state: bytes go in
 * through resp_reader_feed, replies come out of resp_reader_get, and the result
 * does not depend on how the byte stream was split. */
#ifndef TRYON_RESP_H
#define TRYON_RESP_H
#include <stddef.h>

#include "lib/buf.h"

enum resp_type {
	RESP_SIMPLE,
	RESP_ERROR,
	RESP_INTEGER,
	RESP_BULK,
	RESP_NIL,
	RESP_ARRAY,
	RESP_NIL_ARRAY,
	RESP_OVERSIZED      /* a top-level bulk over max_bulk, discarded unread
			       (limits.skip_oversized): len is its declared size */
};

/* A reply. For SIMPLE/ERROR/BULK, str is its own malloc block holding len
 * bytes plus a NUL (a bulk may contain NULs, so use len); a caller may take it
 * by setting str to NULL before resp_value_free. For OVERSIZED str is NULL and
 * len the size the server declared (SIZE_MAX if larger). For other types str
 * is NULL and len is 0. An empty ARRAY has n_elems 0 and elems NULL. */
struct resp_value {
	enum resp_type type;
	long long integer;          /* RESP_INTEGER */
	char *str;                  /* RESP_SIMPLE/ERROR/BULK */
	size_t len;
	size_t n_elems;             /* RESP_ARRAY */
	struct resp_value **elems;  /* RESP_ARRAY: n_elems owned children */
};

/* max_bulk: largest bulk string payload, in bytes.
 * max_elems: largest array length, and also the most array elements in one
 *   reply counted over all its nested arrays (so one reply cannot make the
 *   reader allocate more than about max_elems values).
 * max_depth: most nested arrays; a top-level array is depth 1, and 0 forbids
 *   arrays. Clamped to [0, RESP_MAX_DEPTH].
 * max_buffered: most unparsed bytes the reader will hold; feed fails past it.
 * skip_oversized: 0 makes a bulk over max_bulk a protocol error. 1 does so
 *   only inside arrays; a top-level bulk over max_bulk is then discarded as
 *   its bytes arrive (never buffered whole: feed drops them before they are
 *   counted against max_buffered) and returned as RESP_OVERSIZED, so a
 *   connection survives a value too big to take (its CRLF is still checked). */
struct resp_limits {
	size_t max_bulk;
	size_t max_elems;
	int max_depth;
	size_t max_buffered;
	int skip_oversized;
};

#define RESP_DEFAULT_LIMITS ((struct resp_limits){ \
	.max_bulk = (size_t)64 << 20, \
	.max_elems = (size_t)1 << 20, \
	.max_depth = 8, \
	.max_buffered = (size_t)128 << 20 })

/* Hard cap on max_depth: the scanner keeps its array stack inline. */
#define RESP_MAX_DEPTH 64
/* Longest line (after the type byte, before CRLF) a simple string, error,
 * integer or length header may have; longer is a protocol error. */
#define RESP_MAX_LINE 65536

/* Caller-allocated; treat the fields as private. Offsets below are relative
 * to pos, so compacting the buffer never invalidates them. */
struct resp_reader {
	struct resp_limits limits;
	struct buf in;          /* bytes before pos are already consumed */
	size_t pos;
	size_t scan_off;        /* start of the first item not yet validated */
	size_t line_seen;       /* where to resume the CRLF search in that item */
	size_t item_need;       /* bulk whose header is read: its total size */
	size_t reply_elems;     /* array elements declared so far in this reply */
	int depth;
	size_t pending[RESP_MAX_DEPTH]; /* elements still due per open array */
	int skipping;           /* an oversized bulk's header is read, its value not yet returned */
	int skip_bad;           /* its CRLF was not "\r\n" */
	unsigned long long skip_len;    /* its declared length */
	unsigned long long skip_left;   /* its bytes (and CRLF) still to discard */
	int failed;
	char err[96];
};

/* Set up an empty reader; limits NULL means RESP_DEFAULT_LIMITS (copied).
 * Does not allocate. */
void resp_reader_init(struct resp_reader *r, const struct resp_limits *limits);
/* Release the buffer. Accepts a zeroed or half-built reader; leaves it zeroed
 * but keeps limits, so init is needed only to change them. */
void resp_reader_free(struct resp_reader *r);
/* Drop buffered bytes, any partly read reply and the sticky error; keeps the
 * limits and the buffer's storage. */
void resp_reader_reset(struct resp_reader *r);
/* Copy n bytes in. Returns 0, or -1 if the reader has failed or now fails
 * (more than max_buffered unparsed bytes, out of memory); the failure is
 * sticky and nothing is appended. */
int resp_reader_feed(struct resp_reader *r, const void *p, size_t n);
/* Returns 1 with *out a complete reply the caller now owns (free with
 * resp_value_free; RESP_OVERSIZED for a skipped bulk, once its last byte is
 * gone); 0 when more bytes are needed (*out NULL); -1 on a
 * protocol error or out of memory (*out NULL). -1 is sticky until reset and
 * the message is in resp_reader_error. Replies before a bad one are still
 * returned first. */
int resp_reader_get(struct resp_reader *r, struct resp_value **out);
/* The sticky error message, or "" when none. Valid until the next call that
 * changes the reader. */
const char *resp_reader_error(const struct resp_reader *r);
/* Free a reply and all its children. NULL is fine. */
void resp_value_free(struct resp_value *v);

/* Append one command as a RESP array of bulk strings. argvlen NULL means
 * strlen of each argv[i] (which must then be non-NULL); with argvlen, argv[i]
 * may be NULL only if its length is 0. The command is appended whole or not
 * at all. Returns 0, or -1 with out->failed set (including when it already
 * was, or argc < 0). */
int resp_write_command(struct buf *out, int argc, const char *const *argv,
		       const size_t *argvlen);
/* The same for a NULL-terminated list of C strings. */
int resp_write_commandl(struct buf *out, const char *arg0, ...)
	__attribute__((sentinel));

/* Checked access to a reply, for code that must not trust its shape (a
 * hostile or broken server may answer anything). All accept NULL. */
/* Element i of array v; NULL if v is not an ARRAY or i is out of range. */
const struct resp_value *resp_elem(const struct resp_value *v, size_t i);
/* v's bytes and *len (if len is not NULL) when v is a BULK or SIMPLE string;
 * else NULL. The bytes are NUL-terminated but may contain NULs. */
const char *resp_str(const struct resp_value *v, size_t *len);
/* v's string when v is a BULK or SIMPLE string without a NUL inside, so
 * that it is safe to use as a C string (strcmp, %s); else NULL. */
const char *resp_cstr(const struct resp_value *v);
/* 0 with *out when v is an INTEGER, or a BULK/SIMPLE string that is a
 * strict decimal integer (as RESP writes them); else -1. */
int resp_int(const struct resp_value *v, long long *out);
/* 0 with *out when v is a BULK/SIMPLE string holding a whole finite number
 * as Redis writes scores ("1.5", "-3", "1e+20"), or an INTEGER; else -1. */
int resp_double(const struct resp_value *v, double *out);

/* 1 if v is the simple string "OK", else 0 (NULL gives 0). */
int resp_is_ok(const struct resp_value *v);
/* A static lower-case name such as "bulk"; "unknown" for out-of-range t. */
const char *resp_type_name(enum resp_type t);
#endif
