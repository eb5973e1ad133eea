/*
 * lua_ct_text.c - snapshot lines in the netops.ctnetlink module, backed by
 * ct_text.c: parse(line), format(entry), load(path), and the streaming
 * ct:restore(path [, opts]) and ct:save(path [, filter]), which go from a
 * file to the kernel and back in C structs, in blocks and batches, so
 * their memory stays the same whatever the file or table size.  See the
 * README section "netops.conntrack".
 */
/***
 * Snapshot files straight between a file and the kernel (methods of the
 * `netops.Conntrack` handle).
 * @submodule netops.conntrack
 */
#include "lua_conntrack.h"
#include "ct_text.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/netfilter/nf_conntrack_common.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define BATCH 2048            /* entries per netops_ct_commit in restore */
#define ERRORS_KEPT 100       /* errors a restore lists (the rest are counted) */
#define SHOWN_MAX 256         /* bytes of a too-long line shown as its text */
#define SAVE_BUF 65536        /* bytes save gathers before each write */
#define STATE_TYPE "netops.ConntrackSnapshot"

/* -------------------------------------------------------------- reading */

/*
 * The next line of fd through the splitter r: NETOPS_CT_TEXT_LINE or _LONG
 * with *line, *n, *no; NETOPS_CT_TEXT_END; or -1 with *err (a read error).
 */
static int next_line(struct netops_ct_text_lines *r, int fd, const char **line, size_t *n,
                     unsigned long *no, int *err)
{
    for (;;) {
        int k = netops_ct_text_lines_next(r, line, n, no);
        if (k != NETOPS_CT_TEXT_MORE)
            return k;
        char *p;
        size_t room = netops_ct_text_lines_space(r, &p);
        ssize_t got;
        do
            got = read(fd, p, room);
        while (got < 0 && errno == EINTR);
        if (got < 0) {
            *err = errno;
            return -1;
        }
        netops_ct_text_lines_added(r, (size_t)got);
    }
}

/* Open path for reading into the fd holder pushed here (closed when the
 * calling C function returns or raises).  Returns 0 or an errno. */
static int open_input(lua_State *L, const char *path)
{
    int *fd = luax_newfd(L);
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    return *fd < 0 ? errno : 0;
}

/* The text a bad line is shown by: the line, or the head of a long one. */
static void push_text(lua_State *L, const char *line, size_t n, int long_line)
{
    if (!long_line) {
        lua_pushlstring(L, line, n);
        return;
    }
    lua_pushlstring(L, line, n < SHOWN_MAX ? n : SHOWN_MAX);
    lua_pushliteral(L, "...");
    lua_concat(L, 2);
}

static const char *long_why(void)
{
    return "line too long (conntrack -R reads lines of up to 10240 bytes)";
}

/* ------------------------------------------------------- parse and format */

/* C.parse(line) -> entry | nil, reason */
static int l_parse(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    struct netops_ct_entry e;
    char why[NETOPS_CT_TEXT_WHY];
    if (n > NETOPS_CT_TEXT_LINE_MAX) {
        lua_pushnil(L);
        lua_pushstring(L, long_why());
        return 2;
    }
    int err = netops_ct_text_parse(s, n, &e, why, sizeof why);
    if (err) {
        lua_pushnil(L);
        lua_pushstring(L, err == ENODATA ? "no entry: the line is blank or a # comment" : why);
        return 2;
    }
    netops_ctl_push_entry(L, &e, NULL);
    return 1;
}

/* Why e cannot be written as a line (netops_ct_text_format said EINVAL). */
static const char *unwritable(const struct netops_ct_entry *e)
{
    unsigned h = e->has;
    int p = e->proto;
    if (!(h & NETOPS_CT_HAS_TIMEOUT))
        return "no timeout (conntrack -R needs one: give entry.timeout)";
    if ((p == IPPROTO_TCP || p == IPPROTO_SCTP || p == IPPROTO_DCCP) && !(h & NETOPS_CT_HAS_STATE))
        return "no state (conntrack -R needs one for TCP, SCTP and DCCP)";
    if ((h & NETOPS_CT_HAS_STATE) && !netops_ct_text_state_name(e->proto, e->state))
        return "a state without a name";
    if (p == IPPROTO_SCTP && !(h & NETOPS_CT_HAS_VTAG))
        return "an SCTP entry without vtag = { orig =, reply = }";
    if (p == IPPROTO_DCCP && !(h & NETOPS_CT_HAS_DCCP_ROLE))
        return "a DCCP entry without role (\"client\" or \"server\")";
    if (p == IPPROTO_GRE && !(h & NETOPS_CT_HAS_GRE_KEYS))
        return "a GRE entry without gre = { key =, reply_key = }";
    return "its NAT status and reply tuple cannot be written as one line";
}

