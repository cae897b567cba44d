/* AVX-512 matmul kernels (F + BW + VL + DQ, with VNNI where present), called only when
 * the CPU has them. This file is compiled twice: as itself with VNNI (fg_mm_avx512vnni,
 * path "avx512vnni"), and through matmul_avx512_novnni.c without it (fg_mm_avx512, path
 * "avx512": Skylake-SP/X and other AVX-512 CPUs before VNNI). See DPBUSD below for what
 * differs; nothing here needs AVX512_BF16 (BF16 weights widen to float32 by a shift).
 *
 * Shape of every kernel: a tile of R weight rows x T tokens (R <= 4, T <= 4) walks the
 * whole row once, keeping R*T accumulators in registers, so each weight vector is
 * loaded and unpacked once per T tokens and each activation vector once per R rows.
 * Tokens are processed in blocks of up to TOK_BLOCK_BYTES of activations (they stay in
 * the last-level cache); inside a block, row tiles go outermost so the R rows stay in
 * L1/L2 while the tokens pass, and every weight byte comes from RAM once per block.
 * Decode (n = 1) runs 1-token tiles over 4 rows at a time: 4 independent streams.
 *
 * Float weights (F32/F16/BF16): 16 floats per step, converted in registers (F16 by
 * vcvtph2ps, BF16 by a 16-bit shift), FMA with float32 activations.
 *
 * Quantized weights: activations are int8 blocks ("xq", matmul-impl.h), weights are
 * unpacked to 64 bytes per step (two 32-element blocks or K-quant sub-blocks), and
 * vpdpbusd (unsigned x signed bytes -> int32 lanes of 4) computes the integer dots:
 *   - Q4_0, Q6_K store unsigned levels with an offset (8, 32): the offset term
 *     -k * sum(x) enters as the accumulator's starting value, computed per activation
 *     vector (vpdpbusd of the constant k with x) and shared by the R rows;
 *   - Q8_0 levels are signed: XOR 0x80 makes them unsigned (q + 128), offset 128;
 *   - Q4_K, Q5_K levels are unsigned with a min: the min term -dmin * m_j * sum(x_j)
 *     uses the block sums s of xq, one 8-lane FMA per super-block.
 * Each int32 lane belongs to one block of 32 activations and to one weight scale group,
 * so lanes are converted to float and multiplied by (weight scale x activation scale)
 * before accumulation; lanes are summed at the end.
 *
 * These row tiles serve decode and small batches. From FG_TOK_MIN_N tokens on, the
 * quantized formats switch to matmul_tok_avx512.c (tokens in the lanes), which spends
 * far fewer instructions per multiply-add once there are enough tokens to fill lanes. */
#include "core/matmul-impl.h"
#include "core/quant-impl.h"

#include <immintrin.h>
#include <string.h>

#define TOK_BLOCK_BYTES (4u << 20)

/* vpdpbusd: acc += sum of 4 (unsigned byte x signed byte) products per int32 lane. Without
 * VNNI it is vpmaddubsw (pairs, saturating to int16) + vpmaddwd by 1, exact while every
 * pair sum stays below 2^15: true for unsigned operands <= 128 against |x| <= 127 (the
 * activations), which every use below keeps, Q8_0 included (NO_VNNI: its levels enter as
 * |w| with the sign moved onto x, instead of w + 128). The per-token prefill kernels
 * (matmul_tok_avx512.c) bias activations to 0..255 and need real VNNI, so the no-VNNI
 * build computes batches with the row tiles too. */
#if defined(FG_AVX512_NO_VNNI)
#define FG_MM_AVX512_KERNELS fg_mm_avx512
static inline __m512i dpbusd(__m512i acc, __m512i u, __m512i s)
{
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
}
#else
#define FG_MM_AVX512_KERNELS fg_mm_avx512vnni
#define dpbusd _mm512_dpbusd_epi32
#endif

static inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

/* Tokens per block so that a block's activations stay in L2; a multiple of 4. */
static int token_block(size_t bytes_per_token, int n)
{
    size_t tb = bytes_per_token ? TOK_BLOCK_BYTES / bytes_per_token : (size_t)n;
    tb = tb / 4 * 4;
    if (tb < 4) tb = 4;
    return tb > (size_t)n ? n : (int)tb;
}

/* The row driver: token blocks, then row chunks (FG_ROW_CHUNKS: each 4-row tile takes a
 * row from each quarter of a chunk; the 1 to 3 rows left, 1-row tiles), then tiles of
 * up to 4 tokens; TILE(tk, row, tok, R, T) must be an always-inline function so that
 * each (R, T) below becomes its own fully unrolled instance. */
#define DEFINE_ROWS(name, TILE, bytes_per_token)                                          \
    static void name(const fg_mm_task *tk, int64_t r0, int64_t r1)                        \
    {                                                                                     \
        const int n = tk->n;                                                              \
        const int tb = token_block(bytes_per_token, n);                                   \
        for (int b0 = 0; b0 < n; b0 += tb) {                                              \
            const int b1 = b0 + tb < n ? b0 + tb : n;                                     \
            FG_ROW_CHUNKS(tk, r0, r1, TOKENS, TILE);                                      \
        }                                                                                 \
    }
