/* Small float32 vector kernels for the attention loop (dot products of a query with
 * cached keys, weighted sums of cached values, softmax). The ISA follows
 * fg_isa_active() (so FG_ISA=scalar forces the plain C versions); x86 versions are
 * compiled with target attributes in this file, NEON versions are plain intrinsics on
 * aarch64. Eight (or sixteen) independent accumulators keep the FMA pipes busy.
 *
 * The row versions walk all cached positions of one kv head in one call, for all the
 * query heads that share it: F16 keys and values are converted (vcvtph2ps / fcvtl) in
 * registers or, on AVX2, once per block of rows into an L1 buffer that every query head
 * of the group then reads; the cache itself is never copied. */
#include <math.h>
#include <string.h>
#include "core/core.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

static float dot_scalar(const float *a, const float *b, int64_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static void axpy_scalar(float *y, float a, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* element i of row r as float */
static inline float row_at(const uint8_t *r, fg_dtype dt, int64_t i)
{
    if (dt == FG_DT_F32) {
        float f;
        memcpy(&f, r + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, r + 2 * i, 2);
    return fg_f16_to_f32(h);
}

static void dot_rows_scalar(const float *q, const void *rows, fg_dtype dt, size_t stride, int64_t n, int64_t d,
                            float scale, float *out)
{
    for (int64_t p = 0; p < n; p++) {
        const uint8_t *r = (const uint8_t *)rows + (size_t)p * stride;
        float s = 0;
        for (int64_t i = 0; i < d; i++) s += q[i] * row_at(r, dt, i);
        out[p] = scale * s;
    }
}

static void axpy_rows_scalar(float *y, const float *w, const void *rows, fg_dtype dt, size_t stride, int64_t n,
                             int64_t d)
{
    for (int64_t p = 0; p < n; p++) {
        const uint8_t *r = (const uint8_t *)rows + (size_t)p * stride;
        for (int64_t i = 0; i < d; i++) y[i] += w[p] * row_at(r, dt, i);
    }
}

/* The pieces of a softmax, per path: the largest element (-inf for none; NaNs never
 * win), then x = exp(x - mx) in place, returning the sum. */
static float max_scalar(const float *x, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    return mx;
}

static float expsum_scalar(float *x, int64_t n, float mx)
{
    float sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    return sum;
}

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* 8 floats of row r at column c: F32 load or F16 conversion */
AVX2 static inline __m256 load8(const uint8_t *r, fg_dtype dt, int64_t c)
{
    if (dt == FG_DT_F32) return _mm256_loadu_ps((const float *)r + c);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)r + c)));
}

AVX2 static inline float hsum256(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* Grouped-query attention: the nq query heads that share a kv head walk its cached rows
 * together. A block of rows is converted to float32 once (F16; F32 rows are read in
 * place) into a buffer that stays in L1, then every query head uses it.
 * d a multiple of 8 and at most FG_VEC_MAX_D; other d go to the scalar version. */
#define DOT_BLK 8    /* rows per block of dot products: one result vector */
#define UNROLL8 _Pragma("GCC unroll 8") /* accumulator arrays must live in registers */
#define AXPY_BLK 16  /* rows per block of weighted sums */

/* The rows p0 .. p0 + np - 1 as float32 pointers: in place (F32) or converted into buf. */
AVX2 static inline void rows_f32(const void *rows, fg_dtype dt, size_t stride, int64_t p0, int np, int64_t d,
                                 float *buf, const float **out)
{
    for (int j = 0; j < np; j++) {
        const uint8_t *r = (const uint8_t *)rows + (size_t)(p0 + j) * stride;
        if (dt == FG_DT_F32) {
            out[j] = (const float *)r;
            continue;
        }
        float *b = buf + (size_t)j * (size_t)d;
        for (int64_t c = 0; c < d; c += 8) _mm256_storeu_ps(b + c, load8(r, dt, c));
        out[j] = b;
    }
}

AVX2 static void dot_rows_avx2(const float *q, int64_t nq, const void *rows, fg_dtype dt, size_t stride, int64_t n,
                               int64_t d, float scale, float *out, int64_t ld)
{
    float buf[DOT_BLK * FG_VEC_MAX_D];
    const __m256 vs = _mm256_set1_ps(scale);
    for (int64_t p0 = 0; p0 < n; p0 += DOT_BLK) {
        const int np = n - p0 < DOT_BLK ? (int)(n - p0) : DOT_BLK;
        const float *kr[DOT_BLK];
        rows_f32(rows, dt, stride, p0, np, d, buf, kr);
        for (int j = np; j < DOT_BLK; j++) kr[j] = kr[np - 1]; /* computed, not stored */
        for (int64_t g = 0; g < nq; g++) {
            const float *qg = q + g * d;
            __m256 a[DOT_BLK];
            UNROLL8 for (int j = 0; j < DOT_BLK; j++) a[j] = _mm256_setzero_ps();
            for (int64_t c = 0; c < d; c += 8) {
                const __m256 qv = _mm256_loadu_ps(qg + c);
                UNROLL8 for (int j = 0; j < DOT_BLK; j++) a[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[j] + c), a[j]);
            }
            /* lane j of the result = the sum of a[j]'s lanes */
            __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
            __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
            __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
            __m256 r = _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
            r = _mm256_mul_ps(r, vs);
            if (np == DOT_BLK) {
                _mm256_storeu_ps(out + g * ld + p0, r);
            } else {
                float tmp[DOT_BLK];
                _mm256_storeu_ps(tmp, r);
                memcpy(out + g * ld + p0, tmp, sizeof(float) * (size_t)np);
            }
        }
    }
}

