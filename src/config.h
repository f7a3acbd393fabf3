/* config: every setting, read once from the environment at start-up, with
 * the names of the Python deployment's .env (CELERY_BROKER_URL, ...) plus
 * TRYON_* for ours. Validation is complete here so the rest of the program
 * can trust the values; main exits 100 on an error (daemontools convention:
 * systemd's RestartPreventExitStatus=100 stops a restart loop). docs/CONFIG.md
 * lists every variable. */
#ifndef TRYON_CONFIG_H
#define TRYON_CONFIG_H
#include <stddef.h>

#define CONFIG_MAX_QUEUES 16

struct config {
	char *broker_url;            /* CELERY_BROKER_URL */
	char *result_url;            /* CELERY_RESULT_BACKEND (default: broker) */
	char *cache_url;             /* REDIS_CACHE_URL, NULL = no cache */
				     /* A sentinel:// URL here carries TRYON_SENTINEL_MASTER,
					_PASSWORD and _TLS as query parameters (redis_url.h) */
	int broker_wait_replicas;    /* TRYON_BROKER_WAIT_REPLICAS: WAIT for this many
					replicas after RECORD and FINISH; 0 = never */
	int broker_wait_timeout_ms;  /* TRYON_BROKER_WAIT_TIMEOUT_MS, default 1000 */
	char *fal_key;               /* FAL_KEY, NULL if unset; never logged */
	char *fal_queue_url;         /* FAL_QUEUE_URL: https://, or http:// only with
					insecure_model_api */
	int insecure_model_api;      /* TRYON_INSECURE_MODEL_API: allow http:// (local tests) */
	char *primary_endpoint;      /* TRYON_PRIMARY_ENDPOINT */
	char *backup_endpoint;       /* TRYON_BACKUP_ENDPOINT */
	char *queues[CONFIG_MAX_QUEUES];
	int n_queues;
	int concurrency;             /* TRYON_CONCURRENCY */
	int result_expires;          /* TRYON_RESULT_EXPIRES, seconds */
	char *hostname;              /* TRYON_HOSTNAME: node name celery@host */
	char *log_level;             /* TRYON_LOG_LEVEL */
	char *http_addr;             /* TRYON_HTTP_ADDR, "" = disabled */
	char *ca_file;               /* TRYON_CA_FILE */
	int memory_limit_mb;         /* TRYON_MEMORY_LIMIT_MB */
	double soft_time_limit;      /* TRYON_SOFT_TIME_LIMIT, s */
	double time_limit;           /* TRYON_TIME_LIMIT, s */
	int max_retries;             /* TRYON_MAX_RETRIES */
	double retry_countdown;      /* TRYON_RETRY_COUNTDOWN, s */
	int max_redeliveries;        /* TRYON_MAX_REDELIVERIES */
	int visibility_timeout;      /* TRYON_VISIBILITY_TIMEOUT, s */
	double shutdown_grace;       /* TRYON_SHUTDOWN_GRACE, s */
	int max_tasks_per_child;     /* reserved: every job is a fresh child */
	int cache_ttl;               /* TRYON_CACHE_TTL, s */
	int enable_test_tasks;       /* TRYON_ENABLE_TEST_TASKS */
	int task_events;             /* TRYON_TASK_EVENTS */
	int max_message_bytes;       /* TRYON_MAX_MESSAGE_BYTES */
	/* The try-on job (issue 5; docs/CONFIG.md). */
	double price_primary;        /* TRYON_PRICE_PRIMARY, USD per accepted submit */
	double price_backup;         /* TRYON_PRICE_BACKUP, USD per accepted submit */
	double hedge_after;          /* TRYON_HEDGE_AFTER, s the primary may sit IN_QUEUE
					before the backup is submitted too; 0 = never */
	double backup_latency;       /* TRYON_BACKUP_LATENCY, s assumed for the backup
					(for a 25 s soft limit) until the parent has
					observed it */
	double model_poll_interval;  /* TRYON_MODEL_POLL_INTERVAL, s: longest gap between
					status polls (they start at 50 ms and double) */
	int max_data_uri_bytes;      /* TRYON_MAX_DATA_URI_BYTES; 0 = data URIs refused */
	int breaker_threshold;       /* TRYON_BREAKER_THRESHOLD: consecutive transient
					failures that open an endpoint's breaker */
	double breaker_cooldown;     /* TRYON_BREAKER_COOLDOWN, s open before a probe */
	double cache_timeout;        /* TRYON_CACHE_TIMEOUT, s: cache connect and each
					command (a slow cache is skipped, not waited for) */
	/* The money path (docs/CONFIG.md, docs/DESIGN.md "The fallback plan"). */
	int fallback_latency;        /* TRYON_FALLBACK_MODE=latency (default cost) */
	double primary_latency;      /* TRYON_PRIMARY_LATENCY, s: the primary's expected
					latency (for a 25 s soft limit) until observed */
	int model_concurrency;       /* TRYON_MODEL_CONCURRENCY: model requests in
					progress across all nodes; 0 = no limit */
	double model_rate;           /* TRYON_MODEL_RATE: submits per second across all
					nodes; 0 = no limit */
	double daily_budget;         /* TRYON_DAILY_BUDGET: USD per UTC day across all
					nodes, counted at submit; 0 = no limit */
};

/* Read the environment (getenv) into cfg. Returns 0, or -1 with err naming
 * the variable and what is wrong. cfg owns its strings: config_free. */
int config_load(struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);
#endif
