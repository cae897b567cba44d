/* Memory probes: /proc and /sys parsing against fake trees holding text in the kernel's
 * formats (copied from a real Linux 6.x machine), cgroup v1/v2 discovery, plausibility
 * of the real /proc/self figures, mincore residency, the mapped-weight registry, the
 * breakdown, and the allocator's fault injection. */
#define _GNU_SOURCE /* nftw */
#include "testutil.h"

#include "mem/mem.h"

#include <cJSON.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define KIB ((int64_t)1024)
#define MIB ((int64_t)1 << 20)
#define GIB ((int64_t)1 << 30)

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

#define assert_in_range64(v, lo, hi)                                                                          \
    do {                                                                                                      \
        int64_t v_ = (v), lo_ = (lo), hi_ = (hi);                                                            \
        if (v_ < lo_ || v_ > hi_) {                                                                           \
            print_error("%s = %lld not in [%lld, %lld]\n", #v, (long long)v_, (long long)lo_, (long long)hi_); \
            fail();                                                                                           \
        }                                                                                                     \
    } while (0)

/* ---- fake trees ------------------------------------------------------------------------------ */

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
    if (dir) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* /proc/<pid>/status as Linux 6.x prints it (values changed). */
static const char status_text[] =
    "Name:\tfrugal\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nPid:\t4242\nPPid:\t1\n"
    "FDSize:\t64\nGroups:\t \nVmPeak:\t 3145728 kB\nVmSize:\t 3000000 kB\nVmLck:\t       0 kB\n"
    "VmPin:\t       0 kB\nVmHWM:\t 2200000 kB\nVmRSS:\t 2000000 kB\nRssAnon:\t  150000 kB\n"
    "RssFile:\t 1849000 kB\nRssShmem:\t    1000 kB\nVmData:\t  400000 kB\nVmStk:\t     132 kB\n"
    "VmExe:\t      20 kB\nVmLib:\t    1528 kB\nVmPTE:\t      44 kB\nVmSwap:\t    2048 kB\n"
    "HugetlbPages:\t       0 kB\nThreads:\t5\nSigQ:\t0/96365\n";

static void test_status_fake(void **state)
{
    char *root = test_tmpdir();
    put(root, "self/status", status_text);
    put(root, "4242/status", status_text);
    put(root, "77/status", "Name:\tkthreadd\nState:\tS (sleeping)\nPid:\t77\n"); /* no Vm lines */
    fg_probe_roots roots = {.proc = root};
    fg_proc_mem m;
    assert_int_equal(fg_probe_proc(&roots, 0, &m), FG_OK);
    assert_int_equal(m.vm_rss, 2000000 * KIB);
    assert_int_equal(m.rss_anon, 150000 * KIB);
    assert_int_equal(m.rss_file, 1849000 * KIB);
    assert_int_equal(m.rss_shmem, 1000 * KIB);
    assert_int_equal(m.vm_hwm, 2200000 * KIB);
    assert_int_equal(m.vm_swap, 2048 * KIB);
    assert_int_equal(m.vm_size, 3000000 * KIB);
    assert_int_equal(m.vm_lck, 0);
    fg_proc_mem other;
    assert_int_equal(fg_probe_proc(&roots, 4242, &other), FG_OK);
    assert_int_equal(other.vm_rss, m.vm_rss);
    assert_int_equal(fg_probe_proc(&roots, 77, &other), FG_ERR_FORMAT);
    assert_non_null(strstr(fg_last_error(), "VmRSS"));
    assert_int_equal(fg_probe_proc(&roots, 99999, &other), FG_ERR_IO);
    assert_non_null(strstr(fg_last_error(), "99999/status"));
    /* An old kernel (before 4.5): no RssAnon/RssFile lines. */
    put(root, "self/status", "Name:\tx\nVmHWM:\t 100 kB\nVmRSS:\t 90 kB\nVmSwap:\t 0 kB\n");
    assert_int_equal(fg_probe_proc(&roots, 0, &m), FG_OK);
    assert_int_equal(m.vm_rss, 90 * KIB);
    assert_int_equal(m.rss_anon, -1);
    assert_int_equal(m.rss_file, -1);
    rm_rf(root);
}

static void test_smaps_rollup_fake(void **state)
{
    char *root = test_tmpdir();
    put(root, "self/smaps_rollup",
        "56325f89c000-7ffe4cf56000 ---p 00000000 00:00 0                          [rollup]\n"
        "Rss:                1612 kB\nPss:                 240 kB\nPss_Dirty:           116 kB\n"
        "Pss_Anon:            116 kB\nPss_File:            124 kB\nPss_Shmem:             0 kB\n"
        "Shared_Clean:       1496 kB\nShared_Dirty:          0 kB\nPrivate_Clean:         0 kB\n"
        "Private_Dirty:       116 kB\nReferenced:         1612 kB\nAnonymous:           116 kB\n"
        "KSM:                   0 kB\nLazyFree:              0 kB\nAnonHugePages:      2048 kB\n"
        "ShmemPmdMapped:        0 kB\nFilePmdMapped:      4096 kB\n"
        "Swap:                 12 kB\nSwapPss:               6 kB\nLocked:                0 kB\n");
    fg_probe_roots roots = {.proc = root};
    fg_smaps_rollup s;
    assert_int_equal(fg_probe_smaps_rollup(&roots, 0, &s), FG_OK);
    assert_int_equal(s.rss, 1612 * KIB);
    assert_int_equal(s.pss, 240 * KIB);
    assert_int_equal(s.pss_anon, 116 * KIB);
    assert_int_equal(s.pss_file, 124 * KIB);
    assert_int_equal(s.shared_clean, 1496 * KIB);
    assert_int_equal(s.private_dirty, 116 * KIB);
    assert_int_equal(s.anonymous, 116 * KIB);
    assert_int_equal(s.anon_huge, 2048 * KIB);
    assert_int_equal(s.file_pmd, 4096 * KIB);
    assert_int_equal(s.swap, 12 * KIB);
    assert_int_equal(s.swap_pss, 6 * KIB);
    assert_int_equal(s.locked, 0);
    /* Kernels before 4.14 have no smaps_rollup. */
    assert_int_equal(fg_probe_smaps_rollup(&roots, 31337, &s), FG_ERR_UNSUPPORTED);
    rm_rf(root);
}

static void test_system_fake(void **state)
{
    char *root = test_tmpdir();
    put(root, "proc/meminfo",
        "MemTotal:        7995120 kB\nMemFree:          312004 kB\nMemAvailable:    2871960 kB\n"
        "Buffers:           51200 kB\nCached:          2600000 kB\nSwapCached:        10240 kB\n"
        "Active:          4000000 kB\nInactive:        2000000 kB\nUnevictable:       16872 kB\n"
        "Mlocked:           15936 kB\nSwapTotal:       4194300 kB\nSwapFree:        3145724 kB\n"
        "Dirty:              4872 kB\nShmem:             81234 kB\nAnonHugePages:     20480 kB\n"
        "HugePages_Total:       0\n");
    put(root, "proc/swaps",
        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        "/dev/zram0                              partition\t4194300\t\t1048576\t\t100\n"
        "/swapfile                               file\t\t2097148\t\t0\t\t-2\n");
    /* zram10 sorts after zram2; zram1 has no mm_stat (not initialised); loop0 is not zram */
    put(root, "sys/block/zram0/mm_stat", "1073741824 268435456 285212672        0 301989888     1234        0        0        0\n");
    put(root, "sys/block/zram0/disksize", "4294963200\n");
    put(root, "sys/block/zram10/mm_stat", "4096 100 8192 0 8192 0 0 0\n");
    put(root, "sys/block/zram10/disksize", "1048576\n");
    put(root, "sys/block/zram2/mm_stat", "0 0 0 536870912 0 0 0 0\n");
    put(root, "sys/block/zram1/disksize", "0\n");
    put(root, "sys/block/loop0/size", "0\n");
    char proc[1024], sys[1024];
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(sys, sizeof sys, "%s/sys", root);
    fg_probe_roots roots = {.proc = proc, .sys = sys};
    fg_sys_mem m;
    assert_int_equal(fg_probe_system(&roots, &m), FG_OK);
    assert_int_equal(m.mem_total, 7995120 * KIB);
    assert_int_equal(m.mem_free, 312004 * KIB);
    assert_int_equal(m.mem_available, 2871960 * KIB);
    assert_int_equal(m.cached, 2600000 * KIB);
    assert_int_equal(m.buffers, 51200 * KIB);
    assert_int_equal(m.swap_total, 4194300 * KIB);
    assert_int_equal(m.swap_free, 3145724 * KIB);
    assert_int_equal(m.swap_cached, 10240 * KIB);
    assert_int_equal(m.shmem, 81234 * KIB);
    assert_int_equal(m.mlocked, 15936 * KIB);
    assert_int_equal(m.anon_huge, 20480 * KIB);
    assert_int_equal(m.n_swaps, 2);
    assert_string_equal(m.swaps[0].name, "/dev/zram0");
    assert_string_equal(m.swaps[0].type, "partition");
    assert_int_equal(m.swaps[0].size, 4194300 * KIB);
    assert_int_equal(m.swaps[0].used, 1048576 * KIB);
    assert_int_equal(m.swaps[0].priority, 100);
    assert_string_equal(m.swaps[1].name, "/swapfile");
    assert_int_equal(m.swaps[1].priority, -2);
    assert_int_equal(m.n_zram, 3);
    assert_string_equal(m.zram[0].name, "zram0");
    assert_string_equal(m.zram[1].name, "zram2");
    assert_string_equal(m.zram[2].name, "zram10");
    assert_int_equal(m.zram[0].disksize, 4294963200LL);
    assert_int_equal(m.zram[0].orig_data_size, GIB);
    assert_int_equal(m.zram[0].compr_data_size, 256 * MIB);
    assert_int_equal(m.zram[0].mem_used_total, 272 * MIB);
    assert_int_equal(m.zram[0].mem_limit, 0);
    assert_int_equal(m.zram[0].mem_used_max, 288 * MIB);
    assert_int_equal(m.zram[1].mem_limit, 512 * MIB);
    assert_int_equal(m.zram[1].disksize, -1); /* file absent */
    int64_t total, avail, st, sf;
    assert_int_equal(fg_probe_meminfo_brief(&roots, &total, &avail, &st, &sf), FG_OK);
    assert_int_equal(total, m.mem_total);
    assert_int_equal(avail, m.mem_available);
    assert_int_equal(st - sf, 1048576 * KIB);
    /* no swaps file, no zram: still fine; no meminfo: an error naming the file */
    fg_probe_roots bare = {.proc = proc, .sys = "/nonexistent-sys"};
    remove(strcat(strcpy((char[1100]){0}, proc), "/swaps"));
    assert_int_equal(fg_probe_system(&bare, &m), FG_OK);
    assert_int_equal(m.n_swaps, 0);
    assert_int_equal(m.n_zram, 0);
    fg_probe_roots none = {.proc = "/nonexistent-proc"};
    assert_int_equal(fg_probe_system(&none, &m), FG_ERR_IO);
    assert_non_null(strstr(fg_last_error(), "/nonexistent-proc/meminfo"));
    rm_rf(root);
}

/* ---- cgroups --------------------------------------------------------------------------------- */

static const char mountinfo_v2[] =
    "22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw\n"
    "26 28 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
    "28 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro\n";

static void test_cgroup_v2(void **state)
{
    char *root = test_tmpdir();
    put(root, "proc/self/cgroup", "0::/user.slice/user-1000.slice/app.service\n");
    put(root, "proc/self/mountinfo", mountinfo_v2);
    put(root, "fs/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
    put(root, "fs/sys/fs/cgroup/user.slice/memory.max", "4294967296\n");
    put(root, "fs/sys/fs/cgroup/user.slice/user-1000.slice/memory.max", "max\n");
    put(root, "fs/sys/fs/cgroup/user.slice/user-1000.slice/app.service/memory.max", "3221225472\n");
    put(root, "fs/sys/fs/cgroup/user.slice/user-1000.slice/app.service/memory.high", "max\n");
    put(root, "fs/sys/fs/cgroup/user.slice/user-1000.slice/app.service/memory.current", "1234567168\n");
    put(root, "fs/sys/fs/cgroup/user.slice/user-1000.slice/app.service/memory.peak", "2000000000\n");
    put(root, "fs/sys/fs/cgroup/user.slice/user-1000.slice/app.service/memory.swap.max", "0\n");
    put(root, "fs/sys/fs/cgroup/user.slice/user-1000.slice/app.service/memory.swap.current", "0\n");
    char proc[1024], fs[1024], want[1200];
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(fs, sizeof fs, "%s/fs", root);
    fg_probe_roots roots = {.proc = proc, .cgroup = fs};
    fg_cgroup_mem cg;
    assert_int_equal(fg_probe_cgroup(&roots, 0, &cg), FG_OK);
    assert_int_equal(cg.version, 2);
    snprintf(want, sizeof want, "%s/sys/fs/cgroup/user.slice/user-1000.slice/app.service", fs);
    assert_string_equal(cg.dir, want);
    assert_int_equal(cg.limit, 3 * GIB);
    assert_true(fg_cgroup_has_limit(&cg));
    assert_true(cg.high == FG_MEM_UNLIMITED);
    assert_int_equal(cg.current, 1234567168);
    assert_int_equal(cg.peak, 2000000000);
    assert_int_equal(cg.swap_limit, 0);
    assert_int_equal(cg.swap_current, 0);

    /* An ancestor's smaller limit binds. */
    put(root, "fs/sys/fs/cgroup/user.slice/memory.max", "2147483648\n");
    assert_int_equal(fg_probe_cgroup(&roots, 0, &cg), FG_OK);
    assert_int_equal(cg.limit, 2 * GIB);

    /* "max" everywhere: unlimited, which is not a limit. */
    put(root, "fs/sys/fs/cgroup/user.slice/memory.max", "max\n");
    put(root, "fs/sys/fs/cgroup/user.slice/user-1000.slice/app.service/memory.max", "max\n");
    assert_int_equal(fg_probe_cgroup(&roots, 0, &cg), FG_OK);
    assert_true(cg.limit == FG_MEM_UNLIMITED);
    assert_false(fg_cgroup_has_limit(&cg));

    /* Malformed: an error naming the file. */
    put(root, "fs/sys/fs/cgroup/user.slice/user-1000.slice/app.service/memory.max", "lots\n");
    assert_int_equal(fg_probe_cgroup(&roots, 0, &cg), FG_ERR_FORMAT);
    assert_non_null(strstr(fg_last_error(), "app.service/memory.max"));

    /* The same through the environment instead of the argument. */
    put(root, "fs/sys/fs/cgroup/user.slice/user-1000.slice/app.service/memory.max", "1073741824\n");
    setenv("FG_PROC_ROOT", proc, 1);
    setenv("FG_CGROUP_ROOT", fs, 1);
    assert_int_equal(fg_probe_cgroup(NULL, 0, &cg), FG_OK);
    unsetenv("FG_PROC_ROOT");
    unsetenv("FG_CGROUP_ROOT");
    assert_int_equal(cg.version, 2);
    assert_int_equal(cg.limit, GIB);
    rm_rf(root);
}

static void test_cgroup_v2_missing_files(void **state)
{
    char *root = test_tmpdir();
    /* Root cgroup of a v2 host: no memory.max there (the root has no limit files). */
    put(root, "proc/self/cgroup", "0::/\n");
    put(root, "proc/self/mountinfo", mountinfo_v2);
    put(root, "fs/sys/fs/cgroup/cgroup.controllers", "memory\n");
    char proc[1024], fs[1024];
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(fs, sizeof fs, "%s/fs", root);
    fg_probe_roots roots = {.proc = proc, .cgroup = fs};
    fg_cgroup_mem cg;
    assert_int_equal(fg_probe_cgroup(&roots, 0, &cg), FG_OK);
    assert_int_equal(cg.version, 2);
    assert_int_equal(cg.limit, -1);
    assert_int_equal(cg.current, -1);
    assert_int_equal(cg.peak, -1);
    assert_int_equal(cg.swap_limit, -1);
    assert_false(fg_cgroup_has_limit(&cg));
    /* The cgroup named in /proc/self/cgroup is not in this mount namespace (cgroup
     * namespace, container): the mount point is the process's cgroup. */
    put(root, "proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
    put(root, "fs/sys/fs/cgroup/memory.max", "536870912\n");
    assert_int_equal(fg_probe_cgroup(&roots, 0, &cg), FG_OK);
    assert_int_equal(cg.limit, 512 * MIB);
    /* No /proc/self/cgroup at all: no cgroup, not an error. */
    remove(strcat(strcpy((char[1100]){0}, proc), "/self/cgroup"));
    assert_int_equal(fg_probe_cgroup(&roots, 0, &cg), FG_OK);
    assert_int_equal(cg.version, 0);
    assert_int_equal(cg.limit, -1);
    rm_rf(root);
}

static const char mountinfo_v1[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 /docker/0123abcd /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static void test_cgroup_v1(void **state)
{
    char *root = test_tmpdir();
    /* Docker on a hybrid host: the memory hierarchy is mounted at the container's
     * cgroup (root /docker/0123abcd), v2 is mounted without the memory controller. */
    put(root, "proc/self/cgroup", "9:name=systemd:/docker/0123abcd\n4:memory:/docker/0123abcd\n1:cpu:/docker/0123abcd\n0::/docker/0123abcd\n");
    put(root, "proc/self/mountinfo", mountinfo_v1);
    put(root, "fs/sys/fs/cgroup/unified/cgroup.procs", "1\n");
    put(root, "fs/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put(root, "fs/sys/fs/cgroup/memory/memory.usage_in_bytes", "271306752\n");
    put(root, "fs/sys/fs/cgroup/memory/memory.max_usage_in_bytes", "300000000\n");
    char proc[1024], fs[1024], want[1200];
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(fs, sizeof fs, "%s/fs", root);
    fg_probe_roots roots = {.proc = proc, .cgroup = fs};
    fg_cgroup_mem cg;
    assert_int_equal(fg_probe_cgroup(&roots, 0, &cg), FG_OK);
    assert_int_equal(cg.version, 1);
    snprintf(want, sizeof want, "%s/sys/fs/cgroup/memory", fs);
    assert_string_equal(cg.dir, want);
    assert_true(cg.limit == FG_MEM_UNLIMITED); /* PAGE_COUNTER_MAX * 4096: no limit */
    assert_false(fg_cgroup_has_limit(&cg));
    assert_int_equal(cg.current, 271306752);
    assert_int_equal(cg.peak, 300000000);
    assert_int_equal(cg.swap_limit, -1); /* no memsw files (swap accounting off) */

    put(root, "fs/sys/fs/cgroup/memory/memory.limit_in_bytes", "2147483648\n");
    put(root, "fs/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", "3221225472\n");
    put(root, "fs/sys/fs/cgroup/memory/memory.memsw.usage_in_bytes", "300000000\n");
    assert_int_equal(fg_probe_cgroup(&roots, 0, &cg), FG_OK);
    assert_int_equal(cg.limit, 2 * GIB);
    assert_true(fg_cgroup_has_limit(&cg));
    assert_int_equal(cg.swap_limit, GIB);
    assert_int_equal(cg.swap_current, 300000000 - 271306752);
    rm_rf(root);
}

static void test_cgroup_v1_nested_and_escaped(void **state)
{
    char *root = test_tmpdir();
    /* Mount root "/", mount point with a space (escaped \040 in mountinfo), the process
     * in a nested group whose parent holds the limit. */
    put(root, "proc/self/cgroup", "4:memory:/process_api/d0f9\n");
    put(root, "proc/self/mountinfo", "35 31 0:32 / /sys/fs/cg\\040mem rw,relatime - cgroup cgroup rw,memory\n");
    put(root, "fs/sys/fs/cg mem/memory.limit_in_bytes", "9223372036854771712\n");
    put(root, "fs/sys/fs/cg mem/process_api/memory.limit_in_bytes", "1073741824\n");
    put(root, "fs/sys/fs/cg mem/process_api/d0f9/memory.limit_in_bytes", "9223372036854771712\n");
    put(root, "fs/sys/fs/cg mem/process_api/d0f9/memory.usage_in_bytes", "1000\n");
    char proc[1024], fs[1024], want[1200];
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(fs, sizeof fs, "%s/fs", root);
    fg_probe_roots roots = {.proc = proc, .cgroup = fs};
    fg_cgroup_mem cg;
    assert_int_equal(fg_probe_cgroup(&roots, 0, &cg), FG_OK);
    assert_int_equal(cg.version, 1);
    snprintf(want, sizeof want, "%s/sys/fs/cg mem/process_api/d0f9", fs);
    assert_string_equal(cg.dir, want);
    assert_int_equal(cg.limit, GIB);
    assert_int_equal(cg.current, 1000);
    rm_rf(root);
}

static void test_cgroup_conventional_paths(void **state)
{
    char *root = test_tmpdir();
    /* mountinfo names no cgroup mount (e.g. a minimal container): the usual places */
    put(root, "proc/self/cgroup", "0::/\n");
    put(root, "proc/self/mountinfo", "28 1 259:2 / / rw,relatime shared:1 - ext4 /dev/vda rw\n");
    put(root, "fs/sys/fs/cgroup/cgroup.controllers", "memory pids\n");
    put(root, "fs/sys/fs/cgroup/memory.max", "805306368\n");
    char proc[1024], fs[1024];
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(fs, sizeof fs, "%s/fs", root);
    fg_probe_roots roots = {.proc = proc, .cgroup = fs};
    fg_cgroup_mem cg;
    assert_int_equal(fg_probe_cgroup(&roots, 0, &cg), FG_OK);
    assert_int_equal(cg.version, 2);
    assert_int_equal(cg.limit, 768 * MIB);
    rm_rf(root);
}

/* ---- the real /proc ------------------------------------------------------------------------- */

static void test_real_proc_plausible(void **state)
{
    fg_proc_mem m;
    assert_int_equal(fg_probe_proc(NULL, 0, &m), FG_OK);
    assert_true(m.vm_rss > 0);
    assert_true(m.rss_anon > 0 && m.rss_file > 0 && m.rss_shmem >= 0);
    /* VmRSS is the sum of the three (all read from the same counters) */
    assert_in_range64(m.rss_anon + m.rss_file + m.rss_shmem, m.vm_rss - 64 * KIB, m.vm_rss + 64 * KIB);
    assert_true(m.vm_hwm >= m.vm_rss - 64 * KIB);
    assert_true(m.vm_size >= m.vm_rss);
    assert_true(m.vm_swap >= 0);
    fg_proc_mem by_pid;
    assert_int_equal(fg_probe_proc(NULL, (int)getpid(), &by_pid), FG_OK);
    assert_in_range64(by_pid.vm_rss, m.vm_rss - MIB, m.vm_rss + MIB);
    fg_smaps_rollup s;
    fg_status st = fg_probe_smaps_rollup(NULL, 0, &s);
    if (st == FG_OK) {
        assert_in_range64(s.rss, m.vm_rss - MIB, m.vm_rss + MIB);
        assert_true(s.pss > 0 && s.pss <= s.rss);
        assert_in_range64(s.anonymous, m.rss_anon - MIB, m.rss_anon + MIB);
    }
    fg_sys_mem sys;
    assert_int_equal(fg_probe_system(NULL, &sys), FG_OK);
    assert_true(sys.mem_total > 64 * MIB);
    assert_true(sys.mem_available > 0 && sys.mem_available <= sys.mem_total);
    assert_true(sys.swap_free <= sys.swap_total);
    fg_cgroup_mem cg;
    assert_int_equal(fg_probe_cgroup(NULL, 0, &cg), FG_OK);
    assert_true(cg.version >= 0 && cg.version <= 2);
}

static void test_rss_anon_grows_with_touched_memory(void **state)
{
    /* 64 MiB is above glibc's largest dynamic mmap threshold (32 MiB): a fresh mapping,
     * nothing resident until touched. */
    const int64_t n = 64 * MIB;
    fg_proc_mem before, allocated, touched, freed;
    assert_int_equal(fg_probe_proc(NULL, 0, &before), FG_OK);
    char *p = fg_malloc(FG_MEM_SCRATCH, (size_t)n);
    assert_non_null(p);
    assert_int_equal(fg_probe_proc(NULL, 0, &allocated), FG_OK);
    /* ASan's allocator fills the first 4 KiB and its shadow is anonymous memory too */
    const int64_t slack = UNDER_ASAN ? n / 8 + 2 * MIB : 512 * KIB;
    assert_in_range64(allocated.rss_anon - before.rss_anon, -slack, slack);
    memset(p, 0x5a, (size_t)n);
    assert_int_equal(fg_probe_proc(NULL, 0, &touched), FG_OK);
    assert_in_range64(touched.rss_anon - before.rss_anon, n - 64 * KIB, n + slack);
    assert_true(touched.vm_hwm >= touched.vm_rss);
    fg_free(p);
    assert_int_equal(fg_probe_proc(NULL, 0, &freed), FG_OK);
    if (!UNDER_ASAN) /* ASan keeps freed memory in quarantine */
        assert_in_range64(freed.rss_anon - before.rss_anon, -slack, slack);
    /* the peak stays (VmHWM is refreshed from per-CPU counters at unmap: it may trail
     * the last VmRSS read by a little, measured ~100 KiB on Linux 6.18) */
    assert_true(freed.vm_hwm >= touched.vm_rss - MIB);
}

/* ---- residency ----------------------------------------------------------------------------- */

static void test_mincore_residency(void **state)
{
    const size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 16 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    assert_int_equal(fg_mem_resident_bytes(m, 16 * ps), 0);
    m[0] = 1;
    m[3 * ps + 7] = 1;
    m[15 * ps] = 1;
    assert_int_equal(fg_mem_resident_bytes(m, 16 * ps), (int64_t)(3 * ps));
    /* Only the bytes of the range count: 100 bytes into page 0, up to 10 into page 3. */
    assert_int_equal(fg_mem_resident_bytes(m + 100, 3 * ps - 90), (int64_t)(ps - 100 + 10));
    assert_int_equal(fg_mem_resident_bytes(m + ps, 2 * ps), 0);
    assert_int_equal(fg_mem_resident_bytes(m, 0), 0);
    munmap(m + 8 * ps, 8 * ps);
    assert_int_equal(fg_mem_resident_bytes(m, 16 * ps), -1); /* half unmapped */
    assert_non_null(strstr(fg_last_error(), "residency"));
    munmap(m, 8 * ps);

    /* A KV-like region: reserved, committed, touched. */
    fg_mem_stats st0, st1;
    fg_mem_get_stats(&st0);
    fg_region r;
    assert_int_equal(fg_region_reserve(&r, FG_MEM_KV, 64 * MIB), FG_OK);
    assert_int_equal(fg_mem_resident_bytes(r.base, r.reserved), 0);
    assert_int_equal(fg_region_commit(&r, MIB), FG_OK);
    assert_int_equal(fg_mem_resident_bytes(r.base, r.reserved), 0);
    memset(r.base, 1, MIB);
    assert_int_equal(fg_mem_resident_bytes(r.base, r.reserved), MIB);
    fg_mem_get_stats(&st1);
    assert_int_equal(st1.current[FG_MEM_KV] - st0.current[FG_MEM_KV], MIB);
    fg_region_release(&r);
    fg_mem_get_stats(&st1);
    assert_int_equal(st1.current[FG_MEM_KV], st0.current[FG_MEM_KV]);
}

static void test_mapped_registry_and_breakdown(void **state)
{
    const size_t len = 16 * (size_t)MIB;
    char *dir = test_tmpdir();
    char path[1100];
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    char *data = malloc(len);
    for (size_t i = 0; i < len; i++) data[i] = (char)(i / 4096 % 251 + 1);
    assert_int_equal(test_write_file(path, data, len), 0);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    const unsigned char *w = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    assert_true(w != MAP_FAILED);
    assert_int_equal(fg_mem_map_register(w, len, "weights.bin"), FG_OK);
    assert_int_equal(fg_mem_mapped_size(), (int64_t)len);
    assert_int_equal(fg_mem_mapped_rss(NULL), 0); /* mapped, never touched by us */

    /* Read the first MiB: its pages get mapped, and a little more (fault-around maps
     * cached neighbours, large folios are mapped whole: up to 2 MiB measured). */
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)MIB; i += 512) sum += w[i];
    int64_t rss = fg_mem_mapped_rss(NULL);
    assert_in_range64(rss, MIB, 4 * MIB);
    fg_mem_stats st;
    fg_mem_get_stats(&st);
    assert_int_equal(st.current[FG_MEM_WEIGHTS_MAPPED], rss);
    for (size_t i = 0; i < len; i += 512) sum += w[i];
    assert_true(sum > 0);
    assert_int_equal(fg_mem_mapped_rss(NULL), (int64_t)len);
    /* the file was just written: all of it is in the page cache */
    assert_int_equal(fg_mem_mapped_resident(), (int64_t)len);

    fg_mem_breakdown b;
    assert_int_equal(fg_mem_breakdown_get(NULL, &b), FG_OK);
    assert_int_equal(b.mapped_size, (int64_t)len);
    assert_int_equal(b.mapped_rss, (int64_t)len);
    assert_int_equal(b.accounted_file, (int64_t)len);
    fg_mem_get_stats(&st);
    assert_int_equal(b.accounted_total, st.total_current);
    assert_int_equal(b.accounted_anon + b.accounted_file, b.accounted_total);
    int64_t sum_tags = 0;
    for (int i = 0; i < FG_MEM_TAG_COUNT; i++) sum_tags += b.current[i];
    assert_int_equal(sum_tags, b.accounted_total);
    assert_int_equal(b.unaccounted_file, b.kernel.rss_file - (int64_t)len);
    assert_true(b.unaccounted_file >= 0); /* the binary and libc are file pages we do not tag */
    assert_int_equal(b.unaccounted_total, b.kernel.vm_rss - b.accounted_total);
    assert_int_equal(b.unaccounted_anon, b.kernel.rss_anon + b.kernel.rss_shmem - b.accounted_anon);
    assert_int_equal(b.unaccounted_peak, b.kernel.vm_hwm - b.accounted_peak);

    /* The table: one row per tag, the kernel line, the unaccounted line. */
    char table[2048];
    size_t need = fg_mem_breakdown_format(&b, table, sizeof table);
    assert_true(need > 0 && need < sizeof table);
    assert_int_equal(strlen(table), need);
    for (int i = 0; i < FG_MEM_TAG_COUNT; i++) assert_non_null(strstr(table, fg_mem_tag_name((fg_mem_tag)i)));
    assert_non_null(strstr(table, "unaccounted"));
    assert_non_null(strstr(table, "RssAnon"));
    assert_non_null(strstr(table, "16.0 MiB mapped"));
    char small[40];
    assert_int_equal(fg_mem_breakdown_format(&b, small, sizeof small), need);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(fg_mem_breakdown_format(&b, NULL, 0), need);

    /* JSON parses back to the same figures. */
    cJSON *j = fg_mem_breakdown_json(&b);
    assert_non_null(j);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    cJSON *back = cJSON_Parse(text);
    cJSON_free(text);
    assert_non_null(back);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "kernel"), "vm_rss")->valuedouble == (double)b.kernel.vm_rss);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "unaccounted"), "total")->valuedouble == (double)b.unaccounted_total);
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "mapped"), "rss")->valuedouble == (double)len);
    cJSON *kv = cJSON_GetObjectItem(cJSON_GetObjectItem(back, "tags"), "kv");
    assert_non_null(kv);
    assert_true(cJSON_GetObjectItem(kv, "current")->valuedouble == (double)b.current[FG_MEM_KV]);
    cJSON_Delete(back);

    fg_mem_map_unregister(w);
    assert_int_equal(fg_mem_mapped_size(), 0);
    fg_mem_get_stats(&st);
    assert_int_equal(st.current[FG_MEM_WEIGHTS_MAPPED], 0);
    munmap((void *)w, len);
    remove(path);
    free(data);
    rm_rf(dir);
}

