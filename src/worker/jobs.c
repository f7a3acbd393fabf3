/* jobs: forking, watching and ending job children. */
#include "worker/jobs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "celery/celery_events.h"
#include "celery/exitclass.h"
#include "celery/record.h"
#include "lib/clock.h"
#include "lib/ids.h"
#include "lib/isotime.h"
#include "lib/log.h"
#include "lib/pyrepr.h"
#include "worker/events.h"
#include "worker/finish.h"
#include "lib/proc.h"
#include "tryon/ledger.h"
#include "worker/tasks.h"

int jobs_free_slot(const struct worker *w)
{
	/* Only the first `concurrency`: slots above it (after pool_shrink)
	 * run out what they hold and take nothing new. */
	for (int i = 0; i < w->concurrency && i < w->n_slots; i++)
		if (w->slots[i].state == SLOT_FREE)
			return i;
	return -1;
}

int jobs_running(const struct worker *w)
{
	int n = 0;
	for (int i = 0; i < w->n_slots; i++)
		n += w->slots[i].state != SLOT_FREE;
	return n;
}

/* In the child, after the prologue: run the task, write its record. */
static int job_main(void *arg, int record_fd)
{
	struct worker *w = arg;
	struct slot *s = w->child_slot;
	struct buf out;
	struct task_ctx ctx = {
		.cfg = w->cfg, .trust = w->ts, .tls_sessions = w->tls_sessions, .env = &s->msg->env,
		.started_at = w->started_wall,
		.slots_busy = w->busy, .slots_total = w->concurrency,
		.hints = s->hints,
	};

	buf_init(&out);
	tasks_run(&ctx, &out);
	if (out.failed || out.len == 0) {
		static const char oom[] = "{\"status\": \"FAILURE\", \"exc_type\": \"MemoryError\", "
			"\"exc_module\": \"builtins\", \"exc_message\": [], \"traceback\": null, \"retry\": false}";
		proc_write_all(record_fd, oom, sizeof oom - 1);
	} else {
		proc_write_all(record_fd, out.data, out.len);
	}
	return 0;
}

void jobs_start(struct worker *w, int i, struct msg *m)
{
	struct slot *s = &w->slots[i];
	const struct config *cfg = w->cfg;
	char err[256];
	double now = clock_mono();

	memset(s, 0, sizeof *s);
	s->state = SLOT_RUNNING;
	s->msg = m;
	s->fd = -1;
	buf_init(&s->record);
	s->fin.slot = i;
	/* Celery's order (Request.execute_using_pool): the message's own
	 * limits, then the task's (time_limit control), then the pool's. */
	const struct task_limit *tl = task_limit_find(w->limits, w->n_limits, m->env.task);
	s->hard = m->env.has_time_limit_hard ? m->env.time_limit_hard
		  : tl && tl->hard > 0 ? tl->hard : cfg->time_limit;
	s->soft = m->env.has_time_limit_soft ? m->env.time_limit_soft
		  : tl && tl->soft > 0 ? tl->soft : cfg->soft_time_limit;
	if (s->soft >= s->hard)
		s->soft = 0;   /* as in billiard: a soft limit past the hard one never fires */
	s->started = now;
	s->hard_deadline = now + s->hard;
	w->busy++;

	s->is_tryon = !strcmp(m->env.task, TASK_VIRTUAL_TRYON);
	if (s->is_tryon)
		tryon_state_hints(&w->tryon, now, &s->hints);
	struct proc_limits lim = { cfg->memory_limit_mb, s->soft, 256 };
	w->child_slot = s;
	s->pid = proc_spawn(&lim, job_main, w, &s->fd, err, sizeof err);
	w->child_slot = NULL;
	if (s->pid < 0) {
		/* Could not fork: ends like a lost worker (requeued, counted). */
		log_error("job.spawn_failed", "id=%s reason=\"%s\"", m->env.task_id, err);
		worker_note_error(w, "fork", err);
		s->exited = 1;
		s->record_eof = 1;
		s->status = 0x7f00; /* exit 127 */
		return;
	}
	metrics_inc(w->metrics, METRIC_TASKS_STARTED, m->env.task, NULL, 1);
	w->started_count++;
	events_task_simple(w, CELERY_EVENTS_TASK_STARTED, m);
	log_info("task.started", "task=%s id=%s pid=%d slot=%d", m->env.task, m->env.task_id, (int)s->pid, i);
}

