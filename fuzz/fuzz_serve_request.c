/* Fuzz target: the server's handling of a request, everything of it that is our code
 * and needs no model: the header checks (route from the URL, method, API key from
 * Authorization, declared Content-Length, shutdown), the /v1/memory query numbers, and
 * for POST /v1/chat/completions and /v1/completions the JSON body parsed, validated,
 * rendered with the chat template and tokenized into a job (api_parse_request), then the
 * answer of that job once "finished" (the JSON response, or the whole SSE stream).
 * libmicrohttpd's own HTTP parsing is not ours and is not fuzzed: the input is split here
 * the way it hands a request over.
 *
 * Input: byte 0 picks the server's configuration (bit 0: an API key "sk-fuzz"; bit 1:
 * no chat template; bit 2: small limits (context 64, max_tokens 16, bodies 4 KiB);
 * bit 3: shutting down). The rest is "METHOD URL" on the first line, "Name: value"
 * header lines up to an empty line, then the body.
 * The server is a stand-in (no model, no threads) with the Qwen2.5 tokenizer and its
 * chat template, loaded once.
 *
 * Invariants: the status is 2xx or 4xx (a 5xx only 503 "shutting_down" while stopping);
 * an error's body is well-formed JSON of OpenAI's shape with a non-empty message; an
 * accepted job fits its limits (1 <= prompt <= max_prompt, 1 <= max_tokens <= the
 * server's, prompt + max_tokens <= context, token ids in the vocabulary, at most 4
 * non-empty stop strings of at most 128 bytes, sampling values in range) and its answer
 * is well-formed JSON, or an SSE stream ending in [DONE]; no tagged byte is kept. */
#include "fuzz_util.h"
#include "serve/serve-impl.h"
#include "token/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static fg_tokenizer *tok;
static fg_chat_template *tmpl;
static char eos_text[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    size_t jl, cl;
    char *json = fz_read_source_xz("tests/data/tokenizers/qwen/tokenizer.json.xz", &jl);
    char *cfg = fz_read_source_file("tests/data/tokenizers/qwen/tokenizer_config.json", &cl);
    if (fg_tok_load_hf_json(json, jl, cfg, cl, "qwen", &tok) != FG_OK) fz_fail("cannot load qwen: %s", fg_last_error());
    free(json);
    free(cfg);
    const char *src = fg_tok_chat_template(tok);
    if (!src) src = fg_chat_builtin("chatml");
    if (fg_chat_template_compile(src, strlen(src), &tmpl) != FG_OK) fz_fail("template: %s", fg_last_error());
    fg_str e = fg_tok_piece(tok, fg_tok_eos(tok));
    if (e.ptr && e.len < (int64_t)sizeof eos_text) memcpy(eos_text, e.ptr, (size_t)e.len);
    return 0;
}

static void setup(fg_server *s, uint8_t cfg)
{
    memset(s, 0, sizeof *s);
    s->params = fg_serve_default_params();
    s->params.api_key = (cfg & 1) ? "sk-fuzz" : NULL;
    snprintf(s->model_id, sizeof s->model_id, "qwen-fuzz");
    s->tok = tok;
    s->chat_tmpl = (cfg & 2) ? NULL : tmpl;
    s->eos_text = eos_text[0] ? eos_text : NULL;
    s->n_vocab = fg_tok_vocab_size(tok);
    if (cfg & 4) {
        s->n_ctx = 64;
        s->max_tokens = 16;
        s->params.max_body = 4096;
    } else {
        s->n_ctx = 4096;
        s->max_tokens = 4096;
    }
    s->max_prompt = s->n_ctx - 1;
}

