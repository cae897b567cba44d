/* jinja values: the arena, errors, UTF-8 helpers, constructors, truthiness, equality and
 * ordering, and Python str() printing (what `{{ v }}`, `~` and |string give: None, True,
 * 1.0, ['a', 'b'], {'k': 1}). JSON is in jinja_json.c. */
#include "token/jinja-impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "mem/mem.h"

/* ---- arena ------------------------------------------------------------------------------ */
struct jj_chunk {
    jj_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void *jj_arena_alloc(jj_arena *a, size_t n)
{
    if (n > SIZE_MAX / 2) return NULL;   /* also keeps the rounding below from wrapping */
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    jj_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > 16384 ? n : 16384;
        if (c && size < c->size * 2 && c->size < (1u << 20)) size = c->size * 2;
        if (size < n) size = n;
        if (a->limit && a->total + size > a->limit) {
            if (a->total + n > a->limit) return NULL;
            size = n;
        }
        c = fg_malloc(FG_MEM_RUNTIME, sizeof *c + size);
        if (!c) return NULL;
        c->next = a->head;
        c->size = size;
        c->used = 0;
        a->head = c;
        a->total += size;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

void jj_arena_free(jj_arena *a)
{
    jj_chunk *c = a->head;
    while (c) {
        jj_chunk *next = c->next;
        fg_free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- errors ------------------------------------------------------------------------------ */
void jj_fail(jj_err *e, fg_status s, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->status = s;
    e->line = line;
    longjmp(e->jmp, 1);
}

void jj_rfail(jj_ctx *c, fg_status s, const char *fmt, ...)
{
    jj_err *e = c->err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->status = s;
    e->line = c->line;
    longjmp(e->jmp, 1);
}

void *jj_alloc(jj_ctx *c, size_t n)
{
    void *p = jj_arena_alloc(&c->arena, n);
    if (!p) {
        /* the render's own limit (a hostile template), or the machine out of memory */
        size_t rounded = n > SIZE_MAX / 2 ? SIZE_MAX / 2 : (n + 15) & ~(size_t)15;
        if (c->arena.limit && rounded > c->arena.limit - (c->arena.total < c->arena.limit ? c->arena.total : c->arena.limit))
            jj_rfail(c, FG_ERR_BUDGET, "render needs more than %zu MiB of memory", c->arena.limit >> 20);
        jj_rfail(c, FG_ERR_NOMEM, "out of memory (%zu bytes for the render)", n);
    }
    return p;
}

void jj_cost(jj_ctx *c, size_t bytes)
{
    c->steps += bytes >> 10;
    if (c->steps > c->max_steps)
        jj_rfail(c, FG_ERR_BUDGET, "render exceeded its budget of %llu steps", (unsigned long long)c->max_steps);
}

void jj_buf_put(jj_ctx *c, jj_buf *b, const char *s, size_t n)
{
    if (n == 0) return;
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) jj_rfail(c, FG_ERR_BUDGET, "output too large");
            cap *= 2;
        }
        char *p = jj_alloc(c, cap);
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void jj_buf_putc(jj_ctx *c, jj_buf *b, char ch) { jj_buf_put(c, b, &ch, 1); }

static void buf_puts(jj_ctx *c, jj_buf *b, const char *s) { jj_buf_put(c, b, s, strlen(s)); }

/* ---- UTF-8 -------------------------------------------------------------------------------- */
size_t jj_utf8_decode(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char b = s[0];
    if (b < 0x80) { *cp = b; return 1; }
    size_t len;
    uint32_t v, min;
    if (b >= 0xC2 && b <= 0xDF) { len = 2; v = b & 0x1F; min = 0x80; }
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; v = b & 0x0F; min = 0x800; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; v = b & 0x07; min = 0x10000; }
    else goto invalid;
    if (n < len) goto invalid;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) goto invalid;
        v = (v << 6) | (s[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) goto invalid;
    *cp = v;
    return len;
invalid:
    *cp = 0xDC00 + b;   /* a lone byte, kept as itself (surrogateescape) */
    return 1;
}

size_t jj_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp >= 0xDC80 && cp <= 0xDCFF) { o[0] = (unsigned char)(cp - 0xDC00); return 1; }
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | (cp >> 6)); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t jj_utf8_count(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; count++) {
        uint32_t cp;
        i += jj_utf8_decode(s + i, n - i, &cp);
    }
    return count;
}

