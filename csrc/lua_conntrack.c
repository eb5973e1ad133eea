/*
 * lua_conntrack.c - Lua bindings for the conntrack area: the C module
 * netops.ctnetlink (open, names, check) and the handle "netops.Conntrack"
 * (see lua/netops/conntrack.lua, its only user, and the README section
 * "netops.conntrack").  Entries cross as plain tables.  A module of its own
 * because it links libnetfilter_conntrack, libnfnetlink and libmnl, which
 * netops.core and the commands that need no kernel table do without.
 */
#include "luax.h"
#include "conntrack.h"
#include "inet.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define CT_TYPE "netops.Conntrack"
#define CURSOR_TYPE "netops.ConntrackCursor"

typedef struct {
    struct netops_ct *ct;
    char netns[256];
} LCt;

/*
 * Formatted addresses, cached per dump: a table holds few distinct
 * addresses (its hosts) across many entries, so most are formatted once.
 */
#define ADDR_CACHE 256
struct addr_slot {
    unsigned char a[16];
    uint8_t family, len;
    char s[NETOPS_ADDR_MAX];
};
typedef struct addr_slot AddrCache[ADDR_CACHE];

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

static void push_entry(lua_State *L, const struct netops_ct_entry *e, AddrCache *cache)
{
    int alen = e->family == AF_INET ? 4 : 16;
    /* the two original addresses, formatted once: without NAT the reply
     * tuple reuses them */
    push_addr(L, cache, e->orig.src, e->family);
    push_addr(L, cache, e->orig.dst, e->family);
    int s = lua_gettop(L) - 1, d = s + 1;
    lua_createtable(L, 0, 16);
    set_str(L, "family", family_name(e->family));
    const char *pn = netops_ct_proto_name(e->proto);
    if (pn)
        set_str(L, "proto", pn);
    else
        set_int(L, "proto", e->proto);
    lua_pushvalue(L, s);
    lua_setfield(L, -2, "src");
    lua_pushvalue(L, d);
    lua_setfield(L, -2, "dst");
    if (e->has & NETOPS_CT_HAS_PORTS) {
        set_int(L, "sport", e->orig.sport);
        set_int(L, "dport", e->orig.dport);
    }
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
    if (e->has & NETOPS_CT_HAS_STATE) {
        const char *sn = netops_ct_state_name(e->proto, e->state);
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
    if (e->has & NETOPS_CT_HAS_ICMP) {
        lua_createtable(L, 0, 3);
        set_int(L, "type", e->icmp_type);
        set_int(L, "code", e->icmp_code);
        set_int(L, "id", e->icmp_id);
        lua_setfield(L, -2, "icmp");
    }
    if (e->has & NETOPS_CT_HAS_TIMEOUT)
        set_int(L, "timeout", e->timeout);
    set_int(L, "mark", e->mark);
    set_int(L, "zone", e->zone);
    size_t nn;
    const char *const *names = netops_ct_status_names(&nn);
    lua_createtable(L, 0, 4);
    for (size_t i = 0; i < nn && i < 32; i++)
        if (e->status & (1u << i)) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, names[i]);
        }
    lua_setfield(L, -2, "status");
    if (e->has & NETOPS_CT_HAS_ID)
        set_int(L, "id", e->id);
    if (e->has & NETOPS_CT_HAS_MASTER) {
        lua_createtable(L, 0, 5);
        const char *mp = netops_ct_proto_name(e->master_proto);
        if (mp)
            set_str(L, "proto", mp);
        else
            set_int(L, "proto", e->master_proto);
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
    lua_replace(L, s);    /* the entry where src was; drop dst */
    lua_settop(L, s);
}

