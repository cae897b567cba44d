/* Dtype table and scalar conversions (src/core/dtype.c).
 *
 * The half / bfloat16 conversions are checked against independent references:
 *   - the decoded value of every one of the 65536 half and bfloat16 codes, computed
 *     from the IEEE definition with ldexp();
 *   - float -> half / bfloat16 rounding against a nearest-value search over that table
 *     (ties to the even code, the overflow rule of IEEE), on every midpoint between
 *     adjacent codes, one float ulp either side of it, and a million random floats;
 *   - where the CPU has F16C, the hardware conversion instructions, on the same set. */
#include "testutil.h"
#include "core/core.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE definition: (-1)^s * 2^(e-bias) * (1 + m/2^mbits), subnormal when e == 0. */
static double decode_ref(uint16_t h, int ebits, int mbits)
{
    int bias = (1 << (ebits - 1)) - 1;
    int s = h >> (ebits + mbits);
    int e = (h >> mbits) & ((1 << ebits) - 1);
    int m = h & ((1 << mbits) - 1);
    double v;
    if (e == (1 << ebits) - 1)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp((double)m, 1 - bias - mbits);
    else
        v = ldexp((double)(m + (1 << mbits)), e - bias - mbits);
    return s ? -v : v;
}

/* Nearest code by search over the non-negative finite codes 0..maxcode (ascending in
 * value): ties go to the even code; beyond the last finite code, values from the
 * midpoint to the next power of two upward round to infinity. */
static uint16_t encode_ref(float f, int ebits, int mbits)
{
    uint16_t sign = (uint16_t)(signbit(f) ? 1u << (ebits + mbits) : 0);
    double a = fabs((double)f);
    uint16_t inf = (uint16_t)(((1u << ebits) - 1) << mbits);
    if (isinf(a)) return sign | inf;
    uint16_t maxcode = (uint16_t)(inf - 1);
    double maxv = decode_ref(maxcode, ebits, mbits);
    double ulp = maxv - decode_ref((uint16_t)(maxcode - 1), ebits, mbits);
    if (a >= maxv + ulp / 2) return sign | inf; /* the midpoint itself: odd max -> up */
    int lo = 0, hi = maxcode;                    /* largest code with value <= a */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (decode_ref((uint16_t)mid, ebits, mbits) <= a) lo = mid;
        else hi = mid - 1;
    }
    if (lo == maxcode) return sign | (uint16_t)lo;
    double vl = decode_ref((uint16_t)lo, ebits, mbits);
    double vh = decode_ref((uint16_t)(lo + 1), ebits, mbits);
    double dl = a - vl, dh = vh - a;
    if (dl < dh) return sign | (uint16_t)lo;
    if (dh < dl) return sign | (uint16_t)(lo + 1);
    return sign | (uint16_t)((lo & 1) ? lo + 1 : lo);
}

static void test_table(void **state)
{
    (void)state;
    struct { fg_dtype dt; const char *name; int be, bb; uint32_t gguf; } want[] = {
        {FG_DT_F32, "f32", 1, 4, 0},       {FG_DT_F16, "f16", 1, 2, 1},
        {FG_DT_BF16, "bf16", 1, 2, 30},    {FG_DT_Q8_0, "q8_0", 32, 34, 8},
        {FG_DT_Q4_0, "q4_0", 32, 18, 2},   {FG_DT_Q4_K, "q4_k", 256, 144, 12},
        {FG_DT_Q5_K, "q5_k", 256, 176, 13}, {FG_DT_Q6_K, "q6_k", 256, 210, 14},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const fg_dtype_info *d = fg_dtype_get(want[i].dt);
        assert_non_null(d);
        assert_string_equal(d->name, want[i].name);
        assert_string_equal(fg_dtype_name(want[i].dt), want[i].name);
        assert_int_equal(d->block_elems, want[i].be);
        assert_int_equal(d->block_bytes, want[i].bb);
        assert_int_equal(d->gguf_type, want[i].gguf);
        assert_int_equal(fg_dtype_from_gguf(want[i].gguf), want[i].dt);
        assert_int_equal(fg_dtype_from_name(want[i].name), want[i].dt);
        /* a row of 512 elements: 512 / block * bytes */
        assert_int_equal(fg_row_bytes(want[i].dt, 512), (size_t)(512 / want[i].be * want[i].bb));
    }
    assert_int_equal(fg_dtype_from_name("Q4_K"), FG_DT_Q4_K);
    assert_int_equal(fg_dtype_from_name("BF16"), FG_DT_BF16);
    assert_int_equal(fg_dtype_from_name("q4_k_m"), FG_DT_INVALID);
    assert_int_equal(fg_dtype_from_name(""), FG_DT_INVALID);
    assert_int_equal(fg_dtype_from_name(NULL), FG_DT_INVALID);
    assert_int_equal(fg_dtype_from_gguf(3), FG_DT_INVALID);   /* Q4_1: not supported */
    assert_int_equal(fg_dtype_from_gguf(9999), FG_DT_INVALID);
    assert_null(fg_dtype_get(FG_DT_COUNT));
    assert_null(fg_dtype_get(FG_DT_INVALID));
    assert_string_equal(fg_dtype_name(FG_DT_INVALID), "?");
    assert_int_equal(fg_row_bytes(FG_DT_Q4_K, 100), 0);     /* not a multiple of 256 */
    assert_int_equal(fg_row_bytes(FG_DT_Q8_0, 48), 0);
    assert_int_equal(fg_row_bytes(FG_DT_F16, 7), 14);
    assert_int_equal(fg_row_bytes(FG_DT_F32, -1), 0);
    assert_int_equal(fg_row_bytes(FG_DT_INVALID, 32), 0);
    assert_int_equal(fg_row_bytes(FG_DT_Q6_K, 4864 / 256 * 256), (size_t)(4864 / 256) * 210);
}

