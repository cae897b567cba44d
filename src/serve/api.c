/* The OpenAI API: requests into jobs (validated, rendered, tokenized) and finished jobs
 * into responses. Validation follows OpenAI's answers: a value of the wrong type or out
 * of range is a 400 naming the parameter; an unsupported feature (n > 1, logprobs, tools)
 * is a 400 that says so rather than being silently ignored. */
#include "serve/serve-impl.h"
#include "serve/chat_prompt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static job *fail(api_error *e, int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void api_error_vset(api_error *e, int status, const char *type, const char *param, const char *code,
                    const char *fmt, va_list ap)
{
    e->status = status;
    e->type = type;
    e->param = param;
    e->code = code;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
}

static job *fail(api_error *e, int status, const char *param, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    api_error_vset(e, status, status >= 500 ? "server_error" : "invalid_request_error", param, code, fmt, ap);
    va_end(ap);
    return NULL;
}

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "invalid";
}

/* Optional fields: absent or null leave *out unchanged and return true; a present value
 * of the wrong type or out of range fills e and returns false. */
static bool opt_number(const cJSON *root, const char *key, double lo, double hi, double *out, api_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsNumber(v)) {
        fail(e, 400, key, "invalid_type", "Invalid type for '%s': expected a number, but got %s instead.", key, type_name(v));
        return false;
    }
    if (!(v->valuedouble >= lo && v->valuedouble <= hi)) {
        fail(e, 400, key, "invalid_value", "Invalid value for '%s': %g is not between %g and %g.", key, v->valuedouble, lo, hi);
        return false;
    }
    *out = v->valuedouble;
    return true;
}

static bool opt_int(const cJSON *root, const char *key, double lo, double hi, int64_t *out, bool *given, api_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        fail(e, 400, key, "invalid_type", "Invalid type for '%s': expected an integer, but got %s instead.", key,
             cJSON_IsNumber(v) ? "a decimal" : type_name(v));
        return false;
    }
    if (!(v->valuedouble >= lo && v->valuedouble <= hi)) {
        fail(e, 400, key, "invalid_value", "Invalid value for '%s': %.0f is not between %.0f and %.0f.", key, v->valuedouble,
             lo, hi);
        return false;
    }
    *out = (int64_t)v->valuedouble;
    if (given) *given = true;
    return true;
}

static bool opt_bool(const cJSON *root, const char *key, bool *out, api_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsBool(v)) {
        fail(e, 400, key, "invalid_type", "Invalid type for '%s': expected a boolean, but got %s instead.", key, type_name(v));
        return false;
    }
    *out = cJSON_IsTrue(v);
    return true;
}

/* stop: a string or an array of up to 4 strings; empty strings are ignored. */
static bool parse_stop(const cJSON *root, job *j, api_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (!v || cJSON_IsNull(v)) return true;
    const cJSON *items[JOB_MAX_STOP];
    int n = 0;
    if (cJSON_IsString(v)) {
        items[n++] = v;
    } else if (cJSON_IsArray(v)) {
        int count = cJSON_GetArraySize(v);
        if (count > JOB_MAX_STOP) {
            fail(e, 400, "stop", "invalid_value", "Invalid 'stop': at most %d stop sequences, got %d.", JOB_MAX_STOP, count);
            return false;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsString(it)) {
                fail(e, 400, "stop", "invalid_type", "Invalid type for 'stop[%d]': expected a string, but got %s instead.", n,
                     type_name(it));
                return false;
            }
            items[n++] = it;
        }
    } else {
        fail(e, 400, "stop", "invalid_type", "Invalid type for 'stop': expected a string or an array of strings, but got %s instead.",
             type_name(v));
        return false;
    }
    for (int i = 0; i < n; i++) {
        size_t len = strlen(items[i]->valuestring);
        if (len == 0) continue;
        if (len > JOB_MAX_STOP_LEN) {
            fail(e, 400, "stop", "invalid_value", "Invalid 'stop': a stop sequence may be at most %d bytes, got %zu.",
                 JOB_MAX_STOP_LEN, len);
            return false;
        }
        memcpy(j->stop_buf[j->n_stop], items[i]->valuestring, len + 1);
        j->n_stop++;
    }
    return true;
}

