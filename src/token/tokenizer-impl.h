/* Internals of the tokenizer shared by tokenizer*.c. Not part of the public API. */
#ifndef FG_TOKENIZER_IMPL_H
#define FG_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "mem/mem.h"
#include "token/token.h"

/* One vocabulary entry: the piece is base[off .. off+len). 8 bytes per token. */
typedef struct tok_entry {
    uint32_t off;
    uint16_t len;
    uint8_t type;   /* fg_tok_type */
    uint8_t flags;  /* TOKF_* */
} tok_entry;

enum {
    TOKF_ADDED = 1,       /* matched in the raw text before BPE */
    TOKF_SPECIAL = 2,     /* an added token that only parse_special matches */
    TOKF_LSTRIP = 4,
    TOKF_RSTRIP = 8,
    TOKF_SINGLE_WORD = 16,
    TOKF_RAW = 32,        /* piece is the text itself (not byte-level mapped, no ▁) */
    TOKF_EOG = 64,
};

/* Merge hash slot: key = (left+1) << 32 | (right+1), 0 = empty. */
typedef struct tok_merge {
    uint64_t key;
    uint32_t rank;
    int32_t merged;
} tok_merge;

#define TOK_MAX_SPLITS 4

struct fg_tokenizer {
    fg_tok_kind kind;
    int32_t n_vocab;
    const char *base;        /* where piece offsets point: blob (owned) or the GGUF mapping */
    char *blob;              /* owned piece storage (NULL when base is a mapping) */
    size_t blob_size;
    tok_entry *tok;          /* [n_vocab] */

    uint32_t *vhash;         /* piece -> id+1 (0 empty), linear probing */
    uint32_t vmask;

    tok_merge *mhash;        /* merges by id pair (rank-based BPE) */
    uint32_t mmask;
    uint32_t n_merges;
    const uint8_t *scores;   /* SPM from GGUF: float32 per token (unaligned, in the mapping) */

    int32_t byte_id[256];    /* byte-level: token of the mapped byte; SPM: <0xNN>; -1 absent */

    /* normalizer */
    bool nfc;
    bool spm_replace_space;  /* ' ' -> ▁ */
    uint8_t spm_prepend;     /* prepend ▁ to a text section: 0 never, 1 first section, 2 every section */
    bool spm_strip_leading;  /* decode: remove one leading space */
    /* pre-tokenizer: splits applied in order (Isolated); then optional ▁ split */
    int n_splits;
    pcre2_code *split[TOK_MAX_SPLITS];
    bool metaspace_split;    /* split before every ▁ (Metaspace split=true) */
    bool byte_prefix_space;  /* ByteLevel add_prefix_space */
    pcre2_general_context *gctx;
    /* model */
    bool byte_fallback;
    bool ignore_merges;
    bool fuse_unk;
    int32_t unk;

    /* added tokens, sorted by first byte then length (longest first) */
    int32_t *added;
    uint32_t n_added;
    uint32_t added_start[257];

    int32_t bos, eos;
    bool add_bos;
    int32_t *eog;
    uint32_t n_eog;
    char *chat_template;
    size_t max_bytes;        /* longest fg_tok_token_bytes */
};

/* ---- tokenizer.c: construction helpers used by the loaders ---------------------- */
fg_tokenizer *tok_alloc(void);
/* Builds the piece hash from tok[]/base (later ids win on duplicate pieces). */
fg_status tok_build_vhash(fg_tokenizer *t);
/* Reserves the merge hash for n merges. */
fg_status tok_merges_reserve(fg_tokenizer *t, size_t n);
/* Adds a merge by pieces; returns false (and adds nothing) when a part or the result is
 * not in the vocabulary. `tmp` holds at least la+lb bytes. A later duplicate overrides. */
bool tok_merge_add(fg_tokenizer *t, const char *a, size_t la, const char *b, size_t lb, uint32_t rank,
                   char *tmp);
const tok_merge *tok_merge_find(const fg_tokenizer *t, int32_t left, int32_t right);
/* Compiles a split pattern (PCRE2 UTF+UCP, JIT when available). */
fg_status tok_add_split(fg_tokenizer *t, const char *pattern, size_t len, bool literal, const char *what);
/* After the vocabulary is final: byte ids, added-token index, EOG set, max_bytes. */
fg_status tok_finish(fg_tokenizer *t, const int32_t *extra_eog, size_t n_extra_eog);

/* Byte-level mapping (GPT-2's bytes_to_unicode): byte -> code point, and back (-1). */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);
/* Encodes a code point as UTF-8 into out (4 bytes); returns the length. */
int tok_utf8_put(uint32_t cp, char *out);
/* Decodes one well-formed UTF-8 character; returns its length (1..4), or 0 when the
 * bytes at s are not a complete well-formed character (then *cp is undefined). */
int tok_utf8_get(const uint8_t *s, size_t n, uint32_t *cp);
/* Unicode White_Space. */
bool tok_is_space(uint32_t cp);

/* The canonical patterns of the GPT-2, Qwen2 and Llama 3 pre-tokenizers. */
extern const char TOK_RE_GPT2[];
extern const char TOK_RE_QWEN2[];
extern const char TOK_RE_LLAMA3[];

/* Common load failure cleanup. */
static inline fg_status tok_fail(fg_tokenizer *t, fg_status s)
{
    fg_tok_free(t);
    return s;
}

#endif
