/*
 * midge bench: the run (bench.h), driven from this process: the worker
 * processes, the four phases on one epoll loop, the figures merged, the
 * report and the verdict.
 *
 * Success when every device connected and every command was answered
 * without error; otherwise one line saying why. The report is printed (and
 * --json written) also for a run stopped early (stop_requested: SIGINT or
 * SIGTERM under `midge bench`), or one that failed once commands ran: the
 * figures until then.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_internal.h"

#define TICK_NS 20000000u      /* commander timers */
#define EVENTS_MAX 1024        /* epoll events per wait: devices come in crowds */
#define DISPLAY_NS 250000000u  /* live progress line: at most 4 updates a second */
#define RAMP_NS 100000000u     /* connect ramp samples for the plot */
#define STOP_TIMEOUT_NS 30000000000u /* workers disconnecting and reporting */
#define LAG_GRACE_NS 5000000000u     /* sending behind schedule before giving up */
#define MSGS_PER_EVENT 16

enum phase { PHASE_CONNECT, PHASE_COMMAND, PHASE_DRAIN, PHASE_STOP, PHASE_DONE };

struct worker {
    pid_t pid;
    int fd;
    bool ready;
    bool done;   /* FINAL, FAILED or gone */
    struct bench_fleet_stats ready_st; /* at READY: online count and memory */
    struct bench_fleet_stats st;       /* latest */
};

struct run {
    const struct bench_config *cfg;
    const struct bench_options *opts;
    struct worker workers[BENCH_MAX_WORKERS];
    struct bench_cmdr *cmdr;
    struct bench_fleet *fleet; /* the devices, when they share this process */
    bool local;                /* --workers 1: no worker process */
    int ep;
    enum phase phase;
    uint64_t start_ns;
    uint64_t connected_ns;
    uint64_t command_start_ns;
    uint64_t command_end_ns;
    uint64_t deadline_ns; /* of the current phase */
    uint64_t tick_ns;
    uint64_t display_ns;
    uint64_t ramp_ns;
    bool display;
    bool failed;
    bool interrupted; /* SIGINT or SIGTERM: report what was measured */
    char why[256];
    struct bench_ramp_point ramp[BENCH_RAMP_POINTS];
    size_t ramp_len;
};

void bench_error(const struct bench_options *o, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (o->error != NULL)
        o->error(o->prog, "%s", line);
    else
        fprintf(stderr, "%s: %s\n", o->prog, line);
}

static void run_fail(struct run *r, const char *why)
{
    if (r->failed)
        return;
    r->failed = true;
    snprintf(r->why, sizeof r->why, "%s", why);
}

static uint32_t run_online(const struct run *r)
{
    uint32_t online = 0;

    for (unsigned w = 0; w < r->cfg->workers; w++)
        online += r->workers[w].st.online;
    return online;
}

/* --- Workers ------------------------------------------------------------------- */

static void worker_child(const struct run *r, unsigned w, int fd, pid_t parent)
{
    /* A worker must not outlive the run, even if this process is killed. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    /* Ctrl-C reaches the whole process group; the parent decides. */
    signal(SIGINT, SIG_IGN);
    for (unsigned k = 0; k < w; k++)
        close(r->workers[k].fd);
    _exit(bench_fleet_run(r->cfg, w, fd));
}

static bool workers_start(struct run *r)
{
    pid_t parent = getpid();

    if (r->local)
        return true;
    for (unsigned w = 0; w < r->cfg->workers; w++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
            bench_error(r->opts, "socketpair: %s", strerror(errno));
            return false;
        }
        fflush(NULL); /* nothing buffered may be written twice */
        pid_t pid = fork();
        if (pid < 0) {
            bench_error(r->opts, "fork: %s", strerror(errno));
            close(sv[0]);
            close(sv[1]);
            return false;
        }
        if (pid == 0) {
            close(sv[0]);
            worker_child(r, w, sv[1], parent);
        }
        close(sv[1]);
        r->workers[w].pid = pid;
        r->workers[w].fd = sv[0];
    }
    return true;
}

static void worker_message(struct run *r, struct worker *wk, const struct bench_msg *m)
{
    char why[256];

    wk->st = m->stats;
    switch (m->type) {
    case BENCH_MSG_READY:
        wk->ready = true;
        wk->ready_st = m->stats;
        break;
    case BENCH_MSG_FAILED:
        wk->done = true;
        snprintf(why, sizeof why, "worker %u: %s", m->worker, m->reason);
        run_fail(r, why);
        break;
    case BENCH_MSG_FINAL:
        wk->done = true;
        break;
    default:
        break;
    }
}

