// SPDX-License-Identifier: GPL-2.0
/* File and exec events on every kernel: raw tracepoints at syscall entry and exit for the
 * calls that open, create, rename, remove or execute files, and the scheduler's
 * exec/fork/exit tracepoints for unit attribution; connects to unix sockets named by a path
 * (action connect, the path in place of an address). They decide nothing: they report what
 * the process asked for and what the kernel answered (0, or the -EACCES Landlock gave),
 * with the path made absolute here, in the kernel, against the caller's cwd or dirfd.
 * warden computes the policy verdict from that.
 *
 * Only tasks in the run's cgroup (or below it) are looked at. Kernel structures are
 * declared with just the fields used and relocated with CO-RE against the running
 * kernel's BTF, so no vmlinux.h is needed. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

typedef __u8 uint8_t;
typedef __u32 uint32_t;
typedef __s32 int32_t;
typedef __u64 uint64_t;
#include "warden/event.h"
#include "warden/classify.h"
#include "warden/trace_maps.h"
#include "warden/walk.bpf.h"

#define EACCES 13
#define EPERM 1
#define EXDEV 18
#define EAFNOSUPPORT 97
#define AT_FDCWD -100

#if defined(__TARGET_ARCH_x86)
struct pt_regs___wd {
    unsigned long di, si, dx, r10, r8, orig_ax;
} __attribute__((preserve_access_index));
#define SYSCALL_NR(r) ((long)BPF_CORE_READ(r, orig_ax))
#define ARG0(r) BPF_CORE_READ(r, di)
#define ARG1(r) BPF_CORE_READ(r, si)
#define ARG2(r) BPF_CORE_READ(r, dx)
#define ARG3(r) BPF_CORE_READ(r, r10)
#define ARG4(r) BPF_CORE_READ(r, r8)
#define NR_open 2
#define NR_creat 85
#define NR_rename 82
#define NR_unlink 87
#define NR_rmdir 84
#define NR_openat 257
#define NR_openat2 437
#define NR_execve 59
#define NR_execveat 322
#define NR_renameat 264
#define NR_renameat2 316
#define NR_unlinkat 263
#define NR_mkdir 83
#define NR_mkdirat 258
#define NR_mknod 133
#define NR_mknodat 259
#define NR_symlink 88
#define NR_symlinkat 266
#define NR_link 86
#define NR_linkat 265
#define NR_bind 49
#define NR_truncate 76
#define NR_chmod 90
#define NR_fchmod 91
#define NR_fchmodat 268
#define NR_chown 92
#define NR_fchown 93
#define NR_lchown 94
#define NR_fchownat 260
#define NR_fchmodat2 452
#define NR_connect 42
#define NR_sendto 44
#define NR_sendmsg 46
#define NR_sendmmsg 307
#define NR_setxattr 188
#define NR_lsetxattr 189
#define NR_fsetxattr 190
#define NR_removexattr 197
#define NR_lremovexattr 198
#define NR_fremovexattr 199
#define NR_utime 132
#define NR_utimes 235
#define NR_futimesat 261
#define NR_utimensat 280
#define NR_listen 50
#define NR_socket 41
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs___wd {
    __u64 regs[31];
    __s32 syscallno;
} __attribute__((preserve_access_index));
#define SYSCALL_NR(r) ((long)BPF_CORE_READ(r, syscallno))
#define ARG0(r) BPF_CORE_READ(r, regs[0])
#define ARG1(r) BPF_CORE_READ(r, regs[1])
#define ARG2(r) BPF_CORE_READ(r, regs[2])
#define ARG3(r) BPF_CORE_READ(r, regs[3])
#define ARG4(r) BPF_CORE_READ(r, regs[4])
/* The generic syscall table has no open, creat, rename, unlink or rmdir. */
#define NR_open -1
#define NR_creat -1
#define NR_rename -1
#define NR_unlink -1
#define NR_rmdir -1
#define NR_openat 56
#define NR_openat2 437
#define NR_execve 221
#define NR_execveat 281
#define NR_renameat 38
#define NR_renameat2 276
#define NR_unlinkat 35
#define NR_mkdir -1
#define NR_mkdirat 34
#define NR_mknod -1
#define NR_mknodat 33
#define NR_symlink -1
#define NR_symlinkat 36
#define NR_link -1
#define NR_linkat 37
#define NR_bind 200
#define NR_truncate 45
#define NR_chmod -1
#define NR_fchmod 52
#define NR_fchmodat 53
#define NR_chown -1
#define NR_fchown 55
#define NR_lchown -1
#define NR_fchownat 54
#define NR_fchmodat2 452
#define NR_connect 203
#define NR_sendto 206
#define NR_sendmsg 211
#define NR_sendmmsg 269
#define NR_setxattr 5
#define NR_lsetxattr 6
#define NR_fsetxattr 7
#define NR_removexattr 14
#define NR_lremovexattr 15
#define NR_fremovexattr 16
#define NR_utime -1
#define NR_utimes -1
#define NR_futimesat -1
#define NR_utimensat 88
#define NR_listen 201
#define NR_socket 198
#else
#error "set __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif
/* The same number on every architecture (the unified table, 6.13). */
#define NR_setxattrat 463
#define NR_removexattrat 466

/* ---- maps ---- */
#define WARDEN_WANT_RING
#define WARDEN_WANT_UNITS
#define WARDEN_WANT_RUN_CGROUP
#include "warden/maps.bpf.h"

/* The call between entry and exit, in the thread's own storage: found through the task,
 * not hashed, and written in place (`live`) rather than inserted and deleted on every
 * traced call; freed with the thread. */
