/*
 * Throughput publisher, midge: the blocking client over the POSIX TCP
 * transport, as an application would use it.
 *
 *   tp_midge PORT TOPIC QOS COUNT
 *
 * QoS 1 window: the session's store is sized for exactly TP_WINDOW records
 * of this message, so midge_client_publish() itself waits for a PUBACK
 * whenever TP_WINDOW messages are unacknowledged: the window is the
 * library's own flow control, not a loop in the benchmark.
 */
#include <stdbool.h>

#include "midge/client.h"
#include "midge/port.h"
#include "tp_common.h"

/* Bytes of one PUBLISH of `topic_len` + TP_PAYLOAD_LEN at `qos`
 * (MQTT 3.1.1 section 3.3): fixed header, topic, packet id, payload. */
static size_t tp_publish_size(size_t topic_len, int qos)
{
    size_t remaining = 2 + topic_len + (qos > 0 ? 2 : 0) + TP_PAYLOAD_LEN;
    size_t header = 2;
    for (size_t r = remaining; r > 127; r >>= 7)
        header++;
    return header + remaining;
}

int main(int argc, char **argv)
{
    static uint8_t tx[16 * 1024], rx[4096];
    static uint8_t store[TP_WINDOW * (3 + 2 + 2 + TP_TOPIC_MAX + 2 + TP_PAYLOAD_LEN +
                                      MIDGE_STORE_RECORD_OVERHEAD)];
    static midge_client client;
    unsigned char payload[TP_PAYLOAD_LEN];
    tp_args a;

    tp_parse(argc, argv, &a);
    tp_payload(payload);

    size_t record = tp_publish_size(strlen(a.topic), 1) + MIDGE_STORE_RECORD_OVERHEAD;
    midge_session_buffers bufs = {
        .tx = tx, .tx_size = sizeof tx, .rx = rx, .rx_size = sizeof rx,
        .store = store, .store_size = TP_WINDOW * record,
    };
    static midge_tcp tcp;
    midge_client_config cfg = {
        .host = TP_HOST,
        .port = (uint16_t)a.port,
        .open = midge_tcp_opener,
        .opener = &tcp,
        .platform = &midge_posix_platform,
        .connect = {.client_id = "tp-midge", .keepalive_s = 60, .clean_session = true},
    };
    midge_status st = midge_client_init(&client, &cfg, &bufs);
    if (st == MIDGE_OK)
        st = midge_client_connect(&client, NULL);
    if (st != MIDGE_OK) {
        fprintf(stderr, "tp_midge: connect: %s\n", midge_strerror(st));
        return 1;
    }

    int64_t start = tp_now_ns();
    size_t max_inflight = 0;
    long i;
    for (i = 0; i < a.count; i++) {
        st = midge_client_publish(&client, a.topic, payload, sizeof payload, (uint8_t)a.qos,
                                  false, NULL);
        if (st != MIDGE_OK) {
            fprintf(stderr, "tp_midge: publish %ld: %s\n", i, midge_strerror(st));
            return 1;
        }
        /* A sampled check that the window holds: counting the store walks
         * it, which would cost more than it proves if done every time. */
        if ((i & 1023) == 0) {
            size_t n = midge_session_inflight(&client.session);
            max_inflight = n > max_inflight ? n : max_inflight;
        }
        if ((i & 4095) == 0 && tp_expired(start))
            break;
    }
    st = midge_client_flush(&client, TP_DEADLINE_S * 1000u);
    if (st != MIDGE_OK) {
        fprintf(stderr, "tp_midge: flush: %s\n", midge_strerror(st));
        return 1;
    }
    tp_report(i, start);
    midge_client_disconnect(&client);
    if (max_inflight > TP_WINDOW) {
        fprintf(stderr, "tp_midge: %zu in flight, window is %d\n", max_inflight, TP_WINDOW);
        return 1;
    }
    return i == a.count ? 0 : 1;
}
