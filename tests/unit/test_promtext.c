/* Tests of the metrics registry and its Prometheus text rendering: a golden
 * file for the whole exposition (tests/unit/golden/metrics.txt; regenerate
 * with TRYON_UPDATE_GOLDEN=1 after an intended change and review the diff),
 * value formatting, label escaping, refusals and the series caps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/metrics.h"
#include "ops/promtext.h"

#define GOLDEN "tests/unit/golden/metrics.txt"

static struct metrics reg;

/* What a worker does over a short run, in the order it would. */
static void fill(struct metrics *m)
{
	const char *task = "app.tasks.virtual_tryon", *flux = "fal-ai/flux-2-lora-gallery/virtual-tryon";
	const char *fashn = "fal-ai/fashn/tryon/v1.6";

	metrics_init(m);
	metrics_set(m, METRIC_PROCESS_START_TIME, NULL, NULL, 1732608000.25);
	metrics_set(m, METRIC_BUILD_INFO, "0.1.0", "0123456789ab", 1);
	metrics_set(m, METRIC_WORKER_SLOTS, NULL, NULL, 4);
	metrics_set(m, METRIC_WORKER_UP, "worker-1", NULL, 1);
	metrics_touch(m, METRIC_TASKS_RECEIVED, task, NULL);
	metrics_touch(m, METRIC_TASK_RUNTIME, "app.tasks.health_check", NULL);
	for (int i = 0; i < 3; i++) {
		metrics_inc(m, METRIC_TASKS_RECEIVED, task, NULL, 1);
		metrics_inc(m, METRIC_TASKS_STARTED, task, NULL, 1);
	}
	metrics_set(m, METRIC_WORKER_TASKS_ACTIVE, "worker-1", NULL, 1);
	metrics_inc(m, METRIC_CACHE_REQUESTS, "hit", NULL, 1);
	metrics_inc(m, METRIC_CACHE_REQUESTS, "miss", NULL, 2);
	metrics_inc(m, METRIC_TASKS_SUCCEEDED, task, NULL, 1);
	metrics_observe(m, METRIC_TASK_RUNTIME, task, NULL, 0.003);
	metrics_inc(m, METRIC_MODEL_REQUESTS, flux, "ok", 1);
	metrics_observe(m, METRIC_MODEL_LATENCY, flux, NULL, 12.5);
	metrics_inc(m, METRIC_MODEL_SPEND, flux, NULL, 0.05);
	metrics_inc(m, METRIC_TASKS_SUCCEEDED, task, NULL, 1);
	metrics_observe(m, METRIC_TASK_RUNTIME, task, NULL, 12.75);
	metrics_inc(m, METRIC_MODEL_REQUESTS, flux, "transient", 1);
	metrics_observe(m, METRIC_MODEL_LATENCY, flux, NULL, 0.5);
	metrics_inc(m, METRIC_MODEL_REQUESTS, fashn, "timeout", 1);
	metrics_observe(m, METRIC_MODEL_LATENCY, fashn, NULL, 60.5);
	metrics_set(m, METRIC_BREAKER_STATE, flux, NULL, METRICS_BREAKER_OPEN);
	metrics_set(m, METRIC_BREAKER_STATE, fashn, NULL, METRICS_BREAKER_CLOSED);
	metrics_inc(m, METRIC_TASKS_FAILED, task, "RuntimeError", 1);
	metrics_inc(m, METRIC_TASKS_RETRIED, task, NULL, 1);
	metrics_inc(m, METRIC_SINGLEFLIGHT_WAITS, NULL, NULL, 1);
	metrics_set_total(m, METRIC_REDIS_WAIT_SHORT, "broker", NULL, 2);
	metrics_inc(m, METRIC_JOB_EXITS, "success", NULL, 2);
	metrics_inc(m, METRIC_JOB_EXITS, "task_exception", NULL, 1);
	metrics_observe(m, METRIC_JOB_PEAK_MEMORY, NULL, NULL, 9.5 * 1048576);
	metrics_observe(m, METRIC_JOB_PEAK_MEMORY, NULL, NULL, 8 * 1048576);
	metrics_observe(m, METRIC_JOB_PEAK_MEMORY, NULL, NULL, 2048.0 * 1048576);
	metrics_set(m, METRIC_WORKER_TASKS_ACTIVE, "worker-1", NULL, 0);
	metrics_set(m, METRIC_QUEUE_LENGTH, "tryon_queue", NULL, 7);
	metrics_set(m, METRIC_DEAD_LETTER_LENGTH, NULL, NULL, 0);
	/* A hostile task name: quote, backslash, newline, invalid UTF-8. */
	metrics_inc(m, METRIC_TASKS_REJECTED, "evil\"\\\n\xff" "name", NULL, 1);
	metrics_inc(m, METRIC_TASKS_REVOKED, "caf\xc3\xa9", NULL, 1);
	metrics_set(m, METRIC_PROCESS_RESIDENT_MEMORY, NULL, NULL, 5500928);
	/* Refused: a counter must not go down. */
	metrics_inc(m, METRIC_TASKS_STARTED, task, NULL, -1);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1))) {
			*len = fread(p, 1, (size_t)n, f);
			p[*len] = '\0';
		}
	}
	fclose(f);
	return p;
}

