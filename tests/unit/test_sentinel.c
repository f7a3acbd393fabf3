/* Unit tests for the pure halves of Sentinel support: sentinel.c (reply
 * readers, +switch-master, the status JSON), redis_cmd.c (what a command
 * does to reply matching) and resp_fifo.c. Replies are built by feeding
 * RESP text to the real reader, split at every offset once. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lib/json.h"
#include "redis/redis_cmd.h"
#include "redis/resp.h"
#include "redis/resp_fifo.h"
#include "redis/sentinel.h"

/* One reply from RESP text; NULL if it does not parse. The caller frees. */
static struct resp_value *reply(const char *text)
{
	struct resp_reader r;
	struct resp_value *v = NULL, *w = NULL;
	size_t n = strlen(text);

	resp_reader_init(&r, NULL);
	if (resp_reader_feed(&r, text, n) < 0 || resp_reader_get(&r, &v) != 1)
		v = NULL;
	resp_reader_free(&r);
	/* The same bytes split at every offset give the same shape. */
	for (size_t cut = 1; v && cut < n; cut++) {
		resp_reader_init(&r, NULL);
		resp_reader_feed(&r, text, cut);
		CHECK(resp_reader_get(&r, &w) == 0);
		resp_reader_feed(&r, text + cut, n - cut);
		CHECK(resp_reader_get(&r, &w) == 1 && w && w->type == v->type);
		resp_value_free(w);
		resp_reader_free(&r);
	}
	return v;
}

static void test_master_addr(void)
{
	char host[SENTINEL_HOST_MAX], why[128];
	int port = 0;
	struct resp_value *v;

	v = reply("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n");
	CHECK(v && sentinel_parse_master_addr(v, host, &port, why, sizeof why) == 0);
	CHECK(!strcmp(host, "127.0.0.1") && port == 6380);
	resp_value_free(v);

	v = reply("*-1\r\n");
	CHECK(v && sentinel_parse_master_addr(v, host, &port, why, sizeof why) < 0 &&
	      strstr(why, "does not know"));
	resp_value_free(v);
	v = reply("$-1\r\n");
	CHECK(v && sentinel_parse_master_addr(v, host, &port, why, sizeof why) < 0);
	resp_value_free(v);
	v = reply("-NOAUTH Authentication required.\r\n");
	CHECK(v && sentinel_parse_master_addr(v, host, &port, why, sizeof why) < 0 &&
	      !strncmp(why, "NOAUTH", 6));
	resp_value_free(v);
	/* Bad shapes: one element, a port out of range or not a number, a
	 * host with a space or empty, an integer. */
	const char *bad[] = {
		"*1\r\n$9\r\n127.0.0.1\r\n",
		"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n65536\r\n",
		"*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n",
		"*2\r\n$9\r\n127.0.0.1\r\n$3\r\n6x0\r\n",
		"*2\r\n$3\r\na b\r\n$4\r\n6379\r\n",
		"*2\r\n$0\r\n\r\n$4\r\n6379\r\n",
		"*2\r\n$1\r\nh\r\n:6379\r\n",
		":1\r\n",
		"*3\r\n$1\r\nh\r\n$1\r\n1\r\n$1\r\n1\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = reply(bad[i]);
		CHECK(v && sentinel_parse_master_addr(v, host, &port, why, sizeof why) < 0);
		resp_value_free(v);
	}
	CHECK(sentinel_parse_master_addr(NULL, host, &port, why, sizeof why) < 0);
}

