/* jinja evaluator: walks the AST, writing output into c->out.
 *
 * Scoping (as Jinja2): the caller's variables and top-level `set`s share the global
 * scope; each iteration of a for loop gets a fresh scope (a `set` in the body is seen
 * neither by the next iteration nor after the loop); a macro call gets a scope whose parent is the scope the macro was
 * defined in; `set ns.attr = v` mutates a namespace() object wherever it lives.
 *
 * Names resolve through the scopes, then the constants (true/false/none and the
 * capitalised forms), then the global functions (range, namespace, raise_exception,
 * strftime_now, dict); anything else is undefined, which prints as "" and is false.
 * Attribute access on undefined or none gives undefined (lenient, as @huggingface/jinja).
 *
 * Every statement and expression evaluated costs a step (the render stops past
 * max_steps); recursion is bounded by JJ_MAX_EVAL_DEPTH. */
#define _GNU_SOURCE 1   /* memmem */
#include "token/jinja-impl.h"

#include <math.h>
#include <string.h>

enum { FLOW_NORMAL = 0, FLOW_BREAK, FLOW_CONTINUE };

static jv eval(jj_ctx *c, jj_scope *s, const jj_node *n);
static int exec_body(jj_ctx *c, jj_scope *s, const jj_list *body);

static void enter(jj_ctx *c, const jj_node *n)
{
    c->line = n->line;
    if (++c->steps > c->max_steps)
        jj_rfail(c, FG_ERR_BUDGET, "render exceeded its budget of %llu steps", (unsigned long long)c->max_steps);
    if (++c->depth > JJ_MAX_EVAL_DEPTH)
        jj_rfail(c, FG_ERR_UNSUPPORTED, "evaluation nested deeper than %d levels", JJ_MAX_EVAL_DEPTH);
}

/* ---- scopes ------------------------------------------------------------------------------------ */
static jj_scope *scope_new(jj_ctx *c, jj_scope *parent)
{
    jj_scope *s = jj_alloc(c, sizeof *s);
    memset(s, 0, sizeof *s);
    s->parent = parent;
    return s;
}

void jj_scope_set(jj_ctx *c, jj_scope *s, const char *name, size_t n, jv v)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->lens[i] == n && memcmp(s->names[i], name, n) == 0) {
            s->vals[i] = v;
            return;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        const char **names = jj_alloc(c, cap * sizeof *names);
        size_t *lens = jj_alloc(c, cap * sizeof *lens);
        jv *vals = jj_alloc(c, cap * sizeof *vals);
        if (s->n) {
            memcpy(names, s->names, s->n * sizeof *names);
            memcpy(lens, s->lens, s->n * sizeof *lens);
            memcpy(vals, s->vals, s->n * sizeof *vals);
        }
        s->names = names;
        s->lens = lens;
        s->vals = vals;
        s->cap = cap;
    }
    s->names[s->n] = name;
    s->lens[s->n] = n;
    s->vals[s->n] = v;
    s->n++;
}

static bool scope_get(const jj_scope *s, const char *name, size_t n, jv *out)
{
    for (; s; s = s->parent)
        for (size_t i = s->n; i-- > 0;)
            if (s->lens[i] == n && memcmp(s->names[i], name, n) == 0) {
                *out = s->vals[i];
                return true;
            }
    return false;
}

static bool name_is(const jj_node *n, const char *s) { return n->n == strlen(s) && memcmp(n->s, s, n->n) == 0; }

static jv lookup(jj_ctx *c, jj_scope *s, const jj_node *n)
{
    jv v;
    if (scope_get(s, n->s, n->n, &v)) return v;
    if (name_is(n, "true") || name_is(n, "True")) return jv_bool(true);
    if (name_is(n, "false") || name_is(n, "False")) return jv_bool(false);
    if (name_is(n, "none") || name_is(n, "None")) return jv_none();
    int g = jj_global_id(n->s, n->n);
    if (g >= 0) return jv_func_new(c, JF_GLOBAL, g, jv_undef());
    return jv_undef();
}

/* ---- output capture ----------------------------------------------------------------------------- */
static jv capture(jj_ctx *c, jj_scope *s, const jj_list *body, int *flow)
{
    jj_buf buf = { 0 };
    jj_buf *saved = c->out;
    c->out = &buf;
    int f = exec_body(c, s, body);
    c->out = saved;
    if (flow) *flow = f;
    return jv_strn(buf.p ? buf.p : "", buf.n);
}

