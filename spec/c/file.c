/* spec/c/file.c - TAP tests of csrc/file.c: a new file replaces the target
 * whole, never through a planted symlink, and leaves nothing on failure. */
#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static int entries(const char *dir)
{
    int k = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        k += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return k;
}

static int content_is(const char *path, const char *want)
{
    char buf[256] = { 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    return r >= 0 && strcmp(buf, want) == 0;
}

int main(void)
{
    char dir[] = "/tmp/netops-file-XXXXXX", path[128], victim[128], link[160];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/snap", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    int vfd = open(victim, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ok(vfd >= 0 && write(vfd, "precious", 8) == 8 && close(vfd) == 0, "victim written");
    ok(symlink(victim, path) == 0, "the target is a symlink to the victim");

    struct netops_file_new f;
    const char *where;
    mode_t old = umask(0277);   /* would leave 0400 without the fchmod */
    ok(netops_file_new_open(&f, path, 0600, &where) == 0, "new file created");
    umask(old);
    ok(netops_file_new_write(&f, "new", 3) == 0, "written");
    ok(entries(dir) == 3, "beside the target, under its own name");
    ok(netops_file_new_commit(&f) == 0, "committed");
    struct stat st;
    ok(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
       "the target is now a regular file of mode 0600, whatever the umask");
    ok(content_is(path, "new") && content_is(victim, "precious"), "victim untouched");

    ok(netops_file_new_open(&f, path, 0600, &where) == 0, "a second new file");
    ok(netops_file_new_write(&f, "partial", 7) == 0, "partly written");
    netops_file_new_discard(&f);
    netops_file_new_discard(&f);
    ok(content_is(path, "new") && entries(dir) == 2, "discarded: target kept, nothing left");

    struct netops_file_new a, b;
    ok(netops_file_new_open(&a, path, 0600, &where) == 0 &&
       netops_file_new_open(&b, path, 0600, &where) == 0, "two writers at once");
    struct stat sa, sb;
    ok(fstat(a.fd, &sa) == 0 && fstat(b.fd, &sb) == 0 && sa.st_ino != sb.st_ino,
       "they write different inodes");
    ok(netops_file_new_write(&a, "aaa", 3) == 0 && netops_file_new_write(&b, "bb", 2) == 0 &&
       netops_file_new_commit(&b) == 0 && netops_file_new_commit(&a) == 0, "both commit");
    ok(content_is(path, "aaa") && entries(dir) == 2, "the last one wins whole");

    snprintf(link, sizeof link, "%s/none/snap", dir);
    ok(netops_file_new_open(&f, link, 0600, &where) == ENOENT && strcmp(where, "directory") == 0,
       "a missing directory: ENOENT, where = directory");
    snprintf(link, sizeof link, "%s/", dir);
    ok(netops_file_new_open(&f, link, 0600, &where) == EISDIR, "a path without a file name: EISDIR");

    unlink(path);
    unlink(victim);
    rmdir(dir);
    return tap_done();
}
