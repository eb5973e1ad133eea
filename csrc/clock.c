/* clock.c - the monotonic clock and the sleep; see clock.h.  No Lua here. */
#include "clock.h"
#include "spawn.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

double netops_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int netops_clock_poll_ms(double seconds)
{
    if (!(seconds > 0))
        return 0;
    double ms = seconds * 1000.0 + 1;
    return ms > 1e8 ? 100000000 : (int)ms;
}

/* nanosleep to the full time, resumed after each handled signal. */
static void sleep_full(double seconds)
{
    if (!(seconds > 0))
        return;
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int netops_clock_sleep(double seconds, enum netops_sleep_mode mode)
{
    int fd = -1;
    if (mode != NETOPS_SLEEP_INTERRUPTIBLE || netops_spawn_guard_enter(&fd) != 0) {
        sleep_full(seconds);
        return 0;
    }
    double end = netops_clock_now() + seconds;
    int sig = 0;
    for (;;) {
        sig = netops_spawn_guard_read(fd);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)
            break;
        sig = 0;
        double left = end - netops_clock_now();
        if (left <= 0)
            break;
        struct pollfd pf = { fd, POLLIN, 0 };
        poll(&pf, 1, netops_clock_poll_ms(left));
    }
    netops_spawn_guard_leave();
    return sig;
}
