/* Map values shared by bpf/trace.bpf.c and the loader (CWardenBPF). */
#ifndef WARDEN_TRACE_MAPS_H
#define WARDEN_TRACE_MAPS_H

/* A syscall between entry and exit, keyed by thread id. */
struct warden_pending {
    uint64_t name;  /* user pointer to the path argument */
    uint64_t name2; /* rename: the destination */
    int32_t dfd;    /* directory fd the path is relative to, or AT_FDCWD */
    int32_t dfd2;
    uint32_t access; /* WARDEN_ACCESS_* */
    uint8_t action;  /* WARDEN_ACTION_* */
    uint8_t no_fd;   /* an open-like call that returns no descriptor (truncate) */
    uint8_t by_fd;   /* fchmod, fchown: the file is `fd`'s */
    uint8_t pad;
    int32_t fd;
};

#endif
