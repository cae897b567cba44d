/* frugal chat MODEL: interactive multi-turn chat with the model's own chat template
 * (or a built-in one with --chat-format). Each turn renders the whole conversation;
 * the KV cache keeps the common prefix, so only the new turn is evaluated.
 * Commands: /reset (forget the conversation), /quit (or Ctrl-D). */
#include "cli/cli.h"
#include "mem/mem.h"
#include "token/chat.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct turn {
    char *role;
    char *content;
} turn;

typedef struct history {
    turn *turns;
    size_t n, cap;
} history;

static bool history_add(history *h, const char *role, const char *content, size_t len)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        turn *t = realloc(h->turns, cap * sizeof *t);
        if (!t) return false;
        h->turns = t;
        h->cap = cap;
    }
    h->turns[h->n].role = strdup(role);
    h->turns[h->n].content = strndup(content, len);
    if (!h->turns[h->n].role || !h->turns[h->n].content) return false;
    h->n++;
    return true;
}

static void history_clear(history *h, size_t keep)
{
    while (h->n > keep) {
        h->n--;
        free(h->turns[h->n].role);
        free(h->turns[h->n].content);
    }
}

typedef struct reply {
    char *buf;
    size_t len, cap;
} reply;

static bool collect(const char *text, size_t len, int32_t id, void *user)
{
    (void)id;
    reply *r = user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (r->len + len + 1 > r->cap) {
        size_t cap = (r->cap + len + 1) * 2;
        char *b = realloc(r->buf, cap);
        if (!b) return false;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, text, len);
    r->len += len;
    r->buf[r->len] = 0;
    return true;
}

static void usage(void)
{
    printf("usage: frugal chat MODEL [options]\n"
           "  --system TEXT      system prompt\n"
           "  --chat-format NAME use a built-in format instead of the model's template:");
    for (const char *const *n = fg_chat_builtin_names(); *n; n++) printf(" %s", *n);
    printf("\n  --no-think         Qwen3: enable_thinking=false\n"
           "  -n N               most tokens per reply (default 1024)\n"
           "  --ctx N            context size (default min(trained, 4096))\n"
           "  --threads N        threads (default: physical cores)\n"
           "  --quant TYPE       quantize while loading (q8_0, q4_k_m, ...)\n"
           "  --mem-limit SIZE   memory limit (default: the cgroup's, else MemAvailable)\n"
           "  --fit              choose the quantization and context that fit\n"
           "%s"
           "commands while chatting: /reset, /quit (or Ctrl-D)\n",
           cli_sampling_help());
}

