/* quantize: a model (Hugging Face directory or GGUF) to a GGUF v3 file in a
 * quantization mixture (format/quant_mix.h decides each tensor's type).
 *
 * Streams tensor by tensor and, inside a tensor, chunk of rows by chunk of rows: source
 * rows are read from the read-only mapping, converted to float32 and quantized by a
 * pool of threads, written, and the source pages dropped (madvise), so the resident
 * memory is a few MiB of buffers plus the metadata (the tokenizer), whatever the
 * model's size. The output is written to "<out>.part" and renamed to `out` when
 * complete: on any error nothing is left behind and an existing `out` is untouched
 * (an `out` that is not a regular file, e.g. a device, is written in place).
 *
 * From GGUF: every metadata key is copied (general.file_type updated), tensors keep
 * their names, shapes and order. Tensors already in the target type are copied as they
 * are; other quantized tensors are dequantized and quantized again (allowed, with a
 * warning through fg_log: precision lost twice).
 * From a Hugging Face directory (config.json, model.safetensors or sharded with
 * model.safetensors.index.json, F32/F16/BF16; tokenizer.json and tokenizer_config.json):
 * the metadata, tensor names and layout llama.cpp's converter writes (the same writer as
 * `frugal synth`'s GGUF output: llama q/k rows permuted for interleaved RoPE,
 * rope_freqs.weight for llama3 rope scaling, the byte-level BPE tokenizer and chat
 * template). */
#ifndef FG_FORMAT_QUANTIZE_H
#define FG_FORMAT_QUANTIZE_H

#include "core/status.h"
#include "core/core.h"
#include "format/quant_mix.h"

/* Progress: bytes of tensor data written of the total, and the tensor being written. */
typedef void (*fg_quantize_progress_fn)(uint64_t done_bytes, uint64_t total_bytes, const char *tensor, void *user);

typedef struct fg_quantize_params {
    fg_quant_mix mix;                 /* required: not FG_QMIX_NONE */
    int n_threads;                    /* 0: the physical cores */
    fg_quantize_progress_fn progress; /* NULL: none */
    void *user;
} fg_quantize_params;
fg_quantize_params fg_quantize_default_params(void);

typedef struct fg_quantize_stats {
    bool from_gguf;                   /* the input was a GGUF file (else an HF directory) */
    uint64_t n_tensors;
    uint64_t n_by_type[FG_DT_COUNT];  /* output tensors per dtype */
    uint64_t n_requantized;           /* quantized input tensors converted to another type */
    uint64_t n_copied;                /* tensors already in their target type, copied as they are */
    uint64_t in_bytes, out_bytes;     /* tensor data read / written */
    uint64_t largest_out_tensor;      /* bytes of the largest output tensor */
    char largest_name[64];
} fg_quantize_stats;

/* in: a .gguf file or a Hugging Face directory; out: the GGUF file to write. stats may
 * be NULL. Errors are one line naming the file (and tensor): unreadable or malformed
 * input, a tensor type that cannot be converted, an unwritable output. */
fg_status fg_quantize_model(const char *in, const char *out, const fg_quantize_params *params,
                            fg_quantize_stats *stats);

/* The _M mixtures and the other types, for --help and docs: a few lines of text. */
const char *fg_quantize_mix_help(void);

#endif
