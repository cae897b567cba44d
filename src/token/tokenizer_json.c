/* Loading a Hugging Face tokenizer.json (+ tokenizer_config.json).
 *
 * Understood: model BPE (vocab, merges as "a b" strings or [a, b] pairs, byte_fallback,
 * ignore_merges, fuse_unk, unk_token); normalizers null, NFC, Prepend("▁"),
 * Replace(" " -> "▁"), Sequence; pre-tokenizers null, Split(Regex|String, Isolated),
 * ByteLevel (use_regex: GPT-2 pattern; add_prefix_space), Digits, Metaspace, Sequence;
 * post-processor TemplateProcessing (a leading special token = BOS), ByteLevel, Sequence;
 * decoders ByteLevel, Metaspace, Sequence of Replace/ByteFallback/Fuse/Strip. Anything
 * else is FG_ERR_UNSUPPORTED naming the component, never a silent approximation.
 *
 * The cJSON tree (several times the file size) lives only during the load. */
#include "token/tokenizer-impl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TOKEN_ID (1 << 26)

typedef struct jload {
    fg_tokenizer *t;
    const char *what;
    bool byte_level;       /* ByteLevel pre-tokenizer or decoder seen */
    bool metaspace;
    int32_t template_bos;  /* from TemplateProcessing */
    bool template_bos_set;
} jload;

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = jget(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jbool(const cJSON *o, const char *k, bool dflt)
{
    const cJSON *v = jget(o, k);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

static const char *type_of(const cJSON *o)
{
    const char *s = jstr(o, "type");
    return s ? s : "";
}

/* ---- normalizer ------------------------------------------------------------------------ */
static fg_status parse_normalizer(jload *L, const cJSON *n)
{
    fg_tokenizer *t = L->t;
    if (!n || cJSON_IsNull(n)) return FG_OK;
    const char *ty = type_of(n);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, jget(n, "normalizers")) {
            fg_status st = parse_normalizer(L, it);
            if (st) return st;
        }
        return FG_OK;
    }
    if (!strcmp(ty, "NFC")) {
        t->nfc = true;
        return FG_OK;
    }
    if (!strcmp(ty, "Prepend")) {
        const char *p = jstr(n, "prepend");
        if (p && !strcmp(p, "\xE2\x96\x81")) {
            t->spm_prepend = 2;
            return FG_OK;
        }
        return fg_error(FG_ERR_UNSUPPORTED, "%s: normalizer Prepend of '%s' is not supported (only '▁')", L->what,
                        p ? p : "?");
    }
    if (!strcmp(ty, "Replace")) {
        const char *pat = jstr(jget(n, "pattern"), "String"), *content = jstr(n, "content");
        if (pat && content && !strcmp(pat, " ") && !strcmp(content, "\xE2\x96\x81")) {
            t->spm_replace_space = true;
            return FG_OK;
        }
        return fg_error(FG_ERR_UNSUPPORTED, "%s: normalizer Replace other than ' ' -> '▁' is not supported", L->what);
    }
    return fg_error(FG_ERR_UNSUPPORTED, "%s: normalizer '%s' is not supported", L->what, ty);
}

/* ---- pre-tokenizer --------------------------------------------------------------------- */
static fg_status parse_metaspace(jload *L, const cJSON *p, bool decoder)
{
    fg_tokenizer *t = L->t;
    const char *rep = jstr(p, "replacement");
    if (rep && strcmp(rep, "\xE2\x96\x81"))
        return fg_error(FG_ERR_UNSUPPORTED, "%s: Metaspace replacement '%s' is not supported (only '▁')", L->what, rep);
    uint8_t prepend = 2;
    const char *scheme = jstr(p, "prepend_scheme");
    if (scheme) {
        if (!strcmp(scheme, "always")) prepend = 2;
        else if (!strcmp(scheme, "first")) prepend = 1;
        else if (!strcmp(scheme, "never")) prepend = 0;
        else return fg_error(FG_ERR_UNSUPPORTED, "%s: Metaspace prepend_scheme '%s'", L->what, scheme);
    } else if (!jbool(p, "add_prefix_space", true)) {
        prepend = 0;
    }
    if (decoder) {
        t->spm_strip_leading = prepend != 0;
        return FG_OK;
    }
    L->metaspace = true;
    t->spm_prepend = prepend;
    t->spm_replace_space = true;
    t->metaspace_split = jbool(p, "split", true);
    return FG_OK;
}

