#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *path_in(const char *env, const char *fallback, const char *rel)
{
    static char slots[8][1024];
    static int next;
    const char *base = getenv(env);
    if (!base) base = fallback;
    char *buf = slots[next++ & 7];
    snprintf(buf, sizeof slots[0], "%s/%s", base, rel);
    return buf;
}

const char *test_data_path(const char *rel) { return path_in("FG_TEST_DATA", "tests/data", rel); }
const char *test_model_path(const char *rel) { return path_in("FG_TEST_MODELS", "build/models", rel); }

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (len) *len = (size_t)n;
    }
    return buf;
}

int test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

char *test_tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    char buf[512];
    snprintf(buf, sizeof buf, "%s/fgtest.XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(buf)) return NULL;
    return strdup(buf);
}
