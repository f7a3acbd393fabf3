/* tryon: the try-on job, run in a job child: decode the two URLs, look in
 * the cache, take the task's single-flight lock (or wait for whoever holds
 * it, woken by its result), resume the key's recorded paid requests or
 * submit new ones within the cluster-wide limits, drive primary and backup
 * by the fallback plan (tryon/plan.h) within the soft deadline, cache the
 * result and write the one record with an "extra" object for the parent
 * (tryon_state_absorb). Paid requests outlive the job: one that is still
 * running when the job ends is cancelled only when the task is finally over
 * (no retry follows); otherwise the next attempt resumes it. It owns the
 * cache connections and the fal client of this child only; it never logs a
 * URL argument, the key, or the cache password. */
#include "tryon/tryon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "celery/record.h"
#include "lib/clock.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "redis/redis_conn.h"
#include "redis/redis_sync.h"
#include "redis/redis_url.h"
#include "tryon/cachekey.h"
#include "tryon/fal.h"
#include "tryon/ledger.h"
#include "tryon/plan.h"
#include "tryon/tryon_args.h"
#include "tryon/tryon_keys.h"

#define TRYON_PROMPT "A person wearing the garment, virtual try-on"
#define SUBMIT_CAP_MS 5000L       /* longest single submit */
#define POLL_CAP_MS 5000L         /* longest single status/result request */
#define CANCEL_MS 1000L           /* each cancel; they may run after the soft limit */
#define SF_FALLBACK 0.5           /* waiters look again at least this often, s */
#define MIN_REQUEST 0.02          /* less time than this left: do not start a request */
#define LEASE_SECONDS 15.0        /* a concurrency lease not renewed for this long expires */

struct model_run {
	enum tryon_model which;
	double price;
	enum breaker_decision gate;
	struct fal_call call;
	int tried;                 /* a submit was sent, or a recorded request resumed */
	int settled;               /* outcome is final */
	enum tryon_outcome outcome;
	int cancelled;             /* we sent PUT cancel_url */
	int as_hedge;              /* backup submitted while the primary was still running or queued */
	int gave_up_running;       /* the plan gave it up while the model computed (hung, or too late) */
	int want;                  /* a submit is wanted, waiting for the limits */
	int leased;                /* holds a concurrency lease */
	int charged;               /* its price is counted in today's spend */
	char lease_id[96];
};

struct job {
	const struct tryon_ctx *ctx;
	const struct config *cfg;
	double t0, deadline, hard;
	struct plan_params plan;
	char *person, *garment;
	size_t plen, glen;
	char key[CACHEKEY_KEY_SIZE], lock_key[CACHEKEY_LOCK_SIZE];
	char req_key[LEDGER_KEY_SIZE], wake[LEDGER_KEY_SIZE], owner[160];
	struct redis_url url;
	int have_url;
	struct redis_conn *cache;  /* NULL: no cache, or it failed this job */
	struct ledger ledger;
	enum tryon_cache_result cache_res;
	char cache_err[160];
	const char *sf;            /* single-flight: off, none, holder, waited */
	int lock_held;
	struct fal_client fal;
	int fal_ready;
	struct model_run m[TRYON_N_MODELS];
	const char *path;          /* cache, primary, backup, hedge, none, invalid */
	int gave_up;
	const char *phase;         /* where the job is: arguments, cache, wait, model (tracebacks) */
	int resumed;               /* recorded requests taken over */
	int terminated;            /* SIGTERM (revoke with terminate) ended it */
	const char *limit_hit;     /* "budget", "concurrency", "rate", "pause": why a submit waited or failed */
	double limit_wait;         /* seconds spent waiting for the limits */
	char fail_msg[400];        /* a limit's failure message */
	int limit_refused;         /* ... and the job failed with it */
	int fail_permanent;
};

/* Timeout for one request: at most cap and never past the deadline. */
static long request_ms(const struct job *j, long cap)
{
	double left = (j->deadline - clock_mono()) * 1000;
	if (left > (double)cap)
		return cap;
	return left < 1 ? 1 : (long)left;
}

/* Sleep until t (monotonic) or a signal (the soft-limit alarm). */
static void sleep_until(double t)
{
	double d = t - clock_mono();
	if (d <= 0)
		return;
	struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
	nanosleep(&ts, NULL);
}

static int retry_follows(const struct job *j)
{
	const struct celery_envelope *env = j->ctx->env;
	return !env || env->retries < j->cfg->max_retries;
}

/* -- plan ---------------------------------------------------------------- */

/* Deadlines from the soft limit (or, without one, just short of the hard
 * limit); the fallback plan's inputs from the config and the hints. */
static void plan_init(struct job *j)
{
	const struct celery_envelope *env = j->ctx->env;
	double soft_left = proc_soft_limit_remaining();

	j->hard = env && env->has_time_limit_hard ? env->time_limit_hard : j->cfg->time_limit;
	if (soft_left < 1e8) {
		j->deadline = j->t0 + soft_left;
	} else {
		double margin = j->hard * 0.1 < 1 ? j->hard * 0.1 : 1;
		j->deadline = j->t0 + j->hard - margin;
	}
	j->plan = (struct plan_params){
		.mode = j->cfg->fallback_latency ? PLAN_LATENCY : PLAN_COST,
		.deadline = j->deadline - j->t0,
		.primary_prior = j->cfg->primary_latency,
		.backup_prior = j->cfg->backup_latency,
		.hedge_after = j->cfg->hedge_after,
		.primary = j->ctx->hints.latency[TRYON_PRIMARY],
		.backup = j->ctx->hints.latency[TRYON_BACKUP],
	};
}

/* -- cache ----------------------------------------------------------------- */