static void test_breakdown_tracks_anon(void **state)
{
    /* Tagged, touched memory moves the accounted and the kernel figures alike: the
     * unaccounted anon stays put (within malloc's bookkeeping). */
    fg_mem_breakdown a, b;
    assert_int_equal(fg_mem_breakdown_get(NULL, &a), FG_OK);
    const size_t n = 48 * (size_t)MIB;
    char *p = fg_malloc(FG_MEM_KV, n);
    assert_non_null(p);
    memset(p, 1, n);
    assert_int_equal(fg_mem_breakdown_get(NULL, &b), FG_OK);
    assert_int_equal(b.current[FG_MEM_KV] - a.current[FG_MEM_KV], (int64_t)n);
    const int64_t slack = UNDER_ASAN ? (int64_t)n / 8 + 2 * MIB : 512 * KIB;
    assert_in_range64(b.unaccounted_anon - a.unaccounted_anon, -slack, slack);
    fg_free(p);
    assert_int_equal(fg_mem_breakdown_get(NULL, &b), FG_OK);
    assert_int_equal(b.current[FG_MEM_KV], a.current[FG_MEM_KV]);
    assert_true(b.peak[FG_MEM_KV] >= a.current[FG_MEM_KV] + (int64_t)n);
}

static void test_fmt_bytes(void **state)
{
    char b[32];
    assert_string_equal(fg_mem_fmt_bytes(0, b, sizeof b), "0 B");
    assert_string_equal(fg_mem_fmt_bytes(1023, b, sizeof b), "1023 B");
    assert_string_equal(fg_mem_fmt_bytes(1536, b, sizeof b), "1.50 KiB");
    assert_string_equal(fg_mem_fmt_bytes(12 * MIB + MIB / 2, b, sizeof b), "12.5 MiB");
    assert_string_equal(fg_mem_fmt_bytes(986 * MIB, b, sizeof b), "986 MiB");
    assert_string_equal(fg_mem_fmt_bytes(3 * GIB, b, sizeof b), "3.00 GiB");
    assert_string_equal(fg_mem_fmt_bytes(-2 * MIB, b, sizeof b), "-2.00 MiB");
    assert_string_equal(fg_mem_fmt_bytes(FG_MEM_UNLIMITED, b, sizeof b), "unlimited");
}

