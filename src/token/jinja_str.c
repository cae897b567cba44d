/* jinja strings: Python str methods on UTF-8 values (upper, lower, strip, lstrip,
 * rstrip, startswith, endswith, split, rsplit, splitlines, replace, title, capitalize,
 * find, count, join, is*), the dict methods (get, items, keys, values), and the method
 * table used for `value.name(...)`.
 *
 * Case mapping and character classes come from utf8proc (simple, one-to-one case
 * mappings; Python's full mappings differ only for a few characters such as 'ß'). */
#define _GNU_SOURCE 1   /* memmem */
#include "token/jinja-impl.h"

#include <string.h>
#include <utf8proc.h>

jv jj_want_str(jj_ctx *c, jv v, const char *what)
{
    if (v.t != JV_STR) jj_rfail(c, FG_ERR_FORMAT, "%s needs a string, got a %s", what, jv_type_name(v));
    return v;
}

/* ---- helpers -------------------------------------------------------------------------------------- */
static bool in_set(uint32_t cp, jv chars)
{
    if (chars.t != JV_STR) return jj_is_space(cp);
    for (size_t i = 0; i < chars.u.str.n;) {
        uint32_t x;
        i += jj_utf8_decode(chars.u.str.s + i, chars.u.str.n - i, &x);
        if (x == cp) return true;
    }
    return false;
}

jv jj_str_strip(jj_ctx *c, jv s, jv chars, int mode)
{
    if (chars.t != JV_STR && chars.t != JV_UNDEF && chars.t != JV_NONE)
        jj_rfail(c, FG_ERR_FORMAT, "strip arg must be None or str, not %s", jv_type_name(chars));
    const char *p = s.u.str.s;
    size_t n = s.u.str.n, b = 0, e = n;
    if (mode != JJ_STRIP_RIGHT) {
        while (b < n) {
            uint32_t cp;
            size_t k = jj_utf8_decode(p + b, n - b, &cp);
            if (!in_set(cp, chars)) break;
            b += k;
        }
    }
    if (mode != JJ_STRIP_LEFT) {
        size_t pos = b, last = b;
        while (pos < n) {   /* forward scan: UTF-8 is not decodable backwards when invalid */
            uint32_t cp;
            size_t k = jj_utf8_decode(p + pos, n - pos, &cp);
            pos += k;
            if (!in_set(cp, chars)) last = pos;
        }
        e = last;
    }
    return jv_strn(p + b, e - b);
}

static bool is_cased(uint32_t cp)
{
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

jv jj_str_case(jj_ctx *c, jv s, int mode)
{
    jj_buf b = { 0 };
    bool prev_cased = false, first = true;
    for (size_t i = 0; i < s.u.str.n;) {
        uint32_t cp;
        size_t k = jj_utf8_decode(s.u.str.s + i, s.u.str.n - i, &cp);
        i += k;
        uint32_t out = cp;
        if (!(cp >= 0xDC80 && cp <= 0xDCFF)) {
            utf8proc_int32_t x = (utf8proc_int32_t)cp;
            switch (mode) {
            case 'u': out = (uint32_t)utf8proc_toupper(x); break;
            case 'l': out = (uint32_t)utf8proc_tolower(x); break;
            case 't':
                out = (uint32_t)(prev_cased ? utf8proc_tolower(x) : utf8proc_totitle(x));
                prev_cased = is_cased(out);
                break;
            case 'c': out = (uint32_t)(first ? utf8proc_totitle(x) : utf8proc_tolower(x)); break;
            case 'T': {   /* Jinja's |title: words split at runs of - ( { [ < and whitespace */
                bool sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || jj_is_space(cp);
                out = (uint32_t)(prev_cased ? utf8proc_tolower(x) : utf8proc_toupper(x));
                prev_cased = !sep;
                break;
            }
            }
        }
        first = false;
        char enc[4];
        jj_buf_put(c, &b, enc, jj_utf8_encode(out, enc));
    }
    return jv_strn(b.p ? b.p : "", b.n);
}

jv jj_str_replace(jj_ctx *c, jv s, jv old, jv repl, int64_t count)
{
    const char *p = s.u.str.s;
    size_t n = s.u.str.n, on = old.u.str.n;
    jj_buf b = { 0 };
    if (on == 0) {   /* Python inserts the replacement between every character */
        int64_t done = 0;
        for (size_t i = 0;;) {
            if (count < 0 || done < count) { jj_buf_put(c, &b, repl.u.str.s, repl.u.str.n); done++; }
            if (i >= n) break;
            uint32_t cp;
            size_t k = jj_utf8_decode(p + i, n - i, &cp);
            jj_buf_put(c, &b, p + i, k);
            i += k;
        }
        return jv_strn(b.p ? b.p : "", b.n);
    }
    size_t i = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        const char *hit = on <= n - i ? memmem(p + i, n - i, old.u.str.s, on) : NULL;
        if (!hit) break;
        size_t at = (size_t)(hit - p);
        jj_buf_put(c, &b, p + i, at - i);
        jj_buf_put(c, &b, repl.u.str.s, repl.u.str.n);
        i = at + on;
        done++;
    }
    if (done == 0) return s;
    jj_buf_put(c, &b, p + i, n - i);
    return jv_strn(b.p ? b.p : "", b.n);
}

