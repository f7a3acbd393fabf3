/* tryon: the try-on job, run in a job child: validate the two URLs, look in
 * the cache, take the single-flight lock (or wait for whoever holds it),
 * then drive the primary and backup model requests within the soft deadline
 * (hedge, give-up, cancel), cache the result and write the one record with
 * an "extra" object for the parent (tryon_state_absorb). It owns the cache
 * connection and the fal client of this child only; it never logs a URL
 * argument, the key, or the cache password. */
#include "tryon/tryon.h"
#include "lib/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "tryon/cachekey.h"
#include "tryon/fal.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/log.h"
#include "worker/proc.h"
#include "celery/record.h"
#include "redis/redis_conn.h"
#include "redis/redis_url.h"
#include "tryon/tryon_state.h"

#define TRYON_PROMPT "A person wearing the garment, virtual try-on"
#define SUBMIT_CAP_MS 5000L       /* longest single submit */
#define POLL_CAP_MS 5000L         /* longest single status/result request */
#define CANCEL_MS 1000L           /* each cancel; they may run after the soft limit */
#define SF_POLL 0.075             /* single-flight waiters look this often, s */
#define SEED_SOFT_LIMIT 25.0      /* the soft limit TRYON_BACKUP_LATENCY is meant for */
#define MIN_REQUEST 0.02          /* less time than this left: do not start a request */

struct model_run {
	enum tryon_model which;
	double price;
	enum breaker_decision gate;
	struct fal_call call;
	int tried;                 /* a submit was sent */
	int settled;               /* outcome is final */
	enum tryon_outcome outcome;
	int cancelled;             /* we sent PUT cancel_url */
	int as_hedge;              /* backup submitted while the primary was queued */
};

struct job {
	const struct task_ctx *ctx;
	const struct config *cfg;
	double t0, deadline, hard;
	double give_up_at;         /* after this the backup must start */
	char *person, *garment;
	size_t plen, glen;
	char key[CACHEKEY_KEY_SIZE], lock_key[CACHEKEY_LOCK_SIZE], token[37];
	struct redis_url url;
	int have_url;
	struct redis_conn *cache;  /* NULL: no cache, or it failed this job */
	enum tryon_cache_result cache_res;
	char cache_err[160];
	const char *sf;            /* single-flight: off, none, holder, waited */
	int lock_held;
	struct fal_client fal;
	int fal_ready;
	struct model_run m[TRYON_N_MODELS];
	const char *path;          /* cache, primary, backup, hedge, none, invalid */
	int gave_up;
};

/* Timeout for one request: at most cap, never past the deadline, and
 * while the give-up point is ahead (the backup still waiting), not much past
 * it either: a hanging request must not eat the backup's time. */
