/* Loading a model: open the file(s), read the hyperparameters, bind every weight as a
 * view into the read-only mapping (vectors in float32 are used in place; vectors in
 * another dtype are converted into small owned copies), check names, shapes and dtypes. */
#include "format/quant_mix.h"
#include "mem/probe.h"
#include "model/model-impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

fg_model_params fg_model_default_params(void)
{
    fg_model_params p = {.n_threads = 0};
    return p;
}

const fg_hparams *fg_model_hparams(const fg_model *m) { return &m->hp; }
const fg_gguf *fg_model_gguf(const fg_model *m) { return m->gguf; }
const char *fg_model_dir(const fg_model *m) { return m->dir; }

static const char *model_path(const fg_model *m)
{
    if (m->gguf) return m->gguf->file.path;
    return m->dir ? m->dir : "model";
}

/* ---- finding tensors in either file kind ---------------------------------------------
 * A tensor is described by its shape in row-major [rows, cols] terms (GGUF stores
 * ne[0] = cols, ne[1] = rows). */
typedef struct found_tensor {
    fg_dtype dtype;
    const char *dtype_name;
    int n_dims;
    int64_t rows, cols;   /* 1-D: rows = 1, cols = n */
    const void *data;
    uint64_t nbytes;
} found_tensor;

static bool find_tensor(const fg_model *m, const char *name, found_tensor *t)
{
    memset(t, 0, sizeof *t);
    if (m->gguf) {
        const fg_gguf_tensor *g = fg_gguf_find_tensor(m->gguf, name);
        if (!g) return false;
        t->dtype = g->dtype;
        t->dtype_name = g->dtype == FG_DT_INVALID ? "unsupported" : fg_dtype_name(g->dtype);
        t->n_dims = (int)g->n_dims;
        t->cols = (int64_t)g->ne[0];
        t->rows = g->n_dims >= 2 ? (int64_t)g->ne[1] : 1;
        if (g->n_dims > 2) {
            for (uint32_t i = 2; i < g->n_dims; i++)
                if (g->ne[i] != 1) t->n_dims = 3; /* a real 3-D tensor: rejected by callers */
        }
        t->data = g->data;
        t->nbytes = g->nbytes;
        return true;
    }
    const fg_st_tensor *s = fg_st_find(m->st, name);
    if (!s) return false;
    t->dtype = s->dtype;
    t->dtype_name = s->dtype_name;
    t->n_dims = (int)s->n_dims;
    t->rows = s->n_dims >= 2 ? (int64_t)s->shape[0] : 1;
    t->cols = s->n_dims >= 2 ? (int64_t)s->shape[1] : (s->n_dims == 1 ? (int64_t)s->shape[0] : 1);
    t->data = s->data;
    t->nbytes = s->nbytes;
    return true;
}

static fg_status convert_mat(fg_model *m, const char *name, fg_mat *w, fg_dtype to);
static fg_status keep_owned(fg_model *m, void *p);

/* Binds a matrix found under `name`; `gguf_name` is its GGUF name (the quantization
 * mixture is defined on those). */
static fg_status bind_mat_as(fg_model *m, const char *name, const char *gguf_name, int64_t rows, int64_t cols, fg_mat *out)
{
    found_tensor t;
    if (!find_tensor(m, name, &t)) return fg_error(FG_ERR_FORMAT, "%s: missing tensor %s", model_path(m), name);
    if (t.dtype == FG_DT_INVALID)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s, which frugal does not compute with",
                        model_path(m), name, t.dtype_name);
    if (t.n_dims != 2 || t.rows != rows || t.cols != cols)
        return fg_error(FG_ERR_FORMAT, "%s: tensor %s has shape [%lld, %lld] (%d-D), expected [%lld, %lld]",
                        model_path(m), name, (long long)t.rows, (long long)t.cols, t.n_dims, (long long)rows,
                        (long long)cols);
    size_t rb = fg_row_bytes(t.dtype, cols);
    if (rb == 0)
        return fg_error(FG_ERR_FORMAT, "%s: tensor %s: %lld columns is not a multiple of the %s block size",
                        model_path(m), name, (long long)cols, fg_dtype_name(t.dtype));
    if ((uint64_t)rb * (uint64_t)rows != t.nbytes)
        return fg_error(FG_ERR_FORMAT, "%s: tensor %s holds %llu bytes, expected %llu", model_path(m), name,
                        (unsigned long long)t.nbytes, (unsigned long long)rb * (unsigned long long)rows);
    /* kernels read 16-bit scales/halves and 32-bit floats in place: a file whose
     * alignment (GGUF general.alignment may be 1) leaves them misaligned is refused */
    size_t need_align = t.dtype == FG_DT_F32 ? 4 : 2;
    if ((uintptr_t)t.data % need_align)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: tensor %s is not aligned to %zu bytes in the file", model_path(m), name,
                        need_align);
    out->dtype = t.dtype;
    out->rows = rows;
    out->cols = cols;
    out->row_stride = rb;
    out->data = t.data;
    m->n_mats++;
    if (m->quant != FG_QMIX_NONE) {
        fg_dtype to = fg_quant_mix_type((fg_quant_mix)m->quant, gguf_name, 2, cols, m->hp.n_layer, m->hp.tied_output);
        if (to != FG_DT_INVALID && to != t.dtype) {
            m->n_converted++;
            return convert_mat(m, name, out, to);
        }
    }
    return FG_OK;
}

