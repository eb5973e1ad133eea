/*
 * lua_conntrack.c - Lua bindings for the conntrack area: the C module
 * netops.ctnetlink (open, names, check) and the handle "netops.Conntrack"
 * (see lua/netops/conntrack.lua, its only user, and the README section
 * "netops.conntrack").  Entries cross as plain tables.  A module of its own
 * because it links libnetfilter_conntrack, libnfnetlink and libmnl, which
 * netops.core and the commands that need no kernel table do without.
 */
/***
 * The conntrack handle (`netops.Conntrack`), made by `netops.conntrack.open`.
 * Its methods need CAP_NET_ADMIN; they raise on misuse (a bad entry or
 * filter field, a use after close) and return `nil, message, errno` when the
 * kernel or the socket says no.
 * @submodule netops.conntrack
 */
#include "luax.h"
#include "conntrack.h"
#include "ct_text.h"
#include "inet.h"
#include "lua_conntrack.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define CT_TYPE "netops.Conntrack"      /* NETOPS_CTL_TYPE (lua_conntrack.h) */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define CURSOR_TYPE "netops.ConntrackCursor"

struct memo_slot;

typedef struct {
    struct netops_ct *ct;
    char netns[256];
    struct memo_slot *memo;   /* commit's parsed addresses, kept (see fv_addr) */
} LCt;

typedef struct {
    struct netops_ct_cursor *c;
    int events;
    int timeout_ms;
    char netns[256];
    AddrCache cache;
} LCursor;

static LCt *check_ct(lua_State *L)
{
    LCt *h = luaL_checkudata(L, 1, CT_TYPE);
    if (!h->ct)
        luaL_error(L, "attempt to use a closed " CT_TYPE);
    return h;
}

static int fail(lua_State *L, const char *netns, const char *what, int err)
{
    const char *why = netops_ct_strerror(err);
    if (err == EPERM || err == EACCES)
        why = "permission denied (needs CAP_NET_ADMIN: run as root)";
    return luax_fail(L, err, "conntrack%s%s: %s: %s", *netns ? " in netns " : "", netns,
                     what, why);
}

/* ------------------------------------------------------------------ entries */

static const char *family_name(int f)
{
    return f == AF_INET ? "ipv4" : f == AF_INET6 ? "ipv6" : "unknown";
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/*
 * The string at idx as a C string, or NULL when it is not a string.  A
 * string with an embedded NUL byte raises (misuse): C would read only its
 * head ("ESTABLISHED\0GARBAGE" as ESTABLISHED, "fw1\0x" as fw1).
 */
static const char *opt_cstr(lua_State *L, int idx, const char *what)
{
    return lua_type(L, idx) == LUA_TSTRING ? luax_tocstring(L, idx, what) : NULL;
}

/* Formatted addresses, cached per dump (see AddrCache). */

static void push_addr(lua_State *L, AddrCache *cache, const unsigned char *a, int family)
{
    size_t alen = family == AF_INET ? 4 : 16;
    struct addr_slot *slot = NULL;
    if (cache) {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < alen; i++)
            h = (h ^ a[i]) * 16777619u;
        slot = &(*cache)[(h ^ (h >> 16)) % ADDR_CACHE];
        if (slot->len && slot->family == family && memcmp(slot->a, a, alen) == 0) {
            lua_pushlstring(L, slot->s, slot->len);
            return;
        }
    }
    char buf[NETOPS_ADDR_MAX];
    size_t n = netops_addr_format(a, family == AF_INET ? 4 : 6, buf);
    if (slot && n > 0 && n < 256) {
        memcpy(slot->a, a, alen);
        slot->family = (uint8_t)family;
        slot->len = (uint8_t)n;
        memcpy(slot->s, buf, n);
    }
    lua_pushlstring(L, buf, n);
}

static void push_proto(lua_State *L, uint8_t proto)
{
    const char *pn = netops_ct_proto_name(proto);
    if (pn)
        lua_pushstring(L, pn);
    else
        lua_pushinteger(L, proto);
}

/* entry.reply into the table at the top; s, d: the original src and dst
 * strings, reused when the reply is their inverse (no NAT). */
static void set_reply(lua_State *L, const struct netops_ct_entry *e, AddrCache *cache,
                      int s, int d)
{
    int alen = e->family == AF_INET ? 4 : 16;
    lua_createtable(L, 0, 4);
    if (memcmp(e->reply.src, e->orig.dst, alen) == 0)
        lua_pushvalue(L, d);
    else
        push_addr(L, cache, e->reply.src, e->family);
    lua_setfield(L, -2, "src");
    if (memcmp(e->reply.dst, e->orig.src, alen) == 0)
        lua_pushvalue(L, s);
    else
        push_addr(L, cache, e->reply.dst, e->family);
    lua_setfield(L, -2, "dst");
    if (e->has & NETOPS_CT_HAS_PORTS) {
        set_int(L, "sport", e->reply.sport);
        set_int(L, "dport", e->reply.dport);
    }
    lua_setfield(L, -2, "reply");
}

/* entry.state, entry.vtag, entry.icmp (where the entry has them). */
static void set_protoinfo(lua_State *L, const struct netops_ct_entry *e)
{
    if (e->has & NETOPS_CT_HAS_STATE) {
        const char *sn = netops_ct_text_state_name(e->proto, e->state);
        if (sn)
            set_str(L, "state", sn);
        else
            set_int(L, "state", e->state);
    }
    if (e->has & NETOPS_CT_HAS_VTAG) {
        lua_createtable(L, 0, 2);
        set_int(L, "orig", e->vtag_orig);
        set_int(L, "reply", e->vtag_reply);
        lua_setfield(L, -2, "vtag");
    }
    if (e->has & NETOPS_CT_HAS_DCCP_ROLE) {
        const char *rn = netops_ct_text_role_name(e->dccp_role);
        if (rn)
            set_str(L, "role", rn);
        else
            set_int(L, "role", e->dccp_role);
    }
    if (e->has & NETOPS_CT_HAS_ICMP) {
        lua_createtable(L, 0, 3);
        set_int(L, "type", e->icmp_type);
        set_int(L, "code", e->icmp_code);
        set_int(L, "id", e->icmp_id);
        lua_setfield(L, -2, "icmp");
    }
}

/* entry.status = { NAME = true } for each bit set. */
static void set_status(lua_State *L, uint32_t status)
{
    size_t nn;
    const char *const *names = netops_ct_status_names(&nn);
    lua_createtable(L, 0, 4);
    for (size_t i = 0; i < nn && i < 32; i++)
        if (status & (1u << i)) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, names[i]);
        }
    lua_setfield(L, -2, "status");
}

static void set_master(lua_State *L, const struct netops_ct_entry *e, AddrCache *cache)
{
    lua_createtable(L, 0, 5);
    push_proto(L, e->master_proto);
    lua_setfield(L, -2, "proto");
    push_addr(L, cache, e->master.src, e->family);
    lua_setfield(L, -2, "src");
    push_addr(L, cache, e->master.dst, e->family);
    lua_setfield(L, -2, "dst");
    if (netops_ct_has_ports(e->master_proto)) {
        set_int(L, "sport", e->master.sport);
        set_int(L, "dport", e->master.dport);
    }
    lua_setfield(L, -2, "master");
}

/* entry.gre = { key =, reply_key = }: the key each direction's packets
 * carry (the tuples' destination keys); src_key and reply_src_key too when
 * the tuples' source keys are not the other direction's key. */
static void set_gre(lua_State *L, const struct netops_ct_entry *e)
{
    lua_createtable(L, 0, 2);
    set_int(L, "key", e->orig.dport);
    set_int(L, "reply_key", e->reply.dport);
    if (e->orig.sport != e->reply.dport || e->reply.sport != e->orig.dport) {
        set_int(L, "src_key", e->orig.sport);
        set_int(L, "reply_src_key", e->reply.sport);
    }
    lua_setfield(L, -2, "gre");
}

/* orig_zone, reply_zone, gre: where the entry has them. */
static void set_extras(lua_State *L, const struct netops_ct_entry *e)
{
    if (e->has & NETOPS_CT_HAS_ORIG_ZONE)
        set_int(L, "orig_zone", e->orig_zone);
    if (e->has & NETOPS_CT_HAS_REPLY_ZONE)
        set_int(L, "reply_zone", e->reply_zone);
    if (e->has & NETOPS_CT_HAS_GRE_KEYS)
        set_gre(L, e);
}

static void push_entry(lua_State *L, const struct netops_ct_entry *e, AddrCache *cache)
{
    /* the two original addresses, formatted once: without NAT the reply
     * tuple reuses them */
    push_addr(L, cache, e->orig.src, e->family);
    push_addr(L, cache, e->orig.dst, e->family);
    int s = lua_gettop(L) - 1, d = s + 1;
    lua_createtable(L, 0, 16);
    set_str(L, "family", family_name(e->family));
    push_proto(L, e->proto);
    lua_setfield(L, -2, "proto");
    lua_pushvalue(L, s);
    lua_setfield(L, -2, "src");
    lua_pushvalue(L, d);
    lua_setfield(L, -2, "dst");
    if (e->has & NETOPS_CT_HAS_PORTS) {
        set_int(L, "sport", e->orig.sport);
        set_int(L, "dport", e->orig.dport);
    }
    set_reply(L, e, cache, s, d);
    set_protoinfo(L, e);
    set_extras(L, e);
    if (e->has & NETOPS_CT_HAS_TIMEOUT)
        set_int(L, "timeout", e->timeout);
    set_int(L, "mark", e->mark);
    set_int(L, "zone", e->zone);
    set_status(L, e->status);
    if (e->has & NETOPS_CT_HAS_ID)
        set_int(L, "id", e->id);
    if (e->has & NETOPS_CT_HAS_MASTER)
        set_master(L, e, cache);
    lua_replace(L, s);    /* the entry where src was; drop dst */
    lua_settop(L, s);
}