struct pending_slot {
    struct warden_pending p;
    __u32 live;
    __u32 pad;
};
struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct pending_slot);
} pending SEC(".maps");

struct scratch {
    char buf[SCRATCH_SIZE];
    char name[WARDEN_NAME_MAX];
    /* The walk's position lives here, not on the stack: the verifier does not track map
     * contents, so the loop body's state is the same every iteration and is checked
     * once instead of once per possible length. */
    int pos;
    int truncated; /* the walk stopped before the root: too deep or too long */
    int base;      /* where the basename starts in buf */
    struct warden_hash_state hash;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} scratch_map SEC(".maps");

/* ---- helpers ----
 * The large helpers are global subprograms (WARDEN_GLOBAL): the verifier checks each once,
 * with unknown arguments, instead of once along every path of sys_exit that reaches an
 * inlined copy (4,800 instructions explored as 37,000, most of warden's start-up time).
 * Global functions take scalars, so kernel pointers cross as __u64 (read with probe reads
 * as before), and return int: older verifiers refuse a void global function. */
#define WARDEN_GLOBAL __attribute__((noinline))

static __always_inline struct scratch *get_scratch(void) {
    __u32 zero = 0;
    return bpf_map_lookup_elem(&scratch_map, &zero);
}

#define WARDEN_WALK_CODE
#include "warden/walk.bpf.h"

/* walk(), checked once: its callers in this file all reach it through here. */
WARDEN_GLOBAL int walk_path(__u64 dentry, __u64 mnt) {
    struct scratch *s = get_scratch();
    if (!s) return BASE;
    return walk(s, (struct dentry___wd *)dentry, (struct vfsmount___wd *)mnt);
}

/* Copies buf[start, end) into the event's path, cut at 255 bytes. */
/* Copies buf[start, end) into the event. A path longer than the event holds, or one the
 * caller's name was cut short in (`cut`), keeps its end behind a leading '?' (as the walk
 * marks what it could not name whole): its first bytes would pass for a shorter path,
 * one a rule covers. */
static __always_inline void put_path(struct warden_event *e, const char *buf, int start, int end, int cut) {
    __u64 n = end > start ? end - start : 0;
    if (cut || n > WARDEN_PATH_MAX - 1) {
        __u64 keep = n > WARDEN_PATH_MAX - 2 ? WARDEN_PATH_MAX - 2 : n;
        __u64 tail = (__u64)end - keep;
        asm volatile("%0 &= 255" : "+r"(keep));
        asm volatile("%0 &= 8191" : "+r"(tail));
        if (keep > WARDEN_PATH_MAX - 2) return;
        e->path_or_addr[0] = '?';
        bpf_probe_read_kernel(e->path_or_addr + 1, keep, buf + tail);
        e->path_or_addr[keep + 1] = 0;
        return;
    }
    __u64 from = start;
    /* Masks the compiler would drop as redundant but the verifier needs to see. */
    asm volatile("%0 &= 255" : "+r"(n));
    asm volatile("%0 &= 8191" : "+r"(from));
    bpf_probe_read_kernel(e->path_or_addr, n, buf + from);
    e->path_or_addr[n] = 0;
}

/* The current task's open file `fd` (a struct file___wd *), 0 when there is none. */
WARDEN_GLOBAL __u64 fd_file(int fd) {
    struct task_struct___wd *t = (void *)bpf_get_current_task();
    struct fdtable___wd *fdt = BPF_CORE_READ(t, files, fdt);
    if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds)) return 0;
    struct file___wd **fds = BPF_CORE_READ(fdt, fd);
    struct file___wd *f = 0;
    bpf_probe_read_kernel(&f, sizeof f, fds + fd);
    return (__u64)f;
}

static __always_inline struct warden_unit_state unit_of(__u32 tgid) {
    struct warden_unit_state *u = bpf_map_lookup_elem(&units, &tgid);
    struct warden_unit_state none = {};
    return u ? *u : none;
}

static __always_inline struct warden_event *new_event(__u8 action, __u32 access, int result) {
    __u8 verdict = result == -EACCES || result == -EPERM ? WARDEN_VERDICT_DENIED : WARDEN_VERDICT_ALLOWED;
    struct warden_event *e = reserve_event(action, verdict);
    if (e) {
        e->result = result;
        e->access = access;
    }
    return e;
}

/* An event whose path could not be read (the name's page unmapped under the call, a bad
 * pointer, a closed descriptor): "?", which no rule covers. A refusal or a change must
 * never go unrecorded because its name could not be read. */
WARDEN_GLOBAL int report_unnamed(__u8 action, __u32 access, int result) {
    struct warden_event *e = new_event(action, access, result);
    if (!e) return 0;
    e->path_or_addr[0] = '?';
    e->path_or_addr[1] = 0;
    submit(e);
    return 0;
}

/* Reports the name the process passed (user pointer), made absolute against its cwd or
 * dirfd. Used when the operation failed or removed the file, so no kernel object
 * names it any more. */
