/* frugal quantize IN OUT --type TYPE [--threads N]
 *
 * IN: a Hugging Face directory (F32/F16/BF16 safetensors, sharded or not) or a GGUF
 * file; OUT: a GGUF v3 file in the mixture TYPE (format/quantize.h), streamed tensor by
 * tensor in a few MiB of memory. A progress bar on stderr when it is a terminal. */
#include "cli/cli.h"
#include "format/quantize.h"

#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: frugal quantize IN OUT --type TYPE [--threads N]\n"
               "  IN                  a Hugging Face directory (config.json, model.safetensors or\n"
               "                      model.safetensors.index.json + shards, F32/F16/BF16; tokenizer.json)\n"
               "                      or a GGUF file (F32/F16/BF16; an already quantized file is\n"
               "                      dequantized and quantized again, with a warning)\n"
               "  OUT                 the GGUF v3 file to write (hyperparameters, tokenizer and chat\n"
               "                      template carried over); written as OUT.part, renamed when complete\n"
               "  --type TYPE         q8_0, q4_0, q4_k_m, q5_k_m, q6_k, f16 or bf16\n"
               "  --threads N         quantizing threads (default: the physical cores)\n\n%s"
               "\nMemory: tensors are streamed a chunk of rows at a time and the input's pages dropped\n"
               "once written, so the peak stays a few tens of MiB whatever the model's size.\n",
            fg_quantize_mix_help());
}

/* ---- progress and interruption ------------------------------------------------------------ */

typedef struct progress {
    int last_permille;
    const char *last_tensor;
} progress;

static bool bar_on;   /* the progress bar's line is open on stderr */

static void on_progress(uint64_t done, uint64_t total, const char *tensor, void *user)
{
    progress *p = user;
    int pm = total ? (int)(done * 1000 / total) : 1000;
    if (pm == p->last_permille && tensor == p->last_tensor) return;
    p->last_permille = pm;
    p->last_tensor = tensor;
    char bar[31];
    int fill = pm * 30 / 1000;
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    char a[32], b[32];
    bar_on = true;
    fprintf(stderr, "\r[%s] %5.1f%%  %s / %s  %-32.32s", bar, pm / 10.0, cli_bytes(done, a, sizeof a),
            cli_bytes(total, b, sizeof b), tensor ? tensor : "");
    fflush(stderr);
}

static void log_stderr(fg_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level < FG_LOG_WARN) return;
    if (bar_on) fprintf(stderr, "\n");
    bar_on = false;
    fprintf(stderr, "frugal: %s: %s\n", level == FG_LOG_WARN ? "warning" : "error", msg);
}

/* The part file, removed if the command is interrupted (unlink is async-signal-safe). */
static char part_path[4200];

static void on_signal(int sig)
{
    if (part_path[0]) unlink(part_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- the command ------------------------------------------------------------------------------ */

int cmd_quantize(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0;
    const char *type = NULL;
    long long n_threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--type") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc) return cli_fail("quantize: %s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--type"))
                type = v;
            else if (!cli_parse_int(v, 1, 1024, &n_threads))
                return cli_fail("quantize: --threads must be an integer from 1 to 1024 (got '%s')", v);
        } else if (!strncmp(a, "--type=", 7)) {
            type = a + 7;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("quantize: unknown option '%s' (try `frugal quantize --help`)", a);
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            return cli_fail("quantize: unexpected argument '%s' (IN and OUT only)", a);
        }
    }
    if (n_pos < 2) return cli_fail("quantize: needs IN and OUT (try `frugal quantize --help`)");
    if (!type) return cli_fail("quantize: --type is required: q8_0, q4_0, q4_k_m, q5_k_m, q6_k, f16 or bf16");
    fg_quantize_params p = fg_quantize_default_params();
    if (!fg_quant_mix_from_name(type, &p.mix) || p.mix == FG_QMIX_NONE)
        return cli_fail("quantize: unsupported --type '%s' (q8_0, q4_0, q4_k_m, q5_k_m, q6_k, f16 or bf16)", type);
    p.n_threads = (int)n_threads;

    bool tty = isatty(2);
    progress pr = {-1, NULL};
    if (tty) {
        p.progress = on_progress;
        p.user = &pr;
    }
    fg_set_log(log_stderr, NULL);
    snprintf(part_path, sizeof part_path, "%s.part", pos[1]);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fg_quantize_stats stats;
    fg_status s = fg_quantize_model(pos[0], pos[1], &p, &stats);
    if (bar_on) fprintf(stderr, "\n");
    bar_on = false;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    fg_set_log(NULL, NULL);
    if (s) return cli_fail("quantize: %s", fg_last_error());   /* the message names the file */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;

    char types[256] = "", a[32], b[32], c[32];
    for (int dt = 0; dt < FG_DT_COUNT; dt++)
        if (stats.n_by_type[dt])
            snprintf(types + strlen(types), sizeof types - strlen(types), "%s%llu %s", types[0] ? ", " : "",
                     (unsigned long long)stats.n_by_type[dt], fg_dtype_name((fg_dtype)dt));
    printf("wrote %s: %s, %llu tensors (%s), %s from %s (%.1f s)\n", pos[1], fg_quant_mix_name(p.mix),
           (unsigned long long)stats.n_tensors, types, cli_bytes(stats.out_bytes, a, sizeof a),
           cli_bytes(stats.in_bytes, b, sizeof b), secs);
    printf("largest tensor: %s, %s\n", stats.largest_name, cli_bytes(stats.largest_out_tensor, c, sizeof c));
    return 0;
}
