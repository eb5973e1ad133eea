/*
 * conntrackd.h - a client for conntrackd's control socket (no Lua here).
 *
 * Protocol (conntrack-tools src/local.c, 1.4.0-1.4.9): connect to the
 * AF_UNIX SOCK_STREAM socket named by `UNIX { Path }`, send one native int
 * (the request code), read plain text until EOF.  There is no status code:
 * EOF is the only "done".  A commit keeps the connection open until the
 * commit ends.
 */
#ifndef NETOPS_CONNTRACKD_H
#define NETOPS_CONNTRACKD_H

/* Functions return 0 or a positive errno; results through out-parameters. */

#include <stddef.h>
#include <sys/types.h>

/* Request codes (include/conntrackd.h, conntrack-tools 1.4.7). */
enum netops_ctd_code {
    CTD_CT_FLUSH_MASTER = 0,
    CTD_CT_RESYNC_MASTER = 1,
    CTD_CT_DUMP_INTERNAL = 16,
    CTD_CT_DUMP_EXTERNAL = 17,
    CTD_CT_COMMIT = 18,
    CTD_CT_FLUSH_CACHE = 19,
    CTD_KILL = 20,
    CTD_STATS = 21,
    CTD_SEND_BULK = 22,
    CTD_REQUEST_DUMP = 23,
    CTD_CT_DUMP_INT_XML = 24,
    CTD_CT_DUMP_EXT_XML = 25,
    CTD_RESET_TIMERS = 26,
    CTD_STATS_NETWORK = 28,
    CTD_STATS_CACHE = 29,
    CTD_STATS_RUNTIME = 30,
    CTD_STATS_LINK = 31,
    CTD_STATS_RSQUEUE = 32,
    CTD_CT_FLUSH_INT_CACHE = 33,
    CTD_CT_FLUSH_EXT_CACHE = 34,
    CTD_STATS_PROCESS = 35,
    CTD_STATS_QUEUE = 36,
    CTD_EXP_STATS = 37,
    CTD_ALL_FLUSH_MASTER = 43,
    CTD_ALL_RESYNC_MASTER = 44,
    CTD_ALL_FLUSH_CACHE = 45,
    CTD_ALL_COMMIT = 46,
};

/* Failure classes reported in netops_ctd_result.cls. */
#define CTD_ENOSOCKET  "nosocket"   /* path missing */
#define CTD_EREFUSED   "refused"    /* path exists, nobody listens */
#define CTD_EDENIED    "denied"     /* permission (socket is 0600 root) */
#define CTD_ETIMEOUT   "timeout"    /* no EOF within the timeout */
#define CTD_EIO        "io"         /* any other socket error; a reply cut
                                       short or never given (reset before the
                                       request was read, the daemon exiting
                                       while answering, no final newline) */
#define CTD_ETOOLARGE  "toolarge"   /* reply longer than max_reply bytes */

/*
 * Default cap on one reply: a dump line of conntrackd's is 100-250 bytes, so
 * 256 MiB holds a dump of about a million entries (IPv6 ones included).
 */
#define CTD_MAX_REPLY_DEFAULT ((size_t)256 << 20)

struct netops_ctd_reply {
    char *text;       /* malloc'd, NUL-terminated; caller frees */
    size_t len;
    double elapsed;   /* seconds from connect to EOF */
};

/*
 * One request: connect (within timeout), send code, read until EOF (the
 * whole exchange bounded by timeout seconds, checked between every read, and
 * the reply by max_reply bytes).  Returns 0 and fills *reply, or an errno
 * with a class in *cls and a message in err (which names the socket
 * path and, when the socket cannot be reached, whether any conntrackd process
 * runs on this host).  Every fd is CLOEXEC; SIGPIPE is never raised.
 *
 * conntrackd sends no status: a request succeeded when the daemon read it
 * and closed the connection cleanly.  So a reset (the daemon closed, crashed
 * or restarted before reading the request), a daemon process that exits
 * while answering (the listener's process, when it was alive at connect;
 * except for CTD_KILL, whose answer is exiting), a non-empty reply without
 * its final newline (every line conntrackd writes ends in one) and an empty
 * reply to a statistics request that conntrackd always answers (STATS,
 * STATS_CACHE, STATS_RUNTIME) are failures of class CTD_EIO.
 */
int netops_ctd_request(const char *path, int code, double timeout, size_t max_reply,
                struct netops_ctd_reply *reply, const char **cls,
                char *err, size_t errlen);

/*
 * pids of processes whose comm is "conntrackd" (scans /proc); up to max
 * stored in pids, returns how many were found in total (may exceed max).
 */
int netops_ctd_find_daemons(pid_t *pids, int max);

#endif
