/* The forward pass of the decoder (Hugging Face semantics), for a chunk of B tokens:
 *
 *   x = embed[id]
 *   per layer:  h = rmsnorm(x) * attn_norm
 *               q, k, v = h·Wqᵀ (+bq), h·Wkᵀ (+bk), h·Wvᵀ (+bv)
 *               qwen3: q, k = per-head rmsnorm(q) * q_norm, rmsnorm(k) * k_norm
 *               q, k = rope(q, k, position)   (half-split pairs, or adjacent pairs in
 *                                              llama GGUF files whose rows are permuted)
 *               append k, v to the cache; att = causal softmax(q·kᵀ/√hd)·v per head,
 *               each kv head shared by n_head/n_head_kv query heads (GQA)
 *               x += att·Woᵀ
 *               h = rmsnorm(x) * ffn_norm;  x += (silu(h·Wgᵀ) ⊙ h·Wuᵀ)·Wdᵀ
 *   logits = (rmsnorm(x) * output_norm)·Woutᵀ   only for the rows asked for
 *
 * All activations are float32; matmuls go through core's dispatch (fg_matmul). */
#include "model/model-impl.h"

#include <stdatomic.h>
#include <math.h>
#include <string.h>
#include <time.h>

static void add_bias(float *y, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += b[i];
}

static void head_norm(float *v, const float *w, int64_t rows, int64_t hd, float eps)
{
    for (int64_t r = 0; r < rows; r++) fg_rmsnorm(v + r * hd, v + r * hd, w, (int)hd, eps);
}

/* cos/sin for each (token, pair) of the chunk, computed in double once per chunk. */
static void rope_table(fg_session *s, int64_t pos0, int64_t B)
{
    const fg_model *m = s->model;
    int64_t half = m->hp.head_dim / 2;
    for (int64_t t = 0; t < B; t++)
        for (int64_t i = 0; i < half; i++) {
            double a = (double)(pos0 + t) * m->rope_inv_freq[i];
            s->rope_cs[(t * half + i) * 2] = (float)cos(a);
            s->rope_cs[(t * half + i) * 2 + 1] = (float)sin(a);
        }
}

/* rope on n_heads consecutive heads of token t (x: the first) */
static void rope_heads(const fg_session *s, float *x, int64_t t, int64_t n_heads)
{
    const fg_hparams *hp = &s->model->hp;
    int64_t hd = hp->head_dim, half = hd / 2;
    /* half-split: pair (i, i+half); interleaved: pair (2i, 2i+1) */
    int64_t stride = hp->rope_interleaved ? 2 : 1, off = hp->rope_interleaved ? 1 : half;
    const float *cs = s->rope_cs + t * half * 2;
    for (int64_t h = 0; h < n_heads; h++, x += hd)
        for (int64_t i = 0; i < half; i++) {
            float c = cs[2 * i], sn = cs[2 * i + 1];
            float *a = x + i * stride, *b = a + off;
            float x0 = *a, x1 = *b;
            *a = x0 * c - x1 * sn;
            *b = x0 * sn + x1 * c;
        }
}

/* What follows the q/k/v products for token t of the chunk and kv head kh: the biases,
 * Qwen3's per-head norms and rope on the query heads of the group and on the key head,
 * then the key and value rows of that head stored in the cache at pos0 + t. Per (token,
 * kv head), so that in decode the attention task of a head does it itself (on the thread
 * that reads them next; no serial step between the products and the attention). */
