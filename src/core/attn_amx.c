/* Attention of a prefill batch on AMX tiles (path avx512amx): the scores q · k of the
 * query heads of one kv head against its cached keys, and the weighted sum of its cached
 * values, in BF16 parts with FP32 sums.
 *
 * Why: in a long prefill attention is most of the work (a 3900-token prompt spent about
 * half its time there: the scores ~54 %, the weighted sum ~36 %, the softmax the rest),
 * and the vector kernels (fg_vec_dot_rows, fg_vec_axpy_rows) run ~10-14 MACs a cycle:
 * each cached row meets only the few query heads of its group, and every score needs a
 * horizontal sum. On the tiles:
 *   scores: the keys are the A operand in their stored order (16 keys × 32 dimensions a
 *       tile), the query heads the B operand (up to 16 columns), so C holds 16 keys × 16
 *       heads with no reduction; its columns, one 16 × 16 transpose away, are the heads'
 *       score rows;
 *   weighted sum: the heads' probabilities are A (16 heads × 32 keys, in their row
 *       order), the values B (per 32 keys and 16 dimensions, key pairs interleaved per
 *       dimension), C = 16 heads × 16 dimensions, four C tiles (64 dimensions) per pass
 *       over the keys.
 *
 * Precision: as matmul_amx.c does for F16 weights, both factors go in as two BF16 parts:
 * a cached F16 value (11 significant bits) is hi + lo exactly, an FP32 factor (a query,
 * a probability) is hi + lo to 2^-16 of itself, and the tiles sum hi·hi + hi·lo + lo·hi
 * (lo·lo, below 2^-16 of a product, is left out): each result lands within ~3 · 2^-16 of
 * the sum of |products| (the vector kernels: FP32 rounding alone).
 *
 * Layouts (4 · d bytes per cached position each, in the thread's attention slice): keys
 * per block of 16, per 32-dimension step, the hi tile then the lo tile (16 rows of 32
 * BF16 = 1 KB each); values per block of 32, per 16-dimension slice, hi then lo (row i:
 * keys 2i and 2i + 1 of each dimension). Both are converted once per chunk, kv head
 * and window of positions (forward.c: FG_ATTN_AMX_WINDOW, an online softmax across the
 * windows) and then serve every query token of the chunk. The query heads' B tiles are built per
 * call on the stack (at most 16 KB), the probabilities' A tiles per 32 keys (2 KB).
 *
 * Only reached on path avx512amx (forward.c checks fg_isa_active); built with the AMX
 * instructions like every *_amx.c file (CMakeLists.txt). */
#include "core/core.h"
#include "core/amx-simd.h"

#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/* tile registers (literal numbers: the intrinsics paste them into the instruction) */
#define C0 0 /* scores of key block 0 of a pair: 16 keys × 16 heads */
#define C1 1 /* key block 1 */
#define AH 2 /* keys' hi parts, 16 keys × 32 dimensions */
#define AL 3 /* lo parts */
#define BH 4 /* query heads' hi parts, 16 dimension pairs × 16 heads */
#define BL 5 /* lo parts */

size_t fg_amx_keys_bytes(int64_t n_keys, int64_t d) { return (size_t)((n_keys + 31) / 32 * 32) * (size_t)d * 4; }

void fg_amx_keys(const void *rows, size_t stride, int64_t n, int64_t d, uint16_t *kb)
{
    const int64_t steps = d / 32, padded = (n + 15) / 16 * 16;
    for (int64_t i = 0; i < padded; i++) {
        uint16_t *blk = kb + (size_t)(i / 16) * (size_t)steps * 1024 + (size_t)(i % 16) * 32;
        const uint16_t *r = (const uint16_t *)((const uint8_t *)rows + (size_t)i * stride);
        for (int64_t s = 0; s < steps; s++) {
            __m512i h = _mm512_setzero_si512(), l = h;
            if (i < n) {
                const __m512 a = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + 32 * s)));
                const __m512 b = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + 32 * s + 16)));
                h = fg_bf16_part(a, b, 0);
                l = fg_bf16_part(a, b, 1);
            }
            _mm512_storeu_si512(blk + (size_t)s * 1024, h);
            _mm512_storeu_si512(blk + (size_t)s * 1024 + 512, l);
        }
    }
}

