/* suite: measuring models — `frugal bench` (one model, in this process) and the test
 * harness behind `frugal suite` (many models, each in a fresh child process that runs
 * `frugal bench --json`, sampled from outside), with the reports and charts.
 *
 * The bench measures, for one model: load time (opening, binding, the session and one
 * read of the weights, so no timed step waits for the disk), prefill tok/s of a prompt,
 * decode tok/s of greedy generation and the time to first token (each repeated, median
 * with min/max), the rate at which the machine streams the weights and the decode
 * ceiling it implies (the read bandwidth for these bytes), and memory: peak RSS (VmHWM),
 * KV committed, the breakdown, the overhead over file + KV.
 *
 * The harness: for each entry of a suite it takes a baseline of the system's memory,
 * plans the entry against the limit (when one is given), forks and execs the frugal
 * binary (`bench --json --phase-fd N --memory-report F`), samples the child's RSS
 * (anon/file), VmSwap and the system's MemAvailable and swap every 10 ms, marks the
 * phases the child announces on the phase pipe, collects the child's JSON report,
 * classifies how it ended (ok, crashed, killed at the timeout, OOM-killed, error), and
 * checks that the system's memory came back to the baseline before the next entry.
 *
 * Phase protocol (child -> parent, the pipe given by --phase-fd): one line per phase,
 * "phase NAME\n", NAME one of start, load, prefill, decode, bandwidth (after each
 * repetition's decode, when the bench measures its ceiling), done. */
#ifndef FG_SUITE_H
#define FG_SUITE_H

#include "core/status.h"
#include "core/core.h"
#include "mem/mem.h"
#include "model/model.h"

struct cJSON;

/* ---- bench ---------------------------------------------------------------------------- */
#define FG_BENCH_MAX_REPS 64

typedef void (*fg_bench_phase_fn)(const char *phase, void *user);

typedef struct fg_bench_params {
    const char *model;          /* GGUF file or HF directory */
    int quant;                  /* fg_quant_mix to convert to while loading; 0: as stored */
    int64_t n_ctx;              /* KV cache positions; default 4096 */
    int n_threads;              /* 0: physical cores */
    int n_batch;                /* prefill chunk; 0: the session's default */
    int64_t n_prompt;           /* synthetic prompt length (ignored with texts); default 392 */
    const char *const *texts;   /* prompt texts instead of synthetic ids; rep r uses r % n */
    int n_texts;
    int64_t n_gen;              /* tokens decoded per repetition; default 128 */
    int reps;                   /* default 3, at most FG_BENCH_MAX_REPS */
    uint64_t seed;              /* synthetic prompt ids */
    double bandwidth_gbs;       /* > 0: use this figure; 0: measure the rate at which the
                                   threads stream the weights (fg_session_weight_read_rate);
                                   < 0: do not measure */
    bool profile;               /* time the decode steps' phases (fg_session_set_profile) */
    fg_bench_phase_fn on_phase; /* called at the start of each phase (may be NULL) */
    void *user;
} fg_bench_params;
fg_bench_params fg_bench_default_params(void);

typedef struct fg_bench_stat {
    double median, min, max;
} fg_bench_stat;

