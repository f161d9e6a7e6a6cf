/*
 * midge pub: publish one message (-m, -n, -f, -s), --repeat times, or one
 * per stdin line (-l), to every -t topic.
 *
 * Exit 0 only once every QoS 1/2 message has been acknowledged and the
 * DISCONNECT has been handed to the socket. Every wait for the broker is
 * bounded: each publish by the client's call bound, the acknowledgements
 * at the end by PUB_ACK_TIMEOUT_MS; a broker that answers wrongly (a PUBACK
 * to a QoS 2 PUBLISH) or not at all ends the run with one line and 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Largest -f file or -s input, and -l line. A PUBLISH may carry up to
 * 256 MiB; a line tool does not need that, and the tx buffer is sized for
 * one message. */
#define PUB_FILE_MAX (64u * 1024u * 1024u)
#define PUB_LINE_MAX (1024u * 1024u)

/* Room around the payload in a PUBLISH: fixed header (<= 5), topic length
 * (2), packet id (2), with a margin. */
#define PUB_HEADER_ROOM 16u

/* The store holds this many largest-size messages before publish waits
 * for acknowledgements. */
#define PUB_STORE_MESSAGES 4u

/* The acknowledgements of what was published, at the end: as long as one
 * publish may wait (the client's default call bound). */
#define PUB_ACK_TIMEOUT_MS 30000u

/* mosquitto's default -M: QoS 1/2 messages unacknowledged at once. */
#define PUB_INFLIGHT_DEFAULT 20u

struct pub_message {
    char *data; /* heap: -f file or -l line buffer */
    size_t len;
    size_t cap;
};

/* Read the whole -f file, or all of stdin for -s; false after printing
 * the reason. */
static bool pub_read_file(const struct cli_options *o, struct pub_message *m)
{
    bool from_stdin = o->source == CLI_SOURCE_STDIN;
    const char *name = from_stdin ? "stdin" : o->message;
    FILE *f = from_stdin ? stdin : fopen(o->message, "rb");
    if (f == NULL) {
        cli_error(o->prog, "cannot open '%s': %s", o->message, strerror(errno));
        return false;
    }
    for (;;) {
        if (m->len == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 65536;
            char *p = cap <= PUB_FILE_MAX ? realloc(m->data, cap) : NULL;
            if (p == NULL) {
                cli_error(o->prog, "%s%s%s is larger than %u bytes", from_stdin ? "" : "'", name,
                          from_stdin ? "" : "'", PUB_FILE_MAX);
                if (!from_stdin)
                    fclose(f);
                return false;
            }
            m->data = p;
            m->cap = cap;
        }
        size_t n = fread(m->data + m->len, 1, m->cap - m->len, f);
        m->len += n;
        if (n == 0)
            break;
    }
    bool ok = !ferror(f);
    if (!ok)
        cli_error(o->prog, "cannot read %s: %s", name, strerror(errno));
    if (!from_stdin)
        fclose(f);
    return ok;
}

/* -M: no more than that many QoS 1/2 messages unacknowledged. Serves the
 * connection until one completes, within PUB_ACK_TIMEOUT_MS. */
static bool pub_window(struct cli_conn *k)
{
    const struct cli_options *o = k->opts;
    size_t limit = o->max_inflight ? o->max_inflight : PUB_INFLIGHT_DEFAULT;
    uint32_t start = midge_clock_ms();

    while (o->qos > 0 && midge_session_inflight(&k->client.session) >= limit) {
        uint32_t spent = midge_clock_ms() - start;
        if (spent >= PUB_ACK_TIMEOUT_MS) {
            cli_error(o->prog, "the broker did not acknowledge a message within %u s (-M %zu)",
                      PUB_ACK_TIMEOUT_MS / 1000u, limit);
            return false;
        }
        midge_status st = cli_conn_serve(k, -1, PUB_ACK_TIMEOUT_MS - spent, NULL);
        if (st != MIDGE_OK) {
            cli_conn_report_lost(k, st);
            return false;
        }
    }
    return true;
}

