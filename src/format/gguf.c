/* The GGUF v2/v3 reader.
 *
 * File layout (all little-endian; v2 and v3 are identical for little-endian files, v3
 * only adds the possibility of big-endian files, which we refuse):
 *
 *   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv x  { string key | u32 value_type | value }
 *   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   padding to general.alignment (default 32)
 *   tensor data; each tensor at data_offset + offset, offset a multiple of the alignment
 *
 *   string = u64 length | bytes (no terminator)
 *   array  = u32 element_type | u64 count | count x element (nested arrays: unsupported)
 *
 * Everything is validated once, here, against the file size: after fg_gguf_open the
 * getters, the iterator and the tensor views can trust every length and offset. Counts
 * are checked against the bytes left in the file *before* anything is allocated, so a
 * hostile n_kv of 2^60 costs nothing. Keys, names and values point into the mapping. */
#include "frugal.h" /* first: frugal.h pulls in model.h, which needs format.h complete */
#include "format/format.h"
#include "mem/mem.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

/* ---- ggml tensor types ----------------------------------------------------------------
 * Block geometry of every ggml type that can appear in a GGUF file, numbered as in
 * ggml.h. A row of n elements takes n / blck blocks of `size` bytes. frugal computes
 * with a subset (core's fg_dtype_from_gguf maps those; the tests check both tables
 * agree); the others still get a correct byte size so that files holding them open
 * and `inspect` can show them. Ids 4 and 5 (Q4_2, Q4_3) were
 * removed from ggml before GGUF existed; 31-33 and 36-38 are the interleaved Q4_0 /
 * IQ4_NL layouts that older files may carry (same bytes per block as their base type). */
typedef struct ggml_type_info {
    const char *name;
    uint32_t blck;  /* elements per block */
    uint32_t size;  /* bytes per block */
} ggml_type_info;

#define GT(id, nm, b, s) [id] = {nm, b, s}
static const ggml_type_info ggml_types[] = {
    GT(0, "f32", 1, 4),
    GT(1, "f16", 1, 2),
    GT(2, "q4_0", 32, 18),        /* f16 d | 16 B nibbles */
    GT(3, "q4_1", 32, 20),        /* f16 d, m | 16 B nibbles */
    GT(6, "q5_0", 32, 22),        /* f16 d | 4 B high bits | 16 B */
    GT(7, "q5_1", 32, 24),
    GT(8, "q8_0", 32, 34),        /* f16 d | 32 x i8 */
    GT(9, "q8_1", 32, 36),        /* f16 d, s | 32 x i8 */
    GT(10, "q2_k", 256, 84),      /* 16 scales | 64 qs | f16 d, dmin */
    GT(11, "q3_k", 256, 110),     /* 32 hmask | 64 qs | 12 scales | f16 d */
    GT(12, "q4_k", 256, 144),     /* f16 d, dmin | 12 scales | 128 qs */
    GT(13, "q5_k", 256, 176),     /* f16 d, dmin | 12 scales | 32 qh | 128 qs */
    GT(14, "q6_k", 256, 210),     /* 128 ql | 64 qh | 16 scales | f16 d */
    GT(15, "q8_k", 256, 292),     /* f32 d | 256 qs | 16 x i16 bsums */
    GT(16, "iq2_xxs", 256, 66),
    GT(17, "iq2_xs", 256, 74),
    GT(18, "iq3_xxs", 256, 98),
    GT(19, "iq1_s", 256, 50),
    GT(20, "iq4_nl", 32, 18),
    GT(21, "iq3_s", 256, 110),
    GT(22, "iq2_s", 256, 82),
    GT(23, "iq4_xs", 256, 136),
    GT(24, "i8", 1, 1),
    GT(25, "i16", 1, 2),
    GT(26, "i32", 1, 4),
    GT(27, "i64", 1, 8),
    GT(28, "f64", 1, 8),
    GT(29, "iq1_m", 256, 56),
    GT(30, "bf16", 1, 2),
    GT(31, "q4_0_4_4", 32, 18),
    GT(32, "q4_0_4_8", 32, 18),
    GT(33, "q4_0_8_8", 32, 18),
    GT(34, "tq1_0", 256, 54),
    GT(35, "tq2_0", 256, 66),
    GT(36, "iq4_nl_4_4", 32, 18),
    GT(37, "iq4_nl_4_8", 32, 18),
    GT(38, "iq4_nl_8_8", 32, 18),
    GT(39, "mxfp4", 32, 17),      /* e8m0 scale | 16 B e2m1 nibbles */
    GT(40, "nvfp4", 64, 36),      /* 4 x e4m3 scales | 32 B e2m1 nibbles */
};
#undef GT
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

