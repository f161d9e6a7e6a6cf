/*
 * midge sub: subscribe to one or more filters and print what arrives, one
 * line per message: the payload, or "topic payload" with -v.
 *
 * Ends with 0 after -C messages or on SIGINT/SIGTERM (after a clean
 * DISCONNECT), with 27 when -W runs out first, with 1 on any error.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Largest packet accepted unless --max-packet-size says otherwise; a
 * bigger one ends the connection with an error (the session refuses it
 * from its fixed header alone, before buffering any of it). */
#define SUB_RX_SIZE (16u * 1024u * 1024u)

struct sub_state {
    const struct cli_options *opts;
    unsigned long received;
};

static bool sub_done(const struct sub_state *s)
{
    return s->opts->count != 0 && s->received >= s->opts->count;
}

/* fwrite keeps binary payloads intact; one flush per message so a pipe
 * reader sees each line as it arrives. */
static void sub_on_message(void *user, const midge_publish *msg)
{
    struct sub_state *s = user;

    /* Messages arriving in the same read as the last counted one are
     * acknowledged by the session but not printed. */
    if (sub_done(s))
        return;
    if (s->opts->verbose) {
        fwrite(msg->topic, 1, msg->topic_len, stdout);
        fputc(' ', stdout);
    }
    if (msg->payload_len)
        fwrite(msg->payload, 1, msg->payload_len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    s->received++;
}

static bool sub_check(const struct cli_options *o)
{
    for (size_t i = 0; i < o->topic_count; i++) {
        const char *t = o->topics[i];
        if (!midge_topic_filter_valid(t, strlen(t))) {
            cli_error(o->prog, "invalid topic filter '%s'", t);
            return false;
        }
    }
    return true;
}

/* One SUBSCRIBE for every -t; a refused filter is an error. -1 when
 * subscribed, else the exit status (27: -W ran out before the SUBACK
 * came). */
static int sub_subscribe(struct cli_conn *k)
{
    const struct cli_options *o = k->opts;
    midge_subscription subs[CLI_MAX_TOPICS];
    uint8_t granted[CLI_MAX_TOPICS];

    for (size_t i = 0; i < o->topic_count; i++) {
        subs[i].filter = o->topics[i];
        subs[i].qos = o->qos;
    }
    cli_conn_bound_calls(k);
    midge_status st = midge_client_subscribe_many(&k->client, subs, o->topic_count, granted);
    if (st == MIDGE_ERR_SUBSCRIBE) {
        for (size_t i = 0; i < o->topic_count; i++) {
            if (granted[i] == MIDGE_SUBACK_FAILURE) {
                cli_error(o->prog, "subscription to '%s' refused by the broker", o->topics[i]);
                return CLI_EXIT_ERROR;
            }
        }
    }
    if (st == MIDGE_TIMEOUT && cli_conn_expired(k)) {
        cli_error(o->prog, "timed out after %lu s (no SUBACK)", o->timeout_s);
        return CLI_EXIT_TIMEOUT;
    }
    if (st != MIDGE_OK) {
        char why[160];
        /* A retained message may arrive with the SUBACK: too big already. */
        cli_error(o->prog, "subscribe failed: %s", cli_conn_status_text(k, st, why, sizeof why));
        return CLI_EXIT_ERROR;
    }
    return -1;
}

/* Serve until -C, -W or a signal. Returns the exit status. */
static int sub_loop(struct cli_conn *k, struct sub_state *s)
{
    const struct cli_options *o = k->opts;

    while (!sub_done(s) && !cli_stop_requested()) {
        uint32_t wait = cli_conn_left(k);
        if (wait == 0) {
            cli_error(o->prog, "timed out after %lu s", o->timeout_s);
            return CLI_EXIT_TIMEOUT;
        }
        midge_status st = cli_conn_serve(k, -1, wait, NULL);
        if (st != MIDGE_OK) {
            cli_conn_report_lost(k, st);
            return CLI_EXIT_ERROR;
        }
    }
    return CLI_EXIT_OK;
}

int cli_sub_run(const struct cli_command *cmd, int argc, char **argv)
{
    struct cli_options o;
    struct cli_conn k;

    enum cli_parse_result pr = cli_parse(cmd, argc, argv, &o);
    if (pr != CLI_PARSE_RUN)
        return pr == CLI_PARSE_EXIT_OK ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    if (!sub_check(&o))
        return CLI_EXIT_ERROR;

    /* SUBSCRIBE must fit tx: each filter costs its length + 3 bytes. */
    size_t tx = 4096;
    for (size_t i = 0; i < o.topic_count; i++)
        tx += strlen(o.topics[i]) + 3;
    struct cli_conn_sizes sizes = { .tx = tx, .rx = SUB_RX_SIZE, .store = 0 };

    cli_signals_install();
    /* The callback before the connect: a persistent session's queued
     * messages may come in the same read as the CONNACK. -W runs from
     * here: connecting, the SUBSCRIBE's wait and the messages are all
     * part of it. */
    struct sub_state s = { .opts = &o, .received = 0 };
    int rc = cli_conn_open(&k, &o, &sizes, sub_on_message, &s);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = sub_subscribe(&k);
    if (rc < 0)
        rc = sub_loop(&k, &s);
    cli_conn_close(&k);
    return rc;
}
