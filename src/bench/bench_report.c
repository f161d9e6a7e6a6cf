/*
 * midge bench: the figures of a run as text (stdout), as JSON (--json) and
 * as charts drawn by gnuplot (--plot). Latencies are round trips in
 * nanoseconds inside; reports use milliseconds (text) and microseconds
 * (JSON, plot data).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_internal.h"

/* gnuplot draws three charts into one picture in well under this. */
#define PLOT_TIMEOUT_MS 30000

static const char *plural(uint64_t n) { return n == 1 ? "" : "s"; }

static const char *profile_name(const struct bench_config *c)
{
    return c->onenet ? "onenet" : "mqtt";
}

static double seconds(uint64_t ns) { return (double)ns / 1e9; }

static double per_second(uint64_t n, uint64_t ns) { return ns != 0 ? (double)n / seconds(ns) : 0; }

static double to_us(uint64_t ns) { return (double)ns / 1e3; }

double bench_bytes_per_device(const struct bench_results *r)
{
    return r->fleet.online != 0 ? (double)r->fleet.rss_after / r->fleet.online : 0;
}

/* Everything that went wrong, as one count. */
static uint64_t total_errors(const struct bench_results *r)
{
    return r->cmd->errors + r->fleet.errors + r->fleet.rejected + r->fleet.disconnects;
}

/* "0.213 ms", "12.4 ms", "1.52 s". */
static const char *fmt_latency(uint64_t ns, char *buf, size_t cap)
{
    double ms = (double)ns / 1e6;

    if (ms < 10.0)
        snprintf(buf, cap, "%.3f ms", ms);
    else if (ms < 1000.0)
        snprintf(buf, cap, "%.1f ms", ms);
    else
        snprintf(buf, cap, "%.2f s", ms / 1000.0);
    return buf;
}

/* --- Text ---------------------------------------------------------------------- */

