/*
 * raw_ctnetlink.c - the reference rate for bench/40-conntrack: create N TCP
 * entries in the current namespace's table with nothing but prebuilt
 * ctnetlink messages sent many per send().  No per-entry bookkeeping, no
 * Lua: the ceiling netops' batched commit is measured against.
 *
 *   raw_ctnetlink N ack     every request asks for an ACK (all read back)
 *   raw_ctnetlink N errors  only failures answer; the last request ACKs
 * Prints "raw_ctnetlink MODE N SECONDS FAILED".
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nf_conntrack_common.h>

#define BATCH 512

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: raw_ctnetlink N ack|errors\n");
        return 2;
    }
    long n = atol(argv[1]);
    int ack_all = strcmp(argv[2], "ack") == 0;
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        perror("netlink");
        return 1;
    }
    int fd = mnl_socket_get_fd(nl), sz = 8 << 20, one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz);
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    /* build every message first: the timed part is the kernel round trips */
    size_t cap = (size_t)n * 256;
    char *buf = malloc(cap);
    size_t *off = malloc(((size_t)n + 1) * sizeof *off);
    if (!buf || !off)
        return 1;
    size_t pos = 0;
    for (long i = 0; i < n; i++) {
        struct nf_conntrack *ct = nfct_new();
        char a[32];
        nfct_set_attr_u8(ct, ATTR_L3PROTO, AF_INET);
        snprintf(a, sizeof a, "192.0.2.%ld", i % 250 + 1);
        nfct_set_attr_u32(ct, ATTR_IPV4_SRC, inet_addr(a));
        snprintf(a, sizeof a, "198.51.100.%ld", i % 7 + 1);
        nfct_set_attr_u32(ct, ATTR_IPV4_DST, inet_addr(a));
        nfct_set_attr_u8(ct, ATTR_L4PROTO, IPPROTO_TCP);
        nfct_set_attr_u16(ct, ATTR_PORT_SRC, htons((uint16_t)(10000 + i / 250)));
        nfct_set_attr_u16(ct, ATTR_PORT_DST, htons(443));
        nfct_setobjopt(ct, NFCT_SOPT_SETUP_REPLY);
        nfct_set_attr_u8(ct, ATTR_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
        nfct_set_attr_u32(ct, ATTR_TIMEOUT, 3600);
        nfct_set_attr_u32(ct, ATTR_STATUS, IPS_SEEN_REPLY | IPS_ASSURED);
        nfct_set_attr_u32(ct, ATTR_MARK, i % 4 == 0);
        nfct_set_attr_u8(ct, ATTR_TCP_FLAGS_ORIG, IP_CT_TCP_FLAG_BE_LIBERAL);
        nfct_set_attr_u8(ct, ATTR_TCP_MASK_ORIG, IP_CT_TCP_FLAG_BE_LIBERAL);
        nfct_set_attr_u8(ct, ATTR_TCP_FLAGS_REPL, IP_CT_TCP_FLAG_BE_LIBERAL);
        nfct_set_attr_u8(ct, ATTR_TCP_MASK_REPL, IP_CT_TCP_FLAG_BE_LIBERAL);
        off[i] = pos;
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + pos);
        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
        if (ack_all || (i + 1) % BATCH == 0 || i + 1 == n)
            nlh->nlmsg_flags |= NLM_F_ACK;
        nlh->nlmsg_seq = (uint32_t)i + 1;
        struct nfgenmsg *nfh = mnl_nlmsg_put_extra_header(nlh, sizeof *nfh);
        nfh->nfgen_family = AF_INET;
        nfh->version = NFNETLINK_V0;
        nfct_nlmsg_build(nlh, ct);
        nfct_destroy(ct);
        pos += NLMSG_ALIGN(nlh->nlmsg_len);
    }
    off[n] = pos;
    char rbuf[65536];
    long failed = 0;
    double t0 = now();
    for (long i = 0; i < n; i += BATCH) {
        long j = i + BATCH < n ? i + BATCH : n;
        if (send(fd, buf + off[i], off[j] - off[i], 0) < 0) {
            perror("send");
            return 1;
        }
        long want = ack_all ? j - i : 1, got = 0;
        while (got < want) {
            ssize_t r = recv(fd, rbuf, sizeof rbuf, 0);
            if (r < 0) {
                perror("recv");
                return 1;
            }
            const struct nlmsghdr *h = (const void *)rbuf;
            int len = (int)r;
            for (; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
                if (h->nlmsg_type != NLMSG_ERROR)
                    continue;
                const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
                if (e->error)
                    failed++;
                if (ack_all || h->nlmsg_seq == (uint32_t)j)
                    got++;
            }
        }
    }
    double t = now() - t0;
    printf("raw_ctnetlink %s %ld %.3f %ld\n", argv[2], n, t, failed);
    free(buf);
    free(off);
    mnl_socket_close(nl);
    return 0;
}
