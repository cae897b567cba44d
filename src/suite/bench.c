/* The bench: one model in this process — load, then `reps` repetitions of
 *   reset the cache; prefill the prompt (logits of the last position only); pick the
 *   first token (greedy): that is the time to first token; then decode n_gen tokens one
 *   at a time, greedy, each step feeding the previous token; then, unless a bandwidth
 *   figure is given, the decode ceiling in pairs of a read and a step (ceiling_pairs);
 * timed with the monotonic clock. Prefill tok/s = prompt tokens / prefill time; decode
 * tok/s = n_gen / time of the n_gen single-token steps. Repetitions are summarised by
 * median, min and max (the first repetition also pays for page faults on the weights).
 *
 * Synthetic prompts are ids drawn with splitmix64 from a fixed seed over the tokenizer's
 * vocabulary, skipping special, control, unused, user-defined and end-of-generation ids
 * (so a prompt looks like text to the model and never ends it). */
#include "suite/suite.h"
#include "format/quant_mix.h"
#include "token/token.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

fg_bench_params fg_bench_default_params(void)
{
    fg_bench_params p = {
        .n_ctx = 4096, .n_prompt = 392, .n_gen = 128, .reps = 3, .seed = 1234,
    };
    return p;
}

/* The ceiling is measured in pairs (see ceiling_pairs): BW_PAIRS per repetition, each a
 * read-rate measurement of BW_PAIR_PASSES passes (one per access pattern, the better
 * counts) and one decode step. */
#define BW_PAIRS 16
#define BW_PAIR_PASSES 2
_Static_assert(BW_PAIRS <= FG_BENCH_MAX_REPS, "fg_bench_stats takes the pairs");

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

fg_bench_stat fg_bench_stats(const double *v, int n)
{
    fg_bench_stat s = {0, 0, 0};
    if (n <= 0) return s;
    double sorted[FG_BENCH_MAX_REPS];
    if (n > FG_BENCH_MAX_REPS) n = FG_BENCH_MAX_REPS;
    memcpy(sorted, v, (size_t)n * sizeof *v);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    s.min = sorted[0];
    s.max = sorted[n - 1];
    s.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    return s;
}

int64_t fg_bench_param_count(const fg_hparams *hp)
{
    int64_t E = hp->n_embd, hd = hp->head_dim, q = hp->n_head * hd, kv = hp->n_head_kv * hd;
    int64_t layer = 2 * E                          /* attn_norm, ffn_norm */
                    + E * q + 2 * E * kv + q * E   /* wq, wk, wv, wo */
                    + 3 * E * hp->n_ff;            /* gate, up, down */
    if (hp->has_qkv_bias) layer += q + 2 * kv;
    if (hp->has_qk_norm) layer += 2 * hd;
    int64_t n = hp->n_vocab * E + hp->n_layer * layer + E;
    if (!hp->tied_output) n += hp->n_vocab * E;
    return n;
}

int64_t fg_bench_file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) return (int64_t)st.st_size;
    DIR *d = opendir(path);
    if (!d) return -1;
    int64_t total = 0;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 12 || strcmp(e->d_name + n - 12, ".safetensors")) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) total += (int64_t)st.st_size;
    }
    closedir(d);
    return total;
}

/* llama.cpp's LLAMA_FTYPE numbers (GGUF general.file_type) for the types we compute with. */
static const char *ftype_name(uint64_t ft)
{
    switch (ft) {
    case 0: return "f32";
    case 1: return "f16";
    case 2: return "q4_0";
    case 7: return "q8_0";
    case 14: return "q4_k_s";
    case 15: return "q4_k_m";
    case 16: return "q5_k_s";
    case 17: return "q5_k_m";
    case 18: return "q6_k";
    case 32: return "bf16";
    default: return NULL;
    }
}

