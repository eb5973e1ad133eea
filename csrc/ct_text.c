/*
 * ct_text.c - conntrack entries as text (see ct_text.h).
 *
 * The parser follows conntrack-tools' src/conntrack.c and its extensions
 * (extensions/libct_proto_*.c), read for version 1.4.x: the -R line
 * splitter (add_param_to_argv), getopt_long's option matching, the table of
 * options legal with -I/-A, each protocol's options and final check, and
 * how libnetfilter_conntrack and the kernel complete the tuples.  Names of
 * protocols, TCP/SCTP states and status bits come from conntrack.c.
 */
#include "ct_text.h"
#include "inet.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter/nf_conntrack_common.h>

#define TOK_MAX 1024          /* conntrack -R: "Parameter too long!" at 1024 */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ options */

enum {   /* what an option does */
    O_CREATE, O_OTHERCMD, O_SRC, O_DST, O_RSRC, O_RDST, O_PROTO, O_TIMEOUT, O_STATUS,
    O_MARK, O_SNAT, O_DNAT, O_ZONE, O_OZONE, O_RZONE, O_NATRANGE, O_LABELADD, O_ILLEGAL,
    O_SPORT, O_DPORT, O_RSPORT, O_RDPORT, O_STATE, O_ROLE, O_OVTAG, O_RVTAG,
    O_ITYPE, O_ICODE, O_IID, O_PILLEGAL,
};

enum { A_NONE, A_REQ, A_OPT };   /* getopt's has_arg */

struct opt {
    const char *name;   /* long name */
    char shrt;          /* short letter, 0 for none */
    uint8_t arg, id;
};

/* conntrack's original_opts, in its order (abbreviations match in order) */
static const struct opt base_opts[] = {
    { "dump", 'L', A_OPT, O_OTHERCMD }, { "create", 'I', A_OPT, O_CREATE },
    { "add", 'A', A_OPT, O_CREATE }, { "delete", 'D', A_OPT, O_OTHERCMD },
    { "update", 'U', A_OPT, O_CREATE }, { "get", 'G', A_OPT, O_OTHERCMD },
    { "flush", 'F', A_OPT, O_OTHERCMD }, { "event", 'E', A_OPT, O_OTHERCMD },
    { "counter", 'C', A_OPT, O_OTHERCMD }, { "stats", 'S', A_NONE, O_OTHERCMD },
    { "version", 'V', A_NONE, O_OTHERCMD }, { "help", 'h', A_NONE, O_OTHERCMD },
    { "orig-src", 's', A_REQ, O_SRC }, { "src", 's', A_REQ, O_SRC },
    { "orig-dst", 'd', A_REQ, O_DST }, { "dst", 'd', A_REQ, O_DST },
    { "reply-src", 'r', A_REQ, O_RSRC }, { "reply-dst", 'q', A_REQ, O_RDST },
    { "protonum", 'p', A_REQ, O_PROTO }, { "timeout", 't', A_REQ, O_TIMEOUT },
    { "status", 'u', A_REQ, O_STATUS }, { "zero", 'z', A_NONE, O_ILLEGAL },
    { "event-mask", 'e', A_REQ, O_ILLEGAL }, { "tuple-src", '[', A_REQ, O_ILLEGAL },
    { "tuple-dst", ']', A_REQ, O_ILLEGAL }, { "mask-src", '{', A_REQ, O_ILLEGAL },
    { "mask-dst", '}', A_REQ, O_ILLEGAL }, { "nat-range", 'a', A_REQ, O_NATRANGE },
    { "mark", 'm', A_REQ, O_MARK }, { "secmark", 'c', A_REQ, O_ILLEGAL },
    { "id", 'i', A_REQ, O_ILLEGAL }, { "family", 'f', A_REQ, O_ILLEGAL },
    { "src-nat", 'n', A_OPT, O_SNAT }, { "dst-nat", 'g', A_OPT, O_DNAT },
    { "output", 'o', A_REQ, O_ILLEGAL }, { "buffer-size", 'b', A_REQ, O_ILLEGAL },
    { "any-nat", 'j', A_OPT, O_ILLEGAL }, { "zone", 'w', A_REQ, O_ZONE },
    { "label", 'l', A_REQ, O_ILLEGAL }, { "labelmap", 'M', A_REQ, O_ILLEGAL },
    { "label-add", '<', A_REQ, O_LABELADD }, { "label-del", '>', A_OPT, O_ILLEGAL },
    { "orig-zone", '(', A_REQ, O_OZONE }, { "reply-zone", ')', A_REQ, O_RZONE },
};

/* The protocol families of options (conntrack's extensions). */
enum { P_OTHER, P_TCP, P_UDP, P_SCTP, P_DCCP, P_ICMP, P_ICMP6, P_GRE };

#define PORT_OPTS(ill) \
    { "orig-port-src", 0, A_REQ, O_SPORT }, { "sport", 0, A_REQ, O_SPORT }, \
    { "orig-port-dst", 0, A_REQ, O_DPORT }, { "dport", 0, A_REQ, O_DPORT }, \
    { "reply-port-src", 0, A_REQ, O_RSPORT }, { "reply-port-dst", 0, A_REQ, O_RDPORT }, \
    { "mask-port-src", 0, A_REQ, ill }, { "mask-port-dst", 0, A_REQ, ill }, \
    { "tuple-port-src", 0, A_REQ, ill }, { "tuple-port-dst", 0, A_REQ, ill }

