/* lua_signals.c - core.signals: signal names, numbers and masks. */
#include "luax.h"
#include "signals.h"

#include <errno.h>
#include <string.h>

/*** name(n) -> "SIGTERM" | nil, message, EINVAL (n is no signal here). */
static int l_name(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    char buf[SIG_NAME_MAX];
    if (n < 1 || n > netops_sig_max() || !netops_sig_name((int)n, buf))
        return luax_fail(L, EINVAL, "no signal %s on this system (1..%d)",
                         lua_tostring(L, 1), netops_sig_max());
    lua_pushstring(L, buf);
    return 1;
}

/*** number("TERM" | "SIGTERM" | "15" | 15 | "RTMIN+2" ...) -> 15 | nil, message, EINVAL. */
static int l_number(lua_State *L)
{
    int n;
    if (lua_type(L, 1) == LUA_TNUMBER) {
        lua_Integer i;
        if (!lua_isinteger(L, 1))
            return luax_fail(L, EINVAL, "not a signal number: %s", luaL_tolstring(L, 1, NULL));
        i = lua_tointeger(L, 1);
        if (i < 1 || i > netops_sig_max())
            return luax_fail(L, EINVAL, "no signal %s on this system (1..%d)",
                             lua_tostring(L, 1), netops_sig_max());
        lua_pushinteger(L, i);
        return 1;
    }
    size_t len;
    const char *s = luax_checkcstring(L, 1, &len);
    n = netops_sig_number(s, len);
    if (n == 0 && len > 0 && s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == len)
        return luax_fail(L, EINVAL, "no signal %s on this system (1..%d)", s, netops_sig_max());
    if (n == 0)
        return luax_fail(L, EINVAL, "unknown signal '%s'", s);
    lua_pushinteger(L, n);
    return 1;
}

/* Push the ascending signals of mask hex as a table; 0 (nothing pushed) if
 * it is no mask. */
static int push_decoded(lua_State *L, const char *hex, size_t len)
{
    int small[256], *out = small;
    size_t cap = sizeof small / sizeof small[0], n;
    if (len > SIG_MASK_MAX_DIGITS + 2)
        return 0;
    if (len * 4 > cap) {
        cap = len * 4;
        out = lua_newuserdatauv(L, cap * sizeof *out, 0);
    }
    if (netops_sig_mask_decode(hex, len, out, cap, &n) != 0) {
        if (out != small)
            lua_pop(L, 1);
        return 0;
    }
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, out[i]);
        lua_rawseti(L, -2, i + 1);
    }
    if (out != small)
        lua_remove(L, -2);      /* the scratch array, kept alive until now */
    return 1;
}

/*** decode("0000000000004a02") -> {2, 10, 12, 15} | nil, message, EINVAL. */
static int l_decode(lua_State *L)
{
    size_t len;
    const char *s = luax_checkcstring(L, 1, &len);
    if (!push_decoded(L, s, len))
        return luax_fail(L, EINVAL, "not a signal mask: '%s' (hex digits expected, at most %d)",
                         s, SIG_MASK_MAX_DIGITS);
    return 1;
}

/*** encode({2, 15}) -> "0000000000004002".  Raises on a non-signal entry. */
static int l_encode(lua_State *L)
{
    lua_Integer count, maxsig = 0;
    int *sigs;
    char *out;
    size_t digits;

    luaL_checktype(L, 1, LUA_TTABLE);
    count = luaL_len(L, 1);
    luaL_argcheck(L, count >= 0 && count <= (1 << 20), 1, "too many entries");
    sigs = lua_newuserdatauv(L, (size_t)(count ? count : 1) * sizeof *sigs, 0);
    for (lua_Integer i = 1; i <= count; i++) {
        int isnum;
        lua_Integer v;
        lua_geti(L, 1, i);
        v = lua_tointegerx(L, -1, &isnum);
        if (!isnum || v < 1 || v > 4 * SIG_MASK_MAX_DIGITS)
            return luaL_argerror(L, 1, lua_pushfstring(L,
                "entry %I is not a signal number 1..%d", i, 4 * SIG_MASK_MAX_DIGITS));
        lua_pop(L, 1);
        sigs[i - 1] = (int)v;
        if (v > maxsig)
            maxsig = v;
    }
    digits = netops_sig_mask_digits((int)maxsig);
    out = lua_newuserdatauv(L, digits + 1, 0);
    if (netops_sig_mask_encode(sigs, (size_t)count, out, digits + 1) != digits)
        return luaL_error(L, "encode: internal error");
    lua_pushlstring(L, out, digits);
    return 1;
}

/*** list() -> { [1] = "SIGHUP", ..., [64] = "SIGRTMAX" }: every signal of this system. */
static int l_list(lua_State *L)
{
    char buf[SIG_NAME_MAX];
    int max = netops_sig_max();
    lua_createtable(L, max, 0);
    for (int n = 1; n <= max; n++) {
        lua_pushstring(L, netops_sig_name(n, buf));
        lua_rawseti(L, -2, n);
    }
    return 1;
}

static const luaL_Reg funcs[] = {
    { "name", l_name },
    { "number", l_number },
    { "decode", l_decode },
    { "encode", l_encode },
    { "list", l_list },
    { NULL, NULL },
};

void netops_open_signals(lua_State *L)
{
    luaL_newlib(L, funcs);
    lua_pushinteger(L, netops_sig_rtmin());
    lua_setfield(L, -2, "RTMIN");
    lua_pushinteger(L, netops_sig_rtmax());
    lua_setfield(L, -2, "RTMAX");
    lua_pushinteger(L, netops_sig_max());
    lua_setfield(L, -2, "MAX");
    lua_setfield(L, -2, "signals");
}