static fg_status parse_pretok(jload *L, const cJSON *p)
{
    fg_tokenizer *t = L->t;
    if (!p || cJSON_IsNull(p)) return FG_OK;
    const char *ty = type_of(p);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, jget(p, "pretokenizers")) {
            fg_status st = parse_pretok(L, it);
            if (st) return st;
        }
        return FG_OK;
    }
    if (!strcmp(ty, "Split")) {
        const cJSON *pat = jget(p, "pattern");
        const char *re = jstr(pat, "Regex"), *lit = jstr(pat, "String");
        const char *beh = jstr(p, "behavior");
        if (!re && !lit) return fg_error(FG_ERR_FORMAT, "%s: Split pre-tokenizer without a pattern", L->what);
        if (beh && strcasecmp(beh, "Isolated"))
            return fg_error(FG_ERR_UNSUPPORTED, "%s: Split behavior '%s' is not supported (only Isolated)", L->what, beh);
        if (jbool(p, "invert", false))
            return fg_error(FG_ERR_UNSUPPORTED, "%s: Split with invert=true is not supported", L->what);
        return re ? tok_add_split(t, re, strlen(re), false, L->what) : tok_add_split(t, lit, strlen(lit), true, L->what);
    }
    if (!strcmp(ty, "ByteLevel")) {
        L->byte_level = true;
        t->byte_prefix_space = jbool(p, "add_prefix_space", false);
        if (jbool(p, "use_regex", true)) return tok_add_split(t, TOK_RE_GPT2, strlen(TOK_RE_GPT2), false, L->what);
        return FG_OK;
    }
    if (!strcmp(ty, "Digits")) {
        const char *re = jbool(p, "individual_digits", false) ? "\\p{N}" : "\\p{N}+";
        return tok_add_split(t, re, strlen(re), false, L->what);
    }
    if (!strcmp(ty, "Metaspace")) return parse_metaspace(L, p, false);
    return fg_error(FG_ERR_UNSUPPORTED, "%s: pre-tokenizer '%s' is not supported", L->what, ty);
}

/* ---- decoder: only what decoding needs to know ----------------------------------------- */
static fg_status parse_decoder(jload *L, const cJSON *d)
{
    if (!d || cJSON_IsNull(d)) return FG_OK;
    const char *ty = type_of(d);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, jget(d, "decoders")) {
            fg_status st = parse_decoder(L, it);
            if (st) return st;
        }
        return FG_OK;
    }
    if (!strcmp(ty, "ByteLevel")) {
        L->byte_level = true;
        return FG_OK;
    }
    if (!strcmp(ty, "Metaspace")) return parse_metaspace(L, d, true);
    if (!strcmp(ty, "Strip")) {
        const char *c = jstr(d, "content");
        const cJSON *start = jget(d, "start");
        if (c && !strcmp(c, " ") && cJSON_IsNumber(start) && start->valueint >= 1) L->t->spm_strip_leading = true;
        return FG_OK;
    }
    if (!strcmp(ty, "Replace") || !strcmp(ty, "ByteFallback") || !strcmp(ty, "Fuse")) return FG_OK;
    return fg_error(FG_ERR_UNSUPPORTED, "%s: decoder '%s' is not supported", L->what, ty);
}

