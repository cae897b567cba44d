/* frugal synth CONFIG|SHAPE OUT [--format hf|gguf] [--dtype f32|f16|bf16|q8_0|q4_0|q4_k_m|q5_k_m|q6_k]
 *              [--tokenizer DIR | --no-tokenizer] [--seed N] [--set key=value ...] [--threads N]
 *
 * Writes a synthetic random-weight model (docs/SYNTHETIC-SPEC.md): a Hugging Face
 * directory or a GGUF file, streaming in constant memory. CONFIG is a spec config
 * (JSON) or a built-in full-size shape (qwen2.5-0.5b, ...). Without --tokenizer the
 * Qwen tokenizer is used: $FG_TOKENIZER_DIR, else the copy in the source tree's test
 * data (tests/data/tokenizers/qwen, unpacked with xz into a temporary directory). */
#include "cli/cli.h"
#include "format/synth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: frugal synth CONFIG|SHAPE OUT [options]\n"
               "  CONFIG              a synthetic-model config (JSON, docs/SYNTHETIC-SPEC.md), or a shape:\n"
               "                      ");
    for (const char *const *n = fg_synth_builtin_names(); *n; n++) fprintf(f, "%s%s", *n, n[1] ? ", " : "\n");
    fprintf(f, "  OUT                 output: a directory (hf) or a file (gguf)\n"
               "  --format hf|gguf    output format (default: gguf when OUT ends in .gguf, else hf)\n"
               "  --dtype TYPE        weight type: f32 (default), f16, bf16; GGUF only: q8_0, q4_0,\n"
               "                      q4_k_m, q5_k_m, q6_k, generated straight into the quantized type with\n"
               "                      the mixture of `frugal quantize` (see `frugal quantize --help`);\n"
               "                      norms and biases stay f32 in GGUF\n"
               "  --threads N         threads for GGUF output (default: the physical cores)\n"
               "  --tokenizer DIR     directory with tokenizer.json and tokenizer_config.json\n"
               "                      (default: $FG_TOKENIZER_DIR, else the Qwen tokenizer of the test data)\n"
               "  --no-tokenizer      write no tokenizer\n"
               "  --seed N            override the config's seed (any 64-bit integer)\n"
               "  --set KEY=VALUE     override a config field (repeatable), e.g. --set num_hidden_layers=4\n");
}

/* ---- the default tokenizer ------------------------------------------------------------ */

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The source tree's root, from this file's compile-time path (…/src/cli/cmd_synth.c). */
static bool source_root(char *out, size_t size)
{
    const char *f = __FILE__;
    const char *tail = strstr(f, "src/cli/cmd_synth.c");
    if (f[0] != '/' || !tail) return false;
    snprintf(out, size, "%.*s", (int)(tail - f), f);
    return true;
}

static bool copy_small_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in) return false;
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return false;
    }
    char buf[65536];
    size_t n;
    bool ok = true;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) ok = ok && fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    fclose(in);
    return (fclose(out) == 0) && ok;
}

/* xz -dc SRC > DST */
static bool xz_decompress(const char *src, const char *dst)
{
    int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return false;
    }
    if (pid == 0) {
        dup2(fd, 1);
        execlp("xz", "xz", "-dc", src, (char *)NULL);
        _exit(127);
    }
    close(fd);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Finds the default Qwen tokenizer; an unpacked copy goes into *tmpdir (to remove). */
