/* TAP tests for the conntrackd control client (csrc/conntrackd.c), no daemon
 * needed: a forked child plays conntrackd on a UNIX socket in a temp dir.
 * `conntrackd SOCKET N` instead checks the client against the real conntrackd
 * at SOCKET whose internal cache holds N TCP sessions (the busted spec runs
 * it against the lab's daemon). */
#include "conntrackd.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int c = 0;
    while (d && readdir(d))
        c++;
    if (d)
        closedir(d);
    return c;
}

/* What a fake daemon does with each connection. */
enum mode {
    ECHO,      /* read the int, reply "code=N\n", close */
    SILENT,    /* read the int, hold the connection for 3 s */
    RESET,     /* wait until the request is there, close without reading it */
    CUT,       /* read the int, write half a line, close */
    EMPTY,     /* read the int, close without a word */
    FLOOD,     /* read the int, write as fast as the socket takes it, forever */
    TRICKLE,   /* read the int, write one byte every 2 ms, forever */
};

static void serve(int c, enum mode m)
{
    static char block[65536];
    int code = -1;

    if (m == RESET) {
        struct timespec ts = { 0, 200 * 1000 * 1000 };
        nanosleep(&ts, NULL);         /* the client has sent its int by now */
        return;
    }
    if (read(c, &code, sizeof code) != sizeof code)
        _exit(4);
    if (m == ECHO) {
        char buf[64];
        int len = snprintf(buf, sizeof buf, "code=%d\n", code);
        if (write(c, buf, (size_t)len) != len)
            _exit(5);
    } else if (m == SILENT) {
        sleep(3);
    } else if (m == CUT) {
        if (write(c, "tcp 6 src=192.0", 15) != 15)
            _exit(5);
    } else if (m == FLOOD) {
        memset(block, 'x', sizeof block);
        while (send(c, block, sizeof block, MSG_NOSIGNAL) > 0)
            ;
    } else if (m == TRICKLE) {
        struct timespec ts = { 0, 2 * 1000 * 1000 };
        while (send(c, "x", 1, MSG_NOSIGNAL) == 1)
            nanosleep(&ts, NULL);
    }
}

static int listener(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 4) < 0) {
        perror("fake");
        exit(2);
    }
    return s;
}

/* Child: listen at path (the socket is this process's: the child only serves
 * it) and treat each of `conns` connections as m says. */
static pid_t fake(const char *path, int conns, enum mode m)
{
    int s = listener(path);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        for (int i = 0; i < conns; i++) {
            int c = accept(s, NULL, NULL);
            if (c < 0)
                _exit(3);
            serve(c, m);
            close(c);
        }
        _exit(0);
    }
    close(s);
    return pid;
}

/* A daemon whose own process holds the listener, reads one request and dies
 * without answering (as conntrackd killed in the middle of a commit). */
static pid_t dying(const char *path)
{
    int p[2];
    char b;
    pid_t pid;

    if (pipe(p) < 0)
        exit(2);
    pid = fork();
    if (pid == 0) {
        int s = listener(path), c, code;
        alarm(10);
        if (write(p[1], "r", 1) != 1)
            _exit(2);
        c = accept(s, NULL, NULL);
        if (c < 0 || read(c, &code, sizeof code) != sizeof code)
            _exit(3);
        _exit(0);
    }
    close(p[1]);
    if (read(p[0], &b, 1) != 1)
        exit(2);
    close(p[0]);
    return pid;
}

static void reap(pid_t pid, const char *path)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(path);
}

/* Item by item: what a daemon that does not answer as conntrackd does gets. */
static void hostile(const char *path)
{
    struct netops_ctd_reply r;
    const char *cls = NULL;
    char err[512];
    pid_t pid;

    pid = fake(path, 2, EMPTY);
    ok(netops_ctd_request(path, CTD_ALL_COMMIT, 2, 1 << 20, &r, &cls, err, sizeof err) == 0 &&
       r.len == 0 && r.text && r.text[0] == '\0',
       "empty reply then EOF (commit, flush, resync...): success");
    free(r.text);
    ok(netops_ctd_request(path, CTD_STATS_RUNTIME, 2, 1 << 20, &r, &cls, err, sizeof err) == EPIPE &&
       strcmp(cls, CTD_EIO) == 0 && strstr(err, "closed without answering request 30"),
       "empty reply to a statistics request conntrackd always answers: io");
    reap(pid, path);

    pid = fake(path, 1, RESET);
    ok(netops_ctd_request(path, CTD_ALL_COMMIT, 2, 1 << 20, &r, &cls, err, sizeof err) == ECONNRESET &&
       strcmp(cls, CTD_EIO) == 0,
       "daemon closes without reading the request: io, ECONNRESET (not success)");
    ok(strstr(err, path) && strstr(err, "reset before request 46 was read"), err);
    reap(pid, path);

    pid = dying(path);
    ok(netops_ctd_request(path, CTD_ALL_COMMIT, 2, 1 << 20, &r, &cls, err, sizeof err) == EPIPE &&
       strcmp(cls, CTD_EIO) == 0 && strstr(err, "exited while answering request 46"),
       "daemon that reads the commit and dies: io, not success");
    reap(pid, path);

    pid = fake(path, 1, CUT);
    ok(netops_ctd_request(path, CTD_CT_DUMP_EXTERNAL, 2, 1 << 20, &r, &cls, err, sizeof err) == EPIPE &&
       strcmp(cls, CTD_EIO) == 0 && strstr(err, "cut short (15 bytes"),
       "reply closed mid-line: io");
    reap(pid, path);

    pid = fake(path, 1, FLOOD);
    ok(netops_ctd_request(path, CTD_CT_DUMP_EXTERNAL, 10, 1 << 20, &r, &cls, err, sizeof err) == EMSGSIZE &&
       strcmp(cls, CTD_ETOOLARGE) == 0,
       "flooding daemon: toolarge at the cap");
    ok(strstr(err, path) && strstr(err, "cap of 1048576 bytes"), err);
    reap(pid, path);

    pid = fake(path, 1, TRICKLE);
    ok(netops_ctd_request(path, CTD_CT_DUMP_EXTERNAL, 0.3, 1 << 20, &r, &cls, err, sizeof err) == ETIMEDOUT &&
       strcmp(cls, CTD_ETIMEOUT) == 0,
       "daemon trickling a byte every 2 ms: timeout");
    ok(strstr(err, "timeout after 0.3s") != NULL, err);
    reap(pid, path);
}

