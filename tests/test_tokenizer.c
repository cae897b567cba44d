/* Tokenizer tests against goldens made by Hugging Face transformers.js
 * (scripts/goldens/make_tokenizer_goldens.mjs) from the real tokenizer.json files of
 * Qwen, Llama 3 and Llama 2 (tests/data/tokenizers/NAME/tokenizer.json.xz), and against
 * the ids of the engine goldens (made with llama.cpp's tokenizer). */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "mem/mem.h"
#include "token/token.h"

enum { QWEN, LLAMA3, LLAMA2, NTOK };
static const char *const names[NTOK] = {"qwen", "llama3", "llama2"};
static char *g_tmp;
static char g_dir[NTOK][512];
static fg_tokenizer *g_tok[NTOK];
static cJSON *g_gold;
static int64_t g_qwen_bytes; /* FG_MEM_TOKENIZER bytes held by the loaded Qwen tokenizer */

/* ---- helpers ------------------------------------------------------------------------- */
static int64_t tok_mem_now(void)
{
    fg_mem_stats st;
    fg_mem_get_stats(&st);
    return st.current[FG_MEM_TOKENIZER];
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: throughput figures that do not depend on how busy the
 * machine is. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The case's input bytes: "text", or "hex" (raw, possibly invalid UTF-8). malloc'd. */
static char *case_bytes(const cJSON *c, size_t *len)
{
    const cJSON *hex = cJSON_GetObjectItem(c, "hex");
    if (cJSON_IsString(hex)) {
        size_t n = strlen(hex->valuestring) / 2;
        char *b = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            sscanf(hex->valuestring + 2 * i, "%2x", &v);
            b[i] = (char)v;
        }
        b[n] = 0;
        *len = n;
        return b;
    }
    const char *t = cJSON_GetObjectItem(c, "text")->valuestring;
    *len = strlen(t);
    return strdup(t);
}

static int32_t *json_ids(const cJSON *arr, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) v[i++] = (int32_t)it->valuedouble;
    return v;
}

/* Compares; on a difference prints where, returns false. */
static bool same_ids(const char *what, const char *tok, const int32_t *got, size_t ng, const int32_t *want, size_t nw)
{
    size_t i = 0;
    while (i < ng && i < nw && got[i] == want[i]) i++;
    if (i == ng && i == nw) return true;
    fprintf(stderr, "MISMATCH %s [%s]: %zu ids, expected %zu; first difference at %zu: got %d, want %d\n", what, tok,
            ng, nw, i, i < ng ? got[i] : -1, i < nw ? want[i] : -1);
    return false;
}

static void encode_check(fg_tokenizer *t, const char *s, size_t n, bool special, int32_t **ids, size_t *nids)
{
    fg_status st = fg_tok_encode_alloc(t, s, n, special, false, ids, nids);
    if (st) fprintf(stderr, "encode failed: %s\n", fg_last_error());
    assert_int_equal(st, FG_OK);
}

/* A field of /proc/self/status in kB (-1 if unavailable). */
static long proc_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

static int setup(void **state)
{
    (void)state;
    g_tmp = test_tmpdir();
    if (!g_tmp) return -1;
    for (int k = 0; k < NTOK; k++) {
        snprintf(g_dir[k], sizeof g_dir[k], "%s/%s", g_tmp, names[k]);
        char cmd[8192];
        const char *src = test_data_path("tokenizers");
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && xz -dc '%s/%s/tokenizer.json.xz' > '%s/tokenizer.json' && "
                 "cp '%s/%s/tokenizer_config.json' '%s/'", g_dir[k], src, names[k], g_dir[k], src, names[k], g_dir[k]);
        if (system(cmd) != 0) {
            fprintf(stderr, "cannot unpack the %s tokenizer\n", names[k]);
            return -1;
        }
        int64_t before = tok_mem_now();
        long rss0 = proc_status_kb("RssAnon");
        double t0 = now_s();
        fg_status st = fg_tok_load_hf(g_dir[k], &g_tok[k]);
        if (st) {
            fprintf(stderr, "load %s: %s\n", names[k], fg_last_error());
            return -1;
        }
        int64_t held = tok_mem_now() - before;
        if (k == QWEN) g_qwen_bytes = held;
        printf("# %s: %d tokens, loaded in %.0f ms, %.2f MiB resident (FG_MEM_TOKENIZER), fg_tok_memory %.2f MiB, "
               "RssAnon %+.1f MiB, VmHWM now %.0f MiB\n",
               names[k], fg_tok_vocab_size(g_tok[k]), (now_s() - t0) * 1e3, held / 1048576.0,
               fg_tok_memory(g_tok[k]) / 1048576.0, (proc_status_kb("RssAnon") - rss0) / 1024.0,
               proc_status_kb("VmHWM") / 1024.0);
    }
    size_t len;
    char *gold = test_read_file(test_data_path("tokenizer/goldens.json"), &len);
    if (!gold) return -1;
    g_gold = cJSON_ParseWithLength(gold, len);
    free(gold);
    return g_gold ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int k = 0; k < NTOK; k++) fg_tok_free(g_tok[k]);
    cJSON_Delete(g_gold);
    if (g_tmp) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd)) {}
        free(g_tmp);
    }
    return 0;
}