static void test_role(void)
{
	struct resp_value *v;

	v = reply("*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
	CHECK(sentinel_parse_role(v) == 1);
	resp_value_free(v);
	v = reply("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:1\r\n");
	CHECK(sentinel_parse_role(v) == 0);
	resp_value_free(v);
	v = reply("*2\r\n$8\r\nsentinel\r\n*0\r\n");
	CHECK(sentinel_parse_role(v) == 0);
	resp_value_free(v);
	v = reply("-ERR unknown command 'ROLE'\r\n");
	CHECK(sentinel_parse_role(v) == -1);
	resp_value_free(v);
	v = reply("*0\r\n");
	CHECK(sentinel_parse_role(v) == -1);
	resp_value_free(v);
	CHECK(sentinel_parse_role(NULL) == -1);
}

static void test_switch(void)
{
	char host[SENTINEL_HOST_MAX];
	int port = 0;
	const char *m = "mymaster 127.0.0.1 6379 127.0.0.1 6380";

	CHECK(sentinel_parse_switch(m, strlen(m), "mymaster", host, &port) == 1);
	CHECK(!strcmp(host, "127.0.0.1") && port == 6380);
	CHECK(sentinel_parse_switch(m, strlen(m), "other", host, &port) == 0);
	CHECK(sentinel_parse_switch(m, strlen(m), "mymaste", host, &port) == 0);
	/* Not NUL-terminated: only n bytes count. */
	CHECK(sentinel_parse_switch(m, strlen(m) - 1, "mymaster", host, &port) == 1 && port == 638);
	const char *bad[] = { "", "mymaster", "mymaster 1 2 3", "mymaster a 1 b 70000",
			      "mymaster a x b 1", "mymaster a 1 b 1 extra", "mymaster a 1 b\t 1" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(sentinel_parse_switch(bad[i], strlen(bad[i]), "mymaster", host, &port) == -1);
	/* Every prefix of every input is handled (bounded reads). */
	for (size_t n = 0; n <= strlen(m); n++) {
		char *copy = malloc(n ? n : 1);
		memcpy(copy, m, n);
		int r = sentinel_parse_switch(copy, n, "mymaster", host, &port);
		CHECK(r == -1 || r == 1);
		free(copy);
	}
}

static void test_failover_errors(void)
{
	const char *yes[] = { "-READONLY You can't write against a read only replica.\r\n",
			      "-LOADING Redis is loading the dataset in memory\r\n",
			      "-MASTERDOWN Link with MASTER is down\r\n",
			      "-NOREPLICAS Not enough good replicas to write.\r\n" };
	const char *no[] = { "-ERR READONLY\r\n", "-READONLYX\r\n", "+READONLY\r\n",
			     "$8\r\nREADONLY\r\n", "-NOSCRIPT No matching script\r\n" };
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		struct resp_value *v = reply(yes[i]);
		CHECK(sentinel_reply_means_failover(v) == 1);
		resp_value_free(v);
	}
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		struct resp_value *v = reply(no[i]);
		CHECK(sentinel_reply_means_failover(v) == 0);
		resp_value_free(v);
	}
	CHECK(sentinel_reply_means_failover(NULL) == 0);
}

static void test_track(void)
{
	struct sentinel_track t = { 0 };

	CHECK(sentinel_track_take(&t) == 0);
	CHECK(sentinel_track_note(&t, "10.0.0.1", 6379, 100.0) == 1);
	CHECK(!strcmp(t.master, "10.0.0.1:6379") && t.changes == 0 && t.last_switch == 0);
	CHECK(sentinel_track_take(&t) == 0);
	CHECK(sentinel_track_note(&t, "10.0.0.1", 6379, 101.0) == 0);   /* a reconnect, same master */
	CHECK(sentinel_track_note(&t, "::1", 6380, 102.5) == 2);
	CHECK(!strcmp(t.master, "[::1]:6380") && !strcmp(t.previous, "10.0.0.1:6379"));
	CHECK(t.changes == 1 && t.last_switch == 102.5);
	CHECK(sentinel_track_take(&t) == 1 && sentinel_track_take(&t) == 0);
	CHECK(sentinel_track_note(&t, "10.0.0.1", 6379, 110.0) == 2 && t.changes == 2);
}

static void test_status_json(void)
{
	const char *s[] = { "127.0.0.1:26379", "[::1]:26380" };
	struct sentinel_status st = { "my\"m", s, 2, "127.0.0.1:6380", "ready", 3, 1765000000.25 };
	char out[512], tiny[16];
	struct json_doc doc;

	size_t n = sentinel_status_json(&st, out, sizeof out);
	CHECK(n == strlen(out));
	CHECK(!strcmp(out, "{\"master_name\":\"my\\\"m\",\"sentinels\":[\"127.0.0.1:26379\","
		      "\"[::1]:26380\"],\"master\":\"127.0.0.1:6380\",\"state\":\"ready\","
		      "\"master_changes\":3,\"last_switch\":1765000000.250}"));
	CHECK(json_parse(&doc, out, n, 0, NULL, 0) >= 0);
	json_doc_free(&doc);
	/* Cut short: NUL-terminated, the full length still reported. */
	CHECK(sentinel_status_json(&st, tiny, sizeof tiny) == n && strlen(tiny) == sizeof tiny - 1);
	struct sentinel_status none = { "m", NULL, 0, "", "backoff", 0, 0 };
	sentinel_status_json(&none, out, sizeof out);
	CHECK(strstr(out, "\"sentinels\":[]") && strstr(out, "\"last_switch\":null"));
}

