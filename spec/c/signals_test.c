/* signals_test.c - C-level TAP tests of csrc/signals.c and csrc/proc.c. */
#include "proc.h"
#include "signals.h"

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int count, failed;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ok(int cond, const char *fmt, ...)
{
    va_list ap;
    count++;
    printf("%sok %d - ", cond ? "" : "not ", count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond)
        failed++;
}

/* A test that cannot run here: counted, reported as skipped with the reason. */
static void skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void skip(const char *fmt, ...)
{
    va_list ap;
    count++;
    printf("ok %d # SKIP ", count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static int num(const char *s)
{
    return netops_sig_number(s, strlen(s));
}

static void test_names(void)
{
    char buf[SIG_NAME_MAX], lower[SIG_NAME_MAX];
    int all = 1;

    ok(netops_sig_rtmin() == SIGRTMIN && netops_sig_rtmax() == SIGRTMAX, "run-time range %d..%d", netops_sig_rtmin(), netops_sig_rtmax());
    for (int n = 1; n <= netops_sig_max(); n++) {
        size_t i;
        if (!netops_sig_name(n, buf) || num(buf) != n || num(buf + 3) != n) {
            all = 0;
            printf("# round trip failed for %d (%s)\n", n, buf);
        }
        for (i = 0; buf[i]; i++)
            lower[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 32 : buf[i]);
        lower[i] = '\0';
        if (num(lower) != n)
            all = 0;
        snprintf(buf, sizeof buf, "%d", n);
        if (num(buf) != n)
            all = 0;
    }
    ok(all, "every signal 1..%d round-trips through its name, bare, lower case and digits", netops_sig_max());
    ok(!netops_sig_name(0, buf) && !netops_sig_name(netops_sig_max() + 1, buf) && !netops_sig_name(-5, buf), "no name outside 1..MAX");
    ok(strcmp(netops_sig_name(SIGTERM, buf), "SIGTERM") == 0, "SIGTERM");
    ok(strcmp(netops_sig_name(SIGRTMIN, buf), "SIGRTMIN") == 0, "SIGRTMIN");
    ok(strcmp(netops_sig_name(SIGRTMIN + 1, buf), "SIGRTMIN+1") == 0, "SIGRTMIN+1");
    ok(strcmp(netops_sig_name(SIGRTMAX - 1, buf), "SIGRTMAX-1") == 0, "SIGRTMAX-1");
    ok(strcmp(netops_sig_name(SIGRTMAX, buf), "SIGRTMAX") == 0, "SIGRTMAX");
    if (SIGRTMIN > 33) {
        ok(strcmp(netops_sig_name(32, buf), "SIGCANCEL") == 0, "32 is SIGCANCEL");
        ok(strcmp(netops_sig_name(33, buf), "SIGSETXID") == 0, "33 is SIGSETXID");
    } else {
        skip("32 is SIGCANCEL: SIGRTMIN is %d, no 32 and 33 reserved below it", SIGRTMIN);
        skip("33 is SIGSETXID: SIGRTMIN is %d, no 32 and 33 reserved below it", SIGRTMIN);
    }
    ok(num("IOT") == SIGABRT && num("POLL") == SIGIO && num("SIGCLD") == SIGCHLD, "aliases");
    ok(num("RTMIN+2") == SIGRTMIN + 2 && num("SIGRTMAX-1") == SIGRTMAX - 1, "RTMIN+n, RTMAX-n");
    ok(netops_sig_number("TERMINAL", 4) == SIGTERM, "length bounds the name");
    ok(!num("") && !num("SIG") && !num("xyz") && !num("0") && !num("65") && !num("RTMIN+31")
       && !num("RTMAX-31") && !num("RTMIN-1") && !num("RTMAX+1") && !num("SIGRT34")
       && !num("15x") && !num("99999999999") && !num("RTMIN+99999999999"),
       "nonsense names give 0");
    ok(!netops_sig_number("TE\0M", 4), "an embedded NUL is no name");
}

static void test_masks(void)
{
    int out[4096];
    char hex[SIG_MASK_MAX_DIGITS + 1];
    size_t n;
    int sigs[] = { 15, 2, 12, 10, 2 };

    ok(netops_sig_mask_decode("0000000000004a02", 16, out, 64, &n) == 0 && n == 4 && out[0] == 2 &&
       out[1] == 10 && out[2] == 12 && out[3] == 15, "decode 4a02");
    ok(netops_sig_mask_decode("0x4A02", 6, out, 64, &n) == 0 && n == 4 && out[3] == 15, "decode 0x4A02");
    ok(netops_sig_mask_decode("80000000000000000000000000000001", 32, out, 128, &n) == 0 && n == 2 &&
       out[0] == 1 && out[1] == 128, "decode a 32-digit (MIPS) mask");
    ok(netops_sig_mask_decode("ffff", 4, out, 15, &n) == ENOSPC, "decode refuses a too small output: ENOSPC");
    ok(netops_sig_mask_decode("", 0, out, 4, &n) == EINVAL && netops_sig_mask_decode("0x", 2, out, 4, &n) == EINVAL
       && netops_sig_mask_decode("xyz", 3, out, 12, &n) == EINVAL
       && netops_sig_mask_decode("1 2", 3, out, 12, &n) == EINVAL,
       "decode refuses non-masks: EINVAL");
    memset(hex, 'f', sizeof hex);
    ok(netops_sig_mask_decode(hex, SIG_MASK_MAX_DIGITS + 1, out, 8192, &n) == EINVAL,
       "decode refuses over-long masks");
    ok(netops_sig_mask_decode(hex, SIG_MASK_MAX_DIGITS, out, 4096, &n) == 0 && n == 4096,
       "decode the longest mask");

    ok(netops_sig_mask_encode(sigs, 5, hex, sizeof hex) == 16 && strcmp(hex, "0000000000004a02") == 0,
       "encode {15,2,12,10,2}");
    sigs[0] = 65;
    ok(netops_sig_mask_encode(sigs, 1, hex, sizeof hex) == 17 && strcmp(hex, "10000000000000000") == 0,
       "encode widens for 65");
    ok(netops_sig_mask_encode(sigs, 1, hex, 17) == 0, "encode refuses a too small buffer");
    sigs[0] = 0;
    ok(netops_sig_mask_encode(sigs, 1, hex, sizeof hex) == 0, "encode refuses 0");
    ok(netops_sig_mask_encode(NULL, 0, hex, sizeof hex) == 16 && strcmp(hex, "0000000000000000") == 0,
       "encode the empty set");

    int all = 1;
    for (int s = 1; s <= 4 * SIG_MASK_MAX_DIGITS; s++) {
        size_t d = netops_sig_mask_encode(&s, 1, hex, sizeof hex);
        if (netops_sig_mask_decode(hex, d, out, 4096, &n) != 0 || n != 1 || out[0] != s)
            all = 0;
    }
    ok(all, "encode/decode round-trip every single signal 1..%d", 4 * SIG_MASK_MAX_DIGITS);
}

static const char STATUS[] =
    "Name:\tmy\\\\od\\nd\n"
    "Umask:\t0022\n"
    "State:\tT (stopped)\n"
    "Tgid:\t4242\n"
    "Pid:\t4243\n"
    "PPid:\t1\n"
    "Uid:\t1000\t1000\t1000\t1000\n"
    "Kthread:\t0\n"
    "Threads:\t3\n"
    "SigQ:\t0/1000\n"
    "SigPnd:\t00000000000000000000000000000002\n"
    "ShdPnd:\t00000000000000000000000000000000\n"
    "SigBlk:\t80000000000000000000000000000000\n"
    "SigIgn:\t00000000000000000000000000001000\n"
    "SigCgt:\t0000000000000000000000000000000a\n"
    "CapInh:\tzzzz\n";

static void test_parse(void)
{
    char text[sizeof STATUS];
    struct netops_proc_status st;
    int out[256];

    memcpy(text, STATUS, sizeof STATUS);
    ok(netops_proc_parse_status(text, sizeof STATUS - 1, &st) == 0, "parse a 32-digit status");
    ok(st.tgid == 4242 && st.pid == 4243 && st.ppid == 1 && st.uid == 1000 && st.threads == 3
       && st.kthread == 0, "numeric fields");
    ok(st.state == 'T' && strcmp(st.state_text, "stopped") == 0, "state");
    ok(st.name_len == 7 && memcmp(st.name, "my\\od\nd", 7) == 0, "name unescaped");
    size_t n;
    ok(st.blocked.len == 32 && netops_sig_mask_decode(st.blocked.hex, st.blocked.len, out, 256, &n) == 0
       && n == 1 && out[0] == 128, "SigBlk 32 digits: signal 128");
    ok(netops_sig_mask_decode(st.caught.hex, st.caught.len, out, 256, &n) == 0 && n == 2 && out[0] == 2 &&
       out[1] == 4,
       "SigCgt");

    {
        /* an older kernel: no Kthread: line; no VmSize: means kernel thread */
        char old[sizeof STATUS];
        char *k;
        memcpy(old, STATUS, sizeof STATUS);
        k = strstr(old, "Kthread:\t0");
        memcpy(k, "Kthreax", 7);
        ok(netops_proc_parse_status(old, sizeof STATUS - 1, &st) == 0 && st.kthread == 1,
           "without Kthread: and VmSize: a live task is a kernel thread");
        memcpy(old, STATUS, sizeof STATUS);
        k = strstr(old, "Kthread:\t0");
        memcpy(k, "VmSize:\t0", 9);
        ok(netops_proc_parse_status(old, sizeof STATUS - 1, &st) == 0 && st.kthread == 0,
           "without Kthread: but with VmSize: it is not");
    }

    {
        char blank[sizeof STATUS + 8];
        snprintf(blank, sizeof blank, "Name:\t\t x \n%s", strchr(STATUS, '\n') + 1);
        ok(netops_proc_parse_status(blank, strlen(blank), &st) == 0 && st.name_len == 4
           && memcmp(st.name, "\t x ", 4) == 0, "a name with leading and trailing blanks");
    }

    memcpy(text, STATUS, sizeof STATUS);
    char *cgt = strstr(text, "SigCgt");
    ok(netops_proc_parse_status(text, (size_t)(cgt - text), &st) == EPROTO, "missing SigCgt is EPROTO");
    memcpy(text, STATUS, sizeof STATUS);
    memcpy(strstr(text, "SigIgn:\t") + 8, "0x", 2);
    ok(netops_proc_parse_status(text, sizeof STATUS - 1, &st) == EPROTO, "a non-hex mask is EPROTO");
    ok(netops_proc_parse_status(text, 0, &st) == EPROTO, "empty text is EPROTO");
}

static void test_stat(void)
{
    /* a name with ") (" and spaces in it, negative priority and nice */
    static const char STAT[] =
        "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 -5 3 0 "
        "12345 1000000 300 18446744073709551615 1 1 0 0 0 0 2 4097 16386 0 0 0 17 1 0 0 0 0 0\n";
    struct netops_proc_stat st;
    char kth[] = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 8 0 0 "
                 "18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    ok(netops_proc_parse_stat(STAT, sizeof STAT - 1, &st) == 0, "parse a stat line");
    ok(st.pid == 4242 && st.name_len == 7 && strcmp(st.name, "a) (b c") == 0, "name with ') (' in it");
    ok(st.state == 'S' && st.ppid == 1 && st.threads == 3 && !st.kthread, "state, ppid, threads");
    ok(st.blocked == 2 && st.ignored == 4097 && st.caught == 16386, "legacy masks");
    ok(st.starttime == 12345, "start time (field 22)");
    ok(netops_proc_parse_stat(kth, sizeof kth - 1, &st) == 0 && st.kthread && st.ignored == 0x7fffffffUL,
       "a kernel thread: PF_KTHREAD, ignores 1..31");
    ok(netops_proc_parse_stat("1 (x) S 1 2 3\n", 14, &st) == EPROTO, "a short line is EPROTO");
    ok(netops_proc_parse_stat("garbage", 7, &st) == EPROTO, "garbage is EPROTO");
    {
        char bad[sizeof STAT];
        memcpy(bad, STAT, sizeof STAT);
        bad[strlen("4242 (a) (b c) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 -5 3 0 ")] = 'x';
        ok(netops_proc_parse_stat(bad, sizeof bad - 1, &st) == EPROTO, "a field that is no number is EPROTO");
    }
    ok(strcmp(netops_proc_state_name('S'), "sleeping") == 0 && strcmp(netops_proc_state_name('?'), "") == 0,
       "state names");
}

static void test_read(void)
{
    char buf[PROC_STATUS_BUF];
    struct netops_proc_status st;
    int ids[4096];
    size_t n;
    pid_t child;
    int found = 0;
    char comm[64] = "";
    FILE *f = fopen("/proc/self/comm", "re");

    if (f) {
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
    }

    ok(netops_proc_read_status(getpid(), 0, buf, sizeof buf, &st) == 0 && st.tgid == getpid()
       && st.pid == getpid() && strcmp(st.name, comm) == 0 && st.state == 'R',
       "read own status");
    ok(netops_proc_read_status(getpid(), getpid(), buf, sizeof buf, &st) == 0 && st.pid == getpid(),
       "read own main thread's status");
    ok(netops_proc_read_status(getpid(), 0, buf, 64, &st) == EMSGSIZE, "a small buffer is EMSGSIZE");
    ok(netops_proc_read_status(0, 0, buf, sizeof buf, &st) == EINVAL, "pid 0 is EINVAL");

    child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    ok(netops_proc_read_status(child, 0, buf, sizeof buf, &st) == ESRCH, "a reaped pid is ESRCH");
    ok(netops_proc_read_status(getpid(), child, buf, sizeof buf, &st) == ESRCH, "a foreign tid is ESRCH");
    ok(netops_proc_threads(child, ids, 4096, &n) == ESRCH, "threads of a reaped pid: ESRCH");

    ok(netops_proc_threads(getpid(), ids, 4096, &n) == 0 && n == 1 && ids[0] == getpid(),
       "own threads");
    n = 0;
    int err = netops_proc_pids(ids, 4096, &n);
    for (size_t i = 0; err == 0 && i < n && i < 4096; i++) {
        if (ids[i] == getpid())
            found = 1;
        if (i && ids[i] <= ids[i - 1])
            found = -1000;
    }
    ok(err == 0 && n > 0 && found == 1, "pids ascending, own pid in it (%ld)", (long)n);
    n = 0;
    ok(netops_proc_pids(ids, 0, &n) == 0 && n > 0, "pids with no room still counts them");

    int root;
    struct netops_proc_stat ps;
    ok(netops_proc_open_root(&root) == 0 && root >= 0 && netops_proc_read_status_at(root, getpid(), buf, sizeof buf, &st) == 0
       && st.pid == getpid(), "read own status relative to /proc");
    ok(netops_proc_read_stat_at(root, getpid(), buf, sizeof buf, &ps) == 0 && ps.pid == getpid()
       && strcmp(ps.name, comm) == 0 && ps.threads == 1, "read own stat relative to /proc");
    ok(netops_proc_read_stat_at(root, child, buf, sizeof buf, &ps) == ESRCH
       && netops_proc_read_status_at(root, child, buf, sizeof buf, &st) == ESRCH, "reaped pid: ESRCH");
    close(root);
}

int main(void)
{
    test_names();
    test_masks();
    test_parse();
    test_stat();
    test_read();
    printf("1..%d\n", count);
    return failed != 0;
}
