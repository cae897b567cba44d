/* cJSON allocates through the tagged allocator (the library installs cJSON_InitHooks
 * before main), so fault injection reaches its allocations, and a failed allocation
 * inside a parse is reported as out of memory (FG_ERR_NOMEM, a message naming memory),
 * not as malformed JSON.
 *
 * Each reader (config.json, tokenizer.json + tokenizer_config.json, a safetensors
 * header, a suite file) is run once clean, with the call site of every allocation
 * recorded; then for every N up to that count the Nth allocation and every later one
 * fail. Checks: the clean run parses; cJSON's own allocations are among those counted
 * (call sites in libcjson); every injected run fails with FG_ERR_NOMEM and a one-line
 * message that names memory, in particular those whose first failure is inside cJSON;
 * no tagged byte is kept; and malformed JSON is still FG_ERR_FORMAT. */
#define _GNU_SOURCE /* dladdr */
#include "testutil.h"
#include "suite/suite.h"

#include <cjson/cJSON.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char config_json[] =
    "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":32,"
    "\"intermediate_size\":64,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1,"
    "\"vocab_size\":64,\"max_position_embeddings\":64,\"rope_theta\":10000.0,\"rms_norm_eps\":1e-06,"
    "\"tie_word_embeddings\":true,\"eos_token_id\":1,\"torch_dtype\":\"float32\"}";
static const char tokenizer_json[] =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":5,\"content\":\"<|im_end|>\",\"single_word\":false,"
    "\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}],"
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":true},"
    "\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"\\u0120\":3,\"c\":4},\"merges\":[\"a b\"]}}";
static const char tokenizer_config[] = "{\"eos_token\":\"<|im_end|>\",\"add_bos_token\":false}";
static const char suite_json[] =
    "{\"name\":\"t\",\"models\":[\"a.gguf\",{\"path\":\"dir/b/\",\"quant\":\"q8_0\",\"env\":{\"X\":\"1\"}}],"
    "\"prompts\":[\"hi\"],\"mem_limit\":\"1G\"}";