static void test_cmd_classify(void)
{
	enum redis_cmd_sub sub;
	long conf;
	const char *sub3[] = { "SUBSCRIBE", "a", "b", "c" };
	const char *uns0[] = { "unsubscribe" };
	const char *get[] = { "GET", "k" };
	const char *cr[] = { "client", "REPLY", "OFF" };
	const char *mon[] = { "MONITOR" };
	const size_t lens[] = { 5, 1 };   /* "PSUBS" of "PSUBSCRIBE": a different word */
	const char *psub[] = { "PSUBSCRIBE", "x" };

	CHECK(redis_cmd_classify(4, sub3, NULL, &sub, &conf) == 0 && sub == REDIS_CMD_SUBSCRIBE && conf == 3);
	CHECK(redis_cmd_classify(2, get, NULL, &sub, &conf) == 0 && sub == REDIS_CMD_PLAIN && conf == 1);
	CHECK(redis_cmd_classify(1, uns0, NULL, &sub, &conf) == -1);
	CHECK(redis_cmd_classify(3, cr, NULL, &sub, &conf) == -1);
	CHECK(redis_cmd_classify(1, mon, NULL, &sub, &conf) == -1);
	CHECK(redis_cmd_classify(0, get, NULL, &sub, &conf) == -1);
	CHECK(redis_cmd_classify(2, psub, lens, &sub, &conf) == 0 && sub == REDIS_CMD_PLAIN);

	struct resp_value *v = reply("*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
	CHECK(redis_cmd_confirms(REDIS_CMD_SUBSCRIBE, v) == 1);
	CHECK(redis_cmd_confirms(REDIS_CMD_PSUBSCRIBE, v) == 0);
	CHECK(redis_cmd_confirms(REDIS_CMD_PLAIN, v) == 0);
	CHECK(!redis_cmd_is_message(v));
	resp_value_free(v);
	v = reply("*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n");
	CHECK(redis_cmd_confirms(REDIS_CMD_UNSUBSCRIBE, v) == 2);
	resp_value_free(v);
	v = reply("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$4\r\nm 1 \r\n");
	CHECK(redis_cmd_is_message(v) && redis_cmd_confirms(REDIS_CMD_SUBSCRIBE, v) == 0);
	resp_value_free(v);
}

static void test_wait_short(void)
{
	char text[64];
	struct resp_value *v = reply(":1\r\n");

	CHECK(redis_cmd_wait_short(v, 1, text, sizeof text) == 0 && !strcmp(text, "1 replicas"));
	CHECK(redis_cmd_wait_short(v, 2, text, sizeof text) == 1);
	resp_value_free(v);
	v = reply("-ERR WAIT cannot be used with replica instances.\r\n");
	CHECK(redis_cmd_wait_short(v, 1, text, sizeof text) == 1 && !strncmp(text, "ERR WAIT", 8));
	resp_value_free(v);
	v = reply("$1\r\n1\r\n");
	CHECK(redis_cmd_wait_short(v, 1, text, sizeof text) == 1 && strstr(text, "unexpected"));
	resp_value_free(v);
	CHECK(redis_cmd_wait_short(NULL, 0, text, 4) == 1 && strlen(text) == 3);
}

static void test_fifo(void)
{
	struct resp_fifo f = { 0 };

	CHECK(resp_fifo_pop(&f) == NULL);
	CHECK(resp_fifo_push(&f, reply(":1\r\n"), 2) == 0);
	CHECK(resp_fifo_push(&f, reply(":2\r\n"), 2) == 0);
	CHECK(resp_fifo_push(&f, reply(":3\r\n"), 2) == -1);   /* full: freed, not kept */
	struct resp_value *v = resp_fifo_pop(&f);
	CHECK(v && v->integer == 1 && f.n == 1);
	resp_value_free(v);
	CHECK(resp_fifo_push(&f, reply(":4\r\n"), 2) == 0);
	resp_fifo_clear(&f);
	CHECK(f.n == 0 && !f.head && !f.tail && resp_fifo_pop(&f) == NULL);
}

int main(void)
{
	RUN(test_master_addr);
	RUN(test_role);
	RUN(test_switch);
	RUN(test_failover_errors);
	RUN(test_track);
	RUN(test_status_json);
	RUN(test_cmd_classify);
	RUN(test_wait_short);
	RUN(test_fifo);
	return harness_report();
}
