/* redis_cmd: command and reply classification for redis_conn. */
#include "redis/redis_cmd.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int arg_is(const char *const *argv, const size_t *lens, int i, const char *word)
{
	if (!argv[i])
		return 0;
	size_t n = lens ? lens[i] : strlen(argv[i]);

	return n == strlen(word) && strncasecmp(argv[i], word, n) == 0;
}

int redis_cmd_classify(int argc, const char *const *argv, const size_t *lens,
		       enum redis_cmd_sub *sub, long *confirmations)
{
	static const char *const subs[] = { "subscribe", "psubscribe", "unsubscribe", "punsubscribe" };

	*sub = REDIS_CMD_PLAIN;
	*confirmations = 1;
	if (argc < 1 || !argv || !argv[0])
		return -1;
	for (int i = 0; i < 4; i++)
		if (arg_is(argv, lens, 0, subs[i]))
			*sub = (enum redis_cmd_sub)(REDIS_CMD_SUBSCRIBE + i);
	/* These change how many replies follow a command; FIFO matching
	 * could not survive them. */
	if (arg_is(argv, lens, 0, "monitor") || arg_is(argv, lens, 0, "hello") ||
	    arg_is(argv, lens, 0, "reset") || arg_is(argv, lens, 0, "quit") ||
	    arg_is(argv, lens, 0, "ssubscribe") || arg_is(argv, lens, 0, "sunsubscribe") ||
	    (argc >= 2 && arg_is(argv, lens, 0, "client") && arg_is(argv, lens, 1, "reply")))
		return -1;
	if ((*sub == REDIS_CMD_UNSUBSCRIBE || *sub == REDIS_CMD_PUNSUBSCRIBE) && argc < 2)
		return -1;
	if (*sub != REDIS_CMD_PLAIN && argc > 1)
		*confirmations = argc - 1;
	return 0;
}

static int bulk_is(const struct resp_value *v, const char *s)
{
	size_t n = strlen(s);

	return v && (v->type == RESP_BULK || v->type == RESP_SIMPLE) && v->len == n && v->str &&
	       strncasecmp(v->str, s, n) == 0;
}

int redis_cmd_is_message(const struct resp_value *v)
{
	if (!v || v->type != RESP_ARRAY)
		return 0;
	return (v->n_elems == 3 && bulk_is(v->elems[0], "message")) ||
	       (v->n_elems == 4 && bulk_is(v->elems[0], "pmessage"));
}

int redis_cmd_confirms(enum redis_cmd_sub sub, const struct resp_value *v)
{
	static const char *const names[] = { "", "subscribe", "psubscribe", "unsubscribe", "punsubscribe" };

	if (sub == REDIS_CMD_PLAIN || !v || v->type != RESP_ARRAY || v->n_elems != 3 ||
	    !bulk_is(v->elems[0], names[sub]))
		return 0;
	if (sub == REDIS_CMD_UNSUBSCRIBE || sub == REDIS_CMD_PUNSUBSCRIBE)
		return v->elems[2]->type == RESP_INTEGER && v->elems[2]->integer == 0 ? 2 : 1;
	return 1;
}

int redis_cmd_wait_short(const struct resp_value *v, int want, char *text, size_t n)
{
	if (v && v->type == RESP_INTEGER) {
		snprintf(text, n, "%lld replicas", v->integer);
		return v->integer < want;
	}
	if (v && (v->type == RESP_ERROR || v->type == RESP_SIMPLE) && v->str)
		snprintf(text, n, "%.*s", (int)(v->len > 200 ? 200 : v->len), v->str);
	else
		snprintf(text, n, "unexpected %s reply", v ? resp_type_name(v->type) : "no");
	return 1;
}
