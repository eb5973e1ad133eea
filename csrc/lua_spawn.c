/* lua_spawn.c - core.spawn, the process handle "netops.Process", core.sleep. */

/***
 * The C core: the functions only C defines.  `require "netops"` re-exports
 * spawn, probe and sleep; the rest is `netops.core`.  Misuse raises; a
 * failure of the world returns `nil, message, errno_or_class`.
 * @module netops.core
 */
#include "luax.h"
#include "signals.h"
#include "spawn.h"
#include "clock.h"
#include "trust.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROCESS "netops.Process"

/* A signal's name as netops.signals names it ("SIGTERM", "SIGRTMIN+1"). */
static void push_signame(lua_State *L, int sig)
{
    char buf[SIG_NAME_MAX];
    if (netops_sig_name(sig, buf))
        lua_pushstring(L, buf);
    else
        lua_pushfstring(L, "SIG%d", sig);
}

/* A signal given as a number or as netops.signals.number takes it ("TERM",
 * "SIGTERM", "term", "RTMIN+1"); raises on anything else. */
static int check_signal(lua_State *L, int arg)
{
    if (lua_type(L, arg) == LUA_TNUMBER)
        return (int)luax_checkrange(L, arg, 0, NSIG - 1);
    size_t len;
    const char *s = luax_checkcstring(L, arg, &len);
    int sig = netops_sig_number(s, len);
    if (sig == 0)
        return luaL_argerror(L, arg, lua_pushfstring(L, "unknown signal '%s'", s));
    return sig;
}

/* The lowest-numbered signal in a mask of 1 << signo, pushed as a name or nil. */
static void push_sigmask(lua_State *L, unsigned mask)
{
    for (int s = 1; s < 32; s++) {
        if (mask & (1u << s)) {
            push_signame(L, s);
            return;
        }
    }
    lua_pushnil(L);
}

static struct netops_spawn_proc *checkproc(lua_State *L)
{
    struct netops_spawn_proc *p = luaL_checkudata(L, 1, PROCESS);
    if (p->pid == 0)
        luaL_error(L, "attempt to use a closed process handle");
    return p;
}

/*
 * A stdio option: "inherit", "null" (and for stderr "tee", "capture"), or an
 * open Lua file, whose fd goes to *fd.  Leaves the stack as it was.
 */
static enum netops_spawn_stdio stdio_field(luax_Fields *r, const char *k, int *fd, int tee_ok)
{
    static const char *const modes[] = { "inherit", "null", "tee", "capture", NULL };
    static const enum netops_spawn_stdio mode_of[] = { SPAWN_INHERIT, SPAWN_NULL, SPAWN_TEE,
                                                SPAWN_CAPTURE };
    int i;
    if (luax_fieldtype(r, k) == LUA_TSTRING) {
        luax_optionfield(r, k, modes, &i);
        if (!tee_ok && mode_of[i] != SPAWN_INHERIT && mode_of[i] != SPAWN_NULL)
            luax_fielderror(r, "%s%s must be \"inherit\", \"null\" or a file", r->path, k);
        return mode_of[i];
    }
    if (lua_getfield(r->L, r->t, k) == LUA_TNIL) {
        lua_pop(r->L, 1);
        return SPAWN_INHERIT;
    }
    luaL_Stream *f = luaL_testudata(r->L, -1, LUA_FILEHANDLE);
    *fd = f && f->closef && f->f ? fileno(f->f) : -1;
    lua_pop(r->L, 1);           /* the file stays anchored by opts */
    if (*fd < 0)
        luax_fielderror(r, "%s%s must be a mode string or an open file", r->path, k);
    return SPAWN_FD;
}

/*
 * The env entry under lua_next's key and value as one "NAME=value" string,
 * pushed; raises on anything else: a name that is empty or holds '=', a
 * list entry without '=', a NUL byte anywhere (C would cut the entry).
 */
