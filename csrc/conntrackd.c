/* conntrackd.c - conntrackd control-socket client; see conntrackd.h. */
#include "conntrackd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds left until deadline, for poll(); never negative. */
static int ms_left(double deadline)
{
    double left = deadline - now();
    if (left <= 0)
        return 0;
    if (left > 2e6)
        return 2000000000;
    return (int)(left * 1000.0) + 1;
}

int ctd_find_daemons(pid_t *pids, int max)
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
    int n = ctd_find_daemons(pids, 4);

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

static int fail(const char **cls, const char *c, char *err, size_t errlen,
                int e, const char *fmt, const char *path, const char *extra)
{
    *cls = c;
    snprintf(err, errlen, fmt, path, extra);
    errno = e;
    return -1;
}

int ctd_request(const char *path, int code, double timeout,
                struct ctd_reply *reply, const char **cls,
                char *err, size_t errlen)
{
    struct sockaddr_un sa;
    double start = now(), deadline = start + timeout;
    char hint[200];
    int fd, e;
    size_t cap = 4096, len = 0;
    char *buf;

    memset(reply, 0, sizeof *reply);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return fail(cls, CTD_EIO, err, errlen, ENAMETOOLONG,
                    "conntrackd: %s: socket path too long%s", path, "");
    memcpy(sa.sun_path, path, strlen(path) + 1);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        e = errno;
        return fail(cls, CTD_EIO, err, errlen, e, "conntrackd: %s: socket: %s",
                    path, strerror(e));
    }
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            break;
        e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN) {
            /* AF_UNIX: the listen backlog is full; retry until the deadline */
            struct timespec ts = { 0, 5 * 1000 * 1000 };
            if (now() >= deadline) {
                close(fd);
                snprintf(err, errlen, "conntrackd: %s: timeout after %gs connecting "
                         "(daemon busy or hung: its listen backlog is full)", path, timeout);
                *cls = CTD_ETIMEOUT;
                errno = ETIMEDOUT;
                return -1;
            }
            nanosleep(&ts, NULL);
            continue;
        }
        if (e == EINPROGRESS) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            socklen_t sl = sizeof e;
            int r;
            do
                r = poll(&p, 1, ms_left(deadline));
            while (r < 0 && errno == EINTR);
            e = ETIMEDOUT;
            if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
                e = errno;
            if (e == 0)
                break;
            if (e == ETIMEDOUT) {
                close(fd);
                snprintf(err, errlen, "conntrackd: %s: timeout after %gs connecting", path, timeout);
                *cls = CTD_ETIMEOUT;
                errno = ETIMEDOUT;
                return -1;
            }
        }
        {
            struct stat st;
            close(fd);
            switch (e) {
            case ENOENT:
                daemon_hint(hint, sizeof hint);
                return fail(cls, CTD_ENOSOCKET, err, errlen, e,
                            "conntrackd: %s: no such socket (%s)", path, hint);
            case ECONNREFUSED:
                daemon_hint(hint, sizeof hint);
                return fail(cls, CTD_EREFUSED, err, errlen, e,
                            "conntrackd: %s: connection refused, stale socket (%s)",
                            path, hint);
            case EACCES:
            case EPERM:
                return fail(cls, CTD_EDENIED, err, errlen, e,
                            "conntrackd: %s: permission denied (the socket is "
                            "root-only: run as root%s)", path, "");
            default:
                if (e == ENOTSOCK || (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode)))
                    return fail(cls, CTD_EIO, err, errlen, e,
                                "conntrackd: %s: not a socket%s", path, "");
                snprintf(err, errlen, "conntrackd: %s: connect: %s", path, strerror(e));
                *cls = CTD_EIO;
                errno = e;
                return -1;
            }
        }
    }

    for (;;) {
        ssize_t w = send(fd, &code, sizeof code, MSG_NOSIGNAL);
        if (w == (ssize_t)sizeof code)
            break;
        if (w < 0 && errno == EINTR)
            continue;
        e = w < 0 ? errno : EIO;
        close(fd);
        snprintf(err, errlen, "conntrackd: %s: sending request %d: %s", path, code,
                 strerror(e));
        *cls = CTD_EIO;
        errno = e;
        return -1;
    }

    buf = malloc(cap);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "conntrackd: %s: out of memory", path);
        *cls = CTD_EIO;
        errno = ENOMEM;
        return -1;
    }
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t r;
        int pr;

        if (cap - len < 2048) {
            char *nb = cap > ((size_t)-1) / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                snprintf(err, errlen, "conntrackd: %s: out of memory", path);
                *cls = CTD_EIO;
                errno = ENOMEM;
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        r = recv(fd, buf + len, cap - len - 1, 0);
        if (r > 0) {
            len += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            e = errno;
            if (e == ECONNRESET)
                break;        /* conntrackd closed without reading all: still EOF */
            free(buf);
            close(fd);
            snprintf(err, errlen, "conntrackd: %s: reading reply to request %d: %s",
                     path, code, strerror(e));
            *cls = CTD_EIO;
            errno = e;
            return -1;
        }
        pr = ms_left(deadline) > 0 ? poll(&p, 1, ms_left(deadline)) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            free(buf);
            close(fd);
            snprintf(err, errlen, "conntrackd: %s: timeout after %gs waiting for the "
                     "reply to request %d (%zu bytes read; daemon busy or hung)",
                     path, timeout, code, len);
            *cls = CTD_ETIMEOUT;
            errno = ETIMEDOUT;
            return -1;
        }
    }
    close(fd);
    buf[len] = '\0';
    reply->text = buf;
    reply->len = len;
    reply->elapsed = now() - start;
    return 0;
}
