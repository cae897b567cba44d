/* The synthetic-model generator (docs/SYNTHETIC-SPEC.md) against independent data:
 * - the spec's fingerprints (tests/data/synthetic/NAME.fingerprint.json) from the value
 *   streams and from the files written by `frugal synth` ($FG_TEST_MODELS);
 * - the qwen2-q256 GGUF against the llama.cpp-quantized copies of the reference file
 *   (tests/data/golden/qwen2-q256-TYPE.gguf.xz): F32 tensors (norms, biases) byte for byte, Q8_0
 *   weights within the quantization step, tokenizer arrays and hyperparameters equal;
 * - the llama q/k row permutation and llama3 rope factors, recomputed here;
 * - F16/BF16 rounding of every element, against a reference rounding written here;
 * - token ids and types against tokenizer.json parsed with cJSON;
 * - configs: overrides, built-in shapes (parameter counts of the real models), errors. */
#include "testutil.h"

#include "format/synth.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const configs[] = {"qwen2-tiny", "llama-tiny", "qwen3-tiny", "qwen2-q256"};

static cJSON *read_json(const char *path)
{
    size_t n;
    char *text = test_read_file(path, &n);
    assert_non_null(text);
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    assert_non_null(j);
    return j;
}

static void load_config(const char *name, fg_synth_config *c)
{
    char rel[256];
    snprintf(rel, sizeof rel, "synthetic/%s.json", name);
    fg_status s = fg_synth_config_load(test_data_path(rel), NULL, 0, c);
    if (s) fprintf(stderr, "%s\n", fg_last_error());
    assert_int_equal(s, FG_OK);
}

static bool find_tensor(const fg_synth_config *c, const char *hf_name, fg_synth_tensor *t)
{
    for (size_t i = 0; i < fg_synth_n_tensors(c); i++) {
        fg_synth_tensor_info(c, i, t);
        if (!strcmp(t->name, hf_name)) return true;
    }
    return false;
}

/* GGUF names of the fingerprinted tensors, written out here (not taken from the library). */
static const char *gguf_name_of(const char *hf)
{
    static const char *const map[][2] = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
        {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"},
        {"model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight"},
        {"model.layers.0.self_attn.v_proj.weight", "blk.0.attn_v.weight"},
        {"model.layers.0.self_attn.o_proj.weight", "blk.0.attn_output.weight"},
        {"model.layers.0.self_attn.q_proj.bias", "blk.0.attn_q.bias"},
        {"model.layers.0.self_attn.q_norm.weight", "blk.0.attn_q_norm.weight"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], hf)) return map[i][1];
    fail_msg("no GGUF name for %s", hf);
    return NULL;
}

static void check_fingerprint(const cJSON *fp, const char *what, double sum, const float *first4)
{
    double want = cJSON_GetObjectItem(fp, "sum")->valuedouble;
    if (fabs(sum - want) > 1e-9 * fmax(fabs(want), 1.0))
        fail_msg("%s: sum %.15g, fingerprint %.15g", what, sum, want);
    const cJSON *f4 = cJSON_GetObjectItem(fp, "first4");
    assert_int_equal(cJSON_GetArraySize(f4), 4);
    for (int i = 0; i < 4; i++)
        if ((double)first4[i] != cJSON_GetArrayItem(f4, i)->valuedouble)
            fail_msg("%s: first4[%d] = %.9g, fingerprint %.9g", what, i, first4[i], cJSON_GetArrayItem(f4, i)->valuedouble);
}

/* Fingerprints from the value streams themselves. */
static void test_fingerprints_values(void **state)
{
    (void)state;
    float *buf = malloc(sizeof(float) << 20);
    for (size_t k = 0; k < 4; k++) {
        fg_synth_config c;
        load_config(configs[k], &c);
        char rel[256];
        snprintf(rel, sizeof rel, "synthetic/%s.fingerprint.json", configs[k]);
        cJSON *fps = read_json(test_data_path(rel));
        assert_int_equal(cJSON_GetArraySize(fps), 6);
        const cJSON *fp;
        cJSON_ArrayForEach(fp, fps)
        {
            fg_synth_tensor t;
            assert_true(find_tensor(&c, fp->string, &t));
            uint64_t n = (uint64_t)t.rows * (uint64_t)t.cols;
            double sum = 0;
            float first4[4];
            for (uint64_t at = 0; at < n; at += 1u << 20) {
                size_t m = n - at < (1u << 20) ? (size_t)(n - at) : (1u << 20);
                fg_synth_values(&t, at, m, buf);
                if (at == 0) memcpy(first4, buf, sizeof first4);
                for (size_t i = 0; i < m; i++) sum += buf[i];
            }
            /* random access: element 1000 alone equals element 1000 of the stream */
            float one, run[1001];
            fg_synth_values(&t, 1000, 1, &one);
            fg_synth_values(&t, 0, 1001, run);
            assert_true(one == run[1000]);
            check_fingerprint(fp, fp->string, sum, first4);
        }
        cJSON_Delete(fps);
    }
    free(buf);
}

