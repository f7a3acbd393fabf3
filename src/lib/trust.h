/* trust: the set of X.509 trust anchors every TLS connection uses: Debian's
 * CA bundle compiled in at build time (no files needed, so a FROM scratch
 * image verifies TLS), plus the certificates of TRYON_CA_FILE if set. Built
 * once at start-up; read-only afterwards, so children share it after fork.
 * There is deliberately no way to turn verification off. */
#ifndef TRYON_TRUST_H
#define TRYON_TRUST_H
#include <stddef.h>

#include <bearssl.h>

struct trust_store {
	br_x509_trust_anchor *anchors;  /* owned array; built-in entries point
					   at static data, file entries own dn/key */
	size_t n_anchors;
	size_t n_builtin;
};

/* Build the store. ca_file may be NULL or "". Returns 0, or -1 with a reason
 * in err (file unreadable, no certificate in it, undecodable certificate). */
int trust_store_init(struct trust_store *ts, const char *ca_file, char *err, size_t errlen);
void trust_store_free(struct trust_store *ts);

/* Prepare a BearSSL X.509 engine that checks chains against the store and
 * the server name given later by the TLS engine. ctx is caller-owned and must
 * outlive the handshake. */
void trust_x509_init(const struct trust_store *ts, br_x509_minimal_context *ctx);
/* A short message for a BearSSL error code (X.509 errors get plain words). */
const char *trust_error_text(int br_err);
#endif
