/* Unit tests for redis_url: accepted forms, rejected forms with their
 * messages, and the rule that no message or redacted form holds a password. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "redis/redis_url.h"

static int str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Parse url and compare every field; NULL strings mean "absent". */
static int parses_to(const char *url, enum redis_transport t, const char *host, int port,
		     const char *path, int db, const char *user, const char *password)
{
	struct redis_url u;
	char err[256];
	int ok;

	if (redis_url_parse(url, &u, err, sizeof err) != 0) {
		fprintf(stderr, "  parse(%s) failed: %s\n", url, err);
		return 0;
	}
	ok = u.transport == t && str_eq(u.host, host) && u.port == port &&
	     str_eq(u.path, path) && u.db == db && str_eq(u.user, user) &&
	     str_eq(u.password, password) && err[0] == '\0';
	if (!ok)
		fprintf(stderr, "  parse(%s): t=%d host=%s port=%d path=%s db=%d user=%s pw=%s\n",
			url, (int)u.transport, u.host ? u.host : "(null)", u.port,
			u.path ? u.path : "(null)", u.db, u.user ? u.user : "(null)",
			u.password ? u.password : "(null)");
	redis_url_free(&u);
	return ok;
}

/* Parse must fail, the message must contain want and must not contain
 * secret (when given). */
static int fails_with(const char *url, const char *want, const char *secret)
{
	struct redis_url u;
	char err[256];

	memset(&u, 0x5a, sizeof u);
	if (redis_url_parse(url, &u, err, sizeof err) == 0) {
		fprintf(stderr, "  parse(%s) unexpectedly succeeded\n", url);
		redis_url_free(&u);
		return 0;
	}
	if (u.host || u.path || u.user || u.password || u.db || u.port) {
		fprintf(stderr, "  parse(%s) left fields set on failure\n", url);
		return 0;
	}
	if (!strstr(err, want) || (secret && strstr(err, secret)) || strchr(err, '\n')) {
		fprintf(stderr, "  parse(%s): message \"%s\" (want \"%s\")\n", url, err, want);
		return 0;
	}
	return 1;
}

static int redacts_to(const char *url, const char *want)
{
	char out[256];

	redis_url_redact_str(url, out, sizeof out);
	if (strcmp(out, want) != 0) {
		fprintf(stderr, "  redact(%s) = \"%s\" (want \"%s\")\n", url, out, want);
		return 0;
	}
	return 1;
}

static void test_tcp_defaults(void)
{
	CHECK(parses_to("redis://localhost", REDIS_TRANSPORT_TCP, "localhost", 6379, NULL, 0, NULL, NULL));
	CHECK(parses_to("redis://127.0.0.1:6390/4", REDIS_TRANSPORT_TCP, "127.0.0.1", 6390, NULL, 4, NULL, NULL));
	CHECK(parses_to("redis://h/", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 0, NULL, NULL));
	CHECK(parses_to("redis://h:/", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 0, NULL, NULL));
	CHECK(parses_to("REDIS://Cache.Example:1/15", REDIS_TRANSPORT_TCP, "Cache.Example", 1, NULL, 15, NULL, NULL));
	CHECK(parses_to("redis://redis_1.compose-net/2", REDIS_TRANSPORT_TCP, "redis_1.compose-net", 6379, NULL, 2, NULL, NULL));
	CHECK(parses_to("redis://h:65535/0", REDIS_TRANSPORT_TCP, "h", 65535, NULL, 0, NULL, NULL));
	CHECK(parses_to("redis://h/%34", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 4, NULL, NULL));
	CHECK(parses_to("redis://h/1048575", REDIS_TRANSPORT_TCP, "h", 6379, NULL, REDIS_URL_MAX_DB, NULL, NULL));
	CHECK(parses_to("rediss://cache.internal:6380/2", REDIS_TRANSPORT_TLS, "cache.internal", 6380, NULL, 2, NULL, NULL));
}

static void test_empty_host_is_localhost(void)
{
	CHECK(parses_to("redis://", REDIS_TRANSPORT_TCP, "localhost", 6379, NULL, 0, NULL, NULL));
	CHECK(parses_to("redis:///3", REDIS_TRANSPORT_TCP, "localhost", 6379, NULL, 3, NULL, NULL));
	CHECK(parses_to("redis://:pw@/3", REDIS_TRANSPORT_TCP, "localhost", 6379, NULL, 3, NULL, "pw"));
	CHECK(parses_to("redis://?db=2", REDIS_TRANSPORT_TCP, "localhost", 6379, NULL, 2, NULL, NULL));
}

