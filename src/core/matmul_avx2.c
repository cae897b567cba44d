#include "core/matmul-impl.h"
const fg_mm_kernels fg_mm_avx2 = {.row_align = 1};
