// OpenBLAS C interface (libopenblas-dev): cblas_sgemm, and openblas_set_num_threads /
// openblas_get_corename from the same header.
#include <cblas.h>
