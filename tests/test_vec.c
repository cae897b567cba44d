/* The attention row kernels (fg_vec_dot_rows, fg_vec_axpy_rows, fg_vec_softmax) on every
 * instruction-set path this CPU has, against float64 references computed here: F32 and
 * F16 rows with padding between them, one or several query heads per call (grouped-query
 * attention, in one or several passes of the AVX-512 kernels), row counts around the
 * kernels' row blocks, head sizes that take the vector paths (multiples of 8, with and
 * without a 64-column remainder or a half 16-float vector) and ones that take the scalar
 * fallback; and every vector path against the scalar one on the model shapes. */
#include "testutil.h"
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x853c49e6748fea9bull;
static double urand(void) /* [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1p-52 - 1.0;
}

/* n rows of d values of type dt, `stride` bytes apart (padding filled with NaN-ish
 * bytes that must never be read); ref gets the values as doubles (after rounding). */
static uint8_t *make_rows(fg_dtype dt, int64_t n, int64_t d, size_t stride, double *ref)
{
    uint8_t *rows = malloc(stride * (size_t)n);
    assert_non_null(rows);
    memset(rows, 0xff, stride * (size_t)n);
    for (int64_t p = 0; p < n; p++)
        for (int64_t i = 0; i < d; i++) {
            float v = (float)(urand() * 2);
            if (dt == FG_DT_F16) {
                uint16_t h = fg_f32_to_f16(v);
                memcpy(rows + (size_t)p * stride + 2 * i, &h, 2);
                v = fg_f16_to_f32(h);
            } else {
                memcpy(rows + (size_t)p * stride + 4 * i, &v, 4);
            }
            ref[p * d + i] = v;
        }
    return rows;
}

/* nq query heads (as grouped-query attention passes them) over n rows of d values */
static void check_rows(fg_dtype dt, int64_t nq, int64_t n, int64_t d)
{
    size_t stride = (size_t)fg_row_bytes(dt, d) + 24; /* other heads' data in between */
    double *ref = malloc(sizeof(double) * (size_t)(n * d));
    float *q = malloc(sizeof(float) * (size_t)(nq * d)), *out = malloc(sizeof(float) * (size_t)(nq * n + 1));
    float *w = malloc(sizeof(float) * (size_t)(nq * n)), *y = malloc(sizeof(float) * (size_t)(nq * d + 1));
    assert_true(ref && q && out && w && y);
    uint8_t *rows = make_rows(dt, n, d, stride, ref);
    for (int64_t i = 0; i < nq * d; i++) q[i] = (float)urand();
    for (int64_t i = 0; i < nq * n; i++) w[i] = (float)(urand() + 1) / (float)n;
    const float scale = 0.125f;

    out[nq * n] = 12345.0f; /* nothing is written past the nq x n results */
    fg_vec_dot_rows(q, nq, rows, dt, stride, n, d, scale, out);
    assert_true(out[nq * n] == 12345.0f);
    for (int64_t g = 0; g < nq; g++)
        for (int64_t p = 0; p < n; p++) {
            double s = 0, mag = 0;
            for (int64_t i = 0; i < d; i++) {
                s += q[g * d + i] * ref[p * d + i];
                mag += fabs(q[g * d + i] * ref[p * d + i]);
            }
            /* float summation of d terms: error below d * 2^-23 * sum |terms| */
            double got = out[g * n + p], err = fabs(got - scale * s), tol = (double)d * 0x1p-23 * scale * mag + 1e-7;
            if (err > tol)
                fail_msg("%s dot_rows nq=%lld d=%lld head %lld row %lld: %.9g vs %.9g", fg_dtype_name(dt),
                         (long long)nq, (long long)d, (long long)g, (long long)p, got, scale * s);
        }

    for (int64_t i = 0; i < nq * d; i++) y[i] = (float)(i % d); /* accumulates onto what is there */
    y[nq * d] = 12345.0f;
    fg_vec_axpy_rows(y, w, nq, rows, dt, stride, n, d);
    assert_true(y[nq * d] == 12345.0f);
    for (int64_t g = 0; g < nq; g++)
        for (int64_t i = 0; i < d; i++) {
            double s = (double)i, mag = fabs((double)i);
            for (int64_t p = 0; p < n; p++) {
                s += w[g * n + p] * ref[p * d + i];
                mag += fabs(w[g * n + p] * ref[p * d + i]);
            }
            if (fabs(y[g * d + i] - s) > (double)(n + 1) * 0x1p-23 * mag + 1e-7)
                fail_msg("%s axpy_rows nq=%lld d=%lld head %lld col %lld: %.9g vs %.9g", fg_dtype_name(dt),
                         (long long)nq, (long long)d, (long long)g, (long long)i, y[g * d + i], s);
        }
    free(rows);
    free(ref);
    free(q);
    free(out);
    free(w);
    free(y);
}

