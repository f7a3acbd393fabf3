/* ops: what operators read over HTTP, and whether the worker is ready. */
#include "worker/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "celery/kombu.h"
#include "lib/clock.h"
#include "lib/isotime.h"
#include "lib/json.h"
#include "lib/log.h"
#include "ops/page.h"
#include "redis/redis_failover.h"
#include "ops/promtext.h"
#include "version.h"
#include "worker/fetch.h"
#include "worker/jobs.h"

/* One model call reported by a try-on child (tryon_state's observer). */
void ops_on_model_call(void *arg, enum tryon_model mdl, enum tryon_outcome o, double latency, double cost)
{
	struct worker *w = arg;
	const char *ep = w->tryon.model[mdl].endpoint;
	metrics_inc(w->metrics, METRIC_MODEL_REQUESTS, ep, tryon_outcome_name(o), 1);
	if (latency > 0)
		metrics_observe(w->metrics, METRIC_MODEL_LATENCY, ep, NULL, latency);
	if (cost > 0)
		metrics_inc(w->metrics, METRIC_MODEL_SPEND, ep, NULL, cost);
}

/* Try-on totals kept by tryon_state, copied into the registry at scrape. */
static void tryon_metrics(struct worker *w)
{
	for (int c = TRYON_CACHE_HIT; c < TRYON_N_CACHE; c++)
		metrics_set_total(w->metrics, METRIC_CACHE_REQUESTS, tryon_cache_name(c), NULL,
				  (double)tryon_state_cache(&w->tryon, c));
	metrics_set_total(w->metrics, METRIC_SINGLEFLIGHT_WAITS, NULL, NULL, (double)w->tryon.singleflight_waits);
	metrics_set_total(w->metrics, METRIC_MODEL_RESUMED, NULL, NULL, (double)w->tryon.resumed);
	for (int l = 0; l < TRYON_N_LIMITS; l++) {
		if (w->tryon.limit_waits[l])
			metrics_set_total(w->metrics, METRIC_MODEL_LIMIT_EVENTS, tryon_limit_name(l), "waited",
					  (double)w->tryon.limit_waits[l]);
		if (w->tryon.limit_refusals[l])
			metrics_set_total(w->metrics, METRIC_MODEL_LIMIT_EVENTS, tryon_limit_name(l), "refused",
					  (double)w->tryon.limit_refusals[l]);
	}
	metrics_set(w->metrics, METRIC_MODEL_LIMIT, "concurrency", NULL, w->cfg->model_concurrency);
	metrics_set(w->metrics, METRIC_MODEL_LIMIT, "rate", NULL, w->cfg->model_rate);
	metrics_set(w->metrics, METRIC_MODEL_LIMIT, "daily_budget", NULL, w->cfg->daily_budget);
	if (w->cluster_sampled) {
		metrics_set(w->metrics, METRIC_MODEL_IN_PROGRESS, NULL, NULL, w->cluster_in_progress);
		metrics_set(w->metrics, METRIC_MODEL_SPEND_TODAY, NULL, NULL, w->cluster_spend_today);
	}
	for (int m = 0; m < TRYON_N_MODELS; m++) {
		enum breaker_state b = tryon_state_breaker(&w->tryon, m);
		double v = b == BREAKER_OPEN ? METRICS_BREAKER_OPEN :
			   b == BREAKER_HALF_OPEN ? METRICS_BREAKER_HALF_OPEN : METRICS_BREAKER_CLOSED;
		metrics_set(w->metrics, METRIC_BREAKER_STATE, w->tryon.model[m].endpoint, NULL, v);
	}
}

/* -- readiness ----------------------------------------------------------- */

static const char *const readiness_names[] = {
	[OPS_READY] = "ready",
	[OPS_STARTING] = "starting",
	[OPS_DRAINING] = "draining",
	[OPS_BROKER_DISCONNECTED] = "broker_disconnected",
	[OPS_BROKER_UNSTABLE] = "broker_unstable",
	[OPS_CONSUME_BACKOFF] = "consume_backoff",
	[OPS_STALLED] = "stalled",
};

