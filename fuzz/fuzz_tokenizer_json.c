/* Fuzz target: tokenizer.json loading (fg_tok_load_hf_json), optionally with a
 * tokenizer_config.json (the input's part after the first "\n#CONFIG#\n"), then encode
 * and decode of a short fixed text, the streaming decoder over the ids, and the
 * accessors. Invariants: a failure has a one-line message; encode's ids are in the
 * vocabulary; the streamed text equals the whole-sequence decode; no tagged byte kept. */
#define _GNU_SOURCE /* memmem */
#include "fuzz_util.h"
#include "token/token.h"

#include <stdlib.h>
#include <string.h>

static const char sep[] = "\n#CONFIG#\n";

static void exercise(const fg_tokenizer *tok)
{
    static const char text[] = "Hello world, <|im_end|> <s> caf\xc3\xa9  42\n\t\xf0\x9f\x98\x80 \xe2\x96\x81x \xff\xfe";
    int32_t nv = fg_tok_vocab_size(tok);
    for (int parse_special = 0; parse_special < 2; parse_special++) {
        int32_t *ids = NULL;
        size_t n = 0;
        fg_status st = fg_tok_encode_alloc(tok, text, sizeof text - 1, parse_special, parse_special, &ids, &n);
        fz_check_status(st, "fg_tok_encode_alloc");
        if (st) continue;
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= nv) fz_fail("encode produced id %d (vocab %d)", ids[i], nv);
        char *dec = NULL;
        size_t dlen = 0;
        st = fg_tok_decode_alloc(tok, ids, n, false, &dec, &dlen);
        fz_check_status(st, "fg_tok_decode_alloc");
        if (!st) {
            /* the stream decoder must give the same bytes */
            fg_tok_stream s;
            fg_tok_stream_init(&s, tok, false, true);
            size_t cap = fg_tok_stream_bufsize(tok);
            char *piece = malloc(cap + 4), *acc = malloc(dlen + 4 * n + 8);
            size_t alen = 0;
            for (size_t i = 0; i < n; i++) {
                size_t len = 0;
                fg_status ps = fg_tok_stream_push(&s, tok, ids[i], piece, cap, &len);
                fz_check_status(ps, "fg_tok_stream_push");
                if (ps) fz_fail("stream push of a valid id failed: %s", fg_last_error());
                if (alen + len > dlen + 4 * n) fz_fail("stream produced more than decode");
                memcpy(acc + alen, piece, len);
                alen += len;
            }
            alen += fg_tok_stream_flush(&s, acc + alen, 4);
            if (alen != dlen || memcmp(acc, dec, dlen) != 0)
                fz_fail("streamed decode (%zu bytes) differs from decode (%zu bytes)", alen, dlen);
            free(piece);
            free(acc);
            fg_free(dec);
        }
        char small[8];
        size_t slen;
        fz_check_status(fg_tok_decode(tok, ids, n, true, small, sizeof small, &slen), "fg_tok_decode");
        fg_free(ids);
    }
    for (int32_t id = 0; id < nv && id < 300; id++) {
        char buf[512];
        fg_tok_token_bytes(tok, id, buf, sizeof buf);
        fg_str p = fg_tok_piece(tok, id);
        if (p.len && fg_tok_find(tok, p.ptr, p.len) < 0) fz_fail("piece of id %d is not found", id);
        fg_tok_is_eog(tok, id);
        fg_tok_token_type(tok, id);
    }
    fg_tok_max_token_bytes(tok);
    fg_tok_memory(tok);
    size_t ne;
    fg_tok_eog_ids(tok, &ne);
    const char *ct = fg_tok_chat_template(tok);
    if (ct) (void)strlen(ct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data, *cfg = NULL;
    size_t jlen = size, clen = 0;
    const uint8_t *m = memmem(data, size, sep, sizeof sep - 1);
    if (m) {
        jlen = (size_t)(m - data);
        cfg = (const char *)m + sizeof sep - 1;
        clen = size - jlen - (sizeof sep - 1);
    }
    fz_mem_mark();
    fg_tokenizer *tok = NULL;
    fg_status st = fg_tok_load_hf_json(json, jlen, cfg, clen, "tokenizer.json", &tok);
    fz_check_status(st, "fg_tok_load_hf_json");
    if (!st) {
        exercise(tok);
        fg_tok_free(tok);
    }
    fz_mem_check("fg_tok_load_hf_json/free");
    return 0;
}