/* y[0 .. 8k) += sum over j < np of w[j] * vr[j][c0 ..]: k registers of accumulators
 * (inlined with k = 8 for whole 64-column chunks, so they stay in registers) */
AVX2 static inline __attribute__((always_inline)) void axpy_chunk(float *y, const float *w, const float *const *vr,
                                                                  int np, int64_t c0, const int k)
{
    __m256 acc[8];
    UNROLL8 for (int i = 0; i < 8; i++) acc[i] = i < k ? _mm256_loadu_ps(y + 8 * i) : _mm256_setzero_ps();
    for (int j = 0; j < np; j++) {
        const __m256 wp = _mm256_set1_ps(w[j]);
        UNROLL8 for (int i = 0; i < k; i++) acc[i] = _mm256_fmadd_ps(wp, _mm256_loadu_ps(vr[j] + c0 + 8 * i), acc[i]);
    }
    UNROLL8 for (int i = 0; i < k; i++) _mm256_storeu_ps(y + 8 * i, acc[i]);
}

/* y_g (d floats) in chunks of 64 columns (8 registers) per query head and row block */
AVX2 static void axpy_rows_avx2(float *y, const float *w, int64_t ld, int64_t nq, const void *rows, fg_dtype dt,
                                size_t stride, int64_t n, int64_t d)
{
    float buf[AXPY_BLK * FG_VEC_MAX_D];
    for (int64_t p0 = 0; p0 < n; p0 += AXPY_BLK) {
        const int np = n - p0 < AXPY_BLK ? (int)(n - p0) : AXPY_BLK;
        const float *vr[AXPY_BLK];
        rows_f32(rows, dt, stride, p0, np, d, buf, vr);
        for (int64_t g = 0; g < nq; g++)
            for (int64_t c0 = 0; c0 < d; c0 += 64) {
                if (d - c0 >= 64)
                    axpy_chunk(y + g * d + c0, w + g * ld + p0, vr, np, c0, 8);
                else
                    axpy_chunk(y + g * d + c0, w + g * ld + p0, vr, np, c0, (int)((d - c0) / 8));
            }
    }
}

/* exp(x) for x <= 0 (softmax arguments): 2^k * e^r with x = k ln2 + r, |r| <= ln2/2,
 * e^r by its degree-6 Taylor polynomial (relative error < 2e-7); x below -87 gives 0.
 * The two steps at any vector width (FMA, FNMA, SET1: its fused multiply-add, negated
 * multiply-add and broadcast): r from x and k (ln2 split in two for precision), e^r. */
#define EXP_REDUCE(x, k, FNMA, SET1) FNMA(k, SET1(1.428606765330187045e-06f), FNMA(k, SET1(0.693145751953125f), x))
#define EXP_TAYLOR6(r, FMA, SET1)                                                                                 \
    FMA(FMA(FMA(FMA(FMA(FMA(SET1(1.0f / 720), r, SET1(1.0f / 120)), r, SET1(1.0f / 24)), r, SET1(1.0f / 6)), r, \
                SET1(0.5f)),                                                                                      \
            r, SET1(1.0f)),                                                                                       \
        r, SET1(1.0f))

AVX2 static inline __m256 exp_neg_avx2(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.0f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(x, lo);
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 r = EXP_REDUCE(x, k, _mm256_fnmadd_ps, _mm256_set1_ps);
    const __m256 p = EXP_TAYLOR6(r, _mm256_fmadd_ps, _mm256_set1_ps);
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* the largest element (-inf for none); NaNs never win (max_ps(x, m) keeps m for NaN x) */
AVX2 static float max_avx2(const float *x, int64_t n)
{
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(_mm256_loadu_ps(x + i), vm);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float mx = _mm_cvtss_f32(m4);
    for (; i < n; i++)
        if (x[i] > mx) mx = x[i];
    return mx;
}

AVX2 static float expsum_avx2(float *x, int64_t n, float mx)
{
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 vs = _mm256_setzero_ps();
    int64_t i;
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp_neg_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
        _mm256_storeu_ps(x + i, e);
        vs = _mm256_add_ps(vs, e);
    }
    float sum = hsum256(vs);
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    return sum;
}

