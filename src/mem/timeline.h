/* mem/timeline: a sampler thread recording a process's memory every few milliseconds,
 * with phase markers ("load", "prefill", "decode", ...), in bounded memory.
 *
 * Samples go into an array allocated at creation (capacity samples). When it is full,
 * it is halved by keeping, of each pair of neighbours, the one with the larger RSS
 * (anon + file), and from then on a sample is recorded every 2^k ticks, the one with
 * the largest RSS of those 2^k ticks: resolution halves, peaks are never lost, and an
 * hours-long run takes the same memory as a short one. Marks are a ring (the oldest
 * are dropped when full; the count of dropped marks is kept). */
/* mem.h is included first (outside the guard): it includes probe.h, budget.h and
 * timeline.h in dependency order, whichever of them a file names first. */
#include "mem/mem.h"

#ifndef FG_MEM_TIMELINE_H
#define FG_MEM_TIMELINE_H

typedef struct fg_mem_sample {
    int64_t t_us;          /* microseconds since the timeline was created */
    int64_t rss_anon;      /* RssAnon (+ RssShmem) of the sampled process */
    int64_t rss_file;      /* RssFile */
    int64_t vm_swap;       /* VmSwap: the process's pages in swap */
    int64_t accounted;     /* tagged allocator total (sampling this process); -1 otherwise */
    int64_t budget;        /* the budget's limit; -1 without a budget */
    int64_t mem_available; /* system MemAvailable */
    int64_t swap_used;     /* system SwapTotal - SwapFree */
} fg_mem_sample;

typedef struct fg_mem_mark {
    int64_t t_us;
    char phase[32];
    int64_t rss_anon, rss_file; /* at the moment of the mark */
} fg_mem_mark;

typedef struct fg_timeline_params {
    int interval_ms;          /* base sampling interval; default 10 */
    int capacity;             /* samples kept (>= 16, rounded up to even); default 4096 */
    int max_marks;            /* default 256 */
    int pid;                  /* 0: this process; else /proc/<pid>/status (the suite's children) */
    fg_budget *budget;        /* optional: its limit goes into each sample; not owned */
    fg_probe_roots roots;     /* where /proc is (tests); zeros: environment/defaults */
} fg_timeline_params;

typedef struct fg_timeline fg_timeline;

fg_timeline_params fg_timeline_default_params(void);
/* Allocates everything the timeline will ever use (capacity * 64 bytes + marks). */
fg_status fg_timeline_create(const fg_timeline_params *params, fg_timeline **out);
/* Stops the thread if running. NULL is a no-op. */
void fg_timeline_free(fg_timeline *tl);

/* Starts/stops the sampler thread (start when running: FG_ERR_ARG). Stop returns after
 * the thread has joined; it records one last sample. Samples are kept across stop/start. */
fg_status fg_timeline_start(fg_timeline *tl);
void fg_timeline_stop(fg_timeline *tl);
/* One tick by hand (what the thread does every interval); useful without the thread. */
fg_status fg_timeline_tick(fg_timeline *tl);
/* A phase marker at the current time, with the process's RSS at that moment. The name
 * is truncated to 31 bytes. Thread-safe; cheap (one read of /proc/<pid>/status). */
fg_status fg_timeline_mark(fg_timeline *tl, const char *phase);

typedef struct fg_timeline_info {
    int64_t n_samples;        /* samples held now */
    int64_t capacity;
    int64_t ticks;            /* ticks taken so far (including those merged away) */
    int64_t failed_ticks;     /* ticks whose /proc read failed (e.g. the process exited) */
    int stride;               /* ticks per recorded sample: 2^(downsamplings) */
    int downsamplings;
    int64_t n_marks, marks_dropped;
    int64_t interval_us;      /* base interval */
    bool running;
    int64_t peak_rss;         /* largest rss_anon + rss_file seen in any tick */
} fg_timeline_info;
void fg_timeline_get_info(fg_timeline *tl, fg_timeline_info *out);

/* Copies the most recent samples with t_us >= (latest t_us - window_us) (window_us <= 0:
 * all), at most max, oldest first; returns how many were copied. For the server's
 * memory panel. */
size_t fg_timeline_recent(fg_timeline *tl, int64_t window_us, fg_mem_sample *out, size_t max);
/* Copies up to max marks, oldest first; returns how many. */
size_t fg_timeline_marks(fg_timeline *tl, fg_mem_mark *out, size_t max);

/* The whole timeline as JSON (caller frees with cJSON_Delete; NULL if out of memory):
 *   {"pid":0, "interval_ms":10, "stride":1, "downsamplings":0, "ticks":N,
 *    "failed_ticks":0, "peak_rss":N, "start_unix_ms":N,
 *    "columns":["t_ms","rss_anon","rss_file","vm_swap","accounted","budget",
 *               "mem_available","swap_used"],
 *    "samples":[[t_ms, bytes...], ...],
 *    "marks":[{"t_ms":N,"phase":"load","rss_anon":N,"rss_file":N}, ...],
 *    "marks_dropped":0,
 *    "budget":{...fg_budget_json...}            (when the timeline has a budget),
 *    "breakdown":{...fg_mem_breakdown_json...}  (when `breakdown` is not NULL)}
 * t_ms is a number with microsecond precision. */
struct cJSON *fg_timeline_json(fg_timeline *tl, const fg_mem_breakdown *breakdown);
/* Writes fg_timeline_json to path, with a fresh breakdown when the timeline samples this
 * process (the `--memory-report FILE` output). */
fg_status fg_timeline_write_json(fg_timeline *tl, const char *path);

#endif
