/* Samplers. The candidate pipeline for a non-greedy pick:
 *   penalties -> temperature -> top-k (partial selection) -> softmax -> top-p -> min-p
 *   -> draw from the renormalised distribution with the seeded RNG. */
#include "sample/sample.h"
#include "core/core.h"
#include "mem/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct fg_sampler {
    fg_sampler_params p;
    int64_t n_vocab;
    cand *cands;           /* [n_vocab] */
    int32_t *history;      /* ring of the last penalty_last_n tokens */
    int64_t n_hist, hist_pos;
    uint32_t *counts;      /* [n_vocab] occurrences in the window (frequency/presence) */
    fg_rng rng;
};

fg_sampler_params fg_sampler_default_params(void)
{
    fg_sampler_params p = {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f,
                           .frequency_penalty = 0, .presence_penalty = 0, .penalty_last_n = 64, .seed = 0};
    return p;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fg_rng_seed(fg_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

double fg_rng_uniform(fg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return (double)(result >> 11) * 0x1.0p-53;
}

fg_status fg_sampler_create(const fg_sampler_params *p, int64_t n_vocab, fg_sampler **out)
{
    *out = NULL;
    if (n_vocab <= 0) return fg_error(FG_ERR_ARG, "sampler: vocabulary size %lld", (long long)n_vocab);
    fg_sampler_params q = p ? *p : fg_sampler_default_params();
    if (!(q.temperature >= 0) || q.temperature > 100) return fg_error(FG_ERR_ARG, "temperature %g is out of range 0..100", q.temperature);
    if (!(q.top_p > 0) || q.top_p > 1) q.top_p = q.top_p > 1 ? 1 : q.top_p;
    if (!(q.top_p > 0)) return fg_error(FG_ERR_ARG, "top_p must be in (0, 1]");
    if (!(q.min_p >= 0) || q.min_p > 1) return fg_error(FG_ERR_ARG, "min_p %g is out of range 0..1", q.min_p);
    if (!(q.repeat_penalty > 0)) return fg_error(FG_ERR_ARG, "repeat penalty must be positive");
    if (q.penalty_last_n < 0) q.penalty_last_n = 0;
    fg_sampler *s = fg_calloc(FG_MEM_SCRATCH, 1, sizeof *s);
    if (!s) return fg_error(FG_ERR_NOMEM, "out of memory for the sampler");
    s->p = q;
    s->n_vocab = n_vocab;
    s->cands = fg_malloc(FG_MEM_SCRATCH, (size_t)n_vocab * sizeof(cand));
    s->counts = fg_calloc(FG_MEM_SCRATCH, (size_t)n_vocab, sizeof(uint32_t));
    s->history = q.penalty_last_n ? fg_malloc(FG_MEM_SCRATCH, (size_t)q.penalty_last_n * sizeof(int32_t)) : NULL;
    if (!s->cands || !s->counts || (q.penalty_last_n && !s->history)) {
        fg_sampler_free(s);
        return fg_error(FG_ERR_NOMEM, "out of memory for the sampler");
    }
    fg_rng_seed(&s->rng, q.seed);
    *out = s;
    return FG_OK;
}

void fg_sampler_free(fg_sampler *s)
{
    if (!s) return;
    fg_free(s->cands);
    fg_free(s->counts);
    fg_free(s->history);
    fg_free(s);
}

void fg_sampler_reset(fg_sampler *s, uint64_t seed)
{
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof(uint32_t));
    s->n_hist = s->hist_pos = 0;
    s->p.seed = seed;
    fg_rng_seed(&s->rng, seed);
}

void fg_sampler_accept(fg_sampler *s, int32_t id)
{
    if (!s->p.penalty_last_n || id < 0 || id >= s->n_vocab) return;
    if (s->n_hist == s->p.penalty_last_n) {
        int32_t old = s->history[s->hist_pos];
        if (s->counts[old]) s->counts[old]--;
    } else {
        s->n_hist++;
    }
    s->history[s->hist_pos] = id;
    s->hist_pos = (s->hist_pos + 1) % s->p.penalty_last_n;
    s->counts[id]++;
}

static void apply_penalties(fg_sampler *s, float *logits)
{
    const fg_sampler_params *p = &s->p;
    if (p->repeat_penalty == 1.0f && p->frequency_penalty == 0 && p->presence_penalty == 0) return;
    /* walk the window, not the vocabulary: each distinct id once */
    for (int64_t i = 0; i < s->n_hist; i++) {
        int32_t id = s->history[i];
        uint32_t c = s->counts[id];
        if (!c || (c & 0x80000000u) || isnan(logits[id])) continue;
        float l = logits[id];
        if (p->repeat_penalty != 1.0f) l = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)c * p->frequency_penalty + p->presence_penalty;
        logits[id] = l;
        s->counts[id] |= 0x80000000u; /* mark done */
    }
    for (int64_t i = 0; i < s->n_hist; i++) s->counts[s->history[i]] &= 0x7fffffffu;
}