/* ---- post-processor: a leading special token in the single-sequence template = BOS ---- */
static fg_status parse_post(jload *L, const cJSON *p)
{
    if (!p || cJSON_IsNull(p)) return FG_OK;
    const char *ty = type_of(p);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, jget(p, "processors")) {
            fg_status st = parse_post(L, it);
            if (st) return st;
        }
        return FG_OK;
    }
    if (!strcmp(ty, "TemplateProcessing")) {
        const cJSON *single = jget(p, "single");
        const cJSON *first = cJSON_IsArray(single) ? cJSON_GetArrayItem(single, 0) : NULL;
        const char *name = jstr(jget(first, "SpecialToken"), "id");
        L->template_bos_set = true;
        L->template_bos = -1;
        if (name) {
            const cJSON *ids = jget(jget(jget(p, "special_tokens"), name), "ids");
            const cJSON *id0 = cJSON_IsArray(ids) ? cJSON_GetArrayItem(ids, 0) : NULL;
            L->template_bos = cJSON_IsNumber(id0) ? (int32_t)id0->valuedouble : fg_tok_find(L->t, name, strlen(name));
        }
        return FG_OK;
    }
    if (!strcmp(ty, "ByteLevel")) return FG_OK;
    return fg_error(FG_ERR_UNSUPPORTED, "%s: post-processor '%s' is not supported", L->what, ty);
}

/* ---- vocabulary -------------------------------------------------------------------------- */
static bool valid_id(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < MAX_TOKEN_ID &&
           v->valuedouble == (double)(int32_t)v->valuedouble;
}

static fg_status load_vocab(jload *L, const cJSON *vocab, const cJSON *added)
{
    fg_tokenizer *t = L->t;
    int64_t max_id = -1;
    size_t blob = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!valid_id(it))
            return fg_error(FG_ERR_FORMAT, "%s: vocab entry '%.40s' has no valid id", L->what, it->string);
        if (it->valueint > max_id) max_id = it->valueint;
        blob += strlen(it->string);
    }
    cJSON_ArrayForEach(it, added) {
        const cJSON *id = jget(it, "id");
        const char *c = jstr(it, "content");
        if (!valid_id(id) || !c) return fg_error(FG_ERR_FORMAT, "%s: an added token lacks a valid id or content", L->what);
        if (id->valueint > max_id) max_id = id->valueint;
        blob += strlen(c);
    }
    if (max_id < 0) return fg_error(FG_ERR_FORMAT, "%s: the vocabulary is empty", L->what);
    if (blob >= UINT32_MAX) return fg_error(FG_ERR_FORMAT, "%s: vocabulary strings too large", L->what);
    t->n_vocab = (int32_t)max_id + 1;
    t->tok = fg_calloc(FG_MEM_TOKENIZER, (size_t)t->n_vocab, sizeof *t->tok);
    t->blob = fg_malloc(FG_MEM_TOKENIZER, blob + 1);
    if (!t->tok || !t->blob) return fg_error(FG_ERR_NOMEM, "%s: out of memory for %d tokens", L->what, t->n_vocab);
    t->base = t->blob;
    for (int32_t i = 0; i < t->n_vocab; i++) t->tok[i].type = FG_TOKT_UNUSED;
    size_t off = 0;
    cJSON_ArrayForEach(it, vocab) {
        size_t n = strlen(it->string);
        int32_t id = it->valueint;
        if (n == 0 || n > UINT16_MAX)
            return fg_error(FG_ERR_FORMAT, "%s: token %d has length %zu (1..65535 allowed)", L->what, id, n);
        if (t->tok[id].len) return fg_error(FG_ERR_FORMAT, "%s: token id %d appears twice in the vocab", L->what, id);
        memcpy(t->blob + off, it->string, n);
        t->tok[id] = (tok_entry){(uint32_t)off, (uint16_t)n, FG_TOKT_NORMAL, 0};
        off += n;
    }
    cJSON_ArrayForEach(it, added) {
        int32_t id = jget(it, "id")->valueint;
        const char *c = jstr(it, "content");
        size_t n = strlen(c);
        if (n == 0 || n > UINT16_MAX)
            return fg_error(FG_ERR_FORMAT, "%s: added token %d has length %zu (1..65535 allowed)", L->what, id, n);
        tok_entry *e = &t->tok[id];
        if (!(e->len == n && !memcmp(t->blob + e->off, c, n))) {
            memcpy(t->blob + off, c, n);
            e->off = (uint32_t)off;
            e->len = (uint16_t)n;
            off += n;
        }
        bool special = jbool(it, "special", false);
        e->type = special ? FG_TOKT_CONTROL : FG_TOKT_USER_DEFINED;
        e->flags = TOKF_ADDED | TOKF_RAW | (special ? TOKF_SPECIAL : 0) | (jbool(it, "lstrip", false) ? TOKF_LSTRIP : 0) |
                   (jbool(it, "rstrip", false) ? TOKF_RSTRIP : 0) |
                   (jbool(it, "single_word", false) ? TOKF_SINGLE_WORD : 0);
    }
    t->blob_size = blob + 1;
    return tok_build_vhash(t);
}