/* Integer field k of the table at t in [lo, hi]: 1 found, 0 absent, -1 bad. */
static int int_field(lua_State *L, int t, const char *k, lua_Integer lo, lua_Integer hi,
                     lua_Integer *out, const char **err)
{
    int ty = lua_getfield(L, t, k);
    if (ty == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    int isnum;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || ty != LUA_TNUMBER) {
        *err = lua_pushfstring(L, "%s must be an integer", k);
        return -1;
    }
    if (v < lo || v > hi) {
        *err = lua_pushfstring(L, "%s %I out of range %I..%I", k, v, lo, hi);
        return -1;
    }
    *out = v;
    return 1;
}

static int parse_proto(lua_State *L, int idx, const char **err)
{
    const char *name = opt_cstr(L, idx, "proto");
    if (name) {
        int p = netops_ct_proto_number(name);
        if (p < 0)
            *err = lua_pushfstring(L, "unknown proto '%s'", name);
        return p;
    }
    int isnum;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (lua_type(L, idx) == LUA_TNUMBER && isnum && v >= 0 && v <= 255)
        return (int)v;
    *err = lua_pushstring(L, "proto must be a protocol name or a number 0..255");
    return -1;
}

/* Address field k of table t: returns its family (AF_*) or 0 (absent), -1 bad. */
static int addr_field(lua_State *L, int t, const char *k, unsigned char out[16], const char **err)
{
    int ty = lua_getfield(L, t, k);
    if (ty == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (ty != LUA_TSTRING) {
        lua_pop(L, 1);
        *err = lua_pushfstring(L, "%s must be an address string", k);
        return -1;
    }
    const char *s = luax_tocstring(L, -1, k);
    memset(out, 0, 16);
    int r = netops_addr_parse(s, strlen(s), out);
    if (r != 4 && r != 6) {
        *err = lua_pushfstring(L, "bad %s address '%s': %s", k, s, netops_addr_error(r));
        lua_remove(L, -2);
        return -1;
    }
    lua_pop(L, 1);
    return r == 4 ? AF_INET : AF_INET6;
}

/*
 * Convert the entry table at idx.  Returns NULL, or a message (pushed on the
 * stack, which the caller pops) saying what is wrong with it.
 */
static const char *to_entry(lua_State *L, int idx, struct netops_ct_entry *e)
{
    const char *err = NULL;
    lua_Integer v;
    memset(e, 0, sizeof *e);
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx))
        return lua_pushfstring(L, "entry must be a table, got %s", luaL_typename(L, idx));
    int fam = 0;
    if (lua_getfield(L, idx, "family") != LUA_TNIL) {
        const char *f = opt_cstr(L, -1, "family");
        if (f && strcmp(f, "ipv4") == 0)
            fam = AF_INET;
        else if (f && strcmp(f, "ipv6") == 0)
            fam = AF_INET6;
        else {
            lua_pop(L, 1);
            return lua_pushstring(L, "family must be \"ipv4\" or \"ipv6\"");
        }
    }
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "proto") == LUA_TNIL) {
        lua_pop(L, 1);
        return lua_pushstring(L, "missing proto");
    }
    int p = parse_proto(L, -1, &err);
    if (p < 0) {
        lua_remove(L, -2);
        return err;
    }
    lua_pop(L, 1);
    e->proto = (uint8_t)p;
    int fs = addr_field(L, idx, "src", e->orig.src, &err);
    if (fs < 0)
        return err;
    int fd = addr_field(L, idx, "dst", e->orig.dst, &err);
    if (fd < 0)
        return err;
    if (!fs || !fd)
        return lua_pushstring(L, fs ? "missing dst" : "missing src");
    if (fs != fd)
        return lua_pushstring(L, "src and dst are of different families");
    if (fam && fam != fs)
        return lua_pushfstring(L, "family %s does not match the addresses", family_name(fam));
    e->family = (uint8_t)fs;
    if ((p == IPPROTO_ICMP && fs != AF_INET) || (p == IPPROTO_ICMPV6 && fs != AF_INET6))
        return lua_pushfstring(L, "proto %s does not go with %s", p == IPPROTO_ICMP ? "icmp" : "icmpv6",
                               family_name(fs));
    if (netops_ct_has_ports(p)) {
        int a = int_field(L, idx, "sport", 0, 65535, &v, &err);
        if (a < 0) return err;
        if (!a) return lua_pushstring(L, "missing sport");
        e->orig.sport = (uint16_t)v;
        a = int_field(L, idx, "dport", 0, 65535, &v, &err);
        if (a < 0) return err;
        if (!a) return lua_pushstring(L, "missing dport");
        e->orig.dport = (uint16_t)v;
        e->has |= NETOPS_CT_HAS_PORTS;
    }
    if (p == IPPROTO_ICMP || p == IPPROTO_ICMPV6) {
        if (lua_getfield(L, idx, "icmp") != LUA_TTABLE) {
            lua_pop(L, 1);
            return lua_pushstring(L, "ICMP entry without icmp = { type =, code =, id = }");
        }
        int it = lua_gettop(L);
        int a = int_field(L, it, "type", 0, 255, &v, &err);
        if (a <= 0) {
            lua_remove(L, it);
            return a < 0 ? err : lua_pushstring(L, "ICMP entry without icmp.type");
        }
        e->icmp_type = (uint8_t)v;
        a = int_field(L, it, "code", 0, 255, &v, &err);
        if (a < 0) { lua_remove(L, it); return err; }
        e->icmp_code = a ? (uint8_t)v : 0;
        a = int_field(L, it, "id", 0, 65535, &v, &err);
        if (a < 0) { lua_remove(L, it); return err; }
        e->icmp_id = a ? (uint16_t)v : 0;
        lua_pop(L, 1);
        e->has |= NETOPS_CT_HAS_ICMP;
    }
    /* reply tuple: optional; missing parts are those of the inverse */
    e->reply.src[0] = 0;
    int rt = lua_getfield(L, idx, "reply");
    if (rt == LUA_TTABLE) {
        int r = lua_gettop(L);
        memcpy(e->reply.src, e->orig.dst, 16);
        memcpy(e->reply.dst, e->orig.src, 16);
        e->reply.sport = e->orig.dport;
        e->reply.dport = e->orig.sport;
        int a = addr_field(L, r, "src", e->reply.src, &err);
        if (a < 0) { lua_remove(L, r); return err; }
        if (a && a != fs) { lua_pop(L, 1); return lua_pushstring(L, "reply.src of another family"); }
        a = addr_field(L, r, "dst", e->reply.dst, &err);
        if (a < 0) { lua_remove(L, r); return err; }
        if (a && a != fs) { lua_pop(L, 1); return lua_pushstring(L, "reply.dst of another family"); }
        if (netops_ct_has_ports(p)) {
            a = int_field(L, r, "sport", 0, 65535, &v, &err);
            if (a < 0) { lua_remove(L, r); return err; }
            if (a) e->reply.sport = (uint16_t)v;
            a = int_field(L, r, "dport", 0, 65535, &v, &err);
            if (a < 0) { lua_remove(L, r); return err; }
            if (a) e->reply.dport = (uint16_t)v;
        }
        e->has |= NETOPS_CT_HAS_REPLY;
    } else if (rt != LUA_TNIL) {
        lua_pop(L, 1);
        return lua_pushstring(L, "reply must be a table");
    }
    lua_pop(L, 1);
    int st = lua_getfield(L, idx, "state");
    if (st != LUA_TNIL) {
        int n = -1;
        if (st == LUA_TSTRING)
            n = netops_ct_state_number(e->proto, luax_tocstring(L, -1, "state"));
        else if (st == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0 &&
                 lua_tointeger(L, -1) < 16)
            n = (int)lua_tointeger(L, -1);
        if (n < 0 || (p != IPPROTO_TCP && p != IPPROTO_SCTP)) {
            const char *m = lua_pushfstring(L, "bad state '%s' for proto %s",
                                            luaL_tolstring(L, -1, NULL),
                                            netops_ct_proto_name(e->proto) ? netops_ct_proto_name(e->proto) : "?");
            lua_remove(L, -2);   /* tolstring */
            lua_remove(L, -2);   /* state */
            return m;
        }
        e->state = (uint8_t)n;
        e->has |= NETOPS_CT_HAS_STATE;
    }
    lua_pop(L, 1);
    int a = int_field(L, idx, "timeout", 0, 0xffffffffLL, &v, &err);
    if (a < 0) return err;
    if (a) { e->timeout = (uint32_t)v; e->has |= NETOPS_CT_HAS_TIMEOUT; }
    a = int_field(L, idx, "mark", 0, 0xffffffffLL, &v, &err);
    if (a < 0) return err;
    if (a) { e->mark = (uint32_t)v; e->has |= NETOPS_CT_HAS_MARK; }
    a = int_field(L, idx, "zone", 0, 65535, &v, &err);
    if (a < 0) return err;
    if (a) { e->zone = (uint16_t)v; e->has |= NETOPS_CT_HAS_ZONE; }
    if (lua_getfield(L, idx, "status") == LUA_TTABLE) {
        size_t nn;
        const char *const *names = netops_ct_status_names(&nn);
        for (size_t i = 0; i < nn; i++) {
            lua_getfield(L, -1, names[i]);
            if (lua_toboolean(L, -1))
                e->status |= 1u << i;
            lua_pop(L, 1);
        }
        e->has |= NETOPS_CT_HAS_STATUS;
    }
    lua_pop(L, 1);
    int mt = lua_getfield(L, idx, "master");
    if (mt == LUA_TTABLE) {
        int m = lua_gettop(L);
        int mp = p;
        if (lua_getfield(L, m, "proto") != LUA_TNIL) {
            mp = parse_proto(L, -1, &err);
            if (mp < 0) { lua_remove(L, -2); lua_remove(L, -2); return err; }
        }
        lua_pop(L, 1);
        e->master_proto = (uint8_t)mp;
        int ms = addr_field(L, m, "src", e->master.src, &err);
        if (ms < 0) { lua_remove(L, m); return err; }
        int md = addr_field(L, m, "dst", e->master.dst, &err);
        if (md < 0) { lua_remove(L, m); return err; }
        if (ms != fs || md != fs) {
            lua_pop(L, 1);
            return lua_pushstring(L, "master needs src and dst of the entry's family");
        }
        if (netops_ct_has_ports(mp)) {
            a = int_field(L, m, "sport", 0, 65535, &v, &err);
            if (a <= 0) { lua_remove(L, m); return a < 0 ? err : lua_pushstring(L, "missing master.sport"); }
            e->master.sport = (uint16_t)v;
            a = int_field(L, m, "dport", 0, 65535, &v, &err);
            if (a <= 0) { lua_remove(L, m); return a < 0 ? err : lua_pushstring(L, "missing master.dport"); }
            e->master.dport = (uint16_t)v;
        }
        e->has |= NETOPS_CT_HAS_MASTER;
    } else if (mt != LUA_TNIL) {
        lua_pop(L, 1);
        return lua_pushstring(L, "master must be a table");
    }
    lua_pop(L, 1);
    if (p == IPPROTO_SCTP && lua_getfield(L, idx, "vtag") == LUA_TTABLE) {
        int vt = lua_gettop(L);
        a = int_field(L, vt, "orig", 0, 0xffffffffLL, &v, &err);
        if (a < 0) { lua_remove(L, vt); return err; }
        e->vtag_orig = a ? (uint32_t)v : 0;
        a = int_field(L, vt, "reply", 0, 0xffffffffLL, &v, &err);
        if (a < 0) { lua_remove(L, vt); return err; }
        e->vtag_reply = a ? (uint32_t)v : 0;
        e->has |= NETOPS_CT_HAS_VTAG;
        lua_pop(L, 1);
    } else if (p == IPPROTO_SCTP) {
        lua_pop(L, 1);
    }
    return NULL;
}

