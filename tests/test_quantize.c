/* `frugal quantize` (format/quantize.h) and `frugal synth --dtype q*`.
 *
 * The oracle is a float64 reference forward pass written here, independent of the
 * engine: plain loops with Hugging Face semantics (RMSNorm, RoPE half-split, or on the
 * interleaved pairs of a llama GGUF whose q/k rows are permuted, GQA, q/k/v bias for
 * qwen2, q/k norm for qwen3, SwiGLU, tied/untied output, llama3 rope factors), reading a
 * GGUF with the format reader and fg_dequant_row. It is first checked against the
 * float64 goldens of ../shared/golden (tests/data/golden: F32 files, and llama.cpp's
 * quantized q256 files, whose reference is also exact math on the dequantized weights),
 * then used to check what frugal computes with the files `frugal quantize` writes from
 * the synthetic HF checkpoints: every top-3 logit within T = max(B, 1.25 x llama.cpp's
 * deviation on that prompt) and the top-1 token where the reference's top-1 leads by
 * more than 2T (golden/README.md "Suggested acceptance"; B = 0.05 quantized, 0.02
 * F16/BF16).
 *
 * Also: Q8_0 bytes against an independent implementation of the rule (blocks of 32,
 * d = max|x| / 127, q = round(x / d), d stored as IEEE half); each tensor's type against
 * llama.cpp's own quantized files of the same model; metadata against the synthetic GGUF
 * writer's; sharded checkpoints; GGUF input (copy and re-quantize); thread-count
 * independence; no output left behind on errors, allocation failures included. */
#include "golden.h"
#include "format/quantize.h"
#include "format/synth.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the float64 reference ------------------------------------------------------------ */

/* A matrix dequantized to float32, and the type it is stored in. */
typedef struct ref_mat {
    float *w;
    fg_dtype dt;
} ref_mat;

typedef struct ref_layer {
    float *attn_norm, *bq, *bk, *bv, *q_norm, *k_norm, *ffn_norm;
    ref_mat wq, wk, wv, wo, wg, wu, wd;
} ref_layer;

typedef struct ref_model {
    char arch[16];
    bool interleaved;                  /* llama GGUF: q/k rows permuted, rotate pairs (2i, 2i+1) */
    int64_t E, F, L, H, KV, D, V;      /* hidden, ffn, layers, heads, kv heads, head dim, vocab */
    double theta, eps;
    float *rope_div;                   /* rope_freqs.weight (D/2 divisors) or NULL */
    ref_mat embd, out;                 /* out.w == embd.w when tied */
    float *out_norm;
    ref_layer *layer;
} ref_model;

static uint64_t get_u64(const fg_gguf *g, const char *arch, const char *key)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    uint64_t v = 0;
    if (!fg_gguf_get_u64(g, k, &v)) fail_msg("%s: no %s", g->file.path, k);
    return v;
}

/* The whole tensor dequantized to float32 (exact: every format decodes to float32). */
static float *ref_tensor_dt(const fg_gguf *g, const char *name, int64_t rows, int64_t cols, bool optional, fg_dtype *dt)
{
    const fg_gguf_tensor *t = fg_gguf_find_tensor(g, name);
    if (!t) {
        if (optional) return NULL;
        fail_msg("%s: no tensor %s", g->file.path, name);
    }
    int64_t trows = 1;
    for (uint32_t d = 1; d < t->n_dims; d++) trows *= (int64_t)t->ne[d];
    if ((int64_t)t->ne[0] != cols || trows != rows)
        fail_msg("%s: %s is %lld x %lld, expected %lld x %lld", g->file.path, name, (long long)trows,
                 (long long)t->ne[0], (long long)rows, (long long)cols);
    assert_int_not_equal(t->dtype, FG_DT_INVALID);
    size_t rb = fg_row_bytes(t->dtype, cols);
    assert_true(rb > 0);
    float *out = malloc((size_t)(rows * cols) * sizeof(float));
    assert_non_null(out);
    for (int64_t r = 0; r < rows; r++) fg_dequant_row(t->dtype, (const uint8_t *)t->data + (size_t)r * rb, out + r * cols, cols);
    if (dt) *dt = t->dtype;
    return out;
}

static float *ref_tensor(const fg_gguf *g, const char *name, int64_t rows, int64_t cols, bool optional)
{
    return ref_tensor_dt(g, name, rows, cols, optional, NULL);
}

static ref_mat ref_matrix(const fg_gguf *g, const char *name, int64_t rows, int64_t cols, bool optional)
{
    ref_mat m;
    m.w = ref_tensor_dt(g, name, rows, cols, optional, &m.dt);
    return m;
}

static void ref_load(const char *path, fg_gguf **gp, ref_model *m)
{
    memset(m, 0, sizeof *m);
    if (fg_gguf_open(path, gp)) fail_msg("cannot open %s: %s", path, fg_last_error());
    const fg_gguf *g = *gp;
    fg_str a;
    assert_true(fg_gguf_get_str(g, "general.architecture", &a) && a.len < sizeof m->arch);
    memcpy(m->arch, a.ptr, a.len);
    m->arch[a.len] = 0;
    m->interleaved = !strcmp(m->arch, "llama");
    m->E = (int64_t)get_u64(g, m->arch, "embedding_length");
    m->F = (int64_t)get_u64(g, m->arch, "feed_forward_length");
    m->L = (int64_t)get_u64(g, m->arch, "block_count");
    m->H = (int64_t)get_u64(g, m->arch, "attention.head_count");
    m->KV = (int64_t)get_u64(g, m->arch, "attention.head_count_kv");
    m->D = (int64_t)get_u64(g, m->arch, "attention.key_length");
    char k[128];
    snprintf(k, sizeof k, "%s.rope.freq_base", m->arch);
    assert_true(fg_gguf_get_f64(g, k, &m->theta));
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", m->arch);
    assert_true(fg_gguf_get_f64(g, k, &m->eps));
    const fg_gguf_tensor *te = fg_gguf_find_tensor(g, "token_embd.weight");
    assert_non_null(te);
    m->V = (int64_t)te->ne[1];
    m->embd = ref_matrix(g, "token_embd.weight", m->V, m->E, false);
    m->out = ref_matrix(g, "output.weight", m->V, m->E, true);
    if (!m->out.w) m->out = m->embd;
    m->out_norm = ref_tensor(g, "output_norm.weight", 1, m->E, false);
    m->rope_div = ref_tensor(g, "rope_freqs.weight", 1, m->D / 2, true);
    bool qwen2 = !strcmp(m->arch, "qwen2"), qwen3 = !strcmp(m->arch, "qwen3");
    m->layer = calloc((size_t)m->L, sizeof *m->layer);
    const int64_t Q = m->H * m->D, K = m->KV * m->D;
    for (int64_t l = 0; l < m->L; l++) {
        ref_layer *y = &m->layer[l];
        char n[96];
#define T(field, nm, rows, cols, opt) (snprintf(n, sizeof n, "blk.%lld." nm, (long long)l), y->field = ref_tensor(g, n, rows, cols, opt))
#define M(field, nm, rows, cols) (snprintf(n, sizeof n, "blk.%lld." nm, (long long)l), y->field = ref_matrix(g, n, rows, cols, false))
        T(attn_norm, "attn_norm.weight", 1, m->E, false);
        M(wq, "attn_q.weight", Q, m->E);
        M(wk, "attn_k.weight", K, m->E);
        M(wv, "attn_v.weight", K, m->E);
        T(bq, "attn_q.bias", 1, Q, !qwen2);
        T(bk, "attn_k.bias", 1, K, !qwen2);
        T(bv, "attn_v.bias", 1, K, !qwen2);
        T(q_norm, "attn_q_norm.weight", 1, m->D, !qwen3);
        T(k_norm, "attn_k_norm.weight", 1, m->D, !qwen3);
        M(wo, "attn_output.weight", m->E, Q);
        T(ffn_norm, "ffn_norm.weight", 1, m->E, false);
        M(wg, "ffn_gate.weight", m->F, m->E);
        M(wu, "ffn_up.weight", m->F, m->E);
        M(wd, "ffn_down.weight", m->E, m->F);
#undef T
#undef M
    }
}

