/* proc.c - /proc status, threads and pids.  See proc.h. */
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ENOENT from /proc means the task is gone (or never was). */
static int gone(int err)
{
    return err == ENOENT ? ESRCH : err;
}

/* One read() of the status file open at fd (closed here), then the parse. */
static int read_parse(int fd, char *buf, size_t bufsize, struct netops_proc_status *st)
{
    ssize_t n;
    int err;
    do
        n = read(fd, buf, bufsize - 1);
    while (n < 0 && errno == EINTR);
    err = errno;
    close(fd);
    if (n < 0)
        return gone(err);
    if (n == 0)                         /* a task that has been reaped */
        return ESRCH;
    if ((size_t)n >= bufsize - 1)
        return EMSGSIZE;
    buf[n] = '\0';
    return netops_proc_parse_status(buf, (size_t)n, st);
}

int netops_proc_read_status(int pid, int tid, char *buf, size_t bufsize, struct netops_proc_status *st)
{
    char path[64];
    int dfd, fd, err;

    if (pid < 1 || tid < 0 || bufsize < 2)
        return EINVAL;
    snprintf(path, sizeof path, "/proc/%d", pid);
    dfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return gone(errno);
    if (tid > 0)
        snprintf(path, sizeof path, "task/%d/status", tid);
    else
        snprintf(path, sizeof path, "status");
    fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
    err = errno;
    close(dfd);
    if (fd < 0)
        return gone(err);
    return read_parse(fd, buf, bufsize, st);
}

int netops_proc_read_status_at(int procfd, int pid, char *buf, size_t bufsize, struct netops_proc_status *st)
{
    char path[32];
    int fd;

    if (pid < 1 || bufsize < 2)
        return EINVAL;
    snprintf(path, sizeof path, "%d/status", pid);
    fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gone(errno);
    return read_parse(fd, buf, bufsize, st);
}

int netops_proc_read_stat_at(int procfd, int pid, char *buf, size_t bufsize, struct netops_proc_stat *st)
{
    char path[32];
    ssize_t n;
    int fd, err;

    if (pid < 1 || bufsize < 2)
        return EINVAL;
    snprintf(path, sizeof path, "%d/stat", pid);
    fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gone(errno);
    do
        n = read(fd, buf, bufsize - 1);
    while (n < 0 && errno == EINTR);
    err = errno;
    close(fd);
    if (n < 0)
        return gone(err);
    if (n == 0)
        return ESRCH;
    if ((size_t)n >= bufsize - 1)
        return EMSGSIZE;
    buf[n] = '\0';
    return netops_proc_parse_stat(buf, (size_t)n, st);
}

#define PF_KTHREAD_FLAG 0x00200000UL   /* include/linux/sched.h PF_KTHREAD */

/* The decimal number at *p (a '-' sign read as 0: only fields netops does
 * not use can be negative), *p moved past it; 0 if no digit is there. */
static int stat_number(const char **p, const char *end, unsigned long long *out)
{
    const char *q = *p;
    unsigned long long v = 0;
    int neg = q < end && *q == '-';
    if (neg)
        q++;
    if (q >= end || *q < '0' || *q > '9')
        return 0;
    for (; q < end && *q >= '0' && *q <= '9'; q++)
        v = v * 10 + (unsigned long long)(*q - '0');   /* wraps past 2^64: never in stat */
    *out = neg ? 0 : v;
    *p = q;
    return 1;
}

