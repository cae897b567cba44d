#define _GNU_SOURCE /* pipe2 */
/* One suite entry in its own process: spawn `frugal bench ... --json --phase-fd 3`,
 * sample it from outside with a timeline on its pid (created once the pid is known), mark the phases it announces,
 * collect its report, and tell how it ended.
 *
 * The child's fds: stdout -> a pipe (its JSON report), stderr -> <out>/<name>.log,
 * 3 -> the phase pipe. It gets PR_SET_PDEATHSIG (SIGKILL), so a suite that dies does
 * not leave a model running.
 *
 * Exit detection uses waitid(WNOWAIT): the timeline is stopped while the child is still
 * a zombie, before it is reaped, so the sampler can never read a recycled pid. */
#include "suite/suite-impl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_REPORT ((size_t)8 << 20) /* a bench report is a few KiB; more is a runaway child */

double fg_suite_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t fg_suite_oom_kills(void)
{
    FILE *f = fopen("/proc/vmstat", "r");
    if (!f) return -1;
    char line[256];
    int64_t v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "oom_kill ", 9)) {
            v = strtoll(line + 9, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* envp = environ + extra ("KEY=VALUE" entries replace variables of the same name). */
static char **make_env(char *const *extra, int n_extra)
{
    int n = 0;
    while (environ[n]) n++;
    char **env = calloc((size_t)(n + n_extra + 1), sizeof *env);
    if (!env) return NULL;
    int k = 0;
    for (int i = 0; i < n; i++) {
        bool replaced = false;
        for (int j = 0; j < n_extra && !replaced; j++) {
            size_t kl = (size_t)(strchr(extra[j], '=') - extra[j]);
            replaced = !strncmp(environ[i], extra[j], kl + 1);
        }
        if (!replaced) env[k++] = environ[i];
    }
    for (int j = 0; j < n_extra; j++) env[k++] = extra[j];
    env[k] = NULL;
    return env;
}

/* Lines "phase NAME" from the pipe; partial lines wait in c->pbuf. */
static void read_phases(fg_suite_child *c, int fd, fg_timeline *tl)
{
    char buf[512];
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) {
        if (r == 0 || (errno != EINTR && errno != EAGAIN)) c->phase_eof = true;
        return;
    }
    for (ssize_t i = 0; i < r; i++) {
        char ch = buf[i];
        if (ch != '\n') {
            if (c->plen < sizeof c->pbuf - 1) c->pbuf[c->plen++] = ch;
            continue;
        }
        c->pbuf[c->plen] = 0;
        c->plen = 0;
        if (strncmp(c->pbuf, "phase ", 6) || !c->pbuf[6]) continue;
        const char *name = c->pbuf + 6;
        if (tl) fg_timeline_mark(tl, name);
        snprintf(c->phase, sizeof c->phase, "%s", name);
    }
}

static void read_report(fg_suite_child *c, int fd)
{
    if (c->out_len + 4096 > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 16384;
        char *nb = cap <= MAX_REPORT ? realloc(c->out, cap) : NULL;
        if (!nb) {
            /* too much output: drain and drop */
            char sink[4096];
            ssize_t r = read(fd, sink, sizeof sink);
            if (r <= 0 && (r == 0 || (errno != EINTR && errno != EAGAIN))) c->out_eof = true;
            c->out_overflow = true;
            return;
        }
        c->out = nb;
        c->out_cap = cap;
    }
    ssize_t r = read(fd, c->out + c->out_len, c->out_cap - c->out_len - 1);
    if (r > 0) {
        c->out_len += (size_t)r;
        c->out[c->out_len] = 0;
    } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        c->out_eof = true;
    }
}

/* fd `from` as fd `to`, inherited across exec (dup2 of an fd onto itself would keep its
 * close-on-exec flag). Async-signal-safe. */
static int move_fd(int from, int to)
{
    if (from == to) return fcntl(to, F_SETFD, 0) < 0;
    return dup2(from, to) < 0;
}

