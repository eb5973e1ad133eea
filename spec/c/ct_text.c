/*
 * ct_text.c - snapshot lines (csrc/ct_text.c), TAP: every line of
 * spec/data/conntrack-testsuite.txt (conntrack-tools' own test suite and
 * netops' cases) is read as conntrack reads it or refused; every entry read
 * comes back from format unchanged; the entries conntrack means, field by
 * field; reasons; the line splitter over odd block sizes.
 */
#include "ct_text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>

static int tapn, failed;

static void ok(int cond, const char *what, const char *detail)
{
    printf("%s %d - %s\n", cond ? "ok" : "not ok", ++tapn, what);
    if (!cond) {
        failed++;
        if (detail)
            printf("#   %s\n", detail);
    }
}

static int tuple_eq(const struct netops_ct_tuple *a, const struct netops_ct_tuple *b)
{
    return !memcmp(a->src, b->src, 16) && !memcmp(a->dst, b->dst, 16) &&
           a->sport == b->sport && a->dport == b->dport;
}

/* The first field where a and b differ, or NULL. */
static const char *entry_diff(const struct netops_ct_entry *a, const struct netops_ct_entry *b)
{
#define F(x) if (a->x != b->x) return #x
    F(has); F(family); F(proto); F(state); F(icmp_type); F(icmp_code); F(icmp_id);
    F(zone); F(orig_zone); F(reply_zone); F(timeout); F(mark); F(status); F(id);
    F(vtag_orig); F(vtag_reply); F(dccp_role); F(master_proto);
#undef F
    if (!tuple_eq(&a->orig, &b->orig)) return "orig";
    if (!tuple_eq(&a->reply, &b->reply)) return "reply";
    if (!tuple_eq(&a->master, &b->master)) return "master";
    return NULL;
}

static int parse(const char *line, struct netops_ct_entry *e, char *why)
{
    return netops_ct_text_parse(line, strlen(line), e, why, NETOPS_CT_TEXT_WHY);
}

/* One data line: its verdict holds, and an entry survives format + parse. */
static void data_line(const char *verdict, const char *line, unsigned lineno)
{
    struct netops_ct_entry e, again;
    char why[NETOPS_CT_TEXT_WHY], what[300], out[NETOPS_CT_TEXT_MAX], detail[1600];
    size_t len = 0;
    int r = parse(line, &e, why);
    snprintf(what, sizeof what, "data:%u %.8s: %.200s", lineno, verdict, line);
    if (strcmp(verdict, "OK") != 0) {
        snprintf(detail, sizeof detail, "read, where conntrack refuses it (r=%d)", r);
        ok(r == EINVAL && why[0], what, detail);
        return;
    }
    snprintf(detail, sizeof detail, "refused: %s", why);
    ok(r == 0, what, detail);
    if (r)
        return;
    int f = netops_ct_text_format(&e, out, sizeof out, &len);
    snprintf(detail, sizeof detail, "format: %d", f);
    ok(f == 0 && len == strlen(out), "  formats", detail);
    if (f)
        return;
    r = parse(out, &again, why);
    const char *d = r ? "refused" : entry_diff(&e, &again);
    snprintf(detail, sizeof detail, "%s differs after %s (%s)", d ? d : "", out, r ? why : "");
    ok(d == NULL, "  parse(format(entry)) is the entry", detail);
}

static void data_file(const char *path)
{
    FILE *f = fopen(path, "re");
    ok(f != NULL, "the test data opens", path);
    if (!f)
        return;
    char buf[2048];
    unsigned lineno = 0, n = 0;
    while (fgets(buf, sizeof buf, f)) {
        lineno++;
        buf[strcspn(buf, "\n")] = '\0';
        char *tab = strchr(buf, '\t');
        if (buf[0] == '#' || !tab)
            continue;
        *tab = '\0';
        data_line(buf, tab + 1, lineno);
        n++;
    }
    fclose(f);
    ok(n > 100, "the data has the suite's lines and netops' (over 100)", NULL);
}

static void addr(int fam, const char *s, unsigned char *out)
{
    memset(out, 0, 16);
    inet_pton(fam, s, out);
}

