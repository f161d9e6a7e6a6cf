/*
 * The session's receiving half: bytes in, packets decoded in place, and the
 * protocol's answers (MQTT 3.1.1 sections 3.2 to 3.13, 4.3). The sending
 * half, timers and lifecycle are in session.c.
 */
#ifndef MIDGE_CORE_UNIT
#error "a part of the client core: compile src/mqtt/core.c, which includes it"
#endif

#include <string.h>

#include "session_internal.h"

/* --- Receiving ------------------------------------------------------------ */

/* The event is the caller's, zeroed, with the packet id set: every packet
 * type fills in its own fields of the one event, which is smaller than an
 * event (and its clearing) per handler. */
static midge_status on_connack(midge_session *s, const midge_packet *pkt, midge_event *ev)
{
    bool present = pkt->connack.session_present;
    /* The codec refused codes 6..255 (3.2.2.3). A refusal is reported as
     * itself, then ends the connection. */
    midge_status refused = (midge_status)(-(int)pkt->connack.return_code);

    if (refused == MIDGE_OK) {
        /* With CleanSession = 1 the server must answer session present 0
         * (section 3.2.2.2); anything else means we cannot trust its state. */
        if (present && (s->flags & SESSION_FLAG_CLEAN)) {
            return MIDGE_ERR_PROTOCOL;
        }
        s->state = MIDGE_SESSION_CONNECTED;
        if (!present) {
            /* The broker has no session: what it had seen is gone (4.1). */
            size_t lost = session__store_discard_sent(s) + s->rx_qos2_count;
            s->rx_qos2_count = 0;
            if (lost != 0) {
                ev->type = MIDGE_EV_SESSION_LOST;
                ev->session_lost.discarded = lost;
                session__emit(s, ev);
                ev->session_lost.discarded = 0;
            }
        }
        /* Resends (section 4.4) and fresh QoS 1/2 go out through pending(). */
        s->flags |= SESSION_FLAG_STORE_QUEUED;
    }
    ev->type = MIDGE_EV_CONNACK;
    ev->status = refused;
    ev->connack = pkt->connack;
    session__emit(s, ev);
    return refused;
}

/* The acknowledgement is queued before the message is delivered: the room
 * for it was checked, and a callback publishing into tx must not take it. */
static midge_status on_publish(midge_session *s, const midge_packet *pkt, midge_event *ev)
{
    uint8_t qos = pkt->publish.qos;
    bool fresh = true;

    /* QoS 2, method B of section 4.3.3: the id is remembered from the first
     * PUBREC until PUBREL, and a PUBLISH repeating it is not delivered again. */
    if (qos == 2) {
        int arrived = session__qos2_arrived(s, pkt->packet_id);
        if (arrived < 0) {
            return MIDGE_ERR_INFLIGHT_FULL;
        }
        fresh = arrived != 0;
    }
    /* QoS 1 is answered with PUBACK (4), QoS 2 with PUBREC (5); both
     * carry flags 0000. */
    if (qos != 0) {
        (void)session__queue_fixed(s, (MIDGE_PUBLISH + qos) << 4, pkt->packet_id);
    }
    if (fresh) {
        ev->type = MIDGE_EV_MESSAGE;
        ev->message = pkt->publish;
        session__emit(s, ev);
    }
    return MIDGE_OK;
}

