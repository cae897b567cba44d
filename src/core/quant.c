/* GGUF block formats: dequantization of rows and the reference quantizers.
 *
 * All multi-byte fields are little-endian; "f16" is IEEE binary16. Elements of a row
 * are stored block after block; inside a block they are in the order given below.
 *
 * Q8_0 — 32 elements in 34 bytes:
 *     f16 d; int8 qs[32];                     x[i] = d * qs[i]
 * Q4_0 — 32 elements in 18 bytes:
 *     f16 d; uint8 qs[16];                    x[i]    = d * ((qs[i] & 15) - 8)
 *                                             x[i+16] = d * ((qs[i] >> 4) - 8)
 * Q4_K — 256 elements in 144 bytes: 8 sub-blocks of 32, each with a 6-bit scale sc and
 * a 6-bit min m (packed in 12 bytes, see fg_kq_scale_min in quant-impl.h):
 *     f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128];
 *     chunk c = 0..3 covers elements 64c..64c+63 with bytes qs[32c..32c+31]:
 *       x[64c + l]      = d * sc[2c]   * (qs[32c+l] & 15) - dmin * m[2c]
 *       x[64c + 32 + l] = d * sc[2c+1] * (qs[32c+l] >> 4) - dmin * m[2c+1]
 * Q5_K — 256 elements in 176 bytes: Q4_K plus a fifth bit per element:
 *     f16 d; f16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128];
 *       q(64c + l)      = (qs[32c+l] & 15) + 16 * ((qh[l] >> 2c) & 1)
 *       q(64c + 32 + l) = (qs[32c+l] >> 4) + 16 * ((qh[l] >> (2c+1)) & 1)
 *       x = d * sc * q - dmin * m, sc/m those of the element's sub-block of 32
 * Q6_K — 256 elements in 210 bytes: 16 sub-blocks of 16 with signed 8-bit scales:
 *     uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d;
 *     half h = 0,1 covers elements 128h..128h+127 with L = ql + 64h, H = qh + 32h,
 *     S = scales + 8h; for l = 0..31 (s = l / 16):
 *       x[128h + l]      = d * S[s]     * (((L[l]    & 15) | ((H[l] >> 0) & 3) << 4) - 32)
 *       x[128h + 32 + l] = d * S[s + 2] * (((L[l+32] & 15) | ((H[l] >> 2) & 3) << 4) - 32)
 *       x[128h + 64 + l] = d * S[s + 4] * (((L[l]    >> 4) | ((H[l] >> 4) & 3) << 4) - 32)
 *       x[128h + 96 + l] = d * S[s + 6] * (((L[l+32] >> 4) | ((H[l] >> 6) & 3) << 4) - 32)
 *
 * Quantizers. Q8_0 follows the reference rule exactly (d = max|x| / 127 in float32,
 * q = roundf(x / d), d stored as f16). The others search for the scale (and min) that
 * minimise the squared error of each (sub-)block: several candidate scales around the
 * range-based one, each refined by least squares on the levels it gives; for K-quants
 * the sub-block scales are then quantized to 6 or 8 bits against a super-block scale,
 * and the super-block scales are refined by least squares over the whole block with
 * the integer scales fixed. Every final level is computed against the scales exactly
 * as they are stored (f16-rounded), so dequantization reproduces what was optimised. */
#include "core/core.h"
#include "core/quant-impl.h"

#include <math.h>
#include <string.h>

/* ---- dequantization ---------------------------------------------------------------- */

static void dequant_q8_0(const fg_block_q8_0 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b++, y += FG_QK) {
        float d = fg_f16_to_f32(b->d);
        for (int j = 0; j < FG_QK; j++) y[j] = d * (float)b->qs[j];
    }
}

static void dequant_q4_0(const fg_block_q4_0 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b++, y += FG_QK) {
        float d = fg_f16_to_f32(b->d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)((b->qs[j] & 15) - 8);
            y[j + 16] = d * (float)((b->qs[j] >> 4) - 8);
        }
    }
}

static void dequant_q4_k(const fg_block_q4_k *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b++, y += FG_QKK) {
        float d = fg_f16_to_f32(b->d), dmin = fg_f16_to_f32(b->dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, m0, sc1, m1;
            fg_kq_scale_min(b->scales, 2 * c, &sc0, &m0);
            fg_kq_scale_min(b->scales, 2 * c + 1, &sc1, &m1);
            float a0 = d * sc0, b0 = dmin * m0, a1 = d * sc1, b1 = dmin * m1;
            const uint8_t *q = b->qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                y[64 * c + l] = a0 * (float)(q[l] & 15) - b0;
                y[64 * c + 32 + l] = a1 * (float)(q[l] >> 4) - b1;
            }
        }
    }
}

