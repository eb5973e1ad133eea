/* spec/c/trust.c - TAP tests of csrc/trust.c (which policy and lock files
 * netops trusts) and of netops_proc_starttime. */
#include "proc.h"
#include "trust.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static struct stat st_of(mode_t type, mode_t perm, uid_t uid)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_mode = type | perm;
    st.st_uid = uid;
    return st;
}

static int says(const char *why, const char *word)
{
    return why && strstr(why, word) != NULL;
}

static void test_rules(void)
{
    struct stat st = st_of(S_IFREG, 0644, 0);
    ok(netops_trust_file_why(&st, 1000) == NULL, "root's 0644 policy is trusted");
    st = st_of(S_IFREG, 0600, 1000);
    ok(netops_trust_file_why(&st, 1000) == NULL, "the caller's own 0600 policy is trusted");
    st = st_of(S_IFREG, 0644, 65534);
    ok(says(netops_trust_file_why(&st, 0), "owned by another user"), "another user's 0644 policy is refused");
    st = st_of(S_IFREG, 0664, 0);
    ok(says(netops_trust_file_why(&st, 0), "writable by its group"), "a group-writable policy is refused");
    st = st_of(S_IFREG, 0646, 0);
    ok(says(netops_trust_file_why(&st, 0), "writable by others"), "an other-writable policy is refused");
    st = st_of(S_IFIFO, 0600, 0);
    ok(says(netops_trust_file_why(&st, 0), "not a regular file"), "a FIFO is refused");

    st = st_of(S_IFDIR, 01777, 0);
    ok(netops_trust_dir_why(&st, 0) == NULL, "a sticky root-owned 1777 directory is trusted");
    st = st_of(S_IFDIR, 0777, 0);
    ok(says(netops_trust_dir_why(&st, 0), "writable by others and not sticky"), "a 0777 directory is refused");
    st = st_of(S_IFDIR, 0775, 0);
    ok(says(netops_trust_dir_why(&st, 0), "writable by its group"), "a 0775 directory is refused");
    st = st_of(S_IFDIR, 0755, 65534);
    ok(says(netops_trust_dir_why(&st, 0), "owned by another user"), "another user's directory is refused");

    st = st_of(S_IFREG, 0600, 1000);
    ok(netops_trust_lock_why(&st, 1000) == NULL, "the caller's 0600 lock is trusted");
    st = st_of(S_IFREG, 0600, 0);
    ok(says(netops_trust_lock_why(&st, 1000), "owned by another user"), "root's lock is refused for uid 1000");
    st = st_of(S_IFREG, 0644, 1000);
    ok(says(netops_trust_lock_why(&st, 1000), "not 0600"), "a 0644 lock is refused");
}

static void test_open(void)
{
    char dir[] = "/tmp/netops-trust.XXXXXX", sub[64], file[96];
    struct netops_trust_refusal r;
    int fd;

    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    snprintf(sub, sizeof sub, "%s/open", dir);
    snprintf(file, sizeof file, "%s/p.lua", sub);
    mkdir(sub, 0755);
    chmod(sub, 0777);
    FILE *f = fopen(file, "w");
    fputs("return {}\n", f);
    fclose(f);
    chmod(file, 0644);
    int e = netops_trust_open(file, geteuid(), &fd, &r);
    ok(e == EACCES && fd == -1 && r.why && r.is_dir && strcmp(r.what, sub) == 0 && r.mode == 0777,
       "open refuses a file below a 0777 directory, naming the directory");
    chmod(sub, 01777);
    e = netops_trust_open(file, geteuid(), &fd, &r);
    ok(e == 0 && fd >= 0, "open accepts it once the directory is sticky");
    if (fd >= 0)
        close(fd);
    e = netops_trust_open("/nonexistent/netops/p.lua", geteuid(), &fd, &r);
    ok(e == ENOENT && r.why == NULL && fd == -1, "a missing file is an errno, not a refusal");
    unlink(file);
    rmdir(sub);
    rmdir(dir);
}

static void test_starttime(void)
{
    unsigned long long a = 0, b = 0;
    ok(netops_proc_starttime(getpid(), &a) == 0 && a > 0, "netops_proc_starttime of this process");
    ok(netops_proc_starttime(getpid(), &b) == 0 && a == b, "it does not change");
    ok(netops_proc_starttime(0x7ffffff0, &a) == ESRCH, "a missing pid is ESRCH");
}

int main(void)
{
    test_rules();
    test_open();
    test_starttime();
    return tap_done();
}
