// SPDX-License-Identifier: GPL-2.0
/* Network layer: cgroup/connect4, connect6, sendmsg4, sendmsg6 attached to the run's
 * cgroup only. Checks the destination against allow.net.hosts (exact address and port),
 * reports every decision through the ring buffer, and in enforce mode refuses what is
 * not allowed (the caller sees EPERM). The unit comes from the table trace.bpf.c keeps.
 * Under net.listen = "deny", cgroup_skb/ingress drops what arrives for a listening TCP
 * socket of the run, so a listener (caught by the trace object) never gets a connection. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

typedef __u8 uint8_t;
typedef __u32 uint32_t;
typedef __s32 int32_t;
typedef __u64 uint64_t;
#include "warden/event.h"
#include "warden/net_maps.h"
#include "warden/classify.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, struct warden_net_key4);
    __type(value, __u8);
} allow4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, struct warden_net_key6);
    __type(value, __u8);
} allow6 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct warden_net_settings);
} settings SEC(".maps");

#define WARDEN_WANT_RING
#define WARDEN_WANT_UNITS
#include "warden/maps.bpf.h"

static __always_inline struct warden_net_settings *get_settings(void) {
    __u32 zero = 0;
    return bpf_map_lookup_elem(&settings, &zero);
}

static __always_inline struct warden_event *start_event(__u8 verdict) {
    return reserve_event(WARDEN_ACTION_CONNECT, verdict);
}

static __always_inline int decide4(struct bpf_sock_addr *ctx) {
    struct warden_net_settings *s = get_settings();
    if (!s) return 1;
    struct warden_net_key4 k = {.addr = ctx->user_ip4, .port = bpf_ntohs((__u16)ctx->user_port)};
    int allowed = !s->deny_default || bpf_map_lookup_elem(&allow4, &k) != 0;
    struct warden_event *e = start_event(allowed ? WARDEN_VERDICT_ALLOWED : WARDEN_VERDICT_DENIED);
    if (e) {
        __u64 args[2] = {(__u64)&k.addr, k.port};
        bpf_snprintf(e->path_or_addr, sizeof(e->path_or_addr), "%pI4:%u", args, sizeof(args));
        bpf_snprintf(e->needed_perm, sizeof(e->needed_perm), "allow.net.hosts=%pI4:%u", args, sizeof(args));
        submit(e);
    }
    return allowed || !s->enforce;
}

static __always_inline int decide6(struct bpf_sock_addr *ctx) {
    struct warden_net_settings *s = get_settings();
    if (!s) return 1;
    struct warden_net_key6 k = {};
    k.addr[0] = ctx->user_ip6[0];
    k.addr[1] = ctx->user_ip6[1];
    k.addr[2] = ctx->user_ip6[2];
    k.addr[3] = ctx->user_ip6[3];
    k.port = bpf_ntohs((__u16)ctx->user_port);
    int allowed = !s->deny_default || bpf_map_lookup_elem(&allow6, &k) != 0;
    struct warden_event *e = start_event(allowed ? WARDEN_VERDICT_ALLOWED : WARDEN_VERDICT_DENIED);
    if (e) {
        __u64 args[2] = {(__u64)&k.addr, k.port};
        bpf_snprintf(e->path_or_addr, sizeof(e->path_or_addr), "[%pI6]:%u", args, sizeof(args));
        bpf_snprintf(e->needed_perm, sizeof(e->needed_perm), "allow.net.hosts=[%pI6]:%u", args, sizeof(args));
        submit(e);
    }
    return allowed || !s->enforce;
}

/* Connection requests dropped at a listener of the run (SYN retries included). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} inbound_dropped SEC(".maps");

SEC("cgroup_skb/ingress")
int warden_ingress(struct __sk_buff *skb) {
    struct warden_net_settings *s = get_settings();
    if (!s || !s->deny_listen) return 1;
    struct bpf_sock *sk = skb->sk;
    if (!sk) return 1;
    sk = bpf_sk_fullsock(sk);
    /* A SYN (or the ACK completing a handshake) is filtered on the listener itself;
     * established connections are filtered on their own sockets, which no listener of
     * the run ever hands out. */
    if (!sk || sk->protocol != IPPROTO_TCP || sk->state != BPF_TCP_LISTEN) return 1;
    __u32 zero = 0;
    __u64 *n = bpf_map_lookup_elem(&inbound_dropped, &zero);
    if (n) __sync_fetch_and_add(n, 1);
    return s->enforce ? 0 : 1;
}

SEC("cgroup/connect4")
int warden_connect4(struct bpf_sock_addr *ctx) { return decide4(ctx); }

SEC("cgroup/connect6")
int warden_connect6(struct bpf_sock_addr *ctx) { return decide6(ctx); }

SEC("cgroup/sendmsg4")
int warden_sendmsg4(struct bpf_sock_addr *ctx) { return decide4(ctx); }

SEC("cgroup/sendmsg6")
int warden_sendmsg6(struct bpf_sock_addr *ctx) { return decide6(ctx); }

char LICENSE[] SEC("license") = "GPL";
