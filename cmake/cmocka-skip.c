/* Linked into the cmocka test executables of cross builds only (tests/CMakeLists.txt,
 * with -Wl,--wrap=_cmocka_run_group_tests; scripts/test-arm.sh). Under qemu-user a few
 * test cases check what emulation cannot give (wall-clock limits, RSS figures that include
 * the emulator, mincore on PROT_NONE pages, re-executing the binary without binfmt_misc)
 * or take far too long emulated; the script names them, per executable, in the
 * environment, with the reason beside each:
 *   FG_TEST_SKIP_<executable>="<glob> <glob> ..."   (fnmatch patterns of test names)
 * Every other case of that executable still runs; the named ones are reported by cmocka
 * as SKIPPED, so a skip never looks like a pass. */
#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

int __real__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests, const size_t num_tests,
                                   CMFixtureFunction group_setup, CMFixtureFunction group_teardown);
int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests, const size_t num_tests,
                                   CMFixtureFunction group_setup, CMFixtureFunction group_teardown);

static void skipped_under_emulation(void **state)
{
    (void)state;
    skip();
}

static int listed(const char *list, const char *name)
{
    char pat[256];
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t n = strcspn(p, " ,");
        if (n > 0 && n < sizeof pat) {
            memcpy(pat, p, n);
            pat[n] = 0;
            if (fnmatch(pat, name, 0) == 0) return 1;
        }
        p += n;
    }
    return 0;
}

int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests, const size_t num_tests,
                                   CMFixtureFunction group_setup, CMFixtureFunction group_teardown)
{
    char var[256];
    snprintf(var, sizeof var, "FG_TEST_SKIP_%s", program_invocation_short_name);
    const char *list = getenv(var);
    if (!list || !*list || num_tests == 0)
        return __real__cmocka_run_group_tests(group_name, tests, num_tests, group_setup, group_teardown);
    struct CMUnitTest *kept = malloc(num_tests * sizeof *kept);
    if (!kept) return __real__cmocka_run_group_tests(group_name, tests, num_tests, group_setup, group_teardown);
    for (size_t i = 0; i < num_tests; i++) {
        kept[i] = tests[i];
        if (tests[i].name && listed(list, tests[i].name)) {
            printf("%s: %s skipped under emulation (scripts/test-arm.sh says why)\n", var, tests[i].name);
            kept[i].test_func = skipped_under_emulation;
            kept[i].setup_func = NULL;
            kept[i].teardown_func = NULL;
        }
    }
    fflush(stdout);
    int rc = __real__cmocka_run_group_tests(group_name, kept, num_tests, group_setup, group_teardown);
    free(kept);
    return rc;
}
