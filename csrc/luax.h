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

/* What a C module exports: its luaopen_ function.  The rest is built with
 * -fvisibility=hidden: calls between the files are direct, and loading the
 * module looks up no symbol of its own. */
#define NETOPS_EXPORT __attribute__((visibility("default"))) LUAMOD_API

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
 * Stack-neutral field readers for option tables and plain-data tables (an
 * entry, a filter).  Each reads field k of the table r->t, checks its type
 * and range, and pops what it pushed: the stack is as it was when a reader
 * returns.  They return 1 (found, *out set), 0 (absent: nil) or -1 (bad).
 *
 * A bad field is reported by luax_fielderror: with r->arg > 0 it raises
 * luaL_argerror(arg) naming the field by its path ("bad argument #1 to
 * 'flush' (filter.sport 70000 out of range 0..65535)"); with r->arg == 0
 * the message goes into r->err and the reader returns -1, for callers where
 * a bad table is a reported failure, not misuse (an entry in a commit).
 * A string with an embedded NUL byte always raises (luax_tocstring).
 */
typedef struct luax_Fields {
    lua_State *L;
    int t;            /* the table (absolute index) */
    int arg;          /* > 0: raise, blaming this argument; 0: report into err */
    char *err;        /* soft: the first bad field's message (errsize bytes) */
    size_t errsize;
    char path[64];    /* prefix naming the fields: "", "reply.", "opts." */
} luax_Fields;

/* A reader of the table at idx; path names it in messages ("" or "x."). */
void luax_fields(luax_Fields *r, lua_State *L, int idx, int arg, const char *path,
                 char *err, size_t errsize);
/* Report a bad field (raise or write r->err, see above); returns -1. */
int luax_fielderror(luax_Fields *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The Lua type of field k (LUA_TNIL when absent). */
int luax_fieldtype(luax_Fields *r, const char *k);
/* An integer in [lo, hi] (a float with an integer value counts). */
int luax_intfield(luax_Fields *r, const char *k, lua_Integer lo, lua_Integer hi,
                  lua_Integer *out);
/* The same, and absence is bad too ("missing PATHk"). */
int luax_needintfield(luax_Fields *r, const char *k, lua_Integer lo, lua_Integer hi,
                      lua_Integer *out);
/* A number in [lo, hi] (NaN refused). */
int luax_numfield(luax_Fields *r, const char *k, double lo, double hi, double *out);
/* A string copied into buf (size bytes, NUL-terminated; *len may be NULL). */
int luax_strfield(luax_Fields *r, const char *k, char *buf, size_t size, size_t *len);
/* A string that is one of names (NULL-terminated): *out is its index. */
int luax_optionfield(luax_Fields *r, const char *k, const char *const names[], int *out);
/* Truthiness, as Lua sees it: *out is 0 or 1 (absent: 0). */
int luax_flagfield(luax_Fields *r, const char *k, int *out);
/*
 * A nested table: read(sub, ud) runs with sub reading it (path "PATHk.",
 * same mode and err), and its result is returned; a value that is not a
 * table is bad.  The nested table is popped whatever read returns.
 */
int luax_tablefield(luax_Fields *r, const char *k, int (*read)(luax_Fields *sub, void *ud),
                    void *ud);
/*
 * Refuse keys that are not among names[0..n-1] (a typo would otherwise be
 * ignored): "unknown PATH field 'KEY' (known: a, b, c)".  Returns 0 or -1.
 */
int luax_checkfieldnames(luax_Fields *r, const char *const names[], size_t n);

/*
 * Create the metatable tname (as cqueues' cqs_newmetatable does): the
 * methods in l plus close go to a table that is __index; metamethods (NULL
 * or a list such as { "__tostring", f }) are set on the metatable, and an
 * "__index" among them is a function that gets the methods table as its
 * upvalue 1 (it answers fields such as proc.pid, then falls back to the
 * methods); close serves close, __gc and __close.  Leaves nothing on the
 * stack.
 */
void luax_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                   const luaL_Reg *metamethods, lua_CFunction close);

/*
 * The one fd holder: push a to-be-closed userdata "netops.Fd" holding -1
 * and return its slot; store an fd there and it is closed when the calling
 * C function returns or raises (an out-of-memory error in a luaL_Buffer, a
 * raised argument error).  The slot is -1 again after the close.
 */
int *luax_newfd(lua_State *L);

/*
 * The memory holder: push a to-be-closed userdata "netops.Mem" holding
 * size zeroed bytes from malloc, and return them; they are freed when the
 * calling C function returns or raises.  For big scratch memory: it is not
 * counted by Lua's collector, whose next step would otherwise run a whole
 * cycle over the caller's data to pay for it.  Raises when memory is short.
 */
void *luax_newmem(lua_State *L, size_t size);

/* Each area's opener: adds its functions to the table at the top of the stack. */
void netops_open_inet(lua_State *L);
void netops_open_proc(lua_State *L);
void netops_open_signals(lua_State *L);
void netops_open_spawn(lua_State *L);
void netops_open_probe(lua_State *L);
void netops_open_conntrackd(lua_State *L);
void netops_open_failover(lua_State *L);
void netops_open_log(lua_State *L);
void netops_open_file(lua_State *L);

#endif
