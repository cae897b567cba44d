/* HTTP with libmicrohttpd: a thread per connection (bounded by max_connections), so a
 * connection may block while its request waits in the queue or its answer is generated.
 * While it waits it peeks at its socket every 250 ms: a client that has gone away
 * (orderly close or reset) cancels its request, which frees its place in the queue or
 * stops its generation at the next step.
 *
 * Request life: the access handler is called first with the headers (route, method,
 * API key, Content-Length, shutdown are checked there and answered at once), then with
 * pieces of the body (kept up to max_body), then once more to answer. A request context
 * lives until both libmicrohttpd's completion notice and, for a stream, the response's
 * release have dropped their reference. */
#define _GNU_SOURCE /* POLLRDHUP */
#include "serve/serve-impl.h"

#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SSE_BLOCK (32 * 1024)
#define WAIT_SLICE_MS 250
#define TRIM_AFTER (256 * 1024)

typedef struct request {
    fg_server *srv;
    srv_route route;
    atomic_int refs;
    int fd;                 /* the connection's socket (peeked at, never read) */
    bool answered;          /* a response is queued: ignore the rest of the body */
    bool too_big;
    char *body;
    size_t len, cap;
    size_t body_peak;       /* the body's size before it was freed */
    job *job;
    sse_state sse;
} request;

const int srv_codes[SRV_N_CODES] = {200, 400, 401, 404, 405, 413, 429, 500, 503, 0};

int srv_code_index(int status)
{
    for (int i = 0; i < SRV_N_CODES - 1; i++)
        if (srv_codes[i] == status) return i;
    return SRV_N_CODES - 1;
}

const char *srv_route_name(srv_route r)
{
    static const char *names[SRV_N_ROUTES] = {"other", "/v1/chat/completions", "/v1/completions", "/v1/models",
                                              "/v1/models/{id}", "/health", "/metrics", "/v1/memory", "/"};
    return (unsigned)r < SRV_N_ROUTES ? names[r] : "other";
}

static void count(fg_server *s, srv_route r, int status)
{
    pthread_mutex_lock(&s->lock);
    s->http_count[r][srv_code_index(status)]++;
    pthread_mutex_unlock(&s->lock);
}

/* ---- responses ------------------------------------------------------------------------- */
static enum MHD_Result queue(fg_server *s, struct MHD_Connection *c, srv_route r, int status, struct MHD_Response *resp,
                             const char *type, const char *h1, const char *v1)
{
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (h1) MHD_add_response_header(resp, h1, v1);
    pthread_mutex_lock(&s->lock);
    bool stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    if (stopping) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    count(s, r, status);
    return ret;
}

static enum MHD_Result send_json_h(fg_server *s, struct MHD_Connection *c, srv_route r, int status, cJSON *body,
                                   const char *h1, const char *v1)
{
    char *txt = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    /* cJSON's memory is the tagged allocator's: freed with cJSON_free, not free() */
    struct MHD_Response *resp = txt ? MHD_create_response_from_buffer_with_free_callback(strlen(txt), txt, cJSON_free) : NULL;
    if (txt && !resp) cJSON_free(txt);
    if (!resp) {
        static const char oom[] =
            "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        return queue(s, c, r, 500,
                     MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT),
                     "application/json", NULL, NULL);
    }
    return queue(s, c, r, status, resp, "application/json", h1, v1);
}

enum MHD_Result http_send_json(fg_server *s, struct MHD_Connection *c, srv_route r, int status, cJSON *body)
{
    return send_json_h(s, c, r, status, body, NULL, NULL);
}

cJSON *http_error_json(const char *type, const char *param, const char *code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    if (param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    return o;
}

static enum MHD_Result send_error_h(fg_server *s, struct MHD_Connection *c, srv_route r, int status, const char *type,
                                    const char *param, const char *code, const char *h1, const char *v1, const char *msg)
{
    return send_json_h(s, c, r, status, http_error_json(type, param, code, msg), h1, v1);
}

enum MHD_Result http_send_error(fg_server *s, struct MHD_Connection *c, srv_route r, int status, const char *type,
                                const char *param, const char *code, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_error_h(s, c, r, status, type, param, code, NULL, NULL, msg);
}

enum MHD_Result http_send_text(fg_server *s, struct MHD_Connection *c, srv_route r, int status, const char *type,
                               char *body, size_t len)
{
    if (!body) return http_send_error(s, c, r, 500, "server_error", NULL, NULL, "out of memory");
    return queue(s, c, r, status, MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE), type, NULL, NULL);
}

/* ---- the client's socket ------------------------------------------------------------------ */
/* True when the peer has closed or reset the connection. Data waiting (a pipelined
 * request) means it is still there. */
static bool peer_gone(int fd)
{
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL | POLLRDHUP)) return true;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_nsec += (long)ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

