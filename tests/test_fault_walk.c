/* Fault injection: every allocation of a whole load-and-generate run is made to fail in
 * turn, and every failure must be reported cleanly.
 *
 * The runs (qwen2-q256: vocabulary 4096, 2 layers) do what `frugal run -p` does: plan,
 * load the model, load its tokenizer, render the prompt with the model's chat template,
 * encode it, create a budget, a session and a sampler (temperature, top-k, top-p, min-p,
 * repetition penalty), and generate a few tokens with a stop string. Three kinds:
 *   GGUF      qwen2-q256-f32.gguf computed as stored, tokenizer from the GGUF;
 *   HF q8_0   the Hugging Face directory (config.json, safetensors, tokenizer.json),
 *             quantized to q8_0 while loading;
 *   JSON      the JSON readers on small files with cJSON's own allocations failed too
 *             (the library routes them through the tagged allocator; this walk installs
 *             a hook of its own that also marks them).
 *
 * The walk first counts the allocations of one run (fg_mem_stats.n_allocs) and records
 * the call site of each (fg_mem_set_hook: the return address into the code that asked);
 * then for every N from 1 to that count it runs again with fg_mem_fail_after(N), in two
 * modes: the Nth allocation and every later one fail, and only the Nth fails (the hook
 * lifts the injection at N+1, so recovery paths run with memory available again). Checks:
 *   - the run fails with FG_ERR_NOMEM and a one-line message, or succeeds with exactly the
 *     baseline's tokens and text (a failure that was absorbed must not change the result);
 *   - every tagged byte is returned (fg_mem_stats before == after); untagged leaks are
 *     LeakSanitizer's (the ASan build) and valgrind's (scripts/valgrind.sh);
 *   - the allocation sequence is deterministic (the Nth allocation has the same call site
 *     as in the counting run), so the walk really visits every site.
 * It prints how many allocations and distinct call sites each walk covered; with
 * FG_FAULT_WALK_SITES=FILE it appends the sites' offsets (for addr2line).
 * cJSON returns NULL both for bad syntax and for a failed allocation: the readers tell
 * the two apart (fg_mem_failures) and must report the latter as FG_ERR_NOMEM; a cJSON
 * allocation failure reported as malformed JSON is a problem (it was a known gap).
 *
 * I/O faults: a directory, a FIFO and a device where a file is expected (must not block),
 * a model truncated at many points, tokenizer.json / config.json truncated, an unreadable
 * file, and the GGUF and safetensors writers aimed at /dev/full. */
#define _GNU_SOURCE /* dladdr */
#include "testutil.h"
#include "model/plan.h"
#include "token/chat.h"

#include <cjson/cJSON.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the run ---------------------------------------------------------------------------- */
typedef struct text_buf {
    char s[1024];
    size_t n;
    int32_t ids[16];     /* the ids that completed each piece */
    int n_ids;
    int64_t n_generated;
} text_buf;

static bool collect(const char *text, size_t len, int32_t id, void *user)
{
    text_buf *b = user;
    if (b->n_ids < 16) b->ids[b->n_ids++] = id;
    if (b->n + len < sizeof b->s) {
        memcpy(b->s + b->n, text, len);
        b->n += len;
        b->s[b->n] = 0;
    }
    return true;
}

/* What one run loads: the GGUF file computed as stored, or the Hugging Face directory
 * (config.json, safetensors, tokenizer.json through cJSON) quantized to q8_0 on load. */
typedef enum run_kind { RUN_GGUF = 0, RUN_HF_Q8, RUN_JSON } run_kind;

static char json_dir[512]; /* small config.json, tokenizer.json, safetensors (see json_files) */
static fg_status run_json(text_buf *out);

