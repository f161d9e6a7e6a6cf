/*
 * midge device: one process is one LED device, the tutorial's board in C.
 *
 * The device logic (src/device/) decides everything a device says and
 * does; this file only moves its decisions: CONNECT options into the
 * client, incoming messages into midge_device_handle, the LED level into
 * the driver, the replies and reports back out through the client.
 *
 * A command is answered from inside the client's message callback, where
 * midge_client_publish only queues: the PUBACK of the command, the reply
 * and the state report then leave together in the write that follows the
 * read, the shortest path a command can take through this process. The
 * log lines and the LED come after the queuing, so they do not delay it.
 * Whatever cannot be answered there (no room left to queue, a message
 * arriving while subscriptions or the offline notice are awaited) waits
 * in an inbox, in arrival order, until the client call has returned.
 * The inbox is bounded (--inbox-max messages, --inbox-bytes of memory),
 * so that a flood cannot grow the process: past the cap a QoS 0 message
 * is dropped (at most once, MQTT 3.1.1 section 4.3.1) and counted in a
 * line every few seconds; for QoS 1/2 the client holds (midge_client_hold)
 * while the inbox is full, so those wait unacknowledged at the broker and
 * the connection pushes back, while the acknowledgements of the device's
 * own answers are still read.
 *
 * The reconnect loop is ours, not the client's auto_reconnect: a OneNET
 * Studio device needs a fresh token in its CONNECT every time, and OneNET
 * kicks the older of two connections with one client id, so the old
 * connection is always closed (by midge_client_connect) before the next is
 * opened. Delays grow from --backoff-min to --backoff-max with jitter, so
 * a fleet that lost its broker together does not return together.
 *
 * Exit status: 1 for a usage or configuration problem: found at start-up
 * (bad option, bad LED, invalid identity, a --state-file path that is not
 * a regular file), or a login the broker refuses (CONNACK 4, bad user
 * name or password, or 5, not authorized), which no retry can cure: one
 * line names the flags to check. 0 after SIGINT/SIGTERM. A broker that
 * refuses for another reason (unavailable) or vanishes is logged and
 * retried, never fatal.
 */
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "led_state.h"
#include "log.h"
#include "midge/device.h"
#include "midge/led.h"
#include "midge/token.h"

#define DEVICE_TX_SIZE 8192u
#define DEVICE_RX_SIZE 65536u
#define DEVICE_STORE_SIZE 65536u
/* Device outputs: two topics and payloads; a OneJSON reply is the largest. */
#define DEVICE_OUT_SIZE 4096u
#define DEVICE_CONN_OUT_SIZE 1024u
#define DEVICE_TOKEN_MAX 1024u
/* How often the loop looks at the stop flag when nothing arrives; a signal
 * usually cuts the wait short anyway. */
#define DEVICE_POLL_MS 250u
/* On SIGTERM, "offline" (QoS 1) gets this long to be acknowledged. */
#define DEVICE_SHUTDOWN_FLUSH_MS 3000u
#define DEVICE_SLEEP_SLICE_MS 100u
/* At most one line this often about QoS 0 messages dropped, full inbox. */
#define DEVICE_DROP_LOG_MS 5000u

/* A message kept until the client call that delivered it has returned,
 * where publishing may block. Either a message the device has yet to see,
 * or one of its answers (`answer`) that found no room in the queue: the
 * device has acted on that command already, so it is only sent. */
struct device_inbox {
    struct device_inbox *next;
    bool answer;
    size_t size; /* what it takes of --inbox-bytes */
    midge_publish msg;
    char data[]; /* topic, NUL, payload */
};

struct device_app {
    struct cli_options o;
    midge_device_config cfg;
    midge_device dev;
    midge_device_out conn_out; /* the CONNECT options: kept for every reconnect */
    uint8_t conn_buf[DEVICE_CONN_OUT_SIZE];
    midge_device_out out;
    uint8_t out_buf[DEVICE_OUT_SIZE];
    midge_led led;
    struct cli_conn conn;
    bool conn_ready;
    bool make_token;
    char token[DEVICE_TOKEN_MAX]; /* the CONNECT password when signing ourselves */
    struct device_inbox *inbox_head;
    struct device_inbox *inbox_tail;
    size_t inbox_count; /* entries in the inbox, and the bytes they take */
    size_t inbox_bytes;
    bool inbox_full;    /* at its cap: the client holds QoS 1/2 messages */
    unsigned long dropped; /* QoS 0 messages dropped, not yet logged */
    uint32_t dropped_logged_ms;
    /* Inside device_serve's poll: commands are answered as they arrive.
     * Anywhere else `out` may hold outputs not yet published. */
    bool serving;
    /* A publish queued from the callback failed for a reason other than
     * room: the connection is unusable, device_serve ends it. */
    midge_status answer_status;
    /* Connections lost in a row to a packet over --max-packet-size, with
     * no message handled between them (device_count_loss). */
    unsigned too_big_streak;
    bool purge_session; /* the next CONNECT asks for a clean session */
    bool conn_purging;  /* the client is set up with that clean session */
    /* The client keeps subscription filters by pointer: these copies stay
     * put while the device's output buffer is reused. */
    char *filters[MIDGE_DEVICE_MAX_SUBS];
    size_t filter_count;
    uint32_t backoff_ms;
};

