/*
 * conntrack.h - the kernel connection tracking table over ctnetlink, through
 * libnetfilter_conntrack (message building/parsing) and libmnl (netlink).
 * Pure C, no Lua: usable from C tests and benchmarks.
 *
 * Every function returning int returns 0 on success and a positive errno
 * value on failure; results go through out-parameters.  (netops_ct_match
 * and netops_ct_has_ports are predicates: 1 or 0.)
 */
#ifndef NETOPS_CONNTRACK_H
#define NETOPS_CONNTRACK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Which optional fields of an entry are set. */
enum {
    NETOPS_CT_HAS_REPLY   = 1 << 0,  /* reply tuple given (else: inverse of orig) */
    NETOPS_CT_HAS_STATE   = 1 << 1,  /* TCP or SCTP state */
    NETOPS_CT_HAS_TIMEOUT = 1 << 2,
    NETOPS_CT_HAS_MARK    = 1 << 3,
    NETOPS_CT_HAS_ZONE    = 1 << 4,
    NETOPS_CT_HAS_ICMP    = 1 << 5,  /* icmp type/code/id */
    NETOPS_CT_HAS_ID      = 1 << 6,
    NETOPS_CT_HAS_STATUS  = 1 << 7,
    NETOPS_CT_HAS_PORTS   = 1 << 8,  /* sport/dport (tcp, udp, sctp, dccp, udplite) */
    NETOPS_CT_HAS_VTAG    = 1 << 9,  /* SCTP verification tags */
    NETOPS_CT_HAS_MASTER  = 1 << 10, /* a related entry: its master's tuple */
    NETOPS_CT_HAS_ORIG_ZONE  = 1 << 11, /* orig_zone: a zone for the original direction */
    NETOPS_CT_HAS_REPLY_ZONE = 1 << 12, /* reply_zone: a zone for the reply direction */
    NETOPS_CT_HAS_GRE_KEYS   = 1 << 13, /* GRE keys in the tuples' sport (source key)
                                           and dport (destination key), as the
                                           kernel's GRE tuple carries them */
    NETOPS_CT_HAS_DCCP_ROLE  = 1 << 14, /* dccp_role (state: DCCP state in state) */
};

struct netops_ct_tuple {
    unsigned char src[16], dst[16];  /* network order; IPv4 in the first 4 bytes */
    uint16_t sport, dport;           /* host order */
};

/* One conntrack entry: the plain-data twin of the Lua entry table. */
struct netops_ct_entry {
    uint8_t family;                  /* AF_INET or AF_INET6 */
    uint8_t proto;                   /* IPPROTO_* */
    uint8_t state;                   /* TCP_CONNTRACK_*, SCTP_CONNTRACK_* or DCCP_CONNTRACK_* */
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id;
    uint16_t zone;
    uint32_t timeout, mark, status, id;
    uint32_t vtag_orig, vtag_reply;
    unsigned has;                    /* NETOPS_CT_HAS_* */
    uint8_t master_proto;            /* the master's protocol (same family) */
    struct netops_ct_tuple orig, reply, master;
    uint16_t orig_zone, reply_zone;  /* directional zones (conntrack --orig-zone/--reply-zone) */
    uint8_t dccp_role;               /* DCCP_CONNTRACK_ROLE_CLIENT (0) or _SERVER (1) */
};

/* Dump/flush filter: fields whose bit is set in has must match. */
enum {
    NETOPS_CTF_FAMILY = 1 << 0, NETOPS_CTF_PROTO = 1 << 1, NETOPS_CTF_MARK = 1 << 2,
    NETOPS_CTF_ZONE = 1 << 3, NETOPS_CTF_STATUS = 1 << 4, NETOPS_CTF_SRC = 1 << 5,
    NETOPS_CTF_DST = 1 << 6, NETOPS_CTF_SPORT = 1 << 7, NETOPS_CTF_DPORT = 1 << 8,
};

struct netops_ct_filter {
    unsigned has;
    uint8_t family, proto;
    uint16_t zone, sport, dport;
    uint32_t mark, mark_mask, status;     /* status: bits that must all be set */
    unsigned char src[16], dst[16];
    uint8_t src_family, dst_family;        /* AF_INET/AF_INET6 of src/dst */
};

