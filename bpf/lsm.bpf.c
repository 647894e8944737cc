// SPDX-License-Identifier: GPL-2.0
/* Tier 1: a BPF LSM program on file_open decides reads, writes and executions (the
 * kernel opens every program and ELF interpreter it executes with __FMODE_EXEC), and the
 * path hooks decide creating, removing, linking, renaming and changing a file's mode or
 * owner, for tasks under the run's cgroup, from the policy's path rules; refusals are EPERM. It
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
#include "warden/lsm_decide.h"

#define EPERM 1

struct path;
#include "warden/classify.h" /* WARDEN_NAME_MAX */
#include "warden/walk.bpf.h"

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

struct scratch {
    char buf[SCRATCH_SIZE]; /* the walk's buffer (walk.bpf.h) */
    char name[WARDEN_NAME_MAX];
    int pos;
    int truncated;
    char path[WARDEN_LPM_DATA];
    struct warden_lpm_key key;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} lsm_scratch_map SEC(".maps");

static __always_inline struct scratch *get_scratch(void) {
    __u32 zero = 0;
    return bpf_map_lookup_elem(&lsm_scratch_map, &zero);
}

#define WARDEN_WALK_CODE
#include "warden/walk.bpf.h"

static __always_inline struct warden_lsm_settings *settings(void) {
    __u32 zero = 0;
    return bpf_map_lookup_elem(&lsm_settings, &zero);
}

/* Creating, removing or renaming `dentry` in `dir` needs write on "dir/name": the same
 * rule an open for writing needs (removal and creation are writes to the tree). The
 * directory is named by the walk (bpf_d_path is not allowed in these hooks). */
static __always_inline int check_change(const struct path___wd *dir, struct dentry___wd *dentry) {
    if (!in_run()) return 0;
    struct warden_lsm_settings *set = settings();
    struct scratch *s = get_scratch();
    if (!set || !s || !set->fs_strict) return 0;
    int start = walk(s, BPF_CORE_READ(dir, dentry), BPF_CORE_READ(dir, mnt));
    if (s->buf[start & MASK] != '/') return -EPERM; /* not nameable: never covered */
    /* "dir" + "/" + name, then the key's trailing "/": "dir/name/". */
    int at = BASE;
    if (start == BASE - 1) at = BASE - 1; /* the root: "/" + name */
    s->buf[at & 8191] = '/'; /* BASE itself: MASK would wrap it to 0 */
    __u32 nl = BPF_CORE_READ(dentry, d_name.len);
    if (nl > 255) return -EPERM;
    __u64 n = nl, where = at + 1;
    asm volatile("%0 &= 255" : "+r"(n));
    asm volatile("%0 &= 8191" : "+r"(where));
    bpf_probe_read_kernel(s->buf + where, n, BPF_CORE_READ(dentry, d_name.name));
    __u64 len = (__u64)(at + 1 + nl - start);
    if (len + 1 > WARDEN_LPM_DATA) return -EPERM;
    __u64 from = start;
    asm volatile("%0 &= 255" : "+r"(len));
    asm volatile("%0 &= 4095" : "+r"(from));
    bpf_probe_read_kernel(s->key.data, len, s->buf + from);
    s->key.data[len] = '/';
    s->key.prefixlen = (__u32)(len + 1) * 8;
    struct warden_fs_rule *r = bpf_map_lookup_elem(&fs_rules, &s->key);
    if (!r || !(r->rights & WARDEN_ACCESS_WRITE)) return -EPERM;
    return 0;
}

/* The walked object in buf[start, BASE) ("/" itself is the key "/"), looked up in the
 * file rules: -EPERM unless its rule grants one of `rights`. */
static __always_inline int refused_unless(struct scratch *s, int start, __u32 rights) {
    __u64 len = start == BASE - 1 ? 0 : (__u64)(BASE - start);
    if (len + 1 > WARDEN_LPM_DATA) return -EPERM;
    __u64 from = start;
    asm volatile("%0 &= 255" : "+r"(len));
    asm volatile("%0 &= 4095" : "+r"(from));
    bpf_probe_read_kernel(s->key.data, len, s->buf + from);
    s->key.data[len] = '/';
    s->key.prefixlen = (__u32)(len + 1) * 8;
    struct warden_fs_rule *r = bpf_map_lookup_elem(&fs_rules, &s->key);
    return r && (r->rights & rights) ? 0 : -EPERM;
}

/* Changing the mode or owner of a file needs write on it, as an open for writing would
 * (Landlock does not cover these: tier 1 is the only layer that refuses them); so does
 * giving it a new name by a hard link, through which it could then be written. */
static __always_inline int check_written(struct dentry___wd *dentry, struct vfsmount___wd *mnt) {
    if (!in_run()) return 0;
    struct warden_lsm_settings *set = settings();
    struct scratch *s = get_scratch();
    if (!set || !s || !set->fs_strict) return 0;
    int start = walk(s, dentry, mnt);
    char first = s->buf[start & MASK];
    if (first == '?') return -EPERM; /* not nameable whole: never covered */
    if (first != '/') return 0;      /* a pipe or socket: no place in the tree */
    return refused_unless(s, start, WARDEN_ACCESS_WRITE);
}