/* ---- the allocator's fault injection ---------------------------------------------------------- */

static void test_fail_after(void **state)
{
    fg_mem_stats s0, s1;
    fg_mem_get_stats(&s0);
    fg_mem_fail_after(2); /* the 2nd allocation from now, and every later one, fail */
    void *a = fg_malloc(FG_MEM_RUNTIME, 100);
    assert_non_null(a);
    assert_null(fg_malloc(FG_MEM_RUNTIME, 100));
    assert_null(fg_calloc(FG_MEM_TOKENIZER, 10, 10));
    assert_null(fg_strdup(FG_MEM_RUNTIME, "x"));
    assert_null(fg_realloc(a, 200)); /* the old block stays valid */
    fg_region r;
    assert_int_equal(fg_region_reserve(&r, FG_MEM_KV, MIB), FG_ERR_NOMEM);
    assert_null(r.base);
    fg_mem_get_stats(&s1);
    assert_int_equal(s1.current[FG_MEM_RUNTIME] - s0.current[FG_MEM_RUNTIME], 100);
    assert_int_equal(s1.current[FG_MEM_TOKENIZER], s0.current[FG_MEM_TOKENIZER]);
    assert_int_equal(s1.current[FG_MEM_KV], s0.current[FG_MEM_KV]);
    fg_mem_fail_after(0);
    void *b = fg_realloc(a, 200);
    assert_non_null(b);
    fg_mem_get_stats(&s1);
    assert_int_equal(s1.current[FG_MEM_RUNTIME] - s0.current[FG_MEM_RUNTIME], 200);
    fg_free(b);
    fg_mem_fail_after(1);
    assert_null(fg_malloc(FG_MEM_SCRATCH, 1));
    fg_mem_fail_after(0);
    void *c = fg_malloc(FG_MEM_SCRATCH, 1);
    assert_non_null(c);
    fg_free(c);
    /* overflow of n * size is refused without injection */
    assert_null(fg_calloc(FG_MEM_RUNTIME, SIZE_MAX / 2, 4));
    fg_mem_get_stats(&s1);
    for (int i = 0; i < FG_MEM_TAG_COUNT; i++) assert_int_equal(s1.current[i], s0.current[i]);
    /* injected failures inside the probes' users: the budget and the timeline report NOMEM */
    fg_mem_fail_after(1);
    fg_budget *bud = NULL;
    assert_int_equal(fg_budget_create(NULL, &bud), FG_ERR_NOMEM);
    assert_null(bud);
    fg_timeline *tl = NULL;
    assert_int_equal(fg_timeline_create(NULL, &tl), FG_ERR_NOMEM);
    assert_null(tl);
    fg_mem_fail_after(2);
    assert_int_equal(fg_timeline_create(NULL, &tl), FG_ERR_NOMEM);
    assert_null(tl);
    fg_mem_fail_after(0);
    fg_mem_get_stats(&s1);
    for (int i = 0; i < FG_MEM_TAG_COUNT; i++) assert_int_equal(s1.current[i], s0.current[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_fake),
        cmocka_unit_test(test_smaps_rollup_fake),
        cmocka_unit_test(test_system_fake),
        cmocka_unit_test(test_cgroup_v2),
        cmocka_unit_test(test_cgroup_v2_missing_files),
        cmocka_unit_test(test_cgroup_v1),
        cmocka_unit_test(test_cgroup_v1_nested_and_escaped),
        cmocka_unit_test(test_cgroup_conventional_paths),
        cmocka_unit_test(test_real_proc_plausible),
        cmocka_unit_test(test_rss_anon_grows_with_touched_memory),
        cmocka_unit_test(test_mincore_residency),
        cmocka_unit_test(test_mapped_registry_and_breakdown),
        cmocka_unit_test(test_breakdown_tracks_anon),
        cmocka_unit_test(test_fmt_bytes),
        cmocka_unit_test(test_fail_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