static fg_status run_once(run_kind kind, text_buf *out)
{
    if (kind == RUN_JSON) return run_json(out);
    const char *path = test_model_path(kind == RUN_GGUF ? "qwen2-q256-f32.gguf" : "qwen2-q256-hf");
    fg_model *m = NULL;
    fg_tokenizer *tok = NULL;
    fg_budget *b = NULL;
    fg_session *s = NULL;
    fg_sampler *smp = NULL;
    char *prompt = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    memset(out, 0, sizeof *out);

    /* the planner first, as `frugal run` does: it reads the header and the tokenizer size */
    fg_plan_params pp0 = fg_plan_default_params();
    pp0.n_ctx = 128;
    pp0.n_threads = 1;
    pp0.quant = kind == RUN_GGUF ? FG_QMIX_NONE : FG_QMIX_Q8_0;
    pp0.mem_limit = (int64_t)1 << 40;
    fg_plan plan;
    fg_status st = fg_plan_model(path, &pp0, &plan);
    fg_model_params mp = fg_model_default_params();
    mp.n_threads = 1;
    mp.quant = pp0.quant;
    if (!st) st = fg_model_load(path, &mp, &m);
    if (!st) st = kind == RUN_GGUF ? fg_tok_load_gguf(fg_model_gguf(m), &tok) : fg_tok_load_hf(fg_model_dir(m), &tok);
    if (!st) {
        const fg_chat_message msgs[] = {{"system", "You are terse."}, {"user", "Hello, who are you?"}};
        fg_chat_options co = fg_chat_default_options();
        co.add_generation_prompt = true;
        co.now = 1721980800;
        const char *tmpl = fg_tok_chat_template(tok);
        st = tmpl ? fg_chat_render(tmpl, msgs, 2, &co, &prompt, NULL) : fg_error(FG_ERR_FORMAT, "no chat template");
    }
    if (!st) st = fg_tok_encode_alloc(tok, prompt, strlen(prompt), true, false, &ids, &n);
    if (!st) {
        fg_budget_params bp = fg_budget_default_params();
        bp.limit = (int64_t)1 << 40;
        st = fg_budget_create(&bp, &b);
    }
    if (!st) {
        fg_session_params sp = fg_session_default_params();
        sp.n_ctx = 128;
        sp.n_batch = 16;
        sp.n_threads = 1;
        sp.budget = b;
        st = fg_session_create(m, &sp, &s);
    }
    if (!st) {
        fg_sampler_params pp = fg_sampler_default_params();
        pp.temperature = 0.8f;
        pp.top_k = 40;
        pp.top_p = 0.9f;
        pp.min_p = 0.01f;
        pp.repeat_penalty = 1.1f;
        pp.seed = 42;
        st = fg_sampler_create(&pp, fg_model_hparams(m)->n_vocab, &smp);
    }
    if (!st) {
        static const char *const stops[] = {"</s>"};
        fg_gen_params gp = {.max_tokens = 6, .stops = stops, .n_stops = 1, .stop_at_eog = false, .skip_special = false};
        fg_gen_result res;
        st = fg_generate(s, tok, smp, ids, (int64_t)n, &gp, collect, out, &res);
        out->n_generated = res.n_generated;
    }
    fg_sampler_free(smp);
    fg_session_free(s);
    fg_budget_free(b);
    fg_free(ids);
    fg_free(prompt);
    fg_tok_free(tok);
    fg_model_free(m);
    return st;
}

/* The JSON readers on small files, with cJSON's allocations counted too: config.json,
 * a safetensors header, tokenizer.json + tokenizer_config.json, then an encode/decode. */
static const char small_config[] =
    "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":32,"
    "\"intermediate_size\":64,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1,"
    "\"vocab_size\":64,\"max_position_embeddings\":64,\"rope_theta\":10000.0,\"rms_norm_eps\":1e-06,"
    "\"tie_word_embeddings\":true,\"bos_token_id\":null,\"eos_token_id\":1,\"torch_dtype\":\"float32\"}";
static const char small_tokenizer[] =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":7,\"content\":\"<|im_end|>\",\"single_word\":false,"
    "\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}],"
    "\"normalizer\":{\"type\":\"NFC\"},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
    "\"\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},"
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}]},"
    "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"h\":0,\"e\":1,\"l\":2,\"o\":3,\"he\":4,\"ll\":5,\"hell\":6,"
    "\"\\u0120\":8,\"w\":9,\"r\":10,\"d\":11},\"merges\":[\"h e\",\"l l\",\"he ll\"]}}";
static const char small_tokenizer_config[] =
    "{\"eos_token\":\"<|im_end|>\",\"add_bos_token\":false,\"chat_template\":"
    "\"{% for m in messages %}{{ m.role }}: {{ m.content }}<|im_end|>{% endfor %}\"}";

