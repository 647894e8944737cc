/* Map layouts shared by bpf/lsm.bpf.c and the loader (CWardenBPF).
 *
 * Path rules live in longest-prefix-match tries keyed by bytes. A rule for a directory
 * or file P is stored as "P/" ("/" for the root), and a path is looked up as "path/", so
 * a match is always whole components (/usr covers /usr and /usr/bin/cc, not /usrx). Rights
 * accumulate down the tree as Landlock's do: warden stores in each rule the union of its
 * own rights and those of every rule above it, so the longest match alone decides. */
#ifndef WARDEN_LSM_MAPS_H
#define WARDEN_LSM_MAPS_H

#define WARDEN_LPM_DATA 256

struct warden_lpm_key {
    uint32_t prefixlen; /* in bits */
    uint8_t data[WARDEN_LPM_DATA];
};

/* WARDEN_ACCESS_* bits (event.h) a rule grants. */
struct warden_fs_rule {
    uint32_t rights;
};

struct warden_lsm_settings {
    uint32_t fs_strict;      /* 1: opens need a rule */
    uint32_t exec_allowlist; /* 1: executing needs an exec rule, not just read */
    uint32_t unix_strict;    /* 1: connecting to a unix socket by path needs write or connect */
};

#endif
