/* AVX2 + FMA + F16C matmul kernels (compiled with those flags only here, called only
 * when the CPU has them).
 *
 * Tiles of R weight rows x T tokens (R = 4 or 1, T = 2 or 1) walk a whole row once with
 * R*T accumulators of 8 floats in registers (16 ymm registers leave no room for more).
 *
 * Float weights: 8 floats per step, F16 converted by vcvtph2ps, BF16 by a 16-bit shift.
 * Quantized weights use the xq activations (matmul-impl.h, natural element order). One
 * ymm holds 32 levels = one block of 32 (or a K-quant sub-block), so all 8 int32 lanes
 * of a dot product share one scale. Products: vpmaddubsw (unsigned x signed bytes,
 * pairs to int16) then vpmaddwd with ones (to int32 lanes of 4 elements):
 *   - unsigned levels (Q4_0 0..15, Q4_K 0..15, Q5_K 0..31) go straight in; |pair| <=
 *     2 * 31 * 127 < 32767, no saturation. Q4_0's offset 8 and the K-quant mins use
 *     the block sums s of xq in a scalar correction per row and token;
 *   - signed levels (Q8_0, and Q6_K as q - 32) use |w| and sign(x, w): vpsignb moves
 *     w's sign onto x, |w| <= 128 and |x| <= 127 keep pairs below 32767. */
#include "core/matmul-impl.h"
#include "core/quant-impl.h"

#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 4")

/* Software prefetch (into L2) of the weights pf_ahead bytes ahead (the row driver's
 * fg_chunk_pf or fg_pf_ahead, matmul-impl.h).
 * The hardware prefetchers alone leave decode far below the machine's read bandwidth
 * (measured with the AVX-512 twin of these kernels: 0.5B Q8_0 decode 38 -> 52 tok/s).
 * Each step prefetches every cache line it consumes. */
#define PF_SETUP() const size_t pf_ahead = tk->pf_ahead
#define PREFETCH(p) _mm_prefetch((const char *)(p) + pf_ahead, _MM_HINT_T1)

static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* int32 lanes of 4-element dot products: unsigned u times signed s */
INLINE __m256i dot_us(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* signed w times signed x */
INLINE __m256i dot_ss(__m256i w, __m256i x)
{
    return dot_us(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

INLINE float h2f(uint16_t h) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))); }

/* Tokens are processed in blocks of up to TOK_BLOCK_BYTES of activations, which stay
 * in the last-level cache; within a block, row tiles go outermost so each weight byte comes
 * from RAM once per block. */
#define TOK_BLOCK_BYTES (4u << 20)

static int token_block(size_t bytes_per_token, int n)
{
    size_t tb = bytes_per_token ? TOK_BLOCK_BYTES / bytes_per_token : (size_t)n;
    tb = tb / 4 * 4;
    if (tb < 4) tb = 4;
    return tb > (size_t)n ? n : (int)tb;
}

/* The row driver: token blocks, then row chunks (FG_ROW_CHUNKS: each 4-row tile takes a
 * row from each quarter of a chunk; the 1 to 3 rows left, 1-row tiles), then tiles of
 * 2 tokens (and 1 for an odd count). */
#define DEFINE_ROWS(name, TILE, bytes_per_token)                                                   \
    static void name(const fg_mm_task *tk, int64_t r0, int64_t r1)                                 \
    {                                                                                              \
        const int tb = token_block(bytes_per_token, tk->n);                                        \
        for (int b0 = 0; b0 < tk->n; b0 += tb) {                                                   \
            const int b1 = b0 + tb < tk->n ? b0 + tb : tk->n;                                      \
            FG_ROW_CHUNKS(tk, r0, r1, TOKENS, TILE);                                               \
        }                                                                                          \
    }
/* tiles of 2 tokens (1 for an odd count) b0..b1 for the rows (g, row, R) of FG_ROW_CHUNKS */
#define TOKENS(TILE, g, row, R)                                                                     \
    {                                                                                              \
        int t = b0;                                                                                \
        for (; t + 2 <= b1; t += 2) TILE(g, row, t, R, 2);                                         \
        if (t < b1) TILE(g, row, t, R, 1);                                                         \
    }

