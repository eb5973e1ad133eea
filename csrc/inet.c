/*
 * inet.c - strict IPv4/IPv6 address parsing and canonical text (RFC 5952).
 * See inet.h for the accepted forms.  No locale, no allocation, no libc
 * printf on the hot path: one pass over the text, one pass to format.
 * At the end, the line buffer of the streaming commands (which allocates).
 */
#include "inet.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Hex digit values; 0xff for every other byte. */
#define X16 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, \
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
static const unsigned char hexv[256] = {
    X16, X16, X16,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 10, 11, 12, 13, 14, 15, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    X16,
    0xff, 10, 11, 12, 13, 14, 15, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    X16, X16, X16, X16, X16, X16, X16, X16, X16,
};
#undef X16

static inline int hexval(unsigned char c)
{
    return hexv[c] == 0xff ? -1 : hexv[c];
}

static inline int isdig(unsigned char c)
{
    return (unsigned)(c - '0') < 10u;
}

static inline int isspc(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* A character that can appear inside the address part. */
static inline int isaddrch(unsigned char c)
{
    return hexval(c) >= 0 || c == ':' || c == '.';
}

/* RFC 6874 unreserved: the characters a zone may hold. */
static inline int iszonech(unsigned char c)
{
    return isdig(c) || (unsigned)((c | 0x20) - 'a') < 26u || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

static inline int isword(unsigned char c)
{
    return isdig(c) || (unsigned)((c | 0x20) - 'a') < 26u || c == '_';
}

/* Where the address part ends: at the end, a zone or a prefix. */
static inline int isstop(const char *p, const char *e)
{
    return p == e || *p == '%' || *p == '/';
}

/*
 * Four strict decimal octets from p; *stop is set to the first byte after
 * them.  Returns 0 or a code.
 */
static int parse4(const char *p, const char *e, unsigned char *out, const char **stop)
{
    for (int i = 0; i < 4; i++) {
        if (i > 0) {
            if (isstop(p, e))
                return NETOPS_EADDR_V4_FEW;
            if (*p != '.')
                return *p == ':' ? NETOPS_EADDR_PORT : NETOPS_EADDR_V4_DIGIT;
            p++;
        }
        if (p == e || !isdig((unsigned char)*p))
            return (isstop(p, e) || *p == '.') ? NETOPS_EADDR_V4_EMPTY : NETOPS_EADDR_V4_DIGIT;
        unsigned v = (unsigned)(*p++ - '0');
        if (p < e && isdig((unsigned char)*p)) {
            if (v == 0)
                return NETOPS_EADDR_V4_ZERO;
            v = v * 10 + (unsigned)(*p++ - '0');
            if (p < e && isdig((unsigned char)*p)) {
                v = v * 10 + (unsigned)(*p++ - '0');
                if (v > 255 || (p < e && isdig((unsigned char)*p)))
                    return NETOPS_EADDR_V4_RANGE;
            }
        }
        out[i] = (unsigned char)v;
    }
    *stop = p;
    return 0;
}

/*
 * The fast path for the common shape: hex groups, at most one "::", ended
 * by the end, '%' or '/'.  With SSE2, 48 bytes are classified at once into
 * bit masks (hex digit, colon); the structure is checked on the masks and
 * each group's value is computed independently of the others, so there is
 * no chain of "find the next colon, then the next" through the string.
 * Returns where the address ends, or NULL for anything else (dotted tails,
 * every error): parse6 then decides, with the exact reason.
 *
 * fast6w is longer than 60 lines on purpose: it is the hot path of
 * bench/10-inet, and its masks, the bytes of the buffer and the group
 * values stay in registers through one function; split, they would cross
 * calls (or need always_inline helpers that read no better).
 */
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define HAVE_FAST6 1

/* The value of the first k (1..4) hex digits in x (first in the lowest byte). */
static inline unsigned swar_hexval(uint64_t x, unsigned k)
{
    const uint64_t ones = 0x0101010101010101ull;
    uint64_t nib = (x & 0x0f * ones) + ((x >> 6) & ones) * 9;
    uint64_t y = __builtin_bswap64(nib) >> (8 * (8 - k));
    y = (y | (y >> 4)) & 0x00ff00ff00ff00ffull;
    y = (y | (y >> 8)) & 0x0000ffff0000ffffull;
    return (unsigned)(y & 0xffff);
}

/* Set bits of x (no libgcc call without -mpopcnt). */
static inline int popcount64(uint64_t x)
{
    x -= (x >> 1) & 0x5555555555555555ull;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

static const char *fast6w(const char *s, const char *e, unsigned w[8])
{
    unsigned char buf[64] __attribute__((aligned(16)));
    size_t n = (size_t)(e - s);
    uint64_t hex = 0, colon = 0;

    /* s[0..min(n,48)) into the zeroed buffer with fixed-size moves (two
     * overlapping ones cover any length between their size and twice it) */
    memset(buf, 0, sizeof buf);
    if (n >= 48) {
        memcpy(buf, s, 48);
    } else if (n >= 32) {
        memcpy(buf, s, 32);
        memcpy(buf + n - 16, s + n - 16, 16);
    } else if (n >= 16) {
        memcpy(buf, s, 16);
        memcpy(buf + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(buf, s, 8);
        memcpy(buf + n - 8, s + n - 8, 8);
    } else {
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)s[i];
    }
    for (int k = 0; k < 3; k++) {
        __m128i c = _mm_load_si128((const __m128i *)(const void *)(buf + 16 * k));
        __m128i d = _mm_and_si128(_mm_cmpgt_epi8(c, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(c, _mm_set1_epi8('9' + 1)));
        __m128i l = _mm_or_si128(c, _mm_set1_epi8(0x20));
        __m128i a = _mm_and_si128(_mm_cmpgt_epi8(l, _mm_set1_epi8('a' - 1)),
                                  _mm_cmplt_epi8(l, _mm_set1_epi8('f' + 1)));
        hex |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(d, a)) << (16 * k);
        colon |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(c, _mm_set1_epi8(':')))
                 << (16 * k);
    }
    /* the address part: up to the first byte that is neither */
    unsigned len = (unsigned)__builtin_ctzll(~(hex | colon));
    if (len == 0 || len > 39)
        return NULL;
    if (len < n && s[len] != '%' && s[len] != '/')
        return NULL;
    hex &= (1ull << len) - 1;                    /* not the zone's letters */
    colon &= (1ull << len) - 1;
    uint64_t dc = colon & (colon >> 1);          /* "::" starting at bit i */
    if ((hex & (hex >> 1) & (hex >> 2) & (hex >> 3) & (hex >> 4)) ||  /* 5+ digits */
        (dc & (dc >> 1)) || (dc & (dc - 1)) ||   /* ":::", two "::" */
        ((colon & 1) && !(dc & 1)) ||            /* leading single ':' */
        (((colon >> (len - 1)) & 1) && (len < 2 || !((dc >> (len - 2)) & 1))))
        return NULL;                             /* trailing single ':' */
    uint64_t starts = hex & ~(hex << 1);
    int ng = popcount64(starts);
    int before = ng;
    if (dc) {
        if (ng > 7)
            return NULL;
        before = popcount64(starts & ((1ull << __builtin_ctzll(dc)) - 1));
    } else if (ng != 8) {
        return NULL;
    }
    for (int i = 0; i < 8; i++)
        w[i] = 0;
    for (int i = 0; starts; i++) {
        unsigned pos = (unsigned)__builtin_ctzll(starts);
        starts &= starts - 1;
        unsigned k = (unsigned)__builtin_ctzll(~(hex >> pos));
        uint64_t x;
        memcpy(&x, buf + pos, 8);
        w[i < before ? i : i + 8 - ng] = swar_hexval(x, k);
    }
    return s + len;
}

/* fast6w, as 16 bytes. */
static const char *fast6(const char *s, const char *e, unsigned char *out)
{
    unsigned w[8];
    const char *p = fast6w(s, e, w);
    if (p) {
        for (int i = 0; i < 8; i++) {
            out[2 * i] = (unsigned char)(w[i] >> 8);
            out[2 * i + 1] = (unsigned char)w[i];
        }
    }
    return p;
}
#endif

/*
 * RFC 4291 text from p into 16 bytes; *stop is set to the first byte that
 * is not part of the address (the caller checks what it is).
 *
 * Longer than 60 lines on purpose: one pass over the text, a state machine
 * (group, "::", dotted tail) whose every error names its exact reason; its
 * state (nw, gap, the groups so far) would otherwise travel through every
 * call, and the order of the checks is what makes each reason exact.
 */
static int parse6(const char *p, const char *e, unsigned char *out, const char **stop)
{
    unsigned w[8];
    int nw = 0, gap = -1;

    if (p < e && *p == ':') {
        if (p + 1 >= e || p[1] != ':')
            return NETOPS_EADDR_V6_LEAD;
        gap = 0;
        p += 2;
        if (p == e || !isaddrch((unsigned char)*p))
            goto done;
        if (*p == ':')
            return NETOPS_EADDR_V6_COLONS;
    }
    for (;;) {
        const char *g = p;
        unsigned v = 0, d;
        while (p < e && (d = hexv[(unsigned char)*p]) < 16) {
            v = (v << 4) | d;   /* unsigned: a long run wraps, it is refused below */
            p++;
        }
        if (p < e && *p == '.') {
            unsigned char t[4];
            const char *s4;
            int r;
            if (nw > 6)
                return NETOPS_EADDR_V6_MANY;
            if ((r = parse4(g, e, t, &s4)) != 0)
                return r == NETOPS_EADDR_PORT ? NETOPS_EADDR_V6_V4POS : r;
            p = s4;
            if (p < e && *p == '.')
                return NETOPS_EADDR_V4_MANY;
            if (p < e && *p == ':')
                return NETOPS_EADDR_V6_V4POS;
            w[nw++] = (unsigned)t[0] << 8 | t[1];
            w[nw++] = (unsigned)t[2] << 8 | t[3];
            break;
        }
        if (p == g) {
            if (p < e && *p == ':')
                return NETOPS_EADDR_V6_COLONS;
            return isstop(p, e) ? NETOPS_EADDR_V6_TRAIL : NETOPS_EADDR_CHAR;
        }
        if (p - g > 4)
            return NETOPS_EADDR_V6_DIGITS;
        if (nw == 8)
            return NETOPS_EADDR_V6_MANY;
        w[nw++] = v;
        if (p == e || *p != ':')
            break;
        p++;
        if (p < e && *p == ':') {
            if (gap >= 0)
                return NETOPS_EADDR_V6_GAPS;
            gap = nw;
            p++;
            if (p == e || !isaddrch((unsigned char)*p))
                break;
            if (*p == ':')
                return NETOPS_EADDR_V6_COLONS;
        }
    }
done:
    if (gap >= 0) {
        if (nw == 8)
            return NETOPS_EADDR_V6_NOGAP;
        int tail = nw - gap, zeros = 8 - nw;
        for (int i = 0; i < tail; i++)
            w[7 - i] = w[nw - 1 - i];
        for (int i = 0; i < zeros; i++)
            w[gap + i] = 0;
    } else if (nw != 8) {
        return NETOPS_EADDR_V6_FEW;
    }
    for (int i = 0; i < 8; i++) {
        out[2 * i] = (unsigned char)(w[i] >> 8);
        out[2 * i + 1] = (unsigned char)w[i];
    }
    *stop = p;
    return 0;
}

int netops_addr_guess_family(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ':')
            return 6;
        if (s[i] == '.')
            return 4;
    }
    if (n > 0 && isdig((unsigned char)s[0])) {
        for (size_t i = 0; i < n; i++)
            if (!isdig((unsigned char)s[i]))
                return 0;
        return 4;
    }
    return 0;
}

