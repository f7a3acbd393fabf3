/* httpd: connection lifecycle (one transition function per event kind),
 * nonblocking accept/read/write, response framing. A connection has
 * HTTPD_HEADER_TIMEOUT for its request head and HTTPD_REQUEST_TIMEOUT in
 * all, so a client that trickles its request (slowloris) or never reads our
 * answer costs one slot for a bounded time; and since a new connection
 * evicts the oldest idle one when every slot is taken, idle clients cannot
 * keep a health probe out at all. */
#include "ops/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ops/httpparse.h"
#include "lib/log.h"

#define ACCEPTS_PER_CALL 16   /* then back to the loop: others have work too */
#define LINGER_SECONDS 1.0    /* read what a client still sends before closing */
#define ACCEPT_PAUSE 0.25     /* out of descriptors: stop polling the listener */

enum client_state {
	CLIENT_FREE,
	CLIENT_READING,    /* waiting for the whole request head */
	CLIENT_WRITING,    /* sending the response */
	CLIENT_LINGERING,  /* response sent, FIN sent, draining unread input */
};

/* Zeroed is free: a client's fields mean something only while its state is
 * not CLIENT_FREE, so the 32 of them (8 KB each) cost no memory until used. */
struct client {
	enum client_state state;
	int fd;               /* -1 once closed */
	double accepted_at;   /* orders eviction: the oldest goes first */
	double deadline;
	int linger;           /* unread input may remain: drain before close */
	size_t in_len;
	struct buf out;
	size_t out_off;
	char in[HTTPD_MAX_REQUEST];
};

struct httpd {
	int fd;
	int port;
	int loopback;         /* bound to a loopback address only */
	double accept_paused_until;
	struct httpd_stats stats;
	struct client clients[HTTPD_MAX_CLIENTS];
};