/* ---- arguments ------------------------------------------------------------------------------------ */
static void eval_args(jj_ctx *c, jj_scope *s, const jj_list *l, jj_args *a)
{
    memset(a, 0, sizeof *a);
    if (!l->n) return;
    a->pos = jj_alloc(c, l->n * sizeof(jv));
    a->kw = jj_alloc(c, l->n * sizeof(char *));
    a->kwlen = jj_alloc(c, l->n * sizeof(size_t));
    a->kwv = jj_alloc(c, l->n * sizeof(jv));
    for (size_t i = 0; i < l->n; i++) {
        const jj_node *x = l->v[i];
        if (x->kind == JN_KWARG) {
            for (size_t k = 0; k < a->nkw; k++)
                if (a->kwlen[k] == x->n && memcmp(a->kw[k], x->s, x->n) == 0)
                    jj_rfail(c, FG_ERR_FORMAT, "keyword argument '%.*s' given twice", (int)x->n, x->s);
            a->kw[a->nkw] = x->s;
            a->kwlen[a->nkw] = x->n;
            a->kwv[a->nkw++] = eval(c, s, x->a);
        } else {
            a->pos[a->npos++] = eval(c, s, x);
        }
    }
}

/* ---- macros -------------------------------------------------------------------------------------- */
static jv call_macro(jj_ctx *c, const jj_func *f, const jj_args *a, jv caller)
{
    const jj_node *m = f->macro;
    const jj_list *params = &m->args;
    jj_scope *s = scope_new(c, f->defscope);
    const char *what = m->kind == JN_MACRO ? "macro" : "caller";
    int name_len = m->kind == JN_MACRO ? (int)m->n : 6;
    const char *name = m->kind == JN_MACRO ? m->s : "caller";
    if (a->npos > params->n)
        jj_rfail(c, FG_ERR_FORMAT, "%s '%.*s' takes at most %zu arguments, got %zu", what, name_len, name,
                 params->n, a->npos);
    for (size_t k = 0; k < a->nkw; k++) {
        bool found = false;
        for (size_t i = 0; i < params->n; i++)
            if (params->v[i]->n == a->kwlen[k] && memcmp(params->v[i]->s, a->kw[k], a->kwlen[k]) == 0) {
                if (i < a->npos)
                    jj_rfail(c, FG_ERR_FORMAT, "%s '%.*s' got argument '%.*s' twice", what, name_len, name,
                             (int)a->kwlen[k], a->kw[k]);
                found = true;
            }
        if (!found)
            jj_rfail(c, FG_ERR_FORMAT, "%s '%.*s' has no parameter '%.*s'", what, name_len, name,
                     (int)a->kwlen[k], a->kw[k]);
    }
    /* bind everything first (undefined), then the defaults, which may use earlier ones */
    for (size_t i = 0; i < params->n; i++) jj_scope_set(c, s, params->v[i]->s, params->v[i]->n, jv_undef());
    if (caller.t == JV_FUNC) jj_scope_set(c, s, "caller", 6, caller);
    for (size_t i = 0; i < params->n; i++) {
        const jj_node *p = params->v[i];
        jv v = jv_undef();
        bool given = false;
        if (i < a->npos) { v = a->pos[i]; given = true; }
        for (size_t k = 0; !given && k < a->nkw; k++)
            if (a->kwlen[k] == p->n && memcmp(a->kw[k], p->s, p->n) == 0) { v = a->kwv[k]; given = true; }
        if (!given && p->kind == JN_KWARG) v = eval(c, s, p->a);
        jj_scope_set(c, s, p->s, p->n, v);
    }
    int flow;
    jv out = capture(c, s, &m->body, &flow);
    if (flow != FLOW_NORMAL) jj_rfail(c, FG_ERR_FORMAT, "'break' or 'continue' outside a loop");
    return out;
}

static jv loop_field(jj_ctx *c, jv lv, const char *k, size_t n);

jv jj_call_value(jj_ctx *c, jv fn, const jj_args *a)
{
    if (fn.t != JV_FUNC) jj_rfail(c, FG_ERR_FORMAT, "a %s is not callable", jv_type_name(fn));
    const jj_func *f = fn.u.fn;
    switch (f->kind) {
    case JF_GLOBAL: return jj_call_global(c, f->id, a);
    case JF_METHOD: return jj_call_method(c, f->id, f->self, a);
    case JF_MACRO: return call_macro(c, f, a, jv_undef());
    case JF_LOOP_CYCLE: {
        if (a->npos == 0) jj_rfail(c, FG_ERR_FORMAT, "loop.cycle() needs at least one argument");
        const jj_loop *l = f->self.u.loop;
        return a->pos[l->i % a->npos];
    }
    }
    jj_rfail(c, FG_ERR_INTERNAL, "bad callable");
}