/* --------------------------------------------------------- reading entries */

/*
 * Entries and filters are read with luax's field readers (luax.h): each
 * reader below reads a few fields, leaves the stack as it found it and
 * returns 0, or -1 with the message in the reader's buffer (an entry: a bad
 * entry is a reported failure) or raising (a filter: misuse).
 */

static const char *const families[] = { "ipv4", "ipv6", NULL };
static const int family_af[] = { AF_INET, AF_INET6 };

/* Field k: a protocol name or a number 0..255.  1 found, 0 absent, -1 bad. */
static int proto_field(luax_Fields *r, const char *k, int *proto)
{
    char name[256];
    lua_Integer v;
    uint8_t p;
    int ty = luax_fieldtype(r, k);
    if (ty == LUA_TNIL)
        return 0;
    if (ty == LUA_TNUMBER) {
        if (luax_intfield(r, k, 0, 255, &v) < 0)
            return -1;
        *proto = (int)v;
        return 1;
    }
    if (ty != LUA_TSTRING)
        return luax_fielderror(r, "%s%s must be a protocol name or a number 0..255", r->path, k);
    if (luax_strfield(r, k, name, sizeof name, NULL) < 0)
        return -1;
    if (netops_ct_proto_number(name, &p) != 0)
        return luax_fielderror(r, "unknown %s%s '%s'", r->path, k, name);
    *proto = p;
    return 1;
}

/* Address field k: its family (AF_*), 0 when absent, -1 bad. */
static int addr_field(luax_Fields *r, const char *k, unsigned char out[16])
{
    char s[256];
    size_t n;
    int got = luax_strfield(r, k, s, sizeof s, &n);
    if (got <= 0)
        return got;
    memset(out, 0, 16);
    int fam;
    int v = netops_addr_parse(s, n, out, &fam);
    if (v != 0)
        return luax_fielderror(r, "bad %s%s address '%s': %s", r->path, k, s,
                               netops_addr_error(v));
    return fam == 4 ? AF_INET : AF_INET6;
}

/* sport and dport of t; need: absence is bad too. */
static int read_ports(luax_Fields *r, struct netops_ct_tuple *t, int need)
{
    int (*get)(luax_Fields *, const char *, lua_Integer, lua_Integer, lua_Integer *) =
        need ? luax_needintfield : luax_intfield;
    lua_Integer v;
    int got = get(r, "sport", 0, 65535, &v);
    if (got < 0)
        return -1;
    if (got)
        t->sport = (uint16_t)v;
    got = get(r, "dport", 0, 65535, &v);
    if (got < 0)
        return -1;
    if (got)
        t->dport = (uint16_t)v;
    return 0;
}

/* family, proto and the original tuple. */
static int read_tuple(luax_Fields *r, struct netops_ct_entry *e)
{
    int i = 0, p = 0, fs = 0, fd = 0;
    int fam = luax_optionfield(r, "family", families, &i);
    if (fam < 0)
        return -1;
    fam = fam ? family_af[i] : 0;
    int got = proto_field(r, "proto", &p);
    if (got <= 0)
        return got < 0 ? -1 : luax_fielderror(r, "missing proto");
    e->proto = (uint8_t)p;
    if ((fs = addr_field(r, "src", e->orig.src)) < 0 || (fd = addr_field(r, "dst", e->orig.dst)) < 0)
        return -1;
    if (!fs || !fd)
        return luax_fielderror(r, fs ? "missing dst" : "missing src");
    if (fs != fd)
        return luax_fielderror(r, "src and dst are of different families");
    if (fam && fam != fs)
        return luax_fielderror(r, "family %s does not match the addresses", family_name(fam));
    e->family = (uint8_t)fs;
    if ((p == IPPROTO_ICMP && fs != AF_INET) || (p == IPPROTO_ICMPV6 && fs != AF_INET6))
        return luax_fielderror(r, "proto %s does not go with %s",
                               p == IPPROTO_ICMP ? "icmp" : "icmpv6", family_name(fs));
    if (!netops_ct_has_ports(p))
        return 0;
    e->has |= NETOPS_CT_HAS_PORTS;
    return read_ports(r, &e->orig, 1);
}

static int read_icmp_table(luax_Fields *r, void *ud)
{
    struct netops_ct_entry *e = ud;
    lua_Integer v;
    int got = luax_intfield(r, "type", 0, 255, &v);
    if (got <= 0)
        return got < 0 ? -1 : luax_fielderror(r, "ICMP entry without icmp.type");
    e->icmp_type = (uint8_t)v;
    if ((got = luax_intfield(r, "code", 0, 255, &v)) < 0)
        return -1;
    e->icmp_code = got ? (uint8_t)v : 0;
    if ((got = luax_intfield(r, "id", 0, 65535, &v)) < 0)
        return -1;
    e->icmp_id = got ? (uint16_t)v : 0;
    e->has |= NETOPS_CT_HAS_ICMP;
    return 0;
}

/* icmp = { type =, code =, id = }: required for ICMP entries. */
static int read_icmp(luax_Fields *r, struct netops_ct_entry *e)
{
    if (e->proto != IPPROTO_ICMP && e->proto != IPPROTO_ICMPV6)
        return 0;
    if (luax_fieldtype(r, "icmp") != LUA_TTABLE)
        return luax_fielderror(r, "ICMP entry without icmp = { type =, code =, id = }");
    return luax_tablefield(r, "icmp", read_icmp_table, e);
}

/* reply = { src =, dst =, sport =, dport = }: missing parts are the inverse's. */
static int read_reply(luax_Fields *r, void *ud)
{
    struct netops_ct_entry *e = ud;
    memcpy(e->reply.src, e->orig.dst, 16);
    memcpy(e->reply.dst, e->orig.src, 16);
    e->reply.sport = e->orig.dport;
    e->reply.dport = e->orig.sport;
    int a = addr_field(r, "src", e->reply.src);
    if (a < 0)
        return -1;
    if (a && a != e->family)
        return luax_fielderror(r, "reply.src of another family");
    if ((a = addr_field(r, "dst", e->reply.dst)) < 0)
        return -1;
    if (a && a != e->family)
        return luax_fielderror(r, "reply.dst of another family");
    if (netops_ct_has_ports(e->proto) && read_ports(r, &e->reply, 0) < 0)
        return -1;
    e->has |= NETOPS_CT_HAS_REPLY;
    return 0;
}

/* state: a TCP or SCTP state name, or its number. */
static int read_state(luax_Fields *r, struct netops_ct_entry *e)
{
    char s[256];
    lua_Integer v = -1;
    uint8_t st;
    int ty = luax_fieldtype(r, "state");
    if (ty == LUA_TNIL)
        return 0;
    if (ty == LUA_TSTRING) {
        if (luax_strfield(r, "state", s, sizeof s, NULL) < 0)
            return -1;
        if (netops_ct_text_state_number(e->proto, s, &st) == 0)
            v = st;
    } else if (ty == LUA_TNUMBER) {
        if (luax_intfield(r, "state", 0, 15, &v) < 0)
            return -1;
        snprintf(s, sizeof s, "%lld", (long long)v);
    } else {
        snprintf(s, sizeof s, "%s", lua_typename(r->L, ty));
    }
    if (v < 0 || (e->proto != IPPROTO_TCP && e->proto != IPPROTO_SCTP &&
                  e->proto != IPPROTO_DCCP)) {
        const char *pn = netops_ct_proto_name(e->proto);
        return luax_fielderror(r, "bad state '%s' for proto %s", s, pn ? pn : "?");
    }
    e->state = (uint8_t)v;
    e->has |= NETOPS_CT_HAS_STATE;
    return 0;
}

/* A status table { ASSURED = true, ... } into bits (ud: uint32_t). */
static int read_status_bits(luax_Fields *r, void *ud)
{
    uint32_t *bits = ud;
    size_t nn;
    const char *const *names = netops_ct_status_names(&nn);
    for (size_t i = 0; i < nn; i++) {
        int on;
        luax_flagfield(r, names[i], &on);
        if (on)
            *bits |= 1u << i;
    }
    return 0;
}

/* timeout, mark, zone, status: each optional. */
static int read_scalars(luax_Fields *r, struct netops_ct_entry *e)
{
    lua_Integer v;
    int got = luax_intfield(r, "timeout", 0, 0xffffffffLL, &v);
    if (got < 0)
        return -1;
    if (got) { e->timeout = (uint32_t)v; e->has |= NETOPS_CT_HAS_TIMEOUT; }
    if ((got = luax_intfield(r, "mark", 0, 0xffffffffLL, &v)) < 0)
        return -1;
    if (got) { e->mark = (uint32_t)v; e->has |= NETOPS_CT_HAS_MARK; }
    if ((got = luax_intfield(r, "zone", 0, 65535, &v)) < 0)
        return -1;
    if (got) { e->zone = (uint16_t)v; e->has |= NETOPS_CT_HAS_ZONE; }
    /* a status that is not a table is ignored, as it always was */
    if (luax_fieldtype(r, "status") == LUA_TTABLE) {
        luax_tablefield(r, "status", read_status_bits, &e->status);
        e->has |= NETOPS_CT_HAS_STATUS;
    }
    return 0;
}

