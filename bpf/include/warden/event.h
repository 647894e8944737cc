/* The record the BPF programs put in the ring buffer and warden decodes.
 * Shared by the BPF objects (bpf/), the host C shims and Swift (through CWardenABI).
 * Binary-compatible with cargo-warden's Event. New fields go at the end, under a
 * new WARDEN_EVENT_VERSION; never reorder or resize existing ones. */
#ifndef WARDEN_EVENT_H
#define WARDEN_EVENT_H

#ifdef __bpf__
/* BPF objects get the fixed-width types from vmlinux.h. */
#else
#include <stdint.h>
#include <stddef.h>
#endif

#define WARDEN_EVENT_VERSION 4
#define WARDEN_PATH_MAX 256
#define WARDEN_PERM_MAX 64

enum warden_unit {
    WARDEN_UNIT_OTHER = 0,
    WARDEN_UNIT_BUILD_SCRIPT = 1, /* build.rs, Package.swift manifest, SwiftPM plugin */
    WARDEN_UNIT_PROC_MACRO = 2,   /* Rust proc macro, Swift macro (compiler plugin) */
    WARDEN_UNIT_COMPILER = 3,     /* rustc, swiftc, swift-frontend, clang, cc1 */
    WARDEN_UNIT_LINKER = 4,       /* ld, ld.lld, ld.gold, collect2 */
};

enum warden_action {
    WARDEN_ACTION_OPEN = 0,
    WARDEN_ACTION_RENAME = 1,
    WARDEN_ACTION_UNLINK = 2,
    WARDEN_ACTION_EXEC = 3,
    WARDEN_ACTION_CONNECT = 4,
    WARDEN_ACTION_CREATE = 5, /* mkdir, mknod (fifo), symlink, link, bind of a unix socket path */
    WARDEN_ACTION_ATTR = 6,   /* chmod, chown (and their fd and *at forms) */
    WARDEN_ACTION_LINK = 7,   /* the existing file a refused hard link would have named */
    WARDEN_ACTION_LISTEN = 8, /* listen(2) on a socket, named by its local address */
    WARDEN_ACTION_SOCKET = 9, /* a socket of a family the sandbox refuses: "family N" */
};

enum warden_verdict {
    WARDEN_VERDICT_ALLOWED = 0,
    WARDEN_VERDICT_DENIED = 1, /* observe mode: would be denied */
};

struct warden_event {
    uint32_t pid;
    uint32_t tgid;
    uint64_t time_ns;
    uint8_t unit;
    uint8_t action;
    uint8_t verdict;
    uint8_t reserved;      /* then 4 bytes of padding: container_id is 8-aligned */
    uint64_t container_id; /* the run's cgroup id */
    uint64_t caps;
    char path_or_addr[WARDEN_PATH_MAX];
    char needed_perm[WARDEN_PERM_MAX]; /* policy line that would allow it */
    /* Version 2. */
    int32_t result;  /* what the syscall returned: 0 or -errno (tracepoint events) */
    uint32_t access; /* WARDEN_ACCESS_* bits the operation needed */
    /* Version 3. */
    uint32_t origin;    /* tgid whose exec started the build script or macro this process
                         * belongs to (struct warden_unit_state.origin); 0: none */
    uint32_t reserved2; /* zero */
    /* Version 4. */
    uint64_t repeat_key; /* trace events of a successful open: what identifies the access
                          * in the kernel's `seen` map (file, mount, unit, origin, access);
                          * the agent enters it once it logged the record as allowed, and
                          * later repeats stay in the kernel. 0: none */
};

#define WARDEN_EVENT_V1_SIZE 360
#define WARDEN_EVENT_V2_SIZE 368
#define WARDEN_EVENT_V3_SIZE 376

enum warden_access {
    WARDEN_ACCESS_READ = 1,
    WARDEN_ACCESS_WRITE = 2,   /* write, create, truncate, remove, rename */
    WARDEN_ACCESS_EXECUTE = 4,
    WARDEN_ACCESS_CONNECT = 8, /* tier-1 rules only: a unix socket that may be connected to */
};

#ifndef __bpf__
_Static_assert(sizeof(struct warden_event) == 384, "warden_event size is ABI");
_Static_assert(offsetof(struct warden_event, time_ns) == 8, "time_ns offset");
_Static_assert(offsetof(struct warden_event, unit) == 16, "unit offset");
_Static_assert(offsetof(struct warden_event, container_id) == 24, "container_id offset");
_Static_assert(offsetof(struct warden_event, caps) == 32, "caps offset");
_Static_assert(offsetof(struct warden_event, path_or_addr) == 40, "path_or_addr offset");
_Static_assert(offsetof(struct warden_event, needed_perm) == 296, "needed_perm offset");
_Static_assert(offsetof(struct warden_event, result) == WARDEN_EVENT_V1_SIZE, "version 2 fields follow version 1");
_Static_assert(offsetof(struct warden_event, access) == 364, "access offset");
_Static_assert(offsetof(struct warden_event, origin) == WARDEN_EVENT_V2_SIZE, "version 3 fields follow version 2");
_Static_assert(offsetof(struct warden_event, repeat_key) == WARDEN_EVENT_V3_SIZE, "version 4 fields follow version 3");
#endif

#endif
