/* model: one decoder for the llama, qwen2 and qwen3 families (flags, not copies):
 * binding weights from a mapped GGUF file or Hugging Face safetensors checkpoint,
 * the KV cache, and the forward pass (batched prefill, single-token decode).
 *
 * fg_model holds the weights (views into the read-only file mapping) and the
 * hyperparameters; fg_session holds what one conversation needs: the KV cache,
 * the scratch arena and the thread pool. */
#ifndef FG_MODEL_H
#define FG_MODEL_H

#include "core/core.h"
#include "format/format.h"

typedef struct fg_hparams {
    fg_arch arch;
    int64_t n_vocab;       /* rows of the embedding / output matrix */
    int64_t n_embd;        /* hidden size */
    int64_t n_layer;
    int64_t n_head, n_head_kv, head_dim;
    int64_t n_ff;          /* intermediate size */
    int64_t n_ctx_train;   /* max_position_embeddings / context_length */
    double rope_theta;
    double norm_eps;
    bool rope_interleaved; /* pairs (2i, 2i+1): llama GGUF files (q/k rows permuted) */
    bool has_qkv_bias;     /* qwen2 */
    bool has_qk_norm;      /* qwen3: per-head RMSNorm of q and k */
    bool tied_output;      /* output matrix is the embedding matrix */
    bool rope_scaled;      /* per-frequency divisors in use (llama3 scaling) */
    int64_t bos_id, eos_id; /* -1 when unknown */
} fg_hparams;

typedef struct fg_model_params {
    int n_threads;         /* 0: the machine's physical cores */
    /* Quantize while loading (e.g. an HF BF16 checkpoint to q8_0 / q4_k_m; see
     * format/quant_mix.h): tensor by tensor from the mapping into owned memory, the
     * source pages dropped after each tensor, so the peak is the converted weights plus
     * one source tensor. FG_QMIX_NONE (0): compute with the file's types. */
    int quant;             /* an fg_quant_mix */
    bool mlock;            /* lock the weights in RAM (mlock): never paged out */
} fg_model_params;
fg_model_params fg_model_default_params(void);

typedef struct fg_model fg_model;

/* path: a .gguf file or a Hugging Face directory (config.json + safetensors). Checks
 * every tensor the architecture needs is present with the right shape and a dtype
 * frugal computes with; errors name the tensor. */
fg_status fg_model_load(const char *path, const fg_model_params *params, fg_model **out);
void fg_model_free(fg_model *m);
const fg_hparams *fg_model_hparams(const fg_model *m);
/* The open GGUF (tokenizer metadata, inspect), or NULL for an HF directory. */
const fg_gguf *fg_model_gguf(const fg_model *m);
/* The HF directory, or NULL for a GGUF file. */
const char *fg_model_dir(const fg_model *m);
/* Bytes of weights the forward pass reads for one token (all matrices but the
 * embedding table, which is read one row at a time), for bandwidth ceilings. */
uint64_t fg_model_weight_bytes_per_token(const fg_model *m);
/* Those bytes as the ranges a token's forward pass reads, in its order: fills out[0..cap)
 * and returns how many there are (n_layer * 7 + 1). */
int64_t fg_model_weight_spans(const fg_model *m, fg_span *out, int64_t cap);
/* Total bytes of all weight tensors. */
uint64_t fg_model_weight_bytes(const fg_model *m);

/* ---- sessions ---------------------------------------------------------------------- */
typedef struct fg_session_params {
    int64_t n_ctx;         /* positions the KV cache can hold; 0: min(n_ctx_train, 4096) */
    int n_batch;           /* most tokens computed in one forward step (scratch sized for it) */
    int n_threads;         /* 0: the model's default */
    struct fg_budget *budget; /* KV growth is checked against it (NULL: unchecked) */
    fg_dtype kv_type;      /* KV cache storage: F32, F16 (default) or Q8_0 */
} fg_session_params;
fg_session_params fg_session_default_params(void);

typedef struct fg_session fg_session;
fg_status fg_session_create(fg_model *m, const fg_session_params *params, fg_session **out);
void fg_session_free(fg_session *s);
int64_t fg_session_n_past(const fg_session *s);
int64_t fg_session_n_ctx(const fg_session *s);
int64_t fg_session_n_vocab(const fg_session *s);   /* rows of the logits */
fg_model *fg_session_model(const fg_session *s);
/* Forgets positions >= n_past (n_past <= the current count): reuse a prefix or reset (0). */
void fg_session_truncate(fg_session *s, int64_t n_past);
/* The token ids held in the cache (n_past of them). */
const int32_t *fg_session_tokens(const fg_session *s);
/* Length of the common prefix of the cached tokens and ids[0..n). */
int64_t fg_session_common_prefix(const fg_session *s, const int32_t *ids, int64_t n);
/* Bytes of KV cache one position takes (all layers, K and V). */
size_t fg_session_kv_bytes_per_token(const fg_session *s);
/* The rate in GB/s at which the session's threads stream the bytes one token reads
 * (fg_model_weight_spans, read in place: nothing is allocated but the list of ranges),
 * best of `passes` passes: the ceiling decode is compared with. -1 with fg_last_error(). */
double fg_session_weight_read_rate(fg_session *s, int passes);
/* Positions per window of the AMX prefill attention (forward.c): FG_ATTN_AMX_WINDOW by
 * default and at most; tests lower it so that short prompts walk several windows. n <= 0
 * only reads it. Returns the value before the call. Process-wide. */
int64_t fg_attn_amx_window(int64_t n);

/* Decode profile: where the time of one-token steps goes. While a profile is set
 * (fg_session_set_profile), every fg_session_eval chunk of one token adds, per phase,
 * the seconds it took (monotonic clock, read at each phase boundary: ~9 readings per
 * layer) and the weight bytes its matrix products read; chunks of several tokens
 * (prefill) are not counted. Phases, in the order of a step:
 *   embed      token embedding row and the rope table
 *   attn_norm  the attention norm
 *   qkv        the q, k and v products
 *   attention  biases, norms, rope, the cache write and the attention itself
 *   attn_out   the output projection and the residual add
 *   ffn_norm   the feed-forward norm
 *   gate_up    gate and up products and silu(gate) * up
 *   down       the down projection and the residual add
 *   output     the final norm and the logits product */
#define FG_PROF_PHASES 9
typedef struct fg_profile {
    double seconds[FG_PROF_PHASES];
    double weight_bytes[FG_PROF_PHASES]; /* read by the phase's products; 0 for the others */
    int64_t steps;                        /* one-token steps counted */
} fg_profile;
const char *fg_profile_phase_name(int phase);
/* Counts into p from now on (p is not cleared); NULL stops. */
void fg_session_set_profile(fg_session *s, fg_profile *p);

typedef enum fg_logits_mode {
    FG_LOGITS_NONE = 0,    /* fill the cache only */
    FG_LOGITS_LAST,        /* logits of the last token: n_vocab floats */
    FG_LOGITS_ALL,         /* logits of every token: n x n_vocab floats */
} fg_logits_mode;

/* Runs n tokens at positions n_past .. n_past+n-1 (in chunks of n_batch) and appends
 * them to the cache. logits receives n_vocab (LAST) or n*n_vocab (ALL) floats.
 * FG_ERR_CONTEXT if the tokens do not fit; FG_ERR_ARG for an id out of range. Nothing is
 * allocated here beyond committing KV pages. */
fg_status fg_session_eval(fg_session *s, const int32_t *ids, int64_t n, fg_logits_mode mode, float *logits);

#endif