/* Fingerprints from the written files: the HF safetensors and the F32 GGUF. */
static void test_fingerprints_files(void **state)
{
    (void)state;
    for (size_t k = 0; k < 4; k++) {
        char rel[256];
        snprintf(rel, sizeof rel, "synthetic/%s.fingerprint.json", configs[k]);
        cJSON *fps = read_json(test_data_path(rel));
        snprintf(rel, sizeof rel, "%s-hf", configs[k]);
        fg_safetensors *st;
        assert_int_equal(fg_st_open(test_model_path(rel), &st), FG_OK);
        snprintf(rel, sizeof rel, "%s-f32.gguf", configs[k]);
        fg_gguf *g;
        assert_int_equal(fg_gguf_open(test_model_path(rel), &g), FG_OK);
        const cJSON *fp;
        cJSON_ArrayForEach(fp, fps)
        {
            const fg_st_tensor *t = fg_st_find(st, fp->string);
            assert_non_null(t);
            assert_int_equal(t->dtype, FG_DT_F32);
            const float *v = t->data;
            uint64_t n = t->nbytes / 4;
            double sum = 0;
            for (uint64_t i = 0; i < n; i++) sum += v[i];
            check_fingerprint(fp, fp->string, sum, v);

            /* GGUF: a row permutation (llama q/k) keeps the sum and row 0 */
            const fg_gguf_tensor *gt = fg_gguf_find_tensor(g, gguf_name_of(fp->string));
            assert_non_null(gt);
            assert_int_equal(gt->dtype, FG_DT_F32);
            assert_int_equal(gt->nbytes, t->nbytes);
            const float *gv = gt->data;
            sum = 0;
            for (uint64_t i = 0; i < n; i++) sum += gv[i];
            check_fingerprint(fp, gt->name.ptr, sum, gv);
        }
        fg_gguf_close(g);
        fg_st_close(st);
        cJSON_Delete(fps);
    }
}

/* Whole-model round trip: every tensor of every generated F32 GGUF and HF file equals
 * the value streams (GGUF in its own layout), with the shapes the spec gives. */
static void test_roundtrip_all_tensors(void **state)
{
    (void)state;
    float *buf = malloc(sizeof(float) << 20);
    for (size_t k = 0; k < 4; k++) {
        fg_synth_config c;
        load_config(configs[k], &c);
        char rel[256];
        snprintf(rel, sizeof rel, "%s-f32.gguf", configs[k]);
        fg_gguf *g;
        assert_int_equal(fg_gguf_open(test_model_path(rel), &g), FG_OK);
        snprintf(rel, sizeof rel, "%s-hf", configs[k]);
        fg_safetensors *st;
        assert_int_equal(fg_st_open(test_model_path(rel), &st), FG_OK);
        size_t nt = fg_synth_n_tensors(&c);
        assert_int_equal(st->n_tensors, nt);
        assert_int_equal(g->n_tensors, nt + (c.hf.rope_llama3 ? 1 : 0));
        for (size_t i = 0; i < nt; i++) {
            fg_synth_tensor t;
            fg_synth_tensor_info(&c, i, &t);
            const fg_gguf_tensor *gt = fg_gguf_find_tensor(g, t.gguf_name);
            const fg_st_tensor *ht = fg_st_find(st, t.name);
            assert_non_null(gt);
            assert_non_null(ht);
            assert_int_equal(gt->n_dims, t.n_dims);
            assert_int_equal(ht->n_dims, t.n_dims);
            assert_int_equal(gt->ne[0], t.cols);               /* GGUF ne reversed */
            assert_int_equal(ht->shape[t.n_dims - 1], t.cols);
            if (t.n_dims == 2) {
                assert_int_equal(gt->ne[1], t.rows);
                assert_int_equal(ht->shape[0], t.rows);
            }
            int64_t rows_per = (1 << 20) / t.cols;
            for (int64_t r = 0; r < t.rows; r += rows_per) {
                int64_t nr = t.rows - r < rows_per ? t.rows - r : rows_per;
                size_t bytes = (size_t)(nr * t.cols) * 4;
                fg_synth_gguf_rows(&t, r, nr, buf);
                assert_memory_equal((const char *)gt->data + (size_t)(r * t.cols) * 4, buf, bytes);
                fg_synth_values(&t, (uint64_t)(r * t.cols), (size_t)(nr * t.cols), buf);
                assert_memory_equal((const char *)ht->data + (size_t)(r * t.cols) * 4, buf, bytes);
            }
        }
        fg_st_close(st);
        fg_gguf_close(g);
    }
    free(buf);
}

static uint64_t kv_u64(const fg_gguf *g, const char *key)
{
    uint64_t v;
    if (!fg_gguf_get_u64(g, key, &v)) fail_msg("missing %s", key);
    return v;
}

