/* The minimal JSON scanner and byte buffer of jscan-impl.h. */
#include "format/jscan-impl.h"
#include "mem/mem.h"

#include <stdio.h>
#include <string.h>

/* ---- growable byte buffer -------------------------------------------------------------- */
static bool bb_reserve(fg_bbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = b->p ? fg_realloc(b->p, cap) : fg_malloc(FG_MEM_TOKENIZER, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

bool fg_bb_add(fg_bbuf *b, const void *s, size_t n)
{
    if (!bb_reserve(b, n)) return false;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

bool fg_bb_str(fg_bbuf *b, const char *s) { return fg_bb_add(b, s, strlen(s)); }

/* A JSON string literal of n bytes (UTF-8 passed through, '"', '\' and controls escaped). */
bool fg_bb_json_str(fg_bbuf *b, const char *s, size_t n)
{
    if (!fg_bb_add(b, "\"", 1)) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            if (!fg_bb_add(b, e, 2)) return false;
        } else if (c < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", c);
            if (!fg_bb_add(b, e, 6)) return false;
        } else if (!fg_bb_add(b, &s[i], 1)) {
            return false;
        }
    }
    return fg_bb_add(b, "\"", 1);
}

/* ---- a minimal JSON scanner over a mapped text ------------------------------------------ */
fg_status fg_js_fail(fg_js *j, const char *msg)
{
    return fg_error(FG_ERR_FORMAT, "%s: %s at byte %zu", j->what, msg, (size_t)(j->p - j->begin));
}

void fg_js_ws(fg_js *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) j->p++;
}

/* Consumes character c (after whitespace) when it is next. */
bool fg_js_eat(fg_js *j, char c)
{
    fg_js_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool js_hex4(fg_js *j, uint32_t *out)
{
    if (j->end - j->p < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0) return false;
        v = v << 4 | (uint32_t)h;
    }
    j->p += 4;
    *out = v;
    return true;
}

