/* The streaming GGUF and safetensors writers: exact bytes of a small file against a
 * layout assembled by hand from the GGUF v3 specification, round trips of every
 * metadata type through the reader (and through fg_gguf_w_copy_kv), tensor data in
 * chunks that straddle tensors, and the failure paths: too few / too many tensor bytes,
 * an unfinished writer, a full device (/dev/full), misuse. A failed file never remains. */
#include "testutil.h"

#include "format/format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static char *tmp_path(char *dir, const char *name)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

/* Little-endian byte builder for the expected file. */
typedef struct bytes {
    uint8_t b[4096];
    size_t n;
} bytes;
static void b_u32(bytes *x, uint32_t v) { for (int i = 0; i < 4; i++) x->b[x->n++] = (uint8_t)(v >> (8 * i)); }
static void b_u64(bytes *x, uint64_t v) { for (int i = 0; i < 8; i++) x->b[x->n++] = (uint8_t)(v >> (8 * i)); }
static void b_raw(bytes *x, const void *p, size_t n) { memcpy(x->b + x->n, p, n); x->n += n; }
static void b_str(bytes *x, const char *s) { b_u64(x, strlen(s)); b_raw(x, s, strlen(s)); }
static void b_pad(bytes *x) { while (x->n % 32) x->b[x->n++] = 0; }

/* The whole file for: one u32 key, one string key, a 3x2 F32 tensor and a 5-element
 * F32 tensor, byte for byte. */
static void test_exact_bytes(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    const char *path = tmp_path(dir, "a.gguf");
    fg_gguf_writer *w;
    assert_int_equal(fg_gguf_writer_create(&w), FG_OK);
    assert_int_equal(fg_gguf_w_u32(w, "test.n", 7), FG_OK);
    assert_int_equal(fg_gguf_w_str(w, "general.name", "tiny", 4), FG_OK);
    uint64_t ne_a[2] = {3, 2}, ne_b[1] = {5};
    assert_int_equal(fg_gguf_w_tensor(w, "a", FG_DT_F32, 2, ne_a), FG_OK);
    assert_int_equal(fg_gguf_w_tensor(w, "bb", FG_DT_F32, 1, ne_b), FG_OK);
    assert_int_equal(fg_gguf_w_begin(w, path), FG_OK);
    float a[6] = {1, 2, 3, 4, 5, 6}, b[5] = {-1, -2, -3, -4, -5};
    assert_int_equal(fg_gguf_w_data(w, a, sizeof a), FG_OK);
    assert_int_equal(fg_gguf_w_data(w, b, sizeof b), FG_OK);
    assert_int_equal(fg_gguf_w_finish(w), FG_OK);
    fg_gguf_writer_free(w);

    bytes x = {.n = 0};
    b_raw(&x, "GGUF", 4);
    b_u32(&x, 3);
    b_u64(&x, 2); /* tensors */
    b_u64(&x, 2); /* keys */
    b_str(&x, "test.n");
    b_u32(&x, 4); /* UINT32 */
    b_u32(&x, 7);
    b_str(&x, "general.name");
    b_u32(&x, 8); /* STRING */
    b_str(&x, "tiny");
    b_str(&x, "a");
    b_u32(&x, 2);
    b_u64(&x, 3);
    b_u64(&x, 2);
    b_u32(&x, 0); /* GGML_TYPE_F32 */
    b_u64(&x, 0);
    b_str(&x, "bb");
    b_u32(&x, 1);
    b_u64(&x, 5);
    b_u32(&x, 0);
    b_u64(&x, 32); /* 24 bytes of "a" padded to 32 */
    b_pad(&x);
    b_raw(&x, a, sizeof a);
    b_pad(&x);
    b_raw(&x, b, sizeof b);
    b_pad(&x);

    size_t len;
    char *got = test_read_file(path, &len);
    assert_non_null(got);
    assert_int_equal(len, x.n);
    assert_memory_equal(got, x.b, x.n);
    free(got);
    unlink(path);
    rmdir(dir);
    free(dir);
}

/* Every metadata type written, read back through the reader, then copied key by key
 * into a second file that must hold identical metadata. */