/* ---- member access ------------------------------------------------------------------------------------ */
static jv loop_field(jj_ctx *c, jv lv, const char *k, size_t n)
{
    const jj_loop *l = lv.u.loop;
#define IS(s) (n == sizeof(s) - 1 && memcmp(k, s, n) == 0)
    if (IS("index")) return jv_int((int64_t)l->i + 1);
    if (IS("index0")) return jv_int((int64_t)l->i);
    if (IS("revindex")) return jv_int((int64_t)(l->n - l->i));
    if (IS("revindex0")) return jv_int((int64_t)(l->n - l->i - 1));
    if (IS("first")) return jv_bool(l->i == 0);
    if (IS("last")) return jv_bool(l->i + 1 == l->n);
    if (IS("length")) return jv_int((int64_t)l->n);
    if (IS("previtem")) return l->i > 0 ? l->items[l->i - 1] : jv_undef();
    if (IS("nextitem")) return l->i + 1 < l->n ? l->items[l->i + 1] : jv_undef();
    if (IS("depth")) return jv_int(1);
    if (IS("depth0")) return jv_int(0);
    if (IS("cycle")) return jv_func_new(c, JF_LOOP_CYCLE, 0, lv);
#undef IS
    return jv_undef();
}

static jv get_attr(jj_ctx *c, jv obj, const char *k, size_t n)
{
    switch (obj.t) {
    case JV_DICT: case JV_NS: {
        jv v = jv_dict_get(obj, k, n);
        if (v.t != JV_UNDEF || obj.t == JV_NS) return v;
        break;
    }
    case JV_LOOP: return loop_field(c, obj, k, n);
    default: break;
    }
    int m = jj_method_id(obj, k, n);
    if (m >= 0) return jv_func_new(c, JF_METHOD, m, obj);
    return jv_undef();
}

static bool as_index(jv key, int64_t *i)
{
    if (key.t == JV_INT) { *i = key.u.i; return true; }
    if (key.t == JV_BOOL) { *i = key.u.b; return true; }
    return false;
}

/* Byte offset of the idx-th code point of s (idx < count). */
static size_t utf8_offset(const char *s, size_t n, size_t idx)
{
    size_t off = 0;
    for (size_t k = 0; k < idx && off < n; k++) {
        uint32_t cp;
        off += jj_utf8_decode(s + off, n - off, &cp);
    }
    return off;
}

static jv get_item(jj_ctx *c, jv obj, jv key)
{
    int64_t i;
    switch (obj.t) {
    case JV_DICT: case JV_NS:
        if (key.t == JV_STR) return jv_dict_get(obj, key.u.str.s, key.u.str.n);
        return jv_undef();
    case JV_LIST:
        if (as_index(key, &i)) {
            int64_t n = (int64_t)obj.u.list->n;
            if (i < 0) i += n;
            return (i >= 0 && i < n) ? obj.u.list->v[i] : jv_undef();
        }
        break;
    case JV_STR:
        if (as_index(key, &i)) {
            int64_t n = (int64_t)jj_utf8_count(obj.u.str.s, obj.u.str.n);
            if (i < 0) i += n;
            if (i < 0 || i >= n) return jv_undef();
            size_t off = utf8_offset(obj.u.str.s, obj.u.str.n, (size_t)i);
            uint32_t cp;
            size_t len = jj_utf8_decode(obj.u.str.s + off, obj.u.str.n - off, &cp);
            return jv_strn(obj.u.str.s + off, len);
        }
        break;
    default:
        break;
    }
    if (key.t == JV_STR) return get_attr(c, obj, key.u.str.s, key.u.str.n);
    return jv_undef();
}

/* Python slice semantics on n items: fills the selected indices' count and bounds. */
static void slice_bounds(jj_ctx *c, int64_t n, jv start, jv stop, jv step, int64_t *b, int64_t *e, int64_t *st)
{
    int64_t k = 1;
    if (step.t != JV_UNDEF && step.t != JV_NONE) {
        if (!as_index(step, &k)) jj_rfail(c, FG_ERR_FORMAT, "slice step must be an integer");
        if (k == 0) jj_rfail(c, FG_ERR_FORMAT, "slice step cannot be zero");
    }
    int64_t lo, hi;
    if (k > 0) { lo = 0; hi = n; } else { lo = -1; hi = n - 1; }
    int64_t x;
    if (start.t == JV_UNDEF || start.t == JV_NONE) x = k > 0 ? lo : hi;
    else {
        if (!as_index(start, &x)) jj_rfail(c, FG_ERR_FORMAT, "slice indices must be integers");
        if (x < 0) { x += n; if (x < lo) x = lo; } else if (x > hi) x = hi;
    }
    *b = x;
    if (stop.t == JV_UNDEF || stop.t == JV_NONE) x = k > 0 ? hi : lo;
    else {
        if (!as_index(stop, &x)) jj_rfail(c, FG_ERR_FORMAT, "slice indices must be integers");
        if (x < 0) { x += n; if (x < lo) x = lo; } else if (x > hi) x = hi;
    }
    *e = x;
    *st = k;
}

