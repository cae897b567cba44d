/* jinja parser: tokens -> AST (recursive descent; nesting bounded by JJ_MAX_PARSE_DEPTH).
 *
 * Statements: if/elif/else, for (tuple targets, `if` filter, else), set (=, tuple
 * targets, ns.attr, block set), macro, call, filter blocks, break, continue, and
 * generation/endgeneration (SmolLM3-style markers, no output of their own).
 *
 * Expression precedence, loosest first (as Jinja2 and @huggingface/jinja):
 *   a if c else b | or | and | not | in, not in, == != < <= > >= | + - ~ | * / // % |
 *   ** | is [not] test | filter `|` | unary - + | postfix . [] () | primary
 * Unknown filters and tests are refused here, when the template is compiled, as Jinja2
 * does. */
#include "token/jinja-impl.h"

#include <stdio.h>
#include <string.h>

typedef struct parser {
    const jj_tok *t;
    size_t i;
    jj_arena *a;
    jj_err *e;
    int depth;
} parser;

typedef struct nvec { jj_node **v; size_t n, cap; } nvec;

static _Noreturn void nomem(parser *P)
{
    jj_fail(P->e, FG_ERR_NOMEM, 0, "out of memory while compiling the template");
}

static void push(parser *P, nvec *v, jj_node *n)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        jj_node **p = jj_arena_alloc(P->a, cap * sizeof *p);
        if (!p) nomem(P);
        if (v->n) memcpy(p, v->v, v->n * sizeof *p);
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = n;
}

static jj_list done(nvec v)
{
    jj_list l = { v.v, v.n };
    return l;
}

static jj_node *node(parser *P, jj_node_kind kind, int line)
{
    jj_node *n = jj_arena_alloc(P->a, sizeof *n);
    if (!n) nomem(P);
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = line;
    return n;
}

static const jj_tok *peek(parser *P) { return &P->t[P->i]; }
static const jj_tok *peek2(parser *P) { return P->t[P->i].kind == JT_EOF ? &P->t[P->i] : &P->t[P->i + 1]; }
static const jj_tok *next(parser *P)
{
    const jj_tok *t = &P->t[P->i];
    if (t->kind != JT_EOF) P->i++;
    return t;
}

static bool tok_is_name(const jj_tok *t, const char *name)
{
    return t->kind == JT_NAME && t->n == strlen(name) && memcmp(t->s, name, t->n) == 0;
}
static bool is_name(parser *P, const char *name) { return tok_is_name(peek(P), name); }
static bool is_op(parser *P, int op) { return peek(P)->kind == JT_OP && peek(P)->op == op; }

static const char *tok_desc(const jj_tok *t, char *buf, size_t cap)
{
    switch (t->kind) {
    case JT_EOF: return "end of template";
    case JT_TEXT: return "text";
    case JT_BLOCK_BEGIN: return "'{%'";
    case JT_BLOCK_END: return "'%}'";
    case JT_VAR_BEGIN: return "'{{'";
    case JT_VAR_END: return "'}}'";
    case JT_NAME: snprintf(buf, cap, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->s); return buf;
    case JT_STRING: return "a string";
    case JT_INT: case JT_FLOAT: return "a number";
    case JT_OP:
        switch (t->op) {
        case JOP_POW: return "'**'";
        case JOP_FLOORDIV: return "'//'";
        case JOP_EQ: return "'=='";
        case JOP_NE: return "'!='";
        case JOP_LE: return "'<='";
        case JOP_GE: return "'>='";
        default: snprintf(buf, cap, "'%c'", (char)t->op); return buf;
        }
    }
    return "?";
}

static _Noreturn void unexpected(parser *P, const char *expected)
{
    char buf[64];
    const jj_tok *t = peek(P);
    jj_fail(P->e, FG_ERR_FORMAT, t->line, "expected %s, got %s", expected, tok_desc(t, buf, sizeof buf));
}

static void expect_op(parser *P, int op, const char *what)
{
    if (!is_op(P, op)) unexpected(P, what);
    next(P);
}

