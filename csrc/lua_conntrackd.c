/*
 * lua_conntrackd.c - Lua bindings for the conntrackd control client.
 *
 *   core.conntrackd.open(path, timeout [, max_reply]) -> handle ("netops.Conntrackd")
 *   h:request(code [, timeout [, max_reply]]) -> text, seconds | nil, message, class
 *   h:path(), h:timeout(), h:max_reply()
 *   core.conntrackd.daemons() -> { pid, ... }   (processes named conntrackd)
 *   core.conntrackd.parse_stats(text) -> { [section] = { [key] = N }, bad = {...} }
 *   core.conntrackd.parse_dump(text) -> { entry, ..., bad = {...} }
 *   core.conntrackd.parse_entry(line) -> entry | nil, reason
 *   (bad = { n = count, { line = N, text = first bytes, reason = why }, ... }
 *   lists the first BAD_KEEP lines that are not what conntrackd writes.)
 *   core.conntrackd.methods: the handle's method table (netops.conntrackd
 *   adds the named requests there).
 */
/***
 * The conntrackd handle's C side: `core.conntrackd.open` and the methods
 * `request`, `path`, `timeout`, `max_reply`, `close` of `netops.Conntrackd`
 * (the named requests, such as commit and stats, are in netops.conntrackd).
 * @submodule netops.core
 */
#include "luax.h"
#include "conntrackd.h"
#include "ctd_reply.h"

#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define CTD_TYPE "netops.Conntrackd"

typedef struct {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    double timeout;
    size_t max_reply;
    int closed;
} Ctd;

/* A reply cap in bytes: 0 .. 2^40 (a terabyte is no cap anyone means). */
static size_t opt_max_reply(lua_State *L, int arg, size_t def)
{
    return (size_t)luax_optrange(L, arg, 0, (lua_Integer)1 << 40, (lua_Integer)def);
}

static Ctd *check(lua_State *L)
{
    Ctd *c = luaL_checkudata(L, 1, CTD_TYPE);
    if (c->closed)
        luaL_error(L, "attempt to use a closed conntrackd handle");
    return c;
}

/***
 * Make a conntrackd handle; nothing is connected (one connection per request).
 * Use `netops.conntrackd.open{ socket =, timeout =, max_reply = }`.
 * @function conntrackd.open
 * @tparam string path the control socket
 * @tparam[opt=5] number timeout seconds each request may take
 * @tparam[opt] int max_reply bytes a reply may have (default 256 MiB)
 * @treturn Conntrackd the handle
 * @raise on an empty path, one longer than 107 bytes or with a NUL byte, or a bad number
 */
static int l_open(lua_State *L)
{
    size_t len;
    const char *path = luax_checkcstring(L, 1, &len);
    double timeout = luax_optseconds(L, 2, 5.0);
    size_t max_reply = opt_max_reply(L, 3, CTD_MAX_REPLY_DEFAULT);
    Ctd *c;

    if (len == 0 || len >= sizeof c->path)
        luaL_argerror(L, 1, "socket path empty or longer than 107 bytes");
    c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    memcpy(c->path, path, len + 1);
    c->timeout = timeout;
    c->max_reply = max_reply;
    luaL_setmetatable(L, CTD_TYPE);
    return 1;
}

/***
 * Mark the handle closed (it holds no connection); any other method raises
 * afterwards.  Idempotent; also `__gc` and `__close`.
 * @function Conntrackd:close
 */
static int l_close(lua_State *L)
{
    Ctd *c = luaL_checkudata(L, 1, CTD_TYPE);
    c->closed = 1;    /* nothing to release: one connection per request */
    return 0;
}

/***
 * Send one request code and read the reply until conntrackd closes the
 * connection.
 * @function Conntrackd:request
 * @tparam int code 0..255 (netops.conntrackd.codes)
 * @tparam[opt] number timeout seconds (default: the handle's)
 * @tparam[opt] int max_reply bytes (default: the handle's)
 * @treturn[1] string the reply text
 * @treturn[1] number seconds it took
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] string class: "nosocket", "refused", "denied", "timeout", "toolarge" or "io"
 */
static int l_request(lua_State *L)
{
    Ctd *c = check(L);
    int code = (int)luax_checkrange(L, 2, 0, 255);
    double timeout = luax_optseconds(L, 3, c->timeout);
    size_t max_reply = opt_max_reply(L, 4, c->max_reply);
    struct netops_ctd_reply reply;
    const char *cls = CTD_EIO;
    char err[512];

    if (netops_ctd_request(c->path, code, timeout, max_reply, &reply, &cls, err, sizeof err) != 0)
        return luax_failclass(L, cls, "%s", err);
    lua_pushlstring(L, reply.text, reply.len);
    free(reply.text);
    lua_pushnumber(L, reply.elapsed);
    return 2;
}

/***
 * The control socket's path.
 * @function Conntrackd:path
 * @treturn string
 */
static int l_path(lua_State *L)
{
    Ctd *c = check(L);
    lua_pushstring(L, c->path);
    return 1;
}

