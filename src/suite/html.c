/* The suite's HTML page: one self-contained file (inline CSS and inline SVG, no scripts,
 * nothing fetched) with the summary, the table, the notes, the comparison chart and one
 * memory chart per model. */
#include "suite/suite-impl.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char css[] =
    "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}"
    ".sub{color:#555;margin:2px 0}"
    "table{border-collapse:collapse;font-size:12px;margin-top:12px}"
    "th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;white-space:nowrap}"
    "th{background:#f3f3f3;white-space:normal;vertical-align:bottom}td.l,th.l{text-align:left}"
    "tr.bad td{background:#fdecea}tr.good td.v{color:#1a7f37;font-weight:bold}tr.bad td.v{color:#b00020;font-weight:bold}"
    ".charts{display:flex;flex-wrap:wrap;gap:16px}.chart{border:1px solid #eee;padding:4px}"
    "ul.notes li{margin:3px 0}footer{margin-top:28px;color:#777;font-size:12px}";

static bool good(fg_verdict v)
{
    return v == FG_VERDICT_OK || v == FG_VERDICT_FITS;
}

char *fg_suite_html(const fg_suite_report *r)
{
    const fg_suite_spec *s = r->spec;
    fg_sbuf b = {0};
    char x[48], y[48];
    fg_sbuf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    fg_sbuf_xml(&b, s->title ? s->title : "frugal suite");
    fg_sbuf_printf(&b, "</title><style>%s</style></head><body>\n<h1>", css);
    fg_sbuf_xml(&b, s->title ? s->title : "frugal suite");
    fg_sbuf_puts(&b, "</h1>\n<p class=\"sub\">");
    fg_sbuf_xml(&b, r->host);
    fg_sbuf_puts(&b, " \xc2\xb7 ");
    fg_sbuf_xml(&b, r->cpu);
    fg_sbuf_printf(&b, " \xc2\xb7 RAM %s \xc2\xb7 started %s \xc2\xb7 %.0f s</p>\n<p class=\"sub\">",
                   fg_mem_fmt_bytes(r->mem_total, x, sizeof x), r->started, r->wall_s);
    if (s->n_texts) fg_sbuf_printf(&b, "%d prompt text(s)", s->n_texts);
    else fg_sbuf_printf(&b, "prompt %lld tokens", (long long)s->n_prompt);
    fg_sbuf_printf(&b, ", %lld generated, %d repetitions (medians shown), context %lld, %d threads",
                   (long long)s->n_gen, s->reps, (long long)s->n_ctx, s->n_threads > 0 ? s->n_threads : fg_physical_cores());
    if (r->bandwidth_gbs > 0) fg_sbuf_printf(&b, ", read bandwidth %.1f GB/s", r->bandwidth_gbs);
    if (s->mem_limit > 0)
        fg_sbuf_printf(&b, "; memory limit <b>%s</b>%s", fg_mem_fmt_bytes(s->mem_limit, y, sizeof y),
                       s->fit ? " (the plan chose quantization and context)" : "");
    fg_sbuf_puts(&b, "</p>\n<table>\n<tr>");
    for (int c = 0; c < FG_SUITE_N_COLS; c++)
        fg_sbuf_printf(&b, "<th%s>%s</th>", c == 0 || c == 2 || c == FG_SUITE_N_COLS - 1 ? " class=\"l\"" : "",
                       fg_suite_col_names[c]);
    fg_sbuf_puts(&b, "</tr>\n");
    char cells[FG_SUITE_N_COLS][FG_SUITE_CELL];
    for (int i = 0; i < r->n; i++) {
        fg_suite_row_cells(r, i, cells);
        fg_sbuf_printf(&b, "<tr class=\"%s\">", good(r->results[i].verdict) ? "good" : "bad");
        for (int c = 0; c < FG_SUITE_N_COLS; c++) {
            fg_sbuf_printf(&b, "<td%s>", c == 0 || c == 2 ? " class=\"l\"" : c == FG_SUITE_N_COLS - 1 ? " class=\"l v\"" : "");
            fg_sbuf_xml(&b, cells[c]);
            fg_sbuf_puts(&b, "</td>");
        }
        fg_sbuf_puts(&b, "</tr>\n");
    }
    fg_sbuf_puts(&b, "</table>\n<p class=\"sub\">peak RSS: the child's VmHWM; over file: peak RSS minus the file size "
                     "(KV cache included, shown next); peak sys used: MemTotal minus the lowest MemAvailable while the "
                     "model ran; predicted peak: the plan, before loading.</p>\n");
    bool any = false;
    for (int i = 0; i < r->n; i++) {
        const fg_suite_result *e = &r->results[i];
        bool leak = e->ran && !e->returned;
        if (!e->message[0] && !leak) continue;
        if (!any) fg_sbuf_puts(&b, "<h2>Notes</h2>\n<ul class=\"notes\">\n");
        any = true;
        char v[64];
        fg_sbuf_puts(&b, "<li><b>");
        fg_sbuf_xml(&b, e->name);
        fg_sbuf_printf(&b, "</b> (%s): ", fg_suite_verdict_text(e, v, sizeof v));
        fg_sbuf_xml(&b, e->message);
        if (leak)
            fg_sbuf_printf(&b, "%s%s of the system's available memory had not come back after it exited",
                           e->message[0] ? "; " : "", fg_mem_fmt_bytes(e->leftover, x, sizeof x));
        fg_sbuf_puts(&b, "</li>\n");
    }
    if (any) fg_sbuf_puts(&b, "</ul>\n");

    fg_sbuf_puts(&b, "<h2>Peak memory</h2>\n<div class=\"chart\">\n");
    char *cmp = fg_suite_svg_compare(r);
    if (!cmp) b.failed = true;
    else fg_sbuf_puts(&b, cmp);
    free(cmp);
    fg_sbuf_puts(&b, "</div>\n<h2>Memory over time</h2>\n<div class=\"charts\">\n");
    for (int i = 0; i < r->n; i++) {
        if (!r->results[i].timeline) continue;
        char *svg = fg_suite_svg_entry(r, i);
        if (!svg) {
            b.failed = true;
            break;
        }
        fg_sbuf_puts(&b, "<div class=\"chart\">\n");
        fg_sbuf_puts(&b, svg);
        fg_sbuf_puts(&b, "</div>\n");
        free(svg);
    }
    fg_sbuf_puts(&b, "</div>\n<footer>frugal suite \xc2\xb7 data: <a href=\"report.json\">report.json</a>, "
                     "<a href=\"report.csv\">report.csv</a>, <a href=\"report.md\">report.md</a>; per model: "
                     "&lt;name&gt;.bench.json (the child's report), .memory.json (its own timeline), "
                     ".timeline.json (sampled from outside), .log</footer>\n</body></html>\n");
    return fg_sbuf_take(&b);
}
