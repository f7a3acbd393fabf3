/* kombu: transport naming and layouts. Pure. */
#include "celery/kombu.h"

#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/errmsg.h"
#include "lib/pyrepr.h"

static const int priority_steps[4] = { 0, 3, 6, 9 };

int kombu_priority_list(struct buf *out, const char *queue, int priority)
{
	int step = 0;

	if (priority < 0)
		priority = 0;
	if (priority > 9)
		priority = 9;
	for (int i = 0; i < 4; i++)
		if (priority_steps[i] <= priority)
			step = priority_steps[i];
	buf_append_str(out, queue);
	if (step)
		buf_printf(out, KOMBU_SEP "%d", step);
	return out->failed ? -1 : 0;
}

int kombu_consume_order(struct buf *out, const char *const *queues, int nq, int first)
{
	int n = 0;

	for (int s = 0; s < 4; s++) {
		for (int i = 0; i < nq; i++) {
			const char *q = queues[(first + i) % nq];
			kombu_priority_list(out, q, priority_steps[s]);
			buf_append_char(out, '\0');
			n++;
		}
	}
	return out->failed ? -1 : n;
}

void kombu_queue_of_list(const char *list, size_t len, char *out, size_t outlen)
{
	size_t cut = len;

	for (size_t i = len; i >= 2; i--) {
		if (list[i - 2] == '\x06' && list[i - 1] == '\x16') {
			cut = i - 2;
			break;
		}
	}
	if (cut >= outlen)
		cut = outlen - 1;
	memcpy(out, list, cut);
	out[cut] = '\0';
}

int kombu_binding(struct buf *key, struct buf *member, const char *queue)
{
	buf_printf(key, "_kombu.binding.%s", queue);
	buf_printf(member, "%s" KOMBU_SEP KOMBU_SEP "%s", queue, queue);
	return key->failed || member->failed ? -1 : 0;
}

int kombu_unacked_value(struct buf *out, const char *envelope, size_t len,
			const char *exchange, const char *routing_key)
{
	buf_append_char(out, '[');
	buf_append(out, envelope, len);
	return kombu_unacked_tail(out, exchange, routing_key);
}

int kombu_unacked_tail(struct buf *out, const char *exchange, const char *routing_key)
{
	buf_append_str(out, ", ");
	json_write_str(out, exchange ? exchange : "", strlen(exchange ? exchange : ""), JSON_W_ASCII);
	buf_append_str(out, ", ");
	json_write_str(out, routing_key ? routing_key : "", strlen(routing_key ? routing_key : ""), JSON_W_ASCII);
	buf_append_char(out, ']');
	return out->failed ? -1 : 0;
}

/* A copy of string token i without NUL bytes (to be used as a C string),
 * or NULL. */
static char *tok_cstr(const struct json_doc *d, int i)
{
	char *s = NULL, e[64];
	size_t n = 0;

	if (i < 0 || json_kind(d, i) != JSON_K_STRING || json_tok_strdup(d, i, &s, &n, e, sizeof e) < 0)
		return NULL;
	if (strlen(s) != n) {
		free(s);
		return NULL;
	}
	return s;
}

int kombu_unacked_parse(const char *value, size_t len, size_t *env_off, size_t *env_len,
			char **exchange, char **routing_key, char *err, size_t errlen)
{
	struct json_doc d;
	size_t s = 0, e = 0;

	*env_off = *env_len = 0;
	*exchange = *routing_key = NULL;
	if (json_parse(&d, value, len, 1 << 20, err, errlen) < 0)
		return -1;
	int env = json_arr_get(&d, 0, 0);
	if (json_kind(&d, 0) != JSON_K_ARRAY || json_kind(&d, env) != JSON_K_OBJECT) {
		errmsg_set(err, errlen, "not a kombu unacked value [envelope, exchange, routing_key]");
		json_doc_free(&d);
		return -1;
	}
	json_tok_span(&d, env, &s, &e);
	*env_off = s;
	*env_len = e - s;
	*exchange = tok_cstr(&d, json_arr_get(&d, 0, 1));
	*routing_key = tok_cstr(&d, json_arr_get(&d, 0, 2));
	json_doc_free(&d);
	return 0;
}

int kombu_node_key(struct buf *out, const char *kind, const char *node)
{
	buf_printf(out, "tryon-worker.%s.%s", kind, node);
	return out->failed ? -1 : 0;
}

int kombu_envelope(struct buf *out, const char *body, size_t body_len,
		   const char *headers, size_t headers_len,
		   const char *exchange, const char *routing_key,
		   const char *delivery_tag)
{
	buf_append_str(out, "{\"body\": \"");
	base64_encode(out, body ? body : "", body ? body_len : 0);
	buf_append_str(out, "\", \"content-encoding\": \"utf-8\", "
			    "\"content-type\": \"application/json\", "
			    "\"headers\": ");
	buf_append(out, headers ? headers : "{}", headers ? headers_len : 2);
	buf_append_str(out, ", \"properties\": {\"delivery_mode\": 1, "
			    "\"delivery_info\": {\"exchange\": ");
	json_write_cstr(out, exchange);
	buf_append_str(out, ", \"routing_key\": ");
	json_write_cstr(out, routing_key);
	buf_append_str(out, "}, \"priority\": 0, \"body_encoding\": "
			    "\"base64\", \"delivery_tag\": ");
	json_write_cstr(out, delivery_tag);
	buf_append_str(out, "}}");
	return out->failed ? -1 : 0;
}

