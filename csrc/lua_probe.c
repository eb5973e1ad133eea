/* lua_probe.c - Lua bindings for the probe area (stub until the area lands). */
#include "luax.h"

void netops_open_probe(lua_State *L)
{
    (void)L;
}