/* tiles of up to 4 tokens b0..b1 for the rows (g, row, R) of FG_ROW_CHUNKS */
#define TOKENS(TILE, g, row, R)                                                            \
    for (int t = b0; t < b1; t += 4) switch (b1 - t) {                                    \
        case 1: TILE(g, row, t, R, 1); break;                                             \
        case 2: TILE(g, row, t, R, 2); break;                                             \
        case 3: TILE(g, row, t, R, 3); break;                                             \
        default: TILE(g, row, t, R, 4); break;                                            \
        }

#define INLINE static inline __attribute__((always_inline))

/* Software prefetch (into L2) of the weights pf_ahead bytes ahead (the row driver's
 * fg_chunk_pf, or fg_pf_ahead for single rows; matmul-impl.h): the hardware prefetchers
 * alone leave the decode kernels (many instructions per byte, short rows) well below
 * the bandwidth a plain streaming loop gets (without it, 1.5B Q4_K_M: 11.5 against
 * 24-25 GB/s in the short-row matrices). Each stream of a tile prefetches the same
 * place in a later chunk, where it goes next. */
#define PREFETCH(p) _mm_prefetch((const char *)(p) + pf_ahead, _MM_HINT_T1)
#define UNROLL _Pragma("GCC unroll 4")

/* ---- float weights --------------------------------------------------------------------- */

INLINE __m512 load_w16(fg_dtype dt, const uint8_t *row, int64_t c, __mmask16 m)
{
    if (m == 0xffff) switch (dt) { /* plain loads in the main loop */
        case FG_DT_F32: return _mm512_loadu_ps((const float *)row + c);
        case FG_DT_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + c)));
        default: {
            __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + c)));
            return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
        }
        }
    switch (dt) {
    case FG_DT_F32:
        return _mm512_maskz_loadu_ps(m, (const float *)row + c);
    case FG_DT_F16:
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + c));
    default: { /* BF16: the top half of a float32 */
        __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + c));
        return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
    }
    }
}

INLINE void float_tile(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T, fg_dtype dt)
{
    const fg_mat *w = tk->w;
    const int64_t cols = w->cols;
    const uint8_t *wr[4];
    const float *xr[4];
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) wr[r] = (const uint8_t *)w->data + (size_t)(r0 + r * tk->row_step) * w->row_stride;
    const size_t pf_ahead = tk->pf_ahead;
    UNROLL for (int t = 0; t < T; t++) xr[t] = tk->x + (size_t)(t0 + t) * cols;
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        __m512 wv[4];
        UNROLL for (int r = 0; r < R; r++) {
            PREFETCH(wr[r] + c * (dt == FG_DT_F32 ? 4 : 2));
            wv[r] = load_w16(dt, wr[r], c, 0xffff);
        }
        UNROLL for (int t = 0; t < T; t++) {
            __m512 xv = _mm512_loadu_ps(xr[t] + c);
            UNROLL for (int r = 0; r < R; r++) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    if (c < cols) { /* masked tail: lanes past the row are neither read nor counted */
        __mmask16 m = (__mmask16)((1u << (cols - c)) - 1);
        __m512 wv[4];
        UNROLL for (int r = 0; r < R; r++) wv[r] = load_w16(dt, wr[r], c, m);
        UNROLL for (int t = 0; t < T; t++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, xr[t] + c);
            UNROLL for (int r = 0; r < R; r++) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    UNROLL for (int t = 0; t < T; t++) UNROLL for (int r = 0; r < R; r++)
        tk->y[(size_t)(t0 + t) * w->rows + r0 + r * tk->row_step] = hsum(acc[r][t]);
}

INLINE void f32_tile(const fg_mm_task *tk, int64_t r, int t, const int R, const int T) { float_tile(tk, r, t, R, T, FG_DT_F32); }
INLINE void f16_tile(const fg_mm_task *tk, int64_t r, int t, const int R, const int T) { float_tile(tk, r, t, R, T, FG_DT_F16); }
INLINE void bf16_tile(const fg_mm_task *tk, int64_t r, int t, const int R, const int T) { float_tile(tk, r, t, R, T, FG_DT_BF16); }
DEFINE_ROWS(rows_f32, f32_tile, (size_t)tk->w->cols * 4)
DEFINE_ROWS(rows_f16, f16_tile, (size_t)tk->w->cols * 4)
DEFINE_ROWS(rows_bf16, bf16_tile, (size_t)tk->w->cols * 4)

/* ---- quantized weights: shared pieces ------------------------------------------------------ */

/* Lane i of the result = v[idx[i]] for the float vector v (low 8 lanes used). */
INLINE __m512 spread(const __m512i idx, __m256 v) { return _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(v)); }

/* Per-block activation scales d[b], d[b+1] spread over lanes 0-7 and 8-15. */
INLINE __m512 x_scales2(const float *d)
{
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)d))));
}

/* Two f16 values (as stored, 16 bits each) to floats in lanes 0-7 and 8-15. */
INLINE __m512 w_scales2(uint16_t a, uint16_t b)
{
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)a | ((uint32_t)b << 16))));
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
}

/* Starting value of the vpdpbusd accumulator that removes an offset k from unsigned
 * levels: -k * (sum of each lane's 4 activations). */
INLINE __m512i offset_init(__m512i xv, __m512i kvec)
{
    return _mm512_sub_epi32(_mm512_setzero_si512(), dpbusd(_mm512_setzero_si512(), kvec, xv));
}

