/*
 * lua_inet.c - Lua bindings for inet.c: core.inet = { normalize, pton, ntop,
 * equal, family, network, contains, rewrite, normalize_lines, rewrite_lines }.
 * Invalid address text is a failure of the input: nil plus a message naming
 * the input and the reason.  Non-string arguments are misuse and raise.
 */
/***
 * The line reader of the streaming commands (`netops.LineReader`).
 * @submodule netops.inet
 */
#include "luax.h"
#include "inet.h"

#include <stdio.h>
#include <string.h>

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
    size_t len;
    int r = netops_addr_normalize(s, n, out, sizeof out, &len);
    if (r == 0) {
        if (len == n && memcmp(out, s, n) == 0)
            lua_pushvalue(L, 1);    /* canonical already: no new string */
        else
            lua_pushlstring(L, out, len);
        return 1;
    }
    if (r != NETOPS_EADDR_ROOM)
        return fail_addr(L, s, n, r);
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
    int fam;
    int r = netops_addr_parse(s, n, b, &fam);
    if (r != 0)
        return fail_addr(L, s, n, r);
    lua_pushlstring(L, (const char *)b, fam == 4 ? 4 : 16);
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
    lua_pushboolean(L, ra == 0 && rb == 0 && a.family == b.family && a.prefix == b.prefix &&
                           memcmp(a.bytes, b.bytes, a.family == 4 ? 4 : 16) == 0 &&
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
    if (r != 0)
        return fail_addr(L, s, n, r);
    lua_pushinteger(L, a.family);
    return 1;
}