static const ggml_type_info *ggml_type_lookup(uint32_t id)
{
    if (id >= N_GGML_TYPES || !ggml_types[id].name) return NULL;
    return &ggml_types[id];
}

const char *fg_ggml_type_name(uint32_t ggml_type)
{
    const ggml_type_info *t = ggml_type_lookup(ggml_type);
    return t ? t->name : NULL;
}

/* ---- metadata value types ------------------------------------------------------------ */
static const char *const gguf_type_names[FG_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

const char *fg_gguf_type_name(fg_gguf_type t)
{
    return (unsigned)t < FG_GGUF_TYPE_COUNT ? gguf_type_names[t] : "?";
}

/* Bytes of a fixed-size value; 0 for string and array. */
static uint64_t scalar_size(fg_gguf_type t)
{
    switch (t) {
    case FG_GGUF_U8: case FG_GGUF_I8: case FG_GGUF_BOOL: return 1;
    case FG_GGUF_U16: case FG_GGUF_I16: return 2;
    case FG_GGUF_U32: case FG_GGUF_I32: case FG_GGUF_F32: return 4;
    case FG_GGUF_U64: case FG_GGUF_I64: case FG_GGUF_F64: return 8;
    default: return 0;
    }
}

static bool is_int_type(fg_gguf_type t)
{
    return t == FG_GGUF_U8 || t == FG_GGUF_I8 || t == FG_GGUF_U16 || t == FG_GGUF_I16 ||
           t == FG_GGUF_U32 || t == FG_GGUF_I32 || t == FG_GGUF_U64 || t == FG_GGUF_I64;
}

static uint64_t ld_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t ld_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* An integer value widened: *neg set for negative signed values (then *mag holds the
 * value as int64 bits), else *mag is the non-negative value. */
static void load_int(fg_gguf_type t, const uint8_t *p, bool *neg, uint64_t *mag)
{
    int64_t s = 0;
    uint64_t u = 0;
    bool is_signed = true;
    switch (t) {
    case FG_GGUF_U8: u = p[0]; is_signed = false; break;
    case FG_GGUF_I8: s = (int8_t)p[0]; break;
    case FG_GGUF_U16: { uint16_t v; memcpy(&v, p, 2); u = v; is_signed = false; break; }
    case FG_GGUF_I16: { int16_t v; memcpy(&v, p, 2); s = v; break; }
    case FG_GGUF_U32: u = ld_u32(p); is_signed = false; break;
    case FG_GGUF_I32: { int32_t v; memcpy(&v, p, 4); s = v; break; }
    case FG_GGUF_U64: u = ld_u64(p); is_signed = false; break;
    case FG_GGUF_I64: { int64_t v; memcpy(&v, p, 8); s = v; break; }
    default: break;
    }
    if (is_signed) {
        *neg = s < 0;
        *mag = (uint64_t)s;
    } else {
        *neg = false;
        *mag = u;
    }
}

static bool value_as_i64(fg_gguf_type t, const uint8_t *p, int64_t *out)
{
    if (!is_int_type(t)) return false;
    bool neg;
    uint64_t m;
    load_int(t, p, &neg, &m);
    if (!neg && m > (uint64_t)INT64_MAX) return false;
    *out = (int64_t)m;
    return true;
}

static bool value_as_u64(fg_gguf_type t, const uint8_t *p, uint64_t *out)
{
    if (!is_int_type(t)) return false;
    bool neg;
    uint64_t m;
    load_int(t, p, &neg, &m);
    if (neg) return false;
    *out = m;
    return true;
}

static bool value_as_f64(fg_gguf_type t, const uint8_t *p, double *out)
{
    if (t == FG_GGUF_F32) {
        float f;
        memcpy(&f, p, 4);
        *out = f;
        return true;
    }
    if (t == FG_GGUF_F64) {
        memcpy(out, p, 8);
        return true;
    }
    if (!is_int_type(t)) return false;
    bool neg;
    uint64_t m;
    load_int(t, p, &neg, &m);
    *out = neg ? (double)(int64_t)m : (double)m;
    return true;
}

/* ---- the opened file: public struct plus private lookup tables ------------------------ */
typedef struct gguf_impl {
    fg_gguf pub;           /* first member: fg_gguf * and gguf_impl * convert */
    size_t *kv_slots;      /* open addressing, slot = index + 1, 0 = empty */
    size_t kv_cap;         /* power of two */
    size_t *t_slots;
    size_t t_cap;
} gguf_impl;

static uint64_t hash_bytes(const char *p, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
    for (uint64_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static size_t table_cap(uint64_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    return cap;
}

/* Open-addressing lookup: items[i] (each `stride` bytes) has its fg_str name at byte
 * `name_off`. Returns the slot holding `key`, or the empty slot where it would go. */
static size_t probe(const size_t *slots, size_t cap, const void *items, size_t stride, size_t name_off,
                    const char *key, uint64_t len)
{
    size_t mask = cap - 1, at = (size_t)hash_bytes(key, len) & mask;
    while (slots[at]) {
        fg_str s;
        memcpy(&s, (const char *)items + (slots[at] - 1) * stride + name_off, sizeof s);
        if (s.len == len && memcmp(s.ptr, key, len) == 0) break;
        at = (at + 1) & mask;
    }
    return at;
}
#define KV_PROBE(im_, k_, l_) \
    probe((im_)->kv_slots, (im_)->kv_cap, (im_)->pub.kv, sizeof(fg_gguf_kv), offsetof(fg_gguf_kv, key), k_, l_)
#define T_PROBE(im_, k_, l_) \
    probe((im_)->t_slots, (im_)->t_cap, (im_)->pub.tensors, sizeof(fg_gguf_tensor), \
          offsetof(fg_gguf_tensor, name), k_, l_)

/* ---- the cursor ------------------------------------------------------------------------ */
typedef struct cursor {
    const uint8_t *base, *p, *end;
    const char *path;
} cursor;

static uint64_t left(const cursor *c) { return (uint64_t)(c->end - c->p); }
static uint64_t pos(const cursor *c) { return (uint64_t)(c->p - c->base); }

/* A short printable rendering of a name from the file for error messages. */
static const char *show(fg_str s, char *buf, size_t size)
{
    size_t n = 0;
    for (uint64_t i = 0; i < s.len && n + 4 < size; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        buf[n++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    if (s.len > n && n + 4 <= size) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = 0;
    return buf;
}

static fg_status truncated(const cursor *c, const char *what)
{
    return fg_error(FG_ERR_FORMAT, "%s: truncated GGUF: file ends at byte %" PRIu64 " while reading %s",
                    c->path, (uint64_t)(c->end - c->base), what);
}

static fg_status rd_u32(cursor *c, uint32_t *v, const char *what)
{
    if (left(c) < 4) return truncated(c, what);
    *v = ld_u32(c->p);
    c->p += 4;
    return FG_OK;
}

static fg_status rd_u64(cursor *c, uint64_t *v, const char *what)
{
    if (left(c) < 8) return truncated(c, what);
    *v = ld_u64(c->p);
    c->p += 8;
    return FG_OK;
}

static fg_status rd_str(cursor *c, fg_str *s, const char *what)
{
    uint64_t n = 0;
    fg_status st = rd_u64(c, &n, what);
    if (st) return st;
    if (n > left(c))
        return fg_error(FG_ERR_FORMAT, "%s: %s at byte %" PRIu64 " has length %" PRIu64
                        " but only %" PRIu64 " bytes are left in the file",
                        c->path, what, pos(c) - 8, n, left(c));
    s->ptr = (const char *)c->p;
    s->len = n;
    c->p += n;
    return FG_OK;
}

/* Validates and skips one value of type t (not an array) for metadata key `key`. */
static fg_status skip_value(cursor *c, fg_gguf_type t, fg_str key)
{
    char kb[80];
    if (t == FG_GGUF_STRING) {
        fg_str s;
        char what[160];
        snprintf(what, sizeof what, "the string value of '%s'", show(key, kb, sizeof kb));
        return rd_str(c, &s, what);
    }
    uint64_t sz = scalar_size(t);
    if (left(c) < sz) {
        char what[160];
        snprintf(what, sizeof what, "the value of '%s'", show(key, kb, sizeof kb));
        return truncated(c, what);
    }
    if (t == FG_GGUF_BOOL && c->p[0] > 1)
        return fg_error(FG_ERR_FORMAT, "%s: bool value of '%s' is %u (must be 0 or 1)", c->path,
                        show(key, kb, sizeof kb), c->p[0]);
    c->p += sz;
    return FG_OK;
}

static fg_status parse_kv(cursor *c, uint64_t i, fg_gguf_kv *kv)
{
    char what[160], kb[80];
    snprintf(what, sizeof what, "metadata key #%" PRIu64, i);
    fg_status st = rd_str(c, &kv->key, what);
    if (st) return st;
    if (kv->key.len == 0)
        return fg_error(FG_ERR_FORMAT, "%s: metadata key #%" PRIu64 " is empty", c->path, i);
    show(kv->key, kb, sizeof kb);

    uint32_t t = 0;
    snprintf(what, sizeof what, "the type of '%s'", kb);
    if ((st = rd_u32(c, &t, what))) return st;
    if (t >= FG_GGUF_TYPE_COUNT)
        return fg_error(FG_ERR_FORMAT, "%s: metadata '%s' has unknown value type %u", c->path, kb, t);
    kv->type = (fg_gguf_type)t;
    if (t != FG_GGUF_ARRAY) {
        kv->value = c->p;
        return skip_value(c, kv->type, kv->key);
    }

    uint32_t at = 0;
    uint64_t n = 0;
    snprintf(what, sizeof what, "the array header of '%s'", kb);
    if ((st = rd_u32(c, &at, what))) return st;
    if (at == FG_GGUF_ARRAY)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: metadata '%s' is a nested array (not supported)",
                        c->path, kb);
    if (at >= FG_GGUF_TYPE_COUNT)
        return fg_error(FG_ERR_FORMAT, "%s: metadata '%s' is an array of unknown type %u", c->path, kb, at);
    if ((st = rd_u64(c, &n, what))) return st;
    kv->arr_type = (fg_gguf_type)at;
    kv->arr_n = n;
    kv->value = c->p;

    /* every element takes at least 8 bytes (string) or its scalar size */
    uint64_t min_elem = at == FG_GGUF_STRING ? 8 : scalar_size((fg_gguf_type)at);
    if (n > left(c) / min_elem)
        return fg_error(FG_ERR_FORMAT, "%s: array '%s' claims %" PRIu64 " %s elements but only %" PRIu64
                        " bytes are left in the file", c->path, kb, n, fg_gguf_type_name(at), left(c));
    if (at == FG_GGUF_STRING) {
        /* hot for vocabularies (150k+ strings): the error context is formatted only on failure */
        for (uint64_t j = 0; j < n; j++) {
            uint64_t len = left(c) >= 8 ? ld_u64(c->p) : 0;
            if (left(c) < 8 || len > left(c) - 8) {
                fg_str s;
                snprintf(what, sizeof what, "element %" PRIu64 " of '%s'", j, kb);
                return rd_str(c, &s, what);
            }
            c->p += 8 + len;
        }
        return FG_OK;
    }
    if (at == FG_GGUF_BOOL) {
        for (uint64_t j = 0; j < n; j++)
            if (c->p[j] > 1)
                return fg_error(FG_ERR_FORMAT, "%s: element %" PRIu64 " of bool array '%s' is %u (must be 0 or 1)",
                                c->path, j, kb, c->p[j]);
    }
    c->p += n * min_elem;
    return FG_OK;
}

static fg_status parse_tensor_info(cursor *c, uint64_t i, fg_gguf_tensor *t)
{
    char what[160], nb[80];
    snprintf(what, sizeof what, "the name of tensor #%" PRIu64, i);
    fg_status st = rd_str(c, &t->name, what);
    if (st) return st;
    if (t->name.len == 0)
        return fg_error(FG_ERR_FORMAT, "%s: tensor #%" PRIu64 " has an empty name", c->path, i);
    show(t->name, nb, sizeof nb);

    snprintf(what, sizeof what, "the tensor info of '%s'", nb);
    if ((st = rd_u32(c, &t->n_dims, what))) return st;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s' has %u dimensions (must be 1 to %d)", c->path, nb,
                        t->n_dims, GGUF_MAX_DIMS);
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims) continue;
        if ((st = rd_u64(c, &t->ne[d], what))) return st;
        if (t->ne[d] == 0)
            return fg_error(FG_ERR_FORMAT, "%s: tensor '%s' has a zero-sized dimension ne[%u]", c->path, nb, d);
        if (t->ne[d] > (uint64_t)INT64_MAX || __builtin_mul_overflow(nelem, t->ne[d], &nelem) ||
            nelem > (uint64_t)INT64_MAX)
            return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': element count overflows (ne[%u] = %" PRIu64 ")",
                            c->path, nb, d, t->ne[d]);
    }
    if ((st = rd_u32(c, &t->ggml_type, what))) return st;
    if ((st = rd_u64(c, &t->offset, what))) return st;

    const ggml_type_info *ti = ggml_type_lookup(t->ggml_type);
    if (!ti)
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s' has unknown ggml type id %u", c->path, nb, t->ggml_type);
    if (t->ne[0] % ti->blck)
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': row length ne[0] = %" PRIu64
                        " is not a multiple of the %s block size %u", c->path, nb, t->ne[0], ti->name, ti->blck);
    if (__builtin_mul_overflow(nelem / ti->blck, (uint64_t)ti->size, &t->nbytes))
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': byte size overflows", c->path, nb);
    t->dtype = fg_dtype_from_gguf(t->ggml_type);
    return FG_OK;
}