static void write_all_types(fg_gguf_writer *w)
{
    assert_int_equal(fg_gguf_w_u32(w, "t.u32", 4000000000u), FG_OK);
    assert_int_equal(fg_gguf_w_i32(w, "t.i32", -123456789), FG_OK);
    assert_int_equal(fg_gguf_w_u64(w, "t.u64", 0xfedcba9876543210ull), FG_OK);
    assert_int_equal(fg_gguf_w_f32(w, "t.f32", 1e-6f), FG_OK);
    assert_int_equal(fg_gguf_w_bool(w, "t.bool", true), FG_OK);
    assert_int_equal(fg_gguf_w_str(w, "t.str", "h\xc3\xa9llo\0x", 8), FG_OK); /* embedded NUL kept */
    assert_int_equal(fg_gguf_w_str(w, "t.empty", "", 0), FG_OK);
    uint8_t u8[3] = {0, 200, 255};
    int8_t i8[3] = {-128, 0, 127};
    uint16_t u16[2] = {65535, 1};
    int16_t i16[2] = {-32768, 32767};
    uint32_t u32[2] = {0, 4294967295u};
    int32_t i32[3] = {-1, 1, 2147483647};
    float f32[2] = {0.5f, -2.25f};
    uint8_t bools[3] = {1, 0, 1};
    uint64_t u64[1] = {18446744073709551615ull};
    int64_t i64[2] = {INT64_MIN, 42};
    double f64[2] = {3.141592653589793, -1e300};
    assert_int_equal(fg_gguf_w_arr(w, "a.u8", FG_GGUF_U8, u8, 3), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "a.i8", FG_GGUF_I8, i8, 3), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "a.u16", FG_GGUF_U16, u16, 2), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "a.i16", FG_GGUF_I16, i16, 2), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "a.u32", FG_GGUF_U32, u32, 2), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "a.i32", FG_GGUF_I32, i32, 3), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "a.f32", FG_GGUF_F32, f32, 2), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "a.bool", FG_GGUF_BOOL, bools, 3), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "a.u64", FG_GGUF_U64, u64, 1), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "a.i64", FG_GGUF_I64, i64, 2), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "a.f64", FG_GGUF_F64, f64, 2), FG_OK);
    assert_int_equal(fg_gguf_w_arr(w, "a.empty", FG_GGUF_I32, NULL, 0), FG_OK);
    const char *strs[3] = {"Ġthe", "", "a b"};
    size_t lens[3] = {5, 0, 3};
    assert_int_equal(fg_gguf_w_arr_str(w, "a.str", strs, lens, 3), FG_OK);
    assert_int_equal(fg_gguf_w_u32(w, "general.alignment", 32), FG_OK); /* restating the default */
}

