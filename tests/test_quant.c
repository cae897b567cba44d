/* Block formats (src/core/quant.c) against llama.cpp's quantized files.
 *
 * tests/data/golden/qwen2-q256-*.gguf were quantized by llama.cpp from the synthetic
 * qwen2-q256 model, whose float32 values are defined bit for bit by the synthetic spec
 * (regenerated here by a small independent splitmix64 generator; the F32 norms and
 * biases in the same files check it). For every quantized tensor:
 *   - our dequantization must land within the block's quantization step of the
 *     original values (a misread layout puts elements tens of steps away);
 *   - our quantizer, dequantized, must have an RMS error no worse than 1.1x that of
 *     llama.cpp's file for the same tensor and type.
 * Q8_0 must be bit-identical to the reference rule, computed independently here.
 * Hand-built blocks pin the layouts' corner cases (high bits, 6-bit scale packing,
 * signed scales), and degenerate inputs (zeros, constants, outliers) must round-trip
 * within bounds without NaN. */
#include "testutil.h"
#include "core/core.h"
#include "format/format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- synthetic values (spec v1), written independently of src/format/synth.c ---- */

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* kind: 0 embed (v), 1 linear (v * s(in)), 2 norm, 3 bias */
static void synth_values(const char *hf_name, uint64_t seed, int kind, int64_t in, size_t n, float *out)
{
    uint64_t state = seed ^ fnv1a64(hf_name);
    float s = (float)sqrt(3.0 / (double)in);
    for (size_t i = 0; i < n; i++) {
        state += 0x9E3779B97F4A7C15ull;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z = z ^ (z >> 31);
        float u = (float)(z >> 40) * 0x1p-24f;
        float v = u * 2.0f - 1.0f;
        out[i] = kind == 0 ? v : kind == 1 ? v * s : kind == 2 ? 1.0f + 0.25f * v : 0.5f * v;
    }
}

/* GGUF name of the qwen2 model -> Hugging Face name and value kind; false if unknown. */
static bool hf_name_of(const char *g, char *hf, size_t cap, int *kind)
{
    static const struct { const char *gguf, *hf; int kind; } map[] = {
        {"attn_q.weight", "self_attn.q_proj.weight", 1}, {"attn_k.weight", "self_attn.k_proj.weight", 1},
        {"attn_v.weight", "self_attn.v_proj.weight", 1}, {"attn_output.weight", "self_attn.o_proj.weight", 1},
        {"ffn_gate.weight", "mlp.gate_proj.weight", 1},  {"ffn_up.weight", "mlp.up_proj.weight", 1},
        {"ffn_down.weight", "mlp.down_proj.weight", 1},  {"attn_norm.weight", "input_layernorm.weight", 2},
        {"ffn_norm.weight", "post_attention_layernorm.weight", 2},
        {"attn_q.bias", "self_attn.q_proj.bias", 3}, {"attn_k.bias", "self_attn.k_proj.bias", 3},
        {"attn_v.bias", "self_attn.v_proj.bias", 3},
    };
    if (!strcmp(g, "token_embd.weight")) {
        snprintf(hf, cap, "model.embed_tokens.weight");
        *kind = 0;
        return true;
    }
    if (!strcmp(g, "output_norm.weight")) {
        snprintf(hf, cap, "model.norm.weight");
        *kind = 2;
        return true;
    }
    int layer, off = 0;
    if (sscanf(g, "blk.%d.%n", &layer, &off) != 1 || off == 0) return false;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(g + off, map[i].gguf)) {
            snprintf(hf, cap, "model.layers.%d.%s", layer, map[i].hf);
            *kind = map[i].kind;
            return true;
        }
    return false;
}

#define Q256_SEED 4

static double rms_err(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s / (double)n);
}

