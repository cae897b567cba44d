#include "format/quant_mix.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const names[FG_QMIX_COUNT] = {"none", "f16", "bf16", "q8_0", "q4_0", "q6_k", "q4_k_m", "q5_k_m"};

bool fg_quant_mix_from_name(const char *name, fg_quant_mix *out)
{
    for (int i = 1; i < FG_QMIX_COUNT; i++)
        if (!strcasecmp(name, names[i])) {
            *out = (fg_quant_mix)i;
            return true;
        }
    *out = FG_QMIX_NONE;
    return false;
}

const char *fg_quant_mix_name(fg_quant_mix m) { return (unsigned)m < FG_QMIX_COUNT ? names[m] : "?"; }

uint32_t fg_quant_mix_file_type(fg_quant_mix m)
{
    /* llama.cpp's LLAMA_FTYPE numbering, stored as general.file_type */
    switch (m) {
    case FG_QMIX_F16: return 1;
    case FG_QMIX_Q4_0: return 2;
    case FG_QMIX_Q8_0: return 7;
    case FG_QMIX_Q4_K_M: return 15;
    case FG_QMIX_Q5_K_M: return 17;
    case FG_QMIX_Q6_K: return 18;
    case FG_QMIX_BF16: return 32;
    default: return 0;
    }
}

/* Layer index from "blk.N.", -1 if none. */
static int layer_of(const char *name)
{
    if (strncmp(name, "blk.", 4)) return -1;
    char *end;
    long v = strtol(name + 4, &end, 10);
    return *end == '.' ? (int)v : -1;
}

static bool more_bits(int i, int64_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Rows that are not whole 256-element super-blocks (Qwen2.5-0.5B's 896 columns) cannot
 * hold K-quants: Q4_K falls back to Q4_0 (the same 4.5 bits per weight), Q5_K and Q6_K
 * to Q8_0 (never fewer bits than asked), anything else to F16. */
static fg_dtype fit_block(fg_dtype want, int64_t cols)
{
    if (fg_row_bytes(want, cols)) return want;
    if (want == FG_DT_Q4_K && fg_row_bytes(FG_DT_Q4_0, cols)) return FG_DT_Q4_0;
    if (fg_row_bytes(FG_DT_Q8_0, cols) && want != FG_DT_F16 && want != FG_DT_BF16) return FG_DT_Q8_0;
    return FG_DT_F16;
}

fg_dtype fg_quant_mix_type(fg_quant_mix m, const char *name, uint32_t n_dims, int64_t cols, int64_t n_layers, bool tied)
{
    if (m == FG_QMIX_NONE) return FG_DT_INVALID; /* keep */
    /* vectors stay F32, as the header says (this returned "keep" before, which left a
     * F16/BF16 norm of a Hugging Face checkpoint in its 16-bit type) */
    if (n_dims < 2) return FG_DT_F32;
    bool output = !strcmp(name, "output.weight") || (tied && !strcmp(name, "token_embd.weight"));
    int L = layer_of(name);
    bool sensitive = L >= 0 && (has_suffix(name, ".attn_v.weight") || has_suffix(name, ".ffn_down.weight")) &&
                     more_bits(L, n_layers);
    fg_dtype t;
    switch (m) {
    case FG_QMIX_F16: t = FG_DT_F16; break;
    case FG_QMIX_BF16: t = FG_DT_BF16; break;
    case FG_QMIX_Q8_0: t = FG_DT_Q8_0; break;
    case FG_QMIX_Q6_K: t = FG_DT_Q6_K; break;
    case FG_QMIX_Q4_0: t = output ? FG_DT_Q6_K : FG_DT_Q4_0; break;
    case FG_QMIX_Q4_K_M: t = output || sensitive ? FG_DT_Q6_K : FG_DT_Q4_K; break;
    case FG_QMIX_Q5_K_M: t = output || sensitive ? FG_DT_Q6_K : FG_DT_Q5_K; break;
    default: return FG_DT_INVALID;
    }
    return fit_block(t, cols);
}
