/* The memory planner (see plan.h). Predictions come from the tensor tables and the
 * same layout functions the session uses (fg_scratch_layout), so they match what a run
 * allocates; fixed costs (tokenizer, runtime) are estimates calibrated on this machine
 * (bench/RESULTS.md) and shown separately so a user can see what is measured and what
 * is estimated. */
#include "mem/mem.h"
#include "model/model-impl.h"
#include "model/plan.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* Fixed costs, calibrated on Qwen's 151,936-entry vocabulary (bench/RESULTS.md).
 * Tokenizer: hash table, offsets, types (~24 bytes per token) and merge ranks (~16 per
 * merge); from tokenizer.json the token strings are copied too (~8 more per token), from
 * GGUF they stay in the mapping. Runtime: code and libraries resident, thread stacks,
 * handles (~2 MiB) plus the logits row and the sampler's arrays (16 bytes per entry). */
#define TOKENIZER_BYTES_PER_TOKEN 24
#define TOKENIZER_HF_EXTRA_PER_TOKEN 8
#define TOKENIZER_BYTES_PER_MERGE 16
#define TOKENIZER_FIXED (512 << 10)
#define RUNTIME_FIXED (2 << 20)
#define RUNTIME_PER_VOCAB 16
#define MIN_FIT_CTX 256

fg_plan_params fg_plan_default_params(void)
{
    fg_plan_params p = {.n_ctx = 0, .n_batch = 256, .n_threads = 0, .quant = FG_QMIX_NONE, .mem_limit = 0,
                        .margin = -1, .fit = false, .kv_type = FG_DT_F16};
    return p;
}

typedef struct mat_ref {
    const fg_mat *w;
    bool ffn; /* run fg_ffn_rows tokens at a time (forward.c) */
    char gguf_name[64];
} mat_ref;

/* Visits every matrix with its GGUF name. */
static int list_mats(const fg_model *m, mat_ref *out, int cap)
{
    int n = 0;
#define ADD(wp, is_ffn, ...)                                               \
    do {                                                                   \
        if (n < cap) {                                                     \
            out[n].w = (wp);                                               \
            out[n].ffn = (is_ffn);                                         \
            snprintf(out[n].gguf_name, sizeof out[n].gguf_name, __VA_ARGS__); \
        }                                                                  \
        n++;                                                               \
    } while (0)
    ADD(&m->tok_embd, false, "token_embd.weight");
    if (!m->hp.tied_output) ADD(&m->output, false, "output.weight");
    for (int L = 0; L < m->hp.n_layer; L++) {
        const fg_layer *l = &m->layers[L];
        ADD(&l->wq, false, "blk.%d.attn_q.weight", L);
        ADD(&l->wk, false, "blk.%d.attn_k.weight", L);
        ADD(&l->wv, false, "blk.%d.attn_v.weight", L);
        ADD(&l->wo, false, "blk.%d.attn_output.weight", L);
        ADD(&l->w_gate, true, "blk.%d.ffn_gate.weight", L);
        ADD(&l->w_up, true, "blk.%d.ffn_up.weight", L);
        ADD(&l->w_down, true, "blk.%d.ffn_down.weight", L);
    }
#undef ADD
    return n;
}

static int64_t file_bytes(const fg_model *m)
{
    if (m->gguf) return (int64_t)m->gguf->file.size;
    int64_t b = 0;
    for (int i = 0; i < m->st->n_files; i++) b += (int64_t)m->st->files[i].size;
    return b;
}

/* Bytes of all tensors in the file(s) (weights only, no metadata). */
static int64_t tensor_bytes(const fg_model *m, int64_t *n_params)
{
    int64_t b = 0, n = 0;
    if (m->gguf) {
        for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
            const fg_gguf_tensor *t = &m->gguf->tensors[i];
            b += (int64_t)t->nbytes;
            int64_t e = 1;
            for (uint32_t d = 0; d < t->n_dims; d++) e *= (int64_t)t->ne[d];
            n += e;
        }
    } else {
        for (size_t i = 0; i < m->st->n_tensors; i++) {
            const fg_st_tensor *t = &m->st->tensors[i];
            b += (int64_t)t->nbytes;
            int64_t e = 1;
            for (uint32_t d = 0; d < t->n_dims; d++) e *= (int64_t)t->shape[d];
            n += e;
        }
    }
    *n_params = n;
    return b;
}

