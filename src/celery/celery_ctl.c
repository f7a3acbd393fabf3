/* celery_ctl: remote control and events on the wire. Semantics follow Celery
 * 5.2.6 (worker/control.py Panel, worker/pidbox.py, events/dispatcher.py,
 * worker/heartbeat.py) and kombu 5.2.4 (pidbox.py Node/Mailbox, matcher.py,
 * the Redis transport's fanout); the byte layouts are the ones captured in
 * shared/reference/celery-captures (monitor7/12/15/19 pidbox, 2/7/8/18
 * events). JSON is written as Python's json.dumps: ", " / ": ", ASCII only. */
#include "celery/celery_ctl.h"
#include "lib/errmsg.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "celery/kombu.h"


/* Append tmp to out and free tmp; -1 (out untouched) if building tmp or
 * the append failed. Every builder works in a scratch buffer and commits
 * once, so a caller's buffer is never left half-written. */
static int commit(struct buf *out, struct buf *tmp)
{
	int rc = -1;

	if (!tmp->failed && buf_append(out, tmp->data ? tmp->data : "",
				       tmp->len) == 0)
		rc = 0;
	buf_free(tmp);
	return rc;
}

/* ---- UTF-8 and Python's repr(str) -------------------------------------- */

/* Decode one code point at s[i..n); malformed bytes count as one code
 * point each (the value of the byte), which is all a matcher needs. */
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
		*cp = u[0];
		return 1;
	}
	if (left < len) {
		*cp = u[0];
		return 1;
	}
	for (k = 1; k < len; k++) {
		if ((u[k] & 0xc0) != 0x80) {
			*cp = u[0];
			return 1;
		}
		v = (v << 6) | (u[k] & 0x3f);
	}
	*cp = v;
	return len;
}

/* Python's str.isprintable() for non-ASCII, approximated by the ranges
 * that matter in practice (C1 controls, odd spaces, format characters,
 * surrogates, private use); unassigned code points count as printable. */
static int py_printable(uint32_t c)
{
	return !((c >= 0x80 && c <= 0xa0) || c == 0xad || c == 0x61c ||
		 c == 0x180e || (c >= 0x2000 && c <= 0x200f) ||
		 (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) ||
		 c == 0x3000 || (c >= 0xd800 && c <= 0xf8ff) || c == 0xfeff ||
		 (c >= 0xfff9 && c <= 0xfffb) || c >= 0xe0000);
}

/* Append repr(s) as Python 3 writes it for a str: single quotes unless the
 * text has ' and no ", backslash escapes, \xhh / \uhhhh / \Uhhhhhhhh for
 * non-printables. */
static void py_repr_str(struct buf *out, const char *s, size_t n)
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
}

/* "<Type>(<repr(text)>)": how repr() shows an exception with one string
 * argument, the text of Celery's {"error": ...} replies. */
static void py_exc_repr(struct buf *out, const char *type, const char *text,
			size_t n)
{
	buf_append_str(out, type);
	buf_append_char(out, '(');
	py_repr_str(out, text, n);
	buf_append_char(out, ')');
}

static void py_exc_cstr(struct buf *out, const char *type, const char *text)
{
	py_exc_repr(out, type, text, strlen(text));
}

/* ---- small JSON helpers ------------------------------------------------ */

static void w_str(struct buf *out, const char *s)
{
	json_write_cstr(out, s);
}

static void w_key(struct buf *out, const char *key, int first)
{
	if (!first)
		buf_append_str(out, ", ");
	json_write_key(out, key);
}

static void w_bool(struct buf *out, int v)
{
	buf_append_str(out, v ? "true" : "false");
}

/* Python writes an int-valued float config value (25.0) the way it was
 * given; ours are doubles, so integral values are written as ints. */
static void w_num(struct buf *out, double v)
{
	if (v == (double)(int64_t)v && v > -9e15 && v < 9e15)
		json_write_int(out, (int64_t)v);
	else if (json_write_double(out, v) < 0)
		buf_append_str(out, "null");
}

static void w_double(struct buf *out, double v)
{
	if (json_write_double(out, v) < 0)
		buf_append_str(out, "null");
}

/* Python's round(x) for x >= 0: to nearest, ties to even (no libm). */
static int64_t py_round(double x)
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

/* Python's round(x, 2): the exact binary value rounded to 2 decimals, which
 * is what printf's %.2f computes; the double nearest that decimal is then
 * written with the shortest repr (0.22, not 0.22000000000000000111). */
static double py_round2(double x)
{
	char tmp[64];

	if (x != x || x > 1e15 || x < -1e15)
		return x;
	snprintf(tmp, sizeof tmp, "%.2f", x);
	return strtod(tmp, NULL);
}

/* ---- names ------------------------------------------------------------ */

int celery_ctl_channel(struct buf *out, int db)
{
	return buf_printf(out, "/%d.%s", db, CELERY_CTL_EXCHANGE) < 0 ? -1 : 0;
}

static void routing_key_of(struct buf *out, const char *type)
{
	for (; *type; type++)
		buf_append_char(out, *type == '-' ? '.' : *type);
}

int celery_ctl_event_channel(struct buf *out, int db, const char *type)
{
	struct buf tmp;

	if (!type)
		return -1;
	buf_init(&tmp);
	buf_printf(&tmp, "/%d.%s/", db, CELERY_CTL_EVENT_EXCHANGE);
	routing_key_of(&tmp, type);
	return commit(out, &tmp);
}

int celery_ctl_node_binding(struct buf *key, struct buf *member,
			    const char *hostname)
{
	struct buf k, m;

	if (!hostname)
		return -1;
	buf_init(&k);
	buf_init(&m);
	buf_append_str(&k, "_kombu.binding." CELERY_CTL_EXCHANGE);
	buf_printf(&m, KOMBU_SEP KOMBU_SEP "%s.celery.pidbox", hostname);
	if (k.failed || m.failed) {
		buf_free(&k);
		buf_free(&m);
		return -1;
	}
	if (commit(key, &k) < 0) {
		buf_free(&m);
		return -1;
	}
	return commit(member, &m);
}

/* ---- requests --------------------------------------------------------- */

/* Copy string token t into *out (malloc'd); ids and names become Redis
 * keys and C strings, so an embedded NUL is refused. */
