/* The child's path from clone3 to execve. Everything here is async-signal-safe: the
 * parent is a multithreaded Swift process and only the calling thread exists in the
 * child. Failures travel back as (stage, errno) over an O_CLOEXEC pipe. */
#include "CWardenShim.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <linux/sched.h>
#include <linux/securebits.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

struct child_report {
    int stage;
    int error;
};

static void report_and_exit(int fd, int stage) {
    struct child_report r = {stage, errno};
    ssize_t n;
    do {
        n = write(fd, &r, sizeof r);
    } while (n < 0 && errno == EINTR);
    _exit(127);
}

static int reset_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        /* Real-time signals reserved by glibc fail with EINVAL: not ours to reset. */
        if (sigaction(sig, &sa, NULL) < 0 && errno != EINVAL) return -1;
    }
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}

static int drop_capabilities(const struct warden_spawn_config *cfg, int report_fd) {
    /* Lock root out of regaining capabilities through exec or setuid, then empty every
     * set. The order matters: securebits and the bounding set need CAP_SETPCAP, the id
     * switch needs CAP_SETUID/CAP_SETGID, so those come before capset() clears all. */
    int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
               SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
               SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0) report_and_exit(report_fd, WARDEN_STAGE_SECUREBITS);
    for (int cap = 0; cap <= cfg->cap_last_cap; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            report_and_exit(report_fd, WARDEN_STAGE_BOUNDING);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        report_and_exit(report_fd, WARDEN_STAGE_AMBIENT);
    if (cfg->set_ids) {
        /* Raw syscalls, not glibc's wrappers: those broadcast the change to every thread
         * glibc believes exists. The child came from a raw clone3, so that list is the
         * parent's; the broadcast can block forever on a lock another parent thread held
         * at clone time (seen as a hang in CI). Only this thread exists here. */
        gid_t gid = (gid_t)cfg->gid;
        if (syscall(SYS_setgroups, 1, &gid) < 0) report_and_exit(report_fd, WARDEN_STAGE_GROUPS);
        if (syscall(SYS_setresgid, gid, gid, gid) < 0) report_and_exit(report_fd, WARDEN_STAGE_GID);
        if (syscall(SYS_setresuid, (uid_t)cfg->uid, (uid_t)cfg->uid, (uid_t)cfg->uid) < 0)
            report_and_exit(report_fd, WARDEN_STAGE_UID);
    }
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) < 0) report_and_exit(report_fd, WARDEN_STAGE_CAPS);
    return 0;
}

/* One descriptor over a unix socket (SCM_RIGHTS). */
static int send_fd(int sock, int fd) {
    char byte = 0;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

/* The descriptor, or -errno. */
static int recv_fd(int sock) {
    char byte;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    ssize_t got = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got != 1) return got < 0 ? -errno : -EPROTO;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) return -EPROTO;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

/* The path as the kernel reaches it with no symbolic link on the way (warden passes
 * resolved paths): a link found there now was swapped in since, by a build running
 * beside this one, and is never followed. O_PATH, close-on-exec; -1 with errno. */
static int open_no_links(const char *path) {
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS};
    return (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
}

/* "/proc/self/fd/N" without stdio (this runs between clone and exec). */
static void fd_path(char out[32], int fd) {
    static const char prefix[] = "/proc/self/fd/";
    char digits[12];
    int n = 0;
    do digits[n++] = (char)('0' + fd % 10); while ((fd /= 10) > 0 && n < 11);
    memcpy(out, prefix, sizeof prefix - 1);
    for (int i = 0; i < n; i++) out[sizeof prefix - 1 + i] = digits[n - 1 - i];
    out[sizeof prefix - 1 + n] = 0;
}

/* Every mount of the build's view read-only except its write paths: Landlock has no
 * right for chmod, chown, utimensat or setxattr, so without this a build could change
 * the mode, owner, times or ACL of any file its user owns (every root-owned file, for
 * plain root). A read-only mount refuses them all with EROFS, by path or by a descriptor
 * opened in the view, whatever link the build swaps in. Each write path is bound onto
 * itself first and made writable again after, unless it was read-only already (an
 * admin's read-only volume must stay so); mounts nested in a write path stay read-only. */
