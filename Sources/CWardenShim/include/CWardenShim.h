/* C side of warden's confinement layer. Every function is prefixed warden_.
 * Only async-signal-safe calls happen between clone and exec: no Swift runs there.
 *
 * Return convention: a function that can fail returns a negative errno (-EPERM…) and
 * never sets errno for its caller to read, so the answer cannot be clobbered by whatever
 * runs between the call and the check (Swift's runtime may allocate there). Success is 0,
 * or a non-negative value the function documents (a descriptor, a count, an outcome).
 * Pointers are non-null unless marked _Nullable (clang's assume_nonnull below; pointers
 * to pointers say both levels, which it leaves alone). */
#ifndef CWARDEN_SHIM_H
#define CWARDEN_SHIM_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#pragma clang assume_nonnull begin

/* Where a spawn failed; reported back to the parent with errno. */
enum warden_spawn_stage {
    WARDEN_STAGE_NONE = 0,
    WARDEN_STAGE_PIPE,
    WARDEN_STAGE_CLONE,
    WARDEN_STAGE_PDEATHSIG,
    WARDEN_STAGE_SIGNALS,
    WARDEN_STAGE_PGRP,
    WARDEN_STAGE_STDIO,
    WARDEN_STAGE_RLIMIT,
    WARDEN_STAGE_SECUREBITS,
    WARDEN_STAGE_BOUNDING,
    WARDEN_STAGE_AMBIENT,
    WARDEN_STAGE_GROUPS,
    WARDEN_STAGE_GID,
    WARDEN_STAGE_UID,
    WARDEN_STAGE_CAPS,
    WARDEN_STAGE_NO_NEW_PRIVS,
    WARDEN_STAGE_CHDIR,
    WARDEN_STAGE_LANDLOCK,
    WARDEN_STAGE_SECCOMP,
    WARDEN_STAGE_EXEC,
    WARDEN_STAGE_MOUNTS,
    WARDEN_STAGE_NOTIFY, /* the seccomp listener could not be handed to warden */
};

/* A classic BPF program (struct sock_filter[count]) as exported by libseccomp. */
struct warden_bpf_program {
    void *_Nullable instructions; /* NULL when empty or freed */
    uint16_t count;
};

struct warden_rlimit {
    int resource;
    uint64_t soft;
    uint64_t hard;
};

struct warden_spawn_config {
    const char *path;        /* absolute path of the program, resolved by the parent */
    char *_Nullable const *_Nonnull argv; /* NULL-terminated */
    char *_Nullable const *_Nonnull envp; /* NULL-terminated, already scrubbed */
    const char *_Nullable cwd;   /* NULL: inherit */
    int cgroup_fd;           /* O_DIRECTORY fd of the run's cgroup v2 directory */
    int set_ids;             /* 1: switch to uid/gid below (the sudo caller) */
    uint32_t uid;
    uint32_t gid;
    int cap_last_cap;        /* from /proc/sys/kernel/cap_last_cap */
    const struct warden_rlimit *_Nullable rlimits; /* NULL when rlimit_count is 0 */
    int rlimit_count;
    int landlock_fd;         /* ruleset to enforce, or -1 */
    const struct warden_bpf_program *_Nullable seccomp; /* filters to install last, in order; NULL when none */
    int seccomp_count;
    const char *_Nonnull const *_Nullable readonly_paths; /* bind-mounted read-only in a new mount namespace; NULL when none */
    int readonly_count;
    int notify_filter;       /* index of the filter installed with a listener (the last), or -1 */
    int readonly_root;       /* 1: every mount read-only in a new mount namespace, but for: */
    const char *_Nonnull const *_Nullable writable_paths; /* the write paths, bound onto themselves (at most WARDEN_MAX_WRITABLE); NULL when none */
    int writable_count;
};

#define WARDEN_MAX_WRITABLE 256

struct warden_spawn_result {
    pid_t pid;       /* > 0 when the child exec'd */
    int pidfd;       /* pidfd of the child, O_CLOEXEC */
    int stage;       /* enum warden_spawn_stage; NONE on success */
    int error;       /* errno at that stage */
    int notify_fd;   /* the seccomp listener (O_CLOEXEC) when cfg->notify_filter >= 0, else -1 */
};

/* Starts the child directly inside cfg->cgroup_fd (clone3 + CLONE_INTO_CGROUP), applies
 * the hardening in order and execs. Returns 0 once the exec succeeded, else -errno with
 * result->stage and result->error (the same errno) set; the failed child has been reaped. */
