/* loop: the worker parent's one poll() loop. It owns the connections, the
 * timers and the order of work in each round (drain, finish, dispatch,
 * fetch, maintenance), reaps children and routes every ready descriptor to
 * the module that owns it. Nothing here decides what happens to a message:
 * that is dispatch (before it runs), jobs (after a child), outcome and
 * finish (how it ends). */
#include "worker/worker.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "celery/celery_ctl.h"
#include "celery/kombu.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/ratelimit.h"
#include "redis/redis_failover.h"
#include "redis/scripts.h"
#include "version.h"
#include "worker/control.h"
#include "worker/dispatch.h"
#include "worker/events.h"
#include "worker/fetch.h"
#include "worker/finish.h"
#include "worker/jobs.h"
#include "worker/maint.h"
#include "worker/ops.h"
#include "lib/proc.h"
#include "worker/state.h"
#include "worker/tasks.h"

/* Stop taking work; held messages not started go back to the front. */
static void start_drain(struct worker *w, double now)
{
	w->draining = 1;
	w->drain_deadline = now + w->cfg->shutdown_grace;
	log_info("worker.draining", "running=%d grace=%g", w->busy, w->cfg->shutdown_grace);
	sdnotify_stopping(&w->sd);
	sdnotify_status(&w->sd, "draining: %d running, %g s grace", w->busy, w->cfg->shutdown_grace);
	dispatch_requeue_held(w);
}

static void on_cmd_ready(struct redis_conn *c, void *arg)
{
	(void)arg;
	scripts_load(c);
}

/* The sentinel watch: one connection to a sentinel, subscribed to
 * +switch-master; a switch of our master makes every broker connection ask
 * the sentinels again at once. */
static void sentinel_watch_ready(struct redis_conn *c, void *arg)
{
	const char *argv[] = { "SUBSCRIBE", REDIS_FAILOVER_CHANNEL };

	(void)arg;
	redis_conn_command(c, NULL, NULL, 0, 2, argv, NULL);
}

static void sentinel_watch_message(struct redis_conn *c, struct resp_value *msg, void *arg)
{
	struct worker *w = arg;
	double now = clock_mono();
	int n = 0;

	(void)c;
	n += redis_failover_switch(w->consume, msg, now);
	n += redis_failover_switch(w->cmd, msg, now);
	n += redis_failover_switch(w->pubsub, msg, now);
	n += redis_failover_switch(w->results, msg, now);
	if (n)
		log_info("broker.switch_master", "connections=%d note=\"a sentinel announced a new master\"", n);
}

static void reap_children(struct worker *w, double now)
{
	int status;
	struct rusage ru;
	pid_t pid;

	while ((pid = proc_reap_one(&status, &ru)) > 0) {
		if (pid == w->maint_pid)
			maint_exited(w, status, now);
		else
			jobs_exited(w, pid, status, &ru);
	}
}

static double min_d(double a, double b)
{
	return a < b ? a : b;
}

/* Same server and credentials (the URLs may name different databases). */
static int same_redis_server(const struct redis_url *a, const struct redis_url *b)
{
	return a->transport == b->transport && a->port == b->port &&
	       !strcmp(a->host ? a->host : "", b->host ? b->host : "") &&
	       !strcmp(a->path ? a->path : "", b->path ? b->path : "") &&
	       !strcmp(a->user ? a->user : "", b->user ? b->user : "") &&
	       !strcmp(a->password ? a->password : "", b->password ? b->password : "");
}

