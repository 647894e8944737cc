/* The BPF loader: libbpf behind a few calls Swift can make. Every failure carries the
 * errno and the program or map it concerns in `err`. */
#ifndef CWARDEN_BPF_H
#define CWARDEN_BPF_H

#include <stddef.h>
#include <stdint.h>

extern const unsigned char warden_bpf_net_object[];
extern const unsigned long warden_bpf_net_object_size;
extern const char warden_bpf_net_object_sha256[];
/* The array above, as a pointer Swift can pass on. */
const void *warden_bpf_net_object_ptr(void);

struct warden_net;

/* Called for each ring-buffer record (a struct warden_event). Return 0 to go on. */
typedef int (*warden_event_fn)(void *ctx, const void *data, size_t size);

/* Opens and loads (verifier included) the network object from memory. NULL on failure,
 * with a message in err and errno set. */
struct warden_net *warden_net_load(const void *object, size_t size, char *err, size_t errlen);
int warden_net_configure(struct warden_net *n, int enforce, int deny_default, char *err, size_t errlen);
int warden_net_allow4(struct warden_net *n, uint32_t addr_be, uint16_t port, char *err, size_t errlen);
int warden_net_allow6(struct warden_net *n, const uint8_t addr[16], uint16_t port, char *err, size_t errlen);
/* Attaches connect4/6 and sendmsg4/6 to the cgroup behind cgroup_fd (that cgroup only). */
int warden_net_attach(struct warden_net *n, int cgroup_fd, char *err, size_t errlen);
/* Delivers pending events to fn; waits up to timeout_ms. Returns the count or -errno. */
int warden_net_poll(struct warden_net *n, int timeout_ms, warden_event_fn fn, void *ctx);
/* Records the ring buffer could not take (counted in the kernel). */
uint64_t warden_net_dropped(struct warden_net *n);
/* Detaches everything and frees the object. */
void warden_net_close(struct warden_net *n);

/* The canary: a process started inside the cgroup connects to 127.0.0.1:port.
 * Returns 1 when the kernel refused with EPERM, 0 when it was not refused, -1 with errno. */
int warden_net_canary(int cgroup_fd, uint16_t port);

/* Routes libbpf's own messages (warnings and errors) to stderr with a prefix. */
void warden_bpf_route_logs(void);

#endif