static bool has_prefix(jv s, jv pre, bool suffix)
{
    if (pre.u.str.n > s.u.str.n) return false;
    const char *at = suffix ? s.u.str.s + s.u.str.n - pre.u.str.n : s.u.str.s;
    return memcmp(at, pre.u.str.s, pre.u.str.n) == 0;
}

static jv starts_ends(jj_ctx *c, jv s, jv arg, bool suffix)
{
    const char *what = suffix ? "endswith()" : "startswith()";
    if (arg.t == JV_STR) return jv_bool(has_prefix(s, arg, suffix));
    if (arg.t == JV_LIST) {
        for (size_t i = 0; i < arg.u.list->n; i++)
            if (has_prefix(s, jj_want_str(c, arg.u.list->v[i], what), suffix)) return jv_bool(true);
        return jv_bool(false);
    }
    jj_rfail(c, FG_ERR_FORMAT, "%s needs a string or a tuple of strings, got a %s", what, jv_type_name(arg));
}

/* str.split / str.rsplit (Python semantics, sep None = runs of whitespace). */
static jv split(jj_ctx *c, jv s, jv sep, int64_t maxsplit, bool from_right)
{
    const char *p = s.u.str.s;
    size_t n = s.u.str.n;
    jv out = jv_new_list(c, 0);
    if (sep.t == JV_STR && sep.u.str.n == 0) jj_rfail(c, FG_ERR_FORMAT, "split(): empty separator");
    if (sep.t == JV_STR) {
        size_t sn = sep.u.str.n;
        if (!from_right || maxsplit < 0) {
            size_t i = 0;
            int64_t done = 0;
            for (;;) {
                const char *hit = (maxsplit < 0 || done < maxsplit) && sn <= n - i ? memmem(p + i, n - i, sep.u.str.s, sn) : NULL;
                if (!hit) break;
                jv_list_push(c, out, jv_strn(p + i, (size_t)(hit - p) - i));
                i = (size_t)(hit - p) + sn;
                done++;
            }
            jv_list_push(c, out, jv_strn(p + i, n - i));
            return out;
        }
        /* rsplit with a limit: cut from the right, then reverse */
        size_t end = n;
        int64_t done = 0;
        while (done < maxsplit && end >= sn) {
            size_t k = end - sn + 1, found = SIZE_MAX;
            while (k-- > 0)
                if (memcmp(p + k, sep.u.str.s, sn) == 0) { found = k; break; }
            if (found == SIZE_MAX) break;
            jv_list_push(c, out, jv_strn(p + found + sn, end - found - sn));
            end = found;
            done++;
        }
        jv_list_push(c, out, jv_strn(p, end));
        for (size_t a = 0, b = out.u.list->n - 1; a < b; a++, b--) {
            jv t = out.u.list->v[a]; out.u.list->v[a] = out.u.list->v[b]; out.u.list->v[b] = t;
        }
        return out;
    }
    if (sep.t != JV_UNDEF && sep.t != JV_NONE)
        jj_rfail(c, FG_ERR_FORMAT, "split(): separator must be a string or None, not %s", jv_type_name(sep));
    /* whitespace runs: collect words with their byte ranges */
    size_t *ws = jj_alloc(c, (n + 1) * 2 * sizeof *ws), nw = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = jj_utf8_decode(p + i, n - i, &cp);
        if (jj_is_space(cp)) { i += k; continue; }
        size_t b = i;
        while (i < n) {
            k = jj_utf8_decode(p + i, n - i, &cp);
            if (jj_is_space(cp)) break;
            i += k;
        }
        ws[2 * nw] = b;
        ws[2 * nw + 1] = i;
        nw++;
    }
    if (maxsplit < 0 || (size_t)maxsplit >= nw) {
        for (size_t w = 0; w < nw; w++) jv_list_push(c, out, jv_strn(p + ws[2 * w], ws[2 * w + 1] - ws[2 * w]));
        return out;
    }
    if (!from_right) {
        for (size_t w = 0; w < (size_t)maxsplit; w++) jv_list_push(c, out, jv_strn(p + ws[2 * w], ws[2 * w + 1] - ws[2 * w]));
        jv rest = jj_str_strip(c, jv_strn(p + ws[2 * (size_t)maxsplit], n - ws[2 * (size_t)maxsplit]), jv_undef(), JJ_STRIP_RIGHT);
        jv_list_push(c, out, rest);
    } else {
        size_t first = nw - (size_t)maxsplit;
        jv rest = jj_str_strip(c, jv_strn(p, ws[2 * (first - 1) + 1]), jv_undef(), JJ_STRIP_LEFT);
        jv_list_push(c, out, rest);
        for (size_t w = first; w < nw; w++) jv_list_push(c, out, jv_strn(p + ws[2 * w], ws[2 * w + 1] - ws[2 * w]));
    }
    return out;
}