typedef struct fg_bench_result {
    char model[512];
    char arch[16];
    char weight_type[24];       /* "f16", "q8_0", "q4_k_m", ... (file type or mixture) */
    int64_t n_params;           /* parameters (from the shapes) */
    int64_t file_size;          /* the GGUF file, or the HF directory's *.safetensors */
    int64_t weight_bytes;       /* all weight tensors as computed with */
    int64_t weight_bytes_per_token;
    int64_t n_ctx, n_prompt, n_gen;
    int n_threads, reps;
    char isa[16];
    double load_s;
    double prefill_runs[FG_BENCH_MAX_REPS], decode_runs[FG_BENCH_MAX_REPS], ttft_runs[FG_BENCH_MAX_REPS];
    fg_bench_stat prefill_tok_s, decode_tok_s, ttft_ms;
    /* The ceiling. Measured: after each repetition's decode, in BW_PAIRS pairs of a read
     * rate of the bytes a token reads and one decode step next to it (bench.c
     * ceiling_pairs); bandwidth_runs[i] is the median rate of repetition i's pairs and
     * ceiling_fraction_runs[i] the median over them of (time to read the bytes at the
     * pair's rate) / (time of its decode step). Given (bandwidth_gbs > 0 in the params):
     * that figure for every repetition, and decode_runs[i] / (figure / bytes per token). */
    double bandwidth_runs[FG_BENCH_MAX_REPS];
    double ceiling_fraction_runs[FG_BENCH_MAX_REPS];
    int ceiling_pairs;          /* pairs per repetition; 0 when the figure was given */
    double bandwidth_gbs;       /* median of bandwidth_runs; -1 when not measured */
    double ceiling_tok_s;       /* bandwidth_gbs / weight bytes per token; -1 without bandwidth */
    double ceiling_fraction;    /* median of ceiling_fraction_runs; -1 without */
    fg_profile profile;         /* --profile: the decode steps of every repetition (steps 0: none) */
    int64_t peak_rss;           /* VmHWM at the end */
    int64_t kv_used;            /* KV cache committed at its peak */
    int64_t kv_bytes_per_token;
    int64_t tokenizer_bytes;
    bool converted;             /* weights converted while loading (--quant): owned, not the file */
    int64_t overhead;           /* peak_rss - kv_used - file_size, or - weight_bytes when converted
                                 * (the converted weights are what stays resident) */
    fg_mem_breakdown breakdown; /* at the end, model and session still loaded */
} fg_bench_result;

/* Bytes of the model's file(s) the process mapped on 2 MiB pages at the end (smaps_rollup
 * FilePmdMapped, from the breakdown); -1 when the kernel does not report it. */
static inline int64_t fg_bench_file_pmd(const fg_bench_result *r)
{
    return r->breakdown.have_smaps ? r->breakdown.smaps.file_pmd : -1;
}

/* Phase i (< FG_PROF_PHASES) of a profiled result, as both outputs print it: ms per step,
 * share of the profiled time, weight bytes per step and the rate at which the phase's
 * products read them (< 0 for a phase without products). */
typedef struct fg_bench_phase {
    const char *name;
    double ms_per_step, share, weight_bytes_per_step, weight_gb_s;
} fg_bench_phase;
fg_bench_phase fg_bench_profile_phase(const fg_bench_result *r, int i);

/* Loads the model, runs the repetitions, fills r. Errors (model, context too small for
 * prompt + generated tokens, ...) come back as a status with fg_last_error(). */
fg_status fg_bench_run(const fg_bench_params *p, fg_bench_result *r);
/* The result as the JSON object `frugal bench --json` prints (see docs/suite-report.schema.json,
 * $defs/bench). NULL if out of memory. */
struct cJSON *fg_bench_result_json(const fg_bench_result *r);
/* Median, min and max of n values (n >= 1). */
fg_bench_stat fg_bench_stats(const double *v, int n);

/* Parameter count of a decoder with these hyperparameters (embedding, layers, norms,
 * biases, and the output matrix when not tied). */
int64_t fg_bench_param_count(const fg_hparams *hp);
/* Bytes of the model's files: the GGUF file, or the *.safetensors of an HF directory. */
int64_t fg_bench_file_size(const char *path);

/* ---- suite specification ---------------------------------------------------------------
 * A suite file (JSON):
 *   {"name": "jetson-8gb",                     optional title
 *    "models": ["a.gguf", {"path": "b", "name": "b-q8", "quant": "q8_0", "ctx": 2048,
 *                          "timeout_s": 60, "env": {"VAR": "value"}}],
 *    "prompt_tokens": 392,  or  "prompts": ["text", ...]
 *    "gen_tokens": 128, "reps": 3, "ctx": 4096, "threads": 2,
 *    "mem_limit": "7.4G" (or bytes), "fit": false, "timeout_s": 600}
 * Entry fields override the suite's (ctx, timeout_s); "env" adds variables to that
 * child's environment (tests use it: FG_SUITE_TEST_CRASH=1, FG_SUITE_TEST_HANG=1, see
 * src/cli/cmd_bench.c). */