static fg_status load_merges(jload *L, const cJSON *merges)
{
    fg_tokenizer *t = L->t;
    int n = cJSON_GetArraySize(merges);
    fg_status st = tok_merges_reserve(t, n > 0 ? (size_t)n : 1);
    if (st) return st;
    char *tmp = fg_malloc(FG_MEM_TOKENIZER, 2 * (size_t)UINT16_MAX + 2);
    if (!tmp) return fg_error(FG_ERR_NOMEM, "%s: out of memory", L->what);
    uint32_t rank = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, merges) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(it)) {
            /* legacy "a b": the first space separates (pieces never hold a plain space) */
            const char *s = it->valuestring, *sp = strchr(s, ' ');
            if (!sp) goto bad;
            a = s;
            la = (size_t)(sp - s);
            b = sp + 1;
            const char *sp2 = strchr(b, ' ');
            lb = sp2 ? (size_t)(sp2 - b) : strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring;
            b = cJSON_GetArrayItem(it, 1)->valuestring;
            la = strlen(a);
            lb = strlen(b);
        } else {
            goto bad;
        }
        if (la > UINT16_MAX || lb > UINT16_MAX) goto bad;
        /* a merge whose parts or result are not tokens can never apply: skipped */
        tok_merge_add(t, a, la, b, lb, rank, tmp);
        rank++;
    }
    fg_free(tmp);
    return FG_OK;
bad:
    fg_free(tmp);
    return fg_error(FG_ERR_FORMAT, "%s: merge %u is neither \"a b\" nor [a, b]", L->what, rank);
}

static int32_t config_token(const fg_tokenizer *t, const cJSON *cfg, const char *key)
{
    const cJSON *v = jget(cfg, key);
    const char *s = cJSON_IsString(v) ? v->valuestring : jstr(v, "content");
    return s ? fg_tok_find(t, s, strlen(s)) : -1;
}

static fg_status load_config(jload *L, const cJSON *cfg)
{
    fg_tokenizer *t = L->t;
    t->bos = config_token(t, cfg, "bos_token");
    t->eos = config_token(t, cfg, "eos_token");
    if (L->template_bos_set && L->template_bos >= 0 && L->template_bos < t->n_vocab) {
        t->bos = t->bos >= 0 ? t->bos : L->template_bos;
        t->add_bos = L->template_bos == t->bos;
    }
    const cJSON *ab = jget(cfg, "add_bos_token");
    if (cJSON_IsBool(ab) && cJSON_IsTrue(ab)) t->add_bos = true;
    const cJSON *ct = jget(cfg, "chat_template");
    const char *tpl = cJSON_IsString(ct) ? ct->valuestring : NULL;
    if (cJSON_IsArray(ct)) { /* [{name, template}]: the "default" one, else the first */
        const cJSON *it;
        cJSON_ArrayForEach(it, ct) {
            const char *name = jstr(it, "name"), *tt = jstr(it, "template");
            if (tt && (!tpl || (name && !strcmp(name, "default")))) tpl = tt;
        }
    }
    if (tpl) {
        t->chat_template = fg_strdup(FG_MEM_TOKENIZER, tpl);
        if (!t->chat_template) return fg_error(FG_ERR_NOMEM, "%s: out of memory", L->what);
    }
    return FG_OK;
}

