/* The attention row kernels (fg_vec_dot_rows, fg_vec_axpy_rows, fg_vec_softmax) on every
 * instruction-set path this CPU has, against float64 references computed here: F32 and
 * F16 rows with padding between them, head sizes that take the vector paths (multiples
 * of 8, with and without a 64-column remainder) and ones that take the scalar fallback. */
#include "testutil.h"
#include "core/core.h"

#include <math.h>
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

static void check_rows(fg_dtype dt, int64_t n, int64_t d)
{
    size_t stride = (size_t)fg_row_bytes(dt, d) + 24; /* other heads' data in between */
    double *ref = malloc(sizeof(double) * (size_t)(n * d));
    float *q = malloc(sizeof(float) * (size_t)d), *out = malloc(sizeof(float) * (size_t)n);
    float *w = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)d);
    assert_true(ref && q && out && w && y);
    uint8_t *rows = make_rows(dt, n, d, stride, ref);
    for (int64_t i = 0; i < d; i++) q[i] = (float)urand();
    for (int64_t p = 0; p < n; p++) w[p] = (float)(urand() + 1) / (float)n;
    const float scale = 0.125f;

    fg_vec_dot_rows(q, rows, dt, stride, n, d, scale, out);
    for (int64_t p = 0; p < n; p++) {
        double s = 0, mag = 0;
        for (int64_t i = 0; i < d; i++) {
            s += q[i] * ref[p * d + i];
            mag += fabs(q[i] * ref[p * d + i]);
        }
        /* float summation of d terms: error below d * 2^-23 * sum |terms| */
        double err = fabs(out[p] - scale * s), tol = (double)d * 0x1p-23 * scale * mag + 1e-7;
        if (err > tol) fail_msg("%s dot_rows d=%lld row %lld: %.9g vs %.9g", fg_dtype_name(dt), (long long)d,
                                (long long)p, out[p], scale * s);
    }

    for (int64_t i = 0; i < d; i++) y[i] = (float)i; /* accumulates onto what is there */
    fg_vec_axpy_rows(y, w, rows, dt, stride, n, d);
    for (int64_t i = 0; i < d; i++) {
        double s = (double)i, mag = fabs((double)i);
        for (int64_t p = 0; p < n; p++) {
            s += w[p] * ref[p * d + i];
            mag += fabs(w[p] * ref[p * d + i]);
        }
        if (fabs(y[i] - s) > (double)(n + 1) * 0x1p-23 * mag + 1e-7)
            fail_msg("%s axpy_rows d=%lld col %lld: %.9g vs %.9g", fg_dtype_name(dt), (long long)d, (long long)i, y[i], s);
    }
    free(rows);
    free(ref);
    free(q);
    free(out);
    free(w);
    free(y);
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

static void test_rows_every_path(void **state)
{
    (void)state;
    const int64_t dims[] = {64, 128, 80, 8, 200, 12, 5}; /* 12 and 5 take the scalar fallback */
    const int64_t counts[] = {1, 3, 100, 1000};
    int paths = 0;
    for (int isa = 0; isa < FG_ISA_COUNT; isa++) {
        if (!fg_isa_supported((fg_isa)isa)) continue;
        assert_int_equal(fg_isa_force((fg_isa)isa), FG_OK);
        paths++;
        for (size_t a = 0; a < sizeof dims / sizeof dims[0]; a++)
            for (size_t b = 0; b < sizeof counts / sizeof counts[0]; b++) {
                check_rows(FG_DT_F32, counts[b], dims[a]);
                check_rows(FG_DT_F16, counts[b], dims[a]);
            }
        const int64_t sizes[] = {1, 2, 7, 8, 9, 31, 450, 4097};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            check_softmax(sizes[i], 1);
            check_softmax(sizes[i], 40);  /* weights down to e^-80: exp's underflow region */
        }
    }
    assert_true(paths >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_every_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