static void qkv_finish(fg_session *s, const fg_layer *l, int64_t layer, int64_t pos0, int64_t t, int64_t kh)
{
    const fg_hparams *hp = &s->model->hp;
    const int64_t hd = hp->head_dim, nh = hp->n_head, nkv = hp->n_head_kv, group = nh / nkv;
    float *q = s->q + (t * nh + kh * group) * hd, *k = s->k + (t * nkv + kh) * hd, *v = s->v + (t * nkv + kh) * hd;
    if (hp->has_qkv_bias) {
        add_bias(q, l->bq + kh * group * hd, group * hd);
        add_bias(k, l->bk + kh * hd, hd);
        add_bias(v, l->bv + kh * hd, hd);
    }
    if (hp->has_qk_norm) {
        head_norm(q, l->q_norm, group, hd, (float)hp->norm_eps);
        head_norm(k, l->k_norm, 1, hd, (float)hp->norm_eps);
    }
    rope_heads(s, q, t, group);
    rope_heads(s, k, t, 1);
    const size_t off = (size_t)(pos0 + t) * s->kv_row_bytes + fg_row_bytes(s->kv_type, kh * hd);
    uint8_t *kr = s->k_cache[layer].base + off, *vr = s->v_cache[layer].base + off;
    if (s->kv_type == FG_DT_F32) {
        memcpy(kr, k, (size_t)hd * sizeof(float));
        memcpy(vr, v, (size_t)hd * sizeof(float));
    } else { /* a head is whole blocks of the cache type (checked at session creation) */
        fg_quantize_row(s->kv_type, k, kr, hd);
        fg_quantize_row(s->kv_type, v, vr, hd);
    }
}

typedef struct attn_job {
    fg_session *s;
    const fg_layer *l;
    int64_t layer, pos0, B;
    bool amx; /* scores and weighted sums on the AMX tiles (attn_on_amx) */
} attn_job;

/* Batches of at least this many tokens compute their attention (the scores and the
 * weighted sum of the values) on the AMX tiles where that path is active and the cache
 * is F16: keys and values are converted once per kv head, window and pass of tokens
 * (attn_amx_head), then serve every token of it. Smaller batches (decode, short turns)
 * keep the vector kernels' FP32. */
#define ATTN_AMX_MIN_TOKENS 32

static bool attn_on_amx(const fg_session *s, int64_t B)
{
#if defined(FG_ARCH_X86)
    return B >= ATTN_AMX_MIN_TOKENS && s->kv_type == FG_DT_F16 &&
           fg_isa_active() == FG_ISA_AVX512_AMX && fg_attn_amx_fits(&s->model->hp);
#else
    (void)s;
    (void)B;
    return false;
#endif
}

/* A row slice of the cache as float32: F32 rows are used in place, F16/Q8_0 rows are
 * dequantized into tmp. */
static const float *cache_row(const fg_session *s, const uint8_t *base, int64_t pos, int64_t kh, float *tmp)
{
    int64_t hd = s->model->hp.head_dim;
    const uint8_t *row = base + (size_t)pos * s->kv_row_bytes + fg_row_bytes(s->kv_type, kh * hd);
    if (s->kv_type == FG_DT_F32) return (const float *)row;
    fg_dequant_row(s->kv_type, row, tmp, hd);
    return tmp;
}

/* One task: token t of the job's batch against the cached rows of kv head kh, every
 * query head of the group. F32/F16 caches are read in place by the row kernels
 * (fg_vec_*_rows, F16 converted in registers); Q8_0 rows are dequantized one at a time
 * into tmp. `slice` is the thread's attention scratch. */