/* --- start-up ------------------------------------------------------------ */

/* OneNET Studio's password is a token that expires: sign a new one for
 * every CONNECT, so a device that ran for a year still gets in. */
static midge_status device_make_token(struct device_app *a)
{
    const struct cli_options *o = &a->o;
    unsigned long ttl = o->ttl_s ? o->ttl_s : CLI_TOKEN_TTL_DEFAULT_S;
    uint64_t et = o->expires ? o->expires : (uint64_t)time(NULL) + ttl;

    return midge_token_make(a->token, sizeof a->token, o->product_id, o->device_id,
                            o->device_key, o->method ? o->method : CLI_TOKEN_METHOD_DEFAULT, et,
                            NULL);
}

/* The credential the profile sends: -P as given, or a token we sign. */
static bool device_secret(struct device_app *a)
{
    const struct cli_options *o = &a->o;

    a->cfg.secret = o->password;
    if (o->device_key == NULL)
        return true;
    if (a->cfg.profile != MIDGE_DEVICE_PROFILE_ONENET_STUDIO) {
        cli_error(o->prog, "--device-key signs onenet-studio tokens only (use -P)");
        return false;
    }
    if (o->password != NULL) {
        cli_error(o->prog, "give -P (a ready-made token) or --device-key, not both");
        return false;
    }
    if (midge_token_check_key(o->device_key, NULL) != MIDGE_OK) {
        cli_error(o->prog, "invalid --device-key (not base64)");
        return false;
    }
    a->make_token = true;
    a->cfg.secret = a->token;
    /* Without these midge_device_init names what is missing. */
    if (o->product_id == NULL || o->device_id == NULL)
        return true;
    midge_status st = device_make_token(a);
    if (st != MIDGE_OK) {
        cli_error(o->prog, "cannot sign the token: %s", midge_strerror(st));
        return false;
    }
    return true;
}

/* --state-file: the LED starts as it was when the device last ran, and the
 * command ids it had acted on are still known (imported once the device
 * is set up). A missing file is a first start; a bad one is said once and
 * the LED starts off with no ids, to be saved again at its next change: a
 * lamp that cannot remember is still a lamp. */
static void device_restore_led(struct device_app *a, struct cli_led_saved *saved)
{
    char err[256];

    saved->id_count = 0;
    if (a->o.state_file == NULL)
        return;
    err[0] = '\0';
    switch (cli_led_state_load(a->o.state_file, saved, err, sizeof err)) {
    case CLI_LED_STATE_READ:
        if (err[0] != '\0')
            cli_log(CLI_LOG_WARN, "%s", err);
        a->cfg.led_initial = saved->on;
        cli_log(CLI_LOG_INFO, "LED %s, restored from %s with %zu command id%s",
                midge_device_led_text(saved->on), a->o.state_file, saved->id_count,
                saved->id_count == 1 ? "" : "s");
        break;
    case CLI_LED_STATE_ABSENT:
        break;
    case CLI_LED_STATE_BAD:
        cli_log(CLI_LOG_WARN, "%s; the LED starts off", err);
        break;
    }
}

/* A state file is replaced at every change of the LED: a path that holds
 * anything but a regular file (a link, a device such as /dev/null, a
 * directory, a FIFO) is refused before anything is read or written. */
static bool device_check_state_file(struct device_app *a)
{
    char err[PATH_MAX + 64];

    if (a->o.state_file == NULL || cli_led_state_check(a->o.state_file, err, sizeof err))
        return true;
    cli_error(a->o.prog, "--state-file %s", err);
    return false;
}

