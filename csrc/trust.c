/* trust.c - may a policy file or a lock file be trusted?  See trust.h. */
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *netops_trust_file_why(const struct stat *st, uid_t caller)
{
    if (!S_ISREG(st->st_mode))
        return "not a regular file";
    if (st->st_uid != 0 && st->st_uid != caller)
        return "owned by another user (neither root nor the caller)";
    if (st->st_mode & S_IWOTH)
        return "writable by others";
    if (st->st_mode & S_IWGRP)
        return "writable by its group";
    return NULL;
}

const char *netops_trust_dir_why(const struct stat *st, uid_t caller)
{
    if (st->st_uid != 0 && st->st_uid != caller)
        return "owned by another user (neither root nor the caller)";
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
        return (st->st_mode & S_IWOTH) ? "writable by others and not sticky"
                                       : "writable by its group and not sticky";
    return NULL;
}

const char *netops_trust_lock_why(const struct stat *st, uid_t caller)
{
    if (!S_ISREG(st->st_mode))
        return "not a regular file";
    if (st->st_uid != caller)
        return "owned by another user";
    if ((st->st_mode & 07777) != 0600)
        return "mode is not 0600";
    return NULL;
}

static void refuse(struct netops_trust_refusal *r, const char *why, int is_dir, const char *what,
                   const struct stat *st)
{
    r->why = why;
    r->is_dir = is_dir;
    snprintf(r->what, sizeof r->what, "%s", what);
    r->mode = (unsigned)(st->st_mode & 07777);
    r->uid = (long)st->st_uid;
}

int netops_trust_dirs(const char *path, uid_t caller, struct netops_trust_refusal *r)
{
    char buf[PATH_MAX];
    size_t len = 0;
    struct stat st;

    r->why = NULL;
    if (path[0] != '/') {
        if (!getcwd(buf, sizeof buf))
            return errno;
        len = strlen(buf);
        if (len > 1)
            buf[len++] = '/';
        else
            len = 1;
    }
    if (len + strlen(path) >= sizeof buf)
        return ENAMETOOLONG;
    strcpy(buf + len, path);
    len = strlen(buf);
    for (;;) {
        while (len > 1 && buf[len - 1] == '/')      /* trailing slashes */
            len--;
        while (len > 0 && buf[len - 1] != '/')      /* the last component */
            len--;
        while (len > 1 && buf[len - 1] == '/')      /* its separator */
            len--;
        if (len == 0)
            return 0;
        buf[len] = '\0';
        if (stat(buf, &st) < 0)
            return errno;
        const char *why = netops_trust_dir_why(&st, caller);
        if (why) {
            refuse(r, why, 1, buf, &st);
            return EACCES;
        }
        if (len == 1)
            return 0;
    }
}

/* The path the open fd refers to now, from /proc/self/fd. */
static int fd_path(int fd, char *out, size_t size)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, size - 1);
    if (n < 0)
        return errno;
    if ((size_t)n >= size - 1)
        return ENAMETOOLONG;
    out[n] = '\0';
    return out[0] == '/' ? 0 : ENOENT;
}

static int check_open(int fd, const char *path, uid_t caller, struct netops_trust_refusal *r)
{
    struct stat st;
    char real[PATH_MAX];
    int err;

    if (fstat(fd, &st) < 0)
        return errno;
    const char *why = netops_trust_file_why(&st, caller);
    if (why) {
        refuse(r, why, 0, path, &st);
        return EACCES;
    }
    if ((err = netops_trust_dirs(path, caller, r)) != 0)
        return err;
    if ((err = fd_path(fd, real, sizeof real)) != 0)
        return err;
    return netops_trust_dirs(real, caller, r);
}

int netops_trust_open(const char *path, uid_t caller, int *fd, struct netops_trust_refusal *r)
{
    r->why = NULL;
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (*fd < 0)
        return errno;
    int err = check_open(*fd, path, caller, r);
    if (err) {
        close(*fd);
        *fd = -1;
    }
    return err;
}