static void attn_one(const attn_job *j, float *slice, int64_t t, int64_t kh)
{
    fg_session *s = j->s;
    const fg_hparams *hp = &s->model->hp;
    int64_t hd = hp->head_dim, nh = hp->n_head, nkv = hp->n_head_kv, group = nh / nkv;
    const uint8_t *K = s->k_cache[j->layer].base, *V = s->v_cache[j->layer].base;
    /* the rows dequantized from the cache, then the group's scores, n_keys apart */
    float *ktmp = slice, *vtmp = ktmp + hd, *sc = vtmp + hd;
    float scale = 1.0f / sqrtf((float)hd);
    const bool direct = s->kv_type == FG_DT_F32 || s->kv_type == FG_DT_F16;
    int64_t n_keys = j->pos0 + t + 1;
    const float *q0 = s->q + (t * nh + kh * group) * hd;
    float *out0 = s->att + (t * nh + kh * group) * hd;
    size_t head_off = fg_row_bytes(s->kv_type, kh * hd), head_bytes = fg_row_bytes(s->kv_type, hd);
    /* the cached rows come from RAM (the weights streamed since evicted them): the
     * first span of keys and values start their transfer now, the values' under the
     * keys' work, and the walks below prefetch ahead (see fg_vec_prefetch_rows) */
    fg_vec_prefetch_rows(K + head_off, s->kv_row_bytes, n_keys, head_bytes);
    fg_vec_prefetch_rows(V + head_off, s->kv_row_bytes, n_keys, head_bytes);
    /* one token: this task alone reads its head's q, k, v and its new cache rows (a
     * batch's later tokens read the earlier ones' rows: finished before the job) */
    if (j->B == 1) qkv_finish(s, j->l, j->layer, j->pos0, t, kh);
    if (direct) {
        fg_vec_dot_rows(q0, group, K + head_off, s->kv_type, s->kv_row_bytes, n_keys, hd, scale, sc);
    } else {
        for (int64_t p = 0; p < n_keys; p++) {
            fg_vec_prefetch_next(K + head_off, s->kv_row_bytes, p, n_keys, head_bytes);
            const float *k = cache_row(s, K, p, kh, ktmp);
            for (int64_t g = 0; g < group; g++) sc[g * n_keys + p] = fg_vec_dot(q0 + g * hd, k, hd) * scale;
        }
    }
    for (int64_t g = 0; g < group; g++) {
        fg_vec_softmax(sc + g * n_keys, n_keys);
        memset(out0 + g * hd, 0, (size_t)hd * sizeof(float));
    }
    if (direct) {
        fg_vec_axpy_rows(out0, sc, group, V + head_off, s->kv_type, s->kv_row_bytes, n_keys, hd);
    } else {
        for (int64_t p = 0; p < n_keys; p++) {
            fg_vec_prefetch_next(V + head_off, s->kv_row_bytes, p, n_keys, head_bytes);
            const float *v = cache_row(s, V, p, kh, vtmp);
            for (int64_t g = 0; g < group; g++) fg_vec_axpy(out0 + g * hd, sc[g * n_keys + p], v, hd);
        }
    }
}

static _Atomic int64_t amx_window = FG_ATTN_AMX_WINDOW;

int64_t fg_attn_amx_window(int64_t n)
{
    if (n <= 0) return atomic_load(&amx_window);
    return atomic_exchange(&amx_window, n < FG_ATTN_AMX_WINDOW ? n : FG_ATTN_AMX_WINDOW);
}

#if defined(FG_ARCH_X86)
/* Tokens of one pass of the AMX path (a default batch in one pass: the windows are
 * converted once per chunk); their online-softmax state lives on the stack (32 KiB). */
#define ATTN_AMX_PASS 256

/* The AMX path for kv head kh: the tokens t of the batch with (t * n_head_kv + kh) % nth
 * == ith, in passes of up to ATTN_AMX_PASS. A pass walks the cached positions in windows
 * of FG_ATTN_AMX_WINDOW: the window's keys and values are converted once into the
 * slice (fg_amx_keys, fg_amx_values, after the scores), then every token of the pass
 * that sees the window takes its scores there, folds them into its online softmax
 * (fg_vec_softmax_window: a running maximum and sum per query head, the output so far
 * rescaled when the maximum grows) and adds the weighted values to its output; the
 * outputs are divided by the sums at the end. */