static const char *default_tokenizer(char *buf, size_t size, char **tmpdir)
{
    const char *env = getenv("FG_TOKENIZER_DIR");
    if (env && *env) return env;
    char root[2048], p[4096];
    if (!source_root(root, sizeof root)) return NULL;
    snprintf(buf, size, "%stests/data/tokenizers/qwen", root);
    snprintf(p, sizeof p, "%s/tokenizer.json", buf);
    if (is_file(p)) return buf;
    char xz[4096];
    snprintf(xz, sizeof xz, "%s/tokenizer.json.xz", buf);
    if (!is_file(xz)) return NULL;
    const char *t = getenv("TMPDIR");
    char tmpl[1024];
    snprintf(tmpl, sizeof tmpl, "%s/frugal-tok.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpl)) return NULL;
    *tmpdir = strdup(tmpl);
    snprintf(p, sizeof p, "%s/tokenizer.json", tmpl);
    char cfg_in[4096], cfg_out[4096];
    snprintf(cfg_in, sizeof cfg_in, "%s/tokenizer_config.json", buf);
    snprintf(cfg_out, sizeof cfg_out, "%s/tokenizer_config.json", tmpl);
    if (!xz_decompress(xz, p) || (is_file(cfg_in) && !copy_small_file(cfg_in, cfg_out))) return NULL;
    snprintf(buf, size, "%s", tmpl);
    return buf;
}

static void remove_tmpdir(char *dir)
{
    if (!dir) return;
    char p[4096];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    unlink(p);
    rmdir(dir);
    free(dir);
}

/* ---- progress ---------------------------------------------------------------------------- */

typedef struct progress {
    int last_pct;
} progress;

static void on_progress(uint64_t done, uint64_t total, void *user)
{
    progress *p = user;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct == p->last_pct) return;
    p->last_pct = pct;
    char a[32], b[32];
    fprintf(stderr, "\rsynth: %3d%%  %s of %s ", pct, cli_bytes(done, a, sizeof a), cli_bytes(total, b, sizeof b));
    fflush(stderr);
}

