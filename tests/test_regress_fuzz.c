/* Regressions from fuzzing (fuzz/, scripts/fuzz.sh) and the fault-injection walk
 * (tests/test_fault_walk.c): each case is the input that crashed, hung or was misreported,
 * reduced, with the behaviour it must have now. The crashing inputs themselves are also
 * seeds in fuzz/corpus/<target>/regress-*, replayed by every fuzz run.
 *
 * Some of these were undefined behaviour that only clang's UBSan reports (NULL + 0):
 * the gcc sanitizer build passes them either way; the fuzz build (clang) is the one
 * that fails without the fix. */
#include "testutil.h"
#include "serve/serve-impl.h"
#include "suite/suite.h"
#include "token/chat.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void expect_error(fg_status st, fg_status want, const char *needle)
{
    assert_int_equal(st, want);
    const char *msg = fg_last_error();
    if (!strstr(msg, needle)) fail_msg("message '%s' does not name '%s'", msg, needle);
    assert_null(strchr(msg, '\n'));
}

/* fuzz_gguf: an empty file. parse() formed NULL + 0 from the missing mapping
 * (src/format/gguf.c; UBSan: "applying zero offset to null pointer"). */
static void gguf_empty_file(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char p[1024];
    snprintf(p, sizeof p, "%s/empty.gguf", dir);
    assert_int_equal(test_write_file(p, "", 0), 0);
    fg_gguf *g = NULL;
    expect_error(fg_gguf_open(p, &g), FG_ERR_FORMAT, "not a GGUF file");
    assert_null(g);
    fg_model *m = NULL;
    expect_error(fg_model_load(p, NULL, &m), FG_ERR_FORMAT, "not a GGUF file");
    unlink(p);
    rmdir(dir);
    free(dir);
}

/* fuzz_tokenizer_json: a Split pre-tokenizer whose regex holds invalid UTF-8 (the fuzzer
 * put 0xff bytes into Qwen's pattern). The pattern was compiled with PCRE2_NO_UTF_CHECK,
 * and pcre2_compile read out of bounds (SEGV in libpcre2). Now PCRE2 validates it and the
 * load fails naming the split pattern. Also a String (literal) pattern. */
static void tokenizer_split_invalid_utf8(void **state)
{
    (void)state;
    static const char *const patterns[] = {
        "{\"Regex\": \"(?i:'s\xff\xff\xff\xff're|'ve)|\\\\p{L}+\"}",
        "{\"Regex\": \"\\\\\xe3{L}+\"}",
        "{\"String\": \"a\xc3\"}",
    };
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        char json[1024];
        int n = snprintf(json, sizeof json,
                         "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]},"
                         " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
                         "{\"type\": \"Split\", \"pattern\": %s, \"behavior\": \"Isolated\", \"invert\": false},"
                         "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"
                         " \"decoder\": {\"type\": \"ByteLevel\"}}",
                         patterns[i]);
        fg_tokenizer *t = NULL;
        fg_status st = fg_tok_load_hf_json(json, (size_t)n, NULL, 0, "tokenizer.json", &t);
        if (st == FG_OK) {
            fg_tok_free(t);
            fail_msg("pattern %zu with invalid UTF-8 was accepted", i);
        }
        assert_non_null(strstr(fg_last_error(), "split pattern"));
        if (!strstr(fg_last_error(), "UTF-8")) fail_msg("pattern %zu: %s", i, fg_last_error());
    }
}

/* Found writing the case above: a Split pre-tokenizer with a String (literal) pattern
 * never loaded: PCRE2_UCP was passed with PCRE2_LITERAL ("invalid option bits"). An
 * Isolated split on "-" keeps merges from crossing it, as Hugging Face's Split does:
 * "a-a" is a | - | a although "a -" is a merge. */
static void tokenizer_split_literal_pattern(void **state)
{
    (void)state;
    static const char json[] =
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"-\": 1, \"a-\": 2}, \"merges\": [\"a -\"]},"
        " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
        "{\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, \"behavior\": \"Isolated\", \"invert\": false},"
        "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"
        " \"decoder\": {\"type\": \"ByteLevel\"}}";
    fg_tokenizer *t = NULL;
    fg_status st = fg_tok_load_hf_json(json, sizeof json - 1, NULL, 0, "tokenizer.json", &t);
    if (st) fail_msg("%s", fg_last_error());
    int32_t ids[8];
    size_t n = 0;
    assert_int_equal(fg_tok_encode(t, "a-a", 3, false, false, ids, 8, &n), FG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 1);
    assert_int_equal(ids[2], 0);
    fg_tok_free(t);
}

/* fuzz_chat_template (from the Jinja2 probe seeds): select/reject with no arguments
 * shifted a NULL argument array by 0 (src/token/jinja_filters.c shift_args). The output
 * is Jinja2's. */
