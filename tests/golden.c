#include "golden.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fg_dtype golden_kv_type = FG_DT_F32;
double golden_base_tol = 0;
bool golden_also_decode = false;

static double logsumexp(const float *row, int64_t n)
{
    float mx = row[0];
    for (int64_t i = 1; i < n; i++)
        if (row[i] > mx) mx = row[i];
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += exp((double)row[i] - mx);
    return mx + log(s);
}

static int32_t argmax(const float *row, int64_t n)
{
    int32_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (row[i] > row[b]) b = (int32_t)i;
    return b;
}

/* Evaluates ids in chunks of the given sizes (cycled) from a fresh session state. */
static void eval_chunked(fg_session *s, const int32_t *ids, int64_t n, const int *chunks, int n_chunks, float *out,
                         int64_t vocab)
{
    fg_session_truncate(s, 0);
    int64_t off = 0;
    for (int c = 0; off < n; c++) {
        int64_t len = chunks[c % n_chunks];
        if (len > n - off) len = n - off;
        fg_status st = fg_session_eval(s, ids + off, len, FG_LOGITS_ALL, out + off * vocab);
        if (st) fail_msg("eval failed: %s", fg_last_error());
        off += len;
    }
}

/* The acceptance of golden/README.md on logits lg[n][V] of one prompt. */
static void check_logits(const char *model_path, int pi, const char *how, cJSON *ref, cJSON *dev, golden_kind kind,
                         const float *lg, int64_t n, int64_t V)
{
    double B = golden_base_tol > 0 ? golden_base_tol : kind == GOLDEN_FLOAT ? 0.02 : 0.05;
    double T = kind == GOLDEN_F32 ? 2e-3 : fmax(B, 1.25 * (dev ? dev->valuedouble : 0));
    int n_top = kind == GOLDEN_F32 ? 8 : 3;
    double worst = 0;
    for (int64_t pos = 0; pos < n; pos++) {
        cJSON *e = cJSON_GetArrayItem(ref, (int)pos);
        cJSON *top = cJSON_GetObjectItem(e, "top");
        const float *row = lg + pos * V;
        for (int j = 0; j < n_top; j++) {
            cJSON *pair = cJSON_GetArrayItem(top, j);
            int id = cJSON_GetArrayItem(pair, 0)->valueint;
            double want = cJSON_GetArrayItem(pair, 1)->valuedouble;
            double d = fabs(row[id] - want);
            if (d > worst) worst = d;
            if (d > T)
                fail_msg("%s prompt %d (%s) pos %lld: logit of %d is %.6f, reference %.6f (|d| %.2e > %.2e)",
                         model_path, pi, how, (long long)pos, id, row[id], want, d, T);
        }
        if (kind == GOLDEN_F32) {
            double lse = logsumexp(row, V), want = cJSON_GetObjectItem(e, "logsumexp")->valuedouble;
            if (fabs(lse - want) > T)
                fail_msg("%s prompt %d (%s) pos %lld: logsumexp %.6f, reference %.6f", model_path, pi, how,
                         (long long)pos, lse, want);
        }
        int32_t ref1 = cJSON_GetArrayItem(cJSON_GetArrayItem(top, 0), 0)->valueint;
        double lead = cJSON_GetArrayItem(cJSON_GetArrayItem(top, 0), 1)->valuedouble -
                      cJSON_GetArrayItem(cJSON_GetArrayItem(top, 1), 1)->valuedouble;
        int32_t ours = argmax(row, V);
        if ((kind == GOLDEN_F32 || lead > 2 * T) && ours != ref1 && lead > 2 * T)
            fail_msg("%s prompt %d (%s) pos %lld: top-1 is %d, reference %d (leads by %.4f)", model_path, pi, how,
                     (long long)pos, ours, ref1, lead);
    }
    print_message("%s prompt %d (%s): %lld positions, max |dev| top-%d %.2e (tolerance %.2e)\n", model_path, pi, how,
                  (long long)n, n_top, worst, T);
}