/* The tries, for the decision in lsm_decide.h (`tries` is unused: the maps are global). */
WARDEN_LSM_INLINE const void *warden_lsm_exec_rule(const void *tries, const struct warden_lpm_key *key) {
    return bpf_map_lookup_elem(&exec_rules, key);
}

WARDEN_LSM_INLINE const struct warden_fs_rule *warden_lsm_fs_rule(const void *tries, const struct warden_lpm_key *key) {
    return bpf_map_lookup_elem(&fs_rules, key);
}

SEC("lsm/file_open")
int BPF_PROG(warden_file_open, struct file___wd *file) {
    if (!in_run()) return 0;
    struct warden_lsm_settings *set = settings();
    struct scratch *s = get_scratch();
    if (!set || !s) return 0;
    unsigned int mode = BPF_CORE_READ(file, f_mode);
    int exec = warden_lsm_is_exec(mode, BPF_CORE_READ(file, f_flags));
    if (!warden_lsm_checks(set, exec)) return 0;
    long n = bpf_d_path((struct path *)&file->f_path, s->path, sizeof s->path);
    return warden_lsm_refuses(0, set, warden_lsm_need(mode), exec, s->path, n, &s->key) ? -EPERM : 0;
}

/* Creating, removing, linking and renaming (CONFIG_SECURITY_PATH hooks). */
SEC("lsm/path_mknod")
int BPF_PROG(warden_path_mknod, const struct path___wd *dir, struct dentry___wd *dentry) { return check_change(dir, dentry); }

SEC("lsm/path_mkdir")
int BPF_PROG(warden_path_mkdir, const struct path___wd *dir, struct dentry___wd *dentry) { return check_change(dir, dentry); }

SEC("lsm/path_symlink")
int BPF_PROG(warden_path_symlink, const struct path___wd *dir, struct dentry___wd *dentry) { return check_change(dir, dentry); }

SEC("lsm/path_unlink")
int BPF_PROG(warden_path_unlink, const struct path___wd *dir, struct dentry___wd *dentry) { return check_change(dir, dentry); }

SEC("lsm/path_rmdir")
int BPF_PROG(warden_path_rmdir, const struct path___wd *dir, struct dentry___wd *dentry) { return check_change(dir, dentry); }

SEC("lsm/path_link")
int BPF_PROG(warden_path_link, struct dentry___wd *old, const struct path___wd *dir, struct dentry___wd *dentry) {
    /* A link stays on one mount (else EXDEV before this hook): the file is named there.
     * Refused with EXDEV, as Landlock does, so that git and cp fall back to copying. */
    if (check_written(old, BPF_CORE_READ(dir, mnt))) return -18; /* EXDEV */
    return check_change(dir, dentry);
}

SEC("lsm/path_rename")
int BPF_PROG(warden_path_rename, const struct path___wd *old_dir, struct dentry___wd *old, const struct path___wd *new_dir,
             struct dentry___wd *new) {
    int r = check_change(old_dir, old);
    return r ? r : check_change(new_dir, new);
}

/* Connecting to a unix socket named by a path (stream connect, datagram send): allowed to
 * the build's own sockets (write) and those allow.net.unix and the built-in list name
 * (connect), judged on the socket the kernel found, so no link in the name misleads. */
struct sock___wd;
struct socket___wd {
    struct sock___wd *sk;
} __attribute__((preserve_access_index));
struct unix_sock___wd {
    struct path___wd path;
} __attribute__((preserve_access_index));

static __always_inline int check_unix(struct unix_sock___wd *u) {
    if (!in_run()) return 0;
    struct warden_lsm_settings *set = settings();
    struct scratch *s = get_scratch();
    if (!set || !s || !set->unix_strict || !u) return 0;
    struct dentry___wd *d = BPF_CORE_READ(u, path.dentry);
    if (!d) return 0; /* abstract or unnamed: Landlock's scoping */
    int start = walk(s, d, BPF_CORE_READ(u, path.mnt));
    if (s->buf[start & MASK] != '/') return -EPERM;
    return refused_unless(s, start, WARDEN_ACCESS_WRITE | WARDEN_ACCESS_CONNECT);
}

/* The listening socket itself (a struct sock, which a unix_sock begins with). */
SEC("lsm/unix_stream_connect")
int BPF_PROG(warden_unix_stream_connect, void *sock, struct unix_sock___wd *other, void *newsk) { return check_unix(other); }

SEC("lsm/unix_may_send")
int BPF_PROG(warden_unix_may_send, struct socket___wd *sock, struct socket___wd *other) {
    return check_unix((void *)BPF_CORE_READ(other, sk));
}

/* Mode and owner changes (chmod, chown and their fd and *at forms). */
SEC("lsm/path_chmod")
int BPF_PROG(warden_path_chmod, const struct path___wd *path, unsigned short mode) {
    return check_written(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt));
}

SEC("lsm/path_chown")
int BPF_PROG(warden_path_chown, const struct path___wd *path, unsigned int uid, unsigned int gid) {
    return check_written(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt));
}

char LICENSE[] SEC("license") = "GPL";