static jv splitlines(jj_ctx *c, jv s, bool keepends)
{
    const char *p = s.u.str.s;
    size_t n = s.u.str.n, start = 0;
    jv out = jv_new_list(c, 0);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = jj_utf8_decode(p + i, n - i, &cp);
        bool brk = cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' || (cp >= 0x1C && cp <= 0x1E) ||
                   cp == 0x85 || cp == 0x2028 || cp == 0x2029;
        if (!brk) { i += k; continue; }
        size_t end = i;
        i += k;
        if (cp == '\r' && i < n && p[i] == '\n') i++;
        jv_list_push(c, out, jv_strn(p + start, (keepends ? i : end) - start));
        start = i;
    }
    if (start < n) jv_list_push(c, out, jv_strn(p + start, n - start));
    return out;
}

/* Code-point index of the first (or count of non-overlapping) occurrences. */
static jv find_count(jj_ctx *c, jv s, jv sub, bool count)
{
    jj_want_str(c, sub, count ? "count()" : "find()");
    jj_cost(c, s.u.str.n);
    const char *p = s.u.str.s;
    size_t n = s.u.str.n, sn = sub.u.str.n;
    if (count) {
        if (sn == 0) return jv_int((int64_t)jj_utf8_count(p, n) + 1);
        int64_t k = 0;
        for (size_t i = 0; sn <= n - i;) {
            const char *hit = memmem(p + i, n - i, sub.u.str.s, sn);
            if (!hit) break;
            k++;
            i = (size_t)(hit - p) + sn;
            if (i > n) break;
        }
        return jv_int(k);
    }
    const char *hit = sn <= n ? memmem(p, n, sub.u.str.s, sn) : NULL;
    if (sn == 0) return jv_int(0);
    return jv_int(hit ? (int64_t)jj_utf8_count(p, (size_t)(hit - p)) : -1);
}