bool jj_is_space(uint32_t cp)
{
    if (cp <= 0x20) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* ---- constructors ----------------------------------------------------------------------------- */
jv jv_cstr(const char *s) { return jv_strn(s, strlen(s)); }

jv jv_str_copy(jj_ctx *c, const char *s, size_t n)
{
    char *p = jj_alloc(c, n ? n : 1);
    if (n) memcpy(p, s, n);
    return jv_strn(p, n);
}

jv jv_new_list(jj_ctx *c, size_t cap)
{
    jj_listv *l = jj_alloc(c, sizeof *l);
    l->n = 0;
    l->cap = cap;
    l->v = cap ? jj_alloc(c, cap * sizeof(jv)) : NULL;
    jv v = { .t = JV_LIST, .u.list = l };
    return v;
}

jv jv_new_dict(jj_ctx *c, size_t cap)
{
    jj_dict *d = jj_alloc(c, sizeof *d);
    d->n = 0;
    d->cap = cap;
    d->keys = cap ? jj_alloc(c, cap * sizeof(jv)) : NULL;
    d->vals = cap ? jj_alloc(c, cap * sizeof(jv)) : NULL;
    jv v = { .t = JV_DICT, .u.dict = d };
    return v;
}

void jv_list_push(jj_ctx *c, jv list, jv item)
{
    jj_listv *l = list.u.list;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        jv *v = jj_alloc(c, cap * sizeof(jv));
        if (l->n) memcpy(v, l->v, l->n * sizeof(jv));
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = item;
}

void jv_dict_set(jj_ctx *c, jv dict, const char *k, size_t kn, jv val)
{
    jj_dict *d = dict.u.dict;
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].u.str.n == kn && memcmp(d->keys[i].u.str.s, k, kn) == 0) {
            d->vals[i] = val;
            return;
        }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        jv *keys = jj_alloc(c, cap * sizeof(jv)), *vals = jj_alloc(c, cap * sizeof(jv));
        if (d->n) {
            memcpy(keys, d->keys, d->n * sizeof(jv));
            memcpy(vals, d->vals, d->n * sizeof(jv));
        }
        d->keys = keys;
        d->vals = vals;
        d->cap = cap;
    }
    d->keys[d->n] = jv_strn(k, kn);
    d->vals[d->n] = val;
    d->n++;
}

jv jv_dict_get(jv dict, const char *k, size_t kn)
{
    const jj_dict *d = dict.u.dict;
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].u.str.n == kn && memcmp(d->keys[i].u.str.s, k, kn) == 0) return d->vals[i];
    return jv_undef();
}

jv jv_func_new(jj_ctx *c, jj_func_kind kind, int id, jv self)
{
    jj_func *f = jj_alloc(c, sizeof *f);
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->id = id;
    f->self = self;
    jv v = { .t = JV_FUNC, .u.fn = f };
    return v;
}

const char *jv_type_name(jv v)
{
    switch (v.t) {
    case JV_UNDEF: return "undefined";
    case JV_NONE: return "none";
    case JV_BOOL: return "boolean";
    case JV_INT: return "integer";
    case JV_FLOAT: return "float";
    case JV_STR: return "string";
    case JV_LIST: return v.tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "namespace";
    case JV_FUNC: return "function";
    case JV_LOOP: return "loop";
    }
    return "?";
}

bool jv_truthy(jv v)
{
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: return false;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.str.n > 0;
    case JV_LIST: return v.u.list->n > 0;
    case JV_DICT: return v.u.dict->n > 0;
    default: return true;
    }
}

bool jv_is_number(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }

double jv_num(jv v)
{
    return v.t == JV_INT ? (double)v.u.i : v.t == JV_FLOAT ? v.u.f : v.t == JV_BOOL ? (double)v.u.b : 0.0;
}

static void depth_check(jj_ctx *c, int depth)
{
    if (depth > JJ_MAX_VALUE_DEPTH)
        jj_rfail(c, FG_ERR_UNSUPPORTED, "value nested deeper than %d levels", JJ_MAX_VALUE_DEPTH);
}

