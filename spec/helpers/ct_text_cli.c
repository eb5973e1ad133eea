/*
 * ct_text_cli - netops' snapshot line parser and formatter (csrc/ct_text.c)
 * from the command line, for specs that compare it with the real conntrack.
 *
 *   ct_text_cli parse    each stdin line: "OK <fields>", "BAD <reason>" or "SKIP"
 *   ct_text_cli format   each stdin line: the formatted entry, "BAD <reason>"
 *                        or "SKIP"; "NOFORMAT <errno>" when format refuses
 *
 * <fields> is one word per field the entry has, key=value, in a fixed order:
 * family proto orig reply timeout status mark zone orig_zone reply_zone
 * state role icmp vtag keys (orig and reply as src,dst[,sport,dport]).
 */
#include "ct_text.h"
#include "inet.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static void tuple(const char *key, const struct netops_ct_tuple *t, int fam, int ports)
{
    char s[NETOPS_ADDR_MAX], d[NETOPS_ADDR_MAX];
    netops_addr_format(t->src, fam == AF_INET6 ? 6 : 4, s);
    netops_addr_format(t->dst, fam == AF_INET6 ? 6 : 4, d);
    if (ports)
        printf(" %s=%s,%s,%u,%u", key, s, d, t->sport, t->dport);
    else
        printf(" %s=%s,%s", key, s, d);
}

static void dump(const struct netops_ct_entry *e)
{
    int ports = (e->has & (NETOPS_CT_HAS_PORTS | NETOPS_CT_HAS_GRE_KEYS)) != 0;
    printf("OK family=%d proto=%u", e->family == AF_INET6 ? 6 : 4, e->proto);
    tuple("orig", &e->orig, e->family, ports);
    tuple("reply", &e->reply, e->family, ports);
    if (e->has & NETOPS_CT_HAS_TIMEOUT) printf(" timeout=%u", e->timeout);
    if (e->has & NETOPS_CT_HAS_STATUS) printf(" status=0x%x", e->status);
    if (e->has & NETOPS_CT_HAS_MARK) printf(" mark=%u", e->mark);
    if (e->has & NETOPS_CT_HAS_ZONE) printf(" zone=%u", e->zone);
    if (e->has & NETOPS_CT_HAS_ORIG_ZONE) printf(" orig_zone=%u", e->orig_zone);
    if (e->has & NETOPS_CT_HAS_REPLY_ZONE) printf(" reply_zone=%u", e->reply_zone);
    if (e->has & NETOPS_CT_HAS_STATE) printf(" state=%u", e->state);
    if (e->has & NETOPS_CT_HAS_DCCP_ROLE) printf(" role=%u", e->dccp_role);
    if (e->has & NETOPS_CT_HAS_ICMP)
        printf(" icmp=%u,%u,%u", e->icmp_type, e->icmp_code, e->icmp_id);
    if (e->has & NETOPS_CT_HAS_VTAG) printf(" vtag=%u,%u", e->vtag_orig, e->vtag_reply);
    if (e->has & NETOPS_CT_HAS_GRE_KEYS) printf(" keys=1");
    printf("\n");
}

int main(int argc, char **argv)
{
    int fmt = argc > 1 && strcmp(argv[1], "format") == 0;
    if (argc != 2 || (!fmt && strcmp(argv[1], "parse") != 0)) {
        fprintf(stderr, "usage: ct_text_cli parse|format < lines\n");
        return 2;
    }
    static char line[1 << 16];
    while (fgets(line, sizeof line, stdin)) {
        struct netops_ct_entry e;
        char why[NETOPS_CT_TEXT_WHY], out[NETOPS_CT_TEXT_MAX];
        size_t n = strcspn(line, "\n"), len;
        int r = netops_ct_text_parse(line, n, &e, why, sizeof why);
        if (r == ENODATA) {
            printf("SKIP\n");
        } else if (r) {
            printf("BAD %s\n", why);
        } else if (!fmt) {
            dump(&e);
        } else if ((r = netops_ct_text_format(&e, out, sizeof out, &len)) != 0) {
            printf("NOFORMAT %d\n", r);
        } else {
            printf("%s\n", out);
        }
    }
    return 0;
}