/* ---- float weights ---------------------------------------------------------------------- */

INLINE __m256 load_w8(fg_dtype dt, const uint8_t *row, int64_t c)
{
    switch (dt) {
    case FG_DT_F32: return _mm256_loadu_ps((const float *)row + c);
    case FG_DT_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + c)));
    default: {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + c)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
    }
    }
}

INLINE float load_w1(fg_dtype dt, const uint8_t *row, int64_t c)
{
    uint16_t h;
    switch (dt) {
    case FG_DT_F32: return ((const float *)row)[c];
    case FG_DT_F16: memcpy(&h, row + 2 * c, 2); return h2f(h);
    default: memcpy(&h, row + 2 * c, 2); return fg_bf16_to_f32(h);
    }
}

INLINE void float_tile(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T, fg_dtype dt)
{
    const fg_mat *w = tk->w;
    const int64_t cols = w->cols;
    const uint8_t *wr[4];
    const float *xr[2];
    __m256 acc[4][2];
    UNROLL for (int r = 0; r < R; r++) wr[r] = (const uint8_t *)w->data + (size_t)(r0 + r * tk->row_step) * w->row_stride;
    PF_SETUP();
    UNROLL for (int t = 0; t < T; t++) xr[t] = tk->x + (size_t)(t0 + t) * cols;
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
        __m256 wv[4];
        if ((c & 15) == 0) UNROLL for (int r = 0; r < R; r++) PREFETCH(wr[r] + c * (dt == FG_DT_F32 ? 4 : 2));
        UNROLL for (int r = 0; r < R; r++) wv[r] = load_w8(dt, wr[r], c);
        UNROLL for (int t = 0; t < T; t++) {
            __m256 xv = _mm256_loadu_ps(xr[t] + c);
            UNROLL for (int r = 0; r < R; r++) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    float tail[4][2] = {{0}};
    for (; c < cols; c++)
        UNROLL for (int r = 0; r < R; r++) {
            float wv = load_w1(dt, wr[r], c);
            UNROLL for (int t = 0; t < T; t++) tail[r][t] += wv * xr[t][c];
        }
    UNROLL for (int t = 0; t < T; t++) UNROLL for (int r = 0; r < R; r++)
        tk->y[(size_t)(t0 + t) * w->rows + r0 + r * tk->row_step] = hsum8(acc[r][t]) + tail[r][t];
}

INLINE void f32_tile(const fg_mm_task *tk, int64_t r, int t, const int R, const int T) { float_tile(tk, r, t, R, T, FG_DT_F32); }
INLINE void f16_tile(const fg_mm_task *tk, int64_t r, int t, const int R, const int T) { float_tile(tk, r, t, R, T, FG_DT_F16); }
INLINE void bf16_tile(const fg_mm_task *tk, int64_t r, int t, const int R, const int T) { float_tile(tk, r, t, R, T, FG_DT_BF16); }
DEFINE_ROWS(rows_f32, f32_tile, (size_t)tk->w->cols * 4)
DEFINE_ROWS(rows_f16, f16_tile, (size_t)tk->w->cols * 4)
DEFINE_ROWS(rows_bf16, bf16_tile, (size_t)tk->w->cols * 4)

/* ---- quantized weights ------------------------------------------------------------------- */

#define XQ_SETUP()                                                                                 \
    const fg_mat *w = tk->w;                                                                       \
    const int64_t cols = w->cols;                                                                  \
    const uint8_t *wr[4];                                                                          \
    const int8_t *xq[2];                                                                           \
    const float *xd[2], *xs[2];                                                                    \
    __m256 acc[4][2];                                                                              \
    float corr[4][2] = {{0}};                                                                      \
    UNROLL for (int r = 0; r < R; r++) wr[r] = (const uint8_t *)w->data + (size_t)(r0 + r * tk->row_step) * w->row_stride; \
    PF_SETUP();                                                                                    \
    UNROLL for (int t = 0; t < T; t++) {                                                           \
        const uint8_t *base = tk->xq + (size_t)(t0 + t) * tk->xq_stride;                           \
        xq[t] = fg_xq_q(base);                                                                     \
        xd[t] = fg_xq_d(base, cols);                                                               \
        xs[t] = fg_xq_s(base, cols);                                                               \
    }                                                                                              \
    (void)xs;                                                                                      \
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_ps();

#define XQ_STORE()                                                                                 \
    UNROLL for (int t = 0; t < T; t++) UNROLL for (int r = 0; r < R; r++)                          \
        tk->y[(size_t)(t0 + t) * w->rows + r0 + r * tk->row_step] = hsum8(acc[r][t]) + corr[r][t];

INLINE __m256i xload(const int8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

INLINE void q8_0_tile(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T)
{
    XQ_SETUP();
    for (int64_t b = 0; b < cols / 32; b++) {
        __m256i wv[4];
        float dw[4];
        UNROLL for (int r = 0; r < R; r++) {
            const fg_block_q8_0 *q = (const fg_block_q8_0 *)wr[r] + b;
            PREFETCH(q); /* 34 bytes per step: every line */
            wv[r] = _mm256_loadu_si256((const __m256i *)q->qs);
            dw[r] = h2f(q->d);
        }
        UNROLL for (int t = 0; t < T; t++) {
            __m256i xv = xload(xq[t] + 32 * b);
            float dx = xd[t][b];
            UNROLL for (int r = 0; r < R; r++)
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_ss(wv[r], xv)), _mm256_set1_ps(dw[r] * dx), acc[r][t]);
        }
    }
    XQ_STORE();
}

