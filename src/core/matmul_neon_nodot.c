/* The NEON kernels of matmul_neon.c for ARMv8-A without the dot-product extension
 * (Cortex-A53/A72: Raspberry Pi 3 and 4): the same source, compiled without +dotprod,
 * exporting fg_mm_neon (path "neon"). See DOT16 in matmul_neon.c. */
#define FG_NEON_NO_DOTPROD 1
#include "matmul_neon.c"