/* Features we do not have: say so instead of ignoring them. */
static bool reject_unsupported(const cJSON *root, api_error *e)
{
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "logprobs")) && !cJSON_IsNull(v) && !cJSON_IsFalse(v) &&
        !(cJSON_IsNumber(v) && v->valuedouble == 0)) {
        fail(e, 400, "logprobs", "unsupported_parameter", "'logprobs' is not supported by this server.");
        return false;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "tools")) && cJSON_GetArraySize(v) > 0) {
        fail(e, 400, "tools", "unsupported_parameter", "'tools' are not supported by this server.");
        return false;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "functions")) && cJSON_GetArraySize(v) > 0) {
        fail(e, 400, "functions", "unsupported_parameter", "'functions' are not supported by this server.");
        return false;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "logit_bias")) && cJSON_GetArraySize(v) > 0) {
        fail(e, 400, "logit_bias", "unsupported_parameter", "'logit_bias' is not supported by this server.");
        return false;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "response_format")) && cJSON_IsObject(v)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "type");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") != 0) {
            fail(e, 400, "response_format", "unsupported_parameter", "Only response_format {\"type\":\"text\"} is supported.");
            return false;
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "echo")) && cJSON_IsTrue(v)) {
        fail(e, 400, "echo", "unsupported_parameter", "'echo' is not supported by this server.");
        return false;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "suffix")) && !cJSON_IsNull(v)) {
        fail(e, 400, "suffix", "unsupported_parameter", "'suffix' is not supported by this server.");
        return false;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "best_of")) && !cJSON_IsNull(v) &&
        !(cJSON_IsNumber(v) && v->valuedouble == 1)) {
        fail(e, 400, "best_of", "unsupported_parameter", "'best_of' must be 1: this server generates one choice per request.");
        return false;
    }
    return true;
}

/* The sampling and generation parameters common to both endpoints. */
static bool parse_common(fg_server *s, const cJSON *root, job *j, api_error *e)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!model) {
        fail(e, 400, "model", "missing_required_parameter", "Missing required parameter: 'model'.");
        return false;
    }
    if (!cJSON_IsString(model)) {
        fail(e, 400, "model", "invalid_type", "Invalid type for 'model': expected a string, but got %s instead.", type_name(model));
        return false;
    }
    if (!reject_unsupported(root, e)) return false;

    int64_t n = 1;
    if (!opt_int(root, "n", -1e15, 1e15, &n, NULL, e)) return false;
    if (n != 1) {
        fail(e, 400, "n", "invalid_value", "Invalid value for 'n': this server generates one choice per request (n=1), got %lld.",
             (long long)n);
        return false;
    }
    if (!opt_bool(root, "stream", &j->stream, e)) return false;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) {
            fail(e, 400, "stream_options", "invalid_type", "Invalid type for 'stream_options': expected an object, but got %s instead.",
                 type_name(so));
            return false;
        }
        if (!opt_bool(so, "include_usage", &j->include_usage, e)) {
            e->param = "stream_options.include_usage";
            return false;
        }
    }
    if (!opt_bool(root, "return_token_ids", &j->return_ids, e)) return false;

    fg_sampler_params *sp = &j->sampling;
    *sp = fg_sampler_default_params();
    double temperature = 1.0, top_p = 1.0, min_p = 0, rp = 1.0, fp = 0, pp = 0;
    int64_t top_k = 0, seed = 0;
    bool seed_given = false;
    if (!opt_number(root, "temperature", 0, 2, &temperature, e) || !opt_number(root, "top_p", 0, 1, &top_p, e) ||
        !opt_number(root, "min_p", 0, 1, &min_p, e) || !opt_number(root, "repeat_penalty", 0.01, 10, &rp, e) ||
        !opt_number(root, "frequency_penalty", -2, 2, &fp, e) || !opt_number(root, "presence_penalty", -2, 2, &pp, e) ||
        !opt_int(root, "top_k", 0, 1e9, &top_k, NULL, e) ||
        !opt_int(root, "seed", -9.2e18, 9.2e18, &seed, &seed_given, e))
        return false;
    sp->temperature = (float)temperature;
    sp->top_p = top_p > 1e-6 ? (float)top_p : 1e-6f; /* top_p 0: only the most likely token */
    sp->top_k = (int)top_k;
    sp->min_p = (float)min_p;
    sp->repeat_penalty = (float)rp;
    sp->frequency_penalty = (float)fp;
    sp->presence_penalty = (float)pp;
    j->penalties = rp != 1.0 || fp != 0 || pp != 0;
    if (seed_given) {
        sp->seed = (uint64_t)seed;
    } else if (getrandom(&sp->seed, sizeof sp->seed, 0) != (ssize_t)sizeof sp->seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        sp->seed = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec;
    }

    /* max_tokens (legacy) or max_completion_tokens: checked against the server's ceiling
     * now, against the context once the prompt is tokenized */
    bool mt_given = false;
    j->max_tokens = 0;
    if (!opt_int(root, "max_completion_tokens", 1, 1e15, &j->max_tokens, &mt_given, e)) return false;
    if (!mt_given && !opt_int(root, "max_tokens", 1, 1e15, &j->max_tokens, &mt_given, e)) return false;
    if (mt_given && j->max_tokens > s->max_tokens) {
        fail(e, 400, "max_tokens", "invalid_value", "max_tokens is too large: %lld. This server allows at most %lld completion tokens.",
             (long long)j->max_tokens, (long long)s->max_tokens);
        return false;
    }
    if (!parse_stop(root, j, e)) return false;
    return true;
}

