/* Suite files: parsing and validating (see suite.h for the format). Every error names
 * the field and the file; unknown fields are errors too (a typo must not be ignored). */
#include "suite/suite.h"
#include "format/quant_mix.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fg_suite_spec_init(fg_suite_spec *s)
{
    memset(s, 0, sizeof *s);
    s->n_prompt = 392;
    s->n_gen = 128;
    s->reps = 3;
    s->n_ctx = 4096;
    s->timeout_s = 600;
}

static void entry_free(fg_suite_entry *e)
{
    fg_free(e->path);
    fg_free(e->name);
    fg_free(e->quant);
    for (int i = 0; i < e->n_env; i++) fg_free(e->env[i]);
    fg_free(e->env);
}

void fg_suite_spec_free(fg_suite_spec *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_entries; i++) entry_free(&s->entries[i]);
    fg_free(s->entries);
    for (int i = 0; i < s->n_texts; i++) fg_free(s->texts[i]);
    fg_free(s->texts);
    fg_free(s->title);
    memset(s, 0, sizeof *s);
}

bool fg_suite_parse_size(const char *s, int64_t *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v >= 0)) return false;
    double mul = 1;
    while (*end == ' ') end++;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end) return false;
    v *= mul;
    if (v > 9.2e18) return false;
    *out = (int64_t)v;
    return true;
}

/* The file name without directories (and without a trailing slash of a directory). */
static char *default_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    return fg_strndup(FG_MEM_RUNTIME, path + b, n - b);
}

fg_status fg_suite_spec_add(fg_suite_spec *s, const char *path, const char *name, const char *quant, int64_t n_ctx)
{
    if (!path || !*path) return fg_error(FG_ERR_ARG, "suite: an entry without a path");
    if (quant) {
        fg_quant_mix q;
        if (!fg_quant_mix_from_name(quant, &q))
            return fg_error(FG_ERR_ARG, "suite: unknown quantization '%s' for %s (q8_0, q4_0, q4_k_m, q5_k_m, q6_k, f16, bf16)",
                            quant, path);
    }
    if (n_ctx < 0) return fg_error(FG_ERR_ARG, "suite: negative context for %s", path);
    fg_suite_entry *ne = fg_realloc(s->entries, (size_t)(s->n_entries + 1) * sizeof *ne); /* NULL: a runtime block */
    if (!ne) return fg_error(FG_ERR_NOMEM, "suite: out of memory");
    s->entries = ne;
    fg_suite_entry *e = &s->entries[s->n_entries];
    memset(e, 0, sizeof *e);
    e->path = fg_strdup(FG_MEM_RUNTIME, path);
    e->name = name ? fg_strdup(FG_MEM_RUNTIME, name) : default_name(path);
    e->quant = quant ? fg_strdup(FG_MEM_RUNTIME, quant) : NULL;
    e->n_ctx = n_ctx;
    if (!e->path || !e->name || (quant && !e->quant)) {
        entry_free(e);
        return fg_error(FG_ERR_NOMEM, "suite: out of memory");
    }
    s->n_entries++;
    return FG_OK;
}

#define FAIL(...) do { st = fg_error(FG_ERR_FORMAT, __VA_ARGS__); goto done; } while (0)

static bool get_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) return false;
    if (v->valuedouble < (double)lo || v->valuedouble > (double)hi) return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

