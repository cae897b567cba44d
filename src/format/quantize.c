/* `frugal quantize`: a GGUF or Hugging Face model to a GGUF in a quantization mixture,
 * streaming (see quantize.h; the chunked converter is in quantize_stream.c, the
 * HF-to-GGUF layout and metadata in synth_write.c). */
#include "format/quantize.h"
#include "format/format.h"
#include "format/quantize-impl.h"
#include "format/synth-impl.h"
#include "mem/mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

fg_quantize_params fg_quantize_default_params(void)
{
    fg_quantize_params p;
    memset(&p, 0, sizeof p);
    p.mix = FG_QMIX_Q8_0;
    return p;
}

const char *fg_quantize_mix_help(void)
{
    return "types (each matrix's type; norms, biases and rope factors always stay f32):\n"
           "  f16, bf16, q8_0, q6_k   every matrix in that type\n"
           "  q4_0     Q4_0, but Q6_K for the output matrix (the embedding when it is tied)\n"
           "  q4_k_m   Q4_K, but Q6_K for the output matrix (or tied embedding) and for\n"
           "           attn_v and ffn_down in the \"more bits\" layers: the first and last\n"
           "           eighth of the layers and every third layer in between\n"
           "           (layer i of n: i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2)\n"
           "  q5_k_m   the same with Q5_K as the base type\n"
           "A matrix whose row length is not a multiple of its type's block (256 for the K\n"
           "types, 32 for q8_0/q4_0) gets q8_0 instead (f16 if not a multiple of 32).\n";
}

static void stats_add(fg_quantize_stats *s, const char *name, fg_dtype dt, uint64_t out_bytes, uint64_t in_bytes)
{
    s->n_tensors++;
    if ((unsigned)dt < FG_DT_COUNT) s->n_by_type[dt]++;
    s->out_bytes += out_bytes;
    s->in_bytes += in_bytes;
    if (out_bytes > s->largest_out_tensor) {
        s->largest_out_tensor = out_bytes;
        snprintf(s->largest_name, sizeof s->largest_name, "%s", name);
    }
}

static bool is_quantized(fg_dtype dt) { return dt != FG_DT_F32 && dt != FG_DT_F16 && dt != FG_DT_BF16; }

/* ---- rows from a mapped tensor ----------------------------------------------------------------- */

/* A matrix in a mapping: rows of src_row_bytes in dtype dt. GGUF row r is source row
 * fg_synth_gguf_src_row(&perm, r) (perm.gguf_permute_heads == 0: the identity). The
 * mapping spans [map_lo, map_hi). */
typedef struct mapped_rows {
    const uint8_t *map_lo, *map_hi;
    const uint8_t *data;
    fg_dtype dt;
    int64_t cols;
    size_t row_bytes;
    fg_synth_tensor perm;
} mapped_rows;

static void mapped_get(void *ctx, int64_t row0, int64_t n, float *out)
{
    const mapped_rows *m = ctx;
    for (int64_t k = 0; k < n; k++) {
        int64_t r = fg_synth_gguf_src_row(&m->perm, row0 + k);
        fg_dequant_row(m->dt, m->data + (size_t)r * m->row_bytes, out + k * m->cols, m->cols);
    }
}

/* Rows [row0, row1) are written: their source pages go (chunks of a permuted tensor are
 * whole heads, so the source rows are the same range).
 *
 * Not just the chunk's pages: a read fault maps more than the page it hits ("fault
 * around", and whole large folios of the page cache, up to 2 MiB), so reading a chunk
 * maps pages of the chunk before it (a page shared at the boundary is dropped, then
 * faulted in again) and of the neighbouring tensors. Each drop therefore covers the
 * tensor from its start to the end of the chunk, widened by 2 MiB on both sides (within
 * the mapping): what reading this tensor mapped is gone when it is done, and the peak
 * stays one chunk plus a few MiB. Dropping pages about to be read only costs a minor
 * fault each (they stay in the page cache). */
