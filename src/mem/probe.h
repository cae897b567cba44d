/* mem/probe: what the kernel says about memory — this process (or another one),
 * the system, swap and zram, and the memory cgroup — plus the registry of mapped
 * weight files and the breakdown that reconciles the allocator's tagged totals with
 * the kernel's figures.
 *
 * Sizes are bytes (int64_t). A field the kernel does not report is -1. A limit the
 * kernel reports as unlimited ("max" in cgroup v2, PAGE_COUNTER_MAX in v1) is
 * FG_MEM_UNLIMITED.
 *
 * Roots. Every probe reads its files below three roots so tests can point them at
 * fake trees:
 *   proc    $FG_PROC_ROOT,   default "/proc": <proc>/self/status, <proc>/<pid>/status,
 *           <proc>/self/smaps_rollup, <proc>/meminfo, <proc>/swaps,
 *           <proc>/self/cgroup, <proc>/self/mountinfo
 *   cgroup  $FG_CGROUP_ROOT, default "": a prefix put before every cgroup mount point
 *           named in mountinfo (a fake tree mirrors the real layout:
 *           $FG_CGROUP_ROOT/sys/fs/cgroup/memory.max). When mountinfo names no cgroup
 *           mount, <cgroup>/sys/fs/cgroup (v2) and <cgroup>/sys/fs/cgroup/memory (v1)
 *           are tried.
 *   sys     $FG_SYS_ROOT,    default "/sys": <sys>/block/zram<N>/{disksize,mm_stat}
 * An fg_probe_roots argument overrides the environment field by field (NULL fields
 * and a NULL pointer mean: environment, else default). */
/* mem.h is included first (outside the guard): it includes probe.h, budget.h and
 * timeline.h in dependency order, whichever of them a file names first. */
#include "mem/mem.h"

#ifndef FG_MEM_PROBE_H
#define FG_MEM_PROBE_H

#define FG_MEM_UNLIMITED INT64_MAX

typedef struct fg_probe_roots {
    const char *proc;
    const char *cgroup;
    const char *sys;
} fg_probe_roots;

/* ---- a process: /proc/<pid>/status ----------------------------------------------- */
typedef struct fg_proc_mem {
    int64_t vm_rss;    /* VmRSS = RssAnon + RssFile + RssShmem */
    int64_t rss_anon;  /* RssAnon: private anonymous pages (heap, KV, scratch) */
    int64_t rss_file;  /* RssFile: file pages mapped (weights, the binary, libraries) */
    int64_t rss_shmem; /* RssShmem */
    int64_t vm_hwm;    /* VmHWM: peak VmRSS */
    int64_t vm_swap;   /* VmSwap: this process's anonymous pages in swap */
    int64_t vm_size;   /* VmSize: address space (includes reserved, uncommitted ranges) */
    int64_t vm_lck;    /* VmLck: mlocked */
} fg_proc_mem;

/* pid 0: this process (<proc>/self). FG_ERR_IO when the file cannot be read (e.g. the
 * process has exited), FG_ERR_FORMAT when VmRSS is absent. Other fields may be -1
 * (RssAnon/RssFile appeared in Linux 4.5). Reads one file into a stack buffer:
 * no allocation, cheap enough for a 10 ms sampler. */
fg_status fg_probe_proc(const fg_probe_roots *roots, int pid, fg_proc_mem *out);

/* ---- a process: /proc/<pid>/smaps_rollup (Linux 4.14+) ---------------------------- */
typedef struct fg_smaps_rollup {
    int64_t rss, pss, pss_anon, pss_file, pss_shmem;
    int64_t shared_clean, shared_dirty, private_clean, private_dirty;
    int64_t anonymous, anon_huge, swap, swap_pss, locked;
    int64_t file_pmd;  /* FilePmdMapped: file pages mapped 2 MiB at a time (-1: not reported) */
} fg_smaps_rollup;
fg_status fg_probe_smaps_rollup(const fg_probe_roots *roots, int pid, fg_smaps_rollup *out);

