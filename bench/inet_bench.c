/*
 * inet_bench.c - the C side of bench/10-inet.
 *
 *   inet_bench gen N SEED    print N IPv6 addresses, one a line, in mixed
 *                            spellings (case, leading zeros, "::" anywhere,
 *                            dotted tails), about 3.4% invalid; seeded
 *   inet_bench run FILE      time glibc inet_pton+inet_ntop against
 *                            netops_addr_parse+netops_addr_format over the
 *                            lines of FILE, in this one program; check that
 *                            both accept the same lines and print the same
 *                            text except for ::/96 (glibc prints it dotted)
 *   inet_bench time IN OUT CMD [ARG...]
 *                            run CMD < IN > OUT (argv, no shell); print
 *                            "WALL CPU" seconds (CPU: user+system of CMD)
 */
#include "inet.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static void rand_addr(unsigned char *b)
{
    unsigned kind = below(100);
    for (int i = 0; i < 16; i++)
        b[i] = (unsigned char)rnd();
    for (int i = 2; i < 8; i++) {
        unsigned r = below(10);
        if (r < 4)
            b[2 * i] = b[2 * i + 1] = 0;
        else if (r < 6)
            b[2 * i] = 0;
    }
    if (kind < 6) {              /* IPv4-mapped */
        memset(b, 0, 10);
        b[10] = b[11] = 0xff;
    } else if (kind < 7) {       /* ::/96 (glibc prints these dotted) */
        memset(b, 0, 12);
    } else if (kind < 8) {       /* ::1 */
        memset(b, 0, 16);
        b[15] = 1;
    } else if (kind < 50) {      /* documentation prefix */
        b[0] = 0x20, b[1] = 0x01, b[2] = 0x0d, b[3] = 0xb8;
    } else if (kind < 60) {      /* link-local */
        memset(b, 0, 8);
        b[0] = 0xfe, b[1] = 0x80;
    }
}

