/* GGUF block structs shared by quant.c (conversions) and the matmul kernels. The
 * layouts, with the formula giving each element's value, are documented in quant.c. */
#ifndef FG_QUANT_IMPL_H
#define FG_QUANT_IMPL_H

#include <stdint.h>
#include <string.h>

#define FG_QK 32    /* elements per Q8_0 / Q4_0 block */
#define FG_QKK 256  /* elements per K-quant super-block */

typedef struct {
    uint16_t d;         /* f16 scale */
    int8_t qs[32];      /* x[i] = d * qs[i] */
} fg_block_q8_0;

typedef struct {
    uint16_t d;         /* f16 scale */
    uint8_t qs[16];     /* x[i] = d * ((qs[i] & 15) - 8), x[i+16] = d * ((qs[i] >> 4) - 8) */
} fg_block_q4_0;

typedef struct {
    uint16_t d, dmin;   /* f16 super-block scales for the sub-block scales and mins */
    uint8_t scales[12]; /* 8 x (6-bit scale, 6-bit min), packed: see fg_kq_scale_min */
    uint8_t qs[128];    /* 4-bit quants, 64 elements per 32 bytes (low nibbles first) */
} fg_block_q4_k;

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];     /* 5th bit of each quant: bit 2c / 2c+1 of qh[l] for chunk c */
    uint8_t qs[128];
} fg_block_q5_k;

typedef struct {
    uint8_t ql[128];    /* low 4 bits */
    uint8_t qh[64];     /* high 2 bits */
    int8_t scales[16];  /* one signed 8-bit scale per 16 elements */
    uint16_t d;         /* f16 super-block scale */
} fg_block_q6_k;

_Static_assert(sizeof(fg_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(fg_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(fg_block_q4_k) == 144, "q4_k block");
_Static_assert(sizeof(fg_block_q5_k) == 176, "q5_k block");
_Static_assert(sizeof(fg_block_q6_k) == 210, "q6_k block");

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block. Bytes 0-3
 * hold scales 0-3 in their low 6 bits, bytes 4-7 mins 0-3; bytes 8-11 hold the low
 * nibbles of scales 4-7 (low) and mins 4-7 (high), whose top 2 bits sit in the top
 * 2 bits of bytes 0-3 (scales) and 4-7 (mins). */
static inline void fg_kq_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* All 8 scales and mins at once, as bytes of two 64-bit words (sc_j in byte j):
 * scales 0-3 / mins 0-3 are the low 6 bits of words 0 / 1; scales 4-7 / mins 4-7 take
 * their low nibble from word 2 and their top 2 bits from the top of words 0 / 1. */
static inline void fg_kq_unpack8(const uint8_t *s, uint64_t *sc, uint64_t *mn)
{
    uint32_t u0, u1, u2; /* little-endian words (GGUF is little-endian, so are our targets) */
    memcpy(&u0, s, 4);
    memcpy(&u1, s + 4, 4);
    memcpy(&u2, s + 8, 4);
    uint32_t sc_lo = u0 & 0x3f3f3f3fu, mn_lo = u1 & 0x3f3f3f3fu;
    uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u);
    uint32_t mn_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u);
    *sc = sc_lo | ((uint64_t)sc_hi << 32);
    *mn = mn_lo | ((uint64_t)mn_hi << 32);
}

#endif
