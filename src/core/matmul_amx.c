/* Prefill on AMX tiles (path avx512amx): quantized, F16 or BF16 weights × a batch of
 * tokens with the products on the tile unit in BF16, FP32 sums.
 *
 * Why BF16 and not the tiles' int8 products: every 32-element group of a quantized row
 * has its own scale, and so does every 32-element block of int8 activations, so an int8
 * tile product would have to leave the tiles after each group to be scaled on the
 * vector units (tried in the tenth session: one memory trip per group, 0.9–1.3× the
 * VNNI kernel). Here the weights are dequantized, scales and mins applied, to BF16 and
 * the activations are rounded to BF16 as they are: TDPBF16PS then sums a row's whole
 * length in FP32 inside the tile, and C leaves the tiles once per 512 columns.
 *
 * Precision: a BF16 value keeps 8 significant bits (relative error <= 2^-8). A Q8_0
 * weight q * d then moves by at most |q| d / 256: half the format's own step d / 2 at
 * the block's largest level, a sixth of it at a typical |q| ~ 40. An activation moves by
 * at most |x| / 256 where the int8 kernels move it by up to 1/254 of its block's largest
 * value, so only the block's largest element fares as badly. Sums are FP32 as in every
 * other kernel. On the golden models a 48-token batch lands 2-3x closer to the float64
 * reference than the int8 kernels (max |dev| of the top 3: Q8_0 0.149 against 0.296,
 * Q6_K 0.128 against 0.416; test_golden_quant).
 *
 * F16 and BF16 weights are stored to more precision than one rounding of the activations
 * keeps (a single BF16 part moved the golden BF16 checkpoint's logits by 0.139 against a
 * tolerance of 0.127), so for them each activation is two BF16 parts, x = hi + lo with
 * lo the rounded remainder (|x - hi - lo| <= 2^-16 |x|), and an F16 weight is two parts
 * exactly (11 significant bits = 8 + 3). The tiles sum w_hi x_hi + w_hi x_lo + w_lo x_hi
 * (w_lo x_lo, below 2^-16 of a product, is left out): three products per element for
 * F16, two for BF16 (w_lo = 0). The golden F16/BF16 models' batch logits then land
 * within 2e-4 of the reference (the float kernels: 1.2e-5; tolerance 0.02-0.127).
 *
 * Layouts:
 *   activations ("amx" layout, prepared per call by fg_amx_prep): per tile of 16 tokens
 *       (tiles in pairs: the last pair is completed with zero tokens), per 32-column
 *       block, 16 rows of 64 bytes: row p = the BF16 pair (x[2p], x[2p+1]) of each of the
 *       16 tokens, the pair-interleaved form a TDPBF16PS B operand takes. A tile of 16
 *       tokens is 32 * cols bytes.
 *   activations of F16/BF16 weights: the hi parts in that layout, then the lo parts
 *       (fg_amx_bytes: twice the size).
 *   weights: per thread, a panel of 32 rows × up to AMX_KC columns is dequantized to
 *       BF16 on the stack (32 KB; F16 weights' lo parts in a second one) and read as two
 *       A tiles of 16 rows per 32 columns.
 * Tiles: C00 C01 C10 C11 (rows 0-15 / 16-31 × tokens 0-15 / 16-31 of a pair), A0 A1, B0
 * B1, all 16 rows × 64 bytes. Each panel chunk runs every token pair of the call (up to
 * AMX_TT tiles at a time, whose C wait in `cbuf` between chunks: another 32 KB of stack,
 * so 96 KB per thread in all with the second panel); at the end the C tiles are
 * transposed to the output's token-major rows.
 *
 * Only reached on path avx512amx (fg_isa_supported checked AMX-TILE, AMX-BF16,
 * AVX512-BF16 and the kernel's permission for the tile state); this file alone is built
 * with those instructions (CMakeLists.txt: files named *_amx.c). */
#include "core/matmul-impl.h"
#include "core/quant-impl.h"
#include "core/quant-simd.h"
#include "core/amx-simd.h"

#include <immintrin.h>
#include <string.h>

