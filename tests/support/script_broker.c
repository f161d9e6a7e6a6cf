/*
 * The scripted fake broker (script_broker.h): one thread polling the
 * listener and every connection, every wait a short poll() so that stop
 * and pushes are seen at once.
 */
#include "script_broker.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "loopback.h"
#include "midge/config.h"

#define PUSH_SLICE_MS 5 /* how soon a push leaves */
#define IN_MAX 16384
#define WRITE_MS 2000

/* One client connection: its socket and the start of a packet not yet whole. */
struct script_conn {
    int fd; /* -1 = free slot */
    unsigned index;
    size_t len;
    int64_t idle_until;
    uint8_t in[IN_MAX];
};

/* One broker thread at a time per process. */
static struct script_conn conns[SCRIPT_BROKER_CONNS];

/* Feed every whole packet in the connection's buffer to the script; false
 * when the connection should end (malformed input, or the answer could
 * not go). */
static bool serve_packets(script_broker *b, struct script_conn *k)
{
    size_t off = 0;

    while (off < k->len) {
        midge_client_packet pkt;
        midge_decode_result r = midge_codec_decode_from_client(k->in + off, k->len - off, &pkt);
        if (r.outcome == MIDGE_DECODE_NEED_MORE)
            break;
        if (r.outcome == MIDGE_DECODE_MALFORMED)
            return false;
        __atomic_add_fetch(&b->packets[pkt.type & 15u], 1u, __ATOMIC_RELAXED);
        uint8_t out[SCRIPT_BROKER_OUT_MAX];
        size_t n = b->script(b->user, k->index, &pkt, out, sizeof out);
        if (n > 0 && loopback_write_all(k->fd, out, n, WRITE_MS) != LOOPBACK_OK)
            return false;
        off += r.used;
    }
    memmove(k->in, k->in + off, k->len - off);
    k->len -= off;
    return true;
}

static void conn_close(struct script_conn *k)
{
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
}

/* Input on one connection; false when it ended. */
static bool conn_input(script_broker *b, struct script_conn *k)
{
    if (k->len == sizeof k->in)
        return false;
    ssize_t n = read(k->fd, k->in + k->len, sizeof k->in - k->len);
    if (n <= 0)
        return false;
    k->len += (size_t)n;
    k->idle_until = loopback_now_ms() + SCRIPT_BROKER_IDLE_MS;
    return serve_packets(b, k);
}

static void conn_accept(script_broker *b)
{
    int fd = loopback_accept(b->listener, 0);
    if (fd < 0)
        return;
    for (size_t i = 0; i < SCRIPT_BROKER_CONNS; i++) {
        if (conns[i].fd < 0) {
            conns[i].fd = fd;
            conns[i].index = __atomic_fetch_add(&b->connections, 1u, __ATOMIC_RELAXED);
            conns[i].len = 0;
            conns[i].idle_until = loopback_now_ms() + SCRIPT_BROKER_IDLE_MS;
            b->last = (int)i;
            return;
        }
    }
    close(fd); /* more clients than slots: refused */
}

/* A pending script_broker_push goes to the newest connection. */
static void conn_push(script_broker *b)
{
    size_t push = __atomic_load_n(&b->push_len, __ATOMIC_ACQUIRE);
    if (push == 0 || b->last < 0 || conns[b->last].fd < 0)
        return;
    if (loopback_write_all(conns[b->last].fd, b->push, push, WRITE_MS) != LOOPBACK_OK)
        conn_close(&conns[b->last]);
    __atomic_store_n(&b->push_len, 0, __ATOMIC_RELEASE);
}

static void *script_broker_main(void *arg)
{
    script_broker *b = arg;
    int64_t end = loopback_now_ms() + SCRIPT_BROKER_LIFE_MS;
    struct pollfd fds[SCRIPT_BROKER_CONNS + 1];
    size_t slot[SCRIPT_BROKER_CONNS + 1];

    for (size_t i = 0; i < SCRIPT_BROKER_CONNS; i++)
        conns[i].fd = -1;
    b->last = -1;
    while (!b->stop && loopback_now_ms() < end) {
        conn_push(b);
        nfds_t n = 0;
        fds[n++] = (struct pollfd){.fd = b->listener, .events = POLLIN};
        for (size_t i = 0; i < SCRIPT_BROKER_CONNS; i++) {
            if (conns[i].fd < 0)
                continue;
            if (loopback_now_ms() >= conns[i].idle_until) {
                conn_close(&conns[i]);
                continue;
            }
            slot[n] = i;
            fds[n++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        }
        if (poll(fds, n, PUSH_SLICE_MS) <= 0)
            continue;
        if (fds[0].revents != 0)
            conn_accept(b);
        for (nfds_t k = 1; k < n; k++) {
            if (fds[k].revents != 0 && !conn_input(b, &conns[slot[k]]))
                conn_close(&conns[slot[k]]);
        }
    }
    for (size_t i = 0; i < SCRIPT_BROKER_CONNS; i++)
        conn_close(&conns[i]);
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

size_t script_puback_everything(void *user, unsigned conn, const midge_client_packet *pkt,
                                uint8_t *out, size_t cap)
{
    size_t len = script_connack_only(user, conn, pkt, out, cap);

    if (pkt->type == MIDGE_SUBSCRIBE)
        script_put_suback(out, cap, &len, pkt);
    else if (pkt->type == MIDGE_PUBLISH && pkt->packet_id != 0)
        script_put_ack(out, cap, &len, MIDGE_PUBACK, pkt->packet_id);
    return len;
}

size_t script_connack_only(void *user, unsigned conn, const midge_client_packet *pkt,
                           uint8_t *out, size_t cap)
{
    size_t len = 0;
    (void)user;
    (void)conn;
    if (pkt->type == MIDGE_CONNECT)
        script_put_connack(out, cap, &len);
    return len;
}

void script_put_connack(uint8_t *out, size_t cap, size_t *len)
{
    midge_status st;
    *len += midge_codec_encode_connack(out + *len, cap - *len, false, 0, &st);
}

void script_put_suback(uint8_t *out, size_t cap, size_t *len, const midge_client_packet *pkt)
{
    const uint8_t *cursor = pkt->filters.list;
    const uint8_t *end = pkt->filters.list + pkt->filters.list_len;
    uint8_t codes[MIDGE_CLIENT_MAX_SUBS];
    size_t count = 0;
    midge_str f;
    midge_status st;

    while (count < sizeof codes && midge_codec_next_filter(&cursor, end, &f, &codes[count]))
        count++;
    *len += midge_codec_encode_suback(out + *len, cap - *len, pkt->packet_id, codes, count, &st);
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
