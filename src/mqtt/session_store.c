/*
 * The session's outgoing QoS 1/2 store, its packet ids and its incoming
 * QoS 2 table.
 *
 * The store is a log in the caller's buffer: records in send order between
 * store_head and store_len, each [packet id u16 BE][state u8][packet bytes].
 * The packet is kept encoded, so a resend is a copy and the DUP bit a single
 * OR (MQTT 3.1.1 section 3.3.1.1). The length of a record is read from its
 * packet's fixed header, which is why the overhead is only 3 bytes.
 *
 * The state byte says only whether the packet waits to be copied to tx
 * (SESSION_REC_QUEUED) or went out on this connection (SESSION_REC_SENT).
 * The rest of a record's life is in its packet: a PUBLISH or the PUBREL
 * that replaced it, and for a PUBLISH its DUP bit, which is set exactly
 * when it went out on an earlier connection. So a queued PUBLISH without
 * DUP is one the broker has never seen ("new"), and the transitions are
 * plain bit operations shared by every kind of record.
 *
 * Invariants:
 *  - records are in the order their PUBLISHes were first queued, and keep
 *    that order when they become PUBRELs (section 4.6: resend in order);
 *  - every packet in the store was encoded by this session, so its fixed
 *    header is well formed;
 *  - store_head == store_len implies both are 0 (an empty log starts over).
 */
#ifndef MIDGE_CORE_UNIT
#error "a part of the client core: compile src/mqtt/core.c, which includes it"
#endif

#include <string.h>

#include "session_internal.h"

/* First-byte bit of PUBLISH that marks a resend (section 3.3.1.1). */
#define PUBLISH_DUP_BIT 0x08u

/* --- Records ---------------------------------------------------------------- */

static uint8_t *rec_at(const midge_session *s, uint32_t off) { return s->store + off; }

static uint16_t rec_id(const midge_session *s, uint32_t off)
{
    return midge_codec__read_u16(rec_at(s, off));
}

static uint8_t rec_state(const midge_session *s, uint32_t off) { return rec_at(s, off)[2]; }

/* Forced inline: GCC inlines it at -Os anyway, but the receive path
 * around it comes out smaller on both microcontrollers when told to. */
MIDGE_CODEC__ALWAYS_INLINE static inline uint8_t *rec_packet(const midge_session *s, uint32_t off)
{
    return rec_at(s, off) + SESSION_REC_HEADER;
}

static uint8_t rec_type(const midge_session *s, uint32_t off) { return rec_packet(s, off)[0] >> 4; }

static uint8_t rec_qos(const midge_session *s, uint32_t off)
{
    return (uint8_t)((rec_packet(s, off)[0] >> 1) & 0x03u);
}

/* A PUBLISH never sent on any connection: queued, without DUP. */
static bool rec_is_new(const midge_session *s, uint32_t off)
{
    return rec_state(s, off) == SESSION_REC_QUEUED &&
           (rec_packet(s, off)[0] & 0xF8u) == MIDGE_PUBLISH << 4;
}

/* Whole record size. The packet was encoded here, so its remaining length
 * is a well-formed variable byte integer of at most 4 bytes (2.2.3), read
 * without the codec's checks for untrusted input. */
static uint32_t rec_size(const midge_session *s, uint32_t off)
{
    const uint8_t *start = rec_at(s, off);
    const uint8_t *p = start + SESSION_REC_HEADER + 1;
    uint32_t remaining = 0;
    unsigned shift = 0;

    do {
        remaining |= (uint32_t)(*p & 0x7Fu) << shift;
        shift += 7;
    } while (*p++ & 0x80u);
    return (uint32_t)(p - start) + remaining;
}

/* Walks the log to the record holding `id`: returns its offset, store_len
 * when there is none. One id is in the log at most once, as ids are only
 * handed out when free (session__id_take). */
static uint32_t rec_find(const midge_session *s, uint16_t id)
{
    uint32_t off = s->store_head;

    while (off < s->store_len && rec_id(s, off) != id) {
        off += rec_size(s, off);
    }
    return off;
}

/* Take `n` bytes out of the log at offset `at`, sliding what follows down
 * so the log stays contiguous and in order. The one place that moves
 * records: every removal, shrink and compaction goes through it. */
static void log_cut(midge_session *s, uint32_t at, uint32_t n)
{
    memmove(rec_at(s, at), rec_at(s, at + n), s->store_len - at - n);
    s->store_len -= n;
}

/* Acknowledged records are usually the oldest: dropping the head is free;
 * anything else closes the gap. */
static void rec_remove(midge_session *s, uint32_t off)
{
    uint32_t size = rec_size(s, off);

    if (off == s->store_head) {
        s->store_head += size;
    } else {
        log_cut(s, off, size);
    }
    if (s->store_head == s->store_len) {
        s->store_head = 0;
        s->store_len = 0;
    }
}

