/*
 * Bounded text building for the device layer: the writer every topic,
 * payload and log line goes through, and the output struct's bookkeeping.
 * No snprintf: the core must build freestanding.
 */
#include <string.h>

#include "device_internal.h"

void midge_device__wr_init(midge_device__wr *w, void *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = false;
}

void midge_device__put(midge_device__wr *w, const void *p, size_t n)
{
    /* All or nothing: a half-written item would only mislead a reader who
     * forgot to check `overflow`. */
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    if (n != 0)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void midge_device__put_str(midge_device__wr *w, const char *s)
{
    midge_device__put(w, s, strlen(s));
}

void midge_device__put_char(midge_device__wr *w, char c)
{
    midge_device__put(w, &c, 1);
}

void midge_device__put_u32(midge_device__wr *w, uint32_t v)
{
    char digits[10];
    size_t n = 0;

    /* Least significant digit first, then reversed into the output. */
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    while (n > 0)
        midge_device__put_char(w, digits[--n]);
}

static bool is_printable(uint8_t c)
{
    return c >= 0x20 && c < 0x7f;
}

static void put_hex_escape(midge_device__wr *w, uint8_t c)
{
    static const char hex[] = "0123456789abcdef";
    char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 0x0f]};

    midge_device__put(w, esc, sizeof esc);
}

void midge_device__put_shown(midge_device__wr *w, const void *p, size_t n, size_t limit)
{
    const uint8_t *s = p;
    size_t shown = n < limit ? n : limit;

    for (size_t i = 0; i < shown; i++) {
        if (s[i] == '"' || s[i] == '\\')
            midge_device__put_char(w, '\\');
        if (is_printable(s[i]))
            midge_device__put_char(w, (char)s[i]);
        else
            put_hex_escape(w, s[i]);
    }
    if (shown < n)
        midge_device__put_str(w, "...");
}

void midge_device__put_json_chars(midge_device__wr *w, const void *p, size_t n, size_t limit)
{
    const uint8_t *s = p;
    size_t shown = n < limit ? n : limit;

    /* Bytes of unknown encoding cannot be escaped faithfully in JSON (\u00NN
     * names a code point, not a byte), so anything unusual becomes '?'. */
    for (size_t i = 0; i < shown; i++) {
        if (s[i] == '"' || s[i] == '\\')
            midge_device__put_char(w, '\\');
        midge_device__put_char(w, is_printable(s[i]) ? (char)s[i] : '?');
    }
    if (shown < n)
        midge_device__put_str(w, "...");
}

void midge_device__out_clear(midge_device_out *out)
{
    out->used = 0;
    memset(&out->connect, 0, sizeof out->connect);
    memset(&out->will, 0, sizeof out->will);
    out->sub_count = 0;
    out->msg_count = 0;
    out->led_changed = false;
    out->log_level = MIDGE_DEVICE_LOG_NONE;
    out->log[0] = '\0';
}

void midge_device__msg_begin(midge_device_out *out, midge_device__wr *w)
{
    midge_device__wr_init(w, out->buf + out->used, out->cap - out->used);
}

size_t midge_device__msg_payload(midge_device__wr *w)
{
    /* The topic gets a NUL so callers may treat it as a C string too. */
    size_t topic_len = w->len;

    midge_device__put_char(w, '\0');
    return topic_len;
}

midge_status midge_device__msg_commit(midge_device_out *out, midge_device__wr *w, size_t topic_len,
                                      uint8_t qos, bool retain)
{
    if (w->overflow || out->msg_count >= MIDGE_DEVICE_MAX_MSGS)
        return MIDGE_ERR_NO_SPACE;
    /* An MQTT topic name is at most 65535 bytes (MQTT 3.1.1 section 1.5.3). */
    if (topic_len == 0 || topic_len > UINT16_MAX)
        return MIDGE_ERR_INVALID;

    midge_publish *m = &out->msgs[out->msg_count++];
    memset(m, 0, sizeof *m);
    m->topic = (const char *)w->buf;
    m->topic_len = (uint16_t)topic_len;
    m->payload = w->buf + topic_len + 1;
    m->payload_len = w->len - topic_len - 1;
    m->qos = qos;
    m->retain = retain;
    out->used += w->len;
    return MIDGE_OK;
}

void midge_device__log_begin(midge_device_out *out, midge_device_log_level level,
                             midge_device__wr *w)
{
    out->log_level = level;
    /* One byte is kept back for the NUL. */
    midge_device__wr_init(w, out->log, sizeof out->log - 1);
}

void midge_device__log_end(midge_device_out *out, midge_device__wr *w)
{
    static const char cut[] = "...";
    size_t len = w->len;

    /* A cut line shows it was cut; the log is at least 4 bytes (config.h). */
    if (w->overflow && len >= sizeof cut - 1) {
        len -= sizeof cut - 1;
        memcpy(out->log + len, cut, sizeof cut - 1);
        len += sizeof cut - 1;
    }
    out->log[len] = '\0';
}

void midge_device__log_open(midge_device_out *out, midge_device_log_level level, const char *what,
                            const char *topic, size_t topic_len, const void *payload, size_t len,
                            midge_device__wr *w)
{
    midge_device__log_begin(out, level, w);
    midge_device__put_str(w, what);
    midge_device__put_str(w, " \"");
    midge_device__put_shown(w, payload, len, MIDGE_DEVICE__SHOWN_MAX);
    midge_device__put_str(w, "\" on ");
    /* Topics are valid UTF-8 but may be long or hold control characters. */
    midge_device__put_shown(w, topic, topic_len, 2 * MIDGE_DEVICE__SHOWN_MAX + 16);
}

void midge_device__log_message(midge_device_out *out, midge_device_log_level level,
                               const char *what, const char *topic, size_t topic_len,
                               const void *payload, size_t len, const char *suffix)
{
    midge_device__wr w;

    midge_device__log_open(out, level, what, topic, topic_len, payload, len, &w);
    midge_device__put_str(&w, suffix);
    midge_device__log_end(out, &w);
}
