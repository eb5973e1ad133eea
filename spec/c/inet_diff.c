/*
 * inet_diff.c - differential test of csrc/inet.c against glibc's inet_pton
 * and inet_ntop, and against a plain reference formatter written from RFC
 * 5952, over many seeded random and mutated inputs (TAP).
 *
 * For every input without zone or prefix: netops_addr_parse returns 6
 * exactly when inet_pton(AF_INET6) accepts it, 4 exactly when
 * inet_pton(AF_INET) accepts it, with the same bytes; netops_addr_format
 * prints what inet_ntop prints, except for IPv4-compatible addresses
 * (::/96 minus :: and ::1) that glibc prints dotted and RFC 5952 in hex;
 * there netops must print what the reference formatter prints.
 *
 * NETOPS_SEED=N picks another seed; NETOPS_DIFF_N=N the cases per group.
 */
#include "inet.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64: seeded, portable, good enough for test inputs */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* Reference RFC 5952 formatter: the rules, spelled out, sprintf-based. */
static void ref_format6(const unsigned char *b, char *out)
{
    unsigned w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    int mapped = 1;
    for (int i = 0; i < 5; i++)
        mapped &= w[i] == 0;
    mapped &= w[5] == 0xffff;
    if (mapped) {
        sprintf(out, "::ffff:%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
        return;
    }
    int best = -1, bestlen = 0;
    for (int i = 0; i < 8; i++) {
        int j = i;
        while (j < 8 && w[j] == 0)
            j++;
        if (j - i >= 2 && j - i > bestlen) {
            best = i;
            bestlen = j - i;
        }
        if (j > i)
            i = j - 1;
    }
    char *p = out;
    *p = 0;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            p += sprintf(p, "::");
            i += bestlen - 1;
            continue;
        }
        if (i > 0 && p[-1] != ':')
            *p++ = ':';
        p += sprintf(p, "%x", w[i]);
    }
    *p = 0;
}

/* A random address with structure: zero runs, mapped, ::/96, documentation. */
static void rand_addr(unsigned char *b)
{
    unsigned kind = below(20);
    for (int i = 0; i < 16; i++)
        b[i] = (unsigned char)rnd();
    for (int i = 0; i < 8; i++) {
        unsigned r = below(10);
        if (r < 4)
            b[2 * i] = b[2 * i + 1] = 0;
        else if (r < 6)
            b[2 * i] = 0;
    }
    if (kind == 0) {             /* IPv4-mapped */
        memset(b, 0, 10);
        b[10] = b[11] = 0xff;
    } else if (kind == 1) {      /* ::/96, IPv4-compatible */
        memset(b, 0, 12);
        if (below(2))
            b[12] = b[13] = 0;
    } else if (kind == 2) {      /* ::, ::1 and near */
        memset(b, 0, 16);
        b[15] = (unsigned char)below(3);
    } else if (kind == 3) {      /* ::ffff:0:0/96 neighbours */
        memset(b, 0, 12);
        b[10 + below(2)] = 0xff;
        b[below(10)] = (unsigned char)below(2);
    } else if (kind < 8) {
        b[0] = 0x20, b[1] = 0x01, b[2] = 0x0d, b[3] = 0xb8;
    }
}

