/* Encoding: text -> ids, in Hugging Face's order of steps:
 *   1. invalid UTF-8 -> U+FFFD (maximal subparts)
 *   2. added tokens cut out of the raw text (leftmost, longest; lstrip/rstrip trim the
 *      neighbouring whitespace; special ones only with parse_special)
 *   3. each text section between them: normalizer (NFC; SentencePiece ' ' -> ▁ and the
 *      ▁ prefix)
 *   4. pre-tokenizer: the split regexes in turn (pieces = matches and the gaps between)
 *   5. BPE on every piece: symbols in a linked list, candidate pairs in a min-heap keyed by
 *      (rank, position): the lowest rank merges first, the leftmost on ties, exactly as the
 *      reference implementations choose. Stale heap entries are recognised by the ids of
 *      the pair they were made for. No per-word cache: O(n log n) per piece.
 * Everything is scratch of the call (the tokenizer is read-only), so encoding is
 * thread-safe. */
#include "token/tokenizer-impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct heap_ent {
    uint64_t key;     /* priority << 32 | position of the left symbol */
    int32_t l, r;     /* ids of the pair when pushed (staleness check) */
    int32_t merged;
    int32_t pad;
} heap_ent;

typedef struct enc {
    const fg_tokenizer *t;
    int32_t *ids;
    size_t cap, n;
    bool grow;
    fg_status err;
    /* scratch */
    char *clean;         /* sanitized input (when the input had invalid UTF-8) */
    char *norm;          /* normalized section */
    size_t norm_cap;
    int32_t *u32;        /* NFC work buffer (code points) */
    size_t u32_cap;
    char *nfc;           /* NFC of the current section */
    size_t nfc_cap, nfc_len;
    char *mapped;        /* byte-level mapped piece (ignore_merges lookups) */
    size_t mapped_cap;
    int32_t *sid, *prev, *next;
    uint32_t *spos, *slen;  /* SPM: symbol text ranges */
    size_t sym_cap;
    heap_ent *heap;
    size_t heap_n, heap_cap;
    pcre2_match_data *md[TOK_MAX_SPLITS];
    bool section_first;  /* the current section starts the text (Metaspace "first") */
    bool last_unk;
} enc;

static bool grow_buf(enc *e, void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = *p ? fg_realloc(*p, c * elem) : fg_malloc(FG_MEM_TOKENIZER, c * elem);
    if (!q) {
        e->err = fg_error(FG_ERR_NOMEM, "encode: out of memory (%zu bytes of scratch)", c * elem);
        return false;
    }
    *p = q;
    *cap = c;
    return true;
}

static void emit(enc *e, int32_t id)
{
    if (e->grow) {
        size_t c = e->cap;
        if (e->n == c && !grow_buf(e, (void **)&e->ids, &c, e->n + 1, sizeof *e->ids)) return;
        e->cap = c;
        e->ids[e->n] = id;
    } else if (e->n < e->cap) {
        e->ids[e->n] = id;
    }
    e->n++;
}

static void emit_unk(enc *e)
{
    const fg_tokenizer *t = e->t;
    if (t->unk < 0) return;  /* no unknown token: nothing to say (cannot happen byte-level) */
    if (t->fuse_unk && e->last_unk) return;
    emit(e, t->unk);
    e->last_unk = true;
}

static void emit_id(enc *e, int32_t id)
{
    emit(e, id);
    e->last_unk = false;
}

/* ---- heap ------------------------------------------------------------------------------ */
static bool heap_push(enc *e, heap_ent x)
{
    if (!grow_buf(e, (void **)&e->heap, &e->heap_cap, e->heap_n + 1, sizeof *e->heap)) return false;
    size_t i = e->heap_n++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (e->heap[p].key <= x.key) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = x;
    return true;
}

static heap_ent heap_pop(enc *e)
{
    heap_ent top = e->heap[0], x = e->heap[--e->heap_n];
    size_t n = e->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && e->heap[c + 1].key < e->heap[c].key) c++;
        if (x.key <= e->heap[c].key) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = x;
    return top;
}

