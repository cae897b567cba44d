/* Hugging Face config.json for the llama, qwen2 and qwen3 families.
 *
 * The architecture comes from "model_type" ("llama", "qwen2", "qwen3"), else from
 * "architectures"[0] (LlamaForCausalLM, ...), else from the synthetic spec's
 * "architecture" field. Defaults follow the transformers config classes
 * (LlamaConfig, Qwen2Config, Qwen3Config): num_key_value_heads = num_attention_heads,
 * head_dim = hidden_size / num_attention_heads, rope_theta 10000, rms_norm_eps 1e-6,
 * tie_word_embeddings false (real Qwen2.5 small models state true explicitly).
 * rope_scaling: null, "default" (none) or "llama3"; any other type is refused as
 * unsupported rather than silently computing a different model. */
#include "frugal.h" /* first: frugal.h pulls in model.h, which needs format.h complete */
#include "format/format.h"
#include "mem/mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define HF_MAX_CONFIG (16u * 1024 * 1024)

static const char *const arch_names[] = {"unknown", "llama", "qwen2", "qwen3"};

const char *fg_arch_name(fg_arch a)
{
    return (unsigned)a < sizeof arch_names / sizeof arch_names[0] ? arch_names[a] : "unknown";
}

fg_arch fg_arch_from_name(const char *name)
{
    if (!name) return FG_ARCH_UNKNOWN;
    static const struct { const char *name; fg_arch a; } names[] = {
        {"llama", FG_ARCH_LLAMA},
        {"qwen2", FG_ARCH_QWEN2},
        {"qwen3", FG_ARCH_QWEN3},
        {"LlamaForCausalLM", FG_ARCH_LLAMA},
        {"Qwen2ForCausalLM", FG_ARCH_QWEN2},
        {"Qwen3ForCausalLM", FG_ARCH_QWEN3},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i].name) == 0) return names[i].a;
    return FG_ARCH_UNKNOWN;
}

/* ---- typed field access; each error names the field ---------------------------------- */
typedef struct ctx {
    const cJSON *root;
    const char *what;
} ctx;

static const cJSON *field(const cJSON *obj, const char *name)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNull(j) ? NULL : j; /* null means "use the default" */
}

/* An integer in [lo, hi]. Absent: *out = dflt, or an error when required. */
static fg_status get_int(const ctx *c, const cJSON *obj, const char *name, bool required, int64_t dflt, int64_t lo,
                         int64_t hi, int64_t *out)
{
    const cJSON *j = field(obj, name);
    if (!j) {
        if (required) return fg_error(FG_ERR_FORMAT, "%s: missing required field \"%s\"", c->what, name);
        *out = dflt;
        return FG_OK;
    }
    if (!cJSON_IsNumber(j))
        return fg_error(FG_ERR_FORMAT, "%s: \"%s\" must be a number", c->what, name);
    double d = j->valuedouble;
    if (!isfinite(d) || d != floor(d))
        return fg_error(FG_ERR_FORMAT, "%s: \"%s\" must be an integer (got %g)", c->what, name, d);
    if (d < (double)lo || d > (double)hi)
        return fg_error(FG_ERR_FORMAT, "%s: \"%s\" = %.0f is out of range [%lld, %lld]", c->what, name, d,
                        (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return FG_OK;
}

/* A finite number > 0. */
static fg_status get_pos_double(const ctx *c, const cJSON *obj, const char *name, bool required, double dflt,
                                double *out)
{
    const cJSON *j = field(obj, name);
    if (!j) {
        if (required) return fg_error(FG_ERR_FORMAT, "%s: missing required field \"%s\"", c->what, name);
        *out = dflt;
        return FG_OK;
    }
    if (!cJSON_IsNumber(j)) return fg_error(FG_ERR_FORMAT, "%s: \"%s\" must be a number", c->what, name);
    if (!isfinite(j->valuedouble) || j->valuedouble <= 0)
        return fg_error(FG_ERR_FORMAT, "%s: \"%s\" must be a positive number (got %g)", c->what, name, j->valuedouble);
    *out = j->valuedouble;
    return FG_OK;
}

static fg_status get_bool(const ctx *c, const cJSON *obj, const char *name, bool dflt, bool *out)
{
    const cJSON *j = field(obj, name);
    if (!j) {
        *out = dflt;
        return FG_OK;
    }
    if (!cJSON_IsBool(j)) return fg_error(FG_ERR_FORMAT, "%s: \"%s\" must be true or false", c->what, name);
    *out = cJSON_IsTrue(j);
    return FG_OK;
}

/* bos_token_id / eos_token_id: an integer, or an array of them (the first is taken),
 * -1 when absent or null. */
static fg_status get_token_id(const ctx *c, const char *name, int64_t *out)
{
    const cJSON *j = field(c->root, name);
    *out = -1;
    if (!j) return FG_OK;
    if (cJSON_IsArray(j)) {
        j = cJSON_GetArrayItem(j, 0);
        if (!j) return FG_OK;
        if (!cJSON_IsNumber(j)) return fg_error(FG_ERR_FORMAT, "%s: \"%s\" must hold integers", c->what, name);
    }
    if (!cJSON_IsNumber(j)) return fg_error(FG_ERR_FORMAT, "%s: \"%s\" must be an integer", c->what, name);
    double d = j->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < 0 || d > INT32_MAX)
        return fg_error(FG_ERR_FORMAT, "%s: \"%s\" = %g is not a valid token id", c->what, name, d);
    *out = (int64_t)d;
    return FG_OK;
}

static fg_status parse_arch(const ctx *c, fg_hf_config *cfg)
{
    const cJSON *mt = field(c->root, "model_type");
    const cJSON *archs = field(c->root, "architectures");
    const cJSON *synth = field(c->root, "architecture");
    const char *name = NULL;
    if (mt) {
        if (!cJSON_IsString(mt)) return fg_error(FG_ERR_FORMAT, "%s: \"model_type\" must be a string", c->what);
        name = mt->valuestring;
    } else if (archs) {
        const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
        if (!cJSON_IsString(a0))
            return fg_error(FG_ERR_FORMAT, "%s: \"architectures\" must be an array of strings", c->what);
        name = a0->valuestring;
    } else if (synth) {
        if (!cJSON_IsString(synth)) return fg_error(FG_ERR_FORMAT, "%s: \"architecture\" must be a string", c->what);
        name = synth->valuestring;
    } else {
        return fg_error(FG_ERR_FORMAT, "%s: no \"model_type\", \"architectures\" or \"architecture\" field", c->what);
    }
    cfg->arch = fg_arch_from_name(name);
    if (cfg->arch == FG_ARCH_UNKNOWN)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: architecture \"%.64s\" is not supported (llama, qwen2, qwen3)",
                        c->what, name);
    /* model_type as HF spells it; for a class name or the synthetic field, the family */
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", mt ? name : fg_arch_name(cfg->arch));
    return FG_OK;
}

