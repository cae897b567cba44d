/* The server's life: create (model, tokenizer, session, budget, timeline, buffers),
 * start (timeline, generation thread, HTTP), graceful shutdown, free. */
#include "serve/serve-impl.h"
#include "serve/chat_prompt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

fg_serve_params fg_serve_default_params(void)
{
    fg_serve_params p = {
        .host = "127.0.0.1",
        .port = 8080,
        .max_queue = 16,
        .max_connections = 128,
        .max_body = 1 << 20,
        .shutdown_grace_ms = 5000,
        .timeline_interval_ms = 500,
        .quant = 0,
        .kv_type = FG_DT_F16,
        .mem_margin = -1,
    };
    return p;
}

/* "models/qwen2-0.5b.gguf" -> "qwen2-0.5b"; "models/Qwen2.5-1.5B/" -> "Qwen2.5-1.5B". */
static void model_name(const char *path, char *out, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    size_t len = n - b;
    if (len > 5 && !strncmp(path + n - 5, ".gguf", 5)) len -= 5;
    if (len >= cap) len = cap - 1;
    memcpy(out, path + b, len);
    out[len] = 0;
    if (!len) snprintf(out, cap, "model");
}

fg_status fg_serve_create(const char *model_path, const fg_serve_params *params, fg_server **out)
{
    *out = NULL;
    fg_serve_params p = params ? *params : fg_serve_default_params();
    fg_serve_params d = fg_serve_default_params();
    if (!model_path || !*model_path) return fg_error(FG_ERR_ARG, "no model given");
    if (!p.host || !*p.host) p.host = d.host;
    if (p.port < 0 || p.port > 65535) return fg_error(FG_ERR_ARG, "port %d is out of range 0..65535", p.port);
    if (p.max_queue <= 0) p.max_queue = d.max_queue;
    if (p.max_connections <= 0) p.max_connections = d.max_connections;
    if (!p.max_body) p.max_body = d.max_body;
    if (p.shutdown_grace_ms < 0) p.shutdown_grace_ms = 0;
    if (p.timeline_interval_ms <= 0) p.timeline_interval_ms = d.timeline_interval_ms;

    fg_server *s = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *s);
    if (!s) return fg_error(FG_ERR_NOMEM, "out of memory creating the server");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    s->params = p;
    s->created = (int64_t)time(NULL);
    fg_status st = FG_OK;
    s->model_path = fg_strdup(FG_MEM_RUNTIME, model_path);
    char *host = fg_strdup(FG_MEM_RUNTIME, p.host);
    char *key = p.api_key ? fg_strdup(FG_MEM_RUNTIME, p.api_key) : NULL;
    char *fmt = p.chat_format ? fg_strdup(FG_MEM_RUNTIME, p.chat_format) : NULL;
    s->params.host = host;
    s->params.api_key = key;
    s->params.chat_format = fmt;
    s->params.model_id = NULL;
    if (!s->model_path || !host || (p.api_key && !key) || (p.chat_format && !fmt)) {
        st = fg_error(FG_ERR_NOMEM, "out of memory creating the server");
        goto fail;
    }
    if (p.model_id && *p.model_id) snprintf(s->model_id, sizeof s->model_id, "%s", p.model_id);
    else model_name(model_path, s->model_id, sizeof s->model_id);

    /* the budget first: it covers the model's load too */
    if (p.mem_limit >= 0) {
        fg_budget_params bp = fg_budget_default_params();
        bp.limit = p.mem_limit;
        bp.margin = p.mem_margin;
        if ((st = fg_budget_create(&bp, &s->budget))) goto fail;
    }
    fg_model_params mp = fg_model_default_params();
    mp.n_threads = p.n_threads;
    mp.quant = p.quant;
    if ((st = fg_model_load(model_path, &mp, &s->model))) goto fail;
    const fg_gguf *g = fg_model_gguf(s->model);
    st = g ? fg_tok_load_gguf(g, &s->tok) : fg_tok_load_hf(fg_model_dir(s->model), &s->tok);
    if (st) goto fail;
    const fg_hparams *hp = fg_model_hparams(s->model);
    s->n_vocab = hp->n_vocab;
    if (fg_tok_vocab_size(s->tok) > s->n_vocab) {
        st = fg_error(FG_ERR_FORMAT, "the tokenizer has %d tokens but the model only %lld", fg_tok_vocab_size(s->tok),
                      (long long)s->n_vocab);
        goto fail;
    }
    fg_session_params sp = fg_session_default_params();
    sp.n_ctx = p.n_ctx;
    if (p.n_batch > 0) sp.n_batch = p.n_batch;
    sp.n_threads = p.n_threads;
    sp.kv_type = p.kv_type;
    sp.budget = s->budget; /* KV growth is checked when pages are committed */
    if ((st = fg_session_create(s->model, &sp, &s->sess))) goto fail;
    s->n_ctx = fg_session_n_ctx(s->sess);
    s->kv_bytes_per_token = (int64_t)fg_session_kv_bytes_per_token(s->sess);
    s->max_prompt = p.max_prompt_tokens > 0 && p.max_prompt_tokens < s->n_ctx ? p.max_prompt_tokens : s->n_ctx - 1;
    s->max_tokens = p.max_tokens > 0 && p.max_tokens < s->n_ctx ? p.max_tokens : s->n_ctx;
    if (s->max_prompt < 1) {
        st = fg_error(FG_ERR_ARG, "a context of %lld positions leaves no room for a prompt", (long long)s->n_ctx);
        goto fail;
    }
    if (s->budget) {
        /* the model, its tokenizer and the session are in memory now: do they fit? */
        fg_budget_info bi;
        fg_budget_refresh(s->budget);
        fg_budget_get_info(s->budget, &bi);
        if (bi.headroom < 0) {
            char u[32], l[32];
            st = fg_error(FG_ERR_BUDGET, "the loaded model needs %s, over the memory budget of %s (%s)",
                          fg_mem_fmt_bytes(bi.used, u, sizeof u), fg_mem_fmt_bytes(bi.limit, l, sizeof l), bi.describe);
            goto fail;
        }
    }

    s->logits = fg_malloc(FG_MEM_SCRATCH, (size_t)s->n_vocab * sizeof(float));
    s->piece_cap = fg_tok_stream_bufsize(s->tok);
    s->piece = fg_malloc(FG_MEM_RUNTIME, s->piece_cap);
    s->emit_cap = sizeof(((fg_stop *)0)->held) + s->piece_cap + 16;
    s->emit = fg_malloc(FG_MEM_RUNTIME, s->emit_cap);
    if (!s->logits || !s->piece || !s->emit) {
        st = fg_error(FG_ERR_NOMEM, "out of memory for the server's buffers");
        goto fail;
    }
    atomic_init(&s->kv_tokens, 0);

    fg_timeline_params tp = fg_timeline_default_params();
    tp.interval_ms = p.timeline_interval_ms;
    tp.capacity = 2048;
    tp.max_marks = 16;
    tp.budget = s->budget;
    if ((st = fg_timeline_create(&tp, &s->timeline))) goto fail;
    if ((st = chat_prompt_init(s))) goto fail;
    *out = s;
    return FG_OK;
