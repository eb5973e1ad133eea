/* lua_proc.c - core.proc: a task's signal masks, its threads, all pids. */
#include "luax.h"
#include "proc.h"
#include "signals.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* Largest status buffer tried (the file is ~1.5 KB; 8 KB is the first try). */
#define STATUS_BUF_LIMIT (1 << 20)

/* errno as the message's reason, in lower case: "permission denied". */
static const char *reason(int err, char *buf, size_t len)
{
    const char *s = strerror(err);
    size_t n = strlen(s);
    if (n >= len)
        n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

static void set_mask(lua_State *L, const struct proc_mask *m, const char *field)
{
    int small[256], *out = small;
    size_t cap = sizeof small / sizeof small[0];
    long n;
    if (m->len * 4 > cap) {
        cap = m->len * 4;
        out = lua_newuserdatauv(L, cap * sizeof *out, 0);
    }
    n = sig_mask_decode(m->hex, m->len, out, cap);
    lua_createtable(L, n > 0 ? (int)n : 0, 0);
    for (long i = 0; i < n; i++) {
        lua_pushinteger(L, out[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2 - (out != small), field);
    if (out != small)
        lua_pop(L, 1);
}

static void set_int(lua_State *L, const char *field, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, field);
}

/***
 * signals(pid [, tid]) -> { pid=, tid=, name=, state=, state_name=, ppid=,
 *   uid=, threads=, kernel=, pending={}, shared_pending={}, blocked={},
 *   ignored={}, caught={} }
 * | nil, "no such process 4242", ESRCH | nil, "/proc/4242/status: permission denied", EACCES
 */
static int l_signals(lua_State *L)
{
    int pid = (int)luax_checkrange(L, 1, 1, INT_MAX);
    int tid = (int)luax_optrange(L, 2, 1, INT_MAX, 0);
    char stackbuf[PROC_STATUS_BUF], *buf = stackbuf, why[96];
    size_t size = sizeof stackbuf;
    struct proc_status st;
    int err;

    while ((err = proc_read_status(pid, tid, buf, size, &st)) == EMSGSIZE
           && size < STATUS_BUF_LIMIT) {
        size *= 4;
        buf = lua_newuserdatauv(L, size, 0);   /* stays on the stack while used */
    }
    if (err == ESRCH && tid)
        return luax_fail(L, err, "no such thread %d in process %d", tid, pid);
    if (err == ESRCH)
        return luax_fail(L, err, "no such process %d", pid);
    if (err == EPROTO)
        return tid ? luax_fail(L, err, "/proc/%d/task/%d/status: no signal masks in it", pid, tid)
                   : luax_fail(L, err, "/proc/%d/status: no signal masks in it", pid);
    if (err == EMSGSIZE)
        return luax_fail(L, err, "/proc/%d/status: larger than %d bytes", pid, STATUS_BUF_LIMIT);
    if (err)
        return tid ? luax_fail(L, err, "/proc/%d/task/%d/status: %s", pid, tid,
                               reason(err, why, sizeof why))
                   : luax_fail(L, err, "/proc/%d/status: %s", pid, reason(err, why, sizeof why));

    lua_createtable(L, 0, 16);
    set_int(L, "pid", st.tgid > 0 ? st.tgid : pid);
    set_int(L, "tid", st.pid > 0 ? st.pid : (tid ? tid : pid));
    lua_pushlstring(L, st.name, st.name_len);
    lua_setfield(L, -2, "name");
    if (st.state) {
        lua_pushlstring(L, &st.state, 1);
        lua_setfield(L, -2, "state");
        lua_pushstring(L, st.state_text);
        lua_setfield(L, -2, "state_name");
    }
    if (st.ppid >= 0)
        set_int(L, "ppid", st.ppid);
    if (st.uid >= 0)
        set_int(L, "uid", st.uid);
    if (st.threads > 0)
        set_int(L, "threads", st.threads);
    if (st.kthread >= 0) {
        lua_pushboolean(L, st.kthread == 1);
        lua_setfield(L, -2, "kernel");
    }
    set_mask(L, &st.pending, "pending");
    set_mask(L, &st.shared_pending, "shared_pending");
    set_mask(L, &st.blocked, "blocked");
    set_mask(L, &st.ignored, "ignored");
    set_mask(L, &st.caught, "caught");
    return 1;
}

/* Push the ids list() returns as a table, growing the scratch array as needed;
 * or fail like luax_fail. */
static int push_ids(lua_State *L, long (*list)(int, int *, size_t), int arg)
{
    int small[1024], *out = small;
    size_t cap = sizeof small / sizeof small[0];
    long n;
    for (;;) {
        n = list(arg, out, cap);
        if (n < 0 || (size_t)n <= cap)
            break;
        cap = (size_t)n + 256;
        out = lua_newuserdatauv(L, cap * sizeof *out, 0);
    }
    if (n < 0) {
        char why[96];
        if (-n == ESRCH)
            return luax_fail(L, ESRCH, "no such process %d", arg);
        if (arg)
            return luax_fail(L, (int)-n, "/proc/%d/task: %s", arg, reason((int)-n, why, sizeof why));
        return luax_fail(L, (int)-n, "/proc: %s", reason((int)-n, why, sizeof why));
    }
    lua_createtable(L, (int)n, 0);
    for (long i = 0; i < n; i++) {
        lua_pushinteger(L, out[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static long all_pids(int unused, int *out, size_t cap)
{
    (void)unused;
    return proc_pids(out, cap);
}

/*** threads(pid) -> { tid, ... } ascending | nil, "no such process 4242", ESRCH */
static int l_threads(lua_State *L)
{
    int pid = (int)luax_checkrange(L, 1, 1, INT_MAX);
    return push_ids(L, proc_threads, pid);
}

/*** pids() -> { pid, ... } ascending | nil, "/proc: ...", errno */
static int l_pids(lua_State *L)
{
    return push_ids(L, all_pids, 0);
}

static const luaL_Reg funcs[] = {
    { "signals", l_signals },
    { "threads", l_threads },
    { "pids", l_pids },
    { NULL, NULL },
};

void netops_open_proc(lua_State *L)
{
    luaL_newlib(L, funcs);
    lua_pushinteger(L, ESRCH);          /* the errno of "no such process" */
    lua_setfield(L, -2, "ESRCH");
    lua_setfield(L, -2, "proc");
}
