/* Thread pool: N-1 workers plus the calling thread. A job is published by bumping a
 * generation counter; workers spin on it for a short while (jobs in the token loop
 * come back-to-back, tens to hundreds of microseconds apart), then yield the CPU for a
 * while, then sleep on a condition variable. Completion is a countdown the caller
 * waits on the same way. Yielding matters when the machine is oversubscribed: a pure
 * spin would burn the time slice a descheduled worker needs to finish (measured: 2
 * threads on a busy 2-core box decoded 18x slower than 1 thread before this). No
 * allocation per job. While a thread waits, before it spins, it prefetches what it has
 * queued (fg_prefetch_queue: its share of the next matmul's weights), a KB at a time,
 * so the memory bus keeps streaming through the serial steps between jobs. */
#include "core/core.h"
#include "mem/mem.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SPIN_ITERS 2000   /* pause instructions before yielding (~50-100 us) */
#define YIELD_ITERS 200   /* sched_yield calls before sleeping on the condition variable */

typedef struct worker {
    struct fg_pool *pool;
    int ith;
    pthread_t thread;
} worker;

struct fg_pool {
    int n;
    worker *workers;               /* n - 1 of them */
    fg_task_fn fn;
    void *arg;
    _Atomic unsigned generation;   /* bumped for each job */
    _Atomic int pending;           /* workers still running the current job */
    _Atomic int stop;
    _Atomic int sleepers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- background prefetch ---- */

#define PF_IDLE_STEP 1024 /* bytes per step in a wait: a check of the job counter between steps */

typedef struct {
    const char *p[FG_PREFETCH_RANGES];
    size_t len[FG_PREFETCH_RANGES];
    int head, n;
    size_t total;
} pf_queue;
static _Thread_local pf_queue pfq;

void fg_prefetch_clear(void) { pfq.head = pfq.n = 0, pfq.total = 0; }

void fg_prefetch_queue(const void *p, size_t len)
{
    if (pfq.n == FG_PREFETCH_RANGES || !p) return;
    if (len > FG_PREFETCH_MAX - pfq.total) len = FG_PREFETCH_MAX - pfq.total;
    if (!len) return;
    pfq.p[pfq.n] = p;
    pfq.len[pfq.n++] = len;
    pfq.total += len;
}

bool fg_prefetch_step(size_t bytes)
{
    while (pfq.head < pfq.n && bytes > 0) {
        size_t k = pfq.len[pfq.head] < bytes ? pfq.len[pfq.head] : bytes;
        const char *p = pfq.p[pfq.head];
        for (size_t o = 0; o < k; o += 64) __builtin_prefetch(p + o, 0, 2);
        pfq.p[pfq.head] += k;
        pfq.len[pfq.head] -= k;
        bytes -= k;
        if (!pfq.len[pfq.head]) pfq.head++;
    }
    if (pfq.head < pfq.n) return true;
    fg_prefetch_clear();
    return false;
}

static void *worker_main(void *p)
{
    worker *w = p;
    fg_pool *pool = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&pool->stop, memory_order_acquire)) {
            if (fg_prefetch_step(PF_IDLE_STEP)) continue;
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            if (spins < SPIN_ITERS + YIELD_ITERS) {
                sched_yield();
                continue;
            }
            pthread_mutex_lock(&pool->mu);
            atomic_fetch_add(&pool->sleepers, 1);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->cv, &pool->mu);
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load_explicit(&pool->stop, memory_order_acquire)) break;
        seen = g;
        pool->fn(pool->arg, w->ith, pool->n);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel);
    }
    return NULL;
}

fg_status fg_pool_create(int n_threads, fg_pool **out)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024) return fg_error(FG_ERR_ARG, "thread count %d out of range 1..1024", n_threads);
    fg_pool *pool = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *pool);
    if (!pool) return fg_error(FG_ERR_NOMEM, "cannot allocate the thread pool");
    pool->n = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    if (n_threads > 1) {
        pool->workers = fg_calloc(FG_MEM_RUNTIME, (size_t)n_threads - 1, sizeof(worker));
        if (!pool->workers) {
            fg_pool_free(pool);
            return fg_error(FG_ERR_NOMEM, "cannot allocate the thread pool");
        }
        for (int i = 0; i < n_threads - 1; i++) {
            worker *w = &pool->workers[i];
            w->pool = pool;
            w->ith = i + 1;
            if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                pool->n = i + 1; /* only the started ones are joined */
                fg_pool_free(pool);
                return fg_error(FG_ERR_NOMEM, "cannot start worker thread %d", i + 1);
            }
        }
    }
    *out = pool;
    return FG_OK;
}

void fg_pool_free(fg_pool *pool)
{
    if (!pool) return;
    atomic_store(&pool->stop, 1);
    pthread_mutex_lock(&pool->mu);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    if (pool->workers)
        for (int i = 0; i < pool->n - 1; i++) pthread_join(pool->workers[i].thread, NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    fg_free(pool->workers);
    fg_free(pool);
}

int fg_pool_size(const fg_pool *pool) { return pool ? pool->n : 1; }

void fg_pool_run(fg_pool *pool, fg_task_fn fn, void *arg)
{
    if (!pool || pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, pool->n - 1, memory_order_release);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_acq_rel);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->cv);
        pthread_mutex_unlock(&pool->mu);
    }
    fn(arg, 0, pool->n);
    for (int spins = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) > 0; spins++) {
        if (fg_prefetch_step(PF_IDLE_STEP)) continue;
        if (spins < SPIN_ITERS) cpu_relax();
        else sched_yield();
    }
}

int fg_physical_cores(void)
{
    /* Count distinct (physical id, core id) pairs in /proc/cpuinfo. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    int online = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    if (!f) return online;
    char line[256];
    int phys = -1, seen_pairs = 0;
    int pairs[1024][2];
    while (fgets(line, sizeof line, f)) {
        int v;
        if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
        else if (sscanf(line, "core id : %d", &v) == 1) {
            int dup = 0;
            for (int i = 0; i < seen_pairs; i++)
                if (pairs[i][0] == phys && pairs[i][1] == v) dup = 1;
            if (!dup && seen_pairs < 1024) {
                pairs[seen_pairs][0] = phys;
                pairs[seen_pairs][1] = v;
                seen_pairs++;
            }
        }
    }
    fclose(f);
    if (seen_pairs < 1 || seen_pairs > online) return online;
    return seen_pairs;
}