/* ---- goldens: encode (with and without special tokens) and decode ---------------------- */
static void test_golden_corpus(void **state)
{
    (void)state;
    int bad = 0, checked = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g_gold, "cases")) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        size_t len;
        char *text = case_bytes(c, &len);
        for (int k = 0; k < NTOK; k++) {
            const cJSON *g = cJSON_GetObjectItem(c, names[k]);
            size_t nw, nw2, ng;
            int32_t *want = json_ids(cJSON_GetObjectItem(g, "ids"), &nw);
            const cJSON *ns = cJSON_GetObjectItem(g, "ids_nospecial");
            int32_t *want2 = ns ? json_ids(ns, &nw2) : NULL;
            int32_t *got;
            encode_check(g_tok[k], text, len, true, &got, &ng);
            if (!same_ids(name, names[k], got, ng, want, nw)) bad++;
            fg_free(got);
            encode_check(g_tok[k], text, len, false, &got, &ng);
            if (!same_ids(name, names[k], got, ng, want2 ? want2 : want, want2 ? nw2 : nw)) {
                fprintf(stderr, "  (parse_special=false)\n");
                bad++;
            }
            fg_free(got);
            /* decode(golden ids) == Hugging Face's decode */
            char *dec;
            size_t dl;
            assert_int_equal(fg_tok_decode_alloc(g_tok[k], want, nw, false, &dec, &dl), FG_OK);
            const char *wd = cJSON_GetObjectItem(g, "decoded")->valuestring;
            if (dl != strlen(wd) || memcmp(dec, wd, dl)) {
                fprintf(stderr, "DECODE MISMATCH %s [%s]:\n  got  '%s'\n  want '%s'\n", name, names[k], dec, wd);
                bad++;
            }
            fg_free(dec);
            free(want);
            free(want2);
            checked++;
        }
        free(text);
    }
    printf("# %d case x tokenizer checks, %d mismatches\n", checked, bad);
    assert_true(checked > 200);
    assert_int_equal(bad, 0);
}

/* add_bos default: what add_special_tokens=true puts in front. */
static void test_bos_default(void **state)
{
    (void)state;
    for (int k = 0; k < NTOK; k++) {
        const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(g_gold, "tokenizers"), names[k]);
        size_t np;
        int32_t *prefix = json_ids(cJSON_GetObjectItem(t, "special_prefix"), &np);
        assert_int_equal(fg_tok_vocab_size(g_tok[k]), (int)cJSON_GetObjectItem(t, "vocab_size")->valuedouble);
        int32_t ids[16];
        size_t n;
        assert_int_equal(fg_tok_encode(g_tok[k], "hi", 2, true, fg_tok_add_bos_default(g_tok[k]), ids, 16, &n), FG_OK);
        size_t n0;
        int32_t ids0[16];
        assert_int_equal(fg_tok_encode(g_tok[k], "hi", 2, true, false, ids0, 16, &n0), FG_OK);
        assert_int_equal(n - n0, np);
        for (size_t i = 0; i < np; i++) assert_int_equal(ids[i], prefix[i]);
        free(prefix);
    }
    /* ids, names, end-of-generation */
    assert_int_equal(fg_tok_eos(g_tok[QWEN]), fg_tok_find(g_tok[QWEN], "<|im_end|>", 10));
    assert_true(fg_tok_is_eog(g_tok[QWEN], 151645));
    assert_true(fg_tok_is_eog(g_tok[QWEN], 151643)); /* <|endoftext|> */
    assert_false(fg_tok_is_eog(g_tok[QWEN], 9707));
    assert_true(fg_tok_is_eog(g_tok[LLAMA3], fg_tok_find(g_tok[LLAMA3], "<|eot_id|>", 10)));
    assert_true(fg_tok_is_eog(g_tok[LLAMA3], fg_tok_find(g_tok[LLAMA3], "<|end_of_text|>", 15)));
    assert_int_equal(fg_tok_bos(g_tok[LLAMA2]), 1);
    assert_int_equal(fg_tok_eos(g_tok[LLAMA2]), 2);
    assert_true(fg_tok_is_eog(g_tok[LLAMA2], 2));
    assert_int_equal(fg_tok_get_kind(g_tok[QWEN]), FG_TOK_BYTE_BPE);
    assert_int_equal(fg_tok_get_kind(g_tok[LLAMA2]), FG_TOK_SPM_BPE);
    fg_str p = fg_tok_piece(g_tok[QWEN], 9707);
    assert_int_equal(p.len, 5);
    assert_memory_equal(p.ptr, "Hello", 5);
    p = fg_tok_piece(g_tok[QWEN], 220);
    assert_int_equal(p.len, 2);
    assert_memory_equal(p.ptr, "\xC4\xA0", 2); /* 'Ġ' */
    char b[8];
    assert_int_equal(fg_tok_token_bytes(g_tok[QWEN], 220, b, sizeof b), 1);
    assert_int_equal(b[0], ' ');
    assert_int_equal(fg_tok_token_type(g_tok[LLAMA2], fg_tok_find(g_tok[LLAMA2], "<0x0A>", 6)), FG_TOKT_BYTE);
    assert_int_equal(fg_tok_token_type(g_tok[QWEN], 151645), FG_TOKT_CONTROL);
    assert_int_equal(fg_tok_token_type(g_tok[QWEN], 151667), FG_TOKT_USER_DEFINED);
    assert_non_null(fg_tok_chat_template(g_tok[QWEN]));
    assert_non_null(strstr(fg_tok_chat_template(g_tok[QWEN]), "<|im_start|>"));
    assert_non_null(fg_tok_chat_template(g_tok[LLAMA3]));
    assert_null(fg_tok_chat_template(g_tok[LLAMA2]));
}

