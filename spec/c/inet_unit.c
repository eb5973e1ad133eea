/*
 * inet_unit.c - the C API of csrc/inet.c, case by case (TAP): the fixed
 * netops_addr_parse/error/format contract that other areas code against,
 * error codes for each rejected form, zones and prefixes, masks, messages
 * and the rewrite scanner.
 */
#include "inet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* normalize s; expect canonical text (or NULL and the code). */
static void norm(const char *s, const char *want, int code)
{
    char out[256], what[256], detail[512];
    size_t len = 0;
    int r = netops_addr_normalize(s, strlen(s), out, sizeof out, &len);
    if (want) {
        snprintf(what, sizeof what, "normalize '%s' is '%s'", s, want);
        snprintf(detail, sizeof detail, "got %s", r != 0 ? netops_addr_error(r) : out);
        ok(r == 0 && len == strlen(want) && strcmp(out, want) == 0, what, detail);
    } else {
        snprintf(what, sizeof what, "normalize rejects '%s': %s", s, netops_addr_error(code));
        snprintf(detail, sizeof detail, "got %s", r != 0 ? netops_addr_error(r) : out);
        ok(r == code, what, detail);
    }
}

static void rewrite(const char *in, const char *want)
{
    char out[1024], what[600], detail[1200];
    size_t pos = 0, done = 0, start, end, clen, k = 0, n = strlen(in);
    char canon[NETOPS_ADDR_MAX];
    while (netops_rewrite_next(in, n, &pos, &start, &end, canon, &clen)) {
        memcpy(out + k, in + done, start - done);
        k += start - done;
        memcpy(out + k, canon, clen);
        k += clen;
        done = end;
    }
    memcpy(out + k, in + done, n - done);
    out[k + n - done] = 0;
    snprintf(what, sizeof what, "rewrite '%s'", in);
    for (char *q = what; *q; q++)
        if (*q == '\n')
            *q = ' ';
    snprintf(detail, sizeof detail, "got '%s', want '%s'", out, want);
    ok(strcmp(out, want) == 0, what, detail);
}

/*
 * The line buffer: a 1 MiB line written into a pipe 1 KiB at a time, each
 * piece read by its own fill (as a slow writer makes happen), then the rest.
 * Work must stay linear: every byte searched once, copies a small multiple.
 */
static void linebuf_pipe(void)
{
    enum { LINE = 1 << 20, PIECE = 1024 };
    struct netops_linebuf lb;
    int fds[2];
    char piece[PIECE];
    size_t got = 0, total = 0, fills = 0;
    int err = 0, early = 0;
    if (pipe(fds) != 0) {
        ok(0, "linebuf: pipe", NULL);
        return;
    }
    netops_linebuf_init(&lb);
    memset(piece, 'x', sizeof piece);
    for (size_t i = 0; i < LINE / PIECE && !err; i++) {
        if (i == LINE / PIECE - 1)
            memcpy(piece + PIECE - 6, "\nab\ncd", 6);    /* the line ends; two more start */
        if (write(fds[1], piece, PIECE) != PIECE)
            err = -1;
        else
            err = netops_linebuf_fill(&lb, fds[0], 64 * 1024, &got);
        total += got;
        fills++;
        early |= lb.lines != 0 && i < LINE / PIECE - 1;
    }
    char detail[200];
    snprintf(detail, sizeof detail, "err %d, %zu fills, %zu bytes, scanned %llu, copied %llu, lines %zu",
             err, fills, total, lb.scanned, lb.copied, lb.lines);
    ok(!err && total == LINE && fills == LINE / PIECE && !early, "linebuf: one piece a fill", detail);
    ok(lb.lines == LINE - 2 && lb.buf[lb.lines - 1] == '\n' && lb.buf[lb.lines - 4] == '\n',
       "linebuf: complete lines end after the last newline", detail);
    ok(lb.scanned == LINE, "linebuf: each byte searched once", detail);
    ok(lb.copied <= 2 * (unsigned long long)LINE, "linebuf: growth copies at most twice the line", detail);
    netops_linebuf_drop(&lb, lb.lines);
    close(fds[1]);
    err = netops_linebuf_fill(&lb, fds[0], 64 * 1024, &got);
    ok(!err && got == 0 && lb.len == 2 && memcmp(lb.buf, "cd", 2) == 0 && lb.lines == 0,
       "linebuf: the partial line stays, end of file reads 0", NULL);
    netops_linebuf_free(&lb);
    ok(lb.buf == NULL && lb.len == 0 && lb.scanned == LINE, "linebuf: free keeps the counters", NULL);
    close(fds[0]);
}

