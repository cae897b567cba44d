/* frugal suite SUITE.json [options]
 * frugal suite MODEL... [--mem-limit SIZE] [--fit] [-p N] [-n N] [-r N] [--ctx N]
 *                       [--threads N] [--quant TYPE] [--out DIR] [--timeout S]
 *
 * Runs every model in a fresh child process (`frugal bench --json`), sampling it from
 * outside, and writes the report directory: report.json (docs/suite-report.schema.json),
 * report.md, report.csv, report.html, compare.svg, and per model <name>.svg, .bench.json,
 * .memory.json, .timeline.json, .log. Prints the table and the HTML report's path.
 * Options given with a suite file override its settings. The exit status is 0 when the
 * suite ran to the end, whatever the verdicts (they are in the report). */
#include "cli/cli.h"
#include "format/quant_mix.h"
#include "suite/suite.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
    printf("usage: frugal suite SUITE.json [options]\n"
           "       frugal suite MODEL... [options]\n"
           "  --mem-limit SIZE  memory limit (e.g. 7.4G): plan each model against it, verdict on the measured peak\n"
           "  --fit             let the plan choose quantization and context to fit the limit\n"
           "  -p N              synthetic prompt length (default 392)\n"
           "  -n N              tokens to generate (default 128)\n"
           "  -r N              repetitions (default 3)\n"
           "  --ctx N           context (default 4096)\n"
           "  --threads N       threads per model (default: physical cores)\n"
           "  --quant TYPE      quantize every model while loading (MODEL... form)\n"
           "  --timeout S       kill a model still running after S seconds (default 600)\n"
           "  --out DIR         report directory (default reports/suite-<date>-<time>)\n"
           "  --bandwidth GB/s  give every model this read bandwidth (default: each measures the\n"
           "                    rate at which it streams its own weights)\n"
           "  --no-bandwidth    do not measure the read bandwidth (no decode ceiling)\n"
           "  --json            print report.json instead of the table\n"
           "  -q, --quiet       no progress display\n"
           "A suite file: {\"models\": [\"a.gguf\", {\"path\": \"b\", \"quant\": \"q8_0\", \"ctx\": 2048}],\n"
           "  \"prompt_tokens\": 392, \"gen_tokens\": 128, \"reps\": 3, \"mem_limit\": \"7.4G\", \"fit\": false}\n");
}

typedef struct progress_state {
    bool tty, quiet;
    int64_t limit;
} progress_state;

static void on_progress(const fg_suite_progress *p, void *user)
{
    progress_state *ps = user;
    if (ps->quiet) return;
    char a[32], b[32];
    if (!p->finished) {
        if (!ps->tty) return;
        fprintf(stderr, "\r\033[K[%d/%d] %s  %-8s %6.1f s", p->index + 1, p->count, p->name, p->phase, p->elapsed_s);
        if (p->rss > 0) fprintf(stderr, "  rss %s", fg_mem_fmt_bytes(p->rss, a, sizeof a));
        if (p->mem_total > 0 && p->mem_available >= 0)
            fprintf(stderr, "  system %.1f%%", 100.0 * (double)(p->mem_total - p->mem_available) / (double)p->mem_total);
        fflush(stderr);
        return;
    }
    const fg_suite_result *r = p->result;
    if (ps->tty) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "[%d/%d] %s: %s", p->index + 1, p->count, p->name, fg_verdict_name(r->verdict));
    const cJSON *rep = r->report;
    if (rep) {
        const cJSON *peak = cJSON_GetObjectItem(rep, "peak_rss"), *dec = cJSON_GetObjectItem(rep, "decode_tok_s");
        const cJSON *med = dec ? cJSON_GetObjectItem(dec, "median") : NULL;
        if (cJSON_IsNumber(peak)) fprintf(stderr, ", peak RSS %s", fg_mem_fmt_bytes((int64_t)peak->valuedouble, a, sizeof a));
        if (r->plan_peak > 0) fprintf(stderr, " (plan %s)", fg_mem_fmt_bytes(r->plan_peak, b, sizeof b));
        if (cJSON_IsNumber(med)) fprintf(stderr, ", decode %.1f tok/s", med->valuedouble);
    } else if (r->message[0]) {
        fprintf(stderr, ": %s", r->message);
    }
    if (r->ran) fprintf(stderr, " (%.1f s)", r->wall_s);
    fprintf(stderr, "\n");
}

static bool mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