/* ---- the system: /proc/meminfo, /proc/swaps, zram --------------------------------- */
#define FG_PROBE_MAX_SWAPS 8
#define FG_PROBE_MAX_ZRAM 8

typedef struct fg_swap_device {
    char name[64];     /* /dev/zram0, /swapfile, ... */
    char type[16];     /* partition, file */
    int64_t size, used;
    int priority;
} fg_swap_device;

typedef struct fg_zram_device {
    char name[16];           /* zram0 */
    int64_t disksize;        /* uncompressed capacity */
    int64_t orig_data_size;  /* mm_stat: uncompressed bytes stored */
    int64_t compr_data_size; /* mm_stat: compressed size */
    int64_t mem_used_total;  /* mm_stat: RAM the device uses (what it costs) */
    int64_t mem_limit;       /* mm_stat: 0 = no limit */
    int64_t mem_used_max;    /* mm_stat */
} fg_zram_device;

typedef struct fg_sys_mem {
    int64_t mem_total, mem_free, mem_available, cached, buffers, shmem;
    int64_t swap_total, swap_free, swap_cached;
    int64_t dirty, mlocked, anon_huge;
    int n_swaps;       /* from <proc>/swaps (absent file: 0) */
    fg_swap_device swaps[FG_PROBE_MAX_SWAPS];
    int n_zram;        /* from <sys>/block/zram* with a readable mm_stat */
    fg_zram_device zram[FG_PROBE_MAX_ZRAM];
} fg_sys_mem;

/* Reads meminfo (FG_ERR_IO if missing; MemAvailable -1 on kernels before 3.14),
 * swaps and zram devices (both optional). */
fg_status fg_probe_system(const fg_probe_roots *roots, fg_sys_mem *out);
/* Only the four figures a sampler needs, from meminfo (no swaps, no zram). */
fg_status fg_probe_meminfo_brief(const fg_probe_roots *roots, int64_t *mem_total, int64_t *mem_available,
                                 int64_t *swap_total, int64_t *swap_free);

/* ---- the memory cgroup --------------------------------------------------------------
 * Found from <proc>/<pid>/cgroup (v2 line "0::/path", v1 line "N:...memory...:/path")
 * and <proc>/self/mountinfo (the cgroup2 mount, or the cgroup mount with the memory
 * controller). The directory is mount point + the path below the mount's root; if that
 * does not exist (cgroup namespaces), the mount point itself. v2 is preferred when its
 * directory has memory files (hybrid systems mount v2 without the memory controller). */
typedef struct fg_cgroup_mem {
    int version;          /* 0: no memory cgroup found (not an error), 1, 2 */
    char dir[512];        /* the cgroup's directory as read (root prefix included) */
    int64_t limit;        /* hard limit: the smallest memory.max / memory.limit_in_bytes of
                           * the cgroup and its ancestors up to the mount; FG_MEM_UNLIMITED
                           * when all are unlimited; -1 when no limit file was found */
    int64_t high;         /* v2 memory.high (reclaim/throttle threshold), same conventions */
    int64_t current;      /* memory.current / memory.usage_in_bytes (includes page cache) */
    int64_t peak;         /* memory.peak / memory.max_usage_in_bytes; -1 if absent */
    int64_t swap_limit;   /* v2 memory.swap.max; v1 memsw.limit_in_bytes - limit_in_bytes */
    int64_t swap_current; /* v2 memory.swap.current; v1 memsw.usage - usage */
} fg_cgroup_mem;
/* pid 0: this process. A malformed limit file is FG_ERR_FORMAT naming the file. */
fg_status fg_probe_cgroup(const fg_probe_roots *roots, int pid, fg_cgroup_mem *out);
/* True when cg holds a real, finite hard limit. */
bool fg_cgroup_has_limit(const fg_cgroup_mem *cg);