static bool device_configure(struct device_app *a)
{
    const struct cli_options *o = &a->o;
    const char *why = NULL;
    struct cli_led_saved saved;

    midge_device_config_init(&a->cfg);
    if (o->profile != NULL)
        midge_device_profile_parse(o->profile, &a->cfg.profile); /* checked by the parser */
    a->cfg.device_id = o->device_id;
    a->cfg.product_id = o->product_id;
    a->cfg.username = a->cfg.profile == MIDGE_DEVICE_PROFILE_MQTT ? o->username : NULL;
    a->cfg.prefix = o->prefix;
    a->cfg.property = o->property;
    a->cfg.extra_topics = o->topics;
    a->cfg.extra_topic_count = o->topic_count;
    a->cfg.keepalive_s = o->keepalive_s;
    a->cfg.clean_session = o->clean_session;
    a->cfg.subscribe_commands = o->subscribe_commands;
    if (!device_check_state_file(a))
        return false;
    device_restore_led(a, &saved);
    if (!device_secret(a))
        return false;
    if (midge_device_init(&a->dev, &a->cfg, &why) != MIDGE_OK) {
        cli_error(o->prog, "%s", why ? why : "invalid device configuration");
        return false;
    }
    /* At most CLI_LED_STATE_IDS records, never NULL: cannot fail. */
    (void)midge_device_import_ids(&a->dev, saved.ids, saved.id_count);
    midge_device_out_init(&a->out, a->out_buf, sizeof a->out_buf);
    midge_device_out_init(&a->conn_out, a->conn_buf, sizeof a->conn_buf);
    if (midge_device_connect(&a->dev, &a->conn_out) != MIDGE_OK) {
        cli_error(o->prog, "device id or topics too long");
        return false;
    }
    return true;
}

static void device_led_log(void *user, const char *line)
{
    (void)user;
    cli_log(CLI_LOG_INFO, "%s", line);
}

static bool device_open_led(struct device_app *a)
{
    char err[256];
    const char *spec = a->o.led ? a->o.led : "sim";

    if (midge_led_open(&a->led, spec, err, sizeof err) != MIDGE_OK) {
        cli_error(a->o.prog, "--led %s: %s", spec, err);
        return false;
    }
    midge_led_set_log(&a->led, device_led_log, a);
    /* Drivers open with the LED off; a restored state lights it now. */
    if (a->cfg.led_initial && midge_led_set(&a->led, true) != MIDGE_OK) {
        cli_error(a->o.prog, "--led %s: cannot drive the LED", spec);
        return false;
    }
    return true;
}

/* --- the inbox -------------------------------------------------------------- */

static size_t device_inbox_size(const midge_publish *msg)
{
    return sizeof(struct device_inbox) + msg->topic_len + 1 + msg->payload_len;
}

/* After every change of the inbox: the client holds QoS 1/2 messages
 * exactly while it is at its cap. Released below the cap, what waited in
 * the client comes in with the next read and may fill it again. (A client
 * call that waits for acknowledgements queued behind a full rx of held
 * messages drops them unacknowledged and renews the connection later to
 * get them again: client.h.) */
static void device_inbox_update(struct device_app *a)
{
    bool full = a->inbox_count >= a->o.inbox_max || a->inbox_bytes >= a->o.inbox_bytes;

    if (full == a->inbox_full)
        return;
    a->inbox_full = full;
    if (a->conn_ready)
        midge_client_hold(&a->conn.client, full);
}

/* Whether `msg` would take the inbox past its cap. */
static bool device_inbox_over(const struct device_app *a, const midge_publish *msg)
{
    return a->inbox_count + 1 > a->o.inbox_max ||
           a->inbox_bytes + device_inbox_size(msg) > a->o.inbox_bytes;
}

/* QoS 0 messages dropped for a full inbox: one line at most every
 * DEVICE_DROP_LOG_MS with the count since the previous one, and a last
 * one once the flood is over (called from the serving loop too). */
static void device_log_drops(struct device_app *a)
{
    uint32_t now = midge_clock_ms();

    if (a->dropped == 0 || now - a->dropped_logged_ms < DEVICE_DROP_LOG_MS)
        return;
    cli_log(CLI_LOG_WARN, "inbox full (%zu messages, %zu bytes): %lu QoS 0 message%s dropped",
            a->inbox_count, a->inbox_bytes, a->dropped, a->dropped == 1 ? "" : "s");
    a->dropped = 0;
    a->dropped_logged_ms = now;
}