WARDEN_GLOBAL int report_name(__u8 action, __u32 access, int result, int dfd, __u64 uptr) {
    struct scratch *s = get_scratch();
    if (!s) return 0;
    char first = 0;
    bpf_probe_read_user(&first, 1, (const void *)uptr);
    int start = BASE;
    if (first != '/') {
        struct task_struct___wd *t = (void *)bpf_get_current_task();
        if (dfd == AT_FDCWD) {
            start = walk_path((__u64)BPF_CORE_READ(t, fs, pwd.dentry), (__u64)BPF_CORE_READ(t, fs, pwd.mnt));
        } else {
            struct file___wd *f = (void *)fd_file(dfd);
            if (!f) return report_unnamed(action, access, result);
            start = walk_path((__u64)BPF_CORE_READ(f, f_path.dentry), (__u64)BPF_CORE_READ(f, f_path.mnt));
        }
        s->buf[BASE] = '/';
        long n = bpf_probe_read_user_str(s->buf + BASE + 1, 256, (const void *)uptr);
        if (n <= 0) return report_unnamed(action, access, result);
        struct warden_event *e = new_event(action, access, result);
        if (!e) return 0;
        /* 256: the buffer filled up, the name may go on. */
        put_path(e, s->buf, start, BASE + n, n >= 256);
        submit(e);
        return 0;
    }
    long n = bpf_probe_read_user_str(s->buf + BASE, 256, (const void *)uptr);
    if (n <= 0) return report_unnamed(action, access, result);
    struct warden_event *e = new_event(action, access, result);
    if (!e) return 0;
    put_path(e, s->buf, BASE, BASE + n - 1, n >= 256);
    submit(e);
    return 0;
}

/* Reports an open file by what it is: the kernel's own path, symlinks resolved. `key`: its
 * entry in `seen` (0: none), for the agent to enter once it logged the record as allowed. */
WARDEN_GLOBAL int report_file(__u8 action, __u32 access, int result, __u64 file, __u64 key) {
    struct file___wd *f = (void *)file;
    if (!f) return report_unnamed(action, access, result);
    int start = walk_path((__u64)BPF_CORE_READ(f, f_path.dentry), (__u64)BPF_CORE_READ(f, f_path.mnt));
    struct scratch *s = get_scratch();
    if (!s) return 0;
    struct warden_event *e = new_event(action, access, result);
    if (!e) return 0;
    put_path(e, s->buf, start, BASE, 0);
    e->repeat_key = key;
    submit(e);
    return 0;
}

/* ---- repeats: successful opens the agent already logged as allowed ----
 * The agent logs an allowed record once and counts its repeats; a repeat is the same unit,
 * origin, access and path. Deciding that here, before the path walk and the ring buffer,
 * is what a repeat costs: one hash lookup. The agent enters a key only after it judged
 * the record allowed, so refusals and observe mode's would-be denials still reach it
 * every time, and a new unit, origin or access is a new key. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH); /* an evicted key only costs one more event */
    __uint(max_entries, 32768);
    __type(key, __u64);
    __type(value, __u8);
} seen SEC(".maps");

/* Repeats kept here (the agent adds them to the repeats it dropped itself). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} repeats SEC(".maps");

/* Bumped by every rename the run makes: a renamed directory changes the path of every
 * file below it without changing the files, so their keys must change too. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} renames SEC(".maps");

static __always_inline __u64 mix(__u64 h, __u64 x) {
    h = (h ^ x) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

/* What names the open file `f` as the walk would: the dentry (its parent and name too, so
 * a dentry renamed in place or freed and reused for another name is a new key), the
 * inode (number and generation: a file replaced under the same name), the mount and the
 * task's root; then who opened it, how, and the run's rename count. Never 0. */
WARDEN_GLOBAL __u64 repeat_key(__u64 file, __u32 access) {
    struct file___wd *f = (void *)file;
    struct task_struct___wd *t = (void *)bpf_get_current_task();
    /* A struct path, and a qstr's hash and length (its 64-bit hash_len word), each in one
     * probe read: on a repeat, the reads are most of what is left. */
    struct path___wd path = {}, root = {};
    BPF_CORE_READ_INTO(&path, f, f_path);
    struct fs_struct___wd *fs = BPF_CORE_READ(t, fs);
    BPF_CORE_READ_INTO(&root, fs, root);
    struct dentry___wd *d = path.dentry;
    __u64 hash_len = 0;
    bpf_core_read(&hash_len, sizeof hash_len, &d->d_name);
    struct inode___wd *in = BPF_CORE_READ(f, f_inode);
    struct warden_unit_state u = unit_of(bpf_get_current_pid_tgid() >> 32);
    __u32 zero = 0;
    __u64 *epoch = bpf_map_lookup_elem(&renames, &zero);
    __u64 h = mix(0x5741524445ULL, (__u64)d);
    h = mix(h, (__u64)path.mnt);
    h = mix(h, (__u64)BPF_CORE_READ(d, d_parent));
    h = mix(h, (hash_len << 32) | (hash_len >> 32)); /* hash << 32 | len */
    h = mix(h, (__u64)in);
    h = mix(h, ((__u64)BPF_CORE_READ(in, i_generation) << 32) ^ BPF_CORE_READ(in, i_ino));
    h = mix(h, (__u64)root.dentry ^ (__u64)root.mnt);
    h = mix(h, ((__u64)u.origin << 32) | ((__u64)u.unit << 8) | access);
    h = mix(h, epoch ? *epoch : 0);
    return h ? h : 1;
}

/* Counts and swallows a repeat the agent already logged. */
static __always_inline int is_repeat(__u64 key) {
    if (!bpf_map_lookup_elem(&seen, &key)) return 0;
    __u32 zero = 0;
    __u64 *n = bpf_map_lookup_elem(&repeats, &zero);
    if (n) *n += 1;
    return 1;
}

