/* The suite's report: JSON (docs/suite-report.schema.json), the table for the terminal
 * and in Markdown, CSV, and writing every file of a report directory.
 *
 * Columns (one row per entry):
 *   model, parameters, weight type, file size,
 *   system used before   MemTotal - MemAvailable just before the child (GiB and %),
 *   predicted peak       the plan's peak,
 *   peak RSS             the child's VmHWM (its own report); the parent's sampled peak
 *                        when the child gave no report,
 *   peak system used     MemTotal - lowest MemAvailable while the child ran (%),
 *   over file            peak RSS - file size (what the model costs beyond its weights;
 *                        the KV cache is part of it and shown next),
 *   KV used              KV cache committed at its peak,
 *   swap change          highest system swap used while it ran - swap used before,
 *   prefill / decode tok/s (medians), time to first token (median), verdict. */
#include "suite/suite-impl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers --------------------------------------------------------------------- */

void fg_sbuf_printf(fg_sbuf *b, const char *fmt, ...)
{
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if (!b->s || b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            free(b->s);
            b->s = NULL;
            b->failed = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
        va_start(ap, fmt);
        vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void fg_sbuf_puts(fg_sbuf *b, const char *s)
{
    fg_sbuf_printf(b, "%s", s);
}

void fg_sbuf_xml(fg_sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fg_sbuf_puts(b, "&lt;"); break;
        case '>': fg_sbuf_puts(b, "&gt;"); break;
        case '&': fg_sbuf_puts(b, "&amp;"); break;
        case '"': fg_sbuf_puts(b, "&quot;"); break;
        default: fg_sbuf_printf(b, "%c", *s);
        }
    }
}

char *fg_sbuf_take(fg_sbuf *b)
{
    if (b->failed) {
        free(b->s);
        b->s = NULL;
        return NULL;
    }
    if (!b->s) fg_sbuf_puts(b, "");
    char *s = b->s;
    b->s = NULL;
    return s;
}

double fg_suite_num(const cJSON *o, const char *path)
{
    /* "a.b.c" */
    char key[64];
    const cJSON *cur = o;
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key) return -1;
        memcpy(key, path, n);
        key[n] = 0;
        cur = cJSON_GetObjectItemCaseSensitive(cur, key);
        path += n + (path[n] == '.');
    }
    return cJSON_IsNumber(cur) ? cur->valuedouble : -1;
}

const char *fg_suite_gb(int64_t bytes, char *buf, size_t size)
{
    return fg_mem_fmt_bytes(bytes, buf, size);
}

const char *fg_suite_params_str(double n, char *buf, size_t size)
{
    if (n < 0) snprintf(buf, size, "-");
    else if (n >= 1e9) snprintf(buf, size, "%.2fB", n / 1e9);
    else if (n >= 1e6) snprintf(buf, size, "%.0fM", n / 1e6);
    else if (n >= 1e3) snprintf(buf, size, "%.0fK", n / 1e3);
    else snprintf(buf, size, "%.0f", n);
    return buf;
}

const char *fg_suite_verdict_text(const fg_suite_result *r, char *buf, size_t size)
{
    char b[32];
    switch (r->verdict) {
    case FG_VERDICT_OK: snprintf(buf, size, "ok"); break;
    case FG_VERDICT_FITS: snprintf(buf, size, "fits"); break;
    case FG_VERDICT_OVER_LIMIT: snprintf(buf, size, "OVER LIMIT"); break;
    case FG_VERDICT_DOES_NOT_FIT: snprintf(buf, size, "does not fit"); break;
    case FG_VERDICT_MISSING: snprintf(buf, size, "missing"); break;
    case FG_VERDICT_CRASHED:
        snprintf(buf, size, "crashed (%s)", r->signal == SIGABRT ? "SIGABRT" : r->signal == SIGSEGV ? "SIGSEGV"
                                            : (snprintf(b, sizeof b, "signal %d", r->signal), b));
        break;
    case FG_VERDICT_TIMEOUT: snprintf(buf, size, "timeout"); break;
    case FG_VERDICT_OOM_KILLED: snprintf(buf, size, "OOM-killed"); break;
    case FG_VERDICT_ERROR: snprintf(buf, size, "error"); break;
    default: snprintf(buf, size, "?");
    }
    return buf;
}

