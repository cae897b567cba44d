/* The suite harness end to end, plus its parts.
 *
 * End to end: `frugal suite` on the tiny synthetic models with a 1 GiB limit —
 *   two quantized files that fit, an F32 file quantized to q8_0 while loading (fits),
 *   an F32 file with a context so large its KV cache cannot fit (plan: does_not_fit),
 *   a path that does not exist (missing), a child made to abort() after loading
 *   (FG_SUITE_TEST_CRASH=1: crashed, SIGABRT), and one made to hang (FG_SUITE_TEST_HANG=1,
 *   3 s timeout: killed, timeout) —
 * then checks every verdict, that the report's numbers agree with each child's own
 * report (stdout JSON) and its own memory timeline (written by the child), with the
 * planner's independent parameter count and with the files' sizes, that the parent's
 * samples are consistent with the child's VmHWM, and that report.json validates against
 * docs/suite-report.schema.json with the small validator below (which has its own tests,
 * so a validator that accepts everything would fail them). */
#include "testutil.h"
#include "suite/suite.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* ---- a validator for the subset of JSON Schema the report's schema uses ----------------
 * type, properties, required, additionalProperties, items, enum, const, minimum, maximum,
 * minLength, minItems, $ref ("#/$defs/NAME"); annotations ($schema, $id, title,
 * description, $defs, $comment) are skipped; any other keyword is an error, so the
 * schema cannot silently use something this validator does not check. */

static bool type_is(const cJSON *v, const char *t)
{
    if (!strcmp(t, "object")) return cJSON_IsObject(v);
    if (!strcmp(t, "array")) return cJSON_IsArray(v);
    if (!strcmp(t, "string")) return cJSON_IsString(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9.1e18;
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    return false;
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool validate(const cJSON *schema, const cJSON *root, const cJSON *v, const char *path, char *err, size_t n);

static bool vfail(char *err, size_t n, const char *path, const char *what)
{
    snprintf(err, n, "%.300s: %.200s", *path ? path : "(root)", what);
    return false;
}

static bool validate(const cJSON *schema, const cJSON *root, const cJSON *v, const char *path, char *err, size_t n)
{
    if (!cJSON_IsObject(schema)) return vfail(err, n, path, "schema is not an object");
    const cJSON *k;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    cJSON_ArrayForEach(k, schema) {
        const char *kw = k->string;
        if (!strcmp(kw, "$schema") || !strcmp(kw, "$id") || !strcmp(kw, "title") || !strcmp(kw, "description") ||
            !strcmp(kw, "$defs") || !strcmp(kw, "$comment"))
            continue;
        if (!strcmp(kw, "$ref")) {
            if (!cJSON_IsString(k) || strncmp(k->valuestring, "#/$defs/", 8))
                return vfail(err, n, path, "unsupported $ref");
            const cJSON *target = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "$defs"),
                                                                   k->valuestring + 8);
            if (!target) return vfail(err, n, path, "dangling $ref");
            if (!validate(target, root, v, path, err, n)) return false;
        } else if (!strcmp(kw, "type")) {
            bool ok = false;
            if (cJSON_IsString(k)) ok = type_is(v, k->valuestring);
            else if (cJSON_IsArray(k)) {
                const cJSON *t;
                cJSON_ArrayForEach(t, k) ok |= cJSON_IsString(t) && type_is(v, t->valuestring);
            } else return vfail(err, n, path, "bad type keyword");
            if (!ok) return vfail(err, n, path, "wrong type");
        } else if (!strcmp(kw, "enum")) {
            bool ok = false;
            const cJSON *e;
            cJSON_ArrayForEach(e, k) ok |= cJSON_Compare(e, v, true);
            if (!ok) return vfail(err, n, path, "not one of the enum values");
        } else if (!strcmp(kw, "const")) {
            if (!cJSON_Compare(k, v, true)) return vfail(err, n, path, "not the const value");
        } else if (!strcmp(kw, "properties")) {
            if (!cJSON_IsObject(v)) continue;
            const cJSON *p;
            cJSON_ArrayForEach(p, k) {
                const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, p->string);
                char sub[512];
                snprintf(sub, sizeof sub, "%s.%s", path, p->string);
                if (c && !validate(p, root, c, sub, err, n)) return false;
            }
        } else if (!strcmp(kw, "required")) {
            if (!cJSON_IsObject(v)) continue;
            const cJSON *r;
            cJSON_ArrayForEach(r, k) {
                if (!cJSON_GetObjectItemCaseSensitive(v, r->valuestring)) {
                    char what[160];
                    snprintf(what, sizeof what, "missing required '%s'", r->valuestring);
                    return vfail(err, n, path, what);
                }
            }
        } else if (!strcmp(kw, "additionalProperties")) {
            if (!cJSON_IsObject(v)) continue;
            const cJSON *c;
            cJSON_ArrayForEach(c, v) {
                if (props && cJSON_GetObjectItemCaseSensitive(props, c->string)) continue;
                char sub[512];
                snprintf(sub, sizeof sub, "%s.%s", path, c->string);
                if (cJSON_IsFalse(k)) return vfail(err, n, sub, "property not allowed");
                if (cJSON_IsObject(k) && !validate(k, root, c, sub, err, n)) return false;
            }
        } else if (!strcmp(kw, "items")) {
            if (!cJSON_IsArray(v)) continue;
            int i = 0;
            const cJSON *c;
            cJSON_ArrayForEach(c, v) {
                char sub[512];
                snprintf(sub, sizeof sub, "%s[%d]", path, i++);
                if (!validate(k, root, c, sub, err, n)) return false;
            }
        } else if (!strcmp(kw, "minItems")) {
            if (cJSON_IsArray(v) && cJSON_GetArraySize(v) < k->valuedouble) return vfail(err, n, path, "too few items");
        } else if (!strcmp(kw, "minimum")) {
            if (cJSON_IsNumber(v) && v->valuedouble < k->valuedouble) return vfail(err, n, path, "below minimum");
        } else if (!strcmp(kw, "maximum")) {
            if (cJSON_IsNumber(v) && v->valuedouble > k->valuedouble) return vfail(err, n, path, "above maximum");
        } else if (!strcmp(kw, "minLength")) {
            if (cJSON_IsString(v) && utf8_len(v->valuestring) < k->valuedouble) return vfail(err, n, path, "too short");
        } else {
            char what[160];
            snprintf(what, sizeof what, "unsupported schema keyword '%s'", kw);
            return vfail(err, n, path, what);
        }
    }
    return true;
}