AVX2 static void scale_avx2(float *x, int64_t n, float a)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i;
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), va));
    for (; i < n; i++) x[i] *= a;
}

/* first index of the largest element; NaNs never win */
AVX2 static int64_t argmax_avx2(const float *x, int64_t n)
{
    const float mx = max_avx2(x, n);
    const __m256 vmx = _mm256_set1_ps(mx);
    int64_t i;
    for (i = 0; i + 8 <= n; i += 8) {
        int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vmx, _CMP_EQ_OQ));
        if (hit) return i + __builtin_ctz((unsigned)hit);
    }
    for (; i < n; i++)
        if (x[i] == mx) return i;
    return 0; /* all NaN */
}

/* gate = silu(gate) * up with silu(g) = g * sigmoid(g), sigmoid from t = e^-|g| (in exp_neg's
 * range): 1 / (1 + t) for g >= 0, t / (1 + t) below */
AVX2 static void silu_mul_avx2(float *gate, const float *up, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 t = exp_neg_avx2(_mm256_or_ps(g, sign)); /* e^-|g| */
        const __m256 num = _mm256_blendv_ps(one, t, _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_LT_OQ));
        const __m256 sig = _mm256_div_ps(num, _mm256_add_ps(one, t));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_mul_ps(g, sig), _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

__attribute__((target("avx2,fma"))) static void axpy_avx2(float *y, float a, const float *x, int64_t n)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* AVX-512 row walks and softmax (FG_ISA_AVX512 and _VNNI). All the query heads of a
 * call (up to 8 per pass) walk the rows together, so each row is read and converted
 * (vcvtph2ps straight from the cache, no buffer) once and feeds one FMA per head.
 * On Zen 4 a zmm FMA costs two ymm ones, so width only saves instructions: the dot
 * products keep 8-lane accumulators (half the horizontal sums per score of 16 lanes);
 * the weighted sums, which have none, use 16 lanes. Qwen2.5-0.5B's shape (7 heads of
 * 64, 460 F16 rows in cache), dot + softmax + weighted sums: 15.1 us with the AVX2
 * versions, 11.0 with these; 1.5B's (6 heads of 128): 24.2 and 16.8. */
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
#define INLINE inline __attribute__((always_inline)) /* constant H, dt, masks fold */
#define UNROLL16 _Pragma("GCC unroll 16")
/* keeps v in a register: GCC otherwise folds its load into every FMA that uses it
 * (a load per FMA instead of per vector; 7 heads ran at 80 instead of 100 cycles a block) */
#define IN_REG(v) __asm__("" : "+v"(v))

/* Lane i of the result = the sum of a[i]'s 8 lanes, by folds that halve the lanes per
 * sum and double the sums per register. fold(a, b) at width G puts, in every block of
 * 2G bits, the sum of a's two G-bit halves in the low half and of b's in the high half:
 * x = (a low, b high) plus y = (b low, a high) with its halves swapped. Folding a[i]
 * with a[i + 4] at G = 128 bits, then a[i] with a[i + 2] at 64 and a[0] with a[1] at 32
 * leaves the sums in order: 7 adds, 7 shuffles and 10 blends for 8 dot products. */
AVX512 static INLINE __m256 reduce8(__m256 *a)
{
    UNROLL8 for (int i = 0; i < 4; i++) /* G = 128: one two-source shuffle makes y */
        a[i] = _mm256_add_ps(_mm256_blend_ps(a[i], a[i + 4], 0xF0), _mm256_permute2f128_ps(a[i], a[i + 4], 0x21));
    UNROLL8 for (int i = 0; i < 2; i++) {
        const __m256 y = _mm256_blend_ps(a[i], a[i + 2], 0x33);
        a[i] = _mm256_add_ps(_mm256_blend_ps(a[i], a[i + 2], 0xCC), _mm256_permute_ps(y, 0x4E));
    }
    const __m256 y = _mm256_blend_ps(a[0], a[1], 0x55);
    return _mm256_add_ps(_mm256_blend_ps(a[0], a[1], 0xAA), _mm256_permute_ps(y, 0xB1));
}

