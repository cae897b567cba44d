/* Chat templates: frugal's Jinja interpreter against independent renderers.
 *
 *  - tests/data/templates/goldens.json: the six model templates and the built-in formats
 *    rendered by @huggingface/jinja (scripts/goldens/templates/make_goldens.mjs) for 1-4
 *    turn conversations with and without a system message, add_generation_prompt on/off,
 *    Qwen3/SmolLM3 enable_thinking unset/true/false, Llama 3.2 with strftime_now on a
 *    fixed clock and with date_string; outputs must be byte-identical, and templates that
 *    raise (Gemma 2 and a system message) must fail with the same message.
 *  - tests/data/templates/jinja2-probes.json: one-feature probes rendered by Python's
 *    Jinja2 set up as transformers does (scripts/goldens/templates/make_probes.py).
 *  - errors (one line, naming the construct and line), limits against hostile templates
 *    (nesting, range(10**9), step and memory budgets, recursion), allocation-failure
 *    injection, and concurrent renders of one compiled template. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "mem/mem.h"
#include "testutil.h"
#include "token/chat.h"

static cJSON *load_json(const char *rel)
{
    char *text = test_read_file(test_data_path(rel), NULL);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* Prints both strings with escapes around the first difference. */
static void show_diff(const char *what, const char *got, size_t got_len, const char *want)
{
    size_t want_len = strlen(want), i = 0;
    while (i < got_len && i < want_len && got[i] == want[i]) i++;
    fprintf(stderr, "MISMATCH %s at byte %zu\n  got : ", what, i);
    size_t from = i > 40 ? i - 40 : 0;
    for (size_t k = from; k < got_len && k < i + 60; k++) fprintf(stderr, got[k] == '\n' ? "\\n" : "%c", got[k]);
    fprintf(stderr, "\n  want: ");
    for (size_t k = from; k < want_len && k < i + 60; k++) fprintf(stderr, want[k] == '\n' ? "\\n" : "%c", want[k]);
    fprintf(stderr, "\n");
}

static int64_t runtime_bytes(void)
{
    fg_mem_stats st;
    fg_mem_get_stats(&st);
    return st.current[FG_MEM_RUNTIME];
}

/* ---- goldens from @huggingface/jinja ---------------------------------------------------------- */
typedef struct conv { const char *name; fg_chat_message msgs[16]; size_t n; } conv;

static size_t load_conversations(const cJSON *gold, conv *out, size_t cap)
{
    size_t n = 0;
    const cJSON *convs = cJSON_GetObjectItemCaseSensitive(gold, "conversations"), *c;
    cJSON_ArrayForEach(c, convs) {
        assert_true(n < cap);
        out[n].name = c->string;
        out[n].n = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, c) {
            assert_true(out[n].n < 16);
            out[n].msgs[out[n].n].role = jstr(m, "role");
            out[n].msgs[out[n].n].content = jstr(m, "content");
            out[n].n++;
        }
        n++;
    }
    return n;
}

static const conv *find_conv(const conv *convs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(convs[i].name, name)) return &convs[i];
    fail_msg("unknown conversation %s", name);
    return NULL;
}

/* Renders every case of one golden entry with a compiled template; returns mismatches. */
static int check_cases(const char *label, const fg_chat_template *t, const cJSON *entry, const conv *convs,
                       size_t nconv, int64_t now, int *n_checked)
{
    int bad = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(entry, "cases")) {
        const conv *cv = find_conv(convs, nconv, jstr(c, "conversation"));
        fg_chat_options o = fg_chat_default_options();
        o.add_generation_prompt = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt"));
        o.bos_token = jstr(entry, "bos_token");
        o.eos_token = jstr(entry, "eos_token");
        o.now = now;
        const cJSON *think = cJSON_GetObjectItemCaseSensitive(c, "enable_thinking");
        if (think) o.enable_thinking = cJSON_IsTrue(think) ? 1 : 0;
        fg_chat_var var = { "date_string", FG_CHAT_VAR_STRING, jstr(c, "date_string") };
        if (var.value) { o.vars = &var; o.n_vars = 1; }

        char *out = NULL;
        size_t len = 0;
        fg_status s = fg_chat_template_render(t, cv->msgs, cv->n, &o, &out, &len);
        const char *want = jstr(c, "output"), *want_err = jstr(c, "error");
        char what[256];
        snprintf(what, sizeof what, "%s conv=%s gen=%d think=%d date=%s", label, cv->name, o.add_generation_prompt,
                 o.enable_thinking, var.value ? var.value : "-");
        if (want) {
            if (s != FG_OK) {
                fprintf(stderr, "FAIL %s: %s\n", what, fg_last_error());
                bad++;
            } else if (len != strlen(want) || memcmp(out, want, len) != 0) {
                show_diff(what, out, len, want);
                bad++;
            }
        } else {
            assert_non_null(want_err);
            /* the template's own raise_exception message, as a clean FG_ERR_ARG */
            if (s != FG_ERR_ARG || !strstr(fg_last_error(), want_err) || strchr(fg_last_error(), '\n')) {
                fprintf(stderr, "FAIL %s: expected error '%s', got status %d '%s'\n", what, want_err, s, fg_last_error());
                bad++;
            }
        }
        fg_free(out);
        (*n_checked)++;
    }
    return bad;
}

