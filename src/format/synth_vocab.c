/* The tokenizer of a synthetic model: reading tokenizer.json / tokenizer_config.json,
 * the spec's vocab_cut, GGUF token types as llama.cpp's converter assigns them, and the
 * Hugging Face files written beside the weights (see synth-impl.h). */
#include "format/synth-impl.h"
#include "format/jscan-impl.h"
#include "format/write-impl.h"
#include "mem/mem.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokenizer.json ---------------------------------------------------------------------- */
typedef struct tok_entry {
    uint64_t off;       /* into the blob */
    uint32_t len;
    uint32_t id;
    bool special;
} tok_entry;

typedef struct tok_list {
    tok_entry *e;
    size_t n, cap;
} tok_list;

typedef struct parse_ctx {
    synth_vocab *v;
    tok_list vocab, added;
    fg_bbuf blob;          /* token bytes: vocab, then added tokens */
    fg_bbuf mblob;         /* merges "a b" */
    uint64_t *moff;
    uint32_t *mlen;
    size_t n_merges, merges_cap;
    bool saw_model, saw_vocab, saw_merges;
    bool byte_fallback;
    const char *pre_begin, *pre_end;   /* the pre_tokenizer value */
    const char *span[3][2];            /* added_tokens, model.vocab, model.merges values */
    /* current added token */
    int64_t a_id;
    bool a_special, a_has_content;
    uint64_t a_off;
    uint32_t a_len;
} parse_ctx;

static bool list_push(tok_list *l, tok_entry e)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        tok_entry *p = l->e ? fg_realloc(l->e, cap * sizeof *p) : fg_malloc(FG_MEM_TOKENIZER, cap * sizeof *p);
        if (!p) return false;
        l->e = p;
        l->cap = cap;
    }
    l->e[l->n++] = e;
    return true;
}

static fg_status on_vocab_member(fg_js *j, const char *key, size_t klen, void *vctx)
{
    parse_ctx *c = vctx;
    int64_t id;
    fg_status s = fg_js_int(j, &id);
    if (s) return s;
    if (id < 0 || id >= (int64_t)INT32_MAX) return fg_js_fail(j, "token id out of range");
    if (klen > UINT32_MAX / 2) return fg_js_fail(j, "token too long");
    tok_entry e = {c->blob.len, (uint32_t)klen, (uint32_t)id, false};
    if (!fg_bb_add(&c->blob, key, klen) || !list_push(&c->vocab, e)) return fg_error(FG_ERR_NOMEM, "%s: out of memory", j->what);
    return FG_OK;
}

static fg_status push_merge(parse_ctx *c, fg_js *j, uint64_t off)
{
    if (c->n_merges == c->merges_cap) {
        size_t cap = c->merges_cap ? c->merges_cap * 2 : 4096;
        uint64_t *mo = c->moff ? fg_realloc(c->moff, cap * sizeof *mo) : fg_malloc(FG_MEM_TOKENIZER, cap * sizeof *mo);
        if (mo) c->moff = mo;
        uint32_t *ml = c->mlen ? fg_realloc(c->mlen, cap * sizeof *ml) : fg_malloc(FG_MEM_TOKENIZER, cap * sizeof *ml);
        if (ml) c->mlen = ml;
        if (!mo || !ml) return fg_error(FG_ERR_NOMEM, "%s: out of memory for merges", j->what);
        c->merges_cap = cap;
    }
    size_t len = c->mblob.len - off;
    if (len > UINT32_MAX / 2) return fg_js_fail(j, "merge too long");
    const char *sp = memchr(c->mblob.p + off, ' ', len);
    if (!sp || sp == c->mblob.p + off || sp == c->mblob.p + off + len - 1)
        return fg_js_fail(j, "merge is not two tokens separated by a space");
    c->moff[c->n_merges] = off;
    c->mlen[c->n_merges] = (uint32_t)len;
    c->n_merges++;
    return FG_OK;
}

