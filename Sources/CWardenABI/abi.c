/* Compiling the header here makes its _Static_asserts run on every build. */
#include "CWardenABI.h"
