/* metrics: the registry's table of metric descriptions and its updates.
 * Pure: no I/O, no clock; the only state is the caller's struct metrics
 * and the chunks of series it owns. Lookups are linear: a scrape or a job
 * touches a handful of series among at most METRICS_MAX_SERIES. */
#include "ops/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(METRICS_MAX_SERIES % METRICS_CHUNK == 0, "whole chunks");

/* Task runtime: a cache hit takes milliseconds, the model path 10-35 s; the
 * team's targets (p50 < 3 s, p95 < 5 s) and limits (soft 25 s, hard 30 s)
 * are bucket bounds so the dashboards can answer them exactly. */
static const double runtime_buckets[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 45, 60,
};
static const double model_buckets[] = {
	0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 45, 60,
};
/* Child peak resident memory; the default cap is 512 MiB. */
#define MIB 1048576.0
static const double memory_buckets[] = {
	8 * MIB, 16 * MIB, 32 * MIB, 64 * MIB, 128 * MIB, 256 * MIB, 384 * MIB, 512 * MIB,
	768 * MIB, 1024 * MIB,
};
#undef MIB

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define C0(name, help) { name, help, METRIC_COUNTER, 0, { NULL, NULL }, NULL, 0 }
#define C1(name, help, l1) { name, help, METRIC_COUNTER, 1, { l1, NULL }, NULL, 0 }
#define C2(name, help, l1, l2) { name, help, METRIC_COUNTER, 2, { l1, l2 }, NULL, 0 }
#define G0(name, help) { name, help, METRIC_GAUGE, 0, { NULL, NULL }, NULL, 0 }
#define G1(name, help, l1) { name, help, METRIC_GAUGE, 1, { l1, NULL }, NULL, 0 }
#define G2(name, help, l1, l2) { name, help, METRIC_GAUGE, 2, { l1, l2 }, NULL, 0 }
#define H0(name, help, b) { name, help, METRIC_HISTOGRAM, 0, { NULL, NULL }, b, N(b) }
#define H1(name, help, l1, b) { name, help, METRIC_HISTOGRAM, 1, { l1, NULL }, b, N(b) }

