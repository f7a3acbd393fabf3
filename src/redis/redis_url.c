/* redis_url: libcurl's URL API does the splitting and percent-decoding; this
 * file adds what curl cannot know about Redis URLs (empty authorities, the
 * db number, the query parameters redis-py accepts) and the redaction. */
#include "redis/redis_url.h"
#include "lib/hex.h"
#include "lib/errmsg.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>

#define SCHEME_MAX 16


/* Length of a well-formed scheme ending in "://" at the start of url, or 0. */
static size_t scheme_len(const char *url)
{
	size_t n = 0;

	if (!isalpha((unsigned char)url[0]))
		return 0;
	while (n <= SCHEME_MAX && (isalnum((unsigned char)url[n]) || url[n] == '+' ||
				   url[n] == '-' || url[n] == '.'))
		n++;
	if (n > SCHEME_MAX || strncmp(url + n, "://", 3) != 0)
		return 0;
	return n;
}

/* "0".."REDIS_URL_MAX_DB", digits only. */
static int parse_db(const char *s, int *out)
{
	long v = 0;

	if (!*s || strlen(s) > 7)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v > REDIS_URL_MAX_DB)
		return -1;
	*out = (int)v;
	return 0;
}

/* Form-decode n bytes of a query component ("+" is a space, %XX a byte) into
 * a new string. Control characters (including NUL) are refused, as curl
 * refuses them in the userinfo. NULL on bad input or out of memory. */
static char *query_decode(const char *p, size_t n)
{
	char *o = malloc(n + 1);
	size_t j = 0;

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (n - i < 3 || hex_digit(p[i + 1]) < 0 || hex_digit(p[i + 2]) < 0) {
				free(o);
				return NULL;
			}
			c = hex_digit(p[i + 1]) * 16 + hex_digit(p[i + 2]);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			free(o);
			return NULL;
		}
		o[j++] = (char)c;
	}
	o[j] = '\0';
	return o;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* The parameters we read; the sentinel ones only matter for sentinel://. */
enum { Q_DB, Q_PASSWORD, Q_USERNAME, Q_VHOST, Q_MASTER, Q_SPASSWORD, Q_STLS, Q_WAITN, Q_WAITMS, Q_N };

struct query {
	char *v[Q_N];
	int bad;             /* a known parameter could not be decoded */
	const char *bad_name;
};

static const char *const query_known[Q_N] = {
	"db", "password", "username", "virtual_host", "master_name", "sentinel_password", "sentinel_tls",
	"wait_replicas", "wait_timeout_ms"
};

/* "lo".."hi", digits only. */
static int parse_bounded(const char *s, int lo, int hi, int *out)
{
	long v = 0;

	if (!*s || strlen(s) > 6)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* wait_replicas and wait_timeout_ms (any scheme). */
static int apply_wait(struct redis_url *out, const struct query *q, char *err, size_t errlen)
{
	out->wait_timeout_ms = REDIS_URL_WAIT_TIMEOUT_MS;
	if (q->v[Q_WAITN] && parse_bounded(q->v[Q_WAITN], 0, REDIS_URL_MAX_WAIT, &out->wait_replicas) < 0) {
		errmsg_set(err, errlen, "invalid Redis URL: wait_replicas must be 0..%d", REDIS_URL_MAX_WAIT);
		return -1;
	}
	if (q->v[Q_WAITMS] && parse_bounded(q->v[Q_WAITMS], 1, 60000, &out->wait_timeout_ms) < 0) {
		errmsg_set(err, errlen, "invalid Redis URL: wait_timeout_ms must be 1..60000");
		return -1;
	}
	return 0;
}

static void query_free(struct query *q)
{
	for (int k = 0; k < Q_N; k++)
		wipe_free(q->v[k]);
	memset(q, 0, sizeof *q);
}

/* Pick the known parameters out of a raw query string; the last
 * occurrence of a parameter wins. Unknown parameters are ignored. */
static int query_parse(const char *qs, struct query *q)
{
	const char *const *known = query_known;
	const char *p = qs;

	while (*p) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t kn = eq ? (size_t)(eq - p) : n;

		for (size_t k = 0; k < Q_N; k++) {
			if (kn != strlen(known[k]) || strncmp(p, known[k], kn) != 0)
				continue;
			char *v = eq ? query_decode(eq + 1, n - kn - 1) : strdup("");
			if (!v) {
				q->bad = 1;
				q->bad_name = known[k];
				return -1;
			}
			wipe_free(q->v[k]);
			q->v[k] = v;
		}
		if (!amp)
			break;
		p = amp + 1;
	}
	return 0;
}

