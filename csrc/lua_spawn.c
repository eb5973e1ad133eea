/* lua_spawn.c - Lua bindings for the spawn area (stub until the area lands). */
#include "luax.h"

void netops_open_spawn(lua_State *L)
{
    (void)L;
}
