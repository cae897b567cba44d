/* frugal tokenize MODEL TEXT: the token ids of TEXT, on one line, comma-separated.
 * MODEL is a Hugging Face directory (tokenizer.json), a tokenizer.json path, or a .gguf
 * file (only its metadata is read; tensor data are never touched). TEXT "-" reads
 * standard input byte for byte, so any byte string can be tokenized. */
#include "cli/cli.h"
#include "format/format.h"
#include "mem/mem.h"
#include "token/token.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: frugal tokenize MODEL TEXT [options]\n"
            "  MODEL          Hugging Face directory, tokenizer.json or .gguf file\n"
            "  TEXT           the text; '-' reads standard input (byte-exact)\n"
            "  --pieces       one token per line: id and its piece (JSON-quoted)\n"
            "  --no-special   special tokens written in the text are plain text\n"
            "  --bos/--no-bos prepend the BOS token or not (default: as the model says)\n");
}

static int read_stdin(char **buf, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (!b) return cli_fail("out of memory");
    for (;;) {
        if (n == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                return cli_fail("out of memory reading standard input");
            }
            b = nb;
        }
        size_t got = fread(b + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) {
        free(b);
        return cli_fail("cannot read standard input");
    }
    *buf = b;
    *len = n;
    return 0;
}

/* A piece as a JSON string (bytes that are not valid UTF-8 would not print; pieces are). */
static void print_quoted(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20 || c == 0x7F) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static bool is_gguf(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) || S_ISDIR(sb.st_mode)) return false;
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char m[4] = {0};
    size_t got = fread(m, 1, 4, f);
    fclose(f);
    return got == 4 && !memcmp(m, "GGUF", 4);
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text_arg = NULL;
    bool pieces = false, special = true;
    int bos = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--pieces")) {
            pieces = true;
        } else if (!strcmp(a, "--no-special")) {
            special = false;
        } else if (!strcmp(a, "--bos")) {
            bos = 1;
        } else if (!strcmp(a, "--no-bos")) {
            bos = 0;
        } else if (a[0] == '-' && a[1] && strcmp(a, "--")) {
            usage(stderr);
            return cli_fail("tokenize: unknown option '%s'", a);
        } else {
            if (!strcmp(a, "--") && i + 1 < argc) a = argv[++i];
            if (!model) model = a;
            else if (!text_arg) text_arg = a;
            else {
                usage(stderr);
                return cli_fail("tokenize: unexpected argument '%s'", a);
            }
        }
    }
    if (!model || !text_arg) {
        usage(stderr);
        return cli_fail("tokenize: MODEL and TEXT are required");
    }
    char *text = NULL;
    size_t len = 0;
    if (!strcmp(text_arg, "-")) {
        int rc = read_stdin(&text, &len);
        if (rc) return rc;
    } else {
        text = strdup(text_arg);
        len = strlen(text_arg);
        if (!text) return cli_fail("out of memory");
    }
    fg_gguf *g = NULL;
    fg_tokenizer *t = NULL;
    fg_status st;
    if (is_gguf(model)) {
        st = fg_gguf_open(model, &g);
        if (!st) st = fg_tok_load_gguf(g, &t);
    } else {
        st = fg_tok_load_hf(model, &t);
    }
    int rc = 0;
    if (st) {
        rc = cli_fail_status(st, "tokenize");
        goto done;
    }
    int32_t *ids;
    size_t n;
    bool add_bos = bos < 0 ? fg_tok_add_bos_default(t) : bos == 1;
    st = fg_tok_encode_alloc(t, text, len, special, add_bos, &ids, &n);
    if (st) {
        rc = cli_fail_status(st, "tokenize");
        goto done;
    }
    if (pieces) {
        for (size_t i = 0; i < n; i++) {
            fg_str p = fg_tok_piece(t, ids[i]);
            printf("%d\t", ids[i]);
            print_quoted(p.ptr, p.len);
            putchar('\n');
        }
    } else {
        for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
        putchar('\n');
    }
    fg_free(ids);
    if (fflush(stdout)) rc = cli_fail("cannot write the output");
done:
    fg_tok_free(t);
    if (g) fg_gguf_close(g);
    free(text);
    return rc;
}
