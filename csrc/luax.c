/* luax.c - helpers for the error convention described in luax.h. */
#include "luax.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ------------------------------------------------------------ field readers */

void luax_fields(luax_Fields *r, lua_State *L, int idx, int arg, const char *path,
                 char *err, size_t errsize)
{
    r->L = L;
    r->t = lua_absindex(L, idx);
    r->arg = arg;
    r->err = err;
    r->errsize = errsize;
    snprintf(r->path, sizeof r->path, "%s", path ? path : "");
    if (err && errsize)
        err[0] = '\0';
}

int luax_fielderror(luax_Fields *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->arg > 0)
        luaL_argerror(r->L, r->arg, msg);
    if (!r->err)
        luaL_error(r->L, "%s", msg);
    snprintf(r->err, r->errsize, "%s", msg);
    return -1;
}

int luax_fieldtype(luax_Fields *r, const char *k)
{
    int ty = lua_getfield(r->L, r->t, k);
    lua_pop(r->L, 1);
    return ty;
}

int luax_intfield(luax_Fields *r, const char *k, lua_Integer lo, lua_Integer hi,
                  lua_Integer *out)
{
    int isnum = 0;
    int ty = lua_getfield(r->L, r->t, k);
    lua_Integer v = ty == LUA_TNUMBER ? lua_tointegerx(r->L, -1, &isnum) : 0;
    lua_pop(r->L, 1);
    if (ty == LUA_TNIL)
        return 0;
    if (!isnum)
        return luax_fielderror(r, "%s%s must be an integer", r->path, k);
    if (v < lo || v > hi)
        return luax_fielderror(r, "%s%s %lld out of range %lld..%lld", r->path, k,
                               (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return 1;
}

int luax_needintfield(luax_Fields *r, const char *k, lua_Integer lo, lua_Integer hi,
                      lua_Integer *out)
{
    int got = luax_intfield(r, k, lo, hi, out);
    return got ? got : luax_fielderror(r, "missing %s%s", r->path, k);
}

int luax_numfield(luax_Fields *r, const char *k, double lo, double hi, double *out)
{
    int ty = lua_getfield(r->L, r->t, k);
    double v = ty == LUA_TNUMBER ? (double)lua_tonumber(r->L, -1) : 0;
    lua_pop(r->L, 1);
    if (ty == LUA_TNIL)
        return 0;
    if (ty != LUA_TNUMBER)
        return luax_fielderror(r, "%s%s must be a number", r->path, k);
    if (!(v >= lo && v <= hi))
        return luax_fielderror(r, "%s%s %g out of range %g..%g", r->path, k, v, lo, hi);
    *out = v;
    return 1;
}

/* The string at the top (field k) as a C string: a NUL byte raises. */
static const char *top_cstring(luax_Fields *r, const char *k, size_t *len)
{
    size_t n;
    const char *s = lua_tolstring(r->L, -1, &n);
    if (strlen(s) != n)
        luaL_error(r->L, "%s%s: string contains a NUL byte", r->path, k);
    if (len)
        *len = n;
    return s;
}

int luax_strfield(luax_Fields *r, const char *k, char *buf, size_t size, size_t *len)
{
    int ty = lua_getfield(r->L, r->t, k);
    size_t n = 0;
    const char *s = ty == LUA_TSTRING ? top_cstring(r, k, &n) : NULL;
    if (s && n < size)
        memcpy(buf, s, n + 1);
    lua_pop(r->L, 1);       /* s is not used past here */
    if (ty == LUA_TNIL)
        return 0;
    if (!s)
        return luax_fielderror(r, "%s%s must be a string", r->path, k);
    if (n >= size)
        return luax_fielderror(r, "%s%s too long (%zu bytes, at most %zu)", r->path, k, n,
                               size - 1);
    if (len)
        *len = n;
    return 1;
}

int luax_optionfield(luax_Fields *r, const char *k, const char *const names[], int *out)
{
    int ty = lua_getfield(r->L, r->t, k);
    const char *s = ty == LUA_TSTRING ? top_cstring(r, k, NULL) : NULL;
    int i = 0;
    while (s && names[i] && strcmp(names[i], s) != 0)
        i++;
    lua_pop(r->L, 1);
    if (ty == LUA_TNIL)
        return 0;
    if (s && names[i]) {
        *out = i;
        return 1;
    }
    char list[256];
    size_t used = 0;
    list[0] = '\0';
    for (int j = 0; names[j] && used < sizeof list; j++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s\"%s\"",
                                 j == 0 ? "" : names[j + 1] ? ", " : " or ", names[j]);
    return luax_fielderror(r, "%s%s must be %s", r->path, k, list);
}

int luax_flagfield(luax_Fields *r, const char *k, int *out)
{
    int ty = lua_getfield(r->L, r->t, k);
    *out = lua_toboolean(r->L, -1);
    lua_pop(r->L, 1);
    return ty != LUA_TNIL;
}

int luax_tablefield(luax_Fields *r, const char *k, int (*read)(luax_Fields *sub, void *ud),
                    void *ud)
{
    int ty = lua_getfield(r->L, r->t, k);
    if (ty != LUA_TTABLE) {
        lua_pop(r->L, 1);
        return ty == LUA_TNIL ? 0 : luax_fielderror(r, "%s%s must be a table", r->path, k);
    }
    luax_Fields sub = *r;
    sub.t = lua_gettop(r->L);
    if (snprintf(sub.path, sizeof sub.path, "%s%s.", r->path, k) >= (int)sizeof sub.path)
        sub.path[sizeof sub.path - 1] = '\0';    /* cut: it only names fields */
    int rc = read(&sub, ud);
    lua_settop(r->L, sub.t - 1);
    return rc < 0 ? -1 : 1;
}

/* "filter" for the path "filter." ("" for the top level). */
static void table_name(const luax_Fields *r, char *buf, size_t size)
{
    size_t n = strlen(r->path);
    snprintf(buf, size, "%.*s", (int)(n ? n - 1 : 0), r->path);
}

static int unknown_field(luax_Fields *r, const char *key, const char *const names[], size_t n)
{
    char what[64], known[512];
    size_t used = 0;
    table_name(r, what, sizeof what);
    known[0] = '\0';
    for (size_t i = 0; i < n && used < sizeof known; i++)
        if (names[i])
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                     used ? ", " : "", names[i]);
    return luax_fielderror(r, "unknown %s%sfield '%s' (known: %s)", what, *what ? " " : "",
                           key, known);
}

int luax_checkfieldnames(luax_Fields *r, const char *const names[], size_t n)
{
    lua_State *L = r->L;
    char what[80], key[80];
    table_name(r, what, sizeof what - 6);
    strcat(what, *what ? " field" : "field");
    lua_pushnil(L);
    while (lua_next(L, r->t)) {
        lua_pop(L, 1);    /* the value; the key stays for lua_next */
        const char *k = lua_type(L, -1) == LUA_TSTRING ? luax_tocstring(L, -1, what) : NULL;
        size_t i = 0;
        while (k && i < n && !(names[i] && strcmp(names[i], k) == 0))
            i++;
        if (!k || i == n) {
            snprintf(key, sizeof key, "%s", k ? k : luaL_typename(L, -1));
            lua_pop(L, 1);
            return unknown_field(r, key, names, n);
        }
    }
    return 0;
}

void luax_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                   const luaL_Reg *metamethods, lua_CFunction close)
{
    luaL_newmetatable(L, tname);
    lua_newtable(L);                    /* the methods */
    luaL_setfuncs(L, methods, 0);
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "close");
    for (const luaL_Reg *m = metamethods; m && m->name; m++) {
        if (strcmp(m->name, "__index") == 0) {
            lua_pushvalue(L, -1);       /* its upvalue 1: the methods */
            lua_pushcclosure(L, m->func, 1);
        } else {
            lua_pushcfunction(L, m->func);
        }
        lua_setfield(L, -3, m->name);
    }
    if (lua_getfield(L, -2, "__index") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_setfield(L, -2, "__index");
    } else {
        lua_pop(L, 2);
    }
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

