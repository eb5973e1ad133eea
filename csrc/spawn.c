/* spawn.c - fork/exec from argv, stderr tee with a tail, waits that lose no
 * signal.  See spawn.h.  No Lua here. */
#include "spawn.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* ---- process-wide signal state ------------------------------------- */

static int guard_depth;             /* children running + guards entered */
static sigset_t guard_old;          /* mask before the first block */
static int guard_fd = -1;           /* signalfd for the guarded set */
static unsigned seen;               /* signals recorded, 1 << signo */
static struct netops_spawn_proc *running;  /* children not yet reaped */

static void guarded_set(sigset_t *s)
{
    sigemptyset(s);
    sigaddset(s, SIGINT);
    sigaddset(s, SIGQUIT);
    sigaddset(s, SIGTERM);
    sigaddset(s, SIGHUP);
    sigaddset(s, SIGCHLD);      /* wakes waits; says when a child stops */
}

static int block_more(void)
{
    if (guard_depth == 0) {
        sigset_t s;
        struct sigaction old;
        /* an inherited SIGCHLD=SIG_IGN makes the kernel reap our children */
        if (sigaction(SIGCHLD, NULL, &old) == 0 && old.sa_handler == SIG_IGN) {
            old.sa_handler = SIG_DFL;
            sigaction(SIGCHLD, &old, NULL);
        }
        guarded_set(&s);
        if (sigprocmask(SIG_BLOCK, &s, &guard_old) < 0)
            return errno;
        if (guard_fd < 0) {
            guard_fd = signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
            if (guard_fd < 0) {
                int e = errno;
                sigprocmask(SIG_SETMASK, &guard_old, NULL);
                return e;
            }
        }
    }
    guard_depth++;
    return 0;
}

static void forward(int sig)
{
    for (struct netops_spawn_proc *q = running; q; q = q->next) {
        if (q->status == SPAWN_RUNNING) {
            kill(q->pid, sig);
            q->forwarded |= 1u << sig;
        }
    }
}

/* Read one pending guarded signal: record it, forward TERM/HUP. */
int netops_spawn_guard_read(int sigfd)
{
    struct signalfd_siginfo si;
    ssize_t n;
    do n = read(sigfd, &si, sizeof si); while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof si)
        return 0;
    int sig = (int)si.ssi_signo;
    if (sig == SIGCHLD)
        return sig;
    seen |= 1u << sig;
    if (sig == SIGTERM || sig == SIGHUP) {
        forward(sig);
    } else {
        /* From the terminal the child got it too; from kill(2) it did not. */
        int from_tty = si.ssi_code == SI_KERNEL;
        for (struct netops_spawn_proc *q = running; q; q = q->next) {
            q->interrupted |= 1u << sig;
            if (!from_tty && q->status == SPAWN_RUNNING)
                kill(q->pid, sig);
        }
    }
    return sig;
}

static void unblock_less(void)
{
    if (guard_depth <= 0)
        return;
    if (--guard_depth == 0) {
        /* Record what is still pending rather than let it act late. */
        while (netops_spawn_guard_read(guard_fd) > 0)
            ;
        sigprocmask(SIG_SETMASK, &guard_old, NULL);
    }
}

int netops_spawn_guard_enter(int *fd)
{
    int e = block_more();
    *fd = e ? -1 : guard_fd;
    return e;
}

void netops_spawn_guard_leave(void)
{
    unblock_less();
}

int netops_spawn_children(void)
{
    int n = 0;
    for (struct netops_spawn_proc *q = running; q; q = q->next)
        n++;
    return n;
}

unsigned netops_spawn_signals_seen(void)
{
    return seen;
}

unsigned netops_spawn_take_signals(void)
{
    unsigned s = seen;
    seen = 0;
    return s;
}

/* ---- children ------------------------------------------------------ */