static const struct opt tcp_opts[] = { PORT_OPTS(O_PILLEGAL), { "state", 0, A_REQ, O_STATE } };
static const struct opt udp_opts[] = { PORT_OPTS(O_PILLEGAL) };
static const struct opt sctp_opts[] = {
    PORT_OPTS(O_PILLEGAL), { "state", 0, A_REQ, O_STATE },
    { "orig-vtag", 0, A_REQ, O_OVTAG }, { "reply-vtag", 0, A_REQ, O_RVTAG },
};
static const struct opt dccp_opts[] = {
    PORT_OPTS(O_PILLEGAL), { "state", 0, A_REQ, O_STATE }, { "role", 0, A_REQ, O_ROLE },
};
static const struct opt icmp_opts[] = {
    { "icmp-type", 0, A_REQ, O_ITYPE }, { "icmp-code", 0, A_REQ, O_ICODE },
    { "icmp-id", 0, A_REQ, O_IID },
};
static const struct opt icmp6_opts[] = {
    { "icmpv6-type", 0, A_REQ, O_ITYPE }, { "icmpv6-code", 0, A_REQ, O_ICODE },
    { "icmpv6-id", 0, A_REQ, O_IID },
};
/* GRE keys travel where ports do (O_SPORT... stand for the keys) */
static const struct opt gre_opts[] = {
    { "orig-key-src", 0, A_REQ, O_SPORT }, { "srckey", 0, A_REQ, O_SPORT },
    { "orig-key-dst", 0, A_REQ, O_DPORT }, { "dstkey", 0, A_REQ, O_DPORT },
    { "reply-key-src", 0, A_REQ, O_RSPORT }, { "reply-key-dst", 0, A_REQ, O_RDPORT },
    { "mask-key-src", 0, A_REQ, O_PILLEGAL }, { "mask-key-dst", 0, A_REQ, O_PILLEGAL },
    { "tuple-key-src", 0, A_REQ, O_PILLEGAL }, { "tuple-key-dst", 0, A_REQ, O_PILLEGAL },
};

static const struct { const struct opt *o; size_t n; } proto_opts[] = {
    [P_OTHER] = { NULL, 0 },
    [P_TCP] = { tcp_opts, COUNT(tcp_opts) }, [P_UDP] = { udp_opts, COUNT(udp_opts) },
    [P_SCTP] = { sctp_opts, COUNT(sctp_opts) }, [P_DCCP] = { dccp_opts, COUNT(dccp_opts) },
    [P_ICMP] = { icmp_opts, COUNT(icmp_opts) }, [P_ICMP6] = { icmp6_opts, COUNT(icmp6_opts) },
    [P_GRE] = { gre_opts, COUNT(gre_opts) },
};

static int proto_kind(int proto)
{
    switch (proto) {
    case IPPROTO_TCP: return P_TCP;
    case IPPROTO_UDP: case IPPROTO_UDPLITE: return P_UDP;
    case IPPROTO_SCTP: return P_SCTP;
    case IPPROTO_DCCP: return P_DCCP;
    case IPPROTO_ICMP: return P_ICMP;
    case IPPROTO_ICMPV6: return P_ICMP6;
    case IPPROTO_GRE: return P_GRE;
    default: return P_OTHER;
    }
}

/* DCCP states and roles, as conntrack names them (conntrack.c names TCP's
 * and SCTP's only). */
static const char *const dccp_states[] = {
    "NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING",
    "TIMEWAIT", "IGNORE", "INVALID",
};
static const char *const dccp_roles[] = { "client", "server" };

/* Status names -u takes, in the order conntrack tries them (a name may be
 * abbreviated, as conntrack allows: the first it prefixes wins). */
static const char *const status_words[] = {
    "ASSURED", "SEEN_REPLY", "UNSET", "FIXED_TIMEOUT", "EXPECTED", "OFFLOAD", "HW_OFFLOAD",
};
/* the status bits -u can set, which format writes back */
#define STATUS_TEXT (IPS_ASSURED | IPS_SEEN_REPLY | IPS_FIXED_TIMEOUT | IPS_EXPECTED | \
                     IPS_OFFLOAD | (1u << 15) /* IPS_HW_OFFLOAD */)

/* ------------------------------------------------------------ parse state */

enum {   /* which options a line gave */
    S_SRC = 1 << 0, S_DST = 1 << 1, S_RSRC = 1 << 2, S_RDST = 1 << 3, S_PROTO = 1 << 4,
    S_TIMEOUT = 1 << 5, S_STATUS = 1 << 6, S_MARK = 1 << 7, S_SNAT = 1 << 8,
    S_DNAT = 1 << 9, S_ZONE = 1 << 10, S_OZONE = 1 << 11, S_RZONE = 1 << 12,
    S_SPORT = 1 << 13, S_DPORT = 1 << 14, S_RSPORT = 1 << 15, S_RDPORT = 1 << 16,
    S_STATE = 1 << 17, S_ROLE = 1 << 18, S_OVTAG = 1 << 19, S_RVTAG = 1 << 20,
    S_ITYPE = 1 << 21, S_ICODE = 1 << 22, S_IID = 1 << 23,
};

enum { A_S, A_D, A_R, A_Q, A_SNAT, A_DNAT };   /* addresses */

struct ps {
    char *why;
    size_t whylen;
    int cmd;                    /* 0 or the command letter */
    int family;                 /* 0, 4 or 6 */
    int kind;                   /* P_* once -p is seen */
    unsigned seen;              /* S_* */
    uint8_t proto, state, role, itype, icode;
    uint16_t iid, zone, ozone, rzone;
    uint16_t port[4];           /* sport dport rsport rdport (or GRE keys) */
    long natport[2];            /* [0] -n, [1] -g; -1: none */
    uint32_t timeout, mark, status, vtag[2];
    unsigned char addr[6][16];  /* A_* */
};

static int fail(struct ps *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct ps *p, const char *fmt, ...)
{
    if (p->why && p->whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->why, p->whylen, fmt, ap);
        va_end(ap);
    }
    return EINVAL;
}

/* ------------------------------------------------------------ tokens */

struct lex {
    const char *s;
    size_t n, pos;
};

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * The next argument of the line, as conntrack -R splits it: blanks
 * separate; "..." quotes (\ escapes the next character inside), and a
 * closing quote ends the argument.  Returns 1 (tok, *tl), 0 at the end,
 * -1 for an argument of TOK_MAX bytes or more, -2 for an open quote.
 */
