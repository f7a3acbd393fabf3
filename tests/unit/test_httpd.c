/* Tests of the HTTP server over loopback, in one thread: the test plays the
 * worker's loop (httpd_pollfds, poll, httpd_process) and the clients, and
 * passes its own clock so time limits are tested without sleeping.
 * Links src/ops/httpd.c and src/lib/log.c (Makefile: UNIT_MODS_test_httpd). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "ops/httpd.h"

static int handled;
static char huge_chunk[65536];

static void handler(void *arg, const char *path, struct httpd_response *r)
{
	(void)arg;
	handled++;
	if (!strcmp(path, "/metrics")) {
		r->status = 200;
		r->content_type = "text/plain; version=0.0.4; charset=utf-8";
		buf_append_str(&r->body, "up 1\n");
	} else if (!strcmp(path, "/readyz")) {
		r->status = 503;
		buf_append_str(&r->body, "not ready: broker disconnected\n");
	} else if (!strcmp(path, "/big")) {
		r->status = 200;
		for (int i = 0; i < 100000; i++)
			buf_append_str(&r->body, "0123456789");
	} else if (!strcmp(path, "/huge")) {
		/* More than the kernel buffers on both ends hold. */
		r->status = 200;
		for (int i = 0; i < 256; i++)
			buf_append(&r->body, huge_chunk, sizeof huge_chunk);
	}
}

/* One turn of the loop: poll for up to ms, then process at time now. */
static void turn(struct httpd *h, double now, int ms)
{
	struct pollfd pfds[HTTPD_MAX_POLLFDS];
	int n = httpd_pollfds(h, pfds, HTTPD_MAX_POLLFDS);
	poll(pfds, (nfds_t)n, ms);
	httpd_process(h, pfds, n, now, handler, NULL);
}

/* rcvbuf > 0: a small receive window (set before connect, or it would
 * not shrink the window), for a client slow to take our answer. */