/* The zone after '%' at *p (up to '/' or e) into a; *p ends after it.
 * 0 or a code. */
static int parse_zone(const char *s, const char *e, const char **p, struct netops_addr *a)
{
    const char *z = ++*p;
    while (*p < e && **p != '/') {
        if (!iszonech((unsigned char)**p))
            return NETOPS_EADDR_ZONE_CHAR;
        ++*p;
    }
    if (*p == z)
        return NETOPS_EADDR_ZONE_EMPTY;
    a->zone_off = (size_t)(z - s);
    a->zone_len = (size_t)(*p - z);
    return 0;
}

/* The prefix length q..e (after '/', to the end) and the family into a;
 * 0 or a code. */
static int parse_prefix(const char *q, const char *e, int fam, struct netops_addr *a)
{
    const char *p = q;
    int v = 0, max = fam == 4 ? 32 : 128;
    int range = fam == 4 ? NETOPS_EADDR_PREFIX_RANGE4 : NETOPS_EADDR_PREFIX_RANGE6;
    if (p == e)
        return NETOPS_EADDR_PREFIX_EMPTY;
    while (p < e && isdig((unsigned char)*p)) {
        if (p - q == 3)
            return range;
        v = v * 10 + (*p++ - '0');
    }
    if (p < e || p == q)
        return NETOPS_EADDR_PREFIX_DIGIT;
    if (*q == '0' && p - q > 1)
        return NETOPS_EADDR_PREFIX_ZERO;
    if (v > max)
        return range;
    a->prefix = v;
    a->family = fam;
    return 0;
}

