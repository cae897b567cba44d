/* The memory cgroup of a process and its limit, for cgroup v2 and v1.
 *
 * <proc>/<pid>/cgroup lines are "hierarchy-id:controllers:path":
 *   v2:  "0::/user.slice/app.service"
 *   v1:  "4:memory:/docker/0123abcd" (controllers comma-separated)
 * <proc>/<pid>/mountinfo lines are
 *   "id parent maj:min root mount-point options [optional...] - fstype source superopts"
 * with root and mount point octal-escaped ("\040" for a space). A cgroup's directory is
 * the mount point followed by the process's path below the mount's root.
 *
 * Files read, v2: memory.max, memory.high, memory.current, memory.peak,
 * memory.swap.max, memory.swap.current ("max" = unlimited).
 * v1: memory.limit_in_bytes, memory.usage_in_bytes, memory.max_usage_in_bytes,
 * memory.memsw.limit_in_bytes, memory.memsw.usage_in_bytes (unlimited reads as
 * PAGE_COUNTER_MAX * page size, 0x7ffffffffffff000 with 4 KiB pages).
 * A cgroup is also bound by its ancestors' limits, so limits are the minimum over the
 * directory and its parents up to the mount point. */
#include "mem/probe-impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* v1 reports "no limit" as a huge page-aligned number; anything this large is no limit. */
#define V1_UNLIMITED_FROM ((int64_t)1 << 62)

typedef struct {
    char v2_path[512];
    char v1_path[512];
    bool has_v2, has_v1;
} proc_cgroups;

static bool on_cgroup_line(char *line, void *user)
{
    proc_cgroups *pc = user;
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) return true;
    *c1 = 0;
    *c2 = 0;
    const char *id = line, *controllers = c1 + 1, *path = c2 + 1;
    if (strcmp(id, "0") == 0 && *controllers == 0) {
        if (!pc->has_v2) snprintf(pc->v2_path, sizeof pc->v2_path, "%s", path);
        pc->has_v2 = true;
        return true;
    }
    /* controllers is a comma list: look for the token "memory" */
    for (const char *t = controllers; *t;) {
        size_t n = strcspn(t, ",");
        if (n == 6 && memcmp(t, "memory", 6) == 0) {
            snprintf(pc->v1_path, sizeof pc->v1_path, "%s", path);
            pc->has_v1 = true;
            break;
        }
        t += n;
        if (*t == ',') t++;
    }
    return true;
}

/* In-place decoding of mountinfo's octal escapes (\040 space, \011 tab, \012, \134). */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

typedef struct {
    char root[512], mount[512];
    bool found;
} cg_mount;

typedef struct {
    cg_mount v2, v1;
} cg_mounts;

static bool has_token(const char *list, const char *tok)
{
    size_t tl = strlen(tok);
    for (const char *t = list; *t;) {
        size_t n = strcspn(t, ",");
        if (n == tl && memcmp(t, tok, n) == 0) return true;
        t += n;
        if (*t == ',') t++;
    }
    return false;
}

static bool on_mount_line(char *line, void *user)
{
    cg_mounts *m = user;
    char *tok[64];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, " ", &save); t && n < 64; t = strtok_r(NULL, " ", &save)) tok[n++] = t;
    int dash = -1;
    for (int i = 6; i < n; i++)
        if (strcmp(tok[i], "-") == 0) {
            dash = i;
            break;
        }
    if (dash < 0 || dash + 1 >= n) return true;
    const char *fstype = tok[dash + 1];
    const char *superopts = dash + 3 < n ? tok[dash + 3] : "";
    cg_mount *target = NULL;
    if (strcmp(fstype, "cgroup2") == 0)
        target = &m->v2;
    else if (strcmp(fstype, "cgroup") == 0 && has_token(superopts, "memory"))
        target = &m->v1;
    if (target && !target->found) {
        unescape_octal(tok[3]);
        unescape_octal(tok[4]);
        snprintf(target->root, sizeof target->root, "%s", tok[3]);
        snprintf(target->mount, sizeof target->mount, "%s", tok[4]);
        target->found = true;
    }
    return true;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool file_exists(const char *dir, const char *name)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* dir = <cgroot><mount><path below root>, or <cgroot><mount> when that is not a directory.
 * mount_dir receives <cgroot><mount> (the top of the walk over ancestors). */
