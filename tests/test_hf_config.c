/* Hugging Face config.json: the configs of real checkpoints as published on the Hugging
 * Face hub (Qwen2.5-0.5B-Instruct, Llama-3.2-1B-Instruct, Qwen3-0.6B, TinyLlama-1.1B-Chat,
 * SmolLM2-135M-Instruct), the synthetic spec's configs (tests/data/synthetic), defaults,
 * and malformed or unsupported configs, each of which must fail with a one-line message
 * naming the field. */
#include "testutil.h"

#include "format/format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static fg_hf_config parse_ok(const char *json)
{
    fg_hf_config c;
    if (fg_hf_config_parse(json, strlen(json), "test.json", &c)) fail_msg("%s", fg_last_error());
    return c;
}

/* The parse must fail with `want` and a one-line message containing `needle`. */
static void expect_fail_at(const char *json, fg_status want, const char *needle, int line)
{
    fg_hf_config c;
    fg_status st = fg_hf_config_parse(json, strlen(json), "test.json", &c);
    const char *e = fg_last_error();
    if (st != want)
        fail_msg("line %d: expected '%s', got '%s' (%s) for %s", line, fg_status_str(want), fg_status_str(st), e, json);
    if (!*e || strchr(e, '\n')) fail_msg("line %d: bad message '%s'", line, e);
    if (!strstr(e, "test.json")) fail_msg("line %d: message does not name the file: %s", line, e);
    if (needle && !strstr(e, needle)) fail_msg("line %d: message lacks '%s': %s", line, needle, e);
    assert_int_equal(c.arch, FG_ARCH_UNKNOWN); /* nothing half-filled */
}
#define expect_fail(json, want, needle) expect_fail_at(json, want, needle, __LINE__)

static void test_qwen25(void **state)
{
    fg_hf_config c = parse_ok(
        "{\"architectures\": [\"Qwen2ForCausalLM\"], \"attention_dropout\": 0.0, \"bos_token_id\": 151643,"
        " \"eos_token_id\": 151645, \"hidden_act\": \"silu\", \"hidden_size\": 896, \"initializer_range\": 0.02,"
        " \"intermediate_size\": 4864, \"max_position_embeddings\": 32768, \"max_window_layers\": 21,"
        " \"model_type\": \"qwen2\", \"num_attention_heads\": 14, \"num_hidden_layers\": 24,"
        " \"num_key_value_heads\": 2, \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0, \"sliding_window\": 32768,"
        " \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.43.1\","
        " \"use_cache\": true, \"use_sliding_window\": false, \"vocab_size\": 151936}");
    assert_int_equal(c.arch, FG_ARCH_QWEN2);
    assert_string_equal(c.model_type, "qwen2");
    assert_int_equal(c.hidden_size, 896);
    assert_int_equal(c.intermediate_size, 4864);
    assert_int_equal(c.n_layers, 24);
    assert_int_equal(c.n_heads, 14);
    assert_int_equal(c.n_kv_heads, 2);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.vocab_size, 151936);
    assert_int_equal(c.max_position_embeddings, 32768);
    assert_true(c.rope_theta == 1000000.0);
    assert_true(c.rms_norm_eps == 1e-6);
    assert_true(c.tie_word_embeddings);
    assert_int_equal(c.bos_token_id, 151643);
    assert_int_equal(c.eos_token_id, 151645);
    assert_string_equal(c.torch_dtype, "bfloat16");
    assert_false(c.rope_llama3);
}

