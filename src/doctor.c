/* doctor: one function per check; each prints exactly one line. */
#include "doctor.h"
#include "lib/clock.h"

#include <stdarg.h>
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

/* Reachable, AUTH accepted, DB selectable, answering PING. */
static int check_redis(const char *check, const char *url_str, const struct trust_store *ts, FILE *out)
{
	struct redis_url url;
	char err[300], red[300];
	int failed;

	if (redis_url_parse(url_str, &url, err, sizeof err) < 0)
		return report(out, 0, check, "%s", err);
	redis_url_redact(&url, red, sizeof red);
	struct redis_conn_opts o = { .url = &url, .trust = ts, .name = check,
				     .connect_timeout = 5, .io_timeout = 5 };
	struct redis_conn *c = redis_conn_new(&o, err, sizeof err);
	double t0 = clock_mono();
	if (!c || redis_sync_connect(c, 5, err, sizeof err) < 0) {
		failed = report(out, 0, check, "%s: %s", red, err);
	} else {
		struct resp_value *r = redis_sync_callv(c, 5, err, sizeof err, "PING", NULL);
		if (r && r->type == RESP_SIMPLE)
			failed = report(out, 1, check, "%s: connected%s%s, DB %d selected, PING answered (%.1f ms)",
					red, url.transport == REDIS_TRANSPORT_TLS ? " over verified TLS 1.2" : "",
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