/* Adds one to a one-slot counter map (renames, refusals, unguarded). */
static __always_inline void bump(void *counter) {
    __u32 zero = 0;
    __u64 *n = bpf_map_lookup_elem(counter, &zero);
    if (n) __sync_fetch_and_add(n, 1);
}

static __always_inline void count_rename(void) { bump(&renames); }

/* A refused connect to an abstract unix socket, named "@name" (the name up to its first
 * NUL, as `ss` shows it). */
WARDEN_GLOBAL int report_abstract(int result, __u64 uptr) {
    struct warden_event *e = new_event(WARDEN_ACTION_CONNECT, WARDEN_ACCESS_WRITE, result);
    if (!e) return 0;
    e->path_or_addr[0] = '@';
    if (bpf_probe_read_user_str(e->path_or_addr + 1, 107, (const void *)uptr) <= 0) e->path_or_addr[1] = 0;
    submit(e);
    return 0;
}

/* A connected unix socket names its peer: the listener's bound path, as the kernel found
 * it, whatever link or name the build passed (and swapped since). 0 when there is none. */
struct file___peer {
    void *private_data; /* struct socket */
} __attribute__((preserve_access_index));
struct socket___peer {
    void *sk;
} __attribute__((preserve_access_index));
struct sock_common___peer {
    unsigned short skc_family;
} __attribute__((preserve_access_index));
struct sock___peer {
    struct sock_common___peer __sk_common;
} __attribute__((preserve_access_index));
struct unix_sock___peer {
    struct path___wd path;
    struct unix_sock___peer *peer; /* struct sock, which a unix_sock begins with */
} __attribute__((preserve_access_index));

WARDEN_GLOBAL int report_peer(int fd) {
    struct file___peer *f = (void *)fd_file(fd);
    if (!f) return 0;
    struct socket___peer *sock = BPF_CORE_READ(f, private_data);
    if (!sock) return 0;
    struct unix_sock___peer *u = BPF_CORE_READ(sock, sk);
    if (!u || BPF_CORE_READ((struct sock___peer *)u, __sk_common.skc_family) != 1 /* AF_UNIX */) return 0;
    struct unix_sock___peer *peer = BPF_CORE_READ(u, peer);
    if (!peer) return 0;
    struct dentry___wd *d = BPF_CORE_READ(peer, path.dentry);
    if (!d) return 0;
    struct scratch *s = get_scratch();
    if (!s) return 0;
    int start = walk_path((__u64)d, (__u64)BPF_CORE_READ(peer, path.mnt));
    struct warden_event *e = new_event(WARDEN_ACTION_CONNECT, WARDEN_ACCESS_WRITE, 0);
    if (!e) return 1;
    put_path(e, s->buf, start, BASE, 0);
    submit(e);
    return 1;
}

/* A listening socket, named by the address it listens on: "127.0.0.1:8080", "[::]:0";
 * "?" for another family or a socket warden cannot read. */
struct in6_addr___listen {
    union {
        __u8 u6_addr8[16];
    } in6_u;
} __attribute__((preserve_access_index));
struct sock_common___listen {
    unsigned short skc_family;
    __u16 skc_num;
    __u32 skc_rcv_saddr;
    struct in6_addr___listen skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));
struct sock___listen {
    struct sock_common___listen __sk_common;
} __attribute__((preserve_access_index));

/* 1 when the socket is not a unix one (an event was due, whether or not the ring took it). */
WARDEN_GLOBAL int report_listen(int result, int fd) {
    struct file___peer *f = (void *)fd_file(fd);
    struct socket___peer *sock = f ? BPF_CORE_READ(f, private_data) : 0;
    struct sock___listen *sk = sock ? BPF_CORE_READ(sock, sk) : 0;
    unsigned short family = sk ? BPF_CORE_READ(sk, __sk_common.skc_family) : 0;
    if (family == 1) return 0; /* a unix socket: reachable only through the tree */
    if (family != 2 && family != 10) {
        report_unnamed(WARDEN_ACTION_LISTEN, 0, result);
        return 1;
    }
    struct warden_event *e = new_event(WARDEN_ACTION_LISTEN, 0, result);
    if (!e) return 1;
    __u64 port = BPF_CORE_READ(sk, __sk_common.skc_num);
    if (family == 2) {
        __u32 addr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
        __u64 args[] = {(__u64)&addr, port};
        bpf_snprintf(e->path_or_addr, sizeof(e->path_or_addr), "%pI4:%u", args, sizeof(args));
    } else {
        __u8 addr[16] = {};
        BPF_CORE_READ_INTO(&addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
        __u64 args[] = {(__u64)addr, port};
        bpf_snprintf(e->path_or_addr, sizeof(e->path_or_addr), "[%pI6]:%u", args, sizeof(args));
    }
    submit(e);
    return 1;
}

static __always_inline __u32 open_access(__u64 flags) {
    /* O_PATH: a handle for *at() calls and fstat, no read or write; the access mode is
       ignored and neither Landlock nor file_open is asked. */
    if (flags & 010000000) return 0;
    __u32 a = 0;
    __u64 mode = flags & 3; /* O_ACCMODE */
    if (mode == 0 || mode == 2) a |= WARDEN_ACCESS_READ;
    if (mode == 1 || mode == 2 || (flags & (0100 | 01000))) a |= WARDEN_ACCESS_WRITE; /* O_CREAT, O_TRUNC */
    return a;
}

/* ---- syscall entry: remember what was asked ---- */
static __always_inline int is_creation(long nr) {
    return nr == NR_mkdir || nr == NR_mkdirat || nr == NR_mknod || nr == NR_mknodat || nr == NR_symlink ||
           nr == NR_symlinkat || nr == NR_link || nr == NR_linkat || nr == NR_bind;
}

/* Calls that change a file's metadata: mode, owner, extended attributes (an ACL is a
 * mode change by another name), timestamps. */
static __always_inline int is_attr(long nr) {
    return nr == NR_chmod || nr == NR_fchmod || nr == NR_fchmodat || nr == NR_fchmodat2 || nr == NR_chown ||
           nr == NR_fchown || nr == NR_lchown || nr == NR_fchownat || nr == NR_setxattr || nr == NR_lsetxattr ||
           nr == NR_fsetxattr || nr == NR_removexattr || nr == NR_lremovexattr || nr == NR_fremovexattr ||
           nr == NR_setxattrat || nr == NR_removexattrat || nr == NR_utime || nr == NR_utimes || nr == NR_futimesat ||
           nr == NR_utimensat;
}

static __always_inline int is_unix_send(long nr) {
    return nr == NR_connect || nr == NR_sendto || nr == NR_sendmsg || nr == NR_sendmmsg;
}

/* Whether `nr` is one of the calls traced here. */
static __always_inline int is_traced(long nr) {
    return is_unix_send(nr) || nr == NR_listen || nr == NR_openat || nr == NR_openat2 || nr == NR_execve || nr == NR_execveat || nr == NR_renameat2 ||
           nr == NR_renameat || nr == NR_unlinkat || nr == NR_open || nr == NR_creat || nr == NR_rename ||
           nr == NR_unlink || nr == NR_rmdir || nr == NR_truncate || is_creation(nr) || is_attr(nr);
}

static __always_inline int describe_call(long nr, struct pt_regs___wd *regs, struct warden_pending *p);

/* Notes in the thread's `pending` slot what call `nr` asks for, from its arguments in
 * `regs` (a struct pt_regs___wd *). Returns 0, the slot not live, for a call not to report
 * (a bind that names no path). */
WARDEN_GLOBAL int describe(long nr, __u64 regs) {
    struct pending_slot *slot = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!slot) return 0;
    struct warden_pending p = {};
    slot->live = 0;
    if (!describe_call(nr, (struct pt_regs___wd *)regs, &p)) return 0;
    slot->p = p;
    slot->live = 1;
    return 1;
}