typedef struct fg_suite_entry {
    char *path;
    char *name;                 /* display name; default: the file name */
    char *quant;                /* mixture name or NULL (as stored) */
    int64_t n_ctx;              /* 0: the suite's */
    double timeout_s;           /* 0: the suite's */
    char **env;                 /* "KEY=VALUE" */
    int n_env;
} fg_suite_entry;

typedef struct fg_suite_spec {
    char *title;
    fg_suite_entry *entries;
    int n_entries;
    int64_t n_prompt;           /* default 392 */
    char **texts;
    int n_texts;
    int64_t n_gen;              /* default 128 */
    int reps;                   /* default 3 */
    int64_t n_ctx;              /* default 4096 */
    int n_threads;              /* 0: physical cores */
    int64_t mem_limit;          /* bytes; 0: none */
    bool fit;                   /* let the plan choose quantization and context */
    double timeout_s;           /* per child; default 600 */
} fg_suite_spec;

fg_status fg_suite_spec_parse(const char *json, size_t len, const char *what, fg_suite_spec *out);
fg_status fg_suite_spec_load(const char *path, fg_suite_spec *out);
/* Adds an entry (copies the strings; quant may be NULL). */
fg_status fg_suite_spec_add(fg_suite_spec *s, const char *path, const char *name, const char *quant, int64_t n_ctx);
void fg_suite_spec_init(fg_suite_spec *s);
void fg_suite_spec_free(fg_suite_spec *s);
/* Parses "7.4G", "512M", "1024k", "123" (bytes, binary multiples); false if malformed. */
bool fg_suite_parse_size(const char *s, int64_t *out);

/* ---- running ------------------------------------------------------------------------------ */
typedef enum fg_verdict {
    FG_VERDICT_OK = 0,          /* ran; no limit to compare with */
    FG_VERDICT_FITS,            /* ran; measured peak within the limit */
    FG_VERDICT_OVER_LIMIT,      /* ran; measured peak above the limit */
    FG_VERDICT_DOES_NOT_FIT,    /* the plan says it cannot fit: not run */
    FG_VERDICT_MISSING,         /* the path does not exist: not run */
    FG_VERDICT_CRASHED,         /* killed by a signal (not ours, not the OOM killer) */
    FG_VERDICT_TIMEOUT,         /* still running at the timeout: killed */
    FG_VERDICT_OOM_KILLED,      /* SIGKILL while the kernel's oom_kill count rose */
    FG_VERDICT_ERROR,           /* exited with an error, or its report was unreadable */
    FG_VERDICT_COUNT
} fg_verdict;
const char *fg_verdict_name(fg_verdict v); /* "ok", "fits", "over_limit", "does_not_fit", ... */

/* A phase span as the parent saw it (ms on the clock of the entry's timeline, which
 * starts when the child is forked). */
#define FG_SUITE_MAX_PHASES 32
typedef struct fg_suite_phase {
    char name[32];
    double t0_ms, t1_ms;
} fg_suite_phase;

