/*
 * midge firmware: one LED device on a microcontroller board, the tutorial's
 * board in C. The same device logic as `midge device` (src/device/: the
 * profiles, the commands, the dedupe ring, the reports), the same blocking
 * client (src/mqtt/client*.c) over lwIP (src/port/lwip/), and the board's
 * clock, network and LED (board.h). Static memory only.
 *
 * A command is answered from inside the client's message callback, where
 * midge_client_publish only queues: the PUBACK, the reply and the state
 * report leave together in the write that follows the read. What cannot
 * be answered there waits in one slot: the rest of an answer that found
 * the queue full (the client then holds further QoS 1/2 messages
 * unacknowledged until it is sent), or a QoS 0 command that came while the
 * device was not serving (right after a CONNACK, before its presence and
 * state are out). A QoS 0 command finding the slot taken is dropped and
 * logged: at most once (MQTT 3.1.1 section 4.3.1).
 *
 * The reconnect loop is the device's, as in `midge device`: OneNET kicks
 * the older of two connections with one client id, so the old one is
 * closed before the next opens (midge_client_connect does), and the delay
 * grows from --backoff-min to --backoff-max with jitter. A login the broker
 * refuses (CONNACK 4 or 5) stops the board with status 1.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "fw_options.h"
#include "midge/client.h"
#include "midge/device.h"
#include "midge/lwip.h"
#include "midge/status.h"

/* Buffers: commands and answers are small; rx bounds the largest packet
 * accepted (a larger one ends the connection, MIDGE_ERR_TOO_BIG). */
#define FW_TX_SIZE 1024u
#define FW_RX_SIZE 1024u
#define FW_STORE_SIZE 1536u
#define FW_QOS2_IDS 4u
#define FW_OUT_SIZE 512u
#define FW_CONN_OUT_SIZE 256u
#define FW_FILTERS_SIZE 256u
#define FW_SLOT_SIZE 320u
#define FW_POLL_MS 1000u
#define FW_CALL_TIMEOUT_MS 10000u

struct fw_slot {
    bool used;
    midge_publish msg; /* topic and payload in data */
    char data[FW_SLOT_SIZE];
};

static struct fw_options opts;
static midge_device_config dev_cfg;
static midge_device dev;
static midge_device_out conn_out, ack_out, cmd_out;
static uint8_t conn_buf[FW_CONN_OUT_SIZE], ack_buf[FW_OUT_SIZE], cmd_buf[FW_OUT_SIZE];
static char filters[FW_FILTERS_SIZE];
static midge_subscription subs[MIDGE_DEVICE_MAX_SUBS];

static midge_client client;
static midge_lwip_tcp tcp;
static uint8_t tx[FW_TX_SIZE], rx[FW_RX_SIZE], store[FW_STORE_SIZE];
static uint16_t qos2_ids[FW_QOS2_IDS];

static bool serving;          /* inside serve's poll: commands answered at once */
static size_t unsent;         /* cmd_out.msgs[unsent..] still to publish */
static bool answer_due;       /* cmd_out holds an answer not fully queued */
static midge_status answer_status; /* a queueing failure: the connection is unusable */
static struct fw_slot slot;   /* a QoS 0 command that came while not serving */
static unsigned long dropped;

/* --- log --------------------------------------------------------------------- */

