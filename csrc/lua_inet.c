/* lua_inet.c - Lua bindings for the inet area (stub until the area lands). */
#include "luax.h"

void netops_open_inet(lua_State *L)
{
    (void)L;
}