/* rows per dot block for H heads: H * R <= 16 accumulators, at least 8 of them */
#define DOT_ROWS(H) ((H) <= 2 ? 8 : (H) <= 4 ? 4 : 2)

/* The scores of H heads (q_h = q + h * d) for R = DOT_ROWS(H) rows kr[0 .. R), of which
 * the first nr are stored (the others repeat a real row). acc[h * R + j] sums q_h times
 * row j lane by lane, 8 columns a step: the row vectors stay in registers for the H
 * heads, each q_h vector is loaded once a step. One or two reductions give the scores
 * in that order, copied per head from a tile. */
AVX512 static INLINE void dot_block(const float *q, int64_t d, const uint8_t *const *kr, int nr, fg_dtype dt,
                                    __m256 vs, float *out, int64_t ld, const int H)
{
    const int R = DOT_ROWS(H);
    __m256 acc[16];
    UNROLL16 for (int i = 0; i < 16; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t c = 0; c < d; c += 8) {
        __m256 k[8];
        UNROLL8 for (int j = 0; j < R; j++) k[j] = load8(kr[j], dt, c);
        UNROLL8 for (int h = 0; h < H; h++) {
            __m256 qh = _mm256_loadu_ps(q + h * d + c);
            IN_REG(qh);
            UNROLL8 for (int j = 0; j < R; j++) acc[h * R + j] = _mm256_fmadd_ps(qh, k[j], acc[h * R + j]);
        }
    }
    float t[16];
    _mm256_storeu_ps(t, _mm256_mul_ps(reduce8(acc), vs));
    if (H * R > 8) _mm256_storeu_ps(t + 8, _mm256_mul_ps(reduce8(acc + 8), vs));
    UNROLL8 for (int h = 0; h < H; h++) {
        if (nr == R) memcpy(out + h * ld, t + h * R, sizeof(float) * (size_t)R);
        else memcpy(out + h * ld, t + h * R, sizeof(float) * (size_t)nr);
    }
}

/* H heads over the n rows, DOT_ROWS(H) at a time */
AVX512 static INLINE void dot_pass(const float *q, const void *rows, fg_dtype dt, size_t stride, int64_t n, int64_t d,
                                   __m256 vs, float *out, int64_t ld, const int H)
{
    const int R = DOT_ROWS(H);
    for (int64_t p = 0; p < n; p += R) {
        const int nr = n - p < R ? (int)(n - p) : R;
        const uint8_t *kr[8];
        UNROLL8 for (int j = 0; j < R; j++) kr[j] = (const uint8_t *)rows + (size_t)(p + (j < nr ? j : nr - 1)) * stride;
        dot_block(q, d, kr, nr, dt, vs, out + p, ld, H);
    }
}

/* 16 floats of row r from column c; lanes outside m are 0 (and not read) */
AVX512 static INLINE __m512 load16(const void *r, fg_dtype dt, int64_t c, __mmask16 m)
{
    if (dt == FG_DT_F32) {
        const float *f = (const float *)r + c;
        return m == 0xFFFF ? _mm512_loadu_ps(f) : _mm512_maskz_loadu_ps(m, f);
    }
    const uint16_t *h = (const uint16_t *)r + c;
    return _mm512_cvtph_ps(m == 0xFFFF ? _mm256_loadu_si256((const __m256i *)h) : _mm256_maskz_loadu_epi16(m, h));
}

/* registers (16 columns each) per head in a weighted-sum pass: enough independent
 * accumulators (at least 4) but, from 5 heads, one register, so that each weight feeds
 * one FMA and GCC embeds its broadcast in it (vbroadcastss to a zmm costs an FP
 * instruction on Zen 4: 7 heads ran at 16.6 instead of 14 cycles a row) */
#define AXPY_REGS(H) ((H) <= 2 ? 4 : (H) <= 4 ? 2 : 1)

/* y_h[c0 .. c0 + 16C) += sum over rows p < n of w[h * ld + p] * row_p for H heads
 * (y_h = y + h * d): C = AXPY_REGS(H) registers of lanes m[i] per head, held over all
 * the rows; each row vector feeds H FMAs. */
