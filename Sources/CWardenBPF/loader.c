/* libbpf loader for the network layer. */
#include "CWardenBPF.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../bpf/include/warden/net_maps.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

const void *warden_bpf_net_object_ptr(void) { return warden_bpf_net_object; }

struct warden_net {
    struct bpf_object *obj;
    struct bpf_link *links[4];
    struct ring_buffer *rb;
    warden_event_fn fn;
    void *ctx;
};

static const char *const programs[4] = {"warden_connect4", "warden_connect6", "warden_sendmsg4", "warden_sendmsg6"};

static int fail(char *err, size_t errlen, int e, const char *what, const char *name) {
    snprintf(err, errlen, "%s %s: %s (errno %d)", what, name ? name : "", strerror(e), e);
    errno = e;
    return -1;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    fputs("warden: libbpf: ", stderr);
    return vfprintf(stderr, fmt, args);
}

void warden_bpf_route_logs(void) { libbpf_set_print(libbpf_log); }

static int on_record(void *ctx, void *data, size_t size) {
    struct warden_net *n = ctx;
    return n->fn ? n->fn(n->ctx, data, size) : 0;
}

struct warden_net *warden_net_load(const void *object, size_t size, char *err, size_t errlen) {
    struct warden_net *n = calloc(1, sizeof *n);
    if (!n) {
        fail(err, errlen, ENOMEM, "allocate", "loader");
        return NULL;
    }
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "warden_net");
    n->obj = bpf_object__open_mem(object, size, &opts);
    if (!n->obj) {
        int e = errno;
        free(n);
        fail(err, errlen, e, "open BPF object", "net.bpf.o");
        return NULL;
    }
    if (bpf_object__load(n->obj)) {
        int e = errno;
        bpf_object__close(n->obj);
        free(n);
        fail(err, errlen, e, "load (verifier) BPF object", "net.bpf.o");
        return NULL;
    }
    int rbfd = bpf_object__find_map_fd_by_name(n->obj, "events");
    n->rb = ring_buffer__new(rbfd, on_record, n, NULL);
    if (!n->rb) {
        int e = errno;
        warden_net_close(n);
        fail(err, errlen, e, "open ring buffer", "events");
        return NULL;
    }
    return n;
}

int warden_net_configure(struct warden_net *n, int enforce, int deny_default, char *err, size_t errlen) {
    struct warden_net_settings s = {(uint32_t)enforce, (uint32_t)deny_default};
    uint32_t zero = 0;
    int fd = bpf_object__find_map_fd_by_name(n->obj, "settings");
    if (fd < 0 || bpf_map_update_elem(fd, &zero, &s, BPF_ANY)) return fail(err, errlen, errno, "update map", "settings");
    return 0;
}

int warden_net_allow4(struct warden_net *n, uint32_t addr_be, uint16_t port, char *err, size_t errlen) {
    struct warden_net_key4 k = {addr_be, port};
    uint8_t one = 1;
    int fd = bpf_object__find_map_fd_by_name(n->obj, "allow4");
    if (fd < 0 || bpf_map_update_elem(fd, &k, &one, BPF_ANY)) return fail(err, errlen, errno, "update map", "allow4");
    return 0;
}

int warden_net_allow6(struct warden_net *n, const uint8_t addr[16], uint16_t port, char *err, size_t errlen) {
    struct warden_net_key6 k;
    memset(&k, 0, sizeof k);
    memcpy(k.addr, addr, 16);
    k.port = port;
    uint8_t one = 1;
    int fd = bpf_object__find_map_fd_by_name(n->obj, "allow6");
    if (fd < 0 || bpf_map_update_elem(fd, &k, &one, BPF_ANY)) return fail(err, errlen, errno, "update map", "allow6");
    return 0;
}

int warden_net_attach(struct warden_net *n, int cgroup_fd, char *err, size_t errlen) {
    for (int i = 0; i < 4; i++) {
        struct bpf_program *p = bpf_object__find_program_by_name(n->obj, programs[i]);
        if (!p) return fail(err, errlen, ENOENT, "find program", programs[i]);
        n->links[i] = bpf_program__attach_cgroup(p, cgroup_fd);
        if (!n->links[i]) return fail(err, errlen, errno, "attach to the run's cgroup", programs[i]);
    }
    return 0;
}

int warden_net_poll(struct warden_net *n, int timeout_ms, warden_event_fn fn, void *ctx) {
    n->fn = fn;
    n->ctx = ctx;
    int r = ring_buffer__poll(n->rb, timeout_ms);
    return r == -EINTR ? 0 : r;
}

uint64_t warden_net_dropped(struct warden_net *n) {
    uint32_t zero = 0;
    uint64_t v = 0;
    int fd = bpf_object__find_map_fd_by_name(n->obj, "drops");
    if (fd >= 0) bpf_map_lookup_elem(fd, &zero, &v);
    return v;
}

void warden_net_close(struct warden_net *n) {
    if (!n) return;
    if (n->rb) ring_buffer__free(n->rb);
    for (int i = 0; i < 4; i++)
        if (n->links[i]) bpf_link__destroy(n->links[i]);
    if (n->obj) bpf_object__close(n->obj);
    free(n);
}

int warden_net_canary(int cgroup_fd, uint16_t port) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) return -1;
    if (pid == 0) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) _exit(12);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int r = connect(s, (struct sockaddr *)&a, sizeof a);
        _exit(r == 0 ? 10 : errno == EPERM ? 11 : 13);
    }
    int status;
    while (waitpid((pid_t)pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 11) return 1;
    if (code == 10 || code == 13) return 0; /* connected, or refused by the peer: not by us */
    errno = EPROTO;
    return -1;
}
