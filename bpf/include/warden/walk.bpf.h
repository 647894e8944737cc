/* The kernel structures warden's BPF objects read (the ___wd flavour is matched to the
 * kernel's type of the same name by libbpf CO-RE), and the path walk that names a
 * (dentry, vfsmount) pair without bpf_d_path, which most hooks may not call.
 *
 * The including object defines `struct scratch` (with at least `char buf[SCRATCH_SIZE]`,
 * `char name[WARDEN_NAME_MAX]`, `int pos`, `int truncated`) and `get_scratch()`, a
 * per-CPU lookup, before including this file. */
#ifndef WARDEN_WALK_BPF_H
#define WARDEN_WALK_BPF_H

/* ---- the kernel structures, as far as they are read (the ___wd flavour is matched
 * to the kernel's type of the same name by libbpf) ---- */
struct qstr___wd {
    __u32 hash;
    __u32 len;
    const unsigned char *name;
} __attribute__((preserve_access_index));

struct dentry___wd {
    struct dentry___wd *d_parent;
    struct qstr___wd d_name;
} __attribute__((preserve_access_index));

struct file_system_type___wd {
    const char *name;
} __attribute__((preserve_access_index));

struct super_block___wd {
    struct file_system_type___wd *s_type;
} __attribute__((preserve_access_index));

struct vfsmount___wd {
    struct dentry___wd *mnt_root;
    struct super_block___wd *mnt_sb;
} __attribute__((preserve_access_index));

struct mount___wd {
    struct mount___wd *mnt_parent;
    struct dentry___wd *mnt_mountpoint;
    struct vfsmount___wd mnt;
    void *mnt_ns;
} __attribute__((preserve_access_index));

struct path___wd {
    struct vfsmount___wd *mnt;
    struct dentry___wd *dentry;
} __attribute__((preserve_access_index));

struct inode___wd {
    unsigned long i_ino;
    __u32 i_generation;
} __attribute__((preserve_access_index));

struct file___wd {
    unsigned int f_mode;
    unsigned int f_flags;
    struct path___wd f_path;
    struct inode___wd *f_inode;
} __attribute__((preserve_access_index));

struct fdtable___wd {
    unsigned int max_fds;
    struct file___wd **fd;
} __attribute__((preserve_access_index));

struct files_struct___wd {
    struct fdtable___wd *fdt;
} __attribute__((preserve_access_index));

struct fs_struct___wd {
    struct path___wd root;
    struct path___wd pwd;
} __attribute__((preserve_access_index));

struct task_struct___wd {
    int pid;
    int tgid;
    struct fs_struct___wd *fs;
    struct files_struct___wd *files;
} __attribute__((preserve_access_index));

struct linux_binprm___wd {
    struct file___wd *file;
    const char *filename;
} __attribute__((preserve_access_index));

/* Room for a path ending at BASE, a name after it, and a 255-byte copy from any start. */
#define SCRATCH_SIZE (8192 + 256)
#define BASE 4096
#define MASK 4095
#define MAX_DEPTH 64

#endif

#ifdef WARDEN_WALK_CODE
#ifndef WARDEN_WALK_CODE_DONE
#define WARDEN_WALK_CODE_DONE
/* Writes "<fs type>:<dentry name>" to end at BASE (pipes have an empty name: "pipefs:"). */
static __always_inline void pseudo_name(struct scratch *s, struct dentry___wd *d, struct vfsmount___wd *vm) {
    long tl = bpf_probe_read_kernel_str(s->name, 32, BPF_CORE_READ(vm, mnt_sb, s_type, name));
    tl = tl > 0 ? tl - 1 : 0;
    __u32 nl = BPF_CORE_READ(d, d_name.len);
    if (nl > 200) nl = 200;
    __u64 t = tl, n = nl;
    asm volatile("%0 &= 31" : "+r"(t));
    asm volatile("%0 &= 255" : "+r"(n));
    __u64 at = BASE - t - 1 - n, colon = at + t, after = colon + 1;
    asm volatile("%0 &= 4095" : "+r"(at));
    asm volatile("%0 &= 4095" : "+r"(colon));
    asm volatile("%0 &= 4095" : "+r"(after));
    bpf_probe_read_kernel(s->buf + at, t, s->name);
    s->buf[colon] = ':';
    bpf_probe_read_kernel(s->buf + after, n, BPF_CORE_READ(d, d_name.name));
    s->pos = (int)(BASE - t - 1 - n);
}

