/* Mapped weight files and the breakdown.
 *
 * Loaders register their read-only weight mappings; the budget reads the registered
 * size (cheap, an atomic), the breakdown the pages this process has mapped from them:
 * the "Rss:" of their VMAs in <proc>/self/smaps, the figure the kernel's RssFile sums.
 * mincore would say "in the page cache", which includes pages another process (or an
 * earlier run) left there and this process never touched, so it is reported beside the
 * Rss but not reconciled against RssFile.
 *
 * smaps is a sequence of VMAs, each a header line then "Key: value kB" lines:
 *   7f2a1c000000-7f2a5c000000 r--s 00000000 fd:01 1234  /models/qwen.gguf
 *   Size:            1048576 kB
 *   Rss:              524288 kB
 *   ...                                                                       */
#include "mem/probe-impl.h"

#include <cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uintptr_t addr;
    size_t len;
    char name[48];
} mapping;

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static mapping maps[FG_MEM_MAX_MAPPINGS];
static int n_maps;
static _Atomic int64_t mapped_total;
static int64_t mapped_counted; /* what the weights-mapped counter holds from us (under map_lock) */

fg_status fg_mem_map_register(const void *addr, size_t len, const char *name)
{
    if (!addr || len == 0) return fg_error(FG_ERR_ARG, "fg_mem_map_register: empty mapping");
    pthread_mutex_lock(&map_lock);
    if (n_maps == FG_MEM_MAX_MAPPINGS) {
        pthread_mutex_unlock(&map_lock);
        return fg_error(FG_ERR_NOMEM, "more than %d weight mappings registered", FG_MEM_MAX_MAPPINGS);
    }
    mapping *m = &maps[n_maps++];
    m->addr = (uintptr_t)addr;
    m->len = len;
    snprintf(m->name, sizeof m->name, "%s", name ? name : "");
    atomic_fetch_add(&mapped_total, (int64_t)len);
    pthread_mutex_unlock(&map_lock);
    return FG_OK;
}

void fg_mem_map_unregister(const void *addr)
{
    pthread_mutex_lock(&map_lock);
    for (int i = 0; i < n_maps; i++) {
        if (maps[i].addr != (uintptr_t)addr) continue;
        atomic_fetch_sub(&mapped_total, (int64_t)maps[i].len);
        maps[i] = maps[--n_maps];
        break;
    }
    if (n_maps == 0 && mapped_counted) { /* nothing mapped: nothing resident to count */
        fg_mem_account(FG_MEM_WEIGHTS_MAPPED, -mapped_counted);
        mapped_counted = 0;
    }
    pthread_mutex_unlock(&map_lock);
}

int64_t fg_mem_mapped_size(void) { return atomic_load_explicit(&mapped_total, memory_order_relaxed); }

int64_t fg_mem_mapped_resident(void)
{
    pthread_mutex_lock(&map_lock);
    int64_t total = 0;
    for (int i = 0; i < n_maps; i++) {
        int64_t r = fg_mem_resident_bytes((const void *)maps[i].addr, maps[i].len);
        if (r > 0) total += r;
    }
    pthread_mutex_unlock(&map_lock);
    return total;
}

typedef struct {
    const mapping *ranges;
    int n;
    uintptr_t vma_start, vma_end; /* current VMA */
    int64_t rss;
} smaps_walk;

static bool on_smaps_line(char *line, void *user)
{
    smaps_walk *w = user;
    char c = line[0];
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) { /* a VMA header */
        unsigned long long s, e;
        if (sscanf(line, "%llx-%llx", &s, &e) == 2) {
            w->vma_start = (uintptr_t)s;
            w->vma_end = (uintptr_t)e;
        } else {
            w->vma_start = w->vma_end = 0;
        }
        return true;
    }
    if (strncmp(line, "Rss:", 4) != 0 || w->vma_end <= w->vma_start) return true;
    int64_t rss = 0;
    const fg_probe_field f = {"Rss", &rss};
    if (fg_probe_parse_fields(line, &f, 1) != 1 || rss == 0) return true;
    uint64_t vsize = w->vma_end - w->vma_start;
    for (int i = 0; i < w->n; i++) {
        uintptr_t lo = w->ranges[i].addr, hi = lo + w->ranges[i].len;
        if (lo < w->vma_start) lo = w->vma_start;
        if (hi > w->vma_end) hi = w->vma_end;
        if (hi <= lo) continue;
        /* a VMA wholly inside a registered range counts exactly; a partial one pro rata */
        w->rss += (hi - lo == vsize) ? rss : (int64_t)((double)rss * (double)(hi - lo) / (double)vsize);
    }
    return true;
}