int httpd_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len,
		     char *err, size_t errlen)
{
	char host[64];
	const char *colon, *port_s;

	memset(ss, 0, sizeof *ss);
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "expected [IPV6]:PORT");
			return -1;
		}
		colon = close + 1;
		if ((size_t)(close - addr - 1) >= sizeof host) {
			snprintf(err, errlen, "address too long");
			return -1;
		}
		memcpy(host, addr + 1, (size_t)(close - addr - 1));
		host[close - addr - 1] = '\0';
	} else {
		colon = strrchr(addr, ':');
		if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host) {
			snprintf(err, errlen, "expected HOST:PORT with a numeric host, e.g. 127.0.0.1:9808");
			return -1;
		}
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = '\0';
	}
	port_s = colon + 1;
	long port = 0;
	if (!*port_s || strlen(port_s) > 5) {
		snprintf(err, errlen, "invalid port");
		return -1;
	}
	for (const char *p = port_s; *p; p++) {
		if (*p < '0' || *p > '9') {
			snprintf(err, errlen, "invalid port");
			return -1;
		}
		port = port * 10 + (*p - '0');
	}
	if (port > 65535) {
		snprintf(err, errlen, "invalid port");
		return -1;
	}
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (addr[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof *v4;
	} else if (addr[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof *v6;
	} else {
		snprintf(err, errlen, "the host must be an IP address (IPv6 in brackets) or localhost");
		return -1;
	}
	return 0;
}

static int addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

struct httpd *httpd_open(const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	if (httpd_parse_addr(addr, &ss, &len, err, errlen) < 0)
		return NULL;
	/* About 270 KB, mostly request buffers the kernel maps in only when a
	 * client uses them: nothing here may write to the clients (setting
	 * each one's fd once put a page of each in an idle worker's memory). */
	struct httpd *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	/* A restart must not wait for the old connections' TIME_WAIT. */
	setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(h->fd, (struct sockaddr *)&ss, len) < 0) {
		snprintf(err, errlen, "bind %s: %s", addr, strerror(errno));
		goto fail;
	}
	if (listen(h->fd, 64) < 0) {
		snprintf(err, errlen, "listen %s: %s", addr, strerror(errno));
		goto fail;
	}
	h->loopback = addr_is_loopback(&ss);
	len = sizeof ss;
	if (getsockname(h->fd, (struct sockaddr *)&ss, &len) == 0)
		h->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
							 : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return h;
fail:
	httpd_close(h);
	return NULL;
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

int httpd_is_loopback(const struct httpd *h)
{
	return h->loopback;
}

const struct httpd_stats *httpd_stats(const struct httpd *h)
{
	return &h->stats;
}

static void client_close(struct client *c)
{
	if (c->state == CLIENT_FREE)
		return;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CLIENT_FREE;
	c->in_len = 0;
	c->out_off = 0;
	c->linger = 0;
	buf_free(&c->out);
}

void httpd_close(struct httpd *h)
{
	if (!h)
		return;
	for (int i = 0; i < HTTPD_MAX_CLIENTS; i++)
		client_close(&h->clients[i]);
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}

/* A fixed answer for a connection we will not serve, sent once without
 * waiting: if the socket buffer is somehow full the client just sees the
 * connection close. */
static void send_and_close(int fd, int status)
{
	char msg[160];
	int n = snprintf(msg, sizeof msg, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			 status, httpparse_status_text(status));
	ssize_t w = send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w;
	close(fd);
}

static void format_response(struct client *c, int status, const char *content_type, const char *csp,
			    const struct buf *body, int head_only, int allow)
{
	char date[64];
	struct tm tm;
	time_t t = time(NULL);

	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	buf_reset(&c->out);
	buf_printf(&c->out, "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		   "Cache-Control: no-store\r\nConnection: close\r\n%s",
		   status, httpparse_status_text(status), date, content_type, body->len,
		   allow ? "Allow: GET, HEAD\r\n" : "");
	if (csp)
		buf_printf(&c->out, "Content-Security-Policy: %s\r\nX-Content-Type-Options: nosniff\r\n", csp);
	buf_append_str(&c->out, "\r\n");
	if (!head_only && body->len)
		buf_append(&c->out, body->data, body->len);
	c->out_off = 0;
	c->state = CLIENT_WRITING;
}

static void answer_text(struct client *c, int status, const char *text, int head_only, int allow)
{
	struct buf body;
	buf_init(&body);
	buf_printf(&body, "%s\n", text);
	format_response(c, status, HTTPD_DEFAULT_CONTENT_TYPE, NULL, &body, head_only, allow);
	buf_free(&body);
}

/* A complete, valid head: route it through the handler. */
static void answer(struct httpd *h, struct client *c, const struct httpparse_request *req,
		   httpd_handler_fn handler, void *arg)
{
	char path[HTTPD_MAX_REQUEST];
	int head_only = req->method == HTTPPARSE_HEAD;

	h->stats.requests++;
	c->linger = c->in_len > req->head_len;
	if (req->method == HTTPPARSE_OTHER) {
		answer_text(c, 405, "method not allowed: GET or HEAD only", 0, 1);
		return;
	}
	if (req->path_len == 0) {
		strcpy(path, "/");
	} else {
		memcpy(path, c->in + req->path_off, req->path_len);
		path[req->path_len] = '\0';
	}
	struct httpd_response resp;
	resp.status = 0;
	resp.content_type = NULL;
	resp.csp = NULL;
	buf_init(&resp.body);
	handler(arg, path, &resp);
	if (resp.body.failed) {
		answer_text(c, 500, "out of memory", head_only, 0);
	} else if (resp.status == 0) {
		answer_text(c, 404, "not found", head_only, 0);
	} else {
		format_response(c, resp.status, resp.content_type ? resp.content_type : HTTPD_DEFAULT_CONTENT_TYPE,
				resp.csp, &resp.body, head_only, 0);
	}
	buf_free(&resp.body);
	log_debug("http.request", "path=%s status=%d", path, resp.status ? resp.status : 404);
}

/* Write what we can; on completion close, or linger if the client may
 * still be sending (closing with unread input would reset the connection
 * and could destroy the response in flight). */
static void client_write(struct client *c, double now)
{
	if (c->out.failed) {
		client_close(c);
		return;
	}
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else {
			client_close(c);
			return;
		}
	}
	buf_free(&c->out);
	if (!c->linger) {
		client_close(c);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	c->state = CLIENT_LINGERING;
	if (c->deadline > now + LINGER_SECONDS)
		c->deadline = now + LINGER_SECONDS;
}

static void client_read(struct httpd *h, struct client *c, double now, httpd_handler_fn handler, void *arg)
{
	for (;;) {
		if (c->state == CLIENT_LINGERING) {
			char sink[4096];
			ssize_t n = recv(c->fd, sink, sizeof sink, 0);
			if (n > 0 || (n < 0 && errno == EINTR))
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			client_close(c);   /* EOF or error: done */
			return;
		}
		if (c->in_len == sizeof c->in)
			return;   /* unreachable: the parser answers at max_head */
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			client_close(c);   /* gone before a whole request: nobody to answer */
			return;
		}
		c->in_len += (size_t)n;
		struct httpparse_limits lim = HTTPPARSE_DEFAULT_LIMITS;
		struct httpparse_request req;
		lim.max_head = sizeof c->in;
		int rc = httpparse_request(c->in, c->in_len, &lim, &req);
		if (rc == HTTPPARSE_AGAIN)
			continue;
		if (rc == HTTPPARSE_DONE) {
			answer(h, c, &req, handler, arg);
		} else {
			h->stats.bad_requests++;
			c->linger = 1;
			log_debug("http.bad_request", "status=%d reason=\"%s\"", req.status, req.reason);
			answer_text(c, req.status, req.reason, 0, 0);
		}
		/* The head is in: the answer gets the rest of the request's time. */
		c->deadline = c->accepted_at + HTTPD_REQUEST_TIMEOUT;
		client_write(c, now);
		return;
	}
}

