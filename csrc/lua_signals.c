/* lua_signals.c - Lua bindings for the signals area (stub until the area lands). */
#include "luax.h"

void netops_open_signals(lua_State *L)
{
    (void)L;
}
