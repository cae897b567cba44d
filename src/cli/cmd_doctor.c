/* frugal doctor [MODEL]: the machine's memory situation for running models — RAM,
 * swap devices and zram, swappiness, overcommit, transparent huge pages, the cgroup
 * limit, the processes using the most memory, a Jetson's unified memory; the CPU cores
 * and the matrix kernels that will run — with concrete advice. With MODEL, also the
 * plan's verdict for that model here.
 * Reads below $FG_PROC_ROOT (/proc), $FG_SYS_ROOT (/sys), $FG_CGROUP_ROOT so tests
 * can describe any machine. */
#include "cli/cli.h"
#include "mem/mem.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define MAX_ADVICE 16
#define TOP_PROCS 5

typedef struct doctor {
    const char *proc, *sys;
    char advice[MAX_ADVICE][320];
    int n_advice;
} doctor;

static void advise(doctor *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void advise(doctor *d, const char *fmt, ...)
{
    if (d->n_advice >= MAX_ADVICE) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->advice[d->n_advice++], sizeof d->advice[0], fmt, ap);
    va_end(ap);
}

/* The first line of <root>/<rel>, trimmed; false if unreadable. */
static bool read_line(const char *root, const char *rel, char *buf, size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (!ok) return false;
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == 0)) buf[--n] = 0;
    return true;
}

static long read_long(const char *root, const char *rel, long dflt)
{
    char b[64];
    if (!read_line(root, rel, b, sizeof b)) return dflt;
    char *end;
    long v = strtol(b, &end, 10);
    return end == b ? dflt : v;
}

static const char *B(int64_t n, char *buf, size_t size) { return fg_mem_fmt_bytes(n, buf, size); }

typedef struct proc_use {
    int pid;
    char name[64];
    int64_t rss, swap;
} proc_use;

/* The processes with the largest RSS (from <proc>/<pid>/status). */
static int top_processes(const char *proc, proc_use *top, int max)
{
    DIR *dir = opendir(proc);
    if (!dir) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        char path[600], line[256];
        snprintf(path, sizeof path, "%s/%s/status", proc, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        proc_use u = {.pid = atoi(e->d_name)};
        while (fgets(line, sizeof line, f)) {
            long long kb;
            if (!strncmp(line, "Name:", 5)) {
                char *p = line + 5;
                while (*p == ' ' || *p == '\t') p++;
                snprintf(u.name, sizeof u.name, "%.*s", (int)strcspn(p, "\n"), p);
            } else if (sscanf(line, "VmRSS: %lld kB", &kb) == 1) u.rss = kb * 1024;
            else if (sscanf(line, "VmSwap: %lld kB", &kb) == 1) u.swap = kb * 1024;
        }
        fclose(f);
        /* keep the top `max`, sorted by RSS */
        int pos = n < max ? n++ : max;
        if (pos == max) {
            if (u.rss <= top[max - 1].rss) continue;
            pos = max - 1;
        }
        while (pos > 0 && top[pos - 1].rss < u.rss) {
            top[pos] = top[pos - 1];
            pos--;
        }
        top[pos] = u;
    }
    closedir(dir);
    return n;
}

