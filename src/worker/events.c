/* events: building and publishing worker and task events. */
#include "worker/events.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/ids.h"
#include "lib/pyrepr.h"
#include "version.h"

static void event_base(struct worker *w, struct celery_events_base *b, char tag[37])
{
	ids_uuid4(tag);
	memset(b, 0, sizeof *b);
	b->hostname = w->cfg->hostname;
	b->pid = getpid();
	b->clock = ++w->clock;
	b->timestamp = clock_wall();
	b->delivery_tag = tag;
}

static void publish(struct worker *w, const struct buf *channel, const struct buf *env)
{
	if (!redis_conn_is_ready(w->cmd))
		return;   /* events are fire-and-forget, as in Celery */
	const char *argv[] = { "PUBLISH", channel->data, env->data };
	size_t lens[] = { 7, channel->len, env->len };
	redis_conn_command(w->cmd, NULL, NULL, 0, 3, argv, lens);
}

void events_worker(struct worker *w, const char *type)
{
	struct celery_events_base b;
	struct celery_events_worker we = { 0 };
	struct buf ch, env;
	char tag[37], err[200];
	double load[3] = { 0, 0, 0 };

	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = load[1] = load[2] = 0;
		fclose(f);
	}
	event_base(w, &b, tag);
	we.freq = CELERY_EVENTS_HEARTBEAT_FREQ;
	we.active = w->busy;
	we.processed = w->started_count;
	memcpy(we.loadavg, load, sizeof load);
	we.sw_ver = version_string;
	buf_init(&ch), buf_init(&env);
	if (celery_events_worker_build(&ch, &env, worker_fanout_db(w), type, &b, &we, err, sizeof err) == 0)
		publish(w, &ch, &env);
	buf_free(&ch), buf_free(&env);
}

void events_task(struct worker *w, struct celery_events_task *ev)
{
	struct celery_events_base b;
	struct buf ch, env;
	char tag[37], err[200];

	if (!w->task_events)
		return;
	event_base(w, &b, tag);
	buf_init(&ch), buf_init(&env);
	if (celery_events_task_build(&ch, &env, worker_fanout_db(w), &b, ev, err, sizeof err) == 0)
		publish(w, &ch, &env);
	buf_free(&ch), buf_free(&env);
}

void events_task_simple(struct worker *w, int type, const struct msg *m)
{
	struct celery_events_task ev = { .type = type, .uuid = m->env.task_id };
	if (type == CELERY_EVENTS_TASK_RECEIVED) {
		ev.name = m->env.task;
		ev.args_repr = m->env.argsrepr;
		ev.kwargs_repr = m->env.kwargsrepr;
		ev.root_id = m->env.root_id;
		ev.parent_id = m->env.parent_id;
		ev.retries = m->env.retries;
		ev.eta = m->env.eta_str;
		ev.expires = m->env.expires_str;
	}
	events_task(w, &ev);
}

void events_task_exc(struct worker *w, int type, const struct msg *m, const char *exc_type,
			   const char *args_json, const char *traceback)
{
	struct buf repr;
	buf_init(&repr);
	pyrepr_exception(&repr, exc_type, args_json ? args_json : "[]", strlen(args_json ? args_json : "[]"));
	struct celery_events_task ev = { .type = type, .uuid = m->env.task_id,
					 .exception_repr = repr.data, .traceback = traceback };
	events_task(w, &ev);
	buf_free(&repr);
}

