/* Tier 1's file_open decision (bpf/include/warden/lsm_decide.h, the code lsm.bpf.c runs)
 * on the host, over a host trie filled the way the loader fills the kernel's: for tests
 * only, never linked into warden. */
#ifndef CWARDEN_LSM_HOST_H
#define CWARDEN_LSM_HOST_H

#include <stddef.h>
#include <stdint.h>

struct warden_host_tries;

struct warden_host_tries *_Nonnull warden_host_tries_new(int fs_strict, int exec_allowlist);
void warden_host_tries_free(struct warden_host_tries *_Nonnull t);
/* As warden_lsm_add_rule: `key` is the rule's key bytes ("P/"), its prefix all of them.
 * Returns 0, or -1 when the key does not fit or the trie is full. */
int warden_host_tries_add(struct warden_host_tries *_Nonnull t, int exec, const uint8_t *_Nonnull key, size_t len, uint32_t rights);
/* lsm.bpf.c's file_open for a file opened with f_mode and f_flags whose bpf_d_path name is
 * `path`: 1 refused, 0 allowed. */
int warden_host_file_open_refused(const struct warden_host_tries *_Nonnull t, unsigned int f_mode, unsigned int f_flags,
                                  const char *_Nonnull path);

/* The BPF-side constants TierOneRules mirrors, for a test that ties the two. */
struct warden_host_abi {
    uint32_t access_read, access_write, access_execute, access_connect, lpm_data;
};
struct warden_host_abi warden_host_abi(void);

#endif
