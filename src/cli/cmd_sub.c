/*
 * midge sub: subscribe to one or more filters and print what arrives, one
 * line per message: the payload, "topic payload" with -v, or -F's format
 * (sub_format.c), with mosquitto_sub's filters: -R, -T, --retained-only,
 * --remove-retained, -E, -U.
 *
 * Ends with 0 after -C messages, at -E's SUBACK, at --retained-only's
 * first new message, or on SIGINT/SIGTERM (after a clean DISCONNECT);
 * with 27 when -W runs out first; with the CONNACK code (1..5) when the
 * broker refuses the connection; with 1 on any other error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sub_format.h"

/* Largest packet accepted unless --max-packet-size says otherwise; a
 * bigger one ends the connection with an error (the session refuses it
 * from its fixed header alone, before buffering any of it). */
#define SUB_RX_SIZE (16u * 1024u * 1024u)

/* --remove-retained publishes empty retained messages at QoS 1: room for
 * two of the longest topic in the store, and this long for their PUBACKs
 * before exit. */
#define SUB_STORE_SIZE (2u * (65535u + 16u + MIDGE_STORE_RECORD_OVERHEAD))
#define SUB_ACK_TIMEOUT_MS 30000u

struct sub_state {
    const struct cli_options *opts;
    const struct cli_conn *conn;
    struct sub_print print;
    unsigned long received;
    bool finished; /* -C reached, or --retained-only met a new message */
    /* --remove-retained: topics (heap copies) to clear from the main loop,
     * where a publish may wait for room */
    char **clear;
    size_t clear_count;
    size_t clear_cap;
    bool out_of_memory;
};

static bool sub_skipped(const struct sub_state *s, const midge_publish *msg)
{
    const struct cli_options *o = s->opts;

    if (msg->retain && o->no_retained)
        return true;
    for (size_t i = 0; i < o->filter_out_count; i++) {
        if (midge_topic_matches(o->filter_outs[i], strlen(o->filter_outs[i]), msg->topic,
                                msg->topic_len))
            return true;
    }
    return false;
}

static void sub_queue_clear(struct sub_state *s, const midge_publish *msg)
{
    if (s->clear_count == s->clear_cap) {
        size_t cap = s->clear_cap ? 2 * s->clear_cap : 16;
        char **v = realloc(s->clear, cap * sizeof *v);
        if (v == NULL) {
            s->out_of_memory = true;
            return;
        }
        s->clear = v;
        s->clear_cap = cap;
    }
    char *t = malloc((size_t)msg->topic_len + 1);
    if (t == NULL) {
        s->out_of_memory = true;
        return;
    }
    memcpy(t, msg->topic, msg->topic_len);
    t[msg->topic_len] = '\0';
    s->clear[s->clear_count++] = t;
}

/* mosquitto_sub's order: --retained-only ends at the first new message,
 * -R and -T skip, --remove-retained clears what is printed, -C counts it. */
static void sub_on_message(void *user, const midge_publish *msg)
{
    struct sub_state *s = user;
    const struct cli_options *o = s->opts;

    /* Messages arriving in the same read as the last counted one (or
     * after -E's SUBACK) are acknowledged by the session but not printed. */
    if (s->finished || (o->exit_after_sub && s->conn->subacks > 0))
        return;
    if (o->retained_only && !msg->retain) {
        s->finished = true;
        return;
    }
    if (sub_skipped(s, msg))
        return;
    if (o->remove_retained && msg->retain)
        sub_queue_clear(s, msg);
    sub_print_message(stdout, &s->print, msg);
    if (o->count != 0 && ++s->received >= o->count)
        s->finished = true;
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

/* One line for a failed subscribe or unsubscribe; the exit status: 27
 * when -W ran out during the call, else 1. */
static int sub_failed(struct cli_conn *k, midge_status st, const char *what)
{
    const struct cli_options *o = k->opts;
    char why[160];

    if (st == MIDGE_TIMEOUT && cli_conn_expired(k)) {
        cli_error(o->prog, "timed out after %lu s (no %s)", o->timeout_s,
                  strcmp(what, "subscribe") == 0 ? "SUBACK" : "UNSUBACK");
        return CLI_EXIT_TIMEOUT;
    }
    /* A retained message may arrive with the SUBACK: too big already. */
    cli_error(o->prog, "%s failed: %s", what, cli_conn_status_text(k, st, why, sizeof why));
    return CLI_EXIT_ERROR;
}

/* One SUBSCRIBE for every -t, then an UNSUBSCRIBE for every -U; a refused
 * filter is an error. -1 when done, else the exit status (27: -W ran out
 * before the SUBACK came). */
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
    if (st != MIDGE_OK)
        return sub_failed(k, st, "subscribe");
    for (size_t i = 0; i < o->unsubscribe_count; i++) {
        cli_conn_bound_calls(k);
        st = midge_client_unsubscribe(&k->client, o->unsubscribe[i]);
        if (st != MIDGE_OK)
            return sub_failed(k, st, "unsubscribe");
    }
    return -1;
}