static bool is_suite_file(const char *p)
{
    size_t n = strlen(p);
    struct stat st;
    return n > 5 && !strcmp(p + n - 5, ".json") && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int cmd_suite(int argc, char **argv)
{
    fg_suite_spec spec;
    fg_suite_spec_init(&spec);
    const char **models = calloc((size_t)argc, sizeof *models);
    int n_models = 0;
    const char *out_dir = NULL, *quant = NULL;
    bool json = false, quiet = false, fit = false;
    double bw = 0; /* > 0 given, 0 each child measures, < 0 none */
    long long v, n_prompt = -1, n_gen = -1, reps = -1, ctx = -1, threads = -1;
    double timeout = -1;
    int64_t limit = -1;
    int rc = 1;
    fg_suite_report *rep = NULL;
    if (!models) return cli_fail("suite: out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            rc = 0;
            goto out;
        }
#define NEED_VALUE() do { if (!val) { cli_fail("suite: %s needs a value", a); goto out; } i++; } while (0)
#define INT_OPT(lo, hi, what, dst) do { NEED_VALUE(); if (!cli_parse_int(val, lo, hi, &v)) { \
            cli_fail("suite: %s wants %s, got '%s'", a, what, val); goto out; } dst = v; } while (0)
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt-tokens")) INT_OPT(1, 1 << 24, "a positive token count", n_prompt);
        else if (!strcmp(a, "-n") || !strcmp(a, "--gen-tokens")) INT_OPT(0, 1 << 24, "a token count", n_gen);
        else if (!strcmp(a, "-r") || !strcmp(a, "--reps")) INT_OPT(1, FG_BENCH_MAX_REPS, "1..64", reps);
        else if (!strcmp(a, "--ctx")) INT_OPT(1, 1 << 24, "a positive count", ctx);
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) INT_OPT(1, 1024, "1..1024", threads);
        else if (!strcmp(a, "--mem-limit")) {
            NEED_VALUE();
            if (!fg_suite_parse_size(val, &limit) || limit <= 0) {
                cli_fail("suite: --mem-limit wants a size such as 7.4G or 512M, got '%s'", val);
                goto out;
            }
        } else if (!strcmp(a, "--timeout")) {
            NEED_VALUE();
            if (!cli_parse_double(val, 0.001, 7 * 86400, &timeout)) {
                cli_fail("suite: --timeout wants seconds > 0, got '%s'", val);
                goto out;
            }
        } else if (!strcmp(a, "--quant")) {
            NEED_VALUE();
            fg_quant_mix q;
            if (!fg_quant_mix_from_name(val, &q) || q == FG_QMIX_NONE) {
                cli_fail("suite: --quant wants q8_0, q4_0, q4_k_m, q5_k_m, q6_k, f16 or bf16, got '%s'", val);
                goto out;
            }
            quant = val;
        } else if (!strcmp(a, "--out")) {
            NEED_VALUE();
            out_dir = val;
        } else if (!strcmp(a, "--fit")) fit = true;
        else if (!strcmp(a, "--no-bandwidth")) bw = -1;
        else if (!strcmp(a, "--bandwidth")) {
            NEED_VALUE();
            if (!cli_parse_double(val, CLI_BW_MIN, CLI_BW_MAX, &bw)) {
                cli_fail("suite: --bandwidth wants GB/s > 0, got '%s'", val);
                goto out;
            }
        }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = true;
        else if (a[0] == '-' && a[1]) {
            cli_fail("suite: unknown option '%s'", a);
            goto out;
        } else models[n_models++] = a;
#undef INT_OPT
#undef NEED_VALUE
    }
    if (n_models == 0) { cli_fail("suite: no suite file or models given (usage: frugal suite SUITE.json | MODEL...)"); goto out; }
    fg_status st;
    if (n_models == 1 && is_suite_file(models[0])) {
        if ((st = fg_suite_spec_load(models[0], &spec))) { cli_fail_status(st, "suite"); goto out; }
        if (quant) { cli_fail("suite: --quant goes with models on the command line; a suite file sets \"quant\" per model"); goto out; }
    } else {
        for (int i = 0; i < n_models; i++)
            if ((st = fg_suite_spec_add(&spec, models[i], NULL, quant, 0))) { cli_fail_status(st, "suite"); goto out; }
    }
    if (n_prompt > 0) spec.n_prompt = n_prompt;
    if (n_gen >= 0) spec.n_gen = n_gen;
    if (reps > 0) spec.reps = (int)reps;
    if (ctx > 0) spec.n_ctx = ctx;
    if (threads > 0) spec.n_threads = (int)threads;
    if (timeout > 0) spec.timeout_s = timeout;
    if (limit > 0) spec.mem_limit = limit;
    if (fit) spec.fit = true;
    if (spec.fit && spec.mem_limit <= 0) { cli_fail("suite: --fit needs a memory limit (--mem-limit SIZE)"); goto out; }

    char dir[1024];
    if (out_dir) {
        snprintf(dir, sizeof dir, "%s", out_dir);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(dir, sizeof dir, "reports/suite-%Y%m%d-%H%M%S", &tm);
    }
    if (!mkdir_p(dir)) { cli_fail("suite: cannot create %s: %s", dir, strerror(errno)); goto out; }

    progress_state ps = {.tty = isatty(2), .quiet = quiet, .limit = spec.mem_limit};
    fg_suite_run_params rp = fg_suite_run_default_params();
    rp.out_dir = dir;
    rp.progress = on_progress;
    rp.user = &ps;
    rp.bandwidth_gbs = bw;
    if ((st = fg_suite_run(&spec, &rp, &rep))) { cli_fail_status(st, "suite"); goto out; }
    if ((st = fg_suite_write_reports(rep, dir))) { cli_fail_status(st, "suite: writing the report"); goto out; }
    if (json) {
        cJSON *j = fg_suite_report_json(rep);
        char *text = j ? cJSON_Print(j) : NULL;
        cJSON_Delete(j);
        if (!text) { cli_fail("suite: out of memory printing the report"); goto out; }
        printf("%s\n", text);
        cJSON_free(text);
    } else {
        char *table = fg_suite_table_text(rep);
        if (!table) { cli_fail("suite: out of memory printing the table"); goto out; }
        printf("%s\nreport: %s/report.html\n", table, dir);
        free(table);
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    fg_suite_report_free(rep);
    fg_suite_spec_free(&spec);
    free(models);
    return rc;
}
