/* Synthetic models, spec v1 (docs/SYNTHETIC-SPEC.md): configs, the tensor list, the
 * value streams and the llama3 rope factors. Writing the files is in synth_write.c, the
 * tokenizer in synth_vocab.c.
 *
 * Values. For a tensor NAME of n elements the stream is splitmix64 from
 * state = seed ^ fnv1a64(NAME); element i (row-major) advances the state i + 1 times by
 * the golden-ratio constant, so state_i = state0 + (i + 1) * 0x9E3779B97F4A7C15 (mod 2^64)
 * and any element can be computed directly. From the mixed z:
 *   u = (float)(z >> 40) * 2^-24    exact: a 24-bit integer times a power of two
 *   v = u * 2.0f - 1.0f             exact as well (u * 2 is exact, the subtraction is
 *                                   exact for u in [0.5, 1) and rounds once otherwise)
 * and by kind: embed v; linear v * s(in); norm 1.0f + 0.25f * v; bias 0.5f * v, all in
 * float32. Contraction into an FMA cannot change any of these: every product here is
 * by a power of two (exact) except v * s(in), which is a lone multiply. */
#include "format/synth.h"
#include "mem/mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_GAMMA 0x9E3779B97F4A7C15ull

uint64_t fg_synth_fnv1a64(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

float fg_synth_scale(int64_t in) { return (float)sqrt(3.0 / (double)in); }

/* ---- built-in full-size shapes -------------------------------------------------------- */

static const struct builtin {
    const char *name;
    const char *json;
} builtins[] = {
    {"qwen2.5-0.5b",
     "{\"name\":\"qwen2.5-0.5b\",\"architecture\":\"qwen2\",\"hidden_size\":896,\"intermediate_size\":4864,"
     "\"num_hidden_layers\":24,\"num_attention_heads\":14,\"num_key_value_heads\":2,\"vocab_size\":151936,"
     "\"rope_theta\":1000000.0,\"rms_norm_eps\":1e-06,\"tie_word_embeddings\":true,"
     "\"max_position_embeddings\":32768,\"bos_token_id\":151643,\"eos_token_id\":151645,\"seed\":0}"},
    {"qwen2.5-1.5b",
     "{\"name\":\"qwen2.5-1.5b\",\"architecture\":\"qwen2\",\"hidden_size\":1536,\"intermediate_size\":8960,"
     "\"num_hidden_layers\":28,\"num_attention_heads\":12,\"num_key_value_heads\":2,\"vocab_size\":151936,"
     "\"rope_theta\":1000000.0,\"rms_norm_eps\":1e-06,\"tie_word_embeddings\":true,"
     "\"max_position_embeddings\":32768,\"bos_token_id\":151643,\"eos_token_id\":151645,\"seed\":0}"},
    {"qwen2.5-3b",
     "{\"name\":\"qwen2.5-3b\",\"architecture\":\"qwen2\",\"hidden_size\":2048,\"intermediate_size\":11008,"
     "\"num_hidden_layers\":36,\"num_attention_heads\":16,\"num_key_value_heads\":2,\"vocab_size\":151936,"
     "\"rope_theta\":1000000.0,\"rms_norm_eps\":1e-06,\"tie_word_embeddings\":true,"
     "\"max_position_embeddings\":32768,\"bos_token_id\":151643,\"eos_token_id\":151645,\"seed\":0}"},
    {"qwen3-0.6b",
     "{\"name\":\"qwen3-0.6b\",\"architecture\":\"qwen3\",\"hidden_size\":1024,\"intermediate_size\":3072,"
     "\"num_hidden_layers\":28,\"num_attention_heads\":16,\"num_key_value_heads\":8,\"head_dim\":128,"
     "\"vocab_size\":151936,\"rope_theta\":1000000.0,\"rms_norm_eps\":1e-06,\"tie_word_embeddings\":true,"
     "\"max_position_embeddings\":40960,\"bos_token_id\":151643,\"eos_token_id\":151645,\"seed\":0}"},
    {"llama-3.2-1b",
     "{\"name\":\"llama-3.2-1b\",\"architecture\":\"llama\",\"hidden_size\":2048,\"intermediate_size\":8192,"
     "\"num_hidden_layers\":16,\"num_attention_heads\":32,\"num_key_value_heads\":8,\"vocab_size\":128256,"
     "\"rope_theta\":500000.0,\"rms_norm_eps\":1e-05,\"tie_word_embeddings\":true,"
     "\"max_position_embeddings\":131072,\"bos_token_id\":128000,\"eos_token_id\":128009,\"seed\":0,"
     "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":32.0,\"low_freq_factor\":1.0,"
     "\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192}}"},
};
#define N_BUILTINS (sizeof builtins / sizeof builtins[0])

const char *fg_synth_builtin_json(const char *shape)
{
    for (size_t i = 0; shape && i < N_BUILTINS; i++)
        if (!strcmp(shape, builtins[i].name)) return builtins[i].json;
    return NULL;
}

const char *const *fg_synth_builtin_names(void)
{
    static const char *names[N_BUILTINS + 1];
    for (size_t i = 0; i < N_BUILTINS; i++) names[i] = builtins[i].name;
    names[N_BUILTINS] = NULL;
    return names;
}

/* ---- configs ------------------------------------------------------------------------------ */

/* Applies one "key=value" override to the JSON tree. */
static fg_status apply_set(cJSON *root, const char *set, const char *what)
{
    const char *eq = strchr(set, '=');
    if (!eq || eq == set) return fg_error(FG_ERR_ARG, "%s: override '%s' is not key=value", what, set);
    char key[128];
    size_t kl = (size_t)(eq - set);
    if (kl >= sizeof key) return fg_error(FG_ERR_ARG, "%s: override key too long", what);
    memcpy(key, set, kl);
    key[kl] = 0;
    const char *val = eq + 1;

    cJSON *obj = root;
    char *leaf = key;
    char *dot = strchr(key, '.');
    if (dot) {
        *dot = 0;
        if (strcmp(key, "rope_scaling") || strchr(dot + 1, '.') || !dot[1])
            return fg_error(FG_ERR_ARG, "%s: override '%s': only top-level keys and rope_scaling.<key> can be set", what, set);
        obj = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
        if (!cJSON_IsObject(obj)) {
            obj = cJSON_CreateObject();
            if (!obj) return fg_error(FG_ERR_NOMEM, "out of memory");
            if (cJSON_HasObjectItem(root, "rope_scaling"))
                cJSON_ReplaceItemInObjectCaseSensitive(root, "rope_scaling", obj);
            else
                cJSON_AddItemToObject(root, "rope_scaling", obj);
        }
        leaf = dot + 1;
    }

    cJSON *item;
    char *end;
    if (!dot && !strcmp(leaf, "seed")) {
        /* seeds are 64-bit: parsed exactly here, not through a double */
        errno = 0;
        unsigned long long s = strtoull(val, &end, 0);
        if (*val < '0' || *val > '9' || *end || errno)
            return fg_error(FG_ERR_ARG, "%s: seed '%s' is not an unsigned 64-bit integer", what, val);
        char dec[24];
        snprintf(dec, sizeof dec, "%llu", s);
        item = cJSON_CreateString(dec);   /* a decimal string: exact, unlike a JSON number */
    } else if (!strcmp(val, "true") || !strcmp(val, "false")) {
        item = cJSON_CreateBool(!strcmp(val, "true"));
    } else if (!strcmp(val, "null")) {
        item = cJSON_CreateNull();
    } else {
        errno = 0;
        double d = strtod(val, &end);
        if (*val && !*end && !errno && isfinite(d))
            item = cJSON_CreateNumber(d);
        else
            item = cJSON_CreateString(val);
    }
    if (!item) return fg_error(FG_ERR_NOMEM, "out of memory");
    if (cJSON_HasObjectItem(obj, leaf))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, leaf, item);
    else
        cJSON_AddItemToObject(obj, leaf, item);
    return FG_OK;
}