static void unlink_running(struct netops_spawn_proc *p)
{
    for (struct netops_spawn_proc **q = &running; *q; q = &(*q)->next) {
        if (*q == p) {
            *q = p->next;
            p->next = NULL;
            return;
        }
    }
}

static int open_null(int flags)
{
    return open("/dev/null", flags | O_CLOEXEC);
}

/* SIGHUP, SIGINT or SIGQUIT ignored in the caller (nohup, a shell's `&`):
 * the user asked for that, so the child keeps ignoring it. */
static int keep_ignored(int s)
{
    struct sigaction old;
    if (s != SIGHUP && s != SIGINT && s != SIGQUIT)
        return 0;
    return sigaction(s, NULL, &old) == 0 && old.sa_handler == SIG_IGN;
}

/* In the child: only async-signal-safe calls from here to exec. */
static void child(const struct netops_spawn_opts *o, int errw, int teew, int nullfd)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP || keep_ignored(s))
            continue;
        if (sigaction(s, &sa, NULL) < 0) {
            /* glibc keeps 32 and 33 for itself; the kernel does not */
            struct { void (*h)(int); unsigned long flags; void (*r)(void); unsigned long mask; } k;
            memset(&k, 0, sizeof k);
            k.h = SIG_DFL;
            syscall(SYS_rt_sigaction, s, &k, NULL, sizeof k.mask);
        }
    }

    int e;
    if (o->in == SPAWN_NULL && dup2(nullfd, 0) < 0) goto fail;
    if (o->in == SPAWN_FD && dup2(o->in_fd, 0) < 0) goto fail;
    if (o->out == SPAWN_NULL && dup2(nullfd, 1) < 0) goto fail;
    if (o->out == SPAWN_FD && dup2(o->out_fd, 1) < 0) goto fail;
    if (o->err == SPAWN_NULL && dup2(nullfd, 2) < 0) goto fail;
    if (o->err == SPAWN_FD && dup2(o->err_fd, 2) < 0) goto fail;
    if ((o->err == SPAWN_TEE || o->err == SPAWN_CAPTURE) && dup2(teew, 2) < 0) goto fail;
    /* fds not ours (Lua's io.open has no O_CLOEXEC) must not leak either */
    if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = 3; fd < 4096; fd++)
            if (fd != errw)
                fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (o->cwd && chdir(o->cwd) < 0) goto fail;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (o->envp)
        execvpe(o->argv[0], o->argv, o->envp);
    else
        execvp(o->argv[0], o->argv);
fail:
    e = errno;
    (void)!write(errw, &e, sizeof e);
    _exit(127);
}

/* The fds a start needs: the exec-error pipe, the tee pipe, /dev/null. */
struct start_fds {
    int errp[2], teep[2], nullfd;
};

static void close_start_fds(struct start_fds *f)
{
    for (int i = 0; i < 2; i++) {
        if (f->errp[i] >= 0) close(f->errp[i]);
        if (f->teep[i] >= 0) close(f->teep[i]);
        f->errp[i] = f->teep[i] = -1;
    }
    if (f->nullfd >= 0)
        close(f->nullfd);
    f->nullfd = -1;
}

/* Open what o needs; 0, or an errno with nothing left open. */
static int open_start_fds(struct start_fds *f, const struct netops_spawn_opts *o)
{
    int tee = o->err == SPAWN_TEE || o->err == SPAWN_CAPTURE;
    int null = o->in == SPAWN_NULL || o->out == SPAWN_NULL || o->err == SPAWN_NULL;
    f->errp[0] = f->errp[1] = f->teep[0] = f->teep[1] = f->nullfd = -1;
    if (pipe2(f->errp, O_CLOEXEC) == 0 && (!tee || pipe2(f->teep, O_CLOEXEC) == 0)
        && (!null || (f->nullfd = open_null(O_RDWR)) >= 0))
        return 0;
    int e = errno;
    close_start_fds(f);
    return e;
}

/*
 * In the parent after fork: close the child's ends and learn whether exec
 * worked.  0, or the child's errno after reaping it (f all closed then).
 */