enum netops_addr_status netops_addr_parse_ex(const char *s, size_t n, struct netops_addr *a)
{
    const char *e = s + n, *p = s;
    int r, fam;

    a->prefix = -1;
    a->zone_off = a->zone_len = 0;
    if (n == 0)
        return NETOPS_EADDR_EMPTY;
    if (isspc((unsigned char)s[0]) || isspc((unsigned char)s[n - 1]))
        return NETOPS_EADDR_SPACE;
    if (s[0] == '[')
        return NETOPS_EADDR_BRACKET;
#ifdef HAVE_FAST6
    /* the common case first: plain IPv6 */
    if ((p = fast6(s, e, a->bytes)) != NULL) {
        fam = 6;
        goto zone;
    }
#endif
    fam = netops_addr_guess_family(s, n);
    if (fam == 4) {
        if ((r = parse4(s, e, a->bytes, &p)) != 0)
            return r;
        if (p < e) {
            switch (*p) {
            case '/': break;
            case '.': return NETOPS_EADDR_V4_MANY;
            case '%': return NETOPS_EADDR_ZONE_V4;
            case ':': return NETOPS_EADDR_PORT;
            default: return NETOPS_EADDR_V4_DIGIT;
            }
        }
    } else if (fam == 6) {
        if ((r = parse6(s, e, a->bytes, &p)) != 0)
            return r;
#ifdef HAVE_FAST6
    zone:
#endif
        if (p < e && *p == '%' && (r = parse_zone(s, e, &p, a)) != 0)
            return r;
    } else {
        return NETOPS_EADDR_NOTADDR;
    }
    if (p < e && *p == '/')
        return parse_prefix(p + 1, e, fam, a);
    if (p != e)
        return NETOPS_EADDR_CHAR;
    a->family = fam;
    return NETOPS_ADDR_OK;
}

