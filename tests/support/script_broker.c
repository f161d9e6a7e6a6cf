/*
 * The scripted fake broker (script_broker.h): one thread, one connection at
 * a time, every wait a short poll() so that stop is seen at once.
 */
#include "script_broker.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "loopback.h"

#define SLICE_MS 50
#define PUSH_SLICE_MS 5 /* how soon a push leaves */
#define IN_MAX 65536
#define WRITE_MS 2000

/* Feed every whole packet in in[0..*len) to the script; false when the
 * connection should end (malformed input, or the answer could not go). */
static bool serve_packets(script_broker *b, int fd, uint8_t *in, size_t *len)
{
    size_t off = 0;

    while (off < *len) {
        midge_client_packet pkt;
        midge_decode_result r = midge_codec_decode_from_client(in + off, *len - off, &pkt);
        if (r.outcome == MIDGE_DECODE_NEED_MORE)
            break;
        if (r.outcome == MIDGE_DECODE_MALFORMED)
            return false;
        b->packets[pkt.type & 15u]++;
        uint8_t out[SCRIPT_BROKER_OUT_MAX];
        size_t n = b->script(b->user, b->connections - 1u, &pkt, out, sizeof out);
        if (n > 0 && loopback_write_all(fd, out, n, WRITE_MS) != LOOPBACK_OK)
            return false;
        off += r.used;
    }
    memmove(in, in + off, *len - off);
    *len -= off;
    return true;
}

/* One connection, until the client closes it, stays idle too long, or stop. */
static void serve_connection(script_broker *b, int fd)
{
    static uint8_t in[IN_MAX]; /* one broker thread at a time per process */
    size_t len = 0;
    int64_t idle_until = loopback_now_ms() + SCRIPT_BROKER_IDLE_MS;

    while (!b->stop && loopback_now_ms() < idle_until) {
        size_t push = __atomic_load_n(&b->push_len, __ATOMIC_ACQUIRE);
        if (push > 0) {
            if (loopback_write_all(fd, b->push, push, WRITE_MS) != LOOPBACK_OK)
                return;
            __atomic_store_n(&b->push_len, 0, __ATOMIC_RELEASE);
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, PUSH_SLICE_MS) <= 0)
            continue;
        if (len == sizeof in)
            return;
        ssize_t n = read(fd, in + len, sizeof in - len);
        if (n <= 0)
            return;
        len += (size_t)n;
        idle_until = loopback_now_ms() + SCRIPT_BROKER_IDLE_MS;
        if (!serve_packets(b, fd, in, &len))
            return;
    }
}

static void *script_broker_main(void *arg)
{
    script_broker *b = arg;
    int64_t end = loopback_now_ms() + SCRIPT_BROKER_LIFE_MS;

    while (!b->stop && loopback_now_ms() < end) {
        int fd = loopback_accept(b->listener, SLICE_MS);
        if (fd < 0)
            continue;
        b->connections++;
        serve_connection(b, fd);
        close(fd);
    }
    return NULL;
}

int script_broker_start(script_broker *b, script_broker_fn script, void *user)
{
    memset(b, 0, sizeof *b);
    b->script = script;
    b->user = user;
    b->listener = loopback_listen(&b->port);
    if (b->listener < 0) {
        fprintf(stderr, "script_broker: cannot listen on 127.0.0.1\n");
        return -1;
    }
    if (pthread_create(&b->thread, NULL, script_broker_main, b) != 0) {
        fprintf(stderr, "script_broker: cannot start its thread\n");
        close(b->listener);
        b->listener = -1;
        return -1;
    }
    b->running = true;
    return 0;
}

int script_broker_push(script_broker *b, const uint8_t *bytes, size_t len)
{
    if (len == 0 || len > sizeof b->push)
        return -1;
    memcpy(b->push, bytes, len);
    __atomic_store_n(&b->push_len, len, __ATOMIC_RELEASE);
    int64_t end = loopback_now_ms() + WRITE_MS;
    while (__atomic_load_n(&b->push_len, __ATOMIC_ACQUIRE) != 0) {
        if (loopback_now_ms() >= end) {
            __atomic_store_n(&b->push_len, 0, __ATOMIC_RELEASE);
            return -1;
        }
        poll(NULL, 0, 1);
    }
    return 0;
}

void script_broker_stop(script_broker *b)
{
    if (!b->running)
        return;
    b->stop = true;
    pthread_join(b->thread, NULL);
    close(b->listener);
    b->listener = -1;
    b->running = false;
}

/* --- answers ----------------------------------------------------------------- */

void script_put_connack(uint8_t *out, size_t cap, size_t *len)
{
    midge_status st;
    *len += midge_codec_encode_connack(out + *len, cap - *len, false, 0, &st);
}

void script_put_suback(uint8_t *out, size_t cap, size_t *len, uint16_t id, uint8_t code)
{
    midge_status st;
    *len += midge_codec_encode_suback(out + *len, cap - *len, id, &code, 1, &st);
}

void script_put_ack(uint8_t *out, size_t cap, size_t *len, uint8_t type, uint16_t id)
{
    midge_status st;
    *len += midge_codec_encode_ack(out + *len, cap - *len, type, id, &st);
}

void script_put_publish(uint8_t *out, size_t cap, size_t *len, const char *topic, size_t topic_len,
                        const char *payload, uint8_t qos, uint16_t id)
{
    midge_publish m = {.topic = topic, .topic_len = (uint16_t)topic_len, .qos = qos,
                       .packet_id = id, .payload = (const uint8_t *)payload,
                       .payload_len = strlen(payload)};
    midge_status st;
    *len += midge_codec_encode_publish(out + *len, cap - *len, &m, &st);
}

const char *script_first_filter(const midge_client_packet *pkt, char *buf, size_t cap)
{
    const uint8_t *cursor = pkt->filters.list;
    midge_str f;
    uint8_t qos;

    buf[0] = '\0';
    if (cap > 0 && midge_codec_next_filter(&cursor, pkt->filters.list + pkt->filters.list_len, &f,
                                           &qos)) {
        size_t n = f.len < cap - 1 ? f.len : cap - 1;
        memcpy(buf, f.ptr, n);
        buf[n] = '\0';
    }
    return buf;
}
