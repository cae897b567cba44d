/* Tokenizer core: the compact vocabulary (piece blob, open-addressing hash, merge hash),
 * accessors, whole-sequence and streaming decode. Loaders: tokenizer_json.c,
 * tokenizer_gguf.c; encoding: tokenizer_encode.c. */
#define _GNU_SOURCE /* qsort_r */
#include "token/tokenizer-impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- pre-tokenizer patterns ---------------------------------------------------------
 * As written in the Hugging Face tokenizer.json files of these models (and implied by
 * GGUF tokenizer.ggml.pre). Qwen2 isolates single digits, Llama 3 groups up to three. */
const char TOK_RE_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char TOK_RE_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char TOK_RE_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* ---- byte-level mapping ---------------------------------------------------------------
 * GPT-2's bytes_to_unicode: printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand
 * for themselves; the other 68 bytes, in increasing order, become U+0100, U+0101, ...
 * (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A). */
static bool byte_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t tok_byte_to_cp(uint8_t b)
{
    if (byte_printable(b)) return b;
    uint32_t n = 0;
    for (unsigned i = 0; i < b; i++)
        if (!byte_printable(i)) n++;
    return 256 + n;
}

int tok_cp_to_byte(uint32_t cp)
{
    static int16_t inv[256 + 68];
    static bool ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        int16_t tmp[256 + 68];
        for (unsigned i = 0; i < 256 + 68; i++) tmp[i] = -1;
        for (unsigned b = 0; b < 256; b++) tmp[tok_byte_to_cp((uint8_t)b)] = (int16_t)b;
        memcpy(inv, tmp, sizeof inv);  /* every thread computes the same table */
        __atomic_store_n(&ready, true, __ATOMIC_RELEASE);
    }
    return cp < 256 + 68 ? inv[cp] : -1;
}

int tok_utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* UTF-8 well-formedness (Unicode Table 3-7): the length a lead byte announces (0 for a
 * byte that cannot start a character) and the range of the byte after the lead. */
static int lead_len(uint8_t b)
{
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

static bool second_ok(uint8_t lead, uint8_t b)
{
    switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
    }
}

int tok_utf8_get(const uint8_t *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    int l = lead_len(s[0]);
    if (l == 0 || (size_t)l > n) return 0;
    if (l == 1) {
        *cp = s[0];
        return 1;
    }
    if (!second_ok(s[0], s[1])) return 0;
    for (int i = 2; i < l; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    uint32_t c = s[0] & (0x7F >> l);
    for (int i = 1; i < l; i++) c = (c << 6) | (s[i] & 0x3F);
    *cp = c;
    return l;
}

bool tok_is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* ---- hashing ------------------------------------------------------------------------ */
static uint32_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 32;
    return (uint32_t)h;
}

static uint32_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    return (uint32_t)x;
}

static uint32_t pow2_slots(size_t n)
{
    size_t want = n + n / 2 + 16; /* load <= 2/3 */
    uint32_t s = 64;
    while (s < want) s <<= 1;
    return s;
}

fg_tokenizer *tok_alloc(void)
{
    fg_tokenizer *t = fg_calloc(FG_MEM_TOKENIZER, 1, sizeof *t);
    if (!t) return NULL;
    t->bos = t->eos = t->unk = -1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    return t;
}

static inline fg_str piece_of(const fg_tokenizer *t, int32_t id)
{
    fg_str s = {t->base + t->tok[id].off, t->tok[id].len};
    return s;
}

fg_status tok_build_vhash(fg_tokenizer *t)
{
    uint32_t slots = pow2_slots((size_t)t->n_vocab);
    t->vhash = fg_calloc(FG_MEM_TOKENIZER, slots, sizeof *t->vhash);
    if (!t->vhash) return fg_error(FG_ERR_NOMEM, "tokenizer: out of memory for the vocabulary hash");
    t->vmask = slots - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->tok[id].len == 0) continue;
        fg_str p = piece_of(t, id);
        uint32_t h = hash_bytes(p.ptr, p.len) & t->vmask;
        for (;;) {
            uint32_t v = t->vhash[h];
            if (v == 0) {
                t->vhash[h] = (uint32_t)id + 1;
                break;
            }
            fg_str q = piece_of(t, (int32_t)v - 1);
            if (q.len == p.len && !memcmp(q.ptr, p.ptr, p.len)) {
                t->vhash[h] = (uint32_t)id + 1; /* a later id wins, as in Hugging Face */
                break;
            }
            h = (h + 1) & t->vmask;
        }
    }
    return FG_OK;
}

