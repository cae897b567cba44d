/* Internals of the model part, shared by load.c, session.c and forward.c. */
#ifndef FG_MODEL_IMPL_H
#define FG_MODEL_IMPL_H

#include "mem/mem.h"
#include "model/model.h"

/* One decoder layer. Shapes as [rows x cols] (rows = output features):
 *   attn_norm [n_embd]                 ffn_norm [n_embd]
 *   wq [n_head*hd x n_embd]            bq [n_head*hd]      (qwen2)
 *   wk [n_head_kv*hd x n_embd]         bk [n_head_kv*hd]   (qwen2)
 *   wv [n_head_kv*hd x n_embd]         bv [n_head_kv*hd]   (qwen2)
 *   q_norm, k_norm [hd]                                   (qwen3)
 *   wo [n_embd x n_head*hd]
 *   w_gate, w_up [n_ff x n_embd]       w_down [n_embd x n_ff]
 * Vectors are float32 (converted into owned memory when the file stores them otherwise). */
typedef struct fg_layer {
    const float *attn_norm, *ffn_norm;
    const float *bq, *bk, *bv;
    const float *q_norm, *k_norm;
    fg_mat wq, wk, wv, wo;
    fg_mat w_gate, w_up, w_down;
} fg_layer;

struct fg_model {
    fg_hparams hp;
    fg_gguf *gguf;            /* one of gguf / st is set */
    fg_safetensors *st;
    char *dir;                /* HF directory */
    fg_mat tok_embd;          /* [n_vocab x n_embd] */
    fg_mat output;            /* [n_vocab x n_embd]; == tok_embd when tied */
    const float *output_norm; /* [n_embd] */
    double *rope_inv_freq;    /* [hd/2] per-pair angular frequency (scaling applied) */
    fg_layer *layers;
    void **owned;             /* owned vector copies, freed with the model */
    size_t n_owned, cap_owned;
    int n_threads;
    int quant;                /* fg_quant_mix applied while loading */
    fg_pool *conv_pool;       /* threads for quantize-on-load, freed after loading */
    bool registered;          /* mappings registered with the accounting */
    int n_mats, n_converted;  /* matrices bound, and of those converted while loading */
};

/* Quantize-on-load converts this many source bytes at a time, then drops their pages. */
#define FG_CONVERT_CHUNK ((size_t)16 << 20)

/* Binding helpers of load.c for the two file kinds. */
fg_status fg_model_bind_gguf(fg_model *m);
fg_status fg_model_bind_hf(fg_model *m, const fg_hf_config *cfg);
/* Computes rope_inv_freq from theta, head_dim and optional llama3 scaling / divisors. */
fg_status fg_model_init_rope(fg_model *m, const fg_hf_config *cfg, const float *freq_divisors);

struct fg_session {
    fg_model *model;
    fg_pool *pool;
    int64_t n_ctx, n_past;
    int n_batch;
    struct fg_budget *budget;
    /* KV cache: per layer one region for K and one for V, each [n_ctx] rows of
     * n_head_kv*hd elements in kv_type (F32, F16 or Q8_0 blocks of 32 along the row,
     * so each head's slice is whole blocks), reserved for the whole context and
     * committed as positions arrive. */
    fg_region *k_cache, *v_cache;
    fg_dtype kv_type;
    size_t kv_row_bytes;
    int32_t *tokens;   /* [n_ctx] ids of the cached positions (prefix reuse) */
    fg_profile *prof;  /* one-token steps add their phase times here (NULL: off) */
    /* Scratch arena (one region, committed at creation): activations for n_batch tokens. */
    fg_region scratch;
    float *x;      /* [n_batch x n_embd]   residual stream */
    float *h;      /* [n_batch x n_embd]   normed input */
    float *q;      /* [n_batch x n_head*hd] */
    float *k, *v;  /* [n_batch x n_head_kv*hd] */
    float *att;    /* [n_batch x n_head*hd] attention output */
    float *gate, *up; /* [n_batch x n_ff] */
    float *rope_cs; /* [n_batch x hd/2 x 2] cos, sin of the chunk's positions */
    void *work;    /* matmul work buffer */
    size_t work_size;
    /* Attention scratch: one region per thread (n_attn = the pool's threads), reserved
     * for the whole context and committed with the KV cache as positions arrive: 2 x hd
     * rows dequantized from the cache, then the group's scores packed n_keys apart, so
     * what is resident grows with the positions used, not with the context reserved. */
    fg_region *attn;
    int n_attn;
};

/* The scratch arena: SCRATCH_BUFS float buffers (element counts into sizes) plus the
 * matmul work area; returns the arena's bytes. Shared by sessions and the planner. */
#define SCRATCH_BUFS 9
/* The feed-forward block of a prefill chunk runs FG_FFN_ROWS tokens at a time, so its
 * two n_ff-wide buffers (gate, up) are sized for that many rows, not the whole chunk:
 * for a 3B model at 256-token chunks 21.5 MiB become 10.8 MiB, for the price of reading
 * (and, on AMX, converting to BF16) the FFN weights once per 128 tokens instead of once
 * per chunk. 128 rather than 64: prefill of 392 tokens on AMX 1.10-1.26x faster (0.5B
 * Q8_0, 1.5B Q4_K_M) for 2.4 and 4.4 MiB more. */
#define FG_FFN_ROWS 128
static inline int64_t fg_ffn_rows(int64_t n_batch) { return n_batch < FG_FFN_ROWS ? n_batch : FG_FFN_ROWS; }
size_t fg_scratch_layout(const fg_hparams *hp, int n_batch, size_t work, size_t sizes[SCRATCH_BUFS]);
/* Bytes of one thread's attention scratch for n_pos positions (committed page by page):
 * the scores of a kv head's query heads, two rows of dequantized cache, and, where the
 * CPU has the AMX path and the shapes suit it (fg_attn_amx_fits), one kv head's keys and
 * values in tile order (fg_amx_keys, fg_amx_values: 4 * head_dim bytes a position each)
 * after a 64-byte boundary. */
size_t fg_attn_scratch_bytes(const fg_hparams *hp, int64_t n_pos);
/* where the converted keys (then the values) start in a slice used for n_pos positions */
size_t fg_attn_kv_offset(const fg_hparams *hp, int64_t n_pos);
bool fg_attn_amx_fits(const fg_hparams *hp);
/* The AMX attention converts the cached keys and values in windows of this many
 * positions (8 * head_dim bytes a position per thread: 512 KiB at head_dim 64, within
 * L2 while a chunk's tokens pass), with an online softmax across the windows, so the
 * copies stay this size whatever the context. */
#define FG_ATTN_AMX_WINDOW 1024

#endif
