/* state: message lists, the revoked ring and the last error. */
#include "worker/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/isotime.h"
#include "celery/kombu.h"
#include "redis/resp.h"

void lookup_free(struct lookup *l)
{
	if (!l)
		return;
	tryon_args_free(&l->args);
	free(l->hit);
	free(l);
}

void msg_free(struct msg *m)
{
	if (!m)
		return;
	if (m->lookup) {
		if (m->lookup->done)
			lookup_free(m->lookup);
		else
			m->lookup->m = NULL;   /* its reply frees it */
	}
	free(m->raw);
	celery_envelope_free(&m->env);
	free(m->queue);
	free(m);
}

void msgs_free(struct msg *m)
{
	for (struct msg *nx; m; m = nx)
		nx = m->next, msg_free(m);
}

struct msg *msg_from_unacked(const struct resp_value *tag, const struct resp_value *value, size_t max_bytes)
{
	size_t off, len;
	char *ex = NULL, *rk = NULL, err[256];
	struct msg *m;

	if (!resp_cstr(tag) || !resp_str(value, NULL) ||
	    kombu_unacked_parse(value->str, value->len, &off, &len, &ex, &rk, err, sizeof err) < 0)
		return NULL;
	free(ex);
	if (!(m = calloc(1, sizeof *m)) || !(m->raw = malloc(len + 1))) {
		free(m);
		free(rk);
		return NULL;
	}
	memcpy(m->raw, value->str + off, len);
	m->raw[len] = '\0';
	m->raw_len = len;
	m->recorded = 1;
	m->received_at = clock_wall();
	if (celery_envelope_parse(m->raw, m->raw_len, max_bytes, &m->env, err, sizeof err) < 0 ||
	    !m->env.delivery_tag || strcmp(m->env.delivery_tag, tag->str) || !m->env.task || !m->env.task_id) {
		free(rk);
		msg_free(m);
		return NULL;
	}
	m->queue = strdup(rk ? rk : m->env.routing_key ? m->env.routing_key : "");
	free(rk);
	return m;
}

void msgs_ready_push(struct worker *w, struct msg *m)
{
	m->next = NULL;
	if (w->ready_tail)
		w->ready_tail->next = m;
	else
		w->ready = m;
	w->ready_tail = m;
	w->n_ready++;
}

struct msg *msgs_ready_pop(struct worker *w)
{
	struct msg *m = w->ready;
	if (!m)
		return NULL;
	w->ready = m->next;
	if (!w->ready)
		w->ready_tail = NULL;
	w->n_ready--;
	m->next = NULL;
	return m;
}

void msgs_eta_insert(struct worker *w, struct msg *m)
{
	struct msg **p = &w->eta;
	while (*p && (*p)->env.eta <= m->env.eta)
		p = &(*p)->next;
	m->next = *p;
	*p = m;
	w->n_eta++;
}

struct msg *msgs_eta_pop_due(struct worker *w, double now)
{
	struct msg *m = w->eta;
	if (!m || m->env.eta > now)
		return NULL;
	w->eta = m->next;
	w->n_eta--;
	m->next = NULL;
	return m;
}

struct msg *msgs_take_held(struct worker *w, const char *task_id)
{
	for (struct msg **p = &w->eta; *p; p = &(*p)->next) {
		if (!strcmp((*p)->env.task_id, task_id)) {
			struct msg *m = *p;
			*p = m->next;
			w->n_eta--;
			m->next = NULL;
			return m;
		}
	}
	for (struct msg **p = &w->ready, *prev = NULL; *p; prev = *p, p = &(*p)->next) {
		if (!strcmp((*p)->env.task_id, task_id)) {
			struct msg *m = *p;
			*p = m->next;
			if (w->ready_tail == m)
				w->ready_tail = prev;
			w->n_ready--;
			m->next = NULL;
			return m;
		}
	}
	return NULL;
}

static int revoked_index(const struct worker *w, const char *id)
{
	for (int i = 0; i < w->n_revoked; i++)
		if (w->revoked[i] && !strcmp(w->revoked[i], id))
			return i;
	return -1;
}

int revoked_has(const struct worker *w, const char *id)
{
	return w->revoked && revoked_index(w, id) >= 0;
}

void revoked_add(struct worker *w, const char *id, double at)
{
	if (!w->revoked || revoked_index(w, id) >= 0)
		return;
	int i = w->revoked_next;
	free(w->revoked[i]);
	w->revoked[i] = strdup(id);
	w->revoked_at[i] = at;
	w->revoked_next = (i + 1) % MAX_REVOKED;
	if (w->n_revoked < MAX_REVOKED)
		w->n_revoked++;
}

void worker_note_error(struct worker *w, const char *what, const char *why)
{
	char ts[ISOTIME_BUFSZ];
	isotime_format_utc(clock_wall(), ts, sizeof ts);
	snprintf(w->last_error, sizeof w->last_error, "%s %s: %.200s", ts, what, why ? why : "");
}

long worker_queue_depth(const struct worker *w, int k)
{
	long n = 0;
	if (w->lens_gen != w->queues_gen || k < 0 || k >= w->n_queues)
		return 0;
	for (int step = 0; step < 4; step++)
		n += w->lens[4 * k + step] > 0 ? w->lens[4 * k + step] : 0;
	return n;
}
