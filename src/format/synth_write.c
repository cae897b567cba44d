/* Writing a synthetic model: a Hugging Face directory (config.json, model.safetensors,
 * tokenizer files) or one GGUF v3 file, streaming one chunk of rows at a time so memory
 * stays constant whatever the model's size (the chunk, the tokenizer, the metadata).
 *
 * The GGUF writer here (synth_write_gguf) is also the one `frugal quantize` uses for a
 * Hugging Face directory: the same metadata, tensor list and order, with the rows taken
 * from the safetensors instead of the synthetic streams (format/quantize.c). */
#include "format/synth-impl.h"
#include "mem/mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tensor bytes are written in host order");

#define CHUNK_ELEMS ((size_t)1 << 18)   /* 1 MB of float32 per chunk */

/* GGUF general.file_type (llama_ftype) */
static uint32_t gguf_file_type(fg_dtype dt)
{
    return dt == FG_DT_F16 ? 1 : dt == FG_DT_BF16 ? 32 : 0;   /* MOSTLY_F16, MOSTLY_BF16, ALL_F32 */
}

static const char *hf_arch_class(fg_arch a)
{
    return a == FG_ARCH_LLAMA ? "LlamaForCausalLM" : a == FG_ARCH_QWEN3 ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM";
}

static const char *torch_dtype(fg_dtype dt)
{
    return dt == FG_DT_F16 ? "float16" : dt == FG_DT_BF16 ? "bfloat16" : "float32";
}

/* ---- streaming the tensors ------------------------------------------------------------- */

typedef fg_status (*sink_fn)(void *w, const void *data, size_t n);

typedef struct streamer {
    float *f;            /* chunk of values */
    uint16_t *h;         /* the chunk converted to F16/BF16 */
    size_t cap;          /* elements */
    uint64_t done, total;
    fg_synth_progress_fn cb;
    void *user;
} streamer;

static fg_status streamer_init(streamer *s, const fg_synth_config *c, fg_synth_progress_fn cb, void *user)
{
    memset(s, 0, sizeof *s);
    s->cap = CHUNK_ELEMS;
    /* a chunk holds at least one row: rows have hidden, intermediate or heads * head_dim
     * columns (or head_dim, kv_heads * head_dim for 1-D tensors) */
    size_t widest = (size_t)c->hf.hidden_size;
    if (widest < (size_t)c->hf.intermediate_size) widest = (size_t)c->hf.intermediate_size;
    if (widest < (size_t)(c->hf.n_heads * c->hf.head_dim)) widest = (size_t)(c->hf.n_heads * c->hf.head_dim);
    if (s->cap < widest) s->cap = widest;
    s->f = fg_malloc(FG_MEM_SCRATCH, s->cap * sizeof *s->f);
    s->h = fg_malloc(FG_MEM_SCRATCH, s->cap * sizeof *s->h);
    s->cb = cb;
    s->user = user;
    if (!s->f || !s->h) {
        fg_free(s->f);
        fg_free(s->h);
        return fg_error(FG_ERR_NOMEM, "out of memory for a %zu-element chunk", s->cap);
    }
    return FG_OK;
}

static void streamer_free(streamer *s)
{
    fg_free(s->f);
    fg_free(s->h);
}

static size_t out_elem_bytes(fg_dtype dt) { return dt == FG_DT_F32 ? 4 : 2; }

/* Writes a chunk of n floats in dtype dt. */
static fg_status emit(streamer *s, fg_dtype dt, size_t n, sink_fn sink, void *w)
{
    fg_status st;
    if (dt == FG_DT_F32) {
        st = sink(w, s->f, n * 4);
    } else {
        if (dt == FG_DT_F16)
            for (size_t i = 0; i < n; i++) s->h[i] = fg_f32_to_f16(s->f[i]);
        else
            for (size_t i = 0; i < n; i++) s->h[i] = fg_f32_to_bf16(s->f[i]);
        st = sink(w, s->h, n * 2);
    }
    if (st) return st;
    s->done += n * out_elem_bytes(dt);
    if (s->cb) s->cb(s->done, s->total, s->user);
    return FG_OK;
}

