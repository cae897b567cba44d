/* jinja lexer: template source -> tokens.
 *
 * Text outside tags becomes JT_TEXT with Jinja's whitespace rules already applied, as
 * transformers renders chat templates (trim_blocks=True, lstrip_blocks=True):
 *  - `{%-` `{{-` `{#-`: whitespace before the tag is removed (all of it, newlines too);
 *  - `-%}` `-}}` `-#}`: whitespace after the tag is removed;
 *  - lstrip_blocks: spaces and tabs from the start of a line up to a `{%` or `{#` tag are
 *    removed (not before `{{`; `{%+` turns it off for that tag);
 *  - trim_blocks: the first newline right after a `%}` or `#}` is removed (`+%}` keeps it);
 *  - a single trailing newline of the template is dropped (keep_trailing_newline=False).
 * Whitespace is Python's (str.isspace), as Jinja's `\s` on str.
 *
 * Inside `{% %}` and `{{ }}`: names, integers, floats, string literals (Python escapes:
 * \n \t \r \b \f \v \a \\ \' \" \xHH \uHHHH \UHHHHHHHH and octal; an unknown escape keeps
 * its backslash), and operators. `{% raw %}...{% endraw %}` is passed through as text. */
#include "token/jinja-impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct lexer {
    const char *src;
    size_t len, pos;
    int line;
    jj_arena *arena;   /* string literals */
    jj_arena *tmp;     /* the token array */
    jj_err *err;
    jj_tok *toks;
    size_t n, cap;
} lexer;

static jj_tok *push(lexer *L, jj_tok_kind kind, int line)
{
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        jj_tok *t = jj_arena_alloc(L->tmp, cap * sizeof *t);
        if (!t) jj_fail(L->err, FG_ERR_NOMEM, 0, "out of memory while reading the template");
        if (L->n) memcpy(t, L->toks, L->n * sizeof *t);
        L->toks = t;
        L->cap = cap;
    }
    jj_tok *t = &L->toks[L->n++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->line = line;
    return t;
}

static void count_lines(lexer *L, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (L->src[i] == '\n') L->line++;
}

/* Advances past whitespace (Python's) from pos; returns the new position. */
static size_t skip_space(lexer *L, size_t pos)
{
    while (pos < L->len) {
        uint32_t cp;
        size_t k = jj_utf8_decode(L->src + pos, L->len - pos, &cp);
        if (!jj_is_space(cp)) break;
        pos += k;
    }
    return pos;
}

/* End of text [from, to) once trailing whitespace is removed. */
static size_t rstrip_end(const char *s, size_t from, size_t to)
{
    size_t end = from, pos = from;
    while (pos < to) {
        uint32_t cp;
        size_t k = jj_utf8_decode(s + pos, to - pos, &cp);
        pos += k;
        if (!jj_is_space(cp)) end = pos;
    }
    return end;
}