static jv is_class(jv s, int which)
{
    if (s.u.str.n == 0) return jv_bool(false);
    bool any_cased = false;
    for (size_t i = 0; i < s.u.str.n;) {
        uint32_t cp;
        i += jj_utf8_decode(s.u.str.s + i, s.u.str.n - i, &cp);
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        bool letter = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        bool digit = cat == UTF8PROC_CATEGORY_ND;
        switch (which) {
        case 'd': if (!digit) return jv_bool(false); break;
        case 'a': if (!letter) return jv_bool(false); break;
        case 'n': if (!letter && !digit && cat != UTF8PROC_CATEGORY_NL && cat != UTF8PROC_CATEGORY_NO) return jv_bool(false); break;
        case 's': if (!jj_is_space(cp)) return jv_bool(false); break;
        case 'u':
            if (cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return jv_bool(false);
            if (cat == UTF8PROC_CATEGORY_LU) any_cased = true;
            break;
        case 'l':
            if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT) return jv_bool(false);
            if (cat == UTF8PROC_CATEGORY_LL) any_cased = true;
            break;
        }
    }
    return jv_bool((which == 'u' || which == 'l') ? any_cased : true);
}

/* ---- method table ---------------------------------------------------------------------------------- */
enum {
    M_UPPER, M_LOWER, M_STRIP, M_LSTRIP, M_RSTRIP, M_STARTSWITH, M_ENDSWITH, M_SPLIT, M_RSPLIT,
    M_SPLITLINES, M_REPLACE, M_TITLE, M_CAPITALIZE, M_FIND, M_COUNT, M_JOIN, M_ISDIGIT, M_ISALPHA,
    M_ISALNUM, M_ISSPACE, M_ISUPPER, M_ISLOWER,
    M_STR_END,
    M_GET = M_STR_END, M_ITEMS, M_KEYS, M_VALUES,
    M_END,
};

static const char *const method_names[M_END] = {
    "upper", "lower", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit",
    "splitlines", "replace", "title", "capitalize", "find", "count", "join", "isdigit", "isalpha",
    "isalnum", "isspace", "isupper", "islower",
    "get", "items", "keys", "values",
};

int jj_method_id(jv self, const char *name, size_t n)
{
    int lo, hi;
    if (self.t == JV_STR) { lo = 0; hi = M_STR_END; }
    else if (self.t == JV_DICT) { lo = M_GET; hi = M_END; }
    else return -1;
    for (int k = lo; k < hi; k++)
        if (strlen(method_names[k]) == n && memcmp(method_names[k], name, n) == 0) return k;
    return -1;
}

static jv dict_items(jj_ctx *c, jv d, int which)
{
    const jj_dict *x = d.u.dict;
    jv out = jv_new_list(c, x->n);
    for (size_t i = 0; i < x->n; i++) {
        if (which == M_KEYS) { jv_list_push(c, out, x->keys[i]); continue; }
        if (which == M_VALUES) { jv_list_push(c, out, x->vals[i]); continue; }
        jv pair = jv_new_list(c, 2);
        jv_list_push(c, pair, x->keys[i]);
        jv_list_push(c, pair, x->vals[i]);
        pair.tuple = true;
        jv_list_push(c, out, pair);
    }
    return out;
}

static int64_t int_arg(jj_ctx *c, jv v, int64_t dflt, const char *what)
{
    if (v.t == JV_UNDEF || v.t == JV_NONE) return dflt;
    if (v.t == JV_INT) return v.u.i;
    if (v.t == JV_BOOL) return v.u.b;
    jj_rfail(c, FG_ERR_FORMAT, "%s needs an integer, got a %s", what, jv_type_name(v));
}