/***
 * The handle's timeout per request.
 * @function Conntrackd:timeout
 * @treturn number seconds
 */
static int l_timeout(lua_State *L)
{
    Ctd *c = check(L);
    lua_pushnumber(L, c->timeout);
    return 1;
}

/***
 * The handle's cap on a reply.
 * @function Conntrackd:max_reply
 * @treturn int bytes
 */
static int l_max_reply(lua_State *L)
{
    Ctd *c = check(L);
    lua_pushinteger(L, (lua_Integer)c->max_reply);
    return 1;
}

static int l_tostring(lua_State *L)
{
    Ctd *c = luaL_checkudata(L, 1, CTD_TYPE);
    lua_pushfstring(L, "netops.Conntrackd(%s%s)", c->path, c->closed ? ", closed" : "");
    return 1;
}

static int l_daemons(lua_State *L)
{
    pid_t pids[256];
    int n = netops_ctd_find_daemons(pids, 256);
    if (n > 256)
        n = 256;
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, pids[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ---- reply parsers (csrc/ctd_reply.c) ---- */

#define BAD_KEEP 16     /* bad lines listed (all are counted in bad.n) */
#define BAD_TEXT 160    /* bytes of each listed bad line */

struct bad {
    int idx;            /* the bad table's stack index */
    lua_Integer n;
};

static void add_bad(lua_State *L, struct bad *b, lua_Integer lineno, const char *s,
                    size_t len, const char *why)
{
    b->n++;
    if (b->n > BAD_KEEP)
        return;
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, lineno);
    lua_setfield(L, -2, "line");
    lua_pushlstring(L, s, len > BAD_TEXT ? BAD_TEXT : len);
    lua_setfield(L, -2, "text");
    lua_pushstring(L, why);
    lua_setfield(L, -2, "reason");
    lua_rawseti(L, b->idx, b->n);
}

/* Set the bad table's n and store it as field "bad" of the table at idx. */
static void end_bad(lua_State *L, struct bad *b, int idx)
{
    lua_pushinteger(L, b->n);
    lua_setfield(L, b->idx, "n");
    lua_setfield(L, idx, "bad");
}

/* Next line of s[0..n) from *pos (without its newline); 0 at the end. */
static int next_line(const char *s, size_t n, size_t *pos, const char **line, size_t *len)
{
    const char *nl;

    if (*pos >= n)
        return 0;
    *line = s + *pos;
    nl = memchr(*line, '\n', n - *pos);
    *len = nl ? (size_t)(nl - *line) : n - *pos;
    *pos += *len + 1;
    return 1;
}

static void set_span(lua_State *L, const char *s, struct netops_ctd_span sp, const char *k)
{
    lua_pushlstring(L, s + sp.off, sp.len);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, long long v, const char *k)
{
    if (v < 0)
        return;
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

/* src, dst, sport, dport of t (or of t reversed) into the table on top. */
static void set_tuple(lua_State *L, const char *s, const struct netops_ctd_tuple *t, int rev)
{
    set_span(L, s, rev ? t->dst : t->src, "src");
    set_span(L, s, rev ? t->src : t->dst, "dst");
    set_int(L, rev ? t->dport : t->sport, "sport");
    set_int(L, rev ? t->sport : t->dport, "dport");
}

/* Other key=value fields: numbers when Lua reads them as numbers. */
static void set_extras(lua_State *L, const char *s, const struct netops_ctd_entry *e)
{
    for (size_t i = 0; i < e->nextra; i++) {
        lua_pushlstring(L, s + e->extra[i].key.off, e->extra[i].key.len);
        lua_pushlstring(L, s + e->extra[i].val.off, e->extra[i].val.len);
        if (lua_stringtonumber(L, lua_tostring(L, -1)) != 0)
            lua_remove(L, -2);
        lua_rawset(L, -3);
    }
}

static void set_status(lua_State *L, const struct netops_ctd_entry *e)
{
    lua_newtable(L);
    for (unsigned i = 0; netops_ctd_status_names[i]; i++) {
        if (e->status & (1u << i)) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, netops_ctd_status_names[i]);
        }
    }
    /* a reply tuple that was printed: the entry has seen its reply */
    if (e->reply.src.len > 0 && !(e->status & 2u)) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "SEEN_REPLY");
    }
    lua_setfield(L, -2, "status");
}

