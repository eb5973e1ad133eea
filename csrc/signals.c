/* signals.c - signal names and numbers, /proc signal masks.  See signals.h. */
#include "signals.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* The kernel's first real-time signal; glibc keeps 32..SIGRTMIN-1 for itself. */
#define KERNEL_SIGRTMIN 32

struct signame {
    int num;
    const char *name;   /* without "SIG" */
};

/* Names of this architecture's standard signals, from its headers: the first
 * entry for a number is its name, later ones are aliases. */
static const struct signame names[] = {
#ifdef SIGHUP
    { SIGHUP, "HUP" },
#endif
#ifdef SIGINT
    { SIGINT, "INT" },
#endif
#ifdef SIGQUIT
    { SIGQUIT, "QUIT" },
#endif
#ifdef SIGILL
    { SIGILL, "ILL" },
#endif
#ifdef SIGTRAP
    { SIGTRAP, "TRAP" },
#endif
#ifdef SIGABRT
    { SIGABRT, "ABRT" },
#endif
#ifdef SIGEMT
    { SIGEMT, "EMT" },
#endif
#ifdef SIGBUS
    { SIGBUS, "BUS" },
#endif
#ifdef SIGFPE
    { SIGFPE, "FPE" },
#endif
#ifdef SIGKILL
    { SIGKILL, "KILL" },
#endif
#ifdef SIGUSR1
    { SIGUSR1, "USR1" },
#endif
#ifdef SIGSEGV
    { SIGSEGV, "SEGV" },
#endif
#ifdef SIGUSR2
    { SIGUSR2, "USR2" },
#endif
#ifdef SIGPIPE
    { SIGPIPE, "PIPE" },
#endif
#ifdef SIGALRM
    { SIGALRM, "ALRM" },
#endif
#ifdef SIGTERM
    { SIGTERM, "TERM" },
#endif
#ifdef SIGSTKFLT
    { SIGSTKFLT, "STKFLT" },
#endif
#ifdef SIGCHLD
    { SIGCHLD, "CHLD" },
#endif
#ifdef SIGCONT
    { SIGCONT, "CONT" },
#endif
#ifdef SIGSTOP
    { SIGSTOP, "STOP" },
#endif
#ifdef SIGTSTP
    { SIGTSTP, "TSTP" },
#endif
#ifdef SIGTTIN
    { SIGTTIN, "TTIN" },
#endif
#ifdef SIGTTOU
    { SIGTTOU, "TTOU" },
#endif
#ifdef SIGURG
    { SIGURG, "URG" },
#endif
#ifdef SIGXCPU
    { SIGXCPU, "XCPU" },
#endif
#ifdef SIGXFSZ
    { SIGXFSZ, "XFSZ" },
#endif
#ifdef SIGVTALRM
    { SIGVTALRM, "VTALRM" },
#endif
#ifdef SIGPROF
    { SIGPROF, "PROF" },
#endif
#ifdef SIGWINCH
    { SIGWINCH, "WINCH" },
#endif
#ifdef SIGIO
    { SIGIO, "IO" },
#endif
#ifdef SIGPWR
    { SIGPWR, "PWR" },
#endif
#ifdef SIGSYS
    { SIGSYS, "SYS" },
#endif
#ifdef SIGINFO
    { SIGINFO, "INFO" },
#endif
#ifdef SIGLOST
    { SIGLOST, "LOST" },
#endif
    /* aliases */
#ifdef SIGIOT
    { SIGIOT, "IOT" },
#endif
#ifdef SIGPOLL
    { SIGPOLL, "POLL" },
#endif
#ifdef SIGCLD
    { SIGCLD, "CLD" },
#endif
};

#define NNAMES (sizeof names / sizeof names[0])

/* glibc's names for the two signals it reserves (nptl internal-signals.h). */
static const char *const reserved[] = { "CANCEL", "SETXID" };

int netops_sig_rtmin(void)
{
    return SIGRTMIN;
}

int netops_sig_rtmax(void)
{
    return SIGRTMAX;
}

int netops_sig_max(void)
{
    return SIGRTMAX;
}

char *netops_sig_name(int n, char *buf)
{
    int rtmin = SIGRTMIN, rtmax = SIGRTMAX;

    if (n < 1 || n > rtmax)
        return NULL;
    if (n >= rtmin) {
        int half = (rtmax - rtmin) / 2;
        if (n == rtmin)
            snprintf(buf, SIG_NAME_MAX, "SIGRTMIN");
        else if (n == rtmax)
            snprintf(buf, SIG_NAME_MAX, "SIGRTMAX");
        else if (n - rtmin <= half)
            snprintf(buf, SIG_NAME_MAX, "SIGRTMIN+%d", n - rtmin);
        else
            snprintf(buf, SIG_NAME_MAX, "SIGRTMAX-%d", rtmax - n);
        return buf;
    }
    for (size_t i = 0; i < NNAMES; i++)
        if (names[i].num == n) {
            snprintf(buf, SIG_NAME_MAX, "SIG%s", names[i].name);
            return buf;
        }
    if (n >= KERNEL_SIGRTMIN && n - KERNEL_SIGRTMIN < 2)
        snprintf(buf, SIG_NAME_MAX, "SIG%s", reserved[n - KERNEL_SIGRTMIN]);
    else if (n >= KERNEL_SIGRTMIN)
        snprintf(buf, SIG_NAME_MAX, "SIGRT%d", n);  /* another reserved one */
    else
        snprintf(buf, SIG_NAME_MAX, "SIG%d", n);    /* unnamed on this system */
    return buf;
}

