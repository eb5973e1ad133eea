/* probe.c - non-blocking resolve and connect with a timeout.  See probe.h. */
#include "probe.h"
#include "spawn.h"
#include "clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const char *netops_probe_errno_class(int e)
{
    switch (e) {
    case ECONNREFUSED: return "refused";
    case ETIMEDOUT: return "timeout";
    case ECONNRESET: case EPIPE: case ECONNABORTED: return "reset";
    default: return "unreachable";   /* EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL ... */
    }
}

int netops_probe_class_errno(const char *cls)
{
    static const struct { const char *cls; int err; } map[] = {
        { "refused", ECONNREFUSED }, { "reset", ECONNRESET }, { "timeout", ETIMEDOUT },
        { "unreachable", EHOSTUNREACH }, { "dns_permanent", ENOENT },
        { "dns_transient", EAGAIN }, { "interrupted", EINTR },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].cls, cls) == 0)
            return map[i].err;
    return EIO;
}

/* A pending signal on sigfd?  Consumes it; returns its number or 0. */
static int signalled(int sigfd)
{
    if (sigfd < 0)
        return 0;
    struct pollfd pf = { sigfd, POLLIN, 0 };
    if (poll(&pf, 1, 0) <= 0)
        return 0;
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo != SIGCHLD)    /* some child's news: not for us */
            return (int)si.ssi_signo;
    }
    return 0;
}

static int fail(struct netops_probe_result *r, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct netops_probe_result *r, const char *cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->cls = cls;
    return netops_probe_class_errno(cls);
}

/* A lookup through getaddrinfo_a; it must outlive a probe that gives up
 * on it while the resolver, which cannot cancel it, still works on it. */
struct req {
    struct gaicb cb;
    struct addrinfo hints;
    struct req *next;
    char buf[];
};

static struct req *orphans;         /* given up on, still in the resolver */
static int n_orphans;

static void free_req(struct req *q)
{
    if (q->cb.ar_result)
        freeaddrinfo(q->cb.ar_result);
    free(q);
}

/* Free the orphans whose lookups have ended meanwhile. */
static void reap_orphans(void)
{
    for (struct req **pq = &orphans; *pq;) {
        struct req *q = *pq;
        if (gai_error(&q->cb) == EAI_INPROGRESS) {
            pq = &q->next;
            continue;
        }
        *pq = q->next;
        n_orphans--;
        free_req(q);
    }
}

/*
 * Give up on q: free it if it has ended, else keep it as an orphan until it
 * does.  No gai_cancel: cancelling a lookup still queued loses glibc's slot
 * for it (__gai_remove_request does not put it back on the free list), a
 * leak per timed-out probe; PROBE_MAX_PENDING bounds what is left running.
 */
static void abandon(struct req *q)
{
    if (gai_error(&q->cb) == EAI_INPROGRESS) {
        q->next = orphans;
        orphans = q;
        n_orphans++;
    } else {
        free_req(q);
    }
}

/* A name lookup through getaddrinfo_a, started without waiting; NULL with
 * r filled when it cannot start. */
static struct req *start_lookup(const char *host, const char *port,
                                const struct addrinfo *hints, struct netops_probe_result *r)
{
    size_t hl = strlen(host) + 1, pl = strlen(port) + 1;
    struct req *q = calloc(1, sizeof *q + hl + pl);
    if (!q) {
        fail(r, "dns_transient", "%s: resolve: out of memory", host);
        return NULL;
    }
    memcpy(q->buf, host, hl);
    memcpy(q->buf + hl, port, pl);
    q->hints = *hints;
    q->hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    q->cb.ar_name = q->buf;
    q->cb.ar_service = q->buf + hl;
    q->cb.ar_request = &q->hints;
    struct gaicb *list[1] = { &q->cb };
    int e = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
    if (e) {
        free(q);
        fail(r, "dns_transient", "%s: resolve: %s", host, gai_strerror(e));
        return NULL;
    }
    return q;
}

/* Wait for q until the deadline or a signal on sigfd; returns its gai
 * error (0: done), or, having abandoned q, an errno with r filled. */