static bool validate_text(const char *schema_json, const char *instance_json, char *err, size_t n)
{
    cJSON *s = cJSON_Parse(schema_json), *v = cJSON_Parse(instance_json);
    assert_non_null(s);
    assert_non_null(v);
    bool ok = validate(s, s, v, "", err, n);
    cJSON_Delete(s);
    cJSON_Delete(v);
    return ok;
}

static void test_validator(void **state)
{
    (void)state;
    char err[512];
    const char *schema =
        "{\"type\":\"object\",\"required\":[\"a\",\"b\"],\"additionalProperties\":false,"
        "\"properties\":{\"a\":{\"type\":[\"integer\",\"null\"],\"minimum\":1,\"maximum\":10},"
        "\"b\":{\"$ref\":\"#/$defs/bs\"},\"c\":{\"enum\":[\"x\",\"y\"]},\"d\":{\"const\":\"k\"},"
        "\"e\":{\"type\":\"string\",\"minLength\":2}},"
        "\"$defs\":{\"bs\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":\"boolean\"}}}}";
    assert_true(validate_text(schema, "{\"a\":3,\"b\":[true],\"c\":\"y\",\"d\":\"k\",\"e\":\"\xc3\xa9\xc3\xa9\"}", err, sizeof err));
    assert_true(validate_text(schema, "{\"a\":null,\"b\":[false,true]}", err, sizeof err));
    /* each of these breaks exactly one rule */
    static const char *const bad[] = {
        "{\"b\":[true]}",                        /* required */
        "{\"a\":3,\"b\":[true],\"z\":1}",        /* additionalProperties */
        "{\"a\":3.5,\"b\":[true]}",              /* integer */
        "{\"a\":0,\"b\":[true]}",                /* minimum */
        "{\"a\":11,\"b\":[true]}",               /* maximum */
        "{\"a\":\"3\",\"b\":[true]}",            /* type */
        "{\"a\":3,\"b\":[]}",                    /* minItems through $ref */
        "{\"a\":3,\"b\":[1]}",                   /* items */
        "{\"a\":3,\"b\":[true],\"c\":\"z\"}",    /* enum */
        "{\"a\":3,\"b\":[true],\"d\":\"j\"}",    /* const */
        "{\"a\":3,\"b\":[true],\"e\":\"\xc3\xa9\"}", /* minLength counts characters */
        "[1]",                                   /* root type */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        if (validate_text(schema, bad[i], err, sizeof err)) fail_msg("accepted %s", bad[i]);
        assert_true(err[0] != 0);
    }
    /* a keyword the validator does not implement is an error, not ignored */
    assert_false(validate_text("{\"type\":\"object\",\"oneOf\":[]}", "{}", err, sizeof err));
    assert_non_null(strstr(err, "oneOf"));
}