static void test_llama32(void **state)
{
    fg_hf_config c = parse_ok(
        "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
        " \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009], \"head_dim\": 64,"
        " \"hidden_act\": \"silu\", \"hidden_size\": 2048, \"initializer_range\": 0.02, \"intermediate_size\": 8192,"
        " \"max_position_embeddings\": 131072, \"mlp_bias\": false, \"model_type\": \"llama\","
        " \"num_attention_heads\": 32, \"num_hidden_layers\": 16, \"num_key_value_heads\": 8,"
        " \"pretraining_tp\": 1, \"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"factor\": 32.0,"
        " \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192,"
        " \"rope_type\": \"llama3\"}, \"rope_theta\": 500000.0, \"tie_word_embeddings\": true,"
        " \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.45.0.dev0\", \"use_cache\": true,"
        " \"vocab_size\": 128256}");
    assert_int_equal(c.arch, FG_ARCH_LLAMA);
    assert_int_equal(c.hidden_size, 2048);
    assert_int_equal(c.intermediate_size, 8192);
    assert_int_equal(c.n_layers, 16);
    assert_int_equal(c.n_heads, 32);
    assert_int_equal(c.n_kv_heads, 8);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.vocab_size, 128256);
    assert_int_equal(c.max_position_embeddings, 131072);
    assert_true(c.rope_theta == 500000.0);
    assert_true(c.rms_norm_eps == 1e-5);
    assert_true(c.tie_word_embeddings);
    assert_int_equal(c.bos_token_id, 128000);
    assert_int_equal(c.eos_token_id, 128001); /* the first of the list */
    assert_true(c.rope_llama3);
    assert_true(c.rope_factor == 32.0);
    assert_true(c.rope_low_freq_factor == 1.0);
    assert_true(c.rope_high_freq_factor == 4.0);
    assert_int_equal(c.rope_original_max_pos, 8192);
}

static void test_qwen3(void **state)
{
    fg_hf_config c = parse_ok(
        "{\"architectures\": [\"Qwen3ForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
        " \"bos_token_id\": 151643, \"eos_token_id\": 151645, \"head_dim\": 128, \"hidden_act\": \"silu\","
        " \"hidden_size\": 1024, \"initializer_range\": 0.02, \"intermediate_size\": 3072,"
        " \"max_position_embeddings\": 40960, \"max_window_layers\": 28, \"model_type\": \"qwen3\","
        " \"num_attention_heads\": 16, \"num_hidden_layers\": 28, \"num_key_value_heads\": 8,"
        " \"rms_norm_eps\": 1e-06, \"rope_scaling\": null, \"rope_theta\": 1000000, \"sliding_window\": null,"
        " \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.51.0\","
        " \"use_cache\": true, \"use_sliding_window\": false, \"vocab_size\": 151936}");
    assert_int_equal(c.arch, FG_ARCH_QWEN3);
    assert_int_equal(c.hidden_size, 1024);
    assert_int_equal(c.n_heads, 16);
    assert_int_equal(c.head_dim, 128); /* explicit: q is 16 * 128 = 2048 wide, not hidden */
    assert_int_equal(c.n_kv_heads, 8);
    assert_int_equal(c.n_layers, 28);
    assert_int_equal(c.max_position_embeddings, 40960);
    assert_true(c.rope_theta == 1000000.0); /* an integer in the JSON */
    assert_false(c.rope_llama3);
    assert_true(c.tie_word_embeddings);

    /* newer transformers write "dtype" instead of "torch_dtype" */
    c = parse_ok("{\"model_type\": \"qwen3\", \"hidden_size\": 1024, \"intermediate_size\": 3072,"
                 " \"num_hidden_layers\": 28, \"num_attention_heads\": 16, \"num_key_value_heads\": 8,"
                 " \"head_dim\": 128, \"vocab_size\": 151936, \"dtype\": \"bfloat16\"}");
    assert_string_equal(c.torch_dtype, "bfloat16");
}