/* Room for `need` bytes at the end of the log, sliding it to the front of
 * the buffer when the space freed at the head makes the difference. */
static bool store_make_room(midge_session *s, size_t need)
{
    if (s->store_size - s->store_len >= need) {
        return true;
    }
    if (s->store_size - (s->store_len - s->store_head) < need) {
        return false;
    }
    log_cut(s, 0, s->store_head);
    s->store_head = 0;
    return true;
}

/* --- Publishing ----------------------------------------------------------- */

MIDGE_CODEC__COLD_IF_FAST MIDGE_CORE__FN
midge_status session__store_publish(midge_session *s, const midge_publish *msg, uint16_t *packet_id)
{
    /* Every non-zero id sizes the packet the same, so the size is known
     * before the id is chosen. An invalid message is reported as such
     * before any question of room. */
    size_t size = midge_codec__publish_into(NULL, 0, msg, 1);
    if (size == 0) {
        return MIDGE_ERR_INVALID;
    }
    /* A record must fit the empty store, and its packet the empty tx, or it
     * could never be sent: that is a configuration error, not "later". */
    size_t need = SESSION_REC_HEADER + size;
    if (s->store == NULL || need > s->store_size || size > s->tx_size) {
        return MIDGE_ERR_NO_SPACE;
    }
    if (!store_make_room(s, need)) {
        return MIDGE_AGAIN;
    }
    uint16_t id = session__id_take(s);
    if (id == 0) {
        return MIDGE_AGAIN;
    }
    uint8_t *rec = rec_at(s, s->store_len);
    /* First transmission: DUP is 0 (section 3.3.1.1). The message was
     * validated above and the room made, so this cannot fail. */
    (void)midge_codec__publish_into(rec + SESSION_REC_HEADER, size, msg, id);
    rec[0] = (uint8_t)(id >> 8);
    rec[1] = (uint8_t)id;
    rec[2] = SESSION_REC_QUEUED;
    s->store_len += (uint32_t)need;
    s->flags |= SESSION_FLAG_STORE_QUEUED;
    if (packet_id != NULL) {
        *packet_id = id;
    }
    return MIDGE_OK;
}

/* Out of line in the fast build: midge_session_pending() runs after every
 * send, mostly with nothing queued, and then needs no stack frame. */
MIDGE_CODEC__COLD_IF_FAST MIDGE_CORE__FN void session__store_flush(midge_session *s)
{
    uint32_t off = s->store_head;

    while (off < s->store_len) {
        uint32_t size = rec_size(s, off);
        if (rec_state(s, off) == SESSION_REC_QUEUED) {
            uint32_t len = size - SESSION_REC_HEADER;
            /* Stop at the first record that does not fit, so the order on
             * the wire stays the store's order (section 4.6). */
            if (s->tx_size - s->tx_len < len) {
                return;
            }
            memcpy(s->tx + s->tx_len, rec_packet(s, off), len);
            session__tx_commit(s, len);
            rec_at(s, off)[2] = SESSION_REC_SENT;
        }
        off += size;
    }
    s->flags &= (uint8_t)~SESSION_FLAG_STORE_QUEUED;
}

/* --- Acknowledgements (section 4.3) -------------------------------------- */

/* The PUBLISH is no longer needed once PUBREC arrived (section 4.3.3): its
 * place in the log now holds the 4-byte PUBREL, and the bytes after it slide
 * down so the log stays contiguous and in order. A PUBREL record is already
 * that size: it is rewritten as it was. */
static void rec_become_pubrel(midge_session *s, uint32_t off, uint16_t id)
{
    uint32_t keep = SESSION_REC_HEADER + SESSION_ACK_LEN;

    log_cut(s, off + keep, rec_size(s, off) - keep);
    midge_codec__put_ack(rec_packet(s, off), MIDGE_PUBREL, id);
}