static void cache_fail(struct job *j, const char *what, const char *err)
{
	if (j->cache_res != TRYON_CACHE_HIT)
		j->cache_res = TRYON_CACHE_ERROR;
	snprintf(j->cache_err, sizeof j->cache_err, "%s: %s", what, err && *err ? err : "error");
	for (char *p = j->cache_err; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f || *p == '"')
			*p = '?';
	redis_conn_free(j->cache);
	j->cache = NULL;
	j->ledger.c = NULL;
	/* The lock, if we held it, expires by itself (PX) or the parent
	 * releases it when this job ends. */
	j->lock_held = 0;
}

/* A ledger call failed: the cache is gone for this job. */
static void ledger_failed(struct job *j)
{
	if (j->cache)
		cache_fail(j, "ledger", j->ledger.err);
}

static struct redis_conn *cache_connect(struct job *j, const char *name, char *err, size_t errlen)
{
	struct redis_conn_opts o = {
		.url = &j->url, .trust = j->ctx->trust, .name = name,
		.connect_timeout = j->cfg->cache_timeout, .io_timeout = j->cfg->cache_timeout,
		.health_interval = -1,
	};
	struct redis_conn *c = redis_conn_new(&o, err, errlen);
	if (c && redis_sync_connect(c, j->cfg->cache_timeout, err, errlen) < 0) {
		redis_conn_free(c);
		c = NULL;
	}
	return c;
}

static int cache_open(struct job *j)
{
	char err[256];

	j->cache_res = TRYON_CACHE_OFF;
	if (!j->cfg->cache_url)
		return -1;
	if (redis_url_parse(j->cfg->cache_url, &j->url, err, sizeof err) < 0) {
		cache_fail(j, "url", err);
		return -1;
	}
	j->have_url = 1;
	j->cache = cache_connect(j, "cache", err, sizeof err);
	if (!j->cache) {
		cache_fail(j, "connect", err);
		return -1;
	}
	j->ledger = (struct ledger){ .c = j->cache, .timeout = j->cfg->cache_timeout };
	j->cache_res = TRYON_CACHE_MISS;
	return 0;
}

/* GET the result key: 1 hit (*url owned by the caller), 0 miss, -1 the
 * cache failed (and is closed). Garbage counts as a miss. */
static int cache_get(struct job *j, char **url)
{
	char err[256], why[128];

	*url = NULL;
	if (!j->cache)
		return -1;
	struct resp_value *r = redis_sync_callv(j->cache, j->cfg->cache_timeout, err, sizeof err,
						"GET", j->key, NULL);
	if (!r) {
		cache_fail(j, "GET", err);
		return -1;
	}
	int rc = 0;
	if (r->type == RESP_BULK && cachekey_validate_result(r->str, r->len, why, sizeof why) == 0) {
		*url = r->str;
		r->str = NULL;
		rc = 1;
	} else if (r->type == RESP_ERROR) {
		resp_value_free(r);
		cache_fail(j, "GET", "error reply");
		return -1;
	} else if (r->type != RESP_NIL) {
		j->cache_res = TRYON_CACHE_GARBAGE;
	}
	resp_value_free(r);
	return rc;
}

static void cache_store(struct job *j, const char *url)
{
	char err[256], ttl[32];

	if (!j->cache)
		return;
	snprintf(ttl, sizeof ttl, "%d", j->cfg->cache_ttl);
	struct resp_value *r = redis_sync_callv(j->cache, j->cfg->cache_timeout, err, sizeof err,
						"SET", j->key, url, "EX", ttl, NULL);
	if (!r || r->type != RESP_SIMPLE) {
		cache_fail(j, "SET", r ? "error reply" : err);
	} else {
		/* The requests of this key are over: waiters take the result. */
		resp_value_free(redis_sync_callv(j->cache, j->cfg->cache_timeout, err, sizeof err,
						 "DEL", j->req_key, NULL));
		ledger_wake(&j->ledger, j->wake);
	}
	resp_value_free(r);
}

/* -- single-flight ---------------------------------------------------------- */

/* 1 the lock is ours (fresh, or our own task's from an earlier attempt),
 * 0 another task holds it, -1 the cache failed. */
static int lock_take(struct job *j)
{
	const char *task_id = j->ctx->env ? j->ctx->env->task_id : NULL;
	int rc = ledger_lock_take(&j->ledger, j->lock_key, j->owner, task_id, j->hard);
	if (rc < 0)
		ledger_failed(j);
	j->lock_held = rc == 1;
	return rc;
}

static void lock_release(struct job *j)
{
	if (!j->lock_held || !j->cache)
		return;
	j->lock_held = 0;
	if (ledger_lock_release(&j->ledger, j->lock_key, j->wake, j->owner) < 0)
		ledger_failed(j);
}

/* Wait while another task holds the lock for this key, woken by its
 * result or its release (pub/sub), looking again at least every
 * SF_FALLBACK. Returns 1 with *url when the result appeared, 0 when the
 * lock is ours now or the cache went away (go on alone), -1 at the soft
 * limit. */
static int singleflight_wait(struct job *j, char **url)
{
	char err[256];
	struct redis_conn *sub = cache_connect(j, "cache-wake", err, sizeof err);
	int rc = -1;

	j->sf = "waited";
	log_info("tryon.singleflight_wait", "key=%s", j->key);
	if (sub) {
		struct resp_value *r = redis_sync_callv(sub, j->cfg->cache_timeout, err, sizeof err,
							"SUBSCRIBE", j->wake, NULL);
		if (!r || r->type == RESP_ERROR) {
			redis_conn_free(sub);
			sub = NULL;
		}
		resp_value_free(r);
	}
	for (;;) {
		int got = cache_get(j, url);
		if (got != 0) {
			rc = got > 0 ? 1 : 0;
			break;
		}
		int take = lock_take(j);
		if (take != 0) {
			rc = 0;   /* ours now, or no cache: go on */
			break;
		}
		double now = clock_mono();
		if (proc_soft_limit_expired() || proc_terminate_requested() || now >= j->deadline)
			break;
		double until = now + SF_FALLBACK < j->deadline ? now + SF_FALLBACK : j->deadline;
		if (sub) {
			struct resp_value *m = redis_sync_wait_push(sub, until - now, err, sizeof err);
			if (m) {
				resp_value_free(m);
			} else if (strcmp(err, "timeout")) {
				redis_conn_free(sub);   /* fall back to looking */
				sub = NULL;
			}
		} else {
			sleep_until(until);
		}
		if (proc_soft_limit_expired())
			break;
	}
	redis_conn_free(sub);
	return rc;
}

