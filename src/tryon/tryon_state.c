/* tryon_state: the parent's side of the try-on job (see tryon_state.h). It
 * reads only what children report in their record's "extra"; a child that
 * lies or dies can skew counters but never crash the parent. */
#include "tryon/tryon_state.h"

#include <string.h>

#include "lib/json.h"
#include "lib/log.h"

/* Longest accepted latency / cost in a report (anything above is garbage). */
#define LATENCY_MAX 3600.0
#define COST_MAX 1000.0

static const char *const outcome_names[TRYON_N_OUTCOMES] = {
	"ok", "transient", "permanent", "auth", "cancelled", "timeout", "skipped",
};
static const char *const cache_names[TRYON_N_CACHE] = {
	"off", "hit", "miss", "error", "garbage",
};

const char *tryon_model_name(enum tryon_model m)
{
	return m == TRYON_PRIMARY ? "primary" : m == TRYON_BACKUP ? "backup" : "unknown";
}

const char *tryon_outcome_name(enum tryon_outcome o)
{
	return (unsigned)o < TRYON_N_OUTCOMES ? outcome_names[o] : "unknown";
}

const char *tryon_cache_name(enum tryon_cache_result c)
{
	return (unsigned)c < TRYON_N_CACHE ? cache_names[c] : "unknown";
}

static int name_lookup(const char *const *names, int n, const char *s, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == len && !memcmp(names[i], s, len))
			return i;
	return -1;
}

int tryon_outcome_parse(const char *s, size_t n)
{
	return name_lookup(outcome_names, TRYON_N_OUTCOMES, s, n);
}

int tryon_cache_parse(const char *s, size_t n)
{
	return name_lookup(cache_names, TRYON_N_CACHE, s, n);
}

void tryon_state_init(struct tryon_state *st, const struct config *cfg)
{
	memset(st, 0, sizeof *st);
	st->cfg = cfg;
	st->model[TRYON_PRIMARY].endpoint = cfg->primary_endpoint;
	st->model[TRYON_PRIMARY].price = cfg->price_primary;
	st->model[TRYON_BACKUP].endpoint = cfg->backup_endpoint;
	st->model[TRYON_BACKUP].price = cfg->price_backup;
	for (int m = 0; m < TRYON_N_MODELS; m++)
		/* A probe's job is killed at the hard limit at the latest. */
		breaker_init(&st->model[m].breaker, cfg->breaker_threshold, cfg->breaker_cooldown,
			     cfg->time_limit + 5);
	if (!cfg->cache_url)
		log_warn("tryon.cache_off", "reason=\"REDIS_CACHE_URL is not set: no result cache, no single-flight\"");
	if (!cfg->fal_key)
		log_warn("tryon.no_fal_key", "reason=\"FAL_KEY is not set: every try-on that misses the cache fails\"");
	log_info("tryon.ready", "primary=%s backup=%s breaker_threshold=%d breaker_cooldown=%g hedge_after=%g",
		 cfg->primary_endpoint, cfg->backup_endpoint, cfg->breaker_threshold,
		 cfg->breaker_cooldown, cfg->hedge_after);
}

static void log_change(const struct tryon_state *st, int m, enum breaker_state from)
{
	const struct tryon_model_state *ms = &st->model[m];
	enum breaker_state to = ms->breaker.state;

	if (to == from)
		return;
	if (to == BREAKER_OPEN)
		log_warn("tryon.breaker", "model=%s endpoint=%s from=%s to=open cooldown=%g opens=%lu",
			 tryon_model_name(m), ms->endpoint, breaker_state_name(from),
			 ms->breaker.cooldown, ms->breaker.opens);
	else
		log_warn("tryon.breaker", "model=%s endpoint=%s from=%s to=%s", tryon_model_name(m),
			 ms->endpoint, breaker_state_name(from), breaker_state_name(to));
}

void tryon_state_hints(struct tryon_state *st, double now, struct tryon_hints *h)
{
	memset(h, 0, sizeof *h);
	for (int m = 0; m < TRYON_N_MODELS; m++) {
		enum breaker_state before = st->model[m].breaker.state;
		h->gate[m] = breaker_decide(&st->model[m].breaker, now);
		log_change(st, m, before);
	}
	for (int m = 0; m < TRYON_N_MODELS; m++)
		h->latency[m].q = latency_quantile(&st->model[m].latency, 0.9, now, &h->latency[m].n);
}