const char *ops_readiness_name(enum ops_readiness r)
{
	return (unsigned)r < sizeof readiness_names / sizeof readiness_names[0] ? readiness_names[r] : "unknown";
}

/* Messages waiting at the last sample (maint.c samples the queues we
 * consume now every 5 s): one given up by cancel_consumer is not ours to
 * take, one added by add_consumer is. */
static long queued_messages(const struct worker *w)
{
	long n = 0;
	for (int k = 0; k < w->n_queues; k++)
		n += worker_queue_depth(w, k);
	return n;
}

/* How long readiness waits after the broker is back: longer with each
 * drop in a row, so a connection that fails every few seconds stays not
 * ready between its failures instead of passing a probe by chance. */
static double settle_seconds(int losses)
{
	double s = READY_SETTLE_MIN;
	for (int i = 1; i < losses && s < READY_SETTLE_MAX; i++)
		s *= 2;
	return s < READY_SETTLE_MAX ? s : READY_SETTLE_MAX;
}

enum ops_readiness ops_readiness(const struct worker *w, double now, char *detail, size_t len)
{
	const struct readiness *r = &w->readiness;
	char scratch[8];
	enum ops_readiness v = OPS_READY;

	if (!detail)
		detail = scratch, len = sizeof scratch;
	snprintf(detail, len, "ready");
	if (!w->consuming) {
		v = OPS_STARTING;
		snprintf(detail, len, "starting");
	} else if (w->draining) {
		v = OPS_DRAINING;
		snprintf(detail, len, "draining");
	} else if (!redis_conn_is_ready(w->consume) || !redis_conn_is_ready(w->cmd)) {
		v = OPS_BROKER_DISCONNECTED;
		snprintf(detail, len, "broker disconnected");
	} else if (r->losses > 0 && now - r->down_at < settle_seconds(r->losses)) {
		v = OPS_BROKER_UNSTABLE;
		snprintf(detail, len, "broker unstable: %d connection drop%s in a row, settling for %.0f s",
			 r->losses, r->losses == 1 ? "" : "s", settle_seconds(r->losses));
	} else if (w->fetch_backoff.failures >= 2) {
		v = OPS_CONSUME_BACKOFF;
		snprintf(detail, len, "consume backoff: %d failed fetches in a row", w->fetch_backoff.failures);
	} else if (now - r->progress_at > READY_STALL_SECONDS) {
		v = OPS_STALLED;
		snprintf(detail, len, "stalled: %ld messages waiting, %d free slots, none taken for %.0f s",
			 queued_messages(w), fetch_free_slots(w), now - r->progress_at);
	}
	return v;
}

void ops_readiness_tick(struct worker *w, double now)
{
	struct readiness *r = &w->readiness;
	int up = redis_conn_is_ready(w->consume) && redis_conn_is_ready(w->cmd);

	if (!up) {
		if (r->was_up) {
			r->losses = now - r->lost_at < READY_LOSS_WINDOW ? r->losses + 1 : 1;
			r->lost_at = now;
		}
		r->down_at = now;
	}
	r->was_up = up;

	/* A take shows as more messages in hand, or a task started or ended
	 * (a message can arrive and end between two rounds). Having nothing
	 * to take is no stall either: the clock only runs while messages
	 * wait and a slot is free, and keeps running across broker drops (a
	 * connection that keeps failing before anything is taken is stalled
	 * too). */
	long in_hand = w->busy + w->n_ready + w->n_eta + w->n_pending + w->n_unrecorded + w->n_lookups;
	int taken = in_hand > r->in_hand || w->started_count != r->started || w->processed != r->processed;
	int want = w->consuming && !w->draining && queued_messages(w) > 0 && fetch_free_slots(w) > 0;
	if (taken || !want || r->progress_at == 0)
		r->progress_at = now;
	r->in_hand = in_hand;
	r->started = w->started_count;
	r->processed = w->processed;

	char detail[160];
	enum ops_readiness v = ops_readiness(w, now, detail, sizeof detail);
	if (v == OPS_STARTING || v == OPS_DRAINING)
		return;   /* logged as worker.starting/ready and worker.draining */
	if (v != OPS_READY && r->logged == OPS_READY) {
		char q[200];
		log_warn("worker.not_ready", "reason=%s detail=%s", ops_readiness_name(v), log_quote(q, sizeof q, detail));
		r->logged = v;
	} else if (v == OPS_READY && r->logged != OPS_READY) {
		log_info("worker.ready_again", "was=%s", ops_readiness_name((enum ops_readiness)r->logged));
		r->logged = OPS_READY;
	}
}

