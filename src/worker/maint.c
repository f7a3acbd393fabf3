/* maint: keeping delivery honest over time. */
#include "worker/maint.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "celery/exitclass.h"
#include "celery/kombu.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "redis/redis_sync.h"
#include "redis/scripts.h"
#include "tryon/ledger.h"
#include "lib/proc.h"
#include "worker/recovery.h"

/* At start, before we hold anything: requeue what a previous run of this
 * node held when it died (counted as a delivery) and its in-flight list. */
int maint_recover_own(struct worker *w)
{
	char err[256];
	struct redis_conn_opts o = { .url = &w->broker_url, .trust = w->ts, .name = "recovery",
				     .connect_timeout = 5, .io_timeout = 5 };
	struct redis_conn *c = redis_conn_new(&o, err, sizeof err);
	struct recovery_stats st = { .verbose = 1 };
	struct resp_limits lim;

	recovery_limits(w->cfg, &lim);
	if (c)
		redis_conn_set_limits(c, &lim);
	if (!c || redis_sync_connect(c, 5, err, sizeof err) < 0) {
		log_warn("broker.recovery_skipped", "reason=\"%s\"", err);
		redis_conn_free(c);
		return -1;
	}
	recovery_node(c, w->cfg, w->broker_url.db, w->cfg->hostname, 1, 1, INFINITY, NULL, 0, &st);
	if (st.held || st.inflight || st.parked || st.dead)
		log_info("broker.recovered_own", "held=%d inflight=%d parked=%d dead=%d", st.held, st.inflight,
			 st.parked, st.dead);
	redis_conn_free(c);
	return 0;
}

/* -- maintenance: liveness, dead nodes, visibility ---------------------- */

/* The maintenance child's exit codes (maint_exited classifies them). */
#define MAINT_EXIT_NO_BROKER 1   /* could not connect: nothing done */
#define MAINT_EXIT_PARTIAL 2     /* done, but a step failed or met a reply of the wrong shape */
/* Longest a maintenance child may run before it is killed (each Redis
 * call is bounded, but not their number). */
#define MAINT_HARD_LIMIT 120.0
/* After a partial run was logged, the same complaint waits this long. */
#define MAINT_QUIET 600.0

/* Runs in a short-lived child so that the parent's loop never blocks on
 * these multi-step, synchronous Redis conversations. */
static int maintenance_main(void *arg, int record_fd)
{
	struct worker *w = arg;
	char err[256];
	struct redis_conn_opts o = { .url = &w->broker_url, .trust = w->ts, .name = "maintenance",
				     .connect_timeout = 5, .io_timeout = 5 };
	struct redis_conn *c = redis_conn_new(&o, err, sizeof err);
	struct recovery_stats st = { .verbose = w->maint_verbose };
	struct resp_limits lim;

	(void)record_fd;
	recovery_limits(w->cfg, &lim);
	if (c)
		redis_conn_set_limits(c, &lim);
	if (!c || redis_sync_connect(c, 5, err, sizeof err) < 0)
		return MAINT_EXIT_NO_BROKER;
	int rc = recovery_dead_nodes(c, w->cfg, w->broker_url.db, w->cfg->hostname, &st);
	if (w->maint_reconcile)
		/* Recorded by us but unknown to us (a RECORD reply lost with the
		 * connection): they never ran, so they go back uncounted. Tags
		 * recorded after the fork are newer than the cutoff. */
		rc |= recovery_node(c, w->cfg, w->broker_url.db, w->cfg->hostname, 0, 0,
				    w->maint_forked_at - 2.0, w->keep, w->n_keep, &st);
	if (w->maint_restore)
		rc |= recovery_restore_visible(c, w->cfg, w->broker_url.db, clock_wall(), &st);
	redis_conn_free(c);
	return rc ? MAINT_EXIT_PARTIAL : 0;
}

static void collect_held_tags(struct worker *w)
{
	int n = 0, cap = w->n_slots + w->n_ready + w->n_eta + w->n_pending;
	free(w->keep);
	w->keep = calloc((size_t)cap + 1, sizeof *w->keep);
	w->n_keep = 0;
	if (!w->keep)
		return;
	for (int i = 0; i < w->n_slots; i++)
		if (w->slots[i].state != SLOT_FREE && w->slots[i].msg && n < cap)
			w->keep[n++] = w->slots[i].msg->env.delivery_tag;
	/* Lookups in flight and batches being recorded are not listed: their
	 * tags are newer than the reconcile cutoff or not in the held set. */
	for (struct msg *m = w->ready; m && n < cap; m = m->next)
		w->keep[n++] = m->env.delivery_tag;
	for (struct msg *m = w->eta; m && n < cap; m = m->next)
		w->keep[n++] = m->env.delivery_tag;
	for (struct finish *f = w->pending; f && n < cap; f = f->next)
		if (f->msg && f->msg->env.delivery_tag && f->msg->recorded)
			w->keep[n++] = f->msg->env.delivery_tag;
	w->n_keep = n;
}