int warden_spawn(const struct warden_spawn_config *cfg, struct warden_spawn_result *result);

/* Installs handlers for SIGINT, SIGTERM, SIGHUP and SIGQUIT that write the signal number
 * to a non-blocking pipe; returns its read end (O_CLOEXEC) or -errno. */
int warden_signal_pipe(void);

/* Waits for the child behind pidfd. Each signal arriving on sigfd (-1: none) is forwarded
 * to the child's process group (and recorded in *last_signal). Returns the wait status in
 * *status (as waitpid) and the child's resource usage in *usage; 0 or -errno. */
int warden_supervise(pid_t pid, int pidfd, int sigfd, int *_Nullable status, int *_Nullable last_signal,
                     struct rusage *_Nullable usage);

/* Kills every process in the cgroup v2 directory `dir`: cgroup.kill where the kernel has
 * it, else SIGKILL to each pid in cgroup.procs until it is empty. 0 or -errno. */
int warden_cgroup_kill(const char *dir);

/* Forks a guard process outside the run's cgroup that waits for warden to exit (EOF on a
 * pipe) and then kills and removes `dir`, so no sandboxed process outlives warden even
 * when warden is SIGKILLed. Returns the pipe's write end (O_CLOEXEC), to be closed once
 * warden has cleaned up itself, or -errno. */
int warden_spawn_guard(const char *dir, const char *_Nullable tmpdir); /* NULL: no private TMPDIR */

/* Landlock access rights (the kernel's values, ABI 1…7). */
#define WARDEN_LL_EXECUTE (1ULL << 0)
#define WARDEN_LL_WRITE_FILE (1ULL << 1)
#define WARDEN_LL_READ_FILE (1ULL << 2)
#define WARDEN_LL_READ_DIR (1ULL << 3)
#define WARDEN_LL_REMOVE_DIR (1ULL << 4)
#define WARDEN_LL_REMOVE_FILE (1ULL << 5)
#define WARDEN_LL_MAKE_CHAR (1ULL << 6)
#define WARDEN_LL_MAKE_DIR (1ULL << 7)
#define WARDEN_LL_MAKE_REG (1ULL << 8)
#define WARDEN_LL_MAKE_SOCK (1ULL << 9)
#define WARDEN_LL_MAKE_FIFO (1ULL << 10)
#define WARDEN_LL_MAKE_BLOCK (1ULL << 11)
#define WARDEN_LL_MAKE_SYM (1ULL << 12)
#define WARDEN_LL_REFER (1ULL << 13)     /* ABI 2 */
#define WARDEN_LL_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define WARDEN_LL_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define WARDEN_LL_FILE_RIGHTS (WARDEN_LL_EXECUTE | WARDEN_LL_WRITE_FILE | WARDEN_LL_READ_FILE | WARDEN_LL_TRUNCATE | WARDEN_LL_IOCTL_DEV)
#define WARDEN_LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define WARDEN_LL_SCOPE_SIGNAL (1ULL << 1)               /* ABI 6 */

/* The Landlock ABI version, or -errno (-ENOSYS: not built, -EOPNOTSUPP: disabled). */
int warden_landlock_abi(void);

/* 1 when the kernel has mount_setattr (Linux 5.12), which the read-only view needs. */
int warden_mount_setattr_supported(void);
/* A ruleset handling `handled_fs` (and `scoped`, ABI 6+); O_CLOEXEC fd or -errno. */
int warden_landlock_create(uint64_t handled_fs, uint64_t scoped, int abi);
/* Allows `access` beneath `path` (file rights only, for a file); 0 or -errno. */
int warden_landlock_add_path(int ruleset_fd, const char *path, uint64_t access);
/* landlock_restrict_self(); for canaries and tests (the child path calls it itself).
 * 0 or -errno. */
int warden_landlock_restrict(int ruleset_fd);

/* clone3 for a child that starts inside the cgroup behind `cgroup_fd` (-1: warden's own),
 * with `flags` added (CLONE_NEW*) and, when `pidfd` is not NULL, CLONE_PIDFD. As fork():
 * the child's pid in the parent, 0 in the child; -errno when no child started. The one
 * way warden starts a process in a run's cgroup (the build and the canaries). */
long warden_clone_into_cgroup(int cgroup_fd, uint64_t flags, int *_Nullable pidfd);

