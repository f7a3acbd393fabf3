/* proc: fork, prologue, rlimits, signals, timers, reaping. */
#include "lib/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int self_pipe[2] = { -1, -1 };
static volatile sig_atomic_t term_count;
static volatile sig_atomic_t soft_expired;
static volatile sig_atomic_t terminate_asked;   /* job child: SIGTERM caught */
static struct timespec soft_deadline;   /* child only */
static int soft_armed;                  /* child only */

static void on_signal(int sig)
{
	int saved = errno;
	char c = sig == SIGCHLD ? 'C' : sig == SIGHUP ? 'H' : 'T';

	if (sig == SIGTERM || sig == SIGINT)
		term_count++;
	if (self_pipe[1] >= 0) {
		ssize_t w = write(self_pipe[1], &c, 1);
		(void)w;   /* a full pipe already holds a wake-up */
	}
	errno = saved;
}

static void on_soft_alarm(int sig)
{
	(void)sig;
	soft_expired = 1;
}

static void on_job_term(int sig)
{
	(void)sig;
	terminate_asked = 1;
}

int proc_signals_init(void)
{
	struct sigaction sa;

	if (pipe2(self_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGHUP, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -1;
	return self_pipe[0];
}

unsigned proc_signals_drain(int *n_term)
{
	char buf[64];
	unsigned bits = 0;
	ssize_t n;

	while ((n = read(self_pipe[0], buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			bits |= buf[i] == 'C' ? PROC_SIG_CHLD : buf[i] == 'H' ? PROC_SIG_HUP : PROC_SIG_TERM;
	}
	if (n_term)
		*n_term = term_count;
	return bits;
}

static int set_limit(int resource, rlim_t value)
{
	struct rlimit rl = { value, value };
	return setrlimit(resource, &rl);
}

int proc_harden(void)
{
	if (set_limit(RLIMIT_CORE, 0) < 0)
		return -1;
	return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ? -1 : 0;
}

static void close_from(int lowfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0u) == 0)
		return;
#endif
	/* Older kernels: close what RLIMIT_NOFILE allows. */
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = lowfd; fd < max; fd++)
		close(fd);
}

/* The child prologue, always in this order. Failing steps end the child at
 * once with a distinct status, which the parent classifies as "no record". */
static void child_prologue(const struct proc_limits *lim, int *record_fd, pid_t parent)
{
	struct sigaction sa;
	sigset_t none;

	/* 1. Signals: default dispositions, empty mask. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		sigaction(sig, &sa, NULL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* 2. Descriptors: keep 0-2 for logs, the record pipe as fd 3. */
	if (*record_fd != 3) {
		if (dup2(*record_fd, 3) < 0)
			_exit(120);
		*record_fd = 3;
	}
	close_from(4);
	self_pipe[0] = self_pipe[1] = -1;

	/* 3. Die with the parent; it may already be gone. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(121);
	/* 4. No privilege gain through exec, ever. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(122);
	/* 5. Limits: memory cap, no core dumps (they may hold secrets), fds. */
	if ((lim->memory_mb > 0 && set_limit(RLIMIT_AS, (rlim_t)lim->memory_mb << 20) < 0) ||
	    set_limit(RLIMIT_CORE, 0) < 0 ||
	    (lim->max_fds > 0 && set_limit(RLIMIT_NOFILE, (rlim_t)lim->max_fds) < 0))
		_exit(123);
	/* 6. Arm the soft limit (sub-second precision, unlike alarm). */
	soft_expired = 0;
	soft_armed = 0;
	if (lim->soft_seconds > 0) {
		struct itimerval it = { { 0, 0 }, { 0, 0 } };
		it.it_value.tv_sec = (time_t)lim->soft_seconds;
		it.it_value.tv_usec = (suseconds_t)((lim->soft_seconds - (double)it.it_value.tv_sec) * 1e6);
		if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
			it.it_value.tv_usec = 1;
		sa.sa_handler = on_soft_alarm;
		sa.sa_flags = 0;   /* interrupt blocking calls so they notice */
		sigaction(SIGALRM, &sa, NULL);
		clock_gettime(CLOCK_MONOTONIC, &soft_deadline);
		soft_deadline.tv_sec += it.it_value.tv_sec;
		soft_deadline.tv_nsec += (long)it.it_value.tv_usec * 1000;
		if (soft_deadline.tv_nsec >= 1000000000L) {
			soft_deadline.tv_sec++;
			soft_deadline.tv_nsec -= 1000000000L;
		}
		soft_armed = 1;
		if (setitimer(ITIMER_REAL, &it, NULL) < 0)
			_exit(124);
	}
}

pid_t proc_spawn(const struct proc_limits *lim, proc_job_fn fn, void *arg,
		 int *record_fd, char *err, size_t errlen)
{
	int fds[2];
	pid_t parent = getpid();

	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int wfd = fds[1];
		close(fds[0]);
		child_prologue(lim, &wfd, parent);
		int rc = fn(arg, wfd);
		_exit(rc);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	*record_fd = fds[0];
	return pid;
}

int proc_kill(pid_t pid, int sig)
{
	return pid > 0 ? kill(pid, sig) : -1;
}

pid_t proc_reap_one(int *status, struct rusage *ru)
{
	pid_t pid;

	do {
		pid = wait4(-1, status, WNOHANG, ru);
	} while (pid < 0 && errno == EINTR);
	return pid;
}

int proc_soft_limit_expired(void)
{
	return soft_expired != 0;
}

int proc_catch_terminate(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_job_term;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;   /* interrupt blocking calls so they notice */
	terminate_asked = 0;
	return sigaction(SIGTERM, &sa, NULL);
}

int proc_terminate_requested(void)
{
	return terminate_asked != 0;
}

double proc_soft_limit_remaining(void)
{
	struct timespec now;

	if (!soft_armed)
		return 1e9;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double left = (double)(soft_deadline.tv_sec - now.tv_sec) +
		      (double)(soft_deadline.tv_nsec - now.tv_nsec) / 1e9;
	return left > 0 ? left : 0;
}

int proc_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
