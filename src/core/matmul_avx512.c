#include "core/matmul-impl.h"
const fg_mm_kernels fg_mm_avx512 = {.row_align = 1};
