/* Streaming GGUF v3 writer.
 *
 * File layout (all integers little-endian):
 *   "GGUF" | u32 version = 3 | u64 n_tensors | u64 n_kv
 *   n_kv x { string key | u32 type | value }          string = u64 length + bytes
 *        value: scalar bytes, a string, or an array = u32 elem_type | u64 n | n elements
 *   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   zero padding to the alignment (32)
 *   tensor data: each tensor at its offset (relative to the data start, a multiple of 32),
 *   zero padding after each tensor up to the next multiple of 32.
 * The alignment is the default 32, so general.alignment is not written.
 *
 * Metadata and tensor infos are held in memory (a few MB for a 150k-token vocabulary);
 * tensor bytes go straight to the file through a 1 MB buffer. Any failure once the
 * file exists (write error, wrong byte counts) removes it: a file is either complete
 * or absent. */
#include "format/format.h"
#include "format/write-impl.h"
#include "mem/mem.h"

#include <stdio.h>
#include <string.h>

#define GGUF_ALIGN 32u
#define GGUF_MAX_NAME 63   /* ggml keeps tensor names in char[64] */

typedef struct wtensor {
    char *name;
    fg_dtype dt;
    uint32_t n_dims;
    uint64_t ne[4];
    uint64_t nbytes, offset;
} wtensor;

enum { W_DECLARE = 0, W_DATA, W_DONE, W_FAILED };

struct fg_gguf_writer {
    int state;
    /* serialized key/value pairs, in declaration order */
    uint8_t *meta;
    size_t meta_len, meta_cap;
    uint64_t n_kv;
    char **keys;                 /* for the duplicate check */
    size_t keys_cap;
    wtensor *t;
    size_t n_t, t_cap;
    uint64_t data_size;          /* running offset of the next tensor */
    fg_outfile out;
    size_t cur;                  /* tensor being written */
    uint64_t cur_done;           /* its bytes written so far */
};

static uint64_t align_up(uint64_t x) { return (x + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN; }

static size_t scalar_size(fg_gguf_type t)
{
    switch (t) {
    case FG_GGUF_U8: case FG_GGUF_I8: case FG_GGUF_BOOL: return 1;
    case FG_GGUF_U16: case FG_GGUF_I16: return 2;
    case FG_GGUF_U32: case FG_GGUF_I32: case FG_GGUF_F32: return 4;
    case FG_GGUF_U64: case FG_GGUF_I64: case FG_GGUF_F64: return 8;
    default: return 0;
    }
}

fg_status fg_gguf_writer_create(fg_gguf_writer **out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_gguf_writer_create: no output");
    *out = fg_calloc(FG_MEM_RUNTIME, 1, sizeof **out);
    if (!*out) return fg_error(FG_ERR_NOMEM, "out of memory creating a GGUF writer");
    return FG_OK;
}

void fg_gguf_writer_free(fg_gguf_writer *w)
{
    if (!w) return;
    fg_outfile_abort(&w->out);   /* no-op unless a file is open and unfinished */
    for (uint64_t i = 0; i < w->n_kv; i++) fg_free(w->keys[i]);
    fg_free(w->keys);
    for (size_t i = 0; i < w->n_t; i++) fg_free(w->t[i].name);
    fg_free(w->t);
    fg_free(w->meta);
    fg_free(w);
}

/* ---- metadata serialization ---------------------------------------------------------- */

static fg_status meta_reserve(fg_gguf_writer *w, size_t extra)
{
    if (extra > SIZE_MAX / 2 - w->meta_len) return fg_error(FG_ERR_NOMEM, "GGUF metadata too large");
    if (w->meta_len + extra <= w->meta_cap) return FG_OK;
    size_t cap = w->meta_cap ? w->meta_cap : 4096;
    while (cap < w->meta_len + extra) cap *= 2;
    uint8_t *p = w->meta ? fg_realloc(w->meta, cap) : fg_malloc(FG_MEM_RUNTIME, cap);
    if (!p) return fg_error(FG_ERR_NOMEM, "out of memory for GGUF metadata (%zu bytes)", cap);
    w->meta = p;
    w->meta_cap = cap;
    return FG_OK;
}

/* Appends bytes; the caller reserved room. */
static void put(fg_gguf_writer *w, const void *p, size_t n)
{
    if (n) memcpy(w->meta + w->meta_len, p, n);
    w->meta_len += n;
}

static void put_u32(fg_gguf_writer *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, 4);
}

