/* Fuzz target: the GGUF reader (fg_gguf_open) and, on a file that opens, every accessor
 * (getters, array and string iteration, kv_format) and the GGUF tokenizer loader with a
 * short encode/decode. Invariants: a failure has a one-line message; every tensor view
 * and metadata value lies inside the mapping; no tagged byte is kept after close. */
#include "fuzz_util.h"
#include "token/token.h"

#include <string.h>

static void check_inside(const fg_gguf *g, const void *p, uint64_t n, const char *what)
{
    const uint8_t *b = p, *lo = g->file.data, *hi = g->file.data + g->file.size;
    if (n == 0) return;
    if (!b || b < lo || b > hi || n > (uint64_t)(hi - b)) fz_fail("%s lies outside the mapping", what);
}

static void use_tokenizer(const fg_gguf *g)
{
    fg_tokenizer *tok = NULL;
    fg_status st = fg_tok_load_gguf(g, &tok);
    fz_check_status(st, "fg_tok_load_gguf");
    if (st) return;
    static const char text[] = "Hello, world! <|im_end|> 12345 \xc3\xa9\xe2\x82\xac \xff";
    int32_t ids[256];
    size_t n = 0;
    st = fg_tok_encode(tok, text, sizeof text - 1, true, true, ids, 256, &n);
    fz_check_status(st, "fg_tok_encode");
    if (!st && n <= 256) {
        char out[1024];
        size_t len = 0;
        fz_check_status(fg_tok_decode(tok, ids, n, false, out, sizeof out, &len), "fg_tok_decode");
    }
    int32_t nv = fg_tok_vocab_size(tok);
    for (int32_t id = 0; id < nv && id < 64; id++) {
        char buf[256];
        fg_tok_token_bytes(tok, id, buf, sizeof buf);
        fg_str p = fg_tok_piece(tok, id);
        if (p.len) check_inside(g, p.ptr, p.len, "a token piece");
    }
    const char *tmpl = fg_tok_chat_template(tok);
    if (tmpl) (void)strlen(tmpl);
    fg_tok_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write_input("in.gguf", data, size);
    fz_mem_mark();
    fg_gguf *g = NULL;
    fg_status st = fg_gguf_open(path, &g);
    fz_check_status(st, "fg_gguf_open");
    if (st == FG_OK) {
        for (uint64_t i = 0; i < g->n_kv; i++) {
            const fg_gguf_kv *kv = &g->kv[i];
            check_inside(g, kv->key.ptr, kv->key.len, "a metadata key");
            char buf[256];
            fg_gguf_kv_format(kv, buf, sizeof buf);
            if (kv->type == FG_GGUF_ARRAY && kv->arr_type == FG_GGUF_STRING) {
                fg_gguf_str_iter it;
                fg_gguf_str_iter_init(g, kv, &it);
                fg_str s;
                uint64_t n = 0;
                while (fg_gguf_str_iter_next(&it, &s)) {
                    check_inside(g, s.ptr, s.len, "an array string");
                    n++;
                }
                if (n != kv->arr_n) fz_fail("string array iterated %llu of %llu elements",
                                            (unsigned long long)n, (unsigned long long)kv->arr_n);
            } else if (kv->type == FG_GGUF_ARRAY) {
                int64_t iv;
                double dv;
                for (uint64_t j = 0; j < kv->arr_n && j < 16; j++) {
                    fg_gguf_arr_i64(kv, j, &iv);
                    fg_gguf_arr_f64(kv, j, &dv);
                }
                fg_gguf_arr_i64(kv, kv->arr_n, &iv);
            } else {
                /* a NUL-terminated copy of the key for the by-name getters */
                char key[128];
                size_t kl = kv->key.len < sizeof key - 1 ? (size_t)kv->key.len : sizeof key - 1;
                memcpy(key, kv->key.ptr, kl);
                key[kl] = 0;
                uint64_t u;
                int64_t i64;
                double d;
                bool b;
                fg_str s;
                fg_gguf_get_u64(g, key, &u);
                fg_gguf_get_i64(g, key, &i64);
                fg_gguf_get_f64(g, key, &d);
                fg_gguf_get_bool(g, key, &b);
                if (fg_gguf_get_str(g, key, &s)) check_inside(g, s.ptr, s.len, "a string value");
            }
        }
        uint64_t touched = 0;
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const fg_gguf_tensor *t = &g->tensors[i];
            check_inside(g, t->name.ptr, t->name.len, "a tensor name");
            check_inside(g, t->data, t->nbytes, "tensor data");
            if (touched < (1u << 20)) {
                size_t n = t->nbytes < (1u << 16) ? (size_t)t->nbytes : (1u << 16);
                fz_touch(t->data, n);
                if (t->nbytes) fz_touch((const uint8_t *)t->data + t->nbytes - 1, 1);
                touched += n;
            }
            fg_ggml_type_name(t->ggml_type);
        }
        if (g->n_tensors) {
            char name[128];
            fg_str nm = g->tensors[0].name;
            size_t nl = nm.len < sizeof name - 1 ? (size_t)nm.len : sizeof name - 1;
            memcpy(name, nm.ptr, nl);
            name[nl] = 0;
            fg_gguf_find_tensor(g, name);
        }
        use_tokenizer(g);
        fg_gguf_close(g);
    }
    fz_mem_check("fg_gguf_open/close");
    return 0;
}