int netops_proc_parse_stat(const char *text, size_t len, struct netops_proc_stat *st)
{
    /* the name may hold ')' itself: the last one closes it */
    const char *open = memchr(text, '(', len), *close = memrchr(text, ')', len), *p, *end = text + len;
    unsigned long long field[35];
    int nf;

    memset(st, 0, sizeof *st);
    if (!open || !close || close < open || close + 3 >= end)
        return EPROTO;
    st->pid = (int)strtol(text, NULL, 10);
    st->name_len = (size_t)(close - open - 1);
    if (st->name_len >= sizeof st->name)
        st->name_len = sizeof st->name - 1;
    memcpy(st->name, open + 1, st->name_len);
    st->name[st->name_len] = '\0';
    st->state = close[2];
    /* fields 4 (ppid) to 34 (sigcatch), space separated */
    p = close + 3;
    for (nf = 4; nf <= 34; nf++) {
        while (p < end && *p == ' ')
            p++;
        if (!stat_number(&p, end, &field[nf]))
            return EPROTO;
    }
    st->ppid = (int)field[4];
    st->kthread = (field[9] & PF_KTHREAD_FLAG) != 0;
    st->threads = (int)field[20];
    st->blocked = (unsigned long)field[32];
    st->ignored = (unsigned long)field[33];
    st->caught = (unsigned long)field[34];
    st->starttime = field[22];
    return 0;
}

int netops_proc_starttime(int pid, unsigned long long *out)
{
    char buf[1024];
    struct netops_proc_stat st;
    int procfd, err = netops_proc_open_root(&procfd);

    if (err != 0)
        return err;
    err = netops_proc_read_stat_at(procfd, pid, buf, sizeof buf, &st);
    close(procfd);
    if (err == 0)
        *out = st.starttime;
    return err;
}

const char *netops_proc_state_name(char state)
{
    switch (state) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "disk sleep";
    case 'T': return "stopped";
    case 't': return "tracing stop";
    case 'X': return "dead";
    case 'Z': return "zombie";
    case 'P': return "parked";
    case 'I': return "idle";
    default: return "";
    }
}

int netops_proc_open_root(int *fd)
{
    *fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    return *fd < 0 ? errno : 0;
}

static long to_long(const char *v, size_t len)
{
    long x = 0;
    size_t i = 0;
    if (len == 0 || v[0] < '0' || v[0] > '9')
        return -1;
    for (; i < len && v[i] >= '0' && v[i] <= '9' && x < 100000000000L; i++)
        x = x * 10 + (v[i] - '0');
    return x;
}

static int ishex(const char *v, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

static void set_name(struct netops_proc_status *st, const char *v, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o < sizeof st->name - 1; i++) {
        char c = v[i];
        if (c == '\\' && i + 1 < len && (v[i + 1] == 'n' || v[i + 1] == '\\')) {
            c = v[i + 1] == 'n' ? '\n' : '\\';
            i++;
        }
        st->name[o++] = c;
    }
    st->name[o] = '\0';
    st->name_len = o;
}

static void set_state(struct netops_proc_status *st, const char *v, size_t len)
{
    const char *open, *close;
    st->state = len ? v[0] : 0;
    st->state_text[0] = '\0';
    open = memchr(v, '(', len);
    close = open ? memchr(open, ')', len - (size_t)(open - v)) : NULL;
    if (open && close) {
        size_t n = (size_t)(close - open - 1);
        if (n >= sizeof st->state_text)
            n = sizeof st->state_text - 1;
        memcpy(st->state_text, open + 1, n);
        st->state_text[n] = '\0';
    }
}

#define KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)

/* A SigPnd/ShdPnd/SigBlk/SigIgn/SigCgt value (key: its 6 bytes) into st;
 * 0, or EPROTO when it is not hex. */
static int set_status_mask(struct netops_proc_status *st, const char *key, const char *v, size_t vlen)
{
    static const char keys[] = "SigPndShdPndSigBlkSigIgnSigCgt";
    struct netops_proc_mask *masks[5] = { &st->pending, &st->shared_pending, &st->blocked,
                                   &st->ignored, &st->caught };
    int i = (int)((const char *)memmem(keys, sizeof keys - 1, key, 6) - keys) / 6;
    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    if (!ishex(v, vlen))
        return EPROTO;
    masks[i]->hex = v;
    masks[i]->len = vlen;
    return 0;
}

/* One "Key:\tvalue" line (line..eol) into st: 0; 1 after SigCgt, the last
 * line wanted; EPROTO for a mask that is not hex. */