#define AMX_PR 32   /* weight rows per panel: two A tiles */
#define AMX_KC 512  /* columns per panel chunk (a multiple of 256: whole K-quant super-blocks) */
#define AMX_TT 16   /* token tiles whose C stay in cbuf at once: 256 tokens, 32 KB */

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/* tile registers (literal numbers: the tile intrinsics paste them into the instruction) */
#define C00 0
#define C01 1
#define C10 2
#define C11 3
#define A0 4
#define A1 5
#define B0 6
#define B1 7

/* token tiles of a call of n tokens: whole pairs */
static int amx_tiles(int n) { return (n + 31) / 32 * 2; }

/* the BF16 parts each factor is split into: 1 for quantized weights (dequantized and
 * activations rounded once); F16/BF16 weights keep their precision with activations in
 * two parts (x = hi + lo + O(2^-16 x)) and F16 weights in two as well (exactly) */
static int act_parts(fg_dtype dt) { return dt == FG_DT_F16 || dt == FG_DT_BF16 ? 2 : 1; }

/* bytes of one part of the activations */
static size_t part_bytes(int64_t cols, int n) { return (size_t)amx_tiles(n) * 32 * (size_t)cols; }

size_t fg_amx_bytes(fg_dtype dt, int64_t cols, int n) { return (size_t)act_parts(dt) * part_bytes(cols, n); }

/* ---- activations ------------------------------------------------------------------------ */

void fg_amx_prep(const fg_mm_task *t, int ith, int nth)
{
    const int64_t cols = t->w->cols;
    const int ntiles = amx_tiles(t->n), parts = act_parts(t->w->dtype);
    for (int tile = ith; tile < ntiles; tile += nth)
        for (int part = 0; part < parts; part++) {
            uint8_t *base = t->xq + (size_t)part * part_bytes(cols, t->n) + (size_t)tile * 32 * (size_t)cols;
            for (int64_t kb = 0; kb < cols / 32; kb++) {
                __m512i r[16];
                UNROLL for (int j = 0; j < 16; j++) {
                    const int tok = tile * 16 + j;
                    if (tok < t->n) {
                        const float *x = t->x + (size_t)tok * cols + 32 * kb;
                        r[j] = fg_bf16_part(_mm512_loadu_ps(x), _mm512_loadu_ps(x + 16), part);
                    } else {
                        r[j] = _mm512_setzero_si512();
                    }
                }
                fg_transpose16(r);
                UNROLL for (int p = 0; p < 16; p++) _mm512_storeu_si512(base + kb * 1024 + 64 * p, r[p]);
            }
        }
}

/* ---- weights to BF16 -------------------------------------------------------------------- */

/* 32 values, lo = elements 0-15, hi = 16-31, as BF16 at out */
INLINE void put32(uint16_t *out, __m512 lo, __m512 hi)
{
    _mm512_storeu_si512(out, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* 16 signed / unsigned byte levels to floats */
INLINE __m512 lv_s(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }
INLINE __m512 lv_u(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v)); }

INLINE __m512 h2f16(uint16_t h) { return _mm512_set1_ps(_cvtsh_ss(h)); }

/* Elements [k0, k0 + kc) of a row (k0, kc multiples of the format's block) as BF16. The
 * value formulas are those of quant.c (x = d * q for Q8_0, d * (q - 8) for Q4_0,
 * d * sc * q - dmin * m for Q4_K/Q5_K, d * sc * (q - 32) for Q6_K). BF16 rows are
 * copied; F16 rows are split into out (rounded) and lo (the remainder), exactly. */
