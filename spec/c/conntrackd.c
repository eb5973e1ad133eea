/* TAP tests for the conntrackd control client (csrc/conntrackd.c), no daemon
 * needed: a forked child plays conntrackd on a UNIX socket in a temp dir. */
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
#include <unistd.h>

static int n;
static int failed;

static void ok(int cond, const char *what)
{
    n++;
    if (!cond)
        failed++;
    printf("%sok %d - %s\n", cond ? "" : "not ", n, what);
}

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

/* Child: listen at path; for each of `conns` connections read the int and
 * reply "code=N\n" (or, when silent, hold the connection for 3 s). */
static pid_t fake(const char *path, int conns, int silent)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 4) < 0) {
        perror("fake");
        exit(2);
    }
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        for (int i = 0; i < conns; i++) {
            int c = accept(s, NULL, NULL), code = -1;
            char buf[64];
            if (c < 0)
                _exit(3);
            if (read(c, &code, sizeof code) != sizeof code)
                _exit(4);
            if (silent) {
                sleep(3);
            } else {
                int len = snprintf(buf, sizeof buf, "code=%d\n", code);
                if (write(c, buf, (size_t)len) != len)
                    _exit(5);
            }
            close(c);
        }
        _exit(0);
    }
    close(s);
    return pid;
}

int main(void)
{
    char dir[] = "/tmp/netops-ctest.XXXXXX", path[64], err[512];
    struct ctd_reply r;
    const char *cls = NULL;
    int fds;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/ctl", dir);
    fds = count_fds();

    errno = 0;
    ok(ctd_request(path, 18, 1, &r, &cls, err, sizeof err) == -1, "missing socket fails");
    ok(errno == ENOENT && strcmp(cls, CTD_ENOSOCKET) == 0, "class nosocket, errno ENOENT");
    ok(strstr(err, path) && strstr(err, "no such socket") &&
       (strstr(err, "no conntrackd process runs") || strstr(err, "conntrackd runs (pid") ||
        strstr(err, "conntrackd processes run")), "message names the path and whether conntrackd runs");

    pid_t pid = fake(path, 2, 0);
    ok(ctd_request(path, 21, 2, &r, &cls, err, sizeof err) == 0, "request answered");
    ok(r.text && strcmp(r.text, "code=21\n") == 0 && r.len == 8, "reply text until EOF, code sent natively");
    free(r.text);
    ok(ctd_request(path, 46, 2, &r, &cls, err, sizeof err) == 0 && strcmp(r.text, "code=46\n") == 0,
       "second request on a new connection");
    free(r.text);
    waitpid(pid, NULL, 0);

    ok(ctd_request(path, 18, 1, &r, &cls, err, sizeof err) == -1 && strcmp(cls, CTD_EREFUSED) == 0,
       "stale socket: refused");
    unlink(path);

    pid = fake(path, 1, 1);
    ok(ctd_request(path, 18, 0.3, &r, &cls, err, sizeof err) == -1 && strcmp(cls, CTD_ETIMEOUT) == 0 &&
       errno == ETIMEDOUT, "silent daemon: timeout");
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
        ok(ctd_request(path, 18, 0.3, &r, &cls, err, sizeof err) == -1 &&
           strcmp(cls, CTD_ETIMEOUT) == 0, "full backlog: timeout, not a hang");
        for (int i = 0; i < nf; i++)
            close(filler[i]);
        close(s);
        unlink(path);
    }

    char longp[200];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    ok(ctd_request(longp, 18, 1, &r, &cls, err, sizeof err) == -1 && errno == ENAMETOOLONG,
       "over-long path refused");

    ok(count_fds() == fds, "no descriptor leaked");
    rmdir(dir);
    printf("1..%d\n", n);
    return failed ? 1 : 0;
}