static int connect_rcvbuf(int port, int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int connect_to(int port)
{
	return connect_rcvbuf(port, 0);
}

/* Read everything until the server closes (or 400 turns pass); returns
 * the bytes in out (NUL-terminated), -1 if the server never closed. */
static int read_all(struct httpd *h, int fd, double now, struct buf *out)
{
	char tmp[65536];
	for (int i = 0; i < 400; i++) {
		turn(h, now, 5);
		for (;;) {
			ssize_t n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
			if (n > 0) {
				buf_append(out, tmp, (size_t)n);
				continue;
			}
			if (n == 0 || (n < 0 && errno == ECONNRESET))
				return 0;
			break;
		}
	}
	return -1;
}

/* One request on a new connection, the loop's clock at now. */
static int exchange_at(struct httpd *h, double now, const char *req, size_t len, struct buf *out)
{
	int fd = connect_to(httpd_port(h));
	if (fd < 0)
		return -1;
	if (len && send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	int rc = read_all(h, fd, now, out);
	close(fd);
	return rc;
}

static int exchange(struct httpd *h, const char *req, size_t len, struct buf *out)
{
	return exchange_at(h, 100.0, req, len, out);
}

static struct httpd *open_server(void)
{
	char err[200];
	struct httpd *h = httpd_open("127.0.0.1:0", err, sizeof err);
	if (!h)
		fprintf(stderr, "httpd_open: %s\n", err);
	return h;
}

static int status_of(const struct buf *b)
{
	int st = 0;
	if (!b->data || sscanf(b->data, "HTTP/1.1 %d ", &st) != 1)
		return -1;
	return st;
}

static const char *body_of(const struct buf *b)
{
	const char *p = b->data ? strstr(b->data, "\r\n\r\n") : NULL;
	return p ? p + 4 : "";
}

static void test_get_head_and_routes(void)
{
	struct httpd *h = open_server();
	struct buf b;
	CHECK(h != NULL);
	if (!h)
		return;
	CHECK(httpd_port(h) > 0);

	buf_init(&b);
	const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(exchange(h, get, strlen(get), &b) == 0);
	CHECK(status_of(&b) == 200);
	CHECK(strstr(b.data, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != NULL);
	CHECK(strstr(b.data, "\r\nContent-Length: 5\r\n") != NULL);
	CHECK(strstr(b.data, "\r\nConnection: close\r\n") != NULL);
	CHECK(strstr(b.data, "\r\nDate: ") != NULL);
	CHECK(!strcmp(body_of(&b), "up 1\n"));

	buf_reset(&b);
	const char *head = "HEAD /metrics HTTP/1.0\r\n\r\n";
	CHECK(exchange(h, head, strlen(head), &b) == 0);
	CHECK(status_of(&b) == 200 && strstr(b.data, "Content-Length: 5\r\n") && !*body_of(&b));

	buf_reset(&b);
	const char *query = "GET /readyz?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(exchange(h, query, strlen(query), &b) == 0);
	CHECK(status_of(&b) == 503 && strstr(body_of(&b), "not ready"));

	buf_reset(&b);
	const char *nf = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(exchange(h, nf, strlen(nf), &b) == 0);
	CHECK(status_of(&b) == 404);

	buf_reset(&b);
	int before = handled;
	const char *post = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
	CHECK(exchange(h, post, strlen(post), &b) == 0);
	CHECK(status_of(&b) == 405 && strstr(b.data, "\r\nAllow: GET, HEAD\r\n"));
	CHECK(handled == before);   /* the handler never saw it */

	CHECK(httpd_stats(h)->requests == 5);
	buf_free(&b);
	httpd_close(h);
}

static void test_bad_requests(void)
{
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		{ "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage", 400 },
		{ "GET / HTTP/1.1\r\n\r\n", 400 },
		{ "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", 413 },
	};
	struct httpd *h = open_server();
	struct buf b;
	if (!h) {
		CHECK(0);
		return;
	}
	buf_init(&b);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&b);
		CHECK(exchange(h, cases[i].req, strlen(cases[i].req), &b) == 0);
		if (status_of(&b) != cases[i].status)
			fprintf(stderr, "case %zu: %s\n", i, b.data ? b.data : "(nothing)");
		CHECK(status_of(&b) == cases[i].status);
	}
	/* A head that never ends: 431 at 8 KiB, the connection is closed. */
	char *big = malloc(20000);
	size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: x\r\n");
	while (n < 19000)
		n += (size_t)sprintf(big + n, "X-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
	buf_reset(&b);
	CHECK(exchange(h, big, n, &b) == 0);
	CHECK(status_of(&b) == 431);
	free(big);
	/* Half a request, then the client's FIN: closed without an answer. */
	buf_reset(&b);
	int fd = connect_to(httpd_port(h));
	CHECK(send(fd, "GET /metr", 9, MSG_NOSIGNAL) == 9);
	shutdown(fd, SHUT_WR);
	CHECK(read_all(h, fd, 100.0, &b) == 0 && b.len == 0);
	close(fd);
	CHECK(httpd_stats(h)->bad_requests == 5);
	buf_free(&b);
	httpd_close(h);
}

static void test_trickled_request_and_big_response(void)
{
	struct httpd *h = open_server();
	struct buf b;
	if (!h) {
		CHECK(0);
		return;
	}
	buf_init(&b);
	int fd = connect_to(httpd_port(h));
	const char *req = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
	for (const char *p = req; *p; p++) {
		CHECK(send(fd, p, 1, MSG_NOSIGNAL) == 1);
		turn(h, 100.0, 1);
	}
	CHECK(read_all(h, fd, 100.5, &b) == 0);
	CHECK(status_of(&b) == 200 && strlen(body_of(&b)) == 1000000);
	close(fd);
	buf_free(&b);
	httpd_close(h);
}

static void test_slowloris_is_dropped(void)
{
	struct httpd *h = open_server();
	struct buf b;
	if (!h) {
		CHECK(0);
		return;
	}
	CHECK(httpd_next_deadline(h) == HUGE_VAL);
	buf_init(&b);
	int fd = connect_to(httpd_port(h));
	CHECK(send(fd, "GET /metrics HTTP/1.1\r\nHo", 25, MSG_NOSIGNAL) == 25);
	turn(h, 1000.0, 50);   /* accepted at t=1000 */
	turn(h, 1000.0, 5);
	CHECK(httpd_next_deadline(h) == 1000.0 + HTTPD_HEADER_TIMEOUT);
	turn(h, 1000.0 + HTTPD_HEADER_TIMEOUT - 0.1, 5);    /* still within its time */
	CHECK(send(fd, "s", 1, MSG_NOSIGNAL) == 1);
	turn(h, 1000.0 + HTTPD_HEADER_TIMEOUT - 0.05, 5);
	/* Bytes do not move the deadline: the head has one second in all. */
	CHECK(httpd_next_deadline(h) == 1000.0 + HTTPD_HEADER_TIMEOUT);
	CHECK(read_all(h, fd, 1000.0 + HTTPD_HEADER_TIMEOUT, &b) == 0);   /* at the deadline: 408 and closed */
	CHECK(status_of(&b) == 408);
	CHECK(httpd_stats(h)->timeouts == 1);
	CHECK(httpd_next_deadline(h) == HUGE_VAL);
	close(fd);
	buf_free(&b);
	httpd_close(h);
}

/* A connection that never sends a byte is closed, without an answer, once
 * its head is late; one whose head came in time keeps the longer limit for
 * its answer. */
static void test_idle_connection_is_closed_at_the_header_timeout(void)
{
	struct httpd *h = open_server();
	struct buf b;
	if (!h) {
		CHECK(0);
		return;
	}
	buf_init(&b);
	int idle = connect_to(httpd_port(h));
	turn(h, 50.0, 50);
	CHECK(httpd_next_deadline(h) == 50.0 + HTTPD_HEADER_TIMEOUT);
	turn(h, 50.0 + HTTPD_HEADER_TIMEOUT - 0.01, 5);
	char c;
	CHECK(recv(idle, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);   /* still open */
	CHECK(read_all(h, idle, 50.0 + HTTPD_HEADER_TIMEOUT, &b) == 0);
	CHECK(b.len == 0);   /* closed, nothing said */
	CHECK(httpd_stats(h)->timeouts == 1);
	close(idle);

	/* A whole head, and a client that does not read a big answer: the
	 * answer has until HTTPD_REQUEST_TIMEOUT after accept, not the header
	 * timeout; then it is dropped too. */
	int slow = connect_rcvbuf(httpd_port(h), 4096);
	const char *get = "GET /huge HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(send(slow, get, strlen(get), MSG_NOSIGNAL) == (ssize_t)strlen(get));
	for (int i = 0; i < 5; i++)
		turn(h, 60.0, 10);
	CHECK(httpd_next_deadline(h) == 60.0 + HTTPD_REQUEST_TIMEOUT);
	turn(h, 60.0 + HTTPD_HEADER_TIMEOUT + 0.5, 5);
	CHECK(httpd_next_deadline(h) == 60.0 + HTTPD_REQUEST_TIMEOUT);
	turn(h, 60.0 + HTTPD_REQUEST_TIMEOUT, 5);
	CHECK(httpd_next_deadline(h) == HUGE_VAL);
	CHECK(httpd_stats(h)->timeouts == 2);
	close(slow);
	buf_free(&b);
	httpd_close(h);
}

/* Finding: 32 idle connections (all the slots) made every new client get
 * 503, health probes included. Now a new client takes the slot of the
 * oldest idle one and is answered. */
static void test_full_table_evicts_the_oldest_idle_client(void)
{
	struct httpd *h = open_server();
	int fds[HTTPD_MAX_CLIENTS];
	struct buf b;
	if (!h) {
		CHECK(0);
		return;
	}
	buf_init(&b);
	for (int i = 0; i < HTTPD_MAX_CLIENTS; i++) {
		fds[i] = connect_to(httpd_port(h));
		CHECK(fds[i] >= 0);
		turn(h, 10.0 + 0.01 * i, 20);   /* accepted in order, at distinct times */
	}
	/* The oldest now has part of a head: it is kept while idle ones remain. */
	CHECK(send(fds[0], "GET /me", 7, MSG_NOSIGNAL) == 7);
	for (int i = 0; i < 5; i++)
		turn(h, 10.5, 5);
	const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(exchange_at(h, 10.5, get, strlen(get), &b) == 0);
	CHECK(status_of(&b) == 200 && !strcmp(body_of(&b), "up 1\n"));
	CHECK(httpd_stats(h)->evicted == 1);
	/* fds[1] (the oldest idle) was closed without a word; fds[0] and the
	 * rest are open. */
	char c;
	CHECK(recv(fds[1], &c, 1, MSG_DONTWAIT) == 0);
	CHECK(recv(fds[0], &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
	for (int i = 2; i < HTTPD_MAX_CLIENTS; i++)
		CHECK(recv(fds[i], &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
	/* The probe's slot was freed with its answer: the next probes take it
	 * and evict nobody. */
	for (int k = 0; k < 3; k++) {
		buf_reset(&b);
		CHECK(exchange_at(h, 10.5, get, strlen(get), &b) == 0 && status_of(&b) == 200);
	}
	CHECK(httpd_stats(h)->evicted == 1);
	CHECK(recv(fds[2], &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
	/* A table of partial heads only: the oldest of them goes, told 408. */
	for (int i = 2; i < HTTPD_MAX_CLIENTS; i++)
		CHECK(send(fds[i], "GET /me", 7, MSG_NOSIGNAL) == 7);
	int extra = connect_to(httpd_port(h));   /* takes the last free slot */
	CHECK(send(extra, "GET /me", 7, MSG_NOSIGNAL) == 7);
	for (int i = 0; i < 5; i++)
		turn(h, 10.7, 5);
	buf_reset(&b);
	CHECK(exchange_at(h, 10.7, get, strlen(get), &b) == 0 && status_of(&b) == 200);
	buf_reset(&b);
	CHECK(read_all(h, fds[0], 10.8, &b) == 0 && status_of(&b) == 408);
	/* A client that went away is noticed. */
	for (int i = 0; i < HTTPD_MAX_CLIENTS; i++)
		close(fds[i]);
	close(extra);
	for (int i = 0; i < 10; i++)
		turn(h, 10.9, 5);
	CHECK(httpd_next_deadline(h) == HUGE_VAL);
	buf_free(&b);
	httpd_close(h);
}

/* Many idle clients, more than the slots, at once: each probe among them
 * is answered. */
static void test_probe_answered_among_many_idle(void)
{
	struct httpd *h = open_server();
	int fds[3 * HTTPD_MAX_CLIENTS];
	struct buf b;
	if (!h) {
		CHECK(0);
		return;
	}
	buf_init(&b);
	for (int i = 0; i < 3 * HTTPD_MAX_CLIENTS; i++) {
		fds[i] = connect_to(httpd_port(h));
		if (i % 8 == 7)
			turn(h, 20.0, 5);   /* accept, or the backlog fills and connect waits */
	}
	for (int i = 0; i < 10; i++)
		turn(h, 20.0, 5);
	const char *get = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(exchange_at(h, 20.0, get, strlen(get), &b) == 0 && status_of(&b) == 503 && strstr(body_of(&b), "not ready"));
	CHECK(httpd_stats(h)->evicted >= 2 * HTTPD_MAX_CLIENTS);
	/* At the header timeout every idle one is gone. */
	turn(h, 20.0 + HTTPD_HEADER_TIMEOUT, 5);
	CHECK(httpd_next_deadline(h) == HUGE_VAL);
	for (int i = 0; i < 3 * HTTPD_MAX_CLIENTS; i++)
		close(fds[i]);
	buf_free(&b);
	httpd_close(h);
}

static void test_loopback(void)
{
	static const struct {
		const char *addr;
		int loopback;
	} cases[] = {
		{ "127.0.0.1:0", 1 }, { "127.0.0.2:0", 1 }, { "localhost:0", 1 },
		{ "0.0.0.0:0", 0 }, { "[::1]:0", 1 }, { "[::]:0", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[200];
		struct httpd *h = httpd_open(cases[i].addr, err, sizeof err);
		if (!h && cases[i].addr[0] == '[')
			continue;   /* no IPv6 here */
		CHECK(h != NULL);
		if (h && httpd_is_loopback(h) != cases[i].loopback)
			fprintf(stderr, "%s: loopback %d\n", cases[i].addr, httpd_is_loopback(h));
		CHECK(h && httpd_is_loopback(h) == cases[i].loopback);
		httpd_close(h);
	}
}

static void test_pipelined_bytes_do_not_cut_the_answer(void)
{
	struct httpd *h = open_server();
	struct buf b;
	if (!h) {
		CHECK(0);
		return;
	}
	buf_init(&b);
	const char *two = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(exchange(h, two, strlen(two), &b) == 0);
	CHECK(status_of(&b) == 200 && !strcmp(body_of(&b), "up 1\n"));
	buf_free(&b);
	httpd_close(h);
}

static void test_parse_addr(void)
{
	static const struct {
		const char *addr;
		int ok, family, port;
	} cases[] = {
		{ "127.0.0.1:9808", 1, AF_INET, 9808 },
		{ "0.0.0.0:0", 1, AF_INET, 0 },
		{ "localhost:9808", 1, AF_INET, 9808 },
		{ "[::1]:9808", 1, AF_INET6, 9808 },
		{ "[::]:80", 1, AF_INET6, 80 },
		{ "::1:9808", 0, 0, 0 },
		{ "127.0.0.1", 0, 0, 0 },
		{ "127.0.0.1:", 0, 0, 0 },
		{ ":9808", 0, 0, 0 },
		{ "127.0.0.1:65536", 0, 0, 0 },
		{ "127.0.0.1:-1", 0, 0, 0 },
		{ "127.0.0.1:80x", 0, 0, 0 },
		{ "example.com:80", 0, 0, 0 },
		{ "[127.0.0.1]:80", 0, 0, 0 },
		{ "[::1]80", 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		char err[128] = "";
		int rc = httpd_parse_addr(cases[i].addr, &ss, &len, err, sizeof err);
		CHECK((rc == 0) == cases[i].ok);
		if (rc == 0 && cases[i].ok) {
			int port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
								 : ((struct sockaddr_in6 *)&ss)->sin6_port);
			CHECK(ss.ss_family == cases[i].family && port == cases[i].port);
		} else if (rc < 0) {
			CHECK(err[0] != '\0');
		}
	}
	char err[128];
	struct httpd *h = open_server();
	CHECK(h != NULL);
	if (h) {
		char addr[64];
		snprintf(addr, sizeof addr, "127.0.0.1:%d", httpd_port(h));
		CHECK(httpd_open(addr, err, sizeof err) == NULL && strstr(err, "in use"));
	}
	httpd_close(h);
	httpd_close(NULL);
}

int main(void)
{
	RUN(test_get_head_and_routes);
	RUN(test_bad_requests);
	RUN(test_trickled_request_and_big_response);
	RUN(test_slowloris_is_dropped);
	RUN(test_idle_connection_is_closed_at_the_header_timeout);
	RUN(test_full_table_evicts_the_oldest_idle_client);
	RUN(test_probe_answered_among_many_idle);
	RUN(test_loopback);
	RUN(test_pipelined_bytes_do_not_cut_the_answer);
	RUN(test_parse_addr);
	return harness_report();
}
