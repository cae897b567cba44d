/* The safetensors reader: single files, model directories and sharded checkpoints built
 * here byte by byte (u64 header length, JSON header, data), read back and checked; then
 * malformed headers and indexes, each of which must fail cleanly with a one-line message
 * naming the file. */
#include "testutil.h"

#include "format/format.h"
#include "mem/mem.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpdir;

static const char *tmp_path(const char *name)
{
    static char slots[8][1024];
    static int next;
    char *p = slots[next++ & 7];
    snprintf(p, sizeof slots[0], "%s/%s", tmpdir, name);
    return p;
}

/* Writes u64 len(json) | json | data. */
static const char *write_st(const char *name, const char *json, const void *data, size_t n)
{
    const char *path = tmp_path(name);
    size_t jl = strlen(json);
    uint64_t len = jl;
    uint8_t *buf = malloc(8 + jl + n + 1);
    memcpy(buf, &len, 8);
    memcpy(buf + 8, json, jl);
    if (n) memcpy(buf + 8 + jl, data, n);
    assert_int_equal(test_write_file(path, buf, 8 + jl + n), 0);
    free(buf);
    return path;
}

static const char *write_text(const char *name, const char *text)
{
    const char *path = tmp_path(name);
    assert_int_equal(test_write_file(path, text, strlen(text)), 0);
    return path;
}

static void make_dir(const char *name) { assert_int_equal(mkdir(tmp_path(name), 0755), 0); }

/* The open must fail with `want`, leave *out NULL, and set a one-line message that
 * contains `names` (the file or directory at fault). */
static void expect_fail_at(const char *path, fg_status want, const char *names, const char *ctx, int line)
{
    fg_safetensors *st = (fg_safetensors *)&st;
    fg_status s = fg_st_open(path, &st);
    const char *e = fg_last_error();
    if (s != want)
        fail_msg("line %d (%s): expected '%s', got '%s' (%s)", line, ctx, fg_status_str(want), fg_status_str(s), e);
    if (st) fail_msg("line %d (%s): output not NULL on failure", line, ctx);
    if (!*e || strchr(e, '\n')) fail_msg("line %d (%s): bad message '%s'", line, ctx, e);
    if (!strstr(e, names)) fail_msg("line %d (%s): message does not name %s: %s", line, ctx, names, e);
}
#define expect_fail(path, want, ctx) expect_fail_at(path, want, path, ctx, __LINE__)
#define expect_fail_naming(path, want, names, ctx) expect_fail_at(path, want, names, ctx, __LINE__)

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