static void weight_type(const fg_model *m, int quant, char *out, size_t size)
{
    if (quant) {
        snprintf(out, size, "%s", fg_quant_mix_name((fg_quant_mix)quant));
        return;
    }
    const fg_gguf *g = fg_model_gguf(m);
    if (g) {
        uint64_t ft;
        const char *n = fg_gguf_get_u64(g, "general.file_type", &ft) ? ftype_name(ft) : NULL;
        if (n) {
            snprintf(out, size, "%s", n);
            return;
        }
        /* no (known) file type: the dtype holding most bytes among the matrices */
        uint64_t bytes[FG_DT_COUNT] = {0};
        for (uint64_t i = 0; i < g->n_tensors; i++)
            if (g->tensors[i].n_dims == 2 && g->tensors[i].dtype >= 0 && g->tensors[i].dtype < FG_DT_COUNT)
                bytes[g->tensors[i].dtype] += g->tensors[i].nbytes;
        int best = 0;
        for (int d = 1; d < FG_DT_COUNT; d++)
            if (bytes[d] > bytes[best]) best = d;
        snprintf(out, size, "%s", fg_dtype_name((fg_dtype)best));
        return;
    }
    fg_hf_config cfg;
    const char *dir = fg_model_dir(m);
    const char *t = dir && fg_hf_config_load(dir, &cfg) == FG_OK ? cfg.torch_dtype : "";
    snprintf(out, size, "%s", !strcmp(t, "bfloat16") ? "bf16" : !strcmp(t, "float16") ? "f16"
                              : !strcmp(t, "float32") ? "f32" : *t ? t : "?");
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool plain_id(const fg_tokenizer *tok, int32_t id)
{
    if (!tok) return true;
    fg_tok_type t = fg_tok_token_type(tok, id);
    return (t == FG_TOKT_NORMAL || t == FG_TOKT_BYTE) && !fg_tok_is_special(tok, id) && !fg_tok_is_eog(tok, id);
}

static fg_status synthetic_prompt(const fg_tokenizer *tok, int64_t n_vocab, uint64_t seed, int32_t *ids, int64_t n)
{
    int64_t v = n_vocab;
    if (tok && fg_tok_vocab_size(tok) < v) v = fg_tok_vocab_size(tok);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        int tries = 0;
        int32_t id;
        do {
            id = (int32_t)(splitmix64(&s) % (uint64_t)v);
        } while (!plain_id(tok, id) && ++tries < 1000);
        if (tries >= 1000) return fg_error(FG_ERR_FORMAT, "the tokenizer has (almost) no plain tokens to make a prompt of");
        ids[i] = id;
    }
    return FG_OK;
}

static void phase(const fg_bench_params *p, const char *name)
{
    if (p->on_phase) p->on_phase(name, p->user);
}

/* The decode ceiling, measured in pairs: a shared or virtual machine's read bandwidth
 * moves by tens of percent within a second (seen here: one pass over 343 MiB read at
 * 19 to 31 GB/s from one pass to the next), so a figure taken at another moment than
 * the decode it is compared with says more about the moment than about the decode.
 * A pair is one read-rate measurement of the very bytes a token reads, in place, with
 * the machine's best access pattern (fg_session_weight_read_rate: BW_PAIR_PASSES
 * passes, the better counts), next to one decode step: the token `tok` again at the
 * last position the repetition fed (truncate, then eval: the same work as the
 * repetition's last step, at no position beyond the context it checked). Even pairs
 * read first, odd ones step first, so a trend within a pair cancels out (the two orders
 * gave the same median, 0.871, on 1.5B Q4_K_M). Of BW_PAIRS pairs: *gbs the median read
 * rate and *frac the median of (time to read the bytes at the pair's rate) / (time of
 * its step). */
static fg_status ceiling_pairs(fg_session *s, int32_t tok, double bytes, float *logits, double *gbs, double *frac)
{
    double rate[BW_PAIRS], ratio[BW_PAIRS];
    const int64_t pos = fg_session_n_past(s) - 1;
    for (int i = 0; i < BW_PAIRS; i++) {
        double g = i & 1 ? 0 : fg_session_weight_read_rate(s, BW_PAIR_PASSES);
        fg_session_truncate(s, pos);
        double a = now_s();
        fg_status st = fg_session_eval(s, &tok, 1, FG_LOGITS_LAST, logits);
        double t = now_s() - a;
        if (st) return st;
        if (i & 1) g = fg_session_weight_read_rate(s, BW_PAIR_PASSES);
        if (g <= 0) return fg_error(FG_ERR_INTERNAL, "bench: %s", fg_last_error());
        rate[i] = g;
        ratio[i] = bytes / (g * 1e9) / (t > 0 ? t : 1e-9);
    }
    *gbs = fg_bench_stats(rate, BW_PAIRS).median;
    *frac = fg_bench_stats(ratio, BW_PAIRS).median;
    return FG_OK;
}

