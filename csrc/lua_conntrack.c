/* lua_conntrack.c - Lua bindings for the conntrack area (stub until the area lands). */
#include "luax.h"

void netops_open_conntrack(lua_State *L)
{
    (void)L;
}
