/* The suite's main loop: for each entry — baseline, plan, child, verdict, settle.
 *
 * Baseline: MemAvailable and swap used just before the child starts; "system used
 * before" = MemTotal - MemAvailable then. Settle: after the child has been reaped, wait
 * (up to settle_timeout_s) for MemAvailable to come back within the tolerance of the
 * baseline; what is still missing is reported as memory that did not come back (on a
 * busy machine other processes move MemAvailable too: the figure is a fact, not a
 * verdict on the model).
 *
 * Verdicts: a path that does not exist is "missing"; with a limit, a plan that does not
 * fit is "does_not_fit" (not run; the plan's advice says what would), and --fit lets the
 * plan choose quantization and context; a child killed by our timeout is "timeout", by
 * SIGKILL while the kernel's oom_kill count rose "oom_killed", by another signal
 * "crashed"; a non-zero exit or an unreadable report is "error"; otherwise the measured
 * peak RSS (the child's VmHWM) is compared with the limit: "fits" or "over_limit", or
 * "ok" without a limit. */
#include "suite/suite-impl.h"
#include "format/quant_mix.h"
#include "model/plan.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *fg_verdict_name(fg_verdict v)
{
    static const char *const names[FG_VERDICT_COUNT] = {
        "ok", "fits", "over_limit", "does_not_fit", "missing", "crashed", "timeout", "oom_killed", "error",
    };
    return v >= 0 && v < FG_VERDICT_COUNT ? names[v] : "?";
}

fg_suite_run_params fg_suite_run_default_params(void)
{
    fg_suite_run_params p = {
        .settle_tolerance = (int64_t)16 << 20,
        .settle_timeout_s = 3,
        .interval_ms = 10,
    };
    return p;
}

void fg_suite_report_free(fg_suite_report *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        cJSON_Delete(r->results[i].plan);
        cJSON_Delete(r->results[i].timeline);
        cJSON_Delete(r->results[i].report);
    }
    fg_free(r->results);
    fg_free(r);
}

/* A file-name-safe, unique name for the entry's files. */
static void entry_file_name(const fg_suite_report *rep, int i, const char *name, char *out, size_t size)
{
    char base[100];
    size_t n = 0;
    for (const char *c = name; *c && n < sizeof base - 1; c++)
        base[n++] = (char)((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                                   *c == '.' || *c == '-' || *c == '_'
                               ? *c
                               : '_');
    base[n] = 0;
    if (!n || base[0] == '.') base[0] = '_';
    snprintf(out, size, "%s", base);
    for (int k = 2;; k++) {
        bool clash = false;
        for (int j = 0; j < i && !clash; j++) clash = !strcmp(rep->results[j].name, out);
        if (!clash) break;
        snprintf(out, size, "%s-%d", base, k);
    }
}

static void last_log_line(const char *path, char *out, size_t size)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n) snprintf(out, size, "%s", line);
    }
    fclose(f);
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGABRT: return "SIGABRT";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    default: return "signal";
    }
}

typedef struct tick_ctx {
    const fg_suite_run_params *p;
    fg_suite_progress pg;
} tick_ctx;

static void on_tick(const fg_suite_child *c, double elapsed_s, void *user)
{
    tick_ctx *t = user;
    fg_mem_sample smp;
    t->pg.phase = c->phase[0] ? c->phase : "start";
    t->pg.elapsed_s = elapsed_s;
    if (c->tl && fg_timeline_recent(c->tl, 1, &smp, 1) == 1) {
        t->pg.rss = smp.rss_anon + smp.rss_file;
        t->pg.mem_available = smp.mem_available;
    }
    if (t->p->progress) t->p->progress(&t->pg, t->p->user);
}

