/* Quantization mixtures: which dtype each tensor gets when a model is quantized to a
 * named type (`frugal quantize --type`, `--quant` on load). One rule for both paths.
 *
 * Plain types (q8_0, q4_0, q6_k, f16, bf16): every matrix gets the type.
 * The _M mixtures follow the usual published recipe ("some tensors kept at higher
 * precision"):
 *   q4_k_m: Q4_K everywhere, but Q6_K for the output matrix (or the tied embedding),
 *           and for attn_v and ffn_down in the "more bits" layers: the first and last
 *           eighth of the layers and every third layer in between
 *           (i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2);
 *   q5_k_m: the same with Q5_K as the base type.
 *   q4_0:   Q4_0 everywhere but Q6_K for the output matrix / tied embedding.
 * Vectors (norms, biases, rope factors) always stay F32. A matrix whose row length is
 * not a multiple of the chosen type's block falls back: Q4_K to Q4_0 (same bits), Q5_K
 * and Q6_K to Q8_0, then F16. */
#ifndef FG_QUANT_MIX_H
#define FG_QUANT_MIX_H

#include "core/core.h"

typedef enum fg_quant_mix {
    FG_QMIX_NONE = 0, /* keep as stored */
    FG_QMIX_F16, FG_QMIX_BF16, FG_QMIX_Q8_0, FG_QMIX_Q4_0, FG_QMIX_Q6_K, FG_QMIX_Q4_K_M, FG_QMIX_Q5_K_M,
    FG_QMIX_COUNT
} fg_quant_mix;

/* "q4_k_m" etc. (case-insensitive); FG_QMIX_NONE and false if unknown. */
bool fg_quant_mix_from_name(const char *name, fg_quant_mix *out);
const char *fg_quant_mix_name(fg_quant_mix m);
/* The GGUF general.file_type value of a mixture (llama.cpp's numbering). */
uint32_t fg_quant_mix_file_type(fg_quant_mix m);

/* The dtype for a tensor, named with GGUF names (token_embd.weight, blk.N.attn_v.weight,
 * output.weight, ...). n_dims 1 -> F32; FG_QMIX_NONE -> FG_DT_INVALID (keep as stored).
 * `tied`: the embedding doubles as the output. */
fg_dtype fg_quant_mix_type(fg_quant_mix m, const char *gguf_name, uint32_t n_dims, int64_t cols, int64_t n_layers,
                           bool tied);

#endif