/* The vector path `isa` against the scalar one on the same inputs: dot_rows, axpy_rows
 * and the softmax of the scores, equal within the rounding of both float summations */
static void check_rows_vs_scalar(fg_isa isa, fg_dtype dt, int64_t nq, int64_t n, int64_t d)
{
    size_t stride = (size_t)fg_row_bytes(dt, d) * 2; /* as in the cache: two kv heads a row */
    double *ref = malloc(sizeof(double) * (size_t)(n * d));
    float *q = malloc(sizeof(float) * (size_t)(nq * d)), *w = malloc(sizeof(float) * (size_t)(nq * n));
    float *out[2], *y[2];
    assert_true(ref && q && w);
    uint8_t *rows = make_rows(dt, n, d, stride, ref);
    for (int64_t i = 0; i < nq * d; i++) q[i] = (float)urand();
    for (int64_t i = 0; i < nq * n; i++) w[i] = (float)(urand() + 1) / (float)n;
    const float scale = 0.125f;
    for (int v = 0; v < 2; v++) {
        assert_int_equal(fg_isa_force(v ? isa : FG_ISA_SCALAR), FG_OK);
        out[v] = malloc(sizeof(float) * (size_t)(nq * n + 1));
        y[v] = malloc(sizeof(float) * (size_t)(nq * d + 1));
        assert_true(out[v] && y[v]);
        out[v][nq * n] = y[v][nq * d] = 12345.0f;
        fg_vec_dot_rows(q, nq, rows, dt, stride, n, d, scale, out[v]);
        for (int64_t i = 0; i < nq * d; i++) y[v][i] = (float)(i % d);
        fg_vec_axpy_rows(y[v], w, nq, rows, dt, stride, n, d);
        assert_true(out[v][nq * n] == 12345.0f && y[v][nq * d] == 12345.0f);
    }
    for (int64_t g = 0; g < nq; g++)
        for (int64_t p = 0; p < n; p++) {
            double mag = 0;
            for (int64_t i = 0; i < d; i++) mag += fabs(q[g * d + i] * ref[p * d + i]);
            double a = out[1][g * n + p], b = out[0][g * n + p];
            if (fabs(a - b) > 2 * (double)d * 0x1p-23 * scale * mag + 1e-7)
                fail_msg("%s %s dot_rows nq=%lld n=%lld d=%lld head %lld row %lld: %.9g, scalar %.9g", fg_isa_name(isa),
                         fg_dtype_name(dt), (long long)nq, (long long)n, (long long)d, (long long)g, (long long)p, a, b);
        }
    for (int64_t g = 0; g < nq; g++)
        for (int64_t i = 0; i < d; i++) {
            double mag = (double)i;
            for (int64_t p = 0; p < n; p++) mag += fabs(w[g * n + p] * ref[p * d + i]);
            double a = y[1][g * d + i], b = y[0][g * d + i];
            if (fabs(a - b) > 2 * (double)(n + 1) * 0x1p-23 * mag + 1e-7)
                fail_msg("%s %s axpy_rows nq=%lld n=%lld d=%lld head %lld col %lld: %.9g, scalar %.9g", fg_isa_name(isa),
                         fg_dtype_name(dt), (long long)nq, (long long)n, (long long)d, (long long)g, (long long)i, a, b);
        }
    memcpy(out[1], out[0], sizeof(float) * (size_t)(nq * n)); /* the scalar scores */
    for (int v = 0; v < 2; v++) { /* their softmax, head by head */
        assert_int_equal(fg_isa_force(v ? isa : FG_ISA_SCALAR), FG_OK);
        for (int64_t g = 0; g < nq; g++) fg_vec_softmax(out[v] + g * n, n);
    }
    for (int64_t i = 0; i < nq * n; i++)
        if (fabs(out[1][i] - out[0][i]) > 4e-6 * out[0][i] + 1e-12)
            fail_msg("%s softmax n=%lld [%lld]: %.9g, scalar %.9g", fg_isa_name(isa), (long long)n, (long long)i,
                     out[1][i], out[0][i]);
    for (int v = 0; v < 2; v++) {
        free(out[v]);
        free(y[v]);
    }
    free(rows);
    free(ref);
    free(q);
    free(w);
}

