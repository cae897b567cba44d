/* fg_matmul on every dtype x every instruction-set path this CPU has x token counts
 * {1,2,3,7,16,33} x odd row counts, against a float64 reference computed here from the
 * dequantized weights (so the reference is exact math on the weights as stored).
 *
 * Tolerances, per output y[t][r] = sum_i w_i x_i, with A = sum_i |w_i x_i|:
 *   - float activations (the scalar path for every dtype, SIMD paths for F32/F16/BF16):
 *     float32 accumulation of at most K = cols/8 + 32 terms per partial sum (16 lanes
 *     or 8 partial sums, then the reduction), so |err| <= K * 2^-24 * A (the standard
 *     gamma_K bound with u = 2^-24, doubled for the final cross-lane sums).
 *   - int8 activations (SIMD paths for quantized weights): x is rounded per block of 32
 *     to d * q with d = max|x_block| / 127, |x - d q| <= d / 2, so on top of the float
 *     bound |err| <= sum_i |w_i| * d(i) / 2, computed exactly here; and, tighter, the
 *     result must equal sum_i w_i d q_i (the same rounding done here) within the float
 *     bound alone.
 *   - BF16 weights and activations (path avx512amx, quantized weights, batches of
 *     FG_AMX_MIN_N tokens or more): each factor rounded to 8 significant bits, so
 *     |err| <= (2 u + u^2) A with u = 2^-8 on top of the float bound, here with K = cols
 *     (the tile sums each output along the whole row); and, tighter, the result must
 *     equal sum_i bf16(w_i) bf16(x_i) (the same roundings done here) within the float
 *     bound alone.
 *   - BF16 parts (path avx512amx, F16/BF16 weights, the same batches, cols a multiple
 *     of 32): x = xh + xl and w = wh + wl in BF16 (wl = 0 for BF16; exact for F16), the
 *     sum of wh xh + wh xl + wl xh: x's remainder and the dropped wl xl stay below
 *     2^-16 A each, K = 3 cols; and, tighter, the result must equal that sum of the
 *     parts computed here within the float bound alone.
 * A layout or indexing bug moves results by O(A), orders of magnitude above both. */
#include "testutil.h"
#include "core/core.h"
#include "core/matmul-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 12345;
static double urand(void) /* [0, 1) */
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) * 0x1p-53;
}
static float grand(void) /* roughly gaussian */
{
    return (float)((urand() + urand() + urand() + urand() - 2.0) * 1.7);
}

typedef struct {
    fg_mat m;
    uint8_t *bytes;
    double *wd;   /* dequantized weights, [rows x cols] */
} weights;

static void make_weights(weights *w, fg_dtype dt, int64_t rows, int64_t cols)
{
    size_t rb = fg_row_bytes(dt, cols);
    assert_true(rb > 0);
    size_t stride = rb + 32; /* padded rows: kernels must honour row_stride */
    w->bytes = malloc(stride * (size_t)rows);
    w->wd = malloc(sizeof(double) * (size_t)(rows * cols));
    float *row = malloc(sizeof(float) * (size_t)cols);
    assert_non_null(w->bytes);
    assert_non_null(w->wd);
    assert_non_null(row);
    memset(w->bytes, 0x5A, stride * (size_t)rows);
    for (int64_t r = 0; r < rows; r++) {
        float scale = 0.05f * (float)(1 + r % 7);
        for (int64_t i = 0; i < cols; i++) row[i] = grand() * scale;
        if (r % 5 == 1) row[0] = 2.5f; /* an outlier */
        fg_quantize_row(dt, row, w->bytes + (size_t)r * stride, cols);
        fg_dequant_row(dt, w->bytes + (size_t)r * stride, row, cols);
        for (int64_t i = 0; i < cols; i++) w->wd[r * cols + i] = row[i];
    }
    free(row);
    w->m = (fg_mat){.dtype = dt, .rows = rows, .cols = cols, .row_stride = stride, .data = w->bytes};
}

static void free_weights(weights *w)
{
    free(w->bytes);
    free(w->wd);
}

static float *make_x(int n, int64_t cols)
{
    float *x = malloc(sizeof(float) * (size_t)(n * cols));
    assert_non_null(x);
    for (int t = 0; t < n; t++)
        for (int64_t i = 0; i < cols; i++) {
            float v = grand();
            if (i % 97 == 3) v *= 20;      /* activation outliers */
            if (t % 3 == 2 && i < 40) v = 0; /* an all-zero block */
            x[(size_t)t * cols + i] = v;
        }
    return x;
}