static void test_model_template_goldens(void **state)
{
    (void)state;
    cJSON *gold = load_json("templates/goldens.json");
    conv convs[32];
    size_t nconv = load_conversations(gold, convs, 32);
    int64_t now = (int64_t)cJSON_GetObjectItemCaseSensitive(gold, "now_unix")->valuedouble;
    int bad = 0, checked = 0, templates = 0;
    int64_t base = runtime_bytes();
    const cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(gold, "templates")) {
        char rel[256];
        snprintf(rel, sizeof rel, "templates/%s", jstr(entry, "file"));
        size_t len;
        char *src = test_read_file(test_data_path(rel), &len);
        assert_non_null(src);
        fg_chat_template *t;
        fg_status s = fg_chat_template_compile(src, len, &t);
        if (s != FG_OK) fail_msg("%s: %s", rel, fg_last_error());
        bad += check_cases(jstr(entry, "file"), t, entry, convs, nconv, now, &checked);
        fg_chat_template_free(t);
        free(src);
        templates++;
    }
    fprintf(stderr, "model templates: %d templates, %d cases, %d mismatches\n", templates, checked, bad);
    assert_int_equal(templates, 6);
    assert_true(checked >= 300);
    assert_int_equal(bad, 0);
    assert_int_equal(runtime_bytes(), base);   /* everything freed */
    cJSON_Delete(gold);
}

static void test_builtin_goldens(void **state)
{
    (void)state;
    cJSON *gold = load_json("templates/goldens.json");
    conv convs[32];
    size_t nconv = load_conversations(gold, convs, 32);
    int64_t now = (int64_t)cJSON_GetObjectItemCaseSensitive(gold, "now_unix")->valuedouble;
    int bad = 0, checked = 0, formats = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(gold, "builtins")) {
        const char *name = jstr(entry, "name");
        const char *src = fg_chat_builtin(name);
        assert_non_null(src);
        /* the goldens were rendered from this very text */
        assert_string_equal(src, jstr(entry, "template"));
        fg_chat_template *t;
        if (fg_chat_template_compile(src, strlen(src), &t) != FG_OK) fail_msg("%s: %s", name, fg_last_error());
        bad += check_cases(name, t, entry, convs, nconv, now, &checked);
        fg_chat_template_free(t);
        formats++;
    }
    fprintf(stderr, "built-in formats: %d formats, %d cases, %d mismatches\n", formats, checked, bad);
    assert_true(formats >= 6);
    assert_int_equal(bad, 0);
    cJSON_Delete(gold);
}

/* The built-in formats reproduce the real templates where they should: chatml is
 * Qwen2.5's output when a system message is given; phi3 is Phi-3.5's; gemma is Gemma 2's
 * without a system message (compared with the real templates' goldens). */
