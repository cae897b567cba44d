/* Memory read-rate probe: how fast can all pool threads stream a set of byte ranges?
 * Decode reads every weight once per token, so the rate at which the machine streams
 * the model's own weights (fg_session_weight_read_rate) is the ceiling decode speed is
 * compared with in `frugal bench`; a fresh anonymous buffer (fg_measure_read_bandwidth)
 * gives the machine's figure where no model is loaded.
 *
 * The figure must be the best the machine can do, or decode shows more than 100 % of it:
 *  - The loop has to be bound by memory, not by the core: plain C over 32-byte vector
 *    types compiled for baseline x86-64 kept its accumulators on the stack, and at
 *    2.1 GHz read 14-15 GB/s where the same loop with AVX2 loads read 24-30 GB/s (a VM
 *    with a 300 MiB L3, 2026-11-27). So the x86 loop is compiled for AVX2 where the CPU
 *    has it (whatever path the kernels are forced to: the ceiling is the machine's);
 *    NEON's 16-byte loads are baseline on aarch64. Every loop prefetches ahead, as the
 *    matmul tiles do.
 *  - The access pattern matters as much: on that VM two threads read 25-32 GB/s as one
 *    forward stream each and 36-37 GB/s as four (each 32 KB chunk read as four quarters
 *    side by side, the pattern of the decode tiles, matmul-impl.h fg_row_chunk). Passes
 *    alternate between the two patterns and the best pass counts.
 * Each thread reads a contiguous 1/nth of the ranges' concatenation with 4 (x86) or 8
 * (NEON, generic) independent accumulators; the other passes include page-table warm-up
 * and interference. */
#include "core/core.h"
#include "mem/mem.h"

#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define PF_AHEAD 8192
#define CHUNK ((size_t)32 << 10) /* the four-stream pattern: chunks read as 4 quarters */

typedef struct {
    const fg_span *spans;
    int n_spans;
    size_t total;
    bool avx2;
    bool four;         /* this pass: four streams per thread */
    uint64_t sink[64]; /* per-thread results keep the reads alive */
} rd_job;

typedef uint64_t v2u64 __attribute__((vector_size(16)));

/* ns streams of q bytes each, q apart, side by side (q a multiple of 128, p 16-byte
 * aligned), prefetching pf bytes ahead */
static uint64_t read_generic(const uint8_t *p, size_t q, int ns, size_t pf)
{
    v2u64 s[8] = {{0}};
    for (size_t i = 0; i < q; i += 128)
        for (int k = 0; k < ns; k++) {
            const uint8_t *b = p + (size_t)k * q + i;
            __builtin_prefetch(b + pf);
            __builtin_prefetch(b + pf + 64);
            for (int j = 0; j < 8; j++) {
                v2u64 v;
                memcpy(&v, b + 16 * j, sizeof v);
                s[j] += v;
            }
        }
    v2u64 t = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    return t[0] + t[1];
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t q, int ns, size_t pf)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < q; i += 128)
        for (int k = 0; k < ns; k++) {
            const uint8_t *b = p + (size_t)k * q + i;
            _mm_prefetch((const char *)b + pf, _MM_HINT_T0);
            _mm_prefetch((const char *)b + pf + 64, _MM_HINT_T0);
            s0 = _mm256_add_epi64(s0, _mm256_loadu_si256((const __m256i *)b));
            s1 = _mm256_add_epi64(s1, _mm256_loadu_si256((const __m256i *)(b + 32)));
            s2 = _mm256_add_epi64(s2, _mm256_loadu_si256((const __m256i *)(b + 64)));
            s3 = _mm256_add_epi64(s3, _mm256_loadu_si256((const __m256i *)(b + 96)));
        }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (uint64_t)_mm_cvtsi128_si64(h) + (uint64_t)_mm_extract_epi64(h, 1);
}
#endif

static uint64_t read_streams(const uint8_t *p, size_t q, int ns, size_t pf, bool avx2)
{
#if defined(__x86_64__)
    if (avx2) return read_avx2(p, q, ns, pf);
#endif
    (void)avx2;
    return read_generic(p, q, ns, pf);
}

/* [p, p + n): as one stream, or in CHUNK pieces of four streams each */
static uint64_t read_range(const uint8_t *p, size_t n, bool avx2, bool four)
{
    uint64_t s = 0;
    size_t head = (size_t)(-(uintptr_t)p & 15); /* to a 16-byte boundary */
    if (head > n) head = n;
    for (size_t i = 0; i < head; i++) s += p[i];
    p += head;
    n -= head;
    size_t done = 0;
    if (four)
        for (; done + CHUNK <= n; done += CHUNK) s += read_streams(p + done, CHUNK / 4, 4, CHUNK, avx2);
    size_t body = (n - done) / 128 * 128;
    s += read_streams(p + done, body, 1, PF_AHEAD, avx2);
    for (size_t i = done + body; i < n; i++) s += p[i];
    return s;
}

static void rd_task(void *arg, int ith, int nth)
{
    rd_job *j = arg;
    size_t a = j->total / (size_t)nth * (size_t)ith, b = ith == nth - 1 ? j->total : j->total / (size_t)nth * (size_t)(ith + 1);
    uint64_t s = 0;
    size_t at = 0; /* offset of span k in the concatenation */
    for (int k = 0; k < j->n_spans && at < b; k++) {
        size_t n = j->spans[k].bytes, lo = a > at ? a - at : 0, hi = b - at < n ? b - at : n;
        if (lo < hi) s += read_range((const uint8_t *)j->spans[k].p + lo, hi - lo, j->avx2, j->four);
        at += n;
    }
    if (ith < 64) j->sink[ith] = s;
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

double fg_measure_read_spans(fg_pool *pool, const fg_span *spans, int n_spans, int passes)
{
    rd_job j = {.spans = spans, .n_spans = n_spans};
#if defined(__x86_64__)
    j.avx2 = fg_isa_supported(FG_ISA_AVX2);
#endif
    for (int k = 0; k < n_spans; k++) j.total += spans[k].bytes;
    if (j.total == 0 || passes < 1) {
        fg_error(FG_ERR_ARG, "read probe: nothing to read");
        return -1;
    }
    double best = 0;
    for (int pass = 0; pass < passes; pass++) {
        j.four = pass & 1;
        double t0 = now_s();
        run_job(pool, rd_task, &j);
        double dt = now_s() - t0;
        if (dt > 0 && (double)j.total / dt > best) best = (double)j.total / dt;
    }
    return best / 1e9;
}

/* Pseudo-random contents: a buffer of identical pages (memset) can be merged by the
 * host (KSM under a VM: seen here, reads of such a buffer ran at 80 GB/s from "RAM"),
 * which would inflate the figure. */
static void bw_fill(void *arg, int ith, int nth)
{
    const fg_span *s = arg;
    size_t a = s->bytes * (size_t)ith / (size_t)nth / 8, b = s->bytes * (size_t)(ith + 1) / (size_t)nth / 8;
    uint64_t *p = (uint64_t *)(uintptr_t)s->p, x = 0x9E3779B97F4A7C15ull * (uint64_t)(ith + 1);
    for (size_t i = a; i < b; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = x;
    }
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
    fg_span s = {.p = (const void *)(((uintptr_t)raw + 63) & ~(uintptr_t)63), .bytes = bytes};
    run_job(pool, bw_fill, &s);
    double gbs = fg_measure_read_spans(pool, &s, 1, 6);
    fg_free(raw);
    return gbs;
}
