/* format: read-only file mapping, the GGUF v2/v3 reader and streaming writer, the
 * safetensors reader (single file and sharded), and Hugging Face config.json.
 *
 * Everything read from a file is validated against the file size before use: a
 * truncated or hostile file yields FG_ERR_FORMAT with a one-line message naming the
 * file and the problem (fg_last_error()), never a crash or SIGBUS. Tensor data are views
 * into the read-only mapping; nothing is copied. */
#ifndef FG_FORMAT_H
#define FG_FORMAT_H

#include "core/core.h"

/* ---- mapped files ------------------------------------------------------------------ */
typedef struct fg_file {
    const uint8_t *data;  /* read-only mapping of the whole file (NULL for an empty file) */
    size_t size;
    char *path;           /* owned copy */
} fg_file;
fg_status fg_file_map(const char *path, fg_file *out);
void fg_file_unmap(fg_file *f);

/* A length-delimited string, usually pointing into a mapping (not NUL-terminated). */
typedef struct fg_str {
    const char *ptr;
    uint64_t len;
} fg_str;
bool fg_str_eq(fg_str s, const char *cstr);

/* ---- GGUF ----------------------------------------------------------------------------
 * Metadata value types, numbered as in the GGUF specification. */
typedef enum fg_gguf_type {
    FG_GGUF_U8 = 0, FG_GGUF_I8 = 1, FG_GGUF_U16 = 2, FG_GGUF_I16 = 3, FG_GGUF_U32 = 4,
    FG_GGUF_I32 = 5, FG_GGUF_F32 = 6, FG_GGUF_BOOL = 7, FG_GGUF_STRING = 8,
    FG_GGUF_ARRAY = 9, FG_GGUF_U64 = 10, FG_GGUF_I64 = 11, FG_GGUF_F64 = 12,
    FG_GGUF_TYPE_COUNT
} fg_gguf_type;

typedef struct fg_gguf_kv {
    fg_str key;
    fg_gguf_type type;      /* FG_GGUF_ARRAY for arrays */
    fg_gguf_type arr_type;  /* element type of an array */
    uint64_t arr_n;         /* element count of an array */
    const uint8_t *value;   /* the value (for arrays: the first element) in the mapping */
} fg_gguf_kv;

typedef struct fg_gguf_tensor {
    fg_str name;
    uint32_t n_dims;
    uint64_t ne[4];         /* GGUF order: ne[0] is the innermost (contiguous) dimension */
    uint32_t ggml_type;     /* raw type id from the file */
    fg_dtype dtype;         /* FG_DT_INVALID when the type is not one frugal computes with */
    uint64_t offset;        /* relative to the data section */
    uint64_t nbytes;
    const void *data;       /* into the mapping */
} fg_gguf_tensor;

typedef struct fg_gguf {
    fg_file file;
    uint32_t version;       /* 2 or 3 */
    uint64_t n_kv;
    fg_gguf_kv *kv;
    uint64_t n_tensors;
    fg_gguf_tensor *tensors;
    uint64_t alignment;     /* general.alignment, default 32 */
    uint64_t data_offset;   /* start of the tensor data section */
} fg_gguf;

/* Opens and fully validates: magic, version (2 or 3), every string and array length,
 * every metadata type, tensor dims/types, offsets aligned, inside the file and not
 * overlapping. Tensors of types frugal does not compute with still load (dtype
 * FG_DT_INVALID) so `inspect` can show them; the model loader rejects them. */
fg_status fg_gguf_open(const char *path, fg_gguf **out);
void fg_gguf_close(fg_gguf *g);
const fg_gguf_kv *fg_gguf_find(const fg_gguf *g, const char *key);
const fg_gguf_tensor *fg_gguf_find_tensor(const fg_gguf *g, const char *name);
/* Typed getters: return false when the key is absent or not convertible (any integer
 * type converts to an integer that can hold its value; F32/F64 to double; BOOL). */
bool fg_gguf_get_u64(const fg_gguf *g, const char *key, uint64_t *out);
bool fg_gguf_get_i64(const fg_gguf *g, const char *key, int64_t *out);
bool fg_gguf_get_f64(const fg_gguf *g, const char *key, double *out);
bool fg_gguf_get_bool(const fg_gguf *g, const char *key, bool *out);
bool fg_gguf_get_str(const fg_gguf *g, const char *key, fg_str *out);
/* Array access. Numeric element i: fg_gguf_arr_* (false if out of range / wrong type).
 * String arrays are walked in order with an iterator (strings are variable-length). */
bool fg_gguf_arr_i64(const fg_gguf_kv *kv, uint64_t i, int64_t *out);
bool fg_gguf_arr_f64(const fg_gguf_kv *kv, uint64_t i, double *out);
typedef struct fg_gguf_str_iter {
    const uint8_t *p, *end;
    uint64_t i, n;
} fg_gguf_str_iter;
void fg_gguf_str_iter_init(const fg_gguf *g, const fg_gguf_kv *kv, fg_gguf_str_iter *it);
bool fg_gguf_str_iter_next(fg_gguf_str_iter *it, fg_str *out);
const char *fg_gguf_type_name(fg_gguf_type t);
/* Name of a ggml tensor type id ("q8_0", "iq4_xs", ...); NULL for an unknown id. */
const char *fg_ggml_type_name(uint32_t ggml_type);
/* Renders a scalar value or a short array summary, for `frugal inspect`. */
void fg_gguf_kv_format(const fg_gguf_kv *kv, char *buf, size_t size);