static long request_ms(const struct job *j, long cap, int give_up_pending)
{
	double now = clock_mono(), end = j->deadline;

	if (give_up_pending) {
		double g = j->give_up_at > now + 0.5 ? j->give_up_at : now + 0.5;
		if (g < end)
			end = g;
	}
	double left = (end - now) * 1000;
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

/* -- arguments ---------------------------------------------------------- */

/* Fetch argument idx / name as a string. 0, or -1 with msg set. */
static int arg_str(const struct celery_body *b, int idx, const char *name, char **s, size_t *len,
		   char *msg, size_t msglen)
{
	char err[200] = "";
	int pos = celery_body_arg(b, idx), kw = celery_body_kwarg(b, name);

	if (pos >= 0 && kw >= 0) {
		snprintf(msg, msglen, "virtual_tryon() got multiple values for argument '%s'", name);
		return -1;
	}
	int tok = pos >= 0 ? pos : kw;
	if (tok < 0) {
		snprintf(msg, msglen, "virtual_tryon() missing required argument '%s'", name);
		return -1;
	}
	if (celery_body_str(b, tok, s, len, err, sizeof err) != 0) {
		snprintf(msg, msglen, "%s: must be a string", name);
		return -1;
	}
	return 0;
}

/* Every keyword must be one of ours (Python would raise TypeError). */
static int check_kwargs(const struct celery_body *b, char *msg, size_t msglen)
{
	const struct json_doc *d = &b->doc;
	int obj = b->kwargs_tok;

	if (obj < 0 || json_kind(d, obj) != JSON_K_OBJECT)
		return 0;
	for (int i = 0, k = obj + 1; i < d->toks[obj].size; i++) {
		if (!json_tok_streq(d, k, "person_url") && !json_tok_streq(d, k, "garment_url")) {
			snprintf(msg, msglen, "virtual_tryon() got an unexpected keyword argument");
			return -1;
		}
		k = json_skip(d, k + 1);
	}
	return 0;
}

static int parse_args(struct job *j, const struct celery_body *b, char *msg, size_t msglen)
{
	char why[160];
	int n = celery_body_nargs(b);

	if (n > 2) {
		snprintf(msg, msglen, "virtual_tryon() takes 2 arguments but %d were given", n);
		return -1;
	}
	if (check_kwargs(b, msg, msglen) < 0 ||
	    arg_str(b, 0, "person_url", &j->person, &j->plen, msg, msglen) < 0 ||
	    arg_str(b, 1, "garment_url", &j->garment, &j->glen, msg, msglen) < 0)
		return -1;
	size_t max = (size_t)j->cfg->max_data_uri_bytes;
	if (cachekey_validate_input(j->person, j->plen, max, why, sizeof why) < 0) {
		snprintf(msg, msglen, "person_url %s", why);
		return -1;
	}
	if (cachekey_validate_input(j->garment, j->glen, max, why, sizeof why) < 0) {
		snprintf(msg, msglen, "garment_url %s", why);
		return -1;
	}
	return 0;
}

static void make_keys(struct job *j)
{
	br_sha256_context h;
	unsigned char digest[br_sha256_SIZE];

	br_sha256_init(&h);
	br_sha256_update(&h, j->person, j->plen);
	br_sha256_update(&h, CACHEKEY_SEPARATOR, 1);
	br_sha256_update(&h, j->garment, j->glen);
	br_sha256_out(&h, digest);
	cachekey_format(digest, j->key, sizeof j->key);
	cachekey_lock_format(digest, j->lock_key, sizeof j->lock_key);
}

/* -- plan ---------------------------------------------------------------- */

/* Deadlines from the soft limit (or, without one, just short of the hard
 * limit), and the give-up point: the backup gets its observed latency with
 * some slack, or a share of the seed's 12 s of 25 s while unknown. */
static void plan(struct job *j)
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
	double total = j->deadline - j->t0;
	double lat = j->ctx->hints.backup_latency > 0 ? j->ctx->hints.backup_latency : j->ctx->backup_latency;
	double budget;
	if (lat > 0) {
		budget = lat * 1.5 + 0.25;
	} else {
		double scale = total / SEED_SOFT_LIMIT;
		budget = j->cfg->backup_latency * (scale < 1 ? scale : 1);
	}
	if (budget > total * 0.75)
		budget = total * 0.75;
	j->give_up_at = j->deadline - budget;
}