fg_status fg_bench_run(const fg_bench_params *p, fg_bench_result *r)
{
    memset(r, 0, sizeof *r);
    if (!p || !p->model) return fg_error(FG_ERR_ARG, "bench: no model");
    if (p->reps < 1 || p->reps > FG_BENCH_MAX_REPS)
        return fg_error(FG_ERR_ARG, "bench: repetitions must be 1..%d (got %d)", FG_BENCH_MAX_REPS, p->reps);
    if (p->n_gen < 0 || (p->n_texts == 0 && p->n_prompt < 1))
        return fg_error(FG_ERR_ARG, "bench: the prompt needs at least one token and -n cannot be negative");
    snprintf(r->model, sizeof r->model, "%s", p->model);
    r->reps = p->reps;
    r->n_gen = p->n_gen;
    r->bandwidth_gbs = r->ceiling_tok_s = r->ceiling_fraction = -1;
    int n_threads = p->n_threads > 0 ? p->n_threads : fg_physical_cores();
    r->n_threads = n_threads;
    snprintf(r->isa, sizeof r->isa, "%s", fg_isa_name(fg_isa_active()));

    /* the ceiling: measured in pairs with decode steps after each repetition, or given;
     * nothing to compare without decode (-n 0) */
    const bool measure_bw = p->bandwidth_gbs == 0 && p->n_gen > 0, have_bw = p->bandwidth_gbs >= 0 && p->n_gen > 0;
    double *frac = r->ceiling_fraction_runs;

    fg_model *m = NULL;
    fg_session *s = NULL;
    fg_tokenizer *tok = NULL;
    int32_t **prompts = NULL;
    int64_t *prompt_len = NULL;
    float *logits = NULL;
    int n_prompts = p->n_texts > 0 ? p->n_texts : 1;
    fg_status st;

    phase(p, "load");
    double t0 = now_s();
    fg_model_params mp = fg_model_default_params();
    mp.n_threads = n_threads;
    mp.quant = p->quant;
    if ((st = fg_model_load(p->model, &mp, &m))) goto done;
    const fg_hparams *hp = fg_model_hparams(m);
    /* the tokenizer is part of what a real run costs, and tells special ids apart */
    st = fg_model_gguf(m) ? fg_tok_load_gguf(fg_model_gguf(m), &tok) : fg_tok_load_hf(fg_model_dir(m), &tok);
    if (st) {
        if (p->n_texts > 0) goto done;
        tok = NULL; /* a model without a tokenizer can still be timed with raw ids */
    }
    fg_session_params sp = fg_session_default_params();
    sp.n_ctx = p->n_ctx > 0 ? p->n_ctx : 4096;
    sp.n_threads = n_threads;
    if (p->n_batch > 0) sp.n_batch = p->n_batch;
    if ((st = fg_session_create(m, &sp, &s))) goto done;
    /* The weights a token reads, read once before anything is timed: the mapping is
     * lazy, so a file that is not (or no longer) in the page cache would otherwise come
     * from the disk inside the first prefill. peer.sh's one-repetition rounds showed it:
     * the first round of each model ran at 0.4-0.5x the others' prefill (1.5B Q8_0: 61.9
     * against 151.0 tok/s, first token 6.3 s against 2.6). This read is loading. */
    if (fg_session_weight_read_rate(s, 1) < 0) {
        st = fg_error(FG_ERR_NOMEM, "bench: %s", fg_last_error());
        goto done;
    }
    r->load_s = now_s() - t0;

    snprintf(r->arch, sizeof r->arch, "%s", fg_arch_name(hp->arch));
    weight_type(m, p->quant, r->weight_type, sizeof r->weight_type);
    r->n_params = fg_bench_param_count(hp);
    r->file_size = fg_bench_file_size(p->model);
    r->weight_bytes = (int64_t)fg_model_weight_bytes(m);
    r->weight_bytes_per_token = (int64_t)fg_model_weight_bytes_per_token(m);
    r->n_ctx = fg_session_n_ctx(s);
    r->kv_bytes_per_token = (int64_t)fg_session_kv_bytes_per_token(s);
    r->tokenizer_bytes = tok ? (int64_t)fg_tok_memory(tok) : 0;

    prompts = calloc((size_t)n_prompts, sizeof *prompts);
    prompt_len = calloc((size_t)n_prompts, sizeof *prompt_len);
    logits = fg_malloc(FG_MEM_SCRATCH, (size_t)hp->n_vocab * sizeof(float));
    if (!prompts || !prompt_len || !logits) {
        st = fg_error(FG_ERR_NOMEM, "bench: out of memory for prompts and logits");
        goto done;
    }
    int64_t longest = 0;
    for (int i = 0; i < n_prompts; i++) {
        if (p->n_texts > 0) {
            size_t n = 0;
            if ((st = fg_tok_encode_alloc(tok, p->texts[i], strlen(p->texts[i]), true, fg_tok_add_bos_default(tok),
                                          &prompts[i], &n)))
                goto done;
            if (n == 0) {
                st = fg_error(FG_ERR_ARG, "bench: prompt %d is empty", i + 1);
                goto done;
            }
            prompt_len[i] = (int64_t)n;
        } else {
            prompt_len[i] = p->n_prompt;
            if (!(prompts[i] = fg_malloc(FG_MEM_SCRATCH, (size_t)p->n_prompt * sizeof(int32_t)))) {
                st = fg_error(FG_ERR_NOMEM, "bench: out of memory for the prompt");
                goto done;
            }
            if ((st = synthetic_prompt(tok, hp->n_vocab, p->seed, prompts[i], p->n_prompt))) goto done;
        }
        if (prompt_len[i] > longest) longest = prompt_len[i];
    }
    r->n_prompt = longest;
    if (longest + p->n_gen > r->n_ctx) {
        st = fg_error(FG_ERR_CONTEXT, "bench: %lld prompt + %lld generated tokens do not fit the context of %lld (use --ctx)",
                      (long long)longest, (long long)p->n_gen, (long long)r->n_ctx);
        goto done;
    }
    int64_t n_pick = tok && fg_tok_vocab_size(tok) < hp->n_vocab ? fg_tok_vocab_size(tok) : hp->n_vocab;

    for (int rep = 0; rep < p->reps; rep++) {
        const int32_t *ids = prompts[rep % n_prompts];
        int64_t n = prompt_len[rep % n_prompts];
        fg_session_truncate(s, 0);
        phase(p, "prefill");
        double a = now_s();
        if ((st = fg_session_eval(s, ids, n, FG_LOGITS_LAST, logits))) goto done;
        double b = now_s();
        int32_t next = (int32_t)fg_vec_argmax(logits, n_pick);
        double c = now_s();
        r->prefill_runs[rep] = (double)n / (b - a > 0 ? b - a : 1e-9);
        r->ttft_runs[rep] = (c - a) * 1e3;
        phase(p, "decode");
        int32_t fed = ids[n - 1]; /* the token the last step fed */
        if (p->profile) fg_session_set_profile(s, &r->profile);
        double d0 = now_s();
        for (int64_t i = 0; i < p->n_gen; i++) {
            if ((st = fg_session_eval(s, &next, 1, FG_LOGITS_LAST, logits))) goto done;
            fed = next;
            next = (int32_t)fg_vec_argmax(logits, n_pick);
        }
        double dt = now_s() - d0;
        fg_session_set_profile(s, NULL);
        r->decode_runs[rep] = p->n_gen > 0 ? (double)p->n_gen / (dt > 0 ? dt : 1e-9) : 0;
        if (measure_bw) {
            phase(p, "bandwidth");
            if ((st = ceiling_pairs(s, fed, (double)r->weight_bytes_per_token, logits, &r->bandwidth_runs[rep],
                                    &frac[rep])))
                goto done;
        } else if (have_bw) {
            r->bandwidth_runs[rep] = p->bandwidth_gbs;
            frac[rep] = r->decode_runs[rep] / (p->bandwidth_gbs * 1e9 / (double)r->weight_bytes_per_token);
        }
    }
    r->prefill_tok_s = fg_bench_stats(r->prefill_runs, p->reps);
    r->decode_tok_s = fg_bench_stats(r->decode_runs, p->reps);
    r->ttft_ms = fg_bench_stats(r->ttft_runs, p->reps);
    if (have_bw && r->weight_bytes_per_token > 0) {
        r->bandwidth_gbs = fg_bench_stats(r->bandwidth_runs, p->reps).median;
        r->ceiling_tok_s = r->bandwidth_gbs * 1e9 / (double)r->weight_bytes_per_token;
        r->ceiling_fraction = fg_bench_stats(frac, p->reps).median;
        r->ceiling_pairs = measure_bw ? BW_PAIRS : 0;
    }

    /* memory, with everything still loaded */
    phase(p, "done");
    if ((st = fg_mem_breakdown_get(NULL, &r->breakdown))) goto done;
    r->peak_rss = r->breakdown.kernel.vm_hwm;
    r->kv_used = r->breakdown.peak[FG_MEM_KV];
    r->converted = r->breakdown.peak[FG_MEM_WEIGHTS_OWNED] > 0;
    r->overhead = r->peak_rss - (r->converted ? r->weight_bytes : r->file_size) - r->kv_used;
    st = FG_OK;
done:
    if (prompts)
        for (int i = 0; i < n_prompts; i++) fg_free(prompts[i]);
    free(prompts);
    free(prompt_len);
    fg_free(logits);
    fg_session_free(s);
    fg_tok_free(tok);
    fg_model_free(m);
    return st;
}

