/* The GGUF reader: files built byte by byte here (independently of frugal's writer) are
 * read back and every metadata type and tensor view checked; then malformed files, each
 * of which must fail cleanly with a one-line message; then the llama.cpp-quantized
 * qwen2-q256 files of tests/data/golden, whose contents follow from the synthetic spec
 * (../shared/synthetic/SPEC.md: hidden 256, intermediate 512, 2 layers, 4 heads, 2 kv
 * heads, vocabulary cut to 4096, tied embeddings). */
#include "testutil.h"

#include "format/format.h"
#include "mem/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a byte builder ------------------------------------------------------------------- */
typedef struct bb {
    uint8_t *p;
    size_t n, cap;
} bb;

static void put(bb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u8_(bb *b, uint8_t v) { put(b, &v, 1); }
static void u16_(bb *b, uint16_t v) { put(b, &v, 2); }
static void u32_(bb *b, uint32_t v) { put(b, &v, 4); }
static void u64_(bb *b, uint64_t v) { put(b, &v, 8); }
static void f32_(bb *b, float v) { put(b, &v, 4); }
static void f64_(bb *b, double v) { put(b, &v, 8); }
static void str_(bb *b, const char *s)
{
    u64_(b, strlen(s));
    put(b, s, strlen(s));
}
static void pad_(bb *b, size_t a)
{
    while (b->n % a) u8_(b, 0);
}
static void hdr_(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    u32_(b, version);
    u64_(b, n_tensors);
    u64_(b, n_kv);
}
static void kv_(bb *b, const char *key, uint32_t type)
{
    str_(b, key);
    u32_(b, type);
}
static void arr_(bb *b, const char *key, uint32_t elem_type, uint64_t n)
{
    kv_(b, key, FG_GGUF_ARRAY);
    u32_(b, elem_type);
    u64_(b, n);
}
static void tinfo_(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset)
{
    str_(b, name);
    u32_(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) u64_(b, ne[i]);
    u32_(b, type);
    u64_(b, offset);
}

static char *tmpdir;

static const char *tmp_path(const char *name)
{
    static char slots[4][1024];
    static int next;
    char *p = slots[next++ & 3];
    snprintf(p, sizeof slots[0], "%s/%s", tmpdir, name);
    return p;
}

static const char *write_tmp(const char *name, const bb *b)
{
    const char *p = tmp_path(name);
    assert_int_equal(test_write_file(p, b->n ? (const void *)b->p : "", b->n), 0);
    return p;
}

/* The open must fail with `want`, leave *out NULL and set a one-line message that names
 * the file. */
static void expect_fail_at(const char *path, fg_status want, const char *ctx, int line)
{
    fg_gguf *g = (fg_gguf *)&g;
    fg_status st = fg_gguf_open(path, &g);
    const char *e = fg_last_error();
    if (st != want)
        fail_msg("line %d (%s): expected status '%s', got '%s' (%s)", line, ctx, fg_status_str(want),
                 fg_status_str(st), e);
    if (g) fail_msg("line %d (%s): output not NULL on failure", line, ctx);
    if (!*e || strchr(e, '\n')) fail_msg("line %d (%s): bad message '%s'", line, ctx, e);
    if (!strstr(e, path)) fail_msg("line %d (%s): message does not name the file: %s", line, ctx, e);
}
#define expect_fail(path, want, ctx) expect_fail_at(path, want, ctx, __LINE__)

static int setup(void **state)
{
    /* thousands of small files are written: on tmpfs when the caller did not choose */
    struct stat sb;
    if (!getenv("TMPDIR") && stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 0);
    tmpdir = test_tmpdir();
    return tmpdir ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (!getenv("FG_TEST_KEEP") && system(cmd) != 0) return -1; /* FG_TEST_KEEP=1: keep the files */
    free(tmpdir);
    return 0;
}

/* ---- the reference file: every metadata type, six tensors --------------------------------
 * Tensors (ggml type, ne in GGUF order, bytes):
 *   a  f32     [4, 3]          48      values 0..11
 *   b  f16     [8]             16
 *   c  q8_0    [64, 2]         4 blocks x 34 = 136
 *   d  q4_k    [256]           144
 *   e  iq2_xxs [256, 1, 1, 2]  2 blocks x 66 = 132   (not a frugal type: dtype invalid)
 *   f  i32     [3]             12                    (not a frugal type)
 * Data order in the file differs from info order (b first), alignment 64, and the file
 * ends with the last byte of the last tensor so that every truncation breaks it. */
#define REF_ALIGN 64
typedef struct ref_tensor {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[4];
    uint32_t type;
    uint64_t nbytes;
    fg_dtype dtype;
    int data_slot; /* position in the data section */
} ref_tensor;

static const ref_tensor ref_tensors[] = {
    {"a", 2, {4, 3, 1, 1}, 0, 48, FG_DT_F32, 1},
    {"b", 1, {8, 1, 1, 1}, 1, 16, FG_DT_F16, 0},
    {"c", 2, {64, 2, 1, 1}, 8, 136, FG_DT_Q8_0, 2},
    {"d", 1, {256, 1, 1, 1}, 12, 144, FG_DT_Q4_K, 5},
    {"e", 4, {256, 1, 1, 2}, 16, 132, FG_DT_INVALID, 3},
    {"f", 1, {3, 1, 1, 1}, 26, 12, FG_DT_INVALID, 4},
};
#define N_REF (sizeof ref_tensors / sizeof ref_tensors[0])

static uint64_t ref_offset[N_REF];

/* Tensor bytes: a pattern that differs per tensor (a holds the floats 0..11). */
static uint8_t ref_byte(size_t t, uint64_t i) { return (uint8_t)(t * 37 + i * 7 + 1); }

static void build_ref(bb *b)
{
    memset(b, 0, sizeof *b);
    hdr_(b, 3, N_REF, 28);
    kv_(b, "general.architecture", FG_GGUF_STRING); str_(b, "qwen2");
    kv_(b, "general.alignment", FG_GGUF_U32); u32_(b, REF_ALIGN);
    kv_(b, "t.u8", FG_GGUF_U8); u8_(b, 200);
    kv_(b, "t.i8", FG_GGUF_I8); u8_(b, (uint8_t)-5);
    kv_(b, "t.u16", FG_GGUF_U16); u16_(b, 60000);
    kv_(b, "t.i16", FG_GGUF_I16); u16_(b, (uint16_t)-30000);
    kv_(b, "t.u32", FG_GGUF_U32); u32_(b, 4000000000u);
    kv_(b, "t.i32", FG_GGUF_I32); u32_(b, (uint32_t)-2000000000);
    kv_(b, "t.f32", FG_GGUF_F32); f32_(b, 1.5f);
    kv_(b, "t.bool", FG_GGUF_BOOL); u8_(b, 1);
    kv_(b, "t.str", FG_GGUF_STRING); str_(b, "h\xc3\xa9llo \"q\"");
    kv_(b, "t.u64", FG_GGUF_U64); u64_(b, 9223372036854775813ull);
    kv_(b, "t.i64", FG_GGUF_I64); u64_(b, (uint64_t)-4611686018427387904ll);
    kv_(b, "t.f64", FG_GGUF_F64); f64_(b, 0.1);
    arr_(b, "a.u8", FG_GGUF_U8, 3); u8_(b, 1); u8_(b, 2); u8_(b, 255);
    arr_(b, "a.i8", FG_GGUF_I8, 2); u8_(b, (uint8_t)-128); u8_(b, 127);
    arr_(b, "a.u16", FG_GGUF_U16, 2); u16_(b, 65535); u16_(b, 0);
    arr_(b, "a.i16", FG_GGUF_I16, 1); u16_(b, (uint16_t)-2);
    arr_(b, "a.u32", FG_GGUF_U32, 2); u32_(b, 7); u32_(b, 4294967295u);
    arr_(b, "a.i32", FG_GGUF_I32, 3); u32_(b, (uint32_t)-1); u32_(b, 0); u32_(b, 7);
    arr_(b, "a.f32", FG_GGUF_F32, 2); f32_(b, 0.5f); f32_(b, -2.0f);
    arr_(b, "a.bool", FG_GGUF_BOOL, 3); u8_(b, 1); u8_(b, 0); u8_(b, 1);
    arr_(b, "a.str", FG_GGUF_STRING, 3); str_(b, "a"); str_(b, ""); str_(b, "ccc");
    arr_(b, "a.u64", FG_GGUF_U64, 1); u64_(b, 18446744073709551615ull);
    arr_(b, "a.i64", FG_GGUF_I64, 2); u64_(b, (uint64_t)-9); u64_(b, 9);
    arr_(b, "a.f64", FG_GGUF_F64, 1); f64_(b, -1e300);
    arr_(b, "a.empty", FG_GGUF_I32, 0);
    arr_(b, "a.long", FG_GGUF_U16, 6); for (int i = 0; i < 6; i++) u16_(b, (uint16_t)(10 + i));

    /* data layout: slot order, each at the next multiple of the alignment */
    uint64_t at = 0;
    for (int slot = 0; slot < (int)N_REF; slot++)
        for (size_t t = 0; t < N_REF; t++)
            if (ref_tensors[t].data_slot == slot) {
                ref_offset[t] = at;
                at = (at + ref_tensors[t].nbytes + REF_ALIGN - 1) / REF_ALIGN * REF_ALIGN;
            }
    for (size_t t = 0; t < N_REF; t++)
        tinfo_(b, ref_tensors[t].name, ref_tensors[t].n_dims, ref_tensors[t].ne, ref_tensors[t].type, ref_offset[t]);
    pad_(b, REF_ALIGN);
    size_t data_start = b->n;
    for (int slot = 0; slot < (int)N_REF; slot++)
        for (size_t t = 0; t < N_REF; t++) {
            if (ref_tensors[t].data_slot != slot) continue;
            while (b->n < data_start + ref_offset[t]) u8_(b, 0xee);
            if (t == 0)
                for (int i = 0; i < 12; i++) f32_(b, (float)i);
            else
                for (uint64_t i = 0; i < ref_tensors[t].nbytes; i++) u8_(b, ref_byte(t, i));
        }
}

static void test_reference_file(void **state)
{
    bb b;
    build_ref(&b);
    const char *path = write_tmp("ref.gguf", &b);
    fg_gguf *g = NULL;
    fg_status st = fg_gguf_open(path, &g);
    if (st) fail_msg("open: %s", fg_last_error());
    assert_int_equal(g->version, 3);
    assert_int_equal(g->n_kv, 28);
    assert_int_equal(g->n_tensors, N_REF);
    assert_int_equal(g->alignment, REF_ALIGN);
    assert_int_equal(g->data_offset % REF_ALIGN, 0);
    assert_int_equal(g->file.size, b.n);

    /* scalars through the typed getters */
    fg_str s;
    uint64_t u;
    int64_t i;
    double d;
    bool bo;
    assert_true(fg_gguf_get_str(g, "general.architecture", &s));
    assert_true(fg_str_eq(s, "qwen2"));
    assert_false(fg_str_eq(s, "qwen"));
    assert_true(fg_gguf_get_u64(g, "t.u8", &u)); assert_int_equal(u, 200);
    assert_true(fg_gguf_get_i64(g, "t.i8", &i)); assert_int_equal(i, -5);
    assert_false(fg_gguf_get_u64(g, "t.i8", &u)); /* negative: no unsigned value */
    assert_true(fg_gguf_get_u64(g, "t.u16", &u)); assert_int_equal(u, 60000);
    assert_true(fg_gguf_get_i64(g, "t.i16", &i)); assert_int_equal(i, -30000);
    assert_true(fg_gguf_get_u64(g, "t.u32", &u)); assert_int_equal(u, 4000000000u);
    assert_true(fg_gguf_get_i64(g, "t.u32", &i)); assert_int_equal(i, 4000000000ll);
    assert_true(fg_gguf_get_i64(g, "t.i32", &i)); assert_int_equal(i, -2000000000);
    assert_true(fg_gguf_get_f64(g, "t.f32", &d)); assert_true(d == 1.5);
    assert_false(fg_gguf_get_i64(g, "t.f32", &i));
    assert_true(fg_gguf_get_bool(g, "t.bool", &bo)); assert_true(bo);
    assert_false(fg_gguf_get_bool(g, "t.u8", &bo));
    assert_true(fg_gguf_get_str(g, "t.str", &s)); assert_true(fg_str_eq(s, "h\xc3\xa9llo \"q\""));
    assert_false(fg_gguf_get_str(g, "t.u8", &s));
    assert_true(fg_gguf_get_u64(g, "t.u64", &u)); assert_true(u == 9223372036854775813ull);
    assert_false(fg_gguf_get_i64(g, "t.u64", &i)); /* does not fit */
    assert_true(fg_gguf_get_i64(g, "t.i64", &i)); assert_true(i == -4611686018427387904ll);
    assert_true(fg_gguf_get_f64(g, "t.f64", &d)); assert_true(d == 0.1);
    assert_true(fg_gguf_get_f64(g, "t.u16", &d)); assert_true(d == 60000.0);
    assert_false(fg_gguf_get_u64(g, "no.such.key", &u));
    assert_false(fg_gguf_get_u64(g, "a.u8", &u)); /* an array is not a scalar */
    assert_null(fg_gguf_find(g, "t.u"));
    assert_null(fg_gguf_find(g, ""));

    /* arrays */
    const fg_gguf_kv *kv = fg_gguf_find(g, "a.u8");
    assert_non_null(kv);
    assert_int_equal(kv->type, FG_GGUF_ARRAY);
    assert_int_equal(kv->arr_type, FG_GGUF_U8);
    assert_int_equal(kv->arr_n, 3);
    assert_true(fg_gguf_arr_i64(kv, 2, &i)); assert_int_equal(i, 255);
    assert_false(fg_gguf_arr_i64(kv, 3, &i));
    kv = fg_gguf_find(g, "a.i8");
    assert_true(fg_gguf_arr_i64(kv, 0, &i)); assert_int_equal(i, -128);
    assert_true(fg_gguf_arr_i64(kv, 1, &i)); assert_int_equal(i, 127);
    kv = fg_gguf_find(g, "a.u16");
    assert_true(fg_gguf_arr_i64(kv, 0, &i)); assert_int_equal(i, 65535);
    kv = fg_gguf_find(g, "a.i16");
    assert_true(fg_gguf_arr_i64(kv, 0, &i)); assert_int_equal(i, -2);
    kv = fg_gguf_find(g, "a.u32");
    assert_true(fg_gguf_arr_i64(kv, 1, &i)); assert_int_equal(i, 4294967295ll);
    kv = fg_gguf_find(g, "a.i32");
    assert_true(fg_gguf_arr_i64(kv, 0, &i)); assert_int_equal(i, -1);
    assert_true(fg_gguf_arr_i64(kv, 2, &i)); assert_int_equal(i, 7);
    assert_true(fg_gguf_arr_f64(kv, 2, &d)); assert_true(d == 7.0);
    kv = fg_gguf_find(g, "a.f32");
    assert_true(fg_gguf_arr_f64(kv, 0, &d)); assert_true(d == 0.5);
    assert_true(fg_gguf_arr_f64(kv, 1, &d)); assert_true(d == -2.0);
    assert_false(fg_gguf_arr_i64(kv, 0, &i));
    kv = fg_gguf_find(g, "a.bool");
    assert_int_equal(kv->arr_n, 3);
    assert_int_equal(kv->value[0], 1); assert_int_equal(kv->value[1], 0); assert_int_equal(kv->value[2], 1);
    kv = fg_gguf_find(g, "a.u64");
    assert_false(fg_gguf_arr_i64(kv, 0, &i)); /* 2^64-1 does not fit an int64 */
    assert_true(fg_gguf_arr_f64(kv, 0, &d)); assert_true(d == 18446744073709551615.0);
    kv = fg_gguf_find(g, "a.i64");
    assert_true(fg_gguf_arr_i64(kv, 0, &i)); assert_int_equal(i, -9);
    kv = fg_gguf_find(g, "a.f64");
    assert_true(fg_gguf_arr_f64(kv, 0, &d)); assert_true(d == -1e300);
    kv = fg_gguf_find(g, "a.empty");
    assert_int_equal(kv->arr_n, 0);
    assert_false(fg_gguf_arr_i64(kv, 0, &i));
    assert_false(fg_gguf_arr_i64(fg_gguf_find(g, "t.i32"), 0, &i)); /* a scalar is not an array */

    /* string arrays through the iterator */
    kv = fg_gguf_find(g, "a.str");
    assert_false(fg_gguf_arr_f64(kv, 0, &d));
    fg_gguf_str_iter it;
    fg_gguf_str_iter_init(g, kv, &it);
    const char *want[] = {"a", "", "ccc"};
    for (int k = 0; k < 3; k++) {
        assert_true(fg_gguf_str_iter_next(&it, &s));
        assert_true(fg_str_eq(s, want[k]));
    }
    assert_false(fg_gguf_str_iter_next(&it, &s));
    fg_gguf_str_iter_init(g, fg_gguf_find(g, "a.u8"), &it); /* not a string array: empty walk */
    assert_false(fg_gguf_str_iter_next(&it, &s));

    /* rendering for inspect */
    char buf[256];
    struct { const char *key, *text; } fmt[] = {
        {"t.u8", "200"}, {"t.i8", "-5"}, {"t.i32", "-2000000000"}, {"t.f32", "1.5"}, {"t.bool", "true"},
        {"t.u64", "9223372036854775813"}, {"t.f64", "0.1"},
        {"t.str", "\"h\xc3\xa9llo \\\"q\\\"\""},
        {"a.i32", "[i32 \u00d7 3] -1, 0, 7"},
        {"a.str", "[string \u00d7 3] \"a\", \"\", \"ccc\""},
        {"a.empty", "[i32 \u00d7 0]"},
        {"a.long", "[u16 \u00d7 6] 10, 11, 12, 13, ..."},
        {"a.bool", "[bool \u00d7 3] true, false, true"},
    };
    for (size_t k = 0; k < sizeof fmt / sizeof fmt[0]; k++) {
        fg_gguf_kv_format(fg_gguf_find(g, fmt[k].key), buf, sizeof buf);
        if (strcmp(buf, fmt[k].text) != 0) fail_msg("%s rendered as '%s', want '%s'", fmt[k].key, buf, fmt[k].text);
    }
    char small[8];
    fg_gguf_kv_format(fg_gguf_find(g, "a.long"), small, sizeof small); /* truncates, stays terminated */
    assert_true(strlen(small) < sizeof small);

    /* tensors */
    for (size_t t = 0; t < N_REF; t++) {
        const ref_tensor *r = &ref_tensors[t];
        const fg_gguf_tensor *x = &g->tensors[t];
        assert_true(fg_str_eq(x->name, r->name));
        assert_ptr_equal(fg_gguf_find_tensor(g, r->name), x);
        assert_int_equal(x->n_dims, r->n_dims);
        for (int k = 0; k < 4; k++) assert_int_equal(x->ne[k], r->ne[k]);
        assert_int_equal(x->ggml_type, r->type);
        assert_int_equal(x->dtype, r->dtype);
        assert_int_equal(x->nbytes, r->nbytes);
        assert_int_equal(x->offset, ref_offset[t]);
        assert_ptr_equal(x->data, g->file.data + g->data_offset + ref_offset[t]);
        const uint8_t *p = x->data;
        if (t == 0) {
            for (int k = 0; k < 12; k++) {
                float f;
                memcpy(&f, p + 4 * k, 4);
                assert_true(f == (float)k);
            }
        } else {
            for (uint64_t k = 0; k < r->nbytes; k++) assert_int_equal(p[k], ref_byte(t, k));
        }
    }
    assert_null(fg_gguf_find_tensor(g, "g"));
    assert_string_equal(fg_ggml_type_name(16), "iq2_xxs");
    assert_null(fg_ggml_type_name(4));
    fg_gguf_close(g);
    free(b.p);
}

/* A file cut anywhere before its end must be refused, whatever the cut hits. */
static void test_truncated_everywhere(void **state)
{
    bb b;
    build_ref(&b);
    const char *path = tmp_path("cut.gguf");
    for (size_t cut = 0; cut < b.n; cut++) {
        assert_int_equal(test_write_file(path, b.p, cut), 0);
        char ctx[64];
        snprintf(ctx, sizeof ctx, "cut at %zu of %zu", cut, b.n);
        expect_fail(path, FG_ERR_FORMAT, ctx);
    }
    free(b.p);
}

/* ---- a one-tensor file with knobs, for the malformed cases ------------------------------ */
typedef struct tiny {
    uint32_t version;
    uint32_t n_dims;
    uint64_t ne[4];
    uint32_t type;
    uint64_t offset;
    int64_t data_len; /* bytes of data written; -1: exactly what the tensor needs */
} tiny;

static tiny tiny_default(void) { return (tiny){3, 2, {32, 2, 1, 1}, 0, 0, -1}; }

static const char *tiny_file(const char *name, const tiny *t)
{
    bb b = {0};
    hdr_(&b, t->version, 1, 1);
    kv_(&b, "general.architecture", FG_GGUF_STRING);
    str_(&b, "llama");
    tinfo_(&b, "w", t->n_dims, t->ne, t->type, t->offset);
    pad_(&b, 32);
    int64_t n = t->data_len >= 0 ? t->data_len : (int64_t)(t->ne[0] * t->ne[1] * 4);
    for (int64_t i = 0; i < n; i++) u8_(&b, (uint8_t)i);
    const char *p = write_tmp(name, &b);
    free(b.p);
    return p;
}

static void test_tiny_is_valid(void **state)
{
    tiny t = tiny_default();
    fg_gguf *g = NULL;
    assert_int_equal(fg_gguf_open(tiny_file("ok.gguf", &t), &g), FG_OK);
    assert_int_equal(g->alignment, 32);
    assert_int_equal(g->tensors[0].nbytes, 256);
    fg_gguf_close(g);
    t.version = 2; /* v2 has the same little-endian layout */
    assert_int_equal(fg_gguf_open(tiny_file("ok2.gguf", &t), &g), FG_OK);
    assert_int_equal(g->version, 2);
    fg_gguf_close(g);
}

static void test_bad_header(void **state)
{
    tiny t = tiny_default();
    const char *p = tiny_file("magic.gguf", &t);
    bb b = {0};
    size_t len;
    char *data = test_read_file(p, &len);
    data[3] = 'G'; /* "GGUG" */
    put(&b, data, len);
    expect_fail(write_tmp("magic.gguf", &b), FG_ERR_FORMAT, "bad magic");
    free(data);
    free(b.p);

    t.version = 1;
    expect_fail(tiny_file("v1.gguf", &t), FG_ERR_UNSUPPORTED, "version 1");
    t.version = 4;
    expect_fail(tiny_file("v4.gguf", &t), FG_ERR_UNSUPPORTED, "version 4");
    t.version = 0;
    expect_fail(tiny_file("v0.gguf", &t), FG_ERR_FORMAT, "version 0");
    t.version = 0x03000000; /* a big-endian v3 file read little-endian */
    expect_fail(tiny_file("be.gguf", &t), FG_ERR_UNSUPPORTED, "big-endian");

    b = (bb){0};
    expect_fail(write_tmp("empty.gguf", &b), FG_ERR_FORMAT, "empty file");
    expect_fail(tmpdir, FG_ERR_IO, "a directory");
    expect_fail(tmp_path("does-not-exist.gguf"), FG_ERR_IO, "missing file");
}

/* Absurd counts and lengths are refused before anything is allocated for them. */
static void test_absurd_counts(void **state)
{
    fg_mem_stats before, after;
    fg_mem_get_stats(&before);
    const uint64_t huge[] = {1ull << 60, 10000000ull, 1000};
    for (int h = 0; h < 3; h++) {
        char ctx[64];
        bb b = {0};
        hdr_(&b, 3, 0, huge[h]); /* n_kv */
        kv_(&b, "k", FG_GGUF_U32); u32_(&b, 1);
        snprintf(ctx, sizeof ctx, "n_kv %llu", (unsigned long long)huge[h]);
        expect_fail(write_tmp("nkv.gguf", &b), FG_ERR_FORMAT, ctx);
        free(b.p);

        b = (bb){0};
        hdr_(&b, 3, huge[h], 0); /* n_tensors */
        uint64_t ne[1] = {4};
        tinfo_(&b, "w", 1, ne, 0, 0);
        snprintf(ctx, sizeof ctx, "n_tensors %llu", (unsigned long long)huge[h]);
        expect_fail(write_tmp("nt.gguf", &b), FG_ERR_FORMAT, ctx);
        free(b.p);

        b = (bb){0};
        hdr_(&b, 3, 0, 1); /* string length */
        u64_(&b, huge[h]); put(&b, "key", 3); u32_(&b, FG_GGUF_U8); u8_(&b, 0);
        snprintf(ctx, sizeof ctx, "key length %llu", (unsigned long long)huge[h]);
        expect_fail(write_tmp("klen.gguf", &b), FG_ERR_FORMAT, ctx);
        free(b.p);

        b = (bb){0};
        hdr_(&b, 3, 0, 1); /* string value length */
        kv_(&b, "k", FG_GGUF_STRING); u64_(&b, huge[h]); put(&b, "abc", 3);
        snprintf(ctx, sizeof ctx, "value length %llu", (unsigned long long)huge[h]);
        expect_fail(write_tmp("vlen.gguf", &b), FG_ERR_FORMAT, ctx);
        free(b.p);

        static const uint32_t elem[] = {FG_GGUF_U32, FG_GGUF_STRING, FG_GGUF_U8};
        for (int e = 0; e < 3; e++) {
            b = (bb){0};
            hdr_(&b, 3, 0, 1); /* array length */
            arr_(&b, "k", elem[e], huge[h]);
            for (int k = 0; k < 8; k++) u64_(&b, 1);
            snprintf(ctx, sizeof ctx, "%s array length %llu", fg_gguf_type_name(elem[e]), (unsigned long long)huge[h]);
            expect_fail(write_tmp("alen.gguf", &b), FG_ERR_FORMAT, ctx);
            free(b.p);
        }

        b = (bb){0};
        hdr_(&b, 3, 1, 0); /* tensor name length */
        u64_(&b, huge[h]); put(&b, "w", 1); u32_(&b, 1); u64_(&b, 4); u32_(&b, 0); u64_(&b, 0);
        pad_(&b, 32); for (int k = 0; k < 16; k++) u8_(&b, 0);
        snprintf(ctx, sizeof ctx, "tensor name length %llu", (unsigned long long)huge[h]);
        expect_fail(write_tmp("tlen.gguf", &b), FG_ERR_FORMAT, ctx);
        free(b.p);
    }
    fg_mem_get_stats(&after);
    /* nothing sized by those counts was ever allocated (a 10^7-entry table is > 100 MB) */
    assert_true(after.total_peak - before.total_current < (1 << 20));
    assert_int_equal(after.total_current, before.total_current);
}

static void test_bad_metadata(void **state)
{
    bb b = {0};
    hdr_(&b, 3, 0, 1);
    kv_(&b, "k", 13); u32_(&b, 0);
    expect_fail(write_tmp("type13.gguf", &b), FG_ERR_FORMAT, "unknown value type");
    free(b.p);

    b = (bb){0};
    hdr_(&b, 3, 0, 1);
    arr_(&b, "k", FG_GGUF_ARRAY, 1); u32_(&b, FG_GGUF_U8); u64_(&b, 1); u8_(&b, 0);
    expect_fail(write_tmp("nested.gguf", &b), FG_ERR_UNSUPPORTED, "nested array");
    free(b.p);

    b = (bb){0};
    hdr_(&b, 3, 0, 1);
    arr_(&b, "k", 77, 1); u32_(&b, 0);
    expect_fail(write_tmp("arrtype.gguf", &b), FG_ERR_FORMAT, "unknown array element type");
    free(b.p);

    b = (bb){0};
    hdr_(&b, 3, 0, 2);
    kv_(&b, "same", FG_GGUF_U8); u8_(&b, 1);
    kv_(&b, "same", FG_GGUF_U32); u32_(&b, 1);
    expect_fail(write_tmp("dupkey.gguf", &b), FG_ERR_FORMAT, "duplicate key");
    free(b.p);

    b = (bb){0};
    hdr_(&b, 3, 0, 1);
    kv_(&b, "k", FG_GGUF_U64); u32_(&b, 1); /* half a u64 */
    expect_fail(write_tmp("halfu64.gguf", &b), FG_ERR_FORMAT, "truncated scalar");
    free(b.p);

    b = (bb){0};
    hdr_(&b, 3, 0, 1);
    kv_(&b, "", FG_GGUF_U8); u8_(&b, 1);
    expect_fail(write_tmp("emptykey.gguf", &b), FG_ERR_FORMAT, "empty key");
    free(b.p);

    b = (bb){0};
    hdr_(&b, 3, 0, 1);
    kv_(&b, "flag", FG_GGUF_BOOL); u8_(&b, 2);
    expect_fail(write_tmp("bool2.gguf", &b), FG_ERR_FORMAT, "bool value 2");
    free(b.p);

    b = (bb){0};
    hdr_(&b, 3, 0, 1);
    arr_(&b, "flags", FG_GGUF_BOOL, 2); u8_(&b, 0); u8_(&b, 9);
    expect_fail(write_tmp("boolarr.gguf", &b), FG_ERR_FORMAT, "bool array element 9");
    free(b.p);

    /* general.alignment: must be a nonzero power of two, and a u32 */
    const uint32_t bad_align[] = {0, 3, 48, 0x80000001u};
    for (int k = 0; k < 4; k++) {
        b = (bb){0};
        hdr_(&b, 3, 0, 1);
        kv_(&b, "general.alignment", FG_GGUF_U32); u32_(&b, bad_align[k]);
        char ctx[48];
        snprintf(ctx, sizeof ctx, "alignment %u", bad_align[k]);
        expect_fail(write_tmp("align.gguf", &b), FG_ERR_FORMAT, ctx);
        free(b.p);
    }
    b = (bb){0};
    hdr_(&b, 3, 0, 1);
    kv_(&b, "general.alignment", FG_GGUF_U64); u64_(&b, 32);
    expect_fail(write_tmp("align64.gguf", &b), FG_ERR_FORMAT, "alignment typed u64");
    free(b.p);

    /* a file with metadata and no tensors is fine, with or without the padding */
    b = (bb){0};
    hdr_(&b, 3, 0, 1);
    kv_(&b, "general.alignment", FG_GGUF_U32); u32_(&b, 16);
    fg_gguf *g = NULL;
    assert_int_equal(fg_gguf_open(write_tmp("notensors.gguf", &b), &g), FG_OK);
    assert_int_equal(g->n_tensors, 0);
    assert_int_equal(g->alignment, 16);
    fg_gguf_close(g);
    free(b.p);
}

static void test_bad_tensors(void **state)
{
    tiny t = tiny_default();
    t.n_dims = 0;
    expect_fail(tiny_file("dims0.gguf", &t), FG_ERR_FORMAT, "n_dims 0");
    t = tiny_default();
    t.n_dims = 5;
    expect_fail(tiny_file("dims5.gguf", &t), FG_ERR_FORMAT, "n_dims 5");
    t = tiny_default();
    t.ne[1] = 0;
    t.data_len = 64;
    expect_fail(tiny_file("zerodim.gguf", &t), FG_ERR_FORMAT, "zero dimension");
    t = tiny_default();
    t.n_dims = 3;
    t.ne[0] = 1ull << 32; t.ne[1] = 1ull << 32; t.ne[2] = 4;
    t.data_len = 64;
    expect_fail(tiny_file("overflow.gguf", &t), FG_ERR_FORMAT, "element count overflow");
    t = tiny_default();
    t.n_dims = 2;
    t.ne[0] = 1ull << 62; t.ne[1] = 1;
    t.data_len = 64;
    expect_fail(tiny_file("bytesover.gguf", &t), FG_ERR_FORMAT, "byte size past any file");
    t = tiny_default();
    t.offset = 16;
    t.data_len = 1024; /* inside the file, only misaligned */
    expect_fail(tiny_file("unaligned.gguf", &t), FG_ERR_FORMAT, "unaligned offset");
    t = tiny_default();
    t.offset = 1ull << 40;
    expect_fail(tiny_file("far.gguf", &t), FG_ERR_FORMAT, "offset beyond the file");
    t = tiny_default();
    t.offset = UINT64_MAX - 31; /* aligned; offset + nbytes wraps around */
    expect_fail(tiny_file("wrap.gguf", &t), FG_ERR_FORMAT, "offset + size wraps");
    t = tiny_default();
    t.data_len = 255; /* one byte short */
    expect_fail(tiny_file("short.gguf", &t), FG_ERR_FORMAT, "tensor one byte past the end");
    t = tiny_default();
    t.type = 8; t.ne[0] = 33; t.data_len = 1024;
    expect_fail(tiny_file("block.gguf", &t), FG_ERR_FORMAT, "row not a multiple of the block");
    const uint32_t bad_types[] = {4, 5, 41, 1000, 0xffffffffu};
    for (int k = 0; k < 5; k++) {
        t = tiny_default();
        t.type = bad_types[k];
        t.data_len = 1024;
        char ctx[48];
        snprintf(ctx, sizeof ctx, "ggml type %u", bad_types[k]);
        expect_fail(tiny_file("type.gguf", &t), FG_ERR_FORMAT, ctx);
    }

    /* two tensors: overlapping, duplicate names, empty name */
    const uint64_t ne[1] = {16}; /* 64 bytes of f32 */
    struct { const char *n0, *n1; uint64_t off1; const char *ctx; } two[] = {
        {"x", "y", 0, "same offset"},
        {"x", "y", 32, "overlap by 32 bytes"},
        {"x", "x", 64, "duplicate names"},
        {"x", "", 64, "empty name"},
    };
    for (int k = 0; k < 4; k++) {
        bb b = {0};
        hdr_(&b, 3, 2, 0);
        tinfo_(&b, two[k].n0, 1, ne, 0, 0);
        tinfo_(&b, two[k].n1, 1, ne, 0, two[k].off1);
        pad_(&b, 32);
        for (int i = 0; i < 128; i++) u8_(&b, 0);
        expect_fail(write_tmp("two.gguf", &b), FG_ERR_FORMAT, two[k].ctx);
        free(b.p);
    }
    /* and the same two tensors laid out properly open */
    bb b = {0};
    hdr_(&b, 3, 2, 0);
    tinfo_(&b, "x", 1, ne, 0, 64);
    tinfo_(&b, "y", 1, ne, 0, 0);
    pad_(&b, 32);
    for (int i = 0; i < 128; i++) u8_(&b, (uint8_t)i);
    fg_gguf *g = NULL;
    assert_int_equal(fg_gguf_open(write_tmp("two-ok.gguf", &b), &g), FG_OK);
    assert_int_equal(((const uint8_t *)fg_gguf_find_tensor(g, "x")->data)[0], 64);
    fg_gguf_close(g);
    free(b.p);
}

/* For every ggml type frugal computes with, the reader's byte size agrees with core's
 * dtype table; other valid types load with dtype invalid and the byte sizes of ggml's
 * own table (gguf-py GGML_QUANT_SIZES). */
static void test_type_sizes(void **state)
{
    struct { uint32_t id; uint64_t blck, size; } other[] = {
        {3, 32, 20}, {6, 32, 22}, {7, 32, 24}, {9, 32, 36}, {10, 256, 84}, {11, 256, 110}, {15, 256, 292},
        {16, 256, 66}, {17, 256, 74}, {18, 256, 98}, {19, 256, 50}, {20, 32, 18}, {21, 256, 110},
        {22, 256, 82}, {23, 256, 136}, {24, 1, 1}, {25, 1, 2}, {26, 1, 4}, {27, 1, 8}, {28, 1, 8},
        {29, 256, 56}, {34, 256, 54}, {35, 256, 66}, {39, 32, 17}, {40, 64, 36},
    };
    for (uint32_t id = 0; id < 64; id++) {
        fg_dtype dt = fg_dtype_from_gguf(id);
        uint64_t blck = 0, size = 0;
        if (dt != FG_DT_INVALID) {
            blck = (uint64_t)fg_dtype_get(dt)->block_elems;
            size = fg_row_bytes(dt, (int64_t)blck);
        }
        for (size_t k = 0; k < sizeof other / sizeof other[0]; k++)
            if (other[k].id == id) {
                assert_int_equal(dt, FG_DT_INVALID);
                blck = other[k].blck;
                size = other[k].size;
            }
        if (!blck) continue;
        tiny t = tiny_default();
        t.type = id;
        t.ne[0] = blck * 2;
        t.ne[1] = 3;
        t.data_len = (int64_t)(6 * size);
        fg_gguf *g = NULL;
        if (fg_gguf_open(tiny_file("types.gguf", &t), &g)) fail_msg("type %u: %s", id, fg_last_error());
        assert_int_equal(g->tensors[0].dtype, dt);
        assert_int_equal(g->tensors[0].nbytes, 6 * size);
        if (dt != FG_DT_INVALID) assert_int_equal(g->tensors[0].nbytes, 3 * fg_row_bytes(dt, (int64_t)blck * 2));
        fg_gguf_close(g);
    }
}

/* Every allocation failure during open gives FG_ERR_NOMEM and leaks nothing (the
 * sanitizer build checks the leaks). */
static void test_alloc_failures(void **state)
{
    bb b;
    build_ref(&b);
    const char *path = write_tmp("ref.gguf", &b);
    free(b.p);
    fg_mem_stats s0, s1;
    fg_mem_get_stats(&s0);
    bool succeeded = false;
    for (int n = 1; n < 64 && !succeeded; n++) {
        fg_gguf *g = NULL;
        fg_mem_fail_after(n);
        fg_status st = fg_gguf_open(path, &g);
        fg_mem_fail_after(0);
        if (st == FG_OK) {
            succeeded = true;
            fg_gguf_close(g);
        } else {
            assert_int_equal(st, FG_ERR_NOMEM);
            assert_null(g);
        }
    }
    assert_true(succeeded);
    fg_mem_get_stats(&s1);
    assert_int_equal(s1.total_current, s0.total_current);
}

/* Random corruption of a file whose size is exactly one page multiple, so that any read
 * past its end faults instead of reading the zeros after it: every mutant must open or
 * fail cleanly, never crash. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void build_page_file(bb *b, size_t *header_len, size_t *pad_at, size_t *pad_len)
{
    const size_t total = 8192, data = 1024; /* one F32 tensor of 256 elements */
    for (size_t pad = 0;; pad++) {
        memset(b, 0, sizeof *b);
        hdr_(b, 3, 2, 5);
        kv_(b, "general.architecture", FG_GGUF_STRING); str_(b, "llama");
        arr_(b, "tok", FG_GGUF_STRING, 3); str_(b, "a"); str_(b, "bb"); str_(b, "ccc");
        arr_(b, "ids", FG_GGUF_I32, 2); u32_(b, 1); u32_(b, 2);
        kv_(b, "f", FG_GGUF_F32); f32_(b, 1.0f);
        kv_(b, "pad", FG_GGUF_STRING);
        u64_(b, pad);
        *pad_at = b->n;
        *pad_len = pad;
        for (size_t i = 0; i < pad; i++) u8_(b, 'x');
        const uint64_t ne_w[2] = {128, 1}, ne_v[1] = {128};
        tinfo_(b, "w", 2, ne_w, 0, 0);
        tinfo_(b, "v", 1, ne_v, 0, 512);
        if (((b->n + 31) & ~(size_t)31) == total - data) break;
        free(b->p);
    }
    *header_len = b->n;
    pad_(b, 32);
    for (size_t i = 0; i < data; i++) u8_(b, (uint8_t)i);
    assert_int_equal(b->n, 8192);
}