/*
 * Format e as a line into out (NETOPS_CT_TEXT_MAX bytes).  A missing reply
 * tuple is the inverse of the original one; a zero mark or zone is not
 * written (each reads back as 0).  Returns NULL or why not.
 */
static const char *format_entry(struct netops_ct_entry *e, char *out, size_t *len)
{
    if (!(e->has & NETOPS_CT_HAS_REPLY)) {
        memcpy(e->reply.src, e->orig.dst, sizeof e->reply.src);
        memcpy(e->reply.dst, e->orig.src, sizeof e->reply.dst);
        if (e->has & NETOPS_CT_HAS_PORTS) {
            e->reply.sport = e->orig.dport;
            e->reply.dport = e->orig.sport;
        }
        e->has |= NETOPS_CT_HAS_REPLY;
    }
    if (e->mark == 0)
        e->has &= ~(unsigned)NETOPS_CT_HAS_MARK;
    if (e->zone == 0)
        e->has &= ~(unsigned)NETOPS_CT_HAS_ZONE;
    int err = netops_ct_text_format(e, out, NETOPS_CT_TEXT_MAX, len);
    return err == 0 ? NULL : err == EINVAL ? unwritable(e) : "the line is too long";
}

/* C.format(entry) -> line; raises when entry cannot be written as one. */
static int l_format(lua_State *L)
{
    struct netops_ct_entry e;
    char why[256], line[NETOPS_CT_TEXT_MAX];
    size_t n;
    const char *m = netops_ctl_to_entry(L, 1, &e, why, sizeof why);
    if (!m)
        m = format_entry(&e, line, &n);
    if (m)
        return luaL_error(L, "format: %s", m);
    lua_pushlstring(L, line, n);
    return 1;
}

/* ------------------------------------------------------------------ load */

/*
 * The scratch of a load, restore or save, in a userdata whose __gc frees
 * what it holds: the splitter, one batch of entries with their results,
 * line numbers and texts (an arena reset each batch), the address cache.
 */
struct snap {
    struct netops_ct_text_lines lines;
    struct netops_ct_entry e[BATCH];
    struct netops_ct_result res[BATCH];
    unsigned long lineno[BATCH];
    size_t off[BATCH + 1];          /* text of entry i: text[off[i] .. off[i+1]) */
    char *text;                     /* malloc'ed, grows to one batch's lines */
    size_t cap;
    AddrCache cache;
};

static int snap_gc(lua_State *L)
{
    struct snap *s = luaL_checkudata(L, 1, STATE_TYPE);
    free(s->text);
    s->text = NULL;
    return 0;
}

static struct snap *new_snap(lua_State *L)
{
    struct snap *s = lua_newuserdatauv(L, sizeof *s, 0);
    s->text = NULL;
    s->cap = 0;
    s->off[0] = 0;
    netops_ct_text_lines_init(&s->lines);
    memset(s->cache, 0, sizeof s->cache);
    luaL_setmetatable(L, STATE_TYPE);
    return s;
}

/* Append { line =, text =, message = [, errno = ] } to the array at t. */
static void add_error(lua_State *L, int t, unsigned long no, int text, const char *msg, int eno)
{
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)no);
    lua_setfield(L, -2, "line");
    lua_pushvalue(L, text);
    lua_setfield(L, -2, "text");
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
    if (eno) {
        lua_pushinteger(L, eno);
        lua_setfield(L, -2, "errno");
    }
    lua_seti(L, t, (lua_Integer)luaL_len(L, t) + 1);
}

