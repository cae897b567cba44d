/* The safetensors reader: one file, or a sharded checkpoint described by
 * model.safetensors.index.json.
 *
 * File layout:
 *   u64 N (little-endian) | N bytes of JSON header | data
 *   header = { "__metadata__": {str: str, ...},            (optional, ignored)
 *              NAME: {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ... }
 * Offsets are relative to the first byte after the header; shape[0] is the outermost
 * dimension (rows). Every tensor is checked: known dtype, end >= begin, inside the file,
 * end - begin == product(shape) * element size, no two tensors overlapping, no name twice
 * (also across shards). Tensor data are views into the read-only mappings.
 *
 * Sharded: the index's "weight_map" maps tensor names to shard file names in the same
 * directory. Each shard is mapped once; every tensor the index names must be in the shard
 * it names. */
#include "frugal.h" /* first: frugal.h pulls in model.h, which needs format.h complete */
#include "format/format.h"
#include "mem/mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ST_MAX_HEADER (100u * 1024 * 1024) /* the reference implementation's limit */
#define ST_MAX_INDEX (100u * 1024 * 1024)
#define ST_MAX_DIMS 4

typedef struct st_dtype {
    const char *name;
    uint32_t size;
    fg_dtype dt;
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F32", 4, FG_DT_F32},       {"F16", 2, FG_DT_F16},        {"BF16", 2, FG_DT_BF16},
    {"F64", 8, FG_DT_INVALID},   {"I64", 8, FG_DT_INVALID},    {"U64", 8, FG_DT_INVALID},
    {"I32", 4, FG_DT_INVALID},   {"U32", 4, FG_DT_INVALID},    {"I16", 2, FG_DT_INVALID},
    {"U16", 2, FG_DT_INVALID},   {"I8", 1, FG_DT_INVALID},     {"U8", 1, FG_DT_INVALID},
    {"BOOL", 1, FG_DT_INVALID},  {"F8_E4M3", 1, FG_DT_INVALID}, {"F8_E5M2", 1, FG_DT_INVALID},
    {"F8_E8M0", 1, FG_DT_INVALID},
};

static const st_dtype *st_dtype_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0) return &st_dtypes[i];
    return NULL;
}

/* ---- a small string-keyed hash table (open addressing, values are indices) ------------ */
typedef struct strtab {
    const char **keys;
    size_t *vals;
    size_t cap, n;
} strtab;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void strtab_free(strtab *t)
{
    fg_free(t->keys);
    fg_free(t->vals);
    memset(t, 0, sizeof *t);
}

static bool strtab_grow(strtab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    strtab nt = {fg_calloc(FG_MEM_RUNTIME, cap, sizeof(char *)), fg_calloc(FG_MEM_RUNTIME, cap, sizeof(size_t)),
                 cap, 0};
    if (!nt.keys || !nt.vals) {
        strtab_free(&nt);
        return false;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->keys[i]) continue;
        size_t at = (size_t)hash_str(t->keys[i]) & (cap - 1);
        while (nt.keys[at]) at = (at + 1) & (cap - 1);
        nt.keys[at] = t->keys[i];
        nt.vals[at] = t->vals[i];
        nt.n++;
    }
    strtab_free(t);
    *t = nt;
    return true;
}

/* Slot of `key`, or of the empty slot where it would go (cap must be > 0). */
static size_t strtab_slot(const strtab *t, const char *key)
{
    size_t at = (size_t)hash_str(key) & (t->cap - 1);
    while (t->keys[at] && strcmp(t->keys[at], key) != 0) at = (at + 1) & (t->cap - 1);
    return at;
}

static bool strtab_get(const strtab *t, const char *key, size_t *val)
{
    if (!t->cap) return false;
    size_t at = strtab_slot(t, key);
    if (!t->keys[at]) return false;
    *val = t->vals[at];
    return true;
}

/* Inserts key -> val; 1 if inserted, 0 if the key was already there (*val set to the old
 * value), -1 when out of memory. `key` must outlive the table. */
static int strtab_put(strtab *t, const char *key, size_t *val)
{
    if ((t->n + 1) * 2 > t->cap && !strtab_grow(t)) return -1;
    size_t at = strtab_slot(t, key);
    if (t->keys[at]) {
        *val = t->vals[at];
        return 0;
    }
    t->keys[at] = key;
    t->vals[at] = *val;
    t->n++;
    return 1;
}

/* ---- the opened checkpoint ------------------------------------------------------------ */
typedef struct st_impl {
    fg_safetensors pub;  /* first member */
    size_t cap_tensors;
    int *file_of;        /* shard index of each tensor */
    strtab names;        /* tensor name -> index */
} st_impl;

