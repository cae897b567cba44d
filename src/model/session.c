/* Sessions: the KV cache and the attention scratch (reserved for the whole context,
 * committed as positions arrive) and the scratch arena (sized at creation for n_batch
 * tokens). */
#include "model/model-impl.h"

#include <string.h>

fg_session_params fg_session_default_params(void)
{
    fg_session_params p = {.n_ctx = 0, .n_batch = 256, .n_threads = 0, .budget = NULL, .kv_type = FG_DT_F16};
    return p;
}

int64_t fg_session_n_past(const fg_session *s) { return s->n_past; }
int64_t fg_session_n_ctx(const fg_session *s) { return s->n_ctx; }
int64_t fg_session_n_vocab(const fg_session *s) { return s->model->hp.n_vocab; }
fg_model *fg_session_model(const fg_session *s) { return s->model; }

void fg_session_truncate(fg_session *s, int64_t n_past)
{
    if (n_past >= 0 && n_past < s->n_past) s->n_past = n_past;
}

const int32_t *fg_session_tokens(const fg_session *s) { return s->tokens; }

int64_t fg_session_common_prefix(const fg_session *s, const int32_t *ids, int64_t n)
{
    int64_t i = 0;
    while (i < n && i < s->n_past && s->tokens[i] == ids[i]) i++;
    return i;
}

void fg_session_set_profile(fg_session *s, fg_profile *p) { s->prof = p; }

size_t fg_session_kv_bytes_per_token(const fg_session *s)
{
    return 2 * (size_t)s->model->hp.n_layer * s->kv_row_bytes;
}