/* merges: ["a b", ...] or [["a", "b"], ...] */
static fg_status parse_merges(parse_ctx *c, fg_js *j)
{
    if (!fg_js_eat(j, '[')) return fg_js_fail(j, "\"merges\" must be an array");
    if (fg_js_eat(j, ']')) return FG_OK;
    for (;;) {
        uint64_t off = c->mblob.len;
        fg_status s;
        if (fg_js_eat(j, '[')) {
            c->v->merges_as_pairs = true;
            if ((s = fg_js_string(j, &c->mblob))) return s;
            if (!fg_js_eat(j, ',')) return fg_js_fail(j, "a merge pair needs two strings");
            if (!fg_bb_add(&c->mblob, " ", 1)) return fg_error(FG_ERR_NOMEM, "%s: out of memory", j->what);
            size_t second = c->mblob.len;
            if ((s = fg_js_string(j, &c->mblob))) return s;
            if (!fg_js_eat(j, ']')) return fg_js_fail(j, "a merge pair needs exactly two strings");
            /* GGUF spells merges "a b": a part holding a space cannot be represented
             * (byte-level BPE writes spaces as U+0120, so this never happens there) */
            if (memchr(c->mblob.p + off, ' ', second - 1 - off) || memchr(c->mblob.p + second, ' ', c->mblob.len - second))
                return fg_error(FG_ERR_UNSUPPORTED, "%s: a merge part contains a space", j->what);
        } else if ((s = fg_js_string(j, &c->mblob))) {
            return s;
        }
        if ((s = push_merge(c, j, off))) return s;
        if (fg_js_eat(j, ',')) continue;
        if (fg_js_eat(j, ']')) return FG_OK;
        return fg_js_fail(j, "expected ',' or ']' in merges");
    }
}

static fg_status on_model_member(fg_js *j, const char *key, size_t klen, void *vctx)
{
    parse_ctx *c = vctx;
    if (fg_js_key_is(key, klen, "type")) {
        fg_bbuf t = {0};
        fg_status s = fg_js_string(j, &t);
        bool bpe = t.p && !strcmp(t.p, "BPE");
        fg_free(t.p);
        if (s) return s;
        if (!bpe) return fg_error(FG_ERR_UNSUPPORTED, "%s: tokenizer model is not BPE", j->what);
        return FG_OK;
    }
    if (fg_js_key_is(key, klen, "byte_fallback")) return fg_js_bool(j, &c->byte_fallback);
    if (fg_js_key_is(key, klen, "vocab")) {
        c->saw_vocab = true;
        fg_js_ws(j);
        c->span[1][0] = j->p;
        fg_status s = fg_js_object(j, on_vocab_member, c);
        c->span[1][1] = j->p;
        return s;
    }
    if (fg_js_key_is(key, klen, "merges")) {
        c->saw_merges = true;
        fg_js_ws(j);
        c->span[2][0] = j->p;
        fg_status s = parse_merges(c, j);
        c->span[2][1] = j->p;
        return s;
    }
    return fg_js_skip(j);
}

static fg_status on_added_member(fg_js *j, const char *key, size_t klen, void *vctx)
{
    parse_ctx *c = vctx;
    if (fg_js_key_is(key, klen, "id")) return fg_js_int(j, &c->a_id);
    if (fg_js_key_is(key, klen, "special")) return fg_js_bool(j, &c->a_special);
    if (fg_js_key_is(key, klen, "content")) {
        c->a_off = c->blob.len;
        fg_status s = fg_js_string(j, &c->blob);
        if (s) return s;
        if (c->blob.len - c->a_off > UINT32_MAX / 2) return fg_js_fail(j, "added token too long");
        c->a_len = (uint32_t)(c->blob.len - c->a_off);
        c->a_has_content = true;
        return FG_OK;
    }
    return fg_js_skip(j);
}