/* ---- the reference file ---------------------------------------------------------------- */
static const char ref_json[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"w.f32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"w.bf16\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
    "\"w.f16\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[32,40]},"
    "\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[40,64]},"
    "\"scalar\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[64,65]},"
    "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[65,65]},"
    "\"flags\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[65,68]},"
    "\"w4\":{\"dtype\":\"F32\",\"shape\":[1,1,2,1],\"data_offsets\":[68,76]}}";
#define REF_DATA 76

static void ref_data(uint8_t *d)
{
    for (int i = 0; i < REF_DATA; i++) d[i] = (uint8_t)(i * 3 + 1);
    for (int i = 0; i < 6; i++) {
        float f = (float)i - 2.5f;
        memcpy(d + 4 * i, &f, 4);
    }
}

static void check_ref(const fg_safetensors *st, const uint8_t *data)
{
    struct { const char *name, *dt_name; fg_dtype dt; uint32_t n_dims; uint64_t shape[4]; uint64_t begin, nbytes; } want[] = {
        {"w.f32", "F32", FG_DT_F32, 2, {2, 3}, 0, 24},
        {"w.bf16", "BF16", FG_DT_BF16, 1, {4}, 24, 8},
        {"w.f16", "F16", FG_DT_F16, 2, {2, 2}, 32, 8},
        {"ids", "I64", FG_DT_INVALID, 1, {3}, 40, 24},
        {"scalar", "U8", FG_DT_INVALID, 0, {0}, 64, 1},
        {"empty", "F32", FG_DT_F32, 2, {0, 5}, 65, 0},
        {"flags", "BOOL", FG_DT_INVALID, 1, {3}, 65, 3},
        {"w4", "F32", FG_DT_F32, 4, {1, 1, 2, 1}, 68, 8},
    };
    assert_int_equal(st->n_tensors, 8);
    const uint8_t *base = NULL;
    for (size_t i = 0; i < 8; i++) {
        const fg_st_tensor *t = fg_st_find(st, want[i].name);
        if (!t) fail_msg("no tensor %s", want[i].name);
        assert_string_equal(t->name, want[i].name);
        assert_string_equal(t->dtype_name, want[i].dt_name);
        assert_int_equal(t->dtype, want[i].dt);
        assert_int_equal(t->n_dims, want[i].n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) assert_int_equal(t->shape[d], want[i].shape[d]);
        assert_int_equal(t->nbytes, want[i].nbytes);
        if (i == 0) base = t->data;
        assert_ptr_equal(t->data, base + want[i].begin);
        assert_memory_equal(t->data, data + want[i].begin, want[i].nbytes);
    }
    const fg_st_tensor *t = fg_st_find(st, "w.f32");
    float f;
    memcpy(&f, (const uint8_t *)t->data + 20, 4);
    assert_true(f == 2.5f);
    assert_null(fg_st_find(st, "__metadata__"));
    assert_null(fg_st_find(st, "w"));
}

static void test_single_file(void **state)
{
    uint8_t data[REF_DATA];
    ref_data(data);
    const char *path = write_st("ref.safetensors", ref_json, data, REF_DATA);
    fg_safetensors *st = NULL;
    if (fg_st_open(path, &st)) fail_msg("%s", fg_last_error());
    assert_int_equal(st->n_files, 1);
    assert_int_equal(st->files[0].size, 8 + strlen(ref_json) + REF_DATA);
    check_ref(st, data);
    /* data start right after the header */
    assert_ptr_equal(fg_st_find(st, "w.f32")->data, st->files[0].data + 8 + strlen(ref_json));
    fg_st_close(st);

    /* a model directory holding model.safetensors */
    make_dir("single");
    write_st("single/model.safetensors", ref_json, data, REF_DATA);
    assert_int_equal(fg_st_open(tmp_path("single"), &st), FG_OK);
    check_ref(st, data);
    fg_st_close(st);
}

/* Two shards and an index, as transformers writes them. */
static const char shard1_json[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"model.embed_tokens.weight\":{\"dtype\":\"BF16\",\"shape\":[4,2],\"data_offsets\":[0,16]},"
    "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}";
static const char shard2_json[] =
    "{\"lm_head.weight\":{\"dtype\":\"F16\",\"shape\":[4,2],\"data_offsets\":[0,16]}}";
static const char index_json[] =
    "{\"metadata\":{\"total_size\":40},\"weight_map\":{"
    "\"lm_head.weight\":\"model-00002-of-00002.safetensors\","
    "\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\","
    "\"model.norm.weight\":\"model-00001-of-00002.safetensors\"}}";

static void make_sharded(const char *dir, const char *index)
{
    char p[256];
    uint8_t d1[24], d2[16];
    for (int i = 0; i < 24; i++) d1[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 16; i++) d2[i] = (uint8_t)(100 + i);
    make_dir(dir);
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    write_st(p, shard1_json, d1, 24);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_st(p, shard2_json, d2, 16);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    write_text(p, index);
}

static void check_sharded(const fg_safetensors *st)
{
    assert_int_equal(st->n_files, 2);
    assert_int_equal(st->n_tensors, 3);
    const fg_st_tensor *e = fg_st_find(st, "model.embed_tokens.weight");
    const fg_st_tensor *n = fg_st_find(st, "model.norm.weight");
    const fg_st_tensor *h = fg_st_find(st, "lm_head.weight");
    assert_non_null(e);
    assert_non_null(n);
    assert_non_null(h);
    assert_int_equal(e->dtype, FG_DT_BF16);
    assert_int_equal(e->shape[0], 4);
    assert_int_equal(e->shape[1], 2);
    assert_int_equal(((const uint8_t *)e->data)[0], 1);
    assert_int_equal(((const uint8_t *)n->data)[0], 17);
    assert_int_equal(h->dtype, FG_DT_F16);
    assert_int_equal(((const uint8_t *)h->data)[15], 115);
    /* each tensor's view lies inside the mapping of its own shard */
    for (size_t i = 0; i < st->n_tensors; i++) {
        const fg_st_tensor *t = &st->tensors[i];
        int inside = 0;
        for (int f = 0; f < st->n_files; f++) {
            const uint8_t *lo = st->files[f].data, *hi = lo + st->files[f].size;
            if ((const uint8_t *)t->data >= lo && (const uint8_t *)t->data + t->nbytes <= hi) inside++;
        }
        assert_int_equal(inside, 1);
    }
}

static void test_sharded(void **state)
{
    make_sharded("sharded", index_json);
    fg_safetensors *st = NULL;
    if (fg_st_open(tmp_path("sharded"), &st)) fail_msg("%s", fg_last_error());
    check_sharded(st);
    fg_st_close(st);
    /* the index file itself may be given */
    assert_int_equal(fg_st_open(tmp_path("sharded/model.safetensors.index.json"), &st), FG_OK);
    check_sharded(st);
    fg_st_close(st);
}

static void test_truncated_everywhere(void **state)
{
    uint8_t data[REF_DATA];
    ref_data(data);
    const char *full = write_st("full.safetensors", ref_json, data, REF_DATA);
    size_t len;
    char *bytes = test_read_file(full, &len);
    const char *path = tmp_path("cut.safetensors");
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(test_write_file(path, bytes, cut), 0);
        char ctx[64];
        snprintf(ctx, sizeof ctx, "cut at %zu of %zu", cut, len);
        expect_fail(path, FG_ERR_FORMAT, ctx);
    }
    free(bytes);
}

static void test_bad_header(void **state)
{
    uint8_t data[64] = {0};
    const char *p = tmp_path("short.safetensors");
    assert_int_equal(test_write_file(p, "\x10\0\0\0\0", 5), 0);
    expect_fail(p, FG_ERR_FORMAT, "5-byte file");

    uint8_t beyond[58] = {0};
    uint64_t n = 1000;
    memcpy(beyond, &n, 8);
    memcpy(beyond + 8, "{}", 2);
    p = tmp_path("beyond.safetensors");
    assert_int_equal(test_write_file(p, beyond, sizeof beyond), 0);
    expect_fail_naming(p, FG_ERR_FORMAT, "exceeds the file", "header length beyond the file");

    n = UINT64_MAX;
    memcpy(beyond, &n, 8);
    assert_int_equal(test_write_file(p, beyond, sizeof beyond), 0);
    expect_fail(p, FG_ERR_FORMAT, "header length 2^64-1");

    /* a header length over the limit in a (sparse) file that is long enough */
    p = tmp_path("huge.safetensors");
    int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    assert_true(fd >= 0);
    n = 101u * 1024 * 1024;
    assert_int_equal(write(fd, &n, 8), 8);
    assert_int_equal(ftruncate(fd, (off_t)(n + 8)), 0);
    close(fd);
    expect_fail(p, FG_ERR_FORMAT, "header over 100 MB");
    unlink(p);

    expect_fail(write_st("zero.safetensors", "", data, 0), FG_ERR_FORMAT, "zero-length header");
    expect_fail(write_st("json1.safetensors", "{\"a\": ", data, 8), FG_ERR_FORMAT, "cut JSON");
    expect_fail(write_st("json2.safetensors", "{\"a\":{\"dtype\":\"F32\",}}", data, 8), FG_ERR_FORMAT, "bad JSON");
    expect_fail(write_st("json3.safetensors", "[1, 2]", data, 8), FG_ERR_FORMAT, "JSON array");
    expect_fail(write_st("json4.safetensors", "{\"a\": 5}", data, 8), FG_ERR_FORMAT, "entry not an object");
    /* JSON followed by garbage inside the declared header length */
    expect_fail(write_st("json5.safetensors", "{}xyz", data, 8), FG_ERR_FORMAT, "trailing garbage");

    /* an empty header is a valid file with no tensors */
    fg_safetensors *st = NULL;
    assert_int_equal(fg_st_open(write_st("none.safetensors", "{}", data, 0), &st), FG_OK);
    assert_int_equal(st->n_tensors, 0);
    fg_st_close(st);
}

static void test_bad_tensors(void **state)
{
    uint8_t data[64] = {0};
    struct { const char *json; fg_status want; const char *ctx; } cases[] = {
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", FG_ERR_FORMAT, "missing dtype"},
        {"{\"a\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", FG_ERR_FORMAT, "numeric dtype"},
        {"{\"a\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,16]}}", FG_ERR_FORMAT, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", FG_ERR_FORMAT, "missing shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", FG_ERR_FORMAT, "shape not an array"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", FG_ERR_FORMAT, "negative dim"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", FG_ERR_FORMAT, "fractional dim"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", FG_ERR_FORMAT, "string dim"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", FG_ERR_UNSUPPORTED, "5 dims"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[67108864,67108864,67108864],\"data_offsets\":[0,8]}}", FG_ERR_FORMAT,
         "element count overflow"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", FG_ERR_FORMAT, "missing data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", FG_ERR_FORMAT, "one offset"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]}}", FG_ERR_FORMAT, "three offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", FG_ERR_FORMAT, "reversed offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", FG_ERR_FORMAT, "negative offset"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[60,68]}}", FG_ERR_FORMAT, "past the end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]}}", FG_ERR_FORMAT, "absurd end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", FG_ERR_FORMAT, "size below shape"},
        {"{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", FG_ERR_FORMAT, "size above shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", FG_ERR_FORMAT, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]},"
         "\"b\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[16,32]}}", FG_ERR_FORMAT, "same bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", FG_ERR_FORMAT, "duplicate name"},
        {"{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", FG_ERR_FORMAT, "empty name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_fail(write_st("bad.safetensors", cases[i].json, data, sizeof data), cases[i].want, cases[i].ctx);

    /* adjacent tensors, and the same layout in reverse order, are fine */
    fg_safetensors *st = NULL;
    assert_int_equal(fg_st_open(write_st("adj.safetensors",
                                         "{\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]},"
                                         "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                                         data, 32),
                                &st),
                     FG_OK);
    assert_int_equal(st->n_tensors, 2);
    fg_st_close(st);
}

static void test_bad_sharded(void **state)
{
    /* a shard named in the index is missing */
    make_sharded("noshard", index_json);
    unlink(tmp_path("noshard/model-00002-of-00002.safetensors"));
    expect_fail_naming(tmp_path("noshard"), FG_ERR_FORMAT, "model-00002-of-00002.safetensors", "missing shard");

    /* the index puts a tensor in the wrong shard */
    make_sharded("wrongshard",
                 "{\"weight_map\":{\"lm_head.weight\":\"model-00001-of-00002.safetensors\","
                 "\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\","
                 "\"model.norm.weight\":\"model-00002-of-00002.safetensors\"}}");
    expect_fail_naming(tmp_path("wrongshard"), FG_ERR_FORMAT, "lm_head.weight", "tensor in another shard");

    /* the index names a tensor that no shard has */
    make_sharded("ghost",
                 "{\"weight_map\":{\"lm_head.weight\":\"model-00002-of-00002.safetensors\","
                 "\"model.ghost.weight\":\"model-00001-of-00002.safetensors\"}}");
    expect_fail_naming(tmp_path("ghost"), FG_ERR_FORMAT, "model.ghost.weight", "tensor missing from its shard");

    struct { const char *dir, *index, *ctx; } bad_index[] = {
        {"idx1", "{\"weight_map\": ", "index not JSON"},
        {"idx2", "{\"metadata\":{}}", "no weight_map"},
        {"idx3", "{\"weight_map\":[]}", "weight_map an array"},
        {"idx4", "{\"weight_map\":{\"a\":3}}", "shard name not a string"},
        {"idx7", "{\"weight_map\":{}}", "empty weight_map"},
        {"idx8", "", "empty index"},
    };
    for (size_t i = 0; i < sizeof bad_index / sizeof bad_index[0]; i++) {
        make_sharded(bad_index[i].dir, bad_index[i].index);
        expect_fail_naming(tmp_path(bad_index[i].dir), FG_ERR_FORMAT, "model.safetensors.index.json", bad_index[i].ctx);
    }

    /* shards must be plain file names in the index's directory, even when the path
     * would lead to a valid shard elsewhere */
    make_sharded("outside", index_json);
    char idx[512];
    snprintf(idx, sizeof idx, "{\"weight_map\":{\"model.norm.weight\":\"../outside/model-00001-of-00002.safetensors\"}}");
    make_sharded("idx5", idx);
    expect_fail_naming(tmp_path("idx5"), FG_ERR_FORMAT, "not a file name", "shard outside the directory");
    snprintf(idx, sizeof idx, "{\"weight_map\":{\"model.norm.weight\":\"%s\"}}",
             tmp_path("outside/model-00001-of-00002.safetensors"));
    make_sharded("idx6", idx);
    expect_fail_naming(tmp_path("idx6"), FG_ERR_FORMAT, "not a file name", "absolute shard path");

    /* the same tensor in two shards */
    make_dir("twice");
    uint8_t d[16] = {0};
    write_st("twice/s1.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8);
    write_st("twice/s2.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", d, 16);
    write_text("twice/model.safetensors.index.json", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}");
    expect_fail_naming(tmp_path("twice"), FG_ERR_FORMAT, "'a'", "tensor in two shards");

    /* a shard that is itself malformed: the message names the shard */
    make_sharded("badshard", index_json);
    write_st("badshard/model-00002-of-00002.safetensors", "{\"lm_head.weight\":", d, 0);
    expect_fail_naming(tmp_path("badshard"), FG_ERR_FORMAT, "badshard/model-00002-of-00002.safetensors",
                       "malformed shard");

    /* neither file in a directory; paths that do not exist */
    make_dir("emptydir");
    expect_fail(tmp_path("emptydir"), FG_ERR_IO, "empty directory");
    expect_fail(tmp_path("nothing-here"), FG_ERR_IO, "missing path");
}

/* Every allocation failure while opening a sharded checkpoint gives FG_ERR_NOMEM and
 * leaks nothing (checked by the sanitizer build). */
static void test_alloc_failures(void **state)
{
    make_sharded("faults", index_json);
    fg_mem_stats s0, s1;
    fg_mem_get_stats(&s0);
    bool succeeded = false;
    for (int n = 1; n < 200 && !succeeded; n++) {
        fg_safetensors *st = NULL;
        fg_mem_fail_after(n);
        fg_status s = fg_st_open(tmp_path("faults"), &st);
        fg_mem_fail_after(0);
        if (s == FG_OK) {
            succeeded = true;
            check_sharded(st);
            fg_st_close(st);
        } else {
            if (s != FG_ERR_NOMEM) fail_msg("failing allocation %d: %s (%s)", n, fg_status_str(s), fg_last_error());
            assert_null(st);
        }
    }
    assert_true(succeeded);
    fg_mem_get_stats(&s1);
    assert_int_equal(s1.total_current, s0.total_current);
}

/* Random corruption of the header of a file whose size is a page multiple (any read past
 * its end would fault): every mutant opens or fails cleanly. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void test_random_corruption(void **state)
{
    const size_t total = 8192, jl = strlen(ref_json);
    size_t hdr = total - REF_DATA - 8; /* JSON padded with spaces to fill the page */
    uint8_t *file = malloc(total), *m = malloc(total);
    uint64_t n = hdr;
    memcpy(file, &n, 8);
    memcpy(file + 8, ref_json, jl);
    memset(file + 8 + jl, ' ', hdr - jl);
    ref_data(file + 8 + hdr);
    const char *path = tmp_path("page.safetensors");
    assert_int_equal(test_write_file(path, file, total), 0);
    fg_safetensors *st = NULL;
    assert_int_equal(fg_st_open(path, &st), FG_OK);
    check_ref(st, file + 8 + hdr);
    fg_st_close(st);

    static const char tokens[] = "{}[],:\"0123456789-.eE \\";
    uint64_t seed = 777;
    int n_ok = 0, n_fail = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(m, file, total);
        int edits = 1 + (int)(rng_next(&seed) % 3);
        for (int e = 0; e < edits; e++) {
            uint64_t r = rng_next(&seed);
            size_t at = (size_t)(r % (8 + jl));
            if (at < 8) m[at] = (uint8_t)(r >> 16);                   /* the header length */
            else if ((r >> 40) % 2) m[at] = (uint8_t)tokens[(r >> 8) % (sizeof tokens - 1)];
            else m[at] = (uint8_t)(r >> 8);
        }
        assert_int_equal(test_write_file(path, m, total), 0);
        fg_status s = fg_st_open(path, &st);
        if (s == FG_OK) {
            n_ok++;
            for (size_t i = 0; i < st->n_tensors; i++) {
                const fg_st_tensor *t = &st->tensors[i];
                assert_true((const uint8_t *)t->data + t->nbytes <= st->files[0].data + st->files[0].size);
                assert_ptr_equal(fg_st_find(st, t->name), t);
            }
            fg_st_close(st);
        } else {
            n_fail++;
            assert_null(st);
            assert_true(s == FG_ERR_FORMAT || s == FG_ERR_UNSUPPORTED);
            assert_true(*fg_last_error() != 0);
        }
    }
    print_message("random corruption: %d opened, %d refused\n", n_ok, n_fail);
    assert_true(n_fail > 1500);
    free(file);
    free(m);
}

