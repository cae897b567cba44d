/* chat: compile a chat template once, render conversations with it (see chat.h).
 *
 * A compiled template owns one arena holding a copy of the source and the AST. A render
 * builds the template variables (messages as a list of {role, content} dicts,
 * add_generation_prompt, bos_token, eos_token, enable_thinking and the caller's extra
 * variables) in a fresh per-render arena, runs the evaluator, copies the output into a
 * fg_malloc'd string and frees the arena. Errors unwind with longjmp to the guarded
 * call below; nothing allocated outside the arenas is live at that point. */
#include "token/chat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mem/mem.h"
#include "token/jinja-impl.h"

struct fg_chat_template {
    jj_arena arena;
    jj_list program;
};

fg_chat_options fg_chat_default_options(void)
{
    fg_chat_options o;
    memset(&o, 0, sizeof o);
    o.enable_thinking = -1;
    return o;
}

static fg_status report(const jj_err *e)
{
    if (e->line > 0) return fg_error(e->status, "chat template: %s at line %d", e->msg, e->line);
    return fg_error(e->status, "chat template: %s", e->msg);
}

/* ---- compile ------------------------------------------------------------------------------------ */
/* setjmp lives here; everything it touches after a longjmp is reached through pointers
 * owned by the caller, so no local of this frame is modified between setjmp and longjmp. */
static int guarded_compile(fg_chat_template *t, jj_arena *tmp, jj_err *e, const char *src, size_t len)
{
    if (setjmp(e->jmp)) return -1;
    size_t ntok;
    jj_tok *toks = jj_lex(src, len, &t->arena, tmp, e, &ntok);
    t->program = jj_parse(toks, &t->arena, e);
    return 0;
}

fg_status fg_chat_template_compile(const char *src, size_t len, fg_chat_template **out)
{
    if (!src || !out) return fg_error(FG_ERR_ARG, "chat template: no template");
    *out = NULL;
    if (memchr(src, 0, len)) return fg_error(FG_ERR_FORMAT, "chat template: the template contains a NUL byte");
    fg_chat_template *t = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *t);
    jj_err *e = fg_malloc(FG_MEM_RUNTIME, sizeof *e);
    char *copy = t ? jj_arena_alloc(&t->arena, len + 1) : NULL;
    if (!t || !e || !copy) {
        fg_chat_template_free(t);
        fg_free(e);
        return fg_error(FG_ERR_NOMEM, "chat template: out of memory");
    }
    /* the AST points into this copy; newlines normalised to \n as Jinja2 does
     * (newline_sequence), string literals included */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            copy[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            copy[n++] = src[i];
        }
    }
    copy[n] = 0;
    jj_arena tmp = { 0 };
    int rc = guarded_compile(t, &tmp, e, copy, n);
    jj_arena_free(&tmp);
    if (rc != 0) {
        fg_status s = report(e);
        fg_free(e);
        fg_chat_template_free(t);
        return s;
    }
    fg_free(e);
    *out = t;
    return FG_OK;
}

void fg_chat_template_free(fg_chat_template *t)
{
    if (!t) return;
    jj_arena_free(&t->arena);
    fg_free(t);
}

/* ---- render ---------------------------------------------------------------------------------------- */
static jv var_value(jj_ctx *c, const fg_chat_var *v)
{
    const char *s = v->value ? v->value : "";
    switch (v->type) {
    case FG_CHAT_VAR_STRING: return jv_cstr(s);
    case FG_CHAT_VAR_BOOL:
        if (!strcmp(s, "true") || !strcmp(s, "1")) return jv_bool(true);
        if (!strcmp(s, "false") || !strcmp(s, "0")) return jv_bool(false);
        jj_rfail(c, FG_ERR_ARG, "variable '%s': '%s' is not a boolean", v->name, s);
    case FG_CHAT_VAR_INT: {
        char *end;
        long long x = strtoll(s, &end, 10);
        if (!*s || *end) jj_rfail(c, FG_ERR_ARG, "variable '%s': '%s' is not an integer", v->name, s);
        return jv_int(x);
    }
    case FG_CHAT_VAR_JSON: return jv_parse_json(c, s, strlen(s));
    }
    jj_rfail(c, FG_ERR_ARG, "variable '%s' has an unknown type", v->name);
}

