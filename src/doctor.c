/* doctor: one function per check; each prints exactly one line. */
#include "doctor.h"
#include "lib/clock.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/http.h"
#include "redis/redis_conn.h"
#include "redis/redis_sync.h"
#include "redis/redis_url.h"
#include "redis/resp.h"
#include "version.h"

static int report(FILE *out, int ok, const char *check, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int report(FILE *out, int ok, const char *check, const char *fmt, ...)
{
	va_list ap;
	fprintf(out, "%-4s  %-12s  ", ok ? "ok" : "FAIL", check);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	return ok ? 0 : 1;
}

/* The model API must answer over TLS verified against our trust store. Any
 * HTTP status counts as reachable: the base URL itself has no resource. */
static int check_model_api(const struct config *cfg, const struct trust_store *ts, FILE *out)
{
	struct http_client hc;
	struct http_response rs;
	char err[300], ua[64];
	int failed;

	snprintf(ua, sizeof ua, "tryon-worker/%s", version_string);
	if (http_client_init(&hc, ts, ua, err, sizeof err) < 0)
		return report(out, 0, "model-api", "%s", err);
	buf_init(&rs.body);
	struct http_request rq = {
		.method = "GET", .url = cfg->fal_queue_url,
		.timeout_ms = 10000, .connect_timeout_ms = 5000, .max_response = 1 << 16,
	};
	enum http_outcome o = http_perform(&hc, &rq, &rs, err, sizeof err);
	if (o == HTTP_OK) {
		const char *tls = strncmp(cfg->fal_queue_url, "https://", 8)
			? "plain HTTP (TRYON_INSECURE_MODEL_API=1: FAL_KEY is sent unencrypted, for local testing only)"
			: "verified TLS 1.2";
		failed = report(out, 1, "model-api", "%s reachable over %s (HTTP %ld in %.0f ms)",
				cfg->fal_queue_url, tls, rs.status, rs.seconds * 1000);
	} else {
		failed = report(out, 0, "model-api", "%s: %s (%s)", cfg->fal_queue_url, err,
				http_outcome_name(o));
	}
	buf_free(&rs.body);
	http_client_free(&hc);
	return failed;
}

static int check_fal_key(const struct config *cfg, FILE *out)
{
	if (!cfg->fal_key)
		return report(out, 0, "fal-key", "FAL_KEY is not set: every try-on would fail");
	/* Length only: the key itself is a secret. */
	return report(out, 1, "fal-key", "FAL_KEY is set (%zu characters)", strlen(cfg->fal_key));
}

/* Each sentinel of a sentinel:// URL on its own: does it answer (AUTH
 * with TRYON_SENTINEL_PASSWORD) and know the master? Appends "host:port"
 * per sentinel to list (with "(down: why)" for those that fail) and the
 * highest config-epoch seen (a failover bumps it) to *epoch. Returns how
 * many answered. */
static int probe_sentinels(const struct redis_url *u, const struct trust_store *ts, char *list,
			   size_t listlen, long long *epoch, char *why, size_t whylen)
{
	int ok = 0;
	size_t used = 0;

	*epoch = -1;
	for (int i = 0; i < u->n_sentinels; i++) {
		struct redis_url one;
		char err[300] = "";
		if (redis_url_copy(&one, u) < 0)
			break;
		/* The same URL narrowed to sentinel i. */
		struct redis_sentinel_addr keep = one.sentinels[0];
		one.sentinels[0] = one.sentinels[i];
		one.sentinels[i] = keep;
		int n = one.n_sentinels;
		one.n_sentinels = 1;
		struct redis_conn_opts o = { .url = &one, .trust = ts, .name = "doctor-sentinel",
					     .connect_timeout = 3, .io_timeout = 3, .sentinel_watch = 1 };
		struct redis_conn *c = redis_conn_new(&o, err, sizeof err);
		struct resp_value *r = NULL;
		if (c && redis_sync_connect(c, 3, err, sizeof err) == 0)
			r = redis_sync_callv(c, 3, err, sizeof err, "SENTINEL", "MASTER", u->master_name, NULL);
		if (r && r->type == RESP_ARRAY) {
			ok++;
			for (size_t k = 0; k + 1 < r->n_elems; k += 2)
				if (r->elems[k]->str && !strcmp(r->elems[k]->str, "config-epoch") &&
				    r->elems[k + 1]->str) {
					long long e = strtoll(r->elems[k + 1]->str, NULL, 10);
					*epoch = e > *epoch ? e : *epoch;
				}
		} else if (r && r->type == RESP_ERROR) {
			snprintf(err, sizeof err, "%.200s", r->str);
		}
		if (!(r && r->type == RESP_ARRAY))
			snprintf(why, whylen, "%s", err);
		used += (size_t)snprintf(list + used, used < listlen ? listlen - used : 0, "%s%s:%d%s",
					 i ? ", " : "", u->sentinels[i].host, u->sentinels[i].port,
					 r && r->type == RESP_ARRAY ? "" : " (down)");
		resp_value_free(r);
		redis_conn_free(c);
		one.n_sentinels = n;
		redis_url_free(&one);
	}
	return ok;
}

/* Reachable, AUTH accepted, DB selectable, answering PING. */
static int check_redis(const char *check, const char *url_str, const struct trust_store *ts, FILE *out)
{
	struct redis_url url;
	char err[300], red[1600];
	int failed;

	if (redis_url_parse(url_str, &url, err, sizeof err) < 0)
		return report(out, 0, check, "%s", err);
	redis_url_redact(&url, red, sizeof red);
	if (url.n_sentinels > 0) {
		/* The sentinel list says more than the redacted URL: which
		 * sentinels answer, which master they name, any failover. */
		char list[1200], why[300] = "";
		long long epoch;
		int up = probe_sentinels(&url, ts, list, sizeof list, &epoch, why, sizeof why);
		snprintf(red, sizeof red, "sentinels %.900s (%d of %d answering%s%.200s)", list, up,
			 url.n_sentinels, up < url.n_sentinels ? ": " : "", up < url.n_sentinels ? why : "");
		if (up == 0) {
			redis_url_free(&url);
			return report(out, 0, check, "%s", red);
		}
		size_t n = strlen(red);
		snprintf(red + n, sizeof red - n, "; %s", epoch > 0 ? "a failover happened (config-epoch > 0)"
			 : "no switch seen (config-epoch 0)");
	}
	struct redis_conn_opts o = { .url = &url, .trust = ts, .name = check,
				     .connect_timeout = 5, .io_timeout = 5 };
	struct redis_conn *c = redis_conn_new(&o, err, sizeof err);
	double t0 = clock_mono();
	if (!c || redis_sync_connect(c, 5, err, sizeof err) < 0) {
		failed = report(out, 0, check, "%s: %s", red, err);
	} else {
		struct resp_value *r = redis_sync_callv(c, 5, err, sizeof err, "PING", NULL);
		char master[300] = "";
		if (url.n_sentinels > 0)
			snprintf(master, sizeof master, " to master %s at %s (ROLE master)", url.master_name,
				 redis_conn_track(c)->master);
		if (r && r->type == RESP_SIMPLE)
			failed = report(out, 1, check, "%s: connected%s%s%s, DB %d selected, PING answered (%.1f ms)",
					red, master, url.transport == REDIS_TRANSPORT_TLS ? " over verified TLS 1.2" : "",
					url.password ? ", AUTH accepted" : "", url.db,
					(clock_mono() - t0) * 1000);
		else
			failed = report(out, 0, check, "%s: PING failed: %s", red,
					r && r->type == RESP_ERROR ? r->str : err);
		resp_value_free(r);
	}
	redis_conn_free(c);
	redis_url_free(&url);
	return failed;
}

int doctor_run(const struct config *cfg, const struct trust_store *ts, FILE *out)
{
	int failed = 0;

	report(out, 1, "config", "configuration valid; trust: %zu built-in CA anchors%s%s",
	       ts->n_builtin, cfg->ca_file ? " + " : "", cfg->ca_file ? cfg->ca_file : "");
	/* BearSSL has no TLS 1.3; 1.0 and 1.1 are refused (http.c, redis_tls.c). */
	report(out, 1, "tls", "TLS 1.2 minimum (and maximum) for the model API and rediss://; "
	       "TLS 1.0/1.1 servers are refused");
	if (cfg->insecure_model_api)
		report(out, 1, "insecure", "TRYON_INSECURE_MODEL_API=1: an http:// FAL_QUEUE_URL is allowed "
		       "(FAL_KEY unencrypted); for local testing only");
	failed += check_redis("broker", cfg->broker_url, ts, out);
	failed += check_redis("results", cfg->result_url, ts, out);
	if (cfg->cache_url)
		failed += check_redis("cache", cfg->cache_url, ts, out);
	else
		report(out, 1, "cache", "REDIS_CACHE_URL not set: no result cache (every try-on calls the model API)");
	failed += check_fal_key(cfg, out);
	failed += check_model_api(cfg, ts, out);
	fprintf(out, "%s\n", failed ? "doctor: some checks failed" : "doctor: all checks passed");
	return failed;
}
