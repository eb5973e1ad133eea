/*
 * tap.h - the TAP output every C test prints (spec/runner.lua reads it):
 * ok(cond, what) for each check, "ok N - what" or "not ok N - what"; at
 * the end `return tap_done();`, which prints the plan "1..N" and gives the
 * exit status (1 when a check failed).
 */
#ifndef NETOPS_SPEC_TAP_H
#define NETOPS_SPEC_TAP_H

#include <stdio.h>

static int tap_count, tap_failed;

static void ok(int cond, const char *what)
{
    tap_count++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - %s\n", cond ? "" : "not ", tap_count, what);
}

static int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed != 0;
}

#endif
