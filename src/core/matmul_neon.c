/* AArch64 NEON matmul kernels, with the dot-product extension (SDOT) where present.
 * This file is compiled twice: as itself with +dotprod (fg_mm_neondot, path "neondot":
 * Cortex-A76/A78 and later: Raspberry Pi 5, Jetson Orin), and through
 * matmul_neon_nodot.c for plain ARMv8-A (fg_mm_neon, path "neon": Cortex-A53/A72,
 * Raspberry Pi 3 and 4), where DOT16 below is built from widening multiplies.
 *
 * Tiles of R weight rows x T tokens (R = 4 or 1, T <= 4) keep R*T accumulators of 4
 * floats in registers (32 vector registers) and walk a whole row once.
 *
 * Float weights: 4 per step; F16 by vcvt_f32_f16 (base AArch64), BF16 by a 16-bit shift.
 * Quantized weights use the xq activations (matmul-impl.h, natural order). SDOT takes
 * signed bytes on both sides, so weight levels are made signed (Q4_0: q - 8, Q6_K:
 * q - 32; Q4_K/Q5_K levels 0..31 are already valid) and no offset term is needed; the
 * K-quant mins use the block sums s of xq in a scalar correction per row and token. One
 * int32x4 dot product covers 16 elements; a block of 32 is two SDOTs into one vector. */
#include "core/matmul-impl.h"
#include "core/quant-impl.h"

#include <arm_neon.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 4")

/* acc + the 16 products a[i] * b[i], spread over the 4 lanes. Every caller converts the
 * vector and scales it by one factor, so only the sum of the lanes matters: SDOT puts
 * products 4i..4i+3 in lane i; without it, two widening multiplies (int8 x int8 fits
 * int16, -128 * -128 included) and pairwise accumulating adds put other groups there. */
#if defined(FG_NEON_NO_DOTPROD)
#define FG_MM_NEON_KERNELS fg_mm_neon
INLINE int32x4_t DOT16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}
#else
#define FG_MM_NEON_KERNELS fg_mm_neondot
#define DOT16 vdotq_s32
#endif

INLINE float h2f(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

/* Tokens are processed in blocks of up to TOK_BLOCK_BYTES of activations, which stay
 * in the last-level cache (small on Arm boards); within a block, row tiles go outermost so each
 * weight byte comes from RAM once per block. */
#define TOK_BLOCK_BYTES (1u << 20)

static int token_block(size_t bytes_per_token, int n)
{
    size_t tb = bytes_per_token ? TOK_BLOCK_BYTES / bytes_per_token : (size_t)n;
    tb = tb / 4 * 4;
    if (tb < 4) tb = 4;
    return tb > (size_t)n ? n : (int)tb;
}

#define DEFINE_ROWS(name, TILE, bytes_per_token)                                                   \
    static void name(const fg_mm_task *tk, int64_t r0, int64_t r1)                                 \
    {                                                                                              \
        const int tb = token_block(bytes_per_token, tk->n);                                        \
        for (int b0 = 0; b0 < tk->n; b0 += tb) {                                                   \
            const int b1 = b0 + tb < tk->n ? b0 + tb : tk->n;                                      \
            int64_t r = r0;                                                                        \
            for (; r + 4 <= r1; r += 4)                                                            \
                for (int t = b0; t < b1; t += 4) switch (b1 - t) {                                 \
                    case 1: TILE(tk, r, t, 4, 1); break;                                           \
                    case 2: TILE(tk, r, t, 4, 2); break;                                           \
                    case 3: TILE(tk, r, t, 4, 3); break;                                           \
                    default: TILE(tk, r, t, 4, 4); break;                                          \
                    }                                                                              \
            for (; r < r1; r++)                                                                    \
                for (int t = b0; t < b1; t += 4) switch (b1 - t) {                                 \
                    case 1: TILE(tk, r, t, 1, 1); break;                                           \
                    case 2: TILE(tk, r, t, 1, 2); break;                                           \
                    case 3: TILE(tk, r, t, 1, 3); break;                                           \
                    default: TILE(tk, r, t, 1, 4); break;                                          \
                    }                                                                              \
        }                                                                                          \
    }

/* ---- float weights ---------------------------------------------------------------------- */

INLINE float32x4_t load_w4(fg_dtype dt, const uint8_t *row, int64_t c)
{
    switch (dt) {
    case FG_DT_F32: return vld1q_f32((const float *)row + c);
    case FG_DT_F16: return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)row + c)));
    default: return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)row + c), 16));
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
    const float *xr[4];
    float32x4_t acc[4][4];
    UNROLL for (int r = 0; r < R; r++) wr[r] = (const uint8_t *)w->data + (size_t)(r0 + r) * w->row_stride;
    UNROLL for (int t = 0; t < T; t++) xr[t] = tk->x + (size_t)(t0 + t) * cols;
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int t = 0; t < T; t++) acc[r][t] = vdupq_n_f32(0);
    int64_t c = 0;
    for (; c + 4 <= cols; c += 4) {
        float32x4_t wv[4];
        UNROLL for (int r = 0; r < R; r++) wv[r] = load_w4(dt, wr[r], c);
        UNROLL for (int t = 0; t < T; t++) {
            float32x4_t xv = vld1q_f32(xr[t] + c);
            UNROLL for (int r = 0; r < R; r++) acc[r][t] = vfmaq_f32(acc[r][t], wv[r], xv);
        }
    }
    float tail[4][4] = {{0}};
    for (; c < cols; c++)
        UNROLL for (int r = 0; r < R; r++) {
            float wv = load_w1(dt, wr[r], c);
            UNROLL for (int t = 0; t < T; t++) tail[r][t] += wv * xr[t][c];
        }
    UNROLL for (int t = 0; t < T; t++) UNROLL for (int r = 0; r < R; r++)
        tk->y[(size_t)(t0 + t) * w->rows + r0 + r] = vaddvq_f32(acc[r][t]) + tail[r][t];
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
    const int8_t *xq[4];                                                                           \
    const float *xd[4], *xs[4];                                                                    \
    float32x4_t acc[4][4];                                                                         \
    float corr[4][4] = {{0}};                                                                      \
    UNROLL for (int r = 0; r < R; r++) wr[r] = (const uint8_t *)w->data + (size_t)(r0 + r) * w->row_stride; \
    UNROLL for (int t = 0; t < T; t++) {                                                           \
        const uint8_t *base = tk->xq + (size_t)(t0 + t) * tk->xq_stride;                           \
        xq[t] = fg_xq_q(base);                                                                     \
        xd[t] = fg_xq_d(base, cols);                                                               \
        xs[t] = fg_xq_s(base, cols);                                                               \
    }                                                                                              \
    (void)xs;                                                                                      \
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int t = 0; t < T; t++) acc[r][t] = vdupq_n_f32(0);

