/* doctor: `tryon-worker doctor` checks what the configuration points at and
 * prints one line per check, "ok" or "FAIL" with a reason an operator can act
 * on. It never prints a secret. */
#ifndef TRYON_DOCTOR_H
#define TRYON_DOCTOR_H
#include <stdio.h>

#include "config.h"
#include "lib/trust.h"

/* Returns the number of failed checks (0 = healthy). */
int doctor_run(const struct config *cfg, const struct trust_store *ts, FILE *out);
#endif
