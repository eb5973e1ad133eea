/*
 * lua_inet.c - Lua bindings for inet.c: core.inet = { normalize, pton, ntop,
 * equal, family, network, contains, rewrite, normalize_lines, rewrite_lines }.
 * Invalid address text is a failure of the input: nil plus a message naming
 * the input and the reason.  Non-string arguments are misuse and raise.
 */
#include "luax.h"
#include "inet.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Push nil and "invalid IPv6 address '...': reason"; return 2. */
static int fail_addr(lua_State *L, const char *s, size_t n, int code)
{
    char msg[768];
    size_t len = netops_addr_message(s, n, code, msg, sizeof msg);
    lua_pushnil(L);
    lua_pushlstring(L, msg, len < sizeof msg ? len : sizeof msg - 1);
    return 2;
}

/* Push the canonical text of a parsed address (with zone and prefix). */
static void push_addr(lua_State *L, const struct netops_addr *a, const char *s)
{
    char small[NETOPS_ADDR_MAX + 32];
    size_t need = a->zone_len + NETOPS_ADDR_MAX + 8;
    if (need <= sizeof small) {
        size_t len = netops_addr_format_ex(a, s, small, sizeof small);
        lua_pushlstring(L, small, len);
    } else {
        luaL_Buffer b;
        char *out = luaL_buffinitsize(L, &b, need);
        luaL_pushresultsize(&b, netops_addr_format_ex(a, s, out, need));
    }
}

/*** normalize(text): canonical text, or nil, message. */
static int l_normalize(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char out[NETOPS_ADDR_MAX + 64];
    long r = netops_addr_normalize(s, n, out, sizeof out);
    if (r >= 0) {
        if ((size_t)r == n && memcmp(out, s, n) == 0)
            lua_pushvalue(L, 1);    /* canonical already: no new string */
        else
            lua_pushlstring(L, out, (size_t)r);
        return 1;
    }
    if (r != NETOPS_EADDR_ROOM)
        return fail_addr(L, s, n, (int)r);
    struct netops_addr a;           /* a zone too long for out */
    netops_addr_parse_ex(s, n, &a);
    push_addr(L, &a, s);
    return 1;
}

/*** pton(text): 4- or 16-byte string, or nil, message (no zone, no prefix). */
static int l_pton(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    unsigned char b[16];
    int r = netops_addr_parse(s, n, b);
    if (r < 0)
        return fail_addr(L, s, n, r);
    lua_pushlstring(L, (const char *)b, r == 4 ? 4 : 16);
    return 1;
}

/*** ntop(bytes): canonical text; raises unless #bytes is 4 or 16. */
static int l_ntop(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char out[NETOPS_ADDR_MAX];
    if (n != 4 && n != 16)
        return luaL_argerror(L, 1, lua_pushfstring(L, "address must be 4 or 16 bytes, got %d",
                                                   (int)(n > 1000 ? 1000 : n)));
    size_t len = netops_addr_format((const unsigned char *)s, n == 4 ? 4 : 6, out);
    lua_pushlstring(L, out, len);
    return 1;
}

static int same_zone(const struct netops_addr *a, const char *sa,
                     const struct netops_addr *b, const char *sb)
{
    return a->zone_len == b->zone_len &&
           memcmp(sa + a->zone_off, sb + b->zone_off, a->zone_len) == 0;
}

/*** equal(a, b): true when both are valid and the same address, prefix and zone. */
static int l_equal(lua_State *L)
{
    size_t na, nb;
    const char *sa = luaL_checklstring(L, 1, &na);
    const char *sb = luaL_checklstring(L, 2, &nb);
    struct netops_addr a, b;
    int ra = netops_addr_parse_ex(sa, na, &a);
    int rb = netops_addr_parse_ex(sb, nb, &b);
    lua_pushboolean(L, ra > 0 && ra == rb && a.prefix == b.prefix &&
                           memcmp(a.bytes, b.bytes, ra == 4 ? 4 : 16) == 0 &&
                           same_zone(&a, sa, &b, sb));
    return 1;
}

/*** family(text): 4 or 6, or nil, message. */
static int l_family(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    struct netops_addr a;
    int r = netops_addr_parse_ex(s, n, &a);
    if (r < 0)
        return fail_addr(L, s, n, r);
    lua_pushinteger(L, r);
    return 1;
}

/*** network(text): the canonical network of address/prefix, or nil, message. */
static int l_network(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    struct netops_addr a;
    int r = netops_addr_parse_ex(s, n, &a);
    if (r >= 0 && a.prefix < 0)
        r = NETOPS_EADDR_NOPREFIX;
    if (r < 0)
        return fail_addr(L, s, n, r);
    netops_addr_mask(a.bytes, a.family, a.prefix);
    push_addr(L, &a, s);
    return 1;
}