enum netops_addr_status netops_addr_parse(const char *s, size_t n, unsigned char out[16],
                                          int *family)
{
    struct netops_addr a;
    enum netops_addr_status r = netops_addr_parse_ex(s, n, &a);
    if (r != NETOPS_ADDR_OK)
        return r;
    if (a.zone_len)
        return NETOPS_EADDR_ZONE_HERE;
    if (a.prefix >= 0)
        return NETOPS_EADDR_PREFIX_HERE;
    memcpy(out, a.bytes, a.family == 4 ? 4 : 16);
    *family = a.family;
    return NETOPS_ADDR_OK;
}

static const char *const reasons[] = {
    "unknown error",
    "empty string",
    "surrounding white space",
    "brackets are not part of an address",
    "unexpected character",
    "fewer than four octets",
    "more than four octets",
    "leading zero in an octet",
    "octet above 255",
    "empty octet",
    "octet is not a decimal number",
    "more than four hex digits in a group",
    "more than eight groups",
    "fewer than eight groups and no '::'",
    "more than one '::'",
    "':::' is not allowed",
    "'::' must stand for at least one zero group",
    "leading single ':'",
    "trailing single ':'",
    "dotted IPv4 part only allowed in the last 32 bits",
    "empty zone after '%'",
    "zone may hold only A-Z a-z 0-9 - . _ ~",
    "a zone is only allowed on IPv6 addresses",
    "zone not allowed here (a bare address is needed)",
    "prefix not allowed here (a bare address is needed)",
    "empty prefix length after '/'",
    "leading zero in the prefix length",
    "prefix length is not a decimal number",
    "prefix length above 32",
    "prefix length above 128",
    "no prefix length (a network needs /N)",
    "a port is not part of an address",
    "not an IPv4 or IPv6 address",
    "output buffer too small",
};

