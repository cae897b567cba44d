/* AVX-512 prefill kernel for quantized weights: tokens in the vector lanes.
 *
 * vpdpbusd multiplies 4 unsigned bytes by 4 signed bytes in each of 16 int32 lanes. Here
 * lane j is token j of a tile of 16 tokens, and the 4 signed bytes are the same 4 weight
 * levels for every lane, broadcast from memory (the instruction's {1to16} operand, no
 * extra uop). One 64-byte activation vector then serves R = 8 weight rows, and every
 * instruction does 64 useful multiply-adds: no per-(row, token) scale or shuffle work
 * inside the dot products, unlike the row-tile kernels used for a handful of tokens.
 *
 * Activations ("tok" layout, per tile of 16 tokens, 20 * cols bytes):
 *     uint8 X[cols/4][16][4]   X[g][j] = the 4 levels (q + 128) of token j, elements 4g..4g+3
 *     float D[cols/32][16]     per block of 32 and token: the scale d (max|x| / 127)
 *     float S[cols/32][16]     d * sum(q): the block's sum, for the K-quant mins
 * Tokens past n in the last tile are zero (levels 128, d = 0).
 *
 * Weights are decoded, per row and super-block (or 8 blocks of 32), into signed levels
 * on the stack plus per-group integers and floats:
 *     lv    the levels, signed (Q4_0: q - 8, Q6_K: q - 32, Q8_0 as stored, Q4_K/Q5_K q)
 *     corr  -128 * sum(levels) per group: with X biased by +128, the dot product is
 *           sum((x + 128) w) = sum(x w) + 128 sum(w), so corr starts the accumulator
 *     sc    the group's float scale (d, or d * sub-block scale)
 *     mn    K-quants: -dmin * m, multiplied by the token's block sum S
 * A group is 32 elements, or 16 for Q6_K (its scales are per 16).
 * Rows are taken 8 at a time (the last group repeats its last row and drops it); each
 * group decodes its weights once per token block (up to 32 tiles whose activations stay
 * in the last-level cache) and runs every tile of the block over them. */
#include "core/matmul-impl.h"
#include "core/quant-impl.h"
#include "core/quant-simd.h"

#include <immintrin.h>
#include <string.h>

#define TR 8                      /* weight rows per micro-kernel */
#define TOK_L3_BYTES (8u << 20)   /* activation bytes per token block */
#define MAX_TILES 32              /* tiles per token block: 512 tokens, 16 KB of accumulators */

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

static inline size_t tile_bytes(int64_t cols) { return (size_t)cols * 20; }

size_t fg_tok_avx512_bytes(int64_t cols, int n) { return tile_bytes(cols) * (size_t)((n + 15) / 16); }

/* ---- activations ---------------------------------------------------------------------- */

/* One 32-element block of one token: 32 biased levels, d and d * sum(q). */
INLINE void quant_block(const float *x, uint8_t out[32], float *d, float *s)
{
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, absmask), _mm512_and_ps(v1, absmask)));
    float db = amax / 127.0f, id = db > 0 ? 1.0f / db : 0.0f;
    __m512 vid = _mm512_set1_ps(id);
    __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
    __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
    *s = db * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
    *d = db;
    const __m512i b128 = _mm512_set1_epi32(128);
    _mm_storeu_si128((__m128i *)out, _mm512_cvtusepi32_epi8(_mm512_add_epi32(i0, b128)));
    _mm_storeu_si128((__m128i *)(out + 16), _mm512_cvtusepi32_epi8(_mm512_add_epi32(i1, b128)));
}

/* 16 rows of 8 dwords (q[j] = token j's 32 bytes) -> 8 vectors of 16 dwords (dword g of
 * every token), stored at dst + 64 g. Two 8x8 transposes side by side (tokens 0-7 in
 * the low 256 bits, 8-15 in the high): unpack 32-bit, unpack 64-bit, then 128-bit lanes. */
