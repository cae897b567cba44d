/* The AVX-512 kernels of matmul_avx512.c for CPUs without VNNI (Skylake-SP/X and the
 * like): the same source, compiled without -mavx512vnni, exporting fg_mm_avx512 (path
 * "avx512"). What differs is described at DPBUSD in matmul_avx512.c. */
#define FG_AVX512_NO_VNNI 1
#include "matmul_avx512.c"