/* How a path treats the activations of n tokens against dtype dt (cols columns). */
typedef enum { ACT_FLOAT, ACT_INT8, ACT_BF16, ACT_BF16_SPLIT } act_mode;
static act_mode activations(fg_isa isa, fg_dtype dt, int64_t cols, int n)
{
    if (isa == FG_ISA_SCALAR || dt == FG_DT_F32) return ACT_FLOAT;
#if defined(FG_ARCH_X86)
    if (isa == FG_ISA_AVX512_AMX && n >= FG_AMX_MIN_N) {
        if (dt >= FG_DT_Q8_0) return ACT_BF16;
        return cols % 32 == 0 ? ACT_BF16_SPLIT : ACT_FLOAT;
    }
#endif
    (void)n;
    (void)cols;
    return dt < FG_DT_Q8_0 ? ACT_FLOAT : ACT_INT8;
}

/* round to nearest even at 8 significant bits (what vcvtne2ps2bf16 does; no NaNs here) */
static double bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

/* Runs one case on the active path; returns the worst err / tolerance. */
static double check_case(const weights *w, const float *x, int n, fg_pool *pool, fg_isa isa, const char *what)
{
    const int64_t rows = w->m.rows, cols = w->m.cols;
    size_t ws = fg_matmul_work_size(w->m.dtype, cols, n, fg_pool_size(pool));
    void *work = ws ? malloc(ws) : NULL;
    float *y = malloc(sizeof(float) * (size_t)(n * rows));
    assert_non_null(y);
    for (size_t i = 0; i < (size_t)(n * rows); i++) y[i] = NAN;
    fg_matmul(&w->m, x, n, y, pool, work);
    double worst = 0;
    const act_mode mode = activations(isa, w->m.dtype, cols, n);
    const bool qa = mode == ACT_INT8, bf = mode == ACT_BF16, sp = mode == ACT_BF16_SPLIT;
    double *xh = malloc(sizeof(double) * (size_t)cols);
    assert_non_null(xh);
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * cols;
        double dblk[4096 / 32 + 1];
        for (int64_t b = 0; b < cols / 32 && qa; b++) {
            /* the activation rounding of the SIMD paths, exactly: d = max|x| / 127 and
             * q = nearest-even(x * (1/d)) in float32 */
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xt[32 * b + i]));
            float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
            dblk[b] = d;
            for (int i = 0; i < 32; i++) xh[32 * b + i] = (double)d * nearbyintf(xt[32 * b + i] * id);
        }
        for (int64_t r = 0; r < rows; r++) {
            const double *wr = w->wd + r * cols;
            double ref = 0, a = 0, qb = 0, refq = 0, aq = 0, wmax = 0, xs = 0, refb = 0, ab = 0;
            for (int64_t i = 0; i < cols; i++) {
                ref += wr[i] * xt[i];
                a += fabs(wr[i] * xt[i]);
                if (bf) {
                    double p = bf16_round((float)wr[i]) * bf16_round(xt[i]);
                    refb += p;
                    ab += fabs(p);
                }
                if (sp) {
                    /* both factors as BF16 hi + lo parts (remainders exact in float);
                     * the kernel sums hi*hi + hi*lo + lo*hi (lo*lo is 0 for BF16) */
                    const double wh = bf16_round((float)wr[i]), wl = bf16_round((float)(wr[i] - wh));
                    const double xhi = bf16_round(xt[i]), xlo = bf16_round((float)(xt[i] - xhi));
                    const double p[3] = {wh * xhi, wh * xlo, wl * xhi};
                    for (int k = 0; k < 3; k++) {
                        refb += p[k];
                        ab += fabs(p[k]);
                    }
                }
                if (qa) {
                    qb += fabs(wr[i]) * dblk[i / 32] / 2;
                    refq += wr[i] * xh[i];
                    aq += fabs(wr[i] * xh[i]);
                    wmax = fmax(wmax, fabs(wr[i]));
                    xs += fabs(xh[i]);
                }
            }
            /* float terms per sum: the tiles sum a whole row, three products per
             * element when split */
            const double kf = bf ? (double)(cols + 32) : sp ? (double)(3 * cols + 32) : (double)(cols / 8 + 32);
            /* rounding of the factors: BF16 moves each by 2^-8; the split parts leave
             * x's remainder 2^-16 and drop lo*lo (2^-16) */
            double tol = kf * 0x1p-24 * a * 2 + qb * 1.0001 + (bf ? 0x1p-7 * 1.01 * a : 0) +
                         (sp ? 0x1p-15 * 1.01 * a : 0) + 1e-30;
            double got = y[(size_t)t * rows + r];
            double err = fabs(got - ref);
            if (!(err <= tol))
                fail_msg("%s: y[%d][%lld] = %.9g, reference %.9g, err %.3g > tol %.3g", what, t, (long long)r, got,
                         ref, err, tol);
            if (err / tol > worst) worst = err / tol;
            if (bf || sp) {
                /* against the same math on the BF16-rounded weights and activations */
                double tolb = kf * 0x1p-24 * ab * 2 + 1e-30;
                if (!(fabs(got - refb) <= tolb))
                    fail_msg("%s: y[%d][%lld] = %.9g, reference on BF16 factors %.9g, err %.3g > %.3g", what, t,
                             (long long)r, got, refb, fabs(got - refb), tolb);
            }
            if (qa) {
                /* against the same math on the rounded activations: only float32
                 * rounding (products of int8 levels are exact) separates the two, so
                 * any misplaced scale or level shows. Kernels may add offset or min
                 * terms in float (level offset * scale <= 1.2 max|w| per element, with
                 * the sum of |x|), which bounds the magnitudes being rounded. */
                double tolq = (double)(cols / 8 + 32) * 0x1p-24 * (aq + 1.2 * wmax * xs) * 2 + 1e-30;
                if (!(fabs(got - refq) <= tolq))
                    fail_msg("%s: y[%d][%lld] = %.9g, reference on rounded activations %.9g, err %.3g > %.3g", what,
                             t, (long long)r, got, refq, fabs(got - refq), tolq);
            }
        }
    }
    free(xh);
    free(y);
    free(work);
    return worst;
}