static midge_status dispatch(midge_session *s, const midge_packet *pkt)
{
    midge_event ev;
    uint8_t type = pkt->type;
    uint16_t id = pkt->packet_id;

    memset(&ev, 0, sizeof ev);
    ev.packet_id = id;
    /* The first packet from the server must be CONNACK, and only the first
     * (sections 3.2 and 3.1.0 applied to the server's side). */
    if ((s->state == MIDGE_SESSION_CONNECTING) != (type == MIDGE_CONNACK)) {
        return MIDGE_ERR_PROTOCOL;
    }
    /* The codec let through only the types a server sends (CONNACK,
     * PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK,
     * PINGRESP), so a chain of tests sorts them: smaller than the jump
     * table a switch over the type range compiles to. */
    if (type == MIDGE_CONNACK) {
        return on_connack(s, pkt, &ev);
    }
    if (type == MIDGE_PUBLISH) {
        return on_publish(s, pkt, &ev);
    }
    if (type == MIDGE_PUBREL) {
        /* PUBREL always gets PUBCOMP, even for an unknown id (section
         * 4.3.3): the broker may be resending after we released the id. */
        session__qos2_remove(s, id);
        (void)session__queue_fixed(s, SESSION_PUBCOMP, id);
        return MIDGE_OK;
    }
    if (type == MIDGE_PINGRESP) {
        ev.type = MIDGE_EV_PINGRESP;
    } else if (type >= MIDGE_SUBACK) {
        /* SUBACK / UNSUBACK for an id we did not send are tolerated (ignored).
         * The codec refused id 0, which would find a free slot. */
        unsigned slot = session__ack_slot(s, id);
        if (slot == MIDGE_MAX_PENDING_ACKS) {
            return MIDGE_OK;
        }
        s->pending_acks[slot] = 0;
        ev.type = MIDGE_EV_UNSUBACK;
        if (type == MIDGE_SUBACK) {
            ev.type = MIDGE_EV_SUBACK;
            ev.suback = pkt->suback;
        }
    } else { /* PUBACK, PUBREC, PUBCOMP */
        midge_status st = session__store_ack(s, type, id);
        if (st == MIDGE_AGAIN) {
            /* An unknown PUBACK or PUBCOMP is tolerated: the ack of a
             * message already gone. A PUBREC for an id we do not hold is
             * still answered with PUBREL (section 4.3.3 requires the sender
             * to answer PUBREC with PUBREL), so a broker whose state
             * outlived ours can finish the exchange; it answers PUBCOMP,
             * which we ignore. */
            if (type == MIDGE_PUBREC) {
                (void)session__queue_fixed(s, SESSION_PUBREL, id);
            }
            return MIDGE_OK;
        }
        if (st != MIDGE_OK) {
            /* The wrong acknowledgement for a message in flight: the store
             * dropped it. Named here; the caller's failure path closes. */
            ev.type = MIDGE_EV_PUBLISH_FAILED;
            ev.status = st;
            session__emit(s, &ev);
            return st;
        }
        /* The store turned a QoS 2 record into PUBREL: nothing completed. */
        if (type == MIDGE_PUBREC) {
            return MIDGE_OK;
        }
        ev.type = MIDGE_EV_PUBLISHED;
    }
    session__emit(s, &ev);
    return MIDGE_OK;
}

/* Tx bytes a packet's answer needs, judged from its first byte alone. */
static size_t answer_len(uint8_t first)
{
    uint8_t type = first >> 4;

    if (type == MIDGE_PUBLISH) {
        return ((first >> 1) & 0x03u) != 0 ? SESSION_ACK_LEN : 0;
    }
    return (type == MIDGE_PUBREC || type == MIDGE_PUBREL) ? SESSION_ACK_LEN : 0;
}

/* One packet at buf[0, len). *used stays 0 when it is incomplete, or when
 * tx lacks room for its answer (back-pressure: the bytes wait in rx). The
 * codec refuses a bad first byte or length field before the body arrives.
 * With `hold`, a QoS 1/2 PUBLISH is left as it is: MIDGE_AGAIN, with its
 * size in *used. */
static midge_status rx_one(midge_session *s, const uint8_t *buf, size_t len, size_t *used,
                           bool hold)
{
    midge_packet pkt;
    midge_decode_result r = midge_codec_decode(buf, len, &pkt);

    if (r.outcome == MIDGE_DECODE_MALFORMED) {
        return MIDGE_ERR_PROTOCOL;
    }
    /* Too big is known from the fixed header alone, before any payload is
     * buffered; a complete packet is in rx, so it always fits. The size
     * goes back in *used for the event. */
    if (r.outcome == MIDGE_DECODE_NEED_MORE) {
        if (r.needed > s->rx_size) {
            *used = r.needed;
            return MIDGE_ERR_TOO_BIG;
        }
        return MIDGE_OK;
    }
    /* Neither answered nor delivered, a held PUBLISH needs no tx room. One
     * before CONNACK is not held: dispatch() refuses it. */
    if (hold && pkt.type == MIDGE_PUBLISH && pkt.publish.qos != 0 &&
        s->state != MIDGE_SESSION_CONNECTING) {
        *used = r.used;
        return MIDGE_AGAIN;
    }
    if (session__tx_free(s) < answer_len(buf[0])) {
        return MIDGE_OK;
    }
    if (s->trace != NULL) {
        s->trace(s->user, false, buf, r.used);
    }
    *used = r.used;
    return dispatch(s, &pkt);
}