/* Streaming GGUF v3 writer. Declare metadata and tensors, then begin() writes the header,
 * metadata, tensor infos and padding; then the tensors' bytes are written in declaration
 * order with write_data (any number of calls per tensor; the writer pads between
 * tensors and checks that each tensor gets exactly its size); finish() checks all data
 * was written, flushes and closes. Peak memory is the metadata, never the tensors. */
typedef struct fg_gguf_writer fg_gguf_writer;
fg_status fg_gguf_writer_create(fg_gguf_writer **out);
void fg_gguf_writer_free(fg_gguf_writer *w);   /* also closes (and removes) an unfinished file */
fg_status fg_gguf_w_u32(fg_gguf_writer *w, const char *key, uint32_t v);
fg_status fg_gguf_w_i32(fg_gguf_writer *w, const char *key, int32_t v);
fg_status fg_gguf_w_u64(fg_gguf_writer *w, const char *key, uint64_t v);
fg_status fg_gguf_w_f32(fg_gguf_writer *w, const char *key, float v);
fg_status fg_gguf_w_bool(fg_gguf_writer *w, const char *key, bool v);
fg_status fg_gguf_w_str(fg_gguf_writer *w, const char *key, const char *v, size_t len);
/* Numeric array of `n` elements of type `t` (raw little-endian bytes in `data`). */
fg_status fg_gguf_w_arr(fg_gguf_writer *w, const char *key, fg_gguf_type t, const void *data, uint64_t n);
/* String array: element i is strs[i] with length lens[i]. */
fg_status fg_gguf_w_arr_str(fg_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens, uint64_t n);
/* Copies a key/value (any type) from an open GGUF, e.g. to carry the tokenizer over. */
fg_status fg_gguf_w_copy_kv(fg_gguf_writer *w, const fg_gguf *src, const fg_gguf_kv *kv);
/* ne in GGUF order (ne[0] innermost). */
fg_status fg_gguf_w_tensor(fg_gguf_writer *w, const char *name, fg_dtype dt, uint32_t n_dims, const uint64_t *ne);
fg_status fg_gguf_w_begin(fg_gguf_writer *w, const char *path);
fg_status fg_gguf_w_data(fg_gguf_writer *w, const void *data, size_t n);
fg_status fg_gguf_w_finish(fg_gguf_writer *w);

/* ---- safetensors ----------------------------------------------------------------------
 * `path` is a .safetensors file, or a directory holding model.safetensors or
 * model.safetensors.index.json (sharded: every shard named in weight_map is mapped). */
typedef struct fg_st_tensor {
    char *name;
    fg_dtype dtype;         /* F32, F16, BF16; FG_DT_INVALID for other dtypes */
    char dtype_name[8];     /* as in the header: "F32", "I64", ... */
    uint32_t n_dims;
    uint64_t shape[4];      /* safetensors order: shape[0] outermost (rows), last innermost */
    uint64_t nbytes;
    const void *data;       /* into the mapping */
} fg_st_tensor;

typedef struct fg_safetensors {
    int n_files;
    fg_file *files;
    size_t n_tensors;
    fg_st_tensor *tensors;
} fg_safetensors;

fg_status fg_st_open(const char *path, fg_safetensors **out);
void fg_st_close(fg_safetensors *st);
const fg_st_tensor *fg_st_find(const fg_safetensors *st, const char *name);

/* Writes one safetensors file, streaming like the GGUF writer: declare tensors (shape in
 * safetensors order), begin(), then each tensor's bytes in declaration order. */
typedef struct fg_st_writer fg_st_writer;
fg_status fg_st_writer_create(fg_st_writer **out);
void fg_st_writer_free(fg_st_writer *w);
fg_status fg_st_w_tensor(fg_st_writer *w, const char *name, fg_dtype dt, uint32_t n_dims, const uint64_t *shape);
fg_status fg_st_w_begin(fg_st_writer *w, const char *path);
fg_status fg_st_w_data(fg_st_writer *w, const void *data, size_t n);
fg_status fg_st_w_finish(fg_st_writer *w);

/* ---- Hugging Face config.json ------------------------------------------------------- */
typedef enum fg_arch { FG_ARCH_UNKNOWN = 0, FG_ARCH_LLAMA, FG_ARCH_QWEN2, FG_ARCH_QWEN3 } fg_arch;
const char *fg_arch_name(fg_arch a);
fg_arch fg_arch_from_name(const char *name);  /* "llama", "qwen2", "qwen3" (also model_type values) */

typedef struct fg_hf_config {
    fg_arch arch;
    char model_type[32];
    int64_t hidden_size, intermediate_size, n_layers, n_heads, n_kv_heads, head_dim;
    int64_t vocab_size, max_position_embeddings;
    double rope_theta, rms_norm_eps;
    bool tie_word_embeddings;
    int64_t bos_token_id, eos_token_id;   /* -1 when absent */
    char torch_dtype[16];
    /* rope_scaling (llama3 type only; others are rejected as unsupported) */
    bool rope_llama3;
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int64_t rope_original_max_pos;
} fg_hf_config;

/* Parses <dir>/config.json (or the given .json path) with cJSON. Missing required
 * fields, wrong types and absurd values (non-positive sizes, heads not dividing, ...)
 * give FG_ERR_FORMAT naming the field. */
fg_status fg_hf_config_load(const char *path, fg_hf_config *out);
/* The same from an in-memory JSON text (the synthetic generator parses its configs with it). */
fg_status fg_hf_config_parse(const char *json, size_t len, const char *what, fg_hf_config *out);

#endif