static void check_all_types(const fg_gguf *g)
{
    uint64_t u;
    int64_t i;
    double d;
    bool b;
    fg_str s;
    assert_true(fg_gguf_get_u64(g, "t.u32", &u));
    assert_int_equal(u, 4000000000u);
    assert_int_equal(fg_gguf_find(g, "t.u32")->type, FG_GGUF_U32);
    assert_true(fg_gguf_get_i64(g, "t.i32", &i));
    assert_int_equal(i, -123456789);
    assert_int_equal(fg_gguf_find(g, "t.i32")->type, FG_GGUF_I32);
    assert_true(fg_gguf_get_u64(g, "t.u64", &u));
    assert_true(u == 0xfedcba9876543210ull);
    assert_true(fg_gguf_get_f64(g, "t.f32", &d));
    assert_true(d == (double)1e-6f);
    assert_int_equal(fg_gguf_find(g, "t.f32")->type, FG_GGUF_F32);
    assert_true(fg_gguf_get_bool(g, "t.bool", &b) && b);
    assert_true(fg_gguf_get_str(g, "t.str", &s));
    assert_int_equal(s.len, 8);
    assert_memory_equal(s.ptr, "h\xc3\xa9llo\0x", 8);
    assert_true(fg_gguf_get_str(g, "t.empty", &s) && s.len == 0);

    const fg_gguf_kv *kv = fg_gguf_find(g, "a.u8");
    assert_true(kv && kv->type == FG_GGUF_ARRAY && kv->arr_type == FG_GGUF_U8 && kv->arr_n == 3);
    assert_true(fg_gguf_arr_i64(kv, 1, &i) && i == 200);
    kv = fg_gguf_find(g, "a.i8");
    assert_true(kv && kv->arr_type == FG_GGUF_I8 && fg_gguf_arr_i64(kv, 0, &i) && i == -128);
    kv = fg_gguf_find(g, "a.u16");
    assert_true(kv && kv->arr_type == FG_GGUF_U16 && fg_gguf_arr_i64(kv, 0, &i) && i == 65535);
    kv = fg_gguf_find(g, "a.i16");
    assert_true(kv && kv->arr_type == FG_GGUF_I16 && fg_gguf_arr_i64(kv, 0, &i) && i == -32768);
    kv = fg_gguf_find(g, "a.u32");
    assert_true(kv && kv->arr_type == FG_GGUF_U32 && fg_gguf_arr_i64(kv, 1, &i) && i == 4294967295ll);
    kv = fg_gguf_find(g, "a.i32");
    assert_true(kv && kv->arr_type == FG_GGUF_I32 && kv->arr_n == 3 && fg_gguf_arr_i64(kv, 2, &i) && i == 2147483647);
    assert_false(fg_gguf_arr_i64(kv, 3, &i)); /* out of range */
    kv = fg_gguf_find(g, "a.f32");
    assert_true(kv && kv->arr_type == FG_GGUF_F32 && fg_gguf_arr_f64(kv, 1, &d) && d == -2.25);
    kv = fg_gguf_find(g, "a.bool");
    assert_true(kv && kv->arr_type == FG_GGUF_BOOL && kv->arr_n == 3 && kv->value[0] == 1 && kv->value[1] == 0);
    kv = fg_gguf_find(g, "a.u64");
    assert_true(kv && kv->arr_type == FG_GGUF_U64 && kv->arr_n == 1);
    kv = fg_gguf_find(g, "a.i64");
    assert_true(kv && kv->arr_type == FG_GGUF_I64 && fg_gguf_arr_i64(kv, 0, &i) && i == INT64_MIN);
    kv = fg_gguf_find(g, "a.f64");
    assert_true(kv && kv->arr_type == FG_GGUF_F64 && fg_gguf_arr_f64(kv, 0, &d) && d == 3.141592653589793);
    assert_true(fg_gguf_arr_f64(kv, 1, &d) && d == -1e300);
    kv = fg_gguf_find(g, "a.empty");
    assert_true(kv && kv->arr_type == FG_GGUF_I32 && kv->arr_n == 0);
    kv = fg_gguf_find(g, "a.str");
    assert_true(kv && kv->arr_type == FG_GGUF_STRING && kv->arr_n == 3);
    fg_gguf_str_iter it;
    fg_gguf_str_iter_init(g, kv, &it);
    assert_true(fg_gguf_str_iter_next(&it, &s) && fg_str_eq(s, "Ġthe"));
    assert_true(fg_gguf_str_iter_next(&it, &s) && s.len == 0);
    assert_true(fg_gguf_str_iter_next(&it, &s) && fg_str_eq(s, "a b"));
    assert_false(fg_gguf_str_iter_next(&it, &s));
}

static size_t scalar_bytes(fg_gguf_type t)
{
    switch (t) {
    case FG_GGUF_U8: case FG_GGUF_I8: case FG_GGUF_BOOL: return 1;
    case FG_GGUF_U16: case FG_GGUF_I16: return 2;
    case FG_GGUF_U32: case FG_GGUF_I32: case FG_GGUF_F32: return 4;
    default: return 8;
    }
}