INLINE void transpose_store(uint8_t q[16][32], uint8_t *dst)
{
    __m512i r[8], t[8], u[8];
    UNROLL for (int i = 0; i < 8; i++)
        r[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)q[i])),
                                  _mm256_loadu_si256((const __m256i *)q[i + 8]), 1);
    UNROLL for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* u[0..3]: rows 0-3 (per half), dwords {0,4}, {1,5}, {2,6}, {3,7}; u[4..7]: rows 4-7 */
    UNROLL for (int h = 0; h < 2; h++) {
        u[4 * h + 0] = _mm512_unpacklo_epi64(t[4 * h + 0], t[4 * h + 2]);
        u[4 * h + 1] = _mm512_unpackhi_epi64(t[4 * h + 0], t[4 * h + 2]);
        u[4 * h + 2] = _mm512_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
        u[4 * h + 3] = _mm512_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
    }
    const __m512i lo = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    const __m512i hi = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    UNROLL for (int k = 0; k < 4; k++) {
        /* dword k of rows 0-3 | rows 4-7 | rows 8-11 | rows 12-15, and the same for k + 4 */
        _mm512_storeu_si512(dst + 64 * k, _mm512_permutex2var_epi64(u[k], lo, u[4 + k]));
        _mm512_storeu_si512(dst + 64 * (k + 4), _mm512_permutex2var_epi64(u[k], hi, u[4 + k]));
    }
}

void fg_tok_avx512_prep(const fg_mm_task *t, int ith, int nth)
{
    const int64_t cols = t->w->cols, nb = cols / 32;
    const int ntiles = (t->n + 15) / 16;
    for (int tile = ith; tile < ntiles; tile += nth) {
        uint8_t *base = t->xq + (size_t)tile * tile_bytes(cols);
        float *D = (float *)(base + 16 * cols), *S = D + nb * 16;
        for (int64_t b = 0; b < nb; b++) {
            uint8_t q[16][32];
            for (int j = 0; j < 16; j++) {
                int tok = tile * 16 + j;
                if (tok < t->n) {
                    quant_block(t->x + (size_t)tok * cols + 32 * b, q[j], &D[b * 16 + j], &S[b * 16 + j]);
                } else {
                    memset(q[j], 128, 32);
                    D[b * 16 + j] = 0;
                    S[b * 16 + j] = 0;
                }
            }
            transpose_store(q, base + (size_t)b * 512);
        }
    }
}

/* ---- weight decoding -------------------------------------------------------------------- */

typedef struct {
    int8_t lv[TR][256];
    int32_t corr[TR][16];
    float sc[TR][16];
    float mn[TR][8];
} unit;

/* sum of 32 unsigned bytes */
INLINE int sum_u8_32(__m256i v)
{
    __m256i s = _mm256_sad_epu8(v, _mm256_setzero_si256());
    __m128i a = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (int)(_mm_cvtsi128_si32(a) + _mm_extract_epi32(a, 2));
}

/* sums of the two 16-byte halves of 32 unsigned bytes */
INLINE void sum_u8_16x2(__m256i v, int *lo, int *hi)
{
    __m256i s = _mm256_sad_epu8(v, _mm256_setzero_si256());
    __m128i a = _mm256_castsi256_si128(s), b = _mm256_extracti128_si256(s, 1);
    *lo = _mm_cvtsi128_si32(a) + _mm_extract_epi32(a, 2);
    *hi = _mm_cvtsi128_si32(b) + _mm_extract_epi32(b, 2);
}

INLINE float h2f(uint16_t h) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))); }

/* blocks [b0, b0 + nblk) of row r, nblk <= 8 */
INLINE void decode_q8_0(unit *u, int r, const uint8_t *row, int64_t b0, int nblk)
{
    const fg_block_q8_0 *q = (const fg_block_q8_0 *)row + b0;
    const __m256i k80 = _mm256_set1_epi8((char)0x80);
    for (int k = 0; k < nblk; k++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)q[k].qs);
        _mm256_storeu_si256((__m256i *)(u->lv[r] + 32 * k), v);
        u->corr[r][k] = -128 * (sum_u8_32(_mm256_xor_si256(v, k80)) - 32 * 128);
        u->sc[r][k] = h2f(q[k].d);
    }
}