#define XQ_SETUP()                                                                            \
    const fg_mat *w = tk->w;                                                                  \
    const int64_t cols = w->cols;                                                             \
    const uint8_t *wr[4];                                                                     \
    const int8_t *xq[4];                                                                      \
    const float *xd[4], *xs[4];                                                               \
    __m512 acc[4][4];                                                                         \
    UNROLL for (int r = 0; r < R; r++)                                                        \
        wr[r] = (const uint8_t *)w->data + (size_t)(r0 + r * tk->row_step) * w->row_stride;   \
    const size_t pf_ahead = tk->pf_ahead;                                                     \
    UNROLL for (int t = 0; t < T; t++) {                                                      \
        const uint8_t *base = tk->xq + (size_t)(t0 + t) * tk->xq_stride;                      \
        xq[t] = fg_xq_q(base);                                                                \
        xd[t] = fg_xq_d(base, cols);                                                          \
        xs[t] = fg_xq_s(base, cols);                                                          \
    }                                                                                         \
    (void)xs;                                                                                 \
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();

#define XQ_STORE()                                                                            \
    UNROLL for (int t = 0; t < T; t++) UNROLL for (int r = 0; r < R; r++)                     \
        tk->y[(size_t)(t0 + t) * w->rows + r0 + r * tk->row_step] = hsum(acc[r][t]);

/* One 64-element step shared by all formats: wv[r] the levels, ws[r] weight scales per
 * lane; for every token, X_EXPR its activations, DX_EXPR their scales per lane, INIT the
 * accumulator start (offset term or zero), DOT(r, xv, init) the integer dot products. */
#define XQ_STEP_G(X_EXPR, DX_EXPR, INIT, DOT)                                                 \
    UNROLL for (int t = 0; t < T; t++) {                                                      \
        const __m512i xv = X_EXPR;                                                            \
        const __m512 dx = DX_EXPR;                                                            \
        const __m512i init = INIT;                                                            \
        (void)init;                                                                           \
        UNROLL for (int r = 0; r < R; r++)                                                    \
            acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(DOT(r, xv, init)), _mm512_mul_ps(ws[r], dx), acc[r][t]); \
    }
#define XQ_DOT(r, xv, init) dpbusd(init, wv[r], xv)
/* 32 activations in the low half, zeros above (a last odd block of 32) */
#define XQ_HALF(p) _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(p)))
/* the common case: unsigned levels at element e, offset start init_expr */
#define XQ_STEP(e, init_expr) \
    XQ_STEP_G(_mm512_loadu_si512(xq[t] + (e)), x_scales2(xd[t] + (e) / 32), init_expr, XQ_DOT)

/* ---- Q8_0 ---------------------------------------------------------------------------------
 * Levels are signed. With VNNI they enter as w + 128 (XOR 0x80) against an offset start
 * -128 * sum(x); without, as |w| (<= 128) against x carrying w's sign (vpmaddubsw's
 * pairs then stay below 2^15). Q8_LOAD sets wv[r] and wneg[r] (w < 0, for the latter). */
#if defined(FG_AVX512_NO_VNNI)
#define Q8_LOAD(r, v) (wneg[r] = _mm512_movepi8_mask(v), wv[r] = _mm512_abs_epi8(v))
#define Q8_DOT(r, xv, init) \
    dpbusd(init, wv[r], _mm512_mask_sub_epi8(xv, wneg[r], _mm512_setzero_si512(), xv))
#define Q8_INIT(xv) _mm512_setzero_si512()
#else
#define Q8_LOAD(r, v) ((void)wneg, wv[r] = _mm512_xor_si512(v, k80))
#define Q8_DOT(r, xv, init) dpbusd(init, wv[r], xv)
#define Q8_INIT(xv) offset_init(xv, k80)
#endif
INLINE void q8_0_tile(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T)
{
    XQ_SETUP();
    const int64_t nb = cols / 32;
    const __m512i k80 = _mm512_set1_epi8((char)0x80);
    (void)k80;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m512i wv[4];
        __mmask64 wneg[4];
        __m512 ws[4];
        UNROLL for (int r = 0; r < R; r++) {
            const fg_block_q8_0 *q = (const fg_block_q8_0 *)wr[r] + b;
            PREFETCH(q); /* 68 bytes per step: two lines, or one line in 16 is missed */
            PREFETCH((const uint8_t *)q + 64);
            __m256i lo = _mm256_loadu_si256((const __m256i *)q[0].qs);
            __m256i hi = _mm256_loadu_si256((const __m256i *)q[1].qs);
            Q8_LOAD(r, _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
            ws[r] = w_scales2(q[0].d, q[1].d);
        }
        XQ_STEP_G(_mm512_loadu_si512(xq[t] + b * 32), x_scales2(xd[t] + b), Q8_INIT(xv), Q8_DOT)
    }
    if (b < nb) { /* odd block count: the upper half is level 0 (0x80) against x = 0, scale 0 */
        __m512i wv[4];
        __mmask64 wneg[4];
        __m512 ws[4];
        UNROLL for (int r = 0; r < R; r++) {
            const fg_block_q8_0 *q = (const fg_block_q8_0 *)wr[r] + b;
            Q8_LOAD(r, _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)q[0].qs)));
            ws[r] = w_scales2(q[0].d, 0);
        }
        XQ_STEP_G(XQ_HALF(xq[t] + b * 32), _mm512_set1_ps(xd[t][b]), Q8_INIT(xv), Q8_DOT)
    }
    XQ_STORE();
}