static int wait_lookup(struct req *q, const char *host, int sigfd, double deadline,
                       struct netops_probe_result *r, int *gai)
{
    const struct gaicb *const list[1] = { &q->cb };
    while ((*gai = gai_error(&q->cb)) == EAI_INPROGRESS) {
        int sig = signalled(sigfd);
        double left = deadline - netops_clock_now();
        if (sig || left <= 0) {
            abandon(q);
            if (!sig)
                return fail(r, "dns_transient", "%s: resolve: timed out", host);
            r->sig = sig;
            return fail(r, "interrupted", "%s: resolve: interrupted by signal %d", host, sig);
        }
        double slice = left < 0.02 ? left : 0.02;
        struct timespec ts = { 0, (long)(slice * 1e9) };
        gai_suspend(list, 1, &ts);
    }
    return 0;
}

/*
 * Resolve with a deadline: numeric addresses at once, names through
 * getaddrinfo_a so that a slow resolver cannot hold us past the timeout
 * nor past a signal.  Returns 0 and *res, or an errno with r filled.
 */
static int resolve(const char *host, const char *port, const struct netops_probe_opts *o,
                   double deadline, struct addrinfo **res, struct netops_probe_result *r)
{
    struct addrinfo hints;
    int gai, err;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = o->family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    reap_orphans();
    if (getaddrinfo(host, port, &hints, res) == 0)
        return 0;
    if (n_orphans >= PROBE_MAX_PENDING)
        return fail(r, "dns_transient", "%s: resolve: resolver busy (%d earlier lookups still pending)",
                    host, n_orphans);
    struct req *q = start_lookup(host, port, &hints, r);
    if (!q)
        return netops_probe_class_errno(r->cls);
    if ((err = wait_lookup(q, host, o->sigfd, deadline, r, &gai)) != 0)
        return err;
    if (gai != 0) {
        int e = errno;
        free(q);
        const char *cls = (gai == EAI_AGAIN || gai == EAI_SYSTEM || gai == EAI_MEMORY)
                          ? "dns_transient" : "dns_permanent";
        return fail(r, cls, "%s: %s", host, gai == EAI_SYSTEM ? strerror(e) : gai_strerror(gai));
    }
    *res = q->cb.ar_result;
    free(q);
    return 0;
}

struct attempt {
    int fd;
    int err;
    struct sockaddr_storage sa;
    socklen_t salen;
};

static void fmt_addr(const struct sockaddr *sa, char *buf, size_t len, int *port)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)sa;
        inet_ntop(AF_INET, &s->sin_addr, host, sizeof host);
        *port = ntohs(s->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)sa;
        inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof host);
        *port = ntohs(s->sin6_port);
    }
    snprintf(buf, len, "%s", host);
}

/* Read lines until one starts with prefix.  0, or -1 with r filled. */
static int read_banner(int fd, const char *host, const char *prefix, double deadline,
                       int sigfd, struct netops_probe_result *r)
{
    char buf[8192];
    size_t len = 0, start = 0;
    for (;;) {
        /* complete lines in buf[start..len) */
        char *nl;
        while ((nl = memchr(buf + start, '\n', len - start)) != NULL) {
            size_t l = (size_t)(nl - (buf + start));
            if (l > 0 && buf[start + l - 1] == '\r')
                l--;
            if (l >= strlen(prefix) && memcmp(buf + start, prefix, strlen(prefix)) == 0) {
                if (l >= sizeof r->banner)
                    l = sizeof r->banner - 1;
                memcpy(r->banner, buf + start, l);
                r->banner[l] = 0;
                return 0;
            }
            start = (size_t)(nl - buf) + 1;
        }
        if (start > 0) {
            memmove(buf, buf + start, len - start);
            len -= start;
            start = 0;
        }
        if (len == sizeof buf)
            return fail(r, "reset", "%s port %d: no identification line in %zu bytes",
                        host, r->port, sizeof buf);
        double left = deadline - netops_clock_now();
        if (left <= 0)
            return fail(r, "timeout", "%s port %d: timed out waiting for the identification line",
                        host, r->port);
        struct pollfd pf[2] = { { fd, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
        int k = poll(pf, sigfd >= 0 ? 2 : 1, netops_clock_poll_ms(left));
        if (k < 0 && errno != EINTR)
            return fail(r, "reset", "%s port %d: poll: %s", host, r->port, strerror(errno));
        int sig = signalled(sigfd);
        if (sig) {
            r->sig = sig;
            return fail(r, "interrupted", "%s port %d: interrupted by signal %d", host, r->port, sig);
        }
        if (k <= 0 || !(pf[0].revents))
            continue;
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n == 0)
            return fail(r, "reset", "%s port %d: connection closed before the identification line",
                        host, r->port);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return fail(r, netops_probe_errno_class(errno), "%s port %d: %s", host, r->port, strerror(errno));
        }
        len += (size_t)n;
    }
}

