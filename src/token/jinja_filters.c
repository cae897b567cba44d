/* jinja filters and tests, with Jinja2's argument names and defaults.
 *
 * Filters: abs attr capitalize count d default dictsort e escape first float indent int
 * items join last length list lower map max min reject rejectattr replace reverse round
 * safe select selectattr sort string sum title tojson trim unique upper.
 * tojson is transformers' version: tojson(indent=None, ensure_ascii=False,
 * separators=None, sort_keys=False), i.e. json.dumps with those arguments.
 *
 * Tests: boolean callable defined divisibleby eq equalto escaped even false float ge gt
 * greaterthan in integer iterable le lessthan lower lt mapping ne none number odd sameas
 * sequence string true undefined upper. */
#define _GNU_SOURCE 1   /* memmem */
#include "token/jinja-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- arguments -------------------------------------------------------------------------------------- */
jv jj_arg(const jj_args *a, size_t pos, const char *kw)
{
    if (pos < a->npos) return a->pos[pos];
    if (kw)
        for (size_t k = 0; k < a->nkw; k++)
            if (a->kwlen[k] == strlen(kw) && memcmp(a->kw[k], kw, a->kwlen[k]) == 0) return a->kwv[k];
    return jv_undef();
}

void jj_check_args(jj_ctx *c, const jj_args *a, size_t max_pos, const char *what, const char *const *kw)
{
    if (a->npos > max_pos)
        jj_rfail(c, FG_ERR_FORMAT, "%s takes at most %zu positional arguments, got %zu", what, max_pos, a->npos);
    for (size_t k = 0; k < a->nkw; k++) {
        bool ok = false;
        for (const char *const *p = kw; *p && !ok; p++)
            ok = strlen(*p) == a->kwlen[k] && memcmp(*p, a->kw[k], a->kwlen[k]) == 0;
        if (!ok)
            jj_rfail(c, FG_ERR_FORMAT, "%s got an unexpected keyword argument '%.*s'", what, (int)a->kwlen[k], a->kw[k]);
    }
}

/* ---- tables -------------------------------------------------------------------------------------------- */
enum {
    F_ABS, F_ATTR, F_CAPITALIZE, F_COUNT, F_D, F_DEFAULT, F_DICTSORT, F_E, F_ESCAPE, F_FIRST, F_FLOAT,
    F_INDENT, F_INT, F_ITEMS, F_JOIN, F_LAST, F_LENGTH, F_LIST, F_LOWER, F_MAP, F_MAX, F_MIN, F_REJECT,
    F_REJECTATTR, F_REPLACE, F_REVERSE, F_ROUND, F_SAFE, F_SELECT, F_SELECTATTR, F_SORT, F_STRING,
    F_SUM, F_TITLE, F_TOJSON, F_TRIM, F_UNIQUE, F_UPPER, F_END
};
static const char *const filter_names[F_END] = {
    "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
    "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
    "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string",
    "sum", "title", "tojson", "trim", "unique", "upper",
};

enum {
    T_BOOLEAN, T_CALLABLE, T_DEFINED, T_DIVISIBLEBY, T_EQ, T_EQUALTO, T_ESCAPED, T_EVEN, T_FALSE,
    T_FLOAT, T_GE, T_GT, T_GREATERTHAN, T_IN, T_INTEGER, T_ITERABLE, T_LE, T_LESSTHAN, T_LOWER, T_LT,
    T_MAPPING, T_NE, T_NONE, T_NUMBER, T_ODD, T_SAMEAS, T_SEQUENCE, T_STRING, T_TRUE, T_UNDEFINED,
    T_UPPER, T_END
};
static const char *const test_names[T_END] = {
    "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false",
    "float", "ge", "gt", "greaterthan", "in", "integer", "iterable", "le", "lessthan", "lower", "lt",
    "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string", "true", "undefined",
    "upper",
};

static int find_name(const char *const *names, int count, const char *s, size_t n)
{
    for (int k = 0; k < count; k++)
        if (strlen(names[k]) == n && memcmp(names[k], s, n) == 0) return k;
    return -1;
}

int jj_filter_id(const char *name, size_t n) { return find_name(filter_names, F_END, name, n); }
int jj_test_id(const char *name, size_t n) { return find_name(test_names, T_END, name, n); }

/* ---- helpers ------------------------------------------------------------------------------------------------ */
/* Jinja's soft_str: what string filters see (undefined -> ""). */
static jv soft_str(jj_ctx *c, jv v) { return v.t == JV_UNDEF ? jv_strn("", 0) : jv_to_str(c, v); }