static void put_u64(fg_gguf_writer *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, 8);
}

static void put_str(fg_gguf_writer *w, const char *s, size_t n)
{
    put_u64(w, n);
    put(w, s, n);
}

/* Checks the state and the key, records it, and writes "key | type" with room for
 * `value_bytes` more. On error nothing is appended. */
static fg_status begin_kv(fg_gguf_writer *w, const char *key, size_t key_len, fg_gguf_type t,
                          size_t value_bytes)
{
    if (!w) return fg_error(FG_ERR_ARG, "GGUF writer is NULL");
    if (w->state != W_DECLARE)
        return fg_error(FG_ERR_ARG, "GGUF writer: metadata must be added before begin()");
    if (!key || key_len == 0 || key_len > 65535 || memchr(key, 0, key_len))
        return fg_error(FG_ERR_ARG, "GGUF writer: invalid metadata key");
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strlen(w->keys[i]) == key_len && !memcmp(w->keys[i], key, key_len))
            return fg_error(FG_ERR_ARG, "GGUF writer: duplicate key '%.*s'", (int)key_len, key);
    if (w->n_kv == w->keys_cap) {
        size_t cap = w->keys_cap ? w->keys_cap * 2 : 32;
        char **k = w->keys ? fg_realloc(w->keys, cap * sizeof *k) : fg_malloc(FG_MEM_RUNTIME, cap * sizeof *k);
        if (!k) return fg_error(FG_ERR_NOMEM, "out of memory for GGUF keys");
        w->keys = k;
        w->keys_cap = cap;
    }
    char *copy = fg_strndup(FG_MEM_RUNTIME, key, key_len);
    if (!copy) return fg_error(FG_ERR_NOMEM, "out of memory for a GGUF key");
    if (value_bytes > SIZE_MAX / 4 || meta_reserve(w, 8 + key_len + 4 + value_bytes)) {
        fg_free(copy);
        return fg_error(FG_ERR_NOMEM, "out of memory for GGUF metadata");
    }
    w->keys[w->n_kv++] = copy;
    put_str(w, key, key_len);
    put_u32(w, (uint32_t)t);
    return FG_OK;
}

/* The writer lays the file out with 32-byte alignment; general.alignment may only
 * restate that. */
static fg_status check_alignment_key(const char *key, uint64_t v)
{
    if (key && !strcmp(key, "general.alignment") && v != GGUF_ALIGN)
        return fg_error(FG_ERR_ARG, "GGUF writer: general.alignment must be %u (the writer's layout)",
                        GGUF_ALIGN);
    return FG_OK;
}

static fg_status w_scalar(fg_gguf_writer *w, const char *key, fg_gguf_type t, const void *le_bytes)
{
    size_t n = scalar_size(t);
    fg_status s = begin_kv(w, key, key ? strlen(key) : 0, t, n);
    if (s) return s;
    put(w, le_bytes, n);
    return FG_OK;
}

static void le32(uint8_t *b, uint32_t v) { for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i)); }
static void le64(uint8_t *b, uint64_t v) { for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i)); }

fg_status fg_gguf_w_u32(fg_gguf_writer *w, const char *key, uint32_t v)
{
    fg_status s = check_alignment_key(key, v);
    if (s) return s;
    uint8_t b[4];
    le32(b, v);
    return w_scalar(w, key, FG_GGUF_U32, b);
}