static void worker_input(struct run *r, unsigned w)
{
    struct worker *wk = &r->workers[w];
    struct bench_msg m;

    for (int k = 0; k < MSGS_PER_EVENT && !wk->done; k++) {
        ssize_t n = recv(wk->fd, &m, sizeof m, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            wk->done = true;
            char why[96];
            snprintf(why, sizeof why, "worker %u exited unexpectedly", w);
            run_fail(r, why);
            return;
        }
        if (n == (ssize_t)sizeof m)
            worker_message(r, wk, &m);
    }
}

static void workers_stop(struct run *r)
{
    struct bench_msg m;

    /* In this process: FINAL (or FAILED) arrives before this returns. */
    if (r->local) {
        if (r->fleet != NULL)
            bench_fleet_close(r->fleet);
        return;
    }
    memset(&m, 0, sizeof m);
    m.type = BENCH_MSG_STOP;
    for (unsigned w = 0; w < r->cfg->workers; w++) {
        if (!r->workers[w].done)
            (void)send(r->workers[w].fd, &m, sizeof m, MSG_NOSIGNAL);
    }
}

/* Reap every worker; those still running after the stop phase are killed. */
static void workers_reap(struct run *r)
{
    if (r->local)
        return;
    for (unsigned w = 0; w < r->cfg->workers; w++) {
        struct worker *wk = &r->workers[w];
        if (wk->pid <= 0)
            continue;
        if (!wk->done)
            kill(wk->pid, SIGKILL);
        (void)waitpid(wk->pid, NULL, 0);
        close(wk->fd);
        wk->pid = 0;
    }
}

static bool workers_all(const struct run *r, bool ready)
{
    for (unsigned w = 0; w < r->cfg->workers; w++) {
        if (ready ? !r->workers[w].ready : !r->workers[w].done)
            return false;
    }
    return true;
}

/* --- Progress ----------------------------------------------------------------------- */

/* `force`: the last point, when the connect phase ends. */
static void ramp_sample(struct run *r, uint64_t now, bool force)
{
    if (!force && (r->phase != PHASE_CONNECT || now - r->ramp_ns < RAMP_NS))
        return;
    r->ramp_ns = now;
    /* Full: keep every other point, and sample half as often from now on. */
    if (r->ramp_len == BENCH_RAMP_POINTS) {
        for (size_t i = 0; i < BENCH_RAMP_POINTS / 2; i++)
            r->ramp[i] = r->ramp[2 * i + 1];
        r->ramp_len = BENCH_RAMP_POINTS / 2;
    }
    r->ramp[r->ramp_len++] =
        (struct bench_ramp_point){.ms = (uint32_t)((now - r->start_ns) / 1000000u),
                                  .online = run_online(r)};
}

static void display(struct run *r, uint64_t now)
{
    if (!r->display || now - r->display_ns < DISPLAY_NS)
        return;
    r->display_ns = now;
    const struct bench_cmdr_stats *cs = bench_cmdr_stats(r->cmdr);
    double secs = (double)(now - r->start_ns) / 1e9;
    uint32_t online = run_online(r);

    switch (r->phase) {
    case PHASE_CONNECT:
        fprintf(stderr, "\r\033[Kconnecting: %u/%u online, %.0f/s, %.1f s", online,
                r->cfg->devices, secs > 0 ? online / secs : 0.0, secs);
        break;
    case PHASE_COMMAND:
    case PHASE_DRAIN:
        fprintf(stderr, "\r\033[Kcommands: %llu sent, %llu replies, p99 %.3f ms, %llu timeouts, "
                        "%u online, %.1f/%u s",
                (unsigned long long)cs->sent, (unsigned long long)cs->replies,
                (double)bench_hist_percentile(bench_cmdr_hist(r->cmdr), 99.0) / 1e6,
                (unsigned long long)cs->timeouts, online,
                (double)(now - r->command_start_ns) / 1e9, r->cfg->duration_s);
        break;
    default:
        fprintf(stderr, "\r\033[Kdisconnecting %u devices", r->cfg->devices);
        break;
    }
    fflush(stderr);
}

static void display_end(const struct run *r)
{
    if (r->display)
        fprintf(stderr, "\r\033[K");
}

/* --- Phases ------------------------------------------------------------------------- */