static jv do_slice(jj_ctx *c, jv obj, jv start, jv stop, jv step)
{
    int64_t b, e, k;
    if (obj.t == JV_LIST) {
        slice_bounds(c, (int64_t)obj.u.list->n, start, stop, step, &b, &e, &k);
        jv out = jv_new_list(c, 0);
        for (int64_t i = b; k > 0 ? i < e : i > e; i += k) jv_list_push(c, out, obj.u.list->v[i]);
        out.tuple = obj.tuple;
        return out;
    }
    if (obj.t == JV_STR) {
        /* index the code points once */
        const char *s = obj.u.str.s;
        size_t n = obj.u.str.n, count = jj_utf8_count(s, n);
        size_t *off = jj_alloc(c, (count + 1) * sizeof *off);
        size_t pos = 0;
        for (size_t i = 0; i < count; i++) {
            off[i] = pos;
            uint32_t cp;
            pos += jj_utf8_decode(s + pos, n - pos, &cp);
        }
        off[count] = n;
        slice_bounds(c, (int64_t)count, start, stop, step, &b, &e, &k);
        if (k == 1) return b < e ? jv_strn(s + off[b], off[e] - off[b]) : jv_strn("", 0);
        jj_buf buf = { 0 };
        for (int64_t i = b; k > 0 ? i < e : i > e; i += k)
            jj_buf_put(c, &buf, s + off[i], off[i + 1] - off[i]);
        return jv_strn(buf.p ? buf.p : "", buf.n);
    }
    if (obj.t == JV_UNDEF) return jv_undef();
    jj_rfail(c, FG_ERR_FORMAT, "cannot slice a %s", jv_type_name(obj));
}

/* ---- operators ------------------------------------------------------------------------------------------ */
static const char *op_name(int op)
{
    switch (op) {
    case JOP_POW: return "**";
    case JOP_FLOORDIV: return "//";
    case '+': return "+";
    case '-': return "-";
    case '*': return "*";
    case '/': return "/";
    case '%': return "%";
    default: return "?";
    }
}

static _Noreturn void bad_operands(jj_ctx *c, int op, jv a, jv b)
{
    jj_rfail(c, FG_ERR_FORMAT, "unsupported operand types for %s: %s and %s", op_name(op), jv_type_name(a),
             jv_type_name(b));
}

static jv repeat(jj_ctx *c, jv seq, int64_t times)
{
    if (times < 0) times = 0;
    if (seq.t == JV_STR) {
        if (seq.u.str.n && (uint64_t)times > (c->arena.limit ? c->arena.limit : SIZE_MAX) / seq.u.str.n)
            jj_rfail(c, FG_ERR_BUDGET, "string repetition too large");
        jj_buf b = { 0 };
        for (int64_t i = 0; i < times; i++) jj_buf_put(c, &b, seq.u.str.s, seq.u.str.n);
        return jv_strn(b.p ? b.p : "", b.n);
    }
    if (seq.u.list->n && (uint64_t)times > (c->arena.limit ? c->arena.limit : SIZE_MAX) / (seq.u.list->n * sizeof(jv)))
        jj_rfail(c, FG_ERR_BUDGET, "list repetition too large");
    jv out = jv_new_list(c, 0);
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < seq.u.list->n; k++) jv_list_push(c, out, seq.u.list->v[k]);
    return out;
}