static int lex_next(struct lex *x, char tok[TOK_MAX], size_t *tl)
{
    size_t n = 0;
    int quote = 0, esc = 0, quoted = 0;
    while (x->pos < x->n) {
        char c = x->s[x->pos++];
        if (quote) {
            if (!esc && c == '\\') {
                esc = 1;
                continue;
            }
            if (!esc && c == '"') {
                quote = 0;
                break;
            }
            esc = 0;
        } else if (c == '"') {
            quote = quoted = 1;
            continue;
        } else if (blank(c)) {
            if (n == 0)
                continue;
            break;
        }
        if (n + 1 >= TOK_MAX)
            return -1;
        tok[n++] = c;
    }
    if (quote)
        return -2;
    tok[n] = '\0';
    *tl = n;
    return n > 0 || quoted;
}

/* ------------------------------------------------------------ values */

enum { N_OK, N_SYNTAX, N_RANGE };

/* A number as strtoul(s, 0) reads it (base0: 0x hex, 0 octal, decimal) or
 * as atoi does (decimal), but whole: no sign, blank or trailing byte. */
static int number(const char *s, int base0, uint64_t max, uint64_t *v)
{
    unsigned base = 10;
    if (base0 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (base0 && s[0] == '0') {
        base = 8;
    }
    if (!*s)
        return N_SYNTAX;
    uint64_t n = 0;
    int range = 0;
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (*s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (*s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            return N_SYNTAX;
        if (d >= base)
            return N_SYNTAX;
        if (n > (max - d) / base)
            range = 1;          /* keep reading: garbage later is a syntax error */
        else
            n = n * base + d;
    }
    if (range)
        return N_RANGE;
    *v = n;
    return N_OK;
}

static int get_num(struct ps *p, const char *opt, const char *s, int base0, uint64_t max,
                   uint64_t *v)
{
    int r = number(s, base0, max, v);
    if (r == N_SYNTAX)
        return fail(p, "%s: '%.40s' is not a number", opt, s);
    if (r == N_RANGE)
        return fail(p, "%s: %.40s out of range 0..%llu", opt, s, (unsigned long long)max);
    return 0;
}

static int get_addr(struct ps *p, const char *opt, const char *s, size_t n, int slot)
{
    int fam;
    int r = netops_addr_parse(s, n, p->addr[slot], &fam);
    if (r != 0) {
        char msg[NETOPS_CT_TEXT_WHY];
        netops_addr_message(s, n, r, msg, sizeof msg);
        return fail(p, "%s: %s", opt, msg);
    }
    if (p->family && p->family != fam)
        return fail(p, "%s: mismatched address family (IPv%d here, IPv%d before)", opt, fam,
                    p->family);
    p->family = fam;
    return 0;
}

/* -p: a conntrack protocol name (any case), an /etc/protocols name, or a
 * number 0..255 (strtoul base 0), in conntrack's order. */
static int get_proto(struct ps *p, const char *s)
{
    char low[16];
    size_t n = strlen(s);
    if (n < sizeof low) {
        for (size_t i = 0; i <= n; i++)
            low[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
        uint8_t num;
        if (netops_ct_proto_number(low, &num) == 0) {
            p->proto = num;
            return 0;
        }
    }
    struct protoent pe, *res = NULL;
    char buf[4096];
    if (getprotobyname_r(s, &pe, buf, sizeof buf, &res) == 0 && res &&
        res->p_proto >= 0 && res->p_proto <= 255) {
        /* conntrack reads such a name without the protocol's options */
        if (proto_kind(res->p_proto) != P_OTHER)
            return fail(p, "-p %.40s: write -p %s (conntrack reads '%.40s' without %s's options)",
                        s, netops_ct_proto_name((uint8_t)res->p_proto), s,
                        netops_ct_proto_name((uint8_t)res->p_proto));
        p->proto = (uint8_t)res->p_proto;
        return 0;
    }
    uint64_t v;
    if (number(s, 1, 255, &v) != N_OK)
        return fail(p, "-p: '%.40s' unsupported protocol", s);
    p->proto = (uint8_t)v;
    return 0;
}

static int prefix_of(const char *tok, size_t n, const char *word)
{
    return n <= strlen(word) && strncasecmp(tok, word, n) == 0;
}

/* A status bit by its name in conntrack.c's table; -1 for none. */
static int status_bit(const char *name)
{
    size_t n;
    const char *const *names = netops_ct_status_names(&n);
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

/* One -u word (n bytes at w): *bits gains its bit; 0 or EINVAL. */
static int status_word(struct ps *p, const char *w, size_t n, uint32_t *bits)
{
    if (prefix_of(w, n, "SRC_NAT") || prefix_of(w, n, "DST_NAT"))
        return 0;               /* conntrack ignores them ("use --src-nat") */
    for (size_t i = 0; i < COUNT(status_words); i++) {
        if (!prefix_of(w, n, status_words[i]))
            continue;
        int bit = status_bit(status_words[i]);
        if (bit >= 0)
            *bits |= 1u << bit;
        return 0;
    }
    return fail(p, "-u: unknown status '%.*s'", (int)(n > 40 ? 40 : n), w);
}

/* -u A,B,!C,UNREPLIED: as conntrack's parse_parameter_mask; negated words
 * and UNREPLIED only filter listings, so they leave the entry alone. */
static int get_status(struct ps *p, const char *s)
{
    uint32_t bits = 0, ignored = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        int neg = n > 0 && s[0] == '!';
        if (n == (size_t)neg)
            return fail(p, "-u: empty status name");
        if (!neg && strncmp(s, "UNREPLIED", 9) == 0)
            ;
        else if (status_word(p, s + neg, n - (size_t)neg, neg ? &ignored : &bits))
            return EINVAL;
        if (!comma)
            break;
        s = comma + 1;
    }
    p->status = bits;
    return 0;
}

static int get_mark(struct ps *p, const char *s)
{
    const char *slash = strchr(s, '/');
    char v[TOK_MAX];
    uint64_t mark, mask;
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    memcpy(v, s, n);
    v[n] = '\0';
    if (get_num(p, "-m", v, 1, UINT32_MAX, &mark))
        return EINVAL;
    /* -I sets the mark to the value; the mask only filters listings */
    if (slash && get_num(p, "-m (mask)", slash + 1, 1, UINT32_MAX, &mask))
        return EINVAL;
    p->mark = (uint32_t)mark;
    return 0;
}

/* --src-nat/--dst-nat ADDR, ADDR:PORT (IPv4) or [IPv6]:PORT. */
static int get_nat(struct ps *p, const char *opt, const char *s, int snat)
{
    const char *a = s, *port = NULL;
    size_t an = strlen(s);
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return fail(p, "%s: no closing ']' around the IPv6 address", opt);
        if (close == s + 1)
            return fail(p, "%s: no IPv6 address in []", opt);
        if (close[1] != ':')
            return fail(p, "%s: brackets only with a port: [ADDR]:PORT", opt);
        a = s + 1;
        an = (size_t)(close - a);
        port = close + 2;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && !strchr(colon + 1, ':')) {
            an = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (get_addr(p, opt, a, an, snat ? A_SNAT : A_DNAT))
        return EINVAL;
    p->natport[!snat] = -1;
    if (port) {
        uint64_t v;
        if (!*port)
            return fail(p, "%s: no port after ':'", opt);
        if (number(port, 0, 65535, &v) != N_OK)
            return fail(p, "%s: invalid port '%.20s'", opt, port);
        p->natport[!snat] = (long)v;
    }
    p->seen |= snat ? S_SNAT : S_DNAT;
    return 0;
}

const char *netops_ct_text_state_name(uint8_t proto, uint8_t state)
{
    if (proto == IPPROTO_DCCP)
        return state < COUNT(dccp_states) ? dccp_states[state] : NULL;
    return netops_ct_state_name(proto, state);
}

int netops_ct_text_state_number(uint8_t proto, const char *name, uint8_t *state)
{
    if (proto != IPPROTO_DCCP)
        return netops_ct_state_number(proto, name, state);
    for (size_t i = 0; i < COUNT(dccp_states); i++)
        if (strcmp(name, dccp_states[i]) == 0) {
            *state = (uint8_t)i;
            return 0;
        }
    return ENOENT;
}

const char *netops_ct_text_role_name(uint8_t role)
{
    return role < COUNT(dccp_roles) ? dccp_roles[role] : NULL;
}

static int get_state(struct ps *p, const char *s)
{
    if (netops_ct_text_state_number(p->proto, s, &p->state) != 0)
        return fail(p, "unknown %s state '%.40s'",
                    p->kind == P_TCP ? "TCP" : p->kind == P_SCTP ? "SCTP" : "DCCP", s);
    return 0;
}

static int get_role(struct ps *p, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; n && i < COUNT(dccp_roles); i++)
        if (prefix_of(s, n, dccp_roles[i])) {
            p->role = (uint8_t)i;
            return 0;
        }
    return fail(p, "unknown DCCP role '%.40s'", s);
}

/* ------------------------------------------------------------ options */

/* getopt_long's match: exact, else the one option (or several that mean
 * the same) name is a prefix of. */
static const struct opt *find_long(const struct opt *t, size_t n, const char *name,
                                   size_t len, int *ambiguous)
{
    const struct opt *hit = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(t[i].name, name, len) != 0)
            continue;
        if (t[i].name[len] == '\0')
            return &t[i];
        if (hit && (hit->id != t[i].id || hit->arg != t[i].arg))
            *ambiguous = 1;
        else if (!hit)
            hit = &t[i];
    }
    return hit;
}