/* lstrip/rstrip on added tokens (a variant of Qwen's tokenizer.json, as in the script). */
static void test_strip_flags(void **state)
{
    (void)state;
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(g_gold, "variants"), "qwen_strip");
    char path[700];
    snprintf(path, sizeof path, "%s/tokenizer.json", g_dir[QWEN]);
    size_t len;
    char *json = test_read_file(path, &len);
    assert_non_null(json);
    cJSON *root = cJSON_ParseWithLength(json, len);
    free(json);
    assert_non_null(root);
    const cJSON *flags = cJSON_GetObjectItem(v, "flags");
    cJSON *at;
    cJSON_ArrayForEach(at, cJSON_GetObjectItem(root, "added_tokens")) {
        const cJSON *f = cJSON_GetObjectItem(flags, cJSON_GetObjectItem(at, "content")->valuestring);
        const cJSON *fl;
        cJSON_ArrayForEach(fl, f) cJSON_ReplaceItemInObject(at, fl->string, cJSON_CreateBool(cJSON_IsTrue(fl)));
    }
    char *mod = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    fg_tokenizer *t;
    assert_int_equal(fg_tok_load_hf_json(mod, strlen(mod), NULL, 0, "qwen_strip", &t), FG_OK);
    cJSON_free(mod);
    int bad = 0, n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(v, "ids")) {
        const char *text = NULL;
        const cJSON *ids = e;
        if (cJSON_IsObject(e)) {
            text = cJSON_GetObjectItem(e, "text")->valuestring;
            ids = cJSON_GetObjectItem(e, "ids");
        } else {
            const cJSON *c;
            cJSON_ArrayForEach(c, cJSON_GetObjectItem(g_gold, "cases"))
                if (!strcmp(cJSON_GetObjectItem(c, "name")->valuestring, e->string))
                    text = cJSON_GetObjectItem(c, "text")->valuestring;
        }
        assert_non_null(text);
        size_t nw, ng;
        int32_t *want = json_ids(ids, &nw), *got;
        encode_check(t, text, strlen(text), true, &got, &ng);
        if (!same_ids(e->string, "qwen_strip", got, ng, want, nw)) bad++;
        n++;
        fg_free(got);
        free(want);
    }
    fg_tok_free(t);
    assert_true(n >= 5);
    assert_int_equal(bad, 0);
}

/* ---- streaming decode ----------------------------------------------------------------- */
static bool valid_utf8(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int l = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        if (!l || i + (size_t)l > n) return false;
        for (int k = 1; k < l; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80) return false;
        i += (size_t)l;
    }
    return true;
}

static void test_stream_equals_decode(void **state)
{
    (void)state;
    int held_back = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g_gold, "cases")) {
        for (int k = 0; k < NTOK; k++) {
            size_t n;
            int32_t *ids = json_ids(cJSON_GetObjectItem(cJSON_GetObjectItem(c, names[k]), "ids"), &n);
            for (int skip = 0; skip < 2; skip++) {
                char *whole;
                size_t wl;
                assert_int_equal(fg_tok_decode_alloc(g_tok[k], ids, n, skip, &whole, &wl), FG_OK);
                fg_tok_stream s;
                fg_tok_stream_init(&s, g_tok[k], skip, true);
                size_t cap = fg_tok_stream_bufsize(g_tok[k]);
                char *chunk = malloc(cap);
                char *acc = malloc(wl + 16);
                size_t al = 0;
                for (size_t i = 0; i < n; i++) {
                    size_t cl;
                    assert_int_equal(fg_tok_stream_push(&s, g_tok[k], ids[i], chunk, cap, &cl), FG_OK);
                    assert_true(valid_utf8(chunk, cl)); /* never a partial character */
                    if (cl == 0 && !fg_tok_is_special(g_tok[k], ids[i])) held_back++;
                    assert_true(al + cl <= wl);
                    memcpy(acc + al, chunk, cl);
                    al += cl;
                }
                al += fg_tok_stream_flush(&s, acc + al, 16);
                assert_int_equal(al, wl);
                assert_memory_equal(acc, whole, wl);
                free(chunk);
                free(acc);
                fg_free(whole);
            }
            free(ids);
        }
    }
    assert_true(held_back > 10); /* the corpus does split characters across tokens */
}