#define XQ_STORE()                                                                                 \
    UNROLL for (int t = 0; t < T; t++) UNROLL for (int r = 0; r < R; r++)                          \
        tk->y[(size_t)(t0 + t) * w->rows + r0 + r] = vaddvq_f32(acc[r][t]) + corr[r][t];

/* dot products of 32 signed levels (w0: elements 0-15, w1: 16-31) with x[0..31] */
INLINE int32x4_t dot32(int8x16_t w0, int8x16_t w1, const int8_t *x)
{
    return DOT16(DOT16(vdupq_n_s32(0), w0, vld1q_s8(x)), w1, vld1q_s8(x + 16));
}

/* Blocks of 32 with one scale (Q8_0, Q4_0): LEVELS(q, w0, w1) makes the signed levels. */
#define BLOCK32_TILE(name, BT, LEVELS)                                                             \
    INLINE void name(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T)           \
    {                                                                                              \
        XQ_SETUP();                                                                                \
        for (int64_t b = 0; b < cols / 32; b++) {                                                  \
            int8x16_t w0[4], w1[4];                                                                \
            float dw[4];                                                                           \
            UNROLL for (int r = 0; r < R; r++) {                                                   \
                const BT *q = (const BT *)wr[r] + b;                                               \
                LEVELS(q, w0[r], w1[r]);                                                           \
                dw[r] = h2f(q->d);                                                                 \
            }                                                                                      \
            UNROLL for (int t = 0; t < T; t++) {                                                   \
                const float dx = xd[t][b];                                                         \
                UNROLL for (int r = 0; r < R; r++)                                                 \
                    acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(dot32(w0[r], w1[r], xq[t] + 32 * b)), \
                                            dw[r] * dx);                                           \
            }                                                                                      \
        }                                                                                          \
        XQ_STORE();                                                                                \
    }

#define LEVELS_Q8_0(q, a, b) ((a) = vld1q_s8(q->qs), (b) = vld1q_s8(q->qs + 16))
#define LEVELS_Q4_0(q, a, b)                                                                       \
    do {                                                                                           \
        uint8x16_t v = vld1q_u8(q->qs);                                                            \
        (a) = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(15))), vdupq_n_s8(8));           \
        (b) = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));                      \
    } while (0)

