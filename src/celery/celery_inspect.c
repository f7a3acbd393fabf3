/* celery_inspect: the inspect replies. Semantics follow Celery 5.2.6
 * (worker/control.py's inspect commands, worker/request.py Request.info,
 * app/utils.py bugreport and filter_hidden_settings) and kombu 5.2.4
 * (Queue.as_dict, Connection.as_uri, maybe_sanitize_url); the byte layouts
 * are the ones captured in shared/reference/celery-captures. */
#include "celery/celery_inspect.h"

#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "lib/pyrepr.h"

/* Celery's timer priority for ETA requests, reported by `scheduled`. */
#define ETA_PRIORITY 6

/* ---- small JSON helpers ------------------------------------------------ */

/* ", \"key\": " */
static void w_key(struct buf *out, const char *key)
{
	buf_append_str(out, ", ");
	json_write_key(out, key);
}

/* Python writes an int-valued float config value (25.0) the way it was
 * given; ours are doubles, so integral values are written as ints. */
static void w_num(struct buf *out, double v)
{
	if (v > -9e15 && v < 9e15 && v == (double)(int64_t)v)
		json_write_int(out, (int64_t)v);
	else if (json_write_double(out, v) < 0)
		buf_append_str(out, "null");
}

static void w_double(struct buf *out, double v)
{
	if (json_write_double(out, v) < 0)
		buf_append_str(out, "null");
}

/* ---- tasks ------------------------------------------------------------ */

const struct celery_ctl_task *
celery_inspect_find(const struct celery_ctl_task *v, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].id && !strcmp(v[i].id, id))
			return &v[i];
	return NULL;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Python's sorted() of str is code point order, which for UTF-8 is byte
 * order: strcmp. */
void celery_inspect_registered(struct buf *out, const char *const *names,
			       size_t n)
{
	const char **v = malloc((n ? n : 1) * sizeof *v);
	size_t i, k = 0;

	if (!v) {
		out->failed = 1;
		return;
	}
	for (i = 0; i < n; i++)
		if (names[i] && strncmp(names[i], "celery.", 7) != 0)
			v[k++] = names[i];
	qsort(v, k, sizeof *v, cmp_names);
	buf_append_char(out, '[');
	for (i = 0; i < k; i++) {
		if (i)
			buf_append_str(out, ", ");
		json_write_cstr(out, v[i]);
	}
	buf_append_char(out, ']');
	free(v);
}

void celery_inspect_revoked(struct buf *out, const char *const *ids, size_t n)
{
	size_t i;

	buf_append_char(out, '[');
	for (i = 0; i < n; i++) {
		if (i)
			buf_append_str(out, ", ");
		json_write_cstr(out, ids[i]);
	}
	buf_append_char(out, ']');
}

/* Raw JSON text, validated (NULL -> dflt). */
static int w_raw_json(struct buf *out, const char *js, size_t n,
		      const char *dflt)
{
	if (!js)
		return json_write_raw(out, dflt, strlen(dflt));
	if (n == 0)
		n = strlen(js);
	if (json_validate(js, n, NULL, 0) < 0)
		return -1;
	return json_write_raw(out, js, n);
}

int celery_inspect_task_info(struct buf *out, const char *hostname,
			     const struct celery_ctl_task *t)
{
	if (!t->id || !t->name)
		return -1;
	buf_append_str(out, "{\"id\": ");
	json_write_cstr(out, t->id);
	w_key(out, "name");
	json_write_cstr(out, t->name);
	w_key(out, "args");
	if (w_raw_json(out, t->args_json, t->args_len, "[]") < 0)
		return -1;
	w_key(out, "kwargs");
	if (w_raw_json(out, t->kwargs_json, t->kwargs_len, "{}") < 0)
		return -1;
	w_key(out, "type");
	json_write_cstr(out, t->type ? t->type : t->name);
	w_key(out, "hostname");
	json_write_cstr(out, hostname);
	w_key(out, "time_start");
	if (t->time_start > 0)
		w_double(out, t->time_start);
	else
		buf_append_str(out, "null");
	/* Request.acknowledged: False until acknowledge() ran, which for an
	 * acks_late task (ours all are) is after it finished, so every task
	 * held or running shows False (celery/worker/request.py). */
	buf_printf(out, ", \"acknowledged\": %s, \"delivery_info\": "
			"{\"exchange\": ", t->acknowledged ? "true" : "false");
	json_write_cstr(out, t->exchange ? t->exchange : "");
	w_key(out, "routing_key");
	json_write_cstr(out, t->routing_key);
	buf_printf(out, ", \"priority\": %d, \"redelivered\": %s}, "
			"\"worker_pid\": ", t->priority,
		   t->redelivered ? "true" : "null");
	if (t->pid > 0)
		json_write_int(out, t->pid);
	else
		buf_append_str(out, "null");
	buf_append_char(out, '}');
	return 0;
}