static fg_status parse_added(parse_ctx *c, fg_js *j)
{
    fg_js_ws(j);
    if (j->p < j->end && *j->p == 'n') {   /* null: no added tokens */
        bool dummy;
        return fg_js_bool(j, &dummy);
    }
    if (!fg_js_eat(j, '[')) return fg_js_fail(j, "\"added_tokens\" must be an array");
    if (fg_js_eat(j, ']')) return FG_OK;
    for (;;) {
        c->a_id = -1;
        c->a_special = false;
        c->a_has_content = false;
        fg_status s = fg_js_object(j, on_added_member, c);
        if (s) return s;
        if (c->a_id < 0 || c->a_id >= (int64_t)INT32_MAX || !c->a_has_content)
            return fg_js_fail(j, "added token without a valid id and content");
        tok_entry e = {c->a_off, c->a_len, (uint32_t)c->a_id, c->a_special};
        if (!list_push(&c->added, e)) return fg_error(FG_ERR_NOMEM, "%s: out of memory", j->what);
        if (fg_js_eat(j, ',')) continue;
        if (fg_js_eat(j, ']')) return FG_OK;
        return fg_js_fail(j, "expected ',' or ']' in added_tokens");
    }
}

static fg_status on_root_member(fg_js *j, const char *key, size_t klen, void *vctx)
{
    parse_ctx *c = vctx;
    if (fg_js_key_is(key, klen, "model")) {
        c->saw_model = true;
        return fg_js_object(j, on_model_member, c);
    }
    if (fg_js_key_is(key, klen, "added_tokens")) {
        fg_js_ws(j);
        c->span[0][0] = j->p;
        fg_status s = parse_added(c, j);
        c->span[0][1] = j->p;
        return s;
    }
    if (fg_js_key_is(key, klen, "pre_tokenizer")) {
        fg_js_ws(j);
        c->pre_begin = j->p;
        fg_status s = fg_js_skip(j);
        c->pre_end = j->p;
        return s;
    }
    return fg_js_skip(j);
}

/* ---- building the vocabulary ------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n) { return fg_synth_fnv1a64(s, n); }

static fg_status build_hash(synth_vocab *v)
{
    uint32_t cap = 1024;
    while (cap < 2u * v->n + 2 && cap < (1u << 31)) cap *= 2;
    fg_free(v->hash);
    v->hash = fg_calloc(FG_MEM_TOKENIZER, cap, sizeof *v->hash);
    if (!v->hash) return fg_error(FG_ERR_NOMEM, "out of memory for the vocabulary hash");
    v->hash_cap = cap;
    for (uint32_t id = 0; id < v->n; id++) {
        if (v->type[id] == SYNTH_TOK_UNUSED) continue;
        uint32_t h = (uint32_t)hash_bytes(v->blob + v->off[id], v->len[id]) & (cap - 1);
        bool dup = false;
        for (; v->hash[h]; h = (h + 1) & (cap - 1)) {
            uint32_t o = v->hash[h] - 1;
            /* the same text twice (an added token repeating a vocabulary entry): the
             * lower id answers lookups */
            if (v->len[o] == v->len[id] && !memcmp(v->blob + v->off[o], v->blob + v->off[id], v->len[id])) {
                dup = true;
                break;
            }
        }
        if (!dup) v->hash[h] = id + 1;
    }
    return FG_OK;
}

int64_t synth_vocab_find(const synth_vocab *v, const char *s, size_t n)
{
    if (!v->hash) return -1;
    uint32_t h = (uint32_t)hash_bytes(s, n) & (v->hash_cap - 1);
    while (v->hash[h]) {
        uint32_t id = v->hash[h] - 1;
        if (v->len[id] == n && !memcmp(v->blob + v->off[id], s, n)) return id;
        h = (h + 1) & (v->hash_cap - 1);
    }
    return -1;
}

/* llama.cpp's convert_hf_to_gguf.py does_token_look_special: added tokens that are not
 * flagged special but are spelled like control tokens become CONTROL too. */
