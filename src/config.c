/* config: environment parsing and validation. No logging, no exit. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "redis/redis_url.h"

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static int get_int(const char *name, int def, int lo, int hi, int *out, char *err, size_t errlen)
{
	const char *v = env(name);
	char *end;
	long n;

	if (!v) {
		*out = def;
		return 0;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi) {
		snprintf(err, errlen, "%s: must be an integer from %d to %d, got \"%.40s\"",
			 name, lo, hi, v);
		return -1;
	}
	*out = (int)n;
	return 0;
}

/* A finite number in [lo, hi]; unit words the error ("seconds", or "" for
 * a plain number such as a price). */
static int get_double(const char *name, const char *unit, double def, double lo, double hi,
		      double *out, char *err, size_t errlen)
{
	const char *v = env(name);
	char *end;
	double d;

	if (!v) {
		*out = def;
		return 0;
	}
	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(d) || d < lo || d > hi) {
		snprintf(err, errlen, "%s: must be a number%s%s from %g to %g, got \"%.40s\"",
			 name, *unit ? " of " : "", unit, lo, hi, v);
		return -1;
	}
	*out = d;
	return 0;
}

#define get_seconds(name, def, lo, hi, out, err, errlen) \
	get_double(name, "seconds", def, lo, hi, out, err, errlen)
#define get_number(name, def, lo, hi, out, err, errlen) \
	get_double(name, "", def, lo, hi, out, err, errlen)

static int get_bool(const char *name, int *out, char *err, size_t errlen)
{
	const char *v = env(name);
	if (!v) {
		*out = 0;
	} else if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) {
		*out = 1;
	} else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) {
		*out = 0;
	} else {
		snprintf(err, errlen, "%s: must be 1 or 0, got \"%.40s\"", name, v);
		return -1;
	}
	return 0;
}

/* Append "&key=value" (or "?" first) with value %-encoded. */
static int append_param(char **url, const char *key, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *last = strrchr(*url, ';');
	char sep = strchr(last ? last : *url, '?') ? '&' : '?';
	size_t n = strlen(*url), need = n + strlen(key) + 3 * strlen(value) + 3;
	char *s = malloc(need), *o;

	if (!s)
		return -1;
	memcpy(s, *url, n);
	o = s + n;
	*o++ = sep;
	o += sprintf(o, "%s=", key);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	explicit_bzero(*url, n);
	free(*url);
	*url = s;
	return 0;
}

/* Celery's sentinel list carries no master name, sentinel password or TLS
 * switch (those are transport options in Python); ours come from
 * TRYON_SENTINEL_*, added to the URL as query parameters so that every
 * module that parses the URL (worker, children, client, doctor) sees them. */
static int sentinel_params(const char *name, char **url, char *err, size_t errlen)
{
	const char *master = env("TRYON_SENTINEL_MASTER"), *pw = env("TRYON_SENTINEL_PASSWORD");
	int tls = 0;

	if (get_bool("TRYON_SENTINEL_TLS", &tls, err, errlen) < 0)
		return -1;
	if ((master && append_param(url, "master_name", master) < 0) ||
	    (pw && append_param(url, "sentinel_password", pw) < 0) ||
	    (tls && append_param(url, "sentinel_tls", "1") < 0)) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	return 0;
}

/* Validate a URL; sentinel and (with wait, for the broker and results)
 * WAIT parameters are added to it first. */