static fg_status parse_rope_scaling(const ctx *c, fg_hf_config *cfg)
{
    const cJSON *rs = field(c->root, "rope_scaling");
    if (!rs) return FG_OK;
    if (!cJSON_IsObject(rs)) return fg_error(FG_ERR_FORMAT, "%s: \"rope_scaling\" must be an object or null", c->what);
    const cJSON *ty = field(rs, "rope_type");
    if (!ty) ty = field(rs, "type");
    if (!cJSON_IsString(ty))
        return fg_error(FG_ERR_FORMAT, "%s: rope_scaling has no string \"rope_type\" (or \"type\")", c->what);
    if (strcmp(ty->valuestring, "default") == 0) return FG_OK;
    if (strcmp(ty->valuestring, "llama3") != 0)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: rope_scaling type \"%.32s\" is not supported (only llama3)", c->what,
                        ty->valuestring);
    ctx rc = {rs, c->what};
    fg_status st;
    if ((st = get_pos_double(&rc, rs, "factor", true, 0, &cfg->rope_factor))) return st;
    if ((st = get_pos_double(&rc, rs, "low_freq_factor", true, 0, &cfg->rope_low_freq_factor))) return st;
    if ((st = get_pos_double(&rc, rs, "high_freq_factor", true, 0, &cfg->rope_high_freq_factor))) return st;
    if ((st = get_int(&rc, rs, "original_max_position_embeddings", true, 0, 1, INT32_MAX,
                      &cfg->rope_original_max_pos)))
        return st;
    /* the llama3 blend divides by (high - low) */
    if (!(cfg->rope_high_freq_factor > cfg->rope_low_freq_factor))
        return fg_error(FG_ERR_FORMAT, "%s: rope_scaling high_freq_factor (%g) must exceed low_freq_factor (%g)",
                        c->what, cfg->rope_high_freq_factor, cfg->rope_low_freq_factor);
    cfg->rope_llama3 = true;
    return FG_OK;
}