static fg_status nomem(void) { return fg_error(FG_ERR_NOMEM, "out of memory reading safetensors"); }

/* A JSON number that is a non-negative integer exactly representable in a double. */
static bool json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!isfinite(d) || d < 0 || d > 9007199254740992.0 || d != floor(d)) return false;
    *out = (uint64_t)d;
    return true;
}

typedef struct extent {
    uint64_t begin, end;
    size_t idx;
} extent;

static int extent_cmp(const void *a, const void *b)
{
    const extent *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static fg_status parse_tensor(st_impl *im, int fi, const cJSON *item, const uint8_t *data, uint64_t data_size)
{
    const char *path = im->pub.files[fi].path;
    const char *name = item->string;
    if (!name || !*name) return fg_error(FG_ERR_FORMAT, "%s: a tensor has an empty name", path);
    if (!cJSON_IsObject(item))
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", path, name);

    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(jd))
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': missing or non-string \"dtype\"", path, name);
    const st_dtype *dt = st_dtype_lookup(jd->valuestring);
    if (!dt) return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%.16s\"", path, name, jd->valuestring);
    if (!cJSON_IsArray(js))
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': missing or non-array \"shape\"", path, name);
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2)
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" must be an array [begin, end]", path, name);

    int nd = cJSON_GetArraySize(js);
    if (nd > ST_MAX_DIMS)
        return fg_error(FG_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d supported)", path, name,
                        nd, ST_MAX_DIMS);
    uint64_t shape[ST_MAX_DIMS] = {0}, nelem = 1;
    for (int d = 0; d < nd; d++) {
        if (!json_uint(cJSON_GetArrayItem(js, d), &shape[d]))
            return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name, d);
        if (__builtin_mul_overflow(nelem, shape[d], &nelem))
            return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': element count overflows", path, name);
    }
    uint64_t nbytes, begin, end;
    if (__builtin_mul_overflow(nelem, (uint64_t)dt->size, &nbytes))
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': byte size overflows", path, name);
    if (!json_uint(cJSON_GetArrayItem(jo, 0), &begin) || !json_uint(cJSON_GetArrayItem(jo, 1), &end))
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': data_offsets are not non-negative integers", path, name);
    if (end < begin)
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] are reversed",
                        path, name, begin, end);
    if (end > data_size)
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': data_offsets end %" PRIu64
                        " is past the end of the data (%" PRIu64 " bytes)", path, name, end, data_size);
    if (end - begin != nbytes)
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s': data_offsets span %" PRIu64 " bytes but %s shape needs %"
                        PRIu64, path, name, end - begin, dt->name, nbytes);

    fg_safetensors *st = &im->pub;
    if (st->n_tensors == im->cap_tensors) {
        size_t cap = im->cap_tensors ? im->cap_tensors * 2 : 64;
        fg_st_tensor *nt = fg_realloc(st->tensors, cap * sizeof *nt);
        if (!nt) return nomem();
        st->tensors = nt;
        int *nf = fg_realloc(im->file_of, cap * sizeof *nf);
        if (!nf) return nomem();
        im->file_of = nf;
        im->cap_tensors = cap;
    }
    fg_st_tensor *t = &st->tensors[st->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = fg_strdup(FG_MEM_RUNTIME, name);
    if (!t->name) return nomem();
    size_t idx = st->n_tensors++; /* counted now so close() frees the name */
    im->file_of[idx] = fi;
    t->dtype = dt->dt;
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dt->name);
    t->n_dims = (uint32_t)nd;
    memcpy(t->shape, shape, sizeof shape);
    t->nbytes = nbytes;
    t->data = data + begin;

    size_t prev = idx;
    int r = strtab_put(&im->names, t->name, &prev);
    if (r < 0) return nomem();
    if (r == 0) {
        const char *where = im->file_of[prev] == fi ? "twice in the header" : "in two shards";
        return fg_error(FG_ERR_FORMAT, "%s: tensor '%s' appears %s", path, name, where);
    }
    return FG_OK;
}

