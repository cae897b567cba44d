/* The bench's read-bandwidth probe, isolated in a child process.
 *
 * Decode speed is bounded by memory bandwidth: every weight is read once per token, so
 * bandwidth / weight bytes per token is the ceiling the bench compares decode with. The
 * probe itself (core: fg_measure_read_bandwidth, all pool threads streaming a buffer far
 * larger than the caches, best of several passes) has to commit that buffer: run in the
 * bench's own process it would raise VmHWM and the allocator's peaks by 256 MiB and spoil
 * the memory figures the bench exists to report. So it runs in a forked child, which
 * creates its own pool, measures, writes the figure (8 bytes) into a pipe and exits. */
#include "suite/suite.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

double fg_bench_read_bandwidth(int n_threads, size_t bytes)
{
    if (n_threads <= 0) n_threads = fg_physical_cores();
    int fds[2];
    if (pipe(fds) != 0) {
        fg_error(FG_ERR_IO, "bandwidth probe: pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fg_error(FG_ERR_IO, "bandwidth probe: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        /* the child: no stdio, no exit handlers (_exit) */
        close(fds[0]);
        double gbs = -1;
        fg_pool *pool = NULL;
        if (fg_pool_create(n_threads, &pool) == FG_OK) {
            gbs = fg_measure_read_bandwidth(pool, bytes);
            fg_pool_free(pool);
        }
        ssize_t w = write(fds[1], &gbs, sizeof gbs);
        _exit(w == (ssize_t)sizeof gbs && gbs > 0 ? 0 : 1);
    }
    close(fds[1]);
    double gbs = -1;
    size_t got = 0;
    while (got < sizeof gbs) {
        ssize_t r = read(fds[0], (char *)&gbs + got, sizeof gbs - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fds[0]);
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
    }
    if (got != sizeof gbs || !(gbs > 0)) {
        if (WIFSIGNALED(wst))
            fg_error(FG_ERR_INTERNAL, "bandwidth probe: the child died of signal %d", WTERMSIG(wst));
        else
            fg_error(FG_ERR_NOMEM, "bandwidth probe: cannot measure with a %zu-byte buffer", bytes);
        return -1;
    }
    return gbs;
}
