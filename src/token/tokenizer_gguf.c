/* Loading the tokenizer stored in a GGUF file (tokenizer.ggml.* keys, as llama.cpp's
 * converters write them):
 *   model       "gpt2" (byte-level BPE: tokens in the byte-level mapped form, merges
 *               "a b") or "llama" (SentencePiece BPE: tokens with ▁, scores)
 *   pre         gpt2 only: the pre-tokenizer ("qwen2", "llama-bpe", "smollm", "gpt2", ...)
 *   tokens, token_type, scores, merges, bos/eos/unknown/eot/eom_token_id,
 *   add_bos_token, add_space_prefix; tokenizer.chat_template.
 * Token strings and scores stay in the mapping: only offsets, the hashes and the merge
 * table are allocated. */
#include "token/tokenizer-impl.h"

#include <string.h>

typedef struct pre_def {
    const char *name;
    bool nfc;
    const char *digits;  /* a Digits split before the main pattern, or NULL */
    const char *re;
} pre_def;

/* tokenizer.ggml.pre -> what the model's tokenizer.json does. Qwen2's tokenizer.json
 * asks for NFC (llama.cpp skips it; Hugging Face does not). */
static const pre_def pre_defs[] = {
    {"qwen2", true, NULL, TOK_RE_QWEN2},
    {"deepseek-r1-qwen", true, NULL, TOK_RE_QWEN2},
    {"llama-bpe", false, NULL, TOK_RE_LLAMA3},
    {"llama3", false, NULL, TOK_RE_LLAMA3},
    {"smaug-bpe", false, NULL, TOK_RE_LLAMA3},
    {"smollm", false, "\\p{N}", TOK_RE_GPT2},
    {"gpt2", false, NULL, TOK_RE_GPT2},
    {"gpt-2", false, NULL, TOK_RE_GPT2},
    {"default", false, NULL, TOK_RE_GPT2},
};

static int32_t get_id(const fg_gguf *g, const char *key, int32_t n)
{
    int64_t v;
    if (!fg_gguf_get_i64(g, key, &v) || v < 0 || v >= n) return -1;
    return (int32_t)v;
}