typedef struct extent {
    uint64_t begin, end;
    uint64_t idx;
} extent;

static int extent_cmp(const void *a, const void *b)
{
    const extent *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static gguf_impl *impl_of(const fg_gguf *g) { return (gguf_impl *)g; }

static fg_status nomem(const char *path) { return fg_error(FG_ERR_NOMEM, "%s: out of memory reading GGUF", path); }

static fg_status parse(gguf_impl *im)
{
    fg_gguf *g = &im->pub;
    const char *path = g->file.path;
    /* an empty file has no mapping: never form NULL + 0 (undefined behaviour) */
    const uint8_t *base = g->file.data ? g->file.data : (const uint8_t *)"";
    cursor c = {base, base, base + g->file.size, path};
    fg_status st;

    if (left(&c) < 4 || memcmp(c.p, "GGUF", 4) != 0)
        return fg_error(FG_ERR_FORMAT, "%s: not a GGUF file (bad magic)", path);
    c.p += 4;
    uint32_t version = 0;
    if ((st = rd_u32(&c, &version, "the header"))) return st;
    if (version == 1)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: GGUF version 1 is not supported (only 2 and 3)", path);
    if (version != 2 && version != 3) {
        uint32_t swapped = __builtin_bswap32(version);
        if (swapped == 2 || swapped == 3)
            return fg_error(FG_ERR_UNSUPPORTED, "%s: big-endian GGUF files are not supported", path);
        if (version == 0)
            return fg_error(FG_ERR_FORMAT, "%s: invalid GGUF version 0", path);
        return fg_error(FG_ERR_UNSUPPORTED, "%s: GGUF version %u is not supported (only 2 and 3)", path, version);
    }
    g->version = version;
    uint64_t n_tensors = 0, n_kv = 0;
    if ((st = rd_u64(&c, &n_tensors, "the header"))) return st;
    if ((st = rd_u64(&c, &n_kv, "the header"))) return st;

    /* A key/value takes at least 8 (key length) + 4 (type) + 1 (value) bytes;
     * a tensor info 8 + 1 + 4 + 8 + 4 + 8. Check before allocating. */
    if (n_kv > left(&c) / 13)
        return fg_error(FG_ERR_FORMAT, "%s: header claims %" PRIu64 " metadata keys but the file has only %"
                        PRIu64 " bytes left", path, n_kv, left(&c));
    if (n_tensors > left(&c) / 33)
        return fg_error(FG_ERR_FORMAT, "%s: header claims %" PRIu64 " tensors but the file has only %"
                        PRIu64 " bytes left", path, n_tensors, left(&c));

    /* metadata */
    g->kv = fg_calloc(FG_MEM_RUNTIME, n_kv ? n_kv : 1, sizeof *g->kv);
    im->kv_cap = table_cap(n_kv);
    im->kv_slots = fg_calloc(FG_MEM_RUNTIME, im->kv_cap, sizeof *im->kv_slots);
    if (!g->kv || !im->kv_slots) return nomem(path);
    for (uint64_t i = 0; i < n_kv; i++) {
        fg_gguf_kv *kv = &g->kv[i];
        if ((st = parse_kv(&c, i, kv))) return st;
        size_t slot = KV_PROBE(im, kv->key.ptr, kv->key.len);
        if (im->kv_slots[slot]) {
            char kb[80];
            return fg_error(FG_ERR_FORMAT, "%s: duplicate metadata key '%s'", path, show(kv->key, kb, sizeof kb));
        }
        im->kv_slots[slot] = (size_t)i + 1;
        g->n_kv = i + 1;
    }

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const fg_gguf_kv *al = fg_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != FG_GGUF_U32)
            return fg_error(FG_ERR_FORMAT, "%s: general.alignment has type %s (must be u32)", path,
                            fg_gguf_type_name(al->type));
        uint32_t a = ld_u32(al->value);
        if (a == 0 || (a & (a - 1)) != 0)
            return fg_error(FG_ERR_FORMAT, "%s: general.alignment is %u (must be a nonzero power of two)", path, a);
        g->alignment = a;
    }

    /* tensor infos */
    if (n_tensors > left(&c) / 33)
        return fg_error(FG_ERR_FORMAT, "%s: header claims %" PRIu64 " tensors but only %" PRIu64
                        " bytes are left after the metadata", path, n_tensors, left(&c));
    g->tensors = fg_calloc(FG_MEM_RUNTIME, n_tensors ? n_tensors : 1, sizeof *g->tensors);
    im->t_cap = table_cap(n_tensors);
    im->t_slots = fg_calloc(FG_MEM_RUNTIME, im->t_cap, sizeof *im->t_slots);
    if (!g->tensors || !im->t_slots) return nomem(path);
    for (uint64_t i = 0; i < n_tensors; i++) {
        fg_gguf_tensor *t = &g->tensors[i];
        if ((st = parse_tensor_info(&c, i, t))) return st;
        size_t slot = T_PROBE(im, t->name.ptr, t->name.len);
        if (im->t_slots[slot]) {
            char nb[80];
            return fg_error(FG_ERR_FORMAT, "%s: duplicate tensor name '%s'", path, show(t->name, nb, sizeof nb));
        }
        im->t_slots[slot] = (size_t)i + 1;
        g->n_tensors = i + 1;
    }

    /* data section: starts at the next multiple of the alignment */
    uint64_t hdr_end = pos(&c);
    uint64_t data_off = (hdr_end + g->alignment - 1) / g->alignment * g->alignment;
    if (data_off < hdr_end) data_off = UINT64_MAX; /* overflow: caught below */
    g->data_offset = data_off;
    if (n_tensors == 0) return FG_OK;
    if (data_off > g->file.size)
        return fg_error(FG_ERR_FORMAT, "%s: truncated GGUF: the tensor data would start at byte %" PRIu64
                        " but the file has %zu bytes", path, data_off, g->file.size);
    uint64_t data_size = g->file.size - data_off;

    extent *ex = fg_malloc(FG_MEM_RUNTIME, n_tensors * sizeof *ex);
    if (!ex) return nomem(path);
    st = FG_OK;
    for (uint64_t i = 0; i < n_tensors && !st; i++) {
        fg_gguf_tensor *t = &g->tensors[i];
        char nb[80];
        if (t->offset % g->alignment)
            st = fg_error(FG_ERR_FORMAT, "%s: tensor '%s' offset %" PRIu64 " is not a multiple of the alignment %"
                          PRIu64, path, show(t->name, nb, sizeof nb), t->offset, g->alignment);
        else if (t->offset > data_size || t->nbytes > data_size - t->offset)
            st = fg_error(FG_ERR_FORMAT, "%s: tensor '%s' (%" PRIu64 " bytes at data offset %" PRIu64
                          ") extends past the end of the file (%" PRIu64 " data bytes)", path,
                          show(t->name, nb, sizeof nb), t->nbytes, t->offset, data_size);
        else {
            t->data = g->file.data + data_off + t->offset;
            ex[i] = (extent){t->offset, t->offset + t->nbytes, i};
        }
    }
    if (!st) {
        qsort(ex, n_tensors, sizeof *ex, extent_cmp);
        for (uint64_t i = 1; i < n_tensors; i++) {
            if (ex[i].begin < ex[i - 1].end) {
                char na[80], nb[80];
                st = fg_error(FG_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the file", path,
                              show(g->tensors[ex[i - 1].idx].name, na, sizeof na),
                              show(g->tensors[ex[i].idx].name, nb, sizeof nb));
                break;
            }
        }
    }
    fg_free(ex);
    return st;
}

