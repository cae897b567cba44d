/* matmul_bench: throughput of fg_matmul per dtype and instruction-set path.
 *
 *   decode (n = 1): GB/s of weights streamed, cycling over enough copies of the matrix
 *                   (>= 256 MB) that every call reads from RAM, best and median of 200
 *                   calls, the best as a share of the machine's read bandwidth
 *                   (fg_measure_read_bandwidth);
 *   prefill (n = 64): GFLOP/s (2 * rows * cols * n per call) on one matrix.
 * Shapes: 4864 x 896 and 8960 x 1536 (the Qwen2.5-0.5B / 1.5B MLP up-projections); for
 * the K-quants, whose rows must be a multiple of 256, their transposes 896 x 4864 and
 * 1536 x 8960 (the down-projections).
 *
 * Build (from the repository root, after `cmake --build build-kern --target frugal`):
 *   gcc -O2 -Iinclude -Isrc bench/matmul_bench.c build-kern/libfrugal.a \
 *       -lcjson -lpcre2-8 -lutf8proc -lpthread -lm -o build-kern/matmul_bench
 * Run: build-kern/matmul_bench [threads] [isa]      (defaults: physical cores, best)
 * BENCH_DTYPE=q4_k limits it to one dtype; BENCH_SHAPE=ROWS,COLS replaces the shapes; BENCH_CPU_TIME=1 with 1 thread times by the
 * thread's CPU time (for a machine shared with other jobs). */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

/* With 1 thread and BENCH_CPU_TIME set, the thread's CPU time instead of the wall clock:
 * compute throughput that holds on a busy shared machine (not memory-bound figures). */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1p-53 * 2 - 1);
}

static void bench(fg_pool *pool, fg_dtype dt, int64_t rows, int64_t cols, double bw)
{
    size_t rb = fg_row_bytes(dt, cols), mb = rb * (size_t)rows;
    /* BENCH_HOT=1: one copy, so decode reads from cache (the kernel's compute ceiling) */
    int copies = getenv("BENCH_HOT") ? 1 : (int)((256u << 20) / mb) + 1;
    uint8_t *w = malloc(mb * (size_t)copies);
    float *row = malloc(sizeof(float) * (size_t)cols);
    const int n_pre = 64;
    float *x = malloc(sizeof(float) * (size_t)(cols * n_pre));
    float *y = malloc(sizeof(float) * (size_t)(rows * n_pre));
    size_t ws = fg_matmul_work_size(dt, cols, n_pre, fg_pool_size(pool));
    void *work = ws ? malloc(ws) : NULL;
    if (!w || !row || !x || !y || (ws && !work)) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < cols; i++) row[i] = frand() * 0.05f;
        fg_quantize_row(dt, row, w + (size_t)r * rb, cols);
    }
    for (int c = 1; c < copies; c++) memcpy(w + (size_t)c * mb, w, mb);
    for (int64_t i = 0; i < cols * n_pre; i++) x[i] = frand();
    fg_mat m = {.dtype = dt, .rows = rows, .cols = cols, .row_stride = rb, .data = w};

    /* decode: every call on the next copy (so it reads from RAM); the median call and
     * the best one (the best is what the machine can do when nothing else runs) */
    enum { CALLS = 200 };
    double times[CALLS];
    for (int i = 0; i < CALLS; i++) {
        m.data = w + (size_t)(i % copies) * mb;
        double t0 = now_s();
        fg_matmul(&m, x, 1, y, pool, work);
        times[i] = now_s() - t0;
    }
    qsort(times, CALLS, sizeof times[0], cmp_double);
    double best = times[0], median = times[CALLS / 2];
    double gbs = (double)mb / best / 1e9;

    /* prefill: n = 64 on one matrix, best of enough calls for ~0.3 s */
    m.data = w;
    double t0 = now_s();
    fg_matmul(&m, x, n_pre, y, pool, work);
    double one = now_s() - t0;
    int reps = (int)(0.3 / (one > 1e-6 ? one : 1e-6)) + 1;
    double bestp = 1e30;
    for (int i = 0; i < reps; i++) {
        t0 = now_s();
        fg_matmul(&m, x, n_pre, y, pool, work);
        double d = now_s() - t0;
        if (d < bestp) bestp = d;
    }
    double gflops = 2.0 * (double)rows * (double)cols * n_pre / bestp / 1e9;
    printf("%-6s %5lld x %-5lld %6.2f MB | n=1 best %7.1f us %5.1f GB/s %3.0f%%, median %5.1f GB/s | n=64 %7.2f ms "
           "%6.1f GFLOP/s\n",
           fg_dtype_name(dt), (long long)rows, (long long)cols, (double)mb / 1e6, best * 1e6, gbs,
           100.0 * gbs / bw, (double)mb / median / 1e9, bestp * 1e3, gflops);
    free(w);
    free(row);
    free(x);
    free(y);
    free(work);
}

/* BENCH_MODEL=1: the matrices of one Qwen2.5-0.5B decode step (24 layers of q, k, v, o,
 * gate, up, down, then the 151936-row output), all distinct in memory, in model order:
 * how the kernel does on the real sequence of shapes (cold streams, small matrices). */