INLINE void decode_q4_0(unit *u, int r, const uint8_t *row, int64_t b0, int nblk)
{
    const fg_block_q4_0 *q = (const fg_block_q4_0 *)row + b0;
    const __m128i m4 = _mm_set1_epi8(15);
    for (int k = 0; k < nblk; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)q[k].qs);
        __m256i lv = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m4)),
                                             _mm_and_si128(_mm_srli_epi16(v, 4), m4), 1);
        _mm256_storeu_si256((__m256i *)(u->lv[r] + 32 * k), _mm256_sub_epi8(lv, _mm256_set1_epi8(8)));
        u->corr[r][k] = -128 * (sum_u8_32(lv) - 32 * 8);
        u->sc[r][k] = h2f(q[k].d);
    }
}

/* Q4_K / Q5_K super-block: levels q (0..31), scales d * sc_j, mins -dmin * m_j */
INLINE void decode_kq45(unit *u, int r, const uint8_t *blk, bool five)
{
    uint16_t d16, dm16;
    memcpy(&d16, blk, 2);
    memcpy(&dm16, blk + 2, 2);
    float d = h2f(d16), dmin = h2f(dm16);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        fg_kq_scale_min(blk + 4, j, &sc, &m);
        u->sc[r][j] = d * (float)sc;
        u->mn[r][j] = -dmin * (float)m;
    }
    const uint8_t *qs = blk + (five ? 48 : 16);
    const __m256i m4 = _mm256_set1_epi8(15), k16 = _mm256_set1_epi8(16);
    __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
    UNROLL for (int c = 0; c < 4; c++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        if (five) {
            lo = _mm256_mask_add_epi8(lo, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (2 * c)))), lo, k16);
            hi = _mm256_mask_add_epi8(hi, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(2 << (2 * c)))), hi, k16);
        }
        _mm256_storeu_si256((__m256i *)(u->lv[r] + 64 * c), lo);
        _mm256_storeu_si256((__m256i *)(u->lv[r] + 64 * c + 32), hi);
        u->corr[r][2 * c] = -128 * sum_u8_32(lo);
        u->corr[r][2 * c + 1] = -128 * sum_u8_32(hi);
    }
}

/* Q6_K super-block: levels q - 32, per-16 scales d * sc and corrections */
INLINE void decode_q6_k(unit *u, int r, const uint8_t *blk)
{
    const fg_block_q6_k *q = (const fg_block_q6_k *)blk;
    float d = h2f(q->d);
    for (int j = 0; j < 16; j++) u->sc[r][j] = d * (float)q->scales[j];
    const __m256i k32 = _mm256_set1_epi8(32);
    UNROLL for (int h = 0; h < 2; h++) {
        __m256i v[4];
        fg_q6_k_levels(q, h, v);
        UNROLL for (int k = 0; k < 4; k++) {
            _mm256_storeu_si256((__m256i *)(u->lv[r] + 128 * h + 32 * k), _mm256_sub_epi8(v[k], k32));
            int lo, hi;
            sum_u8_16x2(v[k], &lo, &hi);
            u->corr[r][8 * h + 2 * k] = -128 * (lo - 16 * 32);
            u->corr[r][8 * h + 2 * k + 1] = -128 * (hi - 16 * 32);
        }
    }
}

/* ---- the micro-kernel -------------------------------------------------------------------- */

/* Accumulates blocks [0, nblk) of a decoded unit into acc (one vector of 16 tokens per
 * row). X, D, S point at the unit's first block in the tile. kind: 0 scale per 32
 * (Q8_0, Q4_0), 1 scale and min per 32 (Q4_K, Q5_K), 2 scale per 16 (Q6_K). */
