/* redis_url: parses Redis connection URLs (redis://, rediss://, unix://) into
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

enum redis_transport { REDIS_TRANSPORT_TCP, REDIS_TRANSPORT_TLS, REDIS_TRANSPORT_UNIX };

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
};

/* Accepted forms (scheme case-insensitive):
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