static void check_decode(int ebits, int mbits, float (*fn)(uint16_t))
{
    for (uint32_t h = 0; h < 65536; h++) {
        double want = decode_ref((uint16_t)h, ebits, mbits);
        float got = fn((uint16_t)h);
        if (isnan(want)) {
            assert_true(isnan(got));
            assert_int_equal(signbit(got) != 0, (h >> 15) != 0);
        } else {
            if ((double)got != want || (signbit(got) != 0) != (signbit(want) != 0))
                fail_msg("decode 0x%04x: got %.9g want %.9g", h, (double)got, want);
        }
    }
}

static void test_decode_all(void **state)
{
    (void)state;
    check_decode(5, 10, fg_f16_to_f32);
    check_decode(8, 7, fg_bf16_to_f32);
    /* spot values everyone knows */
    assert_true(fg_f16_to_f32(0x3c00) == 1.0f);
    assert_true(fg_f16_to_f32(0xc000) == -2.0f);
    assert_true(fg_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(fg_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(fg_f16_to_f32(0x0400) == 0x1p-14f);
    assert_true(fg_bf16_to_f32(0x3f80) == 1.0f);
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f)
{
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
__attribute__((target("f16c"))) static float hw_f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
static bool have_f16c(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("f16c");
}
#endif

/* One float: compare our encoders with the reference (and the hardware). */
static void check_encode(float f)
{
    if (isnan(f)) {
        uint16_t h = fg_f32_to_f16(f);
        assert_true((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
        assert_int_equal(h >> 15, bits(f) >> 31);
        uint16_t b = fg_f32_to_bf16(f);
        assert_true((b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0);
        assert_int_equal(b >> 15, bits(f) >> 31);
        return;
    }
    uint16_t h = fg_f32_to_f16(f), hr = encode_ref(f, 5, 10);
    if (h != hr) fail_msg("f16(%a): got 0x%04x want 0x%04x", (double)f, h, hr);
    uint16_t b = fg_f32_to_bf16(f), br = encode_ref(f, 8, 7);
    if (b != br) fail_msg("bf16(%a): got 0x%04x want 0x%04x", (double)f, b, br);
#if defined(__x86_64__)
    static int hw = -1;
    if (hw < 0) hw = have_f16c();
    if (hw) {
        uint16_t hh = hw_f32_to_f16(f);
        if (h != hh) fail_msg("f16(%a): got 0x%04x, F16C gives 0x%04x", (double)f, h, hh);
    }
#endif
}

static void test_encode_boundaries(void **state)
{
    (void)state;
    /* every code, every midpoint between neighbouring codes, and one float ulp around
     * each midpoint, for both formats, both signs */
    for (int fmt = 0; fmt < 2; fmt++) {
        int eb = fmt ? 8 : 5, mb = fmt ? 7 : 10;
        uint32_t ncodes = (uint32_t)((1u << eb) - 1) << mb; /* finite non-negative codes */
        for (uint32_t c = 0; c < ncodes; c++) {
            double v = decode_ref((uint16_t)c, eb, mb);
            double vn = c + 1 < ncodes ? decode_ref((uint16_t)(c + 1), eb, mb)
                                       : v + (v - decode_ref((uint16_t)(c - 1), eb, mb));
            double mid = (v + vn) / 2;
            float probes[5] = {(float)v, (float)mid, 0, 0, 0};
            probes[2] = nextafterf(probes[1], INFINITY);
            probes[3] = nextafterf(probes[1], 0);
            probes[4] = (float)vn;
            for (int k = 0; k < 5; k++) {
                if (isinf(probes[k]) && fmt == 1) continue;
                check_encode(probes[k]);
                check_encode(-probes[k]);
            }
        }
    }
}

static void test_encode_special(void **state)
{
    (void)state;
    check_encode(0.0f);
    check_encode(-0.0f);
    check_encode(INFINITY);
    check_encode(-INFINITY);
    check_encode(NAN);
    check_encode(-NAN);
    check_encode(from_bits(0x7f800001)); /* signalling NaN with the lowest payload bit */
    check_encode(from_bits(0xff800001));
    check_encode(from_bits(0x00000001)); /* float subnormals */
    check_encode(from_bits(0x807fffff));
    check_encode(FLT_MAX);
    check_encode(-FLT_MAX);
    assert_int_equal(fg_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(fg_f32_to_f16(65519.99f), 0x7bff);
    assert_int_equal(fg_f32_to_f16(65520.0f), 0x7c00);   /* the tie rounds to infinity */
    assert_int_equal(fg_f32_to_f16(0x1p-25f), 0x0000);   /* tie between 0 and 2^-24: 0 */
    assert_int_equal(fg_f32_to_f16(nextafterf(0x1p-25f, 1)), 0x0001);
    assert_int_equal(fg_f32_to_f16(0x1.8p-24f), 0x0002);  /* 1.5 units: tie to even 2 */
    assert_int_equal(fg_f32_to_f16(0x1.4p-24f * 2), 0x0002); /* 2.5 units: to 2 */
    assert_int_equal(fg_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);    /* tie -> even */
    assert_int_equal(fg_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02); /* tie -> even (up) */
    assert_int_equal(fg_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    assert_int_equal(fg_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    assert_int_equal(fg_f32_to_bf16(FLT_MAX), 0x7f80);     /* rounds up to infinity */
    assert_int_equal(fg_f32_to_bf16(-0.0f), 0x8000);
}

static void test_encode_random(void **state)
{
    (void)state;
    uint64_t s = 0x1234567;
    for (int i = 0; i < 1000000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t u = (uint32_t)(s >> 32);
        /* half of the probes in the half-precision range, where rounding is busiest */
        if (i & 1) u = (u & 0x807fffffu) | ((100u + (u >> 8) % 46u) << 23);
        check_encode(from_bits(u));
    }
#if defined(__x86_64__)
    if (have_f16c())
        for (uint32_t h = 0; h < 65536; h++) {
            float a = fg_f16_to_f32((uint16_t)h), b = hw_f16_to_f32((uint16_t)h);
            assert_true(bits(a) == bits(b) || (isnan(a) && isnan(b)));
        }
#endif
}

static void test_rmsnorm_softmax(void **state)
{
    (void)state;
    float x[7] = {1, -2, 3, -4, 5, -6, 7}, w[7] = {1, 0.5f, 2, 1, 1, 1, 0.25f}, out[7];
    double ss = 0;
    for (int i = 0; i < 7; i++) ss += x[i] * x[i];
    double inv = 1.0 / sqrt(ss / 7 + 1e-6);
    fg_rmsnorm(out, x, w, 7, 1e-6f);
    for (int i = 0; i < 7; i++) assert_float_equal(out[i], x[i] * inv * w[i], 1e-6);
    fg_rmsnorm(x, x, w, 7, 1e-6f); /* in place */
    for (int i = 0; i < 7; i++) assert_float_equal(x[i], out[i], 0);

    float p[5] = {1000, 1001, 999, -1e30f, 1000};
    double e[5], sum = 0;
    for (int i = 0; i < 5; i++) sum += e[i] = exp((double)p[i] - 1001);
    fg_softmax_inplace(p, 5);
    for (int i = 0; i < 5; i++) assert_float_equal(p[i], e[i] / sum, 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_decode_all),
        cmocka_unit_test(test_encode_special),
        cmocka_unit_test(test_encode_boundaries),
        cmocka_unit_test(test_encode_random),
        cmocka_unit_test(test_rmsnorm_softmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