static fg_status parse_root(const ctx *c, fg_hf_config *cfg)
{
    fg_status st;
    if ((st = parse_arch(c, cfg))) return st;
    const cJSON *r = c->root;
    const int64_t big = INT32_MAX;
    if ((st = get_int(c, r, "hidden_size", true, 0, 1, big, &cfg->hidden_size))) return st;
    if ((st = get_int(c, r, "intermediate_size", true, 0, 1, big, &cfg->intermediate_size))) return st;
    if ((st = get_int(c, r, "num_hidden_layers", true, 0, 1, 65536, &cfg->n_layers))) return st;
    if ((st = get_int(c, r, "num_attention_heads", true, 0, 1, 65536, &cfg->n_heads))) return st;
    if ((st = get_int(c, r, "num_key_value_heads", false, cfg->n_heads, 1, 65536, &cfg->n_kv_heads))) return st;
    if ((st = get_int(c, r, "vocab_size", true, 0, 1, big, &cfg->vocab_size))) return st;
    int64_t dflt_ctx = cfg->arch == FG_ARCH_LLAMA ? 2048 : 32768;
    if ((st = get_int(c, r, "max_position_embeddings", false, dflt_ctx, 1, big, &cfg->max_position_embeddings)))
        return st;
    const bool has_head_dim = field(r, "head_dim") != NULL;
    if ((st = get_int(c, r, "head_dim", false, 0, 1, 65536, &cfg->head_dim))) return st;
    if (!has_head_dim) {
        if (cfg->hidden_size % cfg->n_heads)
            return fg_error(FG_ERR_FORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld "
                            "(and no head_dim is given)", c->what, (long long)cfg->hidden_size, (long long)cfg->n_heads);
        cfg->head_dim = cfg->hidden_size / cfg->n_heads;
    }
    if (cfg->head_dim % 2)
        return fg_error(FG_ERR_FORMAT, "%s: head_dim %lld is odd (rotary embedding pairs need an even size)", c->what,
                        (long long)cfg->head_dim);
    if (cfg->n_kv_heads > cfg->n_heads || cfg->n_heads % cfg->n_kv_heads)
        return fg_error(FG_ERR_FORMAT, "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                        c->what, (long long)cfg->n_heads, (long long)cfg->n_kv_heads);
    if ((st = get_pos_double(c, r, "rope_theta", false, 10000.0, &cfg->rope_theta))) return st;
    if ((st = get_pos_double(c, r, "rms_norm_eps", false, 1e-6, &cfg->rms_norm_eps))) return st;
    if ((st = get_bool(c, r, "tie_word_embeddings", false, &cfg->tie_word_embeddings))) return st;
    if ((st = get_token_id(c, "bos_token_id", &cfg->bos_token_id))) return st;
    if ((st = get_token_id(c, "eos_token_id", &cfg->eos_token_id))) return st;
    const cJSON *td = field(r, "torch_dtype");
    if (!td) td = field(r, "dtype"); /* newer transformers write "dtype" */
    if (td) {
        if (!cJSON_IsString(td)) return fg_error(FG_ERR_FORMAT, "%s: \"torch_dtype\" must be a string", c->what);
        snprintf(cfg->torch_dtype, sizeof cfg->torch_dtype, "%s", td->valuestring);
    }
    return parse_rope_scaling(c, cfg);
}

fg_status fg_hf_config_parse(const char *json, size_t len, const char *what, fg_hf_config *out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_hf_config_parse: no output");
    memset(out, 0, sizeof *out);
    out->bos_token_id = out->eos_token_id = -1;
    if (!what) what = "config.json";
    if (!json) return fg_error(FG_ERR_ARG, "%s: no JSON text", what);
    uint64_t fails = fg_mem_failures();
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root && fg_mem_failures() != fails) return fg_error(FG_ERR_NOMEM, "%s: out of memory parsing the JSON", what);
    if (!root) return fg_error(FG_ERR_FORMAT, "%s: not valid JSON", what);
    fg_status st;
    if (!cJSON_IsObject(root)) {
        st = fg_error(FG_ERR_FORMAT, "%s: not a JSON object", what);
    } else {
        ctx c = {root, what};
        st = parse_root(&c, out);
    }
    cJSON_Delete(root);
    if (st) {
        memset(out, 0, sizeof *out);
        out->bos_token_id = out->eos_token_id = -1;
    }
    return st;
}

fg_status fg_hf_config_load(const char *path, fg_hf_config *out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_hf_config_load: no output");
    if (!path || !*path) return fg_error(FG_ERR_ARG, "fg_hf_config_load: empty path");
    struct stat s;
    if (stat(path, &s) != 0) return fg_error(FG_ERR_IO, "%s: %s", path, strerror(errno));
    char *full = NULL;
    if (S_ISDIR(s.st_mode)) {
        size_t n = strlen(path);
        full = fg_malloc(FG_MEM_RUNTIME, n + sizeof "/config.json");
        if (!full) return fg_error(FG_ERR_NOMEM, "%s: out of memory", path);
        memcpy(full, path, n);
        memcpy(full + n, "/config.json", sizeof "/config.json");
    }
    fg_file f;
    fg_status st = fg_file_map(full ? full : path, &f);
    if (!st) {
        if (f.size > HF_MAX_CONFIG)
            st = fg_error(FG_ERR_FORMAT, "%s: %zu bytes is too large for a config", f.path, f.size);
        else if (f.size == 0)
            st = fg_error(FG_ERR_FORMAT, "%s: empty file", f.path);
        else
            st = fg_hf_config_parse((const char *)f.data, f.size, f.path, out);
        fg_file_unmap(&f);
    }
    fg_free(full);
    return st;
}
