/* redis_sock: the socket calls under redis_conn: resolve a host, open a
 * non-blocking stream socket and connect it to each address in turn (or to
 * a unix socket path), check a pending connect, and send/recv with EINTR
 * retried and EAGAIN as "0 bytes". It knows nothing of Redis, keeps no
 * state between calls, and must not log: failures come back as text in
 * why (addresses and errno strings only). */
#ifndef TRYON_REDIS_SOCK_H
#define TRYON_REDIS_SOCK_H
#include <stddef.h>
#include <sys/types.h>

struct addrinfo;

/* Resolve host:port for a stream socket: AI_NUMERICHOST first, then (a
 * host name) the one blocking getaddrinfo. 0 with *out set (freeaddrinfo
 * it), or -1 with why set. */
int redis_sock_resolve(const char *host, int port, struct addrinfo **out, char *why, size_t whylen);

/* Try the addresses from *next on until one connects or is in progress;
 * *next advances past the one tried. Returns 1 (connected, *fd set), 0 (in
 * progress, *fd set: wait for POLLOUT, then redis_sock_finish), or -1 when
 * none is left (why holds the last failure; *fd is -1). */
int redis_sock_connect_next(struct addrinfo **next, int *fd, char *why, size_t whylen);

/* The same for a unix socket path (shorter than sun_path). */
int redis_sock_connect_unix(const char *path, int *fd, char *why, size_t whylen);

/* After POLLOUT on a connecting socket: 0 when connected, else the errno
 * of the failure. */
int redis_sock_finish(int fd);

/* One send or recv, EINTR retried: the bytes moved, 0 when the socket
 * would block, -1 with why set on an error or (recv) the server's EOF;
 * handshaking names the TLS handshake in the EOF message. */
ssize_t redis_sock_send(int fd, const void *p, size_t n, char *why, size_t whylen);
ssize_t redis_sock_recv(int fd, void *p, size_t n, int handshaking, char *why, size_t whylen);

#endif