/* ---- Q4_0 ---------------------------------------------------------------------------------
 * Groups of 4 blocks (128 elements) are unpacked from one 64-byte vector of nibbles
 * [qs0 | qs1 | qs2 | qs3]: its low nibbles are elements 0-15 of each block, its high
 * nibbles elements 16-31. The activations of such a group are stored in that order (see
 * xq_dest: A = x[b][0..15] for b = 0..3, then B = x[b][16..31]), so lanes 4j..4j+3 of
 * both vectors belong to block j and share one scale vector. Leftover blocks (nb % 4)
 * keep the natural order and go two (or one) at a time. */

/* Two blocks' 16 nibble bytes -> 64 levels in element order:
 * [b0 low nibbles, b0 high nibbles, b1 low, b1 high]. */
INLINE __m512i q4_0_levels(const uint8_t *qs0, const uint8_t *qs1)
{
    const __m512i dup = _mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0);
    const __m512i sh = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
    __m256i ab = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)qs0)),
                                         _mm_loadu_si128((const __m128i *)qs1), 1);
    __m512i z = _mm512_permutexvar_epi64(dup, _mm512_castsi256_si512(ab));
    return _mm512_and_si512(_mm512_srlv_epi64(z, sh), _mm512_set1_epi8(15));
}

INLINE void q4_0_tile(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T)
{
    XQ_SETUP();
    const int64_t nb = cols / 32, ng = nb / 4;
    const __m512i k8 = _mm512_set1_epi8(8), m4 = _mm512_set1_epi8(15);
    const __m512i idx4 = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    /* A group of 4 blocks is 72 bytes: d at bytes 0, 18, 36, 54 and the nibbles at 2-17,
     * 20-35, 38-53, 56-71, all at even offsets. Two 64-byte loads inside the group, at
     * bytes 0 and 8, hold all of it: one two-source word permute gathers the 64 nibble
     * bytes (words 1-8, 10-17, 19-26 of the first, 24-31 of the second) and one word
     * permute the four d. Against four 16-byte loads, three inserts and the d put
     * together with scalar loads and shifts: from cache 8-10 % faster, from RAM 4-5 %
     * (4864 x 896 and 896 x 4864, 2 threads, same-process alternation, results
     * identical); the same for Q8_0's two blocks ran 16 % slower from cache (the
     * permutes cost more than the loads they replace there), so Q8_0 keeps its loads. */
    const __m512i qs_idx = _mm512_set_epi16(63, 62, 61, 60, 59, 58, 57, 56, 26, 25, 24, 23, 22, 21, 20, 19,
                                            17, 16, 15, 14, 13, 12, 11, 10, 8, 7, 6, 5, 4, 3, 2, 1);
    const __m512i d_idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                           0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 27, 18, 9, 0);
    for (int64_t g = 0; g < ng; g++) {
        __m512i wa[4], wb[4];
        __m128 dw[4];
        UNROLL for (int r = 0; r < R; r++) {
            const fg_block_q4_0 *q = (const fg_block_q4_0 *)wr[r] + 4 * g;
            PREFETCH(q); /* 72 bytes per step */
            PREFETCH((const uint8_t *)q + 64);
            const __m512i lo = _mm512_loadu_si512(q), hi = _mm512_loadu_si512((const uint8_t *)q + 8);
            const __m512i v = _mm512_permutex2var_epi16(lo, qs_idx, hi);
            wa[r] = _mm512_and_si512(v, m4);
            wb[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            dw[r] = _mm_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi16(d_idx, lo)));
        }
        UNROLL for (int t = 0; t < T; t++) {
            const __m512i xa = _mm512_loadu_si512(xq[t] + 128 * g), xb = _mm512_loadu_si512(xq[t] + 128 * g + 64);
            const __m128 dx4 = _mm_loadu_ps(xd[t] + 4 * g);
            /* lanes 4j..4j+3 of both halves belong to block j: one integer sum for both */
            const __m512i zero = _mm512_setzero_si512();
            const __m512i init = _mm512_sub_epi32(zero, dpbusd(dpbusd(zero, k8, xa), k8, xb));
            UNROLL for (int r = 0; r < R; r++) {
                __m512 sc = _mm512_permutexvar_ps(idx4, _mm512_castps128_ps512(_mm_mul_ps(dw[r], dx4)));
                const __m512i dot = dpbusd(dpbusd(init, wa[r], xa), wb[r], xb);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), sc, acc[r][t]);
            }
        }
    }
    int64_t b = 4 * ng;
    for (; b + 2 <= nb; b += 2) {
        __m512i wv[4];
        __m512 ws[4];
        UNROLL for (int r = 0; r < R; r++) {
            const fg_block_q4_0 *q = (const fg_block_q4_0 *)wr[r] + b;
            wv[r] = q4_0_levels(q[0].qs, q[1].qs);
            ws[r] = w_scales2(q[0].d, q[1].d);
        }
        XQ_STEP(b * 32, offset_init(xv, k8))
    }
    if (b < nb) { /* odd block count: levels of the missing block are 0 against x = 0 */
        __m512i wv[4];
        __m512 ws[4];
        UNROLL for (int r = 0; r < R; r++) {
            const fg_block_q4_0 *q = (const fg_block_q4_0 *)wr[r] + b;
            wv[r] = _mm512_maskz_mov_epi8(0xffffffffull, q4_0_levels(q[0].qs, q[0].qs));
            ws[r] = w_scales2(q[0].d, 0);
        }
        XQ_STEP_G(XQ_HALF(xq[t] + b * 32), _mm512_set1_ps(xd[t][b]), offset_init(xv, k8), XQ_DOT)
    }
    XQ_STORE();
}

