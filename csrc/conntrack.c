/*
 * conntrack.c - the kernel connection tracking table over ctnetlink.
 *
 * Requests are written attribute by attribute (build_request; dump filters
 * by libnetfilter_conntrack); libmnl walks the netlink buffers and the
 * records the kernel sends back are parsed straight into struct
 * netops_ct_entry (parse_entry).
 *
 * Commit, delete and timeout changes are batched: many ctnetlink requests
 * share one send().  ctnetlink processes them in order inside that send()
 * (netlink input runs in the sender's context), queueing an NLMSG_ERROR for
 * each failure; only the last request of a batch asks for an ACK, which marks
 * the end of the replies.  Each request's sequence number is its position in
 * the batch, so every error maps back to its entry.  (NFNL batch begin/end
 * is not supported by ctnetlink, so plain messages are used.)
 *
 * Sockets are created in the target namespace by a short-lived thread that
 * setns()es into it: the calling thread's namespace never changes, so there
 * is nothing to restore on any error path.
 */
#include "conntrack.h"
#include "clock.h"      /* the one clock */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nf_conntrack_sctp.h>
#include <linux/netlink.h>

#ifndef IPPROTO_DCCP
#define IPPROTO_DCCP 33
#endif

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define CT_RCVBUF     (8 << 20)   /* receive buffer asked for (SO_RCVBUFFORCE) */
#define CT_SNDBUF     (1 << 20)
#define CT_SENDMAX    (128 << 10) /* bytes of requests per send() */
#define CT_MSGMAX     1024        /* room kept for one request */
#define CT_RBUF       (64 << 10)  /* dump / event receive buffer */
#define CT_RVEC       64          /* replies read per recvmmsg */
#define CT_RSLOT      2048        /* bytes per reply slot */
#define CT_RING       8           /* dump buffers received ahead of the parser */
#define CT_RING_POLL  200         /* ms a dump thread's recv() waits before it
                                     looks again whether it is asked to stop */

struct netops_ct {
    int fd;
    int nsfd;             /* the namespace, kept for further sockets; -1: caller's */
    uint32_t portid;
    uint32_t seq;
    size_t batch_max;     /* requests per send(), bounded by the receive buffer */
    char *sbuf;           /* CT_SENDMAX + CT_MSGMAX */
    char *rslots;         /* CT_RVEC * CT_RSLOT */
};

/*
 * A dump received on a thread of its own.  The kernel formats the next
 * batch of a dump inside recv() (netlink_recvmsg -> netlink_dump), so while
 * the caller parses one buffer the thread's recv() has the kernel fill the
 * next.  The ring bounds how far it runs ahead: memory stays CT_RING
 * buffers whatever the table size.  Slots head .. head + count - 1 are
 * filled (the one the parser reads included); the thread receives only
 * into the slot after them, so neither side touches the other's slots
 * outside the mutex.
 */
struct ct_ring {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t filled;      /* a slot was filled, or the thread ended */
    pthread_cond_t freed;       /* a slot was handed back, or stop was set */
    unsigned head, count;
    int stop;                   /* the cursor is closing: the thread returns */
    int ended;                  /* the thread returned: no more slots will fill */
    int err;                    /* the recv() error it ended on (0: none) */
    size_t len[CT_RING];
    char *slots;                /* CT_RING * CT_RBUF */
};

struct netops_ct_cursor {
    int fd;
    uint32_t portid, seq;
    int events, done;
    struct netops_ct_filter filter;
    int has_filter;
    const char *buf;            /* the records being parsed: own, or a ring slot */
    size_t pos, len;
    struct ct_ring *ring;       /* a dump received on its thread; NULL: recv() in next */
    int holding;                /* buf is the ring's head slot, handed back once parsed */
    char own[CT_RBUF];
};

/* ---------------------------------------------------------------- names */

static const char *const tcp_states[] = {
    "NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
    "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",   /* 9: conntrack-tools' name */
};
static const char *const sctp_states[] = {
    "NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
    "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT",
    "HEARTBEAT_ACKED",
};
static const char *const status_names[] = {
    "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT",
    "SEQ_ADJUST", "SRC_NAT_DONE", "DST_NAT_DONE", "DYING", "FIXED_TIMEOUT",
    "TEMPLATE", "UNTRACKED", "HELPER", "OFFLOAD", "HW_OFFLOAD",
};
static const struct { const char *name; uint8_t num; } protos[] = {
    { "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP }, { "icmp", IPPROTO_ICMP },
    { "icmpv6", IPPROTO_ICMPV6 }, { "sctp", IPPROTO_SCTP }, { "dccp", IPPROTO_DCCP },
    { "udplite", IPPROTO_UDPLITE }, { "gre", IPPROTO_GRE },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *netops_ct_proto_name(uint8_t proto)
{
    for (size_t i = 0; i < COUNT(protos); i++)
        if (protos[i].num == proto)
            return protos[i].name;
    return NULL;
}

int netops_ct_proto_number(const char *name, uint8_t *proto)
{
    for (size_t i = 0; i < COUNT(protos); i++)
        if (strcmp(protos[i].name, name) == 0) {
            *proto = protos[i].num;
            return 0;
        }
    return ENOENT;
}

const char *netops_ct_state_name(uint8_t proto, uint8_t state)
{
    if (proto == IPPROTO_TCP && state < COUNT(tcp_states))
        return tcp_states[state];
    if (proto == IPPROTO_SCTP && state < COUNT(sctp_states))
        return sctp_states[state];
    return NULL;
}

/* The index of name in names[0..n-1]: 0, or ENOENT. */
static int lookup(const char *const *names, size_t n, const char *name, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) {
            *out = (uint8_t)i;
            return 0;
        }
    return ENOENT;
}

int netops_ct_state_number(uint8_t proto, const char *name, uint8_t *state)
{
    if (proto == IPPROTO_TCP) {
        if (strcmp(name, "LISTEN") == 0) {   /* the kernel's old name for 9, read too */
            *state = TCP_CONNTRACK_SYN_SENT2;
            return 0;
        }
        return lookup(tcp_states, COUNT(tcp_states), name, state);
    }
    if (proto == IPPROTO_SCTP)
        return lookup(sctp_states, COUNT(sctp_states), name, state);
    return ENOENT;
}

const char *const *netops_ct_status_names(size_t *n)
{
    *n = COUNT(status_names);
    return status_names;
}

const char *netops_ct_strerror(int err)
{
    switch (err) {
    case EPERM: return "operation not permitted (needs CAP_NET_ADMIN; or the entry has FIXED_TIMEOUT)";
    case ENOMEM: return "conntrack table full (nf_conntrack_max reached) or out of memory";
    case EINVAL: return "kernel refused the entry as invalid (EINVAL: check tuple, protocol, state, ICMP type and timeout)";
    case EEXIST: return "entry already exists";
    case ENOENT: return "no such entry";
    case EBUSY: return "status change refused by the kernel (EBUSY)";
    case EOPNOTSUPP: return "not supported on update (NAT or master tuple can only be set at creation)";
    case ENOBUFS: return "netlink receive buffer overflowed; result unknown";
    case EAFNOSUPPORT: return "address family not supported (conntrack module for it not loaded?)";
    case EPROTONOSUPPORT: return "protocol not supported by conntrack";
    default: return strerror(err);
    }
}

/* ---------------------------------------------------------------- sockets */

struct nsjob { int nsfd, fd, err, in_setns; };

/* Start fn(arg) on a new thread that blocks every signal, so signals go to
 * the caller's threads as ever.  0 or pthread_create's error. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static void *ns_socket_thread(void *arg)
{
    struct nsjob *job = arg;
    if (setns(job->nsfd, CLONE_NEWNET) < 0) {
        job->err = errno;
        job->in_setns = 1;
        return NULL;
    }
    job->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (job->fd < 0)
        job->err = errno;
    return NULL;
}

/* A netfilter netlink socket in namespace nsfd (-1: ours), bound to groups. */
static int new_socket(int nsfd, unsigned groups, int rcvbuf, int *fdp, uint32_t *portid,
                      int *in_setns)
{
    int fd;
    if (nsfd >= 0) {
        struct nsjob job = { nsfd, -1, 0, 0 };
        pthread_t t;
        int rc = start_thread(&t, ns_socket_thread, &job);
        if (rc)
            return rc;
        pthread_join(t, NULL);
        if (job.err) {
            if (in_setns)
                *in_setns = job.in_setns;
            return job.err;
        }
        fd = job.fd;
    } else {
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (fd < 0)
            return errno;
    }
    int one = 1, sz = rcvbuf;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    sz = CT_SNDBUF;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        int e = errno;
        close(fd);
        return e;
    }
    *fdp = fd;
    *portid = sa.nl_pid;
    return 0;
}

static struct netops_ct *ct_alloc(void)
{
    struct netops_ct *ct = calloc(1, sizeof *ct);
    if (!ct)
        return NULL;
    ct->fd = ct->nsfd = -1;
    ct->sbuf = malloc(CT_SENDMAX + CT_MSGMAX);
    ct->rslots = malloc((size_t)CT_RVEC * CT_RSLOT);
    if (!ct->sbuf || !ct->rslots) {
        netops_ct_close(ct);
        return NULL;
    }
    return ct;
}

static void set_batch_max(struct netops_ct *ct)
{
    int rcv = 0;
    socklen_t l = sizeof rcv;
    if (getsockopt(ct->fd, SOL_SOCKET, SO_RCVBUF, &rcv, &l) < 0)
        rcv = 212992;
    /* every reply to a batch must fit: a queued skb costs about 1 KiB */
    ct->batch_max = (size_t)rcv / 1024;
    if (ct->batch_max > 2048)
        ct->batch_max = 2048;
    if (ct->batch_max < 16)
        ct->batch_max = 16;
}