/* Items of an iterable as a list value (list, dict keys, string characters, undefined: empty). */
static jv seq_items(jj_ctx *c, jv v, const char *what)
{
    switch (v.t) {
    case JV_LIST: return v;
    case JV_UNDEF: return jv_new_list(c, 0);
    case JV_DICT: {
        jv out = jv_new_list(c, v.u.dict->n);
        for (size_t i = 0; i < v.u.dict->n; i++) jv_list_push(c, out, v.u.dict->keys[i]);
        return out;
    }
    case JV_STR: {
        jv out = jv_new_list(c, 0);
        for (size_t i = 0; i < v.u.str.n;) {
            uint32_t cp;
            size_t k = jj_utf8_decode(v.u.str.s + i, v.u.str.n - i, &cp);
            jv_list_push(c, out, jv_strn(v.u.str.s + i, k));
            i += k;
        }
        return out;
    }
    default: jj_rfail(c, FG_ERR_FORMAT, "%s needs a sequence, got a %s", what, jv_type_name(v));
    }
}

/* Jinja's attribute path for filters: "a.b.0" -> item["a"]["b"][0]. */
static jv attr_path(jj_ctx *c, jv item, jv path)
{
    if (path.t == JV_INT) {
        if (item.t != JV_LIST) return jv_undef();
        int64_t i = path.u.i, n = (int64_t)item.u.list->n;
        if (i < 0) i += n;
        return i >= 0 && i < n ? item.u.list->v[i] : jv_undef();
    }
    jj_want_str(c, path, "attribute");
    const char *p = path.u.str.s, *end = p + path.u.str.n;
    jv v = item;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t len = dot ? (size_t)(dot - p) : (size_t)(end - p);
        bool digits = len > 0;
        for (size_t k = 0; k < len; k++) digits = digits && p[k] >= '0' && p[k] <= '9';
        if (digits && v.t == JV_LIST) {
            size_t idx = (size_t)strtoull(p, NULL, 10);
            v = idx < v.u.list->n ? v.u.list->v[idx] : jv_undef();
        } else if (v.t == JV_DICT || v.t == JV_NS) {
            v = jv_dict_get(v, p, len);
        } else {
            return jv_undef();
        }
        if (!dot) break;
        p = dot + 1;
    }
    return v;
}

/* The arguments after the first `skip` positional ones, as a new jj_args. */
static jj_args shift_args(const jj_args *a, size_t skip)
{
    jj_args r = *a;
    size_t k = skip < a->npos ? skip : a->npos;
    if (k) { /* pos may be NULL when there are none: never NULL + 0 */
        r.pos += k;
        r.npos -= k;
    }
    return r;
}

static int test_by_name(jj_ctx *c, jv name)
{
    jj_want_str(c, name, "a test name");
    int id = jj_test_id(name.u.str.s, name.u.str.n);
    if (id < 0) jj_rfail(c, FG_ERR_UNSUPPORTED, "unsupported test '%.*s'", (int)name.u.str.n, name.u.str.s);
    return id;
}

/* select/reject/selectattr/rejectattr */
static jv select_items(jj_ctx *c, jv seq, const jj_args *a, bool by_attr, bool keep)
{
    jv items = seq_items(c, seq, "select");
    jv attr = by_attr ? jj_arg(a, 0, NULL) : jv_undef();
    if (by_attr && attr.t == JV_UNDEF) jj_rfail(c, FG_ERR_FORMAT, "selectattr/rejectattr need an attribute");
    size_t first = by_attr ? 1 : 0;
    jv tname = jj_arg(a, first, NULL);
    int test = tname.t == JV_UNDEF ? -1 : test_by_name(c, tname);
    jj_args rest = shift_args(a, first + 1);
    jv out = jv_new_list(c, 0);
    for (size_t i = 0; i < items.u.list->n; i++) {
        jv it = items.u.list->v[i];
        jv x = by_attr ? attr_path(c, it, attr) : it;
        bool r = test < 0 ? jv_truthy(x) : jj_apply_test(c, test, x, &rest);
        if (r == keep) jv_list_push(c, out, it);
    }
    return out;
}

