/*
 * Stand-in LED device for the latency benchmark: the device layer
 * (midge_device, mqtt profile) under the blocking client, with no LED
 * driver and no logging. It is what `midge device --profile mqtt` does on
 * the hot path, minus the CLI around it, so bench/latency.sh can measure
 * before (and beside) the real device.
 *
 *   lat_device PORT DEVICE_ID [MAX_SECONDS]
 *
 * Runs until SIGTERM/SIGINT or MAX_SECONDS (default 600) pass; prints
 * "ready" once subscribed and online, and the device's counters at exit.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "midge/client.h"
#include "midge/port.h"
#include "midge/device.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

typedef struct lat_device {
    midge_client client;
    midge_device dev;
    midge_device_out out; /* per message: reply and state report */
    uint8_t out_buf[1024];
    bool failed;
} lat_device;

/* Queue what the device layer asked for. Inside a callback the client only
 * queues; the step that called us sends it all in one write. */
static void lat_publish_out(lat_device *d, const midge_device_out *out)
{
    for (size_t i = 0; i < out->msg_count; i++) {
        const midge_publish *m = &out->msgs[i];
        midge_status st = midge_client_publish(&d->client, m->topic, m->payload, m->payload_len,
                                               m->qos, m->retain, NULL);
        if (st != MIDGE_OK) {
            fprintf(stderr, "lat_device: reply: %s\n", midge_strerror(st));
            d->failed = true;
        }
    }
}

static void on_message(void *user, const midge_publish *msg)
{
    lat_device *d = user;

    if (midge_device_handle(&d->dev, msg, &d->out) == MIDGE_OK)
        lat_publish_out(d, &d->out);
}

static int lat_fail(const char *what, midge_status st)
{
    fprintf(stderr, "lat_device: %s: %s\n", what, midge_strerror(st));
    return 1;
}

int main(int argc, char **argv)
{
    static uint8_t tx[8192], rx[8192], store[8192];
    static uint16_t qos2_ids[16];
    static lat_device d;
    /* The CONNECT options and the subscription filters are used again on
     * every reconnect, so their outputs live as long as the client. */
    static midge_device_out conn, subs;
    static uint8_t conn_buf[512], subs_buf[512];
    const char *why = NULL;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s PORT DEVICE_ID [MAX_SECONDS]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    long max_s = argc == 4 ? atol(argv[3]) : 600;
    if (port <= 0 || port > 65535 || max_s <= 0) {
        fprintf(stderr, "lat_device: bad PORT or MAX_SECONDS\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    midge_device_config dc;
    midge_device_config_init(&dc);
    dc.profile = MIDGE_DEVICE_PROFILE_MQTT;
    dc.device_id = argv[2];
    dc.clean_session = true;
    if (midge_device_init(&d.dev, &dc, &why) != MIDGE_OK) {
        fprintf(stderr, "lat_device: %s\n", why ? why : "bad configuration");
        return 2;
    }
    midge_device_out_init(&conn, conn_buf, sizeof conn_buf);
    midge_device_out_init(&subs, subs_buf, sizeof subs_buf);
    midge_device_out_init(&d.out, d.out_buf, sizeof d.out_buf);
    midge_status st = midge_device_connect(&d.dev, &conn);
    if (st != MIDGE_OK)
        return lat_fail("device", st);

    midge_session_buffers bufs = {
        .tx = tx, .tx_size = sizeof tx, .rx = rx, .rx_size = sizeof rx,
        .store = store, .store_size = sizeof store,
        .rx_qos2_ids = qos2_ids, .rx_qos2_cap = 16,
    };
    static midge_tcp tcp;
    midge_client_config cfg = {
        .host = "127.0.0.1",
        .port = (uint16_t)port,
        .open = midge_tcp_opener,
        .opener = &tcp,
        .platform = &midge_posix_platform,
        .connect = conn.connect,
    };
    st = midge_client_init(&d.client, &cfg, &bufs);
    if (st == MIDGE_OK)
        st = midge_client_connect(&d.client, NULL);
    if (st != MIDGE_OK)
        return lat_fail("connect", st);

    /* After CONNACK: subscribe to the command topics, then publish presence
     * and state (the device layer's order). */
    st = midge_device_on_connack(&d.dev, &subs);
    if (st == MIDGE_OK)
        st = midge_client_subscribe_many(&d.client, subs.subs, subs.sub_count, NULL);
    if (st != MIDGE_OK)
        return lat_fail("subscribe", st);
    midge_client_set_callback(&d.client, on_message, &d);
    for (size_t i = 0; i < subs.msg_count && st == MIDGE_OK; i++) {
        const midge_publish *m = &subs.msgs[i];
        st = midge_client_publish(&d.client, m->topic, m->payload, m->payload_len, m->qos,
                                  m->retain, NULL);
    }
    if (st == MIDGE_OK)
        st = midge_client_flush(&d.client, 5000);
    if (st != MIDGE_OK)
        return lat_fail("online", st);
    printf("ready\n");
    fflush(stdout);

    /* Serve commands; every wait is bounded by the poll timeout and the
     * whole run by max_s. */
    uint32_t start = midge_clock_ms();
    while (!stop_flag && !d.failed && midge_clock_ms() - start < (uint32_t)max_s * 1000u) {
        st = midge_client_poll(&d.client, 200);
        if (st != MIDGE_OK && st != MIDGE_TIMEOUT)
            return lat_fail("poll", st);
    }

    st = midge_device_shutdown(&d.dev, &d.out);
    if (st == MIDGE_OK)
        lat_publish_out(&d, &d.out);
    midge_client_flush(&d.client, 1000);
    midge_client_disconnect(&d.client);
    const midge_device_stats *k = midge_device_get_stats(&d.dev);
    printf("commands=%u duplicates=%u rejected=%u ignored=%u\n", (unsigned)k->commands,
           (unsigned)k->duplicates, (unsigned)k->rejected, (unsigned)k->ignored);
    return d.failed ? 1 : 0;
}