/* An entry leaves the inbox (`gone`) or comes back to its head. */
static void device_inbox_count(struct device_app *a, const struct device_inbox *m, bool gone)
{
    if (gone) {
        a->inbox_count--;
        a->inbox_bytes -= m->size;
    } else {
        a->inbox_count++;
        a->inbox_bytes += m->size;
    }
    device_inbox_update(a);
}

/* Append a copy of `msg` to the inbox; `answer`: publish it as it is.
 * Never refused for the cap: an answer is owed for a command acted on,
 * and a QoS 1/2 message was acknowledged on arrival; the hold keeps
 * further ones out. */
static void device_inbox_add(struct device_app *a, const midge_publish *msg, bool answer)
{
    struct device_inbox *m = malloc(device_inbox_size(msg));

    if (m == NULL) {
        cli_log(CLI_LOG_ERROR, "out of memory: %s on %.*s dropped", answer ? "answer" : "message",
                (int)msg->topic_len, msg->topic);
        return;
    }
    m->answer = answer;
    m->size = device_inbox_size(msg);
    memcpy(m->data, msg->topic, msg->topic_len);
    m->data[msg->topic_len] = '\0';
    if (msg->payload_len)
        memcpy(m->data + msg->topic_len + 1, msg->payload, msg->payload_len);
    m->msg = *msg;
    m->msg.topic = m->data;
    m->msg.payload = (const uint8_t *)m->data + msg->topic_len + 1;
    m->next = NULL;
    if (a->inbox_tail)
        a->inbox_tail->next = m;
    else
        a->inbox_head = m;
    a->inbox_tail = m;
    device_inbox_count(a, m, false);
}

static void device_on_message(void *user, const midge_publish *msg);

/* A broker of the list failed while others remain: said, and the next
 * one tried at once (brokers.h). */
static void device_on_attempt(void *user, const char *why, const midge_broker *next,
                              unsigned addr)
{
    char name[300];
    (void)user;
    cli_broker_name(next, name, sizeof name);
    if (addr == 0)
        cli_log(CLI_LOG_WARN, "%s; trying %s", why, name);
    else
        cli_log(CLI_LOG_WARN, "%s; trying %s at its address %u", why, name, addr + 1);
}

/* `clean`: this client's CONNECT asks for a clean session whatever -c
 * says (the options are copied into the client, which keeps them). */
static bool device_open_conn(struct device_app *a, bool clean)
{
    struct cli_conn_sizes sizes = {
        .tx = DEVICE_TX_SIZE, .rx = DEVICE_RX_SIZE, .store = DEVICE_STORE_SIZE,
        .trace = cli_log_trace,
    };
    midge_connect_opts connect = a->conn_out.connect;

    connect.clean_session = connect.clean_session || clean;
    if (!cli_conn_setup(&a->conn, &a->o, &sizes, &connect))
        return false;
    a->conn_ready = true;
    a->conn.on_attempt = device_on_attempt;
    a->conn.attempt_user = a;
    midge_client_set_callback(&a->conn.client, device_on_message, a);
    /* A new client for a full inbox holds from the start. */
    midge_client_hold(&a->conn.client, a->inbox_full);
    return true;
}

/* --- running --------------------------------------------------------------- */

static void device_log_out(const midge_device_out *out)
{
    if (out->log_level == MIDGE_DEVICE_LOG_INFO)
        cli_log(CLI_LOG_INFO, "%s", out->log);
    else if (out->log_level == MIDGE_DEVICE_LOG_WARN)
        cli_log(CLI_LOG_WARN, "%s", out->log);
}

/* MIDGE_AGAIN (no room, from a callback only) is the caller's to handle:
 * it is not a failure. */
static midge_status device_publish_one(struct device_app *a, const midge_publish *m)
{
    midge_status st = midge_client_publish(&a->conn.client, m->topic, m->payload,
                                           m->payload_len, m->qos, m->retain, NULL);

    if (st == MIDGE_AGAIN)
        return st;
    if (st != MIDGE_OK) {
        cli_log(CLI_LOG_WARN, "publish to %s failed: %s", m->topic, midge_strerror(st));
        return st;
    }
    /* Sizes only: a $dp payload is binary. */
    cli_log(CLI_LOG_DEBUG, "published %zu bytes to %s", m->payload_len, m->topic);
    return MIDGE_OK;
}

/* Outside a callback: every output, blocking for room as needed. */
static midge_status device_publish_outputs(struct device_app *a, const midge_device_out *out)
{
    for (size_t i = 0; i < out->msg_count; i++) {
        midge_status st = device_publish_one(a, &out->msgs[i]);
        if (st != MIDGE_OK)
            return st;
    }
    return MIDGE_OK;
}