BLOCK32_TILE(q8_0_tile, fg_block_q8_0, LEVELS_Q8_0)
BLOCK32_TILE(q4_0_tile, fg_block_q4_0, LEVELS_Q4_0)

INLINE void kq45_tile(const fg_mm_task *tk, int64_t r0, int t0, const int R, const int T, const bool five)
{
    XQ_SETUP();
    const size_t bsz = five ? sizeof(fg_block_q5_k) : sizeof(fg_block_q4_k);
    const uint8x16_t m4 = vdupq_n_u8(15), k16 = vdupq_n_u8(16);
    for (int64_t sb = 0; sb < cols / 256; sb++) {
        float sc[4][8];
        UNROLL for (int r = 0; r < R; r++) {
            const uint8_t *blk = wr[r] + (size_t)sb * bsz;
            uint16_t d16, dm16;
            memcpy(&d16, blk, 2);
            memcpy(&dm16, blk + 2, 2);
            float d = h2f(d16), dmin = h2f(dm16);
            uint64_t s8, m8;
            fg_kq_unpack8(blk + 4, &s8, &m8);
            float mn[8];
            for (int j = 0; j < 8; j++) {
                sc[r][j] = d * (float)((s8 >> (8 * j)) & 0xff);
                mn[j] = dmin * (float)((m8 >> (8 * j)) & 0xff);
            }
            /* the mins: -dmin * m_j * sum(x_j) */
            UNROLL for (int t = 0; t < T; t++) {
                float m = 0;
                for (int j = 0; j < 8; j++) m += mn[j] * xs[t][sb * 8 + j];
                corr[r][t] -= m;
            }
        }
        for (int c = 0; c < 4; c++) {
            int8x16_t lo0[4], lo1[4], hi0[4], hi1[4];
            UNROLL for (int r = 0; r < R; r++) {
                const uint8_t *blk = wr[r] + (size_t)sb * bsz;
                const uint8_t *qs = blk + (five ? 48 : 16) + 32 * c;
                uint8x16_t v0 = vld1q_u8(qs), v1 = vld1q_u8(qs + 16);
                uint8x16_t a0 = vandq_u8(v0, m4), a1 = vandq_u8(v1, m4);
                uint8x16_t b0 = vshrq_n_u8(v0, 4), b1 = vshrq_n_u8(v1, 4);
                if (five) { /* bit 2c / 2c+1 of qh[l] is the fifth bit */
                    uint8x16_t h0 = vld1q_u8(blk + 16), h1 = vld1q_u8(blk + 32);
                    uint8x16_t sl = vdupq_n_u8((uint8_t)(1 << (2 * c))), sh = vdupq_n_u8((uint8_t)(2 << (2 * c)));
                    a0 = vorrq_u8(a0, vandq_u8(vtstq_u8(h0, sl), k16));
                    a1 = vorrq_u8(a1, vandq_u8(vtstq_u8(h1, sl), k16));
                    b0 = vorrq_u8(b0, vandq_u8(vtstq_u8(h0, sh), k16));
                    b1 = vorrq_u8(b1, vandq_u8(vtstq_u8(h1, sh), k16));
                }
                lo0[r] = vreinterpretq_s8_u8(a0);
                lo1[r] = vreinterpretq_s8_u8(a1);
                hi0[r] = vreinterpretq_s8_u8(b0);
                hi1[r] = vreinterpretq_s8_u8(b1);
            }
            UNROLL for (int t = 0; t < T; t++) {
                const int64_t b = sb * 8 + 2 * c;
                const float dx0 = xd[t][b], dx1 = xd[t][b + 1];
                UNROLL for (int r = 0; r < R; r++) {
                    acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(dot32(lo0[r], lo1[r], xq[t] + 32 * b)),
                                            sc[r][2 * c] * dx0);
                    acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(dot32(hi0[r], hi1[r], xq[t] + 32 * b + 32)),
                                            sc[r][2 * c + 1] * dx1);
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
    const uint8x16_t m4 = vdupq_n_u8(15), m3 = vdupq_n_u8(3);
    const int8x16_t k32 = vdupq_n_s8(32);
    for (int64_t sb = 0; sb < cols / 256; sb++) {
        float sc[4][16];
        UNROLL for (int r = 0; r < R; r++) {
            const fg_block_q6_k *q = (const fg_block_q6_k *)wr[r] + sb;
            float d = h2f(q->d);
            for (int j = 0; j < 16; j++) sc[r][j] = d * (float)q->scales[j];
        }
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) { /* elements 128h + 32k: sub-blocks 8h + 2k, +1 */
                int8x16_t w0[4], w1[4];
                UNROLL for (int r = 0; r < R; r++) {
                    const fg_block_q6_k *q = (const fg_block_q6_k *)wr[r] + sb;
                    const uint8_t *lp = q->ql + 64 * h + 32 * (k & 1), *hp = q->qh + 32 * h;
                    uint8x16_t l0 = vld1q_u8(lp), l1 = vld1q_u8(lp + 16);
                    uint8x16_t h0 = vld1q_u8(hp), h1 = vld1q_u8(hp + 16);
                    if (k >= 2) {
                        l0 = vshrq_n_u8(l0, 4);
                        l1 = vshrq_n_u8(l1, 4);
                    } else {
                        l0 = vandq_u8(l0, m4);
                        l1 = vandq_u8(l1, m4);
                    }
                    const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * k)); /* right shift by 2k */
                    h0 = vshlq_n_u8(vandq_u8(vshlq_u8(h0, sh), m3), 4);
                    h1 = vshlq_n_u8(vandq_u8(vshlq_u8(h1, sh), m3), 4);
                    w0[r] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(l0, h0)), k32);
                    w1[r] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(l1, h1)), k32);
                }
                UNROLL for (int t = 0; t < T; t++) {
                    const int64_t b = sb * 8 + 4 * h + k;
                    const float dx = xd[t][b];
                    const int8x16_t x0 = vld1q_s8(xq[t] + 32 * b), x1 = vld1q_s8(xq[t] + 32 * b + 16);
                    UNROLL for (int r = 0; r < R; r++) {
                        const int j = 8 * h + 2 * k;
                        int32x4_t p0 = DOT16(vdupq_n_s32(0), w0[r], x0);
                        int32x4_t p1 = DOT16(vdupq_n_s32(0), w1[r], x1);
                        acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(p0), sc[r][j] * dx);
                        acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(p1), sc[r][j + 1] * dx);
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