#define DROP_MARGIN ((size_t)2 << 20)
static void mapped_drop(void *ctx, int64_t row0, int64_t row1)
{
    (void)row0;
    const mapped_rows *m = ctx;
    const uint8_t *a = m->data, *e = m->data + (size_t)row1 * m->row_bytes;
    a = (size_t)(a - m->map_lo) > DROP_MARGIN ? a - DROP_MARGIN : m->map_lo;
    e = (size_t)(m->map_hi - e) > DROP_MARGIN ? e + DROP_MARGIN : m->map_hi;
    qz_drop_pages(a, (size_t)(e - a));
}

static void mapped_source(mapped_rows *m, qz_source *src)
{
    memset(src, 0, sizeof *src);
    src->rows = mapped_get;
    src->drop = mapped_drop;
    src->ctx = m;
    src->row_align = 1;
    if (m->perm.gguf_permute_heads)
        src->row_align = m->perm.rows / m->perm.gguf_permute_heads;
    else {
        src->raw = m->data;   /* copied as it is when already in the target type */
        src->raw_dtype = m->dt;
    }
}

/* ---- from GGUF ------------------------------------------------------------------------------- */

static fg_status copy_name(const fg_gguf *g, fg_str s, char *buf, size_t size)
{
    if (s.len >= size) return fg_error(FG_ERR_FORMAT, "%s: tensor name of %llu bytes is too long", g->file.path,
                                       (unsigned long long)s.len);
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = 0;
    return FG_OK;
}

