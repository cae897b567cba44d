/* Pieces shared by the AMX kernels (matmul_amx.c, attn_amx.c): included only by files
 * built with the AMX and AVX512-BF16 instructions (CMakeLists.txt: *_amx.c). */
#ifndef FG_AMX_SIMD_H
#define FG_AMX_SIMD_H

#include <immintrin.h>
#include <stdint.h>

/* the tile configuration LDTILECFG reads (palette 1: up to 8 tiles of 16 rows × 64 bytes) */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} fg_amx_config;

/* 16 × 16 transpose of 32-bit elements, in registers */
static inline __attribute__((always_inline)) void fg_transpose16(__m512i r[16])
{
    __m512i t[16], u[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* u[4i + k], 128-bit lane L: column 4L + k of rows 4i .. 4i + 3 */
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
#pragma GCC unroll 16
    for (int k = 0; k < 4; k++) {
        const __m512i v0 = _mm512_shuffle_i32x4(u[k], u[4 + k], 0x44), v1 = _mm512_shuffle_i32x4(u[k], u[4 + k], 0xEE);
        const __m512i v2 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0x44);
        const __m512i v3 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0xEE);
        r[k] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        r[4 + k] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
        r[8 + k] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        r[12 + k] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
    }
}

/* 16 BF16 values (a half of a cvtne2ps_pbh result) back to FP32, exactly */
static inline __attribute__((always_inline)) __m512 fg_bf16_f32(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 32 floats (a = elements 0-15, b = 16-31) as BF16: part 0 rounded to nearest even,
 * part 1 the remainder (x - part 0, exact in FP32) rounded again, so that
 * |x - part 0 - part 1| <= 2^-16 |x|; an F16 value is exactly its two parts */
static inline __attribute__((always_inline)) __m512i fg_bf16_part(__m512 a, __m512 b, int part)
{
    const __m512i hi = (__m512i)_mm512_cvtne2ps_pbh(b, a);
    if (!part) return hi;
    const __m512 ra = _mm512_sub_ps(a, fg_bf16_f32(_mm512_castsi512_si256(hi)));
    const __m512 rb = _mm512_sub_ps(b, fg_bf16_f32(_mm512_extracti64x4_epi64(hi, 1)));
    return (__m512i)_mm512_cvtne2ps_pbh(rb, ra);
}

#endif