static const struct metric_def defs[METRIC_COUNT] = {
	[METRIC_TASKS_RECEIVED] = C1("celery_task_received_total",
		"Tasks this worker received from the broker.", "name"),
	[METRIC_TASKS_STARTED] = C1("celery_task_started_total",
		"Tasks this worker started executing.", "name"),
	[METRIC_TASKS_SUCCEEDED] = C1("celery_task_succeeded_total",
		"Tasks that executed successfully.", "name"),
	[METRIC_TASKS_FAILED] = C2("celery_task_failed_total",
		"Tasks whose execution failed, by exception class.", "name", "exception"),
	[METRIC_TASKS_RETRIED] = C1("celery_task_retried_total",
		"Tasks that failed and were scheduled to run again.", "name"),
	[METRIC_TASKS_REJECTED] = C1("celery_task_rejected_total",
		"Tasks rejected by the worker: requeued or dead-lettered.", "name"),
	[METRIC_TASKS_REVOKED] = C1("celery_task_revoked_total",
		"Tasks revoked or expired before or while running.", "name"),
	[METRIC_TASK_RUNTIME] = H1("celery_task_runtime",
		"Task runtime in seconds, from start to the end of its process.", "name", runtime_buckets),
	[METRIC_WORKER_UP] = G1("celery_worker_up",
		"1 while the worker is connected to the broker and consuming.", "hostname"),
	[METRIC_WORKER_TASKS_ACTIVE] = G1("celery_worker_tasks_active",
		"Tasks the worker is currently executing.", "hostname"),
	[METRIC_QUEUE_LENGTH] = G1("celery_queue_length",
		"Messages waiting in the broker queue.", "queue_name"),
	[METRIC_WORKER_SLOTS] = G0("tryon_worker_slots",
		"Job slots (TRYON_CONCURRENCY): tasks this worker runs at once at most."),
	[METRIC_DEAD_LETTER_LENGTH] = G0("tryon_dead_letter_length",
		"Messages in the dead-letter list tryon-worker.dead."),
	[METRIC_CACHE_REQUESTS] = C1("tryon_cache_requests_total",
		"Result cache lookups by result: hit, miss or error.", "result"),
	[METRIC_MODEL_REQUESTS] = C2("tryon_model_requests_total",
		"Model API requests by endpoint and outcome.", "endpoint", "outcome"),
	[METRIC_MODEL_LATENCY] = H1("tryon_model_request_duration_seconds",
		"Model API request duration in seconds, submit to result.", "endpoint", model_buckets),
	[METRIC_MODEL_SPEND] = C1("tryon_model_spend_usd_total",
		"Estimated model API spend in US dollars.", "endpoint"),
	[METRIC_BREAKER_STATE] = G1("tryon_model_breaker_state",
		"Circuit breaker state per model endpoint: 0 closed, 1 half-open, 2 open.", "endpoint"),
	[METRIC_SINGLEFLIGHT_WAITS] = C0("tryon_singleflight_waits_total",
		"Jobs that waited for an identical try-on already in progress instead of calling the model."),
	[METRIC_JOB_EXITS] = C1("tryon_job_exits_total",
		"Job processes that ended, by exit class.", "class"),
	[METRIC_JOB_PEAK_MEMORY] = H0("tryon_job_peak_memory_bytes",
		"Peak resident memory of each job process in bytes.", memory_buckets),
	[METRIC_MODEL_RESUMED] = C0("tryon_model_requests_resumed_total",
		"Paid model requests taken over from an earlier attempt or a dead job instead of submitting again."),
	[METRIC_MODEL_LIMIT_EVENTS] = C2("tryon_model_limit_events_total",
		"Model submits held back by a cluster-wide limit (concurrency, rate, pause after 429, budget): "
		"waited, or refused (the try-on failed).", "limit", "result"),
	[METRIC_MODEL_LIMIT] = G1("tryon_model_limit",
		"Configured cluster-wide limits: concurrency (requests), rate (submits/s), daily_budget (USD); "
		"0 = none.", "limit"),
	[METRIC_MODEL_IN_PROGRESS] = G0("tryon_model_requests_in_progress_cluster",
		"Model requests holding a concurrency lease across all nodes (sampled every 5 s; "
		"with TRYON_MODEL_CONCURRENCY)."),
	[METRIC_MODEL_SPEND_TODAY] = G0("tryon_model_spend_today_usd",
		"USD counted against TRYON_DAILY_BUDGET today (UTC) by all nodes (sampled every 5 s)."),
	[METRIC_BUILD_INFO] = G2("tryon_build_info",
		"Always 1; the labels name the running build.", "version", "commit"),
	[METRIC_METRICS_DROPPED] = C0("tryon_metrics_dropped_total",
		"Metric updates refused (too many series or a bad label value); nonzero means a bug or abuse."),
	[METRIC_REDIS_WAIT_SHORT] = C1("tryon_redis_wait_short_total",
		"WAITs after a RECORD or FINISH step (TRYON_BROKER_WAIT_REPLICAS) that reached fewer "
		"replicas than asked within the timeout: steps a master crash could undo.", "connection"),
	[METRIC_PROCESS_RESIDENT_MEMORY] = G0("process_resident_memory_bytes",
		"Resident memory size of the worker's main process in bytes."),
	[METRIC_PROCESS_START_TIME] = G0("process_start_time_seconds",
		"Start time of the process since the Unix epoch in seconds."),
};

const struct metric_def *metrics_def(enum metric_id id)
{
	return (int)id >= 0 && id < METRIC_COUNT ? &defs[id] : NULL;
}

static struct metric_series *series_at(const struct metrics *m, int i)
{
	return &m->chunk[i / METRICS_CHUNK][i % METRICS_CHUNK];
}

const struct metric_series *metrics_series(const struct metrics *m, int i)
{
	return series_at(m, i);
}

/* Index of the series (id, l1, l2), or -1. */
static int find(const struct metrics *m, enum metric_id id, const char *l1, const char *l2)
{
	const char *want[METRICS_MAX_LABELS] = { l1, l2 };
	int n = defs[id].n_labels;

	for (int i = 0; i < m->n_series; i++) {
		const struct metric_series *s = series_at(m, i);
		int same = s->id == id;
		for (int k = 0; same && k < n; k++)
			same = !strcmp(s->label[k], want[k]);
		if (same)
			return i;
	}
	return -1;
}

static void dropped(struct metrics *m)
{
	/* Created by metrics_init, so counting a refusal never fails. */
	int i = find(m, METRIC_METRICS_DROPPED, NULL, NULL);
	if (i >= 0)
		series_at(m, i)->value += 1;
}

/* The series for (id, l1, l2), created at zero if needed; NULL if the
 * labels do not fit the metric or a cap is reached. */
static struct metric_series *get(struct metrics *m, enum metric_id id, const char *l1, const char *l2)
{
	const char *want[METRICS_MAX_LABELS] = { l1, l2 };

