/* version: what this binary is and what it was built from. The strings are
 * fixed at build time (vendor/build.sh writes the Debian revisions, the
 * Makefile the git commit); nothing here does I/O except version_print. */
#ifndef TRYON_VERSION_H
#define TRYON_VERSION_H
#include <stdio.h>

extern const char version_string[];   /* e.g. "0.1.0" */
extern const char version_commit[];   /* short git commit, "-dirty" if modified */

/* Print the full --version text (ours, libcurl, BearSSL, Debian revisions). */
void version_print(FILE *out);
#endif
