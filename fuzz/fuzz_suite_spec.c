/* Fuzz target: suite files (fg_suite_spec_parse, what `frugal suite FILE` reads).
 * Invariants: a failure has a one-line message and leaves the spec empty (nothing
 * allocated, nothing to free); a spec that parses has every field within the ranges
 * suite.h documents (at least one entry, each with a non-empty path, a name without '/',
 * a known quantization or none, context and timeout in range, "KEY=VALUE" environment
 * strings ending in a NULL slot; prompts non-empty; fit only with a memory limit); no
 * tagged byte is kept after fg_suite_spec_free. */
#include "fuzz_util.h"
#include "format/quant_mix.h"
#include "suite/suite.h"

#include <string.h>

static void check_spec(const fg_suite_spec *s)
{
    if (s->n_entries < 1 || !s->entries) fz_fail("a suite without models was accepted");
    for (int i = 0; i < s->n_entries; i++) {
        const fg_suite_entry *e = &s->entries[i];
        if (!e->path || !e->path[0]) fz_fail("models[%d]: empty path accepted", i);
        if (!e->name) fz_fail("models[%d]: no display name", i);
        if (strchr(e->name, '/')) fz_fail("models[%d]: display name '%s' contains '/'", i, e->name);
        fg_quant_mix q;
        if (e->quant && !fg_quant_mix_from_name(e->quant, &q)) fz_fail("models[%d]: unknown quant '%s' accepted", i, e->quant);
        if (e->n_ctx < 0 || e->n_ctx > (1 << 24)) fz_fail("models[%d]: ctx %lld out of range", i, (long long)e->n_ctx);
        if (!(e->timeout_s >= 0 && e->timeout_s <= 7 * 86400)) fz_fail("models[%d]: timeout %g out of range", i, e->timeout_s);
        if (e->n_env < 0 || (e->n_env && !e->env)) fz_fail("models[%d]: %d env strings, no array", i, e->n_env);
        for (int k = 0; k < e->n_env; k++) {
            const char *eq = e->env[k] ? strchr(e->env[k], '=') : NULL;
            if (!eq || eq == e->env[k]) fz_fail("models[%d].env[%d] is not KEY=VALUE", i, k);
        }
        if (e->env && e->env[e->n_env]) fz_fail("models[%d]: env not NULL-terminated", i);
    }
    if (s->n_prompt < 1 || s->n_prompt > (1 << 24)) fz_fail("prompt_tokens %lld out of range", (long long)s->n_prompt);
    if (s->n_gen < 0 || s->n_gen > (1 << 24)) fz_fail("gen_tokens %lld out of range", (long long)s->n_gen);
    if (s->reps < 1 || s->reps > FG_BENCH_MAX_REPS) fz_fail("reps %d out of range", s->reps);
    if (s->n_ctx < 1 || s->n_ctx > (1 << 24)) fz_fail("ctx %lld out of range", (long long)s->n_ctx);
    if (s->n_threads < 0 || s->n_threads > 1024) fz_fail("threads %d out of range", s->n_threads);
    if (s->mem_limit < 0) fz_fail("negative mem_limit");
    if (s->fit && !s->mem_limit) fz_fail("fit without a mem_limit accepted");
    if (!(s->timeout_s > 0 && s->timeout_s <= 7 * 86400)) fz_fail("timeout %g out of range", s->timeout_s);
    if (s->n_texts < 0 || (s->n_texts && !s->texts)) fz_fail("%d prompts, no array", s->n_texts);
    for (int i = 0; i < s->n_texts; i++)
        if (!s->texts[i] || !s->texts[i][0]) fz_fail("prompts[%d] empty", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_mem_mark();
    fg_suite_spec s;
    fg_status st = fg_suite_spec_parse((const char *)data, size, "suite.json", &s);
    fz_check_status(st, "fg_suite_spec_parse");
    if (st == FG_OK) {
        check_spec(&s);
    } else if (s.entries || s.n_entries || s.texts || s.n_texts || s.title) {
        fz_fail("a failed parse left a half-filled spec");
    }
    fg_suite_spec_free(&s);
    fz_mem_check("fg_suite_spec_parse");
    return 0;
}