static char *spell6(const unsigned char *b, char *out)
{
    unsigned w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    int dotted = below(10) == 0;
    int groups = dotted ? 6 : 8;
    int gs = -1, ge = -1;
    if (below(3)) {
        int starts[8], n = 0;
        for (int i = 0; i < groups; i++)
            if (w[i] == 0)
                starts[n++] = i;
        if (n) {
            gs = starts[below((unsigned)n)];
            ge = gs + 1;
            while (ge < groups && w[ge] == 0)
                ge++;
        }
    }
    char *p = out;
    int upper = below(3) == 0, pad = below(3) == 0;
    for (int i = 0; i < groups; i++) {
        if (i == gs) {
            p += sprintf(p, "::");
            i = ge - 1;
            continue;
        }
        if (i > 0 && p[-1] != ':')
            *p++ = ':';
        p += sprintf(p, upper ? "%0*X" : "%0*x", pad ? 4 : 0, w[i]);
    }
    if (dotted) {
        if (p == out || p[-1] != ':')
            *p++ = ':';
        p += sprintf(p, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    }
    *p = 0;
    return out;
}

/* Typical damage: a second "::", a five-digit group, a stray letter, a
 * missing group, a trailing colon, a space. */
static void damage(char *s)
{
    size_t n = strlen(s);
    size_t at = below((unsigned)n);
    switch (below(6)) {
    case 0: memmove(s + at + 2, s + at, n - at + 1); memcpy(s + at, "::", 2); break;
    case 1: memmove(s + at + 1, s + at, n - at + 1); s[at] = '7'; break;
    case 2: s[at] = "gGxz"[below(4)]; break;
    case 3: if (s[0] != ':') { char *c = strchr(s, ':'); if (c) memmove(s, c + 1, strlen(c)); } break;
    case 4: strcat(s, ":"); break;
    default: memmove(s + 1, s, n + 1); s[0] = ' '; break;
    }
}

static int gen(long n, uint64_t seed)
{
    char line[128];
    unsigned char b[16], o[16];
    int fam = 0;
    rng_state = seed;
    for (long i = 0; i < n; i++) {
        rand_addr(b);
        spell6(b, line);
        if (below(25) == 0) {
            do {
                spell6(b, line);
                damage(line);
                /* an IPv4 line would be valid here and not for the rivals */
            } while (netops_addr_parse(line, strlen(line), o, &fam) == 0 && fam == 4);
        }
        puts(line);
    }
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        perror(path);
        return 2;
    }
    fclose(f);
    buf[size] = 0;
    /* lines as NUL-terminated strings, for inet_pton */
    long nlines = 0;
    for (long i = 0; i < size; i++)
        if (buf[i] == '\n') {
            buf[i] = 0;
            nlines++;
        }
    char **lines = malloc(sizeof *lines * (size_t)nlines);
    size_t *lens = malloc(sizeof *lens * (size_t)nlines);
    char *p = buf;
    for (long i = 0; i < nlines; i++) {
        lines[i] = p;
        lens[i] = strlen(p);
        p += lens[i] + 1;
    }

    unsigned char b[16];
    char out[NETOPS_ADDR_MAX], gout[INET6_ADDRSTRLEN];
    volatile size_t sink = 0;
    double best_g = 1e9, best_n = 1e9;
    long valid_g = 0, valid_n = 0;
    for (int round = 0; round < 3; round++) {
        double t0 = now();
        valid_g = 0;
        for (long i = 0; i < nlines; i++) {
            if (inet_pton(AF_INET6, lines[i], b) == 1) {
                inet_ntop(AF_INET6, b, gout, sizeof gout);
                sink += (size_t)gout[1];
                valid_g++;
            }
        }
        double t1 = now();
        valid_n = 0;
        for (long i = 0; i < nlines; i++) {
            int fam = 0;
            if (netops_addr_parse(lines[i], lens[i], b, &fam) == 0 && fam == 6) {
                sink += netops_addr_format(b, 6, out);
                valid_n++;
            }
        }
        double t2 = now();
        if (t1 - t0 < best_g)
            best_g = t1 - t0;
        if (t2 - t1 < best_n)
            best_n = t2 - t1;
    }

    /* agreement */
    long same = 0, compat = 0, other = 0;
    for (long i = 0; i < nlines; i++) {
        unsigned char g[16];
        int ga = inet_pton(AF_INET6, lines[i], g) == 1;
        int fam = 0;
        int na = netops_addr_parse(lines[i], lens[i], b, &fam) == 0 && fam == 6;
        if (ga != na) {
            other++;
            continue;
        }
        if (!ga) {
            same++;
            continue;
        }
        inet_ntop(AF_INET6, g, gout, sizeof gout);
        netops_addr_format(b, 6, out);
        if (strcmp(out, gout) == 0)
            same++;
        else if (strchr(gout, '.') && !strchr(out, '.') && strncmp(gout, "::", 2) == 0)
            compat++;
        else
            other++;
    }

    printf("C, %ld lines (%ld valid), best of 3 rounds:\n", nlines, valid_n);
    printf("  glibc inet_pton+inet_ntop      %7.1f ns/address  %6.2f M/s\n",
           best_g * 1e9 / (double)nlines, (double)nlines / best_g / 1e6);
    printf("  netops parse+format            %7.1f ns/address  %6.2f M/s\n",
           best_n * 1e9 / (double)nlines, (double)nlines / best_n / 1e6);
    printf("  ratio: netops is %.1fx glibc (goal >= 3x)\n", best_g / best_n);
    printf("  agreement: %ld identical, %ld ::/96 printed in hex by netops and dotted by glibc, "
           "%ld other differences\n", same, compat, other);
    (void)sink;
    return other != 0 || valid_g != valid_n;
}

static int timecmd(const char *in, const char *out, char **argv)
{
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        int i = open(in, O_RDONLY | O_CLOEXEC), o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (i < 0 || o < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0)
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        ;
    double wall = now() - t0;
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        fprintf(stderr, "inet_bench: cannot run %s\n", argv[0]);
        return 2;
    }
    printf("%.6f %.6f\n", wall, cpu);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "time") == 0)
        return timecmd(argv[2], argv[3], argv + 4);
    if (argc == 4 && strcmp(argv[1], "gen") == 0)
        return gen(atol(argv[2]), strtoull(argv[3], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "run") == 0)
        return run(argv[2]);
    fprintf(stderr, "usage: inet_bench gen N SEED | run FILE | time IN OUT CMD [ARG...]\n");
    return 2;
}
