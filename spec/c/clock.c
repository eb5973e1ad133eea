/* spec/c/clock.c - TAP tests of csrc/clock.c: the one monotonic clock, the
 * poll(2) timeout it computes, and the one sleep in both modes. */
#include "clock.h"
#include "spawn.h"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

/*
 * poll(2) as clock.c calls it (this definition wins over libc's in this
 * program).  When spy_on is set, the next call records its timeout and then
 * sends us a real SIGTERM (blocked by the sleep, so it lands in its signalfd).
 */
static int spy_on, spy_ms = INT_MIN;

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    if (spy_on) {
        spy_on = 0;
        spy_ms = timeout;
        kill(getpid(), SIGTERM);
    }
    struct timespec ts, *tp = NULL;
    if (timeout >= 0) {
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
        tp = &ts;
    }
    return ppoll(fds, nfds, tp, NULL);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* A handled signal in the middle of a full sleep: the handler runs, the
 * sleep goes on to its full time. */
static void full_sleep_survives_a_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 0 }, { 0, 20000 } };     /* once, after 20 ms */
    setitimer(ITIMER_REAL, &it, NULL);
    double t0 = netops_clock_now();
    int r = netops_clock_sleep(0.1, NETOPS_SLEEP_FULL);
    double slept = netops_clock_now() - t0;
    ok(r == 0 && alarms == 1 && slept >= 0.1,
       "a full sleep runs a handled signal's handler and still sleeps its full time");
    signal(SIGALRM, SIG_DFL);
}

int main(void)
{
    double a = netops_clock_now(), b = netops_clock_now();
    ok(a > 0 && b >= a, "the clock is monotonic");

    /* Long timeouts (luax_checkseconds allows up to 1e9 s) must not overflow
     * the int of poll(2): a negative timeout made the probe spin on poll(0)
     * and the sleep wait without end. */
    ok(netops_clock_poll_ms(1e9) > 0 && netops_clock_poll_ms(0) == 0 &&
       netops_clock_poll_ms(-1) == 0 && netops_clock_poll_ms(0.0001) == 1,
       "netops_clock_poll_ms clamps and rounds up");

    double t0 = netops_clock_now();
    ok(netops_clock_sleep(0.01, NETOPS_SLEEP_INTERRUPTIBLE) == 0 && netops_clock_now() - t0 >= 0.01,
       "sleep the full time");
    spy_on = 1;
    ok(netops_clock_sleep(1e7, NETOPS_SLEEP_INTERRUPTIBLE) == SIGTERM && spy_ms > 0,
       "sleep(1e7) waits with a positive poll timeout and returns the SIGTERM that ended it");
    ok(netops_spawn_take_signals() == (1u << SIGTERM), "the SIGTERM is recorded as any guarded signal");
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    ok(!sigismember(&now, SIGTERM) && !sigismember(&now, SIGINT),
       "after the sleep the signal mask is as it was");

    full_sleep_survives_a_handler();

    return tap_done();
}