/* ---- parts ------------------------------------------------------------------------------- */

static void test_stats_and_params(void **state)
{
    (void)state;
    double v[] = {5, 1, 4, 2, 3};
    fg_bench_stat s = fg_bench_stats(v, 5);
    assert_true(s.median == 3 && s.min == 1 && s.max == 5);
    s = fg_bench_stats(v, 4); /* 5 1 4 2 -> 1 2 4 5 */
    assert_true(s.median == 3 && s.min == 1 && s.max == 5);
    /* Qwen2.5-0.5B: 494,032,768 parameters as its model card and Hugging Face count them
     * (0.36B non-embedding + 151936 x 896 tied embedding). */
    fg_hparams hp = {.arch = FG_ARCH_QWEN2, .n_vocab = 151936, .n_embd = 896, .n_layer = 24, .n_head = 14,
                     .n_head_kv = 2, .head_dim = 64, .n_ff = 4864, .has_qkv_bias = true, .tied_output = true};
    assert_int_equal(fg_bench_param_count(&hp), 494032768);
    /* an HF directory's size is its safetensors */
    struct stat st;
    char p[1024];
    snprintf(p, sizeof p, "%s", test_model_path("qwen2-tiny-hf/model.safetensors"));
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(fg_bench_file_size(test_model_path("qwen2-tiny-hf")), st.st_size);
    assert_int_equal(fg_bench_file_size(test_model_path("no-such-model")), -1);
}

static void test_spec(void **state)
{
    (void)state;
    fg_suite_spec s;
    const char *ok = "{\"name\":\"t\",\"models\":[\"a.gguf\",{\"path\":\"dir/b/\",\"quant\":\"Q8_0\",\"ctx\":512,"
                     "\"timeout_s\":2.5,\"env\":{\"X\":\"1\"}}],\"prompt_tokens\":10,\"gen_tokens\":0,\"reps\":5,"
                     "\"ctx\":1024,\"threads\":2,\"mem_limit\":\"7.4G\",\"fit\":true,\"timeout_s\":30}";
    assert_int_equal(fg_suite_spec_parse(ok, strlen(ok), "t.json", &s), FG_OK);
    assert_int_equal(s.n_entries, 2);
    assert_string_equal(s.entries[0].name, "a.gguf");
    assert_string_equal(s.entries[1].name, "b");
    assert_string_equal(s.entries[1].quant, "Q8_0");
    assert_int_equal(s.entries[1].n_ctx, 512);
    assert_true(s.entries[1].timeout_s == 2.5);
    assert_int_equal(s.entries[1].n_env, 1);
    assert_string_equal(s.entries[1].env[0], "X=1");
    assert_int_equal(s.n_prompt, 10);
    assert_int_equal(s.n_gen, 0);
    assert_int_equal(s.reps, 5);
    assert_int_equal(s.mem_limit, (int64_t)(7.4 * 1024 * 1024 * 1024));
    assert_true(s.fit);
    fg_suite_spec_free(&s);

    static const char *const bad[][2] = {
        {"{\"models\":[]}", "models"},
        {"{\"prompt_tokens\":3}", "no models"},
        {"{\"models\":[\"a\"],\"reps\":0}", "reps"},
        {"{\"models\":[\"a\"],\"reps\":2.5}", "reps"},
        {"{\"models\":[\"a\"],\"mem_limit\":\"lots\"}", "mem_limit"},
        {"{\"models\":[\"a\"],\"fit\":true}", "fit needs"},
        {"{\"models\":[\"a\"],\"colour\":1}", "unknown field 'colour'"},
        {"{\"models\":[{\"path\":\"a\",\"quant\":\"q3\"}]}", "unknown quantization"},
        {"{\"models\":[{\"name\":\"x\"}]}", "no path"},
        {"{\"models\":[{\"path\":\"a\",\"name\":\"../x\"}]}", "name"},
        {"{\"models\":[{\"path\":\"a\",\"env\":{\"X\":1}}]}", "env"},
        {"{\"models\":[7]}", "models[0]"},
        {"[1]", "object"},
        {"{\"models\":", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fg_status st = fg_suite_spec_parse(bad[i][0], strlen(bad[i][0]), "t.json", &s);
        if (st == FG_OK) fail_msg("accepted %s", bad[i][0]);
        if (!strstr(fg_last_error(), bad[i][1])) fail_msg("'%s': message '%s' lacks '%s'", bad[i][0], fg_last_error(), bad[i][1]);
        assert_int_equal(s.n_entries, 0);
    }
    int64_t v;
    assert_true(fg_suite_parse_size("512M", &v) && v == 512 << 20);
    assert_true(fg_suite_parse_size("1.5GiB", &v) && v == 3LL << 29);
    assert_true(fg_suite_parse_size("100", &v) && v == 100);
    assert_false(fg_suite_parse_size("12X", &v));
    assert_false(fg_suite_parse_size("-1G", &v));
}

/* ---- end to end -------------------------------------------------------------------------- */

static cJSON *load_json(const char *path)
{
    char *t = test_read_file(path, NULL);
    if (!t) fail_msg("cannot read %s", path);
    cJSON *j = cJSON_Parse(t);
    if (!j) fail_msg("%s is not valid JSON", path);
    free(t);
    return j;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) fail_msg("'%s' is not a number", k);
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v)) fail_msg("'%s' is not a string", k);
    return v->valuestring;
}