static fg_status from_gguf(const char *in, const char *out, const fg_quantize_params *p, fg_quantize_stats *stats)
{
    fg_gguf *g;
    fg_status st = fg_gguf_open(in, &g);
    if (st) return st;
    stats->from_gguf = true;

    /* the mixture's inputs: layer count and whether the embedding doubles as output */
    fg_str arch = {0};
    int64_t n_layers = 0;
    if (fg_gguf_get_str(g, "general.architecture", &arch) && arch.len < 64) {
        char key[96];
        snprintf(key, sizeof key, "%.*s.block_count", (int)arch.len, arch.ptr);
        uint64_t v;
        if (fg_gguf_get_u64(g, key, &v) && v < (1u << 20)) n_layers = (int64_t)v;
    }
    bool tied = !fg_gguf_find_tensor(g, "output.weight");

    fg_gguf_writer *w = NULL;
    if (!st) st = fg_gguf_writer_create(&w);
    const uint32_t file_type = fg_quant_mix_file_type(p->mix);
    bool wrote_ft = false, wrote_qv = false;
    for (uint64_t i = 0; i < g->n_kv && !st; i++) {
        const fg_gguf_kv *kv = &g->kv[i];
        if (fg_str_eq(kv->key, "general.file_type")) {
            st = fg_gguf_w_u32(w, "general.file_type", file_type);
            wrote_ft = true;
        } else {
            wrote_qv |= fg_str_eq(kv->key, "general.quantization_version");
            st = fg_gguf_w_copy_kv(w, g, kv);
        }
    }
    if (!st && !wrote_ft) st = fg_gguf_w_u32(w, "general.file_type", file_type);
    if (!st && !wrote_qv) st = fg_gguf_w_u32(w, "general.quantization_version", 2);

    /* tensor infos: same names, shapes and order, the mixture's types */
    fg_dtype *to = st ? NULL : fg_calloc(FG_MEM_RUNTIME, g->n_tensors ? g->n_tensors : 1, sizeof *to);
    if (!st && !to) st = fg_error(FG_ERR_NOMEM, "out of memory");
    uint64_t total = 0;
    char requant_example[64] = "";
    fg_dtype requant_from = FG_DT_INVALID;
    for (uint64_t i = 0; i < g->n_tensors && !st; i++) {
        const fg_gguf_tensor *t = &g->tensors[i];
        char name[64];
        if ((st = copy_name(g, t->name, name, sizeof name))) break;
        if (t->dtype == FG_DT_INVALID) {
            const char *tn = fg_ggml_type_name(t->ggml_type);
            st = fg_error(FG_ERR_UNSUPPORTED, "%s: tensor %s has type %s, which frugal cannot convert", in, name,
                          tn ? tn : "unknown");
            break;
        }
        int64_t cols = (int64_t)t->ne[0], rows = 1;
        for (uint32_t d = 1; d < t->n_dims; d++) rows *= (int64_t)t->ne[d];
        if (fg_row_bytes(t->dtype, cols) * (uint64_t)rows != t->nbytes) {
            st = fg_error(FG_ERR_FORMAT, "%s: tensor %s: %llu bytes for %lld x %lld %s", in, name,
                          (unsigned long long)t->nbytes, (long long)rows, (long long)cols, fg_dtype_name(t->dtype));
            break;
        }
        to[i] = fg_quant_mix_type(p->mix, name, t->n_dims, cols, n_layers, tied);   /* vectors: F32 */
        if (to[i] == FG_DT_INVALID || !fg_row_bytes(to[i], cols)) {
            st = fg_error(FG_ERR_UNSUPPORTED, "%s: tensor %s (%lld columns) cannot be stored as %s", in, name,
                          (long long)cols, fg_quant_mix_name(p->mix));
            break;
        }
        if (is_quantized(t->dtype) && to[i] != t->dtype) {
            stats->n_requantized++;
            if (!requant_example[0]) {
                snprintf(requant_example, sizeof requant_example, "%s", name);
                requant_from = t->dtype;
            }
        }
        if (to[i] == t->dtype) stats->n_copied++;
        uint64_t ob = fg_row_bytes(to[i], cols) * (uint64_t)rows;
        total += ob;
        stats_add(stats, name, to[i], ob, t->nbytes);
        st = fg_gguf_w_tensor(w, name, to[i], t->n_dims, t->ne);
    }
    if (!st && stats->n_requantized)
        fg_log(FG_LOG_WARN, "%s: %llu tensors are already quantized (e.g. %s, %s): they are dequantized and quantized "
               "again, losing precision twice; quantize from the F32/F16/BF16 model when you can", in,
               (unsigned long long)stats->n_requantized, requant_example, fg_dtype_name(requant_from));

    char part[4200];
    qz_part_path(out, part, sizeof part);
    if (!st) st = fg_gguf_w_begin(w, part);
    qz_stream *qs = NULL;
    if (!st) st = qz_stream_create(p->n_threads > 0 ? p->n_threads : fg_physical_cores(), &qs);
    if (!st) qz_stream_set_progress(qs, total, p->progress, p->user);
    for (uint64_t i = 0; i < g->n_tensors && !st; i++) {
        const fg_gguf_tensor *t = &g->tensors[i];
        char name[64];
        copy_name(g, t->name, name, sizeof name);
        int64_t rows = 1;
        for (uint32_t d = 1; d < t->n_dims; d++) rows *= (int64_t)t->ne[d];
        mapped_rows m;
        memset(&m, 0, sizeof m);
        m.map_lo = g->file.data;
        m.map_hi = g->file.data + g->file.size;
        m.data = t->data;
        m.dt = t->dtype;
        m.cols = (int64_t)t->ne[0];
        m.row_bytes = fg_row_bytes(t->dtype, m.cols);
        qz_source src;
        mapped_source(&m, &src);
        st = qz_stream_tensor(qs, w, name, to[i], rows, m.cols, &src);
    }
    qz_stream_free(qs);
    fg_free(to);
    fg_gguf_close(g);
    if (st) {
        fg_gguf_writer_free(w);
        return st;
    }
    return qz_finish(w, part, out);
}

/* ---- from a Hugging Face directory ------------------------------------------------------------- */

typedef struct hf_ctx {
    const char *dir;
    fg_safetensors *st;
    mapped_rows m;
} hf_ctx;