/* Lines whose entry is known: the tuple conntrack and the kernel make. */
static void meanings(void)
{
    struct netops_ct_entry e;
    char why[NETOPS_CT_TEXT_WHY], out[NETOPS_CT_TEXT_MAX];
    unsigned char a[16];
    size_t len;

    parse("-I -s 1.1.1.1 -d 2.2.2.2 --dst-nat 3.3.3.3:80 -p tcp --sport 10 --dport 20 "
          "--state LISTEN -u SEEN_REPLY -t 50", &e, why);
    addr(AF_INET, "3.3.3.3", a);
    ok(!memcmp(e.reply.src, a, 4) && e.reply.sport == 80 && e.reply.dport == 10 &&
       e.state == 9 && e.status == (IPS_SEEN_REPLY | IPS_DST_NAT) && e.timeout == 50,
       "--dst-nat ADDR:PORT: reply source and port, DST_NAT, LISTEN is state 9", NULL);
    netops_ct_text_format(&e, out, sizeof out, &len);
    ok(strstr(out, " -g 3.3.3.3 -q 1.1.1.1 ") && strstr(out, "--reply-port-src 80"),
       "  formatted as conntrack -L -o save writes it", out);

    parse("-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 --src-nat [2001:DB8::3.3.3.3]:99 "
          "--dst-nat 2001:db8::4 -p udp --sport 10 --dport 20 -t 5", &e, why);
    addr(AF_INET6, "2001:db8::303:303", a);
    ok(e.family == AF_INET6 && !memcmp(e.reply.dst, a, 16) && e.reply.dport == 99 &&
       e.reply.sport == 20 && (e.status & (IPS_SRC_NAT | IPS_DST_NAT)) == (IPS_SRC_NAT | IPS_DST_NAT),
       "both NATs, [IPv6]:PORT", why);
    netops_ct_text_format(&e, out, sizeof out, &len);
    ok(strstr(out, "-s 2001:db8::101:101 -d 2001:db8::202:202 -g 2001:db8::4 "
                   "-n [2001:db8::303:303]:99 -p udp") != NULL,
       "  canonical addresses, the reply left to conntrack, the NAT port kept", out);

    parse("-I -s ::1.2.3.4 -d ::1.2.3.5 -p udp --sport 1 --dport 2 -t 5", &e, why);
    netops_ct_text_format(&e, out, sizeof out, &len);
    ok(strstr(out, "-s ::102:304 -d ::102:305") != NULL, "::1.2.3.4 is ::102:304", out);

    parse("-I -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 "
          "--state LISTEN -u SEEN_REPLY -t 50", &e, why);
    addr(AF_INET, "1.1.1.1", a);
    ok(!memcmp(e.orig.src, a, 4) && e.orig.sport == 21 && e.orig.dport == 11,
       "a reply-only line: the original tuple is its inverse", NULL);

    parse("-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state SYN_SENT2 -t 1 "
          "--mark 417889/0xffffffff -w 010 --orig-zone 0x10 -u seen,Assured", &e, why);
    ok(e.state == 9 && e.mark == 417889 && e.zone == 8 && e.orig_zone == 16 &&
       e.status == (IPS_SEEN_REPLY | IPS_ASSURED) &&
       (e.has & (NETOPS_CT_HAS_ZONE | NETOPS_CT_HAS_ORIG_ZONE | NETOPS_CT_HAS_MARK)) ==
       (NETOPS_CT_HAS_ZONE | NETOPS_CT_HAS_ORIG_ZONE | NETOPS_CT_HAS_MARK),
       "SYN_SENT2, mark/mask sets the mark, octal and hex zones, abbreviated status", why);

    parse("-I -s 1.1.1.1 -d 2.2.2.2 -p GRE --srckey 0x10 --dstkey 6 -t 1", &e, why);
    ok(e.proto == IPPROTO_GRE && (e.has & NETOPS_CT_HAS_GRE_KEYS) && e.orig.sport == 16 &&
       e.orig.dport == 6 && e.reply.sport == 6 && e.reply.dport == 16,
       "GRE keys in the tuples", why);

    parse("-I -s 1.1.1.1 -d 2.2.2.2 -p igmp -t 1", &e, why);
    ok(e.proto == 2, "-p igmp from /etc/protocols", why);
    parse("-I -s 1.1.1.1 -d 2.2.2.2 -p dccp --sport 1 --dport 2 --state OPEN --role s -t 1",
          &e, why);
    ok(e.state == 4 && e.dccp_role == 1 && (e.has & NETOPS_CT_HAS_DCCP_ROLE),
       "DCCP state and role", why);
}

static void refused(const char *line, const char *reason)
{
    struct netops_ct_entry e;
    char why[NETOPS_CT_TEXT_WHY], what[300];
    int r = parse(line, &e, why);
    snprintf(what, sizeof what, "refused with \"%s\": %.150s", reason, line);
    ok(r == EINVAL && strstr(why, reason) != NULL, what, why);
}

#define TCP "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 1 --dport 2 --state CLOSE -t 5 "