/* The fields a filter may have: any other key is a typo that would widen the
 * filter (ct:flush{protocol = "tcp"} must not flush every entry). */
static const char *const filter_fields[] = {
    "family", "proto", "mark", "mark_mask", "zone", "sport", "dport", "src", "dst", "status", NULL
};

/* Filter table at arg (nil: none).  Misuse raises. */
static const struct netops_ct_filter *to_filter(lua_State *L, int arg, struct netops_ct_filter *f)
{
    memset(f, 0, sizeof *f);
    if (lua_isnoneornil(L, arg))
        return NULL;
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        const char *k = opt_cstr(L, -2, "filter field");
        size_t i = 0;
        while (k && filter_fields[i] && strcmp(filter_fields[i], k) != 0)
            i++;
        if (!k || !filter_fields[i])
            luaL_argerror(L, arg, lua_pushfstring(L, "unknown filter field '%s' (known: family, "
                          "proto, mark, mark_mask, zone, sport, dport, src, dst, status)",
                          k ? k : luaL_typename(L, -2)));
        lua_pop(L, 1);
    }
    const char *err = NULL;
    lua_Integer v;
    if (lua_getfield(L, arg, "family") != LUA_TNIL) {
        const char *s = opt_cstr(L, -1, "filter.family");
        if (s && strcmp(s, "ipv4") == 0) f->family = AF_INET;
        else if (s && strcmp(s, "ipv6") == 0) f->family = AF_INET6;
        else luaL_argerror(L, arg, "filter.family must be \"ipv4\" or \"ipv6\"");
        f->has |= NETOPS_CTF_FAMILY;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, arg, "proto") != LUA_TNIL) {
        int p = parse_proto(L, -1, &err);
        if (p < 0)
            luaL_argerror(L, arg, lua_pushfstring(L, "filter: %s", err));
        f->proto = (uint8_t)p;
        f->has |= NETOPS_CTF_PROTO;
    }
    lua_pop(L, 1);
    int a = int_field(L, arg, "mark", 0, 0xffffffffLL, &v, &err);
    if (a < 0) luaL_argerror(L, arg, lua_pushfstring(L, "filter: %s", err));
    if (a) { f->mark = (uint32_t)v; f->mark_mask = 0xffffffffu; f->has |= NETOPS_CTF_MARK; }
    a = int_field(L, arg, "mark_mask", 0, 0xffffffffLL, &v, &err);
    if (a < 0) luaL_argerror(L, arg, lua_pushfstring(L, "filter: %s", err));
    if (a) {
        if (!(f->has & NETOPS_CTF_MARK))
            luaL_argerror(L, arg, "filter.mark_mask without filter.mark");
        f->mark_mask = (uint32_t)v;
    }
    a = int_field(L, arg, "zone", 0, 65535, &v, &err);
    if (a < 0) luaL_argerror(L, arg, lua_pushfstring(L, "filter: %s", err));
    if (a) { f->zone = (uint16_t)v; f->has |= NETOPS_CTF_ZONE; }
    a = int_field(L, arg, "sport", 0, 65535, &v, &err);
    if (a < 0) luaL_argerror(L, arg, lua_pushfstring(L, "filter: %s", err));
    if (a) { f->sport = (uint16_t)v; f->has |= NETOPS_CTF_SPORT; }
    a = int_field(L, arg, "dport", 0, 65535, &v, &err);
    if (a < 0) luaL_argerror(L, arg, lua_pushfstring(L, "filter: %s", err));
    if (a) { f->dport = (uint16_t)v; f->has |= NETOPS_CTF_DPORT; }
    a = addr_field(L, arg, "src", f->src, &err);
    if (a < 0) luaL_argerror(L, arg, lua_pushfstring(L, "filter: %s", err));
    if (a) { f->src_family = (uint8_t)a; f->has |= NETOPS_CTF_SRC; }
    a = addr_field(L, arg, "dst", f->dst, &err);
    if (a < 0) luaL_argerror(L, arg, lua_pushfstring(L, "filter: %s", err));
    if (a) { f->dst_family = (uint8_t)a; f->has |= NETOPS_CTF_DST; }
    int ty = lua_getfield(L, arg, "status");
    if (ty != LUA_TNIL) {
        size_t nn;
        const char *const *names = netops_ct_status_names(&nn);
        if (ty != LUA_TTABLE)
            luaL_argerror(L, arg, "filter.status must be a table like { ASSURED = true }");
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            const char *k = opt_cstr(L, -2, "filter.status");
            size_t i = 0;
            while (k && i < nn && strcmp(names[i], k) != 0)
                i++;
            if (!k || i == nn)
                luaL_argerror(L, arg, lua_pushfstring(L, "filter.status: unknown status bit '%s'",
                                                      k ? k : "?"));
            if (lua_toboolean(L, -1))
                f->status |= 1u << i;
            lua_pop(L, 1);
        }
        f->has |= NETOPS_CTF_STATUS;
    }
    lua_pop(L, 1);
    return f;
}