fg_status fg_tok_load_hf_json(const char *json, size_t len, const char *config_json, size_t config_len,
                              const char *what, fg_tokenizer **out)
{
    *out = NULL;
    if (!what) what = "tokenizer.json";
    if (!json) return fg_error(FG_ERR_ARG, "%s: no JSON text", what);
    const char *end = NULL;
    uint64_t fails = fg_mem_failures();
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!root && fg_mem_failures() != fails) return fg_error(FG_ERR_NOMEM, "%s: out of memory parsing the JSON", what);
    if (!root)
        return fg_error(FG_ERR_FORMAT, "%s: malformed JSON near byte %zu", what,
                        end && end >= json ? (size_t)(end - json) : (size_t)0);
    cJSON *cfg = NULL;
    if (config_json) {
        cfg = cJSON_ParseWithLengthOpts(config_json, config_len, &end, false);
        if (!cfg && fg_mem_failures() != fails) {
            cJSON_Delete(root);
            return fg_error(FG_ERR_NOMEM, "%s: out of memory parsing tokenizer_config.json", what);
        }
        if (!cfg) {
            cJSON_Delete(root);
            return fg_error(FG_ERR_FORMAT, "%s: tokenizer_config.json is malformed JSON near byte %zu", what,
                            end && end >= config_json ? (size_t)(end - config_json) : (size_t)0);
        }
    }
    fg_status st = FG_OK;
    fg_tokenizer *t = tok_alloc();
    jload L = {t, what, false, false, -1, false};
    if (!t) {
        st = fg_error(FG_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    const cJSON *model = jget(root, "model");
    if (!cJSON_IsObject(model)) {
        st = fg_error(FG_ERR_FORMAT, "%s: no \"model\" object", what);
        goto done;
    }
    const char *mtype = jstr(model, "type");
    if (mtype ? strcmp(mtype, "BPE") : !jget(model, "merges")) {
        st = fg_error(FG_ERR_UNSUPPORTED, "%s: model type '%s' is not supported (BPE only)", what,
                      mtype ? mtype : "(none)");
        goto done;
    }
    const cJSON *vocab = jget(model, "vocab"), *merges = jget(model, "merges"), *added = jget(root, "added_tokens");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
        st = fg_error(FG_ERR_FORMAT, "%s: BPE model without a vocab object and a merges array", what);
        goto done;
    }
    if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added)) {
        st = fg_error(FG_ERR_FORMAT, "%s: added_tokens is not an array", what);
        goto done;
    }
    const char *cs = jstr(model, "continuing_subword_prefix"), *ew = jstr(model, "end_of_word_suffix");
    if ((cs && *cs) || (ew && *ew)) {
        st = fg_error(FG_ERR_UNSUPPORTED, "%s: BPE with subword prefixes/suffixes is not supported", what);
        goto done;
    }
    if ((st = load_vocab(&L, vocab, cJSON_IsArray(added) ? added : NULL))) goto done;
    t->byte_fallback = jbool(model, "byte_fallback", false);
    t->ignore_merges = jbool(model, "ignore_merges", false);
    t->fuse_unk = jbool(model, "fuse_unk", false);
    const char *unk = jstr(model, "unk_token");
    if (unk) {
        t->unk = fg_tok_find(t, unk, strlen(unk));
        if (t->unk >= 0 && t->tok[t->unk].type == FG_TOKT_NORMAL) t->tok[t->unk].type = FG_TOKT_UNKNOWN;
    }
    if ((st = parse_normalizer(&L, jget(root, "normalizer")))) goto done;
    if ((st = parse_pretok(&L, jget(root, "pre_tokenizer")))) goto done;
    if ((st = parse_decoder(&L, jget(root, "decoder")))) goto done;
    t->kind = L.byte_level ? FG_TOK_BYTE_BPE : FG_TOK_SPM_BPE;
    if (t->kind == FG_TOK_BYTE_BPE && (t->spm_prepend || t->spm_replace_space || L.metaspace)) {
        st = fg_error(FG_ERR_UNSUPPORTED, "%s: ByteLevel combined with ▁ normalization", what);
        goto done;
    }
    if ((st = parse_post(&L, jget(root, "post_processor")))) goto done;
    if ((st = load_merges(&L, merges))) goto done;
    if ((st = load_config(&L, cfg))) goto done;
    st = tok_finish(t, NULL, 0);
