/* The bench's read-bandwidth probe, isolated in a child process.
 *
 * Decode speed is bounded by memory bandwidth: every weight is read once per token, so
 * bandwidth / weight bytes per token is the ceiling the bench compares decode with. The
 * probe itself (core: fg_measure_read_bandwidth, all pool threads streaming a buffer far
 * larger than the caches, best of several passes) has to commit that buffer: run in the
 * bench's own process it would raise VmHWM and the allocator's peaks by 256 MiB and spoil
 * the memory figures the bench exists to report. So it runs in a forked child (the
 * "prober"), started before the caller has threads of its own: it creates its own pool,
 * then, for every request byte read from a pipe, measures (allocating the buffer and
 * freeing it again) and writes the figure (8 bytes) back. The bench asks before and
 * after each repetition, because the bandwidth a shared or virtual machine gives moves
 * by tens of percent from one minute to the next (seen here: 34 to 52 GB/s). */
#define _GNU_SOURCE 1 /* close_range */
#include "suite/suite.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static bool read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        got += (size_t)r;
    }
    return true;
}

static bool write_full(int fd, const void *buf, size_t n)
{
    size_t put = 0;
    while (put < n) {
        ssize_t w = write(fd, (const char *)buf + put, n - put);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        put += (size_t)w;
    }
    return true;
}

/* the child: no stdio, no exit handlers (_exit); ends when the request pipe closes */
static _Noreturn void prober_main(int req, int resp, int n_threads, size_t bytes)
{
    /* hold nothing of the parent's open: a pipe the suite waits on must see its end when
     * the bench does, whatever this child is doing */
    int lo = req < resp ? req : resp, hi = req < resp ? resp : req;
    if (lo > 3) close_range(3, (unsigned)lo - 1, 0);
    if (hi > lo + 1) close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
    close_range((unsigned)hi + 1, ~0u, 0);
    fg_pool *pool = NULL;
    if (fg_pool_create(n_threads, &pool) != FG_OK) _exit(1);
    char c;
    while (read_full(req, &c, 1)) {
        double gbs = fg_measure_read_bandwidth(pool, bytes);
        if (!write_full(resp, &gbs, sizeof gbs)) break;
    }
    fg_pool_free(pool);
    _exit(0);
}

fg_status fg_bw_prober_start(fg_bw_prober *p, int n_threads, size_t bytes)
{
    p->pid = -1;
    p->req = p->resp = -1;
    if (n_threads <= 0) n_threads = fg_physical_cores();
    int a[2], b[2];
    if (pipe(a) != 0) return fg_error(FG_ERR_IO, "bandwidth probe: pipe: %s", strerror(errno));
    if (pipe(b) != 0) {
        close(a[0]);
        close(a[1]);
        return fg_error(FG_ERR_IO, "bandwidth probe: pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(a[0]);
        close(a[1]);
        close(b[0]);
        close(b[1]);
        return fg_error(FG_ERR_IO, "bandwidth probe: fork: %s", strerror(e));
    }
    if (pid == 0) {
        close(a[1]);
        close(b[0]);
        prober_main(a[0], b[1], n_threads, bytes);
    }
    close(a[0]);
    close(b[1]);
    p->pid = pid;
    p->req = a[1];
    p->resp = b[0];
    p->bytes = bytes;
    return FG_OK;
}

/* ends the child; its wait status (0 if none was running) */
static int stop_child(fg_bw_prober *p)
{
    if (p->pid <= 0) return 0;
    close_fd(&p->req); /* the child reads EOF and exits */
    close_fd(&p->resp);
    int wst = 0;
    while (waitpid(p->pid, &wst, 0) < 0 && errno == EINTR) {
    }
    p->pid = -1;
    return wst;
}

double fg_bw_prober_measure(fg_bw_prober *p)
{
    if (p->pid <= 0) {
        fg_error(FG_ERR_INTERNAL, "bandwidth probe: not running");
        return -1;
    }
    /* a child that died makes write() raise SIGPIPE: ignored for this call */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old);
    double gbs = -1;
    bool ok = write_full(p->req, "m", 1) && read_full(p->resp, &gbs, sizeof gbs);
    sigaction(SIGPIPE, &old, NULL);
    if (ok && gbs > 0) return gbs;
    int wst = stop_child(p);
    if (WIFSIGNALED(wst))
        fg_error(FG_ERR_INTERNAL, "bandwidth probe: the child died of signal %d", WTERMSIG(wst));
    else
        fg_error(FG_ERR_NOMEM, "bandwidth probe: cannot measure with a %zu-byte buffer", p->bytes);
    return -1;
}

void fg_bw_prober_stop(fg_bw_prober *p) { (void)stop_child(p); }

double fg_bench_read_bandwidth(int n_threads, size_t bytes)
{
    fg_bw_prober p;
    if (fg_bw_prober_start(&p, n_threads, bytes) != FG_OK) return -1;
    double gbs = fg_bw_prober_measure(&p);
    fg_bw_prober_stop(&p);
    return gbs;
}