/* Stable merge sort by key (values compared with jv_compare). */
static void merge_sort(jj_ctx *c, jv *v, jv *key, jv *tv, jv *tk, size_t n, bool cs, bool rev)
{
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(c, v, key, tv, tk, h, cs, rev);
    merge_sort(c, v + h, key + h, tv, tk, n - h, cs, rev);
    jj_cost(c, n * 64);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n) {
        int r = jv_compare(c, key[j], key[i], cs);
        bool take_right = rev ? r > 0 : r < 0;
        if (take_right) { tv[o] = v[j]; tk[o++] = key[j++]; }
        else { tv[o] = v[i]; tk[o++] = key[i++]; }
    }
    while (i < h) { tv[o] = v[i]; tk[o++] = key[i++]; }
    while (j < n) { tv[o] = v[j]; tk[o++] = key[j++]; }
    memcpy(v, tv, n * sizeof *v);
    memcpy(key, tk, n * sizeof *key);
}

static jv sorted(jj_ctx *c, jv items, jv attr, bool cs, bool rev, bool by_value_of_pair)
{
    size_t n = items.u.list->n;
    jv out = jv_new_list(c, n ? n : 1);
    jv *key = jj_alloc(c, (n ? n : 1) * sizeof *key);
    jv *tv = jj_alloc(c, (n ? n : 1) * sizeof *tv), *tk = jj_alloc(c, (n ? n : 1) * sizeof *tk);
    for (size_t i = 0; i < n; i++) {
        jv it = items.u.list->v[i];
        out.u.list->v[i] = it;
        key[i] = by_value_of_pair ? it.u.list->v[1] : attr.t != JV_UNDEF && attr.t != JV_NONE ? attr_path(c, it, attr) : it;
    }
    out.u.list->n = n;
    merge_sort(c, out.u.list->v, key, tv, tk, n, cs, rev);
    return out;
}

static jv html_escape(jj_ctx *c, jv s)
{
    jj_buf b = { 0 };
    for (size_t i = 0; i < s.u.str.n; i++) {
        char ch = s.u.str.s[i];
        switch (ch) {
        case '&': jj_buf_put(c, &b, "&amp;", 5); break;
        case '<': jj_buf_put(c, &b, "&lt;", 4); break;
        case '>': jj_buf_put(c, &b, "&gt;", 4); break;
        case '"': jj_buf_put(c, &b, "&#34;", 5); break;
        case '\'': jj_buf_put(c, &b, "&#39;", 5); break;
        default: jj_buf_putc(c, &b, ch);
        }
    }
    return jv_strn(b.p ? b.p : "", b.n);
}

static jv do_indent(jj_ctx *c, jv s, jv width, bool first, bool blank)
{
    jv pad;
    if (width.t == JV_STR) pad = width;
    else {
        int64_t w = width.t == JV_UNDEF ? 4 : width.t == JV_INT ? width.u.i : -1;
        if (w < 0 || w > 1024) jj_rfail(c, FG_ERR_FORMAT, "indent width must be an integer in 0..1024");
        char *p = jj_alloc(c, (size_t)w + 1);
        memset(p, ' ', (size_t)w);
        pad = jv_strn(p, (size_t)w);
    }
    /* Jinja 3: lines = (s + "\n").splitlines(); the first line is not indented unless
     * first=True; empty lines are not indented unless blank=True */
    jj_args none = { 0 };
    jj_buf sn = { 0 };
    jj_buf_put(c, &sn, s.u.str.s, s.u.str.n);
    jj_buf_putc(c, &sn, '\n');
    s = jv_strn(sn.p, sn.n);
    int split_id = jj_method_id(s, "splitlines", 10);
    jv lines = jj_call_method(c, split_id, s, &none);
    jj_buf b = { 0 };
    if (first) jj_buf_put(c, &b, pad.u.str.s, pad.u.str.n);
    for (size_t i = 0; i < lines.u.list->n; i++) {
        jv line = lines.u.list->v[i];
        if (i) {
            jj_buf_putc(c, &b, '\n');
            if (blank || line.u.str.n) jj_buf_put(c, &b, pad.u.str.s, pad.u.str.n);
        }
        jj_buf_put(c, &b, line.u.str.s, line.u.str.n);
    }
    return jv_strn(b.p ? b.p : "", b.n);
}

static jv to_int(jj_ctx *c, jv v, jv dflt)
{
    if (dflt.t == JV_UNDEF) dflt = jv_int(0);
    switch (v.t) {
    case JV_INT: return v;
    case JV_BOOL: return jv_int(v.u.b);
    case JV_FLOAT:
        if (!isfinite(v.u.f) || fabs(v.u.f) >= 9.2e18) return dflt;
        return jv_int((int64_t)v.u.f);
    case JV_STR: {
        char buf[64];
        jv t = jj_str_strip(c, v, jv_undef(), JJ_STRIP_BOTH);
        if (t.u.str.n == 0 || t.u.str.n >= sizeof buf) return dflt;
        memcpy(buf, t.u.str.s, t.u.str.n);
        buf[t.u.str.n] = 0;
        char *end;
        long long x = strtoll(buf, &end, 10);
        if (*end == 0) return jv_int(x);
        double f = strtod(buf, &end);
        if (*end == 0 && isfinite(f) && fabs(f) < 9.2e18) return jv_int((int64_t)f);
        return dflt;
    }
    default: return dflt;
    }
}

