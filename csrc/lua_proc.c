/* lua_proc.c - core.proc: a task's signal masks, its threads, all pids. */
/***
 * The C side of netops.proc: `core.proc`.
 * @submodule netops.core
 */
#include "luax.h"
#include "proc.h"
#include "signals.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

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

static void set_mask(lua_State *L, const struct netops_proc_mask *m, const char *field)
{
    int small[256], *out = small;
    size_t cap = sizeof small / sizeof small[0], n = 0;
    if (m->len * 4 > cap) {
        cap = m->len * 4;
        out = lua_newuserdatauv(L, cap * sizeof *out, 0);
    }
    if (netops_sig_mask_decode(m->hex, m->len, out, cap, &n) != 0)
        n = 0;                          /* no mask: an empty list */
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
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

/*
 * Read the status of pid (tid 0: the process) into st, relative to
 * procfd when it is >= 0 (scans) or to a directory fd of /proc/PID, using buf (size
 * PROC_STATUS_BUF) or, for a bigger file, a userdata left on the stack
 * (*pushed says how many values).  Returns 0 or an errno.
 */
static int read_status(lua_State *L, int procfd, int pid, int tid, char *buf,
                       struct netops_proc_status *st, int *pushed)
{
    size_t size = PROC_STATUS_BUF;
    int err;
    *pushed = 0;
    while ((err = procfd >= 0 ? netops_proc_read_status_at(procfd, pid, buf, size, st)
                              : netops_proc_read_status(pid, tid, buf, size, st)) == EMSGSIZE
           && size < STATUS_BUF_LIMIT) {
        size *= 4;
        buf = lua_newuserdatauv(L, size, 0);   /* stays on the stack while used */
        ++*pushed;
    }
    return err;
}

/* Push the failure of read_status as luax_fail does (3 values). */
static int fail_status(lua_State *L, int err, int pid, int tid)
{
    char why[96];
    if (err == ESRCH && tid)
        return luax_fail(L, err, "no such thread %d in process %d", tid, pid);
    if (err == ESRCH)
        return luax_fail(L, err, "no such process %d", pid);
    if (err == EPROTO)
        return tid ? luax_fail(L, err, "/proc/%d/task/%d/status: no signal masks in it", pid, tid)
                   : luax_fail(L, err, "/proc/%d/status: no signal masks in it", pid);
    if (err == EMSGSIZE)
        return luax_fail(L, err, "/proc/%d/status: larger than %d bytes", pid, STATUS_BUF_LIMIT);
    return tid ? luax_fail(L, err, "/proc/%d/task/%d/status: %s", pid, tid,
                           reason(err, why, sizeof why))
               : luax_fail(L, err, "/proc/%d/status: %s", pid, reason(err, why, sizeof why));
}

/* Push the entry table of a parsed status (without uid and the mask lists
 * unless masks: the fields a scan from /proc/PID/stat can also give). */
static void push_entry(lua_State *L, const struct netops_proc_status *st, int pid, int tid, int masks)
{
    lua_createtable(L, 0, 16);
    set_int(L, "pid", st->tgid > 0 ? st->tgid : pid);
    set_int(L, "tid", st->pid > 0 ? st->pid : (tid ? tid : pid));
    lua_pushlstring(L, st->name, st->name_len);
    lua_setfield(L, -2, "name");
    if (st->state) {
        lua_pushlstring(L, &st->state, 1);
        lua_setfield(L, -2, "state");
        lua_pushstring(L, st->state_text);
        lua_setfield(L, -2, "state_name");
    }
    if (st->ppid >= 0)
        set_int(L, "ppid", st->ppid);
    if (st->uid >= 0 && masks)
        set_int(L, "uid", st->uid);
    if (st->threads > 0)
        set_int(L, "threads", st->threads);
    if (st->kthread >= 0) {
        lua_pushboolean(L, st->kthread == 1);
        lua_setfield(L, -2, "kernel");
    }
    if (!masks)
        return;
    set_mask(L, &st->pending, "pending");
    set_mask(L, &st->shared_pending, "shared_pending");
    set_mask(L, &st->blocked, "blocked");
    set_mask(L, &st->ignored, "ignored");
    set_mask(L, &st->caught, "caught");
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
    char buf[PROC_STATUS_BUF];
    struct netops_proc_status st;
    int pushed, err = read_status(L, -1, pid, tid, buf, &st, &pushed);
    if (err)
        return fail_status(L, err, pid, tid);
    push_entry(L, &st, pid, tid, 1);
    return 1;
}

/* The filters of scan(): signal numbers each mask must hold. */
struct want {
    int sigs[4][64];
    int n[4];
    int user;
    int masks;
};

/* A list of signal numbers, as luax_tablefield's reader: ud is a
 * struct sigs_reader, filled with at most 64 of them. */
struct sigs_reader {
    int *sigs;
    int *n;
};

static int read_sigs(luax_Fields *r, void *ud)
{
    struct sigs_reader *s = ud;
    lua_Integer len = luaL_len(r->L, r->t);
    if (len > 64)
        return luax_fielderror(r, "at most 64 signals per filter");
    for (lua_Integer i = 1; i <= len; i++) {
        int isnum;
        lua_geti(r->L, r->t, i);
        lua_Integer v = lua_tointegerx(r->L, -1, &isnum);
        lua_pop(r->L, 1);
        if (!isnum || v < 1 || v > 4 * SIG_MASK_MAX_DIGITS)
            return luax_fielderror(r, "filter entries must be signal numbers");
        s->sigs[(*s->n)++] = (int)v;
    }
    return 1;
}

static const char *const want_keys[] = {
    "ignored", "caught", "blocked", "pending", "user", "masks",
};

/* The filter (argument 1) into w; misuse, an unknown key included, raises. */
static void get_want(lua_State *L, struct want *w)
{
    luax_Fields r;
    luaL_checktype(L, 1, LUA_TTABLE);
    luax_fields(&r, L, 1, 1, "filter.", NULL, 0);
    luax_checkfieldnames(&r, want_keys, sizeof want_keys / sizeof want_keys[0]);
    for (int f = 0; f < 4; f++) {
        struct sigs_reader s = { w->sigs[f], &w->n[f] };
        w->n[f] = 0;
        luax_tablefield(&r, want_keys[f], read_sigs, &s);
    }
    luax_flagfield(&r, "user", &w->user);
    if (!luax_flagfield(&r, "masks", &w->masks))
        w->masks = 1;
}

/* Whether every filter signal is one /proc/PID/stat shows (1..31) and no
 * mask list is wanted: then a scan can read stat instead of status. */
static int stat_will_do(const struct want *w)
{
    if (w->masks || w->n[3] > 0)
        return 0;
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < w->n[f]; i++)
            if (w->sigs[f][i] > 31)
                return 0;
    return 1;
}