/* ------------------------------------------------------------------ handle */

static int ct_open(lua_State *L)
{
    const char *netns = NULL;
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        int ty = lua_getfield(L, 1, "netns");
        if (ty != LUA_TNIL) {
            if (ty != LUA_TSTRING)
                luaL_argerror(L, 1, "opts.netns must be a namespace name (string)");
            netns = luax_tocstring(L, -1, "opts.netns");
            if (strlen(netns) >= sizeof(((LCt *)0)->netns))
                luaL_argerror(L, 1, "opts.netns too long");
            if (!*netns || strchr(netns, '/') || strcmp(netns, ".") == 0 || strcmp(netns, "..") == 0)
                luaL_argerror(L, 1, "opts.netns must be a name under /run/netns (no '/')");
        }
        /* keep it on the stack while used */
    }
    LCt *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->ct = NULL;
    h->netns[0] = '\0';
    luaL_setmetatable(L, CT_TYPE);
    if (netns)
        strcpy(h->netns, netns);
    const char *where;
    int err = netops_ct_open(&h->ct, netns, &where);
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

static int ct_close(lua_State *L)
{
    LCt *h = luaL_checkudata(L, 1, CT_TYPE);
    if (h->ct) {
        netops_ct_close(h->ct);
        h->ct = NULL;
    }
    return 0;
}

