/* lua_probe.c - core.probe: is a TCP service accepting (and talking SSH)? */

/***
 * netops.probe (core.probe): is a TCP service accepting connections?
 * @submodule netops.core
 */
#include "luax.h"
#include "probe.h"
#include "signals.h"
#include "spawn.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The name of the signal that interrupted a probe ("SIGINT"). */
static const char *signame(int sig, char buf[SIG_NAME_MAX])
{
    return netops_sig_name(sig, buf) ? buf : "signal";
}

/* The port argument: a number or a decimal string, 1..65535, as text. */
static void check_port(lua_State *L, int arg, char port[16])
{
    if (lua_type(L, arg) == LUA_TNUMBER) {
        snprintf(port, 16, "%d", (int)luax_checkrange(L, arg, 1, 65535));
        return;
    }
    const char *s = luax_checkcstring(L, arg, NULL);
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < 1 || v > 65535)
        luaL_argerror(L, arg, "port must be 1..65535");
    snprintf(port, 16, "%ld", v);
}

/* The options of a probe, with the banner prefix copied out of the table. */
struct probe_args {
    struct netops_probe_opts o;
    int interruptible;
    char banner[256];
};

static const char *const probe_keys[] = {
    "timeout", "stagger", "family", "banner", "interruptible",
};

/*
 * Read opts (argument arg, nil or a table) into a: misuse raises, naming
 * the field ("bad argument #3 to 'probe' (unknown opts field 'timout' ...)").
 */
static void probe_options(lua_State *L, int arg, struct probe_args *a)
{
    static const char *const families[] = { "any", "inet", "inet6", "4", "6", NULL };
    static const int family_of[] = { AF_UNSPEC, AF_INET, AF_INET6, AF_INET, AF_INET6 };
    luax_Fields r;
    int family, flag;
    memset(a, 0, sizeof *a);
    a->o.timeout = 5;
    a->o.stagger = 0.25;
    a->o.sigfd = -1;
    a->o.family = AF_UNSPEC;
    a->interruptible = 1;
    if (lua_isnoneornil(L, arg))
        return;
    luaL_checktype(L, arg, LUA_TTABLE);
    luax_fields(&r, L, arg, arg, "opts.", NULL, 0);
    luax_checkfieldnames(&r, probe_keys, sizeof probe_keys / sizeof probe_keys[0]);
    luax_numfield(&r, "timeout", 0, 1e9, &a->o.timeout);
    luax_numfield(&r, "stagger", 0, 1e9, &a->o.stagger);
    if (luax_optionfield(&r, "family", families, &family) == 1)
        a->o.family = family_of[family];
    if (luax_flagfield(&r, "interruptible", &flag))
        a->interruptible = flag;
    switch (luax_fieldtype(&r, "banner")) {
    case LUA_TNIL:
        break;
    case LUA_TBOOLEAN:          /* true: an SSH server ("SSH-"); false: none */
        luax_flagfield(&r, "banner", &flag);
        a->o.banner = flag ? "SSH-" : NULL;
        break;
    case LUA_TSTRING: {
        size_t len;
        luax_strfield(&r, "banner", a->banner, sizeof a->banner, &len);
        if (len == 0)
            luax_fielderror(&r, "opts.banner must not be empty");
        a->o.banner = a->banner;
        break;
    }
    default:
        luax_fielderror(&r, "opts.banner must be a prefix string or a boolean");
    }
}

/* Push true and the info table of a probe that succeeded; returns 2. */
static int push_info(lua_State *L, const struct netops_probe_result *r, int banner)
{
    lua_pushboolean(L, 1);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, r->addr);
    lua_setfield(L, -2, "address");
    lua_pushinteger(L, r->port);
    lua_setfield(L, -2, "port");
    lua_pushstring(L, r->family == AF_INET6 ? "inet6" : "inet");
    lua_setfield(L, -2, "family");
    lua_pushnumber(L, r->elapsed);
    lua_setfield(L, -2, "elapsed");
    if (banner) {
        lua_pushstring(L, r->banner);
        lua_setfield(L, -2, "banner");
    }
    return 2;
}

/***
 * Is a TCP service accepting connections (and talking SSH)?
 * Resolves `host` (every A and AAAA record, or one family), connects to the
 * addresses without blocking, staggered (RFC 8305), within one timeout.
 * @function probe
 * @tparam string host a name or an address literal (not empty)
 * @tparam int|string port 1..65535
 * @tparam[opt] table opts `timeout` (seconds, default 5, resolution included),
 *   `family` ("any", "inet", "inet6"), `banner` (a prefix such as "SSH-" to
 *   wait for, or true for "SSH-"), `stagger` (seconds between addresses,
 *   default 0.25), `interruptible` (default true: SIGINT, SIGTERM, SIGHUP end
 *   the probe with class "interrupted"; never while a child of spawn runs,
 *   whose wait forwards them).  Unknown keys raise.
 * @treturn[1] boolean true
 * @treturn[1] table `address`, `port`, `family` ("inet"/"inet6"), `elapsed`
 *   (seconds), `banner` (the identification line, when asked)
 * @return[2] nil
 * @treturn[2] string message naming host, port and reason
 * @treturn[2] string class: "refused", "unreachable", "timeout", "reset",
 *   "dns_permanent", "dns_transient" or "interrupted"
 * @treturn[2] string the signal's name, for class "interrupted"
 * @raise on a bad host, port or option (a typo in a key included)
 */
static int l_probe(lua_State *L)
{
    const char *host = luax_checkcstring(L, 1, NULL);
    char port[16];
    struct probe_args a;
    struct netops_probe_result r;
    check_port(L, 2, port);
    if (!*host)
        return luaL_argerror(L, 1, "empty host name");
    probe_options(L, 3, &a);
    /* with children running, their waits read (and forward) the signals */
    if (a.interruptible && netops_spawn_children() == 0)
        netops_spawn_guard_enter(&a.o.sigfd);      /* -1 on failure: not interruptible */
    int rc = netops_probe_run(host, port, &a.o, &r);
    if (a.o.sigfd >= 0)
        netops_spawn_guard_leave();
    if (rc == 0)
        return push_info(L, &r, a.o.banner != NULL);
    if (r.sig) {
        char buf[SIG_NAME_MAX];
        const char *name = signame(r.sig, buf);
        luax_failclass(L, r.cls, "probe %s port %s: interrupted by %s", host, port, name);
        lua_pushstring(L, name);
        return 4;
    }
    return luax_failclass(L, r.cls, "probe %s", r.msg);
}

void netops_open_probe(lua_State *L)
{
    lua_pushcfunction(L, l_probe);
    lua_setfield(L, -2, "probe");
}
