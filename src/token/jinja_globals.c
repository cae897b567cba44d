/* jinja global functions: range, namespace, dict, raise_exception, strftime_now.
 *
 * raise_exception(msg) is how chat templates refuse a conversation (Gemma: "System role
 * not supported"); it ends the render with FG_ERR_ARG and the template's message.
 * strftime_now(fmt) formats the render's clock (fg_chat_options.now, local time) with
 * English month and day names whatever the C locale: %Y %m %d %e %b %B %a %A %H %I %M
 * %S %p %y %j %%; other directives are copied as written. */
#include "token/jinja-impl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

enum { G_RANGE, G_NAMESPACE, G_DICT, G_RAISE_EXCEPTION, G_STRFTIME_NOW, G_END };
static const char *const global_names[G_END] = { "range", "namespace", "dict", "raise_exception", "strftime_now" };

int jj_global_id(const char *name, size_t n)
{
    for (int k = 0; k < G_END; k++)
        if (strlen(global_names[k]) == n && memcmp(global_names[k], name, n) == 0) return k;
    return -1;
}

static int64_t want_int(jj_ctx *c, jv v, const char *what)
{
    if (v.t == JV_INT) return v.u.i;
    if (v.t == JV_BOOL) return v.u.b;
    jj_rfail(c, FG_ERR_FORMAT, "%s needs integers, got a %s", what, jv_type_name(v));
}

static jv range(jj_ctx *c, const jj_args *a)
{
    static const char *const no_kw[] = { NULL };
    jj_check_args(c, a, 3, "range()", no_kw);
    if (a->npos == 0) jj_rfail(c, FG_ERR_FORMAT, "range() needs at least one argument");
    int64_t start = 0, stop, step = 1;
    if (a->npos == 1) stop = want_int(c, a->pos[0], "range()");
    else {
        start = want_int(c, a->pos[0], "range()");
        stop = want_int(c, a->pos[1], "range()");
        if (a->npos == 3) step = want_int(c, a->pos[2], "range()");
    }
    if (step == 0) jj_rfail(c, FG_ERR_FORMAT, "range() step must not be zero");
    /* count without overflow: work in long double-free integer arithmetic */
    uint64_t count = 0;
    if (step > 0 && start < stop) count = ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1;
    if (step < 0 && start > stop) count = ((uint64_t)start - (uint64_t)stop - 1) / (uint64_t)(-(step + 1) + 1) + 1;
    if (count > JJ_MAX_RANGE)
        jj_rfail(c, FG_ERR_UNSUPPORTED, "range() of %llu items is over the limit of %d",
                 (unsigned long long)count, JJ_MAX_RANGE);
    jv out = jv_new_list(c, (size_t)count);
    int64_t x = start;
    for (uint64_t i = 0; i < count; i++, x += (i < count ? step : 0)) jv_list_push(c, out, jv_int(x));
    return out;
}

static jv kw_dict(jj_ctx *c, const jj_args *a, jv_type t, const char *what)
{
    if (a->npos > 1) jj_rfail(c, FG_ERR_FORMAT, "%s takes at most one positional argument", what);
    jv d = jv_new_dict(c, a->nkw);
    if (a->npos == 1) {
        jv src = a->pos[0];
        if (src.t == JV_DICT || src.t == JV_NS) {
            for (size_t i = 0; i < src.u.dict->n; i++)
                jv_dict_set(c, d, src.u.dict->keys[i].u.str.s, src.u.dict->keys[i].u.str.n, src.u.dict->vals[i]);
        } else if (src.t == JV_LIST) {
            for (size_t i = 0; i < src.u.list->n; i++) {
                jv pair = src.u.list->v[i];
                if (pair.t != JV_LIST || pair.u.list->n != 2 || pair.u.list->v[0].t != JV_STR)
                    jj_rfail(c, FG_ERR_FORMAT, "%s needs (key, value) pairs with string keys", what);
                jv k = pair.u.list->v[0];
                jv_dict_set(c, d, k.u.str.s, k.u.str.n, pair.u.list->v[1]);
            }
        } else if (src.t != JV_UNDEF) {
            jj_rfail(c, FG_ERR_FORMAT, "%s cannot be made from a %s", what, jv_type_name(src));
        }
    }
    for (size_t k = 0; k < a->nkw; k++) jv_dict_set(c, d, a->kw[k], a->kwlen[k], a->kwv[k]);
    d.t = t;
    return d;
}