int64_t fg_mem_mapped_rss(const fg_probe_roots *roots)
{
    pthread_mutex_lock(&map_lock);
    mapping snap[FG_MEM_MAX_MAPPINGS];
    int n = n_maps;
    memcpy(snap, maps, sizeof snap[0] * (size_t)n);
    int64_t rss = 0;
    if (n > 0) {
        char path[1024];
        snprintf(path, sizeof path, "%s/self/smaps", fg_probe_proc_root(roots));
        smaps_walk w = {.ranges = snap, .n = n};
        if (fg_probe_each_line(path, on_smaps_line, &w) != 0) {
            fg_error(FG_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            pthread_mutex_unlock(&map_lock);
            return -1;
        }
        rss = w.rss;
    }
    fg_mem_account(FG_MEM_WEIGHTS_MAPPED, rss - mapped_counted);
    mapped_counted = rss;
    pthread_mutex_unlock(&map_lock);
    return rss;
}

/* ---- the breakdown ------------------------------------------------------------------------- */

fg_status fg_mem_breakdown_get(const fg_probe_roots *roots, fg_mem_breakdown *out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_mem_breakdown_get: NULL output");
    memset(out, 0, sizeof *out);
    out->mapped_size = fg_mem_mapped_size();
    out->mapped_rss = fg_mem_mapped_rss(roots);
    if (out->mapped_rss < 0) return FG_ERR_IO;
    out->mapped_resident = fg_mem_mapped_resident();
    fg_mem_stats st;
    fg_mem_get_stats(&st);
    fg_status s = fg_probe_proc(roots, 0, &out->kernel);
    if (s != FG_OK) return s;
    out->have_smaps = fg_probe_smaps_rollup(roots, 0, &out->smaps) == FG_OK;
    for (int i = 0; i < FG_MEM_TAG_COUNT; i++) {
        out->current[i] = st.current[i];
        out->peak[i] = st.peak[i];
    }
    out->accounted_file = st.current[FG_MEM_WEIGHTS_MAPPED];
    out->accounted_anon = st.total_current - out->accounted_file;
    out->accounted_total = st.total_current;
    out->accounted_peak = st.total_peak;
    const fg_proc_mem *k = &out->kernel;
    int64_t anon = k->rss_anon >= 0 ? k->rss_anon + (k->rss_shmem > 0 ? k->rss_shmem : 0) : k->vm_rss;
    int64_t file = k->rss_file >= 0 ? k->rss_file : 0; /* before Linux 4.5 all of VmRSS lands in anon */
    out->unaccounted_anon = anon - out->accounted_anon;
    out->unaccounted_file = file - out->accounted_file;
    out->unaccounted_total = k->vm_rss - out->accounted_total;
    out->unaccounted_peak = k->vm_hwm >= 0 ? k->vm_hwm - out->accounted_peak : 0;
    return FG_OK;
}

typedef struct {
    char *buf;
    size_t size, len;
} appender;

static void __attribute__((format(printf, 2, 3))) app(appender *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = a->len < a->size ? a->size - a->len : 0;
    int n = vsnprintf(room ? a->buf + a->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) a->len += (size_t)n;
}

size_t fg_mem_breakdown_format(const fg_mem_breakdown *b, char *buf, size_t size)
{
    appender a = {buf, size, 0};
    if (buf && size) buf[0] = 0;
    char x[32], y[32], z[32], u[32], v[32], w[32];
    app(&a, "%-16s %12s %12s\n", "memory", "current", "peak");
    for (int i = 0; i < FG_MEM_TAG_COUNT; i++) {
        app(&a, "  %-14s %12s %12s", fg_mem_tag_name((fg_mem_tag)i), fg_mem_fmt_bytes(b->current[i], x, sizeof x),
            fg_mem_fmt_bytes(b->peak[i], y, sizeof y));
        if (i == FG_MEM_WEIGHTS_MAPPED && b->mapped_size > 0)
            app(&a, "   (of %s mapped; %s in RAM)", fg_mem_fmt_bytes(b->mapped_size, z, sizeof z),
                fg_mem_fmt_bytes(b->mapped_resident, u, sizeof u));
        app(&a, "\n");
    }
    app(&a, "  %-14s %12s %12s\n", "accounted", fg_mem_fmt_bytes(b->accounted_total, x, sizeof x),
        fg_mem_fmt_bytes(b->accounted_peak, y, sizeof y));
    const fg_proc_mem *k = &b->kernel;
    app(&a, "kernel: RssAnon %s, RssFile %s, RssShmem %s, VmRSS %s, VmHWM %s, VmSwap %s\n",
        fg_mem_fmt_bytes(k->rss_anon, x, sizeof x), fg_mem_fmt_bytes(k->rss_file, y, sizeof y),
        fg_mem_fmt_bytes(k->rss_shmem, z, sizeof z), fg_mem_fmt_bytes(k->vm_rss, u, sizeof u),
        fg_mem_fmt_bytes(k->vm_hwm, v, sizeof v), fg_mem_fmt_bytes(k->vm_swap, w, sizeof w));
    app(&a, "unaccounted: anon %s, file %s, total %s; at peak %s\n", fg_mem_fmt_bytes(b->unaccounted_anon, x, sizeof x),
        fg_mem_fmt_bytes(b->unaccounted_file, y, sizeof y), fg_mem_fmt_bytes(b->unaccounted_total, z, sizeof z),
        fg_mem_fmt_bytes(b->unaccounted_peak, u, sizeof u));
    return a.len;
}

static void num(cJSON *o, const char *key, int64_t v, bool *ok)
{
    if (!cJSON_AddNumberToObject(o, key, (double)v)) *ok = false;
}

static cJSON *child(cJSON *o, const char *key, bool *ok)
{
    cJSON *c = cJSON_AddObjectToObject(o, key);
    if (!c) *ok = false;
    return c;
}

cJSON *fg_mem_breakdown_json(const fg_mem_breakdown *b)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    bool ok = true;
    cJSON *tags = child(root, "tags", &ok);
    for (int i = 0; ok && i < FG_MEM_TAG_COUNT; i++) {
        cJSON *t = child(tags, fg_mem_tag_name((fg_mem_tag)i), &ok);
        if (!ok) break;
        num(t, "current", b->current[i], &ok);
        num(t, "peak", b->peak[i], &ok);
    }
    cJSON *o;
    if (ok && (o = child(root, "mapped", &ok))) {
        num(o, "size", b->mapped_size, &ok);
        num(o, "rss", b->mapped_rss, &ok);
        num(o, "resident", b->mapped_resident, &ok);
    }
    if (ok && (o = child(root, "accounted", &ok))) {
        num(o, "anon", b->accounted_anon, &ok);
        num(o, "file", b->accounted_file, &ok);
        num(o, "total", b->accounted_total, &ok);
        num(o, "peak", b->accounted_peak, &ok);
    }
    if (ok && (o = child(root, "kernel", &ok))) {
        num(o, "vm_rss", b->kernel.vm_rss, &ok);
        num(o, "rss_anon", b->kernel.rss_anon, &ok);
        num(o, "rss_file", b->kernel.rss_file, &ok);
        num(o, "rss_shmem", b->kernel.rss_shmem, &ok);
        num(o, "vm_hwm", b->kernel.vm_hwm, &ok);
        num(o, "vm_swap", b->kernel.vm_swap, &ok);
    }
    if (ok && b->have_smaps && (o = child(root, "smaps_rollup", &ok))) {
        const fg_smaps_rollup *s = &b->smaps;
        num(o, "rss", s->rss, &ok);
        num(o, "pss", s->pss, &ok);
        num(o, "pss_anon", s->pss_anon, &ok);
        num(o, "pss_file", s->pss_file, &ok);
        num(o, "private_dirty", s->private_dirty, &ok);
        num(o, "anonymous", s->anonymous, &ok);
        num(o, "anon_huge", s->anon_huge, &ok);
        num(o, "file_pmd", s->file_pmd, &ok);
        num(o, "swap", s->swap, &ok);
        num(o, "locked", s->locked, &ok);
    }
    if (ok && (o = child(root, "unaccounted", &ok))) {
        num(o, "anon", b->unaccounted_anon, &ok);
        num(o, "file", b->unaccounted_file, &ok);
        num(o, "total", b->unaccounted_total, &ok);
        num(o, "peak", b->unaccounted_peak, &ok);
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