static __always_inline int describe_call(long nr, struct pt_regs___wd *regs, struct warden_pending *p) {
    int creates = is_creation(nr), attrs = is_attr(nr);
    p->dfd = AT_FDCWD;
    p->dfd2 = AT_FDCWD;
    if (nr == NR_openat) {
        p->action = WARDEN_ACTION_OPEN;
        p->dfd = (int)ARG0(regs);
        p->name = ARG1(regs);
        p->access = open_access(ARG2(regs));
    } else if (nr == NR_openat2) {
        __u64 flags = 0;
        bpf_probe_read_user(&flags, sizeof flags, (const void *)ARG2(regs)); /* struct open_how.flags */
        p->action = WARDEN_ACTION_OPEN;
        p->dfd = (int)ARG0(regs);
        p->name = ARG1(regs);
        p->access = open_access(flags);
    } else if (nr == NR_open) {
        p->action = WARDEN_ACTION_OPEN;
        p->name = ARG0(regs);
        p->access = open_access(ARG1(regs));
    } else if (nr == NR_truncate) {
        /* Truncating by name writes the file as an open for writing would. */
        p->action = WARDEN_ACTION_OPEN;
        p->name = ARG0(regs);
        p->access = WARDEN_ACCESS_WRITE;
        p->no_fd = 1;
    } else if (nr == NR_creat) {
        p->action = WARDEN_ACTION_OPEN;
        p->name = ARG0(regs);
        p->access = WARDEN_ACCESS_WRITE;
    } else if (nr == NR_execve) {
        p->action = WARDEN_ACTION_EXEC;
        p->name = ARG0(regs);
        p->access = WARDEN_ACCESS_EXECUTE;
    } else if (nr == NR_execveat) {
        p->action = WARDEN_ACTION_EXEC;
        p->dfd = (int)ARG0(regs);
        p->name = ARG1(regs);
        p->access = WARDEN_ACCESS_EXECUTE;
    } else if (nr == NR_renameat2 || nr == NR_renameat) {
        p->action = WARDEN_ACTION_RENAME;
        p->dfd = (int)ARG0(regs);
        p->name = ARG1(regs);
        p->dfd2 = (int)ARG2(regs);
        p->name2 = ARG3(regs);
        p->access = WARDEN_ACCESS_WRITE;
    } else if (nr == NR_rename) {
        p->action = WARDEN_ACTION_RENAME;
        p->name = ARG0(regs);
        p->name2 = ARG1(regs);
        p->access = WARDEN_ACCESS_WRITE;
    } else if (nr == NR_listen) {
        p->action = WARDEN_ACTION_LISTEN;
        p->fd = (int)ARG0(regs);
    } else if (nr == NR_unlinkat) {
        p->action = WARDEN_ACTION_UNLINK;
        p->dfd = (int)ARG0(regs);
        p->name = ARG1(regs);
        p->access = WARDEN_ACCESS_WRITE;
    } else if (creates) {
        /* The name created: the new directory, node, link or socket. */
        p->action = WARDEN_ACTION_CREATE;
        p->access = WARDEN_ACCESS_WRITE;
        if (nr == NR_mkdirat || nr == NR_mknodat) {
            p->dfd = (int)ARG0(regs);
            p->name = ARG1(regs);
        } else if (nr == NR_symlinkat) {
            p->dfd = (int)ARG1(regs);
            p->name = ARG2(regs);
        } else if (nr == NR_linkat) {
            p->dfd = (int)ARG2(regs);
            p->name = ARG3(regs);
            p->dfd2 = (int)ARG0(regs); /* the existing file, named if the link is refused */
            p->name2 = ARG1(regs);
        } else if (nr == NR_link) {
            p->name = ARG1(regs);
            p->name2 = ARG0(regs);
        } else if (nr == NR_symlink) {
            p->name = ARG1(regs);
        } else if (nr == NR_bind) {
            /* Only a unix socket bound to a path (not an abstract or unnamed one). */
            __u64 addr = ARG1(regs);
            __u16 family = 0;
            char first = 0;
            bpf_probe_read_user(&family, sizeof family, (const void *)addr);
            bpf_probe_read_user(&first, 1, (const void *)(addr + 2));
            if (family != 1 /* AF_UNIX */ || first == 0) return 0;
            p->name = addr + 2; /* sun_path */
        } else { /* mkdir, mknod */
            p->name = ARG0(regs);
        }
    } else if (is_unix_send(nr)) {
        /* Only a unix socket named by a path (abstract and unnamed ones have no place in
         * the tree; IP addresses are the network layer's). sendto and sendmsg count only
         * when they carry an address. */
        __u64 addr = 0;
        p->action = WARDEN_ACTION_CONNECT;
        p->access = WARDEN_ACCESS_WRITE;
        if (nr == NR_sendmmsg && ARG2(regs) > 1) {
            /* Several messages, each may name another socket: one with a unix path among
             * the first eight makes the call unnamed ("?"), which no rule covers. */
            __u64 vec = ARG1(regs);
            for (int i = 0; i < 8; i++) {
                if ((__u64)i >= ARG2(regs)) break;
                __u64 name = 0;
                __u16 fam = 0;
                char c = 0;
                if (bpf_probe_read_user(&name, sizeof name, (const void *)(vec + i * 64)) < 0) return 1; /* struct mmsghdr */
                if (!name) continue;
                if (bpf_probe_read_user(&fam, sizeof fam, (const void *)name) < 0) return 1;
                bpf_probe_read_user(&c, 1, (const void *)(name + 2));
                if (fam == 1 && c != 0) return 1;
            }
            return 0;
        }
        if (nr == NR_connect) {
            addr = ARG1(regs);
            p->fd = (int)ARG0(regs);
            p->peer = 1;
        }
        else if (nr == NR_sendto) addr = ARG4(regs);
        /* struct msghdr.msg_name; sendmmsg: the first struct mmsghdr's, which begins with one. */
        else if (bpf_probe_read_user(&addr, sizeof addr, (const void *)ARG1(regs)) < 0) return ARG1(regs) != 0;
        if (!addr) return 0;
        __u16 family = 0;
        char first = 0;
        /* An address warden cannot read (its page unmapped under the call) is reported
         * unnamed ("?", name 0): the kernel may read it a moment later. */
        if (bpf_probe_read_user(&family, sizeof family, (const void *)addr) < 0) return 1;
        bpf_probe_read_user(&first, 1, (const void *)(addr + 2));
        if (family != 1 /* AF_UNIX */) return 0;
        if (first == 0) {
            /* Abstract: only a refusal is reported (Landlock's scoping refuses one outside
             * the run); the build's own abstract sockets are not events. */
            p->abstract = 1;
            p->name = addr + 3;
            return 1;
        }
        p->name = addr + 2; /* sun_path */
    } else if (attrs) {
        /* Changing a file's mode or owner writes its metadata: the file needs write. */
        p->action = WARDEN_ACTION_ATTR;
        p->access = WARDEN_ACCESS_WRITE;
        if (nr == NR_fchmod || nr == NR_fchown || nr == NR_fsetxattr || nr == NR_fremovexattr ||
            ((nr == NR_utimensat || nr == NR_futimesat) && !ARG1(regs))) {
            p->fd = (int)ARG0(regs); /* named by its file at exit (futimens: no name) */
            p->by_fd = 1;
        } else if (nr == NR_fchmodat || nr == NR_fchmodat2 || nr == NR_fchownat || nr == NR_setxattrat || nr == NR_removexattrat ||
                   nr == NR_utimensat || nr == NR_futimesat) {
            p->dfd = (int)ARG0(regs);
            p->name = ARG1(regs);
        } else { /* chmod, chown, lchown, setxattr, lsetxattr, removexattr, lremovexattr, utime, utimes */
            p->name = ARG0(regs);
        }
    } else { /* unlink, rmdir */
        p->action = WARDEN_ACTION_UNLINK;
        p->name = ARG0(regs);
        p->access = WARDEN_ACCESS_WRITE;
    }
    return 1;
}