/* -- cache and single-flight ---------------------------------------------- */

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
	/* The lock, if we held it, expires by itself (PX). */
	j->lock_held = 0;
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
	struct redis_conn_opts o = {
		.url = &j->url, .trust = j->ctx->trust, .name = "cache",
		.connect_timeout = j->cfg->cache_timeout, .io_timeout = j->cfg->cache_timeout,
		.health_interval = -1,
	};
	j->cache = redis_conn_new(&o, err, sizeof err);
	if (!j->cache) {
		cache_fail(j, "connect", err);
		return -1;
	}
	if (redis_conn_connect_sync(j->cache, j->cfg->cache_timeout, err, sizeof err) < 0) {
		cache_fail(j, "connect", err);
		return -1;
	}
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
	struct resp_value *r = redis_conn_callv(j->cache, j->cfg->cache_timeout, err, sizeof err,
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

/* SET the lock NX with an expiry no longer than the hard limit (a holder
 * killed there frees it by expiry). 1 taken, 0 held by someone else, -1
 * cache failed. */
static int lock_take(struct job *j)
{
	char err[256], px[32];
	long long ttl = (long long)(j->hard * 1000);

	snprintf(px, sizeof px, "%lld", ttl > 0 ? ttl : 1);
	struct resp_value *r = redis_conn_callv(j->cache, j->cfg->cache_timeout, err, sizeof err,
						"SET", j->lock_key, j->token, "NX", "PX", px, NULL);
	if (!r) {
		cache_fail(j, "SET NX", err);
		return -1;
	}
	int rc = r->type == RESP_SIMPLE ? 1 : r->type == RESP_NIL ? 0 : -1;
	resp_value_free(r);
	if (rc < 0)
		cache_fail(j, "SET NX", "error reply");
	j->lock_held = rc == 1;
	return rc;
}

/* 1 if the lock key exists, 0 if not, -1 cache failed. */
static int lock_exists(struct job *j)
{
	char err[256];
	struct resp_value *r = redis_conn_callv(j->cache, j->cfg->cache_timeout, err, sizeof err,
						"EXISTS", j->lock_key, NULL);
	if (!r || r->type != RESP_INTEGER) {
		resp_value_free(r);
		cache_fail(j, "EXISTS", r ? "error reply" : err);
		return -1;
	}
	int rc = r->integer > 0;
	resp_value_free(r);
	return rc;
}

/* Compare-and-delete: only our own token is removed (ours may have expired
 * and been taken by another job meanwhile). */
static void lock_release(struct job *j)
{
	static const char script[] =
		"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";
	char err[256];

	if (!j->lock_held || !j->cache)
		return;
	j->lock_held = 0;
	struct resp_value *r = redis_conn_callv(j->cache, j->cfg->cache_timeout, err, sizeof err,
						"EVAL", script, "1", j->lock_key, j->token, NULL);
	if (!r)
		cache_fail(j, "unlock", err);
	resp_value_free(r);
}

static void cache_store(struct job *j, const char *url)
{
	char err[256], ttl[32];

	if (!j->cache)
		return;
	snprintf(ttl, sizeof ttl, "%d", j->cfg->cache_ttl);
	struct resp_value *r = redis_conn_callv(j->cache, j->cfg->cache_timeout, err, sizeof err,
						"SET", j->key, url, "EX", ttl, NULL);
	if (!r || r->type != RESP_SIMPLE)
		cache_fail(j, "SET", r ? "error reply" : err);
	resp_value_free(r);
}

/* Wait while another job holds the lock for this key. Returns 1 with *url
 * when its result appeared, 0 when the lock is ours now or the cache went
 * away (go on alone), -1 at the soft limit. */
static int singleflight_wait(struct job *j, char **url)
{
	j->sf = "waited";
	log_info("tryon.singleflight_wait", "key=%s", j->key);
	for (;;) {
		if (proc_soft_limit_expired() || clock_mono() >= j->deadline)
			return -1;
		double next = clock_mono() + SF_POLL;
		sleep_until(next < j->deadline ? next : j->deadline);
		if (proc_soft_limit_expired())
			return -1;
		int rc = cache_get(j, url);
		if (rc != 0)
			return rc > 0 ? 1 : 0;
		rc = lock_exists(j);
		if (rc < 0)
			return 0;
		if (rc == 0) {
			/* The holder finished without a result, or died and
			 * its lock expired: whoever takes it next goes on. */
			rc = lock_take(j);
			if (rc != 0)
				return 0;
		}
	}
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
	buf_printf(x, ", \"hedged\": %s, \"gave_up\": %s, \"calls\": [", hedged ? "true" : "false",
		   j->gave_up ? "true" : "false");
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
		buf_printf(x, ", \"latency\": %.3f, \"cost\": %g, \"status\": %ld, \"probe\": %s, \"cancelled\": %s",
			   r->tried ? end - c->submitted_at : 0.0, c->accepted_at > 0 ? r->price : 0.0,
			   c->http_status, r->gate == BREAKER_PROBE ? "true" : "false",
			   r->cancelled ? "true" : "false");
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

static void fail(struct job *j, const char *type, const char *module, const char *msg, int retry,
		 struct buf *out)
{
	struct buf rec;

	buf_init(&rec);
	record_failure(&rec, type, module, msg, retry);
	emit(j, &rec, out);
	buf_free(&rec);
}

/* -- the model phase ----------------------------------------------------- */

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
	return !r->tried && r->gate != BREAKER_SKIP;
}

static int active(const struct model_run *r)
{
	return r->tried && !r->settled &&
	       (r->call.phase == FAL_IN_QUEUE || r->call.phase == FAL_IN_PROGRESS);
}

static void settle(struct model_run *r, enum tryon_outcome o)
{
	if (r->settled)
		return;
	r->settled = 1;
	r->outcome = o;
	log_info("tryon.call", "model=%s endpoint=%s outcome=%s status=%ld latency=%.3f",
		 tryon_model_name(r->which), r->call.endpoint, tryon_outcome_name(o), r->call.http_status,
		 (r->call.finished_at ? r->call.finished_at : clock_mono()) - r->call.submitted_at);
}

/* Abandon a running request: cancel it at fal so it stops (and bills no
 * more), and settle it with outcome o. */
static void abandon(struct job *j, struct model_run *r, enum tryon_outcome o)
{
	if (!active(r))
		return;
	r->call.finished_at = clock_mono();
	fal_cancel(&j->fal, &r->call, CANCEL_MS);
	r->cancelled = 1;
	settle(r, o);
}

static void submit(struct job *j, struct model_run *r)
{
	struct buf body;
	double now = clock_mono();
	/* The start deadline we send: the primary must start before we give
	 * up on it (when a backup can follow); the backup before the end. */
	double until = (r->which == TRYON_PRIMARY && j->m[TRYON_BACKUP].gate != BREAKER_SKIP)
		       ? j->give_up_at : j->deadline;

	buf_init(&body);
	build_body(j, r->which, &body);
	r->tried = 1;
	if (body.failed) {
		r->call.phase = FAL_FAILED;
		r->call.cls = FAL_TRANSIENT;
		snprintf(r->call.err, sizeof r->call.err, "out of memory");
	} else {
		fal_submit(&j->fal, &r->call, body.data, body.len, until - now,
			   request_ms(j, SUBMIT_CAP_MS, r->which == TRYON_PRIMARY && can_try(&j->m[TRYON_BACKUP])),
			   now);
	}
	buf_free(&body);
	if (r->call.phase == FAL_FAILED)
		settle(r, outcome_of(r->call.cls));
	else
		log_info("tryon.submitted", "model=%s endpoint=%s hedge=%d queue_position=%d",
			 tryon_model_name(r->which), r->call.endpoint, r->as_hedge, r->call.queue_position);
}

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

/* Run the models; returns the result URL (owned by the run) or NULL with
 * *soft set when the soft limit ended it. */
static const char *run_models(struct job *j, int *soft)
{
	struct model_run *P = &j->m[TRYON_PRIMARY], *B = &j->m[TRYON_BACKUP];

	*soft = 0;
	if (P->gate != BREAKER_SKIP)
		submit(j, P);
	else
		submit(j, B);
	for (;;) {
		double now = clock_mono();
		if (proc_soft_limit_expired() || now >= j->deadline - MIN_REQUEST) {
			*soft = 1;
			abandon(j, P, TRYON_OUT_TIMEOUT);
			abandon(j, B, TRYON_OUT_TIMEOUT);
			return NULL;
		}
		/* Results. */
		for (int i = 0; i < TRYON_N_MODELS; i++) {
			struct model_run *r = &j->m[i], *o = &j->m[1 - i];
			if (r->settled || r->call.phase != FAL_SUCCEEDED)
				continue;
			settle(r, TRYON_OUT_OK);
			/* The loser: a primary we had given up on ran past its
			 * budget (a failure for its breaker); otherwise it just
			 * lost the race. */
			abandon(j, o, o->which == TRYON_PRIMARY && j->gave_up ? TRYON_OUT_TIMEOUT
										: TRYON_OUT_CANCELLED);
			j->path = r->which == TRYON_PRIMARY ? "primary" : r->as_hedge ? "hedge" : "backup";
			return r->call.result_url;
		}
		/* Failures. */
		for (int i = 0; i < TRYON_N_MODELS; i++) {
			struct model_run *r = &j->m[i];
			if (r->tried && !r->settled && r->call.phase == FAL_FAILED)
				settle(r, outcome_of(r->call.cls));
		}
		if (P->outcome == TRYON_OUT_AUTH || B->outcome == TRYON_OUT_AUTH) {
			/* Same key, same account: the other model cannot do better. */
			abandon(j, P, TRYON_OUT_CANCELLED);
			abandon(j, B, TRYON_OUT_CANCELLED);
			return NULL;
		}
		if (P->settled && can_try(B)) {
			submit(j, B);
			continue;
		}
		if (!active(P) && !active(B))
			return NULL;
		/* Hedge: the primary has not even started. */
		if (active(P) && P->call.phase == FAL_IN_QUEUE && can_try(B) && j->cfg->hedge_after > 0 &&
		    now >= P->call.accepted_at + j->cfg->hedge_after) {
			B->as_hedge = 1;
			log_info("tryon.hedge", "queued_for=%.3f", now - P->call.accepted_at);
			submit(j, B);
			continue;
		}
		/* Give up: past this point the backup could not finish in
		 * time. A queued primary is cancelled; a running one may still
		 * win the race against the backup. */
		if (active(P) && can_try(B) && now >= j->give_up_at) {
			j->gave_up = 1;
			log_info("tryon.give_up", "primary_phase=%s after=%.3f", fal_phase_name(P->call.phase),
				 now - j->t0);
			if (P->call.phase == FAL_IN_QUEUE)
				abandon(j, P, TRYON_OUT_TIMEOUT);
			submit(j, B);
			continue;
		}
		/* Poll whichever is due first, or sleep until something is. */
		struct model_run *due = NULL;
		for (int i = 0; i < TRYON_N_MODELS; i++)
			if (active(&j->m[i]) && (!due || j->m[i].call.next_poll < due->call.next_poll))
				due = &j->m[i];
		if (due && due->call.next_poll <= now) {
			fal_poll(&j->fal, &due->call, request_ms(j, POLL_CAP_MS, active(P) && can_try(B)), now);
			continue;
		}
		double wake = j->deadline - MIN_REQUEST;
		if (due && due->call.next_poll < wake)
			wake = due->call.next_poll;
		if (can_try(B) && active(P)) {
			if (j->give_up_at < wake)
				wake = j->give_up_at;
			double h = P->call.accepted_at + j->cfg->hedge_after;
			if (j->cfg->hedge_after > 0 && P->call.phase == FAL_IN_QUEUE && h < wake)
				wake = h;
		}
		sleep_until(wake);
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
	if (P->gate == BREAKER_SKIP && B->gate == BREAKER_SKIP) {
		j->path = "none";
		snprintf(msg, sizeof msg, "model API unavailable: the circuit breakers of both endpoints "
			 "(%s, %s) are open after repeated failures; try again later",
			 P->call.endpoint, B->call.endpoint);
		fail(j, "RuntimeError", "builtins", msg, 1, out);
		return;
	}
	if (fal_client_init(&j->fal, j->ctx->trust, j->cfg->fal_queue_url, j->cfg->fal_key,
			    j->cfg->model_poll_interval, err, sizeof err) < 0) {
		j->path = "none";
		snprintf(msg, sizeof msg, "cannot call the model API: %s", err);
		fail(j, "RuntimeError", "builtins", msg, 1, out);
		return;
	}
	j->fal_ready = 1;
	const char *url = run_models(j, &soft);
	if (url) {
		cache_store(j, url);
		lock_release(j);
		succeed(j, url, out);
		return;
	}
	lock_release(j);
	j->path = "none";
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

void tryon_run(const struct task_ctx *ctx, const struct celery_body *body, struct buf *out)
{
	struct job j;
	char msg[400];
	char *hit = NULL;

	memset(&j, 0, sizeof j);
	j.ctx = ctx;
	j.cfg = ctx->cfg;
	j.t0 = clock_mono();
	j.sf = "off";
	for (int i = 0; i < TRYON_N_MODELS; i++) {
		j.m[i].which = (enum tryon_model)i;
		j.m[i].gate = ctx->hints.gate[i];
		j.m[i].price = i == TRYON_PRIMARY ? j.cfg->price_primary : j.cfg->price_backup;
		fal_call_init(&j.m[i].call, i == TRYON_PRIMARY ? j.cfg->primary_endpoint : j.cfg->backup_endpoint);
	}
	plan(&j);

	if (parse_args(&j, body, msg, sizeof msg) < 0) {
		j.path = "invalid";
		fail(&j, "ValueError", "builtins", msg, 0, out);
		goto done;
	}
	make_keys(&j);

	if (cache_open(&j) == 0) {
		int rc = cache_get(&j, &hit);
		if (rc == 0 && j.cfg->fal_key) {
			/* Single-flight: one job per key calls the model. */
			if (ids_uuid4(j.token) < 0)
				snprintf(j.token, sizeof j.token, "%d-%.0f", (int)getpid(), j.t0 * 1e6);
			j.sf = "none";
			rc = lock_take(&j);
			if (rc == 1) {
				j.sf = "holder";
			} else if (rc == 0) {
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
