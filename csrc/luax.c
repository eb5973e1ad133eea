/* luax.c - helpers for the error convention described in luax.h. */
#include "luax.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static int push_failure(lua_State *L, const char *fmt, va_list ap)
{
    lua_pushnil(L);
    lua_pushvfstring(L, fmt, ap);
    return 2;
}

int luax_fail(lua_State *L, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    push_failure(L, fmt, ap);
    va_end(ap);
    lua_pushinteger(L, err);
    return 3;
}

int luax_failclass(lua_State *L, const char *cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    push_failure(L, fmt, ap);
    va_end(ap);
    lua_pushstring(L, cls);
    return 3;
}

lua_Integer luax_checkrange(lua_State *L, int arg, lua_Integer lo, lua_Integer hi)
{
    lua_Integer v = luaL_checkinteger(L, arg);
    if (v < lo || v > hi)
        luaL_argerror(L, arg, lua_pushfstring(L, "%I out of range %I..%I", v, lo, hi));
    return v;
}

lua_Integer luax_optrange(lua_State *L, int arg, lua_Integer lo, lua_Integer hi,
                          lua_Integer def)
{
    return lua_isnoneornil(L, arg) ? def : luax_checkrange(L, arg, lo, hi);
}

const char *luax_checkcstring(lua_State *L, int arg, size_t *len)
{
    size_t n;
    const char *s = luaL_checklstring(L, arg, &n);
    if (strlen(s) != n)
        luaL_argerror(L, arg, "string contains a NUL byte");
    if (len)
        *len = n;
    return s;
}

const char *luax_optcstring(lua_State *L, int arg, const char *def)
{
    return lua_isnoneornil(L, arg) ? def : luax_checkcstring(L, arg, NULL);
}

const char *luax_tocstring(lua_State *L, int idx, const char *what)
{
    size_t n;
    const char *s;
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "%s: string expected, got %s", what, luaL_typename(L, idx));
    s = lua_tolstring(L, idx, &n);
    if (strlen(s) != n)
        luaL_error(L, "%s: string contains a NUL byte", what);
    return s;
}

double luax_checkseconds(lua_State *L, int arg)
{
    double s = (double)luaL_checknumber(L, arg);
    if (!(s >= 0) || isinf(s) || s > 1e9)
        luaL_argerror(L, arg, "seconds must be a finite number between 0 and 1e9");
    return s;
}

double luax_optseconds(lua_State *L, int arg, double def)
{
    return lua_isnoneornil(L, arg) ? def : luax_checkseconds(L, arg);
}

void luax_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                   lua_CFunction close)
{
    luaL_newmetatable(L, tname);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "close");
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
}

#define FD_TYPE "netops.Fd"

static int fd_close(lua_State *L)
{
    int *fd = luaL_checkudata(L, 1, FD_TYPE);
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    return 0;
}

int *luax_newfd(lua_State *L)
{
    int *fd = lua_newuserdatauv(L, sizeof *fd, 0);
    *fd = -1;
    if (luaL_getmetatable(L, FD_TYPE) != LUA_TTABLE) {
        static const luaL_Reg no_methods[] = { { NULL, NULL } };
        lua_pop(L, 1);
        luax_newclass(L, FD_TYPE, no_methods, fd_close);
        luaL_getmetatable(L, FD_TYPE);
    }
    lua_setmetatable(L, -2);
    lua_toclose(L, -1);
    return fd;
}
