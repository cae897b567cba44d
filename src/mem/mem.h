/* mem: the accounting allocator. Every allocation of the library is tagged with what it
 * is for; current and peak bytes are kept per tag (thread-safe, relaxed atomics). The
 * allocator is swappable and can be made to fail the Nth allocation (tests). */
#ifndef FG_MEM_H
#define FG_MEM_H

#include "core/status.h"

typedef enum fg_mem_tag {
    FG_MEM_WEIGHTS_MAPPED = 0, /* file mappings of weights (counted by residency, see probes) */
    FG_MEM_WEIGHTS_OWNED,      /* weights converted or repacked into owned memory */
    FG_MEM_KV,                 /* KV cache (committed pages) */
    FG_MEM_SCRATCH,            /* activations, logits, matmul work buffers */
    FG_MEM_TOKENIZER,          /* vocabulary, merges, hash tables */
    FG_MEM_RUNTIME,            /* everything else: handles, metadata tables, pools */
    FG_MEM_TAG_COUNT
} fg_mem_tag;

const char *fg_mem_tag_name(fg_mem_tag tag);

/* malloc-like; NULL on failure (or on an injected failure). fg_free(NULL) is a no-op.
 * fg_realloc keeps the tag given at allocation. */
void *fg_malloc(fg_mem_tag tag, size_t size);
void *fg_calloc(fg_mem_tag tag, size_t n, size_t size);
void *fg_realloc(void *p, size_t size);
char *fg_strdup(fg_mem_tag tag, const char *s);
char *fg_strndup(fg_mem_tag tag, const char *s, size_t n);
void fg_free(void *p);
/* The size an fg_malloc'd block was allocated with. */
size_t fg_alloc_size(const void *p);

/* Large page-granular regions (mmap): address space reserved up front, pages committed
 * (and counted) as they are first used: fg_region_commit(r, bytes) guarantees the first
 * `bytes` are usable. Used for the KV cache and the scratch arena. */
typedef struct fg_region {
    uint8_t *base;
    size_t reserved;
    size_t committed;
    fg_mem_tag tag;
} fg_region;
fg_status fg_region_reserve(fg_region *r, fg_mem_tag tag, size_t bytes);
fg_status fg_region_commit(fg_region *r, size_t bytes);
void fg_region_release(fg_region *r);

/* Asks the kernel to back [p, p + len) with 2 MiB pages (MADV_HUGEPAGE on the whole
 * 2 MiB pages inside it; nothing outside is touched). For memory read end to end over and
 * over (the weights): in the page cache of a mapped file, pages faulted in then come as
 * 2 MiB folios, which are physically contiguous, and anonymous memory is faulted as
 * transparent huge pages. A hint: where the kernel has no such pages it does nothing. */
void fg_mem_advise_huge(const void *p, size_t len);
#define FG_HUGE_PAGE ((size_t)2 << 20)

/* Counters: bytes currently held and the high-water mark, per tag. */
typedef struct fg_mem_stats {
    int64_t current[FG_MEM_TAG_COUNT];
    int64_t peak[FG_MEM_TAG_COUNT];
    int64_t total_current, total_peak;
    int64_t n_allocs;          /* allocations made so far (for fault-injection walks) */
} fg_mem_stats;
void fg_mem_get_stats(fg_mem_stats *out);
/* Adjusts a tag's counter by hand (mapped weights counted by residency). */
void fg_mem_account(fg_mem_tag tag, int64_t delta);

/* Fault injection: the Nth allocation from now (1-based) and every later one fail,
 * until reset with 0. */
void fg_mem_fail_after(int64_t n);
/* Test hook: called at every allocation (fg_malloc/calloc/realloc/strdup, region
 * reserve) with its ordinal (the n_allocs count) and the return address in the code that
 * asked for it, so a fault-injection walk can name the call sites it covers. NULL: none. */
typedef void (*fg_mem_hook_fn)(int64_t ordinal, const void *caller);
void fg_mem_set_hook(fg_mem_hook_fn fn);

/* Allocations refused so far on the calling thread (injected failures and real ones).
 * cJSON returns NULL both for bad syntax and for a failed allocation: a parse that
 * returned NULL while this count grew ran out of memory (FG_ERR_NOMEM, not FG_ERR_FORMAT). */
uint64_t fg_mem_failures(void);
/* cJSON allocates through the tagged allocator (FG_MEM_RUNTIME), so its memory is counted
 * and fault injection reaches it. The library installs this before main; tests that
 * install their own cJSON hooks call it to restore the library's. Whatever cJSON returns
 * (cJSON_Print*) is freed with cJSON_free, never free(). */
void fg_json_use_tagged_allocator(void);

/* Kernel probes, mapped-weight registry and the breakdown; the budget; the timeline. */
#include "mem/probe.h"
#include "mem/budget.h"
#include "mem/timeline.h"

#endif