static const fg_dtype all_dtypes[] = {FG_DT_F32, FG_DT_F16, FG_DT_BF16, FG_DT_Q8_0,
                                      FG_DT_Q4_0, FG_DT_Q4_K, FG_DT_Q5_K, FG_DT_Q6_K};

static void test_all_paths(void **state)
{
    (void)state;
    const int ns[] = {1, 2, 3, 7, 16, 33};
    const int64_t row_counts[] = {1, 5, 50}; /* 50: AMX panels of 32 + 18 rows, or ~17 per thread */
    fg_pool *pool3 = NULL;
    assert_int_equal(fg_pool_create(3, &pool3), FG_OK);
    int paths = 0;
    for (int isa = 0; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        paths++;
        assert_int_equal(fg_isa_force((fg_isa)isa), FG_OK);
        assert_int_equal(fg_isa_active(), isa);
        for (size_t d = 0; d < sizeof all_dtypes / sizeof all_dtypes[0]; d++) {
            fg_dtype dt = all_dtypes[d];
            int be = fg_dtype_get(dt)->block_elems;
            /* column counts: odd ones and a vector tail for floats (and, for the AMX
             * tiles, 1056: two panel chunks of 512 and one of 32), odd block counts for
             * the 32-blocks, one to four super-blocks for K-quants */
            int64_t cols_list[5];
            int ncols = 4;
            if (be == 1) {
                cols_list[0] = 7; cols_list[1] = 100; cols_list[2] = 512; cols_list[3] = 1; cols_list[4] = 1056;
                ncols = 5;
            } else if (be == 32) { /* 7 blocks: a group of 4, a pair and a single */
                cols_list[0] = 32; cols_list[1] = 96; cols_list[2] = 512; cols_list[3] = 224;
            } else {
                cols_list[0] = 256; cols_list[1] = 768; cols_list[2] = 512; cols_list[3] = 1024;
            }
            double worst = 0;
            for (int ci = 0; ci < ncols; ci++)
                for (int ri = 0; ri < 3; ri++) {
                    weights w;
                    make_weights(&w, dt, row_counts[ri], cols_list[ci]);
                    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                        float *x = make_x(ns[ni], cols_list[ci]);
                        char what[128];
                        snprintf(what, sizeof what, "%s %s rows %lld cols %lld n %d", fg_isa_name((fg_isa)isa),
                                 fg_dtype_name(dt), (long long)row_counts[ri], (long long)cols_list[ci], ns[ni]);
                        double e = check_case(&w, x, ns[ni], (ni & 1) ? pool3 : NULL, (fg_isa)isa, what);
                        if (e > worst) worst = e;
                        free(x);
                    }
                    free_weights(&w);
                }
            printf("  %-7s %-5s worst err/tol %.3f\n", fg_isa_name((fg_isa)isa), fg_dtype_name(dt), worst);
        }
    }
    assert_true(paths >= 1);
    fg_pool_free(pool3);
}