/* xq of one row: per block of 32, d = max|x| / 127, q = round(x * (1/d)) to nearest even
 * (vcvtnq), s = d * sum(q) */
static void xq_row(const float *x, int64_t cols, uint8_t *dst)
{
    int8_t *q = (int8_t *)dst;
    float *d = (float *)(dst + cols), *s = d + cols / 32;
    for (int64_t b = 0; b < cols / 32; b++) {
        float32x4_t v[8];
        float32x4_t a = vdupq_n_f32(0);
        for (int k = 0; k < 8; k++) {
            v[k] = vld1q_f32(x + 32 * b + 4 * k);
            a = vmaxq_f32(a, vabsq_f32(v[k]));
        }
        float db = vmaxvq_f32(a) / 127.0f, id = db > 0 ? 1.0f / db : 0.0f;
        int32x4_t sum = vdupq_n_s32(0);
        int16x8_t h[4];
        for (int k = 0; k < 4; k++) {
            int32x4_t i0 = vcvtnq_s32_f32(vmulq_n_f32(v[2 * k], id));
            int32x4_t i1 = vcvtnq_s32_f32(vmulq_n_f32(v[2 * k + 1], id));
            sum = vaddq_s32(sum, vaddq_s32(i0, i1));
            h[k] = vcombine_s16(vqmovn_s32(i0), vqmovn_s32(i1));
        }
        vst1q_s8(q + 32 * b, vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1])));
        vst1q_s8(q + 32 * b + 16, vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3])));
        d[b] = db;
        s[b] = db * (float)vaddvq_s32(sum);
    }
}

static void prep(const fg_mm_task *t, int ith, int nth)
{
    for (int i = ith; i < t->n; i += nth)
        xq_row(t->x + (size_t)i * t->w->cols, t->w->cols, t->xq + (size_t)i * t->xq_stride);
}

const fg_mm_kernels FG_MM_NEON_KERNELS = {
    .rows = {
        [FG_DT_F32] = rows_f32, [FG_DT_F16] = rows_f16, [FG_DT_BF16] = rows_bf16,
        [FG_DT_Q8_0] = rows_q8_0, [FG_DT_Q4_0] = rows_q4_0, [FG_DT_Q4_K] = rows_q4_k,
        [FG_DT_Q5_K] = rows_q5_k, [FG_DT_Q6_K] = rows_q6_k,
    },
    .prep_bytes = prep_bytes,
    .prep = prep,
    .row_align = 4,
};