fg_status fg_gguf_w_i32(fg_gguf_writer *w, const char *key, int32_t v)
{
    fg_status s = check_alignment_key(key, v < 0 ? 0 : (uint64_t)v);
    if (s) return s;
    uint8_t b[4];
    le32(b, (uint32_t)v);
    return w_scalar(w, key, FG_GGUF_I32, b);
}

fg_status fg_gguf_w_u64(fg_gguf_writer *w, const char *key, uint64_t v)
{
    fg_status s = check_alignment_key(key, v);
    if (s) return s;
    uint8_t b[8];
    le64(b, v);
    return w_scalar(w, key, FG_GGUF_U64, b);
}

fg_status fg_gguf_w_f32(fg_gguf_writer *w, const char *key, float v)
{
    fg_status s = check_alignment_key(key, 0);
    if (s) return s;
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t b[4];
    le32(b, u);
    return w_scalar(w, key, FG_GGUF_F32, b);
}

fg_status fg_gguf_w_bool(fg_gguf_writer *w, const char *key, bool v)
{
    fg_status s = check_alignment_key(key, 0);
    if (s) return s;
    uint8_t b = v ? 1 : 0;
    return w_scalar(w, key, FG_GGUF_BOOL, &b);
}

fg_status fg_gguf_w_str(fg_gguf_writer *w, const char *key, const char *v, size_t len)
{
    fg_status s = check_alignment_key(key, 0);
    if (s) return s;
    if (!v && len) return fg_error(FG_ERR_ARG, "GGUF writer: NULL string for '%s'", key ? key : "?");
    s = begin_kv(w, key, key ? strlen(key) : 0, FG_GGUF_STRING, 8 + len);
    if (s) return s;
    put_str(w, v, len);
    return FG_OK;
}

/* Numeric array body; `data` holds n little-endian elements of type t. */
static fg_status arr_body(fg_gguf_writer *w, const char *key, size_t key_len, fg_gguf_type t,
                          const void *data, uint64_t n)
{
    size_t es = scalar_size(t);
    if (!es) return fg_error(FG_ERR_ARG, "GGUF writer: array '%.*s' of type %d is not numeric", (int)key_len, key, (int)t);
    if (n > (SIZE_MAX / 4) / es) return fg_error(FG_ERR_ARG, "GGUF writer: array '%.*s' too long", (int)key_len, key);
    if (n && !data) return fg_error(FG_ERR_ARG, "GGUF writer: NULL data for array '%.*s'", (int)key_len, key);
    if (t == FG_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)data)[i] > 1)
                return fg_error(FG_ERR_ARG, "GGUF writer: bool array '%.*s' holds %u at %llu", (int)key_len,
                                key, ((const uint8_t *)data)[i], (unsigned long long)i);
    fg_status s = begin_kv(w, key, key_len, FG_GGUF_ARRAY, 12 + (size_t)n * es);
    if (s) return s;
    put_u32(w, (uint32_t)t);
    put_u64(w, n);
    put(w, data, (size_t)n * es);
    return FG_OK;
}

fg_status fg_gguf_w_arr(fg_gguf_writer *w, const char *key, fg_gguf_type t, const void *data, uint64_t n)
{
    fg_status s = check_alignment_key(key, 0);
    if (s) return s;
    return arr_body(w, key, key ? strlen(key) : 0, t, data, n);
}