/* -- the record ------------------------------------------------------------ */

static void write_extra(const struct job *j, struct buf *x)
{
	buf_append_str(x, "{\"path\": ");
	json_write_cstr(x, j->path ? j->path : "none");
	if (j->path && strcmp(j->path, "invalid")) {
		buf_append_str(x, ", \"cache\": ");
		json_write_cstr(x, tryon_cache_name(j->cache_res));
		if (j->cache_res == TRYON_CACHE_ERROR) {
			buf_append_str(x, ", \"cache_error\": ");
			json_write_cstr(x, j->cache_err);
		}
		buf_append_str(x, ", \"cache_key\": ");
		json_write_cstr(x, j->key);
		buf_append_str(x, ", \"singleflight\": ");
		json_write_cstr(x, j->sf ? j->sf : "off");
	}
	int hedged = j->m[TRYON_BACKUP].as_hedge;
	buf_printf(x, ", \"hedged\": %s, \"gave_up\": %s, \"resumed\": %d", hedged ? "true" : "false",
		   j->gave_up ? "true" : "false", j->resumed);
	if (j->limit_hit) {
		buf_append_str(x, ", \"limit\": ");
		json_write_cstr(x, j->limit_hit);
		buf_printf(x, ", \"limit_wait\": %.3f, \"limit_refused\": %s", j->limit_wait,
			   j->limit_refused ? "true" : "false");
	}
	buf_append_str(x, ", \"calls\": [");
	int first = 1;
	for (int i = 0; i < TRYON_N_MODELS; i++) {
		const struct model_run *r = &j->m[i];
		if (!r->tried && r->outcome != TRYON_OUT_SKIPPED)
			continue;
		const struct fal_call *c = &r->call;
		double end = c->finished_at ? c->finished_at : clock_mono();
		buf_append_str(x, first ? "{" : ", {");
		first = 0;
		buf_append_str(x, "\"model\": ");
		json_write_cstr(x, tryon_model_name(r->which));
		buf_append_str(x, ", \"endpoint\": ");
		json_write_cstr(x, c->endpoint);
		buf_append_str(x, ", \"outcome\": ");
		json_write_cstr(x, tryon_outcome_name(r->outcome));
		/* A resumed request was paid for by the attempt that submitted it. */
		double cost = c->accepted_at != 0 && !c->resumed && c->request_id ? r->price : 0.0;
		buf_printf(x, ", \"latency\": %.3f, \"cost\": %g, \"status\": %ld, \"probe\": %s, \"cancelled\": %s, "
			   "\"resumed\": %s, \"settled\": %s, \"gave_up_running\": %s",
			   r->tried ? end - c->submitted_at : 0.0, cost, c->http_status,
			   r->gate == BREAKER_PROBE ? "true" : "false", r->cancelled ? "true" : "false",
			   c->resumed ? "true" : "false", r->settled ? "true" : "false",
			   r->gave_up_running ? "true" : "false");
		if (r->tried && c->phase == FAL_FAILED) {
			buf_append_str(x, ", \"error\": ");
			json_write_cstr(x, c->err);
		}
		buf_append_str(x, "}");
	}
	buf_append_str(x, "]}");
}

/* Append rec (a complete record) to out with "extra" added. */
static void emit(struct job *j, struct buf *rec, struct buf *out)
{
	struct buf x;
	char err[128];

	buf_init(&x);
	write_extra(j, &x);
	static const char *const path[] = { "extra" };
	if (x.failed || rec->failed ||
	    json_object_set(rec->data, rec->len, path, 1, x.data, x.len, out, err, sizeof err) < 0)
		buf_append(out, rec->data, rec->len);
	buf_free(&x);
}

static void succeed(struct job *j, const char *url, struct buf *out)
{
	struct buf res, rec;

	buf_init(&res);
	buf_init(&rec);
	json_write_str(&res, url, strlen(url), JSON_W_ASCII);
	record_success(&rec, res.data, res.len);
	emit(j, &rec, out);
	buf_free(&res);
	buf_free(&rec);
}

/* The traceback's frames: this job's steps up to the failure, so that a
 * monitor's failure page says where and why (never a URL argument or key). */
static void frames(const struct job *j, struct buf *tb)
{
	int line = 1;
	buf_printf(tb, "  File \"tryon-worker\", line %d, in virtual_tryon\n    phase=%s cache=%s single_flight=%s "
		   "attempt=%lld\n", line++, j->phase ? j->phase : "start", tryon_cache_name(j->cache_res),
		   j->sf ? j->sf : "off", j->ctx->env ? (long long)j->ctx->env->retries + 1 : 1LL);
	if (j->cache_res == TRYON_CACHE_ERROR)
		buf_printf(tb, "  File \"tryon-worker\", line %d, in cache\n    %s\n", line++, j->cache_err);
	for (int i = 0; i < TRYON_N_MODELS; i++) {
		const struct model_run *r = &j->m[i];
		if (!r->tried && r->outcome != TRYON_OUT_SKIPPED)
			continue;
		const struct fal_call *c = &r->call;
		double end = c->finished_at ? c->finished_at : clock_mono();
		buf_printf(tb, "  File \"tryon-worker\", line %d, in %s\n    %s: %s, HTTP %ld, %.3f s%s%s%s%s\n",
			   line++, tryon_model_name(r->which), c->endpoint,
			   r->outcome == TRYON_OUT_SKIPPED ? "skipped (breaker open)" :
			   r->settled ? tryon_outcome_name(r->outcome) : fal_phase_name(c->phase),
			   c->http_status, r->tried ? end - c->submitted_at : 0.0, c->resumed ? ", resumed" : "",
			   r->cancelled ? ", cancelled" : "", c->phase == FAL_FAILED ? ": " : "",
			   c->phase == FAL_FAILED ? c->err : "");
	}
	if (j->limit_hit)
		buf_printf(tb, "  File \"tryon-worker\", line %d, in limits\n    %s limit, waited %.3f s\n", line++,
			   j->limit_hit, j->limit_wait);
}

