/*
 * midge bench: the command line of the fleet simulator (src/bench/).
 *
 *   midge bench [broker flags] --devices N [--rate R] [--duration S] [--qos Q]
 *               [--bind ADDR-RANGE] [--workers W] [--json FILE] [--plot FILE.png]
 *               [--profile onenet --product-id P -P MASTER-KEY]
 *
 * The flags become the simulator's options; what the run does, what it
 * reports and when it succeeds are the simulator's (bench.h). Exit status
 * 0 when it succeeded, otherwise 1 with one line saying why; SIGINT and
 * SIGTERM stop a run early, with the figures until then.
 */
#include <string.h>

#include "bench.h"
#include "cli.h"

/* Every -h the parser keeps fits the simulator's list. */
_Static_assert(CLI_MAX_HOSTS <= BENCH_MAX_BROKERS, "bench takes fewer brokers than -h options");

static bool onenet(const struct cli_options *o)
{
    return o->profile != NULL && strcmp(o->profile, "onenet") == 0;
}

/* What only the command line can get wrong; false after one error line. */
static bool check_flags(const struct cli_options *o)
{
    if (o->host_count > CLI_MAX_HOSTS) {
        cli_error(o->prog, "at most %u -h options", (unsigned)CLI_MAX_HOSTS);
        return false;
    }
    if (o->will_topic != NULL) {
        cli_error(o->prog, "--will-* options do not apply: every device has its own will");
        return false;
    }
    if (o->device_id != NULL || o->prefix != NULL) {
        cli_error(o->prog, "--device-id and --prefix do not apply: the devices are "
                           "<-i>-<worker>-<n> (default bench-0-0, ...)");
        return false;
    }
    if (o->profile != NULL && strcmp(o->profile, "mqtt") != 0 &&
        strcmp(o->profile, "onenet") != 0) {
        cli_error(o->prog, "--profile %s: bench knows mqtt and onenet", o->profile);
        return false;
    }
    /* Never OneNET's own servers, which the profile would default to. */
    if (onenet(o) && o->host_count == 0) {
        cli_error(o->prog, "--profile onenet needs -h (the broker running the platform plugin)");
        return false;
    }
    return true;
}

static void options_from(struct bench_options *b, const struct cli_options *o)
{
    memset(b, 0, sizeof *b);
    b->prog = o->prog;
    /* Without -h: the host of the other layers (environment, INI file). */
    if (o->host_count == 0) {
        b->hosts[0] = o->host;
        b->host_count = 1;
    } else {
        memcpy(b->hosts, o->hosts, o->host_count * sizeof o->hosts[0]);
        b->host_count = o->host_count;
    }
    b->port = o->port;
    b->devices = o->devices;
    b->rate = o->rate;
    b->duration_s = o->duration_s;
    b->workers = o->workers;
    b->qos = o->qos;
    b->bind_range = o->bind_range;
    b->profile = onenet(o) ? BENCH_PROFILE_ONENET : BENCH_PROFILE_MQTT;
    b->product_id = o->product_id;
    /* -i names the fleet; the parser's default id is no name. */
    b->id_prefix = o->client_id != o->default_id ? o->client_id : NULL;
    b->username = o->username;
    b->password = o->password;
    b->keepalive_s = o->keepalive_s;
    b->clean_session = o->clean_session;
    b->json_path = o->json_path;
    b->plot_path = o->plot_path;
    if (o->debug) {
        b->trace = cli_trace_packet;
        b->trace_user = (void *)o;
    }
    b->error = cli_error;
    b->stop_arm = cli_signals_install;
    b->stop_requested = cli_stop_requested;
}

int cli_bench_run(const struct cli_command *cmd, int argc, char **argv)
{
    struct cli_options o;
    struct bench_options b;

    enum cli_parse_result pr = cli_parse(cmd, argc, argv, &o);
    if (pr != CLI_PARSE_RUN)
        return pr == CLI_PARSE_EXIT_OK ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    if (!check_flags(&o))
        return CLI_EXIT_ERROR;
    options_from(&b, &o);
    return bench_run(&b) ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}
