/* token: tokenizers that give exactly the ids Hugging Face gives.
 *
 * Two families, both BPE:
 *  - byte-level BPE (GPT-2 style: Qwen2/2.5/3, Llama 3, SmolLM2): the text is split by
 *    the pre-tokenizer's regex (PCRE2, Unicode properties), optionally NFC-normalized,
 *    every byte of a piece is a symbol, symbols merge by rank.
 *    Loaded from tokenizer.json (model BPE + ByteLevel) or GGUF tokenizer.ggml.model=gpt2
 *    (tokenizer.ggml.pre selects the split pattern).
 *  - SentencePiece-style BPE (Llama 2, TinyLlama, Phi-3): spaces become U+2581 "▁", a
 *    "▁" is prepended, Unicode characters merge (by rank from tokenizer.json merges, or by
 *    score from GGUF tokenizer.ggml.model=llama), characters outside the vocabulary fall
 *    back to <0xNN> byte tokens.
 * Added tokens (special or not) are matched in the raw text before anything else
 * (leftmost, longest first), honouring lstrip/rstrip/single_word.
 *
 * Invalid UTF-8 in the input is replaced by U+FFFD, one per maximal invalid subpart
 * (the Unicode/WHATWG practice, what Hugging Face sees after Python/JS decoding with
 * errors="replace"), before tokenizing. Decoding produces valid UTF-8 the same way.
 *
 * Memory: token strings in one blob (from GGUF: pointers into the file mapping), an
 * open-addressing hash string -> id, merges as a hash (id pair -> rank, merged id).
 * Everything is tagged FG_MEM_TOKENIZER. A loaded tokenizer is immutable: encode and
 * decode may run concurrently from several threads. */
#ifndef FG_TOKEN_H
#define FG_TOKEN_H

#include "format/format.h"

typedef struct fg_tokenizer fg_tokenizer;

typedef enum fg_tok_kind {
    FG_TOK_BYTE_BPE = 0, /* byte-level BPE */
    FG_TOK_SPM_BPE,      /* SentencePiece-style BPE with byte fallback */
} fg_tok_kind;

/* Token types, numbered as GGUF's tokenizer.ggml.token_type. */
typedef enum fg_tok_type {
    FG_TOKT_NORMAL = 1,
    FG_TOKT_UNKNOWN = 2,
    FG_TOKT_CONTROL = 3,      /* special tokens: <|im_end|>, <s>, ... */
    FG_TOKT_USER_DEFINED = 4, /* added tokens that are not special: <think>, <tool_call> */
    FG_TOKT_UNUSED = 5,
    FG_TOKT_BYTE = 6,         /* <0xNN> byte-fallback tokens */
} fg_tok_type;

/* Loads from a Hugging Face directory (tokenizer.json, and tokenizer_config.json when
 * present: bos/eos tokens, add_bos_token, chat_template) or from a tokenizer.json path
 * (tokenizer_config.json is then looked for beside it). The JSON tree is a transient
 * peak freed before returning. */
fg_status fg_tok_load_hf(const char *path, fg_tokenizer **out);
/* The same from JSON texts in memory; config_json may be NULL. `what` names the source
 * in error messages. */
fg_status fg_tok_load_hf_json(const char *tokenizer_json, size_t len, const char *config_json,
                              size_t config_len, const char *what, fg_tokenizer **out);
/* Loads from an open GGUF (tokenizer.ggml.*, tokenizer.chat_template). Token strings and
 * scores point into g's mapping: g must stay open while the tokenizer is used. Tensor
 * data are never touched. */
fg_status fg_tok_load_gguf(const fg_gguf *g, fg_tokenizer **out);
void fg_tok_free(fg_tokenizer *t);

/* Bytes held by the tokenizer's own allocations (tables, blob, regexes' compiled form). */
size_t fg_tok_memory(const fg_tokenizer *t);

fg_tok_kind fg_tok_get_kind(const fg_tokenizer *t);
int32_t fg_tok_vocab_size(const fg_tokenizer *t);
int32_t fg_tok_bos(const fg_tokenizer *t);       /* -1 when none */
int32_t fg_tok_eos(const fg_tokenizer *t);       /* -1 when none */
bool fg_tok_add_bos_default(const fg_tokenizer *t);
/* End-of-generation: eos, and tokens such as <|im_end|>, <|eot_id|>, <|endoftext|>,
 * <|end_of_text|>, <end_of_turn>, <|end|>, </s>, <|eom_id|> (GGUF eot/eom ids too). */