/* ---- Q4_K / Q5_K ----------------------------------------------------------------------------
 * A super-block's 128 nibble bytes are read 64 at a time (chunks 2p and 2p+1): the low
 * nibbles A hold sub-blocks 4p and 4p+2, the high nibbles B sub-blocks 4p+1 and 4p+3,
 * and the activations are stored in that order (xq_dest). The weight scales d * sc_j are
 * multiplied by the activation scales once per super-block half (8 lanes), then spread. */

INLINE __m256 bytes8_to_ps(uint64_t v)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)v)));
}

/* lanes 0-7 <- v[a], lanes 8-15 <- v[b] */
#define IDX2(a, b) _mm512_set_epi32(b, b, b, b, b, b, b, b, a, a, a, a, a, a, a, a)

/* The scales and mins of four rows' super-blocks at once: each row's first 16 bytes (d,
 * dmin, the 12 packed bytes s[0..11]) in one 128-bit lane, unpacked in every lane to
 * sc[0..7] (bytes 0-7) and m[0..7] (bytes 8-15) by fg_kq_unpack8's rule:
 *   j < 4:  sc = s[j] & 63,                          m = s[j+4] & 63
 *   j >= 4: sc = (s[j+4] & 15) | (s[j-4] >> 6) << 4, m = (s[j+4] >> 4) | (s[j] >> 6) << 4
 * then widened to floats and multiplied by d (sc) and dmin (m): out[r] lanes 0-7 are
 * row r's d * sc_j, lanes 8-15 its dmin * m_j. The 4-row, 1-token loop takes 183
 * instructions per super-block, from 285 when each row unpacked its own with scalar code;
 * 1.5B Q4_K_M decode: 2.6 % less time per token (same-process alternation, 128 pairs,
 * median; a Xeon VM at 2.1 GHz where the Q4_K tile is as slow as the memory). */
INLINE void kq_scales4(const uint8_t *const blk[4], __m512 out[4])
{
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)blk[0]));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)blk[1]), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)blk[2]), 2);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)blk[3]), 3);
    /* low parts: s[0..3] | s[8..11] | s[4..7] | s[8..11] (block bytes 4.. hold s[0..]);
     * high parts (top two bits of): - | s[0..3] | - | s[4..7] */
    const __m512i lo_idx = _mm512_broadcast_i32x4(_mm_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m512i hi_idx = _mm512_broadcast_i32x4(_mm_setr_epi8(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11));
    const __m512i lo = _mm512_shuffle_epi8(v, lo_idx), hi = _mm512_shuffle_epi8(v, hi_idx);
    const __m512i lo_mask = _mm512_broadcast_i32x4(_mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0));
    /* bytes 12-15 (m_4..7) take the high nibble of s[8..11]; the others a masked low part */
    const __mmask64 high_nib = 0xF000F000F000F000ull;
    const __m512i low = _mm512_mask_blend_epi8(high_nib, _mm512_and_si512(lo, lo_mask),
                                 _mm512_and_si512(_mm512_srli_epi16(lo, 4), _mm512_set1_epi8(15)));
    const __m512i top = _mm512_and_si512(_mm512_srli_epi16(hi, 2), _mm512_set1_epi8(0x30));
    const __m512i q = _mm512_or_si512(low, top); /* hi_idx's -1 bytes are 0: no top bits there */
    /* d, dmin of the four rows: dword 0 of each lane -> 8 halves -> floats */
    const __m512i dsel = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256 dd = _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi32(dsel, v)));
    const __m512 dd512 = _mm512_castps256_ps512(dd);
    /* the lane index is an immediate: spelled out (a loop would need -O to fold it) */
#define KQ_ROW(r)                                                                                    \
    out[r] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(q, r))), \
                           _mm512_permutexvar_ps(_mm512_inserti64x4(_mm512_set1_epi32(2 * (r)),         \
                                                                    _mm256_set1_epi32(2 * (r) + 1), 1), \
                                                 dd512))
    KQ_ROW(0);
    KQ_ROW(1);
    KQ_ROW(2);
    KQ_ROW(3);
#undef KQ_ROW
}

