/* libFuzzer target for resp's skip_oversized mode and its checked
 * accessors (issue 14). Input: one config byte (max_bulk, depth), one seed
 * byte (split positions), then the RESP stream. The stream is parsed whole,
 * in seeded pieces and byte by byte with skip_oversized on: the three
 * transcripts must match, a skipped bulk must never be buffered (after a
 * feed, nothing is buffered while bytes of it are still due), and every
 * reply is walked with resp_elem/resp_str/resp_cstr/resp_int/resp_double,
 * which must never fail on any shape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis/resp.h"

static void put_size(struct buf *o, size_t n)
{
	buf_append(o, &n, sizeof n);
}

/* Canonical encoding of a reply, with what the accessors say about it. */
static void encode(struct buf *o, const struct resp_value *v)
{
	size_t n = 0;
	long long ll;
	double d;
	const char *s = resp_str(v, &n);
	const char *cs = resp_cstr(v);

	buf_append_char(o, (char)('A' + (int)v->type));
	if (s && (s != v->str || n != v->len || s[n] != '\0'))
		abort();
	if (cs && (cs != s || strlen(cs) != n))
		abort();
	if (!s && cs)
		abort();
	buf_append_char(o, resp_int(v, &ll) == 0 ? 'i' : '-');
	buf_append_char(o, resp_double(v, &d) == 0 ? 'd' : '-');
	switch (v->type) {
	case RESP_SIMPLE:
	case RESP_ERROR:
	case RESP_BULK:
		put_size(o, v->len);
		buf_append(o, v->str, v->len);
		break;
	case RESP_INTEGER:
		buf_append(o, &v->integer, sizeof v->integer);
		break;
	case RESP_ARRAY:
		put_size(o, v->n_elems);
		for (size_t i = 0; i < v->n_elems; i++) {
			if (resp_elem(v, i) != v->elems[i])
				abort();
			encode(o, v->elems[i]);
		}
		if (resp_elem(v, v->n_elems) != NULL)
			abort();
		break;
	case RESP_OVERSIZED:
		if (v->str)
			abort();
		put_size(o, v->len);
		break;
	case RESP_NIL:
	case RESP_NIL_ARRAY:
		if (v->str || v->len)
			abort();
		break;
	}
	if (v->type != RESP_ARRAY && resp_elem(v, 0) != NULL)
		abort();
}

static int same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static int drain(struct resp_reader *r, struct buf *o)
{
	struct resp_value *v;
	int rc;
	while ((rc = resp_reader_get(r, &v)) == 1) {
		if (v->type == RESP_OVERSIZED && v->len <= r->limits.max_bulk)
			abort();
		encode(o, v);
		resp_value_free(v);
	}
	if (v != NULL)
		abort();
	if (rc < 0) {
		buf_append_str(o, "!");
		buf_append_str(o, resp_reader_error(r));
	}
	return rc;
}

/* While a skip is under way nothing may be buffered. */
static void check_not_buffered(const struct resp_reader *r)
{
	if (r->skip_left && r->in.len > r->pos)
		abort();
}

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
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
	struct buf whole, split;
	struct resp_reader r;

	lim.skip_oversized = 1;
	lim.max_bulk = cfg & 15;
	lim.max_depth = 1 + ((cfg >> 4) & 3);
	lim.max_elems = 1 + (cfg >> 6) * 4;
	buf_init(&whole);
	buf_init(&split);

	resp_reader_init(&r, &lim);
	if (resp_reader_feed(&r, p, n) < 0)
		abort();
	drain(&r, &whole);
	resp_reader_free(&r);

	resp_reader_init(&r, &lim);
	for (size_t at = 0; at < n;) {
		uint32_t x = next_rand(&seed);
		size_t k = 1 + (x >> 8) % ((x & 3) == 0 ? 64 : 6);
		if (k > n - at)
			k = n - at;
		if (resp_reader_feed(&r, p + at, k) < 0)
			abort();
		at += k;
		int rc = drain(&r, &split);
		check_not_buffered(&r);
		if (rc < 0)
			break;
	}
	resp_reader_free(&r);
	if (!same(&whole, &split))
		abort();

	buf_reset(&split);
	resp_reader_init(&r, &lim);
	for (size_t i = 0; i < n; i++) {
		if (resp_reader_feed(&r, p + i, 1) < 0)
			abort();
		int rc = drain(&r, &split);
		check_not_buffered(&r);
		if (rc < 0)
			break;
	}
	resp_reader_free(&r);
	if (!same(&whole, &split))
		abort();

	buf_free(&whole);
	buf_free(&split);
	return 0;
}
