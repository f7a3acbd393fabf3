/* redis_sock: plain socket system calls for redis_conn; see the header. */
#include "redis/redis_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int redis_sock_resolve(const char *host, int port, struct addrinfo **out, char *why, size_t whylen)
{
	struct addrinfo hints;
	char ps[16];
	int rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(ps, sizeof ps, "%d", port);
	*out = NULL;
	rc = getaddrinfo(host, ps, &hints, out);
	if (rc == EAI_NONAME) {
		/* Not an address literal: the one blocking step. */
		hints.ai_flags = AI_NUMERICSERV;
		rc = getaddrinfo(host, ps, &hints, out);
	}
	if (rc != 0) {
		*out = NULL;
		snprintf(why, whylen, "cannot resolve %s: %s", host,
			 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	return 0;
}

static void set_sockopts(int fd)
{
	int one = 1, idle = 60, intvl = 10, cnt = 3;

	/* Best effort: a failure here does not stop the connection. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

static void describe_addr(const struct sockaddr *sa, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		snprintf(out, n, "%s:%u", host, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		snprintf(out, n, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		snprintf(out, n, "?");
	}
}

int redis_sock_connect_next(struct addrinfo **next, int *fd, char *why, size_t whylen)
{
	*fd = -1;
	while (*next) {
		struct addrinfo *a = *next;
		char where[80];

		*next = a->ai_next;
		describe_addr(a->ai_addr, where, sizeof where);
		*fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (*fd < 0) {
			snprintf(why, whylen, "socket: %s", strerror(errno));
			continue;
		}
		set_sockopts(*fd);
		if (connect(*fd, a->ai_addr, a->ai_addrlen) == 0)
			return 1;
		if (errno == EINPROGRESS)
			return 0;
		snprintf(why, whylen, "connect to %s: %s", where, strerror(errno));
		close(*fd);
		*fd = -1;
	}
	if (!why[0])
		snprintf(why, whylen, "no address to connect to");
	return -1;
}

int redis_sock_connect_unix(const char *path, int *fd, char *why, size_t whylen)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);  /* length checked by the caller */
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(*fd, (struct sockaddr *)&sun, sizeof sun) == 0)
		return 1;
	if (errno == EINPROGRESS)
		return 0;
	/* EAGAIN here means the listen backlog is full: the caller retries
	 * after its backoff. */
	snprintf(why, whylen, "connect to %s: %s", path, strerror(errno));
	close(*fd);
	*fd = -1;
	return -1;
}

int redis_sock_finish(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof soerr;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	return soerr;
}

ssize_t redis_sock_send(int fd, const void *p, size_t n, char *why, size_t whylen)
{
	for (;;) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r > 0)
			return r;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		snprintf(why, whylen, "write: %s", r < 0 ? strerror(errno) : "no progress");
		return -1;
	}
}

ssize_t redis_sock_recv(int fd, void *p, size_t n, int handshaking, char *why, size_t whylen)
{
	for (;;) {
		ssize_t r = recv(fd, p, n, 0);
		if (r > 0)
			return r;
		if (r == 0) {
			snprintf(why, whylen, "connection closed by server%s",
				 handshaking ? " during the TLS handshake" : "");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		snprintf(why, whylen, "read: %s", strerror(errno));
		return -1;
	}
}
