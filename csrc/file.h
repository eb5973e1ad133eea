/*
 * file.h - writing a file so that readers see the old content or the whole
 * new one, never a part, and never through a planted name: the data goes
 * to a new file created O_CREAT|O_EXCL|O_NOFOLLOW under a unique name in
 * the target's directory, is fsync'ed, then renamed over the target, and
 * the directory is fsync'ed.  Pure C, no Lua.
 *
 * Functions return 0 or a positive errno.
 */
#ifndef NETOPS_FILE_H
#define NETOPS_FILE_H

#include <stddef.h>

#define NETOPS_FILE_NAME_MAX 256

struct netops_file_new {
    int dirfd;                           /* the target's directory */
    int fd;                              /* the new file; -1 once closed */
    char name[NETOPS_FILE_NAME_MAX];     /* its name in that directory */
    char base[NETOPS_FILE_NAME_MAX];     /* the target's name there */
};

/*
 * Create the new file for target path with exactly mode (umask aside).
 * Its name is ".BASE.XXXXXXXXXXXXXXXX" with 64 random bits: a name that
 * exists already, a symlink included, is never opened, another is tried.
 * On failure nothing is left behind and *where says what failed
 * ("directory" or "temporary file").
 */
int netops_file_new_open(struct netops_file_new *f, const char *path, unsigned mode,
                         const char **where);

/* Write all of buf (EINTR and short writes retried). */
int netops_file_new_write(struct netops_file_new *f, const void *buf, size_t len);

/*
 * fsync and close the file, rename it over the target, fsync the
 * directory.  On any failure before the rename the new file is removed and
 * the target is untouched.  The handle is finished either way.
 */
int netops_file_new_commit(struct netops_file_new *f);

/* Close and remove the new file (the target is untouched); idempotent. */
void netops_file_new_discard(struct netops_file_new *f);

#endif
