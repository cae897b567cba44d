/* frugal bench MODEL [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-r REPS] [--ctx N] [--threads N]
 *                    [--json] [--memory-report FILE] [--profile] [--verbose] ...
 *
 * Prefill and decode speed (median of the repetitions, with min/max), time to first
 * token, the rate at which the threads stream the weights (the read bandwidth for them)
 * and the decode ceiling it implies, peak RSS and
 * its overhead over file + KV. The measuring is src/suite/bench.c; this file parses
 * options, prints, and speaks the suite's phase protocol (--phase-fd).
 *
 * Test hooks for the suite harness (read from the environment after the model loaded,
 * at the start of the first prefill):
 *   FG_SUITE_TEST_CRASH=1   abort() (SIGABRT): the suite must report a crash;
 *   FG_SUITE_TEST_HANG=1    sleep forever: the suite must kill it at its timeout. */
#include "cli/cli.h"
#include "format/quant_mix.h"
#include "suite/suite.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct bench_cli {
    int phase_fd;
    fg_timeline *tl;
    bool verbose_progress;
    bool started;
    bool hooks_checked;
} bench_cli;

static void usage(void)
{
    printf("usage: frugal bench MODEL [options]\n"
           "  -p N              synthetic prompt length in tokens (default 392)\n"
           "  --text TEXT       a prompt text instead (repeatable; repetitions cycle through them)\n"
           "  -n N              tokens to generate, greedy (default 128; 0: prefill only, no ceiling)\n"
           "  -r N              repetitions (default 3; median, min and max are reported)\n"
           "  --ctx N           context size (default 4096)\n"
           "  --threads N       threads (default: physical cores)\n"
           "  --batch N         prefill chunk (default 256)\n"
           "  --quant TYPE      quantize while loading: q8_0, q4_0, q4_k_m, q5_k_m, q6_k, f16, bf16\n"
           "  --seed N          seed of the synthetic prompt (default 1234)\n"
           "  --bandwidth GB/s  use this read bandwidth instead of measuring the rate at which\n"
           "                    the threads stream the weights a token reads (in place)\n"
           "  --no-bandwidth    do not measure the read bandwidth (no decode ceiling)\n"
           "  --profile         where a decode step's time goes: per phase (norms, products,\n"
           "                    attention, logits) ms per step, share, GB/s of weights read\n"
           "  --json            one JSON object on stdout\n"
           "  --memory-report F write the memory timeline (phases load/prefill/decode) and breakdown to F\n"
           "  --phase-fd N      announce phases as lines \"phase NAME\" on file descriptor N (the suite)\n"
           "  -v, --verbose     the memory breakdown table at the end\n");
}

static void on_phase(const char *phase, void *user)
{
    bench_cli *c = user;
    /* the timeline runs from the load on */
    if (c->tl && !c->started && strcmp(phase, "start") && fg_timeline_start(c->tl) == FG_OK) c->started = true;
    if (c->tl && c->started) fg_timeline_mark(c->tl, phase);
    if (c->phase_fd >= 0) {
        char line[64];
        int n = snprintf(line, sizeof line, "phase %s\n", phase);
        ssize_t w;
        do {
            w = write(c->phase_fd, line, (size_t)n);
        } while (w < 0 && errno == EINTR);
    }
    if (c->verbose_progress) fprintf(stderr, "bench: %s\n", phase);
    if (!strcmp(phase, "prefill") && !c->hooks_checked) {
        c->hooks_checked = true;
        const char *crash = getenv("FG_SUITE_TEST_CRASH"), *hang = getenv("FG_SUITE_TEST_HANG");
        if (crash && !strcmp(crash, "1")) abort();
        if (hang && !strcmp(hang, "1"))
            for (;;) pause();
    }
}