static int ct_tostring(lua_State *L)
{
    LCt *h = luaL_checkudata(L, 1, CT_TYPE);
    lua_pushfstring(L, CT_TYPE " (%s%s%s)", h->ct ? "open" : "closed",
                    h->netns[0] ? ", netns " : "", h->netns);
    return 1;
}

static int ct_netns(lua_State *L)
{
    LCt *h = check_ct(L);
    if (h->netns[0])
        lua_pushstring(L, h->netns);
    else
        lua_pushnil(L);
    return 1;
}

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

static int ct_commit(lua_State *L)
{
    LCt *h = check_ct(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    struct netops_ct_commit_opts opts = { 0, 0, 0, 0 };
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "timeout");
        if (!lua_isnil(L, -1))
            opts.timeout = (uint32_t)luax_checkrange(L, lua_gettop(L), 1, 0xffffffffLL);
        lua_pop(L, 1);
        lua_getfield(L, 3, "threads");
        if (!lua_isnil(L, -1))
            opts.threads = (unsigned)luax_checkrange(L, lua_gettop(L), 1, 8);
        lua_pop(L, 1);
        lua_getfield(L, 3, "create_only");
        opts.create_only = lua_toboolean(L, -1);
        lua_pop(L, 1);
        lua_getfield(L, 3, "replace");
        opts.replace = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (opts.replace && opts.create_only)
            luaL_argerror(L, 3, "opts.replace and opts.create_only exclude each other");
    }
    lua_Integer n = luaL_len(L, 2);
    size_t cnt = n > 0 ? (size_t)n : 0;
    if (cnt > ((size_t)-1 / 2) / (sizeof(struct netops_ct_entry) + sizeof(int) + 1))
        return luaL_error(L, "conntrack commit: too many entries (%I)", n);
    /* scratch memory as a userdata: the GC frees it if anything below raises */
    size_t ne = cnt ? cnt : 1;
    struct netops_ct_entry *e = lua_newuserdatauv(L, ne * (sizeof *e + sizeof(int) + 1), 0);
    int *res = (int *)(void *)(e + ne);
    unsigned char *skip = (unsigned char *)(res + ne);
    memset(skip, 0, ne);
    lua_newtable(L);                       /* bad: index -> message */
    int bad = lua_gettop(L);
    for (size_t i = 0; i < cnt; i++) {
        lua_geti(L, 2, (lua_Integer)i + 1);
        const char *m = to_entry(L, -1, &e[i]);
        if (!m && !opts.timeout && !(e[i].has & NETOPS_CT_HAS_TIMEOUT))
            m = lua_pushstring(L, "missing timeout (give entry.timeout or opts.timeout)");
        if (m) {
            skip[i] = 1;
            lua_seti(L, bad, (lua_Integer)i + 1);   /* pops the message */
        }
        lua_pop(L, 1);
    }
    int stopped = 0;
    int err = netops_ct_commit(h->ct, e, cnt, skip, &opts, res, &stopped);
    if (err)
        return fail(L, h->netns, "commit", err);
    lua_Integer created = 0, updated = 0, failed = 0, nerr = 0;
    lua_createtable(L, 0, 4);
    int out = lua_gettop(L);
    lua_newtable(L);
    int errs = lua_gettop(L);
    for (size_t i = 0; i < cnt; i++) {
        const char *msg = NULL;
        int eno = 0;
        if (res[i] == NETOPS_CT_CREATED) { created++; continue; }
        if (res[i] == NETOPS_CT_UPDATED) { updated++; continue; }
        if (skip[i]) {
            lua_geti(L, bad, (lua_Integer)i + 1);
            msg = lua_tostring(L, -1);
            eno = EINVAL;
        } else if (res[i] < 0) {
            eno = -res[i];
            if (eno == ENOENT && (e[i].has & NETOPS_CT_HAS_MASTER))
                msg = lua_pushstring(L, "its master entry is not in the table (commit the master too)");
            else
                msg = lua_pushstring(L, netops_ct_strerror(eno));
        } else {
            eno = stopped ? stopped : EAGAIN;
            msg = lua_pushstring(L, "not tried: the table was full (nf_conntrack_max)");
        }
        failed++;
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, (lua_Integer)i + 1);
        lua_setfield(L, -2, "index");
        lua_geti(L, 2, (lua_Integer)i + 1);
        lua_setfield(L, -2, "entry");
        lua_pushstring(L, msg);
        lua_setfield(L, -2, "message");
        lua_pushinteger(L, eno);
        lua_setfield(L, -2, "errno");
        lua_seti(L, errs, ++nerr);
        lua_pop(L, 1);     /* msg */
    }
    lua_setfield(L, out, "errors");
    set_int(L, "created", created);
    set_int(L, "updated", updated);
    set_int(L, "failed", failed);
    if (stopped == ENOMEM) {
        uint32_t max = 0, now = 0;
        (void)netops_ct_count(h->ct, &now, &max);
        luax_fail(L, ENOMEM, "conntrack%s%s: commit: table full: nf_conntrack_max (%d, global to all "
                  "namespaces) reached after %d entries were committed (%d created, %d updated); "
                  "raise net.netfilter.nf_conntrack_max",
                  h->netns[0] ? " in netns " : "", h->netns, (int)max,
                  (int)(created + updated), (int)created, (int)updated);
        lua_pushvalue(L, out);
        return 4;
    }
    return 1;
}

