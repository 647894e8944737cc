/* The BPF loader: libbpf behind a few calls Swift can make. Every failure carries the
 * errno and the program or map it concerns in `err`.
 *
 * Return convention (libbpf's own): a function that can fail returns a negative errno
 * and never leaves errno for its caller to read; success is 0 or a documented
 * non-negative value. Pointers are non-null unless marked _Nullable (clang's
 * assume_nonnull below; pointers to pointers say both levels, which it leaves alone). */
#ifndef CWARDEN_BPF_H
#define CWARDEN_BPF_H

#include <stddef.h>
#include <stdint.h>

#pragma clang assume_nonnull begin

/* The embedded objects (prebuilt/<kind>.bpf.o, through #embed in objects.c). */
extern const unsigned char warden_bpf_net_object[];
extern const unsigned long warden_bpf_net_object_size;
extern const unsigned char warden_bpf_trace_object[];
extern const unsigned long warden_bpf_trace_object_size;
extern const unsigned char warden_bpf_lsm_object[];
extern const unsigned long warden_bpf_lsm_object_size;
/* The arrays above, as pointers Swift can pass on. */
const void *warden_bpf_net_object_ptr(void);
const void *warden_bpf_trace_object_ptr(void);
const void *warden_bpf_lsm_object_ptr(void);

struct warden_bpf;

/* Called for each ring-buffer record (a struct warden_event) with the `ctx` given to
 * warden_bpf_poll. Return 0 to go on. */
typedef int (*warden_event_fn)(void *_Nullable ctx, const void *data, size_t size);

/* Opens and loads (verifier included) an object from memory into *out. `ring_bytes` (a
 * power of two, multiple of the page size; 0 keeps the object's) sizes its `events` ring
 * buffer. With `share`, the object uses share's `events`, `drops` and `units` maps instead
 * of its own, so one ring buffer carries every layer's events. 0, or -errno with a message
 * in err and *out NULL. `object` may be NULL only with `size` 0 (refused, -EINVAL). */
int warden_bpf_load(const void *_Nullable object, size_t size, const char *name, uint32_t ring_bytes,
                    struct warden_bpf *_Nullable share, struct warden_bpf *_Nullable *_Nonnull out, char *err, size_t errlen);
/* Attaches every program: cgroup programs to the cgroup behind cgroup_fd (that cgroup
 * only); tracing programs system-wide, limited to that cgroup through the object's
 * `run_cgroup` map, which is filled first. 0 or -errno. */
int warden_bpf_attach(struct warden_bpf *b, int cgroup_fd, char *err, size_t errlen);
/* Delivers pending events to fn (NULL: drops them); waits up to timeout_ms. Returns the
 * count or -errno. */
int warden_bpf_poll(struct warden_bpf *b, int timeout_ms, warden_event_fn _Nullable fn, void *_Nullable ctx);
/* Ends a warden_bpf_poll's wait (from another thread) and makes every later one return at
 * once: for the end of a run. 0 or -errno. */
int warden_bpf_wake(struct warden_bpf *b);
/* Records the ring buffer could not take (counted in the kernel). */
uint64_t warden_bpf_dropped(struct warden_bpf *b);
/* Copies element `key` of array map `map` into `value` (the map's value size). 0 or -errno. */
int warden_bpf_read(struct warden_bpf *b, const char *map, uint32_t key, void *value);
/* Index 0 of a one-slot u64 array map of the object (0 when it has none). */
uint64_t warden_bpf_counter(struct warden_bpf *b, const char *map);
/* The same for a per-CPU array map: index 0 summed over the CPUs. */
uint64_t warden_bpf_percpu_counter(struct warden_bpf *b, const char *map);
/* The descriptor of map `map` (owned by the object), or -ENOENT. */
int warden_bpf_map_fd(struct warden_bpf *b, const char *map);
/* Enters `key` in the trace object's `seen` map (u64 → u8). 0 or -errno. */
int warden_bpf_mark_seen(int map_fd, uint64_t key);
/* Trace object: the run's system calls by number, summed over the CPUs, into out[slots].
 * The number of slots filled (the map's size, at most `slots`), or -errno. */
int warden_bpf_syscall_counts(struct warden_bpf *b, uint64_t *out, uint32_t slots);
/* Detaches everything and frees the object (NULL: nothing to do). */
void warden_bpf_close(struct warden_bpf *_Nullable b);

/* The network object's settings and allowlist. 0 or -errno, as the calls below. */
int warden_net_configure(struct warden_bpf *b, int enforce, int deny_default, int deny_listen, char *err, size_t errlen);
int warden_net_allow4(struct warden_bpf *b, uint32_t addr_be, uint16_t port, char *err, size_t errlen);
int warden_net_allow6(struct warden_bpf *b, const uint8_t addr[_Nonnull 16], uint16_t port, char *err, size_t errlen);

/* The tier-1 object's settings and path rules (see bpf/include/warden/lsm_maps.h: the key
 * is the path with a trailing '/', rights already accumulated from the rules above). */
int warden_lsm_configure(struct warden_bpf *b, int fs_strict, int exec_allowlist, int unix_strict, char *err, size_t errlen);
/* `key` may be NULL only with `len` 0 (refused, -ENAMETOOLONG). */
int warden_lsm_add_rule(struct warden_bpf *b, int exec, const uint8_t *_Nullable key, size_t len, uint32_t rights,
                        char *err, size_t errlen);

/* Routes libbpf's own messages (warnings and errors) to stderr with a prefix. */
void warden_bpf_route_logs(void);
/* Silences them while a load whose failure is expected and reported anyway is tried. */
void warden_bpf_quiet_logs(int quiet);

#pragma clang assume_nonnull end

#endif