static const cJSON *entry(const cJSON *models, const char *name)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, models)
        if (!strcmp(str(m, "name"), name)) return m;
    fail_msg("no entry %s in the report", name);
    return NULL;
}

static double median_of(const cJSON *runs)
{
    int n = cJSON_GetArraySize(runs);
    double v[64];
    assert_true(n >= 1 && n <= 64);
    for (int i = 0; i < n; i++) v[i] = cJSON_GetArrayItem(runs, i)->valuedouble;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Counts CSV fields of one line, honouring quotes. */
static int csv_fields(const char *line)
{
    int n = 1;
    bool q = false;
    for (const char *c = line; *c && *c != '\n'; c++) {
        if (*c == '"') q = !q;
        else if (*c == ',' && !q) n++;
    }
    return n;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

/* A model that ran to the end: the report agrees with the child's own files. */
static void check_ran(const char *dir, const cJSON *m, const char *model_path, int64_t limit)
{
    char p[1024];
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "ran")));
    assert_int_equal((int)num(m, "exit_code"), 0);
    snprintf(p, sizeof p, "%s/%s", dir, str(cJSON_GetObjectItem(m, "files"), "bench"));
    cJSON *bench = load_json(p);
    snprintf(p, sizeof p, "%s/%s", dir, str(cJSON_GetObjectItem(m, "files"), "memory"));
    cJSON *mem = load_json(p);

    double peak = num(m, "peak_rss");
    assert_true(peak == num(bench, "peak_rss"));
    const cJSON *kernel = cJSON_GetObjectItem(cJSON_GetObjectItem(mem, "breakdown"), "kernel");
    assert_true(peak == num(kernel, "vm_hwm")); /* the child's own memory report */
    double kv = num(m, "kv_used");
    assert_true(kv == num(bench, "kv_used"));
    const cJSON *tag_kv = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(mem, "breakdown"), "tags"),
                                              fg_mem_tag_name(FG_MEM_KV));
    assert_true(kv == num(tag_kv, "peak"));
    assert_true(kv > 0);
    /* medians: the report's figure, the child's, and recomputed from the child's runs */
    static const char *const speeds[][2] = {{"prefill_tok_s", "prefill_tok_s"}, {"decode_tok_s", "decode_tok_s"},
                                            {"ttft_ms", "ttft_ms"}};
    for (int i = 0; i < 3; i++) {
        const cJSON *st = cJSON_GetObjectItem(bench, speeds[i][1]);
        double med = num(st, "median");
        assert_true(num(m, speeds[i][0]) == med);
        assert_true(fabs(median_of(cJSON_GetObjectItem(st, "runs")) - med) <= 1e-9 * med);
        assert_true(med > 0);
    }
    /* sizes against the file system and the planner's own count of the tensors */
    struct stat sb;
    assert_int_equal(stat(model_path, &sb), 0);
    assert_true(num(m, "file_size") == (double)sb.st_size);
    assert_true(num(m, "params") == num(cJSON_GetObjectItem(m, "plan"), "parameters"));
    /* the prediction counts the KV positions the bench uses (24 prompt + 6 generated), not
     * the whole context of 128 that the gate checked */
    const cJSON *pl = cJSON_GetObjectItem(m, "plan");
    assert_true(num(pl, "n_ctx") == 128 && num(pl, "kv_positions") == 30);
    assert_true(num(m, "predicted_peak") == num(pl, "peak"));
    assert_true(num(m, "overhead_over_file") == peak - (double)sb.st_size);
    assert_true(num(m, "overhead_over_file_kv") == peak - (double)sb.st_size - kv);
    /* the parent's samples: never above the child's high-water mark (plus the little the
     * child allocates printing its report), and they did see the process (a 10 ms sampler
     * can miss the peak of a child that runs a tiny model in a few tens of ms, so no
     * lower bound relative to the peak is asserted) */
    double sampled = num(m, "sampled_peak_rss");
    assert_true(sampled <= peak + 4 * 1048576.0);
    assert_true(sampled > 0);
    assert_true(num(m, "sampled_peak_anon") > 0 && num(m, "sampled_peak_file") > 0);
    /* phases as the parent marked them: load, then prefill, then decode */
    const cJSON *ph;
    int seen = 0;
    double last = 0;
    cJSON_ArrayForEach(ph, cJSON_GetObjectItem(m, "phases")) {
        const char *n = str(ph, "name");
        assert_true(num(ph, "t0_ms") >= last - 1e-9 && num(ph, "t1_ms") >= num(ph, "t0_ms"));
        last = num(ph, "t0_ms");
        if (!strcmp(n, "load") && seen == 0) seen = 1;
        if (!strcmp(n, "prefill") && seen == 1) seen = 2;
        if (!strcmp(n, "decode") && seen == 2) seen = 3;
    }
    assert_int_equal(seen, 3);
    /* the child's own timeline marked the same phases */
    const cJSON *mk;
    int own = 0;
    cJSON_ArrayForEach(mk, cJSON_GetObjectItem(mem, "marks")) {
        const char *n = str(mk, "phase");
        own |= !strcmp(n, "load") ? 1 : !strcmp(n, "prefill") ? 2 : !strcmp(n, "decode") ? 4 : 0;
    }
    assert_int_equal(own, 7);
    /* the verdict follows from the measured peak */
    assert_string_equal(str(m, "verdict"), peak <= (double)limit ? "fits" : "over_limit");
    /* system figures are consistent */
    const cJSON *sb4 = cJSON_GetObjectItem(m, "system_before");
    assert_true(num(sb4, "used") == num(sb4, "mem_total") - num(sb4, "mem_available"));
    const cJSON *after = cJSON_GetObjectItem(m, "memory_after");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(after, "returned")) == (num(after, "leftover") <= 16 * 1048576.0));
    snprintf(p, sizeof p, "%s/%s", dir, str(cJSON_GetObjectItem(m, "files"), "svg"));
    char *svg = test_read_file(p, NULL);
    assert_non_null(svg);
    assert_true(!strncmp(svg, "<svg ", 5) && count(svg, "<svg") == 1 && count(svg, "</svg>") == 1);
    assert_non_null(strstr(svg, "limit 1.00 GiB"));
    free(svg);
    cJSON_Delete(bench);
    cJSON_Delete(mem);
}

