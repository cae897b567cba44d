/* The tagged, counting allocator. Each block carries a 16-byte header holding its size
 * and tag, so fg_free needs nothing but the pointer. Counters are relaxed atomics: a
 * handful of allocations happen at load, none in the token loop, so contention is nil. */
#include "mem/mem.h"

#include <cJSON.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
    size_t size;
    uint32_t tag;
    uint32_t magic;
} block_header;
_Static_assert(sizeof(block_header) == 16, "header keeps 16-byte alignment");
#define BLOCK_MAGIC 0xf7a6a1u

static _Atomic int64_t cur[FG_MEM_TAG_COUNT];
static _Atomic int64_t peak[FG_MEM_TAG_COUNT];
static _Atomic int64_t total_cur, total_peak;
static _Atomic int64_t n_allocs;
static _Atomic int64_t fail_at; /* 0: never; else the n_allocs value that fails */
static fg_mem_hook_fn _Atomic alloc_hook;
static _Thread_local uint64_t n_failures; /* allocations refused on this thread */

static const char *const tag_names[FG_MEM_TAG_COUNT] = {
    "weights-mapped", "weights-owned", "kv", "scratch", "tokenizer", "runtime",
};

const char *fg_mem_tag_name(fg_mem_tag tag)
{
    return (unsigned)tag < FG_MEM_TAG_COUNT ? tag_names[tag] : "?";
}

