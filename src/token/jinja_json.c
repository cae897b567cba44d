/* jinja JSON: |tojson output as transformers' tojson (json.dumps with ensure_ascii=False
 * by default, indent, separators, sort_keys; Python's float repr), and a small parser for
 * variables given as JSON text (fg_chat_var of type FG_CHAT_VAR_JSON: tools, messages).
 * Both are depth-bounded (JJ_MAX_VALUE_DEPTH). */
#include "token/jinja-impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void buf_puts(jj_ctx *c, jj_buf *b, const char *s) { jj_buf_put(c, b, s, strlen(s)); }

/* ---- JSON ------------------------------------------------------------------------------------------ */
static void write_json_str(jj_ctx *c, jj_buf *b, const char *s, size_t n, bool ascii)
{
    jj_buf_putc(c, b, '"');
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = jj_utf8_decode(s + i, n - i, &cp);
        char esc[16];
        switch (cp) {
        case '"': buf_puts(c, b, "\\\""); break;
        case '\\': buf_puts(c, b, "\\\\"); break;
        case '\n': buf_puts(c, b, "\\n"); break;
        case '\r': buf_puts(c, b, "\\r"); break;
        case '\t': buf_puts(c, b, "\\t"); break;
        case '\b': buf_puts(c, b, "\\b"); break;
        case '\f': buf_puts(c, b, "\\f"); break;
        default:
            if (cp < 0x20 || (cp >= 0xDC80 && cp <= 0xDCFF)) {
                snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
                buf_puts(c, b, esc);
            } else if (ascii && cp >= 0x7F) {   /* Python escapes all but ' '..'~' */
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000;
                    snprintf(esc, sizeof esc, "\\u%04x\\u%04x", (unsigned)(0xD800 + (v >> 10)),
                             (unsigned)(0xDC00 + (v & 0x3FF)));
                } else {
                    snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
                }
                buf_puts(c, b, esc);
            } else {
                jj_buf_put(c, b, s + i, k);
            }
        }
        i += k;
    }
    jj_buf_putc(c, b, '"');
}

static void json_newline(jj_ctx *c, jj_buf *b, const jj_json_opts *o, int level)
{
    jj_buf_putc(c, b, '\n');
    for (int k = 0; k < o->indent * level; k++) jj_buf_putc(c, b, ' ');
}

void jv_write_json(jj_ctx *c, jj_buf *b, jv v, const jj_json_opts *o, int depth)
{
    char tmp[64];
    if (depth > JJ_MAX_VALUE_DEPTH)
        jj_rfail(c, FG_ERR_UNSUPPORTED, "value nested deeper than %d levels", JJ_MAX_VALUE_DEPTH);
    const char *item_sep = o->item_sep ? o->item_sep : (o->indent >= 0 ? "," : ", ");
    const char *key_sep = o->key_sep ? o->key_sep : ": ";
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: buf_puts(c, b, "null"); return;
    case JV_BOOL: buf_puts(c, b, v.u.b ? "true" : "false"); return;
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); buf_puts(c, b, tmp); return;
    case JV_FLOAT:
        if (isnan(v.u.f)) buf_puts(c, b, "NaN");
        else if (isinf(v.u.f)) buf_puts(c, b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else { jj_format_float(v.u.f, tmp, sizeof tmp); buf_puts(c, b, tmp); }
        return;
    case JV_STR: write_json_str(c, b, v.u.str.s, v.u.str.n, o->ensure_ascii); return;
    case JV_LIST: {
        const jj_listv *l = v.u.list;
        jj_buf_putc(c, b, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) buf_puts(c, b, item_sep);
            if (o->indent >= 0) json_newline(c, b, o, depth + 1);
            jv_write_json(c, b, l->v[i], o, depth + 1);
        }
        if (o->indent >= 0 && l->n) json_newline(c, b, o, depth);
        jj_buf_putc(c, b, ']');
        return;
    }
    case JV_DICT: {
        const jj_dict *d = v.u.dict;
        size_t *order = jj_alloc(c, (d->n ? d->n : 1) * sizeof *order);
        for (size_t i = 0; i < d->n; i++) order[i] = i;
        if (o->sort_keys)   /* insertion sort: dicts in templates are small */
            for (size_t i = 1; i < d->n; i++)
                for (size_t j = i; j > 0 && jv_compare(c, d->keys[order[j - 1]], d->keys[order[j]], true) > 0; j--) {
                    size_t t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
                }
        jj_buf_putc(c, b, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) buf_puts(c, b, item_sep);
            if (o->indent >= 0) json_newline(c, b, o, depth + 1);
            jv k = d->keys[order[i]];
            write_json_str(c, b, k.u.str.s, k.u.str.n, o->ensure_ascii);
            buf_puts(c, b, key_sep);
            jv_write_json(c, b, d->vals[order[i]], o, depth + 1);
        }
        if (o->indent >= 0 && d->n) json_newline(c, b, o, depth);
        jj_buf_putc(c, b, '}');
        return;
    }
    default:
        jj_rfail(c, FG_ERR_FORMAT, "tojson: a %s is not JSON serializable", jv_type_name(v));
    }
}

/* ---- JSON parsing (variables given as JSON text) --------------------------------------------------- */
typedef struct jp { jj_ctx *c; const char *s; size_t n, i; } jp;