fg_status fg_gguf_open(const char *path, fg_gguf **out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_gguf_open: no output");
    *out = NULL;
    gguf_impl *im = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *im);
    if (!im) return fg_error(FG_ERR_NOMEM, "%s: out of memory", path ? path : "(null)");
    fg_status st = fg_file_map(path, &im->pub.file);
    if (!st) st = parse(im);
    if (st) {
        fg_gguf_close(&im->pub);
        return st;
    }
    *out = &im->pub;
    return FG_OK;
}

void fg_gguf_close(fg_gguf *g)
{
    if (!g) return;
    gguf_impl *im = impl_of(g);
    fg_free(im->kv_slots);
    fg_free(im->t_slots);
    fg_free(g->kv);
    fg_free(g->tensors);
    fg_file_unmap(&g->file);
    fg_free(im);
}

const fg_gguf_kv *fg_gguf_find(const fg_gguf *g, const char *key)
{
    if (!g || !key) return NULL;
    const gguf_impl *im = impl_of(g);
    if (!im->kv_slots) return NULL;
    uint64_t len = strlen(key);
    size_t slot = KV_PROBE(im, key, len);
    return im->kv_slots[slot] ? &g->kv[im->kv_slots[slot] - 1] : NULL;
}

const fg_gguf_tensor *fg_gguf_find_tensor(const fg_gguf *g, const char *name)
{
    if (!g || !name) return NULL;
    const gguf_impl *im = impl_of(g);
    if (!im->t_slots) return NULL;
    uint64_t len = strlen(name);
    size_t slot = T_PROBE(im, name, len);
    return im->t_slots[slot] ? &g->tensors[im->t_slots[slot] - 1] : NULL;
}

