/* client: the Celery client side in C. `submit` publishes
 * app.tasks.virtual_tryon(person_url, garment_url) and `call` any task, as a
 * Python Celery 5.2.6 client would (protocol v2, JSON); with --wait they
 * subscribe to the result before publishing and print the outcome.
 * Exit codes: 0 success, 1 task failed, 2 usage or configuration,
 * 3 timed out. Synchronous: this is a command, not the worker. */
#ifndef TRYON_CLIENT_H
#define TRYON_CLIENT_H
#include "config.h"
#include "lib/trust.h"

#define CLIENT_EXIT_FAILED 1
#define CLIENT_EXIT_USAGE 2
#define CLIENT_EXIT_TIMEOUT 3

/* argv[0] is "submit" or "call". */
int client_main(const struct config *cfg, const struct trust_store *ts, int argc, char **argv);
#endif
