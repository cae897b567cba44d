/* The memory timeline: a sampler thread, a bounded sample array that halves its
 * resolution instead of growing, and a ring of phase marks. See timeline.h.
 *
 * A tick reads /proc/<pid>/status and /proc/meminfo (two small reads into stack
 * buffers, tens of microseconds) outside the lock, then files the reading under it. */
#include "mem/timeline.h"

#include "mem/probe-impl.h"

#include <cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_STRIDE (1 << 30)

struct fg_timeline {
    fg_timeline_params p;
    char proc_root[512], cgroup_root[512], sys_root[512];

    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool running, stop_requested;

    fg_mem_sample *samples; /* capacity */
    int capacity, n;
    int stride, downsamplings;
    fg_mem_sample pending;  /* the largest reading of the current window of `stride` ticks */
    int pending_ticks;

    fg_mem_mark *marks;     /* ring of max_marks */
    int max_marks;
    int64_t marks_total;    /* marks ever made; the ring holds the last min(total, max) */

    int64_t t0_us, start_unix_ms;
    int64_t ticks, failed_ticks, peak_rss;
};

fg_timeline_params fg_timeline_default_params(void)
{
    fg_timeline_params p;
    memset(&p, 0, sizeof p);
    p.interval_ms = 10;
    p.capacity = 4096;
    p.max_marks = 256;
    return p;
}

static void copy_root(char *dst, size_t size, const char **field)
{
    if (*field) {
        snprintf(dst, size, "%s", *field);
        *field = dst;
    }
}

fg_status fg_timeline_create(const fg_timeline_params *params, fg_timeline **out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_timeline_create: NULL output");
    *out = NULL;
    fg_timeline_params p = params ? *params : fg_timeline_default_params();
    if (p.interval_ms <= 0 || p.interval_ms > 3600 * 1000)
        return fg_error(FG_ERR_ARG, "timeline interval %d ms out of range (1 .. 3600000)", p.interval_ms);
    if (p.capacity < 16 || p.capacity > (1 << 24))
        return fg_error(FG_ERR_ARG, "timeline capacity %d out of range (16 .. 16777216)", p.capacity);
    if (p.max_marks < 1 || p.max_marks > (1 << 20))
        return fg_error(FG_ERR_ARG, "timeline max_marks %d out of range (1 .. 1048576)", p.max_marks);
    if (p.pid < 0) return fg_error(FG_ERR_ARG, "timeline pid %d is negative", p.pid);
    p.capacity += p.capacity & 1; /* halving keeps pairs */

    fg_timeline *tl = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *tl);
    if (!tl) return fg_error(FG_ERR_NOMEM, "cannot allocate the memory timeline");
    tl->samples = fg_malloc(FG_MEM_RUNTIME, sizeof(fg_mem_sample) * (size_t)p.capacity);
    tl->marks = fg_malloc(FG_MEM_RUNTIME, sizeof(fg_mem_mark) * (size_t)p.max_marks);
    if (!tl->samples || !tl->marks) {
        fg_free(tl->samples);
        fg_free(tl->marks);
        fg_free(tl);
        return fg_error(FG_ERR_NOMEM, "cannot allocate %d timeline samples", p.capacity);
    }
    tl->p = p;
    copy_root(tl->proc_root, sizeof tl->proc_root, &tl->p.roots.proc);
    copy_root(tl->cgroup_root, sizeof tl->cgroup_root, &tl->p.roots.cgroup);
    copy_root(tl->sys_root, sizeof tl->sys_root, &tl->p.roots.sys);
    tl->capacity = p.capacity;
    tl->max_marks = p.max_marks;
    tl->stride = 1;
    pthread_mutex_init(&tl->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&tl->wake, &ca);
    pthread_condattr_destroy(&ca);
    tl->t0_us = fg_probe_now_us();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    tl->start_unix_ms = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
    *out = tl;
    return FG_OK;
}

void fg_timeline_free(fg_timeline *tl)
{
    if (!tl) return;
    fg_timeline_stop(tl);
    pthread_cond_destroy(&tl->wake);
    pthread_mutex_destroy(&tl->lock);
    fg_free(tl->samples);
    fg_free(tl->marks);
    fg_free(tl);
}

/* ---- sampling ----------------------------------------------------------------------------- */

static int64_t rss_of(const fg_mem_sample *s) { return s->rss_anon + s->rss_file; }

