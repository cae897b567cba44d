#include "sample/generate.h"
#include "mem/mem.h"

#include <string.h>
#include <time.h>

const char *fg_finish_name(fg_finish f)
{
    switch (f) {
    case FG_FINISH_STOP: return "stop";
    case FG_FINISH_LENGTH: return "length";
    case FG_FINISH_CONTEXT: return "context_length";
    case FG_FINISH_BUDGET: return "memory_budget";
    case FG_FINISH_CANCEL: return "cancelled";
    }
    return "?";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

fg_status fg_generate(fg_session *s, const fg_tokenizer *tok, fg_sampler *smp, const int32_t *prompt,
                      int64_t n_prompt, const fg_gen_params *p, fg_gen_emit_fn emit, void *user,
                      fg_gen_result *res)
{
    memset(res, 0, sizeof *res);
    res->n_prompt = n_prompt;
    if (n_prompt <= 0) return fg_error(FG_ERR_ARG, "empty prompt");
    if (n_prompt > fg_session_n_ctx(s))
        return fg_error(FG_ERR_CONTEXT, "the prompt has %lld tokens, the context holds %lld", (long long)n_prompt,
                        (long long)fg_session_n_ctx(s));
    int64_t n_vocab = fg_tok_vocab_size(tok);
    /* the model's vocabulary may be padded beyond the tokenizer's */
    fg_status st = FG_OK;
    size_t bufsz = fg_tok_stream_bufsize(tok);
    float *logits = NULL;
    char *piece = fg_malloc(FG_MEM_SCRATCH, bufsz), *out = fg_malloc(FG_MEM_SCRATCH, bufsz + 512);
    fg_stop stop;
    if (!piece || !out) {
        st = fg_error(FG_ERR_NOMEM, "out of memory for generation buffers");
        goto done;
    }
    if ((st = fg_stop_init(&stop, p->stops, p->n_stops))) goto done;

    /* reuse the cached prefix; at least one token must be evaluated to get logits */
    int64_t keep = fg_session_common_prefix(s, prompt, n_prompt);
    if (keep == n_prompt) keep--;
    fg_session_truncate(s, keep);
    res->n_cached = keep;
    int64_t model_vocab = fg_session_n_vocab(s);
    if (n_vocab > model_vocab) n_vocab = model_vocab;
    logits = fg_malloc(FG_MEM_SCRATCH, (size_t)model_vocab * sizeof(float));
    if (!logits) {
        st = fg_error(FG_ERR_NOMEM, "out of memory for logits");
        goto done;
    }
    if (p->timeline) fg_timeline_mark(p->timeline, "prefill");
    double t0 = now_s();
    st = fg_session_eval(s, prompt + keep, n_prompt - keep, FG_LOGITS_LAST, logits);
    res->t_prefill_s = now_s() - t0;
    if (st == FG_ERR_BUDGET) {
        res->finish = FG_FINISH_BUDGET;
        st = FG_OK;
        goto done;
    }
    if (st) goto done;
    for (int64_t i = 0; i < n_prompt; i++) fg_sampler_accept(smp, prompt[i]);

    fg_tok_stream ds;
    fg_tok_stream_init(&ds, tok, p->skip_special, false);
    bool stop_string = false;
    if (p->timeline) fg_timeline_mark(p->timeline, "decode");
    double t1 = now_s();
    res->finish = FG_FINISH_LENGTH;
    for (int64_t i = 0; p->max_tokens < 0 || i < p->max_tokens; i++) {
        /* ids beyond the tokenizer's vocabulary (padding rows) can never be produced */
        for (int64_t v = n_vocab; v < model_vocab; v++) logits[v] = -1e30f;
        int32_t id = fg_sampler_sample(smp, logits);
        fg_sampler_accept(smp, id);
        res->n_generated++;
        if (p->stop_at_eog && fg_tok_is_eog(tok, id)) {
            res->finish = FG_FINISH_STOP;
            break;
        }
        size_t n_piece = 0;
        if ((st = fg_tok_stream_push(&ds, tok, id, piece, bufsz, &n_piece))) goto done;
        bool stopped = false;
        size_t n_out = fg_stop_feed(&stop, piece, n_piece, out, &stopped);
        if (n_out && emit && !emit(out, n_out, id, user)) {
            res->finish = FG_FINISH_CANCEL;
            break;
        }
        if (stopped) {
            res->finish = FG_FINISH_STOP;
            stop_string = true;
            break;
        }
        if (p->max_tokens >= 0 && i + 1 >= p->max_tokens) break;
        if (fg_session_n_past(s) >= fg_session_n_ctx(s)) {
            res->finish = FG_FINISH_CONTEXT;
            break;
        }
        st = fg_session_eval(s, &id, 1, FG_LOGITS_LAST, logits);
        if (st == FG_ERR_BUDGET || st == FG_ERR_CONTEXT) {
            res->finish = st == FG_ERR_BUDGET ? FG_FINISH_BUDGET : FG_FINISH_CONTEXT;
            st = FG_OK;
            break;
        }
        if (st) goto done;
    }
    res->t_decode_s = now_s() - t1;
    if (p->timeline) fg_timeline_mark(p->timeline, "end");
    if (res->finish != FG_FINISH_CANCEL && !stop_string) {
        /* release an incomplete character (as U+FFFD) and what the stop matcher held */
        size_t n = fg_tok_stream_flush(&ds, piece, bufsz);
        bool stopped = false;
        size_t n_out = fg_stop_feed(&stop, piece, n, out, &stopped);
        if (!stopped) n_out += fg_stop_flush(&stop, out + n_out);
        if (n_out && emit) emit(out, n_out, -1, user);
    }
done:
    fg_free(logits);
    fg_free(piece);
    fg_free(out);
    return st;
}