/* A canary: one operation a layer must refuse, tried by a child (Canary.swift). */
enum warden_canary_op {
    WARDEN_CANARY_OPEN = 0,    /* open `path` for reading */
    WARDEN_CANARY_EXEC = 1,    /* execute `path` (a program that exits 0) */
    WARDEN_CANARY_MKDIR = 2,   /* create the directory `path` (removed again if that works) */
    WARDEN_CANARY_CONNECT = 3, /* TCP connect to 127.0.0.1:`port` */
};
struct warden_canary {
    int cgroup_fd;              /* start the child there; -1: warden's own cgroup */
    int ruleset_fd;             /* apply this Landlock ruleset first; -1: none */
    int op;                     /* enum warden_canary_op */
    const char *_Nullable path; /* open, exec, mkdir; NULL for connect */
    uint16_t port;              /* connect */
    int refused_errno;          /* the layer's answer: EACCES (Landlock), EPERM (BPF) */
};
enum warden_canary_outcome {
    WARDEN_CANARY_WENT_THROUGH = 0, /* not refused: the layer does not deny */
    WARDEN_CANARY_REFUSED = 1,      /* refused with refused_errno */
    WARDEN_CANARY_FAILED = 2,       /* failed with another errno (in *failed_errno): proves nothing */
};
/* Runs the canary and waits for it: an enum warden_canary_outcome (with FAILED, the
 * errno the operation failed with in *failed_errno), or -errno when the canary itself
 * could not run. */
int warden_canary_run(const struct warden_canary *canary, int *failed_errno);

/* seccomp user notification, for warden's agent. One call per ioctl. */
struct warden_notification {
    uint64_t id;
    uint32_t pid;
    int32_t nr;
    uint64_t args[6];
};
/* Waits up to timeout_ms for a notification: 1 and *out filled, 0 on timeout, or -errno
 * (-ENOENT: the call was interrupted before it could be read). */
int warden_notify_recv(int listener, int timeout_ms, struct warden_notification *out);
/* 0 while notification `id` is pending (its task still waits), or -errno. */
int warden_notify_id_valid(int listener, uint64_t id);
/* Answers `id`: let the call run (allow = 1), or fail it with `error` (a positive errno).
 * 0 or -errno. */
int warden_notify_respond(int listener, uint64_t id, int allow, int error);

/* Syscall number for a name on the native architecture, or -ENOENT. */
int warden_seccomp_resolve(const char *name);
/* Syscall number for a name on `arch` ("x86_64", "aarch64"): -ENOENT when libseccomp
 * knows no such call, -ENOSYS when the call exists elsewhere but not on `arch`, -EINVAL
 * for an unknown arch. */
int warden_seccomp_resolve_arch(const char *name, const char *arch);
/* The name of native system call `nr` into buf (NUL-terminated): 0, -ENOENT when unknown,
 * -EINVAL when len is 0. */
int warden_seccomp_name(int nr, char *buf, size_t len);
struct warden_seccomp_arg {
    uint32_t index; /* 0…5 */
    uint32_t op;    /* enum scmp_compare */
    uint64_t value;
    uint64_t value_two;
};

struct warden_seccomp_rule {
    int32_t nr;      /* native syscall number */
    uint32_t action; /* SECCOMP_RET_* value */
    uint32_t arg_count;
    const struct warden_seccomp_arg *_Nullable args; /* NULL when arg_count is 0 */
};

/* Builds a filter (native architecture; other ABIs are killed) and exports it as classic
 * BPF into *out. 0, or -errno with *failed_rule naming the rule libseccomp refused. */
int warden_seccomp_build(uint32_t default_action, const struct warden_seccomp_rule *_Nullable rules, int count,
                         struct warden_bpf_program *out, int *failed_rule);
void warden_bpf_program_free(struct warden_bpf_program *p);

/* Thin wrappers for what Swift's Glibc module cannot call (variadic or missing). */
/* PR_GET_NO_NEW_PRIVS: 1 or 0, or -errno. */
int warden_prctl_get_no_new_privs(void);
/* PR_SET_DUMPABLE 0: /proc/<warden>/environ, mem… need CAP_SYS_PTRACE from now on.
 * 0 or -errno. */
int warden_set_nondumpable(void);
/* capget of `pid`'s effective and permitted sets: 0 or -errno. */
long warden_capget_effective(pid_t pid, uint64_t *effective, uint64_t *permitted);
/* 1 if `path` is on a cgroup2 filesystem, 0 if not, -errno. */
int warden_is_cgroup2(const char *path);
/* Allocates [offset, offset+length) of `fd` without changing its size (fallocate with
 * FALLOC_FL_KEEP_SIZE); 0 or -errno. */
int warden_reserve_space(int fd, int64_t offset, int64_t length);

#pragma clang assume_nonnull end

#endif
