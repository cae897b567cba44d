/* frugal inspect MODEL: architecture, hyperparameters, metadata, every tensor with
 * dtype, shape and bytes, and totals. Reads headers only (no tensor data is touched). */
#include "cli/cli.h"
#include "model/model.h"

#include <string.h>
#include <sys/stat.h>

static void print_hparams(const fg_hparams *hp)
{
    printf("architecture      %s\n", fg_arch_name(hp->arch));
    printf("vocabulary        %lld\n", (long long)hp->n_vocab);
    printf("hidden size       %lld\n", (long long)hp->n_embd);
    printf("layers            %lld\n", (long long)hp->n_layer);
    printf("heads             %lld (kv %lld, head dim %lld)\n", (long long)hp->n_head, (long long)hp->n_head_kv,
           (long long)hp->head_dim);
    printf("feed-forward      %lld\n", (long long)hp->n_ff);
    printf("context (trained) %lld\n", (long long)hp->n_ctx_train);
    printf("rope theta        %g%s%s\n", hp->rope_theta, hp->rope_interleaved ? " (interleaved pairs)" : " (half-split pairs)",
           hp->rope_scaled ? ", llama3 scaling" : "");
    printf("rms norm eps      %g\n", hp->norm_eps);
    printf("output            %s\n", hp->tied_output ? "tied to the embedding" : "own matrix");
    printf("flags             %s%s\n", hp->has_qkv_bias ? "q/k/v bias " : "", hp->has_qk_norm ? "q/k norm" : "");
}

static void shape_str(char *buf, size_t size, const uint64_t *dims, uint32_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, size - o, "[");
    for (uint32_t i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
    if (o < size) snprintf(buf + o, size - o, "]");
}

static int inspect_gguf(const char *path, bool all_kv)
{
    fg_gguf *g;
    fg_status s = fg_gguf_open(path, &g);
    if (s) return cli_fail_status(s, "cannot read %s", path);
    printf("file              %s (GGUF v%u, %llu bytes)\n", path, g->version, (unsigned long long)g->file.size);
    printf("\nmetadata (%llu keys)\n", (unsigned long long)g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        char val[256];
        fg_gguf_kv_format(&g->kv[i], val, sizeof val);
        if (!all_kv && strlen(val) > 120) strcpy(val + 117, "...");
        printf("  %-44.*s %s\n", (int)g->kv[i].key.len, g->kv[i].key.ptr, val);
    }
    printf("\ntensors (%llu)\n", (unsigned long long)g->n_tensors);
    uint64_t total = 0, by_type[FG_DT_COUNT] = {0}, other = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const fg_gguf_tensor *t = &g->tensors[i];
        uint64_t dims[4];
        /* print as row-major [rows, cols] like Hugging Face, i.e. reversed ne */
        for (uint32_t d = 0; d < t->n_dims; d++) dims[d] = t->ne[t->n_dims - 1 - d];
        char sh[96];
        shape_str(sh, sizeof sh, dims, t->n_dims);
        printf("  %-40.*s %-6s %-20s %12llu\n", (int)t->name.len, t->name.ptr,
               t->dtype != FG_DT_INVALID ? fg_dtype_name(t->dtype)
               : fg_ggml_type_name(t->ggml_type) ? fg_ggml_type_name(t->ggml_type) : "?",
               sh, (unsigned long long)t->nbytes);
        total += t->nbytes;
        if (t->dtype != FG_DT_INVALID) by_type[t->dtype] += t->nbytes;
        else other += t->nbytes;
    }
    char b[32];
    printf("\ntotal tensor bytes %llu (%s)\n", (unsigned long long)total, cli_bytes(total, b, sizeof b));
    for (int d = 0; d < FG_DT_COUNT; d++)
        if (by_type[d]) printf("  %-6s %14llu (%s)\n", fg_dtype_name((fg_dtype)d), (unsigned long long)by_type[d], cli_bytes(by_type[d], b, sizeof b));
    if (other) printf("  %-6s %14llu\n", "other", (unsigned long long)other);
    fg_gguf_close(g);
    return 0;
}

static int inspect_hf(const char *path)
{
    fg_safetensors *st;
    fg_status s = fg_st_open(path, &st);
    if (s) return cli_fail_status(s, "cannot read %s", path);
    printf("directory         %s (safetensors, %d file%s)\n", path, st->n_files, st->n_files == 1 ? "" : "s");
    printf("\ntensors (%zu)\n", st->n_tensors);
    uint64_t total = 0;
    for (size_t i = 0; i < st->n_tensors; i++) {
        const fg_st_tensor *t = &st->tensors[i];
        char sh[96];
        shape_str(sh, sizeof sh, t->shape, t->n_dims);
        printf("  %-52s %-5s %-20s %12llu\n", t->name, t->dtype_name, sh, (unsigned long long)t->nbytes);
        total += t->nbytes;
    }
    char b[32];
    printf("\ntotal tensor bytes %llu (%s)\n", (unsigned long long)total, cli_bytes(total, b, sizeof b));
    fg_st_close(st);
    return 0;
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    bool all_kv = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: frugal inspect MODEL [--full]\n  MODEL: a .gguf file or a Hugging Face directory\n"
                   "  --full  print long metadata values in full\n");
            return 0;
        } else if (!strcmp(argv[i], "--full")) all_kv = true;
        else if (argv[i][0] == '-') return cli_fail("inspect: unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return cli_fail("inspect: more than one model given");
    }
    if (!path) return cli_fail("inspect: no model given (usage: frugal inspect MODEL)");
    struct stat sb;
    if (stat(path, &sb) != 0) return cli_fail("%s: no such file or directory", path);
    size_t pl = strlen(path);
    bool st_file = pl > 12 && (!strcmp(path + pl - 12, ".safetensors") || !strcmp(path + pl - 11, ".index.json"));
    int rc = S_ISDIR(sb.st_mode) || st_file ? inspect_hf(path) : inspect_gguf(path, all_kv);
    if (rc || st_file) return rc; /* a lone safetensors file has no config.json to build a model from */
    fg_model_params mp = fg_model_default_params();
    mp.n_threads = 1;
    fg_model *m;
    fg_status s = fg_model_load(path, &mp, &m);
    if (s) return cli_fail_status(s, "cannot use this model");
    printf("\nmodel\n");
    print_hparams(fg_model_hparams(m));
    char b[32];
    printf("weights read per token %s\n", cli_bytes(fg_model_weight_bytes_per_token(m), b, sizeof b));
    fg_model_free(m);
    return 0;
}
