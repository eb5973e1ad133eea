/*
 * trust.h - may netops trust a file an operator edits (a policy it will run)
 * or a lock file it shares with other calls?  Pure C, no Lua.
 *
 * A policy is trusted when the file actually opened (fstat of the fd) is a
 * regular file owned by root or the caller and writable by neither group nor
 * others, and every directory above it, up to "/", both on the path as given
 * and on the path the opened file resolves to, is owned by root or the
 * caller and writable by neither group nor others unless it is sticky (like
 * /tmp): the rules of keepalived's script security and of sudo.  Whoever
 * could rewrite or replace the file could otherwise choose what runs as root.
 */
#ifndef NETOPS_TRUST_H
#define NETOPS_TRUST_H

#include <limits.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Why a file or directory is refused. */
struct netops_trust_refusal {
    const char *why;            /* NULL: not refused (a system error instead) */
    int is_dir;                 /* the refused thing is a directory above the file */
    char what[PATH_MAX];        /* the refused file or directory */
    unsigned mode;              /* its permission bits (st_mode & 07777) */
    long uid;                   /* its owner */
};

/* The reason a policy file with this fstat is refused, or NULL. */
const char *netops_trust_file_why(const struct stat *st, uid_t caller);

/* The reason a directory above a policy file is refused, or NULL. */
const char *netops_trust_dir_why(const struct stat *st, uid_t caller);

/* The reason an opened lock file is refused (not a regular file, not owned
 * by the caller, mode not 0600), or NULL. */
const char *netops_trust_lock_why(const struct stat *st, uid_t caller);

/*
 * Check every directory above path (absolute, or relative to the current
 * directory) up to "/".  Returns 0, EACCES with r filled (r->why set) when a
 * directory is refused, or the errno of a failed stat/getcwd.
 */
int netops_trust_dirs(const char *path, uid_t caller, struct netops_trust_refusal *r);

/*
 * Open path read-only (O_CLOEXEC | O_NOCTTY | O_NONBLOCK: a FIFO is refused,
 * never waited on), check the opened file and the directories above the path
 * as given and as resolved from the fd.  Returns 0 with *fd open (the caller
 * reads the text from it and closes it), EACCES with r->why set when refused,
 * or an errno (open, fstat ...) with r->why NULL.  *fd is -1 on failure.
 */
int netops_trust_open(const char *path, uid_t caller, int *fd, struct netops_trust_refusal *r);

#endif
