/* proc: the one module that owns process life. It alone calls fork,
 * waitpid, setrlimit, setitimer/alarm, kill and installs signal handlers.
 * Signals reach the parent's poll loop through a self-pipe (handlers only
 * write a byte); a job child runs a fixed prologue before the job function:
 * reset signals and mask, close inherited descriptors, die with the parent,
 * no new privileges, rlimits, arm the soft limit; then the job writes one
 * record and the child _exits. Its state (the self-pipe, the soft-limit flag)
 * is the program's only global mutable state besides main.c. */
#ifndef TRYON_PROC_H
#define TRYON_PROC_H
#include <signal.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Bits returned by proc_signals_drain. */
#define PROC_SIG_CHLD  0x1
#define PROC_SIG_TERM  0x2   /* SIGTERM or SIGINT */
#define PROC_SIG_HUP   0x4

/* Install the parent's handlers (SIGCHLD, SIGTERM, SIGINT, SIGHUP; SIGPIPE
 * ignored) and create the self-pipe. Returns its read end (nonblocking) or
 * -1 with errno. Call once. */
int proc_signals_init(void);
/* Read all pending bytes of the self-pipe; returns the PROC_SIG_* bits seen
 * and the number of SIGTERM/SIGINT received so far in *n_term. */
unsigned proc_signals_drain(int *n_term);

struct proc_limits {
	long memory_mb;          /* RLIMIT_AS; 0 = unlimited */
	double soft_seconds;     /* soft time limit in the child; 0 = none */
	int max_fds;             /* RLIMIT_NOFILE */
};

/* The job, run in the child after the prologue. record_fd is the write end
 * of the result pipe. Its return value becomes the child's exit status. It
 * must not return to the caller's code paths: the child _exits after it. */
typedef int (*proc_job_fn)(void *arg, int record_fd);

/* Fork a job child. On success returns its pid and *record_fd is the
 * parent's read end of the result pipe (nonblocking, close-on-exec, owned by
 * the caller). -1 with err on failure (no child exists then). */
pid_t proc_spawn(const struct proc_limits *lim, proc_job_fn fn, void *arg,
		 int *record_fd, char *err, size_t errlen);

/* Send sig to a child we spawned. 0 or -1. */
int proc_kill(pid_t pid, int sig);

/* Reap one exited child without blocking: returns its pid and fills status
 * and ru, 0 if none has exited, -1 if there are no children. */
pid_t proc_reap_one(int *status, struct rusage *ru);

/* In a job child: nonzero once the soft time limit has passed. Long
 * operations poll it (curl's progress callback, sleep loops). */
int proc_soft_limit_expired(void);
/* In a job child: seconds left before the soft limit (large if none). */
double proc_soft_limit_remaining(void);
/* In a job child that must clean up when terminated (a revoke with
 * terminate sends SIGTERM): catch SIGTERM as a flag instead of dying. 0 or
 * -1. proc_terminate_requested: nonzero once it came. The job then ends
 * soon on its own; SIGKILL still ends it at once. */
int proc_catch_terminate(void);
int proc_terminate_requested(void);

/* The parent, once at start: no core dumps (RLIMIT_CORE 0) and not
 * dumpable (PR_SET_DUMPABLE 0: no ptrace attach or /proc/<pid>/mem, environ,
 * maps by other users of the same uid; job children inherit it through
 * fork). 0 or -1 with errno. */
int proc_harden(void);

/* Write all of buf to fd, retrying on EINTR/short writes. 0 or -1. */
int proc_write_all(int fd, const void *buf, size_t len);
#endif
