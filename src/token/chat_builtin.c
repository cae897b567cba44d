/* Built-in chat formats (`--chat-format NAME`), as Jinja templates rendered by the same
 * engine as a model's own template.
 *
 *   chatml   <|im_start|>role\ncontent<|im_end|>\n  (Qwen, SmolLM; = Qwen2.5's template
 *            whenever the conversation has a system message)
 *   llama3   <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> after bos_token
 *   llama2   [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s>, roles alternate
 *   phi3     <|role|>\ncontent<|end|>\n, eos_token when no generation prompt (= Phi-3.5)
 *   gemma    <start_of_turn>user|model\n...<end_of_turn>\n after bos_token; a system
 *            message is put before the first user message (Gemma 2's own template refuses
 *            it); roles alternate
 *   zephyr   <|role|>\ncontent</s>\n
 *   mistral  [INST] user [/INST]answer</s> after bos_token; a system message is put
 *            before the next user message
 *
 * scripts/goldens/templates/make_goldens.mjs reads the table between the BEGIN/END
 * markers (one name literal, then the template's literals; only the escapes \\ \" \n
 * appear, so each literal is also a JSON string) and renders it with @huggingface/jinja
 * for tests/data/templates/goldens.json. */
#include "token/chat.h"

#include <strings.h>

typedef struct builtin { const char *name, *src; } builtin;

/* BEGIN BUILTINS */
static const builtin builtins[] = {
    { "chatml",
      "{% for message in messages %}"
      "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
      "{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}" },
    { "llama3",
      "{{ bos_token }}"
      "{% for message in messages %}"
      "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
      "{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}" },
    { "llama2",
      "{% if messages[0]['role'] == 'system' %}"
      "{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
      "{% else %}{% set loop_messages = messages %}{% set system_message = '' %}{% endif %}"
      "{% for message in loop_messages %}"
      "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
      "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
      "{% endif %}"
      "{% if loop.index0 == 0 and system_message %}"
      "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
      "{% else %}{% set content = message['content'] %}{% endif %}"
      "{% if message['role'] == 'user' %}{{ bos_token }}{{ '[INST] ' + content | trim + ' [/INST]' }}"
      "{% elif message['role'] == 'assistant' %}{{ ' ' + content | trim + ' ' }}{{ eos_token }}{% endif %}"
      "{% endfor %}" },
    { "phi3",
      "{% for message in messages %}"
      "{% if message['role'] == 'system' and message['content'] %}{{ '<|system|>\\n' + message['content'] + '<|end|>\\n' }}"
      "{% elif message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '<|end|>\\n' }}"
      "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n' + message['content'] + '<|end|>\\n' }}"
      "{% endif %}{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}" },
    { "gemma",
      "{{ bos_token }}"
      "{% if messages[0]['role'] == 'system' %}"
      "{% set system_prefix = messages[0]['content'] | trim + '\\n\\n' %}{% set loop_messages = messages[1:] %}"
      "{% else %}{% set system_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
      "{% for message in loop_messages %}"
      "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
      "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
      "{% endif %}"
      "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
      "{% set content = message['content'] | trim %}"
      "{% if loop.first %}{% set content = system_prefix + content %}{% endif %}"
      "{{ '<start_of_turn>' + role + '\\n' + content + '<end_of_turn>\\n' }}"
      "{% endfor %}"
      "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}" },
    { "zephyr",
      "{% for message in messages %}"
      "{{ '<|' + message['role'] + '|>\\n' + message['content'] }}{{ eos_token }}{{ '\\n' }}"
      "{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}" },
    { "mistral",
      "{{ bos_token }}{% set ns = namespace(system='') %}"
      "{% for message in messages %}"
      "{% if message['role'] == 'system' %}{% set ns.system = message['content'] + '\\n\\n' %}"
      "{% elif message['role'] == 'user' %}{{ '[INST] ' + ns.system + message['content'] + ' [/INST]' }}{% set ns.system = '' %}"
      "{% elif message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}{% endif %}"
      "{% endfor %}" },
};
/* END BUILTINS */

#define N_BUILTINS (sizeof builtins / sizeof builtins[0])

const char *fg_chat_builtin(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < N_BUILTINS; i++)
        if (strcasecmp(builtins[i].name, name) == 0) return builtins[i].src;
    return NULL;
}

const char *const *fg_chat_builtin_names(void)
{
    /* the same order as the table (tests check that every name resolves) */
    static const char *const names[] = { "chatml", "llama3", "llama2", "phi3", "gemma", "zephyr", "mistral", NULL };
    _Static_assert(sizeof names / sizeof names[0] == N_BUILTINS + 1, "builtin names out of step with the table");
    return names;
}
