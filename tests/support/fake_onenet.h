/*
 * Fake OneNET servers for tests: a loopback MQTT server that behaves as
 * ../shared/reference/onenet.md says the platform does, for one device.
 *
 *   FAKE_ONENET_LEGACY  the "multi-protocol" MQTT service (section 1)
 *   FAKE_ONENET_STUDIO  the current service with token login (section 2)
 *
 * The server runs in a thread of the test process. Every socket wait is
 * bounded; nothing is ever read from or written to anything but 127.0.0.1.
 * What the device does is recorded as a list of events the test reads
 * (and waits for) afterwards; what the server sends is driven by the test
 * (fake_onenet_push, fake_onenet_drop).
 *
 * CONNECT rules, legacy (section 1). Checked in this order; the first
 * failure decides:
 *   protocol level 4, user name and password flags set, no will (flag, QoS
 *   and retain 0), keepalive 0 or >= 120, client id = device id, user name
 *   = product id: otherwise no CONNACK, the socket is closed (DROPPED);
 *   password = API key: otherwise CONNACK 4 and close (REFUSED).
 * CONNECT rules, Studio (section 2):
 *   protocol level 4, user name and password flags set, no will, clean
 *   session 1, keepalive 10..1800, client id = device name, user name =
 *   product id: otherwise no CONNACK, closed (DROPPED);
 *   password = a token for res products/{pid}/devices/{name}, version
 *   2018-10-31, whose sign verifies with the device key for its own et and
 *   method: otherwise CONNACK 4 (REFUSED); a valid token whose et is not in
 *   the future: CONNACK 5 (REFUSED).
 * Both: a packet before CONNECT, a malformed packet or a second CONNECT on
 * one connection closes it. A device that sends anything before its CONNACK
 * arrived is closed too (VIOLATION); connack_delay_ms widens that window so
 * a pipelining device is caught. An accepted CONNECT closes every other
 * connection that logged in with the same client id (KICKED), as the
 * platform kicks off the older login.
 *
 * SUBSCRIBE, legacy: '$' topics and wildcards are refused (0x80), plain
 *   topics of letters, digits and '/' are granted QoS 0; at most 100 kept.
 *   Clean session 0 keeps the list for the next login (session present).
 * SUBSCRIBE, Studio: filters under $sys/{pid}/{name}/ with wildcards only
 *   from the 5th level on are granted QoS 0; others 0x80; at most 15 kept.
 *   More than 8 filters in one SUBSCRIBE closes the connection.
 * PUBLISH from the device: QoS 1 is acknowledged (PUBACK); QoS 2 or retain
 *   closes the connection. Legacy accepts $dp, $crsp/<id> and plain topics;
 *   Studio only $sys/{pid}/{name}/ + thing/property/post,
 *   thing/property/set_reply, thing/property/get_reply, cmd/response/<id>,
 *   dp/post/json, thing/event/post. Any other topic closes the connection
 *   without warning (VIOLATION). A legacy $dp whose length fields do not
 *   match its payload is a VIOLATION too.
 * Keepalive (both): a live connection that sends nothing for 1.5 x its
 *   keepalive is closed (VIOLATION), as Studio documents and as the
 *   legacy service does to umqtt.simple devices that never ping.
 * PUBLISH to the device (fake_onenet_push): always QoS 0. Legacy $creq/...
 *   goes out without any subscription; every other topic only when the
 *   live connection holds a matching subscription.
 *
 * Secrets: the server never records or prints a password, token or key.
 */
#ifndef MIDGE_TEST_FAKE_ONENET_H
#define MIDGE_TEST_FAKE_ONENET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fake_onenet_kind {
    FAKE_ONENET_LEGACY = 0,
    FAKE_ONENET_STUDIO
} fake_onenet_kind;

typedef struct fake_onenet_config {
    fake_onenet_kind kind;
    const char *product_id; /* the CONNECT user name */
    const char *device_id;  /* the client id: legacy device ID, Studio device name */
    const char *secret;     /* legacy: API key (the password); Studio: base64 device key */
    int connack_delay_ms;   /* hold each CONNACK this long, watching for early bytes */
    int keepalive_unit_ms;  /* length of one keepalive second; 0 = 1000 (a test may shrink it) */
} fake_onenet_config;

/* Sizes of what one event keeps; longer topics and payloads are cut (and
 * the event's `cut` flag set). */
#define FAKE_ONENET_TOPIC_MAX 256
#define FAKE_ONENET_PAYLOAD_MAX 1024
#define FAKE_ONENET_WHY_MAX 160
#define FAKE_ONENET_EVENT_MAX 1024