	if ((int)id < 0 || id >= METRIC_COUNT)
		return NULL;
	for (int k = 0; k < METRICS_MAX_LABELS; k++) {
		if ((k < defs[id].n_labels) != (want[k] != NULL))
			return NULL;
		if (want[k] && strlen(want[k]) >= METRICS_LABEL_MAX)
			return NULL;   /* truncating could merge two series */
	}
	int i = find(m, id, l1, l2);
	if (i >= 0)
		return series_at(m, i);
	if (m->n_series >= METRICS_MAX_SERIES || m->per_metric[id] >= METRICS_MAX_SERIES_PER_METRIC)
		return NULL;
	int c = m->n_series / METRICS_CHUNK;
	if (!m->chunk[c] && !(m->chunk[c] = malloc(METRICS_CHUNK * sizeof *m->chunk[c])))
		return NULL;
	struct metric_series *s = &m->chunk[c][m->n_series++ % METRICS_CHUNK];
	m->per_metric[id]++;
	memset(s, 0, sizeof *s);
	s->id = id;
	for (int k = 0; k < defs[id].n_labels; k++)
		strcpy(s->label[k], want[k]);
	return s;
}

void metrics_init(struct metrics *m)
{
	/* get() zeroes each series as it hands it out. */
	m->n_series = 0;
	memset(m->per_metric, 0, sizeof m->per_metric);
	m->defs = defs;
	/* Label-less counters and histograms have a true zero from the start;
	 * label-less gauges stay absent until the owner knows their value. */
	get(m, METRIC_METRICS_DROPPED, NULL, NULL);
	for (int id = 0; id < METRIC_COUNT; id++)
		if (defs[id].n_labels == 0 && defs[id].type != METRIC_GAUGE)
			get(m, (enum metric_id)id, NULL, NULL);
}

void metrics_free(struct metrics *m)
{
	for (size_t c = 0; c < sizeof m->chunk / sizeof m->chunk[0]; c++) {
		free(m->chunk[c]);
		m->chunk[c] = NULL;
	}
	m->n_series = 0;
}

int metrics_inc(struct metrics *m, enum metric_id id, const char *l1, const char *l2, double by)
{
	const struct metric_def *d = metrics_def(id);
	struct metric_series *s;

	if (!d || d->type == METRIC_HISTOGRAM || !isfinite(by) ||
	    (d->type == METRIC_COUNTER && by < 0) || !(s = get(m, id, l1, l2))) {
		dropped(m);
		return -1;
	}
	s->value += by;
	return 0;
}

int metrics_set(struct metrics *m, enum metric_id id, const char *l1, const char *l2, double value)
{
	const struct metric_def *d = metrics_def(id);
	struct metric_series *s;

	if (!d || d->type != METRIC_GAUGE || !isfinite(value) || !(s = get(m, id, l1, l2))) {
		dropped(m);
		return -1;
	}
	s->value = value;
	return 0;
}

int metrics_set_total(struct metrics *m, enum metric_id id, const char *l1, const char *l2,
		      double total)
{
	const struct metric_def *d = metrics_def(id);
	struct metric_series *s;

	if (!d || d->type != METRIC_COUNTER || !isfinite(total) || !(s = get(m, id, l1, l2)) ||
	    total < s->value) {
		dropped(m);
		return -1;
	}
	s->value = total;
	return 0;
}

int metrics_observe(struct metrics *m, enum metric_id id, const char *l1, const char *l2, double value)
{
	const struct metric_def *d = metrics_def(id);
	struct metric_series *s;

	if (!d || d->type != METRIC_HISTOGRAM || !isfinite(value) || !(s = get(m, id, l1, l2))) {
		dropped(m);
		return -1;
	}
	for (int i = 0; i < d->n_buckets; i++) {
		if (value <= d->buckets[i]) {
			s->bucket[i]++;
			break;
		}
	}
	s->count++;
	s->sum += value;
	return 0;
}

int metrics_touch(struct metrics *m, enum metric_id id, const char *l1, const char *l2)
{
	if (!get(m, id, l1, l2)) {
		dropped(m);
		return -1;
	}
	return 0;
}

const struct metric_series *metrics_find(const struct metrics *m, enum metric_id id,
					 const char *l1, const char *l2)
{
	if ((int)id < 0 || id >= METRIC_COUNT)
		return NULL;
	const char *want[METRICS_MAX_LABELS] = { l1, l2 };
	for (int k = 0; k < defs[id].n_labels; k++)
		if (!want[k])
			return NULL;
	int i = find(m, id, l1, l2);
	return i >= 0 ? metrics_series(m, i) : NULL;
}