/* ---- quantize on load ------------------------------------------------------------------ */
typedef struct convert_job {
    const fg_mat *src;
    int64_t row0, row1;  /* the chunk of rows being converted */
    uint8_t *dst;
    fg_dtype to;
    size_t dst_stride;
    float *tmp;          /* [n_threads x cols] */
} convert_job;

static void convert_rows(void *arg, int ith, int nth)
{
    convert_job *j = arg;
    int64_t rows = j->row1 - j->row0, lo = j->row0 + rows * ith / nth, hi = j->row0 + rows * (ith + 1) / nth;
    float *tmp = j->tmp + (size_t)ith * (size_t)j->src->cols;
    for (int64_t r = lo; r < hi; r++) {
        fg_dequant_row(j->src->dtype, (const uint8_t *)j->src->data + (size_t)r * j->src->row_stride, tmp, j->src->cols);
        fg_quantize_row(j->to, tmp, j->dst + (size_t)r * j->dst_stride, j->src->cols);
    }
}

/* Drops the pages of a mapped range from this process (they stay in the page cache and
 * fault back in if touched again). */
static void drop_pages(const void *p, size_t len)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + ps - 1) & ~(uintptr_t)(ps - 1), e = ((uintptr_t)p + len) & ~(uintptr_t)(ps - 1);
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

static fg_status convert_mat(fg_model *m, const char *name, fg_mat *w, fg_dtype to)
{
    size_t rb = fg_row_bytes(to, w->cols);
    if (!rb) return fg_error(FG_ERR_UNSUPPORTED, "%s: cannot convert %s to %s (row length %lld)", model_path(m), name,
                             fg_dtype_name(to), (long long)w->cols);
    uint8_t *dst = fg_malloc(FG_MEM_WEIGHTS_OWNED, rb * (size_t)w->rows);
    if (!dst) return fg_error(FG_ERR_NOMEM, "out of memory converting %s to %s", name, fg_dtype_name(to));
    fg_mem_advise_huge(dst, rb * (size_t)w->rows); /* before the first write faults it in */
    fg_status st = keep_owned(m, dst);
    if (st) return st;
    if (!m->conv_pool && (st = fg_pool_create(m->n_threads, &m->conv_pool))) return st;
    int nth = fg_pool_size(m->conv_pool);
    float *tmp = fg_malloc(FG_MEM_SCRATCH, (size_t)nth * (size_t)w->cols * sizeof(float));
    if (!tmp) return fg_error(FG_ERR_NOMEM, "out of memory converting %s", name);
    /* chunk by chunk, dropping each chunk's source pages: at most one chunk of the
     * source is resident beside the converted weights */
    int64_t chunk_rows = (int64_t)(FG_CONVERT_CHUNK / w->row_stride);
    if (chunk_rows < 1) chunk_rows = 1;
    for (int64_t r0 = 0; r0 < w->rows; r0 += chunk_rows) {
        int64_t r1 = r0 + chunk_rows < w->rows ? r0 + chunk_rows : w->rows;
        convert_job job = {w, r0, r1, dst, to, rb, tmp};
        fg_pool_run(m->conv_pool, convert_rows, &job);
        drop_pages((const uint8_t *)w->data + (size_t)r0 * w->row_stride, (size_t)(r1 - r0) * w->row_stride);
    }
    fg_free(tmp);
    w->data = dst;
    w->dtype = to;
    w->row_stride = rb;
    return FG_OK;
}

