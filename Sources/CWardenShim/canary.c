/* The canaries: a child tries one operation a layer must refuse. It starts inside the
 * run's cgroup (BPF layers) or applies a Landlock ruleset first (Landlock), and only
 * async-signal-safe calls run in it: the parent is a multithreaded Swift process. */
#include "CWardenShim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

long warden_clone_into_cgroup(int cgroup_fd, uint64_t flags, int *pidfd) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = flags;
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgroup_fd;
    }
    if (pidfd) {
        args.flags |= CLONE_PIDFD;
        args.pidfd = (uint64_t)(uintptr_t)pidfd;
    }
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    return pid < 0 ? -errno : pid;
}

/* The child's exit codes. An exec that succeeds runs the probe program, which exits 0. */
enum { WENT_THROUGH = 10, REFUSED = 11, SETUP_FAILED = 20, SOCKET_FAILED = 21, FAILED_BASE = 30 };

static int attempt(const struct warden_canary *c) {
    switch (c->op) {
    case WARDEN_CANARY_OPEN: {
        int fd = open(c->path, O_RDONLY | O_CLOEXEC);
        return fd >= 0 ? 0 : -1;
    }
    case WARDEN_CANARY_MKDIR:
        if (mkdir(c->path, 0700) < 0) return -1;
        rmdir(c->path); /* not refused: leave nothing behind */
        return 0;
    case WARDEN_CANARY_EXEC: {
        char *const argv[] = {(char *)c->path, NULL};
        char *const envp[] = {NULL};
        execve(c->path, argv, envp);
        return -1;
    }
    default: {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) _exit(SOCKET_FAILED);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons(c->port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return connect(s, (struct sockaddr *)&a, sizeof a);
    }
    }
}

static void canary_child(const struct warden_canary *c) {
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
    }
    if (c->ruleset_fd >= 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || warden_landlock_restrict(c->ruleset_fd) < 0) _exit(SETUP_FAILED);
    }
    if (attempt(c) == 0) _exit(WENT_THROUGH);
    if (errno == c->refused_errno) _exit(REFUSED);
    _exit(errno > 0 && errno < 200 ? FAILED_BASE + errno : FAILED_BASE);
}

int warden_canary_run(const struct warden_canary *c, int *failed_errno) {
    *failed_errno = 0;
    long pid = warden_clone_into_cgroup(c->cgroup_fd, 0, NULL);
    if (pid < 0) return (int)pid;
    if (pid == 0) canary_child(c);
    int status;
    while (waitpid((pid_t)pid, &status, 0) < 0) {
        if (errno != EINTR) return -errno;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == REFUSED) return WARDEN_CANARY_REFUSED;
    if (code == 0 || code == WENT_THROUGH) return WARDEN_CANARY_WENT_THROUGH;
    if (code >= FAILED_BASE) {
        *failed_errno = code - FAILED_BASE;
        return WARDEN_CANARY_FAILED;
    }
    return code == SETUP_FAILED ? -EPERM : -EPROTO;
}