/* ---- the figures of one row -------------------------------------------------------------- */

typedef struct row {
    double params, file_size, used_before, used_before_pct, predicted, peak_rss, peak_sys_pct, over_file,
        over_file_kv, kv, swap_change, prefill, decode, ttft, ceiling_fraction;
    const char *weight_type;
} row;

static row row_of(const fg_suite_report *rep, const fg_suite_result *r)
{
    row w;
    const cJSON *b = r->report;
    const cJSON *wt = b ? cJSON_GetObjectItemCaseSensitive(b, "weight_type") : NULL;
    w.weight_type = cJSON_IsString(wt) ? wt->valuestring : NULL;
    if (!w.weight_type && r->plan_quant[0]) w.weight_type = r->plan_quant;
    if (!w.weight_type && r->plan) {
        /* not run: the type holding most of the weights, as the plan read them */
        const cJSON *bt = cJSON_GetObjectItemCaseSensitive(r->plan, "weights_by_type"), *it;
        double best = -1;
        cJSON_ArrayForEach(it, bt) {
            if (cJSON_IsNumber(it) && it->valuedouble > best) {
                best = it->valuedouble;
                w.weight_type = it->string;
            }
        }
    }
    w.params = fg_suite_num(b, "n_params");
    if (w.params < 0) w.params = fg_suite_num(r->plan, "parameters");
    w.file_size = fg_suite_num(b, "file_size");
    if (w.file_size < 0) w.file_size = fg_suite_num(r->plan, "file_bytes");
    int64_t total = r->mem_total;
    w.used_before = total > 0 && r->base_available >= 0 ? (double)(total - r->base_available) : -1;
    w.used_before_pct = w.used_before >= 0 ? 100.0 * w.used_before / (double)total : -1;
    w.predicted = r->plan_peak >= 0 ? (double)r->plan_peak : -1;
    w.peak_rss = fg_suite_num(b, "peak_rss");
    if (w.peak_rss < 0 && r->ran && r->sampled_peak_rss > 0) w.peak_rss = (double)r->sampled_peak_rss;
    w.peak_sys_pct = r->ran && total > 0 && r->min_available >= 0 ? 100.0 * (double)(total - r->min_available) / (double)total : -1;
    w.kv = fg_suite_num(b, "kv_used");
    w.over_file = b && w.peak_rss >= 0 && w.file_size >= 0 ? w.peak_rss - w.file_size : -1e300;
    w.over_file_kv = b && w.kv >= 0 ? w.over_file - w.kv : -1e300;
    w.swap_change = r->ran && r->peak_swap_used >= 0 && r->base_swap_used >= 0 ? (double)(r->peak_swap_used - r->base_swap_used) : -1e300;
    w.prefill = fg_suite_num(b, "prefill_tok_s.median");
    w.decode = fg_suite_num(b, "decode_tok_s.median");
    w.ttft = fg_suite_num(b, "ttft_ms.median");
    w.ceiling_fraction = fg_suite_num(b, "ceiling_fraction");
    (void)rep;
    return w;
}

#define NA(x) ((x) == -1e300)

/* ---- JSON --------------------------------------------------------------------------------- */