double fg_session_weight_read_rate(fg_session *s, int passes)
{
    int64_t n = fg_model_weight_spans(s->model, NULL, 0);
    fg_span *spans = fg_malloc(FG_MEM_SCRATCH, (size_t)n * sizeof *spans);
    if (!spans) {
        fg_error(FG_ERR_NOMEM, "read probe: out of memory for %lld ranges", (long long)n);
        return -1;
    }
    fg_model_weight_spans(s->model, spans, n);
    double gbs = fg_measure_read_spans(s->pool, spans, (int)n, passes);
    fg_free(spans);
    return gbs;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t fg_attn_kv_offset(const fg_hparams *hp, int64_t n_pos)
{
    return align64(((size_t)(hp->n_head / hp->n_head_kv) * (size_t)n_pos + 2 * (size_t)hp->head_dim) * sizeof(float));
}

size_t fg_attn_scratch_bytes(const fg_hparams *hp, int64_t n_pos)
{
    size_t b = fg_attn_kv_offset(hp, n_pos);
#if defined(FG_ARCH_X86)
    if (fg_attn_amx_fits(hp)) { /* keys and values of one window of positions */
        const int64_t n = n_pos < FG_ATTN_AMX_WINDOW ? n_pos : FG_ATTN_AMX_WINDOW;
        b += 2 * fg_amx_keys_bytes(n, hp->head_dim);
    }
#endif
    return b;
}

bool fg_attn_amx_fits(const fg_hparams *hp)
{
#if defined(FG_ARCH_X86)
    return fg_isa_supported(FG_ISA_AVX512_AMX) && hp->head_dim % 32 == 0 && hp->head_dim <= FG_VEC_MAX_D &&
           hp->n_head / hp->n_head_kv <= 16;
#else
    (void)hp;
    return false;
#endif
}

size_t fg_scratch_layout(const fg_hparams *hp, int n_batch, size_t work, size_t sizes[SCRATCH_BUFS])
{
    size_t B = (size_t)n_batch, E = (size_t)hp->n_embd, Q = (size_t)(hp->n_head * hp->head_dim);
    size_t KV = (size_t)(hp->n_head_kv * hp->head_dim), F = (size_t)hp->n_ff;
    size_t half = (size_t)hp->head_dim / 2, BF = (size_t)fg_ffn_rows(n_batch);
    /* x, h, q, k, v, att, gate, up, rope_cs (in the order of session.c's pointers) */
    size_t sz[SCRATCH_BUFS] = {B * E, B * E, B * Q, B * KV, B * KV, B * Q, BF * F, BF * F, B * half * 2};
    size_t total = 0;
    for (int i = 0; i < SCRATCH_BUFS; i++) {
        sizes[i] = sz[i];
        total += align64(sz[i] * sizeof(float));
    }
    return total + align64(work);
}

fg_status fg_session_create(fg_model *m, const fg_session_params *params, fg_session **out)
{
    *out = NULL;
    fg_session_params p = params ? *params : fg_session_default_params();
    const fg_hparams *hp = &m->hp;
    if (p.n_ctx < 0 || p.n_ctx > (1LL << 24)) return fg_error(FG_ERR_ARG, "context size %lld is out of range", (long long)p.n_ctx);
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_batch <= 0) p.n_batch = 256;
    if (p.n_batch > p.n_ctx) p.n_batch = (int)p.n_ctx;
    int nth = p.n_threads > 0 ? p.n_threads : m->n_threads;

    fg_session *s = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *s);
    if (!s) return fg_error(FG_ERR_NOMEM, "out of memory creating a session");
    s->model = m;
    s->n_ctx = p.n_ctx;
    s->n_batch = p.n_batch;
    s->budget = p.budget;
    fg_status st = fg_pool_create(nth, &s->pool);
    if (st) goto fail;

    s->k_cache = fg_calloc(FG_MEM_RUNTIME, (size_t)hp->n_layer, sizeof(fg_region));
    s->v_cache = fg_calloc(FG_MEM_RUNTIME, (size_t)hp->n_layer, sizeof(fg_region));
    s->tokens = fg_malloc(FG_MEM_KV, (size_t)s->n_ctx * sizeof(int32_t));
    s->attn = fg_calloc(FG_MEM_RUNTIME, (size_t)nth, sizeof(fg_region));
    if (!s->k_cache || !s->v_cache || !s->tokens || !s->attn) {
        st = fg_error(FG_ERR_NOMEM, "out of memory creating a session");
        goto fail;
    }
    s->kv_type = p.kv_type;
    if (p.kv_type != FG_DT_F32 && p.kv_type != FG_DT_F16 && p.kv_type != FG_DT_Q8_0) {
        st = fg_error(FG_ERR_ARG, "KV cache type %s is not supported (f32, f16, q8_0 are)", fg_dtype_name(p.kv_type));
        goto fail;
    }
    if (!fg_row_bytes(p.kv_type, hp->head_dim)) {
        st = fg_error(FG_ERR_ARG, "KV cache type %s needs a head dimension multiple of its block (head dim %lld)",
                      fg_dtype_name(p.kv_type), (long long)hp->head_dim);
        goto fail;
    }
    size_t kv_row = fg_row_bytes(p.kv_type, hp->n_head_kv * hp->head_dim);
    s->kv_row_bytes = kv_row;
    for (int64_t L = 0; L < hp->n_layer; L++) {
        if ((st = fg_region_reserve(&s->k_cache[L], FG_MEM_KV, kv_row * (size_t)s->n_ctx)) ||
            (st = fg_region_reserve(&s->v_cache[L], FG_MEM_KV, kv_row * (size_t)s->n_ctx)))
            goto fail;
    }
    s->n_attn = nth;
    for (int t = 0; t < nth; t++)
        if ((st = fg_region_reserve(&s->attn[t], FG_MEM_SCRATCH, fg_attn_scratch_bytes(hp, s->n_ctx)))) goto fail;

    /* Scratch layout: every buffer 64-byte aligned inside one region (fg_scratch_layout). */
    size_t work = 0;
    for (int64_t L = 0; L < hp->n_layer; L++) {
        const fg_layer *l = &m->layers[L];
        /* the feed-forward runs fg_ffn_rows tokens at a time (forward.c) */
        const fg_mat *lm[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t i = 0; i < sizeof lm / sizeof lm[0]; i++) {
            const int n = i < 4 ? s->n_batch : (int)fg_ffn_rows(s->n_batch);
            size_t w = fg_matmul_work_size(lm[i]->dtype, lm[i]->cols, n, nth);
            if (w > work) work = w;
        }
    }
    size_t w_out = fg_matmul_work_size(m->output.dtype, m->output.cols, s->n_batch, nth);
    if (w_out > work) work = w_out;
    size_t sizes[SCRATCH_BUFS];
    size_t total = fg_scratch_layout(hp, s->n_batch, work, sizes);
    if ((st = fg_region_reserve(&s->scratch, FG_MEM_SCRATCH, total)) || (st = fg_region_commit(&s->scratch, total)))
        goto fail;
    /* touched now: the arena is resident from the start, as the plan predicts, instead of
     * showing up at the first long prefill */
    memset(s->scratch.base, 0, total);
    uint8_t *p8 = s->scratch.base;
    _Static_assert(SCRATCH_BUFS == 9, "one pointer per scratch buffer");
    float **bufs[] = {&s->x, &s->h, &s->q, &s->k, &s->v, &s->att, &s->gate, &s->up, &s->rope_cs};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i] = (float *)p8;
        p8 += align64(sizes[i] * sizeof(float));
    }
    s->work = work ? p8 : NULL;
    s->work_size = work;
    *out = s;
    return FG_OK;
fail:
    fg_session_free(s);
    return st;
}

void fg_session_free(fg_session *s)
{
    if (!s) return;
    if (s->k_cache)
        for (int64_t L = 0; L < s->model->hp.n_layer; L++) fg_region_release(&s->k_cache[L]);
    if (s->v_cache)
        for (int64_t L = 0; L < s->model->hp.n_layer; L++) fg_region_release(&s->v_cache[L]);
    fg_free(s->k_cache);
    fg_free(s->v_cache);
    fg_free(s->tokens);
    if (s->attn)
        for (int t = 0; t < s->n_attn; t++) fg_region_release(&s->attn[t]);
    fg_free(s->attn);
    fg_region_release(&s->scratch);
    fg_pool_free(s->pool);
    fg_free(s);
}