AVX512 static INLINE void axpy_block(float *y, const float *w, int64_t ld, int64_t d, const uint8_t *rows,
                                     size_t stride, int64_t n, fg_dtype dt, int64_t c0, const __mmask16 *m, const int H)
{
    const int C = AXPY_REGS(H);
    __m512 acc[16];
    UNROLL16 for (int i = 0; i < H * C; i++) acc[i] = load16(y + i / C * d, FG_DT_F32, c0 + 16 * (i % C), m[i % C]);
    for (int64_t p = 0; p < n; p++) {
        const uint8_t *r = rows + (size_t)p * stride;
        __m512 v[4];
        UNROLL8 for (int i = 0; i < C; i++) v[i] = load16(r, dt, c0 + 16 * i, m[i]);
        UNROLL8 for (int h = 0; h < H; h++) {
            const __m512 wp = _mm512_set1_ps(w[h * ld + p]);
            UNROLL8 for (int i = 0; i < C; i++) acc[h * C + i] = _mm512_fmadd_ps(wp, v[i], acc[h * C + i]);
        }
    }
    UNROLL16 for (int i = 0; i < H * C; i++) {
        float *yi = y + i / C * d + c0 + 16 * (i % C);
        if (m[i % C] == 0xFFFF) _mm512_storeu_ps(yi, acc[i]);
        else _mm512_mask_storeu_ps(yi, m[i % C], acc[i]);
    }
}

/* H heads over the n rows, 16 * AXPY_REGS(H) columns at a time; the last block masked
 * (d % 16 == 8 leaves half a register) */
AVX512 static INLINE void axpy_pass(float *y, const float *w, int64_t ld, int64_t d, const void *rows, size_t stride,
                                    int64_t n, fg_dtype dt, const int H)
{
    const int C = AXPY_REGS(H);
    static const __mmask16 all[4] = {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF};
    for (int64_t c0 = 0; c0 < d; c0 += 16 * C) {
        if (d - c0 >= 16 * C) {
            axpy_block(y, w, ld, d, rows, stride, n, dt, c0, all, H);
            continue;
        }
        __mmask16 m[4];
        for (int i = 0; i < C; i++) {
            const int64_t left = d - c0 - 16 * i;
            m[i] = left >= 16 ? 0xFFFF : left > 0 ? 0x00FF : 0;
        }
        axpy_block(y, w, ld, d, rows, stride, n, dt, c0, m, H);
    }
}

/* nq heads in passes of at most 8, as even as possible (7 heads: one pass; 12: 6 and
 * 6); pass(H) runs one with the constant H (1 .. 8) for heads g .. g + H - 1 */
#define HEAD_PASSES(nq, g, pass)                                                                                       \
    for (int64_t g = 0, left = (nq + 7) / 8; g < nq; left--) {                                                         \
        const int64_t h_ = (nq - g) / left;                                                                            \
        switch (h_) {                                                                                                  \
        case 1: pass(1); break;                                                                                        \
        case 2: pass(2); break;                                                                                        \
        case 3: pass(3); break;                                                                                        \
        case 4: pass(4); break;                                                                                        \
        case 5: pass(5); break;                                                                                        \
        case 6: pass(6); break;                                                                                        \
        case 7: pass(7); break;                                                                                        \
        default: pass(8); break;                                                                                       \
        }                                                                                                              \
        g += h_;                                                                                                       \
    }

AVX512 static INLINE void dot_rows_avx512_dt(const float *q, int64_t nq, const void *rows, fg_dtype dt, size_t stride,
                                             int64_t n, int64_t d, float scale, float *out, int64_t ld)
{
    const __m256 vs = _mm256_set1_ps(scale);
#define DOT_PASS(H) dot_pass(q + g * d, rows, dt, stride, n, d, vs, out + g * ld, ld, H)
    HEAD_PASSES(nq, g, DOT_PASS)
#undef DOT_PASS
}

/* as dot_rows_avx2 (d a multiple of 8), the row type a constant in each copy */
AVX512 static void dot_rows_avx512(const float *q, int64_t nq, const void *rows, fg_dtype dt, size_t stride,
                                   int64_t n, int64_t d, float scale, float *out, int64_t ld)
{
    if (dt == FG_DT_F32) dot_rows_avx512_dt(q, nq, rows, FG_DT_F32, stride, n, d, scale, out, ld);
    else dot_rows_avx512_dt(q, nq, rows, FG_DT_F16, stride, n, d, scale, out, ld);
}

AVX512 static INLINE void axpy_rows_avx512_dt(float *y, const float *w, int64_t ld, int64_t nq, const void *rows,
                                              fg_dtype dt, size_t stride, int64_t n, int64_t d)
{
#define AXPY_PASS(H) axpy_pass(y + g * d, w + g * ld, ld, d, rows, stride, n, dt, H)
    HEAD_PASSES(nq, g, AXPY_PASS)
#undef AXPY_PASS
}

AVX512 static void axpy_rows_avx512(float *y, const float *w, int64_t ld, int64_t nq, const void *rows, fg_dtype dt,
                                    size_t stride, int64_t n, int64_t d)
{
    if (dt == FG_DT_F32) axpy_rows_avx512_dt(y, w, ld, nq, rows, FG_DT_F32, stride, n, d);
    else axpy_rows_avx512_dt(y, w, ld, nq, rows, FG_DT_F16, stride, n, d);
}