/* C.load(path) -> entries, bad | nil, message, errno */
static int l_load(lua_State *L)
{
    const char *path = luax_checkcstring(L, 1, NULL);
    lua_settop(L, 1);
    int err = open_input(L, path);                 /* 2: the fd */
    if (err)
        return luax_fail(L, err, "conntrack load: %s: %s", path, strerror(err));
    int fd = *(int *)lua_touserdata(L, 2);
    struct snap *s = new_snap(L);                  /* 3 */
    lua_newtable(L);                               /* 4: entries */
    lua_newtable(L);                               /* 5: bad */
    lua_Integer ne = 0;
    const char *line;
    size_t n;
    unsigned long no;
    char why[NETOPS_CT_TEXT_WHY];
    int k;
    while ((k = next_line(&s->lines, fd, &line, &n, &no, &err)) == NETOPS_CT_TEXT_LINE ||
           k == NETOPS_CT_TEXT_LONG) {
        int e = k == NETOPS_CT_TEXT_LONG ? EINVAL
                                         : netops_ct_text_parse(line, n, &s->e[0], why, sizeof why);
        if (e == ENODATA)
            continue;
        if (e == 0) {
            netops_ctl_push_entry(L, &s->e[0], &s->cache);
            lua_seti(L, 4, ++ne);
            continue;
        }
        push_text(L, line, n, k == NETOPS_CT_TEXT_LONG);
        lua_pushfstring(L, "%s:%I: %s", path, (lua_Integer)no,
                        k == NETOPS_CT_TEXT_LONG ? long_why() : why);
        add_error(L, 5, no, -2, lua_tostring(L, -1), 0);
        lua_pop(L, 2);
    }
    if (k < 0)
        return luax_fail(L, err, "conntrack load: %s: %s", path, strerror(err));
    return 2;
}

/* --------------------------------------------------------------- restore */

static const char *const restore_fields[] = { "timeout", "replace", "create_only", "progress" };

/* ct:restore's opts (arg 3) into o; the progress function's index or 0. */
static int read_restore_opts(lua_State *L, struct netops_ct_commit_opts *o)
{
    luax_Fields r;
    lua_Integer v;
    memset(o, 0, sizeof *o);
    if (lua_isnoneornil(L, 3))
        return 0;
    luaL_checktype(L, 3, LUA_TTABLE);
    luax_fields(&r, L, 3, 3, "opts.", NULL, 0);
    luax_checkfieldnames(&r, restore_fields, COUNT(restore_fields));
    if (luax_intfield(&r, "timeout", 1, 0xffffffffLL, &v) > 0)
        o->timeout = (uint32_t)v;
    luax_flagfield(&r, "create_only", &o->create_only);
    luax_flagfield(&r, "replace", &o->replace);
    if (o->replace && o->create_only)
        luaL_argerror(L, 3, "opts.replace and opts.create_only exclude each other");
    int ty = luax_fieldtype(&r, "progress");
    if (ty == LUA_TNIL)
        return 0;
    if (ty != LUA_TFUNCTION)
        luaL_argerror(L, 3, "opts.progress must be a function");
    lua_getfield(L, 3, "progress");
    return lua_gettop(L);
}

/* What a restore has done so far. */
struct tally {
    lua_Integer created, updated, failed, bad, lines, done, omitted;
    int errors;             /* index of the errors array */
    int stopped;            /* ENOMEM: the table filled up */
};

/* Record an error (the first ERRORS_KEPT; the rest are counted). */
static void note_error(lua_State *L, struct tally *t, unsigned long no, const char *text,
                       size_t n, int long_line, const char *msg, int eno)
{
    if (luaL_len(L, t->errors) >= ERRORS_KEPT) {
        t->omitted++;
        return;
    }
    push_text(L, text, n, long_line);
    add_error(L, t->errors, no, lua_gettop(L), msg, eno);
    lua_pop(L, 1);
}

/* Keep line i's text in the batch's arena.  Raises when memory runs out. */
static void keep_text(lua_State *L, struct snap *s, size_t i, const char *line, size_t n)
{
    size_t at = s->off[i];
    if (at + n > s->cap) {
        size_t cap = s->cap ? s->cap : 1 << 16;
        while (cap < at + n)
            cap *= 2;
        char *p = realloc(s->text, cap);
        if (!p)
            luaL_error(L, "conntrack restore: out of memory");
        s->text = p;
        s->cap = cap;
    }
    if (n)
        memcpy(s->text + at, line, n);
    s->off[i + 1] = at + n;
}

/* Tally the outcomes of the nb entries of a committed batch and note
 * what failed. */
