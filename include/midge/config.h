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

/* Code for speed or code for size, where the two differ (the bytes on the
 * wire and what is accepted never do). 1: the QoS 0 publish path encodes
 * straight into tx and checks the topic while copying it, and UTF-8 and
 * topic checks go a machine word at a time; the host build, -O2. 0: one
 * publish path that validates, sizes and then copies, and byte loops; much
 * smaller, for microcontroller builds. Default: 0 when the compiler
 * optimises for size (-Os defines __OPTIMIZE_SIZE__), else 1. */
#ifndef MIDGE_FAST_PATHS
#if defined(__OPTIMIZE_SIZE__)
#define MIDGE_FAST_PATHS 0
#else
#define MIDGE_FAST_PATHS 1
#endif
#endif

/* The word-at-a-time UTF-8 and topic checks alone (see MIDGE_FAST_PATHS,
 * which it follows unless set). */
#ifndef MIDGE_TOPIC_WORDS
#define MIDGE_TOPIC_WORDS MIDGE_FAST_PATHS
#endif

/* Subscriptions a blocking client remembers to renew after a reconnect. */
#ifndef MIDGE_CLIENT_MAX_SUBS
#define MIDGE_CLIENT_MAX_SUBS 16
#endif

/* --- Device layer (device.h) ---------------------------------------------- */

/* Command ids a device remembers to answer a redelivered command again
 * without acting twice (OneNET keeps commands for offline devices and may
 * deliver one twice, onenet.md section 1). 8 bytes each in midge_device. */
#ifndef MIDGE_DEVICE_DEDUPE_SLOTS
#define MIDGE_DEVICE_DEDUPE_SLOTS 64
#endif

/* Plain extra topics (like the tutorial's "TurnipRobot") a device may
 * subscribe to besides its command topics. */
#ifndef MIDGE_DEVICE_MAX_EXTRA_TOPICS
#define MIDGE_DEVICE_MAX_EXTRA_TOPICS 4
#endif

/* Largest OneJSON payload (bytes) parsed in full; a larger one is answered
 * with an error when its id can still be read. */
#ifndef MIDGE_DEVICE_JSON_MAX
#define MIDGE_DEVICE_JSON_MAX 1024
#endif

/* jsmn tokens per OneJSON payload, on the stack of midge_device_handle()
 * (16 bytes each on common targets). A property set needs about 10. */
#ifndef MIDGE_DEVICE_JSON_TOKENS
#define MIDGE_DEVICE_JSON_TOKENS 32
#endif

/* Bytes of the log line in midge_device_out, NUL included; longer lines are
 * cut and end in "...". */
#ifndef MIDGE_DEVICE_LOG_MAX
#define MIDGE_DEVICE_LOG_MAX 256
#endif

#endif /* MIDGE_CONFIG_H */
