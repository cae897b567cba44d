/* Unpacking of quantized blocks shared by the AVX-512 prefill kernels (matmul_tok_avx512.c,
 * matmul_amx.c): included only by files built with AVX2 or more. */
#ifndef FG_QUANT_SIMD_H
#define FG_QUANT_SIMD_H

#include "core/quant-impl.h"
#include <immintrin.h>

/* Half h (0, 1) of a Q6_K super-block: its 128 levels 0..63 (q + 32), elements
 * 128h + 32k .. 128h + 32k + 31 in v[k]: low nibbles of ql[64h ..] and ql[64h + 32 ..],
 * then their high nibbles, each with two bits of qh[32h ..] (bits 0-1, 2-3, 4-5, 6-7). */
static inline void fg_q6_k_levels(const fg_block_q6_k *q, int h, __m256i v[4])
{
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)(q->ql + 64 * h));
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(q->ql + 64 * h + 32));
    const __m256i hb = _mm256_loadu_si256((const __m256i *)(q->qh + 32 * h));
    v[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
    v[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
    v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
    v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
}

#endif
