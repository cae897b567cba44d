/* The converting tensor stream (see quantize-impl.h) and the output-file helpers of
 * `frugal quantize` and the synthetic-model writer. */
#include "format/quantize-impl.h"
#include "mem/mem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_OUT_BYTES ((size_t)4 << 20)   /* output bytes per chunk */
#define THREAD_FLOATS ((size_t)1 << 14)     /* float32 values a thread converts at a time */

struct qz_stream {
    fg_pool *pool;
    int nth;
    uint8_t *out;           /* one chunk of converted rows */
    size_t out_cap;
    float *tmp;             /* nth x tmp_per floats */
    size_t tmp_per;
    uint64_t done, total;
    qz_progress_fn progress;
    void *user;
};

fg_status qz_stream_create(int n_threads, qz_stream **out)
{
    *out = NULL;
    if (n_threads < 1) n_threads = 1;
    qz_stream *s = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *s);
    if (!s) return fg_error(FG_ERR_NOMEM, "out of memory");
    fg_status st = n_threads > 1 ? fg_pool_create(n_threads, &s->pool) : FG_OK;
    if (st) {
        fg_free(s);
        return st;
    }
    s->nth = n_threads;
    *out = s;
    return FG_OK;
}

void qz_stream_free(qz_stream *s)
{
    if (!s) return;
    fg_pool_free(s->pool);
    fg_free(s->out);
    fg_free(s->tmp);
    fg_free(s);
}

void qz_stream_set_progress(qz_stream *s, uint64_t total, qz_progress_fn fn, void *user)
{
    s->done = 0;
    s->total = total;
    s->progress = fn;
    s->user = user;
}

/* Grows a buffer (contents not kept; on failure it is NULL with capacity 0). */
static fg_status grow(void **p, size_t *cap, size_t need, const char *what)
{
    if (*cap >= need) return FG_OK;
    fg_free(*p);
    *p = fg_malloc(FG_MEM_SCRATCH, need);
    *cap = *p ? need : 0;
    return *p ? FG_OK : fg_error(FG_ERR_NOMEM, "out of memory for the %s (%zu bytes)", what, need);
}

typedef struct chunk_job {
    const qz_source *src;
    fg_dtype to;
    int64_t row0, n_rows, cols;
    size_t row_bytes;
    uint8_t *out;
    float *tmp;
    size_t tmp_per;
} chunk_job;

/* Thread ith converts its slice of the chunk's rows, a few rows at a time. */
static void convert_slice(void *arg, int ith, int nth)
{
    chunk_job *j = arg;
    int64_t lo = j->n_rows * ith / nth, hi = j->n_rows * (ith + 1) / nth;
    float *tmp = j->tmp + (size_t)ith * j->tmp_per;
    int64_t per = (int64_t)(j->tmp_per / (size_t)j->cols);   /* >= 1 */
    for (int64_t r = lo; r < hi; r += per) {
        int64_t n = hi - r < per ? hi - r : per;
        j->src->rows(j->src->ctx, j->row0 + r, n, tmp);
        for (int64_t k = 0; k < n; k++)
            fg_quantize_row(j->to, tmp + k * j->cols, j->out + (size_t)(r + k) * j->row_bytes, j->cols);
    }
}

static void report(qz_stream *s, uint64_t bytes, const char *name)
{
    s->done += bytes;
    if (s->progress) s->progress(s->done, s->total, name, s->user);
}

/* Writes the source's bytes as they are, chunk by chunk, dropping each chunk after. */
static fg_status copy_raw(qz_stream *s, fg_gguf_writer *w, const char *name, const qz_source *src, size_t row_bytes,
                          int64_t rows)
{
    int64_t per = (int64_t)(CHUNK_OUT_BYTES / row_bytes);
    if (per < 1) per = 1;
    for (int64_t r = 0; r < rows; r += per) {
        int64_t n = rows - r < per ? rows - r : per;
        fg_status st = fg_gguf_w_data(w, (const uint8_t *)src->raw + (size_t)r * row_bytes, (size_t)n * row_bytes);
        if (st) return st;
        if (src->drop) src->drop(src->ctx, r, r + n);
        report(s, (uint64_t)n * row_bytes, name);
    }
    return FG_OK;
}

