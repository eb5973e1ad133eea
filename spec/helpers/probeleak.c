/*
 * probeleak - how much heap probes that time out during a slow name lookup
 * leave behind, for spec/31-probe (run it where the resolver never answers).
 *
 *   probeleak COUNT SETTLE
 *
 Probes COUNT different names (slowN.example port 22, timeout 0.02 s), each
 * one timing out while getaddrinfo_a still works on it; then waits SETTLE
 * seconds (long enough for the resolver to end every lookup) and probes
 * 127.0.0.1 once more.  A first such round (not counted) lets glibc set up
 * what it keeps for good.  Prints one line:
 *
 *   timeouts T busy B leaked BYTES
 *
 * T: probes that timed out in resolution, B: probes refused because too many
 * lookups were pending, BYTES: the main heap's in-use bytes after, minus
 * before.  Built from the pure C of netops itself (no Lua).
 */
#include "../../csrc/probe.c"
#include "../../csrc/spawn.c"
#include "../../csrc/clock.c"

#include <malloc.h>

/* COUNT timed-out lookups of fresh names, then SETTLE seconds for the
 * resolver to end them, then a probe (which frees what is left to free). */
static void round_of(const char *tag, int count, double settle, int *timeouts, int *busy)
{
    struct netops_probe_opts o = { .timeout = 0.02, .family = AF_UNSPEC, .banner = NULL,
                            .stagger = 0.25, .sigfd = -1 };
    struct netops_probe_result r;
    for (int i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%d.example", tag, i);
        netops_probe_run(name, "22", &o, &r);
        if (r.cls && strstr(r.msg, "timed out"))
            ++*timeouts;
        else if (r.cls && strstr(r.msg, "busy"))
            ++*busy;
    }
    netops_clock_sleep(settle, NETOPS_SLEEP_INTERRUPTIBLE);
    netops_probe_run("127.0.0.1", "1", &o, &r);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: probeleak COUNT SETTLE\n");
        return 2;
    }
    int count = atoi(argv[1]), timeouts = 0, busy = 0;
    double settle = atof(argv[2]);
    /* a first round sets up what glibc keeps for good: its resolver state,
     * its pool of lookup threads and of request slots for COUNT at once */
    round_of("warmup", count, settle, &timeouts, &busy);
    timeouts = busy = 0;
    size_t before = mallinfo2().uordblks;
    round_of("slow", count, settle, &timeouts, &busy);
    size_t after = mallinfo2().uordblks;
    printf("timeouts %d busy %d leaked %ld\n", timeouts, busy, (long)after - (long)before);
    return 0;
}