const char *netops_addr_error(int code)
{
    if (code > 0 && code <= NETOPS_EADDR_LAST)
        return reasons[code];
    return reasons[0];
}


static inline char *put_dec8(char *p, unsigned v)
{
    if (v >= 100) {
        *p++ = (char)('0' + v / 100);
        v %= 100;
        *p++ = (char)('0' + v / 10);
    } else if (v >= 10) {
        *p++ = (char)('0' + v / 10);
    }
    *p++ = (char)('0' + v % 10);
    return p;
}

/*
 * 1-4 hex digits of v (no leading zeros); writes 4 bytes, so the caller has
 * room for 3 more, and returns the end of the digits.  The nibbles are
 * spread to one a byte and turned into ASCII all four at once.
 */
static inline char *put_hex16(char *p, unsigned v)
{
    unsigned nd = (unsigned)(35 - __builtin_clz(v | 1)) >> 2;
    uint32_t x = v;
    x = (x | (x << 8)) & 0x00ff00ffu;
    x = (x | (x << 4)) & 0x0f0f0f0fu;            /* nibble i in byte i */
    x += 0x30303030u + (((x + 0x06060606u) >> 4) & 0x01010101u) * ('a' - '0' - 10);
    x = __builtin_bswap32(x) >> (8 * (4 - nd));  /* first digit first */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap32(x);
#endif
    memcpy(p, &x, 4);
    return p + nd;
}

static inline char *put_quad(char *p, const unsigned char *b)
{
    p = put_dec8(p, b[0]);
    *p++ = '.';
    p = put_dec8(p, b[1]);
    *p++ = '.';
    p = put_dec8(p, b[2]);
    *p++ = '.';
    return put_dec8(p, b[3]);
}

/*
 * The "::" of RFC 5952 for each set of zero groups (bit i: group i is zero):
 * start << 4 | length of the longest run of two or more, the leftmost on a
 * tie; 0 when there is none.  A table instead of a loop of unpredictable
 * branches (generated by a script, checked against the reference formatter
 * in spec/c/inet_diff.c).
 */