/* The synthetic qwen2-tiny checkpoint written by tests/generate_models.sh, checked
 * against the tensor list of the synthetic spec (names and [rows, cols] shapes). */
static void test_synthetic_checkpoint(void **state)
{
    const char *dir = test_model_path("qwen2-tiny-hf");
    struct stat s;
    if (stat(dir, &s) != 0) {
        print_message("no %s (run tests/generate_models.sh); skipped\n", dir);
        skip();
    }
    fg_safetensors *st = NULL;
    if (fg_st_open(dir, &st)) fail_msg("%s", fg_last_error());
    /* hidden 64, intermediate 192, 2 layers, 4 heads, 2 kv heads (head_dim 16),
     * vocab 151936, tied: 1 + 2 * 12 + 1 tensors, no lm_head */
    assert_int_equal(st->n_tensors, 26);
    assert_null(fg_st_find(st, "lm_head.weight"));
    struct { const char *name; uint32_t n_dims; uint64_t r, c; } want[] = {
        {"model.embed_tokens.weight", 2, 151936, 64},
        {"model.norm.weight", 1, 64, 0},
        {"model.layers.1.input_layernorm.weight", 1, 64, 0},
        {"model.layers.1.self_attn.q_proj.weight", 2, 64, 64},
        {"model.layers.1.self_attn.q_proj.bias", 1, 64, 0},
        {"model.layers.1.self_attn.k_proj.weight", 2, 32, 64},
        {"model.layers.1.self_attn.k_proj.bias", 1, 32, 0},
        {"model.layers.1.self_attn.v_proj.weight", 2, 32, 64},
        {"model.layers.1.self_attn.o_proj.weight", 2, 64, 64},
        {"model.layers.1.post_attention_layernorm.weight", 1, 64, 0},
        {"model.layers.0.mlp.gate_proj.weight", 2, 192, 64},
        {"model.layers.0.mlp.up_proj.weight", 2, 192, 64},
        {"model.layers.0.mlp.down_proj.weight", 2, 64, 192},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const fg_st_tensor *t = fg_st_find(st, want[i].name);
        if (!t) fail_msg("no tensor %s", want[i].name);
        assert_int_equal(t->dtype, FG_DT_F32);
        assert_int_equal(t->n_dims, want[i].n_dims);
        assert_int_equal(t->shape[0], want[i].r);
        if (want[i].n_dims == 2) assert_int_equal(t->shape[1], want[i].c);
    }
    fg_st_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_file),
        cmocka_unit_test(test_sharded),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_bad_sharded),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_synthetic_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
