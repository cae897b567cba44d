/* What the server tells about itself: /health, /v1/models, /v1/memory (the live
 * breakdown and recent timeline for the page's memory panel) and /metrics (Prometheus
 * text exposition format 0.0.4). */
#include "serve/serve-impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

cJSON *stats_health(fg_server *s, int *status)
{
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&s->lock);
    bool stopping = s->stopping;
    int queued = s->n_queued;
    bool busy = s->running != NULL;
    pthread_mutex_unlock(&s->lock);
    *status = stopping ? 503 : 200;
    cJSON_AddStringToObject(o, "status", stopping ? "shutting_down" : "ok");
    cJSON_AddStringToObject(o, "model", s->model_id);
    cJSON_AddBoolToObject(o, "busy", busy);
    cJSON_AddNumberToObject(o, "queued", queued);
    return o;
}

cJSON *stats_model(fg_server *s)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "frugal");
    cJSON_AddNumberToObject(m, "context_length", (double)s->n_ctx);
    return m;
}

cJSON *stats_models(fg_server *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    cJSON_AddItemToArray(data, stats_model(s));
    return o;
}

/* The panel's categories: what is resident, split the way a person asks about it. */
typedef struct mem_view {
    fg_mem_breakdown b;
    bool have;
    int64_t weights, kv, scratch, tokenizer, runtime, other, rss;
} mem_view;

static void mem_view_get(mem_view *v)
{
    memset(v, 0, sizeof *v);
    v->have = fg_mem_breakdown_get(NULL, &v->b) == FG_OK;
    if (!v->have) return;
    const fg_mem_breakdown *b = &v->b;
    v->weights = (b->mapped_rss > 0 ? b->mapped_rss : 0) + b->current[FG_MEM_WEIGHTS_OWNED];
    v->kv = b->current[FG_MEM_KV];
    v->scratch = b->current[FG_MEM_SCRATCH];
    v->tokenizer = b->current[FG_MEM_TOKENIZER];
    v->runtime = b->current[FG_MEM_RUNTIME];
    v->rss = b->kernel.vm_rss;
    /* the rest: what the kernel holds that no tag accounts for (libraries, stacks,
     * allocator slack, the binary); never negative on the panel */
    int64_t rest = v->rss - (v->weights + v->kv + v->scratch + v->tokenizer + v->runtime);
    v->other = rest > 0 ? rest : 0;
}