typedef struct render_job {
    const fg_chat_template *t;
    const fg_chat_message *msgs;
    size_t n;
    const fg_chat_options *opt;
} render_job;

static int guarded_render(jj_ctx *c, const render_job *job)
{
    if (setjmp(c->err->jmp)) return -1;
    const fg_chat_options *o = job->opt;
    jj_scope *g = jj_alloc(c, sizeof *g);
    memset(g, 0, sizeof *g);

    jv msgs = jv_new_list(c, job->n);
    for (size_t i = 0; i < job->n; i++) {
        const fg_chat_message *m = &job->msgs[i];
        if (!m->role) jj_rfail(c, FG_ERR_ARG, "message %zu has no role", i);
        jv d = jv_new_dict(c, 2);
        jv_dict_set(c, d, "role", 4, jv_cstr(m->role));
        jv_dict_set(c, d, "content", 7, m->content ? jv_cstr(m->content) : jv_none());
        jv_list_push(c, msgs, d);
    }
    jj_scope_set(c, g, "messages", 8, msgs);
    jj_scope_set(c, g, "add_generation_prompt", 21, jv_bool(o->add_generation_prompt));
    if (o->bos_token) jj_scope_set(c, g, "bos_token", 9, jv_cstr(o->bos_token));
    if (o->eos_token) jj_scope_set(c, g, "eos_token", 9, jv_cstr(o->eos_token));
    if (o->enable_thinking >= 0) jj_scope_set(c, g, "enable_thinking", 15, jv_bool(o->enable_thinking != 0));
    for (size_t i = 0; i < o->n_vars; i++) {
        const fg_chat_var *v = &o->vars[i];
        if (!v->name || !*v->name) jj_rfail(c, FG_ERR_ARG, "variable %zu has no name", i);
        jj_scope_set(c, g, v->name, strlen(v->name), var_value(c, v));
    }
    jj_render(c, &job->t->program, g);
    return 0;
}

fg_status fg_chat_template_render(const fg_chat_template *t, const fg_chat_message *msgs, size_t n,
                                  const fg_chat_options *opt, char **out, size_t *out_len)
{
    if (!t || !out || (n && !msgs)) return fg_error(FG_ERR_ARG, "chat template: bad arguments to render");
    *out = NULL;
    if (out_len) *out_len = 0;
    fg_chat_options defaults = fg_chat_default_options();
    if (!opt) opt = &defaults;

    jj_ctx *c = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *c);
    jj_err *e = fg_malloc(FG_MEM_RUNTIME, sizeof *e);
    if (!c || !e) {
        fg_free(c);
        fg_free(e);
        return fg_error(FG_ERR_NOMEM, "chat template: out of memory");
    }
    jj_buf buf = { 0 };
    c->err = e;
    c->out = &buf;
    c->arena.limit = opt->max_bytes ? opt->max_bytes : JJ_DEFAULT_MAX_BYTES;
    c->max_steps = opt->max_steps ? opt->max_steps : JJ_DEFAULT_MAX_STEPS;
    c->now = opt->now ? opt->now : (int64_t)time(NULL);
    render_job job = { t, msgs, n, opt };

    fg_status s = FG_OK;
    if (guarded_render(c, &job) != 0) {
        s = report(e);
    } else {
        char *res = fg_malloc(FG_MEM_RUNTIME, buf.n + 1);
        if (!res) {
            s = fg_error(FG_ERR_NOMEM, "chat template: out of memory for the output");
        } else {
            if (buf.n) memcpy(res, buf.p, buf.n);
            res[buf.n] = 0;
            *out = res;
            if (out_len) *out_len = buf.n;
        }
    }
    jj_arena_free(&c->arena);
    fg_free(c);
    fg_free(e);
    return s;
}

fg_status fg_chat_render(const char *template_src, const fg_chat_message *msgs, size_t n,
                         const fg_chat_options *opt, char **out, size_t *out_len)
{
    if (!template_src) return fg_error(FG_ERR_ARG, "chat template: no template");
    fg_chat_template *t;
    fg_status s = fg_chat_template_compile(template_src, strlen(template_src), &t);
    if (s != FG_OK) return s;
    s = fg_chat_template_render(t, msgs, n, opt, out, out_len);
    fg_chat_template_free(t);
    return s;
}