/* Q8_0 levels over their whole byte range, -128 included (our quantizer never writes
 * -128, other tools' files may): the no-VNNI AVX-512 kernel takes |w| <= 128 against x
 * with w's sign, and a level of -128 is where that could overflow. Every path, decode
 * and batch token counts, against the float64 reference. */
static void test_q8_0_extremes(void **state)
{
    (void)state;
    const int64_t rows = 9, cols = 96;
    weights w;
    size_t stride = fg_row_bytes(FG_DT_Q8_0, cols);
    w.bytes = malloc(stride * rows);
    w.wd = malloc(sizeof(double) * (size_t)(rows * cols));
    float *deq = malloc(sizeof(float) * (size_t)cols);
    assert_non_null(w.bytes);
    assert_non_null(w.wd);
    assert_non_null(deq);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t b = 0; b < cols / 32; b++) {
            uint8_t *blk = w.bytes + (size_t)r * stride + (size_t)b * 34;
            uint16_t d16 = 0x2000 + (uint16_t)(r * 97 + b * 13); /* f16 scales around 0.008 */
            memcpy(blk, &d16, 2);
            for (int i = 0; i < 32; i++) {
                int v = (int)(urand() * 256) - 128;
                if ((i + r) % 5 == 0) v = -128;
                if ((i + b) % 7 == 0) v = 127;
                blk[2 + i] = (uint8_t)(int8_t)v;
            }
        }
        fg_dequant_row(FG_DT_Q8_0, w.bytes + (size_t)r * stride, deq, cols);
        for (int64_t i = 0; i < cols; i++) w.wd[r * cols + i] = deq[i];
    }
    free(deq);
    w.m = (fg_mat){.dtype = FG_DT_Q8_0, .rows = rows, .cols = cols, .row_stride = stride, .data = w.bytes};
    int paths = 0;
    for (int isa = 0; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        paths++;
        assert_int_equal(fg_isa_force((fg_isa)isa), FG_OK);
        const int ns[] = {1, 3, 16};
        for (int k = 0; k < 3; k++) {
            float *x = make_x(ns[k], cols);
            char what[96];
            snprintf(what, sizeof what, "%s q8_0 extreme levels n %d", fg_isa_name((fg_isa)isa), ns[k]);
            check_case(&w, x, ns[k], NULL, (fg_isa)isa, what);
            free(x);
        }
    }
    assert_true(paths >= 1);
    free_weights(&w);
}

/* Long rows and many tokens: token blocking and large K, every path, 2 threads. */
static void test_large(void **state)
{
    (void)state;
    fg_pool *pool = NULL;
    assert_int_equal(fg_pool_create(2, &pool), FG_OK);
    for (int isa = 0; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        assert_int_equal(fg_isa_force((fg_isa)isa), FG_OK);
        for (size_t d = 0; d < sizeof all_dtypes / sizeof all_dtypes[0]; d++) {
            weights w;
            make_weights(&w, all_dtypes[d], 11, 4096);
            float *x = make_x(70, 4096);
            char what[64];
            snprintf(what, sizeof what, "%s %s large", fg_isa_name((fg_isa)isa), fg_dtype_name(all_dtypes[d]));
            check_case(&w, x, 70, pool, (fg_isa)isa, what);
            free(x);
            free_weights(&w);
        }
    }
    fg_pool_free(pool);
}

/* Many tokens: the SIMD paths split tokens into blocks that stay in cache (several
 * blocks here for the float kernels and the AVX-512 token-lane kernel). */
static void test_token_blocks(void **state)
{
    (void)state;
    fg_pool *pool = NULL;
    assert_int_equal(fg_pool_create(2, &pool), FG_OK);
    for (int isa = 1; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        assert_int_equal(fg_isa_force((fg_isa)isa), FG_OK);
        for (size_t d = 0; d < sizeof all_dtypes / sizeof all_dtypes[0]; d++) {
            weights w;
            make_weights(&w, all_dtypes[d], 6, 4096);
            float *x = make_x(600, 4096);
            char what[64];
            snprintf(what, sizeof what, "%s %s 600 tokens", fg_isa_name((fg_isa)isa), fg_dtype_name(all_dtypes[d]));
            check_case(&w, x, 600, pool, (fg_isa)isa, what);
            free(x);
            free_weights(&w);
        }
    }
    fg_pool_free(pool);
}