static void fail(struct job *j, const char *type, const char *module, const char *msg, int retry,
		 struct buf *out)
{
	struct buf rec, tb;

	buf_init(&rec);
	buf_init(&tb);
	frames(j, &tb);
	record_failure_tb(&rec, type, module, msg, retry, tb.failed ? NULL : tb.data);
	emit(j, &rec, out);
	buf_free(&tb);
	buf_free(&rec);
}

/* -- requests -------------------------------------------------------------- */

static void build_body(const struct job *j, enum tryon_model m, struct buf *b)
{
	if (m == TRYON_PRIMARY) {
		buf_append_str(b, "{\"image_urls\": [");
		json_write_str(b, j->person, j->plen, JSON_W_ASCII);
		buf_append_str(b, ", ");
		json_write_str(b, j->garment, j->glen, JSON_W_ASCII);
		buf_append_str(b, "], \"prompt\": ");
		json_write_cstr(b, TRYON_PROMPT);
		buf_append_str(b, ", \"guidance_scale\": 2.5, \"num_inference_steps\": 40}");
	} else {
		buf_append_str(b, "{\"model_image\": ");
		json_write_str(b, j->person, j->plen, JSON_W_ASCII);
		buf_append_str(b, ", \"garment_image\": ");
		json_write_str(b, j->garment, j->glen, JSON_W_ASCII);
		buf_append_str(b, "}");
	}
}

static enum tryon_outcome outcome_of(enum fal_class c)
{
	switch (c) {
	case FAL_OK: return TRYON_OUT_OK;
	case FAL_PERMANENT: return TRYON_OUT_PERMANENT;
	case FAL_AUTH: return TRYON_OUT_AUTH;
	case FAL_CANCELLED: return TRYON_OUT_CANCELLED;
	default: return TRYON_OUT_TRANSIENT;
	}
}

static int can_try(const struct model_run *r)
{
	return !r->tried && !r->want && r->gate != BREAKER_SKIP;
}

static int active(const struct model_run *r)
{
	return r->tried && !r->settled &&
	       (r->call.phase == FAL_IN_QUEUE || r->call.phase == FAL_IN_PROGRESS);
}

/* The request is over (any way): its record and lease go. */
static void forget(struct job *j, struct model_run *r)
{
	if (j->cache && r->call.request_id)
		ledger_request_drop(&j->ledger, j->req_key, tryon_model_name(r->which));
	if (j->cache && r->leased)
		ledger_lease_release(&j->ledger, r->lease_id);
	r->leased = 0;
}

static void settle(struct job *j, struct model_run *r, enum tryon_outcome o)
{
	if (r->settled)
		return;
	r->settled = 1;
	r->outcome = o;
	forget(j, r);
	log_info("tryon.call", "model=%s endpoint=%s outcome=%s status=%ld latency=%.3f resumed=%d",
		 tryon_model_name(r->which), r->call.endpoint, tryon_outcome_name(o), r->call.http_status,
		 (r->call.finished_at ? r->call.finished_at : clock_mono()) - r->call.submitted_at,
		 r->call.resumed);
}

/* Abandon a running request: cancel it at fal so it stops (free while it
 * is queued, billed once it runs) and settle it with outcome o. */
static void abandon(struct job *j, struct model_run *r, enum tryon_outcome o)
{
	if (!active(r))
		return;
	r->call.finished_at = clock_mono();
	fal_cancel(&j->fal, &r->call, CANCEL_MS);
	r->cancelled = 1;
	settle(j, r, o);
}

static void record_request(struct job *j, struct model_run *r)
{
	struct ledger_request lr;
	const struct fal_call *c = &r->call;

	if (!j->cache || !c->request_id)
		return;
	memset(&lr, 0, sizeof lr);
	snprintf(lr.model, sizeof lr.model, "%s", tryon_model_name(r->which));
	snprintf(lr.endpoint, sizeof lr.endpoint, "%s", c->endpoint);
	snprintf(lr.request_id, sizeof lr.request_id, "%s", c->request_id);
	snprintf(lr.status_url, sizeof lr.status_url, "%s", c->status_url ? c->status_url : "");
	snprintf(lr.response_url, sizeof lr.response_url, "%s", c->response_url ? c->response_url : "");
	snprintf(lr.cancel_url, sizeof lr.cancel_url, "%s", c->cancel_url ? c->cancel_url : "");
	lr.submitted = clock_wall() - (clock_mono() - c->accepted_at);
	lr.hedge = r->as_hedge;
	snprintf(lr.task_id, sizeof lr.task_id, "%s", j->ctx->env && j->ctx->env->task_id ? j->ctx->env->task_id : "");
	/* Long enough for every attempt of the task (retries and redeliveries). */
	int ttl = (int)(4 * j->hard) > 600 ? (int)(4 * j->hard) : 600;
	if (ledger_request_put(&j->ledger, j->req_key, &lr, ttl) < 0)
		ledger_failed(j);
}