/* From the callback: queue every output. When the queue is full, the rest
 * waits in the inbox, to be sent once the poll returns; a failure ends
 * the connection there (answer_status). */
static void device_queue_outputs(struct device_app *a, const midge_device_out *out)
{
    for (size_t i = 0; i < out->msg_count; i++) {
        midge_status st = device_publish_one(a, &out->msgs[i]);
        if (st == MIDGE_AGAIN) {
            for (; i < out->msg_count; i++)
                device_inbox_add(a, &out->msgs[i], true);
            return;
        }
        if (st != MIDGE_OK) {
            a->answer_status = st;
            return;
        }
    }
}

/* The same filter string every time, so the client's remembered pointer
 * never dangles. */
static const char *device_stable_filter(struct device_app *a, const char *filter)
{
    for (size_t i = 0; i < a->filter_count; i++) {
        if (strcmp(a->filters[i], filter) == 0)
            return a->filters[i];
    }
    if (a->filter_count == MIDGE_DEVICE_MAX_SUBS)
        return NULL;
    char *copy = strdup(filter);
    if (copy != NULL)
        a->filters[a->filter_count++] = copy;
    return copy;
}

static midge_status device_subscribe(struct device_app *a, const midge_device_out *out)
{
    midge_subscription subs[MIDGE_DEVICE_MAX_SUBS];
    uint8_t granted[MIDGE_DEVICE_MAX_SUBS];

    if (out->sub_count == 0)
        return MIDGE_OK;
    for (size_t i = 0; i < out->sub_count; i++) {
        subs[i].filter = device_stable_filter(a, out->subs[i].filter);
        subs[i].qos = out->subs[i].qos;
        if (subs[i].filter == NULL)
            return MIDGE_ERR_NO_SPACE;
    }
    midge_status st = midge_client_subscribe_many(&a->conn.client, subs, out->sub_count, granted);
    if (st != MIDGE_ERR_SUBSCRIBE)
        return st;
    /* A refused filter is the broker's policy: say so and serve the rest. */
    for (size_t i = 0; i < out->sub_count; i++) {
        if (granted[i] == MIDGE_SUBACK_FAILURE)
            cli_log(CLI_LOG_WARN, "subscription to %s refused by the broker", subs[i].filter);
    }
    return MIDGE_OK;
}

/* After every CONNACK: subscriptions first (commands must not be missed),
 * then presence and state. */
static midge_status device_after_connack(struct device_app *a)
{
    midge_status st = midge_device_on_connack(&a->dev, &a->out);

    if (st != MIDGE_OK)
        return st;
    /* Messages delivered while the SUBACK is awaited only go to the
     * inbox (not serving), so `out` still holds these outputs afterwards;
     * answered at once, a command's state report would also go out ahead
     * of this older one. */
    st = device_subscribe(a, &a->out);
    if (st != MIDGE_OK)
        return st;
    return device_publish_outputs(a, &a->out);
}

/* The device's decision on one message; false when it made none (the
 * outputs did not fit), which is logged here. */
static bool device_decide(struct device_app *a, const midge_publish *msg)
{
    midge_status st = midge_device_handle(&a->dev, msg, &a->out);

    /* Messages get through again: an oversized one is no longer in the way. */
    a->too_big_streak = 0;
    if (st == MIDGE_OK)
        return true;
    device_log_out(&a->out);
    cli_log(CLI_LOG_ERROR, "message on %s not handled: %s", msg->topic, midge_strerror(st));
    return false;
}

/* --state-file: the LED and every command id the device remembers, this
 * command's included. From the message callback this runs before the
 * command's PUBACK is sent (the client queues it, and writes it only
 * after the callback returns); keep it there. A crash before the file is
 * in place then leaves the command unacknowledged, for the broker to
 * deliver again to a device restored to the state from before it; a
 * crash after it finds the id restored and answers without acting. A
 * message that waited in the inbox had its PUBACK queued on arrival and
 * usually sent before this. */
static void device_save_state(struct device_app *a)
{
    char err[PATH_MAX + 96];
    struct cli_led_saved saved = {.on = a->out.led};

    saved.id_count = midge_device_export_ids(&a->dev, saved.ids, CLI_LED_STATE_IDS);
    if (!cli_led_state_save(a->o.state_file, &saved, err, sizeof err))
        cli_log(CLI_LOG_WARN, "%s", err);
}