static void on_renew_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	(void)c, (void)r, (void)err, (void)arg;
}

static void on_len_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct len_ref *ref = arg;
	struct worker *w = ref->w;
	(void)c, (void)err;
	if (!r || r->type != RESP_INTEGER)
		return;
	if (ref->idx == LENS_DEAD) {
		w->lens[LENS_DEAD] = (long)r->integer;
		metrics_set(w->metrics, METRIC_DEAD_LETTER_LENGTH, NULL, NULL, (double)r->integer);
		return;
	}
	/* add/cancel_consumer since the sample was sent: the index may name
	 * another queue now; the next sample (5 s) describes the new set. */
	if (ref->gen != w->queues_gen)
		return;
	w->lens[ref->idx] = (long)r->integer;
	int k = ref->idx / 4;
	if (ref->idx % 4 == 3) {
		/* The last of the queue's four replies: its depth is whole. */
		w->lens_gen = w->queues_gen;
		metrics_set(w->metrics, METRIC_QUEUE_LENGTH, w->queues[k], NULL,
			    (double)worker_queue_depth(w, k));
	}
}

/* Lengths of the queues consumed now (TRYON_QUEUES and add_consumer's)
 * and of the dead-letter list for the metrics, one pipelined round. */
static void sample_lengths(struct worker *w)
{
	for (int k = 0; k < w->n_queues; k++) {
		for (int step = 0; step < 4; step++) {
			struct buf list;
			buf_init(&list);
			kombu_priority_list(&list, w->queues[k], step * 3);
			const char *argv[] = { "LLEN", list.data };
			size_t lens[] = { 4, list.len };
			w->len_refs[4 * k + step] = (struct len_ref){ w, 4 * k + step, w->queues_gen };
			redis_conn_command(w->cmd, on_len_reply, &w->len_refs[4 * k + step], 0, 2, argv, lens);
			buf_free(&list);
		}
	}
	w->len_refs[LENS_DEAD] = (struct len_ref){ w, LENS_DEAD, w->queues_gen };
	const char *argv[] = { "LLEN", TRYON_DEAD_LIST };
	redis_conn_command(w->cmd, on_len_reply, &w->len_refs[LENS_DEAD], 0, 2, argv, NULL);
}

static void on_cluster_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct worker *w = arg;
	(void)c, (void)err;
	if (!r || r->type != RESP_ARRAY || r->n_elems != 2)
		return;
	struct resp_value *n = r->elems[0], *spend = r->elems[1];
	w->cluster_in_progress = n->type == RESP_INTEGER ? (double)n->integer : 0;
	w->cluster_spend_today = spend->type == RESP_BULK ? strtod(spend->str, NULL) / 1e6 : 0;
	w->cluster_sampled = 1;
}

/* The cluster-wide model state every node shares in the cache Redis:
 * requests holding a lease, and today's spend. One script, one round. */
static void sample_cluster(struct worker *w)
{
	static const char lua[] =
		"return {redis.call('ZCOUNT', KEYS[1], ARGV[1], '+inf'), redis.call('GET', KEYS[2])}";
	char now[32], spend_key[LEDGER_KEY_SIZE];
	if (!w->cache || !redis_conn_is_ready(w->cache))
		return;
	snprintf(now, sizeof now, "%.0f", clock_wall() * 1000);
	ledger_spend_key(spend_key, clock_wall());
	const char *argv[] = { "EVAL", lua, "2", LEDGER_LEASES_KEY, spend_key, now };
	redis_conn_command(w->cache, on_cluster_reply, w, 0, 6, argv, NULL);
}

static void on_parked_reply(struct redis_conn *c, struct resp_value *r, const char *err, void *arg)
{
	struct worker *w = arg;
	(void)c, (void)err;
	if (!r || r->type != RESP_ARRAY)
		return;   /* a wrong-typed key or a lost reply: keep the last view */
	struct msg *head = NULL, **tail = &head;
	for (size_t i = 0; i + 1 < r->n_elems; i += 2) {
		struct msg *m = msg_from_unacked(r->elems[i], r->elems[i + 1], (size_t)w->cfg->max_message_bytes);
		if (m)
			*tail = m, tail = &m->next;
	}
	msgs_free(w->parked_view);
	w->parked_view = head;
}