/* One valid RFC 4291 spelling of b: random case, padding, "::", dotted tail. */
static void spell6(const unsigned char *b, char *out)
{
    unsigned w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    int dotted = below(6) == 0;
    int groups = dotted ? 6 : 8;
    int gs = -1, ge = -1;   /* compressed run [gs, ge) */
    if (below(4)) {
        int starts[8], n = 0;
        for (int i = 0; i < groups; i++)
            if (w[i] == 0)
                starts[n++] = i;
        if (n) {
            gs = starts[below((unsigned)n)];
            ge = gs + 1;
            while (ge < groups && w[ge] == 0 && below(5))
                ge++;
        }
    }
    char *p = out;
    int upper = below(3) == 0, mixed = below(4) == 0;
    for (int i = 0; i < groups; i++) {
        if (i == gs) {
            p += sprintf(p, "::");
            i = ge - 1;
            continue;
        }
        if (i > 0 && p[-1] != ':')
            *p++ = ':';
        int width = below(3) == 0 ? (int)below(5) : 0;
        p += sprintf(p, (upper || (mixed && below(2))) ? "%0*X" : "%0*x", width, w[i]);
    }
    if (dotted) {
        if (p == out || p[-1] != ':')
            *p++ = ':';
        p += sprintf(p, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    }
    *p = 0;
}

static const char alphabet[] = "0123456789abcdefABCDEF::::....gxG 0%/[]-";

/* Mutate s in place (length stays below 60). */
static void mutate(char *s)
{
    int rounds = 1 + (int)below(3);
    for (int r = 0; r < rounds; r++) {
        size_t n = strlen(s);
        size_t at = n ? below((unsigned)n + 1) : 0;
        char c = alphabet[below(sizeof alphabet - 1)];
        switch (below(6)) {
        case 0: /* insert */
            if (n < 58) {
                memmove(s + at + 1, s + at, n - at + 1);
                s[at] = c;
            }
            break;
        case 1: /* delete */
            if (at < n)
                memmove(s + at, s + at + 1, n - at);
            break;
        case 2: /* replace */
            if (at < n)
                s[at] = c;
            break;
        case 3: /* duplicate a character */
            if (at < n && n < 58) {
                memmove(s + at + 1, s + at, n - at + 1);
            }
            break;
        case 4: /* truncate */
            s[at] = 0;
            break;
        default: /* swap neighbours */
            if (at + 1 < n) {
                char t = s[at];
                s[at] = s[at + 1];
                s[at + 1] = t;
            }
        }
    }
}

static int failures_shown;

static void diag(const char *what, const char *in, const char *ours, const char *theirs)
{
    if (failures_shown++ < 12)
        printf("#   %s: input '%s': netops '%s', expected '%s'\n", what, in, ours, theirs);
}

/* Compare one input with glibc; returns 1 on agreement. */
static int check(const char *in, long *compat)
{
    unsigned char g[16], o[16];
    char gs[INET6_ADDRSTRLEN], os[NETOPS_ADDR_MAX], rs[NETOPS_ADDR_MAX];
    int g6 = inet_pton(AF_INET6, in, g) == 1;
    int g4 = !g6 && inet_pton(AF_INET, in, g) == 1;
    int fam = 0;
    int r = netops_addr_parse(in, strlen(in), o, &fam);
    int ours = r == 0 ? fam : 0;
    if (ours != (g6 ? 6 : g4 ? 4 : 0)) {
        diag("acceptance", in, ours == 6 ? "IPv6" : ours == 4 ? "IPv4" : netops_addr_error(r),
             g6 ? "IPv6" : g4 ? "IPv4" : "invalid");
        return 0;
    }
    /* netops_addr_normalize (its own fast path) says the same */
    char ns[256];
    size_t nl = 0;
    int nr = netops_addr_normalize(in, strlen(in), ns, sizeof ns, &nl);
    int bare = r != NETOPS_EADDR_ZONE_HERE && r != NETOPS_EADDR_PREFIX_HERE;
    if (bare && nr != r) {
        diag("normalize vs parse", in, nr != 0 ? netops_addr_error(nr) : ns,
             r != 0 ? netops_addr_error(r) : "valid");
        return 0;
    }
    if (r != 0)
        return 1;
    netops_addr_format(o, fam, os);
    if (strcmp(ns, os) != 0) {
        diag("normalize vs format", in, ns, os);
        return 0;
    }
    if (memcmp(g, o, fam == 4 ? 4 : 16) != 0) {
        diag("bytes", in, "differ", "glibc bytes");
        return 0;
    }
    netops_addr_format(o, fam, os);
    inet_ntop(fam == 4 ? AF_INET : AF_INET6, g, gs, sizeof gs);
    if (strcmp(os, gs) == 0)
        return 1;
    /* glibc prints ::/96 (IPv4-compatible) dotted; RFC 5952 says hex. */
    static const unsigned char zero12[12];
    ref_format6(o, rs);
    if (fam == 6 && memcmp(o, zero12, 12) == 0 && strcmp(os, rs) == 0) {
        ++*compat;
        return 1;
    }
    diag("format", in, os, gs);
    return 0;
}

static int tapn;

static void report(int ok, const char *fmt, long a, long b)
{
    printf("%s %d - ", ok ? "ok" : "not ok", ++tapn);
    printf(fmt, a, b);
    printf("\n");
}

int main(void)
{
    const char *seed_env = getenv("NETOPS_SEED"), *n_env = getenv("NETOPS_DIFF_N");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 20260425;
    long n = n_env ? atol(n_env) : 200000;
    char in[128], ref[NETOPS_ADDR_MAX], os[NETOPS_ADDR_MAX];
    unsigned char b[16];
    long bad, compat, accepted;

    printf("1..6\n# seed %llu, %ld cases a group\n", (unsigned long long)seed, n);
    rng_state = seed;

    /* 1. random addresses in random valid spellings */
    bad = compat = 0;
    for (long i = 0; i < n; i++) {
        rand_addr(b);
        spell6(b, in);
        bad += !check(in, &compat);
    }
    report(bad == 0, "valid spellings agree with glibc inet_pton/inet_ntop (%ld cases, %ld ::/96 in hex)", n, compat);

    /* 2. the same, every output equal to the reference formatter */
    bad = 0;
    for (long i = 0; i < n; i++) {
        rand_addr(b);
        spell6(b, in);
        unsigned char o[16];
        int fam = 0;
        if (netops_addr_parse(in, strlen(in), o, &fam) != 0 || fam != 6 || memcmp(o, b, 16) != 0) {
            diag("parse", in, "rejected or other bytes", "the spelled address");
            bad++;
            continue;
        }
        netops_addr_format(o, 6, os);
        ref_format6(b, ref);
        if (strcmp(os, ref) != 0) {
            diag("reference", in, os, ref);
            bad++;
        }
    }
    report(bad == 0, "every spelling parses back and formats as the RFC 5952 reference (%ld cases%.0ld)", n, 0L);

    /* 3. mutated IPv6 spellings: the same accept/reject and output */
    bad = compat = accepted = 0;
    for (long i = 0; i < n; i++) {
        rand_addr(b);
        spell6(b, in);
        mutate(in);
        unsigned char o[16];
        int fam = 0;
        accepted += netops_addr_parse(in, strlen(in), o, &fam) == 0;
        bad += !check(in, &compat);
    }
    report(bad == 0, "mutated IPv6 text: same acceptance and output as glibc (%ld cases, %ld accepted)", n, accepted);

    /* 4. mutated IPv4 text */
    bad = compat = accepted = 0;
    for (long i = 0; i < n; i++) {
        unsigned v = (unsigned)rnd();
        sprintf(in, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
        if (below(2))
            mutate(in);
        unsigned char o[16];
        int fam = 0;
        accepted += netops_addr_parse(in, strlen(in), o, &fam) == 0;
        bad += !check(in, &compat);
    }
    report(bad == 0, "IPv4 text and mutations: same acceptance and output as glibc (%ld cases, %ld accepted)", n, accepted);

    /* 5. short random strings over the address alphabet */
    bad = compat = accepted = 0;
    for (long i = 0; i < n; i++) {
        size_t len = below(24);
        for (size_t k = 0; k < len; k++)
            in[k] = "0123456789abcdefABCDEF:::::.....fF01"[below(36)];
        in[len] = 0;
        unsigned char o[16];
        int fam = 0;
        accepted += netops_addr_parse(in, len, o, &fam) == 0;
        bad += !check(in, &compat);
    }
    report(bad == 0, "random strings of hex digits, ':' and '.': same as glibc (%ld cases, %ld accepted)", n, accepted);

    /* 6. every random 16 bytes formats as the reference and parses back */
    bad = 0;
    for (long i = 0; i < n; i++) {
        unsigned char o[16];
        int fam = 0;
        rand_addr(b);
        size_t len = netops_addr_format(b, 6, os);
        ref_format6(b, ref);
        if (strcmp(os, ref) != 0 || len != strlen(ref) || len >= NETOPS_ADDR_MAX ||
            netops_addr_parse(os, len, o, &fam) != 0 || fam != 6 || memcmp(o, b, 16) != 0) {
            diag("round trip", "(bytes)", os, ref);
            bad++;
        }
    }
    report(bad == 0, "format then parse gives the same bytes (%ld cases%.0ld)", n, 0L);
    return 0;
}
