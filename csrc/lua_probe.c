/* lua_probe.c - core.probe: is a TCP service accepting (and talking SSH)? */
#include "luax.h"
#include "probe.h"
#include "signals.h"
#include "spawn.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The name of the signal that interrupted a probe ("SIGINT"). */
static const char *signame(int sig, char buf[SIG_NAME_MAX])
{
    return sig_name(sig, buf) ? buf : "signal";
}

/*
 * netops.probe(host, port [, opts]) -> true, info | nil, message, class
 * opts: timeout (seconds, default 5), family ("any", "inet", "inet6"),
 * banner (a prefix such as "SSH-", or true for "SSH-"), stagger (seconds
 * between addresses, default 0.25), interruptible (default true: SIGINT,
 * SIGTERM, SIGHUP end the probe with class "interrupted"; not while a
 * child of netops.spawn runs: its wait forwards them).
 */
static int l_probe(lua_State *L)
{
    const char *host = luax_checkcstring(L, 1, NULL);
    char port[16];
    if (lua_type(L, 2) == LUA_TNUMBER) {
        snprintf(port, sizeof port, "%d", (int)luax_checkrange(L, 2, 1, 65535));
    } else {
        const char *s = luax_checkcstring(L, 2, NULL);
        char *end;
        long v = strtol(s, &end, 10);
        if (*s == 0 || *end != 0 || v < 1 || v > 65535)
            return luaL_argerror(L, 2, "port must be 1..65535");
        snprintf(port, sizeof port, "%ld", v);
    }
    if (!*host)
        return luaL_argerror(L, 1, "empty host name");
    struct probe_opts o;
    memset(&o, 0, sizeof o);
    o.timeout = 5;
    o.stagger = 0.25;
    o.sigfd = -1;
    o.family = AF_UNSPEC;
    int interruptible = 1;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "timeout");
        if (!lua_isnil(L, -1)) o.timeout = luax_checkseconds(L, -1);
        lua_pop(L, 1);
        lua_getfield(L, 3, "stagger");
        if (!lua_isnil(L, -1)) o.stagger = luax_checkseconds(L, -1);
        lua_pop(L, 1);
        lua_getfield(L, 3, "family");
        if (!lua_isnil(L, -1)) {
            const char *f = lua_type(L, -1) == LUA_TSTRING
                ? luax_tocstring(L, -1, "bad option 'family' to 'probe'") : lua_tostring(L, -1);
            if (f && (strcmp(f, "inet") == 0 || strcmp(f, "4") == 0)) o.family = AF_INET;
            else if (f && (strcmp(f, "inet6") == 0 || strcmp(f, "6") == 0)) o.family = AF_INET6;
            else if (f && strcmp(f, "any") == 0) o.family = AF_UNSPEC;
            else return luaL_error(L, "bad option 'family' to 'probe' (\"any\", \"inet\" or \"inet6\" expected)");
        }
        lua_pop(L, 1);
        lua_getfield(L, 3, "banner");
        if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0)
            o.banner = luax_tocstring(L, -1, "bad option 'banner' to 'probe'");  /* anchored by opts */
        else if (lua_toboolean(L, -1) && lua_type(L, -1) == LUA_TBOOLEAN)
            o.banner = "SSH-";
        else if (!lua_isnil(L, -1) && lua_toboolean(L, -1))
            return luaL_error(L, "bad option 'banner' to 'probe' (prefix string or boolean expected)");
        lua_pop(L, 1);
        lua_getfield(L, 3, "interruptible");
        if (!lua_isnil(L, -1)) interruptible = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    /* with children running, their waits read (and forward) the signals */
    if (interruptible && spawn_children() > 0)
        interruptible = 0;
    if (interruptible)
        o.sigfd = spawn_guard_enter();
    struct probe_result r;
    int rc = probe_run(host, port, &o, &r);
    if (interruptible && o.sigfd >= 0)
        spawn_guard_leave();
    if (rc < 0) {
        if (r.sig) {
            char buf[SIG_NAME_MAX];
            const char *name = signame(r.sig, buf);
            luax_failclass(L, r.cls, "probe %s port %s: interrupted by %s", host, port, name);
            lua_pushstring(L, name);
            return 4;
        }
        return luax_failclass(L, r.cls, "probe %s", r.msg);
    }
    lua_pushboolean(L, 1);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, r.addr);
    lua_setfield(L, -2, "address");
    lua_pushinteger(L, r.port);
    lua_setfield(L, -2, "port");
    lua_pushstring(L, r.family == AF_INET6 ? "inet6" : "inet");
    lua_setfield(L, -2, "family");
    lua_pushnumber(L, r.elapsed);
    lua_setfield(L, -2, "elapsed");
    if (o.banner) {
        lua_pushstring(L, r.banner);
        lua_setfield(L, -2, "banner");
    }
    return 2;
}

void netops_open_probe(lua_State *L)
{
    lua_pushcfunction(L, l_probe);
    lua_setfield(L, -2, "probe");
}
