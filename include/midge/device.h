/*
 * midge device: the LED device's logic, sans I/O. Command in, action plus
 * reply out.
 *
 * The device layer decides which identity a device connects with, which
 * topics it subscribes to, how a command becomes an LED action and a reply,
 * and what state it reports. It never sends anything itself: every call
 * fills a midge_device_out with what the caller should do (CONNECT options,
 * SUBSCRIBE filters, PUBLISHes, the LED level, a log line). The same logic
 * thus runs under a blocking client and under an event loop driving tens of
 * thousands of devices. No heap, no clock, no globals; only the codec's types
 * and topic helpers.
 *
 * Profiles (see ../../shared/reference/onenet.md):
 *
 *   MIDGE_DEVICE_PROFILE_MQTT (default): any broker. With prefix P (default
 *     "devices/{device_id}"): commands on P/cmd/request/{cmdid} (subscribed
 *     as P/cmd/request/+ at QoS 1), replies on P/cmd/response/{cmdid},
 *     retained state P/state = {"led":"on"} / {"led":"off"}, retained
 *     presence P/status = "online" after each CONNACK, "offline" as the will
 *     and before a clean exit. Replies and presence at QoS 1; the state at
 *     QoS 0 (a last value, sent again after every CONNACK).
 *   MIDGE_DEVICE_PROFILE_ONENET: OneNET's legacy MQTT (onenet.md section 1,
 *     the tutorial's service). Client id = device id, user = product id,
 *     password = API key; no will, no retain. Commands arrive on
 *     $creq/{cmduuid} without subscribing; replies go to $crsp/{cmduuid};
 *     state goes to $dp as a type 3 data point {"led":1} / {"led":0}.
 *   MIDGE_DEVICE_PROFILE_ONENET_STUDIO: OneNET Studio thing model (onenet.md
 *     section 2). Client id = device name, user = product id, password =
 *     token; clean session, no will, QoS at most 1. The LED is a boolean
 *     property set/read with OneJSON on $sys/{pid}/{dev}/thing/property/set
 *     and /get, posted on .../thing/property/post when it changes; raw
 *     commands on $sys/{pid}/{dev}/cmd/request/{cmdid}.
 *
 * Commands (raw payloads, exact bytes): "on", "off", "toggle", and "status"
 * (no change). The reply is the resulting state, "on" or "off", published
 * before the state report. Anything else gets an error reply naming the
 * accepted commands. A state report follows every command that changed the
 * LED, and every "status" command. A command id seen among the last
 * MIDGE_DEVICE_DEDUPE_SLOTS is answered again with the same reply and does
 * not act again: a redelivered "toggle" never flips twice. The ring lives
 * in midge_device; midge_device_export_ids() and midge_device_import_ids()
 * carry it across a restart. A request delivered with the retain flag (a
 * replay of an old one to a new subscription) is logged and ignored.
 *
 * Extra plain topics (the tutorial's "TurnipRobot"): "on", "off", "toggle"
 * act without a reply; anything else is logged and ignored.
 *
 * Typical use:
 *
 *   midge_device_config cfg;
 *   midge_device_config_init(&cfg);
 *   cfg.profile = MIDGE_DEVICE_PROFILE_ONENET;
 *   cfg.device_id = "9377500"; cfg.product_id = "91025"; cfg.secret = "...";
 *   if (midge_device_init(&dev, &cfg, &why) != MIDGE_OK) print why;
 *   midge_device_out_init(&conn, conn_buf, sizeof conn_buf);
 *   midge_device_connect(&dev, &conn);          -> conn.connect for CONNECT
 *   on CONNACK:  midge_device_on_connack(&dev, &out)   -> subscribe, publish
 *   on MESSAGE:  midge_device_handle(&dev, &msg, &out) -> LED, publish, log
 *   on exit:     midge_device_shutdown(&dev, &out)     -> publish, DISCONNECT
 *
 * Memory: the caller owns midge_device (per-device RAM, see below) and every
 * midge_device_out with its byte buffer. Output pointers point into that
 * buffer (or into the configuration's strings) and stay valid until the
 * same midge_device_out is used again. One midge_device_out may serve any
 * number of devices in turn (an event loop needs only one), except the one
 * given to midge_device_connect(): keep that one for as long as its
 * connect options are in use (a blocking client keeps them for reconnects).
 *
 * Per-device RAM: sizeof(midge_device) = 8 x MIDGE_DEVICE_DEDUPE_SLOTS for
 * the dedupe ring plus a copy of the configuration (pointers), counters and
 * state: 624 bytes with the defaults on a 64-bit host, 592 on Cortex-M4 and
 * ESP8266. Strings in the configuration are borrowed, not copied: they must
 * outlive the device. midge_device_out (about 400-450 bytes plus its buffer)
 * is per call, not per device.
 *
 * Stack: midge_device_handle() holds MIDGE_DEVICE_JSON_TOKENS jsmn tokens
 * (16 bytes each) for OneJSON payloads; its peak is under 1 KB with the
 * defaults (about 0.9 KB measured on Cortex-M4).
 */
