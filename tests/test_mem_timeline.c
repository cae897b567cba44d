/* The memory timeline: samples and marks from a fake /proc whose figures the test sets
 * tick by tick (exact values, downsampling keeping peaks, bounded memory over long
 * runs), the sampler thread on the real process, a child process sampled by pid, and
 * the JSON export parsed back. */
#define _GNU_SOURCE /* nftw */
#include "testutil.h"

#include "mem/mem.h"

#include <cJSON.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KIB ((int64_t)1024)
#define MIB ((int64_t)1 << 20)

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

static void rm_rf(char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static void set_status(const char *root, int64_t anon_kb, int64_t file_kb, int64_t swap_kb)
{
    char text[512];
    snprintf(text, sizeof text, "Name:\tx\nVmHWM:\t%lld kB\nVmRSS:\t%lld kB\nRssAnon:\t%lld kB\nRssFile:\t%lld kB\nRssShmem:\t0 kB\nVmSwap:\t%lld kB\n",
             (long long)(anon_kb + file_kb), (long long)(anon_kb + file_kb), (long long)anon_kb, (long long)file_kb,
             (long long)swap_kb);
    put(root, "self/status", text);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void test_fake_ticks_and_downsampling(void **state)
{
    char *root = test_tmpdir();
    put(root, "meminfo", "MemTotal: 8000000 kB\nMemAvailable: 3000000 kB\nSwapTotal: 1000000 kB\nSwapFree: 750000 kB\n");
    fg_timeline_params p = fg_timeline_default_params();
    p.capacity = 16;
    p.roots.proc = root;
    fg_timeline *tl = NULL;
    assert_int_equal(fg_timeline_create(&p, &tl), FG_OK);

    /* Tick i sees i MiB of anon, except a 500 MiB spike at tick 23. */
    for (int i = 1; i <= 40; i++) {
        set_status(root, (i == 23 ? 500 : i) * 1024, 2048, i == 23 ? 64 : 0);
        assert_int_equal(fg_timeline_tick(tl), FG_OK);
    }
    fg_timeline_info in;
    fg_timeline_get_info(tl, &in);
    assert_int_equal(in.ticks, 40);
    assert_int_equal(in.failed_ticks, 0);
    /* Ticks 1-16 fill the array; tick 17 halves it (8 kept, stride 2) and lands as the
     * 9th; ticks 18-31 add 7 windows of 2 (16 held); the window of ticks 32-33 halves
     * it again (stride 4) and lands as the 9th; ticks 34-37 make a 10th; 38-40 wait. */
    assert_int_equal(in.downsamplings, 2);
    assert_int_equal(in.stride, 4);
    assert_int_equal(in.n_samples, 10);
    assert_int_equal(in.peak_rss, 502 * MIB);

    fg_mem_sample s[16];
    size_t n = fg_timeline_recent(tl, 0, s, 16);
    assert_int_equal(n, 10);
    bool spike = false;
    for (size_t i = 0; i < n; i++) {
        if (i) assert_true(s[i].t_us > s[i - 1].t_us);
        assert_int_equal(s[i].rss_file, 2 * MIB);
        assert_int_equal(s[i].mem_available, 3000000 * KIB);
        assert_int_equal(s[i].swap_used, 250000 * KIB);
        assert_int_equal(s[i].budget, -1);
        assert_true(s[i].accounted > 0); /* this process: the tagged total */
        if (s[i].rss_anon == 500 * MIB) {
            spike = true;
            assert_int_equal(s[i].vm_swap, 64 * KIB);
        }
    }
    assert_true(spike); /* halving keeps the larger of each pair: the peak survives */
    /* Each kept sample is the largest of the ticks it stands for, and they rise:
     * before the spike, the last (even) tick of each pair or window. */
    assert_int_equal(s[0].rss_anon, 4 * MIB);  /* ticks 1-4 */
    assert_int_equal(s[1].rss_anon, 8 * MIB);  /* ticks 5-8 */
    assert_int_equal(s[9].rss_anon, 37 * MIB); /* ticks 34-37 */
    /* A short window returns only the latest. */
    assert_int_equal(fg_timeline_recent(tl, 1, s, 16), 1);
    assert_int_equal(s[0].rss_anon, 37 * MIB);
    assert_int_equal(fg_timeline_recent(tl, 0, s, 3), 3);
    assert_int_equal(s[2].rss_anon, 37 * MIB);

    /* Hours of ticks take no more memory. */
    fg_mem_stats a, b;
    fg_mem_get_stats(&a);
    for (int i = 0; i < 5000; i++) fg_timeline_tick(tl);
    fg_mem_get_stats(&b);
    assert_int_equal(b.current[FG_MEM_RUNTIME], a.current[FG_MEM_RUNTIME]);
    fg_timeline_get_info(tl, &in);
    assert_true(in.n_samples <= 16 && in.n_samples >= 8);
    assert_int_equal(in.stride, 1 << in.downsamplings);
    assert_int_equal(in.peak_rss, 502 * MIB);

    /* The process went away: ticks fail, and are counted. */
    remove(strcat(strcpy((char[1100]){0}, root), "/self/status"));
    assert_int_equal(fg_timeline_tick(tl), FG_ERR_IO);
    fg_timeline_get_info(tl, &in);
    assert_int_equal(in.failed_ticks, 1);
    fg_timeline_free(tl);
    rm_rf(root);
}

static void test_marks_ring(void **state)
{
    char *root = test_tmpdir();
    put(root, "meminfo", "MemTotal: 8000000 kB\nMemAvailable: 3000000 kB\n");
    set_status(root, 1024, 1024, 0);
    fg_timeline_params p = fg_timeline_default_params();
    p.max_marks = 4;
    p.roots.proc = root;
    fg_timeline *tl = NULL;
    assert_int_equal(fg_timeline_create(&p, &tl), FG_OK);
    const char *phases[] = {"load", "prefill", "decode", "prefill", "decode", "a-very-long-phase-name-that-is-cut-at-31"};
    for (int i = 0; i < 6; i++) {
        set_status(root, (i + 1) * 1024, 1024, 0);
        assert_int_equal(fg_timeline_mark(tl, phases[i]), FG_OK);
    }
    fg_timeline_info in;
    fg_timeline_get_info(tl, &in);
    assert_int_equal(in.n_marks, 4);
    assert_int_equal(in.marks_dropped, 2);
    fg_mem_mark m[8];
    assert_int_equal(fg_timeline_marks(tl, m, 8), 4);
    assert_string_equal(m[0].phase, "decode");
    assert_int_equal(m[0].rss_anon, 3 * MIB);
    assert_string_equal(m[1].phase, "prefill");
    assert_string_equal(m[3].phase, "a-very-long-phase-name-that-is-");
    assert_int_equal(m[3].rss_anon, 6 * MIB);
    for (int i = 1; i < 4; i++) assert_true(m[i].t_us >= m[i - 1].t_us);
    assert_int_equal(fg_timeline_marks(tl, m, 2), 2);
    assert_int_equal(fg_timeline_mark(tl, NULL), FG_ERR_ARG);
    fg_timeline_free(tl);
    rm_rf(root);
}

static void test_bad_params(void **state)
{
    fg_timeline *tl = (fg_timeline *)1;
    fg_timeline_params p = fg_timeline_default_params();
    p.interval_ms = 0;
    assert_int_equal(fg_timeline_create(&p, &tl), FG_ERR_ARG);
    assert_null(tl);
    p = fg_timeline_default_params();
    p.capacity = 3;
    assert_int_equal(fg_timeline_create(&p, &tl), FG_ERR_ARG);
    assert_non_null(strstr(fg_last_error(), "capacity"));
    p = fg_timeline_default_params();
    p.max_marks = 0;
    assert_int_equal(fg_timeline_create(&p, &tl), FG_ERR_ARG);
    p = fg_timeline_default_params();
    p.pid = -3;
    assert_int_equal(fg_timeline_create(&p, &tl), FG_ERR_ARG);
    fg_timeline_free(NULL);
    fg_timeline_stop(NULL);
}

static void test_thread_real_process_and_json(void **state)
{
    fg_budget_params bp = fg_budget_default_params();
    bp.limit = (int64_t)4 << 30;
    fg_budget *budget = NULL;
    assert_int_equal(fg_budget_create(&bp, &budget), FG_OK);
    fg_timeline_params p = fg_timeline_default_params();
    p.interval_ms = 2;
    p.budget = budget;
    fg_timeline *tl = NULL;
    assert_int_equal(fg_timeline_create(&p, &tl), FG_OK);
    assert_int_equal(fg_timeline_start(tl), FG_OK);
    assert_int_equal(fg_timeline_start(tl), FG_ERR_ARG); /* already running */
    assert_int_equal(fg_timeline_mark(tl, "load"), FG_OK);
    sleep_ms(30);
    const size_t n = 32 * (size_t)MIB;
    char *x = fg_malloc(FG_MEM_KV, n);
    assert_non_null(x);
    memset(x, 7, n);
    assert_int_equal(fg_timeline_mark(tl, "decode"), FG_OK);
    sleep_ms(60);
    fg_timeline_stop(tl);
    fg_timeline_stop(tl); /* twice is harmless */

    fg_timeline_info in;
    fg_timeline_get_info(tl, &in);
    assert_false(in.running);
    assert_true(in.ticks >= 10);
    assert_int_equal(in.failed_ticks, 0);
    fg_mem_mark m[2];
    assert_int_equal(fg_timeline_marks(tl, m, 2), 2);
    assert_string_equal(m[0].phase, "load");
    assert_true(m[1].rss_anon - m[0].rss_anon >= (int64_t)n - 256 * KIB);
    fg_mem_sample s[4096];
    size_t cnt = fg_timeline_recent(tl, 0, s, 4096);
    assert_int_equal(cnt, in.n_samples);
    assert_true(s[cnt - 1].rss_anon - s[0].rss_anon >= (int64_t)n - 256 * KIB);
    assert_true(s[cnt - 1].accounted - s[0].accounted >= (int64_t)n);
    assert_int_equal(s[0].budget, fg_budget_limit(budget));
    assert_true(s[0].mem_available > 0);
    /* the samples span the run, taken about every 2 ms */
    assert_true(s[cnt - 1].t_us - s[0].t_us >= 80000);
    /* a window reaching back to the middle sample returns the second half */
    const size_t mid = cnt / 2;
    const int64_t window = s[cnt - 1].t_us - s[mid].t_us;
    assert_int_equal(fg_timeline_recent(tl, window, s, 4096), cnt - mid);
    assert_int_equal(s[cnt - mid - 1].t_us - s[0].t_us, window);

    /* The report: written, read back, parsed. */
    char *dir = test_tmpdir();
    char path[1100];
    snprintf(path, sizeof path, "%s/memory.json", dir);
    assert_int_equal(fg_timeline_write_json(tl, path), FG_OK);
    char *text = test_read_file(path, NULL);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    cJSON *cols = cJSON_GetObjectItem(j, "columns");
    assert_int_equal(cJSON_GetArraySize(cols), 8);
    assert_string_equal(cJSON_GetArrayItem(cols, 0)->valuestring, "t_ms");
    assert_string_equal(cJSON_GetArrayItem(cols, 1)->valuestring, "rss_anon");
    cJSON *samples = cJSON_GetObjectItem(j, "samples");
    assert_int_equal(cJSON_GetArraySize(samples), (int)in.n_samples);
    fg_timeline_recent(tl, 0, s, 4096);
    cJSON *row0 = cJSON_GetArrayItem(samples, 0);
    assert_int_equal(cJSON_GetArraySize(row0), 8);
    assert_true(cJSON_GetArrayItem(row0, 0)->valuedouble == (double)s[0].t_us / 1000.0);
    assert_true(cJSON_GetArrayItem(row0, 1)->valuedouble == (double)s[0].rss_anon);
    assert_true(cJSON_GetArrayItem(row0, 5)->valuedouble == (double)fg_budget_limit(budget));
    cJSON *marks = cJSON_GetObjectItem(j, "marks");
    assert_int_equal(cJSON_GetArraySize(marks), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(marks, 1), "phase")->valuestring, "decode");
    assert_true(cJSON_GetObjectItem(j, "interval_ms")->valuedouble == 2.0);
    assert_true(cJSON_GetObjectItem(j, "ticks")->valuedouble == (double)in.ticks);
    cJSON *bd = cJSON_GetObjectItem(j, "breakdown");
    assert_non_null(bd);
    cJSON *kv = cJSON_GetObjectItem(cJSON_GetObjectItem(bd, "tags"), "kv");
    assert_true(cJSON_GetObjectItem(kv, "current")->valuedouble >= (double)n);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(bd, "kernel"), "vm_rss")->valuedouble > (double)n);
    cJSON *bj = cJSON_GetObjectItem(j, "budget");
    assert_string_equal(cJSON_GetObjectItem(bj, "source")->valuestring, "given");
    cJSON_Delete(j);
    assert_int_equal(fg_timeline_write_json(tl, "/nonexistent-dir/x.json"), FG_ERR_IO);
    assert_non_null(strstr(fg_last_error(), "/nonexistent-dir/x.json"));
    remove(path);
    rm_rf(dir);

    /* restart after stop keeps the samples */
    assert_int_equal(fg_timeline_start(tl), FG_OK);
    sleep_ms(10);
    fg_timeline_free(tl); /* stops the thread */
    fg_free(x);
    fg_budget_free(budget);
}