static void add_num(cJSON *o, const char *k, double v, bool valid)
{
    if (valid) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v && *v) cJSON_AddStringToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static cJSON *entry_json(const fg_suite_report *rep, int i)
{
    const fg_suite_result *r = &rep->results[i];
    row w = row_of(rep, r);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "path", r->entry ? r->entry->path : "");
    add_str(o, "quant", r->entry ? r->entry->quant : NULL);
    cJSON_AddStringToObject(o, "verdict", fg_verdict_name(r->verdict));
    cJSON_AddStringToObject(o, "message", r->message);
    cJSON_AddBoolToObject(o, "ran", r->ran);
    add_num(o, "exit_code", r->exit_code, r->ran && r->exit_code >= 0);
    add_num(o, "signal", r->signal, r->signal > 0);
    add_num(o, "wall_s", r->wall_s, r->ran);
    add_num(o, "params", w.params, w.params >= 0);
    add_str(o, "weight_type", w.weight_type);
    add_num(o, "file_size", w.file_size, w.file_size >= 0);
    cJSON *sb = cJSON_AddObjectToObject(o, "system_before");
    add_num(sb, "mem_total", (double)r->mem_total, r->mem_total > 0);
    add_num(sb, "mem_available", (double)r->base_available, r->base_available >= 0);
    add_num(sb, "used", w.used_before, w.used_before >= 0);
    add_num(sb, "used_pct", w.used_before_pct, w.used_before_pct >= 0);
    add_num(sb, "swap_used", (double)r->base_swap_used, r->base_swap_used >= 0);
    add_num(o, "predicted_peak", w.predicted, w.predicted >= 0);
    add_str(o, "plan_quant", r->plan_quant);
    add_num(o, "plan_ctx", (double)r->plan_ctx, r->planned);
    if (r->plan) cJSON_AddItemToObject(o, "plan", cJSON_Duplicate(r->plan, true));
    else cJSON_AddNullToObject(o, "plan");
    add_num(o, "peak_rss", w.peak_rss, w.peak_rss >= 0);
    add_num(o, "sampled_peak_rss", (double)r->sampled_peak_rss, r->ran);
    add_num(o, "sampled_peak_anon", (double)r->sampled_peak_anon, r->ran);
    add_num(o, "sampled_peak_file", (double)r->sampled_peak_file, r->ran);
    add_num(o, "sampled_peak_swap", (double)r->sampled_peak_swap, r->ran);
    add_num(o, "peak_system_used", r->mem_total > 0 ? (double)(r->mem_total - r->min_available) : 0,
            w.peak_sys_pct >= 0);
    add_num(o, "peak_system_used_pct", w.peak_sys_pct, w.peak_sys_pct >= 0);
    add_num(o, "overhead_over_file", w.over_file, !NA(w.over_file));
    add_num(o, "overhead_over_file_kv", w.over_file_kv, !NA(w.over_file_kv));
    add_num(o, "kv_used", w.kv, w.kv >= 0);
    add_num(o, "swap_change", w.swap_change, !NA(w.swap_change));
    add_num(o, "prefill_tok_s", w.prefill, w.prefill >= 0);
    add_num(o, "decode_tok_s", w.decode, w.decode >= 0);
    add_num(o, "ttft_ms", w.ttft, w.ttft >= 0);
    add_num(o, "ceiling_fraction", w.ceiling_fraction, w.ceiling_fraction >= 0);
    if (r->ran) {
        cJSON *ma = cJSON_AddObjectToObject(o, "memory_after");
        add_num(ma, "mem_available", (double)r->after_available, r->after_available >= 0);
        cJSON_AddNumberToObject(ma, "leftover", (double)r->leftover);
        cJSON_AddBoolToObject(ma, "returned", r->returned);
    } else {
        cJSON_AddNullToObject(o, "memory_after");
    }
    cJSON *ph = cJSON_AddArrayToObject(o, "phases");
    for (int k = 0; k < r->n_phases && ph; k++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", r->phases[k].name);
        cJSON_AddNumberToObject(p, "t0_ms", r->phases[k].t0_ms);
        cJSON_AddNumberToObject(p, "t1_ms", r->phases[k].t1_ms);
        cJSON_AddItemToArray(ph, p);
    }
    /* file names relative to the report's directory */
    cJSON *f = cJSON_AddObjectToObject(o, "files");
    char buf[160];
    snprintf(buf, sizeof buf, "%s.log", r->name);
    add_str(f, "log", r->ran ? buf : NULL);
    snprintf(buf, sizeof buf, "%s.bench.json", r->name);
    add_str(f, "bench", r->report ? buf : NULL);
    snprintf(buf, sizeof buf, "%s.memory.json", r->name);
    add_str(f, "memory", r->report ? buf : NULL);
    snprintf(buf, sizeof buf, "%s.timeline.json", r->name);
    add_str(f, "timeline", r->timeline ? buf : NULL);
    snprintf(buf, sizeof buf, "%s.svg", r->name);
    add_str(f, "svg", r->timeline ? buf : NULL);
    if (r->report) cJSON_AddItemToObject(o, "bench", cJSON_Duplicate(r->report, true));
    else cJSON_AddNullToObject(o, "bench");
    return o;
}