/* Per-entry result of a commit. */
enum { NETOPS_CT_SKIPPED = 0, NETOPS_CT_CREATED = 1, NETOPS_CT_UPDATED = 2, NETOPS_CT_FAILED = 3 };

struct netops_ct_result {
    int outcome;           /* NETOPS_CT_SKIPPED, _CREATED, _UPDATED or _FAILED */
    int err;               /* _FAILED: the errno the kernel (or building) gave */
};

struct netops_ct_commit_opts {
    uint32_t timeout;      /* non-zero: overrides every entry's timeout */
    int create_only;       /* existing entries fail with EEXIST */
    int replace;           /* existing entries are deleted and created anew
                              (as conntrackd does), not updated */
    unsigned threads;      /* sockets/threads sharing the work (0 means 1).
                              Measured: no gain, as ctnetlink's create and
                              update run under the nfnetlink subsystem mutex */
};

struct netops_ct;          /* a ctnetlink socket bound in one namespace */
struct netops_ct_cursor;   /* a streaming dump, or an event subscription */

/* Event kinds (bit masks for netops_ct_events). */
enum { NETOPS_CT_EV_NEW = 1, NETOPS_CT_EV_UPDATE = 2, NETOPS_CT_EV_DESTROY = 4 };

/*
 * Open a ctnetlink socket in the network namespace /run/netns/NAME (netns
 * non-NULL) or in the caller's.  The caller's namespace never changes: the
 * socket is created by a short-lived thread that enters the namespace.
 * On failure returns an errno and sets *where to "namespace" or "socket".
 */
int netops_ct_open(struct netops_ct **out, const char *netns, const char **where);
void netops_ct_close(struct netops_ct *ct);

/* Entries in the table of the socket's namespace, and nf_conntrack_max. */
int netops_ct_count(struct netops_ct *ct, uint32_t *count, uint32_t *max);

/*
 * Create or update n entries, many messages per sendmsg; opts->threads > 1
 * splits them over that many sockets, each sending from its own thread.
 * Entries go in chunks; when the previous chunk mostly existed already, the
 * next is sent as updates first (then creates for the missing ones), so a
 * re-commit into a full table costs one request per entry, not two.  Entries with a master
 * tuple (related entries) are sent after all the others, so their masters
 * exist when they arrive.  result[i].outcome becomes NETOPS_CT_CREATED,
 * NETOPS_CT_UPDATED or NETOPS_CT_FAILED (with result[i].err), or
 * NETOPS_CT_SKIPPED where the table filled up (ENOMEM) and the rest was not
 * tried: then *stopped is set to ENOMEM.  Where skip is non-NULL and skip[i]
 * is set (the caller found the entry invalid, or commits it in another
 * call), entry i is not sent and result[i] is left as it is.  *stopped is read
 * first: ENOMEM there says an earlier call of the same commit filled the
 * table (existing entries are then only updated, never deleted).  Returns 0
 * or an errno of the socket itself.
 */
int netops_ct_commit(struct netops_ct *ct, const struct netops_ct_entry *e, size_t n,
                     const unsigned char *skip, const struct netops_ct_commit_opts *opts,
                     struct netops_ct_result *result, int *stopped);

/*
 * netops_ct_commit on a thread of its own, so that the caller reads or
 * parses the next entries while the kernel takes these: the kernel's share
 * of a commit and netops' own work overlap.  The caller keeps the arguments
 * alive and leaves ct alone until netops_ct_commit_wait, which returns what
 * netops_ct_commit returned (and sets *stopped likewise).  Where no thread
 * can be started, the commit runs in netops_ct_commit_start itself.
 */
struct netops_ct_pending {
    struct netops_ct *ct;
    const struct netops_ct_entry *e;
    size_t n;
    const unsigned char *skip;
    const struct netops_ct_commit_opts *opts;
    struct netops_ct_result *result;
    int stopped, rc, threaded;
    pthread_t thread;
};
void netops_ct_commit_start(struct netops_ct_pending *p, struct netops_ct *ct,
                            const struct netops_ct_entry *e, size_t n, const unsigned char *skip,
                            const struct netops_ct_commit_opts *opts,
                            struct netops_ct_result *result, int stopped);
int netops_ct_commit_wait(struct netops_ct_pending *p, int *stopped);