/* All rows of tensor t in the HF layout. */
static fg_status stream_tensor(streamer *s, const fg_synth_tensor *t, fg_dtype dt, sink_fn sink, void *w)
{
    int64_t rows_per = (int64_t)(s->cap / (size_t)t->cols);
    for (int64_t r = 0; r < t->rows; r += rows_per) {
        int64_t nr = t->rows - r < rows_per ? t->rows - r : rows_per;
        fg_synth_values(t, (uint64_t)r * (uint64_t)t->cols, (size_t)(nr * t->cols), s->f);
        fg_status st = emit(s, dt, (size_t)(nr * t->cols), sink, w);
        if (st) return st;
    }
    return FG_OK;
}

/* ---- Hugging Face directory -------------------------------------------------------------- */

static fg_status write_config_json(const fg_synth_config *c, fg_dtype dt, const char *path)
{
    const fg_hf_config *h = &c->hf;
    cJSON *o = cJSON_CreateObject();
    if (!o) return fg_error(FG_ERR_NOMEM, "out of memory");
    cJSON *archs = cJSON_AddArrayToObject(o, "architectures");
    if (archs) cJSON_AddItemToArray(archs, cJSON_CreateString(hf_arch_class(h->arch)));
    cJSON_AddStringToObject(o, "model_type", fg_arch_name(h->arch));
    cJSON_AddStringToObject(o, "_name_or_path", c->name);
    cJSON_AddNumberToObject(o, "hidden_size", (double)h->hidden_size);
    cJSON_AddNumberToObject(o, "intermediate_size", (double)h->intermediate_size);
    cJSON_AddNumberToObject(o, "num_hidden_layers", (double)h->n_layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", (double)h->n_heads);
    cJSON_AddNumberToObject(o, "num_key_value_heads", (double)h->n_kv_heads);
    if (c->head_dim_given) cJSON_AddNumberToObject(o, "head_dim", (double)h->head_dim);
    cJSON_AddNumberToObject(o, "vocab_size", (double)h->vocab_size);
    cJSON_AddNumberToObject(o, "max_position_embeddings", (double)h->max_position_embeddings);
    cJSON_AddNumberToObject(o, "rope_theta", h->rope_theta);
    cJSON_AddNumberToObject(o, "rms_norm_eps", h->rms_norm_eps);
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    if (h->arch != FG_ARCH_QWEN2) cJSON_AddBoolToObject(o, "attention_bias", false);
    if (h->arch == FG_ARCH_LLAMA) cJSON_AddBoolToObject(o, "mlp_bias", false);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", h->tie_word_embeddings);
    if (h->bos_token_id >= 0) cJSON_AddNumberToObject(o, "bos_token_id", (double)h->bos_token_id);
    if (h->eos_token_id >= 0) cJSON_AddNumberToObject(o, "eos_token_id", (double)h->eos_token_id);
    if (h->rope_llama3) {
        cJSON *rs = cJSON_AddObjectToObject(o, "rope_scaling");
        if (rs) {
            cJSON_AddStringToObject(rs, "rope_type", "llama3");
            cJSON_AddNumberToObject(rs, "factor", h->rope_factor);
            cJSON_AddNumberToObject(rs, "low_freq_factor", h->rope_low_freq_factor);
            cJSON_AddNumberToObject(rs, "high_freq_factor", h->rope_high_freq_factor);
            cJSON_AddNumberToObject(rs, "original_max_position_embeddings", (double)h->rope_original_max_pos);
        }
    }
    cJSON_AddStringToObject(o, "torch_dtype", torch_dtype(dt));
    cJSON_AddBoolToObject(o, "use_cache", true);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return fg_error(FG_ERR_NOMEM, "out of memory");
    FILE *f = fopen(path, "wb");
    if (!f) {
        cJSON_free(text);
        return fg_error(FG_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n && fputc('\n', f) != EOF;
    ok = (fclose(f) == 0) && ok;
    cJSON_free(text);
    if (!ok) {
        unlink(path);
        return fg_error(FG_ERR_IO, "%s: write failed", path);
    }
    return FG_OK;
}

static fg_status st_sink(void *w, const void *data, size_t n) { return fg_st_w_data(w, data, n); }

static fg_status write_safetensors(const fg_synth_config *c, fg_dtype dt, const char *path, streamer *s)
{
    fg_st_writer *w;
    fg_status st = fg_st_writer_create(&w);
    if (st) return st;
    size_t nt = fg_synth_n_tensors(c);
    fg_synth_tensor t;
    for (size_t i = 0; i < nt && !st; i++) {
        fg_synth_tensor_info(c, i, &t);
        uint64_t shape[2] = {(uint64_t)t.rows, (uint64_t)t.cols};
        st = t.n_dims == 1 ? fg_st_w_tensor(w, t.name, dt, 1, &shape[1]) : fg_st_w_tensor(w, t.name, dt, 2, shape);
        s->total += (uint64_t)t.rows * (uint64_t)t.cols * out_elem_bytes(dt);
    }
    if (!st) st = fg_st_w_begin(w, path);
    for (size_t i = 0; i < nt && !st; i++) {
        fg_synth_tensor_info(c, i, &t);
        st = stream_tensor(s, &t, dt, st_sink, w);
    }
    if (!st) st = fg_st_w_finish(w);
    fg_st_writer_free(w);   /* removes the file unless finished */
    return st;
}

static void join(char *out, size_t size, const char *dir, const char *name) { snprintf(out, size, "%s/%s", dir, name); }

static fg_status write_hf(const fg_synth_config *c, const char *dir, fg_dtype dt, const char *tok_dir,
                          const synth_vocab *v, streamer *s)
{
    if (dt != FG_DT_F32 && dt != FG_DT_F16 && dt != FG_DT_BF16)
        return fg_error(FG_ERR_ARG, "synthetic model: dtype %s is not f32, f16 or bf16", fg_dtype_name(dt));
    bool created = false;
    if (mkdir(dir, 0755) == 0) {
        created = true;
    } else {
        struct stat st;
        if (errno != EEXIST || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return fg_error(FG_ERR_IO, "%s: cannot create the model directory: %s", dir,
                            errno == EEXIST ? "exists and is not a directory" : strerror(errno));
    }
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"};
    char path[4096];
    join(path, sizeof path, dir, files[0]);
    fg_status st = write_config_json(c, dt, path);
    if (!st) {
        join(path, sizeof path, dir, files[1]);
        st = write_safetensors(c, dt, path, s);
    }
    if (!st && tok_dir) st = synth_write_hf_tokenizer(tok_dir, dir, c->vocab_cut, v);
    if (st) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", fg_last_error());
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            join(path, sizeof path, dir, files[i]);
            unlink(path);
        }
        if (created) rmdir(dir);
        return fg_error(st, "%s", msg);
    }
    return FG_OK;
}

/* ---- GGUF ------------------------------------------------------------------------------------ */

static fg_status gguf_tokenizer(fg_gguf_writer *w, const fg_synth_config *c, const synth_vocab *v)
{
    fg_status st = fg_gguf_w_str(w, "tokenizer.ggml.model", "gpt2", 4);
    if (!st) st = fg_gguf_w_str(w, "tokenizer.ggml.pre", v->pre, strlen(v->pre));
    size_t n = v->n > v->n_merges ? v->n : v->n_merges;
    const char **strs = fg_malloc(FG_MEM_TOKENIZER, (n ? n : 1) * sizeof *strs);
    size_t *lens = fg_malloc(FG_MEM_TOKENIZER, (n ? n : 1) * sizeof *lens);
    if (!strs || !lens) {
        fg_free(strs);
        fg_free(lens);
        return fg_error(FG_ERR_NOMEM, "out of memory for the token list");
    }
    for (uint32_t i = 0; i < v->n; i++) {
        strs[i] = v->blob + v->off[i];
        lens[i] = v->len[i];
    }
    if (!st) st = fg_gguf_w_arr_str(w, "tokenizer.ggml.tokens", strs, lens, v->n);
    if (!st) st = fg_gguf_w_arr(w, "tokenizer.ggml.token_type", FG_GGUF_I32, v->type, v->n);
    for (uint32_t i = 0; i < v->n_merges; i++) {
        strs[i] = v->mblob + v->moff[i];
        lens[i] = v->mlen[i];
    }
    if (!st) st = fg_gguf_w_arr_str(w, "tokenizer.ggml.merges", strs, lens, v->n_merges);
    fg_free(strs);
    fg_free(lens);
    const fg_hf_config *h = &c->hf;
    int64_t pad = v->pad_token ? synth_vocab_find(v, v->pad_token, strlen(v->pad_token)) : -1;
    if (pad < 0) pad = h->eos_token_id;   /* the pad token was cut away: pad with eos */
    if (!st && h->bos_token_id >= 0) st = fg_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)h->bos_token_id);
    if (!st && h->eos_token_id >= 0) st = fg_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)h->eos_token_id);
    if (!st && pad >= 0) st = fg_gguf_w_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)pad);
    if (!st && v->add_bos >= 0) st = fg_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos);
    if (!st && v->add_eos >= 0) st = fg_gguf_w_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos);
    if (!st && v->chat_template)
        st = fg_gguf_w_str(w, "tokenizer.chat_template", v->chat_template, strlen(v->chat_template));
    return st;
}