static void test_golden(void)
{
	struct buf out;
	size_t n = 0;

	buf_init(&out);
	fill(&reg);
	CHECK(promtext_render(&reg, &out) == 0);
	if (getenv("TRYON_UPDATE_GOLDEN")) {
		FILE *f = fopen(GOLDEN, "wb");
		CHECK(f && fwrite(out.data, 1, out.len, f) == out.len);
		if (f)
			fclose(f);
		fprintf(stderr, "wrote %s\n", GOLDEN);
	}
	char *want = read_file(GOLDEN, &n);
	CHECK(want != NULL);
	if (want && (n != out.len || memcmp(want, out.data, n))) {
		size_t i = 0;
		while (i < n && i < out.len && want[i] == out.data[i])
			i++;
		fprintf(stderr, "golden mismatch at byte %zu; got:\n%s\n", i, out.data);
		CHECK(0);
	}
	free(want);
	buf_free(&out);
}

/* Structural checks independent of the golden text: every line is a
 * comment or "name{labels} value", histogram buckets are cumulative and
 * the +Inf bucket equals _count. */
static void test_structure(void)
{
	struct buf out;
	buf_init(&out);
	fill(&reg);
	promtext_render(&reg, &out);
	CHECK(out.len > 0 && out.data[out.len - 1] == '\n');
	double last_bucket = -1, inf_bucket = -1;
	char series[256] = "";
	for (char *line = out.data, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (line[0] == '#') {
			CHECK(!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7));
			continue;
		}
		char *sp = strrchr(line, ' ');
		CHECK(sp != NULL);
		if (!sp)
			continue;
		char *end;
		double v = strtod(sp + 1, &end);
		CHECK(*end == '\0');
		char *le = strstr(line, "le=\"");
		if (strstr(line, "_bucket{") && le) {
			/* A new series starts when the text before le= changes. */
			size_t n = (size_t)(le - line);
			if (n >= sizeof series || strncmp(series, line, n) || series[n]) {
				snprintf(series, sizeof series, "%.*s", (int)n, line);
				last_bucket = -1;
			}
			CHECK(v >= last_bucket);
			last_bucket = v;
			if (!strncmp(le, "le=\"+Inf\"", 9))
				inf_bucket = v;
		} else if (strstr(line, "_count")) {
			CHECK(v == inf_bucket);
		}
	}
	buf_free(&out);
}