/* fg_matmul_group (q, k, v or gate, up in one hand-off) gives exactly what one fg_matmul
 * per matrix gives (each of those is checked against float64 above): row counts that
 * keep the boundaries aligned and ones that do not, mixed dtypes (no grouping), decode
 * and prefill token counts, 1 and 3 threads. */
static void test_group(void **state)
{
    (void)state;
    fg_pool *pool3 = NULL;
    assert_int_equal(fg_pool_create(3, &pool3), FG_OK);
    const int64_t shapes[3][3] = {{64, 8, 8}, {12, 5, 33}, {4, 128, 1}};
    const fg_dtype types[][3] = {{FG_DT_Q8_0, FG_DT_Q8_0, FG_DT_Q8_0}, {FG_DT_Q4_K, FG_DT_Q4_K, FG_DT_Q4_K},
                                 {FG_DT_F16, FG_DT_F16, FG_DT_F16}, {FG_DT_Q4_K, FG_DT_Q4_K, FG_DT_Q6_K}};
    const int ns[] = {1, 3, 20};
    for (int isa = 0; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        assert_int_equal(fg_isa_force((fg_isa)isa), FG_OK);
        for (size_t ty = 0; ty < sizeof types / sizeof types[0]; ty++)
            for (int sh = 0; sh < 3; sh++)
                for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                    const int64_t cols = 512;
                    const int n = ns[ni];
                    weights w[3];
                    const fg_mat *mats[3];
                    float *ya[3], *yb[3];
                    size_t ws = 0;
                    for (int i = 0; i < 3; i++) {
                        make_weights(&w[i], types[ty][i], shapes[sh][i], cols);
                        mats[i] = &w[i].m;
                        ya[i] = malloc(sizeof(float) * (size_t)(n * shapes[sh][i]));
                        yb[i] = malloc(sizeof(float) * (size_t)(n * shapes[sh][i]));
                        assert_true(ya[i] && yb[i]);
                        for (int64_t e = 0; e < n * shapes[sh][i]; e++) ya[i][e] = yb[i][e] = NAN;
                        size_t s1 = fg_matmul_work_size(types[ty][i], cols, n, 3);
                        if (s1 > ws) ws = s1;
                    }
                    void *work = ws ? malloc(ws) : NULL;
                    float *x = make_x(n, cols);
                    fg_pool *pool = ni == 1 ? NULL : pool3;
                    fg_matmul_group(3, mats, x, n, ya, pool, work);
                    for (int i = 0; i < 3; i++) fg_matmul(mats[i], x, n, yb[i], pool, work);
                    for (int i = 0; i < 3; i++) {
                        if (memcmp(ya[i], yb[i], sizeof(float) * (size_t)(n * shapes[sh][i])) != 0)
                            fail_msg("%s group %s/%s/%s rows %lld/%lld/%lld n %d: matrix %d differs from fg_matmul",
                                     fg_isa_name((fg_isa)isa), fg_dtype_name(types[ty][0]), fg_dtype_name(types[ty][1]),
                                     fg_dtype_name(types[ty][2]), (long long)shapes[sh][0], (long long)shapes[sh][1],
                                     (long long)shapes[sh][2], n, i);
                        free(ya[i]);
                        free(yb[i]);
                        free_weights(&w[i]);
                    }
                    free(x);
                    free(work);
                }
    }
    fg_pool_free(pool3);
}

/* Decode (1 to 4 tokens) shares its tiles out: each thread takes its own from the
 * front and, done, the last ones of whoever has most left. However the threads race
 * (here 2, 3 and 5 of them on however few cores, many times over), every row must come
 * out exactly as one thread computes it: none skipped (Y starts as NaN), none with
 * another row's inputs. Also through fg_matmul_group_then naming the next matrices. */
