/* Internal interface between the matmul dispatcher (matmul.c) and the per-ISA kernel
 * files (matmul_scalar in matmul.c, matmul_avx2.c, matmul_avx512.c, matmul_neon.c).
 *
 * A path provides, for each weight dtype it accelerates:
 *   - prep_bytes/prep: how it wants the activations X (one token row at a time):
 *     quantized to int8 blocks with scales, laid out however its kernel likes; 0 bytes
 *     means the kernel reads the float32 X directly;
 *   - rows: computes Y[t][r] for every token t and rows r in [r0, r1).
 * Dtypes a path leaves NULL fall back to the scalar kernel (float activations). */
#ifndef FG_MATMUL_IMPL_H
#define FG_MATMUL_IMPL_H

#include "core/core.h"

typedef struct fg_mm_task {
    const fg_mat *w;
    const float *x;      /* [n x cols] float32 */
    int n;
    float *y;            /* [n x rows] */
    const uint8_t *xq;   /* prepared activations: token t at xq + t * xq_stride */
    size_t xq_stride;
} fg_mm_task;

typedef void (*fg_mm_rows_fn)(const fg_mm_task *t, int64_t r0, int64_t r1);

typedef struct fg_mm_kernels {
    fg_mm_rows_fn rows[FG_DT_COUNT];
    /* Bytes of prepared activations per token (0: uses float X). Called only for dtypes
     * with a kernel; cols is a multiple of the block size. */
    size_t (*prep_bytes)(fg_dtype dt, int64_t cols);
    void (*prep)(fg_dtype dt, const float *x, int64_t cols, uint8_t *dst);
    int row_align;       /* threads get row ranges that are multiples of this */
} fg_mm_kernels;

extern const fg_mm_kernels fg_mm_scalar;
#if defined(FG_ARCH_X86)
extern const fg_mm_kernels fg_mm_avx2;
extern const fg_mm_kernels fg_mm_avx512;
#endif
#if defined(FG_ARCH_ARM64)
extern const fg_mm_kernels fg_mm_neon;
#endif

/* Prepared activations are 64-byte aligned per token. */
#define FG_MM_ALIGN 64
static inline size_t fg_mm_round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

#endif