/* messages -> [{"role","content"}] with content flattened to a string (text parts joined),
 * the shape chat templates expect. */
static cJSON *normalize_messages(const cJSON *root, api_error *e)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!msgs) return (cJSON *)fail(e, 400, "messages", "missing_required_parameter", "Missing required parameter: 'messages'.");
    if (!cJSON_IsArray(msgs))
        return (cJSON *)fail(e, 400, "messages", "invalid_type", "Invalid type for 'messages': expected an array, but got %s instead.",
                             type_name(msgs));
    if (cJSON_GetArraySize(msgs) == 0)
        return (cJSON *)fail(e, 400, "messages", "invalid_value", "Invalid 'messages': empty array. Expected an array with minimum length 1.");
    cJSON *out = cJSON_CreateArray();
    if (!out) return (cJSON *)fail(e, 500, NULL, NULL, "out of memory");
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        if (!cJSON_IsObject(m)) {
            fail(e, 400, "messages", "invalid_type", "Invalid type for 'messages[%d]': expected an object, but got %s instead.", i,
                 type_name(m));
            goto bad;
        }
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!role) {
            fail(e, 400, "messages", "missing_required_parameter", "Missing required parameter: 'messages[%d].role'.", i);
            goto bad;
        }
        if (!cJSON_IsString(role)) {
            fail(e, 400, "messages", "invalid_type", "Invalid type for 'messages[%d].role': expected a string, but got %s instead.", i,
                 type_name(role));
            goto bad;
        }
        const char *r = role->valuestring;
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "developer") && strcmp(r, "tool")) {
            fail(e, 400, "messages", "invalid_value",
                 "Invalid value for 'messages[%d].role': '%.40s'. Supported values are: 'system', 'developer', 'user', "
                 "'assistant' and 'tool'.", i, r);
            goto bad;
        }
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        cJSON *text = NULL;
        if (!content || cJSON_IsNull(content)) {
            if (strcmp(r, "assistant") != 0) {
                fail(e, 400, "messages", "missing_required_parameter", "Missing required parameter: 'messages[%d].content'.", i);
                goto bad;
            }
            text = cJSON_CreateString("");
        } else if (cJSON_IsString(content)) {
            text = cJSON_CreateString(content->valuestring);
        } else if (cJSON_IsArray(content)) {
            /* content parts: only text */
            size_t total = 0;
            const cJSON *part;
            int k = 0;
            cJSON_ArrayForEach(part, content)
            {
                const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
                if (!cJSON_IsObject(part) || !cJSON_IsString(type)) {
                    fail(e, 400, "messages", "invalid_type", "Invalid 'messages[%d].content[%d]': expected an object with a 'type'.", i, k);
                    goto bad;
                }
                if (strcmp(type->valuestring, "text") != 0) {
                    fail(e, 400, "messages", "unsupported_content",
                         "Invalid 'messages[%d].content[%d]': content of type '%.32s' is not supported (text only).", i, k,
                         type->valuestring);
                    goto bad;
                }
                if (!cJSON_IsString(t)) {
                    fail(e, 400, "messages", "invalid_type", "Invalid 'messages[%d].content[%d].text': expected a string.", i, k);
                    goto bad;
                }
                total += strlen(t->valuestring);
                k++;
            }
            char *joined = fg_malloc(FG_MEM_RUNTIME, total + 1);
            if (!joined) {
                fail(e, 500, NULL, NULL, "out of memory");
                goto bad;
            }
            size_t off = 0;
            cJSON_ArrayForEach(part, content)
            {
                const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
                size_t l = strlen(t);
                memcpy(joined + off, t, l);
                off += l;
            }
            joined[off] = 0;
            text = cJSON_CreateString(joined);
            fg_free(joined);
        } else {
            fail(e, 400, "messages", "invalid_type",
                 "Invalid type for 'messages[%d].content': expected a string or an array of content parts, but got %s instead.", i,
                 type_name(content));
            goto bad;
        }
        /* OpenAI's "developer" role is the system prompt of newer models: templates know
         * it as "system" */
        if (!strcmp(r, "developer")) r = "system";
        cJSON *o = cJSON_CreateObject();
        if (!o || !text || !cJSON_AddStringToObject(o, "role", r)) {
            cJSON_Delete(o);
            cJSON_Delete(text);
            fail(e, 500, NULL, NULL, "out of memory");
            goto bad;
        }
        cJSON_AddItemToObject(o, "content", text);
        cJSON_AddItemToArray(out, o);
        i++;
    }
    return out;