static void test_format_value(void)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
		{ 0, "0" }, { 1, "1" }, { 0.1, "0.1" }, { 2.5, "2.5" }, { 1e-7, "1e-07" },
		{ 1732608000.25, "1732608000.25" }, { 0.05 + 0.075, "0.125" },
		{ 0.1 + 0.2, "0.30000000000000004" }, { 8388608, "8388608" }, { -3, "-3" },
	};
	char buf[32];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		promtext_format_value(buf, sizeof buf, cases[i].v);
		if (strcmp(buf, cases[i].want))
			fprintf(stderr, "format %.17g: got %s want %s\n", cases[i].v, buf, cases[i].want);
		CHECK(!strcmp(buf, cases[i].want));
	}
	CHECK(!strcmp(promtext_format_value(buf, sizeof buf, INFINITY), "+Inf"));
	CHECK(!strcmp(promtext_format_value(buf, sizeof buf, -INFINITY), "-Inf"));
	CHECK(!strcmp(promtext_format_value(buf, sizeof buf, NAN), "NaN"));
}

static void test_escape_label(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "plain", "plain" },
		{ "a\"b", "a\\\"b" },
		{ "a\\b", "a\\\\b" },
		{ "a\nb", "a\\nb" },
		{ "tab\tok", "tab\tok" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "\xff", "\xef\xbf\xbd" },
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },          /* overlong '/' */
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* surrogate */
		{ "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* > U+10FFFF */
		{ "x\xe2\x82", "x\xef\xbf\xbd\xef\xbf\xbd" },         /* cut short at the end */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		buf_init(&b);
		CHECK(promtext_escape_label(&b, cases[i].in) == 0);
		if (!b.data || strcmp(b.data, cases[i].want))
			fprintf(stderr, "escape case %zu: got \"%s\"\n", i, b.data ? b.data : "");
		CHECK(b.data && !strcmp(b.data, cases[i].want));
		buf_free(&b);
	}
}

static double dropped_count(const struct metrics *m)
{
	const struct metric_series *s = metrics_find(m, METRIC_METRICS_DROPPED, NULL, NULL);
	return s ? s->value : -1;
}

static void test_refusals(void)
{
	char longname[METRICS_LABEL_MAX + 1];

	metrics_init(&reg);
	CHECK(dropped_count(&reg) == 0);
	CHECK(metrics_inc(&reg, METRIC_TASKS_RECEIVED, NULL, NULL, 1) == -1);     /* missing label */
	CHECK(metrics_inc(&reg, METRIC_TASKS_RECEIVED, "t", "x", 1) == -1);       /* one too many */
	CHECK(metrics_inc(&reg, METRIC_TASKS_FAILED, "t", NULL, 1) == -1);        /* needs two */
	CHECK(metrics_inc(&reg, METRIC_TASKS_RECEIVED, "t", NULL, -1) == -1);     /* counters grow */
	CHECK(metrics_inc(&reg, METRIC_TASKS_RECEIVED, "t", NULL, NAN) == -1);
	CHECK(metrics_set(&reg, METRIC_TASKS_RECEIVED, "t", NULL, 3) == -1);      /* not a gauge */
	CHECK(metrics_observe(&reg, METRIC_WORKER_SLOTS, NULL, NULL, 3) == -1);   /* not a histogram */
	CHECK(metrics_inc(&reg, METRIC_TASK_RUNTIME, "t", NULL, 1) == -1);        /* histograms observe */
	CHECK(metrics_observe(&reg, METRIC_TASK_RUNTIME, "t", NULL, INFINITY) == -1);
	CHECK(metrics_set(&reg, METRIC_WORKER_SLOTS, NULL, NULL, NAN) == -1);
	CHECK(metrics_inc(&reg, METRIC_COUNT, NULL, NULL, 1) == -1);
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CHECK(metrics_inc(&reg, METRIC_TASKS_RECEIVED, longname, NULL, 1) == -1);
	longname[METRICS_LABEL_MAX - 1] = '\0';   /* the longest that fits */
	CHECK(metrics_inc(&reg, METRIC_TASKS_RECEIVED, longname, NULL, 1) == 0);
	CHECK(dropped_count(&reg) == 12);
	CHECK(metrics_find(&reg, METRIC_TASKS_RECEIVED, "t", NULL) == NULL);
	/* Gauges go both ways; counters take fractions (spend). */
	CHECK(metrics_inc(&reg, METRIC_WORKER_TASKS_ACTIVE, "h", NULL, 2) == 0);
	CHECK(metrics_inc(&reg, METRIC_WORKER_TASKS_ACTIVE, "h", NULL, -1) == 0);
	CHECK(metrics_find(&reg, METRIC_WORKER_TASKS_ACTIVE, "h", NULL)->value == 1);
	CHECK(metrics_inc(&reg, METRIC_MODEL_SPEND, "e", NULL, 0.075) == 0);
	CHECK(metrics_find(&reg, METRIC_MODEL_SPEND, "e", NULL)->value == 0.075);
	/* Running totals kept elsewhere: up or equal, never down. */
	double before = dropped_count(&reg);
	CHECK(metrics_set_total(&reg, METRIC_MODEL_REQUESTS, "e", "ok", 5) == 0);
	CHECK(metrics_set_total(&reg, METRIC_MODEL_REQUESTS, "e", "ok", 5) == 0);
	CHECK(metrics_set_total(&reg, METRIC_MODEL_REQUESTS, "e", "ok", 4) == -1);
	CHECK(metrics_set_total(&reg, METRIC_WORKER_SLOTS, NULL, NULL, 4) == -1);   /* a gauge */
	CHECK(metrics_find(&reg, METRIC_MODEL_REQUESTS, "e", "ok")->value == 5);
	CHECK(dropped_count(&reg) == before + 2);
	CHECK(metrics_def(METRIC_COUNT) == NULL);
	CHECK(!strcmp(metrics_def(METRIC_TASKS_SUCCEEDED)->name, "celery_task_succeeded_total"));
}