static const jj_tok *expect_name(parser *P, const char *what)
{
    if (peek(P)->kind != JT_NAME) unexpected(P, what);
    return next(P);
}

static void expect_block_end(parser *P)
{
    if (peek(P)->kind != JT_BLOCK_END) unexpected(P, "'%}'");
    next(P);
}

static void enter(parser *P)
{
    if (++P->depth > JJ_MAX_PARSE_DEPTH)
        jj_fail(P->e, FG_ERR_UNSUPPORTED, peek(P)->line, "nesting deeper than %d levels", JJ_MAX_PARSE_DEPTH);
}
static void leave(parser *P) { P->depth--; }

/* ---- expressions ---------------------------------------------------------------------------------- */
static jj_node *parse_expr(parser *P);
static jj_node *parse_or(parser *P);
static jj_node *parse_unary(parser *P);

static bool is_keyword(const jj_tok *t)
{
    static const char *const kw[] = { "and", "or", "not", "in", "is", "if", "else", "for", "recursive" };
    for (size_t k = 0; k < sizeof kw / sizeof kw[0]; k++)
        if (tok_is_name(t, kw[k])) return true;
    return false;
}

/* '(' args ')' : positional then name=value */
static jj_list parse_args(parser *P)
{
    nvec v = { 0 };
    bool kw_seen = false;
    expect_op(P, '(', "'('");
    while (!is_op(P, ')')) {
        if (is_op(P, '*') || is_op(P, JOP_POW))
            jj_fail(P->e, FG_ERR_UNSUPPORTED, peek(P)->line, "unsupported argument unpacking ('*' / '**')");
        if (peek(P)->kind == JT_NAME && peek2(P)->kind == JT_OP && peek2(P)->op == '=') {
            const jj_tok *name = next(P);
            next(P);
            jj_node *kw = node(P, JN_KWARG, name->line);
            kw->s = name->s;
            kw->n = name->n;
            kw->a = parse_expr(P);
            push(P, &v, kw);
            kw_seen = true;
        } else {
            if (kw_seen)
                jj_fail(P->e, FG_ERR_FORMAT, peek(P)->line, "positional argument after a keyword argument");
            push(P, &v, parse_expr(P));
        }
        if (!is_op(P, ',')) break;
        next(P);
    }
    expect_op(P, ')', "',' or ')'");
    return done(v);
}

static jj_node *parse_primary(parser *P)
{
    const jj_tok *t = peek(P);
    jj_node *n;
    switch (t->kind) {
    case JT_STRING: {
        next(P);
        n = node(P, JN_STR, t->line);
        if (peek(P)->kind != JT_STRING) {
            n->s = t->s;
            n->n = t->n;
            return n;
        }
        /* adjacent literals concatenate: 'a' "b" */
        size_t total = t->n;
        for (size_t k = P->i; P->t[k].kind == JT_STRING; k++) total += P->t[k].n;
        char *s = jj_arena_alloc(P->a, total + 1);
        if (!s) nomem(P);
        memcpy(s, t->s, t->n);
        size_t len = t->n;
        while (peek(P)->kind == JT_STRING) {
            const jj_tok *u = next(P);
            memcpy(s + len, u->s, u->n);
            len += u->n;
        }
        n->s = s;
        n->n = len;
        return n;
    }
    case JT_INT:
        next(P);
        n = node(P, JN_INT, t->line);
        n->i = t->i;
        return n;
    case JT_FLOAT:
        next(P);
        n = node(P, JN_FLOAT, t->line);
        n->f = t->f;
        return n;
    case JT_NAME:
        if (is_keyword(t)) break;
        next(P);
        n = node(P, JN_NAME, t->line);
        n->s = t->s;
        n->n = t->n;
        return n;
    case JT_OP:
        if (t->op == '(') {
            next(P);
            if (is_op(P, ')')) {
                next(P);
                n = node(P, JN_TUPLE, t->line);
                return n;
            }
            jj_node *first = parse_expr(P);
            if (!is_op(P, ',')) {
                expect_op(P, ')', "')'");
                return first;
            }
            nvec v = { 0 };
            push(P, &v, first);
            while (is_op(P, ',')) {
                next(P);
                if (is_op(P, ')')) break;
                push(P, &v, parse_expr(P));
            }
            expect_op(P, ')', "')'");
            n = node(P, JN_TUPLE, t->line);
            n->args = done(v);
            return n;
        }
        if (t->op == '[') {
            next(P);
            nvec v = { 0 };
            while (!is_op(P, ']')) {
                push(P, &v, parse_expr(P));
                if (!is_op(P, ',')) break;
                next(P);
            }
            expect_op(P, ']', "',' or ']'");
            n = node(P, JN_LIST, t->line);
            n->args = done(v);
            return n;
        }
        if (t->op == '{') {
            next(P);
            nvec keys = { 0 }, vals = { 0 };
            while (!is_op(P, '}')) {
                push(P, &keys, parse_expr(P));
                expect_op(P, ':', "':'");
                push(P, &vals, parse_expr(P));
                if (!is_op(P, ',')) break;
                next(P);
            }
            expect_op(P, '}', "',' or '}'");
            n = node(P, JN_DICT, t->line);
            n->args = done(keys);
            n->alt = done(vals);
            return n;
        }
        break;
    default:
        break;
    }
    unexpected(P, "an expression");
}

