/* client: submit / call, with an optional wait for the result. */
#include "client.h"
#include "lib/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "celery/celery_msg.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "celery/kombu.h"
#include "lib/log.h"
#include "redis/redis_conn.h"
#include "redis/redis_sync.h"
#include "redis/redis_url.h"
#include "redis/resp.h"

struct client_args {
	const char *task;
	struct buf args_json, kwargs_json;
	const char *queue;
	double wait;         /* < 0: do not wait */
};

static int usage(const char *msg)
{
	fprintf(stderr, "tryon-worker: %s\n"
		"usage: tryon-worker submit PERSON_URL GARMENT_URL [--wait SECONDS] [--queue Q]\n"
		"       tryon-worker call TASK_NAME [ARGS_JSON [KWARGS_JSON]] [--wait SECONDS] [--queue Q]\n", msg);
	return CLIENT_EXIT_USAGE;
}

static int parse_args(const struct config *cfg, int argc, char **argv, struct client_args *a)
{
	const char *pos[4];
	int npos = 0;
	char err[256];

	a->queue = cfg->queues[0];
	a->wait = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--wait") && i + 1 < argc) {
			char *end;
			a->wait = strtod(argv[++i], &end);
			if (*end || a->wait < 0 || a->wait > 86400)
				return usage("--wait needs a number of seconds");
		} else if (!strcmp(argv[i], "--queue") && i + 1 < argc) {
			a->queue = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return usage("unknown option");
		} else if (npos < 4) {
			pos[npos++] = argv[i];
		} else {
			return usage("too many arguments");
		}
	}
	if (!strcmp(argv[0], "submit")) {
		if (npos != 2)
			return usage("submit needs PERSON_URL and GARMENT_URL");
		a->task = "app.tasks.virtual_tryon";
		buf_append_char(&a->args_json, '[');
		json_write_str(&a->args_json, pos[0], strlen(pos[0]), JSON_W_ASCII);
		buf_append_str(&a->args_json, ", ");
		json_write_str(&a->args_json, pos[1], strlen(pos[1]), JSON_W_ASCII);
		buf_append_char(&a->args_json, ']');
		buf_append_str(&a->kwargs_json, "{}");
		return 0;
	}
	if (npos < 1 || npos > 3)
		return usage("call needs TASK_NAME [ARGS_JSON [KWARGS_JSON]]");
	a->task = pos[0];
	buf_append_str(&a->args_json, npos > 1 ? pos[1] : "[]");
	buf_append_str(&a->kwargs_json, npos > 2 ? pos[2] : "{}");
	struct json_doc d;
	if (json_parse(&d, a->args_json.data, a->args_json.len, 1 << 16, err, sizeof err) < 0 ||
	    json_kind(&d, 0) != JSON_K_ARRAY) {
		json_doc_free(&d);
		return usage("ARGS_JSON must be a JSON array");
	}
	json_doc_free(&d);
	if (json_parse(&d, a->kwargs_json.data, a->kwargs_json.len, 1 << 16, err, sizeof err) < 0 ||
	    json_kind(&d, 0) != JSON_K_OBJECT) {
		json_doc_free(&d);
		return usage("KWARGS_JSON must be a JSON object");
	}
	json_doc_free(&d);
	return 0;
}

static struct redis_conn *connect_url(const struct redis_url *u, const struct trust_store *ts,
				      const char *name, char *err, size_t errlen)
{
	struct redis_conn_opts o = { .url = u, .trust = ts, .name = name,
				     .connect_timeout = 5, .io_timeout = 5 };
	struct redis_conn *c = redis_conn_new(&o, err, errlen);
	if (c && redis_sync_connect(c, 5, err, errlen) < 0) {
		redis_conn_free(c);
		return NULL;
	}
	return c;
}

/* Print a meta's outcome; returns the exit code, or -1 if not ready yet. */
static int report_meta(const char *meta, size_t len)
{
	struct json_doc d;
	char err[256];
	int rc = -1;

	if (json_parse(&d, meta, len, 1 << 20, err, sizeof err) < 0 || json_kind(&d, 0) != JSON_K_OBJECT) {
		json_doc_free(&d);
		return -1;
	}
	int st = json_obj_get(&d, 0, "status");
	int res = json_obj_get(&d, 0, "result");
	size_t s = 0, e = 0;
	if (res >= 0)
		json_tok_span(&d, res, &s, &e);
	if (json_tok_streq(&d, st, "SUCCESS")) {
		char *str = NULL;
		if (json_kind(&d, res) == JSON_K_STRING && json_tok_strdup(&d, res, &str, NULL, err, sizeof err) == 0)
			printf("%s\n", str);
		else
			printf("%.*s\n", (int)(e - s), meta + s);
		free(str);
		rc = 0;
	} else if (json_tok_streq(&d, st, "FAILURE") || json_tok_streq(&d, st, "REVOKED")) {
		char *type = NULL, *mod = NULL;
		int t = json_obj_get(&d, res, "exc_type"), m = json_obj_get(&d, res, "exc_module");
		int msg = json_obj_get(&d, res, "exc_message");
		size_t ms = 0, me = 0;
		if (msg >= 0)
			json_tok_span(&d, msg, &ms, &me);
		json_tok_strdup(&d, t, &type, NULL, err, sizeof err);
		json_tok_strdup(&d, m, &mod, NULL, err, sizeof err);
		size_t ss, se;
		json_tok_span(&d, st, &ss, &se);
		fprintf(stderr, "task %.*s: %s.%s: %.*s\n", (int)(se - ss - 2), meta + ss + 1,
			mod ? mod : "?", type ? type : "?", (int)(me - ms), meta + ms);
		free(type);
		free(mod);
		rc = CLIENT_EXIT_FAILED;
	}
	json_doc_free(&d);
	return rc;
}