/* curl treats "scheme:///x" as host "x", and refuses an empty host; Redis
 * URLs use both "unix:///path" and "redis://" (localhost). Give curl a host
 * it can parse: insert "localhost" when the authority has no host part.
 * Returns a new string, NULL with *bad set when a unix:// URL names a host,
 * or NULL (out of memory). */
static char *fill_empty_host(const char *url, size_t slen, int is_unix, int *bad)
{
	const char *auth = url + slen + 3;
	size_t an = strcspn(auth, "/?#");
	char *s;

	*bad = 0;
	if (an > 0 && auth[an - 1] != '@') {
		if (is_unix) {
			*bad = 1;
			return NULL;
		}
		return strdup(url);
	}
	size_t pre = (size_t)(auth - url) + an;
	size_t total = strlen(url);
	s = malloc(total + sizeof "localhost");
	if (!s)
		return NULL;
	memcpy(s, url, pre);
	memcpy(s + pre, "localhost", 9);
	memcpy(s + pre + 9, url + pre, total - pre + 1);
	return s;
}

/* curl decodes %XX in a host name but only normalises a literal one ("3"
 * becomes 0.0.0.3, "%33" stays "3"), so the same URL could name two
 * servers; host names never need %-encoding, so refuse it (an IPv6 zone,
 * "[fe80::1%25eth0]", is not a host name). */
static int host_has_pct(const char *url, size_t slen)
{
	const char *auth = url + slen + 3;
	size_t an = strcspn(auth, "/?#");
	const char *host = auth;

	for (size_t i = 0; i < an; i++)
		if (auth[i] == '@')
			host = auth + i + 1;
	an -= (size_t)(host - auth);
	return host[0] != '[' && memchr(host, '%', an) != NULL;
}

/* Fetch one part; NULL when absent. *rc gets the curl code for real errors. */
static char *get_part(CURLU *h, CURLUPart part, unsigned flags, CURLUcode *rc)
{
	char *p = NULL;
	CURLUcode r = curl_url_get(h, part, &p, flags);

	if (r == CURLUE_OK)
		return p;
	switch (r) {
	case CURLUE_NO_USER:
	case CURLUE_NO_PASSWORD:
	case CURLUE_NO_PORT:
	case CURLUE_NO_QUERY:
	case CURLUE_NO_ZONEID:
	case CURLUE_NO_HOST:
		break;
	default:
		*rc = r;
	}
	return NULL;
}

static void curl_wipe_free(char *p)
{
	if (p) {
		explicit_bzero(p, strlen(p));
		curl_free(p);
	}
}

/* One URL; with sq non-NULL also sentinel:// (default port 26379), and the
 * query's sentinel parameters are handed over into *sq. */