static bool rx_open(const midge_session *s)
{
    return s->state == MIDGE_SESSION_CONNECTING || s->state == MIDGE_SESSION_CONNECTED ||
           s->state == MIDGE_SESSION_CLOSING;
}

static midge_status rx_closed_status(const midge_session *s)
{
    return s->state == MIDGE_SESSION_IDLE ? MIDGE_ERR_NOT_CONNECTED : MIDGE_ERR_STATE;
}

/* Decode every whole packet in rx, then drop the handled ones in one move.
 * Events may point into rx, so only what no event can see moves during
 * the batch: a held PUBLISH slides down over packets handled before it,
 * which keeps the held ones at the front, contiguous and in order. While
 * held, the batch starts behind them; released, at the front. */
static midge_status rx_process(midge_session *s)
{
    uint32_t held = s->hold ? s->rx_held : 0;
    size_t off = held;
    midge_status st = MIDGE_OK;

    while (off < s->rx_len && rx_open(s)) {
        size_t used = 0;
        /* Behind a held PUBLISH every QoS 1/2 one waits too (order). */
        bool hold = held != 0 || s->hold;
        st = rx_one(s, s->rx + off, s->rx_len - off, &used, hold);
        if (st == MIDGE_AGAIN) {
            memmove(s->rx + held, s->rx + off, used);
            held += (uint32_t)used;
            st = MIDGE_OK;
        } else if (st != MIDGE_OK) {
            /* Every failure on the way in ends here, once. */
            st = session__fail(s, st, st == MIDGE_ERR_TOO_BIG ? used : 0);
            break;
        }
        if (used == 0) {
            break;
        }
        off += used;
    }
    /* A callback may have ended the connection and emptied rx meanwhile
     * (rx_held with it). */
    if (s->rx_len != 0) {
        if (off != held) {
            memmove(s->rx + held, s->rx + off, s->rx_len - off);
            s->rx_len -= (uint32_t)(off - held);
        }
        s->rx_held = held;
    }
    return st;
}

size_t midge_session_rx_space(midge_session *s, uint8_t **buf)
{
    *buf = s->rx;
    if (s->rx == NULL) {
        return 0;
    }
    *buf = s->rx + s->rx_len;
    return s->rx_size - s->rx_len;
}

void midge_session_hold(midge_session *s, bool hold)
{
    s->hold = hold;
}

midge_status midge_session_received(midge_session *s, size_t n, uint32_t now_ms)
{
    if (!rx_open(s)) {
        return rx_closed_status(s);
    }
    if (n > s->rx_size - s->rx_len) {
        return MIDGE_ERR_INVALID;
    }
    /* Any byte from the broker proves it alive (section 3.1.2.10). */
    if (n != 0) {
        s->rx_len += (uint32_t)n;
        s->last_rx_ms = now_ms;
        s->flags &= (uint8_t)~SESSION_FLAG_PING_AWAIT;
    }
    return rx_process(s);
}

midge_status midge_session_feed(midge_session *s, const uint8_t *data, size_t len,
                                size_t *used, uint32_t now_ms)
{
    size_t taken = 0, n = 0;
    midge_status st = MIDGE_ERR_INVALID;

    /* A loop over the zero-copy pair, so both ways in share every check,
     * through one call site. The first round takes no bytes: those held
     * back earlier go first, as tx may have room for their answers now. */
    if (data != NULL || len == 0) {
        for (;;) {
            st = midge_session_received(s, n, now_ms);
            if (st != MIDGE_OK || taken == len || !rx_open(s)) {
                break;
            }
            uint8_t *room = NULL;
            n = midge_session_rx_space(s, &room);
            if (n == 0) {
                break;
            }
            if (n > len - taken) {
                n = len - taken;
            }
            memcpy(room, data + taken, n);
            taken += n;
        }
    }
    if (used != NULL) {
        *used = taken;
    }
    return st;
}