/* ---- the command ------------------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int cmd_synth(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0;
    const char *format = NULL, *dtype_s = "f32", *tok = NULL, *seed = NULL;
    long long n_threads = 0;
    bool no_tok = false;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    size_t n_sets = 0;
    if (!sets) return cli_fail("out of memory");
    int rc = 1;
    char *tmpdir = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
#define OPT(name) (!strcmp(a, name) ? (i + 1 < argc ? (val = argv[++i]) : NULL) : \
                   (!strncmp(a, name "=", sizeof name) ? (val = a + sizeof name) : NULL))
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(sets);
            return 0;
        } else if (OPT("--format")) {
            format = val;
        } else if (OPT("--dtype")) {
            dtype_s = val;
        } else if (OPT("--tokenizer")) {
            tok = val;
        } else if (OPT("--seed")) {
            seed = val;
        } else if (OPT("--threads")) {
            if (!cli_parse_int(val, 1, 1024, &n_threads)) {
                cli_fail("synth: --threads must be an integer from 1 to 1024 (got '%s')", val);
                goto out;
            }
        } else if (OPT("--set")) {
            sets[n_sets++] = val;
        } else if (!strcmp(a, "--no-tokenizer")) {
            no_tok = true;
        } else if (a[0] == '-' && a[1]) {
            if (!strcmp(a, "--format") || !strcmp(a, "--dtype") || !strcmp(a, "--tokenizer") || !strcmp(a, "--seed") ||
                !strcmp(a, "--set") || !strcmp(a, "--threads"))
                cli_fail("synth: %s needs a value", a);
            else
                cli_fail("synth: unknown option '%s' (try `frugal synth --help`)", a);
            goto out;
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            cli_fail("synth: unexpected argument '%s' (CONFIG and OUT only)", a);
            goto out;
        }
#undef OPT
    }
    if (n_pos < 2) {
        cli_fail("synth: needs CONFIG (or a shape) and OUT (try `frugal synth --help`)");
        goto out;
    }

    fg_synth_format fmt;
    if (!format) format = ends_with(pos[1], ".gguf") ? "gguf" : "hf";
    if (!strcmp(format, "hf")) {
        fmt = FG_SYNTH_HF;
    } else if (!strcmp(format, "gguf")) {
        fmt = FG_SYNTH_GGUF;
    } else {
        cli_fail("synth: --format must be hf or gguf (got '%s')", format);
        goto out;
    }
    fg_dtype dt = fg_dtype_from_name(dtype_s);
    fg_quant_mix mix = FG_QMIX_NONE;
    if (dt != FG_DT_F32 && dt != FG_DT_F16 && dt != FG_DT_BF16) {
        if (!fg_quant_mix_from_name(dtype_s, &mix) || mix == FG_QMIX_F16 || mix == FG_QMIX_BF16) {
            cli_fail("synth: --dtype must be f32, f16, bf16, q8_0, q4_0, q4_k_m, q5_k_m or q6_k (got '%s')", dtype_s);
            goto out;
        }
        if (fmt != FG_SYNTH_GGUF) {
            cli_fail("synth: --dtype %s needs GGUF output (safetensors hold f32, f16 or bf16)", dtype_s);
            goto out;
        }
    }
    char seed_set[96];
    if (seed) {
        snprintf(seed_set, sizeof seed_set, "seed=%s", seed);
        sets[n_sets++] = seed_set;
    }

    /* The Llama 3 tokenizer is not shipped: the llama-3.2-1b shape without --tokenizer
     * gets the Qwen tokenizer cut to its 128256 rows. */
    const char *builtin = fg_synth_builtin_json(pos[0]);
    bool qwen_for_llama = builtin && !tok && !no_tok && !strcmp(pos[0], "llama-3.2-1b");
    char cut_set[64];
    if (qwen_for_llama) {
        snprintf(cut_set, sizeof cut_set, "vocab_cut=128256");
        bool user_cut = false;
        for (size_t i = 0; i < n_sets; i++) user_cut |= !strncmp(sets[i], "vocab_cut=", 10);
        if (!user_cut) sets[n_sets++] = cut_set;
    }

    fg_synth_config cfg;
    fg_status s = fg_synth_config_load(pos[0], sets, n_sets, &cfg);
    if (s) {
        cli_fail("synth: %s", fg_last_error());   /* the message names the config */
        goto out;
    }

    char tokbuf[4096];
    if (!tok && !no_tok) {
        tok = default_tokenizer(tokbuf, sizeof tokbuf, &tmpdir);
        if (!tok) {
            cli_fail("synth: no tokenizer found (pass --tokenizer DIR, set FG_TOKENIZER_DIR, or --no-tokenizer)");
            goto out;
        }
    }
    if (qwen_for_llama)
        fprintf(stderr, "synth: note: the Llama 3 tokenizer is not shipped; writing the Qwen tokenizer cut to "
                        "%lld tokens (pass --tokenizer DIR for the real one)\n", (long long)cfg.vocab_cut);

    progress pr = {-1};
    bool tty = isatty(2);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* GGUF f16/bf16 are the mixtures of the same name (every matrix in that type) */
    if (fmt == FG_SYNTH_GGUF && dt == FG_DT_F16) mix = FG_QMIX_F16;
    if (fmt == FG_SYNTH_GGUF && dt == FG_DT_BF16) mix = FG_QMIX_BF16;
    if (mix != FG_QMIX_NONE)
        s = fg_synth_write_quant(&cfg, pos[1], mix, (int)n_threads, no_tok ? NULL : tok, tty ? on_progress : NULL, &pr);
    else
        s = fg_synth_write_model(&cfg, pos[1], fmt, dt, no_tok ? NULL : tok, tty ? on_progress : NULL, &pr);
    if (tty && pr.last_pct >= 0) fprintf(stderr, "\n");
    if (s) {
        cli_fail("synth: %s", fg_last_error());   /* the message names the file */
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    uint64_t params = 0;
    fg_synth_tensor t;
    for (size_t i = 0; i < fg_synth_n_tensors(&cfg); i++) {
        fg_synth_tensor_info(&cfg, i, &t);
        params += (uint64_t)t.rows * (uint64_t)t.cols;
    }
    printf("wrote %s: %s %s, %llu parameters, %s, seed %llu (%.1f s)\n", pos[1], cfg.name,
           fg_arch_name(cfg.hf.arch), (unsigned long long)params, mix ? fg_quant_mix_name(mix) : fg_dtype_name(dt), (unsigned long long)cfg.seed, secs);
    rc = 0;
out:
    remove_tmpdir(tmpdir);
    free(sets);
    return rc;
}
