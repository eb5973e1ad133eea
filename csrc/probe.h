/*
 * probe.h - is a TCP service accepting?  Resolve a name (all A and AAAA
 * records, or one family), connect to every address without blocking
 * (staggered, RFC 8305 style), with one overall timeout; optionally read an
 * identification line such as SSH's (RFC 4253 4.2).  No Lua here.
 */
#ifndef NETOPS_PROBE_H
#define NETOPS_PROBE_H

#include <netinet/in.h>

#define PROBE_MAX_ADDRS 16
/*
 * Name lookups a probe gave up on (timeout, signal) stay with the resolver
 * until it ends them, then the next probe frees them.  With this many still
 * pending, a probe of a name fails at once (dns_transient, "resolver busy")
 * instead of queueing one more.
 */
#define PROBE_MAX_PENDING 64

struct netops_probe_opts {
    double timeout;         /* whole probe, seconds (resolution included) */
    int family;             /* AF_UNSPEC, AF_INET or AF_INET6 */
    const char *banner;     /* NULL, or the prefix of the line to wait for */
    double stagger;         /* delay before trying the next address */
    int sigfd;              /* readable means "stop now" (signalfd), or -1 */
};

struct netops_probe_result {
    const char *cls;        /* NULL on success, else one of the classes */
    char msg[512];          /* "host port P: reason" */
    char addr[64];          /* the address that answered */
    int family;
    int port;
    char banner[256];       /* the identification line, without CR LF */
    double elapsed;
    int sig;                /* the signal that interrupted, class "interrupted" */
};

/*
 * Returns 0 when an address accepted (and sent the banner if asked), else
 * the errno of r->cls (netops_probe_class_errno) with r->cls one of "refused",
 * "unreachable", "timeout", "reset", "dns_permanent", "dns_transient",
 * "interrupted" and r->msg saying what happened.
 */
int netops_probe_run(const char *host, const char *port, const struct netops_probe_opts *o,
              struct netops_probe_result *r);

/* The class of a connect/read errno. */
const char *netops_probe_errno_class(int e);

/* The errno standing for a class: ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT,
 * ECONNRESET, ENOENT (dns_permanent), EAGAIN (dns_transient), EINTR. */
int netops_probe_class_errno(const char *cls);

#endif