typedef enum fake_onenet_what {
    FAKE_ONENET_ACCEPTED,    /* CONNECT passed, CONNACK 0 sent: this connection is live */
    FAKE_ONENET_REFUSED,     /* CONNACK `code` (4, 5) sent, then closed; why */
    FAKE_ONENET_DROPPED,     /* CONNECT (or its absence) closed without CONNACK; why */
    FAKE_ONENET_KICKED,      /* this older connection closed: same client id logged in again */
    FAKE_ONENET_VIOLATION,   /* the device broke a rule; closed without warning; why */
    FAKE_ONENET_SUBSCRIBE,   /* one filter (topic) and the SUBACK code answered */
    FAKE_ONENET_UNSUBSCRIBE, /* one filter (topic) */
    FAKE_ONENET_PUBLISH,     /* from the device: topic, payload, qos, retain, dup */
    FAKE_ONENET_PUSHED,      /* to the device, by fake_onenet_push */
    FAKE_ONENET_PING,        /* PINGREQ, answered */
    FAKE_ONENET_DISCONNECT,  /* the device sent DISCONNECT */
    FAKE_ONENET_CLOSED,      /* the device closed the connection without DISCONNECT */
    FAKE_ONENET_SERVER_DROP  /* closed by fake_onenet_drop */
} fake_onenet_what;

typedef struct fake_onenet_event {
    fake_onenet_what what;
    int conn;        /* which connection: 1 for the first accepted TCP connection, ... */
    int64_t at_ms;   /* loopback_now_ms() when recorded */
    uint8_t code;    /* REFUSED: CONNACK code; SUBSCRIBE: SUBACK code */
    uint8_t qos;     /* PUBLISH, SUBSCRIBE (requested) */
    bool retain;
    bool dup;
    bool cut;        /* topic or payload longer than kept here */
    uint16_t packet_id;
    char topic[FAKE_ONENET_TOPIC_MAX];   /* NUL-terminated */
    uint8_t payload[FAKE_ONENET_PAYLOAD_MAX];
    size_t len;      /* payload bytes kept */
    char why[FAKE_ONENET_WHY_MAX];       /* REFUSED, DROPPED, VIOLATION */
    /* ACCEPTED, REFUSED: the CONNECT's other fields */
    uint16_t keepalive_s;
    bool clean_session;
    bool session_present; /* ACCEPTED: what CONNACK said */
    uint64_t token_et;    /* Studio: the token's expiry (0 when unparsable) */
    char token_method[8]; /* Studio: "md5", "sha1", "sha256" or "" */
} fake_onenet_event;

typedef struct fake_onenet fake_onenet;

/* Listen on 127.0.0.1 (a port the kernel picks) and start serving. The
 * config's strings are copied. NULL on failure. */
fake_onenet *fake_onenet_start(const fake_onenet_config *cfg);

/* Stop the thread, close every socket, free. NULL is fine. */
void fake_onenet_stop(fake_onenet *s);

uint16_t fake_onenet_port(const fake_onenet *s);

/* Events recorded so far (they are never removed). */
size_t fake_onenet_count(fake_onenet *s);

/* Copy event i; false when there is none (yet). */
bool fake_onenet_get(fake_onenet *s, size_t i, fake_onenet_event *out);

/*
 * Wait up to timeout_ms for the first event at index >= *cursor of kind
 * `what` (and, when `topic` is not NULL, with exactly that topic). On true,
 * *out (may be NULL) gets it and *cursor moves just past it. timeout_ms 0
 * only looks.
 */
bool fake_onenet_next(fake_onenet *s, size_t *cursor, fake_onenet_what what,
                      const char *topic, int timeout_ms, fake_onenet_event *out);

/* How many events of kind `what` (and topic, if not NULL) were recorded. */
size_t fake_onenet_tally(fake_onenet *s, fake_onenet_what what, const char *topic);

/* Serial number of the live (accepted, still open) connection, 0 if none. */
int fake_onenet_live(fake_onenet *s);

/* Most connections from the device open at the same time, so far. */
int fake_onenet_max_open(fake_onenet *s);

/* PUBLISH QoS 0 `topic` with `len` raw bytes to the live connection, under
 * the delivery rules above. True when sent (a PUSHED event is recorded);
 * false when nobody is live, the topic would not be delivered, or the
 * write failed. */
bool fake_onenet_push(fake_onenet *s, const char *topic, const void *payload, size_t len);

/* Send any bytes to the live connection (a hand-made packet). */
bool fake_onenet_send_raw(fake_onenet *s, const uint8_t *bytes, size_t len);

/* Close the live connection without warning (SERVER_DROP). False when
 * nobody is live. */
bool fake_onenet_drop(fake_onenet *s);

/* Printable name of an event kind, for failure messages. */
const char *fake_onenet_what_str(fake_onenet_what what);

/* Write every event so far to stderr, one line each (topics, lengths and
 * reasons; payloads only as far as they are printable). */
void fake_onenet_dump(fake_onenet *s, const char *title);

#endif /* MIDGE_TEST_FAKE_ONENET_H */