/* A second socket in ct's namespace, for a worker thread. */
static int ct_clone(struct netops_ct *ct, struct netops_ct **out)
{
    struct netops_ct *w = ct_alloc();
    if (!w)
        return ENOMEM;
    int err = new_socket(ct->nsfd, 0, CT_RCVBUF, &w->fd, &w->portid, NULL);
    if (err) {
        netops_ct_close(w);
        return err;
    }
    set_batch_max(w);
    w->seq = ct->seq;
    *out = w;
    return 0;
}

int netops_ct_open(struct netops_ct **out, const char *netns, const char **where)
{
    struct netops_ct *ct = ct_alloc();
    *where = "socket";
    if (!ct)
        return ENOMEM;
    int err = 0;
    if (!err && netns) {
        char path[4096];
        if (!*netns || strchr(netns, '/') || strcmp(netns, ".") == 0 || strcmp(netns, "..") == 0)
            err = EINVAL;
        else if (snprintf(path, sizeof path, "/run/netns/%s", netns) >= (int)sizeof path)
            err = ENAMETOOLONG;
        else if ((ct->nsfd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            err = errno;
        if (err)
            *where = "namespace";
    }
    if (!err) {
        int in_setns = 0;
        err = new_socket(ct->nsfd, 0, CT_RCVBUF, &ct->fd, &ct->portid, &in_setns);
        if (in_setns)
            *where = "namespace";   /* setns refused: not a namespace, or no privilege */
    }
    if (err) {
        netops_ct_close(ct);
        return err;
    }
    set_batch_max(ct);
    ct->seq = (uint32_t)time(NULL) << 8;
    *out = ct;
    return 0;
}

void netops_ct_close(struct netops_ct *ct)
{
    if (!ct)
        return;
    if (ct->fd >= 0)
        close(ct->fd);
    if (ct->nsfd >= 0)
        close(ct->nsfd);
    free(ct->sbuf);
    free(ct->rslots);
    free(ct);
}

static struct nlmsghdr *put_header(char *buf, uint16_t type, uint16_t flags,
                                   uint32_t seq, uint8_t family)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_seq = seq;
    struct nfgenmsg *nfh = mnl_nlmsg_put_extra_header(nlh, sizeof *nfh);
    nfh->nfgen_family = family;
    nfh->version = NFNETLINK_V0;
    nfh->res_id = 0;
    return nlh;
}

static int send_all(int fd, const void *buf, size_t len)
{
    ssize_t r;
    do
        r = send(fd, buf, len, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno;
    return (size_t)r == len ? 0 : EIO;
}

/* One request, replies through cb until the ACK (or error). */
static int request(struct netops_ct *ct, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
    int err = send_all(ct->fd, nlh, nlh->nlmsg_len);
    if (err)
        return err;
    uint32_t seq = nlh->nlmsg_seq;
    char *buf = ct->rslots;
    size_t cap = (size_t)CT_RVEC * CT_RSLOT;
    for (;;) {
        ssize_t n = recv(ct->fd, buf, cap, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        int r = mnl_cb_run(buf, (size_t)n, seq, ct->portid, cb, data);
        if (r == MNL_CB_ERROR)
            return errno ? errno : EIO;
        if (r == MNL_CB_STOP)
            return 0;
    }
}

/* ---------------------------------------------------------------- entries */

int netops_ct_has_ports(int proto)
{
    return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
           proto == IPPROTO_DCCP || proto == IPPROTO_UDPLITE;
}

static int is_icmp(uint8_t proto)
{
    return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

/* B_UPDATE creates when missing; B_UPDATE_ONLY fails with ENOENT instead. */
enum {
    B_CREATE = NETOPS_CT_REQ_CREATE, B_UPDATE = NETOPS_CT_REQ_UPDATE,
    B_UPDATE_ONLY = NETOPS_CT_REQ_UPDATE_ONLY, B_TIMEOUT = NETOPS_CT_REQ_TIMEOUT,
    B_DELETE = NETOPS_CT_REQ_DELETE,
};

/*
 * Requests are written straight into the send buffer, attribute by
 * attribute: the bytes libnetfilter_conntrack's nfct_nlmsg_build() writes
 * for the same entry (spec/c/ct_build.c compares them for every field),
 * without its heap object per entry.  A commit builds hundreds of
 * thousands.  The caller leaves CT_MSGMAX bytes of room; the largest
 * request (IPv6, NAT both ways, a master) is under 600.
 */
static inline struct nlattr *msg_tail(struct nlmsghdr *h)
{
    return (struct nlattr *)(void *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
}

static inline void put(struct nlmsghdr *h, uint16_t type, const void *v, size_t len)
{
    struct nlattr *a = msg_tail(h);
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + len);
    memcpy((char *)a + NLA_HDRLEN, v, len);
    memset((char *)a + NLA_HDRLEN + len, 0, NLA_ALIGN(len) - len);
    h->nlmsg_len += NLA_ALIGN(NLA_HDRLEN + len);
}

static inline void put_u8(struct nlmsghdr *h, uint16_t type, uint8_t v)
{
    put(h, type, &v, 1);
}

static inline void put_be16(struct nlmsghdr *h, uint16_t type, uint16_t v)
{
    v = htons(v);
    put(h, type, &v, 2);
}

static inline void put_be32(struct nlmsghdr *h, uint16_t type, uint32_t v)
{
    v = htonl(v);
    put(h, type, &v, 4);
}

static inline struct nlattr *nest(struct nlmsghdr *h, uint16_t type)
{
    struct nlattr *a = msg_tail(h);
    a->nla_type = type | NLA_F_NESTED;
    h->nlmsg_len += NLA_HDRLEN;
    return a;
}

static inline void nest_end(struct nlmsghdr *h, struct nlattr *a)
{
    a->nla_len = (uint16_t)((char *)msg_tail(h) - (char *)a);
}

/* One direction's tuple as ctnetlink carries it. */
struct wire_tuple {
    const unsigned char *src, *dst;
    uint8_t proto;
    uint16_t sport, dport;          /* host order */
    uint8_t type, code;             /* ICMP */
    uint16_t id;
    int has_zone;                   /* CTA_TUPLE_ZONE: this direction's zone */
    uint16_t zone;
};

/* The type of the answer to an ICMP(v6) query, as libnetfilter_conntrack
 * sets the reply tuple; 255 (which the kernel refuses) for others. */
static uint8_t icmp_reply_type(uint8_t family, uint8_t type)
{
    static const uint8_t v4[][2] = { { 8, 0 }, { 0, 8 }, { 13, 14 }, { 14, 13 },
                                     { 15, 16 }, { 16, 15 }, { 17, 18 }, { 18, 17 } };
    static const uint8_t v6[][2] = { { 128, 129 }, { 129, 128 }, { 139, 140 }, { 140, 139 } };
    const uint8_t (*map)[2] = family == AF_INET ? v4 : v6;
    size_t n = family == AF_INET ? COUNT(v4) : COUNT(v6);
    for (size_t i = 0; i < n; i++)
        if (map[i][0] == type)
            return map[i][1];
    return 255;
}

/* The tuple nest type: CTA_TUPLE_IP and CTA_TUPLE_PROTO of t.  Other
 * protocols than these (igmp...) are tracked by the generic tracker: their
 * tuple is the protocol number alone. */
static void put_tuple(struct nlmsghdr *h, uint16_t type, uint8_t family, const struct wire_tuple *t)
{
    size_t alen = family == AF_INET ? 4 : 16;
    struct nlattr *outer = nest(h, type), *n = nest(h, CTA_TUPLE_IP);
    put(h, family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, t->src, alen);
    put(h, family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, t->dst, alen);
    nest_end(h, n);
    n = nest(h, CTA_TUPLE_PROTO);
    put_u8(h, CTA_PROTO_NUM, t->proto);
    if (netops_ct_has_ports(t->proto) || t->proto == IPPROTO_GRE) {
        put_be16(h, CTA_PROTO_SRC_PORT, t->sport);
        put_be16(h, CTA_PROTO_DST_PORT, t->dport);
    } else if (t->proto == IPPROTO_ICMP) {
        put_u8(h, CTA_PROTO_ICMP_CODE, t->code);
        put_u8(h, CTA_PROTO_ICMP_TYPE, t->type);
        put_be16(h, CTA_PROTO_ICMP_ID, t->id);
    } else if (t->proto == IPPROTO_ICMPV6) {
        put_u8(h, CTA_PROTO_ICMPV6_CODE, t->code);
        put_u8(h, CTA_PROTO_ICMPV6_TYPE, t->type);
        put_be16(h, CTA_PROTO_ICMPV6_ID, t->id);
    }
    nest_end(h, n);
    if (t->has_zone)
        put_be16(h, CTA_TUPLE_ZONE, t->zone);
    nest_end(h, outer);
}

/* Does e's tuple carry ports, or GRE keys (which travel as the ports)? */
static int keyed(const struct netops_ct_entry *e)
{
    return (e->has & NETOPS_CT_HAS_PORTS) ||
           (e->proto == IPPROTO_GRE && (e->has & NETOPS_CT_HAS_GRE_KEYS));
}

/* The original tuple; reverse: its inverse (the reply when none is given),
 * in the reply direction's zone. */
static void orig_tuple(const struct netops_ct_entry *e, int reverse, struct wire_tuple *t)
{
    int ports = keyed(e);
    uint16_t s = ports ? e->orig.sport : 0, d = ports ? e->orig.dport : 0;
    t->src = reverse ? e->orig.dst : e->orig.src;
    t->dst = reverse ? e->orig.src : e->orig.dst;
    t->proto = e->proto;
    t->sport = reverse ? d : s;
    t->dport = reverse ? s : d;
    t->type = reverse ? icmp_reply_type(e->family, e->icmp_type) : e->icmp_type;
    t->code = e->icmp_code;
    t->id = e->icmp_id;
    t->has_zone = (e->has & (reverse ? NETOPS_CT_HAS_REPLY_ZONE : NETOPS_CT_HAS_ORIG_ZONE)) != 0;
    t->zone = reverse ? e->reply_zone : e->orig_zone;
}

/* The reply tuple as given (no NAT, or an update). */
static void given_reply(const struct netops_ct_entry *e, struct wire_tuple *t)
{
    int ports = keyed(e);
    orig_tuple(e, 1, t);
    t->src = e->reply.src;
    t->dst = e->reply.dst;
    t->sport = ports ? e->reply.sport : 0;
    t->dport = ports ? e->reply.dport : 0;
}

/* The master's tuple (create only: the kernel refuses it on update). */
static void put_master(struct nlmsghdr *h, const struct netops_ct_entry *e)
{
    int ports = netops_ct_has_ports(e->master_proto);
    struct wire_tuple t = { e->master.src, e->master.dst, e->master_proto,
                            ports ? e->master.sport : 0, ports ? e->master.dport : 0, 0, 0, 0,
                            0, 0 };
    put_tuple(h, CTA_TUPLE_MASTER, e->family, &t);
}

/* One NAT range of a single address (and port: TCP and UDP carry it). */
static void put_nat_range(struct nlmsghdr *h, uint16_t type, const struct netops_ct_entry *e,
                          const unsigned char *addr, int with_port, uint16_t port)
{
    struct nlattr *n = nest(h, type);
    if (e->family == AF_INET)
        put(h, CTA_NAT_MINIP, addr, 4);
    else
        put(h, CTA_NAT_V6_MINIP, addr, 16);
    if (with_port) {
        struct nlattr *p = nest(h, CTA_NAT_PROTO);
        if (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP) {
            put_be16(h, CTA_PROTONAT_PORT_MIN, port);
            put_be16(h, CTA_PROTONAT_PORT_MAX, port);
        }
        nest_end(h, p);
    }
    nest_end(h, n);
}

/*
 * NAT, as conntrackd commits it: a reply tuple that is not the inverse of
 * the original says how the connection was translated.  Reply destination
 * other than the original source: source NAT to it (and to its port);
 * reply source other than the original destination: destination NAT.  The
 * kernel sets the NAT up at creation only (an update cannot change it).
 * Returns whether e is translated; put: write the NAT attributes.
 */
static int nat_of(struct nlmsghdr *h, const struct netops_ct_entry *e, int put_it)
{
    size_t alen = e->family == AF_INET ? 4 : 16;
    int ports = (e->has & NETOPS_CT_HAS_PORTS) != 0;
    int snat = memcmp(e->reply.dst, e->orig.src, alen) != 0;
    int spat = ports && e->reply.dport != e->orig.sport;
    int dnat = memcmp(e->reply.src, e->orig.dst, alen) != 0;
    int dpat = ports && e->reply.sport != e->orig.dport;
    if (put_it && (snat || spat))
        put_nat_range(h, CTA_NAT_SRC, e, e->reply.dst, spat, e->reply.dport);
    if (put_it && (dnat || dpat))
        put_nat_range(h, CTA_NAT_DST, e, e->reply.src, dpat, e->reply.sport);
    return snat || spat || dnat || dpat;
}

/* Status bits a request sets as the entry gives them: the ones conntrack -I
 * -u can set (the kernel ignores NAT, OFFLOAD... and refuses to toggle
 * EXPECTED, CONFIRMED, DYING). */
#define STATUS_SETTABLE (IPS_SEEN_REPLY | IPS_ASSURED | IPS_FIXED_TIMEOUT)

/* The entry's settable status bits (an UNREPLIED entry stays unreplied, as
 * conntrack -R keeps it), or SEEN_REPLY|ASSURED for an entry without a
 * status, plus CONFIRMED as libnetfilter_conntrack always adds it. */
static uint32_t status_of(const struct netops_ct_entry *e, int mode)
{
    uint32_t status = IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED;
    if (e->has & NETOPS_CT_HAS_STATUS)
        status = (e->status & STATUS_SETTABLE) | IPS_CONFIRMED;
    /* Never EXPECTED on create (the kernel sets it itself for an entry with
     * a master).  On update it must be echoed: the kernel refuses to toggle
     * it (EBUSY).  CONFIRMED, as libnetfilter_conntrack always adds it. */
    if ((mode == B_UPDATE || mode == B_UPDATE_ONLY) &&
        ((e->has & NETOPS_CT_HAS_MASTER) ||
         ((e->has & NETOPS_CT_HAS_STATUS) && (e->status & IPS_EXPECTED))))
        status |= IPS_EXPECTED;
    return status;
}

/* DCCP state and role, each where given (the kernel wants both). */
static void put_dccp(struct nlmsghdr *h, const struct netops_ct_entry *e)
{
    if (!(e->has & (NETOPS_CT_HAS_STATE | NETOPS_CT_HAS_DCCP_ROLE)))
        return;
    struct nlattr *n = nest(h, CTA_PROTOINFO), *p = nest(h, CTA_PROTOINFO_DCCP);
    if (e->has & NETOPS_CT_HAS_STATE)
        put_u8(h, CTA_PROTOINFO_DCCP_STATE, e->state);
    if (e->has & NETOPS_CT_HAS_DCCP_ROLE)
        put_u8(h, CTA_PROTOINFO_DCCP_ROLE, e->dccp_role);
    nest_end(h, p);
    nest_end(h, n);
}

/* TCP and SCTP state (ESTABLISHED unless given); TCP is made liberal.
 * DCCP: put_dccp. */
static void put_protoinfo(struct nlmsghdr *h, const struct netops_ct_entry *e)
{
    static const uint8_t liberal[2] = { IP_CT_TCP_FLAG_BE_LIBERAL, IP_CT_TCP_FLAG_BE_LIBERAL };
    int given = (e->has & NETOPS_CT_HAS_STATE) != 0;
    if (e->proto == IPPROTO_DCCP)
        put_dccp(h, e);
    if (e->proto != IPPROTO_TCP && e->proto != IPPROTO_SCTP)
        return;
    struct nlattr *n = nest(h, CTA_PROTOINFO), *p;
    if (e->proto == IPPROTO_TCP) {
        p = nest(h, CTA_PROTOINFO_TCP);
        put_u8(h, CTA_PROTOINFO_TCP_STATE, given ? e->state : TCP_CONNTRACK_ESTABLISHED);
        put(h, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, liberal, 2);   /* flags, mask */
        put(h, CTA_PROTOINFO_TCP_FLAGS_REPLY, liberal, 2);
    } else {
        p = nest(h, CTA_PROTOINFO_SCTP);
        put_u8(h, CTA_PROTOINFO_SCTP_STATE, given ? e->state : SCTP_CONNTRACK_ESTABLISHED);
        /* vtags as conntrack-tools reads and writes them (see parse_protoinfo) */
        put(h, CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, &e->vtag_orig, 4);
        put(h, CTA_PROTOINFO_SCTP_VTAG_REPLY, &e->vtag_reply, 4);
    }
    nest_end(h, p);
    nest_end(h, n);
}

/* The attributes of a request of kind mode about e, after h's headers:
 * 0, or EINVAL (not an IPv4 or IPv6 entry). */
static int build_request(struct nlmsghdr *h, const struct netops_ct_entry *e, int mode,
                         uint32_t timeout)
{
    struct wire_tuple t;
    if (e->family != AF_INET && e->family != AF_INET6)
        return EINVAL;
    orig_tuple(e, 0, &t);
    put_tuple(h, CTA_TUPLE_ORIG, e->family, &t);
    int nat = mode == B_CREATE && (e->has & NETOPS_CT_HAS_REPLY) && nat_of(h, e, 0);
    if (mode == B_CREATE || mode == B_UPDATE || mode == B_UPDATE_ONLY) {
        if ((e->has & NETOPS_CT_HAS_REPLY) && !nat)
            given_reply(e, &t);
        else
            orig_tuple(e, 1, &t);
        put_tuple(h, CTA_TUPLE_REPLY, e->family, &t);
    }
    if (mode == B_CREATE && (e->has & NETOPS_CT_HAS_MASTER))
        put_master(h, e);
    if (mode != B_DELETE && mode != B_TIMEOUT)
        put_be32(h, CTA_STATUS, status_of(e, mode));
    if (mode != B_DELETE)
        put_be32(h, CTA_TIMEOUT, timeout);
    if (mode != B_DELETE && mode != B_TIMEOUT) {
        if (e->has & NETOPS_CT_HAS_MARK)
            put_be32(h, CTA_MARK, e->mark);
        put_protoinfo(h, e);
        if (nat)
            (void)nat_of(h, e, 1);
    }
    if (e->has & NETOPS_CT_HAS_ZONE)
        put_be16(h, CTA_ZONE, e->zone);
    return 0;
}

/*
 * Parsing a ctnetlink entry (dumps and events) walks the attributes with
 * libmnl straight into the plain struct: about twice as fast as
 * nfct_nlmsg_parse() into a heap nf_conntrack and reading it back, which
 * matters when a dump streams a few hundred thousand entries.  Every read
 * checks the attribute's length; unknown attributes are skipped.
 */
static int attr_u8(const struct nlattr *a, uint8_t *v)
{
    if (mnl_attr_get_payload_len(a) < 1)
        return 0;
    *v = mnl_attr_get_u8(a);
    return 1;
}

static int attr_be16(const struct nlattr *a, uint16_t *v)
{
    if (mnl_attr_get_payload_len(a) < 2)
        return 0;
    *v = ntohs(mnl_attr_get_u16(a));
    return 1;
}

static int attr_be32(const struct nlattr *a, uint32_t *v)
{
    if (mnl_attr_get_payload_len(a) < 4)
        return 0;
    *v = ntohl(mnl_attr_get_u32(a));
    return 1;
}

/*
 * SCTP verification tags are numbers as conntrack-tools shows and takes
 * them (`conntrack -L -o save`, `-I --orig-vtag`): libnetfilter_conntrack
 * converts them twice, so they are the attribute's bytes read in host
 * order.  Reading them so keeps netops' entries, conntrack's text and
 * what netops commits back all one number.
 */
static int attr_u32_host(const struct nlattr *a, uint32_t *v)
{
    if (mnl_attr_get_payload_len(a) < 4)
        return 0;
    memcpy(v, mnl_attr_get_payload(a), 4);
    return 1;
}

struct ptuple {
    struct netops_ct_tuple *t;
    uint8_t proto;
    int has_ports, has_icmp, has_zone;
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id, zone;
};

static void parse_tuple(const struct nlattr *nest, struct ptuple *p)
{
    const struct nlattr *a, *b;
    mnl_attr_for_each_nested(a, nest) {
        switch (mnl_attr_get_type(a)) {
        case CTA_TUPLE_IP:
            mnl_attr_for_each_nested(b, a) {
                int t = mnl_attr_get_type(b);
                size_t len = mnl_attr_get_payload_len(b);
                if ((t == CTA_IP_V4_SRC || t == CTA_IP_V4_DST) && len >= 4)
                    memcpy(t == CTA_IP_V4_SRC ? p->t->src : p->t->dst, mnl_attr_get_payload(b), 4);
                else if ((t == CTA_IP_V6_SRC || t == CTA_IP_V6_DST) && len >= 16)
                    memcpy(t == CTA_IP_V6_SRC ? p->t->src : p->t->dst, mnl_attr_get_payload(b), 16);
            }
            break;
        case CTA_TUPLE_PROTO:
            mnl_attr_for_each_nested(b, a) {
                switch (mnl_attr_get_type(b)) {
                case CTA_PROTO_NUM: attr_u8(b, &p->proto); break;
                case CTA_PROTO_SRC_PORT: p->has_ports |= attr_be16(b, &p->t->sport); break;
                case CTA_PROTO_DST_PORT: p->has_ports |= attr_be16(b, &p->t->dport); break;
                case CTA_PROTO_ICMP_ID: case CTA_PROTO_ICMPV6_ID:
                    attr_be16(b, &p->icmp_id); break;
                case CTA_PROTO_ICMP_TYPE: case CTA_PROTO_ICMPV6_TYPE:
                    p->has_icmp |= attr_u8(b, &p->icmp_type); break;
                case CTA_PROTO_ICMP_CODE: case CTA_PROTO_ICMPV6_CODE:
                    attr_u8(b, &p->icmp_code); break;
                }
            }
            break;
        case CTA_TUPLE_ZONE:     /* a zone for this direction only */
            p->has_zone |= attr_be16(a, &p->zone);
            break;
        }
    }
}

static void parse_protoinfo(const struct nlattr *nest, struct netops_ct_entry *e)
{
    const struct nlattr *a, *b;
    mnl_attr_for_each_nested(a, nest) {
        int t = mnl_attr_get_type(a);
        if (t == CTA_PROTOINFO_TCP) {
            mnl_attr_for_each_nested(b, a)
                if (mnl_attr_get_type(b) == CTA_PROTOINFO_TCP_STATE && attr_u8(b, &e->state))
                    e->has |= NETOPS_CT_HAS_STATE;
        } else if (t == CTA_PROTOINFO_DCCP) {
            mnl_attr_for_each_nested(b, a) {
                int u = mnl_attr_get_type(b);
                if (u == CTA_PROTOINFO_DCCP_STATE && attr_u8(b, &e->state))
                    e->has |= NETOPS_CT_HAS_STATE;
                else if (u == CTA_PROTOINFO_DCCP_ROLE && attr_u8(b, &e->dccp_role))
                    e->has |= NETOPS_CT_HAS_DCCP_ROLE;
            }
        } else if (t == CTA_PROTOINFO_SCTP) {
            mnl_attr_for_each_nested(b, a) {
                switch (mnl_attr_get_type(b)) {
                case CTA_PROTOINFO_SCTP_STATE:
                    if (attr_u8(b, &e->state))
                        e->has |= NETOPS_CT_HAS_STATE;
                    break;
                case CTA_PROTOINFO_SCTP_VTAG_ORIGINAL:
                    if (attr_u32_host(b, &e->vtag_orig))
                        e->has |= NETOPS_CT_HAS_VTAG;
                    break;
                case CTA_PROTOINFO_SCTP_VTAG_REPLY:
                    if (attr_u32_host(b, &e->vtag_reply))
                        e->has |= NETOPS_CT_HAS_VTAG;
                    break;
                }
            }
        }
    }
}

/* What the tuples say beyond addresses: ports, GRE keys (the kernel's GRE
 * tuple carries them as ports), ICMP, directional zones; and which
 * protocol-specific fields the protocol keeps. */
static void finish_entry(struct netops_ct_entry *e, const struct ptuple *orig,
                         const struct ptuple *reply)
{
    if (netops_ct_has_ports(e->proto) && orig->has_ports)
        e->has |= NETOPS_CT_HAS_PORTS;
    if (e->proto == IPPROTO_GRE && orig->has_ports)
        e->has |= NETOPS_CT_HAS_GRE_KEYS;
    if (orig->has_zone) {
        e->orig_zone = orig->zone;
        e->has |= NETOPS_CT_HAS_ORIG_ZONE;
    }
    if (reply->has_zone) {
        e->reply_zone = reply->zone;
        e->has |= NETOPS_CT_HAS_REPLY_ZONE;
    }
    if (is_icmp(e->proto) && orig->has_icmp) {
        e->has |= NETOPS_CT_HAS_ICMP;
        e->icmp_type = orig->icmp_type;
        e->icmp_code = orig->icmp_code;
        e->icmp_id = orig->icmp_id;
    }
    if (e->proto != IPPROTO_TCP && e->proto != IPPROTO_SCTP && e->proto != IPPROTO_DCCP)
        e->has &= ~(unsigned)NETOPS_CT_HAS_STATE;
    if (e->proto != IPPROTO_SCTP)
        e->has &= ~(unsigned)NETOPS_CT_HAS_VTAG;
    if (e->proto != IPPROTO_DCCP)
        e->has &= ~(unsigned)NETOPS_CT_HAS_DCCP_ROLE;
}

/* Returns 0, or EBADMSG when the message holds no original tuple. */
static int parse_entry(const struct nlmsghdr *nlh, struct netops_ct_entry *e)
{
    const struct nfgenmsg *nfh = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *a;
    int have_orig = 0;
    memset(e, 0, sizeof *e);
    if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof *nfh)
        return EBADMSG;
    e->family = nfh->nfgen_family;
    struct ptuple orig = { &e->orig, 0, 0, 0, 0, 0, 0, 0, 0 };
    struct ptuple reply = { &e->reply, 0, 0, 0, 0, 0, 0, 0, 0 };
    struct ptuple master = { &e->master, 0, 0, 0, 0, 0, 0, 0, 0 };
    mnl_attr_for_each(a, nlh, sizeof *nfh) {
        switch (mnl_attr_get_type(a)) {
        case CTA_TUPLE_ORIG: parse_tuple(a, &orig); have_orig = 1; break;
        case CTA_TUPLE_REPLY: parse_tuple(a, &reply); e->has |= NETOPS_CT_HAS_REPLY; break;
        case CTA_TUPLE_MASTER: parse_tuple(a, &master); e->has |= NETOPS_CT_HAS_MASTER; break;
        case CTA_PROTOINFO: parse_protoinfo(a, e); break;
        case CTA_STATUS:
            if (attr_be32(a, &e->status)) e->has |= NETOPS_CT_HAS_STATUS;
            break;
        case CTA_TIMEOUT:
            if (attr_be32(a, &e->timeout)) e->has |= NETOPS_CT_HAS_TIMEOUT;
            break;
        case CTA_MARK:
            if (attr_be32(a, &e->mark)) e->has |= NETOPS_CT_HAS_MARK;
            break;
        case CTA_ID:
            if (attr_be32(a, &e->id)) e->has |= NETOPS_CT_HAS_ID;
            break;
        case CTA_ZONE:
            if (attr_be16(a, &e->zone)) e->has |= NETOPS_CT_HAS_ZONE;
            break;
        }
    }
    if (!have_orig)
        return EBADMSG;
    e->proto = orig.proto;
    finish_entry(e, &orig, &reply);
    if (e->has & NETOPS_CT_HAS_MASTER)
        e->master_proto = master.proto;
    return 0;
}

int netops_ct_parse(const void *msg, size_t len, struct netops_ct_entry *e)
{
    const struct nlmsghdr *nlh = msg;
    if (len < NLMSG_HDRLEN || nlh->nlmsg_len < NLMSG_HDRLEN || NLMSG_ALIGN(nlh->nlmsg_len) > len)
        return EBADMSG;
    if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK)
        return EBADMSG;
    return parse_entry(nlh, e);
}

/* The message type and flags of a request of kind mode. */
static void request_kind(int mode, uint16_t *type, uint16_t *flags)
{
    *type = mode == B_DELETE ? IPCTNL_MSG_CT_DELETE : IPCTNL_MSG_CT_NEW;
    *flags = NLM_F_REQUEST;
    if (mode == B_CREATE)
        *flags |= NLM_F_CREATE | NLM_F_EXCL;
    else if (mode == B_UPDATE)
        *flags |= NLM_F_CREATE;
}

int netops_ct_build(const struct netops_ct_entry *e, int kind, void *buf, size_t cap,
                    size_t *len)
{
    uint16_t type, flags;
    if (cap < CT_MSGMAX)
        return ENOSPC;
    if (kind < B_CREATE || kind > B_DELETE)
        return EINVAL;
    request_kind(kind, &type, &flags);
    struct nlmsghdr *nlh = put_header(buf, type, flags, 1, e->family);
    int err = build_request(nlh, e, kind, e->timeout);
    if (err)
        return err;
    *len = nlh->nlmsg_len;
    return 0;
}

static int addr_eq(const unsigned char *a, const unsigned char *b, int family)
{
    return memcmp(a, b, family == AF_INET ? 4 : 16) == 0;
}

int netops_ct_match(const struct netops_ct_filter *f, const struct netops_ct_entry *e)
{
    if (!f)
        return 1;
    unsigned h = f->has;
    if ((h & NETOPS_CTF_FAMILY) && e->family != f->family) return 0;
    if ((h & NETOPS_CTF_PROTO) && e->proto != f->proto) return 0;
    if ((h & NETOPS_CTF_MARK) && (e->mark & f->mark_mask) != (f->mark & f->mark_mask)) return 0;
    if ((h & NETOPS_CTF_ZONE) && e->zone != f->zone) return 0;
    if ((h & NETOPS_CTF_STATUS) && (e->status & f->status) != f->status) return 0;
    if ((h & NETOPS_CTF_SRC) &&
        (e->family != f->src_family || !addr_eq(e->orig.src, f->src, e->family))) return 0;
    if ((h & NETOPS_CTF_DST) &&
        (e->family != f->dst_family || !addr_eq(e->orig.dst, f->dst, e->family))) return 0;
    if ((h & NETOPS_CTF_SPORT) &&
        (!(e->has & NETOPS_CT_HAS_PORTS) || e->orig.sport != f->sport)) return 0;
    if ((h & NETOPS_CTF_DPORT) &&
        (!(e->has & NETOPS_CT_HAS_PORTS) || e->orig.dport != f->dport)) return 0;
    return 1;
}

/* ---------------------------------------------------------------- batches */

/* One run of requests of kind mode for e[idx[0..n-1]] (see run_batches). */
struct batch {
    struct netops_ct *ct;
    const struct netops_ct_entry *e;
    const size_t *idx;
    size_t n;
    int mode;
    uint16_t type, flags;   /* of every request */
    uint32_t timeout;       /* non-zero: overrides each entry's */
    int *err;
    int *enomem;
};

/*
 * Build the requests from *k on into ct->sbuf until the batch or the buffer
 * is full, numbered from seq0; *k moves past them.  A request that cannot
 * be built gets its err[] and is not sent.  *used: the bytes to send; *tail:
 * the last request in them (NULL: none).  Returns 0 or ENOMEM.
 */
static int fill_batch(struct batch *b, size_t *k, uint32_t seq0, size_t *used,
                      struct nlmsghdr **tail)
{
    struct netops_ct *ct = b->ct;
    size_t first = *k, off = 0;
    *tail = NULL;
    for (; *k < b->n && *k - first < ct->batch_max && off < CT_SENDMAX; (*k)++) {
        const struct netops_ct_entry *x = &b->e[b->idx[*k]];
        struct nlmsghdr *h = put_header(ct->sbuf + off, b->type, b->flags,
                                        seq0 + (uint32_t)(*k - first), x->family);
        int err = build_request(h, x, b->mode, b->timeout ? b->timeout : x->timeout);
        if (err) {
            b->err[*k] = err;
            continue;   /* not sent; off unchanged overwrites it */
        }
        b->err[*k] = 0;
        off += NLMSG_ALIGN(h->nlmsg_len);
        *tail = h;
    }
    *used = off;
    return 0;
}

/* The errors in one received buffer into err[first..k); 1 when it holds the
 * reply to the batch's last request (seq0 + k - first - 1 at most). */
static int note_errors(struct batch *b, const struct nlmsghdr *h, int len, size_t first,
                       size_t k, uint32_t seq0, uint32_t last_seq)
{
    int last = 0;
    for (; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
        if (h->nlmsg_type != NLMSG_ERROR)
            continue;
        const struct nlmsgerr *ne = mnl_nlmsg_get_payload(h);
        uint32_t s = h->nlmsg_seq - seq0;
        if (h->nlmsg_seq == last_seq)
            last = 1;
        if (s < k - first && ne->error) {
            b->err[first + s] = -ne->error;     /* the kernel's -errno */
            if (-ne->error == ENOMEM)
                __atomic_store_n(b->enomem, 1, __ATOMIC_RELAXED);
        }
    }
    return last;
}

/* Read the replies to requests first..k-1 until the ACK of last_seq. */
static int read_replies(struct batch *b, size_t first, size_t k, uint32_t seq0, uint32_t last_seq)
{
    struct netops_ct *ct = b->ct;
    struct mmsghdr mm[CT_RVEC];
    struct iovec iov[CT_RVEC];
    for (int got_last = 0; !got_last;) {
        for (int i = 0; i < CT_RVEC; i++) {
            iov[i].iov_base = ct->rslots + (size_t)i * CT_RSLOT;
            iov[i].iov_len = CT_RSLOT;
            memset(&mm[i].msg_hdr, 0, sizeof mm[i].msg_hdr);
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        int got = recvmmsg(ct->fd, mm, CT_RVEC, MSG_WAITFORONE, NULL);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno == ENOBUFS) {   /* replies lost: outcome unknown */
            for (size_t j = first; j < k; j++)
                if (!b->err[j])
                    b->err[j] = ENOBUFS;
            return 0;
        }
        if (got < 0)
            return errno;
        for (int i = 0; i < got; i++)
            got_last |= note_errors(b, iov[i].iov_base, (int)mm[i].msg_len, first, k, seq0,
                                    last_seq);
    }
    return 0;
}

/*
 * Send requests of kind mode for e[idx[0..n-1]], in batches; err[k] gets 0
 * or the errno of request k.  Returns 0 or a socket errno.  *enomem is set
 * when some request failed with ENOMEM (the table is full); then requests
 * that may create an entry (B_CREATE, B_UPDATE) are not sent any more and
 * their err[] is ENOMEM.  Updates of existing entries, deletes and timeout
 * changes need no room and are still sent.
 */
static int run_batches(struct netops_ct *ct, const struct netops_ct_entry *e,
                       const size_t *idx, size_t n, int mode, uint32_t timeout_override,
                       int *err, int *enomem)
{
    struct batch b = { ct, e, idx, n, mode, 0, 0, timeout_override, err, enomem };
    request_kind(mode, &b.type, &b.flags);
    int creates = mode == B_CREATE || mode == B_UPDATE;
    for (size_t k = 0; k < n;) {
        if (creates && __atomic_load_n(enomem, __ATOMIC_RELAXED)) {
            for (; k < n; k++)
                err[k] = ENOMEM;
            return 0;
        }
        size_t first = k, off;
        uint32_t seq0 = ct->seq;
        struct nlmsghdr *tail;
        int rc = fill_batch(&b, &k, seq0, &off, &tail);
        if (rc)
            return rc;
        if (!tail)
            continue;
        /* the last request sent asks for the ACK that ends the replies */
        tail->nlmsg_flags |= NLM_F_ACK;
        uint32_t last_seq = tail->nlmsg_seq;
        ct->seq = seq0 + (uint32_t)(k - first) + 1;
        if ((rc = send_all(ct->fd, ct->sbuf, off)) != 0 ||
            (rc = read_replies(&b, first, k, seq0, last_seq)) != 0)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- commit */

struct commit_job {
    struct netops_ct *ct;
    const struct netops_ct_entry *e;
    size_t lo, hi;
    const unsigned char *skip;
    const struct netops_ct_commit_opts *opts;
    struct netops_ct_result *result;
    int *enomem;
    int rc;
};

/* One chunk of a job's range and its scratch (CT_CHUNK entries each). */
struct chunk {
    struct commit_job *j;
    uint32_t tmo;             /* opts->timeout: overrides each entry's */
    size_t *idx, *upd;        /* entries to send; those to send again */
    int *err, *err2;          /* per request of idx, of upd */
    size_t m;                 /* entries in idx */
    size_t created, updated;
};

#define CT_CHUNK 4096

/* Record the outcome of entry i: failed with err, else ok_outcome. */
static void settle(struct chunk *c, size_t i, int err, int ok_outcome)
{
    struct netops_ct_result *r = &c->j->result[i];
    r->outcome = err ? NETOPS_CT_FAILED : ok_outcome;
    r->err = err;
    if (!err && ok_outcome == NETOPS_CT_CREATED)
        c->created++;
    else if (!err)
        c->updated++;
}

static int send_list(struct chunk *c, const size_t *list, size_t n, int mode, int *err)
{
    struct commit_job *j = c->j;
    return run_batches(j->ct, j->e, list, n, mode, c->tmo, err, j->enomem);
}

/* The entries of e[lo..hi) to send: not skipped, with a timeout. */
static void chunk_select(struct chunk *c, size_t lo, size_t hi)
{
    const struct commit_job *j = c->j;
    c->m = c->created = c->updated = 0;
    for (size_t i = lo; i < hi; i++) {
        if (j->skip && j->skip[i])
            continue;
        if (!c->tmo && !(j->e[i].has & NETOPS_CT_HAS_TIMEOUT))
            settle(c, i, EINVAL, 0);
        else
            c->idx[c->m++] = i;
    }
}

/*
 * Delete list[0..n) (ENOENT: was not there), then create them anew, as
 * conntrackd does (NAT and master can only be set at creation).  Outcome:
 * updated for those that existed, missing for the others.
 */
static int delete_and_create(struct chunk *c, size_t *list, size_t n, int missing)
{
    int rc = send_list(c, list, n, B_DELETE, c->err);
    if (rc)
        return rc;
    size_t w = 0;
    for (size_t k = 0; k < n; k++) {
        if (c->err[k] && c->err[k] != ENOENT) {
            settle(c, list[k], c->err[k], 0);
        } else {
            list[w] = list[k];
            c->err[w++] = c->err[k];    /* 0: existed */
        }
    }
    if ((rc = send_list(c, list, w, B_CREATE, c->err2)) != 0)
        return rc;
    for (size_t k = 0; k < w; k++)
        settle(c, list[k], c->err2[k], c->err[k] == 0 ? NETOPS_CT_UPDATED : missing);
    return 0;
}

/* Entries c->upd[0..u) that exist (or may: ENOMEM): replaced, or updated
 * (update-only on a full table: missing then means not created). */
static int commit_existing(struct chunk *c, size_t u, int replace)
{
    int full = __atomic_load_n(c->j->enomem, __ATOMIC_RELAXED);
    /* a full table: never delete what cannot be created again */
    if (replace && !full)
        return delete_and_create(c, c->upd, u, NETOPS_CT_UPDATED);
    int rc = send_list(c, c->upd, u, full ? B_UPDATE_ONLY : B_UPDATE, c->err2);
    if (rc)
        return rc;
    for (size_t k = 0; k < u; k++)
        settle(c, c->upd[k], full && c->err2[k] == ENOENT ? ENOMEM : c->err2[k],
               NETOPS_CT_UPDATED);
    return 0;
}

/* Create; those that exist (EEXIST) again as updates, or replaced. */
static int commit_create_first(struct chunk *c, int create_only, int replace)
{
    size_t u = 0;
    int rc = send_list(c, c->idx, c->m, B_CREATE, c->err);
    if (rc)
        return rc;
    for (size_t k = 0; k < c->m; k++) {
        int err = c->err[k];
        if ((err == EEXIST || err == ENOMEM) && !create_only)
            c->upd[u++] = c->idx[k];   /* ENOMEM: not sent, or full; it may exist */
        else
            settle(c, c->idx[k], err, NETOPS_CT_CREATED);
    }
    return u ? commit_existing(c, u, replace) : 0;
}

/* The table held most of the last chunk: update first, and create those
 * that are missing (ENOENT). */
static int commit_update_first(struct chunk *c)
{
    size_t u = 0;
    int rc = send_list(c, c->idx, c->m, B_UPDATE_ONLY, c->err);
    if (rc)
        return rc;
    for (size_t k = 0; k < c->m; k++) {
        if (c->err[k] == ENOENT)
            c->upd[u++] = c->idx[k];
        else
            settle(c, c->idx[k], c->err[k], NETOPS_CT_UPDATED);
    }
    if (!u || (rc = send_list(c, c->upd, u, B_CREATE, c->err2)) != 0)
        return rc;
    for (size_t k = 0; k < u; k++)
        settle(c, c->upd[k], c->err2[k], NETOPS_CT_CREATED);
    return 0;
}

/*
 * Commit e[lo..hi) on j->ct, chunk by chunk.  Each chunk is sent create
 * first; when most of the previous chunk existed already, update first (or,
 * replacing, delete first): one request per entry, not two.  Once the table
 * is full (ENOMEM), the rest still goes through: entries that exist are
 * updated in place, which needs no room; only the missing ones fail.
 */
static int commit_range(struct commit_job *j)
{
    const struct netops_ct_commit_opts *opts = j->opts;
    int create_only = opts && opts->create_only, replace = opts && opts->replace;
    struct chunk c = { j, opts ? opts->timeout : 0, malloc(CT_CHUNK * sizeof(size_t)),
                       malloc(CT_CHUNK * sizeof(size_t)), malloc(CT_CHUNK * sizeof(int)),
                       malloc(CT_CHUNK * sizeof(int)), 0, 0, 0 };
    int rc = c.idx && c.upd && c.err && c.err2 ? 0 : ENOMEM, prefer_update = 0;
    for (size_t base = j->lo; !rc && base < j->hi; base += CT_CHUNK) {
        chunk_select(&c, base, j->hi - base < CT_CHUNK ? j->hi : base + CT_CHUNK);
        int full = __atomic_load_n(j->enomem, __ATOMIC_RELAXED);
        if (prefer_update && replace && !full)
            rc = delete_and_create(&c, c.idx, c.m, NETOPS_CT_CREATED);
        else if (prefer_update)
            rc = commit_update_first(&c);
        else
            rc = commit_create_first(&c, create_only, replace);
        prefer_update = !create_only && c.updated > c.created;
    }
    free(c.idx);
    free(c.upd);
    free(c.err);
    free(c.err2);
    return rc;
}

static void *commit_thread(void *arg)
{
    struct commit_job *j = arg;
    j->rc = commit_range(j);
    return NULL;
}

#define CT_MAX_THREADS 8

static int commit_core(struct netops_ct *ct, const struct netops_ct_entry *e, size_t n,
                       const unsigned char *skip, const struct netops_ct_commit_opts *opts,
                       struct netops_ct_result *result, int *enomem_p)
{
    int rc = 0;
    size_t threads = opts && opts->threads ? opts->threads : 0;
    if (!threads)
        threads = 1;   /* see netops_ct_commit_opts.threads */
    if (threads > CT_MAX_THREADS)
        threads = CT_MAX_THREADS;
    if (threads > n / 1024 + 1)
        threads = n / 1024 + 1;
    struct commit_job jobs[CT_MAX_THREADS];
    pthread_t tid[CT_MAX_THREADS];
    int started[CT_MAX_THREADS] = { 0 };
    size_t used = 0;
    for (size_t k = 0; k < threads; k++) {
        struct netops_ct *w = ct;
        if (k > 0 && ct_clone(ct, &w) != 0)
            break;      /* fewer workers: the ranges are cut below */
        jobs[k].ct = w;
        used++;
    }
    for (size_t k = 0; k < used; k++) {
        jobs[k].e = e;
        jobs[k].lo = n * k / used;
        jobs[k].hi = n * (k + 1) / used;
        jobs[k].skip = skip;
        jobs[k].opts = opts;
        jobs[k].result = result;
        jobs[k].enomem = enomem_p;
        jobs[k].rc = 0;
    }
    for (size_t k = 1; k < used; k++) {
        if (start_thread(&tid[k], commit_thread, &jobs[k]) == 0) {
            started[k] = 1;
        } else {   /* run it here instead */
            jobs[k].rc = commit_range(&jobs[k]);
        }
    }
    jobs[0].rc = commit_range(&jobs[0]);
    for (size_t k = 1; k < used; k++)
        if (started[k])
            pthread_join(tid[k], NULL);
    for (size_t k = 0; k < used; k++) {
        if (!rc && jobs[k].rc)
            rc = jobs[k].rc;
        if (k > 0) {
            ct->seq = jobs[k].ct->seq > ct->seq ? jobs[k].ct->seq : ct->seq;
            netops_ct_close(jobs[k].ct);
        }
    }
    return rc;
}

int netops_ct_commit(struct netops_ct *ct, const struct netops_ct_entry *e, size_t n,
                     const unsigned char *skip, const struct netops_ct_commit_opts *opts,
                     struct netops_ct_result *result, int *stopped)
{
    int enomem = *stopped == ENOMEM, rc;
    size_t related = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip && skip[i])
            continue;
        result[i].outcome = NETOPS_CT_SKIPPED;
        result[i].err = 0;
        if (e[i].has & NETOPS_CT_HAS_MASTER)
            related++;
    }
    if (!related) {
        rc = commit_core(ct, e, n, skip, opts, result, &enomem);
    } else {
        /* masters (and unrelated entries) first, then the related ones */
        unsigned char *sk = malloc(n);
        if (!sk)
            return ENOMEM;
        for (size_t i = 0; i < n; i++)
            sk[i] = (skip && skip[i]) || (e[i].has & NETOPS_CT_HAS_MASTER);
        rc = commit_core(ct, e, n, sk, opts, result, &enomem);
        for (size_t i = 0; i < n; i++)
            sk[i] = (skip && skip[i]) || !(e[i].has & NETOPS_CT_HAS_MASTER);
        if (!rc && !enomem)
            rc = commit_core(ct, e, n, sk, opts, result, &enomem);
        free(sk);
    }
    if (enomem)
        *stopped = ENOMEM;
    return rc;
}

static void *pending_thread(void *arg)
{
    struct netops_ct_pending *p = arg;
    p->rc = netops_ct_commit(p->ct, p->e, p->n, p->skip, p->opts, p->result, &p->stopped);
    return NULL;
}

void netops_ct_commit_start(struct netops_ct_pending *p, struct netops_ct *ct,
                            const struct netops_ct_entry *e, size_t n, const unsigned char *skip,
                            const struct netops_ct_commit_opts *opts,
                            struct netops_ct_result *result, int stopped)
{
    *p = (struct netops_ct_pending){ .ct = ct, .e = e, .n = n, .skip = skip, .opts = opts,
                                     .result = result, .stopped = stopped };
    p->threaded = start_thread(&p->thread, pending_thread, p) == 0;
    if (!p->threaded)
        pending_thread(p);
}

int netops_ct_commit_wait(struct netops_ct_pending *p, int *stopped)
{
    if (p->threaded)
        pthread_join(p->thread, NULL);
    p->threaded = 0;
    *stopped = p->stopped;
    return p->rc;
}

/* ---------------------------------------------------------------- simple requests */

int netops_ct_delete(struct netops_ct *ct, const struct netops_ct_entry *e)
{
    size_t idx = 0;
    int err = 0, enomem = 0;
    int rc = run_batches(ct, e, &idx, 1, B_DELETE, 0, &err, &enomem);
    return rc ? rc : err;
}

struct get_ctx { struct netops_ct_entry *out; int found; };

static int get_cb(const struct nlmsghdr *nlh, void *data)
{
    struct get_ctx *g = data;
    if (parse_entry(nlh, g->out) == 0)
        g->found = 1;
    return MNL_CB_OK;
}

int netops_ct_get(struct netops_ct *ct, const struct netops_ct_entry *key,
                  struct netops_ct_entry *out)
{
    _Alignas(8) char buf[CT_MSGMAX];
    struct nlmsghdr *nlh = put_header(buf, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_ACK,
                                      ct->seq++, key->family);
    if (build_request(nlh, key, B_DELETE, 0))   /* tuple and zone only */
        return EINVAL;
    struct get_ctx g = { out, 0 };
    int rc = request(ct, nlh, get_cb, &g);
    if (rc)
        return rc;
    return g.found ? 0 : ENOENT;
}

static int stats_attr_cb(const struct nlattr *attr, void *data)
{
    uint32_t *v = data;
    int type = mnl_attr_get_type(attr);
    if ((type == CTA_STATS_GLOBAL_ENTRIES || type == CTA_STATS_GLOBAL_MAX_ENTRIES) &&
        mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
        v[type] = ntohl(mnl_attr_get_u32(attr));
    return MNL_CB_OK;
}

static int stats_cb(const struct nlmsghdr *nlh, void *data)
{
    mnl_attr_parse(nlh, sizeof(struct nfgenmsg), stats_attr_cb, data);
    return MNL_CB_OK;
}

int netops_ct_count(struct netops_ct *ct, uint32_t *count, uint32_t *max)
{
    char buf[256];
    uint32_t v[CTA_STATS_GLOBAL_MAX + 1] = { 0 };
    struct nlmsghdr *nlh = put_header(buf, IPCTNL_MSG_CT_GET_STATS,
                                      NLM_F_REQUEST | NLM_F_ACK, ct->seq++, AF_UNSPEC);
    int rc = request(ct, nlh, stats_cb, v);
    if (rc)
        return rc;
    *count = v[CTA_STATS_GLOBAL_ENTRIES];
    if (max)
        *max = v[CTA_STATS_GLOBAL_MAX_ENTRIES];
    return 0;
}

/* ---------------------------------------------------------------- dumps and events */

static int cursor_new(struct netops_ct *ct, unsigned groups, struct netops_ct_cursor **out)
{
    struct netops_ct_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return ENOMEM;
    int rc = new_socket(ct->nsfd, groups, groups ? CT_RCVBUF : (1 << 20), &c->fd, &c->portid,
                        NULL);
    if (rc) {
        free(c);
        return rc;
    }
    c->buf = c->own;
    *out = c;
    return 0;
}

/* Flags of the kernel's CTA_FILTER (net/netfilter/nf_internals.h; not in
 * the uapi headers).  Linux 5.8+; older kernels ignore the attribute. */
#define CTF_IP_SRC    (1u << 0)
#define CTF_IP_DST    (1u << 1)
#define CTF_PROTO_NUM (1u << 3)
#define CTF_SRC_PORT  (1u << 4)
#define CTF_DST_PORT  (1u << 5)

/*
 * Addresses, protocol and (TCP/UDP) ports of the original tuple, filtered
 * in the kernel: fewer records cross to userspace.  Every filter field is
 * checked again in C, so a kernel that filters less is still correct.
 */
static void put_tuple_filter(struct nlmsghdr *nlh, const struct netops_ct_filter *f, uint8_t family)
{
    uint32_t flags = 0;
    if (family != AF_INET && family != AF_INET6)
        return;
    if ((f->has & NETOPS_CTF_SRC) && f->src_family == family)
        flags |= CTF_IP_SRC;
    if ((f->has & NETOPS_CTF_DST) && f->dst_family == family)
        flags |= CTF_IP_DST;
    if (f->has & NETOPS_CTF_PROTO) {
        flags |= CTF_PROTO_NUM;
        if (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP) {
            if (f->has & NETOPS_CTF_SPORT)
                flags |= CTF_SRC_PORT;
            if (f->has & NETOPS_CTF_DPORT)
                flags |= CTF_DST_PORT;
        }
    }
    if (!flags)
        return;
    size_t alen = family == AF_INET ? 4 : 16;
    struct nlattr *tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
    if (flags & (CTF_IP_SRC | CTF_IP_DST)) {
        struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
        if (flags & CTF_IP_SRC)
            mnl_attr_put(nlh, family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, alen, f->src);
        if (flags & CTF_IP_DST)
            mnl_attr_put(nlh, family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, alen, f->dst);
        mnl_attr_nest_end(nlh, ip);
    }
    if (flags & CTF_PROTO_NUM) {
        struct nlattr *proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
        mnl_attr_put_u8(nlh, CTA_PROTO_NUM, f->proto);
        if (flags & CTF_SRC_PORT)
            mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(f->sport));
        if (flags & CTF_DST_PORT)
            mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(f->dport));
        mnl_attr_nest_end(nlh, proto);
    }
    mnl_attr_nest_end(nlh, tuple);
    struct nlattr *filter = mnl_attr_nest_start(nlh, CTA_FILTER);
    mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, flags);
    mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, 0);
    mnl_attr_nest_end(nlh, filter);
}