/*** network(text): the canonical network of address/prefix, or nil, message. */
static int l_network(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    struct netops_addr a;
    int r = netops_addr_parse_ex(s, n, &a);
    if (r == 0 && a.prefix < 0)
        r = NETOPS_EADDR_NOPREFIX;
    if (r != 0)
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
    if (rn != 0)
        return fail_addr(L, sn, nn, rn);
    int ra = netops_addr_parse_ex(sa, na, &a);
    if (ra != 0)
        return fail_addr(L, sa, na, ra);
    int width = net.family == 4 ? 32 : 128;
    int np = net.prefix < 0 ? width : net.prefix;
    int ap = a.prefix < 0 ? width : a.prefix;
    int in = net.family == a.family && ap >= np && (!net.zone_len || !a.zone_len || same_zone(&net, sn, &a, sa));
    if (in) {
        netops_addr_mask(net.bytes, net.family, np);
        netops_addr_mask(a.bytes, a.family, np);
        in = memcmp(net.bytes, a.bytes, net.family == 4 ? 4 : 16) == 0;
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

/* A line copied as it is: blank, or a comment (first non-blank byte '#'). */
static int passthrough_line(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
        i++;
    return i == len || s[i] == '#';
}

/* One line (newline excluded) into b; its ending is "\r\n" when it ends in
 * CR, else "\n".  Returns 1 when it is no address, else 0. */
static int normalize_line(luaL_Buffer *b, const char *s, size_t len)
{
    if (passthrough_line(s, len)) {
        luaL_addlstring(b, s, len);
        luaL_addchar(b, '\n');
        return 0;
    }
    int crlf = len > 0 && s[len - 1] == '\r';
    len -= (size_t)crlf;
    size_t room = len + NETOPS_ADDR_MAX + sizeof INVALID_PREFIX + 1;
    char *out = luaL_prepbuffsize(b, room);
    size_t n;
    int r = netops_addr_normalize(s, len, out, room, &n);
    if (r != 0) {
        n = sizeof INVALID_PREFIX - 1 + len;
        memcpy(out, INVALID_PREFIX, sizeof INVALID_PREFIX - 1);
        memcpy(out + sizeof INVALID_PREFIX - 1, s, len);
    }
    if (crlf)
        out[n++] = '\r';
    out[n++] = '\n';
    luaL_addsize(b, n);
    return r != 0;
}

/*
 * normalize_lines(text [, final]): output, consumed, invalid.  One output
 * line per complete input line: the canonical text, or "Invalid address
 * <line>"; blank and comment lines as they are; CRLF kept.  The bytes after
 * the last newline are left for the next call unless final is true.
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
        bad += normalize_line(&b, s + i, len);
        i += len + (nl != NULL);
    }
    luaL_pushresult(&b);
    lua_pushinteger(L, (lua_Integer)i);
    lua_pushinteger(L, bad);
    return 3;
}

#define LINEREADER "netops.LineReader"
#define LINEREADER_BLOCK (64 * 1024)

typedef struct {
    struct netops_linebuf lb;
    int eof;
} LineReader;

/*
 * _linereader(file): a reader of complete lines from an io file, for the
 * streaming commands.  The pending partial line stays in C (see
 * netops_linebuf), so a long line from a pipe costs what it costs from a
 * file.  Reads the descriptor itself: for files not read through stdio
 * before (stdio's buffer would be bypassed).
 */
static int l_linereader(lua_State *L)
{
    luaL_checkudata(L, 1, LUA_FILEHANDLE);
    LineReader *r = lua_newuserdatauv(L, sizeof *r, 1);
    netops_linebuf_init(&r->lb);
    r->eof = 0;
    luaL_setmetatable(L, LINEREADER);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);        /* the file lives as long as the reader */
    return 1;
}

/* Push buf[0 .. n) and forget it. */
static int linereader_give(lua_State *L, LineReader *r, size_t n)
{
    lua_pushlstring(L, r->lb.buf, n);
    r->lb.copied += n;
    netops_linebuf_drop(&r->lb, n);
    return 1;
}

/***
 * One or more complete lines (each with its newline), as soon as one read(2)
 * brought a newline; at end of file the last line without a newline; nil
 * after that.
 * @function LineReader:read
 * @treturn[1] string|nil lines
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
/*
 * reader:read(): one or more complete lines (each with its newline), as soon
 * as one read(2) brought a newline; at end of file the last line without a
 * newline; nil after that; nil, message, errno on a read error.
 */
static int l_linereader_read(lua_State *L)
{
    LineReader *r = luaL_checkudata(L, 1, LINEREADER);
    lua_getiuservalue(L, 1, 1);
    luaL_Stream *st = luaL_testudata(L, -1, LUA_FILEHANDLE);
    if (!st || st->closef == NULL)
        return luaL_error(L, "line reader: its file is closed");
    int fd = fileno(st->f);
    while (r->lb.lines == 0 && !r->eof) {
        size_t got;
        int err = netops_linebuf_fill(&r->lb, fd, LINEREADER_BLOCK, &got);
        if (err)
            return luax_fail(L, err, "read: %s", strerror(err));
        r->eof = got == 0;
    }
    if (r->lb.lines > 0)
        return linereader_give(L, r, r->lb.lines);
    if (r->lb.len > 0)
        return linereader_give(L, r, r->lb.len);
    lua_pushnil(L);
    return 1;
}

/***
 * Bytes scanned and copied so far (for tests of the work done).
 * @function LineReader:stats
 * @treturn table `{ scanned =, copied = }`
 */
/* reader:stats(): { scanned =, copied = } bytes, for tests of the work done. */
static int l_linereader_stats(lua_State *L)
{
    LineReader *r = luaL_checkudata(L, 1, LINEREADER);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)r->lb.scanned);
    lua_setfield(L, -2, "scanned");
    lua_pushinteger(L, (lua_Integer)r->lb.copied);
    lua_setfield(L, -2, "copied");
    return 1;
}

/***
 * Free the buffer.  Idempotent; also `__gc` and `__close`.
 * @function LineReader:close
 */
static int l_linereader_close(lua_State *L)
{
    LineReader *r = luaL_checkudata(L, 1, LINEREADER);
    netops_linebuf_free(&r->lb);
    r->eof = 1;
    return 0;
}

static const luaL_Reg linereader_methods[] = {
    {"read", l_linereader_read},
    {"stats", l_linereader_stats},
    {NULL, NULL},
};

static const luaL_Reg inet_funcs[] = {
    {"_linereader", l_linereader},
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
    luax_newclass(L, LINEREADER, linereader_methods, NULL, l_linereader_close);
    luaL_newlib(L, inet_funcs);
    lua_pushinteger(L, NETOPS_ADDR_MAX);
    lua_setfield(L, -2, "ADDR_MAX");
    lua_setfield(L, -2, "inet");
}