static void dequant_q5_k(const fg_block_q5_k *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b++, y += FG_QKK) {
        float d = fg_f16_to_f32(b->d), dmin = fg_f16_to_f32(b->dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, m0, sc1, m1;
            fg_kq_scale_min(b->scales, 2 * c, &sc0, &m0);
            fg_kq_scale_min(b->scales, 2 * c + 1, &sc1, &m1);
            float a0 = d * sc0, b0 = dmin * m0, a1 = d * sc1, b1 = dmin * m1;
            const uint8_t *q = b->qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                int q0 = (q[l] & 15) | (((b->qh[l] >> (2 * c)) & 1) << 4);
                int q1 = (q[l] >> 4) | (((b->qh[l] >> (2 * c + 1)) & 1) << 4);
                y[64 * c + l] = a0 * (float)q0 - b0;
                y[64 * c + 32 + l] = a1 * (float)q1 - b1;
            }
        }
    }
}

static void dequant_q6_k(const fg_block_q6_k *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b++, y += FG_QKK) {
        float d = fg_f16_to_f32(b->d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *L = b->ql + 64 * h, *H = b->qh + 32 * h;
            const int8_t *S = b->scales + 8 * h;
            float *o = y + 128 * h;
            for (int l = 0; l < 32; l++) {
                int s = l / 16;
                int q0 = ((L[l] & 15) | (((H[l] >> 0) & 3) << 4)) - 32;
                int q1 = ((L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4)) - 32;
                int q2 = ((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32;
                int q3 = ((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32;
                o[l] = d * (float)S[s] * (float)q0;
                o[l + 32] = d * (float)S[s + 2] * (float)q1;
                o[l + 64] = d * (float)S[s + 4] * (float)q2;
                o[l + 96] = d * (float)S[s + 6] * (float)q3;
            }
        }
    }
}

void fg_dequant_row(fg_dtype dt, const void *src, float *dst, int64_t n)
{
    const fg_dtype_info *info = fg_dtype_get(dt);
    if (!info || n <= 0 || n % info->block_elems != 0) return;
    int64_t nb = n / info->block_elems;
    switch (dt) {
    case FG_DT_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case FG_DT_F16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = fg_f16_to_f32(h[i]);
        break;
    }
    case FG_DT_BF16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = fg_bf16_to_f32(h[i]);
        break;
    }
    case FG_DT_Q8_0: dequant_q8_0(src, dst, nb); break;
    case FG_DT_Q4_0: dequant_q4_0(src, dst, nb); break;
    case FG_DT_Q4_K: dequant_q4_k(src, dst, nb); break;
    case FG_DT_Q5_K: dequant_q5_k(src, dst, nb); break;
    case FG_DT_Q6_K: dequant_q6_k(src, dst, nb); break;
    default: break;
    }
}

/* ---- quantization helpers ---------------------------------------------------------- */

/* round(v) (ties to even) clamped to [lo, hi]; NaN gives lo. Clamping first keeps |v|
 * small, so adding and subtracting 1.5 * 2^23 rounds in the float unit (no libm call;
 * IEEE semantics forbid the compiler to fold the pair). */
static inline int qclamp(float v, int lo, int hi)
{
    v = v >= (float)lo ? v : (float)lo; /* written as compares: fminf/fmaxf are libm calls */
    v = v <= (float)hi ? v : (float)hi;
    return (int)((v + 12582912.0f) - 12582912.0f);
}

static inline float f16_round(float v) { return fg_f16_to_f32(fg_f32_to_f16(v)); }

/* Symmetric levels: x ≈ a * q with integer q in [qlo, qhi] (qlo = -qhi - 1). Tries
 * candidate scales a = xm / t for the element xm of largest magnitude and t within 10%
 * of qlo or of qhi (mapping xm to the wide negative end often fits better). For each,
 * the levels are fixed and the least-squares scale for them, sum(x q) / sum(q q), has
 * the error sum(x x) - sum(x q)^2 / sum(q q): the candidate maximising sum(x q)^2 /
 * sum(q q) wins, then one more round with the winner's own scale. Returns a (may be
 * negative; 0 for an all-zero block). */
static float fit_symmetric(const float *x, int n, int qlo, int qhi)
{
    float amax = 0, xm = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            xm = x[i];
        }
    if (!(amax > 0) || !isfinite(amax)) return 0;
    float best_a = 0, best_score = -1;
    for (int c = 0; c < 19; c++) {
        float iscale;
        if (c < 18) {
            float top = c < 9 ? (float)qlo : (float)qhi;
            iscale = top * (1.0f + 0.025f * (float)(c % 9 - 4)) / xm;
        } else {
            if (best_a == 0) break;
            iscale = 1.0f / best_a; /* refine: the levels of the best scale so far */
        }
        float sxq = 0, sqq = 0;
        for (int i = 0; i < n; i++) {
            float q = (float)qclamp(x[i] * iscale, qlo, qhi);
            sxq += x[i] * q;
            sqq += q * q;
        }
        if (sqq > 0 && sxq * sxq > best_score * sqq) {
            best_score = sxq * sxq / sqq;
            best_a = sxq / sqq;
        }
    }
    return best_a;
}