static void test_metadata_roundtrip_and_copy(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    const char *p1 = tmp_path(dir, "one.gguf"), *p2 = tmp_path(dir, "two.gguf");
    fg_gguf_writer *w;
    assert_int_equal(fg_gguf_writer_create(&w), FG_OK);
    write_all_types(w);
    assert_int_equal(fg_gguf_w_begin(w, p1), FG_OK);
    assert_int_equal(fg_gguf_w_finish(w), FG_OK);
    fg_gguf_writer_free(w);

    fg_gguf *g;
    assert_int_equal(fg_gguf_open(p1, &g), FG_OK);
    assert_int_equal(g->version, 3);
    assert_int_equal(g->n_tensors, 0);
    assert_int_equal(g->alignment, 32);
    check_all_types(g);

    /* copy every key into a new file */
    assert_int_equal(fg_gguf_writer_create(&w), FG_OK);
    for (uint64_t i = 0; i < g->n_kv; i++) assert_int_equal(fg_gguf_w_copy_kv(w, g, &g->kv[i]), FG_OK);
    assert_int_equal(fg_gguf_w_begin(w, p2), FG_OK);
    assert_int_equal(fg_gguf_w_finish(w), FG_OK);
    fg_gguf_writer_free(w);
    fg_gguf *g2;
    assert_int_equal(fg_gguf_open(p2, &g2), FG_OK);
    check_all_types(g2);
    /* a source's general.alignment is the writer's business: copying skips it */
    assert_non_null(fg_gguf_find(g, "general.alignment"));
    assert_null(fg_gguf_find(g2, "general.alignment"));
    assert_int_equal(g2->n_kv, g->n_kv - 1);
    for (uint64_t i = 0; i < g2->n_kv; i++) {
        const fg_gguf_kv *a = &g->kv[i], *b = &g2->kv[i];
        assert_true(a->key.len == b->key.len && !memcmp(a->key.ptr, b->key.ptr, a->key.len));
        assert_int_equal(a->type, b->type);
        if (a->type == FG_GGUF_ARRAY && a->arr_type != FG_GGUF_STRING) {
            assert_int_equal(a->arr_type, b->arr_type);
            assert_int_equal(a->arr_n, b->arr_n);
            if (a->arr_n) assert_memory_equal(a->value, b->value, a->arr_n * scalar_bytes(a->arr_type));
        } else if (a->type != FG_GGUF_ARRAY && a->type != FG_GGUF_STRING) {
            assert_memory_equal(a->value, b->value, scalar_bytes(a->type));
        }
    }
    fg_gguf_close(g2);
    fg_gguf_close(g);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
    free(dir);
}

/* Tensors of several types, data fed in odd-sized pieces that straddle tensors. */
static void test_tensor_data_chunks(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    const char *path = tmp_path(dir, "t.gguf");
    fg_gguf_writer *w;
    assert_int_equal(fg_gguf_writer_create(&w), FG_OK);
    uint64_t ne0[2] = {64, 3};   /* Q8_0: 2 blocks of 34 bytes per row: 204 bytes */
    uint64_t ne1[1] = {7};       /* F16: 14 bytes */
    uint64_t ne2[3] = {5, 3, 2}; /* F32: 120 bytes */
    assert_int_equal(fg_gguf_w_tensor(w, "q", FG_DT_Q8_0, 2, ne0), FG_OK);
    assert_int_equal(fg_gguf_w_tensor(w, "h", FG_DT_F16, 1, ne1), FG_OK);
    assert_int_equal(fg_gguf_w_tensor(w, "f", FG_DT_F32, 3, ne2), FG_OK);
    uint8_t data[204 + 14 + 120];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 37 + 11);
    assert_int_equal(fg_gguf_w_begin(w, path), FG_OK);
    size_t pieces[] = {1, 100, 150, 13, 74};   /* sums to 338 */
    size_t off = 0;
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        assert_int_equal(fg_gguf_w_data(w, data + off, pieces[i]), FG_OK);
        off += pieces[i];
    }
    assert_int_equal(off, sizeof data);
    assert_int_equal(fg_gguf_w_finish(w), FG_OK);
    fg_gguf_writer_free(w);

    fg_gguf *g;
    assert_int_equal(fg_gguf_open(path, &g), FG_OK);
    assert_int_equal(g->n_tensors, 3);
    assert_int_equal(g->data_offset % 32, 0);
    const fg_gguf_tensor *q = fg_gguf_find_tensor(g, "q"), *h = fg_gguf_find_tensor(g, "h"),
                         *f = fg_gguf_find_tensor(g, "f");
    assert_true(q && h && f);
    assert_int_equal(q->ggml_type, 8);
    assert_int_equal(h->ggml_type, 1);
    assert_int_equal(f->ggml_type, 0);
    assert_int_equal(q->n_dims, 2);
    assert_int_equal(q->ne[0], 64);
    assert_int_equal(q->ne[1], 3);
    assert_int_equal(f->n_dims, 3);
    assert_int_equal(f->ne[2], 2);
    assert_int_equal(q->offset, 0);
    assert_int_equal(h->offset, 224);    /* 204 rounded up to 32 */
    assert_int_equal(f->offset, 256);    /* 224 + 14 rounded up */
    assert_int_equal(q->nbytes, 204);
    assert_memory_equal(q->data, data, 204);
    assert_memory_equal(h->data, data + 204, 14);
    assert_memory_equal(f->data, data + 218, 120);
    fg_gguf_close(g);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static fg_gguf_writer *two_tensor_writer(void)
{
    fg_gguf_writer *w;
    assert_int_equal(fg_gguf_writer_create(&w), FG_OK);
    uint64_t ne[1] = {4};
    assert_int_equal(fg_gguf_w_tensor(w, "x", FG_DT_F32, 1, ne), FG_OK);
    assert_int_equal(fg_gguf_w_tensor(w, "y", FG_DT_F32, 1, ne), FG_OK);
    return w;
}

