/*
 * luax.h - the one error convention and the handle pattern shared by every
 * Lua binding in netops.  Pure area code (inet.c, signals.c, ...) never
 * includes this file.
 *
 *  - Misuse (wrong type, impossible value) raises through luaL_argerror and
 *    the luaL_check* family.
 *  - A failure of the world returns three values: nil, a message naming the
 *    thing and the reason, and the errno (an integer) or a class (a string).
 *  - Handles are full userdata with a metatable "netops.<Type>"; one
 *    idempotent close function serves close, __gc and __close.
 */
#ifndef NETOPS_LUAX_H
#define NETOPS_LUAX_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 504
#error "netops needs Lua 5.4 or newer (to-be-closed variables, integer subtypes)"
#endif

/* Push nil, a printf-formatted message and err (errno); return 3. */
int luax_fail(lua_State *L, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Push nil, a printf-formatted message and a class string; return 3. */
int luax_failclass(lua_State *L, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An integer argument that must lie in [lo, hi]; raises otherwise. */
lua_Integer luax_checkrange(lua_State *L, int arg, lua_Integer lo, lua_Integer hi);
lua_Integer luax_optrange(lua_State *L, int arg, lua_Integer lo, lua_Integer hi,
                          lua_Integer def);

/*
 * A string argument that C will treat as a C string (a path, a host, an argv
 * word): raises when it is not a string or holds an embedded NUL byte, which
 * C would silently cut.  *len may be NULL.
 */
const char *luax_checkcstring(lua_State *L, int arg, size_t *len);
const char *luax_optcstring(lua_State *L, int arg, const char *def);

/*
 * The same check for a value at stack index idx that is not an argument (a
 * table element): raises "WHAT: ..." naming it.  Leaves the stack unchanged.
 */
const char *luax_tocstring(lua_State *L, int idx, const char *what);

/* A non-negative number of seconds (integer or float); raises otherwise. */
double luax_checkseconds(lua_State *L, int arg);
double luax_optseconds(lua_State *L, int arg, double def);

/*
 * Create the metatable tname with methods in l (methods go to __index) and
 * close as close, __gc and __close.  Leaves nothing on the stack.
 */
void luax_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                   lua_CFunction close);

/*
 * The one fd holder: push a to-be-closed userdata "netops.Fd" holding -1
 * and return its slot; store an fd there and it is closed when the calling
 * C function returns or raises (an out-of-memory error in a luaL_Buffer, a
 * raised argument error).  The slot is -1 again after the close.
 */
int *luax_newfd(lua_State *L);

/* Each area's opener: adds its functions to the table at the top of the stack. */
void netops_open_inet(lua_State *L);
void netops_open_proc(lua_State *L);
void netops_open_signals(lua_State *L);
void netops_open_spawn(lua_State *L);
void netops_open_probe(lua_State *L);
void netops_open_conntrack(lua_State *L);
void netops_open_conntrackd(lua_State *L);
void netops_open_failover(lua_State *L);
void netops_open_log(lua_State *L);
void netops_open_file(lua_State *L);

#endif
