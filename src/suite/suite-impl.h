/* Internals of the suite part shared by child.c, runner.c and the report writers. */
#ifndef FG_SUITE_IMPL_H
#define FG_SUITE_IMPL_H

#include "suite/suite.h"

#include <stdio.h>
#include <sys/types.h>

/* One child process being run (child.c). */
typedef struct fg_suite_child {
    pid_t pid;
    fg_timeline *tl;            /* samples of the child (owned; stopped once it exited) */
    int status;                 /* waitpid status */
    bool timed_out;             /* we killed it at the timeout */
    int64_t oom_before, oom_after; /* /proc/vmstat oom_kill around the run (-1: unknown) */
    double wall_s;
    char *out;                  /* its stdout (the JSON report), NUL-terminated */
    size_t out_len, out_cap;
    bool out_eof, out_overflow, phase_eof;
    char pbuf[128];             /* a partial phase line */
    size_t plen;
    char phase[32];             /* the phase it announced last */
} fg_suite_child;

typedef void (*fg_suite_tick_fn)(const fg_suite_child *c, double elapsed_s, void *user);

/* argv[0] is the binary's path. extra_env: "KEY=VALUE" added to (or replacing in) the
 * environment. c->tl samples the child every interval_ms from just after the fork until
 * it has exited. tick is called about every 100 ms. Fails only when the child could not
 * be started; c is zeroed by the caller and released with fg_suite_child_free. */
fg_status fg_suite_child_run(fg_suite_child *c, char *const *argv, char *const *extra_env, int n_env,
                             const char *log_path, double timeout_s, int interval_ms, fg_suite_tick_fn tick,
                             void *user);
void fg_suite_child_free(fg_suite_child *c);

double fg_suite_now_s(void);
/* The kernel's count of OOM kills (/proc/vmstat oom_kill, Linux 4.13+); -1 if unknown. */
int64_t fg_suite_oom_kills(void);

/* ---- report helpers (report.c) ---- */
/* A growing string buffer; on allocation failure it stays failed (s == NULL). */
typedef struct fg_sbuf {
    char *s;
    size_t len, cap;
    bool failed;
} fg_sbuf;
void fg_sbuf_printf(fg_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fg_sbuf_puts(fg_sbuf *b, const char *s);
/* Text with <, >, &, " escaped for XML/HTML. */
void fg_sbuf_xml(fg_sbuf *b, const char *s);
/* Returns the string (caller frees) or NULL when an allocation failed. */
char *fg_sbuf_take(fg_sbuf *b);

/* Numbers from a child's report (NULL-safe): -1 when absent. */
double fg_suite_num(const struct cJSON *o, const char *path);

/* "1.23 GB" (decimal gigabytes, as device sheets state RAM) or "512 MB". */
const char *fg_suite_gb(int64_t bytes, char *buf, size_t size);
/* "494M", "1.54B" */
const char *fg_suite_params_str(double n, char *buf, size_t size);
/* A short verdict for tables: "fits", "OVER LIMIT", "does not fit", "crashed (SIGABRT)"... */
const char *fg_suite_verdict_text(const fg_suite_result *r, char *buf, size_t size);

/* The table's columns and one row's cells (report.c; the HTML page uses them too). */
#define FG_SUITE_N_COLS 15
#define FG_SUITE_CELL 160
extern const char *const fg_suite_col_names[FG_SUITE_N_COLS];
void fg_suite_row_cells(const fg_suite_report *rep, int i, char cells[FG_SUITE_N_COLS][FG_SUITE_CELL]);

#endif
