/* Helpers shared by the cmocka tests: locating test data and generated models,
 * reading small files, and the golden-JSON comparison used by the engine tests. */
#ifndef FG_TESTUTIL_H
#define FG_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "frugal.h"
#include "sample/generate.h"
#include "token/token.h"

/* $FG_TEST_DATA/<rel> or $FG_TEST_MODELS/<rel>, into a static buffer slot (8 slots). */
const char *test_data_path(const char *rel);
const char *test_model_path(const char *rel);
/* Reads a whole file (malloc'd, NUL-terminated); NULL on failure. */
char *test_read_file(const char *path, size_t *len);
/* Writes bytes to a fresh file; returns 0 on success. */
int test_write_file(const char *path, const void *data, size_t len);
/* A fresh temporary directory (mkdtemp) under $TMPDIR, malloc'd path. */
char *test_tmpdir(void);

#endif
