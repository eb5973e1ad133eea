/* ctd_reply.c - conntrackd reply parsers; see ctd_reply.h.  Every loop walks
 * the line forward once (a label is walked back at most to the end of the
 * previous field), so each parser is linear in the line's length. */
#include "ctd_reply.h"
#include "inet.h"

#include <errno.h>
#include <string.h>

const char *const netops_ctd_status_names[] = {
    "ASSURED", "UNREPLIED", "SEEN_REPLY", "EXPECTED", "CONFIRMED", "DYING",
    "FIXED_TIMEOUT", "OFFLOAD", "HW_OFFLOAD", NULL,
};

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alnum(char c) { return is_alpha(c) || is_digit(c); }
static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* A byte conntrackd never writes on a line: control bytes but tab, DEL,
 * anything past ASCII. */
static int bad_bytes(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return 1;
    }
    return 0;
}

static int bad(const char **why, const char *reason)
{
    *why = reason;
    return EINVAL;
}

/* Decimal digits s[0..n) as a value <= max: 0, or -1 (empty, a non-digit,
 * out of range). */
static int decimal(const char *s, size_t n, long long max, long long *v)
{
    long long x = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]) || x > (max - (s[i] - '0')) / 10)
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

/* key(label): lowercase, each run of other characters one "_", none at
 * either end.  0, or -1 when it does not fit or is empty. */
static int make_key(const char *s, size_t n, char out[NETOPS_CTD_KEYMAX])
{
    size_t k = 0;
    int sep = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_alnum(c)) {
            sep = k > 0;
            continue;
        }
        if (k + sep + 1 >= NETOPS_CTD_KEYMAX)
            return -1;
        if (sep)
            out[k++] = '_';
        sep = 0;
        out[k++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[k] = '\0';
    return k > 0 ? 0 : -1;
}

/* ---- statistics ---------------------------------------------------------- */

/* A heading "name:" or "name (info):" (or "name (info)" with no colon):
 * fills out; 0, or EINVAL. */
static int heading(const char *s, size_t n, int colon, struct netops_ctd_statline *out)
{
    size_t end = colon ? n - 1 : n;

    out->kind = NETOPS_CTD_SECTION;
    while (end > 0 && is_blank(s[end - 1]))
        end--;
    if (end > 0 && s[end - 1] == ')') {
        size_t i = end - 1;
        int depth = 0;
        do {
            depth += s[i] == ')' ? 1 : s[i] == '(' ? -1 : 0;
        } while (depth > 0 && i-- > 0);
        if (depth == 0) {
            out->has_info = 1;
            out->info.off = i + 1;
            out->info.len = end - 1 - (i + 1);
            end = i;
        }
    }
    if (make_key(s, end, out->section) < 0)
        return bad(&out->why, "heading without a usable name");
    return 0;
}

static int label_char(char c)
{
    return is_alpha(c) || is_blank(c) || c == '-' || c == '/' || c == '(' || c == ')';
}

static int add_field(struct netops_ctd_statline *out, const char *label, size_t len,
                     long long v, int after_pair)
{
    char key[NETOPS_CTD_KEYMAX];

    if (out->n >= NETOPS_CTD_MAXFIELDS)
        return bad(&out->why, "too many statistics on one line");
    if (make_key(label, len, key) < 0)
        return bad(&out->why, "statistics label too long");
    if (after_pair && strcmp(key, "failed") == 0) {
        const char *prev = out->f[out->n - 1].key;
        if (strlen(prev) + sizeof "_failed" > NETOPS_CTD_KEYMAX)
            return bad(&out->why, "statistics label too long");
        strcpy(key, prev);
        strcat(key, "_failed");
    }
    memcpy(out->f[out->n].key, key, sizeof key);
    out->f[out->n].value = v;
    out->n++;
    return 0;
}

/* "creation OK/failed: N/M": creation_ok = N, creation_failed = M (the word
 * before the slash, then the word after it, in the rest of the label). */
static int add_slash(struct netops_ctd_statline *out, const char *label, size_t len,
                     long long x, long long y)
{
    const char *slash = memchr(label, '/', len);
    char buf[2 * NETOPS_CTD_KEYMAX];
    size_t p, a, b;

    if (!slash)
        return bad(&out->why, "two numbers for one statistics label");
    if (len >= sizeof buf)
        return bad(&out->why, "statistics label too long");
    p = (size_t)(slash - label);
    for (a = p; a > 0 && is_alnum(label[a - 1]); a--)
        ;
    for (b = p + 1; b < len && is_alnum(label[b]); b++)
        ;
    memcpy(buf, label, p);
    memcpy(buf + p, label + b, len - b);
    if (add_field(out, buf, p + len - b, x, 0) != 0)
        return EINVAL;
    memcpy(buf, label, a);
    memcpy(buf + a, label + p + 1, len - p - 1);
    return add_field(out, buf, a + len - p - 1, y, 0);
}