static const unsigned char zero_run[256] = {
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x12, 0x03, 0x00, 0x00, 0x00, 0x02, 0x22, 0x22, 0x13, 0x04,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x12, 0x03, 0x32, 0x32, 0x32, 0x02, 0x23, 0x23, 0x14, 0x05,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x12, 0x03, 0x00, 0x00, 0x00, 0x02, 0x22, 0x22, 0x13, 0x04,
    0x42, 0x42, 0x42, 0x02, 0x42, 0x42, 0x12, 0x03, 0x33, 0x33, 0x33, 0x33, 0x24, 0x24, 0x15, 0x06,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x12, 0x03, 0x00, 0x00, 0x00, 0x02, 0x22, 0x22, 0x13, 0x04,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x12, 0x03, 0x32, 0x32, 0x32, 0x02, 0x23, 0x23, 0x14, 0x05,
    0x52, 0x52, 0x52, 0x02, 0x52, 0x52, 0x12, 0x03, 0x52, 0x52, 0x52, 0x02, 0x22, 0x22, 0x13, 0x04,
    0x43, 0x43, 0x43, 0x43, 0x43, 0x43, 0x43, 0x03, 0x34, 0x34, 0x34, 0x34, 0x25, 0x25, 0x16, 0x07,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x12, 0x03, 0x00, 0x00, 0x00, 0x02, 0x22, 0x22, 0x13, 0x04,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x12, 0x03, 0x32, 0x32, 0x32, 0x02, 0x23, 0x23, 0x14, 0x05,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x12, 0x03, 0x00, 0x00, 0x00, 0x02, 0x22, 0x22, 0x13, 0x04,
    0x42, 0x42, 0x42, 0x02, 0x42, 0x42, 0x12, 0x03, 0x33, 0x33, 0x33, 0x33, 0x24, 0x24, 0x15, 0x06,
    0x62, 0x62, 0x62, 0x02, 0x62, 0x62, 0x12, 0x03, 0x62, 0x62, 0x62, 0x02, 0x22, 0x22, 0x13, 0x04,
    0x62, 0x62, 0x62, 0x02, 0x62, 0x62, 0x12, 0x03, 0x32, 0x32, 0x32, 0x02, 0x23, 0x23, 0x14, 0x05,
    0x53, 0x53, 0x53, 0x53, 0x53, 0x53, 0x53, 0x03, 0x53, 0x53, 0x53, 0x53, 0x53, 0x53, 0x13, 0x04,
    0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x35, 0x35, 0x35, 0x35, 0x26, 0x26, 0x17, 0x08,
};

/* RFC 5952 text of eight groups; out has NETOPS_ADDR_MAX bytes. */
static size_t format6w(const unsigned *w, char *out)
{
    char *p = out;
    if ((w[0] | w[1] | w[2] | w[3] | w[4]) == 0 && w[5] == 0xffff) {
        unsigned char q[4] = {(unsigned char)(w[6] >> 8), (unsigned char)w[6],
                              (unsigned char)(w[7] >> 8), (unsigned char)w[7]};
        memcpy(p, "::ffff:", 7);
        p = put_quad(p + 7, q);
    } else {
        unsigned zeros = 0;
        for (int i = 0; i < 8; i++)
            zeros |= (unsigned)(w[i] == 0) << i;
        int run = zero_run[zeros], start = run >> 4, len = run & 15;
        int end = len ? start : 8;
        for (int i = 0; i < end; i++) {
            p = put_hex16(p, w[i]);
            *p++ = ':';
        }
        if (len) {
            if (start == 0)
                *p++ = ':';
            *p++ = ':';
            for (int i = start + len; i < 8; i++) {
                p = put_hex16(p, w[i]);
                *p++ = ':';
            }
            if (start + len < 8)
                p--;
        } else {
            p--;
        }
    }
    *p = '\0';
    return (size_t)(p - out);
}

size_t netops_addr_format(const unsigned char *a, int family, char out[NETOPS_ADDR_MAX])
{
    if (family == 6) {
        unsigned w[8];
        for (int i = 0; i < 8; i++)
            w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
        return format6w(w, out);
    }
    char *p = out;
    if (family == 4)
        p = put_quad(p, a);
    *p = '\0';
    return (size_t)(p - out);
}