static fg_status gguf_metadata(fg_gguf_writer *w, const fg_synth_config *c, uint32_t file_type, const synth_vocab *v)
{
    const fg_hf_config *h = &c->hf;
    const char *arch = fg_arch_name(h->arch);
    char k[128];
    fg_status st = fg_gguf_w_str(w, "general.architecture", arch, strlen(arch));
    if (!st) st = fg_gguf_w_str(w, "general.name", c->name, strlen(c->name));
#define KEY(suffix) (snprintf(k, sizeof k, "%s.%s", arch, suffix), k)
    if (!st) st = fg_gguf_w_u32(w, KEY("context_length"), (uint32_t)h->max_position_embeddings);
    if (!st) st = fg_gguf_w_u32(w, KEY("embedding_length"), (uint32_t)h->hidden_size);
    if (!st) st = fg_gguf_w_u32(w, KEY("feed_forward_length"), (uint32_t)h->intermediate_size);
    if (!st) st = fg_gguf_w_u32(w, KEY("block_count"), (uint32_t)h->n_layers);
    if (!st) st = fg_gguf_w_u32(w, KEY("attention.head_count"), (uint32_t)h->n_heads);
    if (!st) st = fg_gguf_w_u32(w, KEY("attention.head_count_kv"), (uint32_t)h->n_kv_heads);
    if (!st) st = fg_gguf_w_f32(w, KEY("rope.freq_base"), (float)h->rope_theta);
    if (!st) st = fg_gguf_w_f32(w, KEY("attention.layer_norm_rms_epsilon"), (float)h->rms_norm_eps);
    if (!st) st = fg_gguf_w_u32(w, KEY("attention.key_length"), (uint32_t)h->head_dim);
    if (!st) st = fg_gguf_w_u32(w, KEY("attention.value_length"), (uint32_t)h->head_dim);
    if (!st && h->arch == FG_ARCH_LLAMA) st = fg_gguf_w_u32(w, KEY("rope.dimension_count"), (uint32_t)h->head_dim);
    if (!st) st = fg_gguf_w_u32(w, KEY("vocab_size"), (uint32_t)h->vocab_size);
#undef KEY
    if (!st) st = fg_gguf_w_u32(w, "general.file_type", file_type);
    if (!st) st = fg_gguf_w_u32(w, "general.quantization_version", 2);
    if (!st && v) st = gguf_tokenizer(w, c, v);
    return st;
}