cJSON *stats_memory(fg_server *s, double window_s, int max_points)
{
    mem_view v;
    mem_view_get(&v);
    cJSON *o = cJSON_CreateObject();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cJSON_AddStringToObject(o, "object", "memory");
    cJSON_AddNumberToObject(o, "time_ms", (double)ts.tv_sec * 1e3 + (double)(ts.tv_nsec / 1000000));
    cJSON_AddNumberToObject(o, "rss", (double)v.rss);
    cJSON_AddNumberToObject(o, "rss_peak", v.have ? (double)v.b.kernel.vm_hwm : -1);
    cJSON *cat = cJSON_AddObjectToObject(o, "categories");
    cJSON_AddNumberToObject(cat, "weights", (double)v.weights);
    cJSON_AddNumberToObject(cat, "kv", (double)v.kv);
    cJSON_AddNumberToObject(cat, "scratch", (double)v.scratch);
    cJSON_AddNumberToObject(cat, "tokenizer", (double)v.tokenizer);
    cJSON_AddNumberToObject(cat, "runtime", (double)v.runtime);
    cJSON_AddNumberToObject(cat, "other", (double)v.other);

    pthread_mutex_lock(&s->lock);
    int queued = s->n_queued;
    bool busy = s->running != NULL;
    double tps = s->last_decode_tps;
    pthread_mutex_unlock(&s->lock);
    cJSON *kv = cJSON_AddObjectToObject(o, "kv_cache");
    cJSON_AddNumberToObject(kv, "tokens", (double)atomic_load_explicit(&s->kv_tokens, memory_order_relaxed));
    cJSON_AddNumberToObject(kv, "n_ctx", (double)s->n_ctx);
    cJSON_AddNumberToObject(kv, "bytes_per_token", (double)s->kv_bytes_per_token);
    cJSON *srv = cJSON_AddObjectToObject(o, "server");
    cJSON_AddBoolToObject(srv, "busy", busy);
    cJSON_AddNumberToObject(srv, "queued", queued);
    cJSON_AddNumberToObject(srv, "decode_tokens_per_second", tps);

    if (s->budget) cJSON_AddItemToObject(o, "budget", fg_budget_json(s->budget));
    else cJSON_AddNullToObject(o, "budget");
    if (v.have) cJSON_AddItemToObject(o, "breakdown", fg_mem_breakdown_json(&v.b));

    /* the timeline: the last window_s seconds, at most max_points rows (each the max of
     * the samples it stands for, so that peaks stay visible) */
    cJSON *tl = cJSON_AddObjectToObject(o, "timeline");
    cJSON *cols = cJSON_AddArrayToObject(tl, "columns");
    const char *names[] = {"t_s", "rss", "rss_anon", "rss_file", "accounted", "budget"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) cJSON_AddItemToArray(cols, cJSON_CreateString(names[i]));
    cJSON *rows = cJSON_AddArrayToObject(tl, "samples");
    fg_timeline_info ti;
    fg_timeline_get_info(s->timeline, &ti);
    cJSON_AddNumberToObject(tl, "interval_ms", (double)ti.interval_us * ti.stride / 1000.0);
    size_t cap = (size_t)(ti.capacity > 0 ? ti.capacity : 1);
    fg_mem_sample *buf = fg_malloc(FG_MEM_RUNTIME, cap * sizeof *buf);
    size_t n = buf ? fg_timeline_recent(s->timeline, (int64_t)(window_s * 1e6), buf, cap) : 0;
    size_t group = max_points > 0 && n > (size_t)max_points ? (n + (size_t)max_points - 1) / (size_t)max_points : 1;
    int64_t t_last = n ? buf[n - 1].t_us : 0;
    for (size_t i = 0; i < n; i += group) {
        int64_t rss = 0, anon = 0, file = 0, acc = -1, bud = -1, t = buf[i].t_us;
        for (size_t k = i; k < i + group && k < n; k++) {
            const fg_mem_sample *m = &buf[k];
            if (m->rss_anon + m->rss_file > rss) {
                rss = m->rss_anon + m->rss_file;
                anon = m->rss_anon;
                file = m->rss_file;
            }
            if (m->accounted > acc) acc = m->accounted;
            bud = m->budget;
            t = m->t_us;
        }
        double row[] = {(double)(t - t_last) / 1e6, (double)rss, (double)anon, (double)file, (double)acc, (double)bud};
        cJSON_AddItemToArray(rows, cJSON_CreateDoubleArray(row, 6));
    }
    fg_free(buf);
    return o;
}