/* ---- getters ------------------------------------------------------------------------- */
bool fg_gguf_get_u64(const fg_gguf *g, const char *key, uint64_t *out)
{
    const fg_gguf_kv *kv = fg_gguf_find(g, key);
    return kv && out && value_as_u64(kv->type, kv->value, out);
}

bool fg_gguf_get_i64(const fg_gguf *g, const char *key, int64_t *out)
{
    const fg_gguf_kv *kv = fg_gguf_find(g, key);
    return kv && out && value_as_i64(kv->type, kv->value, out);
}

bool fg_gguf_get_f64(const fg_gguf *g, const char *key, double *out)
{
    const fg_gguf_kv *kv = fg_gguf_find(g, key);
    return kv && out && value_as_f64(kv->type, kv->value, out);
}

bool fg_gguf_get_bool(const fg_gguf *g, const char *key, bool *out)
{
    const fg_gguf_kv *kv = fg_gguf_find(g, key);
    if (!kv || !out || kv->type != FG_GGUF_BOOL) return false;
    *out = kv->value[0] != 0;
    return true;
}

bool fg_gguf_get_str(const fg_gguf *g, const char *key, fg_str *out)
{
    const fg_gguf_kv *kv = fg_gguf_find(g, key);
    if (!kv || !out || kv->type != FG_GGUF_STRING) return false;
    out->len = ld_u64(kv->value);
    out->ptr = (const char *)kv->value + 8;
    return true;
}

