/* libbpf loader for warden's BPF objects. */
#include "CWardenBPF.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../bpf/include/warden/net_maps.h"
#include "../../bpf/include/warden/lsm_maps.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

const void *warden_bpf_net_object_ptr(void) { return warden_bpf_net_object; }
const void *warden_bpf_trace_object_ptr(void) { return warden_bpf_trace_object; }
const void *warden_bpf_lsm_object_ptr(void) { return warden_bpf_lsm_object; }

#define MAX_LINKS 16

struct warden_bpf {
    struct bpf_object *obj;
    struct bpf_link *links[MAX_LINKS];
    int nlinks;
    struct ring_buffer *rb;
    warden_event_fn fn;
    void *ctx;
    int wake_fd; /* warden_bpf_wake's eventfd, -1 before */
};

/* Writes the message and returns -e, the header's convention (-EIO should a failing
 * libbpf call have left errno 0: a failure must never read as success). */
static int fail(char *err, size_t errlen, int e, const char *what, const char *name) {
    snprintf(err, errlen, "%s %s: %s (errno %d)", what, name ? name : "", strerror(e), e);
    return e > 0 ? -e : -EIO;
}

static _Atomic int quiet_logs;

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list args) {
    if (level == LIBBPF_DEBUG || quiet_logs) return 0;
    fputs("warden: ", stderr); /* libbpf's lines start with "libbpf: " */
    return vfprintf(stderr, fmt, args);
}

void warden_bpf_quiet_logs(int quiet) { quiet_logs = quiet; }

void warden_bpf_route_logs(void) { libbpf_set_print(libbpf_log); }

static int on_record(void *ctx, void *data, size_t size) {
    struct warden_bpf *b = ctx;
    return b->fn ? b->fn(b->ctx, data, size) : 0;
}

/* The maps one run's objects share: one ring buffer, one drop counter, one unit table. */
static const char *const shared_maps[] = {"events", "drops", "units"};

int warden_bpf_load(const void *object, size_t size, const char *name, uint32_t ring_bytes,
                    struct warden_bpf *share, struct warden_bpf **out, char *err, size_t errlen) {
    *out = NULL;
    struct warden_bpf *b = calloc(1, sizeof *b);
    if (!b) return fail(err, errlen, ENOMEM, "allocate", "loader");
    b->wake_fd = -1;
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
    b->obj = bpf_object__open_mem(object, size, &opts);
    if (!b->obj) {
        int e = errno;
        free(b);
        return fail(err, errlen, e, "open BPF object", name);
    }
    for (size_t i = 0; i < sizeof shared_maps / sizeof shared_maps[0]; i++) {
        struct bpf_map *m = bpf_object__find_map_by_name(b->obj, shared_maps[i]);
        if (!m) continue;
        int e = 0;
        if (share) {
            int fd = bpf_object__find_map_fd_by_name(share->obj, shared_maps[i]);
            if (fd >= 0 && bpf_map__reuse_fd(m, fd)) e = errno;
        } else if (ring_bytes && i == 0 && bpf_map__set_max_entries(m, ring_bytes)) {
            e = errno;
        }
        if (e) {
            warden_bpf_close(b);
            return fail(err, errlen, e, share ? "share map" : "size ring buffer", shared_maps[i]);
        }
    }
    if (bpf_object__load(b->obj)) {
        int e = errno;
        warden_bpf_close(b);
        return fail(err, errlen, e, "load (verifier) BPF object", name);
    }
    if (!share && bpf_object__find_map_by_name(b->obj, "events")) {
        int rbfd = bpf_object__find_map_fd_by_name(b->obj, "events");
        b->rb = ring_buffer__new(rbfd, on_record, b, NULL);
        if (!b->rb) {
            int e = errno;
            warden_bpf_close(b);
            return fail(err, errlen, e, "open ring buffer", "events");
        }
    }
    *out = b;
    return 0;
}