/* The earliest parked messages with their unacked values, for `inspect
 * scheduled` (only while something is parked: usually nothing is). Read
 * only; a value over the message size limit is left out, not read. */
static void sample_parked(struct worker *w)
{
	static const char lua[] =
		"if redis.call('TYPE', KEYS[1])['ok'] ~= 'zset' or redis.call('TYPE', KEYS[2])['ok'] ~= 'hash' then\n"
		"  return {}\n"
		"end\n"
		"local out, max = {}, tonumber(ARGV[2])\n"
		"for _, tag in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do\n"
		"  if redis.call('HSTRLEN', KEYS[2], tag) <= max then\n"
		"    local v = redis.call('HGET', KEYS[2], tag)\n"
		"    if v then out[#out + 1] = tag; out[#out + 1] = v end\n"
		"  end\n"
		"end\n"
		"return out\n";
	char n[16], max[32];
	struct buf key;

	if (w->n_parked == 0) {
		msgs_free(w->parked_view);
		w->parked_view = NULL;
		return;
	}
	buf_init(&key);
	kombu_node_key(&key, "parked", w->cfg->hostname);
	snprintf(n, sizeof n, "%d", PARKED_VIEW_MAX);
	snprintf(max, sizeof max, "%lld", (long long)w->cfg->max_message_bytes + 4096);
	const char *argv[] = { "EVAL", lua, "2", key.data, KOMBU_UNACKED, n, max };
	if (key.data)
		redis_conn_command(w->cmd, on_parked_reply, w, 0, 7, argv, NULL);
	buf_free(&key);
}

/* Heartbeat, score renewal and the maintenance child, on their timers. */
void maint_tick(struct worker *w, double now)
{
	if (!redis_conn_is_ready(w->cmd))
		return;
	if (now >= w->next_heartbeat) {
		const char *argv[] = { "SET", w->alive_key.data, w->hostname_origin, "PX", "15000" };
		redis_conn_command(w->cmd, NULL, NULL, 0, 5, argv, NULL);
		const char *sadd[] = { "SADD", TRYON_NODES_SET, w->cfg->hostname };
		redis_conn_command(w->cmd, NULL, NULL, 0, 3, sadd, NULL);
		sample_lengths(w);
		sample_cluster(w);
		sample_parked(w);
		w->next_heartbeat = now + 5;
	}
	if (now >= w->next_renew) {
		/* Fresh unacked_index scores: kombu's restore_visible (ours or a
		 * Python worker's) must never take a message we still hold. */
		collect_held_tags(w);
		if (w->n_keep || w->n_parked) {   /* parked ones are renewed too */
			char ts[32];
			snprintf(ts, sizeof ts, "%.6f", clock_wall());
			const char **args = calloc((size_t)w->n_keep + 1, sizeof *args);
			if (args) {
				args[0] = ts;
				for (int i = 0; i < w->n_keep; i++)
					args[1 + i] = w->keep[i];
				struct buf parked;
				buf_init(&parked);
				kombu_node_key(&parked, "parked", w->cfg->hostname);
				const char *keys[] = { KOMBU_UNACKED_INDEX, KOMBU_UNACKED, parked.data };
				if (parked.data)
					scripts_call(w->cmd, SCRIPT_RENEW, 3, keys, NULL, 1 + w->n_keep, args, NULL,
						     on_renew_reply, w);
				buf_free(&parked);
				free(args);
			}
		}
		double every = w->cfg->visibility_timeout / 4.0;
		w->next_renew = now + (every < 60 ? every : 60);
	}
	/* A sentinel named a new master (redis_conn.h): the held set there
	 * may differ from what we know (asynchronous replication), so
	 * reconcile now, as after a lost reply; the consume connection's
	 * reconnect has already recovered the in-flight list. */
	if (redis_conn_take_master_change(w->cmd) | redis_conn_take_master_change(w->consume)) {
		log_info("broker.failover", "master=%s changes=%lu note=\"reconciling held messages\"",
			 redis_conn_track(w->cmd)->master, redis_conn_track(w->cmd)->changes);
		w->reconcile_wanted = 1;
	}
	/* A reply lost or a message let go: reconcile now, not in up to 5 s
	 * (unless the runs are failing: their backoff stands). */
	if (w->reconcile_wanted && !w->maint_failures && w->next_maintenance > now)
		w->next_maintenance = now;
	if (w->maint_pid && !w->maint_killed && clock_wall() - w->maint_forked_at > MAINT_HARD_LIMIT) {
		proc_kill(w->maint_pid, SIGKILL);
		w->maint_killed = 1;
	}
	if (now >= w->next_maintenance && !w->maint_pid && !w->draining) {
		char err[256];
		int fd = -1;
		struct proc_limits lim = { 256, 0, 64 };
		w->maint_restore = now >= w->next_restore;
		/* Reconcile on every run with nothing being recorded: a RECORD
		 * in flight may have put tags in the held set that we do not
		 * know yet. A FETCH in flight is harmless (its messages are only
		 * in the in-flight list). */
		w->maint_reconcile = !w->n_unrecorded && !w->unparking;
		if (w->maint_reconcile)
			w->reconcile_wanted = 0;
		w->maint_forked_at = clock_wall();
		w->maint_verbose = now >= w->maint_quiet_until;
		collect_held_tags(w);
		w->maint_pid = proc_spawn(&lim, maintenance_main, w, &fd, err, sizeof err);
		if (fd >= 0)
			close(fd);
		if (w->maint_pid < 0) {
			w->maint_pid = 0;
			log_warn("maintenance.spawn_failed", "reason=\"%s\"", err);
		}
		if (w->maint_restore)
			w->next_restore = now + 60;
		w->next_maintenance = now + (w->reconcile_wanted ? 1 : 5);
	}
}

