/*
 * fuzz_inet.c - libFuzzer target for csrc/inet.c (`make fuzz`).
 * Any input: no crash, no sanitizer report, and these properties:
 *  - netops_addr_parse accepts exactly what glibc inet_pton accepts (as
 *    IPv6, else IPv4), with the same bytes;
 *  - canonical text fits NETOPS_ADDR_MAX, parses back to the same bytes, and
 *    is its own canonical form (also with zone and prefix);
 *  - the rewrite scanner stays in bounds, moves forward, and rewriting
 *    its own output changes nothing.
 */
#include "inet.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t rewrite(const char *in, size_t n, char *out)
{
    size_t pos = 0, done = 0, start, end, clen, k = 0;
    char canon[NETOPS_ADDR_MAX];
    while (netops_rewrite_next(in, n, &pos, &start, &end, canon, &clen)) {
        if (start < done || end < start || end > n || pos > n || pos < end || clen >= NETOPS_ADDR_MAX)
            abort();
        memcpy(out + k, in + done, start - done);
        k += start - done;
        memcpy(out + k, canon, clen);
        k += clen;
        done = end;
    }
    memcpy(out + k, in + done, n - done);
    return k + n - done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    unsigned char b[16], b2[16], g[16];
    char out[NETOPS_ADDR_MAX], out2[NETOPS_ADDR_MAX], msg[1024];

    int fam = 0, fam2 = 0;
    int r = netops_addr_parse(s, size, b, &fam);
    if (r != 0) {
        if (r < 0 || r > NETOPS_EADDR_LAST)
            abort();
        netops_addr_message(s, size, r, msg, sizeof msg);
    } else {
        if (fam != 4 && fam != 6)
            abort();
        size_t len = netops_addr_format(b, fam, out);
        if (len >= NETOPS_ADDR_MAX || strlen(out) != len)
            abort();
        if (netops_addr_parse(out, len, b2, &fam2) != 0 || fam2 != fam ||
            memcmp(b, b2, fam == 4 ? 4 : 16) != 0)
            abort();
        if (netops_addr_format(b2, fam, out2) != len || strcmp(out, out2) != 0)
            abort();
    }

    /* glibc agrees on acceptance and bytes (NUL-free inputs only) */
    if (size < 200 && memchr(s, 0, size) == NULL) {
        char z[200];
        memcpy(z, s, size);
        z[size] = 0;
        int want = inet_pton(AF_INET6, z, g) == 1 ? 6 : inet_pton(AF_INET, z, g) == 1 ? 4 : -1;
        if ((r == 0 ? fam : -1) != want)
            abort();
        if (r == 0 && memcmp(g, b, fam == 4 ? 4 : 16) != 0)
            abort();
    }

    /* with zone and prefix: canonical text is a fixed point */
    {
        size_t cap = size + NETOPS_ADDR_MAX;
        char *n1 = malloc(cap), *n2 = malloc(cap);
        size_t l1 = 0, l2 = 0;
        int r1 = netops_addr_normalize(s, size, n1, cap, &l1);
        /* without zone and prefix: the same as parse and format */
        if ((r != 0 && r != NETOPS_EADDR_ZONE_HERE && r != NETOPS_EADDR_PREFIX_HERE && r1 != r) ||
            (r == 0 && (r1 != 0 || l1 != strlen(out) || memcmp(n1, out, l1) != 0)))
            abort();
        if (r1 == 0) {
            int r2 = netops_addr_normalize(n1, l1, n2, cap, &l2);
            if (r2 != 0 || l2 != l1 || memcmp(n1, n2, l1) != 0)
                abort();
        } else if (r1 < 0 || r1 > NETOPS_EADDR_LAST) {
            abort();
        }
        free(n1);
        free(n2);
    }

    /* rewrite: bounded, and idempotent */
    {
        char *w1 = malloc(2 * size + 64), *w2 = malloc(4 * size + 128);
        size_t k1 = rewrite(s, size, w1);
        size_t k2 = rewrite(w1, k1, w2);
        if (k1 != k2 || memcmp(w1, w2, k1) != 0)
            abort();
        free(w1);
        free(w2);
    }
    return 0;
}