static void test_stream_split_char(void **state)
{
    (void)state;
    fg_tokenizer *t = g_tok[QWEN];
    /* " 🦊" (20 F0 9F A6 8A) is three byte-level tokens in Qwen: 11162 ("ĠðŁ") 99 232
     * (as in the engine golden) */
    int32_t ids[3];
    size_t n;
    assert_int_equal(fg_tok_encode(t, " \xF0\x9F\xA6\x8A", 5, true, false, ids, 3, &n), FG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 11162);
    fg_tok_stream s;
    fg_tok_stream_init(&s, t, false, true);
    char out[4096];
    size_t l;
    assert_int_equal(fg_tok_stream_push(&s, t, ids[0], out, sizeof out, &l), FG_OK);
    assert_int_equal(l, 1); /* the space; F0 9F held back */
    assert_int_equal(out[0], ' ');
    assert_int_equal(fg_tok_stream_push(&s, t, ids[1], out, sizeof out, &l), FG_OK);
    assert_int_equal(l, 0);
    assert_int_equal(fg_tok_stream_push(&s, t, ids[2], out, sizeof out, &l), FG_OK);
    assert_int_equal(l, 4);
    assert_memory_equal(out, "\xF0\x9F\xA6\x8A", 4);
    assert_int_equal(fg_tok_stream_flush(&s, out, sizeof out), 0);
    /* an incomplete character followed by ASCII: U+FFFD then the ASCII */
    fg_tok_stream_init(&s, t, false, false);
    assert_int_equal(fg_tok_stream_push(&s, t, ids[0], out, sizeof out, &l), FG_OK);
    assert_int_equal(l, 1);
    int32_t a = fg_tok_find(t, "a", 1);
    assert_int_equal(fg_tok_stream_push(&s, t, a, out, sizeof out, &l), FG_OK);
    assert_int_equal(l, 4);
    assert_memory_equal(out, "\xEF\xBF\xBD" "a", 4);
    /* incomplete at the end: flushed as U+FFFD */
    assert_int_equal(fg_tok_stream_push(&s, t, ids[1], out, sizeof out, &l), FG_OK); /* A6 alone */
    assert_int_equal(l, 3);
    assert_memory_equal(out, "\xEF\xBF\xBD", 3);
    assert_int_equal(fg_tok_stream_push(&s, t, ids[0], out, sizeof out, &l), FG_OK);
    assert_int_equal(fg_tok_stream_flush(&s, out, sizeof out), 3);
    assert_memory_equal(out, "\xEF\xBF\xBD", 3);
    /* too small a buffer and a bad id are errors, not overflows */
    assert_int_equal(fg_tok_stream_push(&s, t, a, out, 2, &l), FG_ERR_ARG);
    assert_int_equal(fg_tok_stream_push(&s, t, -1, out, sizeof out, &l), FG_ERR_ARG);
    assert_int_equal(fg_tok_stream_push(&s, t, fg_tok_vocab_size(t), out, sizeof out, &l), FG_ERR_ARG);
    /* SentencePiece: the leading ▁ is dropped at the start of a text only */
    fg_tokenizer *l2 = g_tok[LLAMA2];
    int32_t hello = fg_tok_find(l2, "\xE2\x96\x81Hello", 8);
    assert_true(hello >= 0);
    fg_tok_stream_init(&s, l2, true, true);
    assert_int_equal(fg_tok_stream_push(&s, l2, 1, out, sizeof out, &l), FG_OK); /* <s> skipped */
    assert_int_equal(l, 0);
    assert_int_equal(fg_tok_stream_push(&s, l2, hello, out, sizeof out, &l), FG_OK);
    assert_int_equal(l, 5);
    assert_int_equal(fg_tok_stream_push(&s, l2, hello, out, sizeof out, &l), FG_OK);
    assert_int_equal(l, 6);
    assert_memory_equal(out, " Hello", 6);
    fg_tok_stream_init(&s, l2, true, false);
    assert_int_equal(fg_tok_stream_push(&s, l2, hello, out, sizeof out, &l), FG_OK);
    assert_int_equal(l, 6);
}

/* ---- engine goldens: ids made by llama.cpp's tokenizer for the Qwen vocabulary ---------- */
static void test_engine_golden_ids(void **state)
{
    (void)state;
    static const char *const files[] = {"golden/gold-qwen2-tiny-f32.json", "golden/gold-qwen3-tiny-f32.json",
                                        "golden/gold-llama-tiny-f32.json"};
    int n = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len;
        char *txt = test_read_file(test_data_path(files[f]), &len);
        assert_non_null(txt);
        cJSON *root = cJSON_ParseWithLength(txt, len);
        free(txt);
        assert_non_null(root);
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(root, "prompts")) {
            const char *text = cJSON_GetObjectItem(p, "text")->valuestring;
            size_t nw, ng;
            int32_t *want = json_ids(cJSON_GetObjectItem(p, "ids"), &nw), *got;
            encode_check(g_tok[QWEN], text, strlen(text), true, &got, &ng);
            assert_true(same_ids(files[f], "qwen", got, ng, want, nw));
            fg_free(got);
            free(want);
            n++;
        }
        cJSON_Delete(root);
    }
    assert_true(n >= 9);
}

