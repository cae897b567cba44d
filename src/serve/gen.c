/* The generation thread: takes queued jobs in order and runs them on the one session.
 *
 * KV reuse: the session knows the tokens whose keys and values are in the cache. A new
 * prompt is compared with them; the common prefix stays (fg_session_truncate forgets the
 * rest) and only the new suffix is evaluated. At least the prompt's last token is always
 * evaluated, since its logits pick the first generated token.
 *
 * Per step nothing is allocated but the job's output buffers (text, and ids when asked
 * for), which grow by doubling: logits, the decoded piece and the stop filter's output
 * are server buffers sized at creation; the sampler is made once per request. */
#include "serve/serve-impl.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *job_finish_str(job_finish f)
{
    switch (f) {
    case FIN_STOP: return "stop";
    case FIN_LENGTH: return "length";
    case FIN_CONTEXT: return "context_length";
    case FIN_BUDGET: return "memory_budget";
    case FIN_SHUTDOWN: return "shutdown";
    case FIN_CANCELLED: return "cancelled";
    case FIN_REFUSED: return "refused";
    case FIN_ERROR: return "error";
    default: return "none";
    }
}

job *job_new(void)
{
    job *j = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *j);
    if (!j) return NULL;
    /* connections wait with timeouts on the monotonic clock */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&j->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc) {
        fg_free(j);
        return NULL;
    }
    atomic_init(&j->cancel, false);
    return j;
}

void job_free(job *j)
{
    if (!j) return;
    pthread_cond_destroy(&j->cond);
    fg_free(j->prompt);
    fg_free(j->text);
    fg_free(j->ids);
    fg_free(j);
}

