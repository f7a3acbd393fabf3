/* metrics: the worker's metrics registry: counters, gauges and histograms,
 * each identified by an enum and at most two label values from a small,
 * fixed set (task name, endpoint, outcome, exit class, queue). All storage
 * is inside struct metrics (no allocation, no I/O, no globals): the caller
 * owns it, updates it from its loop, and promtext renders it. docs/METRICS.md
 * says what each metric means; this header is the list of record. */
#ifndef TRYON_METRICS_H
#define TRYON_METRICS_H
#include <stdint.h>

/* Every metric. Names follow Prometheus conventions (base units, _total
 * counters) and, where the meaning matches, celery-exporter's names so its
 * Grafana dashboards work unchanged. The label names are in brackets. */
enum metric_id {
	/* celery-exporter compatible */
	METRIC_TASKS_RECEIVED,      /* celery_task_received_total [name] */
	METRIC_TASKS_STARTED,       /* celery_task_started_total [name] */
	METRIC_TASKS_SUCCEEDED,     /* celery_task_succeeded_total [name] */
	METRIC_TASKS_FAILED,        /* celery_task_failed_total [name, exception] */
	METRIC_TASKS_RETRIED,       /* celery_task_retried_total [name] */
	METRIC_TASKS_REJECTED,      /* celery_task_rejected_total [name] */
	METRIC_TASKS_REVOKED,       /* celery_task_revoked_total [name] */
	METRIC_TASK_RUNTIME,        /* celery_task_runtime (histogram, s) [name] */
	METRIC_WORKER_UP,           /* celery_worker_up [hostname] */
	METRIC_WORKER_TASKS_ACTIVE, /* celery_worker_tasks_active [hostname] */
	METRIC_QUEUE_LENGTH,        /* celery_queue_length [queue_name] */
	/* ours */
	METRIC_WORKER_SLOTS,        /* tryon_worker_slots */
	METRIC_DEAD_LETTER_LENGTH,  /* tryon_dead_letter_length */
	METRIC_CACHE_REQUESTS,      /* tryon_cache_requests_total [result] */
	METRIC_MODEL_REQUESTS,      /* tryon_model_requests_total [endpoint, outcome] */
	METRIC_MODEL_LATENCY,       /* tryon_model_request_duration_seconds (histogram) [endpoint] */
	METRIC_MODEL_SPEND,         /* tryon_model_spend_usd_total [endpoint] */
	METRIC_BREAKER_STATE,       /* tryon_model_breaker_state [endpoint] */
	METRIC_SINGLEFLIGHT_WAITS,  /* tryon_singleflight_waits_total */
	METRIC_JOB_EXITS,           /* tryon_job_exits_total [class] */
	METRIC_JOB_PEAK_MEMORY,     /* tryon_job_peak_memory_bytes (histogram) */
	METRIC_MODEL_RESUMED,       /* tryon_model_requests_resumed_total */
	METRIC_MODEL_LIMIT_EVENTS,  /* tryon_model_limit_events_total [limit, result] */
	METRIC_MODEL_LIMIT,         /* tryon_model_limit [limit] */
	METRIC_MODEL_IN_PROGRESS,   /* tryon_model_requests_in_progress_cluster */
	METRIC_MODEL_SPEND_TODAY,   /* tryon_model_spend_today_usd */
	METRIC_BUILD_INFO,          /* tryon_build_info [version, commit] */
	METRIC_METRICS_DROPPED,     /* tryon_metrics_dropped_total */
	METRIC_REDIS_WAIT_SHORT,    /* tryon_redis_wait_short_total [connection] */
	/* the standard process collector's names */
	METRIC_PROCESS_RESIDENT_MEMORY, /* process_resident_memory_bytes */
	METRIC_PROCESS_START_TIME,  /* process_start_time_seconds */
	METRIC_COUNT
};

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Values of METRIC_BREAKER_STATE. */
#define METRICS_BREAKER_CLOSED    0
#define METRICS_BREAKER_HALF_OPEN 1
#define METRICS_BREAKER_OPEN      2