fg_dtype synth_gguf_tensor_type(const fg_synth_config *c, const synth_gguf_out *o, const fg_synth_tensor *t)
{
    if (o->mix == FG_QMIX_NONE) return t->n_dims == 1 ? FG_DT_F32 : o->dtype;   /* norms and biases stay F32 */
    return fg_quant_mix_type(o->mix, t->gguf_name, t->n_dims, t->cols, c->hf.n_layers, c->hf.tie_word_embeddings);
}

fg_status synth_write_gguf(const fg_synth_config *c, const char *path, const synth_gguf_out *o, const synth_vocab *v,
                           const synth_gguf_rows *src)
{
    if (o->mix == FG_QMIX_NONE && o->dtype != FG_DT_F32 && o->dtype != FG_DT_F16 && o->dtype != FG_DT_BF16)
        return fg_error(FG_ERR_ARG, "GGUF output: dtype %s is not f32, f16 or bf16", fg_dtype_name(o->dtype));
    fg_status st = qz_check_output(path);
    if (st) return st;
    fg_gguf_writer *w;
    if ((st = fg_gguf_writer_create(&w))) return st;
    uint32_t file_type = o->mix != FG_QMIX_NONE ? fg_quant_mix_file_type(o->mix) : gguf_file_type(o->dtype);
    st = gguf_metadata(w, c, file_type, v);

    /* llama3 rope scaling: rope_freqs.weight [head_dim/2] F32, first as llama.cpp writes it */
    float freqs[4096];
    size_t n_freqs = fg_synth_rope_freqs(c, freqs, sizeof freqs / sizeof freqs[0]);
    if (c->hf.rope_llama3 && !n_freqs && !st) st = fg_error(FG_ERR_UNSUPPORTED, "head_dim too large for rope_freqs");
    uint64_t total = 0;
    if (n_freqs && !st) {
        uint64_t ne = n_freqs;
        st = fg_gguf_w_tensor(w, "rope_freqs.weight", FG_DT_F32, 1, &ne);
        total += n_freqs * 4;
    }
    size_t nt = fg_synth_n_tensors(c);
    fg_synth_tensor t;
    for (size_t i = 0; i < nt && !st; i++) {
        fg_synth_tensor_info(c, i, &t);
        /* GGUF ne order is reversed: ne[0] = cols */
        uint64_t ne[2] = {(uint64_t)t.cols, (uint64_t)t.rows};
        fg_dtype tdt = synth_gguf_tensor_type(c, o, &t);
        st = fg_gguf_w_tensor(w, t.gguf_name, tdt, t.n_dims, ne);
        total += fg_row_bytes(tdt, t.cols) * (uint64_t)t.rows;
    }
    char part[4200];
    qz_part_path(path, part, sizeof part);
    if (!st) st = fg_gguf_w_begin(w, part);

    qz_stream *qs = NULL;
    if (!st) st = qz_stream_create(o->n_threads > 0 ? o->n_threads : fg_physical_cores(), &qs);
    if (!st) qz_stream_set_progress(qs, total, o->progress, o->user);
    if (!st && n_freqs) {
        qz_source fs = {NULL, NULL, NULL, freqs, FG_DT_F32, 1};   /* written as it is */
        st = qz_stream_tensor(qs, w, "rope_freqs.weight", FG_DT_F32, 1, (int64_t)n_freqs, &fs);
    }
    for (size_t i = 0; i < nt && !st; i++) {
        fg_synth_tensor_info(c, i, &t);
        qz_source ts;
        memset(&ts, 0, sizeof ts);
        st = src->open(src->ctx, &t, &ts);
        if (!st) st = qz_stream_tensor(qs, w, t.gguf_name, synth_gguf_tensor_type(c, o, &t), t.rows, t.cols, &ts);
    }
    qz_stream_free(qs);
    if (st) {
        fg_gguf_writer_free(w);   /* removes the part file */
        return st;
    }
    return qz_finish(w, part, path);
}