static jv arith(jj_ctx *c, int op, jv a, jv b)
{
    int64_t r;
    if (op == '+') {
        if (a.t == JV_STR && b.t == JV_STR) {
            if (!a.u.str.n) return b;
            if (!b.u.str.n) return a;
            char *p = jj_alloc(c, a.u.str.n + b.u.str.n);
            memcpy(p, a.u.str.s, a.u.str.n);
            memcpy(p + a.u.str.n, b.u.str.s, b.u.str.n);
            return jv_strn(p, a.u.str.n + b.u.str.n);
        }
        if (a.t == JV_LIST && b.t == JV_LIST) {
            jv out = jv_new_list(c, a.u.list->n + b.u.list->n);
            for (size_t i = 0; i < a.u.list->n; i++) jv_list_push(c, out, a.u.list->v[i]);
            for (size_t i = 0; i < b.u.list->n; i++) jv_list_push(c, out, b.u.list->v[i]);
            return out;
        }
    }
    if (op == '*') {
        if ((a.t == JV_STR || a.t == JV_LIST) && (b.t == JV_INT || b.t == JV_BOOL)) return repeat(c, a, b.t == JV_INT ? b.u.i : b.u.b);
        if ((b.t == JV_STR || b.t == JV_LIST) && (a.t == JV_INT || a.t == JV_BOOL)) return repeat(c, b, a.t == JV_INT ? a.u.i : a.u.b);
    }
    if (op == '%' && a.t == JV_STR)
        jj_rfail(c, FG_ERR_UNSUPPORTED, "unsupported string formatting with '%%'");
    if (!jv_is_number(a) || !jv_is_number(b)) bad_operands(c, op, a, b);
    bool ints = a.t != JV_FLOAT && b.t != JV_FLOAT;
    int64_t x = a.t == JV_INT ? a.u.i : a.t == JV_BOOL ? (int64_t)a.u.b : 0;
    int64_t y = b.t == JV_INT ? b.u.i : b.t == JV_BOOL ? (int64_t)b.u.b : 0;
    double fx = jv_num(a), fy = jv_num(b);
    switch (op) {
    case '+':
        if (!ints) return jv_float(fx + fy);
        if (__builtin_add_overflow(x, y, &r)) break;
        return jv_int(r);
    case '-':
        if (!ints) return jv_float(fx - fy);
        if (__builtin_sub_overflow(x, y, &r)) break;
        return jv_int(r);
    case '*':
        if (!ints) return jv_float(fx * fy);
        if (__builtin_mul_overflow(x, y, &r)) break;
        return jv_int(r);
    case '/':
        if (fy == 0.0) jj_rfail(c, FG_ERR_FORMAT, "division by zero");
        return jv_float(fx / fy);
    case JOP_FLOORDIV:
    case '%':
        if (ints) {
            if (y == 0) jj_rfail(c, FG_ERR_FORMAT, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) break;
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) { q--; m += y; }   /* floor, as Python */
            return jv_int(op == '%' ? m : q);
        } else {
            if (fy == 0.0) jj_rfail(c, FG_ERR_FORMAT, "float division or modulo by zero");
            double q = floor(fx / fy), m = fx - q * fy;
            return jv_float(op == '%' ? m : q);
        }
    case JOP_POW:
        if (ints && y >= 0) {
            int64_t acc = 1, base = x;
            for (int64_t e = y; e > 0; e >>= 1) {
                if ((e & 1) && __builtin_mul_overflow(acc, base, &acc)) goto overflow;
                if (e > 1 && __builtin_mul_overflow(base, base, &base)) goto overflow;
            }
            return jv_int(acc);
        }
        if (fx == 0.0 && fy < 0) jj_rfail(c, FG_ERR_FORMAT, "0.0 cannot be raised to a negative power");
        return jv_float(pow(fx, fy));
    }
overflow:
    jj_rfail(c, FG_ERR_UNSUPPORTED, "integer overflow in '%s'", op_name(op));
}

static bool contains(jj_ctx *c, jv item, jv seq)
{
    switch (seq.t) {
    case JV_STR:
        if (item.t != JV_STR)
            jj_rfail(c, FG_ERR_FORMAT, "'in <string>' requires a string on the left, not a %s", jv_type_name(item));
        if (item.u.str.n == 0) return true;
        if (item.u.str.n > seq.u.str.n) return false;
        jj_cost(c, seq.u.str.n);
        return memmem(seq.u.str.s, seq.u.str.n, item.u.str.s, item.u.str.n) != NULL;
    case JV_LIST:
        jj_cost(c, seq.u.list->n * 64);
        for (size_t i = 0; i < seq.u.list->n; i++)
            if (jv_equal(c, item, seq.u.list->v[i], 0)) return true;
        return false;
    case JV_DICT: case JV_NS:
        jj_cost(c, seq.u.dict->n * 64);
        return item.t == JV_STR && jv_dict_get(seq, item.u.str.s, item.u.str.n).t != JV_UNDEF;
    case JV_UNDEF:
        return false;
    default:
        jj_rfail(c, FG_ERR_FORMAT, "'in' needs a string, list or dict on the right, not a %s", jv_type_name(seq));
    }
}