/* GGUF metadata against the config JSON and tokenizer.json, read here with cJSON. */
static void test_gguf_metadata(void **state)
{
    (void)state;
    const char *models[] = {"qwen2-tiny", "llama-tiny", "qwen3-tiny"};
    const char *archs[] = {"qwen2", "llama", "qwen3"};
    cJSON *tok = read_json(test_model_path("qwen-tokenizer/tokenizer.json"));
    cJSON *vocab = cJSON_GetObjectItem(cJSON_GetObjectItem(tok, "model"), "vocab");
    cJSON *added = cJSON_GetObjectItem(tok, "added_tokens");
    int n_merges_json = cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(tok, "model"), "merges"));
    for (int m = 0; m < 3; m++) {
        char rel[256];
        snprintf(rel, sizeof rel, "synthetic/%s.json", models[m]);
        cJSON *cfg = read_json(test_data_path(rel));
        snprintf(rel, sizeof rel, "%s-f32.gguf", models[m]);
        fg_gguf *g;
        assert_int_equal(fg_gguf_open(test_model_path(rel), &g), FG_OK);
        fg_str s;
        assert_true(fg_gguf_get_str(g, "general.architecture", &s) && fg_str_eq(s, archs[m]));
        assert_true(fg_gguf_get_str(g, "general.name", &s) && fg_str_eq(s, models[m]));
        assert_int_equal(kv_u64(g, "general.file_type"), 0);
        char k[128];
#define K(suffix) (snprintf(k, sizeof k, "%s.%s", archs[m], suffix), k)
#define CFG(name) ((uint64_t)cJSON_GetObjectItem(cfg, name)->valuedouble)
        assert_int_equal(kv_u64(g, K("embedding_length")), CFG("hidden_size"));
        assert_int_equal(kv_u64(g, K("feed_forward_length")), CFG("intermediate_size"));
        assert_int_equal(kv_u64(g, K("block_count")), CFG("num_hidden_layers"));
        assert_int_equal(kv_u64(g, K("attention.head_count")), CFG("num_attention_heads"));
        assert_int_equal(kv_u64(g, K("attention.head_count_kv")), CFG("num_key_value_heads"));
        assert_int_equal(kv_u64(g, K("context_length")), CFG("max_position_embeddings"));
        uint64_t hd = cJSON_GetObjectItem(cfg, "head_dim") ? CFG("head_dim") : CFG("hidden_size") / CFG("num_attention_heads");
        assert_int_equal(kv_u64(g, K("attention.key_length")), hd);
        assert_int_equal(kv_u64(g, K("attention.value_length")), hd);
        double d;
        assert_true(fg_gguf_get_f64(g, K("rope.freq_base"), &d));
        assert_true(d == (double)(float)cJSON_GetObjectItem(cfg, "rope_theta")->valuedouble);
        assert_true(fg_gguf_get_f64(g, K("attention.layer_norm_rms_epsilon"), &d));
        assert_true(d == (double)(float)cJSON_GetObjectItem(cfg, "rms_norm_eps")->valuedouble);
        assert_int_equal(kv_u64(g, "tokenizer.ggml.bos_token_id"), CFG("bos_token_id"));
        assert_int_equal(kv_u64(g, "tokenizer.ggml.eos_token_id"), CFG("eos_token_id"));
        /* tokenizer_config.json's pad_token is <|endoftext|> */
        assert_int_equal(kv_u64(g, "tokenizer.ggml.padding_token_id"),
                         (uint64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(added, 0), "id")->valuedouble);
        bool b;
        assert_true(fg_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) && !b);
        assert_true(fg_gguf_get_str(g, "tokenizer.ggml.model", &s) && fg_str_eq(s, "gpt2"));
        assert_true(fg_gguf_get_str(g, "tokenizer.ggml.pre", &s) && fg_str_eq(s, "qwen2"));
        assert_true(fg_gguf_get_str(g, "tokenizer.chat_template", &s) && s.len > 100);
#undef K
#undef CFG
        /* tokens: one per embedding row; vocab ids, added tokens, then [PAD<id>] */
        const fg_gguf_kv *tk = fg_gguf_find(g, "tokenizer.ggml.tokens");
        const fg_gguf_kv *ty = fg_gguf_find(g, "tokenizer.ggml.token_type");
        assert_non_null(tk);
        assert_non_null(ty);
        uint64_t nv = (uint64_t)cJSON_GetObjectItem(cfg, "vocab_size")->valuedouble;
        assert_int_equal(tk->arr_n, nv);
        assert_int_equal(ty->arr_n, nv);
        assert_int_equal(ty->arr_type, FG_GGUF_I32);
        char **want = calloc(nv, sizeof *want);
        int *want_type = calloc(nv, sizeof *want_type);
        const cJSON *e;
        cJSON_ArrayForEach(e, vocab)
        {
            want[(size_t)e->valuedouble] = e->string;
            want_type[(size_t)e->valuedouble] = 1;
        }
        cJSON_ArrayForEach(e, added)
        {
            size_t id = (size_t)cJSON_GetObjectItem(e, "id")->valuedouble;
            want[id] = cJSON_GetObjectItem(e, "content")->valuestring;
            /* llama.cpp: special -> CONTROL; not special but <|...|> -> CONTROL; else USER_DEFINED */
            bool special = cJSON_IsTrue(cJSON_GetObjectItem(e, "special"));
            size_t L = strlen(want[id]);
            bool looks = L >= 4 && !strncmp(want[id], "<|", 2) && !strcmp(want[id] + L - 2, "|>");
            want_type[id] = special || looks ? 3 : 4;
        }
        fg_gguf_str_iter it;
        fg_gguf_str_iter_init(g, tk, &it);
        for (uint64_t id = 0; id < nv; id++) {
            assert_true(fg_gguf_str_iter_next(&it, &s));
            int64_t t;
            assert_true(fg_gguf_arr_i64(ty, id, &t));
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%llu]", (unsigned long long)id);
            const char *w = want[id] ? want[id] : pad;
            if (!fg_str_eq(s, w)) fail_msg("token %llu: '%.*s', want '%s'", (unsigned long long)id, (int)s.len, s.ptr, w);
            if (t != (want[id] ? want_type[id] : 5)) fail_msg("token %llu type %lld", (unsigned long long)id, (long long)t);
        }
        free(want);
        free(want_type);
        const fg_gguf_kv *mg = fg_gguf_find(g, "tokenizer.ggml.merges");
        assert_non_null(mg);
        assert_int_equal(mg->arr_n, (uint64_t)n_merges_json);
        fg_gguf_str_iter_init(g, mg, &it);
        assert_true(fg_gguf_str_iter_next(&it, &s) && fg_str_eq(s, "\xc4\xa0 \xc4\xa0")); /* "Ġ Ġ" */
        fg_gguf_close(g);
        cJSON_Delete(cfg);
    }
    cJSON_Delete(tok);
}

/* llama: GGUF q/k rows are HF rows permuted per head to interleaved pairs; v and the
 * rest are not; rope_freqs holds the llama3 divisors. */
