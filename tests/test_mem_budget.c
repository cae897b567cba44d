/* The memory budget: the limit's source (given, cgroup v1/v2, MemAvailable) and margin
 * from fake /proc and cgroup trees, refusals over the limit with a clear message, the
 * fast path seeing tagged growth between kernel readings, refusals decided on fresh
 * figures, registered mappings counted at full size, and a real-process run. */
#define _GNU_SOURCE /* nftw */
#include "testutil.h"

#include "mem/mem.h"

#include <cJSON.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define KIB ((int64_t)1024)
#define MIB ((int64_t)1 << 20)
#define GIB ((int64_t)1 << 30)

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

static void put(const char *root, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    assert_int_equal(test_write_file(path, text, strlen(text)), 0);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* A fake machine: <root>/proc/{self/status,meminfo,self/cgroup,self/mountinfo} and a v2
 * cgroup tree under <root>/fs. */
typedef struct {
    char *root;
    char proc[1024], fs[1024];
    fg_probe_roots roots;
} machine;

static void set_status(machine *m, int64_t anon_kb, int64_t file_kb)
{
    char text[512];
    snprintf(text, sizeof text,
             "Name:\tfrugal\nVmHWM:\t%lld kB\nVmRSS:\t%lld kB\nRssAnon:\t%lld kB\nRssFile:\t%lld kB\n"
             "RssShmem:\t0 kB\nVmSwap:\t0 kB\n",
             (long long)(anon_kb + file_kb), (long long)(anon_kb + file_kb), (long long)anon_kb, (long long)file_kb);
    put(m->root, "proc/self/status", text);
}

static void set_available(machine *m, int64_t avail_kb)
{
    char text[512];
    snprintf(text, sizeof text, "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:   %lld kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
             (long long)avail_kb);
    put(m->root, "proc/meminfo", text);
}

static machine *machine_new(void)
{
    machine *m = calloc(1, sizeof *m);
    m->root = test_tmpdir();
    snprintf(m->proc, sizeof m->proc, "%s/proc", m->root);
    snprintf(m->fs, sizeof m->fs, "%s/fs", m->root);
    m->roots.proc = m->proc;
    m->roots.cgroup = m->fs;
    m->roots.sys = "/nonexistent";
    put(m->root, "proc/self/cgroup", "0::/app\n");
    put(m->root, "proc/self/mountinfo", "26 28 0:24 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    put(m->root, "fs/sys/fs/cgroup/cgroup.controllers", "memory\n");
    put(m->root, "fs/sys/fs/cgroup/app/memory.max", "max\n");
    set_status(m, 100 * 1024, 10 * 1024); /* 100 MiB anon, 10 MiB file */
    set_available(m, 8 * 1024 * 1024);   /* 8 GiB */
    return m;
}

static void machine_free(machine *m)
{
    nftw(m->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(m->root);
    free(m);
}

static fg_budget *budget_on(machine *m, int64_t limit, int64_t margin, int refresh_ms)
{
    fg_budget_params p = fg_budget_default_params();
    p.limit = limit;
    p.margin = margin;
    p.refresh_ms = refresh_ms;
    p.roots = m->roots;
    fg_budget *b = NULL;
    assert_int_equal(fg_budget_create(&p, &b), FG_OK);
    return b;
}

static int64_t tagged_anon(void)
{
    fg_mem_stats st;
    fg_mem_get_stats(&st);
    return st.total_current - st.current[FG_MEM_WEIGHTS_MAPPED];
}

static void test_given_limit(void **state)
{
    machine *m = machine_new();
    fg_budget *b = budget_on(m, 200 * MIB, 0, 1000000);
    fg_budget_info in;
    fg_budget_get_info(b, &in);
    assert_int_equal(in.source, FG_BUDGET_GIVEN);
    assert_int_equal(in.limit, 200 * MIB);
    assert_int_equal(in.basis, 200 * MIB);
    assert_int_equal(in.margin, 0);
    assert_int_equal(fg_budget_limit(b), 200 * MIB);
    /* The kernel sees 100 MiB anon + 10 MiB file; our tagged anon (the budget itself, a
     * few hundred bytes) is part of the anon, so in use is exactly 110 MiB. */
    assert_int_equal(in.used, 110 * MIB);
    assert_int_equal(in.headroom, 90 * MIB);
    assert_int_equal(fg_budget_check(b, 90 * MIB, "kv cache"), FG_OK);
    assert_int_equal(fg_budget_check(b, 90 * MIB + 1, "kv cache"), FG_ERR_BUDGET);
    const char *msg = fg_last_error();
    assert_non_null(strstr(msg, "kv cache"));
    assert_non_null(strstr(msg, "memory budget"));
    assert_non_null(strstr(msg, "110 MiB in use"));
    assert_non_null(strstr(msg, "limit 200 MiB"));
    assert_non_null(strstr(msg, "given"));
    assert_null(strchr(msg, '\n'));
    fg_budget_get_info(b, &in);
    assert_int_equal(in.refusals, 1);
    assert_int_equal(fg_budget_check(b, 0, NULL), FG_OK);
    assert_int_equal(fg_budget_check(b, -5, NULL), FG_OK);
    assert_int_equal(fg_budget_check(NULL, INT64_MAX, "anything"), FG_OK); /* no budget */
    fg_budget_free(b);

    /* The default margin: max(64 MiB, 5%). */
    b = budget_on(m, 200 * MIB, -1, 100);
    fg_budget_get_info(b, &in);
    assert_int_equal(in.margin, 64 * MIB);
    assert_int_equal(in.limit, 136 * MIB);
    assert_non_null(strstr(in.describe, "64.0 MiB margin"));
    fg_budget_free(b);
    b = budget_on(m, 4 * GIB, -1, 100);
    fg_budget_get_info(b, &in);
    assert_int_equal(in.margin, 4 * GIB / 20);
    assert_int_equal(in.limit, 4 * GIB - 4 * GIB / 20);
    fg_budget_free(b);
    /* A limit below the margin leaves nothing. */
    b = budget_on(m, 32 * MIB, -1, 100);
    assert_int_equal(fg_budget_limit(b), 0);
    assert_int_equal(fg_budget_check(b, 1, "scratch"), FG_ERR_BUDGET);
    fg_budget_free(b);
    machine_free(m);
}

static void test_fast_path_sees_tagged_growth(void **state)
{
    machine *m = machine_new();
    /* refresh_ms huge: no periodic re-read, only the one before a refusal */
    fg_budget *b = budget_on(m, 200 * MIB, 0, 1000000);
    fg_budget_info in;
    fg_budget_get_info(b, &in);
    const int64_t refreshes = in.refreshes;
    int64_t t0 = tagged_anon();
    assert_int_equal(fg_budget_check(b, 80 * MIB, "kv"), FG_OK);
    /* 50 MiB allocated: counted at once, without reading /proc */
    void *p = fg_malloc(FG_MEM_KV, 50 * MIB);
    assert_non_null(p);
    fg_budget_get_info(b, &in);
    int64_t grown = tagged_anon() - t0;
    assert_true(grown >= 50 * MIB);
    assert_int_equal(in.used, 110 * MIB + grown);
    assert_int_equal(fg_budget_check(b, 90 * MIB - grown, "kv"), FG_OK); /* exactly fits */
    fg_budget_get_info(b, &in);
    assert_int_equal(in.refreshes, refreshes); /* decided on the fast path */
    /* The kernel now sees the 50 MiB touched: refused, on fresh figures. */
    set_status(m, 150 * 1024, 10 * 1024);
    assert_int_equal(fg_budget_check(b, 80 * MIB, "kv"), FG_ERR_BUDGET);
    fg_budget_get_info(b, &in);
    assert_int_equal(in.refreshes, refreshes + 1);
    assert_int_equal(in.used, 160 * MIB);
    fg_free(p);
    set_status(m, 100 * 1024, 10 * 1024);
    assert_int_equal(fg_budget_check(b, 80 * MIB, "kv"), FG_OK);

    /* A region: reserving costs nothing, committed pages count as they are committed. */
    fg_region r;
    assert_int_equal(fg_region_reserve(&r, FG_MEM_KV, 512 * MIB), FG_OK);
    fg_budget_get_info(b, &in);
    assert_int_equal(in.used, 110 * MIB);
    assert_int_equal(fg_region_commit(&r, 60 * MIB), FG_OK);
    fg_budget_get_info(b, &in);
    assert_int_equal(in.used, 170 * MIB);
    set_status(m, 160 * 1024, 10 * 1024); /* written by the KV cache */
    assert_int_equal(fg_budget_check(b, 40 * MIB, "kv"), FG_ERR_BUDGET);
    assert_non_null(strstr(fg_last_error(), "170 MiB in use"));
    fg_region_release(&r);
    set_status(m, 100 * 1024, 10 * 1024);
    fg_budget_free(b);
    machine_free(m);
}

static void test_refusal_on_fresh_figures(void **state)
{
    machine *m = machine_new();
    set_status(m, 180 * 1024, 10 * 1024);
    fg_budget *b = budget_on(m, 200 * MIB, 0, 1000000);
    fg_budget_info in;
    fg_budget_get_info(b, &in);
    assert_int_equal(in.used, 190 * MIB);
    /* The process shrank (freed memory, pages reclaimed); the cached figure is stale. */
    set_status(m, 100 * 1024, 10 * 1024);
    int64_t refreshes = in.refreshes;
    assert_int_equal(fg_budget_check(b, 50 * MIB, "kv"), FG_OK);
    fg_budget_get_info(b, &in);
    assert_int_equal(in.refreshes, refreshes + 1);
    assert_int_equal(in.used, 110 * MIB);
    /* And the other way: growth the allocator did not see is caught at the next refresh. */
    set_status(m, 170 * 1024, 10 * 1024);
    assert_int_equal(fg_budget_refresh(b), FG_OK);
    assert_int_equal(fg_budget_check(b, 50 * MIB, "kv"), FG_ERR_BUDGET);
    assert_non_null(strstr(fg_last_error(), "180 MiB in use"));
    fg_budget_free(b);

    /* refresh_ms 0: every check re-reads */
    b = budget_on(m, 200 * MIB, 0, 0);
    set_status(m, 100 * 1024, 10 * 1024);
    assert_int_equal(fg_budget_check(b, 50 * MIB, "kv"), FG_OK);
    fg_budget_free(b);
    machine_free(m);
}

static void test_source_cgroup_v2(void **state)
{
    machine *m = machine_new();
    put(m->root, "fs/sys/fs/cgroup/app/memory.max", "2147483648\n");
    fg_budget *b = budget_on(m, 0, -1, 100);
    fg_budget_info in;
    fg_budget_get_info(b, &in);
    assert_int_equal(in.source, FG_BUDGET_CGROUP);
    assert_int_equal(in.cgroup_limit, 2 * GIB);
    assert_int_equal(in.basis, 2 * GIB);
    assert_int_equal(in.margin, 2 * GIB / 20); /* 102.4 MiB > 64 MiB */
    assert_int_equal(in.limit, 2 * GIB - 2 * GIB / 20);
    assert_int_equal(in.available, 8 * GIB + 110 * MIB);
    assert_non_null(strstr(in.describe, "cgroup v2 limit 2.00 GiB"));
    /* the message of a refusal names the source */
    assert_int_equal(fg_budget_check(b, 2 * GIB, "kv cache"), FG_ERR_BUDGET);
    assert_non_null(strstr(fg_last_error(), "cgroup v2 limit"));
    cJSON *j = fg_budget_json(b);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "source")->valuestring, "cgroup");
    assert_true(cJSON_GetObjectItem(j, "limit")->valuedouble == (double)in.limit);
    assert_true(cJSON_GetObjectItem(j, "refusals")->valuedouble == 1.0);
    cJSON_Delete(j);
    fg_budget_free(b);

    /* A cgroup limit above what the machine has free protects nothing: MemAvailable. */
    set_available(m, 1024 * 1024); /* 1 GiB free */
    b = budget_on(m, 0, -1, 100);
    fg_budget_get_info(b, &in);
    assert_int_equal(in.source, FG_BUDGET_AVAILABLE);
    assert_int_equal(in.basis, GIB + 110 * MIB);
    assert_int_equal(in.margin, 64 * MIB); /* 5% is 56.5 MiB: the 64 MiB floor */
    assert_int_equal(in.limit, GIB + 46 * MIB);
    assert_non_null(strstr(in.describe, "cgroup limit 2.00 GiB"));
    fg_budget_free(b);

    /* "max": no cgroup limit, MemAvailable. */
    put(m->root, "fs/sys/fs/cgroup/app/memory.max", "max\n");
    set_available(m, 4 * 1024 * 1024);
    b = budget_on(m, 0, -1, 100);
    fg_budget_get_info(b, &in);
    assert_int_equal(in.source, FG_BUDGET_AVAILABLE);
    assert_true(in.cgroup_limit == FG_MEM_UNLIMITED);
    assert_int_equal(in.basis, 4 * GIB + 110 * MIB);
    fg_budget_free(b);

    /* Malformed cgroup file: detection fails with the file's name; a given limit does not care. */
    put(m->root, "fs/sys/fs/cgroup/app/memory.max", "12 GB\n");
    fg_budget_params p = fg_budget_default_params();
    p.roots = m->roots;
    fg_budget *bad = NULL;
    assert_int_equal(fg_budget_create(&p, &bad), FG_ERR_FORMAT);
    assert_null(bad);
    assert_non_null(strstr(fg_last_error(), "memory.max"));
    b = budget_on(m, GIB, 0, 100);
    assert_int_equal(fg_budget_limit(b), GIB);
    fg_budget_free(b);

    /* Neither a cgroup limit nor MemAvailable (kernel before 3.14): ask for one. */
    put(m->root, "fs/sys/fs/cgroup/app/memory.max", "max\n");
    put(m->root, "proc/meminfo", "MemTotal: 1000 kB\nMemFree: 10 kB\n");
    assert_int_equal(fg_budget_create(&p, &bad), FG_ERR_UNSUPPORTED);
    assert_non_null(strstr(fg_last_error(), "--mem-limit"));
    machine_free(m);
}

static void test_source_cgroup_v1(void **state)
{
    machine *m = machine_new();
    put(m->root, "proc/self/cgroup", "4:memory:/docker/abc\n");
    put(m->root, "proc/self/mountinfo", "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
    put(m->root, "fs/sys/fs/cgroup/memory/memory.limit_in_bytes", "3221225472\n");
    fg_budget *b = budget_on(m, 0, -1, 100);
    fg_budget_info in;
    fg_budget_get_info(b, &in);
    assert_int_equal(in.source, FG_BUDGET_CGROUP);
    assert_int_equal(in.limit, 3 * GIB - 3 * GIB / 20);
    assert_non_null(strstr(in.describe, "cgroup v1"));
    fg_budget_free(b);
    machine_free(m);
}

static void test_mapped_weights_count_full_size(void **state)
{
    machine *m = machine_new();
    fg_budget *b = budget_on(m, GIB, 0, 1000000);
    /* a reserved, untouched range stands in for a weight file's mapping */
    size_t len = 300 * (size_t)MIB;
    void *w = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(w != MAP_FAILED);
    int64_t t0 = tagged_anon();
    assert_int_equal(fg_mem_map_register(w, len, "model.gguf"), FG_OK);
    assert_int_equal(fg_budget_refresh(b), FG_OK);
    fg_budget_info in;
    fg_budget_get_info(b, &in);
    /* 100 MiB anon + the mapping's 300 MiB; the fake 10 MiB RssFile is below the mapping's
     * size, so it is taken to be part of it */
    assert_int_equal(in.used, 100 * MIB + 300 * MIB + (tagged_anon() - t0));
    assert_int_equal(fg_budget_check(b, GIB - 400 * MIB - 64 * MIB, "kv"), FG_OK);
    assert_int_equal(fg_budget_check(b, GIB - 390 * MIB, "kv"), FG_ERR_BUDGET);
    fg_mem_map_unregister(w);
    munmap(w, len);
    assert_int_equal(fg_budget_refresh(b), FG_OK);
    fg_budget_get_info(b, &in);
    assert_int_equal(in.used, 110 * MIB);
    fg_budget_free(b);
    machine_free(m);
}

static void test_real_process(void **state)
{
    fg_proc_mem k;
    assert_int_equal(fg_probe_proc(NULL, 0, &k), FG_OK);
    fg_budget_params p = fg_budget_default_params();
    p.limit = k.vm_rss + 96 * MIB;
    p.margin = 0;
    fg_budget *b = NULL;
    assert_int_equal(fg_budget_create(&p, &b), FG_OK);
    assert_int_equal(fg_budget_check(b, 48 * MIB, "kv cache"), FG_OK);
    const size_t n = 64 * (size_t)MIB;
    char *x = fg_malloc(FG_MEM_KV, n);
    assert_non_null(x);
    memset(x, 3, n);
    assert_int_equal(fg_budget_check(b, 48 * MIB, "kv cache"), FG_ERR_BUDGET);
    assert_int_equal(fg_budget_check(b, 16 * MIB, "kv cache"), FG_OK);
    fg_free(x);
    /* Freed memory leaves RSS (ASan keeps it in quarantine instead) */
    if (!UNDER_ASAN) assert_int_equal(fg_budget_check(b, 48 * MIB, "kv cache"), FG_OK);
    fg_budget_info in;
    fg_budget_get_info(b, &in);
    assert_true(in.refreshes >= 2);
    fg_budget_free(b);

    /* Detected from this machine: a positive limit below the machine's RAM + our RSS. */
    assert_int_equal(fg_budget_create(NULL, &b), FG_OK);
    fg_sys_mem sys;
    assert_int_equal(fg_probe_system(NULL, &sys), FG_OK);
    fg_budget_get_info(b, &in);
    assert_true(in.limit > 0);
    assert_true(in.basis <= sys.mem_total + k.vm_rss + 64 * MIB || in.source == FG_BUDGET_GIVEN);
    assert_true(in.source == FG_BUDGET_CGROUP || in.source == FG_BUDGET_AVAILABLE);
    fg_budget_free(b);
}

typedef struct {
    fg_budget *b;
    int ok, refused;
} checker;

static void *check_many(void *arg)
{
    checker *c = arg;
    for (int i = 0; i < 2000; i++) {
        if (fg_budget_check(c->b, (i & 1) ? 10 * MIB : 95 * MIB, "kv") == FG_OK)
            c->ok++;
        else
            c->refused++;
    }
    return NULL;
}

static void test_concurrent_checks(void **state)
{
    machine *m = machine_new();
    fg_budget *b = budget_on(m, 200 * MIB, 0, 0); /* re-read on every check */
    checker c[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        c[i] = (checker){.b = b};
        assert_int_equal(pthread_create(&th[i], NULL, check_many, &c[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(c[i].ok, 1000);      /* 10 MiB fits beside 110 MiB */
        assert_int_equal(c[i].refused, 1000); /* 95 MiB does not */
    }
    fg_budget_info in;
    fg_budget_get_info(b, &in);
    assert_int_equal(in.refusals, 4000);
    fg_budget_free(b);
    machine_free(m);
}

/* Real pressure: the limit is fixed at creation, but another process can take the memory
 * it assumed free. Growth must leave LIVE_RESERVE (32 MiB) of what is free now:
 * MemAvailable, and the cgroup's limit minus its usage when it has a limit. */
static void test_live_pressure(void **state)
{
    (void)state;
    machine *m = machine_new();
    fg_budget *b = budget_on(m, 1024 * MIB, 0, 0); /* refresh on every check */
    assert_int_equal(fg_budget_check(b, 500 * MIB, "kv cache"), FG_OK);
    set_available(m, 60 * 1024); /* someone took all but 60 MiB */
    assert_int_equal(fg_budget_check(b, 50 * MIB, "kv cache"), FG_ERR_BUDGET);
    const char *msg = fg_last_error();
    assert_non_null(strstr(msg, "kv cache"));
    assert_non_null(strstr(msg, "only 60.0 MiB is free now"));
    assert_int_equal(fg_budget_check(b, 28 * MIB, "kv cache"), FG_OK);     /* 60 - 32 */
    assert_int_equal(fg_budget_check(b, 28 * MIB + 1, "kv cache"), FG_ERR_BUDGET);
    set_available(m, 8 * 1024 * 1024); /* and gave it back */
    assert_int_equal(fg_budget_check(b, 50 * MIB, "kv cache"), FG_OK);
    fg_budget_free(b);

    /* a cgroup limit: its usage counts, whatever MemAvailable says */
    put(m->root, "fs/sys/fs/cgroup/app/memory.max", "314572800\n");     /* 300 MiB */
    put(m->root, "fs/sys/fs/cgroup/app/memory.current", "209715200\n"); /* 200 MiB */
    b = budget_on(m, 0, 0, 0);
    fg_budget_info in;
    fg_budget_get_info(b, &in);
    assert_int_equal(in.source, FG_BUDGET_CGROUP);
    assert_int_equal(fg_budget_check(b, 60 * MIB, "kv cache"), FG_OK);     /* 100 free - 32 */
    put(m->root, "fs/sys/fs/cgroup/app/memory.current", "293601280\n"); /* 280 MiB: 20 free */
    assert_int_equal(fg_budget_check(b, 1 * MIB, "kv cache"), FG_ERR_BUDGET);
    assert_non_null(strstr(fg_last_error(), "only 20.0 MiB is free now"));
    fg_budget_free(b);
    machine_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_pressure),
        cmocka_unit_test(test_given_limit),
        cmocka_unit_test(test_fast_path_sees_tagged_growth),
        cmocka_unit_test(test_refusal_on_fresh_figures),
        cmocka_unit_test(test_source_cgroup_v2),
        cmocka_unit_test(test_source_cgroup_v1),
        cmocka_unit_test(test_mapped_weights_count_full_size),
        cmocka_unit_test(test_real_process),
        cmocka_unit_test(test_concurrent_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