int celery_inspect_tasks(struct buf *out, const char *hostname,
			 const struct celery_ctl_task *t, size_t n,
			 int scheduled)
{
	size_t i;

	buf_append_char(out, '[');
	for (i = 0; i < n; i++) {
		if (i)
			buf_append_str(out, ", ");
		if (scheduled) {
			buf_append_str(out, "{\"eta\": ");
			json_write_cstr(out, t[i].eta);
			buf_printf(out, ", \"priority\": %d, \"request\": ",
				   ETA_PRIORITY);
		}
		if (celery_inspect_task_info(out, hostname, &t[i]) < 0)
			return -1;
		if (scheduled)
			buf_append_char(out, '}');
	}
	buf_append_char(out, ']');
	return 0;
}

/* hello (mingle): {"revoked": {"<id>": [<ts>, "<id>"], ...}, "clock": N}
 * (LimitedSet._data entries). ts: when each id was revoked, in
 * CLOCK_MONOTONIC seconds as Celery stamps them (time.monotonic()); a peer
 * purges entries older than 3 hours by that clock, and it needs floats. */
static double tv_secs(struct timeval tv)
{
	/* Python's resource module: tv_sec + tv_usec * 1e-6, hence
	 * 0.09713899999999999 in the capture. */
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

void celery_inspect_stats(struct buf *out, const struct celery_ctl_stats *s)
{
	const struct rusage *r = s->rusage;
	size_t i, k = 0;

	buf_append_str(out, "{\"total\": {");
	for (i = 0; i < s->n_total; i++) {
		/* state.total_count is a Counter of tasks that ran */
		if (s->total_counts[i] <= 0)
			continue;
		if (k++)
			buf_append_str(out, ", ");
		json_write_key(out, s->total_names[i]);
		json_write_int(out, s->total_counts[i]);
	}
	/* str(app.clock): Celery sends the clock as a string here */
	buf_printf(out, "}, \"pid\": %lld, \"clock\": \"%lld\", \"uptime\": ",
		   (long long)s->pid, (long long)s->clock);
	json_write_int(out, pyrepr_round(s->uptime));

	buf_printf(out, ", \"pool\": {\"max-concurrency\": %d, \"processes\": [",
		   s->max_concurrency);
	for (i = 0; i < s->n_processes; i++) {
		if (i)
			buf_append_str(out, ", ");
		json_write_int(out, s->processes[i]);
	}
	buf_append_str(out, "], \"max-tasks-per-child\": ");
	if (s->max_tasks_per_child > 0)
		json_write_int(out, s->max_tasks_per_child);
	else
		buf_append_str(out, "\"N/A\"");
	buf_append_str(out, ", \"put-guarded-by-semaphore\": false, "
			    "\"timeouts\": [");
	w_num(out, s->soft_time_limit > 0 ? s->soft_time_limit : 0);
	buf_append_str(out, ", ");
	w_num(out, s->time_limit > 0 ? s->time_limit : 0);
	buf_append_str(out, "], \"implementation\": ");
	json_write_cstr(out, s->implementation ? s->implementation
					       : "tryon-worker:prefork");

	buf_append_str(out, "}, \"broker\": {\"hostname\": ");
	json_write_cstr(out, s->broker_host);
	w_key(out, "userid");
	json_write_cstr(out, s->broker_user);
	buf_printf(out, ", \"virtual_host\": \"%d\", \"port\": %d, "
			"\"insist\": false, \"ssl\": %s, "
			"\"transport\": \"%s\", \"transport_options\": {",
		   s->broker_db, s->broker_port,
		   s->broker_ssl ? "true" : "false",
		   s->broker_transport ? s->broker_transport : "redis");
	if (s->visibility_timeout > 0)
		buf_printf(out, "\"visibility_timeout\": %lld",
			   (long long)s->visibility_timeout);
	buf_printf(out, "}, \"login_method\": null, \"uri_prefix\": null}, "
			"\"prefetch_count\": %lld, \"rusage\": ",
		   (long long)s->prefetch_count);
	if (!r) {
		buf_append_str(out, "\"N/A\"}");
		return;
	}
	buf_append_str(out, "{\"utime\": ");
	w_double(out, tv_secs(r->ru_utime));
	buf_append_str(out, ", \"stime\": ");
	w_double(out, tv_secs(r->ru_stime));
	buf_printf(out,
		   ", \"maxrss\": %ld, \"ixrss\": %ld, \"idrss\": %ld, "
		   "\"isrss\": %ld, \"minflt\": %ld, \"majflt\": %ld, "
		   "\"nswap\": %ld, \"inblock\": %ld, \"oublock\": %ld, "
		   "\"msgsnd\": %ld, \"msgrcv\": %ld, \"nsignals\": %ld, "
		   "\"nvcsw\": %ld, \"nivcsw\": %ld}}",
		   (long)r->ru_maxrss, (long)r->ru_ixrss, (long)r->ru_idrss,
		   (long)r->ru_isrss, (long)r->ru_minflt, (long)r->ru_majflt,
		   (long)r->ru_nswap, (long)r->ru_inblock, (long)r->ru_oublock,
		   (long)r->ru_msgsnd, (long)r->ru_msgrcv,
		   (long)r->ru_nsignals, (long)r->ru_nvcsw,
		   (long)r->ru_nivcsw);
}

/* ---- queues, settings, report -------------------------------------------- */

/* kombu's Queue.as_dict(recurse=True) for a queue declared the way Celery
 * declares one by name (task_create_missing_queues): a direct exchange and a
 * routing key of the queue's own name, everything else default. Keys and
 * values as a 5.2.6 worker sends them for tryon_queue. */
static void w_queue_dict(struct buf *out, const char *name)
{
	buf_append_str(out, "{\"name\": ");
	json_write_cstr(out, name);
	buf_append_str(out, ", \"exchange\": {\"name\": ");
	json_write_cstr(out, name);
	buf_append_str(out, ", \"type\": \"direct\", \"arguments\": null, "
			    "\"durable\": true, \"passive\": false, "
			    "\"auto_delete\": false, \"delivery_mode\": null, "
			    "\"no_declare\": false}, \"routing_key\": ");
	json_write_cstr(out, name);
	buf_append_str(out, ", \"queue_arguments\": null, "
			    "\"binding_arguments\": null, "
			    "\"consumer_arguments\": null, \"durable\": true, "
			    "\"exclusive\": false, \"auto_delete\": false, "
			    "\"no_ack\": false, \"alias\": null, \"bindings\": [], "
			    "\"no_declare\": null, \"expires\": null, "
			    "\"message_ttl\": null, \"max_length\": null, "
			    "\"max_length_bytes\": null, \"max_priority\": null}");
}

void celery_inspect_active_queues(struct buf *out, const char *const *queues,
				  size_t n)
{
	size_t i;

	buf_append_char(out, '[');
	for (i = 0; i < n; i++) {
		if (i)
			buf_append_str(out, ", ");
		w_queue_dict(out, queues[i]);
	}
	buf_append_char(out, ']');
}

#define MASK "********"   /* filter_hidden_settings' mask */
#define MASK_REPORT "**"  /* maybe_sanitize_url's default, in bugreport() */

/* kombu's safequote: urllib.parse.quote(s, safe=''). */
static void w_quote(struct buf *out, const char *s, int lower)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (lower && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		    c == '-' || c == '~')
			buf_append_char(out, (char)c);
		else
			buf_printf(out, "%%%02X", c);
	}
}