static fg_status keep_owned(fg_model *m, void *p)
{
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? m->cap_owned * 2 : 64;
        void **n = m->owned ? fg_realloc(m->owned, cap * sizeof *n) : fg_malloc(FG_MEM_RUNTIME, cap * sizeof *n);
        if (!n) {
            fg_free(p);
            return fg_error(FG_ERR_NOMEM, "out of memory binding weights");
        }
        m->owned = n;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return FG_OK;
}

/* A 1-D float vector of n elements. Used in place when stored as aligned F32, else
 * converted to an owned float32 copy (n is small: norms and biases). */
static fg_status bind_vec(fg_model *m, const char *name, int64_t n, const float **out)
{
    found_tensor t;
    if (!find_tensor(m, name, &t)) return fg_error(FG_ERR_FORMAT, "%s: missing tensor %s", model_path(m), name);
    if (t.dtype == FG_DT_INVALID)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s, which frugal does not compute with",
                        model_path(m), name, t.dtype_name);
    if (t.n_dims != 1 || t.cols != n)
        return fg_error(FG_ERR_FORMAT, "%s: tensor %s has %d dims and %lld elements, expected a vector of %lld",
                        model_path(m), name, t.n_dims, (long long)(t.rows * t.cols), (long long)n);
    size_t rb = fg_row_bytes(t.dtype, n);
    if (rb == 0 || rb != t.nbytes)
        return fg_error(FG_ERR_FORMAT, "%s: tensor %s holds %llu bytes, expected %zu", model_path(m), name,
                        (unsigned long long)t.nbytes, rb);
    if (t.dtype == FG_DT_F32 && ((uintptr_t)t.data & 3) == 0) {
        *out = t.data;
        return FG_OK;
    }
    if (t.dtype != FG_DT_F32 && ((uintptr_t)t.data & 1))
        return fg_error(FG_ERR_UNSUPPORTED, "%s: tensor %s is not aligned to 2 bytes in the file", model_path(m), name);
    float *v = fg_malloc(FG_MEM_WEIGHTS_OWNED, (size_t)n * sizeof(float));
    if (!v) return fg_error(FG_ERR_NOMEM, "out of memory converting %s", name);
    fg_dequant_row(t.dtype, t.data, v, n);
    *out = v;
    return keep_owned(m, v);
}

/* ---- per-architecture tensor names --------------------------------------------------- */
typedef struct names {
    const char *embd, *out, *out_norm;
    const char *fmt_attn_norm, *fmt_ffn_norm, *fmt_q, *fmt_k, *fmt_v, *fmt_o;
    const char *fmt_bq, *fmt_bk, *fmt_bv, *fmt_qn, *fmt_kn, *fmt_gate, *fmt_up, *fmt_down;
} names;

static const names gguf_names = {
    "token_embd.weight", "output.weight", "output_norm.weight",
    "blk.%d.attn_norm.weight", "blk.%d.ffn_norm.weight", "blk.%d.attn_q.weight", "blk.%d.attn_k.weight",
    "blk.%d.attn_v.weight", "blk.%d.attn_output.weight", "blk.%d.attn_q.bias", "blk.%d.attn_k.bias",
    "blk.%d.attn_v.bias", "blk.%d.attn_q_norm.weight", "blk.%d.attn_k_norm.weight", "blk.%d.ffn_gate.weight",
    "blk.%d.ffn_up.weight", "blk.%d.ffn_down.weight",
};

