/* fg_matmul: Y = X · Wᵀ with runtime choice of the instruction-set path, and the scalar
 * reference kernel.
 *
 * Work split: the weight rows are cut into tiles (multiples of the path's row_align),
 * each taken by one thread, so each weight byte is read by exactly one thread and
 * nothing is shared in the inner loops; for decode, threads that finish early take
 * tiles from the others (see mm_job). For quantized weights the SIMD paths first
 * quantize X into `work` (one pass, tokens split over the threads; in decode, each thread
 * its own copy at the start of its job), then compute. A
 * call may name the matrices that follow, which each thread, done with its rows,
 * queues for prefetch while it waits (fg_prefetch_queue).
 *
 * The scalar path is the reference: it dequantizes each weight block to float32 and
 * takes the dot product with the float32 activations (8 float partial sums per block,
 * blocks summed in double), so its only error is float32 rounding. */
#include "core/matmul-impl.h"
#include "core/quant-impl.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(FG_ARCH_ARM64) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(FG_ARCH_X86)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

/* ---- scalar kernel ------------------------------------------------------------------ */

#define SCALAR_TOK 4   /* tokens per pass over a weight row */

static float dot_f32(const float *a, const float *b, int n)
{
    float p[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) p[k] += a[i + k] * b[i + k];
    for (; i < n; i++) p[0] += a[i] * b[i];
    return ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
}

static void scalar_rows(const fg_mm_task *t, int64_t r0, int64_t r1)
{
    const fg_mat *w = t->w;
    const int64_t cols = w->cols;
    const fg_dtype_info *info = fg_dtype_get(w->dtype);
    /* chunk: one quant block, or 256 elements of a float row */
    const int chunk = info->block_elems > 1 ? info->block_elems : 256;
    const size_t chunk_bytes = info->block_elems > 1 ? (size_t)info->block_bytes
                                                     : (size_t)256 * info->block_bytes;
    float buf[256];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
        for (int t0 = 0; t0 < t->n; t0 += SCALAR_TOK) {
            int nt = t->n - t0 < SCALAR_TOK ? t->n - t0 : SCALAR_TOK;
            double acc[SCALAR_TOK] = {0};
            for (int64_t c = 0; c < cols; c += chunk) {
                int len = cols - c < chunk ? (int)(cols - c) : chunk;
                const float *wv;
                if (w->dtype == FG_DT_F32) {
                    wv = (const float *)row + c;
                } else {
                    fg_dequant_row(w->dtype, row + (size_t)(c / chunk) * chunk_bytes, buf, len);
                    wv = buf;
                }
                for (int k = 0; k < nt; k++)
                    acc[k] += dot_f32(wv, t->x + (size_t)(t0 + k) * cols + c, len);
            }
            for (int k = 0; k < nt; k++) t->y[(size_t)(t0 + k) * w->rows + r] = (float)acc[k];
        }
    }
}

const fg_mm_kernels fg_mm_scalar = {
    .rows = {
        [FG_DT_F32] = scalar_rows, [FG_DT_F16] = scalar_rows, [FG_DT_BF16] = scalar_rows,
        [FG_DT_Q8_0] = scalar_rows, [FG_DT_Q4_0] = scalar_rows, [FG_DT_Q4_K] = scalar_rows,
        [FG_DT_Q5_K] = scalar_rows, [FG_DT_Q6_K] = scalar_rows,
    },
    .prep_bytes = NULL,
    .prep = NULL,
    .row_align = 1,
};

/* ---- dispatch ----------------------------------------------------------------------- */

static const char *const isa_names[FG_ISA_COUNT] = {"scalar", "avx2", "avx512", "avx512vnni", "avx512amx", "neon", "neondot"};

const char *fg_isa_name(fg_isa isa)
{
    if ((int)isa < 0 || isa >= FG_ISA_COUNT) return "?";
    return isa_names[isa];
}

#if defined(FG_ARCH_X86)
/* F16C (CPUID.1:ECX bit 29) from cpuid.h: clang 14's __builtin_cpu_supports has no "f16c". */
static bool cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

