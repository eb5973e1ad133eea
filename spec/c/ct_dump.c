/* spec/c/ct_dump.c - TAP tests of streaming dumps against the kernel's
 * conntrack table, in a network namespace of this process's own (unshare:
 * root only, else skipped).  A dump is received on a thread of its own:
 * here that thread runs under valgrind too, which takes C tests only (the
 * same behaviour from Lua: spec/40-conntrack_spec.lua). */
#include "clock.h"
#include "conntrack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define N 5000              /* entries: a few dozen receive buffers */

/* Threads of this process (/proc/self/status). */
static int threads(void)
{
    char line[256];
    int t = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &t) == 1)
            break;
    if (f)
        fclose(f);
    return t;
}

/* Entry i: TCP 192.0.2.(i%250+1):(10000+i/250) -> 198.51.100.(i%7+1):443,
 * mark 1 on every fourth (as spec/helpers/ct_lab.lua's synthetic). */
static void synthetic(struct netops_ct_entry *e, size_t i)
{
    memset(e, 0, sizeof *e);
    e->family = AF_INET;
    e->proto = IPPROTO_TCP;
    e->state = 3;   /* ESTABLISHED */
    e->orig.src[0] = 192, e->orig.src[1] = 0, e->orig.src[2] = 2;
    e->orig.src[3] = (unsigned char)(i % 250 + 1);
    e->orig.dst[0] = 198, e->orig.dst[1] = 51, e->orig.dst[2] = 100;
    e->orig.dst[3] = (unsigned char)(i % 7 + 1);
    e->orig.sport = (uint16_t)(10000 + i / 250);
    e->orig.dport = 443;
    e->timeout = 3600;
    e->mark = i % 4 == 0;
    e->has = NETOPS_CT_HAS_PORTS | NETOPS_CT_HAS_STATE | NETOPS_CT_HAS_TIMEOUT | NETOPS_CT_HAS_MARK;
}

/* The index synthetic() gave e, or -1 when it is none of them. */
static long index_of(const struct netops_ct_entry *e)
{
    long i = (long)(e->orig.sport - 10000) * 250 + (e->orig.src[3] - 1);
    if (e->proto != IPPROTO_TCP || e->orig.src[0] != 192 || i < 0 || i >= N ||
        e->orig.dst[3] != i % 7 + 1 || e->mark != (i % 4 == 0))
        return -1;
    return i;
}

/*
 * Dump ct (filter f), reading at most stop entries (0: all) and napping
 * nap ms after every nap_every-th; seen[i] counts entry i, *count all.
 * Returns the dump's error, or -1 when an entry came twice or was foreign.
 */
static int dump(struct netops_ct *ct, const struct netops_ct_filter *f, size_t stop,
                size_t nap_every, long nap, unsigned char *seen, size_t *count)
{
    struct netops_ct_cursor *c;
    struct netops_ct_entry e;
    int got = 0, bad = 0, rc = netops_ct_dump_start(ct, f, &c);
    *count = 0;
    if (rc)
        return rc;
    memset(seen, 0, N);
    while ((!stop || *count < stop) && (rc = netops_ct_next(c, -1, NULL, &e, &got)) == 0 && got) {
        long i = index_of(&e);
        if (i < 0 || seen[i]++)
            bad = 1;
        if (++*count == stop && nap)
            netops_clock_sleep(nap / 1000.0, NETOPS_SLEEP_FULL);   /* the thread fills every buffer meanwhile */
        if (nap_every && *count % nap_every == 0)
            netops_clock_sleep(nap / 1000.0, NETOPS_SLEEP_FULL);
    }
    netops_ct_cursor_close(c);
    return rc ? rc : bad ? -1 : 0;
}

static int all_seen(const unsigned char *seen)
{
    for (size_t i = 0; i < N; i++)
        if (seen[i] != 1)
            return 0;
    return 1;
}

int main(void)
{
    if (unshare(CLONE_NEWNET) < 0) {
        printf("1..0 # SKIP no network namespace of our own (%s): run as root\n", strerror(errno));
        return 0;
    }
    const char *where;
    struct netops_ct *ct;
    static struct netops_ct_entry list[N];
    static struct netops_ct_result res[N];
    static unsigned char seen[N];
    int stopped = 0, before = threads();
    size_t count = 0;
    if (netops_ct_open(&ct, NULL, &where) != 0) {
        printf("1..0 # SKIP no ctnetlink socket (%s)\n", where);
        return 0;
    }
    for (size_t i = 0; i < N; i++)
        synthetic(&list[i], i);
    int rc = netops_ct_commit(ct, list, N, NULL, NULL, res, &stopped);
    size_t created = 0;
    for (size_t i = 0; i < N; i++)
        created += res[i].outcome == NETOPS_CT_CREATED;
    ok(rc == 0 && !stopped && created == N, "the table is filled");

    rc = dump(ct, NULL, 0, 0, 0, seen, &count);
    ok(rc == 0 && count == N && all_seen(seen), "a dump gives every entry once");

    int whole = 1, gone = 1;
    for (size_t round = 1; round <= 10; round++) {
        /* odd rounds: the thread is in recv(); even: waits with every buffer full */
        rc = dump(ct, NULL, round * 37, 0, round % 2 ? 0 : 20, seen, &count);
        gone = gone && rc == 0 && count == round * 37 && threads() == before;
        rc = dump(ct, NULL, 0, 0, 0, seen, &count);
        whole = whole && rc == 0 && count == N && all_seen(seen);
    }
    ok(gone, "a dump closed early ends its thread (10 times)");
    ok(whole, "and the next dump still gives every entry once");

    rc = dump(ct, NULL, 0, 500, 10, seen, &count);
    ok(rc == 0 && count == N && all_seen(seen), "a slow reader loses nothing, sees nothing twice");

    struct netops_ct_filter f;
    memset(&f, 0, sizeof f);
    f.has = NETOPS_CTF_MARK;
    f.mark = 1;
    f.mark_mask = 0xffffffff;
    rc = dump(ct, &f, 0, 0, 0, seen, &count);
    ok(rc == 0 && count == N / 4, "a filtered dump gives the entries that match");

    struct netops_ct_cursor *c;
    struct netops_ct_entry e;
    int got = 1;
    size_t deleted = 0;
    rc = netops_ct_flush(ct, NULL, &deleted);
    ok(rc == 0 && deleted == N, "the table is flushed");
    if (rc == 0 && (rc = netops_ct_dump_start(ct, NULL, &c)) == 0) {
        rc = netops_ct_next(c, -1, NULL, &e, &got);
        ok(rc == 0 && got == 0, "a dump of an empty table ends at once");
        rc = netops_ct_next(c, -1, NULL, &e, &got);
        ok(rc == 0 && got == 0, "and stays ended");
        netops_ct_cursor_close(c);
    }
    ok(threads() == before, "no thread is left behind");
    netops_ct_close(ct);
    return tap_done();
}