/* Takes a reading (no lock held). */
static fg_status read_sample(fg_timeline *tl, fg_mem_sample *s)
{
    fg_proc_mem k;
    fg_status st = fg_probe_proc(&tl->p.roots, tl->p.pid, &k);
    if (st != FG_OK) return st;
    s->rss_anon = (k.rss_anon >= 0 ? k.rss_anon : k.vm_rss) + (k.rss_shmem > 0 ? k.rss_shmem : 0);
    s->rss_file = k.rss_file >= 0 ? k.rss_file : 0;
    s->vm_swap = k.vm_swap;
    if (tl->p.pid == 0) {
        fg_mem_stats ms;
        fg_mem_get_stats(&ms);
        s->accounted = ms.total_current;
    } else {
        s->accounted = -1;
    }
    s->budget = fg_budget_limit(tl->p.budget);
    int64_t st_total = -1, st_free = -1;
    s->mem_available = -1;
    if (fg_probe_meminfo_brief(&tl->p.roots, NULL, &s->mem_available, &st_total, &st_free) == FG_OK && st_total >= 0 &&
        st_free >= 0)
        s->swap_used = st_total - st_free;
    else
        s->swap_used = -1;
    return FG_OK;
}

/* Halves the array: of each pair, the reading with the larger RSS stays. */
static void downsample_locked(fg_timeline *tl)
{
    int half = tl->n / 2;
    for (int i = 0; i < half; i++) {
        const fg_mem_sample *a = &tl->samples[2 * i], *b = &tl->samples[2 * i + 1];
        tl->samples[i] = rss_of(b) > rss_of(a) ? *b : *a;
    }
    if (tl->n & 1) tl->samples[half++] = tl->samples[tl->n - 1];
    tl->n = half;
    if (tl->stride < MAX_STRIDE) tl->stride *= 2;
    tl->downsamplings++;
}

static void push_locked(fg_timeline *tl, const fg_mem_sample *s)
{
    if (tl->n == tl->capacity) downsample_locked(tl);
    tl->samples[tl->n++] = *s;
}

/* Files a reading; its time is taken here, under the lock, so that readings made by
 * concurrent callers (the thread, fg_timeline_tick, stop) stay in time order. */
static void file_locked(fg_timeline *tl, fg_mem_sample *s)
{
    s->t_us = fg_probe_now_us() - tl->t0_us;
    tl->ticks++;
    if (rss_of(s) > tl->peak_rss) tl->peak_rss = rss_of(s);
    if (tl->pending_ticks == 0 || rss_of(s) > rss_of(&tl->pending)) tl->pending = *s;
    if (++tl->pending_ticks >= tl->stride) {
        push_locked(tl, &tl->pending);
        tl->pending_ticks = 0;
    }
}

fg_status fg_timeline_tick(fg_timeline *tl)
{
    if (!tl) return fg_error(FG_ERR_ARG, "fg_timeline_tick: NULL timeline");
    fg_mem_sample s;
    fg_status st = read_sample(tl, &s);
    pthread_mutex_lock(&tl->lock);
    if (st == FG_OK)
        file_locked(tl, &s);
    else
        tl->failed_ticks++;
    pthread_mutex_unlock(&tl->lock);
    return st;
}

static void *sampler_main(void *arg)
{
    fg_timeline *tl = arg;
    const int64_t interval_ns = (int64_t)tl->p.interval_ms * 1000000;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&tl->lock);
    while (!tl->stop_requested) {
        pthread_mutex_unlock(&tl->lock);
        fg_timeline_tick(tl);
        pthread_mutex_lock(&tl->lock);
        /* next deadline on the grid; after a stall, start again from now (no burst) */
        int64_t nn = (int64_t)next.tv_sec * 1000000000 + next.tv_nsec + interval_ns;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        if (nn <= now_ns) nn = now_ns + interval_ns;
        next.tv_sec = nn / 1000000000;
        next.tv_nsec = nn % 1000000000;
        while (!tl->stop_requested) {
            int r = pthread_cond_timedwait(&tl->wake, &tl->lock, &next);
            if (r == ETIMEDOUT) break;
        }
    }
    pthread_mutex_unlock(&tl->lock);
    return NULL;
}