static jv binop(jj_ctx *c, jj_scope *s, const jj_node *n)
{
    jv a = eval(c, s, n->a);
    jv b = eval(c, s, n->b);
    c->line = n->line;
    switch (n->op) {
    case JOP_EQ: return jv_bool(jv_equal(c, a, b, 0));
    case JOP_NE: return jv_bool(!jv_equal(c, a, b, 0));
    case '<': return jv_bool(jv_compare(c, a, b, true) < 0);
    case '>': return jv_bool(jv_compare(c, a, b, true) > 0);
    case JOP_LE: return jv_bool(jv_compare(c, a, b, true) <= 0);
    case JOP_GE: return jv_bool(jv_compare(c, a, b, true) >= 0);
    case 'i': return jv_bool(contains(c, a, b));
    case 'n': return jv_bool(!contains(c, a, b));
    case '~': {
        jj_buf buf = { 0 };
        jv_write_str(c, &buf, a);
        jv_write_str(c, &buf, b);
        return jv_strn(buf.p ? buf.p : "", buf.n);
    }
    default:
        return arith(c, n->op, a, b);
    }
}

/* ---- calls, filters, tests ------------------------------------------------------------------------------ */
static jv eval_call(jj_ctx *c, jj_scope *s, const jj_node *n)
{
    const jj_node *callee = n->a;
    jv fn;
    if (callee->kind == JN_NAME) {
        fn = lookup(c, s, callee);
        if (fn.t == JV_UNDEF)
            jj_rfail(c, FG_ERR_UNSUPPORTED, "unknown function '%.*s'", (int)(callee->n > 40 ? 40 : callee->n), callee->s);
    } else if (callee->kind == JN_ATTR) {
        jv obj = eval(c, s, callee->a);
        fn = get_attr(c, obj, callee->s, callee->n);
        if (fn.t == JV_UNDEF) {
            c->line = n->line;
            jj_rfail(c, FG_ERR_UNSUPPORTED, "unsupported method '%.*s' on a %s", (int)(callee->n > 40 ? 40 : callee->n),
                     callee->s, jv_type_name(obj));
        }
    } else {
        fn = eval(c, s, callee);
    }
    jj_args a;
    eval_args(c, s, &n->args, &a);
    c->line = n->line;
    return jj_call_value(c, fn, &a);
}

/* A filter chain node whose innermost operand is NULL takes `body` (filter blocks). */
static jv eval_filter(jj_ctx *c, jj_scope *s, const jj_node *n, jv body)
{
    jv operand = n->a ? (n->a->kind == JN_FILTER ? eval_filter(c, s, n->a, body) : eval(c, s, n->a)) : body;
    jj_args a;
    eval_args(c, s, &n->args, &a);
    c->line = n->line;
    return jj_apply_filter(c, n->id, operand, &a);
}