static void ref_free(fg_gguf *g, ref_model *m)
{
    for (int64_t l = 0; l < m->L; l++) {
        ref_layer *y = &m->layer[l];
        float *p[] = {y->attn_norm, y->wq.w, y->wk.w, y->wv.w, y->bq, y->bk, y->bv, y->q_norm, y->k_norm, y->wo.w,
                      y->ffn_norm, y->wg.w, y->wu.w, y->wd.w};
        for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
    }
    free(m->layer);
    if (m->out.w != m->embd.w) free(m->out.w);
    free(m->embd.w);
    free(m->out_norm);
    free(m->rope_div);
    fg_gguf_close(g);
}

/* llama.cpp's arithmetic, simulated: it rounds each matrix product's input vector to
 * the "vec_dot" type of the weights (ggml-cpu's type traits) and computes exactly from
 * there: Q8_0 blocks of 32 for Q8_0/Q4_0 weights (d = max|x| / 127 stored as f16,
 * q = round(x / d)), Q8_K blocks of 256 for the K types (d = -max / 127 in float32 with
 * max the element of largest magnitude, q = nearest(x * -127 / max) capped at 127),
 * f16 / bf16 for F16 / BF16 weights. The goldens' llama.cpp deviations widen the
 * tolerance where they exist (q256); for the tiny models this stands in for them, and is
 * itself checked against the q256 deviations (simulation_matches_llamacpp). */
static bool simulate_llamacpp;

static double round_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fff + ((u >> 16) & 1);
    u &= 0xffff0000u;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void llamacpp_input(fg_dtype wdt, const double *x, int64_t n, double *out)
{
    if (wdt == FG_DT_Q8_0 || wdt == FG_DT_Q4_0) {
        for (int64_t b = 0; b < n; b += 32) {
            float amax = 0, v[32];
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(v[i] = (float)x[b + i]));
            float d = amax / 127, id = d ? 1 / d : 0;
            double dh = (double)(float)(_Float16)d;
            for (int i = 0; i < 32; i++) out[b + i] = dh * roundf(v[i] * id);
        }
    } else if (wdt == FG_DT_Q4_K || wdt == FG_DT_Q5_K || wdt == FG_DT_Q6_K) {
        for (int64_t b = 0; b < n; b += 256) {
            float amax = 0, mx = 0, v[256];
            for (int i = 0; i < 256; i++) {
                v[i] = (float)x[b + i];
                if (fabsf(v[i]) > amax) amax = fabsf(v[i]), mx = v[i];
            }
            float is = amax ? -127.f / mx : 0, d = amax ? 1 / is : 0;
            for (int i = 0; i < 256; i++) {
                int q = (int)lrintf(is * v[i]);
                out[b + i] = (double)d * (q > 127 ? 127 : q);
            }
        }
    } else if (wdt == FG_DT_F16) {
        for (int64_t i = 0; i < n; i++) out[i] = (double)(float)(_Float16)(float)x[i];
    } else if (wdt == FG_DT_BF16) {
        for (int64_t i = 0; i < n; i++) out[i] = round_bf16((float)x[i]);
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = (float)x[i];
    }
}

/* y[r] = sum_c W[r, c] x[c] (+ b[r]) */
static void matvec(const ref_mat *W, const float *b, const double *x, int64_t rows, int64_t cols, double *y)
{
    double *xs = NULL;
    if (simulate_llamacpp) {
        xs = malloc((size_t)cols * sizeof *xs);
        llamacpp_input(W->dt, x, cols, xs);
        x = xs;
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *w = W->w + r * cols;
        double s = 0;
        for (int64_t c = 0; c < cols; c++) s += (double)w[c] * x[c];
        y[r] = s + (b ? (double)b[r] : 0.0);
    }
    free(xs);
}

static void rmsnorm(const double *x, const float *w, int64_t n, double eps, double *y)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    double k = 1.0 / sqrt(ss / (double)n + eps);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * k * (double)w[i];
}

/* Rotates one head vector at position pos: frequency i turns the pair (i, i + D/2)
 * (HF's rotate_half), or (2i, 2i + 1) for the interleaved layout. */
static void rope(const ref_model *m, double *v, int64_t pos)
{
    const int64_t half = m->D / 2;
    for (int64_t i = 0; i < half; i++) {
        double inv = pow(m->theta, -(double)(2 * i) / (double)m->D);
        if (m->rope_div) inv /= (double)m->rope_div[i];
        double ang = (double)pos * inv, c = cos(ang), s = sin(ang);
        int64_t a = m->interleaved ? 2 * i : i, b = m->interleaved ? 2 * i + 1 : i + half;
        double x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x1 * c + x0 * s;
    }
}

