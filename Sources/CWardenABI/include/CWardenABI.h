/* Re-exports the one ABI header that lives with the BPF sources. */
#include "../../../bpf/include/warden/event.h"