int warden_bpf_attach(struct warden_bpf *b, int cgroup_fd, char *err, size_t errlen) {
    int runfd = bpf_object__find_map_fd_by_name(b->obj, "run_cgroup");
    if (runfd >= 0) {
        uint32_t zero = 0, fd = (uint32_t)cgroup_fd;
        if (bpf_map_update_elem(runfd, &zero, &fd, BPF_ANY)) return fail(err, errlen, errno, "update map", "run_cgroup");
    }
    struct bpf_program *p;
    bpf_object__for_each_program(p, b->obj) {
        if (b->nlinks == MAX_LINKS) return fail(err, errlen, E2BIG, "attach", bpf_program__name(p));
        enum bpf_prog_type t = bpf_program__type(p);
        struct bpf_link *l = t == BPF_PROG_TYPE_CGROUP_SOCK_ADDR || t == BPF_PROG_TYPE_CGROUP_SOCK || t == BPF_PROG_TYPE_CGROUP_SKB
                                 ? bpf_program__attach_cgroup(p, cgroup_fd)
                                 : bpf_program__attach(p);
        if (!l) return fail(err, errlen, errno, "attach", bpf_program__name(p));
        b->links[b->nlinks++] = l;
    }
    return 0;
}

int warden_bpf_poll(struct warden_bpf *b, int timeout_ms, warden_event_fn fn, void *ctx) {
    if (!b->rb) return -EINVAL;
    b->fn = fn;
    b->ctx = ctx;
    /* The programs wake us only for a batch; poll waits for that (or the timeout), and
     * consume then takes whatever is queued, woken or not. */
    int r = ring_buffer__poll(b->rb, timeout_ms);
    if (r < 0 && r != -EINTR) return r;
    int c = ring_buffer__consume(b->rb);
    if (c < 0) return c;
    return (r > 0 ? r : 0) + c;
}

uint64_t warden_bpf_counter(struct warden_bpf *b, const char *map) {
    uint32_t zero = 0;
    uint64_t v = 0;
    int fd = bpf_object__find_map_fd_by_name(b->obj, map);
    if (fd >= 0) bpf_map_lookup_elem(fd, &zero, &v);
    return v;
}

uint64_t warden_bpf_percpu_counter(struct warden_bpf *b, const char *map) {
    int fd = bpf_object__find_map_fd_by_name(b->obj, map);
    int ncpu = libbpf_num_possible_cpus();
    if (fd < 0 || ncpu <= 0) return 0;
    uint64_t *v = calloc((size_t)ncpu, sizeof *v), sum = 0;
    uint32_t zero = 0;
    if (v && bpf_map_lookup_elem(fd, &zero, v) == 0)
        for (int i = 0; i < ncpu; i++) sum += v[i];
    free(v);
    return sum;
}

int warden_bpf_map_fd(struct warden_bpf *b, const char *map) {
    int fd = bpf_object__find_map_fd_by_name(b->obj, map);
    return fd < 0 ? -ENOENT : fd;
}

int warden_bpf_mark_seen(int map_fd, uint64_t key) {
    uint8_t one = 1;
    return bpf_map_update_elem(map_fd, &key, &one, BPF_ANY) < 0 ? -errno : 0;
}

int warden_bpf_read(struct warden_bpf *b, const char *map, uint32_t key, void *value) {
    int fd = bpf_object__find_map_fd_by_name(b->obj, map);
    if (fd < 0) return -ENOENT;
    return bpf_map_lookup_elem(fd, &key, value) < 0 ? -errno : 0;
}

int warden_bpf_syscall_counts(struct warden_bpf *b, uint64_t *out, uint32_t slots) {
    struct bpf_map *map = bpf_object__find_map_by_name(b->obj, "syscall_counts");
    if (!map) return -ENOENT;
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return cpus < 0 ? cpus : -EINVAL;
    uint32_t n = bpf_map__max_entries(map);
    if (n > slots) n = slots;
    uint64_t *per_cpu = calloc((size_t)cpus, sizeof *per_cpu);
    if (!per_cpu) return -ENOMEM;
    int fd = bpf_map__fd(map);
    /* One batch lookup instead of one per slot (1,024 system calls, 1-5 ms a run); the
     * end of the map may answer ENOENT with every slot copied. */
    uint32_t count = n, next = 0;
    uint32_t *keys = calloc(n ? n : 1, sizeof *keys);
    uint64_t *values = calloc((size_t)(n ? n : 1) * (size_t)cpus, sizeof *values);
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int r = keys && values ? bpf_map_lookup_batch(fd, NULL, &next, keys, values, &count, &opts) : -1;
    int batched = (r == 0 || errno == ENOENT) && keys && values && count == n;
    for (uint32_t key = 0; key < n; key++) out[key] = 0;
    for (uint32_t i = 0; batched && i < count; i++)
        for (int c = 0; c < cpus && keys[i] < n; c++) out[keys[i]] += values[(size_t)i * (size_t)cpus + (size_t)c];
    for (uint32_t key = 0; !batched && key < n; key++) {
        if (bpf_map_lookup_elem(fd, &key, per_cpu) < 0) continue;
        for (int c = 0; c < cpus; c++) out[key] += per_cpu[c];
    }
    free(keys);
    free(values);
    free(per_cpu);
    return (int)n;
}

