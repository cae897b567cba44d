/* Memory read-bandwidth probe for `frugal bench`: how fast can this machine stream
 * bytes from RAM with all pool threads? Decode speed is bounded by it (every weight is
 * read once per token), so the bench reports kernel throughput as a share of it.
 *
 * The buffer is written once with pseudo-random words (so its pages are committed and
 * distinct), then read several times,
 * each thread summing its own contiguous slice with 32-byte vectors and 4 independent
 * accumulators; the best pass is reported (the others include page-table warm-up and
 * interference). The buffer should be several times the last-level cache. */
#include "core/core.h"
#include "mem/mem.h"

#include <string.h>
#include <time.h>

typedef uint64_t v4u64 __attribute__((vector_size(32), aligned(32)));

typedef struct {
    const uint8_t *buf;
    size_t bytes;
    uint64_t sink[64];          /* per-thread results keep the reads alive */
} bw_job;

static void bw_read(void *arg, int ith, int nth)
{
    bw_job *j = arg;
    size_t n = j->bytes / sizeof(v4u64);
    size_t a = n * (size_t)ith / (size_t)nth, b = n * (size_t)(ith + 1) / (size_t)nth;
    const v4u64 *p = (const v4u64 *)j->buf;
    v4u64 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    size_t i = a;
    for (; i + 4 <= b; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    for (; i < b; i++) s0 += p[i];
    v4u64 s = s0 + s1 + s2 + s3;
    if (ith < 64) j->sink[ith] = s[0] + s[1] + s[2] + s[3];
}

/* Pseudo-random contents: a buffer of identical pages (memset) can be merged by the
 * host (KSM under a VM: seen here, reads of such a buffer ran at 80 GB/s from "RAM"),
 * which would inflate the ceiling. */
static void bw_fill(void *arg, int ith, int nth)
{
    bw_job *j = arg;
    size_t a = j->bytes * (size_t)ith / (size_t)nth / 8, b = j->bytes * (size_t)(ith + 1) / (size_t)nth / 8;
    uint64_t *p = (uint64_t *)j->buf, x = 0x9E3779B97F4A7C15ull * (uint64_t)(ith + 1);
    for (size_t i = a; i < b; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = x;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_job(fg_pool *pool, fg_task_fn fn, void *arg)
{
    if (pool)
        fg_pool_run(pool, fn, arg);
    else
        fn(arg, 0, 1);
}

double fg_measure_read_bandwidth(fg_pool *pool, size_t bytes)
{
    if (bytes < (1u << 20)) bytes = 1u << 20;
    bytes = bytes / 4096 * 4096;
    void *raw = fg_malloc(FG_MEM_SCRATCH, bytes + 64);
    if (!raw) {
        fg_error(FG_ERR_NOMEM, "bandwidth probe: cannot allocate %zu bytes", bytes);
        return -1;
    }
    bw_job j = {.buf = (const uint8_t *)(((uintptr_t)raw + 63) & ~(uintptr_t)63), .bytes = bytes};
    run_job(pool, bw_fill, &j);
    double best = 0;
    for (int pass = 0; pass < 5; pass++) {
        double t0 = now_s();
        run_job(pool, bw_read, &j);
        double dt = now_s() - t0;
        if (dt > 0 && (double)bytes / dt > best) best = (double)bytes / dt;
    }
    fg_free(raw);
    return best / 1e9;
}