#ifndef MIDGE_DEVICE_H
#define MIDGE_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/codec.h"
#include "midge/config.h"
#include "midge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PUBLISHes one call can produce: a reply and a state report, or presence
 * and a state report after CONNACK. */
#define MIDGE_DEVICE_MAX_MSGS 2

/* SUBSCRIBE filters one call can produce: three for onenet-studio plus the
 * extra topics. */
#define MIDGE_DEVICE_MAX_SUBS (3 + MIDGE_DEVICE_MAX_EXTRA_TOPICS)

/* Longest thing-model property name accepted (letters, digits, '_'). */
#define MIDGE_DEVICE_MAX_PROPERTY 32

/* Longest OneJSON "id" echoed in a reply (the platform uses at most 13
 * digits). A longer or odd id cannot address a reply: it is only logged. */
#define MIDGE_DEVICE_MAX_JSON_ID 32

typedef enum midge_device_profile {
    MIDGE_DEVICE_PROFILE_MQTT = 0,
    MIDGE_DEVICE_PROFILE_ONENET,
    MIDGE_DEVICE_PROFILE_ONENET_STUDIO
} midge_device_profile;

typedef enum midge_device_command {
    MIDGE_DEVICE_CMD_UNKNOWN = 0,
    MIDGE_DEVICE_CMD_ON,
    MIDGE_DEVICE_CMD_OFF,
    MIDGE_DEVICE_CMD_TOGGLE,
    MIDGE_DEVICE_CMD_STATUS
} midge_device_command;

typedef enum midge_device_log_level {
    MIDGE_DEVICE_LOG_NONE = 0, /* nothing to log */
    MIDGE_DEVICE_LOG_INFO,     /* a command handled, a duplicate answered */
    MIDGE_DEVICE_LOG_WARN      /* a bad command or payload, an unexpected message */
} midge_device_log_level;

/* What a device is. Every string is NUL-terminated and borrowed for the
 * device's lifetime. Start from midge_device_config_init(). */
typedef struct midge_device_config {
    midge_device_profile profile;
    const char *device_id;           /* mqtt: client id; onenet: device ID; studio: device name */
    const char *product_id;          /* onenet, studio: the CONNECT user name (required) */
    const char *secret;              /* onenet: API key or auth info; studio: token (required);
                                        mqtt: password (optional, needs username) */
    const char *username;            /* mqtt only; NULL = none */
    const char *prefix;              /* mqtt only; NULL = "devices/{device_id}"; no trailing '/' */
    const char *property;            /* studio only; the LED's property; NULL = "led" */
    const char *const *extra_topics; /* plain topics (filters allowed) */
    size_t extra_topic_count;        /* at most MIDGE_DEVICE_MAX_EXTRA_TOPICS */
    uint16_t keepalive_s;            /* 0 = profile default: mqtt 60, onenet 120, studio 120 */
    bool clean_session;              /* mqtt, onenet; studio always uses a clean session */
    bool subscribe_commands;         /* onenet: also subscribe $creq/# (plain brokers) */
    bool led_initial;                /* LED state at init */
} midge_device_config;

/* Counters since init, for logs and benchmarks. */
typedef struct midge_device_stats {
    uint32_t commands;   /* commands and property sets acted on (incl. status, get) */
    uint32_t duplicates; /* redelivered command ids answered without acting */
    uint32_t rejected;   /* bad commands or payloads (error reply or log) */
    uint32_t ignored;    /* messages on unexpected topics, non-commands on plain topics */
} midge_device_stats;

/* One device. Visible so it can be static or part of an array; every field
 * is private. */
typedef struct midge_device {
    midge_device_config cfg;
    uint64_t seen[MIDGE_DEVICE_DEDUPE_SLOTS]; /* id hashes; bit 0 = reply state */
    midge_device_stats stats;
    uint32_t post_id;    /* last onenet-studio property/post id */
    uint16_t seen_head;  /* next slot to overwrite */
    uint16_t seen_count; /* slots in use */
    uint16_t keepalive_s;
    bool led;
} midge_device;

/* Output of every call. Set up once with midge_device_out_init(); each call
 * clears the previous results (buf stays). */