/* ---- expressions -------------------------------------------------------------------------------------- */
static jv eval(jj_ctx *c, jj_scope *s, const jj_node *n)
{
    enter(c, n);
    jv v;
    switch (n->kind) {
    case JN_STR: v = jv_strn(n->s, n->n); break;
    case JN_INT: v = jv_int(n->i); break;
    case JN_FLOAT: v = jv_float(n->f); break;
    case JN_NAME: v = lookup(c, s, n); break;
    case JN_LIST: case JN_TUPLE:
        v = jv_new_list(c, n->args.n);
        for (size_t i = 0; i < n->args.n; i++) jv_list_push(c, v, eval(c, s, n->args.v[i]));
        v.tuple = n->kind == JN_TUPLE;
        break;
    case JN_DICT:
        v = jv_new_dict(c, n->args.n);
        for (size_t i = 0; i < n->args.n; i++) {
            jv k = eval(c, s, n->args.v[i]);
            if (k.t != JV_STR) jj_rfail(c, FG_ERR_UNSUPPORTED, "dict keys must be strings, not %s", jv_type_name(k));
            jv_dict_set(c, v, k.u.str.s, k.u.str.n, eval(c, s, n->alt.v[i]));
        }
        break;
    case JN_BINOP: v = binop(c, s, n); break;
    case JN_AND: v = eval(c, s, n->a); if (jv_truthy(v)) v = eval(c, s, n->b); break;
    case JN_OR: v = eval(c, s, n->a); if (!jv_truthy(v)) v = eval(c, s, n->b); break;
    case JN_NOT: v = jv_bool(!jv_truthy(eval(c, s, n->a))); break;
    case JN_NEG: case JN_POS:
        v = eval(c, s, n->a);
        c->line = n->line;
        if (!jv_is_number(v)) jj_rfail(c, FG_ERR_FORMAT, "bad operand type for unary %c: %s", n->kind == JN_NEG ? '-' : '+', jv_type_name(v));
        if (v.t == JV_BOOL) v = jv_int(v.u.b);
        if (n->kind == JN_NEG) {
            if (v.t == JV_FLOAT) v.u.f = -v.u.f;
            else if (v.u.i == INT64_MIN) jj_rfail(c, FG_ERR_UNSUPPORTED, "integer overflow in unary -");
            else v.u.i = -v.u.i;
        }
        break;
    case JN_TERNARY:
        if (jv_truthy(eval(c, s, n->a))) v = eval(c, s, n->b);
        else v = n->c ? eval(c, s, n->c) : jv_undef();
        break;
    case JN_ATTR: v = get_attr(c, eval(c, s, n->a), n->s, n->n); break;
    case JN_INDEX: {
        jv obj = eval(c, s, n->a);
        v = get_item(c, obj, eval(c, s, n->b));
        break;
    }
    case JN_SLICE: {
        jv obj = eval(c, s, n->a);
        jv b = n->b ? eval(c, s, n->b) : jv_undef(), e = n->c ? eval(c, s, n->c) : jv_undef();
        jv st = n->d ? eval(c, s, n->d) : jv_undef();
        c->line = n->line;
        v = do_slice(c, obj, b, e, st);
        break;
    }
    case JN_CALL: v = eval_call(c, s, n); break;
    case JN_FILTER: v = eval_filter(c, s, n, jv_undef()); break;
    case JN_TEST: {
        jv operand = eval(c, s, n->a);
        jj_args a;
        eval_args(c, s, &n->args, &a);
        c->line = n->line;
        bool r = jj_apply_test(c, n->id, operand, &a);
        v = jv_bool(n->flag ? !r : r);
        break;
    }
    default:
        jj_rfail(c, FG_ERR_INTERNAL, "unexpected node %d in an expression", (int)n->kind);
    }
    c->depth--;
    return v;
}

/* ---- statements ------------------------------------------------------------------------------------------ */
static void assign(jj_ctx *c, jj_scope *s, const jj_node *target, jv v)
{
    if (target->kind == JN_NAME) {
        jj_scope_set(c, s, target->s, target->n, v);
        return;
    }
    if (target->kind == JN_ATTR) {
        jv ns = eval(c, s, target->a);
        c->line = target->line;
        if (ns.t != JV_NS) jj_rfail(c, FG_ERR_FORMAT, "cannot assign an attribute of a %s (only of a namespace())", jv_type_name(ns));
        jv_dict_set(c, ns, target->s, target->n, v);
        return;
    }
    /* tuple unpacking */
    const jj_list *names = &target->args;
    if (v.t != JV_LIST)
        jj_rfail(c, FG_ERR_FORMAT, "cannot unpack a %s into %zu names", jv_type_name(v), names->n);
    if (v.u.list->n != names->n)
        jj_rfail(c, FG_ERR_FORMAT, "cannot unpack %zu values into %zu names", v.u.list->n, names->n);
    for (size_t i = 0; i < names->n; i++) jj_scope_set(c, s, names->v[i]->s, names->v[i]->n, v.u.list->v[i]);
}

static jv iterable_items(jj_ctx *c, jv it)
{
    switch (it.t) {
    case JV_LIST: return it;
    case JV_DICT: {
        jv keys = jv_new_list(c, it.u.dict->n);
        for (size_t i = 0; i < it.u.dict->n; i++) jv_list_push(c, keys, it.u.dict->keys[i]);
        return keys;
    }
    case JV_STR: {
        jv chars = jv_new_list(c, 0);
        for (size_t i = 0; i < it.u.str.n;) {
            uint32_t cp;
            size_t k = jj_utf8_decode(it.u.str.s + i, it.u.str.n - i, &cp);
            jv_list_push(c, chars, jv_strn(it.u.str.s + i, k));
            i += k;
        }
        return chars;
    }
    case JV_UNDEF: return jv_new_list(c, 0);
    default: jj_rfail(c, FG_ERR_FORMAT, "a %s is not iterable", jv_type_name(it));
    }
}

