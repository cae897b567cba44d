/* frugal run MODEL (--ids 1,2,3 | -p TEXT) [-n N]: evaluates a prompt and generates.
 * With --ids, generated ids are printed; with -p, the continuation streams as text.
 * With --top-logits, prints for every prompt position the top-K (id, logit) pairs of
 * the next-token distribution and its logsumexp (the shape of the golden files'
 * `reference` entries). Greedy unless sampling options say otherwise. */
#include "cli/cli.h"
#include "format/quant_mix.h"
#include "mem/mem.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_CHUNK 16 /* prompt positions evaluated per step when all logits are wanted */

typedef struct run_opts {
    const char *model;
    int32_t *ids;
    int64_t n_ids;
    long long n_gen, top_k;
    bool json, verbose, no_special, mlock, ignore_eos;
    const char *memory_report;
    const char *text;
    fg_plan_params plan;
    fg_sampler_params sp;
} run_opts;

static void usage(void)
{
    printf("usage: frugal run MODEL (--ids ID,ID,... | -p TEXT) [-n N] [options]\n"
           "  --ids LIST        prompt token ids, comma-separated (generated ids are printed)\n"
           "  -p, --prompt TEXT prompt text (special tokens written literally are parsed;\n"
           "                    the continuation streams as text); '-' reads stdin\n"
           "  --no-special      do not parse special tokens in the prompt text\n"
           "  -n N              tokens to generate (default 16 with --ids, 128 with -p)\n"
           "  --top-logits K    print the top-K logits and logsumexp at every prompt position\n"
           "  --json            machine-readable output\n"
           "  --ctx N           context size (default min(trained, 4096))\n"
           "  --batch N         prefill chunk (default 256)\n"
           "  --threads N       threads (default: physical cores)\n"
           "  --quant TYPE      quantize while loading: q8_0, q4_0, q6_k, q4_k_m, q5_k_m, f16, bf16\n"
           "  --kv-type T       KV cache type: f16 (default), f32, q8_0\n"
           "  --mem-limit SIZE  memory limit (default: the cgroup's, else MemAvailable)\n"
           "  --fit             choose the quantization and context that fit the limit\n"
           "  --mlock           keep the weights resident (counted against the limit)\n"
           "  --ignore-eos      with -p: generate -n tokens even past an end-of-generation token\n"
           "  --memory-report FILE  write the memory timeline and breakdown (JSON)\n"
           "  -v, --verbose     the plan, timings and the memory breakdown on stderr\n%s", cli_sampling_help());
}

static bool emit_text(const char *text, size_t len, int32_t id, void *user)
{
    (void)id;
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

/* Reads all of stdin (byte-exact). */
static char *read_stdin(size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n - 1, stdin);
        n += r;
        if (r == 0) break;
        if (n + 1 == cap) {
            char *nb = cap < (1u << 30) ? realloc(buf, cap *= 2) : NULL;
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
    }
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

static bool parse_ids(const char *s, run_opts *o)
{
    size_t n = 1;
    for (const char *p = s; *p; p++) n += *p == ',';
    o->ids = calloc(n, sizeof *o->ids);
    if (!o->ids) return false;
    o->n_ids = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || (*end && *end != ',')) return false;
        o->ids[o->n_ids++] = (int32_t)v;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p) return false;
    }
    return o->n_ids > 0;
}

/* The top-k entries (highest first) and logsumexp of one row of logits. */
static void row_summary(const float *row, int64_t n, int k, int32_t *ids, float *vals, double *lse)
{
    int have = 0;
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        float v = row[i];
        if (v > mx) mx = v;
        if (have < k || v > vals[have - 1]) {
            int j = have < k ? have++ : k - 1;
            while (j > 0 && vals[j - 1] < v) {
                vals[j] = vals[j - 1];
                ids[j] = ids[j - 1];
                j--;
            }
            vals[j] = v;
            ids[j] = (int32_t)i;
        }
    }
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += exp((double)row[i] - mx);
    *lse = mx + log(sum);
}