cJSON *fg_suite_report_json(const fg_suite_report *r)
{
    const fg_suite_spec *s = r->spec;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "schema", "frugal-suite-report/1");
    add_str(o, "title", s->title);
    cJSON_AddStringToObject(o, "started", r->started);
    cJSON_AddNumberToObject(o, "wall_s", r->wall_s);
    cJSON_AddStringToObject(o, "host", r->host);
    cJSON_AddStringToObject(o, "cpu", r->cpu);
    add_num(o, "mem_total", (double)r->mem_total, r->mem_total > 0);
    add_num(o, "bandwidth_gb_s", r->bandwidth_gbs, r->bandwidth_gbs > 0);
    cJSON *st = cJSON_AddObjectToObject(o, "settings");
    cJSON_AddNumberToObject(st, "prompt_tokens", (double)s->n_prompt);
    cJSON_AddNumberToObject(st, "prompts", s->n_texts);
    cJSON_AddNumberToObject(st, "gen_tokens", (double)s->n_gen);
    cJSON_AddNumberToObject(st, "reps", s->reps);
    cJSON_AddNumberToObject(st, "ctx", (double)s->n_ctx);
    cJSON_AddNumberToObject(st, "threads", s->n_threads);
    add_num(st, "mem_limit", (double)s->mem_limit, s->mem_limit > 0);
    cJSON_AddBoolToObject(st, "fit", s->fit);
    cJSON_AddNumberToObject(st, "timeout_s", s->timeout_s);
    cJSON *models = cJSON_AddArrayToObject(o, "models");
    for (int i = 0; i < r->n && models; i++) {
        cJSON *e = entry_json(r, i);
        if (!e) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToArray(models, e);
    }
    return o;
}

/* ---- tables -------------------------------------------------------------------------------- */

#define N_COLS FG_SUITE_N_COLS
const char *const fg_suite_col_names[N_COLS] = {
    "model", "params", "type", "file", "sys used before", "predicted peak", "peak RSS", "peak sys used",
    "over file", "KV used", "swap change", "prefill tok/s", "decode tok/s", "first token", "verdict",
};

static void cell_bytes(char *c, size_t n, double v, bool valid)
{
    if (!valid) snprintf(c, n, "-");
    else if (v < 0) {
        char b[32];
        snprintf(c, n, "-%s", fg_mem_fmt_bytes((int64_t)-v, b, sizeof b));
    } else {
        fg_mem_fmt_bytes((int64_t)v, c, n);
    }
}

