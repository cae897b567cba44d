/* Process and system memory probes: /proc/<pid>/status, smaps_rollup, /proc/meminfo,
 * /proc/swaps, zram devices, and page residency (mincore). Every read goes into a
 * stack buffer: the sampler calls these every few milliseconds and must not allocate. */
#include "mem/probe-impl.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---- roots and small helpers ---------------------------------------------------------- */

static const char *pick_root(const char *given, const char *env, const char *dflt)
{
    if (given) return given;
    const char *e = getenv(env);
    return (e && *e) ? e : dflt;
}

const char *fg_probe_proc_root(const fg_probe_roots *r) { return pick_root(r ? r->proc : NULL, "FG_PROC_ROOT", "/proc"); }
const char *fg_probe_cgroup_root(const fg_probe_roots *r) { return pick_root(r ? r->cgroup : NULL, "FG_CGROUP_ROOT", ""); }
const char *fg_probe_sys_root(const fg_probe_roots *r) { return pick_root(r ? r->sys : NULL, "FG_SYS_ROOT", "/sys"); }

ssize_t fg_probe_read(const char *path, char *buf, size_t size)
{
    if (size == 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = 0;
    while (n < size - 1) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    return (ssize_t)n;
}

int fg_probe_each_line(const char *path, fg_probe_line_fn fn, void *user)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[16384];
    size_t have = 0;
    bool skipping = false; /* inside the tail of an over-long line already passed on */
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        have += (size_t)r;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = 0;
            if (!skipping && !fn(line, user)) goto done;
            skipping = false;
            line = nl + 1;
        }
        size_t rest = have - (size_t)(line - buf);
        if (r == 0) { /* end of file: a last line without a newline */
            if (rest && !skipping) fn(line, user);
            break;
        }
        if (rest > 4095) { /* over-long line: pass its first 4095 bytes, skip the rest */
            line[4095] = 0;
            if (!skipping && !fn(line, user)) goto done;
            skipping = true;
            rest = 0;
        }
        memmove(buf, line, rest);
        have = rest;
    }
done:
    close(fd);
    return 0;
}

int64_t fg_probe_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Parses "  1234 kB" (or "1234"): the value in bytes; false when there is no number. */
static bool parse_value(const char *s, int64_t *out)
{
    while (*s == ' ' || *s == '\t') s++;
    if (!isdigit((unsigned char)*s)) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE) return false;
    while (*end == ' ' || *end == '\t') end++;
    if (end[0] == 'k' && end[1] == 'B') {
        if (v > INT64_MAX / 1024) return false;
        v *= 1024;
    }
    *out = v;
    return true;
}

