/* C-level TAP test of spawn.c and probe.c without Lua (also run under valgrind). */
#include "probe.h"
#include "spawn.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static int n, failed;

static void ok(int cond, const char *what)
{
    n++;
    if (!cond)
        failed++;
    printf("%sok %d - %s\n", cond ? "" : "not ", n, what);
}

int main(void)
{
    struct spawn_proc p;
    struct spawn_opts o;
    char err[256];

    memset(&o, 0, sizeof o);
    char *a1[] = { "sh", "-c", "printf abc >&2; exit 3", NULL };
    o.argv = a1;
    o.err = SPAWN_CAPTURE;
    ok(spawn_start(&p, &o, err, sizeof err) == 0, "spawn sh");
    ok(spawn_wait(&p, -1) == 1, "wait returns 1 when it ended");
    ok(p.status == SPAWN_EXITED && p.code == 3, "exit code 3");
    char tail[SPAWN_TAIL];
    size_t len = spawn_tail(&p, tail);
    ok(len == 3 && memcmp(tail, "abc", 3) == 0, "stderr tail kept");
    spawn_release(&p);

    char *a2[] = { "/nonexistent/netops-x", NULL };
    o.argv = a2;
    o.err = SPAWN_INHERIT;
    ok(spawn_start(&p, &o, err, sizeof err) == 2 && strstr(err, "netops-x"), "missing program: ENOENT, named");

    char *a3[] = { "sleep", "10", NULL };
    o.argv = a3;
    ok(spawn_start(&p, &o, err, sizeof err) == 0, "spawn sleep");
    ok(spawn_wait(&p, 0.05) == 0 && p.status == SPAWN_RUNNING, "wait times out while it runs");
    ok(spawn_kill(&p, SIGKILL) == 0, "kill");
    ok(spawn_wait(&p, -1) == 1 && p.status == SPAWN_SIGNALED && p.sig == SIGKILL, "signaled by SIGKILL");
    ok(spawn_kill(&p, SIGKILL) != 0, "kill after the end fails");
    spawn_release(&p);

    /* a long tail keeps the last SPAWN_TAIL bytes */
    char *a4[] = { "sh", "-c", "head -c 10000 /dev/zero | tr '\\0' x >&2; printf END >&2", NULL };
    o.argv = a4;
    o.err = SPAWN_CAPTURE;
    spawn_start(&p, &o, err, sizeof err);
    spawn_wait(&p, -1);
    len = spawn_tail(&p, tail);
    ok(len == SPAWN_TAIL && memcmp(tail + SPAWN_TAIL - 3, "END", 3) == 0 && tail[0] == 'x', "tail is the last 4 KiB");
    spawn_release(&p);

    struct probe_opts po = { .timeout = 2, .family = AF_UNSPEC, .banner = NULL, .stagger = 0.25, .sigfd = -1 };
    struct probe_result pr;
    ok(probe_run("127.0.0.1", "1", &po, &pr) < 0 && strcmp(pr.cls, "refused") == 0, "probe a closed port: refused");
    /* names (getaddrinfo_a) are tested from Lua: glibc's resolver thread
       keeps state valgrind calls lost */
    ok(strcmp(probe_errno_class(110), "timeout") == 0, "ETIMEDOUT is a timeout");
    ok(spawn_sleep(0.01) == 0, "sleep the full time");

    printf("1..%d\n", n);
    return failed != 0;
}