static int all_bits(unsigned long mask, const int *sigs, int n)
{
    for (int i = 0; i < n; i++)
        if (!((mask >> (sigs[i] - 1)) & 1))
            return 0;
    return 1;
}

static int stat_matches(const struct netops_proc_stat *st, const struct want *w)
{
    if (w->user && st->kthread)
        return 0;
    return all_bits(st->ignored, w->sigs[0], w->n[0]) && all_bits(st->caught, w->sigs[1], w->n[1])
        && all_bits(st->blocked, w->sigs[2], w->n[2]);
}

/* The entry of a stat scan: the fields push_entry gives without masks. */
static void push_stat_entry(lua_State *L, const struct netops_proc_stat *st, int pid)
{
    lua_createtable(L, 0, 8);
    set_int(L, "pid", pid);
    set_int(L, "tid", pid);
    lua_pushlstring(L, st->name, st->name_len);
    lua_setfield(L, -2, "name");
    lua_pushlstring(L, &st->state, 1);
    lua_setfield(L, -2, "state");
    lua_pushstring(L, netops_proc_state_name(st->state));
    lua_setfield(L, -2, "state_name");
    set_int(L, "ppid", st->ppid);
    if (st->threads > 0)
        set_int(L, "threads", st->threads);
    lua_pushboolean(L, st->kthread);
    lua_setfield(L, -2, "kernel");
}

static int all_in(const struct netops_proc_mask *m, const int *sigs, int n)
{
    for (int i = 0; i < n; i++)
        if (!netops_sig_mask_has(m->hex, m->len, sigs[i]))
            return 0;
    return 1;
}

static int matches(const struct netops_proc_status *st, const struct want *w)
{
    if (w->user && st->kthread == 1)
        return 0;
    if (!all_in(&st->ignored, w->sigs[0], w->n[0]) || !all_in(&st->caught, w->sigs[1], w->n[1])
        || !all_in(&st->blocked, w->sigs[2], w->n[2]))
        return 0;
    for (int i = 0; i < w->n[3]; i++)
        if (!netops_sig_mask_has(st->pending.hex, st->pending.len, w->sigs[3][i])
            && !netops_sig_mask_has(st->shared_pending.hex, st->shared_pending.len, w->sigs[3][i]))
            return 0;
    return 1;
}

