/* buf: a growable byte buffer owned by whoever holds the struct.
 * It owns its storage (data); buf_free releases it and accepts a zeroed or
 * half-built buffer. Appends never truncate: on allocation failure they return
 * -1 and set the sticky 'failed' flag, so a caller can append many times and
 * check once. data is always NUL-terminated past len when len > 0. */
#ifndef TRYON_BUF_H
#define TRYON_BUF_H
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	int failed;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Empty the buffer and clear 'failed', keeping the storage. */
void buf_reset(struct buf *b);
/* Make room for n more bytes (plus the terminating NUL). */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Append tmp to out and free tmp: 0, or -1 (out untouched) if building tmp
 * or the append failed. Builders that work in a scratch buffer and commit
 * once never leave a caller's buffer half-written. */
int buf_commit(struct buf *out, struct buf *tmp);
#endif