static void test_every_metric_named_well(void)
{
	for (int id = 0; id < METRIC_COUNT; id++) {
		const struct metric_def *d = metrics_def((enum metric_id)id);
		CHECK(d && d->name && d->help && d->n_labels <= METRICS_MAX_LABELS);
		if (!d || !d->name)
			continue;
		size_t n = strlen(d->name);
		int is_total = n > 6 && !strcmp(d->name + n - 6, "_total");
		/* Counters end in _total, nothing else does. */
		CHECK((d->type == METRIC_COUNTER) == is_total);
		CHECK(d->type != METRIC_HISTOGRAM || (d->n_buckets > 0 && d->n_buckets <= METRICS_MAX_BUCKETS));
		for (int b = 1; b < d->n_buckets; b++)
			CHECK(d->buckets[b] > d->buckets[b - 1]);
		for (int id2 = 0; id2 < id; id2++)
			CHECK(strcmp(d->name, metrics_def((enum metric_id)id2)->name));
	}
}

static void test_histogram_buckets(void)
{
	metrics_init(&reg);
	/* The bound is inclusive (le); above the last bound only +Inf counts. */
	CHECK(metrics_observe(&reg, METRIC_TASK_RUNTIME, "t", NULL, 3) == 0);
	CHECK(metrics_observe(&reg, METRIC_TASK_RUNTIME, "t", NULL, 3.0000001) == 0);
	CHECK(metrics_observe(&reg, METRIC_TASK_RUNTIME, "t", NULL, 1000) == 0);
	CHECK(metrics_observe(&reg, METRIC_TASK_RUNTIME, "t", NULL, -1) == 0);
	const struct metric_series *s = metrics_find(&reg, METRIC_TASK_RUNTIME, "t", NULL);
	const struct metric_def *d = metrics_def(METRIC_TASK_RUNTIME);
	CHECK(s && s->count == 4 && s->sum == 3 + 3.0000001 + 1000 - 1);
	uint64_t in_buckets = 0;
	for (int b = 0; s && b < d->n_buckets; b++) {
		in_buckets += s->bucket[b];
		if (d->buckets[b] == 3)
			CHECK(s->bucket[b] == 1);
		if (d->buckets[b] == 5)
			CHECK(s->bucket[b] == 1);
	}
	CHECK(s && s->bucket[0] == 1 && in_buckets == 3);
}

