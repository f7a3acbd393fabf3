/* redis_tls: BearSSL's client engine behind the contract in redis_tls.h.
 * The _buf calls are BearSSL's own, guarded so that a closed engine hands
 * out nothing (BearSSL's record buffers may still hold bytes then). */
#include "redis/redis_tls.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <bearssl.h>

struct redis_tls {
	br_ssl_client_context sc;
	br_x509_minimal_context x509;
	const char *host;                  /* borrowed, for error texts */
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

struct redis_tls *redis_tls_new(void)
{
	return calloc(1, sizeof(struct redis_tls));
}

void redis_tls_free(struct redis_tls *t)
{
	if (!t)
		return;
	explicit_bzero(t, sizeof *t);
	free(t);
}

static const char *error_text(int e, char *buf, size_t n)
{
	if (e >= BR_ERR_SEND_FATAL_ALERT)
		snprintf(buf, n, "TLS alert %d sent to the server", e - BR_ERR_SEND_FATAL_ALERT);
	else if (e >= BR_ERR_RECV_FATAL_ALERT)
		snprintf(buf, n, "server sent TLS alert %d", e - BR_ERR_RECV_FATAL_ALERT);
	else if (e >= 32 && e < 64)
		snprintf(buf, n, "%s", trust_error_text(e));
	else if (e == BR_ERR_NO_RANDOM)
		snprintf(buf, n, "no entropy source for TLS");
	else if (e == BR_ERR_UNSUPPORTED_VERSION || e == BR_ERR_BAD_VERSION)
		snprintf(buf, n, "TLS version not supported by both sides");
	else if (e == BR_ERR_BAD_CIPHER_SUITE)
		snprintf(buf, n, "no common TLS cipher suite");
	else
		snprintf(buf, n, "TLS protocol error %d", e);
	return buf;
}

int redis_tls_begin(struct redis_tls *t, const struct trust_store *trust, const char *host,
		    char *why, size_t whylen)
{
	unsigned char seed[32];

	t->host = host;
	br_ssl_client_init_full(&t->sc, &t->x509, trust->anchors, trust->n_anchors);
	/* The project's X.509 engine: chain against the trust store, and the
	 * host name given to br_ssl_client_reset. Never optional. */
	trust_x509_init(trust, &t->x509);
	br_ssl_engine_set_x509(&t->sc.eng, &t->x509.vtable);
	/* init_full would also offer 1.0 and 1.1, which we refuse; every
	 * Redis built with TLS speaks 1.2. */
	br_ssl_engine_set_versions(&t->sc.eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_add_flags(&t->sc.eng, BR_OPT_NO_RENEGOTIATION);
	br_ssl_engine_set_buffer(&t->sc.eng, t->iobuf, sizeof t->iobuf, 1);
	/* BearSSL seeds itself from the system too; this covers a sandbox
	 * without /dev/urandom. */
	if (getrandom(seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
		br_ssl_engine_inject_entropy(&t->sc.eng, seed, sizeof seed);
	explicit_bzero(seed, sizeof seed);
	if (!br_ssl_client_reset(&t->sc, host, 0)) {
		char e[96];
		snprintf(why, whylen, "TLS setup: %s",
			 error_text(br_ssl_engine_last_error(&t->sc.eng), e, sizeof e));
		return -1;
	}
	return 0;
}

static unsigned engine_state(const struct redis_tls *t)
{
	return br_ssl_engine_current_state(&t->sc.eng);
}

int redis_tls_handshake_done(const struct redis_tls *t)
{
	return (engine_state(t) & (BR_SSL_SENDAPP | BR_SSL_RECVAPP)) != 0;
}

int redis_tls_closed(const struct redis_tls *t, int handshaking, char *why, size_t whylen)
{
	char e[96];
	int err;

	if (!(engine_state(t) & BR_SSL_CLOSED))
		return 0;
	err = br_ssl_engine_last_error(&t->sc.eng);
	if (err == BR_ERR_OK)
		snprintf(why, whylen, "connection closed by server (TLS close)");
	else if (handshaking)
		snprintf(why, whylen, "TLS handshake with %s failed: %s", t->host,
			 error_text(err, e, sizeof e));
	else
		snprintf(why, whylen, "TLS: %s", error_text(err, e, sizeof e));
	return 1;
}

short redis_tls_events(const struct redis_tls *t, int have_app_out)
{
	unsigned st = engine_state(t);
	short ev = 0;

	if (st & BR_SSL_RECVREC)
		ev |= POLLIN;
	if ((st & BR_SSL_SENDREC) || ((st & BR_SSL_SENDAPP) && have_app_out))
		ev |= POLLOUT;
	return ev;
}

/* Each _buf first asks for the one flag it serves: current_state reports
 * CLOSED alone, so a closed engine gives out no buffer. */
static unsigned char *engine_buf(struct redis_tls *t, unsigned flag, size_t *len,
				 unsigned char *(*get)(const br_ssl_engine_context *, size_t *))
{
	if (!(engine_state(t) & flag)) {
		*len = 0;
		return NULL;
	}
	return get(&t->sc.eng, len);
}

unsigned char *redis_tls_recvapp_buf(struct redis_tls *t, size_t *len)
{
	return engine_buf(t, BR_SSL_RECVAPP, len, br_ssl_engine_recvapp_buf);
}

void redis_tls_recvapp_ack(struct redis_tls *t, size_t n)
{
	br_ssl_engine_recvapp_ack(&t->sc.eng, n);
}

unsigned char *redis_tls_sendapp_buf(struct redis_tls *t, size_t *len)
{
	return engine_buf(t, BR_SSL_SENDAPP, len, br_ssl_engine_sendapp_buf);
}

void redis_tls_sendapp_ack(struct redis_tls *t, size_t n)
{
	br_ssl_engine_sendapp_ack(&t->sc.eng, n);
	br_ssl_engine_flush(&t->sc.eng, 0);
}

unsigned char *redis_tls_sendrec_buf(struct redis_tls *t, size_t *len)
{
	return engine_buf(t, BR_SSL_SENDREC, len, br_ssl_engine_sendrec_buf);
}

void redis_tls_sendrec_ack(struct redis_tls *t, size_t n)
{
	br_ssl_engine_sendrec_ack(&t->sc.eng, n);
}

unsigned char *redis_tls_recvrec_buf(struct redis_tls *t, size_t *len)
{
	return engine_buf(t, BR_SSL_RECVREC, len, br_ssl_engine_recvrec_buf);
}

void redis_tls_recvrec_ack(struct redis_tls *t, size_t n)
{
	br_ssl_engine_recvrec_ack(&t->sc.eng, n);
}