static void submit_now(struct job *j, struct model_run *r)
{
	struct buf body;
	double now = clock_mono();
	/* The start deadline we send: a primary not started by the give-up
	 * point would be switched away from anyway (when a backup can follow);
	 * any request not started by the end is pointless. */
	double until = r->which == TRYON_PRIMARY && j->m[TRYON_BACKUP].gate != BREAKER_SKIP
		       ? j->t0 + plan_give_up_at(&j->plan) : j->deadline;
	if (until < now + 1.1)
		until = j->deadline;

	buf_init(&body);
	build_body(j, r->which, &body);
	r->tried = 1;
	r->want = 0;
	if (body.failed) {
		r->call.phase = FAL_FAILED;
		r->call.cls = FAL_TRANSIENT;
		snprintf(r->call.err, sizeof r->call.err, "out of memory");
	} else {
		fal_submit(&j->fal, &r->call, body.data, body.len, until - now, request_ms(j, SUBMIT_CAP_MS), now);
	}
	buf_free(&body);
	if (r->call.phase == FAL_FAILED) {
		if (r->charged && j->cache && r->call.accepted_at == 0)
			ledger_budget_refund(&j->ledger, r->price);   /* not accepted: not paid */
		if (r->call.retry_after > 0 && j->cache) {
			/* The account is throttled: every node waits. */
			ledger_pause_set(&j->ledger, r->call.retry_after);
			log_warn("tryon.throttled", "endpoint=%s retry_after=%.3f", r->call.endpoint, r->call.retry_after);
		}
		settle(j, r, outcome_of(r->call.cls));
		return;
	}
	record_request(j, r);
	log_info("tryon.submitted", "model=%s endpoint=%s hedge=%d queue_position=%d",
		 tryon_model_name(r->which), r->call.endpoint, r->as_hedge, r->call.queue_position);
}

/* -- cluster-wide limits ---------------------------------------------------- */

enum gate { GATE_GO, GATE_WAIT, GATE_FAIL };

static void note_limit(struct job *j, const char *which)
{
	if (!j->limit_hit)
		log_info("tryon.limit_wait", "limit=%s", which);
	j->limit_hit = which;
}

/* May r be submitted now? GATE_WAIT sets *retry_in; GATE_FAIL sets the
 * job's failure message (permanent for the budget). Order: pause (429),
 * rate, concurrency lease, then the budget is charged last, so a wait never
 * holds money. */
static enum gate gate(struct job *j, struct model_run *r, double *retry_in)
{
	const struct config *cfg = j->cfg;
	int limited = cfg->model_concurrency > 0 || cfg->model_rate > 0 || cfg->daily_budget > 0;

	*retry_in = 0;
	if (!j->cache) {
		if (cfg->daily_budget > 0) {
			snprintf(j->fail_msg, sizeof j->fail_msg, "cannot check the daily model budget "
				 "(TRYON_DAILY_BUDGET=%g): the cache Redis is unreachable", cfg->daily_budget);
			return GATE_FAIL;
		}
		return GATE_GO;   /* concurrency and rate need the cache: not enforced without it */
	}
	double pause = ledger_pause_left(&j->ledger);
	if (pause < 0)
		goto error;
	if (pause > 0) {
		note_limit(j, "pause");
		*retry_in = pause;
		return GATE_WAIT;
	}
	if (!limited)
		return GATE_GO;
	if (cfg->model_rate > 0) {
		int rc = ledger_rate_take(&j->ledger, cfg->model_rate, retry_in);
		if (rc < 0)
			goto error;
		if (rc == 0) {
			note_limit(j, "rate");
			return GATE_WAIT;
		}
	}
	if (cfg->model_concurrency > 0 && !r->leased) {
		int rc = ledger_lease_acquire(&j->ledger, r->lease_id, cfg->model_concurrency, LEASE_SECONDS, retry_in);
		if (rc < 0)
			goto error;
		if (rc == 0) {
			note_limit(j, "concurrency");
			return GATE_WAIT;
		}
		r->leased = 1;
	}
	if (cfg->daily_budget > 0 && !r->charged) {
		double spent = 0;
		int rc = ledger_budget_charge(&j->ledger, r->price, cfg->daily_budget, &spent);
		if (rc < 0)
			goto error;
		if (rc == 0) {
			char day[LEDGER_KEY_SIZE];
			ledger_spend_key(day, clock_wall());
			j->limit_hit = "budget";
			j->fail_permanent = 1;
			snprintf(j->fail_msg, sizeof j->fail_msg,
				 "daily model budget reached: $%.2f of TRYON_DAILY_BUDGET=$%.2f spent on %s (UTC); "
				 "%s would cost $%.3f; try-ons that miss the cache fail until 00:00 UTC",
				 spent, cfg->daily_budget, day + strlen(LEDGER_SPEND_PREFIX), r->call.endpoint, r->price);
			log_warn("tryon.budget_reached", "spent=%.3f budget=%.3f endpoint=%s", spent, cfg->daily_budget,
				 r->call.endpoint);
			if (r->leased) {
				ledger_lease_release(&j->ledger, r->lease_id);
				r->leased = 0;
			}
			return GATE_FAIL;
		}
		r->charged = 1;
	}
	return GATE_GO;
error:
	ledger_failed(j);
	if (cfg->daily_budget > 0) {
		snprintf(j->fail_msg, sizeof j->fail_msg, "cannot check the daily model budget "
			 "(TRYON_DAILY_BUDGET=%g): %s", cfg->daily_budget, j->cache_err);
		return GATE_FAIL;
	}
	return GATE_GO;
}

/* Submit r if the limits let it; otherwise it stays wanted. 1 submitted
 * (or failed for good), 0 waiting (*wake set), -1 a limit failed the job. */