static int rank(const char *cls)
{
    /* the most telling failure wins: the host answered > it is unreachable > silence */
    if (strcmp(cls, "refused") == 0) return 4;
    if (strcmp(cls, "reset") == 0) return 3;
    if (strcmp(cls, "unreachable") == 0) return 2;
    return 1;
}

/* The connection attempts of one probe, one per address, started in turn. */
struct race {
    struct attempt at[PROBE_MAX_ADDRS];
    int na;                 /* addresses */
    int next;               /* attempts started: at[0..next) */
    int winner;             /* the attempt that connected, or -1 */
    int sig;                /* a signal that ended the race, or 0 */
    double next_at;         /* when the next attempt is due */
};

/* The usable (IPv4, IPv6) addresses of res, at most PROBE_MAX_ADDRS. */
static void race_init(struct race *rc, const struct addrinfo *res, double t0)
{
    memset(rc, 0, sizeof *rc);
    rc->winner = -1;
    rc->next_at = t0;
    for (const struct addrinfo *ai = res; ai && rc->na < PROBE_MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        struct attempt *a = &rc->at[rc->na++];
        a->fd = -1;
        memcpy(&a->sa, ai->ai_addr, ai->ai_addrlen);
        a->salen = ai->ai_addrlen;
    }
}

static int race_live(const struct race *rc)
{
    int live = 0;
    for (int i = 0; i < rc->next; i++)
        live += rc->at[i].fd >= 0;
    return live;
}

/* Start the next attempt (a non-blocking connect); 1 if it connected at once. */
static int race_start(struct race *rc, double now, double stagger)
{
    struct attempt *a = &rc->at[rc->next++];
    rc->next_at = now + (stagger > 0 ? stagger : 0.25);
    a->fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->fd < 0) {
        a->err = errno;
        return 0;
    }
    if (connect(a->fd, (struct sockaddr *)&a->sa, a->salen) == 0) {
        rc->winner = rc->next - 1;
        return 1;
    }
    if (errno != EINPROGRESS) {
        a->err = errno;
        close(a->fd);
        a->fd = -1;
    }
    return 0;
}

/* An attempt poll found ready: connected (the winner, if first) or failed. */
static void race_settle(struct race *rc, int i)
{
    struct attempt *a = &rc->at[i];
    int e = 0;
    socklen_t el = sizeof e;
    if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
        e = errno;
    if (e == 0 && rc->winner < 0) {
        rc->winner = i;
    } else if (e != 0) {
        a->err = e;
        close(a->fd);
        a->fd = -1;
    }
}

/* Wait until an attempt settles, a signal comes, or wake; 0, or -1 when
 * poll fails. */
static int race_poll(struct race *rc, int sigfd, double now, double wake)
{
    struct pollfd pf[PROBE_MAX_ADDRS + 1];
    int idx[PROBE_MAX_ADDRS + 1], n = 0;
    for (int i = 0; i < rc->next; i++) {
        if (rc->at[i].fd >= 0) {
            pf[n] = (struct pollfd){ rc->at[i].fd, POLLOUT, 0 };
            idx[n++] = i;
        }
    }
    if (sigfd >= 0) {
        pf[n] = (struct pollfd){ sigfd, POLLIN, 0 };
        idx[n++] = -1;
    }
    int k = poll(pf, (nfds_t)n, netops_clock_poll_ms(wake - now));
    if (k < 0 && errno != EINTR)
        return -1;
    for (int j = 0; j < n && k > 0; j++) {
        if (!pf[j].revents)
            continue;
        if (idx[j] < 0)
            rc->sig = signalled(sigfd);
        else
            race_settle(rc, idx[j]);
    }
    return 0;
}