/* Push a to-be-closed handle of an fd of /proc and return a pointer to the
 * fd; or push the failure (3 values) and return NULL. */
static int *open_root(lua_State *L)
{
    int *fd = luax_newfd(L);
    int err = netops_proc_open_root(fd);
    if (err != 0) {
        char why[96];
        luax_fail(L, err, "/proc: %s", reason(err, why, sizeof why));
        return NULL;
    }
    return fd;
}

/***
 * scan({ ignored = {15}, caught = {...}, blocked = {...}, pending = {...},
 *        user = true, masks = false } [, pids]) -> { entry, ... }, { message, ... }
 * | nil, "/proc: ...", errno
 * The signals(pid) entry of every process whose masks hold all the signals
 * listed, ascending by pid (or of the processes in the list pids, in its
 * order).  pending: per main thread or shared; user: no kernel threads;
 * masks = false: entries without uid and the five mask lists, which is
 * faster, and then, when every filter signal is below 32 and no pending
 * filter is given, the scan reads /proc/PID/stat, whose legacy masks hold
 * signals 1..31 and which the kernel formats faster than status.
 * Processes that vanish meanwhile are skipped; other failures are listed in
 * the second table.  Filtering happens in C, on the raw masks, so only
 * matching processes cost a table.
 */
/* The pids to scan: the list in argument 2 or every pid of /proc, in
 * small or a userdata pushed, their count in *count; 0 or an errno. */
static int scan_pids(lua_State *L, int *small, size_t cap, int **pids, size_t *count)
{
    *pids = small;
    if (lua_isnil(L, 2)) {
        int err;
        while ((err = netops_proc_pids(*pids, cap, count)) == 0 && *count > cap) {
            cap = *count + 256;
            lua_settop(L, 2);
            *pids = lua_newuserdatauv(L, cap * sizeof **pids, 0);
        }
        return err;
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer len = luaL_len(L, 2);
    luaL_argcheck(L, len >= 0 && len <= (1 << 24), 2, "too many pids");
    long n = (long)len;
    if ((size_t)n > cap)
        *pids = lua_newuserdatauv(L, (size_t)n * sizeof **pids, 0);
    for (long i = 0; i < n; i++) {
        int isnum;
        lua_geti(L, 2, i + 1);
        lua_Integer v = lua_tointegerx(L, -1, &isnum);
        lua_pop(L, 1);
        luaL_argcheck(L, isnum && v >= 1 && v <= INT_MAX, 2, "pids must be process ids");
        (*pids)[i] = (int)v;
    }
    *count = (size_t)n;
    return 0;
}

/* The scan through /proc/PID/stat: matches into the table at -2, failures
 * into the one at -1. */
static void scan_stat(lua_State *L, int procfd, const int *pids, long n, const struct want *w)
{
    char buf[PROC_STATUS_BUF], why[96];
    int found = 0, errors = 0;
    for (long i = 0; i < n; i++) {
        struct netops_proc_stat st;
        int err = netops_proc_read_stat_at(procfd, pids[i], buf, sizeof buf, &st);
        if (err == 0 && stat_matches(&st, w)) {
            push_stat_entry(L, &st, pids[i]);
            lua_rawseti(L, -3, ++found);
        } else if (err && err != ESRCH) {
            if (err == EPROTO)
                lua_pushfstring(L, "/proc/%d/stat: not in the expected format", pids[i]);
            else
                lua_pushfstring(L, "/proc/%d/stat: %s", pids[i], reason(err, why, sizeof why));
            lua_rawseti(L, -2, ++errors);
        }
    }
}

/* The scan through /proc/PID/status, the same way. */
static void scan_status(lua_State *L, int procfd, const int *pids, long n, const struct want *w)
{
    char buf[PROC_STATUS_BUF];
    int found = 0, errors = 0;
    for (long i = 0; i < n; i++) {
        struct netops_proc_status st;
        int pushed, err = read_status(L, procfd, pids[i], 0, buf, &st, &pushed);
        if (err == 0 && matches(&st, w)) {
            push_entry(L, &st, pids[i], 0, w->masks);
            lua_rawseti(L, -3 - pushed, ++found);
        } else if (err && err != ESRCH) {
            fail_status(L, err, pids[i], 0);
            lua_pop(L, 1);              /* the errno */
            lua_rawseti(L, -3 - pushed, ++errors);
            lua_pop(L, 1);              /* the nil */
        }
        lua_pop(L, pushed);
    }
}

/***
 * The scan behind `netops.proc.find` (use that: it takes signal names).
 * @function proc.scan
 * @tparam table want `user`, `masks` (booleans) and lists of signal numbers
 *   under `ignored`, `caught`, `blocked`, `pending`
 * @tparam[opt] {int,...} pids the processes to look at (default: all)
 * @treturn[1] {table,...} the matching entries, as proc.signals returns them
 * @treturn[1] {string,...} the failures other than a vanished process
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
static int l_scan(lua_State *L)
{
    struct want w;
    int small[1024], *pids, *procfd;
    get_want(L, &w);
    lua_settop(L, 2);                   /* the filter, the pids or nil; scratch above */
    size_t count;
    int err = scan_pids(L, small, sizeof small / sizeof small[0], &pids, &count);
    if (err != 0) {
        char why[96];
        return luax_fail(L, err, "/proc: %s", reason(err, why, sizeof why));
    }
    long n = (long)count;
    procfd = open_root(L);
    if (!procfd)
        return 3;
    lua_newtable(L);                    /* found */
    lua_newtable(L);                    /* errors */
    if (stat_will_do(&w))
        scan_stat(L, *procfd, pids, n, &w);
    else
        scan_status(L, *procfd, pids, n, &w);
    return 2;
}

