/* conntrackd.c - conntrackd control-socket client; see conntrackd.h. */
#include "conntrackd.h"
#include "clock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Milliseconds left until deadline, for poll(); never negative. */
static int ms_left(double deadline)
{
    return netops_clock_poll_ms(deadline - netops_clock_now());
}

int netops_ctd_find_daemons(pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL) {
        char path[64], comm[32];
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        int fd;
        ssize_t r;

        if (*end || pid <= 0)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/comm", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        r = read(fd, comm, sizeof comm - 1);
        close(fd);
        if (r <= 0)
            continue;
        comm[r] = '\0';
        if (strcmp(comm, "conntrackd\n") != 0)
            continue;
        if (n < max)
            pids[n] = (pid_t)pid;
        n++;
    }
    closedir(d);
    return n;
}

/* " (a conntrackd runs as pid N, but not with this socket?)" or similar. */
static void daemon_hint(char *buf, size_t len)
{
    pid_t pids[4];
    int n = netops_ctd_find_daemons(pids, 4);

    if (n == 0)
        snprintf(buf, len, "no conntrackd process runs on this host: start it "
                 "(conntrackd -d -C CONFIG)");
    else if (n == 1)
        snprintf(buf, len, "conntrackd runs (pid %ld) but not at this path: "
                 "check UNIX { Path } in its config", (long)pids[0]);
    else
        snprintf(buf, len, "%d conntrackd processes run (pid %ld, %ld ...) but none "
                 "at this path: check UNIX { Path } in their configs",
                 n, (long)pids[0], (long)pids[1]);
}

/* Set *cls and the message; return the errno e. */
static int fail(const char **cls, const char *c, int e, char *err, size_t errlen,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail(const char **cls, const char *c, int e, char *err, size_t errlen,
                const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    *cls = c;
    return e;
}

/* The message and class for a connect() that failed with e. */
static int connect_failed(const char *path, int e, double timeout, const char **cls,
                          char *err, size_t errlen)
{
    struct stat st;
    char hint[200];

    switch (e) {
    case ETIMEDOUT:
        return fail(cls, CTD_ETIMEOUT, e, err, errlen, "conntrackd: %s: timeout after "
                    "%gs connecting (daemon busy or hung: its listen backlog is full)",
                    path, timeout);
    case ENOENT:
        daemon_hint(hint, sizeof hint);
        return fail(cls, CTD_ENOSOCKET, e, err, errlen,
                    "conntrackd: %s: no such socket (%s)", path, hint);
    case ECONNREFUSED:
        if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))   /* Linux: ECONNREFUSED */
            return fail(cls, CTD_EIO, ENOTSOCK, err, errlen, "conntrackd: %s: not a socket", path);
        daemon_hint(hint, sizeof hint);
        return fail(cls, CTD_EREFUSED, e, err, errlen,
                    "conntrackd: %s: connection refused, stale socket (%s)", path, hint);
    case EACCES:
    case EPERM:
        return fail(cls, CTD_EDENIED, e, err, errlen, "conntrackd: %s: permission denied "
                    "(the socket is root-only: run as root)", path);
    default:
        if (e == ENOTSOCK || (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode)))
            return fail(cls, CTD_EIO, e, err, errlen, "conntrackd: %s: not a socket", path);
        return fail(cls, CTD_EIO, e, err, errlen, "conntrackd: %s: connect: %s", path,
                    strerror(e));
    }
}

/* connect() fd to sa by the deadline: 0 or an errno (ETIMEDOUT at the deadline). */
static int connect_by(int fd, const struct sockaddr_un *sa, double deadline)
{
    for (;;) {
        if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            /* AF_UNIX: the listen backlog is full; retry until the deadline */
            if (netops_clock_now() >= deadline)
                return ETIMEDOUT;
            netops_clock_sleep(0.005, NETOPS_SLEEP_FULL);
            continue;
        }
        if (errno == EINPROGRESS) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            socklen_t sl = sizeof(int);
            int r, e = ETIMEDOUT;
            do
                r = poll(&p, 1, ms_left(deadline));
            while (r < 0 && errno == EINTR);
            if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
                e = errno;
            return e;
        }
        return errno;
    }
}

/*
 * State of process pid from /proc/PID/stat: 1 when it runs, 0 when it is
 * gone, a zombie or exiting (PF_EXITING is set before its files are closed,
 * so a daemon whose death closed our connection is seen exiting), -1 when
 * unknown.
 */
static int process_runs(pid_t pid)
{
    char path[64], buf[512], *p, state;
    unsigned long flags;
    ssize_t r;
    int fd;

    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return r == 0 ? 0 : -1;
    buf[r] = '\0';
    p = strrchr(buf, ')');
    /* ") S ppid pgrp session tty tpgid flags" */
    if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
        return -1;
    if (state == 'Z' || state == 'X' || state == 'x' || (flags & 0x4) != 0)
        return 0;
    return 1;
}

/* The pid of the listener's process when it runs now, else 0 (conntrackd -d
 * creates its socket before it forks: its listener's process is gone). */
static pid_t peer_pid(int fd)
{
    struct ucred uc;
    socklen_t sl = sizeof uc;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &sl) < 0 || uc.pid <= 0)
        return 0;
    return process_runs(uc.pid) == 1 ? uc.pid : 0;
}