/* Final hidden states (after output_norm) of n tokens: out is n x E. */
static void ref_forward(const ref_model *m, const int32_t *ids, int64_t n, double *out)
{
    const int64_t E = m->E, D = m->D, Q = m->H * D, K = m->KV * D, grp = m->H / m->KV;
    double *x = calloc((size_t)(n * E), sizeof *x), *h = malloc((size_t)E * sizeof *h);
    double *q = malloc((size_t)(n * Q) * sizeof *q), *k = malloc((size_t)(n * K) * sizeof *k);
    double *v = malloc((size_t)(n * K) * sizeof *v), *att = malloc((size_t)Q * sizeof *att);
    double *o = malloc((size_t)E * sizeof *o), *g = malloc((size_t)m->F * sizeof *g), *u = malloc((size_t)m->F * sizeof *u);
    double *sc = malloc((size_t)n * sizeof *sc), *tmp = malloc((size_t)D * sizeof *tmp);
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < E; i++) x[t * E + i] = m->embd.w[(int64_t)ids[t] * E + i];
    for (int64_t l = 0; l < m->L; l++) {
        const ref_layer *y = &m->layer[l];
        for (int64_t t = 0; t < n; t++) {
            rmsnorm(x + t * E, y->attn_norm, E, m->eps, h);
            matvec(&y->wq, y->bq, h, Q, E, q + t * Q);
            matvec(&y->wk, y->bk, h, K, E, k + t * K);
            matvec(&y->wv, y->bv, h, K, E, v + t * K);
            for (int64_t hh = 0; hh < m->H; hh++) {
                double *qh = q + t * Q + hh * D;
                if (y->q_norm) {
                    rmsnorm(qh, y->q_norm, D, m->eps, tmp);
                    memcpy(qh, tmp, (size_t)D * sizeof *tmp);
                }
                rope(m, qh, t);
            }
            for (int64_t hh = 0; hh < m->KV; hh++) {
                double *kh = k + t * K + hh * D;
                if (y->k_norm) {
                    rmsnorm(kh, y->k_norm, D, m->eps, tmp);
                    memcpy(kh, tmp, (size_t)D * sizeof *tmp);
                }
                rope(m, kh, t);
            }
        }
        for (int64_t t = 0; t < n; t++) {
            /* causal attention, query head hh reads kv head hh / grp */
            for (int64_t hh = 0; hh < m->H; hh++) {
                const double *qh = q + t * Q + hh * D;
                int64_t kvh = hh / grp;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j <= t; j++) {
                    double s = 0;
                    for (int64_t d = 0; d < D; d++) s += qh[d] * k[j * K + kvh * D + d];
                    sc[j] = s / sqrt((double)D);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int64_t j = 0; j <= t; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int64_t d = 0; d < D; d++) {
                    double a = 0;
                    for (int64_t j = 0; j <= t; j++) a += sc[j] * v[j * K + kvh * D + d];
                    att[hh * D + d] = a / sum;
                }
            }
            matvec(&y->wo, NULL, att, E, Q, o);
            for (int64_t i = 0; i < E; i++) x[t * E + i] += o[i];
            /* SwiGLU */
            rmsnorm(x + t * E, y->ffn_norm, E, m->eps, h);
            matvec(&y->wg, NULL, h, m->F, E, g);
            matvec(&y->wu, NULL, h, m->F, E, u);
            for (int64_t i = 0; i < m->F; i++) g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
            matvec(&y->wd, NULL, g, E, m->F, o);
            for (int64_t i = 0; i < E; i++) x[t * E + i] += o[i];
        }
    }
    for (int64_t t = 0; t < n; t++) rmsnorm(x + t * E, m->out_norm, E, m->eps, out + t * E);
    free(x), free(h), free(q), free(k), free(v), free(att), free(o), free(g), free(u), free(sc), free(tmp);
}

static void ref_logits(const ref_model *m, const double *hidden, double *row) { matvec(&m->out, NULL, hidden, m->V, m->E, row); }

static double lse(const double *row, int64_t n)
{
    double mx = row[0], s = 0;
    for (int64_t i = 1; i < n; i++) mx = fmax(mx, row[i]);
    for (int64_t i = 0; i < n; i++) s += exp(row[i] - mx);
    return mx + log(s);
}

/* The indices of the k largest values, largest first. */
static void top_k(const double *row, int64_t n, int k, int64_t *idx)
{
    for (int j = 0; j < k; j++) idx[j] = -1;
    for (int64_t i = 0; i < n; i++) {
        int j = k;
        while (j > 0 && (idx[j - 1] < 0 || row[i] > row[idx[j - 1]])) j--;
        if (j >= k) continue;
        memmove(idx + j + 1, idx + j, (size_t)(k - j - 1) * sizeof *idx);
        idx[j] = i;
    }
}

/* ---- goldens ----------------------------------------------------------------------------- */

static cJSON *load_json(const char *rel)
{
    char *text = test_read_file(test_data_path(rel), NULL);
    if (!text) fail_msg("cannot read %s", rel);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

static int32_t *prompt_ids(const cJSON *p, int64_t *n)
{
    const cJSON *ids = cJSON_GetObjectItem(p, "ids");
    *n = cJSON_GetArraySize(ids);
    int32_t *out = calloc((size_t)*n + 32, sizeof *out);
    for (int64_t i = 0; i < *n; i++) out[i] = cJSON_GetArrayItem(ids, (int)i)->valueint;
    return out;
}

/* The reference reproduces a float64 golden: top-8 logits and logsumexp within tol at
 * every position, and the 16 greedy tokens. */
static void check_reference(const char *model_rel, const char *golden_rel, double tol)
{
    fg_gguf *g;
    ref_model m;
    ref_load(test_model_path(model_rel), &g, &m);
    cJSON *root = load_json(golden_rel);
    const cJSON *p;
    double worst = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(root, "prompts")) {
        int64_t n;
        int32_t *ids = prompt_ids(p, &n);
        const cJSON *ref = cJSON_GetObjectItem(p, "reference");
        double *hid = malloc((size_t)((n + 16) * m.E) * sizeof *hid), *row = malloc((size_t)m.V * sizeof *row);
        ref_forward(&m, ids, n, hid);
        for (int64_t t = 0; t < n; t++) {
            ref_logits(&m, hid + t * m.E, row);
            const cJSON *e = cJSON_GetArrayItem(ref, (int)t), *pair;
            cJSON_ArrayForEach(pair, cJSON_GetObjectItem(e, "top")) {
                int id = cJSON_GetArrayItem(pair, 0)->valueint;
                double d = fabs(row[id] - cJSON_GetArrayItem(pair, 1)->valuedouble);
                worst = fmax(worst, d);
                if (d > tol) fail_msg("%s pos %lld: logit %d is %.7f, golden %.7f", model_rel, (long long)t, id, row[id],
                                      cJSON_GetArrayItem(pair, 1)->valuedouble);
            }
            double dl = fabs(lse(row, m.V) - cJSON_GetObjectItem(e, "logsumexp")->valuedouble);
            if (dl > tol) fail_msg("%s pos %lld: logsumexp off by %.2e", model_rel, (long long)t, dl);
        }
        /* greedy continuation, recomputing the whole prefix each step */
        const cJSON *greedy = cJSON_GetObjectItem(p, "reference_greedy");
        int64_t len = n;
        for (int s = 0; s < cJSON_GetArraySize(greedy); s++) {
            ref_forward(&m, ids, len, hid);
            ref_logits(&m, hid + (len - 1) * m.E, row);
            int64_t best;
            top_k(row, m.V, 1, &best);
            if (best != cJSON_GetArrayItem(greedy, s)->valueint)
                fail_msg("%s greedy %d: %lld, golden %d", model_rel, s, (long long)best, cJSON_GetArrayItem(greedy, s)->valueint);
            ids[len++] = (int32_t)best;
        }
        free(hid);
        free(row);
        free(ids);
    }
    print_message("reference on %s: max |dev| from the golden %.2e\n", model_rel, worst);
    cJSON_Delete(root);
    ref_free(g, &m);
}

static void reference_f32(void **st)
{
    (void)st;
    check_reference("qwen2-tiny-f32.gguf", "golden/gold-qwen2-tiny-f32.json", 1e-5);
    check_reference("llama-tiny-f32.gguf", "golden/gold-llama-tiny-f32.json", 1e-5);
    check_reference("qwen3-tiny-f32.gguf", "golden/gold-qwen3-tiny-f32.json", 1e-5);
    check_reference("qwen2-q256-f32.gguf", "golden/gold-qwen2-q256-f32.json", 1e-5);
}

/* llama.cpp's quantized files: the golden reference is exact math on their dequantized
 * weights, so this also checks fg_dequant_row on every block format. */
static void reference_quantized(void **st)
{
    (void)st;
    static const char *const types[] = {"q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char m[64], gl[96];
        snprintf(m, sizeof m, "qwen2-q256-%s.gguf", types[i]);
        snprintf(gl, sizeof gl, "golden/gold-qwen2-q256-%s.json", types[i]);
        check_reference(m, gl, 1e-4);   /* logits ~60 here: 6 decimals in the JSON */
    }
}