/* A URL with the password replaced by mask. broker_form: kombu's
 * Connection.as_uri(mask=...), which Celery uses for broker_url (the port
 * always shown); else maybe_sanitize_url, which Celery uses for the result
 * backend. Both drop the query; urlparse lowercases scheme and host. We
 * always know the port, so the sanitized form shows it even where the
 * configured URL left it out. A unix socket URL takes the sanitized form
 * (kombu has no unix transport to render it). */
static void w_url_text(struct buf *out, const struct celery_ctl_url *u,
		       const char *mask, int broker_form)
{
	w_quote(out, u->scheme ? u->scheme : "redis", 1);
	buf_append_str(out, "://");
	if ((u->user && *u->user) || u->has_password) {
		if (u->user)
			w_quote(out, u->user, 0);
		if (u->has_password) {
			buf_append_char(out, ':');
			buf_append_str(out, mask);
		}
		buf_append_char(out, '@');
	}
	if (u->path) {
		buf_append_str(out, u->path[0] == '/' ? "" : "/");
		buf_append_str(out, u->path);
		return;
	}
	w_quote(out, u->host && *u->host ? u->host : "localhost", 1);
	if (u->port > 0 || broker_form)
		buf_printf(out, ":%d", u->port > 0 ? u->port : 6379);
	buf_printf(out, "/%d", u->db);
}