/* ---- GGUF ------------------------------------------------------------------------------ */
/* Every corpus case encodes the same from the GGUF as the golden of tokenizer.json.
 * parse_special=false is compared too, except on texts holding an added token that the
 * GGUF types CONTROL while tokenizer.json says special=false: llama.cpp's converter makes
 * added tokens spelled like control tokens (<|fim_prefix|>, ...) CONTROL, so from a GGUF
 * they are special and parse_special=false leaves them as text. */
static int gguf_vs_golden(fg_tokenizer *t, int k, bool check_nospecial)
{
    int bad = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g_gold, "cases")) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        size_t len, nw, ng;
        char *text = case_bytes(c, &len);
        const cJSON *g = cJSON_GetObjectItem(c, names[k]);
        int32_t *want = json_ids(cJSON_GetObjectItem(g, "ids"), &nw), *got;
        encode_check(t, text, len, true, &got, &ng);
        if (!same_ids(name, "gguf", got, ng, want, nw)) bad++;
        fg_free(got);
        char *dec;
        size_t dl;
        assert_int_equal(fg_tok_decode_alloc(t, want, nw, false, &dec, &dl), FG_OK);
        const char *wd = cJSON_GetObjectItem(g, "decoded")->valuestring;
        if (dl != strlen(wd) || memcmp(dec, wd, dl)) {
            fprintf(stderr, "GGUF DECODE MISMATCH %s: '%s' vs '%s'\n", name, dec, wd);
            bad++;
        }
        fg_free(dec);
        bool retyped = false;
        for (int32_t id = 0; id < fg_tok_vocab_size(g_tok[k]) && check_nospecial; id++) {
            if (fg_tok_token_type(g_tok[k], id) != FG_TOKT_USER_DEFINED || fg_tok_token_type(t, id) != FG_TOKT_CONTROL)
                continue;
            fg_str p = fg_tok_piece(t, id);
            if (memmem(text, len, p.ptr, p.len)) retyped = true;
        }
        if (check_nospecial && !retyped) {
            const cJSON *ns = cJSON_GetObjectItem(g, "ids_nospecial");
            if (ns) {
                free(want);
                want = json_ids(ns, &nw);
            }
            encode_check(t, text, len, false, &got, &ng);
            if (!same_ids(name, "gguf nospecial", got, ng, want, nw)) bad++;
            fg_free(got);
        }
        free(want);
        free(text);
    }
    return bad;
}

static void test_gguf_qwen(void **state)
{
    (void)state;
    const char *path = test_model_path("qwen2-tiny-f32.gguf");
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("# %s not generated yet (frugal synth): GGUF tokenizer check skipped\n", path);
        skip();
    }
    fclose(f);
    fg_gguf *g;
    assert_int_equal(fg_gguf_open(path, &g), FG_OK);
    int64_t before = tok_mem_now();
    fg_tokenizer *t;
    fg_status st = fg_tok_load_gguf(g, &t);
    if (st) fprintf(stderr, "%s\n", fg_last_error());
    assert_int_equal(st, FG_OK);
    printf("# qwen from GGUF: %.2f MiB resident (strings stay in the mapping)\n", (tok_mem_now() - before) / 1048576.0);
    assert_true(tok_mem_now() - before < g_qwen_bytes);
    assert_int_equal(fg_tok_get_kind(t), FG_TOK_BYTE_BPE);
    assert_int_equal(fg_tok_bos(t), 151643);
    assert_int_equal(fg_tok_eos(t), 151645);
    assert_true(fg_tok_is_eog(t, 151645));
    /* the pieces are views of the mapping */
    fg_str p = fg_tok_piece(t, 9707);
    assert_true((const uint8_t *)p.ptr >= g->file.data && (const uint8_t *)p.ptr < g->file.data + g->file.size);
    assert_int_equal(gguf_vs_golden(t, QWEN, true), 0);
    fg_tok_free(t);
    fg_gguf_close(g);
}

/* The q256 GGUF files (llama.cpp-quantized, vocabulary cut to 4096 tokens) and the ids of
 * their goldens, produced by llama.cpp's tokenizer. */
static void test_gguf_q256(void **state)
{
    (void)state;
    const char *path = test_model_path("qwen2-q256-q8_0.gguf");
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("# %s not unpacked: skipped\n", path);
        skip();
    }
    fclose(f);
    fg_gguf *g;
    assert_int_equal(fg_gguf_open(path, &g), FG_OK);
    fg_tokenizer *t;
    assert_int_equal(fg_tok_load_gguf(g, &t), FG_OK);
    assert_int_equal(fg_tok_vocab_size(t), 4096);
    size_t len;
    char *txt = test_read_file(test_data_path("golden/gold-qwen2-q256-q8_0.json"), &len);
    assert_non_null(txt);
    cJSON *root = cJSON_ParseWithLength(txt, len);
    free(txt);
    const cJSON *pr;
    int n = 0;
    cJSON_ArrayForEach(pr, cJSON_GetObjectItem(root, "prompts")) {
        const char *text = cJSON_GetObjectItem(pr, "text")->valuestring;
        size_t nw, ng;
        int32_t *want = json_ids(cJSON_GetObjectItem(pr, "ids"), &nw), *got;
        encode_check(t, text, strlen(text), true, &got, &ng);
        assert_true(same_ids("q256", "gguf", got, ng, want, nw));
        fg_free(got);
        free(want);
        n++;
    }
    assert_true(n >= 2);
    cJSON_Delete(root);
    fg_tok_free(t);
    fg_gguf_close(g);
}