/* the 16 × 16 scores of C (keys × heads, row-major at c) to out: head g's row, keys
 * k0 .. k0 + nk - 1 */
INLINE void scores_out(const float *c, int nq, float scale, float *out, int64_t ld, int64_t k0, int64_t nk)
{
    __m512i r[16];
    UNROLL for (int i = 0; i < 16; i++) r[i] = _mm512_load_si512(c + 16 * i);
    fg_transpose16(r);
    const __mmask16 m = nk >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nk) - 1);
    const __m512 vs = _mm512_set1_ps(scale);
    for (int g = 0; g < nq; g++)
        _mm512_mask_storeu_ps(out + (size_t)g * (size_t)ld + k0, m, _mm512_mul_ps(_mm512_castsi512_ps(r[g]), vs));
}

/* the three products of one 32-dimension step into C (A holds the keys' step) */
#define STEP_PRODUCTS(C)              \
    do {                              \
        _tile_dpbf16ps(C, AH, BH);    \
        _tile_dpbf16ps(C, AH, BL);    \
        _tile_dpbf16ps(C, AL, BH);    \
    } while (0)

void fg_amx_scores(const float *q, int nq, const uint16_t *kb, int64_t n, int64_t d, float scale, float *out,
                   int64_t ld)
{
    const int64_t steps = d / 32;
    _Alignas(64) uint8_t bq[FG_VEC_MAX_D / 32][2][1024];
    for (int64_t s = 0; s < steps; s++)
        for (int part = 0; part < 2; part++) {
            __m512i r[16];
            UNROLL for (int h = 0; h < 16; h++) {
                if (h < nq) {
                    const float *x = q + (size_t)h * (size_t)d + 32 * s;
                    r[h] = fg_bf16_part(_mm512_loadu_ps(x), _mm512_loadu_ps(x + 16), part);
                } else {
                    r[h] = _mm512_setzero_si512();
                }
            }
            fg_transpose16(r);
            UNROLL for (int p = 0; p < 16; p++) _mm512_store_si512(bq[s][part] + 64 * p, r[p]);
        }
    fg_amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 6; i++) cfg.rows[i] = 16, cfg.colsb[i] = 64;
    _tile_loadconfig(&cfg);
    _Alignas(64) float c[2][256];
    const size_t blk = (size_t)steps * 1024; /* BF16 values per block of 16 keys */
    for (int64_t k0 = 0; k0 < n; k0 += 32) {
        const uint16_t *b0 = kb + (size_t)(k0 / 16) * blk, *b1 = b0 + blk;
        const bool two = k0 + 16 < n;
        _tile_zero(C0);
        _tile_zero(C1);
        for (int64_t s = 0; s < steps; s++) {
            _tile_loadd(BH, bq[s][0], 64);
            _tile_loadd(BL, bq[s][1], 64);
            _tile_loadd(AH, b0 + s * 1024, 64);
            _tile_loadd(AL, b0 + s * 1024 + 512, 64);
            STEP_PRODUCTS(C0);
            if (two) {
                _tile_loadd(AH, b1 + s * 1024, 64);
                _tile_loadd(AL, b1 + s * 1024 + 512, 64);
                STEP_PRODUCTS(C1);
            }
        }
        _tile_stored(C0, c[0], 64);
        scores_out(c[0], nq, scale, out, ld, k0, n - k0);
        if (two) {
            _tile_stored(C1, c[1], 64);
            scores_out(c[1], nq, scale, out, ld, k0 + 16, n - k0 - 16);
        }
    }
    _tile_release();
}

/* ---- the weighted sum of the values: y_g += sum over keys p of w[g][p] * value_p ------- */

/* per block of 32 keys, per 16-dimension slice, the hi then the lo tile: row i holds
 * keys 2i and 2i + 1 of each of the 16 dimensions, interleaved (the B operand's pairs) */