/*** contains(network, address): boolean, or nil, message when either is invalid. */
static int l_contains(lua_State *L)
{
    size_t nn, na;
    const char *sn = luaL_checklstring(L, 1, &nn);
    const char *sa = luaL_checklstring(L, 2, &na);
    struct netops_addr net, a;
    int rn = netops_addr_parse_ex(sn, nn, &net);
    if (rn < 0)
        return fail_addr(L, sn, nn, rn);
    int ra = netops_addr_parse_ex(sa, na, &a);
    if (ra < 0)
        return fail_addr(L, sa, na, ra);
    int width = rn == 4 ? 32 : 128;
    int np = net.prefix < 0 ? width : net.prefix;
    int ap = a.prefix < 0 ? width : a.prefix;
    int in = rn == ra && ap >= np && (!net.zone_len || !a.zone_len || same_zone(&net, sn, &a, sa));
    if (in) {
        netops_addr_mask(net.bytes, rn, np);
        netops_addr_mask(a.bytes, ra, np);
        in = memcmp(net.bytes, a.bytes, rn == 4 ? 4 : 16) == 0;
    }
    lua_pushboolean(L, in);
    return 1;
}

/* Rewrite s[0..n) into b. */
static void rewrite_into(luaL_Buffer *b, const char *s, size_t n)
{
    size_t pos = 0, done = 0, start, end, clen;
    char canon[NETOPS_ADDR_MAX];
    while (netops_rewrite_next(s, n, &pos, &start, &end, canon, &clen)) {
        luaL_addlstring(b, s + done, start - done);
        luaL_addlstring(b, canon, clen);
        done = end;
    }
    luaL_addlstring(b, s + done, n - done);
}

/*** rewrite(text): text with every address in canonical form, all else untouched. */
static int l_rewrite(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    rewrite_into(&b, s, n);
    luaL_pushresult(&b);
    return 1;
}

/* Bytes of s[0..n) up to and including the last newline (all when final). */
static size_t complete_lines(const char *s, size_t n, int final)
{
    if (final)
        return n;
    const char *nl = memrchr(s, '\n', n);
    return nl ? (size_t)(nl - s) + 1 : 0;
}

/*** rewrite_lines(text [, final]): output, consumed (the complete lines only). */
static int l_rewrite_lines(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    size_t used = complete_lines(s, n, lua_toboolean(L, 2));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    rewrite_into(&b, s, used);
    luaL_pushresult(&b);
    lua_pushinteger(L, (lua_Integer)used);
    return 2;
}

#define INVALID_PREFIX "Invalid address "

/*
 * normalize_lines(text [, final]): output, consumed, invalid.  One output
 * line per complete input line: the canonical text, or "Invalid address
 * <line>".  The bytes after the last newline are left for the next call
 * unless final is true.
 */
static int l_normalize_lines(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    int final = lua_toboolean(L, 2);
    size_t i = 0;
    lua_Integer bad = 0;
    luaL_Buffer b;
    luaL_buffinitsize(L, &b, n + n / 8 + 256);   /* about the output's size: no regrowth */
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t len;
        if (nl)
            len = (size_t)(nl - (s + i));
        else if (final)
            len = n - i;
        else
            break;
        size_t room = len + NETOPS_ADDR_MAX + sizeof INVALID_PREFIX;
        char *out = luaL_prepbuffsize(&b, room);
        long r = netops_addr_normalize(s + i, len, out, room);
        if (r >= 0) {
            out[r] = '\n';
            luaL_addsize(&b, (size_t)r + 1);
        } else {
            memcpy(out, INVALID_PREFIX, sizeof INVALID_PREFIX - 1);
            memcpy(out + sizeof INVALID_PREFIX - 1, s + i, len);
            out[sizeof INVALID_PREFIX - 1 + len] = '\n';
            luaL_addsize(&b, sizeof INVALID_PREFIX + len);
            bad++;
        }
        i += len + (nl != NULL);
    }
    luaL_pushresult(&b);
    lua_pushinteger(L, (lua_Integer)i);
    lua_pushinteger(L, bad);
    return 3;
}

/*
 * _readsome(file, max): up to max bytes of an io file, as soon as any are
 * there: one read(2) on its descriptor, so a pipe (tail -f | normalize
 * --rewrite) is answered block by block instead of waiting for 64 KiB.
 * nil at end of file; nil, message, errno on a read error.  For files not
 * read through stdio before (stdio's buffer would be bypassed).
 */
static int l_readsome(lua_State *L)
{
    luaL_Stream *st = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    size_t max = (size_t)luax_checkrange(L, 2, 1, (lua_Integer)1 << 30);
    if (st->closef == NULL)
        return luaL_argerror(L, 1, "attempt to use a closed file");
    int fd = fileno(st->f);
    luaL_Buffer b;
    char *buf = luaL_buffinitsize(L, &b, max);
    ssize_t r;
    do
        r = read(fd, buf, max);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int err = errno;
        return luax_fail(L, err, "read: %s", strerror(err));
    }
    if (r == 0) {
        lua_pushnil(L);
        return 1;
    }
    luaL_pushresultsize(&b, (size_t)r);
    return 1;
}

static const luaL_Reg inet_funcs[] = {
    {"_readsome", l_readsome},
    {"normalize", l_normalize},
    {"pton", l_pton},
    {"ntop", l_ntop},
    {"equal", l_equal},
    {"family", l_family},
    {"network", l_network},
    {"contains", l_contains},
    {"rewrite", l_rewrite},
    {"rewrite_lines", l_rewrite_lines},
    {"normalize_lines", l_normalize_lines},
    {NULL, NULL},
};

void netops_open_inet(lua_State *L)
{
    luaL_newlib(L, inet_funcs);
    lua_pushinteger(L, NETOPS_ADDR_MAX);
    lua_setfield(L, -2, "ADDR_MAX");
    lua_setfield(L, -2, "inet");
}
