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

const char *probe_errno_class(int e)
{
    switch (e) {
    case ECONNREFUSED: return "refused";
    case ETIMEDOUT: return "timeout";
    case ECONNRESET: case EPIPE: case ECONNABORTED: return "reset";
    default: return "unreachable";   /* EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL ... */
    }
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

static int fail(struct probe_result *r, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct probe_result *r, const char *cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->cls = cls;
    return -1;
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

/*
 * Resolve with a deadline: numeric addresses at once, names through
 * getaddrinfo_a so that a slow resolver cannot hold us past the timeout
 * nor past a signal.  Returns 0 and *res, or -1 with r filled.
 */
static int resolve(const char *host, const char *port, const struct probe_opts *o,
                   double deadline, struct addrinfo **res, struct probe_result *r)
{
    struct addrinfo hints;
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

    struct req *q;
    size_t hl = strlen(host) + 1, pl = strlen(port) + 1;
    q = calloc(1, sizeof *q + hl + pl);
    if (!q)
        return fail(r, "dns_transient", "%s: resolve: out of memory", host);
    memcpy(q->buf, host, hl);
    memcpy(q->buf + hl, port, pl);
    q->hints = hints;
    q->hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    q->cb.ar_name = q->buf;
    q->cb.ar_service = q->buf + hl;
    q->cb.ar_request = &q->hints;
    struct gaicb *list[1] = { &q->cb };
    int e = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
    if (e) {
        free(q);
        return fail(r, "dns_transient", "%s: resolve: %s", host, gai_strerror(e));
    }
    for (;;) {
        e = gai_error(&q->cb);
        if (e != EAI_INPROGRESS)
            break;
        int sig = signalled(o->sigfd);
        double left = deadline - netops_clock_now();
        if (sig || left <= 0) {
            abandon(q);
            if (sig) {
                r->sig = sig;
                return fail(r, "interrupted", "%s: resolve: interrupted by signal %d", host, sig);
            }
            return fail(r, "dns_transient", "%s: resolve: timed out", host);
        }
        double slice = left < 0.02 ? left : 0.02;
        struct timespec ts = { 0, (long)(slice * 1e9) };
        gai_suspend((const struct gaicb *const *)list, 1, &ts);
    }
    if (e != 0) {
        free(q);
        const char *cls = (e == EAI_AGAIN || e == EAI_SYSTEM || e == EAI_MEMORY)
                          ? "dns_transient" : "dns_permanent";
        return fail(r, cls, "%s: %s", host,
                    e == EAI_SYSTEM ? strerror(errno) : gai_strerror(e));
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
                       int sigfd, struct probe_result *r)
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
            return fail(r, probe_errno_class(errno), "%s port %d: %s", host, r->port, strerror(errno));
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

int probe_run(const char *host, const char *port, const struct probe_opts *o,
              struct probe_result *r)
{
    memset(r, 0, sizeof *r);
    double t0 = netops_clock_now(), deadline = t0 + o->timeout;
    struct addrinfo *res = NULL;
    if (resolve(host, port, o, deadline, &res, r) < 0) {
        r->elapsed = netops_clock_now() - t0;
        return -1;
    }
    struct attempt at[PROBE_MAX_ADDRS];
    int na = 0;
    for (struct addrinfo *ai = res; ai && na < PROBE_MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        at[na].fd = -1;
        at[na].err = 0;
        memcpy(&at[na].sa, ai->ai_addr, ai->ai_addrlen);
        at[na].salen = ai->ai_addrlen;
        na++;
    }
    freeaddrinfo(res);
    if (na == 0) {
        r->elapsed = netops_clock_now() - t0;
        return fail(r, "dns_permanent", "%s: no usable address", host);
    }

    int next = 0, winner = -1, sig = 0;
    double next_at = t0;
    for (;;) {
        double t = netops_clock_now();
        /* start the next address when due, or at once when all others failed */
        int live = 0;
        for (int i = 0; i < next; i++)
            live += at[i].fd >= 0;
        if (next < na && (t >= next_at || live == 0)) {
            struct attempt *a = &at[next++];
            a->fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (a->fd < 0) {
                a->err = errno;
            } else if (connect(a->fd, (struct sockaddr *)&a->sa, a->salen) == 0) {
                winner = next - 1;
                break;
            } else if (errno != EINPROGRESS) {
                a->err = errno;
                close(a->fd);
                a->fd = -1;
            }
            next_at = t + (o->stagger > 0 ? o->stagger : 0.25);
            continue;
        }
        if (live == 0 && next >= na)
            break;                      /* every address failed */
        if (t >= deadline)
            break;
        struct pollfd pf[PROBE_MAX_ADDRS + 1];
        int idx[PROBE_MAX_ADDRS + 1], n = 0;
        for (int i = 0; i < next; i++) {
            if (at[i].fd >= 0) {
                pf[n] = (struct pollfd){ at[i].fd, POLLOUT, 0 };
                idx[n++] = i;
            }
        }
        if (o->sigfd >= 0) {
            pf[n] = (struct pollfd){ o->sigfd, POLLIN, 0 };
            idx[n++] = -1;
        }
        double wake = deadline;
        if (next < na && next_at < wake)
            wake = next_at;
        int k = poll(pf, (nfds_t)n, netops_clock_poll_ms(wake - t));
        if (k < 0 && errno != EINTR)
            break;
        for (int j = 0; j < n && k > 0; j++) {
            if (!pf[j].revents)
                continue;
            if (idx[j] < 0) {
                sig = signalled(o->sigfd);
                continue;
            }
            struct attempt *a = &at[idx[j]];
            int e = 0;
            socklen_t el = sizeof e;
            if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
                e = errno;
            if (e == 0 && winner < 0) {
                winner = idx[j];
            } else if (e != 0) {
                a->err = e;
                close(a->fd);
                a->fd = -1;
            }
        }
        if (winner >= 0 || sig)
            break;
    }

    int ret = -1;
    for (int i = 0; i < next; i++) {
        if (at[i].fd >= 0 && i != winner) {
            close(at[i].fd);
            at[i].fd = -1;
        }
    }
    if (sig) {
        r->sig = sig;
        if (winner >= 0)
            close(at[winner].fd);
        fail(r, "interrupted", "%s port %s: interrupted by signal %d", host, port, sig);
    } else if (winner >= 0) {
        struct attempt *a = &at[winner];
        fmt_addr((struct sockaddr *)&a->sa, r->addr, sizeof r->addr, &r->port);
        r->family = a->sa.ss_family;
        ret = 0;
        if (o->banner && read_banner(a->fd, host, o->banner, deadline, o->sigfd, r) < 0)
            ret = -1;
        close(a->fd);
    } else {
        /* no address answered: report the most telling failure */
        const char *cls = "timeout";
        int best = -1;
        for (int i = 0; i < next; i++) {
            if (at[i].err && (best < 0 || rank(probe_errno_class(at[i].err)) > rank(cls))) {
                best = i;
                cls = probe_errno_class(at[i].err);
            }
        }
        if (best >= 0 && (na == next || strcmp(cls, "timeout") != 0)) {
            char a[64];
            int p = 0;
            fmt_addr((struct sockaddr *)&at[best].sa, a, sizeof a, &p);
            fail(r, cls, "%s (%s) port %d: %s", host, a, p, strerror(at[best].err));
        } else {
            fail(r, "timeout", "%s port %s: connection timed out after %.3g s", host, port, o->timeout);
        }
    }
    r->elapsed = netops_clock_now() - t0;
    return ret;
}