static void push_env_entry(luax_Fields *r)
{
    lua_State *L = r->L;
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
        const char *name = luax_tocstring(L, -2, "opts.env name");
        const char *value = luax_tocstring(L, -1, "opts.env value");
        if (*name == 0 || strchr(name, '='))
            luax_fielderror(r, "opts.env name '%s' must be non-empty and without '='", name);
        lua_pushfstring(L, "%s=%s", name, value);
    } else if (lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TSTRING) {
        const char *entry = luax_tocstring(L, -1, "opts.env entry");
        const char *eq = strchr(entry, '=');
        if (!eq || eq == entry)
            luax_fielderror(r, "opts.env: \"NAME=value\" expected, got '%s'", entry);
        lua_pushvalue(L, -1);
    } else {
        luax_fielderror(r, "opts.env: NAME = \"value\" or \"NAME=value\" entries expected");
    }
}

/* The strings of envp and envp itself, anchored in the table at index anchor. */
struct env_reader {
    int anchor;
    char **envp;
};

/* luax_tablefield's reader of opts.env: builds the NULL-terminated envp. */
static int read_env(luax_Fields *r, void *ud)
{
    struct env_reader *e = ud;
    lua_State *L = r->L;
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, r->t)) {
        push_env_entry(r);
        lua_rawseti(L, e->anchor, ++k);
        lua_pop(L, 1);
        if (k > 100000)
            return luax_fielderror(r, "opts.env: too many entries");
    }
    e->envp = lua_newuserdatauv(L, sizeof(char *) * (size_t)(k + 1), 0);
    for (int i = 1; i <= k; i++) {
        lua_rawgeti(L, e->anchor, i);
        e->envp[i - 1] = (char *)lua_tostring(L, -1);   /* anchored */
        lua_pop(L, 1);
    }
    e->envp[k] = NULL;
    lua_rawseti(L, e->anchor, 0);       /* anchor envp itself */
    return 1;
}

/* The options of spawn, with the strings they point to. */
struct spawn_args {
    struct netops_spawn_opts o;
    char cwd[4096];
};

static const char *const spawn_keys[] = {
    "env", "cwd", "stdin", "stdout", "stderr", "timeout", "grace",
};

/*
 * Read opts (argument 2, nil or a table) into a; env strings are anchored
 * in the table at index anchor.  Misuse raises, naming the field.
 */
static void spawn_options(lua_State *L, int anchor, struct spawn_args *a)
{
    struct env_reader env = { anchor, NULL };
    luax_Fields r;
    a->o.grace = 5;
    if (lua_isnil(L, 2))
        return;
    luax_fields(&r, L, 2, 2, "opts.", NULL, 0);
    luax_checkfieldnames(&r, spawn_keys, sizeof spawn_keys / sizeof spawn_keys[0]);
    if (luax_tablefield(&r, "env", read_env, &env) == 1)
        a->o.envp = env.envp;
    if (luax_strfield(&r, "cwd", a->cwd, sizeof a->cwd, NULL) == 1)
        a->o.cwd = a->cwd;
    a->o.in = stdio_field(&r, "stdin", &a->o.in_fd, 0);
    a->o.out = stdio_field(&r, "stdout", &a->o.out_fd, 0);
    a->o.err = stdio_field(&r, "stderr", &a->o.err_fd, 1);
    luax_numfield(&r, "timeout", 0, 1e9, &a->o.timeout);
    luax_numfield(&r, "grace", 0, 1e9, &a->o.grace);
}

/* argv (argument 1) as a NULL-terminated array in a userdata it pushes; the
 * strings stay anchored by the argv table. */
static char **check_argv(lua_State *L)
{
    lua_Integer n = luaL_len(L, 1);
    if (n < 1)
        luaL_argerror(L, 1, "argv must hold the program name and its arguments");
    if (n > 100000)
        luaL_argerror(L, 1, "argv too long");
    char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 1, i) != LUA_TSTRING)
            luaL_argerror(L, 1, lua_pushfstring(L, "argv[%I] must be a string", i));
        if (lua_rawlen(L, -1) != strlen(lua_tostring(L, -1)))
            luaL_argerror(L, 1, lua_pushfstring(L, "argv[%I] contains a NUL byte", i));
        argv[i - 1] = (char *)lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    argv[n] = NULL;
    return argv;
}

