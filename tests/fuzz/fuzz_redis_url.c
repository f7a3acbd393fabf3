/* libFuzzer target for redis_url. Input: one mode byte, then either a raw URL
 * (mode even) or (mode odd) a password length byte, that many password bytes
 * and the rest of a URL; the password is then %-encoded into the userinfo of
 * a URL with the scheme chosen by the mode. Checks:
 *  - parse and both redact functions never crash; messages are one line;
 *  - the error message and the redacted form do not depend on the password
 *    (rendering the same URL with another password of the same length gives
 *    the same text), so a decoded password of 4+ bytes never shows up;
 *  - the redacted form parses back to the same server, db and user. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_url.h"

static int str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static char *encode_pw(const uint8_t *p, size_t n, int dummy)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o = malloc(n * 3 + 1);
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned c = dummy ? (p[i] < 0x20 || p[i] == 0x7f ? p[i] : 'Q') : p[i];
		o[j++] = '%';
		o[j++] = hex[c >> 4];
		o[j++] = hex[c & 15];
	}
	o[j] = '\0';
	return o;
}

static char *build(const char *scheme, const char *pw, const uint8_t *rest, size_t n)
{
	size_t sl = strlen(scheme), pl = strlen(pw);
	char *u = malloc(sl + pl + n + 4);

	memcpy(u, scheme, sl);
	u[sl] = ':';
	memcpy(u + sl + 1, pw, pl);
	u[sl + 1 + pl] = '@';
	memcpy(u + sl + 2 + pl, rest, n);
	u[sl + 2 + pl + n] = '\0';
	return u;
}

static void check_parsed(const char *url, const struct redis_url *u)
{
	char red[4096], red2[4096], red3[4096];
	struct redis_url x, back;

	redis_url_redact(u, red, sizeof red);
	redis_url_redact_str(url, red2, sizeof red2);
	if (strcmp(red, red2) != 0)
		abort();
	if (u->password) {
		if (!*u->password)
			abort();
		/* Same struct, other password: the text must not change. */
		x = *u;
		x.password = "X";
		redis_url_redact(&x, red3, sizeof red3);
		if (strcmp(red, red3) != 0)
			abort();
		if (strlen(u->password) >= 4 && strstr(red, u->password) && !strstr(red3, u->password))
			abort();
	}
	if (strlen(red) + 1 >= sizeof red)
		return;
	if (redis_url_parse(red, &back, NULL, 0) != 0)
		abort();
	if (back.transport != u->transport || !str_eq(back.host, u->host) || back.port != u->port ||
	    !str_eq(back.path, u->path) || back.db != u->db || !str_eq(back.user, u->user) ||
	    !str_eq(back.password, u->password ? "***" : NULL))
		abort();
	redis_url_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const schemes[] = { "redis://", "rediss://", "unix://", "REDIS://" };
	struct redis_url u;
	char err[512], err2[512], red[512];

	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++, size--;

	if (!(mode & 1)) {
		char *url = malloc(size + 1);
		memcpy(url, data, size);
		url[size] = '\0';
		if (redis_url_parse(url, &u, err, sizeof err) == 0) {
			check_parsed(url, &u);
			redis_url_free(&u);
		} else if (strchr(err, '\n') || !err[0]) {
			abort();
		}
		redis_url_redact_str(url, red, sizeof red);
		free(url);
		return 0;
	}

	if (size < 1)
		return 0;
	size_t pn = data[0];
	data++, size--;
	if (pn > size)
		pn = size;
	const uint8_t *pw = data;
	const char *scheme = schemes[(mode >> 1) & 3];
	char *enc = encode_pw(pw, pn, 0), *enc2 = encode_pw(pw, pn, 1);
	char *url = build(scheme, enc, data + pn, size - pn);
	char *url2 = build(scheme, enc2, data + pn, size - pn);
	char *plain = malloc(pn + 1);
	memcpy(plain, pw, pn);
	plain[pn] = '\0';

	int rc = redis_url_parse(url, &u, err, sizeof err);
	struct redis_url u2;
	int rc2 = redis_url_parse(url2, &u2, err2, sizeof err2);
	/* The outcome depends on the password only through control bytes,
	 * which encode_pw keeps in the stand-in too. */
	if (rc != rc2 || strcmp(err, err2) != 0)
		abort();
	if (strlen(plain) >= 4 && strstr(err, plain) && !strstr(err2, plain))
		abort();
	if (rc == 0) {
		check_parsed(url, &u);
		redis_url_free(&u);
		redis_url_free(&u2);
	}
	redis_url_redact_str(url, red, sizeof red);
	if (strlen(plain) >= 4 && strstr(red, plain)) {
		char red2[512];
		redis_url_redact_str(url2, red2, sizeof red2);
		if (!strstr(red2, plain))
			abort();
	}
	free(plain);
	free(url);
	free(url2);
	free(enc);
	free(enc2);
	return 0;
}