void golden_check(const char *model_path, const char *golden_json, golden_kind kind, bool check_greedy,
                  bool check_chunks, double chunk_tol)
{
    size_t len;
    char *text = test_read_file(golden_json, &len);
    if (!text) fail_msg("cannot read %s", golden_json);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    cJSON *prompts = cJSON_GetObjectItem(root, "prompts");
    assert_true(cJSON_IsArray(prompts));

    fg_model *m;
    fg_model_params mp = fg_model_default_params();
    if (fg_model_load(model_path, &mp, &m)) fail_msg("cannot load %s: %s", model_path, fg_last_error());
    const fg_hparams *hp = fg_model_hparams(m);
    int64_t V = hp->n_vocab;
    fg_session *s;
    fg_session_params sp = fg_session_default_params();
    sp.n_ctx = 256;
    sp.n_batch = 128;
    sp.kv_type = golden_kv_type;
    if (fg_session_create(m, &sp, &s)) fail_msg("session: %s", fg_last_error());

    cJSON *p;
    int pi = 0;
    cJSON_ArrayForEach(p, prompts) {
        cJSON *jids = cJSON_GetObjectItem(p, "ids");
        cJSON *ref = cJSON_GetObjectItem(p, "reference");
        cJSON *greedy = cJSON_GetObjectItem(p, "reference_greedy");
        cJSON *dev = cJSON_GetObjectItem(p, "llamacpp_max_abs_dev_top3");
        int64_t n = cJSON_GetArraySize(jids);
        assert_int_equal(n, cJSON_GetArraySize(ref));
        int32_t *ids = calloc((size_t)n + 16, sizeof *ids);
        for (int64_t i = 0; i < n; i++) ids[i] = cJSON_GetArrayItem(jids, (int)i)->valueint;
        float *lg = malloc((size_t)(n * V) * sizeof(float));
        assert_non_null(lg);
        int whole[] = {(int)n};
        eval_chunked(s, ids, n, whole, 1, lg, V);

        check_logits(model_path, pi, "one batch", ref, dev, kind, lg, n, V);
        if (golden_also_decode) { /* the decode kernels: one token at a time */
            float *lg1 = malloc((size_t)(n * V) * sizeof(float));
            assert_non_null(lg1);
            int one[] = {1};
            eval_chunked(s, ids, n, one, 1, lg1, V);
            check_logits(model_path, pi, "token by token", ref, dev, kind, lg1, n, V);
            free(lg1);
        }

        if (check_greedy) {
            float *row = malloc((size_t)V * sizeof(float));
            int32_t tok = argmax(lg + (n - 1) * V, V);
            for (int g = 0; g < cJSON_GetArraySize(greedy); g++) {
                int want = cJSON_GetArrayItem(greedy, g)->valueint;
                if (tok != want) fail_msg("%s prompt %d: greedy token %d is %d, reference %d", model_path, pi, g, tok, want);
                if (g + 1 < cJSON_GetArraySize(greedy)) {
                    if (fg_session_eval(s, &tok, 1, FG_LOGITS_LAST, row)) fail_msg("decode: %s", fg_last_error());
                    tok = argmax(row, V);
                }
            }
            free(row);
        }

        if (check_chunks) {
            float *lg2 = malloc((size_t)(n * V) * sizeof(float));
            int one[] = {1}, uneven[] = {3, 1, 5, 2, 7};
            const int *plans[] = {one, uneven};
            int plan_n[] = {1, 5};
            for (int pl = 0; pl < 2; pl++) {
                eval_chunked(s, ids, n, plans[pl], plan_n[pl], lg2, V);
                double md = 0;
                for (int64_t i = 0; i < n * V; i++) {
                    double d = fabs(lg2[i] - lg[i]);
                    if (d > md) md = d;
                }
                if (md > chunk_tol)
                    fail_msg("%s prompt %d: %s evaluation differs from one batch by %.2e", model_path, pi,
                             pl ? "uneven-chunk" : "token-by-token", md);
            }
            free(lg2);
        }
        free(lg);
        free(ids);
        pi++;
    }
    fg_session_free(s);
    fg_model_free(m);
    cJSON_Delete(root);
}