static int64_t n_merges(const fg_model *m)
{
    if (!m->gguf) return m->hp.n_vocab;
    const fg_gguf_kv *kv = fg_gguf_find(m->gguf, "tokenizer.ggml.merges");
    return kv ? (int64_t)kv->arr_n : 0;
}

/* Fills the predicted figures of `out` for one (quant, n_ctx) choice. */
static void predict(const fg_model *m, const fg_plan_params *p, int quant, int64_t n_ctx, int nth, fg_plan *out)
{
    const fg_hparams *hp = &m->hp;
    mat_ref mats[4 + 7 * 1024];
    int n = list_mats(m, mats, (int)(sizeof mats / sizeof mats[0]));
    memset(out->weights_by_type, 0, sizeof out->weights_by_type);
    int64_t all_tensors = tensor_bytes(m, &out->n_params), mats_stored = 0, mats_planned = 0, largest_src = 0;
    size_t work = 0;
    bool converted = false;
    for (int i = 0; i < n; i++) {
        const fg_mat *w = mats[i].w;
        fg_dtype dt = w->dtype;
        if (quant != FG_QMIX_NONE) {
            fg_dtype to = fg_quant_mix_type((fg_quant_mix)quant, mats[i].gguf_name, 2, w->cols, hp->n_layer, hp->tied_output);
            if (to != FG_DT_INVALID && to != dt) {
                dt = to;
                converted = true;
                int64_t src = (int64_t)(w->row_stride * (size_t)w->rows);
                if (src > (int64_t)FG_CONVERT_CHUNK) src = (int64_t)FG_CONVERT_CHUNK + (int64_t)w->row_stride;
                if (src > largest_src) largest_src = src;
            }
        }
        int64_t stored = (int64_t)(w->row_stride * (size_t)w->rows);
        int64_t planned = (int64_t)(fg_row_bytes(dt, w->cols) * (size_t)w->rows);
        mats_stored += stored;
        mats_planned += planned;
        out->weights_by_type[dt] += planned;
        size_t wk = fg_matmul_work_size(dt, w->cols, mats[i].ffn ? (int)fg_ffn_rows(p->n_batch) : p->n_batch, nth);
        if (wk > work) work = wk;
    }
    int64_t vectors = all_tensors - mats_stored; /* norms, biases, rope factors: kept as stored */
    if (vectors < 0) vectors = 0;
    out->weights_by_type[FG_DT_F32] += vectors;
    /* the file's metadata (GGUF header and key/values, the tokenizer's strings among
     * them; a safetensors header) is read at load and stays mapped: resident too */
    int64_t meta = file_bytes(m) - all_tensors;
    out->file_metadata = meta > 0 ? meta : 0;
    out->weights = mats_planned + vectors + out->file_metadata;
    out->weights_mapped = !converted;
    out->kv_type = p->kv_type;
    out->kv_per_token = 2 * hp->n_layer * (int64_t)fg_row_bytes(p->kv_type, hp->n_head_kv * hp->head_dim);
    int64_t pos = p->n_tokens > 0 && p->n_tokens < n_ctx ? p->n_tokens : n_ctx;
    /* committed page by page per layer and K/V: round each of the 2L regions up */
    int64_t row = (int64_t)fg_row_bytes(p->kv_type, hp->n_head_kv * hp->head_dim), pg = 4096;
    out->kv_positions = pos;
    out->kv = 2 * hp->n_layer * ((pos * row + pg - 1) / pg * pg) + n_ctx * (int64_t)sizeof(int32_t);
    size_t sizes[SCRATCH_BUFS];
    int nb = p->n_batch > n_ctx ? (int)n_ctx : p->n_batch;
    /* the arena for the prefill chunk (one region: whole pages), plus one attention
     * slice per thread, committed page by page for the positions used (like the KV cache) */
    int64_t arena = (int64_t)fg_scratch_layout(hp, nb, work, sizes), attn = (int64_t)fg_attn_scratch_bytes(hp, pos);
    out->scratch = (arena + pg - 1) / pg * pg + nth * ((attn + pg - 1) / pg * pg);
    out->tokenizer = hp->n_vocab * (TOKENIZER_BYTES_PER_TOKEN + (m->gguf ? 0 : TOKENIZER_HF_EXTRA_PER_TOKEN)) +
                     n_merges(m) * TOKENIZER_BYTES_PER_MERGE + TOKENIZER_FIXED;
    out->runtime = RUNTIME_FIXED + hp->n_vocab * RUNTIME_PER_VOCAB;
    int64_t steady = out->weights + out->kv + out->scratch + out->tokenizer + out->runtime;
    /* while converting: the owned weights grow to their final size while at most one
     * chunk of a source tensor is resident; the tokenizer is not loaded yet */
    out->load_peak = converted ? out->weights + largest_src + out->runtime : out->runtime;
    out->peak = steady > out->load_peak ? steady : out->load_peak;
    out->n_ctx = n_ctx;
    out->quant = quant;
}