static void print_text(const fg_bench_result *r, bool verbose)
{
    char a[32], b[32], c[32], d[32];
    printf("model      %s\n", r->model);
    printf("           %s, %s, %.1fM parameters, file %s, weights %s (%s read per token)\n", r->arch,
           r->weight_type, (double)r->n_params / 1e6, fg_mem_fmt_bytes(r->file_size, a, sizeof a),
           fg_mem_fmt_bytes(r->weight_bytes, b, sizeof b), fg_mem_fmt_bytes(r->weight_bytes_per_token, c, sizeof c));
    printf("setup      %d threads (%s), ctx %lld, prompt %lld tokens, %lld generated, %d repetitions\n", r->n_threads,
           r->isa, (long long)r->n_ctx, (long long)r->n_prompt, (long long)r->n_gen, r->reps);
    printf("load       %.3f s\n", r->load_s);
    printf("prefill    %8.2f tok/s   (min %.2f, max %.2f)\n", r->prefill_tok_s.median, r->prefill_tok_s.min,
           r->prefill_tok_s.max);
    printf("decode     %8.2f tok/s   (min %.2f, max %.2f)\n", r->decode_tok_s.median, r->decode_tok_s.min,
           r->decode_tok_s.max);
    printf("first tok  %8.1f ms      (min %.1f, max %.1f)\n", r->ttft_ms.median, r->ttft_ms.min, r->ttft_ms.max);
    if (r->bandwidth_gbs > 0) {
        fg_bench_stat b = fg_bench_stats(r->bandwidth_runs, r->reps);
        printf("bandwidth  %.2f GB/s reading the weights (min %.2f, max %.2f): ceiling %.2f tok/s at %s per token\n",
               b.median, b.min, b.max, r->ceiling_tok_s, fg_mem_fmt_bytes(r->weight_bytes_per_token, a, sizeof a));
        fg_bench_stat f = fg_bench_stats(r->ceiling_fraction_runs, r->reps);
        if (r->ceiling_pairs > 0)
            printf("ceiling    decode at %.1f%% of it (min %.1f, max %.1f; %d pairs of a read and a decode step per repetition)\n",
                   100 * f.median, 100 * f.min, 100 * f.max, r->ceiling_pairs);
        else
            printf("ceiling    decode at %.1f%% of it (min %.1f, max %.1f)\n", 100 * f.median, 100 * f.min, 100 * f.max);
    }
    if (r->profile.steps > 0) {
        printf("profile    a decode step by phase (%lld steps):\n", (long long)r->profile.steps);
        for (int i = 0; i < FG_PROF_PHASES; i++) {
            const fg_bench_phase f = fg_bench_profile_phase(r, i);
            printf("           %-10s %8.3f ms %5.1f%%", f.name, f.ms_per_step, 100 * f.share);
            if (f.weight_gb_s >= 0) printf("   weights at %5.1f GB/s", f.weight_gb_s);
            printf("\n");
        }
    }
    printf("memory     peak RSS %s = %s %s + KV used %s %s %s over them\n", fg_mem_fmt_bytes(r->peak_rss, a, sizeof a),
           r->converted ? "converted weights" : "file",
           fg_mem_fmt_bytes(r->converted ? r->weight_bytes : r->file_size, b, sizeof b), fg_mem_fmt_bytes(r->kv_used, c, sizeof c),
           r->overhead >= 0 ? "+" : "-", fg_mem_fmt_bytes(r->overhead >= 0 ? r->overhead : -r->overhead, d, sizeof d));
    /* the weights stream on 2 MiB pages when the page cache holds the file in 2 MiB folios
     * (the loader asks for them); a file cached in smaller pieces streams a few per cent
     * slower (bench/RESULTS.md), which explains a run slower than the last one */
    const int64_t pmd = fg_bench_file_pmd(r);
    if (pmd >= 0 && !r->converted) {
        struct stat st;
        const bool dir = stat(r->model, &st) == 0 && S_ISDIR(st.st_mode);
        printf("pages      %s of the %s on 2 MiB pages", fg_mem_fmt_bytes(pmd, a, sizeof a), dir ? "files" : "file");
        if (pmd * 2 < r->file_size && r->file_size >= ((int64_t)64 << 20))
            printf(" (the page cache holds the rest in smaller pieces; dropping it from the cache, e.g. "
                   "`dd if=%s iflag=nocache count=0`%s, lets the next load read it back in 2 MiB pieces)",
                   dir ? "FILE" : r->model, dir ? " for each .safetensors FILE of the directory" : "");
        printf("\n");
    }
    if (verbose) {
        char buf[4096];
        fg_mem_breakdown_format(&r->breakdown, buf, sizeof buf);
        printf("\n%s", buf);
    }
}