/***
 * Start a program from an argument vector (never a shell).
 * @function spawn
 * @tparam {string,...} argv the program (searched in PATH) and its arguments
 * @tparam[opt] table opts `env` (a table NAME = "value" or a list of
 *   "NAME=value"; default: inherit), `cwd`, `stdin`, `stdout` ("inherit",
 *   "null" or an open file), `stderr` (those, "tee": copy to ours and keep
 *   the tail, or "capture": keep the tail only), `timeout` (seconds: SIGTERM
 *   after it, 0 = none) and `grace` (seconds from SIGTERM to SIGKILL, default
 *   5).  Unknown keys raise.
 * @treturn[1] Process the running child
 * @return[2] nil
 * @treturn[2] string "spawn PROGRAM: reason"
 * @treturn[2] int errno
 * @raise on a bad argv or option
 */
static int l_spawn(lua_State *L)
{
    struct spawn_args a;
    char err[512];
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    memset(&a, 0, sizeof a);
    a.o.argv = check_argv(L);                           /* 3 */
    lua_newtable(L);                                    /* 4: anchors env strings */
    spawn_options(L, 4, &a);
    struct netops_spawn_proc *p = lua_newuserdatauv(L, sizeof *p, 0);
    memset(p, 0, sizeof *p);
    luaL_setmetatable(L, PROCESS);
    int e = netops_spawn_start(p, &a.o, err, sizeof err);
    if (e) {
        p->pid = 0;                         /* nothing to release */
        return luax_fail(L, e, "spawn %s", err);
    }
    return 1;
}

static void push_result(lua_State *L, struct netops_spawn_proc *p)
{
    lua_createtable(L, 0, 9);
    if (p->status == SPAWN_RUNNING) {
        lua_pushliteral(L, "timeout");
        lua_setfield(L, -2, "status");
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "running");
        lua_pushnumber(L, netops_clock_now() - p->started);
        lua_setfield(L, -2, "elapsed");
    } else {
        if (p->timed_out)
            lua_pushliteral(L, "timeout");
        else if (p->status == SPAWN_EXITED)
            lua_pushliteral(L, "exited");
        else
            lua_pushliteral(L, "signaled");
        lua_setfield(L, -2, "status");
        if (p->status == SPAWN_EXITED) {
            lua_pushinteger(L, p->code);
            lua_setfield(L, -2, "code");
        } else {
            lua_pushinteger(L, p->sig);
            lua_setfield(L, -2, "signal");
            push_signame(L, p->sig);
            lua_setfield(L, -2, "signal_name");
        }
        lua_pushnumber(L, p->ended - p->started);
        lua_setfield(L, -2, "elapsed");
        lua_pushnumber(L, p->utime);
        lua_setfield(L, -2, "user");
        lua_pushnumber(L, p->stime);
        lua_setfield(L, -2, "system");
    }
    char buf[SPAWN_TAIL];
    size_t n = netops_spawn_tail(p, buf);
    lua_pushlstring(L, buf, n);
    lua_setfield(L, -2, "stderr_tail");
    push_sigmask(L, p->interrupted);
    lua_setfield(L, -2, "interrupted");
    push_sigmask(L, p->forwarded);
    lua_setfield(L, -2, "forwarded");
    lua_pushinteger(L, p->pid);
    lua_setfield(L, -2, "pid");
}

/***
 * Wait for the child to end, forwarding SIGTERM and SIGHUP to it and
 * enforcing its own `timeout` meanwhile.
 * @function Process:wait
 * @tparam[opt] number timeout seconds to wait (default: until it ends)
 * @treturn[1] table `status` ("exited", "signaled", "timeout"), `code` or
 *   `signal` and `signal_name`, `elapsed`, `user`, `system` (CPU seconds),
 *   `stderr_tail`, `interrupted` and `forwarded` (signal names or nil), `pid`;
 *   while it still runs: `status` "timeout", `running` true, `elapsed`
 * @return[2] nil
 * @treturn[2] string "wait for process PID: reason"
 * @treturn[2] int errno
 */
static int l_wait(lua_State *L)
{
    struct netops_spawn_proc *p = checkproc(L);
    double t = lua_isnoneornil(L, 2) ? -1 : luax_checkseconds(L, 2);
    int ended;
    int e = netops_spawn_wait(p, t, &ended);
    if (e != 0 && p->status == SPAWN_RUNNING)
        return luax_fail(L, e, "wait for process %d: %s", (int)p->pid, strerror(e));
    push_result(L, p);
    return 1;
}