/* exp_neg_avx2 in 16 lanes, 2^k applied by scalef */
AVX512 static INLINE __m512 exp_neg_avx512(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(-87.0f);
    const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_max_ps(x, lo);
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 r = EXP_REDUCE(x, k, _mm512_fnmadd_ps, _mm512_set1_ps);
    const __m512 p = EXP_TAYLOR6(r, _mm512_fmadd_ps, _mm512_set1_ps);
    return _mm512_maskz_scalef_ps((__mmask16)~under, p, k);
}

/* x[0 .. 16) = exp(x - mx) in lanes m (the others untouched); returns sum + them */
AVX512 static INLINE __m512 exp16(float *x, __m512 mx, __m512 sum, __mmask16 m)
{
    const __m512 v = m == 0xFFFF ? _mm512_loadu_ps(x) : _mm512_maskz_loadu_ps(m, x);
    const __m512 e = exp_neg_avx512(_mm512_sub_ps(v, mx));
    if (m == 0xFFFF) _mm512_storeu_ps(x, e);
    else _mm512_mask_storeu_ps(x, m, e);
    return _mm512_mask_add_ps(sum, m, sum, e);
}

/* max_avx2, expsum_avx2 (two vectors of exponentials in flight) and scale_avx2 in 16
 * lanes, the last partial vector masked */
AVX512 static float max_avx512(const float *x, int64_t n)
{
    const __mmask16 tail = (__mmask16)((1u << (n % 16)) - 1);
    __m512 vm = _mm512_set1_ps(-INFINITY);
    int64_t i;
    for (i = 0; i + 16 <= n; i += 16) vm = _mm512_max_ps(_mm512_loadu_ps(x + i), vm); /* NaNs never win */
    if (tail) vm = _mm512_max_ps(_mm512_mask_loadu_ps(vm, tail, x + i), vm);
    return _mm512_reduce_max_ps(vm);
}

AVX512 static float expsum_avx512(float *x, int64_t n, float m)
{
    const __mmask16 tail = (__mmask16)((1u << (n % 16)) - 1);
    const __m512 mx = _mm512_set1_ps(m);
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i;
    for (i = 0; i + 32 <= n; i += 32) {
        s0 = exp16(x + i, mx, s0, 0xFFFF);
        s1 = exp16(x + i + 16, mx, s1, 0xFFFF);
    }
    if (i + 16 <= n) {
        s0 = exp16(x + i, mx, s0, 0xFFFF);
        i += 16;
    }
    if (tail) s0 = exp16(x + i, mx, s0, tail);
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

AVX512 static void scale_avx512(float *x, int64_t n, float a)
{
    const __mmask16 tail = (__mmask16)((1u << (n % 16)) - 1);
    const __m512 va = _mm512_set1_ps(a);
    int64_t i;
    for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), va));
    if (tail) _mm512_mask_storeu_ps(x + i, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + i), va));
}
#elif defined(__aarch64__)
static float dot_neon(const float *a, const float *b, int64_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_neon(float *y, float a, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] += a * x[i];
}

/* 4 floats of row r at column c: F32 load or F16 widening (fcvtl) */
static inline float32x4_t load4(const uint8_t *r, fg_dtype dt, int64_t c)
{
    if (dt == FG_DT_F32) return vld1q_f32((const float *)r + c);
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)r + c)));
}

/* d a multiple of 8 */
static void dot_rows_neon(const float *q, const void *rows, fg_dtype dt, size_t stride, int64_t n, int64_t d,
                          float scale, float *out)
{
    for (int64_t p = 0; p < n; p++) {
        const uint8_t *r = (const uint8_t *)rows + (size_t)p * stride;
        float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
        for (int64_t c = 0; c < d; c += 8) {
            s0 = vfmaq_f32(s0, vld1q_f32(q + c), load4(r, dt, c));
            s1 = vfmaq_f32(s1, vld1q_f32(q + c + 4), load4(r, dt, c + 4));
        }
        out[p] = scale * vaddvq_f32(vaddq_f32(s0, s1));
    }
}