static const names hf_names = {
    "model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
    "model.layers.%d.input_layernorm.weight", "model.layers.%d.post_attention_layernorm.weight",
    "model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.k_proj.weight",
    "model.layers.%d.self_attn.v_proj.weight", "model.layers.%d.self_attn.o_proj.weight",
    "model.layers.%d.self_attn.q_proj.bias", "model.layers.%d.self_attn.k_proj.bias",
    "model.layers.%d.self_attn.v_proj.bias", "model.layers.%d.self_attn.q_norm.weight",
    "model.layers.%d.self_attn.k_norm.weight", "model.layers.%d.mlp.gate_proj.weight",
    "model.layers.%d.mlp.up_proj.weight", "model.layers.%d.mlp.down_proj.weight",
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static const char *lname(char *buf, size_t size, const char *fmt, int layer)
{
    snprintf(buf, size, fmt, layer);
    return buf;
}
#pragma GCC diagnostic pop

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static const char *gname(char *buf, size_t size, const char *fmt, int layer)
{
    snprintf(buf, size, fmt, layer);
    return buf;
}
#pragma GCC diagnostic pop

static fg_status bind_all(fg_model *m, const names *nm)
{
    const fg_hparams *hp = &m->hp;
    int64_t E = hp->n_embd, hd = hp->head_dim, Q = hp->n_head * hd, KV = hp->n_head_kv * hd;
    fg_status s;
    found_tensor t;
    m->hp.tied_output = !find_tensor(m, nm->out, &t);
    if ((s = bind_mat_as(m, nm->embd, gguf_names.embd, hp->n_vocab, E, &m->tok_embd))) return s;
    if (!m->hp.tied_output) {
        if ((s = bind_mat_as(m, nm->out, gguf_names.out, hp->n_vocab, E, &m->output))) return s;
    } else {
        m->output = m->tok_embd;
    }
    if ((s = bind_vec(m, nm->out_norm, E, &m->output_norm))) return s;
    m->layers = fg_calloc(FG_MEM_RUNTIME, (size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return fg_error(FG_ERR_NOMEM, "out of memory binding layers");
    char b[160], g[160];
#define MAT(fmt, rows, cols, dst) \
    bind_mat_as(m, lname(b, sizeof b, nm->fmt, L), gname(g, sizeof g, gguf_names.fmt, L), rows, cols, dst)
    for (int L = 0; L < hp->n_layer; L++) {
        fg_layer *l = &m->layers[L];
        if ((s = bind_vec(m, lname(b, sizeof b, nm->fmt_attn_norm, L), E, &l->attn_norm)) ||
            (s = bind_vec(m, lname(b, sizeof b, nm->fmt_ffn_norm, L), E, &l->ffn_norm)) ||
            (s = MAT(fmt_q, Q, E, &l->wq)) || (s = MAT(fmt_k, KV, E, &l->wk)) || (s = MAT(fmt_v, KV, E, &l->wv)) ||
            (s = MAT(fmt_o, E, Q, &l->wo)) || (s = MAT(fmt_gate, hp->n_ff, E, &l->w_gate)) ||
            (s = MAT(fmt_up, hp->n_ff, E, &l->w_up)) || (s = MAT(fmt_down, E, hp->n_ff, &l->w_down)))
            return s;
#undef MAT
        if (hp->has_qkv_bias &&
            ((s = bind_vec(m, lname(b, sizeof b, nm->fmt_bq, L), Q, &l->bq)) ||
             (s = bind_vec(m, lname(b, sizeof b, nm->fmt_bk, L), KV, &l->bk)) ||
             (s = bind_vec(m, lname(b, sizeof b, nm->fmt_bv, L), KV, &l->bv))))
            return s;
        if (hp->has_qk_norm &&
            ((s = bind_vec(m, lname(b, sizeof b, nm->fmt_qn, L), hd, &l->q_norm)) ||
             (s = bind_vec(m, lname(b, sizeof b, nm->fmt_kn, L), hd, &l->k_norm))))
            return s;
    }
    return FG_OK;
}

/* ---- hyperparameters ------------------------------------------------------------------ */
static fg_status check_hparams(fg_model *m)
{
    fg_hparams *hp = &m->hp;
    const char *p = model_path(m);
    if (hp->n_embd <= 0 || hp->n_embd > (1 << 20)) return fg_error(FG_ERR_FORMAT, "%s: hidden size %lld is out of range", p, (long long)hp->n_embd);
    if (hp->n_layer <= 0 || hp->n_layer > 1024) return fg_error(FG_ERR_FORMAT, "%s: layer count %lld is out of range", p, (long long)hp->n_layer);
    if (hp->n_head <= 0 || hp->n_head > 4096) return fg_error(FG_ERR_FORMAT, "%s: head count %lld is out of range", p, (long long)hp->n_head);
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv)
        return fg_error(FG_ERR_FORMAT, "%s: %lld kv heads do not divide %lld heads", p, (long long)hp->n_head_kv, (long long)hp->n_head);
    if (hp->head_dim <= 0 || hp->head_dim % 2 || hp->head_dim > 4096) return fg_error(FG_ERR_FORMAT, "%s: head dim %lld is invalid", p, (long long)hp->head_dim);
    if (hp->n_ff <= 0 || hp->n_ff > (1 << 22)) return fg_error(FG_ERR_FORMAT, "%s: feed-forward size %lld is out of range", p, (long long)hp->n_ff);
    if (hp->n_vocab <= 0 || hp->n_vocab > (1 << 24)) return fg_error(FG_ERR_FORMAT, "%s: vocabulary size %lld is out of range", p, (long long)hp->n_vocab);
    if (!(hp->rope_theta > 0) || !isfinite(hp->rope_theta)) return fg_error(FG_ERR_FORMAT, "%s: rope theta %g is invalid", p, hp->rope_theta);
    if (!(hp->norm_eps > 0) || hp->norm_eps > 1) return fg_error(FG_ERR_FORMAT, "%s: rms norm epsilon %g is invalid", p, hp->norm_eps);
    if (hp->n_ctx_train <= 0) hp->n_ctx_train = 4096;
    return FG_OK;
}

static void set_family_flags(fg_hparams *hp)
{
    hp->has_qkv_bias = hp->arch == FG_ARCH_QWEN2;
    hp->has_qk_norm = hp->arch == FG_ARCH_QWEN3;
}

/* HF llama3 rope scaling: frequencies whose wavelength exceeds the original context
 * over low_freq_factor are divided by `factor`; those below original/high_freq_factor
 * are kept; in between, a smooth blend. */
static double llama3_scaled(double inv_freq, const fg_hf_config *c)
{
    double lo_wl = (double)c->rope_original_max_pos / c->rope_low_freq_factor;
    double hi_wl = (double)c->rope_original_max_pos / c->rope_high_freq_factor;
    double wl = 2.0 * M_PI / inv_freq;
    if (wl < hi_wl) return inv_freq;
    if (wl > lo_wl) return inv_freq / c->rope_factor;
    double smooth = ((double)c->rope_original_max_pos / wl - c->rope_low_freq_factor) /
                    (c->rope_high_freq_factor - c->rope_low_freq_factor);
    return (1.0 - smooth) * inv_freq / c->rope_factor + smooth * inv_freq;
}

fg_status fg_model_init_rope(fg_model *m, const fg_hf_config *cfg, const float *freq_divisors)
{
    int64_t half = m->hp.head_dim / 2;
    m->rope_inv_freq = fg_malloc(FG_MEM_RUNTIME, (size_t)half * sizeof(double));
    if (!m->rope_inv_freq) return fg_error(FG_ERR_NOMEM, "out of memory for rope frequencies");
    for (int64_t i = 0; i < half; i++) {
        double f = pow(m->hp.rope_theta, -(double)(2 * i) / (double)m->hp.head_dim);
        if (cfg && cfg->rope_llama3) f = llama3_scaled(f, cfg);
        if (freq_divisors) f /= freq_divisors[i];
        m->rope_inv_freq[i] = f;
    }
    return FG_OK;
}

static bool gguf_arch_int(const fg_gguf *g, const char *arch, const char *key, int64_t *out)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return fg_gguf_get_i64(g, k, out);
}

static bool gguf_arch_f64(const fg_gguf *g, const char *arch, const char *key, double *out)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return fg_gguf_get_f64(g, k, out);
}

