/* Fuzz target: encoding arbitrary text with real tokenizers, loaded once: Qwen2.5's
 * byte-level BPE (tests/data/tokenizers/qwen) and Llama 2's SentencePiece BPE
 * (tests/data/tokenizers/llama2). Input byte 0 picks the tokenizer (bit 0), parse_special
 * (bit 1) and add_bos (bit 2); the rest is the text.
 * Invariants: ids in the vocabulary; a capped encode agrees with the allocating one;
 * decode(encode(text)) == text for printable ASCII without specials (these tokenizers
 * lose nothing there); the streamed decode equals the whole decode; no tagged byte kept. */
#include "fuzz_util.h"
#include "token/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fg_tokenizer *toks[2];

static fg_tokenizer *load(const char *dir)
{
    char rel[256];
    size_t jl, cl;
    snprintf(rel, sizeof rel, "tests/data/tokenizers/%s/tokenizer.json.xz", dir);
    char *json = fz_read_source_xz(rel, &jl);
    snprintf(rel, sizeof rel, "tests/data/tokenizers/%s/tokenizer_config.json", dir);
    char *cfg = fz_read_source_file(rel, &cl);
    fg_tokenizer *t = NULL;
    if (fg_tok_load_hf_json(json, jl, cfg, cl, dir, &t) != FG_OK) fz_fail("cannot load %s: %s", dir, fg_last_error());
    free(json);
    free(cfg);
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    toks[0] = load("qwen");
    toks[1] = load("llama2");
    return 0;
}

static bool plain_ascii(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const fg_tokenizer *tok = toks[data[0] & 1];
    bool parse_special = data[0] & 2, add_bos = data[0] & 4;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t nv = fg_tok_vocab_size(tok);

    fz_mem_mark();
    int32_t *ids = NULL;
    size_t n = 0;
    fg_status st = fg_tok_encode_alloc(tok, text, len, parse_special, add_bos, &ids, &n);
    fz_check_status(st, "fg_tok_encode_alloc");
    if (st) fz_fail("encode of %zu bytes failed: %s", len, fg_last_error());
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= nv) fz_fail("encode produced id %d (vocab %d)", ids[i], nv);

    int32_t few[4];
    size_t n2 = 0;
    fz_check_status(fg_tok_encode(tok, text, len, parse_special, add_bos, few, 4, &n2), "fg_tok_encode");
    if (n2 != n || memcmp(few, ids, (n < 4 ? n : 4) * sizeof *ids) != 0)
        fz_fail("capped encode gives %zu ids, allocating encode %zu", n2, n);

    char *dec = NULL;
    size_t dlen = 0;
    st = fg_tok_decode_alloc(tok, ids, n, false, &dec, &dlen);
    fz_check_status(st, "fg_tok_decode_alloc");
    if (st) fz_fail("decode of encoded ids failed: %s", fg_last_error());
    if (!parse_special && !add_bos && plain_ascii((const uint8_t *)text, len) &&
        (dlen != len || memcmp(dec, text, len) != 0))
        fz_fail("round trip changed the text: %zu bytes in, %zu out: \"%.*s\"", len, dlen, (int)dlen, dec);

    fg_tok_stream s;
    fg_tok_stream_init(&s, tok, false, true);
    size_t cap = fg_tok_stream_bufsize(tok);
    char *piece = malloc(cap), *acc = malloc(dlen + 8);
    size_t alen = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pl = 0;
        if (fg_tok_stream_push(&s, tok, ids[i], piece, cap, &pl) != FG_OK)
            fz_fail("stream push failed: %s", fg_last_error());
        if (alen + pl > dlen) fz_fail("stream gives more bytes than decode");
        memcpy(acc + alen, piece, pl);
        alen += pl;
    }
    alen += fg_tok_stream_flush(&s, acc + alen, 8);
    if (alen != dlen || memcmp(acc, dec, dlen) != 0) fz_fail("streamed decode differs from decode");
    free(piece);
    free(acc);
    fg_free(dec);

    char *skipped = NULL;
    fz_check_status(fg_tok_decode_alloc(tok, ids, n, true, &skipped, &dlen), "fg_tok_decode_alloc(skip)");
    fg_free(skipped);
    fg_free(ids);
    fz_mem_check("encode/decode");
    return 0;
}