/* Read one entry (by key's original tuple and zone) into *out; ENOENT
 * when there is none. */
int netops_ct_get(struct netops_ct *ct, const struct netops_ct_entry *key,
                  struct netops_ct_entry *out);

/* Delete one entry (by its original tuple and zone). */
int netops_ct_delete(struct netops_ct *ct, const struct netops_ct_entry *e);

/* Delete every entry matching f (NULL: all).  *deleted counts them when the
 * deletion is filtered; for a whole-table flush it is the count before. */
int netops_ct_flush(struct netops_ct *ct, const struct netops_ct_filter *f, size_t *deleted);

/* Set the timeout of every entry matching f; batched, one message per entry. */
int netops_ct_set_timeout(struct netops_ct *ct, const struct netops_ct_filter *f,
                          uint32_t seconds, size_t *changed, size_t *failed);

/* Does e match f?  (1 yes, 0 no) */
int netops_ct_match(const struct netops_ct_filter *f, const struct netops_ct_entry *e);

/*
 * A streaming dump on its own socket, received by a thread of its own so
 * that the kernel formats the next records while the caller parses these:
 * memory stays bounded by a small ring of receive buffers whatever the
 * table size (without a thread, next receives itself).  next sets *got to
 * 1 with *e filled, or to 0 at the end.  Closing a dump not read to its
 * end stops the thread (within a fraction of a second).
 */
int netops_ct_dump_start(struct netops_ct *ct, const struct netops_ct_filter *f,
                         struct netops_ct_cursor **out);
/* Events (kinds: NETOPS_CT_EV_* mask) on their own socket.  next: timeout_ms
 * < 0 waits forever; *got is 1 with *kind and *e, 0 on timeout.  ENOBUFS:
 * events were lost (the socket's buffer overflowed); the cursor goes on. */
int netops_ct_events(struct netops_ct *ct, unsigned kinds, struct netops_ct_cursor **out);
int netops_ct_next(struct netops_ct_cursor *c, int timeout_ms, int *kind,
                   struct netops_ct_entry *e, int *got);
/* Only entries matching f (checked in C) come out of c from now on. */
void netops_ct_cursor_filter(struct netops_ct_cursor *c, const struct netops_ct_filter *f);
void netops_ct_cursor_close(struct netops_ct_cursor *c);

/* One ctnetlink message (a dump record or an event) into *e: 0, or
 * EBADMSG when it is not a conntrack entry.  Safe on any bytes (fuzzed). */
int netops_ct_parse(const void *msg, size_t len, struct netops_ct_entry *e);
/* Kinds of request (netops_ct_build): create (fails when the entry exists),
 * update (creates when missing), update only (ENOENT when missing),
 * timeout change, delete. */
enum {
    NETOPS_CT_REQ_CREATE = 0, NETOPS_CT_REQ_UPDATE = 1, NETOPS_CT_REQ_UPDATE_ONLY = 2,
    NETOPS_CT_REQ_TIMEOUT = 3, NETOPS_CT_REQ_DELETE = 4,
};
/* The request of that kind commit (or delete, set_timeout) would send for
 * e, with e->timeout, into buf (at least 1024 bytes: else ENOSPC), its
 * length in *len.  EINVAL: e is not IPv4 or IPv6.  For
 * tests. */
int netops_ct_build(const struct netops_ct_entry *e, int kind, void *buf, size_t cap,
                    size_t *len);

/* Names: protocol, TCP/SCTP state, status bits.  A name lookup returns 0
 * or ENOENT (unknown name); a number's name is NULL when unknown. */
const char *netops_ct_proto_name(uint8_t proto);
int netops_ct_proto_number(const char *name, uint8_t *proto);
const char *netops_ct_state_name(uint8_t proto, uint8_t state);
int netops_ct_state_number(uint8_t proto, const char *name, uint8_t *state);
/* Status bit names, indexed by bit number (NULL for gaps); count in *n. */
const char *const *netops_ct_status_names(size_t *n);

/* True for protocols whose tuple carries ports (TCP, UDP, SCTP, DCCP, UDP-Lite). */
int netops_ct_has_ports(int proto);

/* A message for an errno of a commit/delete, naming the likely cause. */
const char *netops_ct_strerror(int err);

#endif
