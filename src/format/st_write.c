/* Streaming safetensors writer.
 *
 * File layout: u64 little-endian N | N bytes of JSON header | tensor data.
 * The header maps each tensor name to {"dtype": "F32"|"F16"|"BF16", "shape": [...],
 * "data_offsets": [begin, end]} (offsets relative to the end of the header, tensors
 * back to back in declaration order) plus "__metadata__": {"format": "pt"}. It is padded
 * with spaces so that N is a multiple of 8, which keeps the data 8-byte aligned in a
 * mapping. As with the GGUF writer, a failure removes the file. */
#include "format/format.h"
#include "format/write-impl.h"
#include "mem/mem.h"

#include <stdio.h>
#include <string.h>

typedef struct st_wtensor {
    char *name;
    fg_dtype dt;
    uint32_t n_dims;
    uint64_t shape[4];
    uint64_t nbytes, begin;
} st_wtensor;

enum { SW_DECLARE = 0, SW_DATA, SW_DONE, SW_FAILED };

struct fg_st_writer {
    int state;
    st_wtensor *t;
    size_t n_t, t_cap;
    uint64_t data_size;
    fg_outfile out;
    size_t cur;
    uint64_t cur_done;
};

static const char *st_dtype_name(fg_dtype dt)
{
    switch (dt) {
    case FG_DT_F32: return "F32";
    case FG_DT_F16: return "F16";
    case FG_DT_BF16: return "BF16";
    default: return NULL;
    }
}

fg_status fg_st_writer_create(fg_st_writer **out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_st_writer_create: no output");
    *out = fg_calloc(FG_MEM_RUNTIME, 1, sizeof **out);
    if (!*out) return fg_error(FG_ERR_NOMEM, "out of memory creating a safetensors writer");
    return FG_OK;
}

void fg_st_writer_free(fg_st_writer *w)
{
    if (!w) return;
    fg_outfile_abort(&w->out);
    for (size_t i = 0; i < w->n_t; i++) fg_free(w->t[i].name);
    fg_free(w->t);
    fg_free(w);
}

fg_status fg_st_w_tensor(fg_st_writer *w, const char *name, fg_dtype dt, uint32_t n_dims, const uint64_t *shape)
{
    if (!w) return fg_error(FG_ERR_ARG, "safetensors writer is NULL");
    if (w->state != SW_DECLARE) return fg_error(FG_ERR_ARG, "safetensors writer: tensors must be declared before begin()");
    if (!name || !*name || strlen(name) > 1024)
        return fg_error(FG_ERR_ARG, "safetensors writer: tensor name must have 1 to 1024 bytes");
    if (!strcmp(name, "__metadata__")) return fg_error(FG_ERR_ARG, "safetensors writer: '__metadata__' is reserved");
    if (!st_dtype_name(dt)) return fg_error(FG_ERR_UNSUPPORTED, "safetensors writer: tensor '%s': dtype %s is not F32, F16 or BF16", name, fg_dtype_name(dt));
    if (n_dims < 1 || n_dims > 4 || !shape) return fg_error(FG_ERR_ARG, "safetensors writer: tensor '%s' has %u dims", name, n_dims);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return fg_error(FG_ERR_ARG, "safetensors writer: duplicate tensor '%s'", name);
    uint64_t n = fg_dtype_get(dt)->block_bytes;
    for (uint32_t i = 0; i < n_dims; i++) {
        if (shape[i] == 0 || shape[i] > (1ull << 40) || n > (1ull << 60) / shape[i])
            return fg_error(FG_ERR_ARG, "safetensors writer: tensor '%s' dim %u is %llu", name, i, (unsigned long long)shape[i]);
        n *= shape[i];
    }
    if (w->n_t == w->t_cap) {
        size_t cap = w->t_cap ? w->t_cap * 2 : 64;
        st_wtensor *t = w->t ? fg_realloc(w->t, cap * sizeof *t) : fg_malloc(FG_MEM_RUNTIME, cap * sizeof *t);
        if (!t) return fg_error(FG_ERR_NOMEM, "out of memory for safetensors tensor list");
        w->t = t;
        w->t_cap = cap;
    }
    st_wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = fg_strdup(FG_MEM_RUNTIME, name);
    if (!t->name) return fg_error(FG_ERR_NOMEM, "out of memory for a tensor name");
    t->dt = dt;
    t->n_dims = n_dims;
    memcpy(t->shape, shape, n_dims * sizeof *shape);
    t->nbytes = n;
    t->begin = w->data_size;
    w->data_size += n;
    w->n_t++;
    return FG_OK;
}

