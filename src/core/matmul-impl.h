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
    uint8_t *xq;         /* prepared activations (layout chosen by the path) */
    size_t xq_stride;    /* per-token layouts: bytes from token t to t + 1 */
    /* set by the x86 row drivers on their own copy, for the tiles they run (see
     * FG_ROW_CHUNKS): the rows of a tile are row_step apart, and the tile prefetches its
     * weights pf_ahead bytes ahead */
    int64_t row_step;
    size_t pf_ahead;
} fg_mm_task;

typedef void (*fg_mm_rows_fn)(const fg_mm_task *t, int64_t r0, int64_t r1);

typedef struct fg_mm_kernels {
    fg_mm_rows_fn rows[FG_DT_COUNT];
    /* Bytes of prepared activations for n tokens (0: the kernel uses float X), and the
     * preparation itself, run on every pool thread (ith of nth) into t->xq. Called only
     * for dtypes with a kernel; cols is a multiple of the block size. */
    size_t (*prep_bytes)(fg_dtype dt, int64_t cols, int n);
    void (*prep)(const fg_mm_task *t, int ith, int nth);
    int row_align;       /* threads get row ranges that are multiples of this */
} fg_mm_kernels;

extern const fg_mm_kernels fg_mm_scalar;
#if defined(FG_ARCH_X86)
extern const fg_mm_kernels fg_mm_avx2;
extern const fg_mm_kernels fg_mm_avx512;      /* matmul_avx512_novnni.c */
extern const fg_mm_kernels fg_mm_avx512vnni;  /* matmul_avx512.c */
extern const fg_mm_kernels fg_mm_avx512amx;   /* matmul_avx512.c: prefill by fg_amx_rows */
#endif
#if defined(FG_ARCH_ARM64)
extern const fg_mm_kernels fg_mm_neon;     /* matmul_neon_nodot.c */
extern const fg_mm_kernels fg_mm_neondot;  /* matmul_neon.c */
#endif

/* Quantized activations, the format every SIMD path uses for quantized weights
 * ("xq"): per token row of `cols` (a multiple of 32) floats,
 *     int8  q[cols]      x[i] ≈ d[i/32] * q[i], round to nearest, |q| <= 127
 *     float d[cols/32]   per block of 32: max|x| / 127 (0 for an all-zero block)
 *     float s[cols/32]   d * (sum of the block's q): the block sum as quantized, used
 *                        for the K-quant mins (and offsets) without touching q again
 * A path may store q in another element order, the one in which it unpacks the weight
 * levels (the AVX-512 path does for Q4_0, Q4_K, Q5_K); d and s stay in block order.
 * The scale is float32 and per 32 elements (finer than llama.cpp's per-256 Q8_K for
 * K-quants), so the only error is the int8 rounding of x: |Δx| <= d/2 per element. */
static inline size_t fg_xq_bytes(int64_t cols) { return (size_t)cols + (size_t)(cols / 32) * 8; }
static inline const int8_t *fg_xq_q(const uint8_t *xq) { return (const int8_t *)xq; }
static inline const float *fg_xq_d(const uint8_t *xq, int64_t cols) { return (const float *)(xq + cols); }
static inline const float *fg_xq_s(const uint8_t *xq, int64_t cols) { return (const float *)(xq + cols) + cols / 32; }
static inline bool fg_dtype_is_quant(fg_dtype dt) { return dt >= FG_DT_Q8_0 && dt < FG_DT_COUNT; }

/* Software prefetch distance of the x86 row tiles, in bytes ahead of the weights being
 * read: two row tiles (the R rows of a tile stream side by side, so the same column of
 * the tile after next is 2R rows further), but at least FG_PF_MIN_BYTES, so that short
 * rows are asked for as early in time as long ones. A 4-row tile of Q4_0 at 896 columns
 * is 2 KB, read in ~80 ns at 25 GB/s per core: two tiles ahead left ~160 ns to a memory
 * latency that is longer under load; 8 KB gives ~300 ns. Measured on 0.5B Q4_K_M and
 * Q8_0 decode (by whole runs, alternated): 2-5 % faster per token; 16 and 32 KB gained
 * less or lost. */
#define FG_PF_MIN_BYTES 8192
static inline size_t fg_pf_ahead(int R, size_t row_stride)
{
    size_t d = (size_t)2 * (size_t)R * row_stride;
    return d < FG_PF_MIN_BYTES ? FG_PF_MIN_BYTES : d;
}