static void dequant_bf16(fg_dtype dt, const uint8_t *row, int64_t k0, int64_t kc, uint16_t *out, uint16_t *lo)
{
    switch (dt) {
    case FG_DT_Q8_0: {
        const fg_block_q8_0 *q = (const fg_block_q8_0 *)row + k0 / 32;
        for (int64_t b = 0; b < kc / 32; b++) {
            const __m512 d = h2f16(q[b].d);
            put32(out + 32 * b, _mm512_mul_ps(lv_s(_mm_loadu_si128((const __m128i *)q[b].qs)), d),
                  _mm512_mul_ps(lv_s(_mm_loadu_si128((const __m128i *)(q[b].qs + 16))), d));
        }
        break;
    }
    case FG_DT_Q4_0: {
        const fg_block_q4_0 *q = (const fg_block_q4_0 *)row + k0 / 32;
        const __m128i m4 = _mm_set1_epi8(15), k8 = _mm_set1_epi8(8);
        for (int64_t b = 0; b < kc / 32; b++) {
            const __m512 d = h2f16(q[b].d);
            const __m128i v = _mm_loadu_si128((const __m128i *)q[b].qs);
            const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, m4), k8);
            const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), k8);
            put32(out + 32 * b, _mm512_mul_ps(lv_s(lo), d), _mm512_mul_ps(lv_s(hi), d));
        }
        break;
    }
    case FG_DT_Q4_K:
    case FG_DT_Q5_K: {
        const bool five = dt == FG_DT_Q5_K;
        const size_t bs = five ? sizeof(fg_block_q5_k) : sizeof(fg_block_q4_k);
        const __m256i m4 = _mm256_set1_epi8(15), k16 = _mm256_set1_epi8(16);
        for (int64_t s = 0; s < kc / 256; s++) {
            const uint8_t *blk = row + (size_t)(k0 / 256 + s) * bs;
            uint16_t d16, dm16;
            memcpy(&d16, blk, 2);
            memcpy(&dm16, blk + 2, 2);
            const float d = _cvtsh_ss(d16), dmin = _cvtsh_ss(dm16);
            uint64_t sc8, mn8;
            fg_kq_unpack8(blk + 4, &sc8, &mn8);
            const uint8_t *qs = blk + (five ? 48 : 16);
            const __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
            uint16_t *o = out + 256 * s;
            UNROLL for (int c = 0; c < 4; c++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
                __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                if (five) {
                    lo = _mm256_mask_add_epi8(lo, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (2 * c)))), lo, k16);
                    hi = _mm256_mask_add_epi8(hi, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(2 << (2 * c)))), hi, k16);
                }
                /* sub-blocks 2c (low nibbles) and 2c + 1 (high) */
                UNROLL for (int h = 0; h < 2; h++) {
                    const int j = 2 * c + h;
                    const __m256i lv = h ? hi : lo;
                    const __m512 sc = _mm512_set1_ps(d * (float)(uint8_t)(sc8 >> (8 * j)));
                    const __m512 mn = _mm512_set1_ps(-dmin * (float)(uint8_t)(mn8 >> (8 * j)));
                    put32(o + 32 * j, _mm512_fmadd_ps(lv_u(_mm256_castsi256_si128(lv)), sc, mn),
                          _mm512_fmadd_ps(lv_u(_mm256_extracti128_si256(lv, 1)), sc, mn));
                }
            }
        }
        break;
    }
    case FG_DT_Q6_K: {
        const __m256i k32 = _mm256_set1_epi8(32);
        for (int64_t s = 0; s < kc / 256; s++) {
            const fg_block_q6_k *q = (const fg_block_q6_k *)row + k0 / 256 + s;
            const float d = _cvtsh_ss(q->d);
            uint16_t *o = out + 256 * s;
            UNROLL for (int h = 0; h < 2; h++) {
                __m256i v[4];
                fg_q6_k_levels(q, h, v);
                /* elements 128h + 32k .. + 31; scale j per 16 elements */
                UNROLL for (int k = 0; k < 4; k++) {
                    const __m256i lv = _mm256_sub_epi8(v[k], k32);
                    const int j = 8 * h + 2 * k;
                    put32(o + 128 * h + 32 * k,
                          _mm512_mul_ps(lv_s(_mm256_castsi256_si128(lv)), _mm512_set1_ps(d * (float)q->scales[j])),
                          _mm512_mul_ps(lv_s(_mm256_extracti128_si256(lv, 1)), _mm512_set1_ps(d * (float)q->scales[j + 1])));
                }
            }
        }
        break;
    }
    case FG_DT_BF16: /* already the tiles' type */
        memcpy(out, row + 2 * k0, (size_t)kc * 2);
        break;
    case FG_DT_F16: /* two parts, exactly: 11 significant bits are 8 + at most 3 */
        for (int64_t c = 0; c < kc; c += 32) {
            const uint16_t *h = (const uint16_t *)row + k0 + c;
            const __m512 a = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
            const __m512 b = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + 16)));
            _mm512_storeu_si512(out + c, fg_bf16_part(a, b, 0));
            _mm512_storeu_si512(lo + c, fg_bf16_part(a, b, 1));
        }
        break;
    default: break;
    }
}

