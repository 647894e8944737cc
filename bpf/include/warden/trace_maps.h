/* Map values shared by bpf/trace.bpf.c and the loader (CWardenBPF). */
#ifndef WARDEN_TRACE_MAPS_H
#define WARDEN_TRACE_MAPS_H

/* A syscall between entry and exit, one per thread (trace.bpf.c keeps it in task storage). */
struct warden_pending {
    uint64_t name;  /* user pointer to the path argument */
    uint64_t name2; /* rename: the destination */
    int32_t dfd;    /* directory fd the path is relative to, or AT_FDCWD */
    int32_t dfd2;
    uint32_t access; /* WARDEN_ACCESS_* */
    uint8_t action;  /* WARDEN_ACTION_* */
    uint8_t no_fd;   /* an open-like call that returns no descriptor (truncate) */
    uint8_t by_fd;   /* fchmod, fchown: the file is `fd`'s */
    uint8_t peer;    /* connect: name the socket `fd` reached, not the name passed */
    int32_t fd;
    uint8_t abstract; /* a unix socket in the abstract namespace: `name` follows its NUL */
    uint8_t pad2[3];
};

/* What the processes of one unit used, summed at each thread's exit (`unit_usage`, indexed
 * by enum warden_unit). Peak memory is the largest process's. */
struct warden_unit_usage {
    uint64_t cpu_ns;        /* on-CPU time (sum_exec_runtime) */
    uint64_t read_bytes;    /* storage I/O (task_io_accounting) */
    uint64_t write_bytes;
    uint64_t faults;        /* minor + major page faults */
    uint64_t max_rss_pages; /* the largest process's peak resident set */
};

#endif