/* SentencePiece from GGUF (tokenizer.ggml.model = "llama": tokens, types, scores; merges
 * by score, as llama.cpp and SentencePiece do): a GGUF written from Llama 2's vocabulary,
 * each piece scored by the rank of the merge that makes it (the order Hugging Face's
 * converter derived the merges from), encodes the corpus as the tokenizer.json golden
 * says. */
static void test_gguf_spm(void **state)
{
    (void)state;
    fg_tokenizer *src = g_tok[LLAMA2];
    int32_t n = fg_tok_vocab_size(src);
    const char **strs = malloc((size_t)n * sizeof *strs);
    size_t *lens = malloc((size_t)n * sizeof *lens);
    float *scores = malloc((size_t)n * sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    for (int32_t i = 0; i < n; i++) {
        fg_str p = fg_tok_piece(src, i);
        strs[i] = p.ptr;
        lens[i] = p.len;
        types[i] = fg_tok_token_type(src, i);
        scores[i] = -1e9f;
    }
    char jpath[700];
    snprintf(jpath, sizeof jpath, "%s/tokenizer.json", g_dir[LLAMA2]);
    size_t jl;
    char *json = test_read_file(jpath, &jl);
    cJSON *root = cJSON_ParseWithLength(json, jl);
    free(json);
    assert_non_null(root);
    int rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(cJSON_GetObjectItem(root, "model"), "merges")) {
        char joined[512];
        const char *sp = strchr(m->valuestring, ' ');
        assert_non_null(sp);
        snprintf(joined, sizeof joined, "%.*s%s", (int)(sp - m->valuestring), m->valuestring, sp + 1);
        int32_t id = fg_tok_find(src, joined, strlen(joined));
        if (id >= 0 && scores[id] < -(float)rank) scores[id] = -(float)rank;
        rank++;
    }
    cJSON_Delete(root);
    char path[700];
    snprintf(path, sizeof path, "%s/llama2-vocab.gguf", g_tmp);
    fg_gguf_writer *w;
    assert_int_equal(fg_gguf_writer_create(&w), FG_OK);
    assert_int_equal(fg_gguf_w_str(w, "general.architecture", "llama", 5), FG_OK);
    assert_int_equal(fg_gguf_w_str(w, "tokenizer.ggml.model", "llama", 5), FG_OK);
    assert_int_equal(fg_gguf_w_arr_str(w, "tokenizer.ggml.tokens", strs, lens, (uint64_t)n), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "tokenizer.ggml.scores", FG_GGUF_F32, scores, (uint64_t)n), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "tokenizer.ggml.token_type", FG_GGUF_I32, types, (uint64_t)n), FG_OK);
    assert_int_equal(fg_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1), FG_OK);
    assert_int_equal(fg_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2), FG_OK);
    assert_int_equal(fg_gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 0), FG_OK);
    assert_int_equal(fg_gguf_w_begin(w, path), FG_OK);
    assert_int_equal(fg_gguf_w_finish(w), FG_OK);
    fg_gguf_writer_free(w);
    free(strs);
    free(lens);
    free(scores);
    free(types);
    fg_gguf *g;
    assert_int_equal(fg_gguf_open(path, &g), FG_OK);
    fg_tokenizer *t;
    assert_int_equal(fg_tok_load_gguf(g, &t), FG_OK);
    assert_int_equal(fg_tok_get_kind(t), FG_TOK_SPM_BPE);
    assert_true(fg_tok_add_bos_default(t));
    assert_int_equal(gguf_vs_golden(t, LLAMA2, true), 0);
    fg_tok_free(t);
    fg_gguf_close(g);
}

/* ---- bad input ------------------------------------------------------------------------ */
static void expect_load_error(const char *json, fg_status want, const char *needle)
{
    fg_tokenizer *t = (fg_tokenizer *)1;
    fg_status st = fg_tok_load_hf_json(json, strlen(json), NULL, 0, "bad.json", &t);
    if (st != want) fprintf(stderr, "'%s' -> %s (%s)\n", json, fg_status_str(st), fg_last_error());
    assert_int_equal(st, want);
    assert_null(t);
    assert_non_null(strstr(fg_last_error(), needle));
    assert_null(strchr(fg_last_error(), '\n'));
}