static fg_status parse_tree(cJSON *root, const char *what, fg_synth_config *out)
{
    char *text = cJSON_PrintUnformatted(root);
    if (!text) return fg_error(FG_ERR_NOMEM, "out of memory");
    fg_status s = fg_hf_config_parse(text, strlen(text), what, &out->hf);
    cJSON_free(text);
    if (s) return s;
    const fg_hf_config *h = &out->hf;

    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (name && !cJSON_IsString(name)) return fg_error(FG_ERR_FORMAT, "%s: \"name\" must be a string", what);
    snprintf(out->name, sizeof out->name, "%s", name ? name->valuestring : "synthetic");

    /* seed: an integer below 2^53 (exact in JSON's doubles), or a decimal string */
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    if (!seed) return fg_error(FG_ERR_FORMAT, "%s: missing required field \"seed\"", what);
    if (cJSON_IsString(seed)) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(seed->valuestring, &end, 10);
        if (seed->valuestring[0] < '0' || seed->valuestring[0] > '9' || *end || errno)
            return fg_error(FG_ERR_FORMAT, "%s: \"seed\" string is not an unsigned 64-bit integer", what);
        out->seed = v;
    } else if (cJSON_IsNumber(seed) && seed->valuedouble >= 0 && seed->valuedouble < 9007199254740992.0 &&
               seed->valuedouble == floor(seed->valuedouble)) {
        out->seed = (uint64_t)seed->valuedouble;
    } else {
        return fg_error(FG_ERR_FORMAT, "%s: \"seed\" must be an integer in [0, 2^53) (larger seeds: a decimal "
                        "string, or --seed)", what);
    }

    const cJSON *cut = cJSON_GetObjectItemCaseSensitive(root, "vocab_cut");
    out->vocab_cut = 0;
    if (cut && !cJSON_IsNull(cut)) {
        if (!cJSON_IsNumber(cut) || cut->valuedouble != floor(cut->valuedouble) || cut->valuedouble < 1 ||
            cut->valuedouble > (double)h->vocab_size)
            return fg_error(FG_ERR_FORMAT, "%s: \"vocab_cut\" must be an integer in [1, vocab_size = %lld]", what,
                            (long long)h->vocab_size);
        out->vocab_cut = (int64_t)cut->valuedouble;
    }
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(root, "head_dim");
    out->head_dim_given = hd && !cJSON_IsNull(hd);

    if (h->bos_token_id >= h->vocab_size || h->eos_token_id >= h->vocab_size)
        return fg_error(FG_ERR_FORMAT, "%s: bos/eos token id (%lld/%lld) must be below vocab_size %lld", what,
                        (long long)h->bos_token_id, (long long)h->eos_token_id, (long long)h->vocab_size);
    if (h->rope_llama3 && h->arch != FG_ARCH_LLAMA)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: llama3 rope scaling is only defined for the llama architecture", what);
    /* GGUF: a row of a tensor must fit the 1<<40 element bound of the writers */
    if ((uint64_t)h->vocab_size * (uint64_t)h->hidden_size > (1ull << 40) ||
        (uint64_t)h->intermediate_size * (uint64_t)h->hidden_size > (1ull << 40) ||
        (uint64_t)h->n_heads * (uint64_t)h->head_dim * (uint64_t)h->hidden_size > (1ull << 40))
        return fg_error(FG_ERR_FORMAT, "%s: shapes too large", what);
    return FG_OK;
}

