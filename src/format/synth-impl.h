/* Internal to the synthetic-model generator: the tokenizer carried into its output.
 *
 * tokenizer.json is read with a small streaming JSON scanner over the mapped file
 * rather than a DOM parser: a DOM of Qwen's 151k-token vocabulary and 151k merges costs
 * ~60 MB of nodes, more than a whole synthetic model run is allowed. The vocabulary lives
 * in one blob with per-id offsets, the merges ("a b") in another. */
#ifndef FG_FORMAT_SYNTH_IMPL_H
#define FG_FORMAT_SYNTH_IMPL_H

#include "format/quantize-impl.h"
#include "format/synth.h"

/* GGUF token types (llama.cpp's llama_token_type) */
enum {
    SYNTH_TOK_NORMAL = 1,
    SYNTH_TOK_CONTROL = 3,      /* special added tokens, and added tokens that look special */
    SYNTH_TOK_USER_DEFINED = 4, /* other added tokens */
    SYNTH_TOK_UNUSED = 5,       /* "[PAD<id>]" rows without a token */
};

typedef struct synth_vocab {
    uint32_t n;                /* ids 0..n-1 */
    char *blob;
    size_t blob_len, blob_cap;
    uint64_t *off;             /* per id: token bytes at blob + off[id], len[id] bytes */
    uint32_t *len;
    int32_t *type;
    uint32_t n_merges;         /* merges "a b", in rank order */
    char *mblob;
    size_t mblob_len, mblob_cap;
    uint64_t *moff;
    uint32_t *mlen;
    bool merges_as_pairs;      /* tokenizer.json spells merges as ["a", "b"] */
    const char *pre;           /* tokenizer.ggml.pre: "qwen2", or "llama-bpe" for Llama 3 */
    uint32_t *hash;            /* open addressing over token bytes: id + 1, 0 empty */
    uint32_t hash_cap;         /* a power of two */
    /* from tokenizer_config.json */
    char *chat_template;       /* NULL when absent */
    int add_bos, add_eos;      /* -1 when absent */
    char *pad_token;           /* NULL when absent */
} synth_vocab;

/* Loads <dir>/tokenizer.json (byte-level BPE) and <dir>/tokenizer_config.json (optional).
 * vocab_cut N > 0 keeps the tokens with id < N, the merges whose parts and result are
 * kept, and no added tokens. Holes in the ids become "[PAD<id>]" (type UNUSED). */
fg_status synth_vocab_load(const char *dir, int64_t vocab_cut, synth_vocab *v);
/* Appends "[PAD<id>]" UNUSED entries up to n ids (llama.cpp's converter does the same
 * for embedding rows beyond the tokenizer, e.g. Qwen's 151936 rows for 151669 tokens). */
fg_status synth_vocab_pad_to(synth_vocab *v, uint32_t n);
/* Id of a token (exact bytes) among the real tokens, or -1. */
int64_t synth_vocab_find(const synth_vocab *v, const char *s, size_t n);
void synth_vocab_free(synth_vocab *v);

/* Writes <out_dir>/tokenizer.json and tokenizer_config.json: copies of the originals,
 * or, with vocab_cut, rewritten to the cut vocabulary (vocab, merges and added tokens
 * replaced; special tokens that no longer exist dropped from the config). */
fg_status synth_write_hf_tokenizer(const char *tok_dir, const char *out_dir, int64_t vocab_cut,
                                   const synth_vocab *v);

/* Loads the tokenizer of a GGUF output: synth_vocab_load, then "[PAD<id>]" rows up to
 * vocab_size (one token per embedding row); FG_ERR_ARG when it has more ids than rows. */
fg_status synth_vocab_for_gguf(const char *dir, int64_t vocab_cut, int64_t vocab_size, synth_vocab *v);

/* ---- GGUF output, shared with `frugal quantize` (from a Hugging Face directory) ----------
 * The tensors' rows: open() validates tensor t of the list and describes where its rows
 * come from (the synthetic streams, or a safetensors mapping). */
typedef struct synth_gguf_rows {
    fg_status (*open)(void *ctx, const fg_synth_tensor *t, qz_source *out);
    void *ctx;
} synth_gguf_rows;

typedef struct synth_gguf_out {
    fg_quant_mix mix;       /* FG_QMIX_NONE: every matrix in `dtype` (F32, F16 or BF16) */
    fg_dtype dtype;
    int n_threads;
    qz_progress_fn progress;
    void *user;
} synth_gguf_out;

/* The dtype a tensor of the list gets: vectors F32; matrices `dtype`, or the mixture's. */
fg_dtype synth_gguf_tensor_type(const fg_synth_config *c, const synth_gguf_out *o, const fg_synth_tensor *t);

/* Writes the GGUF v3 file of the model c describes: the metadata llama.cpp's converter
 * writes (general.*, the <arch>.* hyperparameters, general.file_type of the mixture or
 * dtype, the tokenizer v unless NULL), rope_freqs.weight first for llama3 rope scaling,
 * then the tensors of fg_synth_tensor_info in order under their GGUF names, each in
 * synth_gguf_tensor_type. Written as "<path>.part" and renamed: on failure nothing is
 * left behind and an existing file at path is untouched. */
fg_status synth_write_gguf(const fg_synth_config *c, const char *path, const synth_gguf_out *o, const synth_vocab *v,
                           const synth_gguf_rows *src);

#endif