/***
 * Send a signal to the child.
 * @function Process:kill
 * @tparam[opt="TERM"] int|string sig a number or a name ("TERM", "SIGTERM", "RTMIN+1")
 * @treturn[1] boolean true
 * @return[2] nil
 * @treturn[2] string "kill process PID: it has ended" or the reason
 * @treturn[2] int errno (ESRCH when it has ended)
 * @raise on an unknown signal name
 */
static int l_kill(lua_State *L)
{
    struct netops_spawn_proc *p = checkproc(L);
    int sig = lua_isnoneornil(L, 2) ? SIGTERM : check_signal(L, 2);
    int e = netops_spawn_kill(p, sig);
    if (e)
        return luax_fail(L, e, "kill process %d: %s", (int)p->pid,
                         e == ESRCH ? "it has ended" : strerror(e));
    lua_pushboolean(L, 1);
    return 1;
}

/***
 * Release the handle: a child still running is killed (SIGKILL) and reaped.
 * Idempotent; also `__gc` and `__close` (`local p <close> = ...`).
 * Fields: `p.pid` (raises once closed), `p.running`.
 * @function Process:close
 */
static int l_close(lua_State *L)
{
    struct netops_spawn_proc *p = luaL_checkudata(L, 1, PROCESS);
    if (p->pid != 0) {
        netops_spawn_release(p);
        p->pid = 0;
    }
    return 0;
}

