/* http: libcurl wrapped for blocking requests and streamed GETs. Everything
 * runs through the client's one multi handle, so a request reuses any idle
 * connection of the client, a stream included once its body has ended; a
 * share handle carries TLS sessions between connections. The SSL context
 * callback swaps in our own X.509 engine loaded with the prebuilt anchors,
 * so no PEM text is parsed per connection. */
#include "lib/http.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <curl/curl.h>

#include "lib/clock.h"

/* curl's default upload buffer size (CURLOPT_UPLOAD_BUFFERSIZE). */
#define HTTP_UPLOAD_BUFFER (64L << 10)
/* A status stream's receive buffer (curl's minimum is 1 KiB). */
#define HTTP_STREAM_RECV_BUFFER 1024L

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

/* -- TLS sessions shared between processes ---------------------------------- */

#define TLS_SLOTS 8

/* One entry, read without a lock: seq is odd while it is written, and a
 * reader keeps its copy only when seq was even and unchanged around it. */
struct tls_slot {
	unsigned seq;
	double saved;                    /* clock_wall() */
	char origin[128];
	br_ssl_session_parameters p;
};

struct http_tls_cache {
	int writer;                      /* pid writing, 0 none */
	struct tls_slot slot[TLS_SLOTS];
};

struct http_tls_cache *http_tls_cache_new(void)
{
	void *m = mmap(NULL, sizeof(struct http_tls_cache), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
#ifdef MADV_DONTDUMP
	madvise(m, sizeof(struct http_tls_cache), MADV_DONTDUMP);
#endif
	return m;
}

void http_tls_cache_free(struct http_tls_cache *cache)
{
	if (cache)
		munmap(cache, sizeof *cache);
}

void http_client_share_sessions(struct http_client *c, struct http_tls_cache *cache)
{
	c->sessions = cache;
}

/* scheme://authority of url into out (empty if it does not fit). */
static void origin_of(const char *url, char *out, size_t outlen)
{
	const char *a = url ? strstr(url, "://") : NULL;
	size_t n = a ? (size_t)(a + 3 - url) + strcspn(a + 3, "/?#") : 0;
	if (n == 0 || n >= outlen)
		n = 0;
	memcpy(out, url, n);
	out[n] = '\0';
}

static int tls_cache_get(const struct http_tls_cache *tls_cache, const char *origin, br_ssl_session_parameters *p)
{
	if (!tls_cache || !*origin)
		return 0;
	double now = clock_wall();
	for (int i = 0; i < TLS_SLOTS; i++) {
		const struct tls_slot *sl = &tls_cache->slot[i];
		struct tls_slot copy;
		unsigned s1 = __atomic_load_n(&sl->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1u)
			continue;
		memcpy(&copy, sl, sizeof copy);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&sl->seq, __ATOMIC_RELAXED) != s1)
			continue;
		copy.origin[sizeof copy.origin - 1] = '\0';
		if (strcmp(copy.origin, origin) || copy.p.session_id_len == 0 || copy.p.session_id_len > 32 ||
		    now - copy.saved > HTTP_TLS_CACHE_TTL || now < copy.saved)
			continue;
		*p = copy.p;
		return 1;
	}
	return 0;
}