/* -- routes ---------------------------------------------------------------- */

/* GET /health: the detail a person wants when something is wrong. */
static void health_json(struct worker *w, struct buf *b)
{
	double now = clock_mono();
	struct redis_conn *conns[3] = { w->consume, w->cmd, w->results };
	const char *names[3] = { "broker_consume", "broker", "results" };
	char detail[160];
	enum ops_readiness v = ops_readiness(w, now, detail, sizeof detail);

	buf_append_str(b, "{\"node\": ");
	json_write_cstr(b, w->cfg->hostname);
	buf_printf(b, ", \"version\": \"%s\", \"ready\": %s, \"not_ready_reason\": ", version_string,
		   v == OPS_READY ? "true" : "false");
	if (v == OPS_READY) {
		buf_append_str(b, "null, \"not_ready_detail\": null");
	} else {
		buf_printf(b, "\"%s\", \"not_ready_detail\": ", ops_readiness_name(v));
		json_write_cstr(b, detail);
	}
	buf_printf(b, ", \"draining\": %s, \"uptime\": %.1f", w->draining ? "true" : "false",
		   clock_wall() - w->started_wall);
	if (w->consuming)
		buf_printf(b, ", \"seconds_since_progress\": %.1f", now - w->readiness.progress_at);
	if (w->httpd) {
		const struct httpd_stats *hs = httpd_stats(w->httpd);
		buf_printf(b, ", \"http\": {\"requests\": %llu, \"bad_requests\": %llu, \"timeouts\": %llu, "
			   "\"evicted\": %llu}", (unsigned long long)hs->requests,
			   (unsigned long long)hs->bad_requests, (unsigned long long)hs->timeouts,
			   (unsigned long long)hs->evicted);
	}
	buf_printf(b, ", \"slots\": {\"total\": %d, \"busy\": %d, \"waiting\": %d, \"eta_held\": %d, \"jobs\": [",
		   w->concurrency, w->busy, w->n_ready, w->n_eta);
	int first = 1;
	for (int i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (s->state == SLOT_FREE || !s->msg)
			continue;
		buf_append_str(b, first ? "{" : ", {");
		first = 0;
		buf_append_str(b, "\"task\": ");
		json_write_cstr(b, s->msg->env.task);
		buf_append_str(b, ", \"id\": ");
		json_write_cstr(b, s->msg->env.task_id);
		buf_printf(b, ", \"state\": \"%s\", \"pid\": %d, \"seconds\": %.3f}",
			   s->state == SLOT_RUNNING ? "running" : "finishing", (int)s->pid, now - s->started);
	}
	buf_append_str(b, "]}, \"connections\": {");
	first = 1;
	for (int i = 0; i < 3; i++) {
		if (!conns[i])
			continue;
		const char *le = redis_conn_last_error(conns[i]);
		buf_printf(b, "%s\"%s\": {\"state\": \"%s\", \"url\": ", first ? "" : ", ", names[i],
			   redis_conn_state_name(conns[i]));
		json_write_cstr(b, redis_conn_url(conns[i]));
		buf_append_str(b, ", \"last_error\": ");
		json_write_cstr(b, le ? le : "");
		char sj[4096];
		size_t sn = redis_failover_json(conns[i], sj, sizeof sj);
		buf_printf(b, ", \"sentinel\": %s, \"wait_short\": %lu}", sn < sizeof sj ? sj : "null",
			   redis_conn_wait_short(conns[i]));
		first = 0;
	}
	buf_append_str(b, "}, \"queues\": {");
	for (int k = 0; k < w->n_queues; k++) {
		if (k)
			buf_append_str(b, ", ");
		json_write_cstr(b, w->queues[k]);
		buf_printf(b, ": %ld", worker_queue_depth(w, k));
	}
	buf_append_str(b, "}, \"models\": {");
	for (int m = 0; m < TRYON_N_MODELS; m++) {
		enum breaker_state bs = tryon_state_breaker(&w->tryon, m);
		if (m)
			buf_append_str(b, ", ");
		json_write_cstr(b, w->tryon.model[m].endpoint);
		double weight, p90 = latency_quantile(&w->tryon.model[m].latency, 0.9, clock_mono(), &weight);
		buf_printf(b, ": {\"breaker\": \"%s\", \"latency_p90\": %.3f, \"latency_weight\": %.1f, "
			   "\"paid_calls\": %lu, \"spend_usd\": %.3f}",
			   bs == BREAKER_OPEN ? "open" : bs == BREAKER_HALF_OPEN ? "half_open" : "closed",
			   p90, weight, w->tryon.model[m].paid_calls, w->tryon.model[m].spend);
	}
	buf_printf(b, "}, \"fallback\": \"%s\", \"limits\": {\"concurrency\": %d, \"rate\": %g, "
		   "\"daily_budget_usd\": %g, ", w->cfg->fallback_latency ? "latency" : "cost",
		   w->cfg->model_concurrency, w->cfg->model_rate, w->cfg->daily_budget);
	if (w->cluster_sampled) {
		/* Reached: not even the cheaper model fits in what is left. */
		double cheaper = w->cfg->price_primary < w->cfg->price_backup ? w->cfg->price_primary
									       : w->cfg->price_backup;
		int reached = w->cfg->daily_budget > 0 &&
			      w->cluster_spend_today + cheaper > w->cfg->daily_budget + 1e-9;
		buf_printf(b, "\"in_progress_cluster\": %g, \"spend_today_usd\": %.4f, \"budget_reached\": %s, ",
			   w->cluster_in_progress, w->cluster_spend_today, reached ? "true" : "false");
	}
	buf_printf(b, "\"resumed\": %lu, \"waits\": {", w->tryon.resumed);
	for (int l = 0; l < TRYON_N_LIMITS; l++)
		buf_printf(b, "%s\"%s\": %lu", l ? ", " : "", tryon_limit_name(l), w->tryon.limit_waits[l]);
	buf_append_str(b, "}, \"refusals\": {");
	for (int l = 0; l < TRYON_N_LIMITS; l++)
		buf_printf(b, "%s\"%s\": %lu", l ? ", " : "", tryon_limit_name(l), w->tryon.limit_refusals[l]);
	buf_append_str(b, "}");
	buf_printf(b, "}, \"dead_letters\": %ld, \"cache\": %s, \"processed\": %ld, \"last_error\": ",
		   w->lens[LENS_DEAD], w->cfg->cache_url ? "\"configured\"" : "\"off\"", w->processed);
	json_write_cstr(b, w->last_error);
	buf_append_str(b, "}\n");
}

