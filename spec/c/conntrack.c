/* spec/c/conntrack.c - TAP tests of the kernel-free parts of csrc/conntrack.c:
 * filters, protocol/state/status names, error texts. */
#include "conntrack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"

static struct netops_ct_entry entry(const char *src, const char *dst, int sport, int dport)
{
    struct netops_ct_entry e;
    memset(&e, 0, sizeof e);
    e.family = AF_INET;
    e.proto = IPPROTO_TCP;
    inet_pton(AF_INET, src, e.orig.src);
    inet_pton(AF_INET, dst, e.orig.dst);
    e.orig.sport = (uint16_t)sport;
    e.orig.dport = (uint16_t)dport;
    e.has = NETOPS_CT_HAS_PORTS;
    return e;
}

int main(void)
{
    struct netops_ct_entry e = entry("192.0.2.1", "198.51.100.2", 1000, 80);
    e.mark = 0x1234;
    e.zone = 3;
    e.status = 0x6;   /* SEEN_REPLY | ASSURED */
    struct netops_ct_filter f;

    ok(netops_ct_match(NULL, &e) == 1, "no filter matches everything");
    memset(&f, 0, sizeof f);
    ok(netops_ct_match(&f, &e) == 1, "an empty filter matches everything");

    f.has = NETOPS_CTF_MARK; f.mark = 0x34; f.mark_mask = 0xff;
    ok(netops_ct_match(&f, &e) == 1, "mark under a mask matches");
    f.mark_mask = 0xffffffff;
    ok(netops_ct_match(&f, &e) == 0, "mark without the mask does not");

    memset(&f, 0, sizeof f);
    f.has = NETOPS_CTF_SRC; f.src_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.1", f.src);
    ok(netops_ct_match(&f, &e) == 1, "source address matches");
    f.src_family = AF_INET6;
    ok(netops_ct_match(&f, &e) == 0, "same bytes of another family do not");

    memset(&f, 0, sizeof f);
    f.has = NETOPS_CTF_STATUS; f.status = 0x4;
    ok(netops_ct_match(&f, &e) == 1, "a required status bit that is set matches");
    f.status = 0x404;
    ok(netops_ct_match(&f, &e) == 0, "all required bits must be set");

    memset(&f, 0, sizeof f);
    f.has = NETOPS_CTF_ZONE | NETOPS_CTF_DPORT | NETOPS_CTF_PROTO;
    f.zone = 3; f.dport = 80; f.proto = IPPROTO_TCP;
    ok(netops_ct_match(&f, &e) == 1, "zone, port and proto together match");
    f.dport = 81;
    ok(netops_ct_match(&f, &e) == 0, "one field off and the filter fails");

    struct netops_ct_entry icmp = e;
    icmp.proto = IPPROTO_ICMP;
    icmp.has = 0;
    memset(&f, 0, sizeof f);
    f.has = NETOPS_CTF_SPORT; f.sport = 0;
    ok(netops_ct_match(&f, &icmp) == 0, "a port filter never matches an entry without ports");

    ok(strcmp(netops_ct_proto_name(IPPROTO_ICMPV6), "icmpv6") == 0, "icmpv6 by name");
    uint8_t num = 0;
    ok(netops_ct_proto_number("sctp", &num) == 0 && num == IPPROTO_SCTP, "sctp by number");
    ok(netops_ct_proto_number("bogus", &num) == ENOENT, "unknown protocol name");
    ok(netops_ct_state_number(IPPROTO_TCP, "TIME_WAIT", &num) == 0 && num == 7, "TCP TIME_WAIT is 7");
    ok(netops_ct_state_number(IPPROTO_TCP, "SYN_SENT2", &num) == 0 && num == 9,
       "SYN_SENT2 is an alias of 9");
    ok(netops_ct_state_number(IPPROTO_UDP, "ESTABLISHED", &num) == ENOENT, "UDP has no state");
    ok(strcmp(netops_ct_state_name(IPPROTO_SCTP, 4), "ESTABLISHED") == 0, "SCTP state names");
    {
        uint8_t st = 0, old = 0;
        ok(strcmp(netops_ct_state_name(IPPROTO_TCP, 9), "SYN_SENT2") == 0 &&
           netops_ct_state_number(IPPROTO_TCP, "SYN_SENT2", &st) == 0 && st == 9 &&
           netops_ct_state_number(IPPROTO_TCP, "LISTEN", &old) == 0 && old == 9,
           "TCP state 9 is SYN_SENT2, as conntrack prints it (LISTEN still read)");
    }
    size_t nn;
    const char *const *names = netops_ct_status_names(&nn);
    ok(nn >= 11 && strcmp(names[1], "SEEN_REPLY") == 0 && strcmp(names[10], "FIXED_TIMEOUT") == 0,
       "status bit names follow the kernel's bit numbers");
    ok(strstr(netops_ct_strerror(ENOMEM), "nf_conntrack_max") != NULL, "ENOMEM names nf_conntrack_max");
    ok(strstr(netops_ct_strerror(EPERM), "CAP_NET_ADMIN") != NULL, "EPERM names CAP_NET_ADMIN");

    /* build -> parse round trips: what commit sends reads back the same */
    {
        static _Alignas(8) char buf[4096];
        struct netops_ct_entry in, out;
        in = entry("192.0.2.1", "198.51.100.2", 1000, 80);
        in.state = 3; in.timeout = 120; in.mark = 7; in.zone = 9;
        in.has |= NETOPS_CT_HAS_STATE | NETOPS_CT_HAS_TIMEOUT | NETOPS_CT_HAS_MARK | NETOPS_CT_HAS_ZONE;
        size_t len = 0;
        ok(netops_ct_build(&in, 0, buf, sizeof buf, &len) == 0 && len > 0 &&
           netops_ct_parse(buf, len, &out) == 0, "a TCP create request parses");
        ok(out.family == AF_INET && out.proto == IPPROTO_TCP && out.orig.sport == 1000 &&
           out.orig.dport == 80 && memcmp(out.orig.src, in.orig.src, 4) == 0, "original tuple round-trips");
        ok(out.reply.sport == 80 && out.reply.dport == 1000 && memcmp(out.reply.src, in.orig.dst, 4) == 0,
           "the reply tuple is the inverse when not given");
        ok(out.state == 3 && out.timeout == 120 && out.mark == 7 && out.zone == 9,
           "state, timeout, mark and zone round-trip");
        ok((out.status & 0x6) == 0x6 && !(out.status & 0x1), "SEEN_REPLY and ASSURED set, EXPECTED not");

        memset(&in, 0, sizeof in);
        in.family = AF_INET6; in.proto = IPPROTO_ICMPV6;
        inet_pton(AF_INET6, "2001:db8::1", in.orig.src);
        inet_pton(AF_INET6, "2001:db8::2", in.orig.dst);
        in.icmp_type = 128; in.icmp_id = 4242; in.timeout = 30;
        in.has = NETOPS_CT_HAS_ICMP | NETOPS_CT_HAS_TIMEOUT;
        len = 0;
        ok(netops_ct_build(&in, 0, buf, sizeof buf, &len) == 0 && len > 0 &&
           netops_ct_parse(buf, len, &out) == 0, "an ICMPv6 create request parses");
        ok(out.family == AF_INET6 && (out.has & NETOPS_CT_HAS_ICMP) && out.icmp_type == 128 &&
           out.icmp_id == 4242 && memcmp(out.reply.src, in.orig.dst, 16) == 0, "ICMPv6 tuple round-trips");
        ok(!(out.has & NETOPS_CT_HAS_PORTS) && !(out.has & NETOPS_CT_HAS_STATE), "no ports, no state for ICMP");

        ok(netops_ct_parse(buf, 10, &out) == EBADMSG, "a truncated message is refused");
        ((struct { uint32_t len; } *)buf)->len = 100000;
        ok(netops_ct_parse(buf, len, &out) == EBADMSG, "a length past the buffer is refused");
    }

    return tap_done();
}