fg_status fg_model_bind_gguf(fg_model *m)
{
    const fg_gguf *g = m->gguf;
    const char *p = model_path(m);
    fg_str a;
    if (!fg_gguf_get_str(g, "general.architecture", &a)) return fg_error(FG_ERR_FORMAT, "%s: no general.architecture key", p);
    char arch[32];
    if (a.len >= sizeof arch) return fg_error(FG_ERR_UNSUPPORTED, "%s: unknown architecture (name too long)", p);
    memcpy(arch, a.ptr, a.len);
    arch[a.len] = 0;
    fg_hparams *hp = &m->hp;
    hp->arch = fg_arch_from_name(arch);
    if (hp->arch == FG_ARCH_UNKNOWN)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (llama, qwen2, qwen3 are)", p, arch);
    set_family_flags(hp);
    if (!gguf_arch_int(g, arch, "embedding_length", &hp->n_embd)) return fg_error(FG_ERR_FORMAT, "%s: missing %s.embedding_length", p, arch);
    if (!gguf_arch_int(g, arch, "block_count", &hp->n_layer)) return fg_error(FG_ERR_FORMAT, "%s: missing %s.block_count", p, arch);
    if (!gguf_arch_int(g, arch, "feed_forward_length", &hp->n_ff)) return fg_error(FG_ERR_FORMAT, "%s: missing %s.feed_forward_length", p, arch);
    if (!gguf_arch_int(g, arch, "attention.head_count", &hp->n_head)) return fg_error(FG_ERR_FORMAT, "%s: missing %s.attention.head_count", p, arch);
    if (!gguf_arch_int(g, arch, "attention.head_count_kv", &hp->n_head_kv)) hp->n_head_kv = hp->n_head;
    if (!gguf_arch_int(g, arch, "context_length", &hp->n_ctx_train)) hp->n_ctx_train = 4096;
    if (!gguf_arch_f64(g, arch, "rope.freq_base", &hp->rope_theta)) hp->rope_theta = 10000.0;
    if (!gguf_arch_f64(g, arch, "attention.layer_norm_rms_epsilon", &hp->norm_eps))
        return fg_error(FG_ERR_FORMAT, "%s: missing %s.attention.layer_norm_rms_epsilon", p, arch);
    if (hp->n_head <= 0) return fg_error(FG_ERR_FORMAT, "%s: head count %lld is invalid", p, (long long)hp->n_head);
    if (!gguf_arch_int(g, arch, "attention.key_length", &hp->head_dim)) hp->head_dim = hp->n_embd / hp->n_head;
    int64_t vlen;
    if (gguf_arch_int(g, arch, "attention.value_length", &vlen) && vlen != hp->head_dim)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: value length %lld differs from key length %lld", p, (long long)vlen, (long long)hp->head_dim);
    const fg_gguf_tensor *te = fg_gguf_find_tensor(g, "token_embd.weight");
    if (!te) return fg_error(FG_ERR_FORMAT, "%s: missing tensor token_embd.weight", p);
    hp->n_vocab = te->n_dims >= 2 ? (int64_t)te->ne[1] : 0;
    /* llama GGUF files store q/k rows permuted so rotary pairs are adjacent. */
    hp->rope_interleaved = hp->arch == FG_ARCH_LLAMA;
    if (!fg_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", &hp->bos_id)) hp->bos_id = -1;
    if (!fg_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &hp->eos_id)) hp->eos_id = -1;
    fg_status s = check_hparams(m);
    if (s) return s;
    if ((s = bind_all(m, &gguf_names))) return s;
    const float *divisors = NULL;
    if (fg_gguf_find_tensor(g, "rope_freqs.weight")) {
        if ((s = bind_vec(m, "rope_freqs.weight", hp->head_dim / 2, &divisors))) return s;
        hp->rope_scaled = true;
    }
    return fg_model_init_rope(m, NULL, divisors);
}