static void test_passwords(void)
{
	CHECK(parses_to("redis://:p%2Bw%2Fd%3D@127.0.0.1:6390/4", REDIS_TRANSPORT_TCP,
			"127.0.0.1", 6390, NULL, 4, NULL, "p+w/d="));
	/* A literal + in the userinfo is a plus, not a space. */
	CHECK(parses_to("redis://:a+b@h", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 0, NULL, "a+b"));
	CHECK(parses_to("redis://:pa%20ss@h", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 0, NULL, "pa ss"));
	CHECK(parses_to("redis://:p;w=x@h", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 0, NULL, "p;w=x"));
	CHECK(parses_to("redis://:%C3%A9t%C3%A9@h", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 0, NULL, "\xc3\xa9t\xc3\xa9"));
	CHECK(parses_to("rediss://worker:s3cr%40t@localhost:6380/1", REDIS_TRANSPORT_TLS,
			"localhost", 6380, NULL, 1, "worker", "s3cr@t"));
	CHECK(parses_to("redis://u%3Ax:pw@h", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 0, "u:x", "pw"));
	/* An empty password is no password (redis-py sends no AUTH either). */
	CHECK(parses_to("redis://:@h", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 0, NULL, NULL));
	/* Query password, form-decoded like Python's parse_qs. */
	CHECK(parses_to("redis://h/1?password=a%2Bb+c", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 1, NULL, "a+b c"));
	CHECK(parses_to("redis://h?username=u&password=p", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 0, "u", "p"));
}

static void test_ipv6(void)
{
	CHECK(parses_to("redis://[::1]:6380/2", REDIS_TRANSPORT_TCP, "::1", 6380, NULL, 2, NULL, NULL));
	CHECK(parses_to("redis://:pw@[::1]", REDIS_TRANSPORT_TCP, "::1", 6379, NULL, 0, NULL, "pw"));
	CHECK(parses_to("redis://[fe80::1%25eth0]:7/0", REDIS_TRANSPORT_TCP, "fe80::1%eth0", 7, NULL, 0, NULL, NULL));
}

static void test_unix(void)
{
	CHECK(parses_to("unix:///tmp/x.sock", REDIS_TRANSPORT_UNIX, NULL, 0, "/tmp/x.sock", 0, NULL, NULL));
	CHECK(parses_to("unix:///tmp/x.sock?db=3", REDIS_TRANSPORT_UNIX, NULL, 0, "/tmp/x.sock", 3, NULL, NULL));
	CHECK(parses_to("UNIX:///run/redis/redis.sock?password=p%2Bw%2Fd%3D&db=1", REDIS_TRANSPORT_UNIX,
			NULL, 0, "/run/redis/redis.sock", 1, NULL, "p+w/d="));
	CHECK(parses_to("unix://:pw@/tmp/x.sock", REDIS_TRANSPORT_UNIX, NULL, 0, "/tmp/x.sock", 0, NULL, "pw"));
	CHECK(parses_to("unix://u:pw@/tmp/x.sock?db=0", REDIS_TRANSPORT_UNIX, NULL, 0, "/tmp/x.sock", 0, "u", "pw"));
	CHECK(parses_to("unix:///tmp/a%20b.sock", REDIS_TRANSPORT_UNIX, NULL, 0, "/tmp/a b.sock", 0, NULL, NULL));
	/* kombu's and Celery's own form: the db in ?virtual_host= (issue 12:
	 * an app configured this way must not have to change its URL) */
	CHECK(parses_to("redis+socket:///run/redis.sock?virtual_host=4", REDIS_TRANSPORT_UNIX, NULL, 0,
			"/run/redis.sock", 4, NULL, NULL));
	CHECK(parses_to("redis+socket://:pw@/run/redis.sock", REDIS_TRANSPORT_UNIX, NULL, 0, "/run/redis.sock", 0,
			NULL, "pw"));
	CHECK(parses_to("socket:///tmp/x.sock?virtual_host=2", REDIS_TRANSPORT_UNIX, NULL, 0, "/tmp/x.sock", 2,
			NULL, NULL));
	CHECK(parses_to("redis+socket:///tmp/x.sock?db=5", REDIS_TRANSPORT_UNIX, NULL, 0, "/tmp/x.sock", 5,
			NULL, NULL));
	/* virtual_host is kombu's socket parameter only */
	CHECK(parses_to("redis://h/1?virtual_host=3", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 1, NULL, NULL));
	CHECK(fails_with("redis+socket:///tmp/x?virtual_host=x", "db must be a number", NULL));
	CHECK(fails_with("redis+socket://host/tmp/x", "must not name a host", NULL));
}