static void test_too_few_bytes(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    const char *path = tmp_path(dir, "few.gguf");
    fg_gguf_writer *w = two_tensor_writer();
    float v[6] = {0};
    assert_int_equal(fg_gguf_w_begin(w, path), FG_OK);
    assert_true(exists(path));
    assert_int_equal(fg_gguf_w_data(w, v, sizeof v), FG_OK);   /* 24 of 32 bytes */
    assert_int_equal(fg_gguf_w_finish(w), FG_ERR_ARG);
    assert_non_null(strstr(fg_last_error(), "'y'"));
    assert_false(exists(path));
    assert_int_not_equal(fg_gguf_w_data(w, v, 4), FG_OK);       /* failed writer stays failed */
    fg_gguf_writer_free(w);
    rmdir(dir);
    free(dir);
}

static void test_too_many_bytes(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    const char *path = tmp_path(dir, "many.gguf");
    fg_gguf_writer *w = two_tensor_writer();
    float v[9] = {0};
    assert_int_equal(fg_gguf_w_begin(w, path), FG_OK);
    assert_int_equal(fg_gguf_w_data(w, v, sizeof v), FG_ERR_ARG);   /* 36 > 32 bytes */
    assert_false(exists(path));
    assert_int_not_equal(fg_gguf_w_finish(w), FG_OK);
    assert_false(exists(path));
    fg_gguf_writer_free(w);
    rmdir(dir);
    free(dir);
}

static void test_unfinished_writer_removes_file(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    const char *path = tmp_path(dir, "partial.gguf");
    fg_gguf_writer *w = two_tensor_writer();
    float v[4] = {1, 2, 3, 4};
    assert_int_equal(fg_gguf_w_begin(w, path), FG_OK);
    assert_int_equal(fg_gguf_w_data(w, v, sizeof v), FG_OK);
    assert_true(exists(path));
    fg_gguf_writer_free(w);   /* abandoned half-way */
    assert_false(exists(path));
    /* a writer freed before begin() touches nothing */
    w = two_tensor_writer();
    fg_gguf_writer_free(w);
    assert_false(exists(path));
    rmdir(dir);
    free(dir);
}

/* A full disk must be an I/O error, never a short file that looks complete. /dev/full
 * fails every write with ENOSPC; the writer must not remove a device node either. */