int fg_probe_parse_fields(const char *text, const fg_probe_field *fields, int n)
{
    int found = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        const char *colon = memchr(line, ':', nl ? (size_t)(nl - line) : strlen(line));
        if (colon) {
            size_t klen = (size_t)(colon - line);
            for (int i = 0; i < n; i++) {
                if (strlen(fields[i].key) == klen && memcmp(fields[i].key, line, klen) == 0) {
                    if (parse_value(colon + 1, fields[i].dst)) found++;
                    break;
                }
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return found;
}

static void pid_path(char *buf, size_t size, const fg_probe_roots *roots, int pid, const char *file)
{
    if (pid > 0)
        snprintf(buf, size, "%s/%d/%s", fg_probe_proc_root(roots), pid, file);
    else
        snprintf(buf, size, "%s/self/%s", fg_probe_proc_root(roots), file);
}

/* ---- /proc/<pid>/status ------------------------------------------------------------------ */

fg_status fg_probe_proc(const fg_probe_roots *roots, int pid, fg_proc_mem *out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_probe_proc: NULL output");
    *out = (fg_proc_mem){-1, -1, -1, -1, -1, -1, -1, -1};
    char path[1024], buf[8192];
    pid_path(path, sizeof path, roots, pid, "status");
    if (fg_probe_read(path, buf, sizeof buf) < 0) return fg_error(FG_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    const fg_probe_field f[] = {
        {"VmRSS", &out->vm_rss},       {"RssAnon", &out->rss_anon}, {"RssFile", &out->rss_file},
        {"RssShmem", &out->rss_shmem}, {"VmHWM", &out->vm_hwm},     {"VmSwap", &out->vm_swap},
        {"VmSize", &out->vm_size},     {"VmLck", &out->vm_lck},
    };
    fg_probe_parse_fields(buf, f, (int)(sizeof f / sizeof f[0]));
    /* Kernel threads and zombies have no Vm* lines. */
    if (out->vm_rss < 0) return fg_error(FG_ERR_FORMAT, "%s has no VmRSS line (kernel thread or exited process?)", path);
    return FG_OK;
}

/* ---- /proc/<pid>/smaps_rollup ------------------------------------------------------------- */

fg_status fg_probe_smaps_rollup(const fg_probe_roots *roots, int pid, fg_smaps_rollup *out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_probe_smaps_rollup: NULL output");
    *out = (fg_smaps_rollup){-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    char path[1024], buf[8192];
    pid_path(path, sizeof path, roots, pid, "smaps_rollup");
    if (fg_probe_read(path, buf, sizeof buf) < 0)
        return fg_error(errno == ENOENT ? FG_ERR_UNSUPPORTED : FG_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    const fg_probe_field f[] = {
        {"Rss", &out->rss},
        {"Pss", &out->pss},
        {"Pss_Anon", &out->pss_anon},
        {"Pss_File", &out->pss_file},
        {"Pss_Shmem", &out->pss_shmem},
        {"Shared_Clean", &out->shared_clean},
        {"Shared_Dirty", &out->shared_dirty},
        {"Private_Clean", &out->private_clean},
        {"Private_Dirty", &out->private_dirty},
        {"Anonymous", &out->anonymous},
        {"AnonHugePages", &out->anon_huge},
        {"FilePmdMapped", &out->file_pmd},
        {"Swap", &out->swap},
        {"SwapPss", &out->swap_pss},
        {"Locked", &out->locked},
    };
    fg_probe_parse_fields(buf, f, (int)(sizeof f / sizeof f[0]));
    if (out->rss < 0) return fg_error(FG_ERR_FORMAT, "%s has no Rss line", path);
    return FG_OK;
}

/* ---- the system ------------------------------------------------------------------------------ */

fg_status fg_probe_meminfo_brief(const fg_probe_roots *roots, int64_t *mem_total, int64_t *mem_available,
                                 int64_t *swap_total, int64_t *swap_free)
{
    int64_t t = -1, a = -1, st = -1, sf = -1;
    char path[1024], buf[8192];
    snprintf(path, sizeof path, "%s/meminfo", fg_probe_proc_root(roots));
    if (fg_probe_read(path, buf, sizeof buf) < 0) return fg_error(FG_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    const fg_probe_field f[] = {{"MemTotal", &t}, {"MemAvailable", &a}, {"SwapTotal", &st}, {"SwapFree", &sf}};
    fg_probe_parse_fields(buf, f, 4);
    if (mem_total) *mem_total = t;
    if (mem_available) *mem_available = a;
    if (swap_total) *swap_total = st;
    if (swap_free) *swap_free = sf;
    if (t < 0) return fg_error(FG_ERR_FORMAT, "%s has no MemTotal line", path);
    return FG_OK;
}

/* /proc/swaps: a header line, then "name type size used priority" (sizes in KiB). */
static void read_swaps(const fg_probe_roots *roots, fg_sys_mem *out)
{
    char path[1024], buf[8192];
    snprintf(path, sizeof path, "%s/swaps", fg_probe_proc_root(roots));
    if (fg_probe_read(path, buf, sizeof buf) < 0) return;
    const char *line = strchr(buf, '\n'); /* skip the header */
    while (line && *++line && out->n_swaps < FG_PROBE_MAX_SWAPS) {
        fg_swap_device *d = &out->swaps[out->n_swaps];
        long long size, used;
        int prio;
        if (sscanf(line, "%63s %15s %lld %lld %d", d->name, d->type, &size, &used, &prio) == 5) {
            d->size = size * 1024;
            d->used = used * 1024;
            d->priority = prio;
            out->n_swaps++;
        }
        line = strchr(line, '\n');
    }
}

static int64_t read_int64_file(const char *path)
{
    char buf[64];
    int64_t v;
    if (fg_probe_read(path, buf, sizeof buf) < 0 || !parse_value(buf, &v)) return -1;
    return v;
}

static int cmp_zram(const void *a, const void *b)
{
    const fg_zram_device *x = a, *y = b;
    return atoi(x->name + 4) - atoi(y->name + 4);
}

/* <sys>/block/zram<N>/mm_stat: orig_data_size compr_data_size mem_used_total mem_limit
 * mem_used_max same_pages pages_compacted huge_pages — the first five in bytes. */
static void read_zram(const fg_probe_roots *roots, fg_sys_mem *out)
{
    char dirpath[1024];
    snprintf(dirpath, sizeof dirpath, "%s/block", fg_probe_sys_root(roots));
    DIR *dir = opendir(dirpath);
    if (!dir) return;
    struct dirent *e;
    while ((e = readdir(dir)) && out->n_zram < FG_PROBE_MAX_ZRAM) {
        if (strncmp(e->d_name, "zram", 4) != 0 || !isdigit((unsigned char)e->d_name[4]) || strlen(e->d_name) >= 16) continue;
        char path[1300], buf[512];
        snprintf(path, sizeof path, "%s/%s/mm_stat", dirpath, e->d_name);
        if (fg_probe_read(path, buf, sizeof buf) < 0) continue;
        fg_zram_device *z = &out->zram[out->n_zram];
        long long v[5];
        if (sscanf(buf, "%lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5) continue;
        memcpy(z->name, e->d_name, strlen(e->d_name) + 1); /* < 16 bytes, checked above */
        z->orig_data_size = v[0];
        z->compr_data_size = v[1];
        z->mem_used_total = v[2];
        z->mem_limit = v[3];
        z->mem_used_max = v[4];
        snprintf(path, sizeof path, "%s/%s/disksize", dirpath, e->d_name);
        z->disksize = read_int64_file(path);
        out->n_zram++;
    }
    closedir(dir);
    qsort(out->zram, (size_t)out->n_zram, sizeof out->zram[0], cmp_zram);
}

fg_status fg_probe_system(const fg_probe_roots *roots, fg_sys_mem *out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_probe_system: NULL output");
    memset(out, 0, sizeof *out);
    out->mem_total = out->mem_free = out->mem_available = out->cached = out->buffers = out->shmem = -1;
    out->swap_total = out->swap_free = out->swap_cached = out->dirty = out->mlocked = out->anon_huge = -1;
    char path[1024], buf[8192];
    snprintf(path, sizeof path, "%s/meminfo", fg_probe_proc_root(roots));
    if (fg_probe_read(path, buf, sizeof buf) < 0) return fg_error(FG_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    const fg_probe_field f[] = {
        {"MemTotal", &out->mem_total},   {"MemFree", &out->mem_free},       {"MemAvailable", &out->mem_available},
        {"Cached", &out->cached},        {"Buffers", &out->buffers},        {"Shmem", &out->shmem},
        {"SwapTotal", &out->swap_total}, {"SwapFree", &out->swap_free},     {"SwapCached", &out->swap_cached},
        {"Dirty", &out->dirty},          {"Mlocked", &out->mlocked},        {"AnonHugePages", &out->anon_huge},
    };
    fg_probe_parse_fields(buf, f, (int)(sizeof f / sizeof f[0]));
    if (out->mem_total < 0) return fg_error(FG_ERR_FORMAT, "%s has no MemTotal line", path);
    read_swaps(roots, out);
    read_zram(roots, out);
    return FG_OK;
}

/* ---- residency --------------------------------------------------------------------------------- */

static size_t page_size(void)
{
    static size_t ps;
    if (!ps) ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

int64_t fg_mem_resident_bytes(const void *addr, size_t len)
{
    if (len == 0) return 0;
    const size_t ps = page_size();
    uintptr_t a = (uintptr_t)addr, end = a + len;
    if (end < a) {
        fg_error(FG_ERR_ARG, "residency: range wraps around");
        return -1;
    }
    uintptr_t p = a & ~(uintptr_t)(ps - 1);
    int64_t total = 0;
    unsigned char vec[4096]; /* 4096 pages (16 MiB with 4 KiB pages) per call */
    while (p < end) {
        size_t pages = (end - p + ps - 1) / ps;
        if (pages > sizeof vec) pages = sizeof vec;
        if (mincore((void *)p, pages * ps, vec) != 0) {
            fg_error(FG_ERR_ARG, "residency of %p+%zu: %s", addr, len, strerror(errno));
            return -1;
        }
        for (size_t i = 0; i < pages; i++, p += ps) {
            if (!(vec[i] & 1)) continue;
            uintptr_t lo = p < a ? a : p, hi = p + ps > end ? end : p + ps;
            total += (int64_t)(hi - lo);
        }
    }
    return total;
}

/* ---- formatting ---------------------------------------------------------------------------------- */

const char *fg_mem_fmt_bytes(int64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n == FG_MEM_UNLIMITED) {
        snprintf(buf, size, "unlimited");
        return buf;
    }
    const char *sign = n < 0 ? "-" : "";
    double v = n < 0 ? -(double)n : (double)n;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%s%.0f B", sign, v);
    else
        snprintf(buf, size, v < 10 ? "%s%.2f %s" : v < 100 ? "%s%.1f %s" : "%s%.0f %s", sign, v, units[u]);
    return buf;
}