static void test_ignored_query(void)
{
	CHECK(parses_to("rediss://h:6380/0?ssl_cert_reqs=CERT_REQUIRED", REDIS_TRANSPORT_TLS,
			"h", 6380, NULL, 0, NULL, NULL));
	CHECK(parses_to("redis://h?socket_timeout=5&db=7&x", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 7, NULL, NULL));
	/* A fragment carries nothing for Redis. */
	CHECK(parses_to("redis://h/2#frag", REDIS_TRANSPORT_TCP, "h", 6379, NULL, 2, NULL, NULL));
}

static void test_errors(void)
{
	CHECK(fails_with("", "empty", NULL));
	CHECK(fails_with("localhost:6379", "must start with", NULL));
	CHECK(fails_with("http://:hunter22@h/0", "unsupported scheme \"http\"", "hunter22"));
	CHECK(fails_with("redis://h/abc", "db in the path must be a number", NULL));
	CHECK(fails_with("redis://h/-1", "db in the path must be a number", NULL));
	CHECK(fails_with("redis://h/1048576", "db in the path must be a number", NULL));
	CHECK(fails_with("redis://h/99999999999", "db in the path must be a number", NULL));
	CHECK(fails_with("redis://h/1/", "db in the path must be a number", NULL));
	CHECK(fails_with("redis://h/ 1", "invalid Redis URL", NULL));
	CHECK(fails_with("redis://h?db=x", "db must be a number", NULL));
	CHECK(fails_with("redis://h/1?db=2", "db given twice", NULL));
	CHECK(fails_with("redis://h:0", "port must be 1..65535", NULL));
	CHECK(fails_with("redis://h:70000", "invalid Redis URL", NULL));
	CHECK(fails_with("redis://h:abc", "invalid Redis URL", NULL));
	CHECK(fails_with("redis://user@h", "user name without a password", NULL));
	CHECK(fails_with("redis://:hunter22@h?password=other", "password given twice", "hunter22"));
	CHECK(fails_with("redis://:hun%00ter22@h", "password", "hunter22"));
	CHECK(fails_with("redis://:hunter22%0a@h", "password", "hunter22"));
	CHECK(fails_with("redis://:hunter22@bad host/0", "invalid Redis URL", "hunter22"));
	CHECK(fails_with("redis://:hunter@22@h/0", "invalid Redis URL", "hunter"));
	CHECK(fails_with("redis://:hunter22@h:99999/0", "invalid Redis URL", "hunter22"));
	CHECK(fails_with("redis://:hunter22@h/zz", "db in the path", "hunter22"));
	CHECK(fails_with("redis://%33/1", "%-encoding in the host name", NULL));
	CHECK(fails_with("redis://h\x87st/1", "host name has characters", NULL));
	CHECK(fails_with("redis://:a%40b@ho%41st/1", "%-encoding in the host name", "a@b"));
	CHECK(fails_with("redis://[fe80::1%25et%20h0]:7/0", "bad IPv6 zone id", NULL));
	CHECK(fails_with("unix://host/tmp/x.sock", "must not name a host", NULL));
	CHECK(fails_with("unix://:hunter22@host/tmp/x.sock", "must not name a host", "hunter22"));
	CHECK(fails_with("unix://", "socket path is empty", NULL));
	CHECK(fails_with("unix:///", "socket path is empty", NULL));
	CHECK(fails_with("unix:///tmp/x?db=1048576", "db must be a number", NULL));
	CHECK(fails_with("unix:///tmp/x?password=%zz", "query parameter \"password\"", NULL));
	{
		char url[200] = "unix:///";
		memset(url + 8, 'a', 120);
		url[128] = '\0';
		CHECK(fails_with(url, "longer than 107 bytes", NULL));
	}
	/* err may be NULL or tiny. */
	struct redis_url u;
	char tiny[4];
	CHECK(redis_url_parse("bogus", &u, NULL, 0) == -1);
	CHECK(redis_url_parse("bogus", &u, tiny, sizeof tiny) == -1 && strlen(tiny) == 3);
}

