#include "fuzz_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void fz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FUZZ INVARIANT FAILED: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

const char *fz_write_input(const char *name, const uint8_t *data, size_t size)
{
    static char path[512];
    struct stat sb;
    const char *dir = "/dev/shm";
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        dir = getenv("TMPDIR");
        if (!dir || !*dir) dir = "/tmp";
    }
    snprintf(path, sizeof path, "%s/fg-fuzz-%ld-%s", dir, (long)getpid(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) fz_fail("cannot create %s: %s", path, strerror(errno));
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) fz_fail("cannot write %s: %s", path, strerror(errno));
        off += (size_t)w;
    }
    close(fd);
    return path;
}

void fz_check_status(fg_status st, const char *call)
{
    if (st == FG_OK) return;
    if ((unsigned)st > FG_ERR_INTERNAL) fz_fail("%s returned an unknown status %d", call, (int)st);
    const char *msg = fg_last_error();
    if (!msg || !*msg) fz_fail("%s failed (%s) without a message", call, fg_status_str(st));
    if (strchr(msg, '\n')) fz_fail("%s: the error message is not one line: %s", call, msg);
}

static int64_t mark;

static int64_t tagged_now(void)
{
    fg_mem_stats s;
    fg_mem_get_stats(&s);
    /* mapped weights are counted by residency (probes), not by the allocator */
    return s.total_current - s.current[FG_MEM_WEIGHTS_MAPPED];
}

void fz_mem_mark(void) { mark = tagged_now(); }

void fz_mem_check(const char *what)
{
    fg_mem_stats s;
    fg_mem_get_stats(&s);
    int64_t now = s.total_current - s.current[FG_MEM_WEIGHTS_MAPPED];
    if (now != mark) {
        fprintf(stderr, "tagged memory after %s: %lld bytes, before: %lld\n", what, (long long)now, (long long)mark);
        for (int i = 0; i < FG_MEM_TAG_COUNT; i++)
            fprintf(stderr, "  %-15s %lld\n", fg_mem_tag_name((fg_mem_tag)i), (long long)s.current[i]);
        fz_fail("%s leaked %lld tagged bytes", what, (long long)(now - mark));
    }
}

uint64_t fz_touch(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += b[i];
    return sum;
}

static char *read_stream(FILE *f, size_t *len, const char *what)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) fz_fail("out of memory reading %s", what);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) fz_fail("out of memory reading %s", what);
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

char *fz_read_source_file(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FG_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f) fz_fail("cannot open %s: %s", path, strerror(errno));
    char *buf = read_stream(f, len, path);
    fclose(f);
    return buf;
}

char *fz_read_source_xz(const char *rel, size_t *len)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "xz -dc '%s/%s'", FG_SOURCE_DIR, rel);
    FILE *f = popen(cmd, "r");
    if (!f) fz_fail("cannot run %s", cmd);
    char *buf = read_stream(f, len, rel);
    if (pclose(f) != 0 || *len == 0) fz_fail("%s failed", cmd);
    return buf;
}