INLINE void kq45_tile(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T, const bool five)
{
    XQ_SETUP();
    const int64_t nsb = cols / 256;
    const size_t bsz = five ? sizeof(fg_block_q5_k) : sizeof(fg_block_q4_k);
    const __m512i m4 = _mm512_set1_epi8(15), k16 = _mm512_set1_epi8(16);
    for (int64_t sb = 0; sb < nsb; sb++) {
        __m256 scf[4];
        __m512i qh[4];
        if (R == 4) {
            const uint8_t *blk[4];
            __m512 sm[4];
            UNROLL for (int r = 0; r < 4; r++) blk[r] = wr[r] + (size_t)sb * bsz;
            kq_scales4(blk, sm);
            /* the mins: acc -= dmin * m_j * (sum of sub-block j's activations), the sums
             * in lanes 8-15 (lanes 0-7, the scales, meet zeros) */
            __m512 xs16[4];
            UNROLL for (int t = 0; t < T; t++) xs16[t] = _mm512_maskz_broadcast_f32x8(0xFF00, _mm256_loadu_ps(xs[t] + sb * 8));
            UNROLL for (int r = 0; r < 4; r++) {
                scf[r] = _mm512_castps512_ps256(sm[r]);
                UNROLL for (int t = 0; t < T; t++) acc[r][t] = _mm512_fnmadd_ps(sm[r], xs16[t], acc[r][t]);
                if (five) qh[r] = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk[r] + 16)));
            }
        } else
        UNROLL for (int r = 0; r < R; r++) {
            const uint8_t *blk = wr[r] + (size_t)sb * bsz;
            uint16_t d16, dm16;
            memcpy(&d16, blk, 2);
            memcpy(&dm16, blk + 2, 2);
            uint64_t sc, mn;
            fg_kq_unpack8(blk + 4, &sc, &mn);
            __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)d16 | ((uint32_t)dm16 << 16))));
            scf[r] = _mm256_mul_ps(bytes8_to_ps(sc), _mm256_broadcastss_ps(dd));
            __m256 mf = _mm256_mul_ps(bytes8_to_ps(mn), _mm256_broadcastss_ps(_mm_movehdup_ps(dd)));
            /* the mins: acc -= dmin * m_j * (sum of sub-block j's activations) */
            UNROLL for (int t = 0; t < T; t++)
                acc[r][t] = _mm512_fnmadd_ps(_mm512_zextps256_ps512(mf),
                                             _mm512_zextps256_ps512(_mm256_loadu_ps(xs[t] + sb * 8)), acc[r][t]);
            if (five) qh[r] = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 16)));
        }
        UNROLL for (int p = 0; p < 2; p++) {
            const __m512i ia = IDX2(4 * p, 4 * p + 2), ib = IDX2(4 * p + 1, 4 * p + 3);
            __m512i wa[4], wb[4];
            UNROLL for (int r = 0; r < R; r++) {
                const uint8_t *blk = wr[r] + (size_t)sb * bsz;
                /* every line of the block: 144 bytes (Q4_K), 176 (Q5_K) */
                PREFETCH(blk + 64 * p);
                if (p == 1) PREFETCH(blk + 128);
                __m512i v = _mm512_loadu_si512(blk + (five ? 48 : 16) + 64 * p);
                wa[r] = _mm512_and_si512(v, m4);
                wb[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                if (five) { /* fifth bit of sub-block j: bit j of qh[l] */
                    const __m512i sa = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (4 * p))),
                                                          _mm256_set1_epi8((char)(1 << (4 * p + 2))), 1);
                    const __m512i sb2 = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (4 * p + 1))),
                                                           _mm256_set1_epi8((char)(1 << (4 * p + 3))), 1);
                    wa[r] = _mm512_mask_add_epi8(wa[r], _mm512_test_epi8_mask(qh[r], sa), wa[r], k16);
                    wb[r] = _mm512_mask_add_epi8(wb[r], _mm512_test_epi8_mask(qh[r], sb2), wb[r], k16);
                }
            }
            UNROLL for (int t = 0; t < T; t++) {
                const int8_t *xp = xq[t] + sb * 256 + 128 * p;
                const __m512i xa = _mm512_loadu_si512(xp), xb = _mm512_loadu_si512(xp + 64);
                const __m256 dx8 = _mm256_loadu_ps(xd[t] + sb * 8);
                UNROLL for (int r = 0; r < R; r++) {
                    const __m256 pr = _mm256_mul_ps(scf[r], dx8);
                    __m512i da = dpbusd(_mm512_setzero_si512(), wa[r], xa);
                    __m512i db = dpbusd(_mm512_setzero_si512(), wb[r], xb);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(da), spread(ia, pr), acc[r][t]);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(db), spread(ib, pr), acc[r][t]);
                }
            }
        }
    }
    XQ_STORE();
}

INLINE void q4_k_tile(const fg_mm_task *tk, int64_t r, int t, const int R, const int T) { kq45_tile(tk, r, t, R, T, false); }
INLINE void q5_k_tile(const fg_mm_task *tk, int64_t r, int t, const int R, const int T) { kq45_tile(tk, r, t, R, T, true); }

/* ---- Q6_K ----------------------------------------------------------------------------------
 * Each half of a super-block is one 64-byte load of low nibbles (elements 0-63 from the
 * low nibbles, 64-127 from the high ones) and 32 bytes of high bits, broadcast to both
 * 256-bit halves and shifted into place. Levels are q (0..63); the offset 32 enters as
 * the accumulator start. */