/* GET / and GET /tryons.json: the operator page (ops/page.h) from a
 * snapshot of the worker, no secret in it (no URL of ours, no key). */
static void operator_page(struct worker *w, int json, struct httpd_response *r)
{
	const struct page_tryon *rows[PAGE_ROWS];
	struct page_queue queues[CONFIG_MAX_QUEUES];
	struct page_endpoint eps[TRYON_N_MODELS];
	int n = 0;

	while (n < PAGE_ROWS && (rows[n] = recent_row(&w->recent, n)))
		n++;
	r->status = 200;
	if (json) {
		r->content_type = "application/json";
		page_render_json(rows, n, &r->body);
		return;
	}
	for (int k = 0; k < w->n_queues; k++) {
		queues[k].name = w->queues[k];
		queues[k].depth = worker_queue_depth(w, k);
	}
	for (int m = 0; m < TRYON_N_MODELS; m++) {
		enum breaker_state bs = tryon_state_breaker(&w->tryon, m);
		eps[m] = (struct page_endpoint){ .role = tryon_model_name(m), .endpoint = w->tryon.model[m].endpoint,
						 .breaker = bs == BREAKER_OPEN ? "open" :
							    bs == BREAKER_HALF_OPEN ? "half_open" : "closed",
						 .spend = w->tryon.model[m].spend,
						 .paid_calls = w->tryon.model[m].paid_calls };
	}
	unsigned long lookups = 0;
	for (int c = TRYON_CACHE_HIT; c < TRYON_N_CACHE; c++)
		lookups += tryon_state_cache(&w->tryon, c);
	struct page_view v = {
		.node = w->cfg->hostname, .version = version_string,
		.readiness = ops_readiness_name(ops_readiness(w, clock_mono(), NULL, 0)),
		.now = clock_wall(), .uptime = clock_wall() - w->started_wall,
		.busy = w->busy, .slots = w->concurrency > 0 ? w->concurrency : w->n_slots,
		.queues = queues, .n_queues = w->n_queues, .endpoints = eps, .n_endpoints = TRYON_N_MODELS,
		.cluster_sampled = w->cluster_sampled, .spend_today = w->cluster_spend_today,
		.cache_hits = tryon_state_cache(&w->tryon, TRYON_CACHE_HIT), .cache_lookups = lookups,
		.refresh = 10, .rows = rows, .n_rows = n,
	};
	r->content_type = PAGE_CONTENT_TYPE;
	r->csp = PAGE_CSP;
	page_render_html(&v, &r->body);
}