typedef struct fg_suite_result {
    const fg_suite_entry *entry;
    char name[128];
    fg_verdict verdict;
    char message[512];          /* why (error line, signal, plan's suggestion), or "" */
    int exit_code;              /* -1 when killed by a signal or not run */
    int signal;                 /* 0 unless killed by a signal */
    bool ran;
    double wall_s;
    /* the system, before the child */
    int64_t mem_total, base_available, base_swap_used;
    /* the plan (when a limit was given and a planner ran) */
    bool planned;
    int64_t plan_peak;          /* predicted peak bytes; -1 when not planned */
    char plan_quant[24];        /* quantization the plan chose ("" = as stored) */
    int64_t plan_ctx;
    struct cJSON *plan;         /* the plan as JSON (owned), or NULL */
    /* sampled by the parent */
    int64_t sampled_peak_rss, sampled_peak_anon, sampled_peak_file, sampled_peak_swap;
    int64_t min_available;      /* lowest MemAvailable seen while the child ran */
    int64_t peak_swap_used;     /* highest system swap used while the child ran */
    int64_t after_available;    /* MemAvailable once settled after the child */
    int64_t leftover;           /* base_available - after_available (> 0: did not come back) */
    bool returned;              /* leftover within the tolerance */
    int n_phases;
    fg_suite_phase phases[FG_SUITE_MAX_PHASES];
    struct cJSON *timeline;     /* the parent's samples of the child (fg_timeline_json), owned */
    /* the child's own report (bench JSON), owned; NULL when it gave none */
    struct cJSON *report;
    char report_path[512], memory_path[512], log_path[512];
} fg_suite_result;

typedef struct fg_suite_progress {
    int index, count;           /* entry index (0-based) and number of entries */
    const char *name;
    const char *phase;          /* "plan", "start", "load", ..., "settle", or the verdict when done */
    double elapsed_s;
    int64_t rss, mem_total, mem_available;
    bool finished;              /* the entry is done (verdict known) */
    const fg_suite_result *result; /* when finished */
} fg_suite_progress;
typedef void (*fg_suite_progress_fn)(const fg_suite_progress *p, void *user);

typedef struct fg_suite_run_params {
    const char *exe;            /* the frugal binary; NULL: /proc/self/exe */
    const char *out_dir;        /* per-entry files go here (must exist) */
    int64_t settle_tolerance;   /* bytes; default 16 MiB */
    double settle_timeout_s;    /* wait at most this long for memory to come back; default 3 */
    int interval_ms;            /* sampling interval; default 10 */
    double bandwidth_gbs;       /* > 0: passed to children; 0: each child measures; < 0: none */
    fg_suite_progress_fn progress;
    void *user;
} fg_suite_run_params;
fg_suite_run_params fg_suite_run_default_params(void);

typedef struct fg_suite_report {
    const fg_suite_spec *spec;
    int n;
    fg_suite_result *results;
    double bandwidth_gbs;
    char started[32];           /* ISO 8601, local time */
    double wall_s;
    char host[64], cpu[128];
    int64_t mem_total;
} fg_suite_report;

/* Runs every entry in turn. Fails only on setup errors (out_dir, exe); each entry's own
 * failure is its verdict. */
fg_status fg_suite_run(const fg_suite_spec *spec, const fg_suite_run_params *p, fg_suite_report **out);
void fg_suite_report_free(fg_suite_report *r);

/* ---- reports ------------------------------------------------------------------------------
 * The JSON report (docs/suite-report.schema.json); NULL if out of memory. */
struct cJSON *fg_suite_report_json(const fg_suite_report *r);
/* Text table (aligned columns, for the terminal) / Markdown table / CSV: malloc'd strings
 * the caller frees with free(); NULL if out of memory. */
char *fg_suite_table_text(const fg_suite_report *r);
char *fg_suite_table_markdown(const fg_suite_report *r);
char *fg_suite_csv(const fg_suite_report *r);
/* SVG charts: one entry's memory over time (anon/file stacked, phases shaded, the limit
 * drawn) and all entries compared (peak RSS bars against the file size and the limit). */
char *fg_suite_svg_entry(const fg_suite_report *r, int i);
char *fg_suite_svg_compare(const fg_suite_report *r);
/* A self-contained HTML page: the table and every chart inline. */
char *fg_suite_html(const fg_suite_report *r);
/* Writes report.json, report.md, report.csv, report.html, compare.svg and one
 * <name>.svg per entry that ran into dir. */
fg_status fg_suite_write_reports(const fg_suite_report *r, const char *dir);

#endif
