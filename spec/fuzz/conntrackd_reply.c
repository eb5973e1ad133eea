/* conntrackd_reply.c - libFuzzer target: conntrackd's reply parsers
 * (csrc/ctd_reply.c) on arbitrary bytes, line by line, as the binding feeds
 * them; every span they return must lie inside the line, every key be
 * [a-z0-9_] text, every number in its range. */
#include "ctd_reply.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void span_in(struct netops_ctd_span sp, size_t n)
{
    if (sp.off > n || sp.len > n - sp.off)
        abort();
}

static void key_ok(const char *k)
{
    size_t len = strnlen(k, NETOPS_CTD_KEYMAX);
    if (len == 0 || len >= NETOPS_CTD_KEYMAX)
        abort();
    for (size_t i = 0; i < len; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
            abort();
}

static void stats(const char *s, size_t n)
{
    struct netops_ctd_statline st;
    int rc = netops_ctd_stats_line(s, n, &st);

    if (rc != 0) {
        if (rc != EINVAL || !st.why)
            abort();
        return;
    }
    if (st.kind == NETOPS_CTD_SECTION) {
        key_ok(st.section);
        if (st.has_info)
            span_in(st.info, n);
    }
    if (st.n < 0 || st.n > NETOPS_CTD_MAXFIELDS || (st.kind == NETOPS_CTD_FIELDS && st.n == 0))
        abort();
    for (int i = 0; i < st.n; i++) {
        key_ok(st.f[i].key);
        if (st.f[i].value < 0)
            abort();
    }
}

static void tuple_ok(const struct netops_ctd_tuple *t, size_t n)
{
    span_in(t->src, n);
    span_in(t->dst, n);
    if (t->sport < -1 || t->sport > 65535 || t->dport < -1 || t->dport > 65535)
        abort();
}

static void entry(const char *s, size_t n)
{
    struct netops_ctd_entry e;
    int rc = netops_ctd_parse_entry(s, n, &e);

    if (rc != 0) {
        if (rc != EINVAL || !e.why)
            abort();
        return;
    }
    if ((e.family != 4 && e.family != 6) || e.orig.src.len == 0 || e.orig.dst.len == 0 ||
        e.protonum < 0 || e.protonum > 255 || e.proto.len == 0 || e.nextra > NETOPS_CTD_MAXEXTRA)
        abort();
    span_in(e.proto, n);
    span_in(e.state, n);
    tuple_ok(&e.orig, n);
    tuple_ok(&e.reply, n);
    for (size_t i = 0; i < e.nextra; i++) {
        span_in(e.extra[i].key, n);
        span_in(e.extra[i].val, n);
        if (e.extra[i].key.len == 0 || memchr(s + e.extra[i].val.off, ' ', e.extra[i].val.len))
            abort();
    }
    if (e.icmp_type > 255 || e.icmp_code > 255 || e.icmp_id > 65535 || e.mark > 0xffffffffLL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t pos = 0;

    while (pos <= size) {
        const char *nl = memchr(s + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (s + pos)) : size - pos;
        /* each line in its own buffer: a read past it is an ASan report */
        char *line = malloc(len ? len : 1);
        if (!line)
            return 0;
        memcpy(line, s + pos, len);
        stats(line, len);
        entry(line, len);
        free(line);
        pos += len + 1;
    }
    return 0;
}