static enum breaker_result breaker_result_of(enum tryon_outcome o)
{
	switch (o) {
	case TRYON_OUT_OK:
	case TRYON_OUT_PERMANENT:   /* it answered; the input was the problem */
		return BREAKER_SUCCESS;
	case TRYON_OUT_TRANSIENT:
	case TRYON_OUT_TIMEOUT:
		return BREAKER_FAILURE;
	default:
		return BREAKER_NEUTRAL;
	}
}

/* Token value as a short string span (string tokens only). */
static int tok_str(const struct json_doc *d, int tok, const char **s, size_t *n)
{
	if (tok < 0 || json_kind(d, tok) != JSON_K_STRING)
		return -1;
	*s = d->js + d->toks[tok].start;
	*n = (size_t)(d->toks[tok].end - d->toks[tok].start);
	return 0;
}

static double tok_num(const struct json_doc *d, int tok, double lo, double hi)
{
	double v;
	if (tok < 0 || json_tok_double(d, tok, &v, NULL, 0) != 0 || v < lo || v > hi)
		return -1;
	return v;
}

static void absorb_call(struct tryon_state *st, const struct tryon_hints *given,
			const struct json_doc *d, int call, int used[TRYON_N_MODELS], double now)
{
	const char *s;
	size_t n;
	int m, o;

	if (json_kind(d, call) != JSON_K_OBJECT)
		return;
	if (tok_str(d, json_obj_get(d, call, "model"), &s, &n) < 0)
		return;
	if (n == 7 && !memcmp(s, "primary", 7))
		m = TRYON_PRIMARY;
	else if (n == 6 && !memcmp(s, "backup", 6))
		m = TRYON_BACKUP;
	else
		return;
	if (tok_str(d, json_obj_get(d, call, "outcome"), &s, &n) < 0 ||
	    (o = tryon_outcome_parse(s, n)) < 0)
		return;

	struct tryon_model_state *ms = &st->model[m];
	ms->outcomes[o]++;
	double cost = tok_num(d, json_obj_get(d, call, "cost"), 0, COST_MAX);
	if (cost > 0) {
		ms->paid_calls++;
		ms->spend += cost;
	}
	double lat = tok_num(d, json_obj_get(d, call, "latency"), 0, LATENCY_MAX);
	int gave_up = 0;
	int t = json_obj_get(d, call, "gave_up_running");
	if (t >= 0 && json_tok_bool(d, t, &gave_up) < 0)
		gave_up = 0;
	/* A call the plan gave up while the model computed took at least this
	 * long: left out, the slowest calls would never be seen, the quantile
	 * would stay low, and every call past 1.25 times it would be given up
	 * (paid twice) for good. Counted at the time it was given up. */
	if ((o == TRYON_OUT_OK || gave_up) && lat > 0)
		latency_add(&ms->latency, lat, now);
	if (st->on_call)
		st->on_call(st->on_call_arg, (enum tryon_model)m, (enum tryon_outcome)o, lat > 0 ? lat : 0,
			    cost > 0 ? cost : 0);
	if (o == TRYON_OUT_SKIPPED)
		return;
	int probe = given && given->gate[m] == BREAKER_PROBE && !used[m];
	used[m] = 1;
	enum breaker_state before = ms->breaker.state;
	breaker_record(&ms->breaker, breaker_result_of(o), probe, now);
	log_change(st, m, before);
}

static void absorb_cache(struct tryon_state *st, int c, const struct json_doc *d, int root)
{
	st->cache[c]++;
	if (c == TRYON_CACHE_ERROR && !st->cache_outage) {
		char why[200] = "unknown";
		const char *s;
		size_t n;
		st->cache_outage = 1;
		if (tok_str(d, json_obj_get(d, root, "cache_error"), &s, &n) == 0) {
			char raw[160];
			n = n < sizeof raw - 1 ? n : sizeof raw - 1;
			memcpy(raw, s, n);
			raw[n] = '\0';
			log_quote(why, sizeof why, raw);
		}
		log_warn("tryon.cache_down", "reason=%s note=\"jobs go on without the cache; logged once per outage\"", why);
	} else if ((c == TRYON_CACHE_HIT || c == TRYON_CACHE_MISS) && st->cache_outage) {
		st->cache_outage = 0;
		log_info("tryon.cache_up", "errors_total=%lu", st->cache[TRYON_CACHE_ERROR]);
	} else if (c == TRYON_CACHE_GARBAGE) {
		log_warn("tryon.cache_garbage", "note=\"a cached value was not a result URL; treated as a miss\"");
	}
}