static void test_disk_full(void **state)
{
    (void)state;
    if (!exists("/dev/full")) skip();
    fg_gguf_writer *w;
    assert_int_equal(fg_gguf_writer_create(&w), FG_OK);
    uint64_t ne[2] = {1024, 1024};   /* 4 MB: larger than the writer's buffer */
    assert_int_equal(fg_gguf_w_tensor(w, "big", FG_DT_F32, 2, ne), FG_OK);
    fg_status s = fg_gguf_w_begin(w, "/dev/full");
    float *row = calloc(1024, sizeof *row);
    for (int r = 0; r < 1024 && s == FG_OK; r++) s = fg_gguf_w_data(w, row, 1024 * sizeof *row);
    if (s == FG_OK) s = fg_gguf_w_finish(w);
    assert_int_equal(s, FG_ERR_IO);
    assert_non_null(strstr(fg_last_error(), "/dev/full"));
    fg_gguf_writer_free(w);
    free(row);
    assert_true(exists("/dev/full"));

    /* the same through the safetensors writer */
    fg_st_writer *sw;
    assert_int_equal(fg_st_writer_create(&sw), FG_OK);
    uint64_t shape[1] = {16};
    assert_int_equal(fg_st_w_tensor(sw, "t", FG_DT_F32, 1, shape), FG_OK);
    s = fg_st_w_begin(sw, "/dev/full");
    float v[16] = {0};
    if (s == FG_OK) s = fg_st_w_data(sw, v, sizeof v);
    if (s == FG_OK) s = fg_st_w_finish(sw);
    assert_int_equal(s, FG_ERR_IO);
    fg_st_writer_free(sw);
    assert_true(exists("/dev/full"));
}

static void test_misuse(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    fg_gguf_writer *w;
    assert_int_equal(fg_gguf_writer_create(&w), FG_OK);
    assert_int_equal(fg_gguf_w_u32(w, "k", 1), FG_OK);
    assert_int_equal(fg_gguf_w_u32(w, "k", 2), FG_ERR_ARG);            /* duplicate key */
    assert_int_equal(fg_gguf_w_u32(w, "", 2), FG_ERR_ARG);             /* empty key */
    assert_int_equal(fg_gguf_w_u32(w, "general.alignment", 64), FG_ERR_ARG);
    uint8_t bad_bool = 2;
    assert_int_equal(fg_gguf_w_arr(w, "b", FG_GGUF_BOOL, &bad_bool, 1), FG_ERR_ARG);
    assert_int_equal(fg_gguf_w_arr(w, "s", FG_GGUF_STRING, "x", 1), FG_ERR_ARG); /* not numeric */
    uint64_t ne[2] = {4, 2}, q_ne[1] = {33};
    assert_int_equal(fg_gguf_w_tensor(w, "t", FG_DT_F32, 2, ne), FG_OK);
    assert_int_equal(fg_gguf_w_tensor(w, "t", FG_DT_F32, 2, ne), FG_ERR_ARG);   /* duplicate */
    assert_int_equal(fg_gguf_w_tensor(w, "q", FG_DT_Q8_0, 1, q_ne), FG_ERR_ARG); /* 33 % 32 */
    assert_int_equal(fg_gguf_w_tensor(w, "z", FG_DT_F32, 0, ne), FG_ERR_ARG);
    char longname[80];
    memset(longname, 'n', sizeof longname - 1);
    longname[79] = 0;
    assert_int_equal(fg_gguf_w_tensor(w, longname, FG_DT_F32, 1, ne), FG_ERR_ARG);
    assert_int_equal(fg_gguf_w_data(w, ne, 8), FG_ERR_ARG);            /* before begin */
    /* an output directory that does not exist */
    assert_int_equal(fg_gguf_w_begin(w, tmp_path(dir, "no/such/dir.gguf")), FG_ERR_IO);
    const char *path = tmp_path(dir, "m.gguf");
    assert_int_equal(fg_gguf_w_begin(w, path), FG_OK);
    assert_int_equal(fg_gguf_w_u32(w, "late", 1), FG_ERR_ARG);        /* after begin */
    assert_int_equal(fg_gguf_w_tensor(w, "late", FG_DT_F32, 1, ne), FG_ERR_ARG);
    float v[8] = {0};
    assert_int_equal(fg_gguf_w_data(w, v, sizeof v), FG_OK);
    assert_int_equal(fg_gguf_w_finish(w), FG_OK);
    assert_int_not_equal(fg_gguf_w_finish(w), FG_OK);                 /* twice */
    fg_gguf_writer_free(w);
    assert_true(exists(path));                                         /* a finished file stays */
    unlink(path);
    rmdir(dir);
    free(dir);
}

