/* Internal to format: a growable byte buffer and a minimal streaming JSON scanner that
 * walks a text in place (a mapped file) without building a tree. Used where a DOM would
 * cost too much memory (a 150k-token tokenizer.json is ~60 MB of cJSON nodes).
 * Errors are FG_ERR_FORMAT naming the text (`what`) and the byte offset. */
#ifndef FG_FORMAT_JSCAN_IMPL_H
#define FG_FORMAT_JSCAN_IMPL_H

#include "frugal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_JS_MAX_DEPTH 128

/* Bytes, always NUL-terminated after len; allocated FG_MEM_TOKENIZER. */
typedef struct fg_bbuf {
    char *p;
    size_t len, cap;
} fg_bbuf;
bool fg_bb_add(fg_bbuf *b, const void *s, size_t n);   /* false when out of memory */
bool fg_bb_str(fg_bbuf *b, const char *s);
/* Appends n bytes as a JSON string literal ('"', '\' and control characters escaped). */
bool fg_bb_json_str(fg_bbuf *b, const char *s, size_t n);

typedef struct fg_js {
    const char *p, *begin, *end;
    const char *what;   /* names the text in errors */
    int depth;
} fg_js;

fg_status fg_js_fail(fg_js *j, const char *msg);
void fg_js_ws(fg_js *j);
/* Consumes character c (after whitespace) when it comes next. */
bool fg_js_eat(fg_js *j, char c);
/* A string, unescaped (\uXXXX and surrogate pairs to UTF-8), appended to out. */
fg_status fg_js_string(fg_js *j, fg_bbuf *out);
/* Skips one value of any kind. */
fg_status fg_js_skip(fg_js *j);
fg_status fg_js_int(fg_js *j, int64_t *out);
/* true / false; null reads as false. */
fg_status fg_js_bool(fg_js *j, bool *out);
/* Walks an object: for each member decodes the key and calls fn, which must consume
 * the value. */
typedef fg_status (*fg_js_member_fn)(fg_js *j, const char *key, size_t klen, void *ctx);
fg_status fg_js_object(fg_js *j, fg_js_member_fn fn, void *ctx);
bool fg_js_key_is(const char *k, size_t n, const char *lit);

#endif