/* Push a userdata of size bytes (its contents set by the caller) with the
 * metatable tname, made once, whose close is close. */
static void *new_holder(lua_State *L, size_t size, const char *tname, lua_CFunction close)
{
    void *u = lua_newuserdatauv(L, size, 0);
    if (luaL_getmetatable(L, tname) != LUA_TTABLE) {
        static const luaL_Reg no_methods[] = { { NULL, NULL } };
        lua_pop(L, 1);
        luax_newclass(L, tname, no_methods, NULL, close);
        luaL_getmetatable(L, tname);
    }
    lua_setmetatable(L, -2);
    return u;
}

int *luax_newfd(lua_State *L)
{
    int *fd = new_holder(L, sizeof *fd, FD_TYPE, fd_close);
    *fd = -1;
    lua_toclose(L, -1);
    return fd;
}

#define MEM_TYPE "netops.Mem"

static int mem_close(lua_State *L)
{
    void **p = luaL_checkudata(L, 1, MEM_TYPE);
    free(*p);
    *p = NULL;
    return 0;
}

void *luax_newmem(lua_State *L, size_t size)
{
    void **p = new_holder(L, sizeof *p, MEM_TYPE, mem_close);
    *p = NULL;
    lua_toclose(L, -1);
    *p = calloc(1, size ? size : 1);
    if (!*p)
        luaL_error(L, "not enough memory (%I bytes)", (lua_Integer)size);
    return *p;
}
