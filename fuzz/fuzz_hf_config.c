/* Fuzz target: Hugging Face config.json (fg_hf_config_parse). Invariants: a failure has
 * a one-line message; a config that parses has the sizes the loader relies on
 * (positive, heads dividing) and NUL-terminated strings; no tagged byte is kept. */
#include "fuzz_util.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_mem_mark();
    fg_hf_config c;
    fg_status st = fg_hf_config_parse((const char *)data, size, "config.json", &c);
    fz_check_status(st, "fg_hf_config_parse");
    if (st == FG_OK) {
        if (c.hidden_size <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.head_dim <= 0 ||
            c.vocab_size <= 0 || c.intermediate_size <= 0)
            fz_fail("a config with a non-positive size was accepted");
        if (c.n_heads % c.n_kv_heads) fz_fail("kv heads do not divide heads but the config was accepted");
        if (!memchr(c.model_type, 0, sizeof c.model_type) || !memchr(c.torch_dtype, 0, sizeof c.torch_dtype))
            fz_fail("string field not terminated");
    }
    fz_mem_check("fg_hf_config_parse");
    return 0;
}