/* Order-preserving map of a float32 to uint32 (for "higher score merges first"). */
static uint32_t float_order(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* Candidate merge of symbol i with its successor: pushes it when the pair merges. */
static bool try_pair(enc *e, int32_t i)
{
    const fg_tokenizer *t = e->t;
    int32_t j = e->next[i];
    if (j < 0) return true;
    int32_t a = e->sid[i], b = e->sid[j];
    if (a < 0 || b < 0) return true;
    heap_ent h = {0, a, b, -1, 0};
    if (t->mhash) {
        const tok_merge *m = tok_merge_find(t, a, b);
        if (!m) return true;
        h.key = ((uint64_t)m->rank << 32) | (uint32_t)i;
        h.merged = m->merged;
    } else {
        /* SentencePiece scores (GGUF): the pair merges when the joined text is a normal
         * token; the highest score goes first. */
        int32_t id = fg_tok_find(t, e->norm + e->spos[i], e->slen[i] + e->slen[j]);
        if (id < 0 || t->tok[id].type != FG_TOKT_NORMAL) return true;
        float sc;
        memcpy(&sc, t->scores + (size_t)id * 4, 4);
        h.key = ((uint64_t)float_order(-sc) << 32) | (uint32_t)i;
        h.merged = id;
    }
    return heap_push(e, h);
}

/* Merges the symbols sid[0..n) in place; the survivors are linked from 0 by next[]. */
static void bpe_merge(enc *e, int32_t n, bool ranges)
{
    e->heap_n = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        if (!try_pair(e, i)) return;
    while (e->heap_n) {
        heap_ent h = heap_pop(e);
        int32_t i = (int32_t)(uint32_t)h.key;
        int32_t j = e->next[i];
        if (j < 0 || e->sid[i] != h.l || e->sid[j] != h.r) continue; /* stale */
        e->sid[i] = h.merged;
        if (ranges) e->slen[i] += e->slen[j];
        e->next[i] = e->next[j];
        if (e->next[j] >= 0) e->prev[e->next[j]] = i;
        e->sid[j] = -2; /* dead */
        if (e->prev[i] >= 0 && !try_pair(e, e->prev[i])) return;
        if (!try_pair(e, i)) return;
    }
}

static bool sym_reserve(enc *e, size_t n, bool ranges)
{
    size_t c = e->sym_cap;
    if (n <= c && (!ranges || e->spos)) return true;
    while (c < n) c = c ? c * 2 : 256;
    int32_t **arr[] = {&e->sid, &e->prev, &e->next};
    for (int k = 0; k < 3; k++) {
        void *q = *arr[k] ? fg_realloc(*arr[k], c * 4) : fg_malloc(FG_MEM_TOKENIZER, c * 4);
        if (!q) goto nomem;
        *arr[k] = q;
    }
    if (ranges) {
        uint32_t **rr[] = {&e->spos, &e->slen};
        for (int k = 0; k < 2; k++) {
            void *q = *rr[k] ? fg_realloc(*rr[k], c * 4) : fg_malloc(FG_MEM_TOKENIZER, c * 4);
            if (!q) goto nomem;
            *rr[k] = q;
        }
    }
    e->sym_cap = c;
    return true;
nomem:
    e->err = fg_error(FG_ERR_NOMEM, "encode: out of memory for %zu symbols", c);
    return false;
}

/* ---- BPE on one piece ------------------------------------------------------------------ */
static void bpe_byte_level(enc *e, const uint8_t *p, size_t n)
{
    const fg_tokenizer *t = e->t;
    if (n == 1) {
        if (t->byte_id[p[0]] >= 0) emit_id(e, t->byte_id[p[0]]);
        else emit_unk(e);
        return;
    }
    if (t->ignore_merges) {
        /* the whole piece, if it is a token, is taken as it is */
        if (!grow_buf(e, (void **)&e->mapped, &e->mapped_cap, 2 * n, 1)) return;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) m += (size_t)tok_utf8_put(tok_byte_to_cp(p[i]), e->mapped + m);
        int32_t id = fg_tok_find(t, e->mapped, m);
        if (id >= 0) {
            emit_id(e, id);
            return;
        }
    }
    if (n > INT32_MAX / 2) {
        e->err = fg_error(FG_ERR_ARG, "encode: a piece of %zu bytes is too long", n);
        return;
    }
    if (!sym_reserve(e, n, false)) return;
    for (size_t i = 0; i < n; i++) {
        e->sid[i] = t->byte_id[p[i]];
        e->prev[i] = (int32_t)i - 1;
        e->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    bpe_merge(e, (int32_t)n, false);
    if (e->err) return;
    for (int32_t i = 0; i >= 0; i = e->next[i]) {
        if (e->sid[i] >= 0) emit_id(e, e->sid[i]);
        else emit_unk(e);
    }
}

/* SentencePiece-style: symbols are the piece's characters (p is valid UTF-8 inside
 * e->norm at offset `off`). */
static void bpe_spm(enc *e, size_t off, size_t n)
{
    const fg_tokenizer *t = e->t;
    const uint8_t *p = (const uint8_t *)e->norm + off;
    if (t->ignore_merges) {
        int32_t id = fg_tok_find(t, (const char *)p, n);
        if (id >= 0) {
            emit_id(e, id);
            return;
        }
    }
    if (n > INT32_MAX / 2) {
        e->err = fg_error(FG_ERR_ARG, "encode: a piece of %zu bytes is too long", n);
        return;
    }
    if (!sym_reserve(e, n, true)) return;
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = tok_utf8_get(p + i, n - i, &cp);
        if (l == 0) l = 1; /* cannot happen: the text was sanitized */
        e->sid[ns] = fg_tok_find(t, (const char *)p + i, (size_t)l);
        e->spos[ns] = (uint32_t)(off + i);
        e->slen[ns] = (uint32_t)l;
        e->prev[ns] = ns - 1;
        e->next[ns] = ns + 1;
        ns++;
        i += (size_t)l;
    }
    e->next[ns - 1] = -1;
    bpe_merge(e, ns, true);
    if (e->err) return;
    for (int32_t i = 0; i >= 0; i = e->next[i]) {
        if (e->sid[i] >= 0) {
            emit_id(e, e->sid[i]);
            continue;
        }
        /* not in the vocabulary: byte fallback when every byte token exists */
        const uint8_t *q = (const uint8_t *)e->norm + e->spos[i];
        bool all = t->byte_fallback;
        for (uint32_t k = 0; all && k < e->slen[i]; k++) all = t->byte_id[q[k]] >= 0;
        if (all) {
            for (uint32_t k = 0; k < e->slen[i]; k++) emit_id(e, t->byte_id[q[k]]);
        } else {
            emit_unk(e);
        }
    }
}

