/* lua_conntrackd.c - Lua bindings for the conntrackd area (stub until the area lands). */
#include "luax.h"

void netops_open_conntrackd(lua_State *L)
{
    (void)L;
}
