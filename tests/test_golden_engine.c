/* Engine goldens (issue 2): the synthetic tiny models loaded from their Hugging Face
 * directory and from the GGUF our tool writes, and qwen2-q256 as F32/F16/BF16 GGUF,
 * against the float64 reference of ../shared/golden. */
#include "golden.h"

static void qwen2_tiny_hf(void **st) { (void)st; golden_check(test_model_path("qwen2-tiny-hf"), test_data_path("golden/gold-qwen2-tiny-f32.json"), GOLDEN_F32, true, true, 1e-4); }
static void qwen2_tiny_gguf(void **st) { (void)st; golden_check(test_model_path("qwen2-tiny-f32.gguf"), test_data_path("golden/gold-qwen2-tiny-f32.json"), GOLDEN_F32, true, true, 1e-4); }
static void q256_hf_bf16(void **st) { (void)st; golden_check(test_model_path("qwen2-q256-hf-bf16"), test_data_path("golden/gold-qwen2-q256-bf16.json"), GOLDEN_FLOAT, true, false, 0); }
static void llama_tiny_hf(void **st) { (void)st; golden_check(test_model_path("llama-tiny-hf"), test_data_path("golden/gold-llama-tiny-f32.json"), GOLDEN_F32, true, true, 1e-4); }
static void llama_tiny_gguf(void **st) { (void)st; golden_check(test_model_path("llama-tiny-f32.gguf"), test_data_path("golden/gold-llama-tiny-f32.json"), GOLDEN_F32, true, true, 1e-4); }
static void qwen3_tiny_hf(void **st) { (void)st; golden_check(test_model_path("qwen3-tiny-hf"), test_data_path("golden/gold-qwen3-tiny-f32.json"), GOLDEN_F32, true, true, 1e-4); }
static void qwen3_tiny_gguf(void **st) { (void)st; golden_check(test_model_path("qwen3-tiny-f32.gguf"), test_data_path("golden/gold-qwen3-tiny-f32.json"), GOLDEN_F32, true, true, 1e-4); }
static void q256_f32(void **st) { (void)st; golden_check(test_model_path("qwen2-q256-f32.gguf"), test_data_path("golden/gold-qwen2-q256-f32.json"), GOLDEN_F32, true, true, 1e-4); }
/* F16/BF16 weights: a batch may run on the AMX tiles (activations as two BF16 parts,
 * ~2^-16 of each product) where single tokens run in FP32, so batch and token by token
 * agree to ~4e-4 on logits of ~50 (each within ~2e-4 of the reference); a chunking bug
 * (a wrong position or cache row) moves them by 0.1 or more. */
static void q256_f16(void **st) { (void)st; golden_check(test_model_path("qwen2-q256-f16.gguf"), test_data_path("golden/gold-qwen2-q256-f16.json"), GOLDEN_FLOAT, true, true, 2e-3); }
static void q256_bf16(void **st) { (void)st; golden_check(test_model_path("qwen2-q256-bf16.gguf"), test_data_path("golden/gold-qwen2-q256-bf16.json"), GOLDEN_FLOAT, true, true, 2e-3); }
static void q256_hf(void **st) { (void)st; golden_check(test_model_path("qwen2-q256-hf"), test_data_path("golden/gold-qwen2-q256-f32.json"), GOLDEN_F32, true, false, 0); }

/* F16 and Q8_0 KV caches stay within the quantized-weights tolerance of the reference.
 * With an F16 cache a batch may take its attention scores from the AMX tiles (keys and
 * queries as two BF16 parts, ~2^-16 of each product: attn_amx.c) where single tokens
 * stay in FP32: batch and token by token agree to ~7e-4 on logits of ~50, hence 2e-3
 * as for the F16/BF16 weights above. */
static void kv_f16(void **st) { (void)st; golden_kv_type = FG_DT_F16; golden_check(test_model_path("qwen2-q256-f32.gguf"), test_data_path("golden/gold-qwen2-q256-f32.json"), GOLDEN_FLOAT, true, true, 2e-3); golden_kv_type = FG_DT_F32; }
/* The same with the AMX attention's windows cut to 16 positions, so the 48-token prompt
 * walks three of them and its online softmax rescales (forward.c, attn_amx_head): the
 * result must meet the same acceptance. */
static void kv_f16_windows(void **st)
{
    (void)st;
    const int64_t was = fg_attn_amx_window(16);
    assert_int_equal(fg_attn_amx_window(0), 16);
    kv_f16(st);
    fg_attn_amx_window(was);
}
/* Q8_0 K/V (8-bit, like Q8_0 weights) must cost far less than Q8_0 weights do: llama.cpp's
 * Q8_0 file of this model deviates 0.3-0.6 from the reference (gold-qwen2-q256-q8_0.json),
 * so B = 0.2 here; the logits are ~50 in magnitude. */
static void kv_q8_0(void **st)
{
    (void)st;
    golden_kv_type = FG_DT_Q8_0;
    golden_base_tol = 0.2;
    golden_check(test_model_path("qwen2-q256-f32.gguf"), test_data_path("golden/gold-qwen2-q256-f32.json"), GOLDEN_QUANT, false, true, 1e-4);
    golden_kv_type = FG_DT_F32;
    golden_base_tol = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qwen2_tiny_hf),  cmocka_unit_test(qwen2_tiny_gguf), cmocka_unit_test(q256_hf_bf16),
        cmocka_unit_test(llama_tiny_hf),  cmocka_unit_test(llama_tiny_gguf), cmocka_unit_test(qwen3_tiny_hf),
        cmocka_unit_test(qwen3_tiny_gguf), cmocka_unit_test(q256_f32),      cmocka_unit_test(q256_f16),
        cmocka_unit_test(q256_bf16),      cmocka_unit_test(q256_hf),         cmocka_unit_test(kv_f16),
        cmocka_unit_test(kv_f16_windows), cmocka_unit_test(kv_q8_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