/* End a client we stop serving (a time limit, or its slot is needed): one
 * that sent part of a head is told why; one that sent nothing (an idle
 * connection) is just closed. */
static void client_drop(struct client *c)
{
	if (c->state == CLIENT_READING && c->in_len > 0) {
		send_and_close(c->fd, 408);   /* closes the fd */
		c->fd = -1;
	}
	client_close(c);
}

/* The client a new connection replaces when every slot is taken: the
 * oldest that sent nothing, else the oldest with part of a head, else the
 * oldest whose answer is fully sent, else the oldest still being sent to.
 * A new client may be the health probe that keeps the worker alive; the
 * ones it displaces have had their chance. */
static struct client *evict_candidate(struct httpd *h)
{
	struct client *best = NULL;
	int best_rank = 0;
	for (int i = 0; i < HTTPD_MAX_CLIENTS; i++) {
		struct client *c = &h->clients[i];
		int rank = c->state == CLIENT_READING ? (c->in_len ? 1 : 0) :
			   c->state == CLIENT_LINGERING ? 2 : 3;
		if (c->state == CLIENT_FREE)
			return c;
		if (!best || rank < best_rank || (rank == best_rank && c->accepted_at < best->accepted_at)) {
			best = c;
			best_rank = rank;
		}
	}
	return best;
}

static void accept_clients(struct httpd *h, double now, httpd_handler_fn handler, void *arg)
{
	for (int k = 0; k < ACCEPTS_PER_CALL; k++) {
		int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* The listener would stay readable and spin the loop. */
				h->accept_paused_until = now + ACCEPT_PAUSE;
				log_warn("http.accept_failed", "reason=\"%s\"", strerror(errno));
			}
			return;   /* EAGAIN, or a connection that died in the backlog */
		}
		struct client *c = NULL;
		for (int i = 0; i < HTTPD_MAX_CLIENTS && !c; i++)
			if (h->clients[i].state == CLIENT_FREE)
				c = &h->clients[i];
		if (!c) {
			c = evict_candidate(h);
			h->stats.evicted++;
			log_debug("http.evicted", "received=%zu age=%.3f", c->in_len, now - c->accepted_at);
			client_drop(c);
		}
		c->state = CLIENT_READING;
		c->fd = fd;
		c->accepted_at = now;
		c->deadline = now + HTTPD_HEADER_TIMEOUT;
		c->in_len = 0;
		c->linger = 0;
		buf_init(&c->out);
		/* A probe's request usually arrives with the connection: answer it
		 * now, before newer connections could push it out. */
		client_read(h, c, now, handler, arg);
	}
}

int httpd_pollfds(struct httpd *h, struct pollfd *out, int max)
{
	int n = 0;

	if (n < max)
		out[n++] = (struct pollfd){ .fd = h->accept_paused_until > 0 ? -1 : h->fd, .events = POLLIN };
	for (int i = 0; i < HTTPD_MAX_CLIENTS && n < max; i++) {
		struct client *c = &h->clients[i];
		if (c->state == CLIENT_FREE)
			continue;
		out[n++] = (struct pollfd){ .fd = c->fd, .events = c->state == CLIENT_WRITING ? POLLOUT : POLLIN };
	}
	return n;
}

void httpd_process(struct httpd *h, const struct pollfd *pfds, int n, double now,
		   httpd_handler_fn handler, void *arg)
{
	for (int k = 0; k < n; k++) {
		const struct pollfd *p = &pfds[k];
		if (p->fd < 0 || !p->revents)
			continue;
		if (p->fd == h->fd) {
			accept_clients(h, now, handler, arg);
			continue;
		}
		for (int i = 0; i < HTTPD_MAX_CLIENTS; i++) {
			struct client *c = &h->clients[i];
			if (c->state == CLIENT_FREE || c->fd != p->fd)
				continue;
			if (c->state == CLIENT_WRITING)
				client_write(c, now);
			else
				client_read(h, c, now, handler, arg);
			break;
		}
	}
	if (h->accept_paused_until > 0 && now >= h->accept_paused_until)
		h->accept_paused_until = 0;
	for (int i = 0; i < HTTPD_MAX_CLIENTS; i++) {
		struct client *c = &h->clients[i];
		if (c->state == CLIENT_FREE || now < c->deadline)
			continue;
		if (c->state == CLIENT_READING || c->state == CLIENT_WRITING) {
			h->stats.timeouts++;
			log_debug("http.timeout", "received=%zu", c->in_len);
		}
		client_drop(c);
	}
}

double httpd_next_deadline(const struct httpd *h)
{
	double d = h->accept_paused_until > 0 ? h->accept_paused_until : HUGE_VAL;
	for (int i = 0; i < HTTPD_MAX_CLIENTS; i++)
		if (h->clients[i].state != CLIENT_FREE && h->clients[i].deadline < d)
			d = h->clients[i].deadline;
	return d;
}