INLINE void unit_dot(const unit *u, int nblk, const uint8_t *X, const float *D, const float *S, __m512 acc[TR],
                     const int kind)
{
    for (int k = 0; k < nblk; k++) {
        const __m512 dx = _mm512_loadu_ps(D + 16 * k);
        const uint8_t *xb = X + 512 * k;
        if (kind == 2) {
            UNROLL for (int half = 0; half < 2; half++) {
                __m512i dot[TR];
                UNROLL for (int r = 0; r < TR; r++) dot[r] = _mm512_set1_epi32(u->corr[r][2 * k + half]);
                UNROLL for (int g = 0; g < 4; g++) {
                    const __m512i xv = _mm512_loadu_si512(xb + 64 * (4 * half + g));
                    UNROLL for (int r = 0; r < TR; r++) {
                        int32_t wq;
                        memcpy(&wq, u->lv[r] + 32 * k + 16 * half + 4 * g, 4);
                        dot[r] = _mm512_dpbusd_epi32(dot[r], xv, _mm512_set1_epi32(wq));
                    }
                }
                UNROLL for (int r = 0; r < TR; r++)
                    acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r]),
                                             _mm512_mul_ps(dx, _mm512_set1_ps(u->sc[r][2 * k + half])), acc[r]);
            }
        } else {
            __m512i dot[TR];
            UNROLL for (int r = 0; r < TR; r++) dot[r] = _mm512_set1_epi32(u->corr[r][k]);
            UNROLL for (int g = 0; g < 8; g++) {
                const __m512i xv = _mm512_loadu_si512(xb + 64 * g);
                UNROLL for (int r = 0; r < TR; r++) {
                    int32_t wq;
                    memcpy(&wq, u->lv[r] + 32 * k + 4 * g, 4);
                    dot[r] = _mm512_dpbusd_epi32(dot[r], xv, _mm512_set1_epi32(wq));
                }
            }
            UNROLL for (int r = 0; r < TR; r++)
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r]), _mm512_mul_ps(dx, _mm512_set1_ps(u->sc[r][k])),
                                         acc[r]);
            if (kind == 1) {
                const __m512 sv = _mm512_loadu_ps(S + 16 * k);
                UNROLL for (int r = 0; r < TR; r++) acc[r] = _mm512_fmadd_ps(sv, _mm512_set1_ps(u->mn[r][k]), acc[r]);
            }
        }
    }
}

/* One group of TR rows (row pointers rows[], nr of them real) against tiles [tb0, tb1)
 * (at most MAX_TILES): each unit of weights is decoded once and used by every tile,
 * whose accumulators live in acc_mem between units. */