static fg_status run_json(text_buf *out)
{
    memset(out, 0, sizeof *out);
    char p[700];
    fg_hf_config c;
    snprintf(p, sizeof p, "%s/config.json", json_dir);
    fg_status st = fg_hf_config_load(p, &c);
    if (st) return st;
    fg_safetensors *sf = NULL;
    snprintf(p, sizeof p, "%s/model.safetensors", json_dir);
    if ((st = fg_st_open(p, &sf))) return st;
    fg_st_close(sf);
    fg_tokenizer *tok = NULL;
    if ((st = fg_tok_load_hf(json_dir, &tok))) return st;
    int32_t *ids = NULL;
    size_t n = 0;
    char *text = NULL;
    size_t len = 0;
    static const char hello[] = "hello world<|im_end|>";
    st = fg_tok_encode_alloc(tok, hello, sizeof hello - 1, true, false, &ids, &n);
    if (!st) st = fg_tok_decode_alloc(tok, ids, n, false, &text, &len);
    if (!st) {
        out->n = len < sizeof out->s - 1 ? len : sizeof out->s - 1;
        memcpy(out->s, text, out->n);
        out->n_generated = (int64_t)n;
    }
    fg_free(text);
    fg_free(ids);
    fg_tok_free(tok);
    return st;
}

static void json_files(bool make)
{
    char p[700];
    const char *names[] = {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"};
    if (!make) {
        for (int i = 0; i < 4; i++) {
            snprintf(p, sizeof p, "%s/%s", json_dir, names[i]);
            unlink(p);
        }
        rmdir(json_dir);
        return;
    }
    char *d = test_tmpdir();
    snprintf(json_dir, sizeof json_dir, "%s", d);
    free(d);
    const char *texts[] = {small_config, small_tokenizer, small_tokenizer_config};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", json_dir, names[i]);
        assert_int_equal(test_write_file(p, texts[i], strlen(texts[i])), 0);
    }
    snprintf(p, sizeof p, "%s/model.safetensors", json_dir);
    fg_st_writer *w = NULL;
    assert_int_equal(fg_st_writer_create(&w), FG_OK);
    const uint64_t s2[2] = {4, 8}, s1[1] = {8};
    assert_int_equal(fg_st_w_tensor(w, "model.embed_tokens.weight", FG_DT_F32, 2, s2), FG_OK);
    assert_int_equal(fg_st_w_tensor(w, "model.norm.weight", FG_DT_F32, 1, s1), FG_OK);
    assert_int_equal(fg_st_w_begin(w, p), FG_OK);
    float zeros[32] = {0};
    assert_int_equal(fg_st_w_data(w, zeros, sizeof zeros), FG_OK);
    assert_int_equal(fg_st_w_data(w, zeros, 8 * sizeof(float)), FG_OK);
    assert_int_equal(fg_st_w_finish(w), FG_OK);
    fg_st_writer_free(w);
}

/* ---- allocation call sites ---------------------------------------------------------------- */
static int64_t hook_base;          /* n_allocs before the run */
static const void **sites;         /* call site of allocation i of the run (counting run) */
static size_t sites_cap, sites_n;
static bool *site_cjson;           /* allocation i was made inside cJSON */
static bool in_cjson;              /* an allocation made for cJSON is in progress */
static const void *seen_at_fail;   /* call site seen at the failing ordinal (walk runs) */
static int64_t fail_ordinal;

static void record_site(int64_t ordinal, const void *caller)
{
    size_t i = (size_t)(ordinal - hook_base - 1);
    if (i >= sites_cap) {
        size_t cap = sites_cap ? sites_cap * 2 : 1024;
        while (cap <= i) cap *= 2;
        const void **ns = realloc(sites, cap * sizeof *ns);
        bool *nc = realloc(site_cjson, cap * sizeof *nc);
        if (!ns || !nc) abort();
        memset(ns + sites_cap, 0, (cap - sites_cap) * sizeof *ns);
        memset(nc + sites_cap, 0, (cap - sites_cap) * sizeof *nc);
        sites = ns;
        site_cjson = nc;
        sites_cap = cap;
    }
    sites[i] = caller;
    site_cjson[i] = in_cjson;
    if (i + 1 > sites_n) sites_n = i + 1;
}