static int tok_cstr(const struct json_doc *d, int t, char **out)
{
	size_t n;

	*out = NULL;
	if (json_tok_strdup(d, t, out, &n, NULL, 0) < 0)
		return -1;
	if (strlen(*out) != n) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Optional string member: absent or null leaves *out NULL. */
static int opt_str(const struct json_doc *d, int obj, const char *key,
		   char **out, char *err, size_t errlen)
{
	int t = json_obj_get(d, obj, key);

	if (t < 0 || json_kind(d, t) == JSON_K_NULL)
		return 0;
	if (json_kind(d, t) != JSON_K_STRING || tok_cstr(d, t, out) < 0) {
		errmsg_set(err, errlen, "'%s' must be a string without NUL", key);
		return -1;
	}
	return 0;
}

/* Python truthiness of token t. */
static int truthy(const struct json_doc *d, int t)
{
	size_t a, b;
	double v;

	switch (json_kind(d, t)) {
	case JSON_K_NULL:
	case JSON_K_FALSE:
		return 0;
	case JSON_K_TRUE:
	case JSON_K_NONFINITE:
		return 1;
	case JSON_K_OBJECT:
	case JSON_K_ARRAY:
		return d->toks[t].size > 0;
	case JSON_K_STRING:
		json_tok_span(d, t, &a, &b);
		return b - a > 2;
	case JSON_K_NUMBER:
		if (json_tok_double(d, t, &v, NULL, 0) < 0)
			return 1; /* overflow: a huge number is not zero */
		return v != 0.0;
	default:
		return 0;
	}
}

int celery_ctl_parse_body(const char *body, size_t len,
			  struct celery_ctl_request *req, char *err,
			  size_t errlen)
{
	struct json_doc *d = &req->doc;
	char why[160];
	int t, rt;

	req->args_tok = req->dest_tok = -1;
	req->body = malloc(len + 1);
	if (!req->body) {
		errmsg_set(err, errlen, "out of memory");
		return -1;
	}
	if (len)
		memcpy(req->body, body, len);
	req->body[len] = '\0';
	req->body_len = len;
	if (json_parse(d, req->body, len, CELERY_CTL_MAX_TOKENS, why,
		       sizeof why) < 0) {
		errmsg_set(err, errlen, "body: %s", why);
		return -1;
	}
	if (json_kind(d, 0) != JSON_K_OBJECT) {
		errmsg_set(err, errlen, "body is not an object");
		return -1;
	}
	t = json_obj_get(d, 0, "method");
	if (t < 0 || json_kind(d, t) != JSON_K_STRING ||
	    tok_cstr(d, t, &req->method) < 0) {
		errmsg_set(err, errlen, "'method' missing or not a string");
		return -1;
	}
	if (opt_str(d, 0, "ticket", &req->ticket, err, errlen) < 0 ||
	    opt_str(d, 0, "pattern", &req->pattern, err, errlen) < 0 ||
	    opt_str(d, 0, "matcher", &req->matcher, err, errlen) < 0)
		return -1;

	/* kombu Node.handle: "arguments = {} if not arguments else ..." */
	t = json_obj_get(d, 0, "arguments");
	if (t >= 0 && json_kind(d, t) == JSON_K_OBJECT)
		req->args_tok = t;
	else if (t >= 0 && truthy(d, t))
		req->args_bad = 1;
	t = json_obj_get(d, 0, "destination");
	if (t >= 0 && json_kind(d, t) != JSON_K_NULL)
		req->dest_tok = t;

	/* Node.dispatch replies when reply_to is truthy. A truthy reply_to
	 * without both names makes Python run the command and fail at the
	 * reply; we refuse the request instead of running it silently. */
	rt = json_obj_get(d, 0, "reply_to");
	if (rt >= 0 && truthy(d, rt)) {
		if (json_kind(d, rt) != JSON_K_OBJECT ||
		    opt_str(d, rt, "exchange", &req->reply_exchange, err,
			    errlen) < 0 ||
		    opt_str(d, rt, "routing_key", &req->reply_routing_key, err,
			    errlen) < 0 ||
		    !req->reply_exchange || !req->reply_routing_key) {
			errmsg_set(err, errlen,
			       "'reply_to' needs string exchange and routing_key");
			return -1;
		}
		req->has_reply = 1;
	}
	return 0;
}

int celery_ctl_parse(const char *json, size_t len, size_t max_len,
		     struct celery_ctl_request *req, char *err, size_t errlen)
{
	struct json_doc d;
	struct buf text;
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	char why[160];
	int t, props, hdr, rc = -1;
	int64_t clock;
	double expires;

	memset(req, 0, sizeof *req);
	req->args_tok = req->dest_tok = -1;
	memset(&d, 0, sizeof d);
	buf_init(&text);
	if (len > max_len) {
		errmsg_set(err, errlen, "envelope of %zu bytes exceeds %zu", len,
		       max_len);
		return -1;
	}
	if (json_parse(&d, json, len, CELERY_CTL_MAX_TOKENS, why,
		       sizeof why) < 0) {
		errmsg_set(err, errlen, "envelope: %s", why);
		return -1;
	}
	if (json_kind(&d, 0) != JSON_K_OBJECT) {
		errmsg_set(err, errlen, "envelope is not an object");
		goto out;
	}
	/* The mailbox accepts json only (Mailbox.accept); anything else is
	 * ContentDisallowed in Python: logged, never run, never answered. */
	t = json_obj_get(&d, 0, "content-type");
	if (t < 0 || !json_tok_streq(&d, t, "application/json")) {
		errmsg_set(err, errlen, "content-type is not application/json");
		goto out;
	}
	hdr = json_obj_get(&d, 0, "headers");
	if (hdr >= 0 && json_kind(&d, hdr) == JSON_K_OBJECT) {
		t = json_obj_get(&d, hdr, "clock");
		if (t >= 0 && json_tok_int64(&d, t, &clock, NULL, 0) == 0)
			req->clock = clock;
		t = json_obj_get(&d, hdr, "expires");
		if (t >= 0 && json_tok_double(&d, t, &expires, NULL, 0) == 0 &&
		    expires > 0) {
			req->has_expires = 1;
			req->expires = expires;
		}
	}
	t = json_obj_get(&d, 0, "body");
	if (t < 0 || json_kind(&d, t) != JSON_K_STRING ||
	    json_tok_unescape(&d, t, &text, why, sizeof why) < 0) {
		errmsg_set(err, errlen, "'body' missing or not a string");
		goto out;
	}
	props = json_obj_get(&d, 0, "properties");
	t = props >= 0 && json_kind(&d, props) == JSON_K_OBJECT
		    ? json_obj_get(&d, props, "body_encoding")
		    : -1;
	if (t >= 0 && json_tok_streq(&d, t, "base64")) {
		raw = malloc(base64_decoded_max(text.len) + 1);
		if (!raw) {
			errmsg_set(err, errlen, "out of memory");
			goto out;
		}
		if (base64_decode(text.data ? text.data : "", text.len, raw,
				  base64_decoded_max(text.len) + 1, &rawlen,
				  why, sizeof why) < 0) {
			errmsg_set(err, errlen, "body: %s", why);
			goto out;
		}
		rc = celery_ctl_parse_body((const char *)raw, rawlen, req, err,
					   errlen);
	} else if (t < 0 || json_kind(&d, t) == JSON_K_NULL) {
		rc = celery_ctl_parse_body(text.data ? text.data : "", text.len,
					   req, err, errlen);
	} else {
		errmsg_set(err, errlen, "unsupported body_encoding");
	}
out:
	free(raw);
	buf_free(&text);
	json_doc_free(&d);
	return rc;
}

void celery_ctl_request_free(struct celery_ctl_request *req)
{
	if (!req)
		return;
	free(req->method);
	free(req->ticket);
	free(req->reply_exchange);
	free(req->reply_routing_key);
	free(req->pattern);
	free(req->matcher);
	json_doc_free(&req->doc);
	free(req->body);
	memset(req, 0, sizeof *req);
	req->args_tok = req->dest_tok = -1;
}

/* ---- addressing: fnmatch ------------------------------------------------ */

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

/* fnmatch.fnmatch(name, pattern) on POSIX (case-sensitive). 1/0, or -1
 * when Python would raise or the pattern is too long. */
static int fnmatch_py(const char *name, const char *pattern)
{
	uint32_t *p = NULL, *s = NULL;
	size_t pn, sn;
	struct glob g;
	int r = -1;

	/* patterns are short; a bound keeps the work small */
	if (strlen(pattern) > CELERY_CTL_MAX_PATTERN)
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

int celery_ctl_addressed(const struct celery_ctl_request *req,
			 const char *hostname)
{
	const struct json_doc *d = &req->doc;
	int t = req->dest_tok, i, e, r;
	char *s;

	if (!hostname)
		return CELERY_CTL_ADDR_NO;
	if (t >= 0 && truthy(d, t)) {
		switch (json_kind(d, t)) {
		case JSON_K_ARRAY:
			for (i = 0; i < d->toks[t].size; i++) {
				e = json_arr_get(d, t, i);
				if (json_tok_streq(d, e, hostname))
					return CELERY_CTL_ADDR_YES;
			}
			return CELERY_CTL_ADDR_NO;
		case JSON_K_OBJECT:
			return json_obj_get(d, t, hostname) >= 0
				       ? CELERY_CTL_ADDR_YES
				       : CELERY_CTL_ADDR_NO;
		case JSON_K_STRING:
			/* `hostname in "some string"` is a substring test */
			if (tok_cstr(d, t, &s) < 0)
				return CELERY_CTL_ADDR_UNSUPPORTED;
			r = strstr(s, hostname) ? CELERY_CTL_ADDR_YES
						: CELERY_CTL_ADDR_NO;
			free(s);
			return r;
		default:
			return CELERY_CTL_ADDR_UNSUPPORTED;
		}
	}
	if (req->pattern && req->pattern[0] && req->matcher &&
	    req->matcher[0]) {
		if (strcmp(req->matcher, "glob") != 0)
			return CELERY_CTL_ADDR_UNSUPPORTED;
		r = fnmatch_py(hostname, req->pattern);
		if (r < 0)
			return CELERY_CTL_ADDR_UNSUPPORTED;
		return r ? CELERY_CTL_ADDR_YES : CELERY_CTL_ADDR_NO;
	}
	return CELERY_CTL_ADDR_YES;
}

/* ---- arguments -------------------------------------------------------- */

/* Token of argument name, or -1 when absent (null included: callers that
 * must tell null apart use arg_tok_any). */
static int arg_tok_any(const struct celery_ctl_request *req, const char *name)
{
	if (req->args_tok < 0 || !name)
		return -1;
	return json_obj_get(&req->doc, req->args_tok, name);
}

static int arg_tok(const struct celery_ctl_request *req, const char *name)
{
	int t = arg_tok_any(req, name);

	if (t >= 0 && json_kind(&req->doc, t) == JSON_K_NULL)
		return -1;
	return t;
}

int celery_ctl_arg_str(const struct celery_ctl_request *req, const char *name,
		       char **out)
{
	int t = arg_tok(req, name);

	*out = NULL;
	if (t < 0)
		return -2;
	if (json_kind(&req->doc, t) != JSON_K_STRING)
		return -1;
	return tok_cstr(&req->doc, t, out);
}

int celery_ctl_arg_bool(const struct celery_ctl_request *req, const char *name,
			int *out)
{
	int t = arg_tok(req, name);

	*out = 0;
	if (t < 0)
		return -2;
	*out = truthy(&req->doc, t);
	return 0;
}

int celery_ctl_arg_double(const struct celery_ctl_request *req,
			  const char *name, double *out)
{
	int t = arg_tok(req, name);

	if (t < 0)
		return -2;
	return json_tok_double(&req->doc, t, out, NULL, 0) == 0 ? 0 : -1;
}

int celery_ctl_arg_int(const struct celery_ctl_request *req, const char *name,
		       int64_t *out)
{
	int t = arg_tok(req, name);

	if (t < 0)
		return -2;
	return json_tok_int64(&req->doc, t, out, NULL, 0) == 0 ? 0 : -1;
}

int celery_ctl_arg_raw(const struct celery_ctl_request *req, const char *name,
		       const char **p, size_t *n)
{
	int t = arg_tok(req, name);
	size_t a, b;

	if (t < 0)
		return -2;
	json_tok_span(&req->doc, t, &a, &b); /* quotes included */
	*p = req->doc.js + a;
	*n = b - a;
	return 0;
}

void celery_ctl_ids_free(char **ids, size_t n)
{
	size_t i;

	if (!ids)
		return;
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

static const char *py_type_name(int kind)
{
	switch (kind) {
	case JSON_K_NUMBER:
		return "int";
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

/* Python's type name of a number token: int unless it has a fraction. */
static const char *num_type(const struct json_doc *d, int t)
{
	int64_t v;

	if (json_kind(d, t) == JSON_K_NUMBER &&
	    json_tok_int64(d, t, &v, NULL, 0) == JSON_EFRAC)
		return "float";
	return py_type_name(json_kind(d, t));
}

static int ids_push(char ***ids, size_t *n, size_t *cap, char *s)
{
	size_t i;
	char **v;

	for (i = 0; i < *n; i++)
		if (!strcmp((*ids)[i], s)) {
			free(s); /* set(): duplicates collapse */
			return 0;
		}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		v = realloc(*ids, *cap * sizeof *v);
		if (!v) {
			free(s);
			return -1;
		}
		*ids = v;
	}
	(*ids)[(*n)++] = s;
	return 0;
}

int celery_ctl_arg_ids(const struct celery_ctl_request *req, const char *name,
		       char ***ids, size_t *n, struct buf *why)
{
	const struct json_doc *d = &req->doc;
	int t = arg_tok_any(req, name), e, i, k;
	size_t cap = 0;
	char *s, msg[96];

	*ids = NULL;
	*n = 0;
	if (t < 0)
		return -2;
	k = json_kind(d, t);
	if (k == JSON_K_NULL)
		return 0;
	if (k == JSON_K_STRING) {
		if (tok_cstr(d, t, &s) < 0)
			goto bad_str;
		return ids_push(ids, n, &cap, s);
	}
	if (k == JSON_K_OBJECT) {
		/* maybe_list(dict) -> [dict]; set([dict]) raises */
		if (why)
			py_exc_cstr(why, "TypeError", "unhashable type: 'dict'");
		return -1;
	}
	if (k != JSON_K_ARRAY) {
		snprintf(msg, sizeof msg,
			 "sequence item 0: expected str instance, %s found",
			 num_type(d, t));
		goto bad;
	}
	for (i = 0; i < d->toks[t].size; i++) {
		e = json_arr_get(d, t, i);
		k = json_kind(d, e);
		if (k == JSON_K_ARRAY || k == JSON_K_OBJECT) {
			snprintf(msg, sizeof msg, "unhashable type: '%s'",
				 py_type_name(k));
			goto bad;
		}
		if (k != JSON_K_STRING) {
			snprintf(msg, sizeof msg,
				 "sequence item %zu: expected str instance, %s found",
				 *n, num_type(d, e));
			goto bad;
		}
		if (tok_cstr(d, e, &s) < 0)
			goto bad_str;
		if (ids_push(ids, n, &cap, s) < 0)
			goto oom;
	}
	return 0;
bad_str:
	snprintf(msg, sizeof msg, "task id contains a NUL character");
	goto bad;
oom:
	snprintf(msg, sizeof msg, "out of memory");
bad:
	if (why)
		py_exc_repr(why, "TypeError", msg, strlen(msg));
	celery_ctl_ids_free(*ids, *n);
	*ids = NULL;
	*n = 0;
	return -1;
}

/* Names Python's signal module knows on Linux, for signals.signum(). */
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

/* str.isupper(): at least one cased character and no lowercase one
 * (ASCII letters decide; other bytes are uncased here). */
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

int celery_ctl_signum(const struct celery_ctl_request *req, const char *name,
		      int *signum, struct buf *why)
{
	const struct json_doc *d = &req->doc;
	int t = arg_tok(req, name), k;
	int64_t v;
	char *s = NULL, full[80];
	size_t i;

	*signum = SIGTERM;
	/* `signal or TERM_SIGNAME` */
	if (t < 0 || !truthy(d, t))
		return 0;
	k = json_kind(d, t);
	if (k == JSON_K_TRUE) {
		*signum = 1; /* bool is an Integral in Python */
		return 0;
	}
	if (k == JSON_K_NUMBER && json_tok_int64(d, t, &v, NULL, 0) == 0) {
		if (v < 1 || v > 64) {
			if (why)
				py_exc_cstr(why, "ValueError",
					    "signal number out of range");
			return -1;
		}
		*signum = (int)v;
		return 0;
	}
	if (k != JSON_K_STRING || tok_cstr(d, t, &s) < 0 || !py_isupper(s)) {
		free(s);
		if (why)
			py_exc_cstr(why, "TypeError",
				    "signal name must be uppercase string.");
		return -1;
	}
	snprintf(full, sizeof full, "%s%s", strncmp(s, "SIG", 3) ? "SIG" : "",
		 s);
	for (i = 0; i < sizeof sig_names / sizeof sig_names[0]; i++)
		if (strlen(s) < 64 && !strcmp(full, sig_names[i].name)) {
			*signum = sig_names[i].num;
			free(s);
			return 0;
		}
	if (why) {
		struct buf m;

		buf_init(&m);
		buf_printf(&m, "module 'signal' has no attribute '%s%s'",
			   strncmp(s, "SIG", 3) ? "SIG" : "", s);
		py_exc_repr(why, "AttributeError", m.data ? m.data : "", m.len);
		buf_free(&m);
	}
	free(s);
	return -1;
}

int64_t celery_ctl_clock_adjust(int64_t local, int64_t remote)
{
	int64_t m = local > remote ? local : remote;

	return m == INT64_MAX ? m : m + 1;
}

/* ---- methods ---------------------------------------------------------- */

static const struct {
	const char *name;
	int m;
} methods[] = {
	{ "ping", CELERY_CTL_M_PING },
	{ "active", CELERY_CTL_M_ACTIVE },
	{ "dump_active", CELERY_CTL_M_ACTIVE },
	{ "reserved", CELERY_CTL_M_RESERVED },
	{ "dump_reserved", CELERY_CTL_M_RESERVED },
	{ "scheduled", CELERY_CTL_M_SCHEDULED },
	{ "dump_schedule", CELERY_CTL_M_SCHEDULED },
	{ "registered", CELERY_CTL_M_REGISTERED },
	{ "dump_tasks", CELERY_CTL_M_REGISTERED },
	{ "stats", CELERY_CTL_M_STATS },
	{ "revoked", CELERY_CTL_M_REVOKED },
	{ "dump_revoked", CELERY_CTL_M_REVOKED },
	{ "clock", CELERY_CTL_M_CLOCK },
	{ "hello", CELERY_CTL_M_HELLO },
	{ "query_task", CELERY_CTL_M_QUERY_TASK },
	{ "revoke", CELERY_CTL_M_REVOKE },
	{ "terminate", CELERY_CTL_M_TERMINATE },
	{ "shutdown", CELERY_CTL_M_SHUTDOWN },
	{ "enable_events", CELERY_CTL_M_ENABLE_EVENTS },
	{ "disable_events", CELERY_CTL_M_DISABLE_EVENTS },
	{ "heartbeat", CELERY_CTL_M_HEARTBEAT },
	/* The rest of Celery 5.2.6's Panel: known, not implemented. */
	{ "report", CELERY_CTL_M_UNSUPPORTED },
	{ "conf", CELERY_CTL_M_UNSUPPORTED },
	{ "dump_conf", CELERY_CTL_M_UNSUPPORTED },
	{ "rate_limit", CELERY_CTL_M_UNSUPPORTED },
	{ "time_limit", CELERY_CTL_M_UNSUPPORTED },
	{ "election", CELERY_CTL_M_UNSUPPORTED },
	{ "objgraph", CELERY_CTL_M_UNSUPPORTED },
	{ "memsample", CELERY_CTL_M_UNSUPPORTED },
	{ "memdump", CELERY_CTL_M_UNSUPPORTED },
	{ "pool_grow", CELERY_CTL_M_UNSUPPORTED },
	{ "pool_shrink", CELERY_CTL_M_UNSUPPORTED },
	{ "pool_restart", CELERY_CTL_M_UNSUPPORTED },
	{ "autoscale", CELERY_CTL_M_UNSUPPORTED },
	{ "add_consumer", CELERY_CTL_M_UNSUPPORTED },
	{ "cancel_consumer", CELERY_CTL_M_UNSUPPORTED },
	{ "active_queues", CELERY_CTL_M_UNSUPPORTED },
};

int celery_ctl_method_of(const char *name)
{
	size_t i;

	if (!name)
		return CELERY_CTL_M_UNKNOWN;
	for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (!strcmp(name, methods[i].name))
			return methods[i].m;
	return CELERY_CTL_M_UNKNOWN;
}

/* ---- reply bodies ----------------------------------------------------- */

static int body_kv(struct buf *out, const char *key, const char *text,
		   size_t n)
{
	struct buf tmp;

	buf_init(&tmp);
	buf_append_char(&tmp, '{');
	json_write_key(&tmp, key);
	json_write_str(&tmp, text ? text : "", text ? n : 0, JSON_W_ASCII);
	buf_append_char(&tmp, '}');
	return commit(out, &tmp);
}

/* {"error": "<Type>('<msg>')"}: a Python exception as Node.dispatch
 * reports it (reply = {'error': repr(exc)}). */
static int body_exc(struct buf *out, const char *type, const char *msg,
		    size_t n)
{
	struct buf e;
	int rc;

	buf_init(&e);
	py_exc_repr(&e, type, msg, n);
	rc = e.failed ? -1 : body_kv(out, "error", e.data, e.len);
	buf_free(&e);
	return rc;
}

int celery_ctl_body_ok(struct buf *out, const char *text)
{
	return body_kv(out, "ok", text, text ? strlen(text) : 0);
}

int celery_ctl_body_error(struct buf *out, const char *text)
{
	return body_kv(out, "error", text, text ? strlen(text) : 0);
}

int celery_ctl_body_unknown(struct buf *out, const char *method)
{
	return body_exc(out, "KeyError", method ? method : "",
			method ? strlen(method) : 0);
}

int celery_ctl_body_missing(struct buf *out, const char *func,
			    const char *const *names, size_t n)
{
	struct buf m;
	size_t i;
	int rc;

	if (!func || !names || n == 0)
		return -1;
	buf_init(&m);
	buf_printf(&m, "%s() missing %zu required positional argument%s: ",
		   func, n, n == 1 ? "" : "s");
	/* 'a' / 'a' and 'b' / 'a', 'b', and 'c' (Python's format) */
	for (i = 0; i < n; i++) {
		if (i > 0 && n > 2)
			buf_append_str(&m, ", ");
		if (i > 0 && i == n - 1)
			buf_append_str(&m, n > 2 ? "and " : " and ");
		buf_printf(&m, "'%s'", names[i]);
	}
	rc = m.failed ? -1 : body_exc(out, "TypeError", m.data, m.len);
	buf_free(&m);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int celery_ctl_body_registered(struct buf *out, const char *const *names,
			       size_t n)
{
	const char **v;
	struct buf tmp;
	size_t i, k = 0;

	v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return -1;
	for (i = 0; i < n; i++)
		if (names[i] && strncmp(names[i], "celery.", 7) != 0)
			v[k++] = names[i];
	qsort(v, k, sizeof *v, cmp_names);
	buf_init(&tmp);
	buf_append_char(&tmp, '[');
	for (i = 0; i < k; i++) {
		if (i)
			buf_append_str(&tmp, ", ");
		w_str(&tmp, v[i]);
	}
	buf_append_char(&tmp, ']');
	free(v);
	return commit(out, &tmp);
}

/* Raw JSON text, validated (NULL -> dflt). */
static int w_raw_json(struct buf *out, const char *js, size_t n,
		      const char *dflt)
{
	if (!js)
		return json_write_raw(out, dflt, strlen(dflt));
	if (n == 0)
		n = strlen(js);
	if (json_validate(js, n, NULL, 0) < 0)
		return -1;
	return json_write_raw(out, js, n);
}

/* Request.info() */
static int w_task_info(struct buf *out, const char *hostname,
		       const struct celery_ctl_task *t)
{
	if (!t->id || !t->name)
		return -1;
	buf_append_str(out, "{\"id\": ");
	w_str(out, t->id);
	w_key(out, "name", 0);
	w_str(out, t->name);
	w_key(out, "args", 0);
	if (w_raw_json(out, t->args_json, t->args_len, "[]") < 0)
		return -1;
	w_key(out, "kwargs", 0);
	if (w_raw_json(out, t->kwargs_json, t->kwargs_len, "{}") < 0)
		return -1;
	w_key(out, "type", 0);
	w_str(out, t->type ? t->type : t->name);
	w_key(out, "hostname", 0);
	w_str(out, hostname);
	w_key(out, "time_start", 0);
	if (t->time_start > 0)
		w_double(out, t->time_start);
	else
		buf_append_str(out, "null");
	w_key(out, "acknowledged", 0);
	w_bool(out, t->acknowledged);
	buf_append_str(out, ", \"delivery_info\": {\"exchange\": ");
	w_str(out, t->exchange ? t->exchange : "");
	w_key(out, "routing_key", 0);
	w_str(out, t->routing_key);
	w_key(out, "priority", 0);
	json_write_int(out, t->priority);
	w_key(out, "redelivered", 0);
	buf_append_str(out, t->redelivered ? "true" : "null");
	buf_append_str(out, "}, \"worker_pid\": ");
	if (t->pid > 0)
		json_write_int(out, t->pid);
	else
		buf_append_str(out, "null");
	buf_append_char(out, '}');
	return 0;
}

int celery_ctl_body_tasks(struct buf *out, const char *hostname,
			  const struct celery_ctl_task *t, size_t n)
{
	struct buf tmp;
	size_t i;

	buf_init(&tmp);
	buf_append_char(&tmp, '[');
	for (i = 0; i < n; i++) {
		if (i)
			buf_append_str(&tmp, ", ");
		if (w_task_info(&tmp, hostname, &t[i]) < 0) {
			buf_free(&tmp);
			return -1;
		}
	}
	buf_append_char(&tmp, ']');
	return commit(out, &tmp);
}

int celery_ctl_body_scheduled(struct buf *out, const char *hostname,
			      const struct celery_ctl_task *t, size_t n)
{
	struct buf tmp;
	size_t i;

	buf_init(&tmp);
	buf_append_char(&tmp, '[');
	for (i = 0; i < n; i++) {
		if (i)
			buf_append_str(&tmp, ", ");
		buf_append_str(&tmp, "{\"eta\": ");
		w_str(&tmp, t[i].eta);
		buf_printf(&tmp, ", \"priority\": %d, \"request\": ",
			   CELERY_CTL_ETA_PRIORITY);
		if (w_task_info(&tmp, hostname, &t[i]) < 0) {
			buf_free(&tmp);
			return -1;
		}
		buf_append_char(&tmp, '}');
	}
	buf_append_char(&tmp, ']');
	return commit(out, &tmp);
}

int celery_ctl_body_hello(struct buf *out, const char *const *revoked,
			  const double *ts, size_t n, int64_t clock)
{
	struct buf tmp;
	size_t i;

	buf_init(&tmp);
	buf_append_str(&tmp, "{\"revoked\": {");
	for (i = 0; i < n; i++) {
		if (i)
			buf_append_str(&tmp, ", ");
		json_write_key(&tmp, revoked[i]);
		buf_append_char(&tmp, '[');
		w_double(&tmp, ts ? ts[i] : 0.0);
		buf_append_str(&tmp, ", ");
		w_str(&tmp, revoked[i]);
		buf_append_char(&tmp, ']');
	}
	buf_append_str(&tmp, "}, \"clock\": ");
	json_write_int(&tmp, clock);
	buf_append_char(&tmp, '}');
	return commit(out, &tmp);
}

int celery_ctl_body_revoke(struct buf *out, const char *const *ids,
			   const int *known, size_t n, int terminate)
{
	struct buf m;
	size_t i, k = 0;
	int rc;

	buf_init(&m);
	if (!terminate) {
		buf_append_str(&m, "tasks ");
		for (i = 0; i < n; i++)
			buf_printf(&m, "%s%s", i ? ", " : "", ids[i]);
		buf_append_str(&m, " flagged as revoked");
	} else {
		buf_append_str(&m, "terminate: ");
		for (i = 0; i < n; i++)
			if (known && known[i])
				buf_printf(&m, "%s%s", k++ ? ", " : "", ids[i]);
		if (!k)
			buf_append_str(&m, "tasks unknown");
	}
	rc = m.failed ? -1 : body_kv(out, "ok", m.data, m.len);
	buf_free(&m);
	return rc;
}

int celery_ctl_body_events(struct buf *out, int enable, int was_enabled)
{
	if (enable)
		return celery_ctl_body_ok(out, was_enabled
						       ? "task events already enabled"
						       : "task events enabled");
	return celery_ctl_body_ok(out, was_enabled
					       ? "task events disabled"
					       : "task events already disabled");
}

static double tv_secs(struct timeval tv)
{
	/* Python's resource module: tv_sec + tv_usec * 1e-6, hence
	 * 0.09713899999999999 in the capture. */
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

int celery_ctl_body_stats(struct buf *out, const struct celery_ctl_stats *s)
{
	const struct rusage *r = s->rusage;
	struct buf tmp;
	size_t i;

	buf_init(&tmp);
	buf_append_str(&tmp, "{\"total\": {");
	for (i = 0; i < s->n_total; i++) {
		if (i)
			buf_append_str(&tmp, ", ");
		json_write_key(&tmp, s->total_names[i]);
		json_write_int(&tmp, s->total_counts[i]);
	}
	buf_append_str(&tmp, "}, \"pid\": ");
	json_write_int(&tmp, s->pid);
	/* str(app.clock): Celery sends the clock as a string here */
	buf_printf(&tmp, ", \"clock\": \"%lld\", \"uptime\": ",
		   (long long)s->clock);
	json_write_int(&tmp, py_round(s->uptime));

	buf_append_str(&tmp, ", \"pool\": {\"max-concurrency\": ");
	json_write_int(&tmp, s->max_concurrency);
	buf_append_str(&tmp, ", \"processes\": [");
	for (i = 0; i < s->n_processes; i++) {
		if (i)
			buf_append_str(&tmp, ", ");
		json_write_int(&tmp, s->processes[i]);
	}
	buf_append_str(&tmp, "], \"max-tasks-per-child\": ");
	if (s->max_tasks_per_child > 0)
		json_write_int(&tmp, s->max_tasks_per_child);
	else
		buf_append_str(&tmp, "\"N/A\"");
	buf_append_str(&tmp, ", \"put-guarded-by-semaphore\": false, "
			     "\"timeouts\": [");
	w_num(&tmp, s->soft_time_limit > 0 ? s->soft_time_limit : 0);
	buf_append_str(&tmp, ", ");
	w_num(&tmp, s->time_limit > 0 ? s->time_limit : 0);
	buf_append_str(&tmp, "], \"implementation\": ");
	w_str(&tmp, s->implementation ? s->implementation
				      : "tryon-worker:prefork");

	buf_append_str(&tmp, "}, \"broker\": {\"hostname\": ");
	w_str(&tmp, s->broker_host);
	w_key(&tmp, "userid", 0);
	w_str(&tmp, s->broker_user);
	buf_printf(&tmp, ", \"virtual_host\": \"%d\", \"port\": %d, "
			 "\"insist\": false, \"ssl\": %s, "
			 "\"transport\": \"redis\", \"transport_options\": {",
		   s->broker_db, s->broker_port,
		   s->broker_ssl ? "true" : "false");
	if (s->visibility_timeout > 0)
		buf_printf(&tmp, "\"visibility_timeout\": %lld",
			   (long long)s->visibility_timeout);
	buf_append_str(&tmp, "}, \"login_method\": null, \"uri_prefix\": null}");
	buf_append_str(&tmp, ", \"prefetch_count\": ");
	json_write_int(&tmp, s->prefetch_count);
	buf_append_str(&tmp, ", \"rusage\": ");
	if (!r) {
		buf_append_str(&tmp, "\"N/A\"");
	} else {
		buf_append_str(&tmp, "{\"utime\": ");
		w_double(&tmp, tv_secs(r->ru_utime));
		buf_append_str(&tmp, ", \"stime\": ");
		w_double(&tmp, tv_secs(r->ru_stime));
		buf_printf(&tmp,
			   ", \"maxrss\": %ld, \"ixrss\": %ld, \"idrss\": %ld, "
			   "\"isrss\": %ld, \"minflt\": %ld, \"majflt\": %ld, "
			   "\"nswap\": %ld, \"inblock\": %ld, \"oublock\": %ld, "
			   "\"msgsnd\": %ld, \"msgrcv\": %ld, \"nsignals\": %ld, "
			   "\"nvcsw\": %ld, \"nivcsw\": %ld}",
			   (long)r->ru_maxrss, (long)r->ru_ixrss,
			   (long)r->ru_idrss, (long)r->ru_isrss,
			   (long)r->ru_minflt, (long)r->ru_majflt,
			   (long)r->ru_nswap, (long)r->ru_inblock,
			   (long)r->ru_oublock, (long)r->ru_msgsnd,
			   (long)r->ru_msgrcv, (long)r->ru_nsignals,
			   (long)r->ru_nvcsw, (long)r->ru_nivcsw);
	}
	buf_append_char(&tmp, '}');
	return commit(out, &tmp);
}

/* repr() of JSON value t, as Python prints the object json.loads makes of
 * it: 'str' (repr quoting), ints as written, floats shortest, True/False/
 * None, [..] and {'k': v}. */
static void py_repr_value(struct buf *out, const struct json_doc *d, int t)
{
	struct buf s;
	size_t a, b;
	double v;
	int64_t iv;
	int i, e;

	switch (json_kind(d, t)) {
	case JSON_K_STRING:
		buf_init(&s);
		if (json_tok_unescape(d, t, &s, NULL, 0) == 0)
			py_repr_str(out, s.data ? s.data : "", s.len);
		buf_free(&s);
		break;
	case JSON_K_NUMBER:
		json_tok_span(d, t, &a, &b);
		switch (json_tok_int64(d, t, &iv, NULL, 0)) {
		case 0:
			json_write_int(out, iv); /* "-0" is the int 0 */
			break;
		case JSON_EFRAC:
			if (json_tok_double(d, t, &v, NULL, 0) == 0)
				w_double(out, v);
			else /* 1e400 reads as inf */
				buf_append_str(out, d->js[a] == '-' ? "-inf" : "inf");
			break;
		default:
			buf_append(out, d->js + a, b - a); /* a big int */
			break;
		}
		break;
	case JSON_K_NONFINITE:
		json_tok_span(d, t, &a, &b);
		buf_append_str(out, d->js[a] == 'N'   ? "nan"
				    : d->js[a] == '-' ? "-inf"
						      : "inf");
		break;
	case JSON_K_TRUE:
		buf_append_str(out, "True");
		break;
	case JSON_K_FALSE:
		buf_append_str(out, "False");
		break;
	case JSON_K_ARRAY:
		buf_append_char(out, '[');
		for (i = 0, e = t + 1; i < d->toks[t].size; i++, e = json_skip(d, e)) {
			if (i)
				buf_append_str(out, ", ");
			py_repr_value(out, d, e);
		}
		buf_append_char(out, ']');
		break;
	case JSON_K_OBJECT:
		buf_append_char(out, '{');
		for (i = 0, e = t + 1; i < d->toks[t].size;
		     i++, e = json_skip(d, json_skip(d, e))) {
			if (i)
				buf_append_str(out, ", ");
			py_repr_value(out, d, e);
			buf_append_str(out, ": ");
			py_repr_value(out, d, json_skip(d, e));
		}
		buf_append_char(out, '}');
		break;
	default:
		buf_append_str(out, "None");
		break;
	}
}

int celery_ctl_exc_repr(struct buf *out, const char *type,
			const char *args_json, size_t len)
{
	struct json_doc d;
	struct buf tmp;
	int i, e, n;

	if (!type)
		return -1;
	if (!args_json) {
		args_json = "[]";
		len = 2;
	} else if (len == 0) {
		len = strlen(args_json);
	}
	if (json_parse(&d, args_json, len, CELERY_CTL_MAX_TOKENS, NULL, 0) < 0)
		return -1;
	if (json_kind(&d, 0) != JSON_K_ARRAY) {
		json_doc_free(&d);
		return -1;
	}
	/* BaseException.__repr__: Name(repr(arg)) for one argument, else
	 * Name + repr(args), whose tuple form is (a, b) or () */
	buf_init(&tmp);
	buf_append_str(&tmp, type);
	buf_append_char(&tmp, '(');
	n = d.toks[0].size;
	for (i = 0, e = 1; i < n; i++, e = json_skip(&d, e)) {
		if (i)
			buf_append_str(&tmp, ", ");
		py_repr_value(&tmp, &d, e);
	}
	buf_append_char(&tmp, ')');
	json_doc_free(&d);
	return commit(out, &tmp);
}

/* ---- celery_ctl_handle ------------------------------------------------ */

void celery_ctl_action_free(struct celery_ctl_action *act)
{
	if (!act)
		return;
	celery_ctl_ids_free(act->ids, act->n_ids);
	free(act->ts);
	memset(act, 0, sizeof *act);
}

static const struct celery_ctl_task *
find_task(const struct celery_ctl_task *v, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].id && !strcmp(v[i].id, id))
			return &v[i];
	return NULL;
}

static int held(const struct celery_ctl_state *st, const char *id)
{
	return find_task(st->active, st->n_active, id) ||
	       find_task(st->reserved, st->n_reserved, id) ||
	       find_task(st->scheduled, st->n_scheduled, id);
}

/* revoke(state, task_id, terminate=False, signal=None) and
 * terminate(state, signal, task_id). */
static int do_revoke(const struct celery_ctl_request *req,
		     const struct celery_ctl_state *st, struct buf *body,
		     struct celery_ctl_action *act, int terminate_method)
{
	static const char *const rv_args[] = { "task_id" };
	static const char *const tm_args[] = { "signal", "task_id" };
	const char *missing[2];
	size_t nmissing = 0, i;
	struct buf why;
	int terminate = 0, rc, *known;

	if (terminate_method && arg_tok_any(req, "signal") < 0)
		missing[nmissing++] = tm_args[0];
	if (arg_tok_any(req, "task_id") < 0)
		missing[nmissing++] = rv_args[0];
	if (nmissing)
		return celery_ctl_body_missing(
			body, terminate_method ? "terminate" : "revoke", missing,
			nmissing);
	buf_init(&why);
	if (celery_ctl_arg_ids(req, "task_id", &act->ids, &act->n_ids, &why) <
	    0) {
		rc = why.failed ? -1 : body_kv(body, "error", why.data, why.len);
		buf_free(&why);
		return rc;
	}
	act->act = CELERY_CTL_ACT_REVOKE;
	if (terminate_method)
		terminate = 1;
	else
		celery_ctl_arg_bool(req, "terminate", &terminate);
	if (!terminate) {
		buf_free(&why);
		return celery_ctl_body_revoke(body,
					      (const char *const *)act->ids,
					      NULL, act->n_ids, 0);
	}
	/* Celery flags the ids revoked before it looks at the signal, so a
	 * bad signal still revokes them, without terminating anything. */
	if (celery_ctl_signum(req, "signal", &act->signum, &why) < 0) {
		rc = why.failed ? -1 : body_kv(body, "error", why.data, why.len);
		buf_free(&why);
		return rc;
	}
	buf_free(&why);
	act->terminate = 1;
	known = calloc(act->n_ids ? act->n_ids : 1, sizeof *known);
	if (!known)
		return -1;
	for (i = 0; i < act->n_ids; i++)
		known[i] = held(st, act->ids[i]);
	rc = celery_ctl_body_revoke(body, (const char *const *)act->ids, known,
				    act->n_ids, 1);
	free(known);
	return rc;
}

/* The time of a LimitedSet._data entry: [ts, id] (or a bare ts), as
 * LimitedSet.update reads it; *when is left alone otherwise. */
static void entry_time(const struct json_doc *d, int v, double *when)
{
	int k = json_kind(d, v);

	if (k == JSON_K_ARRAY && d->toks[v].size > 0)
		v = json_arr_get(d, v, 0);
	if (json_kind(d, v) == JSON_K_NUMBER)
		json_tok_double(d, v, when, NULL, 0);
}

/* hello(state, from_node, revoked=None): a peer's mingle at its start. */
static int do_hello(const struct celery_ctl_request *req,
		    const struct celery_ctl_state *st, struct buf *body,
		    struct celery_ctl_action *act)
{
	static const char *const args[] = { "from_node" };
	const struct json_doc *d = &req->doc;
	const char **ids = NULL;
	double *ts = NULL;
	size_t n = 0, i, cap;
	int t, k, e, rc;
	char *from = NULL, *s;

	if (arg_tok_any(req, "from_node") < 0)
		return celery_ctl_body_missing(body, "hello", args, 1);
	celery_ctl_arg_str(req, "from_node", &from);
	if (from && !strcmp(from, st->hostname)) {
		/* our own hello: Celery's handler returns None */
		free(from);
		return json_write_raw(body, "null", 4);
	}
	free(from);
	/* revoked.update(theirs): a dict (LimitedSet._data) or a list */
	t = arg_tok(req, "revoked");
	cap = st->n_revoked + (t >= 0 ? (size_t)d->toks[t].size : 0) + 1;
	ids = calloc(cap, sizeof *ids);
	ts = calloc(cap, sizeof *ts);
	if (!ids || !ts) {
		free(ids);
		free(ts);
		return -1;
	}
	for (i = 0; i < st->n_revoked; i++) {
		ids[n] = st->revoked[i];
		ts[n++] = st->revoked_ts ? st->revoked_ts[i] : st->now;
	}
	k = t >= 0 ? json_kind(d, t) : JSON_K_INVALID;
	if (k == JSON_K_OBJECT || k == JSON_K_ARRAY) {
		size_t cap2 = 0;

		act->ts = calloc((size_t)d->toks[t].size + 1, sizeof *act->ts);
		if (!act->ts)
			goto fail;
		for (i = 0, e = t + 1; i < (size_t)d->toks[t].size;
		     i++, e = json_skip(d, k == JSON_K_OBJECT ? json_skip(d, e) : e)) {
			double when = st->now;

			if (json_kind(d, e) != JSON_K_STRING ||
			    tok_cstr(d, e, &s) < 0)
				continue;
			if (k == JSON_K_OBJECT)
				entry_time(d, json_skip(d, e), &when);
			act->ts[act->n_ids] = when;
			if (ids_push(&act->ids, &act->n_ids, &cap2, s) < 0)
				goto fail;
		}
		act->act = CELERY_CTL_ACT_SYNC;
	}
	/* Their ids join ours in the reply, as after revoked.update(). */
	for (i = 0; i < act->n_ids; i++) {
		size_t j;

		for (j = 0; j < n && strcmp(ids[j], act->ids[i]); j++)
			;
		if (j == n && n < cap) {
			ids[n] = act->ids[i];
			ts[n++] = act->ts[i];
		}
	}
	act->clock_used = 1;
	act->clock_value = st->clock + 1; /* app.clock.forward() */
	rc = celery_ctl_body_hello(body, ids, ts, n, act->clock_value);
	free(ids);
	free(ts);
	return rc;
fail:
	free(ids);
	free(ts);
	return -1;
}

static int do_query_task(const struct celery_ctl_request *req,
			 const struct celery_ctl_state *st, struct buf *body)
{
	static const char *const args[] = { "ids" };
	const struct celery_ctl_task *t;
	struct buf tmp, why;
	char **ids;
	size_t n, i, k = 0;
	int rc;

	if (arg_tok_any(req, "ids") < 0)
		return celery_ctl_body_missing(body, "query_task", args, 1);
	buf_init(&why);
	if (celery_ctl_arg_ids(req, "ids", &ids, &n, &why) < 0) {
		rc = why.failed ? -1 : body_kv(body, "error", why.data, why.len);
		buf_free(&why);
		return rc;
	}
	buf_free(&why);
	buf_init(&tmp);
	buf_append_char(&tmp, '{');
	rc = 0;
	for (i = 0; i < n && rc == 0; i++) {
		const char *state = "active";

		t = find_task(st->active, st->n_active, ids[i]);
		if (!t) {
			t = find_task(st->reserved, st->n_reserved, ids[i]);
			state = "reserved";
		}
		if (!t)
			continue; /* Celery lists only requests it holds */
		if (k++)
			buf_append_str(&tmp, ", ");
		json_write_key(&tmp, ids[i]);
		buf_printf(&tmp, "[\"%s\", ", state);
		rc = w_task_info(&tmp, st->hostname, t);
		buf_append_char(&tmp, ']');
	}
	buf_append_char(&tmp, '}');
	celery_ctl_ids_free(ids, n);
	if (rc < 0) {
		buf_free(&tmp);
		return -1;
	}
	return commit(body, &tmp);
}

int celery_ctl_handle(const struct celery_ctl_request *req,
		      const struct celery_ctl_state *st, struct buf *body,
		      struct celery_ctl_action *act, char *err, size_t errlen)
{
	struct buf b, m;
	size_t i;
	int rc = 0, method;

	memset(act, 0, sizeof *act);
	if (!req->method || !st || !st->hostname) {
		errmsg_set(err, errlen, "no method or no hostname");
		return -1;
	}
	method = celery_ctl_method_of(req->method);
	act->reply = req->has_reply;
	buf_init(&b);
	if (method == CELERY_CTL_M_UNKNOWN) {
		/* self.handlers[method] comes before the arguments */
		rc = celery_ctl_body_unknown(&b, req->method);
		goto done;
	}
	if (req->args_bad) {
		/* handler(state, **arguments) with a non-mapping */
		int t = json_obj_get(&req->doc, 0, "arguments");

		buf_init(&m);
		buf_printf(&m, "%s() argument after ** must be a mapping, not %s",
			   req->method, num_type(&req->doc, t));
		rc = m.failed ? -1 : body_exc(&b, "TypeError", m.data, m.len);
		buf_free(&m);
		goto done;
	}
	switch (method) {
	case CELERY_CTL_M_PING:
		rc = celery_ctl_body_ok(&b, "pong");
		break;
	case CELERY_CTL_M_ACTIVE:
		rc = celery_ctl_body_tasks(&b, st->hostname, st->active,
					   st->n_active);
		break;
	case CELERY_CTL_M_RESERVED:
		rc = celery_ctl_body_tasks(&b, st->hostname, st->reserved,
					   st->n_reserved);
		break;
	case CELERY_CTL_M_SCHEDULED:
		rc = celery_ctl_body_scheduled(&b, st->hostname, st->scheduled,
					       st->n_scheduled);
		break;
	case CELERY_CTL_M_REGISTERED:
		rc = celery_ctl_body_registered(&b, st->task_names,
						st->n_task_names);
		break;
	case CELERY_CTL_M_STATS:
		if (st->stats)
			rc = celery_ctl_body_stats(&b, st->stats);
		else
			rc = celery_ctl_body_error(&b, "stats unavailable");
		break;
	case CELERY_CTL_M_REVOKED:
		buf_append_char(&b, '[');
		for (i = 0; i < st->n_revoked; i++) {
			if (i)
				buf_append_str(&b, ", ");
			w_str(&b, st->revoked[i]);
		}
		buf_append_char(&b, ']');
		break;
	case CELERY_CTL_M_CLOCK:
		buf_printf(&b, "{\"clock\": %lld}", (long long)st->clock);
		break;
	case CELERY_CTL_M_HELLO:
		rc = do_hello(req, st, &b, act);
		break;
	case CELERY_CTL_M_QUERY_TASK:
		rc = do_query_task(req, st, &b);
		break;
	case CELERY_CTL_M_REVOKE:
		rc = do_revoke(req, st, &b, act, 0);
		break;
	case CELERY_CTL_M_TERMINATE:
		rc = do_revoke(req, st, &b, act, 1);
		break;
	case CELERY_CTL_M_SHUTDOWN:
		/* WorkerShutdown is a SystemExit: Node.dispatch re-raises it
		 * before replying, so `celery control shutdown` hears
		 * nothing (and exits 69), as with a Python worker. */
		act->act = CELERY_CTL_ACT_SHUTDOWN;
		act->reply = 0;
		break;
	case CELERY_CTL_M_ENABLE_EVENTS:
		rc = celery_ctl_body_events(&b, 1, st->task_events);
		if (!st->task_events)
			act->act = CELERY_CTL_ACT_EVENTS_ON;
		break;
	case CELERY_CTL_M_DISABLE_EVENTS:
		rc = celery_ctl_body_events(&b, 0, st->task_events);
		if (st->task_events)
			act->act = CELERY_CTL_ACT_EVENTS_OFF;
		break;
	case CELERY_CTL_M_HEARTBEAT:
		act->act = CELERY_CTL_ACT_HEARTBEAT;
		buf_append_str(&b, "null"); /* the handler returns None */
		break;
	default: /* CELERY_CTL_M_UNSUPPORTED */
		buf_init(&m);
		buf_printf(&m, "%s is not supported by tryon-worker",
			   req->method);
		rc = m.failed ? -1 : celery_ctl_body_error(&b, m.data);
		buf_free(&m);
		break;
	}
done:
	if (rc < 0 || b.failed) {
		buf_free(&b);
		celery_ctl_action_free(act);
		errmsg_set(err, errlen, "cannot build the reply to %s", req->method);
		return -1;
	}
	if (commit(body, &b) < 0) {
		celery_ctl_action_free(act);
		errmsg_set(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- reply envelope --------------------------------------------------- */

int celery_ctl_reply_list(struct buf *out, const struct celery_ctl_request *req)
{
	struct buf tmp;

	if (!req->has_reply)
		return -1;
	buf_init(&tmp);
	buf_printf(&tmp, "%s.%s", req->reply_routing_key, req->reply_exchange);
	return commit(out, &tmp);
}

int celery_ctl_reply_binding(struct buf *key, struct buf *member,
			     const struct celery_ctl_request *req)
{
	struct buf k, m;

	if (!req->has_reply)
		return -1;
	buf_init(&k);
	buf_init(&m);
	buf_printf(&k, "_kombu.binding.%s", req->reply_exchange);
	buf_printf(&m, "%s" KOMBU_SEP KOMBU_SEP "%s.%s", req->reply_routing_key,
		   req->reply_routing_key, req->reply_exchange);
	if (k.failed || m.failed) {
		buf_free(&k);
		buf_free(&m);
		return -1;
	}
	if (commit(key, &k) < 0) {
		buf_free(&m);
		return -1;
	}
	return commit(member, &m);
}

/* kombu's JSON envelope around a base64 body, key order as captured. */
static void envelope(struct buf *out, const struct buf *body,
		     const struct buf *headers, const char *exchange,
		     const char *routing_key, const char *delivery_tag)
{
	buf_append_str(out, "{\"body\": \"");
	base64_encode(out, body->data ? body->data : "", body->len);
	buf_append_str(out, "\", \"content-encoding\": \"utf-8\", "
			    "\"content-type\": \"application/json\", "
			    "\"headers\": ");
	buf_append(out, headers->data ? headers->data : "{}",
		   headers->data ? headers->len : 2);
	buf_append_str(out, ", \"properties\": {\"delivery_mode\": 1, "
			    "\"delivery_info\": {\"exchange\": ");
	w_str(out, exchange);
	w_key(out, "routing_key", 0);
	w_str(out, routing_key);
	buf_append_str(out, "}, \"priority\": 0, \"body_encoding\": "
			    "\"base64\", \"delivery_tag\": ");
	w_str(out, delivery_tag);
	buf_append_str(out, "}}");
}

int celery_ctl_reply_build(struct buf *out, const struct celery_ctl_request *req,
			   const char *hostname, const char *reply,
			   size_t reply_len, int64_t clock,
			   const char *delivery_tag, char *err, size_t errlen)
{
	struct buf body, hdr, tmp;

	if (!req->has_reply || !hostname || !delivery_tag) {
		errmsg_set(err, errlen, "no reply_to, hostname or delivery tag");
		return -1;
	}
	if (!reply || json_validate(reply, reply_len, NULL, 0) < 0) {
		errmsg_set(err, errlen, "reply is not valid JSON");
		return -1;
	}
	buf_init(&body);
	buf_init(&hdr);
	buf_init(&tmp);
	buf_append_char(&body, '{');
	json_write_key(&body, hostname);
	buf_append(&body, reply, reply_len);
	buf_append_char(&body, '}');
	buf_append_str(&hdr, "{\"ticket\": ");
	w_str(&hdr, req->ticket);
	buf_printf(&hdr, ", \"clock\": %lld}", (long long)clock);
	envelope(&tmp, &body, &hdr, req->reply_exchange, req->reply_routing_key,
		 delivery_tag);
	if (body.failed || hdr.failed)
		tmp.failed = 1;
	buf_free(&body);
	buf_free(&hdr);
	if (commit(out, &tmp) < 0) {
		errmsg_set(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- events ----------------------------------------------------------- */

static const char *const task_event_names[] = {
	"task-received", "task-started", "task-succeeded", "task-failed",
	"task-retried",	 "task-rejected", "task-revoked",
};

const char *celery_ctl_task_event_name(int type)
{
	if (type < 0 ||
	    (size_t)type >= sizeof task_event_names / sizeof task_event_names[0])
		return NULL;
	return task_event_names[type];
}

/* Event(type, hostname=, utcoffset=, pid=, clock=, **fields): the common
 * head of the body; the caller appends its fields, then event_tail. */
static void event_head(struct buf *out, const struct celery_ctl_event_base *b)
{
	buf_append_str(out, "{\"hostname\": ");
	w_str(out, b->hostname);
	buf_printf(out, ", \"utcoffset\": %d, \"pid\": %lld, \"clock\": %lld",
		   b->utcoffset, (long long)b->pid, (long long)b->clock);
}

static void event_tail(struct buf *out, const struct celery_ctl_event_base *b,
		       const char *type)
{
	buf_append_str(out, ", \"timestamp\": ");
	w_double(out, b->timestamp);
	w_key(out, "type", 0);
	w_str(out, type);
	buf_append_char(out, '}');
}

/* Channel + envelope for a finished body; commits both or neither. */
static int event_publish(struct buf *channel, struct buf *out, int db,
			 const char *routing_key, struct buf *body,
			 const struct celery_ctl_event_base *b, char *err,
			 size_t errlen)
{
	struct buf hdr, env, ch;

	buf_init(&hdr);
	buf_init(&env);
	buf_init(&ch);
	buf_append_str(&hdr, "{\"hostname\": ");
	w_str(&hdr, b->hostname);
	buf_append_char(&hdr, '}');
	envelope(&env, body, &hdr, CELERY_CTL_EVENT_EXCHANGE, routing_key,
		 b->delivery_tag);
	buf_printf(&ch, "/%d.%s/%s", db, CELERY_CTL_EVENT_EXCHANGE, routing_key);
	if (body->failed || hdr.failed || env.failed || ch.failed) {
		buf_free(&hdr);
		buf_free(&env);
		buf_free(&ch);
		errmsg_set(err, errlen, "out of memory");
		return -1;
	}
	buf_free(&hdr);
	if (channel && commit(channel, &ch) < 0) {
		buf_free(&env);
		errmsg_set(err, errlen, "out of memory");
		return -1;
	}
	buf_free(&ch);
	if (commit(out, &env) < 0) {
		errmsg_set(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int celery_ctl_event_worker(struct buf *channel, struct buf *out, int db,
			    const char *type,
			    const struct celery_ctl_event_base *b,
			    const struct celery_ctl_worker_event *w, char *err,
			    size_t errlen)
{
	struct buf body, rk;
	int i, rc;

	if (!type || !b || !w || !b->hostname || !b->delivery_tag) {
		errmsg_set(err, errlen, "missing type, hostname or delivery tag");
		return -1;
	}
	buf_init(&body);
	buf_init(&rk);
	event_head(&body, b);
	buf_append_str(&body, ", \"freq\": ");
	w_double(&body, w->freq > 0 ? w->freq : CELERY_CTL_HEARTBEAT_FREQ);
	buf_printf(&body, ", \"active\": %lld, \"processed\": %lld, "
			  "\"loadavg\": [",
		   (long long)w->active, (long long)w->processed);
	for (i = 0; i < 3; i++) {
		if (i)
			buf_append_str(&body, ", ");
		w_double(&body, py_round2(w->loadavg[i]));
	}
	buf_append_str(&body, "], \"sw_ident\": ");
	w_str(&body, w->sw_ident ? w->sw_ident : "tryon-worker");
	w_key(&body, "sw_ver", 0);
	w_str(&body, w->sw_ver ? w->sw_ver : "0");
	w_key(&body, "sw_sys", 0);
	w_str(&body, w->sw_sys ? w->sw_sys : "Linux");
	event_tail(&body, b, type);
	routing_key_of(&rk, type);
	rc = rk.failed ? -1
		       : event_publish(channel, out, db, rk.data ? rk.data : "",
				       &body, b, err, errlen);
	buf_free(&body);
	buf_free(&rk);
	return rc;
}

/* A text field: the string, or null. */
static void w_field(struct buf *out, const char *key, const char *v)
{
	w_key(out, key, 0);
	w_str(out, v);
}

int celery_ctl_event_task(struct buf *channel, struct buf *out, int db,
			  const struct celery_ctl_event_base *b,
			  const struct celery_ctl_task_ev *t, char *err,
			  size_t errlen)
{
	const char *type;
	struct buf body, rk;
	int rc;

	type = t ? celery_ctl_task_event_name(t->type) : NULL;
	if (!type || !b || !b->hostname || !b->delivery_tag || !t->uuid) {
		errmsg_set(err, errlen,
		       "missing event type, uuid, hostname or delivery tag");
		return -1;
	}
	buf_init(&body);
	buf_init(&rk);
	if (t->multi)
		buf_append_char(&body, '[');
	event_head(&body, b);
	w_field(&body, "uuid", t->uuid);
	switch (t->type) {
	case CELERY_CTL_EV_RECEIVED:
		w_field(&body, "name", t->name);
		w_field(&body, "args", t->args_repr);
		w_field(&body, "kwargs", t->kwargs_repr);
		w_field(&body, "root_id", t->root_id);
		w_field(&body, "parent_id", t->parent_id);
		buf_printf(&body, ", \"retries\": %lld", (long long)t->retries);
		w_field(&body, "eta", t->eta);
		w_field(&body, "expires", t->expires);
		break;
	case CELERY_CTL_EV_SUCCEEDED:
		w_field(&body, "result", t->result_repr);
		buf_append_str(&body, ", \"runtime\": ");
		w_double(&body, t->runtime);
		break;
	case CELERY_CTL_EV_FAILED:
	case CELERY_CTL_EV_RETRIED:
		w_field(&body, "exception", t->exception_repr);
		w_field(&body, "traceback", t->traceback);
		break;
	case CELERY_CTL_EV_REJECTED:
		w_key(&body, "requeue", 0);
		w_bool(&body, t->requeue);
		break;
	case CELERY_CTL_EV_REVOKED:
		w_key(&body, "terminated", 0);
		w_bool(&body, t->terminated);
		w_key(&body, "signum", 0);
		if (t->signum > 0)
			json_write_int(&body, t->signum);
		else
			buf_append_str(&body, "null");
		w_key(&body, "expired", 0);
		w_bool(&body, t->expired);
		break;
	default: /* started: uuid only */
		break;
	}
	event_tail(&body, b, type);
	if (t->multi) {
		buf_append_char(&body, ']');
		buf_append_str(&rk, "task.multi");
	} else {
		routing_key_of(&rk, type);
	}
	rc = rk.failed ? -1
		       : event_publish(channel, out, db, rk.data ? rk.data : "",
				       &body, b, err, errlen);
	buf_free(&body);
	buf_free(&rk);
	return rc;
}