static void resolve_dir(const char *cgroot, const cg_mount *m, const char *path, char *dir, size_t size,
                        char *mount_dir, size_t msize)
{
    snprintf(mount_dir, msize, "%s%s", cgroot, m->mount);
    size_t rl = strlen(m->root);
    const char *rel = NULL;
    if (strcmp(m->root, "/") == 0)
        rel = path;
    else if (strncmp(path, m->root, rl) == 0 && (path[rl] == 0 || path[rl] == '/'))
        rel = path + rl;
    if (rel && strcmp(rel, "/") != 0 && *rel) {
        snprintf(dir, size, "%s%s", mount_dir, rel);
        if (is_dir(dir)) return;
    }
    snprintf(dir, size, "%s", mount_dir);
}

/* Reads a limit-like file: "max" (v2) → FG_MEM_UNLIMITED; a number; v1's huge numbers
 * and "-1" → FG_MEM_UNLIMITED. Returns 0 and *out, 1 when the file is absent, -1 with
 * fg_error set when it is malformed. */
static int read_limit_file(const char *dir, const char *name, int64_t *out)
{
    char path[1100], buf[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ssize_t n = fg_probe_read(path, buf, sizeof buf);
    if (n < 0) return 1;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    if (strcmp(buf, "max") == 0 || strcmp(buf, "-1") == 0) {
        *out = FG_MEM_UNLIMITED;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (n == 0 || *end || buf[0] == '-' || buf[0] == '+' || buf[0] == ' ') {
        fg_error(FG_ERR_FORMAT, "malformed %s: \"%.40s\" (expected a byte count or \"max\")", path, buf);
        return -1;
    }
    *out = (errno == ERANGE || v >= (unsigned long long)V1_UNLIMITED_FROM) ? FG_MEM_UNLIMITED : (int64_t)v;
    return 0;
}

/* A plain usage counter; -1 when absent or not a number (a usage figure is informative:
 * a bad one does not fail the probe). */
static int64_t read_usage_file(const char *dir, const char *name)
{
    char path[1100], buf[64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (fg_probe_read(path, buf, sizeof buf) < 0) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (end == buf || errno == ERANGE || v < 0 || (*end && *end != '\n')) return -1;
    return v;
}

/* The minimum of `name` over dir and its ancestors down to (and including) mount_dir.
 * Returns 0 (*out = min, or -1 when no file exists), -1 on a malformed file. */
static int min_limit_upwards(const char *dir, const char *mount_dir, const char *name, int64_t *out)
{
    char d[512];
    snprintf(d, sizeof d, "%s", dir);
    size_t top = strlen(mount_dir);
    int64_t best = -1;
    for (;;) {
        int64_t v;
        int r = read_limit_file(d, name, &v);
        if (r < 0) return -1;
        if (r == 0 && (best < 0 || v < best)) best = v;
        if (strlen(d) <= top) break;
        char *slash = strrchr(d, '/');
        if (!slash || (size_t)(slash - d) < top) break;
        *slash = 0;
    }
    *out = best;
    return 0;
}

bool fg_cgroup_has_limit(const fg_cgroup_mem *cg) { return cg && cg->limit > 0 && cg->limit != FG_MEM_UNLIMITED; }

static fg_status read_v2(fg_cgroup_mem *out, const char *mount_dir)
{
    out->version = 2;
    if (min_limit_upwards(out->dir, mount_dir, "memory.max", &out->limit) < 0) return FG_ERR_FORMAT;
    if (min_limit_upwards(out->dir, mount_dir, "memory.high", &out->high) < 0) return FG_ERR_FORMAT;
    if (min_limit_upwards(out->dir, mount_dir, "memory.swap.max", &out->swap_limit) < 0) return FG_ERR_FORMAT;
    out->current = read_usage_file(out->dir, "memory.current");
    out->peak = read_usage_file(out->dir, "memory.peak");
    out->swap_current = read_usage_file(out->dir, "memory.swap.current");
    return FG_OK;
}

static fg_status read_v1(fg_cgroup_mem *out, const char *mount_dir)
{
    out->version = 1;
    int64_t memsw = -1;
    if (min_limit_upwards(out->dir, mount_dir, "memory.limit_in_bytes", &out->limit) < 0) return FG_ERR_FORMAT;
    if (min_limit_upwards(out->dir, mount_dir, "memory.memsw.limit_in_bytes", &memsw) < 0) return FG_ERR_FORMAT;
    out->current = read_usage_file(out->dir, "memory.usage_in_bytes");
    out->peak = read_usage_file(out->dir, "memory.max_usage_in_bytes");
    int64_t memsw_usage = read_usage_file(out->dir, "memory.memsw.usage_in_bytes");
    /* memsw counts memory + swap together */
    if (memsw == FG_MEM_UNLIMITED)
        out->swap_limit = FG_MEM_UNLIMITED;
    else if (memsw >= 0 && fg_cgroup_has_limit(out))
        out->swap_limit = memsw > out->limit ? memsw - out->limit : 0;
    if (memsw_usage >= 0 && out->current >= 0)
        out->swap_current = memsw_usage > out->current ? memsw_usage - out->current : 0;
    return FG_OK;
}

fg_status fg_probe_cgroup(const fg_probe_roots *roots, int pid, fg_cgroup_mem *out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_probe_cgroup: NULL output");
    memset(out, 0, sizeof *out);
    out->limit = out->high = out->current = out->peak = out->swap_limit = out->swap_current = -1;

    const char *proc = fg_probe_proc_root(roots), *cgroot = fg_probe_cgroup_root(roots);
    char path[1024];
    proc_cgroups pc = {0};
    if (pid > 0)
        snprintf(path, sizeof path, "%s/%d/cgroup", proc, pid);
    else
        snprintf(path, sizeof path, "%s/self/cgroup", proc);
    if (fg_probe_each_line(path, on_cgroup_line, &pc) != 0) return FG_OK; /* no cgroups: version 0 */

    cg_mounts m = {0};
    if (pid > 0)
        snprintf(path, sizeof path, "%s/%d/mountinfo", proc, pid);
    else
        snprintf(path, sizeof path, "%s/self/mountinfo", proc);
    fg_probe_each_line(path, on_mount_line, &m);
    /* No cgroup mount named: the conventional places. */
    if (!m.v2.found && !m.v1.found) {
        char p[1024];
        snprintf(p, sizeof p, "%s/sys/fs/cgroup", cgroot);
        if (file_exists(p, "cgroup.controllers")) {
            snprintf(m.v2.root, sizeof m.v2.root, "/");
            snprintf(m.v2.mount, sizeof m.v2.mount, "/sys/fs/cgroup");
            m.v2.found = true;
        }
        snprintf(p, sizeof p, "%s/sys/fs/cgroup/memory", cgroot);
        if (is_dir(p)) {
            snprintf(m.v1.root, sizeof m.v1.root, "/");
            snprintf(m.v1.mount, sizeof m.v1.mount, "/sys/fs/cgroup/memory");
            m.v1.found = true;
        }
    }

    char v2dir[512] = "", v2mount[512] = "", v1dir[512] = "", v1mount[512] = "";
    bool v2_ok = pc.has_v2 && m.v2.found, v1_ok = pc.has_v1 && m.v1.found;
    if (v2_ok) resolve_dir(cgroot, &m.v2, pc.v2_path, v2dir, sizeof v2dir, v2mount, sizeof v2mount);
    if (v1_ok) resolve_dir(cgroot, &m.v1, pc.v1_path, v1dir, sizeof v1dir, v1mount, sizeof v1mount);
    /* Hybrid systems mount v2 without the memory controller: prefer v2 only when its
     * directory has memory files (or there is no v1 memory hierarchy). */
    bool v2_memory = v2_ok && (file_exists(v2dir, "memory.max") || file_exists(v2dir, "memory.current"));
    fg_status st = FG_OK;
    if (v2_memory || (v2_ok && !v1_ok)) {
        snprintf(out->dir, sizeof out->dir, "%s", v2dir);
        st = read_v2(out, v2mount);
    } else if (v1_ok) {
        snprintf(out->dir, sizeof out->dir, "%s", v1dir);
        st = read_v1(out, v1mount);
    }
    return st;
}
