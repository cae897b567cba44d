/* The chat prompt: the model's own chat template (or a built-in format named with
 * --chat-format), compiled once at start, rendered per request on the connection's
 * thread (a compiled template is immutable; renders do not share state). */
#include "serve/chat_prompt.h"
#include "token/chat.h"

#include <string.h>

/* A special token's text, NUL-terminated, for the template's bos_token/eos_token. */
static char *token_text(fg_server *s, int32_t id)
{
    if (id < 0) return NULL;
    fg_str p = fg_tok_piece(s->tok, id);
    if (!p.ptr) return NULL;
    return fg_strndup(FG_MEM_TOKENIZER, p.ptr, (size_t)p.len);
}

fg_status chat_prompt_init(fg_server *s)
{
    const char *src = NULL;
    if (s->params.chat_format && *s->params.chat_format) {
        src = fg_chat_builtin(s->params.chat_format);
        if (!src) return fg_error(FG_ERR_ARG, "unknown chat format '%s'", s->params.chat_format);
    } else {
        src = fg_tok_chat_template(s->tok);
    }
    s->bos_text = token_text(s, fg_tok_bos(s->tok));
    s->eos_text = token_text(s, fg_tok_eos(s->tok));
    if (!src) return FG_OK; /* chat requests will say there is no template */
    fg_status st = fg_chat_template_compile(src, strlen(src), &s->chat_tmpl);
    if (st) return fg_error(st, "the model's chat template does not compile: %s", fg_last_error());
    return FG_OK;
}

void chat_prompt_free(fg_server *s)
{
    fg_chat_template_free(s->chat_tmpl);
    s->chat_tmpl = NULL;
    fg_free(s->bos_text);
    fg_free(s->eos_text);
    s->bos_text = s->eos_text = NULL;
}

fg_status chat_prompt_render(fg_server *s, const cJSON *messages, char **out)
{
    *out = NULL;
    if (!s->chat_tmpl)
        return fg_error(FG_ERR_UNSUPPORTED, "This model has no chat template: use /v1/completions, or start the server "
                                            "with --chat-format NAME.");
    int n = cJSON_GetArraySize(messages);
    fg_chat_message *msgs = fg_malloc(FG_MEM_RUNTIME, (size_t)(n > 0 ? n : 1) * sizeof *msgs);
    if (!msgs) return fg_error(FG_ERR_NOMEM, "out of memory rendering the chat");
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        msgs[i].role = cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring;
        msgs[i].content = cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring;
        i++;
    }
    fg_chat_options opt = fg_chat_default_options();
    opt.add_generation_prompt = true;
    opt.bos_token = s->bos_text;
    opt.eos_token = s->eos_text;
    fg_status st = fg_chat_template_render(s->chat_tmpl, msgs, (size_t)n, &opt, out, NULL);
    fg_free(msgs);
    return st;
}
