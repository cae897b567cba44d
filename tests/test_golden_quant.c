/* Issue 4 goldens: every qwen2-q256 file (llama.cpp-quantized Q8_0, Q4_0, Q4_K_M,
 * Q5_K_M, Q6_K; and F16/BF16 again) against the float64 reference of
 * ../shared/golden, on every kernel path this CPU has (fg_isa_force), scalar included,
 * with the prompt evaluated in one batch and again one token at a time (the row-tile
 * decode kernels are separate code from the batch kernels on AVX-512). */
#include "golden.h"

#include <stdio.h>

static void check_all_isas(const char *model, const char *golden, golden_kind kind)
{
    int paths = 0;
    for (int i = 0; i < FG_ISA_COUNT; i++) {
        fg_isa isa = (fg_isa)i;
        if (!fg_isa_supported(isa)) continue;
        assert_int_equal(fg_isa_force(isa), FG_OK);
        print_message("-- %s path\n", fg_isa_name(isa));
        golden_check(test_model_path(model), test_data_path(golden), kind, false, false, 0);
        paths++;
    }
    assert_true(paths >= 1);
}

static void q8_0(void **st) { (void)st; check_all_isas("qwen2-q256-q8_0.gguf", "golden/gold-qwen2-q256-q8_0.json", GOLDEN_QUANT); }
static void q4_0(void **st) { (void)st; check_all_isas("qwen2-q256-q4_0.gguf", "golden/gold-qwen2-q256-q4_0.json", GOLDEN_QUANT); }
static void q4_k_m(void **st) { (void)st; check_all_isas("qwen2-q256-q4_k_m.gguf", "golden/gold-qwen2-q256-q4_k_m.json", GOLDEN_QUANT); }
static void q5_k_m(void **st) { (void)st; check_all_isas("qwen2-q256-q5_k_m.gguf", "golden/gold-qwen2-q256-q5_k_m.json", GOLDEN_QUANT); }
static void q6_k(void **st) { (void)st; check_all_isas("qwen2-q256-q6_k.gguf", "golden/gold-qwen2-q256-q6_k.json", GOLDEN_QUANT); }
static void f16(void **st) { (void)st; check_all_isas("qwen2-q256-f16.gguf", "golden/gold-qwen2-q256-f16.json", GOLDEN_FLOAT); }
static void bf16(void **st) { (void)st; check_all_isas("qwen2-q256-bf16.gguf", "golden/gold-qwen2-q256-bf16.json", GOLDEN_FLOAT); }
static void f32(void **st) { (void)st; check_all_isas("qwen2-q256-f32.gguf", "golden/gold-qwen2-q256-f32.json", GOLDEN_F32); }

int main(void)
{
    golden_also_decode = true; /* batch kernels and decode kernels */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(q8_0), cmocka_unit_test(q4_0), cmocka_unit_test(q4_k_m), cmocka_unit_test(q5_k_m),
        cmocka_unit_test(q6_k), cmocka_unit_test(f16),  cmocka_unit_test(bf16),   cmocka_unit_test(f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