/* The quantization step that bounds the error of element i of a row (from the row's
 * own stored scales): Q8_0 / Q4_0 the block's |d|; Q4_K/Q5_K the sub-block's level
 * spacing d*sc (dmin*m when sc is 0: every element is then the offset); Q6_K |d*sc|. */
static double step_of(fg_dtype dt, const uint8_t *row, int64_t i)
{
    switch (dt) {
    case FG_DT_Q8_0: return fabs(fg_f16_to_f32(*(const uint16_t *)(row + (i / 32) * 34)));
    case FG_DT_Q4_0: return fabs(fg_f16_to_f32(*(const uint16_t *)(row + (i / 32) * 18)));
    case FG_DT_Q4_K:
    case FG_DT_Q5_K: {
        const uint8_t *b = row + (i / 256) * (dt == FG_DT_Q4_K ? 144 : 176);
        float d = fg_f16_to_f32(*(const uint16_t *)b), dmin = fg_f16_to_f32(*(const uint16_t *)(b + 2));
        const uint8_t *s = b + 4;
        int j = (int)(i % 256) / 32, sc, m;
        if (j < 4) {
            sc = s[j] & 63;
            m = s[j + 4] & 63;
        } else {
            sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
            m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        }
        return sc ? fabs((double)d * sc) : fabs((double)dmin * m);
    }
    case FG_DT_Q6_K: {
        const uint8_t *b = row + (i / 256) * 210;
        float d = fg_f16_to_f32(*(const uint16_t *)(b + 208));
        int j = (int)(i % 256) / 16;
        return fabs((double)d * (int8_t)b[192 + j]);
    }
    default: return 0;
    }
}

/* ---- golden files ---------------------------------------------------------------------- */

typedef struct {
    int n_tensors, n_quant;
    double worst_ratio;        /* our RMS / llama.cpp's RMS, worst tensor */
} file_result;

static void check_file(const char *file, file_result *res)
{
    fg_gguf *g = NULL;
    const char *path = test_model_path(file);
    fg_status st = fg_gguf_open(path, &g);
    if (st != FG_OK) fail_msg("%s: %s", path, fg_last_error());
    memset(res, 0, sizeof *res);
    for (uint64_t ti = 0; ti < g->n_tensors; ti++) {
        const fg_gguf_tensor *t = &g->tensors[ti];
        char name[128], hf[160];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        int kind = 0;
        if (!hf_name_of(name, hf, sizeof hf, &kind)) fail_msg("%s: unexpected tensor %s", file, name);
        int64_t cols = (int64_t)t->ne[0], rows = t->n_dims > 1 ? (int64_t)t->ne[1] : 1;
        size_t n = (size_t)(cols * rows);
        float *orig = malloc(n * sizeof(float)), *deq = malloc(n * sizeof(float));
        assert_non_null(orig);
        assert_non_null(deq);
        synth_values(hf, Q256_SEED, kind, cols, n, orig);
        res->n_tensors++;
        assert_int_not_equal(t->dtype, FG_DT_INVALID);
        if (t->dtype == FG_DT_F32) { /* norms and biases: the generator itself */
            assert_memory_equal(t->data, orig, n * sizeof(float));
            free(orig);
            free(deq);
            continue;
        }
        res->n_quant++;
        size_t rb = fg_row_bytes(t->dtype, cols);
        assert_true(rb > 0);
        assert_int_equal(t->nbytes, rb * (size_t)rows);
        /* 1. our dequantization of llama.cpp's bytes, element by element */
        double worst = 0;
        for (int64_t r = 0; r < rows; r++) {
            const uint8_t *row = (const uint8_t *)t->data + (size_t)r * rb;
            fg_dequant_row(t->dtype, row, deq + r * cols, cols);
            for (int64_t i = 0; i < cols; i++) {
                double e = fabs((double)deq[r * cols + i] - orig[r * cols + i]);
                double step = step_of(t->dtype, row, i);
                /* Rounding to the nearest level gives e <= step/2; llama.cpp's scale
                 * search may clip the largest values of a block by up to about one step
                 * (Q4_0 maps the largest magnitude to -8, so +8 clips to +7); the f16
                 * rounding of the scales adds < 0.1%. 1.5 steps is a safe bound that a
                 * misread element (off by many steps) cannot meet. */
                if (e > 1.5 * step + 1e-7) {
                    fail_msg("%s %s[%lld,%lld]: dequantized %g, original %g, step %g", file, name,
                             (long long)r, (long long)i, (double)deq[r * cols + i],
                             (double)orig[r * cols + i], step);
                }
                if (step > 0 && e / step > worst) worst = e / step;
            }
        }
        double rms_theirs = rms_err(deq, orig, n);
        /* 2. our quantizer on the same values */
        uint8_t *q = malloc(rb * (size_t)rows);
        assert_non_null(q);
        for (int64_t r = 0; r < rows; r++)
            fg_quantize_row(t->dtype, orig + r * cols, q + (size_t)r * rb, cols);
        for (int64_t r = 0; r < rows; r++)
            fg_dequant_row(t->dtype, q + (size_t)r * rb, deq + r * cols, cols);
        double rms_ours = rms_err(deq, orig, n);
        double ratio = rms_ours / rms_theirs;
        printf("  %-28s %-5s [%5lld x %4lld]  rms llama.cpp %.6f  ours %.6f  (x%.3f)  max err %.2f steps\n",
               name, fg_dtype_name(t->dtype), (long long)rows, (long long)cols, rms_theirs, rms_ours,
               ratio, worst);
        if (ratio > 1.1) fail_msg("%s %s: our RMS error %g > 1.1 x llama.cpp's %g", file, name, rms_ours, rms_theirs);
        if (ratio > res->worst_ratio) res->worst_ratio = ratio;
        free(q);
        free(orig);
        free(deq);
    }
    fg_gguf_close(g);
}

