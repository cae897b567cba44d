/* The `frugal` command: dispatches to subcommands. */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const cli_command commands[] = {
    {"doctor", cmd_doctor, "the machine's memory situation for running models, with advice"},
    {"inspect", cmd_inspect, "show a model's architecture, hyperparameters and tensors"},
    {"chat", cmd_chat, "chat with a model, using its own chat template"},
    {"plan", cmd_plan, "predict a model's memory before loading it, and whether it fits"},
    {"run", cmd_run, "run a model on a prompt (token ids or text) and generate"},
    {"serve", cmd_serve, "serve a model: OpenAI-compatible API, metrics and a chat page"},
    {"synth", cmd_synth, "write a synthetic random-weight model (HF directory or GGUF) from a config"},
    {"tokenize", cmd_tokenize, "print the token ids (or pieces) of a text with a model's tokenizer"},
    {"bench", cmd_bench, "measure prefill and decode speed, time to first token, bandwidth ceiling and memory"},
    {"suite", cmd_suite, "run many models, each in its own process, and report memory and speed (table, JSON, charts)"},
    {"quantize", cmd_quantize, "convert a model (HF directory or GGUF) to a quantized GGUF: q8_0, q4_0, q4_k_m, q5_k_m, q6_k, f16, bf16"},
};

int cli_fail(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "frugal: %s\n", buf);
    return 1;
}

int cli_fail_status(fg_status s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    const char *e = fg_last_error();
    if (e && *e)
        fprintf(stderr, "frugal: %s: %s\n", buf, e);
    else
        fprintf(stderr, "frugal: %s: %s\n", buf, fg_status_str(s));
    return 1;
}

bool cli_parse_int(const char *s, long long lo, long long hi, long long *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

bool cli_parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) return false;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end) return false;
    v *= mul;
    if (v > 1.8e19) return false;
    *out = (uint64_t)v;
    return true;
}

const char *cli_bytes(uint64_t n, char *buf, size_t size)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, size, "%.2f %s", v, units[u]);
    return buf;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: frugal <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`frugal <command> --help` for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    cli_fail("unknown command '%s' (try `frugal --help`)", argv[1]);
    return 2;
}