/* A decimal number of 1..7 digits at s[0..len); -1 otherwise. */
static long parse_decimal(const char *s, size_t len)
{
    long v = 0;
    if (len == 0 || len > 7)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int valid(long n)
{
    return n >= 1 && n <= SIGRTMAX ? (int)n : 0;
}

int netops_sig_number(const char *s, size_t len)
{
    char up[SIG_NAME_MAX];
    int rtmin = SIGRTMIN, rtmax = SIGRTMAX;

    if (len == 0 || len >= sizeof up)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\0')
            return 0;
        up[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    up[len] = '\0';

    if (up[0] >= '0' && up[0] <= '9')
        return valid(parse_decimal(up, len));

    const char *p = up;
    size_t n = len;
    if (n > 3 && memcmp(p, "SIG", 3) == 0)
        p += 3, n -= 3;

    for (size_t i = 0; i < NNAMES; i++)
        if (strcmp(p, names[i].name) == 0)
            return names[i].num;

    if (n >= 5 && (memcmp(p, "RTMIN", 5) == 0 || memcmp(p, "RTMAX", 5) == 0)) {
        int base = p[4] == 'N' ? rtmin : rtmax;
        long k;
        if (n == 5)
            return base;
        k = parse_decimal(p + 6, n - 6);
        if (k < 0)
            return 0;
        if (p[5] == '+' && base == rtmin && k <= rtmax - rtmin)
            return (int)(rtmin + k);
        if (p[5] == '-' && base == rtmax && k <= rtmax - rtmin)
            return (int)(rtmax - k);
        return 0;
    }
    for (int i = 0; i < 2; i++)
        if (strcmp(p, reserved[i]) == 0 && KERNEL_SIGRTMIN + i < rtmin)
            return KERNEL_SIGRTMIN + i;
    if (n > 2 && memcmp(p, "RT", 2) == 0) {         /* SIGRT<n>: reserved ones */
        long k = parse_decimal(p + 2, n - 2);
        if (k >= KERNEL_SIGRTMIN && k < rtmin)
            return (int)k;
        return 0;
    }
    if (p != up)                                     /* SIG<n> */
        return valid(parse_decimal(p, n));
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int netops_sig_mask_decode(const char *s, size_t len, int *out, size_t cap, size_t *total)
{
    size_t count = 0;

    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2, len -= 2;
    if (len == 0 || len > SIG_MASK_MAX_DIGITS)
        return EINVAL;
    for (size_t i = 0; i < len; i++)
        if (hexval(s[i]) < 0)
            return EINVAL;
    /* The last digit holds signals 1..4, the one before 5..8, ... */
    for (size_t i = 0; i < len; i++) {
        int v = hexval(s[len - 1 - i]);
        for (int b = 0; b < 4; b++)
            if (v & (1 << b)) {
                if (count >= cap)
                    return ENOSPC;
                out[count++] = (int)(i * 4) + b + 1;
            }
    }
    *total = count;
    return 0;
}

int netops_sig_mask_has(const char *s, size_t len, int sig)
{
    size_t digit;
    int v;
    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2, len -= 2;
    if (sig < 1)
        return 0;
    digit = (size_t)(sig - 1) / 4;
    if (digit >= len)
        return 0;
    v = hexval(s[len - 1 - digit]);
    return v > 0 && (v >> ((sig - 1) % 4)) & 1;
}

size_t netops_sig_mask_digits(int maxsig)
{
    size_t width = ((size_t)SIGRTMAX + 3) / 4;
    size_t need = maxsig > 0 ? ((size_t)maxsig + 3) / 4 : 0;
    return need > width ? need : width;
}

size_t netops_sig_mask_encode(const int *sigs, size_t n, char *out, size_t outlen)
{
    int max = 0;
    size_t digits;

    for (size_t i = 0; i < n; i++) {
        if (sigs[i] < 1 || sigs[i] > 4 * SIG_MASK_MAX_DIGITS)
            return 0;
        if (sigs[i] > max)
            max = sigs[i];
    }
    digits = netops_sig_mask_digits(max);
    if (outlen < digits + 1)
        return 0;
    memset(out, 0, digits);
    for (size_t i = 0; i < n; i++) {
        int bit = sigs[i] - 1;
        out[digits - 1 - (size_t)(bit / 4)] |= (char)(1 << (bit % 4));
    }
    for (size_t i = 0; i < digits; i++)
        out[i] = "0123456789abcdef"[(int)out[i]];
    out[digits] = '\0';
    return digits;
}