static bool fail_once;              /* only the Nth allocation fails, later ones succeed */

static void check_site(int64_t ordinal, const void *caller)
{
    if (ordinal == fail_ordinal) seen_at_fail = caller;
    /* one-shot: the hook runs before the allocator's check, so lifting the injection at
     * the next allocation lets everything after the Nth succeed */
    if (fail_once && ordinal == fail_ordinal + 1) fg_mem_fail_after(0);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (const void *const *)a, y = (uintptr_t) * (const void *const *)b;
    return x < y ? -1 : x > y;
}

static size_t distinct_sites(void)
{
    const void **c = malloc(sites_n * sizeof *c);
    assert_non_null(c);
    memcpy(c, sites, sites_n * sizeof *c);
    qsort(c, sites_n, sizeof *c, cmp_ptr);
    size_t d = 0;
    for (size_t i = 0; i < sites_n; i++)
        if (i == 0 || c[i] != c[i - 1]) d++;
    free(c);
    return d;
}

/* The library routes cJSON through the tagged allocator (fg_json_use_tagged_allocator);
 * the JSON walk installs its own equivalent hook that also marks cJSON's allocations.
 * The GGUF and HF walks put cJSON on plain malloc: the HF walk's tokenizer.json (4096
 * tokens) would add tens of thousands of cJSON allocations, each a full run; cJSON's
 * failures are walked by the JSON walk and tests/test_json_nomem.c. */
static void *cjson_malloc(size_t n)
{
    in_cjson = true;
    void *p = fg_malloc(FG_MEM_RUNTIME, n);
    in_cjson = false;
    return p;
}
static void cjson_hooks(bool on)
{
    cJSON_Hooks h = {on ? cjson_malloc : NULL, on ? fg_free : NULL};
    cJSON_InitHooks(&h);
}

static int64_t tagged_now(const fg_mem_stats *s) { return s->total_current - s->current[FG_MEM_WEIGHTS_MAPPED]; }

