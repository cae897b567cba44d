/* Attention scores of a prefill batch on AMX tiles (path avx512amx): q · k for the query
 * heads of one kv head against its cached keys, in BF16 parts with FP32 sums.
 *
 * Why: in a long prefill the scores are most of the work (a 3900-token prompt spends
 * about half its time in attention, the scores ~54 % of that), and the vector kernel
 * (fg_vec_dot_rows) runs ~10 MACs a cycle: each key row meets only the few query heads
 * of its group, and every result needs a horizontal sum. On the tiles the keys are the
 * A operand in their stored order (16 keys × 32 dimensions a tile) and the query heads
 * the B operand (up to 16 columns), so C holds 16 keys × 16 heads with no reduction;
 * its columns, one 16 × 16 transpose away, are the heads' score rows.
 *
 * Precision: as matmul_amx.c does for F16 weights, both factors go in as two BF16 parts:
 * a key (F16: 11 significant bits) is hi + lo exactly, a query (FP32) is hi + lo to
 * 2^-16 of itself, and the tiles sum k_hi q_hi + k_hi q_lo + k_lo q_hi (k_lo q_lo, below
 * 2^-16 of a product, is left out): each score lands within ~3 · 2^-16 of the sum of
 * |q_i k_i| (the vector kernel: FP32 rounding alone).
 *
 * Layouts: fg_amx_keys writes, per block of 16 keys, per 32-dimension step s, the hi
 * tile then the lo tile (16 rows of 32 BF16 = 1 KB each): 4 · d bytes per key. The keys
 * are converted once per chunk and kv head and then serve every query token of the
 * chunk. fg_amx_scores builds the B tiles of the query heads per call (pair-interleaved:
 * row p holds dimensions 2p, 2p + 1 of each head) on the stack (at most 16 KB).
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

size_t fg_amx_keys_bytes(int64_t n_keys, int64_t d) { return (size_t)((n_keys + 15) / 16 * 16) * (size_t)d * 4; }

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