static void piece(enc *e, size_t off, size_t n)
{
    if (n == 0 || e->err) return;
    if (e->t->kind == FG_TOK_BYTE_BPE) bpe_byte_level(e, (const uint8_t *)e->norm + off, n);
    else bpe_spm(e, off, n);
}

/* Metaspace split=true: a new piece starts at every ▁. */
static void metaspace_split(enc *e, size_t start, size_t end)
{
    size_t s = start;
    for (size_t i = start + 1; i + 3 <= end; i++) {
        const uint8_t *q = (const uint8_t *)e->norm + i;
        if (q[0] == 0xE2 && q[1] == 0x96 && q[2] == 0x81) {
            piece(e, s, i - s);
            s = i;
        }
    }
    piece(e, s, end - s);
}

/* Pre-tokenizer level k on norm[start, end): matches and the gaps between them are
 * pieces (Hugging Face's "Isolated" behaviour). */
static void split_level(enc *e, int k, size_t start, size_t end)
{
    const fg_tokenizer *t = e->t;
    if (e->err || end <= start) return;
    if (k == t->n_splits) {
        if (t->metaspace_split) metaspace_split(e, start, end);
        else piece(e, start, end - start);
        return;
    }
    PCRE2_SPTR subj = (PCRE2_SPTR)(e->norm + start);
    size_t len = end - start, pos = 0, prev = 0;
    while (pos < len) {
        int rc = pcre2_match(t->split[k], subj, len, pos, PCRE2_NO_UTF_CHECK, e->md[k], NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc == PCRE2_ERROR_NOMEMORY) {
            e->err = fg_error(FG_ERR_NOMEM, "encode: out of memory in the pre-tokenizer regex");
            return;
        }
        if (rc < 0) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(rc, msg, sizeof msg);
            e->err = fg_error(FG_ERR_INTERNAL, "encode: pre-tokenizer regex failed: %s", (const char *)msg);
            return;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md[k]);
        size_t ms = ov[0], me = ov[1];
        if (ms > prev) split_level(e, k + 1, start + prev, start + ms);
        if (me > ms) split_level(e, k + 1, start + ms, start + me);
        prev = me;
        if (me > ms) {
            pos = me;
        } else { /* empty match: step over one character */
            pos = ms + 1;
            while (pos < len && (subj[pos] & 0xC0) == 0x80) pos++;
        }
    }
    if (prev < len) split_level(e, k + 1, start + prev, end);
}