static void readonly_root(const struct warden_spawn_config *cfg, int report_fd) {
    char keep[WARDEN_MAX_WRITABLE] = {0};
    int n = cfg->writable_count;
    if (n > WARDEN_MAX_WRITABLE) {
        errno = E2BIG; /* never leave one out: it would turn read-only unannounced */
        report_and_exit(report_fd, WARDEN_STAGE_MOUNTS);
    }
    for (int i = 0; i < n; i++) {
        int fd = open_no_links(cfg->writable_paths[i]);
        if (fd < 0) {
            if (errno == ENOENT) continue; /* nothing there to keep writable */
            report_and_exit(report_fd, WARDEN_STAGE_MOUNTS);
        }
        struct stat st;
        struct statvfs vfs;
        if (fstat(fd, &st) < 0 || fstatvfs(fd, &vfs) < 0) report_and_exit(report_fd, WARDEN_STAGE_MOUNTS);
        /* Devices (/dev/null, /dev/tty) are written through a read-only mount all the
         * same; left read-only, their mode and times are the host's to keep. */
        if ((S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) && !(vfs.f_flag & ST_RDONLY)) {
            char at[32];
            fd_path(at, fd);
            if (mount(at, at, NULL, MS_BIND | MS_REC, NULL) < 0) report_and_exit(report_fd, WARDEN_STAGE_MOUNTS);
            keep[i] = 1;
        }
        close(fd);
    }
    struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof ro) < 0) report_and_exit(report_fd, WARDEN_STAGE_MOUNTS);
    struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY};
    for (int i = 0; i < n; i++) {
        if (!keep[i]) continue;
        /* The bind made above, reached again with no link on the way: never a mount a
         * swapped link points at (the root's, say). */
        int fd = open_no_links(cfg->writable_paths[i]);
        if (fd < 0 || syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &rw, sizeof rw) < 0)
            report_and_exit(report_fd, WARDEN_STAGE_MOUNTS);
        close(fd);
    }
}

/* Paths the build may read but never write although a write rule above covers them (a
 * make project's .git: its hooks and configuration run later, outside any sandbox).
 * Landlock cannot carve them out of a rule above, so they are bind-mounted read-only. */
static void protect_paths(const struct warden_spawn_config *cfg, int report_fd) {
    for (int i = 0; i < cfg->readonly_count; i++) {
        const char *p = cfg->readonly_paths[i];
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
            if (errno == ENOENT) continue; /* nothing there to protect */
            report_and_exit(report_fd, WARDEN_STAGE_MOUNTS);
        }
        if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
            report_and_exit(report_fd, WARDEN_STAGE_MOUNTS);
    }
}

static int notify_socket = -1; /* the child's end, set before clone3 */

static void child_main(const struct warden_spawn_config *cfg, pid_t parent, int report_fd) {
    /* Die with warden; if warden is already gone, do not run at all. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) report_and_exit(report_fd, WARDEN_STAGE_PDEATHSIG);
    if (getppid() != parent) _exit(127);
    if (reset_signals() < 0) report_and_exit(report_fd, WARDEN_STAGE_SIGNALS);
    /* A session of its own: its own process group (warden forwards signals to it) and
     * no controlling terminal, so the build cannot push input into the user's shell
     * (TIOCSTI needs the tty to be the caller's controlling one) or open /dev/tty. */
    if (setsid() < 0) report_and_exit(report_fd, WARDEN_STAGE_PGRP);
    /* Only 0, 1 and 2 cross exec: whatever else warden's caller left open (a secret
     * redirected to fd 7) must not reach the build. CLOEXEC rather than close, so the
     * report pipe and the Landlock ruleset stay usable until exec. */
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        struct rlimit nofile;
        int max = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < (1 << 20) ? (int)nofile.rlim_cur : 1 << 20;
        for (int fd = 3; fd < max; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    for (int i = 0; i < cfg->rlimit_count; i++) {
        struct rlimit rl = {(rlim_t)cfg->rlimits[i].soft, (rlim_t)cfg->rlimits[i].hard};
        if (setrlimit(cfg->rlimits[i].resource, &rl) < 0) report_and_exit(report_fd, WARDEN_STAGE_RLIMIT);
    }
    if (cfg->readonly_root || cfg->readonly_count > 0) {
        if (syscall(SYS_unshare, CLONE_NEWNS) < 0) report_and_exit(report_fd, WARDEN_STAGE_MOUNTS);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) report_and_exit(report_fd, WARDEN_STAGE_MOUNTS);
        if (cfg->readonly_root) readonly_root(cfg, report_fd);
        protect_paths(cfg, report_fd);
    }
    drop_capabilities(cfg, report_fd);
    /* The kernel clears the parent-death signal when the uid or gid changes: set it
     * again as the invoking user, and look again for a warden that died meanwhile. */
    if (cfg->set_ids) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) report_and_exit(report_fd, WARDEN_STAGE_PDEATHSIG);
        if (getppid() != parent) _exit(127);
    }
    if (cfg->cwd && chdir(cfg->cwd) < 0) report_and_exit(report_fd, WARDEN_STAGE_CHDIR);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) report_and_exit(report_fd, WARDEN_STAGE_NO_NEW_PRIVS);
    /* Landlock, then seccomp last, so the filter sees only the exec it must allow. */
    if (cfg->landlock_fd >= 0 && syscall(446 /* landlock_restrict_self */, cfg->landlock_fd, 0) < 0)
        report_and_exit(report_fd, WARDEN_STAGE_LANDLOCK);
    /* Every filter applies to every call and the most restrictive answer wins, so the
     * boundary filter holds whatever the profile's filter allows. */
    for (int i = 0; i < cfg->seccomp_count; i++) {
        struct sock_fprog prog = {cfg->seccomp[i].count, (struct sock_filter *)cfg->seccomp[i].instructions};
        if (i == cfg->notify_filter) {
            int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
            if (listener < 0) report_and_exit(report_fd, WARDEN_STAGE_SECCOMP);
            /* Handed over before exec (the listener is close-on-exec). Warden's policy check
             * keeps sendmsg, execve and exit out of notify rules: nobody could answer yet. */
            if (send_fd(notify_socket, listener) < 0) report_and_exit(report_fd, WARDEN_STAGE_NOTIFY);
        } else if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
            report_and_exit(report_fd, WARDEN_STAGE_SECCOMP);
        }
    }
    execve(cfg->path, cfg->argv, cfg->envp);
    report_and_exit(report_fd, WARDEN_STAGE_EXEC);
}

