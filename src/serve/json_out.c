/* JSON string escaping into caller buffers, for the streamed chunks (written straight
 * into libmicrohttpd's send buffer: nothing is allocated per token). */
#include "serve/serve-impl.h"

#include <string.h>

/* Length of the valid UTF-8 character at s (n bytes available), or 0 when the bytes do
 * not begin one (then *bad receives the length of the maximal invalid subpart, >= 1, the
 * Unicode practice for replacement). 0 with *bad 0 means: incomplete at the end. */
static size_t utf8_char(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    *bad = 1;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;      /* no overlong forms */
        if (c == 0xED) hi = 0x9F;      /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;      /* <= U+10FFFF */
    } else
        return 0;
    for (size_t i = 1; i < need; i++) {
        if (i >= n) {
            *bad = 0;
            return 0;
        }
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) {
            *bad = i;
            return 0;
        }
    }
    return need;
}

size_t utf8_boundary(const char *s, size_t n)
{
    /* step back over at most 3 continuation bytes to the last lead byte */
    size_t i = n;
    int back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0) return n;
    size_t bad;
    size_t len = utf8_char((const unsigned char *)s + i - 1, n - (i - 1), &bad);
    if (len == 0 && bad == 0) return i - 1; /* an incomplete character at the end */
    return n;
}

size_t json_escape(const char *in, size_t n, char *out, size_t cap, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned c = s[i];
        char tmp[6];
        size_t tn = 0, adv = 1;
        const unsigned char *src = NULL;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            tn = 2;
        } else if (c < 0x20) {
            tmp[0] = '\\';
            tn = 2;
            switch (c) {
            case '\n': tmp[1] = 'n'; break;
            case '\r': tmp[1] = 'r'; break;
            case '\t': tmp[1] = 't'; break;
            case '\b': tmp[1] = 'b'; break;
            case '\f': tmp[1] = 'f'; break;
            default:
                tmp[1] = 'u';
                tmp[2] = '0';
                tmp[3] = '0';
                tmp[4] = hex[c >> 4];
                tmp[5] = hex[c & 15];
                tn = 6;
            }
        } else if (c < 0x80) {
            tmp[0] = (char)c;
            tn = 1;
        } else {
            size_t bad;
            size_t len = utf8_char(s + i, n - i, &bad);
            if (len) {
                src = s + i;
                tn = len;
                adv = len;
            } else {
                tmp[0] = (char)0xEF; /* U+FFFD */
                tmp[1] = (char)0xBF;
                tmp[2] = (char)0xBD;
                tn = 3;
                adv = bad ? bad : n - i;
            }
        }
        if (o + tn > cap) break;
        memcpy(out + o, src ? (const char *)src : tmp, tn);
        o += tn;
        i += adv;
    }
    *used = i;
    return o;
}

size_t utf8_sanitize(const char *in, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t bad, len = s[i] ? utf8_char(s + i, n - i, &bad) : (bad = 1, 0);
        if (len) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += bad ? bad : n - i;
        }
    }
    return o;
}