int32_t fg_tok_find(const fg_tokenizer *t, const char *s, size_t n)
{
    if (!t || !t->vhash || n == 0) return -1;
    uint32_t h = hash_bytes(s, n) & t->vmask;
    for (;;) {
        uint32_t v = t->vhash[h];
        if (v == 0) return -1;
        const tok_entry *e = &t->tok[v - 1];
        if (e->len == n && !memcmp(t->base + e->off, s, n)) return (int32_t)v - 1;
        h = (h + 1) & t->vmask;
    }
}

fg_status tok_merges_reserve(fg_tokenizer *t, size_t n)
{
    uint32_t slots = pow2_slots(n);
    t->mhash = fg_calloc(FG_MEM_TOKENIZER, slots, sizeof *t->mhash);
    if (!t->mhash) return fg_error(FG_ERR_NOMEM, "tokenizer: out of memory for the merge table");
    t->mmask = slots - 1;
    return FG_OK;
}

bool tok_merge_add(fg_tokenizer *t, const char *a, size_t la, const char *b, size_t lb, uint32_t rank, char *tmp)
{
    int32_t ia = fg_tok_find(t, a, la), ib = fg_tok_find(t, b, lb);
    if (ia < 0 || ib < 0) return false;
    memcpy(tmp, a, la);
    memcpy(tmp + la, b, lb);
    int32_t im = fg_tok_find(t, tmp, la + lb);
    if (im < 0) return false;
    uint64_t key = ((uint64_t)(uint32_t)(ia + 1) << 32) | (uint32_t)(ib + 1);
    uint32_t h = hash_u64(key) & t->mmask;
    while (t->mhash[h].key && t->mhash[h].key != key) h = (h + 1) & t->mmask;
    if (!t->mhash[h].key) t->n_merges++;
    t->mhash[h].key = key;
    t->mhash[h].rank = rank;
    t->mhash[h].merged = im;
    return true;
}

const tok_merge *tok_merge_find(const fg_tokenizer *t, int32_t left, int32_t right)
{
    uint64_t key = ((uint64_t)(uint32_t)(left + 1) << 32) | (uint32_t)(right + 1);
    uint32_t h = hash_u64(key) & t->mmask;
    for (;;) {
        const tok_merge *m = &t->mhash[h];
        if (m->key == key) return m;
        if (!m->key) return NULL;
        h = (h + 1) & t->mmask;
    }
}

/* PCRE2 allocations go through the accounting allocator. */
static void *pcre_alloc(size_t n, void *ud)
{
    (void)ud;
    return fg_malloc(FG_MEM_TOKENIZER, n);
}
static void pcre_free(void *p, void *ud)
{
    (void)ud;
    fg_free(p);
}

fg_status tok_add_split(fg_tokenizer *t, const char *pattern, size_t len, bool literal, const char *what)
{
    if (t->n_splits >= TOK_MAX_SPLITS)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: more than %d split pre-tokenizers", what, TOK_MAX_SPLITS);
    if (!t->gctx) {
        t->gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
        if (!t->gctx) return fg_error(FG_ERR_NOMEM, "%s: out of memory for the regex context", what);
    }
    pcre2_compile_context *cc = pcre2_compile_context_create(t->gctx);
    if (!cc) return fg_error(FG_ERR_NOMEM, "%s: out of memory compiling the split pattern", what);
    int err;
    PCRE2_SIZE erroff;
    /* The pattern comes from the file: PCRE2 checks it is valid UTF-8 (with
     * PCRE2_NO_UTF_CHECK, invalid UTF-8 in a pattern makes pcre2_compile read out of bounds).
     * PCRE2_UCP is refused with PCRE2_LITERAL ("invalid option bits"), and means nothing there. */
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &err, &erroff, cc);
    pcre2_compile_context_free(cc);
    if (!re) {
        if (err == PCRE2_ERROR_HEAP_FAILED)
            return fg_error(FG_ERR_NOMEM, "%s: out of memory compiling the split pattern", what);
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return fg_error(FG_ERR_UNSUPPORTED, "%s: split pattern not understood at offset %zu: %s", what,
                        (size_t)erroff, (const char *)msg);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    t->split[t->n_splits++] = re;
    return FG_OK;
}