/* ---- quantizing the synthetic checkpoints ------------------------------------------------------- */

static char *tmp_dir;

static const char *tmp_path(const char *name)
{
    static char slots[8][1024];
    static int next;
    char *b = slots[next++ & 7];
    snprintf(b, sizeof slots[0], "%s/%s", tmp_dir, name);
    return b;
}

static bool exists(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0;
}

static void quantize(const char *in, const char *out, const char *type, int threads, fg_quantize_stats *stats)
{
    fg_quantize_params p = fg_quantize_default_params();
    assert_true(fg_quant_mix_from_name(type, &p.mix));
    p.n_threads = threads;
    if (fg_quantize_model(in, out, &p, stats)) fail_msg("quantize %s to %s: %s", in, type, fg_last_error());
    char part[1100];
    snprintf(part, sizeof part, "%s.part", out);
    assert_false(exists(part));
}

/* The largest |llama.cpp - reference| over the reference's top-3 logits, per position,
 * with llama.cpp simulated (simulate_llamacpp). */
static double simulated_dev(const ref_model *m, const int32_t *ids, int64_t n, const double *hid)
{
    double *hs = malloc((size_t)(n * m->E) * sizeof *hs), *row = malloc((size_t)m->V * sizeof *row);
    double *rs = malloc((size_t)m->V * sizeof *rs), dev = 0;
    simulate_llamacpp = true;
    ref_forward(m, ids, n, hs);
    for (int64_t t = 0; t < n; t++) {
        simulate_llamacpp = false;
        ref_logits(m, hid + t * m->E, row);
        simulate_llamacpp = true;
        ref_logits(m, hs + t * m->E, rs);
        int64_t top[3];
        top_k(row, m->V, 3, top);
        for (int j = 0; j < 3; j++) dev = fmax(dev, fabs(rs[top[j]] - row[top[j]]));
    }
    simulate_llamacpp = false;
    free(hs), free(row), free(rs);
    return dev;
}

/* frugal's logits on `path` against the reference of the same file, twice:
 *  - on the scalar path (float32 activations): the engine reads the file exactly as the
 *    reference does, so every top-8 logit is within 2e-3 (the F32 acceptance) and the
 *    top-1 token is the reference's wherever it leads by more than 4e-3;
 *  - on the machine's best path (which quantizes activations for quantized weights, as
 *    llama.cpp does): the golden acceptance, top-3 within T = max(B, 1.25 dev) and the
 *    top-1 where the reference's leads by more than 2T. dev is llama.cpp's deviation on
 *    that prompt from dev_rel (a golden of the same model and type); without one (the
 *    tiny models) it is llama.cpp's simulated deviation, the largest over the prompts
 *    checked: on a 4-token prompt the largest deviation is a handful of rounding
 *    events, too few for another valid rounding (frugal's: per block of 32 with a
 *    float32 scale, finer than llama.cpp's) to stay within 1.25x of it by rule. */
static void check_against_reference(const char *path, const char *prompts_rel, const char *dev_rel, double B,
                                    int max_prompts)
{
    fg_gguf *g;
    ref_model m;
    ref_load(path, &g, &m);
    fg_model *fm;
    fg_model_params mp = fg_model_default_params();
    if (fg_model_load(path, &mp, &fm)) fail_msg("frugal cannot load %s: %s", path, fg_last_error());
    assert_int_equal(fg_model_hparams(fm)->n_vocab, m.V);
    fg_session *s;
    fg_session_params sp = fg_session_default_params();
    sp.n_ctx = 256;
    sp.n_batch = 128;
    sp.kv_type = FG_DT_F32;
    if (fg_session_create(fm, &sp, &s)) fail_msg("session: %s", fg_last_error());
    cJSON *root = load_json(prompts_rel), *devs = dev_rel ? load_json(dev_rel) : NULL;
    const cJSON *prompts = cJSON_GetObjectItem(root, "prompts");
    int np = cJSON_GetArraySize(prompts) < max_prompts ? cJSON_GetArraySize(prompts) : max_prompts;
    const fg_isa best = fg_isa_active();
    double sim_dev = 0;
    double **hid = calloc((size_t)np, sizeof *hid);
    for (int pi = 0; pi < np; pi++) {
        int64_t n;
        int32_t *ids = prompt_ids(cJSON_GetArrayItem(prompts, pi), &n);
        hid[pi] = malloc((size_t)(n * m.E) * sizeof **hid);
        ref_forward(&m, ids, n, hid[pi]);
        if (!devs && best != FG_ISA_SCALAR) sim_dev = fmax(sim_dev, simulated_dev(&m, ids, n, hid[pi]));
        free(ids);
    }
    double *row = malloc((size_t)m.V * sizeof *row);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && best == FG_ISA_SCALAR) break;
        assert_int_equal(fg_isa_force(pass == 0 ? FG_ISA_SCALAR : best), FG_OK);
        for (int pi = 0; pi < np; pi++) {
            int64_t n;
            int32_t *ids = prompt_ids(cJSON_GetArrayItem(prompts, pi), &n);
            double dev = devs ? cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(devs, "prompts"), pi),
                                                    "llamacpp_max_abs_dev_top3")->valuedouble
                              : sim_dev;
            double T = pass == 0 ? 2e-3 : fmax(B, 1.25 * dev), worst = 0;
            int n_top = pass == 0 ? 8 : 3;
            float *lg = malloc((size_t)(n * m.V) * sizeof *lg);
            fg_session_truncate(s, 0);
            if (fg_session_eval(s, ids, n, FG_LOGITS_ALL, lg)) fail_msg("eval: %s", fg_last_error());
            for (int64_t t = 0; t < n; t++) {
                ref_logits(&m, hid[pi] + t * m.E, row);
                int64_t top[8];
                top_k(row, m.V, n_top, top);
                const float *ours = lg + t * m.V;
                for (int j = 0; j < n_top; j++) {
                    double d = fabs((double)ours[top[j]] - row[top[j]]);
                    worst = fmax(worst, d);
                    if (d > T)
                        fail_msg("%s (%s path) prompt %d pos %lld: logit of %lld is %.5f, reference %.5f (|d| %.3g > T %.3g)",
                                 path, fg_isa_name(fg_isa_active()), pi, (long long)t, (long long)top[j], ours[top[j]],
                                 row[top[j]], d, T);
                }
                int64_t b1 = 0;
                for (int64_t i = 1; i < m.V; i++)
                    if (ours[i] > ours[b1]) b1 = i;
                if (row[top[0]] - row[top[1]] > 2 * T && b1 != top[0])
                    fail_msg("%s (%s path) prompt %d pos %lld: top-1 %lld, reference %lld", path,
                             fg_isa_name(fg_isa_active()), pi, (long long)t, (long long)b1, (long long)top[0]);
            }
            print_message("%s %s path, prompt %d: %lld positions, max |dev| top-%d %.3g (T %.3g%s)\n", path,
                          fg_isa_name(fg_isa_active()), pi, (long long)n, n_top, worst, T,
                          pass == 1 && !devs ? ", llama.cpp simulated" : "");
            free(lg);
            free(ids);
        }
    }
    assert_int_equal(fg_isa_force(best), FG_OK);
    for (int pi = 0; pi < np; pi++) free(hid[pi]);
    free(hid);
    free(row);
    cJSON_Delete(root);
    cJSON_Delete(devs);
    fg_session_free(s);
    fg_model_free(fm);
    ref_free(g, &m);
}