/* A second number "/ M" after a value ending at s[d]: 1 and *y, *end (past
 * it), or 0 when there is none. */
static int second_number(const char *s, size_t n, size_t d, long long *y, size_t *end)
{
    size_t v = d + 1, e;

    if (d >= n || s[d] != '/')
        return 0;
    while (v < n && is_blank(s[v]))
        v++;
    for (e = v; e < n && is_digit(s[e]); e++)
        ;
    if (e == v || decimal(s + v, e - v, 0x7fffffffffffffffLL, y) < 0)
        return 0;
    *end = e;
    return 1;
}

/* Every "label: N" (or "a/b label: N/M") pair; a label starts at a letter
 * after the previous pair and holds letters, blanks, - / ( ).  0 (out->n
 * may stay 0) or EINVAL. */
static int pairs(const char *s, size_t n, struct netops_ctd_statline *out)
{
    size_t floor = 0;

    for (size_t c = 0; c < n; c++) {
        size_t a = c, v = c + 1, d;
        long long x, y;
        if (s[c] != ':')
            continue;
        while (a > floor && label_char(s[a - 1]))
            a--;
        while (a < c && !is_alpha(s[a]))
            a++;
        while (v < n && is_blank(s[v]))
            v++;
        for (d = v; d < n && is_digit(s[d]); d++)
            ;
        if (a == c || d == v) {
            if (a < c && d == v)
                floor = c + 1;   /* "cache:internal": that label is spent */
            continue;
        }
        if (decimal(s + v, d - v, 0x7fffffffffffffffLL, &x) < 0)
            return bad(&out->why, "number out of range");
        if (second_number(s, n, d, &y, &d)) {
            if (add_slash(out, s + a, c - a, x, y) != 0)
                return EINVAL;
        } else if (add_field(out, s + a, c - a, x, out->n > 0) != 0) {
            return EINVAL;
        }
        floor = d;
        c = d - 1;
    }
    return 0;
}

/* Columns "N Label" apart by two or more blanks ("396 Bytes sent   16 Bytes
 * recv").  0 (out->n may stay 0) or EINVAL. */
static int columns(const char *s, size_t n, struct netops_ctd_statline *out)
{
    size_t i = 0;

    while (i < n) {
        size_t st, e, d, l;
        long long x;
        while (i < n && is_blank(s[i]))
            i++;
        st = i;
        while (i < n && !(is_blank(s[i]) && i + 1 < n && is_blank(s[i + 1])))
            i++;
        e = i;                                /* field s[st..e) */
        for (d = st; d < e && is_digit(s[d]); d++)
            ;
        if (d == st || d == e || !is_blank(s[d]))
            continue;
        for (l = d + 1; l < e && (is_alpha(s[l]) || s[l] == ' '); l++)
            ;
        if (l < e || !is_alpha(s[d + 1]))
            continue;
        if (decimal(s + st, d - st, 0x7fffffffffffffffLL, &x) < 0)
            return bad(&out->why, "number out of range");
        if (add_field(out, s + d + 1, e - d - 1, x, 0) != 0)
            return EINVAL;
    }
    return 0;
}

/* A leading "name:name" word followed by fields ("cache:internal\tactive
 * objects: 20", from `-s cache`) names the section those fields open: its
 * length, with out->section and out->opens set, or 0. */
static size_t section_word(const char *s, size_t n, struct netops_ctd_statline *out)
{
    size_t i = 0, colon = 0;

    while (i < n && !is_blank(s[i])) {
        if (s[i] == ':') {
            if (colon)
                return 0;
            colon = i;
        } else if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-') {
            return 0;
        }
        i++;
    }
    if (colon == 0 || i == n || !is_alpha(s[0]) || !is_alpha(s[colon + 1]))
        return 0;
    if (make_key(s, i, out->section) < 0)
        return 0;
    out->opens = 1;
    return i;
}

int netops_ctd_stats_line(const char *s, size_t n, struct netops_ctd_statline *out)
{
    size_t k;

    memset(out, 0, sizeof *out);
    out->kind = NETOPS_CTD_BLANK;
    if (bad_bytes(s, n))
        return bad(&out->why, "control or non-ASCII byte");
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    if (n == 0)
        return 0;
    if (s[n - 1] == ':')
        return is_blank(s[0]) ? 0 : heading(s, n, 1, out);
    out->kind = NETOPS_CTD_FIELDS;
    k = section_word(s, n, out);
    if (pairs(s + k, n - k, out) != 0)
        return EINVAL;
    if (out->n == 0) {
        out->opens = 0;
        out->section[0] = '\0';
    }
    if (out->n == 0 && columns(s, n, out) != 0)
        return EINVAL;
    if (out->n > 0)
        return 0;
    if (!is_blank(s[0]) && s[n - 1] == ')')    /* "resent queue (len=1)" */
        return heading(s, n, 0, out);
    return bad(&out->why, "no statistics on this line");
}