static fg_status parse_entry(fg_suite_spec *s, const cJSON *m, const char *what, int idx)
{
    fg_status st = FG_OK;
    if (cJSON_IsString(m)) return fg_suite_spec_add(s, m->valuestring, NULL, NULL, 0);
    if (!cJSON_IsObject(m)) return fg_error(FG_ERR_FORMAT, "%s: models[%d] must be a path or an object", what, idx);
    const char *path = NULL, *name = NULL, *quant = NULL;
    int64_t ctx = 0;
    double timeout = 0;
    const cJSON *env = NULL, *f;
    cJSON_ArrayForEach(f, m) {
        if (!strcmp(f->string, "path")) {
            if (!cJSON_IsString(f) || !*f->valuestring) FAIL("%s: models[%d].path must be a non-empty string", what, idx);
            path = f->valuestring;
        } else if (!strcmp(f->string, "name")) {
            if (!cJSON_IsString(f) || !*f->valuestring) FAIL("%s: models[%d].name must be a non-empty string", what, idx);
            name = f->valuestring;
        } else if (!strcmp(f->string, "quant")) {
            if (!cJSON_IsString(f)) FAIL("%s: models[%d].quant must be a string", what, idx);
            quant = f->valuestring;
        } else if (!strcmp(f->string, "ctx")) {
            if (!get_int(f, 1, 1 << 24, &ctx)) FAIL("%s: models[%d].ctx must be an integer 1..16777216", what, idx);
        } else if (!strcmp(f->string, "timeout_s")) {
            if (!cJSON_IsNumber(f) || !(f->valuedouble > 0 && f->valuedouble <= 7 * 86400))
                FAIL("%s: models[%d].timeout_s must be a number of seconds > 0", what, idx);
            timeout = f->valuedouble;
        } else if (!strcmp(f->string, "env")) {
            if (!cJSON_IsObject(f)) FAIL("%s: models[%d].env must be an object of strings", what, idx);
            env = f;
        } else {
            FAIL("%s: models[%d]: unknown field '%s' (path, name, quant, ctx, timeout_s, env)", what, idx, f->string);
        }
    }
    if (!path) FAIL("%s: models[%d] has no path", what, idx);
    if (name)
        for (const char *c = name; *c; c++)
            if (*c == '/' || *c < ' ') FAIL("%s: models[%d].name may not contain '/' or control characters", what, idx);
    if ((st = fg_suite_spec_add(s, path, name, quant, ctx))) goto done;
    s->entries[s->n_entries - 1].timeout_s = timeout;
    if (env) {
        fg_suite_entry *e = &s->entries[s->n_entries - 1];
        int n = cJSON_GetArraySize(env);
        e->env = fg_calloc(FG_MEM_RUNTIME, (size_t)n + 1, sizeof *e->env);
        if (!e->env) return fg_error(FG_ERR_NOMEM, "suite: out of memory");
        cJSON_ArrayForEach(f, env) {
            if (!cJSON_IsString(f) || !*f->string || strchr(f->string, '='))
                FAIL("%s: models[%d].env.%s must be a string (and the name must not contain '=')", what, idx, f->string);
            size_t len = strlen(f->string) + strlen(f->valuestring) + 2;
            char *kv = fg_malloc(FG_MEM_RUNTIME, len);
            if (!kv) return fg_error(FG_ERR_NOMEM, "suite: out of memory");
            snprintf(kv, len, "%s=%s", f->string, f->valuestring);
            e->env[e->n_env++] = kv;
        }
    }
done:
    return st;
}