int client_main(const struct config *cfg, const struct trust_store *ts, int argc, char **argv)
{
	struct client_args a = { 0 };
	struct redis_url bu = { 0 }, ru = { 0 };
	struct redis_conn *broker = NULL, *results = NULL;
	char err[512], id[37], tag[37], reply_to[37], origin[300], host[256] = "localhost";
	char meta_key[128];
	struct buf msg, key, member, list;
	int rc = CLIENT_EXIT_USAGE;

	buf_init(&a.args_json), buf_init(&a.kwargs_json);
	buf_init(&msg), buf_init(&key), buf_init(&member), buf_init(&list);
	if (parse_args(cfg, argc, argv, &a))
		goto out;
	if (redis_url_parse(cfg->broker_url, &bu, err, sizeof err) < 0 ||
	    redis_url_parse(cfg->result_url, &ru, err, sizeof err) < 0) {
		fprintf(stderr, "tryon-worker: invalid configuration: %s\n", err);
		goto out;
	}
	if (ids_uuid4(id) < 0 || ids_uuid4(tag) < 0 || ids_uuid4(reply_to) < 0) {
		fprintf(stderr, "tryon-worker: no randomness available\n");
		rc = CLIENT_EXIT_FAILED;
		goto out;
	}
	gethostname(host, sizeof host - 1);
	snprintf(origin, sizeof origin, "gen%d@%s", (int)getpid(), host);
	struct celery_task_spec spec = {
		.task = a.task, .id = id, .args_json = a.args_json.data, .kwargs_json = a.kwargs_json.data,
		.origin = origin, .reply_to = reply_to, .exchange = "", .routing_key = a.queue,
		.delivery_tag = tag,
	};
	if (celery_task_build(&msg, &spec, err, sizeof err) < 0) {
		fprintf(stderr, "tryon-worker: cannot build the message: %s\n", err);
		goto out;
	}
	rc = CLIENT_EXIT_FAILED;
	broker = connect_url(&bu, ts, "broker", err, sizeof err);
	if (!broker) {
		fprintf(stderr, "tryon-worker: broker: %s\n", err);
		goto out;
	}
	snprintf(meta_key, sizeof meta_key, "celery-task-meta-%s", id);
	if (a.wait >= 0) {
		/* Subscribe before publishing, as Celery's client does. */
		results = connect_url(&ru, ts, "results", err, sizeof err);
		struct resp_value *r = results ? redis_sync_callv(results, 5, err, sizeof err, "SUBSCRIBE", meta_key, NULL) : NULL;
		if (!r) {
			fprintf(stderr, "tryon-worker: result backend: %s\n", err);
			goto out;
		}
		resp_value_free(r);
	}
	kombu_binding(&key, &member, a.queue);
	kombu_priority_list(&list, a.queue, 0);
	const char *sadd[] = { "SADD", key.data, member.data };
	size_t sadd_l[] = { 4, key.len, member.len };
	const char *lpush[] = { "LPUSH", list.data, msg.data };
	size_t lpush_l[] = { 5, list.len, msg.len };
	struct resp_value *r1 = redis_sync_call(broker, 5, err, sizeof err, 3, sadd, sadd_l);
	struct resp_value *r2 = r1 ? redis_sync_call(broker, 5, err, sizeof err, 3, lpush, lpush_l) : NULL;
	int published = r2 && r2->type == RESP_INTEGER;
	if (r2 && r2->type == RESP_ERROR)
		snprintf(err, sizeof err, "%s", r2->str);
	resp_value_free(r1);
	resp_value_free(r2);
	if (!published) {
		fprintf(stderr, "tryon-worker: publish failed: %s\n", err);
		goto out;
	}
	printf("%s\n", id);
	fflush(stdout);
	if (a.wait < 0) {
		rc = 0;
		goto out;
	}

	double deadline = clock_mono() + a.wait;
	/* The result may already be there (a very fast worker). */
	struct resp_value *g = redis_sync_callv(results, 5, err, sizeof err, "GET", meta_key, NULL);
	int done = -1;
	if (g && g->type == RESP_BULK)
		done = report_meta(g->str, g->len);
	resp_value_free(g);
	while (done < 0) {
		double left = deadline - clock_mono();
		if (left <= 0)
			break;
		struct resp_value *p = redis_sync_wait_push(results, left, err, sizeof err);
		if (!p) {
			if (clock_mono() < deadline) {
				fprintf(stderr, "tryon-worker: result backend: %s\n", err);
				goto out;
			}
			break;
		}
		if (p->type == RESP_ARRAY && p->n_elems == 3 && p->elems[2]->type == RESP_BULK)
			done = report_meta(p->elems[2]->str, p->elems[2]->len);
		resp_value_free(p);
	}
	if (done < 0) {
		fprintf(stderr, "tryon-worker: no result for task %s within %g s\n", id, a.wait);
		rc = CLIENT_EXIT_TIMEOUT;
	} else {
		rc = done;
	}
out:
	redis_conn_free(broker);
	redis_conn_free(results);
	redis_url_free(&bu);
	redis_url_free(&ru);
	buf_free(&a.args_json), buf_free(&a.kwargs_json);
	buf_free(&msg), buf_free(&key), buf_free(&member), buf_free(&list);
	return rc;
}
