/* Dtypes: the table of weight types (block geometry, GGUF ids, names), IEEE half and
 * bfloat16 scalar conversions, and the small scalar float helpers (RMS norm, softmax).
 * Block layouts are documented in quant.c. */
#include "core/core.h"

#include <math.h>
#include <string.h>
#include <strings.h>

/* ggml type ids as written in GGUF tensor infos (ggml.h `enum ggml_type`). */
enum {
    GGML_F32 = 0,
    GGML_F16 = 1,
    GGML_Q4_0 = 2,
    GGML_Q8_0 = 8,
    GGML_Q4_K = 12,
    GGML_Q5_K = 13,
    GGML_Q6_K = 14,
    GGML_BF16 = 30,
};

static const fg_dtype_info dtype_table[FG_DT_COUNT] = {
    [FG_DT_F32] = {"f32", 1, 4, GGML_F32},
    [FG_DT_F16] = {"f16", 1, 2, GGML_F16},
    [FG_DT_BF16] = {"bf16", 1, 2, GGML_BF16},
    [FG_DT_Q8_0] = {"q8_0", 32, 34, GGML_Q8_0},   /* f16 d + 32 x int8 */
    [FG_DT_Q4_0] = {"q4_0", 32, 18, GGML_Q4_0},   /* f16 d + 16 bytes of nibbles */
    [FG_DT_Q4_K] = {"q4_k", 256, 144, GGML_Q4_K}, /* 2 f16 + 12 scale bytes + 128 */
    [FG_DT_Q5_K] = {"q5_k", 256, 176, GGML_Q5_K}, /* 2 f16 + 12 + 32 high bits + 128 */
    [FG_DT_Q6_K] = {"q6_k", 256, 210, GGML_Q6_K}, /* 128 low + 64 high + 16 scales + f16 */
};

const fg_dtype_info *fg_dtype_get(fg_dtype dt)
{
    if ((int)dt < 0 || dt >= FG_DT_COUNT) return NULL;
    return &dtype_table[dt];
}

const char *fg_dtype_name(fg_dtype dt)
{
    const fg_dtype_info *d = fg_dtype_get(dt);
    return d ? d->name : "?";
}

fg_dtype fg_dtype_from_gguf(uint32_t gguf_type)
{
    for (int i = 0; i < FG_DT_COUNT; i++)
        if (dtype_table[i].gguf_type == gguf_type) return (fg_dtype)i;
    return FG_DT_INVALID;
}

fg_dtype fg_dtype_from_name(const char *name)
{
    if (!name) return FG_DT_INVALID;
    for (int i = 0; i < FG_DT_COUNT; i++)
        if (strcasecmp(dtype_table[i].name, name) == 0) return (fg_dtype)i;
    return FG_DT_INVALID;
}

size_t fg_row_bytes(fg_dtype dt, int64_t n)
{
    const fg_dtype_info *d = fg_dtype_get(dt);
    if (!d || n < 0 || n % d->block_elems != 0) return 0;
    return (size_t)(n / d->block_elems) * (size_t)d->block_bytes;
}

/* ---- IEEE binary16 ------------------------------------------------------------------
 * 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. Largest finite 65504,
 * smallest normal 2^-14, smallest subnormal 2^-24. */

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float fg_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24, exact in float32 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (man << 13)); /* inf / NaN */
    return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t fg_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {
        if (ax == 0x7f800000u) return sign | 0x7c00;
        /* NaN: keep it quiet and keep the top payload bits */
        return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
    }
    /* 65520 (0x477ff000) is the midpoint between 65504 and 2^16: ties-to-even sends it
     * (odd mantissa 0x3ff) up to infinity, like everything above. */
    if (ax >= 0x477ff000u) return sign | 0x7c00;
    if (ax >= 0x38800000u) {
        /* normal half: rebias the exponent (127 - 15 = 112) and round the 23-bit
         * mantissa to 10 bits; a carry out of the mantissa bumps the exponent, which
         * is exactly the right result. */
        uint32_t r = ax - 0x38000000u;
        r += 0xfffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    /* subnormal half (or zero): the result counts units of 2^-24. Values up to and
     * including 2^-25 (the midpoint of 0 and 2^-24) round to zero (ties to even). */
    if (ax <= 0x33000000u) return sign;
    uint32_t exp = ax >> 23;               /* 102..112 here */
    uint32_t man = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exp;            /* value = man * 2^(exp - 150) = (man >> shift) units */
    uint32_t q = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return (uint16_t)(sign | q);           /* q may reach 0x400: the smallest normal */
}

/* ---- bfloat16: the top 16 bits of a float32 --------------------------------------- */

float fg_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

uint16_t fg_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    /* round to nearest even; a carry may reach the exponent (up to infinity): correct */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* ---- float helpers ------------------------------------------------------------------ */

void fg_rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    if (n <= 0) return;
    /* eight partial sums in double: one chain of dependent adds took ~1 us per 896
     * elements, on the token's serial path twice per layer */
    double p[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) p[k] += (double)x[i + k] * x[i + k];
    for (; i < n; i++) p[0] += (double)x[i] * x[i];
    double ss = ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
    float inv = (float)(1.0 / sqrt(ss / n + (double)eps));
    if (w)
        for (i = 0; i < n; i++) out[i] = x[i] * inv * w[i];
    else
        for (i = 0; i < n; i++) out[i] = x[i] * inv;
}

void fg_softmax_inplace(float *x, int n)
{
    if (n <= 0) return;
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}