int cmd_doctor(int argc, char **argv)
{
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: frugal doctor [MODEL]\n"
                   "  the machine's memory situation for running models, with advice;\n"
                   "  with MODEL, whether it fits here (the plan)\n");
            return 0;
        } else if (argv[i][0] == '-') return cli_fail("doctor: unknown option '%s'", argv[i]);
        else if (!model) model = argv[i];
        else return cli_fail("doctor: unexpected argument '%s'", argv[i]);
    }
    doctor d = {.proc = getenv("FG_PROC_ROOT"), .sys = getenv("FG_SYS_ROOT")};
    if (!d.proc) d.proc = "/proc";
    if (!d.sys) d.sys = "/sys";
    char a[32], b[32], c[32];

    fg_sys_mem sm;
    fg_status st = fg_probe_system(NULL, &sm);
    if (st) return cli_fail_status(st, "doctor: cannot read the system's memory");
    printf("memory\n");
    printf("  RAM            %s total, %s available (%.0f%% in use)\n", B(sm.mem_total, a, sizeof a),
           B(sm.mem_available, b, sizeof b),
           sm.mem_total > 0 ? 100.0 * (double)(sm.mem_total - sm.mem_available) / (double)sm.mem_total : 0.0);
    printf("  page cache     %s (reclaimable; mapped weights live here)\n", B(sm.cached, a, sizeof a));
    char model_name[128] = "";
    bool jetson = read_line(d.proc, "device-tree/model", model_name, sizeof model_name) &&
                  (strstr(model_name, "Jetson") || strstr(model_name, "NVIDIA"));
    if (model_name[0]) printf("  board          %s%s\n", model_name, jetson ? " (unified memory: CPU and GPU share this RAM)" : "");
    if (jetson)
        advise(&d, "this is a Jetson: the GPU shares the %s of RAM; a CUDA context alone takes ~0.5 GB, so budget for it if "
                   "another program uses the GPU", B(sm.mem_total, a, sizeof a));

    /* the compute side: what --threads defaults to and which kernels run (the best path
     * this CPU has, or the one FG_ISA forces) */
    printf("\ncpu\n");
    printf("  cores          %d physical (the default --threads)\n", fg_physical_cores());
    fg_isa isa = fg_isa_active();
    printf("  kernels        %s (paths on this CPU:", fg_isa_name(isa));
    for (int i = 0; i < FG_ISA_COUNT; i++)
        if (fg_isa_supported((fg_isa)i)) printf(" %s", fg_isa_name((fg_isa)i));
    printf(")\n");
    if (isa == FG_ISA_SCALAR)
        advise(&d, "the matrix kernels are the plain C ones (%s): expect several times fewer tokens per second than "
                   "with SIMD kernels",
               getenv("FG_ISA") && !strcmp(getenv("FG_ISA"), "scalar") ? "FG_ISA forces them"
                                                                    : "no AVX2+FMA or NEON on this CPU");

    printf("\nswap\n");
    if (sm.n_swaps == 0) printf("  none\n");
    int64_t zram_prio = -100000, disk_prio = -100000;
    for (int i = 0; i < sm.n_swaps; i++) {
        const fg_swap_device *s = &sm.swaps[i];
        bool z = strstr(s->name, "zram") != NULL;
        printf("  %-16s %-9s %s, %s used, priority %d\n", s->name, z ? "zram" : s->type, B(s->size, a, sizeof a),
               B(s->used, b, sizeof b), s->priority);
        if (z && s->priority > zram_prio) zram_prio = s->priority;
        if (!z && s->priority > disk_prio) disk_prio = s->priority;
    }
    int64_t zram_ram = 0, zram_orig = 0;
    for (int i = 0; i < sm.n_zram; i++) {
        const fg_zram_device *z = &sm.zram[i];
        printf("  %-16s holds %s compressed into %s of RAM (disk size %s)\n", z->name, B(z->orig_data_size, a, sizeof a),
               B(z->mem_used_total, b, sizeof b), B(z->disksize, c, sizeof c));
        zram_ram += z->mem_used_total;
        zram_orig += z->orig_data_size;
    }
    long swappiness = read_long(d.proc, "sys/vm/swappiness", -1);
    long overcommit = read_long(d.proc, "sys/vm/overcommit_memory", -1);
    long overcommit_ratio = read_long(d.proc, "sys/vm/overcommit_ratio", -1);
    char thp[128] = "?";
    read_line(d.sys, "kernel/mm/transparent_hugepage/enabled", thp, sizeof thp);
    printf("\nkernel\n");
    printf("  swappiness     %ld\n", swappiness);
    printf("  overcommit     %ld%s (ratio %ld)\n", overcommit,
           overcommit == 0 ? " heuristic" : overcommit == 1 ? " always" : overcommit == 2 ? " strict" : "", overcommit_ratio);
    printf("  huge pages     %s\n", thp);
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0)
        printf("  memlock limit  %s\n", rl.rlim_cur == RLIM_INFINITY ? "unlimited" : B((int64_t)rl.rlim_cur, a, sizeof a));

    fg_cgroup_mem cg;
    printf("\ncontainer (cgroup)\n");
    if (fg_probe_cgroup(NULL, 0, &cg) == FG_OK && cg.version) {
        printf("  cgroup v%d      %s\n", cg.version, cg.dir);
        if (fg_cgroup_has_limit(&cg)) {
            printf("  limit          %s, in use %s (page cache included)\n", B(cg.limit, a, sizeof a), B(cg.current, b, sizeof b));
            if (cg.limit < sm.mem_available)
                advise(&d, "the container's limit (%s) is below the free RAM (%s): frugal budgets against the limit; a model "
                           "needing more is refused with what would fit (frugal plan MODEL --fit)",
                       B(cg.limit, a, sizeof a), B(sm.mem_available, b, sizeof b));
        } else {
            printf("  no memory limit\n");
        }
    } else {
        printf("  no memory cgroup found\n");
    }

    proc_use top[TOP_PROCS];
    int nt = top_processes(d.proc, top, TOP_PROCS);
    printf("\nlargest processes\n");
    for (int i = 0; i < nt; i++)
        printf("  %7d %-20s %10s%s%s\n", top[i].pid, top[i].name, B(top[i].rss, a, sizeof a), top[i].swap > 0 ? "  swap " : "",
               top[i].swap > 0 ? B(top[i].swap, b, sizeof b) : "");
    int64_t others = 0;
    for (int i = 0; i < nt; i++) others += top[i].rss;
    if (nt && sm.mem_total > 0 && others > sm.mem_total / 4)
        advise(&d, "the %d largest processes hold %s (%.0f%% of RAM); closing %s (%s) would free the most for a model", nt,
               B(others, a, sizeof a), 100.0 * (double)others / (double)sm.mem_total, top[0].name, B(top[0].rss, b, sizeof b));

    /* advice on swap, zram and kernel settings */
    if (sm.n_zram > 0 && zram_prio > disk_prio) {
        advise(&d, "zram is the preferred swap (%s of data compressed into %s of RAM): under pressure it takes RAM from "
                   "the same pool as the model; mapped weights are dropped and re-read from the file rather than swapped, "
                   "but the KV cache and scratch can be compressed into zram and slow generation — keep a model's plan "
                   "below MemAvailable, or lower zram's disk size",
               B(zram_orig, a, sizeof a), B(zram_ram, b, sizeof b));
    }
    if (sm.swap_total > 0 && swappiness > 60)
        advise(&d, "swappiness is %ld: the kernel swaps anonymous memory eagerly; for a model that fits in RAM, 10-30 keeps "
                   "the KV cache resident (sysctl vm.swappiness=20)", swappiness);
    if (sm.swap_total <= 0 && sm.mem_total > 0 && sm.mem_total <= (int64_t)8 << 30)
        advise(&d, "no swap on a %s machine: an out-of-memory kill is the only way out of pressure; frugal's budget stops "
                   "generation before that, other programs have no such guard", B(sm.mem_total, a, sizeof a));
    if (overcommit == 2)
        advise(&d, "strict overcommit (vm.overcommit_memory=2): every writable private mapping is charged up front; frugal "
                   "reserves KV address space without charge and commits as tokens arrive, but other programs may fail to start");
    if (strstr(thp, "[always]"))
        advise(&d, "transparent huge pages are 'always': anonymous memory may grow in 2 MiB steps beyond what is used; "
                   "'madvise' keeps RSS closer to the need (echo madvise > /sys/kernel/mm/transparent_hugepage/enabled)");
    if (strstr(thp, "[never]"))
        advise(&d, "transparent huge pages are 'never': frugal cannot ask for 2 MiB pages on the weights, and weights "
                   "read back after eviction then lie in scattered 4 KiB pages, which stream slower (decode 59 against "
                   "83 tok/s on the dev VM); 'madvise' lets frugal ask on the weights alone "
                   "(echo madvise > /sys/kernel/mm/transparent_hugepage/enabled)");

    int rc = 0;
    if (model) {
        printf("\nmodel\n");
        fg_plan_params pp = fg_plan_default_params();
        fg_plan plan;
        st = fg_plan_model(model, &pp, &plan);
        if (st) return cli_fail_status(st, "cannot plan %s", model);
        char buf[4096];
        fg_plan_format(&plan, buf, sizeof buf);
        fputs(buf, stdout);
        if (!plan.fits) {
            pp.fit = true;
            fg_plan alt;
            if (fg_plan_model(model, &pp, &alt) == FG_OK && alt.fits) advise(&d, "%s: %s", model, alt.advice);
            else advise(&d, "%s does not fit here: %s", model, plan.advice);
            rc = 3;
        }
    }
    printf("\nadvice\n");
    if (d.n_advice == 0) printf("  nothing to change: memory looks healthy for running models\n");
    for (int i = 0; i < d.n_advice; i++) printf("  - %s\n", d.advice[i]);
    return rc;
}