static bool looks_special(const char *s, size_t n)
{
    static const char *const exact[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (n == strlen(exact[i]) && !memcmp(s, exact[i], n)) return true;
#define PREFIX(p) (n >= sizeof(p) - 1 && !memcmp(s, p, sizeof(p) - 1))
#define SUFFIX(x) (n >= sizeof(x) - 1 && !memcmp(s + n - (sizeof(x) - 1), x, sizeof(x) - 1))
    if (PREFIX("<|") && SUFFIX("|>")) return true;
    if (PREFIX("<\xef\xbd\x9c") && SUFFIX("\xef\xbd\x9c>")) return true; /* <｜ ... ｜> (deepseek) */
    if (PREFIX("<unused") && SUFFIX(">")) return true;
#undef PREFIX
#undef SUFFIX
    return false;
}

static void *tok_realloc(void *p, size_t size)
{
    return p ? fg_realloc(p, size) : fg_malloc(FG_MEM_TOKENIZER, size);
}

static fg_status grow_ids(synth_vocab *v, uint32_t n)
{
    uint64_t *off = tok_realloc(v->off, (size_t)n * sizeof *off);
    if (off) v->off = off;
    uint32_t *len = tok_realloc(v->len, (size_t)n * sizeof *len);
    if (len) v->len = len;
    int32_t *type = tok_realloc(v->type, (size_t)n * sizeof *type);
    if (type) v->type = type;
    if (!off || !len || !type) return fg_error(FG_ERR_NOMEM, "out of memory for %u tokens", n);
    for (uint32_t i = v->n; i < n; i++) {
        v->off[i] = 0;
        v->len[i] = 0;
        v->type[i] = 0;   /* a hole until filled */
    }
    v->n = n;
    return FG_OK;
}

static fg_status fill_holes(synth_vocab *v, uint32_t from)
{
    fg_bbuf b = {v->blob, v->blob_len, v->blob_cap};
    fg_status s = FG_OK;
    for (uint32_t i = from; i < v->n; i++) {
        if (v->type[i]) continue;
        char tmp[32];
        int k = snprintf(tmp, sizeof tmp, "[PAD%u]", i);
        v->off[i] = b.len;
        v->len[i] = (uint32_t)k;
        v->type[i] = SYNTH_TOK_UNUSED;
        if (!fg_bb_add(&b, tmp, (size_t)k)) {
            s = fg_error(FG_ERR_NOMEM, "out of memory for padding tokens");
            break;
        }
    }
    v->blob = b.p;
    v->blob_len = b.len;
    v->blob_cap = b.cap;
    return s;
}

fg_status synth_vocab_pad_to(synth_vocab *v, uint32_t n)
{
    if (n <= v->n) return FG_OK;
    uint32_t from = v->n;
    fg_status s = grow_ids(v, n);
    return s ? s : fill_holes(v, from);
}

/* Assembles the id-indexed vocabulary from the parsed lists. */
static fg_status assemble(parse_ctx *c, int64_t cut, const char *what)
{
    synth_vocab *v = c->v;
    uint32_t n = 0;
    for (size_t i = 0; i < c->vocab.n; i++)
        if ((cut <= 0 || c->vocab.e[i].id < cut) && c->vocab.e[i].id + 1 > n) n = c->vocab.e[i].id + 1;
    if (cut <= 0)
        for (size_t i = 0; i < c->added.n; i++)
            if (c->added.e[i].id + 1 > n) n = c->added.e[i].id + 1;
    if (n == 0) return fg_error(FG_ERR_FORMAT, "%s: the vocabulary is empty", what);
    if (n > (1u << 24)) return fg_error(FG_ERR_FORMAT, "%s: token id %u is implausibly large", what, n - 1);
    v->blob = c->blob.p;
    v->blob_len = c->blob.len;
    v->blob_cap = c->blob.cap;
    c->blob = (fg_bbuf){0};
    fg_status s = grow_ids(v, n);
    if (s) return s;
    for (size_t i = 0; i < c->vocab.n; i++) {
        const tok_entry *e = &c->vocab.e[i];
        if (cut > 0 && e->id >= cut) continue;
        if (v->type[e->id]) return fg_error(FG_ERR_FORMAT, "%s: token id %u appears twice in the vocabulary", what, e->id);
        v->off[e->id] = e->off;
        v->len[e->id] = e->len;
        v->type[e->id] = SYNTH_TOK_NORMAL;
    }
    if (cut <= 0) {
        for (size_t i = 0; i < c->added.n; i++) {
            const tok_entry *e = &c->added.e[i];
            const char *txt = v->blob + e->off;
            v->off[e->id] = e->off;
            v->len[e->id] = e->len;
            if (e->special || looks_special(txt, e->len)) {
                v->type[e->id] = SYNTH_TOK_CONTROL;
            } else {
                /* as the converter does for user-defined tokens: U+2581 (SentencePiece's
                 * space marker) becomes a plain space, in place (3 bytes -> 1) */
                char *t = v->blob + e->off;
                uint32_t w = 0;
                for (uint32_t r = 0; r < e->len;) {
                    if (r + 3 <= e->len && !memcmp(t + r, "\xe2\x96\x81", 3)) {
                        t[w++] = ' ';
                        r += 3;
                    } else {
                        t[w++] = t[r++];
                    }
                }
                v->len[e->id] = w;
                v->type[e->id] = SYNTH_TOK_USER_DEFINED;
            }
        }
    }
    if ((s = fill_holes(v, 0))) return s;
    if ((s = build_hash(v))) return s;

    /* merges: all, or with a cut those whose parts and result are kept */
    v->mblob = c->mblob.p;
    v->mblob_len = c->mblob.len;
    v->mblob_cap = c->mblob.cap;
    c->mblob = (fg_bbuf){0};
    v->moff = c->moff;
    v->mlen = c->mlen;
    c->moff = NULL;
    c->mlen = NULL;
    v->n_merges = (uint32_t)c->n_merges;
    if (cut > 0) {
        fg_bbuf cat = {0};
        uint32_t kept = 0;
        for (uint32_t i = 0; i < v->n_merges; i++) {
            const char *m = v->mblob + v->moff[i];
            uint32_t len = v->mlen[i];
            const char *sp = memchr(m, ' ', len);
            size_t la = (size_t)(sp - m), lb = len - la - 1;
            cat.len = 0;
            if (!fg_bb_add(&cat, m, la) || !fg_bb_add(&cat, sp + 1, lb)) {
                fg_free(cat.p);
                return fg_error(FG_ERR_NOMEM, "out of memory filtering merges");
            }
            if (synth_vocab_find(v, m, la) >= 0 && synth_vocab_find(v, sp + 1, lb) >= 0 &&
                synth_vocab_find(v, cat.p, cat.len) >= 0) {
                v->moff[kept] = v->moff[i];
                v->mlen[kept] = v->mlen[i];
                kept++;
            }
        }
        fg_free(cat.p);
        v->n_merges = kept;
    }
    return FG_OK;
}

/* ---- tokenizer_config.json ----------------------------------------------------------------- */

static char *json_token_content(const cJSON *j)
{
    if (cJSON_IsString(j)) return fg_strdup(FG_MEM_TOKENIZER, j->valuestring);
    if (cJSON_IsObject(j)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "content");
        if (cJSON_IsString(c)) return fg_strdup(FG_MEM_TOKENIZER, c->valuestring);
    }
    return NULL;
}

