/*
 * lockfile.h - the failover runtime's lock file: an flock(2)ed regular file
 * of the caller's, mode 0600, whose text is the queue of notify calls (see
 * lua/netops/failover/queue.lua).  Pure C, no Lua: 0 or a positive errno.
 */
#ifndef NETOPS_LOCKFILE_H
#define NETOPS_LOCKFILE_H

#include <stddef.h>

/*
 * Open path read-write, creating it mode 0600 (whatever the umask) when
 * missing; O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK.  0 with *fd open,
 * or an errno (EAGAIN when it is created and removed under us again and
 * again).  Whether the file may be trusted is netops_trust_lock_why's call.
 */
int netops_lockfile_open(const char *path, int *fd);

/*
 * Take the exclusive flock of fd, waiting up to timeout seconds (polled
 * every 5 ms with the full sleep: signals act as they would).  0, ETIMEDOUT
 * when another holder kept it, or the errno of flock(2).
 */
int netops_lockfile_lock(int fd, double timeout);

/*
 * Replace the file's text with s[0..len): truncate, then write all of it.
 * 0, or an errno with *op naming the step that failed ("truncate", "write").
 */
int netops_lockfile_write(int fd, const char *s, size_t len, const char **op);

#endif
