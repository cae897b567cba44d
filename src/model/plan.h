/* plan: predicts, before the weights are touched, what a model will cost — weights (per
 * dtype), KV cache (per token and at the chosen context), scratch, tokenizer, runtime —
 * and whether that fits a memory limit; with `fit`, chooses the quantization and context
 * that do. `run`, `chat`, `bench`, `serve` and the suite refuse a model with this plan
 * before loading it. Only the file headers are read (metadata and tensor tables).
 *
 * The limit comes from mem/budget.h: --mem-limit, else the cgroup's limit, else
 * MemAvailable (+ this process's RSS), minus a safety margin. */
#ifndef FG_PLAN_H
#define FG_PLAN_H

#include "format/quant_mix.h"
#include "model/model.h"

typedef struct fg_plan_params {
    int64_t n_ctx;        /* 0: min(trained context, 4096) */
    int n_batch;          /* prefill chunk the scratch is sized for (default 256) */
    int n_threads;        /* 0: physical cores */
    int quant;            /* fg_quant_mix to convert to while loading (FG_QMIX_NONE: as stored) */
    int64_t mem_limit;    /* bytes; 0: detect (cgroup / MemAvailable) */
    int64_t margin;       /* < 0: the budget's default margin */
    bool fit;             /* choose quant and context to fit */
    fg_dtype kv_type;     /* KV cache type (F16 default; F32, Q8_0) */
    int64_t n_tokens;     /* positions the run will use (prompt + generated), when known:
                             the KV cache is committed as tokens arrive, so the peak counts
                             min(n_tokens, n_ctx) positions; 0: the whole context */
} fg_plan_params;
fg_plan_params fg_plan_default_params(void);

typedef struct fg_plan {
    /* what was planned (after --fit, what was chosen) */
    int64_t n_ctx;
    int quant;                          /* fg_quant_mix */
    fg_arch arch;
    int64_t n_params;                   /* elements of all weight tensors */
    int64_t file_bytes;                 /* the file(s) on disk */
    /* predicted bytes */
    int64_t weights;                    /* resident weights while generating */
    int64_t weights_by_type[FG_DT_COUNT];
    bool weights_mapped;                /* computed from the file mapping (no conversion) */
    int64_t file_metadata;              /* the file's bytes outside tensors, in `weights`: the
                                           loader parses them and a GGUF tokenizer's strings
                                           stay in the mapping, so they are resident too */
    fg_dtype kv_type;
    int64_t kv_per_token, kv;           /* kv_per_token * positions (n_tokens, else n_ctx) */
    int64_t kv_positions;
    int64_t scratch, tokenizer, runtime;
    int64_t load_peak;                  /* during loading (conversion: owned + one source tensor) */
    int64_t peak;                       /* max(load peak, steady state) */
    /* the limit */
    int64_t limit;                      /* after the margin; -1 if unknown */
    char limit_source[160];
    bool fits;
    char advice[320];                   /* what would fit / what was chosen and why */
} fg_plan;

fg_status fg_plan_model(const char *path, const fg_plan_params *p, fg_plan *out);
/* A table of the prediction (a dozen lines) into buf; returns the length like snprintf. */
size_t fg_plan_format(const fg_plan *plan, char *buf, size_t size);
/* JSON object (cJSON; caller frees). */
struct cJSON *fg_plan_json(const fg_plan *plan);

#endif
