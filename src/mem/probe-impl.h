/* Helpers shared by the probe*.c, timeline.c and budget.c files (not public). */
#ifndef FG_MEM_PROBE_IMPL_H
#define FG_MEM_PROBE_IMPL_H

#include "mem/probe.h"

#include <sys/types.h>

/* The roots in force: the argument's field, else the environment, else the default. */
const char *fg_probe_proc_root(const fg_probe_roots *r);
const char *fg_probe_cgroup_root(const fg_probe_roots *r);
const char *fg_probe_sys_root(const fg_probe_roots *r);

/* Reads a whole (small) file into buf, NUL-terminated; returns its length (truncated to
 * size-1) or -1 with errno set. No allocation. */
ssize_t fg_probe_read(const char *path, char *buf, size_t size);

/* "Key:   1234 kB" lines (status, meminfo, smaps): for each field whose key starts a
 * line, stores the value in bytes ("kB" multiplies by 1024; no unit: as is). Fields
 * not present keep their value. Returns how many fields were found. */
typedef struct fg_probe_field {
    const char *key; /* without the colon */
    int64_t *dst;
} fg_probe_field;
int fg_probe_parse_fields(const char *text, const fg_probe_field *fields, int n);

/* Calls fn on each line of a file of any size (lines NUL-terminated, without the
 * newline; a line longer than 4095 bytes is passed truncated). fn returns false to stop.
 * Uses a stack buffer, no allocation. Returns 0, or -1 with errno set if the file cannot
 * be opened or read. */
typedef bool (*fg_probe_line_fn)(char *line, void *user);
int fg_probe_each_line(const char *path, fg_probe_line_fn fn, void *user);

/* Monotonic clock in microseconds. */
int64_t fg_probe_now_us(void);

#endif
