/*
 * lua_log.c - syslog(3) for Lua.
 *
 *   core.log.open(ident [, facility])   facility: "daemon" (default), "user",
 *                                        "local0".."local7", "authpriv"
 *   core.log.write(priority, message)   priority: "emerg".."debug"
 *   core.log.close()
 */
/***
 * syslog(3): `core.log`, what the failover runtime logs through.
 * @submodule netops.core
 */
#include "luax.h"

#include <string.h>
#include <syslog.h>

static const char *const prio_names[] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", NULL
};
static const int prio_values[] = {
    LOG_EMERG, LOG_ALERT, LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG
};
static const char *const fac_names[] = {
    "daemon", "user", "authpriv", "local0", "local1", "local2", "local3",
    "local4", "local5", "local6", "local7", NULL
};
static const int fac_values[] = {
    LOG_DAEMON, LOG_USER, LOG_AUTHPRIV, LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2,
    LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7
};

/* openlog keeps the ident pointer: keep our copy alive in static storage. */
static char ident_buf[64];

/***
 * Open the connection to syslog (openlog with LOG_PID).
 * @function log.open
 * @tparam string ident at most 63 bytes
 * @tparam[opt="daemon"] string facility "daemon", "user", "authpriv", "local0".."local7"
 * @raise on an unknown facility, an ident too long or with a NUL byte
 */
static int l_open(lua_State *L)
{
    size_t len;
    const char *ident = luax_checkcstring(L, 1, &len);
    int fac = fac_values[luaL_checkoption(L, 2, "daemon", fac_names)];
    if (len >= sizeof ident_buf)
        luaL_argerror(L, 1, "ident longer than 63 bytes");
    closelog();
    memcpy(ident_buf, ident, len + 1);
    openlog(ident_buf, LOG_PID | LOG_NDELAY, fac);   /* glibc opens it CLOEXEC */
    return 0;
}

/***
 * Log one message.
 * @function log.write
 * @tparam string priority "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"
 * @tparam string message
 * @raise on an unknown priority or a message with a NUL byte
 */
static int l_write(lua_State *L)
{
    int prio = prio_values[luaL_checkoption(L, 1, NULL, prio_names)];
    const char *msg = luax_checkcstring(L, 2, NULL);
    syslog(prio, "%s", msg);
    return 0;
}

/***
 * Close the connection to syslog.
 * @function log.close
 */
static int l_close(lua_State *L)
{
    (void)L;
    closelog();
    return 0;
}

static const luaL_Reg funcs[] = {
    { "open", l_open },
    { "write", l_write },
    { "close", l_close },
    { NULL, NULL },
};

void netops_open_log(lua_State *L)
{
    luaL_newlib(L, funcs);
    lua_setfield(L, -2, "log");
}