fg_status fg_model_bind_hf(fg_model *m, const fg_hf_config *c)
{
    fg_hparams *hp = &m->hp;
    hp->arch = c->arch;
    set_family_flags(hp);
    hp->n_embd = c->hidden_size;
    hp->n_layer = c->n_layers;
    hp->n_ff = c->intermediate_size;
    hp->n_head = c->n_heads;
    hp->n_head_kv = c->n_kv_heads;
    hp->head_dim = c->head_dim;
    hp->n_vocab = c->vocab_size;
    hp->n_ctx_train = c->max_position_embeddings;
    hp->rope_theta = c->rope_theta;
    hp->norm_eps = c->rms_norm_eps;
    hp->rope_interleaved = false;
    hp->rope_scaled = c->rope_llama3;
    hp->bos_id = c->bos_token_id;
    hp->eos_id = c->eos_token_id;
    fg_status s = check_hparams(m);
    if (s) return s;
    if ((s = bind_all(m, &hf_names))) return s;
    if (c->tie_word_embeddings && !hp->tied_output)
        fg_log(FG_LOG_WARN, "%s: config says tied embeddings but lm_head.weight is present; using lm_head", m->dir);
    if (!c->tie_word_embeddings && hp->tied_output)
        return fg_error(FG_ERR_FORMAT, "%s: missing tensor lm_head.weight (tie_word_embeddings is false)", m->dir);
    return fg_model_init_rope(m, c, NULL);
}

/* The weight files' mappings are counted by the memory accounting (src/mem/probe.h) —
 * unless every matrix was converted into owned (tagged) memory: the file then serves
 * only metadata and small vectors, whose pages show up as "unaccounted file". */