static void test_redact(void)
{
	CHECK(redacts_to("redis://:p%2Bw%2Fd%3D@127.0.0.1:6390/4", "redis://:***@127.0.0.1:6390/4"));
	CHECK(redacts_to("redis://localhost", "redis://localhost:6379/0"));
	CHECK(redacts_to("rediss://worker:s3cr%40t@cache:6380/1", "rediss://worker:***@cache:6380/1"));
	CHECK(redacts_to("redis://u%3Ax:pw@h", "redis://u%3Ax:***@h:6379/0"));
	CHECK(redacts_to("redis://[::1]:7/2", "redis://[::1]:7/2"));
	CHECK(redacts_to("redis://[fe80::1%25eth0]:7/2", "redis://[fe80::1%25eth0]:7/2"));
	CHECK(redacts_to("unix:///tmp/x.sock?db=3&password=hunter22", "unix://:***@/tmp/x.sock?db=3"));
	CHECK(redacts_to("unix:///tmp/a%20b.sock", "unix:///tmp/a%20b.sock?db=0"));
	CHECK(redacts_to("http://:hunter22@h/0", "http://\xe2\x80\xa6(unparseable)"));
	CHECK(redacts_to("hunter22", "\xe2\x80\xa6(unparseable)"));
	CHECK(redacts_to("redis://:hunter@22@h", "redis://\xe2\x80\xa6(unparseable)"));
	CHECK(redacts_to("", "\xe2\x80\xa6(unparseable)"));

	char out[16];
	redis_url_redact_str("redis://:hunter22@averyveryverylonghost:6379/0", out, sizeof out);
	CHECK(strlen(out) == sizeof out - 1 && !strstr(out, "hunter"));
	char one[1] = { 'x' };
	redis_url_redact_str("redis://h", one, sizeof one);
	CHECK(one[0] == '\0');
	char big[64];
	redis_url_redact_str(NULL, big, sizeof big);
	CHECK(strstr(big, "(unparseable)") != NULL);
}

/* The redacted form parses back to the same server, db and user. */
static void test_redact_roundtrip(void)
{
	static const char *const urls[] = {
		"redis://:p%2Bw%2Fd%3D@127.0.0.1:6390/4",
		"rediss://worker:pw@cache.internal:6380/1",
		"redis://we%20ird%2Fuser:pw@h",
		"redis://[::1]:6380/2",
		"redis://[fe80::1%25eth0]:7/0",
		"unix://:pw@/tmp/a%20b%3F.sock?db=9",
		"redis://",
	};
	for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
		struct redis_url a, b;
		char red[256], err[256];
		CHECK(redis_url_parse(urls[i], &a, err, sizeof err) == 0);
		redis_url_redact(&a, red, sizeof red);
		CHECK(redis_url_parse(red, &b, err, sizeof err) == 0);
		CHECK(a.transport == b.transport && str_eq(a.host, b.host) && a.port == b.port &&
		      str_eq(a.path, b.path) && a.db == b.db && str_eq(a.user, b.user));
		CHECK(str_eq(b.password, a.password ? "***" : NULL));
		redis_url_free(&a);
		redis_url_free(&b);
	}
}

static void test_copy_and_free(void)
{
	struct redis_url a, b;
	char err[128];

	CHECK(redis_url_parse("rediss://u:pw@h:1/2", &a, err, sizeof err) == 0);
	CHECK(redis_url_copy(&b, &a) == 0);
	CHECK(b.transport == REDIS_TRANSPORT_TLS && str_eq(b.host, "h") && b.port == 1 && b.db == 2 &&
	      str_eq(b.user, "u") && str_eq(b.password, "pw") && b.host != a.host);
	redis_url_free(&a);
	CHECK(a.host == NULL && a.password == NULL);
	redis_url_free(&a);  /* twice is fine */
	redis_url_free(&b);
	redis_url_free(NULL);
	CHECK(!strcmp(redis_transport_name(REDIS_TRANSPORT_UNIX), "unix"));
}

/* Celery's sentinel list: hosts in order, port default 26379, the master's
 * user/password/db from the first entry (as kombu and Celery take them). */
