/* jinja: internals of the small Jinja interpreter behind chat templates (chat.h).
 *
 * Pipeline: jinja_lex.c turns the template source into tokens (whitespace control,
 * trim_blocks and lstrip_blocks applied there, as Hugging Face renders chat templates
 * with trim_blocks=True, lstrip_blocks=True); jinja_parse.c builds an AST in an arena;
 * jinja_eval.c walks it with values from jinja_value.c (JSON in jinja_json.c), the
 * filters and tests of jinja_filters.c, the str/dict methods of jinja_str.c and the
 * global functions of jinja_globals.c. chat.c is the public face (chat.h).
 *
 * Semantics follow Python's Jinja2 as transformers configures it (the reference the
 * templates were written for), which @huggingface/jinja also follows on the real
 * templates; see chat.h for the known differences.
 *
 * Memory: the AST lives in the template's arena; every value made while rendering lives
 * in a per-render arena, freed as a whole when the render ends (so errors can unwind
 * with longjmp without leaking). Both arenas allocate through fg_malloc(FG_MEM_RUNTIME).
 *
 * Bounds (hostile templates): parse nesting <= JJ_MAX_PARSE_DEPTH, evaluation recursion
 * <= JJ_MAX_EVAL_DEPTH frames (macros included), value nesting for printing, JSON and
 * comparison <= JJ_MAX_VALUE_DEPTH, a step budget for the whole render, a byte budget for
 * the render arena, and range() at most JJ_MAX_RANGE items. */
#ifndef FG_JINJA_IMPL_H
#define FG_JINJA_IMPL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frugal.h"

#define JJ_MAX_PARSE_DEPTH 100
#define JJ_MAX_EVAL_DEPTH 400
#define JJ_MAX_VALUE_DEPTH 64
#define JJ_MAX_RANGE 100000
#define JJ_DEFAULT_MAX_STEPS 5000000ull
#define JJ_DEFAULT_MAX_BYTES (64u << 20)

/* ---- arena ------------------------------------------------------------------------
 * Chunks from fg_malloc; allocation fails (NULL) past `limit` bytes in total. */
typedef struct jj_chunk jj_chunk;
typedef struct jj_arena {
    jj_chunk *head;
    size_t total;      /* bytes of all chunks */
    size_t limit;      /* 0: no limit */
} jj_arena;

void *jj_arena_alloc(jj_arena *a, size_t n);   /* 16-byte aligned; NULL on failure */
void jj_arena_free(jj_arena *a);

/* ---- errors -------------------------------------------------------------------------
 * Parser and evaluator stop at the first error with longjmp to the entry point, which
 * turns it into fg_error(status, "chat template: <msg> at line N"). */
typedef struct jj_err {
    jmp_buf jmp;
    fg_status status;
    int line;          /* 0: no line */
    char msg[400];
} jj_err;

