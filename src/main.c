/* main: the command line. Parses the subcommand, loads the configuration
 * (exit 100 when it is invalid), sets up logging and trust, and hands over
 * to the worker or a client command. The only module besides the process
 * module that keeps process-wide state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client.h"
#include "config.h"
#include "doctor.h"
#include "healthcheck.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/trust.h"
#include "version.h"
#include "worker/worker.h"

#define EXIT_CONFIG 100

/* Variables that hold secrets (the key, Redis passwords inside URLs). */
static const char *const secret_vars[] = {
	"FAL_KEY", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_CACHE_URL", NULL
};

/* Once the configuration holds its own copies: drop the secret variables
 * from the environment and wipe their text. unsetenv alone only unlinks
 * the pointer; /proc/<pid>/environ shows the original block at the top of
 * the stack, which job children inherit through fork, so the bytes
 * themselves are overwritten. Nothing calls setenv before this, so every
 * entry lives in that block (none is freed by unsetenv). */
static void scrub_secret_env(void)
{
	for (int i = 0; secret_vars[i]; i++) {
		size_t nl = strlen(secret_vars[i]);
		for (int guard = 0; guard < 64; guard++) {
			char *entry = NULL;
			for (char **e = environ; e && *e; e++)
				if (!strncmp(*e, secret_vars[i], nl) && (*e)[nl] == '=') {
					entry = *e;
					break;
				}
			if (!entry)
				break;
			size_t len = strlen(entry);
			unsetenv(secret_vars[i]);
			volatile char *v = entry;
			for (size_t k = 0; k < len; k++)
				v[k] = '\0';
		}
	}
}

static void usage(FILE *out)
{
	fputs(
"usage: tryon-worker [worker]        run the Celery-compatible worker\n"
"       tryon-worker doctor          check configuration, broker, backend, cache, model API\n"
"       tryon-worker submit PERSON_URL GARMENT_URL [--wait SECONDS] [--queue Q]\n"
"       tryon-worker call TASK_NAME [ARGS_JSON [KWARGS_JSON]] [--wait SECONDS] [--queue Q]\n"
"       tryon-worker healthcheck [PATH]  exit 0 if the local worker answers PATH (/readyz) with 200, else 1\n"
"       tryon-worker --version | --help\n"
"\n"
"Configuration comes from the environment (see tryon-worker(8), docs/CONFIG.md):\n"
"  CELERY_BROKER_URL      broker, redis://[[user]:password@]host[:port][/db] (default redis://127.0.0.1:6379/0)\n"
"  CELERY_RESULT_BACKEND  result backend URL (default: the broker URL)\n"
"  REDIS_CACHE_URL        try-on result cache URL (unset: no cache)\n"
"  FAL_KEY                model API key (never logged)\n"
"  FAL_QUEUE_URL          model API base, https:// (default https://queue.fal.run)\n"
"  TRYON_QUEUES           queues to consume, comma-separated (default tryon_queue)\n"
"  TRYON_CONCURRENCY      job slots (default 4)\n"
"  TRYON_CA_FILE          extra trusted CA certificates (PEM)\n"
"  TRYON_LOG_LEVEL        error, warn, info, debug (default info)\n"
"  TRYON_HTTP_ADDR        metrics/health address (default 127.0.0.1:9808, empty: off)\n"
"Exit codes: 0 ok, 1 failure, 2 usage, 100 invalid configuration.\n", out);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "worker";
	struct config cfg;
	struct trust_store ts;
	char err[512];
	enum log_level level;
	int rc;

	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		version_print(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "healthcheck")) {
		/* Only the address matters: a container health check must not
		 * fail on configuration the worker itself has already accepted. */
		const char *addr = getenv("TRYON_HTTP_ADDR");
		const char *path = argc > 2 ? argv[2] : HEALTHCHECK_DEFAULT_PATH;
		if (argc > 3 || path[0] != '/' || strpbrk(path, " \t\r\n")) {
			usage(stderr);
			return 2;
		}
		return healthcheck_run(addr ? addr : "127.0.0.1:9808", path, HEALTHCHECK_TIMEOUT, stdout);
	}
	int is_client = !strcmp(cmd, "submit") || !strcmp(cmd, "call");
	if (strcmp(cmd, "worker") && strcmp(cmd, "doctor") && !is_client) {
		fprintf(stderr, "tryon-worker: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return 2;
	}

	/* Client commands report configuration errors as usage errors (2). */
	int exit_config = is_client ? CLIENT_EXIT_USAGE : EXIT_CONFIG;
	/* Journal mode before the configuration is read: under systemd the
	 * reason a start failed must reach journald at err, not info. */
	int journal = getenv("JOURNAL_STREAM") != NULL;
	log_init(LOG_LEVEL_INFO, journal);
	if (config_load(&cfg, err, sizeof err) < 0) {
		log_plain(LOG_LEVEL_ERROR, "tryon-worker: invalid configuration: %s", err);
		return exit_config;
	}
	if (log_level_parse(cfg.log_level, &level) < 0) {
		log_plain(LOG_LEVEL_ERROR, "tryon-worker: invalid configuration: TRYON_LOG_LEVEL: must be error, warn, info or debug");
		config_free(&cfg);
		return exit_config;
	}
	log_init(level, journal);
	scrub_secret_env();
	if (proc_harden() < 0)
		log_warn("worker.harden_failed", "reason=\"no core dumps / not dumpable: %s\"", strerror(errno));
	if (cfg.insecure_model_api && !strncmp(cfg.fal_queue_url, "http://", 7) && !is_client)
		log_warn("config.insecure_model_api",
			 "url=%s note=\"TRYON_INSECURE_MODEL_API=1: FAL_KEY is sent unencrypted; for local testing only\"",
			 cfg.fal_queue_url);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_plain(LOG_LEVEL_ERROR, "tryon-worker: curl_global_init failed");
		config_free(&cfg);
		return 1;
	}
	if (trust_store_init(&ts, cfg.ca_file, err, sizeof err) < 0) {
		log_plain(LOG_LEVEL_ERROR, "tryon-worker: invalid configuration: %s", err);
		config_free(&cfg);
		return exit_config;
	}

	if (!strcmp(cmd, "doctor")) {
		rc = doctor_run(&cfg, &ts, stdout) ? 1 : 0;
	} else if (is_client) {
		rc = client_main(&cfg, &ts, argc - 1, argv + 1);
	} else {
		rc = worker_run(&cfg, &ts);
	}
	trust_store_free(&ts);
	config_free(&cfg);
	curl_global_cleanup();
	return rc;
}