/* Figures from the parent's samples, and phase spans from the marks. */
static void digest_timeline(fg_suite_result *res, fg_timeline *tl, double wall_s)
{
    fg_timeline_info info;
    fg_timeline_get_info(tl, &info);
    res->sampled_peak_rss = info.peak_rss;
    res->min_available = -1;
    res->peak_swap_used = -1;
    size_t cap = (size_t)info.n_samples;
    fg_mem_sample *s = cap ? malloc(cap * sizeof *s) : NULL;
    size_t n = s ? fg_timeline_recent(tl, 0, s, cap) : 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].rss_anon > res->sampled_peak_anon) res->sampled_peak_anon = s[i].rss_anon;
        if (s[i].rss_file > res->sampled_peak_file) res->sampled_peak_file = s[i].rss_file;
        if (s[i].vm_swap > res->sampled_peak_swap) res->sampled_peak_swap = s[i].vm_swap;
        if (s[i].mem_available >= 0 && (res->min_available < 0 || s[i].mem_available < res->min_available))
            res->min_available = s[i].mem_available;
        if (s[i].swap_used > res->peak_swap_used) res->peak_swap_used = s[i].swap_used;
    }
    free(s);
    fg_mem_mark marks[FG_SUITE_MAX_PHASES];
    size_t nm = fg_timeline_marks(tl, marks, FG_SUITE_MAX_PHASES);
    res->n_phases = 0;
    for (size_t i = 0; i < nm; i++) {
        fg_suite_phase *ph = &res->phases[res->n_phases++];
        snprintf(ph->name, sizeof ph->name, "%s", marks[i].phase);
        ph->t0_ms = (double)marks[i].t_us / 1e3;
        ph->t1_ms = i + 1 < nm ? (double)marks[i + 1].t_us / 1e3 : wall_s * 1e3;
        if (ph->t1_ms < ph->t0_ms) ph->t1_ms = ph->t0_ms;
    }
    res->timeline = fg_timeline_json(tl, NULL);
}

static void settle(fg_suite_result *res, const fg_suite_run_params *p, tick_ctx *t)
{
    double t0 = fg_suite_now_s();
    int64_t best = -1, total, avail, st, sf;
    t->pg.phase = "settle";
    for (;;) {
        if (fg_probe_meminfo_brief(NULL, &total, &avail, &st, &sf) == FG_OK && avail > best) best = avail;
        if (best >= 0 && res->base_available - best <= p->settle_tolerance) break;
        if (fg_suite_now_s() - t0 >= p->settle_timeout_s) break;
        usleep(50000);
    }
    res->after_available = best;
    res->leftover = best >= 0 && res->base_available >= 0 ? res->base_available - best : 0;
    res->returned = res->leftover <= p->settle_tolerance;
}

/* Positions a bench child uses at most: the longest prompt plus the generated tokens. A
 * prompt text is counted at its bytes plus two (BOS, a leading-space marker): no
 * tokenizer of ours makes more tokens than that from a text. */
static int64_t suite_positions(const fg_suite_spec *spec)
{
    int64_t longest = spec->n_prompt;
    if (spec->n_texts > 0) {
        longest = 0;
        for (int k = 0; k < spec->n_texts; k++) {
            int64_t n = (int64_t)strlen(spec->texts[k]) + 2;
            if (n > longest) longest = n;
        }
    }
    return longest > 0 ? longest + spec->n_gen : 0;
}