/* After the answers are queued or sent: the log line and the LED (whose
 * driver logs too), neither of which the answers should wait for. The
 * state report may leave a moment before the LED changes; from a callback
 * it cannot, as nothing is sent before the callback returns. The state
 * file is written only when the LED changed: a command that changed
 * nothing would change nothing if acted on again after a restart. */
static void device_log_and_drive(struct device_app *a)
{
    device_log_out(&a->out);
    if (!a->out.led_changed)
        return;
    if (midge_led_set(&a->led, a->out.led) != MIDGE_OK)
        cli_log(CLI_LOG_ERROR, "cannot drive the LED");
    if (a->o.state_file != NULL)
        device_save_state(a);
}

/* A message from the inbox, outside any callback. */
static midge_status device_handle_one(struct device_app *a, const midge_publish *msg)
{
    if (!device_decide(a, msg))
        return MIDGE_OK;
    midge_status st = device_publish_outputs(a, &a->out);
    device_log_and_drive(a);
    return st;
}

/* Inside the client's callback, where only queueing is allowed (see
 * client.h). Answered now while serving with nothing waiting ahead of
 * it (answers keep the commands' order) on a connection that still
 * takes them; else copied to the inbox, for after the poll or for the
 * next connection. */
static void device_on_message(void *user, const midge_publish *msg)
{
    struct device_app *a = user;

    if (!a->serving || a->inbox_head != NULL || a->answer_status != MIDGE_OK) {
        if (msg->qos == 0 && device_inbox_over(a, msg)) {
            a->dropped++;
            device_log_drops(a);
            return;
        }
        device_inbox_add(a, msg, false);
        return;
    }
    if (!device_decide(a, msg))
        return;
    device_queue_outputs(a, &a->out);
    device_log_and_drive(a);
}

/* Everything that waits, in order. A failed publish means the
 * connection is gone: the rest waits for the next one. */
static midge_status device_drain_inbox(struct device_app *a)
{
    while (a->inbox_head != NULL) {
        struct device_inbox *m = a->inbox_head;
        a->inbox_head = m->next;
        if (a->inbox_head == NULL)
            a->inbox_tail = NULL;
        /* Out before it is handled: below the cap, the hold ends, so
         * acknowledgements behind held messages get read while the
         * answer waits for them. */
        device_inbox_count(a, m, true);
        midge_status st = m->answer ? device_publish_one(a, &m->msg)
                                    : device_handle_one(a, &m->msg);
        if (st == MIDGE_TIMEOUT || st == MIDGE_ERR_INTERRUPTED) {
            /* Not taken (client.h): it stays first in line. A command
             * handled again is a repeat by then, answered without acting. */
            m->next = a->inbox_head;
            a->inbox_head = m;
            if (a->inbox_tail == NULL)
                a->inbox_tail = m;
            device_inbox_count(a, m, false);
            return st;
        }
        free(m);
        if (st != MIDGE_OK)
            return st;
    }
    return MIDGE_OK;
}

/*
 * Once per lost connection or failed attempt, before it is logged. A
 * packet over --max-packet-size cannot be acknowledged (none of it was
 * read), so a broker keeping a persistent session (-c) sends it again
 * after every reconnect, forever, ahead of everything queued behind it.
 * The first such loss may have been a QoS 0 message, gone for good; a
 * second in a row, with nothing handled between, is that redelivery: the
 * next connection then asks for a clean session, which drops it together
 * with whatever else the broker kept for this device. Returns the note
 * the loss's log line ends with.
 */
static const char *device_count_loss(struct device_app *a, midge_status st)
{
    if (st != MIDGE_ERR_TOO_BIG) {
        a->too_big_streak = 0;
        return "";
    }
    a->too_big_streak++;
    if (a->too_big_streak < 2 || a->conn_out.connect.clean_session)
        return "";
    a->purge_session = true;
    return " (again: reconnecting with a clean session, so that the broker drops it)";
}

/* One line for a connection that ended after its CONNACK. */
static void device_log_loss(struct device_app *a, midge_status st)
{
    char why[160];
    const char *note = device_count_loss(a, st);

    cli_log(CLI_LOG_WARN, "connection lost: %s%s",
            cli_conn_status_text(&a->conn, st, why, sizeof why), note);
}

/* Set the client up again when the next CONNECT must differ in its clean
 * session flag from the one it holds. */
static midge_status device_prepare_conn(struct device_app *a)
{
    if (a->conn_ready && a->purge_session == a->conn_purging)
        return MIDGE_OK;
    if (a->conn_ready)
        cli_conn_close(&a->conn);
    a->conn_ready = false;
    if (!device_open_conn(a, a->purge_session))
        return MIDGE_ERR_NO_SPACE; /* logged: out of memory */
    a->conn_purging = a->purge_session;
    return MIDGE_OK;
}