fg_status fg_synth_config_parse(const char *json, size_t len, const char *what, const char *const *sets, size_t n_sets,
                                fg_synth_config *out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_synth_config_parse: no output");
    memset(out, 0, sizeof *out);
    if (!what) what = "synthetic config";
    if (!json) return fg_error(FG_ERR_ARG, "%s: no JSON text", what);
    uint64_t fails = fg_mem_failures();
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root && fg_mem_failures() != fails) return fg_error(FG_ERR_NOMEM, "%s: out of memory parsing the JSON", what);
    if (!root) return fg_error(FG_ERR_FORMAT, "%s: not valid JSON", what);
    fg_status s = FG_OK;
    if (!cJSON_IsObject(root)) s = fg_error(FG_ERR_FORMAT, "%s: not a JSON object", what);
    for (size_t i = 0; i < n_sets && !s; i++) s = apply_set(root, sets[i], what);
    if (!s) s = parse_tree(root, what, out);
    cJSON_Delete(root);
    if (s) memset(out, 0, sizeof *out);
    return s;
}

fg_status fg_synth_config_load(const char *path_or_shape, const char *const *sets, size_t n_sets,
                               fg_synth_config *out)
{
    if (!path_or_shape || !*path_or_shape) return fg_error(FG_ERR_ARG, "no synthetic config given");
    const char *b = fg_synth_builtin_json(path_or_shape);
    if (b) return fg_synth_config_parse(b, strlen(b), path_or_shape, sets, n_sets, out);
    fg_file f;
    fg_status s = fg_file_map(path_or_shape, &f);
    if (s) return s;
    if (f.size == 0 || f.size > (16u << 20))
        s = fg_error(FG_ERR_FORMAT, "%s: %s", f.path, f.size ? "too large for a config" : "empty file");
    else
        s = fg_synth_config_parse((const char *)f.data, f.size, f.path, sets, n_sets, out);
    fg_file_unmap(&f);
    return s;
}