/* One message to every -t topic (mosquitto_pub would take the last only). */
static bool pub_one(struct cli_conn *k, const void *data, size_t len)
{
    const struct cli_options *o = k->opts;

    for (size_t i = 0; i < o->topic_count; i++) {
        if (!pub_window(k))
            return false;
        midge_status st = midge_client_publish(&k->client, o->topics[i], data, len, o->qos,
                                               o->retain, NULL);
        if (st != MIDGE_OK) {
            char why[160];
            cli_error(o->prog, "publish failed: %s", cli_conn_status_text(k, st, why, sizeof why));
            return false;
        }
    }
    return true;
}

/* Publish every complete line in the buffer (without its '\n') and keep
 * the unfinished tail for the next read. */
static bool pub_lines(struct cli_conn *k, struct pub_message *m)
{
    size_t start = 0;

    for (;;) {
        char *nl = memchr(m->data + start, '\n', m->len - start);
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - (m->data + start));
        if (!pub_one(k, m->data + start, len))
            return false;
        start += len + 1;
    }
    memmove(m->data, m->data + start, m->len - start);
    m->len -= start;
    return true;
}

/* Read what stdin has; *eof at end of input. */
static bool pub_read_stdin(const struct cli_options *o, struct pub_message *m, bool *eof)
{
    if (m->len == m->cap) {
        cli_error(o->prog, "a line of stdin is longer than %u bytes", PUB_LINE_MAX);
        return false;
    }
    ssize_t n = read(STDIN_FILENO, m->data + m->len, m->cap - m->len);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return true;
        cli_error(o->prog, "cannot read stdin: %s", strerror(errno));
        return false;
    }
    *eof = n == 0;
    m->len += (size_t)n;
    return true;
}

/* -l: stdin and the socket are polled together, so keepalive and incoming
 * acknowledgements are served while no line arrives. */
static bool pub_stdin_loop(struct cli_conn *k, struct pub_message *m)
{
    const struct cli_options *o = k->opts;
    bool eof = false;

    while (!eof) {
        bool ready = false;
        midge_status st = cli_conn_serve(k, STDIN_FILENO, UINT32_MAX, &ready);
        if (st != MIDGE_OK) {
            cli_conn_report_lost(k, st);
            return false;
        }
        if (!ready)
            continue;
        if (!pub_read_stdin(o, m, &eof) || !pub_lines(k, m))
            return false;
    }
    /* A last line without '\n' is still a message. */
    if (m->len > 0)
        return pub_one(k, m->data, m->len);
    return true;
}

/* Wait, within PUB_ACK_TIMEOUT_MS, until the broker acknowledged every
 * QoS 1/2 message; false after one line saying why not. */
static bool pub_acknowledged(struct cli_conn *k)
{
    const struct cli_options *o = k->opts;
    midge_status st = midge_client_flush(&k->client, PUB_ACK_TIMEOUT_MS);
    char why[160];

    if (st == MIDGE_OK)
        return true;
    if (st == MIDGE_TIMEOUT)
        cli_error(o->prog, "the broker did not acknowledge every message within %u s",
                  PUB_ACK_TIMEOUT_MS / 1000u);
    else
        cli_error(o->prog, "connection lost before every message was acknowledged: %s",
                  cli_conn_status_text(k, st, why, sizeof why));
    return false;
}

static bool pub_acknowledged(struct cli_conn *k);

static bool pub_check(const struct cli_options *o)
{
    for (size_t i = 0; i < o->topic_count; i++) {
        const char *t = o->topics[i];
        if (!midge_topic_name_valid(t, strlen(t))) {
            cli_error(o->prog, "invalid topic '%s' (no '+' or '#' in a topic to publish to)", t);
            return false;
        }
    }
    if (o->source == CLI_SOURCE_LINES && o->repeat > 1) {
        cli_error(o->prog, "--repeat applies to -m, -n, -f and -s, not to -l");
        return false;
    }
    return true;
}