static const struct opt *lookup_long(const struct ps *p, const char *name, size_t len,
                                     int *ambiguous)
{
    int amb1 = 0, amb2 = 0;
    const struct opt *b = find_long(base_opts, COUNT(base_opts), name, len, &amb1);
    if (b && b->name[len] == '\0')
        return b;
    const struct opt *q = NULL;
    if (p->seen & S_PROTO)
        q = find_long(proto_opts[p->kind].o, proto_opts[p->kind].n, name, len, &amb2);
    if (q && q->name[len] == '\0')
        return q;
    *ambiguous = amb1 || amb2 || (b && q);
    return b ? b : q;
}

static const struct opt *lookup_short(char c)
{
    for (size_t i = 0; i < COUNT(base_opts); i++)
        if (base_opts[i].shrt == c)
            return &base_opts[i];
    return NULL;
}

static int set_port(struct ps *p, const char *opt, const char *v, int i)
{
    uint64_t n;
    /* ports are read with atoi, GRE keys with strtoul(s, 0) */
    if (get_num(p, opt, v, p->kind == P_GRE, 65535, &n))
        return EINVAL;
    p->port[i] = (uint16_t)n;
    p->seen |= (unsigned)S_SPORT << i;
    return 0;
}

static int set_u8(struct ps *p, const char *opt, const char *v, uint8_t *out, unsigned bit)
{
    uint64_t n;
    if (get_num(p, opt, v, 0, 255, &n))
        return EINVAL;
    *out = (uint8_t)n;
    p->seen |= bit;
    return 0;
}

/* A protocol option (after -p). */
static int apply_proto(struct ps *p, const char *opt, int id, const char *v)
{
    uint64_t n;
    switch (id) {
    case O_SPORT: return set_port(p, opt, v, 0);
    case O_DPORT: return set_port(p, opt, v, 1);
    case O_RSPORT: return set_port(p, opt, v, 2);
    case O_RDPORT: return set_port(p, opt, v, 3);
    case O_STATE: p->seen |= S_STATE; return get_state(p, v);
    case O_ROLE: p->seen |= S_ROLE; return get_role(p, v);
    case O_OVTAG: case O_RVTAG:
        if (get_num(p, opt, v, 0, UINT32_MAX, &n))
            return EINVAL;
        p->vtag[id == O_RVTAG] = (uint32_t)n;
        p->seen |= id == O_RVTAG ? S_RVTAG : S_OVTAG;
        return 0;
    case O_ITYPE: return set_u8(p, opt, v, &p->itype, S_ITYPE);
    case O_ICODE: return set_u8(p, opt, v, &p->icode, S_ICODE);
    case O_IID:
        if (get_num(p, opt, v, 0, 65535, &n))
            return EINVAL;
        p->iid = (uint16_t)n;
        p->seen |= S_IID;
        return 0;
    default:
        return fail(p, "option '%s' cannot be used to create an entry", opt);
    }
}