static void emit_text(lexer *L, size_t from, size_t to, int line)
{
    if (to <= from) return;
    jj_tok *t = push(L, JT_TEXT, line);
    t->s = L->src + from;
    t->n = to - from;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Reads a quoted string literal starting at L->pos (the quote). */
static void lex_string(lexer *L)
{
    const char *s = L->src;
    char q = s[L->pos];
    int line = L->line;
    size_t i = L->pos + 1, end = i;
    while (end < L->len && s[end] != q) end += (s[end] == '\\' && end + 1 < L->len) ? 2 : 1;
    if (end >= L->len) jj_fail(L->err, FG_ERR_FORMAT, line, "unterminated string literal");
    /* the unescaped text is never longer than the source */
    char *out = jj_arena_alloc(L->arena, end - i + 1);
    if (!out) jj_fail(L->err, FG_ERR_NOMEM, 0, "out of memory while reading the template");
    size_t n = 0;
    uint32_t pending_hi = 0;   /* a high surrogate from \uD8xx waiting for its pair */
    while (i < end) {
        char ch = s[i];
        if (ch != '\\') {
            if (pending_hi) { n += jj_utf8_encode(0xFFFD, out + n); pending_hi = 0; }
            out[n++] = ch;
            i++;
            continue;
        }
        char e = s[i + 1];
        i += 2;
        uint32_t cp = 0;
        int digits = 0;
        switch (e) {
        case 'n': cp = '\n'; break;
        case 't': cp = '\t'; break;
        case 'r': cp = '\r'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'v': cp = '\v'; break;
        case 'a': cp = '\a'; break;
        case '\\': cp = '\\'; break;
        case '\'': cp = '\''; break;
        case '"': cp = '"'; break;
        case '\n': continue;   /* line continuation */
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (e >= '0' && e <= '7') {
                cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i < end && s[i] >= '0' && s[i] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(s[i++] - '0');
                break;
            }
            /* unknown escape: kept as written (Python) */
            out[n++] = '\\';
            out[n++] = e;
            continue;
        }
        if (digits) {
            for (int k = 0; k < digits; k++) {
                int h = i + (size_t)k < end ? hexval(s[i + (size_t)k]) : -1;
                if (h < 0)
                    jj_fail(L->err, FG_ERR_FORMAT, line, "invalid \\%c escape in a string literal", e);
                cp = cp * 16 + (uint32_t)h;
            }
            i += (size_t)digits;
            if (cp > 0x10FFFF)
                jj_fail(L->err, FG_ERR_FORMAT, line, "invalid \\%c escape in a string literal", e);
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (pending_hi) n += jj_utf8_encode(0xFFFD, out + n);
            pending_hi = cp;
            continue;
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = pending_hi ? 0x10000 + ((pending_hi - 0xD800) << 10) + (cp - 0xDC00) : 0xFFFD;
            pending_hi = 0;
        } else if (pending_hi) {
            n += jj_utf8_encode(0xFFFD, out + n);
            pending_hi = 0;
        }
        n += jj_utf8_encode(cp, out + n);
    }
    if (pending_hi) n += jj_utf8_encode(0xFFFD, out + n);
    jj_tok *t = push(L, JT_STRING, line);
    t->s = out;
    t->n = n;
    count_lines(L, L->pos, end + 1);
    L->pos = end + 1;
}

static void lex_number(lexer *L, bool after_dot)
{
    const char *s = L->src;
    size_t i = L->pos;
    while (i < L->len && s[i] >= '0' && s[i] <= '9') i++;
    bool is_float = false;
    if (!after_dot && i + 1 < L->len && s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
        is_float = true;
        i++;
        while (i < L->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (!after_dot && i < L->len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < L->len && (s[j] == '+' || s[j] == '-')) j++;
        if (j < L->len && s[j] >= '0' && s[j] <= '9') {
            while (j < L->len && s[j] >= '0' && s[j] <= '9') j++;
            is_float = true;
            i = j;
        }
    }
    char buf[64];
    size_t n = i - L->pos;
    if (n >= sizeof buf) jj_fail(L->err, FG_ERR_FORMAT, L->line, "number literal too long");
    memcpy(buf, s + L->pos, n);
    buf[n] = 0;
    jj_tok *t = push(L, is_float ? JT_FLOAT : JT_INT, L->line);
    if (is_float) {
        t->f = strtod(buf, NULL);
    } else {
        int64_t v = 0;
        for (size_t k = 0; k < n; k++) {
            int d = buf[k] - '0';
            if (v > (INT64_MAX - d) / 10)
                jj_fail(L->err, FG_ERR_UNSUPPORTED, L->line, "integer literal %s is too large", buf);
            v = v * 10 + d;
        }
        t->i = v;
    }
    L->pos = i;
}

static int op_code(const char *s, size_t left, size_t *len)
{
    static const struct { const char *s; int code; } two[] = {
        { "**", JOP_POW }, { "//", JOP_FLOORDIV }, { "==", JOP_EQ }, { "!=", JOP_NE },
        { "<=", JOP_LE }, { ">=", JOP_GE },
    };
    if (left >= 2)
        for (size_t k = 0; k < sizeof two / sizeof two[0]; k++)
            if (s[0] == two[k].s[0] && s[1] == two[k].s[1]) { *len = 2; return two[k].code; }
    if (strchr("+-*/%~|.,:()[]{}<>=", s[0])) { *len = 1; return (unsigned char)s[0]; }
    return 0;
}

static bool is_name_start(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'; }
static bool is_name_char(char ch) { return is_name_start(ch) || (ch >= '0' && ch <= '9'); }

/* Lexes inside a tag opened at `open_line` until its closing delimiter. Returns the
 * position right after the close, with `strip_after` / `keep_nl` telling what follows. */
static void lex_tag(lexer *L, bool block, int open_line, bool *strip_after, bool *plus_after)
{
    const char *s = L->src;
    int brace = 0;
    *strip_after = *plus_after = false;
    for (;;) {
        size_t p0 = L->pos;
        while (L->pos < L->len && (s[L->pos] == ' ' || s[L->pos] == '\t' || s[L->pos] == '\n' ||
                                   s[L->pos] == '\r' || s[L->pos] == '\f' || s[L->pos] == '\v'))
            L->pos++;
        count_lines(L, p0, L->pos);
        if (L->pos >= L->len)
            jj_fail(L->err, FG_ERR_FORMAT, open_line, "unterminated tag '%s'", block ? "{%" : "{{");
        const char *p = s + L->pos;
        size_t left = L->len - L->pos;
        char close = block ? '%' : '}';
        /* closing delimiters: [-+]%} or [-]}} (a `}` closes only outside dict braces) */
        if ((p[0] == '-' || p[0] == '+') && left >= 3 && p[1] == close && p[2] == '}' &&
            (block || brace == 0)) {
            *strip_after = p[0] == '-';
            *plus_after = p[0] == '+';
            L->pos += 3;
            push(L, block ? JT_BLOCK_END : JT_VAR_END, L->line);
            return;
        }
        if (left >= 2 && p[0] == close && p[1] == '}' && (block || brace == 0)) {
            L->pos += 2;
            push(L, block ? JT_BLOCK_END : JT_VAR_END, L->line);
            return;
        }
        if (p[0] == '\'' || p[0] == '"') { lex_string(L); continue; }
        bool after_dot = L->n > 0 && L->toks[L->n - 1].kind == JT_OP && L->toks[L->n - 1].op == '.';
        if (p[0] >= '0' && p[0] <= '9') { lex_number(L, after_dot); continue; }
        if (is_name_start(p[0])) {
            size_t k = 1;
            while (k < left && is_name_char(p[k])) k++;
            jj_tok *t = push(L, JT_NAME, L->line);
            t->s = p;
            t->n = k;
            L->pos += k;
            continue;
        }
        size_t oplen;
        int op = op_code(p, left, &oplen);
        if (!op) {
            uint32_t cp;
            jj_utf8_decode(p, left, &cp);
            if (cp >= 0x20 && cp < 0x7f)
                jj_fail(L->err, FG_ERR_FORMAT, L->line, "unexpected character '%c' in a tag", (char)cp);
            jj_fail(L->err, FG_ERR_FORMAT, L->line, "unexpected character U+%04X in a tag", (unsigned)cp);
        }
        if (op == '{') brace++;
        if (op == '}') brace--;
        jj_tok *t = push(L, JT_OP, L->line);
        t->op = op;
        L->pos += oplen;
    }
}

/* After `{% raw %}`: everything up to `{% endraw %}` is text. */
static bool try_raw(lexer *L, bool strip_after)
{
    size_t n = L->n;
    if (n < 3 || L->toks[n - 3].kind != JT_BLOCK_BEGIN || L->toks[n - 2].kind != JT_NAME ||
        L->toks[n - 2].n != 3 || memcmp(L->toks[n - 2].s, "raw", 3) != 0)
        return false;
    int line = L->toks[n - 3].line;
    L->n -= 3;
    const char *s = L->src;
    size_t start = strip_after ? skip_space(L, L->pos) : L->pos;
    for (size_t i = start; i + 1 < L->len; i++) {
        if (s[i] != '{' || s[i + 1] != '%') continue;
        size_t j = i + 2;
        bool strip_before = j < L->len && s[j] == '-';
        if (strip_before || (j < L->len && s[j] == '+')) j++;
        while (j < L->len && (s[j] == ' ' || s[j] == '\t')) j++;
        if (j + 6 > L->len || memcmp(s + j, "endraw", 6) != 0) continue;
        j += 6;
        while (j < L->len && (s[j] == ' ' || s[j] == '\t')) j++;
        bool strip = j < L->len && s[j] == '-';
        if (strip || (j < L->len && s[j] == '+')) j++;
        if (j + 1 >= L->len || s[j] != '%' || s[j + 1] != '}') continue;
        emit_text(L, start, strip_before ? rstrip_end(s, start, i) : i, line);
        count_lines(L, L->pos, j + 2);
        L->pos = j + 2;
        if (strip) L->pos = skip_space(L, L->pos);
        else if (L->pos < L->len && s[L->pos] == '\n') { L->pos++; L->line++; }
        return true;
    }
    jj_fail(L->err, FG_ERR_FORMAT, line, "unterminated '{%% raw %%}' block");
}

jj_tok *jj_lex(const char *src, size_t len, jj_arena *a, jj_arena *tmp, jj_err *e, size_t *n_out)
{
    lexer L = { .src = src, .len = len, .line = 1, .arena = a, .tmp = tmp, .err = e };
    if (L.len > 0 && src[L.len - 1] == '\n') L.len--;   /* keep_trailing_newline=False */
    const char *s = src;
    while (L.pos < L.len) {
        /* text up to the next tag */
        size_t q = L.pos;
        while (q + 1 < L.len && !(s[q] == '{' && (s[q + 1] == '{' || s[q + 1] == '%' || s[q + 1] == '#')))
            q++;
        if (q + 1 >= L.len) q = L.len;
        int text_line = L.line;
        if (q == L.len) {
            emit_text(&L, L.pos, q, text_line);
            count_lines(&L, L.pos, q);
            L.pos = q;
            break;
        }
        char kind = s[q + 1];
        char mod = q + 2 < L.len ? s[q + 2] : 0;
        size_t text_end = q;
        if (mod == '-') {
            text_end = rstrip_end(s, L.pos, q);
        } else if (mod != '+' && kind != '{') {
            /* lstrip_blocks: only spaces/tabs between the line start and the tag */
            size_t b = q;
            while (b > L.pos && (s[b - 1] == ' ' || s[b - 1] == '\t')) b--;
            if (b == 0 || s[b - 1] == '\n' || s[b - 1] == '\r') text_end = b;
        }
        emit_text(&L, L.pos, text_end, text_line);
        count_lines(&L, L.pos, q);
        L.pos = q + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
        int tag_line = L.line;
        bool strip_after = false, plus_after = false;
        if (kind == '#') {
            size_t k = L.pos;
            while (k + 1 < L.len && !(s[k] == '#' && s[k + 1] == '}')) k++;
            if (k + 1 >= L.len) jj_fail(e, FG_ERR_FORMAT, tag_line, "unterminated comment '{#'");
            strip_after = k > L.pos && s[k - 1] == '-';
            plus_after = k > L.pos && s[k - 1] == '+';
            count_lines(&L, L.pos, k + 2);
            L.pos = k + 2;
        } else {
            push(&L, kind == '%' ? JT_BLOCK_BEGIN : JT_VAR_BEGIN, tag_line);
            lex_tag(&L, kind == '%', tag_line, &strip_after, &plus_after);
            if (kind == '%' && try_raw(&L, strip_after)) continue;
        }
        if (strip_after) {
            size_t p = skip_space(&L, L.pos);
            count_lines(&L, L.pos, p);
            L.pos = p;
        } else if (kind != '{' && !plus_after && L.pos < L.len && s[L.pos] == '\n') {
            L.pos++;   /* trim_blocks */
            L.line++;
        }
    }
    push(&L, JT_EOF, L.line);
    *n_out = L.n;
    return L.toks;
}
