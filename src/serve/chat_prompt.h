/* serve: the chat prompt — messages rendered with the model's chat template. */
#ifndef FG_SERVE_CHAT_PROMPT_H
#define FG_SERVE_CHAT_PROMPT_H

#include "serve/serve-impl.h"

/* Prepares the template once at server creation (parse errors are reported then);
 * a model without a chat template leaves chat requests answering 400. */
fg_status chat_prompt_init(fg_server *s);
void chat_prompt_free(fg_server *s);
/* messages: [{"role","content"}] (content a string). *out receives the rendered prompt
 * (fg_malloc; fg_free) with the generation prompt added. FG_ERR_UNSUPPORTED when the model
 * has no chat template. Thread-safe (called from connection threads). */
fg_status chat_prompt_render(fg_server *s, const cJSON *messages, char **out);

#endif