/* Socket connected to path by the deadline, in *fd; 0 or an errno (failure set). */
static int open_conn(const char *path, double timeout, double deadline, int *fd,
                     const char **cls, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    size_t plen = strlen(path);
    int e;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (plen >= sizeof sa.sun_path)
        return fail(cls, CTD_EIO, ENAMETOOLONG, err, errlen,
                    "conntrackd: %s: socket path too long", path);
    memcpy(sa.sun_path, path, plen + 1);
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (*fd < 0) {
        e = errno;
        return fail(cls, CTD_EIO, e, err, errlen, "conntrackd: %s: socket: %s",
                    path, strerror(e));
    }
    e = connect_by(*fd, &sa, deadline);
    if (e == 0)
        return 0;
    close(*fd);
    *fd = -1;
    return connect_failed(path, e, timeout, cls, err, errlen);
}

static int send_code(int fd, const char *path, int code, const char **cls,
                     char *err, size_t errlen)
{
    for (;;) {
        ssize_t w = send(fd, &code, sizeof code, MSG_NOSIGNAL);
        if (w == (ssize_t)sizeof code)
            return 0;
        if (w < 0 && errno == EINTR)
            continue;
        int e = w < 0 ? errno : EIO;
        return fail(cls, CTD_EIO, e, err, errlen, "conntrackd: %s: sending request %d: %s",
                    path, code, strerror(e));
    }
}

/* Room for more of the reply in *buf (capacity *cap, never past max + 2). */
static int grow(char **buf, size_t *cap, size_t len, size_t max)
{
    size_t want = *cap;
    char *nb;

    if (*buf && *cap - 1 - len > 0)
        return 0;
    if (*buf)
        want = *cap > max / 2 ? max + 2 : *cap * 2;
    nb = realloc(*buf, want);
    if (!nb)
        return ENOMEM;
    *buf = nb;
    *cap = want;
    return 0;
}

struct rq {
    const char *path;
    int code;
    double timeout, deadline;
    size_t max;
};

/* The reply until EOF into *buf, *len: 0, or an errno with the failure set. */
static int read_reply(int fd, const struct rq *q, char **buf, size_t *len,
                      const char **cls, char *err, size_t errlen)
{
    size_t cap = q->max < 4094 ? q->max + 2 : 4096;

    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t r;

        if (*len > q->max)
            return fail(cls, CTD_ETOOLARGE, EMSGSIZE, err, errlen, "conntrackd: %s: reply to "
                        "request %d longer than the cap of %zu bytes (max_reply)",
                        q->path, q->code, q->max);
        if (netops_clock_now() >= q->deadline)
            return fail(cls, CTD_ETIMEOUT, ETIMEDOUT, err, errlen, "conntrackd: %s: timeout "
                        "after %gs waiting for the reply to request %d (%zu bytes read; "
                        "daemon busy or hung)", q->path, q->timeout, q->code, *len);
        if (grow(buf, &cap, *len, q->max) != 0)
            return fail(cls, CTD_EIO, ENOMEM, err, errlen, "conntrackd: %s: out of memory",
                        q->path);
        r = recv(fd, *buf + *len, cap - 1 - *len, 0);
        if (r > 0)
            *len += (size_t)r;
        else if (r == 0)
            return 0;
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
            poll(&p, 1, ms_left(q->deadline));
        else if (errno == ECONNRESET)
            return fail(cls, CTD_EIO, ECONNRESET, err, errlen, "conntrackd: %s: connection "
                        "reset before request %d was read (%zu bytes of reply): the "
                        "daemon closed, crashed or restarted", q->path, q->code, *len);
        else if (errno != EINTR) {
            int e = errno;
            return fail(cls, CTD_EIO, e, err, errlen, "conntrackd: %s: reading reply to "
                        "request %d: %s", q->path, q->code, strerror(e));
        }
    }
}

/* Is a reply that ended in a clean EOF one conntrackd gives?  0 or an errno. */
static int check_reply(const struct rq *q, const char *buf, size_t len, pid_t pid,
                       const char **cls, char *err, size_t errlen)
{
    if (pid > 0 && q->code != CTD_KILL && process_runs(pid) == 0)
        return fail(cls, CTD_EIO, EPIPE, err, errlen, "conntrackd: %s: the daemon "
                    "(pid %ld) exited while answering request %d: it may not have been "
                    "carried out", q->path, (long)pid, q->code);
    if (len > 0 && buf[len - 1] != '\n')
        return fail(cls, CTD_EIO, EPIPE, err, errlen, "conntrackd: %s: reply to request "
                    "%d cut short (%zu bytes, no final newline): the daemon closed "
                    "mid-reply", q->path, q->code, len);
    if (len == 0 && (q->code == CTD_STATS || q->code == CTD_STATS_CACHE ||
                     q->code == CTD_STATS_RUNTIME))
        return fail(cls, CTD_EIO, EPIPE, err, errlen, "conntrackd: %s: closed without "
                    "answering request %d (conntrackd always answers it)", q->path, q->code);
    return 0;
}

int netops_ctd_request(const char *path, int code, double timeout, size_t max_reply,
                struct netops_ctd_reply *reply, const char **cls,
                char *err, size_t errlen)
{
    double start = netops_clock_now();
    struct rq q = { path, code, timeout, start + timeout, max_reply };
    char *buf = NULL;
    size_t len = 0;
    pid_t pid;
    int fd = -1, rc;

    memset(reply, 0, sizeof *reply);
    rc = open_conn(path, timeout, q.deadline, &fd, cls, err, errlen);
    if (rc != 0)
        return rc;
    pid = peer_pid(fd);
    rc = send_code(fd, path, code, cls, err, errlen);
    if (rc == 0)
        rc = read_reply(fd, &q, &buf, &len, cls, err, errlen);
    if (rc == 0)
        rc = check_reply(&q, buf, len, pid, cls, err, errlen);
    close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    reply->text = buf;
    reply->len = len;
    reply->elapsed = netops_clock_now() - start;
    return 0;
}