/* AVX512-BF16 (CPUID.(7,1):EAX bit 5), AMX-BF16 and AMX-TILE (CPUID.(7,0):EDX bits 22, 24),
 * and Linux's permission to use the tile data state, asked for once per process
 * (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, Linux 5.16+): without it the
 * first tile instruction faults. */
static bool cpu_has_amx_bf16(void)
{
    static _Atomic int known = -1;
    int v = atomic_load(&known);
    if (v >= 0) return v;
    unsigned a, b, c, d;
    v = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 22)) && (d & (1u << 24)) &&
        __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
#if defined(__linux__)
    if (v) v = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#else
    v = 0;
#endif
    atomic_store(&known, v);
    return v;
}
#endif

bool fg_isa_supported(fg_isa isa)
{
    switch (isa) {
    case FG_ISA_SCALAR:
        return true;
#if defined(FG_ARCH_X86)
    case FG_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case FG_ISA_AVX512:
        __builtin_cpu_init();
        return fg_isa_supported(FG_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq");
    case FG_ISA_AVX512_VNNI:
        return fg_isa_supported(FG_ISA_AVX512) && __builtin_cpu_supports("avx512vnni");
    case FG_ISA_AVX512_AMX:
        return fg_isa_supported(FG_ISA_AVX512_VNNI) && cpu_has_amx_bf16();
#endif
#if defined(FG_ARCH_ARM64)
    case FG_ISA_NEON: /* ASIMD is part of every AArch64 CPU this builds for */
        return true;
    case FG_ISA_NEON_DOT: {
#if defined(__linux__)
        unsigned long hw = getauxval(AT_HWCAP);
        /* HWCAP_ASIMD (bit 1) and HWCAP_ASIMDDP (bit 20, the SDOT/UDOT dot products) */
        return (hw & (1ul << 1)) && (hw & (1ul << 20));
#else
        return false;
#endif
    }
#endif
    default:
        return false;
    }
}

static const fg_mm_kernels *isa_kernels(fg_isa isa)
{
    switch (isa) {
#if defined(FG_ARCH_X86)
    case FG_ISA_AVX2: return &fg_mm_avx2;
    case FG_ISA_AVX512: return &fg_mm_avx512;
    case FG_ISA_AVX512_VNNI: return &fg_mm_avx512vnni;
    case FG_ISA_AVX512_AMX: return &fg_mm_avx512amx;
#endif
#if defined(FG_ARCH_ARM64)
    case FG_ISA_NEON: return &fg_mm_neon;
    case FG_ISA_NEON_DOT: return &fg_mm_neondot;
#endif
    default: return &fg_mm_scalar;
    }
}

static _Atomic int active_isa = -1;

static fg_isa best_isa(void)
{
    const char *env = getenv("FG_ISA");
    if (env && *env) {
        for (int i = 0; i < FG_ISA_COUNT; i++)
            if (strcmp(env, isa_names[i]) == 0 && fg_isa_supported((fg_isa)i)) return (fg_isa)i;
        /* an unknown or unsupported FG_ISA falls through to the automatic choice */
    }
    for (int i = FG_ISA_COUNT - 1; i > 0; i--)
        if (fg_isa_supported((fg_isa)i)) return (fg_isa)i;
    return FG_ISA_SCALAR;
}

fg_isa fg_isa_active(void)
{
    int a = atomic_load_explicit(&active_isa, memory_order_acquire);
    if (a < 0) {
        int expected = -1;
        a = (int)best_isa();
        if (!atomic_compare_exchange_strong(&active_isa, &expected, a)) a = expected;
    }
    return (fg_isa)a;
}

fg_status fg_isa_force(fg_isa isa)
{
    if ((int)isa < 0 || isa >= FG_ISA_COUNT)
        return fg_error(FG_ERR_ARG, "unknown instruction-set path %d", (int)isa);
    if (!fg_isa_supported(isa))
        return fg_error(FG_ERR_UNSUPPORTED, "this CPU (or build) has no %s path", isa_names[isa]);
    atomic_store_explicit(&active_isa, (int)isa, memory_order_release);
    return FG_OK;
}

/* ---- fg_matmul ---------------------------------------------------------------------- */

static size_t prep_size(const fg_mm_kernels *k, fg_dtype dt, int64_t cols, int n)
{
    if (!k->rows[dt] || !k->prep_bytes) return 0;
    return k->prep_bytes(dt, cols, n);
}

/* A group of matrices with different dtypes (q and k in Q4_K, v in Q6_K: the usual _M
 * mixture) shares one job for up to this many tokens, each dtype with its own prepared X
 * in `work` (at most FG_MM_GROUP of them); larger calls go one matrix at a time. */
#define MIXED_MAX_TOKENS 4

/* Up to STEAL_MAX_TOKENS tokens on 2 to STEAL_MAX_THREADS threads, the tiles are shared
 * out (see mm_job) and each thread prepares X itself, into its own part of `work` (see
 * group_then); larger pools split such calls as batches, with one preparation. */
#define STEAL_MAX_TOKENS 4
#define STEAL_MAX_THREADS 64

size_t fg_matmul_work_size(fg_dtype dt, int64_t cols, int n, int n_threads)
{
    if (!fg_dtype_get(dt) || cols <= 0 || n <= 0) return 0;
    if (fg_row_bytes(dt, cols) == 0) return 0;
    /* the largest any supported path needs, so fg_isa_force may change the path later;
     * for a quantized dtype also room for a mixed group's FG_MM_GROUP preparations, once
     * per thread for the few tokens of a decode call */
    const int nd = n < MIXED_MAX_TOKENS ? n : MIXED_MAX_TOKENS, ns = n < STEAL_MAX_TOKENS ? n : STEAL_MAX_TOKENS;
    size_t best = 0, mixed = 0, own = 0;
    for (int i = 0; i < FG_ISA_COUNT; i++) {
        if (!fg_isa_supported((fg_isa)i)) continue;
        const fg_mm_kernels *k = isa_kernels((fg_isa)i);
        size_t s = prep_size(k, dt, cols, n);
        if (s > best) best = s;
        for (int q = 0; q < FG_DT_COUNT && fg_dtype_is_quant(dt); q++) {
            if (!fg_dtype_is_quant((fg_dtype)q) || fg_row_bytes((fg_dtype)q, cols) == 0) continue;
            size_t m = fg_mm_round_up(prep_size(k, (fg_dtype)q, cols, nd), FG_MM_ALIGN) * FG_MM_GROUP;
            if (m > mixed) mixed = m;
            if (n_threads > 1 && n_threads <= STEAL_MAX_THREADS) {
                m = fg_mm_round_up(prep_size(k, (fg_dtype)q, cols, ns), FG_MM_ALIGN) * FG_MM_GROUP * (size_t)n_threads;
                if (m > own) own = m;
            }
        }
    }
    if (mixed > best) best = mixed;
    if (own > best) best = own;
    return best ? best + FG_MM_ALIGN : 0; /* + slack to align `work` */
}

/* One job: up to FG_MM_GROUP matrices with the same columns, applied to the same X
 * (prepared once per dtype among them; different dtypes only up to MIXED_MAX_TOKENS
 * tokens), so a group costs one hand-off to the pool, not one each. Their
 * rows form one range: [0, start[nm]), one matrix after the other, or, for a batch whose
 * matrices all have the same rows (gate and up), [0, rows) standing for that row of each
 * ("interleaved"), so that a tile holds the same rows of all of them and a gated
 * feed-forward can combine gate and up where they were computed (fg_matmul_glu_then).
 * Decode does not interleave: each thread then streams one long run of one matrix
 * instead of switching between two every tile, which measured 1-2.7 % faster per token
 * for Q4_K_M (0.5B, 1.5B) and 0 to 1.8 % for 0.5B Q8_0, with the 8 KB prefetch, even
 * with the combination done after the job, on the calling thread. The range is cut into tiles
 * of whole rows:
 *  - batches (prefill, compute-bound): one tile per thread, taken in order;
 *  - a few tokens (decode, bound by memory): tiles of ~STEAL_TILE_BYTES of weights, a
 *    contiguous run of them per thread, which it takes from the front; a thread done
 *    with its own takes the last tile of whoever has most left. Threads do not finish
 *    together on their own (one started earlier, one had its share prefetched while the
 *    other worked on the serial steps between matmuls), and a static split makes every
 *    matmul wait for the slower one. */
#define STEAL_TILE_BYTES ((size_t)32 << 10)

/* a thread's tiles not yet taken, [lo, hi), packed as lo << 32 | hi: one CAS claims one */
typedef struct {
    _Alignas(64) _Atomic uint64_t r;
} tile_range;

typedef struct {
    fg_mm_task task[FG_MM_GROUP];  /* per matrix; xq shared by those of one dtype */
    int64_t start[FG_MM_GROUP + 1];
    int nm;
    bool inter;            /* rows interleaved: tile rows stand for those rows of each */
    bool glu;              /* then y0 = silu(y0) * y1 on them (inter, nm == 2) */
    int64_t span;          /* the range: start[nm], or the common rows when interleaved */
    const fg_mm_kernels *k;
    fg_mm_rows_fn fn[FG_MM_GROUP]; /* per matrix */
    int64_t tile, ntiles;  /* rows per tile, tiles */
    tile_range *ranges;    /* per thread when tiles are shared out; NULL: taken in order */
    int nth;               /* threads of the pool */
    int nn;                /* the matrices multiplied next, whose shares are prefetched */
    const fg_mat *const *next;
    size_t own_xq;         /* > 0: each thread prepares X itself, task[i].xq + ith * own_xq */
    bool preps[FG_MM_GROUP]; /* task i's dtype is prepared there (the first of its dtype) */
} mm_job;

static bool valid_mat(const fg_mat *w)
{
    return fg_dtype_get(w->dtype) && w->cols > 0 && fg_row_bytes(w->dtype, w->cols) != 0 &&
           w->row_stride >= fg_row_bytes(w->dtype, w->cols);
}

/* whether a call on n tokens shares its tiles out (decode) */
static bool shares_tiles(const mm_job *j, int n)
{
    return j->nth > 1 && j->nth <= STEAL_MAX_THREADS && n <= STEAL_MAX_TOKENS;
}

/* How nm matrices are cut for n tokens over j->nth threads: the kernels, j->start and the
 * tiles. False when they cannot share a job (different columns, different dtypes beyond
 * MIXED_MAX_TOKENS tokens, a boundary between them off the path's row alignment, or an
 * invalid one): one call each then. */
static bool plan_group(int nm, const fg_mat *const w[], int n, mm_job *j)
{
    if (nm < 1 || nm > FG_MM_GROUP) return false;
    size_t stride = 0;
    for (int i = 0; i < nm; i++) {
        if (!valid_mat(w[i]) || w[i]->cols != w[0]->cols) return false;
        if (w[i]->dtype != w[0]->dtype && n > MIXED_MAX_TOKENS) return false;
        if (w[i]->row_stride > stride) stride = w[i]->row_stride;
    }
    j->nm = nm;
    j->k = isa_kernels(fg_isa_active());
    for (int i = 0; i < nm; i++) j->fn[i] = j->k->rows[w[i]->dtype];
    for (int i = 0; i < nm; i++)
        if (!j->fn[i]) { /* a dtype the path leaves to the scalar kernel: the group with it */
            j->k = &fg_mm_scalar;
            for (int m = 0; m < nm; m++) j->fn[m] = scalar_rows;
            break;
        }
    const int64_t align = j->k->row_align > 0 ? j->k->row_align : 1;
    j->inter = nm > 1 && !shares_tiles(j, n);
    for (int i = 1; i < nm; i++)
        if (w[i]->rows != w[0]->rows) j->inter = false;
    for (int i = 0; i < nm - 1 && !j->inter; i++)
        if (w[i]->rows % align != 0) return false;
    j->start[0] = 0;
    for (int i = 0; i < nm; i++) j->start[i + 1] = j->start[i] + (w[i]->rows > 0 ? w[i]->rows : 0);
    const int64_t rows = j->span = j->inter ? j->start[1] : j->start[nm];
    j->ranges = NULL; /* set by the caller that shares tiles out */
    int64_t tile = 0;
    if (shares_tiles(j, n)) { /* STEAL_TILE_BYTES of weights, of all the matrices together */
        tile = (int64_t)(STEAL_TILE_BYTES / stride / (j->inter ? (size_t)nm : 1));
        tile = tile < align ? align : (tile + align - 1) / align * align;
        if ((rows + tile - 1) / tile > (int64_t)UINT32_MAX) tile = 0; /* tile_range counts in 32 bits */
    }
    if (!tile) {
        tile = (rows + j->nth - 1) / j->nth;
        tile = tile < align ? align : (tile + align - 1) / align * align;
    }
    j->tile = tile;
    j->ntiles = (rows + j->tile - 1) / j->tile;
    return true;
}

/* the rows [*a, *b) of matrix i in the range's rows [lo, hi) (empty: *a >= *b) */
static void tile_rows(const mm_job *j, int i, int64_t lo, int64_t hi, int64_t *a, int64_t *b)
{
    const int64_t off = j->inter ? 0 : j->start[i], end = j->inter ? j->span : j->start[i + 1];
    *a = (lo > off ? lo : off) - off;
    *b = (hi < end ? hi : end) - off;
}

/* thread ith's own tiles [*t0, *t1): a contiguous run when tiles are shared out, else
 * tile ith */
static void own_tiles(const mm_job *j, bool shared, int ith, int64_t *t0, int64_t *t1)
{
    if (shared) {
        *t0 = j->ntiles * ith / j->nth;
        *t1 = j->ntiles * (ith + 1) / j->nth;
    } else {
        *t0 = ith < j->ntiles ? ith : j->ntiles;
        *t1 = ith + 1 < j->ntiles ? ith + 1 : j->ntiles;
    }
}

/* Queues thread ith's share of the next matrices for background prefetch: the rows it
 * will start with (of the first one alone when they will go one call each). */
static void queue_next(const mm_job *j, int ith)
{
    mm_job nx = {.nth = j->nth};
    int nn = j->nn, n = j->task[0].n;
    if (!plan_group(nn, j->next, n, &nx)) {
        nn = 1;
        if (!plan_group(1, j->next, n, &nx)) return;
    }
    fg_prefetch_clear();
    int64_t t0, t1;
    own_tiles(&nx, shares_tiles(&nx, n), ith, &t0, &t1);
    int64_t lo = t0 * nx.tile, hi = t1 * nx.tile;
    for (int i = 0; i < nn; i++) {
        int64_t a, b;
        tile_rows(&nx, i, lo, hi, &a, &b);
        const fg_mat *w = j->next[i];
        if (a < b) fg_prefetch_queue((const uint8_t *)w->data + (size_t)a * w->row_stride, (size_t)(b - a) * w->row_stride);
    }
}

typedef struct {
    const fg_mm_kernels *k;
    const fg_mm_task *task;
} prep_arg;

static void prep_job(void *arg, int ith, int nth)
{
    const prep_arg *p = arg;
    p->k->prep(p->task, ith, nth);
}

/* the rows of tile t in each of the group's matrices; then, for a gated feed-forward,
 * gate = silu(gate) * up on them, for every token, while they are in this core's cache */
static void run_tile(const mm_job *j, int64_t t)
{
    int64_t lo = t * j->tile, hi = lo + j->tile, a = 0, b = 0;
    for (int i = 0; i < j->nm; i++) {
        tile_rows(j, i, lo, hi, &a, &b);
        if (a < b) j->fn[i](&j->task[i], a, b);
    }
    if (j->glu && j->inter && a < b) {
        const int64_t rows = j->span;
        for (int k = 0; k < j->task[0].n; k++)
            fg_vec_silu_mul(j->task[0].y + (size_t)k * rows + a, j->task[1].y + (size_t)k * rows + a, b - a);
    }
}

/* claims the first (front) or last tile left in r */
static bool claim(tile_range *r, bool front, int64_t *t)
{
    uint64_t v = atomic_load_explicit(&r->r, memory_order_relaxed);
    for (;;) {
        uint64_t lo = v >> 32, hi = v & 0xffffffffu;
        if (lo >= hi) return false;
        uint64_t nv = front ? (lo + 1) << 32 | hi : lo << 32 | (hi - 1);
        if (atomic_compare_exchange_weak_explicit(&r->r, &v, nv, memory_order_relaxed, memory_order_relaxed)) {
            *t = (int64_t)(front ? lo : hi - 1);
            return true;
        }
    }
}

static void rows_job(void *arg, int ith, int nth)
{
    (void)nth;
    const mm_job *j = arg;
    mm_job own;
    if (j->own_xq) { /* X prepared into this thread's part of `work` (see group_then) */
        own = *j;
        for (int i = 0; i < j->nm; i++) {
            if (!j->task[i].xq) continue;
            own.task[i].xq = j->task[i].xq + (size_t)ith * j->own_xq;
            if (j->preps[i]) j->k->prep(&own.task[i], 0, 1);
        }
        j = &own;
    }
    if (!j->ranges) {
        int64_t t0, t1;
        own_tiles(j, false, ith, &t0, &t1);
        for (int64_t t = t0; t < t1; t++) run_tile(j, t);
    } else {
        int64_t t;
        while (claim(&j->ranges[ith], true, &t)) run_tile(j, t);
        for (;;) { /* then the last tile of whoever has most left */
            int victim = -1;
            uint64_t most = 0;
            for (int v = 0; v < j->nth; v++) {
                uint64_t r = atomic_load_explicit(&j->ranges[v].r, memory_order_relaxed);
                uint64_t lo = r >> 32, hi = r & 0xffffffffu;
                if (hi > lo && hi - lo > most) most = hi - lo, victim = v;
            }
            if (victim < 0) break;
            if (claim(&j->ranges[victim], false, &t)) run_tile(j, t);
        }
    }
    if (j->nn > 0) queue_next(j, ith);
}

static void run(fg_pool *pool, fg_task_fn fn, void *arg)
{
    if (pool && fg_pool_size(pool) > 1)
        fg_pool_run(pool, fn, arg);
    else
        fn(arg, 0, 1);
}

/* fg_matmul_group_then, and with glu (nm == 2, equal rows) fg_matmul_glu_then */
static void group_then(int nm, const fg_mat *const w[], const float *x, int n, float *const y[], fg_pool *pool,
                       void *work, int nn, const fg_mat *const next[], bool glu)
{
    if (n <= 0 || nm <= 0) return;
    int nth = pool ? fg_pool_size(pool) : 1;
    if (nth < 1) nth = 1;
    mm_job j = {.nth = nth, .nn = next ? nn : 0, .next = next};
    if (!plan_group(nm, w, n, &j)) {
        if (nm > 1) { /* one call each, the last one naming what comes next */
            for (int i = 0; i < nm; i++)
                group_then(1, &w[i], x, n, &y[i], pool, work, i == nm - 1 ? nn : 1, i == nm - 1 ? next : &w[i + 1],
                           false);
            if (glu) fg_vec_silu_mul(y[0], y[1], (int64_t)n * w[0]->rows);
        } else if (w[0]->rows > 0) {
            /* a caller bug (shapes are validated when weights are bound): make it visible */
            for (size_t e = 0; e < (size_t)n * (size_t)w[0]->rows; e++) y[0][e] = NAN;
        }
        return;
    }
    j.glu = glu;
    for (int i = 0; i < nm; i++) j.task[i] = (fg_mm_task){.w = w[i], .x = x, .n = n, .y = y[i]};
    const int64_t rows = j.span;
    if (rows <= 0) return;
    /* X prepared once per dtype that wants it, one after the other in `work`. When a few
     * tokens' tiles are shared out (decode), every thread prepares them itself, in its own
     * part of `work`, at the start of its job: no serial step between the hand-offs, and
     * no thread writes lines another one has read: the caller's writes to a preparation
     * the others had read cost up to 3.6 us more per call (4864 columns) when the VM's
     * two vCPUs sat far apart (a 350 ns cache-line round trip). Same-process alternation
     * per token, own/shared: 0.986-1.000, median 0.993 (0.5B Q4_K_M and Q8_0, 1.5B Q4_K_M). */
    const int64_t cols = w[0]->cols;
    uint8_t *const base = work ? (uint8_t *)fg_mm_round_up((size_t)(uintptr_t)work, FG_MM_ALIGN) : NULL;
    uint8_t *area = base;
    const bool own = nth > 1 && j.ntiles > 1 && shares_tiles(&j, n);
    for (int i = 0; i < nm; i++) {
        size_t need = prep_size(j.k, w[i]->dtype, cols, n);
        if (!need) continue;
        if (!area) { /* the caller must pass fg_matmul_work_size bytes: use the exact path */
            j.k = &fg_mm_scalar; /* row_align 1: the tiles stay valid */
            for (int m = 0; m < nm; m++) {
                j.fn[m] = scalar_rows;
                j.task[m].xq = NULL;
            }
            break;
        }
        int same = 0;
        while (same < i && !(j.task[same].xq && w[same]->dtype == w[i]->dtype)) same++;
        j.task[i].xq_stride = fg_xq_stride(cols);
        if (same < i) {
            j.task[i].xq = j.task[same].xq;
            continue;
        }
        j.task[i].xq = area;
        area += fg_mm_round_up(need, FG_MM_ALIGN);
        if (own) {
            j.preps[i] = true;
            continue;
        }
        prep_arg pa = {j.k, &j.task[i]};
        if (n >= 4 * nth && nth > 1)
            run(pool, prep_job, &pa);
        else
            prep_job(&pa, 0, 1);
    }
    if (own) j.own_xq = (size_t)(area - base);
    tile_range ranges[STEAL_MAX_THREADS];
    if (nth > 1 && j.ntiles > 1) {
        if (shares_tiles(&j, n)) {
            for (int i = 0; i < nth; i++) {
                int64_t t0, t1;
                own_tiles(&j, true, i, &t0, &t1);
                atomic_init(&ranges[i].r, (uint64_t)t0 << 32 | (uint64_t)t1);
            }
            j.ranges = ranges;
        }
        run(pool, rows_job, &j);
    } else { /* all rows here, as one tile */
        j.tile = rows;
        j.ntiles = 1;
        rows_job(&j, 0, 1);
    }
    if (glu && !j.inter) fg_vec_silu_mul(y[0], y[1], (int64_t)n * w[0]->rows);
}

void fg_matmul_group_then(int nm, const fg_mat *const w[], const float *x, int n, float *const y[], fg_pool *pool,
                          void *work, int nn, const fg_mat *const next[])
{
    group_then(nm, w, x, n, y, pool, work, nn, next, false);
}

void fg_matmul_glu_then(const fg_mat *gate, const fg_mat *up, const float *x, int n, float *y_gate, float *y_up,
                        fg_pool *pool, void *work, int nn, const fg_mat *const next[])
{
    if (gate->rows != up->rows) { /* a caller bug, as in group_then */
        for (size_t e = 0; n > 0 && e < (size_t)n * (size_t)(gate->rows > 0 ? gate->rows : 0); e++) y_gate[e] = NAN;
        return;
    }
    const fg_mat *const w[2] = {gate, up};
    float *const y[2] = {y_gate, y_up};
    group_then(2, w, x, n, y, pool, work, nn, next, true);
}

void fg_matmul_group(int nm, const fg_mat *const w[], const float *x, int n, float *const y[], fg_pool *pool,
                     void *work)
{
    fg_matmul_group_then(nm, w, x, n, y, pool, work, 0, NULL);
}

void fg_matmul(const fg_mat *w, const float *x, int n, float *y, fg_pool *pool, void *work)
{
    fg_matmul_group(1, &w, x, n, &y, pool, work);
}