void fg_suite_row_cells(const fg_suite_report *rep, int i, char cells[N_COLS][FG_SUITE_CELL])
{
    const fg_suite_result *r = &rep->results[i];
    row w = row_of(rep, r);
    char b[32];
    snprintf(cells[0], FG_SUITE_CELL, "%s", r->name);
    fg_suite_params_str(w.params, cells[1], FG_SUITE_CELL);
    snprintf(cells[2], FG_SUITE_CELL, "%s", w.weight_type ? w.weight_type : "-");
    cell_bytes(cells[3], FG_SUITE_CELL, w.file_size, w.file_size >= 0);
    if (w.used_before >= 0) snprintf(cells[4], FG_SUITE_CELL, "%s (%.1f%%)", fg_mem_fmt_bytes((int64_t)w.used_before, b, sizeof b), w.used_before_pct);
    else snprintf(cells[4], FG_SUITE_CELL, "-");
    cell_bytes(cells[5], FG_SUITE_CELL, w.predicted, w.predicted >= 0);
    cell_bytes(cells[6], FG_SUITE_CELL, w.peak_rss, w.peak_rss >= 0);
    if (w.peak_sys_pct >= 0) snprintf(cells[7], FG_SUITE_CELL, "%.1f%%", w.peak_sys_pct);
    else snprintf(cells[7], FG_SUITE_CELL, "-");
    cell_bytes(cells[8], FG_SUITE_CELL, w.over_file, !NA(w.over_file));
    cell_bytes(cells[9], FG_SUITE_CELL, w.kv, w.kv >= 0);
    cell_bytes(cells[10], FG_SUITE_CELL, w.swap_change, !NA(w.swap_change));
    if (w.prefill >= 0) snprintf(cells[11], FG_SUITE_CELL, "%.1f", w.prefill);
    else snprintf(cells[11], FG_SUITE_CELL, "-");
    if (w.decode >= 0) snprintf(cells[12], FG_SUITE_CELL, "%.1f", w.decode);
    else snprintf(cells[12], FG_SUITE_CELL, "-");
    if (w.ttft >= 0) snprintf(cells[13], FG_SUITE_CELL, "%.0f ms", w.ttft);
    else snprintf(cells[13], FG_SUITE_CELL, "-");
    fg_suite_verdict_text(r, cells[14], FG_SUITE_CELL);
}

static void notes(const fg_suite_report *rep, fg_sbuf *b, bool md)
{
    bool any = false;
    for (int i = 0; i < rep->n; i++) {
        const fg_suite_result *r = &rep->results[i];
        bool leak = r->ran && !r->returned;
        if (!r->message[0] && !leak) continue;
        if (!any) fg_sbuf_puts(b, md ? "\n**Notes**\n\n" : "\nnotes:\n");
        any = true;
        char v[64];
        fg_sbuf_printf(b, md ? "- **%s** (%s): %s" : "  %s (%s): %s", r->name, fg_suite_verdict_text(r, v, sizeof v),
                       r->message[0] ? r->message : "");
        if (leak) {
            char x[32];
            fg_sbuf_printf(b, "%s%s of the system's available memory had not come back after it exited",
                           r->message[0] ? "; " : "", fg_mem_fmt_bytes(r->leftover, x, sizeof x));
        }
        fg_sbuf_puts(b, "\n");
    }
}

static void header_lines(const fg_suite_report *r, fg_sbuf *b, bool md)
{
    const fg_suite_spec *s = r->spec;
    char x[32], y[32];
    fg_sbuf_printf(b, md ? "# %s\n\n" : "%s\n", s->title ? s->title : "frugal suite");
    fg_sbuf_printf(b, "%s%s, %s, RAM %s; started %s, %.0f s%s\n", md ? "" : "  ", r->host, r->cpu,
                   fg_mem_fmt_bytes(r->mem_total, x, sizeof x), r->started, r->wall_s, md ? "  " : "");
    if (s->n_texts) fg_sbuf_printf(b, "%s%d prompt text(s)", md ? "" : "  ", s->n_texts);
    else fg_sbuf_printf(b, "%sprompt %lld tokens", md ? "" : "  ", (long long)s->n_prompt);
    fg_sbuf_printf(b, ", %lld generated, %d repetitions, ctx %lld, %d threads", (long long)s->n_gen, s->reps,
                   (long long)s->n_ctx, s->n_threads > 0 ? s->n_threads : fg_physical_cores());
    if (r->bandwidth_gbs > 0) fg_sbuf_printf(b, ", read bandwidth %.1f GB/s", r->bandwidth_gbs);
    if (s->mem_limit > 0) fg_sbuf_printf(b, "; memory limit %s%s", fg_mem_fmt_bytes(s->mem_limit, y, sizeof y), s->fit ? " (--fit)" : "");
    fg_sbuf_puts(b, md ? "\n\n" : "\n\n");
}