/* ---- /metrics ---------------------------------------------------------------------------- */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, cap); /* freed by libmicrohttpd with free() */
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static void metric(sbuf *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *stats_metrics(fg_server *s, size_t *len)
{
    sbuf b = {.cap = 8192};
    b.p = malloc(b.cap);
    if (!b.p) return NULL;
    b.p[0] = 0;

    pthread_mutex_lock(&s->lock);
    uint64_t http[SRV_N_ROUTES][SRV_N_CODES];
    memcpy(http, s->http_count, sizeof http);
    uint64_t gens[FIN_ERROR + 1];
    memcpy(gens, s->gen_requests, sizeof gens);
    uint64_t pt = s->prompt_tokens, ct = s->completion_tokens, rt = s->reused_tokens;
    double ps = s->prefill_seconds, ds = s->decode_seconds, ltps = s->last_decode_tps, lptps = s->last_prefill_tps;
    uint64_t ptt = s->prefill_tokens_timed, dtt = s->decode_tokens_timed;
    int queued = s->n_queued, open = s->n_open;
    bool busy = s->running != NULL;
    pthread_mutex_unlock(&s->lock);

    metric(&b, "frugal_http_requests_total", "counter", "HTTP requests answered, by route and status code.");
    for (int r = 0; r < SRV_N_ROUTES; r++)
        for (int c = 0; c < SRV_N_CODES; c++)
            if (http[r][c]) {
                if (srv_codes[c]) sb_printf(&b, "frugal_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n", srv_route_name(r), srv_codes[c], (unsigned long long)http[r][c]);
                else sb_printf(&b, "frugal_http_requests_total{route=\"%s\",code=\"other\"} %llu\n", srv_route_name(r), (unsigned long long)http[r][c]);
            }
    metric(&b, "frugal_generations_total", "counter", "Generations finished, by finish reason.");
    for (int f = FIN_STOP; f <= FIN_ERROR; f++)
        sb_printf(&b, "frugal_generations_total{reason=\"%s\"} %llu\n", job_finish_str((job_finish)f), (unsigned long long)gens[f]);
    metric(&b, "frugal_prompt_tokens_total", "counter", "Prompt tokens of finished generations.");
    sb_printf(&b, "frugal_prompt_tokens_total %llu\n", (unsigned long long)pt);
    metric(&b, "frugal_prompt_tokens_cached_total", "counter", "Prompt tokens found in the KV cache (not evaluated again).");
    sb_printf(&b, "frugal_prompt_tokens_cached_total %llu\n", (unsigned long long)rt);
    metric(&b, "frugal_completion_tokens_total", "counter", "Tokens generated.");
    sb_printf(&b, "frugal_completion_tokens_total %llu\n", (unsigned long long)ct);
    metric(&b, "frugal_prefill_seconds_total", "counter", "Time spent evaluating prompts.");
    sb_printf(&b, "frugal_prefill_seconds_total %.6f\n", ps);
    metric(&b, "frugal_prefill_tokens_total", "counter", "Prompt tokens evaluated.");
    sb_printf(&b, "frugal_prefill_tokens_total %llu\n", (unsigned long long)ptt);
    metric(&b, "frugal_decode_seconds_total", "counter", "Time spent generating tokens.");
    sb_printf(&b, "frugal_decode_seconds_total %.6f\n", ds);
    metric(&b, "frugal_decode_tokens_total", "counter", "Generated tokens evaluated (the timed decode steps).");
    sb_printf(&b, "frugal_decode_tokens_total %llu\n", (unsigned long long)dtt);
    metric(&b, "frugal_decode_tokens_per_second", "gauge", "Decode speed of the last generation.");
    sb_printf(&b, "frugal_decode_tokens_per_second %.3f\n", ltps);
    metric(&b, "frugal_prefill_tokens_per_second", "gauge", "Prompt evaluation speed of the last generation.");
    sb_printf(&b, "frugal_prefill_tokens_per_second %.3f\n", lptps);
    metric(&b, "frugal_queue_length", "gauge", "Requests waiting for the generation thread.");
    sb_printf(&b, "frugal_queue_length %d\n", queued);
    metric(&b, "frugal_queue_capacity", "gauge", "Most requests that may wait (more are refused with 429).");
    sb_printf(&b, "frugal_queue_capacity %d\n", s->params.max_queue);
    metric(&b, "frugal_busy", "gauge", "1 while a generation runs.");
    sb_printf(&b, "frugal_busy %d\n", busy ? 1 : 0);
    metric(&b, "frugal_open_requests", "gauge", "Requests being received, waiting or answered.");
    sb_printf(&b, "frugal_open_requests %d\n", open);
    metric(&b, "frugal_context_size", "gauge", "Positions the KV cache can hold.");
    sb_printf(&b, "frugal_context_size %lld\n", (long long)s->n_ctx);
    metric(&b, "frugal_kv_tokens", "gauge", "Positions in the KV cache now.");
    sb_printf(&b, "frugal_kv_tokens %lld\n", (long long)atomic_load_explicit(&s->kv_tokens, memory_order_relaxed));

    mem_view v;
    mem_view_get(&v);
    if (v.have) {
        metric(&b, "frugal_memory_bytes", "gauge", "Resident memory by category (other: what no tag accounts for).");
        const char *cn[] = {"weights", "kv", "scratch", "tokenizer", "runtime", "other"};
        int64_t cv[] = {v.weights, v.kv, v.scratch, v.tokenizer, v.runtime, v.other};
        for (int i = 0; i < 6; i++) sb_printf(&b, "frugal_memory_bytes{category=\"%s\"} %lld\n", cn[i], (long long)cv[i]);
        metric(&b, "frugal_memory_tagged_bytes", "gauge", "The tagged allocator's current bytes, by tag.");
        for (int t = 0; t < FG_MEM_TAG_COUNT; t++)
            sb_printf(&b, "frugal_memory_tagged_bytes{tag=\"%s\"} %lld\n", fg_mem_tag_name((fg_mem_tag)t), (long long)v.b.current[t]);
        metric(&b, "frugal_memory_tagged_peak_bytes", "gauge", "The tagged allocator's high-water mark, by tag.");
        for (int t = 0; t < FG_MEM_TAG_COUNT; t++)
            sb_printf(&b, "frugal_memory_tagged_peak_bytes{tag=\"%s\"} %lld\n", fg_mem_tag_name((fg_mem_tag)t), (long long)v.b.peak[t]);
        metric(&b, "frugal_rss_bytes", "gauge", "Resident set size (VmRSS).");
        sb_printf(&b, "frugal_rss_bytes %lld\n", (long long)v.b.kernel.vm_rss);
        metric(&b, "frugal_rss_anon_bytes", "gauge", "Anonymous resident memory (RssAnon).");
        sb_printf(&b, "frugal_rss_anon_bytes %lld\n", (long long)v.b.kernel.rss_anon);
        metric(&b, "frugal_rss_file_bytes", "gauge", "File-backed resident memory (RssFile): mapped weights, the binary.");
        sb_printf(&b, "frugal_rss_file_bytes %lld\n", (long long)v.b.kernel.rss_file);
        metric(&b, "frugal_rss_peak_bytes", "gauge", "Peak resident set size (VmHWM).");
        sb_printf(&b, "frugal_rss_peak_bytes %lld\n", (long long)v.b.kernel.vm_hwm);
        metric(&b, "frugal_swap_bytes", "gauge", "This process's pages in swap (VmSwap).");
        sb_printf(&b, "frugal_swap_bytes %lld\n", (long long)v.b.kernel.vm_swap);
    }
    if (s->budget) {
        fg_budget_info bi;
        fg_budget_get_info(s->budget, &bi);
        metric(&b, "frugal_budget_limit_bytes", "gauge", "The memory budget (limit minus margin).");
        sb_printf(&b, "frugal_budget_limit_bytes{source=\"%s\"} %lld\n", fg_budget_source_name(bi.source), (long long)bi.limit);
        metric(&b, "frugal_budget_used_bytes", "gauge", "Memory counted against the budget.");
        sb_printf(&b, "frugal_budget_used_bytes %lld\n", (long long)bi.used);
        metric(&b, "frugal_budget_headroom_bytes", "gauge", "Budget left.");
        sb_printf(&b, "frugal_budget_headroom_bytes %lld\n", (long long)bi.headroom);
        metric(&b, "frugal_budget_refusals_total", "counter", "Growth the budget refused.");
        sb_printf(&b, "frugal_budget_refusals_total %lld\n", (long long)bi.refusals);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