int jobs_exited(struct worker *w, pid_t pid, int status, const struct rusage *ru)
{
	for (int i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (s->state == SLOT_RUNNING && s->pid == pid) {
			s->exited = 1;
			s->status = status;
			s->ru = *ru;
			return 1;
		}
	}
	return 0;
}

/* The exception message Celery's billiard writes for a lost worker. */
static void worker_lost_message(char *out, size_t n, int status, long job)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		const char *name = sig == SIGKILL ? "SIGKILL" : sig == SIGSEGV ? "SIGSEGV" :
				   sig == SIGABRT ? "SIGABRT" : sig == SIGTERM ? "SIGTERM" :
				   sig == SIGBUS ? "SIGBUS" : "signal";
		snprintf(out, n, "Worker exited prematurely: signal %d (%s) Job: %ld.", sig, name, job);
	} else {
		snprintf(out, n, "Worker exited prematurely: exitcode %d Job: %ld.",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1, job);
	}
}

/* Celery's retry: the same task again after the countdown. 0 or -1. */
static int build_retry(struct worker *w, const struct msg *m, struct buf *out, char eta[ISOTIME_BUFSZ])
{
	struct celery_body body;
	char err[256], tag[37];
	int rc = -1;

	isotime_format_utc(clock_wall() + w->cfg->retry_countdown, eta, ISOTIME_BUFSZ);
	ids_uuid4(tag);
	if (celery_body_parse(&body, m->env.body, m->env.body_len, m->env.protocol, err, sizeof err) == 0)
		rc = celery_retry_build(out, &m->env, &body, eta, tag, w->hostname_origin, err, sizeof err);
	celery_body_free(&body);
	if (rc < 0)
		log_error("task.retry_failed", "id=%s reason=\"%s\"", m->env.task_id, err);
	return rc;
}

/* A try-on child that died (killed, crashed, hard limit) cannot release its
 * single-flight lock: do it for it (compare-and-delete, so a lock another
 * task has taken since stays), waking whoever waits. Its paid requests stay
 * recorded for the next attempt. */
static void release_tryon_lock(struct worker *w, const struct msg *m)
{
	char owner[160];
	if (!w->cache || !m->lock_key[0] || !redis_conn_is_ready(w->cache))
		return;
	ledger_owner(owner, sizeof owner, m->env.task_id, w->cfg->hostname);
	const char *argv[] = { "EVAL", LEDGER_UNLOCK_LUA, "2", m->lock_key, m->wake_key, owner };
	if (redis_conn_command(w->cache, NULL, NULL, 0, 6, argv, NULL) == 0)
		log_info("tryon.lock_released", "id=%s note=\"job ended without a record\"", m->env.task_id);
}