static int await_exec(pid_t pid, struct start_fds *f)
{
    int e = 0, teer = f->teep[0], errr = f->errp[0];
    ssize_t n;
    f->teep[0] = f->errp[0] = -1;       /* the tee pipe's read end stays open */
    close_start_fds(f);                 /* the child's ends: EOF when exec works */
    do n = read(errr, &e, sizeof e); while (n < 0 && errno == EINTR);
    close(errr);
    if (n != (ssize_t)sizeof e) {
        f->teep[0] = teer;
        return 0;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (teer >= 0)
        close(teer);
    return e ? e : ECHILD;
}

/* Record the running child in p and in the list of running children. */
static void track(struct netops_spawn_proc *p, const struct netops_spawn_opts *o, pid_t pid, int teer)
{
    p->pid = pid;
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);  /* CLOEXEC by design */
    if (teer >= 0) {
        p->errfd = teer;
        p->echo = o->err == SPAWN_TEE;
        fcntl(p->errfd, F_SETFL, fcntl(p->errfd, F_GETFL) | O_NONBLOCK);
    }
    p->timeout = o->timeout;
    p->grace = o->grace > 0 ? o->grace : 5.0;
    p->status = SPAWN_RUNNING;
    p->next = running;
    running = p;
}

static int start_failed(const struct netops_spawn_opts *o, int e, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", o->argv[0], strerror(e));
    return e;
}

int netops_spawn_start(struct netops_spawn_proc *p, const struct netops_spawn_opts *o, char *err, size_t errlen)
{
    struct start_fds f;
    int e;
    memset(p, 0, sizeof *p);
    p->pid = -1;
    p->pidfd = -1;
    p->errfd = -1;
    if (!o->argv || !o->argv[0]) {
        snprintf(err, errlen, "empty argv");
        return EINVAL;
    }
    if ((e = open_start_fds(&f, o)) == 0 && (e = block_more()) != 0)
        close_start_fds(&f);
    if (e)
        return start_failed(o, e, err, errlen);
    p->started = netops_clock_now();
    pid_t pid = fork();
    if (pid == 0)
        child(o, f.errp[1], f.teep[1], f.nullfd);
    e = pid < 0 ? errno : await_exec(pid, &f);
    if (e) {
        close_start_fds(&f);
        unblock_less();
        return start_failed(o, e, err, errlen);
    }
    track(p, o, pid, f.teep[0]);
    f.teep[0] = -1;
    return 0;
}

static void tail_add(struct netops_spawn_proc *p, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p->tail[p->tail_pos] = b[i];
        p->tail_pos = (p->tail_pos + 1) % SPAWN_TAIL;
    }
    p->tail_len = p->tail_len + n > SPAWN_TAIL ? SPAWN_TAIL : p->tail_len + n;
}

size_t netops_spawn_tail(const struct netops_spawn_proc *p, char *buf)
{
    size_t start = (p->tail_pos + SPAWN_TAIL - p->tail_len) % SPAWN_TAIL;
    for (size_t i = 0; i < p->tail_len; i++)
        buf[i] = p->tail[(start + i) % SPAWN_TAIL];
    return p->tail_len;
}

/* Copy pending tee bytes to our stderr, waiting up to ms for it to take
 * some.  When our stderr is gone, stop copying (the tail is still kept). */
static void echo_some(struct netops_spawn_proc *p, int ms)
{
    while (p->echo_len > 0) {
        struct pollfd pf = { 2, POLLOUT, 0 };
        int k = poll(&pf, 1, ms);
        if (k < 0 && errno == EINTR)
            continue;
        if (k == 0)
            return;
        ssize_t w = k < 0 ? -1 : write(2, p->echo_buf + p->echo_off, p->echo_len);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w <= 0) {
            p->echo = 0;                /* our stderr is gone: keep the tail */
            p->echo_len = 0;
            return;
        }
        p->echo_off += (size_t)w;
        p->echo_len -= (size_t)w;
        ms = 0;
    }
}

