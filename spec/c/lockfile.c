/* spec/c/lockfile.c - TAP tests of csrc/lockfile.c: the failover lock file
 * is created 0600 whatever the umask, its lock waits no longer than asked
 * and its write replaces the whole text. */
#include "clock.h"
#include "lockfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

int main(void)
{
    char dir[] = "/tmp/netops-lockfile-XXXXXX", path[64], buf[64];
    if (!mkdtemp(dir)) {
        printf("not ok 1 - mkdtemp\n1..1\n");
        return 1;
    }
    snprintf(path, sizeof path, "%s/lock", dir);
    umask(0);
    int a = -1, b = -1;
    struct stat st;
    ok(netops_lockfile_open(path, &a) == 0 && fstat(a, &st) == 0 && (st.st_mode & 07777) == 0600,
       "a missing lock file is created 0600 with umask 0");
    ok(netops_lockfile_open(path, &b) == 0 && b != a, "an existing one is opened");
    ok(netops_lockfile_lock(a, 1) == 0, "the first holder locks at once");
    double t0 = netops_clock_now();
    int e = netops_lockfile_lock(b, 0.05);
    double waited = netops_clock_now() - t0;
    ok(e == ETIMEDOUT && waited >= 0.05, "a second holder waits its timeout, then ETIMEDOUT");
    const char *op = NULL;
    ok(netops_lockfile_write(a, "next 10\nserving 9\n", 18, &op) == 0 &&
       netops_lockfile_write(a, "next 2\n", 7, &op) == 0, "write twice");
    ssize_t r = pread(b, buf, sizeof buf, 0);
    ok(r == 7 && memcmp(buf, "next 2\n", 7) == 0, "the second write replaced the whole text");
    close(a);           /* releases the lock */
    ok(netops_lockfile_lock(b, 1) == 0, "the lock is free once its holder closes");
    close(b);
    int c = -1;
    ok(netops_lockfile_open(dir, &c) != 0 && c == -1, "a directory is refused with an errno");
    snprintf(buf, sizeof buf, "%s/link", dir);
    ok(symlink(path, buf) == 0 && netops_lockfile_open(buf, &c) == ELOOP, "a symlink is not followed");
    unlink(buf);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