/* ---- the tensor list ------------------------------------------------------------------------ */

/* Per-layer tensors in the spec's order. */
typedef enum {
    L_ATTN_NORM, L_Q, L_K, L_V, L_QB, L_KB, L_VB, L_QNORM, L_KNORM, L_O, L_FFN_NORM, L_GATE, L_UP, L_DOWN, L_COUNT
} layer_tensor;

static int layer_list(const fg_synth_config *c, layer_tensor *out)
{
    int n = 0;
    out[n++] = L_ATTN_NORM;
    out[n++] = L_Q;
    out[n++] = L_K;
    out[n++] = L_V;
    if (c->hf.arch == FG_ARCH_QWEN2) {
        out[n++] = L_QB;
        out[n++] = L_KB;
        out[n++] = L_VB;
    }
    if (c->hf.arch == FG_ARCH_QWEN3) {
        out[n++] = L_QNORM;
        out[n++] = L_KNORM;
    }
    out[n++] = L_O;
    out[n++] = L_FFN_NORM;
    out[n++] = L_GATE;
    out[n++] = L_UP;
    out[n++] = L_DOWN;
    return n;
}

size_t fg_synth_n_tensors(const fg_synth_config *c)
{
    layer_tensor lt[L_COUNT];
    return 2 + (size_t)c->hf.n_layers * (size_t)layer_list(c, lt) + (c->hf.tie_word_embeddings ? 0 : 1);
}

static void set2(fg_synth_tensor *t, fg_synth_kind k, int64_t rows, int64_t cols)
{
    t->kind = k;
    t->n_dims = 2;
    t->rows = rows;
    t->cols = cols;
    t->scale = k == FG_SYNTH_LINEAR ? fg_synth_scale(cols) : 1.0f;
}

static void set1(fg_synth_tensor *t, fg_synth_kind k, int64_t n)
{
    t->kind = k;
    t->n_dims = 1;
    t->rows = 1;
    t->cols = n;
    t->scale = 1.0f;
}

