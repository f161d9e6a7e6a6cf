/*
 * Publish cost, midge session only: midge_session_publish +
 * midge_session_pending + midge_session_sent per message, with no socket.
 * This isolates what the sans-I/O core costs (what a microcontroller port
 * or the epoll fleet pays) from the POSIX client's I/O. The session is put
 * into the connected state by feeding it a CONNACK, as a broker would.
 *
 *   usage: pub_session IGNORED COUNT   (same arguments as the others)
 */
#include <stdint.h>

#include "bench_common.h"
#include "midge/session.h"

/* Kept out of line and opaque so the compiler cannot drop the bytes the
 * "transport" would have read. */
static volatile unsigned sink;

static void take(const uint8_t *data, size_t len) { sink += data[len - 1]; }

int main(int argc, char **argv)
{
    static uint8_t tx[1024], rx[1024];
    static midge_session s;
    static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
    unsigned char payload[BENCH_PAYLOAD_LEN];
    const uint8_t *data;
    size_t used = 0;
    int port;
    long count;

    bench_args(argc, argv, &port, &count);
    bench_payload(payload);

    midge_session_buffers bufs = {.tx = tx, .tx_size = sizeof tx, .rx = rx, .rx_size = sizeof rx};
    midge_connect_opts opts = {.client_id = "bench-session", .keepalive_s = 60,
                               .clean_session = true};
    midge_session_init(&s, &bufs, NULL, NULL);
    if (midge_session_connect(&s, &opts, 0) != MIDGE_OK)
        return 1;
    size_t n = midge_session_pending(&s, &data);
    take(data, n);
    midge_session_sent(&s, n, 0);
    if (midge_session_feed(&s, connack, sizeof connack, &used, 0) != MIDGE_OK ||
        !midge_session_is_connected(&s))
        return 1;

    midge_publish msg = {.topic = BENCH_TOPIC, .topic_len = (uint16_t)strlen(BENCH_TOPIC),
                         .payload = payload, .payload_len = sizeof payload};
    for (long i = 0; i < count; i++) {
        midge_status st = midge_session_publish(&s, &msg, NULL, 0);
        if (st != MIDGE_OK) {
            fprintf(stderr, "pub_session: publish %ld: %s\n", i, midge_strerror(st));
            return 1;
        }
        n = midge_session_pending(&s, &data);
        take(data, n);
        midge_session_sent(&s, n, 0);
    }
    return 0;
}