int cmd_chat(int argc, char **argv)
{
    const char *model_path = NULL, *system = NULL, *format = NULL;
    long long max_tokens = 1024;
    fg_plan_params plan = fg_plan_default_params();
    int thinking = -1;
    fg_sampler_params spar = fg_sampler_default_params();
    spar.temperature = 0.7f;
    spar.seed = (uint64_t)getpid();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int so = cli_sampling_option(argc, argv, &i, &spar);
        if (so == 0) so = cli_plan_option(argc, argv, &i, &plan);
        if (so < 0) return 1;
        if (so > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
        if (!strcmp(a, "--system") || !strcmp(a, "--chat-format") || !strcmp(a, "-n")) {
            if (!v) return cli_fail("chat: %s needs a value", a);
            i++;
            if (!strcmp(a, "--system")) system = v;
            else if (!strcmp(a, "--chat-format")) format = v;
            else if (!strcmp(a, "-n") && !cli_parse_int(v, 1, 1 << 24, &max_tokens)) return cli_fail("chat: -n wants a positive count, got '%s'", v);
        } else if (!strcmp(a, "--no-think")) {
            thinking = 0;
        } else if (a[0] == '-') {
            return cli_fail("chat: unknown option '%s'", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            return cli_fail("chat: unexpected argument '%s'", a);
        }
    }
    if (!model_path) return cli_fail("chat: no model given (usage: frugal chat MODEL)");

    int rc = 1;
    fg_model *m = NULL;
    fg_session *s = NULL;
    fg_tokenizer *tok = NULL;
    fg_sampler *smp = NULL;
    fg_chat_template *tpl = NULL;
    history h = {0};
    char *line = NULL;
    size_t line_cap = 0;
    fg_budget *budget = NULL;
    if (cli_plan_check(model_path, &plan, false)) return 1;
    fg_budget_params bp = fg_budget_default_params();
    bp.limit = plan.mem_limit;
    bp.margin = plan.margin;
    fg_model_params mp = fg_model_default_params();
    mp.n_threads = plan.n_threads;
    mp.quant = plan.quant;
    fg_status st = fg_budget_create(&bp, &budget);
    if (st) { cli_fail_status(st, "memory budget"); goto done; }
    st = fg_model_load(model_path, &mp, &m);
    if (st) { cli_fail_status(st, "cannot load %s", model_path); goto done; }
    if ((st = cli_load_tokenizer(m, &tok))) { cli_fail_status(st, "cannot load the tokenizer"); goto done; }
    const char *src = format ? fg_chat_builtin(format) : fg_tok_chat_template(tok);
    if (format && !src) { cli_fail("chat: unknown chat format '%s'", format); goto done; }
    if (!src) { cli_fail("chat: the model has no chat template; choose one with --chat-format"); goto done; }
    if ((st = fg_chat_template_compile(src, strlen(src), &tpl))) {
        cli_fail_status(st, "cannot use the chat template (try --chat-format)");
        goto done;
    }
    fg_session_params sp = fg_session_default_params();
    sp.n_ctx = plan.n_ctx;
    sp.n_batch = plan.n_batch;
    sp.n_threads = plan.n_threads;
    sp.budget = budget;
    sp.kv_type = plan.kv_type;
    if ((st = fg_session_create(m, &sp, &s))) { cli_fail_status(st, "cannot create a session"); goto done; }
    if ((st = fg_sampler_create(&spar, fg_model_hparams(m)->n_vocab, &smp))) { cli_fail_status(st, "sampler"); goto done; }
    size_t base = 0;
    if (system) {
        if (!history_add(&h, "system", system, strlen(system))) goto oom;
        base = 1;
    }
    char bos[256] = "", eos[256] = "";
    if (fg_tok_bos(tok) >= 0) {
        size_t n = fg_tok_token_bytes(tok, fg_tok_bos(tok), bos, sizeof bos - 1);
        bos[n < sizeof bos ? n : sizeof bos - 1] = 0;
    }
    if (fg_tok_eos(tok) >= 0) {
        size_t n = fg_tok_token_bytes(tok, fg_tok_eos(tok), eos, sizeof eos - 1);
        eos[n < sizeof eos ? n : sizeof eos - 1] = 0;
    }
    bool tty = isatty(0);
    for (;;) {
        if (tty) {
            printf("> ");
            fflush(stdout);
        }
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got < 0) {
            if (tty) printf("\n");
            break;
        }
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
        if (!strcmp(line, "/reset")) {
            history_clear(&h, base);
            fg_session_truncate(s, 0);
            printf("(conversation reset)\n");
            continue;
        }
        if (got == 0) continue;
        if (!history_add(&h, "user", line, (size_t)got)) goto oom;
        fg_chat_message *msgs = calloc(h.n, sizeof *msgs);
        if (!msgs) goto oom;
        for (size_t i = 0; i < h.n; i++) msgs[i] = (fg_chat_message){h.turns[i].role, h.turns[i].content};
        fg_chat_options co = fg_chat_default_options();
        co.add_generation_prompt = true;
        co.bos_token = bos;
        co.eos_token = eos;
        co.enable_thinking = thinking;
        char *prompt = NULL;
        size_t plen = 0;
        st = fg_chat_template_render(tpl, msgs, h.n, &co, &prompt, &plen);
        free(msgs);
        if (st) {
            cli_fail_status(st, "chat template");
            history_clear(&h, h.n - 1);
            continue;
        }
        int32_t *ids = NULL;
        size_t n_ids = 0;
        /* the template writes BOS itself where the model wants one */
        st = fg_tok_encode_alloc(tok, prompt, plen, true, false, &ids, &n_ids);
        fg_free(prompt);
        if (st) { cli_fail_status(st, "cannot tokenize the conversation"); goto done; }
        fg_gen_params gp = {.max_tokens = max_tokens, .stop_at_eog = true, .skip_special = true};
        fg_gen_result res;
        reply r = {0};
        st = fg_generate(s, tok, smp, ids, (int64_t)n_ids, &gp, collect, &r, &res);
        fg_free(ids);
        printf("\n");
        if (st) {
            free(r.buf);
            cli_fail_status(st, "generation failed");
            if (st == FG_ERR_CONTEXT) {
                printf("(the conversation no longer fits the context: /reset to start over)\n");
                history_clear(&h, h.n - 1);
                continue;
            }
            goto done;
        }
        if (res.finish == FG_FINISH_CONTEXT || res.finish == FG_FINISH_BUDGET)
            printf("(reply cut: %s)\n", fg_finish_name(res.finish));
        if (!history_add(&h, "assistant", r.buf ? r.buf : "", r.len)) {
            free(r.buf);
            goto oom;
        }
        free(r.buf);
    }
    rc = 0;
    goto done;
oom:
    cli_fail("chat: out of memory");
done:
    free(line);
    history_clear(&h, 0);
    free(h.turns);
    fg_chat_template_free(tpl);
    fg_sampler_free(smp);
    fg_tok_free(tok);
    fg_session_free(s);
    fg_model_free(m);
    fg_budget_free(budget);
    return rc;
}