static int cmp_added(const void *pa, const void *pb, void *ud)
{
    const fg_tokenizer *t = ud;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    uint8_t fa = (uint8_t)t->base[t->tok[a].off], fb = (uint8_t)t->base[t->tok[b].off];
    if (fa != fb) return fa < fb ? -1 : 1;
    if (t->tok[a].len != t->tok[b].len) return t->tok[a].len > t->tok[b].len ? -1 : 1;
    return a < b ? -1 : a > b;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

static const char *const eog_names[] = {
    "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|endoftext|>", "<|end_of_text|>", "<end_of_turn>",
    "<|end|>", "</s>", "<|return|>", "<|end▁of▁sentence|>", "<｜end▁of▁sentence｜>",
};

fg_status tok_finish(fg_tokenizer *t, const int32_t *extra_eog, size_t n_extra)
{
    /* byte tokens */
    for (int b = 0; b < 256; b++) {
        char s[8];
        int n;
        if (t->kind == FG_TOK_BYTE_BPE) {
            n = tok_utf8_put(tok_byte_to_cp((uint8_t)b), s);
        } else {
            static const char hex[] = "0123456789ABCDEF";
            memcpy(s, "<0x", 3);
            s[3] = hex[b >> 4];
            s[4] = hex[b & 15];
            s[5] = '>';
            n = 6;
        }
        int32_t id = fg_tok_find(t, s, (size_t)n);
        t->byte_id[b] = id;
        if (t->kind == FG_TOK_SPM_BPE && id >= 0 && t->tok[id].type == FG_TOKT_NORMAL && t->byte_fallback)
            t->tok[id].type = FG_TOKT_BYTE;
    }
    /* added tokens, bucketed by first byte, longest first */
    uint32_t na = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((t->tok[id].flags & TOKF_ADDED) && t->tok[id].len) na++;
    if (na) {
        t->added = fg_malloc(FG_MEM_TOKENIZER, na * sizeof *t->added);
        if (!t->added) return fg_error(FG_ERR_NOMEM, "tokenizer: out of memory");
        na = 0;
        for (int32_t id = 0; id < t->n_vocab; id++)
            if ((t->tok[id].flags & TOKF_ADDED) && t->tok[id].len) t->added[na++] = id;
        qsort_r(t->added, na, sizeof *t->added, cmp_added, t);
    }
    t->n_added = na;
    uint32_t j = 0;
    for (int b = 0; b <= 256; b++) {
        while (j < na && (uint8_t)t->base[t->tok[t->added[j]].off] < b) j++;
        t->added_start[b] = j;
    }
    t->added_start[256] = na;
    /* end-of-generation set */
    size_t cap = 2 + n_extra + sizeof eog_names / sizeof eog_names[0];
    t->eog = fg_malloc(FG_MEM_TOKENIZER, cap * sizeof *t->eog);
    if (!t->eog) return fg_error(FG_ERR_NOMEM, "tokenizer: out of memory");
    uint32_t ne = 0;
    if (t->eos >= 0) t->eog[ne++] = t->eos;
    for (size_t i = 0; i < n_extra; i++)
        if (extra_eog[i] >= 0 && extra_eog[i] < t->n_vocab) t->eog[ne++] = extra_eog[i];
    for (size_t i = 0; i < sizeof eog_names / sizeof eog_names[0]; i++) {
        int32_t id = fg_tok_find(t, eog_names[i], strlen(eog_names[i]));
        if (id >= 0 && ((t->tok[id].flags & TOKF_ADDED) || t->tok[id].type == FG_TOKT_CONTROL))
            t->eog[ne++] = id;
    }
    qsort(t->eog, ne, sizeof *t->eog, cmp_i32);
    uint32_t u = 0;
    for (uint32_t i = 0; i < ne; i++)
        if (u == 0 || t->eog[u - 1] != t->eog[i]) t->eog[u++] = t->eog[i];
    t->n_eog = u;
    for (uint32_t i = 0; i < u; i++) t->tok[t->eog[i]].flags |= TOKF_EOG;
    /* longest token text */
    size_t mx = 1;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->tok[id].len > mx) mx = t->tok[id].len;
    t->max_bytes = mx;
    return FG_OK;
}

void fg_tok_free(fg_tokenizer *t)
{
    if (!t) return;
    for (int i = 0; i < t->n_splits; i++) pcre2_code_free(t->split[i]);
    if (t->gctx) pcre2_general_context_free(t->gctx);
    fg_free(t->blob);
    fg_free(t->tok);
    fg_free(t->vhash);
    fg_free(t->mhash);
    fg_free(t->added);
    fg_free(t->eog);
    fg_free(t->chat_template);
    fg_free(t);
}

size_t fg_tok_memory(const fg_tokenizer *t)
{
    if (!t) return 0;
    size_t n = sizeof *t + t->blob_size + (size_t)t->n_vocab * sizeof *t->tok;
    if (t->vhash) n += ((size_t)t->vmask + 1) * sizeof *t->vhash;
    if (t->mhash) n += ((size_t)t->mmask + 1) * sizeof *t->mhash;
    n += t->n_added * sizeof *t->added + t->n_eog * sizeof *t->eog;
    if (t->chat_template) n += strlen(t->chat_template) + 1;
    for (int i = 0; i < t->n_splits; i++) {
        size_t sz = 0;
        pcre2_pattern_info(t->split[i], PCRE2_INFO_SIZE, &sz);
        n += sz;
    }
    return n;
}