/* master = { proto =, src =, dst =, sport =, dport = }: a related entry's. */
static int read_master(luax_Fields *r, void *ud)
{
    struct netops_ct_entry *e = ud;
    int mp = e->proto, ms = 0, md = 0;
    if (proto_field(r, "proto", &mp) < 0)
        return -1;
    e->master_proto = (uint8_t)mp;
    if ((ms = addr_field(r, "src", e->master.src)) < 0 ||
        (md = addr_field(r, "dst", e->master.dst)) < 0)
        return -1;
    if (ms != e->family || md != e->family)
        return luax_fielderror(r, "master needs src and dst of the entry's family");
    if (netops_ct_has_ports(mp) && read_ports(r, &e->master, 1) < 0)
        return -1;
    e->has |= NETOPS_CT_HAS_MASTER;
    return 0;
}

static int read_vtag_table(luax_Fields *r, void *ud)
{
    struct netops_ct_entry *e = ud;
    lua_Integer v;
    int got = luax_intfield(r, "orig", 0, 0xffffffffLL, &v);
    if (got < 0)
        return -1;
    e->vtag_orig = got ? (uint32_t)v : 0;
    if ((got = luax_intfield(r, "reply", 0, 0xffffffffLL, &v)) < 0)
        return -1;
    e->vtag_reply = got ? (uint32_t)v : 0;
    e->has |= NETOPS_CT_HAS_VTAG;
    return 0;
}

/* vtag = { orig =, reply = }: SCTP only; anything else ignores it. */
static int read_vtag(luax_Fields *r, struct netops_ct_entry *e)
{
    if (e->proto != IPPROTO_SCTP || luax_fieldtype(r, "vtag") != LUA_TTABLE)
        return 0;
    return luax_tablefield(r, "vtag", read_vtag_table, e);
}

static int read_gre_table(luax_Fields *r, void *ud)
{
    struct netops_ct_entry *e = ud;
    lua_Integer k, rk, v;
    if (luax_needintfield(r, "key", 0, 65535, &k) < 0 ||
        luax_needintfield(r, "reply_key", 0, 65535, &rk) < 0)
        return -1;
    e->orig.dport = e->reply.sport = (uint16_t)k;
    e->reply.dport = e->orig.sport = (uint16_t)rk;
    int got = luax_intfield(r, "src_key", 0, 65535, &v);
    if (got < 0)
        return -1;
    if (got)
        e->orig.sport = (uint16_t)v;
    if ((got = luax_intfield(r, "reply_src_key", 0, 65535, &v)) < 0)
        return -1;
    if (got)
        e->reply.sport = (uint16_t)v;
    e->has |= NETOPS_CT_HAS_GRE_KEYS;
    return 0;
}

/* role ("client"/"server", DCCP), orig_zone, reply_zone, gre = { key =,
 * reply_key = [, src_key =, reply_src_key = ] } (GRE). */
static int read_extras(luax_Fields *r, struct netops_ct_entry *e)
{
    static const char *const roles[] = { "client", "server", NULL };
    lua_Integer v;
    int i = 0, got = luax_optionfield(r, "role", roles, &i);
    if (got < 0)
        return -1;
    if (got && e->proto != IPPROTO_DCCP)
        return luax_fielderror(r, "%srole is for DCCP entries", r->path);
    if (got) { e->dccp_role = (uint8_t)i; e->has |= NETOPS_CT_HAS_DCCP_ROLE; }
    if ((got = luax_intfield(r, "orig_zone", 0, 65535, &v)) < 0)
        return -1;
    if (got) { e->orig_zone = (uint16_t)v; e->has |= NETOPS_CT_HAS_ORIG_ZONE; }
    if ((got = luax_intfield(r, "reply_zone", 0, 65535, &v)) < 0)
        return -1;
    if (got) { e->reply_zone = (uint16_t)v; e->has |= NETOPS_CT_HAS_REPLY_ZONE; }
    if (luax_fieldtype(r, "gre") == LUA_TNIL)
        return 0;
    if (e->proto != IPPROTO_GRE)
        return luax_fielderror(r, "%sgre is for GRE entries", r->path);
    return luax_tablefield(r, "gre", read_gre_table, e);
}

/*
 * Convert the entry table at idx.  Returns NULL, or err (errsize bytes)
 * holding a message saying what is wrong with it.  Misuse (a string with
 * a NUL byte) raises.  The stack is left as it was.
 */
static const char *to_entry(lua_State *L, int idx, struct netops_ct_entry *e, char *err,
                            size_t errsize)
{
    luax_Fields r;
    memset(e, 0, sizeof *e);
    if (!lua_istable(L, idx)) {
        snprintf(err, errsize, "entry must be a table, got %s", luaL_typename(L, idx));
        return err;
    }
    luax_fields(&r, L, idx, 0, "", err, errsize);
    if (read_tuple(&r, e) < 0 || read_icmp(&r, e) < 0 ||
        luax_tablefield(&r, "reply", read_reply, e) < 0 || read_state(&r, e) < 0 ||
        read_scalars(&r, e) < 0 || luax_tablefield(&r, "master", read_master, e) < 0 ||
        read_vtag(&r, e) < 0 || read_extras(&r, e) < 0)
        return err;
    return NULL;
}

/* ---------------------------------------------------- the fast entry reader */

/*
 * commit reads hundreds of thousands of entries: to_entry's field readers
 * (a lookup by name per field, present or not) were most of its user-space
 * work.  The fast reader walks each table once with lua_next, tells the
 * keys apart by pointer (Lua interns short strings: a key is "src" exactly
 * when it is the interned "src" kept below) and parses each distinct
 * address string once.  It accepts what to_entry accepts, into the same
 * struct; anything it is not sure of (a metatable, a master, GRE keys, a
 * directional zone, a DCCP role, a value of another type, a value out of
 * range, a NUL byte) makes it give up, and to_entry reads that entry and
 * says what is wrong.
 */
enum {
    K_FAMILY, K_PROTO, K_SRC, K_DST, K_SPORT, K_DPORT, K_STATE, K_TIMEOUT, K_MARK, K_ZONE,
    K_STATUS, K_REPLY, K_ICMP, K_MASTER, K_VTAG, K_TYPE, K_CODE, K_ID, K_ORIG,
    K_GRE, K_ORIG_ZONE, K_REPLY_ZONE, K_ROLE, K_COUNT
};
static const char *const key_names[K_COUNT] = {
    "family", "proto", "src", "dst", "sport", "dport", "state", "timeout", "mark", "zone",
    "status", "reply", "icmp", "master", "vtag", "type", "code", "id", "orig",
    "gre", "orig_zone", "reply_zone", "role",
};
#define KEYS_REG "netops.ctnetlink.keys"

/* The interned names (anchored by the userdata's user value). */
typedef struct {
    const char *k[K_COUNT];
    const char *status[32];
    const char *family[2];          /* "ipv4", "ipv6" */
    const char *proto[256];         /* by number: the names netops knows */
    const char *tcp[16], *sctp[16]; /* state names by number */
} Keys;

/* s interned in the anchors table at -1 (its next free index *n). */
static const char *intern(lua_State *L, const char *s, lua_Integer *n)
{
    const char *p = lua_pushstring(L, s);
    lua_rawseti(L, -2, ++*n);
    return p;
}

static void keys_new(lua_State *L)
{
    size_t nn;
    const char *const *names = netops_ct_status_names(&nn);
    lua_Integer n = 0;
    Keys *ks = lua_newuserdatauv(L, sizeof *ks, 1);
    memset(ks, 0, sizeof *ks);
    lua_newtable(L);
    for (int i = 0; i < K_COUNT; i++)
        ks->k[i] = intern(L, key_names[i], &n);
    for (size_t i = 0; i < nn && i < 32; i++)
        if (names[i])
            ks->status[i] = intern(L, names[i], &n);
    ks->family[0] = intern(L, "ipv4", &n);
    ks->family[1] = intern(L, "ipv6", &n);
    for (int p = 0; p < 256; p++) {
        const char *pn = netops_ct_proto_name((uint8_t)p);
        const char *t = netops_ct_state_name(IPPROTO_TCP, (uint8_t)p);
        const char *c = netops_ct_state_name(IPPROTO_SCTP, (uint8_t)p);
        ks->proto[p] = pn ? intern(L, pn, &n) : NULL;
        if (p < 16) {
            ks->tcp[p] = t ? intern(L, t, &n) : NULL;
            ks->sctp[p] = c ? intern(L, c, &n) : NULL;
        }
    }
    lua_setiuservalue(L, -2, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, KEYS_REG);
}

static const Keys *keys_get(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, KEYS_REG);
    const Keys *ks = lua_touserdata(L, -1);
    lua_pop(L, 1);      /* still anchored by the registry */
    return ks;
}

