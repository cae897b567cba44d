/* chat: renders a conversation with a model's own chat template (the Jinja text in
 * tokenizer_config.json `chat_template` or GGUF `tokenizer.chat_template`), or with a
 * built-in format chosen by name (`--chat-format NAME`), through one small Jinja
 * interpreter (src/token/jinja*.c).
 *
 * Output is byte-identical to transformers' apply_chat_template (Jinja2 with
 * trim_blocks=True, lstrip_blocks=True, raise_exception, strftime_now and a tojson that
 * does not escape non-ASCII) and to @huggingface/jinja on the templates in
 * tests/data/templates/. Where those two disagree we follow Jinja2: str.strip(chars),
 * lstrip(chars) and rstrip(chars) strip only the given characters, None/True/False
 * print as "None"/"True"/"False", lists and dicts print as Python reprs, and floats
 * print as Python does (1.0, 1e-05).
 *
 * A template that cannot be compiled or rendered gives a one-line error naming the
 * construct and its line, e.g. "chat template: unsupported filter 'foo' at line 3";
 * a template's raise_exception('...') gives FG_ERR_ARG with its message.
 *
 * Hostile templates are bounded: nesting depth, evaluation steps (max_steps), memory
 * (max_bytes) and range() sizes are limited; nothing recurses without a bound.
 *
 * Thread safety: a compiled template is immutable; several threads may render it at
 * once (each render has its own arena). */
#ifndef FG_CHAT_H
#define FG_CHAT_H

#include "frugal.h"

typedef struct fg_chat_message {
    const char *role;      /* "system", "user", "assistant", "tool", ... */
    const char *content;   /* NUL-terminated; NULL renders as none */
} fg_chat_message;

/* Extra template variables. */
typedef enum fg_chat_var_type {
    FG_CHAT_VAR_STRING = 0,   /* value: the string */
    FG_CHAT_VAR_BOOL,         /* value: "true"/"false" (or "1"/"0") */
    FG_CHAT_VAR_INT,          /* value: decimal integer */
    FG_CHAT_VAR_JSON,         /* value: JSON text (objects, arrays, ...), e.g. tools */
} fg_chat_var_type;

typedef struct fg_chat_var {
    const char *name;
    fg_chat_var_type type;
    const char *value;
} fg_chat_var;

typedef struct fg_chat_options {
    bool add_generation_prompt;  /* end with the opening of the assistant's turn */
    const char *bos_token;       /* NULL: the variable is undefined */
    const char *eos_token;       /* NULL: undefined */
    int enable_thinking;         /* -1: undefined (template default); 0 false; 1 true */
    int64_t now;                 /* strftime_now's clock, unix seconds; 0: current time */
    const fg_chat_var *vars;     /* more variables (date_string, tools, ...); a var named
                                    "messages" of type JSON replaces msgs */
    size_t n_vars;
    uint64_t max_steps;          /* 0: default (5 million) */
    size_t max_bytes;            /* memory for one render; 0: default (64 MiB) */
} fg_chat_options;

fg_chat_options fg_chat_default_options(void);

/* A compiled template. */
typedef struct fg_chat_template fg_chat_template;

fg_status fg_chat_template_compile(const char *src, size_t len, fg_chat_template **out);
void fg_chat_template_free(fg_chat_template *t);

/* Renders msgs[0..n) into *out (fg_malloc'd, NUL-terminated; free with fg_free),
 * *out_len bytes (may be NULL). opt NULL: fg_chat_default_options(). */
fg_status fg_chat_template_render(const fg_chat_template *t, const fg_chat_message *msgs, size_t n,
                                  const fg_chat_options *opt, char **out, size_t *out_len);

/* Compile + render + free, for one-off use. */
fg_status fg_chat_render(const char *template_src, const fg_chat_message *msgs, size_t n,
                         const fg_chat_options *opt, char **out, size_t *out_len);

/* Built-in formats: the Jinja source of a format by name (case-insensitive), or NULL.
 * Names: chatml, llama3, llama2, phi3, gemma, zephyr, mistral. */
const char *fg_chat_builtin(const char *name);
/* The built-in names, NULL-terminated (for help texts). */
const char *const *fg_chat_builtin_names(void);

#endif
