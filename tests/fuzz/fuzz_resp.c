/* libFuzzer target for resp. Input: one config byte (limits), one seed byte
 * (split positions), then the RESP stream. The stream is parsed whole and in
 * seeded pieces; both transcripts (every reply in full, then the final error)
 * must match. Arrays of bulks are also written back with the writer and must
 * parse to the same reply. A third run with a tiny max_buffered exercises
 * feed failures and reset. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis/resp.h"

static void put_size(struct buf *o, size_t n)
{
	buf_append(o, &n, sizeof n);
}

/* Canonical, unambiguous encoding of a reply for comparison. */
static void encode(struct buf *o, const struct resp_value *v)
{
	buf_append_char(o, (char)('A' + (int)v->type));
	switch (v->type) {
	case RESP_SIMPLE:
	case RESP_ERROR:
	case RESP_BULK:
		if (!v->str || v->str[v->len] != '\0')
			abort();
		put_size(o, v->len);
		buf_append(o, v->str, v->len);
		break;
	case RESP_INTEGER:
		buf_append(o, &v->integer, sizeof v->integer);
		break;
	case RESP_ARRAY:
		if (v->n_elems > 0 && !v->elems)
			abort();
		put_size(o, v->n_elems);
		for (size_t i = 0; i < v->n_elems; i++)
			encode(o, v->elems[i]);
		break;
	case RESP_NIL:
	case RESP_NIL_ARRAY:
		if (v->str || v->len)
			abort();
		break;
	case RESP_OVERSIZED:
		abort();   /* only with skip_oversized: fuzz_resp_skip.c */
	}
}

static int same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len &&
	       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* If v is a command-shaped reply, the writer must reproduce it exactly. */
static void check_round_trip(const struct resp_value *v)
{
	if (v->type != RESP_ARRAY || v->n_elems > 64)
		return;
	const char *argv[64];
	size_t lens[64];
	for (size_t i = 0; i < v->n_elems; i++) {
		if (v->elems[i]->type != RESP_BULK)
			return;
		argv[i] = v->elems[i]->str;
		lens[i] = v->elems[i]->len;
	}
	struct buf w, a, b;
	struct resp_reader r;
	struct resp_value *back = NULL;
	buf_init(&w);
	buf_init(&a);
	buf_init(&b);
	resp_reader_init(&r, NULL);
	if (resp_write_command(&w, (int)v->n_elems, argv, lens) < 0 ||
	    resp_reader_feed(&r, w.data, w.len) < 0 ||
	    resp_reader_get(&r, &back) != 1)
		abort();
	encode(&a, v);
	encode(&b, back);
	resp_value_free(back);
	if (!same(&a, &b) || resp_reader_get(&r, &back) != 0)
		abort();
	resp_reader_free(&r);
	buf_free(&w);
	buf_free(&a);
	buf_free(&b);
}

/* Drain replies into the transcript. Returns the last get result. */
static int drain(struct resp_reader *r, struct buf *o, int round_trip)
{
	struct resp_value *v;
	int rc;
	while ((rc = resp_reader_get(r, &v)) == 1) {
		encode(o, v);
		if (round_trip)
			check_round_trip(v);
		resp_value_free(v);
	}
	if (v != NULL)
		abort();
	if (rc < 0) {
		buf_append_str(o, "!");
		buf_append_str(o, resp_reader_error(r));
	} else if (*resp_reader_error(r) != '\0') {
		abort();
	}
	return rc;
}

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static size_t piece_size(uint32_t *s, size_t left)
{
	uint32_t x = next_rand(s);
	size_t n = (x & 3) == 0 ? 1 + (x >> 8) % 256 : 1 + (x >> 8) % 8;
	return n < left ? n : left;
}

static void run_pieces(const struct resp_limits *lim, const uint8_t *p,
		       size_t n, uint32_t seed, struct buf *o)
{
	struct resp_reader r;
	resp_reader_init(&r, lim);
	for (size_t at = 0; at < n;) {
		size_t k = piece_size(&seed, n - at);
		if (resp_reader_feed(&r, p + at, k) < 0)
			abort(); /* max_buffered is above the input size */
		at += k;
		if (drain(&r, o, 0) < 0)
			break;
	}
	resp_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t cfg = data[0];
	uint32_t seed = 0x9e3779b9u ^ ((uint32_t)data[1] * 0x01000193u);
	const uint8_t *p = data + 2;
	size_t n = size - 2;

	struct resp_limits lim = RESP_DEFAULT_LIMITS;
	if (cfg & 1) {
		lim.max_bulk = cfg >> 4;
		lim.max_elems = 1 + ((cfg >> 1) & 7);
		lim.max_depth = (cfg >> 2) & 3;
	}

	struct buf whole, split;
	buf_init(&whole);
	buf_init(&split);

	struct resp_reader r;
	resp_reader_init(&r, &lim);
	if (resp_reader_feed(&r, p, n) < 0)
		abort();
	drain(&r, &whole, 1);
	resp_reader_free(&r);

	run_pieces(&lim, p, n, seed, &split);
	if (!same(&whole, &split))
		abort();

	/* Byte by byte is the harshest split. */
	buf_reset(&split);
	resp_reader_init(&r, &lim);
	for (size_t i = 0; i < n; i++) {
		if (resp_reader_feed(&r, p + i, 1) < 0)
			abort();
		if (drain(&r, &split, 0) < 0)
			break;
	}
	resp_reader_free(&r);
	if (!same(&whole, &split))
		abort();

	/* Tiny max_buffered: feed may fail; failures are sticky, reset
	 * recovers. Only memory safety is checked here. */
	lim.max_buffered = 1 + (cfg >> 3);
	resp_reader_init(&r, &lim);
	for (size_t at = 0; at < n;) {
		size_t k = piece_size(&seed, n - at);
		at += k;
		if (resp_reader_feed(&r, p + at - k, k) < 0) {
			const char *msg = resp_reader_error(&r);
			if (*msg == '\0' || resp_reader_feed(&r, "x", 1) != -1)
				abort();
			resp_reader_reset(&r);
			continue;
		}
		buf_reset(&split);
		if (drain(&r, &split, 0) < 0)
			resp_reader_reset(&r);
	}
	resp_reader_free(&r);

	buf_free(&whole);
	buf_free(&split);
	return 0;
}