bool jv_equal(jj_ctx *c, jv a, jv b, int depth)
{
    depth_check(c, depth);
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT)
            return (a.t == JV_INT ? a.u.i : a.u.b) == (b.t == JV_INT ? b.u.i : b.u.b);
        return jv_num(a) == jv_num(b);
    }
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_STR:
        if (a.u.str.n != b.u.str.n) return false;
        jj_cost(c, a.u.str.n);
        return memcmp(a.u.str.s, b.u.str.s, a.u.str.n) == 0;
    case JV_LIST:
        if (a.u.list->n != b.u.list->n) return false;
        jj_cost(c, a.u.list->n * 64);
        for (size_t i = 0; i < a.u.list->n; i++)
            if (!jv_equal(c, a.u.list->v[i], b.u.list->v[i], depth + 1)) return false;
        return true;
    case JV_DICT:
        if (a.u.dict->n != b.u.dict->n) return false;
        for (size_t i = 0; i < a.u.dict->n; i++) {
            jv k = a.u.dict->keys[i];
            jv other = jv_dict_get(b, k.u.str.s, k.u.str.n);
            if (other.t == JV_UNDEF || !jv_equal(c, a.u.dict->vals[i], other, depth + 1)) return false;
        }
        return true;
    case JV_NS: return a.u.dict == b.u.dict;
    case JV_FUNC: return a.u.fn == b.u.fn;
    case JV_LOOP: return a.u.loop == b.u.loop;
    default: return false;
    }
}

/* case-insensitive comparison lowercases, as Jinja's ignore_case does with str.lower() */
static uint32_t fold(uint32_t cp)
{
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    if (cp >= 0xDC80 && cp <= 0xDCFF) return cp;
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
}

int jv_compare(jj_ctx *c, jv a, jv b, bool case_sensitive)
{
    if (jv_is_number(a) && jv_is_number(b)) {
        double x = jv_num(a), y = jv_num(b);
        if (a.t == JV_INT && b.t == JV_INT) return a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
        return x < y ? -1 : x > y;
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        jj_cost(c, a.u.str.n < b.u.str.n ? a.u.str.n : b.u.str.n);
        const char *s = a.u.str.s, *t = b.u.str.s;
        size_t i = 0, j = 0;
        while (i < a.u.str.n && j < b.u.str.n) {
            uint32_t x, y;
            i += jj_utf8_decode(s + i, a.u.str.n - i, &x);
            j += jj_utf8_decode(t + j, b.u.str.n - j, &y);
            if (!case_sensitive) { x = fold(x); y = fold(y); }
            if (x != y) return x < y ? -1 : 1;
        }
        return (i < a.u.str.n) - (j < b.u.str.n);
    }
    if (a.t == JV_LIST && b.t == JV_LIST) {
        size_t n = a.u.list->n < b.u.list->n ? a.u.list->n : b.u.list->n;
        for (size_t i = 0; i < n; i++) {
            int r = jv_compare(c, a.u.list->v[i], b.u.list->v[i], case_sensitive);
            if (r) return r;
        }
        return (a.u.list->n > n) - (b.u.list->n > n);
    }
    jj_rfail(c, FG_ERR_FORMAT, "cannot compare %s with %s", jv_type_name(a), jv_type_name(b));
}

/* ---- printing ------------------------------------------------------------------------------------ */
void jj_format_float(double f, char *buf, size_t cap)
{
    if (isnan(f)) { snprintf(buf, cap, "nan"); return; }
    if (isinf(f)) { snprintf(buf, cap, f < 0 ? "-inf" : "inf"); return; }
    /* shortest digits that round-trip, then Python's repr layout */
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp: [-]d.ddde[+-]XX */
    char digits[24];
    size_t nd = 0;
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char *o = buf;
    size_t left = cap;
#define OUT(ch) do { if (left > 1) { *o++ = (ch); left--; } } while (0)
    if (neg) OUT('-');
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            OUT('0'); OUT('.');
            for (int k = -1; k > exp; k--) OUT('0');
            for (size_t k = 0; k < nd; k++) OUT(digits[k]);
        } else {
            for (int k = 0; k <= exp; k++) OUT((size_t)k < nd ? digits[k] : '0');
            OUT('.');
            if ((size_t)exp + 1 < nd)
                for (size_t k = (size_t)exp + 1; k < nd; k++) OUT(digits[k]);
            else
                OUT('0');
        }
    } else {
        OUT(digits[0]);
        if (nd > 1) {
            OUT('.');
            for (size_t k = 1; k < nd; k++) OUT(digits[k]);
        }
        OUT('e');
        OUT(exp < 0 ? '-' : '+');
        char e[16];
        snprintf(e, sizeof e, "%02d", exp < 0 ? -exp : exp);
        for (char *q = e; *q; q++) OUT(*q);
    }