/* ---- normalization --------------------------------------------------------------------- */
/* NFC fast path. A text whose every code point is "NFC-inert" is its own NFC: the
 * inert ones are starters (combining class 0) that NFC leaves alone when standing alone
 * and that never compose with a preceding character. The BMP table is computed once
 * from utf8proc's own data (so it follows its Unicode version); outside the BMP, emoji
 * and the CJK ideograph planes are inert, everything else takes the full path. */
static uint8_t nfc_unsafe[0x10000 / 8];
static pthread_once_t nfc_once = PTHREAD_ONCE_INIT;

static void mark_unsafe(uint32_t cp)
{
    if (cp < 0x10000) nfc_unsafe[cp >> 3] |= (uint8_t)(1u << (cp & 7));
}

static void nfc_table_init(void)
{
    for (uint32_t cp = 0xC0; cp < 0x10000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        if (utf8proc_get_property((utf8proc_int32_t)cp)->combining_class) {
            mark_unsafe(cp);
            continue;
        }
        utf8proc_int32_t d[8];
        int last = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)cp, d, 8, UTF8PROC_DECOMPOSE, &last);
        if (k == 1 && (uint32_t)d[0] == cp) continue;
        if (k < 1 || k > 8) {
            mark_unsafe(cp);
            continue;
        }
        /* every later part of a decomposition is something that composes with what
         * precedes it */
        for (utf8proc_ssize_t i = 1; i < k; i++) mark_unsafe((uint32_t)d[i]);
        utf8proc_int32_t c[8];
        memcpy(c, d, sizeof d);
        utf8proc_ssize_t m = utf8proc_reencode(c, k, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        uint32_t back;
        if (m < 1 || tok_utf8_get((const uint8_t *)c, (size_t)m, &back) != (int)m || back != cp) mark_unsafe(cp);
    }
}

static bool nfc_inert(uint32_t cp)
{
    if (cp < 0x80) return true;
    if (cp < 0x10000) return !(nfc_unsafe[cp >> 3] & (1u << (cp & 7)));
    return (cp >= 0x1F000 && cp <= 0x1FAFF) || (cp >= 0x20000 && cp <= 0x2F7FF) || (cp >= 0x30000 && cp <= 0x3134F);
}