size_t netops_addr_format_ex(const struct netops_addr *a, const char *s, char *out,
                             size_t outsize)
{
    char buf[NETOPS_ADDR_MAX];
    size_t len, need;
    if (outsize >= NETOPS_ADDR_MAX + a->zone_len + 6) {
        len = netops_addr_format(a->bytes, a->family, out);   /* room for all */
    } else {
        len = netops_addr_format(a->bytes, a->family, buf);
        need = len + (a->zone_len ? a->zone_len + 1 : 0) + (a->prefix >= 0 ? 4 : 0);
        if (need >= outsize) {
            if (outsize)
                out[0] = '\0';
            return 0;
        }
        memcpy(out, buf, len);
    }
    char *p = out + len;
    if (a->zone_len) {
        *p++ = '%';
        memcpy(p, s + a->zone_off, a->zone_len);
        p += a->zone_len;
    }
    if (a->prefix >= 0) {
        *p++ = '/';
        unsigned v = (unsigned)a->prefix;
        p = put_dec8(p, v);
    }
    *p = '\0';
    return (size_t)(p - out);
}

enum netops_addr_status netops_addr_normalize(const char *s, size_t n, char *out,
                                              size_t outsize, size_t *len)
{
#ifdef HAVE_FAST6
    /* plain IPv6 (the bulk of any input): straight from groups to text */
    unsigned w[8];
    if (n > 0 && outsize >= NETOPS_ADDR_MAX && fast6w(s, s + n, w) == s + n) {
        *len = format6w(w, out);
        return NETOPS_ADDR_OK;
    }
#endif
    struct netops_addr a;
    enum netops_addr_status r = netops_addr_parse_ex(s, n, &a);
    if (r != NETOPS_ADDR_OK)
        return r;
    size_t k = netops_addr_format_ex(&a, s, out, outsize);
    if (k == 0)
        return NETOPS_EADDR_ROOM;
    *len = k;
    return NETOPS_ADDR_OK;
}

size_t netops_addr_message(const char *s, size_t n, int code, char *buf, size_t size)
{
    static const char *const fams[] = {"address", "", "", "", "IPv4 address", "", "IPv6 address"};
    char shown[512];
    size_t k = 0, lim = n > 100 ? 100 : n;
    for (size_t i = 0; i < lim; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '\\') {
            k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", c);
        } else {
            shown[k++] = (char)c;
        }
    }
    if (lim < n) {
        memcpy(shown + k, "...", 3);
        k += 3;
    }
    shown[k] = '\0';
    int fam = netops_addr_guess_family(s, n);
    int len = snprintf(buf, size, "invalid %s '%s': %s", fams[fam], shown,
                       netops_addr_error(code));
    return len < 0 ? 0 : (size_t)len;
}

void netops_addr_mask(unsigned char *b, int family, int prefix)
{
    int nbytes = family == 4 ? 4 : 16;
    for (int i = 0; i < nbytes; i++) {
        int bits = prefix - 8 * i;
        if (bits >= 8)
            continue;
        b[i] = bits <= 0 ? 0 : (unsigned char)(b[i] & (0xff00u >> bits));
    }
}

/* The end of an address token ending at e, with its %zone and /prefix. */
static size_t token_end(const char *t, size_t n, size_t e)
{
    size_t z = e;
    if (z < n && t[z] == '%') {
        size_t q = z + 1;
        while (q < n && iszonech((unsigned char)t[q]))
            q++;
        if (q > z + 1)
            z = q;
    }
    if (z + 1 < n && t[z] == '/' && isdig((unsigned char)t[z + 1])) {
        size_t q = z + 1;
        while (q < n && isdig((unsigned char)t[q]))
            q++;
        z = q;
    }
    return z;
}

/* Eight two-digit groups (a Fibre Channel WWN), not an address. */
static int is_wwn(const char *a, size_t len)
{
    int wwn = len == 23;
    for (size_t k = 2; wwn && k < 23; k += 3)
        wwn &= a[k] == ':';
    return wwn;
}