char *fg_suite_table_text(const fg_suite_report *r)
{
    fg_sbuf b = {0};
    char(*cells)[N_COLS][FG_SUITE_CELL] = calloc((size_t)r->n, sizeof *cells);
    if (!cells) return NULL;
    size_t width[N_COLS];
    for (int c = 0; c < N_COLS; c++) width[c] = strlen(fg_suite_col_names[c]);
    for (int i = 0; i < r->n; i++) {
        fg_suite_row_cells(r, i, cells[i]);
        for (int c = 0; c < N_COLS; c++)
            if (strlen(cells[i][c]) > width[c]) width[c] = strlen(cells[i][c]);
    }
    header_lines(r, &b, false);
    for (int c = 0; c < N_COLS; c++)
        fg_sbuf_printf(&b, c == 0 ? "%-*s" : "  %*s", (int)width[c], fg_suite_col_names[c]);
    fg_sbuf_puts(&b, "\n");
    for (int i = 0; i < r->n; i++) {
        for (int c = 0; c < N_COLS; c++)
            fg_sbuf_printf(&b, c == 0 || c == N_COLS - 1 ? (c ? "  %-*s" : "%-*s") : "  %*s", (int)width[c], cells[i][c]);
        fg_sbuf_puts(&b, "\n");
    }
    notes(r, &b, false);
    free(cells);
    return fg_sbuf_take(&b);
}

static void md_cell(fg_sbuf *b, const char *s)
{
    fg_sbuf_puts(b, " ");
    for (; *s; s++) {
        if (*s == '|') fg_sbuf_puts(b, "\\|");
        else fg_sbuf_printf(b, "%c", *s);
    }
    fg_sbuf_puts(b, " |");
}

char *fg_suite_table_markdown(const fg_suite_report *r)
{
    fg_sbuf b = {0};
    char cells[N_COLS][FG_SUITE_CELL];
    header_lines(r, &b, true);
    fg_sbuf_puts(&b, "|");
    for (int c = 0; c < N_COLS; c++) md_cell(&b, fg_suite_col_names[c]);
    fg_sbuf_puts(&b, "\n|");
    for (int c = 0; c < N_COLS; c++) fg_sbuf_puts(&b, c == 0 || c == 2 || c == N_COLS - 1 ? " --- |" : " ---: |");
    fg_sbuf_puts(&b, "\n");
    for (int i = 0; i < r->n; i++) {
        fg_suite_row_cells(r, i, cells);
        fg_sbuf_puts(&b, "|");
        for (int c = 0; c < N_COLS; c++) md_cell(&b, cells[c]);
        fg_sbuf_puts(&b, "\n");
    }
    notes(r, &b, true);
    return fg_sbuf_take(&b);
}

static void csv_str(fg_sbuf *b, const char *s)
{
    fg_sbuf_puts(b, "\"");
    for (; s && *s; s++) {
        if (*s == '"') fg_sbuf_puts(b, "\"\"");
        else fg_sbuf_printf(b, "%c", *s);
    }
    fg_sbuf_puts(b, "\"");
}

static void csv_num(fg_sbuf *b, double v, bool valid, int decimals)
{
    if (valid) fg_sbuf_printf(b, ",%.*f", decimals, v);
    else fg_sbuf_puts(b, ",");
}