/* The child has exited and its pipe is drained: decide and finish. */
static void complete(struct worker *w, int i)
{
	struct slot *s = &w->slots[i];
	struct msg *m = s->msg;
	struct record rec;
	struct exit_facts ef = { s->status, s->killed_hard, s->killed_revoke, EXIT_RECORD_NONE, NULL };
	struct exit_verdict v;
	char err[256] = "";
	int have_record = 0;
	double now = clock_mono();

	memset(&rec, 0, sizeof rec);
	if (s->record.len && s->record.len <= MAX_RECORD_BYTES &&
	    record_parse(&rec, s->record.data, s->record.len, err, sizeof err) == 0) {
		have_record = 1;
		ef.record = rec.ok ? EXIT_RECORD_SUCCESS : EXIT_RECORD_FAILURE;
		ef.exc_type = rec.exc_type;
	} else if (s->record.len) {
		log_warn("job.bad_record", "id=%s reason=\"%s\"", m->env.task_id, err);
	}
	if (s->is_tryon && !have_record)
		release_tryon_lock(w, m);
	if (s->is_tryon) {
		const char *x = NULL;
		size_t xn = 0;
		if (have_record && rec.extra_tok >= 0)
			record_raw(&rec, rec.extra_tok, &x, &xn);
		tryon_state_absorb(&w->tryon, &s->hints, x, xn, now);
	}
	exit_classify(&ef, &v);
	metrics_inc(w->metrics, METRIC_JOB_EXITS, v.label, NULL, 1);
	if (s->ru.ru_maxrss > 0)
		metrics_observe(w->metrics, METRIC_JOB_PEAK_MEMORY, NULL, NULL, (double)s->ru.ru_maxrss * 1024.0);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;

	struct outcome_facts facts = {
		.cause = OUTCOME_CAUSE_CHILD, .verdict = &v, .killed_for_shutdown = s->killed_shutdown,
		.has_record = have_record, .retry_wanted = have_record && !rec.ok && rec.retryable,
		.retries = m->env.retries, .max_retries = w->cfg->max_retries,
		.deliveries = m->env.deliveries, .max_redeliveries = w->cfg->max_redeliveries,
	};
	struct outcome o;
	struct finish_detail d = { .exit_label = v.label, .runtime = now - s->started };
	char lost[160], reason[300], limit[64], eta[ISOTIME_BUFSZ];
	struct buf retry, repr;
	buf_init(&retry);
	buf_init(&repr);

	outcome_decide(&facts, &o);
	if (o.move == OUTCOME_RETRY && build_retry(w, m, &retry, eta) < 0) {
		facts.retry_wanted = 0;
		outcome_decide(&facts, &o);
	}
	if (have_record && !rec.ok) {
		d.exc_type = rec.exc_type;
		d.exc_module = rec.exc_module;
		d.traceback = rec.traceback;
		const char *p;
		size_t n;
		record_raw(&rec, rec.exc_message_tok, &p, &n);
		buf_append(&repr, p, n);   /* NUL-terminated copy of the args array */
		d.exc_args_json = repr.data;
	}
	switch (o.move) {
	case OUTCOME_RETRY:
		d.retry_message = &retry;
		d.retry_eta = eta;
		break;
	case OUTCOME_REQUEUE_BACK:
	case OUTCOME_DEAD_LETTER:
		worker_lost_message(lost, sizeof lost, s->status, w->processed + 1);
		d.reason = lost;
		if (o.move == OUTCOME_DEAD_LETTER) {
			snprintf(reason, sizeof reason, "%s Lost %lld times (TRYON_MAX_REDELIVERIES=%d): not requeued.",
				 lost, (long long)m->env.deliveries + 1, w->cfg->max_redeliveries);
			d.reason = reason;
		}
		d.exc_args_json = NULL;
		break;
	default:
		break;
	}
	if (!strcmp(o.name, "hard_limit")) {
		snprintf(limit, sizeof limit, "[%g]", s->hard);
		d.exc_args_json = limit;
	} else if (!strcmp(o.name, "terminated")) {
		d.reason = "terminated";
		d.exc_args_json = NULL;
		/* A job that catches SIGTERM to cancel its requests exits by
		 * itself: report the signal that was sent. */
		d.signum = WIFSIGNALED(s->status) ? WTERMSIG(s->status) : s->revoke_signal;
	} else if (o.store == OUTCOME_STORE_RESULT) {
		record_raw(&rec, rec.result_tok, &d.result_json, &d.result_len);
		if (w->task_events) {
			buf_reset(&repr);
			pyrepr_saferepr(&repr, &rec.doc, rec.result_tok, 0, CELERY_REPR_MAXSIZE);
			d.result_repr = repr.data;
		}
	}
	if (s->is_tryon) {
		struct recent_end re = { .env = &m->env, .max_data_uri_bytes = (size_t)w->cfg->max_data_uri_bytes,
					 .at = clock_wall(), .outcome = o.name, .runtime = d.runtime,
					 .result_json = d.result_json, .result_len = d.result_len,
					 .exc_type = d.exc_type ? d.exc_type : o.exc_type, .reason = d.reason,
					 .exc_args_json = d.exc_args_json,
					 .exc_args_len = d.exc_args_json ? strlen(d.exc_args_json) : 0 };
		if (have_record && rec.extra_tok >= 0)
			record_raw(&rec, rec.extra_tok, &re.extra_json, &re.extra_len);
		recent_note(&w->recent, &re);
	}
	finish_end(w, m, i, &o, &d);
	buf_free(&retry);
	buf_free(&repr);
	record_free(&rec);
	buf_free(&s->record);
}

