/* Fuzz target: the model loader end to end on a fuzzed GGUF: fg_model_load (header,
 * hyperparameters, every weight bound and checked), then, when it loads, a session
 * (8 positions, batch 2, one thread) and one fg_session_eval of 2 tokens, and the
 * tokenizer from the same file. The weights must lie in the file, so the work per input
 * is bounded by its size. Invariants: a failure has a one-line message; no tagged byte
 * (weights converted, KV, scratch) is kept after the frees. */
#include "fuzz_util.h"
#include "token/token.h"

#include <math.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write_input("model.gguf", data, size);
    fz_mem_mark();
    fg_model_params mp = fg_model_default_params();
    mp.n_threads = 1;
    fg_model *m = NULL;
    fg_status st = fg_model_load(path, &mp, &m);
    fz_check_status(st, "fg_model_load");
    if (!st) {
        const fg_hparams *hp = fg_model_hparams(m);
        fg_model_weight_bytes(m);
        fg_model_weight_bytes_per_token(m);
        fg_session_params sp = fg_session_default_params();
        sp.n_ctx = 8;
        sp.n_batch = 2;
        sp.n_threads = 1;
        fg_session *s = NULL;
        st = fg_session_create(m, &sp, &s);
        fz_check_status(st, "fg_session_create");
        if (!st) {
            int32_t ids[2] = {0, (int32_t)(hp->n_vocab > 1 ? hp->n_vocab - 1 : 0)};
            float *logits = malloc((size_t)hp->n_vocab * sizeof(float));
            if (!logits) fz_fail("no memory for %lld logits", (long long)hp->n_vocab);
            st = fg_session_eval(s, ids, 2, FG_LOGITS_LAST, logits);
            fz_check_status(st, "fg_session_eval");
            if (!st && fg_session_n_past(s) != 2) fz_fail("eval of 2 tokens left n_past %lld", (long long)fg_session_n_past(s));
            /* an id outside the vocabulary is refused, never read */
            int32_t bad = (int32_t)hp->n_vocab;
            if (fg_session_eval(s, &bad, 1, FG_LOGITS_LAST, logits) != FG_ERR_ARG) fz_fail("id %d was not refused", bad);
            free(logits);
            fg_session_free(s);
        }
        fg_tokenizer *tok = NULL;
        st = fg_tok_load_gguf(fg_model_gguf(m), &tok);
        fz_check_status(st, "fg_tok_load_gguf");
        fg_tok_free(tok);
        fg_model_free(m);
    }
    fz_mem_check("fg_model_load/free");
    return 0;
}