static const char *gb(int64_t b, char *buf, size_t n)
{
    return fg_mem_fmt_bytes(b, buf, n);
}

fg_status fg_plan_model(const char *path, const fg_plan_params *params, fg_plan *out)
{
    memset(out, 0, sizeof *out);
    fg_plan_params p = params ? *params : fg_plan_default_params();
    if (p.n_batch <= 0) p.n_batch = 256;
    if (p.quant < 0 || p.quant >= FG_QMIX_COUNT) return fg_error(FG_ERR_ARG, "unknown quantization %d", p.quant);
    fg_model_params mp = fg_model_default_params();
    mp.n_threads = 1;
    fg_model *m;
    fg_status st = fg_model_load(path, &mp, &m); /* headers only: views, nothing converted */
    if (st) return st;
    int nth = p.n_threads > 0 ? p.n_threads : fg_physical_cores();
    int64_t ctx_train = m->hp.n_ctx_train;
    int64_t n_ctx = p.n_ctx > 0 ? p.n_ctx : (ctx_train < 4096 ? ctx_train : 4096);
    out->arch = m->hp.arch;
    out->file_bytes = file_bytes(m);

    fg_budget_params bp = fg_budget_default_params();
    bp.limit = p.mem_limit;
    bp.margin = p.margin;
    fg_budget *b = NULL;
    if ((st = fg_budget_create(&bp, &b))) {
        fg_model_free(m);
        return st;
    }
    fg_budget_info bi;
    fg_budget_get_info(b, &bi);
    fg_budget_free(b);
    out->limit = bi.limit;
    snprintf(out->limit_source, sizeof out->limit_source, "%s", bi.describe);

    predict(m, &p, p.quant, n_ctx, nth, out);
    out->fits = out->limit < 0 || out->peak <= out->limit;
    char b1[32], b2[32], b3[32];
    if (!out->fits) {
        /* what would fit: the same context with a smaller type, or a smaller context */
        static const int order[] = {FG_QMIX_Q8_0, FG_QMIX_Q4_K_M};
        fg_plan alt;
        char quant_alt[96] = "", ctx_alt[64] = "";
        bool stored_quantized = false;
        for (int d = FG_DT_Q8_0; d < FG_DT_COUNT; d++) stored_quantized |= out->weights_by_type[d] > 0;
        for (size_t i = 0; i < sizeof order / sizeof order[0] && !quant_alt[0] && !stored_quantized; i++) {
            if (order[i] == p.quant) continue;
            predict(m, &p, order[i], n_ctx, nth, &alt);
            if (alt.peak <= out->limit)
                snprintf(quant_alt, sizeof quant_alt, "--quant %s (%s)", fg_quant_mix_name((fg_quant_mix)order[i]),
                         gb(alt.peak, b1, sizeof b1));
        }
        for (int64_t c = n_ctx / 2; c >= MIN_FIT_CTX && !ctx_alt[0]; c /= 2) {
            predict(m, &p, p.quant, c, nth, &alt);
            if (alt.peak <= out->limit) snprintf(ctx_alt, sizeof ctx_alt, "--ctx %lld (%s)", (long long)c, gb(alt.peak, b1, sizeof b1));
        }
        if (p.fit) {
            /* choose: the best type at the asked context, else the largest context */
            static const int pref[] = {FG_QMIX_NONE, FG_QMIX_Q8_0, FG_QMIX_Q4_K_M};
            bool done = false;
            for (int pass = 0; pass < 2 && !done; pass++)
                for (size_t i = 0; i < sizeof pref / sizeof pref[0] && !done; i++) {
                    int q = pref[i] == FG_QMIX_NONE ? p.quant : pref[i];
                    if (stored_quantized && q != p.quant) continue;
                    for (int64_t c = n_ctx; c >= MIN_FIT_CTX && !done; c = pass == 0 ? 0 : c / 2) {
                        predict(m, &p, q, c, nth, &alt);
                        if (alt.peak <= out->limit) {
                            int64_t limit = out->limit;
                            char src[160];
                            memcpy(src, out->limit_source, sizeof src);
                            int64_t fb = out->file_bytes;
                            *out = alt;
                            out->limit = limit;
                            memcpy(out->limit_source, src, sizeof src);
                            out->file_bytes = fb;
                            out->arch = m->hp.arch;
                            out->fits = true;
                            snprintf(out->advice, sizeof out->advice,
                                     "chose %s at context %lld: %s at the asked context %lld did not fit %s",
                                     q == FG_QMIX_NONE ? "the stored types" : fg_quant_mix_name((fg_quant_mix)q),
                                     (long long)c, p.quant ? fg_quant_mix_name((fg_quant_mix)p.quant) : "the stored types",
                                     (long long)n_ctx, gb(limit, b2, sizeof b2));
                            done = true;
                        }
                        if (pass == 0) break;
                    }
                }
            if (!done)
                snprintf(out->advice, sizeof out->advice, "nothing fits %s: even %s at context %d needs more",
                         gb(out->limit, b1, sizeof b1), stored_quantized ? "the stored types" : "q4_k_m", MIN_FIT_CTX);
        } else if (quant_alt[0] || ctx_alt[0]) {
            snprintf(out->advice, sizeof out->advice, "needs %s, limit %s; fits with %s%s%s", gb(out->peak, b1, sizeof b1),
                     gb(out->limit, b2, sizeof b2), quant_alt, quant_alt[0] && ctx_alt[0] ? " or " : "", ctx_alt);
        } else {
            snprintf(out->advice, sizeof out->advice, "needs %s, limit %s; no quantization or context of at least %d fits",
                     gb(out->peak, b1, sizeof b1), gb(out->limit, b2, sizeof b2), MIN_FIT_CTX);
        }
    } else {
        snprintf(out->advice, sizeof out->advice, "predicted peak %s, limit %s, headroom %s", gb(out->peak, b1, sizeof b1),
                 out->limit >= 0 ? gb(out->limit, b2, sizeof b2) : "none",
                 out->limit >= 0 ? gb(out->limit - out->peak, b3, sizeof b3) : "-");
    }
    fg_model_free(m);
    return FG_OK;
}

