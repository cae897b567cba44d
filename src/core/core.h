/* core: dtypes and block formats, weight-matrix views, matmul kernels with runtime
 * dispatch, the thread pool, float16/bfloat16 conversion, errors and logging. */
#ifndef FG_CORE_H
#define FG_CORE_H

#include "core/status.h"

/* ---- dtypes ---------------------------------------------------------------------
 * Weight types a tensor may have. Quantized types store blocks of `block_elems`
 * elements in `block_bytes` bytes; a row of n elements (n a multiple of block_elems)
 * takes n / block_elems * block_bytes bytes. Layouts are documented in quant.c. */
typedef enum fg_dtype {
    FG_DT_F32 = 0,
    FG_DT_F16,
    FG_DT_BF16,
    FG_DT_Q8_0,
    FG_DT_Q4_0,
    FG_DT_Q4_K,
    FG_DT_Q5_K,
    FG_DT_Q6_K,
    FG_DT_COUNT,
    FG_DT_INVALID = -1,
} fg_dtype;

typedef struct fg_dtype_info {
    const char *name;      /* "f32", "q4_k", ... */
    int block_elems;       /* 1 for float types */
    int block_bytes;       /* bytes per block */
    uint32_t gguf_type;    /* the ggml type id used in GGUF tensor infos */
} fg_dtype_info;

const fg_dtype_info *fg_dtype_get(fg_dtype dt);          /* NULL when out of range */
const char *fg_dtype_name(fg_dtype dt);                  /* "?" when out of range */
fg_dtype fg_dtype_from_gguf(uint32_t gguf_type);         /* FG_DT_INVALID if unknown */
fg_dtype fg_dtype_from_name(const char *name);           /* case-insensitive; FG_DT_INVALID */
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
size_t fg_row_bytes(fg_dtype dt, int64_t n);

/* ---- scalar conversions ---------------------------------------------------------- */
float fg_f16_to_f32(uint16_t h);
uint16_t fg_f32_to_f16(float f);     /* round to nearest even, IEEE half */
float fg_bf16_to_f32(uint16_t h);
uint16_t fg_f32_to_bf16(float f);    /* round to nearest even; NaN stays NaN */

/* Row conversion to/from float32 for every dtype. n must be a multiple of the block size.
 * fg_quantize_row is the reference quantizer (used by `frugal quantize` and on-load
 * conversion); for Q8_0 it is exactly d = max|x|/127, q = round(x/d). */
void fg_dequant_row(fg_dtype dt, const void *src, float *dst, int64_t n);
void fg_quantize_row(fg_dtype dt, const float *src, void *dst, int64_t n);

/* ---- weight matrix view -----------------------------------------------------------
 * A [rows x cols] matrix stored row-major in `dtype`: row r starts at
 * data + r * row_stride (row_stride >= fg_row_bytes(dtype, cols)). Usually a view into a
 * read-only file mapping. */
typedef struct fg_mat {
    fg_dtype dtype;
    int64_t rows, cols;
    size_t row_stride;
    const void *data;
} fg_mat;

/* ---- thread pool ------------------------------------------------------------------
 * fg_pool_run runs fn(arg, ith, nth) on every thread (the caller is thread 0) and
 * returns when all have finished. Workers spin briefly then sleep between jobs. */
typedef struct fg_pool fg_pool;
typedef void (*fg_task_fn)(void *arg, int ith, int nth);
fg_status fg_pool_create(int n_threads, fg_pool **out);
void fg_pool_free(fg_pool *pool);
int fg_pool_size(const fg_pool *pool);
void fg_pool_run(fg_pool *pool, fg_task_fn fn, void *arg);
/* Background prefetch, per thread: a thread that will soon stream a range of bytes (its
 * share of the next matrices) queues it, and the pool's waits then prefetch it (into
 * L2) a little at a time, so that the memory bus keeps working while the thread has
 * nothing of its own to read. fg_prefetch_queue adds a
 * range (at most FG_PREFETCH_RANGES of them and FG_PREFETCH_MAX bytes in all; the rest
 * is dropped); fg_prefetch_step issues up to `bytes` of it and returns false when
 * nothing is left. */
#define FG_PREFETCH_RANGES 4
#define FG_PREFETCH_MAX ((size_t)512 << 10)
void fg_prefetch_clear(void);
void fg_prefetch_queue(const void *p, size_t len);
bool fg_prefetch_step(size_t bytes);
/* Physical cores of this machine (falls back to online CPUs). */
int fg_physical_cores(void);