done:
    cJSON_Delete(root);
    cJSON_Delete(cfg);
#ifdef __GLIBC__
    /* the tree was tens of MB of small blocks: give the pages back now, so that what
     * stays resident is the tokenizer itself */
    malloc_trim(0);
#endif
    if (st) return tok_fail(t, st);
    *out = t;
    return FG_OK;
}

/* Reads a whole file (transient, tagged). */
static fg_status read_all(const char *path, char **buf, size_t *len)
{
    *buf = NULL;
    /* O_NONBLOCK: a FIFO must not block the open; it is refused as not a regular file */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fg_error(FG_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return fg_error(FG_ERR_IO, "%s: not a regular file", path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return fg_error(FG_ERR_IO, "%s: %s", path, strerror(errno));
    }
    size_t n = (size_t)sb.st_size;
    char *b = fg_malloc(FG_MEM_TOKENIZER, n + 1);
    if (!b) {
        fclose(f);
        return fg_error(FG_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = fread(b, 1, n, f);
    fclose(f);
    if (got != n) {
        fg_free(b);
        return fg_error(FG_ERR_IO, "%s: short read", path);
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return FG_OK;
}

fg_status fg_tok_load_hf(const char *path, fg_tokenizer **out)
{
    *out = NULL;
    if (!path) return fg_error(FG_ERR_ARG, "tokenizer: no path");
    struct stat sb;
    if (stat(path, &sb)) return fg_error(FG_ERR_IO, "%s: %s", path, strerror(errno));
    size_t pl = strlen(path);
    char *tj = fg_malloc(FG_MEM_TOKENIZER, pl + 32), *cj = fg_malloc(FG_MEM_TOKENIZER, pl + 32);
    if (!tj || !cj) {
        fg_free(tj);
        fg_free(cj);
        return fg_error(FG_ERR_NOMEM, "tokenizer: out of memory");
    }
    if (S_ISDIR(sb.st_mode)) {
        snprintf(tj, pl + 32, "%s/tokenizer.json", path);
        snprintf(cj, pl + 32, "%s/tokenizer_config.json", path);
    } else {
        snprintf(tj, pl + 32, "%s", path);
        const char *slash = strrchr(path, '/');
        if (slash) snprintf(cj, pl + 32, "%.*s/tokenizer_config.json", (int)(slash - path), path);
        else snprintf(cj, pl + 32, "tokenizer_config.json");
    }
    char *json = NULL, *cfg = NULL;
    size_t jl = 0, cl = 0;
    fg_status st = read_all(tj, &json, &jl);
    if (!st && access(cj, F_OK) == 0) st = read_all(cj, &cfg, &cl);
    if (!st) st = fg_tok_load_hf_json(json, jl, cfg, cl, tj, out);
    fg_free(json);
    fg_free(cfg);
    fg_free(tj);
    fg_free(cj);
    return st;
}
