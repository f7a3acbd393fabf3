/* healthcheck: `tryon-worker healthcheck`, the container HEALTHCHECK: asks
 * the local worker's HTTP endpoint (TRYON_HTTP_ADDR) for /readyz and exits
 * 0 on 200, 1 on anything else or after the time limit. It needs no shell,
 * no configuration besides the address, and never touches Redis or the
 * model API, so it stays fast when the worker is busy. Synchronous: this is
 * a command, not part of the worker's loop. */
#ifndef TRYON_HEALTHCHECK_H
#define TRYON_HEALTHCHECK_H
#include <stdio.h>

#define HEALTHCHECK_TIMEOUT 2.0          /* s for connect, request and answer */
#define HEALTHCHECK_DEFAULT_PATH "/readyz"

/* GET path from addr ("127.0.0.1:9808"; a wildcard address means this
 * host's loopback). Returns 0 when the answer is 200 within timeout
 * seconds, else 1. Writes one line saying what happened to out. */
int healthcheck_run(const char *addr, const char *path, double timeout, FILE *out);
#endif