static void check_softmax(int64_t n, double spread)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    double *e = malloc(sizeof(double) * (size_t)n);
    assert_true(x && e);
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)(urand() * spread);
        if (i % 11 == 5) x[i] = -1e30f; /* a masked-like score: weight 0 */
        if (x[i] > mx) mx = x[i];
    }
    for (int64_t i = 0; i < n; i++) sum += e[i] = exp((double)x[i] - mx);
    fg_vec_softmax(x, n);
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double want = e[i] / sum;
        if (fabs(x[i] - want) > 2e-6 * want + 1e-12)
            fail_msg("softmax n=%lld spread %g: [%lld] %.9g vs %.9g", (long long)n, spread, (long long)i, x[i], want);
        total += x[i];
    }
    assert_true(fabs(total - 1) < 1e-5);
    free(x);
    free(e);
}

/* fg_vec_softmax_window over a row cut into windows of `win`, as the AMX attention runs
 * it: the weights of every window, rescaled by the factors of the later windows and
 * divided by the final sum, must be the float64 softmax of the whole row; and a weighted
 * sum kept through the rescaling (one scalar value per position here) its expectation.
 * `rise` makes later windows' scores larger, so the running maximum keeps moving. */
static void check_softmax_window(int64_t n, int64_t win, double spread, double rise)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    double *e = malloc(sizeof(double) * (size_t)n), *val = malloc(sizeof(double) * (size_t)n);
    assert_true(x && e && val);
    double mx = -INFINITY, sum = 0, want_y = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)(urand() * spread + rise * (double)i / (double)n);
        val[i] = urand();
        if (x[i] > mx) mx = x[i];
    }
    for (int64_t i = 0; i < n; i++) sum += e[i] = exp((double)x[i] - mx);
    for (int64_t i = 0; i < n; i++) want_y += e[i] / sum * val[i];
    float m = -INFINITY, l = 0;
    double y = 0;
    /* scale[w]: the product of the factors of the windows after w */
    double *scale = malloc(sizeof(double) * (size_t)(n / win + 2));
    int64_t nw = 0;
    for (int64_t w0 = 0; w0 < n; w0 += win, nw++) {
        const int64_t wn = n - w0 < win ? n - w0 : win;
        const float c = fg_vec_softmax_window(x + w0, wn, &m, &l);
        if (w0 == 0) assert_true(c == 0.0f);
        y *= c;
        for (int64_t w = 0; w < nw; w++) scale[w] *= c;
        scale[nw] = 1;
        for (int64_t i = 0; i < wn; i++) y += (double)x[w0 + i] * val[w0 + i];
    }
    if (fabs(m - mx) > 0) fail_msg("softmax window n=%lld win=%lld: max %.9g vs %.9g", (long long)n, (long long)win, m, mx);
    for (int64_t i = 0; i < n; i++) {
        double got = x[i] * scale[i / win] / l, want = e[i] / sum;
        if (fabs(got - want) > 4e-6 * want + 1e-12)
            fail_msg("softmax window n=%lld win=%lld spread %g: [%lld] %.9g vs %.9g", (long long)n, (long long)win,
                     spread, (long long)i, got, want);
    }
    if (fabs(y / l - want_y) > 1e-5 * fabs(want_y) + 1e-9)
        fail_msg("softmax window n=%lld win=%lld: weighted sum %.9g vs %.9g", (long long)n, (long long)win, y / l, want_y);
    free(scale);
    free(x);
    free(e);
    free(val);
}

/* argmax: the first index of the maximum, NaNs ignored, at every offset in and past a
 * vector; silu_mul against float64 over the range the feed-forward sees and beyond */
static void check_argmax_silu(void)
{
    enum { N = 1000 };
    float x[N], up[N], g[N];
    for (int64_t n = 1; n <= 40; n++)
        for (int64_t at = 0; at < n; at++) {
            for (int64_t i = 0; i < n; i++) x[i] = (float)urand();
            x[at] = 3.0f;
            if (at + 3 < n) x[at + 3] = 3.0f;     /* a tie later: the first one wins */
            if (at > 0) x[at - 1] = NAN;          /* NaNs never win */
            assert_int_equal(fg_vec_argmax(x, n), at);
        }
    for (int64_t i = 0; i < N; i++) x[i] = -INFINITY;
    assert_int_equal(fg_vec_argmax(x, N), 0);
    x[N - 1] = -1e30f;
    assert_int_equal(fg_vec_argmax(x, N), N - 1);

    for (int64_t i = 0; i < N; i++) {
        g[i] = x[i] = (float)(urand() * 12);
        up[i] = (float)urand();
    }
    x[0] = g[0] = -100.0f; /* e^100 overflows a float: silu must still give -0 */
    x[1] = g[1] = 100.0f;
    x[2] = g[2] = 0.0f;
    for (int64_t n = 1; n <= N; n = n * 3 + 1) {
        memcpy(x, g, sizeof x);
        fg_vec_silu_mul(x, up, n);
        for (int64_t i = 0; i < n; i++) {
            double want = (double)g[i] / (1.0 + exp(-(double)g[i])) * up[i];
            if (fabs(x[i] - want) > 1e-6 * fabs(want) + 1e-30)
                fail_msg("silu_mul n=%lld [%lld] g=%g: %.9g vs %.9g", (long long)n, (long long)i, g[i], x[i], want);
        }
    }
}