static void test_random_corruption(void **state)
{
    bb b;
    size_t hlen, pad_at, pad_len;
    build_page_file(&b, &hlen, &pad_at, &pad_len);
    const char *path = write_tmp("page.gguf", &b);
    fg_gguf *g = NULL;
    assert_int_equal(fg_gguf_open(path, &g), FG_OK);
    fg_gguf_close(g);

    uint8_t *m = malloc(b.n);
    uint64_t seed = 12345;
    int n_ok = 0, n_fail = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(m, b.p, b.n);
        int edits = 1 + (int)(rng_next(&seed) % 4);
        for (int e = 0; e < edits; e++) {
            /* in the header, where the parser reads, but not inside the filler string */
            size_t at = (size_t)(rng_next(&seed) % (hlen - pad_len));
            if (at >= pad_at) at += pad_len;
            uint64_t r = rng_next(&seed);
            switch (r % 4) {
            case 0: m[at] = (uint8_t)(r >> 8); break;                  /* random byte */
            case 1: m[at] ^= (uint8_t)(1u << ((r >> 8) % 8)); break;    /* bit flip */
            case 2: if (at + 8 <= hlen) memset(m + at, 0xff, 8); break; /* huge u64 */
            default: if (at + 8 <= hlen) { uint64_t v = (r >> 8) % 64; memcpy(m + at, &v, 8); } break;
            }
        }
        assert_int_equal(test_write_file(path, m, b.n), 0);
        fg_status st = fg_gguf_open(path, &g);
        if (st == FG_OK) {
            n_ok++;
            /* walk everything the API exposes */
            char buf[128];
            for (uint64_t k = 0; k < g->n_kv; k++) {
                fg_gguf_kv_format(&g->kv[k], buf, sizeof buf);
                fg_gguf_str_iter it;
                fg_str s;
                fg_gguf_str_iter_init(g, &g->kv[k], &it);
                while (fg_gguf_str_iter_next(&it, &s)) assert_true(s.ptr + s.len <= (const char *)g->file.data + g->file.size);
            }
            for (uint64_t k = 0; k < g->n_tensors; k++) {
                const fg_gguf_tensor *t = &g->tensors[k];
                assert_true((const uint8_t *)t->data + t->nbytes <= g->file.data + g->file.size);
            }
            fg_gguf_close(g);
        } else {
            n_fail++;
            assert_null(g);
            assert_true(*fg_last_error() != 0);
            assert_true(st == FG_ERR_FORMAT || st == FG_ERR_UNSUPPORTED);
        }
    }
    print_message("random corruption: %d opened, %d refused\n", n_ok, n_fail);
    assert_true(n_fail > 1000); /* most corruptions are detected */
    free(m);
    free(b.p);
}