static jj_node *parse_postfix(parser *P, jj_node *n)
{
    for (;;) {
        const jj_tok *t = peek(P);
        if (is_op(P, '.')) {
            next(P);
            const jj_tok *name = peek(P);
            if (name->kind != JT_NAME && name->kind != JT_INT) unexpected(P, "an attribute name after '.'");
            next(P);
            jj_node *a = node(P, JN_ATTR, t->line);
            a->a = n;
            if (name->kind == JT_NAME) {
                a->s = name->s;
                a->n = name->n;
            } else {   /* x.0 is x[0] */
                a->kind = JN_INDEX;
                a->b = node(P, JN_INT, t->line);
                a->b->i = name->i;
            }
            n = a;
        } else if (is_op(P, '[')) {
            next(P);
            jj_node *start = NULL, *stop = NULL, *step = NULL;
            bool slice = false;
            if (!is_op(P, ':')) start = parse_expr(P);
            if (is_op(P, ':')) {
                slice = true;
                next(P);
                if (!is_op(P, ':') && !is_op(P, ']')) stop = parse_expr(P);
                if (is_op(P, ':')) {
                    next(P);
                    if (!is_op(P, ']')) step = parse_expr(P);
                }
            }
            expect_op(P, ']', "']'");
            jj_node *x = node(P, slice ? JN_SLICE : JN_INDEX, t->line);
            x->a = n;
            x->b = start;
            x->c = stop;
            x->d = step;
            n = x;
        } else if (is_op(P, '(')) {
            jj_node *call = node(P, JN_CALL, t->line);
            call->a = n;
            call->args = parse_args(P);
            n = call;
        } else {
            return n;
        }
    }
}

static jj_node *parse_unary(parser *P)
{
    if (is_op(P, '-') || is_op(P, '+')) {
        const jj_tok *t = next(P);
        enter(P);
        jj_node *n = node(P, t->op == '-' ? JN_NEG : JN_POS, t->line);
        n->a = parse_unary(P);
        leave(P);
        return n;
    }
    return parse_postfix(P, parse_primary(P));
}

static jj_node *parse_filter(parser *P, jj_node *operand)
{
    const jj_tok *name = expect_name(P, "a filter name");
    jj_node *f = node(P, JN_FILTER, name->line);
    f->a = operand;
    f->s = name->s;
    f->n = name->n;
    f->id = jj_filter_id(name->s, name->n);
    if (f->id < 0)
        jj_fail(P->e, FG_ERR_UNSUPPORTED, name->line, "unsupported filter '%.*s'", (int)(name->n > 40 ? 40 : name->n), name->s);
    if (is_op(P, '(')) f->args = parse_args(P);
    return f;
}