/* The HTTP routes. Runs on the loop: quick, no blocking calls. */
void ops_http_handler(void *arg, const char *path, struct httpd_response *r)
{
	struct worker *w = arg;
	int consuming = w->consuming && redis_conn_is_ready(w->consume) && redis_conn_is_ready(w->cmd);

	if (!strcmp(path, "/healthz")) {
		r->status = 200;   /* answering at all proves the loop turns: liveness only */
		buf_append_str(&r->body, "ok\n");
	} else if (!strcmp(path, "/readyz")) {
		char detail[160];
		enum ops_readiness v = ops_readiness(w, clock_mono(), detail, sizeof detail);
		r->status = v == OPS_READY ? 200 : 503;
		buf_printf(&r->body, v == OPS_READY ? "%s\n" : "not ready: %s\n", detail);
	} else if (!strcmp(path, "/metrics")) {
		long pages = 0, rss = 0;
		FILE *f = fopen("/proc/self/statm", "r");
		if (f) {
			if (fscanf(f, "%ld %ld", &pages, &rss) == 2)
				metrics_set(w->metrics, METRIC_PROCESS_RESIDENT_MEMORY, NULL, NULL,
					    (double)rss * (double)sysconf(_SC_PAGESIZE));
			fclose(f);
		}
		/* celery-exporter labels workers by the host part of the node name. */
		const char *at = strchr(w->cfg->hostname, '@');
		const char *host = at ? at + 1 : w->cfg->hostname;
		metrics_set(w->metrics, METRIC_WORKER_UP, host, NULL, consuming);
		metrics_set(w->metrics, METRIC_WORKER_TASKS_ACTIVE, host, NULL, w->busy);
		if (w->cfg->broker_wait_replicas > 0) {
			metrics_set_total(w->metrics, METRIC_REDIS_WAIT_SHORT, "broker_consume", NULL,
					  (double)redis_conn_wait_short(w->consume));
			metrics_set_total(w->metrics, METRIC_REDIS_WAIT_SHORT, "broker", NULL,
					  (double)redis_conn_wait_short(w->cmd));
		}
		tryon_metrics(w);
		r->status = 200;
		r->content_type = PROMTEXT_CONTENT_TYPE;
		promtext_render(w->metrics, &r->body);
	} else if (!strcmp(path, "/")) {
		operator_page(w, 0, r);
	} else if (!strcmp(path, "/tryons.json")) {
		operator_page(w, 1, r);
	} else if (!strcmp(path, "/health")) {
		r->status = 200;
		r->content_type = "application/json";
		health_json(w, &r->body);
	}
}