/* Asymmetric levels: x ≈ a * l - b with l in [0, qmax], a > 0, b >= 0 (b = 0 when every
 * x is positive, so zero stays representable as in the GGUF K-quants). Candidate
 * scales a = (max - min) / (qmax + delta) set the levels l = round((x - min) / a); for
 * those levels (a, b) is solved by least squares (b clamped at 0) and its error follows
 * in closed form from the sums; the best candidate is refined twice with its own scale
 * and offset. */
static void fit_asymmetric(const float *x, int n, int qmax, float *a_out, float *b_out)
{
    float mn = x[0], mx = x[0], sx = 0, sxx = 0;
    for (int i = 0; i < n; i++) {
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
        sx += x[i];
        sxx += x[i] * x[i];
    }
    if (mn > 0) mn = 0;
    if (!(mx > mn) || !isfinite(mx - mn)) {
        *a_out = 0;
        *b_out = mn < 0 && isfinite(mn) ? -mn : 0;
        return;
    }
    float best_a = (mx - mn) / (float)qmax, best_b = -mn, best_err = INFINITY;
    for (int c = 0; c < 12; c++) {
        float iscale, off;
        if (c < 10) {
            iscale = ((float)qmax - 0.5f + 0.2f * (float)c) / (mx - mn);
            off = -mn;
        } else {
            iscale = 1.0f / best_a; /* refine around the best so far (twice) */
            off = best_b;
        }
        float sl = 0, sll = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            float l = (float)qclamp((x[i] + off) * iscale, 0, qmax);
            sl += l;
            sll += l * l;
            sxl += x[i] * l;
        }
        /* x ≈ a l - b: normal equations of sum (a l - b - x)^2 */
        float det = (float)n * sll - sl * sl, a, b;
        if (!(det > 0)) continue;
        a = ((float)n * sxl - sl * sx) / det;
        b = (sl * sxl - sll * sx) / det;
        if (b < 0) { /* the min must stay <= 0: the scale alone, b = 0 */
            b = 0;
            a = sll > 0 ? sxl / sll : 0;
        }
        if (!(a > 0)) continue;
        float err = a * a * sll + (float)n * b * b + sxx - 2 * a * b * sl - 2 * a * sxl + 2 * b * sx;
        if (err < best_err) {
            best_err = err;
            best_a = a;
            best_b = b;
        }
    }
    *a_out = best_a;
    *b_out = best_b;
}

/* ---- per-format quantizers ---------------------------------------------------------- */

static void quant_q8_0(const float *x, fg_block_q8_0 *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b++, x += FG_QK) {
        float amax = 0;
        for (int j = 0; j < FG_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        b->d = fg_f32_to_f16(d);
        for (int j = 0; j < FG_QK; j++)
            b->qs[j] = d != 0 ? (int8_t)qclamp(roundf(x[j] / d), -128, 127) : 0;
    }
}

static void quant_q4_0(const float *x, fg_block_q4_0 *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, b++, x += FG_QK) {
        float a = f16_round(fit_symmetric(x, FG_QK, -8, 7));
        float ia = a != 0 ? 1.0f / a : 0;
        b->d = fg_f32_to_f16(a);
        for (int j = 0; j < 16; j++) {
            int q0 = qclamp(x[j] * ia, -8, 7);
            int q1 = qclamp(x[j + 16] * ia, -8, 7);
            b->qs[j] = (uint8_t)((q0 + 8) | ((q1 + 8) << 4));
        }
    }
}