/* One field's value as read (valid where its bit in the table's seen is set). */
struct fval {
    int ty, isint;
    const char *s;      /* LUA_TSTRING: alive as long as the table holding it */
    size_t n;
    lua_Integer i;
};

/* The fields of one entry table, and of its reply, icmp and vtag tables. */
struct fast {
    struct fval f[K_COUNT], reply[K_COUNT], icmp[K_COUNT], vtag[K_COUNT];
    unsigned seen, rseen, iseen, vseen;
    uint32_t status;
};

static int key_of(const Keys *ks, lua_State *L)
{
    if (lua_type(L, -2) != LUA_TSTRING)
        return -1;
    const char *p = lua_tostring(L, -2);
    for (int k = 0; k < K_COUNT; k++)
        if (ks->k[k] == p)
            return k;
    return -1;
}

/* status = { NAME = true }: bits of the known names whose value is true. */
static int walk_status(lua_State *L, int t, const Keys *ks, uint32_t *bits)
{
    if (lua_getmetatable(L, t)) {
        lua_pop(L, 1);
        return 0;
    }
    for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) {
        const char *p = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        for (int b = 0; p && b < 32; b++)
            if (ks->status[b] == p) {
                if (lua_toboolean(L, -1))
                    *bits |= 1u << b;
                break;
            }
    }
    return 1;
}

/* The known fields of the table at t into v[] and *seen; at the entry level
 * (x non-NULL) its reply, icmp, vtag and status tables too.  0: give up. */
static int walk(lua_State *L, int t, const Keys *ks, struct fval *v, unsigned *seen,
                struct fast *x)
{
    if (lua_getmetatable(L, t)) {
        lua_pop(L, 1);
        return 0;
    }
    for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) {
        int k = key_of(ks, L), ok = 1;
        if (k < 0)
            continue;
        struct fval *f = &v[k];
        *seen |= 1u << k;
        f->ty = lua_type(L, -1);
        if (f->ty == LUA_TSTRING)
            f->s = lua_tolstring(L, -1, &f->n);
        else if (f->ty == LUA_TNUMBER)
            f->i = lua_tointegerx(L, -1, &f->isint);
        else if (f->ty == LUA_TTABLE && x && k == K_REPLY)
            ok = walk(L, lua_gettop(L), ks, x->reply, &x->rseen, NULL);
        else if (f->ty == LUA_TTABLE && x && k == K_ICMP)
            ok = walk(L, lua_gettop(L), ks, x->icmp, &x->iseen, NULL);
        else if (f->ty == LUA_TTABLE && x && k == K_VTAG)
            ok = walk(L, lua_gettop(L), ks, x->vtag, &x->vseen, NULL);
        else if (f->ty == LUA_TTABLE && x && k == K_STATUS)
            ok = walk_status(L, lua_gettop(L), ks, &x->status);
        if (!ok) {
            lua_pop(L, 2);
            return 0;
        }
    }
    return 1;
}

/* The number whose interned name (names[0..n)) is s: 1 and *out, or 0. */
static int known(const char *const *names, int n, const char *s, uint8_t *out)
{
    for (int i = 0; i < n; i++)
        if (names[i] == s) {
            *out = (uint8_t)i;
            return 1;
        }
    return 0;
}

/* v is an integer in lo..hi (into *out)? */
static int fv_int(const struct fval *v, lua_Integer lo, lua_Integer hi, lua_Integer *out)
{
    if (v->ty != LUA_TNUMBER || !v->isint || v->i < lo || v->i > hi)
        return 0;
    *out = v->i;
    return 1;
}

/* v is a string to_entry would take (no NUL byte, under 256 bytes)? */
static int fv_str(const struct fval *v)
{
    return v->ty == LUA_TSTRING && v->n < 256 && strlen(v->s) == v->n;
}

/* Parsed addresses by string: a table holds few distinct addresses. */
#define MEMO_SLOTS 1024
struct memo_slot {
    const char *p;
    size_t n;
    int family;
    unsigned char a[16];
    char s[48];
};
typedef struct memo_slot AddrMemo;

/* The address string v into out: its family, or 0 when it is not one.
 * memo (MEMO_SLOTS, or NULL) remembers strings by address and content:
 * a slot whose string was collected and its memory reused for another
 * string does not match that other. */
static int fv_addr(AddrMemo *memo, const struct fval *v, unsigned char out[16])
{
    if (!fv_str(v))
        return 0;
    uint32_t h = (uint32_t)((uintptr_t)v->s >> 3) * 2654435761u;
    struct memo_slot *m = memo ? &memo[h >> 22] : NULL;   /* 10 bits: MEMO_SLOTS */
    if (m && m->p == v->s && m->n == v->n && memcmp(m->s, v->s, v->n) == 0) {
        memcpy(out, m->a, 16);
        return m->family;
    }
    unsigned char a[16] = { 0 };
    int fam = 0;
    int family = netops_addr_parse(v->s, v->n, a, &fam) != 0 ? 0
                 : fam == 4 ? AF_INET : AF_INET6;
    if (m && family && v->n < sizeof m->s) {
        m->p = v->s;
        m->n = v->n;
        m->family = family;
        memcpy(m->a, a, 16);
        memcpy(m->s, v->s, v->n);
    }
    memcpy(out, a, 16);
    return family;
}

/* family, proto, the original tuple and icmp, as read_tuple and read_icmp. */
static int fast_tuple(const struct fast *x, const Keys *ks, AddrMemo *memo,
                      struct netops_ct_entry *e)
{
    const struct fval *f = x->f;
    lua_Integer v, w;
    uint8_t p;
    int fam = 0;
    if (x->seen & (1u << K_FAMILY)) {
        if (!fv_str(&f[K_FAMILY]))
            return 0;
        fam = f[K_FAMILY].s == ks->family[0] ? AF_INET
            : f[K_FAMILY].s == ks->family[1] ? AF_INET6 : -1;
    }
    if (!(x->seen & (1u << K_PROTO)))
        return 0;
    if (fv_int(&f[K_PROTO], 0, 255, &v))
        p = (uint8_t)v;
    else if (!fv_str(&f[K_PROTO]) || !known(ks->proto, 256, f[K_PROTO].s, &p))
        return 0;
    e->proto = p;
    if (!(x->seen & (1u << K_SRC)) || !(x->seen & (1u << K_DST)))
        return 0;
    int fs = fv_addr(memo, &f[K_SRC], e->orig.src), fd = fv_addr(memo, &f[K_DST], e->orig.dst);
    if (!fs || fs != fd || (fam && fam != fs))
        return 0;
    e->family = (uint8_t)fs;
    if ((p == IPPROTO_ICMP && fs != AF_INET) || (p == IPPROTO_ICMPV6 && fs != AF_INET6))
        return 0;
    if (p == IPPROTO_ICMP || p == IPPROTO_ICMPV6) {
        const struct fval *ic = x->icmp;
        if (f[K_ICMP].ty != LUA_TTABLE || !(x->seen & (1u << K_ICMP)) ||
            !(x->iseen & (1u << K_TYPE)) || !fv_int(&ic[K_TYPE], 0, 255, &v))
            return 0;
        e->icmp_type = (uint8_t)v;
        if ((x->iseen & (1u << K_CODE)) && !fv_int(&ic[K_CODE], 0, 255, &v))
            return 0;
        e->icmp_code = (x->iseen & (1u << K_CODE)) ? (uint8_t)v : 0;
        if ((x->iseen & (1u << K_ID)) && !fv_int(&ic[K_ID], 0, 65535, &v))
            return 0;
        e->icmp_id = (x->iseen & (1u << K_ID)) ? (uint16_t)v : 0;
        e->has |= NETOPS_CT_HAS_ICMP;
    }
    if (!netops_ct_has_ports(p))
        return 1;
    if (!(x->seen & (1u << K_SPORT)) || !(x->seen & (1u << K_DPORT)) ||
        !fv_int(&f[K_SPORT], 0, 65535, &v) || !fv_int(&f[K_DPORT], 0, 65535, &w))
        return 0;
    e->orig.sport = (uint16_t)v;
    e->orig.dport = (uint16_t)w;
    e->has |= NETOPS_CT_HAS_PORTS;
    return 1;
}

/* An optional integer field k of v (seen) in lo..hi: 1 and *out, or 0 when absent, -1 bad. */
static int fv_opt(const struct fval *v, unsigned seen, int k, lua_Integer lo, lua_Integer hi,
                  lua_Integer *out)
{
    if (!(seen & (1u << k)))
        return 0;
    return fv_int(&v[k], lo, hi, out) ? 1 : -1;
}

