/* promtext: the Prometheus text format writer. Pure; it reads the registry
 * and appends to a buffer. Label values can come from the network (task
 * names in messages), so they are escaped and made valid UTF-8 here. */
#include "ops/promtext.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

const char *promtext_format_value(char *dst, size_t dstlen, double v)
{
	if (isnan(v)) {
		snprintf(dst, dstlen, "NaN");
	} else if (isinf(v)) {
		snprintf(dst, dstlen, v > 0 ? "+Inf" : "-Inf");
	} else {
		/* The shortest precision that reads back exactly: 0.1 stays
		 * "0.1" instead of %.17g's "0.10000000000000001". */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(dst, dstlen, "%.*g", prec, v);
			if (strtod(dst, NULL) == v)
				break;
		}
	}
	return dst;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		/* No overlong forms (e0 a0..), no surrogates (ed 80..9f). */
		unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		/* Nothing above U+10FFFF, no overlong forms. */
		unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
		       (p[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

int promtext_escape_label(struct buf *out, const char *s)
{
	/* utf8_len reads at most up to the first byte that is not a
	 * continuation byte, and the NUL terminator is not one, so it never
	 * reads past the end of s. */
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_len(p);
		if (n == 0) {
			buf_append_str(out, "\xef\xbf\xbd");
			p++;
		} else if (*p == '\\') {
			buf_append_str(out, "\\\\");
			p++;
		} else if (*p == '"') {
			buf_append_str(out, "\\\"");
			p++;
		} else if (*p == '\n') {
			buf_append_str(out, "\\n");
			p++;
		} else {
			buf_append(out, p, n);
			p += n;
		}
	}
	return out->failed ? -1 : 0;
}

/* HELP text escapes only backslash and newline. */
static void escape_help(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_append_str(out, "\\\\");
		else if (*s == '\n')
			buf_append_str(out, "\\n");
		else
			buf_append_char(out, *s);
	}
}

/* {a="x",b="y"} plus an optional extra label (le for buckets); nothing when
 * there are no labels at all. */
static void labels(struct buf *out, const struct metric_def *d, const struct metric_series *s,
		   const char *extra_name, const char *extra_value)
{
	if (d->n_labels == 0 && !extra_name)
		return;
	buf_append_char(out, '{');
	for (int k = 0; k < d->n_labels; k++) {
		buf_printf(out, "%s%s=\"", k ? "," : "", d->labels[k]);
		promtext_escape_label(out, s->label[k]);
		buf_append_char(out, '"');
	}
	if (extra_name)
		buf_printf(out, "%s%s=\"%s\"", d->n_labels ? "," : "", extra_name, extra_value);
	buf_append_char(out, '}');
}

static void sample(struct buf *out, const char *name, const char *suffix, const struct metric_def *d,
		   const struct metric_series *s, const char *extra_name, const char *extra_value,
		   double v)
{
	char num[32];
	buf_printf(out, "%s%s", name, suffix);
	labels(out, d, s, extra_name, extra_value);
	buf_printf(out, " %s\n", promtext_format_value(num, sizeof num, v));
}

static const char *const type_names[] = { "counter", "gauge", "histogram" };

int promtext_render(const struct metrics *m, struct buf *out)
{
	for (int id = 0; id < METRIC_COUNT; id++) {
		const struct metric_def *d = &m->defs[id];
		int header = 0;
		for (int i = 0; i < m->n_series; i++) {
			const struct metric_series *s = metrics_series(m, i);
			if ((int)s->id != id)
				continue;
			if (!header) {
				header = 1;
				buf_printf(out, "# HELP %s ", d->name);
				escape_help(out, d->help);
				buf_printf(out, "\n# TYPE %s %s\n", d->name, type_names[d->type]);
			}
			if (d->type != METRIC_HISTOGRAM) {
				sample(out, d->name, "", d, s, NULL, NULL, s->value);
				continue;
			}
			uint64_t cum = 0;
			char le[32];
			for (int b = 0; b < d->n_buckets; b++) {
				cum += s->bucket[b];
				promtext_format_value(le, sizeof le, d->buckets[b]);
				sample(out, d->name, "_bucket", d, s, "le", le, (double)cum);
			}
			sample(out, d->name, "_bucket", d, s, "le", "+Inf", (double)s->count);
			sample(out, d->name, "_sum", d, s, NULL, NULL, s->sum);
			sample(out, d->name, "_count", d, s, NULL, NULL, (double)s->count);
		}
	}
	return out->failed ? -1 : 0;
}