static void test_golden_file(const char *file, int want_quant)
{
    file_result r;
    printf("%s\n", file);
    check_file(file, &r);
    /* 2 layers x 7 matrices + the embedding table */
    assert_int_equal(r.n_quant, want_quant);
    assert_true(r.n_tensors > r.n_quant);
}

static void test_golden_q8_0(void **s) { (void)s; test_golden_file("qwen2-q256-q8_0.gguf", 15); }
static void test_golden_q4_0(void **s) { (void)s; test_golden_file("qwen2-q256-q4_0.gguf", 15); }
static void test_golden_q4_k_m(void **s) { (void)s; test_golden_file("qwen2-q256-q4_k_m.gguf", 15); }
static void test_golden_q5_k_m(void **s) { (void)s; test_golden_file("qwen2-q256-q5_k_m.gguf", 15); }
static void test_golden_q6_k(void **s) { (void)s; test_golden_file("qwen2-q256-q6_k.gguf", 15); }

/* ---- Q8_0 bit-exactness ------------------------------------------------------------------
 * The rule, written out: per block of 32, d = max|x| / 127 (float32 division),
 * q = roundf(x / d) (float32 division, halves away from zero), d stored as IEEE half. */
static void q8_0_rule(const float *x, uint8_t out[34])
{
    float amax = 0;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]);
    float d = amax / 127.0f;
    uint16_t h = fg_f32_to_f16(d);
    memcpy(out, &h, 2);
    for (int j = 0; j < 32; j++) out[2 + j] = (uint8_t)(int8_t)(d == 0 ? 0 : (int)roundf(x[j] / d));
}