/* ---- the kernel ------------------------------------------------------------------------- */

/* C tile (16 rows × 16 tokens, row-major at c) to the output: tokens t0.., rows r0..,
 * nt tokens and nr rows of it real */
INLINE void c_out(const float *c, float *y, int64_t ldy, int64_t r0, int t0, int nt, int nr)
{
    __m512i r[16];
    UNROLL for (int i = 0; i < 16; i++) r[i] = _mm512_load_si512(c + 16 * i);
    fg_transpose16(r);
    const __mmask16 m = (__mmask16)((1u << nr) - 1);
    for (int j = 0; j < nt; j++) _mm512_mask_storeu_ps(y + (size_t)(t0 + j) * ldy + r0, m, _mm512_castsi512_ps(r[j]));
}

/* The weight bytes the panel after (rp, k0) will read, its next chunk or the next panel's
 * first, requested now: 32 short runs of a row each, which the hardware prefetchers do
 * not pick up before they are read (one core, 8960 × 1536 Q8_0, 64 tokens: 1.26× faster
 * with this, 1.05× with two threads sharing the memory). */
static void prefetch_next(const fg_mat *w, int64_t rp, int64_t k0, int64_t r1)
{
    const bool more = k0 + AMX_KC < w->cols;
    const int64_t pk = more ? k0 + AMX_KC : 0, prp = more ? rp : rp + AMX_PR;
    const int64_t pkc = w->cols - pk < AMX_KC ? w->cols - pk : AMX_KC;
    const size_t off = fg_row_bytes(w->dtype, pk), len = fg_row_bytes(w->dtype, pkc);
    for (int64_t r = prp; r < prp + AMX_PR && r < r1; r++) {
        const char *p = (const char *)w->data + (size_t)r * w->row_stride + off;
        for (size_t o = 0; o < len; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
    }
}

/* The four C tiles of token pair (x0, x1) += the panel chunk (kc columns) times them:
 * over the weight parts wp[0 .. W) and activation parts (x + i * xpart) for i < X, the
 * products w0 x0, w0 x1 (X = 2) and w1 x0 (W = 2; w1 x1 is below 2^-16 of the sum) */
INLINE void chunk_products(const uint16_t *const wp[2], const uint8_t *x0, const uint8_t *x1, size_t xpart,
                           int64_t kc, const int W, const int X)
{
    for (int64_t kk = 0; kk < kc; kk += 32) {
        _tile_loadd(A0, wp[0] + kk, AMX_KC * 2);
        _tile_loadd(A1, wp[0] + 16 * AMX_KC + kk, AMX_KC * 2);
        UNROLL for (int xi = 0; xi < X; xi++) {
            _tile_loadd(B0, x0 + xi * xpart + kk * 32, 64);
            _tile_loadd(B1, x1 + xi * xpart + kk * 32, 64);
            _tile_dpbf16ps(C00, A0, B0);
            _tile_dpbf16ps(C01, A0, B1);
            _tile_dpbf16ps(C10, A1, B0);
            _tile_dpbf16ps(C11, A1, B1);
        }
        if (W == 2) {
            _tile_loadd(A0, wp[1] + kk, AMX_KC * 2);
            _tile_loadd(A1, wp[1] + 16 * AMX_KC + kk, AMX_KC * 2);
            if (X == 2) { /* B holds part 1: reload part 0 */
                _tile_loadd(B0, x0 + kk * 32, 64);
                _tile_loadd(B1, x1 + kk * 32, 64);
            }
            _tile_dpbf16ps(C00, A0, B0);
            _tile_dpbf16ps(C01, A0, B1);
            _tile_dpbf16ps(C10, A1, B0);
            _tile_dpbf16ps(C11, A1, B1);
        }
    }
}

void fg_amx_rows(const fg_mm_task *t, int64_t r0, int64_t r1)
{
    const fg_mat *w = t->w;
    const int64_t cols = w->cols, ldy = w->rows;
    const int ntiles = amx_tiles(t->n);
    const bool f16 = w->dtype == FG_DT_F16, split = act_parts(w->dtype) == 2;
    const size_t xpart = part_bytes(cols, t->n);
    _Alignas(64) uint16_t panel[2][AMX_PR * AMX_KC]; /* the second for F16's remainders */
    const uint16_t *const wp[2] = {panel[0], panel[1]};
    _Alignas(64) float cbuf[AMX_TT / 2][4][256];
    fg_amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) cfg.rows[i] = 16, cfg.colsb[i] = 64;
    _tile_loadconfig(&cfg);
    for (int64_t rp = r0; rp < r1; rp += AMX_PR) {
        const int nr = r1 - rp < AMX_PR ? (int)(r1 - rp) : AMX_PR;
        for (int tb0 = 0; tb0 < ntiles; tb0 += AMX_TT) {
            const int tb1 = tb0 + AMX_TT < ntiles ? tb0 + AMX_TT : ntiles;
            for (int64_t k0 = 0; k0 < cols; k0 += AMX_KC) {
                const int64_t kc = cols - k0 < AMX_KC ? cols - k0 : AMX_KC;
                prefetch_next(w, rp, k0, r1);
                for (int r = 0; r < AMX_PR; r++) {
                    if (r < nr) {
                        dequant_bf16(w->dtype, (const uint8_t *)w->data + (size_t)(rp + r) * w->row_stride, k0, kc,
                                     panel[0] + r * AMX_KC, panel[1] + r * AMX_KC);
                    } else {
                        memset(panel[0] + r * AMX_KC, 0, (size_t)kc * 2);
                        if (f16) memset(panel[1] + r * AMX_KC, 0, (size_t)kc * 2);
                    }
                }
                for (int tt = tb0; tt < tb1; tt += 2) {
                    float *c = cbuf[(tt - tb0) / 2][0];
                    if (k0 == 0) {
                        _tile_zero(C00);
                        _tile_zero(C01);
                        _tile_zero(C10);
                        _tile_zero(C11);
                    } else {
                        _tile_loadd(C00, c, 64);
                        _tile_loadd(C01, c + 256, 64);
                        _tile_loadd(C10, c + 512, 64);
                        _tile_loadd(C11, c + 768, 64);
                    }
                    const uint8_t *x0 = t->xq + (size_t)tt * 32 * (size_t)cols + (size_t)k0 * 32;
                    const uint8_t *x1 = x0 + 32 * (size_t)cols;
                    if (f16)
                        chunk_products(wp, x0, x1, xpart, kc, 2, 2);
                    else if (split)
                        chunk_products(wp, x0, x1, xpart, kc, 1, 2);
                    else
                        chunk_products(wp, x0, x1, xpart, kc, 1, 1);
                    _tile_stored(C00, c, 64);
                    _tile_stored(C01, c + 256, 64);
                    _tile_stored(C10, c + 512, 64);
                    _tile_stored(C11, c + 768, 64);
                }
            }
            for (int tt = tb0; tt < tb1; tt++) {
                const int t0 = tt * 16;
                if (t0 >= t->n) break;
                const int nt = t->n - t0 < 16 ? t->n - t0 : 16;
                const float *c = cbuf[(tt - tb0) / 2][(tt - tb0) % 2];
                c_out(c, t->y, ldy, rp, t0, nt, nr < 16 ? nr : 16);
                if (nr > 16) c_out(c + 512, t->y, ldy, rp + 16, t0, nt, nr - 16);
            }
        }
    }
    _tile_release();
}