/* The first "Name: value" header of that name (case-insensitive), copied into out. */
static const char *header(const char *hdrs, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = hdrs, *end = hdrs + n; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            size_t l = (size_t)(eol - v);
            if (l && v[l - 1] == '\r') l--;
            if (l >= cap) l = cap - 1;
            memcpy(out, v, l);
            out[l] = 0;
            return memchr(out, 0, l) ? NULL : out; /* a NUL inside: libmicrohttpd would not pass it */
        }
        p = eol + 1;
    }
    return NULL;
}

static void check_error_body(int status, const api_error *e)
{
    cJSON *o = http_error_json(e->type, e->param, e->code, e->message);
    char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!txt) fz_fail("status %d: no error body", status);
    cJSON *back = cJSON_Parse(txt);
    cJSON_free(txt);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(back, "error");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(err, "type");
    const cJSON *param = cJSON_GetObjectItemCaseSensitive(err, "param");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    if (!cJSON_IsObject(err) || !cJSON_IsString(msg) || !msg->valuestring[0] || !cJSON_IsString(type) ||
        !(cJSON_IsString(param) || cJSON_IsNull(param)) || !(cJSON_IsString(code) || cJSON_IsNull(code)))
        fz_fail("status %d: the error body is not OpenAI's shape", status);
    cJSON_Delete(back);
}