static void raise_peak(_Atomic int64_t *pk, int64_t v)
{
    int64_t old = atomic_load_explicit(pk, memory_order_relaxed);
    while (v > old && !atomic_compare_exchange_weak_explicit(pk, &old, v, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

void fg_mem_account(fg_mem_tag tag, int64_t delta)
{
    if ((unsigned)tag >= FG_MEM_TAG_COUNT) return;
    int64_t c = atomic_fetch_add_explicit(&cur[tag], delta, memory_order_relaxed) + delta;
    int64_t t = atomic_fetch_add_explicit(&total_cur, delta, memory_order_relaxed) + delta;
    if (delta > 0) {
        raise_peak(&peak[tag], c);
        raise_peak(&total_peak, t);
    }
}

/* Counts an allocation; true when it is to fail. `caller`: the return address into the
 * code that asked (public entry points pass __builtin_return_address(0)). */
static bool injected_failure(const void *caller)
{
    int64_t n = atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed) + 1;
    fg_mem_hook_fn hook = atomic_load_explicit(&alloc_hook, memory_order_relaxed);
    if (hook) hook(n, caller);
    int64_t f = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (f > 0 && n >= f) {
        n_failures++;
        return true;
    }
    return false;
}

uint64_t fg_mem_failures(void) { return n_failures; }

void fg_mem_fail_after(int64_t n)
{
    atomic_store(&fail_at, n > 0 ? atomic_load(&n_allocs) + n : 0);
}

void fg_mem_set_hook(fg_mem_hook_fn fn) { atomic_store(&alloc_hook, fn); }

static void *alloc_at(fg_mem_tag tag, size_t size, const void *caller)
{
    if ((unsigned)tag >= FG_MEM_TAG_COUNT || size > SIZE_MAX - sizeof(block_header)) return NULL;
    if (injected_failure(caller)) return NULL;
    block_header *h = malloc(sizeof *h + size);
    if (!h) {
        n_failures++;
        return NULL;
    }
    h->size = size;
    h->tag = tag;
    h->magic = BLOCK_MAGIC;
    fg_mem_account(tag, (int64_t)size);
    return h + 1;
}

void *fg_malloc(fg_mem_tag tag, size_t size) { return alloc_at(tag, size, __builtin_return_address(0)); }

void *fg_calloc(fg_mem_tag tag, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = alloc_at(tag, n * size, __builtin_return_address(0));
    if (p) memset(p, 0, n * size);
    return p;
}

void *fg_realloc(void *p, size_t size)
{
    if (!p) return alloc_at(FG_MEM_RUNTIME, size, __builtin_return_address(0));
    block_header *h = (block_header *)p - 1;
    if (size > SIZE_MAX - sizeof(block_header)) return NULL;
    if (injected_failure(__builtin_return_address(0))) return NULL;
    size_t old = h->size;
    fg_mem_tag tag = (fg_mem_tag)h->tag;
    block_header *nh = realloc(h, sizeof *nh + size);
    if (!nh) {
        n_failures++;
        return NULL;
    }
    nh->size = size;
    fg_mem_account(tag, (int64_t)size - (int64_t)old);
    return nh + 1;
}

static char *strndup_at(fg_mem_tag tag, const char *s, size_t n, const void *caller)
{
    char *d = alloc_at(tag, n + 1, caller);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *fg_strndup(fg_mem_tag tag, const char *s, size_t n) { return strndup_at(tag, s, n, __builtin_return_address(0)); }

char *fg_strdup(fg_mem_tag tag, const char *s) { return strndup_at(tag, s, strlen(s), __builtin_return_address(0)); }

/* cJSON's allocations: tagged runtime memory, counted, and failed by fault injection like
 * the library's own (its parse returns NULL for both, see fg_mem_failures). Installed
 * once, before main and any thread (the constructor of this file, which every user of
 * the library links: it is the allocator). */
static void *cjson_alloc(size_t size) { return alloc_at(FG_MEM_RUNTIME, size, __builtin_return_address(0)); }

void fg_json_use_tagged_allocator(void)
{
    cJSON_Hooks h = {cjson_alloc, fg_free};
    cJSON_InitHooks(&h);
}

__attribute__((constructor)) static void install_cjson_hooks(void) { fg_json_use_tagged_allocator(); }

void fg_free(void *p)
{
    if (!p) return;
    block_header *h = (block_header *)p - 1;
    fg_mem_account((fg_mem_tag)h->tag, -(int64_t)h->size);
    h->magic = 0;
    free(h);
}

size_t fg_alloc_size(const void *p)
{
    return p ? ((const block_header *)p - 1)->size : 0;
}

void fg_mem_get_stats(fg_mem_stats *out)
{
    for (int i = 0; i < FG_MEM_TAG_COUNT; i++) {
        out->current[i] = atomic_load_explicit(&cur[i], memory_order_relaxed);
        out->peak[i] = atomic_load_explicit(&peak[i], memory_order_relaxed);
    }
    out->total_current = atomic_load(&total_cur);
    out->total_peak = atomic_load(&total_peak);
    out->n_allocs = atomic_load(&n_allocs);
}

static size_t page_size(void)
{
    static size_t ps;
    if (!ps) ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

void fg_mem_advise_huge(const void *p, size_t len)
{
#if defined(MADV_HUGEPAGE)
    uintptr_t a = ((uintptr_t)p + FG_HUGE_PAGE - 1) & ~(uintptr_t)(FG_HUGE_PAGE - 1);
    uintptr_t e = ((uintptr_t)p + len) & ~(uintptr_t)(FG_HUGE_PAGE - 1);
    if (p && e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE); /* a hint: failure is fine */
#else
    (void)p;
    (void)len;
#endif
}

fg_status fg_region_reserve(fg_region *r, fg_mem_tag tag, size_t bytes)
{
    memset(r, 0, sizeof *r);
    r->tag = tag;
    if (bytes == 0) return FG_OK;
    size_t ps = page_size();
    bytes = (bytes + ps - 1) / ps * ps;
    if (injected_failure(__builtin_return_address(0))) return fg_error(FG_ERR_NOMEM, "cannot reserve %zu bytes for %s", bytes, fg_mem_tag_name(tag));
    /* PROT_NONE + MAP_NORESERVE: address space only; nothing is resident or charged. */
    void *p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return fg_error(FG_ERR_NOMEM, "cannot reserve %zu bytes of address space for %s", bytes, fg_mem_tag_name(tag));
    r->base = p;
    r->reserved = bytes;
    return FG_OK;
}

fg_status fg_region_commit(fg_region *r, size_t bytes)
{
    if (bytes <= r->committed) return FG_OK;
    if (bytes > r->reserved)
        return fg_error(FG_ERR_NOMEM, "%s region: %zu bytes requested, %zu reserved", fg_mem_tag_name(r->tag), bytes, r->reserved);
    size_t ps = page_size();
    size_t want = (bytes + ps - 1) / ps * ps;
    if (want > r->reserved) want = r->reserved;
    if (mprotect(r->base + r->committed, want - r->committed, PROT_READ | PROT_WRITE) != 0)
        return fg_error(FG_ERR_NOMEM, "cannot commit %zu bytes for %s", want - r->committed, fg_mem_tag_name(r->tag));
    fg_mem_account(r->tag, (int64_t)(want - r->committed));
    r->committed = want;
    return FG_OK;
}

void fg_region_release(fg_region *r)
{
    if (r->base) {
        munmap(r->base, r->reserved);
        fg_mem_account(r->tag, -(int64_t)r->committed);
    }
    memset(r, 0, sizeof *r);
}