static void test_shared_tiles(void **state)
{
    (void)state;
    const fg_dtype types[] = {FG_DT_Q8_0, FG_DT_Q4_K, FG_DT_F16};
    const int64_t cols = 512, rows[2] = {2000, 1204};
    for (int isa = 0; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        assert_int_equal(fg_isa_force((fg_isa)isa), FG_OK);
        for (size_t ty = 0; ty < sizeof types / sizeof types[0]; ty++) {
            weights w[2];
            const fg_mat *mats[2];
            for (int i = 0; i < 2; i++) {
                make_weights(&w[i], types[ty], rows[i], cols);
                mats[i] = &w[i].m;
            }
            for (int n = 1; n <= 4; n += 3) {
                size_t ws = fg_matmul_work_size(types[ty], cols, n, 5);
                void *work = ws ? malloc(ws) : NULL;
                float *x = make_x(n, cols), *want[2], *got[2];
                for (int i = 0; i < 2; i++) {
                    want[i] = malloc(sizeof(float) * (size_t)(n * rows[i]));
                    got[i] = malloc(sizeof(float) * (size_t)(n * rows[i]));
                    assert_true(want[i] && got[i]);
                }
                fg_matmul_group(2, mats, x, n, want, NULL, work);
                const int threads[] = {2, 3, 5};
                for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++) {
                    fg_pool *pool = NULL;
                    assert_int_equal(fg_pool_create(threads[ti], &pool), FG_OK);
                    for (int rep = 0; rep < 20; rep++) {
                        for (int i = 0; i < 2; i++)
                            for (int64_t e = 0; e < n * rows[i]; e++) got[i][e] = NAN;
                        if (rep & 1)
                            fg_matmul_group_then(2, mats, x, n, got, pool, work, 1, &mats[0]);
                        else
                            fg_matmul_group(2, mats, x, n, got, pool, work);
                        for (int i = 0; i < 2; i++)
                            if (memcmp(want[i], got[i], sizeof(float) * (size_t)(n * rows[i])) != 0)
                                fail_msg("%s %s n %d, %d threads, try %d: matrix %d differs from one thread",
                                         fg_isa_name((fg_isa)isa), fg_dtype_name(types[ty]), n, threads[ti], rep, i);
                    }
                    fg_pool_free(pool);
                }
                for (int i = 0; i < 2; i++) {
                    free(want[i]);
                    free(got[i]);
                }
                free(x);
                free(work);
            }
            for (int i = 0; i < 2; i++) free_weights(&w[i]);
        }
    }
}

/* A gated feed-forward's first half (fg_matmul_glu_then): gate and up share tiles, and
 * each thread applies silu(gate) * up to the rows it computed. Against the two products
 * computed apart (one thread) and combined after, in double: decode (shared tiles, with
 * 2, 3 and 5 threads racing) and batches (the prefill kernels). Every row must be
 * combined exactly once (a row combined twice or not at all is off by far more than
 * rounding), and up must be left holding its product. */
static void test_glu(void **state)
{
    (void)state;
    const fg_dtype types[] = {FG_DT_Q8_0, FG_DT_Q4_K, FG_DT_F16};
    const int64_t cols = 512, rows = 1804;
    for (int isa = 0; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        assert_int_equal(fg_isa_force((fg_isa)isa), FG_OK);
        for (size_t ty = 0; ty < sizeof types / sizeof types[0]; ty++) {
            weights g, u;
            make_weights(&g, types[ty], rows, cols);
            make_weights(&u, types[ty], rows, cols);
            const int ns[] = {1, 4, 13};
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                const int n = ns[ni];
                size_t ws = fg_matmul_work_size(types[ty], cols, n, 5);
                void *work = ws ? malloc(ws) : NULL;
                float *x = make_x(n, cols);
                size_t ny = (size_t)n * (size_t)rows;
                float *yg = malloc(sizeof(float) * ny), *yu = malloc(sizeof(float) * ny);
                float *gg = malloc(sizeof(float) * ny), *gu = malloc(sizeof(float) * ny);
                assert_true(yg && yu && gg && gu);
                fg_matmul(&g.m, x, n, yg, NULL, work);
                fg_matmul(&u.m, x, n, yu, NULL, work);
                const int threads[] = {1, 2, 3, 5};
                for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++) {
                    fg_pool *pool = NULL;
                    if (threads[ti] > 1) assert_int_equal(fg_pool_create(threads[ti], &pool), FG_OK);
                    for (int rep = 0; rep < (n <= 4 ? 10 : 2); rep++) {
                        for (size_t e = 0; e < ny; e++) gg[e] = gu[e] = NAN;
                        fg_matmul_glu_then(&g.m, &u.m, x, n, gg, gu, pool, work, rep & 1, (const fg_mat *const[]){&g.m});
                        if (memcmp(yu, gu, sizeof(float) * ny) != 0)
                            fail_msg("%s %s n %d, %d threads: up differs from its product", fg_isa_name((fg_isa)isa),
                                     fg_dtype_name(types[ty]), n, threads[ti]);
                        for (size_t e = 0; e < ny; e++) {
                            double a = yg[e], want = a / (1 + exp(-a)) * yu[e];
                            if (!(fabs(gg[e] - want) <= 1e-5 * fabs(want) + 1e-6))
                                fail_msg("%s %s n %d, %d threads: element %zu is %g, want %g", fg_isa_name((fg_isa)isa),
                                         fg_dtype_name(types[ty]), n, threads[ti], e, gg[e], want);
                        }
                    }
                    fg_pool_free(pool);
                }
                free(yg);
                free(yu);
                free(gg);
                free(gu);
                free(x);
                free(work);
            }
            free_weights(&g);
            free_weights(&u);
        }
    }
}

