/* scripts: how the broker scripts are sent (SCRIPT LOAD, EVALSHA, EVAL). */
#include "redis/scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_sync.h"
#include "redis/resp.h"

void scripts_load(struct redis_conn *c)
{
	for (int i = 0; i < SCRIPT_COUNT; i++) {
		const char *argv[3] = { "SCRIPT", "LOAD", scripts_text((enum script_id)i) };
		redis_conn_command(c, NULL, NULL, 0, 3, argv, NULL);
	}
}

static int build_argv(const char **argv, size_t *lens, const char *cmd, const char *script,
		      int nkeys, const char *const *keys, const size_t *keylens,
		      int nargs, const char *const *args, const size_t *arglens, char *nk)
{
	int n = 0;
	argv[n] = cmd, lens[n++] = strlen(cmd);
	argv[n] = script, lens[n++] = strlen(script);
	snprintf(nk, 16, "%d", nkeys);
	argv[n] = nk, lens[n++] = strlen(nk);
	for (int i = 0; i < nkeys; i++)
		argv[n] = keys[i], lens[n++] = keylens ? keylens[i] : strlen(keys[i]);
	for (int i = 0; i < nargs; i++)
		argv[n] = args[i], lens[n++] = arglens ? arglens[i] : strlen(args[i]);
	return n;
}

int scripts_call(struct redis_conn *c, enum script_id id,
		 int nkeys, const char *const *keys, const size_t *keylens,
		 int nargs, const char *const *args, const size_t *arglens,
		 redis_reply_fn cb, void *arg)
{
	char nk[16];
	int total = 3 + nkeys + nargs;
	const char **argv = malloc((size_t)total * sizeof *argv);
	size_t *lens = malloc((size_t)total * sizeof *lens);
	int rc = -1;

	if (argv && lens) {
		int n = build_argv(argv, lens, "EVALSHA", scripts_sha(id), nkeys, keys, keylens, nargs, args, arglens, nk);
		const struct redis_url *u = c ? redis_conn_parsed_url(c) : NULL;
		/* The two steps a master crash must not undo unseen (a job started,
		 * a task reported done): with the URL's wait_replicas
		 * (TRYON_BROKER_WAIT_REPLICAS), their reply waits for WAIT. */
		if (u && u->wait_replicas > 0 && (id == SCRIPT_RECORD || id == SCRIPT_FINISH))
			rc = redis_conn_command_wait(c, cb, arg, u->wait_replicas, u->wait_timeout_ms, n, argv, lens);
		else
			rc = redis_conn_command(c, cb, arg, 0, n, argv, lens);
	}
	free(argv);
	free(lens);
	return rc;
}

struct resp_value *scripts_call_sync(struct redis_conn *c, enum script_id id, double timeout,
				     int nkeys, const char *const *keys, const size_t *keylens,
				     int nargs, const char *const *args, const size_t *arglens,
				     char *err, size_t errlen)
{
	char nk[16];
	int total = 3 + nkeys + nargs;
	const char **argv = malloc((size_t)total * sizeof *argv);
	size_t *lens = malloc((size_t)total * sizeof *lens);
	struct resp_value *r = NULL;

	if (argv && lens) {
		int n = build_argv(argv, lens, "EVAL", scripts_text(id), nkeys, keys, keylens, nargs, args, arglens, nk);
		r = redis_sync_call(c, timeout, err, errlen, n, argv, lens);
	} else {
		snprintf(err, errlen, "out of memory");
	}
	free(argv);
	free(lens);
	return r;
}

int scripts_is_noscript(const struct resp_value *r)
{
	return r && r->type == RESP_ERROR && r->len >= 8 && !strncmp(r->str, "NOSCRIPT", 8);
}