/* The simulation of llama.cpp's arithmetic reproduces the deviations llama.cpp itself
 * showed on its q256 files (recorded in the goldens), so it can stand in for llama.cpp
 * where no golden records them. */
static void simulation_matches_llamacpp(void **st)
{
    (void)st;
    static const char *const types[] = {"q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "f16", "bf16"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char mp[64], gl[96];
        snprintf(mp, sizeof mp, "qwen2-q256-%s.gguf", types[i]);
        snprintf(gl, sizeof gl, "golden/gold-qwen2-q256-%s.json", types[i]);
        fg_gguf *g;
        ref_model m;
        ref_load(test_model_path(mp), &g, &m);
        cJSON *root = load_json(gl);
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(root, "prompts")) {
            int64_t n;
            int32_t *ids = prompt_ids(p, &n);
            double *hid = malloc((size_t)(n * m.E) * sizeof *hid);
            ref_forward(&m, ids, n, hid);
            double sim = simulated_dev(&m, ids, n, hid);
            double real = cJSON_GetObjectItem(p, "llamacpp_max_abs_dev_top3")->valuedouble;
            print_message("%s: simulated llama.cpp deviation %.4f, llama.cpp's %.4f\n", mp, sim, real);
            if (fabs(sim - real) > 0.15 * real + 0.002)
                fail_msg("%s: the simulation deviates %.4f from the reference, llama.cpp %.4f", mp, sim, real);
            free(hid);
            free(ids);
        }
        cJSON_Delete(root);
        ref_free(g, &m);
    }
}

/* llama.cpp's general.file_type numbers (llama_ftype), written down here independently. */
static uint32_t expected_file_type(const char *type)
{
    static const struct { const char *t; uint32_t ft; } k[] = {
        {"f16", 1}, {"q4_0", 2}, {"q8_0", 7}, {"q4_k_m", 15}, {"q5_k_m", 17}, {"q6_k", 18}, {"bf16", 32}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(k[i].t, type)) return k[i].ft;
    fail_msg("no file type for %s", type);
    return 0;
}

/* Every key/value of the synthetic GGUF writer's F32 file is in `path` with the same
 * value (general.file_type aside), and no other keys. */
static void check_metadata(const char *path, const char *f32_rel, const char *type)
{
    fg_gguf *a, *b;
    if (fg_gguf_open(path, &a) || fg_gguf_open(test_model_path(f32_rel), &b)) fail_msg("open: %s", fg_last_error());
    assert_int_equal(a->n_kv, b->n_kv);
    for (uint64_t i = 0; i < b->n_kv; i++) {
        const fg_gguf_kv *kb = &b->kv[i];
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kb->key.len, kb->key.ptr);
        const fg_gguf_kv *ka = fg_gguf_find(a, key);
        if (!ka) fail_msg("%s: key %s missing", path, key);
        if (!strcmp(key, "general.file_type")) {
            uint64_t ft;
            assert_true(fg_gguf_get_u64(a, key, &ft));
            assert_int_equal(ft, expected_file_type(type));
            continue;
        }
        assert_int_equal(ka->type, kb->type);
        char va[512], vb[512];
        fg_gguf_kv_format(ka, va, sizeof va);
        fg_gguf_kv_format(kb, vb, sizeof vb);
        if (strcmp(va, vb)) fail_msg("%s: %s is %s, synth writes %s", path, key, va, vb);
        if (ka->type == FG_GGUF_STRING) {
            fg_str sa, sb;
            assert_true(fg_gguf_get_str(a, key, &sa) && fg_gguf_get_str(b, key, &sb));
            assert_true(sa.len == sb.len && !memcmp(sa.ptr, sb.ptr, sa.len));
        } else if (ka->type == FG_GGUF_ARRAY) {
            assert_int_equal(ka->arr_n, kb->arr_n);
            if (ka->arr_type == FG_GGUF_STRING) {
                fg_gguf_str_iter ia, ib;
                fg_gguf_str_iter_init(a, ka, &ia);
                fg_gguf_str_iter_init(b, kb, &ib);
                fg_str ea, eb;
                while (fg_gguf_str_iter_next(&ib, &eb)) {
                    assert_true(fg_gguf_str_iter_next(&ia, &ea));
                    assert_true(ea.len == eb.len && !memcmp(ea.ptr, eb.ptr, ea.len));
                }
            } else {
                for (uint64_t e = 0; e < kb->arr_n; e++) {
                    int64_t x, y;
                    assert_true(fg_gguf_arr_i64(ka, e, &x) && fg_gguf_arr_i64(kb, e, &y));
                    assert_int_equal(x, y);
                }
            }
        }
    }
    fg_gguf_close(a);
    fg_gguf_close(b);
}

/* The per-tensor types of `path` equal those llama.cpp's quantizer chose for the same
 * model (tests/data/golden/qwen2-q256-<type>.gguf.xz, unpacked by generate_models.sh). */
static void check_types_like_llamacpp(const char *path, const char *type)
{
    char rel[64];
    snprintf(rel, sizeof rel, "qwen2-q256-%s.gguf", type);
    fg_gguf *a, *b;
    if (fg_gguf_open(path, &a) || fg_gguf_open(test_model_path(rel), &b)) fail_msg("open: %s", fg_last_error());
    assert_int_equal(a->n_tensors, b->n_tensors);
    for (uint64_t i = 0; i < b->n_tensors; i++) {
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)b->tensors[i].name.len, b->tensors[i].name.ptr);
        const fg_gguf_tensor *t = fg_gguf_find_tensor(a, name);
        if (!t) fail_msg("%s: no %s", path, name);
        if (t->ggml_type != b->tensors[i].ggml_type)
            fail_msg("%s: %s is %s, llama.cpp's %s file has %s", path, name, fg_ggml_type_name(t->ggml_type), type,
                     fg_ggml_type_name(b->tensors[i].ggml_type));
    }
    fg_gguf_close(a);
    fg_gguf_close(b);
}

/* ---- Q8_0, independently ------------------------------------------------------------------ */

static uint16_t half_bits(float x)
{
    _Float16 h = (_Float16)x;   /* the compiler's IEEE binary16 conversion, round to nearest even */
    uint16_t b;
    memcpy(&b, &h, 2);
    return b;
}