static void test_builtins_match_model_templates(void **state)
{
    (void)state;
    cJSON *gold = load_json("templates/goldens.json");
    conv convs[32];
    size_t nconv = load_conversations(gold, convs, 32);
    static const struct { const char *builtin, *file; bool system_only, no_system; } pairs[] = {
        { "chatml", "Qwen-Qwen2.5-7B-Instruct.jinja", true, false },
        { "phi3", "microsoft-Phi-3.5-mini-instruct.jinja", false, false },
        { "gemma", "google-gemma-2-2b-it.jinja", false, true },
    };
    int compared = 0;
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        const cJSON *entry, *found = NULL;
        cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(gold, "templates"))
            if (!strcmp(jstr(entry, "file"), pairs[p].file)) found = entry;
        assert_non_null(found);
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(found, "cases")) {
            const char *want = jstr(c, "output");
            if (!want) continue;
            const conv *cv = find_conv(convs, nconv, jstr(c, "conversation"));
            bool has_system = cv->n > 0 && !strcmp(cv->msgs[0].role, "system");
            if (pairs[p].system_only && !has_system) continue;
            if (pairs[p].no_system && has_system) continue;
            fg_chat_options o = fg_chat_default_options();
            o.add_generation_prompt = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt"));
            o.bos_token = jstr(found, "bos_token");
            o.eos_token = jstr(found, "eos_token");
            char *out;
            size_t len;
            assert_int_equal(fg_chat_render(fg_chat_builtin(pairs[p].builtin), cv->msgs, cv->n, &o, &out, &len), FG_OK);
            if (len != strlen(want) || memcmp(out, want, len)) {
                show_diff(pairs[p].builtin, out, len, want);
                fail();
            }
            fg_free(out);
            compared++;
        }
    }
    assert_true(compared >= 30);
    cJSON_Delete(gold);
}

static void test_builtin_names(void **state)
{
    (void)state;
    const char *const *names = fg_chat_builtin_names();
    int n = 0;
    for (; names[n]; n++) assert_non_null(fg_chat_builtin(names[n]));
    assert_true(n >= 6);
    static const char *const required[] = { "chatml", "llama3", "llama2", "phi3", "gemma", "zephyr" };
    for (size_t i = 0; i < 6; i++) assert_non_null(fg_chat_builtin(required[i]));
    assert_ptr_equal(fg_chat_builtin("ChatML"), fg_chat_builtin("chatml"));
    assert_null(fg_chat_builtin("no-such-format"));
    assert_null(fg_chat_builtin(NULL));
}

/* ---- probes from Python Jinja2 ------------------------------------------------------------------ */
static void test_jinja2_probes(void **state)
{
    (void)state;
    cJSON *gold = load_json("templates/jinja2-probes.json");
    int64_t now = (int64_t)cJSON_GetObjectItemCaseSensitive(gold, "now_unix")->valuedouble;
    int bad = 0, n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(gold, "probes")) {
        const char *name = jstr(p, "name"), *src = jstr(p, "template"), *want = jstr(p, "output");
        /* the probe's variables, passed as JSON variables */
        fg_chat_var vars[8];
        char *texts[8];
        size_t nv = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(p, "vars")) {
            assert_true(nv < 8);
            texts[nv] = cJSON_PrintUnformatted(v);
            vars[nv] = (fg_chat_var){ v->string, FG_CHAT_VAR_JSON, texts[nv] };
            nv++;
        }
        fg_chat_options o = fg_chat_default_options();
        o.vars = vars;
        o.n_vars = nv;
        o.now = now;
        char *out = NULL;
        size_t len = 0;
        fg_status s = fg_chat_render(src, NULL, 0, &o, &out, &len);
        if (want) {
            if (s != FG_OK) {
                fprintf(stderr, "PROBE %s failed: %s\n", name, fg_last_error());
                bad++;
            } else if (len != strlen(want) || memcmp(out, want, len)) {
                show_diff(name, out, len, want);
                bad++;
            }
        } else if (s == FG_OK) {
            fprintf(stderr, "PROBE %s: Jinja2 raised (%s) but frugal rendered '%s'\n", name, jstr(p, "jinja2_error"), out);
            bad++;
        } else if (strchr(fg_last_error(), '\n') || strncmp(fg_last_error(), "chat template: ", 15)) {
            fprintf(stderr, "PROBE %s: bad error message '%s'\n", name, fg_last_error());
            bad++;
        }
        fg_free(out);
        for (size_t k = 0; k < nv; k++) cJSON_free(texts[k]);
        n++;
    }
    fprintf(stderr, "jinja2 probes: %d, %d mismatches\n", n, bad);
    assert_true(n >= 100);
    assert_int_equal(bad, 0);
    cJSON_Delete(gold);
}