INLINE void group_kernel(const fg_mm_task *tk, const uint8_t *const rows[TR], int nr, int64_t r0, int tb0, int tb1,
                         const fg_dtype dt)
{
    const int64_t cols = tk->w->cols, nb = cols / 32;
    __m512 acc_mem[MAX_TILES][TR];
    for (int i = 0; i < tb1 - tb0; i++)
        UNROLL for (int r = 0; r < TR; r++) acc_mem[i][r] = _mm512_setzero_ps();
    unit u;
    for (int64_t b0 = 0; b0 < nb; b0 += 8) {
        const int nblk = nb - b0 < 8 ? (int)(nb - b0) : 8;
        int kind = 0;
        switch (dt) {
        case FG_DT_Q8_0:
            for (int r = 0; r < TR; r++) decode_q8_0(&u, r, rows[r], b0, nblk);
            break;
        case FG_DT_Q4_0:
            for (int r = 0; r < TR; r++) decode_q4_0(&u, r, rows[r], b0, nblk);
            break;
        case FG_DT_Q4_K:
            for (int r = 0; r < TR; r++) decode_kq45(&u, r, rows[r] + (size_t)(b0 / 8) * sizeof(fg_block_q4_k), false);
            kind = 1;
            break;
        case FG_DT_Q5_K:
            for (int r = 0; r < TR; r++) decode_kq45(&u, r, rows[r] + (size_t)(b0 / 8) * sizeof(fg_block_q5_k), true);
            kind = 1;
            break;
        default: /* Q6_K */
            for (int r = 0; r < TR; r++) decode_q6_k(&u, r, rows[r] + (size_t)(b0 / 8) * sizeof(fg_block_q6_k));
            kind = 2;
            break;
        }
        for (int tile = tb0; tile < tb1; tile++) {
            const uint8_t *base = tk->xq + (size_t)tile * tile_bytes(cols);
            const float *D = (const float *)(base + 16 * cols), *S = D + nb * 16;
            __m512 acc[TR];
            UNROLL for (int r = 0; r < TR; r++) acc[r] = acc_mem[tile - tb0][r];
            if (kind == 0)
                unit_dot(&u, nblk, base + 512 * b0, D + 16 * b0, S + 16 * b0, acc, 0);
            else if (kind == 1)
                unit_dot(&u, 8, base + 512 * b0, D + 16 * b0, S + 16 * b0, acc, 1);
            else
                unit_dot(&u, 8, base + 512 * b0, D + 16 * b0, S + 16 * b0, acc, 2);
            UNROLL for (int r = 0; r < TR; r++) acc_mem[tile - tb0][r] = acc[r];
        }
    }
    const int64_t ldy = tk->w->rows;
    for (int tile = tb0; tile < tb1; tile++) {
        const int t0 = tile * 16;
        const int nt = tk->n - t0 < 16 ? tk->n - t0 : 16;
        for (int r = 0; r < nr; r++) {
            float v[16];
            _mm512_storeu_ps(v, acc_mem[tile - tb0][r]);
            for (int j = 0; j < nt; j++) tk->y[(size_t)(t0 + j) * ldy + r0 + r] = v[j];
        }
    }
}

#define DEFINE_TOK_ROWS(name, DT)                                                                  \
    static void name(const fg_mm_task *tk, int64_t r0, int64_t r1)                                 \
    {                                                                                              \
        const fg_mat *w = tk->w;                                                                   \
        const int ntiles = (tk->n + 15) / 16;                                                      \
        size_t tb = TOK_L3_BYTES / tile_bytes(w->cols);                                            \
        const int tiles_per_block = tb < 1 ? 1 : tb > MAX_TILES ? MAX_TILES : (int)tb;             \
        for (int tb0 = 0; tb0 < ntiles; tb0 += tiles_per_block) {                                  \
            const int tb1 = tb0 + tiles_per_block < ntiles ? tb0 + tiles_per_block : ntiles;       \
            for (int64_t r = r0; r < r1; r += TR) {                                                \
                const int nr = r1 - r < TR ? (int)(r1 - r) : TR;                                   \
                const uint8_t *rows[TR];                                                           \
                for (int i = 0; i < TR; i++)                                                       \
                    rows[i] = (const uint8_t *)w->data + (size_t)(r + (i < nr ? i : nr - 1)) * w->row_stride; \
                group_kernel(tk, rows, nr, r, tb0, tb1, DT);                                       \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_TOK_ROWS(tok_q8_0, FG_DT_Q8_0)
DEFINE_TOK_ROWS(tok_q4_0, FG_DT_Q4_0)
DEFINE_TOK_ROWS(tok_q4_k, FG_DT_Q4_K)
DEFINE_TOK_ROWS(tok_q5_k, FG_DT_Q5_K)
DEFINE_TOK_ROWS(tok_q6_k, FG_DT_Q6_K)

void fg_tok_avx512_rows(const fg_mm_task *t, int64_t r0, int64_t r1)
{
    switch (t->w->dtype) {
    case FG_DT_Q8_0: tok_q8_0(t, r0, r1); break;
    case FG_DT_Q4_0: tok_q4_0(t, r0, r1); break;
    case FG_DT_Q4_K: tok_q4_k(t, r0, r1); break;
    case FG_DT_Q5_K: tok_q5_k(t, r0, r1); break;
    case FG_DT_Q6_K: tok_q6_k(t, r0, r1); break;
    default: break;
    }
}
