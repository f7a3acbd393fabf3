/* healthcheck: one HTTP/1.1 request over a nonblocking socket, every step
 * bounded by one overall deadline (connect to a full backlog, a worker that
 * accepts and never answers: both end at the deadline, not later). */
#include "healthcheck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ops/httpd.h"

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait for events on fd until the deadline. 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		double left = deadline - mono();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int rc = poll(&p, 1, (int)(left * 1000) + 1);
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

/* Replace what a terminal or a log should not get; cut at the first line. */
static void one_line(char *s)
{
	for (; *s; s++) {
		if (*s == '\r' || *s == '\n') {
			*s = '\0';
			return;
		}
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
	}
}

int healthcheck_run(const char *addr, const char *path, double timeout, FILE *out)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[160], req[512], resp[2048];
	double deadline = mono() + timeout;
	int fd = -1, status = 0;
	size_t got = 0;

	if (!addr || !*addr) {
		fprintf(out, "unhealthy: TRYON_HTTP_ADDR is empty, so the worker serves no health endpoint\n");
		return 1;
	}
	if (httpd_parse_addr(addr, &ss, &len, err, sizeof err) < 0) {
		fprintf(out, "unhealthy: TRYON_HTTP_ADDR=%s: %s\n", addr, err);
		return 1;
	}
	/* The worker listens on every address; we ask over loopback. */
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
		if (v4->sin_addr.s_addr == htonl(INADDR_ANY))
			v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr))
			v6->sin6_addr = in6addr_loopback;
	}

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(out, "unhealthy: socket: %s\n", strerror(errno));
		return 1;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		fprintf(out, "unhealthy: connect %s: %s\n", addr, strerror(errno));
		goto fail;
	}
	int rc = wait_fd(fd, POLLOUT, deadline), soerr = 0;
	socklen_t sl = sizeof soerr;
	if (rc <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
		fprintf(out, "unhealthy: connect %s: %s\n", addr,
			rc == 0 ? "timed out" : strerror(soerr ? soerr : errno));
		goto fail;
	}

	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tryon-worker-healthcheck\r\n"
			 "Connection: close\r\n\r\n", path, addr);
	for (size_t sent = 0; sent < (size_t)n;) {
		ssize_t w = send(fd, req + sent, (size_t)n - sent, MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) <= 0) {
				fprintf(out, "unhealthy: %s: sending the request timed out\n", addr);
				goto fail;
			}
		} else {
			fprintf(out, "unhealthy: %s: send: %s\n", addr, strerror(errno));
			goto fail;
		}
	}

	/* Read until the server closes (it always does) or the buffer holds
	 * the status line and the start of the body. */
	while (got < sizeof resp - 1) {
		ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
		if (r > 0) {
			got += (size_t)r;
		} else if (r == 0) {
			break;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (wait_fd(fd, POLLIN, deadline) <= 0)
				break;
		} else {
			break;
		}
	}
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.%*1[01] %3d", &status) != 1) {
		fprintf(out, "unhealthy: %s%s: %s\n", addr, path,
			got ? "not an HTTP answer" : "no answer within the time limit");
		goto fail;
	}
	char *body = strstr(resp, "\r\n\r\n");
	body = body ? body + 4 : resp + got;
	one_line(body);
	close(fd);
	fprintf(out, "%s: %s %d%s%.200s\n", status == 200 ? "healthy" : "unhealthy", path, status,
		*body ? " " : "", body);
	return status == 200 ? 0 : 1;
fail:
	close(fd);
	return 1;
}
