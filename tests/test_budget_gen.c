/* The budget at run time: with a limit reached mid-generation, KV growth is refused with
 * FG_ERR_BUDGET (message naming the KV cache and the limit), fg_generate stops with
 * finish reason "memory_budget" after some tokens, and the session stays usable; what a
 * session commits follows the positions used, not the context reserved, as planned. */
#include "testutil.h"
#include "model/plan.h"
#include "sample/generate.h"

#include <stdlib.h>
#include <string.h>

static bool count_emit(const char *text, size_t len, int32_t id, void *user)
{
    (void)text;
    (void)len;
    (void)id;
    (*(int *)user)++;
    return true;
}

static void stops_with_reason(void **st)
{
    (void)st;
    fg_model *m;
    fg_model_params mp = fg_model_default_params();
    assert_int_equal(fg_model_load(test_model_path("qwen2-q256-f32.gguf"), &mp, &m), FG_OK);
    fg_tokenizer *tok;
    assert_int_equal(fg_tok_load_gguf(fg_model_gguf(m), &tok), FG_OK);

    /* a budget just above what is in use once the session exists: room for some KV pages */
    fg_budget_params bp = fg_budget_default_params();
    bp.limit = (int64_t)1 << 40;
    bp.margin = 0;
    fg_budget *probe;
    assert_int_equal(fg_budget_create(&bp, &probe), FG_OK);
    fg_session_params sp = fg_session_default_params();
    sp.n_ctx = 512;
    sp.budget = probe;
    fg_session *s;
    assert_int_equal(fg_session_create(m, &sp, &s), FG_OK);
    fg_sampler_params smp_p = fg_sampler_default_params();
    smp_p.temperature = 0;
    fg_sampler *smp;
    assert_int_equal(fg_sampler_create(&smp_p, fg_model_hparams(m)->n_vocab, &smp), FG_OK);
    /* one short generation first: what the first tokens touch once (code pages, lazy
     * buffers; under qemu-user also its translated code, counted in RSS) is part of what
     * is in use, not room for the KV cache */
    int32_t prompt[] = {1, 2, 3, 4};
    fg_gen_params warm = {.max_tokens = 8, .stop_at_eog = false};
    fg_gen_result res;
    int pieces = 0;
    assert_int_equal(fg_generate(s, tok, smp, prompt, 4, &warm, count_emit, &pieces, &res), FG_OK);
    fg_budget_refresh(probe);
    fg_budget_info info;
    fg_budget_get_info(probe, &info);

    bp.limit = info.used + (64 << 10); /* 64 KiB: 16 pages of KV, about 64 positions */
    fg_budget *tight;
    assert_int_equal(fg_budget_create(&bp, &tight), FG_OK);
    fg_session_free(s);
    sp.budget = tight;
    assert_int_equal(fg_session_create(m, &sp, &s), FG_OK);

    fg_gen_params gp = {.max_tokens = 400, .stop_at_eog = false};
    pieces = 0;
    assert_int_equal(fg_generate(s, tok, smp, prompt, 4, &gp, count_emit, &pieces, &res), FG_OK);
    print_message("stopped after %lld tokens: %s\n", (long long)res.n_generated, fg_finish_name(res.finish));
    assert_int_equal(res.finish, FG_FINISH_BUDGET);
    assert_true(res.n_generated > 4 && res.n_generated < 400);
    assert_string_equal(fg_finish_name(res.finish), "memory_budget");

    /* the refusal itself: one more token is refused with a message naming the KV cache */
    int32_t one = 5;
    float *logits = malloc((size_t)fg_model_hparams(m)->n_vocab * sizeof(float));
    fg_status e = FG_OK;
    for (int i = 0; i < 64 && e == FG_OK; i++) e = fg_session_eval(s, &one, 1, FG_LOGITS_LAST, logits);
    assert_int_equal(e, FG_ERR_BUDGET);
    assert_non_null(strstr(fg_last_error(), "KV cache"));
    assert_non_null(strstr(fg_last_error(), "limit"));
    /* the session is still usable after truncating */
    fg_session_truncate(s, 2);
    assert_int_equal(fg_session_eval(s, &one, 1, FG_LOGITS_LAST, logits), FG_OK);
    free(logits);

    fg_sampler_free(smp);
    fg_session_free(s);
    fg_budget_free(tight);
    fg_budget_free(probe);
    fg_tok_free(tok);
    fg_model_free(m);
}

/* What a session commits (KV cache, scratch) follows the positions used, not the context
 * reserved: the same 30 positions at --ctx 512 and at a context of 2^20 commit the same
 * scratch and KV pages (only the 4-byte token slot per position of the context differs),
 * and the planner, told the positions, predicts the scratch to the byte. */
static void commit_follows_positions(void **st)
{
    (void)st;
    fg_model *m;
    fg_model_params mp = fg_model_default_params();
    const char *path = test_model_path("qwen2-q256-f32.gguf");
    assert_int_equal(fg_model_load(path, &mp, &m), FG_OK);
    float *logits = malloc((size_t)fg_model_hparams(m)->n_vocab * sizeof(float));
    assert_non_null(logits);
    static const int64_t ctxs[2] = {512, (int64_t)1 << 20};
    int64_t scratch[2], kv[2];
    for (int c = 0; c < 2; c++) {
        fg_mem_stats a, b;
        fg_mem_get_stats(&a);
        fg_session_params sp = fg_session_default_params();
        sp.n_ctx = ctxs[c];
        sp.n_threads = 2;
        sp.n_batch = 8;
        fg_session *s;
        assert_int_equal(fg_session_create(m, &sp, &s), FG_OK);
        int32_t ids[20];
        for (int i = 0; i < 20; i++) ids[i] = 1 + 7 * i;
        assert_int_equal(fg_session_eval(s, ids, 20, FG_LOGITS_LAST, logits), FG_OK);
        for (int i = 0; i < 10; i++) assert_int_equal(fg_session_eval(s, &ids[i], 1, FG_LOGITS_LAST, logits), FG_OK);
        fg_mem_get_stats(&b);
        scratch[c] = b.current[FG_MEM_SCRATCH] - a.current[FG_MEM_SCRATCH];
        kv[c] = b.current[FG_MEM_KV] - a.current[FG_MEM_KV] - ctxs[c] * (int64_t)sizeof(int32_t);
        fg_plan_params pp = fg_plan_default_params();
        pp.n_ctx = ctxs[c];
        pp.n_threads = 2;
        pp.n_batch = 8;
        pp.n_tokens = 30;
        pp.mem_limit = (int64_t)1 << 40;
        fg_plan plan;
        assert_int_equal(fg_plan_model(path, &pp, &plan), FG_OK);
        print_message("ctx %lld: scratch %lld (plan %lld), kv %lld (plan %lld)\n", (long long)ctxs[c],
                      (long long)scratch[c], (long long)plan.scratch, (long long)kv[c],
                      (long long)(plan.kv - ctxs[c] * (int64_t)sizeof(int32_t)));
        assert_true(plan.scratch == scratch[c]);
        assert_true(plan.kv - ctxs[c] * (int64_t)sizeof(int32_t) == kv[c]);
        fg_session_free(s);
    }
    assert_true(scratch[0] == scratch[1]);
    assert_true(kv[0] == kv[1] && kv[0] > 0);
    free(logits);
    fg_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(stops_with_reason), cmocka_unit_test(commit_follows_positions)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
