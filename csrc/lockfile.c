/* lockfile.c - the failover lock file; see lockfile.h.  No Lua here. */
#include "lockfile.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int netops_lockfile_open(const char *path, int *fd)
{
    const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
    for (int tries = 0; tries < 10; tries++) {
        *fd = open(path, flags | O_CREAT | O_EXCL, 0600);
        if (*fd >= 0)
            return fchmod(*fd, 0600) < 0 ? errno : 0;   /* whatever the umask */
        if (errno != EEXIST)
            return errno;
        *fd = open(path, flags);
        if (*fd >= 0 || errno != ENOENT)
            return *fd >= 0 ? 0 : errno;
    }
    return EAGAIN;      /* created and removed under us, again and again */
}

int netops_lockfile_lock(int fd, double timeout)
{
    double deadline = netops_clock_now() + timeout;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return errno;
        if (netops_clock_now() >= deadline)
            return ETIMEDOUT;
        netops_clock_sleep(0.005, NETOPS_SLEEP_FULL);
    }
}

int netops_lockfile_write(int fd, const char *s, size_t len, const char **op)
{
    size_t done = 0;
    *op = "truncate";
    if (ftruncate(fd, 0) < 0)
        return errno;
    *op = "write";
    while (done < len) {
        ssize_t w = pwrite(fd, s + done, len - done, (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        done += (size_t)w;
    }
    return 0;
}