static void test_llama_permutation_and_rope(void **state)
{
    (void)state;
    fg_gguf *g;
    assert_int_equal(fg_gguf_open(test_model_path("llama-tiny-f32.gguf"), &g), FG_OK);
    fg_safetensors *st;
    assert_int_equal(fg_st_open(test_model_path("llama-tiny-hf"), &st), FG_OK);
    const struct { const char *hf, *gg; int heads; } qk[] = {
        {"model.layers.1.self_attn.q_proj.weight", "blk.1.attn_q.weight", 4},
        {"model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight", 2},
        {"model.layers.0.self_attn.v_proj.weight", "blk.0.attn_v.weight", 0},
    };
    const int hd = 16, cols = 64;
    for (int k = 0; k < 3; k++) {
        const fg_st_tensor *h = fg_st_find(st, qk[k].hf);
        const fg_gguf_tensor *t = fg_gguf_find_tensor(g, qk[k].gg);
        assert_non_null(h);
        assert_non_null(t);
        const float *hv = h->data, *gv = t->data;
        int64_t rows = (int64_t)h->shape[0];
        assert_int_equal(rows, (qk[k].heads ? qk[k].heads : 2) * hd);
        for (int64_t r = 0; r < rows; r++) {
            int64_t src = r;
            if (qk[k].heads) {
                int64_t head = r / hd, i = r % hd;
                /* GGUF row 2j takes HF row j, row 2j+1 takes HF row hd/2 + j */
                src = head * hd + (i % 2 == 0 ? i / 2 : hd / 2 + i / 2);
            }
            assert_memory_equal(gv + r * cols, hv + src * cols, cols * sizeof(float));
        }
        if (qk[k].heads) assert_memory_not_equal(gv + cols, hv + cols, cols * sizeof(float));
    }
    /* rope_freqs: theta 500000, head_dim 16, factor 32, low 1, high 4, original 8192.
     * wavelen_i = 2 pi theta^(2i/16): i = 0..3 below 8192/4 -> 1; i = 5..7 above 8192 -> 32;
     * i = 4: wavelen = 2 pi * 500000^0.5 = 4442.88..., smooth = (8192/wavelen - 1)/3,
     * factor = 1 / ((1 - smooth)/32 + smooth). */
    const fg_gguf_tensor *rf = fg_gguf_find_tensor(g, "rope_freqs.weight");
    assert_non_null(rf);
    assert_int_equal(rf->n_dims, 1);
    assert_int_equal(rf->ne[0], 8);
    assert_int_equal(rf->dtype, FG_DT_F32);
    const float *f = rf->data;
    double wl = 2 * M_PI * sqrt(500000.0), smooth = (8192 / wl - 1) / 3;
    double mid = 1 / ((1 - smooth) / 32 + smooth);
    assert_true(fabs(mid - 3.29226) < 1e-5);
    const double want[8] = {1, 1, 1, 1, mid, 32, 32, 32};
    for (int i = 0; i < 8; i++) assert_true(fabs(f[i] - want[i]) <= 1e-6 * want[i]);
    assert_int_equal(kv_u64(g, "llama.rope.dimension_count"), 16);
    fg_st_close(st);
    fg_gguf_close(g);
}

/* ---- F16 / BF16 -------------------------------------------------------------------------- */

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

/* Reference bfloat16 rounding: pick the nearer of the two bf16 neighbours in double
 * arithmetic, ties to the even one. */
static uint16_t bf16_ref(float x)
{
    uint32_t lo = bits(x) & 0xffff0000u;
    uint32_t hi = lo + 0x10000u;   /* next magnitude up (may carry into the exponent: correct) */
    double dlo = fabs((double)x - (double)from_bits(lo)), dhi = fabs((double)from_bits(hi) - (double)x);
    if (dlo < dhi || (dlo == dhi && !((lo >> 16) & 1))) return (uint16_t)(lo >> 16);
    return (uint16_t)(hi >> 16);
}

static double half_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Reference IEEE half rounding: binary search over all finite halves, nearest, ties to
 * the even code; beyond 65504 + half an ulp: infinity. */
static uint16_t f16_ref(float x)
{
    double a = fabs((double)x);
    uint16_t sign = (bits(x) >> 16) & 0x8000;
    if (a >= 65520.0) return sign | 0x7c00;
    int lo = 0, hi = 0x7bff;   /* half_value(lo) <= a < half_value(hi), or a == max */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (half_value((uint16_t)mid) <= a) lo = mid; else hi = mid;
    }
    if (half_value((uint16_t)hi) <= a) lo = hi;
    double dlo = a - half_value((uint16_t)lo);
    double dhi = lo < 0x7bff ? half_value((uint16_t)(lo + 1)) - a : INFINITY;
    int pick = (dlo < dhi || (dlo == dhi && !(lo & 1))) ? lo : lo + 1;
    return sign | (uint16_t)pick;
}