/* ---- errors ---------------------------------------------------------------------------------------- */
static void expect_error(const char *src, fg_status want, const char *needle)
{
    fg_chat_message m = { "user", "hi" };
    char *out = NULL;
    fg_status s = fg_chat_render(src, &m, 1, NULL, &out, NULL);
    const char *err = fg_last_error();
    if (s != want || !strstr(err, needle) || strncmp(err, "chat template: ", 15) || strchr(err, '\n'))
        fail_msg("template %.60s: expected status %d with '%s', got %d '%s'", src, want, needle, s, err);
    assert_null(out);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("line 1\nline 2\n{{ messages | foo }}", FG_ERR_UNSUPPORTED, "unsupported filter 'foo' at line 3");
    expect_error("{% if x is frobbed %}{% endif %}", FG_ERR_UNSUPPORTED, "unsupported test 'frobbed' at line 1");
    expect_error("a\n{% include 'other.jinja' %}", FG_ERR_UNSUPPORTED, "unsupported statement 'include' at line 2");
    expect_error("{{ cycler(1, 2) }}", FG_ERR_UNSUPPORTED, "unknown function 'cycler'");
    expect_error("{{ 'x'.zfill(3) }}", FG_ERR_UNSUPPORTED, "unsupported method 'zfill'");
    expect_error("{% for x in y recursive %}{% endfor %}", FG_ERR_UNSUPPORTED, "recursive");
    expect_error("ok\n{{ messages[0].role ", FG_ERR_FORMAT, "unterminated tag '{{' at line 2");
    expect_error("{% if true ", FG_ERR_FORMAT, "unterminated tag '{%'");
    expect_error("x {# never closed", FG_ERR_FORMAT, "unterminated comment");
    expect_error("{{ 'abc }}", FG_ERR_FORMAT, "unterminated string literal");
    expect_error("\n\n{% for m in messages %}{{ m }}", FG_ERR_FORMAT, "'{% for %}' is never closed (missing '{% endfor %}') at line 3");
    expect_error("{% if true %}a{% endfor %}", FG_ERR_FORMAT, "unexpected '{% endfor %}' without a matching opening tag");
    expect_error("{% if true %}a{% else %}b", FG_ERR_FORMAT, "'{% if %}' is never closed (missing '{% endif %}')");
    expect_error("{% endif %}", FG_ERR_FORMAT, "unexpected '{% endif %}'");
    expect_error("{{ 1 + }}", FG_ERR_FORMAT, "expected an expression, got '}}'");
    expect_error("{{ a b }}", FG_ERR_FORMAT, "expected '}}', got 'b'");
    expect_error("{{ 'a' $ 'b' }}", FG_ERR_FORMAT, "unexpected character '$'");
    expect_error("{{ '\\x4' }}", FG_ERR_FORMAT, "invalid \\x escape");
    expect_error("{{ 99999999999999999999 }}", FG_ERR_UNSUPPORTED, "too large");
    expect_error("{{ raise_exception('Roles must alternate') }}", FG_ERR_ARG, "raise_exception: Roles must alternate at line 1");
    expect_error("{{ 1 / 0 }}", FG_ERR_FORMAT, "division by zero");
    expect_error("{{ 'a' + 1 }}", FG_ERR_FORMAT, "unsupported operand types for +: string and integer");
    expect_error("{{ 'x%s' % 1 }}", FG_ERR_UNSUPPORTED, "string formatting");
    expect_error("{% set d = {} %}{% set d.x = 1 %}", FG_ERR_FORMAT, "only of a namespace()");
    expect_error("{% break %}", FG_ERR_FORMAT, "outside a loop");
    expect_error("{{ 9223372036854775807 + 1 }}", FG_ERR_UNSUPPORTED, "integer overflow");
    /* JSON variables are checked */
    fg_chat_var bad = { "tools", FG_CHAT_VAR_JSON, "[{\"a\": 1,]" };
    fg_chat_options o = fg_chat_default_options();
    o.vars = &bad;
    o.n_vars = 1;
    char *out = NULL;
    assert_int_equal(fg_chat_render("{{ tools }}", NULL, 0, &o, &out, NULL), FG_ERR_ARG);
    assert_non_null(strstr(fg_last_error(), "JSON variable"));
    /* a NUL byte and missing arguments */
    fg_chat_template *t = NULL;
    assert_int_equal(fg_chat_template_compile("a\0b", 3, &t), FG_ERR_FORMAT);
    assert_null(t);
    assert_int_equal(fg_chat_render(NULL, NULL, 0, NULL, &out, NULL), FG_ERR_ARG);
    fg_chat_message noroles = { NULL, "x" };
    assert_int_equal(fg_chat_render("x", &noroles, 1, NULL, &out, NULL), FG_ERR_ARG);
}