/* A signalled eventfd joins the ring's epoll set as ring 0 (libbpf then only consumes
 * that ring): a poll waiting out its timeout returns now, and every later one at once. */
int warden_bpf_wake(struct warden_bpf *b) {
    if (!b->rb || b->wake_fd >= 0) return b->rb ? 0 : -EINVAL;
    int fd = eventfd(1, EFD_CLOEXEC);
    if (fd < 0) return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = 0};
    if (epoll_ctl(ring_buffer__epoll_fd(b->rb), EPOLL_CTL_ADD, fd, &ev)) {
        int e = errno;
        close(fd);
        return -e;
    }
    b->wake_fd = fd;
    return 0;
}

uint64_t warden_bpf_dropped(struct warden_bpf *b) {
    return warden_bpf_counter(b, "drops");
}

void warden_bpf_close(struct warden_bpf *b) {
    if (!b) return;
    if (b->rb) ring_buffer__free(b->rb);
    for (int i = 0; i < b->nlinks; i++) bpf_link__destroy(b->links[i]);
    if (b->obj) bpf_object__close(b->obj);
    if (b->wake_fd >= 0) close(b->wake_fd);
    free(b);
}

static int update(struct warden_bpf *b, const char *map, const void *key, const void *value, char *err, size_t errlen) {
    int fd = bpf_object__find_map_fd_by_name(b->obj, map);
    if (fd < 0 || bpf_map_update_elem(fd, key, value, BPF_ANY)) return fail(err, errlen, fd < 0 ? ENOENT : errno, "update map", map);
    return 0;
}

int warden_net_configure(struct warden_bpf *b, int enforce, int deny_default, int deny_listen, char *err, size_t errlen) {
    struct warden_net_settings s = {(uint32_t)enforce, (uint32_t)deny_default, (uint32_t)deny_listen};
    uint32_t zero = 0;
    return update(b, "settings", &zero, &s, err, errlen);
}

int warden_net_allow4(struct warden_bpf *b, uint32_t addr_be, uint16_t port, char *err, size_t errlen) {
    struct warden_net_key4 k = {addr_be, port};
    uint8_t one = 1;
    return update(b, "allow4", &k, &one, err, errlen);
}

int warden_net_allow6(struct warden_bpf *b, const uint8_t addr[16], uint16_t port, char *err, size_t errlen) {
    struct warden_net_key6 k;
    memset(&k, 0, sizeof k);
    memcpy(k.addr, addr, 16);
    k.port = port;
    uint8_t one = 1;
    return update(b, "allow6", &k, &one, err, errlen);
}

int warden_lsm_configure(struct warden_bpf *b, int fs_strict, int exec_allowlist, int unix_strict, char *err, size_t errlen) {
    struct warden_lsm_settings s = {(uint32_t)fs_strict, (uint32_t)exec_allowlist, (uint32_t)unix_strict};
    uint32_t zero = 0;
    return update(b, "lsm_settings", &zero, &s, err, errlen);
}

int warden_lsm_add_rule(struct warden_bpf *b, int exec, const uint8_t *key, size_t len, uint32_t rights, char *err,
                        size_t errlen) {
    if (len == 0 || len > WARDEN_LPM_DATA) return fail(err, errlen, ENAMETOOLONG, "path rule too long for", exec ? "exec_rules" : "fs_rules");
    struct warden_lpm_key k;
    memset(&k, 0, sizeof k);
    k.prefixlen = (uint32_t)len * 8;
    memcpy(k.data, key, len);
    if (exec) {
        uint8_t one = 1;
        return update(b, "exec_rules", &k, &one, err, errlen);
    }
    struct warden_fs_rule r = {rights};
    return update(b, "fs_rules", &k, &r, err, errlen);
}