/* Parses the header of the mapped file files[fi] and appends its tensors. */
static fg_status parse_file(st_impl *im, int fi)
{
    const fg_file *f = &im->pub.files[fi];
    const char *path = f->path;
    if (f->size < 8)
        return fg_error(FG_ERR_FORMAT, "%s: truncated safetensors file (%zu bytes, the header length alone is 8)",
                        path, f->size);
    uint64_t n;
    memcpy(&n, f->data, 8);
    if (n > f->size - 8)
        return fg_error(FG_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the file (%zu bytes)", path, n,
                        f->size);
    if (n > ST_MAX_HEADER)
        return fg_error(FG_ERR_FORMAT, "%s: header length %" PRIu64 " is over the %u-byte limit", path, n,
                        ST_MAX_HEADER);
    if (n < 2) return fg_error(FG_ERR_FORMAT, "%s: header of %" PRIu64 " bytes cannot hold a JSON object", path, n);

    const char *hdr = (const char *)f->data + 8;
    const char *parse_end = NULL;
    uint64_t fails = fg_mem_failures();
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)n, &parse_end, false);
    if (!root && fg_mem_failures() != fails)
        return fg_error(FG_ERR_NOMEM, "%s: out of memory parsing the header (%lld bytes of JSON)", path, (long long)n);
    if (!root) {
        const char *e = cJSON_GetErrorPtr();
        long at = (e && e >= hdr && e <= hdr + n) ? (long)(e - hdr) : -1;
        return fg_error(FG_ERR_FORMAT, "%s: header is not valid JSON (error near header byte %ld)", path, at);
    }
    fg_status st = FG_OK;
    if (!cJSON_IsObject(root)) st = fg_error(FG_ERR_FORMAT, "%s: header is not a JSON object", path);
    /* writers may pad the header with spaces; anything else after the object is garbage */
    for (const char *q = parse_end ? parse_end : hdr + n; !st && q < hdr + n; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
            st = fg_error(FG_ERR_FORMAT, "%s: header has bytes after its JSON object (at header byte %ld)", path,
                          (long)(q - hdr));

    const uint8_t *data = f->data + 8 + n;
    uint64_t data_size = f->size - 8 - n;
    size_t first = im->pub.n_tensors;
    for (const cJSON *it = root->child; it && !st; it = it->next) {
        if (it->string && strcmp(it->string, "__metadata__") == 0) continue;
        st = parse_tensor(im, fi, it, data, data_size);
    }
    cJSON_Delete(root);
    if (st) return st;

    /* no two tensors of this file may share bytes (empty tensors share nothing) */
    size_t cnt = im->pub.n_tensors - first;
    if (cnt < 2) return FG_OK;
    extent *ex = fg_malloc(FG_MEM_RUNTIME, cnt * sizeof *ex);
    if (!ex) return nomem();
    size_t m = 0;
    for (size_t i = 0; i < cnt; i++) {
        const fg_st_tensor *t = &im->pub.tensors[first + i];
        uint64_t b = (uint64_t)((const uint8_t *)t->data - data);
        if (t->nbytes) ex[m++] = (extent){b, b + t->nbytes, first + i};
    }
    qsort(ex, m, sizeof *ex, extent_cmp);
    for (size_t i = 1; i < m; i++) {
        if (ex[i].begin < ex[i - 1].end) {
            st = fg_error(FG_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the file", path,
                          im->pub.tensors[ex[i - 1].idx].name, im->pub.tensors[ex[i].idx].name);
            break;
        }
    }
    fg_free(ex);
    return st;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = fg_malloc(FG_MEM_RUNTIME, a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static bool is_regular(const char *path)
{
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

static fg_status open_single(st_impl *im, const char *path)
{
    im->pub.files = fg_calloc(FG_MEM_RUNTIME, 1, sizeof(fg_file));
    if (!im->pub.files) return nomem();
    fg_status st = fg_file_map(path, &im->pub.files[0]);
    if (st) return st;
    im->pub.n_files = 1;
    return parse_file(im, 0);
}

/* A shard name must name a file in the index's directory. */
static bool plain_file_name(const char *s)
{
    return *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static fg_status open_sharded(st_impl *im, const char *index_path, const char *dir)
{
    fg_file idx;
    fg_status st = fg_file_map(index_path, &idx);
    if (st) return st;
    if (idx.size > ST_MAX_INDEX) {
        st = fg_error(FG_ERR_FORMAT, "%s: index of %zu bytes is over the %u-byte limit", index_path, idx.size,
                      ST_MAX_INDEX);
        fg_file_unmap(&idx);
        return st;
    }
    uint64_t fails = fg_mem_failures();
    cJSON *root = idx.size ? cJSON_ParseWithLength((const char *)idx.data, idx.size) : NULL;
    fg_file_unmap(&idx);
    if (!root && fg_mem_failures() != fails) return fg_error(FG_ERR_NOMEM, "%s: out of memory parsing the JSON", index_path);
    if (!root) return fg_error(FG_ERR_FORMAT, "%s: not valid JSON", index_path);

    strtab shards = {0};      /* shard file name -> file index */
    const char **shard_names = NULL;
    int n_shards = 0;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(wm)) {
        st = fg_error(FG_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
        goto done;
    }
    int n_entries = cJSON_GetArraySize(wm);
    shard_names = fg_calloc(FG_MEM_RUNTIME, n_entries ? (size_t)n_entries : 1, sizeof *shard_names);
    if (!shard_names) {
        st = nomem();
        goto done;
    }
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!e->string || !*e->string) {
            st = fg_error(FG_ERR_FORMAT, "%s: weight_map has an empty tensor name", index_path);
            goto done;
        }
        if (!cJSON_IsString(e) || !plain_file_name(e->valuestring)) {
            st = fg_error(FG_ERR_FORMAT, "%s: weight_map entry '%s' is not a file name in the same directory",
                          index_path, e->string);
            goto done;
        }
        size_t v = (size_t)n_shards;
        int r = strtab_put(&shards, e->valuestring, &v);
        if (r < 0) {
            st = nomem();
            goto done;
        }
        if (r == 1) shard_names[n_shards++] = e->valuestring;
    }
    if (n_shards == 0) {
        st = fg_error(FG_ERR_FORMAT, "%s: weight_map is empty", index_path);
        goto done;
    }

    im->pub.files = fg_calloc(FG_MEM_RUNTIME, (size_t)n_shards, sizeof(fg_file));
    if (!im->pub.files) {
        st = nomem();
        goto done;
    }
    for (int i = 0; i < n_shards && !st; i++) {
        char *sp = join_path(dir, shard_names[i]);
        if (!sp) {
            st = nomem();
            break;
        }
        st = fg_file_map(sp, &im->pub.files[i]);
        if (st == FG_ERR_NOMEM) {
            fg_free(sp);
            break;
        }
        if (st) {
            char why[256];
            snprintf(why, sizeof why, "%s", fg_last_error());
            st = fg_error(FG_ERR_FORMAT, "%s: shard '%s' named in the index cannot be opened (%s)", index_path,
                          shard_names[i], why);
        }
        fg_free(sp);
        if (st) break;
        im->pub.n_files = i + 1;
        st = parse_file(im, i);
    }
    /* every tensor the index names is in the shard it names */
    for (const cJSON *e = wm->child; e && !st; e = e->next) {
        size_t ti = 0, fi = 0;
        strtab_get(&shards, e->valuestring, &fi);
        if (!strtab_get(&im->names, e->string, &ti) || im->file_of[ti] != (int)fi)
            st = fg_error(FG_ERR_FORMAT, "%s: the index puts tensor '%s' in shard '%s', which does not contain it",
                          index_path, e->string, e->valuestring);
    }
done:
    fg_free(shard_names);
    strtab_free(&shards);
    cJSON_Delete(root);
    return st;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

fg_status fg_st_open(const char *path, fg_safetensors **out)
{
    if (!out) return fg_error(FG_ERR_ARG, "fg_st_open: no output");
    *out = NULL;
    if (!path || !*path) return fg_error(FG_ERR_ARG, "fg_st_open: empty path");
    struct stat s;
    if (stat(path, &s) != 0) return fg_error(FG_ERR_IO, "%s: %s", path, strerror(errno));

    st_impl *im = fg_calloc(FG_MEM_RUNTIME, 1, sizeof *im);
    if (!im) return nomem();
    fg_status st;
    if (S_ISDIR(s.st_mode)) {
        char *single = join_path(path, "model.safetensors");
        char *index = join_path(path, "model.safetensors.index.json");
        if (!single || !index) st = nomem();
        else if (is_regular(single)) st = open_single(im, single);
        else if (is_regular(index)) st = open_sharded(im, index, path);
        else st = fg_error(FG_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json in this directory",
                           path);
        fg_free(single);
        fg_free(index);
    } else if (ends_with(path, ".index.json")) {
        char *dir = fg_strdup(FG_MEM_RUNTIME, path);
        if (!dir) {
            st = nomem();
        } else {
            char *slash = strrchr(dir, '/');
            if (slash) *slash = 0;
            st = open_sharded(im, path, slash ? (*dir ? dir : "/") : ".");
            fg_free(dir);
        }
    } else {
        st = open_single(im, path);
    }
    if (st) {
        fg_st_close(&im->pub);
        return st;
    }
    *out = &im->pub;
    return FG_OK;
}

void fg_st_close(fg_safetensors *st)
{
    if (!st) return;
    st_impl *im = (st_impl *)st;
    for (size_t i = 0; i < st->n_tensors; i++) fg_free(st->tensors[i].name);
    fg_free(st->tensors);
    for (int i = 0; i < st->n_files; i++) fg_file_unmap(&st->files[i]);
    fg_free(st->files);
    fg_free(im->file_of);
    strtab_free(&im->names);
    fg_free(im);
}

const fg_st_tensor *fg_st_find(const fg_safetensors *st, const char *name)
{
    if (!st || !name) return NULL;
    size_t i;
    return strtab_get(&((const st_impl *)st)->names, name, &i) ? &st->tensors[i] : NULL;
}