static void walk(run_kind kind, bool once)
{
    const char *what = kind == RUN_GGUF ? "GGUF f32" : kind == RUN_HF_Q8 ? "HF dir, q8_0 on load" : "JSON readers + cJSON";
    fg_mem_stats before, after;
    fail_once = once;
    if (kind == RUN_JSON) json_files(true);
    cjson_hooks(kind == RUN_JSON);

    /* counting run, with the call sites */
    text_buf base;
    fg_mem_get_stats(&before);
    hook_base = before.n_allocs;
    fg_mem_set_hook(record_site);
    fg_status st = run_once(kind, &base);
    fg_mem_set_hook(NULL);
    fg_mem_get_stats(&after);
    if (st) fail_msg("the baseline run failed: %s", fg_last_error());
    assert_int_equal(tagged_now(&after), tagged_now(&before));
    const int64_t count = after.n_allocs - before.n_allocs;
    assert_int_equal((int64_t)sites_n, count);
    assert_true(count > 20);
    print_message("baseline: %lld tokens generated, %zu bytes of text\n", (long long)base.n_generated, base.n);
    assert_true(base.n_generated > 0);

    /* the walk */
    int64_t n_nomem = 0, n_ok = 0, bad = 0, n_cjson_format = 0;
    static bool absorbed[4096];
    memset(absorbed, 0, sizeof absorbed);
    fg_mem_set_hook(check_site);
    for (int64_t N = 1; N <= count; N++) {
        fg_mem_get_stats(&before);
        fail_ordinal = before.n_allocs + N;
        seen_at_fail = NULL;
        fg_mem_fail_after(N);
        text_buf out;
        st = run_once(kind, &out);
        fg_mem_fail_after(0);
        fg_mem_get_stats(&after);
        const char *msg = fg_last_error();
        if (seen_at_fail != sites[N - 1]) {
            print_error("allocation %lld: call site %p, in the counting run %p (not deterministic)\n", (long long)N,
                        seen_at_fail, sites[N - 1]);
            bad++;
        }
        if (st == FG_ERR_NOMEM) {
            n_nomem++;
            if (!msg[0] || strchr(msg, '\n')) {
                print_error("allocation %lld: FG_ERR_NOMEM without a one-line message: '%s'\n", (long long)N, msg);
                bad++;
            }
        } else if (st == FG_OK) {
            n_ok++;
            if (N <= (int64_t)sizeof absorbed) absorbed[N - 1] = true;
            if (out.n != base.n || memcmp(out.s, base.s, base.n) != 0 || out.n_generated != base.n_generated ||
                out.n_ids != base.n_ids || memcmp(out.ids, base.ids, sizeof base.ids) != 0) {
                print_error("allocation %lld (site %p) failed silently and changed the output: '%s' vs '%s'\n",
                            (long long)N, sites[N - 1], out.s, base.s);
                bad++;
            }
        } else if (site_cjson[N - 1] && st == FG_ERR_FORMAT && strstr(msg, "JSON")) {
            /* was a known gap: a failed cJSON allocation reported as malformed JSON */
            print_error("allocation %lld (site %p, inside cJSON): reported as malformed JSON: %s\n", (long long)N,
                        sites[N - 1], msg);
            n_cjson_format++;
            bad++;
        } else {
            print_error("allocation %lld (site %p): reported as %s: %s\n", (long long)N, sites[N - 1],
                        fg_status_str(st), msg);
            bad++;
        }
        if (tagged_now(&after) != tagged_now(&before)) {
            print_error("allocation %lld (site %p): %lld tagged bytes leaked\n", (long long)N, sites[N - 1],
                        (long long)(tagged_now(&after) - tagged_now(&before)));
            bad++;
        }
    }
    fg_mem_set_hook(NULL);
    print_message("fault walk (%s, %s): %lld allocations from %zu call sites; %lld failed with FG_ERR_NOMEM, "
                  "%lld absorbed (same output), %lld cJSON failures reported as malformed JSON, %lld problems\n",
                  what, once ? "only the Nth fails" : "the Nth and all later fail", (long long)count, distinct_sites(),
                  (long long)n_nomem, (long long)n_ok, (long long)n_cjson_format, (long long)bad);
    if (getenv("FG_FAULT_WALK_SITES")) { /* addresses for addr2line, one per line */
        FILE *f = fopen(getenv("FG_FAULT_WALK_SITES"), "a");
        if (f) {
            /* offsets into the executable, for addr2line -f -i -e test_fault_walk */
            for (size_t i = 0; i < sites_n; i++) {
                Dl_info di;
                uintptr_t base = dladdr(sites[i], &di) ? (uintptr_t)di.dli_fbase : 0;
                fprintf(f, "%s %c 0x%lx\n", what, (i < sizeof absorbed && absorbed[i]) ? 'A' : 'F', (unsigned long)((uintptr_t)sites[i] - base));
            }
            fclose(f);
        }
    }
    free(sites);
    free(site_cjson);
    site_cjson = NULL;
    sites = NULL;
    sites_n = sites_cap = 0;
    fg_json_use_tagged_allocator(); /* the library's hooks again for the tests that follow */
    if (kind == RUN_JSON) json_files(false);
    assert_int_equal(bad, 0);
    assert_true(n_nomem > 0);
}

static void walk_gguf(void **state)
{
    (void)state;
    walk(RUN_GGUF, false);
}

static void walk_gguf_once(void **state)
{
    (void)state;
    walk(RUN_GGUF, true);
}

static void walk_hf_q8(void **state)
{
    (void)state;
    walk(RUN_HF_Q8, false);
}

static void walk_json(void **state)
{
    (void)state;
    walk(RUN_JSON, false);
}

static void walk_json_once(void **state)
{
    (void)state;
    walk(RUN_JSON, true);
}

static void walk_hf_q8_once(void **state)
{
    (void)state;
    walk(RUN_HF_Q8, true);
}

/* ---- I/O faults --------------------------------------------------------------------------- */
static void expect_clean_error(fg_status st, const char *what)
{
    if (st == FG_OK) fail_msg("%s: accepted", what);
    const char *msg = fg_last_error();
    if (!msg[0] || strchr(msg, '\n')) fail_msg("%s: %s without a one-line message", what, fg_status_str(st));
}