fg_status fg_gguf_w_arr_str(fg_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                            uint64_t n)
{
    fg_status s = check_alignment_key(key, 0);
    if (s) return s;
    if (n && (!strs || !lens)) return fg_error(FG_ERR_ARG, "GGUF writer: NULL strings for '%s'", key ? key : "?");
    size_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i] && lens[i]) return fg_error(FG_ERR_ARG, "GGUF writer: NULL string %llu in '%s'", (unsigned long long)i, key);
        if (lens[i] > SIZE_MAX / 4 - total - 8) return fg_error(FG_ERR_ARG, "GGUF writer: string array '%s' too large", key);
        total += 8 + lens[i];
    }
    s = begin_kv(w, key, key ? strlen(key) : 0, FG_GGUF_ARRAY, total);
    if (s) return s;
    put_u32(w, FG_GGUF_STRING);
    put_u64(w, n);
    for (uint64_t i = 0; i < n; i++) put_str(w, strs[i], lens[i]);
    return FG_OK;
}

static fg_status copy_kv_named(fg_gguf_writer *w, const fg_gguf *src, const fg_gguf_kv *kv, const char *key);

/* Copies through the reader's API only (typed getters, the string iterator, raw numeric
 * element bytes), so it does not depend on how the reader lays out its views. */
fg_status fg_gguf_w_copy_kv(fg_gguf_writer *w, const fg_gguf *src, const fg_gguf_kv *kv)
{
    if (!w || !src || !kv || !kv->key.ptr) return fg_error(FG_ERR_ARG, "fg_gguf_w_copy_kv: NULL argument");
    if (kv->key.len == 0 || kv->key.len > 65535) return fg_error(FG_ERR_ARG, "fg_gguf_w_copy_kv: bad key length");
    /* the layout is the writer's own: the source's alignment does not carry over */
    if (fg_str_eq(kv->key, "general.alignment")) return FG_OK;
    char *key = fg_strndup(FG_MEM_RUNTIME, kv->key.ptr, kv->key.len);
    if (!key) return fg_error(FG_ERR_NOMEM, "out of memory copying a GGUF key");
    fg_status s = copy_kv_named(w, src, kv, key);
    fg_free(key);
    return s;
}

static fg_status copy_kv_named(fg_gguf_writer *w, const fg_gguf *src, const fg_gguf_kv *kv, const char *key)
{

    if (kv->type == FG_GGUF_STRING) {
        fg_str v;
        if (!fg_gguf_get_str(src, key, &v)) return fg_error(FG_ERR_FORMAT, "%s: cannot read string '%s'", src->file.path, key);
        return fg_gguf_w_str(w, key, v.ptr, v.len);
    }
    if (kv->type == FG_GGUF_ARRAY) {
        if (kv->arr_type == FG_GGUF_STRING) {
            fg_status s = begin_kv(w, key, kv->key.len, FG_GGUF_ARRAY, 12);
            if (s) return s;
            put_u32(w, FG_GGUF_STRING);
            put_u64(w, kv->arr_n);
            fg_gguf_str_iter it;
            fg_gguf_str_iter_init(src, kv, &it);
            fg_str e;
            uint64_t got = 0;
            while (fg_gguf_str_iter_next(&it, &e)) {
                if (meta_reserve(w, 8 + e.len)) {
                    w->state = W_FAILED;   /* the array is half written */
                    return FG_ERR_NOMEM;
                }
                put_str(w, e.ptr, e.len);
                got++;
            }
            if (got != kv->arr_n) {
                /* leave the writer unusable rather than with a corrupt array */
                w->state = W_FAILED;
                return fg_error(FG_ERR_FORMAT, "%s: string array '%s' has %llu readable of %llu elements",
                                src->file.path, key, (unsigned long long)got, (unsigned long long)kv->arr_n);
            }
            return FG_OK;
        }
        if (kv->arr_type == FG_GGUF_ARRAY)
            return fg_error(FG_ERR_UNSUPPORTED, "%s: nested array '%s' cannot be copied", src->file.path, key);
        if (!scalar_size(kv->arr_type))
            return fg_error(FG_ERR_FORMAT, "%s: array '%s' has element type %d", src->file.path, key, (int)kv->arr_type);
        return arr_body(w, key, kv->key.len, kv->arr_type, kv->value, kv->arr_n);
    }
    size_t n = scalar_size(kv->type);
    if (!n || !kv->value) return fg_error(FG_ERR_FORMAT, "%s: key '%s' has type %d", src->file.path, key, (int)kv->type);
    return w_scalar(w, key, kv->type, kv->value);
}