static int set_zone(struct ps *p, const char *opt, const char *v, uint16_t *z, unsigned bit)
{
    uint64_t n;
    if (get_num(p, opt, v, 1, 65535, &n))
        return EINVAL;
    *z = (uint16_t)n;
    p->seen |= bit;
    return 0;
}

/* The table word after -I/-A/-U: only conntrack's own table. */
static int set_cmd(struct ps *p, const char *opt, const char *table)
{
    if (p->cmd)
        return fail(p, "more than one command ('%s')", opt);
    p->cmd = opt[1] == '-' ? opt[2] : opt[1];
    if (table && (!*table || strncmp("conntrack", table, strlen(table)) != 0))
        return fail(p, "%s %.40s: only conntrack entries can be read", opt, table);
    return 0;
}

/* A base option, or a protocol one. */
static int apply(struct ps *p, const struct opt *o, const char *opt, const char *v)
{
    uint64_t n;
    switch (o->id) {
    case O_CREATE: return set_cmd(p, opt, v);
    case O_OTHERCMD: return fail(p, "'%s': only -I, -A and -U lines describe entries", opt);
    case O_SRC: p->seen |= S_SRC; return get_addr(p, opt, v, strlen(v), A_S);
    case O_DST: p->seen |= S_DST; return get_addr(p, opt, v, strlen(v), A_D);
    case O_RSRC: p->seen |= S_RSRC; return get_addr(p, opt, v, strlen(v), A_R);
    case O_RDST: p->seen |= S_RDST; return get_addr(p, opt, v, strlen(v), A_Q);
    case O_PROTO:
        if (p->seen & S_PROTO)
            return fail(p, "-p given twice");
        p->seen |= S_PROTO;
        if (get_proto(p, v))
            return EINVAL;
        p->kind = proto_kind(p->proto);
        return 0;
    case O_TIMEOUT:
        if (get_num(p, opt, v, 0, UINT32_MAX, &n))
            return EINVAL;
        p->timeout = (uint32_t)n;
        p->seen |= S_TIMEOUT;
        return 0;
    case O_STATUS: p->seen |= S_STATUS; return get_status(p, v);
    case O_MARK: p->seen |= S_MARK; return get_mark(p, v);
    case O_SNAT: case O_DNAT: return v ? get_nat(p, opt, v, o->id == O_SNAT) : 0;
    case O_ZONE: return set_zone(p, opt, v, &p->zone, S_ZONE);
    case O_OZONE: return set_zone(p, opt, v, &p->ozone, S_OZONE);
    case O_RZONE: return set_zone(p, opt, v, &p->rzone, S_RZONE);
    case O_NATRANGE: return 0;      /* deprecated: conntrack ignores it */
    case O_LABELADD: return fail(p, "'%s': connection labels are not supported", opt);
    case O_ILLEGAL: return fail(p, "option '%s' cannot be used to create an entry", opt);
    default: return apply_proto(p, opt, o->id, v);
    }
}

/*
 * One option word (tok) and its value: glued ("-t50", "--timeout=50"), the
 * next word (required values), or the next word when it does not start
 * with '-' or '!' (optional values, as conntrack's get_optional_arg).
 */
static int option(struct ps *p, struct lex *x, char *tok, size_t tl, char *val)
{
    const struct opt *o;
    const char *glued = NULL;
    if (tok[1] == '-') {
        char *eq = strchr(tok, '=');
        size_t len = (eq ? (size_t)(eq - tok) : tl) - 2;
        int amb = 0;
        o = len ? lookup_long(p, tok + 2, len, &amb) : NULL;
        if (amb)
            return fail(p, "option '%.40s' is ambiguous", tok);
        if (!o)
            return fail(p, "unknown option '%.40s'%s", tok,
                        (p->seen & S_PROTO) ? "" : " (protocol options come after -p)");
        if (eq) {
            *eq = '\0';
            glued = eq + 1;
        }
    } else {
        o = lookup_short(tok[1]);
        if (!o)
            return fail(p, "unknown option '%.40s'", tok);
        glued = tl > 2 ? tok + 2 : NULL;
    }
    if (glued && o->arg == A_NONE)
        return fail(p, "option '%.40s' takes no value", tok);
    if (!glued && o->arg != A_NONE) {
        struct lex peek = *x;
        size_t vl;
        int k = lex_next(&peek, val, &vl);
        if (k < 0)
            return fail(p, k == -1 ? "an argument is too long" : "unterminated quote");
        if (o->arg == A_REQ && k == 0)
            return fail(p, "option '%.40s' needs a value", tok);
        if (k == 1 && (o->arg == A_REQ || (val[0] != '-' && val[0] != '!'))) {
            *x = peek;
            glued = val;
        }
    }
    return apply(p, o, tok, glued);
}

/* ------------------------------------------------------------ the entry */

static int need(struct ps *p, unsigned bits, const char *what)
{
    if ((p->seen & bits) != bits)
        return fail(p, "missing %s", what);
    return 0;
}

static void put_tuple(struct netops_ct_tuple *t, const unsigned char *src,
                      const unsigned char *dst, size_t alen, uint16_t sp, uint16_t dp)
{
    memcpy(t->src, src, alen);
    memcpy(t->dst, dst, alen);
    t->sport = sp;
    t->dport = dp;
}

/* Which tuples the line gives (conntrack's coupled options): a whole
 * original one, a reply one, or both; a half reply tuple beside a whole
 * original one is sent as it is (conntrack -L -o save writes
 * "-g ADDR -q ADDR"), its gap filled by the NAT of that side. */