static jv strftime_now(jj_ctx *c, const jj_args *a)
{
    static const char *const months[] = { "January", "February", "March", "April", "May", "June", "July",
                                          "August", "September", "October", "November", "December" };
    static const char *const days[] = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" };
    static const char *const no_kw[] = { NULL };
    jj_check_args(c, a, 1, "strftime_now()", no_kw);
    jv fmt = jj_want_str(c, jj_arg(a, 0, NULL), "strftime_now()");
    time_t t = (time_t)c->now;
    struct tm tm;
    if (!localtime_r(&t, &tm)) jj_rfail(c, FG_ERR_FORMAT, "strftime_now(): the clock is out of range");
    jj_buf b = { 0 };
    const char *s = fmt.u.str.s;
    size_t n = fmt.u.str.n;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%' || i + 1 >= n) { jj_buf_putc(c, &b, s[i]); continue; }
        char d = s[++i], tmp[32];
        const char *out = tmp;
        size_t len = (size_t)-1;
        switch (d) {
        case 'Y': snprintf(tmp, sizeof tmp, "%d", tm.tm_year + 1900); break;
        case 'y': snprintf(tmp, sizeof tmp, "%02d", (tm.tm_year + 1900) % 100); break;
        case 'm': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mon + 1); break;
        case 'd': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mday); break;
        case 'e': snprintf(tmp, sizeof tmp, "%2d", tm.tm_mday); break;
        case 'j': snprintf(tmp, sizeof tmp, "%03d", tm.tm_yday + 1); break;
        case 'H': snprintf(tmp, sizeof tmp, "%02d", tm.tm_hour); break;
        case 'I': snprintf(tmp, sizeof tmp, "%02d", tm.tm_hour % 12 ? tm.tm_hour % 12 : 12); break;
        case 'M': snprintf(tmp, sizeof tmp, "%02d", tm.tm_min); break;
        case 'S': snprintf(tmp, sizeof tmp, "%02d", tm.tm_sec); break;
        case 'p': out = tm.tm_hour < 12 ? "AM" : "PM"; break;
        case 'B': out = months[tm.tm_mon]; break;
        case 'b': out = months[tm.tm_mon]; len = 3; break;
        case 'A': out = days[tm.tm_wday]; break;
        case 'a': out = days[tm.tm_wday]; len = 3; break;
        case '%': out = "%"; break;
        default: tmp[0] = '%'; tmp[1] = d; tmp[2] = 0; break;
        }
        jj_buf_put(c, &b, out, len == (size_t)-1 ? strlen(out) : len);
    }
    return jv_strn(b.p ? b.p : "", b.n);
}

jv jj_call_global(jj_ctx *c, int id, const jj_args *a)
{
    switch (id) {
    case G_RANGE: return range(c, a);
    case G_NAMESPACE: return kw_dict(c, a, JV_NS, "namespace()");
    case G_DICT: return kw_dict(c, a, JV_DICT, "dict()");
    case G_RAISE_EXCEPTION: {
        jv msg = a->npos ? jv_to_str(c, a->pos[0]) : jv_strn("", 0);
        jj_rfail(c, FG_ERR_ARG, "raise_exception: %.*s", (int)(msg.u.str.n > 300 ? 300 : msg.u.str.n), msg.u.str.s);
    }
    case G_STRFTIME_NOW: return strftime_now(c, a);
    }
    jj_rfail(c, FG_ERR_INTERNAL, "bad global id %d", id);
}