static int try_submit(struct job *j, struct model_run *r, double *wake)
{
	double retry_in, now = clock_mono();
	switch (gate(j, r, &retry_in)) {
	case GATE_GO:
		submit_now(j, r);
		return 1;
	case GATE_WAIT:
		if (now + retry_in >= j->deadline - MIN_REQUEST && !j->fail_msg[0]) {
			snprintf(j->fail_msg, sizeof j->fail_msg,
				 "no model request could start within the soft limit: cluster-wide %s limit "
				 "(TRYON_MODEL_CONCURRENCY=%d, TRYON_MODEL_RATE=%g, Retry-After from the model API)",
				 j->limit_hit ? j->limit_hit : "model", j->cfg->model_concurrency, j->cfg->model_rate);
		}
		if (now + retry_in < *wake)
			*wake = now + retry_in;
		j->limit_wait += retry_in;
		return 0;
	case GATE_FAIL:
		r->want = 0;
		return -1;
	}
	return -1;
}

/* Take over the key's recorded requests (an earlier attempt of this task,
 * or a holder that died): poll them instead of paying again. */
static void resume_recorded(struct job *j)
{
	struct ledger_request lr[4];
	int n;

	if (!j->cache)
		return;
	n = ledger_request_list(&j->ledger, j->req_key, lr, 4);
	if (n < 0) {
		ledger_failed(j);
		return;
	}
	for (int i = 0; i < n; i++) {
		int m = !strcmp(lr[i].model, "primary") ? TRYON_PRIMARY : TRYON_BACKUP;
		struct model_run *r = &j->m[m];
		double now = clock_mono(), age = clock_wall() - lr[i].submitted;
		if (r->tried || strcmp(lr[i].endpoint, r->call.endpoint)) {
			/* Another endpoint than configured now: not ours to poll. */
			continue;
		}
		if (fal_resume(&j->fal, &r->call, lr[i].request_id, lr[i].status_url, lr[i].response_url,
			       lr[i].cancel_url, now - (age > 0 ? age : 0), now) < 0) {
			ledger_request_drop(&j->ledger, j->req_key, lr[i].model);
			fal_call_free(&r->call);
			fal_call_init(&r->call, m == TRYON_PRIMARY ? j->cfg->primary_endpoint : j->cfg->backup_endpoint);
			continue;
		}
		r->tried = 1;
		r->as_hedge = lr[i].hedge;
		/* Its phase decides the plan (a running request is not hedged
		 * like a queued one): ask now. */
		fal_poll(&j->fal, &r->call, request_ms(j, POLL_CAP_MS), now);
		if (j->cfg->model_concurrency > 0) {
			/* It runs at fal whatever the limit says: count it. */
			double ignored;
			r->leased = ledger_lease_acquire(&j->ledger, r->lease_id, 1 << 30, LEASE_SECONDS, &ignored) == 1;
		}
		j->resumed++;
		log_info("tryon.resume", "model=%s endpoint=%s age=%.3f from_task=%s", lr[i].model, lr[i].endpoint,
			 age, strcmp(lr[i].task_id, j->ctx->env && j->ctx->env->task_id ? j->ctx->env->task_id : "")
			 ? "other" : "same");
	}
}

/* -- the model phase ------------------------------------------------------- */

/* The failure message: each model's reason, as one line. */
static void failure_text(const struct job *j, char *msg, size_t msglen)
{
	size_t n = 0;

	n += (size_t)snprintf(msg + n, msglen - n, "virtual try-on failed:");
	for (int i = 0; i < TRYON_N_MODELS && n < msglen; i++) {
		const struct model_run *r = &j->m[i];
		const char *why = r->outcome == TRYON_OUT_SKIPPED ? "skipped (circuit breaker open)"
				  : !r->tried ? "not tried"
				  : r->call.phase == FAL_FAILED ? r->call.err : tryon_outcome_name(r->outcome);
		n += (size_t)snprintf(msg + n, msglen - n, "%s %s (%s): %s", i ? ";" : "",
				      tryon_model_name(r->which), r->call.endpoint, why);
	}
}

static enum plan_req req_state(const struct model_run *r)
{
	if (r->settled)
		return r->outcome == TRYON_OUT_OK ? PLAN_REQ_DONE : PLAN_REQ_FAILED;
	if (r->want)
		return PLAN_REQ_QUEUED;   /* about to be submitted */
	if (!r->tried)
		return r->gate == BREAKER_SKIP ? PLAN_REQ_FAILED : PLAN_REQ_NONE;
	return r->call.phase == FAL_IN_PROGRESS ? PLAN_REQ_RUNNING : PLAN_REQ_QUEUED;
}

/* Ends the job's part: when a retry follows, requests still running stay
 * recorded for it; otherwise the task is over and they are cancelled. */
static void end_requests(struct job *j, enum tryon_outcome why)
{
	int keep = retry_follows(j) && j->cache;
	for (int i = 0; i < TRYON_N_MODELS; i++) {
		struct model_run *r = &j->m[i];
		if (!active(r))
			continue;
		if (keep) {
			log_info("tryon.kept", "model=%s endpoint=%s note=\"still running; the retry resumes it\"",
				 tryon_model_name(r->which), r->call.endpoint);
			r->outcome = TRYON_OUT_TIMEOUT;   /* for this attempt; not final */
			continue;
		}
		abandon(j, r, why);
	}
}

/* Run the models; returns the result URL (owned by the run) or NULL with
 * *soft set when the soft limit ended it. */