/* Runs fn(arg) in a child with a time limit: a reader that blocks (on a FIFO) fails. */
static void in_child_within(void (*fn)(const char *), const char *arg, int seconds, const char *what)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm((unsigned)seconds);
        fn(arg);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("%s: the reader %s", what, WTERMSIG(status) == SIGALRM ? "blocked (killed after the time limit)"
                                                                         : "crashed");
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void open_all_readers(const char *path)
{
    fg_gguf *g = NULL;
    fg_safetensors *st = NULL;
    fg_tokenizer *t = NULL;
    fg_model *m = NULL;
    fg_hf_config c;
    fg_status s;
    if ((s = fg_gguf_open(path, &g)) == FG_OK) _exit(10);
    if (!fg_last_error()[0]) _exit(11);
    if ((s = fg_st_open(path, &st)) == FG_OK) _exit(12);
    if ((s = fg_tok_load_hf(path, &t)) == FG_OK) _exit(13);
    if ((s = fg_hf_config_load(path, &c)) == FG_OK) _exit(14);
    if ((s = fg_model_load(path, NULL, &m)) == FG_OK) _exit(15);
    if (!fg_last_error()[0]) _exit(16);
}

static void special_files(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char p[1024];
    /* a FIFO with no writer: opening it for reading would block forever */
    snprintf(p, sizeof p, "%s/fifo", dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    in_child_within(open_all_readers, p, 5, "FIFO");
    /* a directory where a file is expected (GGUF, tokenizer.json, config.json) */
    snprintf(p, sizeof p, "%s/sub", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    in_child_within(open_all_readers, p, 5, "directory");
    snprintf(p, sizeof p, "%s/sub/tokenizer.json", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    fg_tokenizer *t = NULL;
    snprintf(p, sizeof p, "%s/sub", dir);
    expect_clean_error(fg_tok_load_hf(p, &t), "tokenizer.json that is a directory");
    /* a character device: /dev/zero looks endless */
    in_child_within(open_all_readers, "/dev/zero", 5, "/dev/zero");
    /* unreadable (root reads anything: checked only when it applies) */
    snprintf(p, sizeof p, "%s/noread.gguf", dir);
    assert_int_equal(test_write_file(p, "GGUF", 4), 0);
    chmod(p, 0);
    if (access(p, R_OK) != 0) {
        fg_gguf *g = NULL;
        expect_clean_error(fg_gguf_open(p, &g), "unreadable GGUF");
    }
    unlink(p);
    snprintf(p, sizeof p, "%s/fifo", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/sub/tokenizer.json", dir);
    rmdir(p);
    snprintf(p, sizeof p, "%s/sub", dir);
    rmdir(p);
    rmdir(dir);
    free(dir);
}

/* A copy of the model truncated at many points (header, tokenizer strings, tensor data):
 * each is refused with a one-line error and nothing is kept. */
static void truncated_model(void **state)
{
    (void)state;
    size_t len = 0;
    char *data = test_read_file(test_model_path("qwen2-q256-f32.gguf"), &len);
    assert_non_null(data);
    char *dir = test_tmpdir();
    char p[1024];
    snprintf(p, sizeof p, "%s/cut.gguf", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal((size_t)write(fd, data, len), len);
    fg_gguf *g = NULL;
    assert_int_equal(fg_gguf_open(p, &g), FG_OK);
    const uint64_t data_off = g->data_offset;
    fg_gguf_close(g);

    /* cut points: every header byte up to 64, then a geometric walk through the header,
     * and around the start and end of the tensor data; largest first (ftruncate shrinks) */
    uint64_t cuts[256];
    size_t nc = 0;
    cuts[nc++] = len - 1;
    cuts[nc++] = len - 4096;
    cuts[nc++] = data_off + 1;
    cuts[nc++] = data_off;
    cuts[nc++] = data_off - 1;
    for (uint64_t c = data_off - 2; c > 64 && nc < 200; c = c * 7 / 8) cuts[nc++] = c;
    for (uint64_t c = 64; c > 0 && nc < 256; c--) cuts[nc++] = c;
    cuts[nc++] = 0;
    fg_mem_stats before, after;
    fg_mem_get_stats(&before);
    for (size_t i = 0; i < nc; i++) {
        assert_int_equal(ftruncate(fd, (off_t)cuts[i]), 0);
        fg_model *m = NULL;
        fg_status st = fg_model_load(p, NULL, &m);
        if (st == FG_OK) fail_msg("a copy cut at byte %llu of %zu loaded", (unsigned long long)cuts[i], len);
        expect_clean_error(st, "truncated model");
        if (cuts[i] >= 4 && st != FG_ERR_FORMAT)
            fail_msg("cut at %llu: %s (%s), expected a format error", (unsigned long long)cuts[i], fg_status_str(st),
                     fg_last_error());
    }
    fg_mem_get_stats(&after);
    assert_int_equal(tagged_now(&after), tagged_now(&before));
    close(fd);
    unlink(p);
    rmdir(dir);
    free(dir);
    free(data);
}

/* tokenizer.json and config.json cut short: errors, never a crash or a partial load. */
static void truncated_json(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char p[1024];
    size_t len = 0;
    char *tj = test_read_file(test_model_path("qwen2-q256-hf/tokenizer.json"), &len);
    assert_non_null(tj);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    size_t cuts[] = {len - 1, len - 2, len / 2, len / 3, 4096, 100, 1, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        assert_int_equal(test_write_file(p, tj, cuts[i]), 0);
        fg_tokenizer *t = NULL;
        expect_clean_error(fg_tok_load_hf(p, &t), "truncated tokenizer.json");
    }
    free(tj);
    char *cfg = test_read_file(test_model_path("qwen2-q256-hf/config.json"), &len);
    assert_non_null(cfg);
    snprintf(p, sizeof p, "%s/config.json", dir);
    for (size_t c = 0; c < len; c += 7) {
        assert_int_equal(test_write_file(p, cfg, c), 0);
        fg_hf_config hc;
        expect_clean_error(fg_hf_config_load(p, &hc), "truncated config.json");
    }
    free(cfg);
    unlink(p);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    unlink(p);
    rmdir(dir);
    free(dir);
}

/* Writers whose device is full (/dev/full: every write fails with ENOSPC) report an I/O
 * error naming the file, and do not remove what is not theirs. */
static void writers_on_full_device(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0) skip();
    fg_gguf_writer *w = NULL;
    assert_int_equal(fg_gguf_writer_create(&w), FG_OK);
    assert_int_equal(fg_gguf_w_str(w, "general.architecture", "qwen2", 5), FG_OK);
    const uint64_t ne[2] = {1024, 1024};
    assert_int_equal(fg_gguf_w_tensor(w, "t", FG_DT_F32, 2, ne), FG_OK);
    fg_status st = fg_gguf_w_begin(w, "/dev/full");
    static float zeros[1024 * 64];
    for (int i = 0; i < 16 && st == FG_OK; i++) st = fg_gguf_w_data(w, zeros, sizeof zeros);
    if (st == FG_OK) st = fg_gguf_w_finish(w);
    assert_int_equal(st, FG_ERR_IO);
    assert_non_null(strstr(fg_last_error(), "/dev/full"));
    fg_gguf_writer_free(w);

    fg_st_writer *sw = NULL;
    assert_int_equal(fg_st_writer_create(&sw), FG_OK);
    const uint64_t shape[1] = {16};
    assert_int_equal(fg_st_w_tensor(sw, "x", FG_DT_F32, 1, shape), FG_OK);
    st = fg_st_w_begin(sw, "/dev/full");
    if (st == FG_OK) st = fg_st_w_data(sw, zeros, 16 * sizeof(float));
    if (st == FG_OK) st = fg_st_w_finish(sw);
    assert_int_equal(st, FG_ERR_IO);
    fg_st_writer_free(sw);
    struct stat sb;
    assert_int_equal(stat("/dev/full", &sb), 0);
    assert_true(S_ISCHR(sb.st_mode));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(special_files),
        cmocka_unit_test(truncated_model),
        cmocka_unit_test(truncated_json),
        cmocka_unit_test(writers_on_full_device),
        cmocka_unit_test(walk_gguf),
        cmocka_unit_test(walk_gguf_once),
        cmocka_unit_test(walk_hf_q8),
        cmocka_unit_test(walk_hf_q8_once),
        cmocka_unit_test(walk_json),
        cmocka_unit_test(walk_json_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