/* ---- the llama.cpp-quantized golden files ---------------------------------------------- */
static const char *golden_gguf(const char *name)
{
    const char *m = test_model_path(name);
    struct stat s;
    if (stat(m, &s) == 0 && S_ISREG(s.st_mode)) return m;
    /* not unpacked by generate_models.sh: decompress the committed .xz ourselves */
    const char *out = tmp_path(name);
    if (stat(out, &s) == 0) return out;
    char cmd[2600];
    snprintf(cmd, sizeof cmd, "xz -dc '%s/golden/%s.xz' > '%s'", test_data_path(""), name, out);
    FILE *f = popen(cmd, "r");
    if (!f || pclose(f) != 0) fail_msg("cannot decompress %s", name);
    return out;
}

/* qwen2-q256 in GGUF names and ggml order (ne[0] = columns). */
typedef struct q256_tensor {
    const char *name;
    uint32_t n_dims;
    uint64_t ne0, ne1;
} q256_tensor;

static void check_q256(const char *file, const uint32_t *types_2d, int n_types, uint32_t embd_type)
{
    const char *path = golden_gguf(file);
    fg_gguf *g = NULL;
    if (fg_gguf_open(path, &g)) fail_msg("%s: %s", file, fg_last_error());
    fg_str s;
    assert_true(fg_gguf_get_str(g, "general.architecture", &s));
    assert_true(fg_str_eq(s, "qwen2"));
    uint64_t u;
    assert_true(fg_gguf_get_u64(g, "qwen2.embedding_length", &u)); assert_int_equal(u, 256);
    assert_true(fg_gguf_get_u64(g, "qwen2.feed_forward_length", &u)); assert_int_equal(u, 512);
    assert_true(fg_gguf_get_u64(g, "qwen2.block_count", &u)); assert_int_equal(u, 2);
    assert_true(fg_gguf_get_u64(g, "qwen2.attention.head_count", &u)); assert_int_equal(u, 4);
    assert_true(fg_gguf_get_u64(g, "qwen2.attention.head_count_kv", &u)); assert_int_equal(u, 2);
    double d;
    assert_true(fg_gguf_get_f64(g, "qwen2.rope.freq_base", &d)); assert_true(d == 1000000.0);
    assert_true(fg_gguf_get_f64(g, "qwen2.attention.layer_norm_rms_epsilon", &d));
    assert_true(fabs(d - 1e-6) < 1e-12);
    assert_true(fg_gguf_get_str(g, "tokenizer.ggml.model", &s));
    assert_true(fg_str_eq(s, "gpt2"));
    const fg_gguf_kv *tok = fg_gguf_find(g, "tokenizer.ggml.tokens");
    assert_non_null(tok);
    assert_int_equal(tok->arr_type, FG_GGUF_STRING);
    assert_int_equal(tok->arr_n, 4096); /* vocab_cut */
    fg_gguf_str_iter it;
    fg_gguf_str_iter_init(g, tok, &it);
    uint64_t n = 0;
    while (fg_gguf_str_iter_next(&it, &s)) {
        if (n == 0) assert_true(fg_str_eq(s, "!")); /* the Qwen vocabulary starts with the printable bytes */
        if (n == 1) assert_true(fg_str_eq(s, "\""));
        n++;
    }
    assert_int_equal(n, 4096);
    char buf[128];
    fg_gguf_kv_format(tok, buf, sizeof buf);
    assert_string_equal(buf, "[string \u00d7 4096] \"!\", \"\\\"\", \"#\", \"$\", ...");

    /* the tensor list: 26 tensors (tied embeddings: no output.weight) */
    q256_tensor want[26];
    int nw = 0;
    want[nw++] = (q256_tensor){"token_embd.weight", 2, 256, 4096};
    want[nw++] = (q256_tensor){"output_norm.weight", 1, 256, 1};
    for (int l = 0; l < 2; l++) {
        static char names[2][12][40];
        const q256_tensor per[12] = {
            {"attn_norm.weight", 1, 256, 1}, {"attn_q.weight", 2, 256, 256}, {"attn_q.bias", 1, 256, 1},
            {"attn_k.weight", 2, 256, 128},  {"attn_k.bias", 1, 128, 1},     {"attn_v.weight", 2, 256, 128},
            {"attn_v.bias", 1, 128, 1},      {"attn_output.weight", 2, 256, 256}, {"ffn_norm.weight", 1, 256, 1},
            {"ffn_gate.weight", 2, 256, 512}, {"ffn_up.weight", 2, 256, 512}, {"ffn_down.weight", 2, 512, 256},
        };
        for (int k = 0; k < 12; k++) {
            snprintf(names[l][k], sizeof names[l][k], "blk.%d.%s", l, per[k].name);
            want[nw] = per[k];
            want[nw++].name = names[l][k];
        }
    }
    assert_int_equal(g->n_tensors, 26);
    assert_null(fg_gguf_find_tensor(g, "output.weight"));
    for (int k = 0; k < nw; k++) {
        const fg_gguf_tensor *t = fg_gguf_find_tensor(g, want[k].name);
        if (!t) fail_msg("%s: no tensor %s", file, want[k].name);
        assert_int_equal(t->n_dims, want[k].n_dims);
        assert_int_equal(t->ne[0], want[k].ne0);
        assert_int_equal(t->ne[1], want[k].ne1);
        if (t->n_dims == 1) {
            assert_int_equal(t->ggml_type, 0); /* norms and biases stay F32 */
            assert_int_equal(t->dtype, FG_DT_F32);
        } else {
            bool ok = false;
            for (int j = 0; j < n_types; j++) ok |= t->ggml_type == types_2d[j];
            if (!ok) fail_msg("%s: %s has ggml type %u", file, want[k].name, t->ggml_type);
            assert_int_not_equal(t->dtype, FG_DT_INVALID);
            assert_int_equal(t->nbytes, t->ne[1] * fg_row_bytes(t->dtype, (int64_t)t->ne[0]));
        }
    }
    const fg_gguf_tensor *e = fg_gguf_find_tensor(g, "token_embd.weight");
    assert_int_equal(e->ggml_type, embd_type);
    fg_gguf_close(g);
}