/* Push the ids list() returns as a table, growing the scratch array as needed;
 * or fail like luax_fail. */
static int push_ids(lua_State *L, int (*list)(int, int *, size_t, size_t *), int arg)
{
    int small[1024], *out = small;
    size_t cap = sizeof small / sizeof small[0], total = 0;
    int err;
    for (;;) {
        err = list(arg, out, cap, &total);
        if (err != 0 || total <= cap)
            break;
        cap = total + 256;
        out = lua_newuserdatauv(L, cap * sizeof *out, 0);
    }
    if (err != 0) {
        char why[96];
        if (err == ESRCH)
            return luax_fail(L, ESRCH, "no such process %d", arg);
        if (arg)
            return luax_fail(L, err, "/proc/%d/task: %s", arg, reason(err, why, sizeof why));
        return luax_fail(L, err, "/proc: %s", reason(err, why, sizeof why));
    }
    lua_createtable(L, (int)total, 0);
    for (size_t i = 0; i < total; i++) {
        lua_pushinteger(L, out[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int all_pids(int unused, int *out, size_t cap, size_t *total)
{
    (void)unused;
    return netops_proc_pids(out, cap, total);
}

/*** threads(pid) -> { tid, ... } ascending | nil, "no such process 4242", ESRCH */
static int l_threads(lua_State *L)
{
    int pid = (int)luax_checkrange(L, 1, 1, INT_MAX);
    return push_ids(L, netops_proc_threads, pid);
}

/*** pids() -> { pid, ... } ascending | nil, "/proc: ...", errno */
static int l_pids(lua_State *L)
{
    return push_ids(L, all_pids, 0);
}

/***
 * The first byte of s, from init on, that text for a terminal must look at
 * closer (netops.proc.printable): a control byte (0-31, 127), a backslash,
 * a double quote, or a byte of 128 and above (UTF-8 or not): what
 * s:find('[%c\\"\128-\255]', init) gives, without the pattern matcher
 * (most names have none, and this is the whole cost of printing them).
 * @function proc.special
 * @tparam string s
 * @tparam[opt=1] int init where to start (1-based)
 * @treturn ?int its position, or nil
 */
static int l_special(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    lua_Integer init = luaL_optinteger(L, 2, 1);
    luaL_argcheck(L, init >= 1, 2, "must be 1 or more");
    for (size_t i = (size_t)init - 1; i < len; i++)
        if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '\\' || s[i] == '"') {
            lua_pushinteger(L, (lua_Integer)i + 1);
            return 1;
        }
    lua_pushnil(L);
    return 1;
}

static const luaL_Reg funcs[] = {
    { "special", l_special },
    { "signals", l_signals },
    { "threads", l_threads },
    { "pids", l_pids },
    { "scan", l_scan },
    { NULL, NULL },
};

void netops_open_proc(lua_State *L)
{
    luaL_newlib(L, funcs);
    lua_pushinteger(L, ESRCH);          /* the errno of "no such process" */
    lua_setfield(L, -2, "ESRCH");
    lua_setfield(L, -2, "proc");
}