/* reply, as read_reply: missing parts are the inverse's. */
static int fast_reply(const struct fast *x, AddrMemo *memo, struct netops_ct_entry *e)
{
    const struct fval *r = x->reply;
    lua_Integer v;
    int got;
    if (!(x->seen & (1u << K_REPLY)))
        return 1;
    if (x->f[K_REPLY].ty != LUA_TTABLE)
        return 0;
    memcpy(e->reply.src, e->orig.dst, 16);
    memcpy(e->reply.dst, e->orig.src, 16);
    e->reply.sport = e->orig.dport;
    e->reply.dport = e->orig.sport;
    if ((x->rseen & (1u << K_SRC)) && fv_addr(memo, &r[K_SRC], e->reply.src) != e->family)
        return 0;
    if ((x->rseen & (1u << K_DST)) && fv_addr(memo, &r[K_DST], e->reply.dst) != e->family)
        return 0;
    if (netops_ct_has_ports(e->proto)) {
        if ((got = fv_opt(r, x->rseen, K_SPORT, 0, 65535, &v)) < 0)
            return 0;
        if (got)
            e->reply.sport = (uint16_t)v;
        if ((got = fv_opt(r, x->rseen, K_DPORT, 0, 65535, &v)) < 0)
            return 0;
        if (got)
            e->reply.dport = (uint16_t)v;
    }
    e->has |= NETOPS_CT_HAS_REPLY;
    return 1;
}

/* state, timeout, mark, zone, status, vtag, as read_state, read_scalars and read_vtag. */
static int fast_rest(const struct fast *x, const Keys *ks, struct netops_ct_entry *e)
{
    const struct fval *f = x->f;
    lua_Integer v;
    uint8_t st;
    int got;
    if (x->seen & (1u << K_STATE)) {
        if (e->proto != IPPROTO_TCP && e->proto != IPPROTO_SCTP)
            return 0;
        if (fv_int(&f[K_STATE], 0, 15, &v))
            st = (uint8_t)v;
        else if (!fv_str(&f[K_STATE]) ||
                 !known(e->proto == IPPROTO_TCP ? ks->tcp : ks->sctp, 16, f[K_STATE].s, &st))
            return 0;   /* to_entry also knows SYN_SENT2 */
        e->state = st;
        e->has |= NETOPS_CT_HAS_STATE;
    }
    if ((got = fv_opt(f, x->seen, K_TIMEOUT, 0, 0xffffffffLL, &v)) < 0)
        return 0;
    if (got) { e->timeout = (uint32_t)v; e->has |= NETOPS_CT_HAS_TIMEOUT; }
    if ((got = fv_opt(f, x->seen, K_MARK, 0, 0xffffffffLL, &v)) < 0)
        return 0;
    if (got) { e->mark = (uint32_t)v; e->has |= NETOPS_CT_HAS_MARK; }
    if ((got = fv_opt(f, x->seen, K_ZONE, 0, 65535, &v)) < 0)
        return 0;
    if (got) { e->zone = (uint16_t)v; e->has |= NETOPS_CT_HAS_ZONE; }
    if ((x->seen & (1u << K_STATUS)) && f[K_STATUS].ty == LUA_TTABLE) {
        e->status = x->status;
        e->has |= NETOPS_CT_HAS_STATUS;
    }
    if (e->proto == IPPROTO_SCTP && (x->seen & (1u << K_VTAG)) && f[K_VTAG].ty == LUA_TTABLE) {
        if ((got = fv_opt(x->vtag, x->vseen, K_ORIG, 0, 0xffffffffLL, &v)) < 0)
            return 0;
        e->vtag_orig = got ? (uint32_t)v : 0;
        if ((got = fv_opt(x->vtag, x->vseen, K_REPLY, 0, 0xffffffffLL, &v)) < 0)
            return 0;
        e->vtag_reply = got ? (uint32_t)v : 0;
        e->has |= NETOPS_CT_HAS_VTAG;
    }
    return 1;
}

/* The entry table at idx into *e: 1, or 0 when to_entry must read it. */
static int fast_entry(lua_State *L, int idx, const Keys *ks, AddrMemo *memo,
                      struct netops_ct_entry *e)
{
    struct fast x;
    x.seen = x.rseen = x.iseen = x.vseen = 0;
    x.status = 0;
    if (!lua_istable(L, idx) || !walk(L, lua_absindex(L, idx), ks, x.f, &x.seen, &x))
        return 0;
    /* related entries, GRE keys, directional zones and DCCP roles are rare:
     * to_entry reads them */
    if (x.seen & (1u << K_MASTER | 1u << K_GRE | 1u << K_ORIG_ZONE | 1u << K_REPLY_ZONE |
                  1u << K_ROLE))
        return 0;
    memset(e, 0, sizeof *e);
    return fast_tuple(&x, ks, memo, e) && fast_reply(&x, memo, e) && fast_rest(&x, ks, e);
}

/* ---------------------------------------------------------- reading filters */

/* The fields a filter may have: any other key is a typo that would widen the
 * filter (ct:flush{protocol = "tcp"} must not flush every entry). */
static const char *const filter_fields[] = {
    "family", "proto", "mark", "mark_mask", "zone", "sport", "dport", "src", "dst", "status",
};

/* filter.status: known bit names only (a typo would match more). */
static int read_filter_status(luax_Fields *r, void *ud)
{
    size_t nn;
    const char *const *names = netops_ct_status_names(&nn);
    if (luax_checkfieldnames(r, names, nn) < 0)
        return -1;
    return read_status_bits(r, ud);
}

/* An integer filter field: sets bit in f->has; 1 found, 0 absent, -1 bad. */
static int filter_int(luax_Fields *r, const char *k, lua_Integer hi, struct netops_ct_filter *f,
                      unsigned bit, lua_Integer *v)
{
    int got = luax_intfield(r, k, 0, hi, v);
    if (got > 0)
        f->has |= bit;
    return got;
}

static int read_filter_numbers(luax_Fields *r, struct netops_ct_filter *f)
{
    lua_Integer v;
    int got;
    if ((got = filter_int(r, "mark", 0xffffffffLL, f, NETOPS_CTF_MARK, &v)) < 0)
        return -1;
    if (got) { f->mark = (uint32_t)v; f->mark_mask = 0xffffffffu; }
    if ((got = luax_intfield(r, "mark_mask", 0, 0xffffffffLL, &v)) < 0)
        return -1;
    if (got && !(f->has & NETOPS_CTF_MARK))
        return luax_fielderror(r, "%smark_mask without %smark", r->path, r->path);
    if (got)
        f->mark_mask = (uint32_t)v;
    if ((got = filter_int(r, "zone", 65535, f, NETOPS_CTF_ZONE, &v)) < 0)
        return -1;
    if (got)
        f->zone = (uint16_t)v;
    if ((got = filter_int(r, "sport", 65535, f, NETOPS_CTF_SPORT, &v)) < 0)
        return -1;
    if (got)
        f->sport = (uint16_t)v;
    if ((got = filter_int(r, "dport", 65535, f, NETOPS_CTF_DPORT, &v)) < 0)
        return -1;
    if (got)
        f->dport = (uint16_t)v;
    return 0;
}

/* A filter table (ud: struct netops_ct_filter). */
static int read_filter(luax_Fields *r, void *ud)
{
    struct netops_ct_filter *f = ud;
    int i = 0, p = 0, got = 0;
    memset(f, 0, sizeof *f);
    if (luax_checkfieldnames(r, filter_fields, COUNT(filter_fields)) < 0 ||
        (got = luax_optionfield(r, "family", families, &i)) < 0)
        return -1;
    if (got) { f->family = (uint8_t)family_af[i]; f->has |= NETOPS_CTF_FAMILY; }
    if ((got = proto_field(r, "proto", &p)) < 0)
        return -1;
    if (got) { f->proto = (uint8_t)p; f->has |= NETOPS_CTF_PROTO; }
    if (read_filter_numbers(r, f) < 0 || (got = addr_field(r, "src", f->src)) < 0)
        return -1;
    if (got) { f->src_family = (uint8_t)got; f->has |= NETOPS_CTF_SRC; }
    if ((got = addr_field(r, "dst", f->dst)) < 0)
        return -1;
    if (got) { f->dst_family = (uint8_t)got; f->has |= NETOPS_CTF_DST; }
    if ((got = luax_tablefield(r, "status", read_filter_status, &f->status)) < 0)
        return -1;
    if (got)
        f->has |= NETOPS_CTF_STATUS;
    return 0;
}

/* Filter table at arg (nil: none).  Misuse raises. */
static const struct netops_ct_filter *to_filter(lua_State *L, int arg, struct netops_ct_filter *f)
{
    luax_Fields r;
    memset(f, 0, sizeof *f);
    if (lua_isnoneornil(L, arg))
        return NULL;
    luaL_checktype(L, arg, LUA_TTABLE);
    luax_fields(&r, L, arg, arg, "filter.", NULL, 0);
    read_filter(&r, f);
    return f;
}

/* ------------------------------------------------------------------ handle */

static const char *const open_fields[] = { "netns" };
static const char *const commit_fields[] = { "timeout", "threads", "create_only", "replace" };
static const char *const events_fields[] = { "timeout", "filter" };

/* opts.netns of ct.open (arg 1) into netns ("" when none).  Misuse raises. */
static void read_open_opts(lua_State *L, char netns[256])
{
    luax_Fields r;
    netns[0] = '\0';
    if (lua_isnoneornil(L, 1))
        return;
    luaL_checktype(L, 1, LUA_TTABLE);
    luax_fields(&r, L, 1, 1, "opts.", NULL, 0);
    luax_checkfieldnames(&r, open_fields, COUNT(open_fields));
    if (luax_strfield(&r, "netns", netns, 256, NULL) > 0 &&
        (!*netns || strchr(netns, '/') || strcmp(netns, ".") == 0 || strcmp(netns, "..") == 0))
        luaL_argerror(L, 1, "opts.netns must be a name under /run/netns (no '/')");
}