/* ---------------------------------------------------------------- dump thread */

/* Does buf end the dump: an NLMSG_DONE, or an NLMSG_ERROR carrying an error
 * (or too short to carry one)?  Nothing follows, so the thread stops. */
static int dump_ends(const char *buf, size_t len)
{
    const struct nlmsghdr *h = (const void *)buf;
    int left = (int)len;
    for (; mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
        if (h->nlmsg_type == NLMSG_DONE)
            return 1;
        if (h->nlmsg_type == NLMSG_ERROR &&
            (h->nlmsg_len < NLMSG_HDRLEN + sizeof(int) ||   /* malformed: give up too */
             ((const struct nlmsgerr *)mnl_nlmsg_get_payload(h))->error))
            return 1;
    }
    return 0;
}

/* Receive a dump into the ring until it ends, fails or the cursor closes. */
static void *dump_thread(void *arg)
{
    struct netops_ct_cursor *c = arg;
    struct ct_ring *r = c->ring;
    int last = 0;
    pthread_mutex_lock(&r->mu);
    while (!last && !r->stop) {
        if (r->count == CT_RING) {          /* the parser is behind: wait for it */
            pthread_cond_wait(&r->freed, &r->mu);
            continue;
        }
        unsigned slot = (r->head + r->count) % CT_RING;
        char *buf = r->slots + (size_t)slot * CT_RBUF;
        pthread_mutex_unlock(&r->mu);     /* recv() runs the kernel's dump: unlocked */
        ssize_t n = recv(c->fd, buf, CT_RBUF, 0);
        int err = n < 0 ? errno : 0;
        last = n > 0 && dump_ends(buf, (size_t)n);
        pthread_mutex_lock(&r->mu);
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
            continue;                       /* CT_RING_POLL passed: look at stop */
        if (err) {
            r->err = err;
            break;
        }
        if (n > 0) {
            r->len[slot] = (size_t)n;
            r->count++;
            pthread_cond_signal(&r->filled);
        }
    }
    r->ended = 1;
    pthread_cond_signal(&r->filled);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void ring_free(struct ct_ring *r)
{
    pthread_cond_destroy(&r->freed);
    pthread_cond_destroy(&r->filled);
    pthread_mutex_destroy(&r->mu);
    free(r->slots);
    free(r);
}

/*
 * Start c's dump thread, after its request was sent.  Without memory or a
 * thread, c->ring stays NULL and netops_ct_next receives itself, as before.
 * The receive timeout lets a thread blocked in recv() notice a close; the
 * thread blocks every signal, so they go to the caller's threads as ever.
 */
static void ring_start(struct netops_ct_cursor *c)
{
    struct ct_ring *r = calloc(1, sizeof *r);
    struct timeval poll_tv = { 0, CT_RING_POLL * 1000 }, none = { 0, 0 };
    if (!r || !(r->slots = malloc((size_t)CT_RING * CT_RBUF)) ||
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &poll_tv, sizeof poll_tv) < 0) {
        if (r)
            free(r->slots);
        free(r);
        return;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->filled, NULL);
    pthread_cond_init(&r->freed, NULL);
    c->ring = r;
    int rc = start_thread(&r->thread, dump_thread, c);
    if (rc) {
        c->ring = NULL;
        ring_free(r);
        (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    }
}

/* Stop and join c's dump thread, wherever it waits: for a free slot (woken
 * here) or in recv() (back within CT_RING_POLL ms at most). */
static void ring_stop(struct netops_ct_cursor *c)
{
    struct ct_ring *r = c->ring;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->freed);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    ring_free(r);
    c->ring = NULL;
}