/* CONNACK 4 and 5: the broker turned down this identity. Trying it again
 * the same way cannot succeed, and a broker may count the attempts
 * against the device (or its address). */
static bool device_login_refused(midge_status st)
{
    return st == MIDGE_REFUSED_CREDENTIALS || st == MIDGE_REFUSED_NOT_AUTHORIZED;
}

/* The one line of a refused login: the flags that make the identity of
 * this profile, never their values. */
static void device_log_refused_login(const struct device_app *a, midge_status st)
{
    const struct cli_options *o = &a->o;
    const char *check;

    switch (a->cfg.profile) {
    case MIDGE_DEVICE_PROFILE_ONENET:
        check = "check --product-id and -P (the API key or auth info)";
        break;
    case MIDGE_DEVICE_PROFILE_ONENET_STUDIO:
        check = a->make_token ? "check --product-id, --device-id and --device-key"
                              : "check -P (the token; or sign one with --device-key)";
        break;
    default:
        check = o->username != NULL ? "check -u and -P"
                                    : "the broker may want a user name and password (-u, -P)";
        break;
    }
    cli_log(CLI_LOG_ERROR, "%s: %s; not retrying", midge_strerror(st), check);
}

static midge_status device_connect_once(struct device_app *a)
{
    char why[512];
    bool session_present = false;
    midge_status st = device_prepare_conn(a);

    if (st != MIDGE_OK)
        return st;

    if (a->make_token) {
        st = device_make_token(a);
        if (st != MIDGE_OK) {
            cli_log(CLI_LOG_ERROR, "cannot sign the token: %s", midge_strerror(st));
            return st;
        }
    }
    cli_log(CLI_LOG_INFO, "connecting to %s as %s (%s%s)",
            cli_conn_target(&a->conn, why, sizeof why), a->o.device_id,
            midge_device_profile_name(a->cfg.profile), a->o.tls ? ", TLS" : "");
    st = cli_conn_connect(&a->conn, &session_present);
    if (st == MIDGE_ERR_INTERRUPTED)
        return st;
    if (device_login_refused(st)) {
        device_log_refused_login(a, st);
        return st;
    }
    if (st != MIDGE_OK) {
        cli_conn_describe(&a->conn, st, why, sizeof why);
        const char *note = device_count_loss(a, st);
        cli_log(CLI_LOG_ERROR, "%s%s", why, note);
        return st;
    }
    /* Which broker of the list: the one the device stays on while the
     * connection lasts. */
    const midge_broker *on = midge_client_broker(&a->conn.client, NULL);
    cli_log(CLI_LOG_INFO, "connected to %s (session present: %s)",
            on != NULL ? cli_broker_name(on, why, sizeof why) : a->o.unix_path,
            session_present ? "yes" : "no");
    a->purge_session = false;
    /* While oversized packets keep ending connections right after the
     * CONNACK, the delay keeps growing: such a loop must not run hot. */
    if (a->too_big_streak == 0)
        a->backoff_ms = (uint32_t)a->o.backoff_min_ms;
    st = device_after_connack(a);
    if (st == MIDGE_OK)
        st = device_drain_inbox(a);
    if (st != MIDGE_OK && !cli_stop_requested())
        device_log_loss(a, st);
    return st;
}

/* Serve until the connection fails or a stop is asked for. */
static midge_status device_serve(struct device_app *a)
{
    while (!cli_stop_requested()) {
        a->serving = true;
        midge_status st = midge_client_poll(&a->conn.client, DEVICE_POLL_MS);
        a->serving = false;
        if (st != MIDGE_OK && st != MIDGE_TIMEOUT)
            return st;
        st = a->answer_status;
        a->answer_status = MIDGE_OK;
        if (st != MIDGE_OK)
            return st;
        st = device_drain_inbox(a);
        device_log_drops(a);
        if (st != MIDGE_OK)
            return st;
    }
    return MIDGE_OK;
}

/* "Equal jitter": half the delay is fixed, half random, so retries spread
 * out but never come sooner than half the backoff. */