static const char *run_models(struct job *j, int *soft)
{
	struct model_run *P = &j->m[TRYON_PRIMARY], *B = &j->m[TRYON_BACKUP];

	*soft = 0;
	if (!P->tried && !B->tried) {
		if (P->gate != BREAKER_SKIP)
			P->want = 1;
		else
			B->want = 1;
	}
	for (;;) {
		double now = clock_mono(), wake = j->deadline - MIN_REQUEST;
		if (proc_terminate_requested()) {
			/* Revoked with terminate: the task is over; nothing it
			 * started may go on billing. */
			j->terminated = 1;
			abandon(j, P, TRYON_OUT_CANCELLED);
			abandon(j, B, TRYON_OUT_CANCELLED);
			return NULL;
		}
		if (proc_soft_limit_expired() || now >= j->deadline - MIN_REQUEST) {
			*soft = 1;
			end_requests(j, TRYON_OUT_TIMEOUT);
			return NULL;
		}
		/* Results. */
		for (int i = 0; i < TRYON_N_MODELS; i++) {
			struct model_run *r = &j->m[i], *o = &j->m[1 - i];
			if (r->settled || r->call.phase != FAL_SUCCEEDED)
				continue;
			settle(j, r, TRYON_OUT_OK);
			/* The loser: a primary we had given up on ran past its
			 * budget (a failure for its breaker); otherwise it just
			 * lost the race. */
			abandon(j, o, o->which == TRYON_PRIMARY && j->gave_up ? TRYON_OUT_TIMEOUT : TRYON_OUT_CANCELLED);
			o->want = 0;
			j->path = r->which == TRYON_PRIMARY ? "primary" : r->as_hedge ? "hedge" : "backup";
			return r->call.result_url;
		}
		/* Failures. */
		for (int i = 0; i < TRYON_N_MODELS; i++) {
			struct model_run *r = &j->m[i];
			if (r->tried && !r->settled && r->call.phase == FAL_FAILED)
				settle(j, r, outcome_of(r->call.cls));
		}
		if (P->outcome == TRYON_OUT_AUTH || B->outcome == TRYON_OUT_AUTH) {
			/* Same key, same account: the other model cannot do better. */
			abandon(j, P, TRYON_OUT_CANCELLED);
			abandon(j, B, TRYON_OUT_CANCELLED);
			P->want = B->want = 0;
			return NULL;
		}
		/* A hedged pair in cost mode: once one runs, the other, still
		 * queued, goes (cancelling a queued request is free). */
		if (j->plan.mode == PLAN_COST && active(P) && active(B)) {
			if (P->call.phase == FAL_IN_PROGRESS && B->call.phase == FAL_IN_QUEUE)
				abandon(j, B, TRYON_OUT_CANCELLED);
			else if (B->call.phase == FAL_IN_PROGRESS && P->call.phase == FAL_IN_QUEUE)
				abandon(j, P, TRYON_OUT_CANCELLED);
		}
		/* The plan. */
		struct plan_view v = {
			.now = now - j->t0, .primary = req_state(P), .backup = req_state(B),
			.primary_submitted = P->call.accepted_at ? P->call.accepted_at - j->t0 : now - j->t0,
			.backup_allowed = can_try(B),
		};
		double pw;
		enum plan_step step = plan_next(&j->plan, &v, &pw);
		if (pw < 1e17 && j->t0 + pw < wake)
			wake = j->t0 + pw;
		if (step != PLAN_WAIT) {
			int queued_hedge = v.primary == PLAN_REQ_QUEUED && v.now < plan_give_up_at(&j->plan);
			if (step == PLAN_HEDGE || step == PLAN_SWITCH) {
				if (queued_hedge)
					log_info("tryon.hedge", "kind=%s queued_for=%.3f", plan_step_name(step),
						 now - P->call.accepted_at);
				else
					log_info("tryon.give_up", "primary_phase=%s after=%.3f step=%s",
						 fal_phase_name(P->call.phase), now - j->t0, plan_step_name(step));
				if (!queued_hedge)
					j->gave_up = 1;
				B->as_hedge = step == PLAN_HEDGE || active(P);
			}
			if (step == PLAN_SWITCH) {
				P->gave_up_running = j->gave_up && P->call.phase == FAL_IN_PROGRESS;
				abandon(j, P, j->gave_up ? TRYON_OUT_TIMEOUT : TRYON_OUT_CANCELLED);
				P->want = 0;
				B->as_hedge = 0;
			}
			B->want = 1;
		}
		/* Submits waiting for the limits. */
		int failed_limit = 0, submitted = 0;
		for (int i = 0; i < TRYON_N_MODELS; i++) {
			struct model_run *r = &j->m[i];
			int rc = r->want ? try_submit(j, r, &wake) : 0;
			failed_limit |= rc < 0;
			submitted |= rc > 0;
		}
		if (failed_limit) {
			end_requests(j, TRYON_OUT_CANCELLED);
			return NULL;
		}
		if (submitted)
			continue;   /* a submit may have failed at once: decide again */
		if (!P->want && !B->want && !active(P) && !active(B))
			return NULL;   /* every request failed and the plan has nothing left */
		/* Poll whichever is due first, or sleep until something is. */
		struct model_run *due = NULL;
		for (int i = 0; i < TRYON_N_MODELS; i++)
			if (active(&j->m[i]) && (!due || j->m[i].call.next_poll < due->call.next_poll))
				due = &j->m[i];
		now = clock_mono();
		if (due && due->call.next_poll <= now) {
			fal_poll(&j->fal, &due->call, request_ms(j, POLL_CAP_MS), now);
			if (due->leased && j->cache)
				ledger_lease_renew(&j->ledger, due->lease_id, LEASE_SECONDS);
			continue;
		}
		if (due && due->call.next_poll < wake)
			wake = due->call.next_poll;
		/* Status streams wake it early (the due call's next_poll). */
		fal_wait(&j->fal, now, wake);
	}
}