fg_status fg_suite_spec_parse(const char *json, size_t len, const char *what, fg_suite_spec *out)
{
    fg_suite_spec_init(out);
    fg_status st = FG_OK;
    uint64_t fails = fg_mem_failures();
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root && fg_mem_failures() != fails) return fg_error(FG_ERR_NOMEM, "%s: out of memory parsing the JSON", what);
    if (!root) return fg_error(FG_ERR_FORMAT, "%s: not valid JSON", what);
    if (!cJSON_IsObject(root)) FAIL("%s: the suite must be a JSON object", what);
    const cJSON *models = NULL, *f;
    cJSON_ArrayForEach(f, root) {
        const char *k = f->string;
        int64_t v;
        if (!strcmp(k, "name")) {
            if (!cJSON_IsString(f)) FAIL("%s: name must be a string", what);
            fg_free(out->title); /* a repeated key: the last one wins (fuzz: the first leaked) */
            if (!(out->title = fg_strdup(FG_MEM_RUNTIME, f->valuestring))) goto nomem;
        } else if (!strcmp(k, "models")) {
            if (!cJSON_IsArray(f) || cJSON_GetArraySize(f) == 0) FAIL("%s: models must be a non-empty array", what);
            models = f;
        } else if (!strcmp(k, "prompt_tokens")) {
            if (!get_int(f, 1, 1 << 24, &v)) FAIL("%s: prompt_tokens must be an integer 1..16777216", what);
            out->n_prompt = v;
        } else if (!strcmp(k, "prompts")) {
            if (!cJSON_IsArray(f) || cJSON_GetArraySize(f) == 0) FAIL("%s: prompts must be a non-empty array of strings", what);
            int n = cJSON_GetArraySize(f);
            for (int i = 0; i < out->n_texts; i++) fg_free(out->texts[i]); /* a repeated key: the last one wins */
            fg_free(out->texts);
            out->texts = NULL;
            out->n_texts = 0;
            if (!(out->texts = fg_calloc(FG_MEM_RUNTIME, (size_t)n, sizeof *out->texts))) goto nomem;
            const cJSON *t;
            cJSON_ArrayForEach(t, f) {
                if (!cJSON_IsString(t) || !*t->valuestring) FAIL("%s: prompts[%d] must be a non-empty string", what, out->n_texts);
                if (!(out->texts[out->n_texts] = fg_strdup(FG_MEM_RUNTIME, t->valuestring))) goto nomem;
                out->n_texts++;
            }
        } else if (!strcmp(k, "gen_tokens")) {
            if (!get_int(f, 0, 1 << 24, &v)) FAIL("%s: gen_tokens must be an integer 0..16777216", what);
            out->n_gen = v;
        } else if (!strcmp(k, "reps")) {
            if (!get_int(f, 1, FG_BENCH_MAX_REPS, &v)) FAIL("%s: reps must be an integer 1..%d", what, FG_BENCH_MAX_REPS);
            out->reps = (int)v;
        } else if (!strcmp(k, "ctx")) {
            if (!get_int(f, 1, 1 << 24, &v)) FAIL("%s: ctx must be an integer 1..16777216", what);
            out->n_ctx = v;
        } else if (!strcmp(k, "threads")) {
            if (!get_int(f, 0, 1024, &v)) FAIL("%s: threads must be an integer 0..1024 (0: physical cores)", what);
            out->n_threads = (int)v;
        } else if (!strcmp(k, "mem_limit")) {
            if (cJSON_IsString(f)) {
                if (!fg_suite_parse_size(f->valuestring, &v) || v <= 0)
                    FAIL("%s: mem_limit '%s' is not a size (e.g. 7.4G, 512M)", what, f->valuestring);
            } else if (cJSON_IsNull(f)) {
                v = 0;
            } else if (!get_int(f, 1, INT64_MAX / 2, &v)) {
                FAIL("%s: mem_limit must be a size string (7.4G) or a positive number of bytes", what);
            }
            out->mem_limit = v;
        } else if (!strcmp(k, "fit")) {
            if (!cJSON_IsBool(f)) FAIL("%s: fit must be true or false", what);
            out->fit = cJSON_IsTrue(f);
        } else if (!strcmp(k, "timeout_s")) {
            if (!cJSON_IsNumber(f) || !(f->valuedouble > 0 && f->valuedouble <= 7 * 86400))
                FAIL("%s: timeout_s must be a number of seconds > 0", what);
            out->timeout_s = f->valuedouble;
        } else {
            FAIL("%s: unknown field '%s' (name, models, prompt_tokens, prompts, gen_tokens, reps, ctx, threads, "
                 "mem_limit, fit, timeout_s)", what, k);
        }
    }
    if (!models) FAIL("%s: no models (\"models\": [\"path\", ...])", what);
    int idx = 0;
    cJSON_ArrayForEach(f, models) {
        if ((st = parse_entry(out, f, what, idx++))) goto done;
    }
    if (out->fit && !out->mem_limit) FAIL("%s: fit needs a mem_limit", what);
done:
    cJSON_Delete(root);
    if (st) fg_suite_spec_free(out);
    return st;
nomem:
    st = fg_error(FG_ERR_NOMEM, "%s: out of memory", what);
    goto done;
}

fg_status fg_suite_spec_load(const char *path, fg_suite_spec *out)
{
    fg_suite_spec_init(out);
    FILE *f = fopen(path, "rb");
    if (!f) return fg_error(FG_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = fg_malloc(FG_MEM_RUNTIME, cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
        if (n == cap) {
            if (cap >= ((size_t)16 << 20)) {
                fclose(f);
                fg_free(buf);
                return fg_error(FG_ERR_FORMAT, "%s: larger than 16 MiB, not a suite file", path);
            }
            char *nb = fg_realloc(buf, cap *= 2);
            if (!nb) {
                fg_free(buf);
                buf = NULL;
            } else {
                buf = nb;
            }
        }
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf) return fg_error(FG_ERR_NOMEM, "out of memory reading %s", path);
    if (err) {
        fg_free(buf);
        return fg_error(FG_ERR_IO, "cannot read %s", path);
    }
    fg_status st = fg_suite_spec_parse(buf, n, path, out);
    fg_free(buf);
    return st;
}