_Noreturn void jj_fail(jj_err *e, fg_status s, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- tokens ------------------------------------------------------------------------ */
typedef enum jj_tok_kind {
    JT_EOF = 0,
    JT_TEXT,        /* raw template text (already whitespace-controlled) */
    JT_BLOCK_BEGIN, /* {% */
    JT_BLOCK_END,   /* %} */
    JT_VAR_BEGIN,   /* {{ */
    JT_VAR_END,     /* }} */
    JT_NAME,
    JT_STRING,      /* value unescaped, in the arena */
    JT_INT,
    JT_FLOAT,
    JT_OP,          /* op holds the operator code below */
} jj_tok_kind;

/* Operator codes: single characters are their own code; multi-character ones: */
enum { JOP_POW = 256, JOP_FLOORDIV, JOP_EQ, JOP_NE, JOP_LE, JOP_GE };

typedef struct jj_tok {
    jj_tok_kind kind;
    int op;
    int line;
    const char *s;     /* TEXT, NAME, STRING: bytes (not NUL-terminated) */
    size_t n;
    int64_t i;
    double f;
} jj_tok;

/* Tokenizes src (len bytes) into an array in `tmp` terminated by JT_EOF; unescaped
 * string literals go to `a` (they outlive the tokens, in the AST). */
jj_tok *jj_lex(const char *src, size_t len, jj_arena *a, jj_arena *tmp, jj_err *e, size_t *n_out);

/* ---- AST --------------------------------------------------------------------------- */
typedef enum jj_node_kind {
    /* statements */
    JN_TEXT, JN_OUTPUT, JN_IF, JN_FOR, JN_SET, JN_MACRO, JN_CALLBLOCK, JN_FILTERBLOCK,
    JN_BREAK, JN_CONTINUE,
    /* expressions */
    JN_STR, JN_INT, JN_FLOAT, JN_NAME, JN_LIST, JN_TUPLE, JN_DICT,
    JN_BINOP, JN_AND, JN_OR, JN_NOT, JN_NEG, JN_POS, JN_TERNARY,
    JN_ATTR, JN_INDEX, JN_SLICE, JN_CALL, JN_KWARG, JN_FILTER, JN_TEST,
} jj_node_kind;

typedef struct jj_node jj_node;
typedef struct jj_list { jj_node **v; size_t n; } jj_list;

/* One node type for all: which fields mean what depends on kind:
 *  TEXT s,n | OUTPUT a | IF a=test body=then alt=else (elif: an IF inside alt)
 *  FOR a=target(NAME|TUPLE) b=iterable c=filter-cond|NULL body alt=else
 *  SET a=target(NAME|TUPLE|ATTR) b=value|NULL (block set: body) c=filter|NULL (block)
 *  MACRO s=name args=params(NAME|KWARG) body | CALLBLOCK a=CALL args=caller params body
 *  FILTERBLOCK a=FILTER whose a is NULL (the body is the operand) body
 *  STR s,n | INT i | FLOAT f | NAME s,n | LIST/TUPLE args | DICT args=keys alt=values
 *  BINOP op a b | AND/OR a b | NOT/NEG/POS a | TERNARY a=cond b=then c=else|NULL
 *  ATTR a s,n | INDEX a b | SLICE a b c d (NULL = omitted) | CALL a args
 *  KWARG s,n a | FILTER a s,n id args | TEST a s,n id args flag=negated */
struct jj_node {
    jj_node_kind kind;
    int line;
    int op;
    int id;            /* filter or test id (jinja_filters.c) */
    bool flag;
    const char *s;
    size_t n;
    int64_t i;
    double f;
    jj_node *a, *b, *c, *d;
    jj_list args, body, alt;
};

/* Parses tokens into the program's statement list. */
jj_list jj_parse(const jj_tok *toks, jj_arena *a, jj_err *e);

/* ---- values -------------------------------------------------------------------------- */
typedef enum jv_type {
    JV_UNDEF = 0, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR,
    JV_LIST, JV_DICT, JV_NS, JV_FUNC, JV_LOOP,
} jv_type;

typedef struct jj_listv jj_listv;
typedef struct jj_dict jj_dict;
typedef struct jj_func jj_func;
typedef struct jj_loop jj_loop;

typedef struct jv {
    jv_type t;
    bool tuple;        /* a JV_LIST made as a tuple (prints with parentheses) */
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *s; size_t n; } str;   /* UTF-8, not NUL-terminated */
        jj_listv *list;
        jj_dict *dict;   /* JV_DICT and JV_NS */
        jj_func *fn;
        jj_loop *loop;
    } u;
} jv;

struct jj_listv { jv *v; size_t n, cap; };
struct jj_dict { jv *keys; jv *vals; size_t n, cap; };   /* insertion-ordered, string keys */

/* Callables: built-in global functions, methods bound to a value, macros, caller(). */
typedef enum jj_func_kind { JF_GLOBAL, JF_METHOD, JF_MACRO, JF_LOOP_CYCLE } jj_func_kind;
struct jj_func {
    jj_func_kind kind;
    int id;                  /* JF_GLOBAL: global id; JF_METHOD: method id */
    jv self;                 /* JF_METHOD: the bound value; JF_LOOP_CYCLE: the loop */
    const jj_node *macro;    /* JF_MACRO: the MACRO or CALLBLOCK node */
    struct jj_scope *defscope;   /* JF_MACRO caller(): scope of the call block */
};

struct jj_loop { const jv *items; size_t i, n; };

/* ---- render context ------------------------------------------------------------------ */
typedef struct jj_scope {
    struct jj_scope *parent;
    const char **names;
    size_t *lens;
    jv *vals;
    size_t n, cap;
} jj_scope;

typedef struct jj_buf { char *p; size_t n, cap; } jj_buf;

typedef struct jj_ctx {
    jj_arena arena;
    jj_err *err;
    jj_buf *out;             /* where output goes now (block set / filter / macro capture) */
    uint64_t steps, max_steps;
    int depth;
    int64_t now;             /* strftime_now's clock (unix seconds) */
    int line;                /* line of the node being evaluated (for errors) */
} jj_ctx;

