/* Tests of the systemd notification sender against a datagram socket of
 * our own, bound at a path and at an abstract name, as systemd would.
 * Links src/ops/sdnotify.c (Makefile: UNIT_MODS_test_sdnotify). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "ops/sdnotify.h"

/* A receiving socket; name starting with '@' is abstract. */
static int listener(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memcpy(a.sun_path, name, n);
	if (name[0] == '@')
		a.sun_path[0] = '\0';
	else
		unlink(name);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] != '@'));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, len) < 0) {
		perror("bind");
		return -1;
	}
	return fd;
}

/* The next datagram, or "" if none is waiting. */
static const char *next_msg(int fd, char *buf, size_t n)
{
	ssize_t r = recv(fd, buf, n - 1, MSG_DONTWAIT);
	buf[r > 0 ? r : 0] = '\0';
	return buf;
}

static void set_env(const char *sock, const char *usec, const char *pid)
{
	if (sock) setenv("NOTIFY_SOCKET", sock, 1); else unsetenv("NOTIFY_SOCKET");
	if (usec) setenv("WATCHDOG_USEC", usec, 1); else unsetenv("WATCHDOG_USEC");
	if (pid) setenv("WATCHDOG_PID", pid, 1); else unsetenv("WATCHDOG_PID");
}

static void test_unset_is_a_no_op(void)
{
	struct sdnotify sd;
	char err[128];
	set_env(NULL, "1000000", NULL);
	CHECK(sdnotify_init(&sd, 0, err, sizeof err) == 0);
	CHECK(!sdnotify_enabled(&sd));
	CHECK(sdnotify_ready(&sd) == 0 && sdnotify_status(&sd, "x") == 0 && sdnotify_stopping(&sd) == 0);
	CHECK(sdnotify_next_deadline(&sd) == HUGE_VAL);
	sdnotify_tick(&sd, 1e9);
	sdnotify_close(&sd);
}

static void run_sequence(const char *name)
{
	struct sdnotify sd;
	char err[128], buf[2048];
	int fd = listener(name);
	CHECK(fd >= 0);
	set_env(name, NULL, NULL);
	CHECK(sdnotify_init(&sd, 0, err, sizeof err) == 0);
	CHECK(sdnotify_enabled(&sd));
	CHECK(sdnotify_ready(&sd) == 0);
	CHECK(sdnotify_status(&sd, "consuming %s with %d slots\nsecond line", "tryon_queue", 4) == 0);
	CHECK(sdnotify_stopping(&sd) == 0);
	CHECK(!strcmp(next_msg(fd, buf, sizeof buf), "READY=1"));
	CHECK(!strcmp(next_msg(fd, buf, sizeof buf), "STATUS=consuming tryon_queue with 4 slots second line"));
	CHECK(!strcmp(next_msg(fd, buf, sizeof buf), "STOPPING=1"));
	CHECK(!strcmp(next_msg(fd, buf, sizeof buf), ""));
	CHECK(sdnotify_next_deadline(&sd) == HUGE_VAL);   /* no watchdog asked for */
	sdnotify_close(&sd);
	CHECK(!sdnotify_enabled(&sd));
	close(fd);
	if (name[0] == '/')
		unlink(name);
}

static void test_path_socket(void)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/test-sdnotify-%d.sock", (int)getpid());
	run_sequence(path);
}

static void test_abstract_socket(void)
{
	char name[64];
	snprintf(name, sizeof name, "@test-sdnotify-%d", (int)getpid());
	run_sequence(name);
}

static void test_watchdog_pacing(void)
{
	struct sdnotify sd;
	char err[128], buf[256], name[64], pid[32];
	snprintf(name, sizeof name, "@test-sdnotify-wd-%d", (int)getpid());
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	int fd = listener(name);
	set_env(name, "200000", pid);   /* WatchdogSec=0.2: ping every 0.1 s */
	CHECK(sdnotify_init(&sd, 50.0, err, sizeof err) == 0);
	CHECK(sdnotify_next_deadline(&sd) == 50.0);      /* due at once */
	sdnotify_tick(&sd, 50.0);
	CHECK(!strcmp(next_msg(fd, buf, sizeof buf), "WATCHDOG=1"));
	CHECK(fabs(sdnotify_next_deadline(&sd) - 50.1) < 1e-9);
	sdnotify_tick(&sd, 50.05);
	CHECK(!strcmp(next_msg(fd, buf, sizeof buf), ""));
	sdnotify_tick(&sd, 50.1);
	CHECK(!strcmp(next_msg(fd, buf, sizeof buf), "WATCHDOG=1"));
	sdnotify_tick(&sd, 50.1);
	CHECK(!strcmp(next_msg(fd, buf, sizeof buf), ""));
	/* A late loop pings once, then keeps the interval from then on. */
	sdnotify_tick(&sd, 53.0);
	CHECK(!strcmp(next_msg(fd, buf, sizeof buf), "WATCHDOG=1"));
	CHECK(!strcmp(next_msg(fd, buf, sizeof buf), ""));
	CHECK(fabs(sdnotify_next_deadline(&sd) - 53.1) < 1e-9);
	sdnotify_close(&sd);

	/* WATCHDOG_PID of another process: notifications yes, pings no. */
	set_env(name, "200000", "1");
	CHECK(sdnotify_init(&sd, 0, err, sizeof err) == 0);
	CHECK(sdnotify_enabled(&sd) && sdnotify_next_deadline(&sd) == HUGE_VAL);
	sdnotify_close(&sd);
	/* Bad WATCHDOG_USEC: reported, notifications still work. */
	set_env(name, "12ms", NULL);
	CHECK(sdnotify_init(&sd, 0, err, sizeof err) == -1 && strstr(err, "WATCHDOG_USEC"));
	CHECK(sdnotify_enabled(&sd) && sdnotify_next_deadline(&sd) == HUGE_VAL);
	CHECK(sdnotify_ready(&sd) == 0 && !strcmp(next_msg(fd, buf, sizeof buf), "READY=1"));
	sdnotify_close(&sd);
	close(fd);
}

static void test_bad_socket_names(void)
{
	static const char *bad[] = { "relative/path", "@", "/", "vsock:2:1234" };
	struct sdnotify sd;
	char err[128];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		set_env(bad[i], NULL, NULL);
		err[0] = '\0';
		CHECK(sdnotify_init(&sd, 0, err, sizeof err) == -1 && strstr(err, "NOTIFY_SOCKET"));
		CHECK(!sdnotify_enabled(&sd) && sdnotify_ready(&sd) == 0);
		sdnotify_close(&sd);
	}
	/* Nobody listening: the send fails, it does not block or crash. */
	set_env("/nonexistent/notify.sock", NULL, NULL);
	CHECK(sdnotify_init(&sd, 0, err, sizeof err) == 0);
	CHECK(sdnotify_ready(&sd) == -1);
	sdnotify_close(&sd);
}

int main(void)
{
	RUN(test_unset_is_a_no_op);
	RUN(test_path_socket);
	RUN(test_abstract_socket);
	RUN(test_watchdog_pacing);
	RUN(test_bad_socket_names);
	return harness_report();
}