double maint_next_deadline(const struct worker *w, double now)
{
	/* A timer maint_tick will not act on must not count: a past one
	 * makes poll return at once, and the loop spun a core for as long as
	 * the broker was away (found when Redis was stopped under a worker). */
	if (!redis_conn_is_ready(w->cmd))
		return HUGE_VAL;
	double d = w->next_heartbeat < w->next_renew ? w->next_heartbeat : w->next_renew;
	if (w->maint_pid) {
		/* Its exit wakes the loop (SIGCHLD); only the hard limit is a time. */
		double left = MAINT_HARD_LIMIT - (clock_wall() - w->maint_forked_at);
		if (!w->maint_killed && now + (left > 0 ? left : 0) < d)
			d = now + (left > 0 ? left : 0);
	} else if (!w->draining) {
		double m = w->reconcile_wanted && !w->maint_failures ? now : w->next_maintenance;
		if (m < d)
			d = m;
	}
	return d;
}

void maint_exited(struct worker *w, int status, double now)
{
	int killed = w->maint_killed;
	const char *cls;

	w->maint_pid = 0;
	w->maint_killed = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !killed) {
		w->maint_failures = 0;
		w->maint_quiet_until = 0;
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == MAINT_EXIT_PARTIAL && !killed) {
		/* It did its work; something in Redis was off (the child logged
		 * what, at warn if this run was verbose). Not a reason to slow
		 * the next runs down; said again after MAINT_QUIET at most. */
		w->maint_failures = 0;
		if (w->maint_verbose) {
			log_warn("maintenance.partial", "class=partial exit=%d note=\"see recovery.bad_reply; "
				 "repeats are logged at debug for %.0f s\"", MAINT_EXIT_PARTIAL, MAINT_QUIET);
			w->maint_quiet_until = now + MAINT_QUIET;
		}
		worker_note_error(w, "maintenance", "a maintenance step failed or met a reply of the wrong shape");
		return;
	}
	/* A maintenance run that fails must not stop dead-node recovery and
	 * the visibility restore silently: classify and log it, try again
	 * with backoff (10 s doubling to 60 s). */
	if (killed) {
		cls = "timeout";
	} else if (WIFEXITED(status)) {
		cls = WEXITSTATUS(status) == MAINT_EXIT_NO_BROKER ? "no_broker" : "failed";
	} else {
		struct exit_facts f = { .wait_status = status, .record = EXIT_RECORD_NONE };
		struct exit_verdict v;
		exit_classify(&f, &v);
		cls = v.label;   /* crashed (SIGSEGV, SIGABRT, ...) or killed */
	}
	w->maint_failures++;
	double backoff = 5.0 * (1 << (w->maint_failures < 4 ? w->maint_failures : 4));
	w->next_maintenance = now + (backoff < 60 ? backoff : 60);
	if (WIFSIGNALED(status))
		log_error("maintenance.failed", "class=%s signal=%d failures=%d retry_in=%.0f", cls, WTERMSIG(status),
			  w->maint_failures, w->next_maintenance - now);
	else
		log_error("maintenance.failed", "class=%s exit=%d failures=%d retry_in=%.0f", cls,
			  WIFEXITED(status) ? WEXITSTATUS(status) : -1, w->maint_failures, w->next_maintenance - now);
	worker_note_error(w, "maintenance", cls);
}