fg_bench_phase fg_bench_profile_phase(const fg_bench_result *r, int i)
{
    const fg_profile *p = &r->profile;
    double total = 0;
    for (int k = 0; k < FG_PROF_PHASES; k++) total += p->seconds[k];
    const double steps = p->steps > 0 ? (double)p->steps : 1, sec = p->seconds[i], bytes = p->weight_bytes[i];
    return (fg_bench_phase){.name = fg_profile_phase_name(i),
                            .ms_per_step = sec / steps * 1e3,
                            .share = total > 0 ? sec / total : 0,
                            .weight_bytes_per_step = bytes / steps,
                            .weight_gb_s = bytes > 0 && sec > 0 ? bytes / sec / 1e9 : -1};
}

/* ---- JSON ----------------------------------------------------------------------------- */

static cJSON *stat_json(fg_bench_stat s, const double *runs, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "median", s.median);
    cJSON_AddNumberToObject(o, "min", s.min);
    cJSON_AddNumberToObject(o, "max", s.max);
    cJSON_AddItemToObject(o, "runs", cJSON_CreateDoubleArray(runs, n));
    return o;
}

cJSON *fg_bench_result_json(const fg_bench_result *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON_AddStringToObject(o, "arch", r->arch);
    cJSON_AddStringToObject(o, "weight_type", r->weight_type);
    cJSON_AddNumberToObject(o, "n_params", (double)r->n_params);
    cJSON_AddNumberToObject(o, "file_size", (double)r->file_size);
    cJSON_AddNumberToObject(o, "weight_bytes", (double)r->weight_bytes);
    cJSON_AddNumberToObject(o, "weight_bytes_per_token", (double)r->weight_bytes_per_token);
    cJSON_AddNumberToObject(o, "n_ctx", (double)r->n_ctx);
    cJSON_AddNumberToObject(o, "n_prompt", (double)r->n_prompt);
    cJSON_AddNumberToObject(o, "n_gen", (double)r->n_gen);
    cJSON_AddNumberToObject(o, "reps", r->reps);
    cJSON_AddNumberToObject(o, "n_threads", r->n_threads);
    cJSON_AddStringToObject(o, "isa", r->isa);
    cJSON_AddNumberToObject(o, "load_s", r->load_s);
    cJSON_AddItemToObject(o, "prefill_tok_s", stat_json(r->prefill_tok_s, r->prefill_runs, r->reps));
    cJSON_AddItemToObject(o, "decode_tok_s", stat_json(r->decode_tok_s, r->decode_runs, r->reps));
    cJSON_AddItemToObject(o, "ttft_ms", stat_json(r->ttft_ms, r->ttft_runs, r->reps));
    if (r->bandwidth_gbs > 0) {
        cJSON_AddItemToObject(o, "bandwidth_gb_s_runs", cJSON_CreateDoubleArray(r->bandwidth_runs, r->reps));
        cJSON_AddNumberToObject(o, "bandwidth_gb_s", r->bandwidth_gbs);
        cJSON_AddNumberToObject(o, "ceiling_tok_s", r->ceiling_tok_s);
        cJSON_AddNumberToObject(o, "ceiling_fraction", r->ceiling_fraction);
        cJSON_AddItemToObject(o, "ceiling_fraction_runs", cJSON_CreateDoubleArray(r->ceiling_fraction_runs, r->reps));
        cJSON_AddNumberToObject(o, "ceiling_pairs", r->ceiling_pairs);
    } else {
        cJSON_AddNullToObject(o, "bandwidth_gb_s");
        cJSON_AddNullToObject(o, "ceiling_tok_s");
        cJSON_AddNullToObject(o, "ceiling_fraction");
        cJSON_AddNullToObject(o, "ceiling_fraction_runs");
        cJSON_AddNullToObject(o, "ceiling_pairs");
    }
    if (r->profile.steps > 0) {
        cJSON *dp = cJSON_AddObjectToObject(o, "decode_profile");
        cJSON *ph = dp ? cJSON_AddArrayToObject(dp, "phases") : NULL;
        if (ph) {
            cJSON_AddNumberToObject(dp, "steps", (double)r->profile.steps);
            for (int i = 0; i < FG_PROF_PHASES; i++) {
                cJSON *e = cJSON_CreateObject();
                if (!e) break;
                const fg_bench_phase f = fg_bench_profile_phase(r, i);
                cJSON_AddStringToObject(e, "name", f.name);
                cJSON_AddNumberToObject(e, "ms_per_step", f.ms_per_step);
                cJSON_AddNumberToObject(e, "share", f.share);
                cJSON_AddNumberToObject(e, "weight_bytes_per_step", f.weight_bytes_per_step);
                if (f.weight_gb_s >= 0) cJSON_AddNumberToObject(e, "weight_gb_s", f.weight_gb_s);
                else cJSON_AddNullToObject(e, "weight_gb_s");
                cJSON_AddItemToArray(ph, e);
            }
        }
    } else {
        cJSON_AddNullToObject(o, "decode_profile");
    }
    cJSON_AddNumberToObject(o, "peak_rss", (double)r->peak_rss);
    cJSON_AddNumberToObject(o, "kv_used", (double)r->kv_used);
    cJSON_AddNumberToObject(o, "kv_bytes_per_token", (double)r->kv_bytes_per_token);
    cJSON_AddNumberToObject(o, "tokenizer_bytes", (double)r->tokenizer_bytes);
    cJSON_AddNumberToObject(o, "overhead", (double)r->overhead);
    cJSON_AddBoolToObject(o, "converted", r->converted);
    if (fg_bench_file_pmd(r) >= 0) cJSON_AddNumberToObject(o, "file_pmd_mapped", (double)fg_bench_file_pmd(r));
    else cJSON_AddNullToObject(o, "file_pmd_mapped");
    cJSON *bd = fg_mem_breakdown_json(&r->breakdown);
    if (bd) cJSON_AddItemToObject(o, "breakdown", bd);
    else cJSON_AddNullToObject(o, "breakdown");
    return o;
}
