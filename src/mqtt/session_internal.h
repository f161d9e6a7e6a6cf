/*
 * Internals shared by session.c (sending, timers, lifecycle), session_rx.c
 * (receiving) and session_store.c (the outgoing QoS 1/2 store, packet ids
 * and the incoming QoS 2 table).
 * Not part of the public API.
 */
#ifndef MIDGE_SESSION_INTERNAL_H
#define MIDGE_SESSION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec_internal.h"
#include "midge/session.h"

/* Bits of midge_session.flags. */
enum {
    SESSION_FLAG_CLEAN = 0x01,        /* the current CONNECT asked for a clean session */
    SESSION_FLAG_STORE_QUEUED = 0x02, /* the store may hold records waiting to be sent */
    SESSION_FLAG_PING_QUEUED = 0x04,  /* PINGREQ queued, nothing sent since */
    SESSION_FLAG_PING_AWAIT = 0x08    /* PINGREQ queued, nothing received since */
};

/* State byte of a store record. A record is [packet id u16 BE][state u8][packet];
 * whether the packet is a PUBLISH (DUP set: sent on an earlier connection)
 * or a PUBREL is read from the packet itself (session_store.c). */
enum {
    SESSION_REC_SENT = 0,  /* sent on this connection, awaiting its acknowledgement */
    SESSION_REC_QUEUED = 1 /* to copy into tx once connected */
};

/* Size of a record's header in front of the packet bytes. */
#define SESSION_REC_HEADER 3u

/* --- session_store.c --------------------------------------------------- */

/* Append a QoS 1/2 PUBLISH as a queued record under a fresh packet id. */
MIDGE_CORE__FN
midge_status session__store_publish(midge_session *s, const midge_publish *msg,
                                    uint16_t *packet_id);

/* Copy queued records into free tx room, in store order, marking them sent.
 * Never moves bytes already in tx (the pending() pointer stays valid). */
MIDGE_CORE__FN void session__store_flush(midge_session *s);

/* PUBACK, PUBREC or PUBCOMP (`type`) from the broker for an id we may
 * hold. MIDGE_OK: a PUBACK / PUBCOMP completed the exchange (the record is
 * gone), a PUBREC got its PUBREL queued. MIDGE_AGAIN: no record the broker
 * can have seen holds the id (the caller answers a PUBREC itself).
 * MIDGE_ERR_WRONG_ACK: the record awaits another acknowledgement; it is
 * removed. */
MIDGE_CORE__FN midge_status session__store_ack(midge_session *s, uint8_t type, uint16_t id);

/* The connection is gone: sent PUBLISHes are queued again with DUP set,
 * sent PUBRELs queued again as they are (MQTT 3.1.1 section 4.4). */
MIDGE_CORE__FN void session__store_mark_resend(midge_session *s);

/* CONNACK with session present 0: drop what the old session held, keep the
 * PUBLISHes never sent. Returns how many records were dropped. */
MIDGE_CORE__FN size_t session__store_discard_sent(midge_session *s);

MIDGE_CORE__FN size_t session__store_count(const midge_session *s);

/* A packet id 1..65535 not held by the store or a pending SUBACK/UNSUBACK,
 * starting at next_id, and taken: next_id moves past it, so callers ask
 * for it only once nothing else can fail. 0 when every id is busy. */
MIDGE_CORE__FN uint16_t session__id_take(midge_session *s);

/* Incoming QoS 2 ids between PUBREC and PUBREL (section 4.3.3, method B). */
/* A QoS 2 PUBLISH with `id` arrived: 1 = the first time, now remembered
 * until PUBREL; 0 = a repeat, not to deliver again; -1 = the table is full. */
MIDGE_CORE__FN int session__qos2_arrived(midge_session *s, uint16_t id);
MIDGE_CORE__FN void session__qos2_remove(midge_session *s, uint16_t id);

/* Every acknowledgement the session queues (PUBACK, PUBREC, PUBREL,
 * PUBCOMP) is 4 bytes (sections 3.4 to 3.7). */
#define SESSION_ACK_LEN MIDGE_CODEC__ACK_LEN

/* --- session.c ----------------------------------------------------------- */

/* The `n` bytes just written at the end of tx become pending: they are
 * reported to the trace callback, if any, as one outgoing packet. */
MIDGE_CORE__FN void session__tx_commit(midge_session *s, size_t n);

MIDGE_CORE__FN void session__emit(midge_session *s, midge_event *ev);

/* End the connection: state FAILED, MIDGE_EV_CLOSED with `status` and
 * closed.packet_size (MIDGE_ERR_TOO_BIG: the refused packet's size, else
 * 0); returns `status`. */
MIDGE_CORE__FN
midge_status session__fail(midge_session *s, midge_status status, size_t packet_size);

/* Slot of pending_acks holding `id` (SUBSCRIBE/UNSUBSCRIBE awaiting their
 * acknowledgement), or MIDGE_MAX_PENDING_ACKS when none does; id 0 finds a
 * free slot. */
MIDGE_CORE__FN unsigned session__ack_slot(const midge_session *s, uint16_t id);

/* Bytes tx can take, counting what sliding its pending bytes down frees. */
MIDGE_CORE__FN size_t session__tx_free(const midge_session *s);

/* Queue PUBACK/PUBREC/PUBREL/PUBCOMP (first byte `first`, packet id `id`,
 * 4 bytes), or with `id` 0 PINGREQ/DISCONNECT (2 bytes). MIDGE_OK, or
 * MIDGE_AGAIN / MIDGE_ERR_NO_SPACE when tx lacks the room. */
MIDGE_CORE__FN midge_status session__queue_fixed(midge_session *s, unsigned first, unsigned id);

/* First bytes of the acknowledgements the receive path answers with
 * (sections 3.6.1, 3.7.1; PUBREL alone carries flags 0010). */
#define SESSION_PUBREL (MIDGE_PUBREL << 4 | MIDGE_CODEC__FLAGS_PUBREL)
#define SESSION_PUBCOMP (MIDGE_PUBCOMP << 4)

#endif /* MIDGE_SESSION_INTERNAL_H */