static jv to_float(jj_ctx *c, jv v, jv dflt)
{
    if (dflt.t == JV_UNDEF) dflt = jv_float(0.0);
    if (jv_is_number(v)) return jv_float(jv_num(v));
    if (v.t == JV_STR) {
        char buf[64];
        jv t = jj_str_strip(c, v, jv_undef(), JJ_STRIP_BOTH);
        if (t.u.str.n == 0 || t.u.str.n >= sizeof buf) return dflt;
        memcpy(buf, t.u.str.s, t.u.str.n);
        buf[t.u.str.n] = 0;
        char *end;
        double f = strtod(buf, &end);
        return *end == 0 ? jv_float(f) : dflt;
    }
    return dflt;
}

static jv min_max(jj_ctx *c, jv seq, const jj_args *a, bool want_max)
{
    jv items = seq_items(c, seq, want_max ? "max" : "min");
    jv attr = jj_arg(a, 1, "attribute");
    bool cs = jv_truthy(jj_arg(a, 0, "case_sensitive"));
    if (items.u.list->n == 0) return jv_undef();
    jv best = items.u.list->v[0];
    jv bk = attr.t != JV_UNDEF ? attr_path(c, best, attr) : best;
    for (size_t i = 1; i < items.u.list->n; i++) {
        jv it = items.u.list->v[i];
        jv k = attr.t != JV_UNDEF ? attr_path(c, it, attr) : it;
        int r = jv_compare(c, k, bk, cs);
        if (want_max ? r > 0 : r < 0) { best = it; bk = k; }
    }
    return best;
}

static jv tojson(jj_ctx *c, jv v, const jj_args *a)
{
    static const char *const kw[] = { "indent", "ensure_ascii", "separators", "sort_keys", NULL };
    jj_check_args(c, a, 1, "tojson", kw);
    jj_json_opts o = { .indent = -1 };
    jv ind = jj_arg(a, 0, "indent");
    if (ind.t == JV_INT) {
        if (ind.u.i < 0 || ind.u.i > 64) jj_rfail(c, FG_ERR_FORMAT, "tojson indent must be 0..64");
        o.indent = (int)ind.u.i;
    } else if (ind.t != JV_UNDEF && ind.t != JV_NONE) {
        jj_rfail(c, FG_ERR_UNSUPPORTED, "tojson indent must be an integer");
    }
    o.ensure_ascii = jv_truthy(jj_arg(a, 99, "ensure_ascii"));
    o.sort_keys = jv_truthy(jj_arg(a, 99, "sort_keys"));
    jv sep = jj_arg(a, 99, "separators");
    if (sep.t == JV_LIST) {
        if (sep.u.list->n != 2 || sep.u.list->v[0].t != JV_STR || sep.u.list->v[1].t != JV_STR)
            jj_rfail(c, FG_ERR_FORMAT, "tojson separators must be two strings");
        /* NUL-terminated copies */
        jv s0 = sep.u.list->v[0], s1 = sep.u.list->v[1];
        char *p0 = jj_alloc(c, s0.u.str.n + 1), *p1 = jj_alloc(c, s1.u.str.n + 1);
        memcpy(p0, s0.u.str.s, s0.u.str.n);
        p0[s0.u.str.n] = 0;
        memcpy(p1, s1.u.str.s, s1.u.str.n);
        p1[s1.u.str.n] = 0;
        o.item_sep = p0;
        o.key_sep = p1;
    } else if (sep.t != JV_UNDEF && sep.t != JV_NONE) {
        jj_rfail(c, FG_ERR_FORMAT, "tojson separators must be a tuple of two strings");
    }
    jj_buf b = { 0 };
    jv_write_json(c, &b, v, &o, 0);
    return jv_strn(b.p ? b.p : "", b.n);
}