fg_status fg_suite_child_run(fg_suite_child *c, char *const *argv, char *const *extra_env, int n_env,
                             const char *log_path, double timeout_s, int interval_ms, fg_suite_tick_fn tick,
                             void *user)
{
    fg_timeline *tl = NULL;
    int out_pipe[2] = {-1, -1}, ph_pipe[2] = {-1, -1}, log_fd = -1;
    char **env = make_env(extra_env, n_env);
    fg_status st = FG_OK;
    if (!env) return fg_error(FG_ERR_NOMEM, "suite: out of memory");
    if (pipe2(out_pipe, O_CLOEXEC) || pipe2(ph_pipe, O_CLOEXEC)) {
        st = fg_error(FG_ERR_IO, "suite: pipe: %s", strerror(errno));
        goto done;
    }
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        st = fg_error(FG_ERR_IO, "suite: cannot create %s: %s", log_path, strerror(errno));
        goto done;
    }
    c->oom_before = fg_suite_oom_kills();
    double t_start = fg_suite_now_s();
    pid_t pid = fork();
    if (pid < 0) {
        st = fg_error(FG_ERR_IO, "suite: fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        /* the child: only async-signal-safe calls until exec */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (move_fd(out_pipe[1], 1) || move_fd(log_fd, 2) || move_fd(ph_pipe[1], 3)) _exit(127);
        execve(argv[0], argv, env);
        static const char msg[] = "frugal suite: cannot execute the frugal binary\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    c->pid = pid;
    close(out_pipe[1]);
    close(ph_pipe[1]);
    out_pipe[1] = ph_pipe[1] = -1;
    fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(ph_pipe[0], F_SETFL, O_NONBLOCK);
    fg_timeline_params tp = fg_timeline_default_params();
    tp.pid = pid;
    tp.interval_ms = interval_ms > 0 ? interval_ms : 10;
    tp.capacity = 8192;
    if ((st = fg_timeline_create(&tp, &tl)) || (st = fg_timeline_start(tl))) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fg_timeline_free(tl);
        goto done;
    }
    c->tl = tl;

    bool exited = false;
    double last_tick = 0;
    while (!exited || !c->out_eof || !c->phase_eof) {
        struct pollfd pf[2];
        int n = 0;
        if (!c->out_eof) pf[n++] = (struct pollfd){.fd = out_pipe[0], .events = POLLIN};
        if (!c->phase_eof) pf[n++] = (struct pollfd){.fd = ph_pipe[0], .events = POLLIN};
        if (n) {
            if (poll(pf, (nfds_t)n, 20) < 0 && errno != EINTR) break;
            for (int i = 0; i < n; i++) {
                if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                if (pf[i].fd == out_pipe[0]) read_report(c, out_pipe[0]);
                else read_phases(c, ph_pipe[0], tl);
            }
        } else {
            usleep(10000);
        }
        double now = fg_suite_now_s();
        if (!exited) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
                exited = true;
                if (tl) fg_timeline_stop(tl); /* still a zombie: the pid cannot be reused yet */
            } else if (timeout_s > 0 && now - t_start > timeout_s && !c->timed_out) {
                c->timed_out = true;
                kill(pid, SIGKILL);
            }
        }
        /* the pipes stay open if a grandchild inherited them: give up 2 s after the exit */
        if (exited && now - t_start > c->wall_s + 2 && c->wall_s > 0) break;
        if (exited && c->wall_s == 0) c->wall_s = now - t_start;
        if (tick && now - last_tick >= 0.1) {
            last_tick = now;
            tick(c, now - t_start, user);
        }
    }
    if (!exited) {
        kill(pid, SIGKILL);
        if (tl) fg_timeline_stop(tl);
    }
    if (c->wall_s == 0) c->wall_s = fg_suite_now_s() - t_start;
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
    }
    c->status = wst;
    c->oom_after = fg_suite_oom_kills();
done:
    if (out_pipe[0] >= 0) close(out_pipe[0]);
    if (out_pipe[1] >= 0) close(out_pipe[1]);
    if (ph_pipe[0] >= 0) close(ph_pipe[0]);
    if (ph_pipe[1] >= 0) close(ph_pipe[1]);
    if (log_fd >= 0) close(log_fd);
    free(env);
    return st;
}

void fg_suite_child_free(fg_suite_child *c)
{
    fg_timeline_free(c->tl);
    free(c->out);
    memset(c, 0, sizeof *c);
}