/* Best effort: when another process is writing, this one does not. */
static void tls_cache_put(struct http_tls_cache *tls_cache, const char *origin, const br_ssl_session_parameters *p)
{
	int me = (int)getpid(), none = 0;

	if (!tls_cache || !*origin || p->session_id_len == 0)
		return;
	if (!__atomic_compare_exchange_n(&tls_cache->writer, &none, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		/* A writer killed mid-write must not stop every later one. */
		if (none == me || kill(none, 0) == 0 || errno != ESRCH ||
		    !__atomic_compare_exchange_n(&tls_cache->writer, &none, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
	}
	struct tls_slot *sl = &tls_cache->slot[0];
	for (int i = 0; i < TLS_SLOTS; i++) {
		struct tls_slot *c = &tls_cache->slot[i];
		if (!strcmp(c->origin, origin)) {
			sl = c;
			break;
		}
		if (c->saved < sl->saved)
			sl = c;
	}
	unsigned seq = __atomic_load_n(&sl->seq, __ATOMIC_RELAXED) | 1u;
	__atomic_store_n(&sl->seq, seq, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	snprintf(sl->origin, sizeof sl->origin, "%s", origin);
	sl->saved = clock_wall();
	sl->p = *p;
	__atomic_store_n(&sl->seq, seq + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&tls_cache->writer, 0, __ATOMIC_RELEASE);
}

/* A response header on a connection whose handshake this transfer made:
 * the session is complete now; keep it for the next process. */
static void tls_note_session(struct http_handle *h)
{
	struct curl_tlssessioninfo *ti = NULL;
	br_ssl_session_parameters p;

	if (!h->handshook)
		return;
	h->handshook = 0;
	if (curl_easy_getinfo(h->easy, CURLINFO_TLS_SSL_PTR, &ti) != CURLE_OK || !ti ||
	    ti->backend != CURLSSLBACKEND_BEARSSL || !ti->internals)
		return;
	br_ssl_engine_get_session_parameters(&((br_ssl_client_context *)ti->internals)->eng, &p);
	if (h->offered_len && p.session_id_len == h->offered_len && !memcmp(p.session_id, h->offered, h->offered_len))
		h->stats->resumed++;
	else
		tls_cache_put(*h->sessions, h->origin, &p);
	memset(&p, 0, sizeof p);
}

static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *userp)
{
	struct http_handle *h = userp;
	br_ssl_client_context *cc = ssl_ctx;
	br_ssl_session_parameters p;
	char *url = NULL;

	/* A session curl did not offer (another process made it), for this
	 * origin only; the server either resumes it or does a full handshake. */
	h->handshook = 1;
	h->offered_len = 0;
	curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url);
	origin_of(url, h->origin, sizeof h->origin);
	br_ssl_engine_get_session_parameters(&cc->eng, &p);
	if (p.session_id_len == 0 && tls_cache_get(*h->sessions, h->origin, &p))
		br_ssl_engine_set_session_parameters(&cc->eng, &p);
	if (p.session_id_len) {
		memcpy(h->offered, p.session_id, p.session_id_len);
		h->offered_len = p.session_id_len;
		h->stats->offered++;
	}
	memset(&p, 0, sizeof p);
	trust_x509_init(h->trust, &h->x509);
	br_ssl_engine_set_x509(&cc->eng, &h->x509.vtable);
	/* Our x509 context is reused by the next handshake on this handle; a
	 * renegotiation on an older connection must never reach it. */
	br_ssl_engine_add_flags(&cc->eng, BR_OPT_NO_RENEGOTIATION);
	/* TLS 1.2 only (BearSSL has no 1.3): CURLOPT_SSLVERSION below already
	 * asks for it; set here too, after curl's own setting, so that no
	 * curl default can bring back 1.0/1.1. */
	br_ssl_engine_set_versions(&cc->eng, BR_TLS12, BR_TLS12);
	return CURLE_OK;
}

static int handle_init(struct http_client *c, struct http_handle *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof *h);
	h->trust = c->trust;
	h->stats = &c->stats;
	h->sessions = &c->sessions;
	h->easy = curl_easy_init();
	if (!h->easy) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	CURL *e = h->easy;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	/* curl's BearSSL backend otherwise allows TLS 1.0 and 1.1. */
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, h);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
	if (c->share)
		curl_easy_setopt(e, CURLOPT_SHARE, c->share);
	if (c->user_agent[0])
		curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	return 0;
}

int http_client_init(struct http_client *c, const struct trust_store *trust,
		     const char *user_agent, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	c->trust = trust;
	snprintf(c->user_agent, sizeof c->user_agent, "%s", user_agent ? user_agent : "");
	c->multi = curl_multi_init();
	c->share = curl_share_init();
	if (!c->multi || !c->share) {
		snprintf(err, errlen, "curl_multi_init/curl_share_init failed");
		http_client_free(c);
		return -1;
	}
	/* One thread: no lock callbacks. The connection pool is the multi
	 * handle's; sessions and DNS answers go through the share, so a second
	 * connection (a stream beside a request) resumes the TLS session. */
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	c->handles[0] = malloc(sizeof *c->handles[0]);
	if (!c->handles[0] || handle_init(c, c->handles[0], err, errlen) < 0) {
		if (!c->handles[0])
			snprintf(err, errlen, "out of memory");
		http_client_free(c);
		return -1;
	}
	return 0;
}

