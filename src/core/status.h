/* Status codes, errors and logging, shared by every part of libfrugal. */
#ifndef FG_STATUS_H
#define FG_STATUS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fg_status {
    FG_OK = 0,
    FG_ERR_ARG,         /* bad argument from the caller */
    FG_ERR_IO,          /* open/read/write/map failed */
    FG_ERR_FORMAT,      /* the file is malformed, truncated or inconsistent */
    FG_ERR_UNSUPPORTED, /* well-formed, but an architecture/dtype/feature we do not handle */
    FG_ERR_NOMEM,       /* an allocation failed */
    FG_ERR_BUDGET,      /* the memory budget would be exceeded */
    FG_ERR_CONTEXT,     /* the context (KV cache) is full */
    FG_ERR_INTERNAL,
} fg_status;

const char *fg_status_str(fg_status s);

/* The last error message set on this thread (never NULL; "" when none). */
const char *fg_last_error(void);

/* Sets the thread's last error to a formatted message and returns `s`. */
fg_status fg_error(fg_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef enum fg_log_level { FG_LOG_DEBUG = 0, FG_LOG_INFO, FG_LOG_WARN, FG_LOG_ERROR } fg_log_level;
typedef void (*fg_log_fn)(fg_log_level level, const char *msg, void *user);
/* Installs the log callback (NULL: discard). Default: discard. */
void fg_set_log(fg_log_fn fn, void *user);
void fg_log(fg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
