/* generate: the generation loop shared by `frugal run`, `frugal chat` and the suite:
 * reuse the cached prefix, prefill the rest of the prompt, then sample, stream-decode
 * and check stop conditions token by token. Ties model + token + sample together; the
 * server drives the same pieces with its own loop (cancellation, SSE). Nothing is
 * allocated per token: one logits row and the decode buffers are allocated per call. */
#ifndef FG_GENERATE_H
#define FG_GENERATE_H

#include "model/model.h"
#include "sample/sample.h"
#include "token/token.h"

typedef enum fg_finish {
    FG_FINISH_STOP = 0,    /* end-of-generation token or a stop string */
    FG_FINISH_LENGTH,      /* max_tokens reached */
    FG_FINISH_CONTEXT,     /* the context is full */
    FG_FINISH_BUDGET,      /* the memory budget would be exceeded */
    FG_FINISH_CANCEL,      /* the callback asked to stop */
} fg_finish;
const char *fg_finish_name(fg_finish f); /* "stop", "length", "context_length", "memory_budget", "cancelled" */

typedef struct fg_gen_params {
    int64_t max_tokens;           /* < 0: until the context is full */
    const char *const *stops;     /* stop strings (not emitted) */
    int n_stops;
    bool stop_at_eog;             /* stop at the tokenizer's end-of-generation ids */
    bool skip_special;            /* do not print special tokens */
    struct fg_timeline *timeline; /* optional: "prefill" and "decode" marks */
} fg_gen_params;

typedef struct fg_gen_result {
    fg_finish finish;
    int64_t n_prompt;             /* prompt tokens */
    int64_t n_cached;             /* of those, reused from the cache */
    int64_t n_generated;
    double t_prefill_s, t_decode_s; /* wall time of prefill, and of the decode steps */
} fg_gen_result;

/* Called with each piece of text as it becomes final (UTF-8 complete, not part of a
 * possible stop string) and the id of the token that completed it (-1 for the final
 * flush). Return false to cancel. */
typedef bool (*fg_gen_emit_fn)(const char *text, size_t len, int32_t id, void *user);

fg_status fg_generate(fg_session *s, const fg_tokenizer *tok, fg_sampler *smp, const int32_t *prompt,
                      int64_t n_prompt, const fg_gen_params *p, fg_gen_emit_fn emit, void *user,
                      fg_gen_result *res);

#endif