static void tally_batch(lua_State *L, struct snap *s, size_t nb, struct tally *t)
{
    for (size_t i = 0; i < nb; i++) {
        int out = s->res[i].outcome, eno = s->res[i].err;
        const char *msg;
        if (out == NETOPS_CT_CREATED) { t->created++; continue; }
        if (out == NETOPS_CT_UPDATED) { t->updated++; continue; }
        t->failed++;
        if (out == NETOPS_CT_FAILED && eno == ENOENT && (s->e[i].has & NETOPS_CT_HAS_MASTER))
            msg = "its master entry is not in the table";
        else if (out == NETOPS_CT_FAILED)
            msg = netops_ct_strerror(eno);
        else {
            msg = "not tried: the table was full (nf_conntrack_max)";
            eno = t->stopped ? t->stopped : EAGAIN;
        }
        note_error(L, t, s->lineno[i], s->text + s->off[i], s->off[i + 1] - s->off[i], 0, msg,
                   eno);
    }
    t->done += (lua_Integer)nb;
}

/* Call progress(done), where given. */
static void progress(lua_State *L, int fn, const struct tally *t)
{
    if (!fn)
        return;
    lua_pushvalue(L, fn);
    lua_pushinteger(L, t->done);
    lua_call(L, 1, 0);
}

/* Sort the (at most ERRORS_KEPT) errors by line: bad lines are noted as
 * they are read, refused ones after their batch. */
static void sort_errors(lua_State *L, int errors)
{
    lua_Integer n = luaL_len(L, errors);
    for (lua_Integer i = 2; i <= n; i++)
        for (lua_Integer j = i; j > 1; j--) {
            lua_geti(L, errors, j - 1);
            lua_geti(L, errors, j);
            lua_getfield(L, -2, "line");
            lua_getfield(L, -2, "line");
            int swap = lua_tointeger(L, -2) > lua_tointeger(L, -1);
            lua_pop(L, 2);
            if (!swap) {
                lua_pop(L, 2);
                break;
            }
            lua_seti(L, errors, j - 1);
            lua_seti(L, errors, j);
        }
}

static void push_tally(lua_State *L, const struct tally *t)
{
    lua_createtable(L, 0, 8);
    lua_pushvalue(L, t->errors);
    lua_setfield(L, -2, "errors");
    const struct { const char *k; lua_Integer v; } f[] = {
        { "created", t->created }, { "updated", t->updated }, { "failed", t->failed },
        { "bad", t->bad }, { "lines", t->lines }, { "omitted", t->omitted },
    };
    for (size_t i = 0; i < COUNT(f); i++) {
        lua_pushinteger(L, f[i].v);
        lua_setfield(L, -2, f[i].k);
    }
}

/* Parse lines into s until it holds BATCH entries (*nb) or the input ends
 * (*end set); bad lines are counted and noted.  0 or the errno of a read. */
static int parse_batch(lua_State *L, struct netops_ct_text_lines *lines, int fd, struct snap *s,
                       struct tally *t, size_t *nb, int *end)
{
    const char *line;
    size_t n;
    unsigned long no;
    char why[NETOPS_CT_TEXT_WHY];
    int err = 0;
    for (*nb = 0; *nb < BATCH;) {
        int k = next_line(lines, fd, &line, &n, &no, &err);
        if (k < 0)
            return err;
        if (k == NETOPS_CT_TEXT_END)
            return *end = 1, 0;
        t->lines = (lua_Integer)no;
        int e = k == NETOPS_CT_TEXT_LONG ? EINVAL
                                         : netops_ct_text_parse(line, n, &s->e[*nb], why, sizeof why);
        if (e == ENODATA)
            continue;
        if (e) {
            t->bad++;
            note_error(L, t, no, line, n, k == NETOPS_CT_TEXT_LONG,
                       k == NETOPS_CT_TEXT_LONG ? long_why() : why, EINVAL);
            continue;
        }
        s->lineno[*nb] = no;
        keep_text(L, s, *nb, line, n);
        ++*nb;
    }
    return 0;
}

/* What parsing a batch added to the tally, to take back when the table
 * filled up before it: its lines were read ahead, not tried. */
struct undo {
    lua_Integer lines, bad, omitted, errors;
};

static void undo_mark(lua_State *L, const struct tally *t, struct undo *u)
{
    *u = (struct undo){ t->lines, t->bad, t->omitted, luaL_len(L, t->errors) };
}

static void undo_parse(lua_State *L, struct tally *t, const struct undo *u)
{
    t->lines = u->lines;
    t->bad = u->bad;
    t->omitted = u->omitted;
    for (lua_Integer i = luaL_len(L, t->errors); i > u->errors; i--) {
        lua_pushnil(L);
        lua_seti(L, t->errors, i);
    }
}

/* parse_batch under lua_pcall, for while a commit thread runs: a Lua error
 * (out of memory) must not leave it running on memory the collector may
 * free.  Arguments: this, the errors table. */