static void test_rows_every_path(void **state)
{
    (void)state;
    /* 12, 5 and 264 take the scalar fallback; 24 and 200 end in half a 16-float vector */
    const int64_t dims[] = {64, 128, 80, 8, 24, 200, 256, 12, 5, 264};
    const int64_t counts[] = {1, 3, 8, 17, 100, 129, 1000}; /* 64-row prefetch windows */
    /* Qwen2.5-0.5B shares a kv head among 7, 1.5B among 6; 9 take two AVX-512 passes */
    const int64_t heads[] = {1, 7, 4, 2, 6, 9};
    int paths = 0;
    for (int isa = 0; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        assert_int_equal(fg_isa_force((fg_isa)isa), FG_OK);
        paths++;
        for (size_t a = 0; a < sizeof dims / sizeof dims[0]; a++)
            for (size_t b = 0; b < sizeof counts / sizeof counts[0]; b++)
                for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
                    check_rows(FG_DT_F32, heads[h], counts[b], dims[a]);
                    check_rows(FG_DT_F16, heads[h], counts[b], dims[a]);
                }
        check_argmax_silu();
        const int64_t sizes[] = {1, 2, 7, 8, 9, 31, 450, 4097};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            check_softmax(sizes[i], 1);
            check_softmax(sizes[i], 40);  /* weights down to e^-80: exp's underflow region */
        }
        const int64_t wins[][2] = {{1, 1}, {100, 100}, {100, 7}, {1000, 16}, {4097, 1024}, {450, 33}};
        for (size_t i = 0; i < sizeof wins / sizeof wins[0]; i++) {
            check_softmax_window(wins[i][0], wins[i][1], 1, 0);
            check_softmax_window(wins[i][0], wins[i][1], 1, 30);  /* the maximum moves window by window */
            check_softmax_window(wins[i][0], wins[i][1], 40, 100); /* and jumps past exp's range */
        }
    }
    assert_true(paths >= 1);
}

static void test_rows_match_scalar(void **state)
{
    (void)state;
    const int64_t dims[] = {8, 24, 64, 128};
    const int64_t counts[] = {1, 7, 15, 16, 17, 100, 461};
    const int64_t heads[] = {1, 2, 7, 9};
    for (int isa = FG_ISA_SCALAR + 1; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        for (size_t a = 0; a < sizeof dims / sizeof dims[0]; a++)
            for (size_t b = 0; b < sizeof counts / sizeof counts[0]; b++)
                for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
                    check_rows_vs_scalar((fg_isa)isa, FG_DT_F32, heads[h], counts[b], dims[a]);
                    check_rows_vs_scalar((fg_isa)isa, FG_DT_F16, heads[h], counts[b], dims[a]);
                }
    }
}

/* The AMX attention (fg_amx_keys + fg_amx_scores, fg_amx_values + fg_amx_weighted:
 * prefill batches on path avx512amx) against float64 on the F16 rows as stored: both
 * factors enter as two BF16 parts, so each result may move by 3 * 2^-16 of A = the sum
 * of |products| (the FP32 factor's remainder and the dropped lo * lo product, with
 * margin) on top of FP32 sums of 3 products per term (and, for the weighted sum, the
 * add to y); dropping any of the three products moves it by ~2^-9 A. Key counts around
 * the 16- and 32-key blocks, 1 to 16 query heads, head sizes 32 to 256 (passes of 64
 * value columns), `ld` past n (nothing written beyond each head's results). */
