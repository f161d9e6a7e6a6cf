/*
 * Internals shared by the device layer's files. Not installed.
 */
#ifndef MIDGE_DEVICE_INTERNAL_H
#define MIDGE_DEVICE_INTERNAL_H

#include "midge/device.h"

/* jsmn is header-only: json.c defines JSMN_STATIC to get its functions, the
 * other files only need its types. */
#ifndef JSMN_STATIC
#define JSMN_HEADER
#endif
#include <jsmn.h>

/* --- Bounded writer (text.c) -------------------------------------------- */

/* Appends into [buf, buf + cap). Writing past cap sets `overflow` and
 * drops the bytes: callers check once at the end instead of after every
 * put, and nothing is ever written out of bounds. */
typedef struct midge_device__wr {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool overflow;
} midge_device__wr;

void midge_device__wr_init(midge_device__wr *w, void *buf, size_t cap);
void midge_device__put(midge_device__wr *w, const void *p, size_t n);
void midge_device__put_str(midge_device__wr *w, const char *s);
void midge_device__put_char(midge_device__wr *w, char c);
void midge_device__put_u32(midge_device__wr *w, uint32_t v);

/* Untrusted bytes shown to a human: printable ASCII as is, '"' and '\\'
 * backslashed, everything else as \xNN; at most `limit` input bytes, then
 * "...". The output is plain ASCII, and valid inside a JSON string only after
 * midge_device__put_json_chars. */
void midge_device__put_shown(midge_device__wr *w, const void *p, size_t n, size_t limit);

/* Untrusted bytes inside a JSON string: printable ASCII as is, '"' and '\\'
 * backslashed, other bytes as '?' (the input need not be UTF-8); at most
 * `limit` input bytes, then "...". */
void midge_device__put_json_chars(midge_device__wr *w, const void *p, size_t n, size_t limit);

/* --- Outputs (text.c) ---------------------------------------------------- */

/* Empty results; keeps buf/cap. */
void midge_device__out_clear(midge_device_out *out);

/* A PUBLISH is written as topic, NUL, payload into the free part of out's
 * buffer: begin, put the topic, mark the payload start, put the payload,
 * commit. Only commit moves out->used, so an unfinished message costs
 * nothing. */
void midge_device__msg_begin(midge_device_out *out, midge_device__wr *w);
size_t midge_device__msg_payload(midge_device__wr *w);
midge_status midge_device__msg_commit(midge_device_out *out, midge_device__wr *w, size_t topic_len,
                                      uint8_t qos, bool retain);

/* The log line: begin (replacing any previous line), put text, end. A long
 * line is cut and ends in "...". */
void midge_device__log_begin(midge_device_out *out, midge_device_log_level level,
                             midge_device__wr *w);
void midge_device__log_end(midge_device_out *out, midge_device__wr *w);

/* Untrusted bytes shown in replies and logs are cut after this many. */
#define MIDGE_DEVICE__SHOWN_MAX 32

/* The usual line: `<what> "<payload>" on <topic><suffix>`, each untrusted
 * part bounded. log_open writes all but the suffix and leaves the line open
 * for more puts and midge_device__log_end. */
void midge_device__log_open(midge_device_out *out, midge_device_log_level level, const char *what,
                            const char *topic, size_t topic_len, const void *payload, size_t len,
                            midge_device__wr *w);
void midge_device__log_message(midge_device_out *out, midge_device_log_level level,
                               const char *what, const char *topic, size_t topic_len,
                               const void *payload, size_t len, const char *suffix);

/* --- Topics (report.c) -------------------------------------------------- */

/* Consume `s` from the front of (*t, *n); false (and nothing consumed) when
 * the topic does not start with it. */
bool midge_device__eat(const char **t, size_t *n, const char *s);

/* The profile's topic base: mqtt "{prefix}" or "devices/{id}", onenet-studio
 * "$sys/{pid}/{dev}", onenet "" (its topics have no device part). */
void midge_device__put_base(midge_device__wr *w, const midge_device *dev);
bool midge_device__eat_base(const midge_device *dev, const char **t, size_t *n);

/* --- One call's effects, applied only once all outputs fit ------------- */

