/* sample: turning logits into the next token. Greedy, temperature, top-k, top-p,
 * min-p, repetition/frequency/presence penalties, a seeded RNG (reproducible runs),
 * and stop strings matched across token boundaries. Nothing is allocated per token:
 * the sampler owns a candidate buffer sized for the vocabulary at creation. */
#ifndef FG_SAMPLE_H
#define FG_SAMPLE_H

#include "core/status.h"

typedef struct fg_sampler_params {
    float temperature;     /* <= 0: greedy */
    int top_k;             /* <= 0: off */
    float top_p;           /* >= 1: off */
    float min_p;           /* <= 0: off */
    float repeat_penalty;  /* 1: off (divides positive logits, multiplies negative ones) */
    float frequency_penalty, presence_penalty; /* OpenAI-style, 0: off */
    int penalty_last_n;    /* how many recent tokens the penalties look at */
    uint64_t seed;
} fg_sampler_params;
fg_sampler_params fg_sampler_default_params(void);

typedef struct fg_sampler fg_sampler;
fg_status fg_sampler_create(const fg_sampler_params *p, int64_t n_vocab, fg_sampler **out);
void fg_sampler_free(fg_sampler *s);
/* Forgets the token history (penalties) and reseeds. */
void fg_sampler_reset(fg_sampler *s, uint64_t seed);
/* Records a token (prompt or generated) for the penalties. */
void fg_sampler_accept(fg_sampler *s, int32_t id);
/* Picks the next token from logits (modified in place by penalties/temperature). */
int32_t fg_sampler_sample(fg_sampler *s, float *logits);

/* The RNG (xoshiro256**, seeded by splitmix64): uniform in [0, 1). */
typedef struct fg_rng { uint64_t s[4]; } fg_rng;
void fg_rng_seed(fg_rng *r, uint64_t seed);
double fg_rng_uniform(fg_rng *r);

/* Stop strings: feed the generated text as it streams; fg_stop_feed returns how many
 * bytes of the pending text are safe to emit now (held back bytes might begin a stop
 * string), and sets *stopped when a stop string completed (the text before it is
 * emitted; the stop string itself is not). */
#define FG_STOP_MAX 8
typedef struct fg_stop {
    const char *strs[FG_STOP_MAX];
    size_t lens[FG_STOP_MAX];
    int n;
    size_t max_len;
    char held[256];        /* bytes held back because they may begin a stop string */
    size_t n_held;
} fg_stop;
fg_status fg_stop_init(fg_stop *st, const char *const *strs, int n);
/* Appends text; writes the bytes to emit into out (capacity >= n_held + len) and
 * returns their count. */
size_t fg_stop_feed(fg_stop *st, const char *text, size_t len, char *out, bool *stopped);
/* At the end of generation: the held bytes are released. */
size_t fg_stop_flush(fg_stop *st, char *out);

#endif