struct parse_part {
    struct netops_ct_text_lines *lines;
    int fd, end, err;
    struct snap *s;
    struct tally *t;
    size_t nb;
};

static int parse_part(lua_State *L)
{
    struct parse_part *a = lua_touserdata(L, 1);
    a->t->errors = 2;
    a->err = parse_batch(L, a->lines, a->fd, a->s, a->t, &a->nb, &a->end);
    return 0;
}

static int parse_protected(lua_State *L, struct parse_part *a)
{
    int errors = a->t->errors, status;
    lua_pushcfunction(L, parse_part);
    lua_pushlightuserdata(L, a);
    lua_pushvalue(L, errors);
    status = lua_pcall(L, 2, 0, 0);
    a->t->errors = errors;
    return status;
}

/*
 * Read, parse and commit the whole file: each batch is committed on a
 * thread of its own while the next one is parsed (s[0], s[1] in turn), so
 * the kernel's share and netops' own overlap.  After the batch that fills
 * the table nothing more is committed, and the batch read ahead is taken
 * back.  0, or an errno of the socket (*what "commit") or of the file
 * (*what "read"; the batch being read then is not committed).
 */
static int restore_file(lua_State *L, struct netops_ct *ct, int fd, struct snap *s[2],
                        const struct netops_ct_commit_opts *o, int fn, struct tally *t,
                        const char **what)
{
    struct netops_ct_pending p;
    struct undo u;
    struct parse_part a = { &s[0]->lines, fd, 0, 0, s[0], t, 0 };
    size_t nb = 0;
    int cur = 0;
    a.err = parse_batch(L, a.lines, fd, s[0], t, &a.nb, &a.end);
    while (!a.err && a.nb) {
        nb = a.nb;
        netops_ct_commit_start(&p, ct, s[cur]->e, nb, NULL, o, s[cur]->res, 0);
        undo_mark(L, t, &u);
        a.s = s[!cur];
        a.nb = 0;
        int lerr = a.end ? LUA_OK : parse_protected(L, &a);
        int err = netops_ct_commit_wait(&p, &t->stopped);
        if (lerr != LUA_OK)
            lua_error(L);
        if (err)
            return *what = "commit", err;
        if (t->stopped)
            undo_parse(L, t, &u);
        tally_batch(L, s[cur], nb, t);
        progress(L, fn, t);
        if (t->stopped)
            return 0;
        cur = !cur;
    }
    return a.err ? (*what = "read", a.err) : 0;
}

/***
 * Commit a snapshot file (`conntrack -L -o save` lines) to the kernel: read in
 * blocks, parsed and committed in batches of 2048 entries straight from C
 * structs, so memory stays flat whatever the file size; each batch goes to
 * the kernel from a thread of its own while the next one is parsed.
 * @function Conntrack:restore
 * @tparam string path the snapshot
 * @tparam[opt] table opts `timeout`, `replace`, `create_only` (as for commit)
 *   and `progress = function(done)`, called after each batch
 * @treturn[1] table `{ created =, updated =, failed =, bad =, lines =, omitted =,
 *   errors = { { line =, text =, message =, errno = } ... } }` (the first 100)
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno (ENOMEM when the table filled up)
 * @treturn[2] table the result so far, when the table filled up
 */
/*
 * ct:restore(path [, opts]) -> { created =, updated =, failed =, bad =,
 * lines =, omitted =, errors = { { line =, text =, message =, errno = } } }
 * | nil, message, errno [, result]
 */
static int ct_restore(lua_State *L)
{
    const char *netns, *what = NULL;
    struct netops_ct *ct = netops_ctl_check(L, &netns);
    const char *path = luax_checkcstring(L, 2, NULL);
    struct netops_ct_commit_opts o;
    int fn = read_restore_opts(L, &o);
    struct tally t;
    memset(&t, 0, sizeof t);
    int err = open_input(L, path);
    if (err)
        return luax_fail(L, err, "conntrack restore: %s: %s", path, strerror(err));
    int fd = *(int *)lua_touserdata(L, -1);
    struct snap *s[2] = { new_snap(L), new_snap(L) };
    lua_newtable(L);
    t.errors = lua_gettop(L);
    err = restore_file(L, ct, fd, s, &o, fn, &t, &what);
    sort_errors(L, t.errors);
    if (err && strcmp(what, "read") == 0)
        luax_fail(L, err, "conntrack restore: %s: %s", path, strerror(err));
    else if (err)
        return netops_ctl_fail(L, netns, "restore", err);
    else if (t.stopped == ENOMEM)
        luax_fail(L, ENOMEM, "conntrack%s%s: restore: table full: nf_conntrack_max (global to "
                  "all namespaces) reached at line %d of %s after %d entries were committed; "
                  "raise net.netfilter.nf_conntrack_max", *netns ? " in netns " : "", netns,
                  (int)t.lines, path, (int)(t.created + t.updated));
    push_tally(L, &t);
    return err || t.stopped == ENOMEM ? 4 : 1;
}