/* A free handle (made if none is), lent until handle_give. NULL with err. */
static struct http_handle *handle_take(struct http_client *c, char *err, size_t errlen)
{
	for (int i = 0; i < HTTP_HANDLES_MAX; i++) {
		struct http_handle *h = c->handles[i];
		if (h && !h->busy) {
			h->busy = 1;
			return h;
		}
		if (!h) {
			h = malloc(sizeof *h);
			if (!h || handle_init(c, h, err, errlen) < 0) {
				if (!h)
					snprintf(err, errlen, "out of memory");
				free(h);
				return NULL;
			}
			c->handles[i] = h;
			h->busy = 1;
			return h;
		}
	}
	snprintf(err, errlen, "no free handle");
	return NULL;
}

/* Back to the pool: what one use set that the next must not inherit. */
static void handle_give(struct http_handle *h)
{
	CURL *e = h->easy;
	curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 0L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 0L);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, NULL);
	/* curl's default again (a stream's small one would slow a result GET);
	 * the transfer is off the multi handle, so curl has freed the old one. */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 0L);
	h->handshook = 0;
	h->busy = 0;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	for (int i = 0; i < HTTP_STREAMS_MAX; i++)
		if (c->streams[i])
			http_stream_close(c->streams[i]);
	for (int i = 0; i < HTTP_HANDLES_MAX; i++) {
		if (c->handles[i]) {
			if (c->handles[i]->easy)
				curl_easy_cleanup(c->handles[i]->easy);
			free(c->handles[i]);
		}
		c->handles[i] = NULL;
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->share)
		curl_share_cleanup(c->share);
	c->multi = c->share = NULL;
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

struct header_ctx {
	struct http_response *rs;
	struct http_handle *h;
};

/* Only Retry-After is kept (in seconds; an HTTP-date is ignored). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct header_ctx *hc = arg;
	struct http_response *rs = hc->rs;
	size_t len = size * n;

	tls_note_session(hc->h);
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

/* The handshake bill of one finished transfer. */
static void count_connects(struct http_client *c, CURL *e)
{
	long n = 0;
	double tcp = 0, tls = 0;

	c->stats.requests++;
	curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &n);
	if (n <= 0)
		return;
	curl_easy_getinfo(e, CURLINFO_CONNECT_TIME, &tcp);
	curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME, &tls);
	c->stats.connects += (unsigned)n;
	c->stats.connect_seconds += tcp;
	if (tls > tcp)
		c->stats.tls_seconds += tls - tcp;
}

static enum http_outcome classify(CURLcode rc, int too_big)
{
	switch (rc) {
	case CURLE_OK:
		return HTTP_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return HTTP_ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_ERR_TIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return HTTP_ERR_TLS;
	case CURLE_WRITE_ERROR:
		return too_big ? HTTP_ERR_TOO_BIG : HTTP_ERR_OTHER;
	default:
		return HTTP_ERR_OTHER;
	}
}

