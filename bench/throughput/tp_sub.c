/*
 * Throughput counter: the one subscriber every publisher is measured by.
 *
 *   tp_sub PORT TOPIC QOS COUNT
 *
 * Subscribes to TOPIC at QOS, prints "ready" once the SUBACK is in (the
 * script starts the publisher only then), and counts arrivals until COUNT
 * messages came, nothing came for TP_SUB_IDLE_MS after the first one, or
 * TP_DEADLINE_S passed. Prints
 *   received=N bad=B seconds=S rate=R
 * where S runs from the first arrival to the last and R = (N - 1) / S: the
 * rate is what the broker delivered, timed on one side only, so neither the
 * publisher's startup nor its teardown is in it.
 *
 * It is a midge client with a large receive buffer, so one recv() takes
 * hundreds of messages and counting costs the subscriber little: the
 * subscriber must not be what limits the rate. Being the same program for
 * every publisher, it cannot favour one of them.
 */
#include <stdbool.h>

#include "midge/client.h"
#include "midge/port.h"
#include "tp_common.h"

/* After the first arrival, this much silence means the rest was lost. */
#define TP_SUB_IDLE_MS 3000
/* 256 KiB: a full socket buffer's worth of 86-byte PUBLISHes per read. */
#define TP_SUB_RX_SIZE (256 * 1024)

typedef struct tp_counter {
    long received;
    long bad; /* wrong payload length: another run's or a corrupt message */
    int64_t first_ns;
    int64_t last_ns;
} tp_counter;

static void on_message(void *user, const midge_publish *msg)
{
    tp_counter *k = user;
    int64_t now = tp_now_ns();

    if (msg->payload_len != TP_PAYLOAD_LEN) {
        k->bad++;
        return;
    }
    if (k->received == 0)
        k->first_ns = now;
    k->last_ns = now;
    k->received++;
}

int main(int argc, char **argv)
{
    static uint8_t tx[1024], rx[TP_SUB_RX_SIZE];
    static uint16_t qos2_ids[16];
    static midge_client client;
    tp_counter k = {0};
    tp_args a;

    tp_parse(argc, argv, &a);
    midge_session_buffers bufs = {
        .tx = tx, .tx_size = sizeof tx, .rx = rx, .rx_size = sizeof rx,
        .rx_qos2_ids = qos2_ids, .rx_qos2_cap = 16,
    };
    static midge_tcp tcp;
    midge_client_config cfg = {
        .host = TP_HOST,
        .port = (uint16_t)a.port,
        .open = midge_tcp_opener,
        .opener = &tcp,
        .platform = &midge_posix_platform,
        .connect = {.client_id = "tp-sub", .keepalive_s = 60, .clean_session = true},
    };
    midge_status st = midge_client_init(&client, &cfg, &bufs);
    if (st == MIDGE_OK)
        st = midge_client_connect(&client, NULL);
    if (st == MIDGE_OK) {
        midge_client_set_callback(&client, on_message, &k);
        st = midge_client_subscribe(&client, a.topic, (uint8_t)a.qos);
    }
    if (st != MIDGE_OK) {
        fprintf(stderr, "tp_sub: %s\n", midge_strerror(st));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    int64_t start = tp_now_ns();
    while (k.received < a.count && !tp_expired(start)) {
        st = midge_client_poll(&client, 100);
        if (st != MIDGE_OK && st != MIDGE_TIMEOUT) {
            fprintf(stderr, "tp_sub: %s\n", midge_strerror(st));
            break;
        }
        if (k.received > 0 && tp_now_ns() - k.last_ns > (int64_t)TP_SUB_IDLE_MS * 1000000)
            break;
    }
    midge_client_disconnect(&client);

    double seconds = (double)(k.last_ns - k.first_ns) / 1e9;
    double rate = k.received > 1 && seconds > 0 ? (double)(k.received - 1) / seconds : 0.0;
    printf("received=%ld bad=%ld seconds=%.6f rate=%.0f\n", k.received, k.bad, seconds, rate);
    return k.received == a.count ? 0 : 3;
}
