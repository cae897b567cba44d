/* frugal plan MODEL [--ctx N] [--mem-limit SIZE] [--quant TYPE] [--fit] [--json]:
 * predicts the memory a run will take, before touching the weights, and whether it
 * fits the limit (--mem-limit, else the cgroup's limit, else MemAvailable). */
#include "cli/cli.h"
#include "model/plan.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int cli_plan_option(int argc, char **argv, int *i, fg_plan_params *p)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--fit")) {
        p->fit = true;
        return 1;
    }
    if (strcmp(a, "--ctx") && strcmp(a, "--mem-limit") && strcmp(a, "--quant") && strcmp(a, "--batch") &&
        strcmp(a, "--threads") && strcmp(a, "-t") && strcmp(a, "--kv-type") && strcmp(a, "--mem-margin") &&
        strcmp(a, "--tokens"))
        return 0;
    if (!v) {
        cli_fail("%s needs a value", a);
        return -1;
    }
    (*i)++;
    long long n;
    uint64_t sz;
    fg_quant_mix q;
    if (!strcmp(a, "--ctx")) {
        if (!cli_parse_int(v, 1, 1 << 24, &n)) return cli_fail("--ctx wants a positive count, got '%s'", v), -1;
        p->n_ctx = n;
    } else if (!strcmp(a, "--tokens")) {
        if (!cli_parse_int(v, 1, 1 << 24, &n)) return cli_fail("--tokens wants a positive count, got '%s'", v), -1;
        p->n_tokens = n;
    } else if (!strcmp(a, "--batch")) {
        if (!cli_parse_int(v, 1, 1 << 16, &n)) return cli_fail("--batch wants 1..65536, got '%s'", v), -1;
        p->n_batch = (int)n;
    } else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
        if (!cli_parse_int(v, 1, 1024, &n)) return cli_fail("--threads wants 1..1024, got '%s'", v), -1;
        p->n_threads = (int)n;
    } else if (!strcmp(a, "--kv-type")) {
        fg_dtype t = fg_dtype_from_name(v);
        if (t != FG_DT_F32 && t != FG_DT_F16 && t != FG_DT_Q8_0) return cli_fail("--kv-type wants f32, f16 or q8_0, got '%s'", v), -1;
        p->kv_type = t;
    } else if (!strcmp(a, "--mem-margin")) {
        if (!cli_parse_size(v, &sz)) return cli_fail("--mem-margin wants a size like 64M or 0, got '%s'", v), -1;
        p->margin = (int64_t)sz;
    } else if (!strcmp(a, "--mem-limit")) {
        if (!cli_parse_size(v, &sz) || sz == 0) return cli_fail("--mem-limit wants a size like 7.4G or 512M, got '%s'", v), -1;
        p->mem_limit = (int64_t)sz;
    } else {
        if (!fg_quant_mix_from_name(v, &q))
            return cli_fail("--quant: unknown type '%s' (q8_0, q4_0, q6_k, q4_k_m, q5_k_m, f16, bf16)", v), -1;
        p->quant = q;
    }
    return 1;
}

int cli_plan_check(const char *model, fg_plan_params *p, bool verbose)
{
    fg_plan plan;
    fg_status st = fg_plan_model(model, p, &plan);
    if (st) return cli_fail_status(st, "cannot load %s", model);
    if (verbose) {
        char buf[2048];
        fg_plan_format(&plan, buf, sizeof buf);
        fputs(buf, stderr);
    }
    if (!plan.fits) return cli_fail("%s does not fit: %s", model, plan.advice);
    if (p->fit) {
        if (plan.advice[0] && strncmp(plan.advice, "fits", 4)) fprintf(stderr, "frugal: %s\n", plan.advice);
        p->n_ctx = plan.n_ctx;
        p->quant = plan.quant;
    }
    return 0;
}

int cmd_plan(int argc, char **argv)
{
    const char *model = NULL;
    bool json = false;
    fg_plan_params p = fg_plan_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_plan_option(argc, argv, &i, &p);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: frugal plan MODEL [--ctx N] [--tokens N] [--mem-limit SIZE] [--quant TYPE] [--kv-type T] [--fit] [--json]\n"
                   "  --tokens N: positions the run will use (prompt + generated; default: the whole context)\n"
                   "  predicts weights, KV cache, scratch, tokenizer and runtime bytes and the peak, before\n"
                   "  loading, and whether they fit the limit: --mem-limit, else the cgroup's memory limit,\n"
                   "  else MemAvailable, minus a safety margin (--mem-margin; default max(64 MiB, 5%%)).\n"
                   "  --fit chooses the quantization and context.\n"
                   "  Exit status 0 when it fits, 3 when it does not.\n");
            return 0;
        } else if (!strcmp(a, "--json")) json = true;
        else if (a[0] == '-') return cli_fail("plan: unknown option '%s'", a);
        else if (!model) model = a;
        else return cli_fail("plan: unexpected argument '%s'", a);
    }
    if (!model) return cli_fail("plan: no model given (usage: frugal plan MODEL)");
    fg_plan plan;
    fg_status st = fg_plan_model(model, &p, &plan);
    if (st) return cli_fail_status(st, "cannot plan %s", model);
    if (json) {
        cJSON *j = fg_plan_json(&plan);
        char *s = j ? cJSON_PrintUnformatted(j) : NULL;
        if (!s) return cli_fail("plan: out of memory");
        printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(j);
    } else {
        char buf[4096];
        fg_plan_format(&plan, buf, sizeof buf);
        fputs(buf, stdout);
    }
    return plan.fits ? 0 : 3;
}