static void axpy_rows_neon(float *y, const float *w, const void *rows, fg_dtype dt, size_t stride, int64_t n,
                           int64_t d)
{
    for (int64_t c0 = 0; c0 < d; c0 += 32) {
        const int k = d - c0 >= 32 ? 8 : (int)((d - c0) / 4);
        float32x4_t acc[8];
        for (int j = 0; j < 8; j++) acc[j] = j < k ? vld1q_f32(y + c0 + 4 * j) : vdupq_n_f32(0);
        for (int64_t p = 0; p < n; p++) {
            const uint8_t *r = (const uint8_t *)rows + (size_t)p * stride;
            for (int j = 0; j < k; j++) acc[j] = vfmaq_n_f32(acc[j], load4(r, dt, c0 + 4 * j), w[p]);
        }
        for (int j = 0; j < k; j++) vst1q_f32(y + c0 + 4 * j, acc[j]);
    }
}
#endif

/* The vector code these functions use: one per instruction-set family (both AVX-512
 * builds share the AVX-512 versions, which use the AVX2 ones where they have none of
 * their own; both NEON builds the NEON ones), so a new matmul build of a family needs
 * no change here. */
typedef enum { VEC_SCALAR, VEC_AVX2, VEC_AVX512, VEC_NEON } vec_path;

static vec_path active_path(void)
{
    switch (fg_isa_active()) {
    case FG_ISA_AVX2: return VEC_AVX2;
    case FG_ISA_AVX512:
    case FG_ISA_AVX512_VNNI:
    case FG_ISA_AVX512_AMX: return VEC_AVX512;
    case FG_ISA_NEON:
    case FG_ISA_NEON_DOT: return VEC_NEON;
    default: return VEC_SCALAR;
    }
}

float fg_vec_dot(const float *a, const float *b, int64_t n)
{
    switch (active_path()) {
#if defined(__x86_64__)
    case VEC_AVX512:
    case VEC_AVX2: return dot_avx2(a, b, n);
#elif defined(__aarch64__)
    case VEC_NEON: return dot_neon(a, b, n);
#endif
    default: return dot_scalar(a, b, n);
    }
}

void fg_vec_axpy(float *y, float a, const float *x, int64_t n)
{
    switch (active_path()) {
#if defined(__x86_64__)
    case VEC_AVX512:
    case VEC_AVX2: axpy_avx2(y, a, x, n); return;
#elif defined(__aarch64__)
    case VEC_NEON: axpy_neon(y, a, x, n); return;
#endif
    default: axpy_scalar(y, a, x, n);
    }
}

/* The cache rows an attention call reads were written tokens ago, and the weights
 * streamed through the caches since have evicted them: read one at a time they arrive
 * at memory latency, not bandwidth (Qwen2.5-0.5B, 392 positions, F16 cache: 56 us per
 * layer, against 16 us when they are in cache). So they are prefetched into L2 in
 * bursts that keep many misses in flight: the first KV_AHEAD bytes of rows at once,
 * then, as the calls walk the rows in windows of KV_WIN, the window that far ahead. */
#define KV_AHEAD ((size_t)128 << 10)
#define KV_WIN 64

static int64_t ahead_rows(size_t bytes)
{
    int64_t a = (int64_t)(KV_AHEAD / (bytes ? bytes : 1));
    return a < KV_WIN ? KV_WIN : a;
}

static void prefetch_range(const void *rows, size_t stride, int64_t p0, int64_t p1, size_t bytes)
{
    for (int64_t p = p0; p < p1; p++) {
        /* every 64-byte line the row touches, aligned or not */
        uintptr_t r = (uintptr_t)rows + (size_t)p * stride;
        for (uintptr_t a = r & ~(uintptr_t)63; a < r + bytes; a += 64) __builtin_prefetch((const void *)a, 0, 2);
    }
}

void fg_vec_prefetch_rows(const void *rows, size_t stride, int64_t n, size_t bytes)
{
    int64_t a = ahead_rows(bytes);
    prefetch_range(rows, stride, 0, n < a ? n : a, bytes);
}

void fg_vec_prefetch_next(const void *rows, size_t stride, int64_t p, int64_t n, size_t bytes)
{
    if (p % KV_WIN) return;
    const int64_t a = ahead_rows(bytes);
    if (p == 0) fg_vec_prefetch_rows(rows, stride, n, bytes);
    if (p + a < n) prefetch_range(rows, stride, p + a, p + a + KV_WIN < n ? p + a + KV_WIN : n, bytes);
}

/* Both row calls: the rows in windows of KV_WIN (prefetching ahead), each window on the
 * active path. dot: out[g*n + p] = scale * (a_g . row_p) with a = q; otherwise
 * y_g += sum over p of a[g*n + p] * row_p with a = w, out = y. The vector versions need
 * d % 8 == 0 (every supported head size); others take the scalar ones. Paths without a
 * grouped kernel take the query heads one at a time. */