/* The synthetic streams as a row source (fg_synth_gguf_rows is thread-safe: pure). */
static void synth_rows(void *ctx, int64_t row0, int64_t n, float *out) { fg_synth_gguf_rows(ctx, row0, n, out); }

typedef struct synth_src {
    fg_synth_tensor t;
} synth_src;

static fg_status synth_open(void *ctx, const fg_synth_tensor *t, qz_source *out)
{
    synth_src *s = ctx;
    s->t = *t;
    out->rows = synth_rows;
    out->ctx = &s->t;
    return FG_OK;
}

typedef struct progress_adapter {
    fg_synth_progress_fn cb;
    void *user;
} progress_adapter;

static void on_qz_progress(uint64_t done, uint64_t total, const char *tensor, void *user)
{
    (void)tensor;
    progress_adapter *a = user;
    a->cb(done, total, a->user);
}

static fg_status write_gguf(const fg_synth_config *c, const char *path, fg_dtype dt, fg_quant_mix mix, int n_threads,
                            const synth_vocab *v, fg_synth_progress_fn cb, void *user)
{
    progress_adapter pa = {cb, user};
    synth_gguf_out o = {mix, dt, n_threads, cb ? on_qz_progress : NULL, &pa};
    synth_src ss;
    synth_gguf_rows src = {synth_open, &ss};
    return synth_write_gguf(c, path, &o, v, &src);
}

/* ---- entry points ------------------------------------------------------------------------------ */

