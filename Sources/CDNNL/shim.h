// oneDNN's C API (libdnnl-dev 2.6): matmul and reorder primitives, memory descriptors, and the
// CPU ISA query that tells whether bf16 instructions are there. Debian ships no pkg-config file.
#include <oneapi/dnnl/dnnl.h>