/* A group of matrices with different dtypes (the _M mixtures' q/k/v) shares one job in
 * decode, X prepared once per dtype in `work`, sized as a session sizes it (the largest
 * fg_matmul_work_size of the group's matrices, allocated exactly so that ASan sees an
 * overrun); beyond MIXED_MAX_TOKENS tokens they go one call each. Every matrix must come
 * out exactly as alone, on any number of threads. */
static void test_mixed_group(void **state)
{
    (void)state;
    const fg_dtype sets[2][3] = {{FG_DT_Q4_0, FG_DT_Q4_0, FG_DT_Q8_0}, {FG_DT_Q4_K, FG_DT_Q8_0, FG_DT_Q6_K}};
    const int64_t cols = 512, rows[3] = {520, 128, 100};
    for (int isa = 0; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        assert_int_equal(fg_isa_force((fg_isa)isa), FG_OK);
        for (int set = 0; set < 2; set++) {
            weights w[3];
            const fg_mat *mats[3];
            for (int i = 0; i < 3; i++) {
                make_weights(&w[i], sets[set][i], rows[i], cols);
                mats[i] = &w[i].m;
            }
            const int ns[] = {1, 2, 4, 5, 13};
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                const int n = ns[ni];
                size_t ws = 0;
                for (int i = 0; i < 3; i++) {
                    size_t s = fg_matmul_work_size(sets[set][i], cols, n, 5);
                    if (s > ws) ws = s;
                }
                void *work = malloc(ws);
                float *x = make_x(n, cols), *want[3], *got[3];
                for (int i = 0; i < 3; i++) {
                    want[i] = malloc(sizeof(float) * (size_t)(n * rows[i]));
                    got[i] = malloc(sizeof(float) * (size_t)(n * rows[i]));
                    assert_true(work && want[i] && got[i]);
                    fg_matmul(mats[i], x, n, want[i], NULL, work);
                }
                const int threads[] = {1, 2, 3, 5};
                for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++) {
                    fg_pool *pool = NULL;
                    if (threads[ti] > 1) assert_int_equal(fg_pool_create(threads[ti], &pool), FG_OK);
                    for (int rep = 0; rep < 5; rep++) {
                        for (int i = 0; i < 3; i++)
                            for (int64_t e = 0; e < n * rows[i]; e++) got[i][e] = NAN;
                        fg_matmul_group_then(3, mats, x, n, got, pool, work, 3, mats);
                        for (int i = 0; i < 3; i++)
                            if (memcmp(want[i], got[i], sizeof(float) * (size_t)(n * rows[i])) != 0)
                                fail_msg("%s set %d n %d, %d threads: matrix %d (%s) differs from alone",
                                         fg_isa_name((fg_isa)isa), set, n, threads[ti], i, fg_dtype_name(sets[set][i]));
                    }
                    fg_pool_free(pool);
                }
                for (int i = 0; i < 3; i++) {
                    free(want[i]);
                    free(got[i]);
                }
                free(x);
                free(work);
            }
            for (int i = 0; i < 3; i++) free_weights(&w[i]);
        }
    }
}