size_t fg_plan_format(const fg_plan *pl, char *buf, size_t size)
{
    char a[32], b[32], c[32];
    size_t o = 0;
#define OUT(...)                                                                  \
    do {                                                                          \
        int w = snprintf(buf + (o < size ? o : size), o < size ? size - o : 0, __VA_ARGS__); \
        if (w > 0) o += (size_t)w;                                                \
    } while (0)
    OUT("plan: %s, %lld parameters, file %s, context %lld, %s\n", fg_arch_name(pl->arch), (long long)pl->n_params,
        gb(pl->file_bytes, a, sizeof a), (long long)pl->n_ctx,
        pl->quant ? fg_quant_mix_name((fg_quant_mix)pl->quant) : "stored types");
    OUT("  weights      %12s  (%s; with %s of file metadata)\n", gb(pl->weights, a, sizeof a),
        pl->weights_mapped ? "mapped from the file" : "converted while loading", gb(pl->file_metadata, b, sizeof b));
    for (int d = 0; d < FG_DT_COUNT; d++)
        if (pl->weights_by_type[d]) OUT("    %-10s %12s\n", fg_dtype_name((fg_dtype)d), gb(pl->weights_by_type[d], a, sizeof a));
    OUT("  kv cache     %12s  (%s, %s per token x %lld%s; committed as tokens arrive)\n", gb(pl->kv, a, sizeof a),
        fg_dtype_name(pl->kv_type), gb(pl->kv_per_token, b, sizeof b), (long long)pl->kv_positions,
        pl->kv_positions < pl->n_ctx ? " used" : "");
    OUT("  scratch      %12s\n", gb(pl->scratch, a, sizeof a));
    OUT("  tokenizer    %12s  (estimate)\n", gb(pl->tokenizer, a, sizeof a));
    OUT("  runtime      %12s  (estimate)\n", gb(pl->runtime, a, sizeof a));
    if (!pl->weights_mapped) OUT("  load peak    %12s\n", gb(pl->load_peak, a, sizeof a));
    OUT("  peak         %12s\n", gb(pl->peak, a, sizeof a));
    if (pl->limit >= 0) OUT("  limit        %12s  (%s)\n", gb(pl->limit, a, sizeof a), pl->limit_source);
    OUT("  verdict      %s: %s\n", pl->fits ? "fits" : "does not fit", pl->advice);
    (void)c;
#undef OUT
    return o;
}

