/* Fuzz target: the safetensors reader (fg_st_open on a single file: 8-byte header
 * length, JSON header, data). Invariants: a failure has a one-line message; every
 * tensor's bytes lie inside the mapping; names are findable; no tagged byte is kept. */
#include "fuzz_util.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write_input("in.safetensors", data, size);
    fz_mem_mark();
    fg_safetensors *st = NULL;
    fg_status s = fg_st_open(path, &st);
    fz_check_status(s, "fg_st_open");
    if (s == FG_OK) {
        if (st->n_files != 1) fz_fail("one file opened as %d", st->n_files);
        const uint8_t *lo = st->files[0].data, *hi = lo + st->files[0].size;
        for (size_t i = 0; i < st->n_tensors; i++) {
            const fg_st_tensor *t = &st->tensors[i];
            const uint8_t *b = t->data;
            if (t->nbytes && (b < lo || b > hi || t->nbytes > (uint64_t)(hi - b)))
                fz_fail("tensor '%s' lies outside the mapping", t->name);
            if (t->nbytes) fz_touch(b + t->nbytes - 1, 1);
            if (t->n_dims > 4) fz_fail("tensor '%s' has %u dims", t->name, t->n_dims);
            if (fg_st_find(st, t->name) != t) fz_fail("tensor '%s' is not found by name", t->name);
            if (!memchr(t->dtype_name, 0, sizeof t->dtype_name)) fz_fail("dtype name not terminated");
        }
        fg_st_close(st);
    }
    fz_mem_check("fg_st_open/close");
    return 0;
}
