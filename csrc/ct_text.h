/*
 * ct_text.h - conntrack entries as text: the lines `conntrack -L -o save`
 * writes and the -I/-A/-U options `conntrack -I` and `conntrack -R` read.
 * Pure C, no Lua, no allocation: the same code serves the Lua binding, the
 * C tests, the fuzzer and the streaming restore.
 *
 * A line reads as conntrack-tools (1.4.x) reads it: the same option names
 * (short, long, --long=value, unique abbreviations of long ones, an argument
 * glued to a short option), the same quoting ("..." with \ escapes), the
 * same rules for what a create needs (-p and -t; -s with -d or -r with -q;
 * both ports; the TCP state; the SCTP state and vtags; the DCCP state and
 * role; the ICMP type and code), the same reply tuple (the inverse of the
 * original one when only that is given, and the reverse; --src-nat and
 * --dst-nat ADDR, ADDR:PORT or [IPv6]:PORT rewrite the reply tuple as the
 * kernel's NAT does, and set IPS_SRC_NAT / IPS_DST_NAT when they change it),
 * the same number bases (strtoul base 0 where conntrack uses it: -p, -m, -w,
 * zones, GRE keys; decimal where it uses atoi: -t, ports, ICMP, vtags).
 * Stricter than conntrack, with the reason: numbers out of range or with
 * trailing garbage (conntrack's atoi wraps them silently), addresses that
 * are not strict text (inet_aton's "1.1" or "010.0.0.1"), prefixes, stray
 * words, options before the -p that brings them, a second -p, NAT ports on
 * protocols without ports, an -r without -q (or the reverse) next to -s/-d,
 * explicit reply tuples without reply ports, --label-add.  Options conntrack
 * refuses with -I (-f, -c, -i, -o, -z, masks, --any-nat...) are refused.
 * Addresses come out in binary, so every text that names one address (any
 * case, embedded IPv4, zero compression) gives the same entry.
 */
#ifndef NETOPS_CT_TEXT_H
#define NETOPS_CT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "conntrack.h"

#define NETOPS_CT_TEXT_WHY 200        /* a reason always fits in this many bytes */
#define NETOPS_CT_TEXT_MAX 640        /* a formatted line (with its NUL) always fits */
#define NETOPS_CT_TEXT_LINE_MAX 10240 /* longer lines are refused (conntrack -R's limit) */

/*
 * Parse one line (len bytes, no newline needed; a trailing "\n" or "\r\n"
 * is blank space) into *e, which is zeroed first.  Returns
 *   0        *e is the entry the line describes (a -I, -A or -U command);
 *   ENODATA  the line is blank or a # comment: nothing to do;
 *   EINVAL   the line is refused; why (whylen bytes, NUL-terminated, cut
 *            to fit) says why: "unknown TCP state 'FOO'".
 * Never reads past line[len); a NUL byte in the line is refused.
 */
int netops_ct_text_parse(const char *line, size_t len, struct netops_ct_entry *e,
                         char *why, size_t whylen);

/*
 * The line for e, loadable by `conntrack -R` (and by netops_ct_text_parse,
 * which gives e back for every field above; status bits other than those -u
 * sets and the NAT bits, and id, are not written), into out (cap bytes):
 * NUL-terminated, no newline, *len its length.  Returns 0; ENOSPC when cap
 * is too small (NETOPS_CT_TEXT_MAX is always enough); EINVAL when e cannot
 * be written as a line conntrack loads: no timeout, an unknown family, a
 * port protocol without ports, TCP/SCTP/DCCP without a state, SCTP without
 * vtags, DCCP without a role, ICMP without type, a NAT bit whose other side
 * of the reply tuple is not the inverse of the original tuple, a state
 * without a name.
 */
int netops_ct_text_format(const struct netops_ct_entry *e, char *out, size_t cap, size_t *len);

/* State names (TCP and SCTP as conntrack.c names them, DCCP as conntrack
 * does) and DCCP role names ("client", "server"): NULL or ENOENT when
 * unknown. */
const char *netops_ct_text_state_name(uint8_t proto, uint8_t state);
int netops_ct_text_state_number(uint8_t proto, const char *name, uint8_t *state);
const char *netops_ct_text_role_name(uint8_t role);

/*
 * A line splitter for streaming a snapshot through a fixed buffer: memory
 * stays at sizeof(struct netops_ct_text_lines) whatever the file size.
 *
 *   struct netops_ct_text_lines *r = malloc(sizeof *r);
 *   netops_ct_text_lines_init(r);
 *   for (;;) {
 *       int k = netops_ct_text_lines_next(r, &line, &n, &lineno);
 *       if (k == NETOPS_CT_TEXT_LINE) { parse line[0..n) ...; continue; }
 *       if (k == NETOPS_CT_TEXT_LONG) { report lineno as too long; continue; }
 *       if (k == NETOPS_CT_TEXT_END) break;
 *       // NETOPS_CT_TEXT_MORE: read into the free space
 *       room = netops_ct_text_lines_space(r, &p);
 *       got = read(fd, p, room);        // 0 at end of file
 *       netops_ct_text_lines_added(r, got);
 *   }
 *
 * A line handed out stays valid until the next call of _space.  Lines are
 * numbered from 1; the newline is not part of a line; a last line without
 * one still counts.
 */
enum {
    NETOPS_CT_TEXT_MORE = 0,   /* need more input (call _space, read, _added) */
    NETOPS_CT_TEXT_LINE = 1,   /* *line, *n, *lineno: one line */
    NETOPS_CT_TEXT_LONG = 2,   /* line *lineno is longer than NETOPS_CT_TEXT_LINE_MAX:
                                  skipped; *line and *n show its first bytes */
    NETOPS_CT_TEXT_END = 3,    /* all input seen */
};

struct netops_ct_text_lines {
    size_t len;                /* bytes held in buf */
    size_t pos;                /* start of the next line */
    unsigned long lineno;      /* number of the last line handed out */
    int eof;                   /* _added(r, 0) was called */
    int skipping;              /* inside a too-long line, looking for its end */
    char buf[4 * NETOPS_CT_TEXT_LINE_MAX + 4096];
};

void netops_ct_text_lines_init(struct netops_ct_text_lines *r);
int netops_ct_text_lines_next(struct netops_ct_text_lines *r, const char **line, size_t *n,
                              unsigned long *lineno);
/* Move the unfinished line to the front; the free space is *p, its size returned. */
size_t netops_ct_text_lines_space(struct netops_ct_text_lines *r, char **p);
/* got bytes were written at the free space; 0 means end of input. */
void netops_ct_text_lines_added(struct netops_ct_text_lines *r, size_t got);

#endif