static void test_tinyllama_smollm(void **state)
{
    fg_hf_config c = parse_ok(
        "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"bos_token_id\": 1,"
        " \"eos_token_id\": 2, \"hidden_act\": \"silu\", \"hidden_size\": 2048, \"initializer_range\": 0.02,"
        " \"intermediate_size\": 5632, \"max_position_embeddings\": 2048, \"model_type\": \"llama\","
        " \"num_attention_heads\": 32, \"num_hidden_layers\": 22, \"num_key_value_heads\": 4,"
        " \"pretraining_tp\": 1, \"rms_norm_eps\": 1e-05, \"rope_scaling\": null, \"rope_theta\": 10000.0,"
        " \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.35.0\","
        " \"use_cache\": true, \"vocab_size\": 32000}");
    assert_int_equal(c.arch, FG_ARCH_LLAMA);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.n_kv_heads, 4);
    assert_int_equal(c.vocab_size, 32000);
    assert_false(c.tie_word_embeddings);
    assert_int_equal(c.bos_token_id, 1);
    assert_int_equal(c.eos_token_id, 2);

    c = parse_ok(
        "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
        " \"bos_token_id\": 1, \"eos_token_id\": 2, \"hidden_act\": \"silu\", \"hidden_size\": 576,"
        " \"initializer_range\": 0.041666666666666664, \"intermediate_size\": 1536, \"is_llama_config\": true,"
        " \"max_position_embeddings\": 8192, \"model_type\": \"llama\", \"num_attention_heads\": 9,"
        " \"num_hidden_layers\": 30, \"num_key_value_heads\": 3, \"pad_token_id\": 2, \"pretraining_tp\": 1,"
        " \"rms_norm_eps\": 1e-05, \"rope_interleaved\": false, \"rope_scaling\": null, \"rope_theta\": 100000,"
        " \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.42.3\","
        " \"transformers.js_config\": {\"kv_cache_dtype\": {\"q4f16\": \"float16\", \"fp16\": \"float16\"}},"
        " \"use_cache\": true, \"vocab_size\": 49152}");
    assert_int_equal(c.hidden_size, 576);
    assert_int_equal(c.n_heads, 9);
    assert_int_equal(c.n_kv_heads, 3);
    assert_int_equal(c.head_dim, 64);
    assert_true(c.rope_theta == 100000.0);
}

/* The synthetic spec's configs, from the files in tests/data/synthetic. */
static void test_synthetic_configs(void **state)
{
    struct { const char *file; fg_arch arch; int64_t hidden, inter, heads, kv, hd, vocab; double theta, eps;
             bool tied, llama3; int64_t bos, eos; } want[] = {
        {"qwen2-tiny.json", FG_ARCH_QWEN2, 64, 192, 4, 2, 16, 151936, 1e6, 1e-6, true, false, 151643, 151645},
        {"llama-tiny.json", FG_ARCH_LLAMA, 64, 192, 4, 2, 16, 151936, 5e5, 1e-5, false, true, 151643, 151645},
        {"qwen3-tiny.json", FG_ARCH_QWEN3, 64, 192, 4, 2, 32, 151936, 1e6, 1e-6, true, false, 151643, 151645},
        {"qwen2-q256.json", FG_ARCH_QWEN2, 256, 512, 4, 2, 64, 4096, 1e6, 1e-6, true, false, 0, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "synthetic/%s", want[i].file);
        fg_hf_config c;
        if (fg_hf_config_load(test_data_path(rel), &c)) fail_msg("%s", fg_last_error());
        assert_int_equal(c.arch, want[i].arch);
        assert_string_equal(c.model_type, fg_arch_name(want[i].arch));
        assert_int_equal(c.hidden_size, want[i].hidden);
        assert_int_equal(c.intermediate_size, want[i].inter);
        assert_int_equal(c.n_layers, 2);
        assert_int_equal(c.n_heads, want[i].heads);
        assert_int_equal(c.n_kv_heads, want[i].kv);
        assert_int_equal(c.head_dim, want[i].hd);
        assert_int_equal(c.vocab_size, want[i].vocab);
        assert_int_equal(c.max_position_embeddings, 4096);
        assert_true(c.rope_theta == want[i].theta);
        assert_true(c.rms_norm_eps == want[i].eps);
        assert_int_equal(c.tie_word_embeddings, want[i].tied);
        assert_int_equal(c.rope_llama3, want[i].llama3);
        assert_int_equal(c.bos_token_id, want[i].bos);
        assert_int_equal(c.eos_token_id, want[i].eos);
        if (want[i].llama3) {
            assert_true(c.rope_factor == 32.0);
            assert_true(c.rope_low_freq_factor == 1.0);
            assert_true(c.rope_high_freq_factor == 4.0);
            assert_int_equal(c.rope_original_max_pos, 8192);
        }
    }
}