INLINE void q4_0_tile(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T)
{
    XQ_SETUP();
    const __m128i m4 = _mm_set1_epi8(15);
    for (int64_t b = 0; b < cols / 32; b++) {
        __m256i wv[4];
        float dw[4];
        UNROLL for (int r = 0; r < R; r++) {
            const fg_block_q4_0 *q = (const fg_block_q4_0 *)wr[r] + b;
            if ((b & 1) == 0) PREFETCH(q); /* 36 bytes per two steps */
            __m128i v = _mm_loadu_si128((const __m128i *)q->qs);
            wv[r] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m4)),
                                            _mm_and_si128(_mm_srli_epi16(v, 4), m4), 1);
            dw[r] = h2f(q->d);
        }
        UNROLL for (int t = 0; t < T; t++) {
            __m256i xv = xload(xq[t] + 32 * b);
            float dx = xd[t][b], sx = xs[t][b];
            UNROLL for (int r = 0; r < R; r++) {
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_us(wv[r], xv)), _mm256_set1_ps(dw[r] * dx), acc[r][t]);
                corr[r][t] -= 8.0f * dw[r] * sx; /* the offset: -8 * d * sum(x) */
            }
        }
    }
    XQ_STORE();
}

INLINE __m256 bytes8_to_ps(uint64_t v)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)v)));
}

/* Scales: the 8 sub-block scales d * sc_j times the 8 activation scales of the
 * super-block, one multiply per row and token, then lane j broadcast per sub-block.
 * Mins: one 8-lane FMA per row and token into the accumulator (all lanes are summed). */