static void test_series_caps(void)
{
	char name[32];
	int ok = 0;

	metrics_init(&reg);
	/* One metric cannot take more than its share... */
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "junk.%d", i);
		ok += metrics_inc(&reg, METRIC_TASKS_RECEIVED, name, NULL, 1) == 0;
	}
	CHECK(ok == METRICS_MAX_SERIES_PER_METRIC);
	CHECK(dropped_count(&reg) == 100 - METRICS_MAX_SERIES_PER_METRIC);
	/* ...existing series keep counting... */
	CHECK(metrics_inc(&reg, METRIC_TASKS_RECEIVED, "junk.0", NULL, 1) == 0);
	CHECK(metrics_find(&reg, METRIC_TASKS_RECEIVED, "junk.0", NULL)->value == 2);
	/* ...and the registry as a whole is bounded too. */
	ok = 0;
	for (int id = 0; id < METRIC_COUNT; id++) {
		const struct metric_def *d = metrics_def((enum metric_id)id);
		for (int i = 0; i < 40; i++) {
			snprintf(name, sizeof name, "v%d", i);
			const char *l2 = d->n_labels == 2 ? "x" : NULL;
			if (d->n_labels == 0)
				continue;
			ok += metrics_touch(&reg, (enum metric_id)id, name, l2) == 0;
		}
	}
	CHECK(reg.n_series == METRICS_MAX_SERIES);
	struct buf out;
	buf_init(&out);
	CHECK(promtext_render(&reg, &out) == 0);
	/* The refusals are visible in the exposition itself. */
	CHECK(strstr(out.data, "\ntryon_metrics_dropped_total ") != NULL);
	CHECK(strstr(out.data, "\ntryon_metrics_dropped_total 0\n") == NULL);
	buf_free(&out);
}

/* An idle worker's registry holds a chunk's worth of series, not room for
 * all of them (issue 15: the whole registry was written through at start). */
static void test_registry_grows_by_chunks(void)
{
	struct metrics m = { 0 };
	char name[32];

	metrics_init(&m);
	CHECK(m.n_series > 0 && m.n_series <= METRICS_CHUNK);
	CHECK(m.chunk[0] != NULL && m.chunk[1] == NULL);
	for (int i = 0; m.n_series <= METRICS_CHUNK; i++) {
		snprintf(name, sizeof name, "t%d", i);
		CHECK(metrics_inc(&m, METRIC_TASKS_RECEIVED, name, NULL, i) == 0);
	}
	CHECK(m.chunk[1] != NULL && m.chunk[2] == NULL);
	/* Series keep their values across chunk boundaries and re-inits. */
	CHECK(metrics_find(&m, METRIC_TASKS_RECEIVED, "t3", NULL)->value == 3);
	metrics_init(&m);
	CHECK(metrics_find(&m, METRIC_TASKS_RECEIVED, "t3", NULL) == NULL);
	CHECK(metrics_inc(&m, METRIC_TASKS_RECEIVED, "t3", NULL, 1) == 0);
	CHECK(metrics_find(&m, METRIC_TASKS_RECEIVED, "t3", NULL)->value == 1);
	metrics_free(&m);
	CHECK(m.chunk[0] == NULL && m.n_series == 0);
}

int main(void)
{
	RUN(test_golden);
	RUN(test_structure);
	RUN(test_format_value);
	RUN(test_escape_label);
	RUN(test_refusals);
	RUN(test_every_metric_named_well);
	RUN(test_histogram_buckets);
	RUN(test_series_caps);
	RUN(test_registry_grows_by_chunks);
	metrics_free(&reg);
	return harness_report();
}