static void jinja_select_without_arguments(void **state)
{
    (void)state;
    static const struct {
        const char *tmpl, *want;
    } cases[] = {
        {"{{ [0, 1, '', 'x'] | select | list }}", "[1, 'x']"},
        {"{{ [0, 1, '', 'x'] | reject | list }}", "[0, '']"},
        {"{{ [1, 2, 3, 4] | select('odd') | list }}", "[1, 3]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        assert_int_equal(fg_chat_render(cases[i].tmpl, NULL, 0, NULL, &out, NULL), FG_OK);
        assert_string_equal(out, cases[i].want);
        fg_free(out);
    }
}

/* test_fault_walk: an allocation failure inside a template render was reported as the
 * render's own memory limit (FG_ERR_BUDGET "render needs more than 64 MiB") although
 * the render had used a few KiB: now FG_ERR_NOMEM. The limit itself still gives
 * FG_ERR_BUDGET. */
static void jinja_out_of_memory_is_not_the_limit(void **state)
{
    (void)state;
    const char *tmpl = "{% for m in messages %}{{ m.role }}: {{ m.content | upper }}\n{% endfor %}";
    fg_chat_template *t = NULL;
    assert_int_equal(fg_chat_template_compile(tmpl, strlen(tmpl), &t), FG_OK);
    const fg_chat_message msgs[] = {{"user", "hello"}};
    char *out = NULL;
    fg_mem_stats a, b;
    fg_mem_get_stats(&a);
    assert_int_equal(fg_chat_template_render(t, msgs, 1, NULL, &out, NULL), FG_OK);
    fg_mem_get_stats(&b);
    fg_free(out);
    out = NULL;
    const int64_t n = b.n_allocs - a.n_allocs;
    assert_true(n >= 1);
    for (int64_t i = 1; i <= n; i++) { /* each of the render's allocations failing */
        fg_mem_fail_after(i);
        fg_status st = fg_chat_template_render(t, msgs, 1, NULL, &out, NULL);
        fg_mem_fail_after(0);
        assert_null(out);
        expect_error(st, FG_ERR_NOMEM, "out of memory");
    }

    fg_chat_options opt = fg_chat_default_options();
    opt.max_bytes = 1 << 20;
    const char *big = "{% set s = namespace(v='x') %}{% for i in range(40) %}{% set s.v = s.v ~ s.v %}{% endfor %}"
                      "{{ s.v | length }}";
    fg_chat_template *tb = NULL;
    assert_int_equal(fg_chat_template_compile(big, strlen(big), &tb), FG_OK);
    expect_error(fg_chat_template_render(tb, NULL, 0, &opt, &out, NULL), FG_ERR_BUDGET, "");
    assert_null(out);
    fg_chat_template_free(tb);
    fg_chat_template_free(t);
}

/* test_fault_walk: a FIFO named as a model, config or tokenizer blocked open() forever
 * (waiting for a writer). Now refused at once as not a regular file. */
/* fuzz_serve_request: an empty method made method_allowed loop for ever (strstr finds ""
 * without advancing). fuzz/corpus/serve_request/regress-empty-method-hang */
static void serve_empty_method(void **state)
{
    (void)state;
    fg_server s;
    memset(&s, 0, sizeof s);
    s.params = fg_serve_default_params();
    srv_route r;
    const char *allow = NULL;
    api_error e;
    assert_int_equal(http_check_headers(&s, false, "", "/", NULL, NULL, &r, &allow, &e), 405);
    assert_int_equal(r, ROUTE_WEB);
    assert_non_null(strstr(e.message, "not allowed"));
    assert_int_equal(http_check_headers(&s, false, "GET", "/", NULL, NULL, &r, &allow, &e), 0);
}

/* fuzz_suite_spec: a repeated "name" (or "prompts") leaked the first value.
 * fuzz/corpus/suite_spec/regress-repeated-name-leak.json */
static void suite_repeated_keys(void **state)
{
    (void)state;
    static const char js[] = "{\"name\":\"a\",\"name\":\"b\",\"prompts\":[\"x\",\"y\"],\"prompts\":[\"z\"],"
                             "\"models\":[\"m.gguf\"]}";
    fg_mem_stats a, b;
    fg_mem_get_stats(&a);
    fg_suite_spec sp;
    assert_int_equal(fg_suite_spec_parse(js, sizeof js - 1, "t.json", &sp), FG_OK);
    assert_string_equal(sp.title, "b");
    assert_int_equal(sp.n_texts, 1);
    assert_string_equal(sp.texts[0], "z");
    fg_suite_spec_free(&sp);
    fg_mem_get_stats(&b);
    assert_int_equal(b.current[FG_MEM_RUNTIME], a.current[FG_MEM_RUNTIME]);
}

static void fifo_does_not_block(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char p[1024];
    snprintf(p, sizeof p, "%s/model.gguf", dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(5);
        fg_gguf *g = NULL;
        fg_tokenizer *t = NULL;
        fg_hf_config c;
        int bad = 0;
        bad |= fg_gguf_open(p, &g) != FG_ERR_IO;
        bad |= fg_tok_load_hf(p, &t) != FG_ERR_IO;
        bad |= fg_hf_config_load(p, &c) != FG_ERR_IO;
        bad |= strstr(fg_last_error(), "regular file") == NULL;
        free(dir); /* the child's copy (valgrind checks the child for leaks too) */
        _exit(bad);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) fail_msg("opening a FIFO blocked (signal %d)", WTERMSIG(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    unlink(p);
    rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gguf_empty_file),
        cmocka_unit_test(tokenizer_split_invalid_utf8),
        cmocka_unit_test(tokenizer_split_literal_pattern),
        cmocka_unit_test(jinja_select_without_arguments),
        cmocka_unit_test(jinja_out_of_memory_is_not_the_limit),
        cmocka_unit_test(fifo_does_not_block),
        cmocka_unit_test(serve_empty_method),
        cmocka_unit_test(suite_repeated_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