static float st_value(const fg_st_tensor *t, size_t i)
{
    const uint8_t *p = t->data;
    if (t->dtype == FG_DT_F32) {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    assert_int_equal(t->dtype, FG_DT_BF16);
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Every Q8_0 tensor of `gguf_path` is exactly the rule applied to the HF source row that
 * GGUF row holds (llama q/k: GGUF row h*D + 2j + s is HF row h*D + s*D/2 + j). */
static void check_q8_0_bits(const char *gguf_path, const char *hf_dir, int64_t n_heads, int64_t n_kv_heads)
{
    fg_gguf *g;
    fg_safetensors *st;
    if (fg_gguf_open(gguf_path, &g) || fg_st_open(hf_dir, &st)) fail_msg("open: %s", fg_last_error());
    bool llama = false;
    fg_str a;
    if (fg_gguf_get_str(g, "general.architecture", &a)) llama = fg_str_eq(a, "llama");
    int checked = 0;
    /* walk the HF tensors and find each one's GGUF tensor by the standard names */
    for (size_t i = 0; i < st->n_tensors; i++) {
        const fg_st_tensor *s = &st->tensors[i];
        if (s->n_dims != 2) continue;
        char gname[96] = "";
        int layer;
        char rest[64];
        if (!strcmp(s->name, "model.embed_tokens.weight"))
            snprintf(gname, sizeof gname, "token_embd.weight");
        else if (!strcmp(s->name, "lm_head.weight"))
            snprintf(gname, sizeof gname, "output.weight");
        else if (sscanf(s->name, "model.layers.%d.%63s", &layer, rest) == 2) {
            static const char *const map[][2] = {
                {"self_attn.q_proj.weight", "attn_q.weight"}, {"self_attn.k_proj.weight", "attn_k.weight"},
                {"self_attn.v_proj.weight", "attn_v.weight"}, {"self_attn.o_proj.weight", "attn_output.weight"},
                {"mlp.gate_proj.weight", "ffn_gate.weight"},  {"mlp.up_proj.weight", "ffn_up.weight"},
                {"mlp.down_proj.weight", "ffn_down.weight"}};
            for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
                if (!strcmp(rest, map[k][0])) snprintf(gname, sizeof gname, "blk.%d.%s", layer, map[k][1]);
        }
        if (!gname[0]) fail_msg("unexpected HF tensor %s", s->name);
        const fg_gguf_tensor *t = fg_gguf_find_tensor(g, gname);
        if (!t) fail_msg("%s: no %s", gguf_path, gname);
        if (t->dtype != FG_DT_Q8_0) continue;   /* the mixture chose another type */
        int64_t rows = (int64_t)s->shape[0], cols = (int64_t)s->shape[1];
        int64_t heads = 0;
        if (llama && strstr(gname, "attn_q.weight")) heads = n_heads;
        if (llama && strstr(gname, "attn_k.weight")) heads = n_kv_heads;
        int64_t D = heads ? rows / heads : 0;
        const uint8_t *got = t->data;
        size_t rb = (size_t)cols / 32 * 34;
        uint8_t *want = malloc(rb);
        for (int64_t r = 0; r < rows; r++) {
            int64_t src = r;
            if (heads) {
                int64_t h = r / D, k = r % D, j = k / 2, sidx = k % 2;
                src = h * D + sidx * (D / 2) + j;
            }
            for (int64_t b = 0; b < cols / 32; b++) {
                float x[32], amax = 0;
                for (int e = 0; e < 32; e++) {
                    x[e] = st_value(s, (size_t)(src * cols + b * 32 + e));
                    amax = fmaxf(amax, fabsf(x[e]));
                }
                float d = amax / 127.0f;
                uint16_t hb = half_bits(d);
                uint8_t *blk = want + b * 34;
                memcpy(blk, &hb, 2);
                for (int e = 0; e < 32; e++) blk[2 + e] = (uint8_t)(int8_t)(d != 0 ? roundf(x[e] / d) : 0);
            }
            if (memcmp(want, got + (size_t)r * rb, rb))
                fail_msg("%s: %s row %lld differs from the Q8_0 rule", gguf_path, gname, (long long)r);
        }
        free(want);
        checked++;
    }
    assert_true(checked > 0);
    fg_st_close(st);
    fg_gguf_close(g);
}

/* llama3 rope factors written by quantize equal HF's computation from config.json. */
static void check_rope_freqs(const char *path, const char *hf_dir)
{
    fg_hf_config h;
    assert_int_equal(fg_hf_config_load(hf_dir, &h), FG_OK);
    assert_true(h.rope_llama3);
    fg_gguf *g;
    assert_int_equal(fg_gguf_open(path, &g), FG_OK);
    const fg_gguf_tensor *t = fg_gguf_find_tensor(g, "rope_freqs.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], h.head_dim / 2);
    const double pi = 3.14159265358979323846, old = (double)h.rope_original_max_pos;
    for (int64_t i = 0; i < h.head_dim / 2; i++) {
        double inv = pow(h.rope_theta, -(double)(2 * i) / (double)h.head_dim), wl = 2 * pi / inv, scaled;
        if (wl < old / h.rope_high_freq_factor)
            scaled = inv;
        else if (wl > old / h.rope_low_freq_factor)
            scaled = inv / h.rope_factor;
        else {
            double sm = (old / wl - h.rope_low_freq_factor) / (h.rope_high_freq_factor - h.rope_low_freq_factor);
            scaled = (1 - sm) * inv / h.rope_factor + sm * inv;
        }
        float f;
        memcpy(&f, (const uint8_t *)t->data + 4 * i, 4);
        assert_true(fabs(f - inv / scaled) <= 1e-6 * inv / scaled);
    }
    fg_gguf_close(g);
}

static const char *const all_types[] = {"q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "f16", "bf16"};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

static double base_tol(const char *type) { return !strcmp(type, "f16") || !strcmp(type, "bf16") ? 0.02 : 0.05; }

/* One synthetic checkpoint through every type: loads in frugal, logits against the
 * reference of its own weights, metadata, Q8_0 bits. */
static void quantize_tiny(const char *model, int64_t heads, int64_t kv_heads, int max_prompts)
{
    char hf[64], f32[64], gold[96];
    snprintf(hf, sizeof hf, "%s-hf", model);
    snprintf(f32, sizeof f32, "%s-f32.gguf", model);
    snprintf(gold, sizeof gold, "golden/gold-%s-f32.json", model);
    for (size_t i = 0; i < N_TYPES; i++) {
        char out[128];
        snprintf(out, sizeof out, "%s-%s.gguf", model, all_types[i]);
        fg_quantize_stats stats;
        quantize(test_model_path(hf), tmp_path(out), all_types[i], 2, &stats);
        assert_false(stats.from_gguf);
        check_metadata(tmp_path(out), f32, all_types[i]);
        check_against_reference(tmp_path(out), gold, NULL, base_tol(all_types[i]), max_prompts);
        if (!strcmp(all_types[i], "q8_0")) check_q8_0_bits(tmp_path(out), test_model_path(hf), heads, kv_heads);
        if (!strcmp(model, "llama-tiny")) check_rope_freqs(tmp_path(out), test_model_path(hf));
        unlink(tmp_path(out));
    }
}

static void quantize_qwen2_tiny(void **st) { (void)st; quantize_tiny("qwen2-tiny", 4, 2, 2); }
static void quantize_llama_tiny(void **st) { (void)st; quantize_tiny("llama-tiny", 4, 2, 2); }
static void quantize_qwen3_tiny(void **st) { (void)st; quantize_tiny("qwen3-tiny", 4, 2, 2); }

/* qwen2-q256 (rows of 256: the K types are used): every type, each tensor's type as
 * llama.cpp chose it, logits within the tolerance widened as for llama.cpp's own file. */
static void quantize_q256(void **st)
{
    (void)st;
    for (size_t i = 0; i < N_TYPES; i++) {
        const char *ty = all_types[i];
        char out[64], dev[96];
        snprintf(out, sizeof out, "q256-%s.gguf", ty);
        snprintf(dev, sizeof dev, "golden/gold-qwen2-q256-%s.json", ty);
        fg_quantize_stats stats;
        quantize(test_model_path("qwen2-q256-hf"), tmp_path(out), ty, 2, &stats);
        check_metadata(tmp_path(out), "qwen2-q256-f32.gguf", ty);
        if (strcmp(ty, "f16") && strcmp(ty, "bf16")) check_types_like_llamacpp(tmp_path(out), ty);
        check_against_reference(tmp_path(out), "golden/gold-qwen2-q256-f32.json", dev, base_tol(ty), 8);
        if (!strcmp(ty, "q8_0")) check_q8_0_bits(tmp_path(out), test_model_path("qwen2-q256-hf"), 4, 2);
        unlink(tmp_path(out));
    }
    /* a BF16 checkpoint: Q8_0 of the BF16 values, bit for bit */
    quantize(test_model_path("qwen2-q256-hf-bf16"), tmp_path("q256-bf16src.gguf"), "q8_0", 2, NULL);
    check_q8_0_bits(tmp_path("q256-bf16src.gguf"), test_model_path("qwen2-q256-hf-bf16"), 4, 2);
    /* its BF16 norms and biases are widened to F32, as every GGUF converter does */
    fg_gguf *g;
    assert_int_equal(fg_gguf_open(tmp_path("q256-bf16src.gguf"), &g), FG_OK);
    int n_vec = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].n_dims == 1) {
            assert_int_equal(g->tensors[i].dtype, FG_DT_F32);
            n_vec++;
        }
    assert_int_equal(n_vec, 11);
    fg_gguf_close(g);
    unlink(tmp_path("q256-bf16src.gguf"));
}

static bool same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = test_read_file(a, &la), *y = test_read_file(b, &lb);
    bool same = x && y && la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return same;
}

/* The same bytes from the HF directory, from the synthetic F32 GGUF, from `synth --dtype`
 * straight, and whatever the thread count. */
static void same_bytes_every_way(void **st)
{
    (void)st;
    const char *types[] = {"q8_0", "q4_k_m"};
    for (int i = 0; i < 2; i++) {
        quantize(test_model_path("qwen2-q256-hf"), tmp_path("a.gguf"), types[i], 1, NULL);
        quantize(test_model_path("qwen2-q256-hf"), tmp_path("b.gguf"), types[i], 3, NULL);
        fg_quantize_stats stats;
        quantize(test_model_path("qwen2-q256-f32.gguf"), tmp_path("c.gguf"), types[i], 2, &stats);
        assert_true(stats.from_gguf);
        assert_int_equal(stats.n_requantized, 0);
        fg_synth_config c;
        assert_int_equal(fg_synth_config_load(test_data_path("synthetic/qwen2-q256.json"), NULL, 0, &c), FG_OK);
        fg_quant_mix mix;
        assert_true(fg_quant_mix_from_name(types[i], &mix));
        if (fg_synth_write_quant(&c, tmp_path("d.gguf"), mix, 2, test_model_path("qwen-tokenizer"), NULL, NULL))
            fail_msg("synth: %s", fg_last_error());
        assert_true(same_file(tmp_path("a.gguf"), tmp_path("b.gguf")));
        assert_true(same_file(tmp_path("a.gguf"), tmp_path("c.gguf")));
        assert_true(same_file(tmp_path("a.gguf"), tmp_path("d.gguf")));
    }
    /* llama (permuted q/k rows, rope_freqs) through synth --dtype too */
    quantize(test_model_path("llama-tiny-hf"), tmp_path("a.gguf"), "q4_0", 2, NULL);
    fg_synth_config c;
    assert_int_equal(fg_synth_config_load(test_data_path("synthetic/llama-tiny.json"), NULL, 0, &c), FG_OK);
    assert_int_equal(fg_synth_write_quant(&c, tmp_path("d.gguf"), FG_QMIX_Q4_0, 1, test_model_path("qwen-tokenizer"),
                                          NULL, NULL), FG_OK);
    assert_true(same_file(tmp_path("a.gguf"), tmp_path("d.gguf")));
    unlink(tmp_path("a.gguf")), unlink(tmp_path("b.gguf")), unlink(tmp_path("c.gguf")), unlink(tmp_path("d.gguf"));
}

/* ---- sharded input ---------------------------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
    size_t n;
    char *d = test_read_file(from, &n);
    assert_non_null(d);
    assert_int_equal(test_write_file(to, d, n), 0);
    free(d);
}

/* Writes tensors [lo, hi) of src to one safetensors file with the format's writer. */
static void write_shard(const fg_safetensors *src, size_t lo, size_t hi, const char *path)
{
    fg_st_writer *w;
    assert_int_equal(fg_st_writer_create(&w), FG_OK);
    for (size_t i = lo; i < hi; i++) {
        const fg_st_tensor *t = &src->tensors[i];
        assert_int_equal(fg_st_w_tensor(w, t->name, t->dtype, t->n_dims, t->shape), FG_OK);
    }
    assert_int_equal(fg_st_w_begin(w, path), FG_OK);
    for (size_t i = lo; i < hi; i++) assert_int_equal(fg_st_w_data(w, src->tensors[i].data, src->tensors[i].nbytes), FG_OK);
    assert_int_equal(fg_st_w_finish(w), FG_OK);
    fg_st_writer_free(w);
}

static void sharded_checkpoint(void **st)
{
    (void)st;
    const char *src = test_model_path("qwen2-tiny-hf");
    char dir[1024], p[1100], q[1100];
    snprintf(dir, sizeof dir, "%s", tmp_path("sharded"));
    assert_int_equal(mkdir(dir, 0755), 0);
    static const char *const files[] = {"config.json", "tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", src, files[i]);
        snprintf(q, sizeof q, "%s/%s", dir, files[i]);
        copy_file(p, q);
    }
    fg_safetensors *s;
    assert_int_equal(fg_st_open(src, &s), FG_OK);
    size_t half = s->n_tensors / 2;
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    write_shard(s, 0, half, p);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_shard(s, half, s->n_tensors, p);
    cJSON *idx = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(idx, "weight_map");
    cJSON_AddObjectToObject(idx, "metadata");
    for (size_t i = 0; i < s->n_tensors; i++)
        cJSON_AddStringToObject(map, s->tensors[i].name,
                                i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
    char *text = cJSON_Print(idx);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    assert_int_equal(test_write_file(p, text, strlen(text)), 0);
    cJSON_free(text);
    cJSON_Delete(idx);
    fg_st_close(s);

    /* the sharded directory gives the very file the single one does */
    quantize(dir, tmp_path("sharded.gguf"), "q8_0", 2, NULL);
    quantize(src, tmp_path("single.gguf"), "q8_0", 2, NULL);
    assert_true(same_file(tmp_path("sharded.gguf"), tmp_path("single.gguf")));
    check_against_reference(tmp_path("sharded.gguf"), "golden/gold-qwen2-tiny-f32.json", NULL, 0.05, 1);
    unlink(tmp_path("sharded.gguf"));
    unlink(tmp_path("single.gguf"));
}

/* ---- GGUF input --------------------------------------------------------------------------------- */

static int n_warnings;
static char last_warning[512];
static void count_warnings(fg_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == FG_LOG_WARN) {
        n_warnings++;
        snprintf(last_warning, sizeof last_warning, "%s", msg);
    }
}