static void describe(CURLcode rc, enum http_outcome out, const char *errbuf, size_t max,
		     char *err, size_t errlen)
{
	if (out == HTTP_ERR_TOO_BIG)
		snprintf(err, errlen, "response larger than %zu bytes", max);
	else if (rc == CURLE_SSL_CONNECT_ERROR)
		/* curl's BearSSL backend says nothing for a refused version or
		 * cipher suite ("Error"); name the likely cause. */
		snprintf(err, errlen, "TLS handshake failed (TLS 1.2 is the minimum: the server may offer "
			 "only TLS 1.0/1.1, or no common cipher suite): %s",
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else
		snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

static size_t on_stream_header(char *p, size_t size, size_t n, void *userp)
{
	struct http_stream *s = userp;
	size_t len = size * n;

	tls_note_session(s->h);
	if ((len == 2 && p[0] == '\r' && p[1] == '\n') || (len == 1 && p[0] == '\n')) {
		/* The blank line: status and Content-Type are final now. */
		s->headers_done = s->fresh = 1;
	}
	return len;
}

static size_t on_stream_body(char *p, size_t size, size_t n, void *userp)
{
	struct http_stream *s = userp;
	size_t len = size * n;

	if (s->data.len + len > s->max_pending || buf_append(&s->data, p, len) < 0) {
		snprintf(s->err, sizeof s->err, "more than %zu bytes not consumed", s->max_pending);
		return 0;
	}
	s->fresh = 1;
	return len;
}

/* Over TLS, curl copies every request into the handle's upload buffer
 * (64 KiB, its default size) and keeps it until the transfer ends: for a
 * status stream, the whole model time, at two touched pages per job. Once
 * the server has answered the stream's GET with 200 it has read the whole
 * request (there is no body), so curl has nothing left to send from it;
 * setting the upload buffer size (to the same default) makes curl free it,
 * and allocate one again should the handle ever need it. */
static void streams_trim(struct http_client *c)
{
	for (int i = 0; i < HTTP_STREAMS_MAX; i++) {
		struct http_stream *s = c->streams[i];
		long st = 0;
		if (!s || s->trimmed || !s->open || s->done || !s->headers_done)
			continue;
		curl_easy_getinfo(s->h->easy, CURLINFO_RESPONSE_CODE, &st);
		if (st != 200)
			continue;
		curl_easy_setopt(s->h->easy, CURLOPT_UPLOAD_BUFFERSIZE, HTTP_UPLOAD_BUFFER);
		s->trimmed = 1;
	}
}

/* Take curl's finished transfers: a stream's is kept in the stream; that
 * of the blocking request on main goes to *main_rc (and *main_done). */
static void drain(struct http_client *c, CURL *main, CURLcode *main_rc, int *main_done)
{
	CURLMsg *msg;
	int left;

	streams_trim(c);
	while ((msg = curl_multi_info_read(c->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *e = msg->easy_handle;
		if (main && e == main) {
			if (main_rc)
				*main_rc = msg->data.result;
			if (main_done)
				*main_done = 1;
			continue;
		}
		struct http_stream *s = NULL;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
		if (!s || s->done)
			continue;
		s->done = s->fresh = 1;
		count_connects(c, e);
		CURLcode rc = msg->data.result;
		s->outcome = classify(rc, rc == CURLE_WRITE_ERROR && s->err[0]);
		if (rc != CURLE_OK && !s->err[0])
			describe(rc, s->outcome, s->h->errbuf, s->max_pending, s->err, sizeof s->err);
	}
}

enum http_outcome http_perform(struct http_client *c, const struct http_request *rq,
			       struct http_response *rs, char *err, size_t errlen)
{
	struct curl_slist *hdrs = NULL;
	struct write_ctx w = { &rs->body, rq->max_response ? rq->max_response : 4u << 20, 0 };

	buf_reset(&rs->body);
	rs->status = 0;
	rs->seconds = rs->connect_seconds = 0;
	rs->retry_after = -1;
	struct http_handle *h = handle_take(c, err, errlen);
	if (!h)
		return HTTP_ERR_OTHER;
	CURL *e = h->easy;
	h->errbuf[0] = '\0';
	for (const char *const *hv = rq->headers; hv && *hv; hv++) {
		struct curl_slist *n = curl_slist_append(hdrs, *hv);
		if (!n) {
			curl_slist_free_all(hdrs);
			handle_give(h);
			snprintf(err, errlen, "out of memory");
			return HTTP_ERR_OTHER;
		}
		hdrs = n;
	}
	curl_easy_setopt(e, CURLOPT_URL, rq->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : 30000L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 rq->connect_timeout_ms ? rq->connect_timeout_ms : 5000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &w);
	struct header_ctx hc = { rs, h };
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &hc);
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

	/* curl_easy_perform's own loop, on the shared multi handle: the
	 * client's open streams move along meanwhile. */
	CURLcode rc = CURLE_OK;
	int done = 0;
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
		rc = CURLE_OUT_OF_MEMORY;
		done = 1;
	}
	while (!done) {
		int running;
		CURLMcode mc = curl_multi_perform(c->multi, &running);
		drain(c, e, &rc, &done);
		if (done)
			break;
		if (mc != CURLM_OK || curl_multi_poll(c->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			rc = CURLE_OUT_OF_MEMORY;
			break;
		}
	}
	curl_multi_remove_handle(c->multi, e);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	count_connects(c, e);

	double t = 0, tc = 0;
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &t);
	curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME, &tc);
	rs->seconds = t;
	rs->connect_seconds = tc;
	enum http_outcome out = HTTP_OK;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &rs->status);
	} else {
		out = classify(rc, w.too_big);
		describe(rc, out, h->errbuf, w.max, err, errlen);
	}
	handle_give(h);
	return out;
}

/* -- streams ---------------------------------------------------------------- */