static void test_sentinel_list(void)
{
	struct redis_url u;
	char err[256];

	CHECK(redis_url_parse("sentinel://:s3cret@10.0.0.1:26380/4;sentinel://:s3cret@h2/4;"
			      "sentinel://[::1]:26381/4", &u, err, sizeof err) == 0);
	CHECK(u.n_sentinels == 3 && u.transport == REDIS_TRANSPORT_TCP);
	CHECK(str_eq(u.sentinels[0].host, "10.0.0.1") && u.sentinels[0].port == 26380);
	CHECK(str_eq(u.sentinels[1].host, "h2") && u.sentinels[1].port == 26379);
	CHECK(str_eq(u.sentinels[2].host, "::1") && u.sentinels[2].port == 26381);
	CHECK(str_eq(u.host, "10.0.0.1") && u.port == 26380);
	CHECK(str_eq(u.password, "s3cret") && u.db == 4 && !u.user);
	CHECK(str_eq(u.master_name, "mymaster") && !u.sentinel_password);
	redis_url_free(&u);
	CHECK(u.sentinels == NULL && u.n_sentinels == 0);

	/* Later entries' password and db are ignored, as kombu ignores them. */
	CHECK(redis_url_parse("SENTINEL://127.0.0.1:1/2;sentinel://:other@127.0.0.1:2/9",
			      &u, err, sizeof err) == 0);
	CHECK(u.db == 2 && !u.password && u.n_sentinels == 2);
	redis_url_free(&u);

	/* The parameters config.c adds from TRYON_SENTINEL_*. */
	CHECK(redis_url_parse("sentinel://:pw@a:1/0;sentinel://b:2/0?master_name=m-1&"
			      "sentinel_password=sp%26x&sentinel_tls=1", &u, err, sizeof err) == 0);
	CHECK(str_eq(u.master_name, "m-1") && str_eq(u.sentinel_password, "sp&x"));
	CHECK(u.transport == REDIS_TRANSPORT_TLS && str_eq(u.password, "pw"));
	redis_url_free(&u);
	/* The same parameter on two entries must agree. */
	CHECK(redis_url_parse("sentinel://a/0?master_name=x;sentinel://b/0?master_name=x",
			      &u, err, sizeof err) == 0);
	redis_url_free(&u);
	CHECK(fails_with("sentinel://a/0?master_name=x;sentinel://b/0?master_name=y",
			 "master_name given twice", NULL));
	CHECK(fails_with("sentinel://a/0;;sentinel://b/0", "empty entry", NULL));
	CHECK(fails_with("sentinel://a/0;", "empty entry", NULL));
	CHECK(fails_with("sentinel://:hunter22@a/0;redis://b/0", "only sentinel://", "hunter22"));
	CHECK(fails_with("sentinel://:hunter22@a:0/0", "port", "hunter22"));
	CHECK(fails_with("sentinel://a/0?sentinel_tls=maybe", "sentinel_tls", NULL));
	CHECK(fails_with("sentinel://a/0?master_name=a%20b", "master_name", NULL));
	CHECK(fails_with("sentinel://a/x", "db", NULL));
	{
		char big[16 * 20 + 64] = "";
		for (int i = 0; i < REDIS_URL_MAX_SENTINELS + 1; i++)
			strcat(big, i ? ";sentinel://h:1/0" : "sentinel://h:1/0");
		CHECK(fails_with(big, "more than", NULL));
	}
	/* Not inside a redis:// URL. */
	CHECK(redis_url_parse("redis://h/0?master_name=x", &u, err, sizeof err) == 0);
	CHECK(u.n_sentinels == 0 && !u.master_name);
	redis_url_free(&u);
}

static void test_sentinel_redact_copy(void)
{
	struct redis_url u, c;
	char err[256], out[512], out2[512];

	CHECK(redacts_to("sentinel://:hunter22@h1:26379/4;sentinel://:hunter22@h2/4",
			 "sentinel://:***@h1:26379/4;sentinel://h2:26379/4?master_name=mymaster"));
	CHECK(redacts_to("sentinel://u:hunter22@[::1]/1?sentinel_password=topsecret&sentinel_tls=yes",
			 "sentinel://u:***@[::1]:26379/1?master_name=mymaster&sentinel_password=***"
			 "&sentinel_tls=1"));
	/* The redacted form parses back to the same sentinels, master and db. */
	CHECK(redis_url_parse("sentinel://:hunter22@h1:26390/3;sentinel://h2/3?master_name=mm",
			      &u, err, sizeof err) == 0);
	redis_url_redact(&u, out, sizeof out);
	CHECK(redis_url_copy(&c, &u) == 0);
	redis_url_free(&u);
	CHECK(c.n_sentinels == 2 && str_eq(c.sentinels[1].host, "h2") && str_eq(c.master_name, "mm") &&
	      str_eq(c.password, "hunter22"));
	redis_url_redact(&c, out2, sizeof out2);
	CHECK(!strcmp(out, out2) && !strstr(out, "hunter22"));
	redis_url_free(&c);
	CHECK(redis_url_parse(out, &u, err, sizeof err) == 0);
	CHECK(u.n_sentinels == 2 && u.sentinels[0].port == 26390 && u.db == 3 && str_eq(u.master_name, "mm"));
	redis_url_free(&u);
}