/* ---- accessors --------------------------------------------------------------------- */
fg_tok_kind fg_tok_get_kind(const fg_tokenizer *t) { return t->kind; }
int32_t fg_tok_vocab_size(const fg_tokenizer *t) { return t->n_vocab; }
int32_t fg_tok_bos(const fg_tokenizer *t) { return t->bos; }
int32_t fg_tok_eos(const fg_tokenizer *t) { return t->eos; }
bool fg_tok_add_bos_default(const fg_tokenizer *t) { return t->add_bos && t->bos >= 0; }
const char *fg_tok_chat_template(const fg_tokenizer *t) { return t->chat_template; }
size_t fg_tok_max_token_bytes(const fg_tokenizer *t) { return t->max_bytes; }

bool fg_tok_is_eog(const fg_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->tok[id].flags & TOKF_EOG);
}

const int32_t *fg_tok_eog_ids(const fg_tokenizer *t, size_t *n)
{
    *n = t->n_eog;
    return t->eog;
}

fg_tok_type fg_tok_token_type(const fg_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_vocab) return FG_TOKT_UNUSED;
    return (fg_tok_type)t->tok[id].type;
}

bool fg_tok_is_special(const fg_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_vocab) return false;
    return (t->tok[id].flags & TOKF_SPECIAL) || t->tok[id].type == FG_TOKT_CONTROL;
}

fg_str fg_tok_piece(const fg_tokenizer *t, int32_t id)
{
    fg_str s = {NULL, 0};
    if (id < 0 || id >= t->n_vocab) return s;
    return piece_of(t, id);
}

/* Text bytes of a token (see token.h). Writes up to cap; returns the full length. */
size_t fg_tok_token_bytes(const fg_tokenizer *t, int32_t id, char *buf, size_t cap)
{
    if (id < 0 || id >= t->n_vocab) return 0;
    const tok_entry *e = &t->tok[id];
    const uint8_t *p = (const uint8_t *)t->base + e->off;
    size_t n = e->len, o = 0;
#define PUT(c) do { if (o < cap) buf[o] = (char)(c); o++; } while (0)
    if (e->flags & TOKF_RAW) {
        for (size_t i = 0; i < n; i++) PUT(p[i]);
        return o;
    }
    if (t->kind == FG_TOK_BYTE_BPE) {
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            int l = tok_utf8_get(p + i, n - i, &cp);
            int b = l ? tok_cp_to_byte(cp) : -1;
            if (b >= 0) {
                PUT(b);
                i += (size_t)l;
            } else {
                size_t k = l ? (size_t)l : 1; /* not a mapped byte: keep the text */
                for (size_t j = 0; j < k; j++) PUT(p[i + j]);
                i += k;
            }
        }
        return o;
    }
    if (e->type == FG_TOKT_BYTE && n == 6) {
        unsigned v = 0;
        for (int i = 3; i < 5; i++) {
            uint8_t c = p[i];
            v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        PUT(v);
        return o;
    }
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && p[i] == 0xE2 && p[i + 1] == 0x96 && p[i + 2] == 0x81) { /* ▁ */
            PUT(' ');
            i += 3;
        } else {
            PUT(p[i]);
            i++;
        }
    }
    return o;
#undef PUT
}

/* ---- UTF-8 repair shared by decode and the stream -------------------------------------
 * Bytes are fed one at a time; complete well-formed characters pass through, every
 * maximal ill-formed subpart becomes U+FFFD (so the output is what a lossy UTF-8 decoder,
 * JavaScript's TextDecoder or Rust's from_utf8_lossy, makes of the whole byte string). */
typedef struct out_sink {
    char *buf;
    size_t cap, n;
    fg_tok_stream *s;
} out_sink;

