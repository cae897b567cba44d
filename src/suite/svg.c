/* SVG charts of a suite report (self-contained: no scripts, no external fonts).
 *
 * Per entry: the child's memory over time as the parent sampled it — anonymous memory
 * (heap, KV cache, scratch) at the bottom, file-backed memory (the mapped weights) stacked
 * on top — with the phases shaded (load, prefill, decode), the weights file's size as a
 * dashed line and the memory limit as a red line.
 *
 * Comparison: one bar per entry, the measured peak RSS split into the weights (as computed
 * with: the mapped file, or the copy converted while loading) and the rest, the plan's
 * prediction as a tick and the limit as a red line; entries
 * that did not run show their verdict instead of a bar. */
#include "suite/suite-impl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 760
#define H 320
#define ML 78  /* margins of the plot area */
#define MR 20
#define MT 44
#define MB 44

static const char *phase_color(const char *name)
{
    if (!strcmp(name, "load")) return "#9ecae1";
    if (!strcmp(name, "prefill")) return "#fdd0a2";
    if (!strcmp(name, "decode")) return "#c7e9c0";
    if (!strcmp(name, "bandwidth")) return "#dadaeb";
    return NULL;
}

/* A "nice" step (1, 2 or 5 times a power of ten) giving about n ticks over range. */
static double nice_step(double range, int n)
{
    if (!(range > 0)) return 1;
    double raw = range / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void svg_open(fg_sbuf *b, int w, int h, const char *title)
{
    fg_sbuf_printf(b,
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                   "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
                   "<title>",
                   w, h, w, h);
    fg_sbuf_xml(b, title);
    fg_sbuf_puts(b, "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
}

/* Bytes axis label in binary units with the step's precision. */
/* An axis label in the unit of the step, with the decimals the step needs. */
static void bytes_label(char *buf, size_t n, double v, double step)
{
    const double KiB = 1024.0, MiB = KiB * 1024, GiB = MiB * 1024;
    double unit = step >= GiB / 10 ? GiB : step >= MiB / 10 ? MiB : KiB;
    const char *name = unit == GiB ? "GiB" : unit == MiB ? "MiB" : "KiB";
    double s = step / unit;
    int dec = s >= 1 ? 0 : s >= 0.1 ? 1 : 2;
    snprintf(buf, n, "%.*f %s", dec, v / unit, name);
}

/* A nice step in the unit the axis is labelled in (GiB, MiB or KiB). */
static double nice_bytes_step(double max)
{
    const double KiB = 1024.0, MiB = KiB * 1024, GiB = MiB * 1024;
    double unit = max >= GiB ? GiB : max >= MiB ? MiB : KiB;
    return nice_step(max / unit, 5) * unit;
}

char *fg_suite_svg_entry(const fg_suite_report *rep, int i)
{
    const fg_suite_result *r = &rep->results[i];
    const cJSON *samples = r->timeline ? cJSON_GetObjectItemCaseSensitive(r->timeline, "samples") : NULL;
    int n = cJSON_GetArraySize(samples);
    double *t = calloc((size_t)n + 1, sizeof *t), *anon = calloc((size_t)n + 1, sizeof *anon),
           *file = calloc((size_t)n + 1, sizeof *file);
    fg_sbuf b = {0};
    if (!t || !anon || !file) goto fail;
    int m = 0;
    double tmax = r->wall_s > 0 ? r->wall_s : 0, ymax = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, samples) {
        /* [t_ms, rss_anon, rss_file, ...] */
        const cJSON *a = cJSON_GetArrayItem(s, 0), *b1 = cJSON_GetArrayItem(s, 1), *c = cJSON_GetArrayItem(s, 2);
        if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b1) || !cJSON_IsNumber(c) || b1->valuedouble < 0) continue;
        t[m] = a->valuedouble / 1e3;
        anon[m] = b1->valuedouble;
        file[m] = c->valuedouble > 0 ? c->valuedouble : 0;
        if (t[m] > tmax) tmax = t[m];
        if (anon[m] + file[m] > ymax) ymax = anon[m] + file[m];
        m++;
    }
    double limit = rep->spec && rep->spec->mem_limit > 0 ? (double)rep->spec->mem_limit : -1;
    double fsize = fg_suite_num(r->report, "file_size");
    double peak = fg_suite_num(r->report, "peak_rss");
    if (limit > ymax) ymax = limit;
    if (fsize > ymax) ymax = fsize;
    if (peak > ymax) ymax = peak;
    if (ymax <= 0) ymax = 1 << 20;
    ymax *= 1.08;
    if (tmax <= 0) tmax = 1;
    double ystep = nice_bytes_step(ymax), xstep = nice_step(tmax, 8);
    const double pw = W - ML - MR, ph = H - MT - MB;