#undef OUT
    *o = 0;
}

/* Python repr of a str: single quotes unless the text has ' and no ". */
static void write_repr_str(jj_ctx *c, jj_buf *b, const char *s, size_t n)
{
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    jj_buf_putc(c, b, q);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = jj_utf8_decode(s + i, n - i, &cp);
        char esc[12];
        if (cp == (uint32_t)q || cp == '\\') { esc[0] = '\\'; esc[1] = (char)cp; jj_buf_put(c, b, esc, 2); }
        else if (cp == '\n') buf_puts(c, b, "\\n");
        else if (cp == '\r') buf_puts(c, b, "\\r");
        else if (cp == '\t') buf_puts(c, b, "\\t");
        else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            snprintf(esc, sizeof esc, "\\x%02x", (unsigned)cp);
            buf_puts(c, b, esc);
        } else if (cp >= 0xDC80 && cp <= 0xDCFF) {
            snprintf(esc, sizeof esc, "\\udc%02x", (unsigned)(cp & 0xFF));
            buf_puts(c, b, esc);
        } else jj_buf_put(c, b, s + i, k);
        i += k;
    }
    jj_buf_putc(c, b, q);
}

static void write_repr(jj_ctx *c, jj_buf *b, jv v, int depth);

static void write_items(jj_ctx *c, jj_buf *b, const jj_dict *d, int depth)
{
    jj_buf_putc(c, b, '{');
    for (size_t i = 0; i < d->n; i++) {
        if (i) buf_puts(c, b, ", ");
        write_repr(c, b, d->keys[i], depth + 1);
        buf_puts(c, b, ": ");
        write_repr(c, b, d->vals[i], depth + 1);
    }
    jj_buf_putc(c, b, '}');
}

static void write_str_depth(jj_ctx *c, jj_buf *b, jv v, int depth)
{
    char tmp[64];
    depth_check(c, depth);
    switch (v.t) {
    case JV_UNDEF: return;
    case JV_NONE: buf_puts(c, b, "None"); return;
    case JV_BOOL: buf_puts(c, b, v.u.b ? "True" : "False"); return;
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); buf_puts(c, b, tmp); return;
    case JV_FLOAT: jj_format_float(v.u.f, tmp, sizeof tmp); buf_puts(c, b, tmp); return;
    case JV_STR: jj_buf_put(c, b, v.u.str.s, v.u.str.n); return;
    case JV_LIST: {
        const jj_listv *l = v.u.list;
        jj_buf_putc(c, b, v.tuple ? '(' : '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) buf_puts(c, b, ", ");
            write_repr(c, b, l->v[i], depth + 1);
        }
        if (v.tuple && l->n == 1) jj_buf_putc(c, b, ',');
        jj_buf_putc(c, b, v.tuple ? ')' : ']');
        return;
    }
    case JV_DICT: write_items(c, b, v.u.dict, depth); return;
    case JV_NS: buf_puts(c, b, "<Namespace "); write_items(c, b, v.u.dict, depth); jj_buf_putc(c, b, '>'); return;
    case JV_FUNC: buf_puts(c, b, "<function>"); return;
    case JV_LOOP: buf_puts(c, b, "<LoopContext>"); return;
    }
}

static void write_repr(jj_ctx *c, jj_buf *b, jv v, int depth)
{
    if (v.t == JV_STR) write_repr_str(c, b, v.u.str.s, v.u.str.n);
    else if (v.t == JV_UNDEF) buf_puts(c, b, "Undefined");
    else write_str_depth(c, b, v, depth);
}

void jv_write_str(jj_ctx *c, jj_buf *b, jv v) { write_str_depth(c, b, v, 0); }

jv jv_to_str(jj_ctx *c, jv v)
{
    if (v.t == JV_STR) return v;
    jj_buf b = { 0 };
    jv_write_str(c, &b, v);
    return jv_strn(b.p ? b.p : "", b.n);
}