static void enter_stop(struct run *r, uint64_t now)
{
    /* Stopped early: the command phase ends here. */
    if (r->phase == PHASE_COMMAND)
        r->command_end_ns = now;
    r->phase = PHASE_STOP;
    r->deadline_ns = now + STOP_TIMEOUT_NS;
    workers_stop(r);
}

static void enter_command(struct run *r, uint64_t now)
{
    ramp_sample(r, now, true);
    r->connected_ns = now;
    r->command_start_ns = now;
    r->phase = PHASE_COMMAND;
    r->deadline_ns = now + (uint64_t)r->cfg->duration_s * 1000000000u + LAG_GRACE_NS;
    /* Latency matters from now on (bench.h says why a short slice helps);
     * the connect phase, which keeps the process busy, ran with the default. */
    (void)bench_short_slice();
    bench_cmdr_start(r->cmdr);
}

static void step_connect(struct run *r, uint64_t now)
{
    if (workers_all(r, true) && bench_cmdr_ready(r->cmdr)) {
        enter_command(r, now);
        return;
    }
    if (now < r->deadline_ns)
        return;
    char why[200];
    snprintf(why, sizeof why, "only %u of %u devices connected within %u s", run_online(r),
             r->cfg->devices, r->cfg->connect_deadline_ms / 1000u);
    if (!bench_cmdr_ready(r->cmdr))
        snprintf(why, sizeof why, "the commander could not subscribe within %u s",
                 r->cfg->connect_deadline_ms / 1000u);
    run_fail(r, why);
}

/* The phase lasts the duration even with --rate 0 (an idle fleet), and
 * ends early only if sending fell hopelessly behind. */
static uint64_t step_command(struct run *r, uint64_t now)
{
    uint64_t wait = bench_cmdr_send_due(r->cmdr);
    uint64_t end = r->command_start_ns + (uint64_t)r->cfg->duration_s * 1000000000u;

    if ((wait == UINT64_MAX && now >= end) || now >= r->deadline_ns) {
        r->command_end_ns = now;
        r->phase = PHASE_DRAIN;
        r->deadline_ns = now + (uint64_t)BENCH_COMMAND_TIMEOUT_MS * 1000000u + TICK_NS;
        return 0;
    }
    if (wait == UINT64_MAX)
        wait = end - now;
    return wait;
}

static void step_drain(struct run *r, uint64_t now)
{
    if (bench_cmdr_outstanding(r->cmdr) == 0 || now >= r->deadline_ns)
        enter_stop(r, now);
}

/* Nanoseconds the loop may sleep; 0 = poll. */
static uint64_t run_step(struct run *r, uint64_t now)
{
    const char *why = NULL;

    if (bench_cmdr_failed(r->cmdr, &why))
        run_fail(r, why);
    if (r->opts->stop_requested != NULL && r->opts->stop_requested() && !r->failed) {
        r->interrupted = true;
        run_fail(r, "interrupted: the report covers the run until then");
    }
    if (r->failed && r->phase < PHASE_STOP) {
        enter_stop(r, now);
        return 0;
    }
    switch (r->phase) {
    case PHASE_CONNECT:
        step_connect(r, now);
        return TICK_NS;
    case PHASE_COMMAND:
        return step_command(r, now);
    case PHASE_DRAIN:
        step_drain(r, now);
        return TICK_NS;
    case PHASE_STOP:
        if (workers_all(r, false) || now >= r->deadline_ns)
            r->phase = PHASE_DONE;
        return TICK_NS;
    case PHASE_DONE:
        break;
    }
    return 0;
}

/* epoll_pwait2 takes the wait in nanoseconds: the loop wakes when the next
 * command is due, not at the next whole millisecond, with no timer
 * descriptor to re-arm per command. Kernels before 5.11 lack it; there
 * the wait is rounded up to milliseconds (waking early only costs a loop,
 * waking late delays a command). */