static void test_q8_0_exact(void **state)
{
    (void)state;
    enum { N = 32 * 64 };
    float x[N];
    uint8_t ours[N / 32 * 34], want[34];
    uint64_t s = 99;
    for (int rep = 0; rep < 200; rep++) {
        for (int i = 0; i < N; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double u = (double)(s >> 11) * 0x1p-53 * 2 - 1;
            x[i] = (float)(u * pow(10.0, (double)(rep % 9) - 4));
        }
        if (rep % 4 == 1) /* values on exact .5 ties: x = (k + 0.5) * d with d = 1 */
            for (int i = 0; i < N; i++) x[i] = (i % 32 == 0) ? 127.0f : (float)((i * 7) % 253 - 126) + 0.5f;
        if (rep % 4 == 2) /* a zero block and a block of one repeated value */
            for (int i = 0; i < 64; i++) x[i] = i < 32 ? 0.0f : -3.25f;
        fg_quantize_row(FG_DT_Q8_0, x, ours, N);
        for (int b = 0; b < N / 32; b++) {
            q8_0_rule(x + 32 * b, want);
            if (memcmp(ours + 34 * b, want, 34) != 0) fail_msg("rep %d block %d differs from the rule", rep, b);
        }
    }
}

/* ---- hand-built blocks --------------------------------------------------------------- */