static int exec_for(jj_ctx *c, jj_scope *s, const jj_node *n)
{
    jj_scope *ls = scope_new(c, s);
    jv all = iterable_items(c, eval(c, ls, n->b));
    jv items = all;
    if (n->c) {   /* for x in xs if cond: filter first, so loop.length counts what is kept */
        items = jv_new_list(c, 0);
        for (size_t i = 0; i < all.u.list->n; i++) {
            assign(c, ls, n->a, all.u.list->v[i]);
            if (jv_truthy(eval(c, ls, n->c))) jv_list_push(c, items, all.u.list->v[i]);
        }
    }
    jj_loop *loop = jj_alloc(c, sizeof *loop);
    loop->items = items.u.list->v;
    loop->n = items.u.list->n;
    jv lv = { .t = JV_LOOP, .u.loop = loop };
    /* Each iteration starts from the enclosing values: a `set` in the body lasts until
     * the end of its iteration (Jinja2). The iteration scope's storage is reused. */
    jj_scope *it = scope_new(c, ls);
    for (size_t i = 0; i < loop->n; i++) {
        enter(c, n);
        c->depth--;
        loop->i = i;
        it->n = 0;
        jj_scope_set(c, it, "loop", 4, lv);
        assign(c, it, n->a, loop->items[i]);
        int flow = exec_body(c, it, &n->body);
        if (flow == FLOW_BREAK) break;
    }
    if (loop->n == 0 && n->alt.n) return exec_body(c, s, &n->alt);
    return FLOW_NORMAL;
}

static int exec_stmt(jj_ctx *c, jj_scope *s, const jj_node *n)
{
    enter(c, n);
    int flow = FLOW_NORMAL;
    switch (n->kind) {
    case JN_TEXT: jj_buf_put(c, c->out, n->s, n->n); break;
    case JN_OUTPUT: {
        jv v = eval(c, s, n->a);
        jv_write_str(c, c->out, v);
        break;
    }
    case JN_IF:
        flow = exec_body(c, s, jv_truthy(eval(c, s, n->a)) ? &n->body : &n->alt);
        break;
    case JN_FOR: flow = exec_for(c, s, n); break;
    case JN_SET: {
        jv v;
        if (n->b) v = eval(c, s, n->b);
        else {
            int f;
            v = capture(c, s, &n->body, &f);
            if (f != FLOW_NORMAL) jj_rfail(c, FG_ERR_FORMAT, "'break' or 'continue' inside a set block");
            if (n->c) v = eval_filter(c, s, n->c, v);
        }
        assign(c, s, n->a, v);
        break;
    }
    case JN_MACRO: {
        jv f = jv_func_new(c, JF_MACRO, 0, jv_undef());
        f.u.fn->macro = n;
        f.u.fn->defscope = s;
        jj_scope_set(c, s, n->s, n->n, f);
        break;
    }
    case JN_CALLBLOCK: {
        const jj_node *call = n->a;
        jv fn = call->a->kind == JN_NAME ? lookup(c, s, call->a) : eval(c, s, call->a);
        if (fn.t != JV_FUNC || fn.u.fn->kind != JF_MACRO)
            jj_rfail(c, FG_ERR_FORMAT, "'{%% call %%}' needs a macro");
        jj_args a;
        eval_args(c, s, &call->args, &a);
        jv caller = jv_func_new(c, JF_MACRO, 0, jv_undef());
        caller.u.fn->macro = n;
        caller.u.fn->defscope = s;
        c->line = n->line;
        jv out = call_macro(c, fn.u.fn, &a, caller);
        jj_buf_put(c, c->out, out.u.str.s, out.u.str.n);
        break;
    }
    case JN_FILTERBLOCK: {
        int f;
        jv body = capture(c, s, &n->body, &f);
        flow = f;
        jv v = eval_filter(c, s, n->a, body);
        jv_write_str(c, c->out, v);
        break;
    }
    case JN_BREAK: flow = FLOW_BREAK; break;
    case JN_CONTINUE: flow = FLOW_CONTINUE; break;
    default:
        jj_rfail(c, FG_ERR_INTERNAL, "unexpected node %d in a statement", (int)n->kind);
    }
    c->depth--;
    return flow;
}

static int exec_body(jj_ctx *c, jj_scope *s, const jj_list *body)
{
    for (size_t i = 0; i < body->n; i++) {
        int flow = exec_stmt(c, s, body->v[i]);
        if (flow != FLOW_NORMAL) return flow;
    }
    return FLOW_NORMAL;
}

void jj_render(jj_ctx *c, const jj_list *program, jj_scope *globals)
{
    if (exec_body(c, globals, program) != FLOW_NORMAL)
        jj_rfail(c, FG_ERR_FORMAT, "'break' or 'continue' outside a loop");
}