void fg_synth_tensor_info(const fg_synth_config *c, size_t i, fg_synth_tensor *t)
{
    const fg_hf_config *h = &c->hf;
    memset(t, 0, sizeof *t);
    const int64_t q_dim = h->n_heads * h->head_dim, kv_dim = h->n_kv_heads * h->head_dim;
    layer_tensor lt[L_COUNT];
    size_t per = (size_t)layer_list(c, lt);
    size_t n_layer_tensors = (size_t)h->n_layers * per;
    if (i == 0) {
        snprintf(t->name, sizeof t->name, "model.embed_tokens.weight");
        snprintf(t->gguf_name, sizeof t->gguf_name, "token_embd.weight");
        set2(t, FG_SYNTH_EMBED, h->vocab_size, h->hidden_size);
    } else if (i <= n_layer_tensors) {
        int L = (int)((i - 1) / per);
        layer_tensor k = lt[(i - 1) % per];
        char *n = t->name, *g = t->gguf_name;
        size_t ns = sizeof t->name, gs = sizeof t->gguf_name;
        switch (k) {
        case L_ATTN_NORM:
            snprintf(n, ns, "model.layers.%d.input_layernorm.weight", L);
            snprintf(g, gs, "blk.%d.attn_norm.weight", L);
            set1(t, FG_SYNTH_NORM, h->hidden_size);
            break;
        case L_Q:
            snprintf(n, ns, "model.layers.%d.self_attn.q_proj.weight", L);
            snprintf(g, gs, "blk.%d.attn_q.weight", L);
            set2(t, FG_SYNTH_LINEAR, q_dim, h->hidden_size);
            if (h->arch == FG_ARCH_LLAMA) t->gguf_permute_heads = h->n_heads;
            break;
        case L_K:
            snprintf(n, ns, "model.layers.%d.self_attn.k_proj.weight", L);
            snprintf(g, gs, "blk.%d.attn_k.weight", L);
            set2(t, FG_SYNTH_LINEAR, kv_dim, h->hidden_size);
            if (h->arch == FG_ARCH_LLAMA) t->gguf_permute_heads = h->n_kv_heads;
            break;
        case L_V:
            snprintf(n, ns, "model.layers.%d.self_attn.v_proj.weight", L);
            snprintf(g, gs, "blk.%d.attn_v.weight", L);
            set2(t, FG_SYNTH_LINEAR, kv_dim, h->hidden_size);
            break;
        case L_QB:
            snprintf(n, ns, "model.layers.%d.self_attn.q_proj.bias", L);
            snprintf(g, gs, "blk.%d.attn_q.bias", L);
            set1(t, FG_SYNTH_BIAS, q_dim);
            break;
        case L_KB:
            snprintf(n, ns, "model.layers.%d.self_attn.k_proj.bias", L);
            snprintf(g, gs, "blk.%d.attn_k.bias", L);
            set1(t, FG_SYNTH_BIAS, kv_dim);
            break;
        case L_VB:
            snprintf(n, ns, "model.layers.%d.self_attn.v_proj.bias", L);
            snprintf(g, gs, "blk.%d.attn_v.bias", L);
            set1(t, FG_SYNTH_BIAS, kv_dim);
            break;
        case L_QNORM:
            snprintf(n, ns, "model.layers.%d.self_attn.q_norm.weight", L);
            snprintf(g, gs, "blk.%d.attn_q_norm.weight", L);
            set1(t, FG_SYNTH_NORM, h->head_dim);
            break;
        case L_KNORM:
            snprintf(n, ns, "model.layers.%d.self_attn.k_norm.weight", L);
            snprintf(g, gs, "blk.%d.attn_k_norm.weight", L);
            set1(t, FG_SYNTH_NORM, h->head_dim);
            break;
        case L_O:
            snprintf(n, ns, "model.layers.%d.self_attn.o_proj.weight", L);
            snprintf(g, gs, "blk.%d.attn_output.weight", L);
            set2(t, FG_SYNTH_LINEAR, h->hidden_size, q_dim);
            break;
        case L_FFN_NORM:
            snprintf(n, ns, "model.layers.%d.post_attention_layernorm.weight", L);
            snprintf(g, gs, "blk.%d.ffn_norm.weight", L);
            set1(t, FG_SYNTH_NORM, h->hidden_size);
            break;
        case L_GATE:
            snprintf(n, ns, "model.layers.%d.mlp.gate_proj.weight", L);
            snprintf(g, gs, "blk.%d.ffn_gate.weight", L);
            set2(t, FG_SYNTH_LINEAR, h->intermediate_size, h->hidden_size);
            break;
        case L_UP:
            snprintf(n, ns, "model.layers.%d.mlp.up_proj.weight", L);
            snprintf(g, gs, "blk.%d.ffn_up.weight", L);
            set2(t, FG_SYNTH_LINEAR, h->intermediate_size, h->hidden_size);
            break;
        case L_DOWN:
            snprintf(n, ns, "model.layers.%d.mlp.down_proj.weight", L);
            snprintf(g, gs, "blk.%d.ffn_down.weight", L);
            set2(t, FG_SYNTH_LINEAR, h->hidden_size, h->intermediate_size);
            break;
        default: break;
        }
    } else if (i == n_layer_tensors + 1) {
        snprintf(t->name, sizeof t->name, "model.norm.weight");
        snprintf(t->gguf_name, sizeof t->gguf_name, "output_norm.weight");
        set1(t, FG_SYNTH_NORM, h->hidden_size);
    } else {
        /* lm_head [vocab, hidden]: v * s(hidden), i.e. a linear weight with in = hidden */
        snprintf(t->name, sizeof t->name, "lm_head.weight");
        snprintf(t->gguf_name, sizeof t->gguf_name, "output.weight");
        set2(t, FG_SYNTH_LINEAR, h->vocab_size, h->hidden_size);
    }
    t->state0 = c->seed ^ fg_synth_fnv1a64(t->name, strlen(t->name));
}

