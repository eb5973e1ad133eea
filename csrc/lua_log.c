/* lua_log.c - Lua bindings for the log area (stub until the area lands). */
#include "luax.h"

void netops_open_log(lua_State *L)
{
    (void)L;
}