static void test_wait_params(void)
{
	struct redis_url u, c;
	char err[256];

	CHECK(redis_url_parse("redis://h/0", &u, err, sizeof err) == 0);
	CHECK(u.wait_replicas == 0 && u.wait_timeout_ms == 1000);
	redis_url_free(&u);
	CHECK(redis_url_parse("redis://:hunter22@h/2?wait_replicas=1&wait_timeout_ms=250", &u, err, sizeof err) == 0);
	CHECK(u.wait_replicas == 1 && u.wait_timeout_ms == 250 && u.db == 2);
	CHECK(redis_url_copy(&c, &u) == 0 && c.wait_replicas == 1 && c.wait_timeout_ms == 250);
	redis_url_free(&c);
	redis_url_free(&u);
	CHECK(redacts_to("redis://:hunter22@h/2?wait_replicas=1&wait_timeout_ms=250",
			 "redis://:***@h:6379/2?wait_replicas=1&wait_timeout_ms=250"));
	CHECK(redacts_to("unix:///r.sock?db=3&wait_replicas=2",
			 "unix:///r.sock?db=3&wait_replicas=2&wait_timeout_ms=1000"));
	CHECK(redis_url_parse("sentinel://a/1;sentinel://b/1?wait_replicas=1", &u, err, sizeof err) == 0);
	CHECK(u.wait_replicas == 1 && u.wait_timeout_ms == 1000);
	redis_url_free(&u);
	CHECK(redacts_to("sentinel://a/1?wait_replicas=1&wait_timeout_ms=5",
			 "sentinel://a:26379/1?master_name=mymaster&wait_replicas=1&wait_timeout_ms=5"));
	CHECK(fails_with("redis://:hunter22@h/0?wait_replicas=65", "wait_replicas", "hunter22"));
	CHECK(fails_with("redis://h/0?wait_replicas=-1", "wait_replicas", NULL));
	CHECK(fails_with("redis://h/0?wait_timeout_ms=0", "wait_timeout_ms", NULL));
	CHECK(fails_with("sentinel://a/0?wait_replicas=1;sentinel://b/0?wait_replicas=2",
			 "given twice", NULL));
}

static void test_url_check(void)
{
	struct redis_url u;
	char err[256];

	CHECK(redis_url_parse("sentinel://h1/0;sentinel://10.0.0.2/0?sentinel_tls=1", &u, err, sizeof err) == 0);
	CHECK(redis_url_check(&u, 1, err, sizeof err) < 0 && strstr(err, "host name"));
	CHECK(redis_url_check(&u, 0, err, sizeof err) < 0 && strstr(err, "trust store"));
	redis_url_free(&u);
	CHECK(redis_url_parse("sentinel://h1/0;sentinel://h2/0?sentinel_tls=1", &u, err, sizeof err) == 0);
	CHECK(redis_url_check(&u, 1, err, sizeof err) == 0);
	redis_url_free(&u);
	CHECK(redis_url_parse("redis://10.0.0.1/0", &u, err, sizeof err) == 0);
	CHECK(redis_url_check(&u, 0, err, sizeof err) == 0);
	redis_url_free(&u);
}

int main(void)
{
	RUN(test_tcp_defaults);
	RUN(test_empty_host_is_localhost);
	RUN(test_passwords);
	RUN(test_ipv6);
	RUN(test_unix);
	RUN(test_ignored_query);
	RUN(test_errors);
	RUN(test_redact);
	RUN(test_redact_roundtrip);
	RUN(test_copy_and_free);
	RUN(test_sentinel_list);
	RUN(test_sentinel_redact_copy);
	RUN(test_wait_params);
	RUN(test_url_check);
	return harness_report();
}