typedef struct midge_device_out {
    uint8_t *buf; /* caller's bytes: topics (NUL-terminated), payloads */
    size_t cap;
    size_t used;

    /* midge_device_connect(): connect.will is &will or NULL. */
    midge_connect_opts connect;
    midge_will will;

    /* midge_device_on_connack(): filters to subscribe, in one SUBSCRIBE
     * (onenet-studio allows at most 8 per SUBSCRIBE; init enforces it). */
    midge_subscription subs[MIDGE_DEVICE_MAX_SUBS];
    size_t sub_count;

    /* PUBLISHes to queue, in this order (packet_id 0, dup false). */
    midge_publish msgs[MIDGE_DEVICE_MAX_MSGS];
    size_t msg_count;

    /* The LED after the call; led_changed says whether to drive it. */
    bool led;
    bool led_changed;

    /* One line for the log, NUL-terminated; level NONE = nothing. */
    midge_device_log_level log_level;
    char log[MIDGE_DEVICE_LOG_MAX];
} midge_device_out;

/* Defaults: profile mqtt, no strings, keepalive by profile, LED off. */
void midge_device_config_init(midge_device_config *cfg);

/* Validate `cfg` and set the device up (LED = cfg->led_initial). On
 * MIDGE_ERR_INVALID, *why (if `why` is not NULL) receives a static message
 * such as "onenet-studio: keepalive must be 10..1800". */
midge_status midge_device_init(midge_device *dev, const midge_device_config *cfg, const char **why);

/* Attach `cap` bytes at `buf` to `out`. 512 bytes suit the default topics
 * and ids up to 64 bytes; long prefixes or ids need more. Too small a
 * buffer makes calls return MIDGE_ERR_NO_SPACE, never overflow. */
void midge_device_out_init(midge_device_out *out, void *buf, size_t cap);

/* out->connect (and out->will): identity, credentials, keepalive, clean
 * session and will for the profile. */
midge_status midge_device_connect(const midge_device *dev, midge_device_out *out);

/* After every accepted CONNACK: out->subs to subscribe first, then out->msgs
 * (mqtt: presence "online" and the state; onenet: the $dp state; studio: a
 * property post). */
midge_status midge_device_on_connack(midge_device *dev, midge_device_out *out);

/* An incoming application message. Returns MIDGE_OK whenever the message
 * was dealt with, including error replies and ignored messages (see
 * out->log). MIDGE_ERR_NO_SPACE: the outputs do not fit out's buffer; then
 * nothing was done (LED, dedupe record and counters unchanged) and out holds
 * only a log line. `msg` is read during the call only. */
midge_status midge_device_handle(midge_device *dev, const midge_publish *msg,
                                 midge_device_out *out);

/* A local change of the LED (a button, a console): the state report, if the
 * state changed. */
midge_status midge_device_set_led(midge_device *dev, bool on, midge_device_out *out);

/* Before a clean DISCONNECT: mqtt publishes presence "offline" (a will is
 * not sent on a clean disconnect); the OneNET profiles publish nothing. */
midge_status midge_device_shutdown(midge_device *dev, midge_device_out *out);

/* Current LED state and counters. */
bool midge_device_led(const midge_device *dev);
const midge_device_stats *midge_device_get_stats(const midge_device *dev);

/* The dedupe ring, to keep across restarts (the CLI keeps it in its
 * --state-file): a device that acted on a command id before a restart
 * then still answers it without acting. Each record is 64 bits, a hash of
 * the command id with the remembered reply in bit 0. Records are stable
 * across runs and across builds of the same major version (64-bit FNV-1a
 * of a tag for the id's kind and the id), and opaque otherwise: store
 * them and give them back, never make or edit one.
 *
 * Export copies the newest min(cap, ids remembered) records into
 * `records`, oldest first, and returns how many (0 for a NULL argument);
 * MIDGE_DEVICE_DEDUPE_SLOTS records always hold them all. */
size_t midge_device_export_ids(const midge_device *dev, uint64_t *records, size_t cap);

/* Import takes records as export wrote them, oldest first, into a device
 * fresh from midge_device_init() (before its first message; into any other
 * device they are added as the newest ids). Of more than
 * MIDGE_DEVICE_DEDUPE_SLOTS records, the last (newest) are kept.
 * MIDGE_ERR_INVALID for a NULL device, or NULL records with a count. */
midge_status midge_device_import_ids(midge_device *dev, const uint64_t *records, size_t count);

/* "on" / "off". */
const char *midge_device_led_text(bool on);

/* Exactly "on" or "off" (no case folding, no whitespace) -> true. */
bool midge_device_led_parse(const void *text, size_t len, bool *on);

/* The exact command bytes: "on", "off", "toggle", "status"; anything else
 * (including "ON", "on\n" and "") is MIDGE_DEVICE_CMD_UNKNOWN. */
midge_device_command midge_device_parse_command(const void *payload, size_t len);

/* "mqtt", "onenet", "onenet-studio" <-> the enum. Parse returns false for
 * any other name. */
const char *midge_device_profile_name(midge_device_profile profile);
bool midge_device_profile_parse(const char *name, midge_device_profile *profile);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_DEVICE_H */
