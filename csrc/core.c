/*
 * core.c - luaopen_netops_core: the C module behind require "netops", with
 * no library beyond libc.  The kernel conntrack binding, which links
 * libnetfilter_conntrack and libmnl, is the module netops.ctnetlink
 * (lua_conntrack.c), loaded only by netops.conntrack.
 */
#include "luax.h"

NETOPS_EXPORT int luaopen_netops_core(lua_State *L);

NETOPS_EXPORT int luaopen_netops_core(lua_State *L)
{
    lua_newtable(L);
    netops_open_inet(L);
    netops_open_proc(L);
    netops_open_signals(L);
    netops_open_spawn(L);
    netops_open_probe(L);
    netops_open_conntrackd(L);
    netops_open_failover(L);
    netops_open_log(L);
    netops_open_file(L);
    return 1;
}