static int which_tuples(struct ps *p, int *o, int *r)
{
    unsigned s = p->seen;
    *o = (s & (S_SRC | S_DST)) == (S_SRC | S_DST);
    *r = (s & (S_RSRC | S_RDST)) != 0;
    if (!*o && (s & (S_RSRC | S_RDST)) != (S_RSRC | S_RDST))
        return fail(p, "missing %s", (s & (S_RSRC | S_RDST)) && !(s & (S_SRC | S_DST))
                                     ? "-r and -q (reply source and destination)"
                                     : "-s and -d (source and destination)");
    if (!*o && (s & (S_SRC | S_DST)))
        return fail(p, "-s and -d go together");
    if (*o && *r && !(s & S_RSRC) && !(s & S_DNAT))
        return fail(p, "-q needs -r (or --dst-nat ADDR)");
    if (*o && *r && !(s & S_RDST) && !(s & S_SNAT))
        return fail(p, "-r needs -q (or --src-nat ADDR)");
    return 0;
}

/* The tuples: given ones as they are, a missing one the inverse of the
 * other (libnetfilter_conntrack's autocomplete, which overwrites the ports
 * or keys given for it). */
static int tuples(struct ps *p, struct netops_ct_entry *e)
{
    int o, r;
    if (which_tuples(p, &o, &r))
        return EINVAL;
    if (netops_ct_has_ports(p->proto) || p->kind == P_GRE) {
        int g = p->kind == P_GRE;
        if (o && (p->seen & (S_SPORT | S_DPORT)) != (S_SPORT | S_DPORT))
            return fail(p, "missing %s", g ? "--srckey and --dstkey" : "--sport and --dport");
        if (r && (p->seen & (S_RSPORT | S_RDPORT)) != (S_RSPORT | S_RDPORT))
            return fail(p, "missing %s", g ? "--reply-key-src and --reply-key-dst"
                                           : "--reply-port-src and --reply-port-dst");
    }
    size_t alen = p->family == 6 ? 16 : 4;
    const uint16_t *pt = p->port;
    if (o)
        put_tuple(&e->orig, p->addr[A_S], p->addr[A_D], alen, pt[0], pt[1]);
    if (r)
        put_tuple(&e->reply, p->addr[A_R], p->addr[A_Q], alen, pt[2], pt[3]);
    else
        put_tuple(&e->reply, p->addr[A_D], p->addr[A_S], alen, pt[1], pt[0]);
    if (!o)
        put_tuple(&e->orig, p->addr[A_Q], p->addr[A_R], alen, pt[3], pt[2]);
    e->has |= NETOPS_CT_HAS_REPLY;
    if (netops_ct_has_ports(p->proto))
        e->has |= NETOPS_CT_HAS_PORTS;
    else if (p->kind == P_GRE)
        e->has |= NETOPS_CT_HAS_GRE_KEYS;
    /* with both NATs the line comes back without the reply tuple */
    if (p->kind == P_GRE && (p->seen & S_SNAT) && (p->seen & S_DNAT) &&
        (e->reply.sport != e->orig.dport || e->reply.dport != e->orig.sport))
        return fail(p, "GRE reply keys other than the inverse with both --src-nat and --dst-nat");
    return 0;
}

static int same(const unsigned char *a, const unsigned char *b, int fam)
{
    return memcmp(a, b, fam == AF_INET6 ? 16 : 4) == 0;
}

/* Does the reply tuple's source (dnat) or destination side differ from
 * the inverse of the original tuple? */
static int nat_side(const struct netops_ct_entry *e, int dnat)
{
    int ported = netops_ct_has_ports(e->proto);
    if (dnat)
        return !same(e->reply.src, e->orig.dst, e->family) ||
               (ported && e->reply.sport != e->orig.dport);
    return !same(e->reply.dst, e->orig.src, e->family) ||
           (ported && e->reply.dport != e->orig.sport);
}

/* --dst-nat/--src-nat rewrite the reply tuple as the kernel's NAT does;
 * the entry is marked IPS_DST_NAT / IPS_SRC_NAT when its reply then differs
 * from the inverse of the original tuple on that side. */
static int nat(struct ps *p, struct netops_ct_entry *e)
{
    size_t alen = p->family == 6 ? 16 : 4;
    for (int d = 0; d < 2; d++) {       /* 0: -n (reply dst), 1: -g (reply src) */
        if (!(p->seen & (d ? S_DNAT : S_SNAT)))
            continue;
        if (p->natport[d] >= 0 && !netops_ct_has_ports(p->proto))
            return fail(p, "%s: a port, but protocol %u has no ports", d ? "-g" : "-n",
                        p->proto);
        memcpy(d ? e->reply.src : e->reply.dst, p->addr[d ? A_DNAT : A_SNAT], alen);
        if (p->natport[d] >= 0)
            *(d ? &e->reply.sport : &e->reply.dport) = (uint16_t)p->natport[d];
        if (nat_side(e, d)) {
            e->status |= d ? IPS_DST_NAT : IPS_SRC_NAT;
            e->has |= NETOPS_CT_HAS_STATUS;
        }
    }
    return 0;
}

/* What each protocol needs to create an entry (its final_check). */
static int proto_needs(struct ps *p, struct netops_ct_entry *e)
{
    switch (p->kind) {
    case P_TCP:
        return need(p, S_STATE, "--state");
    case P_SCTP:
        if (need(p, S_STATE, "--state") || need(p, S_OVTAG, "--orig-vtag") ||
            need(p, S_RVTAG, "--reply-vtag"))
            return EINVAL;
        e->vtag_orig = p->vtag[0];
        e->vtag_reply = p->vtag[1];
        e->has |= NETOPS_CT_HAS_VTAG;
        return 0;
    case P_DCCP:
        if (need(p, S_STATE, "--state") || need(p, S_ROLE, "--role"))
            return EINVAL;
        e->dccp_role = p->role;
        e->has |= NETOPS_CT_HAS_DCCP_ROLE;
        return 0;
    case P_ICMP: case P_ICMP6:
        if (need(p, S_ITYPE, p->kind == P_ICMP ? "--icmp-type" : "--icmpv6-type") ||
            need(p, S_ICODE, p->kind == P_ICMP ? "--icmp-code" : "--icmpv6-code"))
            return EINVAL;
        e->icmp_type = p->itype;
        e->icmp_code = p->icode;
        e->icmp_id = p->iid;
        e->has |= NETOPS_CT_HAS_ICMP;
        return 0;
    default:
        return 0;
    }
}