/* 1 when s contains needle, ASCII case-insensitively. */
static int has_ci(const char *s, const char *needle)
{
	size_t n = strlen(needle), i;

	for (; *s; s++) {
		for (i = 0; i < n && s[i]; i++) {
			char a = s[i], b = needle[i];

			if (a >= 'A' && a <= 'Z')
				a = (char)(a - 'A' + 'a');
			if (b >= 'A' && b <= 'Z')
				b = (char)(b - 'A' + 'a');
			if (a != b)
				break;
		}
		if (i == n)
			return 1;
	}
	return 0;
}

/* celery.app.utils.HIDDEN_SETTINGS */
static int hidden_key(const char *key)
{
	static const char *const words[] = {
		"API", "TOKEN", "KEY", "SECRET", "PASS", "PROFANITIES_LIST",
		"SIGNATURE", "DATABASE",
	};
	size_t i;

	for (i = 0; i < sizeof words / sizeof words[0]; i++)
		if (has_ci(key, words[i]))
			return 1;
	return 0;
}

/* What filter_hidden_settings makes of a setting: ours by kind. */
enum shown { SHOWN_MASK, SHOWN_MAP, SHOWN_URL, SHOWN_VALUE };

static int shown_as(const struct celery_ctl_setting *s, int *broker_form)
{
	*broker_form = 0;
	if (s->kind == CELERY_CTL_V_MAP)
		return SHOWN_MAP; /* a Mapping is filtered first, by its keys */
	if (hidden_key(s->key ? s->key : ""))
		return SHOWN_MASK;
	if (s->kind == CELERY_CTL_V_URL && s->url) {
		*broker_form = has_ci(s->key ? s->key : "", "broker_url");
		return SHOWN_URL;
	}
	return SHOWN_VALUE;
}

#define MAX_SETTING_DEPTH 4

/* One value as jsonify() writes it. */
static void w_setting_json(struct buf *out, const struct celery_ctl_setting *s,
			   int depth)
{
	struct buf t;
	size_t i;
	int broker_form;

	switch (shown_as(s, &broker_form)) {
	case SHOWN_MASK:
		json_write_cstr(out, MASK);
		return;
	case SHOWN_URL:
		buf_init(&t);
		w_url_text(&t, s->url, MASK, broker_form);
		if (t.failed)
			out->failed = 1;
		else
			json_write_cstr(out, t.data);
		buf_free(&t);
		return;
	case SHOWN_MAP:
		buf_append_char(out, '{');
		for (i = 0; depth < MAX_SETTING_DEPTH && i < s->n; i++) {
			if (i)
				buf_append_str(out, ", ");
			json_write_key(out, s->map[i].key ? s->map[i].key : "");
			w_setting_json(out, &s->map[i], depth + 1);
		}
		buf_append_char(out, '}');
		return;
	default:
		break;
	}
	switch (s->kind) {
	case CELERY_CTL_V_BOOL:
		buf_append_str(out, s->i ? "true" : "false");
		break;
	case CELERY_CTL_V_INT:
		json_write_int(out, s->i);
		break;
	case CELERY_CTL_V_NUM:
		w_num(out, s->num);
		break;
	case CELERY_CTL_V_STR:
		json_write_cstr(out, s->str); /* NULL -> null */
		break;
	case CELERY_CTL_V_STRS:
		buf_append_char(out, '[');
		for (i = 0; i < s->n; i++) {
			if (i)
				buf_append_str(out, ", ");
			json_write_cstr(out, s->strs[i]);
		}
		buf_append_char(out, ']');
		break;
	default:
		buf_append_str(out, "null");
		break;
	}
}

void celery_inspect_conf(struct buf *out, const struct celery_ctl_setting *set,
			 size_t n)
{
	size_t i;

	buf_append_char(out, '{');
	for (i = 0; i < n; i++) {
		if (i)
			buf_append_str(out, ", ");
		json_write_key(out, set[i].key ? set[i].key : "");
		w_setting_json(out, &set[i], 0);
	}
	buf_append_char(out, '}');
}

