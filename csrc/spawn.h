/*
 * spawn.h - start a program from an argv array (never a shell), keep the
 * tail of its stderr, wait for it with a timeout, without losing SIGCHLD.
 *
 * Signals: while at least one child started here is running, SIGINT,
 * SIGQUIT, SIGTERM and SIGHUP are blocked in the caller and read through a
 * signalfd while waiting.  SIGINT and SIGQUIT are recorded (the child, in
 * the same process group and terminal, gets them from the terminal itself);
 * SIGTERM and SIGHUP are forwarded to every running child and recorded, so
 * the caller can refuse to retry after them.  SIGCHLD is read the same way:
 * when the child stops (ssh's ~^Z) and the caller is the foreground process
 * group of its controlling terminal, the caller stops too, so the shell gets
 * the terminal back, and continues it when continued; otherwise (no terminal,
 * a background job, keepalived) the child stays stopped and waits go on.
 * The child's timeout sends SIGCONT after SIGTERM, so a stopped child acts
 * on it.  The child starts with an empty mask and default dispositions,
 * except that SIGHUP, SIGINT and SIGQUIT stay ignored when the caller ignores
 * them (nohup, a shell's `&`); every fd of ours is close-on-exec in it.
 *
 * No Lua here: this file is linked into C tests and benchmarks as it is.
 */
#ifndef NETOPS_SPAWN_H
#define NETOPS_SPAWN_H

/* Functions return 0 or a positive errno; results through out-parameters. */

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#define SPAWN_TAIL 4096     /* bytes of stderr kept for classification */
#define SPAWN_DRAIN (1 << 20)   /* at most this much stderr is read after the end */
#define SPAWN_DRAIN_SECONDS 1.0 /* nor for longer than this (our stderr may be stuck) */

enum netops_spawn_stdio { SPAWN_INHERIT = 0, SPAWN_NULL, SPAWN_FD, SPAWN_TEE, SPAWN_CAPTURE };

struct netops_spawn_opts {
    char *const *argv;          /* argv[0] is searched in PATH */
    char *const *envp;          /* NULL: inherit the environment */
    const char *cwd;            /* NULL: inherit */
    enum netops_spawn_stdio in, out, err;
    int in_fd, out_fd, err_fd;  /* used with SPAWN_FD */
    double timeout;             /* > 0: SIGTERM after this many seconds */
    double grace;               /* then SIGKILL after this many more */
};

enum netops_spawn_status { SPAWN_RUNNING = 0, SPAWN_EXITED, SPAWN_SIGNALED };

struct netops_spawn_proc {
    pid_t pid;
    int pidfd;                  /* -1 when pidfd_open is not available */
    int errfd;                  /* read end of the tee pipe, or -1 */
    int echo;                   /* copy what errfd gives to our stderr */
    double started, ended;      /* monotonic seconds */
    double timeout, grace;
    int timed_out;              /* 1: SIGTERM sent, 2: SIGKILL sent */
    double term_sent;
    enum netops_spawn_status status;
    int code, sig;              /* exit code or terminating signal */
    double utime, stime;        /* CPU seconds of it and the children it reaped */
    int interrupted;            /* SIGINT/SIGQUIT received while it ran */
    int forwarded;              /* SIGTERM/SIGHUP forwarded to it */
    size_t tail_len, tail_pos;  /* ring buffer of the last stderr bytes */
    char tail[SPAWN_TAIL];
    size_t echo_off, echo_len;  /* tee: bytes read, not yet copied to our stderr */
    char echo_buf[4096];
    struct netops_spawn_proc *next;    /* list of running children */
};

/*
 * Start a child.  Returns 0, or an errno value (with a message in err) when
 * the program could not be started: fork failure, exec failure (ENOENT for
 * a missing program), chdir failure.  On success p is registered as running.
 */
int netops_spawn_start(struct netops_spawn_proc *p, const struct netops_spawn_opts *o, char *err, size_t errlen);

/*
 * Wait up to timeout seconds (< 0: forever) for the child to end, copying
 * its stderr when teed and forwarding signals.  The copy never holds the
 * wait past its timeout: while our stderr takes no more, the tee pipe is not
 * read and the child waits, as it would writing to our stderr itself.  After
 * the end, at most SPAWN_DRAIN bytes left in the pipe (a grandchild may hold
 * it) are read, for at most SPAWN_DRAIN_SECONDS (or what is left of timeout);
 * what our stderr does not take by then is kept in the tail only.  Returns
 * 0 with *ended 1 when it ended (the status fields are set) or 0 on timeout;
 * or an errno on a system error (ECHILD: reaped behind our back, the status
 * says exited with code -1).
 */
int netops_spawn_wait(struct netops_spawn_proc *p, double timeout, int *ended);

/* Send sig to a running child: 0 or an errno value (ESRCH once reaped). */
int netops_spawn_kill(struct netops_spawn_proc *p, int sig);

/* Copy the stderr tail (in order) into buf of size SPAWN_TAIL; returns length. */
size_t netops_spawn_tail(const struct netops_spawn_proc *p, char *buf);

/* Kill (SIGKILL) and reap a child still running, close its fds.  Idempotent. */
void netops_spawn_release(struct netops_spawn_proc *p);

/*
 * Signals recorded so far (SIGINT, SIGQUIT, SIGTERM, SIGHUP), as a bit mask
 * of (1 << signo); netops_spawn_take_signals also clears them.
 */
unsigned netops_spawn_signals_seen(void);
unsigned netops_spawn_take_signals(void);

/*
 * Interruptible waits outside a child's life: block SIGINT, SIGTERM, SIGHUP
 * (and SIGQUIT), a signalfd to poll (non-blocking, close-on-exec) in *fd;
 * 0, or an errno with *fd -1 (and nothing to leave).  netops_spawn_guard_leave
 * restores the mask; signals read from the fd are consumed.
 * netops_spawn_guard_read returns a signal number or 0.
 */
int netops_spawn_guard_enter(int *fd);
void netops_spawn_guard_leave(void);
int netops_spawn_guard_read(int sigfd);

/* Children started here and not yet reaped. */
int netops_spawn_children(void);

#endif