fg_status qz_stream_tensor(qz_stream *s, fg_gguf_writer *w, const char *name, fg_dtype to, int64_t rows, int64_t cols,
                           const qz_source *src)
{
    size_t rb = fg_row_bytes(to, cols);
    if (!rb || rows < 1)
        return fg_error(FG_ERR_INTERNAL, "%s: %lld x %lld cannot be stored as %s", name, (long long)rows,
                        (long long)cols, fg_dtype_name(to));
    if (src->raw && src->raw_dtype == to) return copy_raw(s, w, name, src, rb, rows);
    if (!src->rows) return fg_error(FG_ERR_INTERNAL, "%s: no source rows to convert to %s", name, fg_dtype_name(to));

    int64_t align = src->row_align > 1 ? src->row_align : 1;
    int64_t per = (int64_t)(CHUNK_OUT_BYTES / rb) / align * align;
    if (per < align) per = align;
    if (per > rows) per = rows;
    fg_status st = grow((void **)&s->out, &s->out_cap, (size_t)per * rb, "output chunk");
    if (st) return st;
    /* per thread: at least one row, THREAD_FLOATS values to amortise the calls */
    size_t tmp_per = THREAD_FLOATS > (size_t)cols ? THREAD_FLOATS : (size_t)cols;
    if (s->tmp_per < tmp_per) {
        fg_free(s->tmp);
        s->tmp = fg_malloc(FG_MEM_SCRATCH, tmp_per * (size_t)s->nth * sizeof(float));
        s->tmp_per = s->tmp ? tmp_per : 0;
        if (!s->tmp) return fg_error(FG_ERR_NOMEM, "out of memory for the conversion buffers");
    }

    for (int64_t r = 0; r < rows; r += per) {
        int64_t n = rows - r < per ? rows - r : per;
        chunk_job job = {src, to, r, n, cols, rb, s->out, s->tmp, s->tmp_per};
        if (s->pool && n > 1)
            fg_pool_run(s->pool, convert_slice, &job);
        else
            convert_slice(&job, 0, 1);
        if ((st = fg_gguf_w_data(w, s->out, (size_t)n * rb))) return st;
        if (src->drop) src->drop(src->ctx, r, r + n);
        report(s, (uint64_t)n * rb, name);
    }
    return FG_OK;
}

void qz_drop_pages(const void *p, size_t len)
{
    if (!p || !len) return;
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(ps - 1), e = ((uintptr_t)p + len + ps - 1) & ~(ps - 1);
    madvise((void *)a, e - a, MADV_DONTNEED);
}

/* ---- the output file ------------------------------------------------------------------------ */

void qz_part_path(const char *out, char *buf, size_t size)
{
    /* Only a new file or a regular file is replaced by a rename: anything else (a device
     * such as /dev/full or /dev/stdout, a fifo, a symlink) is written in place. */
    struct stat st;
    bool part = lstat(out, &st) != 0 ? errno == ENOENT : S_ISREG(st.st_mode);
    snprintf(buf, size, part ? "%s.part" : "%s", out);
}

fg_status qz_check_output(const char *out)
{
    if (!out || !*out) return fg_error(FG_ERR_ARG, "no output path");
    if (strlen(out) > 4000) return fg_error(FG_ERR_ARG, "output path too long");
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) return fg_error(FG_ERR_IO, "%s: is a directory", out);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    if (stat(dir, &st) != 0) return fg_error(FG_ERR_IO, "%s: cannot create: %s: %s", out, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return fg_error(FG_ERR_IO, "%s: cannot create: %s is not a directory", out, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return fg_error(FG_ERR_IO, "%s: cannot create: directory %s: %s", out, dir, strerror(errno));
    return FG_OK;
}

fg_status qz_finish(fg_gguf_writer *w, const char *part, const char *out)
{
    fg_status st = fg_gguf_w_finish(w);
    fg_gguf_writer_free(w);   /* removes the part file unless finished */
    if (st || !strcmp(part, out)) return st;
    if (rename(part, out) != 0) {
        st = fg_error(FG_ERR_IO, "%s: cannot rename %s to it: %s", out, part, strerror(errno));
        unlink(part);
    }
    return st;
}
