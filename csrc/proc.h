/*
 * proc.h - reading /proc: a task's status (name, state, signal masks),
 * its threads, the visible processes.  Pure C, no Lua.
 *
 * The status file is opened relative to a directory fd of /proc/PID and read
 * with ONE read(): the kernel formats the whole file at once, so the five
 * signal masks are one consistent snapshot.
 */
#ifndef NETOPS_PROC_H
#define NETOPS_PROC_H

/* Functions return 0 or a positive errno; results through out-parameters. */

#include <stddef.h>

/* A hex mask inside the caller's status buffer; len 0 when the line is absent. */
struct netops_proc_mask {
    const char *hex;
    size_t len;
};

/* Longest task name kept (the kernel's comm is 16 bytes, kernel workers
 * append their work queue; longer names are cut). */
#define PROC_NAME_MAX 128

struct netops_proc_status {
    int tgid;                   /* Tgid: the process */
    int pid;                    /* Pid:  the task itself (thread id) */
    int ppid;                   /* PPid: */
    int threads;                /* Threads: */
    int kthread;                /* Kthread: 1 or 0; without that line (kernels before
                                 * 6.x) 1 for a live task with no VmSize: line, -1
                                 * for a zombie */
    long uid;                   /* real uid, -1 if missing */
    char state;                 /* 'S', 'R', 'Z', ... (0 if missing) */
    char state_text[32];        /* "sleeping" */
    char name[PROC_NAME_MAX];   /* Name:, with the kernel's \n and \\ escapes undone */
    size_t name_len;            /* may contain a NUL byte only if the kernel put one */
    struct netops_proc_mask pending;          /* SigPnd: per thread */
    struct netops_proc_mask shared_pending;   /* ShdPnd: per process */
    struct netops_proc_mask blocked;          /* SigBlk: per thread */
    struct netops_proc_mask ignored;          /* SigIgn: per process */
    struct netops_proc_mask caught;           /* SigCgt: per process */
};

/* A buffer size that holds any status file seen in practice. */
#define PROC_STATUS_BUF 8192

/*
 * Read /proc/PID/status (tid 0) or /proc/PID/task/TID/status into
 * buf[0..bufsize) with one read() and parse it into st; the masks point into
 * buf.  Returns 0 or an errno value:
 *   ESRCH     no such process (or thread in that process), or it vanished
 *   EACCES... what open or read said
 *   EMSGSIZE  buf was too small: call again with a bigger one
 *   EPROTO    the file lacks a signal mask line
 *   EINVAL    pid < 1 or tid < 0
 */
int netops_proc_read_status(int pid, int tid, char *buf, size_t bufsize, struct netops_proc_status *st);

/*
 * For scans over many processes: read PID/status relative to procfd, an fd
 * of /proc itself (netops_proc_open_root), in one path walk and one read(): the
 * same snapshot, results and errors as netops_proc_read_status(pid, 0, ...),
 * without a directory fd per process.
 */
int netops_proc_read_status_at(int procfd, int pid, char *buf, size_t bufsize, struct netops_proc_status *st);

/*
 * What /proc/PID/stat says, for scans that need only signals 1..31: the
 * kernel formats stat faster than status, and its legacy masks (the low 31
 * bits of the blocked, ignored and caught sets) cover exactly those signals.
 * Bit n-1 of a mask is signal n.
 */
struct netops_proc_stat {
    int pid;
    int ppid;
    int threads;
    int kthread;                /* PF_KTHREAD in the flags */
    char state;
    char name[PROC_NAME_MAX];   /* comm, as is */
    size_t name_len;
    unsigned long blocked, ignored, caught;
    unsigned long long starttime;   /* field 22: clock ticks after boot; with the
                                     * pid it names one process, across pid reuse */
};

/* Read PID/stat relative to procfd with one read() and parse it.  Returns 0
 * or an errno like netops_proc_read_status (ESRCH when gone, EPROTO unparsable). */
int netops_proc_read_stat_at(int procfd, int pid, char *buf, size_t bufsize, struct netops_proc_stat *st);

/* The start time (stat field 22) of process pid.  Returns 0, ESRCH when it
 * is gone, or another errno. */
int netops_proc_starttime(int pid, unsigned long long *out);

/* Parse a stat text (NUL-terminated at text[len]).  Returns 0 or EPROTO. */
int netops_proc_parse_stat(const char *text, size_t len, struct netops_proc_stat *st);

/* The word for a state letter ("sleeping" for 'S'), "" if unknown. */
const char *netops_proc_state_name(char state);

/* An O_PATH, O_CLOEXEC directory fd of /proc into *fd (-1 on failure);
 * 0 or an errno. */
int netops_proc_open_root(int *fd);

/*
 * Parse a status text (as read from the file) into st.  Returns 0 or EPROTO
 * when a signal mask line is missing or not hex.
 */
int netops_proc_parse_status(const char *text, size_t len, struct netops_proc_status *st);

/*
 * The ids of every visible process (numeric entries of /proc), ascending,
 * into out[0..cap), the total count in *total, which may exceed cap (call
 * again with a bigger array).  Returns 0 or an errno.
 */
int netops_proc_pids(int *out, size_t cap, size_t *total);

/*
 * The thread ids of process pid (/proc/PID/task), ascending, into
 * out[0..cap), the total count in *total (may exceed cap).  Returns 0 or an
 * errno (ESRCH: no such process).
 */
int netops_proc_threads(int pid, int *out, size_t cap, size_t *total);

#endif
