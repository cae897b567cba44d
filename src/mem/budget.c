/* The memory budget: the limit's resolution and the cheap check growth calls before
 * committing memory. See budget.h for the definition of "in use". */
#include "mem/budget.h"

#include "mem/probe-impl.h"

#include <cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MIB ((int64_t)1 << 20)

struct fg_budget {
    pthread_mutex_t lock;
    char proc_root[512], cgroup_root[512], sys_root[512];
    fg_probe_roots roots;      /* points into the copies above */
    int64_t refresh_us;
    fg_budget_info info;       /* limit, basis, source... fixed after creation */
    int64_t extra;             /* kernel-seen bytes we do not account for, at the last refresh */
    bool watch_cgroup;         /* the cgroup had a limit at creation: read its usage too */
    int64_t live_free;         /* memory free for growth now (MemAvailable, cgroup limit -
                                * usage: the smaller), -1 when unknown; at the last refresh */
    int64_t last_refresh_us;
};

const char *fg_budget_source_name(fg_budget_source s)
{
    switch (s) {
    case FG_BUDGET_GIVEN: return "given";
    case FG_BUDGET_CGROUP: return "cgroup";
    case FG_BUDGET_AVAILABLE: return "available";
    }
    return "?";
}

fg_budget_params fg_budget_default_params(void)
{
    fg_budget_params p;
    memset(&p, 0, sizeof p);
    p.limit = 0;
    p.margin = -1;
    p.refresh_ms = 100;
    return p;
}

/* Tagged bytes outside the weight mappings: what fg_malloc and regions hold. */
static int64_t tagged_anon(void)
{
    fg_mem_stats st;
    fg_mem_get_stats(&st);
    return st.total_current - st.current[FG_MEM_WEIGHTS_MAPPED];
}

static int64_t used_estimate(const fg_budget *b) { return tagged_anon() + fg_mem_mapped_size() + b->extra; }

/* Re-reads /proc/<self>/status; caller holds the lock (or owns b exclusively). */
static fg_status refresh_locked(fg_budget *b)
{
    fg_proc_mem k;
    fg_status s = fg_probe_proc(&b->roots, 0, &k);
    b->last_refresh_us = fg_probe_now_us();
    if (s != FG_OK) return s;
    int64_t anon = k.rss_anon >= 0 ? k.rss_anon + (k.rss_shmem > 0 ? k.rss_shmem : 0) : k.vm_rss;
    int64_t file = k.rss_file >= 0 ? k.rss_file : 0;
    int64_t extra_anon = anon - tagged_anon();
    int64_t extra_file = file - fg_mem_mapped_size();
    b->extra = (extra_anon > 0 ? extra_anon : 0) + (extra_file > 0 ? extra_file : 0);
    /* What other processes leave us now: the limit above is fixed when the budget is
     * made, but a process started later can take the memory it assumed free. */
    b->live_free = -1;
    int64_t avail = -1;
    if (fg_probe_meminfo_brief(&b->roots, NULL, &avail, NULL, NULL) == FG_OK && avail >= 0) b->live_free = avail;
    fg_cgroup_mem cg;
    if (b->watch_cgroup && fg_probe_cgroup(&b->roots, 0, &cg) == FG_OK && fg_cgroup_has_limit(&cg) && cg.current >= 0) {
        int64_t f = cg.limit > cg.current ? cg.limit - cg.current : 0;
        if (b->live_free < 0 || f < b->live_free) b->live_free = f;
    }
    b->info.refreshes++;
    return FG_OK;
}

static void copy_root(char *dst, size_t size, const char **field, const char *src)
{
    if (src) {
        snprintf(dst, size, "%s", src);
        *field = dst;
    } else {
        *field = NULL;
    }
}

