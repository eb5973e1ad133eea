/*
 * ctd_reply.h - parsers for conntrackd's text replies (no Lua here): one
 * line of statistics (`conntrackd -s ...`) and one line of a plain cache dump
 * (`conntrackd -i`, `-e`; `conntrack -L` lines too).
 *
 * Each parser reads one line (without its newline) in one pass: linear in
 * its length whatever the bytes.  A line that is not what conntrackd writes
 * gives EINVAL and a reason, never a partial result the caller must doubt.
 */
#ifndef NETOPS_CTD_REPLY_H
#define NETOPS_CTD_REPLY_H

#include <stddef.h>

#define NETOPS_CTD_KEYMAX 64      /* a statistics key, NUL included */
#define NETOPS_CTD_MAXFIELDS 16   /* statistics on one line */
#define NETOPS_CTD_MAXEXTRA 16    /* key=value fields past the known ones */

/* s[off .. off+len) of the line given. */
struct netops_ctd_span {
    size_t off, len;
};

enum netops_ctd_statkind {
    NETOPS_CTD_BLANK,       /* empty, or an indented sub-heading ("\trecv:") */
    NETOPS_CTD_SECTION,     /* "cache internal:", "UDP traffic (device=x):" */
    NETOPS_CTD_FIELDS,      /* "label: N" pairs or "N Label" columns */
};

struct netops_ctd_statline {
    enum netops_ctd_statkind kind;
    char section[NETOPS_CTD_KEYMAX];   /* SECTION, or FIELDS that open one:
                                          its key ("cache_internal") */
    int opens;                         /* FIELDS: the line opens `section`
                                          ("cache:internal\tactive objects: 20") */
    int has_info;                      /* SECTION: text in parentheses */
    struct netops_ctd_span info;
    int n;                             /* FIELDS: how many */
    struct {
        char key[NETOPS_CTD_KEYMAX];   /* "connections_created", "bytes_sent" */
        long long value;
    } f[NETOPS_CTD_MAXFIELDS];
    const char *why;                   /* when the line is bad */
};

/*
 * One statistics line: 0 and *out, or EINVAL and out->why.  Keys are the
 * labels lowercased, each run of other characters one "_"; a "failed: N"
 * after "label: N" is "label_failed"; "creation OK/failed: N/M" gives
 * creation_ok = N and creation_failed = M.
 */
int netops_ctd_stats_line(const char *s, size_t n, struct netops_ctd_statline *out);

/* Status flags of an entry: bit i is netops_ctd_status_names[i]. */
extern const char *const netops_ctd_status_names[];

struct netops_ctd_tuple {
    struct netops_ctd_span src, dst;   /* len 0 when absent */
    int sport, dport;                  /* -1 when absent */
};

struct netops_ctd_entry {
    int family;                        /* 4 or 6 */
    struct netops_ctd_span proto;      /* "tcp" */
    int protonum;
    long long timeout;                 /* -1 when absent (conntrackd's caches) */
    struct netops_ctd_span state;      /* len 0 when absent */
    struct netops_ctd_tuple orig, reply;
    int icmp_type, icmp_code, icmp_id; /* original tuple's; -1 when absent */
    unsigned status;                   /* bits, see netops_ctd_status_names */
    long long mark, zone, use, id;     /* -1 when absent */
    size_t nextra;                     /* other key=value fields, in order */
    struct {
        struct netops_ctd_span key, val;
    } extra[NETOPS_CTD_MAXEXTRA];
    const char *why;                   /* when the line is bad */
};

/*
 * One dump line, "[ipv4 2 ]tcp 6 [timeout ][STATE ]src=.. dst=.. sport=..
 * dport=.. [src=.. ...] [ASSURED] mark=0 ..."; a third tuple (the master of
 * an expectation) ends the key=value fields.  0 and *e, or EINVAL and e->why
 * (not an entry, a bad address, port or number, a field that would overwrite
 * the entry's own, a control byte, too many fields).
 */
int netops_ctd_parse_entry(const char *s, size_t n, struct netops_ctd_entry *e);

#endif