jv jj_call_method(jj_ctx *c, int id, jv self, const jj_args *a)
{
    const char *name = method_names[id];
    static const char *const no_kw[] = { NULL };
    static const char *const split_kw[] = { "sep", "maxsplit", NULL };
    static const char *const count_kw[] = { "count", NULL };
    static const char *const get_kw[] = { "default", NULL };
    static const char *const lines_kw[] = { "keepends", NULL };
    if (self.t == JV_STR) jj_cost(c, self.u.str.n);
    switch (id) {
    case M_UPPER: case M_LOWER: case M_TITLE: case M_CAPITALIZE:
        jj_check_args(c, a, 0, name, no_kw);
        return jj_str_case(c, self, id == M_UPPER ? 'u' : id == M_LOWER ? 'l' : id == M_TITLE ? 't' : 'c');
    case M_STRIP: case M_LSTRIP: case M_RSTRIP:
        jj_check_args(c, a, 1, name, no_kw);
        return jj_str_strip(c, self, jj_arg(a, 0, NULL),
                            id == M_STRIP ? JJ_STRIP_BOTH : id == M_LSTRIP ? JJ_STRIP_LEFT : JJ_STRIP_RIGHT);
    case M_STARTSWITH: case M_ENDSWITH:
        jj_check_args(c, a, 1, name, no_kw);
        if (a->npos < 1) jj_rfail(c, FG_ERR_FORMAT, "%s() takes one argument", name);
        return starts_ends(c, self, a->pos[0], id == M_ENDSWITH);
    case M_SPLIT: case M_RSPLIT:
        jj_check_args(c, a, 2, name, split_kw);
        return split(c, self, jj_arg(a, 0, "sep"), int_arg(c, jj_arg(a, 1, "maxsplit"), -1, name), id == M_RSPLIT);
    case M_SPLITLINES:
        jj_check_args(c, a, 1, name, lines_kw);
        return splitlines(c, self, jv_truthy(jj_arg(a, 0, "keepends")));
    case M_REPLACE:
        jj_check_args(c, a, 3, name, count_kw);
        if (a->npos < 2) jj_rfail(c, FG_ERR_FORMAT, "replace() takes at least two arguments");
        return jj_str_replace(c, self, jj_want_str(c, a->pos[0], "replace()"), jj_want_str(c, a->pos[1], "replace()"),
                              int_arg(c, jj_arg(a, 2, "count"), -1, "replace()"));
    case M_FIND: case M_COUNT:
        jj_check_args(c, a, 1, name, no_kw);
        if (a->npos < 1) jj_rfail(c, FG_ERR_FORMAT, "%s() takes one argument", name);
        return find_count(c, self, a->pos[0], id == M_COUNT);
    case M_JOIN: {
        jj_check_args(c, a, 1, name, no_kw);
        jv items = jj_arg(a, 0, NULL);
        if (items.t != JV_LIST) jj_rfail(c, FG_ERR_FORMAT, "join() needs a list, got a %s", jv_type_name(items));
        jj_buf b = { 0 };
        for (size_t i = 0; i < items.u.list->n; i++) {
            if (i) jj_buf_put(c, &b, self.u.str.s, self.u.str.n);
            jv it = jj_want_str(c, items.u.list->v[i], "join()");
            jj_buf_put(c, &b, it.u.str.s, it.u.str.n);
        }
        return jv_strn(b.p ? b.p : "", b.n);
    }
    case M_ISDIGIT: case M_ISALPHA: case M_ISALNUM: case M_ISSPACE: case M_ISUPPER: case M_ISLOWER:
        jj_check_args(c, a, 0, name, no_kw);
        return is_class(self, id == M_ISDIGIT ? 'd' : id == M_ISALPHA ? 'a' : id == M_ISALNUM ? 'n'
                               : id == M_ISSPACE ? 's' : id == M_ISUPPER ? 'u' : 'l');
    case M_GET: {
        jj_check_args(c, a, 2, name, get_kw);
        jv key = jj_arg(a, 0, NULL);
        jv v = key.t == JV_STR ? jv_dict_get(self, key.u.str.s, key.u.str.n) : jv_undef();
        if (v.t != JV_UNDEF) return v;
        jv d = jj_arg(a, 1, "default");
        return d.t == JV_UNDEF ? jv_none() : d;
    }
    case M_ITEMS: case M_KEYS: case M_VALUES:
        jj_check_args(c, a, 0, name, no_kw);
        return dict_items(c, self, id);
    }
    jj_rfail(c, FG_ERR_INTERNAL, "bad method id %d", id);
}