/* NFC of one run [s, s+n) into the NFC buffer (appended at e->nfc_len). */
static bool nfc_run(enc *e, const char *s, size_t n)
{
    utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    utf8proc_ssize_t m = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n,
                                            (utf8proc_int32_t *)e->u32, (utf8proc_ssize_t)e->u32_cap, opt);
    if (m >= 0 && (size_t)m > e->u32_cap) {
        if (!grow_buf(e, (void **)&e->u32, &e->u32_cap, (size_t)m, 4)) return false;
        m = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, (utf8proc_int32_t *)e->u32,
                               (utf8proc_ssize_t)e->u32_cap, opt);
    }
    if (m >= 0) m = utf8proc_reencode((utf8proc_int32_t *)e->u32, m, opt);
    if (m < 0) {
        e->err = fg_error(FG_ERR_INTERNAL, "encode: NFC failed: %s", utf8proc_errmsg(m));
        return false;
    }
    if (!grow_buf(e, (void **)&e->nfc, &e->nfc_cap, e->nfc_len + (size_t)m, 1)) return false;
    memcpy(e->nfc + e->nfc_len, e->u32, (size_t)m);
    e->nfc_len += (size_t)m;
    return true;
}

static bool nfc_copy(enc *e, const char *s, size_t n)
{
    if (n == 0) return true;
    if (!grow_buf(e, (void **)&e->nfc, &e->nfc_cap, e->nfc_len + n, 1)) return false;
    memcpy(e->nfc + e->nfc_len, s, n);
    e->nfc_len += n;
    return true;
}

/* NFC of a section. Inert characters cut the text into independent parts (nothing
 * composes or reorders across them), so only the runs from the inert character before a
 * non-inert one up to the next inert character go through utf8proc; the rest is copied.
 * Returns false when the section is already NFC-inert (use it as it is). */
static bool nfc_section(enc *e, const char *s, size_t n)
{
    pthread_once(&nfc_once, nfc_table_init);
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, pos = 0, last_inert = 0;
    bool have_inert = false, any = false;
    e->nfc_len = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            last_inert = i++;
            have_inert = true;
            continue;
        }
        uint32_t cp;
        int l = tok_utf8_get(u + i, n - i, &cp);
        if (!l) l = 1; /* cannot happen: sanitized */
        if (nfc_inert(cp)) {
            last_inert = i;
            have_inert = true;
            i += (size_t)l;
            continue;
        }
        size_t start = have_inert && last_inert >= pos ? last_inert : pos, j = i + (size_t)l;
        while (j < n) {
            int l2 = tok_utf8_get(u + j, n - j, &cp);
            if (!l2) l2 = 1;
            if (nfc_inert(cp)) break;
            j += (size_t)l2;
        }
        if (!nfc_copy(e, s + pos, start - pos) || !nfc_run(e, s + start, j - start)) return false;
        any = true;
        pos = i = j;
        have_inert = false;
    }
    if (!any) return false;
    return nfc_copy(e, s + pos, n - pos);
}

/* Normalizes one text section into e->norm; returns its length (0 = nothing left). */
static size_t normalize(enc *e, const char *s, size_t n)
{
    const fg_tokenizer *t = e->t;
    const char *src = s;
    size_t len = n;
    if (t->nfc && nfc_section(e, s, n)) {
        src = e->nfc;
        len = e->nfc_len;
    }
    if (e->err) return 0;
    bool prepend = t->spm_prepend == 2 || (t->spm_prepend == 1 && e->section_first);
    /* worst case: every byte a space -> 3 bytes, plus the prefix and the ByteLevel space */
    if (!grow_buf(e, (void **)&e->norm, &e->norm_cap, 3 * len + 4, 1)) return 0;
    char *o = e->norm;
    size_t k = 0;
    if (t->kind == FG_TOK_SPM_BPE) {
        if (prepend) {
            memcpy(o, "\xE2\x96\x81", 3);
            k = 3;
        }
        for (size_t i = 0; i < len; i++) {
            if (src[i] == ' ' && t->spm_replace_space) {
                memcpy(o + k, "\xE2\x96\x81", 3);
                k += 3;
            } else {
                o[k++] = src[i];
            }
        }
    } else {
        if (t->byte_prefix_space && (len == 0 || src[0] != ' ')) o[k++] = ' ';
        memcpy(o + k, src, len);
        k += len;
    }
    return k;
}

static void section(enc *e, const char *s, size_t n)
{
    if (n == 0 || e->err) return;
    size_t m = normalize(e, s, n);
    if (e->err || m == 0) return;
    split_level(e, 0, 0, m);
}

