/*
 * ptyrun - run a program as the foreground of a fresh terminal, for the
 * job-control tests of spec/30-spawn.
 *
 *   ptyrun PROGRAM [ARG...]
 *
 * The program gets a new session whose controlling terminal is a new pty,
 * with its own process group in the foreground (as under a login shell).
 * What it writes to the terminal is copied to our stdout.  Unlike script(1),
 * ptyrun does not stop when the program stops: the test continues it.  Exits
 * with the program's status (128 + signal when killed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void child(const char *slave, char **argv)
{
    if (setsid() < 0)
        _exit(127);
    int s = open(slave, O_RDWR);
    if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0)
        _exit(127);
    dup2(s, 0);
    dup2(s, 1);
    dup2(s, 2);
    if (s > 2)
        close(s);
    execvp(argv[0], argv);
    _exit(127);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ptyrun PROGRAM [ARG...]\n");
        return 2;
    }
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
        perror("ptyrun: pty");
        return 1;
    }
    const char *slave = ptsname(m);
    pid_t pid = fork();
    if (pid < 0) {
        perror("ptyrun: fork");
        return 1;
    }
    if (pid == 0)
        child(slave, argv + 1);
    char buf[4096];
    for (;;) {
        ssize_t n = read(m, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;                      /* EIO: every holder of the slave is gone */
        if (write(1, buf, (size_t)n) < 0)
            break;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
