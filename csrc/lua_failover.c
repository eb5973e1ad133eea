/*
 * lua_failover.c - the failover runtime's primitives (core.failover): a lock
 * file that also holds the queue of notify calls, a liveness check.  The
 * clock and the sleep are core.monotime and core.sleep.
 *
 *   core.failover.lockfile(path) -> handle ("netops.LockFile")
 *                                 | nil, msg, errno | nil, msg, "insecure"
 *   lf:lock(timeout) -> true | nil, msg, "timeout"|errno ; lf:unlock()
 *   lf:read() -> text ; lf:write(text) -> true | nil, msg, errno
 *   core.failover.alive(pid [, starttime]) -> boolean
 *   core.failover.starttime(pid) -> integer | nil, msg, errno
 *   core.failover.pid() -> getpid()
 */
/***
 * The failover runtime's primitives, `core.failover`: the lock file (which
 * also holds the queue of notify calls) and the liveness of a pid.
 * @submodule netops.core
 */
#include "luax.h"
#include "lockfile.h"
#include "proc.h"
#include "trust.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LF_TYPE "netops.LockFile"

typedef struct {
    int fd;
    int locked;
    char path[];        /* for messages */
} LockFile;

static LockFile *check_lf(lua_State *L)
{
    LockFile *lf = luaL_checkudata(L, 1, LF_TYPE);
    if (lf->fd < 0)
        luaL_error(L, "attempt to use a closed lock file");
    return lf;
}

/***
 * Open (creating it, mode 0600) the lock file of the failover runtime.  It
 * must be a regular file of the caller's with mode 0600: anyone able to plant
 * or rewrite it could block or reorder every failover.
 * @function failover.lockfile
 * @tparam string path
 * @treturn[1] LockFile the handle (not locked yet)
 * @return[2] nil
 * @treturn[2] string "lock file PATH: reason"
 * @treturn[2] int|string errno, or "insecure" when the file's owner or mode is refused
 * @raise on a path with a NUL byte
 */
/*
 * The lock file (and the queue in it) decides which call runs: it must be a
 * regular file owned by the caller with mode 0600, or anyone able to plant
 * or rewrite it could block or reorder every failover.
 */
static int l_lockfile(lua_State *L)
{
    size_t len;
    const char *path = luax_checkcstring(L, 1, &len);
    LockFile *lf = lua_newuserdatauv(L, sizeof *lf + len + 1, 0);
    lf->fd = -1;
    lf->locked = 0;
    memcpy(lf->path, path, len + 1);
    luaL_setmetatable(L, LF_TYPE);
    int e = netops_lockfile_open(path, &lf->fd);
    if (e)
        return luax_fail(L, e, "lock file %s: %s", path, strerror(e));
    struct stat st;
    if (fstat(lf->fd, &st) < 0) {
        e = errno;
        return luax_fail(L, e, "lock file %s: %s", path, strerror(e));
    }
    const char *why = netops_trust_lock_why(&st, geteuid());
    if (why) {
        char mode[16];
        snprintf(mode, sizeof mode, "%04o", (unsigned)(st.st_mode & 07777));
        close(lf->fd);
        lf->fd = -1;
        return luax_failclass(L, "insecure", "lock file %s: refused: %s (mode %s, owner uid %d): "
                              "it must be a regular file of the caller's with mode 0600; "
                              "remove it if you did not create it", path, why, mode, (int)st.st_uid);
    }
    return 1;
}

/***
 * Take the exclusive lock (flock), waiting at most timeout.
 * @function LockFile:lock
 * @tparam[opt=60] number timeout seconds
 * @treturn[1] boolean true
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int|string errno, or "timeout" when another call still holds it
 */
static int l_lf_lock(lua_State *L)
{
    LockFile *lf = check_lf(L);
    double timeout = luax_optseconds(L, 2, 60.0);
    int e = netops_lockfile_lock(lf->fd, timeout);
    if (e == ETIMEDOUT)
        return luax_failclass(L, "timeout", "lock file %s: still held by another "
                              "call after %fs", lf->path, (lua_Number)timeout);
    if (e)
        return luax_fail(L, e, "lock file %s: flock: %s", lf->path, strerror(e));
    lf->locked = 1;
    lua_pushboolean(L, 1);
    return 1;
}

/***
 * Release the lock (nothing when not held).
 * @function LockFile:unlock
 */
