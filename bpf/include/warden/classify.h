/* Unit attribution: which part of a build a process is, decided at each exec from the
 * name the program was executed by and from what the process was before (inherited from
 * its parent at fork). Shared by bpf/trace.bpf.c and the host tests (through
 * CWardenABI), so the code the kernel verifies is the code the tests run.
 *
 * The name is reduced to two FNV-1a hashes (the whole name without a "-<version>"
 * suffix, and the part after its last '-', for target triplets such as
 * x86_64-linux-gnu-gcc) and matched with a switch: per-character string compares make the
 * BPF verifier's state count explode. The host tests check each constant against the
 * hash of its name. */
#ifndef WARDEN_CLASSIFY_H
#define WARDEN_CLASSIFY_H

#include "event.h"

#ifdef __bpf__
#define WARDEN_INLINE static __always_inline
#else
#define WARDEN_INLINE static inline
#endif

#define WARDEN_NAME_MAX 64

/* Which tool a process is, beyond its unit: decides what its children become. */
enum warden_tool {
    WARDEN_TOOL_NONE = 0,
    WARDEN_TOOL_CARGO = 1,          /* children that are not known tools are build scripts */
    WARDEN_TOOL_SWIFTPM = 2,        /* swift-build, swift-package: manifests and plugins */
    WARDEN_TOOL_RUSTC = 3,          /* the C compiler driver it runs is the linker */
    WARDEN_TOOL_SWIFT_DRIVER = 4,   /* swiftc, swift-driver: clang under it links */
    WARDEN_TOOL_SWIFT_FRONTEND = 5, /* children that are not known tools are macro plugins */
};

struct warden_unit_state {
    uint8_t unit; /* enum warden_unit */
    uint8_t tool; /* enum warden_tool */
    uint8_t pad[2];
    /* The tgid whose exec started the build script or macro this process belongs to
     * (the agent names the package from that exec's path); kept by everything it runs,
     * compilers included, until another build script or macro starts. 0: none. */
    uint32_t origin;
};

struct warden_name_hash {
    uint32_t whole;  /* the name without a "-<digits and dots>" suffix */
    uint32_t suffix; /* the part of that after its last '-' (the whole name if none) */
};

#define WARDEN_FNV_INIT 2166136261u
#define WARDEN_FNV_PRIME 16777619u

/* Known names and their FNV-1a hashes. */
#define WARDEN_H_BUILD_SCRIPT 0x7b883e54u  /* build-script-build */
#define WARDEN_H_CARGO 0x85f3a527u         /* cargo */
#define WARDEN_H_SWIFT_BUILD 0xc8cf7b05u   /* swift-build */
#define WARDEN_H_SWIFT_PACKAGE 0x6a692505u /* swift-package */
#define WARDEN_H_SWIFT_TEST 0xd60e61fbu    /* swift-test */
#define WARDEN_H_SWIFT_PLUGIN 0xe3ae6b58u  /* swift-plugin-server */
#define WARDEN_H_RUSTC 0x8f5756ccu         /* rustc */
#define WARDEN_H_RUSTDOC 0x0e286393u       /* rustdoc */
#define WARDEN_H_SWIFTC 0xad4e4661u        /* swiftc */
#define WARDEN_H_SWIFT_DRIVER 0x22f65c65u  /* swift-driver */
#define WARDEN_H_SWIFT_FRONTEND 0x04987643u /* swift-frontend */
#define WARDEN_H_LD 0x4d31d1bdu            /* ld */
#define WARDEN_H_LD_BFD 0xbf306463u        /* ld.bfd */
#define WARDEN_H_LD_GOLD 0xfe328377u       /* ld.gold */
#define WARDEN_H_LD_LLD 0x219ad857u        /* ld.lld */
#define WARDEN_H_LLD 0x2e598553u           /* lld */
#define WARDEN_H_MOLD 0x1d82b4edu          /* mold */
#define WARDEN_H_COLLECT2 0x1d872eb9u      /* collect2 */
#define WARDEN_H_CC 0x56299123u            /* cc */
#define WARDEN_H_CXX 0x4c21a3f0u           /* c++ */
#define WARDEN_H_GCC 0x69114594u           /* gcc */
#define WARDEN_H_GXX 0xa08754b4u           /* g++ */
#define WARDEN_H_CLANG 0xc735e94eu         /* clang */
#define WARDEN_H_CLANGXX 0x0c2098bcu       /* clang++ */
#define WARDEN_H_CC1 0xb56f5f56u           /* cc1 */
#define WARDEN_H_CC1PLUS 0x7524694au       /* cc1plus */
#define WARDEN_H_CC1OBJ 0x2cb6a063u        /* cc1obj */
#define WARDEN_H_AS 0x5e25208du            /* as */
#define WARDEN_H_GIT 0x542abc6bu           /* git */