int cmd_bench(int argc, char **argv)
{
    fg_bench_params p = fg_bench_default_params();
    const char *report = NULL;
    bool json = false, verbose = false;
    long long v64;
    const char **texts = calloc((size_t)argc, sizeof *texts);
    bench_cli c = {.phase_fd = -1};
    fg_timeline *tl = NULL;
    int rc = 1;
    if (!texts) return cli_fail("bench: out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            rc = 0;
            goto out;
        }
#define NEED_VALUE() do { if (!v) { cli_fail("bench: %s needs a value", a); goto out; } i++; } while (0)
#define INT_OPT(lo, hi, what) do { NEED_VALUE(); if (!cli_parse_int(v, lo, hi, &v64)) { \
            cli_fail("bench: %s wants %s, got '%s'", a, what, v); goto out; } } while (0)
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt-tokens")) {
            INT_OPT(1, 1 << 24, "a positive token count");
            p.n_prompt = v64;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--gen-tokens")) {
            INT_OPT(0, 1 << 24, "a token count");
            p.n_gen = v64;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--reps")) {
            INT_OPT(1, FG_BENCH_MAX_REPS, "1..64");
            p.reps = (int)v64;
        } else if (!strcmp(a, "--ctx")) {
            INT_OPT(1, 1 << 24, "a positive count");
            p.n_ctx = v64;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
            INT_OPT(1, 1024, "1..1024");
            p.n_threads = (int)v64;
        } else if (!strcmp(a, "--batch")) {
            INT_OPT(1, 1 << 16, "1..65536");
            p.n_batch = (int)v64;
        } else if (!strcmp(a, "--seed")) {
            NEED_VALUE();
            char *end;
            errno = 0;
            p.seed = strtoull(v, &end, 10);
            if (!*v || *end || errno || *v == '-') { cli_fail("bench: --seed wants a non-negative integer, got '%s'", v); goto out; }
        } else if (!strcmp(a, "--phase-fd")) {
            INT_OPT(0, 1 << 20, "a file descriptor");
            c.phase_fd = (int)v64;
        } else if (!strcmp(a, "--quant")) {
            NEED_VALUE();
            fg_quant_mix q;
            if (!fg_quant_mix_from_name(v, &q) || q == FG_QMIX_NONE) {
                cli_fail("bench: --quant wants q8_0, q4_0, q4_k_m, q5_k_m, q6_k, f16 or bf16, got '%s'", v);
                goto out;
            }
            p.quant = (int)q;
        } else if (!strcmp(a, "--bandwidth")) {
            NEED_VALUE();
            if (!cli_parse_double(v, CLI_BW_MIN, CLI_BW_MAX, &p.bandwidth_gbs)) {
                cli_fail("bench: --bandwidth wants GB/s > 0, got '%s'", v);
                goto out;
            }
        } else if (!strcmp(a, "--no-bandwidth")) {
            p.bandwidth_gbs = -1;
        } else if (!strcmp(a, "--profile")) {
            p.profile = true;
        } else if (!strcmp(a, "--text")) {
            NEED_VALUE();
            texts[p.n_texts++] = v;
        } else if (!strcmp(a, "--memory-report")) {
            NEED_VALUE();
            report = v;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = true;
        } else if (a[0] == '-' && a[1]) {
            cli_fail("bench: unknown option '%s'", a);
            goto out;
        } else if (!p.model) {
            p.model = a;
        } else {
            cli_fail("bench: unexpected argument '%s'", a);
            goto out;
        }
#undef INT_OPT
#undef NEED_VALUE
    }
    if (!p.model) { cli_fail("bench: no model given (usage: frugal bench MODEL [-p N] [-n N] [-r N])"); goto out; }
    if (access(p.model, R_OK) != 0) { cli_fail("bench: cannot read %s: %s", p.model, strerror(errno)); goto out; }
    p.texts = texts;
    if (report) {
        fg_timeline_params tp = fg_timeline_default_params();
        tp.capacity = 8192;
        fg_status st = fg_timeline_create(&tp, &tl);
        if (st) { cli_fail_status(st, "bench: cannot create the memory timeline"); goto out; }
        c.tl = tl;
    }
    p.on_phase = on_phase;
    p.user = &c;
    on_phase("start", &c);
    fg_bench_result *r = calloc(1, sizeof *r);
    if (!r) { cli_fail("bench: out of memory"); goto out; }
    fg_status st = fg_bench_run(&p, r);
    if (st) {
        cli_fail_status(st, "bench %s", p.model);
        free(r);
        goto out;
    }
    if (tl) {
        fg_timeline_stop(tl);
        /* the breakdown taken while the model was loaded, not a fresh one */
        cJSON *j = fg_timeline_json(tl, &r->breakdown);
        char *text = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        FILE *f = text ? fopen(report, "w") : NULL;
        bool ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        if (f) ok = (fclose(f) == 0) && ok;
        const char *why = text ? strerror(errno) : "out of memory";
        cJSON_free(text);
        if (!ok) {
            cli_fail("bench: cannot write the memory report %s: %s", report, why);
            free(r);
            goto out;
        }
    }
    if (json) {
        cJSON *j = fg_bench_result_json(r);
        char *text = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        if (!text) {
            cli_fail("bench: out of memory printing the report");
            free(r);
            goto out;
        }
        printf("%s\n", text);
        cJSON_free(text);
    } else {
        print_text(r, verbose);
    }
    free(r);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    fg_timeline_free(tl);
    free(texts);
    return rc;
}