static void gguf_input(void **st)
{
    (void)st;
    const char *lc = test_model_path("qwen2-q256-q8_0.gguf");   /* llama.cpp's Q8_0 file */
    /* same type: every tensor copied as it is */
    fg_quantize_stats stats;
    n_warnings = 0;
    fg_set_log(count_warnings, NULL);
    quantize(lc, tmp_path("copy.gguf"), "q8_0", 2, &stats);
    assert_int_equal(n_warnings, 0);
    assert_int_equal(stats.n_copied, stats.n_tensors);
    fg_gguf *a, *b;
    assert_int_equal(fg_gguf_open(lc, &a), FG_OK);
    assert_int_equal(fg_gguf_open(tmp_path("copy.gguf"), &b), FG_OK);
    assert_int_equal(a->n_tensors, b->n_tensors);
    /* every key carried over but general.alignment (the writer's own layout) */
    assert_int_equal(b->n_kv, a->n_kv - (fg_gguf_find(a, "general.alignment") ? 1 : 0));
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        assert_true(a->tensors[i].name.len == b->tensors[i].name.len &&
                    !memcmp(a->tensors[i].name.ptr, b->tensors[i].name.ptr, a->tensors[i].name.len));
        assert_int_equal(a->tensors[i].nbytes, b->tensors[i].nbytes);
        assert_memory_equal(a->tensors[i].data, b->tensors[i].data, a->tensors[i].nbytes);
    }
    fg_gguf_close(a);
    fg_gguf_close(b);

    /* re-quantizing Q8_0 to Q4_0: allowed, with a warning; the result is still a model */
    quantize(lc, tmp_path("requant.gguf"), "q4_0", 2, &stats);
    fg_set_log(NULL, NULL);
    assert_int_equal(n_warnings, 1);
    assert_non_null(strstr(last_warning, "already quantized"));
    assert_int_equal(stats.n_requantized, 15);
    check_types_like_llamacpp(tmp_path("requant.gguf"), "q4_0");
    check_against_reference(tmp_path("requant.gguf"), "golden/gold-qwen2-q256-f32.json",
                            "golden/gold-qwen2-q256-q4_0.json", 0.05, 8);
    unlink(tmp_path("copy.gguf"));
    unlink(tmp_path("requant.gguf"));
}