INLINE void kq45_tile(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T, const bool five)
{
    XQ_SETUP();
    const size_t bsz = five ? sizeof(fg_block_q5_k) : sizeof(fg_block_q4_k);
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    for (int64_t sb = 0; sb < cols / 256; sb++) {
        __m256 scf[4];
        UNROLL for (int r = 0; r < R; r++) {
            const uint8_t *blk = wr[r] + (size_t)sb * bsz;
            PREFETCH(blk); /* every line of the 144 (Q4_K) or 176 (Q5_K) bytes */
            PREFETCH(blk + 64);
            PREFETCH(blk + 128);
            uint16_t d16, dm16;
            memcpy(&d16, blk, 2);
            memcpy(&dm16, blk + 2, 2);
            __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)d16 | ((uint32_t)dm16 << 16))));
            uint64_t s8, m8;
            fg_kq_unpack8(blk + 4, &s8, &m8);
            scf[r] = _mm256_mul_ps(bytes8_to_ps(s8), _mm256_broadcastss_ps(dd));
            __m256 mf = _mm256_mul_ps(bytes8_to_ps(m8), _mm256_broadcastss_ps(_mm_movehdup_ps(dd)));
            UNROLL for (int t = 0; t < T; t++) /* the mins: -dmin * m_j * sum(x_j) */
                acc[r][t] = _mm256_fnmadd_ps(mf, _mm256_loadu_ps(xs[t] + sb * 8), acc[r][t]);
        }
        for (int c = 0; c < 4; c++) {
            __m256i lo[4], hi[4];
            UNROLL for (int r = 0; r < R; r++) {
                const uint8_t *blk = wr[r] + (size_t)sb * bsz;
                __m256i v = _mm256_loadu_si256((const __m256i *)(blk + (five ? 48 : 16) + 32 * c));
                lo[r] = _mm256_and_si256(v, m4);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                if (five) { /* bit 2c / 2c+1 of qh[l] is the fifth bit */
                    __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16));
                    __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one);
                    __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one);
                    lo[r] = _mm256_or_si256(lo[r], _mm256_slli_epi16(h0, 4));
                    hi[r] = _mm256_or_si256(hi[r], _mm256_slli_epi16(h1, 4));
                }
            }
            const __m256i i0 = _mm256_set1_epi32(2 * c), i1 = _mm256_set1_epi32(2 * c + 1);
            UNROLL for (int t = 0; t < T; t++) {
                const int64_t b = sb * 8 + 2 * c;
                const __m256 dx8 = _mm256_loadu_ps(xd[t] + sb * 8);
                __m256i x0 = xload(xq[t] + 32 * b), x1 = xload(xq[t] + 32 * b + 32);
                UNROLL for (int r = 0; r < R; r++) {
                    const __m256 pr = _mm256_mul_ps(scf[r], dx8);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_us(lo[r], x0)),
                                                _mm256_permutevar8x32_ps(pr, i0), acc[r][t]);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_us(hi[r], x1)),
                                                _mm256_permutevar8x32_ps(pr, i1), acc[r][t]);
                }
            }
        }
    }
    XQ_STORE();
}

INLINE void q4_k_tile(const fg_mm_task *tk, int64_t r, int t, const int R, const int T) { kq45_tile(tk, r, t, R, T, false); }
INLINE void q5_k_tile(const fg_mm_task *tk, int64_t r, int t, const int R, const int T) { kq45_tile(tk, r, t, R, T, true); }