static void bench_model(fg_pool *pool, fg_dtype dt)
{
    const int64_t shp[8][2] = {{896, 896}, {128, 896}, {128, 896}, {896, 896},
                               {4864, 896}, {4864, 896}, {896, 4864}, {151936, 896}};
    const int L = 24, nm = L * 7 + 1;
    fg_mat *m = calloc((size_t)nm, sizeof *m);
    size_t total = 0;
    for (int i = 0; i < nm; i++) {
        int k = i == nm - 1 ? 7 : i % 7;
        m[i] = (fg_mat){.dtype = dt, .rows = shp[k][0], .cols = shp[k][1],
                        .row_stride = fg_row_bytes(dt, shp[k][1])};
        size_t b = m[i].row_stride * (size_t)m[i].rows;
        uint8_t *d = NULL;
        if (getenv("BENCH_THP")) {
            if (posix_memalign((void **)&d, 2u << 20, b)) exit(1);
            madvise(d, b, MADV_HUGEPAGE);
        } else d = malloc(b);
        if (!d) exit(1);
        for (size_t j = 0; j < b; j++) d[j] = (uint8_t)(frand() * 100);
        for (int64_t r = 0; r < m[i].rows && fg_dtype_get(dt)->block_elems == 32; r++) /* finite scales */
            for (int64_t c = 0; c < m[i].cols / 32; c++) memset(d + (size_t)r * m[i].row_stride + (size_t)c * fg_dtype_get(dt)->block_bytes, 0x20, 2);
        m[i].data = d;
        total += b;
    }
    float *x = calloc(151936, sizeof(float)), *y = calloc(151936, sizeof(float));
    void *work = malloc(fg_matmul_work_size(dt, 4864, 1, fg_pool_size(pool)) + 4096);
    double times[20];
    for (int it = 0; it < 20; it++) {
        double t0 = now_s();
        for (int i = 0; i < nm; i++) fg_matmul(&m[i], x, 1, y, pool, work);
        times[it] = now_s() - t0;
    }
    qsort(times, 20, sizeof times[0], cmp_double);
    printf("%-6s model 0.5B step %.1f MB | best %.2f ms %.1f GB/s, median %.2f ms %.1f GB/s\n",
           fg_dtype_name(dt), total / 1e6, times[0] * 1e3, total / times[0] / 1e9, times[10] * 1e3,
           total / times[10] / 1e9);
    for (int i = 0; i < nm; i++) free((void *)m[i].data);
    free(m);
    free(x);
    free(y);
    free(work);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : fg_physical_cores();
    if (threads < 1) threads = 1;
    if (argc > 2) {
        fg_isa isa = FG_ISA_COUNT;
        for (int i = 0; i < FG_ISA_COUNT; i++)
            if (!strcmp(argv[2], fg_isa_name((fg_isa)i))) isa = (fg_isa)i;
        if (fg_isa_force(isa) != FG_OK) {
            fprintf(stderr, "matmul_bench: %s\n", fg_last_error());
            return 1;
        }
    }
    if (threads == 1 && getenv("BENCH_CPU_TIME")) bench_clock = CLOCK_THREAD_CPUTIME_ID;
    fg_pool *pool = NULL;
    if (fg_pool_create(threads, &pool) != FG_OK) {
        fprintf(stderr, "matmul_bench: %s\n", fg_last_error());
        return 1;
    }
    double bw = fg_measure_read_bandwidth(pool, 512u << 20);
    printf("threads %d, path %s, read bandwidth %.1f GB/s\n", threads, fg_isa_name(fg_isa_active()), bw);
    const fg_dtype types[] = {FG_DT_F32, FG_DT_F16, FG_DT_BF16, FG_DT_Q8_0, FG_DT_Q4_0,
                              FG_DT_Q4_K, FG_DT_Q5_K, FG_DT_Q6_K};
    const char *only = getenv("BENCH_DTYPE");
    if (getenv("BENCH_MODEL")) {
        bench_model(pool, only ? fg_dtype_from_name(only) : FG_DT_Q8_0);
        fg_pool_free(pool);
        return 0;
    }
    long long sr = 0, sc = 0;
    const char *shape = getenv("BENCH_SHAPE");
    if (shape && (sscanf(shape, "%lld,%lld", &sr, &sc) != 2 || sr < 1 || sc < 1)) {
        fprintf(stderr, "matmul_bench: BENCH_SHAPE must be ROWS,COLS\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (only && fg_dtype_from_name(only) != types[i]) continue;
        if (shape) {
            bench(pool, types[i], sr, sc, bw);
            continue;
        }
        bool k = fg_dtype_get(types[i])->block_elems == 256;
        bench(pool, types[i], k ? 896 : 4864, k ? 4864 : 896, bw);
        bench(pool, types[i], k ? 1536 : 8960, k ? 8960 : 1536, bw);
    }
    fg_pool_free(pool);
    return 0;
}