fg_status fg_tok_load_gguf(const fg_gguf *g, fg_tokenizer **out)
{
    *out = NULL;
    if (!g) return fg_error(FG_ERR_ARG, "tokenizer: no GGUF");
    const char *what = g->file.path ? g->file.path : "gguf";
    fg_str model;
    if (!fg_gguf_get_str(g, "tokenizer.ggml.model", &model))
        return fg_error(FG_ERR_FORMAT, "%s: no tokenizer (tokenizer.ggml.model missing)", what);
    bool bpe = fg_str_eq(model, "gpt2"), spm = fg_str_eq(model, "llama");
    if (!bpe && !spm)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: tokenizer model '%.*s' is not supported (gpt2 or llama)", what,
                        (int)(model.len > 40 ? 40 : model.len), model.ptr);
    const fg_gguf_kv *tokens = fg_gguf_find(g, "tokenizer.ggml.tokens");
    if (!tokens || tokens->type != FG_GGUF_ARRAY || tokens->arr_type != FG_GGUF_STRING || tokens->arr_n == 0)
        return fg_error(FG_ERR_FORMAT, "%s: tokenizer.ggml.tokens is missing or not a string array", what);
    if (tokens->arr_n >= (1u << 26)) return fg_error(FG_ERR_FORMAT, "%s: %llu tokens is absurd", what,
                                                     (unsigned long long)tokens->arr_n);
    int32_t n = (int32_t)tokens->arr_n;
    const fg_gguf_kv *types = fg_gguf_find(g, "tokenizer.ggml.token_type");
    if (types && (types->type != FG_GGUF_ARRAY || types->arr_n != tokens->arr_n))
        return fg_error(FG_ERR_FORMAT, "%s: tokenizer.ggml.token_type does not have one entry per token", what);
    const fg_gguf_kv *scores = fg_gguf_find(g, "tokenizer.ggml.scores");
    const fg_gguf_kv *merges = fg_gguf_find(g, "tokenizer.ggml.merges");
    if (spm && (!scores || scores->type != FG_GGUF_ARRAY || scores->arr_type != FG_GGUF_F32 || scores->arr_n != tokens->arr_n))
        return fg_error(FG_ERR_FORMAT, "%s: tokenizer.ggml.scores must be one float32 per token", what);
    if (bpe && (!merges || merges->type != FG_GGUF_ARRAY || merges->arr_type != FG_GGUF_STRING))
        return fg_error(FG_ERR_FORMAT, "%s: tokenizer.ggml.merges is missing or not a string array", what);

    fg_tokenizer *t = tok_alloc();
    if (!t) return fg_error(FG_ERR_NOMEM, "%s: out of memory", what);
    fg_status st;
    t->kind = bpe ? FG_TOK_BYTE_BPE : FG_TOK_SPM_BPE;
    t->n_vocab = n;
    t->base = (const char *)g->file.data;
    t->tok = fg_calloc(FG_MEM_TOKENIZER, (size_t)n, sizeof *t->tok);
    if (!t->tok) return tok_fail(t, fg_error(FG_ERR_NOMEM, "%s: out of memory for %d tokens", what, n));
    fg_gguf_str_iter it;
    fg_gguf_str_iter_init(g, tokens, &it);
    fg_str s;
    for (int32_t i = 0; i < n; i++) {
        if (!fg_gguf_str_iter_next(&it, &s))
            return tok_fail(t, fg_error(FG_ERR_FORMAT, "%s: tokenizer.ggml.tokens ends at %d of %d", what, i, n));
        size_t off = (size_t)(s.ptr - t->base);
        if (s.len > UINT16_MAX || off > UINT32_MAX)
            return tok_fail(t, fg_error(FG_ERR_FORMAT, "%s: token %d is too long or too far into the file", what, i));
        int64_t ty = FG_TOKT_NORMAL;
        if (types && (!fg_gguf_arr_i64(types, (uint64_t)i, &ty) || ty < FG_TOKT_NORMAL || ty > FG_TOKT_BYTE))
            return tok_fail(t, fg_error(FG_ERR_FORMAT, "%s: token %d has an invalid type", what, i));
        uint8_t fl = 0;
        if (ty == FG_TOKT_CONTROL || ty == FG_TOKT_UNKNOWN) fl = TOKF_ADDED | TOKF_SPECIAL | TOKF_RAW;
        else if (ty == FG_TOKT_USER_DEFINED) fl = TOKF_ADDED | TOKF_RAW;
        t->tok[i] = (tok_entry){(uint32_t)off, (uint16_t)s.len, (uint8_t)ty, fl};
    }
    if ((st = tok_build_vhash(t))) return tok_fail(t, st);

    if (bpe) {
        fg_str pre = {"default", 7};
        fg_gguf_get_str(g, "tokenizer.ggml.pre", &pre);
        const pre_def *pd = NULL;
        for (size_t i = 0; i < sizeof pre_defs / sizeof pre_defs[0]; i++)
            if (fg_str_eq(pre, pre_defs[i].name)) pd = &pre_defs[i];
        if (!pd)
            return tok_fail(t, fg_error(FG_ERR_UNSUPPORTED, "%s: pre-tokenizer '%.*s' is not supported", what,
                                        (int)(pre.len > 40 ? 40 : pre.len), pre.ptr));
        t->nfc = pd->nfc;
        if (pd->digits && (st = tok_add_split(t, pd->digits, strlen(pd->digits), false, what))) return tok_fail(t, st);
        if ((st = tok_add_split(t, pd->re, strlen(pd->re), false, what))) return tok_fail(t, st);
        if ((st = tok_merges_reserve(t, merges->arr_n ? merges->arr_n : 1))) return tok_fail(t, st);
        char *tmp = fg_malloc(FG_MEM_TOKENIZER, 2 * (size_t)UINT16_MAX + 2);
        if (!tmp) return tok_fail(t, fg_error(FG_ERR_NOMEM, "%s: out of memory", what));
        fg_gguf_str_iter_init(g, merges, &it);
        for (uint64_t r = 0; r < merges->arr_n; r++) {
            const char *sp = NULL;
            if (fg_gguf_str_iter_next(&it, &s)) sp = memchr(s.ptr, ' ', s.len);
            if (!sp || s.len > 2 * (uint64_t)UINT16_MAX) {
                fg_free(tmp);
                return tok_fail(t, fg_error(FG_ERR_FORMAT, "%s: merge %llu is not \"a b\"", what, (unsigned long long)r));
            }
            size_t la = (size_t)(sp - s.ptr), lb = s.len - la - 1;
            const char *sp2 = memchr(sp + 1, ' ', lb);
            if (sp2) lb = (size_t)(sp2 - sp - 1);
            if (la <= UINT16_MAX && lb <= UINT16_MAX) tok_merge_add(t, s.ptr, la, sp + 1, lb, (uint32_t)r, tmp);
        }
        fg_free(tmp);
    } else {
        t->scores = scores->value;
        bool space_prefix = true;
        fg_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &space_prefix);
        t->spm_prepend = space_prefix ? 2 : 0;
        t->spm_replace_space = true;
        t->spm_strip_leading = space_prefix;
        t->byte_fallback = true;
        t->unk = get_id(g, "tokenizer.ggml.unknown_token_id", n);
        if (t->unk < 0) {
            for (int32_t i = 0; i < n && t->unk < 0; i++)
                if (t->tok[i].type == FG_TOKT_UNKNOWN) t->unk = i;
        }
    }
    t->bos = get_id(g, "tokenizer.ggml.bos_token_id", n);
    t->eos = get_id(g, "tokenizer.ggml.eos_token_id", n);
    bool add_bos = spm;
    fg_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos);
    t->add_bos = add_bos;
    fg_str tpl;
    if (fg_gguf_get_str(g, "tokenizer.chat_template", &tpl)) {
        t->chat_template = fg_strndup(FG_MEM_TOKENIZER, tpl.ptr, tpl.len);
        if (!t->chat_template) return tok_fail(t, fg_error(FG_ERR_NOMEM, "%s: out of memory", what));
    }
    int32_t extra[2] = {get_id(g, "tokenizer.ggml.eot_token_id", n), get_id(g, "tokenizer.ggml.eom_token_id", n)};
    if ((st = tok_finish(t, extra, 2))) return tok_fail(t, st);
    *out = t;
    return FG_OK;
}