MIDGE_CORE__FN midge_status session__store_ack(midge_session *s, uint8_t type, uint16_t id)
{
    uint32_t off = rec_find(s, id);

    /* Only a record the broker can have seen is acknowledged. */
    if (off >= s->store_len || rec_is_new(s, off)) {
        return MIDGE_AGAIN;
    }
    /* What the record awaits (section 4.3): PUBACK for a QoS 1 PUBLISH and
     * PUBREC for a QoS 2 one (type = PUBLISH + QoS), PUBCOMP for a PUBREL,
     * or a repeated PUBREC, answered with PUBREL again (4.3.3). */
    uint8_t want = MIDGE_PUBCOMP;
    if (rec_type(s, off) == MIDGE_PUBLISH) {
        want = (uint8_t)(MIDGE_PUBLISH + rec_qos(s, off));
    } else if (type == MIDGE_PUBREC) {
        want = MIDGE_PUBREC;
    }
    if (type == MIDGE_PUBREC && want == MIDGE_PUBREC) {
        /* The PUBLISH gives way to its PUBREL; a PUBREL stays as it is. */
        rec_become_pubrel(s, off, id);
        rec_at(s, off)[2] = SESSION_REC_QUEUED;
        s->flags |= SESSION_FLAG_STORE_QUEUED;
        return MIDGE_OK;
    }
    /* PUBACK of a QoS 1 PUBLISH or PUBCOMP of a PUBREL completes the
     * exchange. Any other answer means the broker took the message at
     * another QoS: the exchange can never complete, and a resend would
     * meet the same answer, so the record goes either way. */
    rec_remove(s, off);
    return type == want ? MIDGE_OK : MIDGE_ERR_WRONG_ACK;
}

/* --- Reconnection (section 4.4) ------------------------------------------ */

MIDGE_CORE__FN void session__store_mark_resend(midge_session *s)
{
    for (uint32_t off = s->store_head; off < s->store_len; off += rec_size(s, off)) {
        uint8_t *rec = rec_at(s, off);
        /* A PUBLISH that went out is resent with DUP (3.3.1.1), a PUBREL as
         * it is; both queued again. */
        if (rec[2] == SESSION_REC_SENT && rec_type(s, off) == MIDGE_PUBLISH) {
            rec[SESSION_REC_HEADER] |= PUBLISH_DUP_BIT;
        }
        rec[2] = SESSION_REC_QUEUED;
    }
}

MIDGE_CORE__FN size_t session__store_discard_sent(midge_session *s)
{
    uint32_t off = 0;
    size_t dropped = 0;

    /* The broker forgot everything it had seen; a PUBLISH it never saw is
     * still worth sending on the new session, so new records stay, in
     * order. Records are cut one at a time: a store holds a handful. An
     * empty log (maybe with no buffer at all) has nothing to move. */
    if (s->store_len == 0) {
        return 0;
    }
    log_cut(s, 0, s->store_head);
    s->store_head = 0;
    while (off < s->store_len) {
        uint32_t size = rec_size(s, off);
        if (rec_is_new(s, off)) {
            off += size;
        } else {
            log_cut(s, off, size);
            dropped++;
        }
    }
    return dropped;
}

MIDGE_CORE__FN size_t session__store_count(const midge_session *s)
{
    size_t count = 0;

    for (uint32_t off = s->store_head; off < s->store_len; off += rec_size(s, off)) {
        count++;
    }
    return count;
}

/* --- Packet ids (section 2.3.1) -------------------------------------------- */

static bool id_in_use(const midge_session *s, uint16_t id)
{
    return session__ack_slot(s, id) < MIDGE_MAX_PENDING_ACKS ||
           rec_find(s, id) < s->store_len;
}

MIDGE_CORE__FN uint16_t session__id_take(midge_session *s)
{
    uint16_t id = s->next_id;

    /* An id must not be reused while its exchange is unfinished (2.3.1);
     * 0 is never a valid id, so the counter wraps from 65535 to 1 (here,
     * rather than where it is advanced). */
    for (uint32_t tries = 0; tries < 65535u; tries++, id++) {
        if (id == 0) {
            id = 1;
        }
        if (!id_in_use(s, id)) {
            s->next_id = (uint16_t)(id + 1u);
            return id;
        }
    }
    return 0;
}

/* --- Incoming QoS 2 ids (section 4.3.3, method B) -------------------------- */

/* Index of `id` in the table, or rx_qos2_count when it is not there. */
static uint16_t qos2_find(const midge_session *s, uint16_t id)
{
    uint16_t i = 0;

    while (i < s->rx_qos2_count && s->rx_qos2_ids[i] != id) {
        i++;
    }
    return i;
}

MIDGE_CORE__FN int session__qos2_arrived(midge_session *s, uint16_t id)
{
    if (qos2_find(s, id) < s->rx_qos2_count) {
        return 0;
    }
    if (s->rx_qos2_ids == NULL || s->rx_qos2_count >= s->rx_qos2_cap) {
        return -1;
    }
    s->rx_qos2_ids[s->rx_qos2_count++] = id;
    return 1;
}

/* The table is a set: order does not matter, so the last entry fills the hole. */
MIDGE_CORE__FN void session__qos2_remove(midge_session *s, uint16_t id)
{
    uint16_t i = qos2_find(s, id);

    if (i < s->rx_qos2_count) {
        s->rx_qos2_ids[i] = s->rx_qos2_ids[--s->rx_qos2_count];
    }
}
