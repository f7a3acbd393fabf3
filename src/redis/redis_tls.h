/* redis_tls: the TLS client of one rediss:// connection, on BearSSL: the
 * engine and its buffers, the certificate checked against the trust store
 * and the URL's host name, TLS 1.2 only (the highest BearSSL speaks; older
 * versions are neither offered nor accepted), no renegotiation. It moves
 * bytes and does no I/O: redis_conn owns the socket and pumps bytes through
 * the _buf/_ack pairs below. Must not log, touch sockets or keep globals. */
#ifndef TRYON_REDIS_TLS_H
#define TRYON_REDIS_TLS_H
#include <stddef.h>

#include "lib/trust.h"

struct redis_tls;   /* opaque; about 34 KB, mostly the record buffer */

/* A new engine, not started; NULL when out of memory. */
struct redis_tls *redis_tls_new(void);
/* Wipes (it held session keys) and frees. NULL is fine. */
void redis_tls_free(struct redis_tls *t);

/* Start a handshake on a freshly connected socket (again on every
 * reconnect: the engine and its buffers are reset). trust is borrowed and
 * must outlive t; host, the name the certificate must carry, is borrowed
 * until the next _begin or _free (error texts name it). 0, or -1 with why
 * set (no usable entropy, bad parameters). */
int redis_tls_begin(struct redis_tls *t, const struct trust_store *trust, const char *host,
		    char *why, size_t whylen);

/* 1 once the handshake is over (application bytes can flow), else 0. */
int redis_tls_handshake_done(const struct redis_tls *t);

/* 1 with why set when the engine has closed: the server's close_notify, a
 * failed handshake or certificate check, an alert, a protocol error. Else
 * 0. handshaking: the connection is still in its TLS handshake state (the
 * message then names the host). Once closed, every _buf returns NULL and
 * only a new socket and _begin revive t. */
int redis_tls_closed(const struct redis_tls *t, int handshaking, char *why, size_t whylen);

/* What to poll the socket for: POLLIN when the engine takes record bytes,
 * POLLOUT when it has record bytes to send, or room for application bytes
 * and have_app_out is set. 0 once closed. */
short redis_tls_events(const struct redis_tls *t, int have_app_out);

/* Bytes through the engine, BearSSL style: a _buf gives a pointer and *len
 * (NULL and 0 when there is nothing or no room now, and once closed); the
 * matching _ack says how many of those bytes were used (at most *len). A
 * pointer is valid until the next call on t.
 *   recvapp  application bytes decrypted from the server, to consume;
 *   sendapp  room for application bytes to the server; the ack also seals
 *            them into a record at once (BearSSL would wait to fill one);
 *   sendrec  record bytes to write to the socket;
 *   recvrec  room for the bytes read from the socket. */
unsigned char *redis_tls_recvapp_buf(struct redis_tls *t, size_t *len);
void redis_tls_recvapp_ack(struct redis_tls *t, size_t n);
unsigned char *redis_tls_sendapp_buf(struct redis_tls *t, size_t *len);
void redis_tls_sendapp_ack(struct redis_tls *t, size_t n);
unsigned char *redis_tls_sendrec_buf(struct redis_tls *t, size_t *len);
void redis_tls_sendrec_ack(struct redis_tls *t, size_t n);
unsigned char *redis_tls_recvrec_buf(struct redis_tls *t, size_t *len);
void redis_tls_recvrec_ack(struct redis_tls *t, size_t n);

#endif