int cmd_run(int argc, char **argv)
{
    run_opts o = {.n_gen = -1, .top_k = 0};
    o.plan = fg_plan_default_params();
    o.sp = fg_sampler_default_params();
    o.sp.temperature = 0;
    int rc = 1;
    char *stdin_text = NULL;
    fg_tokenizer *tok = NULL;
    fg_sampler *smp = NULL;
    for (int i = 1; i < argc; i++) {
        int so = cli_sampling_option(argc, argv, &i, &o.sp);
        if (so == 0) so = cli_plan_option(argc, argv, &i, &o.plan);
        if (so < 0) goto out;
        if (so > 0) continue;
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
#define NEED_VALUE() do { if (!v) { cli_fail("run: %s needs a value", a); goto out; } i++; } while (0)
        if (!strcmp(a, "--ids")) {
            NEED_VALUE();
            if (!parse_ids(v, &o)) {
                cli_fail("run: --ids wants comma-separated non-negative integers, got '%s'", v);
                goto out;
            }
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            NEED_VALUE();
            if (!cli_parse_int(v, 0, 1 << 24, &o.n_gen)) { cli_fail("run: -n wants a count, got '%s'", v); goto out; }
        } else if (!strcmp(a, "--top-logits")) {
            NEED_VALUE();
            if (!cli_parse_int(v, 1, 1000, &o.top_k)) { cli_fail("run: --top-logits wants 1..1000, got '%s'", v); goto out; }
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            NEED_VALUE();
            o.text = v;
        } else if (!strcmp(a, "--mlock")) {
            o.mlock = true;
        } else if (!strcmp(a, "--ignore-eos")) {
            o.ignore_eos = true;
        } else if (!strcmp(a, "--memory-report")) {
            NEED_VALUE();
            o.memory_report = v;
        } else if (!strcmp(a, "--no-special")) {
            o.no_special = true;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o.verbose = true;
        } else if (!strcmp(a, "--json")) {
            o.json = true;
        } else if (a[0] == '-' && a[1]) {
            cli_fail("run: unknown option '%s'", a);
            goto out;
        } else if (!o.model) {
            o.model = a;
        } else {
            cli_fail("run: unexpected argument '%s'", a);
            goto out;
        }
#undef NEED_VALUE
    }
    if (!o.model) { cli_fail("run: no model given (usage: frugal run MODEL --ids 1,2,3)"); goto out; }
    if (!o.ids && !o.text) { cli_fail("run: no prompt given (--ids or -p)"); goto out; }
    if (o.ids && o.text) { cli_fail("run: give either --ids or -p, not both"); goto out; }
    if (o.n_gen < 0) o.n_gen = o.text ? 128 : 16;
    if (o.json && o.text) { cli_fail("run: --json goes with --ids (use `frugal tokenize` to get ids)"); goto out; }

    /* refuse before loading what does not fit (--fit: choose what does); a prompt of
     * text is counted at one token per byte until it is tokenized */
    o.plan.n_tokens = (o.ids ? o.n_ids : (int64_t)strlen(o.text)) + o.n_gen;
    /* one prefill of the prompt, then one token at a time: the scratch arena is sized
     * for min(--batch, prompt tokens), and so is the plan (a text prompt is counted at
     * its bytes plus two, BOS and a leading-space marker; from stdin it is unknown) */
    int64_t prompt_max = o.ids ? o.n_ids : strcmp(o.text, "-") ? (int64_t)strlen(o.text) + 2 : 0;
    if (prompt_max > 0 && prompt_max < o.plan.n_batch) o.plan.n_batch = (int)prompt_max;
    if (cli_plan_check(o.model, &o.plan, o.verbose)) goto out;
    fg_model_params mp = fg_model_default_params();
    mp.n_threads = o.plan.n_threads;
    mp.quant = o.plan.quant;
    fg_model *m = NULL;
    fg_session *s = NULL;
    fg_budget *budget = NULL;
    float *logits = NULL;
    fg_budget_params bp = fg_budget_default_params();
    bp.limit = o.plan.mem_limit;
    bp.margin = o.plan.margin;
    fg_timeline *tl = NULL;
    fg_status st = fg_budget_create(&bp, &budget);
    if (st) { cli_fail_status(st, "memory budget"); goto done; }
    if (o.memory_report) {
        fg_timeline_params tp = fg_timeline_default_params();
        tp.budget = budget;
        if ((st = fg_timeline_create(&tp, &tl)) || (st = fg_timeline_start(tl))) { cli_fail_status(st, "memory timeline"); goto done; }
        fg_timeline_mark(tl, "load");
    }
    mp.mlock = o.mlock;
    st = fg_model_load(o.model, &mp, &m);
    if (st) { cli_fail_status(st, "cannot load %s", o.model); goto out; }
    const fg_hparams *hp = fg_model_hparams(m);
    if (o.text) {
        if ((st = cli_load_tokenizer(m, &tok))) { cli_fail_status(st, "cannot load the tokenizer of %s", o.model); goto done; }
        const char *txt = o.text;
        size_t len = strlen(txt);
        if (!strcmp(txt, "-")) {
            if (!(stdin_text = read_stdin(&len))) { cli_fail("run: cannot read the prompt from stdin"); goto done; }
            txt = stdin_text;
        }
        size_t n = 0;
        if ((st = fg_tok_encode_alloc(tok, txt, len, !o.no_special, fg_tok_add_bos_default(tok), &o.ids, &n))) {
            o.ids = NULL;
            cli_fail_status(st, "cannot tokenize the prompt");
            goto done;
        }
        o.n_ids = (int64_t)n;
        if (n == 0) { cli_fail("run: the prompt is empty"); goto done; }
    }
    fg_session_params sp = fg_session_default_params();
    sp.n_ctx = o.plan.n_ctx;
    sp.n_batch = o.n_ids < o.plan.n_batch ? (int)o.n_ids : o.plan.n_batch;
    sp.n_threads = o.plan.n_threads;
    sp.budget = budget;
    sp.kv_type = o.plan.kv_type;
    if ((st = fg_session_create(m, &sp, &s))) { cli_fail_status(st, "cannot create a session"); goto done; }
    if (o.n_ids + o.n_gen > fg_session_n_ctx(s)) {
        cli_fail("run: %lld prompt + %lld generated tokens do not fit the context of %lld (use --ctx)",
                 (long long)o.n_ids, o.n_gen, (long long)fg_session_n_ctx(s));
        goto done;
    }
    int64_t rows = o.top_k ? LOGIT_CHUNK : 1;
    logits = fg_malloc(FG_MEM_SCRATCH, (size_t)(rows * hp->n_vocab) * sizeof(float));
    if (!logits) { cli_fail("run: out of memory for logits"); goto done; }

    if (o.json) printf("{\"model\":\"%s\",\"ids\":[", o.model);
    if (o.json)
        for (int64_t i = 0; i < o.n_ids; i++) printf("%s%d", i ? "," : "", o.ids[i]);
    if (o.json) printf("]");
    if (o.top_k) {
        int k = (int)o.top_k;
        int32_t tid[1000];
        float tval[1000];
        if (o.json) printf(",\"reference\":[");
        for (int64_t off = 0; off < o.n_ids; off += LOGIT_CHUNK) {
            int64_t n = o.n_ids - off < LOGIT_CHUNK ? o.n_ids - off : LOGIT_CHUNK;
            if ((st = fg_session_eval(s, o.ids + off, n, FG_LOGITS_ALL, logits))) { cli_fail_status(st, "evaluation failed"); goto done; }
            for (int64_t r = 0; r < n; r++) {
                double lse;
                row_summary(logits + r * hp->n_vocab, hp->n_vocab, k, tid, tval, &lse);
                if (o.json) {
                    printf("%s{\"logsumexp\":%.6f,\"top\":[", off + r ? "," : "", lse);
                    for (int j = 0; j < k; j++) printf("%s[%d,%.6f]", j ? "," : "", tid[j], tval[j]);
                    printf("]}");
                } else {
                    printf("pos %lld  logsumexp %.6f  top:", (long long)(off + r), lse);
                    for (int j = 0; j < k; j++) printf(" %d:%.4f", tid[j], tval[j]);
                    printf("\n");
                }
            }
        }
        if (o.json) printf("]");
        /* the next token's logits are those of the prompt's last position */
        memmove(logits, logits + ((o.n_ids - 1) % LOGIT_CHUNK) * hp->n_vocab, (size_t)hp->n_vocab * sizeof(float));
    }
    if ((st = fg_sampler_create(&o.sp, hp->n_vocab, &smp))) { cli_fail_status(st, "sampler"); goto done; }
    if (o.text) {
        fg_gen_params gp = {.max_tokens = o.n_gen, .stop_at_eog = !o.ignore_eos, .skip_special = false, .timeline = tl};
        fg_gen_result res;
        if ((st = fg_generate(s, tok, smp, o.ids, o.n_ids, &gp, emit_text, NULL, &res))) {
            printf("\n");
            cli_fail_status(st, "generation failed");
            goto done;
        }
        printf("\n");
        if (res.finish == FG_FINISH_BUDGET || res.finish == FG_FINISH_CONTEXT)
            fprintf(stderr, "frugal: generation stopped after %lld tokens: %s: %s\n", (long long)res.n_generated,
                    fg_finish_name(res.finish), fg_last_error());
        if (o.verbose)
            fprintf(stderr, "prompt %lld tokens in %.3f s (%.1f tok/s); generated %lld in %.3f s (%.1f tok/s); finish: %s\n",
                    (long long)res.n_prompt, res.t_prefill_s, (double)(res.n_prompt - res.n_cached) / (res.t_prefill_s > 0 ? res.t_prefill_s : 1),
                    (long long)res.n_generated, res.t_decode_s,
                    res.n_generated > 1 && res.t_decode_s > 0 ? (double)(res.n_generated - 1) / res.t_decode_s : 0.0,
                    fg_finish_name(res.finish));
        rc = 0;
        goto done;
    }
    if (tl) fg_timeline_mark(tl, "prefill");
    if (!o.top_k && (st = fg_session_eval(s, o.ids, o.n_ids, FG_LOGITS_LAST, logits))) {
        cli_fail_status(st, "evaluation failed");
        goto done;
    }
    if (tl) fg_timeline_mark(tl, "decode");
    if (o.json) printf(",\"greedy\":[");
    else if (o.n_gen) printf("greedy:");
    for (long long i = 0; i < o.n_gen; i++) {
        int32_t next = o.sp.temperature > 0 ? fg_sampler_sample(smp, logits) : (int32_t)fg_vec_argmax(logits, hp->n_vocab);
        printf(o.json ? "%s%d" : "%s%d", o.json && i ? "," : (o.json ? "" : " "), next);
        fflush(stdout);
        if (i + 1 < o.n_gen && (st = fg_session_eval(s, &next, 1, FG_LOGITS_LAST, logits))) {
            printf("\n");
            cli_fail_status(st, "generation stopped");
            goto done;
        }
    }
    printf(o.json ? "]}\n" : "\n");
    rc = 0;
done:
    if (tl) {
        fg_timeline_mark(tl, "end");
        fg_timeline_stop(tl);
        if (rc == 0 && (st = fg_timeline_write_json(tl, o.memory_report))) rc = cli_fail_status(st, "cannot write %s", o.memory_report);
        fg_timeline_free(tl);
    }
    if (o.verbose && m) {
        fg_mem_breakdown br;
        char buf[4096];
        if (fg_mem_breakdown_get(NULL, &br) == FG_OK) {
            fg_mem_breakdown_format(&br, buf, sizeof buf);
            fputs(buf, stderr);
        }
    }
    fg_sampler_free(smp);
    fg_tok_free(tok);
    free(stdin_text);
    fg_free(logits);
    fg_session_free(s);
    fg_model_free(m);
    fg_budget_free(budget);
out:
    if (o.text) fg_free(o.ids);
    else free(o.ids);
    return rc;
}
