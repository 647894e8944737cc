/* Maps and helpers the BPF objects of one run share (the loader makes later objects use
 * the first one's maps). Each object asks for the parts it uses before including:
 *   WARDEN_WANT_RING        events (ring buffer), drops, count_drop(), submit()
 *   WARDEN_WANT_UNITS       units (tgid → struct warden_unit_state, from classify.h)
 *   WARDEN_WANT_RUN_CGROUP  run_cgroup (index 0: the run's cgroup) and in_run() */
#ifndef WARDEN_MAPS_BPF_H
#define WARDEN_MAPS_BPF_H

#ifdef WARDEN_WANT_RING
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4 * 1024 * 1024); /* the loader sizes it (--ring-buffer-mib) */
} events SEC(".maps");

/* Records the ring buffer could not take. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drop(void) {
    __u32 zero = 0;
    __u64 *n = bpf_map_lookup_elem(&drops, &zero);
    if (n) __sync_fetch_and_add(n, 1);
}

/* Wakes the agent only once a batch is waiting (it also polls every few milliseconds):
 * a wakeup per event costs the build more than the event itself. */
#define WARDEN_WAKEUP_BYTES (256 * 1024)
static __always_inline void submit(struct warden_event *e) {
    __u64 queued = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
    bpf_ringbuf_submit(e, queued >= WARDEN_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}
#endif

#ifdef WARDEN_WANT_UNITS
/* Written by trace.bpf.c at exec and fork; read by every object to label its events. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u32); /* tgid */
    __type(value, struct warden_unit_state);
} units SEC(".maps");
#endif

#if defined(WARDEN_WANT_RING) && defined(WARDEN_WANT_UNITS)
/* Reserves an event and fills what every object's events share; NULL (and counted) when
 * the ring buffer is full. */
static __always_inline struct warden_event *reserve_event(__u8 action, __u8 verdict) {
    struct warden_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_drop();
        return 0;
    }
    __u64 id = bpf_get_current_pid_tgid();
    e->pid = (__u32)id;
    e->tgid = id >> 32;
    e->time_ns = bpf_ktime_get_ns();
    __u32 tgid = e->tgid;
    struct warden_unit_state *u = bpf_map_lookup_elem(&units, &tgid);
    e->unit = u ? u->unit : WARDEN_UNIT_OTHER;
    e->action = action;
    e->verdict = verdict;
    e->reserved = 0;
    e->container_id = bpf_get_current_cgroup_id();
    e->caps = 0;
    e->needed_perm[0] = 0;
    e->result = 0;
    e->access = 0;
    e->origin = u ? u->origin : 0;
    e->reserved2 = 0;
    e->repeat_key = 0;
    return e;
}
#endif

#ifdef WARDEN_WANT_RUN_CGROUP
struct {
    __uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} run_cgroup SEC(".maps");

/* The current task is in the run's cgroup or below it. */
static __always_inline int in_run(void) { return bpf_current_task_under_cgroup(&run_cgroup, 0) == 1; }
#endif

#endif
