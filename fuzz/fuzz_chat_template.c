/* Fuzz target: the chat-template interpreter on hostile templates. The input is the
 * template source: compile, then render it with a fixed conversation and variables
 * (bos/eos, enable_thinking, tools as JSON, a fixed clock), under tighter step and memory
 * limits than the defaults so each input stays fast. Invariants: a failure has a one-line
 * message; output is NUL-terminated with the stated length; the render arena is returned
 * (no tagged byte kept). */
#include "fuzz_util.h"
#include "token/chat.h"

#include <string.h>

static const fg_chat_message conv[] = {
    {"system", "You are terse."},
    {"user", "Hi {{ there }} {% raw %}\xc3\xa9\xf0\x9f\x98\x80"},
    {"assistant", "<think>\nhmm\n</think>\n\nHello."},
    {"user", NULL},
    {"tool", "{\"a\": [1, 2.5, null, true]}"},
};
static const fg_chat_var vars[] = {
    {"tools", FG_CHAT_VAR_JSON,
     "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"d\","
     "\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}}}}}]"},
    {"date_string", FG_CHAT_VAR_STRING, "26 Jul 2024"},
    {"n", FG_CHAT_VAR_INT, "-7"},
    {"flag", FG_CHAT_VAR_BOOL, "true"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_mem_mark();
    fg_chat_template *t = NULL;
    fg_status st = fg_chat_template_compile((const char *)data, size, &t);
    fz_check_status(st, "fg_chat_template_compile");
    if (!st) {
        fg_chat_options opt = fg_chat_default_options();
        opt.add_generation_prompt = true;
        opt.bos_token = "<s>";
        opt.eos_token = "</s>";
        opt.enable_thinking = 0;
        opt.now = 1721980800;
        opt.vars = vars;
        opt.n_vars = sizeof vars / sizeof vars[0];
        opt.max_steps = 200000;
        opt.max_bytes = 4u << 20;
        char *out = NULL;
        size_t len = 0;
        st = fg_chat_template_render(t, conv, sizeof conv / sizeof conv[0], &opt, &out, &len);
        fz_check_status(st, "fg_chat_template_render");
        if (!st) {
            if (!out || out[len] != 0) fz_fail("render output is not NUL-terminated at its length");
            fz_touch(out, len);
        } else if (out) {
            fz_fail("a failed render returned output");
        }
        fg_free(out);
        fg_chat_template_free(t);
    }
    fz_mem_check("chat template compile/render");
    return 0;
}
