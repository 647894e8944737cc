/* The BPF objects warden loads, embedded from prebuilt/ at compile time (scripts/build-bpf.sh
 * writes them there; its --check proves they are the sources' build). #embed keeps the
 * bytes out of the source tree: the objects are committed once, as files. */
#include "CWardenBPF.h"

#pragma clang diagnostic ignored "-Wc23-extensions"

const unsigned char warden_bpf_net_object[] = {
#embed "../../prebuilt/net.bpf.o"
};
const unsigned long warden_bpf_net_object_size = sizeof warden_bpf_net_object;

const unsigned char warden_bpf_trace_object[] = {
#embed "../../prebuilt/trace.bpf.o"
};
const unsigned long warden_bpf_trace_object_size = sizeof warden_bpf_trace_object;

const unsigned char warden_bpf_lsm_object[] = {
#embed "../../prebuilt/lsm.bpf.o"
};
const unsigned long warden_bpf_lsm_object_size = sizeof warden_bpf_lsm_object;