static void test_layouts(void **state)
{
    (void)state;
    float y[256];
    /* Q4_0: d = 0.5, byte j = (lo j, hi 15-j) */
    uint8_t q40[18];
    uint16_t half = fg_f32_to_f16(0.5f);
    memcpy(q40, &half, 2);
    for (int j = 0; j < 16; j++) q40[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    fg_dequant_row(FG_DT_Q4_0, q40, y, 32);
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == 0.5f * (j - 8));
        assert_true(y[j + 16] == 0.5f * (7 - j));
    }
    /* Q4_K: d = 1, dmin = 0.5; sub-block j has scale j+1 + (j>=4 ? 32 : 0) and min 2j+1
     * (using the high bits for j >= 4); every quant = (j + l) & 15 */
    uint8_t q4k[144] = {0};
    uint16_t one = fg_f32_to_f16(1.0f), hlf = fg_f32_to_f16(0.5f);
    memcpy(q4k, &one, 2);
    memcpy(q4k + 2, &hlf, 2);
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = j + 1 + (j >= 4 ? 32 : 0);
        mn[j] = 2 * j + 1 + (j >= 4 ? 48 : 0);
    }
    uint8_t *S = q4k + 4;
    for (int j = 0; j < 4; j++) {
        S[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        S[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        S[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            q4k[16 + 32 * c + l] = (uint8_t)(((2 * c + l) & 15) | (((2 * c + 1 + l) & 15) << 4));
    fg_dequant_row(FG_DT_Q4_K, q4k, y, 256);
    for (int i = 0; i < 256; i++) {
        int j = i / 32, l = i % 32;
        float want = (float)(sc[j] * ((j + l) & 15)) - 0.5f * (float)mn[j];
        if (y[i] != want) fail_msg("q4_k element %d: %g want %g", i, (double)y[i], (double)want);
    }
    /* Q5_K: the same plus the fifth bit set for odd l in sub-blocks 1, 2, 5, 6 */
    uint8_t q5k[176] = {0};
    memcpy(q5k, q4k, 16);
    memcpy(q5k + 48, q4k + 16, 128);
    for (int l = 0; l < 32; l++)
        if (l & 1) q5k[16 + l] = (1 << 1) | (1 << 2) | (1 << 5) | (1 << 6);
    fg_dequant_row(FG_DT_Q5_K, q5k, y, 256);
    for (int i = 0; i < 256; i++) {
        int j = i / 32, l = i % 32;
        int hb = ((l & 1) && (j == 1 || j == 2 || j == 5 || j == 6)) ? 16 : 0;
        float want = (float)(sc[j] * (((j + l) & 15) + hb)) - 0.5f * (float)mn[j];
        if (y[i] != want) fail_msg("q5_k element %d: %g want %g", i, (double)y[i], (double)want);
    }
    /* Q6_K: element e has 6-bit quant (e * 5) & 63; scale of sub-block j = j - 8 (signed) */
    uint8_t q6k[210] = {0};
    for (int e = 0; e < 256; e++) {
        int q = (e * 5) & 63, h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
        uint8_t *L = q6k + 64 * h, *H = q6k + 128 + 32 * h;
        int li = l + (quarter & 1) * 32;
        L[li] |= (uint8_t)((q & 15) << (quarter >= 2 ? 4 : 0));
        H[l] |= (uint8_t)((q >> 4) << (2 * quarter));
    }
    for (int j = 0; j < 16; j++) q6k[192 + j] = (uint8_t)(int8_t)(j - 8);
    uint16_t qtr = fg_f32_to_f16(0.25f);
    memcpy(q6k + 208, &qtr, 2);
    fg_dequant_row(FG_DT_Q6_K, q6k, y, 256);
    for (int e = 0; e < 256; e++) {
        float want = 0.25f * (float)((e / 16) - 8) * (float)(((e * 5) & 63) - 32);
        if (y[e] != want) fail_msg("q6_k element %d: %g want %g", e, (double)y[e], (double)want);
    }
}

/* ---- degenerate inputs ------------------------------------------------------------- */

static void test_roundtrip_edges(void **state)
{
    (void)state;
    const fg_dtype types[] = {FG_DT_Q8_0, FG_DT_Q4_0, FG_DT_Q4_K, FG_DT_Q5_K, FG_DT_Q6_K, FG_DT_F16, FG_DT_BF16};
    /* relative RMS bound per type for gaussian-like data (a few times the ideal) */
    const double rel[] = {0.01, 0.12, 0.12, 0.06, 0.03, 0.001, 0.005};
    enum { N = 512 };
    float x[N], y[N];
    uint8_t q[N * 4];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        fg_dtype dt = types[t];
        for (int c = 0; c < 6; c++) {
            double xs = 0;
            uint64_t s = 7 + c;
            for (int i = 0; i < N; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                double u = (double)(s >> 11) * 0x1p-53;
                switch (c) {
                case 0: x[i] = 0; break;                                  /* all zero */
                case 1: x[i] = 0.75f; break;                              /* constant > 0 */
                case 2: x[i] = -1e-3f; break;                             /* constant < 0 */
                case 3: x[i] = (float)(u - 0.5) * (i % 37 == 0 ? 1000.0f : 1.0f); break; /* outliers */
                case 4: x[i] = (float)(u * 1e-2); break;                  /* all positive */
                default: x[i] = (float)(sin(i * 0.37) * 3 + (u - 0.5)); break;
                }
                xs += (double)x[i] * x[i];
            }
            memset(q, 0xAB, sizeof q);
            fg_quantize_row(dt, x, q, N);
            fg_dequant_row(dt, q, y, N);
            double rms = rms_err(x, y, N), xr = sqrt(xs / N);
            for (int i = 0; i < N; i++) assert_true(isfinite(y[i]));
            if (c == 0) assert_true(rms == 0);
            /* one value per block: exact up to the f16 scales; for -1e-3 the Q6_K
             * super-block scale (~|x|/4096) is an f16 subnormal (steps of 6e-8), so
             * allow 1% there */
            if (c == 1 || c == 2)
                if (rms > fabs(x[0]) * (c == 2 ? 1e-2 : 2e-3)) fail_msg("%s case %d: rms %g for constant %g", fg_dtype_name(dt), c, rms, (double)x[0]);
            if (c >= 4) {
                if (rms > rel[t] * xr) fail_msg("%s case %d: rms %g vs signal %g", fg_dtype_name(dt), c, rms, xr);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_q8_0_exact),
        cmocka_unit_test(test_roundtrip_edges),
        cmocka_unit_test(test_golden_q8_0),
        cmocka_unit_test(test_golden_q4_0),
        cmocka_unit_test(test_golden_q4_k_m),
        cmocka_unit_test(test_golden_q5_k_m),
        cmocka_unit_test(test_golden_q6_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
