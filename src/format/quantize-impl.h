/* Internal to format: the converting tensor stream shared by `frugal quantize`
 * (quantize.c) and the synthetic-model generator's GGUF output (synth_write.c).
 *
 * A tensor of rows x cols is written to a GGUF writer chunk by chunk: for each chunk of
 * rows, the pool's threads each take a slice of the rows, ask the source for them as
 * float32 (a few rows at a time into a per-thread buffer) and quantize them into the
 * chunk's output buffer; the caller's thread then writes the chunk and lets the source
 * drop what it no longer needs (madvise the mapped source rows). Memory: one output chunk
 * (~4 MiB, at least `row_align` rows) plus one small float buffer per thread, whatever the
 * tensor's size. The bytes do not depend on the thread count: every row is quantized on
 * its own. */
#ifndef FG_FORMAT_QUANTIZE_IMPL_H
#define FG_FORMAT_QUANTIZE_IMPL_H

#include "format/format.h"

/* One tensor's source. rows() fills rows [row0, row0 + n) (GGUF row order) as float32,
 * n * cols values; it is called from several threads at once on disjoint rows. drop() is
 * called on the caller's thread once rows [row0, row1) are written (NULL: nothing to do).
 * With raw != NULL and raw_dtype equal to the target type, the bytes at raw are the
 * tensor exactly as it must be written (rows in GGUF order): they are copied as they are. */
typedef struct qz_source {
    void (*rows)(void *ctx, int64_t row0, int64_t n, float *out);
    void (*drop)(void *ctx, int64_t row0, int64_t row1);
    void *ctx;
    const void *raw;
    fg_dtype raw_dtype;
    int64_t row_align;   /* chunks hold a multiple of this many rows (0 or 1: any) */
} qz_source;

/* Progress of the whole file: bytes of tensor data written of the total, and the tensor
 * being written. */
typedef void (*qz_progress_fn)(uint64_t done, uint64_t total, const char *tensor, void *user);

typedef struct qz_stream qz_stream;
fg_status qz_stream_create(int n_threads, qz_stream **out);
void qz_stream_free(qz_stream *s);
void qz_stream_set_progress(qz_stream *s, uint64_t total, qz_progress_fn fn, void *user);
/* Writes one whole tensor of rows x cols in dtype `to` (cols a multiple of its block). */
fg_status qz_stream_tensor(qz_stream *s, fg_gguf_writer *w, const char *name, fg_dtype to, int64_t rows, int64_t cols,
                           const qz_source *src);

/* Drops the pages of a read-only file mapping covering [p, p + len) from this process
 * (madvise MADV_DONTNEED, rounded out to whole pages: a neighbour's page that is dropped
 * too just faults back in from the page cache when read). */
void qz_drop_pages(const void *p, size_t len);

/* Where a GGUF is written: "<out>.part", renamed to `out` once complete, when `out` does
 * not exist or is a regular file; `out` itself otherwise (a device, a fifo, a symlink:
 * never replaced by a rename). */
void qz_part_path(const char *out, char *buf, size_t size);
/* Checks before any work that `out` can be created: its directory exists and is
 * writable and `out` is not a directory. */
fg_status qz_check_output(const char *out);
/* Finishes the writer (its file is `part`) and renames it to `out` (when they differ); on
 * any failure the part file is removed. The writer is freed. */
fg_status qz_finish(fg_gguf_writer *w, const char *part, const char *out);

#endif