/* The hashing, one character at a time: the BPF side runs the step from bpf_loop with
 * the state in a map (so the verifier checks it once), the host side from a plain loop. */
struct warden_hash_state {
    uint32_t whole, suffix;                 /* so far */
    uint32_t whole_at_dash, suffix_at_dash; /* as they were before the last '-' */
    int32_t dash;                           /* index of the last '-', or -1 */
    int32_t version;                        /* 1: only digits and dots since it; -1: not a version */
    int32_t len;                            /* set at the NUL */
    int32_t done;
};

WARDEN_INLINE void warden_hash_start(struct warden_hash_state *st) {
    st->whole = st->suffix = st->whole_at_dash = st->suffix_at_dash = WARDEN_FNV_INIT;
    st->dash = -1;
    st->version = -1;
    st->len = WARDEN_NAME_MAX - 1;
    st->done = 0;
}

WARDEN_INLINE void warden_hash_step(struct warden_hash_state *st, char c, int i) {
    if (st->done) return;
    if (c == 0) {
        st->len = i;
        st->done = 1;
        return;
    }
    uint8_t b = (uint8_t)c;
    if (c == '-') {
        st->whole_at_dash = st->whole;
        st->suffix_at_dash = st->suffix;
        st->dash = i;
        st->version = 0;
        st->whole = (st->whole ^ b) * WARDEN_FNV_PRIME;
        st->suffix = WARDEN_FNV_INIT;
        return;
    }
    if ((c >= '0' && c <= '9') || c == '.') {
        if (st->version == 0) st->version = 1;
    } else {
        st->version = -1;
    }
    st->whole = (st->whole ^ b) * WARDEN_FNV_PRIME;
    st->suffix = (st->suffix ^ b) * WARDEN_FNV_PRIME;
}

/* A trailing "-<digits and dots>" is a version (gcc-12, clang-16): hash what precedes it. */
WARDEN_INLINE struct warden_name_hash warden_hash_finish(const struct warden_hash_state *st) {
    struct warden_name_hash h = {st->whole, st->suffix};
    if (st->dash > 0 && st->version == 1 && st->dash < st->len - 1) {
        h.whole = st->whole_at_dash;
        h.suffix = st->suffix_at_dash;
    }
    return h;
}

#ifndef __bpf__
/* Hashes a NUL-terminated name (at most WARDEN_NAME_MAX - 1 bytes are looked at). */
static inline struct warden_name_hash warden_hash_name(const char *name) {
    struct warden_hash_state st;
    warden_hash_start(&st);
    for (int i = 0; i < WARDEN_NAME_MAX && !st.done; i++) warden_hash_step(&st, name[i], i);
    return warden_hash_finish(&st);
}
#endif

/* Tools that come with a target prefix (x86_64-linux-gnu-gcc, aarch64-linux-gnu-ld). */
WARDEN_INLINE int warden_triplet_tool(uint32_t h) {
    switch (h) {
    case WARDEN_H_LD: case WARDEN_H_LD_BFD: case WARDEN_H_LD_GOLD: case WARDEN_H_LD_LLD:
    case WARDEN_H_CC: case WARDEN_H_CXX: case WARDEN_H_GCC: case WARDEN_H_GXX:
    case WARDEN_H_CLANG: case WARDEN_H_CLANGXX: case WARDEN_H_AS:
        return 1;
    default:
        return 0;
    }
}

/* What a process in state `before` becomes when it executes a program named `n`: unit
 * and tool (origin is warden_classify's). */