/* safetensors: the exact header, data offsets, and the reader's view. */
static void test_safetensors_writer(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    const char *path = tmp_path(dir, "m.safetensors");
    fg_st_writer *w;
    assert_int_equal(fg_st_writer_create(&w), FG_OK);
    uint64_t s1[2] = {2, 3}, s2[1] = {4};
    assert_int_equal(fg_st_w_tensor(w, "a.weight", FG_DT_F32, 2, s1), FG_OK);
    assert_int_equal(fg_st_w_tensor(w, "b\"q", FG_DT_BF16, 1, s2), FG_OK);
    assert_int_equal(fg_st_w_tensor(w, "c", FG_DT_Q8_0, 1, s2), FG_ERR_UNSUPPORTED);
    assert_int_equal(fg_st_w_begin(w, path), FG_OK);
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t b[4] = {0x3f80, 0x4000, 0xbf80, 0};
    assert_int_equal(fg_st_w_data(w, a, 10), FG_OK);
    assert_int_equal(fg_st_w_data(w, (char *)a + 10, 14), FG_OK);
    assert_int_equal(fg_st_w_data(w, b, sizeof b), FG_OK);
    assert_int_equal(fg_st_w_finish(w), FG_OK);
    fg_st_writer_free(w);

    size_t len;
    unsigned char *f = (unsigned char *)test_read_file(path, &len);
    assert_non_null(f);
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"b\\\"q\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]}}";
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)f[i] << (8 * i);
    assert_int_equal(n, padded);
    assert_int_equal(len, 8 + padded + 32);
    assert_memory_equal(f + 8, hdr, hl);
    for (size_t i = hl; i < padded; i++) assert_int_equal(f[8 + i], ' ');
    assert_memory_equal(f + 8 + padded, a, 24);
    assert_memory_equal(f + 8 + padded + 24, b, 8);
    free(f);

    fg_safetensors *st;
    assert_int_equal(fg_st_open(path, &st), FG_OK);
    const fg_st_tensor *t = fg_st_find(st, "a.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, FG_DT_F32);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_memory_equal(t->data, a, 24);
    fg_st_close(st);
    unlink(path);

    /* too few bytes: error and no file */
    assert_int_equal(fg_st_writer_create(&w), FG_OK);
    assert_int_equal(fg_st_w_tensor(w, "a", FG_DT_F32, 2, s1), FG_OK);
    assert_int_equal(fg_st_w_begin(w, path), FG_OK);
    assert_int_equal(fg_st_w_data(w, a, 20), FG_OK);
    assert_int_equal(fg_st_w_finish(w), FG_ERR_ARG);
    assert_false(exists(path));
    fg_st_writer_free(w);
    /* too many bytes */
    assert_int_equal(fg_st_writer_create(&w), FG_OK);
    assert_int_equal(fg_st_w_tensor(w, "a", FG_DT_F32, 2, s1), FG_OK);
    assert_int_equal(fg_st_w_begin(w, path), FG_OK);
    float big[7] = {0};
    assert_int_equal(fg_st_w_data(w, big, sizeof big), FG_ERR_ARG);
    assert_false(exists(path));
    fg_st_writer_free(w);
    /* abandoned */
    assert_int_equal(fg_st_writer_create(&w), FG_OK);
    assert_int_equal(fg_st_w_tensor(w, "a", FG_DT_F32, 2, s1), FG_OK);
    assert_int_equal(fg_st_w_begin(w, path), FG_OK);
    assert_true(exists(path));
    fg_st_writer_free(w);
    assert_false(exists(path));
    rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_metadata_roundtrip_and_copy),
        cmocka_unit_test(test_tensor_data_chunks),
        cmocka_unit_test(test_too_few_bytes),
        cmocka_unit_test(test_too_many_bytes),
        cmocka_unit_test(test_unfinished_writer_removes_file),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_safetensors_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
