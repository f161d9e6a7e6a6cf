/*
 * midge compile-time knobs. Every one can be overridden with -D or before
 * including any midge header.
 */
#ifndef MIDGE_CONFIG_H
#define MIDGE_CONFIG_H

/* Default time to wait for CONNACK after CONNECT was handed to the transport,
 * in milliseconds. A session may set its own (midge_session_set_connack_timeout). */
#ifndef MIDGE_CONNACK_TIMEOUT_MS
#define MIDGE_CONNACK_TIMEOUT_MS 10000u
#endif

/* SUBSCRIBE/UNSUBSCRIBE packets that may await their acknowledgement at once,
 * per session. Each costs 2 bytes of the session struct. */
#ifndef MIDGE_MAX_PENDING_ACKS
#define MIDGE_MAX_PENDING_ACKS 4
#endif

/* Bytes of bookkeeping per record in the outgoing in-flight store, on top of
 * the encoded packet itself (packet id 2, state 1). */
#define MIDGE_STORE_RECORD_OVERHEAD 3u

/* Subscriptions a blocking client remembers to renew after a reconnect. */
#ifndef MIDGE_CLIENT_MAX_SUBS
#define MIDGE_CLIENT_MAX_SUBS 16
#endif

#endif /* MIDGE_CONFIG_H */
