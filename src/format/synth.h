/* Synthetic models: deterministic random-weight checkpoints with the exact shapes,
 * tensor names and dtypes of real Qwen2/Qwen2.5, Qwen3 and Llama checkpoints, as
 * defined bit for bit by docs/SYNTHETIC-SPEC.md (spec version 1).
 *
 * Values are computed on demand: element i of a tensor depends only on the seed, the
 * tensor's Hugging Face name and i (splitmix64 is a counter-based stream), so any slice
 * of any tensor can be produced directly and full-size models are written streaming,
 * in constant memory (one chunk of rows at a time). */
#ifndef FG_SYNTH_H
#define FG_SYNTH_H

#include "core/status.h"
#include "format/format.h"
#include "format/quant_mix.h"

typedef enum fg_synth_format { FG_SYNTH_HF = 0, FG_SYNTH_GGUF } fg_synth_format;

typedef struct fg_synth_config {
    fg_hf_config hf;       /* shapes and hyperparameters (Hugging Face field names) */
    char name[128];        /* "name" of the config */
    uint64_t seed;
    int64_t vocab_cut;     /* 0: the whole tokenizer; N: only ids < N (see the spec) */
    bool head_dim_given;   /* the config states head_dim (then config.json states it too) */
} fg_synth_config;

/* ---- configs ---------------------------------------------------------------------------
 * The built-in full-size shapes of the spec ("qwen2.5-0.5b", "qwen2.5-1.5b",
 * "qwen2.5-3b", "qwen3-0.6b", "llama-3.2-1b"): their config JSON, NULL if unknown. */
const char *fg_synth_builtin_json(const char *shape);
/* NULL-terminated list of the built-in shape names. */
const char *const *fg_synth_builtin_names(void);

/* Parses a synthetic config (JSON text). `sets` are "key=value" overrides applied
 * before validation: key is a top-level field or "rope_scaling.<field>", value a
 * number, true/false, null, or else a string; "seed=N" takes any 64-bit integer
 * exactly. Errors (FG_ERR_FORMAT / FG_ERR_ARG) name the field. */
fg_status fg_synth_config_parse(const char *json, size_t len, const char *what, const char *const *sets,
                                size_t n_sets, fg_synth_config *out);
/* The same from a file path, or from a built-in shape name. */
fg_status fg_synth_config_load(const char *path_or_shape, const char *const *sets, size_t n_sets,
                               fg_synth_config *out);

/* ---- tensors ---------------------------------------------------------------------------- */
typedef enum fg_synth_kind {
    FG_SYNTH_EMBED,        /* v */
    FG_SYNTH_LINEAR,       /* v * s(in), s(in) = (float)sqrt(3.0 / in); also lm_head */
    FG_SYNTH_NORM,         /* 1.0f + 0.25f * v */
    FG_SYNTH_BIAS,         /* 0.5f * v */
} fg_synth_kind;

typedef struct fg_synth_tensor {
    char name[96];         /* Hugging Face name (seeds the stream; the safetensors name) */
    char gguf_name[64];    /* GGUF name */
    fg_synth_kind kind;
    uint32_t n_dims;       /* 1 or 2 */
    int64_t rows, cols;    /* HF shape [rows, cols], row-major; 1-D tensors: rows = 1 */
    float scale;           /* s(in) for LINEAR, else 1 */
    uint64_t state0;       /* seed XOR fnv1a64(name) */
    int64_t gguf_permute_heads; /* llama q_proj/k_proj: heads whose rows GGUF interleaves; 0 */
} fg_synth_tensor;

/* Tensors in the spec's order (embed, per layer ..., norm, lm_head when untied). */
size_t fg_synth_n_tensors(const fg_synth_config *c);
void fg_synth_tensor_info(const fg_synth_config *c, size_t i, fg_synth_tensor *out);
/* Elements [first, first + n) of the tensor in HF row-major order. */
void fg_synth_values(const fg_synth_tensor *t, uint64_t first, size_t n, float *out);
/* Rows [row0, row0 + n_rows) of the tensor as GGUF stores them (llama q/k rows permuted
 * from the half-split layout of HF to interleaved pairs; otherwise the HF rows). */
void fg_synth_gguf_rows(const fg_synth_tensor *t, int64_t row0, int64_t n_rows, float *out);
/* The Hugging Face row that GGUF row r of tensor t holds (r itself unless permuted). */
int64_t fg_synth_gguf_src_row(const fg_synth_tensor *t, int64_t r);

uint64_t fg_synth_fnv1a64(const void *data, size_t n);
float fg_synth_scale(int64_t in);
/* llama3 rope scaling as GGUF's rope_freqs.weight: head_dim/2 divisors freq_orig/freq_new
 * (1 for high frequencies, `factor` for low ones, a smooth blend between). Returns the
 * count written (0 when the config has no llama3 scaling or cap is too small). */
size_t fg_synth_rope_freqs(const fg_synth_config *c, float *out, size_t cap);

/* ---- writing ------------------------------------------------------------------------------
 * HF: out_path is a directory (created; may exist) receiving config.json,
 * model.safetensors and, with a tokenizer, tokenizer.json and tokenizer_config.json.
 * GGUF: out_path is the file. dtype: F32, F16 or BF16 (GGUF keeps 1-D tensors F32).
 * tokenizer_dir holds tokenizer.json (and optionally tokenizer_config.json); NULL writes
 * no tokenizer. On failure nothing partial is left behind. */
typedef void (*fg_synth_progress_fn)(uint64_t done_bytes, uint64_t total_bytes, void *user);
fg_status fg_synth_write_model(const fg_synth_config *c, const char *out_path, fg_synth_format fmt, fg_dtype dtype,
                               const char *tokenizer_dir, fg_synth_progress_fn cb, void *user);
/* GGUF straight in a quantization mixture (q8_0, q4_0, q4_k_m, q5_k_m, q6_k, f16, bf16;
 * format/quant_mix.h decides each tensor's type, as `frugal quantize` does): values are
 * produced, quantized and written chunk of rows by chunk of rows on n_threads threads
 * (0: the physical cores), in constant memory. The bytes are those `frugal quantize`
 * writes from the F32 model, whatever the thread count. */
fg_status fg_synth_write_quant(const fg_synth_config *c, const char *out_path, fg_quant_mix mix, int n_threads,
                               const char *tokenizer_dir, fg_synth_progress_fn cb, void *user);
/* Convenience: load the config (path or built-in shape) and write. */
fg_status fg_synth_write(const char *config_json_path, const char *out_path, fg_synth_format fmt, fg_dtype dtype,
                         const char *tokenizer_dir, fg_synth_progress_fn cb, void *user);

#endif
