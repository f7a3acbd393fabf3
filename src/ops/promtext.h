/* promtext: renders a metrics registry in the Prometheus text exposition
 * format 0.0.4: a HELP and a TYPE line per metric that has series, one
 * sample line per series, histograms as cumulative _bucket lines (ending
 * with le="+Inf"), _sum and _count. Pure: no I/O, no clock; it only appends
 * to the caller's buffer. The output order is the registry's (metric enum
 * order, then series in creation order), so the text is reproducible. */
#ifndef TRYON_PROMTEXT_H
#define TRYON_PROMTEXT_H
#include <stddef.h>

#include "lib/buf.h"
#include "ops/metrics.h"

/* The Content-Type of the rendered text. */
#define PROMTEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Append the exposition of m to out. Returns 0, or -1 if out could not
 * grow (out->failed is set; its contents are then incomplete). */
int promtext_render(const struct metrics *m, struct buf *out);

/* Append s as a label value: \ " and newline escaped; bytes that are not
 * valid UTF-8 become U+FFFD so the exposition stays valid UTF-8. */
int promtext_escape_label(struct buf *out, const char *s);

/* Format v the way the format expects: shortest text that reads back as
 * the same double, "+Inf", "-Inf", "NaN". dst must hold 32 bytes. */
const char *promtext_format_value(char *dst, size_t dstlen, double v);
#endif
