/*
 * clock.h - the one monotonic clock and the one sleep of netops.
 *
 * Every wait in netops reads this clock and computes its poll(2) timeout
 * with netops_clock_poll_ms; every sleep is netops_clock_sleep.
 * No Lua here: this file is linked into C tests and benchmarks as it is.
 */
#ifndef NETOPS_CLOCK_H
#define NETOPS_CLOCK_H

/* Seconds of CLOCK_MONOTONIC, a double. */
double netops_clock_now(void);

/*
 * seconds (any double) as a poll(2) timeout in ms: 0 for none left, rounded
 * up, at most 1e8 (about 28 hours: callers loop and look at the clock again),
 * so a long timeout (up to luax_checkseconds' 1e9) never overflows an int.
 */
int netops_clock_poll_ms(double seconds);

/*
 * Sleep up to seconds.
 *   NETOPS_SLEEP_INTERRUPTIBLE: SIGINT, SIGQUIT, SIGTERM and SIGHUP are held off and
 *     read while sleeping, as during a wait for a child (spawn.h's guard:
 *     recorded, TERM/HUP forwarded to running children); returns 0 after the
 *     full time, or the number of the signal that ended it early.
 *   NETOPS_SLEEP_FULL: signals act as they would (their handler, or their
 *     default action, which ends the process); after a handler returns the
 *     sleep goes on to the full time.  Returns 0.
 */
enum netops_sleep_mode { NETOPS_SLEEP_INTERRUPTIBLE = 0, NETOPS_SLEEP_FULL };
int netops_clock_sleep(double seconds, enum netops_sleep_mode mode);

#endif
