/* mem/budget: a memory limit for this process and the check that growth calls before
 * committing memory (the KV cache once per page commit; any other growth likewise).
 *
 * The limit, in this order of choice:
 *   1. given (--mem-limit),
 *   2. else the smaller of the memory cgroup's hard limit (fg_probe_cgroup) and what the
 *      machine can give us: MemAvailable at creation + this process's VmRSS then
 *      (a cgroup limit above the free RAM protects nothing),
 *   3. else MemAvailable at creation + VmRSS,
 * minus a safety margin (default max(64 MiB, 5% of that figure); the margin applies to
 * a given limit too, so that what "fits" keeps headroom for what we cannot account).
 *
 * What is "in use", cheap enough to check per KV page commit:
 *   used = tagged allocations now (fg_malloc, regions; weights-mapped excluded)
 *        + registered weight mappings at their full size (decoding touches every weight;
 *          counted before they are resident)
 *        + what the kernel saw that we do not account for, measured at the last refresh:
 *          max(0, RssAnon + RssShmem - tagged anon) + max(0, RssFile - mapped size)
 * The fast path reads a few atomics and the clock; the kernel's figures are re-read when
 * the last refresh is older than refresh_ms, and always before refusing (a refusal is
 * decided on fresh figures). Allocated-but-untouched memory counts (it will be touched). */
/* mem.h is included first (outside the guard): it includes probe.h, budget.h and
 * timeline.h in dependency order, whichever of them a file names first. */
#include "mem/mem.h"

#ifndef FG_MEM_BUDGET_H
#define FG_MEM_BUDGET_H

typedef enum fg_budget_source {
    FG_BUDGET_GIVEN = 0,
    FG_BUDGET_CGROUP,
    FG_BUDGET_AVAILABLE,
} fg_budget_source;

const char *fg_budget_source_name(fg_budget_source s); /* "given", "cgroup", "available" */

typedef struct fg_budget_params {
    int64_t limit;        /* > 0: the given limit in bytes; 0: detect */
    int64_t margin;       /* bytes kept free; < 0: default max(64 MiB, 5% of the limit) */
    int refresh_ms;       /* re-read the kernel's figures at least this often; default 100 */
    fg_probe_roots roots; /* zeros: environment/defaults */
} fg_budget_params;

typedef struct fg_budget fg_budget;

fg_budget_params fg_budget_default_params(void);
/* Resolves the limit (reads the cgroup and /proc/meminfo) and takes a first reading. */
fg_status fg_budget_create(const fg_budget_params *params, fg_budget **out);
void fg_budget_free(fg_budget *b);

/* FG_OK when `bytes` more fit under the limit; FG_ERR_BUDGET with a one-line message
 * naming `what` (may be NULL), the figures and the limit's source otherwise. b == NULL
 * (no budget) always fits. Thread-safe. */
fg_status fg_budget_check(fg_budget *b, int64_t bytes, const char *what);
/* Re-reads the kernel's figures now. */
fg_status fg_budget_refresh(fg_budget *b);

typedef struct fg_budget_info {
    fg_budget_source source;
    int64_t limit;         /* what checks compare against: basis - margin (>= 0) */
    int64_t basis;         /* the given / cgroup / available figure before the margin */
    int64_t margin;
    int64_t cgroup_limit;  /* the cgroup's hard limit (-1 / FG_MEM_UNLIMITED if none) */
    int64_t available;     /* MemAvailable + VmRSS at creation (-1 if unknown) */
    int64_t used;          /* current estimate (see above) */
    int64_t headroom;      /* limit - used (may be negative) */
    int64_t refreshes;     /* kernel re-reads so far */
    int64_t refusals;
    char describe[160];    /* e.g. "cgroup memory.max 3.00 GiB - 154 MiB margin" */
} fg_budget_info;
void fg_budget_get_info(fg_budget *b, fg_budget_info *out);
/* The limit in bytes (-1 for a NULL budget). */
int64_t fg_budget_limit(const fg_budget *b);
/* {"source":"cgroup","limit":N,"basis":N,"margin":N,"cgroup_limit":N,"available":N,
 *  "used":N,"headroom":N,"refusals":N,"describe":"..."} (bytes; -1 for "none", an
 *  unlimited cgroup included); NULL if out of memory. */
struct cJSON *fg_budget_json(fg_budget *b);

#endif
