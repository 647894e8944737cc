/* Re-exports the headers that live with the BPF sources: the event record, and the unit
 * classifier the kernel runs (so the host tests run the same code). */
#include "../../../bpf/include/warden/event.h"
#include "../../../bpf/include/warden/classify.h"