/* Packs 8 six-bit scales and mins in the 12-byte K-quant layout. */
static void pack_scale_min(uint8_t *s, const uint8_t sc[8], const uint8_t m[8])
{
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

/* Shared by Q4_K (qmax 15) and Q5_K (qmax 31): fits each sub-block of 32, quantizes
 * the sub-block scales/mins to 6 bits, refines d and dmin by least squares and
 * produces the final levels q[256] (0..qmax). */
static void quant_kq_asym(const float *x, int qmax, uint16_t *d_out, uint16_t *dmin_out,
                          uint8_t sc[8], uint8_t m[8], uint8_t q[256])
{
    float a[8], b[8], amax = 0, bmax = 0;
    for (int j = 0; j < 8; j++) {
        fit_asymmetric(x + 32 * j, 32, qmax, &a[j], &b[j]);
        amax = fmaxf(amax, a[j]);
        bmax = fmaxf(bmax, b[j]);
    }
    float d = f16_round(amax / 63.0f), dmin = f16_round(bmax / 63.0f);
    for (int j = 0; j < 8; j++) {
        sc[j] = d > 0 ? (uint8_t)qclamp(a[j] / d, 0, 63) : 0;
        m[j] = dmin > 0 ? (uint8_t)qclamp(b[j] / dmin, 0, 63) : 0;
    }
    /* levels for the current (d, dmin), then the least-squares (d, dmin) for those
     * levels with the integer scales fixed: x ≈ d * (sc q) - dmin * m; twice. */
    for (int it = 0; it < 3; it++) {
        double suu = 0, suv = 0, svv = 0, sxu = 0, sxv = 0;
        for (int j = 0; j < 8; j++) {
            float as = d * sc[j], bs = dmin * m[j], ias = as > 0 ? 1.0f / as : 0;
            for (int l = 0; l < 32; l++) {
                int i = 32 * j + l;
                q[i] = (uint8_t)qclamp((x[i] + bs) * ias, 0, qmax);
                double u = (double)sc[j] * q[i], v = m[j];
                suu += u * u;
                suv += u * v;
                svv += v * v;
                sxu += x[i] * u;
                sxv += x[i] * v;
            }
        }
        if (it == 2) break;
        double det = suu * svv - suv * suv;
        if (det > 0) {
            double nd = (sxu * svv - sxv * suv) / det;
            double ndm = (sxu * suv - sxv * suu) / det; /* x ≈ nd u - ndm v */
            if (nd > 0 && ndm >= 0) {
                d = f16_round((float)nd);
                dmin = f16_round((float)ndm);
            }
        } else if (suu > 0 && svv == 0) {
            double nd = sxu / suu;
            if (nd > 0) d = f16_round((float)nd);
        }
    }
    *d_out = fg_f32_to_f16(d);
    *dmin_out = fg_f32_to_f16(dmin);
}

static void quant_q4_k(const float *x, fg_block_q4_k *b, int64_t nb)
{
    uint8_t sc[8], m[8], q[256];
    for (int64_t i = 0; i < nb; i++, b++, x += FG_QKK) {
        quant_kq_asym(x, 15, &b->d, &b->dmin, sc, m, q);
        pack_scale_min(b->scales, sc, m);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b->qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}

static void quant_q5_k(const float *x, fg_block_q5_k *b, int64_t nb)
{
    uint8_t sc[8], m[8], q[256];
    for (int64_t i = 0; i < nb; i++, b++, x += FG_QKK) {
        quant_kq_asym(x, 31, &b->d, &b->dmin, sc, m, q);
        pack_scale_min(b->scales, sc, m);
        memset(b->qh, 0, sizeof b->qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int q0 = q[64 * c + l], q1 = q[64 * c + 32 + l];
                b->qs[32 * c + l] = (uint8_t)((q0 & 15) | ((q1 & 15) << 4));
                b->qh[l] |= (uint8_t)(((q0 >> 4) << (2 * c)) | ((q1 >> 4) << (2 * c + 1)));
            }
    }
}

/* Q6_K levels (-32..31) of a super-block for sub-block scales sc and super-block scale
 * d; returns the squared error. */
static double q6_levels(const float *x, const int8_t sc[16], float d, int8_t lv[256])
{
    double err = 0;
    for (int j = 0; j < 16; j++) {
        float as = d * sc[j], ias = as != 0 ? 1.0f / as : 0;
        for (int l = 0; l < 16; l++) {
            int k = 16 * j + l;
            lv[k] = (int8_t)qclamp(x[k] * ias, -32, 31);
            double e = (double)x[k] - (double)as * lv[k];
            err += e * e;
        }
    }
    return err;
}

static void quant_q6_k(const float *x, fg_block_q6_k *b, int64_t nb)
{
    int8_t lv[256];
    for (int64_t i = 0; i < nb; i++, b++, x += FG_QKK) {
        float a[16], amax = 0, am = 0;
        for (int j = 0; j < 16; j++) {
            a[j] = fit_symmetric(x + 16 * j, 16, -32, 31);
            if (fabsf(a[j]) > amax) {
                amax = fabsf(a[j]);
                am = a[j];
            }
        }
        /* signed 8-bit sub-block scales; the largest maps to -128 when negative */
        float d = am < 0 ? f16_round(am / -128.0f) : f16_round(amax / 127.0f);
        int8_t sc[16];
        for (int j = 0; j < 16; j++) sc[j] = d > 0 ? (int8_t)qclamp(a[j] / d, -128, 127) : 0;
        /* Refit d by least squares on the levels it gives, then keep the best of the
         * f16 codes around it: near the f16 subnormal range (tiny blocks) one code
         * step is several percent, so the rounding of d matters. Levels are always
         * recomputed against the stored (f16) d. */
        float cand[7];
        int nc = 0;
        cand[nc++] = d;
        {
            double suu = 0, sxu = 0;
            q6_levels(x, sc, d, lv);
            for (int k = 0; k < 256; k++) {
                double u = (double)sc[k / 16] * lv[k];
                suu += u * u;
                sxu += x[k] * u;
            }
            float nd = suu > 0 ? f16_round((float)(sxu / suu)) : 0;
            if (nd > 0) {
                uint16_t h = fg_f32_to_f16(nd);
                for (int k = -2; k <= 2; k++) {
                    int c = (int)h + k;
                    if (c > 0 && c < 0x7c00) cand[nc++] = fg_f16_to_f32((uint16_t)c);
                }
            }
        }
        double best = INFINITY;
        float best_d = d;
        for (int c = 0; c < nc; c++) {
            double e = q6_levels(x, sc, cand[c], lv);
            if (e < best) {
                best = e;
                best_d = cand[c];
            }
        }
        d = best_d;
        q6_levels(x, sc, d, lv);
        b->d = fg_f32_to_f16(d);
        memcpy(b->scales, sc, 16);
        for (int h = 0; h < 2; h++) {
            const int8_t *q = lv + 128 * h;
            uint8_t *L = b->ql + 64 * h, *H = b->qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                int q0 = q[l] + 32, q1 = q[l + 32] + 32, q2 = q[l + 64] + 32, q3 = q[l + 96] + 32;
                L[l] = (uint8_t)((q0 & 15) | ((q2 & 15) << 4));
                L[l + 32] = (uint8_t)((q1 & 15) | ((q3 & 15) << 4));
                H[l] = (uint8_t)((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6));
            }
        }
    }
}

void fg_quantize_row(fg_dtype dt, const float *src, void *dst, int64_t n)
{
    const fg_dtype_info *info = fg_dtype_get(dt);
    if (!info || n <= 0 || n % info->block_elems != 0) return;
    int64_t nb = n / info->block_elems;
    switch (dt) {
    case FG_DT_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case FG_DT_F16: {
        uint16_t *h = dst;
        for (int64_t i = 0; i < n; i++) h[i] = fg_f32_to_f16(src[i]);
        break;
    }
    case FG_DT_BF16: {
        uint16_t *h = dst;
        for (int64_t i = 0; i < n; i++) h[i] = fg_f32_to_bf16(src[i]);
        break;
    }
    case FG_DT_Q8_0: quant_q8_0(src, dst, nb); break;
    case FG_DT_Q4_0: quant_q4_0(src, dst, nb); break;
    case FG_DT_Q4_K: quant_q4_k(src, dst, nb); break;
    case FG_DT_Q5_K: quant_q5_k(src, dst, nb); break;
    case FG_DT_Q6_K: quant_q6_k(src, dst, nb); break;
    default: break;
    }
}