/* ---- filters --------------------------------------------------------------------------------------------------- */
jv jj_apply_filter(jj_ctx *c, int id, jv v, const jj_args *a)
{
    static const char *const no_kw[] = { NULL };
    const char *name = filter_names[id];
    switch (id) {
    case F_SAFE:
        jj_check_args(c, a, 0, name, no_kw);
        return v;
    case F_STRING:
        jj_check_args(c, a, 0, name, no_kw);
        return soft_str(c, v);
    case F_TOJSON:
        return tojson(c, v, a);
    case F_UPPER: case F_LOWER: case F_TITLE: case F_CAPITALIZE:
        jj_check_args(c, a, 0, name, no_kw);
        return jj_str_case(c, soft_str(c, v), id == F_UPPER ? 'u' : id == F_LOWER ? 'l' : id == F_TITLE ? 'T' : 'c');
    case F_TRIM: {
        static const char *const kw[] = { "chars", NULL };
        jj_check_args(c, a, 1, name, kw);
        return jj_str_strip(c, soft_str(c, v), jj_arg(a, 0, "chars"), JJ_STRIP_BOTH);
    }
    case F_LENGTH: case F_COUNT:
        jj_check_args(c, a, 0, name, no_kw);
        switch (v.t) {
        case JV_STR: jj_cost(c, v.u.str.n); return jv_int((int64_t)jj_utf8_count(v.u.str.s, v.u.str.n));
        case JV_LIST: return jv_int((int64_t)v.u.list->n);
        case JV_DICT: case JV_NS: return jv_int((int64_t)v.u.dict->n);
        case JV_UNDEF: return jv_int(0);
        default: jj_rfail(c, FG_ERR_FORMAT, "length of a %s", jv_type_name(v));
        }
    case F_FIRST: case F_LAST: {
        jj_check_args(c, a, 0, name, no_kw);
        jv items = seq_items(c, v, name);
        if (!items.u.list->n) return jv_undef();
        return items.u.list->v[id == F_FIRST ? 0 : items.u.list->n - 1];
    }
    case F_LIST: {
        jj_check_args(c, a, 0, name, no_kw);
        jv items = seq_items(c, v, name);
        jv out = jv_new_list(c, items.u.list->n);
        for (size_t i = 0; i < items.u.list->n; i++) jv_list_push(c, out, items.u.list->v[i]);
        return out;
    }
    case F_REVERSE: {
        jj_check_args(c, a, 0, name, no_kw);
        jv items = seq_items(c, v, name);
        size_t n = items.u.list->n;
        if (v.t == JV_STR) {
            jj_buf b = { 0 };
            for (size_t i = n; i-- > 0;) jj_buf_put(c, &b, items.u.list->v[i].u.str.s, items.u.list->v[i].u.str.n);
            return jv_strn(b.p ? b.p : "", b.n);
        }
        jv out = jv_new_list(c, n);
        for (size_t i = n; i-- > 0;) jv_list_push(c, out, items.u.list->v[i]);
        return out;
    }
    case F_JOIN: {
        static const char *const kw[] = { "d", "attribute", NULL };
        jj_check_args(c, a, 2, name, kw);
        jv items = seq_items(c, v, name);
        jv sep = jj_arg(a, 0, "d"), attr = jj_arg(a, 1, "attribute");
        if (sep.t == JV_UNDEF) sep = jv_strn("", 0);
        sep = jv_to_str(c, sep);
        jj_buf b = { 0 };
        for (size_t i = 0; i < items.u.list->n; i++) {
            if (i) jj_buf_put(c, &b, sep.u.str.s, sep.u.str.n);
            jv it = items.u.list->v[i];
            if (attr.t != JV_UNDEF) it = attr_path(c, it, attr);
            jv_write_str(c, &b, it);
        }
        return jv_strn(b.p ? b.p : "", b.n);
    }
    case F_DEFAULT: case F_D: {
        static const char *const kw[] = { "default_value", "boolean", NULL };
        jj_check_args(c, a, 2, name, kw);
        jv dflt = jj_arg(a, 0, "default_value");
        if (dflt.t == JV_UNDEF) dflt = jv_strn("", 0);
        bool boolean = jv_truthy(jj_arg(a, 1, "boolean"));
        if (v.t == JV_UNDEF || (boolean && !jv_truthy(v))) return dflt;
        return v;
    }
    case F_REPLACE: {
        static const char *const kw[] = { "old", "new", "count", NULL };
        jj_check_args(c, a, 3, name, kw);
        jv old = jj_arg(a, 0, "old"), repl = jj_arg(a, 1, "new"), cnt = jj_arg(a, 2, "count");
        if (old.t == JV_UNDEF || repl.t == JV_UNDEF) jj_rfail(c, FG_ERR_FORMAT, "replace needs old and new strings");
        int64_t count = cnt.t == JV_INT ? cnt.u.i : -1;
        jv s = soft_str(c, v);
        jj_cost(c, s.u.str.n);
        return jj_str_replace(c, s, jv_to_str(c, old), jv_to_str(c, repl), count);
    }
    case F_INDENT: {
        static const char *const kw[] = { "width", "first", "blank", NULL };
        jj_check_args(c, a, 3, name, kw);
        return do_indent(c, soft_str(c, v), jj_arg(a, 0, "width"), jv_truthy(jj_arg(a, 1, "first")),
                         jv_truthy(jj_arg(a, 2, "blank")));
    }
    case F_ITEMS: {
        jj_check_args(c, a, 0, name, no_kw);
        if (v.t == JV_UNDEF) return jv_new_list(c, 0);
        if (v.t != JV_DICT) jj_rfail(c, FG_ERR_FORMAT, "items needs a mapping, got a %s", jv_type_name(v));
        jj_args none = { 0 };
        return jj_call_method(c, jj_method_id(v, "items", 5), v, &none);
    }
    case F_DICTSORT: {
        static const char *const kw[] = { "case_sensitive", "by", "reverse", NULL };
        jj_check_args(c, a, 3, name, kw);
        if (v.t != JV_DICT) jj_rfail(c, FG_ERR_FORMAT, "dictsort needs a mapping, got a %s", jv_type_name(v));
        jv by = jj_arg(a, 1, "by");
        bool by_value = false;
        if (by.t == JV_STR) {
            if (by.u.str.n == 5 && memcmp(by.u.str.s, "value", 5) == 0) by_value = true;
            else if (!(by.u.str.n == 3 && memcmp(by.u.str.s, "key", 3) == 0))
                jj_rfail(c, FG_ERR_FORMAT, "dictsort: by must be 'key' or 'value'");
        }
        jj_args none = { 0 };
        jv items = jj_call_method(c, jj_method_id(v, "items", 5), v, &none);
        /* sort pairs by key (element 0) or value (element 1) */
        jv attr = by_value ? jv_undef() : jv_int(0);
        return sorted(c, items, attr, jv_truthy(jj_arg(a, 0, "case_sensitive")), jv_truthy(jj_arg(a, 2, "reverse")), by_value);
    }
    case F_SORT: {
        static const char *const kw[] = { "reverse", "case_sensitive", "attribute", NULL };
        jj_check_args(c, a, 3, name, kw);
        jv items = seq_items(c, v, name);
        return sorted(c, items, jj_arg(a, 2, "attribute"), jv_truthy(jj_arg(a, 1, "case_sensitive")),
                      jv_truthy(jj_arg(a, 0, "reverse")), false);
    }
    case F_UNIQUE: {
        static const char *const kw[] = { "case_sensitive", "attribute", NULL };
        jj_check_args(c, a, 2, name, kw);
        jv items = seq_items(c, v, name);
        jv attr = jj_arg(a, 1, "attribute");
        bool cs = jv_truthy(jj_arg(a, 0, "case_sensitive"));
        jv out = jv_new_list(c, 0), keys = jv_new_list(c, 0);
        for (size_t i = 0; i < items.u.list->n; i++) {
            jv it = items.u.list->v[i];
            jv k = attr.t != JV_UNDEF ? attr_path(c, it, attr) : it;
            if (!cs && k.t == JV_STR) k = jj_str_case(c, k, 'l');
            bool seen = false;
            jj_cost(c, keys.u.list->n * 64);
            for (size_t j = 0; j < keys.u.list->n && !seen; j++) seen = jv_equal(c, keys.u.list->v[j], k, 0);
            if (!seen) {
                jv_list_push(c, keys, k);
                jv_list_push(c, out, it);
            }
        }
        return out;
    }
    case F_SELECT: case F_REJECT:
        return select_items(c, v, a, false, id == F_SELECT);
    case F_SELECTATTR: case F_REJECTATTR:
        return select_items(c, v, a, true, id == F_SELECTATTR);
    case F_MAP: {
        jv items = seq_items(c, v, name);
        jv out = jv_new_list(c, items.u.list->n);
        jv attr = jj_arg(a, 99, "attribute");
        if (attr.t != JV_UNDEF) {
            jv dflt = jj_arg(a, 99, "default");
            for (size_t i = 0; i < items.u.list->n; i++) {
                jv x = attr_path(c, items.u.list->v[i], attr);
                jv_list_push(c, out, x.t == JV_UNDEF && dflt.t != JV_UNDEF ? dflt : x);
            }
            return out;
        }
        jv fname = jj_arg(a, 0, NULL);
        jj_want_str(c, fname, "map (a filter name or attribute=)");
        int fid = jj_filter_id(fname.u.str.s, fname.u.str.n);
        if (fid < 0) jj_rfail(c, FG_ERR_UNSUPPORTED, "unsupported filter '%.*s'", (int)fname.u.str.n, fname.u.str.s);
        jj_args rest = shift_args(a, 1);
        for (size_t i = 0; i < items.u.list->n; i++) jv_list_push(c, out, jj_apply_filter(c, fid, items.u.list->v[i], &rest));
        return out;
    }
    case F_ATTR: {
        jj_check_args(c, a, 1, name, no_kw);
        /* an attribute, not an item: a dict's keys are not attributes (Jinja2) */
        jv k = jj_want_str(c, jj_arg(a, 0, NULL), "attr");
        return v.t == JV_NS ? jv_dict_get(v, k.u.str.s, k.u.str.n) : jv_undef();
    }
    case F_E: case F_ESCAPE:
        jj_check_args(c, a, 0, name, no_kw);
        return html_escape(c, soft_str(c, v));
    case F_INT: {
        static const char *const kw[] = { "default", "base", NULL };
        jj_check_args(c, a, 2, name, kw);
        return to_int(c, v, jj_arg(a, 0, "default"));
    }
    case F_FLOAT: {
        static const char *const kw[] = { "default", NULL };
        jj_check_args(c, a, 1, name, kw);
        return to_float(c, v, jj_arg(a, 0, "default"));
    }
    case F_ABS:
        jj_check_args(c, a, 0, name, no_kw);
        if (v.t == JV_INT) {
            if (v.u.i == INT64_MIN) jj_rfail(c, FG_ERR_UNSUPPORTED, "integer overflow in abs");
            return jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
        }
        if (v.t == JV_BOOL) return jv_int(v.u.b);
        if (v.t == JV_FLOAT) return jv_float(fabs(v.u.f));
        jj_rfail(c, FG_ERR_FORMAT, "abs of a %s", jv_type_name(v));
    case F_ROUND: {
        static const char *const kw[] = { "precision", "method", NULL };
        jj_check_args(c, a, 2, name, kw);
        if (!jv_is_number(v)) jj_rfail(c, FG_ERR_FORMAT, "round of a %s", jv_type_name(v));
        jv pv = jj_arg(a, 0, "precision"), mv = jj_arg(a, 1, "method");
        int64_t prec = pv.t == JV_INT ? pv.u.i : 0;
        if (prec < 0 || prec > 15) jj_rfail(c, FG_ERR_FORMAT, "round precision must be 0..15");
        double scale = pow(10.0, (double)prec), x = jv_num(v) * scale;
        if (mv.t == JV_STR && mv.u.str.n == 4 && memcmp(mv.u.str.s, "ceil", 4) == 0) x = ceil(x);
        else if (mv.t == JV_STR && mv.u.str.n == 5 && memcmp(mv.u.str.s, "floor", 5) == 0) x = floor(x);
        else x = nearbyint(x);   /* Python's round(): half to even */
        return jv_float(x / scale);
    }
    case F_SUM: {
        static const char *const kw[] = { "attribute", "start", NULL };
        jj_check_args(c, a, 2, name, kw);
        jv items = seq_items(c, v, name);
        jv attr = jj_arg(a, 0, "attribute"), acc = jj_arg(a, 1, "start");
        if (acc.t == JV_UNDEF) acc = jv_int(0);
        for (size_t i = 0; i < items.u.list->n; i++) {
            jv x = attr.t != JV_UNDEF ? attr_path(c, items.u.list->v[i], attr) : items.u.list->v[i];
            if (!jv_is_number(x) || !jv_is_number(acc)) jj_rfail(c, FG_ERR_FORMAT, "sum of a %s", jv_type_name(x));
            if (acc.t != JV_FLOAT && x.t != JV_FLOAT) {
                int64_t r;
                if (__builtin_add_overflow(acc.t == JV_INT ? acc.u.i : acc.u.b, x.t == JV_INT ? x.u.i : x.u.b, &r))
                    jj_rfail(c, FG_ERR_UNSUPPORTED, "integer overflow in sum");
                acc = jv_int(r);
            } else {
                acc = jv_float(jv_num(acc) + jv_num(x));
            }
        }
        return acc;
    }
    case F_MIN: case F_MAX: {
        static const char *const kw[] = { "case_sensitive", "attribute", NULL };
        jj_check_args(c, a, 2, name, kw);
        return min_max(c, v, a, id == F_MAX);
    }
    }
    jj_rfail(c, FG_ERR_INTERNAL, "bad filter id %d", id);
}