/* ---- values ------------------------------------------------------------------------------- */

static inline float unit_v(uint64_t state)
{
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
    float u = (float)(z >> 40) * 0x1p-24f;
    return u * 2.0f - 1.0f;
}

void fg_synth_values(const fg_synth_tensor *t, uint64_t first, size_t n, float *out)
{
    uint64_t st = t->state0 + first * GOLDEN_GAMMA;
    switch (t->kind) {
    case FG_SYNTH_EMBED:
        for (size_t i = 0; i < n; i++) out[i] = unit_v(st += GOLDEN_GAMMA);
        break;
    case FG_SYNTH_LINEAR: {
        const float s = t->scale;
        for (size_t i = 0; i < n; i++) out[i] = unit_v(st += GOLDEN_GAMMA) * s;
        break;
    }
    case FG_SYNTH_NORM:
        for (size_t i = 0; i < n; i++) out[i] = 1.0f + 0.25f * unit_v(st += GOLDEN_GAMMA);
        break;
    case FG_SYNTH_BIAS:
        for (size_t i = 0; i < n; i++) out[i] = 0.5f * unit_v(st += GOLDEN_GAMMA);
        break;
    }
}

/* llama.cpp's permute for q/k (convert_hf_to_gguf.py LlamaModel.permute): HF keeps, per
 * head, the first halves of the rotary pairs in rows [0, hd/2) and the second halves in
 * [hd/2, hd); GGUF (ggml's rope on adjacent pairs) wants them interleaved. GGUF row
 * h*hd + 2j + s is HF row h*hd + s*hd/2 + j (j < hd/2, s in {0, 1}), i.e.
 * reshape(n_head, 2, hd/2, cols).swapaxes(1, 2). */
void fg_synth_gguf_rows(const fg_synth_tensor *t, int64_t row0, int64_t n_rows, float *out)
{
    if (!t->gguf_permute_heads) {
        fg_synth_values(t, (uint64_t)row0 * (uint64_t)t->cols, (size_t)(n_rows * t->cols), out);
        return;
    }
    for (int64_t r = row0; r < row0 + n_rows; r++)
        fg_synth_values(t, (uint64_t)fg_synth_gguf_src_row(t, r) * (uint64_t)t->cols, (size_t)t->cols,
                        out + (r - row0) * t->cols);
}

int64_t fg_synth_gguf_src_row(const fg_synth_tensor *t, int64_t r)
{
    if (!t->gguf_permute_heads) return r;
    const int64_t hd = t->rows / t->gguf_permute_heads;
    int64_t h = r / hd, k = r % hd;
    return h * hd + (k % 2) * (hd / 2) + k / 2;
}

/* llama3 rope scaling (transformers' _compute_llama3_parameters; llama.cpp stores the
 * per-frequency divisor as rope_freqs.weight). Computed in double, stored as float. */
size_t fg_synth_rope_freqs(const fg_synth_config *c, float *out, size_t cap)
{
    const fg_hf_config *h = &c->hf;
    size_t n = (size_t)(h->head_dim / 2);
    if (!h->rope_llama3 || cap < n) return 0;
    const double pi = 3.14159265358979323846;
    const double orig = (double)h->rope_original_max_pos;
    const double low_wl = orig / h->rope_low_freq_factor, high_wl = orig / h->rope_high_freq_factor;
    for (size_t i = 0; i < n; i++) {
        double freq = 1.0 / pow(h->rope_theta, (double)(2 * i) / (double)h->head_dim);
        double wavelen = 2 * pi / freq;
        double f;
        if (wavelen < high_wl) {
            f = 1.0;
        } else if (wavelen > low_wl) {
            f = h->rope_factor;
        } else {
            double smooth = (orig / wavelen - h->rope_low_freq_factor) /
                            (h->rope_high_freq_factor - h->rope_low_freq_factor);
            f = 1.0 / ((1.0 - smooth) / h->rope_factor + smooth);
        }
        out[i] = (float)f;
    }
    return n;
}
