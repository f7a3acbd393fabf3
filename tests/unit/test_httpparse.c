/* Table test of the HTTP request head parser, each case also fed in every
 * prefix (the answer is AGAIN or the final one) and with the limits. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/httpparse.h"

struct row {
	const char *in;
	size_t n;             /* bytes of in: some rows hold a NUL */
	int want;             /* HTTPPARSE_* */
	int status;           /* on ERROR */
	enum httpparse_method method;
	const char *path;     /* on DONE */
};

#define H11 " HTTP/1.1\r\nHost: 127.0.0.1:9808\r\n\r\n"
#define S(lit) lit, sizeof(lit) - 1

static const struct row rows[] = {
	{ S("GET /metrics" H11), HTTPPARSE_DONE, 0, HTTPPARSE_GET, "/metrics" },
	{ S("GET /metrics?name[]=x" H11), HTTPPARSE_DONE, 0, HTTPPARSE_GET, "/metrics" },
	{ S("HEAD /healthz HTTP/1.0\r\n\r\n"), HTTPPARSE_DONE, 0, HTTPPARSE_HEAD, "/healthz" },
	{ S("GET /readyz HTTP/1.0\r\nUser-Agent: x\r\n\r\n"), HTTPPARSE_DONE, 0, HTTPPARSE_GET, "/readyz" },
	{ S("POST /metrics" H11), HTTPPARSE_DONE, 0, HTTPPARSE_OTHER, "/metrics" },
	{ S("get /metrics" H11), HTTPPARSE_DONE, 0, HTTPPARSE_OTHER, "/metrics" },   /* methods are case-sensitive */
	{ S("GET /x HTTP/1.1\nHost: a\n\n"), HTTPPARSE_DONE, 0, HTTPPARSE_GET, "/x" },
	{ S("\r\n\r\nGET /x" H11), HTTPPARSE_DONE, 0, HTTPPARSE_GET, "/x" },
	{ S("GET http://127.0.0.1:9808/readyz?a" H11), HTTPPARSE_DONE, 0, HTTPPARSE_GET, "/readyz" },
	{ S("GET http://127.0.0.1:9808" H11), HTTPPARSE_DONE, 0, HTTPPARSE_GET, "" },
	{ S("GET / HTTP/1.9" "\r\nHost: a\r\n\r\n"), HTTPPARSE_DONE, 0, HTTPPARSE_GET, "/" },
	{ S("GET /" H11 "trailing bytes"), HTTPPARSE_DONE, 0, HTTPPARSE_GET, "/" },
	{ S("GET / HTTP/1.1\r\nHost:a\r\nX-Empty:\r\nX-Spaces:   \r\nX-Obs: caf\xc3\xa9\r\n\r\n"),
	  HTTPPARSE_DONE, 0, HTTPPARSE_GET, "/" },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), HTTPPARSE_DONE, 0, HTTPPARSE_GET, "/" },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 000\r\n\r\n"), HTTPPARSE_DONE, 0, HTTPPARSE_GET, "/" },

	{ S("GET / HTTP/1.1\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },                    /* no Host */
	{ S("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET metrics HTTP/1.1\r\nHost: a\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET http://h?x HTTP/1.1\r\nHost: a\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET  / HTTP/1.1\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET /\x01 HTTP/1.1\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET /\xc3\xa9 HTTP/1.1\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S(" GET / HTTP/1.1\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("G\x00T / HTTP/1.1\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), HTTPPARSE_ERROR, 505, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/0.9\r\n"), HTTPPARSE_ERROR, 505, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/1.10\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET / http/1.1\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET /\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },                              /* HTTP/0.9 style */
	{ S("GET / HTTP/1.1\rX"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("\rGET"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },         /* obs-fold */
	{ S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/1.1\r\n: a\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"), HTTPPARSE_ERROR, 413, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 0\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), HTTPPARSE_ERROR, 501, HTTPPARSE_OTHER, NULL },
	{ S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), HTTPPARSE_ERROR, 400, HTTPPARSE_OTHER, NULL },  /* a TLS ClientHello */
	{ S("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA / HTTP/1.1\r\n"), HTTPPARSE_ERROR, 501, HTTPPARSE_OTHER, NULL },
};

/* Feed every prefix; each must be AGAIN or the whole input's answer. */
static void check_prefixes(const char *in, size_t n, const struct httpparse_limits *lim,
			   const struct httpparse_request *whole, int whole_rc)
{
	for (size_t k = 0; k < n; k++) {
		struct httpparse_request r;
		int rc = httpparse_request(in, k, lim, &r);
		if (rc == HTTPPARSE_AGAIN)
			continue;
		if (rc != whole_rc || r.status != whole->status || r.head_len != whole->head_len ||
		    r.path_off != whole->path_off || r.path_len != whole->path_len) {
			fprintf(stderr, "prefix %zu of \"%.40s\": rc %d status %d, whole rc %d status %d\n",
				k, in, rc, r.status, whole_rc, whole->status);
			CHECK(0);
			return;
		}
	}
}

static void test_table(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *w = &rows[i];
		size_t n = w->n;
		struct httpparse_request r;
		int rc = httpparse_request(w->in, n, NULL, &r);
		int ok = rc == w->want;
		if (ok && rc == HTTPPARSE_ERROR)
			ok = r.status == w->status && r.reason && *r.reason;
		if (ok && rc == HTTPPARSE_DONE) {
			ok = r.method == w->method && r.path_len == strlen(w->path) &&
			     !memcmp(w->in + r.path_off, w->path, r.path_len) && r.head_len <= n &&
			     r.head_len >= 4 && w->in[r.head_len - 1] == '\n';
		}
		if (!ok)
			fprintf(stderr, "row %zu \"%.40s\": rc %d status %d (%s) path %.*s\n", i, w->in, rc,
				r.status, r.reason ? r.reason : "", (int)r.path_len, w->in + r.path_off);
		CHECK(ok);
		check_prefixes(w->in, n, NULL, &r, rc);
	}
}

static void test_incomplete_is_again(void)
{
	struct httpparse_request r;
	const char *in = "GET /metrics HTTP/1.1\r\nHost: a\r\n";
	CHECK(httpparse_request(in, strlen(in), NULL, &r) == HTTPPARSE_AGAIN);
	CHECK(httpparse_request("", 0, NULL, &r) == HTTPPARSE_AGAIN);
	CHECK(httpparse_request("\r\n\r\n", 4, NULL, &r) == HTTPPARSE_AGAIN);
}

static void test_limits(void)
{
	struct httpparse_limits lim = HTTPPARSE_DEFAULT_LIMITS;
	struct httpparse_request r;
	char *big = malloc(20000);
	if (!big) {
		CHECK(0);
		return;
	}

	/* A target one byte over the limit: 414; at the limit: fine. */
	for (int over = 0; over <= 1; over++) {
		size_t n = 0;
		n += (size_t)sprintf(big, "GET /");
		memset(big + n, 'a', lim.max_target - 1 + (size_t)over);
		n += lim.max_target - 1 + (size_t)over;
		n += (size_t)sprintf(big + n, H11);
		int rc = httpparse_request(big, n, &lim, &r);
		CHECK(over ? rc == HTTPPARSE_ERROR && r.status == 414 : rc == HTTPPARSE_DONE);
		check_prefixes(big, n, &lim, &r, rc);
	}

	/* A head that does not end within max_head: 431 once that many
	 * bytes are in, AGAIN before. (Many fields: lift that limit here.) */
	lim.max_headers = 1000;
	size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
	while (n < 12000)
		n += (size_t)sprintf(big + n, "X-Pad: %s\r\n", "0123456789012345678901234567890123456789");
	CHECK(httpparse_request(big, lim.max_head - 1, &lim, &r) == HTTPPARSE_AGAIN);
	CHECK(httpparse_request(big, lim.max_head, &lim, &r) == HTTPPARSE_ERROR && r.status == 431);
	CHECK(httpparse_request(big, n, &lim, &r) == HTTPPARSE_ERROR && r.status == 431);

	/* A head of exactly max_head bytes is accepted. */
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
	while (n + 40 < lim.max_head)
		n += (size_t)sprintf(big + n, "X: %s\r\n", "01234567890123456789");
	size_t pad = lim.max_head - n - 2 - 5;   /* "Y: " + pad + CRLF, then CRLF */
	n += (size_t)sprintf(big + n, "Y: ");
	memset(big + n, 'p', pad);
	n += pad;
	n += (size_t)sprintf(big + n, "\r\n\r\n");
	CHECK(n == lim.max_head);
	CHECK(httpparse_request(big, n, &lim, &r) == HTTPPARSE_DONE && r.head_len == n);

	/* Too many header fields. */
	lim.max_headers = 3;
	const char *h = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	CHECK(httpparse_request(h, strlen(h), &lim, &r) == HTTPPARSE_ERROR && r.status == 431);
	lim.max_headers = 4;
	CHECK(httpparse_request(h, strlen(h), &lim, &r) == HTTPPARSE_DONE && r.n_headers == 4);
	free(big);
}

static void test_status_text(void)
{
	CHECK(!strcmp(httpparse_status_text(404), "Not Found"));
	CHECK(!strcmp(httpparse_status_text(405), "Method Not Allowed"));
	CHECK(!strcmp(httpparse_status_text(431), "Request Header Fields Too Large"));
	CHECK(!strcmp(httpparse_status_text(299), ""));
}

int main(void)
{
	RUN(test_table);
	RUN(test_incomplete_is_again);
	RUN(test_limits);
	RUN(test_status_text);
	return harness_report();
}