/*
 * Read one chunk of the tee pipe, unless the last one is still waiting for
 * our stderr.  Returns the bytes read, 0 at EOF (the fd is closed), -1 when
 * nothing was read now.
 */
static ssize_t pump(struct netops_spawn_proc *p)
{
    if (p->echo_len > 0)
        return -1;
    ssize_t n;
    do n = read(p->errfd, p->echo_buf, sizeof p->echo_buf); while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return -1;
    if (n <= 0) {
        close(p->errfd);
        p->errfd = -1;
        return 0;
    }
    tail_add(p, p->echo_buf, (size_t)n);
    if (p->echo) {
        p->echo_off = 0;
        p->echo_len = (size_t)n;
        echo_some(p, 0);
    }
    return n;
}

/* After the child's end: what is left in the tee pipe, within the bounds
 * of spawn.h (SPAWN_DRAIN bytes, until the monotonic time until). */
static void drain(struct netops_spawn_proc *p, double until)
{
    size_t budget = SPAWN_DRAIN;
    while (p->errfd >= 0 || p->echo_len > 0) {
        if (p->echo_len > 0) {
            double left = until - netops_clock_now();
            if (left <= 0)
                p->echo_len = 0;        /* our stderr takes no more: tail only */
            else
                echo_some(p, netops_clock_poll_ms(left));
            continue;
        }
        if (budget == 0)
            break;
        ssize_t n = pump(p);
        if (n <= 0)
            break;
        budget = (size_t)n < budget ? budget - (size_t)n : 0;
    }
}

/* The parent's ends for a child that has ended or is dropped. */
static void close_child_fds(struct netops_spawn_proc *p)
{
    if (p->errfd >= 0) {
        close(p->errfd);
        p->errfd = -1;
    }
    if (p->pidfd >= 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
}

/* Whether we have a controlling terminal and are its foreground process
 * group: only then is there a shell to take the terminal back and `fg` us. */
static int in_tty_foreground(void)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    pid_t fg = tcgetpgrp(fd);
    close(fd);
    return fg > 0 && fg == getpgrp();
}

/* Reap the child if it ended (flags as wait4's); until bounds the drain
 * of its stderr.  *ended 1 when it ended (also on an error: it is gone),
 * 0 when not; returns 0 or an errno. */
static int reap(struct netops_spawn_proc *p, int flags, double until, int *ended)
{
    int st;
    pid_t r;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    *ended = 0;
    do r = wait4(p->pid, &st, flags, &ru); while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (r > 0 && WIFSTOPPED(st)) {
        /* ssh's ~^Z stops it: stop too, so the shell takes the terminal
           back; `fg` continues our process group; make sure it goes on.
           Without a terminal in our foreground nobody would continue us
           (keepalived does not): leave the child stopped and keep waiting */
        if (!in_tty_foreground())
            return 0;
        int s = WSTOPSIG(st);
        kill(getpid(), (s == SIGTSTP || s == SIGTTIN || s == SIGTTOU) ? s : SIGSTOP);
        kill(p->pid, SIGCONT);
        return 0;
    }
    p->ended = netops_clock_now();
    *ended = 1;
    if (r < 0) {                        /* reaped behind our back (ECHILD) */
        int e = errno;
        p->status = SPAWN_EXITED;
        p->code = -1;
        unlink_running(p);
        unblock_less();
        return e;
    }
    p->utime = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    p->stime = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    if (WIFEXITED(st)) {
        p->status = SPAWN_EXITED;
        p->code = WEXITSTATUS(st);
    } else {
        p->status = SPAWN_SIGNALED;
        p->sig = WTERMSIG(st);
    }
    drain(p, until);                    /* what is left; grandchildren may hold it */
    close_child_fds(p);
    /* a signal that came with the end still belongs to this child */
    while (netops_spawn_guard_read(guard_fd) > 0)
        ;
    unlink_running(p);
    unblock_less();
    return 0;
}