/* ---- residency ------------------------------------------------------------------------
 * Bytes of [addr, addr+len) that lie in pages resident in RAM (mincore: for a file
 * mapping this is "in the page cache", whether or not this process touched the page).
 * Needs no allocation. -1 with fg_error set when the range is not mapped. */
int64_t fg_mem_resident_bytes(const void *addr, size_t len);

/* ---- mapped weight files ----------------------------------------------------------------
 * Loaders register each read-only mapping of a weight file here (and do not call
 * fg_mem_account for it): the budget counts a registered mapping at its full size
 * (decoding touches every weight), the breakdown by the pages this process has mapped
 * (the Rss of its VMAs in <proc>/self/smaps), which is what the kernel's RssFile counts.
 * Up to FG_MEM_MAX_MAPPINGS at once; thread-safe. */
#define FG_MEM_MAX_MAPPINGS 64
fg_status fg_mem_map_register(const void *addr, size_t len, const char *name);
void fg_mem_map_unregister(const void *addr);
int64_t fg_mem_mapped_size(void); /* sum of registered lengths */
/* Rss of the registered mappings from <proc>/self/smaps (partially covered VMAs are
 * counted pro rata); sets the weights-mapped tag's counter to it. -1 on error. */
int64_t fg_mem_mapped_rss(const fg_probe_roots *roots);
/* mincore residency summed over the registered mappings. */
int64_t fg_mem_mapped_resident(void);

/* ---- the breakdown ------------------------------------------------------------------------
 * What we account for, next to what the kernel reports; the difference is shown as
 * "unaccounted", never hidden. Anonymous memory is compared with the tagged totals
 * minus weights-mapped; file memory with the mapped weights' Rss. Negative unaccounted
 * means we count bytes the kernel does not (yet) see resident: allocated or committed
 * but never touched. */
typedef struct fg_mem_breakdown {
    int64_t current[FG_MEM_TAG_COUNT], peak[FG_MEM_TAG_COUNT]; /* tagged, per fg_mem_tag */
    int64_t mapped_size;          /* registered mappings, total length */
    int64_t mapped_rss;           /* their pages mapped in this process (smaps) */
    int64_t mapped_resident;      /* their pages in RAM (mincore) */
    int64_t accounted_anon;       /* tagged totals, weights-mapped excluded */
    int64_t accounted_file;       /* = mapped_rss */
    int64_t accounted_total;
    int64_t accounted_peak;       /* the allocator's total high-water mark */
    fg_proc_mem kernel;
    bool have_smaps;
    fg_smaps_rollup smaps;
    int64_t unaccounted_anon;     /* RssAnon + RssShmem - accounted_anon */
    int64_t unaccounted_file;     /* RssFile - accounted_file */
    int64_t unaccounted_total;    /* VmRSS - accounted_total */
    int64_t unaccounted_peak;     /* VmHWM - accounted_peak */
} fg_mem_breakdown;

fg_status fg_mem_breakdown_get(const fg_probe_roots *roots, fg_mem_breakdown *out);
/* A short table (a dozen lines) into buf; returns the length it needs, like snprintf. */
size_t fg_mem_breakdown_format(const fg_mem_breakdown *b, char *buf, size_t size);
/* A cJSON object (caller frees with cJSON_Delete); NULL if out of memory. Layout:
 * {"tags":{"kv":{"current":N,"peak":N},...}, "mapped":{"size","rss","resident"},
 *  "accounted":{"anon","file","total","peak"},
 *  "kernel":{"vm_rss","rss_anon","rss_file","rss_shmem","vm_hwm","vm_swap"},
 *  "smaps_rollup":{"rss","pss","anonymous","swap",...} (when readable),
 *  "unaccounted":{"anon","file","total","peak"}} — all bytes. */
struct cJSON *fg_mem_breakdown_json(const fg_mem_breakdown *b);

/* "1.50 GiB", "12.0 MiB", "512 B", "-3.2 MiB"; returns buf. */
const char *fg_mem_fmt_bytes(int64_t n, char *buf, size_t size);

#endif