static fg_status run_entry(const fg_suite_spec *spec, const fg_suite_run_params *p, const char *exe,
                           fg_suite_report *rep, int i, tick_ctx *t)
{
    fg_suite_result *res = &rep->results[i];
    const fg_suite_entry *e = &spec->entries[i];
    res->entry = e;
    res->exit_code = -1;
    res->plan_peak = -1;
    res->min_available = res->after_available = -1;
    entry_file_name(rep, i, e->name, res->name, sizeof res->name);
    snprintf(res->report_path, sizeof res->report_path, "%s/%s.bench.json", p->out_dir, res->name);
    snprintf(res->memory_path, sizeof res->memory_path, "%s/%s.memory.json", p->out_dir, res->name);
    snprintf(res->log_path, sizeof res->log_path, "%s/%s.log", p->out_dir, res->name);
    t->pg = (fg_suite_progress){.index = i, .count = spec->n_entries, .name = res->name, .phase = "plan"};
    if (p->progress) p->progress(&t->pg, p->user);

    int64_t total = -1, avail = -1, stot = -1, sfree = -1;
    fg_probe_meminfo_brief(NULL, &total, &avail, &stot, &sfree);
    res->mem_total = total;
    t->pg.mem_total = total;
    res->base_available = avail;
    res->base_swap_used = stot >= 0 && sfree >= 0 ? stot - sfree : -1;

    struct stat sb;
    if (stat(e->path, &sb) != 0) {
        res->verdict = FG_VERDICT_MISSING;
        snprintf(res->message, sizeof res->message, "%s: %s", e->path, strerror(errno));
        return FG_OK;
    }

    /* the plan: the prediction for every entry; with a limit, the gate (and --fit's choice) */
    fg_quant_mix q = FG_QMIX_NONE;
    if (e->quant) fg_quant_mix_from_name(e->quant, &q);
    int64_t n_ctx = e->n_ctx > 0 ? e->n_ctx : spec->n_ctx;
    fg_plan_params pp = fg_plan_default_params();
    pp.n_ctx = n_ctx;
    pp.n_threads = spec->n_threads;
    pp.quant = (int)q;
    pp.mem_limit = spec->mem_limit;
    pp.fit = spec->fit && spec->mem_limit > 0;
    fg_plan plan;
    char fit_note[360] = "";
    if (fg_plan_model(e->path, &pp, &plan) == FG_OK) {
        res->planned = true;
        res->plan_peak = plan.peak;
        res->plan_ctx = plan.n_ctx;
        snprintf(res->plan_quant, sizeof res->plan_quant, "%s",
                 plan.quant ? fg_quant_mix_name((fg_quant_mix)plan.quant) : "");
        res->plan = fg_plan_json(&plan);
        if (spec->mem_limit > 0 && !plan.fits) {
            res->verdict = FG_VERDICT_DOES_NOT_FIT;
            snprintf(res->message, sizeof res->message, "%s", plan.advice);
            return FG_OK;
        }
        if (pp.fit && ((int)q != plan.quant || n_ctx != plan.n_ctx)) {
            snprintf(fit_note, sizeof fit_note, "; plan: %s", plan.advice);
            q = (fg_quant_mix)plan.quant;
            n_ctx = plan.n_ctx;
        }
        /* The gate above is about the whole context reserved (an entry whose context
         * cannot fit is refused even for a short run); the predicted peak is about what
         * the child will reach: its KV cache is committed as tokens arrive, so plan again,
         * at the chosen type and context, for the positions the bench uses. */
        int64_t used = suite_positions(spec);
        if (used > 0 && used < n_ctx) {
            fg_plan_params up = pp;
            up.n_ctx = n_ctx;
            up.quant = (int)q;
            up.fit = false;
            up.n_tokens = used;
            fg_plan uplan;
            cJSON *uj = NULL;
            if (fg_plan_model(e->path, &up, &uplan) == FG_OK && (uj = fg_plan_json(&uplan))) {
                cJSON_Delete(res->plan);
                res->plan = uj;
                res->plan_peak = uplan.peak;
            }
        }
    } /* a plan that fails (unreadable model): the child will say why, in its own words */

    /* the child's command line */
    char a_ctx[24], a_gen[24], a_reps[24], a_prompt[24], a_thr[24], a_bw[32];
    snprintf(a_ctx, sizeof a_ctx, "%lld", (long long)n_ctx);
    snprintf(a_gen, sizeof a_gen, "%lld", (long long)spec->n_gen);
    snprintf(a_reps, sizeof a_reps, "%d", spec->reps);
    snprintf(a_prompt, sizeof a_prompt, "%lld", (long long)spec->n_prompt);
    snprintf(a_thr, sizeof a_thr, "%d", spec->n_threads);
    snprintf(a_bw, sizeof a_bw, "%.6g", p->bandwidth_gbs);
    int cap = 24 + 2 * spec->n_texts, n = 0;
    char **argv = calloc((size_t)cap, sizeof *argv);
    if (!argv) return fg_error(FG_ERR_NOMEM, "suite: out of memory");
#define ARG(s) (argv[n++] = (char *)(s))
    ARG(exe), ARG("bench"), ARG(e->path), ARG("--json"), ARG("--phase-fd"), ARG("3");
    ARG("--memory-report"), ARG(res->memory_path);
    ARG("--ctx"), ARG(a_ctx), ARG("-n"), ARG(a_gen), ARG("-r"), ARG(a_reps);
    if (spec->n_threads > 0) ARG("--threads"), ARG(a_thr);
    if (q != FG_QMIX_NONE) ARG("--quant"), ARG(fg_quant_mix_name(q));
    if (p->bandwidth_gbs > 0) ARG("--bandwidth"), ARG(a_bw);
    else if (p->bandwidth_gbs < 0) ARG("--no-bandwidth");
    if (spec->n_texts > 0)
        for (int k = 0; k < spec->n_texts; k++) ARG("--text"), ARG(spec->texts[k]);
    else
        ARG("-p"), ARG(a_prompt);
    argv[n] = NULL;
#undef ARG

    fg_suite_child c;
    memset(&c, 0, sizeof c);
    t->pg.phase = "start";
    double timeout_s = e->timeout_s > 0 ? e->timeout_s : spec->timeout_s;
    fg_status st = fg_suite_child_run(&c, argv, e->env, e->n_env, res->log_path, timeout_s, p->interval_ms,
                                      on_tick, t);
    free(argv);
    if (st) {
        res->verdict = FG_VERDICT_ERROR;
        snprintf(res->message, sizeof res->message, "could not start: %s", fg_last_error());
        fg_suite_child_free(&c);
        return FG_OK;
    }
    res->ran = true;
    res->wall_s = c.wall_s;
    if (c.tl) digest_timeline(res, c.tl, c.wall_s);

    char last[400];
    last_log_line(res->log_path, last, sizeof last);
    if (c.timed_out) {
        res->verdict = FG_VERDICT_TIMEOUT;
        res->signal = SIGKILL;
        snprintf(res->message, sizeof res->message, "still running after %g s (phase %s): killed", timeout_s,
                 c.phase[0] ? c.phase : "start");
    } else if (WIFSIGNALED(c.status)) {
        res->signal = WTERMSIG(c.status);
        bool oom = res->signal == SIGKILL && c.oom_before >= 0 && c.oom_after > c.oom_before;
        res->verdict = oom ? FG_VERDICT_OOM_KILLED : FG_VERDICT_CRASHED;
        snprintf(res->message, sizeof res->message, "%s (%s %d) in phase %s%s%s",
                 oom ? "killed by the kernel's OOM killer" : "killed by a signal", signal_name(res->signal),
                 res->signal, c.phase[0] ? c.phase : "start", last[0] ? ": " : "", last);
    } else {
        res->exit_code = WEXITSTATUS(c.status);
        uint64_t fails = fg_mem_failures();
        cJSON *j = c.out && !c.out_overflow ? cJSON_Parse(c.out) : NULL;
        if (res->exit_code == 0 && !j && fg_mem_failures() != fails) {
            res->verdict = FG_VERDICT_ERROR;
            snprintf(res->message, sizeof res->message, "out of memory parsing the child's report");
        } else if (res->exit_code != 0) {
            res->verdict = FG_VERDICT_ERROR;
            snprintf(res->message, sizeof res->message, "exit %d: %s", res->exit_code, last[0] ? last : "no message");
            cJSON_Delete(j);
        } else if (!cJSON_IsObject(j) || !cJSON_IsNumber(cJSON_GetObjectItem(j, "peak_rss"))) {
            res->verdict = FG_VERDICT_ERROR;
            snprintf(res->message, sizeof res->message, "the child's report is not a bench report");
            cJSON_Delete(j);
        } else {
            res->report = j;
            FILE *f = fopen(res->report_path, "w");
            if (f) {
                fputs(c.out, f);
                fclose(f);
            }
            int64_t peak = (int64_t)fg_suite_num(j, "peak_rss");
            char b1[32], b2[32], b3[32];
            if (spec->mem_limit > 0) {
                bool fits = peak <= spec->mem_limit;
                res->verdict = fits ? FG_VERDICT_FITS : FG_VERDICT_OVER_LIMIT;
                snprintf(res->message, sizeof res->message, "peak RSS %s, limit %s, %s %s",
                         fg_suite_gb(peak, b1, sizeof b1), fg_suite_gb(spec->mem_limit, b2, sizeof b2),
                         fits ? "headroom" : "over by",
                         fg_suite_gb(fits ? spec->mem_limit - peak : peak - spec->mem_limit, b3, sizeof b3));
            } else {
                res->verdict = FG_VERDICT_OK;
            }
        }
    }
    if (fit_note[0]) {
        size_t len = strlen(res->message);
        snprintf(res->message + len, sizeof res->message - len, "%s", len ? fit_note : fit_note + 2);
    }
    fg_suite_child_free(&c); /* before settling: our own buffers count against MemAvailable too */
    settle(res, p, t);
    return FG_OK;
}

