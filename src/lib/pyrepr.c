/* pyrepr: Python's text and decisions, replayed. Each piece names the
 * CPython 3.11 or Celery 5.2.6 function it follows; the outputs were checked
 * against /usr/bin/python3 (Debian's python3-celery). */
#include "lib/pyrepr.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tokens an exception's argument array may have (they are small). */
#define EXC_MAX_TOKENS 65536

/* ---- UTF-8 and repr(str) ------------------------------------------------- */

/* Decode one code point at s[i..n). A byte that does not start a valid
 * sequence is one code point, U+DC80..U+DCFF, as Python's surrogateescape
 * decodes it (os.fsdecode), so it never equals a real character. 2-byte
 * overlongs cannot pass the lead byte test. */
static size_t u8_next(const char *s, size_t n, size_t i, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s + i;
	size_t len, k, left = n - i;
	uint32_t v;

	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		len = 2;
		v = u[0] & 0x1f;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		len = 3;
		v = u[0] & 0x0f;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		len = 4;
		v = u[0] & 0x07;
	} else {
		*cp = 0xdc00 | u[0];
		return 1;
	}
	if (left < len) {
		*cp = 0xdc00 | u[0];
		return 1;
	}
	for (k = 1; k < len; k++) {
		if ((u[k] & 0xc0) != 0x80) {
			*cp = 0xdc00 | u[0];
			return 1;
		}
		v = (v << 6) | (u[k] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF are not UTF-8
	 * either (strict decoding, as Python's) */
	if ((len == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
	    (len == 4 && (v < 0x10000 || v > 0x10ffff))) {
		*cp = 0xdc00 | u[0];
		return 1;
	}
	*cp = v;
	return len;
}

/* str.isprintable() for non-ASCII, approximated by the ranges that matter
 * in practice; unassigned code points count as printable. */
static int py_printable(uint32_t c)
{
	return !((c >= 0x80 && c <= 0xa0) || c == 0xad || c == 0x61c ||
		 c == 0x180e || (c >= 0x2000 && c <= 0x200f) ||
		 (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) ||
		 c == 0x3000 || (c >= 0xd800 && c <= 0xf8ff) || c == 0xfeff ||
		 (c >= 0xfff9 && c <= 0xfffb) || c >= 0xe0000);
}

int pyrepr_str(struct buf *out, const char *s, size_t n)
{
	char quote = '\'';
	size_t i, k;
	uint32_t c;

	if (memchr(s, '\'', n) && !memchr(s, '"', n))
		quote = '"';
	buf_append_char(out, quote);
	for (i = 0; i < n; i += k) {
		k = u8_next(s, n, i, &c);
		if (c == (uint32_t)quote || c == '\\') {
			buf_append_char(out, '\\');
			buf_append_char(out, (char)c);
		} else if (c == '\t') {
			buf_append_str(out, "\\t");
		} else if (c == '\n') {
			buf_append_str(out, "\\n");
		} else if (c == '\r') {
			buf_append_str(out, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(out, "\\x%02x", (unsigned)c);
		} else if (c < 0x7f) {
			buf_append_char(out, (char)c);
		} else if (py_printable(c)) {
			buf_append(out, s + i, k);
		} else if (c <= 0xff) {
			buf_printf(out, "\\x%02x", (unsigned)c);
		} else if (c <= 0xffff) {
			buf_printf(out, "\\u%04x", (unsigned)c);
		} else {
			buf_printf(out, "\\U%08x", (unsigned)c);
		}
	}
	buf_append_char(out, quote);
	return out->failed ? -1 : 0;
}

/* ---- repr and saferepr of a JSON value ----------------------------------- */

/* One walk serves both: builtin repr() is saferepr's token stream with no
 * budget, no depth limit and repr(str) for strings. saferepr(value, maxlen,
 * maxlevels=3) (celery/utils/saferepr.py _saferepr) checks the budget before
 * every token (", ..." and the closers of the open containers once it is
 * spent), cuts long tokens with celery.utils.text.truncate and quotes
 * strings with _format_chars. Budgets count code points, like len() on a
 * Python str. */
struct walk {
	const struct json_doc *d;
	struct buf *out;
	long budget;    /* LONG_MAX: no limit */
	int maxlevels;  /* 0: no limit */
	int safe;       /* strings as saferepr's _format_chars, else repr */
	int level;
	int stopped;
};

static long u8_chars(const char *s, size_t n)
{
	long c = 0;
	size_t i;

	for (i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

/* celery.utils.text.truncate(s, maxlen): when len(s) >= maxlen, keep
 * s[:maxlen] up to its last space and add "...". Appends to out. */
static void py_truncate(struct buf *out, const char *s, size_t n, long maxlen)
{
	size_t i, cut = n, sp = (size_t)-1;
	long c = 0;

	if (maxlen <= 0 || u8_chars(s, n) < maxlen) {
		buf_append(out, s, n);
		return;
	}
	for (i = 0; i < n; i++) {
		if (((unsigned char)s[i] & 0xc0) == 0x80)
			continue;
		if (c++ == maxlen) {
			cut = i;
			break;
		}
	}
	for (i = 0; i < cut; i++)
		if (s[i] == ' ')
			sp = i;
	buf_append(out, s, sp != (size_t)-1 ? sp : cut);
	buf_append_str(out, "...");
}

/* The per-token budget check of _saferepr. */
static int w_gate(struct walk *w)
{
	if (w->stopped)
		return -1;
	if (w->budget <= 0) {
		buf_append_str(w->out, ", ...");
		w->stopped = 1;
		return -1;
	}
	return 0;
}

static void w_put(struct walk *w, const char *t, size_t n)
{
	buf_append(w->out, t, n);
	if (w->budget != LONG_MAX)
		w->budget -= u8_chars(t, n);
}

/* A token saferepr takes as it is: brackets, ", " and ": ". */
static int w_literal(struct walk *w, const char *t)
{
	if (w_gate(w) < 0)
		return -1;
	w_put(w, t, strlen(t));
	return 0;
}

/* A token saferepr cuts with truncate(): the repr of a scalar, "[...]". */
static int w_text(struct walk *w, const char *t, size_t n)
{
	struct buf tmp;

	if (w_gate(w) < 0)
		return -1;
	buf_init(&tmp);
	py_truncate(&tmp, t, n, w->budget);
	if (tmp.failed)
		w->out->failed = 1;
	w_put(w, tmp.data ? tmp.data : "", tmp.len);
	buf_free(&tmp);
	return 0;
}

static int w_word(struct walk *w, const char *t)
{
	return w_text(w, t, strlen(t));
}

/* A string token: saferepr's _format_chars, "'" + truncate(v, maxlen)
 * .replace("'", "\\'") + "'", or repr(v). */
static int w_string(struct walk *w, int t)
{
	struct buf raw, cut, q;
	size_t i;

	if (w_gate(w) < 0)
		return -1;
	buf_init(&raw);
	buf_init(&cut);
	buf_init(&q);
	if (json_tok_unescape(w->d, t, &raw, NULL, 0) < 0) {
		buf_reset(&raw);
		buf_append_str(&raw, "?");
	}
	py_truncate(&cut, raw.data ? raw.data : "", raw.len, w->budget);
	if (w->safe) {
		buf_append_char(&q, '\'');
		for (i = 0; i < cut.len; i++) {
			if (cut.data[i] == '\'')
				buf_append_char(&q, '\\');
			buf_append_char(&q, cut.data[i]);
		}
		buf_append_char(&q, '\'');
	} else {
		pyrepr_str(&q, cut.data ? cut.data : "", cut.len);
	}
	if (raw.failed || cut.failed || q.failed)
		w->out->failed = 1;
	w_put(w, q.data ? q.data : "", q.len);
	buf_free(&raw);
	buf_free(&cut);
	buf_free(&q);
	return 0;
}

/* str() of a JSON number as Python holds it: int text as is ("-0" is int
 * 0), anything with a fraction or exponent as a float repr (1e400 is inf). */
static void py_number(struct buf *out, const struct json_doc *d, int t)
{
	const struct json_tok *tok = &d->toks[t];
	const char *p = d->js + tok->start;
	size_t n = (size_t)(tok->end - tok->start);
	double v;

	if (!memchr(p, '.', n) && !memchr(p, 'e', n) && !memchr(p, 'E', n)) {
		if (n == 2 && p[0] == '-' && p[1] == '0')
			buf_append_char(out, '0');
		else
			buf_append(out, p, n);
		return;
	}
	if (json_tok_double(d, t, &v, NULL, 0) != 0)
		buf_append_str(out, *p == '-' ? "-inf" : "inf");
	else
		json_write_double(out, v);
}

static void w_value(struct walk *w, int t, int as_tuple)
{
	const struct json_tok *tok = &w->d->toks[t];
	int kind = json_kind(w->d, t), obj = kind == JSON_K_OBJECT;
	const char *start, *end;
	struct buf num;
	int k, i;

	switch (kind) {
	case JSON_K_STRING:
		w_string(w, t);
		return;
	case JSON_K_NUMBER:
		buf_init(&num);
		py_number(&num, w->d, t);
		if (num.failed)
			w->out->failed = 1;
		w_text(w, num.data ? num.data : "", num.len);
		buf_free(&num);
		return;
	case JSON_K_NONFINITE: {
		char c = w->d->js[tok->start];

		w_word(w, c == 'N' ? "nan" : c == '-' ? "-inf" : "inf");
		return;
	}
	case JSON_K_TRUE:
		w_word(w, "True");
		return;
	case JSON_K_FALSE:
		w_word(w, "False");
		return;
	case JSON_K_NULL:
		w_word(w, "None");
		return;
	case JSON_K_ARRAY:
	case JSON_K_OBJECT:
		break;
	default:
		return;
	}
	start = obj ? "{" : as_tuple ? "(" : "[";
	end = obj ? "}" : !as_tuple ? "]" : tok->size == 1 ? ",)" : ")";
	if (w->maxlevels && w->level >= w->maxlevels) {
		w_word(w, obj ? "{...}" : as_tuple ? "(...)" : "[...]");
		return;
	}
	/* From here the container is "open": its closer is printed even if
	 * the budget runs out on its opening token, as in _saferepr. */
	w->level++;
	if (w_literal(w, start) < 0)
		goto dangling;
	for (k = 0, i = t + 1; k < tok->size; k++) {
		if (k && w_literal(w, ", ") < 0)
			goto dangling;
		if (obj) {
			/* keys go through a nested saferepr(key, maxlen) */
			if (w_string(w, i) < 0 || w_literal(w, ": ") < 0)
				goto dangling;
			i = json_skip(w->d, i);
		}
		w_value(w, i, 0);
		if (w->stopped)
			goto dangling;
		i = json_skip(w->d, i);
	}
	w->level--;
	/* A closer that trips the budget is the dropped token itself. */
	w_literal(w, end);
	return;
dangling:
	w->level--;
	buf_append_str(w->out, end);
}

static void walk_init(struct walk *w, const struct json_doc *d,
		      struct buf *out, int safe, size_t maxlen)
{
	w->d = d;
	w->out = out;
	w->safe = safe;
	w->budget = !safe || maxlen > (size_t)LONG_MAX ? LONG_MAX : (long)maxlen;
	w->maxlevels = safe ? 3 : 0;
	w->level = 0;
	w->stopped = 0;
}

int pyrepr_saferepr(struct buf *out, const struct json_doc *d, int tok,
		    int as_tuple, size_t maxlen)
{
	struct walk w;

	if (tok < 0 || tok >= d->ntoks)
		return -1;
	walk_init(&w, d, out, 1, maxlen);
	w_value(&w, tok, as_tuple);
	return out->failed ? -1 : 0;
}

int pyrepr_exception(struct buf *out, const char *type, const char *args_json,
		     size_t len)
{
	struct json_doc d;
	struct buf tmp;
	struct walk w;

	if (!type)
		return -1;
	if (!args_json) {
		args_json = "[]";
		len = 2;
	} else if (len == 0) {
		len = strlen(args_json);
	}
	if (json_parse(&d, args_json, len, EXC_MAX_TOKENS, NULL, 0) < 0)
		return -1;
	if (json_kind(&d, 0) != JSON_K_ARRAY) {
		json_doc_free(&d);
		return -1;
	}
	buf_init(&tmp);
	buf_append_str(&tmp, type);
	walk_init(&w, &d, &tmp, 0, 0);
	if (d.toks[0].size == 1) {
		buf_append_char(&tmp, '(');
		w_value(&w, 1, 0);
		buf_append_char(&tmp, ')');
	} else {
		w_value(&w, 0, 1); /* repr(args): "()" or "(a, b)" */
	}
	json_doc_free(&d);
	return buf_commit(out, &tmp);
}

int pyrepr_exception_str(struct buf *out, const char *type, const char *text,
			 size_t n)
{
	if (!type || !text)
		return -1;
	buf_append_str(out, type);
	buf_append_char(out, '(');
	pyrepr_str(out, text, n);
	buf_append_char(out, ')');
	return out->failed ? -1 : 0;
}

int pyrepr_missing_args(struct buf *out, const char *func,
			const char *const *names, size_t n)
{
	size_t i;

	if (!func || !names || n == 0)
		return -1;
	buf_printf(out, "%s() missing %zu required positional argument%s: ",
		   func, n, n == 1 ? "" : "s");
	/* 'a' / 'a' and 'b' / 'a', 'b', and 'c' */
	for (i = 0; i < n; i++) {
		if (i > 0 && n > 2)
			buf_append_str(out, ", ");
		if (i > 0 && i == n - 1)
			buf_append_str(out, n > 2 ? "and " : " and ");
		buf_printf(out, "'%s'", names[i]);
	}
	return out->failed ? -1 : 0;
}

/* ---- values -------------------------------------------------------------- */

int pyrepr_truthy(const struct json_doc *d, int tok)
{
	size_t a, b;
	double v;

	switch (json_kind(d, tok)) {
	case JSON_K_TRUE:
	case JSON_K_NONFINITE:
		return 1;
	case JSON_K_OBJECT:
	case JSON_K_ARRAY:
		return d->toks[tok].size > 0;
	case JSON_K_STRING:
		json_tok_span(d, tok, &a, &b);
		return b - a > 2; /* the span has the quotes */
	case JSON_K_NUMBER:
		if (json_tok_double(d, tok, &v, NULL, 0) < 0)
			return 1; /* overflow: a huge number is not zero */
		return v != 0.0;
	default: /* null, false, invalid */
		return 0;
	}
}

const char *pyrepr_type_name(const struct json_doc *d, int tok)
{
	int64_t v;

	switch (json_kind(d, tok)) {
	case JSON_K_NUMBER:
		return json_tok_int64(d, tok, &v, NULL, 0) == JSON_EFRAC
			       ? "float"
			       : "int";
	case JSON_K_NONFINITE:
		return "float";
	case JSON_K_TRUE:
	case JSON_K_FALSE:
		return "bool";
	case JSON_K_NULL:
		return "NoneType";
	case JSON_K_ARRAY:
		return "list";
	case JSON_K_OBJECT:
		return "dict";
	default:
		return "str";
	}
}

int64_t pyrepr_round(double x)
{
	int64_t i;
	double f;

	if (!(x > 0))
		return 0;
	if (x >= 9e18)
		return INT64_MAX;
	i = (int64_t)x;
	f = x - (double)i;
	if (f > 0.5 || (f == 0.5 && (i & 1)))
		i++;
	return i;
}

double pyrepr_round2(double x)
{
	char tmp[64];

	/* printf's %.2f rounds the exact binary value, as dtoa does */
	if (x != x || x > 1e15 || x < -1e15)
		return x;
	snprintf(tmp, sizeof tmp, "%.2f", x);
	return strtod(tmp, NULL);
}

/* ---- fnmatch --------------------------------------------------------------- */

/* Code points of s[0..n) into a malloc'd array (*out, *count). */
static int to_cps(const char *s, size_t n, uint32_t **out, size_t *count)
{
	size_t i, k = 0;
	uint32_t *v = malloc((n + 1) * sizeof *v);

	if (!v)
		return -1;
	for (i = 0; i < n;)
		i += u8_next(s, n, i, &v[k++]);
	*out = v;
	*count = k;
	return 0;
}

/* A compiled glob: one element per pattern position that consumes input.
 * A class keeps its ranges in glob.lo/hi[a..b); neg inverts it. */
enum { G_CHAR, G_ANY, G_STAR, G_CLASS };
struct glob_el {
	int kind;
	int neg;
	uint32_t cp;
	size_t a, b;
};
struct glob {
	struct glob_el *el;
	size_t nel;
	uint32_t *lo, *hi;
	size_t nr;
	/* scratch for one class */
	size_t *ca, *cb;
	uint32_t *store;
	unsigned char *dead;
	uint32_t *tok;
	unsigned char *trange;
};

/* Compile the class p[i..j) (the text between '[' and ']') into g's range
 * list, as Python 3.11 builds it: fnmatch.translate() cuts the text into
 * chunks at range hyphens (the search restarts 2 past each), drops
 * reversed ranges with their two ends, escapes everything else and joins
 * the chunks with '-'; a leading '!' negates; then re parses the class.
 * That is replayed here step by step (checked against Python on 60000
 * random patterns). Returns 0, or -1 where Python raises (an emptied chunk
 * is indexed, a bad range), which fails the whole match as in kombu. */
static int glob_class(struct glob *g, const uint32_t *p, size_t i, size_t j,
		      struct glob_el *el)
{
	size_t nc = 0, k, lo, m, q, nt = 0, pos, ns = 0;
	uint32_t lo_cp, hi_cp;

	el->kind = G_CLASS;
	el->neg = 0;
	el->a = g->nr;
	for (k = i; k < j && p[k] != '-'; k++)
		;
	if (k == j) {
		/* no '-': the characters themselves */
		el->neg = p[i] == '!';
		for (k = i + (size_t)el->neg; k < j; k++) {
			g->lo[g->nr] = g->hi[g->nr] = p[k];
			g->nr++;
		}
		el->b = g->nr;
		return 0;
	}
	/* The chunks are stored back to back (the range hyphens between
	 * them are implied); merging only kills characters at the joints,
	 * so a chunk is a span [ca, cb) of the store with dead entries. */
	k = p[i] == '!' ? i + 2 : i + 1;
	lo = i;
	for (;;) {
		while (k < j && p[k] != '-')
			k++;
		if (k >= j)
			break;
		g->ca[nc] = ns;
		for (q = lo; q < k; q++) {
			g->dead[ns] = 0;
			g->store[ns++] = p[q];
		}
		g->cb[nc++] = ns;
		lo = k + 1;
		k = k + 3;
	}
	if (lo < j) {
		g->ca[nc] = ns;
		for (q = lo; q < j; q++) {
			g->dead[ns] = 0;
			g->store[ns++] = p[q];
		}
		g->cb[nc++] = ns;
	} else if (nc > 0) {
		g->dead[ns] = 0;
		g->store[ns++] = '-'; /* chunks[-1] += '-' */
		g->cb[nc - 1] = ns;
	}
	/* Remove empty ranges, from the end: chunks[m-1] becomes
	 * chunks[m-1][:-1] + chunks[m][1:]. */
	for (m = nc; m-- > 1;) {
		size_t last = g->cb[m - 1], first = g->ca[m];

		while (last > g->ca[m - 1] && g->dead[last - 1])
			last--;
		while (first < g->cb[m] && g->dead[first])
			first++;
		if (last == g->ca[m - 1] || first == g->cb[m])
			return -1; /* an empty chunk is indexed: IndexError */
		if (g->store[last - 1] <= g->store[first])
			continue;
		g->dead[last - 1] = g->dead[first] = 1;
		g->cb[m - 1] = g->cb[m];
		memmove(&g->ca[m], &g->ca[m + 1], (nc - m - 1) * sizeof *g->ca);
		memmove(&g->cb[m], &g->cb[m + 1], (nc - m - 1) * sizeof *g->cb);
		nc--;
	}
	for (m = 0; m < nc; m++) {
		if (m) {
			g->tok[nt] = '-';
			g->trange[nt++] = 1;
		}
		for (q = g->ca[m]; q < g->cb[m]; q++) {
			if (g->dead[q])
				continue;
			g->tok[nt] = g->store[q];
			g->trange[nt++] = 0;
		}
	}
	if (nt == 1 && g->tok[0] == '!') {
		el->neg = 1; /* negated empty range: any character */
		el->b = g->nr;
		return 0;
	}
	/* nt == 0: empty range, never matches (no ranges, not negated) */
	el->neg = nt > 0 && !g->trange[0] && g->tok[0] == '!';
	/* re's class parser: an item, then '-' and another item make a
	 * range; a '-' anywhere else is a literal. */
	for (pos = (size_t)el->neg; pos < nt;) {
		lo_cp = g->tok[pos++];
		hi_cp = lo_cp;
		if (pos + 1 < nt && g->trange[pos]) {
			hi_cp = g->tok[pos + 1];
			pos += 2;
			if (hi_cp < lo_cp)
				return -1; /* re.error: bad character range */
		}
		g->lo[g->nr] = lo_cp;
		g->hi[g->nr++] = hi_cp;
	}
	el->b = g->nr;
	return 0;
}

/* Where the class opened at p[i] == '[' ends: index of its ']' (so the
 * members are p[i+1..end)), or 0 when unterminated ('[' is literal). */
static size_t glob_class_end(const uint32_t *p, size_t pn, size_t i)
{
	size_t j = i + 1;

	if (j < pn && p[j] == '!')
		j++;
	if (j < pn && p[j] == ']')
		j++;
	while (j < pn && p[j] != ']')
		j++;
	return j >= pn ? 0 : j;
}

static void glob_free(struct glob *g)
{
	free(g->el);
	free(g->lo);
	free(g->hi);
	free(g->ca);
	free(g->cb);
	free(g->store);
	free(g->dead);
	free(g->tok);
	free(g->trange);
}

static int glob_compile(struct glob *g, const uint32_t *p, size_t pn)
{
	size_t i = 0, end, cap = pn + 2;

	memset(g, 0, sizeof *g);
	g->el = malloc(cap * sizeof *g->el);
	g->lo = malloc(cap * sizeof *g->lo);
	g->hi = malloc(cap * sizeof *g->hi);
	g->ca = malloc(cap * sizeof *g->ca);
	g->cb = malloc(cap * sizeof *g->cb);
	g->store = malloc(cap * sizeof *g->store);
	g->dead = malloc(cap);
	g->tok = malloc(2 * cap * sizeof *g->tok);
	g->trange = malloc(2 * cap);
	if (!g->el || !g->lo || !g->hi || !g->ca || !g->cb || !g->store ||
	    !g->dead || !g->tok || !g->trange)
		return -1;
	while (i < pn) {
		struct glob_el *el = &g->el[g->nel++];

		if (p[i] == '*') {
			el->kind = G_STAR;
			/* translate() folds runs of '*' */
			while (i < pn && p[i] == '*')
				i++;
		} else if (p[i] == '?') {
			el->kind = G_ANY;
			i++;
		} else if (p[i] == '[' && (end = glob_class_end(p, pn, i))) {
			if (glob_class(g, p, i + 1, end, el) < 0)
				return -1;
			i = end + 1;
		} else {
			el->kind = G_CHAR;
			el->cp = p[i++];
		}
	}
	return 0;
}

static int glob_el_match(const struct glob *g, const struct glob_el *el,
			 uint32_t c)
{
	size_t k;
	int hit = 0;

	switch (el->kind) {
	case G_ANY:
		return 1;
	case G_CHAR:
		return el->cp == c;
	default:
		for (k = el->a; k < el->b && !hit; k++)
			hit = g->lo[k] <= c && c <= g->hi[k];
		return el->neg ? !hit : hit;
	}
}

/* The classic single-backtrack glob matcher over compiled elements: exact
 * for *, ? and one-character classes, O(len(s) * len(p)). */
static int glob_run(const struct glob *g, const uint32_t *s, size_t sn)
{
	size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;

	while (si < sn) {
		if (pi < g->nel && g->el[pi].kind == G_STAR) {
			star_p = ++pi;
			star_s = si;
			continue;
		}
		if (pi < g->nel && glob_el_match(g, &g->el[pi], s[si])) {
			pi++;
			si++;
			continue;
		}
		if (star_p == (size_t)-1)
			return 0;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < g->nel && g->el[pi].kind == G_STAR)
		pi++;
	return pi == g->nel;
}

int pyrepr_fnmatch(const char *name, const char *pattern)
{
	uint32_t *p = NULL, *s = NULL;
	size_t pn, sn;
	struct glob g;
	int r = -1;

	/* patterns are short; a bound keeps the work small */
	if (strlen(pattern) > PYREPR_MAX_PATTERN)
		return -1;
	memset(&g, 0, sizeof g);
	if (to_cps(pattern, strlen(pattern), &p, &pn) == 0 &&
	    to_cps(name, strlen(name), &s, &sn) == 0 &&
	    glob_compile(&g, p, pn) == 0)
		r = glob_run(&g, s, sn);
	glob_free(&g);
	free(p);
	free(s);
	return r;
}

/* ---- Celery's signals.signum ---------------------------------------------- */

/* str.isupper(): at least one cased character and no lowercase one. */
static int py_isupper(const char *s)
{
	int cased = 0;

	for (; *s; s++) {
		if (*s >= 'a' && *s <= 'z')
			return 0;
		if (*s >= 'A' && *s <= 'Z')
			cased = 1;
	}
	return cased;
}

/* The signal names Python's signal module has on Linux. */
static const struct {
	const char *name;
	int num;
} sig_names[] = {
	{ "SIGHUP", SIGHUP },	  { "SIGINT", SIGINT },
	{ "SIGQUIT", SIGQUIT },	  { "SIGILL", SIGILL },
	{ "SIGTRAP", SIGTRAP },	  { "SIGABRT", SIGABRT },
	{ "SIGIOT", SIGIOT },	  { "SIGBUS", SIGBUS },
	{ "SIGFPE", SIGFPE },	  { "SIGKILL", SIGKILL },
	{ "SIGUSR1", SIGUSR1 },	  { "SIGSEGV", SIGSEGV },
	{ "SIGUSR2", SIGUSR2 },	  { "SIGPIPE", SIGPIPE },
	{ "SIGALRM", SIGALRM },	  { "SIGTERM", SIGTERM },
	{ "SIGSTKFLT", SIGSTKFLT }, { "SIGCHLD", SIGCHLD },
	{ "SIGCLD", SIGCHLD },	  { "SIGCONT", SIGCONT },
	{ "SIGSTOP", SIGSTOP },	  { "SIGTSTP", SIGTSTP },
	{ "SIGTTIN", SIGTTIN },	  { "SIGTTOU", SIGTTOU },
	{ "SIGURG", SIGURG },	  { "SIGXCPU", SIGXCPU },
	{ "SIGXFSZ", SIGXFSZ },	  { "SIGVTALRM", SIGVTALRM },
	{ "SIGPROF", SIGPROF },	  { "SIGWINCH", SIGWINCH },
	{ "SIGIO", SIGIO },	  { "SIGPOLL", SIGPOLL },
	{ "SIGPWR", SIGPWR },	  { "SIGSYS", SIGSYS },
};

int pyrepr_signum(const char *name, struct buf *why)
{
	static const char upper[] = "signal name must be uppercase string.";
	struct buf full, m;
	size_t i;
	int sig = -1;

	if (!name || !py_isupper(name)) {
		if (why)
			pyrepr_exception_str(why, "TypeError", upper,
					     sizeof upper - 1);
		return -1;
	}
	buf_init(&full);
	buf_printf(&full, "%s%s", strncmp(name, "SIG", 3) ? "SIG" : "", name);
	for (i = 0; !full.failed && i < sizeof sig_names / sizeof sig_names[0];
	     i++)
		if (!strcmp(full.data, sig_names[i].name))
			sig = sig_names[i].num;
	if (sig < 0 && why) {
		buf_init(&m);
		buf_printf(&m, "module 'signal' has no attribute '%s'",
			   full.data ? full.data : "");
		if (m.failed)
			why->failed = 1;
		else
			pyrepr_exception_str(why, "AttributeError", m.data, m.len);
		buf_free(&m);
	}
	buf_free(&full);
	return sig;
}
