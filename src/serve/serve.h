/* serve: an HTTP server for one model, with OpenAI's API shapes so existing clients
 * work unchanged, Prometheus metrics, a live memory view and an embedded chat page.
 *
 * Routes
 *   POST /v1/chat/completions   chat (messages rendered with the model's chat template)
 *   POST /v1/completions        plain text completion
 *        both: stream (server-sent events) or not; temperature, top_p, max_tokens
 *        (max_completion_tokens), stop (string or array), seed, n=1, stream_options.
 *        include_usage, presence/frequency_penalty; extensions top_k, min_p,
 *        repeat_penalty, return_token_ids (prompt_token_ids and token_ids in the answer).
 *        finish_reason: "stop" (end-of-generation token or stop string), "length"
 *        (max_tokens), "context_length" (the context is full), "memory_budget" (the KV
 *        cache may not grow: the budget is spent), "shutdown" (the server is stopping).
 *   GET  /v1/models, /v1/models/{id}, /health, /metrics (Prometheus text format),
 *        /v1/memory (breakdown + recent timeline as JSON), / (the chat page).
 * Errors have OpenAI's shape {"error":{"message","type","param","code"}}: 400 for bad
 * JSON, wrong types, missing fields and unsupported values, 401 for a missing or wrong
 * API key, 404 unknown route, 405 wrong method, 413 body too large, 429 queue full,
 * 503 shutting down or out of memory budget.
 *
 * Concurrency: libmicrohttpd runs a thread per connection (bounded). Requests are parsed,
 * rendered and tokenized on their connection's thread, then queue (bounded) for the one
 * generation thread, which serves them in order with a single session: the KV cache keeps
 * the previous conversation, and a prompt that shares a prefix with it (the next turn of
 * a chat) evaluates only what is new. A client that disconnects, while waiting or while
 * its answer is generated, cancels its request and frees its slot. The memory budget
 * (fg_budget) covers the whole process: KV growth is checked before every step.
 *
 * Shutdown: fg_serve_shutdown() makes new requests answer 503, refuses queued ones, lets
 * the running generation go on for shutdown_grace_ms at most (then it ends with
 * finish_reason "shutdown"), so every stream ends with a final chunk and [DONE]. */
#ifndef FG_SERVE_H
#define FG_SERVE_H

#include "core/core.h"

typedef struct fg_serve_params {
    const char *host;          /* address to bind: "127.0.0.1" by default, "::1", "0.0.0.0" */
    int port;                  /* 0: any free port (see fg_serve_port); default 8080 */
    const char *api_key;       /* when set, /v1/... and /metrics need "Authorization: Bearer KEY" */
    const char *model_id;      /* the model's name in the API; NULL: the file or folder name */
    const char *chat_format;   /* NULL: the model's chat template; else a built-in format
                                * (chatml, llama3, llama2, phi3, gemma, zephyr, mistral) */
    int64_t n_ctx;             /* context positions; 0: min(trained context, 4096) */
    int n_threads;             /* 0: the machine's physical cores */
    int n_batch;               /* prefill chunk; 0: 256 */
    int max_queue;             /* requests that may wait behind the running one; default 16 */
    int max_connections;       /* open connections (each a thread); default 128 */
    size_t max_body;           /* request body bytes; default 1 MiB */
    int64_t max_prompt_tokens; /* 0: n_ctx - 1 */
    int64_t max_tokens;        /* largest max_tokens a request may ask for (and the default
                                * when it asks for none); 0: n_ctx */
    int64_t mem_limit;         /* > 0: budget in bytes; 0: detect (cgroup / available); < 0: none */
    int shutdown_grace_ms;     /* how long a running generation may go on after shutdown
                                * begins; default 5000 */
    int timeline_interval_ms;  /* memory sampling interval; default 500 */
    int quant;                 /* fg_quant_mix applied while loading (0: as stored) */
    fg_dtype kv_type;          /* KV cache type; default F16 */
    int64_t mem_margin;        /* budget margin; < 0: the budget's default */
} fg_serve_params;

fg_serve_params fg_serve_default_params(void);

typedef struct fg_server fg_server;

/* Loads the model (GGUF file or HF directory) and its tokenizer, creates the session,
 * the budget and the memory timeline. Binds nothing yet. */
fg_status fg_serve_create(const char *model_path, const fg_serve_params *params, fg_server **out);
/* Binds the address and starts serving (the HTTP threads and the generation thread).
 * FG_ERR_IO naming the address when it cannot be bound. */
fg_status fg_serve_start(fg_server *s);
/* The bound port (useful with port 0); 0 before start. */
int fg_serve_port(const fg_server *s);

typedef struct fg_serve_info {
    const char *model_id;
    int64_t n_ctx, n_vocab;
    int64_t budget_limit;      /* -1: no budget */
    char budget_describe[160];
    int64_t weight_bytes;
} fg_serve_info;
void fg_serve_get_info(const fg_server *s, fg_serve_info *out);

/* Begins a graceful shutdown (see above); returns at once. Thread-safe, idempotent. */
void fg_serve_shutdown(fg_server *s);
/* After fg_serve_shutdown: waits up to timeout_ms (< 0: forever) for every request to
 * end, then stops the HTTP daemon. True when it has stopped. */
bool fg_serve_wait(fg_server *s, int timeout_ms);
/* Stops whatever still runs (in-flight connections are closed) and frees everything. */
void fg_serve_free(fg_server *s);

#endif
