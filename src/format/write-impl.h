/* Internal to format: the buffered output file shared by the GGUF and safetensors
 * writers. Every write error (a full disk: ENOSPC, a file-size limit: EFBIG) is
 * caught and reported as FG_ERR_IO with the path; the first error sticks, so a
 * writer can stream many small pieces and check once. An aborted file is removed,
 * but only if the path still names the regular file this writer created (never a
 * device such as /dev/full, never a file someone put there meanwhile). */
#ifndef FG_FORMAT_WRITE_IMPL_H
#define FG_FORMAT_WRITE_IMPL_H

#include "format/format.h"

#include <sys/types.h>

typedef struct fg_outfile {
    bool opened;        /* between open and close/abort (a zeroed struct is closed) */
    int fd;
    char *path;
    uint8_t *buf;
    size_t used, cap;
    uint64_t pos;       /* bytes accepted so far (buffered or written) */
    bool regular;       /* a regular file: removed on abort */
    dev_t dev;
    ino_t ino;
    fg_status err;      /* first error, FG_OK while healthy */
    char msg[384];      /* its message, re-raised on every later call */
} fg_outfile;

fg_status fg_outfile_open(fg_outfile *f, const char *path);
fg_status fg_outfile_write(fg_outfile *f, const void *data, size_t n);
fg_status fg_outfile_zeros(fg_outfile *f, size_t n);
/* Flushes and closes; on any error (now or earlier) the file is removed. */
fg_status fg_outfile_close(fg_outfile *f);
/* Closes and removes the file (no-op when not open). */
void fg_outfile_abort(fg_outfile *f);

#endif