#define METRICS_MAX_LABELS 2
#define METRICS_LABEL_MAX 96              /* bytes of a label value, NUL included */
#define METRICS_MAX_BUCKETS 20            /* finite bucket bounds per histogram */
#define METRICS_MAX_SERIES 192            /* all label combinations, all metrics */
#define METRICS_MAX_SERIES_PER_METRIC 32  /* so junk task names cannot starve the rest */

/* A metric's fixed description (static, immutable). */
struct metric_def {
	const char *name;
	const char *help;
	enum metric_type type;
	int n_labels;
	const char *labels[METRICS_MAX_LABELS];
	const double *buckets;      /* histograms: ascending finite upper bounds */
	int n_buckets;
};

/* One label combination of one metric. Read-only outside metrics.c. */
struct metric_series {
	enum metric_id id;
	char label[METRICS_MAX_LABELS][METRICS_LABEL_MAX];
	double value;               /* counter or gauge */
	double sum;                 /* histogram: sum of observations */
	uint64_t count;             /* histogram: number of observations */
	/* histogram: observations in (bound[i-1], bound[i]], not cumulative;
	 * those above the last bound are count minus all of these. */
	uint64_t bucket[METRICS_MAX_BUCKETS];
};

/* Series are held in chunks allocated as the registry grows: an idle
 * worker has about 25 series, and a registry allocated whole (192 of them,
 * 75 KB) was written through by calloc's zeroing, a sixth of the idle
 * worker's memory (issue 15). */
#define METRICS_CHUNK 16                  /* series per allocation */

/* The registry. Fields are read by promtext; update them only through the
 * functions. Zeroed (static or calloc) it is ready for metrics_init. */
struct metrics {
	const struct metric_def *defs;          /* METRIC_COUNT entries */
	int n_series;
	int per_metric[METRIC_COUNT];
	struct metric_series *chunk[METRICS_MAX_SERIES / METRICS_CHUNK];   /* owned; NULL until needed */
};

/* Reset m (zeroed, or initialised before) to empty; chunks already held
 * are kept for reuse. Counters and histograms without labels (and
 * tryon_metrics_dropped_total) exist at once with value 0 (if their chunk
 * cannot be allocated, they appear with the first update that can);
 * gauges and labelled series appear when first updated or touched. */
void metrics_init(struct metrics *m);
/* Release the chunks; m is then as if zeroed. */
void metrics_free(struct metrics *m);
/* Series i, 0 <= i < m->n_series, in the order they were created. */
const struct metric_series *metrics_series(const struct metrics *m, int i);

/* The description of id; NULL if id is out of range. */
const struct metric_def *metrics_def(enum metric_id id);

/* Updates. l1 and l2 are the label values in the order of the metric's
 * label names; pass NULL for labels the metric does not have. Values are
 * copied. Each returns 0, or -1 when the update was refused and counted in
 * tryon_metrics_dropped_total: wrong label count, a value of
 * METRICS_LABEL_MAX bytes or more, the series caps reached, a non-finite
 * value, a negative counter increment, or the wrong metric type.
 *
 * metrics_inc: counters (by >= 0) and gauges (any sign). */
int metrics_inc(struct metrics *m, enum metric_id id, const char *l1, const char *l2, double by);
/* metrics_set: gauges only. */
int metrics_set(struct metrics *m, enum metric_id id, const char *l1, const char *l2, double value);
/* metrics_set_total: counters only, to a running total another module
 * keeps (e.g. tryon_state's outcome counts), copied at scrape time. A value
 * below the current one is refused: counters never go down. */
int metrics_set_total(struct metrics *m, enum metric_id id, const char *l1, const char *l2,
		      double total);
/* metrics_observe: histograms only. */
int metrics_observe(struct metrics *m, enum metric_id id, const char *l1, const char *l2, double value);
/* Create the series at zero if it does not exist yet, so that a rate() sees
 * the first event (call at start-up for each task name, exit class, ...). */
int metrics_touch(struct metrics *m, enum metric_id id, const char *l1, const char *l2);

/* The series for these labels, or NULL. The pointer stays valid until
 * metrics_init; the caller must not write through it. */
const struct metric_series *metrics_find(const struct metrics *m, enum metric_id id,
					 const char *l1, const char *l2);
#endif