fg_status fg_timeline_start(fg_timeline *tl)
{
    if (!tl) return fg_error(FG_ERR_ARG, "fg_timeline_start: NULL timeline");
    pthread_mutex_lock(&tl->lock);
    if (tl->running) {
        pthread_mutex_unlock(&tl->lock);
        return fg_error(FG_ERR_ARG, "the memory timeline is already running");
    }
    tl->stop_requested = false;
    int r = pthread_create(&tl->thread, NULL, sampler_main, tl);
    if (r == 0) tl->running = true;
    pthread_mutex_unlock(&tl->lock);
    if (r != 0) return fg_error(FG_ERR_NOMEM, "cannot start the memory sampler thread: %s", strerror(r));
    return FG_OK;
}

void fg_timeline_stop(fg_timeline *tl)
{
    if (!tl) return;
    pthread_mutex_lock(&tl->lock);
    if (!tl->running) {
        pthread_mutex_unlock(&tl->lock);
        return;
    }
    tl->stop_requested = true;
    pthread_cond_signal(&tl->wake);
    pthread_mutex_unlock(&tl->lock);
    pthread_join(tl->thread, NULL);
    fg_mem_sample s;
    fg_status st = read_sample(tl, &s);
    pthread_mutex_lock(&tl->lock);
    tl->running = false;
    if (st == FG_OK) {
        file_locked(tl, &s);
    } else {
        tl->failed_ticks++;
    }
    if (tl->pending_ticks > 0) { /* flush the partial window */
        push_locked(tl, &tl->pending);
        tl->pending_ticks = 0;
    }
    pthread_mutex_unlock(&tl->lock);
}

fg_status fg_timeline_mark(fg_timeline *tl, const char *phase)
{
    if (!tl || !phase) return fg_error(FG_ERR_ARG, "fg_timeline_mark: NULL argument");
    fg_mem_mark m;
    memset(&m, 0, sizeof m);
    snprintf(m.phase, sizeof m.phase, "%s", phase);
    fg_proc_mem k;
    fg_status st = fg_probe_proc(&tl->p.roots, tl->p.pid, &k);
    m.rss_anon = st == FG_OK ? k.rss_anon : -1;
    m.rss_file = st == FG_OK ? k.rss_file : -1;
    pthread_mutex_lock(&tl->lock);
    m.t_us = fg_probe_now_us() - tl->t0_us; /* under the lock: marks stay in time order */
    tl->marks[tl->marks_total % tl->max_marks] = m;
    tl->marks_total++;
    pthread_mutex_unlock(&tl->lock);
    return FG_OK;
}

/* ---- reading --------------------------------------------------------------------------------- */

void fg_timeline_get_info(fg_timeline *tl, fg_timeline_info *out)
{
    memset(out, 0, sizeof *out);
    if (!tl) return;
    pthread_mutex_lock(&tl->lock);
    out->n_samples = tl->n;
    out->capacity = tl->capacity;
    out->ticks = tl->ticks;
    out->failed_ticks = tl->failed_ticks;
    out->stride = tl->stride;
    out->downsamplings = tl->downsamplings;
    out->n_marks = tl->marks_total < tl->max_marks ? tl->marks_total : tl->max_marks;
    out->marks_dropped = tl->marks_total - out->n_marks;
    out->interval_us = (int64_t)tl->p.interval_ms * 1000;
    out->running = tl->running;
    out->peak_rss = tl->peak_rss;
    pthread_mutex_unlock(&tl->lock);
}

size_t fg_timeline_recent(fg_timeline *tl, int64_t window_us, fg_mem_sample *out, size_t max)
{
    if (!tl || !out || max == 0) return 0;
    pthread_mutex_lock(&tl->lock);
    int first = tl->n;
    if (tl->n > 0) {
        int64_t from = window_us > 0 ? tl->samples[tl->n - 1].t_us - window_us : INT64_MIN;
        while (first > 0 && tl->samples[first - 1].t_us >= from && (size_t)(tl->n - (first - 1)) <= max) first--;
    }
    size_t count = (size_t)(tl->n - first);
    memcpy(out, tl->samples + first, count * sizeof *out);
    pthread_mutex_unlock(&tl->lock);
    return count;
}

size_t fg_timeline_marks(fg_timeline *tl, fg_mem_mark *out, size_t max)
{
    if (!tl || !out) return 0;
    pthread_mutex_lock(&tl->lock);
    int64_t held = tl->marks_total < tl->max_marks ? tl->marks_total : tl->max_marks;
    int64_t start = tl->marks_total - held;
    size_t count = 0;
    for (int64_t i = start; i < tl->marks_total && count < max; i++) out[count++] = tl->marks[i % tl->max_marks];
    pthread_mutex_unlock(&tl->lock);
    return count;
}