/* ---- step 1: invalid UTF-8 -> U+FFFD ------------------------------------------------- */
static size_t valid_prefix(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int l = tok_utf8_get(s + i, n - i, &cp);
        if (!l) return i;
        i += (size_t)l;
    }
    return n;
}

static const char *sanitize(enc *e, const char *text, size_t *len)
{
    size_t n = *len, v = valid_prefix((const uint8_t *)text, n);
    if (v == n) return text;
    if (n > SIZE_MAX / 3 - 1) {
        e->err = fg_error(FG_ERR_ARG, "encode: text too long");
        return NULL;
    }
    e->clean = fg_malloc(FG_MEM_TOKENIZER, 3 * n + 1);
    if (!e->clean) {
        e->err = fg_error(FG_ERR_NOMEM, "encode: out of memory for %zu bytes", 3 * n);
        return NULL;
    }
    size_t o;
    const uint8_t *s = (const uint8_t *)text;
    memcpy(e->clean, text, v);
    o = v;
    for (size_t i = v; i < n;) {
        uint32_t cp;
        int l = tok_utf8_get(s + i, n - i, &cp);
        if (l) {
            memcpy(e->clean + o, s + i, (size_t)l);
            o += (size_t)l;
            i += (size_t)l;
            continue;
        }
        /* maximal subpart: the lead and the continuation bytes that still fit */
        size_t k = 1;
        int need = (s[i] >= 0xC2 && s[i] <= 0xF4) ? (s[i] < 0xE0 ? 2 : s[i] < 0xF0 ? 3 : 4) : 1;
        if (need > 1 && i + 1 < n) {
            bool ok = true;
            switch (s[i]) {
            case 0xE0: ok = s[i + 1] >= 0xA0 && s[i + 1] <= 0xBF; break;
            case 0xED: ok = s[i + 1] >= 0x80 && s[i + 1] <= 0x9F; break;
            case 0xF0: ok = s[i + 1] >= 0x90 && s[i + 1] <= 0xBF; break;
            case 0xF4: ok = s[i + 1] >= 0x80 && s[i + 1] <= 0x8F; break;
            default: ok = (s[i + 1] & 0xC0) == 0x80; break;
            }
            if (ok) {
                k = 2;
                while ((int)k < need && i + k < n && (s[i + k] & 0xC0) == 0x80) k++;
            }
        }
        memcpy(e->clean + o, "\xEF\xBF\xBD", 3);
        o += 3;
        i += k;
    }
    *len = o;
    return e->clean;
}

/* ---- step 2: added tokens ------------------------------------------------------------- */
static bool is_word_char(const char *s, size_t n, size_t at, bool before)
{
    /* the character just before `at` (before=true) or at `at` */
    uint32_t cp;
    size_t i = at;
    if (before) {
        if (at == 0) return false;
        i = at - 1;
        while (i > 0 && ((uint8_t)s[i] & 0xC0) == 0x80) i--;
    } else if (at >= n) {
        return false;
    }
    if (!tok_utf8_get((const uint8_t *)s + i, n - i, &cp)) return false;
    if (cp == '_') return true;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) || c == UTF8PROC_CATEGORY_MN ||
           c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_PC;
}

/* Length of the whitespace run ending at `end` (going left, not before `lo`). */
static size_t ws_before(const char *s, size_t lo, size_t end)
{
    size_t i = end;
    while (i > lo) {
        size_t j = i - 1;
        while (j > lo && ((uint8_t)s[j] & 0xC0) == 0x80) j--;
        uint32_t cp;
        if (!tok_utf8_get((const uint8_t *)s + j, i - j, &cp) || !tok_is_space(cp)) break;
        i = j;
    }
    return end - i;
}

static size_t ws_after(const char *s, size_t n, size_t at)
{
    size_t i = at;
    while (i < n) {
        uint32_t cp;
        int l = tok_utf8_get((const uint8_t *)s + i, n - i, &cp);
        if (!l || !tok_is_space(cp)) break;
        i += (size_t)l;
    }
    return i - at;
}

