/* C side of warden's confinement layer. Every function is prefixed warden_.
 * Only async-signal-safe calls happen between clone and exec: no Swift runs there. */
#ifndef CWARDEN_SHIM_H
#define CWARDEN_SHIM_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

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
    WARDEN_STAGE_EXEC,
};

struct warden_rlimit {
    int resource;
    uint64_t soft;
    uint64_t hard;
};

struct warden_spawn_config {
    const char *path;        /* absolute path of the program, resolved by the parent */
    char *const *argv;       /* NULL-terminated */
    char *const *envp;       /* NULL-terminated, already scrubbed */
    const char *cwd;         /* NULL: inherit */
    int cgroup_fd;           /* O_DIRECTORY fd of the run's cgroup v2 directory */
    int set_ids;             /* 1: switch to uid/gid below (the sudo caller) */
    uint32_t uid;
    uint32_t gid;
    int cap_last_cap;        /* from /proc/sys/kernel/cap_last_cap */
    const struct warden_rlimit *rlimits;
    int rlimit_count;
};

struct warden_spawn_result {
    pid_t pid;       /* > 0 when the child exec'd */
    int pidfd;       /* pidfd of the child, O_CLOEXEC */
    int stage;       /* enum warden_spawn_stage; NONE on success */
    int error;       /* errno at that stage */
};

/* Starts the child directly inside cfg->cgroup_fd (clone3 + CLONE_INTO_CGROUP), applies
 * the hardening in order and execs. Returns 0 once the exec succeeded, -1 otherwise with
 * result->stage/error set (the failed child has been reaped). */
int warden_spawn(const struct warden_spawn_config *cfg, struct warden_spawn_result *result);

/* Installs handlers for SIGINT, SIGTERM, SIGHUP and SIGQUIT that write the signal number
 * to a non-blocking pipe; returns its read end (O_CLOEXEC) or -1. */
int warden_signal_pipe(void);

/* Waits for the child behind pidfd. Each signal arriving on sigfd is forwarded to the
 * child's process group (and recorded in *last_signal). Returns the wait status in
 * *status (as waitpid) and the child's resource usage in *usage; 0 or -1 with errno. */
int warden_supervise(pid_t pid, int pidfd, int sigfd, int *status, int *last_signal, struct rusage *usage);

/* Kills every process in the cgroup v2 directory `dir`: cgroup.kill where the kernel has
 * it, else SIGKILL to each pid in cgroup.procs until it is empty. 0 or -1 with errno. */
int warden_cgroup_kill(const char *dir);

/* Forks a guard process outside the run's cgroup that waits for warden to exit (EOF on a
 * pipe) and then kills and removes `dir`, so no sandboxed process outlives warden even
 * when warden is SIGKILLed. Returns the pipe's write end (O_CLOEXEC), to be closed once
 * warden has cleaned up itself, or -1 with errno. */
int warden_spawn_guard(const char *dir);

/* Thin wrappers for what Swift's Glibc module cannot call (variadic or missing). */
int warden_prctl_get_no_new_privs(void);
long warden_capget_effective(pid_t pid, uint64_t *effective, uint64_t *permitted);
/* 1 if `path` is on a cgroup2 filesystem, 0 if not, -1 with errno. */
int warden_is_cgroup2(const char *path);

#endif