static int parse_single(const char *url, struct redis_url *out, struct query *sq,
			char *err, size_t errlen)
{
	char *fixed = NULL, *user = NULL, *pass = NULL, *host = NULL, *zone = NULL;
	char *port = NULL, *path = NULL, *qs = NULL;
	struct query q = { 0 };
	CURLU *h = NULL;
	CURLUcode rc = CURLUE_OK;
	int ret = -1, path_db = -1, query_db = -1, bad = 0, kombu_socket = 0;
	size_t slen;

	memset(out, 0, sizeof *out);
	errmsg_set(err, errlen, "invalid Redis URL");
	if (!url || !*url) {
		errmsg_set(err, errlen, "Redis URL is empty");
		return -1;
	}
	slen = scheme_len(url);
	if (!slen) {
		errmsg_set(err, errlen, "Redis URL must start with redis://, rediss://, unix://, redis+socket:// or sentinel://");
		return -1;
	}
	if (sq && !(slen == 8 && !strncasecmp(url, "sentinel", 8))) {
		errmsg_set(err, errlen, "a sentinel:// list may hold only sentinel:// entries");
		return -1;
	} else if (slen == 5 && !strncasecmp(url, "redis", 5)) {
		out->transport = REDIS_TRANSPORT_TCP;
	} else if (slen == 6 && !strncasecmp(url, "rediss", 6)) {
		out->transport = REDIS_TRANSPORT_TLS;
	} else if (slen == 4 && !strncasecmp(url, "unix", 4)) {
		out->transport = REDIS_TRANSPORT_UNIX;
	} else if ((slen == 12 && !strncasecmp(url, "redis+socket", 12)) ||
		   (slen == 6 && !strncasecmp(url, "socket", 6))) {
		/* kombu's and Celery's unix socket form, the db in ?virtual_host= */
		out->transport = REDIS_TRANSPORT_UNIX;
		kombu_socket = 1;
	} else if (sq && slen == 8 && !strncasecmp(url, "sentinel", 8)) {
		out->transport = REDIS_TRANSPORT_TCP;
	} else if (slen == 8 && !strncasecmp(url, "sentinel", 8)) {
		errmsg_set(err, errlen, "a sentinel:// list may hold only sentinel:// entries");
		return -1;
	} else {
		errmsg_set(err, errlen, "unsupported scheme \"%.*s\" (want redis://, rediss://, unix://, redis+socket:// or sentinel://)",
			(int)slen, url);
		return -1;
	}
	int is_unix = out->transport == REDIS_TRANSPORT_UNIX;

	fixed = fill_empty_host(url, slen, is_unix, &bad);
	if (!fixed) {
		errmsg_set(err, errlen, bad ? "unix URL must not name a host: use unix:///path/to/socket"
				     : "out of memory");
		goto out;
	}
	if (!is_unix && host_has_pct(fixed, slen)) {
		errmsg_set(err, errlen, "invalid Redis URL: %%-encoding in the host name");
		goto out;
	}
	h = curl_url();
	if (!h) {
		errmsg_set(err, errlen, "out of memory");
		goto out;
	}
	rc = curl_url_set(h, CURLUPART_URL, fixed, CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS);
	if (rc != CURLUE_OK) {
		/* curl's messages are fixed texts, never pieces of the URL. The
		 * usual cause is a password with an unencoded reserved byte. */
		errmsg_set(err, errlen, "invalid Redis URL: %s%s", curl_url_strerror(rc),
			strchr(fixed, '@') ? " (in a user name or password, @ / ? # % must be %-encoded)" : "");
		goto out;
	}
	user = get_part(h, CURLUPART_USER, CURLU_URLDECODE, &rc);
	if (rc != CURLUE_OK) {
		errmsg_set(err, errlen, "invalid Redis URL: bad %%-encoding or control character in the user name");
		goto out;
	}
	pass = get_part(h, CURLUPART_PASSWORD, CURLU_URLDECODE, &rc);
	if (rc != CURLUE_OK) {
		errmsg_set(err, errlen, "invalid Redis URL: bad %%-encoding or control character in the password");
		goto out;
	}
	host = get_part(h, CURLUPART_HOST, 0, &rc);
	zone = get_part(h, CURLUPART_ZONEID, 0, &rc);
	port = get_part(h, CURLUPART_PORT, 0, &rc);
	path = get_part(h, CURLUPART_PATH, CURLU_URLDECODE, &rc);
	if (rc == CURLUE_URLDECODE) {
		errmsg_set(err, errlen, "invalid Redis URL: bad %%-encoding or control character in the path");
		goto out;
	}
	qs = get_part(h, CURLUPART_QUERY, 0, &rc);
	if (rc != CURLUE_OK) {
		errmsg_set(err, errlen, "invalid Redis URL: %s", curl_url_strerror(rc));
		goto out;
	}
	if (qs && query_parse(qs, &q) < 0) {
		errmsg_set(err, errlen, "invalid Redis URL: bad encoding in query parameter \"%s\"", q.bad_name);
		goto out;
	}

	if (user && *user) {
		out->user = strdup(user);
		if (!out->user)
			goto oom;
	}
	if (q.v[Q_USERNAME]) {
		if (out->user) {
			errmsg_set(err, errlen, "invalid Redis URL: user name given twice (before @ and ?username=)");
			goto out;
		}
		if (*q.v[Q_USERNAME]) {
			out->user = strdup(q.v[Q_USERNAME]);
			if (!out->user)
				goto oom;
		}
	}
	if (pass && *pass) {
		out->password = strdup(pass);
		if (!out->password)
			goto oom;
	}
	if (q.v[Q_PASSWORD]) {
		if (out->password) {
			errmsg_set(err, errlen, "invalid Redis URL: password given twice (before @ and ?password=)");
			goto out;
		}
		if (*q.v[Q_PASSWORD]) {
			out->password = strdup(q.v[Q_PASSWORD]);
			if (!out->password)
				goto oom;
		}
	}
	if (out->user && !out->password) {
		errmsg_set(err, errlen, "invalid Redis URL: user name without a password "
			"(for a password alone write redis://:PASSWORD@host)");
		goto out;
	}

	if (kombu_socket && q.v[Q_VHOST] && !q.v[Q_DB]) {
		q.v[Q_DB] = q.v[Q_VHOST];
		q.v[Q_VHOST] = NULL;
	}
	if (q.v[Q_DB] && parse_db(q.v[Q_DB], &query_db) < 0) {
		errmsg_set(err, errlen, "invalid Redis URL: db must be a number 0..%d", REDIS_URL_MAX_DB);
		goto out;
	}

	if (is_unix) {
		size_t pn = path ? strlen(path) : 0;
		if (pn < 2 || path[0] != '/') {
			errmsg_set(err, errlen, "invalid Redis URL: unix socket path is empty (use unix:///path/to/socket)");
			goto out;
		}
		if (pn >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			errmsg_set(err, errlen, "invalid Redis URL: unix socket path longer than %zu bytes",
				sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
			goto out;
		}
		out->path = strdup(path);
		if (!out->path)
			goto oom;
		out->port = 0;
	} else {
		if (!host || !*host) {
			errmsg_set(err, errlen, "invalid Redis URL: no host");
			goto out;
		}
		size_t hn = strlen(host);
		const char *hb = host;
		if (host[0] == '[' && hn >= 2 && host[hn - 1] == ']') {
			hb = host + 1;
			hn -= 2;
		}
		if (hn == 0 || hn > 253) {
			errmsg_set(err, errlen, "invalid Redis URL: host name empty or longer than 253 bytes");
			goto out;
		}
		/* DNS names are ASCII (curl here has no IDN support) and an
		 * address is hex, digits, dots and colons. */
		if (strspn(hb, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:") < hn) {
			errmsg_set(err, errlen, "invalid Redis URL: host name has characters other than "
				"letters, digits, '-', '.' and '_'");
			goto out;
		}
		size_t zn = zone ? strlen(zone) : 0;
		/* A zone is an interface name or index; anything else would not
		 * survive the round trip through the redacted form. */
		if (zn && strspn(zone, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789-_.") != zn) {
			errmsg_set(err, errlen, "invalid Redis URL: bad IPv6 zone id");
			goto out;
		}
		out->host = malloc(hn + (zn ? zn + 1 : 0) + 1);
		if (!out->host)
			goto oom;
		memcpy(out->host, hb, hn);
		if (zn) {
			out->host[hn] = '%';
			memcpy(out->host + hn + 1, zone, zn);
			hn += zn + 1;
		}
		out->host[hn] = '\0';
		out->port = sq ? REDIS_SENTINEL_DEFAULT_PORT : 6379;
		if (port) {
			long v = strtol(port, NULL, 10);
			if (v < 1 || v > 65535) {
				errmsg_set(err, errlen, "invalid Redis URL: port must be 1..65535");
				goto out;
			}
			out->port = (int)v;
		}
		if (path && path[0] == '/' && path[1] &&
		    parse_db(path + 1, &path_db) < 0) {
			errmsg_set(err, errlen, "invalid Redis URL: db in the path must be a number 0..%d",
				REDIS_URL_MAX_DB);
			goto out;
		}
		if (path && path[0] && path[0] != '/') {
			errmsg_set(err, errlen, "invalid Redis URL: bad path");
			goto out;
		}
	}
	if (path_db >= 0 && query_db >= 0) {
		errmsg_set(err, errlen, "invalid Redis URL: db given twice (path and ?db=)");
		goto out;
	}
	out->db = path_db >= 0 ? path_db : query_db >= 0 ? query_db : 0;
	if (!sq && apply_wait(out, &q, err, errlen) < 0)
		goto out;
	if (sq)
		for (int k = Q_MASTER; k < Q_N; k++) {
			sq->v[k] = q.v[k];
			q.v[k] = NULL;
		}
	ret = 0;
	goto out;
oom:
	errmsg_set(err, errlen, "out of memory");
out:
	if (ret < 0)
		redis_url_free(out);
	else
		errmsg_set(err, errlen, "%s", "");
	curl_wipe_free(pass);
	curl_free(user);
	curl_free(host);
	curl_free(zone);
	curl_free(port);
	curl_free(path);
	curl_wipe_free(qs);
	query_free(&q);
	if (fixed) {
		explicit_bzero(fixed, strlen(fixed));
		free(fixed);
	}
	curl_url_cleanup(h);
	return ret;
}

/* A sentinel parameter seen on one entry; the same one on another entry
 * must agree. */
static int merge_param(struct query *all, struct query *one, int k, char *err, size_t errlen)
{
	if (!one->v[k])
		return 0;
	if (all->v[k] && strcmp(all->v[k], one->v[k]) != 0) {
		errmsg_set(err, errlen, "invalid sentinel URL: %s given twice with different values",
			   query_known[k]);
		return -1;
	}
	if (!all->v[k]) {
		all->v[k] = one->v[k];
		one->v[k] = NULL;
	}
	return 0;
}

/* Celery's list: entries split at ';' exactly as kombu (Connection.alt)
 * and Celery's SentinelBackend (_SERVER_URI_SEPARATOR) do. */
static int parse_sentinel_list(const char *url, struct redis_url *out, char *err, size_t errlen)
{
	struct query all = { 0 };
	char *copy = strdup(url), *save = NULL;
	int n = 0;

	memset(out, 0, sizeof *out);
	out->sentinels = calloc(REDIS_URL_MAX_SENTINELS, sizeof *out->sentinels);
	if (!copy || !out->sentinels) {
		errmsg_set(err, errlen, "out of memory");
		goto fail;
	}
	for (char *e = copy;; e = NULL) {
		struct redis_url one;
		struct query q = { 0 };
		/* strtok_r would skip empty entries; kombu would not. */
		char *semi = strchr(save ? save : e, ';');
		char *entry = save ? save : e;
		if (semi)
			*semi = '\0';
		save = semi ? semi + 1 : NULL;
		if (!*entry) {
			errmsg_set(err, errlen, "invalid sentinel URL: empty entry in the ';'-separated list");
			goto fail;
		}
		if (n == REDIS_URL_MAX_SENTINELS) {
			errmsg_set(err, errlen, "invalid sentinel URL: more than %d sentinels",
				   REDIS_URL_MAX_SENTINELS);
			goto fail;
		}
		if (parse_single(entry, &one, &q, err, errlen) < 0) {
			query_free(&q);
			goto fail;
		}
		int bad = 0;
		for (int k = Q_MASTER; k < Q_N && !bad; k++)
			bad = merge_param(&all, &q, k, err, errlen) < 0;
		query_free(&q);
		out->sentinels[n].host = one.host;
		out->sentinels[n].port = one.port;
		one.host = NULL;
		if (n == 0) {
			out->user = one.user;
			out->password = one.password;
			out->db = one.db;
			one.user = one.password = NULL;
		}
		n++;
		out->n_sentinels = n;
		redis_url_free(&one);
		if (bad)
			goto fail;
		if (!save)
			break;
	}
	const char *tls = all.v[Q_STLS];
	if (tls && *tls && strcmp(tls, "0") && strcmp(tls, "1") && strcasecmp(tls, "true") &&
	    strcasecmp(tls, "false") && strcasecmp(tls, "yes") && strcasecmp(tls, "no")) {
		errmsg_set(err, errlen, "invalid sentinel URL: sentinel_tls must be 0 or 1");
		goto fail;
	}
	out->transport = tls && (!strcmp(tls, "1") || !strcasecmp(tls, "true") || !strcasecmp(tls, "yes"))
			 ? REDIS_TRANSPORT_TLS : REDIS_TRANSPORT_TCP;
	const char *m = all.v[Q_MASTER] && *all.v[Q_MASTER] ? all.v[Q_MASTER] : "mymaster";
	if (strlen(m) > 200 || strspn(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "0123456789-._:") != strlen(m)) {
		errmsg_set(err, errlen, "invalid sentinel URL: master_name must be 1..200 of "
			   "letters, digits, '-', '.', '_', ':'");
		goto fail;
	}
	if (!(out->master_name = strdup(m)) || !(out->host = strdup(out->sentinels[0].host)) ||
	    (all.v[Q_SPASSWORD] && *all.v[Q_SPASSWORD] &&
	     !(out->sentinel_password = strdup(all.v[Q_SPASSWORD])))) {
		errmsg_set(err, errlen, "out of memory");
		goto fail;
	}
	out->port = out->sentinels[0].port;
	if (apply_wait(out, &all, err, errlen) < 0)
		goto fail;
	query_free(&all);
	explicit_bzero(copy, strlen(url));
	free(copy);
	errmsg_set(err, errlen, "%s", "");
	return 0;
fail:
	query_free(&all);
	if (copy) {
		explicit_bzero(copy, strlen(url));
		free(copy);
	}
	redis_url_free(out);
	return -1;
}

int redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen)
{
	if (url && scheme_len(url) == 8 && !strncasecmp(url, "sentinel", 8))
		return parse_sentinel_list(url, out, err, errlen);
	return parse_single(url, out, NULL, err, errlen);
}

/* Replace every copy of pw (3 bytes or longer) in s by "***". */
static void scrub_one(char *s, const char *pw)
{
	size_t n = pw ? strlen(pw) : 0;
	char *p;

	if (n < 3)
		return;
	while ((p = strstr(s, pw)) != NULL) {
		memmove(p + 3, p + n, strlen(p + n) + 1);
		memcpy(p, "***", 3);
	}
}

void redis_url_scrub(const struct redis_url *u, char *s)
{
	scrub_one(s, u->password);
	scrub_one(s, u->sentinel_password);
}

static int is_ip(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];

	return strchr(host, ':') || inet_pton(AF_INET, host, a) == 1;
}

int redis_url_check(const struct redis_url *u, int have_trust, char *err, size_t errlen)
{
	if (u->transport == REDIS_TRANSPORT_UNIX) {
		if (!u->path || !*u->path || strlen(u->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			errmsg_set(err, errlen, "unix socket path empty or too long");
			return -1;
		}
	} else if (!u->host || !*u->host || u->port < 1 || u->port > 65535) {
		errmsg_set(err, errlen, "Redis URL without host or port");
		return -1;
	}
	if (u->transport == REDIS_TRANSPORT_TLS) {
		if (!have_trust) {
			errmsg_set(err, errlen, "rediss:// needs a trust store");
			return -1;
		}
		int ip = is_ip(u->host);
		for (int i = 0; i < u->n_sentinels; i++)
			ip |= is_ip(u->sentinels[i].host);
		if (ip) {
			errmsg_set(err, errlen, "rediss:// needs a host name, not an IP address: "
				"BearSSL verifies certificates by DNS name only");
			return -1;
		}
	}
	return 0;
}

void redis_url_free(struct redis_url *u)
{
	if (!u)
		return;
	for (int i = 0; u->sentinels && i < u->n_sentinels; i++)
		free(u->sentinels[i].host);
	free(u->sentinels);
	free(u->master_name);
	wipe_free(u->sentinel_password);
	free(u->host);
	free(u->path);
	free(u->user);
	wipe_free(u->password);
	memset(u, 0, sizeof *u);
}

int redis_url_copy(struct redis_url *dst, const struct redis_url *src)
{
	memset(dst, 0, sizeof *dst);
	dst->transport = src->transport;
	dst->port = src->port;
	dst->db = src->db;
	dst->wait_replicas = src->wait_replicas;
	dst->wait_timeout_ms = src->wait_timeout_ms;
	if ((src->host && !(dst->host = strdup(src->host))) ||
	    (src->path && !(dst->path = strdup(src->path))) ||
	    (src->user && !(dst->user = strdup(src->user))) ||
	    (src->password && !(dst->password = strdup(src->password))) ||
	    (src->master_name && !(dst->master_name = strdup(src->master_name))) ||
	    (src->sentinel_password && !(dst->sentinel_password = strdup(src->sentinel_password))))
		goto fail;
	if (src->n_sentinels > 0) {
		dst->sentinels = calloc((size_t)src->n_sentinels, sizeof *dst->sentinels);
		if (!dst->sentinels)
			goto fail;
		dst->n_sentinels = src->n_sentinels;
		for (int i = 0; i < src->n_sentinels; i++) {
			dst->sentinels[i].port = src->sentinels[i].port;
			if (!(dst->sentinels[i].host = strdup(src->sentinels[i].host)))
				goto fail;
		}
	}
	return 0;
fail:
	redis_url_free(dst);
	return -1;
}

/* A bounded writer that silently cuts and always keeps the NUL. */
struct out {
	char *p;
	size_t len, cap;
};

static void out_str(struct out *o, const char *s)
{
	for (; *s && o->len + 1 < o->cap; s++)
		o->p[o->len++] = *s;
	if (o->cap)
		o->p[o->len] = '\0';
}

/* Percent-encode everything but unreserved characters (and those in keep). */
static void out_enc(struct out *o, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char t[4] = { (char)c, 0, 0, 0 };
		if (!(isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
		      (c && strchr(keep, c)))) {
			t[0] = '%';
			t[1] = hex[c >> 4];
			t[2] = hex[c & 15];
		}
		out_str(o, t);
	}
}

const char *redis_transport_name(enum redis_transport t)
{
	switch (t) {
	case REDIS_TRANSPORT_TCP: return "tcp";
	case REDIS_TRANSPORT_TLS: return "tls";
	case REDIS_TRANSPORT_UNIX: return "unix";
	}
	return "unknown";
}

static void out_host(struct out *o, const char *host)
{
	if (host && strchr(host, ':')) {
		out_str(o, "[");
		out_enc(o, host, ":");
		out_str(o, "]");
	} else {
		out_enc(o, host ? host : "", "");
	}
}

static void redact_wait(const struct redis_url *u, struct out *o, char sep)
{
	char num[64];

	if (u->wait_replicas > 0) {
		snprintf(num, sizeof num, "%cwait_replicas=%d&wait_timeout_ms=%d", sep, u->wait_replicas,
			 u->wait_timeout_ms);
		out_str(o, num);
	}
}

static void redact_sentinels(const struct redis_url *u, struct out *o)
{
	char num[32];

	for (int i = 0; i < u->n_sentinels; i++) {
		out_str(o, i ? ";sentinel://" : "sentinel://");
		if (i == 0 && u->user) {
			out_enc(o, u->user, "");
			out_str(o, u->password ? ":***@" : "@");
		} else if (i == 0 && u->password) {
			out_str(o, ":***@");
		}
		out_host(o, u->sentinels[i].host);
		snprintf(num, sizeof num, ":%d/%d", u->sentinels[i].port, u->db);
		out_str(o, num);
	}
	out_str(o, "?master_name=");
	out_enc(o, u->master_name ? u->master_name : "", "");
	if (u->sentinel_password)
		out_str(o, "&sentinel_password=***");
	if (u->transport == REDIS_TRANSPORT_TLS)
		out_str(o, "&sentinel_tls=1");
	redact_wait(u, o, '&');
}

void redis_url_redact(const struct redis_url *u, char *buf, size_t outlen)
{
	struct out o = { buf, 0, outlen };
	char num[32];

	if (outlen)
		buf[0] = '\0';
	if (u->n_sentinels > 0) {
		redact_sentinels(u, &o);
		return;
	}
	out_str(&o, u->transport == REDIS_TRANSPORT_TLS ? "rediss://" :
		    u->transport == REDIS_TRANSPORT_UNIX ? "unix://" : "redis://");
	if (u->user) {
		out_enc(&o, u->user, "");
		out_str(&o, u->password ? ":***@" : "@");
	} else if (u->password) {
		out_str(&o, ":***@");
	}
	if (u->transport == REDIS_TRANSPORT_UNIX) {
		out_enc(&o, u->path ? u->path : "", "/");
		snprintf(num, sizeof num, "?db=%d", u->db);
		out_str(&o, num);
		redact_wait(u, &o, '&');
		return;
	}
	if (u->host && strchr(u->host, ':')) {
		out_str(&o, "[");
		out_enc(&o, u->host, ":");
		out_str(&o, "]");
	} else {
		out_enc(&o, u->host ? u->host : "", "");
	}
	snprintf(num, sizeof num, ":%d/%d", u->port, u->db);
	out_str(&o, num);
	redact_wait(u, &o, '?');
}

void redis_url_redact_str(const char *url, char *buf, size_t outlen)
{
	struct redis_url u;
	size_t slen;

	if (url && redis_url_parse(url, &u, NULL, 0) == 0) {
		redis_url_redact(&u, buf, outlen);
		redis_url_free(&u);
		return;
	}
	struct out o = { buf, 0, outlen };
	if (outlen)
		buf[0] = '\0';
	slen = url ? scheme_len(url) : 0;
	if (slen) {
		char scheme[SCHEME_MAX + 1];
		memcpy(scheme, url, slen);
		scheme[slen] = '\0';
		out_str(&o, scheme);
		out_str(&o, "://");
	}
	out_str(&o, "\xe2\x80\xa6(unparseable)");
}