static fg_status register_mappings(fg_model *m)
{
    fg_status s = FG_OK;
    if (m->n_mats > 0 && m->n_converted == m->n_mats) return FG_OK;
    if (m->gguf) s = fg_mem_map_register(m->gguf->file.data, m->gguf->file.size, m->gguf->file.path);
    for (int i = 0; m->st && i < m->st->n_files && !s; i++)
        s = fg_mem_map_register(m->st->files[i].data, m->st->files[i].size, m->st->files[i].path);
    m->registered = !s;
    return s;
}

typedef struct { uintptr_t a, e; } span;

static int span_cmp(const void *x, const void *y)
{
    const span *p = x, *q = y;
    return p->a < q->a ? -1 : p->a > q->a;
}

static bool in_file(const fg_model *m, const void *p)
{
    const uint8_t *q = p;
    if (m->gguf) return q >= m->gguf->file.data && q < m->gguf->file.data + m->gguf->file.size;
    for (int i = 0; m->st && i < m->st->n_files; i++) {
        const fg_file *f = &m->st->files[i];
        if (q >= f->data && q < f->data + f->size) return true;
    }
    return false;
}

/* appends w's bytes to v when they lie in a file mapping (not converted) */
static void add_span(const fg_model *m, const fg_mat *w, span *v, size_t *n)
{
    if (w->data && in_file(m, w->data))
        v[(*n)++] = (span){(uintptr_t)w->data, (uintptr_t)w->data + w->row_stride * (size_t)w->rows};
}

/* The matrices read in full for every token (each layer's, and the output) are streamed
 * from RAM end to end, and how fast depends on where their pages lie: on this project's
 * dev VM, decode on a page cache of scattered 4 KiB pages ran at 59 tok/s against 83 on
 * one of contiguous large folios (0.5B Q8_0, same minutes). The kernel's choice of folio
 * follows how the pages were faulted in: sequential reads get large folios, but pages
 * brought back one fault at a time (the embedding rows a prompt looks up, after memory
 * pressure evicted them) come as single pages. So their ranges in the mapping, merged
 * where they sit close, ask for 2 MiB pages: pages faulted in there come in 2 MiB folios.
 * Pages already in the page cache keep their folios. An untied embedding (one row per
 * token) is left out. */
static void advise_streamed(fg_model *m)
{
    size_t n = 0;
    span *v = fg_malloc(FG_MEM_SCRATCH, ((size_t)m->hp.n_layer * 7 + 1) * sizeof *v);
    if (!v) return; /* a hint only */
    add_span(m, &m->output, v, &n);
    for (int64_t L = 0; L < m->hp.n_layer; L++) {
        const fg_layer *l = &m->layers[L];
        const fg_mat *const lw[7] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (int i = 0; i < 7; i++) add_span(m, lw[i], v, &n);
    }
    qsort(v, n, sizeof *v, span_cmp);
    for (size_t i = 0; i < n;) {
        span cur = v[i++];
        while (i < n && v[i].a <= cur.e + FG_HUGE_PAGE) {
            if (v[i].e > cur.e) cur.e = v[i].e;
            i++;
        }
        fg_mem_advise_huge((const void *)cur.a, cur.e - cur.a);
    }
    fg_free(v);
}

/* Locks the weights in RAM: the mappings (faulting every page in) and owned copies. */
static fg_status lock_weights(fg_model *m)
{
    struct { const void *p; size_t n; } r[66];
    int n = 0;
    if (m->gguf) r[n++] = (typeof(r[0])){m->gguf->file.data, m->gguf->file.size};
    for (int i = 0; m->st && i < m->st->n_files && n < 64; i++) r[n++] = (typeof(r[0])){m->st->files[i].data, m->st->files[i].size};
    for (int i = 0; i < n; i++)
        if (r[i].n && mlock(r[i].p, r[i].n) != 0)
            return fg_error(FG_ERR_NOMEM, "cannot lock %zu bytes of weights in RAM (%s); raise the memlock limit (ulimit -l) or drop --mlock",
                            r[i].n, strerror(errno));
    for (size_t i = 0; i < m->n_owned; i++) {
        if (mlock(m->owned[i], fg_alloc_size(m->owned[i])) != 0)
            return fg_error(FG_ERR_NOMEM, "cannot lock converted weights in RAM (%s); raise ulimit -l or drop --mlock", strerror(errno));
    }
    return FG_OK;
}

