/*
 * file.c - replacing a file safely (see file.h).
 *
 * Every step goes through the directory's fd (openat, renameat, unlinkat),
 * so the file created, renamed and removed is the one in the directory
 * opened first, whatever happens to the path meanwhile.
 */
#include "file.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NEW_TRIES 64

/* Split path into its directory (opened) and its last component. */
static int open_dir(struct netops_file_new *f, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base);
    if (blen == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return EISDIR;
    if (blen >= sizeof f->base)
        return ENAMETOOLONG;
    memcpy(f->base, base, blen + 1);
    char dir[4096];
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t dlen = (size_t)(slash - path);
        if (dlen >= sizeof dir)
            return ENAMETOOLONG;
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
    }
    f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return f->dirfd < 0 ? errno : 0;
}

static uint64_t random_bits(void)
{
    static uint64_t counter;
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r)
        return r;
    uint64_t ns = (uint64_t)(netops_clock_now() * 1e9);
    counter += 0x9e3779b97f4a7c15ull;
    return ((uint64_t)getpid() << 32) ^ ns ^ (ns << 20) ^ counter;
}

int netops_file_new_open(struct netops_file_new *f, const char *path, unsigned mode,
                         const char **where)
{
    f->dirfd = f->fd = -1;
    f->name[0] = '\0';
    *where = "directory";
    int err = open_dir(f, path);
    if (err)
        return err;
    *where = "temporary file";
    err = EEXIST;
    for (int i = 0; i < NEW_TRIES && err == EEXIST; i++) {
        /* at most 200 bytes of the base keep the name under NAME_MAX */
        snprintf(f->name, sizeof f->name, ".%.200s.%016llx", f->base,
                 (unsigned long long)random_bits());
        f->fd = openat(f->dirfd, f->name,
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
        err = f->fd < 0 ? errno : 0;
    }
    if (!err && fchmod(f->fd, mode & 07777) < 0)   /* exactly mode, whatever the umask */
        err = errno;
    if (err) {
        if (f->fd >= 0) {
            close(f->fd);
            f->fd = -1;
            unlinkat(f->dirfd, f->name, 0);
        }
        close(f->dirfd);
        f->dirfd = -1;
        f->name[0] = '\0';
    }
    return err;
}

int netops_file_new_write(struct netops_file_new *f, const void *buf, size_t len)
{
    const char *p = buf;
    if (f->fd < 0)
        return EBADF;
    while (len > 0) {
        ssize_t w = write(f->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void netops_file_new_discard(struct netops_file_new *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (f->dirfd >= 0) {
        if (f->name[0])
            unlinkat(f->dirfd, f->name, 0);
        close(f->dirfd);
        f->dirfd = -1;
    }
    f->name[0] = '\0';
}

int netops_file_new_commit(struct netops_file_new *f)
{
    if (f->fd < 0 || f->dirfd < 0)
        return EBADF;
    int err = fsync(f->fd) < 0 ? errno : 0;
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) < 0 && !err)
        err = errno;
    if (!err && renameat(f->dirfd, f->name, f->dirfd, f->base) < 0)
        err = errno;
    if (err) {
        netops_file_new_discard(f);
        return err;
    }
    f->name[0] = '\0';       /* renamed: nothing to remove any more */
    /* the rename itself is durable once the directory is */
    if (fsync(f->dirfd) < 0 && errno != EINVAL)
        err = errno;
    close(f->dirfd);
    f->dirfd = -1;
    return err;
}