bool fg_gguf_arr_i64(const fg_gguf_kv *kv, uint64_t i, int64_t *out)
{
    if (!kv || !out || kv->type != FG_GGUF_ARRAY || i >= kv->arr_n) return false;
    uint64_t sz = scalar_size(kv->arr_type);
    return is_int_type(kv->arr_type) && value_as_i64(kv->arr_type, kv->value + i * sz, out);
}

bool fg_gguf_arr_f64(const fg_gguf_kv *kv, uint64_t i, double *out)
{
    if (!kv || !out || kv->type != FG_GGUF_ARRAY || i >= kv->arr_n) return false;
    uint64_t sz = scalar_size(kv->arr_type);
    return sz && value_as_f64(kv->arr_type, kv->value + i * sz, out);
}

void fg_gguf_str_iter_init(const fg_gguf *g, const fg_gguf_kv *kv, fg_gguf_str_iter *it)
{
    if (!it) return;
    memset(it, 0, sizeof *it);
    if (!g || !kv || kv->type != FG_GGUF_ARRAY || kv->arr_type != FG_GGUF_STRING) return;
    it->p = kv->value;
    it->end = g->file.data + g->file.size;
    it->n = kv->arr_n;
}

bool fg_gguf_str_iter_next(fg_gguf_str_iter *it, fg_str *out)
{
    if (!it || !out || it->i >= it->n || !it->p) return false;
    /* validated at open; checked again so a mismatched iterator cannot run off the end */
    if (it->end - it->p < 8) return false;
    uint64_t n = ld_u64(it->p);
    if (n > (uint64_t)(it->end - it->p - 8)) return false;
    out->ptr = (const char *)it->p + 8;
    out->len = n;
    it->p += 8 + n;
    it->i++;
    return true;
}