static void encode_text(enc *e, const char *s, size_t n, bool parse_special)
{
    const fg_tokenizer *t = e->t;
    size_t sec = 0, i = 0;
    e->section_first = true;
    while (i < n && !e->err) {
        uint8_t b = (uint8_t)s[i];
        uint32_t lo = t->added_start[b], hi = t->added_start[b + 1];
        int32_t hit = -1;
        for (uint32_t k = lo; k < hi; k++) {
            int32_t id = t->added[k];
            const tok_entry *te = &t->tok[id];
            if (te->len > n - i || memcmp(s + i, t->base + te->off, te->len)) continue;
            if ((te->flags & TOKF_SPECIAL) && !parse_special) continue;
            if ((te->flags & TOKF_SINGLE_WORD) &&
                (is_word_char(s, n, i, true) || is_word_char(s, n, i + te->len, false)))
                continue;
            hit = id;
            break;
        }
        if (hit < 0) {
            i++;
            continue;
        }
        const tok_entry *te = &t->tok[hit];
        size_t end = i;
        if (te->flags & TOKF_LSTRIP) end -= ws_before(s, sec, i);
        if (end > sec) {
            section(e, s + sec, end - sec);
        }
        e->section_first = false;
        emit_id(e, hit);
        i += te->len;
        if (te->flags & TOKF_RSTRIP) i += ws_after(s, n, i);
        sec = i;
    }
    if (n > sec) section(e, s + sec, n - sec);
}

static fg_status encode_common(const fg_tokenizer *t, const char *text, size_t len, bool parse_special,
                               bool add_bos, enc *e)
{
    if (!t || (!text && len)) return fg_error(FG_ERR_ARG, "encode: no tokenizer or text");
    e->t = t;
    for (int k = 0; k < t->n_splits; k++) {
        e->md[k] = pcre2_match_data_create_from_pattern(t->split[k], t->gctx);
        if (!e->md[k]) {
            e->err = fg_error(FG_ERR_NOMEM, "encode: out of memory for regex match data");
            break;
        }
    }
    if (!e->err && add_bos && t->bos >= 0) emit_id(e, t->bos);
    if (!e->err && len) {
        const char *s = sanitize(e, text, &len);
        if (s) encode_text(e, s, len, parse_special);
    }
    for (int k = 0; k < t->n_splits; k++) pcre2_match_data_free(e->md[k]);
    fg_free(e->clean);
    fg_free(e->norm);
    fg_free(e->u32);
    fg_free(e->nfc);
    fg_free(e->mapped);
    fg_free(e->sid);
    fg_free(e->prev);
    fg_free(e->next);
    fg_free(e->spos);
    fg_free(e->slen);
    fg_free(e->heap);
    return e->err;
}

fg_status fg_tok_encode(const fg_tokenizer *t, const char *text, size_t len, bool parse_special, bool add_bos,
                        int32_t *ids, size_t cap, size_t *n_out)
{
    enc e;
    memset(&e, 0, sizeof e);
    e.ids = ids;
    e.cap = ids ? cap : 0;
    fg_status st = encode_common(t, text, len, parse_special, add_bos, &e);
    *n_out = e.n;
    return st;
}

fg_status fg_tok_encode_alloc(const fg_tokenizer *t, const char *text, size_t len, bool parse_special,
                              bool add_bos, int32_t **ids, size_t *n_out)
{
    enc e;
    memset(&e, 0, sizeof e);
    e.grow = true;
    fg_status st = encode_common(t, text, len, parse_special, add_bos, &e);
    if (st) {
        fg_free(e.ids);
        *ids = NULL;
        *n_out = 0;
        return st;
    }
    if (!e.ids) { /* empty result: still hand back a valid buffer */
        e.ids = fg_malloc(FG_MEM_TOKENIZER, sizeof *e.ids);
        if (!e.ids) return fg_error(FG_ERR_NOMEM, "encode: out of memory");
    }
    *ids = e.ids;
    *n_out = e.n;
    return FG_OK;
}
