/* Read-only file mappings and length-delimited strings.
 *
 * A model file is mapped PROT_READ / MAP_PRIVATE (at a 2 MiB boundary) and never
 * written: tensor data are computed from the mapping directly. Only regular files are
 * mapped (a directory, FIFO or device would either fail later in confusing ways or
 * block). The size is taken once from fstat; every parser checks its offsets against it,
 * so a file truncated later by someone else is the only way to SIGBUS, and that is
 * outside what a reader can prevent. */
#include "frugal.h" /* first: frugal.h pulls in model.h, which needs format.h complete */
#include "format/format.h"
#include "mem/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Maps the file at a multiple of 2 MiB, so that addresses and file offsets agree modulo
 * 2 MiB: the kernel can then map a 2 MiB folio of the page cache with one page-table
 * entry (the loader asks for such folios on the weights: fg_mem_advise_huge). A plain
 * mapping where the aligned one cannot be had. */
static void *map_aligned(int fd, size_t size)
{
    const size_t span = size + FG_HUGE_PAGE, ps = (size_t)sysconf(_SC_PAGESIZE);
    if (size >= FG_HUGE_PAGE && span > size) {
        void *r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r != MAP_FAILED) {
            uint8_t *lo = r, *hi = lo + span;
            uint8_t *a = (uint8_t *)(((uintptr_t)lo + FG_HUGE_PAGE - 1) & ~(uintptr_t)(FG_HUGE_PAGE - 1));
            uint8_t *end = a + (size + ps - 1) / ps * ps;
            if (mmap(a, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) != MAP_FAILED) {
                if (a > lo) munmap(lo, (size_t)(a - lo));
                if (hi > end) munmap(end, (size_t)(hi - end));
                return a;
            }
            munmap(r, span);
        }
    }
    return mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
}

fg_status fg_file_map(const char *path, fg_file *out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_file_map: no output");
    memset(out, 0, sizeof *out);
    if (!path || !*path) return fg_error(FG_ERR_ARG, "fg_file_map: empty path");

    /* O_NONBLOCK: opening a FIFO (or a device) named as a model must not wait for a
     * writer; the type check below then refuses it. No effect on regular files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fg_error(FG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fg_error(FG_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return fg_error(FG_ERR_IO, "%s: is a directory, not a file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fg_error(FG_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return fg_error(FG_ERR_IO, "%s: file too large to map on this machine", path);
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *data = NULL;
    if (size > 0) {
        void *p = map_aligned(fd, size);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return fg_error(FG_ERR_IO, "%s: cannot map %zu bytes: %s", path, size, strerror(e));
        }
        data = p;
    }
    close(fd); /* the mapping keeps the file referenced */

    char *copy = fg_strdup(FG_MEM_RUNTIME, path);
    if (!copy) {
        if (data) munmap((void *)data, size);
        return fg_error(FG_ERR_NOMEM, "%s: out of memory", path);
    }
    out->data = data;
    out->size = size;
    out->path = copy;
    return FG_OK;
}

void fg_file_unmap(fg_file *f)
{
    if (!f) return;
    if (f->data) munmap((void *)f->data, f->size);
    fg_free(f->path);
    memset(f, 0, sizeof *f);
}

bool fg_str_eq(fg_str s, const char *cstr)
{
    if (!cstr) return false;
    size_t n = strlen(cstr);
    if (s.len != n) return false;
    return n == 0 || (s.ptr && memcmp(s.ptr, cstr, n) == 0);
}
