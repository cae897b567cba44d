/* serve internals: the server, the request queue and jobs, shared by
 *   http.c     libmicrohttpd daemon, routing, bodies, auth, error responses
 *   api.c      OpenAI request parsing/validation and response JSON / SSE chunks
 *   gen.c      the generation thread: queue, prefix reuse of the KV cache, sampling
 *   stats.c    /health, /v1/models, /metrics, /v1/memory
 *   server.c   create / start / shutdown / free
 *   json_out.c JSON string escaping into fixed buffers (no allocation)
 *
 * Locking: one mutex (srv->lock) guards the queue, every job's progress fields and the
 * counters; each job has its own condition variable so that a token wakes only the
 * connection that waits for it. */
#ifndef FG_SERVE_IMPL_H
#define FG_SERVE_IMPL_H

#include <stdarg.h>
#include "serve/serve.h"
#include "mem/mem.h"
#include "model/model.h"
#include "sample/sample.h"
#include "token/token.h"

#include <cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

/* The embedded page (generated from src/serve/web/ by embed.cmake); ends with path NULL. */
typedef struct fg_web_asset {
    const char *path;          /* "/index.html" */
    const char *type;          /* Content-Type */
    const unsigned char *data;
    size_t len;
} fg_web_asset;
extern const fg_web_asset fg_web_assets[];

/* ---- jobs -------------------------------------------------------------------------- */
typedef enum job_kind { JOB_CHAT = 0, JOB_COMPLETION } job_kind;
typedef enum job_state { JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE } job_state;
typedef enum job_finish {
    FIN_NONE = 0,
    FIN_STOP,        /* end-of-generation token or a stop string */
    FIN_LENGTH,      /* max_tokens */
    FIN_CONTEXT,     /* the context is full */
    FIN_BUDGET,      /* the memory budget refused KV growth */
    FIN_SHUTDOWN,    /* cut by the shutdown grace period */
    FIN_CANCELLED,   /* the client went away */
    FIN_REFUSED,     /* never started: refused (shutdown) */
    FIN_ERROR,       /* evaluation failed: see job->error */
} job_finish;
const char *job_finish_str(job_finish f);

#define JOB_MAX_STOP 4            /* OpenAI allows up to 4 stop sequences */
#define JOB_MAX_STOP_LEN 128      /* bytes per stop sequence (fits fg_stop's held buffer) */

typedef struct job {
    /* The request: filled on the connection's thread before it is queued, read-only after. */
    job_kind kind;
    bool stream, include_usage, return_ids;
    int32_t *prompt;              /* fg_malloc'd token ids */
    int64_t n_prompt;
    int64_t max_tokens;
    fg_sampler_params sampling;   /* temperature <= 0: greedy */
    bool penalties;               /* any penalty on: the sampler sees the prompt */
    char stop_buf[JOB_MAX_STOP][JOB_MAX_STOP_LEN + 1];
    int n_stop;
    char id[40];                  /* "chatcmpl-..." / "cmpl-..." */
    int64_t created;              /* unix seconds */

    /* Progress: guarded by the server's lock. */
    job_state state;
    job_finish finish;
    char *text;                   /* generated text so far (stop strings held back/cut) */
    size_t len, cap;
    int32_t *ids;                 /* generated ids (return_token_ids only) */
    int64_t n_ids, ids_cap;
    int64_t n_gen;                /* completion tokens sampled (the eog token excluded) */
    int64_t n_reused;             /* prompt tokens found in the KV cache */
    char error[256];
    double t_queued, t_start, t_first, t_end; /* seconds (monotonic) */
    pthread_cond_t cond;
    struct job *next;             /* queue link */

    atomic_bool cancel;           /* set by the connection (disconnect) */
} job;

job *job_new(void);
void job_free(job *j);

/* ---- the server -------------------------------------------------------------------- */
#define SRV_N_ROUTES 9
#define SRV_N_CODES 10

struct fg_server {
    fg_serve_params params;
    char *model_path;
    char model_id[128];
    int64_t created;              /* unix seconds at load */

    fg_model *model;
    fg_tokenizer *tok;
    fg_session *sess;
    fg_budget *budget;
    fg_timeline *timeline;
    struct fg_chat_template *chat_tmpl; /* NULL: the model has none (chat answers 400) */
    char *bos_text, *eos_text;    /* the template's bos_token / eos_token */
    int64_t n_ctx, n_vocab, max_prompt, max_tokens;
    int64_t kv_bytes_per_token;   /* committed per position, all layers, K and V */

    struct MHD_Daemon *daemon;
    int port;

    /* generation thread */
    pthread_t gen_thread;
    bool gen_started;
    float *logits;                /* n_vocab */
    atomic_llong kv_tokens;       /* positions in the KV cache, for readers on other threads */
    char *piece;                  /* one decoded token */
    size_t piece_cap;
    char *emit;                   /* stop-filtered output of one step */
    size_t emit_cap;

    /* guarded by lock */
    pthread_mutex_t lock;
    pthread_cond_t wake;          /* the generation thread waits for work on it */
    job *q_head, *q_tail;
    int n_queued;                 /* waiting, not running */
    job *running;
    bool stopping;                /* shutdown begun: new work refused */
    bool closing;                 /* fg_serve_free: waiting connections give up */
    double stop_deadline;         /* monotonic seconds: running generation cut then */
    bool gen_exit;                /* the generation thread should exit */
    int n_open;                   /* requests between first call and completion */

    /* counters (guarded by lock) */
    uint64_t http_count[SRV_N_ROUTES][SRV_N_CODES];
    uint64_t prompt_tokens, completion_tokens, reused_tokens;
    uint64_t gen_requests[FIN_ERROR + 1];
    double prefill_seconds, decode_seconds;
    uint64_t prefill_tokens_timed, decode_tokens_timed;
    double last_decode_tps, last_prefill_tps;
};