int kombu_body_decode(const struct json_doc *d, int env, char **body, size_t *body_len,
		      char *err, size_t errlen)
{
	int t = json_obj_get(d, env, "body");
	int props = json_obj_get(d, env, "properties");
	int enc = json_kind(d, props) == JSON_K_OBJECT ? json_obj_get(d, props, "body_encoding") : -1;
	struct buf text;
	char why[96];
	size_t cap, s, e;

	*body = NULL;
	*body_len = 0;
	if (t < 0) {
		errmsg_set(err, errlen, "missing 'body'");
		return -1;
	}
	if (json_kind(d, t) != JSON_K_STRING) {
		errmsg_set(err, errlen, "'body' must be a string");
		return -1;
	}
	buf_init(&text);
	if (json_tok_unescape(d, t, &text, why, sizeof why) < 0 || buf_reserve(&text, 0) < 0) {
		errmsg_set(err, errlen, "'body': %s", text.failed ? "out of memory" : why);
		buf_free(&text);
		return -1;
	}
	if (enc < 0 || json_kind(d, enc) == JSON_K_NULL) {
		text.data[text.len] = '\0';   /* the text is the body */
		*body = text.data;
		*body_len = text.len;
		return 0;
	}
	if (!json_tok_streq(d, enc, "base64")) {
		json_tok_span(d, enc, &s, &e);
		errmsg_set(err, errlen, "unsupported body_encoding %.*s",
			   (int)(e - s > 32 ? 32 : e - s), d->js + s);
		buf_free(&text);
		return -1;
	}
	cap = base64_decoded_max(text.len) + 1;
	if (!(*body = malloc(cap))) {
		errmsg_set(err, errlen, "out of memory");
	} else if (base64_decode(text.data, text.len, (unsigned char *)*body, cap - 1, body_len,
				 why, sizeof why) < 0) {
		errmsg_set(err, errlen, "body: %s", why);
		free(*body);
		*body = NULL;
		*body_len = 0;
	} else {
		(*body)[*body_len] = '\0';
	}
	buf_free(&text);
	return *body ? 0 : -1;
}

int kombu_pidbox_addressed(const struct json_doc *d, int dest, const char *pattern,
			   const char *matcher, const char *hostname)
{
	char *s;
	size_t n;
	int r;

	if (!hostname)
		return KOMBU_ADDR_NO;
	if (dest >= 0 && pyrepr_truthy(d, dest)) {
		switch (json_kind(d, dest)) {
		case JSON_K_ARRAY:
			for (int i = 0; i < d->toks[dest].size; i++)
				if (json_tok_streq(d, json_arr_get(d, dest, i), hostname))
					return KOMBU_ADDR_YES;
			return KOMBU_ADDR_NO;
		case JSON_K_OBJECT:
			return json_obj_get(d, dest, hostname) >= 0 ? KOMBU_ADDR_YES : KOMBU_ADDR_NO;
		case JSON_K_STRING:
			if (json_tok_strdup(d, dest, &s, &n, NULL, 0) < 0)
				return KOMBU_ADDR_UNSUPPORTED;
			r = strlen(s) != n ? KOMBU_ADDR_UNSUPPORTED
			    : strstr(s, hostname) ? KOMBU_ADDR_YES : KOMBU_ADDR_NO;
			free(s);
			return r;
		default:
			return KOMBU_ADDR_UNSUPPORTED;
		}
	}
	if (pattern && pattern[0] && matcher && matcher[0]) {
		if (strcmp(matcher, "glob") != 0)
			return KOMBU_ADDR_UNSUPPORTED;
		r = pyrepr_fnmatch(hostname, pattern);
		if (r < 0)
			return KOMBU_ADDR_UNSUPPORTED;
		return r ? KOMBU_ADDR_YES : KOMBU_ADDR_NO;
	}
	return KOMBU_ADDR_YES;
}

int kombu_pidbox_reply(struct buf *out, const char *hostname, const char *reply,
		       size_t reply_len, const char *ticket, int64_t clock,
		       const char *exchange, const char *routing_key,
		       const char *delivery_tag)
{
	struct buf body, hdr;

	buf_init(&body);
	buf_init(&hdr);
	buf_append_char(&body, '{');
	json_write_key(&body, hostname);
	buf_append(&body, reply, reply_len);
	buf_append_char(&body, '}');
	buf_append_str(&hdr, "{\"ticket\": ");
	json_write_cstr(&hdr, ticket);
	buf_printf(&hdr, ", \"clock\": %lld}", (long long)clock);
	if (body.failed || hdr.failed)
		out->failed = 1;
	else
		kombu_envelope(out, body.data, body.len, hdr.data, hdr.len, exchange,
			       routing_key, delivery_tag);
	buf_free(&body);
	buf_free(&hdr);
	return out->failed ? -1 : 0;
}
