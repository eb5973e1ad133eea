/*
 * signals.h - signal names and numbers, and /proc signal masks (pure C).
 *
 * Names follow bash's `kill -l` on the running system: SIGRTMIN and SIGRTMAX
 * are asked from the C library at run time (34 and 64 under glibc on x86),
 * real-time signals up to the middle are SIGRTMIN+k, the rest SIGRTMAX-k.
 * The signals the C library reserves between the kernel's first real-time
 * signal (32) and SIGRTMIN get stable names: 32 SIGCANCEL and 33 SIGSETXID,
 * glibc's own names for them; any other reserved number n is SIGRT<n>.
 *
 * Masks are the hex strings of /proc/PID/status and `ps -o blocked`: most
 * significant digit first, bit n-1 is signal n, any number of digits.
 */
#ifndef NETOPS_SIGNALS_H
#define NETOPS_SIGNALS_H

/* Functions return 0 or a positive errno; results through out-parameters.
 * (Lookups that cannot fail return their value: a number, a name, 0 for none.) */

#include <stddef.h>

/* Longest name netops_sig_name writes, with its NUL ("SIGRTMAX-1000000" fits). */
#define SIG_NAME_MAX 32

/* Longest mask netops_sig_mask_decode accepts, in hex digits (4096 signals). */
#define SIG_MASK_MAX_DIGITS 1024

/* The run-time real-time range of the C library (glibc: 34 and 64). */
int netops_sig_rtmin(void);
int netops_sig_rtmax(void);

/* The highest signal number of this system (SIGRTMAX). */
int netops_sig_max(void);

/*
 * Write the name of signal n ("SIGTERM", "SIGRTMIN+3", "SIGCANCEL") into
 * buf (at least SIG_NAME_MAX bytes).  Returns buf, or NULL when n is not a
 * signal of this system (n < 1 or n > netops_sig_max()).
 */
char *netops_sig_name(int n, char *buf);

/*
 * The number of a signal given as "TERM", "SIGTERM", "sigterm", "15",
 * "RTMIN+2", "SIGRTMAX-1", an alias ("IOT", "POLL", "CLD"), "SIGCANCEL".
 * len is the length of s (no NUL needed).  Returns the number, or 0 when s
 * names no signal of this system.
 */
int netops_sig_number(const char *s, size_t len);

/*
 * Decode the hex mask s[0..len) (optional "0x"/"0X", then 1 to
 * SIG_MASK_MAX_DIGITS hex digits, no blanks) into ascending signal numbers
 * in out, which holds cap entries (4 per digit always suffice), their
 * number in *count.  Returns 0, EINVAL when s is not a mask, or ENOSPC when
 * out is too small.
 */
int netops_sig_mask_decode(const char *s, size_t len, int *out, size_t cap, size_t *count);

/* Whether the hex mask s[0..len) (digits only, as validated by
 * netops_sig_mask_decode or read from /proc) has signal sig set. */
int netops_sig_mask_has(const char *s, size_t len, int sig);

/* Hex digits that netops_sig_mask_encode writes for a largest signal maxsig:
 * the width of this system's masks (16 on x86), wider when maxsig needs it. */
size_t netops_sig_mask_digits(int maxsig);

/*
 * Encode signals sigs[0..n) (each 1 .. 4*SIG_MASK_MAX_DIGITS, any order,
 * repeats allowed) as a mask of netops_sig_mask_digits(max) lowercase hex digits
 * plus NUL into out of outlen bytes.  Returns the number of digits written,
 * or 0 when a number is out of range or out is too small.
 */
size_t netops_sig_mask_encode(const int *sigs, size_t n, char *out, size_t outlen);

#endif