/* Loading from a directory (config.json inside) and from a file path. */
static void test_load_paths(void **state)
{
    char *dir = test_tmpdir();
    assert_non_null(dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *json = "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128,"
                       " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"vocab_size\": 10}";
    assert_int_equal(test_write_file(path, json, strlen(json)), 0);
    fg_hf_config c;
    assert_int_equal(fg_hf_config_load(dir, &c), FG_OK);
    assert_int_equal(c.hidden_size, 64);
    assert_int_equal(fg_hf_config_load(path, &c), FG_OK);
    assert_int_equal(c.arch, FG_ARCH_LLAMA);

    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(fg_hf_config_load(path, &c), FG_ERR_IO);
    assert_non_null(strstr(fg_last_error(), path));
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(test_write_file(path, "", 0), 0);
    assert_int_equal(fg_hf_config_load(dir, &c), FG_ERR_FORMAT);
    assert_non_null(strstr(fg_last_error(), "config.json"));
    unlink(path);
    assert_int_equal(fg_hf_config_load(dir, &c), FG_ERR_IO); /* a directory without config.json */
    rmdir(dir);
    free(dir);
}

/* Defaults of the transformers config classes for absent (or null) fields. */
static void test_defaults(void **state)
{
    fg_hf_config c = parse_ok("{\"model_type\": \"qwen2\", \"hidden_size\": 64, \"intermediate_size\": 128,"
                              " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100,"
                              " \"head_dim\": null, \"bos_token_id\": null}");
    assert_int_equal(c.n_kv_heads, 4);
    assert_int_equal(c.head_dim, 16);
    assert_true(c.rope_theta == 10000.0);
    assert_true(c.rms_norm_eps == 1e-6);
    assert_false(c.tie_word_embeddings);
    assert_int_equal(c.bos_token_id, -1);
    assert_int_equal(c.eos_token_id, -1);
    assert_string_equal(c.torch_dtype, "");
    assert_int_equal(c.max_position_embeddings, 32768);
    assert_false(c.rope_llama3);
    c = parse_ok("{\"architecture\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128,"
                 " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100,"
                 " \"eos_token_id\": [], \"rope_scaling\": {\"rope_type\": \"default\"}}");
    assert_int_equal(c.arch, FG_ARCH_LLAMA);
    assert_int_equal(c.eos_token_id, -1);
    assert_int_equal(c.max_position_embeddings, 2048);
    assert_false(c.rope_llama3);
    /* the old spelling "type" of rope_scaling */
    c = parse_ok("{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128,"
                 " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100,"
                 " \"rope_scaling\": {\"type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1,"
                 " \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}}");
    assert_true(c.rope_llama3);
    assert_true(c.rope_factor == 8.0);
}

#define BASE "\"model_type\": \"llama\", \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"vocab_size\": 100"

static void test_bad_configs(void **state)
{
    expect_fail("{\"model_type\": ", FG_ERR_FORMAT, "JSON");
    expect_fail("[1, 2]", FG_ERR_FORMAT, "object");
    expect_fail("{\"hidden_size\": 64}", FG_ERR_FORMAT, "model_type");
    expect_fail("{\"model_type\": \"mistral\", \"hidden_size\": 64}", FG_ERR_UNSUPPORTED, "mistral");
    expect_fail("{\"architectures\": [\"GPT2LMHeadModel\"]}", FG_ERR_UNSUPPORTED, "GPT2LMHeadModel");
    expect_fail("{\"architectures\": \"LlamaForCausalLM\"}", FG_ERR_FORMAT, "architectures");
    expect_fail("{\"model_type\": 7}", FG_ERR_FORMAT, "model_type");
    expect_fail("{" BASE ", \"num_attention_heads\": 4}", FG_ERR_FORMAT, "hidden_size");
    expect_fail("{" BASE ", \"hidden_size\": \"64\", \"num_attention_heads\": 4}", FG_ERR_FORMAT, "hidden_size");
    expect_fail("{" BASE ", \"hidden_size\": 0, \"num_attention_heads\": 4}", FG_ERR_FORMAT, "hidden_size");
    expect_fail("{" BASE ", \"hidden_size\": -64, \"num_attention_heads\": 4}", FG_ERR_FORMAT, "hidden_size");
    expect_fail("{" BASE ", \"hidden_size\": 64.5, \"num_attention_heads\": 4}", FG_ERR_FORMAT, "hidden_size");
    expect_fail("{" BASE ", \"hidden_size\": 1e30, \"num_attention_heads\": 4}", FG_ERR_FORMAT, "hidden_size");
    expect_fail("{" BASE ", \"hidden_size\": true, \"num_attention_heads\": 4}", FG_ERR_FORMAT, "hidden_size");
    expect_fail("{" BASE ", \"hidden_size\": 64}", FG_ERR_FORMAT, "num_attention_heads");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"num_key_value_heads\": 3}",
                FG_ERR_FORMAT, "num_key_value_heads");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"num_key_value_heads\": 8}",
                FG_ERR_FORMAT, "num_key_value_heads");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"num_key_value_heads\": 0}",
                FG_ERR_FORMAT, "num_key_value_heads");
    expect_fail("{" BASE ", \"hidden_size\": 66, \"num_attention_heads\": 4}", FG_ERR_FORMAT, "num_attention_heads");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"head_dim\": 15}", FG_ERR_FORMAT,
                "head_dim");
    expect_fail("{" BASE ", \"hidden_size\": 60, \"num_attention_heads\": 4}", FG_ERR_FORMAT, "head_dim");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"rope_theta\": -1}", FG_ERR_FORMAT,
                "rope_theta");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"rms_norm_eps\": \"1e-6\"}",
                FG_ERR_FORMAT, "rms_norm_eps");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"tie_word_embeddings\": \"yes\"}",
                FG_ERR_FORMAT, "tie_word_embeddings");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"eos_token_id\": \"x\"}",
                FG_ERR_FORMAT, "eos_token_id");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"eos_token_id\": [\"x\"]}",
                FG_ERR_FORMAT, "eos_token_id");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"bos_token_id\": -3}",
                FG_ERR_FORMAT, "bos_token_id");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"torch_dtype\": 16}",
                FG_ERR_FORMAT, "torch_dtype");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"max_position_embeddings\": 0}",
                FG_ERR_FORMAT, "max_position_embeddings");
    /* rope scaling: only llama3 (and "default") */
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"rope_scaling\": {\"rope_type\": "
                "\"yarn\", \"factor\": 4.0}}", FG_ERR_UNSUPPORTED, "yarn");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"rope_scaling\": {\"type\": "
                "\"linear\", \"factor\": 2.0}}", FG_ERR_UNSUPPORTED, "linear");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"rope_scaling\": {\"factor\": 2}}",
                FG_ERR_FORMAT, "rope_type");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"rope_scaling\": \"llama3\"}",
                FG_ERR_FORMAT, "rope_scaling");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"rope_scaling\": {\"rope_type\": "
                "\"llama3\", \"low_freq_factor\": 1, \"high_freq_factor\": 4, "
                "\"original_max_position_embeddings\": 8192}}", FG_ERR_FORMAT, "factor");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"rope_scaling\": {\"rope_type\": "
                "\"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 4, "
                "\"original_max_position_embeddings\": 8192}}", FG_ERR_FORMAT, "high_freq_factor");
    expect_fail("{" BASE ", \"hidden_size\": 64, \"num_attention_heads\": 4, \"rope_scaling\": {\"rope_type\": "
                "\"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4}}", FG_ERR_FORMAT,
                "original_max_position_embeddings");

    fg_hf_config c;
    assert_int_equal(fg_hf_config_parse(NULL, 0, "x", &c), FG_ERR_ARG);
    assert_int_equal(fg_hf_config_parse("{}", 2, "x", NULL), FG_ERR_ARG);
}

static void test_arch_names(void **state)
{
    for (fg_arch a = FG_ARCH_LLAMA; a <= FG_ARCH_QWEN3; a++) assert_int_equal(fg_arch_from_name(fg_arch_name(a)), a);
    assert_string_equal(fg_arch_name(FG_ARCH_QWEN2), "qwen2");
    assert_int_equal(fg_arch_from_name("Qwen2ForCausalLM"), FG_ARCH_QWEN2);
    assert_int_equal(fg_arch_from_name("LLAMA"), FG_ARCH_LLAMA);
    assert_int_equal(fg_arch_from_name("qwen"), FG_ARCH_UNKNOWN);
    assert_int_equal(fg_arch_from_name(""), FG_ARCH_UNKNOWN);
    assert_int_equal(fg_arch_from_name(NULL), FG_ARCH_UNKNOWN);
    assert_string_equal(fg_arch_name((fg_arch)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen25),      cmocka_unit_test(test_llama32),
        cmocka_unit_test(test_qwen3),       cmocka_unit_test(test_tinyllama_smollm),
        cmocka_unit_test(test_synthetic_configs), cmocka_unit_test(test_load_paths),
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_arch_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