static void unregister_mappings(fg_model *m)
{
    if (!m->registered) return;
    if (m->gguf) fg_mem_map_unregister(m->gguf->file.data);
    for (int i = 0; m->st && i < m->st->n_files; i++) fg_mem_map_unregister(m->st->files[i].data);
}

fg_status fg_model_load(const char *path, const fg_model_params *params, fg_model **out)
{
    *out = NULL;
    if (!path || !*path) return fg_error(FG_ERR_ARG, "no model path given");
    struct stat st;
    if (stat(path, &st) != 0) return fg_error(FG_ERR_IO, "%s: no such file or directory", path);
    fg_model *m = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *m);
    if (!m) return fg_error(FG_ERR_NOMEM, "out of memory");
    fg_model_params p = params ? *params : fg_model_default_params();
    m->n_threads = p.n_threads > 0 ? p.n_threads : fg_physical_cores();
    if (p.quant < 0 || p.quant >= FG_QMIX_COUNT) {
        fg_model_free(m);
        return fg_error(FG_ERR_ARG, "unknown quantization %d", p.quant);
    }
    m->quant = p.quant;
    fg_status s;
    if (S_ISDIR(st.st_mode)) {
        m->dir = fg_strdup(FG_MEM_RUNTIME, path);
        char cfg_path[4096];
        snprintf(cfg_path, sizeof cfg_path, "%s/config.json", path);
        fg_hf_config cfg;
        if (!m->dir) s = fg_error(FG_ERR_NOMEM, "out of memory");
        else if ((s = fg_hf_config_load(cfg_path, &cfg)) == FG_OK && (s = fg_st_open(path, &m->st)) == FG_OK)
            s = fg_model_bind_hf(m, &cfg);
    } else {
        if ((s = fg_gguf_open(path, &m->gguf)) == FG_OK) s = fg_model_bind_gguf(m);
    }
    fg_pool_free(m->conv_pool);
    m->conv_pool = NULL;
    if (!s) s = register_mappings(m);
    if (!s) advise_streamed(m);
    if (!s && p.mlock) s = lock_weights(m);
    if (s) {
        fg_model_free(m);
        return s;
    }
    *out = m;
    return FG_OK;
}

void fg_model_free(fg_model *m)
{
    if (!m) return;
    unregister_mappings(m);
    fg_pool_free(m->conv_pool);
    for (size_t i = 0; i < m->n_owned; i++) fg_free(m->owned[i]);
    fg_free(m->owned);
    fg_free(m->layers);
    fg_free(m->rope_inv_freq);
    if (m->gguf) fg_gguf_close(m->gguf);
    if (m->st) fg_st_close(m->st);
    fg_free(m->dir);
    fg_free(m);
}

static uint64_t mat_bytes(const fg_mat *w) { return (uint64_t)w->row_stride * (uint64_t)w->rows; }

/* The matrices one token's forward pass reads, in the order it reads them: each layer's
 * q, k, v, o, gate, up, down, then the output head. */
#define MATS_PER_LAYER 7
static int64_t n_token_mats(const fg_model *m) { return m->hp.n_layer * MATS_PER_LAYER + 1; }
static const fg_mat *token_mat(const fg_model *m, int64_t i)
{
    if (i == m->hp.n_layer * MATS_PER_LAYER) return &m->output;
    const fg_layer *l = &m->layers[i / MATS_PER_LAYER];
    const fg_mat *mats[MATS_PER_LAYER] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
    return mats[i % MATS_PER_LAYER];
}

uint64_t fg_model_weight_bytes_per_token(const fg_model *m)
{
    uint64_t b = 0;
    for (int64_t i = 0; i < n_token_mats(m); i++) b += mat_bytes(token_mat(m, i));
    return b;
}

int64_t fg_model_weight_spans(const fg_model *m, fg_span *out, int64_t cap)
{
    for (int64_t i = 0; i < n_token_mats(m) && i < cap; i++)
        out[i] = (fg_span){.p = token_mat(m, i)->data, .bytes = (size_t)mat_bytes(token_mat(m, i))};
    return n_token_mats(m);
}

uint64_t fg_model_weight_bytes(const fg_model *m)
{
    uint64_t b = fg_model_weight_bytes_per_token(m);
    if (!m->hp.tied_output) b += mat_bytes(&m->tok_embd);
    return b;
}