fg_status fg_budget_create(const fg_budget_params *params, fg_budget **out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_budget_create: NULL output");
    *out = NULL;
    fg_budget_params p = params ? *params : fg_budget_default_params();
    if (p.limit < 0) return fg_error(FG_ERR_ARG, "memory limit must not be negative");
    if (p.refresh_ms < 0) return fg_error(FG_ERR_ARG, "budget refresh interval must not be negative");

    fg_budget *b = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *b);
    if (!b) return fg_error(FG_ERR_NOMEM, "cannot allocate the memory budget");
    pthread_mutex_init(&b->lock, NULL);
    copy_root(b->proc_root, sizeof b->proc_root, &b->roots.proc, p.roots.proc);
    copy_root(b->cgroup_root, sizeof b->cgroup_root, &b->roots.cgroup, p.roots.cgroup);
    copy_root(b->sys_root, sizeof b->sys_root, &b->roots.sys, p.roots.sys);
    b->refresh_us = (int64_t)p.refresh_ms * 1000;

    fg_budget_info *in = &b->info;
    in->cgroup_limit = -1;
    in->available = -1;
    fg_status s;
    fg_proc_mem k;
    if ((s = fg_probe_proc(&b->roots, 0, &k)) != FG_OK) goto fail;
    int64_t avail = -1;
    if (fg_probe_meminfo_brief(&b->roots, NULL, &avail, NULL, NULL) == FG_OK && avail >= 0)
        in->available = avail + k.vm_rss;
    fg_cgroup_mem cg;
    s = fg_probe_cgroup(&b->roots, 0, &cg);
    if (s == FG_OK) {
        in->cgroup_limit = cg.limit;
        b->watch_cgroup = fg_cgroup_has_limit(&cg);
    }
    else if (p.limit == 0)
        goto fail; /* detecting, and the cgroup's files are malformed: say so */

    char x[32], y[32], z[32];
    if (p.limit > 0) {
        in->source = FG_BUDGET_GIVEN;
        in->basis = p.limit;
    } else if (fg_cgroup_has_limit(&cg) && (in->available < 0 || cg.limit <= in->available)) {
        in->source = FG_BUDGET_CGROUP;
        in->basis = cg.limit;
    } else if (in->available >= 0) {
        in->source = FG_BUDGET_AVAILABLE;
        in->basis = in->available;
    } else {
        s = fg_error(FG_ERR_UNSUPPORTED, "cannot determine a memory limit: no cgroup limit and no MemAvailable; give one (--mem-limit)");
        goto fail;
    }
    in->margin = p.margin >= 0 ? p.margin : (in->basis / 20 > 64 * MIB ? in->basis / 20 : 64 * MIB);
    in->limit = in->basis > in->margin ? in->basis - in->margin : 0;
    fg_mem_fmt_bytes(in->basis, x, sizeof x);
    fg_mem_fmt_bytes(in->margin, y, sizeof y);
    switch (in->source) {
    case FG_BUDGET_GIVEN: snprintf(in->describe, sizeof in->describe, "given %s - %s margin", x, y); break;
    case FG_BUDGET_CGROUP:
        snprintf(in->describe, sizeof in->describe, "cgroup v%d limit %s - %s margin", cg.version, x, y);
        break;
    case FG_BUDGET_AVAILABLE:
        snprintf(in->describe, sizeof in->describe, "MemAvailable + own RSS %s - %s margin%s%s", x, y,
                 fg_cgroup_has_limit(&cg) ? "; cgroup limit " : "",
                 fg_cgroup_has_limit(&cg) ? fg_mem_fmt_bytes(cg.limit, z, sizeof z) : "");
        break;
    }
    if ((s = refresh_locked(b)) != FG_OK) goto fail;
    *out = b;
    return FG_OK;
fail:
    pthread_mutex_destroy(&b->lock);
    fg_free(b);
    return s;
}

void fg_budget_free(fg_budget *b)
{
    if (!b) return;
    pthread_mutex_destroy(&b->lock);
    fg_free(b);
}

fg_status fg_budget_refresh(fg_budget *b)
{
    if (!b) return FG_OK;
    pthread_mutex_lock(&b->lock);
    fg_status s = refresh_locked(b);
    pthread_mutex_unlock(&b->lock);
    return s;
}