/* Finds and checks the safetensors tensor of list entry t. */
static fg_status hf_find(const hf_ctx *h, const fg_synth_tensor *t, const fg_st_tensor **out)
{
    const fg_st_tensor *s = fg_st_find(h->st, t->name);
    if (!s) return fg_error(FG_ERR_FORMAT, "%s: missing tensor %s", h->dir, t->name);
    if (s->dtype != FG_DT_F32 && s->dtype != FG_DT_F16 && s->dtype != FG_DT_BF16)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s (F32, F16 or BF16 are converted)", h->dir,
                        t->name, s->dtype_name);
    bool ok = t->n_dims == 1 ? s->n_dims == 1 && (int64_t)s->shape[0] == t->cols
                             : s->n_dims == 2 && (int64_t)s->shape[0] == t->rows && (int64_t)s->shape[1] == t->cols;
    if (!ok) {
        char got[96] = "", want[64];
        for (uint32_t d = 0; d < s->n_dims && d < 4; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", d ? ", " : "", (unsigned long long)s->shape[d]);
        if (t->n_dims == 1)
            snprintf(want, sizeof want, "%lld", (long long)t->cols);
        else
            snprintf(want, sizeof want, "%lld, %lld", (long long)t->rows, (long long)t->cols);
        return fg_error(FG_ERR_FORMAT, "%s: tensor %s has shape [%s], config.json implies [%s]", h->dir, t->name, got,
                        want);
    }
    if (fg_row_bytes(s->dtype, t->cols) * (uint64_t)t->rows != s->nbytes)
        return fg_error(FG_ERR_FORMAT, "%s: tensor %s holds %llu bytes", h->dir, t->name, (unsigned long long)s->nbytes);
    *out = s;
    return FG_OK;
}

static fg_status hf_open(void *ctx, const fg_synth_tensor *t, qz_source *out)
{
    hf_ctx *h = ctx;
    const fg_st_tensor *s;
    fg_status st = hf_find(h, t, &s);
    if (st) return st;
    memset(&h->m, 0, sizeof h->m);
    /* the shard's mapping that holds the tensor */
    for (int i = 0; i < h->st->n_files; i++) {
        const fg_file *f = &h->st->files[i];
        if ((const uint8_t *)s->data >= f->data && (const uint8_t *)s->data + s->nbytes <= f->data + f->size) {
            h->m.map_lo = f->data;
            h->m.map_hi = f->data + f->size;
        }
    }
    if (!h->m.map_lo) return fg_error(FG_ERR_INTERNAL, "%s: tensor %s is in no mapped shard", h->dir, t->name);
    h->m.data = s->data;
    h->m.dt = s->dtype;
    h->m.cols = t->cols;
    h->m.row_bytes = fg_row_bytes(s->dtype, t->cols);
    h->m.perm = *t;
    mapped_source(&h->m, out);
    return FG_OK;
}

/* general.name: the last part of config.json's "_name_or_path", else the directory's name. */
static void model_name(const char *dir, char *out, size_t size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    out[0] = 0;
    fg_file f;
    if (fg_file_map(path, &f) == FG_OK) {
        cJSON *root = f.size ? cJSON_ParseWithLength((const char *)f.data, f.size) : NULL;
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "_name_or_path");
        if (cJSON_IsString(n) && n->valuestring[0]) {
            const char *s = strrchr(n->valuestring, '/');
            snprintf(out, size, "%s", s && s[1] ? s + 1 : n->valuestring);
        }
        cJSON_Delete(root);
        fg_file_unmap(&f);
    }
    if (out[0]) return;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    snprintf(out, size, "%.*s", (int)(n - b), dir + b);
}