INLINE void q6_k_tile(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T)
{
    XQ_SETUP();
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), k32 = _mm256_set1_epi8(32);
    for (int64_t sb = 0; sb < cols / 256; sb++) {
        __m256 scf[4][2]; /* d * sc_j, j = 0-7 and 8-15 */
        UNROLL for (int r = 0; r < R; r++) {
            const fg_block_q6_k *q = (const fg_block_q6_k *)wr[r] + sb;
            PREFETCH(q); /* every line of the 210 bytes */
            PREFETCH((const uint8_t *)q + 64);
            PREFETCH((const uint8_t *)q + 128);
            PREFETCH((const uint8_t *)q + 192);
            __m256 d = _mm256_set1_ps(h2f(q->d));
            __m128i s16 = _mm_loadu_si128((const __m128i *)q->scales);
            scf[r][0] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(s16)), d);
            scf[r][1] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(s16, 8))), d);
        }
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) { /* 32 elements 128h + 32k: sub-blocks 8h + 2k, +1 */
                __m256i wv[4];
                UNROLL for (int r = 0; r < R; r++) {
                    const fg_block_q6_k *q = (const fg_block_q6_k *)wr[r] + sb;
                    __m256i l = _mm256_loadu_si256((const __m256i *)(q->ql + 64 * h + 32 * (k & 1)));
                    __m256i hb = _mm256_loadu_si256((const __m256i *)(q->qh + 32 * h));
                    if (k >= 2) l = _mm256_srli_epi16(l, 4);
                    hb = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), m3);
                    __m256i v = _mm256_or_si256(_mm256_and_si256(l, m4), _mm256_slli_epi16(hb, 4));
                    wv[r] = _mm256_sub_epi8(v, k32);
                }
                const __m256i idx = _mm256_setr_epi32(2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1);
                UNROLL for (int t = 0; t < T; t++) {
                    const int64_t b = sb * 8 + 4 * h + k;
                    __m256i xv = xload(xq[t] + 32 * b);
                    const __m256 dx = _mm256_set1_ps(xd[t][b]);
                    UNROLL for (int r = 0; r < R; r++) {
                        __m256 s = _mm256_mul_ps(_mm256_permutevar8x32_ps(scf[r][h], idx), dx);
                        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_ss(wv[r], xv)), s, acc[r][t]);
                    }
                }
            }
        }
    }
    XQ_STORE();
}

DEFINE_ROWS(rows_q8_0, q8_0_tile, tk->xq_stride)
DEFINE_ROWS(rows_q4_0, q4_0_tile, tk->xq_stride)
DEFINE_ROWS(rows_q4_k, q4_k_tile, tk->xq_stride)
DEFINE_ROWS(rows_q5_k, q5_k_tile, tk->xq_stride)
DEFINE_ROWS(rows_q6_k, q6_k_tile, tk->xq_stride)

/* ---- activation quantization ------------------------------------------------------------ */

static size_t prep_bytes(fg_dtype dt, int64_t cols, int n)
{
    return fg_dtype_is_quant(dt) ? fg_xq_stride(cols) * (size_t)n : 0;
}

/* xq of one row: per block of 32, d = max|x| / 127, q = round(x * (1/d)), s = d * sum(q) */
static void xq_row(const float *x, int64_t cols, uint8_t *dst)
{
    int8_t *q = (int8_t *)dst;
    float *d = (float *)(dst + cols), *s = d + cols / 32;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < cols / 32; b++) {
        __m256 v[4];
        __m256 a = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 32 * b + 8 * k);
            a = _mm256_max_ps(a, _mm256_and_ps(v[k], absmask));
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        float db = _mm_cvtss_f32(m) / 127.0f, id = db > 0 ? 1.0f / db : 0.0f;
        __m256i i[4];
        for (int k = 0; k < 4; k++) i[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], _mm256_set1_ps(id)));
        /* pack to bytes: packs works per 128-bit lane, so fix the order with a permute */
        __m256i p01 = _mm256_packs_epi32(i[0], i[1]), p23 = _mm256_packs_epi32(i[2], i[3]);
        __m256i p = _mm256_packs_epi16(p01, p23);
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + 32 * b), p);
        __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        d[b] = db;
        s[b] = db * (float)_mm_cvtsi128_si32(s4);
    }
}

static void prep(const fg_mm_task *t, int ith, int nth)
{
    for (int i = ith; i < t->n; i += nth)
        xq_row(t->x + (size_t)i * t->w->cols, t->w->cols, t->xq + (size_t)i * t->xq_stride);
}

const fg_mm_kernels fg_mm_avx2 = {
    .rows = {
        [FG_DT_F32] = rows_f32, [FG_DT_F16] = rows_f16, [FG_DT_BF16] = rows_bf16,
        [FG_DT_Q8_0] = rows_q8_0, [FG_DT_Q4_0] = rows_q4_0, [FG_DT_Q4_K] = rows_q4_k,
        [FG_DT_Q5_K] = rows_q5_k, [FG_DT_Q6_K] = rows_q6_k,
    },
    .prep_bytes = prep_bytes,
    .prep = prep,
    .row_align = 4,
};