/* Monotonic time in seconds. */
double srv_now(void);

/* gen.c */
fg_status gen_start(fg_server *s);
void gen_stop(fg_server *s);
/* Queues a job. 0 when queued; else the HTTP status to answer (429 full, 503 stopping). */
int gen_submit(fg_server *s, job *j);
/* The connection is done with the job: a queued job leaves the queue, a running one is
 * cancelled and waited for (the generation thread checks between steps). Then frees it. */
void gen_release(fg_server *s, job *j);

/* ---- HTTP -------------------------------------------------------------------------- */
typedef enum srv_route {
    ROUTE_NONE = 0, ROUTE_CHAT, ROUTE_COMPLETIONS, ROUTE_MODELS, ROUTE_MODEL, ROUTE_HEALTH,
    ROUTE_METRICS, ROUTE_MEMORY, ROUTE_WEB,
} srv_route;
const char *srv_route_name(srv_route r);
/* Index into http_count's second dimension for a status code. */
int srv_code_index(int status);
extern const int srv_codes[SRV_N_CODES];

fg_status http_start(fg_server *s);
void http_stop(fg_server *s);

/* ---- the API (api.c) ---------------------------------------------------------------- */
typedef struct api_error {
    int status;
    const char *type;
    const char *param;
    const char *code;
    char message[512];
} api_error;

/* Fills e (the message from fmt and ap). */
void api_error_vset(api_error *e, int status, const char *type, const char *param, const char *code,
                    const char *fmt, va_list ap);

/* The checks made on a request's headers, before its body is read: the route (from the
 * URL libmicrohttpd has split from its query string), the method, shutdown (`stopping`),
 * the API key (authorization: the Authorization header or NULL) and the declared
 * Content-Length (NULL when absent). 0 when the request may go on; else the HTTP status
 * to answer, with e filled. *route and *allow (the methods the route takes, for a 405's
 * Allow header) are set in every case. Needs no model, connection or lock: the request
 * fuzz target calls it as the server does. */
int http_check_headers(fg_server *s, bool stopping, const char *method, const char *url, const char *authorization,
                       const char *content_length, srv_route *route, const char **allow, api_error *e);
/* A query argument as a number in [lo, hi]; def when absent, empty, not a number or out of range. */
double http_query_double(const char *v, double def, double lo, double hi);
/* OpenAI's error body {"error":{"message","type","param","code"}}; param/code may be NULL. */
cJSON *http_error_json(const char *type, const char *param, const char *code, const char *msg);

/* A response with a JSON body (cJSON printed; the tree is deleted). */
enum MHD_Result http_send_json(fg_server *s, struct MHD_Connection *c, srv_route r, int status, cJSON *body);
/* OpenAI's error shape. type: "invalid_request_error", "authentication_error", ...;
 * param/code may be NULL. */
enum MHD_Result http_send_error(fg_server *s, struct MHD_Connection *c, srv_route r, int status,
                                const char *type, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
enum MHD_Result http_send_text(fg_server *s, struct MHD_Connection *c, srv_route r, int status,
                               const char *type, char *body, size_t len); /* takes body (malloc) */

/* Parses and validates a request body into a job (rendered and tokenized). On failure
 * returns NULL with *err filled (HTTP status, message, param, code). Uses the server's
 * tokenizer, chat template and limits only (no model, no lock). */
job *api_parse_request(fg_server *s, srv_route r, const char *body, size_t len, api_error *err);
/* The non-streamed answer of a finished job. */
cJSON *api_response_json(fg_server *s, const job *j);

/* SSE: the state of one streamed answer. Content chunks are written straight into the
 * send buffer (a fixed prefix, the escaped text, a fixed suffix); the closing chunks are
 * built once at the end. */
typedef struct sse_state {
    int phase;                    /* see api.c */
    size_t sent;                  /* bytes of job->text already sent */
    char prefix[1024];            /* 'data: {"id":...,"delta":{"content":"' */
    size_t n_prefix;
    const char *suffix;
    size_t n_suffix;
    char *tail;                   /* the closing chunks and [DONE] (fg_malloc) */
    size_t n_tail, tail_off;
} sse_state;
/* Writes the next piece of a streamed answer into buf (at most max bytes). Returns the
 * bytes written, 0 when it must wait for more text, -1 when the stream is complete.
 * Called with the server lock held. */
ssize_t api_sse_next(fg_server *s, const job *j, sse_state *st, char *buf, size_t max);
void api_sse_free(sse_state *st);

/* ---- stats.c ----------------------------------------------------------------------- */
cJSON *stats_health(fg_server *s, int *status);
cJSON *stats_models(fg_server *s);
cJSON *stats_model(fg_server *s);
cJSON *stats_memory(fg_server *s, double window_s, int max_points);
/* Prometheus text; malloc'd, length in *len. NULL when out of memory. */
char *stats_metrics(fg_server *s, size_t *len);

/* ---- json_out.c ---------------------------------------------------------------------- */
/* Writes s[0..n) as the inside of a JSON string into out (cap bytes). Invalid UTF-8 becomes
 * U+FFFD. Stops before a character that would not fit; *used receives the input bytes
 * consumed. Returns bytes written. */
size_t json_escape(const char *s, size_t n, char *out, size_t cap, size_t *used);
/* The length of the longest prefix of s[0..n) that ends on a UTF-8 character boundary. */
size_t utf8_boundary(const char *s, size_t n);
/* Copies s[0..n) to out (capacity 3n + 1 suffices) with invalid UTF-8 and NUL bytes
 * replaced by U+FFFD; returns the length (out is not terminated). */
size_t utf8_sanitize(const char *s, size_t n, char *out);

#endif