/* The entry as a table of the netops.conntrack shape. */
static void push_entry(lua_State *L, const char *s, const struct netops_ctd_entry *e)
{
    lua_createtable(L, 0, 16);
    set_extras(L, s, e);
    lua_pushstring(L, e->family == 6 ? "ipv6" : "ipv4");
    lua_setfield(L, -2, "family");
    set_span(L, s, e->proto, "proto");
    set_int(L, e->protonum, "protonum");
    set_int(L, e->timeout, "timeout");
    if (e->state.len > 0)
        set_span(L, s, e->state, "state");
    set_tuple(L, s, &e->orig, 0);
    if (e->icmp_type >= 0 || e->icmp_code >= 0 || e->icmp_id >= 0) {
        lua_createtable(L, 0, 3);
        set_int(L, e->icmp_type, "type");
        set_int(L, e->icmp_code, "code");
        set_int(L, e->icmp_id, "id");
        lua_setfield(L, -2, "icmp");
    }
    set_int(L, e->mark, "mark");
    set_int(L, e->zone, "zone");
    set_int(L, e->use, "use");
    set_int(L, e->id, "id");
    set_status(L, e);
    lua_createtable(L, 0, 4);
    /* conntrackd's caches print the original tuple only: the reply is its inverse */
    set_tuple(L, s, e->reply.src.len > 0 ? &e->reply : &e->orig, e->reply.src.len == 0);
    lua_setfield(L, -2, "reply");
    if (e->reply.src.len == 0) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "reply_inferred");
    }
}

static int l_parse_entry(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    struct netops_ctd_entry e;

    if (netops_ctd_parse_entry(s, n, &e) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: ", e.why);
        lua_pushlstring(L, s, n > BAD_TEXT ? BAD_TEXT : n);
        lua_concat(L, 2);
        return 2;
    }
    push_entry(L, s, &e);
    return 1;
}

static int l_parse_dump(lua_State *L)
{
    size_t n, pos = 0, len;
    const char *s = luaL_checklstring(L, 1, &n), *line;
    struct netops_ctd_entry e;
    struct bad b = { 0, 0 };
    lua_Integer k = 0, lineno = 0;

    lua_newtable(L);
    lua_newtable(L);
    b.idx = lua_gettop(L);
    while (next_line(s, n, &pos, &line, &len)) {
        lineno++;
        if (len == 0)
            continue;
        if (netops_ctd_parse_entry(line, len, &e) != 0) {
            add_bad(L, &b, lineno, line, len, e.why);
            continue;
        }
        push_entry(L, line, &e);
        lua_rawseti(L, b.idx - 1, ++k);
    }
    end_bad(L, &b, b.idx - 1);
    return 1;
}

/* The section table out[key] (created when missing) on top of the stack. */
static void section(lua_State *L, int out, const char *key)
{
    if (lua_getfield(L, out, key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, out, key);
}

static void stats_line(lua_State *L, int out, const char *line,
                       const struct netops_ctd_statline *st, char *sect)
{
    if (st->kind == NETOPS_CTD_SECTION) {
        memcpy(sect, st->section, NETOPS_CTD_KEYMAX);
        if (st->has_info) {
            section(L, out, sect);
            set_span(L, line, st->info, "info");
            lua_pop(L, 1);
        }
    } else if (st->kind == NETOPS_CTD_FIELDS) {
        if (st->opens)
            memcpy(sect, st->section, NETOPS_CTD_KEYMAX);
        section(L, out, sect);
        for (int i = 0; i < st->n; i++) {
            lua_pushinteger(L, (lua_Integer)st->f[i].value);
            lua_setfield(L, -2, st->f[i].key);
        }
        lua_pop(L, 1);
    }
}

static int l_parse_stats(lua_State *L)
{
    size_t n, pos = 0, len;
    const char *s = luaL_checklstring(L, 1, &n), *line;
    struct netops_ctd_statline st;
    char sect[NETOPS_CTD_KEYMAX] = "general";
    struct bad b = { 0, 0 };
    lua_Integer lineno = 0;
    int out;

    lua_newtable(L);
    out = lua_gettop(L);
    lua_newtable(L);
    b.idx = lua_gettop(L);
    while (next_line(s, n, &pos, &line, &len)) {
        lineno++;
        if (netops_ctd_stats_line(line, len, &st) != 0)
            add_bad(L, &b, lineno, line, len, st.why);
        else
            stats_line(L, out, line, &st, sect);
    }
    end_bad(L, &b, out);
    return 1;
}

static const luaL_Reg methods[] = {
    { "request", l_request },
    { "path", l_path },
    { "timeout", l_timeout },
    { "max_reply", l_max_reply },
    { NULL, NULL },
};

void netops_open_conntrackd(lua_State *L)
{
    static const luaL_Reg metamethods[] = {
        { "__tostring", l_tostring },
        { NULL, NULL },
    };
    luax_newclass(L, CTD_TYPE, methods, metamethods, l_close);
    luaL_getmetatable(L, CTD_TYPE);
    lua_newtable(L);                           /* core.conntrackd */
    lua_getfield(L, -2, "__index");
    lua_setfield(L, -2, "methods");
    lua_pushcfunction(L, l_open);
    lua_setfield(L, -2, "open");
    lua_pushcfunction(L, l_daemons);
    lua_setfield(L, -2, "daemons");
    lua_pushcfunction(L, l_parse_stats);
    lua_setfield(L, -2, "parse_stats");
    lua_pushcfunction(L, l_parse_dump);
    lua_setfield(L, -2, "parse_dump");
    lua_pushcfunction(L, l_parse_entry);
    lua_setfield(L, -2, "parse_entry");
    lua_setfield(L, -3, "conntrackd");
    lua_pop(L, 1);                             /* metatable */
}