/* Every system call of the run, counted by number here rather than sent through the ring:
 * what `warden seccomp generate` turns into an allowlist. Per CPU, so counting costs no
 * shared cache line; warden sums the CPUs when the run ends. Calls seccomp refused never
 * reach this tracepoint. */
#define WARDEN_SYSCALL_SLOTS 1024
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, WARDEN_SYSCALL_SLOTS);
    __type(key, __u32);
    __type(value, __u64);
} syscall_counts SEC(".maps");

SEC("raw_tracepoint/sys_enter")
int warden_sys_enter(struct bpf_raw_tracepoint_args *ctx) {
    long nr = (long)ctx->args[1];
    if (!in_run()) return 0;
    if (nr >= 0 && nr < WARDEN_SYSCALL_SLOTS) {
        __u32 slot = (__u32)nr;
        __u64 *n = bpf_map_lookup_elem(&syscall_counts, &slot);
        if (n) *n += 1;
    }
    if (is_traced(nr)) describe(nr, ctx->args[0]);
    return 0;
}

/* Every file or exec call of the run the kernel refused (EACCES, EPERM), counted apart
 * from the ring buffer: a build that floods the buffer cannot make a refusal vanish; the
 * agent compares this with the refusals it received. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} refusals SEC(".maps");

/* Metadata changes and unix-socket connects that succeeded, counted the same way: Landlock
 * does not refuse these, so on tier 2 only the agent's verdict on each event catches one
 * outside the policy; one whose event was lost must not pass for allowed. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} unguarded SEC(".maps");

static __always_inline void count_unguarded(__u8 action, long ret) {
    if (ret >= 0 && (action == WARDEN_ACTION_ATTR || action == WARDEN_ACTION_CONNECT)) bump(&unguarded);
}

static __always_inline void count_refusal(long ret) {
    /* The agent's EventAgent.refusal: Landlock, tier 1 or seccomp, and the read-only view. */
    if (ret == -13 /* EACCES */ || ret == -1 /* EPERM */ || ret == -30 /* EROFS */) bump(&refusals);
}

