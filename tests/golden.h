/* Golden-logit checks shared by the engine tests: loads a golden JSON of
 * ../shared/golden (copied to tests/data/golden) and checks a model against it with the
 * acceptance of golden/README.md. */
#ifndef FG_TEST_GOLDEN_H
#define FG_TEST_GOLDEN_H

#include "testutil.h"
#include "model/model.h"

typedef enum golden_kind {
    GOLDEN_F32,    /* top-8 logits and logsumexp within 2e-3, greedy identical */
    GOLDEN_FLOAT,  /* F16/BF16: T = max(0.02, 1.25*llamacpp dev); top-3 within T; top-1 where it leads by > 2T */
    GOLDEN_QUANT,  /* the same with B = 0.05 */
} golden_kind;

/* Checks every prompt of `golden_json` (a path) against the model at `model_path`:
 * logits at every position evaluated in one batch, the 16 greedy tokens, and (with
 * check_chunks) that token-by-token and uneven chunks give the same logits within
 * chunk_tol. Fails the cmocka test with a message naming the prompt/position. */
/* The KV cache type the checks use (default F32: the reference keeps float64 K/V). */
extern fg_dtype golden_kv_type;
/* Also evaluates every prompt one token at a time (the decode kernels) and applies the
 * same acceptance to those logits. */
extern bool golden_also_decode;
/* Overrides the base tolerance B of GOLDEN_FLOAT/GOLDEN_QUANT when > 0. */
extern double golden_base_tol;

void golden_check(const char *model_path, const char *golden_json, golden_kind kind, bool check_greedy,
                  bool check_chunks, double chunk_tol);

#endif