void tryon_state_absorb(struct tryon_state *st, const struct tryon_hints *given,
			const char *extra_json, size_t len, double now)
{
	struct json_doc d;
	int used[TRYON_N_MODELS] = { 0, 0 };
	const char *s;
	size_t n;

	st->jobs++;
	memset(&d, 0, sizeof d);
	if (!extra_json || !len || json_parse(&d, extra_json, len, 4096, NULL, 0) < 0 ||
	    json_kind(&d, 0) != JSON_K_OBJECT) {
		st->jobs_no_extra++;
		goto release;
	}
	if (tok_str(&d, json_obj_get(&d, 0, "path"), &s, &n) == 0) {
		if (n == 5 && !memcmp(s, "cache", 5))
			st->paths_cache++;
		else if (n == 7 && !memcmp(s, "primary", 7))
			st->paths_primary++;
		else if (n == 6 && !memcmp(s, "backup", 6))
			st->paths_backup++;
		else if (n == 5 && !memcmp(s, "hedge", 5))
			st->paths_hedge++;
		else if (n == 7 && !memcmp(s, "invalid", 7))
			st->paths_invalid++;
		else
			st->paths_failed++;
	}
	int c;
	if (tok_str(&d, json_obj_get(&d, 0, "cache"), &s, &n) == 0 && (c = tryon_cache_parse(s, n)) >= 0)
		absorb_cache(st, c, &d, 0);
	if (tok_str(&d, json_obj_get(&d, 0, "singleflight"), &s, &n) == 0) {
		if (n == 6 && !memcmp(s, "waited", 6))
			st->singleflight_waits++;
		else if (n == 6 && !memcmp(s, "holder", 6))
			st->singleflight_locks++;
	}
	double resumed = tok_num(&d, json_obj_get(&d, 0, "resumed"), 0, 2);
	if (resumed > 0)
		st->resumed += (unsigned long)resumed;
	if (tok_str(&d, json_obj_get(&d, 0, "limit"), &s, &n) == 0) {
		for (int l = 0; l < TRYON_N_LIMITS; l++) {
			const char *name = tryon_limit_name((enum tryon_limit)l);
			if (n != strlen(name) || memcmp(s, name, n))
				continue;
			int t = json_obj_get(&d, 0, "limit_refused");
			int refused = 0;
			if (t >= 0 && json_tok_bool(&d, t, &refused) == 0 && refused)
				st->limit_refusals[l]++;
			else
				st->limit_waits[l]++;
		}
	}
	int calls = json_obj_get(&d, 0, "calls");
	if (calls >= 0 && json_kind(&d, calls) == JSON_K_ARRAY)
		for (int i = 0, t; (t = json_arr_get(&d, calls, i)) >= 0; i++)
			absorb_call(st, given, &d, t, used, now);
release:
	/* A probe handed out but never made must not hold the breaker. */
	for (int m = 0; given && m < TRYON_N_MODELS; m++)
		if (given->gate[m] == BREAKER_PROBE && !used[m])
			breaker_release_probe(&st->model[m].breaker);
	json_doc_free(&d);
}

const char *tryon_limit_name(enum tryon_limit l)
{
	static const char *const names[TRYON_N_LIMITS] = { "pause", "rate", "concurrency", "budget" };
	return (unsigned)l < TRYON_N_LIMITS ? names[l] : "unknown";
}

void tryon_state_parent_answer(struct tryon_state *st, enum tryon_parent_answer a)
{
	st->jobs++;
	if (a == TRYON_PARENT_CACHE_HIT) {
		st->paths_cache++;
		st->cache[TRYON_CACHE_HIT]++;
		if (st->cache_outage) {
			st->cache_outage = 0;
			log_info("tryon.cache_up", "errors_total=%lu", st->cache[TRYON_CACHE_ERROR]);
		}
	} else {
		st->paths_invalid++;
	}
}

enum breaker_state tryon_state_breaker(const struct tryon_state *st, enum tryon_model m)
{
	return st->model[m].breaker.state;
}

double tryon_state_spend(const struct tryon_state *st, enum tryon_model m)
{
	return st->model[m].spend;
}

unsigned long tryon_state_outcomes(const struct tryon_state *st, enum tryon_model m,
				   enum tryon_outcome o)
{
	return st->model[m].outcomes[o];
}

unsigned long tryon_state_cache(const struct tryon_state *st, enum tryon_cache_result c)
{
	return st->cache[c];
}