static void utf8_put(uint32_t cp, char *o, size_t *n)
{
    if (cp < 0x80) {
        o[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        o[(*n)++] = (char)(0xc0 | cp >> 6);
        o[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        o[(*n)++] = (char)(0xe0 | cp >> 12);
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        o[(*n)++] = (char)(0xf0 | cp >> 18);
        o[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* A string (after whitespace), decoded and appended to out. */
fg_status fg_js_string(fg_js *j, fg_bbuf *out)
{
    fg_js_ws(j);
    if (j->p >= j->end || *j->p != '"') return fg_js_fail(j, "expected a string");
    j->p++;
    for (;;) {
        const char *run = j->p;
        while (j->p < j->end && *j->p != '"' && *j->p != '\\' && (unsigned char)*j->p >= 0x20) j->p++;
        if (j->p > run && !fg_bb_add(out, run, (size_t)(j->p - run)))
            return fg_error(FG_ERR_NOMEM, "%s: out of memory", j->what);
        if (j->p >= j->end) return fg_js_fail(j, "unterminated string");
        char c = *j->p++;
        if (c == '"') return FG_OK;
        if (c != '\\') return fg_js_fail(j, "control character in a string");
        if (j->p >= j->end) return fg_js_fail(j, "unterminated string");
        char e = *j->p++;
        char tmp[4];
        size_t n = 0;
        switch (e) {
        case '"': case '\\': case '/': tmp[n++] = e; break;
        case 'b': tmp[n++] = '\b'; break;
        case 'f': tmp[n++] = '\f'; break;
        case 'n': tmp[n++] = '\n'; break;
        case 'r': tmp[n++] = '\r'; break;
        case 't': tmp[n++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (!js_hex4(j, &cp)) return fg_js_fail(j, "bad \\u escape");
            if (cp >= 0xdc00 && cp <= 0xdfff) return fg_js_fail(j, "lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') return fg_js_fail(j, "lone high surrogate");
                j->p += 2;
                if (!js_hex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff) return fg_js_fail(j, "bad surrogate pair");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            utf8_put(cp, tmp, &n);
            break;
        }
        default: return fg_js_fail(j, "bad escape");
        }
        if (!fg_bb_add(out, tmp, n)) return fg_error(FG_ERR_NOMEM, "%s: out of memory", j->what);
    }
}

/* Skips one value of any kind (bounded depth). */
fg_status fg_js_skip(fg_js *j)
{
    fg_js_ws(j);
    if (j->p >= j->end) return fg_js_fail(j, "unexpected end");
    char c = *j->p;
    if (c == '"') {
        j->p++;
        while (j->p < j->end && *j->p != '"') {
            if (*j->p == '\\' && j->end - j->p < 2) break;
            j->p += (*j->p == '\\') ? 2 : 1;
        }
        if (j->p >= j->end) return fg_js_fail(j, "unterminated string");
        j->p++;
        return FG_OK;
    }
    if (c == '{' || c == '[') {
        if (++j->depth > FG_JS_MAX_DEPTH) return fg_js_fail(j, "nesting too deep");
        char close = c == '{' ? '}' : ']';
        j->p++;
        if (fg_js_eat(j, close)) {
            j->depth--;
            return FG_OK;
        }
        for (;;) {
            fg_status s;
            if (c == '{') {
                fg_bbuf dummy = {0};
                s = fg_js_string(j, &dummy);
                fg_free(dummy.p);
                if (s) return s;
                if (!fg_js_eat(j, ':')) return fg_js_fail(j, "expected ':'");
            }
            if ((s = fg_js_skip(j))) return s;
            if (fg_js_eat(j, ',')) continue;
            if (fg_js_eat(j, close)) break;
            return fg_js_fail(j, "expected ',' or a closing bracket");
        }
        j->depth--;
        return FG_OK;
    }
    /* number or literal */
    const char *start = j->p;
    while (j->p < j->end && (strchr("+-.eE", *j->p) || (*j->p >= '0' && *j->p <= '9') || (*j->p >= 'a' && *j->p <= 'z')))
        j->p++;
    if (j->p == start) return fg_js_fail(j, "unexpected character");
    return FG_OK;
}

fg_status fg_js_int(fg_js *j, int64_t *out)
{
    fg_js_ws(j);
    const char *start = j->p;
    bool neg = j->p < j->end && *j->p == '-';
    if (neg) j->p++;
    int64_t v = 0;
    int digits = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (v > (INT64_MAX - 9) / 10) return fg_js_fail(j, "integer too large");
        v = v * 10 + (*j->p++ - '0');
        digits++;
    }
    if (!digits || (j->p < j->end && strchr(".eE", *j->p))) {
        j->p = start;
        return fg_js_fail(j, "expected an integer");
    }
    *out = neg ? -v : v;
    return FG_OK;
}

/* true / false; null reads as false. */
fg_status fg_js_bool(fg_js *j, bool *out)
{
    fg_js_ws(j);
    size_t left = (size_t)(j->end - j->p);
    if (left >= 4 && !memcmp(j->p, "true", 4)) { j->p += 4; *out = true; return FG_OK; }
    if (left >= 5 && !memcmp(j->p, "false", 5)) { j->p += 5; *out = false; return FG_OK; }
    if (left >= 4 && !memcmp(j->p, "null", 4)) { j->p += 4; *out = false; return FG_OK; }
    return fg_js_fail(j, "expected true or false");
}

fg_status fg_js_object(fg_js *j, fg_js_member_fn fn, void *ctx)
{
    if (!fg_js_eat(j, '{')) return fg_js_fail(j, "expected an object");
    if (++j->depth > FG_JS_MAX_DEPTH) return fg_js_fail(j, "nesting too deep");
    if (fg_js_eat(j, '}')) {
        j->depth--;
        return FG_OK;
    }
    fg_bbuf key = {0};
    fg_status s = FG_OK;
    for (;;) {
        key.len = 0;
        if ((s = fg_js_string(j, &key))) break;
        if (!fg_js_eat(j, ':')) { s = fg_js_fail(j, "expected ':'"); break; }
        if ((s = fn(j, key.p ? key.p : "", key.len, ctx))) break;
        if (fg_js_eat(j, ',')) continue;
        if (fg_js_eat(j, '}')) break;
        s = fg_js_fail(j, "expected ',' or '}'");
        break;
    }
    fg_free(key.p);
    j->depth--;
    return s;
}

bool fg_js_key_is(const char *k, size_t n, const char *lit) { return n == strlen(lit) && !memcmp(k, lit, n); }

