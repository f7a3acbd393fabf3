/* sentinel: reply readers and the status renderer. Every reader checks the
 * shape before it reads, so a sentinel (or a fuzzer) sending anything else
 * gets -1, never a crash. */
#include "redis/sentinel.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_str(const struct resp_value *v)
{
	return v && (v->type == RESP_BULK || v->type == RESP_SIMPLE) && v->str;
}

static int str_is(const struct resp_value *v, const char *s)
{
	size_t n = strlen(s);

	return is_str(v) && v->len == n && strncasecmp(v->str, s, n) == 0;
}

/* "1".."65535", digits only. */
static int parse_port(const char *s, size_t n, int *port)
{
	long v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/* A host a sentinel reports: an address or a DNS name, no spaces or
 * controls (it is logged and handed to getaddrinfo). */
static int host_ok(const char *s, size_t n)
{
	if (n == 0 || n >= SENTINEL_HOST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_' || c == ':' || c == '%'))
			return 0;
	}
	return 1;
}

int sentinel_parse_master_addr(const struct resp_value *v, char *host, int *port,
			       char *why, size_t whylen)
{
	if (!v) {
		snprintf(why, whylen, "no reply");
		return -1;
	}
	if (v->type == RESP_NIL || v->type == RESP_NIL_ARRAY) {
		snprintf(why, whylen, "sentinel does not know this master");
		return -1;
	}
	if (v->type == RESP_ERROR) {
		snprintf(why, whylen, "%.*s", (int)(v->len > 200 ? 200 : v->len), v->str ? v->str : "");
		return -1;
	}
	if (v->type != RESP_ARRAY || v->n_elems != 2 || !is_str(v->elems[0]) ||
	    !is_str(v->elems[1]) || !host_ok(v->elems[0]->str, v->elems[0]->len) ||
	    parse_port(v->elems[1]->str, v->elems[1]->len, port) < 0) {
		snprintf(why, whylen, "unexpected reply to SENTINEL get-master-addr-by-name");
		return -1;
	}
	memcpy(host, v->elems[0]->str, v->elems[0]->len);
	host[v->elems[0]->len] = '\0';
	return 0;
}

int sentinel_parse_role(const struct resp_value *v)
{
	if (!v || v->type != RESP_ARRAY || v->n_elems < 1)
		return -1;
	if (str_is(v->elems[0], "master"))
		return 1;
	if (str_is(v->elems[0], "slave") || str_is(v->elems[0], "replica") ||
	    str_is(v->elems[0], "sentinel"))
		return 0;
	return -1;
}

/* The next space-separated field of data[*pos..n): its start and length. */
static int field(const char *data, size_t n, size_t *pos, const char **f, size_t *fn)
{
	size_t i = *pos;

	while (i < n && data[i] == ' ')
		i++;
	if (i >= n)
		return -1;
	*f = data + i;
	while (i < n && data[i] != ' ')
		i++;
	*fn = (size_t)(data + i - *f);
	*pos = i;
	return 0;
}

int sentinel_parse_switch(const char *data, size_t n, const char *master, char *host, int *port)
{
	const char *f[5];
	size_t fn[5], pos = 0, rest;
	int p;

	if (!data || !master)
		return -1;
	for (int i = 0; i < 5; i++)
		if (field(data, n, &pos, &f[i], &fn[i]) < 0)
			return -1;
	rest = pos;
	while (rest < n && data[rest] == ' ')
		rest++;
	if (rest != n || !host_ok(f[3], fn[3]) || parse_port(f[4], fn[4], &p) < 0 ||
	    parse_port(f[2], fn[2], &(int){ 0 }) < 0)
		return -1;
	if (fn[0] != strlen(master) || memcmp(f[0], master, fn[0]) != 0)
		return 0;
	memcpy(host, f[3], fn[3]);
	host[fn[3]] = '\0';
	*port = p;
	return 1;
}

int sentinel_reply_means_failover(const struct resp_value *v)
{
	static const char *const words[] = { "READONLY", "LOADING", "MASTERDOWN", "NOREPLICAS" };

	if (!v || v->type != RESP_ERROR || !v->str)
		return 0;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t n = strlen(words[i]);
		if (v->len >= n && strncmp(v->str, words[i], n) == 0 &&
		    (v->len == n || v->str[n] == ' '))
			return 1;
	}
	return 0;
}

int sentinel_track_note(struct sentinel_track *t, const char *host, int port, double now)
{
	char cur[sizeof t->master];

	snprintf(cur, sizeof cur, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	if (!strcmp(cur, t->master))
		return 0;
	int first = t->master[0] == '\0';
	memcpy(t->previous, t->master, sizeof t->previous);
	memcpy(t->master, cur, sizeof cur);
	if (first)
		return 1;
	t->changes++;
	t->untaken = 1;
	t->last_switch = now;
	return 2;
}

int sentinel_track_take(struct sentinel_track *t)
{
	int r = t->untaken;

	t->untaken = 0;
	return r;
}

/* A bounded writer that counts what it could not write. */
struct jout {
	char *p;
	size_t len, cap;
};

static void put(struct jout *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++, o->len++)
		if (o->len + 1 < o->cap)
			o->p[o->len] = s[i];
}

static void put_s(struct jout *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_json_str(struct jout *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	put_s(o, "\"");
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(o, e, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			put(o, e, 6);
		} else {
			put(o, (const char *)&c, 1);
		}
	}
	put_s(o, "\"");
}

size_t sentinel_status_json(const struct sentinel_status *st, char *out, size_t outlen)
{
	struct jout o = { out, 0, outlen };
	char num[64];

	put_s(&o, "{\"master_name\":");
	put_json_str(&o, st->master_name ? st->master_name : "");
	put_s(&o, ",\"sentinels\":[");
	for (int i = 0; i < st->n_sentinels; i++) {
		if (i)
			put_s(&o, ",");
		put_json_str(&o, st->sentinels[i]);
	}
	put_s(&o, "],\"master\":");
	put_json_str(&o, st->master ? st->master : "");
	put_s(&o, ",\"state\":");
	put_json_str(&o, st->state ? st->state : "");
	snprintf(num, sizeof num, ",\"master_changes\":%lu,\"last_switch\":", st->master_changes);
	put_s(&o, num);
	if (st->last_switch > 0 && st->last_switch < 1e12)
		snprintf(num, sizeof num, "%.3f}", st->last_switch);
	else
		snprintf(num, sizeof num, "null}");
	put_s(&o, num);
	if (outlen)
		out[o.len < outlen ? o.len : outlen - 1] = '\0';
	return o.len;
}