#define X(v) (ML + (v) / tmax * pw)
#define Y(v) (MT + ph - (v) / ymax * ph)

    char title[256], lb[48], lb2[48];
    snprintf(title, sizeof title, "%s: memory over time", r->name);
    svg_open(&b, W, H, title);
    fg_sbuf_printf(&b, "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">", ML);
    fg_sbuf_xml(&b, r->name);
    char v[64];
    fg_sbuf_printf(&b, "</text>\n<text x=\"%d\" y=\"34\" fill=\"#555\">%s", ML, fg_suite_verdict_text(r, v, sizeof v));
    if (peak > 0) fg_sbuf_printf(&b, " \xc2\xb7 peak RSS %s", fg_mem_fmt_bytes((int64_t)peak, lb, sizeof lb));
    if (r->plan_peak > 0) fg_sbuf_printf(&b, " \xc2\xb7 predicted %s", fg_mem_fmt_bytes(r->plan_peak, lb2, sizeof lb2));
    fg_sbuf_puts(&b, "</text>\n");

    /* phases */
    for (int k = 0; k < r->n_phases; k++) {
        const char *col = phase_color(r->phases[k].name);
        if (!col) continue;
        double x0 = X(r->phases[k].t0_ms / 1e3), x1 = X(r->phases[k].t1_ms / 1e3);
        fg_sbuf_printf(&b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" opacity=\"0.55\"><title>",
                       x0, MT, x1 - x0 > 0.5 ? x1 - x0 : 0.5, ph, col);
        fg_sbuf_xml(&b, r->phases[k].name);
        fg_sbuf_printf(&b, " %.2f-%.2f s</title></rect>\n", r->phases[k].t0_ms / 1e3, r->phases[k].t1_ms / 1e3);
        if (x1 - x0 > 46)
            fg_sbuf_printf(&b, "<text x=\"%.1f\" y=\"%d\" fill=\"#444\" font-size=\"10\">%s</text>\n", x0 + 3, MT + 12,
                           r->phases[k].name);
    }
    /* grid and axes */
    for (double y = 0; y <= ymax + 1e-9; y += ystep) {
        bytes_label(lb, sizeof lb, y, ystep);
        fg_sbuf_printf(&b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>"
                           "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%s</text>\n",
                       ML, W - MR, Y(y), Y(y), ML - 6, Y(y) + 4, lb);
    }
    for (double x = 0; x <= tmax + 1e-9; x += xstep)
        fg_sbuf_printf(&b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%g</text>\n", X(x), H - MB + 16, x);
    fg_sbuf_printf(&b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">seconds</text>\n", ML + pw / 2, H - 8);
    fg_sbuf_printf(&b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n", ML, W - MR, Y(0), Y(0));

    /* stacked areas: anon from 0, file on top of anon */
    if (m > 0) {
        fg_sbuf_printf(&b, "<path fill=\"#6baed6\" fill-opacity=\"0.85\" stroke=\"#3182bd\" stroke-width=\"0.8\" d=\"M%.1f %.1f",
                       X(t[0]), Y(0));
        for (int k = 0; k < m; k++) fg_sbuf_printf(&b, " L%.1f %.1f", X(t[k]), Y(anon[k]));
        fg_sbuf_printf(&b, " L%.1f %.1f Z\"><title>anonymous (heap, KV cache, scratch)</title></path>\n", X(t[m - 1]), Y(0));
        fg_sbuf_printf(&b, "<path fill=\"#fd8d3c\" fill-opacity=\"0.75\" stroke=\"#e6550d\" stroke-width=\"0.8\" d=\"M%.1f %.1f",
                       X(t[0]), Y(anon[0]));
        for (int k = 0; k < m; k++) fg_sbuf_printf(&b, " L%.1f %.1f", X(t[k]), Y(anon[k] + file[k]));
        for (int k = m - 1; k >= 0; k--) fg_sbuf_printf(&b, " L%.1f %.1f", X(t[k]), Y(anon[k]));
        fg_sbuf_puts(&b, " Z\"><title>file-backed (mapped weights, binary)</title></path>\n");
    } else {
        fg_sbuf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#999\">no samples</text>\n",
                       ML + pw / 2, MT + ph / 2);
    }
    if (fsize > 0)
        fg_sbuf_printf(&b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"5 4\"/>"
                           "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\" font-size=\"10\">file %s</text>\n",
                       ML, W - MR, Y(fsize), Y(fsize), W - MR - 4, Y(fsize) - 3, fg_mem_fmt_bytes((int64_t)fsize, lb, sizeof lb));
    if (limit > 0)
        fg_sbuf_printf(&b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" stroke-width=\"1.5\"/>"
                           "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#d62728\" font-size=\"10\">limit %s</text>\n",
                       ML, W - MR, Y(limit), Y(limit), W - MR - 4, Y(limit) - 3, fg_mem_fmt_bytes((int64_t)limit, lb, sizeof lb));
    /* legend */
    int lx = W - MR - 330;
    fg_sbuf_printf(&b,
                   "<rect x=\"%d\" y=\"8\" width=\"10\" height=\"10\" fill=\"#6baed6\"/><text x=\"%d\" y=\"17\">anon</text>"
                   "<rect x=\"%d\" y=\"8\" width=\"10\" height=\"10\" fill=\"#fd8d3c\"/><text x=\"%d\" y=\"17\">file</text>"
                   "<rect x=\"%d\" y=\"8\" width=\"10\" height=\"10\" fill=\"#9ecae1\"/><text x=\"%d\" y=\"17\">load</text>"
                   "<rect x=\"%d\" y=\"8\" width=\"10\" height=\"10\" fill=\"#fdd0a2\"/><text x=\"%d\" y=\"17\">prefill</text>"
                   "<rect x=\"%d\" y=\"8\" width=\"10\" height=\"10\" fill=\"#c7e9c0\"/><text x=\"%d\" y=\"17\">decode</text>\n",
                   lx, lx + 14, lx + 60, lx + 74, lx + 112, lx + 126, lx + 168, lx + 182, lx + 238, lx + 252);
    fg_sbuf_puts(&b, "</svg>\n");
#undef X
#undef Y
    free(t);
    free(anon);
    free(file);
    return fg_sbuf_take(&b);
fail:
    free(t);
    free(anon);
    free(file);
    return NULL;
}

char *fg_suite_svg_compare(const fg_suite_report *rep)
{
    const int row_h = 30, top = 48, left = 200, right = 150;
    int h = top + rep->n * row_h + 44;
    fg_sbuf b = {0};
    double xmax = 0, limit = rep->spec && rep->spec->mem_limit > 0 ? (double)rep->spec->mem_limit : -1;
    for (int i = 0; i < rep->n; i++) {
        const fg_suite_result *r = &rep->results[i];
        double peak = fg_suite_num(r->report, "peak_rss");
        if (peak < 0 && r->ran) peak = (double)r->sampled_peak_rss;
        if (peak > xmax) xmax = peak;
        if (r->plan_peak > xmax) xmax = (double)r->plan_peak;
    }
    if (limit > xmax) xmax = limit;
    if (xmax <= 0) xmax = 1 << 20;
    xmax *= 1.05;
    const double pw = W - left - right;
#define X(v) (left + (v) / xmax * pw)
    svg_open(&b, W, h, "peak memory per model");
    fg_sbuf_printf(&b, "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">Peak RSS per model</text>\n", 10);
    fg_sbuf_printf(&b,
                   "<rect x=\"%d\" y=\"28\" width=\"10\" height=\"10\" fill=\"#fd8d3c\"/><text x=\"%d\" y=\"37\">weights</text>"
                   "<rect x=\"%d\" y=\"28\" width=\"10\" height=\"10\" fill=\"#6baed6\"/><text x=\"%d\" y=\"37\">the rest (KV cache, scratch, tokenizer, runtime)</text>"
                   "<line x1=\"%d\" x2=\"%d\" y1=\"33\" y2=\"33\" stroke=\"#000\" stroke-width=\"2\"/><text x=\"%d\" y=\"37\">predicted</text>\n",
                   10, 24, 90, 104, 410, 422, 428);
    double step = nice_bytes_step(xmax);
    char lb[48], lb2[48];
    for (double x = 0; x <= xmax + 1e-9; x += step) {
        bytes_label(lb, sizeof lb, x, step);
        fg_sbuf_printf(&b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#e8e8e8\"/>"
                           "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\" font-size=\"10\">%s</text>\n",
                       X(x), X(x), top - 4, top + rep->n * row_h, X(x), top + rep->n * row_h + 14, lb);
    }
    for (int i = 0; i < rep->n; i++) {
        const fg_suite_result *r = &rep->results[i];
        int y = top + i * row_h;
        fg_sbuf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 8, y + 19);
        fg_sbuf_xml(&b, r->name);
        fg_sbuf_puts(&b, "</text>\n");
        /* the weights as computed with: the mapped file, or the converted copy */
        double peak = fg_suite_num(r->report, "peak_rss"), fsize = fg_suite_num(r->report, "weight_bytes");
        if (peak < 0 && r->ran) peak = (double)r->sampled_peak_rss;
        char v[64];
        fg_suite_verdict_text(r, v, sizeof v);
        if (peak > 0) {
            double f = fsize > 0 ? (fsize < peak ? fsize : peak) : 0;
            fg_sbuf_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#fd8d3c\"/>", left, y + 6,
                           X(f) - left, row_h - 12);
            fg_sbuf_printf(&b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#6baed6\"><title>peak RSS %s</title></rect>",
                           X(f), y + 6, X(peak) - X(f), row_h - 12, fg_mem_fmt_bytes((int64_t)peak, lb, sizeof lb));
            fg_sbuf_printf(&b, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\">%s \xc2\xb7 ", X(peak) + 6, y + 19, lb);
            fg_sbuf_xml(&b, v);
            fg_sbuf_puts(&b, "</text>\n");
        } else {
            fg_sbuf_printf(&b, "<text x=\"%d\" y=\"%d\" fill=\"#a00\" font-size=\"11\">", left + 4, y + 19);
            fg_sbuf_xml(&b, v);
            fg_sbuf_puts(&b, "</text>\n");
        }
        if (r->plan_peak > 0)
            fg_sbuf_printf(&b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#000\" stroke-width=\"2\">"
                               "<title>predicted %s</title></line>\n",
                           X((double)r->plan_peak), X((double)r->plan_peak), y + 3, y + row_h - 3,
                           fg_mem_fmt_bytes(r->plan_peak, lb2, sizeof lb2));
    }
    if (limit > 0)
        fg_sbuf_printf(&b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#d62728\" stroke-width=\"1.5\"/>"
                           "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#d62728\" font-size=\"10\">limit %s</text>\n",
                       X(limit), X(limit), top - 6, top + rep->n * row_h, X(limit), top + rep->n * row_h + 28,
                       fg_mem_fmt_bytes((int64_t)limit, lb, sizeof lb));
#undef X
    fg_sbuf_puts(&b, "</svg>\n");
    return fg_sbuf_take(&b);
}