/* ---- kernels ----------------------------------------------------------------------
 * Y = X · Wᵀ: X is [n x w->cols] float32 (row i at x + i*w->cols), Y is [n x w->rows]
 * float32 (row i at y + i*w->rows). Rows of W are split over the pool's threads.
 * `work` is scratch of at least fg_matmul_work_size(w->dtype, w->cols, n, threads) bytes
 * (used to hold X converted/quantized for the weight type; for a few tokens on several
 * threads, once per thread); it may be NULL when that is 0. A buffer sized for n tokens
 * and a pool of `threads` serves any call with fewer tokens on that pool or a smaller one
 * (the size grows with both).
 * Without it (NULL) quantized weights take the exact scalar path (slow). Invalid shapes
 * (cols not a multiple of the block, row_stride too small) fill Y with NaN. */
size_t fg_matmul_work_size(fg_dtype dt, int64_t cols, int n, int threads);
void fg_matmul(const fg_mat *w, const float *x, int n, float *y, fg_pool *pool, void *work);
/* Y_i = X · W_iᵀ for nm matrices applied to the same X (attention's q, k, v; the
 * feed-forward's gate and up): with one column count (and at most FG_MM_GROUP of them;
 * of one dtype, or of several for up to 4 tokens), X is prepared once per dtype and the
 * rows of all of them are split over the threads in one hand-off to the pool; otherwise
 * one fg_matmul each. `work`: the largest fg_matmul_work_size of the matrices. */
#define FG_MM_GROUP 4
void fg_matmul_group(int nm, const fg_mat *const w[], const float *x, int n, float *const y[], fg_pool *pool,
                     void *work);
/* The same, naming the matrices the caller multiplies next (nn of them, a group as
 * above): each thread, done with its rows, queues its share of them (as a call on them
 * will split it) for background prefetch (fg_prefetch_queue) while it waits. */
void fg_matmul_group_then(int nm, const fg_mat *const w[], const float *x, int n, float *const y[], fg_pool *pool,
                          void *work, int nn, const fg_mat *const next[]);
/* A gated feed-forward's first half: y_gate = silu(X · gateᵀ) * (X · upᵀ), y_up left
 * holding X · upᵀ. gate and up have the same rows. In a batch each thread combines the
 * rows it computed of both (no pass of its own on the serial path); in decode (shared
 * tiles, up to 4 tokens) the two stream as one range and the calling thread combines
 * them after the job. next as above. */
void fg_matmul_glu_then(const fg_mat *gate, const fg_mat *up, const float *x, int n, float *y_gate, float *y_up,
                        fg_pool *pool, void *work, int nn, const fg_mat *const next[]);

/* Instruction-set paths. The best one present is chosen at first use; FG_ISA=scalar|
 * avx2|avx512|avx512vnni|avx512amx|neon|neondot in the environment, or fg_isa_force(),
 * forces one (tests use this to check every path). fg_isa_force returns
 * FG_ERR_UNSUPPORTED if the CPU lacks it. avx512 needs AVX-512 F, BW, VL, DQ; avx512vnni
 * also VNNI; avx512amx also AVX512-BF16, AMX-TILE and AMX-BF16 with the kernel's
 * permission to use the tile state (Linux 5.16+): prefill of quantized, F16 and BF16
 * weights on the tiles in BF16 (matmul_amx.c), everything else as avx512vnni. neon is plain AArch64
 * ASIMD, neondot adds the dot-product extension. Each path is the faster where the CPU
 * has it. */
typedef enum fg_isa {
    FG_ISA_SCALAR = 0,
    FG_ISA_AVX2,
    FG_ISA_AVX512,
    FG_ISA_AVX512_VNNI,
    FG_ISA_AVX512_AMX,
    FG_ISA_NEON,
    FG_ISA_NEON_DOT,
    FG_ISA_COUNT
} fg_isa;
fg_isa fg_isa_active(void);
const char *fg_isa_name(fg_isa isa);
bool fg_isa_supported(fg_isa isa);
fg_status fg_isa_force(fg_isa isa);

/* Read-rate probes (bandwidth.c). A span is a byte range to read. fg_measure_read_spans:
 * best rate in GB/s (1e9 bytes/s) over `passes` passes of all pool threads streaming
 * the spans (each thread a contiguous 1/nth of their concatenation, with the machine's
 * widest plain loads and software prefetch; passes alternate between one forward stream
 * per thread and four, the decode tiles' pattern); -1 (fg_last_error) when there is
 * nothing to read. fg_measure_read_bandwidth: the same over a fresh buffer of `bytes`
 * (min 1 MiB; use several times the last-level cache), 6 passes; -1 when it cannot be
 * allocated. pool may be NULL. */
typedef struct fg_span {
    const void *p;
    size_t bytes;
} fg_span;
double fg_measure_read_spans(fg_pool *pool, const fg_span *spans, int n_spans, int passes);
double fg_measure_read_bandwidth(fg_pool *pool, size_t bytes);

