/*
 * Publish cost, midge: the blocking client (midge_client_publish), which is
 * the session's encode plus one send() per message over the POSIX TCP
 * transport.
 */
#include <stdint.h>

#include "bench_common.h"
#include "midge/client.h"
#include "midge/port.h"

int main(int argc, char **argv)
{
    static uint8_t tx[1024], rx[1024];
    static midge_client client;
    unsigned char payload[BENCH_PAYLOAD_LEN];
    int port;
    long count;

    bench_args(argc, argv, &port, &count);
    bench_payload(payload);

    midge_session_buffers bufs = {.tx = tx, .tx_size = sizeof tx, .rx = rx, .rx_size = sizeof rx};
    static midge_tcp tcp;
    midge_client_config cfg = {
        .host = BENCH_HOST,
        .port = (uint16_t)port,
        .open = midge_tcp_opener,
        .opener = &tcp,
        .platform = &midge_posix_platform,
        .connect = {.client_id = "bench-midge", .keepalive_s = 60, .clean_session = true},
    };
    midge_status st = midge_client_init(&client, &cfg, &bufs);
    if (st == MIDGE_OK)
        st = midge_client_connect(&client, NULL);
    if (st != MIDGE_OK) {
        fprintf(stderr, "pub_midge: connect: %s\n", midge_strerror(st));
        return 1;
    }
    for (long i = 0; i < count; i++) {
        st = midge_client_publish(&client, BENCH_TOPIC, payload, sizeof payload, 0, false, NULL);
        if (st != MIDGE_OK) {
            fprintf(stderr, "pub_midge: publish %ld: %s\n", i, midge_strerror(st));
            return 1;
        }
    }
    midge_client_disconnect(&client);
    return 0;
}