/* A small byte-level tokenizer.json: 256 byte tokens, two merges, one special token. */
static char *small_json(void)
{
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        int cp = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE ? b : -1;
        if (cp < 0) {
            int k = 0;
            for (int i = 0; i < b; i++)
                if (!((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE)) k++;
            cp = 256 + k;
        }
        char s[4] = {0};
        if (cp < 0x80) s[0] = (char)cp;
        else {
            s[0] = (char)(0xC0 | (cp >> 6));
            s[1] = (char)(0x80 | (cp & 0x3F));
        }
        cJSON_AddNumberToObject(vocab, s, b);
    }
    cJSON_AddNumberToObject(vocab, "ab", 256);
    cJSON_AddNumberToObject(vocab, "abc", 257);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    cJSON_AddItemToArray(merges, cJSON_CreateString("a b"));
    cJSON_AddItemToArray(merges, cJSON_CreateString("ab c"));
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "ByteLevel");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens"), *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "id", 258);
    cJSON_AddStringToObject(a, "content", "<eos>");
    cJSON_AddBoolToObject(a, "special", true);
    cJSON_AddItemToArray(added, a);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void test_bad_json(void **state)
{
    (void)state;
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {", FG_ERR_FORMAT, "malformed JSON");
    expect_load_error("not json at all", FG_ERR_FORMAT, "malformed JSON");
    expect_load_error("{\"version\": \"1.0\"}", FG_ERR_FORMAT, "no \"model\"");
    expect_load_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", FG_ERR_UNSUPPORTED, "Unigram");
    expect_load_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", FG_ERR_UNSUPPORTED, "WordPiece");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", FG_ERR_FORMAT, "empty");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}", FG_ERR_FORMAT, "id");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", FG_ERR_FORMAT,
                      "twice");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [7]}}", FG_ERR_FORMAT, "merge");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": "
                      "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(unclosed\"}, \"behavior\": \"Isolated\"}}",
                      FG_ERR_UNSUPPORTED, "split pattern");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": "
                      "{\"type\": \"Lowercase\"}}", FG_ERR_UNSUPPORTED, "Lowercase");
    /* a truncated real file */
    char path[700];
    snprintf(path, sizeof path, "%s/tokenizer.json", g_dir[LLAMA2]);
    size_t len;
    char *json = test_read_file(path, &len);
    assert_non_null(json);
    fg_tokenizer *t;
    assert_int_equal(fg_tok_load_hf_json(json, len / 2, NULL, 0, "half", &t), FG_ERR_FORMAT);
    free(json);
    /* missing files */
    assert_int_equal(fg_tok_load_hf("/nonexistent/dir", &t), FG_ERR_IO);
    assert_non_null(strstr(fg_last_error(), "/nonexistent/dir"));
    /* the small tokenizer works */
    char *s = small_json();
    assert_int_equal(fg_tok_load_hf_json(s, strlen(s), NULL, 0, "small", &t), FG_OK);
    int32_t ids[8];
    size_t n;
    assert_int_equal(fg_tok_encode(t, "abcab<eos>", 10, true, false, ids, 8, &n), FG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 257);
    assert_int_equal(ids[1], 256);
    assert_int_equal(ids[2], 258);
    /* a too small caller buffer: the count is still exact */
    assert_int_equal(fg_tok_encode(t, "abcab<eos>", 10, true, false, ids, 1, &n), FG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 257);
    fg_tok_free(t);
    cJSON_free(s);
}

/* Every allocation of a load can fail: a clean FG_ERR_NOMEM, no leak (ASan), no crash. */
static void test_alloc_failures(void **state)
{
    (void)state;
    char *s = small_json();
    int failures = 0;
    for (int64_t k = 1; k < 400; k++) {
        fg_tokenizer *t = NULL;
        int64_t before = tok_mem_now();
        fg_mem_fail_after(k);
        fg_status st = fg_tok_load_hf_json(s, strlen(s), NULL, 0, "small", &t);
        int32_t ids[8];
        size_t n;
        fg_status st2 = t ? fg_tok_encode(t, "abcab<eos> x", 12, true, false, ids, 8, &n) : FG_OK;
        fg_mem_fail_after(0);
        if (st == FG_OK) {
            assert_true(st2 == FG_OK || st2 == FG_ERR_NOMEM);
            fg_tok_free(t);
            if (st2 == FG_OK) break;
        } else {
            assert_int_equal(st, FG_ERR_NOMEM);
            assert_null(t);
            failures++;
        }
        assert_int_equal(tok_mem_now(), before);
    }
    assert_true(failures > 5);
    cJSON_free(s);
}

/* Random texts: decode(encode(x)) gives x back (Qwen: NFC(x); utf8proc's NFC is the
 * reference), and random bytes always give valid UTF-8 back. (U+2581 is left out: in
 * SentencePiece it is the space and decodes as one, in Hugging Face too.) */
static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33) % n;
}