fg_status synth_vocab_for_gguf(const char *dir, int64_t vocab_cut, int64_t vocab_size, synth_vocab *v)
{
    fg_status st = synth_vocab_load(dir, vocab_cut, v);
    if (st) return st;
    if ((int64_t)v->n > vocab_size) {
        fg_error(FG_ERR_ARG, "%s: the tokenizer has %u token ids but vocab_size is %lld (set vocab_cut to keep fewer)",
                 dir, v->n, (long long)vocab_size);
        synth_vocab_free(v);
        return FG_ERR_ARG;
    }
    /* one token per embedding row, "[PAD<id>]" beyond the tokenizer */
    if ((st = synth_vocab_pad_to(v, (uint32_t)vocab_size))) synth_vocab_free(v);
    return st;
}

static fg_status synth_gguf(const fg_synth_config *c, const char *out_path, fg_dtype dt, fg_quant_mix mix, int n_threads,
                            const char *tokenizer_dir, fg_synth_progress_fn cb, void *user)
{
    synth_vocab v;
    memset(&v, 0, sizeof v);
    fg_status st;
    if (tokenizer_dir && (st = synth_vocab_for_gguf(tokenizer_dir, c->vocab_cut, c->hf.vocab_size, &v))) return st;
    st = write_gguf(c, out_path, dt, mix, n_threads, tokenizer_dir ? &v : NULL, cb, user);
    synth_vocab_free(&v);
    return st;
}

fg_status fg_synth_write_model(const fg_synth_config *c, const char *out_path, fg_synth_format fmt, fg_dtype dtype,
                               const char *tokenizer_dir, fg_synth_progress_fn cb, void *user)
{
    if (!c || !out_path || !*out_path) return fg_error(FG_ERR_ARG, "fg_synth_write_model: no config or output path");
    if (fmt != FG_SYNTH_HF && fmt != FG_SYNTH_GGUF) return fg_error(FG_ERR_ARG, "fg_synth_write_model: bad format");
    if (dtype != FG_DT_F32 && dtype != FG_DT_F16 && dtype != FG_DT_BF16)
        return fg_error(FG_ERR_ARG, "synthetic model: dtype %s is not f32, f16 or bf16", fg_dtype_name(dtype));
    if (fmt == FG_SYNTH_GGUF) return synth_gguf(c, out_path, dtype, FG_QMIX_NONE, 0, tokenizer_dir, cb, user);
    synth_vocab v;
    memset(&v, 0, sizeof v);
    fg_status st = FG_OK;
    if (tokenizer_dir) {
        st = synth_vocab_load(tokenizer_dir, c->vocab_cut, &v);
        if (st) return st;
        if ((int64_t)v.n > c->hf.vocab_size) {
            fg_error(FG_ERR_ARG, "%s: the tokenizer has %u token ids but vocab_size is %lld (set vocab_cut to keep fewer)",
                     tokenizer_dir, v.n, (long long)c->hf.vocab_size);
            synth_vocab_free(&v);
            return FG_ERR_ARG;
        }
    }
    streamer s;
    if (!(st = streamer_init(&s, c, cb, user))) {
        st = write_hf(c, out_path, dtype, tokenizer_dir, tokenizer_dir ? &v : NULL, &s);
        streamer_free(&s);
    }
    synth_vocab_free(&v);
    return st;
}

fg_status fg_synth_write_quant(const fg_synth_config *c, const char *out_path, fg_quant_mix mix, int n_threads,
                               const char *tokenizer_dir, fg_synth_progress_fn cb, void *user)
{
    if (!c || !out_path || !*out_path) return fg_error(FG_ERR_ARG, "fg_synth_write_quant: no config or output path");
    if ((unsigned)mix >= FG_QMIX_COUNT || mix == FG_QMIX_NONE)
        return fg_error(FG_ERR_ARG, "fg_synth_write_quant: no quantization mixture given");
    return synth_gguf(c, out_path, FG_DT_F32, mix, n_threads, tokenizer_dir, cb, user);
}

fg_status fg_synth_write(const char *config_json_path, const char *out_path, fg_synth_format fmt, fg_dtype dtype,
                         const char *tokenizer_dir, fg_synth_progress_fn cb, void *user)
{
    fg_synth_config c;
    fg_status st = fg_synth_config_load(config_json_path, NULL, 0, &c);
    if (st) return st;
    return fg_synth_write_model(&c, out_path, fmt, dtype, tokenizer_dir, cb, user);
}