static void fw_log(enum fw_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fw_log(enum fw_log_level level, const char *fmt, ...)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    va_list ap;

    if (level > opts.log_level)
        return;
    printf("midge firmware: %s: ", names[level]);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void fw_log_out(const midge_device_out *out)
{
    if (out->log_level == MIDGE_DEVICE_LOG_INFO)
        fw_log(FW_LOG_INFO, "%s", out->log);
    else if (out->log_level == MIDGE_DEVICE_LOG_WARN)
        fw_log(FW_LOG_WARN, "%s", out->log);
}

/* --- answers --------------------------------------------------------------- */

static midge_status fw_publish(const midge_publish *m)
{
    return midge_client_publish(&client, m->topic, m->payload, m->payload_len, m->qos,
                                m->retain, NULL);
}

/* From the callback: queue what fits; the rest waits (answer_due), with
 * the client holding further QoS 1/2 messages until it is out. */
static void fw_queue_answer(void)
{
    for (; unsent < cmd_out.msg_count; unsent++) {
        midge_status st = fw_publish(&cmd_out.msgs[unsent]);
        if (st == MIDGE_AGAIN) {
            answer_due = true;
            midge_client_hold(&client, true);
            return;
        }
        if (st != MIDGE_OK) {
            answer_status = st;
            return;
        }
    }
}

/* Outside any callback: what is left of an answer, blocking. */
static midge_status fw_send_rest(void)
{
    for (; unsent < cmd_out.msg_count; unsent++) {
        midge_status st = fw_publish(&cmd_out.msgs[unsent]);
        if (st != MIDGE_OK)
            return st;
    }
    answer_due = false;
    midge_client_hold(&client, false);
    return MIDGE_OK;
}

/* The device's decision on one command, the LED after it and its log line;
 * false when it made none (the outputs did not fit cmd_out's buffer). */
static bool fw_decide(const midge_publish *msg)
{
    midge_status st = midge_device_handle(&dev, msg, &cmd_out);
    unsent = 0;
    if (st != MIDGE_OK) {
        fw_log(FW_LOG_ERROR, "message on %.*s not handled: %s", (int)msg->topic_len,
               msg->topic, midge_strerror(st));
        return false;
    }
    return true;
}

static void fw_drive(void)
{
    fw_log_out(&cmd_out);
    if (cmd_out.led_changed)
        board_led_set(cmd_out.led);
}

static void fw_keep(const midge_publish *msg)
{
    if (slot.used || msg->topic_len + msg->payload_len + 1 > sizeof slot.data) {
        dropped++;
        fw_log(FW_LOG_WARN, "busy: QoS 0 message on %.*s dropped (%lu so far)",
               (int)msg->topic_len, msg->topic, dropped);
        return;
    }
    memcpy(slot.data, msg->topic, msg->topic_len);
    slot.data[msg->topic_len] = '\0';
    memcpy(slot.data + msg->topic_len + 1, msg->payload, msg->payload_len);
    slot.msg = *msg;
    slot.msg.topic = slot.data;
    slot.msg.payload = (const uint8_t *)slot.data + msg->topic_len + 1;
    slot.used = true;
}

static void fw_on_message(void *user, const midge_publish *msg)
{
    (void)user;
    /* QoS 1/2 wait unacknowledged in the client while it holds; only
     * QoS 0 gets here then. */
    if (!serving || answer_due || answer_status != MIDGE_OK) {
        fw_keep(msg);
        return;
    }
    if (!fw_decide(msg))
        return;
    fw_queue_answer();
    fw_drive();
}

/* The slot's command, outside any callback. */
static midge_status fw_handle_slot(void)
{
    if (!slot.used)
        return MIDGE_OK;
    slot.used = false;
    if (!fw_decide(&slot.msg))
        return MIDGE_OK;
    midge_status st = fw_send_rest();
    fw_drive();
    return st;
}

/* --- the connection -------------------------------------------------------- */

/* The client keeps filters by pointer for as long as it lives: copies in
 * a buffer of their own, made once (the device's are the same each time). */
static midge_status fw_subscribe(void)
{
    size_t used = 0;

    for (size_t i = 0; i < ack_out.sub_count; i++) {
        size_t len = strlen(ack_out.subs[i].filter) + 1;
        if (used + len > sizeof filters)
            return MIDGE_ERR_NO_SPACE;
        memcpy(filters + used, ack_out.subs[i].filter, len);
        subs[i].filter = filters + used;
        subs[i].qos = ack_out.subs[i].qos;
        used += len;
    }
    if (ack_out.sub_count == 0)
        return MIDGE_OK;
    return midge_client_subscribe_many(&client, subs, ack_out.sub_count, NULL);
}

/* After every CONNACK: subscriptions, then presence and state; commands
 * wait (held) until those are out, so no answer overtakes them. */
static midge_status fw_after_connack(void)
{
    midge_status st = midge_device_on_connack(&dev, &ack_out);
    if (st == MIDGE_OK)
        st = fw_subscribe();
    for (size_t i = 0; st == MIDGE_OK && i < ack_out.msg_count; i++)
        st = fw_publish(&ack_out.msgs[i]);
    if (st != MIDGE_OK)
        return st;
    midge_client_hold(&client, answer_due);
    return fw_handle_slot();
}

static midge_status fw_connect(void)
{
    midge_client_hold(&client, true);
    answer_status = MIDGE_OK;
    fw_log(FW_LOG_INFO, "connecting to %s:%u as %s (%s)", opts.host, (unsigned)opts.port,
           opts.device_id, midge_device_profile_name(dev_cfg.profile));
    midge_status st = midge_client_connect(&client, NULL);
    if (st != MIDGE_OK)
        return st;
    fw_log(FW_LOG_INFO, "connected");
    return fw_after_connack();
}

/* Until the connection fails. */
static midge_status fw_serve(void)
{
    for (;;) {
        serving = true;
        midge_status st = midge_client_poll(&client, FW_POLL_MS);
        serving = false;
        if (st != MIDGE_OK && st != MIDGE_TIMEOUT)
            return st;
        if (answer_status != MIDGE_OK)
            return answer_status;
        if (answer_due && (st = fw_send_rest()) != MIDGE_OK)
            return st;
        if ((st = fw_handle_slot()) != MIDGE_OK)
            return st;
    }
}

/* "Equal jitter", as `midge device`: half the delay fixed, half random. */
static uint32_t fw_backoff(uint32_t backoff_ms)
{
    const midge_platform *p = board_platform();
    uint32_t half = backoff_ms / 2u;
    uint32_t delay = half + (half ? board_random() % (half + 1u) : 0u);
    uint32_t start = p->clock_ms(p->ctx);

    fw_log(FW_LOG_INFO, "reconnecting in %u ms", (unsigned)delay);
    for (;;) {
        uint32_t spent = p->clock_ms(p->ctx) - start;
        if (spent >= delay)
            break;
        p->idle(p->ctx, delay - spent);
    }
    uint32_t next = backoff_ms * 2u;
    return next > opts.backoff_max_ms || next < backoff_ms ? (uint32_t)opts.backoff_max_ms
                                                            : next;
}

/* CONNACK 4 and 5: retrying the same identity cannot succeed. */
static bool fw_login_refused(midge_status st)
{
    return st == MIDGE_REFUSED_CREDENTIALS || st == MIDGE_REFUSED_NOT_AUTHORIZED;
}

static void fw_run(void)
{
    uint32_t backoff_ms = (uint32_t)opts.backoff_min_ms;

    for (;;) {
        midge_status st = fw_connect();
        if (st == MIDGE_OK) {
            backoff_ms = (uint32_t)opts.backoff_min_ms;
            st = fw_serve();
            fw_log(FW_LOG_WARN, "connection lost: %s", midge_strerror(st));
        } else if (fw_login_refused(st)) {
            fw_log(FW_LOG_ERROR, "%s: check the identity options (-u, -P, --product-id); "
                                 "not retrying", midge_strerror(st));
            board_exit(BOARD_EXIT_USAGE);
        } else {
            fw_log(FW_LOG_ERROR, "%s:%u: %s", opts.host, (unsigned)opts.port,
                   midge_strerror(st));
        }
        backoff_ms = fw_backoff(backoff_ms);
    }
}

/* --- start-up ------------------------------------------------------------------ */

static void fw_trap(enum fw_trap trap)
{
    if (trap == FW_TRAP_FAULT)
        *(volatile uint32_t *)0xfffffff0u = 0; /* no memory there: a bus fault */
    if (trap == FW_TRAP_HEAP) {
        void *volatile p = malloc(16);
        free(p);
    }
}

static void fw_configure(void)
{
    const char *why = NULL;

    midge_device_config_init(&dev_cfg);
    if (opts.profile != NULL)
        midge_device_profile_parse(opts.profile, &dev_cfg.profile);
    dev_cfg.device_id = opts.device_id;
    dev_cfg.product_id = opts.product_id;
    dev_cfg.secret = opts.password;
    dev_cfg.username = dev_cfg.profile == MIDGE_DEVICE_PROFILE_MQTT ? opts.username : NULL;
    dev_cfg.prefix = opts.prefix;
    dev_cfg.property = opts.property;
    dev_cfg.extra_topics = opts.topics;
    dev_cfg.extra_topic_count = opts.topic_count;
    dev_cfg.keepalive_s = opts.keepalive_s;
    dev_cfg.clean_session = opts.clean_session;
    dev_cfg.subscribe_commands = opts.subscribe_commands;
    if (midge_device_init(&dev, &dev_cfg, &why) != MIDGE_OK) {
        fprintf(stderr, "%s: %s\n", FW_PROG, why ? why : "invalid device configuration");
        board_exit(BOARD_EXIT_USAGE);
    }
    midge_device_out_init(&conn_out, conn_buf, sizeof conn_buf);
    midge_device_out_init(&ack_out, ack_buf, sizeof ack_buf);
    midge_device_out_init(&cmd_out, cmd_buf, sizeof cmd_buf);
    if (midge_device_connect(&dev, &conn_out) != MIDGE_OK) {
        fprintf(stderr, "%s: device id or topics too long\n", FW_PROG);
        board_exit(BOARD_EXIT_USAGE);
    }
}

static void fw_client_init(void)
{
    midge_client_config cfg = {
        .host = opts.host,
        .port = opts.port,
        .connect = conn_out.connect,
        .connack_timeout_ms = (uint32_t)opts.connack_timeout_ms,
        .call_timeout_ms = FW_CALL_TIMEOUT_MS,
        .open = midge_lwip_opener,
        .opener = &tcp,
        .platform = board_platform(),
    };
    midge_session_buffers bufs = {
        .tx = tx, .tx_size = sizeof tx, .rx = rx, .rx_size = sizeof rx,
        .store = store, .store_size = sizeof store,
        .rx_qos2_ids = qos2_ids, .rx_qos2_cap = FW_QOS2_IDS,
    };
    midge_lwip_tcp_init(&tcp, board_platform());
    if (midge_client_init(&client, &cfg, &bufs) != MIDGE_OK) {
        fprintf(stderr, "%s: client set-up failed\n", FW_PROG);
        board_exit(BOARD_EXIT_USAGE);
    }
    midge_client_set_callback(&client, fw_on_message, NULL);
}

int main(int argc, char **argv)
{
    const char *why = NULL;

    board_init();
    /* The semihosting command line starts with the program's name (QEMU
     * puts the image's path there), behind the placeholder picolibc's
     * crt0 puts in argv[0]: the options start after it. */
    if (argc > 1) {
        argc--;
        argv++;
    }
    switch (fw_options_parse(argc, argv, board_broker_host, &opts)) {
    case FW_PARSE_EXIT_OK:
        board_exit(BOARD_EXIT_OK);
    case FW_PARSE_EXIT_USAGE:
        board_exit(BOARD_EXIT_USAGE);
    case FW_PARSE_RUN:
        break;
    }
    fw_trap(opts.trap);
    fw_configure();
    if (!board_net_start(&why)) {
        fprintf(stderr, "%s: %s\n", FW_PROG, why);
        board_exit(BOARD_EXIT_NO_NETWORK);
    }
    fw_log(FW_LOG_INFO, "%s at %s, LED off", board_name, board_net_address());
    fw_client_init();
    fw_run();
}