static int finish(struct ps *p, struct netops_ct_entry *e)
{
    if (!p->cmd)
        return fail(p, "no command: a line is -I, -A or -U and options");
    if (need(p, S_PROTO, "-p (protocol)") || need(p, S_TIMEOUT, "-t (timeout)"))
        return EINVAL;
    e->family = p->family == 6 ? AF_INET6 : AF_INET;
    e->proto = p->proto;
    if (tuples(p, e) || proto_needs(p, e))
        return EINVAL;
    e->timeout = p->timeout;
    e->has |= NETOPS_CT_HAS_TIMEOUT;
    if (p->seen & S_STATE) {
        e->state = p->state;
        e->has |= NETOPS_CT_HAS_STATE;
    }
    if (p->seen & S_STATUS) {
        e->status = p->status;
        e->has |= NETOPS_CT_HAS_STATUS;
    }
    if (p->seen & S_MARK) {
        e->mark = p->mark;
        e->has |= NETOPS_CT_HAS_MARK;
    }
    if (p->seen & S_ZONE) {
        e->zone = p->zone;
        e->has |= NETOPS_CT_HAS_ZONE;
    }
    if (p->seen & S_OZONE) {
        e->orig_zone = p->ozone;
        e->has |= NETOPS_CT_HAS_ORIG_ZONE;
    }
    if (p->seen & S_RZONE) {
        e->reply_zone = p->rzone;
        e->has |= NETOPS_CT_HAS_REPLY_ZONE;
    }
    return nat(p, e);
}

int netops_ct_text_parse(const char *line, size_t len, struct netops_ct_entry *e,
                         char *why, size_t whylen)
{
    struct ps p;
    memset(&p, 0, sizeof p);
    p.why = why;
    p.whylen = whylen;
    memset(e, 0, sizeof *e);
    if (why && whylen)
        why[0] = '\0';
    size_t i = 0;
    while (i < len && blank(line[i]))
        i++;
    if (i == len || line[i] == '#')
        return ENODATA;
    if (memchr(line, '\0', len))
        return fail(&p, "the line contains a NUL byte");
    struct lex x = { line, len, 0 };
    char tok[TOK_MAX], val[TOK_MAX];
    size_t tl;
    int k;
    while ((k = lex_next(&x, tok, &tl)) > 0) {
        if (tok[0] != '-' || tl < 2)
            return fail(&p, "unexpected word '%.40s'", tok);
        if (option(&p, &x, tok, tl, val))
            return EINVAL;
    }
    if (k < 0)
        return fail(&p, k == -1 ? "an argument is too long" : "unterminated quote");
    return finish(&p, e);
}

/* ------------------------------------------------------------ format */

