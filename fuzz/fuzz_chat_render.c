/* Fuzz target: the real chat templates of tests/data/templates (Qwen2.5, Qwen3, Llama
 * 3.2, SmolLM3, Gemma 2, Phi-3.5) and the built-in formats, rendering fuzzed
 * conversations. Input: byte 0 picks the template, byte 1 the options (generation
 * prompt, thinking, bos/eos defined); the rest is split at NUL bytes into messages,
 * each message's first byte picking its role and the rest its content (which may hold
 * template syntax, JSON, invalid UTF-8: it must be rendered as data, never run).
 * Invariants: success, or a one-line error (templates raise_exception on role orders
 * they reject); output NUL-terminated; no tagged byte kept. */
#include "fuzz_util.h"
#include "token/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const files[] = {
    "Qwen-Qwen2.5-7B-Instruct.jinja", "Qwen-Qwen3-0.6B.jinja", "meta-llama-Llama-3.2-3B-Instruct.jinja",
    "HuggingFaceTB-SmolLM3-3B.jinja", "google-gemma-2-2b-it.jinja", "microsoft-Phi-3.5-mini-instruct.jinja",
};
#define N_FILES (sizeof files / sizeof files[0])
#define MAX_TEMPLATES 32
static fg_chat_template *tmpl[MAX_TEMPLATES];
static size_t n_tmpl;

static void add(const char *src, size_t len, const char *what)
{
    if (n_tmpl == MAX_TEMPLATES) return;
    if (fg_chat_template_compile(src, len, &tmpl[n_tmpl]) != FG_OK) fz_fail("%s: %s", what, fg_last_error());
    n_tmpl++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < N_FILES; i++) {
        char rel[256];
        size_t len;
        snprintf(rel, sizeof rel, "tests/data/templates/%s", files[i]);
        char *src = fz_read_source_file(rel, &len);
        add(src, len, files[i]);
        free(src);
    }
    for (const char *const *n = fg_chat_builtin_names(); *n; n++) {
        const char *src = fg_chat_builtin(*n);
        add(src, strlen(src), *n);
    }
    return 0;
}

static const char *const roles[] = {"system", "user", "assistant", "tool", "developer", "ipython", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    const fg_chat_template *t = tmpl[data[0] % n_tmpl];
    uint8_t flags = data[1];
    /* NUL-separated messages: copy so each content is a C string */
    char *buf = malloc(size - 2 + 1);
    memcpy(buf, data + 2, size - 2);
    buf[size - 2] = 0;
    fg_chat_message msgs[64];
    size_t n = 0;
    for (char *p = buf; p <= buf + (size - 2) && n < 64;) {
        size_t l = strlen(p);
        const char *role = roles[l ? (uint8_t)p[0] % (sizeof roles / sizeof roles[0]) : 1];
        msgs[n].role = role;
        msgs[n].content = l ? p + 1 : ((flags & 8) ? NULL : "");
        n++;
        p += l + 1;
    }
    fg_chat_options opt = fg_chat_default_options();
    opt.add_generation_prompt = flags & 1;
    opt.enable_thinking = (flags & 6) == 0 ? -1 : (flags & 6) == 2 ? 0 : 1;
    opt.bos_token = (flags & 16) ? "<|begin_of_text|>" : NULL;
    opt.eos_token = (flags & 32) ? "<|im_end|>" : NULL;
    opt.now = 1721980800;

    fz_mem_mark();
    char *out = NULL;
    size_t len = 0;
    fg_status st = fg_chat_template_render(t, msgs, n, &opt, &out, &len);
    fz_check_status(st, "fg_chat_template_render");
    if (!st) {
        if (!out || out[len] != 0) fz_fail("render output is not NUL-terminated at its length");
    }
    fg_free(out);
    fz_mem_check("chat render");
    free(buf);
    return 0;
}
