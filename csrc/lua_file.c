/*
 * lua_file.c - Lua binding of file.c: core.file_new(path [, mode]) and the
 * handle "netops.NewFile" (write, commit, discard).  What a snapshot or a
 * metrics file is written through: readers see the old file or the whole
 * new one, and a planted name (a symlink to a victim) is never written.
 *
 *   local f = assert(core.file_new("/var/lib/fw/ct.save"))   -- mode 0600
 *   f:write(a, b, ...)   -- true | nil, message, errno
 *   f:commit()           -- true | nil, message, errno (target untouched)
 *   f:discard()          -- also close/__gc/__close while not committed
 */
/***
 * New files that replace a target atomically: `core.file_new` and the
 * `netops.NewFile` handle.
 * @submodule netops.core
 */
#include "luax.h"
#include "file.h"

#include <errno.h>
#include <string.h>

#define NEWFILE_TYPE "netops.NewFile"

typedef struct {
    struct netops_file_new f;
    int open;
    char path[4096];
} LNewFile;

static LNewFile *check_new(lua_State *L)
{
    LNewFile *h = luaL_checkudata(L, 1, NEWFILE_TYPE);
    if (!h->open)
        luaL_error(L, "attempt to use a committed or discarded " NEWFILE_TYPE);
    return h;
}

/***
 * Create a new file beside path (a unique name, O_CREAT|O_EXCL|O_NOFOLLOW, so
 * a planted symlink is never written through), to be renamed over path by
 * commit.  Readers see the old file or the whole new one.
 * @function file_new
 * @tparam string path the target
 * @tparam[opt=0600] int mode
 * @treturn[1] NewFile the handle
 * @return[2] nil
 * @treturn[2] string "PATH: cannot open its directory: reason" or "PATH: cannot create a new file beside it: reason"
 * @treturn[2] int errno
 * @raise on a path with a NUL byte or too long, or a mode above 07777
 */
/* core.file_new(path [, mode = 0600]) -> handle | nil, message, errno */
static int l_file_new(lua_State *L)
{
    size_t len;
    const char *path = luax_checkcstring(L, 1, &len);
    unsigned mode = (unsigned)luax_optrange(L, 2, 0, 07777, 0600);
    luaL_argcheck(L, len < sizeof(((LNewFile *)0)->path), 1, "path too long");
    LNewFile *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->open = 0;
    h->f.fd = h->f.dirfd = -1;
    memcpy(h->path, path, len + 1);
    const char *where;
    int err = netops_file_new_open(&h->f, path, mode, &where);
    if (err)
        return luax_fail(L, err, "%s: %s: %s", path,
                         strcmp(where, "directory") == 0 ? "cannot open its directory"
                                                         : "cannot create a new file beside it",
                         strerror(err));
    h->open = 1;
    luaL_setmetatable(L, NEWFILE_TYPE);
    return 1;
}

/***
 * Append strings to the new file.  On failure the new file is discarded.
 * @function NewFile:write
 * @tparam string ... the data
 * @treturn[1] boolean true
 * @return[2] nil
 * @treturn[2] string "PATH: writing: reason"
 * @treturn[2] int errno
 * @raise once committed or discarded
 */
/* f:write(s, ...) -> true | nil, message, errno (then the file is discarded) */
static int l_write(lua_State *L)
{
    LNewFile *h = check_new(L);
    int n = lua_gettop(L);
    for (int i = 2; i <= n; i++) {
        size_t len;
        const char *s = luaL_checklstring(L, i, &len);
        int err = netops_file_new_write(&h->f, s, len);
        if (err) {
            netops_file_new_discard(&h->f);
            h->open = 0;
            return luax_fail(L, err, "%s: writing: %s", h->path, strerror(err));
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

/***
 * Sync the new file and rename it over the target.  On failure the target is
 * untouched.
 * @function NewFile:commit
 * @treturn[1] boolean true
 * @return[2] nil
 * @treturn[2] string message
 * @treturn[2] int errno
 * @raise once committed or discarded
 */
/* f:commit() -> true | nil, message, errno */
static int l_commit(lua_State *L)
{
    LNewFile *h = check_new(L);
    h->open = 0;
    int err = netops_file_new_commit(&h->f);
    if (err)
        return luax_fail(L, err, "%s: %s", h->path, strerror(err));
    lua_pushboolean(L, 1);
    return 1;
}

/***
 * Remove the new file, leaving the target as it was.  Idempotent; after a
 * commit it does nothing.  Also `close`, `__gc` and `__close`.
 * @function NewFile:discard
 */

/***
 * The same as discard (what `__gc` and `__close` call).
 * @function NewFile:close
 */
/* f:discard(): remove the new file, leave the target as it was; idempotent. */
static int l_discard(lua_State *L)
{
    LNewFile *h = luaL_checkudata(L, 1, NEWFILE_TYPE);
    if (h->open) {
        netops_file_new_discard(&h->f);
        h->open = 0;
    }
    return 0;
}

static const luaL_Reg methods[] = {
    { "write", l_write },
    { "commit", l_commit },
    { "discard", l_discard },
    { NULL, NULL },
};

void netops_open_file(lua_State *L)
{
    luax_newclass(L, NEWFILE_TYPE, methods, NULL, l_discard);
    lua_pushcfunction(L, l_file_new);
    lua_setfield(L, -2, "file_new");
}