static fg_status load_tokenizer_config(const char *path, synth_vocab *v)
{
    fg_file f;
    if (fg_file_map(path, &f) != FG_OK) return FG_OK;   /* optional */
    uint64_t fails = fg_mem_failures();
    cJSON *root = f.size ? cJSON_ParseWithLength((const char *)f.data, f.size) : NULL;
    fg_file_unmap(&f);
    if (!root && fg_mem_failures() != fails) return fg_error(FG_ERR_NOMEM, "%s: out of memory parsing the JSON", path);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fg_error(FG_ERR_FORMAT, "%s: not a JSON object", path);
    }
    fg_status s = FG_OK;
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
    if (cJSON_IsArray(ct)) {
        /* [{"name": ..., "template": ...}]: the "default" one, else the first */
        const cJSON *pick = NULL, *e;
        cJSON_ArrayForEach(e, ct)
        {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
            if (!pick || (cJSON_IsString(nm) && !strcmp(nm->valuestring, "default"))) pick = e;
        }
        ct = pick ? cJSON_GetObjectItemCaseSensitive(pick, "template") : NULL;
    }
    if (cJSON_IsString(ct) && !(v->chat_template = fg_strdup(FG_MEM_TOKENIZER, ct->valuestring)))
        s = fg_error(FG_ERR_NOMEM, "out of memory");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "add_bos_token");
    if (cJSON_IsBool(b)) v->add_bos = cJSON_IsTrue(b);
    b = cJSON_GetObjectItemCaseSensitive(root, "add_eos_token");
    if (cJSON_IsBool(b)) v->add_eos = cJSON_IsTrue(b);
    v->pad_token = json_token_content(cJSON_GetObjectItemCaseSensitive(root, "pad_token"));
    cJSON_Delete(root);
    return s;
}