/* ---- the JSON header --------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = b->p ? fg_realloc(b->p, cap) : fg_malloc(FG_MEM_RUNTIME, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sb_add(b, tmp, (size_t)n);
}

/* A JSON string literal: quotes, backslashes and control characters escaped; other
 * bytes (UTF-8) as they are. */
static void sb_json_str(sbuf *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            sb_add(b, e, 2);
        } else if (*p < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", *p);
            sb_add(b, e, 6);
        } else {
            sb_add(b, (const char *)p, 1);
        }
    }
    sb_add(b, "\"", 1);
}

static fg_status st_fail(fg_st_writer *w, fg_status s)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", fg_last_error());
    fg_outfile_abort(&w->out);
    w->state = SW_FAILED;
    return fg_error(s, "%s", msg);
}

fg_status fg_st_w_begin(fg_st_writer *w, const char *path)
{
    if (!w) return fg_error(FG_ERR_ARG, "safetensors writer is NULL");
    if (w->state != SW_DECLARE) return fg_error(FG_ERR_ARG, "safetensors writer: begin() called twice or after a failure");
    sbuf b = {0};
    sb_str(&b, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < w->n_t; i++) {
        const st_wtensor *t = &w->t[i];
        sb_str(&b, ",");
        sb_json_str(&b, t->name);
        sb_str(&b, ":{\"dtype\":\"");
        sb_str(&b, st_dtype_name(t->dt));
        sb_str(&b, "\",\"shape\":[");
        for (uint32_t d = 0; d < t->n_dims; d++) {
            if (d) sb_str(&b, ",");
            sb_u64(&b, t->shape[d]);
        }
        sb_str(&b, "],\"data_offsets\":[");
        sb_u64(&b, t->begin);
        sb_str(&b, ",");
        sb_u64(&b, t->begin + t->nbytes);
        sb_str(&b, "]}");
    }
    sb_str(&b, "}");
    while (!b.oom && b.len % 8) sb_str(&b, " ");
    if (b.oom) {
        fg_free(b.p);
        return fg_error(FG_ERR_NOMEM, "out of memory for the safetensors header");
    }
    fg_status s = fg_outfile_open(&w->out, path);
    if (s) {
        fg_free(b.p);
        return s;
    }
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)b.len >> (8 * i));
    s = fg_outfile_write(&w->out, len, 8);
    if (!s) s = fg_outfile_write(&w->out, b.p, b.len);
    fg_free(b.p);
    if (s) return st_fail(w, s);
    w->state = SW_DATA;
    w->cur = 0;
    w->cur_done = 0;
    return FG_OK;
}

fg_status fg_st_w_data(fg_st_writer *w, const void *data, size_t n)
{
    if (!w) return fg_error(FG_ERR_ARG, "safetensors writer is NULL");
    if (w->state != SW_DATA) return fg_error(FG_ERR_ARG, "safetensors writer: data written outside begin()..finish() or after a failure");
    if (n && !data) return fg_error(FG_ERR_ARG, "safetensors writer: NULL data");
    uint64_t left = w->data_size - (w->n_t && w->cur < w->n_t ? w->t[w->cur].begin + w->cur_done : w->data_size);
    if (n > left) {
        fg_error(FG_ERR_ARG, "safetensors writer: %zu bytes written where only %llu remain in the declared tensors",
                 n, (unsigned long long)left);
        return st_fail(w, FG_ERR_ARG);
    }
    fg_status s = fg_outfile_write(&w->out, data, n);
    if (s) return st_fail(w, s);
    /* advance the tensor cursor (only used to name the tensor in errors) */
    while (n > 0) {
        uint64_t rest = w->t[w->cur].nbytes - w->cur_done;
        uint64_t k = rest < n ? rest : n;
        w->cur_done += k;
        n -= (size_t)k;
        if (w->cur_done == w->t[w->cur].nbytes) {
            w->cur++;
            w->cur_done = 0;
        }
    }
    return FG_OK;
}

fg_status fg_st_w_finish(fg_st_writer *w)
{
    if (!w) return fg_error(FG_ERR_ARG, "safetensors writer is NULL");
    if (w->state != SW_DATA) return fg_error(FG_ERR_ARG, "safetensors writer: finish() without begin() or after a failure");
    if (w->cur < w->n_t) {
        const st_wtensor *t = &w->t[w->cur];
        fg_error(FG_ERR_ARG, "safetensors writer: tensor '%s' got %llu of its %llu bytes", t->name,
                 (unsigned long long)w->cur_done, (unsigned long long)t->nbytes);
        return st_fail(w, FG_ERR_ARG);
    }
    fg_status s = fg_outfile_close(&w->out);
    w->state = s ? SW_FAILED : SW_DONE;
    return s;
}