static int ct_delete(lua_State *L)
{
    LCt *h = check_ct(L);
    struct netops_ct_entry e;
    const char *m = to_entry(L, 2, &e);
    if (m)
        return luaL_argerror(L, 2, m);
    int err = netops_ct_delete(h->ct, &e);
    if (err)
        return fail(L, h->netns, "delete", err);
    lua_pushboolean(L, 1);
    return 1;
}

static int ct_get(lua_State *L)
{
    LCt *h = check_ct(L);
    struct netops_ct_entry key, e;
    const char *m = to_entry(L, 2, &key);
    if (m)
        return luaL_argerror(L, 2, m);
    int err = netops_ct_get(h->ct, &key, &e);
    if (err)
        return fail(L, h->netns, "get", err);
    push_entry(L, &e, NULL);
    return 1;
}

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
    int kind = 0;
    int r = netops_ct_next(c->c, c->timeout_ms, &kind, &e);
    if (r == -ENOBUFS && c->events) {
        lua_createtable(L, 0, 1);
        set_str(L, "kind", "lost");
        return 1;
    }
    if (r <= 0) {
        netops_ct_cursor_close(c->c);
        c->c = NULL;
        if (r < 0)
            return luaL_error(L, "conntrack%s%s: %s: %s", c->netns[0] ? " in netns " : "",
                              c->netns, c->events ? "events" : "dump", netops_ct_strerror(-r));
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
    int r;
    while ((r = netops_ct_next(c->c, -1, NULL, &e)) > 0) {
        push_entry(L, &e, &c->cache);
        lua_seti(L, -2, ++i);
    }
    netops_ct_cursor_close(c->c);
    c->c = NULL;
    if (r < 0)
        return fail(L, h->netns, "dump", -r);
    return 1;
}