void fg_amx_values(const void *rows, size_t stride, int64_t n, int64_t d, uint16_t *vb)
{
    const int64_t slices = d / 16, padded = (n + 31) / 32 * 32;
    /* words (a0, b0, a1, b1, ...) from [a0 .. a15 | b0 .. b15] */
    const __m512i ilv = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21,
                                         5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int64_t i = 0; i < padded; i += 2) {
        uint16_t *blk = vb + (size_t)(i / 32) * (size_t)slices * 1024 + (size_t)(i % 32 / 2) * 32;
        const uint16_t *r0 = (const uint16_t *)((const uint8_t *)rows + (size_t)i * stride);
        const uint16_t *r1 = (const uint16_t *)((const uint8_t *)r0 + stride);
        for (int64_t c = 0; c < slices; c++) {
            const __m512 a = i < n ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r0 + 16 * c))) : _mm512_setzero_ps();
            const __m512 b = i + 1 < n ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r1 + 16 * c)))
                                       : _mm512_setzero_ps();
            _mm512_storeu_si512(blk + (size_t)c * 1024, _mm512_permutexvar_epi16(ilv, fg_bf16_part(a, b, 0)));
            _mm512_storeu_si512(blk + (size_t)c * 1024 + 512, _mm512_permutexvar_epi16(ilv, fg_bf16_part(a, b, 1)));
        }
    }
}

#define SLICES 4 /* C tiles per pass over the keys: 64 dimensions */

void fg_amx_weighted(float *y, const float *w, int nq, int64_t ld, const uint16_t *vb, int64_t n, int64_t d)
{
    const int64_t slices = d / 16;
    const size_t blk = (size_t)slices * 1024; /* BF16 values per block of 32 keys */
    fg_amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) cfg.rows[i] = 16, cfg.colsb[i] = 64;
    _tile_loadconfig(&cfg);
    _Alignas(64) uint16_t a[2][16][32];
    _Alignas(64) float c[16][16];
    memset(a, 0, sizeof a); /* the rows of heads past nq stay 0 */
    for (int64_t c0 = 0; c0 < slices; c0 += SLICES) {
        const int ns = slices - c0 < SLICES ? (int)(slices - c0) : SLICES;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t k0 = 0; k0 < n; k0 += 32) {
            /* A: the weights of keys k0 .. k0 + 31 per head, as hi and lo parts */
            const int64_t left = n - k0;
            const __mmask16 m0 = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            const __mmask16 m1 = left >= 32 ? (__mmask16)0xFFFF : left > 16 ? (__mmask16)((1u << (left - 16)) - 1) : 0;
            for (int h = 0; h < nq; h++) {
                const __m512 lo = _mm512_maskz_loadu_ps(m0, w + (size_t)h * (size_t)ld + k0);
                const __m512 hi = _mm512_maskz_loadu_ps(m1, w + (size_t)h * (size_t)ld + k0 + 16);
                _mm512_store_si512(a[0][h], fg_bf16_part(lo, hi, 0));
                _mm512_store_si512(a[1][h], fg_bf16_part(lo, hi, 1));
            }
            _tile_loadd(4, a[0], 64);
            _tile_loadd(5, a[1], 64);
            const uint16_t *b = vb + (size_t)(k0 / 32) * blk + (size_t)c0 * 1024;
#define SLICE_PRODUCTS(C)                             \
    do {                                              \
        _tile_loadd(6, b + (C) * 1024, 64);           \
        _tile_loadd(7, b + (C) * 1024 + 512, 64);     \
        _tile_dpbf16ps(C, 4, 6);                      \
        _tile_dpbf16ps(C, 4, 7);                      \
        _tile_dpbf16ps(C, 5, 6);                      \
    } while (0)
            SLICE_PRODUCTS(0);
            if (ns > 1) SLICE_PRODUCTS(1);
            if (ns > 2) SLICE_PRODUCTS(2);
            if (ns > 3) SLICE_PRODUCTS(3);
#undef SLICE_PRODUCTS
        }
        for (int j = 0; j < ns; j++) {
            switch (j) { /* the tile number is part of the instruction */
            case 0: _tile_stored(0, c, 64); break;
            case 1: _tile_stored(1, c, 64); break;
            case 2: _tile_stored(2, c, 64); break;
            default: _tile_stored(3, c, 64); break;
            }
            for (int h = 0; h < nq; h++) {
                float *yh = y + (size_t)h * (size_t)d + 16 * (c0 + j);
                _mm512_storeu_ps(yh, _mm512_add_ps(_mm512_loadu_ps(yh), _mm512_load_ps(c[h])));
            }
        }
    }
    _tile_release();
}