/* ---- errors ------------------------------------------------------------------------------------ */

static void expect_failure(const char *in, const char *out, fg_quant_mix mix, fg_status want)
{
    fg_quantize_params p = fg_quantize_default_params();
    p.mix = mix;
    fg_status s = fg_quantize_model(in, out, &p, NULL);
    if (s != want) fail_msg("quantize %s -> %s: status %d (%s), want %d", in, out, s, fg_last_error(), want);
    assert_non_null(strchr(fg_last_error(), ' '));
    assert_null(strchr(fg_last_error(), '\n'));
    char part[1100];
    snprintf(part, sizeof part, "%s.part", out);
    assert_false(exists(part));
}

static void errors(void **st)
{
    (void)st;
    const char *out = tmp_path("err.gguf");
    expect_failure(tmp_path("no-such-model"), out, FG_QMIX_Q8_0, FG_ERR_IO);
    assert_false(exists(out));
    assert_int_equal(test_write_file(tmp_path("junk.gguf"), "not a gguf file at all", 22), 0);
    expect_failure(tmp_path("junk.gguf"), out, FG_QMIX_Q8_0, FG_ERR_FORMAT);
    assert_false(exists(out));
    expect_failure(test_model_path("qwen2-q256-hf"), tmp_path("no/such/dir/x.gguf"), FG_QMIX_Q8_0, FG_ERR_IO);
    expect_failure(test_model_path("qwen2-q256-hf"), tmp_dir, FG_QMIX_Q8_0, FG_ERR_IO);
    expect_failure(test_model_path("qwen2-q256-hf"), out, FG_QMIX_NONE, FG_ERR_ARG);
    expect_failure(test_model_path("qwen2-q256-f32.gguf"), test_model_path("qwen2-q256-f32.gguf"), FG_QMIX_Q8_0, FG_ERR_ARG);

    /* a checkpoint missing a tensor: the error names it; an existing OUT stays as it was */
    char dir[1024], p[1100], q[1100];
    snprintf(dir, sizeof dir, "%s", tmp_path("broken"));
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(p, sizeof p, "%s/config.json", test_model_path("qwen2-tiny-hf"));
    snprintf(q, sizeof q, "%s/config.json", dir);
    copy_file(p, q);
    fg_safetensors *s;
    assert_int_equal(fg_st_open(test_model_path("qwen2-tiny-hf"), &s), FG_OK);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_shard(s, 0, s->n_tensors - 1, p);   /* the last one (model.norm.weight) left out */
    fg_st_close(s);
    assert_int_equal(test_write_file(out, "keep me", 7), 0);
    expect_failure(dir, out, FG_QMIX_Q8_0, FG_ERR_FORMAT);
    assert_non_null(strstr(fg_last_error(), "model.norm.weight"));
    size_t n;
    char *kept = test_read_file(out, &n);
    assert_true(kept && n == 7 && !memcmp(kept, "keep me", 7));
    free(kept);
    unlink(out);
}

/* Allocation failures anywhere fail cleanly: an error, no output, no leak (ASan). */
static void allocation_failures(void **st)
{
    (void)st;
    const char *in = test_model_path("llama-tiny-hf"), *out = tmp_path("fail.gguf");
    fg_quantize_params p = fg_quantize_default_params();
    p.mix = FG_QMIX_Q4_0;
    p.n_threads = 2;
    fg_mem_stats before, after;
    fg_mem_get_stats(&before);
    assert_int_equal(fg_quantize_model(in, out, &p, NULL), FG_OK);
    fg_mem_get_stats(&after);
    int64_t total = after.n_allocs - before.n_allocs;
    assert_true(total > 10);
    unlink(out);
    int failures = 0;
    /* every allocation among the first 300 (the setup), then 60 spread over the rest */
    for (int64_t k = 1; k <= total; k += k < 300 ? 1 : (total - 300) / 60 + 1) {
        fg_mem_fail_after(k);
        fg_status s = fg_quantize_model(in, out, &p, NULL);
        fg_mem_fail_after(0);
        if (s == FG_OK) {
            unlink(out);
            continue;
        }
        failures++;
        if (s != FG_ERR_NOMEM) fail_msg("allocation %lld failed: status %d: %s", (long long)k, s, fg_last_error());
        assert_false(exists(out));
        char part[1100];
        snprintf(part, sizeof part, "%s.part", out);
        assert_false(exists(part));
    }
    assert_true(failures > 0);
    fg_mem_get_stats(&after);
    assert_int_equal(after.current[FG_MEM_SCRATCH], before.current[FG_MEM_SCRATCH]);
}

static int setup(void **st)
{
    (void)st;
    tmp_dir = test_tmpdir();
    return tmp_dir ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) return -1;
    free(tmp_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reference_f32),        cmocka_unit_test(reference_quantized),
        cmocka_unit_test(simulation_matches_llamacpp),
        cmocka_unit_test(quantize_q256),        cmocka_unit_test(quantize_qwen2_tiny),
        cmocka_unit_test(quantize_llama_tiny),  cmocka_unit_test(quantize_qwen3_tiny),
        cmocka_unit_test(same_bytes_every_way), cmocka_unit_test(sharded_checkpoint),
        cmocka_unit_test(gguf_input),           cmocka_unit_test(errors),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