int worker_run(const struct config *cfg, const struct trust_store *ts)
{
	struct worker w;
	char err[512], red[512];
	int rc = 1;

	memset(&w, 0, sizeof w);
	ratelimit_init(&w.finish_log, 10, 3);
	w.cfg = cfg;
	w.ts = ts;
	w.tls_sessions = http_tls_cache_new();   /* NULL: every job makes a full handshake */
	w.started_wall = clock_wall();
	tryon_state_init(&w.tryon, cfg);
	w.tryon.on_call = ops_on_model_call;
	w.tryon.on_call_arg = &w;
	buf_init(&w.inflight_key);
	buf_init(&w.held_key);
	buf_init(&w.alive_key);
	kombu_node_key(&w.alive_key, "alive", cfg->hostname);
	kombu_node_key(&w.inflight_key, "inflight", cfg->hostname);
	kombu_node_key(&w.held_key, "held", cfg->hostname);
	{
		char host[256] = "localhost";
		gethostname(host, sizeof host - 1);
		snprintf(w.hostname_origin, sizeof w.hostname_origin, "gen%d@%s", (int)getpid(), host);
	}
	if (redis_url_parse(cfg->broker_url, &w.broker_url, err, sizeof err) < 0) {
		log_plain(LOG_LEVEL_ERROR, "tryon-worker: invalid configuration: CELERY_BROKER_URL: %s", err);
		return 100;
	}
	if (redis_url_parse(cfg->result_url, &w.result_url, err, sizeof err) < 0) {
		log_plain(LOG_LEVEL_ERROR, "tryon-worker: invalid configuration: CELERY_RESULT_BACKEND: %s", err);
		redis_url_free(&w.broker_url);
		return 100;
	}
	if (cfg->http_addr[0]) {
		struct sockaddr_storage ss;
		socklen_t sslen;
		if (httpd_parse_addr(cfg->http_addr, &ss, &sslen, err, sizeof err) < 0) {
			log_plain(LOG_LEVEL_ERROR, "tryon-worker: invalid configuration: TRYON_HTTP_ADDR: %s", err);
			redis_url_free(&w.broker_url);
			redis_url_free(&w.result_url);
			return 100;
		}
	}
	w.same_server = same_redis_server(&w.broker_url, &w.result_url);

	w.sig_fd = proc_signals_init();
	if (w.sig_fd < 0) {
		log_error("worker.start_failed", "reason=\"signals: %s\"", strerror(errno));
		goto out;
	}
	w.n_slots = w.concurrency = cfg->concurrency;
	w.slots_cap = cfg->concurrency > MAX_SLOTS ? cfg->concurrency : MAX_SLOTS;
	w.slots = calloc((size_t)w.slots_cap, sizeof *w.slots);   /* untouched pages cost nothing */
	if (!w.slots)
		goto out;
	for (int i = 0; i < w.n_slots; i++)
		w.slots[i].fd = -1;
	for (int q = 0; q < cfg->n_queues; q++)
		if (!(w.queues[w.n_queues++] = strdup(cfg->queues[q])))
			goto out;

	/* The consume conn sends each reply's follow-up at once: with FETCHes
	 * of half the slots each (fetch.h), the two halves' round trips then
	 * overlap instead of going out together. */
	struct redis_conn_opts co = { .url = &w.broker_url, .trust = ts, .name = "broker-consume",
				      .connect_timeout = 5, .io_timeout = 5, .health_interval = 30,
				      .on_ready = fetch_on_consume_ready, .arg = &w,
				      .send_per_reply = worker_fetch_halves(&w) };
	w.consume = redis_conn_new(&co, err, sizeof err);
	co.send_per_reply = 0;
	co.name = "broker";
	co.on_ready = on_cmd_ready;
	w.cmd = w.consume ? redis_conn_new(&co, err, sizeof err) : NULL;
	if (!w.same_server && w.cmd) {
		co.url = &w.result_url;
		co.name = "results";
		w.results = redis_conn_new(&co, err, sizeof err);
	}
	co.url = &w.broker_url;
	co.name = "broker-pubsub";
	co.on_ready = control_on_pubsub_ready;
	co.on_push = control_on_message;
	w.pubsub = w.cmd ? redis_conn_new(&co, err, sizeof err) : NULL;
	if (w.broker_url.n_sentinels > 0) {
		/* Follow a failover the moment the sentinels announce it, not
		 * when the old master's links drop (it may stay up, taking
		 * writes the new master will never see). */
		struct redis_conn_opts wo = { .url = &w.broker_url, .trust = ts, .name = "sentinel-watch",
					      .connect_timeout = 5, .io_timeout = 5, .health_interval = 30,
					      .sentinel_watch = 1, .on_ready = sentinel_watch_ready,
					      .on_push = sentinel_watch_message, .arg = &w };
		w.watch = redis_conn_new(&wo, err, sizeof err);
	}
	if (cfg->cache_url && redis_url_parse(cfg->cache_url, &w.cache_url, err, sizeof err) == 0) {
		struct redis_conn_opts cc = { .url = &w.cache_url, .trust = ts, .name = "cache",
					      .connect_timeout = cfg->cache_timeout, .io_timeout = cfg->cache_timeout,
					      .health_interval = 30 };
		w.cache = redis_conn_new(&cc, err, sizeof err);
		w.cache_on_broker = w.cache && same_redis_server(&w.broker_url, &w.cache_url) &&
				    w.broker_url.n_sentinels == 0 && w.cache_url.n_sentinels == 0;
	}
	w.task_events = cfg->task_events;
	if (recent_init(&w.recent) < 0)
		log_warn("worker.no_memory", "what=recent_tryons note=\"the operator page shows no try-ons\"");
	w.revoked = calloc(MAX_REVOKED, sizeof *w.revoked);
	w.revoked_at = calloc(MAX_REVOKED, sizeof *w.revoked_at);
	{
		size_t n = 0;
		for (const char *const *t = tasks_registered(cfg); *t; t++)
			n++;
		w.task_totals = calloc(n + 1, sizeof *w.task_totals);
	}
	if (!w.consume || !w.cmd || !w.pubsub || (!w.same_server && !w.results)) {
		log_error("worker.start_failed", "reason=\"%s\"", err);
		goto out;
	}
	if (!(w.metrics = calloc(1, sizeof *w.metrics))) {
		log_error("worker.start_failed", "reason=\"out of memory\"");
		goto out;
	}

	metrics_init(w.metrics);
	metrics_set(w.metrics, METRIC_PROCESS_START_TIME, NULL, NULL, w.started_wall);
	metrics_set(w.metrics, METRIC_WORKER_SLOTS, NULL, NULL, w.n_slots);
	metrics_set(w.metrics, METRIC_BUILD_INFO, version_string, version_commit, 1);
	if (cfg->http_addr[0]) {
		w.httpd = httpd_open(cfg->http_addr, err, sizeof err);
		if (!w.httpd) {
			log_error("worker.start_failed", "reason=\"TRYON_HTTP_ADDR: %s\"", err);
			goto out;
		}
		/* The endpoint has no authentication: say so where it is opened. */
		if (!httpd_is_loopback(w.httpd))
			log_warn("http.exposed", "addr=%s reason=\"the operations endpoint is unauthenticated and "
				 "reachable beyond this host: /metrics and /health show the Redis host, port and "
				 "db, task ids, model endpoints and spend; bind 127.0.0.1 or put an authenticating "
				 "reverse proxy or a firewall in front (docs/OPERATIONS.md)\"", cfg->http_addr);
	}
	if (sdnotify_init(&w.sd, clock_mono(), err, sizeof err) < 0)
		log_warn("systemd.notify_disabled", "reason=\"%s\"", err);

	redis_url_redact(&w.broker_url, red, sizeof red);
	log_info("worker.starting", "node=%s version=%s broker=%s concurrency=%d queues=%d pid=%d",
		 cfg->hostname, version_string, red, cfg->concurrency, cfg->n_queues, (int)getpid());
	if (!cfg->cache_url)
		log_warn("cache.disabled", "reason=\"REDIS_CACHE_URL is not set: every try-on calls the model API\"");
	maint_recover_own(&w);

	double now = clock_mono();
	redis_conn_start(w.consume, now);
	redis_conn_start(w.cmd, now);
	if (w.results)
		redis_conn_start(w.results, now);
	redis_conn_start(w.pubsub, now);
	redis_conn_start(w.watch, now);
	if (w.cache)
		redis_conn_start(w.cache, now);

	int announced = 0;
	struct pollfd *pfds = calloc((size_t)(7 + w.slots_cap + HTTPD_MAX_POLLFDS), sizeof *pfds);
	if (!pfds)
		goto out;
	/* Info lines of one round go out in one write, just before poll
	 * blocks (log_hold): at full speed that is one write per batch of
	 * messages instead of two per message. */
	log_hold(1);
	for (;;) {
		now = clock_mono();
		/* Work that needs no I/O first. */
		if (redis_conn_is_ready(w.consume) && !w.recovered_once)
			fetch_recover_inflight(&w);
		if (!announced && w.recovered_once && redis_conn_is_ready(w.cmd)) {
			announced = 1;
			log_info("worker.ready", "node=%s queues=%s slots=%d", cfg->hostname, cfg->queues[0], w.n_slots);
			w.consuming = 1;
			sdnotify_ready(&w.sd);
			sdnotify_status(&w.sd, "consuming %s with %d slots", cfg->queues[0], w.n_slots);
			events_worker(&w, "worker-online");
			w.next_event_heartbeat = now + CELERY_EVENTS_HEARTBEAT_FREQ;
		}
		if (w.consuming && now >= w.next_event_heartbeat) {
			events_worker(&w, "worker-heartbeat");
			w.next_event_heartbeat = now + CELERY_EVENTS_HEARTBEAT_FREQ;
		}
		/* Reap finished work first: the capacity it frees is what the
		 * fetch below may use, or the loop would sleep until a timer. */
		if (w.drain_requested && !w.draining)
			start_drain(&w, now);
		finish_advance(&w);
		dispatch_run_ready(&w);
		fetch_messages(&w);
		maint_tick(&w, now);

		if (w.draining) {
			int running = jobs_running(&w);
			if (!running && !w.n_pending && !w.fetching && !w.n_unrecorded && !w.n_lookups)
				break;
			if (now > w.drain_deadline)
				jobs_kill_all(&w, "shutdown_grace");
			if (now > w.drain_deadline + 10) {
				log_error("worker.drain_timeout", "held=%d reason=\"Redis unreachable; messages stay recorded and are recovered at the next start\"",
					  running + w.n_pending);
				break;
			}
		}

		/* Poll. */
		int n = 0;
		pfds[n++] = (struct pollfd){ .fd = w.sig_fd, .events = POLLIN };
		struct redis_conn *conns[6] = { w.consume, w.cmd, w.results, w.pubsub, w.cache, w.watch };
		int conn_idx[6] = { -1, -1, -1, -1, -1, -1 };
		for (int i = 0; i < 6; i++)
			if (conns[i] && redis_conn_pollfd(conns[i], &pfds[n]))
				conn_idx[i] = n++;
		int slot_idx0 = n;
		jobs_pollfds(&w, &pfds[n]);
		n += w.n_slots;
		int http_idx0 = n, n_http = w.httpd ? httpd_pollfds(w.httpd, &pfds[n], HTTPD_MAX_POLLFDS) : 0;
		n += n_http;
		double deadline = now + 1.0;
		if (w.httpd)
			deadline = min_d(deadline, httpd_next_deadline(w.httpd));
		deadline = min_d(deadline, sdnotify_next_deadline(&w.sd));
		if (!backoff_ready(&w.fetch_backoff, now))
			deadline = min_d(deadline, w.fetch_backoff.until);
		for (int i = 0; i < 6; i++)
			if (conns[i])
				deadline = min_d(deadline, redis_conn_next_deadline(conns[i]));
		deadline = jobs_next_deadline(&w, deadline);
		if (w.rate_wake > 0)
			deadline = min_d(deadline, w.rate_wake);
		if (w.eta) {
			double until = w.eta->env.eta - clock_wall();
			deadline = min_d(deadline, now + (until > 0 ? until : 0));
		}
		if (w.draining)
			deadline = min_d(deadline, w.drain_deadline);
		deadline = min_d(deadline, maint_next_deadline(&w, now));
		if (w.consuming)
			deadline = min_d(deadline, w.next_event_heartbeat);
		int timeout = deadline <= now ? 0 : (int)ceil((deadline - now) * 1000);
		log_flush();
		if (poll(pfds, (nfds_t)n, timeout) < 0 && errno != EINTR) {
			log_error("worker.poll_failed", "reason=\"%s\"", strerror(errno));
			break;
		}
		now = clock_mono();

		if (pfds[0].revents) {
			int n_term = 0;
			unsigned bits = proc_signals_drain(&n_term);
			if (bits & PROC_SIG_CHLD)
				reap_children(&w, now);
			if (n_term > w.n_term) {
				w.n_term = n_term;
				if (!w.draining) {
					start_drain(&w, now);
				} else {
					log_warn("worker.fast_shutdown", "reason=\"second signal\"");
					w.drain_deadline = now;
					jobs_kill_all(&w, "second_signal");
				}
			}
		}
		for (int i = 0; i < 6; i++)
			if (conns[i])
				redis_conn_process(conns[i], conn_idx[i] >= 0 ? pfds[conn_idx[i]].revents : 0, now);
		for (int i = 0; i < 6; i++)
			if (conns[i])
				redis_conn_tick(conns[i], now);
		if (w.httpd)
			httpd_process(w.httpd, &pfds[http_idx0], n_http, now, ops_http_handler, &w);
		sdnotify_tick(&w.sd, now);
		jobs_process(&w, &pfds[slot_idx0], now);
		ops_readiness_tick(&w, now);
	}
	free(pfds);
	log_hold(0);
	/* worker-offline always: monitors then drop us at once. */
	events_worker(&w, "worker-offline");
	for (double until = clock_mono() + 1.0; redis_conn_is_ready(w.cmd) && clock_mono() < until;) {
		struct pollfd p;
		if (!redis_conn_pollfd(w.cmd, &p) || !(p.events & POLLOUT))
			break;   /* nothing left to write */
		poll(&p, 1, 100);
		redis_conn_process(w.cmd, p.revents, clock_mono());
	}
	log_info("worker.stopped", "node=%s processed=%ld", cfg->hostname, w.processed);
	rc = 0;
out:
	log_hold(0);
	httpd_close(w.httpd);
	sdnotify_close(&w.sd);
	redis_conn_free(w.consume);
	redis_conn_free(w.cmd);
	redis_conn_free(w.results);
	redis_conn_free(w.pubsub);
	redis_conn_free(w.cache);
	redis_conn_free(w.watch);
	redis_url_free(&w.cache_url);
	for (int i = 0; w.revoked && i < MAX_REVOKED; i++)
		free(w.revoked[i]);
	free(w.revoked);
	free(w.revoked_at);
	free(w.task_totals);
	if (w.metrics)
		metrics_free(w.metrics);
	free(w.metrics);
	recent_free(&w.recent);
	for (int q = 0; q < w.n_queues; q++)
		free(w.queues[q]);
	for (int i = 0; i < w.n_limits; i++)
		free(w.limits[i].name);
	free(w.limits);
	finish_release_all(&w);
	for (int i = 0; w.slots && i < w.n_slots; i++) {
		if (w.slots[i].state == SLOT_RUNNING) {
			msg_free(w.slots[i].msg);
			buf_free(&w.slots[i].record);
		}
	}
	free(w.slots);
	for (struct msg *m = w.ready, *nx; m; m = nx)
		nx = m->next, msg_free(m);
	for (struct msg *m = w.eta, *nx; m; m = nx)
		nx = m->next, msg_free(m);
	msgs_free(w.parked_view);
	http_tls_cache_free(w.tls_sessions);
	buf_free(&w.inflight_key);
	buf_free(&w.held_key);
	buf_free(&w.alive_key);
	free(w.keep);
	redis_url_free(&w.broker_url);
	redis_url_free(&w.result_url);
	return rc;
}