static void walk_rows(bool dot, const float *a, float *out, int64_t nq, const void *rows, fg_dtype dt, size_t stride,
                      int64_t n, int64_t d, float scale)
{
    if (n <= 0 || nq <= 0) return;
    const bool vec = d % 8 == 0 && d <= FG_VEC_MAX_D;
    const vec_path path = vec ? active_path() : VEC_SCALAR;
    const size_t bytes = fg_row_bytes(dt, d);
    for (int64_t p0 = 0; p0 < n;) {
        fg_vec_prefetch_next(rows, stride, p0, n, bytes);
        const int64_t np = n - p0 < KV_WIN ? n - p0 : KV_WIN;
        const void *r = (const uint8_t *)rows + (size_t)p0 * stride;
        switch (path) {
#if defined(__x86_64__)
        case VEC_AVX2:
            if (dot) dot_rows_avx2(a, nq, r, dt, stride, np, d, scale, out + p0, n);
            else axpy_rows_avx2(out, a + p0, n, nq, r, dt, stride, np, d);
            break;
        case VEC_AVX512:
            if (dot) dot_rows_avx512(a, nq, r, dt, stride, np, d, scale, out + p0, n);
            else axpy_rows_avx512(out, a + p0, n, nq, r, dt, stride, np, d);
            break;
#elif defined(__aarch64__)
        case VEC_NEON:
            for (int64_t g = 0; g < nq; g++)
                if (dot) dot_rows_neon(a + g * d, r, dt, stride, np, d, scale, out + g * n + p0);
                else axpy_rows_neon(out + g * d, a + g * n + p0, r, dt, stride, np, d);
            break;
#endif
        default:
            for (int64_t g = 0; g < nq; g++)
                if (dot) dot_rows_scalar(a + g * d, r, dt, stride, np, d, scale, out + g * n + p0);
                else axpy_rows_scalar(out + g * d, a + g * n + p0, r, dt, stride, np, d);
        }
        p0 += np;
    }
}

void fg_vec_dot_rows(const float *q, int64_t nq, const void *rows, fg_dtype dt, size_t stride, int64_t n, int64_t d,
                     float scale, float *out)
{
    walk_rows(true, q, out, nq, rows, dt, stride, n, d, scale);
}

void fg_vec_axpy_rows(float *y, const float *w, int64_t nq, const void *rows, fg_dtype dt, size_t stride, int64_t n,
                      int64_t d)
{
    walk_rows(false, w, y, nq, rows, dt, stride, n, d, 0);
}

static float vmax(const float *x, int64_t n)
{
    switch (active_path()) {
#if defined(__x86_64__)
    case VEC_AVX2: return max_avx2(x, n);
    case VEC_AVX512: return max_avx512(x, n);
#endif
    default: return max_scalar(x, n);
    }
}

static float vexpsum(float *x, int64_t n, float mx)
{
    switch (active_path()) {
#if defined(__x86_64__)
    case VEC_AVX2: return expsum_avx2(x, n, mx);
    case VEC_AVX512: return expsum_avx512(x, n, mx);
#endif
    default: return expsum_scalar(x, n, mx);
    }
}

void fg_vec_scale(float *x, int64_t n, float a)
{
    switch (active_path()) {
#if defined(__x86_64__)
    case VEC_AVX2: scale_avx2(x, n, a); return;
    case VEC_AVX512: scale_avx512(x, n, a); return;
#endif
    default:
        for (int64_t i = 0; i < n; i++) x[i] *= a;
    }
}

void fg_vec_softmax(float *x, int64_t n)
{
    if (n <= 0) return;
    fg_vec_scale(x, n, 1.0f / vexpsum(x, n, vmax(x, n)));
}

float fg_vec_softmax_window(float *x, int64_t n, float *m, float *l)
{
    if (n <= 0) return 1.0f;
    const float mx = vmax(x, n), m_new = mx > *m ? mx : *m;
    /* exp(-inf) = 0: nothing before this window */
    const float corr = *m == -INFINITY ? 0.0f : expf(*m - m_new);
    *l = *l * corr + vexpsum(x, n, m_new);
    *m = m_new;
    return corr;
}

int64_t fg_vec_argmax(const float *x, int64_t n)
{
    if (n <= 0) return 0;
    switch (active_path()) {
#if defined(__x86_64__)
    case VEC_AVX512:
    case VEC_AVX2: return argmax_avx2(x, n);
#endif
    default: break;
    }
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    for (int64_t i = 0; i < n; i++)
        if (x[i] == mx) return i;
    return 0;
}

void fg_vec_silu_mul(float *gate, const float *up, int64_t n)
{
    switch (active_path()) {
#if defined(__x86_64__)
    case VEC_AVX512:
    case VEC_AVX2: silu_mul_avx2(gate, up, n); return;
#endif
    default: break;
    }
    for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