static int wait_events(int ep, struct epoll_event *evs, int max, uint64_t wait_ns)
{
    static bool no_pwait2;

    if (!no_pwait2) {
        struct timespec ts = {.tv_sec = (time_t)(wait_ns / 1000000000u),
                              .tv_nsec = (long)(wait_ns % 1000000000u)};
        int n = epoll_pwait2(ep, evs, max, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = true;
    }
    return epoll_wait(ep, evs, max, (int)((wait_ns + 999999u) / 1000000u));
}

static void run_events(struct run *r, uint64_t wait_ns)
{
    static struct epoll_event evs[EVENTS_MAX];
    int n = wait_events(r->ep, evs, EVENTS_MAX, wait_ns);
    uint32_t now_ms = n > 0 ? midge_clock_ms() : 0;

    for (int k = 0; k < n; k++) {
        uint64_t tag = evs[k].data.u64;
        unsigned index = (unsigned)(tag & 0xffffffffu);
        switch (BENCH_EP_KIND(tag)) {
        case BENCH_EP_WORKER:
            worker_input(r, index);
            break;
        case BENCH_EP_DEV:
            if (r->fleet != NULL)
                bench_fleet_io(r->fleet, index, evs[k].events, now_ms);
            break;
        default:
            bench_cmdr_io(r->cmdr, index, evs[k].events);
            break;
        }
    }
}

static void run_loop(struct run *r)
{
    /* Bounded: every phase has a deadline, and DONE ends the loop. */
    while (r->phase != PHASE_DONE) {
        uint64_t now = bench_now_ns();
        if (now - r->tick_ns >= TICK_NS) {
            r->tick_ns = now;
            bench_cmdr_tick(r->cmdr);
        }
        uint64_t wait = run_step(r, now);
        ramp_sample(r, now, false);
        display(r, now);
        if (r->phase == PHASE_DONE)
            break;
        /* The devices' own timers, when they live here. */
        if (r->fleet != NULL && r->phase < PHASE_STOP) {
            int ms = bench_fleet_step(r->fleet, (uint32_t)(now / 1000000u));
            if (ms >= 0 && (uint64_t)ms * 1000000u < wait)
                wait = (uint64_t)ms * 1000000u;
        }
        /* The commander's timers: no later than the next tick. */
        uint64_t tick_left = r->tick_ns + TICK_NS - now;
        if (wait > tick_left)
            wait = tick_left;
        run_events(r, wait);
    }
}

/* --- Results ----------------------------------------------------------------------- */

static void merge(const struct run *r, struct bench_results *res)
{
    struct bench_fleet_stats *f = &res->fleet;

    memset(f, 0, sizeof *f);
    for (unsigned w = 0; w < r->cfg->workers; w++) {
        const struct worker *wk = &r->workers[w];
        f->devices += wk->st.devices;
        f->online += wk->ready ? wk->ready_st.online : wk->st.online;
        f->attempts += wk->st.attempts;
        f->retries += wk->st.retries;
        f->disconnects += wk->st.disconnects;
        f->errors += wk->st.errors;
        f->commands += wk->st.commands;
        f->duplicates += wk->st.duplicates;
        f->commanded += wk->st.commanded;
        f->rejected += wk->st.rejected;
        /* Memory: the sum of every worker's growth (statm at READY). */
        if (wk->ready && wk->ready_st.rss_after > wk->ready_st.rss_before)
            f->rss_after += wk->ready_st.rss_after - wk->ready_st.rss_before;
        if (wk->ready_st.connect_ns > f->connect_ns)
            f->connect_ns = wk->ready_st.connect_ns;
    }
}

/* The one line for a run that completed but went wrong, or NULL. */
static const char *verdict(const struct bench_results *res, char *buf, size_t cap)
{
    const struct bench_cmdr_stats *c = res->cmd;
    uint64_t errors = c->errors + res->fleet.errors + res->fleet.rejected + res->fleet.disconnects;

    if (c->timeouts != 0 || errors != 0) {
        snprintf(buf, cap, "%llu command%s timed out, %llu error%s",
                 (unsigned long long)c->timeouts, c->timeouts == 1 ? "" : "s",
                 (unsigned long long)errors, errors == 1 ? "" : "s");
        return buf;
    }
    if (res->cfg->rate != 0 && c->replies == 0) {
        snprintf(buf, cap, "no command was answered");
        return buf;
    }
    /* Sending stopped behind schedule: the broker stopped taking commands
     * (it did not acknowledge them, so the window stayed full). */
    if (c->sent < c->planned) {
        snprintf(buf, cap, "only %llu of %llu commands were sent (%llu stalls)",
                 (unsigned long long)c->sent, (unsigned long long)c->planned,
                 (unsigned long long)c->stalls);
        return buf;
    }
    return NULL;
}

static bool run_report(struct run *r)
{
    struct bench_results res;
    char line[160];

    memset(&res, 0, sizeof res);
    res.cfg = r->cfg;
    merge(r, &res);
    res.connect_ns = r->connected_ns > r->start_ns ? r->connected_ns - r->start_ns : 0;
    res.command_ns = r->command_end_ns > r->command_start_ns
                         ? r->command_end_ns - r->command_start_ns : 0;
    res.cmd = bench_cmdr_stats(r->cmdr);
    res.latency = bench_cmdr_hist(r->cmdr);
    res.timeline = bench_cmdr_timeline(r->cmdr);
    res.ramp = r->ramp;
    res.ramp_len = r->ramp_len;

    bench_report_text(&res, stdout);
    fflush(stdout);
    bool ok = true;
    if (r->opts->json_path != NULL)
        ok = bench_report_json(&res, r->opts->json_path);
    if (r->opts->plot_path != NULL)
        ok = bench_report_plot(&res, r->opts->plot_path) && ok;
    /* A failed run has its own line (bench_main). */
    const char *bad = r->failed ? NULL : verdict(&res, line, sizeof line);
    if (bad != NULL) {
        bench_error(r->opts, "%s", bad);
        return false;
    }
    return ok;
}

/* --- Entry ----------------------------------------------------------------------------- */

/* Messages of a worker in this process arrive as calls. */
static void local_post(void *user, const struct bench_msg *m)
{
    struct run *r = user;

    if (m->worker < r->cfg->workers)
        worker_message(r, &r->workers[m->worker], m);
}

static bool run_setup(struct run *r)
{
    char why[256];

    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0) {
        bench_error(r->opts, "epoll: %s", strerror(errno));
        return false;
    }
    for (unsigned w = 0; w < r->cfg->workers && !r->local; w++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = BENCH_EP_WORKER | w};
        if (epoll_ctl(r->ep, EPOLL_CTL_ADD, r->workers[w].fd, &ev) != 0) {
            bench_error(r->opts, "epoll: %s", strerror(errno));
            return false;
        }
    }
    r->cmdr = bench_cmdr_create(r->cfg, r->ep, why, sizeof why);
    if (r->cmdr == NULL) {
        bench_error(r->opts, "%s", why);
        return false;
    }
    /* After the commander: the fleet's "before" memory reading then
     * includes the commander's buffers, and only the devices count. */
    if (r->local)
        r->fleet = bench_fleet_open(r->cfg, 0, r->ep, BENCH_EP_DEV, local_post, r);
    return true;
}

