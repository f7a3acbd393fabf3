/* cachekey: key formatting and URL checks (see cachekey.h). The URL check is
 * deliberately stricter than RFC 3986 parsing: the model's runner downloads
 * these URLs, and anything a browser would have to guess about is refused. */
#include "tryon/cachekey.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static char *format_hex(const char *prefix, const unsigned char *digest, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t p = strlen(prefix);

	if (outlen < p + CACHEKEY_HEX_CHARS + 1) {
		if (outlen)
			out[0] = '\0';
		return out;
	}
	memcpy(out, prefix, p);
	for (size_t i = 0; i < CACHEKEY_HEX_CHARS / 2; i++) {
		out[p + 2 * i] = hex[digest[i] >> 4];
		out[p + 2 * i + 1] = hex[digest[i] & 15];
	}
	out[p + CACHEKEY_HEX_CHARS] = '\0';
	return out;
}

char *cachekey_format(const unsigned char digest[CACHEKEY_DIGEST_LEN], char *out, size_t outlen)
{
	return format_hex(CACHEKEY_PREFIX, digest, out, outlen);
}

char *cachekey_lock_format(const unsigned char digest[CACHEKEY_DIGEST_LEN], char *out, size_t outlen)
{
	return format_hex(CACHEKEY_LOCK_PREFIX, digest, out, outlen);
}

static int fail(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
	return -1;
}

static int is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The first byte that cannot stand in a URL, classified for the message. */
static int check_chars(const char *s, size_t len, char *why, size_t whylen)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || (c >= '\t' && c <= '\r'))
			return fail(why, whylen, "contains whitespace");
		if (c < 0x20 || c == 0x7f)
			return fail(why, whylen, "contains control characters");
		if (c >= 0x80)
			return fail(why, whylen, "contains non-ASCII bytes (percent-encode them)");
		switch (c) {   /* a switch, not strchr per byte: this runs on every cache hit */
		case '"': case '<': case '>': case '\\': case '^': case '`': case '{': case '|': case '}':
			return fail(why, whylen, "contains a character that must be percent-encoded in a URL");
		default:
			break;
		}
	}
	return 0;
}

static int check_url(const char *s, size_t len, size_t max, char *why, size_t whylen)
{
	size_t skip;

	if (len >= 8 && !strncasecmp(s, "https://", 8))
		skip = 8;
	else if (len >= 7 && !strncasecmp(s, "http://", 7))
		skip = 7;
	else
		return fail(why, whylen, "must be an absolute https:// or http:// URL "
			    "(or a data:image/...;base64, URI)");
	if (len > max) {
		char msg[64];
		snprintf(msg, sizeof msg, "is longer than %zu bytes", max);
		return fail(why, whylen, msg);
	}
	if (check_chars(s, len, why, whylen) < 0)
		return -1;

	/* Authority: up to the first '/', '?' or '#'. */
	const char *a = s + skip, *end = s + len, *e = a;
	while (e < end && *e != '/' && *e != '?' && *e != '#')
		e++;
	if (e == a)
		return fail(why, whylen, "has no host");
	if (memchr(a, '@', (size_t)(e - a)))
		return fail(why, whylen, "must not contain credentials (user:password@)");
	const char *h = a, *port = NULL;
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(e - h));
		if (!rb || rb == h + 1)
			return fail(why, whylen, "has a malformed IPv6 host");
		for (const char *p = h + 1; p < rb; p++)
			if (!is_alnum((unsigned char)*p) && *p != ':' && *p != '.' && *p != '%')
				return fail(why, whylen, "has a malformed IPv6 host");
		if (rb + 1 < e) {
			if (rb[1] != ':')
				return fail(why, whylen, "has a malformed host");
			port = rb + 2;
		}
	} else {
		const char *p = h;
		for (; p < e && *p != ':'; p++)
			if (!is_alnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_' && *p != '~')
				return fail(why, whylen, "has a malformed host");
		if (p == h)
			return fail(why, whylen, "has no host");
		if (p < e)
			port = p + 1;
	}
	if (port) {
		unsigned long v = 0;
		if (port == e || e - port > 5)
			return fail(why, whylen, "has a malformed port");
		for (const char *p = port; p < e; p++) {
			if (*p < '0' || *p > '9')
				return fail(why, whylen, "has a malformed port");
			v = v * 10 + (unsigned long)(*p - '0');
		}
		if (v < 1 || v > 65535)
			return fail(why, whylen, "has a port out of range");
	}
	return 0;
}

static int is_b64(unsigned char c)
{
	return is_alnum(c) || c == '+' || c == '/';
}

static int check_data_uri(const char *s, size_t len, size_t max, char *why, size_t whylen)
{
	static const char b64tag[] = ";base64,";
	size_t i = 5;   /* past "data:" */

	if (!max)
		return fail(why, whylen, "is a data: URI, and data URIs are disabled (TRYON_MAX_DATA_URI_BYTES=0)");
	if (len > max) {
		char msg[96];
		snprintf(msg, sizeof msg, "is a data: URI larger than %zu bytes (TRYON_MAX_DATA_URI_BYTES)", max);
		return fail(why, whylen, msg);
	}
	if (len - i < 6 || strncasecmp(s + i, "image/", 6))
		return fail(why, whylen, "is a data: URI but not data:image/<type>;base64,...");
	i += 6;
	size_t t0 = i;
	while (i < len && (is_alnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '+' || s[i] == '-'))
		i++;
	if (i == t0 || i - t0 > 32)
		return fail(why, whylen, "is a data: URI without a valid image type");
	if (len - i < sizeof b64tag - 1 || strncasecmp(s + i, b64tag, sizeof b64tag - 1))
		return fail(why, whylen, "is a data: URI but not data:image/<type>;base64,...");
	i += sizeof b64tag - 1;
	size_t n = len - i;
	if (n == 0)
		return fail(why, whylen, "is a data: URI with no data");
	if (n % 4)
		return fail(why, whylen, "is a data: URI whose base64 length is not a multiple of 4");
	size_t pad = 0;
	while (pad < 2 && pad < n && s[len - 1 - pad] == '=')
		pad++;
	for (size_t k = i; k < len - pad; k++)
		if (!is_b64((unsigned char)s[k]))
			return fail(why, whylen, "is a data: URI with characters outside base64");
	return 0;
}

int cachekey_validate_input(const char *s, size_t len, size_t max_data_uri, char *why, size_t whylen)
{
	if (!s || len == 0)
		return fail(why, whylen, "is empty");
	if (len >= 5 && !strncasecmp(s, "data:", 5))
		return check_data_uri(s, len, max_data_uri, why, whylen) < 0 ? -1 : CACHEKEY_INPUT_DATA_URI;
	return check_url(s, len, CACHEKEY_URL_MAX, why, whylen) < 0 ? -1 : CACHEKEY_INPUT_URL;
}

int cachekey_validate_result(const char *s, size_t len, char *why, size_t whylen)
{
	if (!s || len == 0)
		return fail(why, whylen, "is empty");
	return check_url(s, len, CACHEKEY_RESULT_MAX, why, whylen);
}