/* ct:events([kinds [, opts]]) -> iterator of { kind =, entry = } */
static int ct_events(lua_State *L)
{
    LCt *h = check_ct(L);
    unsigned kinds = 0;
    if (lua_isnoneornil(L, 2)) {
        kinds = NETOPS_CT_EV_NEW | NETOPS_CT_EV_UPDATE | NETOPS_CT_EV_DESTROY;
    } else {
        int n = 1;
        if (lua_type(L, 2) == LUA_TSTRING) {
            lua_createtable(L, 1, 0);
            lua_pushvalue(L, 2);
            lua_seti(L, -2, 1);
            lua_replace(L, 2);
        }
        luaL_checktype(L, 2, LUA_TTABLE);
        for (n = 1; lua_geti(L, 2, n) != LUA_TNIL; n++) {
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
    }
    int timeout_ms = -1;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "timeout");
        if (!lua_isnil(L, -1)) {
            double s = luax_checkseconds(L, lua_gettop(L));
            if (s > 2000000)
                luaL_argerror(L, 3, "opts.timeout too large");
            timeout_ms = (int)(s * 1000 + 0.5);
        }
        lua_pop(L, 1);
    }
    struct netops_ct_filter f;
    const struct netops_ct_filter *fp = NULL;
    if (!lua_isnoneornil(L, 3) && lua_getfield(L, 3, "filter") != LUA_TNIL) {
        luaL_argcheck(L, lua_istable(L, -1), 3, "opts.filter must be a filter table");
        fp = to_filter(L, lua_gettop(L), &f);
    }
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
    const int ps[2] = { IPPROTO_TCP, IPPROTO_SCTP };
    for (int j = 0; j < 2; j++) {
        lua_newtable(L);
        for (int s = 0; s < 16; s++) {
            const char *n = netops_ct_state_name((uint8_t)ps[j], (uint8_t)s);
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
    const char *m = to_entry(L, 1, &e);
    if (m) {
        lua_pushnil(L);
        lua_insert(L, -2);
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

LUAMOD_API int luaopen_netops_ctnetlink(lua_State *L);

LUAMOD_API int luaopen_netops_ctnetlink(lua_State *L)
{
    luax_newclass(L, CT_TYPE, ct_methods, ct_close);
    luaL_getmetatable(L, CT_TYPE);
    lua_pushcfunction(L, ct_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    luax_newclass(L, CURSOR_TYPE, cursor_methods, cursor_close);
    luaL_newlib(L, funcs);
    return 1;
}