/* ---- dump lines ---------------------------------------------------------- */

struct cursor {
    const char *s;
    size_t n, pos;
};

/* The next blank-separated token: 1 and *t, or 0 at the end. */
static int token(struct cursor *c, struct netops_ctd_span *t)
{
    while (c->pos < c->n && is_blank(c->s[c->pos]))
        c->pos++;
    if (c->pos >= c->n)
        return 0;
    t->off = c->pos;
    while (c->pos < c->n && !is_blank(c->s[c->pos]))
        c->pos++;
    t->len = c->pos - t->off;
    return 1;
}

static int span_is(const char *s, struct netops_ctd_span t, const char *word)
{
    return t.len == strlen(word) && memcmp(s + t.off, word, t.len) == 0;
}

static int all_of(const char *s, struct netops_ctd_span t, int (*ok)(char))
{
    for (size_t i = 0; i < t.len; i++)
        if (!ok(s[t.off + i]))
            return 0;
    return t.len > 0;
}

static int upper_(char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }
static int digit_(char c) { return is_digit(c); }
static int keych(char c) { return is_alnum(c) || c == '_' || c == '-'; }
static int protoch(char c) { return is_alnum(c) || c == '-'; }

/* Header: [ipv4|ipv6 L3NUM] PROTO PROTONUM [TIMEOUT] [STATE]; the cursor
 * is left after it, *t holds the first token past it (*more 0 at the end). */
static int header(struct cursor *c, struct netops_ctd_entry *e,
                  struct netops_ctd_span *t, int *more)
{
    const char *s = c->s;
    long long v;

    if (!token(c, t))
        return bad(&e->why, "empty line");
    if (span_is(s, *t, "ipv4") || span_is(s, *t, "ipv6")) {
        e->family = s[t->off + 3] - '0';
        if (!token(c, t) || !all_of(s, *t, digit_) || !token(c, t))
            return bad(&e->why, "not an entry");
    }
    if (!is_alpha(s[t->off]) || !all_of(s, *t, protoch))
        return bad(&e->why, "not an entry");
    e->proto = *t;
    if (!token(c, t) || decimal(s + t->off, t->len, 255, &v) < 0)
        return bad(&e->why, "not an entry: no protocol number");
    e->protonum = (int)v;
    *more = token(c, t);
    if (*more && all_of(s, *t, digit_)) {
        if (decimal(s + t->off, t->len, 0x7fffffffffffffffLL, &e->timeout) < 0)
            return bad(&e->why, "timeout out of range");
        *more = token(c, t);
    }
    if (*more && all_of(s, *t, upper_)) {
        e->state = *t;
        *more = token(c, t);
    }
    return 0;
}

static void flag(const char *s, struct netops_ctd_span t, struct netops_ctd_entry *e)
{
    struct netops_ctd_span in = { t.off + 1, t.len - 2 };

    if (t.len < 3 || s[t.off] != '[' || s[t.off + t.len - 1] != ']')
        return;
    for (unsigned i = 0; netops_ctd_status_names[i]; i++)
        if (span_is(s, in, netops_ctd_status_names[i]))
            e->status |= 1u << i;
}

/* An address field: its family must agree with the entry's. */
static int address(const char *s, struct netops_ctd_span v, struct netops_ctd_entry *e,
                   struct netops_ctd_span *dst)
{
    unsigned char bytes[16];
    int fam;

    if (netops_addr_parse(s + v.off, v.len, bytes, &fam) != 0)
        return bad(&e->why, "bad address");
    if (e->family && e->family != fam)
        return bad(&e->why, "addresses of two families");
    e->family = fam;
    *dst = v;
    return 0;
}

static int number(const char *s, struct netops_ctd_span v, long long max, long long *out,
                  struct netops_ctd_entry *e, const char *why)
{
    if (decimal(s + v.off, v.len, max, out) < 0)
        return bad(&e->why, why);
    return 0;
}

struct walk {
    struct netops_ctd_tuple *tuple;    /* &e->orig, then &e->reply */
    unsigned seen;                     /* tuple keys seen in this tuple */
    int icmp, done;
};

/* A tuple key (src dst sport dport; type code for ICMP): bit, or 0. */
static unsigned tuple_bit(const char *s, struct netops_ctd_span k, int icmp)
{
    static const char *const names[] = { "src", "dst", "sport", "dport", "type", "code" };
    for (unsigned i = 0; i < (icmp ? 6u : 4u); i++)
        if (span_is(s, k, names[i]))
            return 1u << i;
    return 0;
}