/* A socket of a family the boundary filter refuses (EAFNOSUPPORT): vsock, bluetooth, …
 * Counted with the refusals, so a flood cannot hide it either. */
WARDEN_GLOBAL int report_family(__u64 family) {
    if (family == 1 || family == 2 || family == 10 || family == 16) return 0; /* unix, inet, inet6, netlink */
    bump(&refusals);
    struct warden_event *e = new_event(WARDEN_ACTION_SOCKET, 0, -EAFNOSUPPORT);
    if (!e) return 0;
    e->verdict = WARDEN_VERDICT_DENIED;
    __u64 args[] = {family};
    bpf_snprintf(e->path_or_addr, sizeof(e->path_or_addr), "family %u", args, sizeof(args));
    submit(e);
    return 0;
}

/* ---- syscall exit: report what the kernel answered ---- */
SEC("raw_tracepoint/sys_exit")
int warden_sys_exit(struct bpf_raw_tracepoint_args *ctx) {
    long ret = (long)ctx->args[1];
    struct warden_pending p = {};
    struct pending_slot *slot = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0, 0);
    if (slot && slot->live) {
        p = slot->p;
        slot->live = 0;
    } else {
        /* No entry: either not a traced call, or one seccomp refused before the entry
         * tracepoint ran (a set-ID mode, execveat of a descriptor). Its arguments are
         * still in the registers; a refusal is reported like any other. */
        if (ret != -EPERM && ret != -EAFNOSUPPORT) return 0;
        struct pt_regs___wd *regs = (void *)ctx->args[0];
        long nr = SYSCALL_NR(regs);
        if (ret == -EAFNOSUPPORT) {
            if (nr == NR_socket && in_run()) report_family(ARG0(regs));
            return 0;
        }
        if (!is_traced(nr) || !in_run() || !describe(nr, (__u64)regs)) return 0;
        slot = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0, 0);
        if (!slot) return 0;
        p = slot->p;
        slot->live = 0;
    }
    count_refusal(ret);
    count_unguarded(p.action, ret);
    if (p.action == WARDEN_ACTION_EXEC) {
        /* A successful exec was reported by sched_process_exec with the file it ran. */
        if (ret < 0) report_name(p.action, p.access, (int)ret, p.dfd, p.name);
        return 0;
    }
    if (p.action == WARDEN_ACTION_OPEN && ret >= 0 && !p.no_fd) {
        __u64 f = fd_file((int)ret);
        __u64 key = f ? repeat_key(f, p.access) : 0;
        if (key && is_repeat(key)) return 0;
        report_file(p.action, p.access, 0, f, key);
        return 0;
    }
    if (p.action == WARDEN_ACTION_LISTEN) {
        /* An inet listener no layer refuses: counted like a metadata change, so a flood
         * cannot hide one. */
        if (report_listen((int)ret, p.fd) && ret >= 0) bump(&unguarded);
        return 0;
    }
    /* Counted before the events that follow: an open racing this rename gets a new key. */
    if (p.action == WARDEN_ACTION_RENAME && ret == 0) count_rename();
    if (p.abstract) {
        if (ret == -EPERM || ret == -EACCES) report_abstract((int)ret, p.name);
        return 0;
    }
    if (p.peer && ret == 0 && report_peer(p.fd)) return 0;
    if (p.by_fd) {
        /* fchmod, fchown: the descriptor still names the file at exit. */
        report_file(p.action, p.access, (int)ret, fd_file(p.fd), 0);
        return 0;
    }
    /* A successful sendto returns a byte count: the event's result is 0 or -errno. */
    report_name(p.action, p.access, (int)(ret > 0 ? 0 : ret), p.dfd, p.name);
    if (p.action == WARDEN_ACTION_RENAME) {
        /* Two events, two counts: the agent compares counts with events. */
        count_refusal(ret);
        report_name(p.action, p.access, (int)ret, p.dfd2, p.name2);
    } else if (p.name2 && (ret == -EXDEV || ret == 0)) {
        /* A hard link refused because the file would gain rights through its new name
         * (Landlock, and tier 1's path_link, answer EXDEV, as for another file system, so
         * programs fall back to copying): the file tells it from a cross-device link. One
         * made (observe mode, a route) names the file too: a link left in the write paths
         * to a file outside them would give a later run that file. */
        report_name(WARDEN_ACTION_LINK, p.access, (int)ret, p.dfd2, p.name2);
    }
    return 0;
}