static void text_latency(const struct bench_results *r, FILE *out)
{
    static const struct {
        const char *name;
        double p;
    } marks[] = {{"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9}};
    char buf[32];

    fprintf(out, "latency:   ");
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        fprintf(out, "%s %s  ", marks[i].name,
                fmt_latency(bench_hist_percentile(r->latency, marks[i].p), buf, sizeof buf));
    fprintf(out, "max %s  (round trip, %llu replies)\n",
            fmt_latency(r->latency->max, buf, sizeof buf),
            (unsigned long long)r->latency->count);
}

void bench_report_text(const struct bench_results *r, FILE *out)
{
    const struct bench_config *c = r->cfg;
    const struct bench_cmdr_stats *s = r->cmd;
    const struct bench_fleet_stats *f = &r->fleet;

    fprintf(out, "midge bench: %u %s device%s over %u broker%s, %u worker%s, commands at QoS %u\n",
            c->devices, profile_name(c), plural(c->devices), c->broker_count,
            plural(c->broker_count), c->workers, plural(c->workers), (unsigned)c->qos);
    fprintf(out, "connect:   %u/%u online in %.2f s (%.0f connections/s), %llu retr%s\n",
            f->online, c->devices, seconds(r->connect_ns), per_second(f->online, r->connect_ns),
            (unsigned long long)f->retries, f->retries == 1 ? "y" : "ies");
    if (c->rate != 0) {
        fprintf(out, "commands:  %llu sent in %.2f s (%.1f/s of %u/s asked), %llu repl%s, "
                     "%llu timeout%s, %llu error%s\n",
                (unsigned long long)s->sent, seconds(r->command_ns),
                per_second(s->sent, r->command_ns), c->rate, (unsigned long long)s->replies,
                s->replies == 1 ? "y" : "ies", (unsigned long long)s->timeouts,
                plural(s->timeouts), (unsigned long long)total_errors(r),
                plural(total_errors(r)));
        text_latency(r, out);
    } else {
        fprintf(out, "commands:  none (--rate 0): the fleet stayed idle for %.2f s\n",
                seconds(r->command_ns));
    }
    fprintf(out, "memory:    %.0f B per connected device (RSS +%.1f MiB over %u devices)\n",
            bench_bytes_per_device(r), (double)f->rss_after / (1024.0 * 1024.0), f->online);
    fprintf(out, "devices:   %llu commands acted on by %u of %u, %llu repeated, %llu rejected, "
                 "%llu disconnect%s, %llu device error%s\n",
            (unsigned long long)f->commands, f->commanded, c->devices,
            (unsigned long long)f->duplicates,
            (unsigned long long)f->rejected, (unsigned long long)f->disconnects,
            plural(f->disconnects), (unsigned long long)f->errors, plural(f->errors));
}

/* --- JSON --------------------------------------------------------------------- */

static void json_latency(const struct bench_results *r, FILE *j)
{
    const struct bench_hist *h = r->latency;
    double mean = h->count != 0 ? (double)h->sum / (double)h->count : 0;

    fprintf(j, "  \"latency_us\": {\"count\": %llu, \"min\": %.3f, \"mean\": %.3f, "
               "\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p99_9\": %.3f, \"max\": %.3f},\n",
            (unsigned long long)h->count, to_us(h->count != 0 ? h->min : 0), mean / 1e3,
            to_us(bench_hist_percentile(h, 50.0)), to_us(bench_hist_percentile(h, 90.0)),
            to_us(bench_hist_percentile(h, 99.0)), to_us(bench_hist_percentile(h, 99.9)),
            to_us(h->max));
}

bool bench_report_json(const struct bench_results *r, const char *path)
{
    const struct bench_config *c = r->cfg;
    const struct bench_cmdr_stats *s = r->cmd;
    const struct bench_fleet_stats *f = &r->fleet;
    FILE *j = fopen(path, "w");

    if (j == NULL) {
        bench_error(c->opts, "cannot write %s: %s", path, strerror(errno));
        return false;
    }
    fprintf(j, "{\n  \"profile\": \"%s\",\n  \"devices\": %u,\n  \"connected\": %u,\n"
               "  \"brokers\": %u,\n  \"workers\": %u,\n  \"qos\": %u,\n",
            profile_name(c), c->devices, f->online, c->broker_count, c->workers,
            (unsigned)c->qos);
    fprintf(j, "  \"connect_seconds\": %.6f,\n  \"connections_per_second\": %.1f,\n"
               "  \"connect_attempts\": %llu,\n  \"connect_retries\": %llu,\n",
            seconds(r->connect_ns), per_second(f->online, r->connect_ns),
            (unsigned long long)f->attempts, (unsigned long long)f->retries);
    fprintf(j, "  \"rate\": %u,\n  \"duration_seconds\": %u,\n  \"command_seconds\": %.6f,\n"
               "  \"commands_planned\": %llu,\n  \"commands\": %llu,\n  \"replies\": %llu,\n"
               "  \"commands_per_second\": %.1f,\n",
            c->rate, c->duration_s, seconds(r->command_ns), (unsigned long long)s->planned,
            (unsigned long long)s->sent, (unsigned long long)s->replies,
            per_second(s->sent, r->command_ns));
    fprintf(j, "  \"timeouts\": %llu,\n  \"errors\": %llu,\n  \"command_errors\": %llu,\n"
               "  \"unmatched_replies\": %llu,\n  \"send_stalls\": %llu,\n",
            (unsigned long long)s->timeouts, (unsigned long long)total_errors(r),
            (unsigned long long)s->errors, (unsigned long long)s->unmatched,
            (unsigned long long)s->stalls);
    json_latency(r, j);
    fprintf(j, "  \"rss_growth_bytes\": %llu,\n  \"bytes_per_device\": %.1f,\n",
            (unsigned long long)f->rss_after, bench_bytes_per_device(r));
    fprintf(j, "  \"device_commands\": %llu,\n  \"devices_commanded\": %u,\n"
               "  \"device_duplicates\": %llu,\n"
               "  \"device_rejected\": %llu,\n  \"device_errors\": %llu,\n"
               "  \"disconnects\": %llu\n}\n",
            (unsigned long long)f->commands, f->commanded, (unsigned long long)f->duplicates,
            (unsigned long long)f->rejected, (unsigned long long)f->errors,
            (unsigned long long)f->disconnects);
    if (fclose(j) != 0) {
        bench_error(c->opts, "cannot write %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

/* --- Plot ----------------------------------------------------------------------- */

struct plot_dir {
    char dir[64];
    char ramp[96];
    char timeline[96];
    char hist[96];
    char script[96];
    char log[96];
};

static bool plot_paths(struct plot_dir *p)
{
    snprintf(p->dir, sizeof p->dir, "/tmp/midge-bench-XXXXXX");
    if (mkdtemp(p->dir) == NULL)
        return false;
    snprintf(p->ramp, sizeof p->ramp, "%s/ramp.dat", p->dir);
    snprintf(p->timeline, sizeof p->timeline, "%s/timeline.dat", p->dir);
    snprintf(p->hist, sizeof p->hist, "%s/latency.dat", p->dir);
    snprintf(p->script, sizeof p->script, "%s/plot.gp", p->dir);
    snprintf(p->log, sizeof p->log, "%s/gnuplot.log", p->dir);
    return true;
}

static void plot_cleanup(const struct plot_dir *p)
{
    unlink(p->ramp);
    unlink(p->timeline);
    unlink(p->hist);
    unlink(p->script);
    unlink(p->log);
    rmdir(p->dir);
}

static bool write_data(const struct bench_results *r, const struct plot_dir *p)
{
    FILE *ramp = fopen(p->ramp, "w");
    FILE *tl = fopen(p->timeline, "w");
    FILE *hist = fopen(p->hist, "w");
    bool ok = ramp != NULL && tl != NULL && hist != NULL;

    for (size_t i = 0; ok && i < r->ramp_len; i++)
        fprintf(ramp, "%.3f %u\n", r->ramp[i].ms / 1e3, r->ramp[i].online);
    for (uint32_t i = 0; ok && i < r->timeline->used; i++) {
        const struct bench_tl_slot *s = &r->timeline->slots[i];
        if (s->count == 0)
            continue;
        fprintf(tl, "%.3f %u %.3f %.3f %.3f\n", seconds(i * r->timeline->step_ns), s->count,
                to_us(bench_timeline_percentile(s, 50.0)) / 1e3,
                to_us(bench_timeline_percentile(s, 99.0)) / 1e3, to_us(s->max) / 1e3);
    }
    for (unsigned i = 0; ok && i < BENCH_HIST_BINS; i++) {
        if (r->latency->bins[i] != 0)
            fprintf(hist, "%.4f %.4f %llu\n", to_us(bench_hist_bin_low(i)) / 1e3,
                    to_us(bench_hist_bin_high(i) + 1u) / 1e3,
                    (unsigned long long)r->latency->bins[i]);
    }
    if (ramp != NULL)
        ok = fclose(ramp) == 0 && ok;
    if (tl != NULL)
        ok = fclose(tl) == 0 && ok;
    if (hist != NULL)
        ok = fclose(hist) == 0 && ok;
    return ok;
}

static bool write_script(const struct bench_results *r, const struct plot_dir *p,
                         const char *png)
{
    const struct bench_config *c = r->cfg;
    bool latency = r->latency->count != 0;
    FILE *g = fopen(p->script, "w");

    if (g == NULL)
        return false;
    /* pngcairo draws nicer text; plain png (libgd) is the fallback. */
    fprintf(g, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
               "  set terminal pngcairo size 1000,%d noenhanced font ',10'\n"
               "} else {\n  set terminal png size 1000,%d noenhanced\n}\n",
            latency ? 1200 : 400, latency ? 1200 : 400);
    fprintf(g, "set output '%s'\nset grid\nset key top left\n", png);
    fprintf(g, "set multiplot layout %d,1 title 'midge bench: %u devices, %u broker(s), "
               "%u command(s)/s at QoS %u'\n",
            latency ? 3 : 1, c->devices, c->broker_count, c->rate, (unsigned)c->qos);
    fprintf(g, "set title 'devices online while connecting'\nset xlabel 's'\n"
               "set ylabel 'devices'\nplot '%s' using 1:2 with lines lw 2 title 'online'\n",
            p->ramp);
    if (latency) {
        fprintf(g, "set title 'command round trip over time'\nset xlabel 's into the "
                   "command phase'\nset ylabel 'ms'\nset logscale y\n"
                   "plot '%s' using 1:3 with lines title 'p50', '' using 1:4 with lines "
                   "title 'p99', '' using 1:5 with lines title 'max'\nunset logscale y\n",
                p->timeline);
        fprintf(g, "set title 'round-trip histogram'\nset xlabel 'ms'\n"
                   "set ylabel 'commands'\nset logscale x\nset style fill solid 0.6\n"
                   "plot '%s' using (($1+$2)/2):3:($2-$1) with boxes title 'commands'\n",
                p->hist);
    }
    fprintf(g, "unset multiplot\n");
    return fclose(g) == 0;
}

/* gnuplot with its output in the log file; -1 when it could not be run. */
static int run_gnuplot(const struct plot_dir *p)
{
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execlp("gnuplot", "gnuplot", p->script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    /* Bounded: poll for the exit, then kill a gnuplot that hangs. */
    for (int waited = 0; waited < PLOT_TIMEOUT_MS; waited += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 126;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return 126;
}

/* gnuplot's first complaint, for the one-line message. */
static void first_log_line(const struct plot_dir *p, char *buf, size_t cap)
{
    FILE *f = fopen(p->log, "r");

    buf[0] = '\0';
    if (f == NULL)
        return;
    while (fgets(buf, (int)cap, f) != NULL) {
        buf[strcspn(buf, "\n")] = '\0';
        if (buf[0] != '\0' && strspn(buf, " ^") != strlen(buf))
            break;
    }
    fclose(f);
}

bool bench_report_plot(const struct bench_results *r, const char *path)
{
    const struct bench_options *o = r->cfg->opts;
    struct plot_dir p;
    char msg[160];

    if (!plot_paths(&p)) {
        bench_error(o, "no plot: cannot create a temporary directory: %s", strerror(errno));
        return true;
    }
    if (!write_data(r, &p) || !write_script(r, &p, path)) {
        bench_error(o, "no plot: cannot write its data in %s", p.dir);
        plot_cleanup(&p);
        return true;
    }
    int rc = run_gnuplot(&p);
    bool ok = true;
    if (rc == 127 || rc < 0) {
        bench_error(o, "no plot: gnuplot is not installed (or not on PATH)");
    } else if (rc != 0) {
        first_log_line(&p, msg, sizeof msg);
        bench_error(o, "no plot: gnuplot failed: %s", msg);
        ok = false;
    }
    plot_cleanup(&p);
    return ok;
}

bool bench_report_writable(const struct bench_options *o, const char *flag, const char *path)
{
    /* O_EXCL first: a file this check creates is removed again, one that
     * was there stays as it was (no O_TRUNC) until the report replaces it. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    bool created = fd >= 0;

    if (!created && errno == EEXIST)
        fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        bench_error(o, "cannot write %s %s: %s", flag, path, strerror(errno));
        return false;
    }
    close(fd);
    if (created)
        unlink(path);
    return true;
}