static void sink_put(out_sink *o, const uint8_t *b, size_t n)
{
    fg_tok_stream *s = o->s;
    if (!s->started && n) {
        s->started = true;
        if (s->strip_space && b[0] == ' ') {
            b++;
            n--;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (o->n < o->cap) o->buf[o->n] = (char)b[i];
        o->n++;
    }
}

static const uint8_t REPL[3] = {0xEF, 0xBF, 0xBD};

static void feed_byte(out_sink *o, uint8_t b)
{
    fg_tok_stream *s = o->s;
    if (s->n_pend) {
        bool ok = s->n_pend == 1 ? second_ok(s->pend[0], b) : (b & 0xC0) == 0x80;
        if (ok) {
            s->pend[s->n_pend++] = b;
            if (s->n_pend == s->need) {
                sink_put(o, s->pend, s->n_pend);
                s->n_pend = 0;
            }
            return;
        }
        sink_put(o, REPL, 3);
        s->n_pend = 0;
    }
    int l = lead_len(b);
    if (l == 1) {
        sink_put(o, &b, 1);
    } else if (l == 0) {
        sink_put(o, REPL, 3);
    } else {
        s->pend[0] = b;
        s->n_pend = 1;
        s->need = (uint8_t)l;
    }
}

void fg_tok_stream_init(fg_tok_stream *s, const fg_tokenizer *t, bool skip_special, bool at_start)
{
    memset(s, 0, sizeof *s);
    s->skip_special = skip_special;
    s->strip_space = at_start && t->spm_strip_leading;
}

size_t fg_tok_stream_bufsize(const fg_tokenizer *t)
{
    return 3 * (t->max_bytes + 4);
}

static void feed_bytes(out_sink *o, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80 && !o->s->n_pend && o->s->started) { /* ASCII fast path */
            if (o->n < o->cap) o->buf[o->n] = (char)p[i];
            o->n++;
        } else {
            feed_byte(o, p[i]);
        }
    }
}

static void push_token(out_sink *o, const fg_tokenizer *t, int32_t id)
{
    char tmp[256];
    size_t n = fg_tok_token_bytes(t, id, tmp, sizeof tmp);
    if (n <= sizeof tmp) {
        feed_bytes(o, (const uint8_t *)tmp, n);
        return;
    }
    /* a piece longer than the stack buffer */
    char *big = fg_malloc(FG_MEM_TOKENIZER, n);
    if (big) {
        fg_tok_token_bytes(t, id, big, n);
        feed_bytes(o, (const uint8_t *)big, n);
        fg_free(big);
    } else {
        sink_put(o, REPL, 3);
    }
}

fg_status fg_tok_stream_push(fg_tok_stream *s, const fg_tokenizer *t, int32_t id, char *out, size_t cap,
                             size_t *len)
{
    *len = 0;
    if (id < 0 || id >= t->n_vocab) return fg_error(FG_ERR_ARG, "decode: token id %d out of range 0..%d", id, t->n_vocab - 1);
    if (cap < fg_tok_stream_bufsize(t))
        return fg_error(FG_ERR_ARG, "decode: output buffer of %zu bytes is smaller than %zu", cap,
                        fg_tok_stream_bufsize(t));
    if (s->skip_special && fg_tok_is_special(t, id)) return FG_OK;
    out_sink o = {out, cap, 0, s};
    push_token(&o, t, id);
    *len = o.n;
    return FG_OK;
}

size_t fg_tok_stream_flush(fg_tok_stream *s, char *out, size_t cap)
{
    out_sink o = {out, cap, 0, s};
    if (s->n_pend) {
        s->n_pend = 0;
        sink_put(&o, REPL, 3);
    }
    return o.n < cap ? o.n : cap;
}

fg_status fg_tok_decode(const fg_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, char *buf,
                        size_t cap, size_t *len_out)
{
    fg_tok_stream s;
    fg_tok_stream_init(&s, t, skip_special, true);
    out_sink o = {buf, cap ? cap - 1 : 0, 0, &s};
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return fg_error(FG_ERR_ARG, "decode: token id %d out of range 0..%d", ids[i], t->n_vocab - 1);
        if (skip_special && fg_tok_is_special(t, ids[i])) continue;
        push_token(&o, t, ids[i]);
    }
    if (s.n_pend) sink_put(&o, REPL, 3);
    if (cap) buf[o.n < cap - 1 ? o.n : cap - 1] = 0;
    *len_out = o.n;
    return FG_OK;
}

fg_status fg_tok_decode_alloc(const fg_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, char **text,
                              size_t *len_out)
{
    *text = NULL;
    size_t len;
    fg_status st = fg_tok_decode(t, ids, n, skip_special, NULL, 0, &len);
    if (st) return st;
    char *b = fg_malloc(FG_MEM_TOKENIZER, len + 1);
    if (!b) return fg_error(FG_ERR_NOMEM, "decode: out of memory for %zu bytes", len + 1);
    st = fg_tok_decode(t, ids, n, skip_special, b, len + 1, &len);
    if (st) {
        fg_free(b);
        return st;
    }
    *text = b;
    *len_out = len;
    return FG_OK;
}