/* ---- limits against hostile templates ---------------------------------------------------------------- */
static char *repeat_str(const char *a, int n, const char *mid, const char *b, int m)
{
    size_t la = strlen(a), lm = strlen(mid), lb = strlen(b);
    char *s = malloc(la * (size_t)n + lm + lb * (size_t)m + 1), *p = s;
    for (int i = 0; i < n; i++, p += la) memcpy(p, a, la);
    memcpy(p, mid, lm);
    p += lm;
    for (int i = 0; i < m; i++, p += lb) memcpy(p, b, lb);
    *p = 0;
    return s;
}

/* a + inner + b, freeing inner */
static char *wrap(const char *a, char *inner, const char *b)
{
    char *s = repeat_str(a, 1, inner, b, 1);
    free(inner);
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    int64_t base = runtime_bytes();
    struct { char *src; fg_status status; const char *needle; } cases[] = {
        { wrap("{{ ", repeat_str("(", 100000, "1", ")", 100000), " }}"), FG_ERR_UNSUPPORTED, "nesting deeper than" },
        { wrap("{{ ", repeat_str("[", 50000, "", "]", 50000), " }}"), FG_ERR_UNSUPPORTED, "nesting deeper than" },
        { repeat_str("{% if true %}", 20000, "x", "{% endif %}", 20000), FG_ERR_UNSUPPORTED, "nesting deeper than" },
        { wrap("{{ ", repeat_str("not ", 100000, "1", "", 0), " }}"), FG_ERR_UNSUPPORTED, "nesting deeper than" },
        { wrap("{{ ", repeat_str("-", 100000, "1", "", 0), " }}"), FG_ERR_UNSUPPORTED, "nesting deeper than" },
        { wrap("{% if false %}", repeat_str("{% elif false %}", 5000, "", "", 0), "{% endif %}"),
          FG_ERR_UNSUPPORTED, "nesting deeper than" },
        { strdup("{% for i in range(10**9) %}x{% endfor %}"), FG_ERR_UNSUPPORTED, "range() of 1000000000 items is over the limit" },
        { strdup("{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}"), FG_ERR_BUDGET, "budget of 5000000 steps" },
        { strdup("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"), FG_ERR_BUDGET, "" },
        { strdup("{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}"),
          FG_ERR_BUDGET, "MiB of memory" },
        { strdup("{{ 'x' * 10**12 }}"), FG_ERR_BUDGET, "too large" },
        /* scans allocate nothing; their cost still counts against the step budget */
        { strdup("{% set s = 'x' * 1000000 %}{% for i in range(100000) %}{% if 'y' in s %}{% endif %}{% endfor %}"),
          FG_ERR_BUDGET, "steps" },
        { strdup("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"), FG_ERR_UNSUPPORTED, "evaluation nested deeper" },
        { strdup("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"), FG_ERR_UNSUPPORTED, "value nested deeper" },
        { strdup("{% set ns = namespace(l=[]) %}{% for i in range(200) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l | tojson }}"),
          FG_ERR_UNSUPPORTED, "value nested deeper" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clock_t t0 = clock();
        expect_error(cases[i].src, cases[i].status, cases[i].needle);
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        if (secs > 5.0) fail_msg("limit case %zu took %.1f s", i, secs);
        free(cases[i].src);
    }
    assert_int_equal(runtime_bytes(), base);
}

/* ---- options, variables, message fields --------------------------------------------------------------- */
static void expect_render(const char *src, const fg_chat_message *m, size_t n, const fg_chat_options *o, const char *want)
{
    char *out = NULL;
    size_t len = 0;
    fg_status s = fg_chat_render(src, m, n, o, &out, &len);
    if (s != FG_OK) fail_msg("%s: %s", src, fg_last_error());
    assert_int_equal(len, strlen(want));
    assert_string_equal(out, want);
    fg_free(out);
}

static void test_options_and_variables(void **state)
{
    (void)state;
    fg_chat_options o = fg_chat_default_options();
    fg_chat_message m[2] = { { "user", "hi" }, { "assistant", NULL } };
    /* unset options are undefined variables; NULL content is none */
    expect_render("{{ bos_token is defined }}{{ eos_token is defined }}{{ enable_thinking is defined }}"
                  "{{ add_generation_prompt }}{{ messages[1].content is none }}",
                  m, 2, &o, "FalseFalseFalseFalseTrue");
    o.bos_token = "<s>";
    o.enable_thinking = 0;
    o.add_generation_prompt = true;
    expect_render("{{ bos_token }}{{ enable_thinking }}{{ add_generation_prompt }}", m, 2, &o, "<s>FalseTrue");
    /* typed variables; a JSON "messages" replaces the message list */
    fg_chat_var vars[] = {
        { "flag", FG_CHAT_VAR_BOOL, "true" },
        { "count", FG_CHAT_VAR_INT, "-42" },
        { "name", FG_CHAT_VAR_STRING, "Zoë" },
        { "tools", FG_CHAT_VAR_JSON, "[{\"name\": \"f\", \"n\": 1.5e3, \"u\": \"\\u00e9\\ud83d\\ude00\"}]" },
        { "messages", FG_CHAT_VAR_JSON, "[{\"role\": \"tool\", \"content\": {\"x\": [1, 2]}}]" },
    };
    fg_chat_options v = fg_chat_default_options();
    v.vars = vars;
    v.n_vars = 5;
    expect_render("{{ flag }} {{ count + 1 }} {{ name | upper }} {{ tools[0].n }} {{ tools | tojson }} "
                  "{{ messages[0].role }} {{ messages[0].content | tojson }}",
                  m, 2, &v, "True -41 ZOË 1500.0 [{\"name\": \"f\", \"n\": 1500.0, \"u\": \"é😀\"}] tool {\"x\": [1, 2]}");
    /* SmolLM3-style {% generation %} markers produce nothing; whitespace control applies */
    expect_render("a {%- generation -%} b {% endgeneration %}c", NULL, 0, NULL, "ab c");
    /* CRLF templates behave as LF ones (Jinja2 normalises newlines) */
    expect_render("{% if true %}\r\nx\r\n{% endif %}\r\n", NULL, 0, NULL, "x\n");
    /* strftime_now follows the clock given */
    fg_chat_options c = fg_chat_default_options();
    c.now = 1721995200;   /* 2024-07-26 12:00:00 UTC; TZ=UTC in this test */
    expect_render("{{ strftime_now('%d %b %Y') }}", NULL, 0, &c, "26 Jul 2024");
    /* without a clock: today */
    char today[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(today, sizeof today, "%Y-%m-%d", &tm);
    expect_render("{{ strftime_now('%Y-%m-%d') }}", NULL, 0, NULL, today);
}

/* ---- robustness ------------------------------------------------------------------------------------------ */
/* Every allocation of compile and render made to fail in turn: a clean error, no leak. */
static void test_allocation_failures(void **state)
{
    (void)state;
    char *src = test_read_file(test_data_path("templates/Qwen-Qwen3-0.6B.jinja"), NULL);
    assert_non_null(src);
    fg_chat_message m[3] = { { "system", "sys" }, { "user", "hi" }, { "assistant", "<think>\nx\n</think>\n\nok" } };
    fg_chat_options o = fg_chat_default_options();
    o.add_generation_prompt = true;
    char *want = NULL;
    assert_int_equal(fg_chat_render(src, m, 3, &o, &want, NULL), FG_OK);
    int64_t base = runtime_bytes();
    int failures = 0;
    for (int64_t k = 1; k < 200; k++) {
        fg_mem_fail_after(k);
        char *out = NULL;
        fg_status s = fg_chat_render(src, m, 3, &o, &out, NULL);
        fg_mem_fail_after(0);
        if (s == FG_OK) {
            assert_string_equal(out, want);
            fg_free(out);
            break;
        }
        failures++;
        assert_true(s == FG_ERR_NOMEM || s == FG_ERR_BUDGET);
        assert_null(out);
        assert_int_equal(runtime_bytes(), base);
    }
    assert_true(failures >= 3);
    fg_free(want);
    free(src);
}

/* Seeded mutations of the real templates (bytes replaced by Jinja-significant ones,
 * ranges deleted or duplicated, truncation): compile and render must end with FG_OK or a
 * clean one-line "chat template: ..." error; ASan/UBSan builds check the memory side. */
static void test_mutated_templates(void **state)
{
    (void)state;
    static const char *const files[] = {
        "templates/Qwen-Qwen2.5-7B-Instruct.jinja", "templates/Qwen-Qwen3-0.6B.jinja",
        "templates/HuggingFaceTB-SmolLM3-3B.jinja", "templates/meta-llama-Llama-3.2-3B-Instruct.jinja",
        "templates/google-gemma-2-2b-it.jinja", "templates/microsoft-Phi-3.5-mini-instruct.jinja",
    };
    static const char special[] = "{}%#-+()[]'\"|.,:=!<>~*/\\ \n\t0aZ_";
    fg_chat_message m[3] = { { "system", "s" }, { "user", "u" }, { "assistant", "a" } };
    fg_chat_options o = fg_chat_default_options();
    o.max_steps = 200000;
    o.max_bytes = 4u << 20;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int64_t base = runtime_bytes();
    int ok = 0, errors = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len;
        char *orig = test_read_file(test_data_path(files[f]), &len);
        assert_non_null(orig);
        char *buf = malloc(2 * len + 2);
        for (int iter = 0; iter < 300; iter++) {
            memcpy(buf, orig, len);
            size_t n = len;
            int edits = 1 + (int)((rng >> 7) % 4);
            for (int e = 0; e < edits && n > 2; e++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                size_t at = (size_t)(rng >> 33) % n, span = 1 + (size_t)(rng >> 20) % 24;
                if (span > n - at) span = n - at;
                switch ((rng >> 60) % 4) {
                case 0: buf[at] = special[(rng >> 40) % (sizeof special - 1)]; break;
                case 1: buf[at] = (char)(rng >> 45); break;
                case 2: memmove(buf + at, buf + at + span, n - at - span); n -= span; break;
                case 3: if (n + span <= 2 * len) { memmove(buf + at + span, buf + at, n - at); n += span; } break;
                }
            }
            char *out = NULL;
            fg_chat_template *t = NULL;
            fg_status s = fg_chat_template_compile(buf, n, &t);
            if (s == FG_OK) {
                s = fg_chat_template_render(t, m, 3, &o, &out, NULL);
                fg_chat_template_free(t);
            }
            if (s == FG_OK) {
                ok++;
                fg_free(out);
            } else {
                errors++;
                const char *err = fg_last_error();
                if (strncmp(err, "chat template: ", 15) || strchr(err, '\n') || strlen(err) < 20)
                    fail_msg("%s mutation %d: bad error '%s'", files[f], iter, err);
            }
        }
        free(buf);
        free(orig);
    }
    fprintf(stderr, "mutated templates: %d rendered, %d refused cleanly\n", ok, errors);
    assert_true(ok > 100 && errors > 100);
    assert_int_equal(runtime_bytes(), base);
}

typedef struct job { const fg_chat_template *t; const char *want; int ok; } job;

static void *render_many(void *arg)
{
    job *j = arg;
    fg_chat_message m[4] = { { "system", "s" }, { "user", "a" }, { "assistant", "b" }, { "user", "c" } };
    fg_chat_options o = fg_chat_default_options();
    o.add_generation_prompt = true;
    j->ok = 1;
    for (int i = 0; i < 200; i++) {
        char *out = NULL;
        if (fg_chat_template_render(j->t, m, 4, &o, &out, NULL) != FG_OK || strcmp(out, j->want)) j->ok = 0;
        fg_free(out);
    }
    return NULL;
}

/* One compiled template rendered by several threads at once (a server's use). */
static void test_compile_once_render_concurrently(void **state)
{
    (void)state;
    char *src = test_read_file(test_data_path("templates/Qwen-Qwen2.5-7B-Instruct.jinja"), NULL);
    fg_chat_template *t;
    assert_int_equal(fg_chat_template_compile(src, strlen(src), &t), FG_OK);
    const char *want = "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n"
                       "<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n";
    job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){ t, want, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, render_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].ok, 1);
    }
    fg_chat_template_free(t);
    free(src);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_template_goldens),
        cmocka_unit_test(test_builtin_goldens),
        cmocka_unit_test(test_builtins_match_model_templates),
        cmocka_unit_test(test_builtin_names),
        cmocka_unit_test(test_jinja2_probes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_options_and_variables),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_mutated_templates),
        cmocka_unit_test(test_compile_once_render_concurrently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
