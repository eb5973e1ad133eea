/*
 * core.c - luaopen_netops_core: the C module behind require "netops", with
 * no library beyond libc.  The kernel conntrack binding, which links
 * libnetfilter_conntrack and libmnl, is the module netops.ctnetlink
 * (lua_conntrack.c), loaded only by netops.conntrack.
 */
#include <string.h>

#include "luax.h"

NETOPS_EXPORT int luaopen_netops_core(lua_State *L);

/* The areas that are one table, core.NAME, each built by its opener on
 * first use: a command pays only for the areas it uses (checksignals: proc
 * and signals; building them all is about 100,000 instructions of its
 * start).  spawn, probe and file put functions on core itself and are
 * opened at once. */
static const struct {
    const char *name;
    void (*open)(lua_State *L);   /* sets core[name]; core on top of the stack */
} areas[] = {
    { "inet", netops_open_inet },
    { "proc", netops_open_proc },
    { "signals", netops_open_signals },
    { "conntrackd", netops_open_conntrackd },
    { "failover", netops_open_failover },
    { "log", netops_open_log },
};

/* core's __index(core, key): the area named key, opened now; else nil. */
static int l_area(lua_State *L)
{
    const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    for (size_t i = 0; key && i < sizeof areas / sizeof areas[0]; i++)
        if (strcmp(key, areas[i].name) == 0) {
            lua_settop(L, 2);
            lua_pushvalue(L, 1);
            areas[i].open(L);
            lua_pop(L, 1);
            lua_rawget(L, 1);
            return 1;
        }
    return 0;
}

NETOPS_EXPORT int luaopen_netops_core(lua_State *L)
{
    lua_newtable(L);
    netops_open_spawn(L);
    netops_open_probe(L);
    netops_open_file(L);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_area);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    return 1;
}
