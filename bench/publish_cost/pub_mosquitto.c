/*
 * Publish cost, libmosquitto: mosquitto_publish() without the background
 * thread, so each call writes to the socket from the caller's thread, as
 * midge's blocking client does.
 */
#include <mosquitto.h>
#include <stdbool.h>

#include "bench_common.h"

static void on_connect(struct mosquitto *mosq, void *user, int rc)
{
    (void)mosq;
    *(int *)user = rc == 0 ? 1 : -1;
}

int main(int argc, char **argv)
{
    unsigned char payload[BENCH_PAYLOAD_LEN];
    int port, connected = 0;
    long count;

    bench_args(argc, argv, &port, &count);
    bench_payload(payload);

    mosquitto_lib_init();
    struct mosquitto *mosq = mosquitto_new("bench-mosquitto", true, &connected);
    if (mosq == NULL)
        return 1;
    mosquitto_connect_callback_set(mosq, on_connect);
    if (mosquitto_connect(mosq, BENCH_HOST, port, 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "pub_mosquitto: connect failed\n");
        return 1;
    }
    /* Wait for CONNACK so every library publishes on an accepted session. */
    while (connected == 0) {
        if (mosquitto_loop(mosq, 1000, 1) != MOSQ_ERR_SUCCESS)
            return 1;
    }
    if (connected < 0)
        return 1;
    for (long i = 0; i < count; i++) {
        int rc = mosquitto_publish(mosq, NULL, BENCH_TOPIC, BENCH_PAYLOAD_LEN, payload, 0, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "pub_mosquitto: publish %ld: %s\n", i, mosquitto_strerror(rc));
            return 1;
        }
    }
    mosquitto_disconnect(mosq);
    mosquitto_loop(mosq, 100, 1);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    return 0;
}