bad:
    cJSON_Delete(out);
    return NULL;
}

/* prompt: a string, an array of one string, an array of token ids, or an array of one
 * such array. Sets *text or fills ids. */
static bool parse_prompt(fg_server *s, const cJSON *root, const char **text, job *j, api_error *e)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!p) {
        fail(e, 400, "prompt", "missing_required_parameter", "Missing required parameter: 'prompt'.");
        return false;
    }
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && (cJSON_IsString(p->child) || cJSON_IsArray(p->child)))
        p = p->child;
    if (cJSON_IsString(p)) {
        *text = p->valuestring;
        return true;
    }
    if (!cJSON_IsArray(p)) {
        fail(e, 400, "prompt", "invalid_type", "Invalid type for 'prompt': expected a string or an array of token ids, but got %s instead.",
             type_name(p));
        return false;
    }
    int n = cJSON_GetArraySize(p);
    if (n == 0) {
        fail(e, 400, "prompt", "invalid_value", "Invalid 'prompt': empty array.");
        return false;
    }
    if (cJSON_IsString(p->child) || cJSON_IsArray(p->child)) {
        fail(e, 400, "prompt", "invalid_value", "Invalid 'prompt': this server completes one prompt per request, got %d.", n);
        return false;
    }
    if (n > s->max_prompt) {
        fail(e, 400, "prompt", "context_length_exceeded", "The prompt has %d tokens; this server accepts at most %lld.", n,
             (long long)s->max_prompt);
        return false;
    }
    j->prompt = fg_malloc(FG_MEM_RUNTIME, (size_t)n * sizeof(int32_t));
    if (!j->prompt) {
        fail(e, 500, NULL, NULL, "out of memory");
        return false;
    }
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, p)
    {
        if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 0 ||
            it->valuedouble >= (double)s->n_vocab) {
            fail(e, 400, "prompt", "invalid_value", "Invalid 'prompt[%d]': expected a token id in 0..%lld.", i, (long long)s->n_vocab - 1);
            return false;
        }
        j->prompt[i++] = (int32_t)it->valuedouble;
    }
    j->n_prompt = n;
    return true;
}

static void make_id(job *j, const char *prefix)
{
    uint8_t r[12];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)j;
        for (size_t i = 0; i < sizeof r; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            r[i] = (uint8_t)(x >> 56);
        }
    }
    int o = snprintf(j->id, sizeof j->id, "%s", prefix);
    for (size_t i = 0; i < sizeof r && o + 2 < (int)sizeof j->id; i++) o += snprintf(j->id + o, sizeof j->id - (size_t)o, "%02x", r[i]);
}