/*
 * Connect to the addresses, staggered (RFC 8305): the next one when it is
 * due, or at once when every started one has failed; until one connects, a
 * signal comes, all have failed, or the deadline.  Then the losers are closed.
 */
static void race_run(struct race *rc, const struct netops_probe_opts *o, double deadline)
{
    for (;;) {
        double t = netops_clock_now();
        int live = race_live(rc);
        if (rc->next < rc->na && (t >= rc->next_at || live == 0)) {
            if (race_start(rc, t, o->stagger))
                break;
            continue;
        }
        if ((live == 0 && rc->next >= rc->na) || t >= deadline)
            break;                      /* every address failed, or out of time */
        double wake = rc->next < rc->na && rc->next_at < deadline ? rc->next_at : deadline;
        if (race_poll(rc, o->sigfd, t, wake) < 0 || rc->winner >= 0 || rc->sig)
            break;
    }
    for (int i = 0; i < rc->next; i++) {
        if (rc->at[i].fd >= 0 && i != rc->winner) {
            close(rc->at[i].fd);
            rc->at[i].fd = -1;
        }
    }
}

/* No address answered: report the most telling failure; returns its errno. */
static int race_failure(const struct race *rc, const char *host, const char *port,
                        double timeout, struct netops_probe_result *r)
{
    const char *cls = "timeout";
    int best = -1;
    for (int i = 0; i < rc->next; i++) {
        int e = rc->at[i].err;
        if (e && (best < 0 || rank(netops_probe_errno_class(e)) > rank(cls))) {
            best = i;
            cls = netops_probe_errno_class(e);
        }
    }
    if (best >= 0 && (rc->na == rc->next || strcmp(cls, "timeout") != 0)) {
        char a[64];
        int p = 0;
        fmt_addr((const struct sockaddr *)&rc->at[best].sa, a, sizeof a, &p);
        return fail(r, cls, "%s (%s) port %d: %s", host, a, p, strerror(rc->at[best].err));
    }
    return fail(r, "timeout", "%s port %s: connection timed out after %.3g s", host, port, timeout);
}

/* The race's outcome into r (the winner's address, its banner if asked);
 * closes the winner.  Returns 0 or an errno. */
static int race_result(struct race *rc, const char *host, const char *port,
                       const struct netops_probe_opts *o, double deadline, struct netops_probe_result *r)
{
    int err = 0;
    if (rc->winner < 0 && !rc->sig)
        return race_failure(rc, host, port, o->timeout, r);
    struct attempt *a = &rc->at[rc->winner >= 0 ? rc->winner : 0];
    if (rc->sig) {
        r->sig = rc->sig;
        err = fail(r, "interrupted", "%s port %s: interrupted by signal %d", host, port, rc->sig);
    } else {
        fmt_addr((struct sockaddr *)&a->sa, r->addr, sizeof r->addr, &r->port);
        r->family = a->sa.ss_family;
        if (o->banner)
            err = read_banner(a->fd, host, o->banner, deadline, o->sigfd, r);
    }
    if (rc->winner >= 0)
        close(a->fd);
    return err;
}

int netops_probe_run(const char *host, const char *port, const struct netops_probe_opts *o,
              struct netops_probe_result *r)
{
    struct addrinfo *res = NULL;
    struct race rc;
    memset(r, 0, sizeof *r);
    double t0 = netops_clock_now(), deadline = t0 + o->timeout;
    int err = resolve(host, port, o, deadline, &res, r);
    if (err == 0) {
        race_init(&rc, res, t0);
        freeaddrinfo(res);
        if (rc.na == 0)
            err = fail(r, "dns_permanent", "%s: no usable address", host);
    }
    if (err == 0) {
        race_run(&rc, o, deadline);
        err = race_result(&rc, host, port, o, deadline, r);
    }
    r->elapsed = netops_clock_now() - t0;
    return err;
}