static void test_amx_attention(void **state)
{
    (void)state;
#if defined(FG_ARCH_X86)
    if (!fg_isa_supported(FG_ISA_AVX512_AMX)) {
        printf("  no AMX on this CPU: skipped\n");
        return;
    }
    const int64_t ds[] = {32, 64, 128, 256}, ns[] = {1, 15, 16, 17, 32, 33, 100};
    const int nqs[] = {1, 7, 16};
    double worst = 0, worst_w = 0;
    for (size_t di = 0; di < sizeof ds / sizeof ds[0]; di++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
            for (size_t qi = 0; qi < sizeof nqs / sizeof nqs[0]; qi++) {
                const int64_t d = ds[di], n = ns[ni], ld = n + 3;
                const int nq = nqs[qi];
                const size_t stride = (size_t)d * 2 + 64; /* the other kv heads' halves between rows */
                double *ref = malloc(sizeof(double) * (size_t)(n * d));
                float *q = malloc(sizeof(float) * (size_t)(nq * d)), *out = malloc(sizeof(float) * (size_t)(nq * ld));
                uint16_t *kb = aligned_alloc(64, fg_amx_keys_bytes(n, d));
                assert_true(ref && q && out && kb);
                uint8_t *rows = make_rows(FG_DT_F16, n, d, stride, ref);
                for (int64_t i = 0; i < nq * d; i++) q[i] = (float)(urand() * (i % 13 == 0 ? 40 : 3));
                for (int64_t i = 0; i < nq * ld; i++) out[i] = 12345.0f;
                const float scale = 0.0883883f;
                fg_amx_keys(rows, stride, n, d, kb);
                fg_amx_scores(q, nq, kb, n, d, scale, out, ld);
                /* the same rows as values, weighted per head by w (y starts nonzero: += ) */
                float *w = malloc(sizeof(float) * (size_t)(nq * ld)), *y = malloc(sizeof(float) * (size_t)(nq * d + 1));
                uint16_t *vb = aligned_alloc(64, fg_amx_keys_bytes(n, d));
                assert_true(w && y && vb);
                for (int64_t i = 0; i < nq * ld; i++) w[i] = (float)(urand() + 1) / (float)n;
                for (int64_t i = 0; i < nq * d; i++) y[i] = (float)urand();
                y[nq * d] = 12345.0f; /* nothing written past the nq heads */
                double *y0 = malloc(sizeof(double) * (size_t)(nq * d));
                assert_non_null(y0);
                for (int64_t i = 0; i < nq * d; i++) y0[i] = y[i];
                fg_amx_values(rows, stride, n, d, vb);
                fg_amx_weighted(y, w, nq, ld, vb, n, d);
                for (int g = 0; g < nq; g++)
                    for (int64_t i = 0; i < d; i++) {
                        double r = y0[g * d + i], a = 0;
                        for (int64_t p = 0; p < n; p++) {
                            r += (double)w[g * ld + p] * ref[p * d + i];
                            a += fabs((double)w[g * ld + p] * ref[p * d + i]);
                        }
                        const double tol = (3 * 0x1p-16 + (double)(3 * n + 32) * 0x1p-24 * 2) * a + 0x1p-23 * fabs(r) + 1e-30;
                        const double got = y[g * d + i], err = fabs(got - r);
                        if (!(err <= tol))
                            fail_msg("amx weighted sum d %lld n %lld nq %d: head %d column %lld = %.9g, reference %.9g, err %.3g > %.3g",
                                     (long long)d, (long long)n, nq, g, (long long)i, got, r, err, tol);
                        if (err / tol > worst_w) worst_w = err / tol;
                    }
                assert_true(y[nq * d] == 12345.0f);
                free(w);
                free(y);
                free(y0);
                free(vb);
                for (int g = 0; g < nq; g++) {
                    for (int64_t p = 0; p < n; p++) {
                        double r = 0, a = 0;
                        for (int64_t i = 0; i < d; i++) {
                            r += (double)q[g * d + i] * ref[p * d + i];
                            a += fabs((double)q[g * d + i] * ref[p * d + i]);
                        }
                        r *= scale;
                        a *= scale;
                        const double tol = (3 * 0x1p-16 + (double)(3 * d + 32) * 0x1p-24 * 2) * a + 1e-30;
                        const double err = fabs(out[g * ld + p] - r);
                        if (!(err <= tol))
                            fail_msg("amx scores d %lld n %lld nq %d: head %d key %lld = %.9g, reference %.9g, err %.3g > %.3g",
                                     (long long)d, (long long)n, nq, g, (long long)p, out[g * ld + p], r, err, tol);
                        if (err / tol > worst) worst = err / tol;
                    }
                    for (int64_t p = n; p < ld; p++) assert_true(out[g * ld + p] == 12345.0f);
                }
                free(ref);
                free(q);
                free(out);
                free(kb);
                free(rows);
            }
    printf("  amx scores: worst err/tol %.3f; weighted sums: %.3f\n", worst, worst_w);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_every_path),
        cmocka_unit_test(test_rows_match_scalar),
        cmocka_unit_test(test_amx_attention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