job *api_parse_request(fg_server *s, srv_route r, const char *body, size_t len, api_error *e)
{
    memset(e, 0, sizeof *e);
    uint64_t fails = fg_mem_failures();
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root && fg_mem_failures() != fails)
        return fail(e, 503, NULL, "out_of_memory", "The server ran out of memory parsing the request body.");
    if (!root)
        return fail(e, 400, NULL, "invalid_json",
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
                    "library correctly. The OpenAI API expects a JSON payload.)");
    job *j = NULL;
    cJSON *msgs = NULL;
    char *rendered = NULL;
    if (!cJSON_IsObject(root)) {
        fail(e, 400, NULL, "invalid_type", "The request body must be a JSON object, got %s.", type_name(root));
        goto out;
    }
    j = job_new();
    if (!j) {
        fail(e, 500, NULL, NULL, "out of memory");
        goto out;
    }
    j->kind = r == ROUTE_CHAT ? JOB_CHAT : JOB_COMPLETION;
    if (!parse_common(s, root, j, e)) goto bad;

    const char *text = NULL;
    bool add_bos = false;
    const char *param = "prompt";
    if (j->kind == JOB_CHAT) {
        param = "messages";
        if (!(msgs = normalize_messages(root, e))) goto bad;
        fg_status st = chat_prompt_render(s, msgs, &rendered);
        if (st) {
            if (st == FG_ERR_UNSUPPORTED) fail(e, 400, "messages", "chat_template", "%s", fg_last_error());
            else if (st == FG_ERR_NOMEM) fail(e, 503, NULL, "out_of_memory", "%s", fg_last_error());
            else fail(e, 400, "messages", "chat_template", "The chat template could not render these messages: %s", fg_last_error());
            goto bad;
        }
        text = rendered;
        add_bos = false; /* templates write the BOS text themselves (HF: add_special_tokens=False) */
    } else {
        if (!parse_prompt(s, root, &text, j, e)) goto bad;
        add_bos = fg_tok_add_bos_default(s->tok);
    }
    if (text) {
        size_t n = 0;
        size_t tl = strlen(text);
        /* room for one token per byte, BOS and SentencePiece's leading "▁" (three byte
         * tokens at worst), capped by the prompt limit; encoded again in the rare case
         * that is too little */
        size_t cap = tl + 5 < (size_t)s->max_prompt + 1 ? tl + 5 : (size_t)s->max_prompt + 1;
        fg_status st = FG_OK;
        for (int pass = 0; pass < 2; pass++) {
            fg_free(j->prompt);
            j->prompt = fg_malloc(FG_MEM_RUNTIME, cap * sizeof(int32_t));
            if (!j->prompt) {
                fail(e, 500, NULL, NULL, "out of memory");
                goto bad;
            }
            st = fg_tok_encode(s->tok, text, tl, true, add_bos, j->prompt, cap, &n);
            if (st || n <= cap || (int64_t)n > s->max_prompt) break;
            cap = n;
        }
        if (st) {
            fail(e, 400, param, "tokenizer", "The prompt could not be tokenized: %s", fg_last_error());
            goto bad;
        }
        if ((int64_t)n > s->max_prompt) {
            fail(e, 400, param, "context_length_exceeded",
                 "This model's maximum prompt length is %lld tokens. However, your %s resulted in %zu tokens. Please reduce "
                 "the length of the %s.", (long long)s->max_prompt, param, n, param);
            goto bad;
        }
        j->n_prompt = (int64_t)n;
    }
    if (j->n_prompt == 0) {
        fail(e, 400, param, "invalid_value", "The %s is empty: there is nothing to continue.", param);
        goto bad;
    }
    int64_t room = s->n_ctx - j->n_prompt;
    if (j->max_tokens && j->n_prompt + j->max_tokens > s->n_ctx) {
        fail(e, 400, param, "context_length_exceeded",
             "This model's maximum context length is %lld tokens. However, you requested %lld tokens (%lld in the %s, %lld "
             "in the completion). Please reduce the length of the %s or completion.",
             (long long)s->n_ctx, (long long)(j->n_prompt + j->max_tokens), (long long)j->n_prompt, param,
             (long long)j->max_tokens, param);
        goto bad;
    }
    if (!j->max_tokens) j->max_tokens = room < s->max_tokens ? room : s->max_tokens;
    make_id(j, j->kind == JOB_CHAT ? "chatcmpl-" : "cmpl-");
    j->created = (int64_t)time(NULL);
    goto out;
