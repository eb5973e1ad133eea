/* inet.c - TEMPORARY minimal address text on glibc inet_pton/inet_ntop, so the
 * conntrack branch builds before the inet area lands; replaced at merge. */
#include "inet.h"

#include <arpa/inet.h>
#include <string.h>

int netops_addr_parse(const char *s, size_t n, unsigned char out[16])
{
    char buf[NETOPS_ADDR_MAX];
    if (n == 0)
        return -1;
    if (n >= sizeof buf || memchr(s, '\0', n))
        return -2;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, buf, out) == 1)
        return 6;
    return -3;
}

const char *netops_addr_error(int code)
{
    switch (code) {
    case -1: return "empty address";
    case -2: return "address too long";
    default: return "not an IPv4 or IPv6 address";
    }
}

size_t netops_addr_format(const unsigned char *addr, int family, char out[NETOPS_ADDR_MAX])
{
    if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, out, NETOPS_ADDR_MAX)) {
        out[0] = '\0';
        return 0;
    }
    return strlen(out);
}