static void test_suite_end_to_end(void **state)
{
    (void)state;
    const char *bin = getenv("FG_BIN");
    if (!bin) skip();
    char *tmp = test_tmpdir();
    assert_non_null(tmp);
    char q8[1024], q4[1024], f32[1024], tiny[1024], spec[1200], dir[1200], cmd[4096], p[1300];
    snprintf(q8, sizeof q8, "%s", test_model_path("qwen2-q256-q8_0.gguf"));
    snprintf(q4, sizeof q4, "%s", test_model_path("qwen2-q256-q4_k_m.gguf"));
    snprintf(f32, sizeof f32, "%s", test_model_path("qwen2-q256-f32.gguf"));
    snprintf(tiny, sizeof tiny, "%s", test_model_path("qwen2-tiny-f32.gguf"));
    snprintf(spec, sizeof spec, "%s/suite.json", tmp);
    snprintf(dir, sizeof dir, "%s/out", tmp);
    char json[8192];
    snprintf(json, sizeof json,
             "{\"name\": \"test suite\", \"prompt_tokens\": 24, \"gen_tokens\": 6, \"reps\": 2, \"ctx\": 128,"
             " \"threads\": 2, \"mem_limit\": \"1G\", \"timeout_s\": 300, \"models\": ["
             " \"%s\","
             " {\"path\": \"%s\", \"name\": \"crash\", \"env\": {\"FG_SUITE_TEST_CRASH\": \"1\"}},"
             " {\"path\": \"%s/no-such-model.gguf\", \"name\": \"missing\"},"
             " {\"path\": \"%s\", \"name\": \"huge-ctx\", \"ctx\": 4000000},"
             " {\"path\": \"%s\", \"name\": \"f32-as-q8\", \"quant\": \"q8_0\"},"
             " {\"path\": \"%s\", \"name\": \"hang\", \"timeout_s\": 3, \"env\": {\"FG_SUITE_TEST_HANG\": \"1\"}},"
             " \"%s\"]}",
             q8, tiny, tmp, f32, f32, tiny, q4);
    assert_int_equal(test_write_file(spec, json, strlen(json)), 0);
    snprintf(cmd, sizeof cmd, "'%s' suite '%s' --out '%s' > '%s/stdout.txt' 2> '%s/stderr.txt'", bin, spec, dir, tmp, tmp);
    int rc = system(cmd);
    snprintf(p, sizeof p, "%s/stderr.txt", tmp);
    char *err = test_read_file(p, NULL);
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) fail_msg("frugal suite failed: %s", err ? err : "?");
    /* the progress display: one line per finished entry (stderr is not a terminal here) */
    assert_non_null(err);
    assert_int_equal(count(err, "] "), 7);
    free(err);

    snprintf(p, sizeof p, "%s/report.json", dir);
    cJSON *rep = load_json(p);
    snprintf(p, sizeof p, "%s", test_data_path("../../docs/suite-report.schema.json"));
    cJSON *schema = load_json(p);
    char verr[512];
    if (!validate(schema, schema, rep, "", verr, sizeof verr)) fail_msg("report.json does not match the schema: %s", verr);
    cJSON_Delete(schema);

    const cJSON *models = cJSON_GetObjectItem(rep, "models");
    assert_int_equal(cJSON_GetArraySize(models), 7);
    int64_t limit = 1LL << 30;
    assert_true(num(cJSON_GetObjectItem(rep, "settings"), "mem_limit") == (double)limit);
    /* no figure given: the report has none, each model measured its own weights' rate */
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(rep, "bandwidth_gb_s")));

    const cJSON *m = entry(models, "qwen2-q256-q8_0.gguf");
    check_ran(dir, m, q8, limit);
    assert_string_equal(str(m, "weight_type"), "q8_0");
    assert_true(num(cJSON_GetObjectItem(m, "bench"), "bandwidth_gb_s") > 0);
    assert_true(num(cJSON_GetObjectItem(m, "bench"), "ceiling_fraction") > 0);
    m = entry(models, "qwen2-q256-q4_k_m.gguf");
    check_ran(dir, m, q4, limit);
    assert_string_equal(str(m, "weight_type"), "q4_k_m");
    m = entry(models, "f32-as-q8");
    check_ran(dir, m, f32, limit);
    assert_string_equal(str(m, "weight_type"), "q8_0");
    /* converted while loading: the weights computed with are far smaller than the F32 file */
    assert_true(num(cJSON_GetObjectItem(m, "bench"), "weight_bytes") < num(m, "file_size") / 3);

    m = entry(models, "crash");
    assert_string_equal(str(m, "verdict"), "crashed");
    assert_int_equal((int)num(m, "signal"), 6 /* SIGABRT */);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "ran")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "bench")) && cJSON_IsNull(cJSON_GetObjectItem(m, "exit_code")));
    assert_true(num(m, "sampled_peak_rss") > 0); /* the parent saw it load before it died */
    assert_non_null(strstr(str(m, "message"), "SIGABRT"));

    m = entry(models, "hang");
    assert_string_equal(str(m, "verdict"), "timeout");
    assert_true(num(m, "wall_s") >= 3 && num(m, "wall_s") < 30);
    assert_non_null(strstr(str(m, "message"), "killed"));

    m = entry(models, "missing");
    assert_string_equal(str(m, "verdict"), "missing");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(m, "ran")));
    assert_non_null(strstr(str(m, "message"), "No such file"));

    m = entry(models, "huge-ctx");
    assert_string_equal(str(m, "verdict"), "does_not_fit");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(m, "ran")));
    assert_true(num(m, "predicted_peak") > (double)limit);
    /* refused for the context it reserves, not for the few positions it would use */
    assert_true(num(cJSON_GetObjectItem(m, "plan"), "kv_positions") == 4000000);
    assert_true(strlen(str(m, "message")) > 10); /* what would fit */
    snprintf(p, sizeof p, "%s/huge-ctx.log", dir);
    struct stat sb;
    assert_int_not_equal(stat(p, &sb), 0); /* never started */

    /* the other formats */
    snprintf(p, sizeof p, "%s/report.csv", dir);
    char *csv = test_read_file(p, NULL);
    assert_non_null(csv);
    assert_int_equal(count(csv, "\n"), 8);
    for (char *line = csv; *line; line = strchr(line, '\n') + 1) assert_int_equal(csv_fields(line), 18);
    assert_non_null(strstr(csv, "\"does_not_fit\""));
    free(csv);
    snprintf(p, sizeof p, "%s/report.md", dir);
    char *md = test_read_file(p, NULL);
    assert_non_null(md);
    assert_int_equal(count(md, "\n| "), 9); /* header, separator, 7 rows */
    assert_non_null(strstr(md, "crashed (SIGABRT)"));
    free(md);
    snprintf(p, sizeof p, "%s/report.html", dir);
    char *html = test_read_file(p, NULL);
    assert_non_null(html);
    /* self-contained: the comparison and one chart per model that ran (5), nothing fetched */
    assert_int_equal(count(html, "<svg "), 6);
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "src=\"http"));
    free(html);
    snprintf(p, sizeof p, "%s/stdout.txt", tmp);
    char *out = test_read_file(p, NULL);
    assert_non_null(out);
    assert_non_null(strstr(out, "does not fit"));
    assert_non_null(strstr(out, "report.html"));
    free(out);
    cJSON_Delete(rep);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
    free(tmp);
}

