/* Scripted transport and fake clock for session tests: see fake_transport.h. */
#include "fake_transport.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static size_t clamp(size_t n, size_t max) { return n < max ? n : max; }

static void copy_text(char *dst, const void *src, size_t len)
{
    len = clamp(len, FAKE_LINK_TEXT_MAX - 1);
    if (len != 0) {
        memcpy(dst, src, len);
    }
    dst[len] = '\0';
}

static void on_event(void *user, const midge_event *ev)
{
    fake_link *l = user;

    if (l->event_count == FAKE_LINK_EVENTS_MAX) {
        return;
    }
    fake_event *e = &l->events[l->event_count++];
    memset(e, 0, sizeof *e);
    e->type = ev->type;
    e->status = ev->status;
    e->packet_id = ev->packet_id;
    switch (ev->type) {
    case MIDGE_EV_CONNACK:
        e->session_present = ev->connack.session_present;
        e->return_code = ev->connack.return_code;
        break;
    case MIDGE_EV_MESSAGE:
        e->qos = ev->message.qos;
        e->dup = ev->message.dup;
        copy_text(e->topic, ev->message.topic, ev->message.topic_len);
        copy_text(e->payload, ev->message.payload, ev->message.payload_len);
        if (l->hold_after != 0 && fake_link_count(l, MIDGE_EV_MESSAGE) == l->hold_after) {
            midge_session_hold(&l->session, true);
        }
        break;
    case MIDGE_EV_SUBACK:
        e->count = clamp(ev->suback.count, FAKE_LINK_TEXT_MAX);
        memcpy(e->codes, ev->suback.codes, e->count);
        break;
    case MIDGE_EV_SESSION_LOST:
        e->count = ev->session_lost.discarded;
        break;
    case MIDGE_EV_CLOSED:
        e->count = ev->closed.packet_size;
        break;
    default:
        break;
    }
}

static void on_trace(void *user, bool outgoing, const uint8_t *packet, size_t len)
{
    fake_link *l = user;

    (void)packet;
    (void)len;
    if (outgoing) {
        l->traced_out++;
    } else {
        l->traced_in++;
    }
}

void fake_link_init(fake_link *l, size_t tx_size, size_t rx_size, size_t store_size,
                    uint16_t qos2_cap)
{
    midge_session_buffers bufs;

    memset(l, 0, sizeof *l);
    bufs.tx = l->tx;
    bufs.tx_size = clamp(tx_size, FAKE_LINK_BUF_MAX);
    bufs.rx = l->rx;
    bufs.rx_size = clamp(rx_size, FAKE_LINK_BUF_MAX);
    bufs.store = store_size != 0 ? l->store : NULL;
    bufs.store_size = clamp(store_size, FAKE_LINK_BUF_MAX);
    bufs.rx_qos2_ids = l->qos2;
    bufs.rx_qos2_cap = (uint16_t)clamp(qos2_cap, FAKE_LINK_QOS2_MAX);
    midge_session_init(&l->session, &bufs, on_event, l);
    midge_session_set_trace(&l->session, on_trace);
}

size_t fake_link_drain(fake_link *l)
{
    size_t total = 0;
    const uint8_t *data = NULL;
    size_t n;

    while ((n = midge_session_pending(&l->session, &data)) != 0) {
        n = clamp(n, FAKE_LINK_OUT_MAX - l->out_len);
        if (n == 0) {
            break;
        }
        memcpy(l->out + l->out_len, data, n);
        l->out_len += n;
        total += n;
        midge_session_sent(&l->session, n, l->now);
    }
    return total;
}

size_t fake_link_take(fake_link *l, uint8_t *buf, size_t cap)
{
    fake_link_drain(l);
    size_t n = clamp(l->out_len, cap);
    memcpy(buf, l->out, n);
    l->out_len = 0;
    return n;
}

midge_status fake_link_feed(fake_link *l, const void *bytes, size_t len, size_t *used)
{
    return midge_session_feed(&l->session, bytes, len, used, l->now);
}

const fake_event *fake_link_last(const fake_link *l, midge_event_type type)
{
    for (size_t i = l->event_count; i > 0; i--) {
        if (l->events[i - 1].type == type) {
            return &l->events[i - 1];
        }
    }
    return NULL;
}

size_t fake_link_count(const fake_link *l, midge_event_type type)
{
    size_t n = 0;

    for (size_t i = 0; i < l->event_count; i++) {
        n += l->events[i].type == type;
    }
    return n;
}

void fake_link_expect(fake_link *l, const uint8_t *want, size_t len)
{
    static uint8_t got[FAKE_LINK_OUT_MAX];
    size_t n = fake_link_take(l, got, sizeof got);

    assert_int_equal(n, len);
    assert_memory_equal(got, want, len);
}

void fake_link_connect(fake_link *l, const midge_connect_opts *opts, bool session_present)
{
    uint8_t connack[] = {0x20, 0x02, session_present ? 1 : 0, 0x00};

    assert_int_equal(midge_session_connect(&l->session, opts, l->now), MIDGE_OK);
    fake_link_drain(l);
    l->out_len = 0;
    assert_int_equal(fake_link_feed(l, connack, sizeof connack, NULL), MIDGE_OK);
    assert_true(midge_session_is_connected(&l->session));
}

midge_status fake_link_publish(fake_link *l, const char *payload, uint8_t qos, uint16_t *id)
{
    midge_publish m;

    memset(&m, 0, sizeof m);
    m.topic = FAKE_TOPIC;
    m.topic_len = (uint16_t)strlen(FAKE_TOPIC);
    m.payload = (const uint8_t *)payload;
    m.payload_len = strlen(payload);
    m.qos = qos;
    return midge_session_publish(&l->session, &m, id, l->now);
}