static const char st_header[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                "\"__metadata__\":{\"format\":\"pt\"}}";
static char st_path[600];

typedef enum reader { R_CONFIG, R_TOKENIZER, R_SAFETENSORS, R_SUITE } reader;

static fg_status run(reader r, bool malformed)
{
    switch (r) {
    case R_CONFIG: {
        fg_hf_config c;
        return fg_hf_config_parse(config_json, malformed ? sizeof config_json - 3 : sizeof config_json - 1, "config.json", &c);
    }
    case R_TOKENIZER: {
        fg_tokenizer *t = NULL;
        fg_status st = fg_tok_load_hf_json(tokenizer_json, malformed ? sizeof tokenizer_json - 3 : sizeof tokenizer_json - 1,
                                           tokenizer_config, sizeof tokenizer_config - 1, "tokenizer.json", &t);
        fg_tok_free(t);
        return st;
    }
    case R_SAFETENSORS: {
        /* 8-byte header length, the JSON header, 8 bytes of data */
        char buf[512];
        uint64_t hl = sizeof st_header - 1;
        memcpy(buf, &hl, 8);
        memcpy(buf + 8, st_header, hl);
        if (malformed) buf[8 + hl - 1] = ',';
        memset(buf + 8 + hl, 0, 8);
        assert_int_equal(test_write_file(st_path, buf, 8 + hl + 8), 0);
        fg_safetensors *sf = NULL;
        fg_status st = fg_st_open(st_path, &sf);
        fg_st_close(sf);
        return st;
    }
    case R_SUITE: {
        fg_suite_spec s;
        fg_status st = fg_suite_spec_parse(suite_json, malformed ? sizeof suite_json - 3 : sizeof suite_json - 1, "suite.json", &s);
        fg_suite_spec_free(&s);
        return st;
    }
    }
    return FG_ERR_INTERNAL;
}

/* call sites of the clean run's allocations: true where cJSON asked */
static bool in_cjson[4096];
static int64_t base_ordinal, n_seen;

static void record(int64_t ordinal, const void *caller)
{
    int64_t i = ordinal - base_ordinal - 1;
    if (i < 0 || i >= (int64_t)(sizeof in_cjson)) return;
    /* caller: the return address into the code that asked, in libcjson for cJSON's own */
    Dl_info di;
    in_cjson[i] = caller && dladdr(caller, &di) && di.dli_fname && strstr(di.dli_fname, "cjson");
    if (i + 1 > n_seen) n_seen = i + 1;
}

static int64_t tagged_now(void)
{
    fg_mem_stats s;
    fg_mem_get_stats(&s);
    return s.total_current - s.current[FG_MEM_WEIGHTS_MAPPED];
}

static void walk(reader r, const char *what)
{
    /* clean: parses; count the allocations and find cJSON's */
    fg_mem_stats before, after;
    memset(in_cjson, 0, sizeof in_cjson);
    n_seen = 0;
    fg_mem_get_stats(&before);
    base_ordinal = before.n_allocs;
    fg_mem_set_hook(record);
    fg_status st = run(r, false);
    fg_mem_set_hook(NULL);
    fg_mem_get_stats(&after);
    if (st) fail_msg("%s: the clean parse failed: %s", what, fg_last_error());
    const int64_t count = after.n_allocs - before.n_allocs;
    assert_true(count > 0 && count <= (int64_t)sizeof in_cjson);
    assert_int_equal(n_seen, count);
    int64_t n_cjson = 0;
    for (int64_t i = 0; i < count; i++) n_cjson += in_cjson[i];
    if (n_cjson == 0) fail_msg("%s: none of its %lld allocations came from cJSON (hooks not installed?)", what, (long long)count);

    /* malformed JSON is still a format error */
    st = run(r, true);
    if (st != FG_ERR_FORMAT) fail_msg("%s: malformed JSON reported as %s: %s", what, fg_status_str(st), fg_last_error());

    /* every allocation from the Nth on fails */
    int64_t nomem_in_cjson = 0;
    for (int64_t N = 1; N <= count; N++) {
        int64_t t0 = tagged_now();
        fg_mem_fail_after(N);
        st = run(r, false);
        fg_mem_fail_after(0);
        const char *msg = fg_last_error();
        if (st != FG_ERR_NOMEM)
            fail_msg("%s: allocation %lld of %lld failed (%s): reported as %s: %s", what, (long long)N, (long long)count,
                     in_cjson[N - 1] ? "inside cJSON" : "not cJSON", fg_status_str(st), msg);
        if (!strstr(msg, "memory") || strchr(msg, '\n'))
            fail_msg("%s: allocation %lld: the message does not name memory: '%s'", what, (long long)N, msg);
        if (tagged_now() != t0) fail_msg("%s: allocation %lld: %lld tagged bytes kept", what, (long long)N, (long long)(tagged_now() - t0));
        nomem_in_cjson += in_cjson[N - 1];
    }
    assert_int_equal(nomem_in_cjson, n_cjson);
    print_message("%s: %lld allocations (%lld inside cJSON), each failure reported as out of memory\n", what,
                  (long long)count, (long long)n_cjson);

    /* and without injection the same input parses again */
    assert_int_equal(run(r, false), FG_OK);
}

static void test_config(void **state) { (void)state; walk(R_CONFIG, "config.json"); }
static void test_tokenizer(void **state) { (void)state; walk(R_TOKENIZER, "tokenizer.json"); }
static void test_safetensors(void **state) { (void)state; walk(R_SAFETENSORS, "safetensors header"); }
static void test_suite(void **state) { (void)state; walk(R_SUITE, "suite file"); }

/* cJSON's memory is tagged runtime memory, returned by cJSON_Delete / cJSON_free */
static void test_cjson_tagged(void **state)
{
    (void)state;
    fg_mem_stats a, b;
    fg_mem_get_stats(&a);
    cJSON *j = cJSON_Parse(config_json);
    assert_non_null(j);
    fg_mem_get_stats(&b);
    assert_true(b.current[FG_MEM_RUNTIME] > a.current[FG_MEM_RUNTIME]);
    assert_true(b.n_allocs > a.n_allocs);
    char *txt = cJSON_PrintUnformatted(j);
    assert_non_null(txt);
    cJSON_free(txt);
    cJSON_Delete(j);
    fg_mem_get_stats(&b);
    assert_int_equal(b.current[FG_MEM_RUNTIME], a.current[FG_MEM_RUNTIME]);
    /* a parse failed by injection raises the thread's failure count; a syntax error does not */
    uint64_t f0 = fg_mem_failures();
    assert_null(cJSON_Parse("{\"a\":"));
    assert_int_equal(fg_mem_failures(), f0);
    fg_mem_fail_after(1);
    assert_null(cJSON_Parse(config_json));
    fg_mem_fail_after(0);
    assert_true(fg_mem_failures() > f0);
}

static char *tmp_dir;

static int setup(void **state)
{
    (void)state;
    tmp_dir = test_tmpdir();
    snprintf(st_path, sizeof st_path, "%s/nomem.safetensors", tmp_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(st_path);
    rmdir(tmp_dir);
    free(tmp_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cjson_tagged), cmocka_unit_test(test_config),     cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_safetensors),  cmocka_unit_test(test_suite),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
