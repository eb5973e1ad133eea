/*
 * inet.h - IPv4 and IPv6 address text: strict parsing and one canonical
 * form (RFC 5952 for IPv6, dotted decimal for IPv4).  Pure C, no Lua: the
 * same code serves the Lua binding, the C tests, the fuzzer and the bench.
 *
 * Accepted text (all functions):
 *   IPv4  four decimal octets 0-255, no leading zeros, nothing else.
 *   IPv6  RFC 4291: 1-4 hex digits a group, any case, at most one "::"
 *         standing for at least one zero group, an optional dotted IPv4
 *         tail in the last 32 bits.
 * netops_addr_parse_ex also takes "%zone" (IPv6 only; characters of RFC 6874
 * "unreserved": A-Z a-z 0-9 - . _ ~) and "/prefix" (0-32 or 0-128, decimal,
 * no leading zeros), in that order: fe80::1%eth0/64.
 *
 * Canonical output: IPv6 lowercase, no leading zeros, the longest run of two
 * or more zero groups as "::" (the leftmost on a tie), IPv4-mapped addresses
 * (::ffff:0:0/96) as ::ffff:a.b.c.d, every other IPv6 address in hex (so
 * ::1.2.3.4 is ::102:304, where glibc's inet_ntop prints ::1.2.3.4).
 */
#ifndef NETOPS_INET_H
#define NETOPS_INET_H

/* Functions return 0 or a positive errno; results through out-parameters.
 * (The parsers' "errno" is an enum netops_addr_status code; formatters return
 * the length they wrote, netops_rewrite_next whether it found one.) */

#include <stddef.h>

#define NETOPS_ADDR_MAX 64   /* bytes incl. NUL for any canonical address text */

/* Parse status: 0 or a positive code; netops_addr_error(code) gives the reason text. */
enum netops_addr_status {
    NETOPS_ADDR_OK = 0,
    NETOPS_EADDR_EMPTY = 1,        /* empty string */
    NETOPS_EADDR_SPACE = 2,        /* surrounding white space */
    NETOPS_EADDR_BRACKET = 3,      /* [addr] or [addr]:port */
    NETOPS_EADDR_CHAR = 4,         /* not an address character */
    NETOPS_EADDR_V4_FEW = 5,       /* fewer than four octets */
    NETOPS_EADDR_V4_MANY = 6,      /* more than four octets */
    NETOPS_EADDR_V4_ZERO = 7,      /* leading zero in an octet */
    NETOPS_EADDR_V4_RANGE = 8,     /* octet above 255 */
    NETOPS_EADDR_V4_EMPTY = 9,     /* empty octet */
    NETOPS_EADDR_V4_DIGIT = 10,    /* octet not decimal */
    NETOPS_EADDR_V6_DIGITS = 11,   /* group of more than four hex digits */
    NETOPS_EADDR_V6_MANY = 12,     /* more than eight groups */
    NETOPS_EADDR_V6_FEW = 13,      /* fewer than eight groups, no "::" */
    NETOPS_EADDR_V6_GAPS = 14,     /* more than one "::" */
    NETOPS_EADDR_V6_COLONS = 15,   /* ":::" */
    NETOPS_EADDR_V6_NOGAP = 16,    /* "::" standing for no group */
    NETOPS_EADDR_V6_LEAD = 17,     /* leading single ':' */
    NETOPS_EADDR_V6_TRAIL = 18,    /* trailing single ':' */
    NETOPS_EADDR_V6_V4POS = 19,    /* dotted part not in the last 32 bits */
    NETOPS_EADDR_ZONE_EMPTY = 20,  /* "%" with nothing after it */
    NETOPS_EADDR_ZONE_CHAR = 21,   /* zone character outside A-Z a-z 0-9 - . _ ~ */
    NETOPS_EADDR_ZONE_V4 = 22,     /* zone on an IPv4 address */
    NETOPS_EADDR_ZONE_HERE = 23,   /* zone where only an address is taken */
    NETOPS_EADDR_PREFIX_HERE = 24, /* prefix where only an address is taken */
    NETOPS_EADDR_PREFIX_EMPTY = 25,
    NETOPS_EADDR_PREFIX_ZERO = 26, /* leading zero in the prefix length */
    NETOPS_EADDR_PREFIX_DIGIT = 27,
    NETOPS_EADDR_PREFIX_RANGE4 = 28,
    NETOPS_EADDR_PREFIX_RANGE6 = 29,
    NETOPS_EADDR_NOPREFIX = 30,    /* a network needs a prefix length */
    NETOPS_EADDR_PORT = 31,        /* 1.2.3.4:80 */
    NETOPS_EADDR_NOTADDR = 32,     /* neither IPv4 nor IPv6 in shape */
    NETOPS_EADDR_ROOM = 33,        /* output buffer too small */
    NETOPS_EADDR_LAST = 33
};