/* --remove-retained: an empty retained message on every topic queued. */
static bool sub_clear(struct cli_conn *k, struct sub_state *s)
{
    char why[160];

    if (s->out_of_memory) {
        cli_error(s->opts->prog, "out of memory");
        return false;
    }
    for (; s->clear_count > 0; s->clear_count--) {
        char *topic = s->clear[s->clear_count - 1];
        midge_status st = midge_client_publish(&k->client, topic, NULL, 0, 1, true, NULL);
        free(topic);
        if (st != MIDGE_OK) {
            s->clear_count--;
            cli_error(s->opts->prog, "clearing a retained message failed: %s",
                      cli_conn_status_text(k, st, why, sizeof why));
            return false;
        }
    }
    return true;
}

/* Serve until -C, --retained-only, -W or a signal. Returns the exit status. */
static int sub_loop(struct cli_conn *k, struct sub_state *s)
{
    const struct cli_options *o = k->opts;

    while (!s->finished && !cli_stop_requested()) {
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
        if (!sub_clear(k, s))
            return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

/* Before the DISCONNECT: the broker has acknowledged every clearing, so a
 * clean exit means the retained messages are gone. */
static int sub_finish(struct cli_conn *k, struct sub_state *s, int rc)
{
    char why[160];

    if (rc != CLI_EXIT_OK || !s->opts->remove_retained || !midge_client_is_connected(&k->client))
        return rc;
    if (!sub_clear(k, s))
        return CLI_EXIT_ERROR;
    midge_status st = midge_client_flush(&k->client, SUB_ACK_TIMEOUT_MS);
    if (st == MIDGE_OK)
        return rc;
    cli_error(s->opts->prog, "retained messages not cleared: %s",
              cli_conn_status_text(k, st, why, sizeof why));
    return CLI_EXIT_ERROR;
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
    for (size_t i = 0; i < o.unsubscribe_count; i++)
        tx += strlen(o.unsubscribe[i]) + 2;
    if (o.remove_retained)
        tx += 65535u + 16u;
    struct cli_conn_sizes sizes = {
        .tx = tx, .rx = SUB_RX_SIZE, .store = o.remove_retained ? SUB_STORE_SIZE : 0,
    };

    cli_signals_install();
    /* The callback before the connect: a persistent session's queued
     * messages may come in the same read as the CONNACK. -W runs from
     * here: connecting, the SUBSCRIBE's wait and the messages are all
     * part of it. */
    struct sub_state s = {
        .opts = &o, .conn = &k,
        .print = { .format = o.format, .verbose = o.verbose, .eol = !o.no_eol,
                   .pretty = o.pretty, .prog = o.prog },
    };
    int rc = cli_conn_open(&k, &o, &sizes, sub_on_message, &s);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = sub_subscribe(&k);
    if (rc < 0)
        rc = o.exit_after_sub ? CLI_EXIT_OK : sub_loop(&k, &s);
    rc = sub_finish(&k, &s, rc);
    cli_conn_close(&k);
    for (size_t i = 0; i < s.clear_count; i++)
        free(s.clear[i]);
    free(s.clear);
    return rc;
}