static int ct_open(lua_State *L)
{
    char netns[sizeof(((LCt *)0)->netns)];
    read_open_opts(L, netns);
    LCt *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->ct = NULL;
    h->memo = NULL;
    strcpy(h->netns, netns);
    luaL_setmetatable(L, CT_TYPE);
    const char *where;
    int err = netops_ct_open(&h->ct, *netns ? netns : NULL, &where);
    if (err) {
        if (strcmp(where, "namespace") == 0) {
            if (err == ENOENT)
                return luax_fail(L, err, "conntrack: network namespace '%s': no such namespace "
                                 "(/run/netns/%s does not exist)", netns, netns);
            if (err == EPERM)
                return luax_fail(L, err, "conntrack: network namespace '%s': permission denied "
                                 "(entering it needs CAP_SYS_ADMIN: run as root)", netns);
            return luax_fail(L, err, "conntrack: network namespace '%s': %s", netns, strerror(err));
        }
        return fail(L, h->netns, "ctnetlink socket", err);
    }
    return 1;
}

/***
 * Close the netlink socket.  Idempotent; also `__gc` and `__close`
 * (`local ct <close> = ...`); any other method raises once closed.
 * @function Conntrack:close
 */
static int ct_close(lua_State *L)
{
    LCt *h = luaL_checkudata(L, 1, CT_TYPE);
    if (h->ct) {
        netops_ct_close(h->ct);
        h->ct = NULL;
    }
    free(h->memo);
    h->memo = NULL;
    return 0;
}

static int ct_tostring(lua_State *L)
{
    LCt *h = luaL_checkudata(L, 1, CT_TYPE);
    lua_pushfstring(L, CT_TYPE " (%s%s%s)", h->ct ? "open" : "closed",
                    h->netns[0] ? ", netns " : "", h->netns);
    return 1;
}

/***
 * The network namespace the handle was opened in.
 * @function Conntrack:netns
 * @treturn string|nil its name under /run/netns, or nil for the caller's namespace
 */
static int ct_netns(lua_State *L)
{
    LCt *h = check_ct(L);
    if (h->netns[0])
        lua_pushstring(L, h->netns);
    else
        lua_pushnil(L);
    return 1;
}

/***
 * Count the entries of the handle's namespace.
 * @function Conntrack:count
 * @treturn[1] int the number of entries
 * @treturn[1] int nf_conntrack_max
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
static int ct_count(lua_State *L)
{
    LCt *h = check_ct(L);
    uint32_t n, max;
    int err = netops_ct_count(h->ct, &n, &max);
    if (err)
        return fail(L, h->netns, "count", err);
    lua_pushinteger(L, n);
    lua_pushinteger(L, max);
    return 2;
}

/* ct:commit's opts (arg 3).  Misuse raises. */
static void read_commit_opts(lua_State *L, struct netops_ct_commit_opts *o)
{
    luax_Fields r;
    lua_Integer v;
    memset(o, 0, sizeof *o);
    if (lua_isnoneornil(L, 3))
        return;
    luaL_checktype(L, 3, LUA_TTABLE);
    luax_fields(&r, L, 3, 3, "opts.", NULL, 0);
    luax_checkfieldnames(&r, commit_fields, COUNT(commit_fields));
    if (luax_intfield(&r, "timeout", 1, 0xffffffffLL, &v) > 0)
        o->timeout = (uint32_t)v;
    if (luax_intfield(&r, "threads", 1, 8, &v) > 0)
        o->threads = (unsigned)v;
    luax_flagfield(&r, "create_only", &o->create_only);
    luax_flagfield(&r, "replace", &o->replace);
    if (o->replace && o->create_only)
        luaL_argerror(L, 3, "opts.replace and opts.create_only exclude each other");
}

/* Scratch memory of a commit (luax_newmem: freed when ct:commit returns or
 * raises, and kept out of the collector's count: 166 bytes an entry). */
struct commit_scratch {
    struct netops_ct_entry *e;
    struct netops_ct_result *res;
    unsigned char *skip;        /* a bad entry, never sent */
    unsigned char *later;       /* skip, or a related entry: sent after the others */
};

static void new_scratch(lua_State *L, lua_Integer n, struct commit_scratch *s)
{
    size_t cnt = n > 0 ? (size_t)n : 0, ne = cnt ? cnt : 1;
    size_t each = sizeof *s->e + sizeof *s->res + 2;
    if (cnt > ((size_t)-1 / 2) / each)
        luaL_error(L, "conntrack commit: too many entries (%I)", n);
    s->e = luax_newmem(L, ne * each);         /* zeroed: results NETOPS_CT_SKIPPED */
    s->res = (struct netops_ct_result *)(void *)(s->e + ne);
    s->skip = (unsigned char *)(s->res + ne);
    s->later = s->skip + ne;
}

/* Read entries lo..hi-1 of arg 2; a bad one is skipped, its message in the
 * table at bad (by index).  Returns how many have a master (related). */
static size_t read_entries(lua_State *L, LCt *h, size_t lo, size_t hi,
                           const struct netops_ct_commit_opts *opts, struct commit_scratch *s,
                           int bad)
{
    char err[256];
    size_t related = 0;
    const Keys *ks = keys_get(L);
    if (!h->memo)
        h->memo = calloc(MEMO_SLOTS, sizeof *h->memo);   /* NULL: parse every time */
    for (size_t i = lo; i < hi; i++) {
        lua_geti(L, 2, (lua_Integer)i + 1);
        const char *m = NULL;
        if (!fast_entry(L, -1, ks, h->memo, &s->e[i]))
            m = to_entry(L, -1, &s->e[i], err, sizeof err);
        if (!m && !opts->timeout && !(s->e[i].has & NETOPS_CT_HAS_TIMEOUT))
            m = "missing timeout (give entry.timeout or opts.timeout)";
        lua_pop(L, 1);
        if (m) {
            s->skip[i] = s->later[i] = 1;
            lua_pushstring(L, m);
            lua_seti(L, bad, (lua_Integer)i + 1);
        } else if (s->e[i].has & NETOPS_CT_HAS_MASTER) {
            s->later[i] = 1;
            related++;
        }
    }
    return related;
}

/* Entries read while the part before is committed; the first part is
 * small, as nothing is committed while it is read. */
#define COMMIT_PART 8192
#define COMMIT_FIRST 1024

/* read_entries under lua_pcall: a Lua error must not leave a commit thread
 * running on memory the collector may free.  Arguments: this, the entries,
 * the table of bad ones. */
struct read_part {
    LCt *h;
    size_t lo, hi, related;
    const struct netops_ct_commit_opts *opts;
    struct commit_scratch *s;
};

static int read_part(lua_State *L)
{
    struct read_part *r = lua_touserdata(L, 1);
    r->related += read_entries(L, r->h, r->lo, r->hi, r->opts, r->s, 3);
    return 0;
}

/*
 * Read and commit the cnt entries of arg 2: each part of COMMIT_PART is
 * committed on a thread of its own while the next is read from Lua, so the
 * kernel's share and the reading overlap; the related entries (with a
 * master) go last, once every master is in.  0 or a socket errno; a Lua
 * error while reading is raised once the thread is done.
 */
static int commit_entries(lua_State *L, LCt *h, size_t cnt, const struct netops_ct_commit_opts *opts,
                          struct commit_scratch *s, int bad, int *stopped)
{
    struct netops_ct_pending p;
    struct read_part r = { h, 0, 0, 0, opts, s };
    int busy = 0, err = 0, lerr = LUA_OK;
    *stopped = 0;
    for (r.lo = 0; r.lo < cnt && !err && lerr == LUA_OK; r.lo = r.hi) {
        size_t part = r.lo == 0 ? COMMIT_FIRST : COMMIT_PART;
        r.hi = cnt - r.lo < part ? cnt : r.lo + part;
        lua_pushcfunction(L, read_part);
        lua_pushlightuserdata(L, &r);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, bad);
        lerr = lua_pcall(L, 3, 0, 0);
        if (busy)
            err = netops_ct_commit_wait(&p, stopped);
        if (!err && lerr == LUA_OK)
            netops_ct_commit_start(&p, h->ct, s->e + r.lo, r.hi - r.lo, s->later + r.lo, opts,
                                   s->res + r.lo, *stopped);
        busy = !err && lerr == LUA_OK;
    }
    if (busy)
        err = netops_ct_commit_wait(&p, stopped);
    if (lerr != LUA_OK)
        lua_error(L);
    if (err || !r.related || *stopped)
        return err;
    for (size_t i = 0; i < cnt; i++)
        s->later[i] = s->skip[i] || !(s->e[i].has & NETOPS_CT_HAS_MASTER);
    return netops_ct_commit(h->ct, s->e, cnt, s->later, opts, s->res, stopped);
}