/* Hand back the slot parsed, then wait for the next one and parse from it:
 * 0, or the recv() error the thread ended on. */
static int ring_take(struct netops_ct_cursor *c)
{
    struct ct_ring *r = c->ring;
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    if (c->holding) {
        r->head = (r->head + 1) % CT_RING;
        r->count--;
        c->holding = 0;
        pthread_cond_signal(&r->freed);
    }
    while (!r->count && !r->ended)
        pthread_cond_wait(&r->filled, &r->mu);
    if (r->count) {
        c->buf = r->slots + (size_t)r->head * CT_RBUF;
        c->len = r->len[r->head];
        c->pos = 0;
        c->holding = 1;
    } else {
        /* ended without a recv() error, yet cursor_take found no end in
         * the last buffer (a malformed NLMSG_ERROR): nothing more comes */
        rc = r->err ? r->err : EBADMSG;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* ---------------------------------------------------------------- dump requests */

int netops_ct_dump_start(struct netops_ct *ct, const struct netops_ct_filter *f,
                         struct netops_ct_cursor **out)
{
    struct netops_ct_cursor *c;
    int rc = cursor_new(ct, 0, &c);
    if (rc)
        return rc;
    char buf[1024];
    uint8_t family = (f && (f->has & NETOPS_CTF_FAMILY)) ? f->family : AF_UNSPEC;
    /* an address in the filter implies its family */
    if (f && !family && (f->has & NETOPS_CTF_SRC))
        family = f->src_family;
    if (f && !family && (f->has & NETOPS_CTF_DST))
        family = f->dst_family;
    c->seq = ct->seq++;
    struct nlmsghdr *nlh = put_header(buf, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP,
                                      c->seq, family);
    if (f && (family || (f->has & (NETOPS_CTF_MARK | NETOPS_CTF_STATUS)))) {
        struct nfct_filter_dump *fd = nfct_filter_dump_create();
        if (!fd) {
            netops_ct_cursor_close(c);
            return ENOMEM;
        }
        if (f->has & NETOPS_CTF_MARK) {
            struct nfct_filter_dump_mark m = { f->mark, f->mark_mask };
            nfct_filter_dump_set_attr(fd, NFCT_FILTER_DUMP_MARK, &m);
        }
        if (family)
            nfct_filter_dump_set_attr_u8(fd, NFCT_FILTER_DUMP_L3NUM, family);
        if ((f->has & NETOPS_CTF_STATUS) && f->status) {
            /* kernels without status filtering ignore it: C checks again */
            struct nfct_filter_dump_mark m = { f->status, f->status };
            nfct_filter_dump_set_attr(fd, NFCT_FILTER_DUMP_STATUS, &m);
        }
        nfct_nlmsg_build_filter(nlh, fd);
        nfct_filter_dump_destroy(fd);
        put_tuple_filter(nlh, f, family);
    }
    if (f) {
        c->filter = *f;
        c->has_filter = 1;
    }
    rc = send_all(c->fd, nlh, nlh->nlmsg_len);
    if (rc) {
        netops_ct_cursor_close(c);
        return rc;
    }
    ring_start(c);
    *out = c;
    return 0;
}

int netops_ct_events(struct netops_ct *ct, unsigned kinds, struct netops_ct_cursor **out)
{
    unsigned groups = 0;
    if (kinds & NETOPS_CT_EV_NEW) groups |= NF_NETLINK_CONNTRACK_NEW;
    if (kinds & NETOPS_CT_EV_UPDATE) groups |= NF_NETLINK_CONNTRACK_UPDATE;
    if (kinds & NETOPS_CT_EV_DESTROY) groups |= NF_NETLINK_CONNTRACK_DESTROY;
    if (!groups)
        return EINVAL;
    struct netops_ct_cursor *c;
    int rc = cursor_new(ct, groups, &c);
    if (rc)
        return rc;
    c->events = 1;
    *out = c;
    return 0;
}

/* An NLMSG_DONE ends a dump; its payload is the dump's status (0 or -errno). */
static int done_status(const struct nlmsghdr *h)
{
    int status = 0;
    if (h->nlmsg_len >= NLMSG_HDRLEN + sizeof status)
        memcpy(&status, mnl_nlmsg_get_payload(h), sizeof status);
    return status < 0 ? -status : 0;
}

static int event_kind(const struct nlmsghdr *h)
{
    if ((h->nlmsg_type & 0xff) == IPCTNL_MSG_CT_DELETE)
        return NETOPS_CT_EV_DESTROY;
    return (h->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) ? NETOPS_CT_EV_NEW : NETOPS_CT_EV_UPDATE;
}

/*
 * The next entry among the records already received: 1 with *e (and *kind),
 * or 0 when the buffer holds no more.  The end of a dump (or its failure)
 * sets c->done and *status (0 or an errno).
 */
static int cursor_take(struct netops_ct_cursor *c, int *kind, struct netops_ct_entry *e,
                       int *status)
{
    while (c->pos < c->len) {
        const struct nlmsghdr *h = (const void *)(c->buf + c->pos);
        if (!mnl_nlmsg_ok(h, (int)(c->len - c->pos)))
            break;
        c->pos += NLMSG_ALIGN(h->nlmsg_len);
        if (h->nlmsg_type == NLMSG_DONE && !c->events) {
            c->done = 1;
            *status = done_status(h);   /* a failed dump is not a complete one */
            return 0;
        }
        if (h->nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *ne = mnl_nlmsg_get_payload(h);
            if (ne->error) {
                c->done = 1;
                *status = -ne->error;
                return 0;
            }
            continue;
        }
        if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK || parse_entry(h, e) != 0 ||
            (c->has_filter && !netops_ct_match(&c->filter, e)))
            continue;
        if (kind)
            *kind = event_kind(h);
        return 1;
    }
    c->pos = c->len;
    return 0;
}

/* Wait for c->fd to be readable until deadline: 0, ETIMEDOUT or an errno.
 * It polls at least once, even past the deadline. */
static int cursor_wait(struct netops_ct_cursor *c, double deadline, int *polled)
{
    for (;;) {
        double left = deadline - netops_clock_now();
        if (*polled && left <= 0)
            return ETIMEDOUT;
        *polled = 1;
        struct pollfd p = { c->fd, POLLIN, 0 };
        int r = poll(&p, 1, netops_clock_poll_ms(left));
        if (r > 0)
            return 0;
        if (r == 0)
            return ETIMEDOUT;
        if (errno != EINTR)
            return errno;
    }
}

int netops_ct_next(struct netops_ct_cursor *c, int timeout_ms, int *kind,
                   struct netops_ct_entry *e, int *got)
{
    /* the timeout runs from this call: events the filter drops do not
     * restart it, so a busy table cannot keep a quiet wait going */
    int timed = c->events && timeout_ms >= 0, polled = 0, status = 0;
    double deadline = timed ? netops_clock_now() + timeout_ms / 1000.0 : 0;
    *got = 0;
    for (;;) {
        if (c->done)
            return 0;
        if ((*got = cursor_take(c, kind, e, &status)) != 0 || c->done)
            return status;
        if (c->ring) {
            int rc = ring_take(c);
            if (rc)
                return rc;
            continue;
        }
        if (timed) {
            int rc = cursor_wait(c, deadline, &polled);
            if (rc)
                return rc == ETIMEDOUT ? 0 : rc;
        }
        ssize_t n = recv(c->fd, c->own, sizeof c->own, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        c->buf = c->own;
        c->pos = 0;
        c->len = (size_t)n;
    }
}

void netops_ct_cursor_filter(struct netops_ct_cursor *c, const struct netops_ct_filter *f)
{
    c->filter = *f;
    c->has_filter = 1;
}

void netops_ct_cursor_close(struct netops_ct_cursor *c)
{
    if (!c)
        return;
    if (c->ring)
        ring_stop(c);   /* before the fd closes: the thread may be in recv() on it */
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/* ---------------------------------------------------------------- bulk by filter */

/* Collect the entries matching f (dump on a second socket). */
static int collect(struct netops_ct *ct, const struct netops_ct_filter *f,
                   struct netops_ct_entry **out, size_t *n)
{
    struct netops_ct_cursor *c;
    int rc = netops_ct_dump_start(ct, f, &c);
    if (rc)
        return rc;
    size_t cap = 1024, len = 0;
    struct netops_ct_entry *v = malloc(cap * sizeof *v);
    if (!v) {
        netops_ct_cursor_close(c);
        return ENOMEM;
    }
    for (;;) {
        if (len == cap) {
            struct netops_ct_entry *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                rc = ENOMEM;
                break;
            }
            v = nv;
            cap *= 2;
        }
        int got;
        rc = netops_ct_next(c, -1, NULL, &v[len], &got);
        if (rc || !got)
            break;
        len++;
    }
    netops_ct_cursor_close(c);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

static int bulk(struct netops_ct *ct, const struct netops_ct_filter *f, int mode,
                uint32_t seconds, size_t *ok, size_t *failed)
{
    struct netops_ct_entry *v = NULL;
    size_t n = 0;
    int rc = collect(ct, f, &v, &n);
    if (rc)
        return rc;
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    int *err = malloc((n ? n : 1) * sizeof *err);
    int enomem = 0;
    *ok = 0;
    if (failed)
        *failed = 0;
    if (!idx || !err) {
        rc = ENOMEM;
    } else {
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        rc = run_batches(ct, v, idx, n, mode, seconds, err, &enomem);
        for (size_t i = 0; !rc && i < n; i++) {
            if (err[i] == 0)
                (*ok)++;
            else if (failed && err[i] != ENOENT)  /* gone meanwhile: not a failure */
                (*failed)++;
        }
    }
    free(idx);
    free(err);
    free(v);
    return rc;
}

int netops_ct_flush(struct netops_ct *ct, const struct netops_ct_filter *f, size_t *deleted)
{
    if (f && f->has & ~NETOPS_CTF_FAMILY)
        return bulk(ct, f, B_DELETE, 0, deleted, NULL);
    uint32_t before = 0;
    int rc = netops_ct_count(ct, &before, NULL);
    if (rc)
        return rc;
    if (f && (f->has & NETOPS_CTF_FAMILY))
        return bulk(ct, f, B_DELETE, 0, deleted, NULL);
    char buf[256];
    struct nlmsghdr *nlh = put_header(buf, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK,
                                      ct->seq++, AF_UNSPEC);
    rc = request(ct, nlh, NULL, NULL);
    *deleted = before;
    return rc;
}

int netops_ct_set_timeout(struct netops_ct *ct, const struct netops_ct_filter *f,
                          uint32_t seconds, size_t *changed, size_t *failed)
{
    return bulk(ct, f, B_TIMEOUT, seconds, changed, failed);
}