static fg_status from_hf(const char *in, const char *out, const fg_quantize_params *p, fg_quantize_stats *stats)
{
    fg_synth_config c;
    memset(&c, 0, sizeof c);
    fg_status st = fg_hf_config_load(in, &c.hf);
    if (st) return st;
    if (c.hf.rope_llama3 && c.hf.arch != FG_ARCH_LLAMA)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: llama3 rope scaling is only supported for the llama architecture", in);
    model_name(in, c.name, sizeof c.name);

    hf_ctx h = {in, NULL, {0}};
    if ((st = fg_st_open(in, &h.st))) return st;
    if (c.hf.tie_word_embeddings && fg_st_find(h.st, "lm_head.weight")) {
        /* as the loader does: a checkpoint that ships lm_head uses it */
        fg_log(FG_LOG_WARN, "%s: config says tied embeddings but lm_head.weight is present; writing it as output.weight", in);
        c.hf.tie_word_embeddings = false;
    }

    /* check every tensor before writing anything; note those the architecture does not use */
    synth_gguf_out o = {p->mix, FG_DT_F32, p->n_threads, p->progress, p->user};
    size_t nt = fg_synth_n_tensors(&c);
    fg_synth_tensor t;
    for (size_t i = 0; i < nt && !st; i++) {
        fg_synth_tensor_info(&c, i, &t);
        const fg_st_tensor *s;
        if ((st = hf_find(&h, &t, &s))) break;
        fg_dtype dt = synth_gguf_tensor_type(&c, &o, &t);
        if (dt == FG_DT_INVALID || !fg_row_bytes(dt, t.cols)) {
            st = fg_error(FG_ERR_UNSUPPORTED, "%s: tensor %s (%lld columns) cannot be stored as %s", in, t.name,
                          (long long)t.cols, fg_quant_mix_name(p->mix));
            break;
        }
        stats_add(stats, t.gguf_name, dt, fg_row_bytes(dt, t.cols) * (uint64_t)t.rows, s->nbytes);
        if (dt == s->dtype && !t.gguf_permute_heads) stats->n_copied++;
    }
    if (!st && stats->n_tensors < h.st->n_tensors) {
        const char *example = NULL;
        for (size_t i = 0; i < h.st->n_tensors && !example; i++) {
            bool used = false;
            for (size_t k = 0; k < nt && !used; k++) {
                fg_synth_tensor_info(&c, k, &t);
                used = !strcmp(t.name, h.st->tensors[i].name);
            }
            if (!used) example = h.st->tensors[i].name;
        }
        fg_log(FG_LOG_WARN, "%s: %zu tensors the %s architecture does not use are left out (e.g. %s)", in,
               h.st->n_tensors - (size_t)stats->n_tensors, fg_arch_name(c.hf.arch), example ? example : "?");
    }
    float freqs[4096];
    size_t n_freqs = fg_synth_rope_freqs(&c, freqs, sizeof freqs / sizeof freqs[0]);
    if (!st && n_freqs) stats_add(stats, "rope_freqs.weight", FG_DT_F32, n_freqs * 4, 0);

    /* the tokenizer, as GGUF metadata (byte-level BPE only) */
    synth_vocab v;
    memset(&v, 0, sizeof v);
    bool have_vocab = false;
    if (!st) {
        char tp[4200];
        snprintf(tp, sizeof tp, "%s/tokenizer.json", in);
        struct stat sb;
        if (stat(tp, &sb) == 0) {
            st = synth_vocab_for_gguf(in, 0, c.hf.vocab_size, &v);
            have_vocab = !st;
        } else {
            fg_log(FG_LOG_WARN, "%s: no tokenizer.json: the GGUF gets no tokenizer (token ids only)", in);
        }
    }
    if (!st) {
        synth_gguf_rows src = {hf_open, &h};
        st = synth_write_gguf(&c, out, &o, have_vocab ? &v : NULL, &src);
    }
    synth_vocab_free(&v);
    fg_st_close(h.st);
    return st;
}

/* ---- entry point ------------------------------------------------------------------------------- */

fg_status fg_quantize_model(const char *in, const char *out, const fg_quantize_params *params, fg_quantize_stats *stats)
{
    fg_quantize_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!in || !*in || !out || !*out) return fg_error(FG_ERR_ARG, "quantize: no input or output path");
    fg_quantize_params p = params ? *params : fg_quantize_default_params();
    if ((unsigned)p.mix >= FG_QMIX_COUNT || p.mix == FG_QMIX_NONE)
        return fg_error(FG_ERR_ARG, "quantize: no target type (q8_0, q4_0, q4_k_m, q5_k_m, q6_k, f16 or bf16)");
    if (p.n_threads < 0 || p.n_threads > 1024)
        return fg_error(FG_ERR_ARG, "quantize: thread count %d out of range", p.n_threads);

    struct stat si, so;
    if (stat(in, &si) != 0) return fg_error(FG_ERR_IO, "%s: %s", in, strerror(errno));
    fg_status st = qz_check_output(out);
    if (st) return st;
    if (stat(out, &so) == 0 && so.st_dev == si.st_dev && so.st_ino == si.st_ino)
        return fg_error(FG_ERR_ARG, "%s: the output is the input file", out);
    if (S_ISDIR(si.st_mode)) return from_hf(in, out, &p, stats);
    if (!S_ISREG(si.st_mode)) return fg_error(FG_ERR_FORMAT, "%s: not a GGUF file or a Hugging Face directory", in);
    /* a regular file: GGUF (the reader checks the magic and names the problem) */
    return from_gguf(in, out, &p, stats);
}