static void test_dispatch(void **state)
{
    (void)state;
    assert_true(fg_isa_supported(FG_ISA_SCALAR));
    assert_string_equal(fg_isa_name(FG_ISA_AVX512), "avx512");
    assert_string_equal(fg_isa_name(FG_ISA_AVX512_VNNI), "avx512vnni");
    assert_string_equal(fg_isa_name(FG_ISA_AVX512_AMX), "avx512amx");
    assert_string_equal(fg_isa_name(FG_ISA_NEON_DOT), "neondot");
    /* the faster build of a pair implies the other */
    if (fg_isa_supported(FG_ISA_AVX512_VNNI)) assert_true(fg_isa_supported(FG_ISA_AVX512));
    if (fg_isa_supported(FG_ISA_AVX512_AMX)) assert_true(fg_isa_supported(FG_ISA_AVX512_VNNI));
    if (fg_isa_supported(FG_ISA_NEON_DOT)) assert_true(fg_isa_supported(FG_ISA_NEON));
    assert_string_equal(fg_isa_name(FG_ISA_COUNT), "?");
    assert_int_equal(fg_isa_force(FG_ISA_COUNT), FG_ERR_ARG);
#if defined(__x86_64__)
    assert_false(fg_isa_supported(FG_ISA_NEON));
    assert_int_equal(fg_isa_force(FG_ISA_NEON), FG_ERR_UNSUPPORTED);
    assert_true(strstr(fg_last_error(), "neon") != NULL);
#endif
    assert_int_equal(fg_isa_force(FG_ISA_SCALAR), FG_OK);
    assert_int_equal(fg_isa_active(), FG_ISA_SCALAR);
    /* float weights never need scratch; quantized ones need it for any SIMD path */
    assert_int_equal(fg_matmul_work_size(FG_DT_F32, 512, 8, 4), 0);
    assert_int_equal(fg_matmul_work_size(FG_DT_Q8_0, 100, 8, 4), 0); /* not a block multiple */
    if (fg_isa_supported(FG_ISA_AVX2) || fg_isa_supported(FG_ISA_AVX512) || fg_isa_supported(FG_ISA_NEON))
        assert_true(fg_matmul_work_size(FG_DT_Q4_K, 512, 8, 1) >= 8 * 512);
    /* a buffer sized for n tokens and t threads serves every smaller n and t: the size
     * never shrinks as either grows */
    const int64_t cols[] = {32, 64, 256, 4864};
    for (size_t d = 0; d < FG_DT_COUNT; d++)
        for (size_t c = 0; c < 4; c++)
            for (int t = 1; t <= 9; t += 4) {
                size_t prev = 0;
                for (int n = 1; n <= 70; n++) {
                    size_t s = fg_matmul_work_size((fg_dtype)d, cols[c], n, t);
                    if (s < prev) fail_msg("%s cols %lld, %d threads: work size shrinks from %zu to %zu at n = %d",
                                           fg_dtype_name((fg_dtype)d), (long long)cols[c], t, prev, s, n);
                    if (t > 1 && s < fg_matmul_work_size((fg_dtype)d, cols[c], n, t - 4))
                        fail_msg("%s cols %lld, n %d: work size shrinks with more threads (%d)",
                                 fg_dtype_name((fg_dtype)d), (long long)cols[c], n, t);
                    prev = s;
                }
            }
}

/* Without a work buffer the SIMD paths fall back to the exact (scalar) computation;
 * invalid shapes yield NaN rather than reading out of bounds. */
static void test_fallbacks(void **state)
{
    (void)state;
    weights w;
    make_weights(&w, FG_DT_Q4_K, 9, 512);
    float *x = make_x(3, 512);
    float y0[27], y1[27];
    assert_int_equal(fg_isa_force(FG_ISA_SCALAR), FG_OK);
    fg_matmul(&w.m, x, 3, y0, NULL, NULL);
    for (int isa = 1; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        assert_int_equal(fg_isa_force((fg_isa)isa), FG_OK);
        fg_matmul(&w.m, x, 3, y1, NULL, NULL);
        assert_memory_equal(y0, y1, sizeof y0);
    }
    fg_mat bad = w.m;
    bad.cols = 500; /* not a multiple of 256 */
    fg_matmul(&bad, x, 3, y1, NULL, NULL);
    for (int i = 0; i < 27; i++) assert_true(isnan(y1[i]));
    bad = w.m;
    bad.row_stride = 10; /* shorter than a row */
    fg_matmul(&bad, x, 3, y1, NULL, NULL);
    for (int i = 0; i < 27; i++) assert_true(isnan(y1[i]));
    free(x);
    free_weights(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_all_paths),
        cmocka_unit_test(test_q8_0_extremes),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_token_blocks),
        cmocka_unit_test(test_group),
        cmocka_unit_test(test_shared_tiles),
        cmocka_unit_test(test_glu),
        cmocka_unit_test(test_mixed_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