enum midge_device__stat {
    MIDGE_DEVICE__STAT_NONE = 0,
    MIDGE_DEVICE__STAT_COMMAND,
    MIDGE_DEVICE__STAT_DUPLICATE,
    MIDGE_DEVICE__STAT_REJECTED,
    MIDGE_DEVICE__STAT_IGNORED
};

typedef struct midge_device__plan {
    bool led;      /* LED after the call */
    bool remember; /* add `key` to the dedupe ring with `led` */
    uint64_t key;
    bool post; /* an onenet-studio post used id `post_id` */
    uint32_t post_id;
    enum midge_device__stat stat;
} midge_device__plan;

/* Apply a plan whose outputs all fit (handle.c). */
void midge_device__apply(midge_device *dev, midge_device_out *out, const midge_device__plan *plan);

/* Replace partial outputs with a log line saying why there are none. */
void midge_device__fail(midge_device_out *out, midge_status st);

/* The state report for plan->led: mqtt retained {prefix}/state, onenet $dp
 * type 3, onenet-studio property/post (takes the next post id). */
midge_status midge_device__add_report(const midge_device *dev, midge_device_out *out,
                                      midge_device__plan *plan);

/* A raw reply to a command id: mqtt {base}/cmd/response/{id}, onenet
 * $crsp/{id}, onenet-studio {base}/cmd/response/{id}. begin writes the
 * topic and returns its length; the caller puts the payload and commits.
 * add writes a whole reply with a text payload. */
size_t midge_device__begin_raw_reply(const midge_device *dev, midge_device_out *out, const char *id,
                                     size_t id_len, midge_device__wr *w);
midge_status midge_device__add_raw_reply(const midge_device *dev, midge_device_out *out,
                                         const char *id, size_t id_len, const char *text);

/* --- Dedupe ring (handle.c) --------------------------------------------- */

/* 64-bit FNV-1a of a namespace tag byte and the id bytes: a raw command id
 * and a OneJSON id never collide by sharing text. */
uint64_t midge_device__id_key(char tag, const void *id, size_t len);
bool midge_device__seen(const midge_device *dev, uint64_t key, bool *led);

/* --- OneNET Studio thing model (studio.c) ------------------------------- */

midge_status midge_device__studio_set(const midge_device *dev, const midge_publish *msg,
                                      midge_device_out *out, midge_device__plan *plan);
midge_status midge_device__studio_get(const midge_device *dev, const midge_publish *msg,
                                      midge_device_out *out, midge_device__plan *plan);

/* --- JSON through jsmn (json.c) ----------------------------------------- */

enum midge_device__json_outcome {
    MIDGE_DEVICE__JSON_OK = 0,    /* one object, whole payload, all tokens stored */
    MIDGE_DEVICE__JSON_MALFORMED, /* not one JSON object */
    MIDGE_DEVICE__JSON_TOO_BIG    /* over MIDGE_DEVICE_JSON_MAX bytes or tokens */
};

/* A tokenized payload. After MALFORMED or TOO_BIG the tokens still hold
 * whatever jsmn read before it stopped, so an error reply can often be
 * addressed with the id found there. */
typedef struct midge_device__json {
    const char *js;
    int count; /* tokens stored */
    jsmntok_t tok[MIDGE_DEVICE_JSON_TOKENS];
} midge_device__json;

enum midge_device__json_outcome midge_device__json_parse(midge_device__json *doc,
                                                         const void *payload, size_t len);

/* Index of the value of member `key` in object token `obj`, or -1. Only
 * members read whole are seen. */
int midge_device__json_member(const midge_device__json *doc, int obj, const char *key);

/* Index of the token after token i and everything nested in it. */
int midge_device__json_next(const midge_device__json *doc, int i);

bool midge_device__json_is(const midge_device__json *doc, int i, jsmntype_t type);

/* Token i is a string whose raw text equals `s`. */
bool midge_device__json_eq(const midge_device__json *doc, int i, const char *s);

/* Token i is the literal true or false. */
bool midge_device__json_bool(const midge_device__json *doc, int i, bool *value);

/* Raw text of token i (between the quotes for a string). */
const char *midge_device__json_text(const midge_device__json *doc, int i, size_t *len);

#endif /* MIDGE_DEVICE_INTERNAL_H */
