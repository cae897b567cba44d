/* The buffered output file of the format writers (see write-impl.h). */
#include "format/write-impl.h"
#include "mem/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes go out in whole 2 MiB pieces at 2 MiB-aligned offsets (the buffer fills from
 * offset 0): the kernel then caches the file in 2 MiB folios, which the loader maps with
 * one PMD each (see the MADV_HUGEPAGE advice in the loader), so a model benchmarked or run
 * right after `frugal synth` or `frugal quantize` wrote it streams its weights on 2 MiB
 * pages. With 1 MiB writes the cache held no 2 MiB folio (FilePmdMapped 0 of 349 MiB for
 * a 0.5B Q4_K_M file): two threads read such a mapping at 56-59 GB/s against 60-63 on
 * 2 MiB pages, measured alternately in one process, and `frugal bench` decoded the same
 * bytes at 81.1-84.1 tok/s against 85.4-86.2 (four alternating pairs). */
#define OUTFILE_BUF (2u << 20)

fg_status fg_outfile_open(fg_outfile *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (!path || !*path) return fg_error(FG_ERR_ARG, "output path is empty");
    f->path = fg_strdup(FG_MEM_RUNTIME, path);
    f->buf = fg_malloc(FG_MEM_SCRATCH, OUTFILE_BUF);
    if (!f->path || !f->buf) {
        fg_free(f->path);
        fg_free(f->buf);
        memset(f, 0, sizeof *f);
        f->fd = -1;
        return fg_error(FG_ERR_NOMEM, "%s: out of memory for the write buffer", path);
    }
    f->cap = OUTFILE_BUF;
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        fg_status s = fg_error(FG_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        fg_free(f->path);
        fg_free(f->buf);
        memset(f, 0, sizeof *f);
        f->fd = -1;
        return s;
    }
    f->opened = true;
    struct stat st;
    if (fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        f->regular = true;
        f->dev = st.st_dev;
        f->ino = st.st_ino;
    }
    return FG_OK;
}

/* Records the first error (message kept in the struct) and raises it. */
static fg_status fail(fg_outfile *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static fg_status fail(fg_outfile *f, const char *fmt, ...)
{
    if (!f->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->msg, sizeof f->msg, fmt, ap);
        va_end(ap);
        f->err = FG_ERR_IO;
    }
    return fg_error(f->err, "%s", f->msg);
}

static fg_status flush_buf(fg_outfile *f)
{
    size_t off = 0;
    while (off < f->used) {
        ssize_t w = write(f->fd, f->buf + off, f->used - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return fail(f, "%s: write failed after %llu bytes: %s", f->path,
                        (unsigned long long)(f->pos - f->used + off), strerror(errno));
        }
        if (w == 0) {
            return fail(f, "%s: write made no progress (disk full?)", f->path);
        }
        off += (size_t)w;
    }
    f->used = 0;
    return FG_OK;
}

fg_status fg_outfile_write(fg_outfile *f, const void *data, size_t n)
{
    if (f->err) return fg_error(f->err, "%s", f->msg);
    if (!f->opened) return fg_error(FG_ERR_ARG, "write to a closed output file");
    const uint8_t *p = data;
    while (n > 0) {
        size_t k = f->cap - f->used;
        if (k > n) k = n;
        memcpy(f->buf + f->used, p, k);
        f->used += k;
        f->pos += k;
        p += k;
        n -= k;
        if (f->used == f->cap && flush_buf(f)) return f->err;
    }
    return FG_OK;
}

fg_status fg_outfile_zeros(fg_outfile *f, size_t n)
{
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        fg_status s = fg_outfile_write(f, zeros, k);
        if (s) return s;
        n -= k;
    }
    return FG_OK;
}

static void release(fg_outfile *f)
{
    fg_free(f->path);
    fg_free(f->buf);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

/* Removes the file, only if the path still names the regular file we created. */
static void remove_if_ours(const fg_outfile *f)
{
    struct stat st;
    if (f->regular && stat(f->path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino)
        unlink(f->path);
}

void fg_outfile_abort(fg_outfile *f)
{
    if (!f->opened) return;
    close(f->fd);
    remove_if_ours(f);
    release(f);
}

fg_status fg_outfile_close(fg_outfile *f)
{
    if (!f->opened) return fg_error(FG_ERR_ARG, "close of an output file that is not open");
    if (!f->err) flush_buf(f);
    int rc = close(f->fd);
    int e = errno;
    if (!f->err && rc == 0) {
        release(f);
        return FG_OK;
    }
    if (!f->err) fail(f, "%s: close failed: %s", f->path, strerror(e));
    remove_if_ours(f);
    char msg[sizeof f->msg];
    memcpy(msg, f->msg, sizeof msg);
    release(f);
    return fg_error(FG_ERR_IO, "%s", msg);
}