static void host_info(fg_suite_report *r)
{
    if (gethostname(r->host, sizeof r->host) != 0) snprintf(r->host, sizeof r->host, "?");
    r->host[sizeof r->host - 1] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(r->cpu, sizeof r->cpu, "?");
    while (f && fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (c && (!strncmp(line, "model name", 10) || !strncmp(line, "Model", 5))) {
            c++;
            while (*c == ' ' || *c == '\t') c++;
            size_t n = strlen(c);
            while (n && (c[n - 1] == '\n' || c[n - 1] == ' ')) c[--n] = 0;
            snprintf(r->cpu, sizeof r->cpu, "%s", c);
            break;
        }
    }
    if (f) fclose(f);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(r->started, sizeof r->started, "%Y-%m-%dT%H:%M:%S", &tm);
}

fg_status fg_suite_run(const fg_suite_spec *spec, const fg_suite_run_params *params, fg_suite_report **out)
{
    *out = NULL;
    fg_suite_run_params p = params ? *params : fg_suite_run_default_params();
    if (!spec || spec->n_entries <= 0) return fg_error(FG_ERR_ARG, "suite: no models");
    if (!p.out_dir) return fg_error(FG_ERR_ARG, "suite: no output directory");
    struct stat sb;
    if (stat(p.out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return fg_error(FG_ERR_IO, "suite: %s is not a directory", p.out_dir);
    char exe[4096];
    if (p.exe) {
        snprintf(exe, sizeof exe, "%s", p.exe);
    } else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) return fg_error(FG_ERR_IO, "suite: cannot find the frugal binary (/proc/self/exe): %s", strerror(errno));
        exe[n] = 0;
    }
    if (access(exe, X_OK) != 0) return fg_error(FG_ERR_IO, "suite: %s is not executable", exe);

    fg_suite_report *r = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *r);
    if (!r) return fg_error(FG_ERR_NOMEM, "suite: out of memory");
    r->results = fg_calloc(FG_MEM_RUNTIME, (size_t)spec->n_entries, sizeof *r->results);
    if (!r->results) {
        fg_free(r);
        return fg_error(FG_ERR_NOMEM, "suite: out of memory");
    }
    r->spec = spec;
    r->n = spec->n_entries;
    r->bandwidth_gbs = p.bandwidth_gbs;
    host_info(r);
    int64_t a, b, c;
    if (fg_probe_meminfo_brief(NULL, &r->mem_total, &a, &b, &c) != FG_OK) r->mem_total = -1;
    double t0 = fg_suite_now_s();
    tick_ctx t = {.p = &p};
    for (int i = 0; i < spec->n_entries; i++) {
        fg_status st = run_entry(spec, &p, exe, r, i, &t);
        if (st) {
            fg_suite_report_free(r);
            return st;
        }
        t.pg.finished = true;
        t.pg.phase = fg_verdict_name(r->results[i].verdict);
        t.pg.result = &r->results[i];
        t.pg.elapsed_s = r->results[i].wall_s;
        if (p.progress) p.progress(&t.pg, p.user);
    }
    r->wall_s = fg_suite_now_s() - t0;
    *out = r;
    return FG_OK;
}
