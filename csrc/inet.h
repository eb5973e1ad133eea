/* inet.h - address text (TEMPORARY minimal version from the conntrack branch;
 * the real one from the inet area replaces it at merge). */
#ifndef NETOPS_INET_H
#define NETOPS_INET_H
#include <stddef.h>

#define NETOPS_ADDR_MAX 64

/* Parse n bytes of s; returns 4 or 6 (out filled) or a negative code. */
int netops_addr_parse(const char *s, size_t n, unsigned char out[16]);
/* The message for a negative code of netops_addr_parse. */
const char *netops_addr_error(int code);
/* Canonical text of addr (family 4 or 6) into out; returns its length. */
size_t netops_addr_format(const unsigned char *addr, int family, char out[NETOPS_ADDR_MAX]);

#endif