/* ---- units: classify at exec, inherit at fork ---- */
static long basename_step(__u32 i, void *arg) {
    struct scratch *s = get_scratch();
    if (!s) return 1;
    char c = s->buf[i & 255];
    if (c == '/') s->base = (int)i + 1;
    return c == 0 ? 1 : 0;
}

static long hash_step(__u32 i, void *arg) {
    struct scratch *s = get_scratch();
    if (!s) return 1;
    warden_hash_step(&s->hash, s->name[i & (WARDEN_NAME_MAX - 1)], (int)i);
    return s->hash.done ? 1 : 0;
}

SEC("raw_tracepoint/sched_process_exec")
int warden_exec(struct bpf_raw_tracepoint_args *ctx) {
    if (!in_run()) return 0;
    struct linux_binprm___wd *bprm = (void *)ctx->args[2];
    struct scratch *s = get_scratch();
    if (!s) return 0;
    /* The basename of the name it was executed by (not the symlink target: rustup's
     * proxies and /usr/bin/cc are links). */
    s->buf[0] = 0;
    bpf_probe_read_kernel_str(s->buf, 256, BPF_CORE_READ(bprm, filename));
    s->base = 0;
    bpf_loop(256, basename_step, 0, 0);
    __u64 base = s->base;
    asm volatile("%0 &= 255" : "+r"(base));
    bpf_probe_read_kernel_str(s->name, WARDEN_NAME_MAX, s->buf + base);
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    warden_hash_start(&s->hash);
    bpf_loop(WARDEN_NAME_MAX, hash_step, 0, 0);
    struct warden_unit_state now = warden_classify(warden_hash_finish(&s->hash), unit_of(tgid), tgid);
    bpf_map_update_elem(&units, &tgid, &now, BPF_ANY);
    report_file(WARDEN_ACTION_EXEC, WARDEN_ACCESS_EXECUTE, 0, (__u64)BPF_CORE_READ(bprm, file), 0);
    return 0;
}

SEC("raw_tracepoint/sched_process_fork")
int warden_fork(struct bpf_raw_tracepoint_args *ctx) {
    if (!in_run()) return 0;
    struct task_struct___wd *parent = (void *)ctx->args[0];
    struct task_struct___wd *child = (void *)ctx->args[1];
    __u32 ptgid = BPF_CORE_READ(parent, tgid);
    __u32 ctgid = BPF_CORE_READ(child, tgid);
    if (ptgid == ctgid) return 0; /* a new thread */
    struct warden_unit_state *u = bpf_map_lookup_elem(&units, &ptgid);
    if (u) bpf_map_update_elem(&units, &ctgid, u, BPF_ANY);
    return 0;
}

/* ---- per-unit resource use, taken at each thread's exit ---- */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 5); /* enum warden_unit */
    __type(key, __u32);
    __type(value, struct warden_unit_usage);
} unit_usage SEC(".maps");

struct sched_entity___wd {
    __u64 sum_exec_runtime;
} __attribute__((preserve_access_index));
struct task_io_accounting___wd {
    __u64 read_bytes;
    __u64 write_bytes;
} __attribute__((preserve_access_index));
struct signal_struct___wd {
    unsigned long maxrss; /* pages; set from the mm before the exit tracepoint runs */
} __attribute__((preserve_access_index));
struct task_struct___acct {
    struct sched_entity___wd se;
    unsigned long min_flt, maj_flt;
    struct task_io_accounting___wd ioac; /* CONFIG_TASK_IO_ACCOUNTING */
    struct signal_struct___wd *signal;
} __attribute__((preserve_access_index));

static __always_inline void account(struct task_struct___acct *t, __u32 unit, int leader) {
    if (unit > WARDEN_UNIT_LINKER) unit = WARDEN_UNIT_OTHER;
    struct warden_unit_usage *u = bpf_map_lookup_elem(&unit_usage, &unit);
    if (!u) return;
    __sync_fetch_and_add(&u->cpu_ns, BPF_CORE_READ(t, se.sum_exec_runtime));
    __sync_fetch_and_add(&u->faults, BPF_CORE_READ(t, min_flt) + BPF_CORE_READ(t, maj_flt));
    if (bpf_core_field_exists(t->ioac)) {
        __sync_fetch_and_add(&u->read_bytes, BPF_CORE_READ(t, ioac.read_bytes));
        __sync_fetch_and_add(&u->write_bytes, BPF_CORE_READ(t, ioac.write_bytes));
    }
    if (leader) {
        __u64 rss = BPF_CORE_READ(t, signal, maxrss);
        if (rss > u->max_rss_pages) u->max_rss_pages = rss; /* a lost race only loses a peak */
    }
}

SEC("raw_tracepoint/sched_process_exit")
int warden_exit(struct bpf_raw_tracepoint_args *ctx) {
    if (!in_run()) return 0;
    struct task_struct___wd *t = (void *)ctx->args[0];
    __u32 pid = BPF_CORE_READ(t, pid);
    __u32 tgid = BPF_CORE_READ(t, tgid);
    struct warden_unit_state *state = bpf_map_lookup_elem(&units, &tgid);
    account((void *)t, state ? state->unit : WARDEN_UNIT_OTHER, pid == tgid);
    if (pid == tgid) bpf_map_delete_elem(&units, &tgid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