INLINE void q6_k_tile(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T)
{
    XQ_SETUP();
    const int64_t nsb = cols / 256;
    const __m512i k32 = _mm512_set1_epi8(32);
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    /* 16-bit shift counts for the high bits, low 256 bits | high 256 bits:
     * chunk A (elements 0-63 of a half) wants bits 0-1 / 2-3 of qh at bits 4-5: << 4 / << 2
     * (bits shifted in from the neighbour byte land outside 0x30);
     * chunk B (elements 64-127) wants bits 4-5 / 6-7 at 4-5: >> 0 / >> 2 */
    const __m512i shA = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shB = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
    /* activation scales per 32 -> per 16 (each twice) */
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    for (int64_t sb = 0; sb < nsb; sb++) {
        __m512 scf[4];
        UNROLL for (int r = 0; r < R; r++) {
            const fg_block_q6_k *q = (const fg_block_q6_k *)wr[r] + sb;
            __m512 s = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q->scales)));
            scf[r] = _mm512_mul_ps(s, _mm512_set1_ps(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(q->d)))));
        }
        UNROLL for (int h = 0; h < 2; h++) {
            /* lanes 4j..4j+3 <- sub-block 8h + j (A) or 8h + 4 + j (B) */
            const int a = 8 * h, b = 8 * h + 4;
            const __m512i ia = _mm512_set_epi32(a + 3, a + 3, a + 3, a + 3, a + 2, a + 2, a + 2, a + 2, a + 1, a + 1,
                                                a + 1, a + 1, a, a, a, a);
            const __m512i ib = _mm512_set_epi32(b + 3, b + 3, b + 3, b + 3, b + 2, b + 2, b + 2, b + 2, b + 1, b + 1,
                                                b + 1, b + 1, b, b, b, b);
            __m512i wa[4], wb[4];
            UNROLL for (int r = 0; r < R; r++) {
                const fg_block_q6_k *q = (const fg_block_q6_k *)wr[r] + sb;
                /* every line of the 210-byte block */
                PREFETCH((const uint8_t *)q + 128 * h);
                PREFETCH((const uint8_t *)q + 128 * h + 64);
                if (h == 1) PREFETCH((const uint8_t *)q + 209);
                __m512i ql = _mm512_loadu_si512(q->ql + 64 * h);
                __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(q->qh + 32 * h)));
                __m512i ha = _mm512_and_si512(_mm512_sllv_epi16(qh, shA), m30);
                __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(qh, shB), m30);
                /* (lo & 15) | high bits */
                wa[r] = _mm512_ternarylogic_epi32(ql, m4, ha, 0xEA);
                wb[r] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), m4, hb, 0xEA);
            }
            UNROLL for (int t = 0; t < T; t++) {
                const int8_t *xp = xq[t] + sb * 256 + 128 * h;
                const __m512i xa = _mm512_loadu_si512(xp), xb = _mm512_loadu_si512(xp + 64);
                const __m512i inia = offset_init(xa, k32), inib = offset_init(xb, k32);
                const __m512 dx16 = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(xd[t] + sb * 8)));
                UNROLL for (int r = 0; r < R; r++) {
                    const __m512 pr = _mm512_mul_ps(scf[r], dx16);
                    __m512i da = dpbusd(inia, wa[r], xa);
                    __m512i db = dpbusd(inib, wb[r], xb);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(da), _mm512_permutexvar_ps(ia, pr), acc[r][t]);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(db), _mm512_permutexvar_ps(ib, pr), acc[r][t]);
                }
            }
        }
    }
    XQ_STORE();
}

#define XQ_BYTES (tk->xq_stride)
DEFINE_ROWS(rows_q8_0_direct, q8_0_tile, XQ_BYTES)
DEFINE_ROWS(rows_q4_0_direct, q4_0_tile, XQ_BYTES)
DEFINE_ROWS(rows_q4_k_direct, q4_k_tile, XQ_BYTES)
DEFINE_ROWS(rows_q5_k_direct, q5_k_tile, XQ_BYTES)
DEFINE_ROWS(rows_q6_k_direct, q6_k_tile, XQ_BYTES)

/* Few tokens: the row tiles above; many: tokens in the vector lanes (prefill; VNNI only). */
#if defined(FG_AVX512_NO_VNNI)
#define USE_TOK(n) ((void)(n), false)
#else
#define USE_TOK(n) ((n) >= FG_TOK_MIN_N)
#endif
#define TASK_TOK(tk) USE_TOK((tk)->n)
/* name: batch(...) for the tasks where USE(task) holds, fewer(...) for the others */
#define ROWS_SPLIT(name, USE, batch, fewer)                                                   \
    static void name(const fg_mm_task *tk, int64_t r0, int64_t r1)                            \
    {                                                                                         \
        if (USE(tk))                                                                          \
            batch(tk, r0, r1);                                                                \
        else                                                                                  \
            fewer(tk, r0, r1);                                                                \
    }
ROWS_SPLIT(rows_q8_0, TASK_TOK, fg_tok_avx512_rows, rows_q8_0_direct)
ROWS_SPLIT(rows_q4_0, TASK_TOK, fg_tok_avx512_rows, rows_q4_0_direct)
ROWS_SPLIT(rows_q4_k, TASK_TOK, fg_tok_avx512_rows, rows_q4_k_direct)
ROWS_SPLIT(rows_q5_k, TASK_TOK, fg_tok_avx512_rows, rows_q5_k_direct)
ROWS_SPLIT(rows_q6_k, TASK_TOK, fg_tok_avx512_rows, rows_q6_k_direct)

/* ---- activation quantization ---------------------------------------------------------------- */

static size_t prep_bytes(fg_dtype dt, int64_t cols, int n)
{
    if (!fg_dtype_is_quant(dt)) return 0;
    size_t direct = fg_xq_stride(cols) * (size_t)n;
    if (!USE_TOK(n)) return direct;
    /* never less than the per-token layout needs, so the size grows with n and a
     * buffer sized for n serves every smaller count */
    size_t tok = fg_tok_avx512_bytes(cols, n);
    return tok > direct ? tok : direct;
}

/* Where the 16 activations of half h (0, 1) of block b go in xq's q array: the element
 * order the kernels above unpack the weights in. */
static inline int64_t xq_dest(fg_dtype dt, int64_t b, int h, int64_t nb)
{
    if (dt == FG_DT_Q4_0 && b < nb / 4 * 4) /* groups of 4 blocks: all low halves, then high */
        return 128 * (b / 4) + 64 * h + 16 * (b % 4);
    if (dt == FG_DT_Q4_K || dt == FG_DT_Q5_K) { /* sub-blocks 4p, 4p+2 | 4p+1, 4p+3 */
        int64_t sub = b % 8, p = sub / 4;
        return 256 * (b / 8) + 128 * p + 64 * (sub & 1) + 32 * ((sub >> 1) & 1) + 16 * h;
    }
    return 32 * b + 16 * h;
}