bool fg_tok_is_eog(const fg_tokenizer *t, int32_t id);
/* The end-of-generation ids (sorted); *n receives the count. */
const int32_t *fg_tok_eog_ids(const fg_tokenizer *t, size_t *n);
fg_tok_type fg_tok_token_type(const fg_tokenizer *t, int32_t id); /* FG_TOKT_UNUSED if out of range */
bool fg_tok_is_special(const fg_tokenizer *t, int32_t id);         /* control (and unknown) tokens */

/* The token's piece as stored in the vocabulary ("Ġhello", "▁Hello", "<0x0A>",
 * "<|im_end|>"); not NUL-terminated. {NULL, 0} when id is out of range. */
fg_str fg_tok_piece(const fg_tokenizer *t, int32_t id);
/* Inverse of fg_tok_piece; -1 when the piece is not in the vocabulary. */
int32_t fg_tok_find(const fg_tokenizer *t, const char *piece, size_t len);
/* The bytes the token stands for in text (byte-level pieces unmapped, "▁" -> " ",
 * <0xNN> -> that byte; added tokens as written). May be part of a UTF-8 character.
 * Returns the length; writes at most cap bytes. */
size_t fg_tok_token_bytes(const fg_tokenizer *t, int32_t id, char *buf, size_t cap);
/* The longest token_bytes of any token. */
size_t fg_tok_max_token_bytes(const fg_tokenizer *t);

/* The model's chat template (tokenizer_config.json chat_template, or GGUF
 * tokenizer.chat_template), NUL-terminated; NULL when there is none. */
const char *fg_tok_chat_template(const fg_tokenizer *t);

/* Encodes UTF-8 text (len bytes; any bytes allowed, see above). parse_special: special
 * tokens written in the text become their ids (false: they are encoded as plain text;
 * non-special added tokens are always matched, as Hugging Face does). add_bos prepends
 * the BOS id when the tokenizer has one.
 * Writes at most cap ids to ids (may be NULL when cap is 0) and sets *n_out to the full
 * count: the caller checks *n_out <= cap. */
fg_status fg_tok_encode(const fg_tokenizer *t, const char *text, size_t len, bool parse_special,
                        bool add_bos, int32_t *ids, size_t cap, size_t *n_out);
/* The same into a buffer from fg_malloc (FG_MEM_TOKENIZER; release with fg_free). */
fg_status fg_tok_encode_alloc(const fg_tokenizer *t, const char *text, size_t len, bool parse_special,
                              bool add_bos, int32_t **ids, size_t *n_out);

/* Decodes a whole sequence as Hugging Face's decode(ids, skip_special_tokens,
 * clean_up_tokenization_spaces=False) does: valid UTF-8, invalid byte sequences as
 * U+FFFD, SentencePiece's leading space removed. Writes at most cap-1 bytes plus a NUL
 * (when cap > 0) and sets *len_out to the full length. Unknown ids -> FG_ERR_ARG. */
fg_status fg_tok_decode(const fg_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                        char *buf, size_t cap, size_t *len_out);
/* The same into an fg_malloc'd NUL-terminated buffer (FG_MEM_TOKENIZER). */
fg_status fg_tok_decode_alloc(const fg_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                              char **text, size_t *len_out);

/* Streaming decode for generation: push ids one at a time; bytes of a UTF-8 character
 * split across tokens are held back until the character completes, and a sequence that
 * turns out invalid is emitted as U+FFFD, so the concatenated output equals
 * fg_tok_decode of the whole sequence. at_start: this stream begins the text (the
 * SentencePiece leading space is stripped, as in fg_tok_decode); false when continuing
 * after a prompt. */
typedef struct fg_tok_stream {
    uint8_t pend[4];   /* bytes of an incomplete UTF-8 character */
    uint8_t n_pend;
    uint8_t need;      /* total length of the pending character */
    bool strip_space;  /* drop one leading ' ' from the first byte emitted */
    bool skip_special;
    bool started;
} fg_tok_stream;
void fg_tok_stream_init(fg_tok_stream *s, const fg_tokenizer *t, bool skip_special, bool at_start);
/* Output capacity that always suffices for one push. */
size_t fg_tok_stream_bufsize(const fg_tokenizer *t);
/* Appends the text completed by token `id` to out (at most cap bytes); *len receives the
 * number of bytes written. FG_ERR_ARG for an unknown id or a too small buffer. */
fg_status fg_tok_stream_push(fg_tok_stream *s, const fg_tokenizer *t, int32_t id, char *out, size_t cap,
                             size_t *len);
/* End of stream: an incomplete character becomes U+FFFD. out needs 3 bytes; returns the
 * length written. */
size_t fg_tok_stream_flush(fg_tok_stream *s, char *out, size_t cap);

#endif
