// SPDX-License-Identifier: GPL-2.0
/* Tier 1: a BPF LSM program on file_open decides reads, writes and executions (the
 * kernel opens every program and ELF interpreter it executes with __FMODE_EXEC) for tasks
 * under the run's cgroup, from the policy's path rules, and refuses with EPERM. It
 * reports nothing: the tracepoints see the refusal at syscall exit, so each denial is one
 * event whichever layer made it. Loaded only in enforce mode, and trusted only after a
 * canary outside Landlock is refused. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

typedef __u8 uint8_t;
typedef __u32 uint32_t;
typedef __s32 int32_t;
typedef __u64 uint64_t;
#include "warden/event.h"
#include "warden/lsm_maps.h"

#define EPERM 1
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define FMODE_EXEC 0x20

/* Only the fields used, relocated by CO-RE. */
struct path;
struct path___wd {
    void *mnt;
    void *dentry;
} __attribute__((preserve_access_index));

struct file___wd {
    unsigned int f_mode;
    unsigned int f_flags;
    struct path___wd f_path;
} __attribute__((preserve_access_index));

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 4096);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct warden_lpm_key);
    __type(value, struct warden_fs_rule);
} fs_rules SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 4096);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct warden_lpm_key);
    __type(value, __u8);
} exec_rules SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct warden_lsm_settings);
} lsm_settings SEC(".maps");

#define WARDEN_WANT_RUN_CGROUP
#include "warden/maps.bpf.h"

struct lsm_scratch {
    char path[WARDEN_LPM_DATA];
    struct warden_lpm_key key;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct lsm_scratch);
} lsm_scratch_map SEC(".maps");

SEC("lsm/file_open")
int BPF_PROG(warden_file_open, struct file___wd *file) {
    if (!in_run()) return 0;
    __u32 zero = 0;
    struct warden_lsm_settings *set = bpf_map_lookup_elem(&lsm_settings, &zero);
    struct lsm_scratch *s = bpf_map_lookup_elem(&lsm_scratch_map, &zero);
    if (!set || !s) return 0;
    unsigned int mode = BPF_CORE_READ(file, f_mode);
    __u32 need = 0;
    if (mode & FMODE_READ) need |= WARDEN_ACCESS_READ;
    if (mode & FMODE_WRITE) need |= WARDEN_ACCESS_WRITE;
    /* Exec opens carry __FMODE_EXEC in f_flags (and, on newer kernels, FMODE_EXEC in f_mode). */
    int exec = (BPF_CORE_READ(file, f_flags) & FMODE_EXEC) || (mode & FMODE_EXEC);
    if (!set->fs_strict && !(exec && set->exec_allowlist)) return 0;

    long n = bpf_d_path((struct path *)&file->f_path, s->path, sizeof s->path);
    /* Paths the key cannot hold whole are refused: a cut path could match a rule it is not under. */
    if (n <= 1 || n >= WARDEN_LPM_DATA) return -EPERM;
    /* Pipes, sockets and anon inodes ("pipe:[…]"): no place in the tree, no path rule. */
    if (s->path[0] != '/' && !exec) return 0;
    __u64 len = n - 1; /* without the NUL */
    asm volatile("%0 &= 255" : "+r"(len));
    bpf_probe_read_kernel(s->key.data, len, s->path);
    s->key.data[len] = '/';
    s->key.prefixlen = (__u32)(len + 1) * 8;

    if (exec && set->exec_allowlist) {
        if (!bpf_map_lookup_elem(&exec_rules, &s->key)) return -EPERM;
        /* The kernel opens the program for reading too; the exec rule covers it. */
        need &= ~WARDEN_ACCESS_READ;
    }
    if (!set->fs_strict || !need) return 0;
    struct warden_fs_rule *r = bpf_map_lookup_elem(&fs_rules, &s->key);
    if (!r || (r->rights & need) != need) return -EPERM;
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