/* Growth must also leave this much of what is free right now (MemAvailable, or the
 * cgroup's limit minus its usage): below it the kernel reclaims our weights' pages and
 * then kills. */
#define LIVE_RESERVE (32 * MIB)

static bool fits_limit(const fg_budget *b, int64_t bytes, int64_t *used)
{
    *used = used_estimate(b);
    return *used <= b->info.limit && bytes <= b->info.limit - *used;
}

static bool fits_live(const fg_budget *b, int64_t bytes) { return b->live_free < 0 || bytes <= b->live_free - LIVE_RESERVE; }

fg_status fg_budget_check(fg_budget *b, int64_t bytes, const char *what)
{
    if (!b || bytes <= 0) return FG_OK;
    pthread_mutex_lock(&b->lock);
    bool fresh = false;
    if (fg_probe_now_us() - b->last_refresh_us >= b->refresh_us) fresh = refresh_locked(b) == FG_OK;
    int64_t used;
    bool in_limit = fits_limit(b, bytes, &used), live = fits_live(b, bytes);
    /* Refuse only on fresh figures: memory freed since the last reading may make room. */
    if ((!in_limit || !live) && !fresh && refresh_locked(b) == FG_OK) {
        in_limit = fits_limit(b, bytes, &used);
        live = fits_live(b, bytes);
    }
    if (in_limit && live) {
        pthread_mutex_unlock(&b->lock);
        return FG_OK;
    }
    b->info.refusals++;
    char x[32], y[32], z[32];
    fg_status s;
    if (!in_limit)
        s = fg_error(FG_ERR_BUDGET, "%s of %s would exceed the memory budget: %s in use, limit %s (%s)",
                     what ? what : "growth", fg_mem_fmt_bytes(bytes, x, sizeof x), fg_mem_fmt_bytes(used, y, sizeof y),
                     fg_mem_fmt_bytes(b->info.limit, z, sizeof z), b->info.describe);
    else
        s = fg_error(FG_ERR_BUDGET,
                     "%s of %s would exceed the memory budget: only %s is free now (other processes took the rest), "
                     "%s kept in reserve",
                     what ? what : "growth", fg_mem_fmt_bytes(bytes, x, sizeof x),
                     fg_mem_fmt_bytes(b->live_free, y, sizeof y), fg_mem_fmt_bytes(LIVE_RESERVE, z, sizeof z));
    pthread_mutex_unlock(&b->lock);
    return s;
}

void fg_budget_get_info(fg_budget *b, fg_budget_info *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!b) {
        out->limit = out->basis = out->cgroup_limit = out->available = -1;
        return;
    }
    pthread_mutex_lock(&b->lock);
    *out = b->info;
    out->used = used_estimate(b);
    out->headroom = out->limit - out->used;
    pthread_mutex_unlock(&b->lock);
}

int64_t fg_budget_limit(const fg_budget *b) { return b ? b->info.limit : -1; }

cJSON *fg_budget_json(fg_budget *b)
{
    fg_budget_info in;
    fg_budget_get_info(b, &in);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    bool ok = cJSON_AddStringToObject(o, "source", b ? fg_budget_source_name(in.source) : "none") != NULL;
    const struct {
        const char *k;
        int64_t v;
    } nums[] = {
        {"limit", in.limit},     {"basis", in.basis},       {"margin", in.margin},     {"cgroup_limit", in.cgroup_limit},
        {"available", in.available}, {"used", in.used},     {"headroom", in.headroom}, {"refusals", in.refusals},
    };
    for (size_t i = 0; ok && i < sizeof nums / sizeof nums[0]; i++)
        ok = cJSON_AddNumberToObject(o, nums[i].k, nums[i].v == FG_MEM_UNLIMITED ? -1.0 : (double)nums[i].v) != NULL;
    if (ok) ok = cJSON_AddStringToObject(o, "describe", in.describe) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