static int tuple_field(const char *s, unsigned bit, struct netops_ctd_span v,
                       struct walk *w, struct netops_ctd_entry *e)
{
    struct netops_ctd_tuple *t;
    long long x;

    if (w->seen & bit) {
        if (w->tuple == &e->reply) {
            w->done = 1;        /* a third tuple: the master of an expectation */
            return 0;
        }
        w->tuple = &e->reply;
        w->seen = 0;
    }
    w->seen |= bit;
    t = w->tuple;
    if (bit == 1 || bit == 2)
        return address(s, v, e, bit == 1 ? &t->src : &t->dst);
    if (number(s, v, bit <= 8 ? 65535 : 255, &x, e, bit <= 8 ? "bad port" : "bad ICMP type or code"))
        return EINVAL;
    if (bit == 4 || bit == 8)
        *(bit == 4 ? &t->sport : &t->dport) = (int)x;
    else if (t == &e->orig)
        *(bit == 16 ? &e->icmp_type : &e->icmp_code) = (int)x;
    return 0;
}

static int reserved(const char *s, struct netops_ctd_span k)
{
    static const char *const names[] = { "family", "proto", "protonum", "timeout", "state",
        "status", "reply", "reply_inferred", "icmp", NULL };
    for (int i = 0; names[i]; i++)
        if (span_is(s, k, names[i]))
            return 1;
    return 0;
}

static int other_field(const char *s, struct netops_ctd_span k, struct netops_ctd_span v,
                       struct walk *w, struct netops_ctd_entry *e)
{
    static const char *const ints[] = { "mark", "zone", "use", "id" };
    long long *slot[] = { &e->mark, &e->zone, &e->use, &e->id };
    long long x;

    if (w->icmp && span_is(s, k, "id") && (w->tuple == &e->reply || e->icmp_id < 0)) {
        if (number(s, v, 65535, &x, e, "bad ICMP id"))
            return EINVAL;
        if (w->tuple == &e->orig)
            e->icmp_id = (int)x;
        return 0;
    }
    for (int i = 0; i < 4; i++)
        if (span_is(s, k, ints[i]))
            return number(s, v, 0xffffffffLL, slot[i], e, "bad mark, zone, use or id");
    if (span_is(s, k, "type") || span_is(s, k, "code"))
        return 0;
    if (reserved(s, k))
        return bad(&e->why, "a field that would overwrite the entry's own");
    if (e->nextra >= NETOPS_CTD_MAXEXTRA)
        return bad(&e->why, "too many fields");
    e->extra[e->nextra].key = k;
    e->extra[e->nextra].val = v;
    e->nextra++;
    return 0;
}

/* One key=value token (tokens without "=" are words such as "[active since
 * 5s]" and are skipped). */
static int field(const char *s, struct netops_ctd_span t, struct walk *w,
                 struct netops_ctd_entry *e)
{
    const char *eq = memchr(s + t.off, '=', t.len);
    struct netops_ctd_span k, v;
    unsigned bit;

    if (!eq || w->done)
        return 0;
    k.off = t.off;
    k.len = (size_t)(eq - (s + t.off));
    v.off = k.off + k.len + 1;
    v.len = t.len - k.len - 1;
    if (!all_of(s, k, keych))
        return 0;
    bit = tuple_bit(s, k, w->icmp);
    if (bit)
        return tuple_field(s, bit, v, w, e);
    return other_field(s, k, v, w, e);
}

int netops_ctd_parse_entry(const char *s, size_t n, struct netops_ctd_entry *e)
{
    struct cursor c = { s, n, 0 };
    struct netops_ctd_span t;
    struct walk w;
    int more;

    memset(e, 0, sizeof *e);
    e->timeout = e->mark = e->zone = e->use = e->id = -1;
    e->orig.sport = e->orig.dport = e->reply.sport = e->reply.dport = -1;
    e->icmp_type = e->icmp_code = e->icmp_id = -1;
    if (bad_bytes(s, n))
        return bad(&e->why, "control or non-ASCII byte");
    if (header(&c, e, &t, &more) != 0)
        return EINVAL;
    w.tuple = &e->orig;
    w.seen = 0;
    w.done = 0;
    w.icmp = span_is(s, e->proto, "icmp") || span_is(s, e->proto, "icmpv6");
    for (; more; more = token(&c, &t)) {
        if (s[t.off] == '[')
            flag(s, t, e);
        else if (field(s, t, &w, e) != 0)
            return EINVAL;
    }
    if (e->orig.src.len == 0 || e->orig.dst.len == 0)
        return bad(&e->why, "not an entry: no src and dst");
    return 0;
}