int gen_submit(fg_server *s, job *j)
{
    pthread_mutex_lock(&s->lock);
    int status = 0;
    if (s->stopping) status = 503;
    else if (s->n_queued >= s->params.max_queue) status = 429;
    if (!status) {
        j->state = JOB_QUEUED;
        j->t_queued = srv_now();
        j->next = NULL;
        if (s->q_tail) s->q_tail->next = j;
        else s->q_head = j;
        s->q_tail = j;
        s->n_queued++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* Under the lock. */
static void queue_remove(fg_server *s, job *j)
{
    job **pp = &s->q_head, *prev = NULL;
    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) return;
    *pp = j->next;
    if (s->q_tail == j) s->q_tail = prev;
    s->n_queued--;
}

void gen_release(fg_server *s, job *j)
{
    if (!j) return;
    pthread_mutex_lock(&s->lock);
    if (j->state == JOB_QUEUED) {
        queue_remove(s, j);
    } else if (j->state == JOB_RUNNING) {
        atomic_store(&j->cancel, true);
        while (j->state != JOB_DONE) pthread_cond_wait(&j->cond, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    job_free(j);
}

/* ---- one job ------------------------------------------------------------------------- */

/* Appends emitted text (and wakes the connection). Under no lock; takes it. */
static bool emit_text(fg_server *s, job *j, const char *t, size_t n)
{
    if (!n) return true;
    pthread_mutex_lock(&s->lock);
    bool ok = true;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1) cap *= 2;
        char *nt = fg_realloc(j->text, cap);
        if (nt) {
            j->text = nt;
            j->cap = cap;
        } else {
            ok = false;
        }
    }
    if (ok) {
        memcpy(j->text + j->len, t, n);
        j->len += n;
        j->text[j->len] = 0;
        if (!j->t_first) j->t_first = srv_now();
        pthread_cond_broadcast(&j->cond);
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static bool push_id(job *j, int32_t id)
{
    if (!j->return_ids) return true;
    if (j->n_ids == j->ids_cap) {
        int64_t cap = j->ids_cap ? j->ids_cap * 2 : 64;
        int32_t *ni = fg_realloc(j->ids, (size_t)cap * sizeof *ni);
        if (!ni) return false;
        j->ids = ni;
        j->ids_cap = cap;
    }
    j->ids[j->n_ids++] = id;
    return true;
}

/* Reason to stop before the next evaluation, or FIN_NONE. */
static job_finish interrupted(fg_server *s, job *j)
{
    if (atomic_load(&j->cancel)) return FIN_CANCELLED;
    pthread_mutex_lock(&s->lock);
    bool cut = s->stopping && srv_now() >= s->stop_deadline;
    pthread_mutex_unlock(&s->lock);
    return cut ? FIN_SHUTDOWN : FIN_NONE;
}

/* Evaluates n tokens at the end of the cache; the session checks the budget for the KV
 * pages the new positions commit. */
static job_finish eval_tokens(fg_server *s, job *j, const int32_t *ids, int64_t n, fg_logits_mode mode)
{
    int64_t end = fg_session_n_past(s->sess) + n;
    if (end > s->n_ctx) return FIN_CONTEXT;
    fg_status st = fg_session_eval(s->sess, ids, n, mode, s->logits);
    atomic_store_explicit(&s->kv_tokens, fg_session_n_past(s->sess), memory_order_relaxed);
    if (st) {
        snprintf(j->error, sizeof j->error, "%s", fg_last_error());
        return st == FG_ERR_BUDGET ? FIN_BUDGET : st == FG_ERR_CONTEXT ? FIN_CONTEXT : FIN_ERROR;
    }
    return FIN_NONE;
}

/* Emits the bytes of one generated token through the stop filter. */
static job_finish emit_piece(fg_server *s, job *j, fg_stop *stop, const char *p, size_t n)
{
    bool stopped = false;
    size_t out = fg_stop_feed(stop, p, n, s->emit, &stopped);
    if (!emit_text(s, j, s->emit, out)) {
        snprintf(j->error, sizeof j->error, "out of memory for the answer");
        return FIN_ERROR;
    }
    return stopped ? FIN_STOP : FIN_NONE;
}

static job_finish run_job(fg_server *s, job *j)
{
    fg_sampler *smp = NULL;
    if (fg_sampler_create(&j->sampling, s->n_vocab, &smp)) {
        snprintf(j->error, sizeof j->error, "%s", fg_last_error());
        return FIN_ERROR;
    }
    fg_stop stop;
    const char *stops[JOB_MAX_STOP];
    for (int i = 0; i < j->n_stop; i++) stops[i] = j->stop_buf[i];
    fg_stop_init(&stop, stops, j->n_stop); /* validated when parsed */
    fg_tok_stream ts;
    /* chat answers start a text (SentencePiece's leading space dropped, as HF decodes the
     * generated ids); completions continue the prompt's text */
    fg_tok_stream_init(&ts, s->tok, true, j->kind == JOB_CHAT);

    /* the prefix already in the cache */
    int64_t common = fg_session_common_prefix(s->sess, j->prompt, j->n_prompt);
    if (common == j->n_prompt) common--;
    fg_session_truncate(s->sess, common);
    atomic_store_explicit(&s->kv_tokens, fg_session_n_past(s->sess), memory_order_relaxed);
    pthread_mutex_lock(&s->lock);
    j->n_reused = common;
    pthread_mutex_unlock(&s->lock);

    job_finish fin = FIN_NONE;
    int nb = s->params.n_batch > 0 ? s->params.n_batch : 256;
    double t0 = srv_now();
    for (int64_t off = common; off < j->n_prompt && fin == FIN_NONE; off += nb) {
        if ((fin = interrupted(s, j))) break;
        int64_t n = j->n_prompt - off < nb ? j->n_prompt - off : nb;
        fin = eval_tokens(s, j, j->prompt + off, n, off + n == j->n_prompt ? FG_LOGITS_LAST : FG_LOGITS_NONE);
    }
    double t1 = srv_now();
    int64_t n_prefilled = j->n_prompt - common;
    if (fin == FIN_NONE && j->penalties)
        for (int64_t i = 0; i < j->n_prompt; i++) fg_sampler_accept(smp, j->prompt[i]);

    int64_t n_decoded = 0;
    bool by_stop_string = false;
    while (fin == FIN_NONE) {
        int32_t id = fg_sampler_sample(smp, s->logits);
        if (fg_tok_is_eog(s->tok, id)) {
            fin = FIN_STOP;
            break;
        }
        fg_sampler_accept(smp, id);
        pthread_mutex_lock(&s->lock);
        j->n_gen++;
        bool ok = push_id(j, id);
        pthread_mutex_unlock(&s->lock);
        size_t n = 0;
        if (!ok || fg_tok_stream_push(&ts, s->tok, id, s->piece, s->piece_cap, &n)) {
            snprintf(j->error, sizeof j->error, "%s", ok ? fg_last_error() : "out of memory for the answer");
            fin = FIN_ERROR;
            break;
        }
        if ((fin = emit_piece(s, j, &stop, s->piece, n))) {
            by_stop_string = fin == FIN_STOP;
            break;
        }
        if (j->n_gen >= j->max_tokens) {
            fin = FIN_LENGTH;
            break;
        }
        if ((fin = interrupted(s, j))) break;
        fin = eval_tokens(s, j, &id, 1, FG_LOGITS_LAST);
        if (fin == FIN_NONE) n_decoded++;
    }
    if (!by_stop_string && fin != FIN_CANCELLED) {
        /* release what the decoder (an incomplete character) and the filter hold */
        size_t n = fg_tok_stream_flush(&ts, s->piece, s->piece_cap);
        if (emit_piece(s, j, &stop, s->piece, n) == FIN_NONE) emit_text(s, j, s->emit, fg_stop_flush(&stop, s->emit));
    }
    double t2 = srv_now();
    fg_sampler_free(smp);

    pthread_mutex_lock(&s->lock);
    if (n_prefilled > 0 && t1 > t0) {
        s->prefill_seconds += t1 - t0;
        s->prefill_tokens_timed += (uint64_t)n_prefilled;
        s->last_prefill_tps = (double)n_prefilled / (t1 - t0);
    }
    if (n_decoded > 0 && t2 > t1) {
        s->decode_seconds += t2 - t1;
        s->decode_tokens_timed += (uint64_t)n_decoded;
        s->last_decode_tps = (double)n_decoded / (t2 - t1);
    }
    pthread_mutex_unlock(&s->lock);
    return fin;
}

static void *gen_main(void *arg)
{
    fg_server *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->q_head && !s->gen_exit) pthread_cond_wait(&s->wake, &s->lock);
        if (!s->q_head) break;
        job *j = s->q_head;
        s->q_head = j->next;
        if (!s->q_head) s->q_tail = NULL;
        s->n_queued--;
        j->state = JOB_RUNNING;
        j->t_start = srv_now();
        s->running = j;
        pthread_mutex_unlock(&s->lock);

        job_finish fin = run_job(s, j);
        if (fin == FIN_BUDGET) malloc_trim(0); /* at the limit: give the C heap's free pages back */

        pthread_mutex_lock(&s->lock);
        j->finish = fin;
        j->t_end = srv_now();
        s->prompt_tokens += (uint64_t)j->n_prompt;
        s->reused_tokens += (uint64_t)j->n_reused;
        s->completion_tokens += (uint64_t)j->n_gen;
        s->gen_requests[fin]++;
        s->running = NULL;
        j->state = JOB_DONE;
        pthread_cond_broadcast(&j->cond); /* the job belongs to its connection from here */
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

fg_status gen_start(fg_server *s)
{
    if (pthread_create(&s->gen_thread, NULL, gen_main, s))
        return fg_error(FG_ERR_INTERNAL, "cannot start the generation thread: %s", strerror(errno));
    s->gen_started = true;
    return FG_OK;
}

void gen_stop(fg_server *s)
{
    if (!s->gen_started) return;
    pthread_mutex_lock(&s->lock);
    s->gen_exit = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->gen_thread, NULL);
    s->gen_started = false;
}