WARDEN_INLINE struct warden_unit_state warden_classify_unit(struct warden_name_hash n, struct warden_unit_state before) {
    struct warden_unit_state s = {before.unit, WARDEN_TOOL_NONE, {0, 0}, 0};
    uint32_t h = n.whole;
    if (n.suffix != n.whole && warden_triplet_tool(n.suffix)) h = n.suffix;
    switch (h) {
    case WARDEN_H_BUILD_SCRIPT:
        s.unit = WARDEN_UNIT_BUILD_SCRIPT;
        return s;
    case WARDEN_H_CARGO:
        s.unit = WARDEN_UNIT_OTHER;
        s.tool = WARDEN_TOOL_CARGO;
        return s;
    case WARDEN_H_SWIFT_BUILD: case WARDEN_H_SWIFT_PACKAGE: case WARDEN_H_SWIFT_TEST:
        s.unit = WARDEN_UNIT_OTHER;
        s.tool = WARDEN_TOOL_SWIFTPM;
        return s;
    case WARDEN_H_GIT:
        /* Fetching dependencies for cargo or SwiftPM: the tool's own work, not a build
         * script. A git that a build script or macro runs is still that build script. */
        if (before.unit != WARDEN_UNIT_BUILD_SCRIPT && before.unit != WARDEN_UNIT_PROC_MACRO) s.unit = WARDEN_UNIT_OTHER;
        return s;
    case WARDEN_H_SWIFT_PLUGIN:
        s.unit = WARDEN_UNIT_PROC_MACRO;
        return s;
    case WARDEN_H_RUSTC: case WARDEN_H_RUSTDOC:
        s.unit = WARDEN_UNIT_COMPILER;
        s.tool = WARDEN_TOOL_RUSTC;
        return s;
    case WARDEN_H_SWIFTC: case WARDEN_H_SWIFT_DRIVER:
        s.unit = WARDEN_UNIT_COMPILER;
        s.tool = WARDEN_TOOL_SWIFT_DRIVER;
        return s;
    case WARDEN_H_SWIFT_FRONTEND:
        s.unit = WARDEN_UNIT_COMPILER;
        s.tool = WARDEN_TOOL_SWIFT_FRONTEND;
        return s;
    case WARDEN_H_LD: case WARDEN_H_LD_BFD: case WARDEN_H_LD_GOLD: case WARDEN_H_LD_LLD:
    case WARDEN_H_LLD: case WARDEN_H_MOLD: case WARDEN_H_COLLECT2:
        s.unit = WARDEN_UNIT_LINKER;
        return s;
    case WARDEN_H_CC: case WARDEN_H_CXX: case WARDEN_H_GCC: case WARDEN_H_GXX:
    case WARDEN_H_CLANG: case WARDEN_H_CLANGXX:
        /* rustc and the Swift driver link through the C compiler driver. */
        s.unit = before.tool == WARDEN_TOOL_RUSTC || before.tool == WARDEN_TOOL_SWIFT_DRIVER ? WARDEN_UNIT_LINKER
                                                                                          : WARDEN_UNIT_COMPILER;
        return s;
    case WARDEN_H_CC1: case WARDEN_H_CC1PLUS: case WARDEN_H_CC1OBJ: case WARDEN_H_AS:
        /* The assembler a linking driver runs is still part of linking. */
        s.unit = before.unit == WARDEN_UNIT_LINKER ? WARDEN_UNIT_LINKER : WARDEN_UNIT_COMPILER;
        return s;
    default:
        break;
    }
    /* Anything else: what runs it decides; otherwise it stays what it was. */
    if (before.tool == WARDEN_TOOL_CARGO || before.tool == WARDEN_TOOL_SWIFTPM) s.unit = WARDEN_UNIT_BUILD_SCRIPT;
    else if (before.tool == WARDEN_TOOL_SWIFT_FRONTEND) s.unit = WARDEN_UNIT_PROC_MACRO;
    return s;
}

/* What process `self` (a tgid), in state `before`, becomes when it executes a program
 * named `n`. */
WARDEN_INLINE struct warden_unit_state warden_classify(struct warden_name_hash n, struct warden_unit_state before, uint32_t self) {
    struct warden_unit_state s = warden_classify_unit(n, before);
    /* Entering a build script or macro from anything else starts a unit of its own. */
    int starts = (s.unit == WARDEN_UNIT_BUILD_SCRIPT || s.unit == WARDEN_UNIT_PROC_MACRO) && s.unit != before.unit;
    s.origin = starts ? self : before.origin;
    return s;
}

#endif
