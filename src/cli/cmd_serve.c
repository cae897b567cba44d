/* frugal serve MODEL [options]: the OpenAI-compatible server and the chat page
 * (src/serve/serve.h). SIGINT/SIGTERM shut down gracefully (a second one forces). */
#include "cli/cli.h"
#include "serve/serve.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(void)
{
    printf("usage: frugal serve MODEL [options]\n"
           "  --host ADDR          address to bind (default 127.0.0.1; 0.0.0.0 or :: for every interface)\n"
           "  --port N             port (default 8080; 0: any free port)\n"
           "  --api-key KEY        require 'Authorization: Bearer KEY' on /v1/* and /metrics\n"
           "                       (default: $FRUGAL_API_KEY when set)\n"
           "  --model-id NAME      the model's name in the API (default: the file name)\n"
           "  --chat-format NAME   a built-in chat format instead of the model's template\n"
           "                       (chatml, llama3, llama2, phi3, gemma, zephyr, mistral)\n"
           "  --ctx N              context size (default min(trained, 4096))\n"
           "  --threads N          threads (default: physical cores)\n"
           "  --batch N            prompt evaluation chunk (default 256)\n"
           "  --max-queue N        requests that may wait (default 16; more get 429)\n"
           "  --max-connections N  open connections (default 128)\n"
           "  --max-body SIZE      request body limit (default 1M; more gets 413)\n"
           "  --max-prompt N       prompt tokens limit (default ctx - 1)\n"
           "  --max-tokens N       largest max_tokens a request may ask for, and the default (default ctx)\n"
           "  --mem-limit SIZE     memory budget, e.g. 3G (default: the cgroup's or the available memory;\n"
           "                       'none': no budget)\n"
           "  --mem-margin SIZE    kept free below the limit (default max(64 MiB, 5%%))\n"
           "  --quant TYPE         quantize while loading (q8_0, q4_k_m, ...)\n"
           "  --kv-type T          KV cache type: f16 (default), f32, q8_0\n"
           "  --fit                choose the quantization and context that fit the budget\n"
           "  --grace MS           how long a running generation may go on after SIGTERM (default 5000)\n");
}

static void log_stderr(fg_log_level level, const char *msg, void *user)
{
    if (level >= FG_LOG_WARN) fprintf(stderr, "frugal: %s\n", msg);
}

int cmd_serve(int argc, char **argv)
{
    /* SIGINT/SIGTERM are taken synchronously by this thread (sigwait): block them before
     * any thread is created so that every thread inherits the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    fg_serve_params p = fg_serve_default_params();
    fg_plan_params plan = fg_plan_default_params();
    const char *model = NULL;
    const char *env_key = getenv("FRUGAL_API_KEY");
    if (env_key && *env_key) p.api_key = env_key;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        uint64_t sz;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
#define NEED_VALUE() do { if (!v) return cli_fail("serve: %s needs a value", a); i++; } while (0)
#define INT_OPT(flag, lo, hi, dst)                                                                      \
        else if (!strcmp(a, flag)) {                                                                    \
            NEED_VALUE();                                                                               \
            if (!cli_parse_int(v, lo, hi, &n)) return cli_fail("serve: %s wants %lld..%lld, got '%s'", flag, (long long)(lo), (long long)(hi), v); \
            dst = n;                                                                                    \
        }
        if (!strcmp(a, "--host")) {
            NEED_VALUE();
            p.host = v;
        } else if (!strcmp(a, "--api-key")) {
            NEED_VALUE();
            if (!*v) return cli_fail("serve: --api-key wants a non-empty key");
            p.api_key = v;
        } else if (!strcmp(a, "--model-id")) {
            NEED_VALUE();
            p.model_id = v;
        } else if (!strcmp(a, "--chat-format")) {
            NEED_VALUE();
            p.chat_format = v;
        }
        INT_OPT("--port", 0, 65535, p.port)
        INT_OPT("--ctx", 1, 1 << 24, p.n_ctx)
        INT_OPT("--threads", 1, 1024, p.n_threads)
        INT_OPT("--batch", 1, 1 << 16, p.n_batch)
        INT_OPT("--max-queue", 1, 1 << 16, p.max_queue)
        INT_OPT("--max-connections", 1, 1 << 16, p.max_connections)
        INT_OPT("--max-prompt", 1, 1 << 24, p.max_prompt_tokens)
        INT_OPT("--max-tokens", 1, 1 << 24, p.max_tokens)
        INT_OPT("--grace", 0, 3600 * 1000, p.shutdown_grace_ms)
        else if (!strcmp(a, "--max-body")) {
            NEED_VALUE();
            if (!cli_parse_size(v, &sz) || sz < 64 || sz > (1ull << 32))
                return cli_fail("serve: --max-body wants a size between 64 bytes and 4G, got '%s'", v);
            p.max_body = (size_t)sz;
        } else if (!strcmp(a, "--mem-limit")) {
            NEED_VALUE();
            if (!strcmp(v, "none")) p.mem_limit = -1;
            else if (!cli_parse_size(v, &sz) || sz == 0 || sz > (uint64_t)INT64_MAX)
                return cli_fail("serve: --mem-limit wants a size like 3G or 'none', got '%s'", v);
            else p.mem_limit = (int64_t)sz;
        } else if (!strcmp(a, "--quant") || !strcmp(a, "--kv-type") || !strcmp(a, "--mem-margin") || !strcmp(a, "--fit")) {
            if (cli_plan_option(argc, argv, &i, &plan) < 0) return 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("serve: unknown option '%s' (try `frugal serve --help`)", a);
        } else if (!model) {
            model = a;
        } else {
            return cli_fail("serve: unexpected argument '%s'", a);
        }
#undef INT_OPT
#undef NEED_VALUE
    }
    if (!model) return cli_fail("serve: no model given (usage: frugal serve MODEL [--port 8080])");
    fg_set_log(log_stderr, NULL);

    fg_server *srv = NULL;
    fg_status st = fg_serve_create(model, &p, &srv);
    if (st) return cli_fail_status(st, "serve: cannot load %s", model);
    if ((st = fg_serve_start(srv))) {
        cli_fail_status(st, "serve: cannot start");
        fg_serve_free(srv);
        return 1;
    }
    fg_serve_info info;
    fg_serve_get_info(srv, &info);
    char b1[32], b2[32];
    const char *host = p.host;
    bool v6 = strchr(host, ':') != NULL;
    printf("frugal: serving %s (context %lld, weights %s, budget %s) on http://%s%s%s:%d/\n", info.model_id,
           (long long)info.n_ctx, cli_bytes((uint64_t)info.weight_bytes, b1, sizeof b1),
           info.budget_limit >= 0 ? cli_bytes((uint64_t)info.budget_limit, b2, sizeof b2) : "none", v6 ? "[" : "", host,
           v6 ? "]" : "", fg_serve_port(srv));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {}
    fprintf(stderr, "frugal: %s: shutting down (send it again to stop at once)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    fg_serve_shutdown(srv);
    /* the running generation has the grace period; its answer a little more to drain */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double limit = p.shutdown_grace_ms / 1000.0 + 5.0;
    int rc = 0;
    for (;;) {
        if (fg_serve_wait(srv, 100)) break;
        struct timespec zero = {0, 0}, now;
        if (sigtimedwait(&sigs, NULL, &zero) > 0) {
            fprintf(stderr, "frugal: stopping now\n");
            rc = 1;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) * 1e-9 > limit) {
            fprintf(stderr, "frugal: some connections did not finish in time; closing them\n");
            break;
        }
    }
    fg_serve_free(srv);
    return rc;
}