static void attn_amx_head(const attn_job *j, float *slice, int64_t kh, int ith, int nth)
{
    fg_session *s = j->s;
    const fg_hparams *hp = &s->model->hp;
    const int64_t hd = hp->head_dim, nh = hp->n_head, nkv = hp->n_head_kv, group = nh / nkv;
    const int64_t n_all = j->pos0 + j->B, w = atomic_load(&amx_window), win = n_all < w ? n_all : w;
    const float scale = 1.0f / sqrtf((float)hd);
    float *sc = slice + 2 * hd;
    uint16_t *kb = (uint16_t *)((uint8_t *)slice + fg_attn_kv_offset(hp, n_all));
    uint16_t *vb = kb + fg_amx_keys_bytes(win, hd) / sizeof(uint16_t);
    const size_t off = fg_row_bytes(s->kv_type, kh * hd);
    const uint8_t *K = s->k_cache[j->layer].base + off, *V = s->v_cache[j->layer].base + off;
    float mx[ATTN_AMX_PASS][16], sum[ATTN_AMX_PASS][16];
    int64_t t = 0;
    while (t < j->B) {
        int64_t mine[ATTN_AMX_PASS];
        int n = 0;
        for (; t < j->B && n < ATTN_AMX_PASS; t++)
            if ((t * nkv + kh) % nth == ith) mine[n++] = t;
        if (!n) break;
        for (int i = 0; i < n; i++) {
            for (int64_t g = 0; g < group; g++) mx[i][g] = -INFINITY, sum[i][g] = 0;
            memset(s->att + (mine[i] * nh + kh * group) * hd, 0, (size_t)(group * hd) * sizeof(float));
        }
        /* the pass's last token sees the most positions */
        const int64_t seen = j->pos0 + mine[n - 1] + 1;
        for (int64_t w0 = 0; w0 < seen; w0 += win) {
            const int64_t wn = seen - w0 < win ? seen - w0 : win;
            fg_amx_keys(K + (size_t)w0 * s->kv_row_bytes, s->kv_row_bytes, wn, hd, kb);
            fg_amx_values(V + (size_t)w0 * s->kv_row_bytes, s->kv_row_bytes, wn, hd, vb);
            for (int i = 0; i < n; i++) {
                const int64_t n_keys = j->pos0 + mine[i] + 1;
                if (n_keys <= w0) continue;
                const int64_t nk = n_keys - w0 < wn ? n_keys - w0 : wn;
                const float *q0 = s->q + (mine[i] * nh + kh * group) * hd;
                float *out0 = s->att + (mine[i] * nh + kh * group) * hd;
                fg_amx_scores(q0, (int)group, kb, nk, hd, scale, sc, nk);
                for (int64_t g = 0; g < group; g++) {
                    const float c = fg_vec_softmax_window(sc + g * nk, nk, &mx[i][g], &sum[i][g]);
                    if (c != 1.0f) fg_vec_scale(out0 + g * hd, hd, c);
                }
                fg_amx_weighted(out0, sc, (int)group, nk, vb, nk, hd);
            }
        }
        for (int i = 0; i < n; i++)
            for (int64_t g = 0; g < group; g++)
                fg_vec_scale(s->att + (mine[i] * nh + kh * group + g) * hd, hd, 1.0f / sum[i][g]);
    }
}
#endif

/* Tasks (token, kv head) dealt out in turn: in a batch a later token has more keys
 * (causal), so contiguous ranges gave the last thread the most work (2 threads, a
 * 256-token chunk from position 0: 3x the first one's). The AMX path takes the same
 * tasks kv head by kv head (attn_amx_head). */
static void attn_task(void *arg, int ith, int nth)
{
    const attn_job *j = arg;
    const int64_t nkv = j->s->model->hp.n_head_kv;
    float *slice = (float *)j->s->attn[ith].base;
#if defined(FG_ARCH_X86)
    if (j->amx) {
        for (int64_t kh = 0; kh < nkv; kh++) attn_amx_head(j, slice, kh, ith, nth);
        return;
    }
#endif
    for (int64_t task = ith; task < j->B * nkv; task += nth) attn_one(j, slice, task / nkv, task % nkv);
}

/* ---- decode profile (fg_session_set_profile) ------------------------------------------ */
enum { PH_EMBED, PH_ATTN_NORM, PH_QKV, PH_ATTENTION, PH_ATTN_OUT, PH_FFN_NORM, PH_GATE_UP, PH_DOWN, PH_OUTPUT };
static const char *const phase_names[FG_PROF_PHASES] = {"embed",    "attn_norm", "qkv",  "attention", "attn_out",
                                                        "ffn_norm", "gate_up",   "down", "output"};
_Static_assert(PH_OUTPUT + 1 == FG_PROF_PHASES, "one name per phase");

const char *fg_profile_phase_name(int phase) { return phase >= 0 && phase < FG_PROF_PHASES ? phase_names[phase] : NULL; }

typedef struct {
    fg_profile *p; /* NULL: not profiling this chunk */
    double t;      /* when the current phase began */
} prof_clock;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ends phase ph, whose products read `bytes` of weights, and begins the next */
static void prof_mark(prof_clock *c, int ph, double bytes)
{
    if (!c->p) return;
    double t = mono_s();
    c->p->seconds[ph] += t - c->t;
    c->p->weight_bytes[ph] += bytes;
    c->t = t;
}

