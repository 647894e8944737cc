/* Waiting for the child, forwarding signals, and killing a run's cgroup. */
#include "CWardenShim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/prctl.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int signal_write_fd = -1;

static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t ignored = write(signal_write_fd, &b, 1);
    (void)ignored;
    errno = saved;
}

int warden_signal_pipe(void) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
    signal_write_fd = fds[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        if (sigaction(sigs[i], &sa, NULL) < 0) return -errno;
        sigaddset(&set, sigs[i]);
    }
    /* warden may have been started with these blocked (some launchers do): a blocked
     * SIGTERM would leave the build running after warden was asked to stop. */
    int rc = pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    if (rc != 0) return -rc; /* pthread functions return the errno itself */
    return fds[0];
}

int warden_supervise(pid_t pid, int pidfd, int sigfd, int *status, int *last_signal, struct rusage *usage) {
    struct pollfd p[2] = {{pidfd, POLLIN, 0}, {sigfd, POLLIN, 0}};
    for (;;) {
        int n = poll(p, sigfd >= 0 ? 2 : 1, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (sigfd >= 0 && (p[1].revents & POLLIN)) {
            unsigned char sigs[32];
            ssize_t got = read(sigfd, sigs, sizeof sigs);
            for (ssize_t i = 0; i < got; i++) {
                if (last_signal) *last_signal = sigs[i];
                /* The child leads its own group; ESRCH only means it is already gone. */
                if (kill(-pid, sigs[i]) < 0 && errno != ESRCH) return -errno;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP)) {
            for (;;) {
                pid_t r = wait4(pid, status, 0, usage);
                if (r == pid) return 0;
                if (r < 0 && errno != EINTR) return -errno;
            }
        }
    }
}

/* Parses the pids in cgroup.procs without stdio, so the guard can use it after fork.
 * 0 or -errno. */
static int kill_listed(int dirfd, int *killed) {
    int fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    char buf[4096];
    long pid = 0;
    int have = 0;
    *killed = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            int rc = -errno;
            close(fd);
            return rc;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                pid = pid * 10 + (buf[i] - '0');
                have = 1;
            } else if (have) {
                if (kill((pid_t)pid, SIGKILL) == 0) (*killed)++;
                pid = 0;
                have = 0;
            }
        }
        if (n == 0 && have && kill((pid_t)pid, SIGKILL) == 0) (*killed)++;
        if (n == 0) break;
    }
    close(fd);
    return 0;
}

static void short_sleep(void) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

int warden_cgroup_kill(const char *dir) {
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return -errno;
    int fd = openat(dirfd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n;
        do {
            n = write(fd, "1", 1);
        } while (n < 0 && errno == EINTR);
        int rc = n == 1 ? 0 : n < 0 ? -errno : -EIO;
        close(fd);
        close(dirfd);
        return rc;
    }
    /* Kernels before 5.14: kill what is listed until nothing is left (new forks land
     * in the same cgroup, so the loop converges). */
    for (int round = 0; round < 500; round++) {
        int killed = 0;
        int rc = kill_listed(dirfd, &killed);
        if (rc < 0) {
            close(dirfd);
            return rc;
        }
        if (killed == 0) {
            close(dirfd);
            return 0;
        }
        short_sleep();
    }
    close(dirfd);
    return -EBUSY;
}

int warden_spawn_guard(const char *dir, const char *tmpdir) {
    /* Built before fork: the guard itself must not allocate. */
    char *const rm_argv[] = {"rm", "-rf", "--", (char *)tmpdir, NULL};
    char *const rm_envp[] = {NULL};
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int rc = -errno;
        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    if (pid == 0) {
        /* Guard: no signals from the terminal, no inherited descriptors but its pipe. */
        close(fds[1]);
        setsid();
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        int rfd = fds[0];
        if (rfd != 3) {
            dup3(rfd, 3, O_CLOEXEC);
            rfd = 3;
        }
        syscall(SYS_close_range, 4, ~0U, 0);
        char b;
        ssize_t n;
        do {
            n = read(rfd, &b, 1);
        } while (n < 0 && errno == EINTR);
        /* warden has exited or finished: make sure the cgroup is empty and gone. */
        int emptied = 0;
        for (int i = 0; i < 500; i++) {
            if (warden_cgroup_kill(dir) == -ENOENT) { emptied = 1; break; }
            if (rmdir(dir) == 0 || errno == ENOENT) { emptied = 1; break; }
            short_sleep();
        }
        /* 'd' means warden finished and removed the run's private TMPDIR itself. Without
         * it warden died: remove the directory (build data) once no build process is left
         * to race the removal; rm does not follow symlinks. */
        if (tmpdir && emptied && !(n == 1 && b == 'd')) execve("/bin/rm", rm_argv, rm_envp);
        _exit(0);
    }
    close(fds[0]);
    return fds[1];
}

int warden_set_nondumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ? -errno : 0;
}

int warden_prctl_get_no_new_privs(void) {
    int r = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    return r < 0 ? -errno : r;
}

long warden_capget_effective(pid_t pid, uint64_t *effective, uint64_t *permitted) {
    struct {
        uint32_t version;
        int pid;
    } hdr = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, pid};
    struct {
        uint32_t effective, permitted, inheritable;
    } data[2];
    if (syscall(SYS_capget, &hdr, data) < 0) return -errno;
    *effective = ((uint64_t)data[1].effective << 32) | data[0].effective;
    *permitted = ((uint64_t)data[1].permitted << 32) | data[0].permitted;
    return 0;
}

int warden_is_cgroup2(const char *path) {
    struct statfs fs;
    if (statfs(path, &fs) < 0) return -errno;
    return fs.f_type == CGROUP2_SUPER_MAGIC ? 1 : 0;
}

int warden_reserve_space(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length) < 0 ? -errno : 0;
}
