/*
 * midge client: the session's events. A CONNACK, SUBACK or UNSUBACK ends
 * the wait of the call that expects it (wait_id), a message goes to the
 * application's message callback, and every event then to its event
 * callback.
 */
#include <string.h>

#include "client_internal.h"

/* Topics that cannot be NUL-terminated in place are copied here (see
 * client_deliver); longer ones are cut. The session always hands out
 * topics inside its rx buffer, so this is a fallback only. */
#define CLIENT_TOPIC_COPY_MAX 256

/* A writable pointer to `len` bytes at `p` when they lie inside the rx
 * buffer with at least one byte before them; NULL otherwise. Found by
 * offset from the session's own (writable) rx pointer, so no const is cast
 * away. */
static uint8_t *client_rx_at(midge_client *c, const char *p, size_t len)
{
    uintptr_t base = (uintptr_t)c->session.rx;
    uintptr_t at = (uintptr_t)p;

    if (c->session.rx == NULL || at <= base || at - base > c->session.rx_size)
        return NULL;
    if (len > c->session.rx_size - (at - base))
        return NULL;
    return c->session.rx + (at - base);
}

/*
 * Hand a message to the user with a NUL-terminated topic, without copying
 * it. In a PUBLISH the topic is followed by the packet id or the payload,
 * so no byte after it is free; the byte before it is the low half of its
 * length field, already decoded. So the topic slides one byte left over
 * that byte, the NUL goes where its last byte was, and after the callback
 * everything slides back: the session never sees its buffer changed, and
 * the payload is not touched at all.
 */
static void client_deliver(midge_client *c, const midge_publish *msg)
{
    midge_publish m = *msg;
    size_t len = msg->topic_len;
    uint8_t *at = len ? client_rx_at(c, msg->topic, len) : NULL;

    if (at != NULL) {
        uint8_t saved = at[-1];
        memmove(at - 1, at, len);
        at[len - 1] = '\0';
        m.topic = (const char *)(at - 1);
        c->on_message(c->message_user, &m);
        memmove(at, at - 1, len);
        at[-1] = saved;
        return;
    }
    /* Fallback for a topic outside rx: a bounded copy. */
    char copy[CLIENT_TOPIC_COPY_MAX];
    size_t n = len < sizeof copy - 1 ? len : sizeof copy - 1;
    if (n)
        memcpy(copy, msg->topic, n);
    copy[n] = '\0';
    m.topic = copy;
    c->on_message(c->message_user, &m);
}

static void client_on_suback(midge_client *c, const midge_event *ev)
{
    if (c->wait_id == 0 || ev->packet_id != c->wait_id)
        return;
    c->wait_status = MIDGE_OK;
    for (size_t i = 0; i < ev->suback.count; i++) {
        if (i < MIDGE_CLIENT_MAX_SUBS)
            c->granted[i] = ev->suback.codes[i];
        if (ev->suback.codes[i] == MIDGE_SUBACK_FAILURE)
            c->wait_status = MIDGE_ERR_SUBSCRIBE;
    }
    c->wait_done = true;
}

void client__on_event(void *user, const midge_event *ev)
{
    midge_client *c = user;

    c->dispatching = true;
    switch (ev->type) {
    case MIDGE_EV_CONNACK:
        if (c->wait_id == 0) {
            c->wait_status = ev->status;
            c->granted[0] = ev->connack.session_present;
            c->wait_done = true;
        }
        break;
    case MIDGE_EV_MESSAGE:
        c->got_message = true;
        /* Without a callback the session holds QoS 1/2 (client.h): only
         * QoS 0, never acknowledged, arrives here unseen. */
        if (c->on_message)
            client_deliver(c, &ev->message);
        break;
    case MIDGE_EV_SUBACK:
        client_on_suback(c, ev);
        break;
    case MIDGE_EV_UNSUBACK:
        if (c->wait_id != 0 && ev->packet_id == c->wait_id) {
            c->wait_status = MIDGE_OK;
            c->wait_done = true;
        }
        break;
    case MIDGE_EV_PUBLISH_FAILED:
        /* For the next flush, whatever else reports the loss. */
        c->dropped = ev->status;
        break;
    default:
        break;
    }
    if (c->on_event)
        c->on_event(c->event_user, ev);
    c->dispatching = false;
}

/* The session's trace carries the session's user (this client); forward
 * to the configured trace with its own context. */
void client__on_trace(void *user, bool outgoing, const uint8_t *packet, size_t len)
{
    midge_client *c = user;
    c->cfg.trace(c->cfg.trace_user, outgoing, packet, len);
}