static void test_child_by_pid(void **state)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const size_t n = 24 * (size_t)MIB;
        volatile char *x = malloc(n);
        if (!x) _exit(2);
        for (size_t i = 0; i < n; i += 4096) x[i] = 1; /* volatile: the pages are really touched */
        char c = x[4096] ? 'r' : 'x';
        if (write(ready[1], &c, 1) != 1) _exit(2);
        for (;;) pause();
    }
    char c = 0;
    ssize_t got = read(ready[0], &c, 1);
    fg_timeline_params p = fg_timeline_default_params();
    p.pid = (int)pid;
    fg_timeline *tl = NULL;
    fg_status created = fg_timeline_create(&p, &tl);
    fg_status ticked = created == FG_OK ? fg_timeline_tick(tl) : created;
    fg_status marked = created == FG_OK ? fg_timeline_mark(tl, "child-ready") : created;
    kill(pid, SIGKILL); /* before any assertion can leave the child behind */
    waitpid(pid, NULL, 0);
    assert_int_equal(got, 1);
    assert_int_equal(c, 'r');
    assert_int_equal(created, FG_OK);
    assert_int_equal(ticked, FG_OK);
    assert_int_equal(marked, FG_OK);
    fg_mem_sample s;
    assert_int_equal(fg_timeline_recent(tl, 0, &s, 1), 1);
    assert_true(s.rss_anon >= 24 * MIB);
    assert_int_equal(s.accounted, -1); /* not our allocator */
    fg_mem_mark m;
    assert_int_equal(fg_timeline_marks(tl, &m, 1), 1);
    assert_true(m.rss_anon >= 24 * MIB);
    assert_int_equal(fg_timeline_tick(tl), FG_ERR_IO);
    cJSON *j = fg_timeline_json(tl, NULL);
    assert_non_null(j);
    assert_true(cJSON_GetObjectItem(j, "pid")->valuedouble == (double)pid);
    assert_true(cJSON_GetObjectItem(j, "failed_ticks")->valuedouble == 1.0);
    assert_null(cJSON_GetObjectItem(j, "breakdown"));
    cJSON_Delete(j);
    fg_timeline_free(tl);
    close(ready[0]);
    close(ready[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_ticks_and_downsampling),
        cmocka_unit_test(test_marks_ring),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_thread_real_process_and_json),
        cmocka_unit_test(test_child_by_pid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