bad:
    job_free(j);
    j = NULL;
out:
    fg_free(rendered);
    cJSON_Delete(msgs);
    cJSON_Delete(root);
    return j;
}

/* ---- responses ----------------------------------------------------------------------- */
static cJSON *usage_json(const job *j)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)j->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(j->n_prompt + j->n_gen));
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    if (d) cJSON_AddNumberToObject(d, "cached_tokens", (double)j->n_reused);
    return u;
}

static cJSON *ids_json(const int32_t *ids, int64_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

static cJSON *head_json(fg_server *s, const job *j, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", s->model_id);
    cJSON_AddStringToObject(o, "system_fingerprint", "frugal");
    return o;
}

cJSON *api_response_json(fg_server *s, const job *j)
{
    bool chat = j->kind == JOB_CHAT;
    cJSON *o = head_json(s, j, chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    /* cJSON copies bytes as they are: make sure the text is valid UTF-8 first */
    char *txt = fg_malloc(FG_MEM_RUNTIME, j->len * 3 + 1);
    if (txt) txt[utf8_sanitize(j->text, j->len, txt)] = 0;
    if (chat) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", txt ? txt : "");
        cJSON_AddNullToObject(m, "refusal");
    } else {
        cJSON_AddStringToObject(c, "text", txt ? txt : "");
    }
    fg_free(txt);
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", job_finish_str(j->finish));
    if (j->return_ids) cJSON_AddItemToObject(c, "token_ids", ids_json(j->ids, j->n_ids));
    cJSON_AddItemToObject(o, "usage", usage_json(j));
    if (j->return_ids) cJSON_AddItemToObject(o, "prompt_token_ids", ids_json(j->prompt, j->n_prompt));
    return o;
}

/* ---- streaming --------------------------------------------------------------------------
 * phases: START (chat: the chunk with the role) -> CONTENT (a chunk per call while text
 * is pending) -> TAIL (final chunk with finish_reason, the usage chunk when asked for,
 * "data: [DONE]") -> END. */
enum { SSE_START = 0, SSE_CONTENT, SSE_TAIL, SSE_END };

static const char chat_suffix[] = "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
static const char cmpl_suffix[] = "\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n";

static size_t build_prefix(fg_server *s, const job *j, sse_state *st)
{
    char model[400];
    size_t used;
    size_t ml = json_escape(s->model_id, strlen(s->model_id), model, sizeof model - 1, &used);
    model[ml] = 0;
    int n = snprintf(st->prefix, sizeof st->prefix,
                     "data: {\"id\":\"%s\",\"object\":\"%s\",\"created\":%lld,\"model\":\"%s\",\"system_fingerprint\":\"frugal\","
                     "\"choices\":[{%s",
                     j->id, j->kind == JOB_CHAT ? "chat.completion.chunk" : "text_completion", (long long)j->created, model,
                     j->kind == JOB_CHAT ? "\"index\":0,\"delta\":{\"content\":\"" : "\"text\":\"");
    st->n_prefix = n > 0 && (size_t)n < sizeof st->prefix ? (size_t)n : 0;
    st->suffix = j->kind == JOB_CHAT ? chat_suffix : cmpl_suffix;
    st->n_suffix = strlen(st->suffix);
    return st->n_prefix;
}

static bool append_event(char **buf, size_t *len, cJSON *o)
{
    char *js = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!js) return false;
    size_t l = strlen(js);
    char *nb = fg_realloc(*buf, *len + l + 9);
    if (!nb) {
        cJSON_free(js);
        return false;
    }
    memcpy(nb + *len, "data: ", 6);
    memcpy(nb + *len + 6, js, l);
    memcpy(nb + *len + 6 + l, "\n\n", 3);
    *buf = nb;
    *len += l + 8;
    cJSON_free(js);
    return true;
}