/* ---- JSON ----------------------------------------------------------------------------------------- */

static bool add_num(cJSON *o, const char *k, double v) { return cJSON_AddNumberToObject(o, k, v) != NULL; }

static bool add_item(cJSON *o, const char *k, cJSON *item)
{
    if (!item) return false;
    cJSON_AddItemToObject(o, k, item);
    return true;
}

cJSON *fg_timeline_json(fg_timeline *tl, const fg_mem_breakdown *breakdown)
{
    if (!tl) return NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    static const char *const columns[] = {"t_ms", "rss_anon", "rss_file", "vm_swap", "accounted", "budget", "mem_available", "swap_used"};
    bool ok = add_item(root, "columns", cJSON_CreateStringArray(columns, 8));
    cJSON *samples = cJSON_CreateArray(), *marks = cJSON_CreateArray();
    ok = ok && add_item(root, "samples", samples) && add_item(root, "marks", marks);
    if (!ok) { /* a failed add left the array unowned */
        cJSON_Delete(samples);
        cJSON_Delete(marks);
        cJSON_Delete(root);
        return NULL;
    }
    pthread_mutex_lock(&tl->lock);
    ok = add_num(root, "pid", tl->p.pid) && add_num(root, "interval_ms", tl->p.interval_ms) &&
         add_num(root, "stride", tl->stride) && add_num(root, "downsamplings", tl->downsamplings) &&
         add_num(root, "ticks", (double)tl->ticks) && add_num(root, "failed_ticks", (double)tl->failed_ticks) &&
         add_num(root, "peak_rss", (double)tl->peak_rss) && add_num(root, "start_unix_ms", (double)tl->start_unix_ms) &&
         add_num(root, "marks_dropped", (double)(tl->marks_total > tl->max_marks ? tl->marks_total - tl->max_marks : 0));
    for (int i = 0; ok && i < tl->n; i++) {
        const fg_mem_sample *s = &tl->samples[i];
        double row[8] = {(double)s->t_us / 1000.0, (double)s->rss_anon,  (double)s->rss_file,      (double)s->vm_swap,
                         (double)s->accounted,     (double)s->budget,    (double)s->mem_available, (double)s->swap_used};
        cJSON *r = cJSON_CreateDoubleArray(row, 8);
        ok = r != NULL;
        if (ok) cJSON_AddItemToArray(samples, r);
    }
    int64_t held = tl->marks_total < tl->max_marks ? tl->marks_total : tl->max_marks;
    for (int64_t i = tl->marks_total - held; ok && i < tl->marks_total; i++) {
        const fg_mem_mark *m = &tl->marks[i % tl->max_marks];
        cJSON *o = cJSON_CreateObject();
        if (o) cJSON_AddItemToArray(marks, o);
        ok = o && add_num(o, "t_ms", (double)m->t_us / 1000.0) && cJSON_AddStringToObject(o, "phase", m->phase) &&
             add_num(o, "rss_anon", (double)m->rss_anon) && add_num(o, "rss_file", (double)m->rss_file);
    }
    pthread_mutex_unlock(&tl->lock);
    if (ok && tl->p.budget) ok = add_item(root, "budget", fg_budget_json(tl->p.budget));
    if (ok && breakdown) ok = add_item(root, "breakdown", fg_mem_breakdown_json(breakdown));
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

fg_status fg_timeline_write_json(fg_timeline *tl, const char *path)
{
    if (!tl || !path) return fg_error(FG_ERR_ARG, "fg_timeline_write_json: NULL argument");
    fg_mem_breakdown bd;
    bool have_bd = tl->p.pid == 0 && fg_mem_breakdown_get(&tl->p.roots, &bd) == FG_OK;
    cJSON *j = fg_timeline_json(tl, have_bd ? &bd : NULL);
    if (!j) return fg_error(FG_ERR_NOMEM, "out of memory building the memory report");
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return fg_error(FG_ERR_NOMEM, "out of memory printing the memory report");
    FILE *f = fopen(path, "w");
    if (!f) {
        cJSON_free(text);
        return fg_error(FG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len && fputc('\n', f) != EOF;
    ok = (fclose(f) == 0) && ok;
    cJSON_free(text);
    if (!ok) return fg_error(FG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return FG_OK;
}