static int l_lf_unlock(lua_State *L)
{
    LockFile *lf = check_lf(L);
    if (lf->locked)
        flock(lf->fd, LOCK_UN);
    lf->locked = 0;
    return 0;
}

/***
 * The whole content of the lock file (the queue).
 * @function LockFile:read
 * @treturn[1] string text
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
static int l_lf_read(lua_State *L)
{
    LockFile *lf = check_lf(L);
    luaL_Buffer b;
    off_t off = 0;
    luaL_buffinit(L, &b);
    for (;;) {
        char *p = luaL_prepbuffer(&b);
        ssize_t r = pread(lf->fd, p, LUAL_BUFFERSIZE, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            return luax_fail(L, e, "lock file %s: read: %s", lf->path, strerror(e));
        }
        if (r == 0)
            break;
        luaL_addsize(&b, (size_t)r);
        off += r;
    }
    luaL_pushresult(&b);
    return 1;
}

/***
 * Replace the content of the lock file (the queue) with text.
 * @function LockFile:write
 * @tparam string text
 * @treturn[1] boolean true
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
static int l_lf_write(lua_State *L)
{
    LockFile *lf = check_lf(L);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len), *op;
    int e = netops_lockfile_write(lf->fd, s, len, &op);
    if (e)
        return luax_fail(L, e, "lock file %s: %s: %s", lf->path, op, strerror(e));
    lua_pushboolean(L, 1);
    return 1;
}

/***
 * Close the file, releasing the lock.  Idempotent; also `__gc` and `__close`.
 * @function LockFile:close
 */
static int l_lf_close(lua_State *L)
{
    LockFile *lf = luaL_checkudata(L, 1, LF_TYPE);
    if (lf->fd >= 0)
        close(lf->fd);     /* releases the flock too */
    lf->fd = -1;
    lf->locked = 0;
    return 0;
}

/***
 * Whether a process runs, and, given its start time, is still the process
 * that had it (not another one that reused the pid).
 * @function failover.alive
 * @tparam int pid
 * @tparam[opt] int starttime as failover.starttime returned it
 * @treturn boolean
 */
/* alive(pid [, starttime]): the pid runs, and when a start time is given it
 * is still the process that had it (not another one that reused the pid). */
static int l_alive(lua_State *L)
{
    pid_t pid = (pid_t)luax_checkrange(L, 1, 1, 0x7fffffff);
    int alive = kill(pid, 0) == 0 || errno == EPERM;
    if (alive && !lua_isnoneornil(L, 2)) {
        lua_Integer want = luaL_checkinteger(L, 2);
        unsigned long long start;
        int e = netops_proc_starttime((int)pid, &start);
        if (e == 0)
            alive = (lua_Integer)start == want;
        else if (e == ESRCH || e == ENOENT)
            alive = 0;
    }
    lua_pushboolean(L, alive);
    return 1;
}

/***
 * The start time of a process (field 22 of /proc/PID/stat, in clock ticks).
 * @function failover.starttime
 * @tparam int pid
 * @treturn[1] int
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
static int l_starttime(lua_State *L)
{
    pid_t pid = (pid_t)luax_checkrange(L, 1, 1, 0x7fffffff);
    unsigned long long start;
    int e = netops_proc_starttime((int)pid, &start);
    if (e)
        return luax_fail(L, e, "/proc/%d/stat: %s", (int)pid, strerror(e));
    lua_pushinteger(L, (lua_Integer)start);
    return 1;
}

/***
 * The caller's pid (getpid).
 * @function failover.pid
 * @treturn int
 */
static int l_pid(lua_State *L)
{
    lua_pushinteger(L, getpid());
    return 1;
}

static const luaL_Reg lf_methods[] = {
    { "lock", l_lf_lock },
    { "unlock", l_lf_unlock },
    { "read", l_lf_read },
    { "write", l_lf_write },
    { NULL, NULL },
};

static const luaL_Reg failover_funcs[] = {
    { "lockfile", l_lockfile },
    { "alive", l_alive },
    { "starttime", l_starttime },
    { "pid", l_pid },
    { NULL, NULL },
};

void netops_open_failover(lua_State *L)
{
    luax_newclass(L, LF_TYPE, lf_methods, NULL, l_lf_close);
    luaL_newlib(L, failover_funcs);
    lua_setfield(L, -2, "failover");
}