struct walk_ctx {
    struct dentry___wd *d;
    struct vfsmount___wd *vm;
    struct mount___wd *m;
    long mnt_off;
    /* The task's root (chroot, container): paths stop there, as d_path does. */
    struct dentry___wd *root_d;
    struct vfsmount___wd *root_vm;
};

/* One step up the tree; bpf_loop runs it so the verifier checks it once, not once per
 * level (the unrolled walk explodes its state count). */
static long walk_step(__u32 i, void *arg) {
    struct walk_ctx *c = arg;
    struct scratch *s = get_scratch();
    if (!s) return 1;
    /* Plain locals: BPF_CORE_READ would try to relocate c's own fields too. */
    struct dentry___wd *d = c->d;
    struct vfsmount___wd *vm = c->vm;
    struct mount___wd *m = c->m;
    if (d == c->root_d && vm == c->root_vm) return 1;
    struct dentry___wd *root = BPF_CORE_READ(vm, mnt_root);
    struct dentry___wd *parent = BPF_CORE_READ(d, d_parent);
    if (d == root || d == parent) {
        struct mount___wd *up = BPF_CORE_READ(m, mnt_parent);
        __u64 ns = (__u64)BPF_CORE_READ(m, mnt_ns);
        /* Its own parent yet no mount's root, or the root of a kernel-internal mount (no
         * namespace, or MNT_NS_INTERNAL, an error pointer): a pipe, socket, memfd or anon
         * inode. It has no place in the tree; name it "<fs type>:<name>". */
        if (d != root || (up == m && (ns == 0 || ns >= (__u64)-4095))) {
            if (s->pos == BASE) pseudo_name(s, d, vm);
            return 1;
        }
        if (up == m) return 1; /* the namespace's root */
        c->d = BPF_CORE_READ(m, mnt_mountpoint);
        c->m = up;
        c->vm = (void *)up + c->mnt_off;
        return 0;
    }
    __u32 len = BPF_CORE_READ(d, d_name.len);
    const unsigned char *name = BPF_CORE_READ(d, d_name.name);
    if (len > 255) len = 255;
    int pos = s->pos;
    if (pos < 257) {
        s->truncated = 1;
        return 1;
    }
    pos -= (int)len + 1;
    __u64 at = pos + 1, n = len, slash = pos;
    asm volatile("%0 &= 4095" : "+r"(at));
    asm volatile("%0 &= 255" : "+r"(n));
    asm volatile("%0 &= 4095" : "+r"(slash));
    bpf_probe_read_kernel(s->buf + at, n, name);
    s->buf[slash] = '/';
    s->pos = pos;
    c->d = parent;
    return 0;
}

/* Writes the absolute path of (dentry, vfsmount) into the scratch buffer so that it
 * ends just before BASE, crossing mount points up to the task's root. Returns where it
 * starts. A path deeper than MAX_DEPTH components or longer than the buffer is marked
 * with a leading '?' (what is left of it follows): warden never takes it for a path a
 * rule covers, nor for a pseudo file. */
static __always_inline int walk(struct scratch *s, struct dentry___wd *d, struct vfsmount___wd *vm) {
    struct task_struct___wd *t = (void *)bpf_get_current_task();
    struct walk_ctx c = {.d = d, .vm = vm, .mnt_off = bpf_core_field_offset(struct mount___wd, mnt),
                         .root_d = BPF_CORE_READ(t, fs, root.dentry), .root_vm = BPF_CORE_READ(t, fs, root.mnt)};
    c.m = (void *)vm - c.mnt_off;
    s->pos = BASE;
    s->truncated = 0;
    long steps = bpf_loop(MAX_DEPTH, walk_step, &c, 0);
    int pos = s->pos;
    if (pos <= 1 || pos > BASE) pos = BASE;
    if (steps >= MAX_DEPTH || s->truncated) s->buf[--pos & MASK] = '?';
    else if (pos == BASE) s->buf[--pos & MASK] = '/';
    return pos;
}

#endif
#endif