char *fg_suite_csv(const fg_suite_report *r)
{
    fg_sbuf b = {0};
    fg_sbuf_puts(&b, "model,path,params,weight_type,file_size,sys_used_before,sys_used_before_pct,predicted_peak,"
                     "peak_rss,peak_sys_used_pct,overhead_over_file,kv_used,swap_change,prefill_tok_s,decode_tok_s,"
                     "ttft_ms,verdict,message\n");
    for (int i = 0; i < r->n; i++) {
        const fg_suite_result *e = &r->results[i];
        row w = row_of(r, e);
        csv_str(&b, e->name);
        fg_sbuf_puts(&b, ",");
        csv_str(&b, e->entry ? e->entry->path : "");
        csv_num(&b, w.params, w.params >= 0, 0);
        fg_sbuf_puts(&b, ",");
        csv_str(&b, w.weight_type ? w.weight_type : "");
        csv_num(&b, w.file_size, w.file_size >= 0, 0);
        csv_num(&b, w.used_before, w.used_before >= 0, 0);
        csv_num(&b, w.used_before_pct, w.used_before_pct >= 0, 2);
        csv_num(&b, w.predicted, w.predicted >= 0, 0);
        csv_num(&b, w.peak_rss, w.peak_rss >= 0, 0);
        csv_num(&b, w.peak_sys_pct, w.peak_sys_pct >= 0, 2);
        csv_num(&b, w.over_file, !NA(w.over_file), 0);
        csv_num(&b, w.kv, w.kv >= 0, 0);
        csv_num(&b, w.swap_change, !NA(w.swap_change), 0);
        csv_num(&b, w.prefill, w.prefill >= 0, 3);
        csv_num(&b, w.decode, w.decode >= 0, 3);
        csv_num(&b, w.ttft, w.ttft >= 0, 3);
        fg_sbuf_puts(&b, ",");
        csv_str(&b, fg_verdict_name(e->verdict));
        fg_sbuf_puts(&b, ",");
        csv_str(&b, e->message);
        fg_sbuf_puts(&b, "\n");
    }
    return fg_sbuf_take(&b);
}

/* ---- files ----------------------------------------------------------------------------------- */

static fg_status write_text(const char *dir, const char *name, char *text)
{
    if (!text) return fg_error(FG_ERR_NOMEM, "out of memory building %s", name);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    bool ok = f && fputs(text, f) >= 0;
    if (f) ok = (fclose(f) == 0) && ok;
    int err = errno;
    free(text);
    return ok ? FG_OK : fg_error(FG_ERR_IO, "cannot write %s: %s", path, strerror(err));
}

static char *json_text(const cJSON *j)
{
    if (!j) return NULL;
    char *t = cJSON_Print(j);
    if (!t) return NULL;
    size_t n = strlen(t);
    char *s = malloc(n + 2);
    if (s) {
        memcpy(s, t, n);
        s[n] = '\n';
        s[n + 1] = 0;
    }
    cJSON_free(t);
    return s;
}

fg_status fg_suite_write_reports(const fg_suite_report *r, const char *dir)
{
    fg_status st;
    cJSON *j = fg_suite_report_json(r);
    st = write_text(dir, "report.json", json_text(j));
    cJSON_Delete(j);
    if (st) return st;
    if ((st = write_text(dir, "report.md", fg_suite_table_markdown(r)))) return st;
    if ((st = write_text(dir, "report.csv", fg_suite_csv(r)))) return st;
    for (int i = 0; i < r->n; i++) {
        const fg_suite_result *e = &r->results[i];
        if (!e->timeline) continue;
        char name[200];
        snprintf(name, sizeof name, "%s.timeline.json", e->name);
        char *t = cJSON_PrintUnformatted(e->timeline);
        char *copy = t ? strdup(t) : NULL;
        cJSON_free(t);
        if ((st = write_text(dir, name, copy))) return st;
        snprintf(name, sizeof name, "%s.svg", e->name);
        if ((st = write_text(dir, name, fg_suite_svg_entry(r, i)))) return st;
    }
    if ((st = write_text(dir, "compare.svg", fg_suite_svg_compare(r)))) return st;
    return write_text(dir, "report.html", fg_suite_html(r));
}