static void test_rounding_known_values(void **state)
{
    (void)state;
    /* bfloat16: top 16 bits, round to nearest even */
    assert_int_equal(fg_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(fg_f32_to_bf16(from_bits(0x3f808000)), 0x3f80);   /* tie, even below */
    assert_int_equal(fg_f32_to_bf16(from_bits(0x3f818000)), 0x3f82);   /* tie, odd below: up */
    assert_int_equal(fg_f32_to_bf16(from_bits(0x3f808001)), 0x3f81);
    assert_int_equal(fg_f32_to_bf16(from_bits(0x3f807fff)), 0x3f80);
    assert_int_equal(fg_f32_to_bf16(-2.0f), 0xc000);
    assert_int_equal(fg_f32_to_bf16(from_bits(0x7f7fffff)), 0x7f80);   /* FLT_MAX rounds to inf */
    assert_true((fg_f32_to_bf16(NAN) & 0x7fff) > 0x7f80);               /* NaN stays NaN */
    /* IEEE half */
    assert_int_equal(fg_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(fg_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(fg_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(fg_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(fg_f32_to_f16(65520.0f), 0x7c00);                  /* tie to even: inf */
    assert_int_equal(fg_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);           /* tie, even below */
    assert_int_equal(fg_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);       /* tie, odd below: up */
    assert_int_equal(fg_f32_to_f16(0x1p-24f), 0x0001);                  /* smallest subnormal */
    assert_int_equal(fg_f32_to_f16(0x1p-25f), 0x0000);                  /* tie with zero: even */
    assert_int_equal(fg_f32_to_f16(1.5f * 0x1p-24f), 0x0002);
    assert_int_equal(fg_f32_to_f16(2.5f * 0x1p-24f), 0x0002);
    assert_int_equal(fg_f32_to_f16(0x1p-14f), 0x0400);                  /* smallest normal */
    assert_int_equal(fg_f32_to_f16(0.1f), 0x2e66);
    /* the references agree with themselves on these */
    assert_int_equal(f16_ref(0.1f), 0x2e66);
    assert_int_equal(f16_ref(65520.0f), 0x7c00);
    assert_int_equal(f16_ref(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(bf16_ref(from_bits(0x3f818000)), 0x3f82);
}

/* Every element of the F16/BF16 files equals the reference rounding of the F32 value;
 * 1-D tensors (norms, biases) stay F32 in GGUF. */
static void test_f16_bf16_files(void **state)
{
    (void)state;
    fg_synth_config c;
    load_config("qwen2-q256", &c);
    const char *files[2] = {"qwen2-q256-f16.gguf", "qwen2-q256-bf16.gguf"};
    float *buf = malloc(sizeof(float) << 20);
    for (int k = 0; k < 2; k++) {
        fg_gguf *g;
        assert_int_equal(fg_gguf_open(test_model_path(files[k]), &g), FG_OK);
        assert_int_equal(kv_u64(g, "general.file_type"), k == 0 ? 1 : 32);
        for (size_t i = 0; i < fg_synth_n_tensors(&c); i++) {
            fg_synth_tensor t;
            fg_synth_tensor_info(&c, i, &t);
            const fg_gguf_tensor *gt = fg_gguf_find_tensor(g, t.gguf_name);
            assert_non_null(gt);
            size_t n = (size_t)(t.rows * t.cols);
            assert_true(n <= (1u << 20));
            fg_synth_gguf_rows(&t, 0, t.rows, buf);
            if (t.n_dims == 1) {
                assert_int_equal(gt->dtype, FG_DT_F32);
                assert_memory_equal(gt->data, buf, n * 4);
                continue;
            }
            assert_int_equal(gt->dtype, k == 0 ? FG_DT_F16 : FG_DT_BF16);
            const uint16_t *h = gt->data;
            for (size_t e = 0; e < n; e++) {
                uint16_t want = k == 0 ? f16_ref(buf[e]) : bf16_ref(buf[e]);
                if (h[e] != want) fail_msg("%s %s[%zu]: 0x%04x, want 0x%04x", files[k], t.gguf_name, e, h[e], want);
            }
        }
        fg_gguf_close(g);
    }
    /* the HF BF16 directory: every tensor BF16, torch_dtype bfloat16 */
    fg_synth_config t2;
    load_config("qwen2-tiny", &t2);
    fg_safetensors *st;
    assert_int_equal(fg_st_open(test_model_path("qwen2-tiny-hf-bf16"), &st), FG_OK);
    for (size_t i = 0; i < fg_synth_n_tensors(&t2); i++) {
        fg_synth_tensor t;
        fg_synth_tensor_info(&t2, i, &t);
        const fg_st_tensor *ht = fg_st_find(st, t.name);
        assert_non_null(ht);
        assert_int_equal(ht->dtype, FG_DT_BF16);
        uint64_t n = (uint64_t)t.rows * (uint64_t)t.cols;
        const uint16_t *h = ht->data;
        for (uint64_t at = 0; at < n; at += 1u << 20) {
            size_t m = n - at < (1u << 20) ? (size_t)(n - at) : (1u << 20);
            fg_synth_values(&t, at, m, buf);
            for (size_t e = 0; e < m; e++)
                if (h[at + e] != bf16_ref(buf[e])) fail_msg("%s[%llu]", t.name, (unsigned long long)(at + e));
        }
    }
    fg_st_close(st);
    cJSON *cfg = read_json(test_model_path("qwen2-tiny-hf-bf16/config.json"));
    assert_string_equal(cJSON_GetObjectItem(cfg, "torch_dtype")->valuestring, "bfloat16");
    cJSON_Delete(cfg);
    free(buf);
}

/* ---- against llama.cpp's quantized copies of the reference q256 file ----------------------- */

static void test_against_llamacpp_quantized(void **state)
{
    (void)state;
    const char *quant[] = {"q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"};
    fg_gguf *ours;
    assert_int_equal(fg_gguf_open(test_model_path("qwen2-q256-f32.gguf"), &ours), FG_OK);
    for (size_t q = 0; q < sizeof quant / sizeof quant[0]; q++) {
        char rel[128];
        snprintf(rel, sizeof rel, "qwen2-q256-%s.gguf", quant[q]);
        fg_gguf *ref;
        assert_int_equal(fg_gguf_open(test_model_path(rel), &ref), FG_OK);
        assert_int_equal(ref->n_tensors, ours->n_tensors);
        int n_f32 = 0, n_q8 = 0;
        for (uint64_t i = 0; i < ref->n_tensors; i++) {
            const fg_gguf_tensor *r = &ref->tensors[i];
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)r->name.len, r->name.ptr);
            const fg_gguf_tensor *o = fg_gguf_find_tensor(ours, name);
            assert_non_null(o);
            assert_int_equal(o->n_dims, r->n_dims);
            for (uint32_t d = 0; d < r->n_dims; d++) assert_int_equal(o->ne[d], r->ne[d]);
            if (r->ggml_type == 0) {   /* F32 kept by the quantizer: norms and biases */
                assert_int_equal(o->nbytes, r->nbytes);
                assert_memory_equal(o->data, r->data, r->nbytes);
                n_f32++;
            } else if (r->ggml_type == 8) {
                /* Q8_0 blocks: f16 d, 32 x int8; x = q * d within the rounding step */
                const uint8_t *b = r->data;
                const float *x = o->data;
                uint64_t n = o->nbytes / 4;
                for (uint64_t blk = 0; blk < n / 32; blk++, b += 34) {
                    uint16_t dh = (uint16_t)(b[0] | b[1] << 8);
                    double d = half_value(dh);
                    for (int e = 0; e < 32; e++) {
                        double dq = (int8_t)b[2 + e] * d;
                        if (fabs(dq - x[blk * 32 + e]) > 0.6 * d + 1e-9)
                            fail_msg("%s block %llu elem %d: %g vs %g (d %g)", name, (unsigned long long)blk, e,
                                     x[blk * 32 + e], dq, d);
                    }
                }
                n_q8++;
            }
        }
        assert_int_equal(n_f32, 11);   /* 2 layers x (2 norms + 3 biases) + output_norm */
        if (q == 0) assert_int_equal(n_q8, 15);
        /* the tokenizer and hyperparameters the quantizer carried over from the reference */
        const char *arrays[] = {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"};
        for (int a = 0; a < 2; a++) {
            const fg_gguf_kv *ka = fg_gguf_find(ref, arrays[a]), *kb = fg_gguf_find(ours, arrays[a]);
            assert_true(ka && kb && ka->arr_n == kb->arr_n);
            fg_gguf_str_iter ia, ib;
            fg_gguf_str_iter_init(ref, ka, &ia);
            fg_gguf_str_iter_init(ours, kb, &ib);
            fg_str sa, sb;
            while (fg_gguf_str_iter_next(&ia, &sa)) {
                assert_true(fg_gguf_str_iter_next(&ib, &sb));
                assert_true(sa.len == sb.len && !memcmp(sa.ptr, sb.ptr, sa.len));
            }
        }
        const char *ints[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                              "tokenizer.ggml.padding_token_id", "qwen2.context_length", "qwen2.embedding_length",
                              "qwen2.feed_forward_length", "qwen2.block_count", "qwen2.attention.head_count",
                              "qwen2.attention.head_count_kv", "qwen2.attention.key_length"};
        for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
            assert_int_equal(kv_u64(ref, ints[k]), kv_u64(ours, ints[k]));
        const fg_gguf_kv *ta = fg_gguf_find(ref, "tokenizer.ggml.token_type"), *tb = fg_gguf_find(ours, "tokenizer.ggml.token_type");
        assert_true(ta && tb && ta->arr_n == tb->arr_n && ta->arr_type == tb->arr_type);
        assert_memory_equal(ta->value, tb->value, ta->arr_n * 4);
        double fa, fb;
        assert_true(fg_gguf_get_f64(ref, "qwen2.rope.freq_base", &fa) && fg_gguf_get_f64(ours, "qwen2.rope.freq_base", &fb));
        assert_true(fa == fb);
        fg_gguf_close(ref);
    }
    fg_gguf_close(ours);
}

/* The cut HF tokenizer: the vocabulary and merges of the reference GGUF (as carried into
 * llama.cpp's quantized file), no added tokens, every other section unchanged. */
static void test_hf_tokenizer_cut(void **state)
{
    (void)state;
    cJSON *cut = read_json(test_model_path("qwen2-q256-hf/tokenizer.json"));
    cJSON *orig = read_json(test_model_path("qwen-tokenizer/tokenizer.json"));
    fg_gguf *ref;
    assert_int_equal(fg_gguf_open(test_model_path("qwen2-q256-q8_0.gguf"), &ref), FG_OK);
    const cJSON *model = cJSON_GetObjectItem(cut, "model");
    const cJSON *vocab = cJSON_GetObjectItem(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItem(model, "merges");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cut, "added_tokens")), 0);
    const fg_gguf_kv *tk = fg_gguf_find(ref, "tokenizer.ggml.tokens");
    const fg_gguf_kv *mk = fg_gguf_find(ref, "tokenizer.ggml.merges");
    assert_int_equal(cJSON_GetArraySize(vocab), (int)tk->arr_n);
    assert_int_equal(cJSON_GetArraySize(merges), (int)mk->arr_n);
    fg_gguf_str_iter it;
    fg_str s;
    fg_gguf_str_iter_init(ref, tk, &it);
    const cJSON *e = vocab->child;
    for (int id = 0; fg_gguf_str_iter_next(&it, &s); id++, e = e->next) {
        assert_non_null(e);
        assert_true(fg_str_eq(s, e->string));
        assert_int_equal((int)e->valuedouble, id);
    }
    fg_gguf_str_iter_init(ref, mk, &it);
    e = merges->child;
    while (fg_gguf_str_iter_next(&it, &s)) {
        char m[256];
        assert_true(cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2);   /* pairs, like the input */
        snprintf(m, sizeof m, "%s %s", cJSON_GetArrayItem(e, 0)->valuestring, cJSON_GetArrayItem(e, 1)->valuestring);
        assert_true(fg_str_eq(s, m));
        e = e->next;
    }
    const char *same[] = {"normalizer", "pre_tokenizer", "post_processor", "decoder", "version"};
    for (int k = 0; k < 5; k++)
        assert_true(cJSON_Compare(cJSON_GetObjectItem(cut, same[k]), cJSON_GetObjectItem(orig, same[k]), true));
    assert_true(cJSON_Compare(cJSON_GetObjectItem(model, "type"),
                              cJSON_GetObjectItem(cJSON_GetObjectItem(orig, "model"), "type"), true));
    cJSON *tc = read_json(test_model_path("qwen2-q256-hf/tokenizer_config.json"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(tc, "added_tokens_decoder")), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(tc, "eos_token")));   /* <|im_end|> was cut */
    assert_true(cJSON_IsString(cJSON_GetObjectItem(tc, "chat_template")));
    cJSON_Delete(tc);
    fg_gguf_close(ref);
    cJSON_Delete(orig);
    cJSON_Delete(cut);
}

/* ---- configs --------------------------------------------------------------------------- */

static uint64_t n_params(const fg_synth_config *c)
{
    uint64_t n = 0;
    fg_synth_tensor t;
    for (size_t i = 0; i < fg_synth_n_tensors(c); i++) {
        fg_synth_tensor_info(c, i, &t);
        n += (uint64_t)t.rows * (uint64_t)t.cols;
    }
    return n;
}

static void test_configs(void **state)
{
    (void)state;
    fg_synth_config c;
    /* built-in shapes: the published parameter counts of the real models */
    assert_int_equal(fg_synth_config_load("qwen2.5-0.5b", NULL, 0, &c), FG_OK);
    assert_int_equal(n_params(&c), 494032768ull);
    assert_int_equal(fg_synth_n_tensors(&c), 2 + 24 * 12);
    assert_int_equal(c.seed, 0);
    assert_int_equal(fg_synth_config_load("llama-3.2-1b", NULL, 0, &c), FG_OK);
    assert_int_equal(n_params(&c), 1235814400ull);
    assert_true(c.hf.rope_llama3);
    assert_int_equal(fg_synth_config_load("qwen2.5-1.5b", NULL, 0, &c), FG_OK);
    assert_int_equal(n_params(&c), 1543714304ull);
    assert_int_equal(fg_synth_config_load("qwen3-0.6b", NULL, 0, &c), FG_OK);
    assert_int_equal(c.hf.head_dim, 128);
    assert_true(c.head_dim_given);
    fg_synth_tensor t;
    assert_true(find_tensor(&c, "model.layers.0.self_attn.q_proj.weight", &t));
    assert_int_equal(t.rows, 16 * 128);   /* wider than hidden 1024 */
    assert_int_equal(t.cols, 1024);
    assert_true(find_tensor(&c, "model.layers.0.self_attn.o_proj.weight", &t));
    assert_true(t.scale == (float)sqrt(3.0 / 2048));
    assert_int_equal(fg_synth_config_load("qwen2.5-3b", NULL, 0, &c), FG_OK);

    /* overrides */
    const char *sets[] = {"num_hidden_layers=1", "seed=18446744073709551615", "rope_scaling.factor=16",
                          "name=small", "tie_word_embeddings=false"};
    assert_int_equal(fg_synth_config_load("llama-3.2-1b", sets, 5, &c), FG_OK);
    assert_int_equal(c.hf.n_layers, 1);
    assert_true(c.seed == 18446744073709551615ull);
    assert_true(c.hf.rope_factor == 16.0);
    assert_string_equal(c.name, "small");
    assert_false(c.hf.tie_word_embeddings);
    assert_int_equal(fg_synth_n_tensors(&c), 2 + 9 + 1);
    assert_true(find_tensor(&c, "model.layers.0.self_attn.q_proj.weight", &t));
    assert_true(t.state0 == (18446744073709551615ull ^ fg_synth_fnv1a64(t.name, strlen(t.name))));
    /* FNV-1a 64 of "a" (the published test vector) */
    assert_true(fg_synth_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);
    assert_true(fg_synth_fnv1a64("", 0) == 0xcbf29ce484222325ull);

    /* errors name the field */
    const char *bad[] = {
        "{\"architecture\":\"qwen2\"}",
        "{\"name\":\"x\",\"architecture\":\"gpt9\",\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":2,\"vocab_size\":16,\"seed\":1}",
        "{\"name\":\"x\",\"architecture\":\"qwen2\",\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":2,\"vocab_size\":16}",
        "{\"name\":\"x\",\"architecture\":\"qwen2\",\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":2,\"vocab_size\":16,\"seed\":1,\"vocab_cut\":17}",
        "{\"name\":\"x\",\"architecture\":\"qwen2\",\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":2,\"vocab_size\":16,\"seed\":-1}",
        "[1, 2]",
        "{not json",
    };
    const char *mention[] = {"hidden_size", "gpt9", "seed", "vocab_cut", "seed", "object", "JSON"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fg_status s = fg_synth_config_parse(bad[i], strlen(bad[i]), "cfg", NULL, 0, &c);
        assert_int_not_equal(s, FG_OK);
        if (!strstr(fg_last_error(), mention[i])) fail_msg("error '%s' does not mention %s", fg_last_error(), mention[i]);
    }
    const char *badset[] = {"noequals"};
    assert_int_not_equal(fg_synth_config_load("qwen2.5-0.5b", badset, 1, &c), FG_OK);
    const char *badset2[] = {"seed=-3"};
    assert_int_not_equal(fg_synth_config_load("qwen2.5-0.5b", badset2, 1, &c), FG_OK);
    assert_int_equal(fg_synth_config_load("/no/such/config.json", NULL, 0, &c), FG_ERR_IO);
}

/* Writing errors: a tokenizer larger than the embedding, an unwritable output, a
 * failure leaves nothing behind. */
static void test_write_errors(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char out[1024], tok[1024];
    snprintf(tok, sizeof tok, "%s", test_model_path("qwen-tokenizer"));
    fg_synth_config c;
    const char *sets[] = {"vocab_size=1000"};
    assert_int_equal(fg_synth_config_load(test_data_path("synthetic/qwen2-tiny.json"), sets, 1, &c), FG_ERR_FORMAT);
    const char *sets2[] = {"vocab_size=152000", "num_hidden_layers=1", "hidden_size=32", "intermediate_size=32"};
    assert_int_equal(fg_synth_config_load(test_data_path("synthetic/qwen2-tiny.json"), sets2, 4, &c), FG_OK);
    snprintf(out, sizeof out, "%s/ok.gguf", dir);
    assert_int_equal(fg_synth_write_model(&c, out, FG_SYNTH_GGUF, FG_DT_F16, tok, NULL, NULL), FG_OK);
    fg_gguf *g;
    assert_int_equal(fg_gguf_open(out, &g), FG_OK);
    assert_int_equal(fg_gguf_find(g, "tokenizer.ggml.tokens")->arr_n, 152000);
    fg_gguf_close(g);
    unlink(out);

    const char *sets3[] = {"vocab_size=151000", "num_hidden_layers=1", "bos_token_id=0", "eos_token_id=0"};
    assert_int_equal(fg_synth_config_load(test_data_path("synthetic/qwen2-tiny.json"), sets3, 4, &c), FG_OK);
    assert_int_equal(fg_synth_write_model(&c, out, FG_SYNTH_GGUF, FG_DT_F32, tok, NULL, NULL), FG_ERR_ARG);
    assert_non_null(strstr(fg_last_error(), "vocab_cut"));
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0);

    load_config("qwen2-q256", &c);
    snprintf(out, sizeof out, "%s/missing/dir/m.gguf", dir);
    assert_int_equal(fg_synth_write_model(&c, out, FG_SYNTH_GGUF, FG_DT_F32, tok, NULL, NULL), FG_ERR_IO);
    snprintf(out, sizeof out, "%s/missing/hf", dir);
    assert_int_equal(fg_synth_write_model(&c, out, FG_SYNTH_HF, FG_DT_F32, tok, NULL, NULL), FG_ERR_IO);
    assert_int_equal(fg_synth_write_model(&c, out, FG_SYNTH_GGUF, FG_DT_Q8_0, tok, NULL, NULL), FG_ERR_ARG);
    /* a tokenizer directory without tokenizer.json */
    snprintf(out, sizeof out, "%s/m.gguf", dir);
    assert_int_equal(fg_synth_write_model(&c, out, FG_SYNTH_GGUF, FG_DT_F32, dir, NULL, NULL), FG_ERR_IO);
    assert_int_not_equal(stat(out, &st), 0);
    /* HF without a tokenizer: config.json and model.safetensors only */
    snprintf(out, sizeof out, "%s/hf", dir);
    assert_int_equal(fg_synth_write_model(&c, out, FG_SYNTH_HF, FG_DT_F32, NULL, NULL, NULL), FG_OK);
    assert_int_equal(stat(out, &st), 0);
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", out);
    assert_int_equal(stat(p, &st), 0);
    snprintf(p, sizeof p, "%s/tokenizer.json", out);
    assert_int_not_equal(stat(p, &st), 0);   /* no tokenizer asked for */
    snprintf(p, sizeof p, "%s/config.json", out);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", out);
    unlink(p);
    rmdir(out);
    rmdir(dir);
    free(dir);
}

static void progress_cb(uint64_t done, uint64_t total, void *user)
{
    uint64_t *last = user;
    assert_true(done >= last[0] && done <= total);
    last[0] = done;
    last[1] = total;
}

/* A full-size shape streams: the 0.5B shape's first layer only, but its real vocabulary
 * (a 151936 x 896 embedding, larger than any chunk), checked at a few random rows. */
static void test_streaming_large_tensor(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char out[1024];
    snprintf(out, sizeof out, "%s/big.gguf", dir);
    fg_synth_config c;
    const char *sets[] = {"num_hidden_layers=1"};
    assert_int_equal(fg_synth_config_load("qwen2.5-0.5b", sets, 1, &c), FG_OK);
    uint64_t prog[2] = {0, 0};
    assert_int_equal(fg_synth_write_model(&c, out, FG_SYNTH_GGUF, FG_DT_BF16, NULL, progress_cb, prog), FG_OK);
    assert_true(prog[0] == prog[1] && prog[1] > 151936ull * 896 * 2);
    fg_gguf *g;
    assert_int_equal(fg_gguf_open(out, &g), FG_OK);
    assert_null(fg_gguf_find(g, "tokenizer.ggml.tokens"));
    const fg_gguf_tensor *e = fg_gguf_find_tensor(g, "token_embd.weight");
    assert_non_null(e);
    fg_synth_tensor t;
    fg_synth_tensor_info(&c, 0, &t);
    float row[896];
    const int64_t rows[] = {0, 1, 292, 293, 151935};   /* 292.6 rows per 1 MB chunk */
    for (int k = 0; k < 5; k++) {
        fg_synth_values(&t, (uint64_t)rows[k] * 896, 896, row);
        const uint16_t *h = (const uint16_t *)e->data + rows[k] * 896;
        for (int i = 0; i < 896; i++) assert_int_equal(h[i], bf16_ref(row[i]));
    }
    fg_gguf_close(g);
    unlink(out);
    rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprints_values),
        cmocka_unit_test(test_fingerprints_files),
        cmocka_unit_test(test_roundtrip_all_tensors),
        cmocka_unit_test(test_gguf_metadata),
        cmocka_unit_test(test_llama_permutation_and_rope),
        cmocka_unit_test(test_rounding_known_values),
        cmocka_unit_test(test_f16_bf16_files),
        cmocka_unit_test(test_against_llamacpp_quantized),
        cmocka_unit_test(test_hf_tokenizer_cut),
        cmocka_unit_test(test_configs),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_streaming_large_tensor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
