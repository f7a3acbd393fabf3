/* http: the libcurl easy-handle wrapper. The SSL context callback swaps in
 * our own X.509 engine loaded with the prebuilt anchors, so no PEM text is
 * parsed per connection. */
#include "lib/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include <curl/curl.h>

struct write_ctx {
	struct buf *body;
	size_t max;
	int too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *userp)
{
	struct write_ctx *w = userp;
	size_t len = size * n;

	if (w->body->len + len > w->max) {
		w->too_big = 1;
		return 0;
	}
	if (buf_append(w->body, p, len) < 0)
		return 0;
	return len;
}

static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *userp)
{
	struct http_client *c = userp;
	br_ssl_client_context *cc = ssl_ctx;

	(void)easy;
	trust_x509_init(c->trust, &c->x509);
	br_ssl_engine_set_x509(&cc->eng, &c->x509.vtable);
	/* Our x509 context is reused by the next handshake on this handle; a
	 * renegotiation on an older connection must never reach it. */
	br_ssl_engine_add_flags(&cc->eng, BR_OPT_NO_RENEGOTIATION);
	/* TLS 1.2 only (BearSSL has no 1.3): CURLOPT_SSLVERSION below already
	 * asks for it; set here too, after curl's own setting, so that no
	 * curl default can bring back 1.0/1.1. */
	br_ssl_engine_set_versions(&cc->eng, BR_TLS12, BR_TLS12);
	return CURLE_OK;
}

int http_client_init(struct http_client *c, const struct trust_store *trust,
		     const char *user_agent, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	c->trust = trust;
	c->easy = curl_easy_init();
	if (!c->easy) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	CURL *e = c->easy;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	/* curl's BearSSL backend otherwise allows TLS 1.0 and 1.1. */
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, c);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	if (user_agent)
		curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent);
	return 0;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	c->easy = NULL;
}

const char *http_outcome_name(enum http_outcome o)
{
	switch (o) {
	case HTTP_OK: return "ok";
	case HTTP_ERR_CONNECT: return "connect";
	case HTTP_ERR_TLS: return "tls";
	case HTTP_ERR_TIMEOUT: return "timeout";
	case HTTP_ERR_TOO_BIG: return "too_big";
	default: return "error";
	}
}

/* Only Retry-After is kept (in seconds; an HTTP-date is ignored). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct http_response *rs = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	if (len > sizeof name - 1 && !strncasecmp(p, name, sizeof name - 1)) {
		char v[32];
		size_t i = sizeof name - 1, k = 0;
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		while (i < len && k < sizeof v - 1 && ((p[i] >= '0' && p[i] <= '9') || p[i] == '.'))
			v[k++] = p[i++];
		v[k] = '\0';
		if (k) {
			double secs = strtod(v, NULL);
			rs->retry_after = secs > 3600 ? 3600 : secs;
		}
	}
	return len;
}

enum http_outcome http_perform(struct http_client *c, const struct http_request *rq,
			       struct http_response *rs, char *err, size_t errlen)
{
	CURL *e = c->easy;
	struct curl_slist *hdrs = NULL;
	struct write_ctx w = { &rs->body, rq->max_response ? rq->max_response : 4u << 20, 0 };
	enum http_outcome out = HTTP_OK;

	buf_reset(&rs->body);
	rs->status = 0;
	rs->seconds = rs->connect_seconds = 0;
	rs->retry_after = -1;
	c->errbuf[0] = '\0';
	for (const char *const *h = rq->headers; h && *h; h++) {
		struct curl_slist *n = curl_slist_append(hdrs, *h);
		if (!n) {
			curl_slist_free_all(hdrs);
			snprintf(err, errlen, "out of memory");
			return HTTP_ERR_OTHER;
		}
		hdrs = n;
	}
	curl_easy_setopt(e, CURLOPT_URL, rq->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, rq->timeout_ms ? rq->timeout_ms : 30000L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 rq->connect_timeout_ms ? rq->connect_timeout_ms : 5000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, rs);
	if (!strcmp(rq->method, "GET")) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
	} else {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(rq->body ? rq->body_len : 0));
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
				 strcmp(rq->method, "POST") ? rq->method : NULL);
	}

	CURLcode rc = curl_easy_perform(e);
	curl_slist_free_all(hdrs);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);

	double t = 0, tc = 0;
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &t);
	curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME, &tc);
	rs->seconds = t;
	rs->connect_seconds = tc;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &rs->status);
		return HTTP_OK;
	}
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		out = HTTP_ERR_CONNECT;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		out = HTTP_ERR_TIMEOUT;
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		out = HTTP_ERR_TLS;
		break;
	case CURLE_WRITE_ERROR:
		out = w.too_big ? HTTP_ERR_TOO_BIG : HTTP_ERR_OTHER;
		break;
	default:
		out = HTTP_ERR_OTHER;
	}
	if (out == HTTP_ERR_TOO_BIG)
		snprintf(err, errlen, "response larger than %zu bytes", w.max);
	else if (rc == CURLE_SSL_CONNECT_ERROR)
		/* curl's BearSSL backend says nothing for a refused version or
		 * cipher suite ("Error"); name the likely cause. */
		snprintf(err, errlen, "TLS handshake failed (TLS 1.2 is the minimum: the server may offer "
			 "only TLS 1.0/1.1, or no common cipher suite): %s",
			 c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	else
		snprintf(err, errlen, "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	return out;
}
