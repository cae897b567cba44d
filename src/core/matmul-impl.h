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

/* Quantized activations, the format every SIMD path uses for quantized weights
 * ("xq"): per token row of `cols` (a multiple of 32) floats,
 *     int8  q[cols]      x[i] ≈ d[i/32] * q[i], round to nearest, |q| <= 127
 *     float d[cols/32]   per block of 32: max|x| / 127 (0 for an all-zero block)
 *     float s[cols/32]   d * (sum of the block's q): the block sum as quantized, used
 *                        for the K-quant mins (and offsets) without touching q again
 * The scale is float32 and per 32 elements (finer than llama.cpp's per-256 Q8_K for
 * K-quants), so the only error is the int8 rounding of x: |Δx| <= d/2 per element. */
static inline size_t fg_xq_bytes(int64_t cols) { return (size_t)cols + (size_t)(cols / 32) * 8; }
static inline const int8_t *fg_xq_q(const uint8_t *xq) { return (const int8_t *)xq; }
static inline const float *fg_xq_d(const uint8_t *xq, int64_t cols) { return (const float *)(xq + cols); }
static inline const float *fg_xq_s(const uint8_t *xq, int64_t cols) { return (const float *)(xq + cols) + cols / 32; }
static inline bool fg_dtype_is_quant(fg_dtype dt) { return dt >= FG_DT_Q8_0 && dt < FG_DT_COUNT; }
/* Portable (scalar) xq conversion of one row, for paths without a vector version. */
void fg_xq_prep_ref(const float *x, int64_t cols, uint8_t *dst);

/* Prepared activations are 64-byte aligned per token. */
#define FG_MM_ALIGN 64
static inline size_t fg_mm_round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

#endif