static void w_pystr(struct buf *out, const char *s)
{
	if (pyrepr_str(out, s, strlen(s)) < 0)
		out->failed = 1;
}

static int cmp_settings(const void *a, const void *b)
{
	const struct celery_ctl_setting *x = *(const struct celery_ctl_setting *const *)a;
	const struct celery_ctl_setting *y = *(const struct celery_ctl_setting *const *)b;

	return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

/* repr() of a value as pprint.pformat prints it (dicts with sorted keys,
 * on one line: ours are short). */
static void w_setting_repr(struct buf *out, const struct celery_ctl_setting *s,
			   int depth)
{
	const struct celery_ctl_setting **v;
	struct buf t;
	size_t i;
	int broker_form;

	switch (shown_as(s, &broker_form)) {
	case SHOWN_MASK:
		w_pystr(out, MASK);
		return;
	case SHOWN_URL:
		buf_init(&t);
		w_url_text(&t, s->url, MASK, broker_form);
		if (t.failed)
			out->failed = 1;
		else
			w_pystr(out, t.data);
		buf_free(&t);
		return;
	case SHOWN_MAP:
		v = malloc((s->n ? s->n : 1) * sizeof *v);
		if (!v) {
			out->failed = 1;
			return;
		}
		for (i = 0; i < s->n; i++)
			v[i] = &s->map[i];
		qsort(v, s->n, sizeof *v, cmp_settings);
		buf_append_char(out, '{');
		for (i = 0; depth < MAX_SETTING_DEPTH && i < s->n; i++) {
			if (i)
				buf_append_str(out, ", ");
			w_pystr(out, v[i]->key ? v[i]->key : "");
			buf_append_str(out, ": ");
			w_setting_repr(out, v[i], depth + 1);
		}
		buf_append_char(out, '}');
		free(v);
		return;
	default:
		break;
	}
	switch (s->kind) {
	case CELERY_CTL_V_BOOL:
		buf_append_str(out, s->i ? "True" : "False");
		break;
	case CELERY_CTL_V_INT:
		json_write_int(out, s->i);
		break;
	case CELERY_CTL_V_NUM:
		w_num(out, s->num);
		break;
	case CELERY_CTL_V_STR:
		if (s->str)
			w_pystr(out, s->str);
		else
			buf_append_str(out, "None");
		break;
	case CELERY_CTL_V_STRS:
		buf_append_char(out, '[');
		for (i = 0; i < s->n; i++) {
			if (i)
				buf_append_str(out, ", ");
			w_pystr(out, s->strs[i] ? s->strs[i] : "");
		}
		buf_append_char(out, ']');
		break;
	default:
		buf_append_str(out, "None");
		break;
	}
}

/* Celery's bugreport(): BUGREPORT_INFO filled in, the settings as
 * app.conf.humanize() writes them ("key: pretty(value, width=50)"; a dict
 * as "{\n " + its pformat without the brace). */
void celery_inspect_report(struct buf *text, const struct celery_ctl_report *r,
			   const struct celery_ctl_setting *set, size_t n)
{
	struct buf v;
	size_t i;

#define S(x) ((x) ? (x) : "")
	buf_printf(text, "\nsoftware -> %s\n            %s\n"
			 "platform -> system:%s arch:%s\n"
			 "            kernel version:%s imp:%s\n"
			 "loader   -> %s\n"
			 "settings -> transport:%s results:",
		   S(r->software), S(r->libraries), S(r->system), S(r->arch),
		   S(r->kernel), S(r->imp), S(r->loader), S(r->transport));
#undef S
	if (r->results)
		w_url_text(text, r->results, MASK_REPORT, 0);
	else
		buf_append_str(text, "disabled");
	buf_append_str(text, "\n\n");
	for (i = 0; i < n; i++) {
		const struct celery_ctl_setting *s = &set[i];

		if (i)
			buf_append_char(text, '\n');
		buf_printf(text, "%s: ", s->key ? s->key : "");
		if (s->kind != CELERY_CTL_V_MAP) {
			w_setting_repr(text, s, 0);
			continue;
		}
		/* pretty(): "{\n " + pformat(value)[1:] */
		buf_init(&v);
		w_setting_repr(&v, s, 0);
		if (v.failed || v.len < 1)
			text->failed = 1;
		else
			buf_printf(text, "{\n %s", v.data + 1);
		buf_free(&v);
	}
	buf_append_char(text, '\n');
}
