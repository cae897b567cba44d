/* Helpers shared by subcommands that generate text. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

fg_status cli_load_tokenizer(const fg_model *m, fg_tokenizer **out)
{
    const fg_gguf *g = fg_model_gguf(m);
    if (g) return fg_tok_load_gguf(g, out);
    return fg_tok_load_hf(fg_model_dir(m), out);
}

static bool parse_float(const char *s, double lo, double hi, float *out)
{
    double v;
    if (!cli_parse_double(s, lo, hi, &v)) return false;
    *out = (float)v;
    return true;
}

int cli_sampling_option(int argc, char **argv, int *i, fg_sampler_params *p)
{
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    static const char *const names[] = {"--temp", "--temperature", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--seed"};
    bool known = false;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) known |= !strcmp(a, names[k]);
    if (!known) return 0;
    if (!v) {
        cli_fail("%s needs a value", a);
        return -1;
    }
    (*i)++;
    long long n;
    bool ok = true;
    if (!strcmp(a, "--temp") || !strcmp(a, "--temperature")) ok = parse_float(v, 0, 100, &p->temperature);
    else if (!strcmp(a, "--top-p")) ok = parse_float(v, 0.000001, 1, &p->top_p);
    else if (!strcmp(a, "--min-p")) ok = parse_float(v, 0, 1, &p->min_p);
    else if (!strcmp(a, "--repeat-penalty")) ok = parse_float(v, 0.01, 100, &p->repeat_penalty);
    else if (!strcmp(a, "--top-k")) {
        ok = cli_parse_int(v, 0, 1 << 24, &n);
        p->top_k = (int)n;
    } else if (!strcmp(a, "--seed")) {
        char *end;
        unsigned long long s = strtoull(v, &end, 10);
        ok = *v && !*end;
        p->seed = s;
    }
    if (!ok) {
        cli_fail("%s: invalid value '%s'", a, v);
        return -1;
    }
    return 1;
}

const char *cli_sampling_help(void)
{
    return "  --temp T          temperature (0: greedy; default 0 for run, 0.7 for chat)\n"
           "  --top-k K         keep the K most likely tokens (0: off)\n"
           "  --top-p P         nucleus sampling (1: off)\n"
           "  --min-p P         drop tokens below P x the top probability (0: off)\n"
           "  --repeat-penalty R  penalise recent tokens (1: off)\n"
           "  --seed N          random seed (reproducible output)\n";
}