/* Row chunks of the x86 row drivers. The rows a driver is given are walked in chunks of
 * about FG_ROW_CHUNK_BYTES of weights, and a 4-row tile takes one row from each quarter
 * of its chunk (rows c0 + i, c0 + i + q, c0 + i + 2q, c0 + i + 3q for a chunk of 4q
 * rows): four streams that each move forward through memory, where four adjacent rows
 * would read one window back and forth (a row of 1536 Q4_K columns is 864 bytes). Each
 * stream prefetches the same place in a later chunk (fg_chunk_pf), which is where that
 * stream goes next. From RAM, 2 threads, a Xeon VM (same-process alternation): 8960 x
 * 1536 decode 20.7-26.3 -> 25.2-33.0 GB/s for Q4_K, 23.7-25.7 -> 29.5-31.2 for Q6_K,
 * 27.8-28.0 -> 31.3 for Q8_0 (the read probe: 23-31), while adjacent rows with the
 * prefetch at 32 KB gained nothing. Rows per chunk: a multiple of 4, at least 4. */
#define FG_ROW_CHUNK_BYTES ((size_t)32 << 10)
static inline int64_t fg_row_chunk(size_t row_stride)
{
    int64_t c = (int64_t)(FG_ROW_CHUNK_BYTES / (row_stride ? row_stride : 1));
    c = (c + 3) / 4 * 4;
    return c < 4 ? 4 : c;
}
/* A chunk of `rows` rows prefetches whole chunks ahead: the first multiple of its size
 * that reaches fg_pf_ahead(4, row_stride). */
static inline size_t fg_chunk_pf(int64_t rows, size_t row_stride)
{
    size_t cb = (size_t)rows * row_stride, want = fg_pf_ahead(4, row_stride);
    return cb ? (want + cb - 1) / cb * cb : want;
}

/* The chunk walk of the x86 row drivers over rows [r0, r1) of task tk: EACH(X, g, row, R)
 * for every 4-row tile of every chunk (R = 4: rows row + k * g->row_step) and for each
 * row the chunk leaves over (R = 1), g being a copy of tk with row_step and pf_ahead set
 * for those tiles. */
#define FG_ROW_CHUNKS(tk, r0, r1, EACH, X)                                                 \
    do {                                                                                   \
        const size_t stride_ = (tk)->w->row_stride;                                        \
        const int64_t chunk_ = fg_row_chunk(stride_);                                      \
        fg_mm_task g_ = *(tk);                                                             \
        for (int64_t c0_ = (r0); c0_ < (r1); c0_ += chunk_) {                              \
            const int64_t c1_ = c0_ + chunk_ < (r1) ? c0_ + chunk_ : (r1), q_ = (c1_ - c0_) / 4; \
            g_.row_step = q_;                                                              \
            g_.pf_ahead = fg_chunk_pf(c1_ - c0_, stride_);                                 \
            for (int64_t i_ = 0; i_ < q_; i_++) EACH(X, (&g_), c0_ + i_, 4);               \
            g_.row_step = 1;                                                               \
            g_.pf_ahead = fg_pf_ahead(1, stride_);                                         \
            for (int64_t r_ = c0_ + 4 * q_; r_ < c1_; r_++) EACH(X, (&g_), r_, 1);         \
        }                                                                                  \
    } while (0)

/* Per-token xq rows in the work buffer are 64-byte aligned. */
#define FG_MM_ALIGN 64
static inline size_t fg_xq_stride(int64_t cols) { return (fg_xq_bytes(cols) + FG_MM_ALIGN - 1) / FG_MM_ALIGN * FG_MM_ALIGN; }
static inline size_t fg_mm_round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

#if defined(FG_ARCH_X86)
/* AVX-512 prefill for quantized weights with tokens in the vector lanes
 * (matmul_tok_avx512.c), used by fg_mm_avx512vnni when n >= FG_TOK_MIN_N. */
#define FG_TOK_MIN_N 12
size_t fg_tok_avx512_bytes(int64_t cols, int n);
void fg_tok_avx512_prep(const fg_mm_task *t, int ith, int nth);
void fg_tok_avx512_rows(const fg_mm_task *t, int64_t r0, int64_t r1);
/* The same products on AMX tiles in BF16 (matmul_amx.c), used by fg_mm_avx512amx when
 * n >= FG_AMX_MIN_N, with their own activation layout (fg_amx_bytes, fg_amx_prep). */
#define FG_AMX_MIN_N 32
size_t fg_amx_bytes(fg_dtype dt, int64_t cols, int n);
void fg_amx_prep(const fg_mm_task *t, int ith, int nth);
void fg_amx_rows(const fg_mm_task *t, int64_t r0, int64_t r1);
#endif

#endif