cJSON *fg_plan_json(const fg_plan *pl)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "architecture", fg_arch_name(pl->arch));
    cJSON_AddNumberToObject(j, "parameters", (double)pl->n_params);
    cJSON_AddNumberToObject(j, "file_bytes", (double)pl->file_bytes);
    cJSON_AddNumberToObject(j, "n_ctx", (double)pl->n_ctx);
    cJSON_AddStringToObject(j, "quant", pl->quant ? fg_quant_mix_name((fg_quant_mix)pl->quant) : "none");
    cJSON_AddNumberToObject(j, "weights", (double)pl->weights);
    cJSON_AddBoolToObject(j, "weights_mapped", pl->weights_mapped);
    cJSON_AddNumberToObject(j, "file_metadata", (double)pl->file_metadata);
    cJSON *bt = cJSON_AddObjectToObject(j, "weights_by_type");
    for (int d = 0; d < FG_DT_COUNT && bt; d++)
        if (pl->weights_by_type[d]) cJSON_AddNumberToObject(bt, fg_dtype_name((fg_dtype)d), (double)pl->weights_by_type[d]);
    cJSON_AddStringToObject(j, "kv_type", fg_dtype_name(pl->kv_type));
    cJSON_AddNumberToObject(j, "kv_per_token", (double)pl->kv_per_token);
    cJSON_AddNumberToObject(j, "kv", (double)pl->kv);
    cJSON_AddNumberToObject(j, "kv_positions", (double)pl->kv_positions);
    cJSON_AddNumberToObject(j, "scratch", (double)pl->scratch);
    cJSON_AddNumberToObject(j, "tokenizer", (double)pl->tokenizer);
    cJSON_AddNumberToObject(j, "runtime", (double)pl->runtime);
    cJSON_AddNumberToObject(j, "load_peak", (double)pl->load_peak);
    cJSON_AddNumberToObject(j, "peak", (double)pl->peak);
    cJSON_AddNumberToObject(j, "limit", (double)pl->limit);
    cJSON_AddStringToObject(j, "limit_source", pl->limit_source);
    cJSON_AddBoolToObject(j, "fits", pl->fits);
    cJSON_AddStringToObject(j, "advice", pl->advice);
    return j;
}