int http_stream_open(struct http_client *c, struct http_stream *s, const struct http_request *rq,
		     long idle_s, char *err, size_t errlen)
{
	int slot = -1;

	memset(s, 0, sizeof *s);
	for (int i = 0; i < HTTP_STREAMS_MAX && slot < 0; i++)
		if (!c->streams[i])
			slot = i;
	if (slot < 0) {
		snprintf(err, errlen, "too many streams");
		return -1;
	}
	s->c = c;
	s->max_pending = rq->max_response ? rq->max_response : 64u << 10;
	buf_init(&s->data);
	s->h = handle_take(c, err, errlen);
	if (!s->h)
		return -1;
	s->h->errbuf[0] = '\0';
	struct curl_slist *hdrs = NULL;
	for (const char *const *h = rq->headers; h && *h; h++) {
		struct curl_slist *n = curl_slist_append(hdrs, *h);
		if (!n) {
			curl_slist_free_all(hdrs);
			handle_give(s->h);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		hdrs = n;
	}
	s->hdrs = hdrs;
	CURL *e = s->h->easy;
	curl_easy_setopt(e, CURLOPT_PRIVATE, s);
	curl_easy_setopt(e, CURLOPT_URL, rq->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : 0L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 rq->connect_timeout_ms ? rq->connect_timeout_ms : 5000L);
	/* A silent stream is a broken one (fal sends a comment every 15 s). */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, idle_s > 0 ? idle_s : 40L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_stream_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_stream_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
	/* curl's receive buffer lives as long as the transfer: 16 KiB (two
	 * pages touched, at its ends) for a stream that sits open for the whole
	 * model time with a few short events in it. It is only how much curl
	 * takes from the TLS layer per read, not a limit on an event. */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, HTTP_STREAM_RECV_BUFFER);
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
		handle_give(s->h);
		curl_slist_free_all(hdrs);
		snprintf(err, errlen, "curl_multi_add_handle failed");
		return -1;
	}
	s->open = 1;
	c->streams[slot] = s;
	return 0;
}

long http_stream_status(const struct http_stream *s, const char **content_type)
{
	long st = 0;
	char *ct = NULL;

	if (content_type)
		*content_type = NULL;
	if (!s->h || !s->headers_done)
		return 0;
	curl_easy_getinfo(s->h->easy, CURLINFO_RESPONSE_CODE, &st);
	if (content_type && curl_easy_getinfo(s->h->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK)
		*content_type = ct;
	return st;
}

void http_stream_close(struct http_stream *s)
{
	if (!s || !s->c)
		return;
	struct http_client *c = s->c;
	for (int i = 0; i < HTTP_STREAMS_MAX; i++)
		if (c->streams[i] == s)
			c->streams[i] = NULL;
	if (s->open) {
		if (!s->done)
			count_connects(c, s->h->easy);
		/* Mid-body, curl closes the connection; ended, it stays pooled. */
		curl_multi_remove_handle(c->multi, s->h->easy);
	}
	if (s->h)
		handle_give(s->h);
	curl_slist_free_all(s->hdrs);
	buf_free(&s->data);
	memset(s, 0, sizeof *s);
}

int http_client_streaming(const struct http_client *c)
{
	for (int i = 0; i < HTTP_STREAMS_MAX; i++)
		if (c->streams[i])
			return 1;
	return 0;
}

static int any_fresh(const struct http_client *c)
{
	for (int i = 0; i < HTTP_STREAMS_MAX; i++)
		if (c->streams[i] && c->streams[i]->fresh)
			return 1;
	return 0;
}

int http_client_run(struct http_client *c, long wait_ms)
{
	int running;

	if (curl_multi_perform(c->multi, &running) != CURLM_OK)
		return -1;
	drain(c, NULL, NULL, NULL);
	if (any_fresh(c) || wait_ms <= 0)
		return any_fresh(c);
	/* A signal (the soft-limit alarm) ends the poll early. */
	if (curl_multi_poll(c->multi, NULL, 0, wait_ms > 0x7fffffffL ? 0x7fffffff : (int)wait_ms, NULL) != CURLM_OK ||
	    curl_multi_perform(c->multi, &running) != CURLM_OK)
		return -1;
	drain(c, NULL, NULL, NULL);
	return any_fresh(c);
}

int http_stream_wait(struct http_stream *s, long timeout_ms,
		     int (*ready)(const struct http_stream *s, void *arg), void *arg)
{
	double until = clock_mono() + (double)timeout_ms / 1000;

	for (;;) {
		if (ready(s, arg))
			return 1;
		if (s->done)
			return 0;
		double left = (until - clock_mono()) * 1000;
		if (left <= 0)
			return 0;
		if (http_client_run(s->c, left < 1 ? 1 : (long)left) < 0)
			return 0;
	}
}