static _Noreturn void jp_fail(jp *p, const char *what)
{
    jj_rfail(p->c, FG_ERR_ARG, "JSON variable: %s at byte %zu", what, p->i);
}

static void jp_ws(jp *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static uint32_t jp_hex4(jp *p)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int h = p->i < p->n ? (p->s[p->i] >= '0' && p->s[p->i] <= '9' ? p->s[p->i] - '0'
                               : (p->s[p->i] | 32) >= 'a' && (p->s[p->i] | 32) <= 'f' ? (p->s[p->i] | 32) - 'a' + 10 : -1)
                          : -1;
        if (h < 0) jp_fail(p, "bad \\u escape");
        v = v * 16 + (uint32_t)h;
        p->i++;
    }
    return v;
}

static jv jp_string(jp *p)
{
    p->i++;   /* opening quote */
    jj_buf b = { 0 };
    for (;;) {
        if (p->i >= p->n) jp_fail(p, "unterminated string");
        char ch = p->s[p->i++];
        if (ch == '"') break;
        if ((unsigned char)ch < 0x20) jp_fail(p, "control character in string");
        if (ch != '\\') { jj_buf_putc(p->c, &b, ch); continue; }
        if (p->i >= p->n) jp_fail(p, "unterminated string");
        char e = p->s[p->i++];
        char out[4];
        switch (e) {
        case '"': case '\\': case '/': jj_buf_putc(p->c, &b, e); break;
        case 'n': jj_buf_putc(p->c, &b, '\n'); break;
        case 't': jj_buf_putc(p->c, &b, '\t'); break;
        case 'r': jj_buf_putc(p->c, &b, '\r'); break;
        case 'b': jj_buf_putc(p->c, &b, '\b'); break;
        case 'f': jj_buf_putc(p->c, &b, '\f'); break;
        case 'u': {
            uint32_t cp = jp_hex4(p);
            if (cp >= 0xD800 && cp <= 0xDBFF && p->i + 1 < p->n && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
                size_t save = p->i;
                p->i += 2;
                uint32_t lo = jp_hex4(p);
                if (lo >= 0xDC00 && lo <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                else p->i = save;
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
            jj_buf_put(p->c, &b, out, jj_utf8_encode(cp, out));
            break;
        }
        default: jp_fail(p, "bad escape");
        }
    }
    return jv_strn(b.p ? b.p : "", b.n);
}

static jv jp_value(jp *p, int depth)
{
    if (depth > JJ_MAX_VALUE_DEPTH) jp_fail(p, "nested too deeply");
    jp_ws(p);
    if (p->i >= p->n) jp_fail(p, "unexpected end");
    char ch = p->s[p->i];
    if (ch == '"') return jp_string(p);
    if (ch == '[' || ch == '{') {
        bool obj = ch == '{';
        jv v = obj ? jv_new_dict(p->c, 0) : jv_new_list(p->c, 0);
        p->i++;
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) { p->i++; return v; }
        for (;;) {
            if (obj) {
                jp_ws(p);
                if (p->i >= p->n || p->s[p->i] != '"') jp_fail(p, "expected a key");
                jv k = jp_string(p);
                jp_ws(p);
                if (p->i >= p->n || p->s[p->i] != ':') jp_fail(p, "expected ':'");
                p->i++;
                jv_dict_set(p->c, v, k.u.str.s, k.u.str.n, jp_value(p, depth + 1));
            } else {
                jv_list_push(p->c, v, jp_value(p, depth + 1));
            }
            jp_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) { p->i++; return v; }
            jp_fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    static const struct { const char *w; jv_type t; bool b; } words[] = {
        { "true", JV_BOOL, true }, { "false", JV_BOOL, false }, { "null", JV_NONE, false },
    };
    for (size_t k = 0; k < 3; k++) {
        size_t wl = strlen(words[k].w);
        if (p->n - p->i >= wl && memcmp(p->s + p->i, words[k].w, wl) == 0) {
            p->i += wl;
            return words[k].t == JV_BOOL ? jv_bool(words[k].b) : jv_none();
        }
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        size_t st = p->i;
        bool is_float = false;
        if (p->s[p->i] == '-') p->i++;
        while (p->i < p->n && ((p->s[p->i] >= '0' && p->s[p->i] <= '9') || p->s[p->i] == '.' ||
                               p->s[p->i] == 'e' || p->s[p->i] == 'E' || p->s[p->i] == '+' || p->s[p->i] == '-')) {
            if (p->s[p->i] == '.' || p->s[p->i] == 'e' || p->s[p->i] == 'E') is_float = true;
            p->i++;
        }
        char tmp[64];
        size_t len = p->i - st;
        if (len >= sizeof tmp) jp_fail(p, "number too long");
        memcpy(tmp, p->s + st, len);
        tmp[len] = 0;
        char *end;
        if (!is_float) {
            long long x = strtoll(tmp, &end, 10);
            if (*end == 0 && x > LLONG_MIN && x < LLONG_MAX) return jv_int(x);
        }
        double f = strtod(tmp, &end);
        if (*end) jp_fail(p, "bad number");
        return jv_float(f);
    }
    jp_fail(p, "unexpected character");
}

jv jv_parse_json(jj_ctx *c, const char *s, size_t n)
{
    jp p = { .c = c, .s = s, .n = n, .i = 0 };
    jv v = jp_value(&p, 0);
    jp_ws(&p);
    if (p.i != p.n) jp_fail(&p, "trailing characters");
    return v;
}