/* The child's own timeout: SIGTERM when it is due, then SIGKILL after the
 * grace.  Returns when the next of these is due (-1: never). */
static double enforce_timeout(struct netops_spawn_proc *p, double now)
{
    if (p->timeout > 0 && p->timed_out == 0 && now - p->started >= p->timeout) {
        kill(p->pid, SIGTERM);
        kill(p->pid, SIGCONT);          /* a stopped child acts on it only when running */
        p->timed_out = 1;
        p->term_sent = now;
    } else if (p->timed_out == 1 && now - p->term_sent >= p->grace) {
        kill(p->pid, SIGKILL);
        p->timed_out = 2;
    }
    if (p->timeout > 0 && p->timed_out == 0)
        return p->started + p->timeout;
    if (p->timed_out == 1)
        return p->term_sent + p->grace;
    return -1;
}

/* Sleep in poll up to ms (-1: no bound) for news: a guarded signal, our
 * stderr taking tee bytes, the child's stderr, its end (pidfd).  Handles
 * what came; 0, or the errno when poll fails. */
static int wait_events(struct netops_spawn_proc *p, int ms)
{
    struct pollfd pf[3];
    int n = 0, echo_i = -1;
    if (guard_fd >= 0)
        pf[n++] = (struct pollfd){ guard_fd, POLLIN, 0 };
    if (p->echo_len > 0)                /* our stderr first, then more of the child's */
        pf[echo_i = n++] = (struct pollfd){ 2, POLLOUT, 0 };
    else if (p->errfd >= 0)
        pf[n++] = (struct pollfd){ p->errfd, POLLIN, 0 };
    if (p->pidfd >= 0)
        pf[n++] = (struct pollfd){ p->pidfd, POLLIN, 0 };
    else if (ms < 0 || ms > 20)
        ms = 20;                        /* no pidfd: poll the child */
    int k = poll(pf, (nfds_t)n, ms);
    if (k < 0 && errno != EINTR)
        return errno;
    for (int i = 0; i < n && k > 0; i++) {
        if (!pf[i].revents)
            continue;
        if (i == echo_i)
            echo_some(p, 0);
        else if (pf[i].fd == guard_fd)
            while (netops_spawn_guard_read(guard_fd) > 0)
                ;
        else if (pf[i].fd == p->errfd)
            pump(p);
    }
    return 0;
}

int netops_spawn_wait(struct netops_spawn_proc *p, double timeout, int *ended)
{
    *ended = 1;
    if (p->status != SPAWN_RUNNING)
        return 0;
    double now = netops_clock_now();
    double end = timeout < 0 ? -1 : now + timeout;
    for (;;) {
        now = netops_clock_now();
        double until = now + SPAWN_DRAIN_SECONDS;
        int e = reap(p, WNOHANG | WUNTRACED, end >= 0 && end < until ? end : until, ended);
        if (e != 0 || *ended)
            return e;
        now = netops_clock_now();
        double due = enforce_timeout(p, now), wake = end;
        if (due >= 0 && (wake < 0 || due < wake))
            wake = due;
        if (end >= 0 && now >= end)
            return 0;
        if ((e = wait_events(p, wake >= 0 ? netops_clock_poll_ms(wake - now) : -1)) != 0)
            return e;
    }
}

int netops_spawn_kill(struct netops_spawn_proc *p, int sig)
{
    if (p->status != SPAWN_RUNNING || p->pid <= 0)
        return ESRCH;
    return kill(p->pid, sig) < 0 ? errno : 0;
}

void netops_spawn_release(struct netops_spawn_proc *p)
{
    if (p->pid > 0 && p->status == SPAWN_RUNNING) {
        int ended;
        kill(p->pid, SIGKILL);
        reap(p, 0, netops_clock_now(), &ended);   /* dropped: no waiting for our stderr */
    }
    close_child_fds(p);
}