static int url_scheme_ok(const char *name, char **urlp, const struct config *wait, char *err,
			 size_t errlen)
{
	const char *url = *urlp;
	char num[16];

	if (!strncasecmp(url, "sentinel://", 11) && sentinel_params(name, urlp, err, errlen) < 0)
		return -1;
	if (wait && wait->broker_wait_replicas > 0) {
		snprintf(num, sizeof num, "%d", wait->broker_wait_replicas);
		int rc = append_param(urlp, "wait_replicas", num);
		snprintf(num, sizeof num, "%d", wait->broker_wait_timeout_ms);
		if (rc < 0 || append_param(urlp, "wait_timeout_ms", num) < 0) {
			snprintf(err, errlen, "%s: out of memory", name);
			return -1;
		}
	}
	url = *urlp;
	/* redis_url_parse names a wrong scheme itself and never quotes more
	 * of the URL than its scheme (the rest may hold a password). */
	struct redis_url u;
	char why[256];
	if (redis_url_parse(url, &u, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s: %s", name, why);
		return -1;
	}
	redis_url_free(&u);
	return 0;
}

static int parse_queues(struct config *cfg, const char *list, char *err, size_t errlen)
{
	const char *p = list;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n) {
			if (cfg->n_queues == CONFIG_MAX_QUEUES) {
				snprintf(err, errlen, "TRYON_QUEUES: at most %d queues", CONFIG_MAX_QUEUES);
				return -1;
			}
			for (size_t i = 0; i < n; i++) {
				unsigned char ch = (unsigned char)p[i];
				if (ch < 0x21 || ch > 0x7e) {
					snprintf(err, errlen, "TRYON_QUEUES: queue names must be printable ASCII without spaces");
					return -1;
				}
			}
			cfg->queues[cfg->n_queues++] = strndup(p, n);
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	if (!cfg->n_queues) {
		snprintf(err, errlen, "TRYON_QUEUES: no queue named");
		return -1;
	}
	return 0;
}

int config_load(struct config *cfg, char *err, size_t errlen)
{
	char host[256];
	const char *v;

	memset(cfg, 0, sizeof *cfg);
	cfg->broker_url = strdup(env("CELERY_BROKER_URL") ? env("CELERY_BROKER_URL")
				 : "redis://127.0.0.1:6379/0");
	cfg->result_url = strdup(env("CELERY_RESULT_BACKEND") ? env("CELERY_RESULT_BACKEND")
				 : cfg->broker_url ? cfg->broker_url : "");
	if (!cfg->broker_url || !cfg->result_url) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (get_int("TRYON_BROKER_WAIT_REPLICAS", 0, 0, 64, &cfg->broker_wait_replicas, err, errlen) < 0 ||
	    get_int("TRYON_BROKER_WAIT_TIMEOUT_MS", 1000, 1, 60000, &cfg->broker_wait_timeout_ms,
		    err, errlen) < 0)
		goto fail;
	if (url_scheme_ok("CELERY_BROKER_URL", &cfg->broker_url, cfg, err, errlen) < 0)
		goto fail;
	if (url_scheme_ok("CELERY_RESULT_BACKEND", &cfg->result_url, cfg, err, errlen) < 0)
		goto fail;
	cfg->cache_url = dup_or_null(env("REDIS_CACHE_URL"));
	if (cfg->cache_url && url_scheme_ok("REDIS_CACHE_URL", &cfg->cache_url, NULL, err, errlen) < 0)
		goto fail;
	cfg->fal_key = dup_or_null(env("FAL_KEY"));
	cfg->fal_queue_url = strdup(env("FAL_QUEUE_URL") ? env("FAL_QUEUE_URL") : "https://queue.fal.run");
	if (get_bool("TRYON_INSECURE_MODEL_API", &cfg->insecure_model_api, err, errlen) < 0)
		goto fail;
	if (strncmp(cfg->fal_queue_url, "https://", 8) && strncmp(cfg->fal_queue_url, "http://", 7)) {
		snprintf(err, errlen, "FAL_QUEUE_URL: must start with https://");
		goto fail;
	}
	/* Plain HTTP would send FAL_KEY in clear: only with the opt-in meant
	 * for a local stand-in. */
	if (!strncmp(cfg->fal_queue_url, "http://", 7) && !cfg->insecure_model_api) {
		snprintf(err, errlen,
			 "FAL_QUEUE_URL: plain http:// would send FAL_KEY unencrypted; use https:// "
			 "(TRYON_INSECURE_MODEL_API=1 allows http:// for local testing only)");
		goto fail;
	}
	{
		/* Requests are built as base + "/" + endpoint. */
		size_t n = strlen(cfg->fal_queue_url);
		while (n > 8 && cfg->fal_queue_url[n - 1] == '/')
			cfg->fal_queue_url[--n] = '\0';
	}
	cfg->primary_endpoint = strdup(env("TRYON_PRIMARY_ENDPOINT") ? env("TRYON_PRIMARY_ENDPOINT")
				       : "fal-ai/flux-2-lora-gallery/virtual-tryon");
	cfg->backup_endpoint = strdup(env("TRYON_BACKUP_ENDPOINT") ? env("TRYON_BACKUP_ENDPOINT")
				      : "fal-ai/fashn/tryon/v1.6");
	if (parse_queues(cfg, env("TRYON_QUEUES") ? env("TRYON_QUEUES") : "tryon_queue", err, errlen) < 0)
		goto fail;
	if (get_int("TRYON_CONCURRENCY", 4, 1, 1024, &cfg->concurrency, err, errlen) < 0 ||
	    get_int("TRYON_RESULT_EXPIRES", 3600, 0, 365 * 86400, &cfg->result_expires, err, errlen) < 0 ||
	    get_int("TRYON_MEMORY_LIMIT_MB", 512, 16, 1 << 20, &cfg->memory_limit_mb, err, errlen) < 0 ||
	    get_seconds("TRYON_SOFT_TIME_LIMIT", 25, 0.1, 86400, &cfg->soft_time_limit, err, errlen) < 0 ||
	    get_seconds("TRYON_TIME_LIMIT", 30, 0.1, 86400, &cfg->time_limit, err, errlen) < 0 ||
	    get_int("TRYON_MAX_RETRIES", 1, 0, 100, &cfg->max_retries, err, errlen) < 0 ||
	    get_seconds("TRYON_RETRY_COUNTDOWN", 1, 0, 86400, &cfg->retry_countdown, err, errlen) < 0 ||
	    get_int("TRYON_MAX_REDELIVERIES", 3, 1, 1000, &cfg->max_redeliveries, err, errlen) < 0 ||
	    get_int("TRYON_VISIBILITY_TIMEOUT", 3600, 10, 30 * 86400, &cfg->visibility_timeout, err, errlen) < 0 ||
	    get_seconds("TRYON_SHUTDOWN_GRACE", 30, 0, 3600, &cfg->shutdown_grace, err, errlen) < 0 ||
	    get_int("TRYON_CACHE_TTL", 86400, 1, 365 * 86400, &cfg->cache_ttl, err, errlen) < 0 ||
	    get_int("TRYON_MAX_MESSAGE_BYTES", 1 << 20, 1024, 64 << 20, &cfg->max_message_bytes, err, errlen) < 0 ||
	    get_bool("TRYON_ENABLE_TEST_TASKS", &cfg->enable_test_tasks, err, errlen) < 0 ||
	    get_bool("TRYON_TASK_EVENTS", &cfg->task_events, err, errlen) < 0)
		goto fail;
	if (get_number("TRYON_PRICE_PRIMARY", 0.05, 0, 1000, &cfg->price_primary, err, errlen) < 0 ||
	    get_number("TRYON_PRICE_BACKUP", 0.075, 0, 1000, &cfg->price_backup, err, errlen) < 0 ||
	    get_seconds("TRYON_HEDGE_AFTER", 3, 0, 3600, &cfg->hedge_after, err, errlen) < 0 ||
	    get_seconds("TRYON_BACKUP_LATENCY", 12, 0.1, 3600, &cfg->backup_latency, err, errlen) < 0 ||
	    get_seconds("TRYON_MODEL_POLL_INTERVAL", 0.1, 0.05, 10, &cfg->model_poll_interval, err, errlen) < 0 ||
	    get_int("TRYON_MAX_DATA_URI_BYTES", 8 << 20, 0, 64 << 20, &cfg->max_data_uri_bytes, err, errlen) < 0 ||
	    get_int("TRYON_BREAKER_THRESHOLD", 5, 1, 1000, &cfg->breaker_threshold, err, errlen) < 0 ||
	    get_seconds("TRYON_BREAKER_COOLDOWN", 30, 0.1, 86400, &cfg->breaker_cooldown, err, errlen) < 0 ||
	    get_seconds("TRYON_CACHE_TIMEOUT", 0.5, 0.01, 10, &cfg->cache_timeout, err, errlen) < 0 ||
	    get_seconds("TRYON_PRIMARY_LATENCY", 20, 0.1, 3600, &cfg->primary_latency, err, errlen) < 0 ||
	    get_int("TRYON_MODEL_CONCURRENCY", 0, 0, 100000, &cfg->model_concurrency, err, errlen) < 0 ||
	    get_number("TRYON_MODEL_RATE", 0, 0, 100000, &cfg->model_rate, err, errlen) < 0 ||
	    get_number("TRYON_DAILY_BUDGET", 0, 0, 1e9, &cfg->daily_budget, err, errlen) < 0)
		goto fail;
	v = env("TRYON_FALLBACK_MODE");
	if (v && strcmp(v, "cost") && strcmp(v, "latency")) {
		snprintf(err, errlen, "TRYON_FALLBACK_MODE: must be cost or latency");
		goto fail;
	}
	cfg->fallback_latency = v && !strcmp(v, "latency");
	if (cfg->soft_time_limit >= cfg->time_limit) {
		snprintf(err, errlen, "TRYON_SOFT_TIME_LIMIT: must be below TRYON_TIME_LIMIT (%g >= %g)",
			 cfg->soft_time_limit, cfg->time_limit);
		goto fail;
	}
	if ((v = env("TRYON_HOSTNAME"))) {
		cfg->hostname = strdup(v);
	} else {
		if (gethostname(host, sizeof host) < 0)
			strcpy(host, "localhost");
		host[sizeof host - 1] = '\0';
		size_t n = strlen(host) + 8;
		cfg->hostname = malloc(n);
		if (cfg->hostname)
			snprintf(cfg->hostname, n, "celery@%s", host);
	}
	cfg->log_level = strdup(env("TRYON_LOG_LEVEL") ? env("TRYON_LOG_LEVEL") : "info");
	v = getenv("TRYON_HTTP_ADDR");
	cfg->http_addr = strdup(v ? v : "127.0.0.1:9808");
	cfg->ca_file = dup_or_null(env("TRYON_CA_FILE"));
	if (!cfg->broker_url || !cfg->result_url || !cfg->fal_queue_url || !cfg->hostname ||
	    !cfg->log_level || !cfg->http_addr || !cfg->primary_endpoint || !cfg->backup_endpoint) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	config_free(cfg);
	return -1;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->broker_url);
	free(cfg->result_url);
	free(cfg->cache_url);
	if (cfg->fal_key) {
		/* Do not leave the key in freed heap memory. */
		memset(cfg->fal_key, 0, strlen(cfg->fal_key));
		free(cfg->fal_key);
	}
	free(cfg->fal_queue_url);
	free(cfg->primary_endpoint);
	free(cfg->backup_endpoint);
	for (int i = 0; i < cfg->n_queues; i++)
		free(cfg->queues[i]);
	free(cfg->hostname);
	free(cfg->log_level);
	free(cfg->http_addr);
	free(cfg->ca_file);
	memset(cfg, 0, sizeof *cfg);
}