static void reasons(void)
{
    refused(TCP "-u SEEN_REPLY,BOGUS", "unknown status 'BOGUS'");
    refused(TCP "-m 0x10000000000000016", "out of range 0..4294967295");
    refused(TCP "-m 99999999999999999999999", "out of range");
    refused(TCP "-t 4294967296", "-t: 4294967296 out of range");
    refused(TCP "-w 1x", "not a number");
    refused(TCP "-f ipv4", "cannot be used to create");
    refused(TCP "--label-add foo", "labels are not supported");
    refused("-I -s 1.1.1.1 -d 2.2.2.2 --sport 1 -p tcp", "come after -p");
    refused(TCP "-s \"1.1.1.1", "unterminated quote");
    refused(TCP "-D", "only -I, -A and -U");
    refused("-I -s 1.1.1.1 -d 2.2.2.2 -q 1.1.1.1 -p udp --sport 1 --dport 2 -t 5",
            "-q needs -r");
    refused("-I -s 1.1.1.1 -d 2.2.2.2 -p icmp --icmp-type 8 --icmp-code 0 -g 3.3.3.3:5 -t 5",
            "has no ports");
    refused("-I -s 1.1.1.1 -d 2.2.2.2 -p ipv6-icmp -t 5", "write -p icmpv6");

    struct netops_ct_entry e;
    char why[NETOPS_CT_TEXT_WHY];
    char nul[] = TCP "-m 1\0 -m 2";
    ok(netops_ct_text_parse(nul, sizeof nul - 1, &e, why, sizeof why) == EINVAL &&
       strstr(why, "NUL"), "a NUL byte is refused", why);
    ok(parse("   # a comment", &e, why) == ENODATA && parse(" \t\r", &e, why) == ENODATA &&
       parse("", &e, why) == ENODATA, "blank and comment lines: ENODATA", NULL);
    char small[8];
    ok(netops_ct_text_parse("-I -x", 5, &e, small, sizeof small) == EINVAL &&
       strlen(small) == sizeof small - 1, "a reason is cut to the buffer", small);
    ok(netops_ct_text_parse("-I -x", 5, &e, NULL, 0) == EINVAL, "why may be NULL", NULL);
    static char big[3000];
    memset(big, 'a', sizeof big - 1);
    memcpy(big, "-I -s ", 6);
    refused(big, "too long");
    char cut[20];
    size_t len = 99;
    parse(TCP, &e, why);
    ok(netops_ct_text_format(&e, cut, sizeof cut, &len) == ENOSPC && len == 99 && cut[0] == 0,
       "format into a short buffer: ENOSPC", NULL);
    e.has &= ~(unsigned)NETOPS_CT_HAS_STATE;
    ok(netops_ct_text_format(&e, cut, sizeof cut, &len) == EINVAL,
       "format refuses a TCP entry without a state (conntrack needs one)", NULL);
}

/* The splitter over a text fed in blocks of every size from 1 to 40. */
static void lines(void)
{
    static char text[40000];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "one\r\n\ntwo\n");
    memset(text + n, 'x', NETOPS_CT_TEXT_LINE_MAX + 5);   /* line 4: too long */
    n += NETOPS_CT_TEXT_LINE_MAX + 5;
    n += (size_t)snprintf(text + n, sizeof text - n, "\nfive\nsix");
    static struct netops_ct_text_lines r;
    int good = 1;
    for (size_t block = 1; block <= 40 && good; block += 13) {
        netops_ct_text_lines_init(&r);
        size_t fed = 0;
        char seen[200] = "";
        for (;;) {
            const char *line;
            size_t ln;
            unsigned long no;
            int k = netops_ct_text_lines_next(&r, &line, &ln, &no);
            if (k == NETOPS_CT_TEXT_END)
                break;
            if (k == NETOPS_CT_TEXT_MORE) {
                char *p;
                size_t room = netops_ct_text_lines_space(&r, &p);
                size_t take = n - fed < block ? n - fed : block;
                take = take < room ? take : room;
                memcpy(p, text + fed, take);
                fed += take;
                netops_ct_text_lines_added(&r, take);
                continue;
            }
            char one[64];
            snprintf(one, sizeof one, "%lu:%s:%.*s|", no, k == NETOPS_CT_TEXT_LONG ? "L" : "",
                     (int)(ln > 5 ? 5 : ln), line);
            strncat(seen, one, sizeof seen - strlen(seen) - 1);
        }
        good = strcmp(seen, "1::one\r|2::|3::two|4:L:xxxxx|5::five|6::six|") == 0;
        if (!good)
            printf("# block %zu: %s\n", block, seen);
    }
    ok(good, "lines: numbers, CRLF kept, a too-long line skipped, a last line without newline",
       NULL);
}

int main(void)
{
    const char *path = getenv("NETOPS_CT_TESTSUITE");
    data_file(path ? path : "spec/data/conntrack-testsuite.txt");
    meanings();
    reasons();
    lines();
    printf("1..%d\n", tapn);
    return failed != 0;
}