/* Parse strict text (no prefix, no zone): returns 0 with *family 4 or 6 and
 * out filled (4 or 16 bytes), or a code; netops_addr_error(code) gives the
 * reason text. */
enum netops_addr_status netops_addr_parse(const char *s, size_t n, unsigned char out[16],
                                          int *family);
const char *netops_addr_error(int code);
/* Canonical RFC 5952 (or dotted IPv4) text of a 4- or 16-byte address; family 4 or 6; returns length. */
/* (A family other than 4 or 6 gives "" and 0.  At most 39 characters are
 * written plus the NUL, but out must have all NETOPS_ADDR_MAX bytes: digits
 * are stored four at a time.) */
size_t netops_addr_format(const unsigned char *addr, int family, char out[NETOPS_ADDR_MAX]);

/* An address with its optional zone and prefix length. */
struct netops_addr {
    unsigned char bytes[16];  /* 4 or 16 used */
    int family;               /* 4 or 6 */
    int prefix;               /* 0..32 or 0..128; -1 when absent */
    size_t zone_off;          /* the zone is s[zone_off .. zone_off+zone_len) */
    size_t zone_len;          /* 0 when absent */
};

/* Parse address[%zone][/prefix]: returns 0 with a->family 4 or 6, or a code. */
enum netops_addr_status netops_addr_parse_ex(const char *s, size_t n, struct netops_addr *a);

/*
 * Canonical text of address[%zone][/prefix] into out (outsize bytes, at
 * least n + NETOPS_ADDR_MAX always suffices); NUL-terminated.  Returns 0
 * with *len the length, or a code.
 */
enum netops_addr_status netops_addr_normalize(const char *s, size_t n, char *out,
                                              size_t outsize, size_t *len);

/* Canonical text of a parsed address with zone (taken from s) and prefix. */
size_t netops_addr_format_ex(const struct netops_addr *a, const char *s, char *out,
                             size_t outsize);

/* The family an invalid text was meant to be (for messages): 4, 6 or 0. */
int netops_addr_guess_family(const char *s, size_t n);

/*
 * The message for a failed parse: "invalid IPv6 address '1::2::3': more than
 * one '::'".  Non-printable bytes of the input show as \xNN; inputs longer
 * than 100 bytes are cut with "...".  Returns the length (snprintf-style).
 */
size_t netops_addr_message(const char *s, size_t n, int code, char *buf, size_t size);

/* Set the host bits (beyond prefix) to zero; prefix within the family's width. */
void netops_addr_mask(unsigned char *bytes, int family, int prefix);

/*
 * rewrite: find the next address in text[*pos .. n) whose canonical text
 * differs from how it is written.  Returns 1 with text[*start .. *end) to be
 * replaced by canon (clen bytes, no NUL), and *pos past it; 0 when no more.
 * Zones and prefixes are left as written (a valid prefix is canonical).
 * Only whole tokens count: a run of hex digits, ':' and '.' glued to other
 * letters, digits or '_' is not an address; a trailing '.' or ':' (end of a
 * sentence, "addr: message") is not part of one.  Eight groups of exactly
 * two hex digits (Fibre Channel WWNs, EUI-64) are left alone.
 */
int netops_rewrite_next(const char *text, size_t n, size_t *pos, size_t *start,
                        size_t *end, char canon[NETOPS_ADDR_MAX], size_t *clen);

/*
 * A line buffer for streams (the normalize command).  Each read(2) appends
 * to a buffer that grows geometrically, and only the bytes just read are
 * searched for a newline, so a line of any length costs linear work however
 * a pipe cuts it (a file and a pipe cost the same).  Unlike the address
 * functions above, it allocates.  scanned and copied count the bytes it
 * searched and moved (growth, keeping the partial line), for tests; a caller
 * that copies lines out adds those.
 */
struct netops_linebuf {
    char *buf;
    size_t len;                     /* bytes held */
    size_t cap;                     /* bytes allocated */
    size_t lines;                   /* buf[0 .. lines) are complete lines; 0: none */
    unsigned long long scanned;
    unsigned long long copied;
};

void netops_linebuf_init(struct netops_linebuf *lb);
void netops_linebuf_free(struct netops_linebuf *lb);    /* keeps the counters */
/* One read(2) of up to max(block, len) bytes, EINTR retried; returns 0 or an
 * errno (ENOMEM when the buffer cannot grow), *got the bytes read (0: end of
 * file).  Sets lb->lines when the new bytes hold a newline. */
int netops_linebuf_fill(struct netops_linebuf *lb, int fd, size_t block, size_t *got);
/* Forget buf[0 .. n), n being lb->lines or lb->len (what the caller took). */
void netops_linebuf_drop(struct netops_linebuf *lb, size_t n);

#endif
