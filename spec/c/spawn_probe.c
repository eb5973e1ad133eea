/* C-level TAP test of spawn.c and probe.c without Lua (also run under valgrind). */
#include "probe.h"
#include "spawn.h"
#include "clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

/*
 * poll(2) as spawn.c and probe.c call it (this definition wins over libc's
 * in this program).  When spy_on is set, the next call records its timeout
 * and then makes the wait end at once: a fake SIGTERM record into spy_wfd
 * (a probe's "signal fd").
 */
static int spy_on, spy_ms = INT_MIN, spy_wfd = -1;

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    if (spy_on) {
        spy_on = 0;
        spy_ms = timeout;
        struct signalfd_siginfo si;
        memset(&si, 0, sizeof si);
        si.ssi_signo = SIGTERM;
        (void)!write(spy_wfd, &si, sizeof si);
    }
    struct timespec ts, *tp = NULL;
    if (timeout >= 0) {
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
        tp = &ts;
    }
    return ppoll(fds, nfds, tp, NULL);
}

/*
 * A teed child floods stderr while our own stderr (a pipe nobody reads) is
 * full: wait(1) must still return at its timeout, and the child's timeout
 * must still end it (SIGTERM, ignored here, then SIGKILL after the grace).
 * Before, copying to our stderr blocked the wait for good (alarm ends it).
 */
static void flood_into_stuck_stderr(void)
{
    int ep[2];
    int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (saved < 0 || pipe2(ep, O_CLOEXEC) < 0 || dup2(ep[1], 2) < 0) {
        ok(0, "a pipe for our stderr");
        return;
    }
    struct netops_spawn_proc p;
    struct netops_spawn_opts o;
    char err[256];
    char *argv[] = { "sh", "-c", "trap '' TERM; exec yes flood >&2", NULL };
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.err = SPAWN_TEE;
    o.timeout = 0.3;
    o.grace = 1.5;
    alarm(60);
    int started = netops_spawn_start(&p, &o, err, sizeof err) == 0;
    double t0 = netops_clock_now();
    int ended = -1, ended2 = -1;
    int w = started ? netops_spawn_wait(&p, 1.0, &ended) : -1;
    double waited = netops_clock_now() - t0;
    int w2 = started ? netops_spawn_wait(&p, 30, &ended2) : -1;
    alarm(0);
    dup2(saved, 2);
    close(saved);
    close(ep[0]);
    close(ep[1]);
    ok(w == 0 && ended == 0 && waited >= 1.0, "a stderr flood into our full stderr: wait(1) returns at its timeout");
    ok(w2 == 0 && ended2 == 1 && p.status == SPAWN_SIGNALED && p.sig == SIGKILL && p.timed_out == 2,
       "and the child's timeout ends it: SIGTERM ignored, SIGKILL after the grace");
    char tail[SPAWN_TAIL];
    size_t len = netops_spawn_tail(&p, tail);
    ok(len > 12 && memmem(tail, len, "flood\nflood\n", 12), "the tail holds what it wrote");
    netops_spawn_release(&p);
}