int netops_rewrite_next(const char *t, size_t n, size_t *pos, size_t *start,
                        size_t *end, char canon[NETOPS_ADDR_MAX], size_t *clen)
{
    size_t i = *pos;

    while (i < n) {
        if (!isaddrch((unsigned char)t[i])) {
            i++;
            continue;
        }
        size_t s = i;
        int colons = 0;
        while (i < n && isaddrch((unsigned char)t[i])) {
            colons += t[i] == ':';
            i++;
        }
        size_t e = i;
        /* Dotted IPv4 text that is valid is canonical already. */
        if (colons < 2)
            continue;
        size_t a = s;
        if (t[s] == ':' && t[s + 1] != ':')
            a = s + 1;      /* "from:2001:db8::1": the colon separates */
        else if (s > 0 && isword((unsigned char)t[s - 1]))
            continue;   /* glued to a word: "std::", "interface::1" */
        size_t z = token_end(t, n, e);
        i = z;              /* whatever happens, go on after the token */
        if (z < n && isword((unsigned char)t[z]))
            continue;   /* "::1/64abc" */
        struct netops_addr ad;
        size_t ae = e;
        if (netops_addr_parse_ex(t + a, z - a, &ad) != 0 || ad.family != 6) {
            /* "at 2001:DB8::1." or "2001:DB8::1: refused" */
            if (z != e || e - a < 3 || (t[e - 1] != '.' && t[e - 1] != ':'))
                continue;
            if (netops_addr_parse_ex(t + a, e - 1 - a, &ad) != 0 || ad.family != 6)
                continue;
            ae = e - 1;
        }
        if (is_wwn(t + a, ae - a))
            continue;
        char buf[NETOPS_ADDR_MAX];
        size_t len = netops_addr_format(ad.bytes, 6, buf);
        if (len == ae - a && memcmp(buf, t + a, len) == 0)
            continue;   /* already canonical */
        if ((a > 0 && t[a - 1] == ':' && buf[0] == ':') ||
            (ae < n && t[ae] == ':' && buf[len - 1] == ':'))
            continue;   /* "::" would merge with the separating ':' */
        memcpy(canon, buf, len + 1);
        *clen = len;
        *start = a;
        *end = ae;
        *pos = z;
        return 1;
    }
    *pos = n;
    return 0;
}

/* ---- line buffer ---- */

void netops_linebuf_init(struct netops_linebuf *lb)
{
    memset(lb, 0, sizeof *lb);
}

void netops_linebuf_free(struct netops_linebuf *lb)
{
    free(lb->buf);
    lb->buf = NULL;
    lb->len = lb->cap = lb->lines = 0;      /* the counters stay */
}

/* Room for want more bytes: at least double the capacity when growing. */
static int linebuf_room(struct netops_linebuf *lb, size_t want)
{
    if (want > SIZE_MAX / 2 - lb->len)
        return ENOMEM;
    size_t need = lb->len + want;
    if (need <= lb->cap)
        return 0;
    size_t cap = lb->cap > SIZE_MAX / 4 ? need : lb->cap * 2;
    if (cap < need)
        cap = need;
    char *nb = realloc(lb->buf, cap);
    if (!nb)
        return ENOMEM;
    if (nb != lb->buf)
        lb->copied += lb->len;
    lb->buf = nb;
    lb->cap = cap;
    return 0;
}

int netops_linebuf_fill(struct netops_linebuf *lb, int fd, size_t block, size_t *got)
{
    size_t want = block > lb->len ? block : lb->len;   /* geometric, even from a file */
    int err = linebuf_room(lb, want ? want : 1);
    *got = 0;
    if (err)
        return err;
    ssize_t r;
    do
        r = read(fd, lb->buf + lb->len, want ? want : 1);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno;
    const char *nl = memrchr(lb->buf + lb->len, '\n', (size_t)r);
    lb->scanned += (size_t)r;
    lb->len += (size_t)r;
    if (nl)
        lb->lines = (size_t)(nl - lb->buf) + 1;
    *got = (size_t)r;
    return 0;
}

void netops_linebuf_drop(struct netops_linebuf *lb, size_t n)
{
    if (n > lb->len)
        n = lb->len;
    if (n < lb->len) {
        memmove(lb->buf, lb->buf + n, lb->len - n);
        lb->copied += lb->len - n;
    }
    lb->len -= n;
    lb->lines = 0;      /* the rest is the part after the last newline */
}
