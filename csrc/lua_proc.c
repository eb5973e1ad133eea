/* lua_proc.c - Lua bindings for the proc area (stub until the area lands). */
#include "luax.h"

void netops_open_proc(lua_State *L)
{
    (void)L;
}