static jj_node *parse_filters(parser *P)
{
    jj_node *n = parse_unary(P);
    while (is_op(P, '|')) {
        next(P);
        n = parse_filter(P, n);
    }
    return n;
}

static jj_node *parse_tests(parser *P)
{
    jj_node *n = parse_filters(P);
    while (is_name(P, "is")) {
        next(P);
        bool neg = false;
        if (is_name(P, "not")) { next(P); neg = true; }
        const jj_tok *name = peek(P);
        /* tests may be named by keywords-like words (none, true, false) or by operators */
        if (name->kind != JT_NAME) unexpected(P, "a test name after 'is'");
        next(P);
        jj_node *t = node(P, JN_TEST, name->line);
        t->a = n;
        t->s = name->s;
        t->n = name->n;
        t->flag = neg;
        t->id = jj_test_id(name->s, name->n);
        if (t->id < 0)
            jj_fail(P->e, FG_ERR_UNSUPPORTED, name->line, "unsupported test '%.*s'", (int)(name->n > 40 ? 40 : name->n), name->s);
        const jj_tok *q = peek(P);
        if (is_op(P, '(')) {
            t->args = parse_args(P);
        } else if ((q->kind == JT_NAME && !is_keyword(q)) || q->kind == JT_STRING || q->kind == JT_INT ||
                   q->kind == JT_FLOAT || (q->kind == JT_OP && (q->op == '[' || q->op == '{'))) {
            /* one argument without parentheses: `x is divisibleby 3`, `x is sameas none` */
            nvec v = { 0 };
            push(P, &v, parse_postfix(P, parse_primary(P)));
            t->args = done(v);
        }
        n = t;
    }
    return n;
}