fail:
    fg_serve_free(s);
    return st;
}

fg_status fg_serve_start(fg_server *s)
{
    fg_status st;
    if (s->daemon) return fg_error(FG_ERR_ARG, "the server is already started");
    if ((st = fg_timeline_start(s->timeline))) return st;
    fg_timeline_mark(s->timeline, "ready");
    if ((st = gen_start(s))) return st;
    return http_start(s);
}

int fg_serve_port(const fg_server *s) { return s->daemon ? s->port : 0; }

void fg_serve_get_info(const fg_server *s, fg_serve_info *out)
{
    memset(out, 0, sizeof *out);
    out->model_id = s->model_id;
    out->n_ctx = s->n_ctx;
    out->n_vocab = s->n_vocab;
    out->budget_limit = -1;
    if (s->budget) {
        fg_budget_info bi;
        fg_budget_get_info(s->budget, &bi);
        out->budget_limit = bi.limit;
        snprintf(out->budget_describe, sizeof out->budget_describe, "%s", bi.describe);
    }
    out->weight_bytes = (int64_t)fg_model_weight_bytes(s->model);
}

void fg_serve_shutdown(fg_server *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->stopping) {
        s->stopping = true;
        s->stop_deadline = srv_now() + s->params.shutdown_grace_ms / 1000.0;
        /* queued requests never start: their connections answer 503 */
        for (job *j = s->q_head; j; j = j->next) {
            j->state = JOB_DONE;
            j->finish = FIN_REFUSED;
            pthread_cond_broadcast(&j->cond);
        }
        s->q_head = s->q_tail = NULL;
        s->n_queued = 0;
    }
    pthread_mutex_unlock(&s->lock);
}

bool fg_serve_wait(fg_server *s, int timeout_ms)
{
    double until = srv_now() + timeout_ms / 1000.0;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        bool idle = !s->running && !s->q_head && s->n_open == 0;
        pthread_mutex_unlock(&s->lock);
        if (idle) break;
        if (timeout_ms >= 0 && srv_now() >= until) return false;
        usleep(20 * 1000);
    }
    http_stop(s);
    return true;
}

void fg_serve_free(fg_server *s)
{
    if (!s) return;
    if (s->daemon) {
        fg_serve_shutdown(s);
        pthread_mutex_lock(&s->lock);
        s->closing = true;
        if (s->running) atomic_store(&s->running->cancel, true);
        pthread_mutex_unlock(&s->lock);
        http_stop(s); /* joins the connection threads; their requests are cancelled */
    }
    gen_stop(s);
    if (s->timeline) fg_timeline_free(s->timeline);
    chat_prompt_free(s);
    fg_free(s->logits);
    fg_free(s->piece);
    fg_free(s->emit);
    fg_session_free(s->sess);
    fg_tok_free(s->tok);
    fg_model_free(s->model);
    fg_budget_free(s->budget);
    fg_free(s->model_path);
    fg_free((char *)s->params.host);
    fg_free((char *)s->params.api_key);
    fg_free((char *)s->params.chat_format);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    fg_free(s);
}