/* The closing events, built once when the job is done. */
static bool build_tail(fg_server *s, const job *j, sse_state *st)
{
    char *buf = fg_malloc(FG_MEM_RUNTIME, 1);
    size_t len = 0;
    if (!buf) return false;
    bool chat = j->kind == JOB_CHAT;
    bool ok = true;
    if (j->finish == FIN_ERROR) {
        cJSON *o = cJSON_CreateObject();
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "message", j->error[0] ? j->error : "generation failed");
        cJSON_AddStringToObject(e, "type", "server_error");
        cJSON_AddNullToObject(e, "param");
        cJSON_AddStringToObject(e, "code", "generation_failed");
        ok = append_event(&buf, &len, o);
    } else {
        cJSON *o = head_json(s, j, chat ? "chat.completion.chunk" : "text_completion");
        cJSON *choices = cJSON_AddArrayToObject(o, "choices");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToArray(choices, c);
        cJSON_AddNumberToObject(c, "index", 0);
        if (chat) cJSON_AddObjectToObject(c, "delta");
        else cJSON_AddStringToObject(c, "text", "");
        cJSON_AddNullToObject(c, "logprobs");
        cJSON_AddStringToObject(c, "finish_reason", job_finish_str(j->finish));
        if (j->return_ids) {
            cJSON_AddItemToObject(c, "token_ids", ids_json(j->ids, j->n_ids));
            cJSON_AddItemToObject(o, "prompt_token_ids", ids_json(j->prompt, j->n_prompt));
        }
        ok = append_event(&buf, &len, o);
        if (ok && j->include_usage) {
            cJSON *u = head_json(s, j, chat ? "chat.completion.chunk" : "text_completion");
            cJSON_AddArrayToObject(u, "choices");
            cJSON_AddItemToObject(u, "usage", usage_json(j));
            ok = append_event(&buf, &len, u);
        }
    }
    static const char done[] = "data: [DONE]\n\n";
    char *nb = ok ? fg_realloc(buf, len + sizeof done) : NULL;
    if (!nb) {
        fg_free(buf);
        return false;
    }
    memcpy(nb + len, done, sizeof done);
    st->tail = nb;
    st->n_tail = len + sizeof done - 1;
    st->tail_off = 0;
    return true;
}

ssize_t api_sse_next(fg_server *s, const job *j, sse_state *st, char *buf, size_t max)
{
    for (;;) {
        switch (st->phase) {
        case SSE_START:
            if (!build_prefix(s, j, st)) return -1;
            st->phase = SSE_CONTENT;
            if (j->kind == JOB_CHAT) {
                /* the first chunk carries the role, as OpenAI's do */
                static const char role[] = "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
                size_t p = st->n_prefix - strlen("\"content\":\"");
                const char *rc = "\"role\":\"assistant\",\"content\":\"";
                size_t rl = strlen(rc), need = p + rl + sizeof role - 1;
                if (need > max) return -1;
                memcpy(buf, st->prefix, p);
                memcpy(buf + p, rc, rl);
                memcpy(buf + p + rl, role, sizeof role - 1);
                return (ssize_t)need;
            }
            break;
        case SSE_CONTENT: {
            size_t avail = j->len - st->sent;
            bool done = j->state == JOB_DONE;
            size_t slice = done ? avail : utf8_boundary(j->text + st->sent, avail);
            if (slice > 0) {
                if (max < st->n_prefix + st->n_suffix + 16) return -1; /* cannot happen: 16 KiB buffers */
                memcpy(buf, st->prefix, st->n_prefix);
                size_t used;
                size_t w = json_escape(j->text + st->sent, slice, buf + st->n_prefix, max - st->n_prefix - st->n_suffix, &used);
                memcpy(buf + st->n_prefix + w, st->suffix, st->n_suffix);
                st->sent += used;
                return (ssize_t)(st->n_prefix + w + st->n_suffix);
            }
            if (!done) return 0;
            if (!build_tail(s, j, st)) return -1;
            st->phase = SSE_TAIL;
            break;
        }
        case SSE_TAIL: {
            size_t n = st->n_tail - st->tail_off;
            if (n > max) n = max;
            memcpy(buf, st->tail + st->tail_off, n);
            st->tail_off += n;
            if (st->tail_off == st->n_tail) st->phase = SSE_END;
            return (ssize_t)n;
        }
        default:
            return -1;
        }
    }
}

void api_sse_free(sse_state *st)
{
    fg_free(st->tail);
    st->tail = NULL;
}
