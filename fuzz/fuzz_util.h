/* Helpers shared by the libFuzzer targets: inputs as files (the readers take paths),
 * the invariants every target checks after each input, and fixed data loaded once. */
#ifndef FG_FUZZ_UTIL_H
#define FG_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "frugal.h"

/* Writes the input to a per-process file "/dev/shm/fg-fuzz-<pid>-<name>" (or under
 * $TMPDIR when /dev/shm is missing) and returns its path (static storage). Aborts if the
 * file cannot be written: that is the harness's problem, not a finding. */
const char *fz_write_input(const char *name, const uint8_t *data, size_t size);

/* A failed call must say why: a known status and a non-empty one-line message. */
void fz_check_status(fg_status st, const char *call);

/* Tagged memory of the library: fz_mem_mark() before an input, fz_mem_check() after it
 * has freed everything; aborts (a finding) when a tagged byte was not returned. */
void fz_mem_mark(void);
void fz_mem_check(const char *what);

/* Reads every byte of [p, p+n) (a view that points outside its mapping faults here). */
uint64_t fz_touch(const void *p, size_t n);

/* A whole file, or the output of `xz -dc FILE`, into malloc'd memory (NUL-terminated);
 * abort on failure. `rel` is relative to the source tree. */
char *fz_read_source_file(const char *rel, size_t *len);
char *fz_read_source_xz(const char *rel, size_t *len);

/* Aborts with a message (a finding). */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
