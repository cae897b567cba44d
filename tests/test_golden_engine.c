/* Engine goldens (issue 2): the synthetic tiny models loaded from their Hugging Face
 * directory and from the GGUF our tool writes, and qwen2-q256 as F32/F16/BF16 GGUF,
 * against the float64 reference of ../shared/golden. */
#include "golden.h"

#include <math.h>
#include <stdlib.h>

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
/* A batch longer than the feed-forward's slices (FG_FFN_ROWS): 300 tokens in one chunk
 * run the feed-forward as slices of 128, 128 and 44 tokens, 144 as 128 and 16 (on AMX,
 * the 16 go to the vector kernels: a second BF16 conversion of the weights for 72 + 72
 * measured slower). Every position's logits must match the same tokens evaluated one at
 * a time (the F32 model and cache: float kernels both ways; they measured identical),
 * which fails if a slice reads or writes another slice's rows. */
static void ffn_slices(void **st)
{
    (void)st;
    fg_model *m;
    fg_model_params mp = fg_model_default_params();
    assert_int_equal(fg_model_load(test_model_path("qwen2-q256-f32.gguf"), &mp, &m), FG_OK);
    const int64_t V = fg_model_hparams(m)->n_vocab, lens[] = {300, 144};
    for (int li = 0; li < 2; li++) {
        const int64_t n = lens[li];
        fg_session *s;
        fg_session_params sp = fg_session_default_params();
        sp.n_ctx = 512;
        sp.n_batch = (int)n;
        sp.kv_type = FG_DT_F32; /* keeps the batch's attention off the tiles' BF16 parts */
        assert_int_equal(fg_session_create(m, &sp, &s), FG_OK);
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
        float *all = malloc(sizeof(float) * (size_t)(n * V)), *one = malloc(sizeof(float) * (size_t)V);
        assert_true(ids && all && one);
        for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)((i * 7919 + 13) % V);
        assert_int_equal(fg_session_eval(s, ids, n, FG_LOGITS_ALL, all), FG_OK);
        fg_session_truncate(s, 0);
        double md = 0;
        for (int64_t i = 0; i < n; i++) {
            assert_int_equal(fg_session_eval(s, ids + i, 1, FG_LOGITS_LAST, one), FG_OK);
            for (int64_t v = 0; v < V; v++) md = fmax(md, fabs((double)one[v] - all[i * V + v]));
        }
        print_message("%lld tokens in one batch against one at a time: max |d| %.2e\n", (long long)n, md);
        if (md > 1e-4) fail_msg("%lld tokens: one batch differs from one at a time by %.2e", (long long)n, md);
        free(ids);
        free(all);
        free(one);
        fg_session_free(s);
    }
    fg_model_free(m);
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
        cmocka_unit_test(kv_f16_windows), cmocka_unit_test(kv_q8_0),         cmocka_unit_test(ffn_slices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