static double mat_bytes(const fg_mat *w) { return (double)w->row_stride * (double)w->rows; }

/* y = x·wᵀ, naming the nn matrices multiplied next (their shares are prefetched while
 * the threads wait: see fg_matmul_group_then) */
static void mm(fg_session *s, const fg_mat *w, const float *x, int64_t B, float *y, int nn, const fg_mat *const next[])
{
    fg_matmul_group_then(1, &w, x, (int)B, &y, s->pool, s->work, nn, next);
}

/* Runs B (<= n_batch) tokens at positions pos0.. ; the caches are already committed. */
static void forward_chunk(fg_session *s, const int32_t *ids, int64_t B, int64_t pos0, fg_logits_mode mode,
                          float *logits)
{
    const fg_model *m = s->model;
    const fg_hparams *hp = &m->hp;
    int64_t E = hp->n_embd;
    float eps = (float)hp->norm_eps;

    prof_clock pc = {B == 1 ? s->prof : NULL, 0};
    if (pc.p) {
        pc.p->steps++;
        pc.t = mono_s();
    }
    for (int64_t t = 0; t < B; t++)
        fg_dequant_row(m->tok_embd.dtype, (const uint8_t *)m->tok_embd.data + (size_t)ids[t] * m->tok_embd.row_stride,
                       s->x + t * E, E);
    rope_table(s, pos0, B);
    prof_mark(&pc, PH_EMBED, 0);

    /* every matmul names the one that follows, for the threads to prefetch while they
     * wait: each layer's q/k/v, o, gate/up and down; after the last layer the output
     * (or, without logits, the first layer again, as after the output) */
    const fg_layer *l0 = &m->layers[0];
    const fg_mat *const qkv0[3] = {&l0->wq, &l0->wk, &l0->wv}, *const out[1] = {&m->output};
    for (int64_t L = 0; L < hp->n_layer; L++) {
        const fg_layer *l = &m->layers[L];
        const fg_mat *const w3[3] = {&l->wq, &l->wk, &l->wv}, *const w2[2] = {&l->w_gate, &l->w_up};
        const fg_mat *const *after_ffn = qkv0; /* what follows the feed-forward */
        int n_after = 3;
        const fg_mat *qkv_next[3];
        if (L + 1 < hp->n_layer) {
            const fg_layer *ln = &m->layers[L + 1];
            qkv_next[0] = &ln->wq, qkv_next[1] = &ln->wk, qkv_next[2] = &ln->wv;
            after_ffn = qkv_next;
        } else if (mode != FG_LOGITS_NONE) {
            after_ffn = out;
            n_after = 1;
        }
        for (int64_t t = 0; t < B; t++) fg_rmsnorm(s->h + t * E, s->x + t * E, l->attn_norm, (int)E, eps);
        prof_mark(&pc, PH_ATTN_NORM, 0);
        {
            float *y3[3] = {s->q, s->k, s->v};
            fg_matmul_group_then(3, w3, s->h, (int)B, y3, s->pool, s->work, 1, (const fg_mat *const[]){&l->wo});
        }
        prof_mark(&pc, PH_QKV, mat_bytes(&l->wq) + mat_bytes(&l->wk) + mat_bytes(&l->wv));
        if (B > 1)
            for (int64_t t = 0; t < B; t++)
                for (int64_t kh = 0; kh < hp->n_head_kv; kh++) qkv_finish(s, l, L, pos0, t, kh);
        attn_job job = {s, l, L, pos0, B, attn_on_amx(s, B)};
        fg_pool_run(s->pool, attn_task, &job);
        prof_mark(&pc, PH_ATTENTION, 0);
        mm(s, &l->wo, s->att, B, s->h, 2, w2);
        for (int64_t i = 0; i < B * E; i++) s->x[i] += s->h[i];
        prof_mark(&pc, PH_ATTN_OUT, mat_bytes(&l->wo));

        for (int64_t t = 0; t < B; t++) fg_rmsnorm(s->h + t * E, s->x + t * E, l->ffn_norm, (int)E, eps);
        prof_mark(&pc, PH_FFN_NORM, 0);
        /* FG_FFN_ROWS tokens at a time (gate/up are sized for that); the down projection
         * of a slice overwrites its own rows of h, which the slice has consumed */
        for (int64_t t0 = 0; t0 < B; t0 += FG_FFN_ROWS) {
            int64_t nb = B - t0 < FG_FFN_ROWS ? B - t0 : FG_FFN_ROWS;
            fg_matmul_glu_then(&l->w_gate, &l->w_up, s->h + t0 * E, (int)nb, s->gate, s->up, s->pool, s->work, 1,
                               (const fg_mat *const[]){&l->w_down});
            prof_mark(&pc, PH_GATE_UP, mat_bytes(&l->w_gate) + mat_bytes(&l->w_up)); /* one slice when profiled */
            bool last = t0 + FG_FFN_ROWS >= B;
            mm(s, &l->w_down, s->gate, nb, s->h + t0 * E, last ? n_after : 2, last ? after_ffn : w2);
        }
        for (int64_t i = 0; i < B * E; i++) s->x[i] += s->h[i];
        prof_mark(&pc, PH_DOWN, mat_bytes(&l->w_down));
    }

    if (mode == FG_LOGITS_NONE) return;
    int64_t first = mode == FG_LOGITS_ALL ? 0 : B - 1;
    for (int64_t t = first; t < B; t++) fg_rmsnorm(s->h + t * E, s->x + t * E, m->output_norm, (int)E, eps);
    mm(s, &m->output, s->h + first * E, B - first, logits, 3, qkv0);
    prof_mark(&pc, PH_OUTPUT, mat_bytes(&m->output));
}

