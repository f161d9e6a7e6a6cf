/*
 * midge console: the web console. A page and OneNET's HTTP command API on
 * --listen (default 127.0.0.1:8080), over one broker connection made with
 * the flags every tool takes. This file only turns the flags into the
 * console's configuration (src/console/console.h), opens the connection
 * and maps the result to an exit status.
 *
 *   --profile mqtt    devices under --prefix (devices/{device-id}), as
 *                     `midge devices` lists them; API key: --api-key
 *   --profile onenet  a broker running the OneNET platform plugin, as an
 *                     operator of --product-id; -P is the product's master
 *                     key, and the API key too (OneNET's master key)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "console.h"
#include "log.h"
#include "uuid.h"

/* An operator sees every device's answers and data points: room for the
 * largest command (65535 bytes) and a generous data point document. */
#define CONSOLE_TX_BYTES (70u * 1024u)
#define CONSOLE_RX_BYTES (256u * 1024u)
#define CONSOLE_STORE_BYTES (1024u * 1024u)

static void console_cli_log(enum console_log_level level, const char *line)
{
    static const enum cli_log_level map[] = {
        [CONSOLE_LOG_ERROR] = CLI_LOG_ERROR,
        [CONSOLE_LOG_WARN] = CLI_LOG_WARN,
        [CONSOLE_LOG_INFO] = CLI_LOG_INFO,
        [CONSOLE_LOG_DEBUG] = CLI_LOG_DEBUG,
    };
    cli_log(map[level], "%s", line);
}

static bool console_cli_uuid(char out[CONSOLE_UUID_LEN + 1])
{
    return cli_uuid_new(out);
}

static midge_status console_cli_serve(void *ctx, int extra_fd, uint32_t timeout_ms,
                                      bool *extra_ready)
{
    return cli_conn_serve(ctx, extra_fd, timeout_ms, extra_ready);
}

/* What the flags must say beyond what the shared parser checks. */
static bool console_check(struct cli_options *o, struct console_config *cfg)
{
    char why[128];
    const char *profile = o->profile ? o->profile : "mqtt";

    if (strcmp(profile, "mqtt") == 0) {
        cfg->profile = CONSOLE_PROFILE_MQTT;
    } else if (strcmp(profile, "onenet") == 0) {
        cfg->profile = CONSOLE_PROFILE_ONENET;
    } else {
        cli_error(o->prog, "--profile %s: the console knows mqtt and onenet", profile);
        return false;
    }
    if (o->device_id != NULL) {
        cli_error(o->prog, "--device-id does not apply to console (it shows every device)");
        return false;
    }
    if (cfg->profile == CONSOLE_PROFILE_MQTT) {
        if (o->api_key == NULL || o->api_key[0] == '\0') {
            cli_error(o->prog, "--api-key is required: the key API requests must carry");
            return false;
        }
        if (o->product_id != NULL) {
            cli_error(o->prog, "--product-id applies to --profile onenet");
            return false;
        }
        cfg->api_key = o->api_key;
    } else {
        if (o->product_id == NULL || o->product_id[0] == '\0' || o->password == NULL ||
            o->password[0] == '\0' || !o->host_set) {
            cli_error(o->prog, "--profile onenet needs --product-id, -P (the product's master "
                               "key) and -h (the broker running the platform plugin)");
            return false;
        }
        if (o->api_key != NULL) {
            cli_error(o->prog, "--api-key applies to --profile mqtt (onenet: the API key is "
                               "the master key, -P)");
            return false;
        }
        if (o->prefix != NULL) {
            cli_error(o->prog, "--prefix applies to --profile mqtt");
            return false;
        }
        /* The platform plugin knows an operator by its product id as the
         * user name and the master key as the password. */
        o->username = o->product_id;
        cfg->api_key = o->password;
        cfg->product_id = o->product_id;
    }
    cfg->listen = o->listen ? o->listen : "127.0.0.1:8080";
    if (!console_listen_valid(cfg->listen, why, sizeof why)) {
        cli_error(o->prog, "invalid --listen '%s': %s", cfg->listen, why);
        return false;
    }
    cfg->prefix = o->prefix;
    return true;
}

/* Unless -i was given, a client id no other console shares. */
static void console_client_id(struct cli_options *o)
{
    uint32_t r = 0;

    if (o->client_id != o->default_id)
        return;
    if (!cli_random(&r, sizeof r))
        r = (uint32_t)midge_clock_ms();
    snprintf(o->default_id, sizeof o->default_id, "midge-console-%08x", (unsigned)r);
}

int cli_console_run(const struct cli_command *cmd, int argc, char **argv)
{
    struct cli_options o;
    struct console_config cfg = { .new_uuid = console_cli_uuid, .log = console_cli_log };
    struct cli_conn *k = NULL;
    enum cli_log_level level = CLI_LOG_INFO;

    enum cli_parse_result pr = cli_parse(cmd, argc, argv, &o);
    if (pr != CLI_PARSE_RUN)
        return pr == CLI_PARSE_EXIT_OK ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    if (!console_check(&o, &cfg))
        return CLI_EXIT_ERROR;
    if (o.debug)
        level = CLI_LOG_DEBUG;
    cli_log_set_level(level);
    console_client_id(&o);

    /* Heap: the client's buffers make it too big for a comfortable stack. */
    k = calloc(1, sizeof *k);
    if (k == NULL) {
        cli_error(o.prog, "out of memory");
        return CLI_EXIT_ERROR;
    }
    struct cli_conn_sizes sizes = {
        .tx = CONSOLE_TX_BYTES, .rx = CONSOLE_RX_BYTES, .store = CONSOLE_STORE_BYTES,
        .trace = cli_log_trace,
    };
    cli_signals_install();
    int rc = cli_conn_open(k, &o, &sizes, NULL, NULL);
    if (rc != CLI_EXIT_OK) {
        free(k);
        return rc;
    }
    /* From here on a lost broker is ridden out: the page says so, and the
     * API answers errno 7 until it is back. */
    k->client.cfg.auto_reconnect = true;
    struct console_link link = {
        .client = &k->client, .serve = console_cli_serve, .ctx = k,
        .stop_requested = cli_stop_requested,
    };
    rc = console_run(&cfg, &link) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    cli_conn_close(k);
    free(k);
    return rc;
}
