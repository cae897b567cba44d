/* Samplers checked against the math they implement: greedy is the argmax; with
 * temperature T and no truncation, draw frequencies follow softmax(logits/T); top-k,
 * top-p and min-p restrict the support to exactly the sets their definitions give;
 * seeds reproduce; stop strings are found across token boundaries and never emitted. */
#include "testutil.h"
#include "sample/sample.h"

#include <math.h>
#include <string.h>

#define NV 8
static const float base[NV] = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f, 2.5f, 0.0f, 1.5f};

static fg_sampler *mk(fg_sampler_params p)
{
    fg_sampler *s;
    assert_int_equal(fg_sampler_create(&p, NV, &s), FG_OK);
    return s;
}

static void greedy(void **st)
{
    (void)st;
    fg_sampler_params p = fg_sampler_default_params();
    p.temperature = 0;
    fg_sampler *s = mk(p);
    float l[NV];
    memcpy(l, base, sizeof l);
    assert_int_equal(fg_sampler_sample(s, l), 3);
    fg_sampler_free(s);
}

static void distribution(void **st)
{
    (void)st;
    fg_sampler_params p = fg_sampler_default_params();
    p.temperature = 0.7f;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.seed = 42;
    fg_sampler *s = mk(p);
    int counts[NV] = {0};
    const int N = 40000;
    for (int i = 0; i < N; i++) {
        float l[NV];
        memcpy(l, base, sizeof l);
        counts[fg_sampler_sample(s, l)]++;
    }
    double z = 0, pr[NV];
    for (int i = 0; i < NV; i++) z += exp(base[i] / 0.7);
    for (int i = 0; i < NV; i++) {
        pr[i] = exp(base[i] / 0.7) / z;
        double sd = sqrt(N * pr[i] * (1 - pr[i]));
        /* 5 standard deviations: a correct sampler fails this with probability < 1e-5 */
        assert_true(fabs(counts[i] - N * pr[i]) < 5 * sd + 1);
    }
    fg_sampler_free(s);
}

static void truncations(void **st)
{
    (void)st;
    /* top-k 2: only ids 3 and 5 */
    fg_sampler_params p = fg_sampler_default_params();
    p.temperature = 1;
    p.top_k = 2;
    p.top_p = 1;
    p.min_p = 0;
    fg_sampler *s = mk(p);
    for (int i = 0; i < 2000; i++) {
        float l[NV];
        memcpy(l, base, sizeof l);
        int id = fg_sampler_sample(s, l);
        assert_true(id == 3 || id == 5);
    }
    fg_sampler_free(s);
    /* top-p: softmax at T=1 sorted: 3 (.403), 5 (.244), 1 (.148), 7 (.090) ...; p=0.7 keeps {3,5,1} */
    p.top_k = 0;
    p.top_p = 0.7f;
    s = mk(p);
    int seen[NV] = {0};
    for (int i = 0; i < 4000; i++) {
        float l[NV];
        memcpy(l, base, sizeof l);
        seen[fg_sampler_sample(s, l)]++;
    }
    double z = 0;
    for (int i = 0; i < NV; i++) z += exp(base[i]);
    assert_true(exp(3) / z + exp(2.5) / z < 0.7 && exp(3) / z + exp(2.5) / z + exp(2) / z >= 0.7);
    assert_true(seen[3] && seen[5] && seen[1]);
    for (int i = 0; i < NV; i++)
        if (i != 3 && i != 5 && i != 1) assert_int_equal(seen[i], 0);
    fg_sampler_free(s);
    /* min-p 0.5: keeps ids whose probability >= half the top: e^(x-3) >= .5 -> x >= 2.307: {3, 5} */
    p.top_p = 1;
    p.min_p = 0.5f;
    s = mk(p);
    for (int i = 0; i < 2000; i++) {
        float l[NV];
        memcpy(l, base, sizeof l);
        int id = fg_sampler_sample(s, l);
        assert_true(id == 3 || id == 5);
    }
    fg_sampler_free(s);
}

static void seeded(void **st)
{
    (void)st;
    fg_sampler_params p = fg_sampler_default_params();
    p.temperature = 1.5f;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.seed = 7;
    fg_sampler *a = mk(p), *b = mk(p);
    int differs_from_greedy = 0;
    for (int i = 0; i < 200; i++) {
        float l1[NV], l2[NV];
        memcpy(l1, base, sizeof l1);
        memcpy(l2, base, sizeof l2);
        int x = fg_sampler_sample(a, l1), y = fg_sampler_sample(b, l2);
        assert_int_equal(x, y);
        differs_from_greedy += x != 3;
    }
    assert_true(differs_from_greedy > 0);
    fg_sampler_free(a);
    fg_sampler_free(b);
}

static void penalties(void **st)
{
    (void)st;
    fg_sampler_params p = fg_sampler_default_params();
    p.temperature = 0;
    p.repeat_penalty = 2.0f;
    fg_sampler *s = mk(p);
    fg_sampler_accept(s, 3);
    fg_sampler_accept(s, 3);
    float l[NV];
    memcpy(l, base, sizeof l);
    /* 3.0 / 2 = 1.5 once (not twice for two occurrences) -> 5 (2.5) wins */
    assert_int_equal(fg_sampler_sample(s, l), 5);
    assert_true(fabsf(l[3] - 1.5f) < 1e-6f);
    fg_sampler_free(s);
}

static void stops(void **st)
{
    (void)st;
    const char *ss[] = {"<|end|>", "\n\n"};
    fg_stop stop;
    assert_int_equal(fg_stop_init(&stop, ss, 2), FG_OK);
    char out[512], all[512] = "";
    bool stopped = false;
    const char *pieces[] = {"Hello", " wor", "ld<|e", "nd", "|>after"};
    for (int i = 0; i < 5 && !stopped; i++) {
        size_t n = fg_stop_feed(&stop, pieces[i], strlen(pieces[i]), out, &stopped);
        strncat(all, out, n);
    }
    assert_true(stopped);
    assert_string_equal(all, "Hello world");
    /* a partial match that does not complete is released */
    assert_int_equal(fg_stop_init(&stop, ss, 2), FG_OK);
    all[0] = 0;
    const char *p2[] = {"a<|e", "x\n", "b"};
    for (int i = 0; i < 3; i++) {
        size_t n = fg_stop_feed(&stop, p2[i], strlen(p2[i]), out, &stopped);
        assert_false(stopped);
        strncat(all, out, n);
    }
    size_t n = fg_stop_flush(&stop, out);
    strncat(all, out, n);
    assert_string_equal(all, "a<|ex\nb");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(greedy), cmocka_unit_test(distribution), cmocka_unit_test(truncations),
        cmocka_unit_test(seeded), cmocka_unit_test(penalties),    cmocka_unit_test(stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