static void model_phase(struct job *j, struct buf *out)
{
	struct model_run *P = &j->m[TRYON_PRIMARY], *B = &j->m[TRYON_BACKUP];
	char err[256], msg[700];
	int soft;

	if (P->gate == BREAKER_SKIP)
		P->outcome = TRYON_OUT_SKIPPED;
	if (B->gate == BREAKER_SKIP)
		B->outcome = TRYON_OUT_SKIPPED;
	if (fal_client_init(&j->fal, j->ctx->trust, j->cfg->fal_queue_url, j->cfg->fal_key,
			    j->cfg->model_poll_interval, err, sizeof err) < 0) {
		j->path = "none";
		snprintf(msg, sizeof msg, "cannot call the model API: %s", err);
		fail(j, "RuntimeError", "builtins", msg, 1, out);
		return;
	}
	/* The previous job's TLS session with the queue host: an abbreviated
	 * handshake instead of a full one (lib/http.h). */
	http_client_share_sessions(&j->fal.http, j->ctx->tls_sessions);
	j->fal_ready = 1;
	j->phase = "model";
	resume_recorded(j);
	if (!P->tried && !B->tried && P->gate == BREAKER_SKIP && B->gate == BREAKER_SKIP) {
		j->path = "none";
		snprintf(msg, sizeof msg, "model API unavailable: the circuit breakers of both endpoints "
			 "(%s, %s) are open after repeated failures; try again later",
			 P->call.endpoint, B->call.endpoint);
		fail(j, "RuntimeError", "builtins", msg, 1, out);
		return;
	}
	const char *url = run_models(j, &soft);
	if (url) {
		cache_store(j, url);
		lock_release(j);
		succeed(j, url, out);
		return;
	}
	lock_release(j);
	j->path = "none";
	if (j->terminated) {
		fail(j, "TaskRevokedError", "celery.exceptions", "terminated", 0, out);
		return;
	}
	if (j->fail_msg[0]) {
		j->limit_refused = j->limit_hit != NULL;
		fail(j, "RuntimeError", "builtins", j->fail_msg, !j->fail_permanent, out);
		return;
	}
	if (soft) {
		fail(j, "SoftTimeLimitExceeded", "billiard.exceptions", NULL, 1, out);
		return;
	}
	failure_text(j, msg, sizeof msg);
	int auth = P->outcome == TRYON_OUT_AUTH || B->outcome == TRYON_OUT_AUTH;
	/* Only when every model refused the input is a retry pointless. */
	int refused = P->outcome == TRYON_OUT_PERMANENT && B->outcome == TRYON_OUT_PERMANENT;
	fail(j, "RuntimeError", "builtins", msg, !(auth || refused), out);
}

/* -- the job ---------------------------------------------------------------- */

void tryon_run(const struct tryon_ctx *ctx, const struct celery_body *body, struct buf *out)
{
	struct job j;
	char msg[TRYON_ARGS_MSG_SIZE];
	char *hit = NULL;
	const char *task_id = ctx->env && ctx->env->task_id ? ctx->env->task_id : "-";

	memset(&j, 0, sizeof j);
	/* A revoke with terminate must not leave paid requests running. */
	proc_catch_terminate();
	j.ctx = ctx;
	j.cfg = ctx->cfg;
	j.t0 = clock_mono();
	j.sf = "off";
	for (int i = 0; i < TRYON_N_MODELS; i++) {
		j.m[i].which = (enum tryon_model)i;
		j.m[i].gate = ctx->hints.gate[i];
		j.m[i].price = i == TRYON_PRIMARY ? j.cfg->price_primary : j.cfg->price_backup;
		snprintf(j.m[i].lease_id, sizeof j.m[i].lease_id, "%.60s:%s", task_id, tryon_model_name((enum tryon_model)i));
		fal_call_init(&j.m[i].call, i == TRYON_PRIMARY ? j.cfg->primary_endpoint : j.cfg->backup_endpoint);
	}
	plan_init(&j);

	struct tryon_args args;
	j.phase = "arguments";
	enum tryon_args_status st = tryon_args_decode(body, (size_t)j.cfg->max_data_uri_bytes, &args, msg, sizeof msg);
	if (st != TRYON_ARGS_OK) {
		/* Python's TypeError/ValueError for the call: retrying cannot
		 * help. MemoryError carries no message, as in Python. */
		j.path = "invalid";
		fail(&j, tryon_args_exc_type(st), "builtins", st == TRYON_ARGS_NO_MEMORY ? NULL : msg, 0, out);
		goto done;
	}
	tryon_keys_compute(&args, j.key, j.lock_key);
	ledger_key(j.req_key, LEDGER_REQUESTS_PREFIX, j.key);
	ledger_key(j.wake, LEDGER_WAKE_PREFIX, j.key);
	ledger_owner(j.owner, sizeof j.owner, task_id, j.cfg->hostname);
	/* The job owns the two strings from here (freed at done). */
	j.person = args.person;
	j.plen = args.person_len;
	j.garment = args.garment;
	j.glen = args.garment_len;

	j.phase = "cache";
	if (cache_open(&j) == 0) {
		int rc = cache_get(&j, &hit);
		if (rc == 0 && j.cfg->fal_key) {
			/* Single-flight: one task per key calls the model. */
			j.sf = "none";
			rc = lock_take(&j);
			if (rc == 1) {
				j.sf = "holder";
			} else if (rc == 0) {
				j.phase = "single_flight_wait";
				rc = singleflight_wait(&j, &hit);
				if (rc < 0) {
					j.path = "none";
					fail(&j, "SoftTimeLimitExceeded", "billiard.exceptions", NULL, 1, out);
					goto done;
				}
			}
		}
		if (hit) {
			j.cache_res = TRYON_CACHE_HIT;
			j.path = "cache";
			log_info("tryon.cache_hit", "key=%s waited=%d", j.key, !strcmp(j.sf, "waited"));
			succeed(&j, hit, out);
			goto done;
		}
	}
	if (!j.cfg->fal_key) {
		j.path = "none";
		fail(&j, "RuntimeError", "builtins",
		     "FAL_KEY is not set: this worker cannot call the model API (set FAL_KEY and restart it)",
		     0, out);
		goto done;
	}
	model_phase(&j, out);
done:
	lock_release(&j);
	free(hit);
	free(j.person);
	free(j.garment);
	for (int i = 0; i < TRYON_N_MODELS; i++)
		fal_call_free(&j.m[i].call);
	if (j.fal_ready)
		fal_client_free(&j.fal);
	redis_conn_free(j.cache);
	if (j.have_url)
		redis_url_free(&j.url);
}
