/* Tier 1's file_open decision (bpf/lsm.bpf.c), shared with the host tests so that the
 * random-tree test runs the code the kernel verifies: the key a path is looked up by,
 * which trie is asked, and what the answer allows. The tries are the includer's: it
 * defines the two lookups declared below (bpf_map_lookup_elem on the LPM tries in the
 * program; a host trie in Tests/CWardenLSMHost). `tries` is passed through to them. */
#ifndef WARDEN_LSM_DECIDE_H
#define WARDEN_LSM_DECIDE_H

#include "event.h"
#include "lsm_maps.h"

#ifdef __bpf__
#define WARDEN_LSM_INLINE static __always_inline
/* Bounds the verifier can see (a plain `&=` may be folded away by the compiler). */
#define WARDEN_LSM_BOUND(v, mask) asm volatile("%0 &= " #mask : "+r"(v))
#define WARDEN_LSM_COPY(dst, len, src) bpf_probe_read_kernel(dst, len, src)
#else
#include <string.h>
#define WARDEN_LSM_INLINE static inline
#define WARDEN_LSM_BOUND(v, mask) ((v) &= (mask))
#define WARDEN_LSM_COPY(dst, len, src) memcpy(dst, src, len)
#endif

/* struct file's f_mode bits, and __FMODE_EXEC in f_flags (exec opens). */
#define WARDEN_FMODE_READ 0x1
#define WARDEN_FMODE_WRITE 0x2
#define WARDEN_FMODE_EXEC 0x20

/* The longest rule above `key` in the exec and fs tries, NULL when there is none. */
WARDEN_LSM_INLINE const void *warden_lsm_exec_rule(const void *tries, const struct warden_lpm_key *key);
WARDEN_LSM_INLINE const struct warden_fs_rule *warden_lsm_fs_rule(const void *tries, const struct warden_lpm_key *key);

/* WARDEN_ACCESS_* bits an open with this f_mode needs. */
WARDEN_LSM_INLINE uint32_t warden_lsm_need(unsigned int f_mode) {
    uint32_t need = 0;
    if (f_mode & WARDEN_FMODE_READ) need |= WARDEN_ACCESS_READ;
    if (f_mode & WARDEN_FMODE_WRITE) need |= WARDEN_ACCESS_WRITE;
    return need;
}

/* Exec opens carry __FMODE_EXEC in f_flags (and, on newer kernels, FMODE_EXEC in f_mode). */
WARDEN_LSM_INLINE int warden_lsm_is_exec(unsigned int f_mode, unsigned int f_flags) {
    return (f_flags & WARDEN_FMODE_EXEC) || (f_mode & WARDEN_FMODE_EXEC);
}

/* 0 when the policy leaves the open unchecked: no path is needed. */
WARDEN_LSM_INLINE int warden_lsm_checks(const struct warden_lsm_settings *set, int exec) {
    return set->fs_strict || (exec && set->exec_allowlist);
}

/* The decision for an open of `path`, n bytes with its NUL as bpf_d_path counts them
 * (n <= 1 when it could not be named). Builds the key ("path/") in `key`. Returns 1 when
 * the open is refused. */
WARDEN_LSM_INLINE int warden_lsm_refuses(const void *tries, const struct warden_lsm_settings *set, uint32_t need, int exec,
                                         const char *path, long n, struct warden_lpm_key *key) {
    /* Paths the key cannot hold whole are refused: a cut path could match a rule it is not under. */
    if (n <= 1 || n >= WARDEN_LPM_DATA) return 1;
    /* Pipes, sockets and anon inodes ("pipe:[…]"): no place in the tree, no path rule. */
    if (path[0] != '/' && !exec) return 0;
    uint64_t len = n - 1; /* without the NUL */
    WARDEN_LSM_BOUND(len, 255);
    WARDEN_LSM_COPY(key->data, len, path);
    key->data[len] = '/';
    key->prefixlen = (uint32_t)(len + 1) * 8;

    if (exec && set->exec_allowlist) {
        if (!warden_lsm_exec_rule(tries, key)) return 1;
        /* The kernel opens the program for reading too; the exec rule covers it. */
        need &= ~WARDEN_ACCESS_READ;
    }
    if (!set->fs_strict || !need) return 0;
    const struct warden_fs_rule *r = warden_lsm_fs_rule(tries, key);
    return !r || (r->rights & need) != need;
}

#endif