/* ---- tensors ----------------------------------------------------------------------- */

fg_status fg_gguf_w_tensor(fg_gguf_writer *w, const char *name, fg_dtype dt, uint32_t n_dims, const uint64_t *ne)
{
    if (!w) return fg_error(FG_ERR_ARG, "GGUF writer is NULL");
    if (w->state != W_DECLARE) return fg_error(FG_ERR_ARG, "GGUF writer: tensors must be declared before begin()");
    size_t nl = name ? strlen(name) : 0;
    if (nl == 0 || nl > GGUF_MAX_NAME)
        return fg_error(FG_ERR_ARG, "GGUF writer: tensor name '%s' must have 1 to %d bytes", name ? name : "", GGUF_MAX_NAME);
    const fg_dtype_info *di = fg_dtype_get(dt);
    if (!di) return fg_error(FG_ERR_ARG, "GGUF writer: tensor '%s' has an invalid dtype", name);
    if (n_dims < 1 || n_dims > 4 || !ne) return fg_error(FG_ERR_ARG, "GGUF writer: tensor '%s' has %u dims", name, n_dims);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return fg_error(FG_ERR_ARG, "GGUF writer: duplicate tensor '%s'", name);
    uint64_t rows = 1;
    for (uint32_t i = 0; i < n_dims; i++) {
        if (ne[i] == 0 || ne[i] > (1ull << 40))
            return fg_error(FG_ERR_ARG, "GGUF writer: tensor '%s' dim %u is %llu", name, i, (unsigned long long)ne[i]);
        if (i > 0) {
            if (rows > (1ull << 50) / ne[i]) return fg_error(FG_ERR_ARG, "GGUF writer: tensor '%s' too large", name);
            rows *= ne[i];
        }
    }
    if (ne[0] % (uint64_t)di->block_elems)
        return fg_error(FG_ERR_ARG, "GGUF writer: tensor '%s' row of %llu is not a multiple of %s's block of %d",
                        name, (unsigned long long)ne[0], di->name, di->block_elems);
    uint64_t row_bytes = ne[0] / (uint64_t)di->block_elems * (uint64_t)di->block_bytes;
    if (row_bytes > (1ull << 60) / rows) return fg_error(FG_ERR_ARG, "GGUF writer: tensor '%s' too large", name);
    if (w->n_t == w->t_cap) {
        size_t cap = w->t_cap ? w->t_cap * 2 : 64;
        wtensor *t = w->t ? fg_realloc(w->t, cap * sizeof *t) : fg_malloc(FG_MEM_RUNTIME, cap * sizeof *t);
        if (!t) return fg_error(FG_ERR_NOMEM, "out of memory for GGUF tensor infos");
        w->t = t;
        w->t_cap = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = fg_strdup(FG_MEM_RUNTIME, name);
    if (!t->name) return fg_error(FG_ERR_NOMEM, "out of memory for a tensor name");
    t->dt = dt;
    t->n_dims = n_dims;
    for (uint32_t i = 0; i < n_dims; i++) t->ne[i] = ne[i];
    t->nbytes = row_bytes * rows;
    t->offset = w->data_size;
    w->data_size = align_up(t->offset + t->nbytes);
    w->n_t++;
    return FG_OK;
}

/* ---- the file ---------------------------------------------------------------------- */

static fg_status fail(fg_gguf_writer *w, fg_status s)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", fg_last_error());
    fg_outfile_abort(&w->out);
    w->state = W_FAILED;
    return fg_error(s, "%s", msg);
}

static fg_status out_u32(fg_outfile *o, uint32_t v)
{
    uint8_t b[4];
    le32(b, v);
    return fg_outfile_write(o, b, 4);
}