/* --fit on the command-line form: a context too large for the limit is shrunk by the
 * plan, and the child runs with what the plan chose. */
static void test_suite_fit(void **state)
{
    (void)state;
    const char *bin = getenv("FG_BIN");
    if (!bin) skip();
    char *tmp = test_tmpdir();
    assert_non_null(tmp);
    char cmd[4096], p[1100];
    snprintf(cmd, sizeof cmd,
             "'%s' suite '%s' --mem-limit 1G --fit --ctx 4000000 -p 16 -n 4 -r 1 --threads 2 --no-bandwidth "
             "--json -q --out '%s/out' > '%s/report.json'",
             bin, test_model_path("qwen2-q256-f32.gguf"), tmp, tmp);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    snprintf(p, sizeof p, "%s/report.json", tmp);
    cJSON *rep = load_json(p);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "settings"), "fit")));
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "models"), 0);
    assert_string_equal(str(m, "verdict"), "fits");
    double ctx = num(m, "plan_ctx");
    assert_true(ctx >= 16 && ctx < 4000000);
    assert_true(num(cJSON_GetObjectItem(m, "bench"), "n_ctx") == ctx);
    assert_true(num(m, "predicted_peak") <= (double)(1LL << 30));
    /* --no-bandwidth: no figure, and the child did not probe on its own either */
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(rep, "bandwidth_gb_s")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "bench"), "bandwidth_gb_s")));
    const cJSON *ph;
    cJSON_ArrayForEach(ph, cJSON_GetObjectItem(m, "phases")) assert_string_not_equal(str(ph, "name"), "bandwidth");
    cJSON_Delete(rep);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validator),
        cmocka_unit_test(test_stats_and_params),
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_suite_end_to_end),
        cmocka_unit_test(test_suite_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
