/*
 * spec/c/ct_build.c - TAP: the requests csrc/conntrack.c writes by hand are,
 * byte for byte, what libnetfilter_conntrack's nfct_nlmsg_build() writes for
 * the same entry, for every field netops sends (v4/v6; tcp, udp, udplite,
 * icmp, icmpv6, sctp, dccp, gre, igmp; given and NAT reply tuples; master tuples;
 * zones and directional zones, marks, timeouts, status, TCP/SCTP/DCCP states,
 * DCCP roles, SCTP vtags, GRE keys) and every kind of request (create,
 * update, update only, timeout, delete).
 *
 * The reference below is how netops drove libnetfilter_conntrack before it
 * wrote the messages itself.
 */
#include "conntrack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nf_conntrack_sctp.h>

#include "tap.h"

#ifndef IPPROTO_DCCP
#define IPPROTO_DCCP 33
#endif

/* ------------------------------------------------ the reference (nfct) */

static void set_addr(struct nf_conntrack *c, int family, int a4, int a6, const unsigned char *a)
{
    if (family == AF_INET) {
        uint32_t v;
        memcpy(&v, a, 4);
        nfct_set_attr_u32(c, a4, v);
    } else {
        nfct_set_attr(c, a6, a);
    }
}

static int is_icmp(uint8_t proto)
{
    return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

/*
 * NAT, as conntrackd commits it: a reply tuple that is not the inverse of
 * the original says how the connection was translated.  Reply destination
 * other than the original source: source NAT to it (and to its port);
 * reply source other than the original destination: destination NAT.  The
 * kernel sets the NAT up at creation only (an update cannot change it).
 */
static int set_nat(struct nf_conntrack *c, const struct netops_ct_entry *e)
{
    size_t alen = e->family == AF_INET ? 4 : 16;
    int ports = (e->has & NETOPS_CT_HAS_PORTS) != 0;
    int snat = memcmp(e->reply.dst, e->orig.src, alen) != 0;
    int spat = ports && e->reply.dport != e->orig.sport;
    int dnat = memcmp(e->reply.src, e->orig.dst, alen) != 0;
    int dpat = ports && e->reply.sport != e->orig.dport;
    if (snat || spat) {
        set_addr(c, e->family, ATTR_SNAT_IPV4, ATTR_SNAT_IPV6, e->reply.dst);
        if (spat)
            nfct_set_attr_u16(c, ATTR_SNAT_PORT, htons(e->reply.dport));
    }
    if (dnat || dpat) {
        set_addr(c, e->family, ATTR_DNAT_IPV4, ATTR_DNAT_IPV6, e->reply.src);
        if (dpat)
            nfct_set_attr_u16(c, ATTR_DNAT_PORT, htons(e->reply.sport));
    }
    return snat || spat || dnat || dpat;
}

/* Ports, or GRE keys (conntrack --srckey/--dstkey set them as the ports). */
static int keyed(const struct netops_ct_entry *e)
{
    return (e->has & NETOPS_CT_HAS_PORTS) ||
           (e->proto == IPPROTO_GRE && (e->has & NETOPS_CT_HAS_GRE_KEYS));
}

/* The original tuple: addresses, protocol, ports (or GRE keys), its zone. */
static void set_orig(struct nf_conntrack *c, const struct netops_ct_entry *e)
{
    nfct_set_attr_u8(c, ATTR_L3PROTO, e->family);
    set_addr(c, e->family, ATTR_IPV4_SRC, ATTR_IPV6_SRC, e->orig.src);
    set_addr(c, e->family, ATTR_IPV4_DST, ATTR_IPV6_DST, e->orig.dst);
    nfct_set_attr_u8(c, ATTR_L4PROTO, e->proto);
    if (e->has & NETOPS_CT_HAS_ORIG_ZONE)
        nfct_set_attr_u16(c, ATTR_ORIG_ZONE, e->orig_zone);
    if (keyed(e)) {
        nfct_set_attr_u16(c, ATTR_PORT_SRC, htons(e->orig.sport));
        nfct_set_attr_u16(c, ATTR_PORT_DST, htons(e->orig.dport));
    }
}

/* The reply tuple of a create or update: NAT (create only), the given
 * tuple, or the inverse of the original. */
static void set_reply(struct nf_conntrack *c, const struct netops_ct_entry *e, int mode)
{
    int nat = mode == NETOPS_CT_REQ_CREATE && (e->has & NETOPS_CT_HAS_REPLY) && set_nat(c, e);
    if (!(e->has & NETOPS_CT_HAS_REPLY) || nat) {
        nfct_setobjopt(c, NFCT_SOPT_SETUP_REPLY);
        return;
    }
    nfct_set_attr_u8(c, ATTR_REPL_L3PROTO, e->family);
    nfct_set_attr_u8(c, ATTR_REPL_L4PROTO, e->proto);
    set_addr(c, e->family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, e->reply.src);
    set_addr(c, e->family, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST, e->reply.dst);
    if (keyed(e)) {
        nfct_set_attr_u16(c, ATTR_REPL_PORT_SRC, htons(e->reply.sport));
        nfct_set_attr_u16(c, ATTR_REPL_PORT_DST, htons(e->reply.dport));
    }
}

/* The master's tuple: create-only, the kernel refuses it on update
 * (EOPNOTSUPP). */
static void set_master(struct nf_conntrack *c, const struct netops_ct_entry *e)
{
    nfct_set_attr_u8(c, ATTR_MASTER_L3PROTO, e->family);
    set_addr(c, e->family, ATTR_MASTER_IPV4_SRC, ATTR_MASTER_IPV6_SRC, e->master.src);
    set_addr(c, e->family, ATTR_MASTER_IPV4_DST, ATTR_MASTER_IPV6_DST, e->master.dst);
    nfct_set_attr_u8(c, ATTR_MASTER_L4PROTO, e->master_proto);
    if (netops_ct_has_ports(e->master_proto)) {
        nfct_set_attr_u16(c, ATTR_MASTER_PORT_SRC, htons(e->master.sport));
        nfct_set_attr_u16(c, ATTR_MASTER_PORT_DST, htons(e->master.dport));
    }
}

/* The entry's own SEEN_REPLY, ASSURED and FIXED_TIMEOUT (the bits conntrack
 * -I -u sets; the kernel ignores or refuses the others), or SEEN_REPLY|ASSURED
 * for an entry without a status. */
static void set_status(struct nf_conntrack *c, const struct netops_ct_entry *e, int mode)
{
    uint32_t status = IPS_SEEN_REPLY | IPS_ASSURED;
    if (e->has & NETOPS_CT_HAS_STATUS)
        status = e->status & (IPS_SEEN_REPLY | IPS_ASSURED | IPS_FIXED_TIMEOUT);
    /* Never EXPECTED on create (the kernel sets it itself for an entry with
     * a master).  On update it must be echoed: the kernel refuses to toggle
     * it (EBUSY), and libnetfilter_conntrack adds CONFIRMED on its own. */
    if ((mode == NETOPS_CT_REQ_UPDATE || mode == NETOPS_CT_REQ_UPDATE_ONLY) &&
        ((e->has & NETOPS_CT_HAS_MASTER) ||
         ((e->has & NETOPS_CT_HAS_STATUS) && (e->status & IPS_EXPECTED))))
        status |= IPS_EXPECTED;
    nfct_set_attr_u32(c, ATTR_STATUS, status);
}

/* TCP and SCTP state (ESTABLISHED unless given); TCP is made liberal. */
static void set_protoinfo(struct nf_conntrack *c, const struct netops_ct_entry *e)
{
    if (e->proto == IPPROTO_TCP) {
        uint8_t st = (e->has & NETOPS_CT_HAS_STATE) ? e->state : TCP_CONNTRACK_ESTABLISHED;
        nfct_set_attr_u8(c, ATTR_TCP_STATE, st);
        nfct_set_attr_u8(c, ATTR_TCP_FLAGS_ORIG, IP_CT_TCP_FLAG_BE_LIBERAL);
        nfct_set_attr_u8(c, ATTR_TCP_MASK_ORIG, IP_CT_TCP_FLAG_BE_LIBERAL);
        nfct_set_attr_u8(c, ATTR_TCP_FLAGS_REPL, IP_CT_TCP_FLAG_BE_LIBERAL);
        nfct_set_attr_u8(c, ATTR_TCP_MASK_REPL, IP_CT_TCP_FLAG_BE_LIBERAL);
    } else if (e->proto == IPPROTO_SCTP) {
        uint8_t st = (e->has & NETOPS_CT_HAS_STATE) ? e->state : SCTP_CONNTRACK_ESTABLISHED;
        nfct_set_attr_u8(c, ATTR_SCTP_STATE, st);
        nfct_set_attr_u32(c, ATTR_SCTP_VTAG_ORIG, htonl(e->vtag_orig));
        nfct_set_attr_u32(c, ATTR_SCTP_VTAG_REPL, htonl(e->vtag_reply));
    } else if (e->proto == IPPROTO_DCCP) {
        if (e->has & NETOPS_CT_HAS_STATE)
            nfct_set_attr_u8(c, ATTR_DCCP_STATE, e->state);
        if (e->has & NETOPS_CT_HAS_DCCP_ROLE)
            nfct_set_attr_u8(c, ATTR_DCCP_ROLE, e->dccp_role);
    }
}

/* Fill c for a request of kind mode about e. */
static void entry_to_nfct(const struct netops_ct_entry *e, struct nf_conntrack *c, int mode,
                          uint32_t timeout)
{
    set_orig(c, e);
    if (mode == NETOPS_CT_REQ_CREATE || mode == NETOPS_CT_REQ_UPDATE || mode == NETOPS_CT_REQ_UPDATE_ONLY) {
        set_reply(c, e, mode);
        if (e->has & NETOPS_CT_HAS_REPLY_ZONE)
            nfct_set_attr_u16(c, ATTR_REPL_ZONE, e->reply_zone);
    }
    /* after the reply setup: these setters fill both directions */
    if (is_icmp(e->proto)) {
        nfct_set_attr_u8(c, ATTR_ICMP_TYPE, e->icmp_type);
        nfct_set_attr_u8(c, ATTR_ICMP_CODE, e->icmp_code);
        nfct_set_attr_u16(c, ATTR_ICMP_ID, htons(e->icmp_id));
    }
    if (e->has & NETOPS_CT_HAS_ZONE)
        nfct_set_attr_u16(c, ATTR_ZONE, e->zone);
    if (mode == NETOPS_CT_REQ_DELETE)
        return;
    if (mode == NETOPS_CT_REQ_CREATE && (e->has & NETOPS_CT_HAS_MASTER))
        set_master(c, e);
    nfct_set_attr_u32(c, ATTR_TIMEOUT, timeout);
    if (mode == NETOPS_CT_REQ_TIMEOUT)
        return;
    set_status(c, e, mode);
    if (e->has & NETOPS_CT_HAS_MARK)
        nfct_set_attr_u32(c, ATTR_MARK, e->mark);
    set_protoinfo(c, e);
}

/* The reference request: 0 and its length, or -1 when the library refuses. */
static int reference(const struct netops_ct_entry *e, int kind, char *buf, size_t *len)
{
    static const uint16_t types[] = { IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_NEW,
                                      IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_DELETE };
    static const uint16_t flags[] = { NLM_F_CREATE | NLM_F_EXCL, NLM_F_CREATE, 0, 0, 0 };
    struct nf_conntrack *c = nfct_new();
    entry_to_nfct(e, c, kind, e->timeout);
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | types[kind];
    nlh->nlmsg_flags = NLM_F_REQUEST | flags[kind];
    nlh->nlmsg_seq = 1;
    struct nfgenmsg *nfh = mnl_nlmsg_put_extra_header(nlh, sizeof *nfh);
    nfh->nfgen_family = e->family;
    nfh->version = NFNETLINK_V0;
    nfh->res_id = 0;
    int r = nfct_nlmsg_build(nlh, c);
    nfct_destroy(c);
    *len = nlh->nlmsg_len;
    return r < 0 ? -1 : 0;
}

/* ------------------------------------------------ the entries */

static void addr(struct netops_ct_entry *e, unsigned char *to, const char *text)
{
    memset(to, 0, 16);
    if (inet_pton(e->family, text, to) != 1)
        abort();
}

static struct netops_ct_entry base(int family, uint8_t proto)
{
    struct netops_ct_entry e;
    memset(&e, 0, sizeof e);
    e.family = (uint8_t)family;
    e.proto = proto;
    e.timeout = 3600;
    e.has = NETOPS_CT_HAS_TIMEOUT;
    int v4 = family == AF_INET;
    addr(&e, e.orig.src, v4 ? "192.0.2.1" : "2001:db8::1");
    addr(&e, e.orig.dst, v4 ? "198.51.100.2" : "2001:db8:1::2");
    if (netops_ct_has_ports(proto)) {
        e.orig.sport = 40000;
        e.orig.dport = 443;
        e.has |= NETOPS_CT_HAS_PORTS;
    }
    if (is_icmp(proto)) {
        e.icmp_type = v4 ? 8 : 128;
        e.icmp_code = 0;
        e.icmp_id = 4242;
        e.has |= NETOPS_CT_HAS_ICMP;
    }
    return e;
}

/* The reply tuple: the inverse, then translated as asked. */
static void reply(struct netops_ct_entry *e, const char *src, const char *dst, int sport, int dport)
{
    memcpy(e->reply.src, e->orig.dst, 16);
    memcpy(e->reply.dst, e->orig.src, 16);
    e->reply.sport = e->orig.dport;
    e->reply.dport = e->orig.sport;
    if (src)
        addr(e, e->reply.src, src);
    if (dst)
        addr(e, e->reply.dst, dst);
    if (sport >= 0)
        e->reply.sport = (uint16_t)sport;
    if (dport >= 0)
        e->reply.dport = (uint16_t)dport;
    e->has |= NETOPS_CT_HAS_REPLY;
}

static const char *kinds[] = { "create", "update", "update only", "timeout", "delete" };

/* Every kind of request for e: the same bytes as the library's (or both refuse). */
static void same(const struct netops_ct_entry *e, const char *what)
{
    static _Alignas(8) char mine[4096], ref[4096];
    for (int kind = NETOPS_CT_REQ_CREATE; kind <= NETOPS_CT_REQ_DELETE; kind++) {
        size_t ml = 0, rl = 0;
        char label[256];
        /* libmnl 1.0.4 leaves attribute padding as it finds it: the
         * reference's is zeroed beforehand, netops must write its own */
        memset(mine, 0xa5, sizeof mine);
        memset(ref, 0, sizeof ref);
        int m = netops_ct_build(e, kind, mine, sizeof mine, &ml);
        int r = reference(e, kind, ref, &rl);
        snprintf(label, sizeof label, "%s: %s request", what, kinds[kind]);
        if (r < 0) {
            ok(m == EINVAL, label);
            continue;
        }
        int eq = m == 0 && ml == rl && memcmp(mine, ref, ml) == 0;
        if (!eq && m == 0) {
            size_t i = 0;
            while (i < ml && i < rl && mine[i] == ref[i])
                i++;
            printf("# %s: length %zu vs %zu, first difference at byte %zu\n", label, ml, rl, i);
        }
        ok(eq, label);
    }
}

static void protocols(int family)
{
    static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, IPPROTO_SCTP,
                                      IPPROTO_DCCP, IPPROTO_GRE };
    const char *fam = family == AF_INET ? "ipv4" : "ipv6";
    char what[128];
    for (size_t i = 0; i < sizeof protos; i++) {
        struct netops_ct_entry e = base(family, protos[i]);
        snprintf(what, sizeof what, "%s %s", fam, netops_ct_proto_name(protos[i]));
        same(&e, what);
    }
    struct netops_ct_entry e = base(family, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
    snprintf(what, sizeof what, "%s icmp echo", fam);
    same(&e, what);
    e.icmp_type = family == AF_INET ? 13 : 139;
    e.icmp_code = 1;
    snprintf(what, sizeof what, "%s icmp query with a code", fam);
    same(&e, what);
    e.icmp_type = family == AF_INET ? 3 : 1;
    snprintf(what, sizeof what, "%s icmp type without a reply type", fam);
    same(&e, what);
    e = base(family, 2);
    snprintf(what, sizeof what, "%s igmp (the generic tracker)", fam);
    same(&e, what);
}

static void nat(int family)
{
    int v4 = family == AF_INET;
    const char *fam = v4 ? "ipv4" : "ipv6";
    const char *other = v4 ? "203.0.113.9" : "2001:db8:2::9";
    char what[128];
    static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
    for (size_t i = 0; i < sizeof protos; i++) {
        const char *pn = netops_ct_proto_name(protos[i]);
        struct netops_ct_entry e = base(family, protos[i]);
        reply(&e, NULL, NULL, -1, -1);
        snprintf(what, sizeof what, "%s %s given reply, the inverse", fam, pn);
        same(&e, what);
        e = base(family, protos[i]);
        reply(&e, NULL, other, -1, -1);
        snprintf(what, sizeof what, "%s %s source NAT", fam, pn);
        same(&e, what);
        e = base(family, protos[i]);
        reply(&e, NULL, other, -1, 61000);
        snprintf(what, sizeof what, "%s %s source NAT and port", fam, pn);
        same(&e, what);
        e = base(family, protos[i]);
        reply(&e, NULL, NULL, -1, 61000);
        snprintf(what, sizeof what, "%s %s source port only", fam, pn);
        same(&e, what);
        e = base(family, protos[i]);
        reply(&e, other, NULL, -1, -1);
        snprintf(what, sizeof what, "%s %s destination NAT", fam, pn);
        same(&e, what);
        e = base(family, protos[i]);
        reply(&e, other, NULL, 8443, -1);
        snprintf(what, sizeof what, "%s %s destination NAT and port", fam, pn);
        same(&e, what);
        e = base(family, protos[i]);
        reply(&e, other, other, 8443, 61000);
        snprintf(what, sizeof what, "%s %s both ways", fam, pn);
        same(&e, what);
    }
    struct netops_ct_entry e = base(family, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
    reply(&e, NULL, other, -1, -1);
    snprintf(what, sizeof what, "%s icmp source NAT", fam);
    same(&e, what);
    e = base(family, IPPROTO_GRE);
    reply(&e, other, NULL, -1, -1);
    snprintf(what, sizeof what, "%s gre destination NAT", fam);
    same(&e, what);
}

static void scalars(int family)
{
    const char *fam = family == AF_INET ? "ipv4" : "ipv6";
    char what[128];
    struct netops_ct_entry e = base(family, IPPROTO_TCP);
    e.mark = 0xdeadbeef;
    e.zone = 7;
    e.state = 7;  /* TIME_WAIT */
    e.timeout = 0x12345678;
    e.has |= NETOPS_CT_HAS_MARK | NETOPS_CT_HAS_ZONE | NETOPS_CT_HAS_STATE;
    snprintf(what, sizeof what, "%s tcp with mark, zone, state, timeout", fam);
    same(&e, what);
    e.status = IPS_FIXED_TIMEOUT | IPS_EXPECTED | IPS_SRC_NAT;
    e.has |= NETOPS_CT_HAS_STATUS;
    snprintf(what, sizeof what, "%s tcp with status bits", fam);
    same(&e, what);
    e = base(family, IPPROTO_SCTP);
    e.state = 3;
    e.vtag_orig = 0x01020304;
    e.vtag_reply = 0xa0b0c0d0;
    e.has |= NETOPS_CT_HAS_STATE | NETOPS_CT_HAS_VTAG | NETOPS_CT_HAS_ZONE;
    e.zone = 65535;
    snprintf(what, sizeof what, "%s sctp with state, vtags, zone", fam);
    same(&e, what);
    e = base(family, IPPROTO_UDP);
    e.mark = 0;
    e.has |= NETOPS_CT_HAS_MARK;
    snprintf(what, sizeof what, "%s udp with mark 0", fam);
    same(&e, what);
}

/* GRE keys (as conntrack --srckey/--dstkey give them), directional zones,
 * DCCP state and role, and statuses as the entry gives them. */
static void fields(int family)
{
    int v4 = family == AF_INET;
    const char *fam = v4 ? "ipv4" : "ipv6";
    const char *other = v4 ? "203.0.113.9" : "2001:db8:2::9";
    char what[128];
    struct netops_ct_entry e = base(family, IPPROTO_GRE);
    e.orig.sport = 0x1234;
    e.orig.dport = 0xfffe;
    e.has |= NETOPS_CT_HAS_GRE_KEYS;
    snprintf(what, sizeof what, "%s gre with keys", fam);
    same(&e, what);
    reply(&e, NULL, NULL, 7, 9);
    snprintf(what, sizeof what, "%s gre with keys and given reply keys", fam);
    same(&e, what);
    reply(&e, other, NULL, 7, 9);
    snprintf(what, sizeof what, "%s gre with keys, destination NAT", fam);
    same(&e, what);
    for (int z = 1; z <= 3; z++) {
        static const char *const which[] = { "", "orig zone", "reply zone", "both zones" };
        e = base(family, IPPROTO_UDP);
        e.orig_zone = 5;
        e.reply_zone = 65535;
        e.has |= (z & 1 ? NETOPS_CT_HAS_ORIG_ZONE : 0) | (z & 2 ? NETOPS_CT_HAS_REPLY_ZONE : 0);
        snprintf(what, sizeof what, "%s udp, %s", fam, which[z]);
        same(&e, what);
        reply(&e, NULL, NULL, -1, -1);
        snprintf(what, sizeof what, "%s udp, %s, given reply", fam, which[z]);
        same(&e, what);
        reply(&e, NULL, other, -1, -1);
        snprintf(what, sizeof what, "%s udp, %s, source NAT", fam, which[z]);
        same(&e, what);
    }
    e = base(family, IPPROTO_GRE);
    e.orig_zone = 3;
    e.has |= NETOPS_CT_HAS_ORIG_ZONE | NETOPS_CT_HAS_GRE_KEYS;
    e.orig.sport = 1;
    snprintf(what, sizeof what, "%s gre with keys and an orig zone", fam);
    same(&e, what);
    for (int d = 1; d <= 3; d++) {
        e = base(family, IPPROTO_DCCP);
        e.state = 4;        /* OPEN */
        e.dccp_role = 1;    /* server */
        e.has |= (d & 1 ? NETOPS_CT_HAS_STATE : 0) | (d & 2 ? NETOPS_CT_HAS_DCCP_ROLE : 0);
        snprintf(what, sizeof what, "%s dccp with%s%s", fam, d & 1 ? " state" : "",
                 d & 2 ? " role" : "");
        same(&e, what);
    }
    static const struct { uint32_t status; const char *what; } st[] = {
        { 0, "UNREPLIED (no bits)" },
        { IPS_ASSURED, "ASSURED alone" },
        { IPS_SEEN_REPLY, "SEEN_REPLY alone" },
        { IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED | IPS_SRC_NAT | IPS_SRC_NAT_DONE |
          IPS_DYING | IPS_OFFLOAD | IPS_HELPER, "a dumped status (unsettable bits)" },
        { IPS_FIXED_TIMEOUT | IPS_EXPECTED, "FIXED_TIMEOUT and EXPECTED, unreplied" },
    };
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        e = base(family, IPPROTO_UDP);
        e.status = st[i].status;
        e.has |= NETOPS_CT_HAS_STATUS;
        snprintf(what, sizeof what, "%s udp status %s", fam, st[i].what);
        same(&e, what);
    }
}

static void masters(int family)
{
    int v4 = family == AF_INET;
    const char *fam = v4 ? "ipv4" : "ipv6";
    char what[128];
    static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_GRE, 0 };
    for (size_t i = 0; i < sizeof protos; i++) {
        struct netops_ct_entry e = base(family, IPPROTO_TCP);
        e.orig.sport = 40001;
        e.orig.dport = 20;
        e.master_proto = protos[i] ? protos[i] : (v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
        addr(&e, e.master.src, v4 ? "192.0.2.1" : "2001:db8::1");
        addr(&e, e.master.dst, v4 ? "198.51.100.2" : "2001:db8:1::2");
        e.master.sport = 40000;
        e.master.dport = 21;
        e.has |= NETOPS_CT_HAS_MASTER;
        snprintf(what, sizeof what, "%s related entry, %s master", fam,
                 netops_ct_proto_name(e.master_proto));
        same(&e, what);
    }
    struct netops_ct_entry e = base(family, IPPROTO_UDP);
    e.master_proto = 2;   /* igmp */
    e.has |= NETOPS_CT_HAS_MASTER;
    snprintf(what, sizeof what, "%s related entry, igmp master", fam);
    same(&e, what);
}

int main(void)
{
    for (int f = 0; f < 2; f++) {
        int family = f ? AF_INET6 : AF_INET;
        protocols(family);
        nat(family);
        scalars(family);
        fields(family);
        masters(family);
    }
    struct netops_ct_entry e = base(AF_INET, IPPROTO_TCP);
    e.family = AF_UNSPEC;
    size_t len;
    static _Alignas(8) char buf[1024];
    ok(netops_ct_build(&e, NETOPS_CT_REQ_CREATE, buf, sizeof buf, &len) == EINVAL,
       "an entry of no address family is refused");
    ok(netops_ct_build(&e, NETOPS_CT_REQ_CREATE, buf, 100, &len) == ENOSPC, "a short buffer is refused");
    return tap_done();
}