/* Waits until the job's state reaches `until`. False when the client went away first
 * (the job is then cancelled). */
static bool wait_job(fg_server *s, request *rq, job_state until)
{
    job *j = rq->job;
    pthread_mutex_lock(&s->lock);
    while (j->state < until) {
        struct timespec ts;
        deadline_in(&ts, WAIT_SLICE_MS);
        pthread_cond_timedwait(&j->cond, &s->lock, &ts);
        if (j->state >= until) break;
        pthread_mutex_unlock(&s->lock);
        bool gone = peer_gone(rq->fd);
        pthread_mutex_lock(&s->lock);
        if (gone || s->closing) {
            atomic_store(&j->cancel, true);
            pthread_mutex_unlock(&s->lock);
            return false;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* ---- request contexts ------------------------------------------------------------------------ */
static void request_unref(request *rq)
{
    if (!rq || atomic_fetch_sub(&rq->refs, 1) != 1) return;
    fg_server *s = rq->srv;
    size_t out_cap = 0;
    if (rq->job) {
        pthread_mutex_lock(&s->lock);
        out_cap = rq->job->cap;
        pthread_mutex_unlock(&s->lock);
    }
    bool big = rq->body_peak > TRIM_AFTER || out_cap > TRIM_AFTER;
    gen_release(s, rq->job);
    api_sse_free(&rq->sse);
    fg_free(rq->body);
    fg_free(rq);
    /* a large body leaves a large parsed tree behind in the C heap: hand the pages back,
     * or the budget would count them as in use from now on */
    if (big) malloc_trim(0);
    pthread_mutex_lock(&s->lock);
    s->n_open--;
    pthread_mutex_unlock(&s->lock);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    request_unref(*con_cls);
    *con_cls = NULL;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    request *rq = cls;
    fg_server *s = rq->srv;
    job *j = rq->job;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        ssize_t n = api_sse_next(s, j, &rq->sse, buf, max);
        if (n != 0) {
            pthread_mutex_unlock(&s->lock);
            return n > 0 ? n : (ssize_t)MHD_CONTENT_READER_END_OF_STREAM;
        }
        struct timespec ts;
        deadline_in(&ts, WAIT_SLICE_MS);
        size_t len = j->len;
        pthread_cond_timedwait(&j->cond, &s->lock, &ts);
        if (j->len != len || j->state == JOB_DONE) continue;
        pthread_mutex_unlock(&s->lock);
        bool gone = peer_gone(rq->fd);
        pthread_mutex_lock(&s->lock);
        if (gone || s->closing) {
            atomic_store(&j->cancel, true);
            pthread_mutex_unlock(&s->lock);
            return (ssize_t)MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void sse_free(void *cls) { request_unref(cls); }

/* ---- routing ---------------------------------------------------------------------------------- */
static srv_route route_of(const char *url, const char **allow)
{
    static const struct { const char *path; srv_route r; const char *allow; } table[] = {
        {"/v1/chat/completions", ROUTE_CHAT, "POST"}, {"/v1/completions", ROUTE_COMPLETIONS, "POST"},
        {"/v1/models", ROUTE_MODELS, "GET, HEAD"},    {"/health", ROUTE_HEALTH, "GET, HEAD"},
        {"/metrics", ROUTE_METRICS, "GET, HEAD"},     {"/v1/memory", ROUTE_MEMORY, "GET, HEAD"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(url, table[i].path)) {
            *allow = table[i].allow;
            return table[i].r;
        }
    if (!strncmp(url, "/v1/models/", 11) && url[11]) {
        *allow = "GET, HEAD";
        return ROUTE_MODEL;
    }
    *allow = "GET, HEAD";
    if (!strcmp(url, "/")) return ROUTE_WEB;
    for (const fg_web_asset *a = fg_web_assets; a->path; a++)
        if (!strcmp(url, a->path)) return ROUTE_WEB;
    return ROUTE_NONE;
}

static bool method_allowed(const char *allow, const char *method)
{
    size_t n = strlen(method);
    if (n == 0) return false; /* strstr would find "" everywhere without advancing (fuzz: a hang) */
    for (const char *p = allow; (p = strstr(p, method)); p += n)
        if ((p == allow || p[-1] == ' ') && (p[n] == 0 || p[n] == ',')) return true;
    return false;
}

/* Constant-time comparison of the bearer token (h: the Authorization header) with the key. */
static bool key_ok(fg_server *s, const char *h)
{
    const char *key = s->params.api_key;
    if (!key || !*key) return true;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    size_t hl = strlen(h), kl = strlen(key);
    unsigned diff = (unsigned)(hl ^ kl);
    for (size_t i = 0; i < kl; i++) diff |= (unsigned char)key[i] ^ (unsigned char)(i < hl ? h[i] : 0);
    return diff == 0;
}

static enum MHD_Result serve_asset(fg_server *s, struct MHD_Connection *c, const char *url)
{
    if (!strcmp(url, "/")) url = "/index.html";
    for (const fg_web_asset *a = fg_web_assets; a->path; a++) {
        if (strcmp(url, a->path)) continue;
        struct MHD_Response *resp = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
        if (resp)
            MHD_add_response_header(resp, "Content-Security-Policy",
                                    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
        return queue(s, c, ROUTE_WEB, 200, resp, a->type, "Referrer-Policy", "no-referrer");
    }
    return http_send_error(s, c, ROUTE_NONE, 404, "invalid_request_error", NULL, "unknown_url", "Unknown request URL: GET %s.",
                           url);
}

double http_query_double(const char *v, double def, double lo, double hi)
{
    if (!v || !*v) return def;
    char *end;
    double d = strtod(v, &end);
    if (*end || !(d >= lo && d <= hi)) return def;
    return d;
}

static enum MHD_Result handle_get(fg_server *s, struct MHD_Connection *c, request *rq, const char *url)
{
    switch (rq->route) {
    case ROUTE_WEB:
        return serve_asset(s, c, url);
    case ROUTE_HEALTH: {
        int status = 200;
        cJSON *o = stats_health(s, &status);
        return http_send_json(s, c, rq->route, status, o);
    }
    case ROUTE_MODELS:
        return http_send_json(s, c, rq->route, 200, stats_models(s));
    case ROUTE_MODEL:
        if (strcmp(url + 11, s->model_id) != 0)
            return http_send_error(s, c, rq->route, 404, "invalid_request_error", "model", "model_not_found",
                                   "The model '%.200s' does not exist: this server serves '%s'.", url + 11, s->model_id);
        return http_send_json(s, c, rq->route, 200, stats_model(s));
    case ROUTE_MEMORY: {
        double window = http_query_double(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "window"), 300, 1, 86400);
        double points = http_query_double(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "points"), 300, 2, 5000);
        return http_send_json(s, c, rq->route, 200, stats_memory(s, window, (int)points));
    }
    case ROUTE_METRICS: {
        size_t len = 0;
        char *txt = stats_metrics(s, &len);
        return http_send_text(s, c, rq->route, 200, "text/plain; version=0.0.4; charset=utf-8", txt, len);
    }
    default:
        return http_send_error(s, c, ROUTE_NONE, 404, "invalid_request_error", NULL, "unknown_url", "Unknown request URL.");
    }
}

static enum MHD_Result handle_generate(fg_server *s, struct MHD_Connection *c, request *rq)
{
    api_error e;
    job *j = api_parse_request(s, rq->route, rq->body ? rq->body : "", rq->len, &e);
    rq->body_peak = rq->len;
    fg_free(rq->body);
    rq->body = NULL;
    rq->len = rq->cap = 0;
    if (!j) return http_send_error(s, c, rq->route, e.status, e.type, e.param, e.code, "%s", e.message);
    int refused = gen_submit(s, j);
    if (refused == 429) {
        job_free(j);
        char msg[160];
        snprintf(msg, sizeof msg, "The server is busy: %d requests are already waiting. Please retry shortly.",
                 s->params.max_queue);
        return send_error_h(s, c, rq->route, 429, "rate_limit_error", NULL, "queue_full", "Retry-After", "1", msg);
    }
    if (refused) {
        job_free(j);
        return http_send_error(s, c, rq->route, 503, "server_error", NULL, "shutting_down", "The server is shutting down.");
    }
    rq->job = j;
    if (!wait_job(s, rq, j->stream ? JOB_RUNNING : JOB_DONE)) return MHD_NO; /* gone: close */
    if (j->state == JOB_DONE && j->finish == FIN_REFUSED)
        return http_send_error(s, c, rq->route, 503, "server_error", NULL, "shutting_down",
                               "The server is shutting down: this request was not started.");
    if (j->stream) {
        atomic_fetch_add(&rq->refs, 1);
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_read, rq, sse_free);
        if (!resp) {
            atomic_fetch_sub(&rq->refs, 1);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        return queue(s, c, rq->route, 200, resp, "text/event-stream; charset=utf-8", NULL, NULL);
    }
    if (j->finish == FIN_ERROR)
        return http_send_error(s, c, rq->route, 500, "server_error", NULL, "generation_failed", "Generation failed: %s",
                               j->error);
    return http_send_json(s, c, rq->route, 200, api_response_json(s, j));
}

static int header_fail(api_error *e, int status, const char *type, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int header_fail(api_error *e, int status, const char *type, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    api_error_vset(e, status, type, NULL, code, fmt, ap);
    va_end(ap);
    return status;
}

int http_check_headers(fg_server *s, bool stopping, const char *method, const char *url, const char *authorization,
                       const char *content_length, srv_route *route, const char **allow, api_error *e)
{
    memset(e, 0, sizeof *e);
    *route = route_of(url, allow);
    if (*route == ROUTE_NONE)
        return header_fail(e, 404, "invalid_request_error", "unknown_url",
                           "Unknown request URL: %.16s %.200s. Please check the URL for typos.", method, url);
    if (!method_allowed(*allow, method))
        return header_fail(e, 405, "invalid_request_error", "method_not_allowed",
                           "Method %.16s is not allowed for %.200s (allowed: %s).", method, url, *allow);
    if (stopping) return header_fail(e, 503, "server_error", "shutting_down", "The server is shutting down.");
    bool needs_key = *route != ROUTE_WEB && *route != ROUTE_HEALTH;
    if (needs_key && !key_ok(s, authorization))
        return header_fail(e, 401, "invalid_request_error", "invalid_api_key", "%s",
                           authorization ? "Incorrect API key provided."
                                         : "You didn't provide an API key. Provide it in the Authorization header as "
                                           "'Authorization: Bearer YOUR_KEY'.");
    if (*route == ROUTE_CHAT || *route == ROUTE_COMPLETIONS) {
        unsigned long long declared = content_length ? strtoull(content_length, NULL, 10) : 0;
        if (declared > s->params.max_body)
            return header_fail(e, 413, "invalid_request_error", "request_too_large",
                               "The request body is %llu bytes; this server accepts at most %zu.", declared, s->params.max_body);
        /* a large body is memory too: refuse it rather than grow past the budget (small
         * ones are what the budget's margin is for: refusing them when the KV cache has
         * taken the budget would refuse every request, even those that need no growth) */
        if (declared > TRIM_AFTER && fg_budget_check(s->budget, (int64_t)declared * 3, "a request body and its parse"))
            return header_fail(e, 503, "server_error", "memory_budget", "The server cannot take this request now: %s",
                               fg_last_error());
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    fg_server *s = cls;
    request *rq = *con_cls;
    if (!rq) {
        /* first call: headers only */
        rq = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *rq);
        if (!rq) return MHD_NO;
        rq->srv = s;
        atomic_init(&rq->refs, 1);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        rq->fd = ci ? ci->connect_fd : -1;
        *con_cls = rq;
        pthread_mutex_lock(&s->lock);
        s->n_open++;
        bool stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);

        const char *allow = NULL;
        rq->answered = true;
        api_error e;
        int status = http_check_headers(s, stopping, method, url,
                                        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                                        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH),
                                        &rq->route, &allow, &e);
        if (status == 405)
            return send_error_h(s, c, rq->route, 405, e.type, e.param, e.code, "Allow", allow, e.message);
        if (status == 401)
            return send_error_h(s, c, rq->route, 401, e.type, e.param, e.code, "WWW-Authenticate", "Bearer", e.message);
        if (status) return send_error_h(s, c, rq->route, status, e.type, e.param, e.code, NULL, NULL, e.message);
        rq->answered = false;
        return MHD_YES;
    }
    if (*upload_data_size) {
        /* a piece of the body */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->answered || rq->too_big) return MHD_YES;
        if (rq->len + n > s->params.max_body) {
            rq->too_big = true;
            fg_free(rq->body);
            rq->body = NULL;
            return MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n + 1) cap *= 2;
            if (cap > s->params.max_body + 1) cap = s->params.max_body + 1;
            char *nb = fg_realloc(rq->body, cap);
            if (!nb) return MHD_NO;
            rq->body = nb;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        rq->body[rq->len] = 0;
        return MHD_YES;
    }
    if (rq->answered) return MHD_YES;
    rq->answered = true;
    if (rq->too_big)
        return http_send_error(s, c, rq->route, 413, "invalid_request_error", NULL, "request_too_large",
                               "The request body is larger than this server accepts (%zu bytes).", s->params.max_body);
    if (rq->route == ROUTE_CHAT || rq->route == ROUTE_COMPLETIONS) return handle_generate(s, c, rq);
    return handle_get(s, c, rq, url);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n') buf[--n] = 0;
    fg_log(FG_LOG_DEBUG, "http: %s", buf);
}

fg_status http_start(fg_server *s)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->params.port);
    int rc = getaddrinfo(s->params.host, port, &hints, &ai);
    if (rc || !ai) return fg_error(FG_ERR_ARG, "cannot resolve the address '%s': %s", s->params.host, gai_strerror(rc));
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->params.port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->params.max_connections,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
                                 MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                                 MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon)
        return fg_error(FG_ERR_IO, "cannot listen on %s port %d (in use, or not an address of this machine?)", s->params.host,
                        s->params.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->params.port;
    return FG_OK;
}

void http_stop(fg_server *s)
{
    if (s->daemon) MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}