fg_status fg_session_eval(fg_session *s, const int32_t *ids, int64_t n, fg_logits_mode mode, float *logits)
{
    const fg_hparams *hp = &s->model->hp;
    if (n <= 0) return fg_error(FG_ERR_ARG, "no tokens to evaluate");
    if (mode != FG_LOGITS_NONE && !logits) return fg_error(FG_ERR_ARG, "no logits buffer");
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= hp->n_vocab)
            return fg_error(FG_ERR_ARG, "token id %d is out of range (vocabulary of %lld)", ids[i], (long long)hp->n_vocab);
    if (s->n_past + n > s->n_ctx)
        return fg_error(FG_ERR_CONTEXT, "%lld tokens do not fit the context: %lld of %lld positions used",
                        (long long)n, (long long)s->n_past, (long long)s->n_ctx);
    size_t need = (size_t)(s->n_past + n) * s->kv_row_bytes;
    size_t attn_need = fg_attn_scratch_bytes(hp, s->n_past + n);
    /* growth of the KV cache (and of the attention scratch, which follows the positions
     * too) is checked against the budget when pages are committed (every few tokens,
     * not every token) */
    if ((need > s->k_cache[0].committed || attn_need > s->attn[0].committed) && s->budget) {
        int64_t grow = 0;
        if (need > s->k_cache[0].committed) grow += 2 * hp->n_layer * (int64_t)(need - s->k_cache[0].committed);
        if (attn_need > s->attn[0].committed) grow += s->n_attn * (int64_t)(attn_need - s->attn[0].committed);
        fg_status st = fg_budget_check(s->budget, grow, "KV cache");
        if (st) return st;
    }
    for (int64_t L = 0; L < hp->n_layer; L++) {
        fg_status st;
        if ((st = fg_region_commit(&s->k_cache[L], need)) || (st = fg_region_commit(&s->v_cache[L], need))) return st;
    }
    for (int t = 0; t < s->n_attn; t++) {
        fg_status st = fg_region_commit(&s->attn[t], attn_need);
        if (st) return st;
    }
    for (int64_t off = 0; off < n; off += s->n_batch) {
        int64_t B = n - off < s->n_batch ? n - off : s->n_batch;
        fg_logits_mode cm = mode;
        float *out = logits;
        if (mode == FG_LOGITS_ALL) out = logits + off * hp->n_vocab;
        else if (mode == FG_LOGITS_LAST && off + B < n) cm = FG_LOGITS_NONE;
        forward_chunk(s, ids + off, B, s->n_past, cm, out);
        memcpy(s->tokens + s->n_past, ids + off, (size_t)B * sizeof(int32_t));
        s->n_past += B;
    }
    return FG_OK;
}