static fg_status out_u64(fg_outfile *o, uint64_t v)
{
    uint8_t b[8];
    le64(b, v);
    return fg_outfile_write(o, b, 8);
}

fg_status fg_gguf_w_begin(fg_gguf_writer *w, const char *path)
{
    if (!w) return fg_error(FG_ERR_ARG, "GGUF writer is NULL");
    if (w->state != W_DECLARE) return fg_error(FG_ERR_ARG, "GGUF writer: begin() called twice or after a failure");
    fg_status s = fg_outfile_open(&w->out, path);
    if (s) return s;
    fg_outfile *o = &w->out;
    s = fg_outfile_write(o, "GGUF", 4);
    if (!s) s = out_u32(o, 3);
    if (!s) s = out_u64(o, w->n_t);
    if (!s) s = out_u64(o, w->n_kv);
    if (!s) s = fg_outfile_write(o, w->meta, w->meta_len);
    for (size_t i = 0; i < w->n_t && !s; i++) {
        const wtensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        s = out_u64(o, nl);
        if (!s) s = fg_outfile_write(o, t->name, nl);
        if (!s) s = out_u32(o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims && !s; d++) s = out_u64(o, t->ne[d]);
        if (!s) s = out_u32(o, fg_dtype_get(t->dt)->gguf_type);
        if (!s) s = out_u64(o, t->offset);
    }
    if (!s) s = fg_outfile_zeros(o, (size_t)(align_up(o->pos) - o->pos));
    if (s) return fail(w, s);
    w->state = W_DATA;
    w->cur = 0;
    w->cur_done = 0;
    return FG_OK;
}

fg_status fg_gguf_w_data(fg_gguf_writer *w, const void *data, size_t n)
{
    if (!w) return fg_error(FG_ERR_ARG, "GGUF writer is NULL");
    if (w->state != W_DATA) return fg_error(FG_ERR_ARG, "GGUF writer: data written outside begin()..finish() or after a failure");
    if (n && !data) return fg_error(FG_ERR_ARG, "GGUF writer: NULL data");
    const uint8_t *p = data;
    while (n > 0) {
        if (w->cur >= w->n_t) {
            fg_error(FG_ERR_ARG, "GGUF writer: %zu bytes more than the %zu declared tensors hold", n, w->n_t);
            return fail(w, FG_ERR_ARG);
        }
        const wtensor *t = &w->t[w->cur];
        uint64_t left = t->nbytes - w->cur_done;
        size_t k = left < n ? (size_t)left : n;
        fg_status s = fg_outfile_write(&w->out, p, k);
        if (s) return fail(w, s);
        p += k;
        n -= k;
        w->cur_done += k;
        if (w->cur_done == t->nbytes) {
            s = fg_outfile_zeros(&w->out, (size_t)(align_up(t->nbytes) - t->nbytes));
            if (s) return fail(w, s);
            w->cur++;
            w->cur_done = 0;
        }
    }
    return FG_OK;
}

fg_status fg_gguf_w_finish(fg_gguf_writer *w)
{
    if (!w) return fg_error(FG_ERR_ARG, "GGUF writer is NULL");
    if (w->state != W_DATA) return fg_error(FG_ERR_ARG, "GGUF writer: finish() without begin() or after a failure");
    if (w->cur < w->n_t) {
        const wtensor *t = &w->t[w->cur];
        fg_error(FG_ERR_ARG, "GGUF writer: tensor '%s' got %llu of its %llu bytes (%zu of %zu tensors complete)",
                 t->name, (unsigned long long)w->cur_done, (unsigned long long)t->nbytes, w->cur, w->n_t);
        return fail(w, FG_ERR_ARG);
    }
    fg_status s = fg_outfile_close(&w->out);   /* removes the file itself on error */
    w->state = s ? W_FAILED : W_DONE;
    return s;
}