/* The message and errno of entry i that was not committed. */
static int failure_of(lua_State *L, const struct commit_scratch *s, size_t i, int bad, int stopped,
                      const char **msg)
{
    if (s->skip[i]) {
        lua_geti(L, bad, (lua_Integer)i + 1);
        *msg = lua_tostring(L, -1);
        lua_pop(L, 1);      /* still held by the table bad */
        return EINVAL;
    }
    if (s->res[i].outcome == NETOPS_CT_FAILED) {
        int eno = s->res[i].err;
        if (eno == ENOENT && (s->e[i].has & NETOPS_CT_HAS_MASTER))
            *msg = "its master entry is not in the table (commit the master too)";
        else
            *msg = netops_ct_strerror(eno);
        return eno;
    }
    *msg = "not tried: the table was full (nf_conntrack_max)";
    return stopped ? stopped : EAGAIN;
}

/* { created =, updated =, failed =, errors = { { index =, entry =, message =, errno = } } } */
static void push_commit_result(lua_State *L, size_t cnt, const struct commit_scratch *s, int bad,
                               int stopped)
{
    lua_Integer created = 0, updated = 0, failed = 0;
    lua_createtable(L, 0, 4);
    lua_newtable(L);
    for (size_t i = 0; i < cnt; i++) {
        const char *msg;
        int outcome = s->skip[i] ? NETOPS_CT_SKIPPED : s->res[i].outcome;
        if (outcome == NETOPS_CT_CREATED) { created++; continue; }
        if (outcome == NETOPS_CT_UPDATED) { updated++; continue; }
        int eno = failure_of(L, s, i, bad, stopped, &msg);
        lua_createtable(L, 0, 4);
        set_int(L, "index", (lua_Integer)i + 1);
        lua_geti(L, 2, (lua_Integer)i + 1);
        lua_setfield(L, -2, "entry");
        set_str(L, "message", msg);
        set_int(L, "errno", eno);
        lua_seti(L, -2, ++failed);
    }
    lua_setfield(L, -2, "errors");
    set_int(L, "created", created);
    set_int(L, "updated", updated);
    set_int(L, "failed", failed);
}

/***
 * Create or update entries, many requests per send(); each failure maps back
 * to its entry, bad entries (errno EINVAL) fail alone and the rest are
 * committed.  NAT is read from the reply tuple; masters go before related
 * entries; TCP gets be-liberal window tracking.  Entries go to the kernel in
 * parts of 8192 from a thread of their own while the next part is read, so
 * an error raised while reading one (misuse, a metamethod) comes after the
 * parts before it were committed.
 * @function Conntrack:commit
 * @tparam {table,...} entries entries (see netops.conntrack)
 * @tparam[opt] table opts `timeout` (seconds, overrides each entry's),
 *   `create_only` (existing entries fail with EEXIST), `replace` (delete and
 *   create anew), `threads` (1..8).  Unknown keys raise.
 * @treturn[1] table `{ created =, updated =, failed =, errors = { { index =,
 *   entry =, message =, errno = } ... } }`
 * @return[2] nil
 * @treturn[2] string message (`... nf_conntrack_max (N) reached ...` when the table filled up)
 * @treturn[2] int errno (ENOMEM when the table filled up)
 * @treturn[2] table the result so far, when the table filled up
 */
/* ct:commit(entries [, opts]) -> result, or nil, message, ENOMEM, result
 * when the table filled up. */
static int ct_commit(lua_State *L)
{
    LCt *h = check_ct(L);
    struct netops_ct_commit_opts opts;
    struct commit_scratch s;
    luaL_checktype(L, 2, LUA_TTABLE);
    read_commit_opts(L, &opts);
    lua_Integer n = luaL_len(L, 2);
    size_t cnt = n > 0 ? (size_t)n : 0;
    new_scratch(L, n, &s);
    lua_newtable(L);                       /* bad: index -> message */
    int bad = lua_gettop(L);
    int stopped;
    int err = commit_entries(L, h, cnt, &opts, &s, bad, &stopped);
    if (err)
        return fail(L, h->netns, "commit", err);
    push_commit_result(L, cnt, &s, bad, stopped);
    if (stopped != ENOMEM)
        return 1;
    uint32_t max = 0, now = 0;
    lua_getfield(L, -1, "created");
    lua_getfield(L, -2, "updated");
    lua_Integer created = lua_tointeger(L, -2), updated = lua_tointeger(L, -1);
    lua_pop(L, 2);
    (void)netops_ct_count(h->ct, &now, &max);
    luax_fail(L, ENOMEM, "conntrack%s%s: commit: table full: nf_conntrack_max (%d, global to all "
              "namespaces) reached after %d entries were committed (%d created, %d updated); "
              "raise net.netfilter.nf_conntrack_max",
              h->netns[0] ? " in netns " : "", h->netns, (int)max,
              (int)(created + updated), (int)created, (int)updated);
    lua_rotate(L, -4, -1);                 /* the result after the failure */
    return 4;
}

/***
 * Delete the entry with this original tuple and zone.
 * @function Conntrack:delete
 * @tparam table entry
 * @treturn[1] boolean true
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno (ENOENT: no such entry)
 */
static int ct_delete(lua_State *L)
{
    LCt *h = check_ct(L);
    struct netops_ct_entry e;
    char why[256];
    if (to_entry(L, 2, &e, why, sizeof why))
        return luaL_argerror(L, 2, why);
    int err = netops_ct_delete(h->ct, &e);
    if (err)
        return fail(L, h->netns, "delete", err);
    lua_pushboolean(L, 1);
    return 1;
}

/***
 * Read the kernel's entry with this original tuple and zone.
 * @function Conntrack:get
 * @tparam table entry
 * @treturn[1] table the entry as the kernel has it
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno (ENOENT: no such entry)
 */
static int ct_get(lua_State *L)
{
    LCt *h = check_ct(L);
    struct netops_ct_entry key, e;
    char why[256];
    if (to_entry(L, 2, &key, why, sizeof why))
        return luaL_argerror(L, 2, why);
    int err = netops_ct_get(h->ct, &key, &e);
    if (err)
        return fail(L, h->netns, "get", err);
    push_entry(L, &e, NULL);
    return 1;
}

/***
 * Delete the entries a filter matches (without one: the whole table).
 * @function Conntrack:flush
 * @tparam[opt] table filter fields as for dump; an unknown field raises
 * @treturn[1] int the number deleted (without a filter: the count before)
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
static int ct_flush(lua_State *L)
{
    LCt *h = check_ct(L);
    struct netops_ct_filter f;
    const struct netops_ct_filter *fp = to_filter(L, 2, &f);
    size_t n = 0;
    int err = netops_ct_flush(h->ct, fp, &n);
    if (err)
        return fail(L, h->netns, "flush", err);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

/***
 * Set the timeout of every entry a filter matches: one batched update per
 * entry (FIXED_TIMEOUT entries fail with EPERM).
 * @function Conntrack:set_timeout
 * @tparam table filter fields as for dump
 * @tparam number seconds the new timeout
 * @treturn[1] int changed
 * @treturn[1] int failed
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
static int ct_set_timeout(lua_State *L)
{
    LCt *h = check_ct(L);
    struct netops_ct_filter f;
    const struct netops_ct_filter *fp = to_filter(L, 2, &f);
    uint32_t secs = (uint32_t)luax_checkrange(L, 3, 0, 0xffffffffLL);
    size_t ok = 0, bad = 0;
    int err = netops_ct_set_timeout(h->ct, fp, secs, &ok, &bad);
    if (err)
        return fail(L, h->netns, "set_timeout", err);
    lua_pushinteger(L, (lua_Integer)ok);
    lua_pushinteger(L, (lua_Integer)bad);
    return 2;
}

/* ------------------------------------------------------------------ cursors */

static int cursor_close(lua_State *L)
{
    LCursor *c = luaL_checkudata(L, 1, CURSOR_TYPE);
    if (c->c) {
        netops_ct_cursor_close(c->c);
        c->c = NULL;
    }
    return 0;
}

static const char *kind_name(int k)
{
    return k == NETOPS_CT_EV_NEW ? "new" : k == NETOPS_CT_EV_UPDATE ? "update" : "destroy";
}

/* The iterator: upvalue 1 is the cursor. */
static int cursor_iter(lua_State *L)
{
    LCursor *c = luaL_checkudata(L, lua_upvalueindex(1), CURSOR_TYPE);
    if (!c->c)
        return 0;
    struct netops_ct_entry e;
    int kind = 0, got = 0;
    int err = netops_ct_next(c->c, c->timeout_ms, &kind, &e, &got);
    if (err == ENOBUFS && c->events) {
        lua_createtable(L, 0, 1);
        set_str(L, "kind", "lost");
        return 1;
    }
    if (err || !got) {
        netops_ct_cursor_close(c->c);
        c->c = NULL;
        if (err)
            return luaL_error(L, "conntrack%s%s: %s: %s", c->netns[0] ? " in netns " : "",
                              c->netns, c->events ? "events" : "dump", netops_ct_strerror(err));
        return 0;
    }
    if (c->events) {
        lua_createtable(L, 0, 2);
        set_str(L, "kind", kind_name(kind));
        push_entry(L, &e, &c->cache);
        lua_setfield(L, -2, "entry");
    } else {
        push_entry(L, &e, &c->cache);
    }
    return 1;
}

static LCursor *new_cursor(lua_State *L, LCt *h)
{
    LCursor *c = lua_newuserdatauv(L, sizeof *c, 0);
    c->c = NULL;
    c->events = 0;
    c->timeout_ms = -1;
    strcpy(c->netns, h->netns);
    memset(c->cache, 0, sizeof c->cache);
    luaL_setmetatable(L, CURSOR_TYPE);
    return c;
}

