/* Map layouts shared by bpf/net.bpf.c and the loader (CWardenBPF). */
#ifndef WARDEN_NET_MAPS_H
#define WARDEN_NET_MAPS_H

struct warden_net_key4 {
    uint32_t addr; /* network byte order, as in struct bpf_sock_addr */
    uint32_t port; /* host byte order */
};

struct warden_net_key6 {
    uint32_t addr[4]; /* network byte order */
    uint32_t port;    /* host byte order */
};

struct warden_net_settings {
    uint32_t enforce;      /* 1: refuse what is not allowed; 0: observe only */
    uint32_t deny_default; /* 1: net.default = "deny" */
    uint32_t deny_listen;  /* 1: net.listen = "deny": no connection reaches a listener of the run */
};

#endif