static size_t put_cp(char *o, uint32_t cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static void test_random_roundtrip(void **state)
{
    (void)state;
    static const uint32_t pool[] = {' ', ' ', ' ', '\n', '\t', '\r', '\'', '0', '7', '.', ',', '<', '|', '>', 0xE9, 0x301,
                                    0x308, 0x4E2D, 0x6587, 0xAC00, 0x1100, 0x1161, 0x1F600, 0x200D, 0x2764, 0xFE0F,
                                    0x3000, 0xA0, 0xFFFD, 0x10FFFD, 0x5C, 0x41, 0x410, 0x5D0, 0x627, 0x0E01};
    char buf[2048];
    int checked = 0;
    for (int iter = 0; iter < 300; iter++) {
        size_t n = 0, len = rnd(120);
        for (size_t i = 0; i < len; i++) {
            uint32_t r = rnd(4);
            uint32_t cp = r == 0 ? 'a' + rnd(26) : r == 1 ? 'A' + rnd(26) : pool[rnd(sizeof pool / sizeof pool[0])];
            n += put_cp(buf + n, cp);
        }
        for (int k = 0; k < NTOK; k++) {
            int32_t *ids;
            size_t ni;
            encode_check(g_tok[k], buf, n, true, &ids, &ni);
            char *dec;
            size_t dl;
            assert_int_equal(fg_tok_decode_alloc(g_tok[k], ids, ni, false, &dec, &dl), FG_OK);
            const char *want = buf;
            size_t wl = n;
            utf8proc_uint8_t *nfc = NULL;
            if (k == QWEN) {
                utf8proc_map((const utf8proc_uint8_t *)buf, (utf8proc_ssize_t)n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
                want = (const char *)nfc;
                wl = strlen(want);
            }
            if (dl != wl || memcmp(dec, want, wl)) {
                fprintf(stderr, "roundtrip [%s] of '%.*s' gave '%s'\n", names[k], (int)n, buf, dec);
                fail();
            }
            free(nfc);
            fg_free(dec);
            fg_free(ids);
            checked++;
        }
        /* raw random bytes: anything in, valid UTF-8 out */
        for (size_t i = 0; i < len; i++) buf[i] = (char)rnd(256);
        for (int k = 0; k < NTOK; k++) {
            int32_t *ids;
            size_t ni;
            encode_check(g_tok[k], buf, len, rnd(2), &ids, &ni);
            for (size_t i = 0; i < ni; i++) assert_true(ids[i] >= 0 && ids[i] < fg_tok_vocab_size(g_tok[k]));
            char *dec;
            size_t dl;
            assert_int_equal(fg_tok_decode_alloc(g_tok[k], ids, ni, rnd(2), &dec, &dl), FG_OK);
            assert_true(valid_utf8(dec, dl));
            fg_free(dec);
            fg_free(ids);
        }
    }
    assert_int_equal(checked, 900);
}

/* ---- memory and speed ------------------------------------------------------------------- */
static void test_memory_budget(void **state)
{
    (void)state;
    /* issue 3: Qwen's vocabulary and merges in at most 12 MiB after load */
    assert_true(g_qwen_bytes > 0);
    assert_true(g_qwen_bytes <= 12 * 1048576);
    assert_true((int64_t)fg_tok_memory(g_tok[QWEN]) <= g_qwen_bytes);
    /* encoding returns everything it took */
    int64_t before = tok_mem_now();
    int32_t *ids;
    size_t n;
    encode_check(g_tok[QWEN], "memory check 检查", 19, true, &ids, &n);
    fg_free(ids);
    assert_int_equal(tok_mem_now(), before);
}

static void test_throughput(void **state)
{
    (void)state;
    /* ~1 MB of mixed-language text: the corpus' valid texts repeated */
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap + 4096);
    while (len < cap) {
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(g_gold, "cases")) {
            const cJSON *tx = cJSON_GetObjectItem(c, "text");
            if (!cJSON_IsString(tx) || strstr(cJSON_GetObjectItem(c, "name")->valuestring, "special")) continue;
            size_t l = strlen(tx->valuestring);
            if (len + l + 1 > cap + 4096) break;
            memcpy(text + len, tx->valuestring, l);
            len += l;
            text[len++] = '\n';
        }
    }
    for (int k = 0; k < NTOK; k++) {
        int32_t *ids;
        size_t n;
        double t0 = cpu_s();
        encode_check(g_tok[k], text, len, true, &ids, &n);
        double dt = cpu_s() - t0;
        double mbs = len / 1e6 / dt;
        printf("# encode %s: %.2f MB in %.3f s CPU = %.1f MB/s (%zu tokens, %.2f bytes/token)\n", names[k], len / 1e6,
               dt, mbs, n, (double)len / (double)n);
        char *dec;
        size_t dl;
        t0 = cpu_s();
        assert_int_equal(fg_tok_decode_alloc(g_tok[k], ids, n, false, &dec, &dl), FG_OK);
        printf("# decode %s: %.1f MB/s CPU\n", names[k], dl / 1e6 / (cpu_s() - t0));
        fg_free(dec);
        fg_free(ids);
        assert_true(mbs > 0.5); /* a pathology guard, not a benchmark */
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_corpus),
        cmocka_unit_test(test_bos_default),
        cmocka_unit_test(test_strip_flags),
        cmocka_unit_test(test_stream_equals_decode),
        cmocka_unit_test(test_stream_split_char),
        cmocka_unit_test(test_engine_golden_ids),
        cmocka_unit_test(test_random_roundtrip),
        cmocka_unit_test(test_gguf_qwen),
        cmocka_unit_test(test_gguf_q256),
        cmocka_unit_test(test_gguf_spm),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