/* ---- loading ------------------------------------------------------------------------------ */

static void path_join(char *out, size_t size, const char *dir, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

fg_status synth_vocab_load(const char *dir, int64_t vocab_cut, synth_vocab *v)
{
    memset(v, 0, sizeof *v);
    v->add_bos = v->add_eos = -1;
    v->pre = "qwen2";
    char path[4096];
    path_join(path, sizeof path, dir, "tokenizer.json");
    fg_file f;
    fg_status s = fg_file_map(path, &f);
    if (s) return s;
    parse_ctx c;
    memset(&c, 0, sizeof c);
    c.v = v;
    fg_js j = {(const char *)f.data, (const char *)f.data, (const char *)f.data + f.size, f.path, 0};
    if (!f.size) s = fg_error(FG_ERR_FORMAT, "%s: empty file", f.path);
    if (!s) s = fg_js_object(&j, on_root_member, &c);
    if (!s) {
        fg_js_ws(&j);
        if (j.p != j.end) s = fg_js_fail(&j, "trailing data after the JSON object");
    }
    if (!s && (!c.saw_model || !c.saw_vocab))
        s = fg_error(FG_ERR_FORMAT, "%s: no model.vocab (not a Hugging Face tokenizer.json?)", f.path);
    if (!s && !c.saw_merges) s = fg_error(FG_ERR_UNSUPPORTED, "%s: no model.merges: not a BPE tokenizer", f.path);
    if (!s && c.byte_fallback)
        s = fg_error(FG_ERR_UNSUPPORTED, "%s: a SentencePiece-style BPE (byte_fallback) is not supported; "
                     "only byte-level BPE (Qwen, Llama 3)", f.path);
    if (!s && c.pre_begin) {
        /* Llama 3's split pattern groups digits in threes; Qwen's splits single digits */
        const char *pat = "p{N}{1,3}";
        size_t pl = strlen(pat);
        for (const char *q = c.pre_begin; q + pl <= c.pre_end; q++)
            if (!memcmp(q, pat, pl)) {
                v->pre = "llama-bpe";
                break;
            }
    }
    if (!s) s = assemble(&c, vocab_cut, f.path);
    fg_file_unmap(&f);
    fg_free(c.vocab.e);
    fg_free(c.added.e);
    fg_free(c.blob.p);
    fg_free(c.mblob.p);
    fg_free(c.moff);
    fg_free(c.mlen);
    if (!s) {
        path_join(path, sizeof path, dir, "tokenizer_config.json");
        s = load_tokenizer_config(path, v);
    }
    if (s) synth_vocab_free(v);
    return s;
}

void synth_vocab_free(synth_vocab *v)
{
    if (!v) return;
    fg_free(v->blob);
    fg_free(v->off);
    fg_free(v->len);
    fg_free(v->type);
    fg_free(v->mblob);
    fg_free(v->moff);
    fg_free(v->mlen);
    fg_free(v->hash);
    fg_free(v->chat_template);
    fg_free(v->pad_token);
    memset(v, 0, sizeof *v);
}

/* ---- Hugging Face tokenizer files ------------------------------------------------------------ */

static fg_status write_file(const char *path, const void *data, size_t n)
{
    fg_outfile o;
    fg_status s = fg_outfile_open(&o, path);
    if (s) return s;
    s = fg_outfile_write(&o, data, n);
    if (s) {
        fg_outfile_abort(&o);
        return s;
    }
    return fg_outfile_close(&o);
}

static fg_status copy_file(const char *from, const char *to)
{
    fg_file f;
    fg_status s = fg_file_map(from, &f);
    if (s) return s;
    s = write_file(to, f.data, f.size);
    fg_file_unmap(&f);
    return s;
}

/* The cut vocabulary and merges as JSON values. */
static bool cut_vocab_json(const synth_vocab *v, fg_bbuf *b)
{
    bool ok = fg_bb_str(b, "{");
    bool first = true;
    for (uint32_t id = 0; id < v->n && ok; id++) {
        if (v->type[id] != SYNTH_TOK_NORMAL) continue;
        char num[24];
        snprintf(num, sizeof num, ":%u", id);
        ok = fg_bb_str(b, first ? "\n      " : ",\n      ") && fg_bb_json_str(b, v->blob + v->off[id], v->len[id]) &&
             fg_bb_str(b, num);
        first = false;
    }
    return ok && fg_bb_str(b, "\n    }");
}

static bool cut_merges_json(const synth_vocab *v, fg_bbuf *b)
{
    bool ok = fg_bb_str(b, "[");
    for (uint32_t i = 0; i < v->n_merges && ok; i++) {
        const char *m = v->mblob + v->moff[i];
        uint32_t len = v->mlen[i];
        ok = fg_bb_str(b, i ? ",\n      " : "\n      ");
        if (v->merges_as_pairs) {
            const char *sp = memchr(m, ' ', len);
            size_t la = (size_t)(sp - m);
            ok = ok && fg_bb_str(b, "[") && fg_bb_json_str(b, m, la) && fg_bb_str(b, ", ") &&
                 fg_bb_json_str(b, sp + 1, len - la - 1) && fg_bb_str(b, "]");
        } else {
            ok = ok && fg_bb_json_str(b, m, len);
        }
    }
    return ok && fg_bb_str(b, "\n    ]");
}

/* tokenizer.json with the three values (added_tokens, model.vocab, model.merges)
 * replaced in the original text; everything else stays byte for byte. */
static fg_status write_cut_tokenizer_json(const char *in, const char *out, const synth_vocab *v)
{
    fg_file f;
    fg_status s = fg_file_map(in, &f);
    if (s) return s;
    parse_ctx c;
    memset(&c, 0, sizeof c);
    synth_vocab scratch;
    memset(&scratch, 0, sizeof scratch);
    c.v = &scratch;
    fg_js j = {(const char *)f.data, (const char *)f.data, (const char *)f.data + f.size, f.path, 0};
    s = f.size ? fg_js_object(&j, on_root_member, &c) : fg_error(FG_ERR_FORMAT, "%s: empty file", f.path);
    fg_free(c.vocab.e);
    fg_free(c.added.e);
    fg_free(c.blob.p);
    fg_free(c.mblob.p);
    fg_free(c.moff);
    fg_free(c.mlen);
    if (s) {
        fg_file_unmap(&f);
        return s;
    }
    fg_bbuf b = {0};
    bool ok = true;
    const char *at = j.begin;
    /* spans in file order */
    int order[3] = {0, 1, 2};
    for (int a = 0; a < 3; a++)
        for (int k = a + 1; k < 3; k++)
            if (c.span[order[k]][0] && (!c.span[order[a]][0] || c.span[order[k]][0] < c.span[order[a]][0])) {
                int t = order[a];
                order[a] = order[k];
                order[k] = t;
            }
    for (int k = 0; k < 3 && ok; k++) {
        int which = order[k];
        if (!c.span[which][0]) continue;
        ok = fg_bb_add(&b, at, (size_t)(c.span[which][0] - at));
        if (which == 0) ok = ok && fg_bb_str(&b, "[]");
        if (which == 1) ok = ok && cut_vocab_json(v, &b);
        if (which == 2) ok = ok && cut_merges_json(v, &b);
        at = c.span[which][1];
    }
    ok = ok && fg_bb_add(&b, at, (size_t)(j.end - at));
    fg_file_unmap(&f);
    s = ok ? write_file(out, b.p, b.len) : fg_error(FG_ERR_NOMEM, "out of memory writing %s", out);
    fg_free(b.p);
    return s;
}

/* tokenizer_config.json for a cut vocabulary: no added tokens, and bos/eos/pad/unk only
 * when the cut vocabulary still holds them. */
static fg_status write_cut_tokenizer_config(const char *in, const char *out, const synth_vocab *v)
{
    fg_file f;
    fg_status s = fg_file_map(in, &f);
    if (s) return s;
    uint64_t fails = fg_mem_failures();
    cJSON *root = f.size ? cJSON_ParseWithLength((const char *)f.data, f.size) : NULL;
    fg_file_unmap(&f);
    if (!root && fg_mem_failures() != fails) return fg_error(FG_ERR_NOMEM, "%s: out of memory parsing the JSON", in);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fg_error(FG_ERR_FORMAT, "%s: not a JSON object", in);
    }
    if (cJSON_HasObjectItem(root, "added_tokens_decoder"))
        cJSON_ReplaceItemInObjectCaseSensitive(root, "added_tokens_decoder", cJSON_CreateObject());
    if (cJSON_HasObjectItem(root, "additional_special_tokens"))
        cJSON_ReplaceItemInObjectCaseSensitive(root, "additional_special_tokens", cJSON_CreateArray());
    static const char *const keys[] = {"bos_token", "eos_token", "pad_token", "unk_token"};
    for (size_t i = 0; i < 4; i++) {
        cJSON *t = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
        char *content = json_token_content(t);
        if (content && synth_vocab_find(v, content, strlen(content)) < 0)
            cJSON_ReplaceItemInObjectCaseSensitive(root, keys[i], cJSON_CreateNull());
        fg_free(content);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return fg_error(FG_ERR_NOMEM, "out of memory writing %s", out);
    s = write_file(out, text, strlen(text));
    cJSON_free(text);
    return s;
}

fg_status synth_write_hf_tokenizer(const char *tok_dir, const char *out_dir, int64_t vocab_cut, const synth_vocab *v)
{
    char in[4096], out[4096];
    path_join(in, sizeof in, tok_dir, "tokenizer.json");
    path_join(out, sizeof out, out_dir, "tokenizer.json");
    fg_status s = vocab_cut > 0 ? write_cut_tokenizer_json(in, out, v) : copy_file(in, out);
    if (s) return s;
    path_join(in, sizeof in, tok_dir, "tokenizer_config.json");
    path_join(out, sizeof out, out_dir, "tokenizer_config.json");
    fg_file probe;
    if (fg_file_map(in, &probe) != FG_OK) return FG_OK;   /* optional */
    fg_file_unmap(&probe);
    return vocab_cut > 0 ? write_cut_tokenizer_config(in, out, v) : copy_file(in, out);
}