/* ---- tests ---------------------------------------------------------------------------------------------------------- */
static jv test_arg(jj_ctx *c, const jj_args *a, const char *name)
{
    if (a->npos < 1) jj_rfail(c, FG_ERR_FORMAT, "test '%s' needs an argument", name);
    return a->pos[0];
}

bool jj_apply_test(jj_ctx *c, int id, jv v, const jj_args *a)
{
    const char *name = test_names[id];
    switch (id) {
    case T_DEFINED: return v.t != JV_UNDEF;
    case T_UNDEFINED: return v.t == JV_UNDEF;
    case T_NONE: return v.t == JV_NONE;
    case T_BOOLEAN: return v.t == JV_BOOL;
    case T_TRUE: return v.t == JV_BOOL && v.u.b;
    case T_FALSE: return v.t == JV_BOOL && !v.u.b;
    case T_INTEGER: return v.t == JV_INT;
    case T_FLOAT: return v.t == JV_FLOAT;
    case T_NUMBER: return jv_is_number(v);
    case T_STRING: return v.t == JV_STR;
    case T_MAPPING: return v.t == JV_DICT;
    /* Jinja2's Undefined is iterable and sized, so these hold for it too */
    case T_ITERABLE: return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
    case T_SEQUENCE: return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
    case T_CALLABLE: return v.t == JV_FUNC;
    case T_ESCAPED: return false;
    case T_LOWER: case T_UPPER: {
        if (v.t != JV_STR) return false;
        int m = jj_method_id(v, id == T_LOWER ? "islower" : "isupper", 7);
        jj_args none = { 0 };
        return jj_call_method(c, m, v, &none).u.b;
    }
    case T_ODD: case T_EVEN:
        if (v.t != JV_INT && v.t != JV_BOOL) jj_rfail(c, FG_ERR_FORMAT, "test '%s' needs an integer, got a %s", name, jv_type_name(v));
        return ((v.t == JV_INT ? v.u.i : v.u.b) & 1) == (id == T_ODD);
    case T_DIVISIBLEBY: {
        jv d = test_arg(c, a, name);
        if ((v.t != JV_INT && v.t != JV_BOOL) || (d.t != JV_INT && d.t != JV_BOOL))
            jj_rfail(c, FG_ERR_FORMAT, "test 'divisibleby' needs integers");
        int64_t x = v.t == JV_INT ? v.u.i : v.u.b, y = d.t == JV_INT ? d.u.i : d.u.b;
        if (y == 0) jj_rfail(c, FG_ERR_FORMAT, "divisibleby 0");
        return y == -1 || x % y == 0;
    }
    case T_EQ: case T_EQUALTO: return jv_equal(c, v, test_arg(c, a, name), 0);
    case T_NE: return !jv_equal(c, v, test_arg(c, a, name), 0);
    case T_LT: case T_LESSTHAN: return jv_compare(c, v, test_arg(c, a, name), true) < 0;
    case T_LE: return jv_compare(c, v, test_arg(c, a, name), true) <= 0;
    case T_GT: case T_GREATERTHAN: return jv_compare(c, v, test_arg(c, a, name), true) > 0;
    case T_GE: return jv_compare(c, v, test_arg(c, a, name), true) >= 0;
    case T_IN: {
        jv seq = test_arg(c, a, name);
        if (seq.t == JV_STR) {
            if (v.t != JV_STR) return false;
            return v.u.str.n == 0 || (v.u.str.n <= seq.u.str.n && memmem(seq.u.str.s, seq.u.str.n, v.u.str.s, v.u.str.n));
        }
        if (seq.t == JV_LIST) {
            for (size_t i = 0; i < seq.u.list->n; i++)
                if (jv_equal(c, v, seq.u.list->v[i], 0)) return true;
            return false;
        }
        if (seq.t == JV_DICT) return v.t == JV_STR && jv_dict_get(seq, v.u.str.s, v.u.str.n).t != JV_UNDEF;
        jj_rfail(c, FG_ERR_FORMAT, "test 'in' needs a sequence");
    }
    case T_SAMEAS: {
        jv o = test_arg(c, a, name);
        if (v.t != o.t) return false;
        switch (v.t) {
        case JV_LIST: return v.u.list == o.u.list;
        case JV_DICT: case JV_NS: return v.u.dict == o.u.dict;
        case JV_FUNC: return v.u.fn == o.u.fn;
        default: return jv_equal(c, v, o, 0);
        }
    }
    }
    jj_rfail(c, FG_ERR_INTERNAL, "bad test id %d", id);
}