struct out {
    char *s;
    size_t cap, len;
    int full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || o->len + n >= o->cap) {
        o->full = 1;
        return;
    }
    memcpy(o->s + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_u(struct out *o, const char *opt, uint32_t v)
{
    char b[12];
    size_t n = sizeof b;
    do {
        b[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    puts_(o, opt);
    put(o, b + n, sizeof b - n);
}

/* " OPT ADDR", " OPT ADDR:PORT" or " OPT [ADDR]:PORT" (port < 0: none) */
static void put_addr(struct out *o, const char *opt, const unsigned char *a, int fam, long port)
{
    char t[NETOPS_ADDR_MAX];
    size_t n = netops_addr_format(a, fam == AF_INET6 ? 6 : 4, t);
    puts_(o, opt);
    if (port >= 0 && fam == AF_INET6)
        puts_(o, "[");
    put(o, t, n);
    if (port >= 0 && fam == AF_INET6)
        puts_(o, "]");
    if (port >= 0)
        put_u(o, ":", (uint32_t)port);
}

static void put_status(struct out *o, uint32_t status)
{
    size_t n;
    const char *const *names = netops_ct_status_names(&n);
    int any = 0;
    puts_(o, " -u ");
    for (size_t i = 0; i < n && i < 32; i++) {
        if (!(status & STATUS_TEXT & (1u << i)) || !names[i])
            continue;
        if (any)
            puts_(o, ",");
        puts_(o, names[i]);
        any = 1;
    }
    if (!any)
        puts_(o, "UNSET");
}

/*
 * The tuples as conntrack -L -o save writes them: -s -d, then -r or (for a
 * NATed side) -g, and -q or -n, with the reply ports after -p.  With both
 * sides NATed the reply tuple is left out (conntrack -R then completes it
 * and sets up both NATs), and a NATed port goes with its address.
 * Returns 1 when the reply tuple was left out, 0, or -1 (EINVAL).
 */
static int put_tuples(struct out *o, const struct netops_ct_entry *e, int ported)
{
    const struct netops_ct_tuple *t = &e->orig, *r = &e->reply;
    uint32_t st = (e->has & NETOPS_CT_HAS_STATUS) ? e->status : 0;
    int dnat = (st & IPS_DST_NAT) && nat_side(e, 1);
    int snat = (st & IPS_SRC_NAT) && nat_side(e, 0);
    int fam = e->family;
    put_addr(o, " -s ", t->src, fam, -1);
    put_addr(o, " -d ", t->dst, fam, -1);
    if (dnat && snat) {
        if ((e->has & NETOPS_CT_HAS_GRE_KEYS) && (r->sport != t->dport || r->dport != t->sport))
            return -1;
        put_addr(o, " -g ", r->src, fam, ported && r->sport != t->dport ? r->sport : -1);
        put_addr(o, " -n ", r->dst, fam, ported && r->dport != t->sport ? r->dport : -1);
        return 1;
    }
    put_addr(o, dnat ? " -g " : " -r ", r->src, fam, -1);
    put_addr(o, snat ? " -n " : " -q ", r->dst, fam, -1);
    return 0;
}

/* The protocol's options; EINVAL when the entry lacks what it needs. */
static int put_proto(struct out *o, const struct netops_ct_entry *e, int ported,
                     int completed)
{
    int kind = proto_kind(e->proto);
    if (ported || kind == P_GRE) {
        int g = kind == P_GRE;
        if (!(e->has & (g ? NETOPS_CT_HAS_GRE_KEYS : NETOPS_CT_HAS_PORTS)))
            return EINVAL;
        put_u(o, g ? " --srckey " : " --sport ", e->orig.sport);
        put_u(o, g ? " --dstkey " : " --dport ", e->orig.dport);
        if (!completed) {
            put_u(o, g ? " --reply-key-src " : " --reply-port-src ", e->reply.sport);
            put_u(o, g ? " --reply-key-dst " : " --reply-port-dst ", e->reply.dport);
        }
    }
    if (kind == P_TCP || kind == P_SCTP || kind == P_DCCP) {
        const char *s = (e->has & NETOPS_CT_HAS_STATE)
                        ? netops_ct_text_state_name(e->proto, e->state) : NULL;
        if (!s)
            return EINVAL;
        puts_(o, " --state ");
        puts_(o, s);
    }
    if (kind == P_DCCP) {
        if (!(e->has & NETOPS_CT_HAS_DCCP_ROLE) || e->dccp_role >= COUNT(dccp_roles))
            return EINVAL;
        puts_(o, " --role ");
        puts_(o, dccp_roles[e->dccp_role]);
    }
    if (kind == P_SCTP) {
        if (!(e->has & NETOPS_CT_HAS_VTAG))
            return EINVAL;
        put_u(o, " --orig-vtag ", e->vtag_orig);
        put_u(o, " --reply-vtag ", e->vtag_reply);
    }
    if (kind == P_ICMP || kind == P_ICMP6) {
        int v6 = kind == P_ICMP6;
        if (!(e->has & NETOPS_CT_HAS_ICMP))
            return EINVAL;
        put_u(o, v6 ? " --icmpv6-type " : " --icmp-type ", e->icmp_type);
        put_u(o, v6 ? " --icmpv6-code " : " --icmp-code ", e->icmp_code);
        put_u(o, v6 ? " --icmpv6-id " : " --icmp-id ", e->icmp_id);
    }
    return 0;
}

int netops_ct_text_format(const struct netops_ct_entry *e, char *out, size_t cap, size_t *len)
{
    struct out o = { out, cap, 0, 0 };
    if ((e->family != AF_INET && e->family != AF_INET6) || !(e->has & NETOPS_CT_HAS_TIMEOUT))
        return EINVAL;
    int ported = netops_ct_has_ports(e->proto);
    put_u(&o, "-A -t ", e->timeout);
    if (e->has & NETOPS_CT_HAS_STATUS)
        put_status(&o, e->status);
    if (e->has & NETOPS_CT_HAS_ZONE)
        put_u(&o, " -w ", e->zone);
    if (e->has & NETOPS_CT_HAS_ORIG_ZONE)
        put_u(&o, " --orig-zone ", e->orig_zone);
    if (e->has & NETOPS_CT_HAS_REPLY_ZONE)
        put_u(&o, " --reply-zone ", e->reply_zone);
    int completed = put_tuples(&o, e, ported);
    if (completed < 0)
        return EINVAL;
    const char *pn = netops_ct_proto_name(e->proto);
    if (pn) {
        puts_(&o, " -p ");
        puts_(&o, pn);
    } else {
        put_u(&o, " -p ", e->proto);
    }
    if (put_proto(&o, e, ported, completed))
        return EINVAL;
    if (e->has & NETOPS_CT_HAS_MARK)
        put_u(&o, " -m ", e->mark);
    if (o.full) {
        if (cap)
            out[0] = '\0';
        return ENOSPC;
    }
    out[o.len] = '\0';
    *len = o.len;
    return 0;
}

/* ------------------------------------------------------------ lines */

void netops_ct_text_lines_init(struct netops_ct_text_lines *r)
{
    r->len = r->pos = 0;
    r->lineno = 0;
    r->eof = r->skipping = 0;
}

int netops_ct_text_lines_next(struct netops_ct_text_lines *r, const char **line, size_t *n,
                              unsigned long *lineno)
{
    for (;;) {
        const char *start = r->buf + r->pos;
        size_t avail = r->len - r->pos;
        const char *nl = memchr(start, '\n', avail);
        if (r->skipping) {      /* the rest of a too-long line */
            if (!nl) {
                r->pos = r->len;
                return r->eof ? NETOPS_CT_TEXT_END : NETOPS_CT_TEXT_MORE;
            }
            r->pos += (size_t)(nl - start) + 1;
            r->skipping = 0;
            continue;
        }
        size_t ln = nl ? (size_t)(nl - start) : avail;
        if (!nl && avail <= NETOPS_CT_TEXT_LINE_MAX && !r->eof)
            return NETOPS_CT_TEXT_MORE;
        if (!nl && avail == 0)
            return NETOPS_CT_TEXT_END;
        *line = start;
        *lineno = ++r->lineno;
        if (ln > NETOPS_CT_TEXT_LINE_MAX) {
            *n = 80;
            r->pos = nl ? r->pos + ln + 1 : r->len;
            r->skipping = !nl;
            return NETOPS_CT_TEXT_LONG;
        }
        *n = ln;
        r->pos += nl ? ln + 1 : ln;
        return NETOPS_CT_TEXT_LINE;
    }
}

size_t netops_ct_text_lines_space(struct netops_ct_text_lines *r, char **p)
{
    if (r->pos) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    *p = r->buf + r->len;
    return sizeof r->buf - r->len;
}

void netops_ct_text_lines_added(struct netops_ct_text_lines *r, size_t got)
{
    if (got == 0)
        r->eof = 1;
    else
        r->len += got;
}