/* ---- small float helpers used by the model (scalar reference; may be vectorised) --- */
void fg_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
/* sum a[i]*b[i], and y += a*x, vectorised on the active ISA (src/core/vec.c). */
float fg_vec_dot(const float *a, const float *b, int64_t n);
void fg_vec_axpy(float *y, float a, const float *x, int64_t n);
void fg_softmax_inplace(float *x, int n);
/* Index of the first largest element (NaNs never win; 0 if all are NaN or n <= 0). */
int64_t fg_vec_argmax(const float *x, int64_t n);
/* gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g) (the SwiGLU feed-forward). */
void fg_vec_silu_mul(float *gate, const float *up, int64_t n);

/* Attention over cached rows of type dt (FG_DT_F32 or FG_DT_F16; other types are
 * dequantized by the caller), `stride` bytes apart, d floats each, for nq query heads
 * at once (the heads sharing one kv head):
 *   fg_vec_dot_rows:  out[g*n + p] = scale * (q_g . row_p)   for g < nq, p < n
 *                     (q_g = q + g*d)
 *   fg_vec_axpy_rows: y_g += sum over p < n of w[g*n + p] * row_p   (y_g = y + g*d)
 *   fg_vec_softmax:   x = softmax(x) in place (exp of x - max, normalised)
 * F16 rows are converted in registers or a small stack buffer (no copy of the cache).
 * Vectorised on the active ISA for d a multiple of 8 up to FG_VEC_MAX_D. */
#define FG_VEC_MAX_D 256
void fg_vec_dot_rows(const float *q, int64_t nq, const void *rows, fg_dtype dt, size_t stride, int64_t n, int64_t d,
                     float scale, float *out);
void fg_vec_axpy_rows(float *y, const float *w, int64_t nq, const void *rows, fg_dtype dt, size_t stride, int64_t n,
                      int64_t d);
void fg_vec_softmax(float *x, int64_t n);
/* One window of an online softmax over a row seen in pieces: with *m the running maximum
 * (-INFINITY before the first window) and *l the running sum of exp(x - *m) over the
 * earlier windows, x[0 .. n) becomes exp(x - m') with m' = max(*m, max x), *l becomes
 * *l * c + sum of the new x, *m becomes m'. Returns c = exp(m_old - m') (0 for the first
 * window), the factor by which sums weighted with the earlier windows' x must be scaled;
 * the softmax is the weights over *l at the end. */
float fg_vec_softmax_window(float *x, int64_t n, float *m, float *l);
/* x[0 .. n) *= a */
void fg_vec_scale(float *x, int64_t n, float a);
#if defined(FG_ARCH_X86)
/* Attention scores on the AMX tiles (attn_amx.c), for the batches of a prefill; only
 * while fg_isa_active() is FG_ISA_AVX512_AMX, for F16 cached keys with d a multiple of 32
 * (at most FG_VEC_MAX_D) and nq <= 16 query heads per kv head:
 *   fg_amx_keys:   the n key rows (F16, `stride` bytes apart) as BF16 hi + lo parts in
 *                  tile order into kb (fg_amx_keys_bytes(n, d) bytes);
 *   fg_amx_scores: out[g*ld + p] = scale * (q_g . key_p) for g < nq, p < n, from kb;
 *                  within ~3 * 2^-16 of sum |q_g,i key_p,i| * scale (attn_amx.c). */
size_t fg_amx_keys_bytes(int64_t n_keys, int64_t d);
void fg_amx_keys(const void *rows, size_t stride, int64_t n, int64_t d, uint16_t *kb);
void fg_amx_scores(const float *q, int nq, const uint16_t *kb, int64_t n, int64_t d, float scale, float *out,
                   int64_t ld);
/*   fg_amx_values:   the n value rows likewise into vb (fg_amx_keys_bytes(n, d) bytes:
 *                    key pairs interleaved per dimension, d a multiple of 16);
 *   fg_amx_weighted: y_g += sum over p < n of w[g*ld + p] * value_p (y_g = y + g*d), from
 *                    vb; within ~3 * 2^-16 of sum |w_g,p value_p,i| per element. */
void fg_amx_values(const void *rows, size_t stride, int64_t n, int64_t d, uint16_t *vb);
void fg_amx_weighted(float *y, const float *w, int nq, int64_t ld, const uint16_t *vb, int64_t n, int64_t d);
#endif
/* Prefetching of cache rows (n rows `stride` apart, `bytes` read from each) into L2,
 * in bursts: fg_vec_prefetch_rows the first span of them (some hundred KB), for a
 * caller that will read them after other work; fg_vec_prefetch_next, called at every
 * row p of a walk over them, the rows one span ahead (and at p = 0 the first span).
 * The row calls above do the latter themselves. */
void fg_vec_prefetch_rows(const void *rows, size_t stride, int64_t n, size_t bytes);
void fg_vec_prefetch_next(const void *rows, size_t stride, int64_t p, int64_t n, size_t bytes);

#endif