/* Wait `ms` while serving the connection (keepalive, late acknowledgements). */
static bool pub_pause(struct cli_conn *k, uint32_t ms)
{
    uint32_t start = midge_clock_ms();

    for (uint32_t spent = 0; spent < ms && !cli_stop_requested();
         spent = midge_clock_ms() - start) {
        midge_status st = cli_conn_serve(k, -1, ms - spent, NULL);
        if (st != MIDGE_OK) {
            cli_conn_report_lost(k, st);
            return false;
        }
    }
    return true;
}

/* --repeat: as mosquitto_pub, the next copy leaves --repeat-delay after
 * the last one was acknowledged (sent, at QoS 0). */
static bool pub_repeated(struct cli_conn *k, const void *data, size_t len)
{
    const struct cli_options *o = k->opts;
    unsigned long times = o->repeat ? o->repeat : 1;

    for (unsigned long i = 0; i < times; i++) {
        if (i > 0 && (!pub_acknowledged(k) || !pub_pause(k, (uint32_t)o->repeat_delay_ms)))
            return false;
        if (cli_stop_requested() || !pub_one(k, data, len))
            return false;
    }
    return true;
}

/* A publisher takes no messages. Any a broker sends it anyway (an old
 * subscription of a persistent session) is acknowledged and dropped here,
 * by choice: without a callback the client would hold it unacknowledged
 * (client.h) until rx filled and the acknowledgements of our own
 * publishes could no longer be read. */
static void pub_ignore_message(void *user, const midge_publish *msg)
{
    (void)user;
    (void)msg;
}

int cli_pub_run(const struct cli_command *cmd, int argc, char **argv)
{
    struct cli_options o;
    struct pub_message m = { 0 };
    struct cli_conn k;
    int rc = CLI_EXIT_ERROR;

    enum cli_parse_result pr = cli_parse(cmd, argc, argv, &o);
    if (pr != CLI_PARSE_RUN)
        return pr == CLI_PARSE_EXIT_OK ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    if (!pub_check(&o))
        return CLI_EXIT_ERROR;

    /* The message first: a bad -f path should not cost a connection. */
    size_t max_payload = 0;
    if (o.source == CLI_SOURCE_FILE || o.source == CLI_SOURCE_STDIN) {
        if (!pub_read_file(&o, &m))
            goto done;
        max_payload = m.len;
    } else if (o.source == CLI_SOURCE_LINES) {
        m.cap = PUB_LINE_MAX;
        m.data = malloc(m.cap);
        if (m.data == NULL) {
            cli_error(o.prog, "out of memory");
            goto done;
        }
        max_payload = m.cap;
    } else if (o.source == CLI_SOURCE_ARG) {
        max_payload = strlen(o.message);
    }

    size_t longest = 0;
    for (size_t i = 0; i < o.topic_count; i++)
        longest = strlen(o.topics[i]) > longest ? strlen(o.topics[i]) : longest;
    size_t packet = max_payload + longest + PUB_HEADER_ROOM;
    struct cli_conn_sizes sizes = {
        .tx = packet > 4096 ? packet : 4096,
        .rx = 65536,
        .store = o.qos ? PUB_STORE_MESSAGES * (packet + MIDGE_STORE_RECORD_OVERHEAD) : 0,
    };
    rc = cli_conn_open(&k, &o, &sizes, pub_ignore_message, NULL);
    if (rc != CLI_EXIT_OK)
        goto done;

    bool ok;
    if (o.source == CLI_SOURCE_LINES)
        ok = pub_stdin_loop(&k, &m);
    else if (o.source == CLI_SOURCE_ARG)
        ok = pub_repeated(&k, o.message, strlen(o.message));
    else
        ok = pub_repeated(&k, m.data, m.len);

    /* Every QoS 1/2 message acknowledged before a clean goodbye. */
    if (ok)
        ok = pub_acknowledged(&k);
    if (ok) {
        midge_status st = midge_client_disconnect(&k.client);
        if (st != MIDGE_OK) {
            cli_error(o.prog, "disconnect failed: %s", midge_strerror(st));
            ok = false;
        }
    }
    cli_conn_close(&k);
    rc = ok ? CLI_EXIT_OK : CLI_EXIT_ERROR;
done:
    free(m.data);
    return rc;
}