int main(void)
{
    unsigned char b[16];
    char out[NETOPS_ADDR_MAX], detail[256];

    /* The fixed API. */
    int fam = 0;
    ok(netops_addr_parse("2001:DB8::1", 11, b, &fam) == 0 && fam == 6 && b[0] == 0x20 &&
           b[1] == 0x01 && b[15] == 1, "netops_addr_parse gives family 6 and 16 bytes", NULL);
    ok(netops_addr_parse("192.0.2.1", 9, b, &fam) == 0 && fam == 4 && b[0] == 192 && b[3] == 1,
       "netops_addr_parse gives family 4 and 4 bytes", NULL);
    ok(netops_addr_parse("192.0.2.1xyz", 9, b, &fam) == 0 && fam == 4,
       "netops_addr_parse reads only n bytes", NULL);
    ok(netops_addr_parse("fe80::1%eth0", 12, b, &fam) == NETOPS_EADDR_ZONE_HERE,
       "netops_addr_parse refuses a zone", NULL);
    ok(netops_addr_parse("2001:db8::/32", 13, b, &fam) == NETOPS_EADDR_PREFIX_HERE,
       "netops_addr_parse refuses a prefix", NULL);
    ok(netops_addr_parse("1::\0", 4, b, &fam) != 0, "an embedded NUL is invalid", NULL);
    {
        struct netops_addr a;
        char big[NETOPS_ADDR_MAX + 16];
        size_t len;
        ok(netops_addr_parse("192.0.2.1\0x", 11, b, &fam) != 0 &&
               netops_addr_parse_ex("192.0.2.1\0x", 11, &a) != 0 &&
               netops_addr_normalize("192.0.2.1\0x", 11, big, sizeof big, &len) != 0,
           "an IPv4 text with an embedded NUL is invalid, not its first part", NULL);
        ok(netops_addr_parse_ex("fe80::1%eth0\0", 13, &a) == NETOPS_EADDR_ZONE_CHAR &&
               netops_addr_parse_ex("2001:db8::/32\0", 14, &a) == NETOPS_EADDR_PREFIX_DIGIT,
           "a NUL after a zone or a prefix is invalid", NULL);
    }
    {
        static const unsigned char a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                             0, 0, 0, 0, 0, 0, 0xca, 0xfe};
        static const unsigned char a4[4] = {198, 51, 100, 7};
        size_t n6 = netops_addr_format(a6, 6, out);
        ok(n6 == 14 && strcmp(out, "2001:db8::cafe") == 0, "netops_addr_format IPv6", out);
        size_t n4 = netops_addr_format(a4, 4, out);
        ok(n4 == 12 && strcmp(out, "198.51.100.7") == 0, "netops_addr_format IPv4", out);
        unsigned char full[16];
        memset(full, 0xff, 16);
        ok(netops_addr_format(full, 6, out) == 39 && 39 < NETOPS_ADDR_MAX,
           "the longest canonical text fits NETOPS_ADDR_MAX", out);
    }
    {
        int distinct = 1;
        for (int c = 1; c <= NETOPS_EADDR_LAST; c++)
            for (int d = c + 1; d <= NETOPS_EADDR_LAST; d++)
                distinct &= strcmp(netops_addr_error(c), netops_addr_error(d)) != 0;
        ok(distinct, "every error code has its own reason text", NULL);
        ok(strcmp(netops_addr_error(0), "unknown error") == 0 &&
               strcmp(netops_addr_error(-1), "unknown error") == 0 &&
               strcmp(netops_addr_error(NETOPS_EADDR_LAST + 1), "unknown error") == 0 &&
               strcmp(netops_addr_error(-1000), "unknown error") == 0,
           "netops_addr_error on a non-code", NULL);
    }

    /* RFC 5952 section 4 examples and the seed's addresses. */
    norm("2001:db8:0:0:0:0:cafe:1111", "2001:db8::cafe:1111", 0);
    norm("2001:db8::a:1:2:3:4", "2001:db8:0:a:1:2:3:4", 0);
    norm("2001:0DB8:AAAA:0000:0000:0000:0000:000C", "2001:db8:aaaa::c", 0);
    norm("2001:db8::1:0:0:0:4", "2001:db8:0:1::4", 0);
    norm("2001:0db8::0001", "2001:db8::1", 0);                   /* 4.1 */
    norm("2001:db8:0:0:0:0:2:1", "2001:db8::2:1", 0);            /* 4.2.1 */
    norm("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", 0);     /* 4.2.2 */
    norm("2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1", 0);
    norm("2001:0:0:1:0:0:0:1", "2001:0:0:1::1", 0);              /* 4.2.3 */
    norm("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", 0);        /* leftmost tie */
    norm("2001:DB8::ABCD", "2001:db8::abcd", 0);                 /* 4.3 */
    norm("::ffff:192.0.2.1", "::ffff:192.0.2.1", 0);             /* 5 */
    norm("::FFFF:C000:0201", "::ffff:192.0.2.1", 0);
    norm("0:0:0:0:0:ffff:0:0", "::ffff:0.0.0.0", 0);
    norm("::1.2.3.4", "::102:304", 0);
    norm("::0.0.0.1", "::1", 0);
    norm("::", "::", 0);
    norm("0:0:0:0:0:0:0:0", "::", 0);
    norm("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0", 0);
    norm("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8", 0);
    norm("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304", 0);
    norm("fe80::0001%eth0", "fe80::1%eth0", 0);
    norm("FE80::1%Eth0.100/64", "fe80::1%Eth0.100/64", 0);
    norm("2001:DB8::/32", "2001:db8::/32", 0);
    norm("192.0.2.0/24", "192.0.2.0/24", 0);
    norm("0.0.0.0/0", "0.0.0.0/0", 0);
    norm("::/128", "::/128", 0);

    norm("", NULL, NETOPS_EADDR_EMPTY);
    norm(" ::1", NULL, NETOPS_EADDR_SPACE);
    norm("::1 ", NULL, NETOPS_EADDR_SPACE);
    norm("[::1]", NULL, NETOPS_EADDR_BRACKET);
    norm("[::1]:22", NULL, NETOPS_EADDR_BRACKET);
    norm("192.0.2.1:80", NULL, NETOPS_EADDR_PORT);
    norm("01.2.3.4", NULL, NETOPS_EADDR_V4_ZERO);
    norm("127.1", NULL, NETOPS_EADDR_V4_FEW);
    norm("0x7f.0.0.1", NULL, NETOPS_EADDR_V4_DIGIT);
    norm("1.2.3.4.5", NULL, NETOPS_EADDR_V4_MANY);
    norm("1.2.3.256", NULL, NETOPS_EADDR_V4_RANGE);
    norm("1.2..4", NULL, NETOPS_EADDR_V4_EMPTY);
    norm("12345::", NULL, NETOPS_EADDR_V6_DIGITS);
    norm(":::", NULL, NETOPS_EADDR_V6_COLONS);
    norm("1:::2", NULL, NETOPS_EADDR_V6_COLONS);
    norm("1::2::3", NULL, NETOPS_EADDR_V6_GAPS);
    norm("1:2:3:4:5:6:7:8:9", NULL, NETOPS_EADDR_V6_MANY);
    norm("1:2:3:4:5:6:7", NULL, NETOPS_EADDR_V6_FEW);
    norm("1:2:3:4:5:6:7:8::", NULL, NETOPS_EADDR_V6_NOGAP);
    norm("1::2:3:4:5:6:7:8", NULL, NETOPS_EADDR_V6_NOGAP);
    norm(":1::", NULL, NETOPS_EADDR_V6_LEAD);
    norm("1::2:", NULL, NETOPS_EADDR_V6_TRAIL);
    norm("::1.2.3.4:5", NULL, NETOPS_EADDR_V6_V4POS);
    norm("1:2:3:4:5:6:7:1.2.3.4", NULL, NETOPS_EADDR_V6_MANY);
    norm("::01.2.3.4", NULL, NETOPS_EADDR_V4_ZERO);
    norm("1::g", NULL, NETOPS_EADDR_CHAR);
    norm("1.2.3.4%eth0", NULL, NETOPS_EADDR_ZONE_V4);
    norm("fe80::1%", NULL, NETOPS_EADDR_ZONE_EMPTY);
    norm("fe80::1%/64", NULL, NETOPS_EADDR_ZONE_EMPTY);
    norm("fe80::1%eth 0", NULL, NETOPS_EADDR_ZONE_CHAR);
    norm("fe80::1%eth0%1", NULL, NETOPS_EADDR_ZONE_CHAR);
    norm("2001:db8::/", NULL, NETOPS_EADDR_PREFIX_EMPTY);
    norm("2001:db8::/032", NULL, NETOPS_EADDR_PREFIX_ZERO);
    norm("2001:db8::/00", NULL, NETOPS_EADDR_PREFIX_ZERO);
    norm("2001:db8::/3x", NULL, NETOPS_EADDR_PREFIX_DIGIT);
    norm("2001:db8::/+3", NULL, NETOPS_EADDR_PREFIX_DIGIT);
    norm("2001:db8::/129", NULL, NETOPS_EADDR_PREFIX_RANGE6);
    norm("2001:db8::/1280", NULL, NETOPS_EADDR_PREFIX_RANGE6);
    norm("192.0.2.0/33", NULL, NETOPS_EADDR_PREFIX_RANGE4);
    norm("hello", NULL, NETOPS_EADDR_NOTADDR);

    {
        char small[8];
        size_t len;
        ok(netops_addr_normalize("2001:db8::1", 11, small, sizeof small, &len) == NETOPS_EADDR_ROOM,
           "normalize reports a buffer too small", NULL);
    }

    /* Messages: family, input and reason. */
    {
        char msg[256];
        size_t n = netops_addr_message("1::2::3", 7, NETOPS_EADDR_V6_GAPS, msg, sizeof msg);
        ok(n == strlen(msg) && strcmp(msg, "invalid IPv6 address '1::2::3': more than one '::'") == 0,
           "message names the family, the input and the reason", msg);
        netops_addr_message("01.2.3.4", 8, NETOPS_EADDR_V4_ZERO, msg, sizeof msg);
        ok(strcmp(msg, "invalid IPv4 address '01.2.3.4': leading zero in an octet") == 0,
           "IPv4 message", msg);
        netops_addr_message("a\tb", 3, NETOPS_EADDR_NOTADDR, msg, sizeof msg);
        ok(strcmp(msg, "invalid address 'a\\x09b': not an IPv4 or IPv6 address") == 0,
           "control bytes in the input show as \\xNN", msg);
        char longin[300];
        memset(longin, '1', sizeof longin);
        netops_addr_message(longin, sizeof longin, NETOPS_EADDR_NOTADDR, msg, sizeof msg);
        ok(strstr(msg, "111...'") != NULL && strlen(msg) < 160, "a long input is cut", msg);
    }

    /* Masks. */
    {
        struct netops_addr a;
        netops_addr_parse_ex("2001:db8:ffff:ffff::1/35", 24, &a);
        netops_addr_mask(a.bytes, 6, a.prefix);
        netops_addr_format(a.bytes, 6, out);
        ok(strcmp(out, "2001:db8:e000::") == 0, "mask /35", out);
        netops_addr_parse_ex("203.0.113.77/0", 14, &a);
        netops_addr_mask(a.bytes, 4, a.prefix);
        netops_addr_format(a.bytes, 4, out);
        ok(strcmp(out, "0.0.0.0") == 0, "mask /0", out);
        netops_addr_parse_ex("203.0.113.77/32", 15, &a);
        netops_addr_mask(a.bytes, 4, a.prefix);
        netops_addr_format(a.bytes, 4, out);
        snprintf(detail, sizeof detail, "%s", out);
        ok(strcmp(out, "203.0.113.77") == 0, "mask /32 keeps the address", detail);
    }

    /* The rewrite scanner. */
    rewrite("-A INPUT -s 2001:0DB8:0:0::1/128 -j ACCEPT", "-A INPUT -s 2001:db8::1/128 -j ACCEPT");
    rewrite("2001:DB8::1", "2001:db8::1");
    rewrite("x 2001:DB8::1\n", "x 2001:db8::1\n");
    rewrite("ether 00:11:22:33:44:55 at 12:34:56 v1.2.3.4", "ether 00:11:22:33:44:55 at 12:34:56 v1.2.3.4");
    rewrite("std::map interface::1 A::B", "std::map interface::1 a::b");
    rewrite("from 2001:DB8::1: refused. see 2001:DB8::2.", "from 2001:db8::1: refused. see 2001:db8::2.");
    rewrite("[2001:DB8::3]:80 host:2001:DB8::4", "[2001:db8::3]:80 host:2001:db8::4");
    rewrite("wwn 20:00:00:25:b5:00:00:0f", "wwn 20:00:00:25:b5:00:00:0f");
    rewrite("fe80::0001%eth0/64 fe80::0002%", "fe80::1%eth0/64 fe80::2%");
    rewrite("2001:DB8::/129 2001:DB8::/64x 2001:DB8::1g", "2001:DB8::/129 2001:DB8::/64x 2001:DB8::1g");
    rewrite("::FFFF:C000:201,2001:db8::1-2001:DB8::9", "::ffff:192.0.2.1,2001:db8::1-2001:db8::9");
    rewrite("1:2:3:4:5:6:7:8:9 ::: 1::2::3", "1:2:3:4:5:6:7:8:9 ::: 1::2::3");
    rewrite("", "");
    rewrite(":", ":");

    linebuf_pipe();

    printf("1..%d\n", tapn);
    return failed != 0;
}