static void test_golden_q8_0(void **state)
{
    const uint32_t t[] = {8};
    check_q256("qwen2-q256-q8_0.gguf", t, 1, 8);
    /* Q8_0 everywhere: token_embd is 4096 rows of 256/32 blocks of 34 bytes */
    fg_gguf *g = NULL;
    assert_int_equal(fg_gguf_open(golden_gguf("qwen2-q256-q8_0.gguf"), &g), FG_OK);
    assert_int_equal(fg_gguf_find_tensor(g, "token_embd.weight")->nbytes, 4096ull * 8 * 34);
    assert_int_equal(fg_gguf_find_tensor(g, "token_embd.weight")->dtype, FG_DT_Q8_0);
    fg_gguf_close(g);
}

static void test_golden_kquants(void **state)
{
    const uint32_t q4_0[] = {2, 14}, q4km[] = {12, 14}, q5km[] = {13, 14}, q6k[] = {14};
    check_q256("qwen2-q256-q4_0.gguf", q4_0, 2, 14);
    check_q256("qwen2-q256-q4_k_m.gguf", q4km, 2, 14);
    check_q256("qwen2-q256-q5_k_m.gguf", q5km, 2, 14);
    check_q256("qwen2-q256-q6_k.gguf", q6k, 1, 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absurd_counts), /* first: its peak-memory check wants a quiet heap */
        cmocka_unit_test(test_reference_file),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_tiny_is_valid),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_type_sizes),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_golden_q8_0),
        cmocka_unit_test(test_golden_kquants),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