int warden_spawn(const struct warden_spawn_config *cfg, struct warden_spawn_result *result) {
    memset(result, 0, sizeof *result);
    result->pidfd = -1;
    result->notify_fd = -1;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        result->stage = WARDEN_STAGE_PIPE;
        result->error = errno;
        return -result->error;
    }
    int sv[2] = {-1, -1};
    if (cfg->notify_filter >= 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        result->stage = WARDEN_STAGE_NOTIFY;
        result->error = errno;
        close(fds[0]);
        close(fds[1]);
        return -result->error;
    }
    notify_socket = sv[1];
    pid_t parent = getpid();
    int pidfd = -1;
    /* New IPC and cgroup namespaces: SysV objects the build makes die with it, and the
     * run's cgroup is the root of the build's view, so even uid 0 cannot move a process
     * (clone3 CLONE_INTO_CGROUP, cgroup.procs) out of it. */
    long pid = warden_clone_into_cgroup(cfg->cgroup_fd, CLONE_NEWIPC | CLONE_NEWCGROUP, &pidfd);
    if (pid < 0) {
        result->stage = WARDEN_STAGE_CLONE;
        result->error = (int)-pid;
        close(fds[0]);
        close(fds[1]);
        if (sv[0] >= 0) close(sv[0]), close(sv[1]);
        return (int)pid;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(cfg, parent, fds[1]);
        _exit(127); /* not reached */
    }
    close(fds[1]);
    if (sv[1] >= 0) close(sv[1]);
    struct child_report r = {0, 0};
    ssize_t n;
    do {
        n = read(fds[0], &r, sizeof r);
    } while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == (ssize_t)sizeof r) {
        /* The child reported a failure and exited: reap it, hand back the cause. */
        int status;
        while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {}
        close(pidfd);
        if (sv[0] >= 0) close(sv[0]);
        result->stage = r.stage;
        result->error = r.error;
        /* A report always carries an errno; EIO keeps a failure negative should one not. */
        return r.error > 0 ? -r.error : -EIO;
    }
    /* EOF: the CLOEXEC pipe closed on a successful exec; the listener was sent before. */
    if (sv[0] >= 0) {
        int fd = recv_fd(sv[0]);
        close(sv[0]);
        if (fd < 0) {
            syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
            int status;
            while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {}
            close(pidfd);
            result->stage = WARDEN_STAGE_NOTIFY;
            result->error = -fd;
            return fd;
        }
        result->notify_fd = fd;
    }
    result->pid = (pid_t)pid;
    result->pidfd = pidfd;
    return 0;
}