static void check_job(fg_server *s, srv_route r, job *j)
{
    if (j->kind != (r == ROUTE_CHAT ? JOB_CHAT : JOB_COMPLETION)) fz_fail("job kind does not match the route");
    if (j->n_prompt < 1 || j->n_prompt > s->max_prompt || !j->prompt) fz_fail("prompt of %lld tokens accepted", (long long)j->n_prompt);
    if (j->max_tokens < 1 || j->max_tokens > s->max_tokens) fz_fail("max_tokens %lld accepted", (long long)j->max_tokens);
    if (j->n_prompt + j->max_tokens > s->n_ctx) fz_fail("prompt + max_tokens exceed the context");
    for (int64_t i = 0; i < j->n_prompt; i++)
        if (j->prompt[i] < 0 || j->prompt[i] >= s->n_vocab) fz_fail("token id %d outside the vocabulary", j->prompt[i]);
    if (j->n_stop < 0 || j->n_stop > JOB_MAX_STOP) fz_fail("%d stop strings", j->n_stop);
    for (int i = 0; i < j->n_stop; i++) {
        size_t l = strnlen(j->stop_buf[i], JOB_MAX_STOP_LEN + 1);
        if (l == 0 || l > JOB_MAX_STOP_LEN) fz_fail("stop string %d of %zu bytes", i, l);
    }
    const fg_sampler_params *sp = &j->sampling;
    if (!(sp->temperature >= 0 && sp->temperature <= 2) || !(sp->top_p > 0 && sp->top_p <= 1) ||
        !(sp->min_p >= 0 && sp->min_p <= 1) || sp->top_k < 0 || !(sp->repeat_penalty > 0 && sp->repeat_penalty <= 10) ||
        !(sp->frequency_penalty >= -2 && sp->frequency_penalty <= 2) || !(sp->presence_penalty >= -2 && sp->presence_penalty <= 2))
        fz_fail("sampling values out of range");
    if (!j->id[0] || !memchr(j->id, 0, sizeof j->id)) fz_fail("no id");

    /* the answer of the finished job (no text: the generation is not run) */
    j->state = JOB_DONE;
    j->finish = FIN_STOP;
    if (!j->stream) {
        cJSON *o = api_response_json(s, j);
        char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!txt) fz_fail("no response body");
        cJSON *back = cJSON_Parse(txt);
        cJSON_free(txt);
        if (!cJSON_IsObject(back) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(back, "choices")))
            fz_fail("the response is not well-formed JSON with choices");
        cJSON_Delete(back);
        return;
    }
    sse_state st;
    memset(&st, 0, sizeof st);
    static char buf[32 * 1024];
    size_t total = 0;
    char last[16] = {0};
    for (int i = 0;; i++) {
        if (i > 64) fz_fail("the stream does not end");
        ssize_t n = api_sse_next(s, j, &st, buf, sizeof buf);
        if (n < 0) break;
        if (n == 0) fz_fail("a finished job's stream waits for more text");
        total += (size_t)n;
        size_t k = (size_t)n < sizeof last - 1 ? (size_t)n : sizeof last - 1;
        memcpy(last, buf + n - k, k);
        last[k] = 0;
    }
    api_sse_free(&st);
    if (!total || !strstr(last, "[DONE]\n\n")) fz_fail("the stream does not end with [DONE]");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    fg_server s;
    setup(&s, data[0]);
    bool stopping = data[0] & 8;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    /* request line */
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    char line[512];
    size_t ll = (size_t)(eol - p) < sizeof line - 1 ? (size_t)(eol - p) : sizeof line - 1;
    memcpy(line, p, ll);
    line[ll] = 0;
    if (ll && line[ll - 1] == '\r') line[--ll] = 0;
    if (strlen(line) != ll) return 0; /* a NUL in the request line: not a request libmicrohttpd passes on */
    char *sp = strchr(line, ' ');
    if (!sp) return 0;
    *sp = 0;
    const char *method = line;
    char *url = sp + 1;
    char *q = strchr(url, '?');
    if (q) *q++ = 0;
    /* headers up to an empty line, then the body */
    const char *hdrs = eol < end ? eol + 1 : end, *body = hdrs;
    while (body < end) {
        const char *e2 = memchr(body, '\n', (size_t)(end - body));
        if (!e2) { body = end; break; }
        bool empty = e2 == body || (e2 == body + 1 && *body == '\r');
        body = e2 + 1;
        if (empty) break;
    }
    size_t hlen = (size_t)(body - hdrs), blen = (size_t)(end - body);
    char auth[256], clen[64];
    const char *authorization = header(hdrs, hlen, "Authorization", auth, sizeof auth);
    const char *content_length = header(hdrs, hlen, "Content-Length", clen, sizeof clen);

    fz_mem_mark();
    srv_route route;
    const char *allow = NULL;
    api_error e;
    int status = http_check_headers(&s, stopping, method, url, authorization, content_length, &route, &allow, &e);
    if (!allow || !allow[0]) fz_fail("no Allow set");
    if (status == 0 && route == ROUTE_MEMORY && q) {
        /* the query arguments libmicrohttpd would pass (not unescaped here) */
        for (char *a = strtok(q, "&"); a; a = strtok(NULL, "&")) {
            char *v = strchr(a, '=');
            if (v) *v++ = 0;
            double d = http_query_double(v, 300, 1, 86400);
            if (!(d >= 1 && d <= 86400)) fz_fail("query %s=%s gave %g", a, v ? v : "", d);
        }
    }
    if (status == 0 && (route == ROUTE_CHAT || route == ROUTE_COMPLETIONS)) {
        if (blen > s.params.max_body) {
            status = 413; /* on_request refuses it before the parse */
        } else {
            char *b = fg_malloc(FG_MEM_RUNTIME, blen + 1); /* the server's body buffer is NUL-terminated */
            if (!b) fz_fail("out of memory");
            memcpy(b, body, blen);
            b[blen] = 0;
            job *j = api_parse_request(&s, route, b, blen, &e);
            fg_free(b);
            if (j) {
                check_job(&s, route, j);
                job_free(j);
            } else {
                status = e.status;
                if (!status) fz_fail("api_parse_request failed without a status");
            }
        }
    }
    if (status >= 500 && !(status == 503 && stopping && e.code && !strcmp(e.code, "shutting_down")))
        fz_fail("status %d for a request (%s): %s", status, e.code ? e.code : "-", e.message);
    if (status && status != 413 && (status < 400 || status > 599)) fz_fail("status %d", status);
    if (status && !(status == 413 && !e.type)) check_error_body(status, &e);
    fz_mem_check("request");
    return 0;
}