static void device_backoff(struct device_app *a)
{
    uint32_t half = a->backoff_ms / 2;
    uint32_t delay = half + (half ? (uint32_t)rand() % (half + 1) : 0);

    cli_log(CLI_LOG_INFO, "reconnecting in %u ms", (unsigned)delay);
    for (uint32_t slept = 0; slept < delay && !cli_stop_requested();) {
        uint32_t slice = delay - slept < DEVICE_SLEEP_SLICE_MS ? delay - slept
                                                                : DEVICE_SLEEP_SLICE_MS;
        poll(NULL, 0, (int)slice);
        slept += slice;
    }
    uint32_t next = a->backoff_ms * 2;
    a->backoff_ms = next > a->o.backoff_max_ms || next < a->backoff_ms
                        ? (uint32_t)a->o.backoff_max_ms : next;
}

/* SIGINT/SIGTERM: say "offline" (mqtt profile) and leave cleanly, which
 * also keeps the broker from publishing the will. */
static void device_shutdown(struct device_app *a)
{
    midge_client *c = &a->conn.client;

    if (!midge_client_is_connected(c)) {
        cli_log(CLI_LOG_INFO, "stopped");
        return;
    }
    if (midge_device_shutdown(&a->dev, &a->out) != MIDGE_OK ||
        device_publish_outputs(a, &a->out) != MIDGE_OK) {
        /* The notice could not even be queued (the in-flight window was
         * full when the stop came). A DISCONNECT now would leave the
         * retained status saying "online"; a connection closed without
         * one makes the broker publish the will, which says "offline". */
        cli_log(CLI_LOG_WARN, "offline notice not sent; closing without DISCONNECT so the "
                              "broker publishes the will");
        midge_client_abort(c);
        cli_log(CLI_LOG_INFO, "stopped");
        return;
    }
    if (midge_client_flush(c, DEVICE_SHUTDOWN_FLUSH_MS) != MIDGE_OK)
        cli_log(CLI_LOG_WARN, "offline notice not acknowledged in time");
    midge_client_disconnect(c);
    cli_log(CLI_LOG_INFO, "disconnected; stopped");
}

/* The device's exit status. */
static int device_run_loop(struct device_app *a)
{
    a->backoff_ms = (uint32_t)a->o.backoff_min_ms;
    while (!cli_stop_requested()) {
        /* A failed connect was logged with its reason already. */
        midge_status st = device_connect_once(a);
        if (st == MIDGE_OK) {
            st = device_serve(a);
            if (cli_stop_requested())
                break;
            device_log_loss(a, st);
        } else if (device_login_refused(st)) {
            return CLI_EXIT_ERROR;
        }
        if (cli_stop_requested())
            break;
        /* A loss begins a pass over the broker list: the others are
         * tried at once, and the backoff waits only after all failed. */
        if (!midge_client_retry_now(&a->conn.client))
            device_backoff(a);
    }
    device_shutdown(a);
    return CLI_EXIT_OK;
}

static void device_free(struct device_app *a)
{
    while (a->inbox_head != NULL) {
        struct device_inbox *m = a->inbox_head;
        a->inbox_head = m->next;
        free(m);
    }
    if (a->conn_ready)
        cli_conn_close(&a->conn);
    midge_led_close(&a->led);
    for (size_t i = 0; i < a->filter_count; i++)
        free(a->filters[i]);
    /* The token is a credential: do not leave it in freed memory. */
    memset(a->token, 0, sizeof a->token);
    free(a);
}

/* The options resolved -d, -q and --log-level into one known name. */
static void device_set_log_level(const struct cli_options *o)
{
    enum cli_log_level level = CLI_LOG_INFO;

    if (o->log_level != NULL)
        cli_log_level_parse(o->log_level, &level);
    cli_log_set_level(level);
}

int cli_device_run(const struct cli_command *cmd, int argc, char **argv)
{
    struct device_app *a = calloc(1, sizeof *a);
    int rc = CLI_EXIT_ERROR;

    if (a == NULL) {
        fprintf(stderr, "midge %s: out of memory\n", cmd->name);
        return CLI_EXIT_ERROR;
    }
    enum cli_parse_result pr = cli_parse(cmd, argc, argv, &a->o);
    if (pr != CLI_PARSE_RUN) {
        rc = pr == CLI_PARSE_EXIT_OK ? CLI_EXIT_OK : CLI_EXIT_ERROR;
        goto done;
    }
    device_set_log_level(&a->o);
    if (!device_configure(a) || !device_open_led(a) || !device_open_conn(a, false))
        goto done;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    a->dropped_logged_ms = midge_clock_ms() - DEVICE_DROP_LOG_MS; /* the first drop is said */
    cli_signals_install();
    rc = device_run_loop(a);

done:
    device_free(a);
    return rc;
}
