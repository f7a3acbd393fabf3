/* redis_url: parses Redis connection URLs (redis://, rediss://, unix://, and
 * Celery's ";"-separated sentinel:// lists) into
 * a struct whose strings it allocates, and renders them for logs with the
 * password replaced. Parsing goes through libcurl's URL API (no hand-rolled
 * authority parsing). It must not do I/O, log, or keep global state, and no
 * error message or printable form it produces ever contains the password
 * (error messages quote no part of the URL except a well-formed scheme). */
#ifndef TRYON_REDIS_URL_H
#define TRYON_REDIS_URL_H
#include <stddef.h>

/* Largest accepted database number (Redis itself allows any int; configs
 * with more than a handful of databases are mistakes). */
#define REDIS_URL_MAX_DB ((1 << 20) - 1)

/* Most sentinels one sentinel:// list may name. */
#define REDIS_URL_MAX_SENTINELS 16
#define REDIS_SENTINEL_DEFAULT_PORT 26379
/* wait_replicas bounds and wait_timeout_ms default. */
#define REDIS_URL_MAX_WAIT 64
#define REDIS_URL_WAIT_TIMEOUT_MS 1000

enum redis_transport { REDIS_TRANSPORT_TCP, REDIS_TRANSPORT_TLS, REDIS_TRANSPORT_UNIX };

struct redis_sentinel_addr {
	char *host;      /* as for redis_url.host */
	int port;        /* default 26379 */
};

/* Every string is a separate malloc block owned by the struct (free with
 * redis_url_free). Unused ones are NULL. */
struct redis_url {
	enum redis_transport transport;
	char *host;      /* TCP/TLS: name or address, IPv6 without brackets
			    ("::1", "fe80::1%eth0"); NULL for UNIX */
	int port;        /* TCP/TLS: 1..65535, default 6379; 0 for UNIX */
	char *path;      /* UNIX: socket path (absolute); NULL otherwise */
	int db;          /* 0..REDIS_URL_MAX_DB, default 0 */
	char *user;      /* ACL user name (Redis 6+), or NULL */
	char *password;  /* decoded, or NULL; never empty */
	/* sentinel:// only (n_sentinels > 0): the sentinels in the URL's
	 * order; host/port above are a copy of the first one (what a log or
	 * a same-server check sees), and user, password and db are the
	 * MASTER's, from the first entry, as kombu and Celery take them.
	 * transport is TLS when sentinel_tls=1 (to sentinels and master). */
	struct redis_sentinel_addr *sentinels;
	int n_sentinels;
	char *master_name;        /* never NULL when n_sentinels > 0 */
	char *sentinel_password;  /* AUTH to the sentinels, or NULL */
	/* Any scheme: after the scripts that record and finish a message,
	 * WAIT for this many replicas (0 = never) for at most this long. */
	int wait_replicas;
	int wait_timeout_ms;      /* default 1000 */
};

/* Accepted forms (scheme case-insensitive):
 *   sentinel://[[user]:password@]host[:port][/db];sentinel://host2...
 *                                  Celery's sentinel list: ";"-separated,
 *                                  port default 26379; user, password and
 *                                  db come from the first entry (later
 *                                  entries' are ignored, as kombu does).
 *                                  Query parameters (on any entry; the same
 *                                  one twice with different values is an
 *                                  error): master_name (default mymaster),
 *                                  sentinel_password, sentinel_tls=0|1.
 *                                  config.c adds them from TRYON_SENTINEL_*.
 * Any scheme also takes wait_replicas=N (0..64) and wait_timeout_ms=T
 * (1..60000, default 1000), as MongoDB URLs carry a write concern; config.c
 * adds them from TRYON_BROKER_WAIT_*, scripts.c acts on them.
 *   redis://[[user]:password@]host[:port][/db][?db=N&password=P]
 *   rediss://...                   same, TLS
 *   unix://[[user]:password@]/path/to/socket[?db=N&password=P]
 * user and password are percent-decoded ("+" stays "+"); query values are
 * form-decoded ("+" is a space) as Python's parse_qs does. An empty host
 * means "localhost" (as redis-py does). db given both in the path and the
 * query, or a password both in the userinfo and the query, is an error; so
 * is a user name without a password. Other query parameters (redis-py's
 * socket_timeout, ssl_cert_reqs, ...) are ignored: TLS is always verified.
 * Returns 0 with *out filled (caller frees it with redis_url_free), or -1 with
 * *out zeroed and a one-line reason in err that never contains the password
 * or any other part of the URL but its scheme. err may be NULL. */
int redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen);

/* Can a connection be made by u? A unix path that fits sun_path, or a
 * host and port; for TLS (rediss://, sentinel_tls) a trust store and host
 * names rather than IP addresses (BearSSL checks DNS names only; a
 * sentinel's answer must then be a name too: announce-hostnames). 0, or
 * -1 with err set. */
int redis_url_check(const struct redis_url *u, int have_trust, char *err, size_t errlen);

/* Server error texts are echoed into logs and error strings: replace any
 * copy of u's password or sentinel password (3 bytes or longer) in s with
 * "***", in place. */
void redis_url_scrub(const struct redis_url *u, char *s);

/* Release the strings (the password is wiped first) and zero *u. Accepts a
 * zeroed struct; NULL is fine. */
void redis_url_free(struct redis_url *u);

/* Deep copy src into *dst (caller frees with redis_url_free). 0, or -1 on
 * out of memory with *dst zeroed. */
int redis_url_copy(struct redis_url *dst, const struct redis_url *src);

/* Printable form with the password replaced by ***, e.g.
 * "redis://:***@host:6379/0", "rediss://user:***@[::1]:6380/2",
 * "unix:///run/redis.sock?db=3"; user and path are percent-encoded so the
 * result parses back to the same server and db. Always NUL-terminated (cut
 * to fit outlen); never contains the password. */
void redis_url_redact(const struct redis_url *u, char *out, size_t outlen);

/* The same from a raw string. If it cannot be parsed, prints only the
 * scheme (when well formed) followed by "…(unparseable)". */
void redis_url_redact_str(const char *url, char *out, size_t outlen);

/* "tcp", "tls" or "unix". */
const char *redis_transport_name(enum redis_transport t);
#endif