_Noreturn void jj_rfail(jj_ctx *c, fg_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void *jj_alloc(jj_ctx *c, size_t n);             /* fails the render on exhaustion */
/* Charges work that allocates nothing (scans, compares) to the step budget: one step
 * per KiB scanned, so repeating such work on large strings stays bounded too. */
void jj_cost(jj_ctx *c, size_t bytes);
void jj_buf_put(jj_ctx *c, jj_buf *b, const char *s, size_t n);
void jj_buf_putc(jj_ctx *c, jj_buf *b, char ch);

/* constructors */
static inline jv jv_undef(void) { jv v = { .t = JV_UNDEF }; return v; }
static inline jv jv_none(void) { jv v = { .t = JV_NONE }; return v; }
static inline jv jv_bool(bool b) { jv v = { .t = JV_BOOL, .u.b = b }; return v; }
static inline jv jv_int(int64_t i) { jv v = { .t = JV_INT, .u.i = i }; return v; }
static inline jv jv_float(double f) { jv v = { .t = JV_FLOAT, .u.f = f }; return v; }
static inline jv jv_strn(const char *s, size_t n) { jv v = { .t = JV_STR, .u.str = { s, n } }; return v; }
jv jv_cstr(const char *s);
jv jv_str_copy(jj_ctx *c, const char *s, size_t n);
jv jv_new_list(jj_ctx *c, size_t cap);
jv jv_new_dict(jj_ctx *c, size_t cap);
void jv_list_push(jj_ctx *c, jv list, jv item);
void jv_dict_set(jj_ctx *c, jv dict, const char *k, size_t kn, jv val);
jv jv_dict_get(jv dict, const char *k, size_t kn);   /* JV_UNDEF when absent */
jv jv_func_new(jj_ctx *c, jj_func_kind kind, int id, jv self);

const char *jv_type_name(jv v);
bool jv_truthy(jv v);
bool jv_equal(jj_ctx *c, jv a, jv b, int depth);
int jv_compare(jj_ctx *c, jv a, jv b, bool case_sensitive);   /* fails on mixed types */
bool jv_is_number(jv v);
double jv_num(jv v);

/* Python str(): what {{ v }} prints and ~ and |string use. */
void jv_write_str(jj_ctx *c, jj_buf *b, jv v);
jv jv_to_str(jj_ctx *c, jv v);
/* JSON as transformers' tojson: json.dumps(v, ensure_ascii, indent, separators, sort_keys). */
typedef struct jj_json_opts {
    int indent;              /* < 0: none */
    bool ensure_ascii, sort_keys;
    const char *item_sep, *key_sep;   /* NULL: defaults */
} jj_json_opts;
void jv_write_json(jj_ctx *c, jj_buf *b, jv v, const jj_json_opts *o, int depth);
/* Python repr of a float (shortest round-trip, "1.0", "1e-05", "inf"). */
void jj_format_float(double f, char *buf, size_t cap);
/* Parses JSON text into values (used for JSON-typed variables). */
jv jv_parse_json(jj_ctx *c, const char *s, size_t n);

/* UTF-8 helpers (invalid bytes decode as themselves, one at a time, as U+FFFD-like
 * code points 0xDC80+byte so that round trips are lossless). */
size_t jj_utf8_decode(const char *s, size_t n, uint32_t *cp);   /* bytes consumed (>= 1) */
size_t jj_utf8_encode(uint32_t cp, char *out);                  /* 1..4 */
size_t jj_utf8_count(const char *s, size_t n);
bool jj_is_space(uint32_t cp);                                  /* Python str.isspace() */

/* ---- builtins (jinja_filters.c, jinja_str.c, jinja_globals.c) ------------------------------------------------------- */
int jj_filter_id(const char *name, size_t n);    /* -1 if unknown */
int jj_test_id(const char *name, size_t n);      /* -1 if unknown */
int jj_global_id(const char *name, size_t n);    /* -1 if unknown */
int jj_method_id(jv self, const char *name, size_t n);   /* -1 if none for this type */

/* Evaluated arguments of a call: positional then keyword. */
typedef struct jj_args {
    jv *pos;
    size_t npos;
    const char **kw;
    size_t *kwlen;
    jv *kwv;
    size_t nkw;
} jj_args;

jv jj_apply_filter(jj_ctx *c, int id, jv operand, const jj_args *args);
bool jj_apply_test(jj_ctx *c, int id, jv operand, const jj_args *args);
jv jj_call_global(jj_ctx *c, int id, const jj_args *args);
jv jj_call_method(jj_ctx *c, int id, jv self, const jj_args *args);
/* Argument by position or keyword name; JV_UNDEF when not given. */
jv jj_arg(const jj_args *a, size_t pos, const char *kw);
/* Fails unless every keyword argument is one of the NULL-terminated names and there
 * are at most max_pos positional ones. */
void jj_check_args(jj_ctx *c, const jj_args *a, size_t max_pos, const char *what, const char *const *kw);

/* String helpers shared by filters and methods (jinja_str.c). */
enum { JJ_STRIP_BOTH, JJ_STRIP_LEFT, JJ_STRIP_RIGHT };
jv jj_str_strip(jj_ctx *c, jv s, jv chars, int mode);     /* chars UNDEF/NONE: whitespace */
/* mode: 'u' upper, 'l' lower, 't' str.title(), 'T' Jinja's |title filter (which is not
 * str.title: "they're" -> "They're"), 'c' capitalize (str.capitalize) */
jv jj_str_case(jj_ctx *c, jv s, int mode);
jv jj_str_replace(jj_ctx *c, jv s, jv old, jv repl, int64_t count);   /* count < 0: all */
jv jj_want_str(jj_ctx *c, jv v, const char *what);       /* a string, else fails */

/* ---- evaluation (jinja_eval.c) ---------------------------------------------------------- */
/* Renders the program into c->out with the given global scope. */
void jj_render(jj_ctx *c, const jj_list *program, jj_scope *globals);
void jj_scope_set(jj_ctx *c, jj_scope *s, const char *name, size_t n, jv v);
/* Calls a callable value (macros need the evaluator). */
jv jj_call_value(jj_ctx *c, jv fn, const jj_args *args);

#endif