static int status_line(struct netops_proc_status *st, const char *line, const char *eol, int *has_vm)
{
    const char *colon = memchr(line, ':', (size_t)(eol - line)), *v;
    if (!colon)
        return 0;
    size_t klen = (size_t)(colon - line), vlen;
    v = colon + 1;
    if (KEY("Name")) {                  /* exactly one tab: names may start with blanks */
        if (v < eol && *v == '\t')
            v++;
        set_name(st, v, (size_t)(eol - v));
        return 0;
    }
    while (v < eol && (*v == '\t' || *v == ' '))
        v++;
    vlen = (size_t)(eol - v);
    if (KEY("State"))
        set_state(st, v, vlen);
    else if (KEY("Tgid"))
        st->tgid = (int)to_long(v, vlen);
    else if (KEY("Pid"))
        st->pid = (int)to_long(v, vlen);
    else if (KEY("PPid"))
        st->ppid = (int)to_long(v, vlen);
    else if (KEY("Uid"))
        st->uid = to_long(v, vlen);
    else if (KEY("Kthread"))
        st->kthread = (int)to_long(v, vlen);
    else if (KEY("Threads"))
        st->threads = (int)to_long(v, vlen);
    else if (KEY("VmSize"))
        *has_vm = 1;
    else if (KEY("SigPnd") || KEY("ShdPnd") || KEY("SigBlk") || KEY("SigIgn"))
        return set_status_mask(st, line, v, vlen);
    else if (KEY("SigCgt"))
        return set_status_mask(st, line, v, vlen) ? EPROTO : 1;
    return 0;
}

int netops_proc_parse_status(const char *text, size_t len, struct netops_proc_status *st)
{
    const char *p = text, *end = text + len;
    int has_vm = 0, rc = 0;

    memset(st, 0, sizeof *st);
    st->kthread = -1;
    st->uid = -1;
    st->tgid = st->pid = st->ppid = -1;
    while (p < end && rc == 0) {
        const char *line = p, *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
        rc = status_line(st, line, nl ? nl : end, &has_vm);
    }
    if (rc == EPROTO || !st->pending.len || !st->shared_pending.len || !st->blocked.len
        || !st->ignored.len || !st->caught.len)
        return EPROTO;
    /* Kernels before the Kthread: line: a task without memory that is not
     * a dead one is a kernel thread. */
    if (st->kthread < 0 && st->state && st->state != 'Z' && st->state != 'X')
        st->kthread = !has_vm;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Numeric entries of the directory at dirfd (consumed), ascending, their
 * total in *total; 0 or an errno. */
static int numeric_entries(int dirfd, int *out, size_t cap, size_t *total)
{
    DIR *d = fdopendir(dirfd);
    struct dirent *e;
    size_t count = 0;
    int sorted = 1, last = 0;

    if (!d) {
        int err = errno;
        close(dirfd);
        return err;
    }
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        long v = 0;
        if (*s < '1' || *s > '9')
            continue;
        for (; *s >= '0' && *s <= '9' && v <= 0x7fffffff; s++)
            v = v * 10 + (*s - '0');
        if (*s || v > 0x7fffffff)
            continue;
        if (count < cap) {
            out[count] = (int)v;
            if ((int)v < last)
                sorted = 0;
            last = (int)v;
        }
        count++;
    }
    if (errno) {
        int err = errno;
        closedir(d);
        return gone(err);
    }
    closedir(d);
    if (!sorted)
        qsort(out, count < cap ? count : cap, sizeof *out, cmp_int);
    *total = count;
    return 0;
}

int netops_proc_pids(int *out, size_t cap, size_t *total)
{
    int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    return numeric_entries(fd, out, cap, total);
}

int netops_proc_threads(int pid, int *out, size_t cap, size_t *total)
{
    char path[64];
    int fd;
    if (pid < 1)
        return EINVAL;
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return gone(errno);
    return numeric_entries(fd, out, cap, total);
}
