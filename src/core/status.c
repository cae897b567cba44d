/* Errors and logging: a thread-local last-error message and a settable log callback. */
#include "core/status.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512];
static fg_log_fn log_fn;
static void *log_user;

const char *fg_status_str(fg_status s)
{
    switch (s) {
    case FG_OK: return "ok";
    case FG_ERR_ARG: return "invalid argument";
    case FG_ERR_IO: return "i/o error";
    case FG_ERR_FORMAT: return "malformed file";
    case FG_ERR_UNSUPPORTED: return "unsupported";
    case FG_ERR_NOMEM: return "out of memory";
    case FG_ERR_BUDGET: return "memory budget exceeded";
    case FG_ERR_CONTEXT: return "context full";
    case FG_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *fg_last_error(void) { return last_error; }

fg_status fg_error(fg_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    /* one line, always */
    for (char *p = last_error; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return s;
}

void fg_set_log(fg_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

void fg_log(fg_log_level level, const char *fmt, ...)
{
    if (!log_fn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(level, buf, log_user);
}