static jj_node *binop(parser *P, int op, int line, jj_node *a, jj_node *b)
{
    jj_node *n = node(P, JN_BINOP, line);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static jj_node *parse_pow(parser *P)
{
    jj_node *n = parse_tests(P);
    while (is_op(P, JOP_POW)) {
        int line = next(P)->line;
        n = binop(P, JOP_POW, line, n, parse_tests(P));
    }
    return n;
}

static jj_node *parse_mul(parser *P)
{
    jj_node *n = parse_pow(P);
    while (is_op(P, '*') || is_op(P, '/') || is_op(P, JOP_FLOORDIV) || is_op(P, '%')) {
        const jj_tok *t = next(P);
        n = binop(P, t->op, t->line, n, parse_pow(P));
    }
    return n;
}

static jj_node *parse_add(parser *P)
{
    jj_node *n = parse_mul(P);
    while (is_op(P, '+') || is_op(P, '-') || is_op(P, '~')) {
        const jj_tok *t = next(P);
        n = binop(P, t->op, t->line, n, parse_mul(P));
    }
    return n;
}

/* `in` and `not in` use op codes 'i' and 'n' */
static jj_node *parse_compare(parser *P)
{
    jj_node *n = parse_add(P);
    for (;;) {
        const jj_tok *t = peek(P);
        int op;
        if (t->kind == JT_OP && (t->op == JOP_EQ || t->op == JOP_NE || t->op == '<' || t->op == '>' ||
                                 t->op == JOP_LE || t->op == JOP_GE)) {
            op = t->op;
            next(P);
        } else if (tok_is_name(t, "in")) {
            op = 'i';
            next(P);
        } else if (tok_is_name(t, "not") && tok_is_name(peek2(P), "in")) {
            op = 'n';
            next(P);
            next(P);
        } else {
            return n;
        }
        n = binop(P, op, t->line, n, parse_add(P));
    }
}

static jj_node *parse_not(parser *P)
{
    if (is_name(P, "not")) {
        const jj_tok *t = next(P);
        enter(P);
        jj_node *n = node(P, JN_NOT, t->line);
        n->a = parse_not(P);
        leave(P);
        return n;
    }
    return parse_compare(P);
}

static jj_node *parse_and(parser *P)
{
    jj_node *n = parse_not(P);
    while (is_name(P, "and")) {
        const jj_tok *t = next(P);
        jj_node *x = node(P, JN_AND, t->line);
        x->a = n;
        x->b = parse_not(P);
        n = x;
    }
    return n;
}

static jj_node *parse_or(parser *P)
{
    jj_node *n = parse_and(P);
    while (is_name(P, "or")) {
        const jj_tok *t = next(P);
        jj_node *x = node(P, JN_OR, t->line);
        x->a = n;
        x->b = parse_and(P);
        n = x;
    }
    return n;
}

static jj_node *parse_expr(parser *P)
{
    enter(P);
    jj_node *n = parse_or(P);
    while (is_name(P, "if")) {
        const jj_tok *t = next(P);
        jj_node *x = node(P, JN_TERNARY, t->line);
        x->b = n;
        x->a = parse_or(P);
        if (is_name(P, "else")) {
            next(P);
            x->c = parse_expr(P);
        }
        n = x;
    }
    leave(P);
    return n;
}

/* expr [, expr ...] -> a tuple when there is a comma */
static jj_node *parse_expr_tuple(parser *P, bool with_ternary)
{
    int line = peek(P)->line;
    jj_node *first = with_ternary ? parse_expr(P) : parse_or(P);
    if (!is_op(P, ',')) return first;
    nvec v = { 0 };
    push(P, &v, first);
    while (is_op(P, ',')) {
        next(P);
        if (peek(P)->kind == JT_BLOCK_END || peek(P)->kind == JT_VAR_END || is_name(P, "if")) break;
        push(P, &v, with_ternary ? parse_expr(P) : parse_or(P));
    }
    jj_node *t = node(P, JN_TUPLE, line);
    t->args = done(v);
    return t;
}

/* Assignment targets: name | name, name | (name, name) ; with_attr: ns.attr too */
static jj_node *parse_target(parser *P, bool with_attr)
{
    int line = peek(P)->line;
    bool paren = is_op(P, '(');
    if (paren) next(P);
    nvec v = { 0 };
    for (;;) {
        const jj_tok *name = expect_name(P, "a variable name");
        if (is_keyword(name)) unexpected(P, "a variable name");
        jj_node *n = node(P, JN_NAME, name->line);
        n->s = name->s;
        n->n = name->n;
        if (with_attr && !paren && v.n == 0 && is_op(P, '.')) {
            next(P);
            const jj_tok *attr = expect_name(P, "an attribute name");
            jj_node *a = node(P, JN_ATTR, attr->line);
            a->a = n;
            a->s = attr->s;
            a->n = attr->n;
            return a;
        }
        push(P, &v, n);
        if (!is_op(P, ',')) break;
        next(P);
    }
    if (paren) expect_op(P, ')', "')'");
    if (v.n == 1 && !paren) return v.v[0];
    jj_node *t = node(P, JN_TUPLE, line);
    t->args = done(v);
    return t;
}

/* ---- statements ------------------------------------------------------------------------------------- */
static jj_list parse_body(parser *P, const char *const *stops, const char *opener, int open_line);
static jj_node *parse_statement(parser *P);

/* At `{% name`: is name one of stops? */
static bool at_stop(parser *P, const char *const *stops)
{
    if (peek(P)->kind != JT_BLOCK_BEGIN || !stops) return false;
    for (const char *const *s = stops; *s; s++)
        if (tok_is_name(peek2(P), *s)) return true;
    return false;
}

/* Consumes `{% name %}` (name already checked). */
static void eat_tag(parser *P, bool allow_name_after)
{
    next(P);
    next(P);
    if (allow_name_after && peek(P)->kind == JT_NAME) next(P);
    expect_block_end(P);
}

static jj_list parse_body(parser *P, const char *const *stops, const char *opener, int open_line)
{
    nvec v = { 0 };
    for (;;) {
        const jj_tok *t = peek(P);
        if (t->kind == JT_EOF) {
            if (stops)
                jj_fail(P->e, FG_ERR_FORMAT, open_line, "'{%% %s %%}' is never closed (missing '{%% %s %%}')", opener, stops[0]);
            return done(v);
        }
        if (at_stop(P, stops)) return done(v);
        if (t->kind == JT_TEXT) {
            next(P);
            jj_node *n = node(P, JN_TEXT, t->line);
            n->s = t->s;
            n->n = t->n;
            push(P, &v, n);
        } else if (t->kind == JT_VAR_BEGIN) {
            next(P);
            jj_node *n = node(P, JN_OUTPUT, t->line);
            n->a = parse_expr_tuple(P, true);
            if (peek(P)->kind != JT_VAR_END) unexpected(P, "'}}'");
            next(P);
            push(P, &v, n);
        } else if (t->kind == JT_BLOCK_BEGIN) {
            jj_node *n = parse_statement(P);
            if (n) push(P, &v, n);
        } else {
            unexpected(P, "text or a tag");
        }
    }
}

static jj_node *parse_if(parser *P, int line)
{
    static const char *const stops[] = { "endif", "elif", "else", NULL };
    static const char *const end_only[] = { "endif", NULL };
    jj_node *n = node(P, JN_IF, line);
    n->a = parse_expr(P);
    expect_block_end(P);
    n->body = parse_body(P, stops, "if", line);
    if (tok_is_name(peek2(P), "elif")) {
        next(P);
        int l = next(P)->line;
        nvec v = { 0 };
        enter(P);   /* an elif chain nests: bound it like any nesting */
        push(P, &v, parse_if(P, l));   /* consumes through endif */
        leave(P);
        n->alt = done(v);
        return n;
    }
    if (tok_is_name(peek2(P), "else")) {
        eat_tag(P, false);
        n->alt = parse_body(P, end_only, "if", line);
    }
    eat_tag(P, false);
    return n;
}

static jj_node *parse_for(parser *P, int line)
{
    static const char *const stops[] = { "endfor", "else", NULL };
    static const char *const end_only[] = { "endfor", NULL };
    jj_node *n = node(P, JN_FOR, line);
    n->a = parse_target(P, false);
    if (!is_name(P, "in")) unexpected(P, "'in'");
    next(P);
    n->b = parse_expr_tuple(P, false);
    if (is_name(P, "if")) {
        next(P);
        n->c = parse_expr(P);
    }
    if (is_name(P, "recursive"))
        jj_fail(P->e, FG_ERR_UNSUPPORTED, peek(P)->line, "unsupported recursive for loop");
    expect_block_end(P);
    n->body = parse_body(P, stops, "for", line);
    if (tok_is_name(peek2(P), "else")) {
        eat_tag(P, false);
        n->alt = parse_body(P, end_only, "for", line);
    }
    eat_tag(P, false);
    return n;
}

static jj_node *parse_set(parser *P, int line)
{
    static const char *const stops[] = { "endset", NULL };
    jj_node *n = node(P, JN_SET, line);
    n->a = parse_target(P, true);
    if (is_op(P, '=')) {
        next(P);
        n->b = parse_expr_tuple(P, true);
        expect_block_end(P);
        return n;
    }
    if (n->a->kind != JN_NAME) unexpected(P, "'='");
    jj_node *chain = NULL;   /* {% set x | f %}...: filters applied to the block */
    while (is_op(P, '|')) {
        next(P);
        chain = parse_filter(P, chain);
    }
    n->c = chain;
    expect_block_end(P);
    n->body = parse_body(P, stops, "set", line);
    eat_tag(P, false);
    return n;
}

/* (name, name=default, ...) */
static jj_list parse_params(parser *P)
{
    nvec v = { 0 };
    bool defaults = false;
    expect_op(P, '(', "'('");
    while (!is_op(P, ')')) {
        const jj_tok *name = expect_name(P, "a parameter name");
        jj_node *p;
        if (is_op(P, '=')) {
            next(P);
            p = node(P, JN_KWARG, name->line);
            p->a = parse_expr(P);
            defaults = true;
        } else {
            if (defaults)
                jj_fail(P->e, FG_ERR_FORMAT, name->line, "parameter without a default after one with a default");
            p = node(P, JN_NAME, name->line);
        }
        p->s = name->s;
        p->n = name->n;
        push(P, &v, p);
        if (!is_op(P, ',')) break;
        next(P);
    }
    expect_op(P, ')', "',' or ')'");
    return done(v);
}

static jj_node *parse_macro(parser *P, int line)
{
    static const char *const stops[] = { "endmacro", NULL };
    jj_node *n = node(P, JN_MACRO, line);
    const jj_tok *name = expect_name(P, "a macro name");
    n->s = name->s;
    n->n = name->n;
    n->args = parse_params(P);
    expect_block_end(P);
    n->body = parse_body(P, stops, "macro", line);
    eat_tag(P, true);
    return n;
}

static jj_node *parse_call_block(parser *P, int line)
{
    static const char *const stops[] = { "endcall", NULL };
    jj_node *n = node(P, JN_CALLBLOCK, line);
    if (is_op(P, '(')) n->args = parse_params(P);
    jj_node *call = parse_postfix(P, parse_primary(P));
    if (call->kind != JN_CALL) unexpected(P, "a macro call");
    n->a = call;
    expect_block_end(P);
    n->body = parse_body(P, stops, "call", line);
    eat_tag(P, false);
    return n;
}

static jj_node *parse_filter_block(parser *P, int line)
{
    static const char *const stops[] = { "endfilter", NULL };
    jj_node *n = node(P, JN_FILTERBLOCK, line);
    jj_node *chain = parse_filter(P, NULL);
    while (is_op(P, '|')) {
        next(P);
        chain = parse_filter(P, chain);
    }
    n->a = chain;
    expect_block_end(P);
    n->body = parse_body(P, stops, "filter", line);
    eat_tag(P, false);
    return n;
}

/* At `{%`. Returns NULL for statements without a node (generation markers). */
static jj_node *parse_statement(parser *P)
{
    next(P);   /* {% */
    const jj_tok *kw = peek(P);
    if (kw->kind != JT_NAME) unexpected(P, "a statement name after '{%'");
    next(P);
    int line = kw->line;
    char buf[64];
    jj_node *n;
    enter(P);
    if (tok_is_name(kw, "if")) n = parse_if(P, line);
    else if (tok_is_name(kw, "for")) n = parse_for(P, line);
    else if (tok_is_name(kw, "set")) n = parse_set(P, line);
    else if (tok_is_name(kw, "macro")) n = parse_macro(P, line);
    else if (tok_is_name(kw, "call")) n = parse_call_block(P, line);
    else if (tok_is_name(kw, "filter")) n = parse_filter_block(P, line);
    else if (tok_is_name(kw, "break") || tok_is_name(kw, "continue")) {
        n = node(P, tok_is_name(kw, "break") ? JN_BREAK : JN_CONTINUE, line);
        expect_block_end(P);
    } else if (tok_is_name(kw, "generation") || tok_is_name(kw, "endgeneration")) {
        n = NULL;
        expect_block_end(P);
    } else {
        static const char *const closers[] = { "endif", "elif", "else", "endfor", "endset", "endmacro",
                                               "endcall", "endfilter", "endraw", NULL };
        for (const char *const *c = closers; *c; c++)
            if (tok_is_name(kw, *c))
                jj_fail(P->e, FG_ERR_FORMAT, line, "unexpected '{%% %s %%}' without a matching opening tag", *c);
        jj_fail(P->e, FG_ERR_UNSUPPORTED, line, "unsupported statement %s", tok_desc(kw, buf, sizeof buf));
    }
    leave(P);
    return n;
}

jj_list jj_parse(const jj_tok *toks, jj_arena *a, jj_err *e)
{
    parser P = { .t = toks, .i = 0, .a = a, .e = e, .depth = 0 };
    return parse_body(&P, NULL, NULL, 0);
}
