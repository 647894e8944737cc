#include "CWardenLSMHost.h"

#include <stdlib.h>
#include <string.h>

#include "../../bpf/include/warden/event.h"
#include "../../bpf/include/warden/lsm_maps.h"
#include "../../bpf/include/warden/lsm_decide.h"

#define HOST_RULES 4096 /* the tries' max_entries */

struct host_rule {
    struct warden_lpm_key key;
    struct warden_fs_rule rule;
};

struct warden_host_tries {
    struct warden_lsm_settings set;
    struct host_rule fs[HOST_RULES], exec[HOST_RULES];
    int nfs, nexec;
};

/* BPF_MAP_TYPE_LPM_TRIE's answer: of the entries whose first prefixlen bits equal the
 * key's, the one with the longest prefix (an update of an existing prefix replaces it). */
static const struct host_rule *longest(const struct host_rule *rules, int n, const struct warden_lpm_key *key) {
    const struct host_rule *best = NULL;
    for (int i = 0; i < n; i++) {
        uint32_t bits = rules[i].key.prefixlen;
        if (bits > key->prefixlen || (best && bits <= best->key.prefixlen)) continue;
        uint32_t bytes = bits / 8, rest = bits % 8;
        if (memcmp(rules[i].key.data, key->data, bytes) != 0) continue;
        if (rest && ((rules[i].key.data[bytes] ^ key->data[bytes]) & (uint8_t)(0xff << (8 - rest)))) continue;
        best = &rules[i];
    }
    return best;
}

static inline const void *warden_lsm_exec_rule(const void *tries, const struct warden_lpm_key *key) {
    const struct warden_host_tries *t = tries;
    return longest(t->exec, t->nexec, key);
}

static inline const struct warden_fs_rule *warden_lsm_fs_rule(const void *tries, const struct warden_lpm_key *key) {
    const struct warden_host_tries *t = tries;
    const struct host_rule *r = longest(t->fs, t->nfs, key);
    return r ? &r->rule : NULL;
}

struct warden_host_tries *warden_host_tries_new(int fs_strict, int exec_allowlist) {
    struct warden_host_tries *t = calloc(1, sizeof *t);
    if (!t) abort();
    t->set.fs_strict = (uint32_t)fs_strict;
    t->set.exec_allowlist = (uint32_t)exec_allowlist;
    return t;
}

void warden_host_tries_free(struct warden_host_tries *t) { free(t); }

int warden_host_tries_add(struct warden_host_tries *t, int exec, const uint8_t *key, size_t len, uint32_t rights) {
    if (len == 0 || len > WARDEN_LPM_DATA) return -1;
    struct host_rule r;
    memset(&r, 0, sizeof r);
    r.key.prefixlen = (uint32_t)len * 8;
    memcpy(r.key.data, key, len);
    r.rule.rights = rights;
    struct host_rule *rules = exec ? t->exec : t->fs;
    int *n = exec ? &t->nexec : &t->nfs;
    for (int i = 0; i < *n; i++) {
        if (rules[i].key.prefixlen == r.key.prefixlen && memcmp(rules[i].key.data, r.key.data, len) == 0) {
            rules[i] = r;
            return 0;
        }
    }
    if (*n == HOST_RULES) return -1;
    rules[(*n)++] = r;
    return 0;
}

int warden_host_file_open_refused(const struct warden_host_tries *t, unsigned int f_mode, unsigned int f_flags, const char *path) {
    int exec = warden_lsm_is_exec(f_mode, f_flags);
    if (!warden_lsm_checks(&t->set, exec)) return 0;
    /* bpf_d_path: the length with the NUL, or -ENAMETOOLONG when the buffer cannot hold it. */
    char name[WARDEN_LPM_DATA];
    size_t len = strlen(path);
    long n = len + 1 > sizeof name ? -36 : (long)(len + 1);
    if (n > 0) memcpy(name, path, (size_t)n);
    struct warden_lpm_key key;
    memset(&key, 0, sizeof key);
    return warden_lsm_refuses(t, &t->set, warden_lsm_need(f_mode), exec, name, n, &key);
}

struct warden_host_abi warden_host_abi(void) {
    struct warden_host_abi a = {WARDEN_ACCESS_READ, WARDEN_ACCESS_WRITE, WARDEN_ACCESS_EXECUTE, WARDEN_ACCESS_CONNECT,
                                WARDEN_LPM_DATA};
    return a;
}
