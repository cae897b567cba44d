/* cli: the `frugal` command. Each subcommand lives in its own cmd_<name>.c and is
 * listed in main.c. Subcommands print results to stdout, and errors as one line
 * "frugal: <problem>" on stderr with a non-zero exit (cli_fail). */
#ifndef FG_CLI_H
#define FG_CLI_H

#include "frugal.h"

#include <stdio.h>

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);   /* argv[0] is the subcommand name */
    const char *summary;
} cli_command;

int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_suite(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

/* Prints "frugal: <message>" (one line) to stderr; returns the exit code 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same with fg_last_error() appended after ": " when it is not empty. */
int cli_fail_status(fg_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option parsing helpers: strict integer/size parsing with a clear error. */
bool cli_parse_int(const char *s, long long lo, long long hi, long long *out);
/* A decimal number in [lo, hi] (no NaN, no trailing characters, nothing out of range). */
bool cli_parse_double(const char *s, double lo, double hi, double *out);
/* --bandwidth GB/s of bench and suite: from 1 MB/s to 100 TB/s */
#define CLI_BW_MIN 0.001
#define CLI_BW_MAX 1e5
/* Sizes like 7.4G, 512M, 1024k, 123 (bytes). */
bool cli_parse_size(const char *s, uint64_t *out);
/* Human-readable byte count, e.g. "1.23 GiB". */
const char *cli_bytes(uint64_t n, char *buf, size_t size);

/* ---- shared by run, chat, bench, suite children ---------------------------------- */
#include "model/model.h"
#include "sample/generate.h"
#include "token/token.h"

/* The tokenizer that belongs with a loaded model (GGUF metadata or the HF directory's
 * tokenizer.json). */
fg_status cli_load_tokenizer(const fg_model *m, fg_tokenizer **out);

/* Sampling options: --temp, --top-k, --top-p, --min-p, --repeat-penalty, --seed.
 * If argv[*i] is one of them, consumes it (and its value), fills p and returns 1;
 * returns 0 if it is not a sampling option, -1 after printing an error. */
int cli_sampling_option(int argc, char **argv, int *i, fg_sampler_params *p);
const char *cli_sampling_help(void);

/* Planner options shared by plan, run, chat, bench, serve: --ctx, --mem-limit, --quant,
 * --fit, --batch, --threads. Same convention as cli_sampling_option. */
#include "model/plan.h"
int cli_plan_option(int argc, char **argv, int *i, fg_plan_params *p);
/* Plans `model` with p; prints the refusal ("does not fit: needs X, limit Y; fits with
 * ...") and returns 1 when it does not fit; with p->fit, updates p->n_ctx and p->quant
 * to the chosen ones. verbose: prints the plan table on stderr. */
int cli_plan_check(const char *model, fg_plan_params *p, bool verbose);

#endif