/***
 * Stream the entries a filter matches (a few receive buffers, filled by a
 * thread of the dump's own while the loop runs: memory does not grow with
 * the table).  A socket error during the loop raises; the loop's
 * to-be-closed value closes the dump socket and its thread on `break`.
 * @function Conntrack:dump
 * @tparam[opt] table filter `family`, `proto`, `mark` (+ `mark_mask`), `zone`,
 *   `status` (bits that must be set), `src`, `dst`, `sport`, `dport`; any
 *   other field raises
 * @treturn[1] function an iterator of entries (for the generic `for`)
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
/* ct:dump([filter]) -> iterator, nil, nil, cursor (closed when the loop ends) */
static int ct_dump(lua_State *L)
{
    LCt *h = check_ct(L);
    struct netops_ct_filter f;
    const struct netops_ct_filter *fp = to_filter(L, 2, &f);
    LCursor *c = new_cursor(L, h);
    int err = netops_ct_dump_start(h->ct, fp, &c->c);
    if (err)
        return fail(L, h->netns, "dump", err);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, cursor_iter, 1);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushvalue(L, -4);
    return 4;
}

/***
 * The entries a filter matches, as an array (dump collected).
 * @function Conntrack:list
 * @tparam[opt] table filter as for dump
 * @treturn[1] {table,...} entries
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
static int ct_list(lua_State *L)
{
    LCt *h = check_ct(L);
    struct netops_ct_filter f;
    const struct netops_ct_filter *fp = to_filter(L, 2, &f);
    LCursor *c = new_cursor(L, h);
    int err = netops_ct_dump_start(h->ct, fp, &c->c);
    if (err)
        return fail(L, h->netns, "dump", err);
    lua_newtable(L);
    lua_Integer i = 0;
    struct netops_ct_entry e;
    int got;
    while ((err = netops_ct_next(c->c, -1, NULL, &e, &got)) == 0 && got) {
        push_entry(L, &e, &c->cache);
        lua_seti(L, -2, ++i);
    }
    netops_ct_cursor_close(c->c);
    c->c = NULL;
    if (err)
        return fail(L, h->netns, "dump", err);
    return 1;
}

/* The event kinds at arg 2: nil (all), a kind, or an array of kinds. */
static unsigned read_event_kinds(lua_State *L)
{
    unsigned kinds = 0;
    if (lua_isnoneornil(L, 2))
        return NETOPS_CT_EV_NEW | NETOPS_CT_EV_UPDATE | NETOPS_CT_EV_DESTROY;
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, 2);
        lua_seti(L, -2, 1);
        lua_replace(L, 2);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    for (int n = 1; lua_geti(L, 2, n) != LUA_TNIL; n++) {
        const char *k = opt_cstr(L, -1, "event kind");
        if (k && strcmp(k, "new") == 0) kinds |= NETOPS_CT_EV_NEW;
        else if (k && strcmp(k, "update") == 0) kinds |= NETOPS_CT_EV_UPDATE;
        else if (k && strcmp(k, "destroy") == 0) kinds |= NETOPS_CT_EV_DESTROY;
        else luaL_argerror(L, 2, "event kinds are \"new\", \"update\", \"destroy\"");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (!kinds)
        luaL_argerror(L, 2, "no event kind given");
    return kinds;
}

/* ct:events' opts (arg 3): timeout (seconds) and filter.  Misuse raises. */
static const struct netops_ct_filter *read_events_opts(lua_State *L, int *timeout_ms,
                                                       struct netops_ct_filter *f)
{
    luax_Fields r;
    double secs;
    *timeout_ms = -1;
    if (lua_isnoneornil(L, 3))
        return NULL;
    luaL_checktype(L, 3, LUA_TTABLE);
    luax_fields(&r, L, 3, 3, "opts.", NULL, 0);
    luax_checkfieldnames(&r, events_fields, COUNT(events_fields));
    if (luax_numfield(&r, "timeout", 0, 2000000, &secs) > 0)
        *timeout_ms = (int)(secs * 1000 + 0.5);
    return luax_tablefield(&r, "filter", read_filter, f) > 0 ? f : NULL;
}

/***
 * Listen to the kernel's conntrack events.
 * @function Conntrack:events
 * @tparam[opt] string|{string,...} kinds "new", "update", "destroy" (default: all)
 * @tparam[opt] table opts `timeout` (seconds without a delivered event that
 *   end the loop) and `filter` (as for dump, applied in C)
 * @treturn[1] function an iterator of `{ kind = "new"|"update"|"destroy", entry = }`,
 *   and `{ kind = "lost" }` when the kernel dropped events (ENOBUFS)
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
/* ct:events([kinds [, opts]]) -> iterator of { kind =, entry = } */
static int ct_events(lua_State *L)
{
    LCt *h = check_ct(L);
    struct netops_ct_filter f;
    int timeout_ms;
    unsigned kinds = read_event_kinds(L);
    const struct netops_ct_filter *fp = read_events_opts(L, &timeout_ms, &f);
    lua_settop(L, 1);
    LCursor *c = new_cursor(L, h);
    c->events = 1;
    c->timeout_ms = timeout_ms;
    int err = netops_ct_events(h->ct, kinds, &c->c);
    if (err)
        return fail(L, h->netns, "events", err);
    if (fp)
        netops_ct_cursor_filter(c->c, fp);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, cursor_iter, 1);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushvalue(L, -4);
    return 4;
}

/* netops.ctnetlink.names() -> { protos = {...}, states = { tcp = {...}, sctp = {...} }, status = {...} } */
static int ct_names(lua_State *L)
{
    lua_createtable(L, 0, 3);
    lua_newtable(L);
    for (int p = 0; p < 256; p++) {
        const char *n = netops_ct_proto_name((uint8_t)p);
        if (n) {
            lua_pushinteger(L, p);
            lua_setfield(L, -2, n);
        }
    }
    lua_setfield(L, -2, "protos");
    lua_newtable(L);
    const int ps[3] = { IPPROTO_TCP, IPPROTO_SCTP, IPPROTO_DCCP };
    for (int j = 0; j < 3; j++) {
        lua_newtable(L);
        for (int s = 0; s < 16; s++) {
            const char *n = netops_ct_text_state_name((uint8_t)ps[j], (uint8_t)s);
            if (n) {
                lua_pushstring(L, n);
                lua_seti(L, -2, s);
            }
        }
        lua_setfield(L, -2, netops_ct_proto_name((uint8_t)ps[j]));
    }
    lua_setfield(L, -2, "states");
    size_t nn;
    const char *const *names = netops_ct_status_names(&nn);
    lua_createtable(L, (int)nn, 0);
    for (size_t i = 0; i < nn; i++) {
        lua_pushstring(L, names[i]);
        lua_seti(L, -2, (lua_Integer)i);
    }
    lua_setfield(L, -2, "status");
    return 1;
}

/* netops.ctnetlink.check(entry) -> true, or nil, message  (validation only) */
static int ct_check(lua_State *L)
{
    struct netops_ct_entry e;
    char why[256];
    if (to_entry(L, 1, &e, why, sizeof why)) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg ct_methods[] = {
    { "count", ct_count },
    { "commit", ct_commit },
    { "delete", ct_delete },
    { "get", ct_get },
    { "flush", ct_flush },
    { "set_timeout", ct_set_timeout },
    { "dump", ct_dump },
    { "list", ct_list },
    { "events", ct_events },
    { "netns", ct_netns },
    { NULL, NULL },
};

static const luaL_Reg cursor_methods[] = {
    { NULL, NULL },
};

static const luaL_Reg funcs[] = {
    { "open", ct_open },
    { "names", ct_names },
    { "check", ct_check },
    { NULL, NULL },
};

/* ---------------------------------------------- shared with lua_ct_text.c */

void netops_ctl_push_entry(lua_State *L, const struct netops_ct_entry *e, AddrCache *cache)
{
    push_entry(L, e, cache);
}

const char *netops_ctl_to_entry(lua_State *L, int idx, struct netops_ct_entry *e, char *err,
                                size_t errsize)
{
    return to_entry(L, idx, e, err, errsize);
}

const struct netops_ct_filter *netops_ctl_to_filter(lua_State *L, int arg,
                                                    struct netops_ct_filter *f)
{
    return to_filter(L, arg, f);
}

struct netops_ct *netops_ctl_check(lua_State *L, const char **netns)
{
    LCt *h = check_ct(L);
    *netns = h->netns;
    return h->ct;
}

int netops_ctl_fail(lua_State *L, const char *netns, const char *what, int err)
{
    return fail(L, netns, what, err);
}

NETOPS_EXPORT int luaopen_netops_ctnetlink(lua_State *L);

NETOPS_EXPORT int luaopen_netops_ctnetlink(lua_State *L)
{
    static const luaL_Reg ct_metamethods[] = {
        { "__tostring", ct_tostring },
        { NULL, NULL },
    };
    luax_newclass(L, CT_TYPE, ct_methods, ct_metamethods, ct_close);
    luax_newclass(L, CURSOR_TYPE, cursor_methods, NULL, cursor_close);
    keys_new(L);
    luaL_newlib(L, funcs);
    netops_ctl_open_text(L);
    return 1;
}