/* Against a real conntrackd at path with `want` entries in its internal cache. */
static int real(const char *path, long want)
{
    struct netops_ctd_reply r;
    const char *cls = NULL, *p;
    char err[512];
    long count = -1, lines = 0, good = 0;
    int fds = count_fds();

    ok(netops_ctd_request(path, CTD_ALL_COMMIT, 10, 1 << 20, &r, &cls, err, sizeof err) == 0 &&
       r.len == 0 && r.text && r.text[0] == '\0' && r.elapsed >= 0 && r.elapsed <= 10,
       "commit: an empty reply then EOF is success");
    free(r.text);
    ok(netops_ctd_request(path, CTD_STATS, 10, 1 << 20, &r, &cls, err, sizeof err) == 0 &&
       r.len == strlen(r.text) && r.len > 0 && r.text[r.len - 1] == '\n' &&
       sscanf(r.text, "cache internal:\ncurrent active connections:%ld", &count) == 1 &&
       count == want, "stats: the whole text, the internal cache's count first");
    if (count != want)
        printf("# %s\n", cls ? err : r.text);
    free(r.text);
    ok(netops_ctd_request(path, CTD_CT_DUMP_INTERNAL, 10, 1 << 20, &r, &cls, err, sizeof err) == 0,
       "internal dump answered");
    for (p = r.text; p && *p; p = strchr(p, '\n') + 1) {
        lines++;
        good += strncmp(p, "tcp      6 ESTABLISHED src=", 27) == 0;
        if (!strchr(p, '\n'))
            break;
    }
    ok(lines == want && good == want, "internal dump: one line per entry");
    free(r.text);
    ok(count_fds() == fds, "no descriptor leaked");
    return tap_done();
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/netops-ctest.XXXXXX", path[64], err[512];
    struct netops_ctd_reply r;
    const char *cls = NULL;
    int fds;

    if (argc == 3)
        return real(argv[1], strtol(argv[2], NULL, 10));
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/ctl", dir);
    fds = count_fds();

    int e = netops_ctd_request(path, 18, 1, 1 << 20, &r, &cls, err, sizeof err);
    ok(e != 0, "missing socket fails");
    ok(e == ENOENT && strcmp(cls, CTD_ENOSOCKET) == 0, "class nosocket, errno ENOENT");
    ok(strstr(err, path) && strstr(err, "no such socket") &&
       (strstr(err, "no conntrackd process runs") || strstr(err, "conntrackd runs (pid") ||
        strstr(err, "conntrackd processes run")), "message names the path and whether conntrackd runs");

    pid_t pid = fake(path, 2, ECHO);
    ok(netops_ctd_request(path, 21, 2, 1 << 20, &r, &cls, err, sizeof err) == 0, "request answered");
    ok(r.text && strcmp(r.text, "code=21\n") == 0 && r.len == 8, "reply text until EOF, code sent natively");
    free(r.text);
    ok(netops_ctd_request(path, 46, 2, 1 << 20, &r, &cls, err, sizeof err) == 0 && strcmp(r.text, "code=46\n") == 0,
       "second request on a new connection");
    free(r.text);
    waitpid(pid, NULL, 0);

    ok(netops_ctd_request(path, 18, 1, 1 << 20, &r, &cls, err, sizeof err) == ECONNREFUSED &&
       strcmp(cls, CTD_EREFUSED) == 0,
       "stale socket: refused");
    unlink(path);

    pid = fake(path, 1, SILENT);
    ok(netops_ctd_request(path, 18, 0.3, 1 << 20, &r, &cls, err, sizeof err) == ETIMEDOUT &&
       strcmp(cls, CTD_ETIMEOUT) == 0, "silent daemon: timeout");
    ok(strstr(err, "timeout after 0.3s") != NULL, "timeout message says how long");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(path);

    /* a daemon that never accepts: fill its backlog, then the client must
     * give up at the deadline instead of hanging in connect() */
    {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), filler[8], nf = 0;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 0) < 0)
            perror("listen");
        for (int i = 0; i < 8; i++) {
            int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (connect(c, (struct sockaddr *)&sa, sizeof sa) < 0) {
                close(c);
                break;
            }
            filler[nf++] = c;
        }
        ok(netops_ctd_request(path, 18, 0.3, 1 << 20, &r, &cls, err, sizeof err) == ETIMEDOUT &&
           strcmp(cls, CTD_ETIMEOUT) == 0, "full backlog: timeout, not a hang");
        for (int i = 0; i < nf; i++)
            close(filler[i]);
        close(s);
        unlink(path);
    }

    hostile(path);

    char longp[200];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    ok(netops_ctd_request(longp, 18, 1, 1 << 20, &r, &cls, err, sizeof err) == ENAMETOOLONG,
       "over-long path refused");

    ok(count_fds() == fds, "no descriptor leaked");
    rmdir(dir);
    return tap_done();
}