/* ---- rendering for inspect ------------------------------------------------------------ */
typedef struct outbuf {
    char *buf;
    size_t size, len;
} outbuf;

static void put(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(outbuf *o, const char *fmt, ...)
{
    if (o->len + 1 >= o->size) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    o->len += (size_t)n;
    if (o->len >= o->size) o->len = o->size - 1;
}

/* A quoted string, control characters escaped, at most `max` bytes shown. */
static void put_str(outbuf *o, const char *p, uint64_t n, uint64_t max)
{
    put(o, "\"");
    for (uint64_t i = 0; i < n && i < max; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"' || ch == '\\') put(o, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f) put(o, "\\x%02x", ch);
        else put(o, "%c", ch);
    }
    put(o, n > max ? "\"..." : "\"");
}

static void put_scalar(outbuf *o, fg_gguf_type t, const uint8_t *p)
{
    if (is_int_type(t)) {
        bool neg;
        uint64_t m;
        load_int(t, p, &neg, &m);
        if (neg) put(o, "%" PRId64, (int64_t)m);
        else put(o, "%" PRIu64, m);
    } else if (t == FG_GGUF_F32 || t == FG_GGUF_F64) {
        double d;
        value_as_f64(t, p, &d);
        put(o, "%g", d);
    } else if (t == FG_GGUF_BOOL) {
        put(o, "%s", p[0] ? "true" : "false");
    } else if (t == FG_GGUF_STRING) {
        put_str(o, (const char *)p + 8, ld_u64(p), 64);
    }
}

void fg_gguf_kv_format(const fg_gguf_kv *kv, char *buf, size_t size)
{
    if (!buf || size == 0) return;
    buf[0] = 0;
    if (!kv) return;
    outbuf o = {buf, size, 0};
    if (kv->type != FG_GGUF_ARRAY) {
        put_scalar(&o, kv->type, kv->value);
        return;
    }
    /* "[type × n] e0, e1, e2, e3, ..." */
    put(&o, "[%s \u00d7 %" PRIu64 "]", fg_gguf_type_name(kv->arr_type), kv->arr_n);
    const uint64_t show_n = 4;
    const uint8_t *p = kv->value;
    for (uint64_t i = 0; i < kv->arr_n && i < show_n; i++) {
        put(&o, i ? ", " : " ");
        if (kv->arr_type == FG_GGUF_STRING) {
            uint64_t n = ld_u64(p);
            put_str(&o, (const char *)p + 8, n, 32);
            p += 8 + n;
        } else {
            put_scalar(&o, kv->arr_type, p);
            p += scalar_size(kv->arr_type);
        }
    }
    if (kv->arr_n > show_n) put(&o, ", ...");
}