int main(void)
{
    struct netops_spawn_proc p;
    struct netops_spawn_opts o;
    char err[256];
    int ended;

    memset(&o, 0, sizeof o);
    char *a1[] = { "sh", "-c", "printf abc >&2; exit 3", NULL };
    o.argv = a1;
    o.err = SPAWN_CAPTURE;
    ok(netops_spawn_start(&p, &o, err, sizeof err) == 0, "spawn sh");
    ok(netops_spawn_wait(&p, -1, &ended) == 0 && ended == 1, "wait returns 0, ended 1 when it ended");
    ok(p.status == SPAWN_EXITED && p.code == 3, "exit code 3");
    char tail[SPAWN_TAIL];
    size_t len = netops_spawn_tail(&p, tail);
    ok(len == 3 && memcmp(tail, "abc", 3) == 0, "stderr tail kept");
    netops_spawn_release(&p);

    char *a2[] = { "/nonexistent/netops-x", NULL };
    o.argv = a2;
    o.err = SPAWN_INHERIT;
    ok(netops_spawn_start(&p, &o, err, sizeof err) == 2 && strstr(err, "netops-x"), "missing program: ENOENT, named");

    char *a3[] = { "sleep", "10", NULL };
    o.argv = a3;
    ok(netops_spawn_start(&p, &o, err, sizeof err) == 0, "spawn sleep");
    ok(netops_spawn_wait(&p, 0.05, &ended) == 0 && ended == 0 && p.status == SPAWN_RUNNING,
       "wait times out while it runs: ended 0");
    ok(netops_spawn_kill(&p, SIGKILL) == 0, "kill");
    ok(netops_spawn_wait(&p, -1, &ended) == 0 && ended == 1 && p.status == SPAWN_SIGNALED &&
       p.sig == SIGKILL, "signaled by SIGKILL");
    ok(netops_spawn_kill(&p, SIGKILL) != 0, "kill after the end fails");
    netops_spawn_release(&p);

    /* reaped behind its back: ECHILD, and it counts as ended (code -1) */
    char *a6[] = { "true", NULL };
    o.argv = a6;
    if (netops_spawn_start(&p, &o, err, sizeof err) == 0)
        waitpid(p.pid, NULL, 0);
    ok(netops_spawn_wait(&p, -1, &ended) == ECHILD && ended == 1 && p.status == SPAWN_EXITED &&
       p.code == -1, "a child reaped elsewhere: ECHILD, ended, code -1");
    netops_spawn_release(&p);

    /* a long tail keeps the last SPAWN_TAIL bytes */
    char *a4[] = { "sh", "-c", "head -c 10000 /dev/zero | tr '\\0' x >&2; printf END >&2", NULL };
    o.argv = a4;
    o.err = SPAWN_CAPTURE;
    netops_spawn_start(&p, &o, err, sizeof err);
    netops_spawn_wait(&p, -1, &ended);
    len = netops_spawn_tail(&p, tail);
    ok(len == SPAWN_TAIL && memcmp(tail + SPAWN_TAIL - 3, "END", 3) == 0 && tail[0] == 'x', "tail is the last 4 KiB");
    netops_spawn_release(&p);

    /* opts.timeout: SIGTERM once the timeout has passed (by the times spawn
       records, not a wall-clock bound); a child that obeys gets no SIGKILL */
    char *a5[] = { "sleep", "30", NULL };
    o.argv = a5;
    o.err = SPAWN_INHERIT;
    o.timeout = 0.2;
    o.grace = 30;
    ok(netops_spawn_start(&p, &o, err, sizeof err) == 0 && netops_spawn_wait(&p, -1, &ended) == 0 &&
       ended == 1 && p.status == SPAWN_SIGNALED && p.sig == SIGTERM && p.timed_out == 1 &&
       p.term_sent - p.started >= 0.2 && p.ended >= p.term_sent,
       "timeout: SIGTERM sent once the timeout passed, no SIGKILL for a child that obeys");
    netops_spawn_release(&p);
    o.timeout = 0;
    o.grace = 0;

    flood_into_stuck_stderr();

    struct netops_probe_opts po = { .timeout = 2, .family = AF_UNSPEC, .banner = NULL, .stagger = 0.25, .sigfd = -1 };
    struct netops_probe_result pr;
    ok(netops_probe_run("127.0.0.1", "1", &po, &pr) == ECONNREFUSED && strcmp(pr.cls, "refused") == 0,
       "probe a closed port: ECONNREFUSED, class refused");
    /* names (getaddrinfo_a) are tested from Lua: glibc's resolver thread
       keeps state valgrind calls lost */
    ok(strcmp(netops_probe_errno_class(110), "timeout") == 0, "ETIMEDOUT is a timeout");

    /* Long timeouts (luax_checkseconds allows up to 1e9 s) must not overflow
     * the int of poll(2): a negative timeout made the probe spin on poll(0).
     * (The sleep's own test is spec/c/clock.c.) */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t slen = sizeof sin;
    int sp[2];
    if (lfd >= 0 && bind(lfd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(lfd, 4) == 0 &&
        getsockname(lfd, (struct sockaddr *)&sin, &slen) == 0 && pipe2(sp, O_CLOEXEC | O_NONBLOCK) == 0) {
        char port[16];
        snprintf(port, sizeof port, "%d", ntohs(sin.sin_port));
        struct netops_probe_opts lo = { .timeout = 1e7, .family = AF_INET, .banner = "SSH-", .stagger = 0.25,
                                 .sigfd = sp[0] };
        spy_wfd = sp[1];
        spy_on = 1;
        ok(netops_probe_run("127.0.0.1", port, &lo, &pr) == EINTR && strcmp(pr.cls, "interrupted") == 0 && spy_ms > 0,
           "probe with timeout 1e7 waits with a positive poll timeout");
        spy_wfd = -1;
        close(sp[0]);
        close(sp[1]);
    } else {
        ok(0, "listener and pipe for the long-timeout probe");
    }
    if (lfd >= 0)
        close(lfd);

    return tap_done();
}