static bool bench_main(struct run *r)
{
    bool ok = false;

    r->start_ns = bench_now_ns();
    r->ramp[r->ramp_len++] = (struct bench_ramp_point){.ms = 0, .online = 0};
    r->deadline_ns = r->start_ns + (uint64_t)r->cfg->connect_deadline_ms * 1000000u;
    r->display = isatty(STDERR_FILENO) == 1;
    r->local = r->cfg->workers == 1;
    /* Workers first: they must not inherit the commander's sockets. */
    if (!workers_start(r))
        goto done;
    if (r->opts->stop_arm != NULL)
        r->opts->stop_arm();
    if (!run_setup(r))
        goto done;
    run_loop(r);
    display_end(r);
    /* The devices are gone (the stop phase): what they retained goes too. */
    bool cleared = bench_cmdr_finish(r->cmdr);
    /* A run interrupted, or one that failed once commands ran, reports
     * what it measured; one that failed before has only its reason. */
    if (!r->failed || r->interrupted || r->command_start_ns != 0)
        ok = run_report(r);
    if (r->failed) {
        bench_error(r->opts, "%s", r->why);
        ok = false;
    } else if (ok && !cleared) {
        bench_error(r->opts, "the retained presence and state of the devices could not be removed");
        ok = false;
    }
done:
    workers_stop(r);
    workers_reap(r);
    bench_cmdr_destroy(r->cmdr);
    if (r->ep >= 0)
        close(r->ep);
    return ok;
}

bool bench_run(const struct bench_options *o)
{
    /* Static: the ramp and the worker table are large, and a run is one
     * per process. */
    static struct bench_config cfg;
    static struct run run;
    char why[256];

    if (!bench_configure(&cfg, o, why, sizeof why)) {
        bench_error(o, "%s", why);
        return false;
    }
    /* Before the run, not after it: a report that cannot be written would
     * waste the whole benchmark. */
    if ((o->json_path != NULL && !bench_report_writable(o, "--json", o->json_path)) ||
        (o->plot_path != NULL && !bench_report_writable(o, "--plot", o->plot_path)))
        return false;
    memset(&run, 0, sizeof run);
    run.cfg = &cfg;
    run.opts = o;
    run.ep = -1;
    return bench_main(&run);
}