/* ------------------------------------------------------------------ save */

/* Dump every entry matching f into the new file w: 0 or an errno (*what). */
static int dump_to(struct netops_ct *ct, const struct netops_ct_filter *f,
                   struct netops_file_new *w, char *buf, lua_Integer *count,
                   lua_Integer *skipped, const char **what)
{
    struct netops_ct_cursor *c;
    struct netops_ct_entry e;
    size_t used = 0, n;
    int got = 0, werr = 0, err = netops_ct_dump_start(ct, f, &c);
    if (err)
        return *what = "dump", err;
    while (!werr && (err = netops_ct_next(c, -1, NULL, &e, &got)) == 0 && got) {
        if (format_entry(&e, buf + used, &n)) {
            (*skipped)++;
            continue;
        }
        buf[used + n] = '\n';
        used += n + 1;
        (*count)++;
        if (used + NETOPS_CT_TEXT_MAX + 1 > SAVE_BUF) {
            werr = netops_file_new_write(w, buf, used);
            used = 0;
        }
    }
    netops_ct_cursor_close(c);
    if (err)
        return *what = "dump", err;
    if (!werr && used)
        werr = netops_file_new_write(w, buf, used);
    if (werr)
        return *what = "write", werr;
    return 0;
}

/***
 * Dump the table (or what a filter matches) straight to a snapshot file,
 * formatted in C: a new file beside path (mode 0600), synced and renamed
 * over it; on failure the old file stays as it was.
 * @function Conntrack:save
 * @tparam string path where the snapshot goes
 * @tparam[opt] table filter as for dump
 * @treturn[1] int count written
 * @treturn[1] int skipped: entries no line can describe
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 */
/*
 * ct:save(path [, filter]) -> count, skipped | nil, message, errno.  The
 * lines go to a new file (mode 0600) synced and renamed over path (file.c);
 * skipped counts entries that cannot be written as a line conntrack -R
 * loads (see README).
 */
static int ct_save(lua_State *L)
{
    const char *netns, *what = NULL, *where;
    struct netops_ct *ct = netops_ctl_check(L, &netns);
    const char *path = luax_checkcstring(L, 2, NULL);
    struct netops_ct_filter fb;
    const struct netops_ct_filter *f = netops_ctl_to_filter(L, 3, &fb);
    char *buf = lua_newuserdatauv(L, SAVE_BUF, 0);
    struct netops_file_new w;
    lua_Integer count = 0, skipped = 0;
    int err = netops_file_new_open(&w, path, 0600, &where);
    if (err)
        return luax_fail(L, err, "conntrack save: %s: %s: %s", path, where, strerror(err));
    err = dump_to(ct, f, &w, buf, &count, &skipped, &what);
    if (err) {
        netops_file_new_discard(&w);
        if (strcmp(what, "dump") == 0)
            return netops_ctl_fail(L, netns, "save: dump", err);
        return luax_fail(L, err, "conntrack save: %s: %s", path, strerror(err));
    }
    if ((err = netops_file_new_commit(&w)) != 0)
        return luax_fail(L, err, "conntrack save: %s: %s", path, strerror(err));
    lua_pushinteger(L, count);
    lua_pushinteger(L, skipped);
    return 2;
}

/* ---------------------------------------------------------------- opener */

static const luaL_Reg funcs[] = {
    { "parse", l_parse },
    { "format", l_format },
    { "load", l_load },
    { NULL, NULL },
};

static const luaL_Reg methods[] = {
    { "restore", ct_restore },
    { "save", ct_save },
    { NULL, NULL },
};

void netops_ctl_open_text(lua_State *L)
{
    static const luaL_Reg none[] = { { NULL, NULL } };
    luax_newclass(L, STATE_TYPE, none, NULL, snap_gc);
    luaL_setfuncs(L, funcs, 0);
    luaL_getmetatable(L, NETOPS_CTL_TYPE);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}