static int cmp_cand_desc(const void *a, const void *b)
{
    float x = ((const cand *)a)->logit, y = ((const cand *)b)->logit;
    return (x < y) - (x > y);
}

/* Moves the k largest candidates to the front, sorted (quickselect then sort). */
static void top_k_select(cand *c, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = c[(lo + hi) / 2].logit;
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (c[i].logit > pivot) i++;
            while (c[j].logit < pivot) j--;
            if (i <= j) {
                cand t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
    qsort(c, (size_t)k, sizeof *c, cmp_cand_desc);
}

int32_t fg_sampler_sample(fg_sampler *s, float *logits)
{
    const fg_sampler_params *p = &s->p;
    apply_penalties(s, logits);
    int64_t n = s->n_vocab;
    if (p->temperature <= 0) return (int32_t)fg_vec_argmax(logits, n);
    cand *c = s->cands;
    for (int64_t i = 0; i < n; i++) {
        c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i] / p->temperature;
        c[i].id = (int32_t)i;
    }
    /* top-k (an upper bound of 1024 keeps the sort small when top-k is off) */
    int64_t k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    if (k > 1024 && (p->top_p < 1 || p->min_p > 0)) k = n < 1024 ? n : 1024;
    if (k < n) top_k_select(c, n, k);
    else qsort(c, (size_t)n, sizeof *c, cmp_cand_desc);
    /* softmax over the k survivors */
    float mx = c[0].logit;
    double sum = 0;
    for (int64_t i = 0; i < k; i++) {
        c[i].logit = expf(c[i].logit - mx);
        sum += c[i].logit;
    }
    int64_t keep = k;
    if (p->top_p < 1) {
        double cum = 0;
        for (int64_t i = 0; i < k; i++) {
            cum += c[i].logit / sum;
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0) {
        float thr = p->min_p * c[0].logit; /* probabilities relative to the top one */
        int64_t i = 1;
        while (i < keep && c[i].logit >= thr) i++;
        keep = i;
    }
    double total = 0;
    for (int64_t i = 0; i < keep; i++) total += c[i].logit;
    double r = fg_rng_uniform(&s->rng) * total, acc = 0;
    for (int64_t i = 0; i < keep; i++) {
        acc += c[i].logit;
        if (r < acc) return c[i].id;
    }
    return c[keep - 1].id;
}

/* ---- stop strings ---------------------------------------------------------------------- */
fg_status fg_stop_init(fg_stop *st, const char *const *strs, int n)
{
    memset(st, 0, sizeof *st);
    if (n < 0 || n > FG_STOP_MAX) return fg_error(FG_ERR_ARG, "at most %d stop strings", FG_STOP_MAX);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(strs[i]);
        if (l == 0) continue;
        if (l >= sizeof st->held) return fg_error(FG_ERR_ARG, "stop string longer than %zu bytes", sizeof st->held - 1);
        st->strs[st->n] = strs[i];
        st->lens[st->n++] = l;
        if (l > st->max_len) st->max_len = l;
    }
    return FG_OK;
}

size_t fg_stop_feed(fg_stop *st, const char *text, size_t len, char *out, bool *stopped)
{
    *stopped = false;
    size_t n_out = 0;
    for (size_t i = 0; i < len; i++) {
        if (st->n_held == sizeof st->held) { /* cannot happen: held < max_len */
            out[n_out++] = st->held[0];
            memmove(st->held, st->held + 1, --st->n_held);
        }
        st->held[st->n_held++] = text[i];
        /* a complete stop string at the end of held? */
        for (int s = 0; s < st->n; s++) {
            size_t l = st->lens[s];
            if (st->n_held >= l && !memcmp(st->held + st->n_held - l, st->strs[s], l)) {
                memcpy(out + n_out, st->held, st->n_held - l);
                n_out += st->n_held - l;
                st->n_held = 0;
                *stopped = true;
                return n_out;
            }
        }
        /* release the longest prefix of held that cannot begin any stop string */
        size_t keep_from = st->n_held;
        for (size_t start = 0; start < st->n_held; start++) {
            bool may = false;
            for (int s = 0; s < st->n && !may; s++) {
                size_t rem = st->n_held - start;
                if (rem < st->lens[s] && !memcmp(st->held + start, st->strs[s], rem)) may = true;
            }
            if (may) {
                keep_from = start;
                break;
            }
        }
        memcpy(out + n_out, st->held, keep_from);
        n_out += keep_from;
        memmove(st->held, st->held + keep_from, st->n_held - keep_from);
        st->n_held -= keep_from;
    }
    return n_out;
}

size_t fg_stop_flush(fg_stop *st, char *out)
{
    size_t n = st->n_held;
    memcpy(out, st->held, n);
    st->n_held = 0;
    return n;
}