static void read_record(struct slot *s)
{
	char buf[8192];
	for (;;) {
		ssize_t n = read(s->fd, buf, sizeof buf);
		if (n > 0) {
			if (s->record.len + (size_t)n <= MAX_RECORD_BYTES + 1)
				buf_append(&s->record, buf, (size_t)n);
			continue;
		}
		if (n == 0)
			s->record_eof = 1;
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN)
			s->record_eof = 1;
		return;
	}
}

void jobs_pollfds(const struct worker *w, struct pollfd *pfds)
{
	for (int i = 0; i < w->n_slots; i++) {
		const struct slot *s = &w->slots[i];
		pfds[i] = (struct pollfd){ .fd = -1 };
		if (s->state == SLOT_RUNNING && s->fd >= 0 && !s->record_eof)
			pfds[i].fd = s->fd, pfds[i].events = POLLIN;
	}
}

void jobs_process(struct worker *w, const struct pollfd *pfds, double now)
{
	for (int i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (pfds && pfds[i].fd >= 0 && pfds[i].revents)
			read_record(s);
		if (s->state == SLOT_RUNNING && !s->exited && !s->killed_hard && now >= s->hard_deadline) {
			s->killed_hard = 1;
			proc_kill(s->pid, SIGKILL);
			log_warn("task.hard_limit", "id=%s limit=%g", s->msg->env.task_id, s->hard);
		}
		/* A child whose pipe closed but whose SIGCHLD we have not seen
		 * yet waits for the signal; one that exited is done once its
		 * pipe is drained. */
		if (s->state == SLOT_RUNNING && s->exited && !s->record_eof && s->fd >= 0)
			read_record(s);
		if (s->state == SLOT_RUNNING && s->exited && (s->record_eof || s->fd < 0))
			complete(w, i);
	}
}

double jobs_next_deadline(const struct worker *w, double until)
{
	for (int i = 0; i < w->n_slots; i++)
		if (w->slots[i].state == SLOT_RUNNING && !w->slots[i].exited && w->slots[i].hard_deadline < until)
			until = w->slots[i].hard_deadline;
	return until;
}

void jobs_kill_all(struct worker *w, const char *why)
{
	for (int i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (s->state == SLOT_RUNNING && !s->exited && !s->killed_shutdown) {
			s->killed_shutdown = 1;
			proc_kill(s->pid, SIGKILL);
			log_warn("task.killed", "id=%s reason=%s", s->msg->env.task_id, why);
		}
	}
}

void jobs_terminate(struct worker *w, const char *task_id, int signum)
{
	for (int k = 0; k < w->n_slots; k++) {
		struct slot *s = &w->slots[k];
		if (s->state == SLOT_RUNNING && s->msg && !s->exited && !strcmp(s->msg->env.task_id, task_id)) {
			s->killed_revoke = 1;
			s->revoke_signal = signum ? signum : SIGTERM;
			proc_kill(s->pid, s->revoke_signal);
			log_info("task.terminating", "id=%s signal=%d", task_id, signum);
		}
	}
}
