/*
 * sigtest - a process with known signal dispositions, for spec/20-signals.
 *
 *   sigtest [SECONDS [NAME]]   (default 30; exits by itself after that long;
 *                               NAME: set its task name, up to 15 bytes)
 *
 * Ignores SIGTERM and SIGPIPE (every other signal gets its default); catches SIGHUP, SIGUSR1 and SIGRTMIN+3.
 * The main thread blocks SIGINT and SIGRTMAX-1; a second thread blocks
 * SIGUSR2 and SIGRTMAX-1.  Then it leaves pending: SIGINT for the main thread
 * (tgkill), SIGUSR2 for the second thread (tgkill), and SIGRTMAX-1 for the
 * process (kill; every thread blocks it, so it stays shared-pending).
 * When all that is in place it prints one line and flushes it:
 *
 *   ready PID MAINTID THREADTID RTMIN RTMAX
 *
 * SIGTERM is ignored: stop it early with SIGKILL.
 * With SIGTEST_GROUPS=N in the environment (root only) it first takes N
 * supplementary groups, which makes its status file large (Groups: line).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pid_t thread_tid;

static void on_signal(int sig)
{
    (void)sig;
}

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* glibc refuses sigaction() for the signals it reserves (32, 33), but a
 * parent may have left them ignored, and SIG_IGN survives exec: reset them
 * with the system call itself (kernel struct sigaction of x86_64/arm64). */
static void reset_reserved(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
    struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } ksa = { 0 };
    for (int n = 32; n < SIGRTMIN; n++)
        (void)syscall(SYS_rt_sigaction, n, &ksa, NULL, sizeof ksa.mask);
#endif
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void *second(void *arg)
{
    sigset_t set;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGRTMAX - 1);
    if (pthread_sigmask(SIG_SETMASK, &set, NULL) != 0)
        die("pthread_sigmask");
    pthread_mutex_lock(&lock);
    thread_tid = gettid_();
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    for (;;)
        pause();            /* every signal it could get is blocked or ignored */
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 30;
    struct sigaction sa = { 0 };
    struct timespec deadline;
    sigset_t set;
    pthread_t t;

    if (seconds <= 0 || seconds > 600)
        seconds = 30;
    if (argc > 2 && prctl(PR_SET_NAME, argv[2], 0, 0, 0) != 0)
        die("prctl");
    if (getenv("SIGTEST_GROUPS")) {
        int n = atoi(getenv("SIGTEST_GROUPS"));
        gid_t *groups = calloc(n > 0 ? (size_t)n : 1, sizeof *groups);
        if (!groups || n < 1 || n > 65536)
            die("SIGTEST_GROUPS");
        for (int i = 0; i < n; i++)
            groups[i] = (gid_t)(100000 + i);
        if (setgroups((size_t)n, groups) != 0)
            die("setgroups");
        free(groups);
    }
    /* Whatever the parent left (a shell ignores SIGINT in background jobs):
     * every other disposition back to the default. */
    sa.sa_handler = SIG_DFL;
    for (int n = 1; n <= SIGRTMAX; n++)
        (void)sigaction(n, &sa, NULL);  /* KILL, STOP, 32, 33 refuse: fine */
    reset_reserved();
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGPIPE, &sa, NULL))
        die("sigaction ignore");
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGHUP, &sa, NULL) || sigaction(SIGUSR1, &sa, NULL)
        || sigaction(SIGRTMIN + 3, &sa, NULL))
        die("sigaction catch");

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGRTMAX - 1);
    if (pthread_sigmask(SIG_SETMASK, &set, NULL) != 0)
        die("pthread_sigmask");

    if (pthread_create(&t, NULL, second, NULL) != 0)
        die("pthread_create");
    pthread_mutex_lock(&lock);
    while (thread_tid == 0)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    if (syscall(SYS_tgkill, getpid(), gettid_(), SIGINT) != 0
        || syscall(SYS_tgkill, getpid(), thread_tid, SIGUSR2) != 0
        || kill(getpid(), SIGRTMAX - 1) != 0)
        die("signal self");

    printf("ready %d %d %d %d %d\n", (int)getpid(), (int)gettid_(), (int)thread_tid,
           (int)SIGRTMIN, (int)SIGRTMAX);
    fflush(stdout);

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)seconds;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) != 0)
        ;                   /* interrupted by a caught signal: sleep on */
    _exit(0);
}