static int l_index(lua_State *L)
{
    struct netops_spawn_proc *p = luaL_checkudata(L, 1, PROCESS);
    const char *k = lua_tostring(L, 2);
    if (k && strcmp(k, "pid") == 0) {
        if (p->pid == 0)
            return luaL_error(L, "attempt to use a closed process handle");
        lua_pushinteger(L, p->pid);
        return 1;
    }
    if (k && strcmp(k, "running") == 0) {
        lua_pushboolean(L, p->pid != 0 && p->status == SPAWN_RUNNING);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_gettable(L, lua_upvalueindex(1));
    return 1;
}

static int l_tostring(lua_State *L)
{
    struct netops_spawn_proc *p = luaL_checkudata(L, 1, PROCESS);
    if (p->pid == 0)
        lua_pushliteral(L, "netops.Process (closed)");
    else
        lua_pushfstring(L, "netops.Process (pid %d)", (int)p->pid);
    return 1;
}

/***
 * Sleep on the monotonic clock; SIGINT, SIGTERM and SIGHUP end it early.
 * @function sleep
 * @tparam number seconds 0..1e9
 * @treturn[1] nil after the full time
 * @treturn[2] string the name of the signal that ended it early ("SIGTERM")
 * @raise on a negative or non-finite number
 */
static int l_sleep(lua_State *L)
{
    double s = luax_checkseconds(L, 1);
    int sig = netops_clock_sleep(s, NETOPS_SLEEP_INTERRUPTIBLE);
    if (sig == 0)
        return 0;
    push_signame(L, sig);
    return 1;
}

/***
 * The monotonic clock (the one netops waits and times with).
 * @function monotime
 * @treturn number seconds, a float
 */
static int l_monotime(lua_State *L)
{
    lua_pushnumber(L, netops_clock_now());
    return 1;
}

/***
 * Is the fd a terminal?
 * @function isatty
 * @tparam int fd
 * @treturn boolean
 */
static int l_isatty(lua_State *L)
{
    int fd = (int)luax_checkrange(L, 1, 0, 1 << 30);
    lua_pushboolean(L, isatty(fd));
    return 1;
}

/* Push nil, the message for a refused policy or directory, "insecure". */
static int push_refusal(lua_State *L, const char *path, const struct netops_trust_refusal *r)
{
    char mode[16];
    snprintf(mode, sizeof mode, "%04o", r->mode);
    const char *fix = strstr(r->why, "owned") ? "; fix: chown root " :
                      strstr(r->why, "writable") ? "; fix: chmod go-w " : "";
    const char *on = *fix ? r->what : "";
    if (r->is_dir)
        return luax_failclass(L, "insecure", "%s: refused: directory %s is %s (mode %s, owner "
                              "uid %d)%s%s", path, r->what, r->why, mode, (int)r->uid, fix, on);
    return luax_failclass(L, "insecure", "%s: refused: %s (mode %s, owner uid %d)%s%s",
                          path, r->why, mode, (int)r->uid, fix, on);
}

/* Read the trusted file at path into a string on the stack; returns 1, or
 * pushes nil, message, errno_or_class and returns 3. */
static int read_trusted(lua_State *L, const char *path, size_t max)
{
    struct netops_trust_refusal r;
    int *held = luax_newfd(L);          /* closed by the caller's return */
    int err = netops_trust_open(path, geteuid(), held, &r);
    if (err && r.why)
        return push_refusal(L, path, &r);
    if (err)
        return luax_fail(L, err, "%s: %s", path, strerror(err));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char buf[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(*held, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            return luax_fail(L, e, "%s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        total += (size_t)n;
        if (total > max)
            return luax_failclass(L, "too_big", "%s: larger than %d bytes", path, (int)max);
        luaL_addlstring(&b, buf, (size_t)n);
    }
    luaL_pushresult(&b);
    return 1;
}

/***
 * Read a file an operator edits (a policy), refusing an insecure one.
 * @function read_trusted
 * @tparam string path
 * @tparam[opt=1048576] int maxbytes 1..64 MiB
 * @treturn[1] string its text
 * @return[2] nil
 * @treturn[2] string "PATH: reason" (with the fix, for a refusal)
 * @treturn[2] int|string errno, or class "insecure" or "too_big"
 *
 * Reads a file an operator edits (a policy), refusing it with class
 * "insecure" by the rules of trust.h: the opened file (one open, fstat of
 * that fd, the text read from the same fd) is a regular file owned by root
 * or the caller, not writable by group or others; every directory above it,
 * as given and as resolved, is owned by root or the caller and not writable
 * by group or others unless sticky.
 */
static int l_read_trusted(lua_State *L)
{
    const char *path = luax_checkcstring(L, 1, NULL);
    size_t max = (size_t)luax_optrange(L, 2, 1, 64 << 20, 1 << 20);
    return read_trusted(L, path, max);
}

/***
 * Load a policy file: the text read_trusted checked, compiled as
 * `load(text, "@"..path, "t", env)`.
 * @function load_trusted
 * @tparam string path
 * @tparam[opt] table env the chunk's environment
 * @treturn[1] function the chunk
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int|string errno, or class "insecure", "too_big" or "syntax"
 *
 * The one loader of policies: the text read_trusted checked, compiled as
 * load(text, "@"..path, "t", env).  A syntax error has class "syntax".
 */
static int l_load_trusted(lua_State *L)
{
    size_t len;
    const char *path = luax_checkcstring(L, 1, NULL);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    int n = read_trusted(L, path, 1 << 20);
    if (n != 1)
        return n;
    const char *text = lua_tolstring(L, -1, &len);
    lua_pushfstring(L, "@%s", path);
    if (luaL_loadbufferx(L, text, len, lua_tostring(L, -1), "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        lua_pushstring(L, "syntax");
        return 3;
    }
    if (!lua_isnil(L, 2)) {
        lua_pushvalue(L, 2);
        if (!lua_setupvalue(L, -2, 1))
            lua_pop(L, 1);
    }
    return 1;
}

void netops_open_spawn(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "wait", l_wait },
        { "kill", l_kill },
        { NULL, NULL },
    };
    static const luaL_Reg metamethods[] = {
        { "__index", l_index },
        { "__tostring", l_tostring },
        { NULL, NULL },
    };
    luax_newclass(L, PROCESS, methods, metamethods, l_close);
    lua_pushcfunction(L, l_spawn);
    lua_setfield(L, -2, "spawn");
    lua_pushcfunction(L, l_sleep);
    lua_setfield(L, -2, "sleep");
    lua_pushcfunction(L, l_monotime);
    lua_setfield(L, -2, "monotime");
    lua_pushcfunction(L, l_isatty);
    lua_setfield(L, -2, "isatty");
    lua_pushcfunction(L, l_read_trusted);
    lua_setfield(L, -2, "read_trusted");
    lua_pushcfunction(L, l_load_trusted);
    lua_setfield(L, -2, "load_trusted");
}