/* xq of one row: per block of 32, d = max|x| / 127, q = round(x / d) (by x * (1/d)),
 * s = d * sum(q); q in the order the dtype's kernel wants. */
static void xq_row(fg_dtype dt, const float *x, int64_t cols, uint8_t *dst)
{
    int8_t *q = (int8_t *)dst;
    const int64_t nb = cols / 32;
    float *d = (float *)(dst + cols), *s = d + nb;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < nb; b++) {
        __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
        __m512 a = _mm512_max_ps(_mm512_and_ps(v0, absmask), _mm512_and_ps(v1, absmask));
        float amax = _mm512_reduce_max_ps(a);
        float db = amax / 127.0f, id = db > 0 ? 1.0f / db : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        /* round to nearest even (the MXCSR default); |x * id| <= 127 by construction */
        __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
        __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
        _mm_storeu_si128((__m128i *)(q + xq_dest(dt, b, 0, nb)), _mm512_cvtsepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(q + xq_dest(dt, b, 1, nb)), _mm512_cvtsepi32_epi8(i1));
        d[b] = db;
        s[b] = db * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
    }
}

static void prep(const fg_mm_task *t, int ith, int nth)
{
    if (USE_TOK(t->n)) {
        fg_tok_avx512_prep(t, ith, nth);
        return;
    }
    for (int i = ith; i < t->n; i += nth)
        xq_row(t->w->dtype, t->x + (size_t)i * t->w->cols, t->w->cols, t->xq + (size_t)i * t->xq_stride);
}

const fg_mm_kernels FG_MM_AVX512_KERNELS = {
    .rows = {
        [FG_DT_F32] = rows_f32, [FG_DT_F16] = rows_f16, [FG_DT_BF16] = rows_bf16,
        [FG_DT_Q8_0] = rows_q8_0, [FG_DT_Q4_0] = rows_q4_0, [FG_DT_Q4_K] = rows_q4_k,
        [FG_DT_Q5_K] = rows_q5_k, [FG_DT_Q6_K] = rows_q6_k,
    },
    .prep_bytes = prep_bytes,
    .prep = prep,
    .row_align = 4,
};

#if !defined(FG_AVX512_NO_VNNI)
/* ---- path avx512amx: the same, with batches of FG_AMX_MIN_N tokens or more on the AMX
 * tiles (matmul_amx.c) ---------------------------------------------------------------------- */
#define USE_AMX(n) ((n) >= FG_AMX_MIN_N)
#define TASK_AMX(tk) USE_AMX((tk)->n)
ROWS_SPLIT(rows_q8_0_amx, TASK_AMX, fg_amx_rows, rows_q8_0)
ROWS_SPLIT(rows_q4_0_amx, TASK_AMX, fg_amx_rows, rows_q4_0)
ROWS_SPLIT(rows_q4_k_amx, TASK_AMX, fg_amx_rows, rows_q4_k)
ROWS_SPLIT(rows_q5_k_amx, TASK_AMX, fg_amx_rows, rows_q5_k)
ROWS_SPLIT(rows_q6_k_amx, TASK_AMX, fg_amx_rows, rows_q6_k)

/* F16 and BF16 weights too, where rows are whole 32-element steps of the tiles (the
 * activations, and F16 weights, in two BF16 parts: as precise as the float kernel) */
static bool amx_float(fg_dtype dt, int64_t cols, int n)
{
    return USE_AMX(n) && (dt == FG_DT_F16 || dt == FG_DT_BF16) && cols % 32 == 0;
}
#define TASK_AMX_FLOAT(tk) amx_float((tk)->w->dtype, (tk)->w->cols, (tk)->n)
ROWS_SPLIT(rows_f16_amx, TASK_AMX_FLOAT, fg_amx_rows, rows_f16)
ROWS_SPLIT(rows_bf16_amx, TASK_AMX_FLOAT, fg_amx_rows, rows_bf16)

static size_t prep_bytes_amx(fg_dtype dt, int64_t cols, int n)
{
    size_t v = prep_bytes(dt, cols, n); /* as above: grows with n */
    if (!USE_AMX(n) || !(v || amx_float(dt, cols, n))) return v;
    size_t a = fg_amx_bytes(dt, cols, n);
    return a > v ? a : v;
}

static void prep_amx(const fg_mm_task *t, int ith, int nth)
{
    if (USE_AMX(t->n))
        fg_amx_prep(t, ith, nth);
    else
        prep(t, ith, nth);
}

const fg_mm_kernels fg_mm_avx512amx = {
    .rows = {
        [FG_DT_F32] = rows_f32, [FG_DT_F16] = rows_f16_amx, [FG_DT_BF16] = rows_bf16_amx,
        [FG_DT_Q8_0] = rows_q8_0_amx, [FG_DT_Q4_0] = rows_q4_0_amx, [FG_DT_Q4_K] = rows_q4_k_amx,
        [FG_DT_Q5_K] = rows_q5_k_amx, [FG_DT_Q6_K] = rows_q6_k_amx,
    },
    .prep_bytes = prep_bytes_amx,
    .prep = prep_amx,
    .row_align = 4,
};
#endif
